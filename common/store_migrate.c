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
 * newer schema does not expect. */
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
    snprintf(s->errmsg, sizeof(s->errmsg),
             "database %s has schema version %d, newer than this binary's %d: "
             "upgrade nixfarm or use another database",
             s->path, v, latest);
    return s->last_err = -EPROTO;
}

static const store_migration *store_migration_find(int version)
{
    for (size_t i = 0; i < store_n_migrations; i++)
        if (store_migrations[i].version == version)
            return &store_migrations[i];
    return NULL;
}

/* Marks in applied[] (parallel to store_migrations) what the ledger lists.
 * 1: the ledger exists, 0: it does not, <0: error (-EPROTO for a version
 * this binary does not know). */
static int store_ledger_read(store *s, bool applied[])
{
    _cleanup_stmt_ sqlite3_stmt *t = store_stmt(
        s,
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
    if (!t)
        return store_err(s);
    int rc = sqlite3_step(t);
    if (rc != SQLITE_ROW)
        return store_fail(s, rc);
    if (sqlite3_column_int(t, 0) == 0)
        return 0;
    sqlite3_reset(t);
    _cleanup_stmt_ sqlite3_stmt *st = store_stmt(s, "SELECT version FROM schema_migrations");
    if (!st)
        return store_err(s);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int v = sqlite3_column_int(st, 0);
        const store_migration *m = store_migration_find(v);
        if (!m) {
            snprintf(s->errmsg, sizeof(s->errmsg),
                     "database %s has schema migration %d, which this binary does not know: "
                     "upgrade nixfarm or use another database",
                     s->path, v);
            return s->last_err = -EPROTO;
        }
        applied[m - store_migrations] = true;
    }
    return rc == SQLITE_DONE ? 1 : store_fail(s, rc);
}

static int store_ledger_add(store *s, const store_migration *m)
{
    char v[16], now[24];
    snprintf(v, sizeof(v), "%d", m->version);
    snprintf(now, sizeof(now), "%lld", (long long)store_now_ms());
    int r = store_exec(s,
                       "INSERT OR IGNORE INTO schema_migrations (version, name, applied_at) "
                       "VALUES (CAST(?1 AS INTEGER), ?2, CAST(?3 AS INTEGER))",
                       3, v, m->name, now);
    return r < 0 ? r : 0;
}

/* Inside the write transaction: applies what is still missing. */
static int store_migrate_locked(store *s)
{
    int v = store_file_version(s);
    if (v < 0)
        return v;
    if (v > store_schema_version())
        return store_migrate_newer(s, store_schema_version(), v);
    bool applied[STORE_MAX_MIGRATIONS] = {0};
    int have = store_ledger_read(s, applied);
    if (have < 0)
        return have;
    if (!have) {
        int r = store_exec(s,
                           "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                           "name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
                           0);
        if (r < 0)
            return r;
        for (size_t i = 0; i < sizeof(store_pre_ledger) / sizeof(*store_pre_ledger); i++) {
            const store_migration *m = store_migration_find(store_pre_ledger[i]);
            if (!m || m->version > v)
                continue;
            if ((r = store_ledger_add(s, m)) < 0)
                return r;
            applied[m - store_migrations] = true;
        }
    }
    for (size_t i = 0; i < store_n_migrations; i++) {
        const store_migration *m = &store_migrations[i];
        if (applied[i])
            continue;
        char *msg = NULL;
        int rc = sqlite3_exec(s->db, m->sql, NULL, NULL, &msg);
        if (rc == SQLITE_OK && m->version > v) {
            char pragma[64];
            snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", m->version);
            rc = sqlite3_exec(s->db, pragma, NULL, NULL, NULL);
            v = m->version;
        }
        if (rc != SQLITE_OK) {
            int e = store_fail(s, rc);
            snprintf(s->errmsg, sizeof(s->errmsg), "migration %s failed on %s: %s", m->name,
                     s->path, msg ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
            return e;
        }
        int r = store_ledger_add(s, m);
        if (r < 0)
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
    for (size_t i = 0; i < store_n_migrations; i++)
        if (!applied[i])
            return 0;
    return 1;
}

int store_migrate(store *s, char *err, size_t errlen)
{
    if (store_n_migrations > STORE_MAX_MIGRATIONS) {
        snprintf(s->errmsg, sizeof(s->errmsg),
                 "too many schema files (raise STORE_MAX_MIGRATIONS)");
        if (err)
            snprintf(err, errlen, "%s", s->errmsg);
        return s->last_err = -E2BIG;
    }
    int latest = store_schema_version();
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
