/* store_lease.c — leases of every queue table (see store_lease.h). The rules
 * are the same for all: a claim takes one row for one owner (SQLite: inside
 * BEGIN IMMEDIATE; PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent
 * claimers pass over each other's row instead of waiting); every later write
 * names the owner and succeeds only while the lease is still the owner's;
 * otherwise -ESTALE and the caller drops the work without writing. */
#include "store_lease.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every statement of a kind, from its table T (an identifier), key column
 * K and held state S. */
#define LEASE_T(T) #T
#define LEASE_RENEW(T, K, S)                                                                       \
    "UPDATE " LEASE_T(T) " SET lease_expires_at = ?3 WHERE " K " = ?1 AND state = '" S "' AND "    \
                         "lease_owner = ?2"
#define LEASE_STATE(T, K) "SELECT state FROM " LEASE_T(T) " WHERE " K " = ?1"
#define LEASE_HELD(T, K, S, D)                                                                     \
    "SELECT " K " FROM " LEASE_T(T) " WHERE " K " = ?1 AND state = '" S                            \
                                    "' AND lease_owner = ?2" DB_FOR_UPDATE(D)
#define LEASE_EXPIRE(T, S)                                                                         \
    "UPDATE " LEASE_T(T) " SET lease_expires_at = ?2 WHERE state = '" S "' AND lease_owner = ?1 "  \
                         "AND lease_expires_at > ?2"
#define LEASE_EXPIRED(T, K, S, D)                                                                  \
    "SELECT " K ", lease_owner, " LEASE_ITEM_##T                                                   \
        ", attempts, max_attempts FROM " LEASE_T(T) " "                                            \
                                                    "WHERE " LEASE_LIVE_##T                        \
        "state = '" S "' AND lease_expires_at < ?1" DB_SKIP_LOCKED(D)
/* What an expired row names besides itself. */
#define LEASE_ITEM_submissions "depset_key"
#define LEASE_ITEM_depsets "key"
#define LEASE_ITEM_webhook_deliveries "submission_id"
/* The term of submissions' partial index, so SQLite uses it for the scan. */
#define LEASE_LIVE_submissions "state IN ('queued', 'running') AND "
#define LEASE_LIVE_depsets ""
#define LEASE_LIVE_webhook_deliveries ""
#define LEASE_KIND(WHAT, T, K, S, END)                                                             \
    {                                                                                              \
        .what = WHAT, .renew = {LEASE_RENEW(T, K, S), LEASE_RENEW(T, K, S)},                       \
        .state = {LEASE_STATE(T, K), LEASE_STATE(T, K)},                                           \
        .held = {LEASE_HELD(T, K, S, LITE), LEASE_HELD(T, K, S, PG)},                              \
        .expire_owner = {LEASE_EXPIRE(T, S), LEASE_EXPIRE(T, S)},                                  \
        .expired = {LEASE_EXPIRED(T, K, S, LITE), LEASE_EXPIRED(T, K, S, PG)}, .end = {END, END},  \
    }

/* Ending an expired lease: ?1 key, ?2 the new state, ?3 why, ?4 now. */
#define SUB_END                                                                                    \
    "UPDATE submissions SET state = ?2, error = ?3, lease_owner = NULL, lease_expires_at = NULL, " \
    "queued_at = CASE WHEN ?2 = 'queued' THEN ?4 ELSE queued_at END, "                             \
    "finished_at = CASE WHEN ?2 = 'queued' THEN NULL ELSE ?4 END WHERE id = ?1"
#define SET_END                                                                                    \
    "UPDATE depsets SET state = ?2, error = ?3, log = CASE WHEN ?2 = 'failed' THEN ?3 ELSE log "   \
    "END, lease_owner = NULL, lease_expires_at = NULL, "                                           \
    "finished_at = CASE WHEN ?2 = 'failed' THEN ?4 ELSE NULL END WHERE key = ?1"
/* A delivery whose lease ran out is simply claimable again (store_webhooks.c). */
#define HOOK_END NULL

const store_lease_kind store_lease_submission =
    LEASE_KIND("submission", submissions, "id", "running", SUB_END);
const store_lease_kind store_lease_depset =
    LEASE_KIND("dependency set", depsets, "key", "building", SET_END);
const store_lease_kind store_lease_webhook =
    LEASE_KIND("webhook delivery", webhook_deliveries, "id", "pending", HOOK_END);

const char *store_lease_sql(const store *s, const char *const sql[2])
{
    return sql[store_is_pg(s) ? 1 : 0];
}

