/* store_migrate.c — applies the embedded schema/NNN_*.sql files.
 *
 * Several people own number ranges (001-009 foundation, 010-019 API, 020-029
 * webhooks...), so a file can be added with a number below one that a
 * database already has: PRAGMA user_version alone (the highest number
 * applied) would skip it for ever. The runner therefore keeps a ledger,
 * schema_migrations, of every file applied, and applies each embedded file
 * missing from it in number order, all inside one BEGIN IMMEDIATE so two
 * processes opening a database at once cannot both migrate it. Consequence
 * for authors: a file must not depend on a file with a higher number (on an
 * older database it may run after it, on a new one before it).
 * PRAGMA user_version still holds the highest number applied. A database
 * newer than this binary (user_version above its newest file, or a ledger
 * entry it does not embed) is refused: an old binary must not write rows a
 * newer schema does not expect.
 *
 * PostgreSQL has its own files (schema/pg/, store_pg_migrations) and the same
 * ledger; there is no user_version, so the file version is the ledger's
 * highest number, and migrators queue on an advisory lock inside the
 * transaction instead of BEGIN IMMEDIATE. pg/060 holds SQLite's 001..060 in
 * one file; from there a change to the schema adds a file with the same
 * number to each list, so store_schema_version() is both backends'. */
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Databases migrated before the ledger existed had exactly these files
 * applied up to their user_version. */
static const int store_pre_ledger[] = {1, 10, 20};

/* Size of the per-open "applied" array; store_migrate refuses more files. */
#define STORE_MAX_MIGRATIONS 256

static int store_migrate_newer(store *s, int latest, int v)
{
    return store_set_error(s, -EPROTO,
                           "database %s has schema version %d, newer than this binary's %d: "
                           "upgrade nixfarm or use another database",
                           s->path, v, latest);
}

/* The migrations of s's backend. */
static const store_migration *store_mig_list(const store *s, size_t *n)
{
    if (store_is_pg(s)) {
        *n = store_pg_n_migrations;
        return store_pg_migrations;
    }
    *n = store_n_migrations;
    return store_migrations;
}

static int store_mig_latest(const store *s)
{
    size_t n;
    const store_migration *m = store_mig_list(s, &n);
    return n ? m[n - 1].version : 0;
}

static const store_migration *store_migration_find(const store *s, int version)
{
    size_t n;
    const store_migration *m = store_mig_list(s, &n);
    for (size_t i = 0; i < n; i++)
        if (m[i].version == version)
            return &m[i];
    return NULL;
}

#define SQL_LEDGER_EXISTS(D)                                                                       \
    DB_IF(D,                                                                                       \
          "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = "                    \
          "'schema_migrations'",                                                                   \
          "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() "  \
          "AND table_name = 'schema_migrations'")

/* The integer a one-row query answers, or -errno. */
static int store_query_int(store *s, const char *sql)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(s, sql);
    if (!st)
        return store_err(s);
    int rc = db_step(st);
    if (rc != DB_ROW)
        return store_fail(s, rc);
    return db_col_int(st, 0);
}

static int store_ledger_exists(store *s)
{
    int n = store_query_int(s, STORE_SQL(s, SQL_LEDGER_EXISTS));
    return n < 0 ? n : n > 0;
}

