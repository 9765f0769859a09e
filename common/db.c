/* db.c — the backend-neutral half of the SQL layer: opening by url, the
 * statement cache, binds, columns and transactions, dispatched to
 * db_sqlite.c or db_pg.c by the connection's kind. */
#include "db_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

bool db_url_is_pg(const char *url)
{
    if (!url)
        return false;
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
        return true;
    /* A libpq keyword string: "key=value ..." with a known first key. */
    static const char *const keys[] = {
        "host=", "hostaddr=", "dbname=", "user=", "port=", "service="};
    for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
        if (strncmp(url, keys[i], strlen(keys[i])) == 0)
            return true;
    return false;
}

const char *db_sqlite_path(const char *url)
{
    if (url && strncmp(url, "sqlite:", 7) == 0) {
        url += 7;
        if (strncmp(url, "//", 2) == 0) /* sqlite:///abs/path */
            url += 2;
    }
    return url;
}

int db_set_error(db_conn *d, int e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->errmsg, sizeof(d->errmsg), fmt, ap);
    va_end(ap);
    d->last_err = e;
    return e;
}

const char *db_errmsg(const db_conn *d)
{
    return d ? d->errmsg : "no database";
}

int db_last_errno(const db_conn *d)
{
    return d->last_err < 0 ? d->last_err : -EIO;
}

db_backend db_kind(const db_conn *d)
{
    return d->kind;
}

const char *db_name(const db_conn *d)
{
    return d->name;
}

/* postgresql://user:secret@host/db -> postgresql://user@host/db for messages. */
static char *db_printable(const char *url)
{
    char *p = strdup(url);
    if (!p)
        return NULL;
    char *scheme = strstr(p, "://");
    char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
    if (at && colon && colon < at)
        memmove(colon, at, strlen(at) + 1);
    char *pw = strstr(p, "password=");
    if (pw) {
        char *end = strchr(pw, ' ');
        memmove(pw + 9, end ? end : pw + strlen(pw), end ? strlen(end) + 1 : 1);
    }
    return p;
}

void db_close(db_conn *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < DB_STMT_CACHE; i++) {
        db_stmt *st = d->slots[i].st;
        if (!st)
            continue;
        if (st->lite)
            sqlite3_finalize(st->lite);
        dbpg_finalize(st);
        free(st);
    }
    if (d->kind == DB_PG)
        dbpg_close(d);
    else
        dblite_close(d);
    free(d->name);
    free(d);
}

static void db_closep(db_conn **d)
{
    db_close(*d);
}

int db_open(const char *url, int busy_timeout_ms, db_conn **out, char *err, size_t errlen)
{
    if (!url || !url[0]) {
        if (err)
            snprintf(err, errlen, "no database given (db.url or db_path)");
        return -EINVAL;
    }
    __attribute__((cleanup(db_closep))) db_conn *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->busy_timeout_ms = busy_timeout_ms > 0 ? busy_timeout_ms : 5000;
    int r;
    if (db_url_is_pg(url)) {
        d->kind = DB_PG;
        d->name = db_printable(url);
        if (!d->name)
            return -ENOMEM;
        r = dbpg_open(d, url, err, errlen);
    } else {
        d->kind = DB_SQLITE;
        const char *path = db_sqlite_path(url);
        if (!path[0]) {
            if (err)
                snprintf(err, errlen, "no database path given");
            return -EINVAL;
        }
        d->name = strdup(path);
        if (!d->name)
            return -ENOMEM;
        r = dblite_open(d, path, err, errlen);
    }
    if (r < 0)
        return r;
    *out = steal_pointer(&d);
    return 0;
}

/* ---- statements ---- */

/* Keyed by the literal's address, not its text: hashing a few hundred
 * characters at every statement was 2% of a queue cycle. */
static size_t db_sql_hash(const char *sql)
{
    uint64_t h = (uint64_t)(uintptr_t)sql * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 32);
}

