/* SPDX-License-Identifier: Apache-2.0 */
/* The ceiling the eager replication figures are held against (issue 13, `make bench`): the
 * bytes of a blob over a bare gRPC server stream between two processes, on the daemon's own
 * rpc module (peer/rpc.c), in 1 MiB messages, hashed (sha256), written and fdatasynced on
 * the receiver, as a fetch does, without the store, the journal or the protocol around.
 *
 *   grpc-ceiling serve MIB [CERT KEY CA]   serve MIB random MiB on a free loopback port
 *                                          (printed), until stdin closes
 *   grpc-ceiling fetch ADDR MIB FILE [CERT KEY CA ID]
 *                                          take them into FILE over a channel already
 *                                          connected (as a daemon's is); print the seconds
 *                                          from the call to the fdatasync's return */
#include "autoconfig.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>

#include "rpc.h"

#define CHUNK (1024 * 1024)
#define PATH "/octoserve.bench.Ceiling/Stream"

static uint8_t *source;
static size_t source_len;

struct stream {
	size_t offset, end;
};

static enum octo_rpc_status open_stream(void *ctx, const struct octo_rpc_peer *peer,
					const uint8_t *req, size_t len, void **out,
					const char **detail)
{
	struct stream *s = calloc(1, sizeof(*s));

	(void)ctx, (void)peer, (void)detail;
	if (s == NULL)
		return OCTO_RPC_RESOURCE_EXHAUSTED;
	/* the request: "1" for the bytes, anything else for none (a call that warms the
	 * channel: connection and handshake are not what is measured) */
	s->end = len == 1 && req[0] == '1' ? source_len : 0;
	*out = s;
	return OCTO_RPC_OK;
}

static int next(void *stream, struct octo_rpc_piece piece[OCTO_RPC_PIECES],
		enum octo_rpc_status *status, const char **detail)
{
	struct stream *s = stream;
	size_t n = s->end - s->offset < CHUNK ? s->end - s->offset : CHUNK;

	if (n == 0)
		return 0;
	piece[0].data = malloc(n);
	if (piece[0].data == NULL) {
		*status = OCTO_RPC_RESOURCE_EXHAUSTED;
		*detail = "no memory";
		return -1;
	}
	/* a copy, as the daemon reads each chunk from its file */
	memcpy(piece[0].data, source + s->offset, n);
	piece[0].len = n;
	s->offset += n;
	return 1;
}

static void close_stream(void *stream)
{
	free(stream);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct receive {
	EVP_MD_CTX *md;
	int fd;
	size_t got;
};

static int on_message(void *ctx, const uint8_t *msg, size_t len)
{
	struct receive *r = ctx;

	EVP_DigestUpdate(r->md, msg, len);
	r->got += len;
	return write(r->fd, msg, len) == (ssize_t)len ? 0 : 1;
}

static struct octo_rpc_tls *tls_from(int argc, char **argv, int at)
{
	char err[256];
	struct octo_rpc_tls *tls;

	if (argc <= at + 2)
		return NULL;
	tls = octo_rpc_tls_new(argv[at], argv[at + 1], argv[at + 2], err, sizeof(err));
	if (tls == NULL) {
		fprintf(stderr, "grpc-ceiling: %s\n", err);
		exit(1);
	}
	return tls;
}

static int serve(int argc, char **argv)
{
	static const struct octo_rpc_method methods[] = {
		{.path = PATH, .open = open_stream, .next = next, .close = close_stream}};
	struct octo_rpc_tls *tls = tls_from(argc, argv, 3);
	struct octo_rpc_server *srv;
	char buf[16];
	int port;
	size_t i;

	source_len = (size_t)atol(argv[2]) * CHUNK;
	source = malloc(source_len + 1);
	if (source == NULL)
		return 1;
	for (i = 0; i < source_len; i++)
		source[i] = (uint8_t)(i * 2654435761u >> 13);
	if (octo_rpc_server_start("127.0.0.1:0", tls, methods, 1, NULL, 2, 2 * CHUNK, 16, 0, &srv,
				  &port) != 0)
		return 1;
	printf("%d\n", port);
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	octo_rpc_server_stop(srv, 1000);
	return 0;
}

static int fetch(int argc, char **argv)
{
	struct octo_rpc_tls *tls = tls_from(argc, argv, 5);
	struct octo_rpc_channel *ch =
		octo_rpc_channel_new(argv[2], argc > 8 ? argv[8] : NULL, tls, 2 * CHUNK, 1000);
	struct receive r = {.md = EVP_MD_CTX_new()};
	size_t want = (size_t)atol(argv[3]) * CHUNK;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	double t0;
	int stopped = 0;
	enum octo_rpc_status st;

	r.fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ch == NULL || r.md == NULL || r.fd < 0 ||
	    EVP_DigestInit_ex(r.md, EVP_sha256(), NULL) != 1)
		return 1;
	st = octo_rpc_call_stream(ch, PATH, "0", 1, 10000, on_message, &r, &stopped);
	if (st != OCTO_RPC_OK)
		return 1;
	t0 = now_s();
	st = octo_rpc_call_stream(ch, PATH, "1", 1, 10000, on_message, &r, &stopped);
	if (st != OCTO_RPC_OK || stopped || r.got != want || fdatasync(r.fd) != 0) {
		fprintf(stderr, "grpc-ceiling: the stream failed (status %d, %zu bytes)\n", st,
			r.got);
		return 1;
	}
	EVP_DigestFinal_ex(r.md, md, &mdlen);
	printf("%.4f\n", now_s() - t0);
	close(r.fd);
	return 0;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc >= 3 && strcmp(argv[1], "serve") == 0) {
		grpc_init();
		rc = serve(argc, argv);
	} else if (argc >= 5 && strcmp(argv[1], "fetch") == 0) {
		grpc_init();
		rc = fetch(argc, argv);
	} else {
		fprintf(stderr, "usage: grpc-ceiling serve MIB [CERT KEY CA]\n"
				"       grpc-ceiling fetch ADDR MIB FILE [CERT KEY CA ID]\n");
		return 2;
	}
	return rc; /* grpc_shutdown may block after cancels: the exit frees all */
}
