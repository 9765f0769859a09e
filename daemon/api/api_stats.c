/* api_stats.c — the dashboard's read calls and its cache actions: the farm
 * at a glance (GET /v1/stats), the paged submission list (GET
 * /v1/submissions), the cache in summary (GET /v1/cache), and an operator's
 * pin and rebuild of a set. Aggregation happens in the store
 * (common/store_stats.c), so each answer is small whatever the history. */
#include "api_dashboard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/cleanup.h"
#include "../../common/jsonutil.h"
#include "../../common/log.h"
#include "../../common/store_stats.h"

/* Reads an optional integer query argument within [lo, hi] into *out
 * (left alone when absent). false: answered 400 naming it. */
static bool query_int(api_call *c, const char *key, long long lo, long long hi, long long *out,
                      enum MHD_Result *ret)
{
    const char *v = http_query(c->req, key);
    if (!v)
        return true;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno || n < lo || n > hi) {
        *ret = http_reply_error(c->req, 400, "invalid_value", key,
                                "%s must be a whole number from %lld to %lld", key, lo, hi);
        return false;
    }
    *out = n;
    return true;
}

/* A query argument of at most max bytes, NULL when absent or empty. */
static bool query_word(api_call *c, const char *key, size_t max, const char **out,
                       enum MHD_Result *ret)
{
    const char *v = http_query(c->req, key);
    *out = v && *v ? v : NULL;
    if (v && strlen(v) > max) {
        *ret = http_reply_error(c->req, 400, "invalid_value", key, "%s is longer than %zu bytes",
                                key, max);
        return false;
    }
    return true;
}

static bool is_one_of(const char *v, const char *const *set)
{
    for (; *set; set++)
        if (!strcmp(v, *set))
            return true;
    return false;
}

/* GET /v1/stats?window_s=3600&bucket_s=60 */
enum MHD_Result api_stats_show(api_call *c)
{
    enum MHD_Result ret = MHD_NO;
    long long window_s = 3600, bucket_s = 60;
    if (!query_int(c, "window_s", 60, 7 * 86400, &window_s, &ret) ||
        !query_int(c, "bucket_s", 1, 86400, &bucket_s, &ret))
        return ret;
    if (bucket_s > window_s || window_s / bucket_s > STORE_STATS_BUCKETS_MAX)
        return http_reply_error(c->req, 400, "invalid_value", "bucket_s",
                                "window_s / bucket_s must be from 1 to %d buckets",
                                STORE_STATS_BUCKETS_MAX);
    int64_t now = store_now_ms();
    _cleanup_json_ json_t *series = NULL, *depths = NULL, *procs = NULL;
    int r = store_stats_series(c->st, now, window_s * 1000, bucket_s * 1000, &series);
    if (r >= 0)
        r = store_queue_depths(c->st, &depths);
    if (r >= 0)
        r = store_heartbeats(c->st, &procs);
    if (r < 0)
        return api_store_error(c, r, "stats");
    size_t i;
    json_t *p;
    json_array_foreach(procs, i, p)
    {
        json_int_t seen = json_integer_value(json_object_get(p, "last_seen_at"));
        json_object_set_new(p, "stale", json_boolean(now - seen > c->ctx->stale_ms));
    }
    json_t *o =
        json_pack("{s:I, s:I, s:I, s:O, s:O, s:O, s:O, s:O, s:b}", "now_ms", (json_int_t)now,
                  "window_s", (json_int_t)window_s, "bucket_s", (json_int_t)bucket_s, "buckets",
                  json_object_get(series, "buckets"), "latency", json_object_get(series, "latency"),
                  "outcomes", json_object_get(series, "outcomes"), "depths", depths, "processes",
                  procs, "accepting", api_accepting(c->st));
    return http_reply_json(c->req, 200, o);
}

