/* test_store_evalcache.c — the evaluation cache of nixpkgs sets
 * (common/store_evalcache.c): answers per set id and attribute, replaced
 * in place, listed per set, and a source's older revisions dropped when it
 * records under a new id (other sources untouched). */
#include "testutil.h"
#include "testdb.h"

#include "../../common/store.h"
#include "../../common/store_evalcache.h"

static store *open_store(void)
{
    return testdb_open_store(testutil_newdir(), 0, 0, NULL);
}

static void put(store *s, const char *source, const char *id, const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(store_evalcache_put_many(s, source, id, j), 0);
    json_decref(j);
}

START_TEST(put_get_and_list_per_set)
{
    store *s = open_store();
    json_t *v = NULL;
    ck_assert_int_eq(store_evalcache_get(s, "rev1", "hello", &v), 0);
    put(s, "nixpkgs", "rev1",
        "{\"hello\": {\"ok\": true, \"version\": \"2.12\"}, \"nope\": {\"ok\": false, \"error\": "
        "\"no attribute\"}}");
    ck_assert_int_eq(store_evalcache_get(s, "rev1", "hello", &v), 1);
    ck_assert_str_eq(json_string_value(json_object_get(v, "version")), "2.12");
    json_decref(v);
    ck_assert_int_eq(store_evalcache_get(s, "rev1", "nope", &v), 1);
    ck_assert(json_is_false(json_object_get(v, "ok")));
    json_decref(v);
    ck_assert_int_eq(store_evalcache_get(s, "rev2", "hello", &v), 0); /* per set id */
    /* Replaced in place. */
    put(s, "nixpkgs", "rev1", "{\"hello\": {\"ok\": true, \"version\": \"2.13\"}}");
    json_t *all = NULL;
    ck_assert_int_eq(store_evalcache_list(s, "rev1", &all), 0);
    ck_assert_int_eq(json_object_size(all), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(all, "hello"), "version")),
                     "2.13");
    json_decref(all);
    store_close(s);
}
END_TEST

START_TEST(new_revision_drops_the_old_of_its_source_only)
{
    store *s = open_store();
    put(s, "a", "a-rev1", "{\"hello\": {\"ok\": true}}");
    put(s, "b", "b-rev1", "{\"hello\": {\"ok\": true}}");
    put(s, "a", "a-rev2", "{\"gcc\": {\"ok\": true}}");
    json_t *v = NULL, *all = NULL;
    ck_assert_int_eq(store_evalcache_get(s, "a-rev1", "hello", &v), 0);
    ck_assert_int_eq(store_evalcache_get(s, "b-rev1", "hello", &v), 1);
    json_decref(v);
    ck_assert_int_eq(store_evalcache_list(s, "a-rev2", &all), 0);
    ck_assert_int_eq(json_object_size(all), 1);
    json_decref(all);
    store_close(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_evalcache");
    TCase *tc = tcase_create("evalcache");
    tcase_add_test(tc, put_get_and_list_per_set);
    tcase_add_test(tc, new_revision_drops_the_old_of_its_source_only);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_main(suite());
}
