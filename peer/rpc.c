/* SPDX-License-Identifier: Apache-2.0 */
/* See rpc.h. Each call is a small state machine driven by the completions of its batches:
 * ARRIVED (the call and its request message are here) → SENDING (a stream's messages, one
 * batch each) → FINISHING (status sent, close received) → freed. Every worker thread
 * requests calls of every method on its own queue, and a call's batches go to the queue that
 * took it. */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/string_util.h>
#include <grpc/support/time.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "clock.h"
#include "log.h"
#include "member.h"
#include "rpc.h"

/* The largest PEM file taken (a certificate chain or a CA bundle). */
#define PEM_MAX (1024 * 1024)

struct octo_rpc_tls {
	char *cert, *key, *ca; /* PEM text */
	/* the channels' credentials: to a member whose id is known (its certificate must name
	 * it), and to an address whose id is not known yet (any certificate of the CA) */
	grpc_channel_credentials *named, *unnamed;
};

static struct octo_logger *grpc_logger;

/* gRPC's errors (a failed handshake names its reason only there), at most one a second: a
 * refused peer retries every half second. */
static void log_grpc(gpr_log_func_args *args)
{
	static uint64_t logged_ms;
	struct octo_log_field f[] = {OCTO_LOG_STR("reason", args->message)};

	/* a server has one certificate whatever name a client asks for (a bootstrap channel
	 * asks for its address): not news */
	if (args->severity != GPR_LOG_SEVERITY_ERROR || grpc_logger == NULL ||
	    strncmp(args->message, "No match found for server name", 30) == 0)
		return;
	if (octo_clock_due(&logged_ms, octo_clock_monotonic_ms(), 1000))
		octo_log(grpc_logger, OCTO_LOG_WARN, "grpc", f, 1);
}

void octo_rpc_log_to(struct octo_logger *log)
{
	grpc_logger = log;
	gpr_set_log_function(log_grpc);
}

/* A PEM file's text; NULL with why in err. */
static char *read_pem(const char *path, char *err, size_t errsize)
{
	FILE *f = fopen(path, "r");
	char *text = f != NULL ? malloc(PEM_MAX + 1) : NULL;
	size_t n = 0;

	if (f == NULL || text == NULL) {
		snprintf(err, errsize, "%s cannot be read: %s", path,
			 f == NULL ? strerror(errno) : "no memory");
		if (f != NULL)
			fclose(f);
		return NULL;
	}
	n = fread(text, 1, PEM_MAX + 1, f);
	fclose(f);
	if (n == 0 || n > PEM_MAX) {
		snprintf(err, errsize, "%s: %s", path, n == 0 ? "empty" : "larger than 1 MiB");
		free(text);
		return NULL;
	}
	text[n] = '\0';
	return text;
}

/* The first certificate of PEM text, or NULL. */
static X509 *pem_cert(const char *text)
{
	BIO *b = BIO_new_mem_buf(text, -1);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return x;
}

/* gRPC takes bad PEM without a word and then fails every handshake: say so at start. */
static const char *pem_problem(const struct octo_rpc_tls *tls)
{
	BIO *b = BIO_new_mem_buf(tls->key, -1);
	EVP_PKEY *key = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	X509 *cert = pem_cert(tls->cert), *ca = pem_cert(tls->ca);
	const char *why = NULL;

	if (cert == NULL)
		why = "p2p.tls.cert holds no PEM certificate";
	else if (key == NULL)
		why = "p2p.tls.key holds no PEM private key";
	else if (ca == NULL)
		why = "p2p.tls.ca holds no PEM certificate";
	else if (X509_check_private_key(cert, key) != 1)
		why = "p2p.tls.key is not the key of p2p.tls.cert";
	BIO_free(b);
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(ca);
	return why;
}

