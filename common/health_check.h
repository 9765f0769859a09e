/* health_check.h — one pass of the two health checkers (DESIGN.md):
 * the WorkerHealthChecker requeues submissions whose worker lease expired, the
 * CacheBuilderHealthChecker requeues dependency sets whose builder lease
 * expired; both end an item that used up its attempts. daemon/health.c runs
 * this every health.interval_ms; tests call it directly. */
#pragma once

#include <stdint.h>

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
