/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for lib/config.c: valid files, every kind of bad value, unknown keys at each
 * depth, JSON syntax errors, environment overrides (through a fake getenv), durations and
 * octo_config_get. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* The fake environment: NULL-terminated pairs of name and value. */
static const char *const *fake_env;

static const char *fake_getenv(const char *name)
{
	const char *const *p;

	for (p = fake_env; p && p[0]; p += 2)
		if (!strcmp(p[0], name))
			return p[1];
	return NULL;
}

static const char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

static enum octo_err load(struct octo_config *cfg, const char *text, const char *const *env,
			  char *errbuf, size_t errsize)
{
	fake_env = env;
	errbuf[0] = '\0';
	return octo_config_load_text(cfg, text, strlen(text), fake_getenv, errbuf, errsize);
}

static void assert_get(const struct octo_config *cfg, const char *key, const char *want)
{
	char *got = octo_config_get(cfg, key);

	if (!got || strcmp(got, want))
		fail_msg("%s: got \"%s\", want \"%s\"", key, got ? got : "(null)", want);
	free(got);
}

static void assert_zeroed(const struct octo_config *cfg)
{
	static const struct octo_config zero;

	assert_memory_equal(cfg, &zero, sizeof(zero));
}

/* Every key with its default, as octo_config_get writes it. */
static const struct {
	const char *key;
	const char *value;
} defaults[] = {
	{"server.address", "localhost"},
	{"server.port", "5000"},
	{"server.read_timeout", "30s"},
	{"server.write_timeout", "30s"},
	{"server.idle_timeout", "120s"},
	{"server.min_body_rate", "500"},
	{"server.external_url", ""},
	{"server.shutdown_timeout", "30s"},
	{"fcgi.listen", ""},
	{"fcgi.threads", "8"},
	{"fcgi.max_threads", "128"},
	{"fcgi.sendfile", "none"},
	{"fcgi.sendfile_prefix", "/_blobs/"},
	{"storage.type", "filesystem"},
	{"storage.path", "./data"},
	{"storage.max_manifest_size", "4194304"},
	{"storage.delete_enabled", "true"},
	{"storage.upload_ttl", "86400s"},
	{"storage.max_uploads", "4096"},
	{"storage.max_uploads_per_client", "256"},
	{"storage.max_blob_size", "0"},
	{"storage.min_free.bytes", "268435456"},
	{"storage.min_free.inodes", "4096"},
	{"storage.tombstone_ttl", "604800s"},
	{"logging.level", "info"},
	{"logging.format", "json"},
	{"logging.output", "stderr"},
	{"metrics.enabled", "true"},
	{"metrics.endpoint", "/metrics"},
	{"metrics.basic_auth.username", ""},
	{"metrics.basic_auth.password", ""},
	{"p2p.enabled", "false"},
	{"p2p.port", "6000"},
	{"p2p.listen_address", "127.0.0.1"},
	{"p2p.advertise_address", ""},
	{"p2p.cluster_id", ""},
	{"p2p.max_clock_offset", "30s"},
	{"p2p.bootstrap_peers", ""},
	{"p2p.discovery.method", "static"},
	{"p2p.discovery.interval", "30s"},
	{"p2p.discovery.timeout", "10s"},
	{"p2p.discovery.dns_name", ""},
	{"p2p.discovery.dns_server", ""},
	{"p2p.discovery.consul_address", ""},
	{"p2p.replication.factor", "3"},
	{"p2p.replication.strategy", "eager"},
	{"p2p.replication.sync_interval", "60s"},
	{"p2p.replication.consistency_mode", "eventual"},
	{"p2p.replication.hybrid_threshold", "1048576"},
	{"p2p.replication.fetch_timeout", "10s"},
	{"p2p.replication.strong_timeout", "30s"},
	{"p2p.replication.grace_period", "300s"},
	{"p2p.replication.max_absence", "0s"},
	{"p2p.health_check.interval", "15s"},
	{"p2p.health_check.timeout", "5s"},
	{"p2p.health_check.failure_threshold", "3"},
	{"p2p.health_check.workers", "10"},
	{"p2p.transport.protocol", "grpc"},
	{"p2p.transport.max_connections", "100"},
	{"p2p.transport.idle_timeout", "300s"},
	{"p2p.transport.max_message_size", "33554432"},
	{"p2p.transport.rate_limit", "0"},
	{"p2p.tls.cert", ""},
	{"p2p.tls.key", ""},
	{"p2p.tls.ca", ""},
};

static void test_defaults(void **state)
{
	struct octo_config cfg;
	char host[256] = "";
	char err[256];
	size_t i;

	(void)state;
	assert_int_equal(octo_config_defaults(&cfg), OCTO_OK);
	for (i = 0; i < ARRAY_SIZE(defaults); i++)
		assert_get(&cfg, defaults[i].key, defaults[i].value);
	assert_int_equal(cfg.server.port, 5000);
	assert_int_equal(cfg.server.idle_timeout_ms, 120000);
	assert_int_equal(cfg.fcgi.sendfile, OCTO_SENDFILE_NONE);
	assert_int_equal(cfg.logging.level, OCTO_LOG_INFO);
	assert_int_equal(cfg.logging.format, OCTO_LOG_JSON);
	assert_null(cfg.metrics.username);
	assert_null(cfg.metrics.password);
	assert_non_null(cfg.p2p.bootstrap_peers);
	assert_null(cfg.p2p.bootstrap_peers[0]);
	assert_int_equal(cfg.p2p.n_bootstrap_peers, 0);
	assert_int_equal(cfg.p2p.transport.max_message_size, 33554432);
	gethostname(host, sizeof(host) - 1);
	assert_string_equal(cfg.p2p.node_id, host[0] ? host : "localhost");
	octo_config_cleanup(&cfg);

	/* An empty file and no file give the same. */
	assert_int_equal(load(&cfg, "{}", NULL, err, sizeof(err)), OCTO_OK);
	for (i = 0; i < ARRAY_SIZE(defaults); i++)
		assert_get(&cfg, defaults[i].key, defaults[i].value);
	octo_config_cleanup(&cfg);
	assert_int_equal(octo_config_load(&cfg, NULL, no_env, err, sizeof(err)), OCTO_OK);
	assert_get(&cfg, "server.port", "5000");
	octo_config_cleanup(&cfg);
}

static const char full_config[] =
	"{\n"
	"  \"server\": {\"address\": \"0.0.0.0\", \"port\": 8080, \"read_timeout\": \"1m\",\n"
	"    \"write_timeout\": \"45s\", \"idle_timeout\": \"1h30m\",\n"
	"    \"external_url\": \"https://reg.example.com\", \"shutdown_timeout\": \"0s\"},\n"
	"  \"fcgi\": {\"listen\": \"unix:/run/octo.sock\", \"threads\": 16,\n"
	"    \"sendfile\": \"x-accel-redirect\", \"sendfile_prefix\": \"/_internal/\"},\n"
	"  \"storage\": {\"type\": \"filesystem\", \"path\": \"/var/lib/octo\",\n"
	"    \"max_manifest_size\": 1048576, \"delete_enabled\": false},\n"
	"  \"logging\": {\"level\": \"debug\", \"format\": \"text\",\n"
	"    \"output\": \"/var/log/o.log\"},\n"
	"  \"metrics\": {\"enabled\": false, \"endpoint\": \"/m\",\n"
	"    \"basic_auth\": {\"username\": \"prom\", \"password\": \"s3cret\"}},\n"
	"  \"p2p\": {\"enabled\": true, \"node_id\": \"node-1\", \"port\": 7000,\n"
	"    \"bootstrap_peers\": [\"a:6000\", \"[::1]:6001\"],\n"
	"    \"discovery\": {\"method\": \"dns\", \"interval\": \"45s\", \"timeout\": \"250ms\",\n"
	"      \"dns_name\": \"_octoserve._tcp.octo.svc\", \"dns_server\": \"[::1]:5353\",\n"
	"      \"consul_address\": \"http://consul:8500\"},\n"
	"    \"replication\": {\"factor\": 2, \"strategy\": \"hybrid\",\n"
	"      \"sync_interval\": \"5m\","
	"      \"consistency_mode\": \"eventual\", \"hybrid_threshold\": 65536,\n"
	"      \"fetch_timeout\": \"3s\"},\n"
	"    \"health_check\": {\"interval\": \"20s\", \"timeout\": \"2s\",\n"
	"      \"failure_threshold\": 5, \"workers\": 4},\n"
	"    \"transport\": {\"protocol\": \"grpc\", \"max_connections\": 50,\n"
	"      \"idle_timeout\": \"10m\", \"max_message_size\": 8192,\n"
	"      \"rate_limit\": 1000000}}\n"
	"}\n";

