/* store_settings.c — small key/value settings shared by every process
 * (e.g. "accepting" = "false" while the farm drains). */
#include "store_internal.h"

#include <errno.h>

int store_setting_get(store *s, const char *key, char **value)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(s, "SELECT value FROM settings WHERE key = ?1");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, key);
    int rc = db_step(st);
    if (rc == DB_DONE) {
        *value = NULL;
        return 0;
    }
    if (rc != DB_ROW)
        return store_fail(s, rc);
    char *v = store_col_strdup(st, 0);
    if (!v && !db_col_is_null(st, 0))
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
