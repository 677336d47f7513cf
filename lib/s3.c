/* SPDX-License-Identifier: Apache-2.0 */
/* See s3.h. */
#include "autoconfig.h"

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "request.h"
#include "s3.h"

#define IDLE_HANDLES 32         /* kept between requests, with their connections */
#define BODY_PIECE (512 * 1024) /* what curl reads or sends at once */

struct octo_s3 {
	char *endpoint; /* without a trailing '/' */
	char *region, *bucket, *prefix, *access_key, *secret_key, *userpwd, *sigv4;
	int path_style;
	long timeout_ms;
	int retries;
	uint64_t copy_max;
	int curl_inited;
	pthread_mutex_t lock; /* of the idle handles */
	CURL *idle[IDLE_HANDLES];
	int n_idle;
};

static char *dup_or_empty(const char *s)
{
	return strdup(s != NULL ? s : "");
}

enum octo_err octo_s3_open(const struct octo_s3_options *o, struct octo_s3 **out)
{
	struct octo_s3 *s = calloc(1, sizeof(*s));
	size_t n;

	*out = NULL;
	if (s == NULL)
		return OCTO_ERR_NOMEM;
	/* once, before any thread makes a request: both are counted or idempotent */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(s);
		return OCTO_ERR_NOMEM;
	}
	s->curl_inited = 1;
	pthread_mutex_init(&s->lock, NULL);
	xmlInitParser();
	s->endpoint = dup_or_empty(o->endpoint);
	s->region = dup_or_empty(o->region);
	s->bucket = dup_or_empty(o->bucket);
	s->prefix = dup_or_empty(o->prefix);
	s->access_key = dup_or_empty(o->access_key);
	s->secret_key = dup_or_empty(o->secret_key);
	s->path_style = o->path_style;
	s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
	s->retries = o->retries;
	s->copy_max =
		o->copy_max > 0 && o->copy_max < OCTO_S3_COPY_MAX ? o->copy_max : OCTO_S3_COPY_MAX;
	if (s->endpoint == NULL || s->region == NULL || s->bucket == NULL || s->prefix == NULL ||
	    s->access_key == NULL || s->secret_key == NULL ||
	    asprintf(&s->userpwd, "%s:%s", s->access_key, s->secret_key) < 0 ||
	    asprintf(&s->sigv4, "aws:amz:%s:s3", s->region) < 0) {
		octo_s3_free(s);
		return OCTO_ERR_NOMEM;
	}
	n = strlen(s->endpoint);
	while (n > 0 && s->endpoint[n - 1] == '/')
		s->endpoint[--n] = '\0';
	*out = s;
	return OCTO_OK;
}

void octo_s3_free(struct octo_s3 *s)
{
	if (s == NULL)
		return;
	free(s->endpoint);
	free(s->region);
	free(s->bucket);
	free(s->prefix);
	free(s->access_key);
	if (s->secret_key != NULL)
		memset(s->secret_key, 0, strlen(s->secret_key));
	free(s->secret_key);
	if (s->userpwd != NULL)
		memset(s->userpwd, 0, strlen(s->userpwd));
	free(s->userpwd);
	free(s->sigv4);
	while (s->n_idle > 0)
		curl_easy_cleanup(s->idle[--s->n_idle]);
	pthread_mutex_destroy(&s->lock);
	if (s->curl_inited)
		curl_global_cleanup();
	free(s);
}

/* The endpoint's scheme and host[:port], and what follows them. */
static void split_endpoint(const char *endpoint, char *scheme, size_t ssize, const char **host)
{
	const char *p = strstr(endpoint, "://");

	snprintf(scheme, ssize, "%.*s", p != NULL ? (int)(p - endpoint) : 4,
		 p != NULL ? endpoint : "http");
	*host = p != NULL ? p + 3 : endpoint;
}

/* The host and the path of key: path style endpoint/bucket/key, else bucket.endpoint/key; key
 * NULL: the bucket itself. */
static int locate(const struct octo_s3 *s, const char *key, char **host, char **path,
		  char scheme[16])
{
	const char *h;
	char *full = NULL, *enc;

	/* '/' kept, so the URL curl signs is the URL we send */
	if (key == NULL) {
		enc = strdup("");
	} else if (asprintf(&full, "%s%s", s->prefix, key) < 0) {
		enc = NULL;
	} else {
		enc = octo_percent_encode_path(full);
		free(full);
	}

	split_endpoint(s->endpoint, scheme, 16, &h);
	*host = NULL;
	*path = NULL;
	if (enc == NULL)
		return -1;
	if (s->path_style
		    ? (asprintf(host, "%s", h) < 0 || asprintf(path, "/%s/%s", s->bucket, enc) < 0)
		    : (asprintf(host, "%s.%s", s->bucket, h) < 0 ||
		       asprintf(path, "/%s", enc) < 0)) {
		free(enc);
		free(*host);
		*host = NULL;
		return -1;
	}
	free(enc);
	return 0;
}

