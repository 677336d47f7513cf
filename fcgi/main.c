/* SPDX-License-Identifier: Apache-2.0 */
/* octoserve-fcgi: the FastCGI responder. Several threads accept on one socket (the one the
 * web server passes on fd 0, or fcgi.listen), turn each request into an octo_request, call
 * the library's handler and write its response back. Nothing about OCI lives here. */
#include "autoconfig.h"

#include <errno.h>
#include <fcgiapp.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "bounds.h"
#include "config.h"
#include "fsutil.h"
#include "rate.h"
#include "log.h"
#include "registry.h"

#ifdef OCTO_SANITIZERS
#include <sanitizer/lsan_interface.h>
#endif

#define IO_CHUNK (64 * 1024)      /* FCGX_GetStr blocks until it has this many bytes */
#define BODY_CHUNK (16 * 1024)    /* read at a time, so the rate watchdog sees progress */
#define WORKER_STACK (512 * 1024) /* a request needs ~100 KiB: write_file's buffer, headers */

struct server {
	struct octo_config cfg;
	struct octo_logger *log;
	struct octo_registry *reg;
	int listen_fd;
	int listen_owned; /* fcgi.listen: our own socket, not one shared with the web server */
	pthread_mutex_t lock;
	pthread_cond_t idle;
	int stopping;
	int running;     /* worker threads still in their loop */
	pthread_t *tids; /* room for fcgi.max_threads */
	int *accepting;  /* per worker: blocked in accept, so a signal may interrupt it */
	int n_workers;   /* started so far, fcgi.threads to fcgi.max_threads */
	int max_workers;
	int n_idle;     /* workers waiting in accept */
	int bodies;     /* requests reading a body now */
	int max_bodies; /* past it, a request with a body gets 429 */
	pthread_attr_t attr;
	struct transfer **transfers; /* per worker: the body it is moving, or NULL */
};

extern char **environ;

static struct server srv = {
	.lock = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER, .listen_fd = 0};

/* "https" when the front says it took the request over TLS: REQUEST_SCHEME (Apache,
 * lighttpd, nginx's fastcgi_params) or HTTPS=on (the older CGI convention). */
static const char *tls_param(char **envp)
{
	const char *scheme = FCGX_GetParam("REQUEST_SCHEME", envp);
	const char *https = FCGX_GetParam("HTTPS", envp);

	if ((scheme != NULL && strcmp(scheme, "https") == 0) ||
	    (https != NULL && strcasecmp(https, "on") == 0))
		return "https";
	return NULL;
}

/* CGI parameters to request headers: HTTP_FOO_BAR -> "FOO-BAR" (names compare
 * case-insensitively), CONTENT_TYPE -> "Content-Type". Past OCTO_BOUND_REQUEST_HEADERS, or with a name
 * longer than the buffer, the request is marked and gets 431: a header is never dropped
 * silently (a client could hide its own Range behind junk ones). */
struct header_set {
	struct octo_header h[OCTO_BOUND_REQUEST_HEADERS];
	char names[OCTO_BOUND_REQUEST_HEADERS][OCTO_BOUND_HEADER_NAME];
	size_t n;
	int overflow;
};

static void collect_headers(FCGX_ParamArray envp, struct header_set *hs)
{
	char **e;

	hs->n = 0;
	hs->overflow = 0;
	for (e = envp; *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		const char *name = *e;
		size_t len, i;

		if (eq == NULL)
			continue;
		if (strncmp(name, "HTTP_", 5) == 0)
			name += 5;
		else if (strncmp(name, "CONTENT_TYPE=", 13) != 0 &&
			 strncmp(name, "CONTENT_LENGTH=", 15) != 0)
			continue;
		len = (size_t)(eq - name);
		if (len >= sizeof(hs->names[0]) || hs->n == OCTO_BOUND_REQUEST_HEADERS) {
			hs->overflow = 1;
			continue;
		}
		for (i = 0; i < len; i++)
			hs->names[hs->n][i] = name[i] == '_' ? '-' : name[i];
		hs->names[hs->n][len] = '\0';
		hs->h[hs->n].name = hs->names[hs->n];
		hs->h[hs->n].value = eq + 1;
		hs->n++;
	}
}

/* A request or response body on the move, watched by the rate watchdog: a request body
 * read with a grace of server.read_timeout, a response body written with one of
 * server.write_timeout (a reader behind a front that passes back-pressure on, as nginx
 * and Apache do, holds the writing thread). */
