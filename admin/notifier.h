/* SPDX-License-Identifier: Apache-2.0 */
/* The notifier of `octoserve-admin serve`: one thread per notifications.endpoints entry that
 * POSTs the batches lib/notify makes, in order, retried with back-off, the endpoint's journal
 * cursor moved only after a 2xx. libcurl is used here alone. */
#ifndef OCTO_ADMIN_NOTIFIER_H
#define OCTO_ADMIN_NOTIFIER_H

#include "config.h"
#include "log.h"
#include "store.h"

struct notifier;

/* Start a thread per endpoint (none: NULL, nothing runs); the cursors of endpoints no longer
 * configured are dropped, so they hold no journal segment. */
struct notifier *notifier_start(const struct octo_config *cfg, struct octo_store *s,
				struct octo_logger *log);
/* Stop the threads (a POST in flight ends within its timeout) and free. */
void notifier_stop(struct notifier *n);

#endif