char *octo_s3_url(const struct octo_s3 *s, const char *key, const char *query)
{
	char scheme[16], *host, *path, *url = NULL;

	if (locate(s, key, &host, &path, scheme) != 0)
		return NULL;
	if (asprintf(&url, "%s://%s%s%s%s", scheme, host, path, query && query[0] ? "?" : "",
		     query ? query : "") < 0)
		url = NULL;
	free(host);
	free(path);
	return url;
}

static void hex_of(const unsigned char *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int n = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n);
}

/* A URL for method on key signed in its query string (SigV4, UNSIGNED-PAYLOAD) for lifetime
 * seconds from now. query: more of it, canonical and after every "X-Amz-" name (NULL: none);
 * headers: lower-case "name:value" lines ending in '\n', sorted by name, signed with host and
 * sent with the request (NULL: host alone; names: their names joined by ';', and the same
 * with "%3B" for the query). malloc'd. */
static char *sign_url(const struct octo_s3 *s, const char *method, const char *key,
		      const char *query_more, const char *headers, const char *names,
		      const char *names_query, time_t now, long lifetime)
{
	char scheme[16], date[9], stamp[17], *host, *path, *cred = NULL, *query = NULL;
	char *canonical = NULL, *to_sign = NULL, *url = NULL, *secret = NULL;
	unsigned char sum[32], k[32];
	char sum_hex[65], sig_hex[65];
	struct tm tm;

	if (locate(s, key, &host, &path, scheme) != 0)
		return NULL;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y%m%d", &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	/* the query in canonical (sorted) order, the credential's '/' encoded */
	if (asprintf(&cred, "%s%%2F%s%%2F%s%%2Fs3%%2Faws4_request", s->access_key, date,
		     s->region) < 0 ||
	    asprintf(&query,
		     "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%s&X-Amz-Date=%s"
		     "&X-Amz-Expires=%ld&X-Amz-SignedHeaders=host%s%s%s%s",
		     cred, stamp, lifetime, names != NULL ? "%3B" : "",
		     names != NULL ? names_query : "", query_more != NULL ? "&" : "",
		     query_more != NULL ? query_more : "") < 0 ||
	    asprintf(&canonical, "%s\n%s\n%s\nhost:%s\n%s\nhost%s%s\nUNSIGNED-PAYLOAD", method,
		     path, query, host, headers != NULL ? headers : "", names != NULL ? ";" : "",
		     names != NULL ? names : "") < 0)
		goto out;
	SHA256((const unsigned char *)canonical, strlen(canonical), sum);
	hex_of(sum, 32, sum_hex);
	if (asprintf(&to_sign, "AWS4-HMAC-SHA256\n%s\n%s/%s/s3/aws4_request\n%s", stamp, date,
		     s->region, sum_hex) < 0 ||
	    asprintf(&secret, "AWS4%s", s->secret_key) < 0)
		goto out;
	hmac(secret, strlen(secret), date, k);
	hmac(k, 32, s->region, k);
	hmac(k, 32, "s3", k);
	hmac(k, 32, "aws4_request", k);
	hmac(k, 32, to_sign, sum);
	hex_of(sum, 32, sig_hex);
	if (asprintf(&url, "%s://%s%s?%s&X-Amz-Signature=%s", scheme, host, path, query, sig_hex) <
	    0)
		url = NULL;
out:
	if (secret != NULL)
		memset(secret, 0, strlen(secret));
	free(secret);
	free(host);
	free(path);
	free(cred);
	free(query);
	free(canonical);
	free(to_sign);
	return url;
}

char *octo_s3_presign(const struct octo_s3 *s, const char *key, time_t now, long lifetime)
{
	return sign_url(s, "GET", key, NULL, NULL, NULL, NULL, now, lifetime);
}

/* --- XML --------------------------------------------------------------------------------- */

static xmlDocPtr read_xml(const char *xml, size_t len)
{
	xmlDocPtr doc;

	if (len == 0 || len > OCTO_S3_MAX_REPLY)
		return NULL;
	/* no network, no entities substituted, no DTD loaded: the server's bytes, nothing more */
	doc = xmlReadMemory(xml, (int)len, "s3.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
				    XML_PARSE_NOBLANKS);
	if (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL)) {
		xmlFreeDoc(doc); /* S3 sends no DOCTYPE: one is an attempt at entities */
		doc = NULL;
	}
	return doc;
}

static int named(xmlNodePtr n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
	xmlNodePtr n;

	for (n = parent != NULL ? parent->children : NULL; n != NULL; n = n->next)
		if (named(n, name))
			return n;
	return NULL;
}

/* A child's text into buf (truncation is a failure): 0, or -1. */
static int child_text(xmlNodePtr parent, const char *name, char *buf, size_t size)
{
	xmlNodePtr n = child(parent, name);
	xmlChar *t = n != NULL ? xmlNodeGetContent(n) : NULL;
	int r = -1;

	if (t != NULL && strlen((const char *)t) < size) {
		strcpy(buf, (const char *)t);
		r = 0;
	}
	xmlFree(t);
	return r;
}

