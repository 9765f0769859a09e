/* store_submission_view.c — reading submissions as the API shows them: one
 * submission merged with its result and tests, its event stream, and the
 * result cache lookup. Read-only; no lease checks. */
#include "store_internal.h"

#include <errno.h>
#include <string.h>

#include "jsonutil.h"

/* Tests written so far (submission_tests), as result objects with index/name/verdict. */
static int store_sub_tests(store *s, const char *id, json_t **out)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(
        s, "SELECT idx, name, result, verdict FROM submission_tests WHERE submission_id = ?1 "
           "ORDER BY idx");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id);
    _cleanup_json_ json_t *arr = json_array();
    if (!arr)
        return -ENOMEM;
    int rc;
    while ((rc = db_step(st)) == DB_ROW) {
        json_t *t = store_col_json(st, 2);
        if (!json_is_object(t)) {
            json_decref(t);
            t = json_object();
        }
        json_object_set_new(t, "index", json_integer(db_col_int(st, 0)));
        if (!json_object_get(t, "name"))
            json_object_set_new(t, "name", store_col_str_or_null(st, 1));
        if (!json_object_get(t, "verdict"))
            json_object_set_new(t, "verdict", store_col_str_or_null(st, 3));
        json_array_append_new(arr, t);
    }
    if (rc != DB_DONE)
        return store_fail(s, rc);
    *out = steal_pointer(&arr);
    return 0;
}

int store_submission_get(store *s, const char *id, json_t **out)
{
    if (!id)
        return -EINVAL;
    _cleanup_stmt_ db_stmt *st = NULL;
    int rc = store_row_by_key(
        s,
        "SELECT s.id, s.state, s.verdict, s.priority, s.request, s.depset_key, d.state, "
        "s.n_tests, s.result, s.error, s.attempts, s.max_attempts, s.cancel_requested, "
        "s.token_id, s.callback_url, s.cache_key, s.created_at, s.queued_at, s.started_at, "
        "s.finished_at, s.lease_owner, s.lease_expires_at, s.attempt_reasons "
        "FROM submissions s LEFT JOIN depsets d ON d.key = s.depset_key WHERE s.id = ?1",
        id, &st);
    if (rc < 0)
        return rc;

    /* The worker's result object first, then the row's fields over it. */
    _cleanup_json_ json_t *o = store_col_json(st, 8);
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    if (!o)
        return -ENOMEM;
    json_object_set_new(o, "id", store_col_str_or_null(st, 0));
    json_object_set_new(o, "state", store_col_str_or_null(st, 1));
    json_object_set_new(o, "verdict", store_col_str_or_null(st, 2));
    json_object_set_new(o, "priority", json_integer(db_col_int(st, 3)));
    json_object_set_new(o, "request", store_col_json(st, 4));
    json_object_set_new(o, "depset",
                        json_pack("{s:o,s:o}", "key", store_col_str_or_null(st, 5), "state",
                                  store_col_str_or_null(st, 6)));
    json_object_set_new(o, "n_tests", json_integer(db_col_int(st, 7)));
    json_object_set_new(o, "error", store_col_str_or_null(st, 9));
    json_object_set_new(o, "attempts", json_integer(db_col_int(st, 10)));
    json_object_set_new(o, "max_attempts", json_integer(db_col_int(st, 11)));
    json_object_set_new(o, "cancel_requested", json_boolean(db_col_int(st, 12)));
    json_object_set_new(o, "token_id", store_col_str_or_null(st, 13));
    json_object_set_new(o, "callback_url", store_col_str_or_null(st, 14));
    json_object_set_new(o, "cache_key", store_col_str_or_null(st, 15));
    json_object_set_new(o, "created_at", store_col_int_or_null(st, 16));
    json_object_set_new(o, "queued_at", store_col_int_or_null(st, 17));
    json_object_set_new(o, "started_at", store_col_int_or_null(st, 18));
    json_object_set_new(o, "finished_at", store_col_int_or_null(st, 19));
    json_object_set_new(o, "lease_owner", store_col_str_or_null(st, 20));
    json_object_set_new(o, "lease_expires_at", store_col_int_or_null(st, 21));
    /* Why earlier attempts failed (issue 18): [{attempt, owner, kind, message, at}]. */
    json_t *reasons = store_col_json(st, 22);
    json_object_set_new(o, "attempt_reasons", json_is_array(reasons) ? reasons : json_array());
    if (!json_is_array(reasons))
        json_decref(reasons);
    db_reset(st);
    if (!json_object_get(o, "compile"))
        json_object_set_new(o, "compile", json_null());
    /* Tests: the final result's list when it has one, else what has been
     * written so far (a running submission shows its progress). */
    if (!json_is_array(json_object_get(o, "tests"))) {
        json_t *tests = NULL;
        int r = store_sub_tests(s, id, &tests);
        if (r < 0)
            return r;
        json_object_set_new(o, "tests", tests);
    }
    *out = steal_pointer(&o);
    return 0;
}

