/* test_hash.c — SHA-256 and HMAC against published vectors; random ids. */
#include "testutil.h"

#include "hash.h"

START_TEST(sha256_known_vector)
{
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hash_sha256_hex("", 0, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

START_TEST(incremental_equals_one_shot)
{
    char a[HASH_HEX_LEN + 1], b[HASH_HEX_LEN + 1];
    hash_ctx *h = hash_new();
    ck_assert_ptr_nonnull(h);
    hash_update(h, "packages\n", 9);
    hash_update(h, "set", 3);
    hash_final_hex(h, a);
    hash_sha256_hex("packages\nset", 12, b);
    ck_assert_str_eq(a, b);
}
END_TEST

START_TEST(hmac_rfc4231_case2)
{
    char hex[HASH_HEX_LEN + 1];
    const char *data = "what do ya want for nothing?";
    hash_hmac_sha256_hex("Jefe", 4, data, strlen(data), hex);
    ck_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}
END_TEST

START_TEST(random_ids_are_hex_and_distinct)
{
    char a[33], b[33];
    ck_assert_int_eq(hash_random_id(a), 0);
    ck_assert_int_eq(hash_random_id(b), 0);
    ck_assert_uint_eq(strlen(a), 32);
    ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 32);
    ck_assert_str_ne(a, b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hash");
    TCase *tc = tcase_create("hash");
    tcase_add_test(tc, sha256_known_vector);
    tcase_add_test(tc, incremental_equals_one_shot);
    tcase_add_test(tc, hmac_rfc4231_case2);
    tcase_add_test(tc, random_ids_are_hex_and_distinct);
    suite_add_tcase(s, tc);
    return testutil_main(s);
}