int octo_s3_parse_error(const char *xml, size_t len, struct octo_s3_status *st)
{
	xmlDocPtr doc = read_xml(xml, len);
	xmlNodePtr root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
	int r = -1;

	st->code[0] = '\0';
	if (named(root, "Error") && child_text(root, "Code", st->code, sizeof(st->code)) == 0) {
		char msg[sizeof(st->detail)];
		if (child_text(root, "Message", msg, sizeof(msg)) == 0)
			snprintf(st->detail, sizeof(st->detail), "%s", msg);
		r = 0;
	} else {
		st->code[0] = '\0';
	}
	xmlFreeDoc(doc);
	return r;
}

int octo_s3_parse_upload_id(const char *xml, size_t len, char id[OCTO_S3_UPLOAD_ID_MAX + 1])
{
	xmlDocPtr doc = read_xml(xml, len);
	xmlNodePtr root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
	int r = named(root, "InitiateMultipartUploadResult") &&
				child_text(root, "UploadId", id, OCTO_S3_UPLOAD_ID_MAX + 1) == 0 &&
				id[0]
			? 0
			: -1;

	xmlFreeDoc(doc);
	return r;
}

/* A listing's IsTruncated (absent: false); 0, or -1 when it does not read. */
static int read_truncated(xmlNodePtr root, int *truncated)
{
	char flag[8] = "";

	if (child(root, "IsTruncated") != NULL &&
	    child_text(root, "IsTruncated", flag, sizeof(flag)) != 0)
		return -1;
	*truncated = strcmp(flag, "true") == 0;
	return 0;
}

int octo_s3_parse_list(const char *xml, size_t len, const char *prefix,
		       int (*fn)(void *ctx, const struct octo_s3_object *o), void *ctx,
		       int *truncated, char *next, size_t next_size)
{
	xmlDocPtr doc = read_xml(xml, len);
	xmlNodePtr root = doc != NULL ? xmlDocGetRootElement(doc) : NULL, n;
	size_t plen = strlen(prefix);
	int r = -1;

	*truncated = 0;
	next[0] = '\0';
	if (!named(root, "ListBucketResult") || read_truncated(root, truncated) != 0)
		goto out;
	if (*truncated && child_text(root, "NextContinuationToken", next, next_size) != 0)
		goto out; /* more, and no way to them */
	r = 0;
	for (n = root->children; n != NULL && r == 0; n = n->next) {
		struct octo_s3_object o;
		char key[OCTO_S3_KEY_MAX + 1], size[24], *end;
		if (!named(n, "Contents"))
			continue;
		if (child_text(n, "Key", key, sizeof(key)) != 0 ||
		    child_text(n, "Size", size, sizeof(size)) != 0 || size[0] < '0' ||
		    size[0] > '9') {
			r = -1;
			break;
		}
		o.size = strtoull(size, &end, 10);
		if (*end != '\0') {
			r = -1;
			break;
		}
		if (strncmp(key, prefix, plen) != 0)
			continue;
		snprintf(o.key, sizeof(o.key), "%s", key + plen);
		if (fn(ctx, &o) != 0)
			r = 1;
	}
	if (r == 1)
		r = 0, *truncated = 0; /* the caller stopped */
out:
	xmlFreeDoc(doc);
	return r;
}

int octo_s3_parse_complete(const char *xml, size_t len, struct octo_s3_status *st)
{
	xmlDocPtr doc = read_xml(xml, len);
	xmlNodePtr root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
	int r = named(root, "CompleteMultipartUploadResult") ? 1 : -1;

	xmlFreeDoc(doc);
	if (r < 0 && octo_s3_parse_error(xml, len, st) == 0)
		r = 0;
	return r;
}

int octo_s3_parse_copy(const char *xml, size_t len, char etag[OCTO_S3_ETAG_MAX + 1],
		       struct octo_s3_status *st)
{
	xmlDocPtr doc = read_xml(xml, len);
	xmlNodePtr root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
	int r = -1;

	if ((named(root, "CopyObjectResult") || named(root, "CopyPartResult")) &&
	    child_text(root, "ETag", etag, OCTO_S3_ETAG_MAX + 1) == 0 && etag[0] != '\0')
		r = 1;
	xmlFreeDoc(doc);
	if (r < 0 && octo_s3_parse_error(xml, len, st) == 0)
		r = 0;
	return r;
}

int octo_s3_parse_uploads(const char *xml, size_t len, const char *prefix,
			  int (*fn)(void *ctx, const char *key, const char *id), void *ctx,
			  int *truncated, char *key_marker, char *id_marker, size_t marker_size)
{
	xmlDocPtr doc = read_xml(xml, len);
	xmlNodePtr root = doc != NULL ? xmlDocGetRootElement(doc) : NULL, n;
	size_t plen = strlen(prefix);
	int r = -1;

	*truncated = 0;
	key_marker[0] = id_marker[0] = '\0';
	if (!named(root, "ListMultipartUploadsResult") || read_truncated(root, truncated) != 0)
		goto out;
	if (*truncated && (child_text(root, "NextKeyMarker", key_marker, marker_size) != 0 ||
			   child_text(root, "NextUploadIdMarker", id_marker, marker_size) != 0 ||
			   key_marker[0] == '\0'))
		goto out; /* more, and no way to them */
	r = 0;
	for (n = root->children; n != NULL && r == 0; n = n->next) {
		char key[OCTO_S3_KEY_MAX + 1], id[OCTO_S3_UPLOAD_ID_MAX + 1];
		if (!named(n, "Upload"))
			continue;
		if (child_text(n, "Key", key, sizeof(key)) != 0 ||
		    child_text(n, "UploadId", id, sizeof(id)) != 0 || id[0] == '\0') {
			r = -1;
			break;
		}
		if (strncmp(key, prefix, plen) == 0 && fn(ctx, key + plen, id) != 0)
			r = 1;
	}
	if (r == 1)
		r = 0, *truncated = 0; /* the caller stopped */
out:
	xmlFreeDoc(doc);
	return r;
}

