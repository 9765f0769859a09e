/* test_store_stats.c — the dashboard's store calls (common/store_stats.c):
 * paging covers every row once and counts filters right, the series adds up
 * to what was submitted and finished, pins hold a set from eviction exactly
 * once, rebuild sends ready and failed sets back and refuses busy ones. */
#include "testutil.h"
#include "testdb.h"
#include "testset.h"

#include <jansson.h>

#include "hash.h"
#include "store.h"
#include "store_stats.h"

#define LEASE 60000

static store *open_store(void)
{
    return testdb_open_store(testutil_newdir(), 2000, 3, NULL);
}

static void make_set(store *s, test_set *t, const char *name,
                     int outcome /* 1 ready, 0 failed, -1 none */)
{
    testset_make(t, name);
    if (outcome < 0)
        ck_assert_int_ge(store_depset_ensure(s, &t->ref), 0);
    else
        testset_build(s, t, outcome);
}

static void enqueue(store *s, test_set *t, const char *profile, char id[33])
{
    char req[128];
    snprintf(req, sizeof(req), "{\"profile\":\"%s\",\"run\":\"./main\"}", profile);
    store_submission_new n = {.request_json = req, .depset = &t->ref, .n_tests = 1};
    ck_assert_msg(store_submission_enqueue(s, &n) == 0, "enqueue: %s", store_last_error(s));
    if (id)
        memcpy(id, n.id, 33);
}

static const char *depset_state(store *s, const char *key, char buf[32])
{
    json_t *o = NULL;
    ck_assert_int_eq(store_depset_get(s, key, &o), 0);
    snprintf(buf, 32, "%s", json_string_value(json_object_get(o, "state")));
    json_decref(o);
    return buf;
}

static bool is_candidate(store *s, const char *key)
{
    json_t *c = NULL;
    ck_assert_int_eq(store_depset_eviction_candidates(s, &c), 0);
    bool found = false;
    size_t i;
    json_t *v;
    json_array_foreach(c, i, v) found |= !strcmp(json_string_value(json_object_get(v, "key")), key);
    json_decref(c);
    return found;
}

START_TEST(pages_cover_every_row_newest_first)
{
    store *s = open_store();
    test_set t;
    make_set(s, &t, "gcc", 1);
    enum { N = 250 };
    static char ids[N][33];
    for (int i = 0; i < N; i++)
        enqueue(s, &t, i % 5 == 0 ? "c" : "bash", ids[i]);
    store_stats_filter f = {.limit = 100};
    int seen = 0, pages = 0;
    char before[64] = "";
    for (;;) {
        f.before_id = before[0] ? before : NULL;
        json_t *rows = NULL, *next = NULL;
        int64_t total = 0;
        int rc = store_stats_submissions(s, &f, &rows, &total, &next);
        ck_assert_msg(rc == 0, "store_stats_submissions: %d %s", rc, store_last_error(s));
        ck_assert_int_eq(total, N);
        size_t i;
        json_t *r;
        json_array_foreach(rows, i, r)
        {
            /* newest first: the rows come in reverse enqueue order */
            ck_assert_str_eq(json_string_value(json_object_get(r, "id")), ids[N - 1 - seen]);
            seen++;
        }
        pages++;
        bool last = json_is_null(next);
        if (!last)
            snprintf(before, sizeof(before), "%s", json_string_value(next));
        json_decref(rows);
        json_decref(next);
        if (last)
            break;
    }
    ck_assert_int_eq(seen, N);
    ck_assert_int_eq(pages, 3);

    store_stats_filter byprof = {.profile = "c", .limit = 10};
    json_t *rows = NULL, *next = NULL;
    int64_t total = 0;
    ck_assert_int_eq(store_stats_submissions(s, &byprof, &rows, &total, &next), 0);
    ck_assert_int_eq(total, N / 5);
    ck_assert_int_eq(json_array_size(rows), 10);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rows, 0), "profile")), "c");
    json_decref(rows);
    json_decref(next);

    store_stats_filter none = {.state = "finished", .limit = 10};
    ck_assert_int_eq(store_stats_submissions(s, &none, &rows, &total, &next), 0);
    ck_assert_int_eq(total, 0);
    ck_assert_int_eq(json_array_size(rows), 0);
    ck_assert(json_is_null(next));
    json_decref(rows);
    json_decref(next);

    store_stats_filter bad = {.before_id = "nosuchid", .limit = 10};
    ck_assert_int_eq(store_stats_submissions(s, &bad, &rows, &total, &next), -ENOENT);
    store_close(s);
}
END_TEST

