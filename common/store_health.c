/* store_health.c — what the health checkers need: requeue of expired leases
 * (submissions for the WorkerHealthChecker, dependency sets for the
 * CacheBuilderHealthChecker), heartbeat rows, and queue depths for /v1/health
 * and /metrics.
 *
 * Attempts are counted at claim time, so a row whose lease expires after its
 * max_attempts-th claim is ended here (internal_error / failed) with the reason
 * recorded, and a poison item cannot loop. */
#include "store_lease.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jsonutil.h"

/* WorkerHealthChecker half: running submissions whose lease ran out. */
static int store_requeue_submissions(store *s, int64_t now, store_requeue_counts *c)
{
    _cleanup_free_ store_lease_expired *v = NULL;
    size_t n = 0;
    int r = store_lease_collect_expired(s, &store_lease_submission, now, &v, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        store_lease_expired *e = &v[i];
        bool give_up = e->attempts >= e->max_attempts;
        _cleanup_free_ char *why =
            give_up ? store_strdupf("lease of %s expired on attempt %d of %d: giving up (the "
                                    "worker died or hung each time)",
                                    e->owner, e->attempts, e->max_attempts)
                    : store_strdupf("lease of %s expired on attempt %d of %d", e->owner,
                                    e->attempts, e->max_attempts);
        if (!why)
            return -ENOMEM;
        r = store_lease_end(s, &store_lease_submission, e->id,
                            give_up ? "internal_error" : "queued", why, now);
        if (r < 0)
            return r;
        /* Every attempt's reason is kept; the last one's error lists them all. */
        if ((r = store_attempt_reason_add(s, e->id, e->attempts, e->owner, "lease_expired",
                                          "the lease ran out (the worker died or hung)", now)) < 0)
            return r;
        if (give_up) {
            _cleanup_free_ char *all = store_attempt_reasons_text(s, e->id);
            if (all && (r = store_exec(s, "UPDATE submissions SET error = ?2 WHERE id = ?1", 2,
                                       e->id, all)) < 0)
                return r;
        }
        _cleanup_json_ json_t *d =
            json_pack("{s:s,s:s,s:s}", "state", give_up ? "internal_error" : "queued", "reason",
                      "lease_expired", "error", why);
        if ((r = store_event_append(s, e->id, "state", d, now)) < 0)
            return r;
        if (give_up)
            c->submissions_failed++;
        else
            c->submissions_requeued++;
    }
    if (c->submissions_requeued)
        store_ring_later(s, STORE_ROLE_WORKER);
    return 0;
}

/* CacheBuilderHealthChecker half: building sets whose lease ran out. */
static int store_requeue_depsets(store *s, int64_t now, store_requeue_counts *c)
{
    _cleanup_free_ store_lease_expired *v = NULL;
    size_t n = 0;
    int r = store_lease_collect_expired(s, &store_lease_depset, now, &v, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        store_lease_expired *e = &v[i];
        bool give_up = e->attempts >= e->max_attempts;
        _cleanup_free_ char *why =
            store_strdupf("builder lease of %s expired on attempt %d of %d%s", e->owner,
                          e->attempts, e->max_attempts, give_up ? ": giving up" : "");
        if (!why)
            return -ENOMEM;
        r = store_lease_end(s, &store_lease_depset, e->id, give_up ? "failed" : "queued", why, now);
        if (r < 0)
            return r;
        if (give_up) {
            if ((r = store_depset_fail_waiting(s, e->id, why, now)) < 0)
                return r;
            c->depsets_failed++;
        } else {
            c->depsets_requeued++;
        }
    }
    if (c->depsets_requeued)
        store_ring_later(s, STORE_ROLE_BUILDER);
    return 0;
}

int store_requeue_expired(store *s, int64_t now_ms, store_requeue_counts *out)
{
    store_requeue_counts c = {0};
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    store *tx _cleanup_tx_ = s;
    if ((r = store_requeue_submissions(s, now_ms, &c)) < 0 ||
        (r = store_requeue_depsets(s, now_ms, &c)) < 0)
        return r;
    if ((r = store_tx_commit(s)) < 0)
        return r;
    if (out)
        *out = c;
    return 0;
}

/* ---- heartbeats ---- */

int store_heartbeat(store *s, const char *id, const char *role, const char *host, int pid,
                    const char *current_item)
{
    return store_heartbeat_doing(s, id, role, host, pid, current_item, NULL, -1);
}

/* What a row says it does when the caller does not say: idle, or its item. */
static char *store_default_doing(const char *role, const char *item)
{
    if (!item)
        return store_strdupf("%s", !strcmp(role, "api")        ? "serving"
                                   : !strcmp(role, "health")   ? "checking"
                                   : !strcmp(role, "webhooks") ? "delivering"
                                                               : "idle");
    if (!strcmp(role, "worker"))
        return store_strdupf("running submission %s", item);
    if (!strcmp(role, "builder"))
        return store_strdupf("building set %s", item);
    return store_strdupf("working on %s", item);
}

