/* test_cmdargv.c — a step's command as argv (common/cmdargv.c): exec of plain
 * words, `sh -c` for anything a shell must read, the busybox fallback, and the
 * argv a person typed. A temp bin/ stands in for a set's. */
#include "testutil.h"

#include <fcntl.h>

#include "cmdargv.h"

/* A bin/ with an executable "prog"; with a "sh" when with_sh. */
static const char *make_bin(bool with_sh)
{
    static char bin[600];
    snprintf(bin, sizeof bin, "%s/bin", testutil_newdir());
    ck_assert_int_eq(mkdir(bin, 0755), 0);
    const char *names[] = {"prog", with_sh ? "sh" : NULL};
    for (size_t i = 0; i < 2 && names[i]; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", bin, names[i]);
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
        ck_assert_int_ge(fd, 0);
        close(fd);
    }
    return bin;
}

static void expect_argv(const cmdargv *a, const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    ck_assert_uint_eq(a->n, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(a->argv[i], want[i]);
    ck_assert_ptr_null(a->argv[n]);
}

START_TEST(plain_words_are_execd_from_the_set)
{
    const char *bin = make_bin(true);
    char prog[700];
    snprintf(prog, sizeof prog, "%s/prog", bin);
    cmdargv a = {.n = 0};
    ck_assert_int_eq(cmdargv_from_line(&a, bin, false, "prog -x  y", 1), 0);
    ck_assert_int_eq(cmdargv_push(&a, "arg"), 0);
    expect_argv(&a, (const char *[]){prog, "-x", "y", "arg", NULL});
    ck_assert(!a.host_shell);
    cmdargv_done(&a);

    ck_assert_int_eq(cmdargv_from_line(&a, bin, false, "./main", 0), 0);
    expect_argv(&a, (const char *[]){"/box/main", NULL});
    cmdargv_done(&a);
    ck_assert_int_eq(cmdargv_from_line(&a, bin, false, "/usr/bin/env", 0), 0);
    expect_argv(&a, (const char *[]){"/usr/bin/env", NULL});
    cmdargv_done(&a);
}
END_TEST

START_TEST(shell_syntax_runs_under_sh_with_args_as_positional)
{
    const char *bin = make_bin(true);
    char sh[700];
    snprintf(sh, sizeof sh, "%s/sh", bin);
    cmdargv a = {.n = 0};
    ck_assert_int_eq(cmdargv_from_line(&a, bin, false, "prog > out", 2), 0);
    expect_argv(&a, (const char *[]){sh, "-c", "prog > out \"$@\"", "sh", NULL});
    cmdargv_done(&a);
    /* no args: no "$@"; after a compound command: none either */
    ck_assert_int_eq(cmdargv_from_line(&a, bin, false, "X=1 prog", 0), 0);
    expect_argv(&a, (const char *[]){sh, "-c", "X=1 prog", "sh", NULL});
    cmdargv_done(&a);
    ck_assert_int_eq(cmdargv_from_line(&a, bin, false, "for i in 1; do prog; done", 3), 0);
    expect_argv(&a, (const char *[]){sh, "-c", "for i in 1; do prog; done", "sh", NULL});
    cmdargv_done(&a);
    /* a name the set lacks (a builtin, say) goes through the shell */
    ck_assert_int_eq(cmdargv_from_line(&a, bin, false, "exit 3", 0), 0);
    expect_argv(&a, (const char *[]){sh, "-c", "exit 3", "sh", NULL});
    cmdargv_done(&a);
}
END_TEST

START_TEST(no_shell_in_the_set_takes_the_host_busybox)
{
    const char *bin = make_bin(false);
    cmdargv a = {.n = 0};
    ck_assert_int_eq(cmdargv_from_line(&a, bin, true, "echo $HOME", 0), 0);
    expect_argv(&a, (const char *[]){CMDARGV_SHELL_INSIDE, "-c", "echo $HOME", "sh", NULL});
    ck_assert(a.host_shell);
    cmdargv_done(&a);
    ck_assert(!a.host_shell);
    ck_assert_int_eq(cmdargv_from_line(&a, bin, false, "echo $HOME", 0), -ENOENT);
    cmdargv_done(&a);
    ck_assert_int_eq(cmdargv_from_line(&a, bin, false, "  ", 0), -EINVAL);
    cmdargv_done(&a);
}
END_TEST

START_TEST(typed_words_name_a_missing_program)
{
    const char *bin = make_bin(false);
    char prog[700], err[512] = "";
    snprintf(prog, sizeof prog, "%s/prog", bin);
    cmdargv a = {.n = 0};
    ck_assert_int_eq(
        cmdargv_from_words(&a, bin, false, (const char *[]){"prog", "a b", NULL}, err, sizeof err),
        0);
    expect_argv(&a, (const char *[]){prog, "a b", NULL});
    cmdargv_done(&a);
    ck_assert_int_eq(
        cmdargv_from_words(&a, bin, true, (const char *[]){"sh", "-c", "x", NULL}, err, sizeof err),
        0);
    expect_argv(&a, (const char *[]){CMDARGV_SHELL_INSIDE, "-c", "x", NULL});
    ck_assert(a.host_shell);
    cmdargv_done(&a);
    ck_assert_int_eq(
        cmdargv_from_words(&a, bin, true, (const char *[]){"python3", NULL}, err, sizeof err),
        -ENOENT);
    ck_assert_msg(strstr(err, "python3: command not found in the package set"), "%s", err);
    cmdargv_done(&a);
}
END_TEST

START_TEST(too_many_words_is_an_error)
{
    const char *bin = make_bin(false);
    cmdargv a = {.n = 0};
    int r = 0;
    for (int i = 0; i <= CMDARGV_MAX && r == 0; i++)
        r = cmdargv_push(&a, "w");
    ck_assert_int_eq(r, -E2BIG);
    ck_assert_uint_eq(a.n, CMDARGV_MAX);
    cmdargv_done(&a);
    (void)bin;
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cmdargv");
    TCase *tc = tcase_create("cmdargv");
    tcase_add_test(tc, plain_words_are_execd_from_the_set);
    tcase_add_test(tc, shell_syntax_runs_under_sh_with_args_as_positional);
    tcase_add_test(tc, no_shell_in_the_set_takes_the_host_busybox);
    tcase_add_test(tc, typed_words_name_a_missing_program);
    tcase_add_test(tc, too_many_words_is_an_error);
    suite_add_tcase(s, tc);
    return testutil_main(s);
}
