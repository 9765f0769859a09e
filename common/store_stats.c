/* store_stats.c — SQL for the dashboard. See store_stats.h.
 *
 * The SQL is plain (no window functions) and written once for SQLite and
 * PostgreSQL (store_sql.h: only JSON reads and MAX differ); percentiles are
 * computed here in C over the rows of one window, which the finished_at
 * index of schema/070_dashboard.sql finds without a table scan. */
#include "store_stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "jsonutil.h"
#include "store_internal.h"

static void bind_opt(db_stmt *st, int i, const char *v)
{
    if (v && *v)
        db_bind_text(st, i, v);
    else
        db_bind_null(st, i);
}

/* Binds ?1..?4 of a filter: state, verdict, profile, token. */
static void bind_filter(db_stmt *st, const store_stats_filter *f)
{
    bind_opt(st, 1, f->state);
    bind_opt(st, 2, f->verdict);
    bind_opt(st, 3, f->profile);
    bind_opt(st, 4, f->token_id);
}

/* request.profile, request.<key> in general (SQL NULL when absent). */
#define SQL_REQ(D, key)                                                                            \
    DB_IF(D, "json_extract(request, '$." key "')", "(request::json #>> '{" key "}')")

/* The casts give PostgreSQL the type of a parameter bound NULL. */
#define FILTER_SQL(D)                                                                              \
    "(CAST(?1 AS TEXT) IS NULL OR state = ?1) AND (CAST(?2 AS TEXT) IS NULL OR verdict = ?2) "     \
    "AND (CAST(?3 AS TEXT) IS NULL OR " SQL_REQ(                                                   \
        D, "profile") " = ?3) AND "                                                                \
                      "(CAST(?4 AS TEXT) IS NULL OR token_id = ?4)"

/* Counting stops past ?5 rows. The derived table needs its alias on
 * PostgreSQL. */
#define SQL_COUNT(D)                                                                               \
    "SELECT COUNT(*) FROM (SELECT 1 FROM submissions WHERE " FILTER_SQL(D) " LIMIT ?5) AS f"
#define SQL_PAGE(D)                                                                                \
    "SELECT id, state, verdict, " SQL_REQ(                                                         \
        D, "profile") ", token_id, n_tests, created_at, "                                          \
                      "started_at, finished_at FROM submissions WHERE " FILTER_SQL(                \
                          D) " AND seq < ?5 "                                                      \
                             "ORDER BY seq DESC LIMIT ?6"

/* The seq of submission id: 0 with *seq, -ENOENT when none. */
static int seq_of(store *s, const char *id, int64_t *seq)
{
    _cleanup_stmt_ db_stmt *st = NULL;
    int rc = store_row_by_key(s, "SELECT seq FROM submissions WHERE id = ?1", id, &st);
    if (rc < 0)
        return rc;
    *seq = db_col_int64(st, 0);
    return 0;
}

int store_stats_submissions(store *s, const store_stats_filter *f, json_t **rows, int64_t *total,
                            json_t **next)
{
    *rows = NULL;
    *next = NULL;
    *total = 0;
    int64_t limit = f->limit < 1                      ? 1
                    : f->limit > STORE_STATS_PAGE_MAX ? STORE_STATS_PAGE_MAX
                                                      : f->limit;
    int64_t before = INT64_MAX;
    if (f->before_id && *f->before_id) {
        int r = seq_of(s, f->before_id, &before);
        if (r < 0)
            return r;
    }
    {
        /* counting stops past STORE_STATS_COUNT_MAX, so a page costs the
         * same with ten million rows as with a hundred thousand */
        _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_COUNT));
        if (!st)
            return store_err(s);
        bind_filter(st, f);
        db_bind_int64(st, 5, STORE_STATS_COUNT_MAX + 1);
        int rc = db_step(st);
        /* DB_DONE: PostgreSQL answers a lookup by text that is not UTF-8
         * (it cannot be stored there) with no rows: none match. */
        if (rc < 0)
            return store_fail(s, rc);
        *total = rc == DB_ROW ? db_col_int64(st, 0) : 0;
    }
    _cleanup_json_ json_t *arr = json_array();
    if (!arr)
        return -ENOMEM;
    /* one row past the page tells whether there is a next page */
    _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_PAGE));
    if (!st)
        return store_err(s);
    bind_filter(st, f);
    db_bind_int64(st, 5, before);
    db_bind_int64(st, 6, limit + 1);
    int rc;
    int64_t n = 0;
    bool more = false;
    while ((rc = db_step(st)) == DB_ROW) {
        if (n++ == limit) {
            more = true;
            break;
        }
        json_t *o = json_pack(
            "{s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o}", "id", store_col_str_or_null(st, 0),
            "state", store_col_str_or_null(st, 1), "verdict", store_col_str_or_null(st, 2),
            "profile", store_col_str_or_null(st, 3), "token_id", store_col_str_or_null(st, 4),
            "n_tests", (json_int_t)db_col_int64(st, 5), "created_at", store_col_int_or_null(st, 6),
            "started_at", store_col_int_or_null(st, 7), "finished_at",
            store_col_int_or_null(st, 8));
        if (!o || json_array_append_new(arr, o) < 0)
            return -ENOMEM;
    }
    if (!more && rc != DB_DONE)
        return store_fail(s, rc);
    json_t *last = json_array_get(arr, json_array_size(arr) - 1);
    *next = more && last ? json_incref(json_object_get(last, "id")) : json_null();
    *rows = steal_pointer(&arr);
    return 0;
}

