/* SPDX-License-Identifier: Apache-2.0 */
/* See htpasswd.h. */
#include "autoconfig.h"

#include <crypt.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "htpasswd.h"

/* A bcrypt hash: "$2y$" (or $2b$, $2a$), two cost digits, '$', 22 salt and 31 hash characters
 * of bcrypt's base64. */
#define BCRYPT_LEN 60

/* A hash for users that do not exist (of a password nobody has), so that their check costs
 * what a real one does; cost 10, htpasswd -B's default. */
static const char unknown_user[] = "$2y$10$o31kSUsCE7hB/1pvg3Usk.YlZ54f/rqSMo5V61Ye6M57VNOjbitBa";

struct user {
	char *name;
	char hash[BCRYPT_LEN + 1];
};

struct octo_htpasswd {
	struct user *users; /* sorted by name */
	size_t n;
};

static int is_b64(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '/';
}

/* NULL when hash (len bytes) is a bcrypt hash crypt_r takes, else why not. */
static const char *bcrypt_why(const char *hash, size_t len)
{
	size_t i;

	if (len >= 6 && strncmp(hash, "$apr1$", 6) == 0)
		return "an Apache MD5 ($apr1$) hash: only bcrypt is taken (htpasswd -B)";
	if (len >= 5 && strncmp(hash, "{SHA}", 5) == 0)
		return "a {SHA} hash: only bcrypt is taken (htpasswd -B)";
	if (len >= 3 && (strncmp(hash, "$1$", 3) == 0 || strncmp(hash, "$5$", 3) == 0 ||
			 strncmp(hash, "$6$", 3) == 0))
		return "a crypt(3) MD5 or SHA hash: only bcrypt is taken (htpasswd -B)";
	if (len != BCRYPT_LEN || hash[0] != '$' || hash[1] != '2' ||
	    (hash[2] != 'y' && hash[2] != 'b' && hash[2] != 'a') || hash[3] != '$' ||
	    hash[4] < '0' || hash[4] > '3' || hash[5] < '0' || hash[5] > '9' || hash[6] != '$')
		return "not a bcrypt hash ($2y$…, as htpasswd -B writes): plain text, DES crypt "
		       "and other schemes are refused";
	if ((hash[4] - '0') * 10 + (hash[5] - '0') < 4 ||
	    (hash[4] - '0') * 10 + (hash[5] - '0') > 31)
		return "a bcrypt cost outside 4..31";
	for (i = 7; i < len; i++)
		if (!is_b64(hash[i]))
			return "not a bcrypt hash: a character outside bcrypt's base64";
	return NULL;
}

static int user_valid(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > OCTO_HTPASSWD_USER_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x21 || name[i] == 0x7f)
			return 0; /* no spaces, no controls: a name that logs and compares as it reads */
	return 1;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct user *)a)->name, ((const struct user *)b)->name);
}

static enum octo_err refuse(char *why, size_t size, size_t line, const char *what)
{
	snprintf(why, size, "line %zu: %s", line, what);
	return OCTO_ERR_CONFIG;
}

void octo_htpasswd_free(struct octo_htpasswd *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n; i++)
		free(h->users[i].name);
	free(h->users);
	free(h);
}

enum octo_err octo_htpasswd_parse(const char *text, size_t len, struct octo_htpasswd **out,
				  char *why, size_t size)
{
	struct octo_htpasswd *h = calloc(1, sizeof(*h));
	size_t pos = 0, line = 0, cap = 0, i;
	enum octo_err err = OCTO_OK;

	*out = NULL;
	if (h == NULL)
		return OCTO_ERR_NOMEM;
	if (len > OCTO_HTPASSWD_MAX_SIZE)
		err = refuse(why, size, 0, "the file is larger than 16 MiB");
	while (err == OCTO_OK && pos < len) {
		const char *start = text + pos, *nl = memchr(start, '\n', len - pos), *colon;
		size_t n = nl != NULL ? (size_t)(nl - start) : len - pos, name_len;
		line++;
		pos += n + (nl != NULL);
		if (n > 0 && start[n - 1] == '\r')
			n--;
		if (n > OCTO_HTPASSWD_MAX_LINE) {
			err = refuse(why, size, line, "longer than 1024 bytes");
			break;
		}
		if (n == 0 || start[0] == '#')
			continue;
		if (memchr(start, '\0', n) != NULL) {
			err = refuse(why, size, line, "a NUL byte");
			break;
		}
		colon = memchr(start, ':', n);
		if (colon == NULL) {
			err = refuse(why, size, line, "not user:hash");
			break;
		}
		name_len = (size_t)(colon - start);
		if (!user_valid(start, name_len)) {
			err = refuse(why, size, line,
				     "a user name must be 1 to 255 printable characters, no space");
			break;
		}
		{
			const char *bad = bcrypt_why(colon + 1, n - name_len - 1);
			if (bad != NULL) {
				err = refuse(why, size, line, bad);
				break;
			}
		}
		if (h->n == OCTO_HTPASSWD_MAX_USERS) {
			err = refuse(why, size, line, "more than 100000 users");
			break;
		}
		if (h->n == cap) {
			size_t c = cap ? 2 * cap : 16;
			struct user *u = realloc(h->users, c * sizeof(*u));
			if (u == NULL) {
				err = OCTO_ERR_NOMEM;
				break;
			}
			h->users = u;
			cap = c;
		}
		h->users[h->n].name = strndup(start, name_len);
		if (h->users[h->n].name == NULL) {
			err = OCTO_ERR_NOMEM;
			break;
		}
		memcpy(h->users[h->n].hash, colon + 1, BCRYPT_LEN);
		h->users[h->n++].hash[BCRYPT_LEN] = '\0';
	}
	if (err == OCTO_OK && h->n > 1) {
		qsort(h->users, h->n, sizeof(*h->users), by_name);
		for (i = 1; err == OCTO_OK && i < h->n; i++)
			if (strcmp(h->users[i - 1].name, h->users[i].name) == 0) {
				snprintf(why, size, "user %s is listed twice", h->users[i].name);
				err = OCTO_ERR_CONFIG;
			}
	}
	if (err != OCTO_OK) {
		octo_htpasswd_free(h);
		return err;
	}
	*out = h;
	return OCTO_OK;
}

