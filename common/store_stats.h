/* store_stats.h — the store's answers for the dashboard (issue 17): a paged,
 * filtered submission list, the last hour aggregated into time buckets, the
 * cache's sets in summary, and the operator's pin and rebuild of a set.
 *
 * Everything is aggregated here, in the store, so a page stays small however
 * many submissions there are: a list page is at most STORE_STATS_PAGE_MAX
 * rows, a series at most STORE_STATS_BUCKETS_MAX buckets. Same error rules as
 * store.h (>= 0 success, -errno with store_last_error). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "store.h"

#define STORE_STATS_PAGE_MAX 200
#define STORE_STATS_BUCKETS_MAX 1440
#define STORE_STATS_COUNT_MAX 100000

/* A list filter: NULL or "" fields match anything. */
typedef struct {
    const char *state;
    const char *verdict;
    const char *profile;
    const char *token_id;
    const char *before_id; /* the page after this submission (newest first) */
    int64_t limit;         /* 1..STORE_STATS_PAGE_MAX */
} store_stats_filter;

/* Submissions matching f, newest first: *rows = [{id, state, verdict,
 * profile, token_id, n_tests, created_at, started_at, finished_at}], *total
 * the number matching f without the page bounds (counted up to
 * STORE_STATS_COUNT_MAX + 1: more than the maximum means "at least"), *next the id to pass as
 * before_id for the next page (new reference: a string, or null on the last
 * page). -ENOENT when before_id names no submission. */
int store_stats_submissions(store *s, const store_stats_filter *f, json_t **rows, int64_t *total,
                            json_t **next);

/* The window [now_ms - window_ms, now_ms) in buckets of bucket_ms, oldest
 * first: *out = {"buckets": [{t, submitted, finished, outcomes: {outcome:
 * n}, p50_ms, p99_ms}], "latency": {count, p50_ms, p99_ms}, "outcomes":
 * {outcome: n}}. An outcome is the verdict of a finished submission, else
 * its terminal state (compile_error, cancelled, ...); latency is
 * created_at -> finished_at of the submissions that finished in the window
 * (p50/p99 null when none). -EINVAL for a window of more than
 * STORE_STATS_BUCKETS_MAX buckets or a bucket < 1 ms. */
int store_stats_series(store *s, int64_t now_ms, int64_t window_ms, int64_t bucket_ms,
                       json_t **out);

/* Every set in summary, most recently used first: [{key, state,
 * closure_bytes, closure_paths, last_used_at, holds, running, held, pinned,
 * attempts, error, created_at, finished_at, packages, profile}]; held is
 * true while a hold, a pin or a running submission keeps it from eviction. */
int store_stats_depsets(store *s, json_t **out);

/* Pins (pin true) or unpins a set: 1 changed, 0 it already was so, -ENOENT
 * no such set. A pin is one hold (schema/070_dashboard.sql). */
int store_stats_depset_pin(store *s, const char *key, bool pin);

/* Sends a set back to the builders: a ready one as store_depset_requeue
 * does, a failed one with its attempts, log and error cleared. 1 requeued,
 * -EBUSY while it is queued or building, -ENOENT no such set. */
int store_stats_depset_rebuild(store *s, const char *key);