/* --- requests ---------------------------------------------------------------------------- */

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct call {
	const char *method; /* "GET", "PUT", "POST", "HEAD", "DELETE" */
	const char *key;
	const char *query;
	const struct octo_s3_body *body;  /* PUT and POST; NULL: none */
	uint64_t range_offset, range_len; /* GET: a range when either is set */
	octo_s3_sink *sink;               /* GET: a 2xx body goes here as it arrives */
	void *sink_ctx;
	const char *copy_source; /* PUT: "x-amz-copy-source: …" (a copy), or NULL */
	const char *copy_range;  /* a part's copy: "x-amz-copy-source-range: …" */
	/* a URL signed in its query (sign_url): curl 7.88 signs the two copy headers in the
	 * wrong order (it sorts "name:value" lines, not names), so a part's copy is signed here */
	const char *signed_url;
	/* out */
	long http;
	char *reply; /* any other body (XML), NUL-terminated */
	size_t reply_len;
	int reply_over;
	uint64_t sent;     /* body bytes read so far */
	uint64_t streamed; /* bytes given to the sink */
	int sink_stop;
	char etag[OCTO_S3_ETAG_MAX + 1];
	uint64_t length;
	int has_length;
};

static size_t read_body(char *buf, size_t size, size_t n, void *ctx)
{
	struct call *c = ctx;
	const struct octo_s3_body *b = c->body;
	size_t room = size * n, want = b->len - c->sent < room ? (size_t)(b->len - c->sent) : room;
	ssize_t got;

	if (want == 0)
		return 0;
	if (b->data != NULL) {
		memcpy(buf, (const char *)b->data + c->sent, want);
		got = (ssize_t)want;
	} else {
		got = pread(b->fd, buf, want, (off_t)(b->offset + c->sent));
		if (got <= 0)
			return CURL_READFUNC_ABORT; /* the file is shorter than said, or failed */
	}
	c->sent += (uint64_t)got;
	return (size_t)got;
}

/* A body is sent again from where curl asks (its start): a kept connection the bucket closed
 * is found dead only as a request goes on it, and curl then resends it on a new one. */
static int seek_body(void *ctx, curl_off_t offset, int origin)
{
	struct call *c = ctx;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > c->body->len)
		return CURL_SEEKFUNC_CANTSEEK;
	c->sent = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static size_t write_body(char *data, size_t size, size_t n, void *ctx)
{
	struct call *c = ctx;
	size_t len = size * n;

	if (c->sink != NULL && c->http >= 200 && c->http < 300) {
		if (c->sink(c->sink_ctx, data, len) != 0) {
			c->sink_stop = 1;
			return 0;
		}
		c->streamed += len;
		return len;
	}
	if (c->reply_len + len > OCTO_S3_MAX_REPLY) {
		c->reply_over = 1;
		return 0;
	}
	{
		char *more = realloc(c->reply, c->reply_len + len + 1);
		if (more == NULL)
			return 0;
		c->reply = more;
	}
	memcpy(c->reply + c->reply_len, data, len);
	c->reply_len += len;
	c->reply[c->reply_len] = '\0';
	return len;
}

