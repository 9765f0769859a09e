/* roles.h — the process roles farmd runs, each a loop until *stop is set.
 *
 * `farmd --role api,worker,builder,health,webhooks` (default: all) runs each
 * role in its own child process under the supervisor (daemon/supervisor.c),
 * which restarts a crashed child with backoff. Every role opens its own store
 * connection from cfg and returns 0 after a clean stop, <0 on a fatal error
 * (after logging it once). Roles talk only through the store. */
#pragma once

#include <signal.h>
#include <errno.h>
#include "../common/config.h"
#include "../builder/builder.h"

/* Returned by a role whose configuration can never work (e.g. the API told to
 * listen publicly without auth): the supervisor stops farmd instead of
 * restarting the role forever. */
#define ROLE_REFUSED_CONFIG (-ENOTRECOVERABLE)

int api_run(const config *cfg, volatile sig_atomic_t *stop); /* daemon/api/api.c */
int worker_run(const config *cfg, int slot,
               volatile sig_atomic_t *stop); /* daemon/worker/worker.c */
/* builder_run(cfg, slot, stop): declared in builder/builder.h (builder/run.c). */
int health_run(const config *cfg, volatile sig_atomic_t *stop);  /* daemon/health.c */
int webhook_run(const config *cfg, volatile sig_atomic_t *stop); /* daemon/webhook/webhook.c */
