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
