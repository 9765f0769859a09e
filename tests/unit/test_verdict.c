/* test_verdict.c — the verdict rule, output comparison, UTF-8 check and
 * base64 of daemon/worker/verdict.c. */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/base64.h"
#include "../../daemon/worker/verdict.h"

START_TEST(decide_follows_the_documented_order)
{
    verdict_input in = {0};

    ck_assert_str_eq(verdict_decide(&in), "accepted");
    in.has_expected = true;
    ck_assert_str_eq(verdict_decide(&in), "wrong_answer");
    in.output_matches = true;
    ck_assert_str_eq(verdict_decide(&in), "accepted");
    in.exit_code = 3;
    ck_assert_str_eq(verdict_decide(&in), "runtime_error");
    in.exit_code = -1;
    in.signal = SIGSEGV;
    ck_assert_str_eq(verdict_decide(&in), "runtime_error");
    in.limit = VERDICT_LIMIT_OUTPUT;
    ck_assert_str_eq(verdict_decide(&in), "output_limit");
    in.limit = VERDICT_LIMIT_FILE_SIZE;
    ck_assert_str_eq(verdict_decide(&in), "output_limit");
    in.limit = VERDICT_LIMIT_MEMORY;
    ck_assert_str_eq(verdict_decide(&in), "memory_limit");
    in.limit = VERDICT_LIMIT_WALL;
    ck_assert_str_eq(verdict_decide(&in), "time_limit");
    in.limit = VERDICT_LIMIT_CPU;
    ck_assert_str_eq(verdict_decide(&in), "time_limit");
    in.sandbox_failed = true;
    ck_assert_str_eq(verdict_decide(&in), "internal_error");
}
END_TEST

START_TEST(process_limit_is_the_programs_failure)
{
    verdict_input in = {.limit = VERDICT_LIMIT_PROCESSES, .exit_code = 1};

    ck_assert_str_eq(verdict_decide(&in), "runtime_error");
    ck_assert_str_eq(verdict_limit_name(VERDICT_LIMIT_PROCESSES), "processes");
    ck_assert_ptr_null(verdict_limit_name(VERDICT_LIMIT_NONE));
}
END_TEST

START_TEST(signal_names)
{
    ck_assert_str_eq(verdict_signal_name(SIGSEGV), "SIGSEGV");
    ck_assert_str_eq(verdict_signal_name(SIGKILL), "SIGKILL");
    ck_assert_ptr_null(verdict_signal_name(0));
}
END_TEST

#define M(a, b, mode) verdict_output_matches(a, strlen(a), b, strlen(b), mode)

START_TEST(trailing_whitespace_compare)
{
    verdict_compare_mode t = VERDICT_COMPARE_TRAILING_WS;

    ck_assert(M("3\n", "3\n", t));
    ck_assert(M("3", "3\n", t));
    ck_assert(M("3  \r\n\n\n", "3\n", t));
    ck_assert(M("a \nb\t\n", "a\nb\n", t));
    ck_assert(M("", "\n\n", t));
    ck_assert(!M("3\n", "4\n", t));
    ck_assert(!M(" 3\n", "3\n", t)); /* leading space counts */
    ck_assert(!M("a\n\nb\n", "a\nb\n", t));
    ck_assert(!M("a\nb\n", "a\n", t));
    ck_assert(!M("ab\n", "a\n", t));
}
END_TEST

START_TEST(exact_compare)
{
    verdict_compare_mode e = verdict_compare_mode_from_string("exact");

    ck_assert_int_eq(e, VERDICT_COMPARE_EXACT);
    ck_assert(M("3\n", "3\n", e));
    ck_assert(!M("3", "3\n", e));
    ck_assert(!M("3 \n", "3\n", e));
    ck_assert(M("", "", e));
    ck_assert_int_eq(verdict_compare_mode_from_string(NULL), VERDICT_COMPARE_TRAILING_WS);
}
END_TEST

START_TEST(utf8_check)
{
    ck_assert(verdict_is_utf8("hello", 5));
    ck_assert(verdict_is_utf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15));
    ck_assert(verdict_is_utf8("", 0));
    ck_assert(!verdict_is_utf8("\xff", 1));
    ck_assert(!verdict_is_utf8("\xc3", 1));             /* cut short */
    ck_assert(!verdict_is_utf8("\xc0\xaf", 2));         /* overlong */
    ck_assert(!verdict_is_utf8("\xed\xa0\x80", 3));     /* surrogate */
    ck_assert(!verdict_is_utf8("a\0b", 3));             /* NUL */
    ck_assert(!verdict_is_utf8("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
}
END_TEST

START_TEST(base64_and_output_json)
{
    char *b = base64_encode("\xff\xfe\x00", 3);
    json_t *o = json_object();

    ck_assert_str_eq(b, "//4A");
    free(b);
    b = base64_encode("ab", 2);
    ck_assert_str_eq(b, "YWI=");
    free(b);

    ck_assert_int_eq(verdict_set_output(o, "hi\n", 3, "", 0), 0);
    ck_assert_str_eq(json_string_value(json_object_get(o, "stdout")), "hi\n");
    ck_assert_str_eq(json_string_value(json_object_get(o, "encoding")), "utf8");
    ck_assert_int_eq(verdict_set_output(o, "\xff", 1, "e", 1), 0);
    ck_assert_str_eq(json_string_value(json_object_get(o, "stdout")), "/w==");
    ck_assert_str_eq(json_string_value(json_object_get(o, "stderr")), "ZQ==");
    ck_assert_str_eq(json_string_value(json_object_get(o, "encoding")), "base64");
    json_decref(o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("verdict");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, decide_follows_the_documented_order);
    tcase_add_test(tc, process_limit_is_the_programs_failure);
    tcase_add_test(tc, signal_names);
    tcase_add_test(tc, trailing_whitespace_compare);
    tcase_add_test(tc, exact_compare);
    tcase_add_test(tc, utf8_check);
    tcase_add_test(tc, base64_and_output_json);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
