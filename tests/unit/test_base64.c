/* test_base64.c — base64 over libcrypto: RFC 4648 vectors, what clients may
 * send (URL alphabet, no padding, line breaks), what is refused, and data
 * larger than one EVP chunk. */
#include "testutil.h"

#include "base64.h"

static void expect_decode(const char *in, const char *want, size_t want_len)
{
    unsigned char *out = NULL;
    size_t n = 0;
    ck_assert_msg(base64_decode(in, strlen(in), &out, &n) == 0, "decoding \"%s\"", in);
    ck_assert_uint_eq(n, want_len);
    ck_assert_int_eq(memcmp(out, want, n), 0);
    ck_assert_int_eq(out[n], 0);
    free(out);
}

START_TEST(rfc4648_vectors)
{
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(*plain); i++) {
        char *e = base64_encode(plain[i], strlen(plain[i]));
        ck_assert_str_eq(e, coded[i]);
        free(e);
        expect_decode(coded[i], plain[i], strlen(plain[i]));
    }
}
END_TEST

START_TEST(client_forms_accepted)
{
    expect_decode("Zm9vYg", "foob", 4);           /* padding left out */
    expect_decode("Zm9v\r\nYmFy\n", "foobar", 6); /* line breaks */
    expect_decode("-_8=", "\xfb\xff", 2);         /* URL-safe alphabet */
    expect_decode("+/8=", "\xfb\xff", 2);
    expect_decode("AAD/", "\0\0\xff", 3); /* NUL bytes survive */
}
END_TEST

START_TEST(malformed_refused)
{
    static const char *bad[] = {"!!!",   "Zm9v!", "Zg=a",      "Z",
                                "Zm9vY", "Zg===", "Zm9v YmFy", "Zg==Zg=="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        unsigned char *out = (unsigned char *)"untouched";
        size_t n = 7;
        ck_assert_msg(base64_decode(bad[i], strlen(bad[i]), &out, &n) == -EINVAL, "accepted \"%s\"",
                      bad[i]);
        ck_assert_str_eq((char *)out, "untouched");
        ck_assert_uint_eq(n, 7);
    }
}
END_TEST

START_TEST(larger_than_one_chunk_round_trips)
{
    size_t len = 7 * 1024 * 1024 + 5; /* crosses the 3 MiB / 4 MiB chunk edges */
    unsigned char *data = malloc(len);
    ck_assert_ptr_nonnull(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 131 + (i >> 11));
    char *e = base64_encode(data, len);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(strlen(e), 4 * ((len + 2) / 3));
    unsigned char *back = NULL;
    size_t n = 0;
    ck_assert_int_eq(base64_decode(e, strlen(e), &back, &n), 0);
    ck_assert_uint_eq(n, len);
    ck_assert_int_eq(memcmp(back, data, len), 0);
    free(back);
    free(e);
    free(data);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("base64");
    TCase *tc = tcase_create("base64");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rfc4648_vectors);
    tcase_add_test(tc, client_forms_accepted);
    tcase_add_test(tc, malformed_refused);
    tcase_add_test(tc, larger_than_one_chunk_round_trips);
    suite_add_tcase(s, tc);
    return testutil_main(s);
}
