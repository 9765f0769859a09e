/* testutil.h — helpers for the Check unit tests: one temp root per test
 * binary (removed by main whatever the outcome), a fresh subdir per case.
 *
 * Check forks each case; a failing assertion ends the child before a checked
 * teardown would run, so cleanup is done once in the parent by
 * testutil_main(). Children a case forks get PR_SET_PDEATHSIG so none
 * outlives a failed case. */
#pragma once

#include <sys/stat.h>
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <signal.h>
#include <unistd.h>

static char testutil_root[256];
static char testutil_dir[512];

static int testutil_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) < 0 && errno != ENOENT)
        perror(path);
    return 0;
}

static inline void testutil_rmrf(const char *path)
{
    nftw(path, testutil_rm_cb, 32, FTW_DEPTH | FTW_PHYS);
}

/* A fresh empty directory for the current case; returns its path. */
static inline const char *testutil_newdir(void)
{
    static unsigned n;
    snprintf(testutil_dir, sizeof(testutil_dir), "%s/case-%d-%u", testutil_root, (int)getpid(),
             n++);
    ck_assert_int_eq(mkdir(testutil_dir, 0755), 0);
    return testutil_dir;
}

static pid_t testutil_main_pid;

/* meson's timeout sends SIGTERM: remove the temp root before dying (best
 * effort; only the main process, not Check's or the cases' children). */
static void testutil_on_signal(int sig)
{
    if (getpid() == testutil_main_pid)
        testutil_rmrf(testutil_root);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Call first thing in a forked helper process. */
static inline void testutil_child_init(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static inline int testutil_main(Suite *suite)
{
    snprintf(testutil_root, sizeof(testutil_root), "%s/farm-unit-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(testutil_root)) {
        perror("mkdtemp");
        return 1;
    }
    chmod(testutil_root, 0755);
    testutil_main_pid = getpid();
    signal(SIGTERM, testutil_on_signal);
    signal(SIGINT, testutil_on_signal);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    testutil_rmrf(testutil_root);
    return failed ? 1 : 0;
}
