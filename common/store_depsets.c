/* store_depsets.c — the dependency-set queue (BuildStore): one row per distinct
 * canonical spec, claimed by builders with a lease; ready/failed move the
 * submissions waiting on it; holds and LRU order drive cache eviction. */
#include "store_lease.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "jsonutil.h"

json_t *store_depset_row_json(db_stmt *st)
{
    json_t *out_paths = store_col_json(st, 3);
    json_t *env_path = json_null();
    const char *first = json_string_value(json_array_get(out_paths, 0));
    if (first) {
        char *p = store_strdupf("%s/bin", first);
        if (p) {
            json_decref(env_path);
            env_path = json_string(p);
            free(p);
        }
    }
    return json_pack(
        "{s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:o,s:i,s:o,s:i,s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "key",
        store_col_str_or_null(st, 0), "spec", store_col_json(st, 1), "state",
        store_col_str_or_null(st, 2), "out_paths", out_paths, "closure", store_col_json(st, 4),
        "closure_bytes", (json_int_t)db_col_int64(st, 5), "root", store_col_str_or_null(st, 6),
        "log", store_col_str_or_null(st, 7), "holders", db_col_int(st, 8), "last_used_at",
        store_col_int_or_null(st, 9), "attempts", db_col_int(st, 10), "max_attempts",
        db_col_int(st, 11), "lease_owner", store_col_str_or_null(st, 12), "lease_expires_at",
        store_col_int_or_null(st, 13), "error", store_col_str_or_null(st, 14), "created_at",
        store_col_int_or_null(st, 15), "started_at", store_col_int_or_null(st, 16), "finished_at",
        store_col_int_or_null(st, 17), "env_path", env_path);
}

void store_depset_claimed_done(store_depset_claimed *c)
{
    if (!c)
        return;
    free(c->spec_json);
    c->spec_json = NULL;
}

int store_depset_insert(store *s, const store_depset_ref *ref, int64_t now)
{
    if (!ref || !ref->key[0] || !ref->spec_json)
        return -EINVAL;
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "INSERT INTO depsets (key, spec, state, max_attempts, created_at) "
                      "VALUES (?1, ?2, 'queued', ?3, ?4) ON CONFLICT DO NOTHING");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, ref->key);
    db_bind_text(st, 2, ref->spec_json);
    db_bind_int64(st, 3, s->default_max_attempts);
    db_bind_int64(st, 4, now);
    int rc = db_step(st);
    if (rc != DB_DONE)
        return store_fail(s, rc);
    if (db_changes(s->db) == 0)
        return 0;
    store_ring_later(s, STORE_ROLE_BUILDER);
    return 1;
}

int store_depset_ensure(store *s, const store_depset_ref *ref)
{
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    store *tx _cleanup_tx_ = s;
    int inserted = store_depset_insert(s, ref, store_now_ms());
    if (inserted < 0)
        return inserted;
    r = store_tx_commit(s);
    return r < 0 ? r : inserted;
}

#define SQL_SET_CLAIM(D)                                                                           \
    "UPDATE depsets SET state = 'building', lease_owner = ?1, lease_expires_at = ?2, "             \
    "attempts = attempts + 1, started_at = ?3 WHERE key = (SELECT key FROM depsets "               \
    "WHERE state = 'queued' ORDER BY created_at, rowid LIMIT 1" DB_SKIP_LOCKED(                    \
        D) ") "                                                                                    \
           "RETURNING key, spec, attempts"

int store_depset_claim(store *s, const char *owner, int64_t lease_ms, store_depset_claimed *out)
{
    if (!owner || !owner[0] || lease_ms <= 0)
        return -EINVAL;
    if (out)
        memset(out, 0, sizeof(*out));
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    store *tx _cleanup_tx_ = s;
    int64_t now = store_now_ms();
    _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_SET_CLAIM));
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, owner);
    db_bind_int64(st, 2, now + lease_ms);
    db_bind_int64(st, 3, now);
    int rc = store_lease_claim(s, st);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        db_reset(st);
        r = store_tx_commit(s);
        return r < 0 ? r : 0;
    }
    store_depset_claimed c = {0};
    snprintf(c.key, sizeof(c.key), "%s", db_col_text(st, 0));
    c.spec_json = store_col_strdup(st, 1);
    c.attempts = db_col_int(st, 2);
    rc = db_step(st);
    db_reset(st);
    if (rc != DB_DONE || !c.spec_json) {
        store_depset_claimed_done(&c);
        return c.spec_json ? store_fail(s, rc) : -ENOMEM;
    }
    r = store_tx_commit(s);
    if (r < 0) {
        store_depset_claimed_done(&c);
        return r;
    }
    *out = c;
    return 1;
}

