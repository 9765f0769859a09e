/* test_cli_util.c — the CLI's option values (times, sizes, numbers), file
 * encoding for submissions, package lists, verdict -> exit code, and trees
 * too deep to name. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>

#include "../../cli/cli_util.h"
#include "../../cli/report.h"
#include "../../cli/submission.h"

START_TEST(times_parse_with_units)
{
    uint64_t v;
    ck_assert_int_eq(cli_parse_ms("2", &v), 0);
    ck_assert_uint_eq(v, 2000);
    ck_assert_int_eq(cli_parse_ms("1.5s", &v), 0);
    ck_assert_uint_eq(v, 1500);
    ck_assert_int_eq(cli_parse_ms("250ms", &v), 0);
    ck_assert_uint_eq(v, 250);
    ck_assert_int_eq(cli_parse_ms("2m", &v), 0);
    ck_assert_uint_eq(v, 120000);
    ck_assert_int_eq(cli_parse_ms("-1", &v), -EINVAL);
    ck_assert_int_eq(cli_parse_ms("2 s", &v), -EINVAL);
    ck_assert_int_eq(cli_parse_ms("fast", &v), -EINVAL);
    ck_assert_int_eq(cli_parse_ms("", &v), -EINVAL);
}
END_TEST

START_TEST(sizes_parse_with_units)
{
    uint64_t v;
    ck_assert_int_eq(cli_parse_size("256M", 'K', &v), 0);
    ck_assert_uint_eq(v, 262144);
    ck_assert_int_eq(cli_parse_size("262144", 'K', &v), 0);
    ck_assert_uint_eq(v, 262144);
    ck_assert_int_eq(cli_parse_size("1G", 'B', &v), 0);
    ck_assert_uint_eq(v, 1073741824);
    ck_assert_int_eq(cli_parse_size("1KiB", 'B', &v), 0);
    ck_assert_uint_eq(v, 1024);
    ck_assert_int_eq(cli_parse_size("100B", 'B', &v), 0);
    ck_assert_uint_eq(v, 100);
    ck_assert_int_eq(cli_parse_size("12", 'B', &v), 0);
    ck_assert_uint_eq(v, 12);
    ck_assert_int_eq(cli_parse_size("12X", 'B', &v), -EINVAL);
    ck_assert_int_eq(cli_parse_size("99999999999T", 'B', &v), -EINVAL);
    ck_assert_int_eq(cli_parse_uint("64", &v), 0);
    ck_assert_uint_eq(v, 64);
    ck_assert_int_eq(cli_parse_uint("6x", &v), -EINVAL);
    ck_assert_int_eq(cli_parse_uint("-6", &v), -EINVAL);
}
END_TEST

START_TEST(files_are_utf8_or_base64)
{
    json_t *f = cli_file_json("a.txt", "héllo\n", strlen("héllo\n"), false);
    ck_assert_str_eq(json_string_value(json_object_get(f, "encoding")), "utf8");
    ck_assert_str_eq(json_string_value(json_object_get(f, "content")), "héllo\n");
    ck_assert_ptr_null(json_object_get(f, "executable"));
    json_decref(f);
    const char bin[] = {'\x7f', 'E', 'L', 'F', '\0', '\xff'};
    f = cli_file_json("a.out", bin, sizeof bin, true);
    ck_assert_str_eq(json_string_value(json_object_get(f, "encoding")), "base64");
    ck_assert_str_eq(json_string_value(json_object_get(f, "content")), "f0VMRgD/");
    ck_assert(json_is_true(json_object_get(f, "executable")));
    json_decref(f);
    json_t *l = cli_split_list("python3, gcc,,bash ");
    ck_assert_int_eq(json_array_size(l), 3);
    ck_assert_str_eq(json_string_value(json_array_get(l, 1)), "gcc");
    json_decref(l);
}
END_TEST

START_TEST(verdicts_map_to_exit_codes)
{
    const struct {
        const char *view;
        int code;
    } cases[] = {
        {"{\"state\":\"finished\",\"verdict\":\"accepted\"}", 0},
        {"{\"state\":\"finished\",\"verdict\":\"wrong_answer\"}", 1},
        {"{\"state\":\"finished\",\"verdict\":\"time_limit\"}", 1},
        {"{\"state\":\"finished\",\"verdict\":\"internal_error\"}", 5},
        {"{\"state\":\"compile_error\",\"verdict\":null}", 2},
        {"{\"state\":\"deps_failed\"}", 3},
        {"{\"state\":\"cancelled\"}", 4},
        {"{\"state\":\"internal_error\"}", 5},
        {"{\"state\":\"running\"}", 6},
        {"{\"state\":\"waiting_deps\"}", 6},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = json_loads(cases[i].view, 0, NULL);
        ck_assert_msg(report_exit_code(v) == cases[i].code, "%s", cases[i].view);
        json_decref(v);
    }
}
END_TEST

/* A file whose path is longer than PATH_MAX is refused, not silently
 * dropped (or swapped for the file a cut path happens to name). */
START_TEST(too_deep_tree_is_refused)
{
    enum { LEVELS = 24 };
    char top[] = "/tmp/farm-cli-deep-XXXXXX", seg[201];
    int fds[LEVELS + 1];
    memset(seg, 'd', sizeof seg - 1);
    seg[sizeof seg - 1] = '\0';
    ck_assert_ptr_nonnull(mkdtemp(top));
    fds[0] = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(fds[0], 0);
    for (int i = 1; i <= LEVELS; i++) {
        ck_assert_int_eq(mkdirat(fds[i - 1], seg, 0755), 0);
        fds[i] = openat(fds[i - 1], seg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(fds[i], 0);
    }
    int f = openat(fds[LEVELS], "deep.txt", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(f, 0);
    ck_assert_int_eq(write(f, "x\n", 2), 2);
    close(f);

    json_t *files = json_array();
    char err[256] = "";
    int r = submission_add_path(files, top, "", err, sizeof err);

    unlinkat(fds[LEVELS], "deep.txt", 0);
    for (int i = LEVELS; i >= 1; i--) {
        close(fds[i]);
        unlinkat(fds[i - 1], seg, AT_REMOVEDIR);
    }
    close(fds[0]);
    rmdir(top);
    json_decref(files);
    ck_assert_int_eq(r, -ENAMETOOLONG);
    ck_assert_ptr_nonnull(strstr(err, "too long"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_util");
    TCase *tc = tcase_create("values");
    tcase_add_test(tc, times_parse_with_units);
    tcase_add_test(tc, sizes_parse_with_units);
    tcase_add_test(tc, files_are_utf8_or_base64);
    tcase_add_test(tc, verdicts_map_to_exit_codes);
    tcase_add_test(tc, too_deep_tree_is_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
