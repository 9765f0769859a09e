/* store_attempts.c — a submission's failed attempts (issue 18): the holder
 * gives a row back after a failure of the farm's own, with the attempt
 * counted and its reason kept; the last allowed attempt ends the row
 * internal_error with every reason in `error`. See schema/040_attempt_reasons.sql. */
#include "store_lease.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "jsonutil.h"

void store_owner_slot(const char *owner, char *buf, size_t len)
{
    const char *last = owner ? strrchr(owner, ':') : NULL;
    const char *prev = NULL;

    if (!len)
        return;
    for (const char *p = owner; last && p < last; p++)
        if (*p == ':')
            prev = p;
    if (!prev) {
        snprintf(buf, len, "%s", owner ? owner : "");
        return;
    }
    snprintf(buf, len, "%.*s%s", (int)(prev - owner), owner, last);
}

#define SQL_REASON_ADD(D)                                                                          \
    "UPDATE submissions SET attempt_reasons = " DB_IF(                                             \
        D, "json_insert(COALESCE(attempt_reasons, '[]'), '$[#]', json(?2))",                       \
        "(COALESCE(attempt_reasons, '[]')::jsonb || jsonb_build_array(?2::jsonb))::text") " WHERE" \
                                                                                          " id = " \
                                                                                          "?1"

int store_attempt_reason_add(store *s, const char *id, int attempt, const char *owner,
                             const char *kind, const char *message, int64_t now)
{
    _cleanup_json_ json_t *e =
        json_pack("{s:i,s:s,s:s,s:s,s:I}", "attempt", attempt, "owner", owner ? owner : "", "kind",
                  kind, "message", message ? message : "", "at", (json_int_t)now);
    _cleanup_free_ char *text = e ? jsonutil_dump(e) : NULL;
    if (!text)
        return -ENOMEM;
    _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_REASON_ADD));
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, text);
    int rc = db_step(st);
    return rc == DB_DONE ? 0 : store_fail(s, rc);
}

char *store_attempt_reasons_text(store *s, const char *id)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "SELECT attempt_reasons FROM submissions WHERE id = ?1");
    if (!st)
        return NULL;
    db_bind_text(st, 1, id);
    if (db_step(st) != DB_ROW)
        return NULL;
    const char *raw = db_col_text(st, 0);
    _cleanup_json_ json_t *a = raw ? json_loads(raw, 0, NULL) : json_array();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    size_t i;
    json_t *e;

    if (!f)
        return NULL;
    fprintf(f, "gave up after %zu attempts: ", json_array_size(a));
    json_array_foreach(a, i, e)
    {
        fprintf(f, "%sattempt %lld (%s): %s: %s", i ? "; " : "",
                (long long)json_integer_value(json_object_get(e, "attempt")),
                json_string_value(json_object_get(e, "owner")) ?: "?",
                json_string_value(json_object_get(e, "kind")) ?: "?",
                json_string_value(json_object_get(e, "message")) ?: "");
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The row's attempts and max_attempts while owner holds it (locked). */
#define SQL_ATTEMPT_COUNTS(D)                                                                      \
    "SELECT attempts, max_attempts FROM submissions WHERE id = ?1 AND state = 'running' AND "      \
    "lease_owner = ?2" DB_FOR_UPDATE(D)

static int store_attempt_counts(store *s, const char *id, const char *owner, int *attempts,
                                int *max)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_ATTEMPT_COUNTS));
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, owner);
    int rc = db_step(st);
    if (rc == DB_DONE) {
        db_reset(st);
        return store_lease_lost(s, &store_lease_submission, id, owner);
    }
    if (rc != DB_ROW)
        return store_fail(s, rc);
    *attempts = db_col_int(st, 0);
    *max = db_col_int(st, 1);
    return 0;
}

static bool kind_ok(const char *k)
{
    size_t n = k ? strlen(k) : 0;

    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || k[i] == '_'))
            return false;
    return true;
}

int store_submission_release_failed(store *s, const char *id, const char *owner, const char *kind,
                                    const char *message)
{
    if (!id || !owner || !kind_ok(kind))
        return -EINVAL;
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    store *tx _cleanup_tx_ = s;
    int attempts = 0, max = 0;
    if ((r = store_attempt_counts(s, id, owner, &attempts, &max)) < 0)
        return r;
    int64_t now = store_now_ms();
    bool give_up = attempts >= max;
    char slot[160];
    store_owner_slot(owner, slot, sizeof(slot));
    /* The state moves first, so the metrics trigger on attempt_reasons sees it. */
    _cleanup_stmt_ db_stmt *st = store_stmt(
        s, "UPDATE submissions SET state = ?2, lease_owner = NULL, lease_expires_at = NULL, "
           "last_failed_slot = ?3, "
           "queued_at = CASE WHEN ?2 = 'queued' THEN ?4 ELSE queued_at END, "
           "finished_at = CASE WHEN ?2 = 'queued' THEN NULL ELSE ?4 END WHERE id = ?1");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, give_up ? "internal_error" : "queued");
    db_bind_text(st, 3, slot);
    db_bind_int64(st, 4, now);
    int rc = db_step(st);
    if (rc != DB_DONE)
        return store_fail(s, rc);
    if ((r = store_attempt_reason_add(s, id, attempts, owner, kind, message, now)) < 0)
        return r;
    _cleanup_free_ char *why = give_up ? store_attempt_reasons_text(s, id)
                                       : store_strdupf("attempt %d of %d failed: %s: %s", attempts,
                                                       max, kind, message ? message : "");
    if (!why)
        return -ENOMEM;
    if ((r = store_exec(s, "UPDATE submissions SET error = ?2 WHERE id = ?1", 2, id, why)) < 0)
        return r;
    _cleanup_json_ json_t *d =
        json_pack("{s:s,s:s,s:s,s:s,s:i}", "state", give_up ? "internal_error" : "queued", "reason",
                  "internal_failure", "kind", kind, "error", why, "attempts", attempts);
    if (!d)
        return -ENOMEM;
    if ((r = store_event_append(s, id, "state", d, now)) < 0)
        return r;
    if (!give_up)
        store_ring_later(s, STORE_ROLE_WORKER);
    else
        store_ring_later(s, STORE_ROLE_EVENTS);
    r = store_tx_commit(s);
    return r < 0 ? r : give_up ? 1 : 0;
}