static void test_full_file(void **state)
{
	struct octo_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(load(&cfg, full_config, NULL, err, sizeof(err)), OCTO_OK);
	assert_string_equal(cfg.server.address, "0.0.0.0");
	assert_int_equal(cfg.server.port, 8080);
	assert_int_equal(cfg.server.read_timeout_ms, 60000);
	assert_int_equal(cfg.server.write_timeout_ms, 45000);
	assert_int_equal(cfg.server.idle_timeout_ms, 5400000);
	assert_string_equal(cfg.server.external_url, "https://reg.example.com");
	assert_int_equal(cfg.server.shutdown_timeout_ms, 0);
	assert_string_equal(cfg.fcgi.listen, "unix:/run/octo.sock");
	assert_int_equal(cfg.fcgi.threads, 16);
	assert_int_equal(cfg.fcgi.sendfile, OCTO_SENDFILE_X_ACCEL);
	assert_string_equal(cfg.fcgi.sendfile_prefix, "/_internal/");
	assert_string_equal(cfg.storage.type, "filesystem");
	assert_string_equal(cfg.storage.path, "/var/lib/octo");
	assert_int_equal(cfg.storage.max_manifest_size, 1048576);
	assert_int_equal(cfg.storage.delete_enabled, 0);
	assert_int_equal(cfg.logging.level, OCTO_LOG_DEBUG);
	assert_int_equal(cfg.logging.format, OCTO_LOG_TEXT);
	assert_string_equal(cfg.logging.output, "/var/log/o.log");
	assert_int_equal(cfg.metrics.enabled, 0);
	assert_string_equal(cfg.metrics.endpoint, "/m");
	assert_string_equal(cfg.metrics.username, "prom");
	assert_string_equal(cfg.metrics.password, "s3cret");
	assert_int_equal(cfg.p2p.enabled, 1);
	assert_string_equal(cfg.p2p.node_id, "node-1");
	assert_int_equal(cfg.p2p.port, 7000);
	assert_int_equal(cfg.p2p.n_bootstrap_peers, 2);
	assert_string_equal(cfg.p2p.bootstrap_peers[0], "a:6000");
	assert_string_equal(cfg.p2p.bootstrap_peers[1], "[::1]:6001");
	assert_null(cfg.p2p.bootstrap_peers[2]);
	assert_string_equal(cfg.p2p.discovery.method, "dns");
	assert_int_equal(cfg.p2p.discovery.interval_ms, 45000);
	assert_int_equal(cfg.p2p.discovery.timeout_ms, 250);
	assert_string_equal(cfg.p2p.discovery.dns_name, "_octoserve._tcp.octo.svc");
	assert_string_equal(cfg.p2p.discovery.dns_server, "[::1]:5353");
	assert_string_equal(cfg.p2p.discovery.consul_address, "http://consul:8500");
	assert_int_equal(cfg.p2p.replication.factor, 2);
	assert_string_equal(cfg.p2p.replication.strategy, "hybrid");
	assert_int_equal(cfg.p2p.replication.sync_interval_ms, 300000);
	assert_string_equal(cfg.p2p.replication.consistency_mode, "eventual");
	assert_int_equal(cfg.p2p.replication.hybrid_threshold, 65536);
	assert_int_equal(cfg.p2p.replication.fetch_timeout_ms, 3000);
	assert_int_equal(cfg.p2p.health_check.interval_ms, 20000);
	assert_int_equal(cfg.p2p.health_check.timeout_ms, 2000);
	assert_int_equal(cfg.p2p.health_check.failure_threshold, 5);
	assert_int_equal(cfg.p2p.health_check.workers, 4);
	assert_string_equal(cfg.p2p.transport.protocol, "grpc");
	assert_int_equal(cfg.p2p.transport.max_connections, 50);
	assert_int_equal(cfg.p2p.transport.idle_timeout_ms, 600000);
	assert_int_equal(cfg.p2p.transport.rate_limit, 1000000);
	assert_int_equal(cfg.p2p.transport.max_message_size, 8192);

	assert_get(&cfg, "p2p.bootstrap_peers", "a:6000,[::1]:6001");
	assert_get(&cfg, "p2p.discovery.timeout", "250ms");
	assert_get(&cfg, "server.idle_timeout", "5400s");
	assert_get(&cfg, "server.shutdown_timeout", "0s");
	assert_get(&cfg, "fcgi.sendfile", "x-accel-redirect");
	assert_get(&cfg, "logging.level", "debug");
	assert_get(&cfg, "storage.delete_enabled", "false");
	assert_get(&cfg, "metrics.basic_auth.username", "prom");
	octo_config_cleanup(&cfg);
	octo_config_cleanup(&cfg); /* twice is harmless */
	assert_zeroed(&cfg);
}

/* A file that fails, and what the message must contain. */
struct bad_case {
	const char *json;
	const char *want;
};

static void run_bad(const struct bad_case *cases, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct octo_config cfg;
		char err[512];
		enum octo_err r = load(&cfg, cases[i].json, NULL, err, sizeof(err));

		if (r != OCTO_ERR_CONFIG)
			fail_msg("%s: accepted (%d)", cases[i].json, r);
		if (!strstr(err, cases[i].want))
			fail_msg("%s: error \"%s\" lacks \"%s\"", cases[i].json, err,
				 cases[i].want);
		assert_zeroed(&cfg); /* cleaned up on error */
	}
}

