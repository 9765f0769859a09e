/* db_pg.c — the PostgreSQL backend of common/db.h (libpq).
 *
 * Statements: the SQLite-dialect text with ?N rewritten to $N, prepared on
 * the server at first use (types from that first use's binds: int8, text,
 * bytea, or inferred for NULL) and run with PQexecPrepared; results come as
 * text (bytea as hex, decoded by db_col_blob). A connection that broke while
 * no transaction was open is reset once and the statement retried, so a
 * restarted server costs a node one error at most, not a restart. lock_timeout
 * is the store's busy timeout: a row lock held longer gives -EBUSY as a
 * SQLite busy timeout does. */
#include "db_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"

/* SQLSTATE -> -errno, the same meaning the SQLite codes map to. */
static int dbpg_errno_of(const char *state)
{
    if (!state)
        return -ECONNRESET;
    if (strncmp(state, "23", 2) == 0)
        return -EEXIST; /* integrity constraint */
    if (!strcmp(state, "40P01") || !strcmp(state, "40001") || !strcmp(state, "55P03") ||
        !strcmp(state, "57014"))
        return -EBUSY; /* deadlock, serialization, lock or statement timeout */
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
        return -ECONNRESET;
    if (!strcmp(state, "53100"))
        return -ENOSPC;
    if (!strcmp(state, "53200"))
        return -ENOMEM;
    if (strncmp(state, "28", 2) == 0 || !strcmp(state, "42501"))
        return -EACCES;
    if (!strcmp(state, "25006"))
        return -EROFS;
    return -EIO;
}

static int dbpg_fail(db_conn *d, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *m = res ? PQresultErrorMessage(res) : NULL;
    if (!m || !m[0])
        m = PQerrorMessage(d->pg);
    int e = PQstatus(d->pg) == CONNECTION_BAD ? -ECONNRESET : dbpg_errno_of(state);
    char msg[400];
    snprintf(msg, sizeof(msg), "%s", m ? m : "unknown error");
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    if (e == -EBUSY)
        return db_set_error(d, e, "database %s is locked by another connection (waited %d ms): %s",
                            d->name, d->busy_timeout_ms, msg);
    return db_set_error(d, e, "database %s: %s", d->name, msg);
}

static void dbpg_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* NOTICEs ("already exists, skipping") are not errors */
}

static int dbpg_session(db_conn *d)
{
    char sql[160];
    snprintf(sql, sizeof(sql),
             "SET lock_timeout = %d; SET client_min_messages = warning; SET TIME ZONE 'UTC'",
             d->busy_timeout_ms);
    int r = dbpg_exec(d, sql);
    for (int i = 0; r >= 0 && i < DB_MAX_LISTEN && d->listening[i]; i++) {
        snprintf(sql, sizeof(sql), "LISTEN %s", d->listening[i]);
        r = dbpg_exec(d, sql);
    }
    return r;
}

int dbpg_open(db_conn *d, const char *url, char *err, size_t errlen)
{
    d->pg = PQconnectdb(url);
    if (!d->pg)
        return -ENOMEM;
    if (PQstatus(d->pg) != CONNECTION_OK) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(d->pg));
        size_t n = strlen(msg);
        while (n && msg[n - 1] == '\n')
            msg[--n] = '\0';
        db_set_error(d, -ECONNREFUSED, "cannot connect to %s: %s", d->name, msg);
        if (err)
            snprintf(err, errlen, "%s", d->errmsg);
        return -ECONNREFUSED;
    }
    PQsetNoticeProcessor(d->pg, dbpg_quiet, NULL);
    int r = dbpg_session(d);
    if (r < 0 && err)
        snprintf(err, errlen, "%s", d->errmsg);
    return r;
}

void dbpg_close(db_conn *d)
{
    if (d->pg)
        PQfinish(d->pg);
    d->pg = NULL;
    for (int i = 0; i < DB_MAX_LISTEN; i++)
        free(d->listening[i]);
}

