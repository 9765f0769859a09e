/* store_evalcache.c — SQL for eval_cache. See store_evalcache.h. */
#include "store_evalcache.h"

#include <errno.h>
#include <string.h>

#include "jsonutil.h"
#include "store_internal.h"

int store_evalcache_get(store *s, const char *set_id, const char *attr, json_t **result_out)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "SELECT result FROM eval_cache WHERE set_id = ?1 AND attr = ?2");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, set_id);
    db_bind_text(st, 2, attr);
    int rc = db_step(st);
    if (rc == DB_DONE)
        return 0;
    if (rc != DB_ROW)
        return store_fail(s, rc);
    json_t *v = store_col_json(st, 0);
    if (!json_is_object(v)) {
        json_decref(v);
        return 0; /* junk: evaluate again */
    }
    *result_out = v;
    return 1;
}

int store_evalcache_put_many(store *s, const char *source, const char *set_id,
                             const json_t *results)
{
    int64_t now = store_now_ms();
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    store *tx _cleanup_tx_ = s;
    r = store_exec(s, "DELETE FROM eval_cache WHERE source = ?1 AND set_id <> ?2", 2, source,
                   set_id);
    if (r < 0)
        return r;
    const char *attr;
    json_t *v;
    json_object_foreach((json_t *)results, attr, v)
    {
        _cleanup_free_ char *text = jsonutil_dump_sorted(v);
        if (!text)
            return -ENOMEM;
        _cleanup_stmt_ db_stmt *st = store_stmt(
            s, "INSERT INTO eval_cache (set_id, source, attr, ok, result, created_at) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (set_id, attr) DO UPDATE SET "
               "source = excluded.source, ok = excluded.ok, result = excluded.result, "
               "created_at = excluded.created_at");
        if (!st)
            return store_err(s);
        db_bind_text(st, 1, set_id);
        db_bind_text(st, 2, source);
        db_bind_text(st, 3, attr);
        db_bind_int64(st, 4, json_is_true(json_object_get(v, "ok")) ? 1 : 0);
        db_bind_text(st, 5, text);
        db_bind_int64(st, 6, now);
        int rc = db_step(st);
        if (rc != DB_DONE)
            return store_fail(s, rc);
    }
    (void)tx;
    return store_tx_commit(s);
}

int store_evalcache_list(store *s, const char *set_id, json_t **out)
{
    _cleanup_json_ json_t *o = json_object();
    if (!o)
        return -ENOMEM;
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "SELECT attr, result FROM eval_cache WHERE set_id = ?1 ORDER BY attr");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, set_id);
    int rc;
    while ((rc = db_step(st)) == DB_ROW) {
        const char *attr = db_col_text(st, 0);
        json_t *v = store_col_json(st, 1);
        if (attr && json_is_object(v))
            json_object_set_new(o, attr, v);
        else
            json_decref(v);
    }
    if (rc != DB_DONE)
        return store_fail(s, rc);
    *out = steal_pointer(&o);
    return 0;
}