/* The status line's code (once each response's headers begin), the ETag and Content-Length. */
static size_t read_header(char *line, size_t size, size_t n, void *ctx)
{
	struct call *c = ctx;
	size_t len = size * n, v;

	if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
		const char *sp = memchr(line, ' ', len);
		c->http = sp != NULL ? strtol(sp + 1, NULL, 10) : 0;
		c->has_length = 0;
		return len;
	}
	if (len > 5 && strncasecmp(line, "ETag:", 5) == 0) {
		for (v = 5; v < len && line[v] == ' '; v++)
			;
		while (len > v &&
		       (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
			len--;
		if (len - v <= OCTO_S3_ETAG_MAX) {
			memcpy(c->etag, line + v, len - v);
			c->etag[len - v] = '\0';
		}
	} else if (len > 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
		char *end;
		c->length = strtoull(line + 15, &end, 10);
		c->has_length = end != line + 15;
	}
	return size * n;
}

static int transient(const struct call *c, CURLcode res)
{
	if (res != CURLE_OK)
		return res == CURLE_COULDNT_CONNECT || res == CURLE_OPERATION_TIMEDOUT ||
		       res == CURLE_SEND_ERROR || res == CURLE_RECV_ERROR ||
		       res == CURLE_GOT_NOTHING || res == CURLE_PARTIAL_FILE ||
		       res == CURLE_COULDNT_RESOLVE_HOST;
	return c->http == 429 || c->http == 500 || c->http == 502 || c->http == 503 ||
	       c->http == 504;
}

/* Handles are kept between requests, so that their connections to the bucket are used again
 * (a TCP connection a request is the cost otherwise): at most IDLE_HANDLES idle ones. */
static CURL *take_handle(struct octo_s3 *s)
{
	CURL *h = NULL;

	pthread_mutex_lock(&s->lock);
	if (s->n_idle > 0)
		h = s->idle[--s->n_idle];
	pthread_mutex_unlock(&s->lock);
	if (h != NULL) {
		curl_easy_reset(h);
		return h;
	}
	return curl_easy_init();
}

static void give_handle(struct octo_s3 *s, CURL *h)
{
	pthread_mutex_lock(&s->lock);
	if (s->n_idle < IDLE_HANDLES) {
		s->idle[s->n_idle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (h != NULL)
		curl_easy_cleanup(h);
}

static CURLcode attempt(struct octo_s3 *s, struct call *c, const char *url, char *errbuf)
{
	CURL *h = take_handle(s);
	struct curl_slist *hdrs = NULL;
	char line[160];
	CURLcode res;

	if (h == NULL)
		return CURLE_OUT_OF_MEMORY;
	c->http = 0;
	c->sent = 0;
	c->etag[0] = '\0';
	free(c->reply);
	c->reply = NULL;
	c->reply_len = 0;
	c->reply_over = 0;
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s",
		 c->body == NULL           ? EMPTY_SHA256
		 : c->body->sha256 != NULL ? c->body->sha256
					   : "UNSIGNED-PAYLOAD");
	/* No "Expect:" to drop curl's 100-continue: curl 7.88 signs the removed header and
	 * radosgw then refuses the signature. */
	if (c->signed_url == NULL)
		hdrs = curl_slist_append(hdrs, line);
	if (c->copy_source != NULL)
		hdrs = curl_slist_append(hdrs, c->copy_source);
	if (c->copy_range != NULL)
		hdrs = curl_slist_append(hdrs, c->copy_range);
	if (c->range_offset > 0 || c->range_len > 0) {
		if (c->range_len > 0)
			snprintf(line, sizeof(line), "Range: bytes=%llu-%llu",
				 (unsigned long long)c->range_offset,
				 (unsigned long long)(c->range_offset + c->range_len - 1));
		else
			snprintf(line, sizeof(line), "Range: bytes=%llu-",
				 (unsigned long long)c->range_offset);
		hdrs = curl_slist_append(hdrs, line);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, s->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 s->timeout_ms < 10000 ? s->timeout_ms : 10000L);
	if (c->signed_url == NULL) {
		curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
		curl_easy_setopt(h, CURLOPT_USERPWD, s->userpwd);
	}
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, read_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	/* bodies in large pieces: each piece is a write to the front (16 KiB by default) */
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, BODY_PIECE);
	curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, BODY_PIECE);
	if (strcmp(c->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(c->method, "PUT") == 0) {
		static const struct octo_s3_body none = {0};
		if (c->body == NULL) /* a copy: no body */
			c->body = &none;
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->body->len);
	} else if (strcmp(c->method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(c->body != NULL ? c->body->len : 0));
		if (c->body == NULL)
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	} else if (strcmp(c->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
	}
	if (c->body != NULL) { /* a PUT's or a POST's */
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_body);
		curl_easy_setopt(h, CURLOPT_READDATA, c);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_body);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, c);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	res = curl_easy_perform(h);
	if (res == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->http);
	curl_slist_free_all(hdrs);
	give_handle(s, h);
	return res;
}

/* Run c, retrying what is transient (while nothing was given to a sink); the outcome. */
static enum octo_err perform(struct octo_s3 *s, struct call *c, struct octo_s3_status *st)
{
	char errbuf[CURL_ERROR_SIZE];
	char *url =
		c->signed_url != NULL ? strdup(c->signed_url) : octo_s3_url(s, c->key, c->query);
	CURLcode res = CURLE_OK;
	int i;

	memset(st, 0, sizeof(*st));
	if (url == NULL)
		return OCTO_ERR_NOMEM;
	for (i = 0;; i++) {
		errbuf[0] = '\0';
		res = attempt(s, c, url, errbuf);
		if (!transient(c, res) || i >= s->retries || c->streamed > 0 || c->sink_stop)
			break;
		usleep((useconds_t)(100000u
				    << (i < 5 ? i : 5))); /* 0.1 s, doubled, at most 3.2 s */
	}
	free(url);
	st->http = res == CURLE_OK ? c->http : 0;
	if (res != CURLE_OK)
		snprintf(st->detail, sizeof(st->detail), "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(res));
	else if (c->reply_len > 0 && (c->http < 200 || c->http >= 300))
		(void)octo_s3_parse_error(c->reply, c->reply_len, st);
	if (c->sink_stop)
		return OCTO_ERR_IO;
	if (res != CURLE_OK)
		return OCTO_ERR_OBJECT_STORE;
	if (c->http >= 200 && c->http < 300)
		return OCTO_OK;
	if (c->http == 404)
		return OCTO_ERR_NOT_FOUND;
	if (c->http == 403)
		return OCTO_ERR_STORE_DENIED;
	return c->http >= 500 || c->http == 429 ? OCTO_ERR_OBJECT_STORE : OCTO_ERR_IO;
}

static void call_done(struct call *c)
{
	free(c->reply);
	c->reply = NULL;
}

enum octo_err octo_s3_put(struct octo_s3 *s, const char *key, const struct octo_s3_body *b,
			  struct octo_s3_status *st)
{
	struct call c = {.method = "PUT", .key = key, .body = b};
	enum octo_err err = perform(s, &c, st);