/* After a broken connection: reconnect, forget what the server had prepared. */
static bool dbpg_reconnect(db_conn *d)
{
    if (PQstatus(d->pg) != CONNECTION_BAD)
        return false;
    PQreset(d->pg);
    if (PQstatus(d->pg) != CONNECTION_OK)
        return false;
    for (size_t i = 0; i < DB_STMT_CACHE; i++)
        if (d->slots[i].st)
            d->slots[i].st->prepared = false;
    return dbpg_session(d) >= 0;
}

int dbpg_exec(db_conn *d, const char *sql)
{
    bool in_tx = PQtransactionStatus(d->pg) != PQTRANS_IDLE;
    for (int attempt = 0;; attempt++) {
        PGresult *res = PQexec(d->pg, sql);
        ExecStatusType s = PQresultStatus(res);
        if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
            PQclear(res);
            return 0;
        }
        int e = dbpg_fail(d, res);
        PQclear(res);
        if (attempt > 0 || in_tx || !dbpg_reconnect(d))
            return e;
    }
}

/* ?N -> $N outside quotes; the highest N is the parameter count. */
int dbpg_prepare(db_stmt *st)
{
    size_t n = strlen(st->sql);
    char *out = malloc(n + 1);
    if (!out)
        return db_set_error(st->d, -ENOMEM, "out of memory");
    bool quoted = false;
    int maxp = 0;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = st->sql[i];
        if (c == '\'')
            quoted = !quoted;
        if (!quoted && c == '?' && st->sql[i + 1] >= '0' && st->sql[i + 1] <= '9') {
            int p = atoi(st->sql + i + 1);
            if (p > maxp)
                maxp = p;
            c = '$';
        }
        out[j++] = c;
    }
    out[j] = '\0';
    if (maxp > DB_MAX_PARAMS) {
        free(out);
        return db_set_error(st->d, -E2BIG, "statement has more than %d parameters", DB_MAX_PARAMS);
    }
    st->pg_sql = out;
    st->nparams = maxp;
    snprintf(st->name, sizeof(st->name), "s%u", ++st->d->n_prepared);
    return 0;
}

void dbpg_reset(db_stmt *st)
{
    if (st->res)
        PQclear(st->res);
    st->res = NULL;
    st->row = st->nrows = 0;
    if (st->blob)
        PQfreemem(st->blob);
    st->blob = NULL;
    for (int i = 0; i < DB_MAX_PARAMS; i++) {
        free(st->owned[i]);
        st->owned[i] = NULL;
        st->vals[i] = NULL;
        st->lens[i] = 0;
        st->fmts[i] = 0;
    }
}

void dbpg_finalize(db_stmt *st)
{
    dbpg_reset(st);
    free(st->pg_sql);
    st->pg_sql = NULL;
}

static PGresult *dbpg_run(db_stmt *st)
{
    db_conn *d = st->d;
    if (!st->prepared) {
        PGresult *p = PQprepare(d->pg, st->name, st->pg_sql, st->nparams, st->types);
        if (PQresultStatus(p) != PGRES_COMMAND_OK)
            return p;
        PQclear(p);
        st->prepared = true;
    }
    return PQexecPrepared(d->pg, st->name, st->nparams, st->vals, st->lens, st->fmts, 0);
}

/* Is s valid UTF-8 (what the server's text type accepts)? */
static bool dbpg_utf8_ok(const unsigned char *s)
{
    while (*s) {
        int n = *s < 0x80             ? 0
                : (*s & 0xe0) == 0xc0 ? 1
                : (*s & 0xf0) == 0xe0 ? 2
                : (*s & 0xf8) == 0xf0 ? 3
                                      : -1;
        if (n < 0 || (n == 1 && *s < 0xc2))
            return false;
        s++;
        for (int i = 0; i < n; i++, s++)
            if ((*s & 0xc0) != 0x80)
                return false;
    }
    return true;
}