/* Options with this node's key pair and the CA (each options object owns its provider). */
static grpc_tls_credentials_options *tls_options(const struct octo_rpc_tls *tls)
{
	grpc_tls_credentials_options *o = grpc_tls_credentials_options_create();
	grpc_tls_identity_pairs *pairs = grpc_tls_identity_pairs_create();
	grpc_tls_certificate_provider *p;

	grpc_tls_identity_pairs_add_pair(pairs, tls->key, tls->cert);
	p = grpc_tls_certificate_provider_static_data_create(tls->ca, pairs);
	grpc_tls_credentials_options_set_certificate_provider(o, p);
	grpc_tls_certificate_provider_release(p); /* the options hold their own reference */
	grpc_tls_credentials_options_watch_root_certs(o);
	grpc_tls_credentials_options_watch_identity_key_cert_pairs(o);
	return o;
}

/* After the CA has verified the chain: the server's certificate must name the node id the
 * channel expects, which is its target name (the override). gRPC's own host name check
 * would take wildcards and DNS names only. */
static int verify_named(void *user_data, grpc_tls_custom_verification_check_request *req,
			grpc_tls_on_custom_verification_check_done_cb cb, void *cb_arg,
			grpc_status_code *status, char **details)
{
	const char *names[OCTO_RPC_PEER_NAMES] = {NULL};
	size_t n = 0, i;

	(void)user_data;
	(void)cb;
	(void)cb_arg;
	for (i = 0; i < req->peer_info.san_names.dns_names_size && n < OCTO_RPC_PEER_NAMES; i++)
		names[n++] = req->peer_info.san_names.dns_names[i];
	for (i = 0; i < req->peer_info.san_names.uri_names_size && n < OCTO_RPC_PEER_NAMES; i++)
		names[n++] = req->peer_info.san_names.uri_names[i];
	if (req->target_name != NULL && octo_member_certified(names, n, req->target_name)) {
		*status = GRPC_STATUS_OK;
		return 1;
	}
	*status = GRPC_STATUS_UNAUTHENTICATED;
	gpr_asprintf(details, "the peer's certificate does not name node id \"%s\" (%s%s)",
		     req->target_name != NULL ? req->target_name : "",
		     n > 0 ? "it names " : "no name", n > 0 ? names[0] : "");
	return 1;
}

static void verify_nothing_to_free(void *user_data)
{
	(void)user_data;
}

static grpc_tls_certificate_verifier_external named_verifier = {.verify = verify_named,
								.destruct = verify_nothing_to_free};

void octo_rpc_tls_free(struct octo_rpc_tls *tls)
{
	if (tls == NULL)
		return;
	if (tls->named != NULL)
		grpc_channel_credentials_release(tls->named);
	if (tls->unnamed != NULL)
		grpc_channel_credentials_release(tls->unnamed);
	free(tls->cert);
	free(tls->key);
	free(tls->ca);
	free(tls);
}

/* Channel credentials over verifier (a new one: the options take it over). */
static grpc_channel_credentials *channel_credentials(const struct octo_rpc_tls *tls,
						     grpc_tls_certificate_verifier *verifier)
{
	grpc_tls_credentials_options *o = tls_options(tls);

	grpc_tls_credentials_options_set_verify_server_cert(o, 1);
	grpc_tls_credentials_options_set_certificate_verifier(o, verifier);
	grpc_tls_certificate_verifier_release(verifier);
	/* the call's host is the address, never in a certificate: the peer check did it all */
	grpc_tls_credentials_options_set_check_call_host(o, 0);
	return grpc_tls_credentials_create(o);
}

