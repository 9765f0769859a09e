/* store_compat_files.c — SQL for compat_files. See store_compat_files.h. */
#include "store_compat_files.h"

#include <errno.h>
#include <string.h>

#include "store_internal.h"

int store_compat_file_put(store *s, const char *front, const char *id, store_blob *b,
                          int64_t ttl_ms)
{
    int64_t now = store_now_ms();
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    if ((r = store_blob_put(s, b)) < 0)
        goto fail;
    {
        _cleanup_stmt_ db_stmt *del =
            store_stmt(s, "DELETE FROM compat_files WHERE expires_at <= ?1");
        if (!del) {
            r = store_err(s);
            goto fail;
        }
        db_bind_int64(del, 1, now);
        int rc = db_step(del);
        if (rc != DB_DONE) {
            r = store_fail(s, rc);
            goto fail;
        }
    }
    {
        _cleanup_stmt_ db_stmt *st = store_stmt(
            s, "INSERT INTO compat_files (front, file_id, sha256, size, created_at, expires_at) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (front, file_id) DO UPDATE SET "
               "sha256 = excluded.sha256, size = excluded.size, created_at = excluded.created_at, "
               "expires_at = excluded.expires_at");
        if (!st) {
            r = store_err(s);
            goto fail;
        }
        db_bind_text(st, 1, front);
        db_bind_text(st, 2, id);
        db_bind_text(st, 3, b->sha256);
        db_bind_int64(st, 4, (int64_t)b->len);
        db_bind_int64(st, 5, now);
        db_bind_int64(st, 6, now + (ttl_ms > 0 ? ttl_ms : 1));
        int rc = db_step(st);
        if (rc != DB_DONE) {
            r = store_fail(s, rc);
            goto fail;
        }
    }
    return store_tx_commit(s);
fail:
    store_tx_rollback(s);
    return r;
}

int store_compat_file_get(store *s, const char *front, const char *id, int64_t ttl_ms,
                          char sha256_out[65])
{
    int64_t now = store_now_ms();
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "SELECT sha256 FROM compat_files WHERE front = ?1 AND file_id = ?2 "
                      "AND expires_at > ?3");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, front);
    db_bind_text(st, 2, id);
    db_bind_int64(st, 3, now);
    int rc = db_step(st);
    if (rc == DB_DONE)
        return 0;
    if (rc != DB_ROW)
        return store_fail(s, rc);
    const char *sha = db_col_text(st, 0);
    if (!sha || strlen(sha) != 64)
        return -EPROTO;
    memcpy(sha256_out, sha, 65);
    db_reset(st);
    if (ttl_ms <= 0)
        return 1;
    _cleanup_stmt_ db_stmt *up =
        store_stmt(s, "UPDATE compat_files SET expires_at = ?3 WHERE front = ?1 AND file_id = ?2");
    if (!up)
        return store_err(s);
    db_bind_text(up, 1, front);
    db_bind_text(up, 2, id);
    db_bind_int64(up, 3, now + ttl_ms);
    rc = db_step(up);
    if (rc != DB_DONE)
        return store_fail(s, rc);
    return 1;
}
