/* store_live.c — SQL for live_chunks. See store_live.h. Plain SQL (an insert
 * returning its seq, a range read, a delete), the same on SQLite and
 * PostgreSQL. */
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
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "INSERT INTO live_chunks (submission_id, dir, kind, data, created_at) "
                      "VALUES (?1, ?2, ?3, ?4, ?5) RETURNING seq");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, dir);
    db_bind_text(st, 3, kind);
    db_bind_blob(st, 4, len ? data : "", len);
    db_bind_int64(st, 5, store_now_ms());
    int rc = db_step(st);
    if (rc != DB_ROW)
        return store_fail(s, rc);
    int64_t seq = db_col_int64(st, 0);
    /* SQLite commits the insert when the statement is reset: before the
     * ring, so a reader woken by it finds the chunk. */
    db_reset(st);
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
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "SELECT seq, kind, data FROM live_chunks WHERE submission_id = ?1 AND "
                      "dir = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, dir);
    db_bind_int64(st, 3, after);
    db_bind_int64(st, 4, (int64_t)(max ? max : 1));
    store_live_chunk *v = NULL;
    size_t k = 0;
    int rc;
    while ((rc = db_step(st)) == DB_ROW) {
        store_live_chunk *nv = realloc(v, (k + 1) * sizeof(*v));
        if (!nv) {
            store_live_chunks_free(v, k);
            return -ENOMEM;
        }
        v = nv;
        store_live_chunk *c = &v[k];
        memset(c, 0, sizeof(*c));
        c->seq = db_col_int64(st, 0);
        const char *kind = db_col_text(st, 1);
        snprintf(c->kind, sizeof(c->kind), "%s", kind ? kind : "");
        const void *d = db_col_blob(st, 2, &c->len);
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
    if (rc != DB_DONE) {
        store_live_chunks_free(v, k);
        return store_fail(s, rc);
    }
    *out = v;
    *n = k;
    return 0;
}

int store_live_drop(store *s, const char *id, int64_t max_age_ms)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "DELETE FROM live_chunks WHERE submission_id = ?1 OR created_at < ?2");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id ? id : "");
    db_bind_int64(st, 2, max_age_ms > 0 ? store_now_ms() - max_age_ms : 0);
    int rc = db_step(st);
    if (rc != DB_DONE)
        return store_fail(s, rc);
    return (int)db_changes(s->db);
}
