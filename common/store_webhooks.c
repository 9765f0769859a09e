/* store_webhooks.c — SQL of the webhook outbox (see store_webhooks.h).
 *
 * A claim is one UPDATE ... RETURNING, so two webhook processes never take the
 * same delivery; an expired lease (the process died mid-POST) makes the row
 * claimable again with its attempt count unchanged, which is how a restart
 * resumes. */
#include "store_webhooks.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_lease.h"

void store_webhook_done(store_webhook *w)
{
    if (!w)
        return;
    free(w->url);
    w->url = NULL;
}

#define SQL_HOOK_CLAIM(D)                                                                          \
    "UPDATE webhook_deliveries SET lease_owner = ?2, lease_expires_at = ?3 "                       \
    "WHERE id = (SELECT id FROM webhook_deliveries WHERE state = 'pending' "                       \
    "  AND next_attempt_at <= ?1 "                                                                 \
    "  AND (lease_expires_at IS NULL OR lease_expires_at < ?1) "                                   \
    "  ORDER BY next_attempt_at, created_at LIMIT 1" DB_SKIP_LOCKED(                               \
        D) ") "                                                                                    \
           "RETURNING id, submission_id, url, attempts, created_at"

int store_webhook_claim(store *s, const char *owner, int64_t now, int64_t lease_ms,
                        store_webhook *out)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_HOOK_CLAIM));
    if (!st)
        return store_err(s);
    db_bind_int64(st, 1, now);
    db_bind_text(st, 2, owner);
    db_bind_int64(st, 3, now + lease_ms);
    int rc = store_lease_claim(s, st);
    if (rc <= 0)
        return rc;
    store_webhook w = {0};
    snprintf(w.id, sizeof w.id, "%s", db_col_text(st, 0));
    snprintf(w.submission_id, sizeof w.submission_id, "%s", db_col_text(st, 1));
    w.url = store_col_strdup(st, 2);
    w.attempts = db_col_int(st, 3);
    w.created_at = db_col_int64(st, 4);
    /* Step to the end so the write is complete before the statement resets. */
    rc = db_step(st);
    if (rc != DB_DONE) {
        free(w.url);
        return store_fail(s, rc);
    }
    if (!w.url)
        return -ENOMEM;
    *out = w;
    return 1;
}

int store_webhook_attempt(store *s, const char *id, const char *owner, int http_status,
                          const char *error, int64_t duration_ms, store_webhook_outcome outcome,
                          int64_t next_attempt_at)
{
    int64_t now = store_now_ms();
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    _cleanup_tx_ store *tx = s;
    const char *state = outcome == STORE_WEBHOOK_DELIVERED ? "delivered"
                        : outcome == STORE_WEBHOOK_FAILED  ? "failed"
                                                           : "pending";
    {
        _cleanup_stmt_ db_stmt *st = store_stmt(
            s, "UPDATE webhook_deliveries SET attempts = attempts + 1, state = ?3, "
               "  last_status = ?4, last_error = ?5, next_attempt_at = ?6, "
               "  lease_owner = NULL, lease_expires_at = NULL, "
               "  delivered_at = CASE WHEN ?3 = 'delivered' THEN ?7 ELSE delivered_at END, "
               "  finished_at = CASE WHEN ?3 = 'pending' THEN NULL ELSE ?7 END "
               "WHERE id = ?1 AND state = 'pending' AND lease_owner = ?2");
        if (!st)
            return store_err(s);
        db_bind_text(st, 1, id);
        db_bind_text(st, 2, owner);
        db_bind_text(st, 3, state);
        if (http_status > 0)
            db_bind_int64(st, 4, http_status);
        else
            db_bind_null(st, 4);
        db_bind_text(st, 5, error); /* NULL binds NULL */
        if (outcome == STORE_WEBHOOK_RETRY)
            db_bind_int64(st, 6, next_attempt_at);
        else
            db_bind_null(st, 6);
        db_bind_int64(st, 7, now);
        r = store_lease_write(s, &store_lease_webhook, st, id, owner);
        if (r < 0)
            return r;
    }
    {
        _cleanup_stmt_ db_stmt *st = store_stmt(
            s,
            "INSERT INTO webhook_attempts (delivery_id, status, error, at, duration_ms, attempt) "
            "SELECT ?1, ?2, ?3, ?4, ?5, attempts FROM webhook_deliveries WHERE id = ?1");
        if (!st)
            return store_err(s);
        db_bind_text(st, 1, id);
        if (http_status > 0)
            db_bind_int64(st, 2, http_status);
        else
            db_bind_null(st, 2);
        db_bind_text(st, 3, error);
        db_bind_int64(st, 4, now);
        db_bind_int64(st, 5, duration_ms);
        int rc = db_step(st);
        if (rc != DB_DONE)
            return store_fail(s, rc);
    }
    r = store_tx_commit(s);
    if (r < 0)
        return r;
    tx = NULL;
    return 0;
}

int store_webhook_defer(store *s, const char *id, const char *owner, int64_t until)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "UPDATE webhook_deliveries SET next_attempt_at = ?3, lease_owner = NULL, "
                      "  lease_expires_at = NULL "
                      "WHERE id = ?1 AND state = 'pending' AND lease_owner = ?2");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, owner);
    db_bind_int64(st, 3, until);
    return store_lease_write(s, &store_lease_webhook, st, id, owner);
}

