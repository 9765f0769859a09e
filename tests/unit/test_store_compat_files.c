/* test_store_compat_files.c — files uploaded to a front under the client's
 * ids (common/store_compat_files.c): stored as blobs, replaced by id, kept
 * apart per front, expired, and kept alive by use. */
#include "testutil.h"
#include "testdb.h"

#include <time.h>

#include "../../common/hash.h"
#include "../../common/store.h"
#include "../../common/store_compat_files.h"

static store *open_store(void)
{
    return testdb_open_store(testutil_newdir(), 0, 0, NULL);
}

static void put(store *s, const char *front, const char *id, const char *data, int64_t ttl)
{
    store_blob b = {.data = data, .len = strlen(data)};
    ck_assert_int_eq(store_compat_file_put(s, front, id, &b, ttl), 0);
    char hex[65];
    hash_sha256_hex(data, strlen(data), hex);
    ck_assert_str_eq(b.sha256, hex);
}

static char *content(store *s, const char *front, const char *id)
{
    char sha[65];
    if (store_compat_file_get(s, front, id, 0, sha) != 1)
        return NULL;
    void *d = NULL;
    ck_assert_int_eq(store_blob_get(s, sha, &d, NULL), 0);
    return d;
}

START_TEST(put_get_replace_per_front)
{
    store *s = open_store();
    put(s, "jobe", "abcdefgh1", "one", 60000);
    char *c = content(s, "jobe", "abcdefgh1");
    ck_assert_str_eq(c, "one");
    free(c);
    ck_assert_ptr_null(content(s, "jobe", "abcdefgh2"));
    ck_assert_ptr_null(content(s, "other", "abcdefgh1")); /* fronts are apart */
    put(s, "jobe", "abcdefgh1", "two", 60000);            /* the same id again: replaced */
    c = content(s, "jobe", "abcdefgh1");
    ck_assert_str_eq(c, "two");
    free(c);
    store_close(s);
}
END_TEST

START_TEST(expiry_and_use_keep_alive)
{
    store *s = open_store();
    put(s, "jobe", "shortlived", "x", 1); /* expires at once */
    put(s, "jobe", "kept000001", "y", 60000);
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    char sha[65];
    ck_assert_int_eq(store_compat_file_get(s, "jobe", "shortlived", 0, sha), 0);
    /* use pushes the expiry forward */
    ck_assert_int_eq(store_compat_file_get(s, "jobe", "kept000001", 3600000, sha), 1);
    /* an upload removes expired rows; the blob itself stays */
    put(s, "jobe", "another001", "z", 60000);
    ck_assert_int_eq(store_compat_file_get(s, "jobe", "shortlived", 0, sha), 0);
    ck_assert_int_eq(store_compat_file_get(s, "jobe", "kept000001", 0, sha), 1);
    store_close(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_compat_files");
    TCase *tc = tcase_create("files");
    tcase_add_test(tc, put_get_replace_per_front);
    tcase_add_test(tc, expiry_and_use_keep_alive);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_main(suite());
}
