/* store_internal.h — what the store_*.c files share: the connection struct,
 * statements through common/db.h (SQLite or PostgreSQL), transactions and
 * the one way a store reports errors.
 *
 * Only common/store*.c include this. Pattern for a query:
 *
 *   _cleanup_stmt_ db_stmt *st = store_stmt(s, "SELECT ... WHERE id = ?1");
 *   if (!st)
 *       return store_err(s);
 *   db_bind_text(st, 1, id);
 *   int rc = db_step(st);        // DB_ROW / DB_DONE / -errno
 *   if (rc < 0)
 *       return store_fail(s, rc);
 *
 * SQL that differs between the backends is written once with the dialect
 * macros of store_sql.h (STORE_SQL). Statements are cached per connection
 * and only reset (never finalized) at scope exit, which also ends their
 * implicit read transaction. Writes that span statements use
 * store_tx_begin() / store_tx_commit() and _cleanup_tx_ to roll back on any
 * early return.
 *
 * Errors: every failure leaves its sentence in s->errmsg and its -errno in
 * s->last_err (store_fail copies the database's message, store_set_error
 * writes the store's own, e.g. for -ESTALE); callers read it with
 * store_last_error(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cleanup.h"
#include "db.h"
#include "store_sql.h"
#include "store.h"

#define STORE_N_ROLES 3

struct store {
    db_conn *db;
    char *path;         /* db_name: the file, or the url without its password */
    char *state_dir;    /* NULL: no doorbell */
    char *doorbell_dir; /* <state_dir>/doorbell */
    int busy_timeout_ms;
    json_t *depth_terminal; /* store_queue_depths' cached terminal counts */
    int64_t depth_terminal_at;
    int default_max_attempts;
    int64_t retry_elsewhere_ms; /* store_attempts.c: a failed slot skips its row this long */
    int tx_depth;               /* 1 inside store_tx_begin .. commit/rollback */
    unsigned ring_after;        /* bit per store_role, rung at commit */
    int listen_fd[STORE_N_ROLES];
    char *listen_path[STORE_N_ROLES];
    int send_fd;
    unsigned pg_listening; /* roles LISTENed to on PostgreSQL */
    /* Doorbell listing cache (store_doorbell.c): socket paths by role, valid
     * while the directory's mtime is unchanged and old enough to trust. */
    char **bell_paths;
    unsigned char *bell_roles;
    size_t n_bells;
    struct timespec bell_mtime;
    bool bell_cached;
    int last_err;     /* -errno of the last failure */
    char errmsg[512]; /* last error sentence (store_last_error) */
};

/* ---- migrations (generated store_schema_embed.c) ---- */
typedef struct {
    int version;
    const char *name;
    const char *sql;
} store_migration;
extern const store_migration store_migrations[];
extern const size_t store_n_migrations;
/* PostgreSQL's (schema/pg/, generated store_pg_schema_embed.c). */
extern const store_migration store_pg_migrations[];
extern const size_t store_pg_n_migrations;
int store_migrate(store *s, char *err, size_t errlen); /* store_migrate.c */

/* ---- statements ---- */
/* A cached, reset statement for sql (a string literal); NULL on error with
 * s->errmsg set (store_err(s) gives the -errno). */
db_stmt *store_stmt(store *s, const char *sql);
static inline void store_stmt_resetp(db_stmt **st)
{
    db_reset(*st);
}
#define _cleanup_stmt_ _cleanup_(store_stmt_resetp)

/* Runs one statement with no result rows through the cache, binding text
 * parameters ?1..?n (NULL binds NULL). Returns changes() >= 0 or -errno. */
int store_exec(store *s, const char *sql, int n, ...);

/* ---- errors ---- */
/* Records the database's last failure (e: its -errno, as db_step returned;
 * >= 0 counts as -EIO) in s->errmsg; returns the -errno. */
int store_fail(store *s, int e);
/* Steps st to the one row it looks up: 0 there, -ENOENT when there is
 * none, else the failure, recorded as store_fail does. */
int store_step_row(store *s, db_stmt *st);
/* Prepares sql (through the cache), binds key as ?1 and steps to its one row:
 * 0 with *st there, -ENOENT when none, else the failure as store_step_row
 * says. *st is set whenever sql prepared, so the caller's _cleanup_stmt_
 * resets it on every path. */
