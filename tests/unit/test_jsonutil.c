/* test_jsonutil.c — typed getters whose errors name the field; dumps. */
#include "testutil.h"

#include "jsonutil.h"

START_TEST(getters_name_the_field)
{
    json_t *o =
        json_pack("{s:s,s:i,s:b,s:[],s:{},s:n}", "name", "x", "n", 3, "ok", 1, "a", "o", "nil");
    char err[128] = "";
    const char *str = NULL;
    int64_t n = 0;
    bool b = false;
    json_t *arr = NULL, *obj = NULL;
    ck_assert_int_eq(jsonutil_get_str(o, "name", true, &str, err, sizeof(err)), 0);
    ck_assert_str_eq(str, "x");
    ck_assert_int_eq(jsonutil_get_int(o, "n", true, &n, err, sizeof(err)), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(jsonutil_get_bool(o, "ok", true, &b, err, sizeof(err)), 0);
    ck_assert(b);
    ck_assert_int_eq(jsonutil_get_array(o, "a", true, &arr, err, sizeof(err)), 0);
    ck_assert(json_is_array(arr));
    ck_assert_int_eq(jsonutil_get_object(o, "o", true, &obj, err, sizeof(err)), 0);
    ck_assert(json_is_object(obj));

    ck_assert_int_eq(jsonutil_get_int(o, "name", true, &n, err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "'name' must be an integer");
    ck_assert_int_eq(jsonutil_get_str(o, "missing", true, &str, err, sizeof(err)), -ENOENT);
    ck_assert_str_eq(err, "'missing' is required");
    /* Optional and absent (or null): untouched, success. */
    str = "keep";
    ck_assert_int_eq(jsonutil_get_str(o, "missing", false, &str, err, sizeof(err)), 0);
    ck_assert_int_eq(jsonutil_get_str(o, "nil", false, &str, err, sizeof(err)), 0);
    ck_assert_str_eq(str, "keep");
    json_decref(o);
}
END_TEST

START_TEST(dump_and_parse)
{
    _cleanup_json_ json_t *o = json_pack("{s:i,s:i}", "b", 1, "a", 2);
    char *d = jsonutil_dump(o);
    ck_assert_str_eq(d, "{\"b\":1,\"a\":2}");
    free(d);
    d = jsonutil_dump_sorted(o);
    ck_assert_str_eq(d, "{\"a\":2,\"b\":1}");
    free(d);
    json_t *p = NULL;
    char err[128] = "";
    ck_assert_int_eq(jsonutil_parse("{\"a\":", &p, err, sizeof(err)), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "line 1"));
    ck_assert_int_eq(jsonutil_parse("", &p, err, sizeof(err)), -ENODATA);
    ck_assert_int_eq(jsonutil_parse("[1]", &p, err, sizeof(err)), 0);
    ck_assert(json_is_array(p));
    json_decref(p);
    json_t *n = jsonutil_loads_or_null("not json");
    ck_assert(json_is_null(n));
    json_decref(n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonutil");
    TCase *tc = tcase_create("jsonutil");
    tcase_add_test(tc, getters_name_the_field);
    tcase_add_test(tc, dump_and_parse);
    suite_add_tcase(s, tc);
    return testutil_main(s);
}
