/* health_report.c — see health_report.h. */
#include "health_report.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "jsonutil.h"

const char *const health_roles[HEALTH_N_ROLES] = {"api", "worker", "builder", "health", "webhooks"};

void health_params_from_config(const config *cfg, health_params *p)
{
    p->stale_ms = config_int(cfg, "health.heartbeat_stale_ms");
    p->stuck_grace_ms = config_int(cfg, "health.stuck_grace_ms");
    p->build_timeout_ms = config_int(cfg, "builder.timeout_ms");
    p->queue_age_ms = config_int(cfg, "health.queue_age_degraded_ms");
    if (p->stale_ms <= 0)
        p->stale_ms = 15000;
}

static int role_index(const char *role)
{
    for (int k = 0; role && k < HEALTH_N_ROLES; k++)
        if (!strcmp(role, health_roles[k]))
            return k;
    return -1;
}

static long long int_of(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static void reason(json_t *list, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reason(json_t *list, const char *fmt, ...)
{
    char buf[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_array_append_new(list, json_string(buf));
}

int health_report(store *s, const health_params *p, bool writable, json_t **out)
{
    _cleanup_json_ json_t *beats = NULL, *facts = NULL, *depths = NULL;
    int r = store_heartbeats(s, &beats);
    if (r >= 0)
        r = store_health_facts(s, &facts);
    if (r >= 0)
        r = store_queue_depths(s, &depths);
    if (r < 0)
        return r;
    int64_t now = store_now_ms();
    long long live[HEALTH_N_ROLES] = {0}, stale[HEALTH_N_ROLES] = {0};
    long long live_stuck_workers = 0;
    _cleanup_json_ json_t *procs = json_array(), *stuck = json_array(), *slow = json_array();
    _cleanup_json_ json_t *failing = json_array(), *degraded = json_array();
    json_t *inflight = json_object_get(facts, "inflight");
    size_t i;
    json_t *b;

    if (!procs || !stuck || !slow || !failing || !degraded)
        return -ENOMEM;
    json_array_foreach(beats, i, b)
    {
        int k = role_index(json_string_value(json_object_get(b, "role")));
        bool fresh = now - int_of(b, "last_seen_at") <= p->stale_ms;
        const char *item = json_string_value(json_object_get(b, "current_item"));
        const char *id = json_string_value(json_object_get(b, "id"));
        json_t *deadline = json_object_get(b, "deadline_at");
        json_t *row = json_deep_copy(b);

        if (row) {
            json_object_set_new(row, "live", json_boolean(fresh));
            json_array_append_new(procs, row);
        }
        if (k < 0)
            continue;
        if (fresh)
            live[k]++;
        else
            stale[k]++;
        /* A run is stuck when its worker still holds it past every step's
         * wall limit plus the grace. */
        if (k == 1 && item && id && json_is_integer(deadline) && json_object_get(inflight, id) &&
            now > json_integer_value(deadline) + p->stuck_grace_ms) {
            json_array_append_new(
                stuck, json_pack("{s:s,s:s,s:O,s:O,s:I}", "id", item, "owner", id, "host",
                                 json_object_get(b, "host"), "pid", json_object_get(b, "pid"),
                                 "past_ms", (json_int_t)(now - json_integer_value(deadline))));
            if (fresh)
                live_stuck_workers++;
        }
    }
    json_array_foreach(json_object_get(facts, "builds"), i, b)
    {
        json_t *started = json_object_get(b, "started_at");
        if (json_is_integer(started) && p->build_timeout_ms > 0 &&
            now - json_integer_value(started) > p->build_timeout_ms)
            json_array_append_new(slow,
                                  json_pack("{s:O,s:O,s:I}", "key", json_object_get(b, "key"),
                                            "owner", json_object_get(b, "owner"), "running_ms",
                                            (json_int_t)(now - json_integer_value(started))));
    }

    json_t *subs = json_object_get(depths, "submissions");
    json_t *sets = json_object_get(depths, "depsets");
    long long sub_work = int_of(subs, "queued") + int_of(subs, "running");
    long long set_work = int_of(sets, "queued") + int_of(sets, "building");
    json_t *oldest = json_object_get(facts, "oldest_queued");
    json_t *sub_age = json_object_get(oldest, "submission");
    json_t *set_age = json_object_get(oldest, "depset");

    if (!writable)
        reason(failing, "database not writable");
    if (live[1] == 0 && sub_work > 0)
        reason(failing,
               "no live worker with a non-empty queue (%lld submissions queued or running)",
               sub_work);
    if (live[2] == 0 && set_work > 0)
        reason(failing, "no live builder with %lld sets queued or building", set_work);
    if (live[1] > 0 && live_stuck_workers >= live[1])
        reason(degraded, "all workers busy past their limits");
    else if (json_array_size(stuck) > 0)
        reason(degraded, "%lld runs past their wall limit + grace",
               (long long)json_array_size(stuck));
    if (json_array_size(slow) > 0)
        reason(degraded, "%lld builds past builder.timeout_ms", (long long)json_array_size(slow));
    if (json_is_integer(sub_age) && p->queue_age_ms > 0 &&
        json_integer_value(sub_age) > p->queue_age_ms)
        reason(degraded, "oldest queued submission %lld s",
               (long long)json_integer_value(sub_age) / 1000);
    if (json_is_integer(set_age) && p->queue_age_ms > 0 &&
        json_integer_value(set_age) > p->queue_age_ms)
        reason(degraded, "oldest queued set %lld s", (long long)json_integer_value(set_age) / 1000);
    for (int k = 0; k < HEALTH_N_ROLES; k++)
        if (stale[k] > 0)
            reason(degraded, "%lld stale %s heartbeats", stale[k], health_roles[k]);
    if (live[3] == 0)
        reason(degraded, "no live health checker (expired leases are not taken back)");

    const char *status = json_array_size(failing)    ? "failing"
                         : json_array_size(degraded) ? "degraded"
                                                     : "ok";
    json_array_extend(failing, degraded);
    json_t *roles = json_object();
    for (int k = 0; roles && k < HEALTH_N_ROLES; k++)
        json_object_set_new(
            roles, health_roles[k],
            json_pack("{s:I,s:I}", "live", (json_int_t)live[k], "stale", (json_int_t)stale[k]));
    json_t *o = json_pack(
        "{s:s,s:O,s:b,s:{s:I,s:I,s:I,s:I,s:I},s:o,s:{s:O,s:O},s:I,s:I,s:O,s:O,s:O,s:O,s:O}",
        "status", status, "reasons", failing, "database_writable", writable, "live", "workers",
        (json_int_t)live[1], "builders", (json_int_t)live[2], "health", (json_int_t)live[3], "api",
        (json_int_t)live[0], "webhooks", (json_int_t)live[4], "roles", roles, "oldest_queued_ms",
        "submission", sub_age ? sub_age : json_null(), "depset", set_age ? set_age : json_null(),
        "runs_past_limit", (json_int_t)json_array_size(stuck), "builds_past_timeout",
        (json_int_t)json_array_size(slow), "queues", depths, "processes", procs, "stuck_runs",
        stuck, "stuck_builds", slow, "inflight", inflight ? inflight : json_null());
    if (!o)
        return -ENOMEM;
    *out = o;
    return 0;
}
