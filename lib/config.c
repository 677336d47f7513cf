/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration: one row per key of doc/DESIGN.md ("Configuration") drives the defaults, the walk
 * over the JSON file (which is how unknown keys are found), the OCTOSERVE_* environment
 * overrides and octo_config_get, so adding a key is one line in keys[]. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "record.h"

/* Ceilings that keep every duration and size far from overflow in callers' arithmetic. */
#define DUR_MAX_MS (365LL * 24 * 3600 * 1000) /* a year */
#define GIB (1LL << 30)

enum key_type {
	K_STR,    /* char *, optional check() */
	K_INT,    /* int in [min, max] */
	K_SIZE,   /* int64_t bytes in [min, max] */
	K_DUR,    /* int64_t milliseconds in [min, max], written "30s" */
	K_BOOL,   /* int 0/1 */
	K_ENUM,   /* an enum stored as int: the index in names[] */
	K_CHOICE, /* char *, one of names[] */
	K_LIST,   /* char ** NULL-terminated, size_t count at count_off; check() per element */
	K_JSON,   /* char *: a JSON value as compact text, which parse() turns into its fields */
};

struct key {
	const char *path; /* "p2p.discovery.dns_name" */
	const char *env;  /* "OCTOSERVE_P2P_DISCOVERY_DNS_NAME" */
	enum key_type type;
	size_t off;
	size_t count_off;
	int64_t min, max;
	const char *const *names;
	const char *def; /* the default, as environment text; NULL: unset or computed */
	/* NULL if s is acceptable, else why not */
	const char *(*check)(const char *s);
	/* K_JSON: set the fields v stands for (replacing what was there), or say why not */
	enum octo_err (*parse)(struct octo_config *cfg, json_t *v, char *why, size_t whysize);
};

static const char *const sendfile_names[] = {
	[OCTO_SENDFILE_NONE] = "none",
	[OCTO_SENDFILE_X_SENDFILE] = "x-sendfile",
	[OCTO_SENDFILE_X_ACCEL] = "x-accel-redirect",
	NULL,
};
static const char *const level_names[] = {
	[OCTO_LOG_DEBUG] = "debug",
	[OCTO_LOG_INFO] = "info",
	[OCTO_LOG_WARN] = "warn",
	[OCTO_LOG_ERROR] = "error",
	NULL,
};
static const char *const format_names[] = {
	[OCTO_LOG_JSON] = "json",
	[OCTO_LOG_TEXT] = "text",
	NULL,
};
static const char *const storage_types[] = {"filesystem", "s3", NULL};
static const char *const methods[] = {"static", "dns", "consul", NULL};
static const char *const strategies[] = {"eager", "lazy", "hybrid", NULL};
static const char *const consistency_modes[] = {"eventual", "strong", NULL};
static const char *const protocols[] = {"grpc", NULL};
static const char *const referrer_policies[] = {"keep", "remove", NULL};

/* K_ENUM fields are written through an int *. */
_Static_assert(sizeof(enum octo_sendfile) == sizeof(int), "enum size");
_Static_assert(sizeof(enum octo_log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum octo_log_format) == sizeof(int), "enum size");

static const char *check_nonempty(const char *s)
{
	return s[0] ? NULL : "must not be empty";
}

/* A node id goes as it is into every record and journal event (record.h). */
static const char *check_node_id(const char *s)
{
	return octo_node_id_valid(s, strlen(s))
		       ? NULL
		       : "must be 1 to 255 letters, digits, '.', '_', ':' or '-'";
}

static const char *check_cluster_id(const char *s)
{
	return s[0] == '\0' || octo_node_id_valid(s, strlen(s))
		       ? NULL
		       : "must be empty or 1 to 255 letters, digits, '.', '_', ':' or '-'";
}

/* A host name or an IPv4 address: the quick start writes it into the front's listen
 * directive, and the fronts spell IPv6 literals each its own way. */
static const char *check_host(const char *s)
{
	if (!s[0])
		return "must not be empty";
	return strchr(s, ':') == NULL ? NULL
				      : "IPv6 addresses are not supported: use a host name or an "
					"IPv4 address";
}

static const char *check_url_path(const char *s)
{
	return s[0] == '/' ? NULL : "must start with \"/\"";
}

static const char *check_url(const char *s)
{
	if (!s[0] || !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8))
		return NULL;
	return "must be empty or start with http:// or https://";
}

/* A region or an access key: they go into the signature's scope and a URL. */
static const char *check_s3_word(const char *s)
{
	if (!s[0])
		return "must not be empty";
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return "may hold only letters, digits, '-' and '_'";
	return NULL;
}

/* S3's rule for bucket names (3 to 63 of [a-z0-9.-], a letter or digit at each end), which
 * also keeps them safe in a host name and a path. */
static const char *check_bucket(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 3 || n > 63)
		return "must be 3 to 63 characters long";
	for (i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) &&
		    ((s[i] != '-' && s[i] != '.') || i == 0 || i == n - 1))
			return "may hold only a-z, 0-9, '.' and '-' (not at either end)";
	return NULL;
}

/* A key prefix: empty, or path segments of [A-Za-z0-9._-] ending in '/'. */
static const char *check_s3_prefix(const char *s)
{
	const char *p;

	if (!s[0])
		return NULL;
	if (s[0] == '/' || s[strlen(s) - 1] != '/' || strstr(s, "//") != NULL || strlen(s) > 256)
		return "must be empty or segments ending in '/', like \"registry/\" (at most 256 "
		       "characters)";
	for (p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && strchr("._-/", *p) == NULL)
			return "may hold only letters, digits, '.', '_', '-' and '/'";
	return NULL;
}

/* auth.token.realm: the path our issuer answers at, or an outside issuer's URL. It goes into
 * a quoted WWW-Authenticate parameter, so no quote, backslash or control character. */
static const char *check_realm(const char *s)
{
	const char *p;

	if (s[0] != '/' && strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
		return "must be a path (\"/auth/token\": the built-in issuer) or an http:// or "
		       "https:// URL (an outside issuer)";
	for (p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '"' || *p == '\\' || *p == 0x7f)
			return "must not hold spaces, quotes, backslashes or control characters";
	return NULL;
}

/* A token claim we compare and quote (service, issuer). */
static const char *check_claim(const char *s)
{
	const char *p;

	if (!s[0])
		return "must not be empty";
	for (p = s; *p; p++)
		if ((unsigned char)*p < ' ' || *p == '"' || *p == '\\' || *p == 0x7f)
			return "must not hold quotes, backslashes or control characters";
	return NULL;
}

/* "host:port", the host possibly "[v6]". */
static const char *check_host_port(const char *s)
{
	const char *colon = strrchr(s, ':');
	long port = 0;
	const char *p;

	if (!colon || colon == s)
		return "must be host:port";
	for (p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9' || port > 65535)
			return "must be host:port";
		port = port * 10 + (*p - '0');
	}
	if (port < 1 || port > 65535)
		return "must be host:port with a port in 1..65535";
	return NULL;
}

/* A DNS name (RFC 1035 lengths; '_' for SRV labels such as "_octoserve._tcp"), or "". */
static const char *check_dns_name(const char *s)
{
	size_t label = 0;
	const char *p;

	if (strlen(s) > 253)
		return "must be a DNS name of at most 253 characters";
	for (p = s; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return "must be a DNS name: no empty label";
			label = 0;
		} else if (
			strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
			       *p) == NULL) {
			return "must be a DNS name: letters, digits, '-', '_' and '.'";
		} else if (++label > 63) {
			return "must be a DNS name: labels of at most 63 characters";
		}
	}
	return NULL;
}

/* The resolver c-ares asks instead of resolv.conf's: "" (the system's), an IP address, or
 * ip:port ("[v6]:port"). c-ares takes addresses only, no host names. */
static const char *check_dns_server(const char *s)
{
	static const char *const why =
		"must be empty, an IP address or ip:port (\"127.0.0.1:5353\", \"[::1]:5353\")";
	unsigned char bin[sizeof(struct in6_addr)];
	char host[INET6_ADDRSTRLEN];
	const char *end;
	size_t len;

	if (!s[0])
		return NULL;
	if (s[0] == '[') { /* [v6] or [v6]:port */
		end = strchr(s, ']');
		len = end != NULL ? (size_t)(end - s - 1) : 0;
		if (len == 0 || len >= sizeof(host) || (end[1] != '\0' && end[1] != ':'))
			return why;
		memcpy(host, s + 1, len);
		host[len] = '\0';
		if (inet_pton(AF_INET6, host, bin) != 1)
			return why;
		return end[1] == '\0' || check_host_port(s) == NULL ? NULL : why;
	}
	if (inet_pton(AF_INET6, s, bin) == 1 || inet_pton(AF_INET, s, bin) == 1)
		return NULL;
	end = strchr(s, ':');
	len = end != NULL ? (size_t)(end - s) : 0;
	if (len == 0 || len >= sizeof(host))
		return why;
	memcpy(host, s, len);
	host[len] = '\0';
	return inet_pton(AF_INET, host, bin) == 1 && check_host_port(s) == NULL ? NULL : why;
}

static const char *check_advertise(const char *s)
{
	return s[0] == '\0' ? NULL : check_host_port(s);
}

static const char *check_listen(const char *s)
{
	if (!s[0])
		return NULL;
	if (!strncmp(s, "unix:", 5))
		return s[5] == '/' ? NULL : "must be \"unix:/absolute/path\" or host:port";
	return check_host_port(s);
}

static enum octo_err parse_retention(struct octo_config *cfg, json_t *v, char *why, size_t whysize);
static enum octo_err parse_groups(struct octo_config *cfg, json_t *v, char *why, size_t whysize);
static enum octo_err parse_auth_rules(struct octo_config *cfg, json_t *v, char *why,
				      size_t whysize);