/* Events with seq > after_seq from submission_event_rows, oldest first. */
static int store_sub_table_events(store *s, const char *id, int64_t after_seq, json_t *arr)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "SELECT seq, type, data, at FROM submission_event_rows "
                      "WHERE submission_id = ?1 AND seq > ?2 ORDER BY seq");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id);
    db_bind_int64(st, 2, after_seq);
    int rc;
    while ((rc = db_step(st)) == DB_ROW)
        if (json_array_append_new(
                arr, json_pack("{s:I,s:o,s:o,s:I}", "seq", (json_int_t)db_col_int64(st, 0), "type",
                               store_col_str_or_null(st, 1), "data", store_col_json(st, 2), "at",
                               (json_int_t)db_col_int64(st, 3))) < 0)
            return -ENOMEM;
    return rc == DB_DONE ? 0 : store_fail(s, rc);
}

static int64_t store_event_seq(json_t *e)
{
    return json_integer_value(json_object_get(e, "seq"));
}

/* The row's inline events (schema/002_inline_events.sql) and the table's,
 * merged by seq; each list is already in seq order. */
#define SQL_EVENTS_INLINE(D) "SELECT events, " STORE_EVENT_LAST(D) " FROM submissions WHERE id = ?1"

int store_submission_events(store *s, const char *id, int64_t after_seq, json_t **out)
{
    if (!id)
        return -EINVAL;
    _cleanup_json_ json_t *inl = NULL;
    {
        _cleanup_stmt_ db_stmt *st = NULL;
        int rc = store_row_by_key(s, STORE_SQL(s, SQL_EVENTS_INLINE), id, &st);
        if (rc < 0)
            return rc;
        if (db_col_int64(st, 1) <= after_seq) { /* nothing new: no parsing */
            *out = json_array();
            return *out ? 0 : -ENOMEM;
        }
        inl = store_col_json(st, 0);
    }
    _cleanup_json_ json_t *tab = json_array();
    _cleanup_json_ json_t *arr = json_array();
    if (!tab || !arr)
        return -ENOMEM;
    int r = store_sub_table_events(s, id, after_seq, tab);
    if (r < 0)
        return r;
    size_t i = 0, j = 0, ni = json_is_array(inl) ? json_array_size(inl) : 0;
    size_t nj = json_array_size(tab);
    while (i < ni && store_event_seq(json_array_get(inl, i)) <= after_seq)
        i++;
    while (i < ni || j < nj) {
        json_t *a = i < ni ? json_array_get(inl, i) : NULL;
        json_t *b = j < nj ? json_array_get(tab, j) : NULL;
        json_t *next;
        if (a && (!b || store_event_seq(a) < store_event_seq(b)))
            next = a, i++;
        else
            next = b, j++;
        if (json_array_append(arr, next) < 0)
            return -ENOMEM;
    }
    *out = steal_pointer(&arr);
    return 0;
}

int store_submission_find_cached(store *s, const char *cache_key, char id_out[33])
{
    if (!cache_key || !cache_key[0])
        return 0;
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "SELECT id FROM submissions WHERE cache_key = ?1 AND state = 'finished' "
                      "ORDER BY finished_at DESC LIMIT 1");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, cache_key);
    int rc = db_step(st);
    if (rc == DB_DONE)
        return 0;
    if (rc != DB_ROW)
        return store_fail(s, rc);
    snprintf(id_out, 33, "%s", db_col_text(st, 0));
    return 1;
}