db_stmt *db_stmt_cached(db_conn *d, const char *sql)
{
    size_t h = db_sql_hash(sql) & (DB_STMT_CACHE - 1);
    for (size_t i = 0; i < DB_STMT_CACHE; i++) {
        db_slot *slot = &d->slots[(h + i) & (DB_STMT_CACHE - 1)];
        if (slot->sql && (slot->sql == sql || strcmp(slot->sql, sql) == 0))
            return slot->st;
        if (!slot->sql) {
            db_stmt *st = calloc(1, sizeof(*st));
            if (!st) {
                db_set_error(d, -ENOMEM, "out of memory");
                return NULL;
            }
            st->d = d;
            st->sql = sql;
            int r = d->kind == DB_PG ? dbpg_prepare(st) : dblite_prepare(st);
            if (r < 0) {
                free(st->pg_sql);
                free(st);
                return NULL;
            }
            slot->sql = sql;
            slot->st = st;
            return st;
        }
    }
    db_set_error(d, -ENOSPC, "statement cache full");
    return NULL;
}

void db_reset(db_stmt *st)
{
    if (!st)
        return;
    if (st->lite) {
        sqlite3_reset(st->lite);
        sqlite3_clear_bindings(st->lite);
    } else {
        dbpg_reset(st);
    }
}

/* PostgreSQL type oids (pg_type.h is server-side). */
#define DB_OID_INT8 20
#define DB_OID_TEXT 25
#define DB_OID_BYTEA 17

static bool db_pg_slot(db_stmt *st, int i)
{
    if (i < 1 || i > DB_MAX_PARAMS) {
        db_set_error(st->d, -EINVAL, "parameter ?%d out of range", i);
        return false;
    }
    if (i > st->nparams)
        st->nparams = i;
    free(st->owned[i - 1]);
    st->owned[i - 1] = NULL;
    st->lens[i - 1] = 0;
    st->fmts[i - 1] = 0;
    return true;
}

static void db_pg_type(db_stmt *st, int i, unsigned oid)
{
    /* The first execution fixes the prepared types; later ones only bind. */
    if (!st->prepared)
        st->types[i - 1] = oid;
}

void db_bind_null(db_stmt *st, int i)
{
    if (st->lite) {
        sqlite3_bind_null(st->lite, i);
    } else if (db_pg_slot(st, i)) {
        st->vals[i - 1] = NULL;
    }
}

void db_bind_int64(db_stmt *st, int i, int64_t v)
{
    if (st->lite) {
        sqlite3_bind_int64(st->lite, i, v);
    } else if (db_pg_slot(st, i)) {
        snprintf(st->num[i - 1], sizeof(st->num[i - 1]), "%lld", (long long)v);
        st->vals[i - 1] = st->num[i - 1];
        db_pg_type(st, i, DB_OID_INT8);
    }
}

void db_bind_text(db_stmt *st, int i, const char *v)
{
    if (st->lite) {
        sqlite3_bind_text(st->lite, i, v, -1, SQLITE_STATIC);
    } else if (db_pg_slot(st, i)) {
        st->vals[i - 1] = v;
        db_pg_type(st, i, DB_OID_TEXT);
    }
}

void db_bind_text_copy(db_stmt *st, int i, const char *v)
{
    if (st->lite) {
        sqlite3_bind_text(st->lite, i, v, -1, SQLITE_TRANSIENT);
    } else if (db_pg_slot(st, i)) {
        st->owned[i - 1] = v ? strdup(v) : NULL;
        st->vals[i - 1] = st->owned[i - 1];
        db_pg_type(st, i, DB_OID_TEXT);
    }
}

void db_bind_blob(db_stmt *st, int i, const void *p, size_t len)
{
    if (st->lite) {
        sqlite3_bind_blob64(st->lite, i, p ? p : "", len, SQLITE_STATIC);
    } else if (db_pg_slot(st, i)) {
        st->vals[i - 1] = p ? p : "";
        st->lens[i - 1] = (int)len;
        st->fmts[i - 1] = 1; /* binary: bytes as they are */
        db_pg_type(st, i, DB_OID_BYTEA);
    }
}

int db_step(db_stmt *st)
{
    if (!st->lite)
        return dbpg_step(st);
    int rc = sqlite3_step(st->lite);
    if (rc == SQLITE_ROW)
        return DB_ROW;
    if (rc == SQLITE_DONE) {
        st->d->changes = sqlite3_changes64(st->d->lite);
        return DB_DONE;
    }
    return dblite_fail(st->d, rc);
}

int64_t db_changes(db_conn *d)
{
    return d->kind == DB_SQLITE ? sqlite3_changes64(d->lite) : d->changes;
}

bool db_col_is_null(db_stmt *st, int col)
{
    if (st->lite)
        return sqlite3_column_type(st->lite, col) == SQLITE_NULL;
    return !st->res || st->row >= st->nrows || PQgetisnull(st->res, st->row, col);
}