static enum octo_err parse_endpoints(struct octo_config *cfg, json_t *v, char *why, size_t whysize);

#define ROW(p, e, t, f)                                                                            \
	.path = (p), .env = "OCTOSERVE_" e, .type = (t), .off = offsetof(struct octo_config, f)

static const struct key keys[] = {
	{ROW("server.address", "SERVER_ADDRESS", K_STR, server.address), .def = "localhost",
	 .check = check_host},
	{ROW("server.port", "SERVER_PORT", K_INT, server.port), .def = "5000", .min = 1,
	 .max = 65535},
	{ROW("server.read_timeout", "SERVER_READ_TIMEOUT", K_DUR, server.read_timeout_ms),
	 .def = "30s", .min = 1, .max = DUR_MAX_MS},
	{ROW("server.write_timeout", "SERVER_WRITE_TIMEOUT", K_DUR, server.write_timeout_ms),
	 .def = "30s", .min = 1, .max = DUR_MAX_MS},
	{ROW("server.idle_timeout", "SERVER_IDLE_TIMEOUT", K_DUR, server.idle_timeout_ms),
	 .def = "2m", .min = 1, .max = DUR_MAX_MS},
	{ROW("server.min_body_rate", "SERVER_MIN_BODY_RATE", K_SIZE, server.min_body_rate),
	 .def = "500", .min = 0, .max = 1LL << 40},
	{ROW("server.external_url", "SERVER_EXTERNAL_URL", K_STR, server.external_url), .def = "",
	 .check = check_url},
	{ROW("server.shutdown_timeout", "SERVER_SHUTDOWN_TIMEOUT", K_DUR,
	     server.shutdown_timeout_ms),
	 .def = "30s", .min = 0, .max = DUR_MAX_MS},

	{ROW("fcgi.listen", "FCGI_LISTEN", K_STR, fcgi.listen), .def = "", .check = check_listen},
	{ROW("fcgi.threads", "FCGI_THREADS", K_INT, fcgi.threads), .def = "8", .min = 1,
	 .max = 1024},
	{ROW("fcgi.max_threads", "FCGI_MAX_THREADS", K_INT, fcgi.max_threads), .def = "128",
	 .min = 1, .max = 4096},
	{ROW("fcgi.sendfile", "FCGI_SENDFILE", K_ENUM, fcgi.sendfile), .def = "none",
	 .names = sendfile_names},
	{ROW("fcgi.sendfile_prefix", "FCGI_SENDFILE_PREFIX", K_STR, fcgi.sendfile_prefix),
	 .def = "/_blobs/", .check = check_url_path},

	{ROW("storage.type", "STORAGE_TYPE", K_CHOICE, storage.type), .def = "filesystem",
	 .names = storage_types},
	{ROW("storage.path", "STORAGE_PATH", K_STR, storage.path), .def = "./data",
	 .check = check_nonempty},
	{ROW("storage.s3.endpoint", "STORAGE_S3_ENDPOINT", K_STR, storage.s3.endpoint),
	 .check = check_url},
	{ROW("storage.s3.region", "STORAGE_S3_REGION", K_STR, storage.s3.region),
	 .def = "us-east-1", .check = check_s3_word},
	{ROW("storage.s3.bucket", "STORAGE_S3_BUCKET", K_STR, storage.s3.bucket),
	 .check = check_bucket},
	{ROW("storage.s3.prefix", "STORAGE_S3_PREFIX", K_STR, storage.s3.prefix), .def = "",
	 .check = check_s3_prefix},
	{ROW("storage.s3.access_key", "STORAGE_S3_ACCESS_KEY", K_STR, storage.s3.access_key),
	 .check = check_s3_word},
	{ROW("storage.s3.secret_key", "STORAGE_S3_SECRET_KEY", K_STR, storage.s3.secret_key),
	 .check = check_nonempty},
	{ROW("storage.s3.secret_key_file", "STORAGE_S3_SECRET_KEY_FILE", K_STR,
	     storage.s3.secret_key_file),
	 .check = check_nonempty},
	{ROW("storage.s3.path_style", "STORAGE_S3_PATH_STYLE", K_BOOL, storage.s3.path_style),
	 .def = "false"},
	{ROW("storage.s3.redirect", "STORAGE_S3_REDIRECT", K_BOOL, storage.s3.redirect),
	 .def = "false"},
	{ROW("storage.s3.redirect_lifetime", "STORAGE_S3_REDIRECT_LIFETIME", K_DUR,
	     storage.s3.redirect_lifetime_ms),
	 .def = "20m", .min = 1000, .max = 7LL * 24 * 3600 * 1000}, /* SigV4's longest: 7 days */
	{ROW("storage.s3.part_size", "STORAGE_S3_PART_SIZE", K_SIZE, storage.s3.part_size),
	 .def = "10485760", .min = 5LL << 20, .max = 5 * GIB}, /* S3's limits on a part */
	{ROW("storage.s3.timeout", "STORAGE_S3_TIMEOUT", K_DUR, storage.s3.timeout_ms),
	 .def = "60s", .min = 1000, .max = 3600000},
	{ROW("storage.max_manifest_size", "STORAGE_MAX_MANIFEST_SIZE", K_SIZE,
	     storage.max_manifest_size),
	 .def = "4194304", .min = 1, .max = GIB},
	{ROW("storage.delete_enabled", "STORAGE_DELETE_ENABLED", K_BOOL, storage.delete_enabled),
	 .def = "true"},
	{ROW("storage.upload_ttl", "STORAGE_UPLOAD_TTL", K_DUR, storage.upload_ttl_ms),
	 .def = "24h", .min = 60000, .max = DUR_MAX_MS},
	{ROW("storage.max_uploads", "STORAGE_MAX_UPLOADS", K_INT, storage.max_uploads),
	 .def = "4096", .min = 1, .max = 10000000},
	{ROW("storage.max_uploads_per_client", "STORAGE_MAX_UPLOADS_PER_CLIENT", K_INT,
	     storage.max_uploads_per_client),
	 .def = "256", .min = 1, .max = 10000000},
	{ROW("storage.max_blob_size", "STORAGE_MAX_BLOB_SIZE", K_SIZE, storage.max_blob_size),
	 .def = "0", .min = 0, .max = 1LL << 50},
	{ROW("storage.min_free.bytes", "STORAGE_MIN_FREE_BYTES", K_SIZE, storage.min_free_bytes),
	 .def = "268435456", .min = 0, .max = 1LL << 60},
	{ROW("storage.min_free.inodes", "STORAGE_MIN_FREE_INODES", K_SIZE, storage.min_free_inodes),
	 .def = "4096", .min = 0, .max = 1LL << 40},
	{ROW("storage.journal_segment_size", "STORAGE_JOURNAL_SEGMENT_SIZE", K_SIZE,
	     storage.journal_segment_size),
	 .def = "67108864", .min = 4096, .max = GIB},
	{ROW("storage.tombstone_ttl", "STORAGE_TOMBSTONE_TTL", K_DUR, storage.tombstone_ttl_ms),
	 .def = "168h", .min = 60000, .max = DUR_MAX_MS},
	{ROW("storage.readonly", "STORAGE_READONLY", K_BOOL, storage.readonly), .def = "false"},
	{ROW("storage.gc.interval", "STORAGE_GC_INTERVAL", K_DUR, storage.gc.interval_ms),
	 .def = "0s", .min = 0, .max = DUR_MAX_MS},
	{ROW("storage.gc.grace", "STORAGE_GC_GRACE", K_DUR, storage.gc.grace_ms), .def = "1h",
	 .min = 0, .max = DUR_MAX_MS},
	{ROW("storage.gc.delete_untagged", "STORAGE_GC_DELETE_UNTAGGED", K_BOOL,
	     storage.gc.delete_untagged),
	 .def = "false"},
	{ROW("storage.gc.referrers", "STORAGE_GC_REFERRERS", K_CHOICE, storage.gc.referrers),
	 .def = "keep", .names = referrer_policies},
	{ROW("storage.scrub.interval", "STORAGE_SCRUB_INTERVAL", K_DUR, storage.scrub.interval_ms),
	 .def = "0s", .min = 0, .max = DUR_MAX_MS},
	{ROW("storage.retention.interval", "STORAGE_RETENTION_INTERVAL", K_DUR,
	     storage.retention.interval_ms),
	 .def = "0s", .min = 0, .max = DUR_MAX_MS},
	{ROW("storage.retention.rules", "STORAGE_RETENTION_RULES", K_JSON,
	     storage.retention.rules_text),
	 .def = "[]", .parse = parse_retention},
	{ROW("notifications.endpoints", "NOTIFICATIONS_ENDPOINTS", K_JSON,
	     notifications.endpoints_text),
	 .def = "[]", .parse = parse_endpoints},

	{ROW("auth.htpasswd.path", "AUTH_HTPASSWD_PATH", K_STR, auth.htpasswd_path),
	 .check = check_nonempty},
	{ROW("auth.trust_front", "AUTH_TRUST_FRONT", K_BOOL, auth.trust_front), .def = "false"},
	{ROW("auth.token.realm", "AUTH_TOKEN_REALM", K_STR, auth.token.realm), .def = "/auth/token",
	 .check = check_realm},
	{ROW("auth.token.service", "AUTH_TOKEN_SERVICE", K_STR, auth.token.service),
	 .def = "octoserve", .check = check_claim},
	{ROW("auth.token.issuer", "AUTH_TOKEN_ISSUER", K_STR, auth.token.issuer),
	 .def = "octoserve", .check = check_claim},
	{ROW("auth.token.signing_key", "AUTH_TOKEN_SIGNING_KEY", K_STR, auth.token.signing_key),
	 .check = check_nonempty},
	{ROW("auth.token.keys", "AUTH_TOKEN_KEYS", K_LIST, auth.token.keys),
	 .count_off = offsetof(struct octo_config, auth.token.n_keys), .def = ""},
	{ROW("auth.token.jwks", "AUTH_TOKEN_JWKS", K_STR, auth.token.jwks),
	 .check = check_nonempty},
	{ROW("auth.token.ca_bundle", "AUTH_TOKEN_CA_BUNDLE", K_STR, auth.token.ca_bundle),
	 .check = check_nonempty},
	{ROW("auth.token.expiration", "AUTH_TOKEN_EXPIRATION", K_DUR, auth.token.expiration_ms),
	 .def = "5m", .min = 10000, .max = 24LL * 3600 * 1000},
	{ROW("auth.token.leeway", "AUTH_TOKEN_LEEWAY", K_DUR, auth.token.leeway_ms), .def = "1m",
	 .min = 0, .max = 600000},
	{ROW("auth.groups", "AUTH_GROUPS", K_JSON, auth.groups_text), .def = "{}",
	 .parse = parse_groups},
	{ROW("auth.admin_group", "AUTH_ADMIN_GROUP", K_STR, auth.admin_group), .def = ""},
	{ROW("auth.rules", "AUTH_RULES", K_JSON, auth.rules_text), .def = "[]",
	 .parse = parse_auth_rules},
	{ROW("auth.failures.limit", "AUTH_FAILURES_LIMIT", K_INT, auth.failures.limit), .def = "10",
	 .min = 0, .max = 1000000},
	{ROW("auth.failures.window", "AUTH_FAILURES_WINDOW", K_DUR, auth.failures.window_ms),
	 .def = "5m", .min = 1000, .max = 24LL * 3600 * 1000},

	{ROW("logging.level", "LOG_LEVEL", K_ENUM, logging.level), .def = "info",
	 .names = level_names},
	{ROW("logging.format", "LOG_FORMAT", K_ENUM, logging.format), .def = "json",
	 .names = format_names},
	{ROW("logging.output", "LOG_OUTPUT", K_STR, logging.output), .def = "stderr",
	 .check = check_nonempty},
	{ROW("logging.slow_fsync", "LOG_SLOW_FSYNC", K_DUR, logging.slow_fsync_ms), .def = "1s",
	 .min = 1, .max = DUR_MAX_MS},

	{ROW("metrics.enabled", "METRICS_ENABLED", K_BOOL, metrics.enabled), .def = "true"},
	{ROW("metrics.endpoint", "METRICS_ENDPOINT", K_STR, metrics.endpoint), .def = "/metrics",
	 .check = check_url_path},
	{ROW("metrics.basic_auth.username", "METRICS_USERNAME", K_STR, metrics.username),
	 .check = check_nonempty},
	{ROW("metrics.basic_auth.password", "METRICS_PASSWORD", K_STR, metrics.password),
	 .check = check_nonempty},

	{ROW("p2p.enabled", "P2P_ENABLED", K_BOOL, p2p.enabled), .def = "false"},
	{ROW("p2p.node_id", "P2P_NODE_ID", K_STR, p2p.node_id), .check = check_node_id},
	{ROW("p2p.listen_address", "P2P_LISTEN_ADDRESS", K_STR, p2p.listen_address),
	 .def = "127.0.0.1", .check = check_host},
	{ROW("p2p.advertise_address", "P2P_ADVERTISE_ADDRESS", K_STR, p2p.advertise_address),
	 .def = "", .check = check_advertise},
	{ROW("p2p.cluster_id", "P2P_CLUSTER_ID", K_STR, p2p.cluster_id), .def = "",
	 .check = check_cluster_id},
	{ROW("p2p.max_clock_offset", "P2P_MAX_CLOCK_OFFSET", K_DUR, p2p.max_clock_offset_ms),
	 .def = "30s", .min = 1, .max = DUR_MAX_MS},
	{ROW("p2p.port", "P2P_PORT", K_INT, p2p.port), .def = "6000", .min = 1, .max = 65535},
	{ROW("p2p.bootstrap_peers", "P2P_BOOTSTRAP_PEERS", K_LIST, p2p.bootstrap_peers),
	 .count_off = offsetof(struct octo_config, p2p.n_bootstrap_peers), .def = "",
	 .check = check_host_port},

	{ROW("p2p.discovery.method", "P2P_DISCOVERY_METHOD", K_CHOICE, p2p.discovery.method),
	 .def = "static", .names = methods},
	{ROW("p2p.discovery.interval", "P2P_DISCOVERY_INTERVAL", K_DUR, p2p.discovery.interval_ms),
	 .def = "30s", .min = 1, .max = DUR_MAX_MS},
	{ROW("p2p.discovery.timeout", "P2P_DISCOVERY_TIMEOUT", K_DUR, p2p.discovery.timeout_ms),
	 .def = "10s", .min = 1, .max = DUR_MAX_MS},
	{ROW("p2p.discovery.dns_name", "P2P_DISCOVERY_DNS_NAME", K_STR, p2p.discovery.dns_name),
	 .def = "", .check = check_dns_name},
	{ROW("p2p.discovery.dns_server", "P2P_DISCOVERY_DNS_SERVER", K_STR,
	     p2p.discovery.dns_server),
	 .def = "", .check = check_dns_server},
	{ROW("p2p.discovery.consul_address", "P2P_DISCOVERY_CONSUL_ADDRESS", K_STR,
	     p2p.discovery.consul_address),
	 .def = ""},

	{ROW("p2p.replication.factor", "P2P_REPLICATION_FACTOR", K_INT, p2p.replication.factor),
	 .def = "3", .min = 1, .max = 1000},
	{ROW("p2p.replication.strategy", "P2P_REPLICATION_STRATEGY", K_CHOICE,
	     p2p.replication.strategy),
	 .def = "eager", .names = strategies},
	{ROW("p2p.replication.sync_interval", "P2P_REPLICATION_SYNC_INTERVAL", K_DUR,
	     p2p.replication.sync_interval_ms),
	 .def = "1m", .min = 1, .max = DUR_MAX_MS},
	{ROW("p2p.replication.consistency_mode", "P2P_REPLICATION_CONSISTENCY_MODE", K_CHOICE,
	     p2p.replication.consistency_mode),
	 .def = "eventual", .names = consistency_modes},
	{ROW("p2p.replication.hybrid_threshold", "P2P_REPLICATION_HYBRID_THRESHOLD", K_SIZE,
	     p2p.replication.hybrid_threshold),
	 .def = "1048576", .min = 0, .max = 1LL << 50},
	{ROW("p2p.replication.fetch_timeout", "P2P_REPLICATION_FETCH_TIMEOUT", K_DUR,
	     p2p.replication.fetch_timeout_ms),
	 .def = "10s", .min = 1, .max = DUR_MAX_MS},
	{ROW("p2p.replication.strong_timeout", "P2P_REPLICATION_STRONG_TIMEOUT", K_DUR,
	     p2p.replication.strong_timeout_ms),
	 .def = "30s", .min = 1, .max = 59999},
	{ROW("p2p.replication.grace_period", "P2P_REPLICATION_GRACE_PERIOD", K_DUR,
	     p2p.replication.grace_period_ms),
	 .def = "5m", .min = 0, .max = DUR_MAX_MS},
	{ROW("p2p.replication.max_absence", "P2P_REPLICATION_MAX_ABSENCE", K_DUR,
	     p2p.replication.max_absence_ms),
	 .def = "0s", .min = 0, .max = DUR_MAX_MS},

	{ROW("p2p.health_check.interval", "P2P_HEALTH_CHECK_INTERVAL", K_DUR,
	     p2p.health_check.interval_ms),
	 .def = "15s", .min = 1, .max = DUR_MAX_MS},
	{ROW("p2p.health_check.timeout", "P2P_HEALTH_CHECK_TIMEOUT", K_DUR,
	     p2p.health_check.timeout_ms),
	 .def = "5s", .min = 1, .max = DUR_MAX_MS},
	{ROW("p2p.health_check.failure_threshold", "P2P_HEALTH_CHECK_FAILURE_THRESHOLD", K_INT,
	     p2p.health_check.failure_threshold),
	 .def = "3", .min = 1, .max = 1000},
	{ROW("p2p.health_check.workers", "P2P_HEALTH_CHECK_WORKERS", K_INT,
	     p2p.health_check.workers),
	 .def = "10", .min = 1, .max = 1024},

	{ROW("p2p.transport.protocol", "P2P_TRANSPORT_PROTOCOL", K_CHOICE, p2p.transport.protocol),
	 .def = "grpc", .names = protocols},
	{ROW("p2p.transport.max_connections", "P2P_TRANSPORT_MAX_CONNECTIONS", K_INT,
	     p2p.transport.max_connections),
	 .def = "100", .min = 1, .max = 65535},
	{ROW("p2p.transport.idle_timeout", "P2P_TRANSPORT_IDLE_TIMEOUT", K_DUR,
	     p2p.transport.idle_timeout_ms),
	 .def = "5m", .min = 1, .max = DUR_MAX_MS},
	{ROW("p2p.transport.max_message_size", "P2P_TRANSPORT_MAX_MESSAGE_SIZE", K_SIZE,
	     p2p.transport.max_message_size),
	 .def = "33554432", .min = 4096, .max = INT32_MAX},
	{ROW("p2p.transport.rate_limit", "P2P_TRANSPORT_RATE_LIMIT", K_SIZE,
	     p2p.transport.rate_limit),
	 .def = "0", .min = 0, .max = 1LL << 50},

	{ROW("p2p.tls.cert", "P2P_TLS_CERT", K_STR, p2p.tls.cert), .check = check_nonempty},
	{ROW("p2p.tls.key", "P2P_TLS_KEY", K_STR, p2p.tls.key), .check = check_nonempty},
	{ROW("p2p.tls.ca", "P2P_TLS_CA", K_STR, p2p.tls.ca), .check = check_nonempty},
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* Field accessors. They take a const config so octo_config_get can share them; only the
 * setters, which hold a mutable config, write through the result. */
static void *field(const struct octo_config *cfg, size_t off)
{
	return (char *)cfg + off;
}

#define str_at(cfg, k) ((char **)field((cfg), (k)->off))
#define int_at(cfg, k) ((int *)field((cfg), (k)->off))
#define i64_at(cfg, k) ((int64_t *)field((cfg), (k)->off))
#define list_at(cfg, k) ((char ***)field((cfg), (k)->off))
#define count_at(cfg, k) ((size_t *)field((cfg), (k)->count_off))

static const struct key *find_key(const char *path)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++)
		if (!strcmp(keys[i].path, path))
			return &keys[i];
	return NULL;
}

