/* SPDX-License-Identifier: Apache-2.0 */
/* Octoserve configuration: the JSON file of doc/DESIGN.md ("Configuration"), every key checked,
 * unknown keys rejected, then OCTOSERVE_* environment overrides. Durations are kept in
 * milliseconds, sizes in bytes. */
#ifndef OCTO_CONFIG_H
#define OCTO_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "log.h" /* enum octo_log_level, enum octo_log_format */

enum octo_sendfile {
	OCTO_SENDFILE_NONE = 0,
	OCTO_SENDFILE_X_SENDFILE,
	OCTO_SENDFILE_X_ACCEL
};

/* A retention rule (storage.retention.rules): for the repositories it names, the tags kept
 * (octoserve-admin retention, lib/retention). */
struct octo_retention_rule {
	char *repositories; /* a glob (fnmatch, '*' crosses '/') */
	char **keep_tags;   /* globs of tags always kept; NULL-terminated */
	size_t n_keep_tags;
	int keep_last;         /* the newest this many by push time are kept; -1: not set */
	int64_t older_than_ms; /* tags pushed more recently are kept; 0: not set */
};

/* An endpoint that receives event notifications (notifications.endpoints). */
struct octo_notify_endpoint {
	char *name;     /* [a-z0-9_-]{1,32}: its cursor in the journal */
	char *url;      /* http:// or https:// */
	char **headers; /* "Name: value", NULL-terminated */
	size_t n_headers;
	char **events; /* event types sent; none: every type */
	size_t n_events;
	char **repositories; /* globs of repositories sent; none: every one */
	size_t n_repositories;
	int64_t timeout_ms;     /* 5s: one POST */
	int64_t backoff_ms;     /* 1s: the first wait after a failure, doubled up to max_backoff */
	int64_t max_backoff_ms; /* 1m */
	int batch;              /* 100: events at most in one POST */
};

/* What a caller may do to a repository (auth.rules, and a token's "access" claim). */
#define OCTO_ACCESS_PULL 1u
#define OCTO_ACCESS_PUSH 2u
#define OCTO_ACCESS_DELETE 4u

/* An authorization rule (auth.rules): who may do what to the repositories it names. Rules add
 * up: a caller may do what any rule that names the caller and the repository allows. */
struct octo_auth_rule {
	char *repositories; /* a glob, as retention's */
	char **users;       /* user names; "*": every authenticated user; NULL-terminated */
	size_t n_users;
	char **groups; /* names of auth.groups */
	size_t n_groups;
	int anonymous;    /* callers without credentials too (pull only) */
	unsigned actions; /* OCTO_ACCESS_* */
};

/* A group of users (auth.groups). */
struct octo_auth_group {
	char *name;
	char **users; /* NULL-terminated */
	size_t n_users;
};

/* storage.s3: the bucket that holds blob and manifest content (lib/bucket.h). */
struct octo_config_s3 {
	char *endpoint;        /* required: "https://s3.eu-west-1.amazonaws.com" */
	char *region;          /* "us-east-1" */
	char *bucket;          /* required */
	char *prefix;          /* "": put before every key, "registry/" */
	char *access_key;      /* required */
	char *secret_key;      /* this, or the file that holds it */
	char *secret_key_file; /* read at start, trailing newline dropped */
	int path_style;        /* 0: bucket.host; 1: host/bucket (radosgw, MinIO) */
	int redirect;          /* 0: downloads stream through us; 1: 307 to a presigned URL */
	int64_t redirect_lifetime_ms; /* 20m */
	int64_t part_size;            /* 10 MiB, 5 MiB to 5 GiB */
	int64_t timeout_ms;           /* 60s: one request to the bucket */
};