static void test_bad_values(void **state)
{
	static const struct bad_case cases[] = {
		/* integers: range, then type */
		{"{\"server\":{\"port\":0}}",
		 "key \"server.port\": must be an integer between 1 and 65535"},
		{"{\"server\":{\"address\":\"::1\"}}",
		 "key \"server.address\": IPv6 addresses are not supported"},
		{"{\"server\":{\"address\":\"[::1]\"}}", "key \"server.address\""},
		{"{\"server\":{\"port\":65536}}", "key \"server.port\""},
		{"{\"server\":{\"port\":-1}}", "key \"server.port\""},
		{"{\"server\":{\"port\":\"5000\"}}", "key \"server.port\""},
		{"{\"server\":{\"port\":5000.0}}", "key \"server.port\""},
		{"{\"server\":{\"port\":true}}", "key \"server.port\""},
		{"{\"server\":{\"port\":null}}", "key \"server.port\""},
		{"{\"server\":{\"port\":99999999999999999999}}", "<config>:1:"},
		{"{\"fcgi\":{\"threads\":0}}", "key \"fcgi.threads\""},
		{"{\"fcgi\":{\"threads\":1025}}", "key \"fcgi.threads\""},
		{"{\"p2p\":{\"port\":70000}}", "key \"p2p.port\""},
		{"{\"p2p\":{\"replication\":{\"factor\":0}}}", "key \"p2p.replication.factor\""},
		{"{\"p2p\":{\"health_check\":{\"failure_threshold\":0}}}",
		 "key \"p2p.health_check.failure_threshold\""},
		{"{\"p2p\":{\"health_check\":{\"workers\":0}}}",
		 "key \"p2p.health_check.workers\""},
		{"{\"p2p\":{\"transport\":{\"max_connections\":0}}}",
		 "key \"p2p.transport.max_connections\""},
		{"{\"p2p\":{\"cluster_id\":\"a b\"}}", "key \"p2p.cluster_id\""},
		{"{\"p2p\":{\"listen_address\":\"::1\"}}", "key \"p2p.listen_address\""},
		{"{\"p2p\":{\"advertise_address\":\"n1\"}}", "key \"p2p.advertise_address\""},
		{"{\"p2p\":{\"max_clock_offset\":\"0s\"}}", "key \"p2p.max_clock_offset\""},
		/* the original's methods and modes that nothing here acts on */
		{"{\"p2p\":{\"discovery\":{\"method\":\"consul\"}}}",
		 "key \"p2p.discovery.method\": \"consul\" is not supported"},
		{"{\"p2p\":{\"discovery\":{\"method\":\"consul\",\"consul_address\":\"c:8500\"}}}",
		 "key \"p2p.discovery.method\": \"consul\" is not supported"},
		/* dns needs the name to resolve */
		{"{\"p2p\":{\"discovery\":{\"method\":\"dns\"}}}",
		 "key \"p2p.discovery.dns_name\": must be set for p2p.discovery.method \"dns\""},
		{"{\"p2p\":{\"discovery\":{\"method\":\"dns\",\"dns_server\":\"127.0.0.1\"}}}",
		 "key \"p2p.discovery.dns_name\": must be set"},
		{"{\"p2p\":{\"discovery\":{\"dns_name\":\"a..b\"}}}",
		 "key \"p2p.discovery.dns_name\": must be a DNS name"},
		{"{\"p2p\":{\"discovery\":{\"dns_name\":\"a b\"}}}",
		 "key \"p2p.discovery.dns_name\": must be a DNS name"},
		{"{\"p2p\":{\"discovery\":{\"dns_name\":\"" A64 "\"}}}",
		 "key \"p2p.discovery.dns_name\": must be a DNS name"},
		/* the resolver: addresses only, c-ares takes no host name */
		{"{\"p2p\":{\"discovery\":{\"dns_server\":\"dns.example\"}}}",
		 "key \"p2p.discovery.dns_server\": must be empty, an IP address or ip:port"},
		{"{\"p2p\":{\"discovery\":{\"dns_server\":\"dns.example:53\"}}}",
		 "key \"p2p.discovery.dns_server\""},
		{"{\"p2p\":{\"discovery\":{\"dns_server\":\"127.0.0.1:0\"}}}",
		 "key \"p2p.discovery.dns_server\""},
		{"{\"p2p\":{\"discovery\":{\"dns_server\":\"127.0.0.1:\"}}}",
		 "key \"p2p.discovery.dns_server\""},
		{"{\"p2p\":{\"discovery\":{\"dns_server\":\"127.0.0.1:70000\"}}}",
		 "key \"p2p.discovery.dns_server\""},
		{"{\"p2p\":{\"discovery\":{\"dns_server\":\"[::1\"}}}",
		 "key \"p2p.discovery.dns_server\""},
		{"{\"p2p\":{\"discovery\":{\"dns_server\":\"[::1]5353\"}}}",
		 "key \"p2p.discovery.dns_server\""},
		{"{\"p2p\":{\"discovery\":{\"dns_server\":\"[1.2.3.4]:53\"}}}",
		 "key \"p2p.discovery.dns_server\""},
		{"{\"p2p\":{\"discovery\":{\"dns_server\":\"127.0.0.1,127.0.0.2\"}}}",
		 "key \"p2p.discovery.dns_server\""},
		{"{\"p2p\":{\"replication\":{\"strong_timeout\":\"60s\"}}}",
		 "key \"p2p.replication.strong_timeout\""},
		/* sizes */
		{"{\"storage\":{\"max_manifest_size\":0}}", "key \"storage.max_manifest_size\""},
		{"{\"storage\":{\"max_manifest_size\":-5}}", "key \"storage.max_manifest_size\""},
		{"{\"storage\":{\"max_manifest_size\":\"4MB\"}}",
		 "key \"storage.max_manifest_size\""},
		{"{\"storage\":{\"max_manifest_size\":1099511627776}}",
		 "key \"storage.max_manifest_size\""},
		{"{\"p2p\":{\"transport\":{\"max_message_size\":0}}}",
		 "key \"p2p.transport.max_message_size\""},
		{"{\"p2p\":{\"transport\":{\"max_message_size\":4095}}}",
		 "key \"p2p.transport.max_message_size\": must be an integer between 4096"},
		/* durations */
		{"{\"server\":{\"read_timeout\":\"30\"}}",
		 "key \"server.read_timeout\": must be a duration"},
		{"{\"server\":{\"read_timeout\":30}}",
		 "key \"server.read_timeout\": must be a string"},
		{"{\"server\":{\"read_timeout\":\"-5s\"}}", "key \"server.read_timeout\""},
		{"{\"server\":{\"read_timeout\":\"0s\"}}", "key \"server.read_timeout\""},
		{"{\"server\":{\"read_timeout\":\"30 s\"}}", "key \"server.read_timeout\""},
		{"{\"server\":{\"write_timeout\":\"1d\"}}", "key \"server.write_timeout\""},
		{"{\"server\":{\"idle_timeout\":\"\"}}", "key \"server.idle_timeout\""},
		{"{\"server\":{\"shutdown_timeout\":\"9000h\"}}",
		 "key \"server.shutdown_timeout\""},
		{"{\"p2p\":{\"discovery\":{\"interval\":\"soon\"}}}",
		 "key \"p2p.discovery.interval\""},
		{"{\"p2p\":{\"discovery\":{\"timeout\":\"1x\"}}}", "key \"p2p.discovery.timeout\""},
		{"{\"p2p\":{\"replication\":{\"sync_interval\":\"m\"}}}",
		 "key \"p2p.replication.sync_interval\""},
		{"{\"p2p\":{\"health_check\":{\"interval\":\"0ms\"}}}",
		 "key \"p2p.health_check.interval\""},
		{"{\"p2p\":{\"health_check\":{\"timeout\":\"100us\"}}}",
		 "key \"p2p.health_check.timeout\""},
		{"{\"p2p\":{\"transport\":{\"idle_timeout\":\"5\"}}}",
		 "key \"p2p.transport.idle_timeout\""},
		/* booleans */
		{"{\"storage\":{\"delete_enabled\":\"yes\"}}",
		 "key \"storage.delete_enabled\": must be true or false"},
		{"{\"storage\":{\"delete_enabled\":1}}", "key \"storage.delete_enabled\""},
		{"{\"metrics\":{\"enabled\":\"true\"}}", "key \"metrics.enabled\""},
		{"{\"p2p\":{\"enabled\":null}}", "key \"p2p.enabled\""},
		/* enumerations */
		{"{\"fcgi\":{\"sendfile\":\"sendfile\"}}",
		 "key \"fcgi.sendfile\": must be one of \"none\", \"x-sendfile\", "
		 "\"x-accel-redirect\""},
		{"{\"fcgi\":{\"sendfile\":\"X-Sendfile\"}}", "key \"fcgi.sendfile\""},
		{"{\"logging\":{\"level\":\"verbose\"}}", "key \"logging.level\""},
		{"{\"logging\":{\"level\":\"INFO\"}}", "key \"logging.level\""},
		{"{\"logging\":{\"format\":\"xml\"}}", "key \"logging.format\""},
		{"{\"storage\":{\"type\":\"gcs\"}}", "key \"storage.type\""},
		{"{\"p2p\":{\"discovery\":{\"method\":\"mdns\"}}}", "key \"p2p.discovery.method\""},
		{"{\"p2p\":{\"replication\":{\"strategy\":\"fast\"}}}",
		 "key \"p2p.replication.strategy\""},
		{"{\"p2p\":{\"replication\":{\"consistency_mode\":\"weak\"}}}",
		 "key \"p2p.replication.consistency_mode\""},
		{"{\"p2p\":{\"transport\":{\"protocol\":\"http\"}}}",
		 "key \"p2p.transport.protocol\""},
		{"{\"logging\":{\"level\":3}}", "key \"logging.level\": must be a string"},
		/* strings with rules */
		{"{\"server\":{\"address\":\"\"}}", "key \"server.address\": must not be empty"},
		{"{\"server\":{\"address\":5}}", "key \"server.address\": must be a string"},
		{"{\"server\":{\"external_url\":\"ftp://x\"}}", "key \"server.external_url\""},
		{"{\"fcgi\":{\"listen\":\"unix:relative\"}}", "key \"fcgi.listen\""},
		{"{\"fcgi\":{\"listen\":\"host\"}}", "key \"fcgi.listen\""},
		{"{\"fcgi\":{\"listen\":\"host:0\"}}", "key \"fcgi.listen\""},
		{"{\"fcgi\":{\"listen\":\":9000\"}}", "key \"fcgi.listen\""},
		{"{\"fcgi\":{\"listen\":\"host:9x\"}}", "key \"fcgi.listen\""},
		{"{\"fcgi\":{\"sendfile_prefix\":\"_blobs/\"}}", "key \"fcgi.sendfile_prefix\""},
		{"{\"storage\":{\"path\":\"\"}}", "key \"storage.path\""},
		{"{\"logging\":{\"output\":\"\"}}", "key \"logging.output\""},
		{"{\"metrics\":{\"endpoint\":\"metrics\"}}", "key \"metrics.endpoint\""},
		{"{\"p2p\":{\"node_id\":\"\"}}", "key \"p2p.node_id\""},
		/* a node id goes as it is into every record's header */
		{"{\"p2p\":{\"node_id\":\"node a\"}}", "key \"p2p.node_id\": must be 1 to 255"},
		{"{\"p2p\":{\"node_id\":\"n\\n1\"}}", "key \"p2p.node_id\""},
		/* a tombstone outlives two anti-entropy rounds */
		{"{\"storage\":{\"tombstone_ttl\":\"2m\"}}",
		 "key \"storage.tombstone_ttl\": must be longer than twice "
		 "p2p.replication.sync_interval"},
		{"{\"storage\":{\"tombstone_ttl\":\"1h\"},"
		 "\"p2p\":{\"replication\":{\"sync_interval\":\"30m\"}}}",
		 "key \"storage.tombstone_ttl\""},
		{"{\"storage\":{\"tombstone_ttl\":\"30s\"}}", "key \"storage.tombstone_ttl\""},
		{"{\"storage\":{\"tombstone_ttl\":\"1h\"},"
		 "\"p2p\":{\"replication\":{\"max_absence\":\"59m\"}}}",
		 "key \"p2p.replication.max_absence\": must be at most storage.tombstone_ttl less "
		 "twice p2p.replication.sync_interval"},
		/* lists */
		{"{\"p2p\":{\"bootstrap_peers\":\"a:6000\"}}",
		 "key \"p2p.bootstrap_peers\": must be an array"},
		{"{\"p2p\":{\"bootstrap_peers\":[1]}}",
		 "key \"p2p.bootstrap_peers\": must be an array of strings"},
		{"{\"p2p\":{\"bootstrap_peers\":[\"a:6000\",\"\"]}}",
		 "key \"p2p.bootstrap_peers\": has an empty element"},
		{"{\"p2p\":{\"bootstrap_peers\":[\"nohost\"]}}", "key \"p2p.bootstrap_peers\""},
		{"{\"p2p\":{\"bootstrap_peers\":[[\"a:1\"]]}}", "key \"p2p.bootstrap_peers\""},
		/* basic auth */
		{"{\"metrics\":{\"basic_auth\":\"prom:pw\"}}",
		 "key \"metrics.basic_auth\": must be an object"},
		{"{\"metrics\":{\"basic_auth\":{\"username\":\"u\"}}}",
		 "key \"metrics.basic_auth\": username and password"},
		{"{\"metrics\":{\"basic_auth\":{\"password\":\"p\"}}}",
		 "key \"metrics.basic_auth\": username and password"},
		{"{\"metrics\":{\"basic_auth\":{\"username\":\"\",\"password\":\"p\"}}}",
		 "key \"metrics.basic_auth.username\": must not be empty"},
		/* authentication */
		{"{\"auth\":{\"htpasswd\":{\"path\":\"/u\"},\"trust_front\":true}}",
		 "key \"auth.trust_front\": the front authenticates"},
		{"{\"auth\":{\"htpasswd\":{\"path\":\"/u\"},\"token\":{\"realm\":"
		 "\"https://i/t\"}}}",
		 "key \"auth.token.realm\": the built-in issuer"},
		{"{\"auth\":{\"token\":{\"keys\":[\"/k.pem\"]}}}",
		 "key \"auth.token.realm\": must be the outside issuer's URL"},
		{"{\"auth\":{\"token\":{\"realm\":\"auth/token\"}}}",
		 "key \"auth.token.realm\": must be a path"},
		{"{\"auth\":{\"token\":{\"realm\":\"/a\\\"b\"}}}",
		 "key \"auth.token.realm\": must not hold"},
		{"{\"auth\":{\"token\":{\"service\":\"a\\\"b\"}}}",
		 "key \"auth.token.service\": must not hold"},
		{"{\"auth\":{\"token\":{\"expiration\":\"1s\"}}}", "key \"auth.token.expiration\""},
		{"{\"auth\":{\"token\":{\"leeway\":\"1h\"}}}", "key \"auth.token.leeway\""},
		{"{\"auth\":{\"rules\":{}}}", "key \"auth.rules\": must be an array of rules"},
		{"{\"auth\":{\"rules\":[{\"users\":[\"a\"],\"actions\":[\"pull\"]}]}}",
		 "key \"auth.rules\": [0].repositories: is required"},
		{"{\"auth\":{\"rules\":[{\"repositories\":\"*\",\"users\":[\"a\"]}]}}",
		 "key \"auth.rules\": [0].actions: is required"},
		{"{\"auth\":{\"rules\":[{\"repositories\":\"*\",\"users\":[\"a\"],"
		 "\"actions\":[\"read\"]}]}}",
		 "key \"auth.rules\": [0].actions[0]: \"read\" is not pull, push, delete or *"},
		{"{\"auth\":{\"rules\":[{\"repositories\":\"*\",\"anonymous\":true,"
		 "\"actions\":[\"pull\",\"push\"]}]}}",
		 "key \"auth.rules\": [0]: an anonymous rule may only pull"},
		{"{\"auth\":{\"rules\":[{\"repositories\":\"*\",\"actions\":[\"pull\"]}]}}",
		 "key \"auth.rules\": [0]: names nobody"},
		{"{\"auth\":{\"rules\":[{\"repositories\":\"*\",\"anonymous\":1,"
		 "\"actions\":[\"pull\"]}]}}",
		 "key \"auth.rules\": [0].anonymous: must be true or false"},
		{"{\"auth\":{\"rules\":[{\"repositories\":\"*\",\"who\":[]}]}}",
		 "key \"auth.rules\": [0]: unknown member \"who\""},
		{"{\"auth\":{\"rules\":[{\"repositories\":\"*\",\"groups\":[\"ops\"],"
		 "\"actions\":[\"pull\"]}]}}",
		 "key \"auth.rules\": [0].groups: \"ops\" is not a group of auth.groups"},
		{"{\"auth\":{\"groups\":[]}}", "key \"auth.groups\": must be an object"},
		{"{\"auth\":{\"groups\":{\"ops\":\"carol\"}}}",
		 "key \"auth.groups\": \"ops\": must be an array of user names"},
		{"{\"auth\":{\"groups\":{\"ops\":[\"\"]}}}", "key \"auth.groups\""},
		{"{\"auth\":{\"admin_group\":\"root\"}}",
		 "key \"auth.admin_group\": \"root\" is not a group of auth.groups"},
		{"{\"auth\":{\"failures\":{\"limit\":-1}}}", "key \"auth.failures.limit\""},
		/* sections */
		{"{\"server\":5}", "key \"server\": must be an object"},
		{"{\"p2p\":{\"discovery\":[]}}", "key \"p2p.discovery\": must be an object"},
		{"{\"p2p\":{\"health_check\":{\"interval\":{\"s\":1}}}}",
		 "key \"p2p.health_check.interval\""},
		{"[]", "<config>: the top level must be an object"},
		{"[{\"server\":{}}]", "the top level must be an object"},
	};

	(void)state;
	run_bad(cases, ARRAY_SIZE(cases));
}