/* True if path names an object that holds keys ("p2p", "p2p.discovery"). */
static int is_section(const char *path)
{
	size_t i, n = strlen(path);

	for (i = 0; i < N_KEYS; i++)
		if (!strncmp(keys[i].path, path, n) && keys[i].path[n] == '.')
			return 1;
	return 0;
}

static void seterr(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

static void free_list(char **list)
{
	char **p;

	if (!list)
		return;
	for (p = list; *p; p++)
		free(*p);
	free(list);
}

/* Replace a string field; s is copied. */
static enum octo_err set_string(struct octo_config *cfg, const struct key *k, const char *s)
{
	char *copy = strdup(s);

	if (!copy)
		return OCTO_ERR_NOMEM;
	free(*str_at(cfg, k));
	*str_at(cfg, k) = copy;
	return OCTO_OK;
}

/* Replace a list field; takes ownership of list (n entries and a NULL). */
static void set_list(struct octo_config *cfg, const struct key *k, char **list, size_t n)
{
	free_list(*list_at(cfg, k));
	*list_at(cfg, k) = list;
	*count_at(cfg, k) = n;
}

static size_t name_index(const char *const *names, const char *s)
{
	size_t i;

	for (i = 0; names[i]; i++)
		if (!strcmp(names[i], s))
			break;
	return i;
}

/* "one of a, b, c" for error messages. */
static void names_list(const char *const *names, char *buf, size_t size)
{
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; names[i] && len < size; i++) {
		int n = snprintf(buf + len, size - len, "%s\"%s\"", i ? ", " : "", names[i]);

		if (n < 0)
			break;
		len += (size_t)n;
	}
}

