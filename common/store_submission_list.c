/* store_submission_list.c — submissions listed and counted for the
 * compatibility fronts' admin endpoints (Judge0's GET /submissions and
 * /statistics): only the rows a front made (request.meta.front). */
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "jsonutil.h"

/* The front that made a submission (request.meta.front). */
#define SQL_FRONT(D)                                                                               \
    DB_IF(D, "json_extract(request, '$.meta.front')", "(request::json #>> '{meta,front}')")
#define SQL_FRONT_COUNT(D) "SELECT COUNT(*) FROM submissions WHERE " SQL_FRONT(D) " = ?1"
#define SQL_FRONT_IDS(D)                                                                           \
    "SELECT id FROM submissions WHERE " SQL_FRONT(                                                 \
        D) " = ?1 "                                                                                \
           "ORDER BY created_at DESC, seq DESC LIMIT ?2 OFFSET ?3"

int store_submission_ids(store *s, const char *front, int64_t offset, int64_t limit, json_t **ids,
                         int64_t *total)
{
    *ids = NULL;
    *total = 0;
    _cleanup_json_ json_t *arr = json_array();
    if (!arr)
        return -ENOMEM;
    {
        _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_FRONT_COUNT));
        if (!st)
            return store_err(s);
        db_bind_text(st, 1, front);
        int rc = db_step(st);
        if (rc != DB_ROW)
            return store_fail(s, rc);
        *total = db_col_int64(st, 0);
    }
    _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_FRONT_IDS));
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, front);
    db_bind_int64(st, 2, limit);
    db_bind_int64(st, 3, offset);
    int rc;
    while ((rc = db_step(st)) == DB_ROW)
        if (json_array_append_new(arr, json_string(db_col_text(st, 0))) < 0)
            return -ENOMEM;
    if (rc != DB_DONE)
        return store_fail(s, rc);
    *ids = steal_pointer(&arr);
    return 0;
}

/* Appends [{k1: col0, ..., count: colN}] rows of a query bound to front. */
static int rows_into(store *s, const char *sql, const char *front, int64_t since,
                     const char *const *keys, json_t *arr)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(s, sql);
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, front);
    db_bind_int64(st, 2, since);
    int rc;
    while ((rc = db_step(st)) == DB_ROW) {
        json_t *o = json_object();
        if (!o || json_array_append_new(arr, o) < 0)
            return -ENOMEM;
        for (int i = 0; keys[i]; i++) {
            json_t *v;
            switch (db_col_type(st, i)) {
            case DB_T_INT:
                v = json_integer(db_col_int64(st, i));
                break;
            case DB_T_NULL:
                v = json_null();
                break;
            case DB_T_JSON:
                v = store_col_json(st, i);
                break;
            default:
                v = json_string(db_col_text(st, i));
            }
            json_object_set_new(o, keys[i], v);
        }
    }
    return rc == DB_DONE ? 0 : store_fail(s, rc);
}

#define SQL_STATS_OUTCOMES(D)                                                                      \
    "SELECT state, verdict, COUNT(*) FROM submissions WHERE " SQL_FRONT(                           \
        D) " = ?1 AND ?2 >= 0 "                                                                    \
           "GROUP BY state, verdict"
#define SQL_STATS_LANGS(D)                                                                         \
    "SELECT " DB_IF(                                                                               \
        D, "json_extract(request, '$.meta.language_id')",                                          \
        "request::jsonb #> '{meta,language_id}'") ", COUNT(*) FROM submissions "                   \
                                                  "WHERE " SQL_FRONT(                              \
                                                      D) " = ?1 AND ?2 >= 0 GROUP BY 1"
#define SQL_STATS_DAYS(D)                                                                          \
    "SELECT " DB_IF(                                                                               \
        D, "date(created_at / 1000, 'unixepoch')",                                                 \
        "to_char(to_timestamp(created_at / 1000), 'YYYY-MM-DD')") ", COUNT(*) "                    \
                                                                  "FROM submissions "              \
                                                                  "WHERE " SQL_FRONT(              \
                                                                      D) " = ?1 AND created_at "   \
                                                                         ">= ?2 GROUP BY 1"
#define SQL_DB_BYTES(D)                                                                            \
    DB_IF(D, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",         \
          "SELECT pg_database_size(current_database())")

int store_submission_stats(store *s, const char *front, int64_t since_ms, json_t **out)
{
    *out = NULL;
    _cleanup_json_ json_t *o = json_pack("{s:[], s:[], s:[]}", "outcomes", "languages", "days");
    if (!o)
        return -ENOMEM;
    static const char *const k_out[] = {"state", "verdict", "count", NULL};
    static const char *const k_lang[] = {"language_id", "count", NULL};
    static const char *const k_day[] = {"day", "count", NULL};
    int r = rows_into(s, STORE_SQL(s, SQL_STATS_OUTCOMES), front, 0, k_out,
                      json_object_get(o, "outcomes"));
    if (r >= 0)
        r = rows_into(s, STORE_SQL(s, SQL_STATS_LANGS), front, 0, k_lang,
                      json_object_get(o, "languages"));
    if (r >= 0)
        r = rows_into(s, STORE_SQL(s, SQL_STATS_DAYS), front, since_ms, k_day,
                      json_object_get(o, "days"));
    if (r < 0)
        return r;
    _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_DB_BYTES));
    if (st && db_step(st) == DB_ROW)
        json_object_set_new(o, "db_bytes", json_integer(db_col_int64(st, 0)));
    *out = steal_pointer(&o);
    return 0;
}