struct octo_rpc_tls *octo_rpc_tls_new(const char *cert, const char *key, const char *ca, char *err,
				      size_t errsize)
{
	struct octo_rpc_tls *tls = calloc(1, sizeof(*tls));
	const char *why;

	if (tls == NULL) {
		snprintf(err, errsize, "no memory");
		return NULL;
	}
	if ((tls->cert = read_pem(cert, err, errsize)) == NULL ||
	    (tls->key = read_pem(key, err, errsize)) == NULL ||
	    (tls->ca = read_pem(ca, err, errsize)) == NULL) {
		octo_rpc_tls_free(tls);
		return NULL;
	}
	if ((why = pem_problem(tls)) != NULL) {
		snprintf(err, errsize, "%s", why);
		octo_rpc_tls_free(tls);
		return NULL;
	}
	tls->named = channel_credentials(
		tls, grpc_tls_certificate_verifier_external_create(&named_verifier));
	/* the chain is still verified (verify_server_cert): only the name waits for the
	 * answer, whose claimed id the caller checks against the certificate */
	tls->unnamed = channel_credentials(tls, grpc_tls_certificate_verifier_no_op_create());
	return tls;
}

/* The certificate names of the other end of call, from its auth context. */
static void peer_of(grpc_call *call, struct octo_rpc_peer *peer)
{
	static const char *const kinds[] = {GRPC_PEER_DNS_PROPERTY_NAME,
					    GRPC_PEER_URI_PROPERTY_NAME};
	grpc_auth_context *ac = grpc_call_auth_context(call);
	size_t used = 0, k;

	peer->tls = 0;
	peer->n = 0;
	if (ac == NULL)
		return;
	peer->tls = grpc_auth_context_peer_is_authenticated(ac);
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		grpc_auth_property_iterator it =
			grpc_auth_context_find_properties_by_name(ac, kinds[k]);
		const grpc_auth_property *p;
		while ((p = grpc_auth_property_iterator_next(&it)) != NULL &&
		       peer->n < OCTO_RPC_PEER_NAMES) {
			if (p->value_length + 1 > sizeof(peer->buf) - used)
				break;
			memcpy(peer->buf + used, p->value, p->value_length);
			peer->buf[used + p->value_length] = '\0';
			peer->names[peer->n++] = peer->buf + used;
			used += p->value_length + 1;
		}
	}
	grpc_auth_context_release(ac);
}

/* Calls of each method waiting for a client, per worker. */
#define WAITING_PER_METHOD 4

struct worker {
	struct octo_rpc_server *srv;
	grpc_completion_queue *cq;
	pthread_t thread;
};

struct registered {
	const struct octo_rpc_method *m;
	void *handle;
};

struct octo_rpc_server {
	grpc_server *server;
	struct registered *methods;
	size_t n;
	void *ctx;
	struct worker *workers;
	int nworkers;
	atomic_int live;     /* calls accepted and not yet freed */
	int max_calls;       /* past it, a call is refused at once */
	atomic_int stopping; /* no new requests */
};

enum call_state {
	ARRIVED,
	SENDING,
	FINISHING
};

struct call {
	struct worker *w;
	struct registered *reg;
	enum call_state state;
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_byte_buffer *request;
	grpc_byte_buffer *out;
	grpc_slice details;
	int has_details, sent_initial, cancelled;
	void *stream;
};

static void request_call(struct worker *w, struct registered *reg)
{
	struct call *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return;
	c->w = w;
	c->reg = reg;
	grpc_metadata_array_init(&c->md);
	if (grpc_server_request_registered_call(w->srv->server, reg->handle, &c->call, &c->deadline,
						&c->md, &c->request, w->cq, w->cq,
						c) != GRPC_CALL_OK) {
		grpc_metadata_array_destroy(&c->md);
		free(c);
	}
}

static void free_piece(void *data)
{
	free(data);
}

/* The pieces as one message, each piece a slice that owns its bytes (no copy). */
static grpc_byte_buffer *message(struct octo_rpc_piece *piece, size_t n)
{
	grpc_slice slices[OCTO_RPC_PIECES];
	grpc_byte_buffer *bb;
	size_t i;

	for (i = 0; i < n; i++)
		slices[i] = piece[i].len > 0
				    ? grpc_slice_new(piece[i].data, piece[i].len, free_piece)
				    : grpc_empty_slice();
	for (i = 0; i < n; i++)
		if (piece[i].len == 0)
			free(piece[i].data);
	bb = grpc_raw_byte_buffer_create(slices, n);
	for (i = 0; i < n; i++)
		grpc_slice_unref(slices[i]); /* the buffer holds its own references */
	return bb;
}

