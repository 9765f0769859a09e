/* store_settings.c — small key/value settings shared by every process
 * (e.g. "accepting" = "false" while the farm drains). */
#include "store_internal.h"

#include <errno.h>

int store_setting_get(store *s, const char *key, char **value)
{
    _cleanup_stmt_ sqlite3_stmt *st = store_stmt(s, "SELECT value FROM settings WHERE key = ?1");
    if (!st)
        return store_err(s);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        *value = NULL;
        return 0;
    }
    if (rc != SQLITE_ROW)
        return store_fail(s, rc);
    char *v = store_col_strdup(st, 0);
    if (!v && sqlite3_column_type(st, 0) != SQLITE_NULL)
        return -ENOMEM;
    *value = v;
    return 0;
}

/* value NULL removes the setting. */
int store_setting_set(store *s, const char *key, const char *value)
{
    int r;
    if (!value)
        r = store_exec(s, "DELETE FROM settings WHERE key = ?1", 1, key);
    else
        r = store_exec(s,
                       "INSERT INTO settings (key, value) VALUES (?1, ?2) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                       2, key, value);
    return r < 0 ? r : 0;
}
