/* db_internal.h — what db.c, db_sqlite.c and db_pg.c share: the connection
 * and statement structs. Nothing outside common/db*.c includes this. */
#pragma once

#include <libpq-fe.h>
#include <sqlite3.h>

#include "db.h"

#define DB_STMT_CACHE 256 /* open-addressed, power of two */
#define DB_MAX_PARAMS 24
#define DB_MAX_LISTEN 4

struct db_stmt {
    db_conn *d;
    const char *sql; /* the caller's literal */
    sqlite3_stmt *lite;
    /* PostgreSQL: ?N rewritten to $N, prepared on first use under name. */
    char *pg_sql;
    char name[16];
    bool prepared;
    int nparams;
    unsigned int types[DB_MAX_PARAMS]; /* Oid, 0: let the server infer */
    const char *vals[DB_MAX_PARAMS];
    int lens[DB_MAX_PARAMS];
    int fmts[DB_MAX_PARAMS];
    char num[DB_MAX_PARAMS][24];
    char *owned[DB_MAX_PARAMS];
    PGresult *res;
    int row, nrows;
    unsigned char *blob; /* PQunescapeBytea of the last db_col_blob */
};

typedef struct {
    const char *sql;
    db_stmt *st;
} db_slot;

struct db_conn {
    db_backend kind;
    char *name;
    int busy_timeout_ms;
    int last_err;
    char errmsg[512];
    int64_t changes;
    db_slot slots[DB_STMT_CACHE];
    /* SQLite */
    sqlite3 *lite;
    int64_t busy_since_us;
    int64_t last_checkpoint_ms;
    /* PostgreSQL */
    PGconn *pg;
    unsigned n_prepared;
    char *listening[DB_MAX_LISTEN];
};

/* Records -errno and the sentence of the last failure; returns e. */
int db_set_error(db_conn *d, int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int dblite_open(db_conn *d, const char *path, char *err, size_t errlen);
void dblite_close(db_conn *d);
int dblite_prepare(db_stmt *st);
int dblite_fail(db_conn *d, int rc);
int dblite_exec_script(db_conn *d, const char *sql);

int dbpg_open(db_conn *d, const char *url, char *err, size_t errlen);
void dbpg_close(db_conn *d);
int dbpg_prepare(db_stmt *st);
void dbpg_finalize(db_stmt *st);
void dbpg_reset(db_stmt *st);
int dbpg_step(db_stmt *st);
int dbpg_exec(db_conn *d, const char *sql);
const void *dbpg_col_blob(db_stmt *st, int col, size_t *len);
int dbpg_listen(db_conn *d, const char *channel);
int dbpg_wait_notify(db_conn *d, int timeout_ms);