static void start_batch(struct call *c, grpc_op *ops, size_t n)
{
	if (grpc_call_start_batch(c->call, ops, n, c, NULL) != GRPC_CALL_OK)
		abort(); /* only a programming error gets here: one op of a kind at a time */
}

/* Send the status (and the initial metadata if not yet sent), and wait for the close. */
static void finish(struct call *c, enum octo_rpc_status status, const char *detail,
		   grpc_byte_buffer *reply)
{
	grpc_op ops[4];
	size_t n = 0;

	memset(ops, 0, sizeof(ops));
	if (!c->sent_initial) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		c->sent_initial = 1;
	}
	if (reply != NULL) {
		c->out = reply;
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = reply;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = (grpc_status_code)status;
	if (detail != NULL) {
		c->details = grpc_slice_from_copied_string(detail);
		c->has_details = 1;
		ops[n].data.send_status_from_server.status_details = &c->details;
	}
	n++;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
	c->state = FINISHING;
	start_batch(c, ops, n);
}

/* The next message of a stream, or its end. */
static void send_next(struct call *c)
{
	struct octo_rpc_piece piece[OCTO_RPC_PIECES];
	enum octo_rpc_status status = OCTO_RPC_INTERNAL;
	const char *detail = NULL;
	grpc_op ops[2];
	size_t n = 0;
	int r;

	memset(piece, 0, sizeof(piece));
	r = c->reg->m->next(c->stream, piece, &status, &detail);
	if (r <= 0)
		return finish(c, r == 0 ? OCTO_RPC_OK : status, detail, NULL);
	memset(ops, 0, sizeof(ops));
	if (!c->sent_initial) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		c->sent_initial = 1;
	}
	c->out = message(piece, OCTO_RPC_PIECES);
	ops[n].op = GRPC_OP_SEND_MESSAGE;
	ops[n++].data.send_message.send_message = c->out;
	c->state = SENDING;
	start_batch(c, ops, n);
}

/* A message as one contiguous copy (requests and unary replies are small). */
static uint8_t *request_bytes(grpc_byte_buffer *bb, size_t *len)
{
	grpc_byte_buffer_reader r;
	grpc_slice all;
	uint8_t *out;

	*len = 0;
	if (bb == NULL || !grpc_byte_buffer_reader_init(&r, bb))
		return NULL;
	all = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	*len = GRPC_SLICE_LENGTH(all);
	out = malloc(*len + 1);
	if (out != NULL)
		memcpy(out, GRPC_SLICE_START_PTR(all), *len);
	grpc_slice_unref(all);
	return out;
}

static void arrived(struct call *c)
{
	const struct octo_rpc_method *m = c->reg->m;
	struct octo_rpc_piece reply = {NULL, 0};
	struct octo_rpc_peer peer;
	enum octo_rpc_status status;
	const char *detail = NULL;
	size_t len;
	uint8_t *req = request_bytes(c->request, &len);

	if (req == NULL)
		return finish(c, OCTO_RPC_INVALID_ARGUMENT, "no request message", NULL);
	peer_of(c->call, &peer);
	if (m->unary != NULL) {
		status = m->unary(c->w->srv->ctx, &peer, req, len, &reply, &detail);
		free(req);
		if (status != OCTO_RPC_OK) {
			free(reply.data);
			return finish(c, status, detail, NULL);
		}
		return finish(c, OCTO_RPC_OK, NULL, message(&reply, 1));
	}
	status = m->open(c->w->srv->ctx, &peer, req, len, &c->stream, &detail);
	free(req);
	if (status != OCTO_RPC_OK) {
		c->stream = NULL;
		return finish(c, status, detail, NULL);
	}
	send_next(c);
}