struct transfer {
	int fd;
	int outgoing; /* a response body */
	struct timespec start;
	uint64_t moved; /* bytes read or written so far (srv.lock) */
	int cut;        /* the watchdog shut the connection */
};

/* Start watching tr for worker id; mutually exclusive with a transfer already watched. */
static void transfer_begin(struct transfer *tr, int id, int fd, int outgoing)
{
	memset(tr, 0, sizeof(*tr));
	tr->fd = fd;
	tr->outgoing = outgoing;
	clock_gettime(CLOCK_MONOTONIC, &tr->start);
	pthread_mutex_lock(&srv.lock);
	srv.transfers[id] = tr;
	pthread_mutex_unlock(&srv.lock);
}

/* Count n more bytes moved: 0, or -1 once the watchdog has cut the transfer. */
static int transfer_moved(struct transfer *tr, size_t n)
{
	int cut;

	pthread_mutex_lock(&srv.lock);
	tr->moved += n;
	cut = tr->cut;
	pthread_mutex_unlock(&srv.lock);
	return cut ? -1 : 0;
}

/* Stop watching worker id's transfer, before its connection is closed (so the fd the
 * watchdog shuts is always the transfer's own). */
static void transfer_end(int id)
{
	pthread_mutex_lock(&srv.lock);
	srv.transfers[id] = NULL;
	pthread_mutex_unlock(&srv.lock);
}

struct body_reader {
	FCGX_Stream *in;
	struct transfer tr;
};

/* The body reader: a short read with an error set means the client went away. */
static ssize_t body_read(void *ctx, void *buf, size_t n)
{
	struct body_reader *br = ctx;
	int got = FCGX_GetStr(buf, (int)(n > BODY_CHUNK ? BODY_CHUNK : n), br->in);

	if (got < 0 || (got == 0 && FCGX_GetError(br->in) != 0))
		return -1;
	return transfer_moved(&br->tr, (size_t)got) != 0 ? -1 : got;
}

static int write_file(FCGX_Stream *out, struct transfer *tr, const struct octo_response *resp)
{
	uint64_t offset = resp->file_offset, length = resp->file_length;
	uint64_t ready = resp->follow != NULL ? 0 : offset + length;
	char buf[IO_CHUNK];

	while (length > 0) {
		size_t want = length < sizeof(buf) ? (size_t)length : sizeof(buf);
		ssize_t n;
		if (offset >= ready) { /* a growing file: what is there goes out while we wait */
			if (FCGX_FFlush(out) != 0 || resp->follow(resp->follow_ctx, offset, &ready))
				return -1;
		}
		if (want > ready - offset)
			want = (size_t)(ready - offset);
		n = pread(resp->file_fd, buf, want, (off_t)offset);
		if (n <= 0)
			return -1;
		if (FCGX_PutStr(buf, (int)n, out) != n || transfer_moved(tr, (size_t)n) != 0)
			return -1;
		offset += (uint64_t)n;
		length -= (uint64_t)n;
	}
	return 0;
}

struct stream_out {
	FCGX_Stream *out;
	struct transfer *tr;
};