/* auth.*: the rules and groups as parsed, the defaults, and whether auth is on at all. */
static void test_auth(void **state)
{
	static const char text[] =
		"{\"auth\":{\"htpasswd\":{\"path\":\"/etc/octo/users\"},"
		"\"groups\":{\"ops\":[\"carol\",\"dave\"],\"admins\":[\"root\"]},"
		"\"admin_group\":\"admins\",\"token\":{\"expiration\":\"2m\",\"keys\":[\"/k1\","
		"\"/k2\"]},\"failures\":{\"limit\":0},\"rules\":["
		"{\"repositories\":\"team/*\",\"groups\":[\"ops\"],\"actions\":[\"pull\",\"push\"]},"
		"{\"repositories\":\"pub/*\",\"anonymous\":true,\"users\":[\"*\"],"
		"\"actions\":[\"pull\"]},"
		"{\"repositories\":\"*\",\"users\":[\"alice\"],\"actions\":[\"*\"]}]}}";
	struct octo_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(load(&cfg, "{}", NULL, err, sizeof(err)), OCTO_OK);
	assert_false(octo_config_auth_enabled(&cfg));
	assert_string_equal(cfg.auth.token.realm, "/auth/token");
	assert_string_equal(cfg.auth.token.service, "octoserve");
	assert_string_equal(cfg.auth.token.issuer, "octoserve");
	assert_int_equal(cfg.auth.token.expiration_ms, 300000);
	assert_int_equal(cfg.auth.token.leeway_ms, 60000);
	assert_int_equal(cfg.auth.failures.limit, 10);
	assert_int_equal(cfg.auth.failures.window_ms, 300000);
	assert_int_equal(cfg.auth.n_rules, 0);
	octo_config_cleanup(&cfg);

	assert_int_equal(load(&cfg, text, NULL, err, sizeof(err)), OCTO_OK);
	assert_true(octo_config_auth_enabled(&cfg));
	assert_string_equal(cfg.auth.htpasswd_path, "/etc/octo/users");
	assert_int_equal(cfg.auth.token.expiration_ms, 120000);
	assert_int_equal(cfg.auth.token.n_keys, 2);
	assert_string_equal(cfg.auth.token.keys[1], "/k2");
	assert_int_equal(cfg.auth.failures.limit, 0);
	assert_int_equal(cfg.auth.n_groups, 2);
	assert_string_equal(cfg.auth.groups[0].name, "ops");
	assert_int_equal(cfg.auth.groups[0].n_users, 2);
	assert_string_equal(cfg.auth.groups[0].users[1], "dave");
	assert_int_equal(cfg.auth.n_rules, 3);
	assert_string_equal(cfg.auth.rules[0].repositories, "team/*");
	assert_int_equal(cfg.auth.rules[0].actions, OCTO_ACCESS_PULL | OCTO_ACCESS_PUSH);
	assert_string_equal(cfg.auth.rules[0].groups[0], "ops");
	assert_true(cfg.auth.rules[1].anonymous);
	assert_int_equal(cfg.auth.rules[1].actions, OCTO_ACCESS_PULL);
	assert_int_equal(cfg.auth.rules[2].actions,
			 OCTO_ACCESS_PULL | OCTO_ACCESS_PUSH | OCTO_ACCESS_DELETE);
	assert_get(&cfg, "auth.admin_group", "admins");
	octo_config_cleanup(&cfg);

	/* in the environment, JSON-valued keys are their JSON text */
	{
		static const char *const env[] = {
			"OCTOSERVE_AUTH_TRUST_FRONT", "true", "OCTOSERVE_AUTH_RULES",
			"[{\"repositories\":\"x/*\",\"users\":[\"u\"],\"actions\":[\"pull\"]}]",
			NULL};
		assert_int_equal(load(&cfg, "{}", env, err, sizeof(err)), OCTO_OK);
		assert_true(octo_config_auth_enabled(&cfg));
		assert_int_equal(cfg.auth.n_rules, 1);
		assert_string_equal(cfg.auth.rules[0].users[0], "u");
		octo_config_cleanup(&cfg);
	}
}