int store_heartbeat_doing(store *s, const char *id, const char *role, const char *host, int pid,
                          const char *current_item, const char *doing, int64_t deadline_in_ms)
{
    if (!id || !role)
        return -EINVAL;
    _cleanup_free_ char *def = store_default_doing(role, current_item);
    if (!def)
        return -ENOMEM;
    char hostbuf[256] = "";
    if (!host) {
        if (gethostname(hostbuf, sizeof(hostbuf) - 1) < 0)
            hostbuf[0] = '\0';
        host = hostbuf;
    }
    /* doing and deadline_at stay as they were while the item is the same and
     * the caller does not say otherwise (the renewer's beats keep them);
     * doing_since moves only when doing changes. */
    _cleanup_stmt_ db_stmt *st = store_stmt(
        s, "INSERT INTO heartbeats (id, role, host, pid, started_at, last_seen_at, current_item, "
           "doing, doing_since, deadline_at) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, COALESCE(?7, ?8), ?5, ?9) "
           "ON CONFLICT (id) DO UPDATE SET "
           "role = excluded.role, host = excluded.host, pid = excluded.pid, "
           "last_seen_at = excluded.last_seen_at, current_item = excluded.current_item, "
           "started_at = CASE WHEN heartbeats.pid IS NOT DISTINCT FROM excluded.pid "
           "THEN heartbeats.started_at "
           "ELSE excluded.started_at END, "
           "doing = CASE WHEN ?7 IS NOT NULL THEN ?7 WHEN heartbeats.current_item "
           "IS NOT DISTINCT FROM ?6 "
           "THEN COALESCE(heartbeats.doing, ?8) ELSE ?8 END, "
           "doing_since = CASE WHEN heartbeats.current_item IS NOT DISTINCT FROM ?6 AND "
           "heartbeats.doing IS NOT DISTINCT FROM "
           "(CASE WHEN ?7 IS NOT NULL THEN ?7 ELSE COALESCE(heartbeats.doing, ?8) END) "
           "THEN COALESCE(heartbeats.doing_since, ?5) ELSE ?5 END, "
           "deadline_at = CASE WHEN ?10 <> 0 THEN ?9 WHEN heartbeats.current_item "
           "IS NOT DISTINCT FROM ?6 "
           "THEN heartbeats.deadline_at ELSE NULL END");
    if (!st)
        return store_err(s);
    int64_t now = store_now_ms();
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, role);
    db_bind_text(st, 3, host);
    db_bind_int64(st, 4, pid);
    db_bind_int64(st, 5, now);
    db_bind_text(st, 6, current_item);
    db_bind_text(st, 7, doing);
    db_bind_text(st, 8, def);
    if (deadline_in_ms > 0)
        db_bind_int64(st, 9, now + deadline_in_ms);
    else
        db_bind_null(st, 9);
    db_bind_int64(st, 10, deadline_in_ms >= 0);
    int rc = db_step(st);
    return rc == DB_DONE ? 0 : store_fail(s, rc);
}

int store_heartbeat_remove(store *s, const char *id)
{
    int r = store_exec(s, "DELETE FROM heartbeats WHERE id = ?1", 1, id);
    return r < 0 ? r : r == 0 ? -ENOENT : 0;
}

int store_heartbeats(store *s, json_t **out)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "SELECT id, role, host, pid, started_at, last_seen_at, current_item, doing, "
                      "doing_since, deadline_at FROM heartbeats ORDER BY role, id");
    if (!st)
        return store_err(s);
    _cleanup_json_ json_t *arr = json_array();
    if (!arr)
        return -ENOMEM;
    int rc;
    while ((rc = db_step(st)) == DB_ROW)
        json_array_append_new(
            arr,
            json_pack("{s:o,s:o,s:o,s:i,s:I,s:I,s:o,s:o,s:o,s:o}", "id",
                      store_col_str_or_null(st, 0), "role", store_col_str_or_null(st, 1), "host",
                      store_col_str_or_null(st, 2), "pid", db_col_int(st, 3), "started_at",
                      (json_int_t)db_col_int64(st, 4), "last_seen_at",
                      (json_int_t)db_col_int64(st, 5), "current_item", store_col_str_or_null(st, 6),
                      "doing", store_col_str_or_null(st, 7), "doing_since",
                      store_col_int_or_null(st, 8), "deadline_at", store_col_int_or_null(st, 9)));
    if (rc != DB_DONE)
        return store_fail(s, rc);
    *out = steal_pointer(&arr);
    return 0;
}

/* ---- queue depths ---- */

/* Adds "state": count rows of sql (SELECT state, COUNT(*) ...) to o. */
static int store_count_into(store *s, const char *sql, json_t *o)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(s, sql);
    if (!st)
        return store_err(s);
    int rc;
    while ((rc = db_step(st)) == DB_ROW)
        json_object_set_new(o, db_col_text(st, 0), json_integer(db_col_int64(st, 1)));
    return rc == DB_DONE ? 0 : store_fail(s, rc);
}