static void format_duration(int64_t ms, char *buf, size_t size)
{
	if (ms % 1000 == 0)
		snprintf(buf, size, "%" PRId64 "s", ms / 1000);
	else
		snprintf(buf, size, "%" PRId64 "ms", ms);
}

static enum octo_err set_number(struct octo_config *cfg, const struct key *k, long long v,
				char *why, size_t whysize)
{
	if (v < k->min || v > k->max) {
		seterr(why, whysize, "must be an integer between %" PRId64 " and %" PRId64, k->min,
		       k->max);
		return OCTO_ERR_CONFIG;
	}
	if (k->type == K_INT)
		*int_at(cfg, k) = (int)v;
	else
		*i64_at(cfg, k) = (int64_t)v;
	return OCTO_OK;
}

/* Split "a, b,c" into a NULL-terminated list, each element trimmed of spaces and checked. */
static enum octo_err set_list_text(struct octo_config *cfg, const struct key *k, const char *s,
				   char *why, size_t whysize)
{
	char **list = NULL, *item = NULL;
	size_t n = 0, cap;
	const char *p;
	enum octo_err err = OCTO_OK;

	cap = 1;
	for (p = s; *p; p++)
		cap += *p == ',';
	list = calloc(cap + 1, sizeof(*list));
	if (!list)
		return OCTO_ERR_NOMEM;
	p = s;
	while (*p == ' ')
		p++;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *why_not;

		while (len && p[len - 1] == ' ')
			len--;
		item = strndup(p, len);
		if (!item) {
			err = OCTO_ERR_NOMEM;
			goto out;
		}
		why_not = len ? (k->check ? k->check(item) : NULL) : "has an empty element";
		if (why_not) {
			seterr(why, whysize, "%s", why_not);
			err = OCTO_ERR_CONFIG;
			goto out;
		}
		list[n++] = item;
		item = NULL; /* transferred */
		if (!end)
			break;
		p = end + 1;
		while (*p == ' ')
			p++;
		if (!*p) {
			seterr(why, whysize, "has an empty element");
			err = OCTO_ERR_CONFIG;
			goto out;
		}
	}
	set_list(cfg, k, list, n);
	list = NULL; /* transferred */
out:
	free(item);
	free_list(list);
	return err;
}

/* A K_JSON key: its fields from v, and v as text (what --config-get prints). */
static enum octo_err set_json_value(struct octo_config *cfg, const struct key *k, json_t *v,
				    char *why, size_t whysize)
{
	char spare[8], *text;
	enum octo_err err;

	if (why == NULL || whysize == 0) { /* the defaults' parse: no reason wanted */
		why = spare;
		whysize = sizeof(spare);
	}
	why[0] = '\0';
	err = k->parse(cfg, v, why, whysize);

	if (err != OCTO_OK)
		return err;
	text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
	if (text == NULL)
		return OCTO_ERR_NOMEM;
	free(*str_at(cfg, k));
	*str_at(cfg, k) = text;
	return OCTO_OK;
}

/* Set key k from text (the environment's syntax; JSON strings reuse it). */
static enum octo_err set_text(struct octo_config *cfg, const struct key *k, const char *s,
			      char *why, size_t whysize)
{
	const char *why_not;
	char names[128];
	size_t i;
	int64_t ms;

	switch (k->type) {
	case K_STR:
		why_not = k->check ? k->check(s) : NULL;
		if (why_not) {
			seterr(why, whysize, "%s", why_not);
			return OCTO_ERR_CONFIG;
		}
		return set_string(cfg, k, s);
	case K_INT:
	case K_SIZE: {
		char *end;
		long long v;

		if ((s[0] < '0' || s[0] > '9') && s[0] != '-')
			goto bad_int;
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno || *end)
			goto bad_int;
		return set_number(cfg, k, v, why, whysize);
bad_int:
		seterr(why, whysize, "must be an integer between %" PRId64 " and %" PRId64, k->min,
		       k->max);
		return OCTO_ERR_CONFIG;
	}
	case K_DUR: {
		char lo[32], hi[32];

		ms = octo_config_parse_duration(s);
		if (ms >= k->min && ms <= k->max) {
			*i64_at(cfg, k) = ms;
			return OCTO_OK;
		}
		format_duration(k->min, lo, sizeof(lo));
		if (k->max % 3600000 == 0)
			snprintf(hi, sizeof(hi), "%" PRId64 "h", k->max / 3600000);
		else
			format_duration(k->max, hi, sizeof(hi));
		seterr(why, whysize,
		       "must be a duration like \"30s\", \"2m\" or \"1h30m\" "
		       "from %s to %s",
		       lo, hi);
		return OCTO_ERR_CONFIG;
	}
	case K_BOOL:
		if (!strcmp(s, "true") || !strcmp(s, "1")) {
			*int_at(cfg, k) = 1;
			return OCTO_OK;
		}
		if (!strcmp(s, "false") || !strcmp(s, "0")) {
			*int_at(cfg, k) = 0;
			return OCTO_OK;
		}
		seterr(why, whysize, "must be true, false, 1 or 0");
		return OCTO_ERR_CONFIG;
	case K_ENUM:
	case K_CHOICE:
		i = name_index(k->names, s);
		if (!k->names[i]) {
			names_list(k->names, names, sizeof(names));
			seterr(why, whysize, "must be one of %s", names);
			return OCTO_ERR_CONFIG;
		}
		if (k->type == K_CHOICE)
			return set_string(cfg, k, k->names[i]);
		*int_at(cfg, k) = (int)i;
		return OCTO_OK;
	case K_LIST:
		return set_list_text(cfg, k, s, why, whysize);
	case K_JSON: {
		json_error_t jerr;
		json_t *v = json_loads(s, JSON_DECODE_ANY, &jerr);
		enum octo_err err;

		if (v == NULL) {
			seterr(why, whysize, "is not JSON: %s", jerr.text);
			return OCTO_ERR_CONFIG;
		}
		err = set_json_value(cfg, k, v, why, whysize);
		json_decref(v);
		return err;
	}
	}
	return OCTO_ERR_CONFIG;
}

static enum octo_err set_json_list(struct octo_config *cfg, const struct key *k, json_t *v,
				   char *why, size_t whysize)
{
	size_t i, n = json_array_size(v);
	char **list = calloc(n + 1, sizeof(*list));
	enum octo_err err = OCTO_OK;

	if (!list)
		return OCTO_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		const char *s = json_string_value(e);
		const char *why_not;

		if (!s) {
			seterr(why, whysize, "must be an array of strings");
			err = OCTO_ERR_CONFIG;
			goto out;
		}
		why_not = !s[0] ? "has an empty element" : k->check ? k->check(s) : NULL;
		if (why_not) {
			seterr(why, whysize, "%s", why_not);
			err = OCTO_ERR_CONFIG;
			goto out;
		}
		list[i] = strdup(s);
		if (!list[i]) {
			err = OCTO_ERR_NOMEM;
			goto out;
		}
	}
	set_list(cfg, k, list, n);
	list = NULL; /* transferred */
out:
	free_list(list);
	return err;
}

