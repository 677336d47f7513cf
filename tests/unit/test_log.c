/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for lib/log.c: JSON lines that jansson parses back, text lines, escaping of
 * hostile values, level filtering, the line ceiling, and lines from threads that never
 * interleave. */
#include "autoconfig.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct fixture {
	char path[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int fd;

	if (!f)
		return -1;
	snprintf(f->path, sizeof(f->path), "/tmp/octo-log-XXXXXX");
	fd = mkstemp(f->path);
	if (fd < 0) {
		free(f);
		return -1;
	}
	close(fd);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	free(f);
	return 0;
}

/* The whole file, NUL-terminated; the caller frees. */
static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* Truncate the file and log one event; returns the line (without its newline). */
static char *log_one(const char *path, enum octo_log_format fmt, enum octo_log_level level,
		     const char *msg, const struct octo_log_field *fields, size_t n)
{
	struct octo_logger *log;
	char err[256], *text;
	size_t len;

	assert_int_equal(truncate(path, 0), 0);
	log = octo_logger_new(OCTO_LOG_DEBUG, fmt, path, err, sizeof(err));
	assert_non_null(log);
	octo_log(log, level, msg, fields, n);
	octo_logger_free(log);
	text = slurp(path);
	len = strlen(text);
	assert_true(len > 0);
	assert_true(len <= OCTO_LOG_MAX_LINE);
	assert_int_equal(text[len - 1], '\n');
	assert_true(strchr(text, '\n') == text + len - 1); /* one line */
	text[len - 1] = '\0';
	return text;
}

static json_t *parse_line(const char *line)
{
	json_error_t jerr;
	json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);

	if (!j)
		fail_msg("not JSON (%s): %s", jerr.text, line);
	assert_true(json_is_object(j));
	return j;
}

/* "2026-11-27T20:41:01.123Z" */
static void assert_timestamp(const char *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	size_t i;

	assert_int_equal(strlen(t), strlen(shape));
	for (i = 0; shape[i]; i++) {
		if (shape[i] == 'd')
			assert_true(t[i] >= '0' && t[i] <= '9');
		else
			assert_int_equal(t[i], shape[i]);
	}
}

static void test_json_line(void **state)
{
	struct fixture *f = *state;
	const struct octo_log_field fields[] = {
		OCTO_LOG_STR("method", "GET"),
		OCTO_LOG_STR("uri", "/v2/"),
		OCTO_LOG_NUM("status", 200),
		OCTO_LOG_NUM("bytes", -1),
		OCTO_LOG_NUM("big", 9223372036854775807LL),
		OCTO_LOG_STR("remote_user", NULL),
	};
	char *line = log_one(f->path, OCTO_LOG_JSON, OCTO_LOG_INFO, "request", fields,
			     ARRAY_SIZE(fields));
	json_t *j = parse_line(line);

	assert_true(!strncmp(line, "{\"time\":\"", 9));
	assert_timestamp(json_string_value(json_object_get(j, "time")));
	assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
	assert_string_equal(json_string_value(json_object_get(j, "msg")), "request");
	assert_string_equal(json_string_value(json_object_get(j, "method")), "GET");
	assert_string_equal(json_string_value(json_object_get(j, "uri")), "/v2/");
	assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
	assert_int_equal(json_integer_value(json_object_get(j, "bytes")), -1);
	assert_true(json_integer_value(json_object_get(j, "big")) == 9223372036854775807LL);
	assert_true(json_is_null(json_object_get(j, "remote_user")));
	assert_null(json_object_get(j, "truncated"));
	assert_int_equal(json_object_size(j), 9);
	json_decref(j);
	free(line);
}

