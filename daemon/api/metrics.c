/* metrics.c — local counters, their flush, and the Prometheus text.
 * See metrics.h. */
#include "metrics.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/cleanup.h"
#include "../../common/jsonutil.h"
#include "../../common/store_tokens.h"

#define STATUS_MIN 100
#define STATUS_MAX 599

static const char *const metric_names[METRIC_N] = {
    "result_cache_total{result=\"hit\"}",  "result_cache_total{result=\"miss\"}",
    "submissions_accepted_total",          "rejected_total{reason=\"queue_full\"}",
    "rejected_total{reason=\"draining\"}", "rejected_total{reason=\"rate_limit\"}",
};

/* Bucket bounds in ms; keep in step with schema/010_api_metrics.sql. */
static const long run_buckets[] = {5,    10,   25,    50,    100,   250,    500,   1000,
                                   2500, 5000, 10000, 30000, 60000, 120000, 300000};
static const long build_buckets[] = {100,   1000,   5000,   10000,  30000,
                                     60000, 120000, 300000, 600000, 1800000};

struct metrics {
    _Atomic int64_t status[STATUS_MAX - STATUS_MIN + 1];
    _Atomic int64_t named[METRIC_N];
};

metrics *metrics_new(void)
{
    return calloc(1, sizeof(metrics));
}

void metrics_free(metrics *m)
{
    free(m);
}

void metrics_count_status(metrics *m, unsigned status)
{
    if (status >= STATUS_MIN && status <= STATUS_MAX)
        atomic_fetch_add(&m->status[status - STATUS_MIN], 1);
}

void metrics_count(metrics *m, metric_id id, long n)
{
    if (id < METRIC_N)
        atomic_fetch_add(&m->named[id], n);
}

int metrics_flush(metrics *m, store *s)
{
    enum { MAXN = STATUS_MAX - STATUS_MIN + 1 + METRIC_N };
    char namebuf[MAXN][64];
    const char *names[MAXN];
    int64_t deltas[MAXN];
    _Atomic int64_t *src[MAXN];
    size_t n = 0;
    for (int i = 0; i <= STATUS_MAX - STATUS_MIN; i++) {
        int64_t v = atomic_exchange(&m->status[i], 0);
        if (!v)
            continue;
        snprintf(namebuf[n], sizeof(namebuf[n]), "http_responses_total{code=\"%d\"}",
                 i + STATUS_MIN);
        names[n] = namebuf[n];
        deltas[n] = v;
        src[n++] = &m->status[i];
    }
    for (int i = 0; i < METRIC_N; i++) {
        int64_t v = atomic_exchange(&m->named[i], 0);
        if (!v)
            continue;
        names[n] = metric_names[i];
        deltas[n] = v;
        src[n++] = &m->named[i];
    }
    int r = store_counters_add(s, names, deltas, n);
    if (r < 0) /* keep them for the next flush */
        for (size_t i = 0; i < n; i++)
            atomic_fetch_add(src[i], deltas[i]);
    return r;
}