/* Set key k from a JSON value of the type the key wants. */
static enum octo_err set_json(struct octo_config *cfg, const struct key *k, json_t *v, char *why,
			      size_t whysize)
{
	switch (k->type) {
	case K_INT:
	case K_SIZE:
		if (!json_is_integer(v))
			break;
		return set_number(cfg, k, json_integer_value(v), why, whysize);
	case K_BOOL:
		if (!json_is_boolean(v)) {
			seterr(why, whysize, "must be true or false");
			return OCTO_ERR_CONFIG;
		}
		*int_at(cfg, k) = json_is_true(v);
		return OCTO_OK;
	case K_LIST:
		if (!json_is_array(v)) {
			seterr(why, whysize, "must be an array of strings");
			return OCTO_ERR_CONFIG;
		}
		return set_json_list(cfg, k, v, why, whysize);
	case K_JSON:
		return set_json_value(cfg, k, v, why, whysize);
	default:
		if (!json_is_string(v)) {
			seterr(why, whysize, "must be a string");
			return OCTO_ERR_CONFIG;
		}
		return set_text(cfg, k, json_string_value(v), why, whysize);
	}
	seterr(why, whysize, "must be an integer between %" PRId64 " and %" PRId64, k->min, k->max);
	return OCTO_ERR_CONFIG;
}

/* Apply the members of obj, whose own path is prefix ("" at the top). Only known sections
 * are entered, so the recursion is as deep as keys[] is. */
static enum octo_err walk(struct octo_config *cfg, json_t *obj, const char *prefix, const char *src,
			  char *errbuf, size_t errsize)
{
	const char *name;
	json_t *v;

	json_object_foreach(obj, name, v)
	{
		char path[128], why[256];
		const struct key *k = NULL;
		enum octo_err err;
		int n;

		n = snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", name);
		/* A name with a dot would otherwise match a nested key ("server.port"). */
		if (n < 0 || (size_t)n >= sizeof(path) || strchr(name, '.') || !name[0])
			goto unknown;
		k = find_key(path);
		if (k) {
			err = set_json(cfg, k, v, why, sizeof(why));
			if (err == OCTO_ERR_CONFIG)
				seterr(errbuf, errsize, "%s: key \"%s\": %s", src, path, why);
			if (err)
				return err;
			continue;
		}
		if (!is_section(path))
			goto unknown;
		if (!json_is_object(v)) {
			seterr(errbuf, errsize, "%s: key \"%s\": must be an object", src, path);
			return OCTO_ERR_CONFIG;
		}
		err = walk(cfg, v, path, src, errbuf, errsize);
		if (err)
			return err;
		continue;
unknown:
		seterr(errbuf, errsize, "%s: unknown key \"%s%s%s\"", src, prefix,
		       prefix[0] ? "." : "", name);
		return OCTO_ERR_CONFIG;
	}
	return OCTO_OK;
}

/* Edit distance of a and b, capped: enough to suggest the variable a typo meant. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, row[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

size_t octo_config_env_unknown(char *const *envp, char *buf, size_t size)
{
	size_t n = 0, pos = 0, i, k;

	if (size > 0)
		buf[0] = '\0';
	for (i = 0; envp != NULL && envp[i] != NULL; i++) {
		const char *eq = strchr(envp[i], '=');
		const char *near = NULL;
		char name[64];
		size_t len = eq ? (size_t)(eq - envp[i]) : strlen(envp[i]), best = 3;
		int w;

		if (strncmp(envp[i], "OCTOSERVE_", 10) != 0 || len >= sizeof(name))
			continue;
		memcpy(name, envp[i], len);
		name[len] = '\0';
		for (k = 0; k < N_KEYS && strcmp(keys[k].env, name) != 0; k++)
			;
		if (k < N_KEYS)
			continue;
		for (k = 0; k < N_KEYS; k++) {
			/* the logging section's variables are OCTOSERVE_LOG_*, a common slip */
			if (strncmp(name, "OCTOSERVE_LOGGING_", 18) == 0 &&
			    strncmp(keys[k].env, "OCTOSERVE_LOG_", 14) == 0 &&
			    strcmp(keys[k].env + 14, name + 18) == 0) {
				near = keys[k].env;
				break;
			}
			size_t d = distance(name, keys[k].env);
			if (d < best) {
				best = d;
				near = keys[k].env;
			}
		}
		n++;
		w = snprintf(buf + pos, size - pos, "%s%s%s%s%s", n > 1 ? ", " : "", name,
			     near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
		if (w > 0 && (size_t)w < size - pos)
			pos += (size_t)w;
	}
	return n;
}

static const char *sys_getenv(const char *name)
{
	return getenv(name);
}

static enum octo_err apply_env(struct octo_config *cfg, const char *(*getenv_fn)(const char *),
			       char *errbuf, size_t errsize)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++) {
		const char *s = getenv_fn(keys[i].env);
		char why[256];
		enum octo_err err;

		if (!s)
			continue;
		err = set_text(cfg, &keys[i], s, why, sizeof(why));
		if (err == OCTO_ERR_CONFIG)
			seterr(errbuf, errsize, "%s: %s (%s)", keys[i].env, why, keys[i].path);
		if (err)
			return err;
	}
	return OCTO_OK;
}

/* A rule about key broken: "<src>: key \"<key>\": <why>" into errbuf; OCTO_ERR_CONFIG. */
static enum octo_err refuse(char *errbuf, size_t errsize, const char *src, const char *key,
			    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static enum octo_err refuse(char *errbuf, size_t errsize, const char *src, const char *key,
			    const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	seterr(errbuf, errsize, "%s%skey \"%s\": %s", src ? src : "", src ? ": " : "", key, why);
	return OCTO_ERR_CONFIG;
}

/* p2p.tls: all three files or none (half a TLS set-up would be plaintext or no peer at all),
 * each readable now, so a wrong path is an error at start and not a refused peer later. */
static enum octo_err validate_tls(const struct octo_config *cfg, const char *src, char *errbuf,
				  size_t errsize)
{
	const struct {
		const char *key, *path;
	} files[] = {{"p2p.tls.cert", cfg->p2p.tls.cert},
		     {"p2p.tls.key", cfg->p2p.tls.key},
		     {"p2p.tls.ca", cfg->p2p.tls.ca}};
	size_t i, set = 0;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		set += files[i].path != NULL;
	for (i = 0; set > 0 && i < sizeof(files) / sizeof(files[0]); i++) {
		FILE *f;
		if (files[i].path == NULL)
			return refuse(errbuf, errsize, src, files[i].key,
				      "p2p.tls.cert, p2p.tls.key and p2p.tls.ca must be set "
				      "together");
		f = fopen(files[i].path, "r");
		if (f == NULL)
			return refuse(errbuf, errsize, src, files[i].key, "%s cannot be read: %s",
				      files[i].path, strerror(errno));
		fclose(f);
	}
	return OCTO_OK;
}

/* Rules that span keys, checked once the file and the environment are applied; src names
 * the file, or is NULL when there was none. */
int octo_config_auth_enabled(const struct octo_config *cfg)
{
	return cfg->auth.htpasswd_path != NULL || cfg->auth.trust_front ||
	       cfg->auth.token.n_keys > 0 || cfg->auth.token.jwks != NULL ||
	       cfg->auth.token.ca_bundle != NULL;
}

static int group_defined(const struct octo_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->auth.n_groups; i++)
		if (strcmp(cfg->auth.groups[i].name, name) == 0)
			return 1;
	return 0;
}

/* Who authenticates is one choice: our issuer (with users), an outside issuer (with its
 * keys), or the front. Rules may only name groups that exist. */
static enum octo_err validate_auth(const struct octo_config *cfg, const char *src, char *errbuf,
				   size_t errsize)
{
	const char *realm = cfg->auth.token.realm;
	size_t i, j;

	if (cfg->auth.trust_front && cfg->auth.htpasswd_path != NULL)
		return refuse(errbuf, errsize, src, "auth.trust_front",
			      "the front authenticates, so auth.htpasswd.path (the built-in "
			      "issuer's users) must not be set as well");
	if (cfg->auth.htpasswd_path != NULL && realm[0] != '/')
		return refuse(errbuf, errsize, src, "auth.token.realm",
			      "the built-in issuer (auth.htpasswd.path) answers at a path of "
			      "this registry: \"/auth/token\", say");
	if (cfg->auth.htpasswd_path == NULL && !cfg->auth.trust_front &&
	    octo_config_auth_enabled(cfg) && realm[0] == '/')
		return refuse(errbuf, errsize, src, "auth.token.realm",
			      "must be the outside issuer's URL (there is no auth.htpasswd.path "
			      "for a built-in one)");
	if (cfg->auth.admin_group[0] && !group_defined(cfg, cfg->auth.admin_group))
		return refuse(errbuf, errsize, src, "auth.admin_group",
			      "\"%s\" is not a group of auth.groups", cfg->auth.admin_group);
	for (i = 0; i < cfg->auth.n_rules; i++)
		for (j = 0; j < cfg->auth.rules[i].n_groups; j++)
			if (!group_defined(cfg, cfg->auth.rules[i].groups[j]))
				return refuse(errbuf, errsize, src, "auth.rules",
					      "[%zu].groups: \"%s\" is not a group of auth.groups",
					      i, cfg->auth.rules[i].groups[j]);
	return OCTO_OK;
}

int octo_config_s3(const struct octo_config *cfg)
{
	return strcmp(cfg->storage.type, "s3") == 0;
}