static void test_text_line(void **state)
{
	struct fixture *f = *state;
	const struct octo_log_field fields[] = {
		OCTO_LOG_STR("method", "GET"), OCTO_LOG_STR("uri", "/v2/a b"),
		OCTO_LOG_NUM("status", 200),   OCTO_LOG_STR("remote_user", NULL),
		OCTO_LOG_STR("bad key=", "x"),
	};
	char *line = log_one(f->path, OCTO_LOG_TEXT, OCTO_LOG_WARN, "request", fields,
			     ARRAY_SIZE(fields));
	char ts[25];

	memcpy(ts, line, 24);
	ts[24] = '\0';
	assert_timestamp(ts);
	assert_string_equal(line + 24,
			    " WARN request method=GET uri=\"/v2/a b\" status=200 remote_user=- "
			    "bad_key_=x");
	free(line);
}

/* What a value becomes: decoded back from JSON, and as text writes it. */
static const struct {
	const char *in;
	const char *json; /* after jansson decodes the line */
	const char *text;
} escapes[] = {
	{"plain", "plain", "plain"},
	{"", "", "\"\""},
	{"a\"b", "a\"b", "\"a\\\"b\""},
	{"a\\b", "a\\b", "\"a\\\\b\""},
	{"a\nb\r\tc", "a\nb\r\tc", "\"a\\nb\\r\\tc\""},
	{"\x01\x1f\x7f", "\x01\x1f\x7f", "\"\\x01\\x1f\\x7f\""},
	{"a=b", "a=b", "\"a=b\""},
	{"caf\xc3\xa9", "caf\xc3\xa9", "caf\xc3\xa9"},
	{"\xe2\x82\xac \xf0\x9f\x90\x99", "\xe2\x82\xac \xf0\x9f\x90\x99",
	 "\"\xe2\x82\xac \xf0\x9f\x90\x99\""},
	/* not UTF-8: a lone byte, an overlong '/', a surrogate, past U+10FFFF, a cut sequence */
	{"\xff", "\xef\xbf\xbd", "\"\\xff\""},
	{"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd", "\"\\xc0\\xaf\""},
	{"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "\"\\xed\\xa0\\x80\""},
	{"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
	 "\"\\xf4\\x90\\x80\\x80\""},
	{"\xc3", "\xef\xbf\xbd", "\"\\xc3\""},
	{"</script>", "</script>", "</script>"},
};

static void test_escaping(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(escapes); i++) {
		const struct octo_log_field field = OCTO_LOG_STR("v", escapes[i].in);
		char *line, want[256];
		json_t *j;

		/* The value, and the message too, in JSON. */
		line = log_one(f->path, OCTO_LOG_JSON, OCTO_LOG_ERROR, escapes[i].in, &field, 1);
		j = parse_line(line);
		if (strcmp(json_string_value(json_object_get(j, "v")), escapes[i].json))
			fail_msg("case %zu: JSON line %s", i, line);
		assert_string_equal(json_string_value(json_object_get(j, "msg")), escapes[i].json);
		json_decref(j);
		free(line);

		line = log_one(f->path, OCTO_LOG_TEXT, OCTO_LOG_ERROR, "e", &field, 1);
		snprintf(want, sizeof(want), " ERROR e v=%s", escapes[i].text);
		if (strcmp(line + 24, want))
			fail_msg("case %zu: text line \"%s\", want \"%s\"", i, line + 24, want);
		free(line);
	}
}

static void test_levels(void **state)
{
	struct fixture *f = *state;
	static const enum octo_log_level levels[] = {OCTO_LOG_DEBUG, OCTO_LOG_INFO, OCTO_LOG_WARN,
						     OCTO_LOG_ERROR};
	size_t i, j;

	for (i = 0; i < ARRAY_SIZE(levels); i++) {
		struct octo_logger *log;
		char *text, *p;
		size_t lines = 0;

		assert_int_equal(truncate(f->path, 0), 0);
		log = octo_logger_new(levels[i], OCTO_LOG_JSON, f->path, NULL, 0);
		assert_non_null(log);
		for (j = 0; j < ARRAY_SIZE(levels); j++) {
			assert_int_equal(octo_log_enabled(log, levels[j]), j >= i);
			octo_log(log, levels[j], octo_log_level_name(levels[j]), NULL, 0);
		}
		octo_logger_free(log);
		text = slurp(f->path);
		for (p = text; (p = strchr(p, '\n')); p++)
			lines++;
		assert_int_equal(lines, ARRAY_SIZE(levels) - i);
		/* The first line is the lowest level let through. */
		{
			char want[64];

			snprintf(want, sizeof(want), "\"level\":\"%s\",\"msg\":\"%s\"",
				 octo_log_level_name(levels[i]), octo_log_level_name(levels[i]));
			assert_non_null(strstr(text, want));
		}
		free(text);
	}
	assert_string_equal(octo_log_level_name(OCTO_LOG_WARN), "warn");
	assert_string_equal(octo_log_level_name((enum octo_log_level)42), "unknown");
}