/* GET /v1/submissions?state=&verdict=&profile=&token=&limit=&before= */
enum MHD_Result api_submissions_list(api_call *c)
{
    static const char *const states[] = {"queued",    "waiting_deps",   "running",
                                         "finished",  "compile_error",  "deps_failed",
                                         "cancelled", "internal_error", NULL};
    static const char *const verdicts[] = {"accepted",
                                           "wrong_answer",
                                           "time_limit",
                                           "memory_limit",
                                           "output_limit",
                                           "runtime_error",
                                           "internal_error",
                                           "compile_error",
                                           "deps_failed",
                                           "cancelled",
                                           NULL};
    enum MHD_Result ret = MHD_NO;
    long long limit = 50;
    store_stats_filter f = {0};
    if (!query_int(c, "limit", 1, STORE_STATS_PAGE_MAX, &limit, &ret) ||
        !query_word(c, "state", 32, &f.state, &ret) ||
        !query_word(c, "verdict", 32, &f.verdict, &ret) ||
        !query_word(c, "profile", 128, &f.profile, &ret) ||
        !query_word(c, "token", 64, &f.token_id, &ret) ||
        !query_word(c, "before", 64, &f.before_id, &ret))
        return ret;
    if (f.state && !is_one_of(f.state, states))
        return http_reply_error(c->req, 400, "invalid_value", "state",
                                "state must be one of queued, waiting_deps, running, finished, "
                                "compile_error, deps_failed, cancelled, internal_error");
    if (f.verdict && !is_one_of(f.verdict, verdicts))
        return http_reply_error(c->req, 400, "invalid_value", "verdict",
                                "verdict must be one of accepted, wrong_answer, time_limit, "
                                "memory_limit, output_limit, runtime_error, internal_error, "
                                "compile_error, deps_failed, cancelled");
    f.limit = limit;
    json_t *rows = NULL, *next = NULL;
    int64_t total = 0;
    int r = store_stats_submissions(c->st, &f, &rows, &total, &next);
    if (r == -ENOENT)
        return http_reply_error(c->req, 400, "invalid_value", "before",
                                "before names no submission");
    if (r < 0)
        return api_store_error(c, r, "submission");
    bool exact = total <= STORE_STATS_COUNT_MAX;
    return http_reply_json(c->req, 200,
                           json_pack("{s:o, s:I, s:b, s:o}", "submissions", rows, "total",
                                     (json_int_t)(exact ? total : STORE_STATS_COUNT_MAX),
                                     "total_exact", exact, "next_before", next));
}

/* GET /v1/cache */
enum MHD_Result api_cache_show(api_call *c)
{
    json_t *sets = NULL;
    int64_t used = 0;
    int r = store_depset_total_bytes(c->st, &used);
    if (r >= 0)
        r = store_stats_depsets(c->st, &sets);
    if (r < 0)
        return api_store_error(c, r, "depset");
    long long quota = config_int(c->ctx->cfg, "cache.quota_bytes");
    return http_reply_json(c->req, 200,
                           json_pack("{s:I, s:I, s:o}", "quota_bytes", (json_int_t)quota,
                                     "used_bytes", (json_int_t)used, "depsets", sets));
}

/* POST /v1/depsets/{key}/pin {"pinned": bool} */
enum MHD_Result api_depset_pin(api_call *c)
{
    enum MHD_Result ret;
    _cleanup_json_ json_t *in = api_body_json(c, &ret);
    if (!in)
        return ret;
    json_t *p = json_object_get(in, "pinned");
    if (!json_is_object(in) || !json_is_boolean(p))
        return http_reply_error(c->req, 422, p ? "invalid_type" : "missing_field", "pinned",
                                "send {\"pinned\": true} to pin the set, false to unpin it");
    int r = store_stats_depset_pin(c->st, c->param, json_is_true(p));
    if (r < 0)
        return api_store_error(c, r, "depset");
    log_info("depset-pin key=%s pinned=%s changed=%d", c->param, json_is_true(p) ? "true" : "false",
             r);
    return http_reply_json(c->req, 200,
                           json_pack("{s:s, s:b, s:b}", "key", c->param, "pinned", json_is_true(p),
                                     "changed", r == 1));
}

/* POST /v1/depsets/{key}/rebuild */
enum MHD_Result api_depset_rebuild(api_call *c)
{
    int r = store_stats_depset_rebuild(c->st, c->param);
    if (r == -EBUSY)
        return http_reply_error(c->req, 409, "building", NULL,
                                "depset %s is queued or building; rebuild it once it is ready or "
                                "failed",
                                c->param);
    if (r < 0)
        return api_store_error(c, r, "depset");
    log_info("depset-rebuild key=%s", c->param);
    return http_reply_json(c->req, 202,
                           json_pack("{s:s, s:s}", "key", c->param, "state", "queued"));
}