int store_depset_renew(store *s, const char *key, const char *owner, int64_t lease_ms)
{
    return store_lease_renew(s, &store_lease_depset, key, owner, lease_ms);
}

/* Moves the submissions of a set that is now ready back to the queue, each
 * with a "state" event. */
static int store_depset_wake_waiting(store *s, const char *key, int64_t now)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "UPDATE submissions SET state = 'queued', queued_at = ?2 "
                      "WHERE depset_key = ?1 AND state = 'waiting_deps' RETURNING id");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, key);
    db_bind_int64(st, 2, now);
    _cleanup_json_ json_t *ids = json_array();
    int rc;
    while ((rc = db_step(st)) == DB_ROW)
        json_array_append_new(ids, json_string(db_col_text(st, 0)));
    if (rc != DB_DONE)
        return store_fail(s, rc);
    db_reset(st);
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        _cleanup_json_ json_t *d =
            json_pack("{s:s,s:s}", "state", "queued", "reason", "deps_ready");
        int r = store_event_append(s, json_string_value(v), "state", d, now);
        if (r < 0)
            return r;
    }
    if (json_array_size(ids))
        store_ring_later(s, STORE_ROLE_WORKER);
    return (int)json_array_size(ids);
}

/* One of the two halves of store_depset_fail_waiting (each uses its index). */
static int store_depset_fail_state(store *s, const char *sql, const char *key, const char *msg,
                                   int64_t now, json_t *ids)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(s, sql);
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, key);
    db_bind_text(st, 2, msg);
    db_bind_int64(st, 3, now);
    int rc;
    while ((rc = db_step(st)) == DB_ROW)
        json_array_append_new(ids, json_string(db_col_text(st, 0)));
    return rc == DB_DONE ? 0 : store_fail(s, rc);
}

int store_depset_fail_waiting(store *s, const char *key, const char *log, int64_t now)
{
    _cleanup_free_ char *msg = store_strdupf("dependency set %s failed: %s", key, log ? log : "");
    _cleanup_json_ json_t *ids = json_array();
    if (!msg || !ids)
        return -ENOMEM;
    int r = store_depset_fail_state(
        s,
        "UPDATE submissions SET state = 'deps_failed', error = ?2, finished_at = ?3 "
        "WHERE state = 'waiting_deps' AND depset_key = ?1 RETURNING id",
        key, msg, now, ids);
    if (r >= 0)
        r = store_depset_fail_state(
            s,
            "UPDATE submissions SET state = 'deps_failed', error = ?2, finished_at = ?3 "
            "WHERE state IN ('queued', 'running') AND state = 'queued' AND depset_key = ?1 "
            "RETURNING id",
            key, msg, now, ids);
    if (r < 0)
        return r;
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        _cleanup_json_ json_t *d = json_pack("{s:s,s:s}", "state", "deps_failed", "error", msg);
        r = store_event_append(s, json_string_value(v), "state", d, now);
        if (r < 0)
            return r;
    }
    return (int)json_array_size(ids);
}

