/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's gRPC server, the only module of peer/ that touches grpc_*: completion queues
 * (one per worker thread, so a call's events all arrive on one thread and its state needs no
 * lock), a state machine per call, deadlines and shutdown (doc/notes/grpc-c-core.md).
 * Methods are unary or server-streaming; their handlers see request bytes and give reply
 * pieces, never a gRPC object. */
#ifndef OCTO_PEER_RPC_H
#define OCTO_PEER_RPC_H

#include <stddef.h>
#include <stdint.h>

/* gRPC status codes the handlers answer with. */
enum octo_rpc_status {
	OCTO_RPC_OK = 0,
	OCTO_RPC_INVALID_ARGUMENT = 3,
	OCTO_RPC_DEADLINE_EXCEEDED = 4,
	OCTO_RPC_NOT_FOUND = 5,
	OCTO_RPC_PERMISSION_DENIED = 7,
	OCTO_RPC_RESOURCE_EXHAUSTED = 8,
	OCTO_RPC_INTERNAL = 13,
	OCTO_RPC_UNAVAILABLE = 14,
};

/* Who is at the other end of a call, as its certificate says: the DNS and URI subject
 * alternative names (none over plaintext). */
#define OCTO_RPC_PEER_NAMES 16
struct octo_rpc_peer {
	int tls; /* the call came over TLS with a certificate the CA signed */
	size_t n;
	const char *names[OCTO_RPC_PEER_NAMES]; /* into buf */
	char buf[1024];
};

/* Mutual TLS for the server and every channel: this node's certificate and key and the CA
 * that signs every member's, PEM files read (and checked: each parses, the key is the
 * certificate's) at once. NULL with why in err. After grpc_init. */
struct octo_rpc_tls;
struct octo_rpc_tls *octo_rpc_tls_new(const char *cert, const char *key, const char *ca, char *err,
				      size_t errsize);
void octo_rpc_tls_free(struct octo_rpc_tls *tls);

/* gRPC's own log lines (a TLS handshake that failed, say) go to log, as warnings. */
struct octo_logger;
void octo_rpc_log_to(struct octo_logger *log);

/* A piece of a message: len bytes at data, released with free(3) once sent. A message is up
 * to OCTO_RPC_PIECES of them, sent one after the other without being copied together. */
#define OCTO_RPC_PIECES 2
struct octo_rpc_piece {
	void *data;
	size_t len;
};

struct octo_rpc_method {
	const char *path; /* "/octoserve.peer.v1.Peer/Health" */
	/* Unary: the reply into reply[0]; the status, with a detail for the caller (peer: who
	 * called). */
	enum octo_rpc_status (*unary)(void *ctx, const struct octo_rpc_peer *peer,
				      const uint8_t *req, size_t len, struct octo_rpc_piece *reply,
				      const char **detail);
	/* Server-streaming (unary NULL): open a stream for the request, then next() fills one
	 * message at a time (1), ends it (0) or fails it (-1, with *status and *detail); close
	 * is called once whatever happened (the client may have gone). */
	enum octo_rpc_status (*open)(void *ctx, const struct octo_rpc_peer *peer,
				     const uint8_t *req, size_t len, void **stream,
				     const char **detail);
	int (*next)(void *stream, struct octo_rpc_piece piece[OCTO_RPC_PIECES],
		    enum octo_rpc_status *status, const char **detail);
	void (*close)(void *stream);
};

struct octo_rpc_server;

/* Serve methods (n of them, ctx passed to each handler) on addr ("127.0.0.1:6000"; port 0
 * picks one, returned in *port) with threads workers; messages up to max_message bytes
 * both ways; at most max_calls calls at once (more are answered RESOURCE_EXHAUSTED at once);
 * a connection idle (no call) for idle_ms is closed (0: never);
 * over mutual TLS when tls is not NULL (a client without a certificate of the CA fails its
 * handshake and never reaches a handler). 0, or -1 (the address could not be bound). */
int octo_rpc_server_start(const char *addr, const struct octo_rpc_tls *tls,
			  const struct octo_rpc_method *methods, size_t n, void *ctx, int threads,
			  int max_message, int max_calls, long idle_ms,
			  struct octo_rpc_server **out, int *port);
/* Stop taking calls, let those in flight finish for grace_ms, cancel the rest, wait for
 * every call and worker, and free the server. */
void octo_rpc_server_stop(struct octo_rpc_server *srv, long grace_ms);

/* A client channel to one peer (target "host:port"), reconnecting within reconnect_ms
 * after a failure (gRPC's own backoff grows to two minutes: a peer back from a restart
 * would stay unseen that long). With tls, over mutual TLS: the server's certificate must
 * come from the CA and, when its node id is known (id not NULL), name that id (the id is
 * the target name override); a channel to an address whose id is not known yet takes any
 * certificate of the CA, and its caller checks the names against the id the peer claims
 * (octo_rpc_call's peer). NULL when out of memory. */
struct octo_rpc_channel;
struct octo_rpc_channel *octo_rpc_channel_new(const char *target, const char *id,
					      const struct octo_rpc_tls *tls, int max_message,
					      long reconnect_ms);
void octo_rpc_channel_free(struct octo_rpc_channel *ch);
/* A unary call of method path with the request bytes, bounded by timeout_ms: its status,
 * and on OCTO_RPC_OK the reply (malloc'd, *reply_len bytes); the status's detail into
 * detail (may be NULL); who answered into peer (may be NULL). A peer that is not there is
 * OCTO_RPC_UNAVAILABLE or OCTO_RPC_DEADLINE_EXCEEDED. */
enum octo_rpc_status octo_rpc_call(struct octo_rpc_channel *ch, const char *path, const void *req,
				   size_t len, long timeout_ms, uint8_t **reply, size_t *reply_len,
				   char *detail, size_t detail_size, struct octo_rpc_peer *peer);
/* A server-streaming call of method path: each message's bytes go to on_message(ctx, msg,
 * len), which returns nonzero to stop the call there (*stopped then 1); every message is
 * awaited at most idle_ms, so a peer that goes quiet mid-stream ends the call
 * (OCTO_RPC_DEADLINE_EXCEEDED) however long the whole stream takes. The call's status. */
enum octo_rpc_status octo_rpc_call_stream(
	struct octo_rpc_channel *ch, const char *path, const void *req, size_t len, long idle_ms,
	int (*on_message)(void *ctx, const uint8_t *msg, size_t len), void *ctx, int *stopped);

#endif
