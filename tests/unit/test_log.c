/* test_log.c — one key=value line per event, levels filtered before
 * formatting, the syslog prefix under a service manager. */
#include "testutil.h"

#include <fcntl.h>

#include "log.h"

/* Runs fn with stderr captured; returns what it wrote (static buffer). */
static const char *capture(void (*fn)(void))
{
    static char buf[8192];
    char path[600];
    snprintf(path, sizeof(path), "%s/stderr", testutil_newdir());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void emit_info(void)
{
    log_set_level(LOG_INFO);
    log_set_role("worker");
    log_set_prefix(false);
    log_info("claimed id=%s attempts=%d", "abc", 2);
    log_debug("hidden id=%s", "x");
}

START_TEST(one_line_key_value)
{
    const char *out = capture(emit_info);
    ck_assert_msg(strncmp(out, "ts=", 3) == 0, "line: %s", out);
    ck_assert_ptr_nonnull(strstr(out, " level=info "));
    ck_assert_ptr_nonnull(strstr(out, " role=worker "));
    ck_assert_ptr_nonnull(strstr(out, " msg=\"claimed\" id=abc attempts=2\n"));
    ck_assert_ptr_null(strstr(out, "hidden"));
    ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1); /* exactly one line */
}
END_TEST

static void emit_prefixed(void)
{
    log_set_level(LOG_DEBUG);
    log_set_prefix(true);
    log_error("failed error=%s", "boom");
    log_set_prefix(false);
}

START_TEST(syslog_prefix_under_service_manager)
{
    const char *out = capture(emit_prefixed);
    ck_assert_msg(strncmp(out, "<3>ts=", 6) == 0, "line: %s", out);
    ck_assert_ptr_nonnull(strstr(out, "level=err"));
}
END_TEST

START_TEST(level_names)
{
    ck_assert_int_eq(log_level_from_string("debug"), LOG_DEBUG);
    ck_assert_int_eq(log_level_from_string("WARNING"), LOG_WARNING);
    ck_assert_int_eq(log_level_from_string("error"), LOG_ERR);
    ck_assert_int_eq(log_level_from_string("loud"), -1);
    ck_assert_int_eq(log_level_from_string(NULL), -1);
    log_set_level(LOG_NOTICE);
    ck_assert_int_eq(log_get_level(), LOG_NOTICE);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_test(tc, one_line_key_value);
    tcase_add_test(tc, syslog_prefix_under_service_manager);
    tcase_add_test(tc, level_names);
    suite_add_tcase(s, tc);
    return testutil_main(s);
}