int store_row_by_key(store *s, const char *sql, const char *key, db_stmt **st);
/* Records the store's own failure e (-errno) with a sentence; returns e. */
int store_set_error(store *s, int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* -errno of the last failure recorded by store_fail/store_stmt. */
int store_err(store *s);
/* Is the store on PostgreSQL (for the few non-SQL differences)? */
bool store_is_pg(const store *s);

/* ---- transactions ---- */
int store_tx_begin(store *s);  /* db_begin */
int store_tx_commit(store *s); /* COMMIT, then rings the doorbells asked for */
void store_tx_rollback(store *s);
static inline void store_tx_rollbackp(store **s)
{
    if (*s && (*s)->tx_depth)
        store_tx_rollback(*s);
}
/* store *tx = s after store_tx_begin(s) succeeded: rolls back unless committed. */
#define _cleanup_tx_ _cleanup_(store_tx_rollbackp)

/* Rings role after the current transaction commits (at once when none is open). */
void store_ring_later(store *s, store_role role);

/* malloc'd formatted string, NULL on ENOMEM. */
char *store_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- column helpers ---- */
/* Copies a text column into a malloc'd string (NULL for SQL NULL). */
char *store_col_strdup(db_stmt *st, int col);
/* A JSON column parsed into a new reference (json_null() for NULL or junk). */
json_t *store_col_json(db_stmt *st, int col);
/* Integer column or JSON null for SQL NULL. New reference. */
json_t *store_col_int_or_null(db_stmt *st, int col);
json_t *store_col_str_or_null(db_stmt *st, int col);

/* Rings every role whose bit (1 << role) is set in mask, one directory look. */
void store_ring_mask(store *s, unsigned mask);
/* "NOTIFY farm_<role>; " for each role in mask (PostgreSQL), into buf. */
void store_doorbell_notify_sql(unsigned mask, char *buf, size_t len);
/* Closes the doorbell sockets and unlinks this process's socket files. */
void store_doorbell_close(store *s);

/* ---- dependency sets, shared with store_submissions.c ---- */
/* Inserts the set row if its key is new (inside the caller's transaction);
 * 1 inserted (rings the builders after commit), 0 existed. */
int store_depset_insert(store *s, const store_depset_ref *ref, int64_t now);
/* Drops one explicit hold. */
int store_depset_unhold(store *s, const char *key, int64_t now);
/* Marks the set used now; writes at most once a second per set, so the hot
 * claim path does not rewrite the set's page every time. */
int store_depset_touch(store *s, const char *key, int64_t now);
/* Ends every queued or waiting submission of a failed set as deps_failed with
 * the log; returns how many. */
int store_depset_fail_waiting(store *s, const char *key, const char *log, int64_t now);
/* The columns store_depset_row_json reads, in order. */
#define STORE_DEPSET_COLS                                                                          \
    "key, spec, state, out_paths, closure, closure_bytes, root, log, "                             \
    "holders + (SELECT COUNT(*) FROM submissions s WHERE s.state IN ('queued', 'running') AND "    \
    "s.state = 'running' AND "                                                                     \
    "s.depset_key = depsets.key), last_used_at, "                                                  \
    "attempts, max_attempts, lease_owner, lease_expires_at, error, created_at, started_at, "       \
    "finished_at"
json_t *store_depset_row_json(db_stmt *st);

/* Events (schema/002_inline_events.sql): "state" events whose data is at
 * most STORE_EVENT_INLINE_MAX bytes of JSON are appended to the row's
 * events array; the others are rows of submission_event_rows. Both share one
 * seq: the next is 1 + the larger of the row's event_seq (its last inline
 * event) and the last row's seq, so appending a row (a test result) does not
 * rewrite the submission. STORE_EVENT_LAST is that larger value, for the
 * submission the statement is at (a PRIMARY KEY seek for the rows' part).
 * STORE_EVENT_INLINE(D, type, data, at) is the SET clause that appends one
 * inline event, for the statements that change the state anyway: type and
 * at are SQL expressions, data a parameter holding JSON text (or NULL). SET
 * expressions read the old row. */
#define STORE_EVENT_INLINE_MAX 1024
#define STORE_EVENT_LAST(D)                                                                        \
    DB_MAX2(D)                                                                                     \
    "(submissions.event_seq, (SELECT COALESCE(MAX(r.seq), 0) FROM "                                \
    "submission_event_rows r WHERE r.submission_id = submissions.id))"
#define STORE_EVENT_INLINE(D, type, data, at)                                                      \
    "event_seq = " STORE_EVENT_LAST(                                                               \
        D) " + 1, events = COALESCE(substr(events, 1, "                                            \
           "length(events) - 1) || ',', '[') || " DB_JSON_OBJECT(D) "('seq', " STORE_EVENT_LAST(   \
               D) " + 1, 'type', " type ", 'data', " DB_JSON(D, data) ", 'at', " at                \
                                                                      ")" DB_AS_TEXT(D) " || ']'"
/* Appends an event to a submission inside the caller's transaction. */
/* store_attempts.c: appends {attempt, owner, kind, message, at} to the row's
 * attempt_reasons (inside the caller's transaction). */
int store_attempt_reason_add(store *s, const char *id, int attempt, const char *owner,
                             const char *kind, const char *message, int64_t now);
/* store_attempts.c: the row's reasons as one text, "attempt 1 (owner): kind: msg; ...",
 * malloc'd (NULL on error). */
char *store_attempt_reasons_text(store *s, const char *id);

int store_event_append(store *s, const char *id, const char *type, json_t *data /* borrowed */,
                       int64_t now);
