/* SPDX-License-Identifier: Apache-2.0 */
/* null-responder: the do-nothing FastCGI responder of the benchmark's ceilings (issue 5).
 *
 * It runs like fcgi/main.c: N threads on FCGX_Accept_r, on the socket the web server passes
 * on fd 0 (lighttpd bin-path) or on its own (-l unix:/path or -l host:port, for nginx and
 * Apache). Every request gets a small fixed reply with the headers a registry client looks
 * at; request bodies are read in 64 KiB FCGX_GetStr chunks and dropped:
 *   GET/HEAD/DELETE        200, a fixed 67-byte JSON body, its Docker-Content-Digest
 *   GET ...?size=N         the same headers, N bytes of body (at most PAD_MAX): the ceiling
 *                          for a reply as long as the registry's (tags/list, a manifest)
 *   POST without ?digest=  202, Location /v2/null/blobs/uploads/null, Range 0-0
 *   PATCH                  202, same Location, Range 0-<end of the Content-Range or of the body>
 *   PUT, POST ?digest=D    201, Docker-Content-Digest D (echoed: nothing is hashed or stored)
 * usage: null-responder [-t THREADS] [-l unix:/path | host:port]
 * Build: gcc -O2 -Wall -o null-responder null-responder.c -lfcgi -lpthread */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define PAD_MAX (1024 * 1024)

static const char BODY[] =
	"{\"schemaVersion\":2,\"null\":\"octoserve bench ceiling: a fixed reply\"}";
static const char BODY_DIGEST[] =
	"sha256:0d050bc208831cfaa81b553841e9d40f8f60432083d5f0a3e623cac6d829a2b7";
static const char LOCATION[] = "/v2/null/blobs/uploads/null";

static int listen_fd = 0;

/* libfcgi's own SIGTERM handler only sets a flag that threads blocked in accept(2) never
 * see; the front (lighttpd stopping its bin-path children) or the bench expects an exit. */
static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

/* Read the body to its end; the number of bytes, or -1 when the front reports an error
 * (client gone). */
static long long drain(FCGX_Stream *in)
{
	static __thread char buf[CHUNK];
	long long total = 0;
	int n;

	while ((n = FCGX_GetStr(buf, CHUNK, in)) > 0)
		total += n;
	return FCGX_GetError(in) == 0 ? total : -1;
}

/* The value of key (with its '=') in a query string, copied into out (empty when there is
 * none). */
static void query_value(const char *qs, const char *key, char *out, size_t size)
{
	const char *p = qs;
	size_t klen = strlen(key);

	out[0] = '\0';
	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, klen) == 0) {
			size_t n = strcspn(p + klen, "&");
			if (n >= size)
				n = size - 1;
			memcpy(out, p + klen, n);
			out[n] = '\0';
			/* sha256%3A... as a client may encode the colon */
			char *c = strstr(out, "%3A");
			if (c == NULL)
				c = strstr(out, "%3a");
			if (c != NULL) {
				*c = ':';
				memmove(c + 1, c + 3, strlen(c + 3) + 1);
			}
			return;
		}
		p = strchr(p, '&');
		if (p != NULL)
			p++;
	}
}

static void serve(FCGX_Request *r)
{
	const char *method = FCGX_GetParam("REQUEST_METHOD", r->envp);
	const char *qs = FCGX_GetParam("QUERY_STRING", r->envp);
	const char *uri = FCGX_GetParam("REQUEST_URI", r->envp);
	char digest[160];
	long long got;

	if (method == NULL)
		method = "GET";
	if (qs == NULL || qs[0] == '\0') {
		const char *q = uri != NULL ? strchr(uri, '?') : NULL;
		qs = q != NULL ? q + 1 : "";
	}
	got = drain(r->in);
	if (got < 0)
		return; /* the client went away: nobody to answer */
	query_value(qs, "digest=", digest, sizeof(digest));

	if (strcmp(method, "PUT") == 0 || (strcmp(method, "POST") == 0 && digest[0] != '\0')) {
		FCGX_FPrintF(r->out,
			     "Status: 201 Created\r\nDocker-Content-Digest: %s\r\n"
			     "Location: /v2/null/blobs/%s\r\nContent-Length: 0\r\n\r\n",
			     digest[0] != '\0' ? digest : BODY_DIGEST,
			     digest[0] != '\0' ? digest : BODY_DIGEST);
	} else if (strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0) {
		long long end = got > 0 ? got - 1 : 0;
		const char *cr = FCGX_GetParam("HTTP_CONTENT_RANGE", r->envp);
		if (cr != NULL) { /* "start-end" or "bytes start-end/total" */
			const char *dash = strchr(cr, '-');
			if (dash != NULL)
				end = strtoll(dash + 1, NULL, 10);
		}
		FCGX_FPrintF(r->out,
			     "Status: 202 Accepted\r\nLocation: %s\r\nRange: 0-%lld\r\n"
			     "Docker-Upload-UUID: null\r\nContent-Length: 0\r\n\r\n",
			     LOCATION, end);
	} else {
		static char pad[PAD_MAX];
		const char *body = BODY;
		char size[16];
		int len = (int)(sizeof(BODY) - 1);

		query_value(qs, "size=", size, sizeof(size));
		if (size[0] != '\0') {
			len = atoi(size);
			len = len < 0 ? 0 : len > PAD_MAX ? PAD_MAX : len;
			body = pad; /* zeros: nobody reads it but the length check */
		}
		FCGX_FPrintF(
			r->out,
			"Status: 200 OK\r\nContent-Type: application/json\r\n"
			"Docker-Content-Digest: %s\r\nDocker-Distribution-API-Version: registry/2.0\r\n"
			"Content-Length: %d\r\n\r\n",
			BODY_DIGEST, len);
		if (strcmp(method, "HEAD") != 0)
			FCGX_PutStr(body, len, r->out);
	}
}

static void *worker(void *arg)
{
	FCGX_Request r;

	(void)arg;
	FCGX_InitRequest(&r, listen_fd, 0);
	while (FCGX_Accept_r(&r) >= 0) {
		serve(&r);
		FCGX_Finish_r(&r);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = 8, i, opt;
	const char *listen = NULL;
	pthread_t *tids;

	while ((opt = getopt(argc, argv, "t:l:h")) != -1) {
		switch (opt) {
		case 't':
			threads = atoi(optarg);
			break;
		case 'l':
			listen = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: null-responder [-t THREADS] [-l unix:/path | host:port]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (threads < 1)
		threads = 1;
	if (FCGX_Init() != 0) {
		fprintf(stderr, "null-responder: FCGX_Init failed\n");
		return 1;
	}
	if (listen != NULL) {
		const char *path = strncmp(listen, "unix:", 5) == 0 ? listen + 5 : listen;
		if (path[0] == '/')
			unlink(path);
		listen_fd = FCGX_OpenSocket(path, 128);
		if (listen_fd < 0) {
			fprintf(stderr, "null-responder: cannot listen on %s\n", listen);
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	tids = calloc((size_t)threads, sizeof(*tids));
	if (tids == NULL)
		return 1;
	for (i = 0; i < threads; i++)
		pthread_create(&tids[i], NULL, worker, NULL);
	for (i = 0; i < threads; i++)
		pthread_join(tids[i], NULL);
	return 0;
}