int store_depset_ready(store *s, const char *key, const char *owner, json_t *out_paths,
                       json_t *closure, int64_t closure_bytes, const char *root, const char *log)
{
    if (!key || !owner)
        return -EINVAL;
    /* NULL stands for an empty list (a json_array() made here would leak). */
    _cleanup_free_ char *op = out_paths ? jsonutil_dump(out_paths) : strdup("[]");
    _cleanup_free_ char *cl = closure ? jsonutil_dump(closure) : strdup("[]");
    if (!op || !cl)
        return -ENOMEM;
    int r = store_lease_begin(s, &store_lease_depset, key, owner);
    if (r < 0)
        return r;
    store *tx _cleanup_tx_ = s;
    int64_t now = store_now_ms();
    _cleanup_stmt_ db_stmt *st = store_stmt(
        s, "UPDATE depsets SET state = 'ready', out_paths = ?2, closure = ?3, "
           "closure_bytes = ?4, root = ?5, log = ?6, error = NULL, finished_at = ?7, "
           "last_used_at = ?7, lease_owner = NULL, lease_expires_at = NULL WHERE key = ?1");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, key);
    db_bind_text(st, 2, op);
    db_bind_text(st, 3, cl);
    db_bind_int64(st, 4, closure_bytes);
    db_bind_text(st, 5, root);
    db_bind_text(st, 6, log);
    db_bind_int64(st, 7, now);
    int rc = db_step(st);
    if (rc != DB_DONE)
        return store_fail(s, rc);
    if ((r = store_depset_wake_waiting(s, key, now)) < 0)
        return r;
    return store_tx_commit(s);
}

int store_depset_fail(store *s, const char *key, const char *owner, const char *log)
{
    if (!key || !owner)
        return -EINVAL;
    int r = store_lease_begin(s, &store_lease_depset, key, owner);
    if (r < 0)
        return r;
    store *tx _cleanup_tx_ = s;
    int64_t now = store_now_ms();
    _cleanup_stmt_ db_stmt *st = store_stmt(
        s, "UPDATE depsets SET state = 'failed', log = ?2, error = 'build failed', "
           "finished_at = ?3, lease_owner = NULL, lease_expires_at = NULL WHERE key = ?1");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, key);
    db_bind_text(st, 2, log);
    db_bind_int64(st, 3, now);
    int rc = db_step(st);
    if (rc != DB_DONE)
        return store_fail(s, rc);
    if ((r = store_depset_fail_waiting(s, key, log, now)) < 0)
        return r;
    return store_tx_commit(s);
}

int store_depset_requeue(store *s, const char *key)
{
    if (!key || !key[0])
        return -EINVAL;
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    store *tx _cleanup_tx_ = s;
    /* Only from ready: a set being built or failed is not ours to reset, and
     * a second caller racing the first finds it queued and does nothing. */
    r = store_exec(s,
                   "UPDATE depsets SET state = 'queued', out_paths = NULL, closure = NULL, "
                   "closure_bytes = 0, root = NULL, log = NULL, error = NULL, attempts = 0, "
                   "lease_owner = NULL, lease_expires_at = NULL, started_at = NULL, "
                   "finished_at = NULL WHERE key = ?1 AND state = 'ready'",
                   1, key);
    if (r < 0)
        return r;
    if (r == 0) {
        _cleanup_stmt_ db_stmt *st = NULL;
        return store_row_by_key(s, "SELECT 1 FROM depsets WHERE key = ?1", key, &st);
    }
    store_ring_later(s, STORE_ROLE_BUILDER);
    r = store_tx_commit(s);
    return r < 0 ? r : 1;
}

int store_depset_get(store *s, const char *key, json_t **out)
{
    _cleanup_stmt_ db_stmt *st = NULL;
    int rc =
        store_row_by_key(s, "SELECT " STORE_DEPSET_COLS " FROM depsets WHERE key = ?1", key, &st);
    if (rc < 0)
        return rc;
    json_t *o = store_depset_row_json(st);
    if (!o)
        return -ENOMEM;
    *out = o;
    return 0;
}

int store_depset_list(store *s, json_t **out)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "SELECT " STORE_DEPSET_COLS " FROM depsets ORDER BY created_at, rowid");
    if (!st)
        return store_err(s);
    _cleanup_json_ json_t *arr = json_array();
    if (!arr)
        return -ENOMEM;
    int rc;
    while ((rc = db_step(st)) == DB_ROW)
        json_array_append_new(arr, store_depset_row_json(st));
    if (rc != DB_DONE)
        return store_fail(s, rc);
    *out = steal_pointer(&arr);
    return 0;
}

