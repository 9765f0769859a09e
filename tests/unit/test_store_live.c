/* test_store_live.c — the live channel of interactive runs
 * (common/store_live.c): chunks in order per direction and submission,
 * bytes kept exactly (NUL included), reads after a seq, batches, the
 * doorbell rung on append, and the drop of a session's chunks. */
#include "testutil.h"
#include "testdb.h"

#include "../../common/store.h"
#include "../../common/store_live.h"

/* A store on a new database; *dir_out and url_out (600 bytes) name it for a
 * second opener. */
static store *open_store(const char **dir_out, char *url_out)
{
    const char *dir = testutil_newdir();
    if (dir_out)
        *dir_out = dir;
    return testdb_open_store(dir, 0, 0, url_out);
}

START_TEST(order_direction_and_submission_apart)
{
    store *s = open_store(NULL, NULL);
    int64_t a = store_live_append(s, "sub1", STORE_LIVE_IN, "stdin", "one\n", 4);
    int64_t b = store_live_append(s, "sub1", STORE_LIVE_OUT, "stdout", "ONE\n", 4);
    int64_t c = store_live_append(s, "sub2", STORE_LIVE_IN, "stdin", "other", 5);
    int64_t d = store_live_append(s, "sub1", STORE_LIVE_IN, "signal", "2", 1);
    ck_assert(a > 0 && b > a && c > b && d > c);
    store_live_chunk *ch = NULL;
    size_t n = 0;
    ck_assert_int_eq(store_live_read(s, "sub1", STORE_LIVE_IN, 0, 10, &ch, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(ch[0].kind, "stdin");
    ck_assert_str_eq((char *)ch[0].data, "one\n");
    ck_assert_int_eq(ch[0].seq, a);
    ck_assert_str_eq(ch[1].kind, "signal");
    ck_assert_str_eq((char *)ch[1].data, "2");
    store_live_chunks_free(ch, n);
    /* after a seq, in batches */
    ck_assert_int_eq(store_live_read(s, "sub1", STORE_LIVE_IN, a, 1, &ch, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(ch[0].seq, d);
    store_live_chunks_free(ch, n);
    ck_assert_int_eq(store_live_read(s, "sub1", STORE_LIVE_IN, d, 10, &ch, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(ch);
    store_close(s);
}
END_TEST

START_TEST(bytes_exact_and_bad_kind)
{
    store *s = open_store(NULL, NULL);
    static const char bin[] = {'a', 0, '\xff', '\n'};
    ck_assert(store_live_append(s, "sub", STORE_LIVE_OUT, "stdout", bin, sizeof(bin)) > 0);
    ck_assert(store_live_append(s, "sub", STORE_LIVE_OUT, "stderr", "", 0) > 0);
    ck_assert_int_eq(store_live_append(s, "sub", STORE_LIVE_OUT, "a-kind-far-too-long", "x", 1),
                     -EINVAL);
    store_live_chunk *ch = NULL;
    size_t n = 0;
    ck_assert_int_eq(store_live_read(s, "sub", STORE_LIVE_OUT, 0, 10, &ch, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(ch[0].len, sizeof(bin));
    ck_assert(!memcmp(ch[0].data, bin, sizeof(bin)));
    ck_assert_uint_eq(ch[1].len, 0);
    store_live_chunks_free(ch, n);
    store_close(s);
}
END_TEST

START_TEST(append_rings_events_doorbell)
{
    const char *dir = NULL;
    char path[600], err[512] = "";
    store *s = open_store(&dir, path);
    store *listener = NULL;
    ck_assert_int_eq(store_open(path, dir, &listener, err, sizeof(err)), 0);
    ck_assert_int_eq(store_doorbell_listen(listener, STORE_ROLE_EVENTS), 0);
    ck_assert_int_eq(store_wait(listener, 0), 0); /* nothing rang yet */
    ck_assert(store_live_append(s, "sub", STORE_LIVE_IN, "stdin", "x", 1) > 0);
    ck_assert_int_eq(store_wait(listener, 10000), 1);
    store_close(listener);
    store_close(s);
}
END_TEST

START_TEST(drop_by_submission)
{
    store *s = open_store(NULL, NULL);
    store_live_append(s, "gone", STORE_LIVE_IN, "stdin", "a", 1);
    store_live_append(s, "gone", STORE_LIVE_OUT, "stdout", "b", 1);
    store_live_append(s, "kept", STORE_LIVE_OUT, "stdout", "c", 1);
    ck_assert_int_eq(store_live_drop(s, "gone", 86400000), 2);
    store_live_chunk *ch = NULL;
    size_t n = 0;
    ck_assert_int_eq(store_live_read(s, "gone", STORE_LIVE_OUT, 0, 10, &ch, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(store_live_read(s, "kept", STORE_LIVE_OUT, 0, 10, &ch, &n), 0);
    ck_assert_uint_eq(n, 1);
    store_live_chunks_free(ch, n);
    store_close(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_live");
    TCase *tc = tcase_create("live");
    tcase_add_test(tc, order_direction_and_submission_apart);
    tcase_add_test(tc, bytes_exact_and_bad_kind);
    tcase_add_test(tc, append_rings_events_doorbell);
    tcase_add_test(tc, drop_by_submission);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_main(suite());
}
