/* store_migrate.c — applies the embedded schema/NNN_*.sql files in order.
 *
 * PRAGMA user_version holds the number of the last file applied. Every file
 * whose number is greater is applied, in order, gaps allowed (several people
 * own number ranges), all inside one BEGIN IMMEDIATE so two processes opening a
 * fresh database at once cannot both migrate it. A file whose version is newer
 * than this binary's newest migration is refused: an old binary must not write
 * rows a newer schema does not expect. */
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int store_migrate_newer(store *s, int latest, int v)
{
    snprintf(s->errmsg, sizeof(s->errmsg),
             "database %s has schema version %d, newer than this binary's %d: "
             "upgrade nixfarm or use another database",
             s->path, v, latest);
    return s->last_err = -EPROTO;
}

/* Inside the write transaction: applies what is still missing. */
static int store_migrate_locked(store *s)
{
    int v = store_file_version(s);
    if (v < 0)
        return v;
    if (v > store_schema_version())
        return store_migrate_newer(s, store_schema_version(), v);
    for (size_t i = 0; i < store_n_migrations; i++) {
        const store_migration *m = &store_migrations[i];
        if (m->version <= v)
            continue;
        char *msg = NULL;
        int rc = sqlite3_exec(s->db, m->sql, NULL, NULL, &msg);
        if (rc == SQLITE_OK) {
            char pragma[64];
            snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", m->version);
            rc = sqlite3_exec(s->db, pragma, NULL, NULL, NULL);
        }
        if (rc != SQLITE_OK) {
            int e = store_fail(s, rc);
            snprintf(s->errmsg, sizeof(s->errmsg), "migration %s failed on %s: %s", m->name,
                     s->path, msg ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
            return e;
        }
    }
    return 0;
}

int store_migrate(store *s, char *err, size_t errlen)
{
    int latest = store_schema_version();
    int v = store_file_version(s);
    int r = v;
    if (v > latest)
        r = store_migrate_newer(s, latest, v);
    else if (v == latest)
        return 0;
    else if (v >= 0) {
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
