/* testdb.h — the database a store test opens: a SQLite file in the case's
 * directory, or, when the run was started by tests/lib/pgserver.py (meson
 * registers every store test a second time that way, suffix "-pg"), a fresh
 * PostgreSQL database of its own on that throwaway server.
 *
 *   char url[600];
 *   testdb_url(dir, url, sizeof(url));   // then store_open(url, dir, ...)
 *   long long n = testdb_int(url, "SELECT COUNT(*) FROM submissions");
 *   store *s = testdb_open_store(testutil_newdir(), 0, 0, NULL);  // both at once
 *
 * The same test code runs on both; testdb_is_pg() is for the few cases that
 * are about one backend's files or locks. */
#pragma once

#include <check.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

static inline bool testdb_is_pg(void)
{
    const char *u = getenv("FARM_TEST_DB_URL");
    return u && u[0];
}

/* Runs sql (no rows wanted) on the server's maintenance database. */
static inline void testdb_pg_admin(const char *sql)
{
    char conn[600];
    snprintf(conn, sizeof(conn), "%s dbname=postgres", getenv("FARM_TEST_DB_URL"));
    PGconn *c = PQconnectdb(conn);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* The url of a new empty database for this case. */
static inline void testdb_url(const char *dir, char *out, size_t len)
{
    if (!testdb_is_pg()) {
        snprintf(out, len, "%s/farm.db", dir);
        return;
    }
    static unsigned n;
    char name[64], sql[128];
    snprintf(name, sizeof(name), "c_%d_%u", (int)getpid(), n++);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    testdb_pg_admin(sql);
    snprintf(out, len, "%s dbname=%s", getenv("FARM_TEST_DB_URL"), name);
}

/* The integer the one-row query sql answers on the database at url. */
static inline long long testdb_int(const char *url, const char *sql)
{
    long long v = 0;
    if (testdb_is_pg()) {
        PGconn *c = PQconnectdb(url);
        ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
        PGresult *r = PQexec(c, sql);
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s", sql,
                      PQerrorMessage(c));
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(c);
        return v;
    }
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(url, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Runs sql (statements, no rows) on the database at url. */
static inline void testdb_exec(const char *url, const char *sql)
{
    if (testdb_is_pg()) {
        PGconn *c = PQconnectdb(url);
        ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
        PGresult *r = PQexec(c, sql);
        ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                      "%s: %s", sql, PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return;
    }
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(url, &db), SQLITE_OK);
    char *msg = NULL;
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg);
    sqlite3_close(db);
}

/* A store on a new empty database for the case in dir (testutil_newdir()),
 * opened by store_open_opts with busy_timeout_ms and max_attempts (0: the
 * store's defaults). url (600 bytes; may be NULL) receives its url. */
static inline store *testdb_open_store(const char *dir, int busy_timeout_ms, int max_attempts,
                                       char *url)
{
    char path[600], err[512] = "";
    testdb_url(dir, path, sizeof(path));
    store *s = NULL;
    int r = store_open_opts(path, dir, busy_timeout_ms, max_attempts, &s, err, sizeof(err));
    ck_assert_msg(r == 0, "store_open: %d %s", r, err);
    if (url)
        snprintf(url, 600, "%s", path);
    return s;
}