enum octo_err octo_htpasswd_load(const char *path, struct octo_htpasswd **out, char *why,
				 size_t size)
{
	char inner[256];
	struct stat st;
	char *text;
	ssize_t got;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	enum octo_err err;

	*out = NULL;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > OCTO_HTPASSWD_MAX_SIZE) {
		snprintf(why, size, "%s: %s", path,
			 fd < 0 ? strerror(errno) : "not a regular file of at most 16 MiB");
		if (fd >= 0)
			close(fd);
		return OCTO_ERR_CONFIG;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		close(fd);
		return OCTO_ERR_NOMEM;
	}
	while (len < (size_t)st.st_size &&
	       (got = read(fd, text + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)got;
	close(fd);
	err = octo_htpasswd_parse(text, len, out, inner, sizeof(inner));
	free(text);
	if (err == OCTO_ERR_CONFIG)
		snprintf(why, size, "%s: %s", path, inner);
	return err;
}

size_t octo_htpasswd_count(const struct octo_htpasswd *h)
{
	return h != NULL ? h->n : 0;
}

int octo_htpasswd_verify(const struct octo_htpasswd *h, const char *user, const char *password)
{
	struct user key = {.name = (char *)user};
	const struct user *u = h != NULL && h->n > 0
				       ? bsearch(&key, h->users, h->n, sizeof(*h->users), by_name)
				       : NULL;
	const char *hash = u != NULL ? u->hash : unknown_user;
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *got;
	int ok = 0;

	if (cd == NULL)
		return 0;
	got = crypt_r(password, hash, cd);
	/* both are 60 characters; every byte is compared, however early they differ */
	if (got != NULL && strlen(got) == BCRYPT_LEN) {
		unsigned char diff = 0;
		size_t i;
		for (i = 0; i < BCRYPT_LEN; i++)
			diff |= (unsigned char)(got[i] ^ hash[i]);
		ok = diff == 0 && u != NULL;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

struct octo_users {
	char *path;
	pthread_rwlock_t lock;
	struct octo_htpasswd *h;
	struct stat seen; /* of the file h was read from, or of the change refused last */
};

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

enum octo_err octo_users_open(const char *path, struct octo_users **out, char *why, size_t size)
{
	struct octo_users *u = calloc(1, sizeof(*u));
	enum octo_err err;

	*out = NULL;
	if (u == NULL || (u->path = strdup(path)) == NULL) {
		free(u);
		return OCTO_ERR_NOMEM;
	}
	if (stat(path, &u->seen) != 0)
		memset(&u->seen, 0, sizeof(u->seen));
	err = octo_htpasswd_load(path, &u->h, why, size);
	if (err != OCTO_OK) {
		free(u->path);
		free(u);
		return err;
	}
	pthread_rwlock_init(&u->lock, NULL);
	*out = u;
	return OCTO_OK;
}

void octo_users_free(struct octo_users *u)
{
	if (u == NULL)
		return;
	octo_htpasswd_free(u->h);
	pthread_rwlock_destroy(&u->lock);
	free(u->path);
	free(u);
}

/* Under the write lock: read the file again if it is not the one seen. */
static void reload(struct octo_users *u, char *why, size_t size)
{
	struct octo_htpasswd *fresh;
	struct stat now;
	char inner[512];

	if (stat(u->path, &now) != 0) {
		snprintf(why, size, "%s: %s: the users read before are kept", u->path,
			 strerror(errno));
		return;
	}
	if (same_file(&now, &u->seen))
		return;
	u->seen = now; /* a change refused is not read again until the file changes again */
	if (octo_htpasswd_load(u->path, &fresh, inner, sizeof(inner)) != OCTO_OK) {
		snprintf(why, size, "%s: the users read before are kept", inner);
		return;
	}
	octo_htpasswd_free(u->h);
	u->h = fresh;
}

int octo_users_verify(struct octo_users *u, const char *user, const char *password, char *why,
		      size_t size)
{
	char spare[8];
	struct stat now;
	int ok, changed;

	if (why == NULL || size == 0) {
		why = spare;
		size = sizeof(spare);
	}
	why[0] = '\0';
	pthread_rwlock_rdlock(&u->lock);
	changed = stat(u->path, &now) != 0 || !same_file(&now, &u->seen);
	pthread_rwlock_unlock(&u->lock);
	if (changed) {
		pthread_rwlock_wrlock(&u->lock);
		reload(u, why, size);
		pthread_rwlock_unlock(&u->lock);
	}
	pthread_rwlock_rdlock(&u->lock);
	ok = octo_htpasswd_verify(u->h, user, password);
	pthread_rwlock_unlock(&u->lock);
	return ok;
}
