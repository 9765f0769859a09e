/* db.h — the small SQL layer every common/store*.c file is written against,
 * so each is written once for SQLite (the embedded default) and PostgreSQL
 * (a farm of several machines).
 *
 *   db_stmt *st = db_stmt_cached(db, "SELECT a FROM t WHERE id = ?1");
 *   db_bind_text(st, 1, id);              // text bound by pointer: keep it alive
 *   int rc = db_step(st);                 // DB_ROW, DB_DONE or -errno
 *   ... db_col_text(st, 0) ...
 *   db_reset(st);                         // (the store's _cleanup_stmt_ does this)
 *
 * SQL is SQLite's dialect with numbered ?N parameters; the PostgreSQL backend
 * turns ?N into $N and runs the statement as a server-side prepared statement.
 * Everything else that differs between the two is spelled by the caller with
 * the DB_* dialect macros of store_sql.h. Statements are cached per
 * connection, keyed by the string literal's address. Times are integers
 * (ms), JSON is text, blobs are BLOB / bytea.
 *
 * Errors: functions return -errno; db_errmsg() holds the server's sentence of
 * the last failure. -EBUSY: locked past the timeout (or a PostgreSQL deadlock
 * or serialization failure), -EEXIST: a constraint, -EPROTO: not a database,
 * -ECONNREFUSED / -ECONNRESET: the server is unreachable. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { DB_SQLITE, DB_PG } db_backend;

typedef struct db_conn db_conn;
typedef struct db_stmt db_stmt;

#define DB_DONE 0
#define DB_ROW 1

/* Is url a PostgreSQL one ("postgresql://", "postgres://" or a libpq keyword
 * string such as "host=/tmp dbname=farm")? Anything else is a SQLite path,
 * with an optional "sqlite:" prefix. */
bool db_url_is_pg(const char *url);
/* The SQLite file of a non-PostgreSQL url ("sqlite:" stripped). */
const char *db_sqlite_path(const char *url);

/* Opens a connection. busy_timeout_ms: how long a write waits for a lock. */
int db_open(const char *url, int busy_timeout_ms, db_conn **out, char *err, size_t errlen);
void db_close(db_conn *d);
db_backend db_kind(const db_conn *d);
/* A printable name of the database (file path, or the url without password). */
const char *db_name(const db_conn *d);
const char *db_errmsg(const db_conn *d);

/* Runs a script of several statements (migrations). */
int db_exec_script(db_conn *d, const char *sql);

/* Transactions: SQLite BEGIN IMMEDIATE (writers queue at BEGIN, so a lock
 * upgrade never deadlocks); PostgreSQL BEGIN (READ COMMITTED: claims lock
 * their row with FOR UPDATE SKIP LOCKED, owner checks with FOR UPDATE). */
int db_begin(db_conn *d);
int db_commit(db_conn *d);
/* PostgreSQL: runs sql (e.g. "NOTIFY x; ") and COMMIT in one round trip;
 * with sql empty, or on SQLite (sql must be empty there), db_commit. */
int db_commit_after(db_conn *d, const char *sql);
void db_rollback(db_conn *d);
bool db_in_tx(db_conn *d);

/* A cached statement for sql, a string literal (its address is the key);
 * NULL on error (db_errmsg, db_last_errno). Reset and unbound. */
db_stmt *db_stmt_cached(db_conn *d, const char *sql);
int db_last_errno(const db_conn *d);
void db_reset(db_stmt *st);

void db_bind_null(db_stmt *st, int i);
void db_bind_int64(db_stmt *st, int i, int64_t v);
/* By pointer: v must live until the statement is reset. NULL binds NULL. */
void db_bind_text(db_stmt *st, int i, const char *v);
/* Copies v. */
void db_bind_text_copy(db_stmt *st, int i, const char *v);
void db_bind_blob(db_stmt *st, int i, const void *p, size_t len);

/* DB_ROW (columns readable), DB_DONE, or -errno. */
int db_step(db_stmt *st);
/* Rows changed by the last INSERT/UPDATE/DELETE on d. */
int64_t db_changes(db_conn *d);

bool db_col_is_null(db_stmt *st, int col);
typedef enum { DB_T_NULL, DB_T_INT, DB_T_TEXT, DB_T_JSON } db_type;
/* The value's type: SQLite's storage class, PostgreSQL's column type (json
 * and jsonb columns are DB_T_JSON: parse the text). */
db_type db_col_type(db_stmt *st, int col);
const char *db_col_text(db_stmt *st, int col); /* NULL for SQL NULL */
int64_t db_col_int64(db_stmt *st, int col);
int db_col_int(db_stmt *st, int col);
/* Valid until the next step or reset. */
const void *db_col_blob(db_stmt *st, int col, size_t *len);

/* Waiting for a wake-up (PostgreSQL LISTEN/NOTIFY; SQLite has none: -ENOTSUP).
 * channel is an identifier ([a-z_]+). */
int db_listen(db_conn *d, const char *channel);
int db_notify(db_conn *d, const char *channel);
/* 1 when a notification arrived (all pending are drained), 0 on timeout. */
int db_wait_notify(db_conn *d, int timeout_ms);

/* The SQLite handle of a SQLite connection (NULL on PostgreSQL), for
 * bench/queue's WAL frame counts only. */
typedef struct sqlite3 sqlite3;
sqlite3 *db_sqlite_handle(db_conn *d);