/* storage.s3: defaults, a full section, what a bucket needs, and each check. */
static void test_s3(void **state)
{
	static const char full[] =
		"{\"storage\":{\"type\":\"s3\",\"s3\":{\"endpoint\":\"http://127.0.0.1:7480\","
		"\"bucket\":\"reg.one-2\",\"prefix\":\"a/b/\",\"access_key\":\"AK_1\","
		"\"secret_key_file\":\"/etc/s\",\"path_style\":true,\"redirect\":true,"
		"\"redirect_lifetime\":\"5m\",\"part_size\":8388608}}}";
	static const struct {
		const char *text, *key;
	} bad[] = {
		{"{\"storage\":{\"type\":\"s3\"}}", "storage.s3.endpoint"},
		{"{\"storage\":{\"type\":\"s3\",\"s3\":{\"endpoint\":\"http://h\"}}}",
		 "storage.s3.bucket"},
		{"{\"storage\":{\"type\":\"s3\",\"s3\":{\"endpoint\":\"http://h\",\"bucket\":\"bbb\","
		 "\"access_key\":\"k\"}}}",
		 "storage.s3.secret_key"},
		{"{\"storage\":{\"type\":\"s3\",\"s3\":{\"endpoint\":\"http://h\",\"bucket\":\"bbb\","
		 "\"access_key\":\"k\",\"secret_key\":\"s\",\"secret_key_file\":\"/f\"}}}",
		 "storage.s3.secret_key"},
		{"{\"storage\":{\"s3\":{\"endpoint\":\"ftp://h\"}}}", "storage.s3.endpoint"},
		{"{\"storage\":{\"s3\":{\"bucket\":\"Upper\"}}}", "storage.s3.bucket"},
		{"{\"storage\":{\"s3\":{\"bucket\":\"ab\"}}}", "storage.s3.bucket"},
		{"{\"storage\":{\"s3\":{\"bucket\":\"-ab\"}}}", "storage.s3.bucket"},
		{"{\"storage\":{\"s3\":{\"prefix\":\"a\"}}}", "storage.s3.prefix"},
		{"{\"storage\":{\"s3\":{\"prefix\":\"/a/\"}}}", "storage.s3.prefix"},
		{"{\"storage\":{\"s3\":{\"prefix\":\"a//\"}}}", "storage.s3.prefix"},
		{"{\"storage\":{\"s3\":{\"prefix\":\"a?/\"}}}", "storage.s3.prefix"},
		{"{\"storage\":{\"s3\":{\"region\":\"us east\"}}}", "storage.s3.region"},
		{"{\"storage\":{\"s3\":{\"access_key\":\"a:b\"}}}", "storage.s3.access_key"},
		{"{\"storage\":{\"s3\":{\"part_size\":1048576}}}", "storage.s3.part_size"},
		{"{\"storage\":{\"s3\":{\"redirect_lifetime\":\"200h\"}}}",
		 "storage.s3.redirect_lifetime"},
		{"{\"storage\":{\"type\":\"gcs\"}}", "storage.type"},
	};
	static const char *const env[] = {"OCTOSERVE_STORAGE_TYPE",
					  "s3",
					  "OCTOSERVE_STORAGE_S3_ENDPOINT",
					  "https://s3.example",
					  "OCTOSERVE_STORAGE_S3_BUCKET",
					  "envbucket",
					  "OCTOSERVE_STORAGE_S3_ACCESS_KEY",
					  "k",
					  "OCTOSERVE_STORAGE_S3_SECRET_KEY",
					  "s",
					  NULL};
	struct octo_config cfg;
	char err[512];
	size_t i;

	(void)state;
	assert_int_equal(load(&cfg, "{}", NULL, err, sizeof(err)), OCTO_OK);
	assert_false(octo_config_s3(&cfg));
	assert_string_equal(cfg.storage.s3.region, "us-east-1");
	assert_string_equal(cfg.storage.s3.prefix, "");
	assert_false(cfg.storage.s3.path_style);
	assert_false(cfg.storage.s3.redirect);
	assert_int_equal(cfg.storage.s3.redirect_lifetime_ms, 1200000);
	assert_int_equal(cfg.storage.s3.part_size, 10485760);
	assert_int_equal(cfg.storage.s3.timeout_ms, 60000);
	octo_config_cleanup(&cfg);

	assert_int_equal(load(&cfg, full, NULL, err, sizeof(err)), OCTO_OK);
	assert_true(octo_config_s3(&cfg));
	assert_string_equal(cfg.storage.s3.bucket, "reg.one-2");
	assert_string_equal(cfg.storage.s3.prefix, "a/b/");
	assert_string_equal(cfg.storage.s3.secret_key_file, "/etc/s");
	assert_null(cfg.storage.s3.secret_key);
	assert_true(cfg.storage.s3.path_style && cfg.storage.s3.redirect);
	assert_int_equal(cfg.storage.s3.redirect_lifetime_ms, 300000);
	assert_int_equal(cfg.storage.s3.part_size, 8388608);
	octo_config_cleanup(&cfg);

	assert_int_equal(load(&cfg, "{}", env, err, sizeof(err)), OCTO_OK);
	assert_true(octo_config_s3(&cfg));
	assert_string_equal(cfg.storage.s3.endpoint, "https://s3.example");
	assert_string_equal(cfg.storage.s3.bucket, "envbucket");
	octo_config_cleanup(&cfg);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(load(&cfg, bad[i].text, NULL, err, sizeof(err)), OCTO_ERR_CONFIG);
		if (strstr(err, bad[i].key) == NULL)
			fail_msg("%s: \"%s\" does not name %s", bad[i].text, err, bad[i].key);
		assert_zeroed(&cfg);
	}
}

static void test_unknown_keys(void **state)
{
	static const struct bad_case cases[] = {
		{"{\"serve\":{}}", "<config>: unknown key \"serve\""},
		{"{\"\":1}", "unknown key \"\""},
		{"{\"server\":{\"prot\":5000}}", "unknown key \"server.prot\""},
		{"{\"server\":{\"port\":5000,\"Port\":5000}}", "unknown key \"server.Port\""},
		{"{\"fcgi\":{\"x_sendfile\":\"none\"}}", "unknown key \"fcgi.x_sendfile\""},
		{"{\"logging\":{\"file\":\"x\"}}", "unknown key \"logging.file\""},
		{"{\"log\":{\"level\":\"info\"}}", "unknown key \"log\""},
		{"{\"metrics\":{\"basic_auth\":{\"user\":\"u\"}}}",
		 "unknown key \"metrics.basic_auth.user\""},
		{"{\"metrics\":{\"username\":\"u\"}}", "unknown key \"metrics.username\""},
		{"{\"p2p\":{\"discovery\":{\"dns\":\"x\"}}}", "unknown key \"p2p.discovery.dns\""},
		{"{\"p2p\":{\"replication\":{\"x\":{\"y\":1}}}}",
		 "unknown key \"p2p.replication.x\""},
		{"{\"p2p\":{\"transport\":{\"tls\":{}}}}", "unknown key \"p2p.transport.tls\""},
		/* A dotted name must not reach a nested key. */
		{"{\"server.port\":5000}", "unknown key \"server.port\""},
		{"{\"p2p\":{\"discovery.method\":\"dns\"}}",
		 "unknown key \"p2p.discovery.method\""},
		/* Long names are reported, not overflowed. */
		{"{\"p2p\":{\"discovery\":{\"" A64 A64 "\":1}}}",
		 "unknown key \"p2p.discovery.aaaaaaaa"},
	};

	(void)state;
	run_bad(cases, ARRAY_SIZE(cases));
}

