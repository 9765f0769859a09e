/* store_tokens.c — SQL for api_tokens and api_counters. See store_tokens.h. */
#include "store_tokens.h"

#include <errno.h>
#include <string.h>

#include "hash.h"
#include "jsonutil.h"
#include "store_internal.h"

int store_token_create(store *s, const char *name, json_t *scopes, const char *token_sha256,
                       char id_out[33])
{
    char id[33];
    int r = hash_random_id(id);
    if (r < 0)
        return r;
    _cleanup_free_ char *sc = jsonutil_dump(scopes);
    if (!sc)
        return -ENOMEM;
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "INSERT INTO api_tokens (id, name, token_sha256, scopes, created_at) "
                      "VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, name);
    db_bind_text(st, 3, token_sha256);
    db_bind_text(st, 4, sc);
    db_bind_int64(st, 5, store_now_ms());
    int rc = db_step(st);
    if (rc != DB_DONE)
        return store_fail(s, rc);
    memcpy(id_out, id, sizeof(id));
    return 0;
}

static json_t *token_row(db_stmt *st)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "id", store_col_str_or_null(st, 0), "name",
                     store_col_str_or_null(st, 1), "scopes", store_col_json(st, 2), "created_at",
                     store_col_int_or_null(st, 3), "last_used_at", store_col_int_or_null(st, 4),
                     "revoked_at", store_col_int_or_null(st, 5));
}

int store_token_find(store *s, const char *token_sha256, json_t **out)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "SELECT id, name, scopes, created_at, last_used_at, revoked_at "
                      "FROM api_tokens WHERE token_sha256 = ?1");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, token_sha256);
    int rc = db_step(st);
    if (rc == DB_DONE)
        return 0;
    if (rc != DB_ROW)
        return store_fail(s, rc);
    json_t *row = token_row(st);
    if (!row)
        return -ENOMEM;
    *out = row;
    return 1;
}

int store_token_list(store *s, json_t **out)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "SELECT id, name, scopes, created_at, last_used_at, revoked_at "
                      "FROM api_tokens ORDER BY created_at, id");
    if (!st)
        return store_err(s);
    _cleanup_json_ json_t *arr = json_array();
    int rc;
    while ((rc = db_step(st)) == DB_ROW)
        if (json_array_append_new(arr, token_row(st)) < 0)
            return -ENOMEM;
    if (rc != DB_DONE)
        return store_fail(s, rc);
    *out = steal_pointer(&arr);
    return 0;
}

int store_token_revoke(store *s, const char *id)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id);
    db_bind_int64(st, 2, store_now_ms());
    int rc = db_step(st);
    if (rc != DB_DONE)
        return store_fail(s, rc);
    if (db_changes(s->db) > 0)
        return 1;
    _cleanup_stmt_ db_stmt *q = store_stmt(s, "SELECT 1 FROM api_tokens WHERE id = ?1");
    if (!q)
        return store_err(s);
    db_bind_text(q, 1, id);
    rc = db_step(q);
    if (rc == DB_ROW)
        return 0;
    if (rc == DB_DONE)
        return -ENOENT;
    return store_fail(s, rc);
}

int store_token_touch(store *s, const char *id, int64_t now_ms)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id);
    db_bind_int64(st, 2, now_ms);
    int rc = db_step(st);
    return rc == DB_DONE ? 0 : store_fail(s, rc);
}

int store_counters_add(store *s, const char *const *names, const int64_t *deltas, size_t n)
{
    if (n == 0)
        return 0;
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    _cleanup_tx_ store *tx = s;
    for (size_t i = 0; i < n; i++) {
        _cleanup_stmt_ db_stmt *st = store_stmt(
            s, "INSERT INTO api_counters (name, value) VALUES (?1, ?2) "
               "ON CONFLICT (name) DO UPDATE SET value = api_counters.value + excluded.value");
        if (!st)
            return store_err(s);
        db_bind_text(st, 1, names[i]);
        db_bind_int64(st, 2, deltas[i]);
        int rc = db_step(st);
        if (rc != DB_DONE)
            return store_fail(s, rc);
    }
    return store_tx_commit(s);
}

int store_counters(store *s, json_t **out)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "SELECT name, value FROM api_counters ORDER BY name");
    if (!st)
        return store_err(s);
    _cleanup_json_ json_t *o = json_object();
    int rc;
    while ((rc = db_step(st)) == DB_ROW)
        json_object_set_new(o, db_col_text(st, 0), json_integer(db_col_int64(st, 1)));
    if (rc != DB_DONE)
        return store_fail(s, rc);
    *out = steal_pointer(&o);
    return 0;
}