/* ---- series ---- */

typedef struct {
    int64_t bucket;
    int64_t ms;
} lat_sample;

static int lat_cmp(const void *a, const void *b)
{
    const lat_sample *x = a, *y = b;
    if (x->bucket != y->bucket)
        return x->bucket < y->bucket ? -1 : 1;
    return x->ms < y->ms ? -1 : x->ms > y->ms;
}

static int int64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile p (0..100) of n sorted values. */
static int64_t pct(const int64_t *v, size_t n, int p)
{
    size_t rank = (size_t)((n * (size_t)p + 99) / 100);
    return v[rank ? rank - 1 : 0];
}

static void add_count(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    json_object_set_new(obj, key, json_integer(v ? json_integer_value(v) + 1 : 1));
}

/* Walks seq downwards from the newest. PostgreSQL sends a statement's whole
 * result at once, so there the walk is bounded in SQL (?1, the window's start
 * less the margin) through its index on created_at; SQLite stops stepping
 * instead and needs no index. */
#define SQL_CREATED(D)                                                                             \
    "SELECT created_at FROM submissions" DB_IF(D, "",                                              \
                                               " WHERE created_at >= ?1") " ORDER BY seq DESC"

/* Counts the submissions created in [since, now) into buckets. Ids and seq
 * are time-ordered, so walking seq downwards from the newest ends soon after
 * the window; a margin covers clocks of API processes that differ a bit. */
static int count_submitted(store *s, int64_t since, int64_t now, int64_t bucket_ms, json_t *buckets)
{
    const int64_t margin = 60000;
    _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_CREATED));
    if (!st)
        return store_err(s);
    if (store_is_pg(s))
        db_bind_int64(st, 1, since - margin);
    int rc;
    while ((rc = db_step(st)) == DB_ROW) {
        int64_t t = db_col_int64(st, 0);
        if (t < since - margin)
            return 0;
        if (t < since || t >= now)
            continue;
        json_t *b = json_array_get(buckets, (size_t)((t - since) / bucket_ms));
        add_count(b, "submitted");
    }
    return rc == DB_DONE ? 0 : store_fail(s, rc);
}

