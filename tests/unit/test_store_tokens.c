/* test_store_tokens.c — the API's tables (common/store_tokens.c and
 * schema/010_api_metrics.sql): tokens by hash, revocation, counters, and the
 * triggers that count terminal states, test verdicts, requeues, lease
 * expiries and dependency-set cache hits. */
#include "testutil.h"
#include "testdb.h"

#include <jansson.h>

#include "../../common/cleanup.h"
#include "../../common/hash.h"
#include "../../common/store.h"
#include "../../common/store_tokens.h"

static store *open_store(void)
{
    return testdb_open_store(testutil_newdir(), 0, 0, NULL);
}

static long long counter(store *s, const char *name)
{
    json_t *c = NULL;
    ck_assert_int_eq(store_counters(s, &c), 0);
    json_t *v = json_object_get(c, name);
    long long n = json_is_integer(v) ? json_integer_value(v) : 0;
    json_decref(c);
    return n;
}

START_TEST(tokens_are_found_by_hash_and_revoked)
{
    store *s = open_store();
    char sha[65], id[33];
    hash_sha256_hex("nft_secret", 10, sha);
    json_t *scopes = json_pack("[s,s]", "submit", "read");
    ck_assert_int_eq(store_token_create(s, "ci", scopes, sha, id), 0);
    json_decref(scopes);
    json_t *row = NULL;
    ck_assert_int_eq(store_token_find(s, sha, &row), 1);
    ck_assert_str_eq(json_string_value(json_object_get(row, "id")), id);
    ck_assert_int_eq(json_array_size(json_object_get(row, "scopes")), 2);
    ck_assert(json_is_null(json_object_get(row, "revoked_at")));
    json_decref(row);
    char other[65];
    hash_sha256_hex("nft_other", 9, other);
    ck_assert_int_eq(store_token_find(s, other, &row), 0);
    ck_assert_int_eq(store_token_touch(s, id, 1234), 0);
    json_t *list = NULL;
    ck_assert_int_eq(store_token_list(s, &list), 0);
    ck_assert_int_eq(json_array_size(list), 1);
    json_t *first = json_array_get(list, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(first, "last_used_at")), 1234);
    _cleanup_free_ char *text = json_dumps(list, 0);
    ck_assert_msg(!strstr(text, sha), "list shows the hash");
    json_decref(list);
    ck_assert_int_eq(store_token_revoke(s, id), 1);
    ck_assert_int_eq(store_token_revoke(s, id), 0);
    ck_assert_int_eq(store_token_revoke(s, "nope"), -ENOENT);
    ck_assert_int_eq(store_token_find(s, sha, &row), 1);
    ck_assert(json_is_integer(json_object_get(row, "revoked_at")));
    json_decref(row);
    store_close(s);
}
END_TEST

START_TEST(counters_add_up)
{
    store *s = open_store();
    const char *names[] = {"a{x=\"1\"}", "b"};
    int64_t d1[] = {2, 5}, d2[] = {3, 0};
    ck_assert_int_eq(store_counters_add(s, names, d1, 2), 0);
    ck_assert_int_eq(store_counters_add(s, names, d2, 2), 0);
    ck_assert_int_eq(store_counters_add(s, names, d2, 0), 0);
    ck_assert_int_eq(counter(s, "a{x=\"1\"}"), 5);
    ck_assert_int_eq(counter(s, "b"), 5);
    store_close(s);
}
END_TEST

static void enqueue(store *s, const char *spec, char id[33])
{
    store_depset_ref ref = {.spec_json = spec};
    hash_sha256_hex(spec, strlen(spec), ref.key);
    store_submission_new sub = {.request_json = "{}", .depset = &ref, .n_tests = 1};
    ck_assert_int_eq(store_submission_enqueue(s, &sub), 0);
    memcpy(id, sub.id, 33);
}

/* Makes the set of spec ready through the builder's calls. */
static void make_ready(store *s)
{
    store_depset_claimed dc;
    ck_assert_int_eq(store_depset_claim(s, "b", 60000, &dc), 1);
    json_t *paths = json_pack("[s]", "/nix/store/x");
    ck_assert_int_eq(store_depset_ready(s, dc.key, "b", paths, paths, 10, "/root", ""), 0);
    json_decref(paths);
    store_depset_claimed_done(&dc);
}

START_TEST(triggers_count_queue_events)
{
    store *s = open_store();
    char id1[33], id2[33];
    enqueue(s, "{\"packages\":[\"a\"]}", id1); /* set new: a miss */
    ck_assert_int_eq(counter(s, "depset_cache_total{result=\"miss\"}"), 1);
    make_ready(s);
    enqueue(s, "{\"packages\":[\"a\"]}", id2); /* set ready: a hit */
    ck_assert_int_eq(counter(s, "depset_cache_total{result=\"hit\"}"), 1);

    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "w", 60000, &c), 1);
    json_t *res = json_pack("{s:s}", "verdict", "accepted");
    ck_assert_int_eq(store_submission_test_result(s, c.id, "w", 0, res), 0);
    ck_assert_int_eq(store_submission_finish(s, c.id, "w", "finished", "accepted", res), 0);
    json_decref(res);
    store_claimed_done(&c);
    ck_assert_int_eq(counter(s, "submissions_total{state=\"finished\",verdict=\"accepted\"}"), 1);
    ck_assert_int_eq(counter(s, "test_verdicts_total{verdict=\"accepted\"}"), 1);
    ck_assert_int_eq(counter(s, "run_duration_count"), 1);
    ck_assert_int_eq(counter(s, "run_duration_bucket{le=\"300000\"}"), 1);
    ck_assert_int_eq(counter(s, "lease_expiries_total{kind=\"submission\"}"), 0);

    /* a lease that runs out is counted once the health checker takes it back */
    ck_assert_int_eq(store_submission_claim(s, "w2", 1, &c), 1);
    store_claimed_done(&c);
    usleep(5000);
    store_requeue_counts rc;
    ck_assert_int_eq(store_requeue_expired(s, store_now_ms(), &rc), 0);
    ck_assert_int_eq(rc.submissions_requeued, 1);
    ck_assert_int_eq(counter(s, "lease_expiries_total{kind=\"submission\"}"), 1);
    ck_assert_int_eq(counter(s, "requeues_total{kind=\"submission\"}"), 1);
    ck_assert_int_eq(counter(s, "builds_total{state=\"ready\"}"), 1);
    ck_assert_int_eq(counter(s, "build_duration_count"), 1);
    store_close(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_tokens");
    TCase *tc = tcase_create("api tables");
    tcase_add_test(tc, tokens_are_found_by_hash_and_revoked);
    tcase_add_test(tc, counters_add_up);
    tcase_add_test(tc, triggers_count_queue_events);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_main(suite());
}
