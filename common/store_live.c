/* store_live.c — SQL for live_chunks. See store_live.h. Plain SQL (an insert,
 * a range read, a delete), so a PostgreSQL store can take it over as is. */
#include "store_live.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "store_internal.h"

int64_t store_live_append(store *s, const char *id, const char *dir, const char *kind,
                          const void *data, size_t len)
{
    if (!id || !dir || !kind || strlen(kind) >= sizeof(((store_live_chunk *)0)->kind))
        return -EINVAL;
    _cleanup_stmt_ sqlite3_stmt *st =
        store_stmt(s, "INSERT INTO live_chunks (submission_id, dir, kind, data, created_at) "
                      "VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!st)
        return store_err(s);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(st, 4, len ? data : "", (sqlite3_uint64)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, store_now_ms());
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return store_fail(s, rc);
    int64_t seq = sqlite3_last_insert_rowid(s->db);
    store_ring_later(s, STORE_ROLE_EVENTS);
    return seq;
}

void store_live_chunks_free(store_live_chunk *c, size_t n)
{
    if (!c)
        return;
    for (size_t i = 0; i < n; i++)
        free(c[i].data);
    free(c);
}

int store_live_read(store *s, const char *id, const char *dir, int64_t after, size_t max,
                    store_live_chunk **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    _cleanup_stmt_ sqlite3_stmt *st =
        store_stmt(s, "SELECT seq, kind, data FROM live_chunks WHERE submission_id = ?1 AND "
                      "dir = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4");
    if (!st)
        return store_err(s);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, after);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)(max ? max : 1));
    store_live_chunk *v = NULL;
    size_t k = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_live_chunk *nv = realloc(v, (k + 1) * sizeof(*v));
        if (!nv) {
            store_live_chunks_free(v, k);
            return -ENOMEM;
        }
        v = nv;
        store_live_chunk *c = &v[k];
        memset(c, 0, sizeof(*c));
        c->seq = sqlite3_column_int64(st, 0);
        const char *kind = (const char *)sqlite3_column_text(st, 1);
        snprintf(c->kind, sizeof(c->kind), "%s", kind ? kind : "");
        const void *d = sqlite3_column_blob(st, 2);
        c->len = (size_t)sqlite3_column_bytes(st, 2);
        c->data = malloc(c->len + 1);
        if (!c->data) {
            store_live_chunks_free(v, k);
            return -ENOMEM;
        }
        if (c->len)
            memcpy(c->data, d, c->len);
        c->data[c->len] = 0;
        k++;
    }
    if (rc != SQLITE_DONE) {
        store_live_chunks_free(v, k);
        return store_fail(s, rc);
    }
    *out = v;
    *n = k;
    return 0;
}

int store_live_drop(store *s, const char *id, int64_t max_age_ms)
{
    _cleanup_stmt_ sqlite3_stmt *st =
        store_stmt(s, "DELETE FROM live_chunks WHERE submission_id = ?1 OR created_at < ?2");
    if (!st)
        return store_err(s);
    sqlite3_bind_text(st, 1, id ? id : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, max_age_ms > 0 ? store_now_ms() - max_age_ms : 0);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return store_fail(s, rc);
    return sqlite3_changes(s->db);
}