static enum octo_err validate_s3(const struct octo_config *cfg, const char *src, char *errbuf,
				 size_t errsize)
{
	const struct octo_config_s3 *c = &cfg->storage.s3;

	if (!octo_config_s3(cfg))
		return OCTO_OK;
	if (c->endpoint == NULL || !c->endpoint[0])
		return refuse(errbuf, errsize, src, "storage.s3.endpoint",
			      "must be set for storage.type \"s3\" (\"https://s3.<region>."
			      "amazonaws.com\", or radosgw's or MinIO's URL)");
	if (c->bucket == NULL)
		return refuse(errbuf, errsize, src, "storage.s3.bucket",
			      "must be set for storage.type \"s3\"");
	if (c->access_key == NULL)
		return refuse(errbuf, errsize, src, "storage.s3.access_key",
			      "must be set for storage.type \"s3\"");
	if ((c->secret_key == NULL) == (c->secret_key_file == NULL))
		return refuse(errbuf, errsize, src, "storage.s3.secret_key",
			      "exactly one of storage.s3.secret_key and storage.s3.secret_key_file "
			      "must be set");
	return OCTO_OK;
}

static enum octo_err validate(const struct octo_config *cfg, const char *src, char *errbuf,
			      size_t errsize)
{
	enum octo_err err;

	/* A tombstone must outlive every exchange that could still bring back what it deletes
	 * (doc/DESIGN.md "Records"): two anti-entropy rounds at the least. */
	if (cfg->storage.tombstone_ttl_ms <= 2 * cfg->p2p.replication.sync_interval_ms)
		return refuse(errbuf, errsize, src, "storage.tombstone_ttl",
			      "must be longer than twice p2p.replication.sync_interval");
	/* A node away longer than the tombstones last could bring back what was deleted. */
	if (cfg->p2p.replication.max_absence_ms >
	    cfg->storage.tombstone_ttl_ms - 2 * cfg->p2p.replication.sync_interval_ms)
		return refuse(errbuf, errsize, src, "p2p.replication.max_absence",
			      "must be at most storage.tombstone_ttl less twice "
			      "p2p.replication.sync_interval");
	/* Accepted by the original's configuration, but nothing here would act on them: refused
	 * rather than silently ignored. */
	if (strcmp(cfg->p2p.discovery.method, "static") != 0 &&
	    strcmp(cfg->p2p.discovery.method, "dns") != 0)
		return refuse(errbuf, errsize, src, "p2p.discovery.method",
			      "\"%s\" is not supported here (\"static\": p2p.bootstrap_peers and "
			      "peer exchange; \"dns\": p2p.discovery.dns_name as well)",
			      cfg->p2p.discovery.method);
	if (strcmp(cfg->p2p.discovery.method, "dns") == 0 && !cfg->p2p.discovery.dns_name[0])
		return refuse(errbuf, errsize, src, "p2p.discovery.dns_name",
			      "must be set for p2p.discovery.method \"dns\" (the SRV or A/AAAA "
			      "name of the peers)");
	err = validate_auth(cfg, src, errbuf, errsize);
	if (err == OCTO_OK)
		err = validate_s3(cfg, src, errbuf, errsize);
	if (err != OCTO_OK)
		return err;
	if (!cfg->metrics.username != !cfg->metrics.password)
		return refuse(errbuf, errsize, src, "metrics.basic_auth",
			      "username and password must be set together");
	return validate_tls(cfg, src, errbuf, errsize);
}

enum octo_err octo_config_defaults(struct octo_config *cfg)
{
	char host[256];
	enum octo_err err;
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < N_KEYS; i++) {
		if (!keys[i].def)
			continue;
		err = set_text(cfg, &keys[i], keys[i].def, NULL, 0);
		if (err)
			goto fail;
	}
	if (gethostname(host, sizeof(host)) != 0 || !host[0])
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	cfg->p2p.node_id = strdup(host);
	if (!cfg->p2p.node_id) {
		err = OCTO_ERR_NOMEM;
		goto fail;
	}
	return OCTO_OK;
fail:
	octo_config_cleanup(cfg);
	return OCTO_ERR_NOMEM; /* the defaults themselves are valid */
}

/* Defaults, then root (may be NULL), then the environment. */
static enum octo_err load_json(struct octo_config *cfg, json_t *root, const char *src,
			       const char *(*getenv_fn)(const char *), char *errbuf, size_t errsize)
{
	enum octo_err err;

	err = octo_config_defaults(cfg);
	if (err)
		goto out;
	if (root && !json_is_object(root)) {
		seterr(errbuf, errsize, "%s: the top level must be an object", src);
		err = OCTO_ERR_CONFIG;
		goto out;
	}
	if (root) {
		err = walk(cfg, root, "", src, errbuf, errsize);
		if (err)
			goto out;
	}
	err = apply_env(cfg, getenv_fn ? getenv_fn : sys_getenv, errbuf, errsize);
	if (err)
		goto out;
	err = validate(cfg, root ? src : NULL, errbuf, errsize);
out:
	if (err == OCTO_ERR_NOMEM)
		seterr(errbuf, errsize, "out of memory");
	if (err)
		octo_config_cleanup(cfg);
	return err;
}

static void json_syntax_error(const json_error_t *jerr, const char *src, char *errbuf,
			      size_t errsize)
{
	if (jerr->line > 0)
		seterr(errbuf, errsize, "%s:%d:%d: %s", src, jerr->line, jerr->column, jerr->text);
	else if (strstr(jerr->text, src)) /* "unable to open FILE: ..." */
		seterr(errbuf, errsize, "%s", jerr->text);
	else
		seterr(errbuf, errsize, "%s: %s", src, jerr->text);
}

enum octo_err octo_config_load(struct octo_config *cfg, const char *path,
			       const char *(*getenv_fn)(const char *name), char *errbuf,
			       size_t errsize)
{
	json_error_t jerr;
	json_t *root = NULL;
	enum octo_err err;

	if (path) {
		root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		if (!root) {
			memset(cfg, 0, sizeof(*cfg));
			json_syntax_error(&jerr, path, errbuf, errsize);
			return OCTO_ERR_CONFIG;
		}
	}
	err = load_json(cfg, root, path, getenv_fn, errbuf, errsize);
	json_decref(root);
	return err;
}

enum octo_err octo_config_load_text(struct octo_config *cfg, const char *text, size_t len,
				    const char *(*getenv_fn)(const char *name), char *errbuf,
				    size_t errsize)
{
	static const char src[] = "<config>";
	json_error_t jerr;
	json_t *root;
	enum octo_err err;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		memset(cfg, 0, sizeof(*cfg));
		json_syntax_error(&jerr, src, errbuf, errsize);
		return OCTO_ERR_CONFIG;
	}
	err = load_json(cfg, root, src, getenv_fn, errbuf, errsize);
	json_decref(root);
	return err;
}

/* An array of n elements of size bytes (the retention rules, endpoints, groups and auth
 * rules): what each element owns freed by free_elem, then the array. */
static void free_array(void *a, size_t n, size_t size, void (*free_elem)(void *))
{
	size_t i;

	for (i = 0; i < n; i++)
		free_elem((char *)a + i * size);
	free(a);
}

static void free_rule(void *p)
{
	struct octo_retention_rule *r = p;

	free(r->repositories);
	free_list(r->keep_tags);
}

static void free_endpoint(void *p)
{
	struct octo_notify_endpoint *e = p;

	free(e->name);
	free(e->url);
	free_list(e->headers);
	free_list(e->events);
	free_list(e->repositories);
}