	call_done(&c);
	return err;
}

enum octo_err octo_s3_get(struct octo_s3 *s, const char *key, uint64_t offset, uint64_t len,
			  octo_s3_sink *sink, void *ctx, struct octo_s3_status *st)
{
	struct call c = {.method = "GET",
			 .key = key,
			 .range_offset = offset,
			 .range_len = len,
			 .sink = sink,
			 .sink_ctx = ctx};
	enum octo_err err = perform(s, &c, st);

	call_done(&c);
	return err;
}

enum octo_err octo_s3_head(struct octo_s3 *s, const char *key, uint64_t *size,
			   struct octo_s3_status *st)
{
	struct call c = {.method = "HEAD", .key = key};
	enum octo_err err = perform(s, &c, st);

	if (err == OCTO_OK && !c.has_length)
		err = OCTO_ERR_IO;
	*size = c.length;
	call_done(&c);
	return err;
}

enum octo_err octo_s3_delete(struct octo_s3 *s, const char *key, struct octo_s3_status *st)
{
	struct call c = {.method = "DELETE", .key = key};
	enum octo_err err = perform(s, &c, st);

	call_done(&c);
	return err == OCTO_ERR_NOT_FOUND ? OCTO_OK : err;
}

/* A listing, page by page: page(ctx, enc) makes each page's query (enc: the prefix,
 * percent-encoded) from what read(ctx, reply, len, &truncated) kept of the page before. */
struct pager {
	char *(*page)(void *ctx, const char *enc);
	int (*read)(void *ctx, const char *xml, size_t len, int *truncated);
	void *ctx;
};

static enum octo_err list_pages(struct octo_s3 *s, const char *prefix, const struct pager *p,
				struct octo_s3_status *st)
{
	char *full = NULL, *enc;
	enum octo_err err = OCTO_OK;
	int truncated = 1;

	if (asprintf(&full, "%s%s", s->prefix, prefix) < 0)
		return OCTO_ERR_NOMEM;
	enc = octo_percent_encode(full);
	free(full);
	while (err == OCTO_OK && truncated) {
		char *q = enc != NULL ? p->page(p->ctx, enc) : NULL;
		struct call c = {.method = "GET", .key = NULL, .query = q};
		if (q == NULL) {
			err = OCTO_ERR_NOMEM;
			break;
		}
		err = perform(s, &c, st);
		if (err == OCTO_OK &&
		    p->read(p->ctx, c.reply != NULL ? c.reply : "", c.reply_len, &truncated) != 0) {
			snprintf(st->detail, sizeof(st->detail), "a listing that does not read");
			err = OCTO_ERR_IO;
		}
		call_done(&c);
		free(q);
	}
	free(enc);
	return err;
}

struct object_pages {
	const struct octo_s3 *s;
	int (*fn)(void *ctx, const struct octo_s3_object *o);
	void *ctx;
	char next[1024];
};

static char *object_page(void *ctx, const char *enc)
{
	struct object_pages *op = ctx;
	char *tok = octo_percent_encode(op->next), *q = NULL;

	/* in SigV4's canonical order: sorted by name */
	if (tok != NULL &&
	    asprintf(&q, "%s%s%slist-type=2&prefix=%s", op->next[0] ? "continuation-token=" : "",
		     tok, op->next[0] ? "&" : "", enc) < 0)
		q = NULL;
	free(tok);
	return q;
}

static int object_read(void *ctx, const char *xml, size_t len, int *truncated)
{
	struct object_pages *op = ctx;

	return octo_s3_parse_list(xml, len, op->s->prefix, op->fn, op->ctx, truncated, op->next,
				  sizeof(op->next));
}

enum octo_err octo_s3_list(struct octo_s3 *s, const char *prefix,
			   int (*fn)(void *ctx, const struct octo_s3_object *o), void *ctx,
			   struct octo_s3_status *st)
{
	struct object_pages op = {.s = s, .fn = fn, .ctx = ctx, .next = ""};
	struct pager p = {object_page, object_read, &op};