static int put_stream(void *ctx, const void *data, size_t len)
{
	struct stream_out *so = ctx;
	const char *p = data;

	while (len > 0) { /* FCGX_PutStr takes an int */
		int n = len > IO_CHUNK ? IO_CHUNK : (int)len;
		if (FCGX_PutStr(p, n, so->out) != n || transfer_moved(so->tr, (size_t)n) != 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* FCGX_PutStr takes an int: write bodies of any size in pieces. */
static int write_body(FCGX_Stream *out, struct transfer *tr, const char *body, size_t len)
{
	while (len > 0) {
		int n = len > IO_CHUNK ? IO_CHUNK : (int)len;
		if (FCGX_PutStr(body, n, out) != n || transfer_moved(tr, (size_t)n) != 0)
			return -1;
		body += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Worker id writes resp to the front on fd: 0, or -1 if the client is gone; *moved: the
 * body bytes written. */
static int write_response(FCGX_Stream *out, int id, int fd, const struct octo_response *resp,
			  uint64_t *moved)
{
	struct transfer tr;
	size_t i;
	int rc = 0;

	FCGX_FPrintF(out, "Status: %d\r\n", resp->status);
	for (i = 0; i < resp->n_headers; i++)
		FCGX_FPrintF(out, "%s: %s\r\n", resp->headers[i].name, resp->headers[i].value);
	FCGX_PutS("\r\n", out);
	transfer_begin(&tr, id, fd, 1);
	if (write_body(out, &tr, resp->body, resp->body_len) != 0 ||
	    (resp->file_fd >= 0 && write_file(out, &tr, resp) != 0))
		rc = -1;
	if (rc == 0 && resp->stream != NULL) {
		struct stream_out so = {out, &tr};
		rc = resp->stream(resp->stream_ctx, resp->file_offset, resp->file_length,
				  put_stream, &so);
	}
	transfer_end(id);
	*moved = tr.moved;
	return rc == 0 && FCGX_GetError(out) == 0 ? 0 : -1;
}

static double elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* A request that carries a body: a method that has one and a length that is not 0 (a
 * chunked body has none). */
/* server.read_timeout and server.write_timeout as the responder's own bounds on the
 * connection a request came in on (libfcgi has no timeout API): a body that stops
 * arriving, or a streamed download whose reader stops reading, fails that request after
 * the timeout instead of holding its thread for as long as the front waits. */
static void bound_connection(int fd)
{
	struct timeval rd = {.tv_sec = (time_t)(srv.cfg.server.read_timeout_ms / 1000),
			     .tv_usec =
				     (suseconds_t)(srv.cfg.server.read_timeout_ms % 1000) * 1000};
	struct timeval wr = {.tv_sec = (time_t)(srv.cfg.server.write_timeout_ms / 1000),
			     .tv_usec =
				     (suseconds_t)(srv.cfg.server.write_timeout_ms % 1000) * 1000};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rd, sizeof(rd));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wr, sizeof(wr));
}

static int has_body(const char *method, long long length)
{
	return length != 0 && method != NULL &&
	       (strcmp(method, "PATCH") == 0 || strcmp(method, "PUT") == 0 ||
		strcmp(method, "POST") == 0);
}

static void serve_one(FCGX_Request *fr, int id)
{
	struct header_set hs;
	struct octo_request req;
	struct octo_response resp;
	struct timespec t0;
	const char *uri = FCGX_GetParam("REQUEST_URI", fr->envp);
	struct body_reader br;
	struct octo_request_stats stats = {0};
	int werr, body;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	bound_connection(fr->ipcFd);
	collect_headers(fr->envp, &hs);
	memset(&req, 0, sizeof(req));
	req.method = FCGX_GetParam("REQUEST_METHOD", fr->envp);
	req.uri = uri != NULL ? uri : "/";
	req.headers = hs.h;
	req.n_headers = hs.n;
	req.headers_dropped = hs.overflow;
	req.remote_user = FCGX_GetParam("REMOTE_USER", fr->envp);
	req.remote_addr = FCGX_GetParam("REMOTE_ADDR", fr->envp);
	req.scheme = tls_param(fr->envp);
	req.body.read = body_read;
	br.in = fr->in;
	req.body.ctx = &br;
	req.body.length = octo_content_length(FCGX_GetParam("CONTENT_LENGTH", fr->envp));
	if (req.method == NULL)
		req.method = "GET";
	body = has_body(req.method, req.body.length);
	if (body) {
		pthread_mutex_lock(&srv.lock);
		if (srv.bodies >= srv.max_bodies)
			req.over_capacity = 1;
		else
			srv.bodies++;
		pthread_mutex_unlock(&srv.lock);
		if (!req.over_capacity)
			transfer_begin(&br.tr, id, fr->ipcFd, 0);
	}

	octo_response_init(&resp);
	octo_registry_handle(srv.reg, &req, &resp);
	if (body && !req.over_capacity) {
		transfer_end(id);
		pthread_mutex_lock(&srv.lock);
		srv.bodies--;
		pthread_mutex_unlock(&srv.lock);
	}
	werr = write_response(fr->out, id, fr->ipcFd, &resp, &stats.bytes_out);
	stats.bytes_in = body && !req.over_capacity ? br.tr.moved : 0;
	stats.duration_us = (long long)(elapsed_ms(&t0) * 1000);
	stats.client_gone = werr != 0;
	octo_registry_request_done(srv.reg, &req, &resp, &stats);
	octo_response_cleanup(&resp);
}

static void *worker(void *arg);

/* Start one more worker (srv.lock held): 0, or -1 when at the bound or out of resources. */
static int add_worker(void)
{
	int id = srv.n_workers;

	if (id == srv.max_workers ||
	    pthread_create(&srv.tids[id], &srv.attr, worker, (void *)(intptr_t)id) != 0)
		return -1;
	srv.n_workers++;
	srv.running++;
	return 0;
}

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	FCGX_Request fr;

	/* EINTR from our wake-up signal makes FCGX_Accept_r return instead of retrying. */
	FCGX_InitRequest(&fr, srv.listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
	for (;;) {
		int rc;

		pthread_mutex_lock(&srv.lock);
		if (srv.stopping) {
			pthread_mutex_unlock(&srv.lock);
			break;
		}
		srv.accepting[id] = 1;
		srv.n_idle++;
		pthread_mutex_unlock(&srv.lock);
		rc = FCGX_Accept_r(&fr);
		pthread_mutex_lock(&srv.lock);
		srv.accepting[id] = 0; /* from here on no wake-up signal is sent to this thread */
		srv.n_idle--;
		/* The last idle worker took a request: start another, up to fcgi.max_threads, so
		 * that a request arriving now does not wait for one to finish. */
		if (rc >= 0 && srv.n_idle == 0 && !srv.stopping)
			add_worker();
		pthread_mutex_unlock(&srv.lock);
		if (rc < 0)
			break;
		serve_one(&fr, id); /* accepted, even if just as we stop: still answer it */
	}
	FCGX_Finish_r(&fr);
	pthread_mutex_lock(&srv.lock);
	srv.running--;
	pthread_cond_broadcast(&srv.idle);
	pthread_mutex_unlock(&srv.lock);
	return NULL;
}

/* Transfers that fall behind server.min_body_rate after their grace (a client that sends
 * or reads a byte now and then, which no socket timeout notices) get their connection
 * shut, so the read or write in progress ends and the request fails; checked every
 * second. The slack is what may be moved but not yet counted: one read, or one write and
 * what the socket buffers. */
static void *rate_watchdog(void *arg)
{
	(void)arg;
	for (;;) {
		struct timespec now;
		int i;

		sleep(1);
		clock_gettime(CLOCK_MONOTONIC, &now);
		pthread_mutex_lock(&srv.lock);
		for (i = 0; i < srv.n_workers; i++) {
			struct transfer *tr = srv.transfers[i];
			int64_t ms;
			if (tr == NULL || tr->cut)
				continue;
			ms = (int64_t)(now.tv_sec - tr->start.tv_sec) * 1000 +
			     (now.tv_nsec - tr->start.tv_nsec) / 1000000;
			if (octo_rate_behind(ms, tr->moved, tr->outgoing ? IO_CHUNK : BODY_CHUNK,
					     tr->outgoing ? srv.cfg.server.write_timeout_ms
							  : srv.cfg.server.read_timeout_ms,
					     srv.cfg.server.min_body_rate)) {
				tr->cut = 1;
				shutdown(tr->fd, tr->outgoing ? SHUT_RDWR : SHUT_RD);
			}
		}
		pthread_mutex_unlock(&srv.lock);
	}
	return NULL;
}

/* Housekeeping (expired upload sessions, crash leftovers) at start and then every
 * OCTO_BOUND_COLLECT_INTERVAL seconds; the library makes one process of those sharing the
 * store do it at a time. */
static void *collector(void *arg)
{
	(void)arg;
	for (;;) {
		octo_registry_collect(srv.reg);
		sleep(OCTO_BOUND_COLLECT_INTERVAL);
	}
	return NULL;
}

static void wake_up(int sig)
{
	(void)sig;
}

/* SIGHUP: logging.output is opened again (after logrotate moved it). */
static void reopen_log(void)
{
	int err = octo_logger_reopen(srv.log) == 0 ? 0 : errno;
	struct octo_log_field f[] = {OCTO_LOG_STR("output", srv.cfg.logging.output),
				     OCTO_LOG_STR("error", err ? strerror(err) : "")};

	octo_log(srv.log, err ? OCTO_LOG_ERROR : OCTO_LOG_INFO,
		 err ? "cannot reopen the log" : "log reopened", f, 2);
}

/* SIGTERM/SIGINT: stop accepting, let requests in flight finish within
 * server.shutdown_timeout, then exit. The listening socket may be shared (lighttpd, systemd
 * socket activation), so it is left open: workers blocked in accept(2) are woken with
 * SIGUSR2 instead, again and again until each has left, since one may be just about to
 * enter accept(2). Threads serving a request are never signalled. */
static void *signal_thread(void *arg)
{
	sigset_t *set = arg;
	int sig, i;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		reopen_log();
	}
	pthread_mutex_lock(&srv.lock);
	srv.stopping = 1;
	pthread_cond_broadcast(&srv.idle);
	pthread_mutex_unlock(&srv.lock);
	if (srv.listen_owned)
		shutdown(srv.listen_fd, SHUT_RDWR); /* refuse new connections at once */
	for (;;) {
		pthread_mutex_lock(&srv.lock);
		if (srv.running == 0) {
			pthread_mutex_unlock(&srv.lock);
			break;
		}
		for (i = 0; i < srv.n_workers; i++)
			if (srv.accepting[i])
				pthread_kill(srv.tids[i], SIGUSR2);
		pthread_mutex_unlock(&srv.lock);
		usleep(50 * 1000);
	}
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: octoserve-fcgi [-c FILE] [--config-get KEY | --check-config]\n"
		"  -c FILE          configuration file (JSON); OCTOSERVE_* variables override it\n"
		"  --config-get KEY print one configuration value (e.g. server.port) and exit\n"
		"  --check-config   validate the configuration and exit\n"
		"  --version        print the version and exit\n");
}

static int open_listen_socket(const char *listen)
{
	const char *path = strncmp(listen, "unix:", 5) == 0 ? listen + 5 : listen;

	if (path[0] == '/')
		unlink(path); /* a stale socket from an earlier run */
	return FCGX_OpenSocket(path, 128);
}

/* Nothing to accept on: no fcgi.listen, and fd 0 (what a web server or systemd passes) is
 * not a socket, e.g. when run from a shell. */
static int no_socket(void)
{
	struct stat st;

	if (srv.cfg.fcgi.listen != NULL && srv.cfg.fcgi.listen[0] != '\0')
		return 0;
	return fstat(0, &st) != 0 || !S_ISSOCK(st.st_mode);
}

int main(int argc, char **argv)
{
	const char *config_path = NULL, *get_key = NULL;
	char errbuf[512], unknown[1024];
	enum octo_err err;
	size_t n_unknown;
	pthread_t sig_tid, collect_tid, watch_tid;
	sigset_t set;
	struct timespec deadline;
	int i, check_only = 0, started = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			config_path = argv[++i];
		} else if (strcmp(argv[i], "--config-get") == 0 && i + 1 < argc) {
			get_key = argv[++i];
		} else if (strcmp(argv[i], "--check-config") == 0) {
			check_only = 1;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("octoserve-fcgi (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return 0;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (octo_config_load(&srv.cfg, config_path, NULL, errbuf, sizeof(errbuf)) != OCTO_OK) {
		fprintf(stderr, "octoserve-fcgi: %s\n", errbuf);
		return 1;
	}
	if (get_key != NULL) {
		char *v = octo_config_get(&srv.cfg, get_key);
		if (v == NULL) {
			fprintf(stderr, "octoserve-fcgi: unknown key \"%s\"\n", get_key);
			return 1;
		}
		printf("%s\n", v);
		free(v);
		return 0;
	}
	n_unknown = octo_config_env_unknown(environ, unknown, sizeof(unknown));
	if (check_only) {
		int bad = octo_auth_check_config(&srv.cfg, errbuf, sizeof(errbuf)) != OCTO_OK;
		if (bad)
			fprintf(stderr, "octoserve-fcgi: auth: %s\n", errbuf);
		if (n_unknown > 0)
			fprintf(stderr, "octoserve-fcgi: not configuration variables: %s\n",
				unknown);
		return bad || n_unknown > 0;
	}
	if (no_socket()) {
		fprintf(stderr, "octoserve-fcgi: no FastCGI socket: standard input is not a socket "
				"and fcgi.listen is empty; run it from the web server (lighttpd's "
				"bin-path), from its systemd socket unit, or set fcgi.listen\n");
		return 1;
	}
	srv.log = octo_logger_new(srv.cfg.logging.level, srv.cfg.logging.format,
				  srv.cfg.logging.output, errbuf, sizeof(errbuf));
	if (srv.log == NULL) {
		fprintf(stderr, "octoserve-fcgi: %s\n", errbuf);
		return 1;
	}
	if (n_unknown > 0) {
		struct octo_log_field f[] = {OCTO_LOG_STR("names", unknown)};
		octo_log(srv.log, OCTO_LOG_WARN, "not configuration variables", f, 1);
	}
	err = octo_registry_new(&srv.cfg, srv.log, &srv.reg, errbuf, sizeof(errbuf));
	if (err == OCTO_ERR_CONFIG) {
		fprintf(stderr, "octoserve-fcgi: authentication cannot start: %s\n", errbuf);
		return 1;
	}
	if (err != OCTO_OK) {
		char cause[512] = "unknown error";
		octo_fs_failure(cause, sizeof(cause));
		fprintf(stderr, "octoserve-fcgi: cannot open the store at %s: %s\n",
			srv.cfg.storage.path, cause);
		return 1;
	}
	/* Serve large transfer buffers (1 MiB per upload) from mmap and give them back at once,
	 * instead of letting every thread's arena keep them: a fixed threshold also turns off
	 * glibc's dynamic raising of it. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	if (FCGX_Init() != 0) {
		fprintf(stderr, "octoserve-fcgi: FCGX_Init failed\n");
		return 1;
	}
	if (srv.cfg.fcgi.listen != NULL && srv.cfg.fcgi.listen[0] != '\0') {
		srv.listen_fd = open_listen_socket(srv.cfg.fcgi.listen);
		srv.listen_owned = 1;
		if (srv.listen_fd < 0) {
			fprintf(stderr, "octoserve-fcgi: cannot listen on %s\n",
				srv.cfg.fcgi.listen);
			return 1;
		}
	}

	{
		/* No SA_RESTART: the wake-up must interrupt accept(2). */
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = wake_up;
		sigaction(SIGUSR2, &sa, NULL);
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* fcgi.threads workers to start with, more on demand up to fcgi.max_threads; requests
	 * with a body may take at most three quarters of them, so that GETs, HEADs and status
	 * requests always find a thread however many uploads trickle in. */
	srv.max_workers = srv.cfg.fcgi.max_threads > srv.cfg.fcgi.threads ? srv.cfg.fcgi.max_threads
									  : srv.cfg.fcgi.threads;
	srv.max_bodies = srv.max_workers * 3 / 4 > 0 ? srv.max_workers * 3 / 4 : 1;
	srv.tids = calloc((size_t)srv.max_workers, sizeof(*srv.tids));
	srv.accepting = calloc((size_t)srv.max_workers, sizeof(*srv.accepting));
	srv.transfers = calloc((size_t)srv.max_workers, sizeof(*srv.transfers));
	if (srv.tids == NULL || srv.accepting == NULL || srv.transfers == NULL)
		return 1;
	pthread_attr_init(&srv.attr);
	pthread_attr_setstacksize(&srv.attr, WORKER_STACK);
	pthread_mutex_lock(&srv.lock);
	for (i = 0; i < srv.cfg.fcgi.threads; i++)
		if (add_worker() == 0)
			started++;
	pthread_create(&sig_tid, NULL, signal_thread, &set);
	if (pthread_create(&collect_tid, NULL, collector, NULL) == 0)
		pthread_detach(collect_tid);
	if (pthread_create(&watch_tid, NULL, rate_watchdog, NULL) == 0)
		pthread_detach(watch_tid);
	{
		struct octo_log_field f[] = {{.key = "threads", .num = started, .is_num = 1},
					     {.key = "storage", .str = srv.cfg.storage.path}};
		octo_log(srv.log, OCTO_LOG_INFO, "started", f, 2);
	}
	/* Wait for the workers to leave their loops; after SIGTERM, at most shutdown_timeout. */
	while (srv.running > 0 && !srv.stopping)
		pthread_cond_wait(&srv.idle, &srv.lock);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += srv.cfg.server.shutdown_timeout_ms / 1000;
	deadline.tv_nsec += (srv.cfg.server.shutdown_timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	while (srv.running > 0)
		if (pthread_cond_timedwait(&srv.idle, &srv.lock, &deadline) == ETIMEDOUT)
			break;
	{
		struct octo_log_field f[] = {
			{.key = "unfinished", .num = srv.running, .is_num = 1}};
		octo_log(srv.log, OCTO_LOG_INFO, "stopped", f, 1);
	}
	pthread_mutex_unlock(&srv.lock);
	/* Threads still in a request past the deadline are abandoned: their sessions stay
	 * resumable on disk. _exit skips LeakSanitizer's check at exit: run it here. */
#ifdef OCTO_SANITIZERS
	__lsan_do_leak_check();
#endif
	_exit(0);
}