int store_file_version(store *s)
{
    if (!store_is_pg(s))
        return store_query_int(s, "PRAGMA user_version");
    int have = store_ledger_exists(s);
    if (have <= 0)
        return have;
    return store_query_int(s, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
}

/* Marks in applied[] (parallel to store_migrations) what the ledger lists.
 * 1: the ledger exists, 0: it does not, <0: error (-EPROTO for a version
 * this binary does not know). */
static int store_ledger_read(store *s, bool applied[])
{
    int have = store_ledger_exists(s);
    if (have <= 0)
        return have;
    int rc;
    _cleanup_stmt_ db_stmt *st = store_stmt(s, "SELECT version FROM schema_migrations");
    if (!st)
        return store_err(s);
    while ((rc = db_step(st)) == DB_ROW) {
        int v = db_col_int(st, 0);
        const store_migration *m = store_migration_find(s, v);
        if (!m)
            return store_set_error(s, -EPROTO,
                                   "database %s has schema migration %d, which this binary does "
                                   "not know: upgrade nixfarm or use another database",
                                   s->path, v);
        size_t n;
        applied[m - store_mig_list(s, &n)] = true;
    }
    return rc == DB_DONE ? 1 : store_fail(s, rc);
}

static int store_ledger_add(store *s, const store_migration *m)
{
    char v[16], now[24];
    snprintf(v, sizeof(v), "%d", m->version);
    snprintf(now, sizeof(now), "%lld", (long long)store_now_ms());
    int r = store_exec(s,
                       "INSERT INTO schema_migrations (version, name, applied_at) "
                       "VALUES (CAST(?1 AS BIGINT), ?2, CAST(?3 AS BIGINT)) ON CONFLICT DO NOTHING",
                       3, v, m->name, now);
    return r < 0 ? r : 0;
}

/* Inside the write transaction: applies what is still missing. */
static int store_migrate_locked(store *s)
{
    if (store_is_pg(s)) {
        /* Concurrent openers of a fresh database wait here for the first. */
        int r = store_exec(s, "SELECT pg_advisory_xact_lock(7316001)", 0);
        if (r < 0)
            return r;
    }
    int v = store_file_version(s);
    if (v < 0)
        return v;
    if (v > store_mig_latest(s))
        return store_migrate_newer(s, store_mig_latest(s), v);
    bool applied[STORE_MAX_MIGRATIONS] = {0};
    int have = store_ledger_read(s, applied);
    if (have < 0)
        return have;
    size_t n_mig;
    const store_migration *mig = store_mig_list(s, &n_mig);
    if (!have) {
        int r = store_exec(s,
                           "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, "
                           "name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                           0);
        if (r < 0)
            return r;
        for (size_t i = 0;
             !store_is_pg(s) && i < sizeof(store_pre_ledger) / sizeof(*store_pre_ledger); i++) {
            const store_migration *m = store_migration_find(s, store_pre_ledger[i]);
            if (!m || m->version > v)
                continue;
            if ((r = store_ledger_add(s, m)) < 0)
                return r;
            applied[m - mig] = true;
        }
    }
    for (size_t i = 0; i < n_mig; i++) {
        const store_migration *m = &mig[i];
        if (applied[i])
            continue;
        int r = db_exec_script(s->db, m->sql);
        if (r >= 0 && m->version > v && !store_is_pg(s)) {
            char pragma[64];
            snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", m->version);
            r = db_exec_script(s->db, pragma);
        }
        if (r < 0)
            return store_set_error(s, r, "migration %s failed on %s: %s", m->name, s->path,
                                   db_errmsg(s->db));
        if (m->version > v)
            v = m->version;
        if ((r = store_ledger_add(s, m)) < 0)
            return r;
    }
    return 0;
}

/* 1 when every embedded file is in the ledger (nothing to do), 0 when some
 * is missing, <0 on error or a newer database. Read-only. */
static int store_migrate_complete(store *s)
{
    bool applied[STORE_MAX_MIGRATIONS] = {0};
    int have = store_ledger_read(s, applied);
    if (have <= 0)
        return have;
    size_t n_mig;
    store_mig_list(s, &n_mig);
    for (size_t i = 0; i < n_mig; i++)
        if (!applied[i])
            return 0;
    return 1;
}

int store_migrate(store *s, char *err, size_t errlen)
{
    size_t n_mig;
    store_mig_list(s, &n_mig);
    if (n_mig > STORE_MAX_MIGRATIONS) {
        store_set_error(s, -E2BIG, "too many schema files (raise STORE_MAX_MIGRATIONS)");
        if (err)
            snprintf(err, errlen, "%s", s->errmsg);
        return -E2BIG;
    }
    int latest = store_mig_latest(s);
    int v = store_file_version(s);
    int r = v;
    if (v > latest)
        r = store_migrate_newer(s, latest, v);
    else if (v >= 0 && (r = store_migrate_complete(s)) == 1)
        return 0;
    else if (r >= 0) {
        r = store_tx_begin(s);
        if (r >= 0) {
            r = store_migrate_locked(s);
            if (r >= 0)
                r = store_tx_commit(s);
            else
                store_tx_rollback(s);
        }
    }
    if (r < 0 && err)
        snprintf(err, errlen, "%s", s->errmsg);
    return r < 0 ? r : 0;
}