struct octo_config {
	struct {
		char *address;               /* "localhost" */
		int port;                    /* 5000, 1..65535 */
		int64_t read_timeout_ms;     /* 30s */
		int64_t write_timeout_ms;    /* 30s */
		int64_t idle_timeout_ms;     /* 2m */
		int64_t min_body_rate;       /* 500 bytes/s after read_timeout; 0: none */
		char *external_url;          /* "" */
		int64_t shutdown_timeout_ms; /* 30s */
	} server;
	struct {
		char *listen;                /* "" */
		int threads;                 /* 8, 1..1024: started with */
		int max_threads;             /* 128: grown to on demand */
		enum octo_sendfile sendfile; /* none */
		char *sendfile_prefix;       /* "/_blobs/" */
	} fcgi;
	struct {
		char *type;                /* "filesystem" | "s3": where content is kept */
		char *path;                /* "./data" */
		struct octo_config_s3 s3;  /* storage.type "s3" */
		int64_t max_manifest_size; /* 4194304 */
		int delete_enabled;        /* 1 */
		int64_t max_blob_size;     /* 0: no limit */
		int64_t upload_ttl_ms;     /* 24h: a session without a byte for this long expires */
		int max_uploads;           /* 4096 sessions in the store */
		int max_uploads_per_client; /* 256 per client address */
		int64_t min_free_bytes;     /* 256 MiB: below it, writes get 507 */
		int64_t min_free_inodes;    /* 4096 */
		int64_t journal_segment_size; /* 64 MiB: the journal's current file is sealed past it */
		int64_t tombstone_ttl_ms;     /* 168h: how long a delete's tombstone is kept */
		int readonly;                 /* 0: 1 refuses every write with 405, reads go on */
		struct {
			int64_t interval_ms; /* 0: octoserve-admin serve runs no collection */
			int64_t grace_ms;    /* 1h: anything renewed more recently is kept */
			int delete_untagged; /* 0: manifests no tag reaches are kept */
			char *referrers;     /* "keep" | "remove": referrers of a subject gone */
		} gc;
		struct {
			int64_t interval_ms; /* 0: octoserve-admin serve runs no scrub */
		} scrub;
		struct {
			int64_t interval_ms; /* 0: octoserve-admin serve applies no retention */
			char *rules_text;    /* the rules as JSON */
			struct octo_retention_rule *rules;
			size_t n_rules;
		} retention;
	} storage;
	struct {
		char *endpoints_text; /* the endpoints as JSON */
		struct octo_notify_endpoint *endpoints;
		size_t n_endpoints;
	} notifications;
	struct {
		enum octo_log_level level;   /* info */
		enum octo_log_format format; /* json */
		char *output;                /* "stderr" */
		int64_t slow_fsync_ms; /* 1s: a request's slowest fsync past it is a warning */
	} logging;
	struct {
		char *htpasswd_path; /* NULL: no users of our own (auth.htpasswd.path) */
		int trust_front;     /* 0: 1 takes the front's REMOTE_USER as the caller */
		struct {
			char *realm;   /* "/auth/token": our issuer's path, or an issuer's URL */
			char *service; /* "octoserve": the tokens' audience */
			char *issuer;  /* "octoserve": the tokens' "iss" */
			char *signing_key; /* NULL: a key generated in the store */
			char **keys;       /* PEM files of keys trusted besides our own */
			size_t n_keys;
			char *jwks;            /* NULL, or a JWKS file of trusted keys */
			char *ca_bundle;       /* NULL, or certificates anchoring x5c chains */
			int64_t expiration_ms; /* 5m: the life of a token we issue */
			int64_t leeway_ms;     /* 1m: clock skew allowed on exp and nbf */
		} token;
		char *groups_text; /* the groups as JSON */
		struct octo_auth_group *groups;
		size_t n_groups;
		char *admin_group; /* "": none; its members may do anything */
		char *rules_text;  /* the rules as JSON */
		struct octo_auth_rule *rules;
		size_t n_rules;
		struct {
			int limit;         /* 10 failed logins per user, and per client address, */
			int64_t window_ms; /* in 5m; past it 429 until the window ends; 0: no limit */
		} failures;
	} auth;
	struct {
		int enabled;    /* 1 */
		char *endpoint; /* "/metrics" */
		char *username; /* NULL: no basic auth */
		char *password;
	} metrics;
	struct {
		int enabled;                 /* 0 */
		char *node_id;               /* hostname */
		char *listen_address;        /* "127.0.0.1": where the peer port binds */
		char *advertise_address;     /* "": host:port peers reach this node at */
		char *cluster_id;            /* "": peers must name the same one */
		int64_t max_clock_offset_ms; /* 30s: a peer whose clock runs further ahead is refused */
		int port;                    /* 6000 */
		char **bootstrap_peers;      /* NULL-terminated, empty by default */
		size_t n_bootstrap_peers;
		struct {
			char *method;         /* "static" | "dns" | "consul" */
			int64_t interval_ms;  /* 30s */
			int64_t timeout_ms;   /* 10s */
			char *dns_name;       /* "": the SRV or A/AAAA name of the peers */
			char *dns_server;     /* "": the system's resolver; else ip or ip:port */
			char *consul_address; /* "" */
		} discovery;
		struct {
			int factor;               /* 3 */
			char *strategy;           /* "eager" | "lazy" | "hybrid" */
			int64_t sync_interval_ms; /* 1m */
			char *consistency_mode;   /* "eventual" | "strong" */
			int64_t hybrid_threshold; /* 1 MiB: hybrid is eager below it */
			int64_t fetch_timeout_ms; /* 10s: a client's wait for a lazy fetch to start */
			int64_t strong_timeout_ms; /* 30s, below the fronts' 60 s: a strong write's wait */
			int64_t grace_period_ms; /* 5m: a member down longer is placed around */
			int64_t max_absence_ms;  /* 0: tombstone_ttl less twice sync_interval */
		} replication;
		struct {
			int64_t interval_ms;   /* 15s */
			int64_t timeout_ms;    /* 5s */
			int failure_threshold; /* 3 */
			int workers;           /* 10 */
		} health_check;
		struct {
			char *protocol;           /* "grpc" */
			int max_connections;      /* 100 */
			int64_t idle_timeout_ms;  /* 5m */
			int64_t max_message_size; /* 33554432 */
			int64_t rate_limit;       /* bytes/s a fetch takes from a peer; 0: none */
		} transport;
		struct {
			char *cert; /* PEM paths, all three or none (NULL): mutual TLS between peers */
			char *key;
			char *ca;
		} tls;
	} p2p;
};

