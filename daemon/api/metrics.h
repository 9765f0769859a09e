/* metrics.h — GET /metrics in Prometheus text format.
 *
 * Counts that only the API sees (HTTP status codes, result-cache hits and
 * misses) are kept in this process with atomics and added to the store's
 * counters in batches (metrics_flush, about once a second and before each
 * scrape), so every API process reports the same totals and a restart loses
 * at most a second. Everything else is read from the store at scrape time:
 * queue depths, live workers and builders, and the trigger-kept counters of
 * schema/010_api_metrics.sql. */
#pragma once

#include <stdbool.h>
#include "../../common/health_report.h"
#include "../../common/store.h"

typedef struct metrics metrics;

typedef enum {
    METRIC_RESULT_CACHE_HIT,
    METRIC_RESULT_CACHE_MISS,
    METRIC_SUBMISSIONS_ACCEPTED,
    METRIC_REJECTED_BACKPRESSURE,
    METRIC_REJECTED_DRAINING,
    METRIC_REJECTED_RATE,
    METRIC_N
} metric_id;

metrics *metrics_new(void);
void metrics_free(metrics *m);
void metrics_count_status(metrics *m, unsigned status);
void metrics_count(metrics *m, metric_id id, long n);
/* Moves the local deltas into the store; on failure they are kept for the
 * next try. 0 or -errno. */
int metrics_flush(metrics *m, store *s);
/* Flushes, then renders the exposition text (malloc'd, caller frees).
 * hp: what counts as stale or stuck (common/health_report.h). */
int metrics_render(metrics *m, store *s, const health_params *hp, bool accepting, char **out);
