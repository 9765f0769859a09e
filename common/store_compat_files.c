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
        _cleanup_stmt_ sqlite3_stmt *del =
            store_stmt(s, "DELETE FROM compat_files WHERE expires_at <= ?1");
        if (!del) {
            r = store_err(s);
            goto fail;
        }
        sqlite3_bind_int64(del, 1, now);
        int rc = sqlite3_step(del);
        if (rc != SQLITE_DONE) {
            r = store_fail(s, rc);
            goto fail;
        }
    }
    {
        _cleanup_stmt_ sqlite3_stmt *st = store_stmt(
            s, "INSERT OR REPLACE INTO compat_files (front, file_id, sha256, size, created_at, "
               "expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
        if (!st) {
            r = store_err(s);
            goto fail;
        }
        sqlite3_bind_text(st, 1, front, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, b->sha256, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)b->len);
        sqlite3_bind_int64(st, 5, now);
        sqlite3_bind_int64(st, 6, now + (ttl_ms > 0 ? ttl_ms : 1));
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
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
    _cleanup_stmt_ sqlite3_stmt *st =
        store_stmt(s, "SELECT sha256 FROM compat_files WHERE front = ?1 AND file_id = ?2 "
                      "AND expires_at > ?3");
    if (!st)
        return store_err(s);
    sqlite3_bind_text(st, 1, front, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return store_fail(s, rc);
    const char *sha = (const char *)sqlite3_column_text(st, 0);
    if (!sha || strlen(sha) != 64)
        return -EPROTO;
    memcpy(sha256_out, sha, 65);
    sqlite3_reset(st);
    if (ttl_ms <= 0)
        return 1;
    _cleanup_stmt_ sqlite3_stmt *up =
        store_stmt(s, "UPDATE compat_files SET expires_at = ?3 WHERE front = ?1 AND file_id = ?2");
    if (!up)
        return store_err(s);
    sqlite3_bind_text(up, 1, front, -1, SQLITE_STATIC);
    sqlite3_bind_text(up, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(up, 3, now + ttl_ms);
    rc = sqlite3_step(up);
    if (rc != SQLITE_DONE)
        return store_fail(s, rc);
    return 1;
}