/* How long a node may be out of contact with its cluster and still bring its records back:
 * p2p.replication.max_absence, or when 0 the longest the tombstones allow. */
int64_t octo_config_max_absence_ms(const struct octo_config *cfg);

/* Whether requests are authenticated at all: users of our own (auth.htpasswd.path), a front
 * that authenticates (auth.trust_front), or keys of an outside issuer. */
int octo_config_auth_enabled(const struct octo_config *cfg);
/* Whether content is kept in an S3 bucket (storage.type "s3"). */
int octo_config_s3(const struct octo_config *cfg);

/* Fill cfg with the defaults of doc/DESIGN.md. Returns OCTO_ERR_NOMEM or OCTO_OK. */
enum octo_err octo_config_defaults(struct octo_config *cfg);
/* Load: defaults, then the JSON file at path (NULL: no file), then environment overrides
 * read through getenv_fn (NULL: getenv). On error, fills errbuf with a message naming the
 * key (and the file and line for JSON syntax errors) and returns OCTO_ERR_CONFIG; cfg is
 * then cleaned up. */
enum octo_err octo_config_load(struct octo_config *cfg, const char *path,
			       const char *(*getenv_fn)(const char *name), char *errbuf,
			       size_t errsize);
/* Same, from a JSON text in memory (for tests and fuzzing). */
enum octo_err octo_config_load_text(struct octo_config *cfg, const char *text, size_t len,
				    const char *(*getenv_fn)(const char *name), char *errbuf,
				    size_t errsize);
void octo_config_cleanup(struct octo_config *cfg);
/* Parse "1h30m", "30s", "250ms", "2m" into milliseconds; -1 on error. Bare numbers are
 * rejected (a unit is required), as in Go's time.ParseDuration. */
int64_t octo_config_parse_duration(const char *s);
/* The value of one key as text ("server.port" -> "5000"), for scripts; malloc'd, NULL if
 * the key is unknown. */
char *octo_config_get(const struct octo_config *cfg, const char *key);
/* The OCTOSERVE_* names in envp that are no configuration key's variable (a typo, or a tool's
 * own), listed in buf with the nearest known name as a suggestion; how many. */
size_t octo_config_env_unknown(char *const *envp, char *buf, size_t size);

#endif