/* A member that must be a non-empty string (NULL when absent); why names it. */
static int member_string(json_t *o, const char *name, int required, const char **out, char *why,
			 size_t whysize, size_t i)
{
	json_t *v = json_object_get(o, name);

	*out = NULL;
	if (v == NULL && !required)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0) {
		seterr(why, whysize, "[%zu].%s: %s", i, name,
		       v == NULL ? "is required" : "must be a non-empty string");
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

/* A member that is an array of non-empty strings, copied into *list (NULL-terminated). */
static int member_strings(json_t *o, const char *name, char ***list, size_t *n, char *why,
			  size_t whysize, size_t i)
{
	json_t *v = json_object_get(o, name), *e;
	size_t j;

	*list = NULL;
	*n = 0;
	if (v == NULL)
		return 0;
	if (!json_is_array(v)) {
		seterr(why, whysize, "[%zu].%s: must be an array of strings", i, name);
		return -1;
	}
	*list = calloc(json_array_size(v) + 1, sizeof(**list));
	if (*list == NULL)
		return -1;
	json_array_foreach(v, j, e)
	{
		if (!json_is_string(e) || json_string_length(e) == 0) {
			seterr(why, whysize, "[%zu].%s[%zu]: must be a non-empty string", i, name,
			       j);
			return -1;
		}
		if (((*list)[j] = strdup(json_string_value(e))) == NULL)
			return -1;
		*n = j + 1;
	}
	return 0;
}

/* A member that is a duration string within [min, max] (def when absent). */
static int member_duration(json_t *o, const char *name, int64_t def, int64_t min, int64_t max,
			   int64_t *out, char *why, size_t whysize, size_t i)
{
	json_t *v = json_object_get(o, name);

	*out = def;
	if (v == NULL)
		return 0;
	*out = json_is_string(v) ? octo_config_parse_duration(json_string_value(v)) : -1;
	if (*out < min || *out > max) {
		seterr(why, whysize,
		       "[%zu].%s: must be a duration like \"30s\" or \"24h\", at least %lldms", i,
		       name, (long long)min);
		return -1;
	}
	return 0;
}

/* Unknown members of a rule or an endpoint are errors that name them. */
static int only_members(json_t *o, const char *const *known, char *why, size_t whysize, size_t i)
{
	const char *name;
	json_t *v;

	json_object_foreach(o, name, v)
	{
		size_t k;
		for (k = 0; known[k] != NULL && strcmp(known[k], name) != 0; k++)
			;
		if (known[k] == NULL) {
			seterr(why, whysize, "[%zu]: unknown member \"%s\"", i, name);
			return -1;
		}
	}
	return 0;
}

/* v as an array of objects, and room for as many elements of size (zeroed) in *out. */
static enum octo_err array_of_objects(json_t *v, const char *what, size_t size, void **out,
				      char *why, size_t whysize)
{
	size_t i;
	json_t *o;

	*out = NULL;
	if (!json_is_array(v)) {
		seterr(why, whysize, "must be an array of %s", what);
		return OCTO_ERR_CONFIG;
	}
	json_array_foreach(v, i, o)
	{
		if (!json_is_object(o)) {
			seterr(why, whysize, "[%zu]: must be an object", i);
			return OCTO_ERR_CONFIG;
		}
	}
	*out = calloc(json_array_size(v) + 1, size);
	return *out != NULL ? OCTO_OK : OCTO_ERR_NOMEM;
}

static enum octo_err parse_retention(struct octo_config *cfg, json_t *v, char *why, size_t whysize)
{
	static const char *const known[] = {"repositories", "keep_tags", "keep_last", "older_than",
					    NULL};
	struct octo_retention_rule *rules;
	size_t i, n = json_array_size(v);
	json_t *o;
	enum octo_err err =
		array_of_objects(v, "rules", sizeof(*rules), (void **)&rules, why, whysize);

	if (err != OCTO_OK)
		return err;
	json_array_foreach(v, i, o)
	{
		struct octo_retention_rule *r = &rules[i];
		json_t *last = json_object_get(o, "keep_last");
		const char *repos;

		r->keep_last = -1;
		if (only_members(o, known, why, whysize, i) != 0 ||
		    member_string(o, "repositories", 1, &repos, why, whysize, i) != 0 ||
		    (r->repositories = strdup(repos)) == NULL ||
		    member_strings(o, "keep_tags", &r->keep_tags, &r->n_keep_tags, why, whysize,
				   i) != 0 ||
		    member_duration(o, "older_than", 0, 1000, DUR_MAX_MS * 10, &r->older_than_ms,
				    why, whysize, i) != 0)
			goto bad;
		if (last != NULL && (!json_is_integer(last) || json_integer_value(last) < 0 ||
				     json_integer_value(last) > 1000000)) {
			seterr(why, whysize,
			       "[%zu].keep_last: must be an integer from 0 to 1000000", i);
			goto bad;
		}
		if (last != NULL)
			r->keep_last = (int)json_integer_value(last);
		if (r->keep_last < 0 && r->older_than_ms == 0) {
			seterr(why, whysize,
			       "[%zu]: needs keep_last or older_than (a rule with neither would delete "
			       "every tag it does not keep by name)",
			       i);
			goto bad;
		}
	}
	free_array(cfg->storage.retention.rules, cfg->storage.retention.n_rules, sizeof(*rules),
		   free_rule);
	cfg->storage.retention.rules = rules;
	cfg->storage.retention.n_rules = n;
	return OCTO_OK;
bad:
	free_array(rules, n, sizeof(*rules), free_rule);
	if (why[0] == '\0')
		return OCTO_ERR_NOMEM;
	return OCTO_ERR_CONFIG;
}

static int name_ok(const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_'))
			return 0;
	return n >= 1 && n <= 32;
}

/* "headers": {"Name": "value"} or Distribution's {"Name": ["value", ...]}: "Name: value" lines. */
static int endpoint_headers(json_t *o, struct octo_notify_endpoint *e, char *why, size_t whysize,
			    size_t i)
{
	json_t *h = json_object_get(o, "headers"), *v, *x;
	const char *name;
	size_t n = 0, j;

	if (h == NULL)
		return 0;
	if (!json_is_object(h)) {
		seterr(why, whysize, "[%zu].headers: must be an object of strings", i);
		return -1;
	}
	json_object_foreach(h, name, v) n += json_is_array(v) ? json_array_size(v) : 1;
	e->headers = calloc(n + 1, sizeof(*e->headers));
	if (e->headers == NULL)
		return -1;
	json_object_foreach(h, name, v)
	{
		json_t *one[1] = {v};
		size_t count = json_is_array(v) ? json_array_size(v) : 1;
		if (name[0] == '\0' || strpbrk(name, ": \t\r\n") != NULL) {
			seterr(why, whysize, "[%zu].headers: \"%s\" is not a header name", i, name);
			return -1;
		}
		for (j = 0; j < count; j++) {
			const char *s;
			size_t len;
			x = json_is_array(v) ? json_array_get(v, j) : one[0];
			s = json_string_value(x);
			if (s == NULL || strpbrk(s, "\r\n") != NULL) {
				seterr(why, whysize,
				       "[%zu].headers.%s: must be a string on one line", i, name);
				return -1;
			}
			len = strlen(name) + strlen(s) + 3;
			if ((e->headers[e->n_headers] = malloc(len)) == NULL)
				return -1;
			snprintf(e->headers[e->n_headers++], len, "%s: %s", name, s);
		}
	}
	return 0;
}

static enum octo_err parse_endpoints(struct octo_config *cfg, json_t *v, char *why, size_t whysize)
{
	static const char *const known[] = {"name",         "url",     "headers", "events",
					    "repositories", "timeout", "backoff", "max_backoff",
					    "batch",        NULL};
	static const char *const types[] = {"blob.put",     "blob.mount",       "blob.delete",
					    "manifest.put", "manifest.delete",  "tag.delete",
					    "blob.collect", "manifest.collect", NULL};
	struct octo_notify_endpoint *eps;
	size_t i, j, k, n = json_array_size(v);
	json_t *o;
	enum octo_err err =
		array_of_objects(v, "endpoints", sizeof(*eps), (void **)&eps, why, whysize);

	if (err != OCTO_OK)
		return err;
	json_array_foreach(v, i, o)
	{
		struct octo_notify_endpoint *e = &eps[i];
		json_t *batch = json_object_get(o, "batch");
		const char *name, *url;

		if (only_members(o, known, why, whysize, i) != 0 ||
		    member_string(o, "name", 1, &name, why, whysize, i) != 0 ||
		    member_string(o, "url", 1, &url, why, whysize, i) != 0)
			goto bad;
		if (!name_ok(name)) {
			seterr(why, whysize, "[%zu].name: 1 to 32 of a-z, 0-9, '-' and '_'", i);
			goto bad;
		}
		for (j = 0; j < i; j++)
			if (strcmp(eps[j].name, name) == 0) {
				seterr(why, whysize, "[%zu].name: \"%s\" is taken by [%zu]", i,
				       name, j);
				goto bad;
			}
		if (check_url(url) != NULL || strncmp(url, "http", 4) != 0) {
			seterr(why, whysize, "[%zu].url: must be an http:// or https:// URL", i);
			goto bad;
		}
		if ((e->name = strdup(name)) == NULL || (e->url = strdup(url)) == NULL ||
		    endpoint_headers(o, e, why, whysize, i) != 0 ||
		    member_strings(o, "events", &e->events, &e->n_events, why, whysize, i) != 0 ||
		    member_strings(o, "repositories", &e->repositories, &e->n_repositories, why,
				   whysize, i) != 0 ||
		    member_duration(o, "timeout", 5000, 1, 600000, &e->timeout_ms, why, whysize,
				    i) != 0 ||
		    member_duration(o, "backoff", 1000, 1, 3600000, &e->backoff_ms, why, whysize,
				    i) != 0 ||
		    member_duration(o, "max_backoff", 60000, 1, 24 * 3600000, &e->max_backoff_ms,
				    why, whysize, i) != 0)
			goto bad;
		for (j = 0; j < e->n_events; j++) {
			for (k = 0; types[k] != NULL && strcmp(types[k], e->events[j]) != 0; k++)
				;
			if (types[k] == NULL) {
				seterr(why, whysize,
				       "[%zu].events: \"%s\" is no event type (blob.put, blob.mount, "
				       "blob.delete, manifest.put, manifest.delete, tag.delete, blob.collect, manifest.collect)",
				       i, e->events[j]);
				goto bad;
			}
		}
		e->batch = 100;
		if (batch != NULL && (!json_is_integer(batch) || json_integer_value(batch) < 1 ||
				      json_integer_value(batch) > 10000)) {
			seterr(why, whysize, "[%zu].batch: must be an integer from 1 to 10000", i);
			goto bad;
		}
		if (batch != NULL)
			e->batch = (int)json_integer_value(batch);
	}
	free_array(cfg->notifications.endpoints, cfg->notifications.n_endpoints, sizeof(*eps),
		   free_endpoint);
	cfg->notifications.endpoints = eps;
	cfg->notifications.n_endpoints = n;
	return OCTO_OK;
bad:
	free_array(eps, n, sizeof(*eps), free_endpoint);
	if (why[0] == '\0')
		return OCTO_ERR_NOMEM;
	return OCTO_ERR_CONFIG;
}

static void free_group(void *p)
{
	struct octo_auth_group *g = p;

	free(g->name);
	free_list(g->users);
}

static void free_auth_rule(void *p)
{
	struct octo_auth_rule *r = p;

	free(r->repositories);
	free_list(r->users);
	free_list(r->groups);
}

/* auth.groups: {"name": ["user", ...]}. */
static enum octo_err parse_groups(struct octo_config *cfg, json_t *v, char *why, size_t whysize)
{
	struct octo_auth_group *groups;
	const char *name;
	json_t *members;
	size_t n = 0;

	if (!json_is_object(v)) {
		seterr(why, whysize, "must be an object of group names to arrays of user names");
		return OCTO_ERR_CONFIG;
	}
	groups = calloc(json_object_size(v) + 1, sizeof(*groups));
	if (groups == NULL)
		return OCTO_ERR_NOMEM;
	json_object_foreach(v, name, members)
	{
		struct octo_auth_group *g = &groups[n++];
		json_t *wrap = json_pack("{sO}", "users", members);

		if (wrap == NULL || name[0] == '\0' || (g->name = strdup(name)) == NULL) {
			json_decref(wrap);
			if (name[0] == '\0')
				seterr(why, whysize, "a group name must not be empty");
			goto bad;
		}
		if (!json_is_array(members)) {
			json_decref(wrap);
			seterr(why, whysize, "\"%s\": must be an array of user names", name);
			goto bad;
		}
		if (member_strings(wrap, "users", &g->users, &g->n_users, why, whysize, n - 1) !=
		    0) {
			json_decref(wrap);
			goto bad;
		}
		json_decref(wrap);
	}
	free_array(cfg->auth.groups, cfg->auth.n_groups, sizeof(*groups), free_group);
	cfg->auth.groups = groups;
	cfg->auth.n_groups = n;
	return OCTO_OK;
bad:
	free_array(groups, n, sizeof(*groups), free_group);
	return why[0] == '\0' ? OCTO_ERR_NOMEM : OCTO_ERR_CONFIG;
}

/* "pull", "push", "delete" (and "*", all three) as OCTO_ACCESS_* bits; 0 for another word. */
static unsigned action_bits(const char *s)
{
	return strcmp(s, "pull") == 0     ? OCTO_ACCESS_PULL
	       : strcmp(s, "push") == 0   ? OCTO_ACCESS_PUSH
	       : strcmp(s, "delete") == 0 ? OCTO_ACCESS_DELETE
	       : strcmp(s, "*") == 0      ? OCTO_ACCESS_PULL | OCTO_ACCESS_PUSH | OCTO_ACCESS_DELETE
					  : 0;
}

static enum octo_err parse_auth_rules(struct octo_config *cfg, json_t *v, char *why, size_t whysize)
{
	static const char *const known[] = {"repositories", "users",   "groups",
					    "anonymous",    "actions", NULL};
	struct octo_auth_rule *rules;
	size_t i, n = json_array_size(v);
	json_t *o;
	enum octo_err err =
		array_of_objects(v, "rules", sizeof(*rules), (void **)&rules, why, whysize);

	if (err != OCTO_OK)
		return err;
	json_array_foreach(v, i, o)
	{
		struct octo_auth_rule *r = &rules[i];
		json_t *anon = json_object_get(o, "anonymous");
		char **actions = NULL;
		size_t j, n_actions = 0;
		const char *repos;

		if (only_members(o, known, why, whysize, i) != 0 ||
		    member_string(o, "repositories", 1, &repos, why, whysize, i) != 0 ||
		    (r->repositories = strdup(repos)) == NULL ||
		    member_strings(o, "users", &r->users, &r->n_users, why, whysize, i) != 0 ||
		    member_strings(o, "groups", &r->groups, &r->n_groups, why, whysize, i) != 0 ||
		    member_strings(o, "actions", &actions, &n_actions, why, whysize, i) != 0) {
			free_list(actions);
			goto bad;
		}
		for (j = 0; j < n_actions; j++) {
			unsigned bits = action_bits(actions[j]);
			if (bits == 0) {
				seterr(why, whysize,
				       "[%zu].actions[%zu]: \"%s\" is not pull, push, delete or *",
				       i, j, actions[j]);
				free_list(actions);
				goto bad;
			}
			r->actions |= bits;
		}
		free_list(actions);
		if (anon != NULL && !json_is_boolean(anon)) {
			seterr(why, whysize, "[%zu].anonymous: must be true or false", i);
			goto bad;
		}
		r->anonymous = json_is_true(anon);
		if (r->actions == 0) {
			seterr(why, whysize, "[%zu].actions: is required (pull, push, delete)", i);
			goto bad;
		}
		if (r->anonymous && r->actions != OCTO_ACCESS_PULL) {
			seterr(why, whysize,
			       "[%zu]: an anonymous rule may only pull (give pushes and deletes to "
			       "users or groups)",
			       i);
			goto bad;
		}
		if (!r->anonymous && r->n_users == 0 && r->n_groups == 0) {
			seterr(why, whysize, "[%zu]: names nobody (users, groups or anonymous)", i);
			goto bad;
		}
	}
	free_array(cfg->auth.rules, cfg->auth.n_rules, sizeof(*rules), free_auth_rule);
	cfg->auth.rules = rules;
	cfg->auth.n_rules = n;
	return OCTO_OK;
bad:
	free_array(rules, n, sizeof(*rules), free_auth_rule);
	return why[0] == '\0' ? OCTO_ERR_NOMEM : OCTO_ERR_CONFIG;
}

void octo_config_cleanup(struct octo_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < N_KEYS; i++) {
		if (keys[i].type == K_STR || keys[i].type == K_CHOICE || keys[i].type == K_JSON)
			free(*str_at(cfg, &keys[i]));
		else if (keys[i].type == K_LIST)
			free_list(*list_at(cfg, &keys[i]));
	}
	free_array(cfg->storage.retention.rules, cfg->storage.retention.n_rules,
		   sizeof(*cfg->storage.retention.rules), free_rule);
	free_array(cfg->notifications.endpoints, cfg->notifications.n_endpoints,
		   sizeof(*cfg->notifications.endpoints), free_endpoint);
	free_array(cfg->auth.groups, cfg->auth.n_groups, sizeof(*cfg->auth.groups), free_group);
	free_array(cfg->auth.rules, cfg->auth.n_rules, sizeof(*cfg->auth.rules), free_auth_rule);
	memset(cfg, 0, sizeof(*cfg));
}

