/* worker_lease.h — keeps the lease of the submission a worker is running alive
 * while the worker's thread is busy inside a sandbox.
 *
 * A worker process runs one submission at a time, and a compile or test step
 * blocks its thread for as long as the step runs. So the lease is renewed by a
 * second thread with its OWN worker_source (a store connection, or for a
 * remote worker its own HTTP handle: a source is used by one thread at a
 * time), every lease.renew_ms. The renewer records the first refusal:
 *   -ECANCELED  a client cancelled: the worker stops and finishes "cancelled";
 *   -ESTALE     the lease is no longer ours (it expired and someone else may
 *               hold it): the worker drops the work without writing anything.
 * On either, the renewer calls the abort hook (the worker uses it to kill the
 * sandbox step in flight), so a cancelled long test does not run to its wall
 * limit.
 *
 * Graceful stop: once *stop (set by SIGTERM) has been seen for grace_ms while
 * a lease is held, the state becomes -EINTR and the abort hook runs: the
 * worker then gives the lease back (store_submission_release) instead of
 * finishing. */
#pragma once

#include <signal.h>
#include <stdint.h>
#include "../../common/config.h"

typedef struct worker_lease worker_lease;

/* Called from the renewer thread when the lease is lost or cancelled; must be
 * thread-safe and quick (e.g. kill a pid). */
typedef void (*worker_lease_abort_fn)(void *userdata);

/* Opens the renewer's source (worker_source_open) and starts its thread. 0 or -errno with
 * err filled. The caller owns *out (worker_lease_free). */
int worker_lease_new(const config *cfg, worker_lease **out, char *err, size_t errlen);
/* Stops the thread and closes its connection. Accepts NULL. */
void worker_lease_free(worker_lease *l);

/* Starts renewing the lease of submission id for owner. */
void worker_lease_begin(worker_lease *l, const char *id, const char *owner, int64_t lease_ms,
                        worker_lease_abort_fn abort_fn, void *userdata);
/* Stops renewing (before finish or release). Returns the lease state. */
int worker_lease_end(worker_lease *l);
/* With each successful renew, also refreshes heartbeat row hb_id (role
 * "worker", current item = the submission), so a worker busy with one long
 * submission still counts as alive. */
void worker_lease_heartbeat_as(worker_lease *l, const char *hb_id, const char *host);
/* Watches *stop (see above); grace_ms from worker.stop_grace_ms. */
void worker_lease_watch_stop(worker_lease *l, volatile sig_atomic_t *stop, int64_t grace_ms);
/* 0 while the lease is held, -ECANCELED, -ESTALE or -EINTR once lost (sticky until
 * worker_lease_end). Other renew errors (a busy database) are retried at the
 * next tick and do not count. */
int worker_lease_state(worker_lease *l);
/* Async-signal-safe (the worker's SIGUSR1 handler): the health checker took
 * back the lease of a run stuck past its wall limit; the renewer marks the
 * lease lost (-ESTALE) at its next tick and aborts the step in flight. */
void worker_lease_kick(void);