static void test_syntax_errors(void **state)
{
	static const struct bad_case cases[] = {
		{"{\"server\":{\"port\":1,\"port\":2}}", "duplicate"},
		{"{\"server\":{},\n\"server\":{}}", "<config>:2:"},
		{"{\"server\":{\"port\":5000}", "<config>:1:"},
		{"{\"server\":{\"port\":5000}}}", "<config>:1:"},
		{"{\n\"server\": {\n\"port\": 50 00\n}}", "<config>:3:"},
		{"", "<config>"},
		{"{\"a\":\"\\u0000\"}", "<config>:1:"},
		{"{\"server\":{\"address\":\"\xff\"}}", "<config>:1:"},
		{"42", "<config>"},
	};

	(void)state;
	run_bad(cases, ARRAY_SIZE(cases));
}

static char *write_temp(const char *text)
{
	char *path = strdup("/tmp/octo-config-XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_file(void **state)
{
	struct octo_config cfg;
	char err[512], want[256];
	char *path;

	(void)state;
	path = write_temp(full_config);
	assert_int_equal(octo_config_load(&cfg, path, no_env, err, sizeof(err)), OCTO_OK);
	assert_int_equal(cfg.server.port, 8080);
	octo_config_cleanup(&cfg);
	unlink(path);
	free(path);

	/* Syntax errors name the file and the line. */
	path = write_temp("{\n  \"server\": {\n    \"port\": 1,\n    \"port\": 2\n  }\n}\n");
	assert_int_equal(octo_config_load(&cfg, path, no_env, err, sizeof(err)), OCTO_ERR_CONFIG);
	snprintf(want, sizeof(want), "%s:4:", path);
	if (!strstr(err, want) || !strstr(err, "duplicate"))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	assert_zeroed(&cfg);
	unlink(path);
	free(path);

	/* Key errors name the file and the key. */
	path = write_temp("{\"server\": {\"prot\": 1}}");
	assert_int_equal(octo_config_load(&cfg, path, no_env, err, sizeof(err)), OCTO_ERR_CONFIG);
	snprintf(want, sizeof(want), "%s: unknown key \"server.prot\"", path);
	assert_string_equal(err, want);
	unlink(path);
	free(path);

	/* A missing file. */
	assert_int_equal(octo_config_load(&cfg, "/nonexistent/octo.json", no_env, err, sizeof(err)),
			 OCTO_ERR_CONFIG);
	assert_non_null(strstr(err, "/nonexistent/octo.json"));
	assert_zeroed(&cfg);

	/* A tiny error buffer is truncated, never overrun; NULL is allowed. */
	path = write_temp("{\"server\": {\"prot\": 1}}");
	{
		char small[8];

		memset(small, 'x', sizeof(small));
		assert_int_equal(octo_config_load(&cfg, path, no_env, small, sizeof(small)),
				 OCTO_ERR_CONFIG);
		assert_int_equal(strlen(small), sizeof(small) - 1);
		assert_int_equal(octo_config_load(&cfg, path, no_env, NULL, 0), OCTO_ERR_CONFIG);
	}
	unlink(path);
	free(path);
}

/* One override per key: the variable, its value, and what octo_config_get then says. */
static const struct {
	const char *env;
	const char *value;
	const char *key;
	const char *want;
} env_cases[] = {
	{"OCTOSERVE_SERVER_ADDRESS", "0.0.0.0", "server.address", "0.0.0.0"},
	{"OCTOSERVE_SERVER_PORT", "8443", "server.port", "8443"},
	{"OCTOSERVE_SERVER_READ_TIMEOUT", "1m30s", "server.read_timeout", "90s"},
	{"OCTOSERVE_SERVER_WRITE_TIMEOUT", "1500ms", "server.write_timeout", "1500ms"},
	{"OCTOSERVE_SERVER_IDLE_TIMEOUT", "1h", "server.idle_timeout", "3600s"},
	{"OCTOSERVE_SERVER_EXTERNAL_URL", "http://x", "server.external_url", "http://x"},
	{"OCTOSERVE_SERVER_SHUTDOWN_TIMEOUT", "5s", "server.shutdown_timeout", "5s"},
	{"OCTOSERVE_FCGI_LISTEN", "127.0.0.1:9000", "fcgi.listen", "127.0.0.1:9000"},
	{"OCTOSERVE_FCGI_THREADS", "32", "fcgi.threads", "32"},
	{"OCTOSERVE_FCGI_MAX_THREADS", "64", "fcgi.max_threads", "64"},
	{"OCTOSERVE_FCGI_SENDFILE", "x-sendfile", "fcgi.sendfile", "x-sendfile"},
	{"OCTOSERVE_FCGI_SENDFILE_PREFIX", "/b/", "fcgi.sendfile_prefix", "/b/"},
	{"OCTOSERVE_STORAGE_TYPE", "filesystem", "storage.type", "filesystem"},
	{"OCTOSERVE_STORAGE_PATH", "/srv/octo", "storage.path", "/srv/octo"},
	{"OCTOSERVE_STORAGE_MAX_MANIFEST_SIZE", "1000", "storage.max_manifest_size", "1000"},
	{"OCTOSERVE_STORAGE_DELETE_ENABLED", "0", "storage.delete_enabled", "false"},
	{"OCTOSERVE_STORAGE_MAX_BLOB_SIZE", "1073741824", "storage.max_blob_size", "1073741824"},
	{"OCTOSERVE_STORAGE_UPLOAD_TTL", "2h", "storage.upload_ttl", "7200s"},
	{"OCTOSERVE_STORAGE_MAX_UPLOADS", "10", "storage.max_uploads", "10"},
	{"OCTOSERVE_STORAGE_MAX_UPLOADS_PER_CLIENT", "2", "storage.max_uploads_per_client", "2"},
	{"OCTOSERVE_STORAGE_MIN_FREE_BYTES", "0", "storage.min_free.bytes", "0"},
	{"OCTOSERVE_STORAGE_MIN_FREE_INODES", "100", "storage.min_free.inodes", "100"},
	{"OCTOSERVE_LOG_LEVEL", "error", "logging.level", "error"},
	{"OCTOSERVE_LOG_FORMAT", "text", "logging.format", "text"},
	{"OCTOSERVE_LOG_OUTPUT", "/tmp/x.log", "logging.output", "/tmp/x.log"},
	{"OCTOSERVE_METRICS_ENABLED", "false", "metrics.enabled", "false"},
	{"OCTOSERVE_METRICS_ENDPOINT", "/prom", "metrics.endpoint", "/prom"},
	{"OCTOSERVE_P2P_ENABLED", "1", "p2p.enabled", "true"},
	{"OCTOSERVE_P2P_NODE_ID", "n7", "p2p.node_id", "n7"},
	{"OCTOSERVE_P2P_PORT", "6001", "p2p.port", "6001"},
	{"OCTOSERVE_P2P_LISTEN_ADDRESS", "0.0.0.0", "p2p.listen_address", "0.0.0.0"},
	{"OCTOSERVE_P2P_ADVERTISE_ADDRESS", "n1.example:6000", "p2p.advertise_address",
	 "n1.example:6000"},
	{"OCTOSERVE_P2P_CLUSTER_ID", "prod-eu", "p2p.cluster_id", "prod-eu"},
	{"OCTOSERVE_P2P_MAX_CLOCK_OFFSET", "5s", "p2p.max_clock_offset", "5s"},
	{"OCTOSERVE_P2P_BOOTSTRAP_PEERS", "a:6000, b:6000 ,c:1", "p2p.bootstrap_peers",
	 "a:6000,b:6000,c:1"},
	{"OCTOSERVE_P2P_BOOTSTRAP_PEERS", "", "p2p.bootstrap_peers", ""},
	{"OCTOSERVE_P2P_DISCOVERY_METHOD", "static", "p2p.discovery.method", "static"},
	{"OCTOSERVE_P2P_DISCOVERY_INTERVAL", "2m", "p2p.discovery.interval", "120s"},
	{"OCTOSERVE_P2P_DISCOVERY_TIMEOUT", "3s", "p2p.discovery.timeout", "3s"},
	{"OCTOSERVE_P2P_DISCOVERY_DNS_NAME", "peers.local", "p2p.discovery.dns_name",
	 "peers.local"},
	{"OCTOSERVE_P2P_DISCOVERY_METHOD", "dns", "p2p.discovery.method", "dns"},
	{"OCTOSERVE_P2P_DISCOVERY_DNS_SERVER", "127.0.0.1:5353", "p2p.discovery.dns_server",
	 "127.0.0.1:5353"},
	{"OCTOSERVE_P2P_DISCOVERY_DNS_SERVER", "::1", "p2p.discovery.dns_server", "::1"},
	{"OCTOSERVE_P2P_DISCOVERY_DNS_SERVER", "[fd00::53]", "p2p.discovery.dns_server",
	 "[fd00::53]"},
	{"OCTOSERVE_P2P_DISCOVERY_DNS_SERVER", "10.0.0.53", "p2p.discovery.dns_server",
	 "10.0.0.53"},
	{"OCTOSERVE_P2P_DISCOVERY_CONSUL_ADDRESS", "c:8500", "p2p.discovery.consul_address",
	 "c:8500"},
	{"OCTOSERVE_P2P_REPLICATION_FACTOR", "5", "p2p.replication.factor", "5"},
	{"OCTOSERVE_P2P_REPLICATION_STRATEGY", "lazy", "p2p.replication.strategy", "lazy"},
	{"OCTOSERVE_P2P_REPLICATION_SYNC_INTERVAL", "30s", "p2p.replication.sync_interval", "30s"},
	{"OCTOSERVE_P2P_REPLICATION_CONSISTENCY_MODE", "eventual",
	 "p2p.replication.consistency_mode", "eventual"},
	{"OCTOSERVE_P2P_REPLICATION_HYBRID_THRESHOLD", "4096", "p2p.replication.hybrid_threshold",
	 "4096"},
	{"OCTOSERVE_P2P_REPLICATION_FETCH_TIMEOUT", "2s", "p2p.replication.fetch_timeout", "2s"},
	{"OCTOSERVE_P2P_REPLICATION_GRACE_PERIOD", "0s", "p2p.replication.grace_period", "0s"},
	{"OCTOSERVE_P2P_REPLICATION_MAX_ABSENCE", "2h", "p2p.replication.max_absence", "7200s"},
	{"OCTOSERVE_P2P_HEALTH_CHECK_INTERVAL", "7s", "p2p.health_check.interval", "7s"},
	{"OCTOSERVE_P2P_HEALTH_CHECK_TIMEOUT", "1s", "p2p.health_check.timeout", "1s"},
	{"OCTOSERVE_P2P_HEALTH_CHECK_FAILURE_THRESHOLD", "9", "p2p.health_check.failure_threshold",
	 "9"},
	{"OCTOSERVE_P2P_HEALTH_CHECK_WORKERS", "2", "p2p.health_check.workers", "2"},
	{"OCTOSERVE_P2P_TRANSPORT_PROTOCOL", "grpc", "p2p.transport.protocol", "grpc"},
	{"OCTOSERVE_P2P_TRANSPORT_MAX_CONNECTIONS", "7", "p2p.transport.max_connections", "7"},
	{"OCTOSERVE_P2P_TRANSPORT_IDLE_TIMEOUT", "1m", "p2p.transport.idle_timeout", "60s"},
	{"OCTOSERVE_P2P_TRANSPORT_MAX_MESSAGE_SIZE", "4096", "p2p.transport.max_message_size",
	 "4096"},
	{"OCTOSERVE_P2P_TRANSPORT_RATE_LIMIT", "65536", "p2p.transport.rate_limit", "65536"},
};

static void test_env_overrides(void **state)
{
	size_t i;

	(void)state;
	/* Over the full file, so each variable beats a value the file set. */
	for (i = 0; i < ARRAY_SIZE(env_cases); i++) {
		const char *env[] = {env_cases[i].env, env_cases[i].value, NULL};
		struct octo_config cfg;
		char err[256];

		if (load(&cfg, full_config, env, err, sizeof(err)) != OCTO_OK)
			fail_msg("%s=%s: %s", env_cases[i].env, env_cases[i].value, err);
		assert_get(&cfg, env_cases[i].key, env_cases[i].want);
		octo_config_cleanup(&cfg);
	}
}

static void test_env_special_names(void **state)
{
	static const char *const env[] = {
		"OCTOSERVE_METRICS_USERNAME",
		"alice",
		"OCTOSERVE_METRICS_PASSWORD",
		"pw",
		"OCTOSERVE_LOG_LEVEL",
		"warn",
		/* The regular rule's names are not read for these sections. */
		"OCTOSERVE_LOGGING_LEVEL",
		"bogus",
		"OCTOSERVE_METRICS_BASIC_AUTH_USERNAME",
		"bogus",
		NULL,
	};
	static const char *const user_only[] = {"OCTOSERVE_METRICS_USERNAME", "alice", NULL};
	static const char *const pw_only[] = {"OCTOSERVE_METRICS_PASSWORD", "pw", NULL};
	static const char *const file_pw[] = {"OCTOSERVE_METRICS_USERNAME", "bob", NULL};
	struct octo_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(load(&cfg, "{}", env, err, sizeof(err)), OCTO_OK);
	assert_string_equal(cfg.metrics.username, "alice");
	assert_string_equal(cfg.metrics.password, "pw");
	assert_int_equal(cfg.logging.level, OCTO_LOG_WARN);
	octo_config_cleanup(&cfg);

	assert_int_equal(load(&cfg, "{}", user_only, err, sizeof(err)), OCTO_ERR_CONFIG);
	assert_non_null(strstr(err, "metrics.basic_auth"));
	assert_int_equal(load(&cfg, "{}", pw_only, err, sizeof(err)), OCTO_ERR_CONFIG);

	/* The file's password pairs with the environment's username. */
	assert_int_equal(load(&cfg, full_config, file_pw, err, sizeof(err)), OCTO_OK);
	assert_string_equal(cfg.metrics.username, "bob");
	assert_string_equal(cfg.metrics.password, "s3cret");
	octo_config_cleanup(&cfg);
}

static void test_env_bad(void **state)
{
	static const struct {
		const char *env;
		const char *value;
	} cases[] = {
		{"OCTOSERVE_SERVER_PORT", "0"},
		{"OCTOSERVE_SERVER_PORT", "80a"},
		{"OCTOSERVE_SERVER_PORT", ""},
		{"OCTOSERVE_SERVER_PORT", " 80"},
		{"OCTOSERVE_SERVER_PORT", "99999999999999999999999"},
		{"OCTOSERVE_SERVER_ADDRESS", ""},
		{"OCTOSERVE_SERVER_READ_TIMEOUT", "30"},
		{"OCTOSERVE_SERVER_READ_TIMEOUT", "-1s"},
		{"OCTOSERVE_FCGI_THREADS", "2000"},
		{"OCTOSERVE_FCGI_SENDFILE", "nginx"},
		{"OCTOSERVE_FCGI_LISTEN", "nowhere"},
		{"OCTOSERVE_STORAGE_TYPE", "gcs"},
		{"OCTOSERVE_STORAGE_MAX_MANIFEST_SIZE", "4M"},
		{"OCTOSERVE_STORAGE_DELETE_ENABLED", "yes"},
		{"OCTOSERVE_STORAGE_DELETE_ENABLED", "TRUE"},
		{"OCTOSERVE_LOG_LEVEL", "trace"},
		{"OCTOSERVE_LOG_FORMAT", "logfmt"},
		{"OCTOSERVE_LOG_OUTPUT", ""},
		{"OCTOSERVE_METRICS_ENABLED", "2"},
		{"OCTOSERVE_METRICS_USERNAME", ""},
		{"OCTOSERVE_P2P_BOOTSTRAP_PEERS", "a:6000,,b:6000"},
		{"OCTOSERVE_P2P_BOOTSTRAP_PEERS", "a:6000,"},
		{"OCTOSERVE_P2P_BOOTSTRAP_PEERS", ",a:6000"},
		{"OCTOSERVE_P2P_BOOTSTRAP_PEERS", "a:6000,b"},
		{"OCTOSERVE_P2P_REPLICATION_STRATEGY", "EAGER"},
		{"OCTOSERVE_P2P_REPLICATION_FACTOR", "-3"},
		{"OCTOSERVE_P2P_REPLICATION_CONSISTENCY_MODE", "quorum"},
		{"OCTOSERVE_P2P_DISCOVERY_METHOD", "k8s"},
		{"OCTOSERVE_P2P_HEALTH_CHECK_INTERVAL", "15"},
		{"OCTOSERVE_P2P_TRANSPORT_PROTOCOL", "quic"},
		{"OCTOSERVE_P2P_TRANSPORT_MAX_MESSAGE_SIZE", "4294967296"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *env[] = {cases[i].env, cases[i].value, NULL};
		size_t n = strlen(cases[i].env);
		struct octo_config cfg;
		char err[256];

		if (load(&cfg, "{}", env, err, sizeof(err)) != OCTO_ERR_CONFIG)
			fail_msg("%s=%s: accepted", cases[i].env, cases[i].value);
		if (strncmp(err, cases[i].env, n) || err[n] != ':')
			fail_msg("%s=%s: error \"%s\" does not name the variable", cases[i].env,
				 cases[i].value, err);
		assert_zeroed(&cfg);
	}
}

static void test_durations(void **state)
{
	static const struct {
		const char *s;
		int64_t ms;
	} cases[] = {
		{"30s", 30000},
		{"2m", 120000},
		{"1h30m", 5400000},
		{"250ms", 250},
		{"1h0m0s", 3600000},
		{"1s500ms", 1500},
		{"1.5h", 5400000},
		{"1.5s", 1500},
		{".5s", 500},
		{"5.s", 5000},
		{"0.001s", 1},
		{"+5s", 5000},
		{"0s", 0},
		{"0ms", 0},
		{"500us", 0},
		{"1500us", 1},
		{"1500\xc2\xb5s", 1},
		{"1500\xce\xbcs", 1},
		{"2000000ns", 2},
		{"1m1m", 120000},
		{"2562047h", 2562047LL * 3600 * 1000},
		{"9223372036854ms", 9223372036854LL},
		{"1.000000000000000000001s", 1000},
		/* rejected */
		{"", -1},
		{"+", -1},
		{"30", -1},
		{"0", -1},
		{"-5s", -1},
		{"-0s", -1},
		{"s", -1},
		{".s", -1},
		{"5", -1},
		{"5x", -1},
		{"5S", -1},
		{"5 s", -1},
		{" 5s", -1},
		{"5s ", -1},
		{"1.2.3s", -1},
		{"1h30", -1},
		{"5sec", -1},
		{"2562048h", -1},
		{"9223372036854775808ns", -1},
		{"99999999999999999999s", -1},
		{"9223372036854775807ns1ns", -1},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		int64_t got = octo_config_parse_duration(cases[i].s);

		if (got != cases[i].ms)
			fail_msg("\"%s\": got %lld, want %lld", cases[i].s, (long long)got,
				 (long long)cases[i].ms);
	}
	assert_int_equal(octo_config_parse_duration(NULL), -1);
}

static void test_get(void **state)
{
	struct octo_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(
		load(&cfg, "{\"server\":{\"read_timeout\":\"1.5s\"}}", NULL, err, sizeof(err)),
		OCTO_OK);
	assert_get(&cfg, "server.read_timeout", "1500ms");
	assert_get(&cfg, "server.port", "5000");
	assert_null(octo_config_get(&cfg, "server"));
	assert_null(octo_config_get(&cfg, "p2p.discovery"));
	assert_null(octo_config_get(&cfg, "server.prot"));
	assert_null(octo_config_get(&cfg, ""));
	assert_null(octo_config_get(&cfg, NULL));
	assert_null(octo_config_get(&cfg, "metrics.basic_auth"));
	octo_config_cleanup(&cfg);
}

static void test_cleanup(void **state)
{
	struct octo_config cfg;
	char err[256];

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	octo_config_cleanup(&cfg);
	octo_config_cleanup(&cfg);
	octo_config_cleanup(NULL);
	/* A value replaced by a later one (file, then environment) is freed. */
	{
		static const char *const env[] = {
			"OCTOSERVE_STORAGE_PATH",
			"/a",
			"OCTOSERVE_P2P_BOOTSTRAP_PEERS",
			"x:1",
			"OCTOSERVE_P2P_REPLICATION_STRATEGY",
			"lazy",
			NULL,
		};

		assert_int_equal(load(&cfg, full_config, env, err, sizeof(err)), OCTO_OK);
		assert_string_equal(cfg.storage.path, "/a");
		assert_int_equal(cfg.p2p.n_bootstrap_peers, 1);
		octo_config_cleanup(&cfg);
	}
	/* An error after lists and strings were set frees them. */
	{
		static const char *const env[] = {"OCTOSERVE_P2P_PORT", "0", NULL};

		assert_int_equal(load(&cfg, full_config, env, err, sizeof(err)), OCTO_ERR_CONFIG);
		assert_zeroed(&cfg);
		octo_config_cleanup(&cfg);
	}
}

/* p2p.tls: three readable files or none; one alone, or one that cannot be read, is refused
 * naming its key, from the file and from the environment alike. */
static void test_tls(void **state)
{
	char *pem = write_temp("-----BEGIN CERTIFICATE-----\n"), text[1024], err[512];
	const char *env[] = {"OCTOSERVE_P2P_TLS_CERT",
			     pem,
			     "OCTOSERVE_P2P_TLS_KEY",
			     pem,
			     "OCTOSERVE_P2P_TLS_CA",
			     pem,
			     NULL};
	const char *cert_only[] = {"OCTOSERVE_P2P_TLS_CERT", pem, NULL};
	struct octo_config cfg;

	(void)state;
	snprintf(text, sizeof(text),
		 "{\"p2p\":{\"tls\":{\"cert\":\"%s\",\"key\":\"%s\",\"ca\":\"%s\"}}}", pem, pem,
		 pem);
	assert_int_equal(load(&cfg, text, NULL, err, sizeof(err)), OCTO_OK);
	assert_string_equal(cfg.p2p.tls.cert, pem);
	assert_get(&cfg, "p2p.tls.ca", pem);
	octo_config_cleanup(&cfg);
	assert_int_equal(load(&cfg, "{}", env, err, sizeof(err)), OCTO_OK);
	assert_string_equal(cfg.p2p.tls.key, pem);
	octo_config_cleanup(&cfg);

	snprintf(text, sizeof(text), "{\"p2p\":{\"tls\":{\"cert\":\"%s\"}}}", pem);
	assert_int_equal(load(&cfg, text, NULL, err, sizeof(err)), OCTO_ERR_CONFIG);
	assert_non_null(strstr(err, "key \"p2p.tls.key\": p2p.tls.cert, p2p.tls.key and "
				    "p2p.tls.ca must be set together"));
	assert_int_equal(load(&cfg, "{}", cert_only, err, sizeof(err)), OCTO_ERR_CONFIG);
	assert_non_null(strstr(err, "must be set together"));
	assert_int_equal(load(&cfg, "{\"p2p\":{\"tls\":{\"ca\":\"\"}}}", NULL, err, sizeof(err)),
			 OCTO_ERR_CONFIG);
	assert_non_null(strstr(err, "key \"p2p.tls.ca\": must not be empty"));

	snprintf(text, sizeof(text),
		 "{\"p2p\":{\"tls\":{\"cert\":\"%s\",\"key\":\"/nonexistent/k.pem\","
		 "\"ca\":\"%s\"}}}",
		 pem, pem);
	assert_int_equal(load(&cfg, text, NULL, err, sizeof(err)), OCTO_ERR_CONFIG);
	assert_non_null(strstr(err, "key \"p2p.tls.key\": /nonexistent/k.pem cannot be read: No "
				    "such file or directory"));
	/* a file that is not there is refused too, from the environment as from the file */
	unlink(pem);
	assert_int_equal(load(&cfg, "{}", env, err, sizeof(err)), OCTO_ERR_CONFIG);
	assert_non_null(strstr(err, "cannot be read"));
	free(pem);
}

/* OCTOSERVE_* variables that set no key are named, with the one a typo meant. */
static void test_env_unknown(void **state)
{
	char *env[] = {"OCTOSERVE_SERVER_PORT=5000",    "OCTOSERVE_SERVER_PROT=5001",
		       "OCTOSERVE_LOGGING_LEVEL=debug", "HOME=/root",
		       "OCTOSERVE_SRCDIR=/src",         "OCTOTEST_SRCDIR=/src",
		       "OCTOSERVE_LOG_LEVEL=info",      NULL};
	char buf[512];

	(void)state;
	assert_int_equal(octo_config_env_unknown(env, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "OCTOSERVE_SERVER_PROT (did you mean OCTOSERVE_SERVER_PORT?), "
				 "OCTOSERVE_LOGGING_LEVEL (did you mean OCTOSERVE_LOG_LEVEL?), "
				 "OCTOSERVE_SRCDIR");
	assert_int_equal(octo_config_env_unknown(env + 3, buf, 20), 1); /* cut, never overrun */
	assert_int_equal(octo_config_env_unknown(env + 5, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_unknown),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_s3),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_env_overrides),
		cmocka_unit_test(test_env_special_names),
		cmocka_unit_test(test_env_bad),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_cleanup),
		cmocka_unit_test(test_tls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