/* Go's time.ParseDuration grammar, [0-9]*(\.[0-9]*)?unit repeated, summed in nanoseconds
 * with its overflow rules, then truncated to milliseconds. Signs other than '+' and bare
 * numbers (even "0") are rejected. */
int64_t octo_config_parse_duration(const char *s)
{
	static const struct {
		const char *name;
		uint64_t ns;
	} units[] = {
		{"ns", 1ULL},
		{"us", 1000ULL},
		{"\xc2\xb5s", 1000ULL}, /* U+00B5 micro sign */
		{"\xce\xbcs", 1000ULL}, /* U+03BC Greek mu */
		{"ms", 1000000ULL},
		{"s", 1000000000ULL},
		{"m", 60ULL * 1000000000ULL},
		{"h", 3600ULL * 1000000000ULL},
	};
	const uint64_t max = (uint64_t)INT64_MAX;
	uint64_t total = 0;

	if (!s)
		return -1;
	if (*s == '+')
		s++;
	if (!*s)
		return -1;
	while (*s) {
		uint64_t whole = 0, frac = 0, scale = 1, unit = 0, v;
		int digits = 0;
		size_t ulen, i;

		for (; *s >= '0' && *s <= '9'; s++, digits++) {
			if (whole > (max - (uint64_t)(*s - '0')) / 10)
				return -1;
			whole = whole * 10 + (uint64_t)(*s - '0');
		}
		if (*s == '.') {
			for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
				/* Digits past what 64 bits hold cannot change the result. */
				if (scale > max / 10)
					continue;
				frac = frac * 10 + (uint64_t)(*s - '0');
				scale *= 10;
			}
		}
		if (!digits)
			return -1;
		ulen = strcspn(s, "0123456789.");
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strlen(units[i].name) == ulen && !memcmp(units[i].name, s, ulen))
				unit = units[i].ns;
		if (!unit)
			return -1;
		s += ulen;
		if (whole > max / unit)
			return -1;
		v = whole * unit;
		if (frac) {
			v += (uint64_t)((double)frac * ((double)unit / (double)scale));
			if (v > max)
				return -1;
		}
		if (v > max - total)
			return -1;
		total += v;
	}
	return (int64_t)(total / 1000000ULL);
}

char *octo_config_get(const struct octo_config *cfg, const char *key)
{
	const struct key *k = key ? find_key(key) : NULL;
	char buf[64], *out, **list;
	const char *s;
	size_t i, len, n;
	int v;

	if (!k)
		return NULL;
	switch (k->type) {
	case K_STR:
	case K_CHOICE:
	case K_JSON:
		s = *str_at(cfg, k);
		return strdup(s ? s : "");
	case K_INT:
		snprintf(buf, sizeof(buf), "%d", *int_at(cfg, k));
		break;
	case K_SIZE:
		snprintf(buf, sizeof(buf), "%" PRId64, *i64_at(cfg, k));
		break;
	case K_DUR:
		format_duration(*i64_at(cfg, k), buf, sizeof(buf));
		break;
	case K_BOOL:
		snprintf(buf, sizeof(buf), "%s", *int_at(cfg, k) ? "true" : "false");
		break;
	case K_ENUM:
		v = *int_at(cfg, k);
		for (n = 0; k->names[n]; n++)
			;
		snprintf(buf, sizeof(buf), "%s", v >= 0 && (size_t)v < n ? k->names[v] : "");
		break;
	case K_LIST:
		list = *list_at(cfg, k);
		n = list ? *count_at(cfg, k) : 0;
		for (len = 1, i = 0; i < n; i++)
			len += strlen(list[i]) + 1;
		out = malloc(len);
		if (!out)
			return NULL;
		out[0] = '\0';
		for (len = 0, i = 0; i < n; i++) {
			size_t l = strlen(list[i]);

			if (i)
				out[len++] = ',';
			memcpy(out + len, list[i], l + 1);
			len += l;
		}
		return out;
	default:
		return NULL;
	}
	return strdup(buf);
}

int64_t octo_config_max_absence_ms(const struct octo_config *cfg)
{
	return cfg->p2p.replication.max_absence_ms > 0
		       ? cfg->p2p.replication.max_absence_ms
		       : cfg->storage.tombstone_ttl_ms - 2 * cfg->p2p.replication.sync_interval_ms;
}
