/* test_depset_key.c — canonical dependency-set specs and keys (docs/contracts.md). */
#include "testutil.h"

#include "depset_key.h"
#include "hash.h"

START_TEST(order_and_duplicates_do_not_matter)
{
    const char *a[] = {"python3", "gcc", "gcc"};
    const char *b[] = {"gcc", "python3"};
    char ka[65], kb[65];
    char *sa = NULL, *sb = NULL;
    ck_assert_int_eq(depset_key_for_packages("SET", a, 3, ka, &sa), 0);
    ck_assert_int_eq(depset_key_for_packages("SET", b, 2, kb, &sb), 0);
    ck_assert_str_eq(ka, kb);
    ck_assert_str_eq(sa, sb);
    ck_assert_str_eq(sa, "{\"packages\":[\"gcc\",\"python3\"],\"set\":\"SET\"}");
    free(sa);
    free(sb);
}
END_TEST

START_TEST(key_is_sha256_of_documented_form)
{
    const char *n[] = {"python3", "gcc"};
    char k[65], want[65];
    ck_assert_int_eq(depset_key_for_packages("S1", n, 2, k, NULL), 0);
    const char *text = "packages\nS1\ngcc\npython3";
    hash_sha256_hex(text, strlen(text), want);
    ck_assert_str_eq(k, want);
}
END_TEST

START_TEST(package_set_id_changes_key)
{
    const char *n[] = {"gcc"};
    char k1[65], k2[65];
    ck_assert_int_eq(depset_key_for_packages("S1", n, 1, k1, NULL), 0);
    ck_assert_int_eq(depset_key_for_packages("S2", n, 1, k2, NULL), 0);
    ck_assert_str_ne(k1, k2);
}
END_TEST

START_TEST(bad_names_rejected)
{
    const char *empty[] = {""};
    const char *nl[] = {"a\nb"};
    const char *null[] = {NULL};
    char k[65];
    ck_assert_int_eq(depset_key_for_packages("S", empty, 1, k, NULL), -EINVAL);
    ck_assert_int_eq(depset_key_for_packages("S", nl, 1, k, NULL), -EINVAL);
    ck_assert_int_eq(depset_key_for_packages("S", null, 1, k, NULL), -EINVAL);
    ck_assert_int_eq(depset_key_for_packages("S\n", NULL, 0, k, NULL), -EINVAL);
}
END_TEST

START_TEST(expression_key)
{
    char k[65], want[65];
    char *spec = NULL;
    ck_assert_int_eq(depset_key_for_expr("pkgs.hello", k, &spec), 0);
    hash_sha256_hex("expr\npkgs.hello", 15, want);
    ck_assert_str_eq(k, want);
    ck_assert_str_eq(spec, "{\"expr\":\"pkgs.hello\"}");
    free(spec);
    ck_assert_int_eq(depset_key_for_expr("", k, NULL), -EINVAL);
}
END_TEST

START_TEST(named_set_key_and_spec)
{
    const char *names[] = {"python3Packages.numpy", "python3"};
    char k[65], plain[65];
    char *spec = NULL;
    ck_assert_int_eq(depset_key_for_set("nixpkgs-24.11", "ID", names, 2, k, &spec), 0);
    /* The key is the documented one over the set's own id... */
    ck_assert_int_eq(depset_key_for_packages("ID", names, 2, plain, NULL), 0);
    ck_assert_str_eq(k, plain);
    /* ...and the spec names the set, so a builder knows what to build. */
    ck_assert_str_eq(spec, "{\"package_set\":\"nixpkgs-24.11\",\"packages\":[\"python3\","
                           "\"python3Packages.numpy\"],\"set\":\"ID\"}");
    free(spec);
    ck_assert_int_eq(depset_key_for_set("", "ID", names, 2, k, NULL), -EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("depset_key");
    TCase *tc = tcase_create("depset_key");
    tcase_add_test(tc, order_and_duplicates_do_not_matter);
    tcase_add_test(tc, key_is_sha256_of_documented_form);
    tcase_add_test(tc, package_set_id_changes_key);
    tcase_add_test(tc, bad_names_rejected);
    tcase_add_test(tc, expression_key);
    tcase_add_test(tc, named_set_key_and_spec);
    suite_add_tcase(s, tc);
    return testutil_main(s);
}