/* Live states (queued, waiting_deps, running) are counted exactly through
 * their partial indexes at every call: the API asks often (queue_full). The
 * terminal states need a scan of the whole table, so their counts are kept
 * per connection for STORE_DEPTH_TERMINAL_MS. */
#define STORE_DEPTH_TERMINAL_MS 5000

int store_queue_depths(store *s, json_t **out)
{
    static const char *const sub_states[] = {"queued",    "waiting_deps",  "running",
                                             "finished",  "compile_error", "deps_failed",
                                             "cancelled", "internal_error"};
    static const char *const set_states[] = {"queued", "building", "ready", "failed"};
    _cleanup_json_ json_t *subs = json_object();
    _cleanup_json_ json_t *sets = json_object();
    if (!subs || !sets)
        return -ENOMEM;
    for (size_t i = 0; i < sizeof(sub_states) / sizeof(*sub_states); i++)
        json_object_set_new(subs, sub_states[i], json_integer(0));
    for (size_t i = 0; i < sizeof(set_states) / sizeof(*set_states); i++)
        json_object_set_new(sets, set_states[i], json_integer(0));

    int64_t now = store_now_ms();
    if (!s->depth_terminal || now - s->depth_terminal_at >= STORE_DEPTH_TERMINAL_MS) {
        json_t *t = json_object();
        if (!t)
            return -ENOMEM;
        int r = store_count_into(
            s,
            "SELECT state, COUNT(*) FROM submissions WHERE state NOT IN ('queued', "
            "'waiting_deps', 'running') GROUP BY state",
            t);
        if (r < 0) {
            json_decref(t);
            return r;
        }
        json_decref(s->depth_terminal);
        s->depth_terminal = t;
        s->depth_terminal_at = now;
    }
    json_object_update(subs, s->depth_terminal);
    int r = store_count_into(s,
                             "SELECT state, COUNT(*) FROM submissions WHERE state IN "
                             "('queued', 'running') GROUP BY state",
                             subs);
    if (r >= 0)
        r = store_count_into(s,
                             "SELECT 'waiting_deps', COUNT(*) FROM submissions "
                             "WHERE state = 'waiting_deps'",
                             subs);
    if (r >= 0)
        r = store_count_into(s, "SELECT state, COUNT(*) FROM depsets GROUP BY state", sets);
    if (r < 0)
        return r;
    json_t *o = json_pack("{s:O,s:O}", "submissions", subs, "depsets", sets);
    if (!o)
        return -ENOMEM;
    *out = o;
    return 0;
}

/* ---- facts for /v1/health and /metrics ---- */

/* Age in ms of the smallest value sql selects (one column), or JSON null. */
static int store_age_of(store *s, const char *sql, int64_t now, json_t **out)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(s, sql);
    if (!st)
        return store_err(s);
    int rc = db_step(st);
    if (rc != DB_ROW)
        return store_fail(s, rc);
    *out = db_col_is_null(st, 0)
               ? json_null()
               : json_integer(now - db_col_int64(st, 0) > 0 ? now - db_col_int64(st, 0) : 0);
    return 0;
}

int store_health_facts(store *s, json_t **out)
{
    int64_t now = store_now_ms();
    json_t *sub_age = NULL, *set_age = NULL;
    int r = store_age_of(s,
                         "SELECT MIN(queued_at) FROM submissions WHERE state IN ('queued', "
                         "'running') AND state = 'queued'",
                         now, &sub_age);
    if (r >= 0)
        r = store_age_of(s, "SELECT MIN(created_at) FROM depsets WHERE state = 'queued'", now,
                         &set_age);
    _cleanup_json_ json_t *o = json_pack("{s:{s:o?,s:o?},s:{},s:[]}", "oldest_queued", "submission",
                                         sub_age, "depset", set_age, "inflight", "builds");
    if (r < 0)
        return r;
    if (!o)
        return -ENOMEM;
    _cleanup_stmt_ db_stmt *st = store_stmt(
        s, "SELECT lease_owner, COUNT(*) FROM submissions WHERE state IN ('queued', 'running') "
           "AND state = 'running' AND lease_owner IS NOT NULL GROUP BY lease_owner");
    if (!st)
        return store_err(s);
    int rc;
    json_t *inflight = json_object_get(o, "inflight");
    while ((rc = db_step(st)) == DB_ROW)
        json_object_set_new(inflight, db_col_text(st, 0), json_integer(db_col_int64(st, 1)));
    if (rc != DB_DONE)
        return store_fail(s, rc);
    _cleanup_stmt_ db_stmt *b =
        store_stmt(s, "SELECT key, lease_owner, started_at FROM depsets WHERE state = 'building'");
    if (!b)
        return store_err(s);
    json_t *builds = json_object_get(o, "builds");
    while ((rc = db_step(b)) == DB_ROW)
        json_array_append_new(builds, json_pack("{s:o,s:o,s:o}", "key", store_col_str_or_null(b, 0),
                                                "owner", store_col_str_or_null(b, 1), "started_at",
                                                store_col_int_or_null(b, 2)));
    if (rc != DB_DONE)
        return store_fail(s, rc);
    *out = steal_pointer(&o);
    return 0;
}