#define SQL_HOOK_NEXT(D)                                                                           \
    "SELECT min(" DB_MAX2(D) "(next_attempt_at, coalesce(lease_expires_at, 0))) "                  \
                             "FROM webhook_deliveries WHERE state = 'pending'"

int store_webhook_next_due(store *s, int64_t *at)
{
    /* A leased row is due again when its lease expires. */
    _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_HOOK_NEXT));
    if (!st)
        return store_err(s);
    int rc = db_step(st);
    if (rc != DB_ROW)
        return store_fail(s, rc);
    *at = db_col_is_null(st, 0) ? INT64_MAX : db_col_int64(st, 0);
    return 0;
}

int store_webhook_host_get(store *s, const char *host, store_webhook_host *out)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(
        s, "SELECT state, failures, opened, open_until FROM webhook_hosts WHERE host = ?1");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, host);
    int rc = db_step(st);
    store_webhook_host h = {.state = "closed"};
    if (rc == DB_ROW) {
        snprintf(h.state, sizeof h.state, "%s", db_col_text(st, 0));
        h.failures = db_col_int(st, 1);
        h.opened = db_col_int(st, 2);
        h.open_until = db_col_int64(st, 3);
    } else if (rc != DB_DONE) {
        return store_fail(s, rc);
    }
    *out = h;
    return 0;
}

int store_webhook_host_put(store *s, const char *host, const store_webhook_host *h)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(
        s, "INSERT INTO webhook_hosts (host, state, failures, opened, open_until, updated_at) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
           "ON CONFLICT (host) DO UPDATE SET state = ?2, failures = ?3, opened = ?4, "
           "  open_until = ?5, updated_at = ?6");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, host);
    db_bind_text(st, 2, h->state);
    db_bind_int64(st, 3, h->failures);
    db_bind_int64(st, 4, h->opened);
    if (h->open_until)
        db_bind_int64(st, 5, h->open_until);
    else
        db_bind_null(st, 5);
    db_bind_int64(st, 6, store_now_ms());
    int rc = db_step(st);
    return rc == DB_DONE ? 0 : store_fail(s, rc);
}

static int store_webhook_attempts_json(store *s, const char *delivery_id, json_t *arr)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "SELECT attempt, status, error, duration_ms, at FROM webhook_attempts "
                      "WHERE delivery_id = ?1 ORDER BY at, id");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, delivery_id);
    int rc;
    while ((rc = db_step(st)) == DB_ROW) {
        json_t *a = json_object();
        json_object_set_new(a, "attempt", store_col_int_or_null(st, 0));
        json_object_set_new(a, "status", store_col_int_or_null(st, 1));
        json_object_set_new(a, "error", store_col_str_or_null(st, 2));
        json_object_set_new(a, "duration_ms", store_col_int_or_null(st, 3));
        json_object_set_new(a, "at", store_col_int_or_null(st, 4));
        json_array_append_new(arr, a);
    }
    return rc == DB_DONE ? 0 : store_fail(s, rc);
}

static inline void store_webhook_json_decrefp(json_t **j)
{
    json_decref(*j);
}

int store_webhook_deliveries_json(store *s, const char *submission_id, json_t **out)
{
    _cleanup_(store_webhook_json_decrefp) json_t *arr = json_array();
    if (!arr)
        return -ENOMEM;
    {
        _cleanup_stmt_ db_stmt *st = store_stmt(
            s, "SELECT id, url, state, attempts, next_attempt_at, last_status, last_error, "
               "  created_at, delivered_at, finished_at "
               "FROM webhook_deliveries WHERE submission_id = ?1 ORDER BY created_at, id");
        if (!st)
            return store_err(s);
        db_bind_text(st, 1, submission_id);
        int rc;
        while ((rc = db_step(st)) == DB_ROW) {
            json_t *d = json_object();
            json_object_set_new(d, "id", store_col_str_or_null(st, 0));
            json_object_set_new(d, "url", store_col_str_or_null(st, 1));
            json_object_set_new(d, "state", store_col_str_or_null(st, 2));
            json_object_set_new(d, "attempts", store_col_int_or_null(st, 3));
            json_object_set_new(d, "next_attempt_at", store_col_int_or_null(st, 4));
            json_object_set_new(d, "last_status", store_col_int_or_null(st, 5));
            json_object_set_new(d, "last_error", store_col_str_or_null(st, 6));
            json_object_set_new(d, "created_at", store_col_int_or_null(st, 7));
            json_object_set_new(d, "delivered_at", store_col_int_or_null(st, 8));
            json_object_set_new(d, "finished_at", store_col_int_or_null(st, 9));
            json_array_append_new(arr, d);
        }
        if (rc != DB_DONE)
            return store_fail(s, rc);
    }
    size_t i;
    json_t *d;
    json_array_foreach(arr, i, d)
    {
        json_t *log = json_array();
        json_object_set_new(d, "attempt_log", log);
        int r = store_webhook_attempts_json(s, json_string_value(json_object_get(d, "id")), log);
        if (r < 0)
            return r;
    }
    *out = steal_pointer(&arr);
    return 0;
}
