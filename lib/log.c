/* SPDX-License-Identifier: Apache-2.0 */
/* Structured logging. A line is built in a fixed buffer of OCTO_LOG_MAX_LINE bytes (PIPE_BUF
 * on Linux, so a write to a pipe is atomic too) and written with one write(2); values that
 * come from the network are escaped so that a line stays one line and valid UTF-8 JSON. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Kept free at the end of the buffer for a closing quote and ,"truncated":true}\n */
#define LINE_RESERVE 32

struct octo_logger {
	enum octo_log_level level;
	enum octo_log_format format;
	int fd;
	int owns_fd;
	char *path; /* the file, for octo_logger_reopen; NULL for stderr */
};

struct line {
	char buf[OCTO_LOG_MAX_LINE];
	size_t len;
	int cut;  /* a value was longer than OCTO_LOG_MAX_VALUE */
	int full; /* the line ran out of room: the fields after this one are dropped */
};

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const level_upper[] = {"DEBUG", "INFO", "WARN", "ERROR"};

const char *octo_log_level_name(enum octo_log_level level)
{
	return (unsigned)level <= OCTO_LOG_ERROR ? level_names[level] : "unknown";
}

struct octo_logger *octo_logger_new(enum octo_log_level level, enum octo_log_format format,
				    const char *output, char *errbuf, size_t errsize)
{
	struct octo_logger *log;

	if (!output || !output[0]) {
		if (errbuf && errsize)
			snprintf(errbuf, errsize, "log output must be \"stderr\" or a file path");
		return NULL;
	}
	log = calloc(1, sizeof(*log));
	if (!log) {
		if (errbuf && errsize)
			snprintf(errbuf, errsize, "out of memory");
		return NULL;
	}
	log->level = level;
	log->format = format;
	if (!strcmp(output, "stderr")) {
		log->fd = STDERR_FILENO;
		return log;
	}
	/* O_APPEND makes each write land at the end even with other writers. */
	log->fd = open(output, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
	if (log->fd < 0) {
		if (errbuf && errsize)
			snprintf(errbuf, errsize, "cannot open log file %s: %s", output,
				 strerror(errno));
		free(log);
		return NULL;
	}
	log->owns_fd = 1;
	log->path = strdup(output);
	if (log->path == NULL) {
		if (errbuf && errsize)
			snprintf(errbuf, errsize, "out of memory");
		octo_logger_free(log);
		return NULL;
	}
	return log;
}

int octo_logger_reopen(struct octo_logger *log)
{
	int fd;

	if (log == NULL || log->path == NULL)
		return 0;
	fd = open(log->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return -1;
	/* dup2 replaces the descriptor in one step: a line written meanwhile lands in the
	 * old file or the new one, never in a closed descriptor. */
	if (fd != log->fd && dup2(fd, log->fd) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

void octo_logger_free(struct octo_logger *log)
{
	if (!log)
		return;
	if (log->owns_fd)
		close(log->fd);
	free(log->path);
	free(log);
}

int octo_log_enabled(const struct octo_logger *log, enum octo_log_level level)
{
	return log && level >= log->level;
}

/* Append n bytes if they fit before the reserve; 0 on success. */
static int put(struct line *l, const char *s, size_t n)
{
	if (n > sizeof(l->buf) - LINE_RESERVE - l->len)
		return -1;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	return 0;
}

static int puts_(struct line *l, const char *s)
{
	return put(l, s, strlen(s));
}

/* Length of the well-formed UTF-8 sequence at p[0..n) (RFC 3629 section 4: no overlongs,
 * no surrogates, nothing past U+10FFFF), or 0 if there is none. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* How much of s to log: at most OCTO_LOG_MAX_VALUE bytes, cut on a character boundary. */
static size_t value_len(struct line *l, const char *s)
{
	size_t n = strnlen(s, OCTO_LOG_MAX_VALUE + 1);

	if (n <= OCTO_LOG_MAX_VALUE)
		return n;
	l->cut = 1;
	n = OCTO_LOG_MAX_VALUE;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* The escaped form of the character at p: into esc (NUL-terminated), or *raw bytes to copy
 * as they are. JSON per RFC 8259 section 7; text uses Go-like \" \\ \n \xNN escapes. */
static size_t escape_char(const unsigned char *p, size_t n, int json, char esc[8], size_t *raw)
{
	size_t len = utf8_seq(p, n);

	*raw = 0;
	esc[0] = '\0';
	if (len == 0) {
		/* Not UTF-8: JSON must stay valid, so U+FFFD; text shows the byte. */
		if (json)
			snprintf(esc, 8, "\\ufffd");
		else
			snprintf(esc, 8, "\\x%02x", p[0]);
		return 1;
	}
	if (len > 1 || (p[0] >= 0x20 && p[0] != 0x7f && p[0] != '"' && p[0] != '\\')) {
		*raw = len;
		return len;
	}
	switch (p[0]) {
	case '"':
		snprintf(esc, 8, "\\\"");
		break;
	case '\\':
		snprintf(esc, 8, "\\\\");
		break;
	case '\n':
		snprintf(esc, 8, "\\n");
		break;
	case '\r':
		snprintf(esc, 8, "\\r");
		break;
	case '\t':
		snprintf(esc, 8, "\\t");
		break;
	default:
		if (json)
			snprintf(esc, 8, "\\u%04x", p[0]);
		else
			snprintf(esc, 8, "\\x%02x", p[0]);
	}
	return 1;
}

/* Append s[0..n) escaped; stops early, marking the line full, when it runs out of room.
 * Keeps one byte for the closing quote. */
static void put_escaped(struct line *l, const char *s, size_t n, int json)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		char esc[8];
		size_t raw, used = escape_char(p + i, n - i, json, esc, &raw);
		const char *out = raw ? s + i : esc;
		size_t outlen = raw ? raw : strlen(esc);

		if (outlen + 1 > sizeof(l->buf) - LINE_RESERVE - l->len) {
			l->full = 1;
			return;
		}
		memcpy(l->buf + l->len, out, outlen);
		l->len += outlen;
		i += used;
	}
}

/* Text values are quoted only when they need it, so that uri=/v2/ stays readable. */
static int text_needs_quotes(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
			return 1;
		if (c >= 0x80) {
			size_t len = utf8_seq((const unsigned char *)s + i, n - i);

			if (!len)
				return 1;
			i += len - 1;
		}
	}
	return 0;
}

/* Append s, quoted if JSON or if text needs it; -1 if not even the quotes fit. A value cut
 * short by a full line still gets its closing quote. */
static int put_string(struct line *l, const char *s, int json)
{
	size_t n = value_len(l, s);
	int quote = json || text_needs_quotes(s, n);

	if (quote && put(l, "\"", 1)) {
		l->full = 1;
		return -1;
	}
	put_escaped(l, s, n, json);
	if (quote)
		l->buf[l->len++] = '"'; /* put_escaped left room */
	return 0;
}

/* Text keys are program literals; anything that would break key=value parsing becomes _. */
static int put_text_key(struct line *l, const char *key)
{
	size_t i, n = strnlen(key, 64);

	if (n + 2 > sizeof(l->buf) - LINE_RESERVE - l->len)
		return -1;
	l->buf[l->len++] = ' ';
	for (i = 0; i < n; i++) {
		char c = key[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';

		l->buf[l->len++] = ok ? c : '_';
	}
	l->buf[l->len++] = '=';
	return 0;
}

static int put_field(struct line *l, const struct octo_log_field *f, int json)
{
	char num[32];

	if (json) {
		if (put(l, ",", 1) || put_string(l, f->key ? f->key : "", 1) || l->full ||
		    put(l, ":", 1))
			return -1;
	} else if (put_text_key(l, f->key ? f->key : "")) {
		return -1;
	}
	if (f->is_num) {
		snprintf(num, sizeof(num), "%lld", f->num);
		return puts_(l, num);
	}
	if (!f->str)
		return puts_(l, json ? "null" : "-");
	return put_string(l, f->str, json);
}

static void put_time(struct line *l, int json)
{
	struct timespec ts;
	struct tm tm;
	char buf[48];
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%03ldZ", ts.tv_nsec / 1000000);
	if (json) {
		puts_(l, "{\"time\":\"");
		puts_(l, buf);
		puts_(l, "\",\"level\":\"");
	} else {
		puts_(l, buf);
		puts_(l, " ");
	}
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += w;
		len -= (size_t)w;
	}
}

void octo_log(const struct octo_logger *log, enum octo_log_level level, const char *msg,
	      const struct octo_log_field *fields, size_t n)
{
	int json, saved_errno;
	struct line l;
	size_t i;

	if (!octo_log_enabled(log, level))
		return;
	if ((unsigned)level > OCTO_LOG_ERROR)
		level = OCTO_LOG_ERROR;
	/* Callers often log and then look at errno. */
	saved_errno = errno;
	json = log->format == OCTO_LOG_JSON;
	l.len = 0;
	l.cut = 0;
	l.full = 0;
	put_time(&l, json);
	if (json) {
		puts_(&l, level_names[level]);
		puts_(&l, "\",\"msg\":");
		put_string(&l, msg ? msg : "", 1);
	} else {
		puts_(&l, level_upper[level]);
		puts_(&l, " ");
		put_string(&l, msg ? msg : "", 0);
	}
	for (i = 0; i < n && !l.full; i++) {
		size_t mark = l.len;

		if (put_field(&l, &fields[i], json)) {
			/* A field that does not fit at all is dropped whole. */
			l.len = mark;
			l.full = 1;
		}
	}
	/* The reserve holds these. */
	if (l.cut || l.full) {
		const char *t = json ? ",\"truncated\":true" : " truncated=true";

		memcpy(l.buf + l.len, t, strlen(t));
		l.len += strlen(t);
	}
	if (json)
		l.buf[l.len++] = '}';
	l.buf[l.len++] = '\n';
	write_all(log->fd, l.buf, l.len);
	errno = saved_errno;
}
