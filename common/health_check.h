/* health_check.h — one pass of the two health checkers (docs/architecture.md):
 * the WorkerHealthChecker requeues submissions whose worker lease expired, the
 * CacheBuilderHealthChecker requeues dependency sets whose builder lease
 * expired; both end an item that used up its attempts. daemon/health.c runs
 * this every health.interval_ms; tests call it directly. */
#pragma once

#include <stdint.h>

#include "health_report.h"
#include "store.h"

/* Requeues what expired before now_ms (0: now), logs one line per checker that
 * found something, fills *out (may be NULL). 0 or -errno (logged by the caller). */
int health_check_once(store *s, int64_t now_ms, store_requeue_counts *out);

/* A process of this host that died (kill -9, OOM) leaves its item under a
 * lease nobody renews. Rather than wait lease.ms, a starting worker or builder
 * expires those leases at once: for each heartbeat of role on host whose pid
 * is gone (ids starting "remote:" are other machines' and are skipped), it
 * renews the dead owner's current item for 1 ms (owner-checked, so an item
 * already requeued or finished is left alone) and removes the heartbeat; the
 * next health_check_once then requeues the item with attempts + 1, so an item
 * that keeps killing its process still ends after max_attempts.
 * role is "worker" (submissions) or "builder" (dependency sets). Returns how
 * many leases it expired, or -errno. */
int health_expire_dead_local(store *s, const char *role, const char *host);

typedef struct {
    int dead_removed;   /* heartbeat rows of dead processes removed */
    int remote_expired; /* leases of remote workers that stopped heartbeating */
    int stuck_runs;     /* runs past wall limit + grace, killed */
    int stuck_builds;   /* builds past builder.timeout_ms + grace, taken back */
} health_act_counts;

/* What the health role does besides requeueing (issue 21), before
 * health_check_once so the same pass requeues what this expired:
 * - rows of dead processes of this host go (a dead worker's or builder's
 *   item is expired first, as health_expire_dead_local does);
 * - a remote worker whose heartbeat is stale (p->stale_ms) has its item's
 *   lease expired: it is requeued as fast as a dead local worker's; its row
 *   goes after 10 x stale_ms;
 * - a run past every step's wall limit + p->stuck_grace_ms is given back
 *   as a failed attempt (kind "stuck"), its worker (if on this host) gets
 *   SIGUSR1 to abort the step and rebuild its slot; a build past
 *   builder.timeout_ms + grace has its lease expired. Both count in
 *   farm_stuck_runs_total{role}.
 * Fills *out (may be NULL), also when the stuck counters could not be
 * written afterwards. 0 or -errno (store_last_error says why). */
int health_act(store *s, const health_params *p, const char *host, health_act_counts *out);