START_TEST(series_adds_up_and_orders_percentiles)
{
    store *s = open_store();
    test_set t;
    make_set(s, &t, "gcc", 1);
    for (int i = 0; i < 12; i++)
        enqueue(s, &t, "c", NULL);
    /* 5 accepted, 3 wrong_answer, 1 compile_error; 3 stay queued */
    for (int i = 0; i < 9; i++) {
        store_claimed c;
        ck_assert_int_eq(store_submission_claim(s, "w1", LEASE, &c), 1);
        const char *state = i == 8 ? "compile_error" : "finished";
        const char *verdict = i < 5 ? "accepted" : i < 8 ? "wrong_answer" : NULL;
        json_t *res = json_object();
        ck_assert_int_eq(store_submission_finish(s, c.id, "w1", state, verdict, res), 0);
        json_decref(res);
        store_claimed_done(&c);
    }
    json_t *o = NULL;
    int64_t now = store_now_ms() + 1000;
    ck_assert_int_eq(store_stats_series(s, now, 3600000, 60000, &o), 0);
    json_t *buckets = json_object_get(o, "buckets");
    ck_assert_int_eq(json_array_size(buckets), 60);
    json_int_t sub = 0, fin = 0;
    size_t i;
    json_t *b;
    json_array_foreach(buckets, i, b)
    {
        sub += json_integer_value(json_object_get(b, "submitted"));
        fin += json_integer_value(json_object_get(b, "finished"));
    }
    ck_assert_int_eq(sub, 12);
    ck_assert_int_eq(fin, 9);
    json_t *out = json_object_get(o, "outcomes");
    ck_assert_int_eq(json_integer_value(json_object_get(out, "accepted")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "wrong_answer")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "compile_error")), 1);
    json_t *lat = json_object_get(o, "latency");
    ck_assert_int_eq(json_integer_value(json_object_get(lat, "count")), 9);
    ck_assert_int_le(json_integer_value(json_object_get(lat, "p50_ms")),
                     json_integer_value(json_object_get(lat, "p99_ms")));
    json_decref(o);

    /* too many buckets, or none, is refused */
    ck_assert_int_eq(store_stats_series(s, now, 86400000, 1000, &o), -EINVAL);
    ck_assert_int_eq(store_stats_series(s, now, 60000, 0, &o), -EINVAL);
    store_close(s);
}
END_TEST

START_TEST(pin_holds_a_set_once)
{
    store *s = open_store();
    test_set t;
    make_set(s, &t, "gcc", 1);
    ck_assert(is_candidate(s, t.ref.key));
    ck_assert_int_eq(store_stats_depset_pin(s, t.ref.key, true), 1);
    ck_assert_int_eq(store_stats_depset_pin(s, t.ref.key, true), 0);
    ck_assert(!is_candidate(s, t.ref.key));
    json_t *sets = NULL;
    ck_assert_int_eq(store_stats_depsets(s, &sets), 0);
    json_t *row = json_array_get(sets, 0);
    ck_assert(json_is_true(json_object_get(row, "pinned")));
    ck_assert(json_is_true(json_object_get(row, "held")));
    ck_assert_int_eq(json_integer_value(json_object_get(row, "holds")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(row, "closure_paths")), 2);
    json_decref(sets);
    ck_assert_int_eq(store_stats_depset_pin(s, t.ref.key, false), 1);
    ck_assert_int_eq(store_stats_depset_pin(s, t.ref.key, false), 0);
    ck_assert(is_candidate(s, t.ref.key));
    ck_assert_int_eq(store_stats_depset_pin(s, "nosuchkey", true), -ENOENT);
    store_close(s);
}
END_TEST

START_TEST(rebuild_requeues_ready_and_failed_sets)
{
    store *s = open_store();
    test_set ok, bad, busy;
    char st[32];
    make_set(s, &ok, "gcc", 1);
    make_set(s, &bad, "nosuch", 0);
    make_set(s, &busy, "lua", -1);
    ck_assert_str_eq(depset_state(s, bad.ref.key, st), "failed");
    ck_assert_int_eq(store_stats_depset_rebuild(s, bad.ref.key), 1);
    ck_assert_str_eq(depset_state(s, bad.ref.key, st), "queued");
    json_t *o = NULL;
    ck_assert_int_eq(store_depset_get(s, bad.ref.key, &o), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "attempts")), 0);
    ck_assert(json_is_null(json_object_get(o, "log")));
    json_decref(o);
    ck_assert_int_eq(store_stats_depset_rebuild(s, ok.ref.key), 1);
    ck_assert_str_eq(depset_state(s, ok.ref.key, st), "queued");
    ck_assert_int_eq(store_stats_depset_rebuild(s, busy.ref.key), -EBUSY);
    ck_assert_int_eq(store_stats_depset_rebuild(s, "nosuchkey"), -ENOENT);
    store_close(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_stats");
    TCase *tc = tcase_create("store_stats");
    tcase_add_test(tc, pages_cover_every_row_newest_first);
    tcase_add_test(tc, series_adds_up_and_orders_percentiles);
    tcase_add_test(tc, pin_holds_a_set_once);
    tcase_add_test(tc, rebuild_requeues_ready_and_failed_sets);
    suite_add_tcase(su, tc);
    return testutil_main(su);
}
