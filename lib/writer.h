/* SPDX-License-Identifier: Apache-2.0 */
/* A batch writer for upload bodies. Large bodies are written with O_DIRECT: the page-cache
 * copy was half the CPU a push took in the responder, and nothing reads an upload before it
 * is committed. A direct write waits for the disk, so a writer thread does the writing
 * while the request's thread reads and hashes the next batches. Only aligned batches go
 * that way; a tail shorter than OCTO_WRITER_ALIGN, or anything on a file system that
 * refuses O_DIRECT, goes through the page cache. */
#ifndef OCTO_WRITER_H
#define OCTO_WRITER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define OCTO_WRITER_BATCH (256 * 1024) /* bytes gathered before one write(2) */
#define OCTO_WRITER_ALIGN 4096         /* offsets, lengths and buffers of O_DIRECT writes */
#define OCTO_WRITER_BUFFERS 4

struct octo_writer {
	int fd;        /* page cache, written by the writer thread or the caller's */
	int direct_fd; /* -1: page cache only, written by the caller's thread */
	char *buf[OCTO_WRITER_BUFFERS];
	size_t len[OCTO_WRITER_BUFFERS];
	uint64_t pos[OCTO_WRITER_BUFFERS];
	unsigned queued, written; /* batches handed over, batches done */
	int closing;
	int error; /* errno of the first failed write */
	int threaded;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

/* Start writing to fd; direct_fd (owned from here on, may be -1) is the same file opened
 * with O_DIRECT. OCTO_ERR_NOMEM if buffers or the thread cannot be had. */
enum octo_err octo_writer_open(struct octo_writer *w, int fd, int direct_fd);
/* The buffer to fill next (OCTO_WRITER_BATCH bytes, aligned): waits for the thread to free
 * one. */
char *octo_writer_buffer(struct octo_writer *w);
/* Hand over the buffer octo_writer_buffer returned, holding len bytes for offset pos. The
 * errno of an earlier failed write, or 0. */
int octo_writer_submit(struct octo_writer *w, size_t len, uint64_t pos);
/* Wait for every batch to be written and free everything; the errno of the first failure,
 * or 0. */
int octo_writer_close(struct octo_writer *w);

#endif