static void call_free(struct call *c)
{
	if (c->stream != NULL)
		c->reg->m->close(c->stream);
	if (c->out != NULL)
		grpc_byte_buffer_destroy(c->out);
	if (c->request != NULL)
		grpc_byte_buffer_destroy(c->request);
	if (c->has_details)
		grpc_slice_unref(c->details);
	grpc_metadata_array_destroy(&c->md);
	if (c->call != NULL)
		grpc_call_unref(c->call);
	free(c);
}

static void advance(struct call *c, int success)
{
	struct octo_rpc_server *srv = c->w->srv;

	switch (c->state) {
	case ARRIVED:
		if (!success) { /* the server is shutting down: no call came */
			call_free(c);
			return;
		}
		if (!atomic_load(&srv->stopping))
			request_call(c->w, c->reg); /* the next one of this method */
		if (atomic_fetch_add(&srv->live, 1) >= srv->max_calls)
			return finish(c, OCTO_RPC_RESOURCE_EXHAUSTED,
				      "too many calls at once (p2p.transport.max_connections)",
				      NULL);
		arrived(c);
		return;
	case SENDING:
		grpc_byte_buffer_destroy(c->out);
		c->out = NULL;
		if (!success) /* the client went away or the deadline passed */
			return finish(c, OCTO_RPC_UNAVAILABLE, "the message could not be sent",
				      NULL);
		send_next(c);
		return;
	case FINISHING:
		call_free(c);
		atomic_fetch_sub(&srv->live, 1);
		return;
	}
}

static void *work(void *arg)
{
	struct worker *w = arg;

	for (;;) {
		grpc_event ev =
			grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE)
			advance(ev.tag, ev.success);
	}
	return NULL;
}

