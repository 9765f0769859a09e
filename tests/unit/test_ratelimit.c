/* test_ratelimit.c — the API's per-caller rate limit (daemon/api/auth.c) under a
 * flood of callers: a busy caller keeps its empty bucket however many new
 * addresses arrive (issue 10: the table was wiped when three-quarters full,
 * refilling everyone). The clock is driven by the test. */
#include "testutil.h"

#include <stdint.h>

#include "../../common/config.h"
#include "../../daemon/api/auth.h"
#include "../../daemon/api/ratetable.h"

static auth *new_auth(const char *per_s, const char *burst)
{
    char err[256];
    config *cfg = NULL;
    ck_assert_int_eq(config_new_default(&cfg, err, sizeof(err)), 0);
    ck_assert_int_eq(config_set(cfg, "api.rate_limit_per_s", per_s, err, sizeof(err)), 0);
    ck_assert_int_eq(config_set(cfg, "api.rate_limit_burst", burst, err, sizeof(err)), 0);
    auth *a = NULL;
    ck_assert_int_eq(auth_new(cfg, &a, err, sizeof(err)), 0);
    config_free(cfg);
    return a;
}

static auth_identity who(const char *addr)
{
    auth_identity id = {.anonymous = true};
    snprintf(id.rate_key, sizeof(id.rate_key), "addr:%s", addr);
    return id;
}

START_TEST(a_flood_of_addresses_does_not_refill_a_busy_caller)
{
    auth *a = new_auth("1", "1");
    const int64_t t = 1000000; /* the clock stands still: nobody earns a token */
    auth_identity busy = who("10.0.0.1");
    ck_assert_int_eq(auth_rate_take_at(a, &busy, t), 0);
    ck_assert_int_ge(auth_rate_take_at(a, &busy, t), 1);
    /* 20000 other addresses, one request each, while the busy caller keeps
     * asking: it is never let through again */
    for (int i = 0; i < 20000; i++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 256, i % 256);
        auth_identity other = who(addr);
        ck_assert_int_eq(auth_rate_take_at(a, &other, t), 0);
        if (i % 64 == 0)
            ck_assert_msg(auth_rate_take_at(a, &busy, t) >= 1,
                          "the busy caller got a fresh allowance after %d new addresses", i + 1);
    }
    /* an address that came and went long ago was evicted: it starts afresh */
    auth_identity first = who("10.1.0.0");
    ck_assert_int_eq(auth_rate_take_at(a, &first, t), 0);
    auth_free(a);
}
END_TEST

START_TEST(buckets_refill_at_the_configured_rate)
{
    auth *a = new_auth("2", "2");
    auth_identity c = who("127.0.0.1");
    ck_assert_int_eq(auth_rate_take_at(a, &c, 0), 0);
    ck_assert_int_eq(auth_rate_take_at(a, &c, 0), 0);
    ck_assert_int_eq(auth_rate_take_at(a, &c, 0), 1);
    ck_assert_int_eq(auth_rate_take_at(a, &c, 500), 0); /* 2/s: one token in 500 ms */
    ck_assert_int_eq(auth_rate_take_at(a, &c, 500), 1);
    auth_free(a);
}
END_TEST

START_TEST(the_least_recently_used_entry_is_evicted)
{
    ratetable *t = ratetable_new(3);
    ck_assert_ptr_nonnull(t);
    bool created;
    ratetable_get(t, "a", 1, 0, &created);
    ck_assert(created);
    ratetable_get(t, "b", 1, 0, NULL);
    ratetable_get(t, "c", 1, 0, NULL);
    rate_entry *e = ratetable_get(t, "a", 1, 0, &created); /* a is now the newest */
    ck_assert(!created);
    e->tokens = 0;
    ratetable_get(t, "d", 1, 0, &created); /* evicts b */
    ck_assert(created);
    ck_assert_uint_eq(ratetable_size(t), 3);
    ck_assert(!ratetable_has(t, "b"));
    ck_assert(ratetable_has(t, "a") && ratetable_has(t, "c") && ratetable_has(t, "d"));
    e = ratetable_get(t, "a", 1, 0, &created);
    ck_assert(!created);
    ck_assert(e->tokens == 0);
    ratetable_get(t, "e", 1, 0, NULL); /* evicts c, then d is the oldest */
    ratetable_get(t, "f", 1, 0, NULL);
    ck_assert(!ratetable_has(t, "c") && !ratetable_has(t, "d"));
    ck_assert(ratetable_has(t, "a") && ratetable_has(t, "e") && ratetable_has(t, "f"));
    /* a key longer than an entry holds still finds itself */
    char longkey[200];
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = 0;
    ratetable_get(t, longkey, 1, 0, &created);
    ck_assert(created);
    ratetable_get(t, longkey, 1, 0, &created);
    ck_assert(!created);
    ratetable_free(t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("auth");
    tcase_add_test(tc, a_flood_of_addresses_does_not_refill_a_busy_caller);
    tcase_add_test(tc, buckets_refill_at_the_configured_rate);
    tcase_add_test(tc, the_least_recently_used_entry_is_evicted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_main(suite());
}