db_type db_col_type(db_stmt *st, int col)
{
    if (db_col_is_null(st, col))
        return DB_T_NULL;
    if (st->lite)
        return sqlite3_column_type(st->lite, col) == SQLITE_INTEGER ? DB_T_INT : DB_T_TEXT;
    switch (PQftype(st->res, col)) {
    case 20: /* int8 */
    case 21: /* int2 */
    case 23: /* int4 */
        return DB_T_INT;
    case 114:  /* json */
    case 3802: /* jsonb */
        return DB_T_JSON;
    default:
        return DB_T_TEXT;
    }
}

const char *db_col_text(db_stmt *st, int col)
{
    if (st->lite)
        return (const char *)sqlite3_column_text(st->lite, col);
    if (db_col_is_null(st, col))
        return NULL;
    return PQgetvalue(st->res, st->row, col);
}

int64_t db_col_int64(db_stmt *st, int col)
{
    if (st->lite)
        return sqlite3_column_int64(st->lite, col);
    const char *t = db_col_text(st, col);
    if (!t)
        return 0;
    if (t[0] == 't' && !t[1]) /* a boolean expression */
        return 1;
    return strtoll(t, NULL, 10);
}

int db_col_int(db_stmt *st, int col)
{
    return (int)db_col_int64(st, col);
}

const void *db_col_blob(db_stmt *st, int col, size_t *len)
{
    if (!st->lite)
        return dbpg_col_blob(st, col, len);
    *len = (size_t)sqlite3_column_bytes(st->lite, col);
    return sqlite3_column_blob(st->lite, col);
}

/* ---- scripts and transactions ---- */

int db_exec_script(db_conn *d, const char *sql)
{
    return d->kind == DB_PG ? dbpg_exec(d, sql) : dblite_exec_script(d, sql);
}

/* SQLite: one cached statement without rows (sql a literal); PostgreSQL:
 * the simple query pg_sql. */
static int db_run(db_conn *d, const char *sql, const char *pg_sql)
{
    if (d->kind == DB_PG)
        return dbpg_exec(d, pg_sql);
    db_stmt *st = db_stmt_cached(d, sql);
    if (!st)
        return db_last_errno(d);
    int rc = db_step(st);
    db_reset(st);
    return rc < 0 ? rc : 0;
}

int db_begin(db_conn *d)
{
    return db_run(d, "BEGIN IMMEDIATE", "BEGIN");
}

int db_commit(db_conn *d)
{
    return db_run(d, "COMMIT", "COMMIT");
}

int db_commit_after(db_conn *d, const char *sql)
{
    if (d->kind != DB_PG || !sql || !sql[0])
        return db_commit(d);
    char buf[256];
    if ((size_t)snprintf(buf, sizeof(buf), "%sCOMMIT", sql) >= sizeof(buf))
        return db_set_error(d, -E2BIG, "commit statement too long");
    return dbpg_exec(d, buf);
}

bool db_in_tx(db_conn *d)
{
    if (d->kind == DB_PG)
        return d->pg && PQtransactionStatus(d->pg) != PQTRANS_IDLE;
    return d->lite && !sqlite3_get_autocommit(d->lite);
}

void db_rollback(db_conn *d)
{
    if (!db_in_tx(d))
        return;
    if (d->kind == DB_PG) {
        PGresult *res = PQexec(d->pg, "ROLLBACK");
        PQclear(res);
        return;
    }
    static const char rollback[] = "ROLLBACK";
    db_stmt *st = db_stmt_cached(d, rollback);
    if (st) {
        sqlite3_step(st->lite);
        db_reset(st);
    }
}

/* ---- notifications ---- */

int db_listen(db_conn *d, const char *channel)
{
    if (d->kind != DB_PG)
        return -ENOTSUP;
    return dbpg_listen(d, channel);
}

int db_notify(db_conn *d, const char *channel)
{
    if (d->kind != DB_PG)
        return -ENOTSUP;
    char sql[96];
    snprintf(sql, sizeof(sql), "NOTIFY %s", channel);
    return dbpg_exec(d, sql);
}

int db_wait_notify(db_conn *d, int timeout_ms)
{
    if (d->kind != DB_PG)
        return -ENOTSUP;
    return dbpg_wait_notify(d, timeout_ms);
}

sqlite3 *db_sqlite_handle(db_conn *d)
{
    return d->kind == DB_SQLITE ? d->lite : NULL;
}