int store_depset_hold(store *s, const char *key)
{
    char now[24];
    snprintf(now, sizeof(now), "%lld", (long long)store_now_ms());
    int r = store_exec(s,
                       "UPDATE depsets SET holders = holders + 1, "
                       "last_used_at = CAST(?2 AS BIGINT) WHERE key = ?1",
                       2, key, now);
    return r < 0 ? r : r == 0 ? -ENOENT : 0;
}

#define SQL_SET_UNHOLD(D)                                                                          \
    "UPDATE depsets SET holders = " DB_MAX2(D) "(holders - 1, 0), last_used_at = ?2 WHERE key = "  \
                                               "?1"

int store_depset_unhold(store *s, const char *key, int64_t now)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_SET_UNHOLD));
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, key);
    db_bind_int64(st, 2, now);
    int rc = db_step(st);
    if (rc != DB_DONE)
        return store_fail(s, rc);
    return db_changes(s->db) ? 0 : -ENOENT;
}

int store_depset_touch(store *s, const char *key, int64_t now)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "UPDATE depsets SET last_used_at = ?2 WHERE key = ?1 AND "
                      "(last_used_at IS NULL OR last_used_at < ?2 - 1000)");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, key);
    db_bind_int64(st, 2, now);
    int rc = db_step(st);
    return rc == DB_DONE ? 0 : store_fail(s, rc);
}

int store_depset_release(store *s, const char *key)
{
    return store_depset_unhold(s, key, store_now_ms());
}

/* A set is evictable when ready, unheld (explicit holds, running
 * submissions), and no queued or waiting submission still needs it (those
 * would otherwise find their set gone at claim time). Each NOT EXISTS is
 * written to match a partial index's WHERE term. */
#define STORE_DEPSET_UNNEEDED                                                                      \
    "d.holders = 0 AND NOT EXISTS (SELECT 1 FROM submissions s "                                   \
    "WHERE s.state IN ('queued', 'running') AND s.depset_key = d.key) AND NOT EXISTS (SELECT 1 "   \
    "FROM submissions s WHERE s.state = 'waiting_deps' AND s.depset_key = d.key)"

int store_depset_eviction_candidates(store *s, json_t **out)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(
        s, "SELECT d.key, d.closure_bytes, d.root, d.last_used_at FROM depsets d WHERE d.state = "
           "'ready' AND " STORE_DEPSET_UNNEEDED " ORDER BY d.last_used_at, d.rowid");
    if (!st)
        return store_err(s);
    _cleanup_json_ json_t *arr = json_array();
    if (!arr)
        return -ENOMEM;
    int rc;
    while ((rc = db_step(st)) == DB_ROW)
        json_array_append_new(arr,
                              json_pack("{s:o,s:I,s:o,s:o}", "key", store_col_str_or_null(st, 0),
                                        "closure_bytes", (json_int_t)db_col_int64(st, 1), "root",
                                        store_col_str_or_null(st, 2), "last_used_at",
                                        store_col_int_or_null(st, 3)));
    if (rc != DB_DONE)
        return store_fail(s, rc);
    *out = steal_pointer(&arr);
    return 0;
}

int store_depset_evict(store *s, const char *key)
{
    int r = store_exec(s,
                       "DELETE FROM depsets AS d WHERE d.key = ?1 AND "
                       "d.state IN ('ready', 'failed') AND " STORE_DEPSET_UNNEEDED,
                       1, key);
    if (r < 0)
        return r;
    if (r > 0)
        return 1;
    _cleanup_stmt_ db_stmt *st = NULL;
    return store_row_by_key(s, "SELECT 1 FROM depsets WHERE key = ?1", key, &st);
}

int store_depset_total_bytes(store *s, int64_t *out)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "SELECT COALESCE(SUM(closure_bytes), 0) FROM depsets WHERE state = 'ready'");
    if (!st)
        return store_err(s);
    int rc = db_step(st);
    if (rc != DB_ROW)
        return store_fail(s, rc);
    *out = db_col_int64(st, 0);
    return 0;
}