int store_stats_series(store *s, int64_t now_ms, int64_t window_ms, int64_t bucket_ms, json_t **out)
{
    *out = NULL;
    if (bucket_ms < 1 || window_ms < bucket_ms || window_ms / bucket_ms > STORE_STATS_BUCKETS_MAX)
        return -EINVAL;
    size_t nb = (size_t)((window_ms + bucket_ms - 1) / bucket_ms);
    int64_t since = now_ms - (int64_t)nb * bucket_ms;
    _cleanup_json_ json_t *buckets = json_array();
    _cleanup_json_ json_t *outcomes = json_object();
    if (!buckets || !outcomes)
        return -ENOMEM;
    for (size_t i = 0; i < nb; i++) {
        json_t *b = json_pack("{s:I, s:i, s:i, s:{}, s:n, s:n}", "t",
                              (json_int_t)(since + (int64_t)i * bucket_ms), "submitted", 0,
                              "finished", 0, "outcomes", "p50_ms", "p99_ms");
        if (!b || json_array_append_new(buckets, b) < 0)
            return -ENOMEM;
    }
    int r = count_submitted(s, since, now_ms, bucket_ms, buckets);
    if (r < 0)
        return r;
    _cleanup_free_ lat_sample *lat = NULL;
    size_t nlat = 0, cap = 0;
    {
        _cleanup_stmt_ db_stmt *st =
            store_stmt(s, "SELECT finished_at, created_at, state, verdict FROM submissions "
                          "WHERE finished_at >= ?1 AND finished_at < ?2");
        if (!st)
            return store_err(s);
        db_bind_int64(st, 1, since);
        db_bind_int64(st, 2, now_ms);
        int rc;
        while ((rc = db_step(st)) == DB_ROW) {
            int64_t fin = db_col_int64(st, 0);
            int64_t bi = (fin - since) / bucket_ms;
            json_t *b = json_array_get(buckets, (size_t)bi);
            const char *state = db_col_text(st, 2);
            const char *verdict = db_col_text(st, 3);
            const char *outcome = state && !strcmp(state, "finished") && verdict ? verdict
                                  : state                                        ? state
                                                                                 : "unknown";
            add_count(b, "finished");
            add_count(json_object_get(b, "outcomes"), outcome);
            add_count(outcomes, outcome);
            if (nlat == cap) {
                cap = cap ? cap * 2 : 256;
                lat_sample *n = realloc(lat, cap * sizeof(*lat));
                if (!n)
                    return -ENOMEM;
                lat = n;
            }
            int64_t ms = fin - db_col_int64(st, 1);
            lat[nlat++] = (lat_sample){bi, ms < 0 ? 0 : ms};
        }
        if (rc != DB_DONE)
            return store_fail(s, rc);
    }
    json_t *latency = json_pack("{s:I, s:n, s:n}", "count", (json_int_t)nlat, "p50_ms", "p99_ms");
    if (!latency)
        return -ENOMEM;
    if (nlat) {
        qsort(lat, nlat, sizeof(*lat), lat_cmp);
        _cleanup_free_ int64_t *all = malloc(nlat * sizeof(*all));
        if (!all) {
            json_decref(latency);
            return -ENOMEM;
        }
        for (size_t i = 0; i < nlat; i++)
            all[i] = lat[i].ms;
        /* per bucket: the samples of one bucket are adjacent and sorted */
        for (size_t i = 0; i < nlat;) {
            size_t j = i;
            while (j < nlat && lat[j].bucket == lat[i].bucket)
                j++;
            json_t *b = json_array_get(buckets, (size_t)lat[i].bucket);
            json_object_set_new(b, "p50_ms", json_integer(pct(all + i, j - i, 50)));
            json_object_set_new(b, "p99_ms", json_integer(pct(all + i, j - i, 99)));
            i = j;
        }
        qsort(all, nlat, sizeof(*all), int64_cmp);
        json_object_set_new(latency, "p50_ms", json_integer(pct(all, nlat, 50)));
        json_object_set_new(latency, "p99_ms", json_integer(pct(all, nlat, 99)));
    }
    *out = json_pack("{s:o, s:o, s:O}", "buckets", steal_pointer(&buckets), "latency", latency,
                     "outcomes", outcomes);
    return *out ? 0 : -ENOMEM;
}

/* ---- dependency sets ---- */

/* spec.expr is only tested for presence: #>> gives SQL NULL for a JSON null,
 * as json_extract does. */
#define SQL_DEPSETS(D)                                                                             \
    "SELECT key, state, closure_bytes, " DB_IF(                                                    \
        D, "json_array_length(closure)",                                                           \
        "json_array_length(closure::json)") ", "                                                   \
                                            "last_used_at, holders, "                              \
                                            "(SELECT COUNT(*) FROM submissions s WHERE s.state = " \
                                            "'running' AND "                                       \
                                            "s.depset_key = depsets.key), "                        \
                                            "(SELECT COUNT(*) FROM depset_pins p WHERE p.key = "   \
                                            "depsets.key), attempts, error, "                      \
                                            "created_at, finished_at, " DB_IF(                     \
                                                D,                                                 \
                                                "json_extract(spec, '$.packages'), "               \
                                                "json_extract(spec, '$.expr') ",                   \
                                                "spec::json -> 'packages', spec::json #>> "        \
                                                "'{expr}' ") "FROM depsets ORDER BY "              \
                                                             "COALESCE(last_used_at, created_at) " \
                                                             "DESC, key"

