/* test_junit.c — JUnit rendering: verdict mapping, counts, and escaping that
 * keeps the document valid XML whatever the program printed. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "../../common/junit.h"

static char *render_view(const char *view_json)
{
    json_error_t je;
    json_t *v = json_loads(view_json, 0, &je);
    ck_assert_msg(v != NULL, "%s", je.text);
    junit_doc *d = junit_new("farm");
    ck_assert_int_eq(junit_add_submission(d, "sub", v), 0);
    char *xml = junit_render(d);
    junit_free(d);
    json_decref(v);
    ck_assert_ptr_nonnull(xml);
    return xml;
}

START_TEST(verdicts_map_to_failure_error_and_pass)
{
    char *xml = render_view(
        "{\"id\":\"x\",\"state\":\"finished\",\"verdict\":\"wrong_answer\",\"compile\":null,"
        "\"tests\":[{\"name\":\"a\",\"verdict\":\"accepted\",\"wall_ms\":1500,\"stdout\":\"ok\"},"
        "{\"name\":\"b\",\"verdict\":\"wrong_answer\",\"exit_code\":0,\"stdout\":\"2\"},"
        "{\"name\":\"c\",\"verdict\":\"time_limit\",\"limit\":\"cpu\"},"
        "{\"name\":\"d\",\"verdict\":\"internal_error\"}]}");
    ck_assert_ptr_nonnull(strstr(xml, "tests=\"4\" failures=\"2\" errors=\"1\" skipped=\"0\""));
    ck_assert_ptr_nonnull(strstr(xml, "name=\"a\" time=\"1.500\""));
    ck_assert_ptr_nonnull(strstr(xml, "<failure type=\"wrong_answer\""));
    ck_assert_ptr_nonnull(
        strstr(xml, "<failure type=\"time_limit\" message=\"time_limit: the cpu"));
    ck_assert_ptr_nonnull(strstr(xml, "<error type=\"internal_error\""));
    free(xml);
}
END_TEST

START_TEST(compile_error_and_deps_failed_are_cases)
{
    char *xml = render_view("{\"state\":\"compile_error\",\"compile\":{\"exit_code\":1,"
                            "\"stderr\":\"main.c:1: error\"},\"tests\":[]}");
    ck_assert_ptr_nonnull(strstr(xml, "name=\"compile\""));
    ck_assert_ptr_nonnull(strstr(xml, "<failure type=\"compile_error\""));
    ck_assert_ptr_nonnull(strstr(xml, "<system-err>main.c:1: error</system-err>"));
    free(xml);
    xml = render_view("{\"state\":\"deps_failed\",\"error\":\"nix: boom\",\"tests\":[]}");
    ck_assert_ptr_nonnull(strstr(xml, "name=\"dependencies\""));
    ck_assert_ptr_nonnull(strstr(xml, "<error type=\"deps_failed\""));
    ck_assert_ptr_nonnull(strstr(xml, "nix: boom"));
    free(xml);
    xml = render_view("{\"state\":\"cancelled\",\"tests\":[{\"name\":\"t1\"}]}");
    ck_assert_ptr_nonnull(strstr(xml, "skipped=\"1\""));
    free(xml);
}
END_TEST

START_TEST(text_is_escaped_and_invalid_characters_replaced)
{
    junit_doc *d = junit_new("a&b");
    const char out[] = "<tag attr=\"v\">&'\x01\x1b[31m\xff\xc3\xa9\r\n";
    ck_assert_int_eq(junit_add_case(d, "s<", "n\"", 0.25, "failure", "t", "m>", out, NULL), 0);
    char *xml = junit_render(d);
    ck_assert_ptr_nonnull(strstr(xml, "name=\"a&amp;b\""));
    ck_assert_ptr_nonnull(strstr(xml, "name=\"s&lt;\""));
    ck_assert_ptr_nonnull(strstr(xml, "name=\"n&quot;\""));
    ck_assert_ptr_nonnull(strstr(xml, "message=\"m&gt;\""));
    ck_assert_ptr_nonnull(
        strstr(xml, "&lt;tag attr=&quot;v&quot;&gt;&amp;&apos;\xef\xbf\xbd\xef\xbf\xbd[31m"
                    "\xef\xbf\xbd\xc3\xa9&#13;\n"));
    /* No raw control character but \n and \t survives. */
    for (const char *p = xml; *p; p++)
        ck_assert(!((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t'));
    int t, f, e, s;
    junit_count(d, &t, &f, &e, &s);
    ck_assert_int_eq(t, 1);
    ck_assert_int_eq(f, 1);
    free(xml);
    junit_free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("junit");
    TCase *tc = tcase_create("render");
    tcase_add_test(tc, verdicts_map_to_failure_error_and_pass);
    tcase_add_test(tc, compile_error_and_deps_failed_are_cases);
    tcase_add_test(tc, text_is_escaped_and_invalid_characters_replaced);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
