/* store_ratelimit.c — token buckets shared by every API process (see
 * schema/071_rate_buckets.sql): one statement refills a caller's bucket by
 * the time since its last request, takes a token if there is one and says
 * whether it did, atomically (SQLite: the write lock; PostgreSQL: the row
 * lock of ON CONFLICT DO UPDATE). Times are the nodes' wall clocks: keep
 * them in sync (NTP); a clock behind the last writer's refills nothing. */
#include "store_internal.h"

#include <errno.h>

// clang-format off
#define SQL_RATE_REFILL(D)                                                                         \
    DB_MIN2(D) "(?4, rate_buckets.milli + " DB_MAX2(D) "(?2 - rate_buckets.last_ms, 0) * ?3)"
#define SQL_RATE_TAKE(D)                                                                           \
    "INSERT INTO rate_buckets (key, milli, last_ms, granted) VALUES (?1, ?4 - 1000, ?2, 1) "       \
    "ON CONFLICT (key) DO UPDATE SET "                                                             \
    "milli = CASE WHEN " SQL_RATE_REFILL(D) " >= 1000 "                                            \
    "THEN " SQL_RATE_REFILL(D) " - 1000 ELSE " SQL_RATE_REFILL(D) " END, "                         \
    "granted = CASE WHEN " SQL_RATE_REFILL(D) " >= 1000 THEN 1 ELSE 0 END, "                       \
    "last_ms = " DB_MAX2(D) "(?2, rate_buckets.last_ms) "                                          \
    "RETURNING milli, granted"
// clang-format on

int store_rate_take(store *s, const char *key, int64_t rate_per_s, int64_t burst, int64_t now_ms,
                    int *wait_s)
{
    *wait_s = 0;
    if (!key || rate_per_s <= 0)
        return rate_per_s <= 0 ? 0 : -EINVAL;
    if (burst < 1)
        burst = 1;
    _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_RATE_TAKE));
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, key);
    db_bind_int64(st, 2, now_ms);
    db_bind_int64(st, 3, rate_per_s); /* thousandths of a token per ms */
    db_bind_int64(st, 4, burst * 1000);
    int rc = db_step(st);
    if (rc != DB_ROW)
        return store_fail(s, rc);
    int64_t milli = db_col_int64(st, 0);
    bool granted = db_col_int(st, 1) != 0;
    rc = db_step(st);
    if (rc != DB_DONE)
        return store_fail(s, rc);
    if (!granted) {
        int64_t per_s = rate_per_s * 1000;
        *wait_s = (int)((1000 - milli + per_s - 1) / per_s);
        if (*wait_s < 1)
            *wait_s = 1;
    }
    /* Now and then (about one request in 1024), forget buckets that have been
     * full for a while: an idle caller's bucket refills anyway. */
    if ((now_ms & 1023) == 0) {
        int64_t full_ms = burst * 1000 / rate_per_s + 60000;
        _cleanup_stmt_ db_stmt *del = store_stmt(s, "DELETE FROM rate_buckets WHERE last_ms < ?1");
        if (del) {
            db_bind_int64(del, 1, now_ms - full_ms);
            db_step(del); /* best effort: the rows are only space */
        }
    }
    return granted ? 0 : 1;
}
