/* store.c — opening a store connection (common/db.h: SQLite or PostgreSQL),
 * statements, transactions and the store's one way of reporting errors: the
 * sentence in s->errmsg (store_last_error) and the -errno returned.
 *
 * One connection per process (and per thread using it). The queue files are
 * store_submissions.c, store_depsets.c, ... */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"
#include "jsonutil.h"

int64_t store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int store_schema_version(void)
{
    return store_n_migrations ? store_migrations[store_n_migrations - 1].version : 0;
}

/* ---- errors ---- */

int store_fail(store *s, int e)
{
    if (e >= 0)
        e = -EIO;
    snprintf(s->errmsg, sizeof(s->errmsg), "%s", db_errmsg(s->db));
    s->last_err = e;
    return e;
}

int store_step_row(store *s, db_stmt *st)
{
    int rc = db_step(st);
    if (rc == DB_ROW)
        return 0;
    return rc == DB_DONE ? -ENOENT : store_fail(s, rc);
}

int store_row_by_key(store *s, const char *sql, const char *key, db_stmt **st)
{
    *st = store_stmt(s, sql);
    if (!*st)
        return store_err(s);
    db_bind_text(*st, 1, key);
    return store_step_row(s, *st);
}

int store_set_error(store *s, int e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
    va_end(ap);
    s->last_err = e;
    return e;
}

int store_err(store *s)
{
    return s->last_err < 0 ? s->last_err : -EIO;
}

const char *store_last_error(store *s)
{
    return s ? s->errmsg : "no store";
}

bool store_is_pg(const store *s)
{
    return db_kind(s->db) == DB_PG;
}

/* ---- statements ---- */

db_stmt *store_stmt(store *s, const char *sql)
{
    db_stmt *st = db_stmt_cached(s->db, sql);
    if (!st)
        store_fail(s, db_last_errno(s->db));
    return st;
}

int store_exec(store *s, const char *sql, int n, ...)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(s, sql);
    if (!st)
        return store_err(s);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        db_bind_text_copy(st, i + 1, va_arg(ap, const char *));
    va_end(ap);
    int rc = db_step(st);
    if (rc < 0)
        return store_fail(s, rc);
    return (int)db_changes(s->db);
}

/* ---- transactions ---- */

int store_tx_begin(store *s)
{
    if (s->tx_depth)
        return store_set_error(s, -EINPROGRESS, "nested transaction");
    int r = db_begin(s->db);
    if (r < 0)
        return store_fail(s, r);
    s->tx_depth = 1;
    s->ring_after = 0;
    return 0;
}

int store_tx_commit(store *s)
{
    unsigned ring = s->ring_after;
    /* PostgreSQL delivers a NOTIFY at commit: send the rings with the COMMIT,
     * one round trip for both. */
    char notify[128] = "";
    if (store_is_pg(s) && ring)
        store_doorbell_notify_sql(ring, notify, sizeof(notify));
    int r = db_commit_after(s->db, notify);
    if (r < 0) {
        store_fail(s, r);
        store_tx_rollback(s);
        return r;
    }
    s->tx_depth = 0;
    s->ring_after = 0;
    if (ring && !notify[0])
        store_ring_mask(s, ring);
    return 0;
}

void store_tx_rollback(store *s)
{
    db_rollback(s->db);
    s->tx_depth = 0;
    s->ring_after = 0;
}

void store_ring_later(store *s, store_role role)
{
    if (s->tx_depth)
        s->ring_after |= 1u << role;
    else
        store_ring(s, role);
}

char *store_strdupf(const char *fmt, ...)
{
    char *p = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&p, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : p;
}

/* ---- columns ---- */

char *store_col_strdup(db_stmt *st, int col)
{
    const char *t = db_col_text(st, col);
    return t ? strdup(t) : NULL;
}

json_t *store_col_json(db_stmt *st, int col)
{
    return jsonutil_loads_or_null(db_col_text(st, col));
}

json_t *store_col_int_or_null(db_stmt *st, int col)
{
    if (db_col_is_null(st, col))
        return json_null();
    return json_integer(db_col_int64(st, col));
}

json_t *store_col_str_or_null(db_stmt *st, int col)
{
    return jsonutil_str_or_null(db_col_text(st, col));
}

/* ---- open / close ---- */

void store_close(store *s)
{
    if (!s)
        return;
    store_doorbell_close(s);
    db_close(s->db);
    json_decref(s->depth_terminal);
    free(s->path);
    free(s->state_dir);
    free(s->doorbell_dir);
    free(s);
}

static void store_closep(store **s)
{
    store_close(*s);
}

int store_open_opts(const char *path, const char *state_dir, int busy_timeout_ms,
                    int default_max_attempts, store **out, char *err, size_t errlen)
{
    if (!path || !path[0]) {
        if (err)
            snprintf(err, errlen, "no database path given");
        return -EINVAL;
    }
    __attribute__((cleanup(store_closep))) store *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->send_fd = -1;
    for (int i = 0; i < STORE_N_ROLES; i++)
        s->listen_fd[i] = -1;
    s->busy_timeout_ms = busy_timeout_ms > 0 ? busy_timeout_ms : 5000;
    s->default_max_attempts = default_max_attempts > 0 ? default_max_attempts : 3;
    s->retry_elsewhere_ms = 10000;
    if (state_dir && state_dir[0]) {
        s->state_dir = strdup(state_dir);
        if (!s->state_dir || asprintf(&s->doorbell_dir, "%s/doorbell", state_dir) < 0) {
            s->doorbell_dir = NULL;
            return -ENOMEM;
        }
    }
    int r = db_open(path, s->busy_timeout_ms, &s->db, err, errlen);
    if (r < 0)
        return r;
    s->path = strdup(db_name(s->db));
    if (!s->path)
        return -ENOMEM;
    /* Migrating a fresh database takes an exclusive lock; when several
     * processes open a new SQLite file at once it may answer SQLITE_BUSY
     * without waiting (it would risk a deadlock), so retry within the busy
     * timeout. */
    int64_t deadline = store_now_ms() + s->busy_timeout_ms;
    for (int attempt = 0;; attempt++) {
        r = store_migrate(s, err, errlen);
        if (r != -EBUSY || store_now_ms() >= deadline)
            break;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (attempt < 5 ? 1 + attempt : 10) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (r < 0)
        return r;
    *out = steal_pointer(&s);
    return 0;
}

int store_open(const char *path, const char *state_dir, store **out, char *err, size_t errlen)
{
    return store_open_opts(path, state_dir, 0, 0, out, err, errlen);
}

char *store_config_url(const config *cfg)
{
    /* db.url names PostgreSQL (or sqlite:<path>); db_path is the SQLite file. */
    const char *db = config_str(cfg, "db.url");
    if (!db[0])
        db = config_str(cfg, "db_path");
    return db[0] ? strdup(db) : config_state_path(cfg, "farm.db");
}

int store_open_config(const config *cfg, store **out, char *err, size_t errlen)
{
    _cleanup_free_ char *db = store_config_url(cfg);
    if (!db)
        return -ENOMEM;
    int r = store_open_opts(db, config_str(cfg, "state_dir"),
                            (int)config_int(cfg, "db.busy_timeout_ms"),
                            (int)config_int(cfg, "queue.max_attempts"), out, err, errlen);
    if (r >= 0)
        (*out)->retry_elsewhere_ms = config_int(cfg, "queue.retry_elsewhere_ms");
    return r;
}