	return list_pages(s, prefix, &p, st);
}

enum octo_err octo_s3_upload_create(struct octo_s3 *s, const char *key,
				    char id[OCTO_S3_UPLOAD_ID_MAX + 1], struct octo_s3_status *st)
{
	struct call c = {.method = "POST", .key = key, .query = "uploads="};
	enum octo_err err = perform(s, &c, st);

	if (err == OCTO_OK &&
	    octo_s3_parse_upload_id(c.reply != NULL ? c.reply : "", c.reply_len, id) != 0) {
		snprintf(st->detail, sizeof(st->detail), "an upload's creation that does not read");
		err = OCTO_ERR_IO;
	}
	call_done(&c);
	return err;
}

/* "partNumber=N&uploadId=…" or "uploadId=…", the id percent-encoded; malloc'd. */
static char *upload_query(int part, const char *id)
{
	char *enc = octo_percent_encode(id), *q = NULL;

	if (enc != NULL && (part > 0 ? asprintf(&q, "partNumber=%d&uploadId=%s", part, enc)
				     : asprintf(&q, "uploadId=%s", enc)) < 0)
		q = NULL;
	free(enc);
	return q;
}

enum octo_err octo_s3_upload_part(struct octo_s3 *s, const char *key, const char *id, int part,
				  const struct octo_s3_body *b, char etag[OCTO_S3_ETAG_MAX + 1],
				  struct octo_s3_status *st)
{
	char *q = part >= 1 && part <= OCTO_S3_MAX_PARTS ? upload_query(part, id) : NULL;
	struct call c = {.method = "PUT", .key = key, .query = q, .body = b};
	enum octo_err err = q != NULL ? perform(s, &c, st) : OCTO_ERR_NOMEM;

	if (err == OCTO_OK && c.etag[0] == '\0') {
		snprintf(st->detail, sizeof(st->detail), "a part stored without an ETag");
		err = OCTO_ERR_IO;
	}
	if (err == OCTO_OK)
		strcpy(etag, c.etag);
	call_done(&c);
	free(q);
	return err;
}

enum octo_err octo_s3_upload_complete(struct octo_s3 *s, const char *key, const char *id,
				      char (*etags)[OCTO_S3_ETAG_MAX + 1], int n,
				      struct octo_s3_status *st)
{
	size_t room = 64 + (size_t)n * (OCTO_S3_ETAG_MAX + 64), pos;
	char *xml = malloc(room), *q = upload_query(0, id);
	unsigned char sum[32];
	char sum_hex[65];
	struct octo_s3_body b = {0};
	struct call c = {.method = "POST", .key = key, .query = q, .body = &b};
	enum octo_err err = OCTO_ERR_NOMEM;
	int i;

	if (xml == NULL || q == NULL || n < 1 || n > OCTO_S3_MAX_PARTS)
		goto out;
	pos = (size_t)sprintf(xml, "<CompleteMultipartUpload>");
	for (i = 0; i < n; i++) /* an ETag holds no '<' or '&' (quotes and hex) */
		pos += (size_t)sprintf(xml + pos,
				       "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>",
				       i + 1, etags[i]);
	pos += (size_t)sprintf(xml + pos, "</CompleteMultipartUpload>");
	SHA256((const unsigned char *)xml, pos, sum);
	hex_of(sum, 32, sum_hex);
	b.data = xml;
	b.len = pos;
	b.sha256 = sum_hex;
	err = perform(s, &c, st);
	/* S3 may answer 200 and then an error in the body, once the parts are put together */
	if (err == OCTO_OK &&
	    octo_s3_parse_complete(c.reply != NULL ? c.reply : "", c.reply_len, st) != 1) {
		if (st->detail[0] == '\0')
			snprintf(st->detail, sizeof(st->detail), "a completion that does not read");
		err = strcmp(st->code, "InternalError") == 0 ? OCTO_ERR_OBJECT_STORE : OCTO_ERR_IO;
	}
out:
	call_done(&c);
	free(xml);
	free(q);
	return err;
}

/* "x-amz-copy-source: /<bucket>/<prefix><key>", percent-encoded but for '/'; malloc'd. */
static char *copy_source(const struct octo_s3 *s, const char *key)
{
	char *full = NULL, *enc, *line = NULL;

	if (asprintf(&full, "%s/%s%s", s->bucket, s->prefix, key) < 0)
		return NULL;
	enc = octo_percent_encode_path(full); /* its '/' kept, as in the request's path */
	free(full);
	if (enc == NULL)
		return NULL;
	if (asprintf(&line, "x-amz-copy-source: /%s", enc) < 0)
		line = NULL;
	free(enc);
	return line;
}

/* A copy's reply: its ETag, or an error S3 may send with a 200. */
static enum octo_err copy_done(struct call *c, enum octo_err err, char etag[OCTO_S3_ETAG_MAX + 1],
			       struct octo_s3_status *st)
{
	if (err == OCTO_OK &&
	    octo_s3_parse_copy(c->reply != NULL ? c->reply : "", c->reply_len, etag, st) != 1) {
		if (st->detail[0] == '\0')
			snprintf(st->detail, sizeof(st->detail),
				 "a copy's reply that does not read");
		err = strcmp(st->code, "InternalError") == 0 || strcmp(st->code, "SlowDown") == 0
			      ? OCTO_ERR_OBJECT_STORE
			      : OCTO_ERR_IO;
	}
	return err;
}

/* Copy in parts of s->copy_max. */
static enum octo_err copy_parts(struct octo_s3 *s, const char *from, const char *to, uint64_t size,
				struct octo_s3_status *st)
{
	uint64_t parts = (size + s->copy_max - 1) / s->copy_max, i;
	char id[OCTO_S3_UPLOAD_ID_MAX + 1] = "", (*etags)[OCTO_S3_ETAG_MAX + 1];
	char *src = copy_source(s, from);
	struct octo_s3_status ignored;
	enum octo_err err = OCTO_ERR_NOMEM;