/* SQLite compares any bytes; PostgreSQL refuses text that is not UTF-8. A
 * lookup by such a key (an id from a URL) finds nothing, as in SQLite; a
 * write of it is refused with -EILSEQ. 1: go on, 0: answered, <0: error. */
static int dbpg_check_text(db_stmt *st)
{
    for (int i = 0; i < st->nparams; i++) {
        if (!st->vals[i] || st->fmts[i] || dbpg_utf8_ok((const unsigned char *)st->vals[i]))
            continue;
        if (strncmp(st->pg_sql, "SELECT", 6) == 0)
            return 0;
        return db_set_error(st->d, -EILSEQ, "database %s: parameter $%d is not valid UTF-8",
                            st->d->name, i + 1);
    }
    return 1;
}

int dbpg_step(db_stmt *st)
{
    if (!st->res) {
        db_conn *d = st->d;
        int ok = dbpg_check_text(st);
        if (ok <= 0) {
            if (ok == 0)
                d->changes = 0;
            return ok < 0 ? ok : DB_DONE;
        }
        bool in_tx = PQtransactionStatus(d->pg) != PQTRANS_IDLE;
        for (int attempt = 0;; attempt++) {
            PGresult *res = dbpg_run(st);
            ExecStatusType s = PQresultStatus(res);
            if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
                st->res = res;
                st->nrows = s == PGRES_TUPLES_OK ? PQntuples(res) : 0;
                st->row = -1;
                const char *ct = PQcmdTuples(res);
                d->changes = ct && ct[0] ? strtoll(ct, NULL, 10) : 0;
                break;
            }
            int e = dbpg_fail(d, res);
            PQclear(res);
            if (attempt > 0 || in_tx || !dbpg_reconnect(d))
                return e;
        }
    }
    if (st->row < st->nrows)
        st->row++;
    return st->row < st->nrows ? DB_ROW : DB_DONE;
}

const void *dbpg_col_blob(db_stmt *st, int col, size_t *len)
{
    *len = 0;
    const char *t = db_col_text(st, col);
    if (!t)
        return NULL;
    if (st->blob)
        PQfreemem(st->blob);
    st->blob = PQunescapeBytea((const unsigned char *)t, len);
    return st->blob;
}

int dbpg_listen(db_conn *d, const char *channel)
{
    int i = 0;
    for (; i < DB_MAX_LISTEN && d->listening[i]; i++)
        if (!strcmp(d->listening[i], channel))
            return 0;
    if (i == DB_MAX_LISTEN)
        return -ENOSPC;
    char sql[96];
    snprintf(sql, sizeof(sql), "LISTEN %s", channel);
    int r = dbpg_exec(d, sql);
    if (r < 0)
        return r;
    d->listening[i] = strdup(channel);
    return d->listening[i] ? 0 : -ENOMEM;
}

static int dbpg_drain(db_conn *d)
{
    int got = 0;
    PGnotify *n;
    while ((n = PQnotifies(d->pg))) {
        got = 1;
        PQfreemem(n);
    }
    return got;
}

static int64_t dbpg_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dbpg_wait_notify(db_conn *d, int timeout_ms)
{
    /* Notifications that came in with other results are already queued. */
    if (PQconsumeInput(d->pg) && dbpg_drain(d))
        return 1;
    int64_t deadline = dbpg_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int64_t left = deadline - dbpg_mono_ms();
        if (left < 0)
            left = 0;
        struct pollfd p = {.fd = PQsocket(d->pg), .events = POLLIN};
        if (p.fd < 0)
            return -ECONNRESET;
        int r = poll(&p, 1, (int)left);
        if (r < 0)
            return errno == EINTR ? 0 : -errno;
        if (r == 0)
            return 0;
        if (!PQconsumeInput(d->pg)) {
            if (dbpg_reconnect(d))
                return 1; /* rings may have been missed: let the caller look */
            return db_set_error(d, -ECONNRESET, "database %s: %s", d->name, PQerrorMessage(d->pg));
        }
        if (dbpg_drain(d))
            return 1;
        if (left == 0)
            return 0;
    }
}