/* Mutual TLS: the client's certificate is required and verified against the CA. */
static grpc_server_credentials *server_credentials(const struct octo_rpc_tls *tls)
{
	grpc_tls_credentials_options *o;

	if (tls == NULL)
		return grpc_insecure_server_credentials_create();
	o = tls_options(tls);
	grpc_tls_credentials_options_set_cert_request_type(
		o, GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
	return grpc_tls_server_credentials_create(o);
}

int octo_rpc_server_start(const char *addr, const struct octo_rpc_tls *tls,
			  const struct octo_rpc_method *methods, size_t n, void *ctx, int threads,
			  int max_message, int max_calls, long idle_ms,
			  struct octo_rpc_server **out, int *port)
{
	grpc_arg args[3] = {
		{GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = max_message}},
		{GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = max_message}},
		/* a connection without a call that long is closed (GOAWAY): a peer gone quiet,
		 * or a client that connected and left, holds no socket and no memory here */
		{GRPC_ARG_INTEGER,
		 GRPC_ARG_MAX_CONNECTION_IDLE_MS,
		 {.integer = idle_ms > INT_MAX ? INT_MAX : (int)idle_ms}}};
	grpc_channel_args chargs = {idle_ms > 0 ? 3 : 2, args};
	struct octo_rpc_server *srv = calloc(1, sizeof(*srv));
	grpc_server_credentials *creds;
	int i, k;
	size_t j;

	if (srv == NULL)
		return -1;
	srv->ctx = ctx;
	srv->max_calls = max_calls;
	srv->n = n;
	srv->nworkers = threads;
	srv->methods = calloc(n, sizeof(*srv->methods));
	srv->workers = calloc((size_t)threads, sizeof(*srv->workers));
	if (srv->methods == NULL || srv->workers == NULL) {
		free(srv->methods);
		free(srv->workers);
		free(srv);
		return -1;
	}
	srv->server = grpc_server_create(&chargs, NULL);
	for (j = 0; j < n; j++) {
		srv->methods[j].m = &methods[j];
		srv->methods[j].handle =
			grpc_server_register_method(srv->server, methods[j].path, NULL,
						    GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
	}
	for (i = 0; i < threads; i++) {
		srv->workers[i].srv = srv;
		srv->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
		grpc_server_register_completion_queue(srv->server, srv->workers[i].cq, NULL);
	}
	creds = server_credentials(tls);
	*port = grpc_server_add_http2_port(srv->server, addr, creds);
	grpc_server_credentials_release(creds);
	if (*port == 0) {
		grpc_server_destroy(srv->server);
		for (i = 0; i < threads; i++) {
			grpc_completion_queue_shutdown(srv->workers[i].cq);
			while (grpc_completion_queue_next(srv->workers[i].cq,
							  gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
				       .type != GRPC_QUEUE_SHUTDOWN)
				;
			grpc_completion_queue_destroy(srv->workers[i].cq);
		}
		free(srv->methods);
		free(srv->workers);
		free(srv);
		return -1;
	}
	grpc_server_start(srv->server);
	for (i = 0; i < threads; i++) {
		for (j = 0; j < n; j++)
			for (k = 0; k < WAITING_PER_METHOD; k++)
				request_call(&srv->workers[i], &srv->methods[j]);
		pthread_create(&srv->workers[i].thread, NULL, work, &srv->workers[i]);
	}
	*out = srv;
	return 0;
}

void octo_rpc_server_stop(struct octo_rpc_server *srv, long grace_ms)
{
	grpc_completion_queue *done = grpc_completion_queue_create_for_pluck(NULL);
	grpc_event ev;
	int i;

	atomic_store(&srv->stopping, 1);
	grpc_server_shutdown_and_notify(srv->server, done, srv);
	ev = grpc_completion_queue_pluck(done, srv,
					 gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
						      gpr_time_from_millis(grace_ms, GPR_TIMESPAN)),
					 NULL);
	if (ev.type == GRPC_QUEUE_TIMEOUT) {
		grpc_server_cancel_all_calls(srv->server);
		grpc_completion_queue_pluck(done, srv, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	}
	/* Queues are shut down only once no call needs them (else grpc aborts). */
	while (atomic_load(&srv->live) > 0)
		gpr_sleep_until(gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
					     gpr_time_from_millis(5, GPR_TIMESPAN)));
	grpc_server_destroy(srv->server);
	for (i = 0; i < srv->nworkers; i++) {
		grpc_completion_queue_shutdown(srv->workers[i].cq);
		pthread_join(srv->workers[i].thread, NULL);
		grpc_completion_queue_destroy(srv->workers[i].cq);
	}
	grpc_completion_queue_shutdown(done);
	grpc_completion_queue_destroy(done);
	free(srv->methods);
	free(srv->workers);
	free(srv);
}

struct octo_rpc_channel {
	grpc_channel *channel;
};

struct octo_rpc_channel *octo_rpc_channel_new(const char *target, const char *id,
					      const struct octo_rpc_tls *tls, int max_message,
					      long reconnect_ms)
{
	grpc_arg args[6] = {
		{GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = max_message}},
		{GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = max_message}},
		{GRPC_ARG_INTEGER,
		 GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
		 {.integer = (int)reconnect_ms}},
		{GRPC_ARG_INTEGER,
		 GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
		 {.integer = (int)reconnect_ms}},
		{GRPC_ARG_INTEGER,
		 GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
		 {.integer = (int)reconnect_ms}},
		/* the name the server's certificate must carry (and the SNI it is sent) */
		{GRPC_ARG_STRING, GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, {.string = (char *)id}}};
	int named = tls != NULL && id != NULL && id[0] != '\0';
	grpc_channel_args chargs = {named ? 6 : 5, args};
	struct octo_rpc_channel *ch = calloc(1, sizeof(*ch));
	grpc_channel_credentials *creds;

	if (ch == NULL)
		return NULL;
	if (tls == NULL) {
		creds = grpc_insecure_credentials_create();
		ch->channel = grpc_channel_create(target, creds, &chargs);
		grpc_channel_credentials_release(creds);
	} else {
		ch->channel =
			grpc_channel_create(target, named ? tls->named : tls->unnamed, &chargs);
	}
	return ch;
}