	if (parts > OCTO_S3_MAX_PARTS)
		return OCTO_ERR_TOO_LARGE;
	etags = calloc((size_t)parts, sizeof(*etags));
	if (etags == NULL || src == NULL)
		goto out;
	err = octo_s3_upload_create(s, to, id, st);
	for (i = 0; err == OCTO_OK && i < parts; i++) {
		uint64_t a = i * s->copy_max, b = a + s->copy_max < size ? a + s->copy_max : size;
		char range[96], *q = upload_query((int)i + 1, id), *headers = NULL, *url = NULL;
		struct call c = {.method = "PUT",
				 .key = to,
				 .query = q,
				 .copy_source = src,
				 .copy_range = range};
		snprintf(range, sizeof(range), "x-amz-copy-source-range: bytes=%llu-%llu",
			 (unsigned long long)a, (unsigned long long)(b - 1));
		if (q != NULL &&
		    asprintf(&headers, "x-amz-copy-source:%s\nx-amz-copy-source-range:%s\n",
			     src + sizeof("x-amz-copy-source: ") - 1,
			     range + sizeof("x-amz-copy-source-range: ") - 1) >= 0)
			url = sign_url(s, "PUT", to, q, headers,
				       "x-amz-copy-source;x-amz-copy-source-range",
				       "x-amz-copy-source%3Bx-amz-copy-source-range", time(NULL),
				       900);
		c.signed_url = url;
		err = url != NULL ? copy_done(&c, perform(s, &c, st), etags[i], st)
				  : OCTO_ERR_NOMEM;
		call_done(&c);
		free(headers);
		free(url);
		free(q);
	}
	if (err == OCTO_OK)
		err = octo_s3_upload_complete(s, to, id, etags, (int)parts, st);
	else if (id[0] != '\0')
		(void)octo_s3_upload_abort(s, to, id, &ignored);
out:
	free(etags);
	free(src);
	return err;
}

enum octo_err octo_s3_copy(struct octo_s3 *s, const char *from, const char *to, uint64_t size,
			   struct octo_s3_status *st)
{
	char etag[OCTO_S3_ETAG_MAX + 1], *src;
	struct call c = {.method = "PUT", .key = to};
	enum octo_err err;

	if (size > s->copy_max)
		return copy_parts(s, from, to, size, st);
	src = copy_source(s, from);
	if (src == NULL)
		return OCTO_ERR_NOMEM;
	c.copy_source = src;
	err = copy_done(&c, perform(s, &c, st), etag, st);
	call_done(&c);
	free(src);
	return err;
}

struct upload_pages {
	const struct octo_s3 *s;
	int (*fn)(void *ctx, const char *key, const char *id);
	void *ctx;
	char key_marker[OCTO_S3_KEY_MAX + 1], id_marker[OCTO_S3_KEY_MAX + 1];
};

static char *upload_page(void *ctx, const char *enc)
{
	struct upload_pages *up = ctx;
	char *km = octo_percent_encode(up->key_marker), *im = octo_percent_encode(up->id_marker);
	char *q = NULL;

	/* in SigV4's canonical order: sorted by name */
	if (km != NULL && im != NULL &&
	    asprintf(&q, "%s%s%sprefix=%s%s%s&uploads=", up->key_marker[0] ? "key-marker=" : "", km,
		     up->key_marker[0] ? "&" : "", enc,
		     up->id_marker[0] ? "&upload-id-marker=" : "", im) < 0)
		q = NULL;
	free(km);
	free(im);
	return q;
}

static int upload_read(void *ctx, const char *xml, size_t len, int *truncated)
{
	struct upload_pages *up = ctx;

	return octo_s3_parse_uploads(xml, len, up->s->prefix, up->fn, up->ctx, truncated,
				     up->key_marker, up->id_marker, sizeof(up->key_marker));
}

enum octo_err octo_s3_list_uploads(struct octo_s3 *s, const char *prefix,
				   int (*fn)(void *ctx, const char *key, const char *id), void *ctx,
				   struct octo_s3_status *st)
{
	struct upload_pages up = {.s = s, .fn = fn, .ctx = ctx, .key_marker = "", .id_marker = ""};
	struct pager p = {upload_page, upload_read, &up};

	return list_pages(s, prefix, &p, st);
}

enum octo_err octo_s3_upload_abort(struct octo_s3 *s, const char *key, const char *id,
				   struct octo_s3_status *st)
{
	char *q = upload_query(0, id);
	struct call c = {.method = "DELETE", .key = key, .query = q};
	enum octo_err err = q != NULL ? perform(s, &c, st) : OCTO_ERR_NOMEM;

	call_done(&c);
	free(q);
	return err == OCTO_ERR_NOT_FOUND ? OCTO_OK : err;
}