int store_lease_lost(store *s, const store_lease_kind *k, const char *key, const char *owner)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(s, store_lease_sql(s, k->state));
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, key);
    int rc = db_step(st);
    if (rc == DB_DONE)
        return store_set_error(s, -ENOENT, "no such %s %s", k->what, key);
    if (rc != DB_ROW)
        return store_fail(s, rc);
    return store_set_error(s, -ESTALE, "%s %s is not leased to %s any more (state %s)", k->what,
                           key, owner, db_col_text(st, 0));
}

int store_lease_check(store *s, const store_lease_kind *k, const char *key, const char *owner)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(s, store_lease_sql(s, k->held));
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, key);
    db_bind_text(st, 2, owner);
    int rc = db_step(st);
    if (rc == DB_ROW)
        return 0;
    if (rc != DB_DONE)
        return store_fail(s, rc);
    db_reset(st);
    return store_lease_lost(s, k, key, owner);
}

int store_lease_begin(store *s, const store_lease_kind *k, const char *key, const char *owner)
{
    if (!key || !owner)
        return -EINVAL;
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    r = store_lease_check(s, k, key, owner);
    if (r < 0)
        store_tx_rollback(s);
    return r;
}

int store_lease_write(store *s, const store_lease_kind *k, db_stmt *st, const char *key,
                      const char *owner)
{
    int rc = db_step(st);
    if (rc < 0)
        return store_fail(s, rc);
    if (db_changes(s->db) > 0)
        return 0;
    db_reset(st);
    return store_lease_lost(s, k, key, owner);
}

int store_lease_renew(store *s, const store_lease_kind *k, const char *key, const char *owner,
                      int64_t lease_ms)
{
    if (!key || !owner || lease_ms <= 0)
        return -EINVAL;
    _cleanup_stmt_ db_stmt *st = store_stmt(s, store_lease_sql(s, k->renew));
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, key);
    db_bind_text(st, 2, owner);
    db_bind_int64(st, 3, store_now_ms() + lease_ms);
    return store_lease_write(s, k, st, key, owner);
}

int store_lease_expire_owner(store *s, const store_lease_kind *k, const char *owner)
{
    if (!owner)
        return -EINVAL;
    _cleanup_stmt_ db_stmt *st = store_stmt(s, store_lease_sql(s, k->expire_owner));
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, owner);
    db_bind_int64(st, 2, store_now_ms() + 1);
    int rc = db_step(st);
    if (rc < 0)
        return store_fail(s, rc);
    return (int)db_changes(s->db);
}

int store_lease_claim(store *s, db_stmt *st)
{
    int rc = db_step(st);
    if (rc == DB_DONE)
        return 0;
    if (rc != DB_ROW)
        return store_fail(s, rc);
    return 1;
}

int store_lease_collect_expired(store *s, const store_lease_kind *k, int64_t now,
                                store_lease_expired **out, size_t *n)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(s, store_lease_sql(s, k->expired));
    if (!st)
        return store_err(s);
    db_bind_int64(st, 1, now);
    _cleanup_free_ store_lease_expired *v = NULL;
    size_t cap = 0, len = 0;
    int rc;
    while ((rc = db_step(st)) == DB_ROW) {
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 16;
            store_lease_expired *nv = realloc(v, nc * sizeof(*v));
            if (!nv)
                return -ENOMEM;
            v = nv;
            cap = nc;
        }
        store_lease_expired *e = &v[len++];
        memset(e, 0, sizeof(*e));
        const char *t = db_col_text(st, 0);
        snprintf(e->id, sizeof(e->id), "%s", t ? t : "");
        t = db_col_text(st, 1);
        snprintf(e->owner, sizeof(e->owner), "%s", t ? t : "");
        t = db_col_text(st, 2);
        snprintf(e->key, sizeof(e->key), "%s", t ? t : "");
        e->attempts = db_col_int(st, 3);
        e->max_attempts = db_col_int(st, 4);
    }
    if (rc != DB_DONE)
        return store_fail(s, rc);
    *out = steal_pointer(&v);
    *n = len;
    return 0;
}

int store_lease_end(store *s, const store_lease_kind *k, const char *key, const char *state,
                    const char *why, int64_t now)
{
    if (!k->end[0])
        return -ENOTSUP;
    _cleanup_stmt_ db_stmt *st = store_stmt(s, store_lease_sql(s, k->end));
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, key);
    db_bind_text(st, 2, state);
    db_bind_text(st, 3, why);
    db_bind_int64(st, 4, now);
    int rc = db_step(st);
    return rc == DB_DONE ? 0 : store_fail(s, rc);
}