static long long counter(json_t *c, const char *name)
{
    json_t *v = json_object_get(c, name);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/* Every counter whose name starts with prefix followed by '{' or end. */
static void emit_family(FILE *f, json_t *c, const char *prefix, const char *type, const char *help)
{
    fprintf(f, "# HELP farm_%s %s\n# TYPE farm_%s %s\n", prefix, help, prefix, type);
    size_t plen = strlen(prefix);
    const char *k;
    json_t *v;
    bool any = false;
    json_object_foreach(c, k, v)
    {
        if (strncmp(k, prefix, plen) || (k[plen] != '{' && k[plen] != '\0'))
            continue;
        fprintf(f, "farm_%s %lld\n", k, (long long)json_integer_value(v));
        any = true;
    }
    if (!any && !strchr(prefix, '{'))
        fprintf(f, "farm_%s 0\n", prefix);
}

static void emit_histogram(FILE *f, json_t *c, const char *name, const long *b, size_t nb,
                           const char *help)
{
    fprintf(f, "# HELP farm_%s_seconds %s\n# TYPE farm_%s_seconds histogram\n", name, help, name);
    char key[96];
    for (size_t i = 0; i < nb; i++) {
        snprintf(key, sizeof(key), "%s_bucket{le=\"%ld\"}", name, b[i]);
        fprintf(f, "farm_%s_seconds_bucket{le=\"%g\"} %lld\n", name, b[i] / 1000.0,
                counter(c, key));
    }
    snprintf(key, sizeof(key), "%s_count", name);
    long long count = counter(c, key);
    fprintf(f, "farm_%s_seconds_bucket{le=\"+Inf\"} %lld\n", name, count);
    snprintf(key, sizeof(key), "%s_sum_ms", name);
    fprintf(f, "farm_%s_seconds_sum %.3f\n", name, counter(c, key) / 1000.0);
    fprintf(f, "farm_%s_seconds_count %lld\n", name, count);
}

static void emit_depths(FILE *f, json_t *depths)
{
    static const char *const sub_states[] = {"queued",    "waiting_deps",  "running",
                                             "finished",  "compile_error", "deps_failed",
                                             "cancelled", "internal_error"};
    static const char *const set_states[] = {"queued", "building", "ready", "failed"};
    json_t *subs = json_object_get(depths, "submissions");
    json_t *sets = json_object_get(depths, "depsets");
    if (!subs)
        subs = depths;
    fprintf(f, "# HELP farm_queue_depth Items per state.\n# TYPE farm_queue_depth gauge\n");
    for (size_t i = 0; i < sizeof(sub_states) / sizeof(*sub_states); i++) {
        json_t *v = json_object_get(subs, sub_states[i]);
        fprintf(f, "farm_queue_depth{kind=\"submission\",state=\"%s\"} %lld\n", sub_states[i],
                json_is_integer(v) ? (long long)json_integer_value(v) : 0);
    }
    for (size_t i = 0; i < sizeof(set_states) / sizeof(*set_states); i++) {
        json_t *v = json_object_get(sets, set_states[i]);
        fprintf(f, "farm_queue_depth{kind=\"depset\",state=\"%s\"} %lld\n", set_states[i],
                json_is_integer(v) ? (long long)json_integer_value(v) : 0);
    }
}

/* Escapes a label value (\\, " and newline). */
static void emit_label(FILE *f, const char *v)
{
    for (; v && *v; v++) {
        if (*v == '\\' || *v == '"')
            fputc('\\', f);
        if (*v == '\n') {
            fputs("\\n", f);
            continue;
        }
        fputc(*v, f);
    }
}

static double age_s(const json_t *ms)
{
    return json_is_integer(ms) ? (double)json_integer_value(ms) / 1000.0 : 0.0;
}

/* The gauges of the health report (common/health_report.h). */
static void emit_health(FILE *f, json_t *rep)
{
    json_t *roles = json_object_get(rep, "roles");
    json_t *oldest = json_object_get(rep, "oldest_queued_ms");
    const char *k;
    json_t *v;

    fprintf(f, "# HELP farm_live_processes Processes with a fresh heartbeat, per role.\n"
               "# TYPE farm_live_processes gauge\n");
    for (int i = 0; i < HEALTH_N_ROLES; i++)
        fprintf(f, "farm_live_processes{role=\"%s\"} %lld\n", health_roles[i],
                (long long)json_integer_value(
                    json_object_get(json_object_get(roles, health_roles[i]), "live")));
    fprintf(f, "# HELP farm_stale_processes Processes whose heartbeat is older than "
               "health.heartbeat_stale_ms (stopped, wedged or gone), per role.\n"
               "# TYPE farm_stale_processes gauge\n");
    for (int i = 0; i < HEALTH_N_ROLES; i++)
        fprintf(f, "farm_stale_processes{role=\"%s\"} %lld\n", health_roles[i],
                (long long)json_integer_value(
                    json_object_get(json_object_get(roles, health_roles[i]), "stale")));
    fprintf(f,
            "# HELP farm_oldest_queued_seconds Age of the oldest queued item, per queue (0 when "
            "empty).\n# TYPE farm_oldest_queued_seconds gauge\n"
            "farm_oldest_queued_seconds{queue=\"submission\"} %.3f\n"
            "farm_oldest_queued_seconds{queue=\"depset\"} %.3f\n",
            age_s(json_object_get(oldest, "submission")), age_s(json_object_get(oldest, "depset")));
    fprintf(f,
            "# HELP farm_build_queue_age_seconds Age of the oldest dependency set waiting for a "
            "builder (0 when none).\n# TYPE farm_build_queue_age_seconds gauge\n"
            "farm_build_queue_age_seconds %.3f\n",
            age_s(json_object_get(oldest, "depset")));
    fprintf(f, "# HELP farm_inflight_runs Submissions running, per worker (lease owner).\n"
               "# TYPE farm_inflight_runs gauge\n");
    json_object_foreach(json_object_get(rep, "inflight"), k, v)
    {
        fputs("farm_inflight_runs{worker=\"", f);
        emit_label(f, k);
        fprintf(f, "\"} %lld\n", (long long)json_integer_value(v));
    }
    fprintf(f,
            "# HELP farm_runs_past_limit Runs now past their wall limit + health.stuck_grace_ms "
            "(role worker) and builds past builder.timeout_ms (role builder).\n"
            "# TYPE farm_runs_past_limit gauge\n"
            "farm_runs_past_limit{role=\"worker\"} %lld\nfarm_runs_past_limit{role=\"builder\"} "
            "%lld\n",
            (long long)json_integer_value(json_object_get(rep, "runs_past_limit")),
            (long long)json_integer_value(json_object_get(rep, "builds_past_timeout")));
    fprintf(f,
            "# HELP farm_health_status 0 ok, 1 degraded, 2 failing (as /v1/health).\n"
            "# TYPE farm_health_status gauge\nfarm_health_status %d\n",
            !strcmp(json_string_value(json_object_get(rep, "status")), "ok")         ? 0
            : !strcmp(json_string_value(json_object_get(rep, "status")), "degraded") ? 1
                                                                                     : 2);
}

int metrics_render(metrics *m, store *s, const health_params *hp, bool accepting, char **out)
{
    metrics_flush(m, s); /* best effort: a failed flush keeps its deltas */
    _cleanup_json_ json_t *c = NULL, *depths = NULL, *rep = NULL;
    int r = store_counters(s, &c);
    if (r >= 0)
        r = store_queue_depths(s, &depths);
    if (r >= 0)
        r = health_report(s, hp, true, &rep);
    if (r < 0)
        return r;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -ENOMEM;
    emit_depths(f, depths);
    emit_health(f, rep);
    fprintf(f,
            "# HELP farm_accepting 1 while the API takes new work, 0 while draining.\n"
            "# TYPE farm_accepting gauge\nfarm_accepting %d\n",
            accepting ? 1 : 0);
    emit_family(f, c, "http_responses_total", "counter", "HTTP responses by status code.");
    emit_family(f, c, "submissions_accepted_total", "counter", "Submissions queued by the API.");
    emit_family(f, c, "rejected_total", "counter",
                "New work refused: queue_full (503), draining (503), rate_limit (429).");
    emit_family(f, c, "submissions_total", "counter",
                "Submissions that reached a terminal state, by state and verdict.");
    emit_family(f, c, "test_verdicts_total", "counter", "Test case results by verdict.");
    emit_family(f, c, "lease_expiries_total", "counter",
                "Leases that ran out and were taken back by a health checker.");
    emit_family(f, c, "requeues_total", "counter", "Items that went back to the queue.");
    emit_family(f, c, "internal_retries_total", "counter",
                "Steps the farm failed (not the program) and ran once more in a rebuilt slot, "
                "by reason.");
    emit_family(f, c, "internal_requeues_total", "counter",
                "Attempts the farm failed twice in a row, given back with the attempt counted "
                "(outcome requeued) or ended internal_error at max_attempts (gave_up), by "
                "reason.");
    fprintf(f,
            "# HELP farm_stuck_runs_total Runs past their wall limit + grace (worker) or builds "
            "past builder.timeout_ms + grace (builder) that the health checker killed.\n"
            "# TYPE farm_stuck_runs_total counter\n"
            "farm_stuck_runs_total{role=\"worker\"} %lld\n"
            "farm_stuck_runs_total{role=\"builder\"} %lld\n",
            counter(c, "stuck_runs_total{role=\"worker\"}"),
            counter(c, "stuck_runs_total{role=\"builder\"}"));
    emit_family(f, c, "result_cache_total", "counter",
                "Requests with cache=true answered from an earlier result (hit) or not (miss).");
    emit_family(f, c, "depset_cache_total", "counter",
                "Submissions whose dependency set was ready at enqueue (hit) or not (miss).");
    emit_family(f, c, "builds_total", "counter", "Dependency-set builds by outcome.");
    emit_histogram(f, c, "run_duration", run_buckets, sizeof(run_buckets) / sizeof(*run_buckets),
                   "Submission time from claim to terminal state.");
    emit_histogram(f, c, "build_duration", build_buckets,
                   sizeof(build_buckets) / sizeof(*build_buckets), "Dependency-set build time.");
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *out = buf;
    return 0;
}
