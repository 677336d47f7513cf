/* SPDX-License-Identifier: Apache-2.0 */
/* Structured logging, one line per event, as JSON or as key=value text. Each line is built
 * in a bounded buffer and written with a single write(2) to an O_APPEND descriptor, so lines
 * from threads and processes sharing the file never interleave; there is no lock. */
#ifndef OCTO_LOG_H
#define OCTO_LOG_H

#include <stddef.h>

enum octo_log_level {
	OCTO_LOG_DEBUG = 0,
	OCTO_LOG_INFO,
	OCTO_LOG_WARN,
	OCTO_LOG_ERROR
};
enum octo_log_format {
	OCTO_LOG_JSON = 0,
	OCTO_LOG_TEXT
};

/* Longest line written, newline included; longer events lose their last fields and gain
 * "truncated":true. String values longer than OCTO_LOG_MAX_VALUE bytes are cut. */
#define OCTO_LOG_MAX_LINE 4096
#define OCTO_LOG_MAX_VALUE 1024

struct octo_logger;

/* One field: a string (str, NULL logged as null / -) or, when is_num, the integer num.
 * Keys are program literals; "time", "level" and "msg" are taken by the logger. */
struct octo_log_field {
	const char *key;
	const char *str;
	long long num;
	int is_num;
};

#define OCTO_LOG_STR(k, v) ((struct octo_log_field){.key = (k), .str = (v)})
#define OCTO_LOG_NUM(k, v) ((struct octo_log_field){.key = (k), .num = (v), .is_num = 1})

/* A logger that writes events at level and above to output: "stderr", or a file path opened
 * for appending (created 0640). Returns NULL with a message in errbuf if the file cannot be
 * opened or on allocation failure. The logger holds no mutable state once made (a reopen
 * swaps the file under the same descriptor), so threads may share it. */
struct octo_logger *octo_logger_new(enum octo_log_level level, enum octo_log_format format,
				    const char *output, char *errbuf, size_t errsize);
/* Open the file again by its path and write there from now on (logrotate's postrotate:
 * SIGHUP); keeps the old one and returns -1 with errno if it cannot be opened. Stderr: 0. */
int octo_logger_reopen(struct octo_logger *log);
/* Close the file (never stderr) and free. NULL is harmless. */
void octo_logger_free(struct octo_logger *log);
/* True if an event at level would be written (to skip building costly fields). */
int octo_log_enabled(const struct octo_logger *log, enum octo_log_level level);
/* Write one event: msg, then n fields in order. A NULL logger, or a level below the
 * logger's, writes nothing. Errors writing are ignored: there is nowhere to report them.
 * JSON:  {"time":"2026-11-27T20:41:01.123Z","level":"info","msg":"request","status":200}
 * text:  2026-11-27T20:41:01.123Z INFO request uri="/v2/ x" status=200 */
void octo_log(const struct octo_logger *log, enum octo_log_level level, const char *msg,
	      const struct octo_log_field *fields, size_t n);
/* "debug", "info", "warn", "error". */
const char *octo_log_level_name(enum octo_log_level level);

#endif