/* The pin decides its writes on the set's row: locked on PostgreSQL. */
#define SQL_PIN_SET(D) "SELECT 1 FROM depsets WHERE key = ?1" DB_FOR_UPDATE(D)
#define SQL_UNHOLD(D) "UPDATE depsets SET holders = " DB_MAX2(D) "(holders - 1, 0) WHERE key = ?1"

int store_stats_depsets(store *s, json_t **out)
{
    *out = NULL;
    _cleanup_json_ json_t *arr = json_array();
    if (!arr)
        return -ENOMEM;
    _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_DEPSETS));
    if (!st)
        return store_err(s);
    int rc;
    while ((rc = db_step(st)) == DB_ROW) {
        int64_t holds = db_col_int64(st, 5), running = db_col_int64(st, 6);
        json_t *o = json_pack(
            "{s:o, s:o, s:I, s:I, s:o, s:I, s:I, s:b, s:b, s:I, s:o, s:o, s:o, s:o, s:b}", "key",
            store_col_str_or_null(st, 0), "state", store_col_str_or_null(st, 1), "closure_bytes",
            (json_int_t)db_col_int64(st, 2), "closure_paths", (json_int_t)db_col_int64(st, 3),
            "last_used_at", store_col_int_or_null(st, 4), "holds", (json_int_t)holds, "running",
            (json_int_t)running, "held", holds > 0 || running > 0, "pinned",
            db_col_int64(st, 7) != 0, "attempts", (json_int_t)db_col_int64(st, 8), "error",
            store_col_str_or_null(st, 9), "created_at", store_col_int_or_null(st, 10),
            "finished_at", store_col_int_or_null(st, 11), "packages", store_col_json(st, 12),
            "expr", !db_col_is_null(st, 13));
        if (!o || json_array_append_new(arr, o) < 0)
            return -ENOMEM;
    }
    if (rc != DB_DONE)
        return store_fail(s, rc);
    *out = steal_pointer(&arr);
    return 0;
}

int store_stats_depset_pin(store *s, const char *key, bool pin)
{
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    _cleanup_tx_ store *tx = s;
    {
        _cleanup_stmt_ db_stmt *st = NULL;
        int rc = store_row_by_key(s, STORE_SQL(s, SQL_PIN_SET), key, &st);
        if (rc < 0)
            return rc;
    }
    char now[24];
    snprintf(now, sizeof(now), "%lld", (long long)store_now_ms());
    int changed;
    if (pin)
        changed = store_exec(s,
                             "INSERT INTO depset_pins (key, pinned_at) "
                             "VALUES (?1, CAST(?2 AS BIGINT)) ON CONFLICT (key) DO NOTHING",
                             2, key, now);
    else
        changed = store_exec(s, "DELETE FROM depset_pins WHERE key = ?1", 1, key);
    if (changed < 0)
        return changed;
    if (changed > 0) {
        r = store_exec(s,
                       pin ? "UPDATE depsets SET holders = holders + 1 WHERE key = ?1"
                           : STORE_SQL(s, SQL_UNHOLD),
                       1, key);
        if (r < 0)
            return r;
    }
    r = store_tx_commit(s);
    return r < 0 ? r : changed > 0;
}

int store_stats_depset_rebuild(store *s, const char *key)
{
    _cleanup_free_ char *state = NULL;
    {
        _cleanup_stmt_ db_stmt *st = NULL;
        int rc = store_row_by_key(s, "SELECT state FROM depsets WHERE key = ?1", key, &st);
        if (rc < 0)
            return rc;
        state = store_col_strdup(st, 0);
    }
    if (state && !strcmp(state, "ready")) {
        int r = store_depset_requeue(s, key);
        return r == 0 ? -EBUSY : r;
    }
    if (!state || strcmp(state, "failed"))
        return -EBUSY;
    int r = store_exec(s,
                       "UPDATE depsets SET state = 'queued', attempts = 0, log = NULL, "
                       "error = NULL, lease_owner = NULL, lease_expires_at = NULL, "
                       "started_at = NULL, finished_at = NULL WHERE key = ?1 AND state = 'failed'",
                       1, key);
    if (r < 0)
        return r;
    if (r == 0)
        return -EBUSY; /* it moved meanwhile */
    store_ring(s, STORE_ROLE_BUILDER);
    return 1;
}