static void test_null_logger(void **state)
{
	const struct octo_log_field field = OCTO_LOG_NUM("n", 1);

	(void)state;
	octo_log(NULL, OCTO_LOG_ERROR, "x", &field, 1);
	assert_false(octo_log_enabled(NULL, OCTO_LOG_ERROR));
	octo_logger_free(NULL);
}

static void test_open_errors(void **state)
{
	char err[256];

	(void)state;
	err[0] = '\0';
	assert_null(octo_logger_new(OCTO_LOG_INFO, OCTO_LOG_JSON, "/nonexistent/dir/x.log", err,
				    sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/dir/x.log"));
	assert_null(octo_logger_new(OCTO_LOG_INFO, OCTO_LOG_JSON, "", err, sizeof(err)));
	assert_null(octo_logger_new(OCTO_LOG_INFO, OCTO_LOG_JSON, NULL, NULL, 0));
	/* stderr is not closed by free. */
	octo_logger_free(octo_logger_new(OCTO_LOG_INFO, OCTO_LOG_TEXT, "stderr", err, sizeof(err)));
	assert_int_equal(write(STDERR_FILENO, "", 0), 0);
}

/* Lines stay within OCTO_LOG_MAX_LINE, stay valid, and say when something was cut. */
static void test_limits(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(3 * OCTO_LOG_MAX_LINE);
	char *ctl = malloc(OCTO_LOG_MAX_VALUE + 1);
	char *line;
	json_t *j;
	size_t i;

	assert_non_null(big);
	assert_non_null(ctl);
	memset(big, 'a', 3 * OCTO_LOG_MAX_LINE - 1);
	big[3 * OCTO_LOG_MAX_LINE - 1] = '\0';
	memset(ctl, '\x01', OCTO_LOG_MAX_VALUE); /* six bytes each once escaped */
	ctl[OCTO_LOG_MAX_VALUE] = '\0';

	/* One long value: cut to OCTO_LOG_MAX_VALUE, later fields kept. */
	{
		const struct octo_log_field fields[] = {
			OCTO_LOG_STR("uri", big),
			OCTO_LOG_NUM("status", 200),
		};

		line = log_one(f->path, OCTO_LOG_JSON, OCTO_LOG_INFO, "request", fields, 2);
		j = parse_line(line);
		assert_int_equal(strlen(json_string_value(json_object_get(j, "uri"))),
				 OCTO_LOG_MAX_VALUE);
		assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
		assert_true(json_is_true(json_object_get(j, "truncated")));
		json_decref(j);
		free(line);
	}
	/* A UTF-8 value is cut on a character boundary. */
	{
		char *euro = malloc(3 * OCTO_LOG_MAX_VALUE + 1);
		const struct octo_log_field field = OCTO_LOG_STR("v", euro);
		const char *v;

		assert_non_null(euro);
		for (i = 0; i < OCTO_LOG_MAX_VALUE; i++)
			memcpy(euro + 3 * i, "\xe2\x82\xac", 3);
		euro[3 * OCTO_LOG_MAX_VALUE] = '\0';
		line = log_one(f->path, OCTO_LOG_JSON, OCTO_LOG_INFO, "m", &field, 1);
		j = parse_line(line);
		v = json_string_value(json_object_get(j, "v"));
		assert_int_equal(strlen(v), OCTO_LOG_MAX_VALUE / 3 * 3);
		assert_null(strstr(v, "\xef\xbf\xbd"));
		json_decref(j);
		free(line);
		free(euro);
	}
	/* Values that expand when escaped fill the line: the rest is dropped, JSON stays valid. */
	for (i = 0; i < 2; i++) {
		const struct octo_log_field fields[] = {
			OCTO_LOG_STR("a", ctl),
			OCTO_LOG_STR("b", ctl),
			OCTO_LOG_STR("c", ctl),
			OCTO_LOG_NUM("status", 200),
		};

		line = log_one(f->path, i ? OCTO_LOG_TEXT : OCTO_LOG_JSON, OCTO_LOG_INFO, "m",
			       fields, ARRAY_SIZE(fields));
		if (i == 0) {
			j = parse_line(line);
			assert_non_null(json_object_get(j, "a"));
			assert_null(json_object_get(j, "status"));
			assert_true(json_is_true(json_object_get(j, "truncated")));
			json_decref(j);
		} else {
			assert_non_null(strstr(line, " truncated=true"));
			assert_null(strstr(line, "status="));
		}
		free(line);
	}
	/* Many small fields. */
	{
		struct octo_log_field many[1000];

		for (i = 0; i < ARRAY_SIZE(many); i++)
			many[i] = OCTO_LOG_NUM("n", (long long)i);
		line = log_one(f->path, OCTO_LOG_TEXT, OCTO_LOG_INFO, "m", many, ARRAY_SIZE(many));
		assert_non_null(strstr(line, " truncated=true"));
		free(line);
	}
	/* A huge message. */
	line = log_one(f->path, OCTO_LOG_JSON, OCTO_LOG_INFO, ctl, NULL, 0);
	j = parse_line(line);
	assert_true(json_is_true(json_object_get(j, "truncated")));
	json_decref(j);
	free(line);
	free(big);
	free(ctl);
}

static void test_errno_kept(void **state)
{
	struct fixture *f = *state;
	struct octo_logger *log = octo_logger_new(OCTO_LOG_INFO, OCTO_LOG_JSON, f->path, NULL, 0);

	assert_non_null(log);
	errno = ENOSPC;
	octo_log(log, OCTO_LOG_ERROR, "x", NULL, 0);
	assert_int_equal(errno, ENOSPC);
	octo_logger_free(log);
}

#define THREADS 8
#define PER_THREAD 300

static void *writer(void *arg)
{
	struct octo_logger *log = arg;
	char pad[1500];
	int i;

	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (i = 0; i < PER_THREAD; i++) {
		const struct octo_log_field fields[] = {
			OCTO_LOG_NUM("i", i),
			OCTO_LOG_STR("pad", pad + (i % 500)),
		};

		octo_log(log, OCTO_LOG_INFO, "t", fields, ARRAY_SIZE(fields));
	}
	return NULL;
}

/* Two loggers on one file, as two processes would have, written from several threads. */
static void test_no_interleaving(void **state)
{
	struct fixture *f = *state;
	struct octo_logger *a = octo_logger_new(OCTO_LOG_INFO, OCTO_LOG_JSON, f->path, NULL, 0);
	struct octo_logger *b = octo_logger_new(OCTO_LOG_INFO, OCTO_LOG_JSON, f->path, NULL, 0);
	pthread_t tid[THREADS];
	char *text, *p, *nl;
	size_t lines = 0;
	int i;

	assert_non_null(a);
	assert_non_null(b);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&tid[i], NULL, writer, i % 2 ? a : b), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(tid[i], NULL);
	octo_logger_free(a);
	octo_logger_free(b);
	text = slurp(f->path);
	for (p = text; (nl = strchr(p, '\n')); p = nl + 1) {
		json_t *j;

		*nl = '\0';
		j = parse_line(p);
		json_decref(j);
		lines++;
	}
	assert_int_equal(*p, '\0');
	assert_int_equal(lines, THREADS * PER_THREAD);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_json_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
		cmocka_unit_test(test_null_logger),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errno_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_interleaving, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