void octo_rpc_channel_free(struct octo_rpc_channel *ch)
{
	if (ch == NULL)
		return;
	grpc_channel_destroy(ch->channel);
	free(ch);
}

/* ms from now. */
static gpr_timespec idle_after(long ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* A client call on its own pluck queue: begun with its request sent, ended once. */
struct client_call {
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_byte_buffer *request;
	grpc_metadata_array initial, trailing;
	grpc_slice details;
	grpc_status_code status;
};

/* Create the call and start, as one batch, sending the request and first ops more (n of
 * them, up to 3). 0, or -1 if the batch could not start. */
static int client_begin(struct client_call *cc, struct octo_rpc_channel *ch, const char *path,
			const void *req, size_t len, gpr_timespec deadline, const grpc_op *more,
			size_t n)
{
	grpc_slice body = grpc_slice_from_copied_buffer(req, len);
	grpc_op ops[6];

	cc->cq = grpc_completion_queue_create_for_pluck(NULL);
	cc->call =
		grpc_channel_create_call(ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cc->cq,
					 grpc_slice_from_static_string(path), NULL, deadline, NULL);
	cc->request = grpc_raw_byte_buffer_create(&body, 1);
	grpc_slice_unref(body);
	grpc_metadata_array_init(&cc->initial);
	grpc_metadata_array_init(&cc->trailing);
	cc->details = grpc_empty_slice();
	cc->status = GRPC_STATUS_UNKNOWN;
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = cc->request;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	memcpy(ops + 3, more, n * sizeof(*more));
	return grpc_call_start_batch(cc->call, ops, 3 + n, cc, NULL) == GRPC_CALL_OK ? 0 : -1;
}

/* Wait for the batch tagged cc until deadline: 1 done, 0 timed out. */
static int client_wait(struct client_call *cc, gpr_timespec deadline)
{
	return grpc_completion_queue_pluck(cc->cq, cc, deadline, NULL).type == GRPC_OP_COMPLETE;
}

static void recv_status_op(struct client_call *cc, grpc_op *op)
{
	memset(op, 0, sizeof(*op));
	op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	op->data.recv_status_on_client.trailing_metadata = &cc->trailing;
	op->data.recv_status_on_client.status = &cc->status;
	op->data.recv_status_on_client.status_details = &cc->details;
}

static enum octo_rpc_status client_end(struct client_call *cc, char *detail, size_t size)
{
	if (detail != NULL && size > 0) {
		size_t n = GRPC_SLICE_LENGTH(cc->details) < size - 1
				   ? GRPC_SLICE_LENGTH(cc->details)
				   : size - 1;
		memcpy(detail, GRPC_SLICE_START_PTR(cc->details), n);
		detail[n] = '\0';
	}
	grpc_slice_unref(cc->details);
	grpc_byte_buffer_destroy(cc->request);
	grpc_metadata_array_destroy(&cc->initial);
	grpc_metadata_array_destroy(&cc->trailing);
	grpc_call_unref(cc->call);
	grpc_completion_queue_shutdown(cc->cq);
	while (grpc_completion_queue_pluck(cc->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
		       .type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cc->cq);
	return (enum octo_rpc_status)cc->status;
}

enum octo_rpc_status octo_rpc_call(struct octo_rpc_channel *ch, const char *path, const void *req,
				   size_t len, long timeout_ms, uint8_t **reply, size_t *reply_len,
				   char *detail, size_t detail_size, struct octo_rpc_peer *peer)
{
	gpr_timespec deadline = idle_after(timeout_ms);
	grpc_byte_buffer *response = NULL;
	struct client_call cc;
	grpc_op ops[3];

	*reply = NULL;
	*reply_len = 0;
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[0].data.recv_initial_metadata.recv_initial_metadata = &cc.initial;
	ops[1].op = GRPC_OP_RECV_MESSAGE;
	ops[1].data.recv_message.recv_message = &response;
	recv_status_op(&cc, &ops[2]);
	if (client_begin(&cc, ch, path, req, len, deadline, ops, 3) == 0)
		client_wait(&cc, gpr_inf_future(GPR_CLOCK_REALTIME)); /* the deadline ends it */
	if (cc.status == GRPC_STATUS_OK && response != NULL) {
		*reply = request_bytes(response, reply_len);
		if (*reply == NULL)
			cc.status = GRPC_STATUS_RESOURCE_EXHAUSTED;
	} else if (cc.status == GRPC_STATUS_OK) {
		cc.status = GRPC_STATUS_INTERNAL; /* a unary call answered without a message */
	}
	if (response != NULL)
		grpc_byte_buffer_destroy(response);
	if (peer != NULL)
		peer_of(cc.call, peer);
	return client_end(&cc, detail, detail_size);
}

/* The peer went quiet: end the call, and wait for the batch in flight to finish. 0. */
static int idle_cancel(struct client_call *cc)
{
	grpc_call_cancel_with_status(cc->call, GRPC_STATUS_DEADLINE_EXCEEDED,
				     "no message within the idle timeout", NULL);
	client_wait(cc, gpr_inf_future(GPR_CLOCK_REALTIME));
	return 0;
}

enum octo_rpc_status octo_rpc_call_stream(
	struct octo_rpc_channel *ch, const char *path, const void *req, size_t len, long idle_ms,
	int (*on_message)(void *ctx, const uint8_t *msg, size_t len), void *ctx, int *stopped)
{
	struct client_call cc;
	grpc_op op;
	int ok;

	*stopped = 0;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_INITIAL_METADATA;
	op.data.recv_initial_metadata.recv_initial_metadata = &cc.initial;
	ok = client_begin(&cc, ch, path, req, len, gpr_inf_future(GPR_CLOCK_REALTIME), &op, 1) == 0;
	if (ok && !client_wait(&cc, idle_after(idle_ms)))
		ok = idle_cancel(&cc);
	while (ok) {
		gpr_timespec idle = idle_after(idle_ms);
		grpc_byte_buffer *msg = NULL;
		grpc_byte_buffer_reader r;
		grpc_slice all;
		int stop;

		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_RECV_MESSAGE;
		op.data.recv_message.recv_message = &msg;
		if (grpc_call_start_batch(cc.call, &op, 1, &cc, NULL) != GRPC_CALL_OK)
			break;
		if (!client_wait(&cc, idle)) {
			idle_cancel(&cc);
			if (msg != NULL)
				grpc_byte_buffer_destroy(msg);
			break;
		}
		if (msg == NULL) /* the stream's end (or its failure: the status says) */
			break;
		if (!grpc_byte_buffer_reader_init(&r, msg)) {
			grpc_byte_buffer_destroy(msg);
			break;
		}
		all = grpc_byte_buffer_reader_readall(&r);
		grpc_byte_buffer_reader_destroy(&r);
		grpc_byte_buffer_destroy(msg);
		stop = on_message(ctx, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all));
		grpc_slice_unref(all);
		if (stop) {
			*stopped = 1;
			grpc_call_cancel(cc.call, NULL);
			break;
		}
	}
	recv_status_op(&cc, &op);
	if (grpc_call_start_batch(cc.call, &op, 1, &cc, NULL) == GRPC_CALL_OK)
		client_wait(&cc, gpr_inf_future(GPR_CLOCK_REALTIME));
	return client_end(&cc, NULL, 0);
}
