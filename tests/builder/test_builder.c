/* test_builder.c — the cache-builder against real Nix.
 *
 * Every case gets a fresh temporary directory holding its state dir (the
 * database and its own GC-root dir), a copy of tests/builder/fixture (a tiny
 * package set made from the host's static busybox) with a random salt, so
 * every build here is cold, and a bin/ of wrappers around nix-build, nix-store
 * and nix that count their invocations in files (across processes). The
 * teardown kills any builder process the case forked, removes the directory
 * (and with it the GC roots) and checks that no farm-nix-* cgroup is left. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "builder.h"
#include "builder_internal.h"
#include "nixrun.h"
#include "../../common/config.h"
#include "../../common/depset_key.h"
#include "../../common/hash.h"
#include "../../common/jsonutil.h"
#include "../../common/store.h"
#include "../../daemon/roles.h"
#include "farm-build-config.h"

#define FIXTURE_DIR FARM_SOURCE_ROOT "/tests/builder/fixture"

static char tmp[256];
static char state_dir[300], nix_dir[300], bin_dir[300];
static config *cfg;
static store *st;
static pid_t children[8];
static int n_children;

/*** helpers ***/

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int r = system(cmd);
    ck_assert_msg(r == 0, "command failed (%d): %s", r, cmd);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return strdup("");
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Lines in bin/<tool>.count: how many times the wrapper ran. */
static int count_calls(const char *tool)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s.count", bin_dir, tool);
    char *s = slurp(path);
    int n = 0;
    for (char *p = s; *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

/* Alive and not a zombie waiting for init to reap it. */
static bool pid_alive(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static void set(const char *key, const char *value)
{
    char err[256];
    ck_assert_msg(config_set(cfg, key, value, err, sizeof err) == 0, "%.1500s", err);
}

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void setup(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/farm-builder-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    snprintf(state_dir, sizeof state_dir, "%s/state", tmp);
    snprintf(nix_dir, sizeof nix_dir, "%s/nix", tmp);
    snprintf(bin_dir, sizeof bin_dir, "%s/bin", tmp);
    sh("mkdir -p %s %s %s && cp %s/*.nix %s/nix.conf %s/", state_dir, bin_dir, nix_dir, FIXTURE_DIR,
       FIXTURE_DIR, nix_dir);
    char salt[33];
    ck_assert_int_eq(hash_random_id(salt), 0);
    sh("printf %%s %s > %s/salt", salt, nix_dir);
    /* The salt changes the package-set id too, so keys never repeat. */
    sh("printf '{\"bash\":{},\"big\":{},\"busybox\":{},\"fail\":{},\"hello\":{\"salt\":\"%s\"},"
       "\"noisy\":{},\"slow\":{}}' > %s/packages.json",
       salt, nix_dir);
    const char *tools[] = {"nix-build", "nix-store", "nix"};
    for (int i = 0; i < 3; i++)
        sh("printf '#!/bin/sh\\necho $$ >> %s/%s.count\\nexec /usr/bin/%s \"$@\"\\n' > %s/%s && "
           "chmod +x %s/%s",
           bin_dir, tools[i], tools[i], bin_dir, tools[i], bin_dir, tools[i]);

    char err[512];
    ck_assert_msg(config_new_default(&cfg, err, sizeof err) == 0, "%.1500s", err);
    set("state_dir", state_dir);
    set("nix.dir", nix_dir);
    set("nix.bin_dir", bin_dir);
    set("lease.ms", "3000");
    set("lease.renew_ms", "300");
    set("queue.poll_ms", "100");
    set("builder.timeout_ms", "120000");
    set("builder.memory_kib", "2097152");
    st = NULL;
    n_children = 0;
}

static void open_store(void)
{
    char err[512];
    ck_assert_msg(store_open_config(cfg, &st, err, sizeof err) == 0, "%.1500s", err);
}

/* Runs in Check's parent process (an unchecked fixture), so it runs even
 * when the case failed: the builders the case forked are found by the pids
 * it wrote to <tmp>/children. */

/* The cgroup nixrun makes its farm-nix-* groups beneath, found the way it
 * looks (builder/nixrun.c): v1's memory hierarchy, else the v2 tree. "" when
 * this machine has neither (nixrun then limits with RLIMIT_AS). */
static void nix_memory_base(char *own, size_t n)
{
    char line[1024], unified[1024] = "";
    own[0] = 0;
    FILE *f = fopen("/proc/self/cgroup", "re");
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *m = strstr(line, ":memory:");
        if (m)
            snprintf(own, n, "/sys/fs/cgroup/memory%s", strcmp(m + 8, "/") ? m + 8 : "");
        if (!strncmp(line, "0::", 3))
            snprintf(unified, sizeof unified, "%s", strcmp(line + 3, "/") ? line + 3 : "");
    }
    if (f)
        fclose(f);
    if (!own[0] && access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
        snprintf(own, n, "/sys/fs/cgroup%s", unified);
}

/* Whether nixrun can make a memory-limited group here: the same mkdir and
 * limit file, tried and removed. */
static bool memory_cgroup_usable(void)
{
    char own[1100], dir[1200], lim[1300];
    nix_memory_base(own, sizeof own);
    if (!own[0])
        return false;
    snprintf(dir, sizeof dir, "%s/farm-nixprobe-%d", own, (int)getpid());
    if (mkdir(dir, 0755) < 0)
        return false;
    snprintf(lim, sizeof lim, "%s/memory.limit_in_bytes", dir);
    bool ok = access(lim, W_OK) == 0;
    snprintf(lim, sizeof lim, "%s/memory.max", dir);
    ok = ok || access(lim, W_OK) == 0;
    rmdir(dir);
    return ok;
}

static void teardown(void)
{
    char path[400];
    snprintf(path, sizeof path, "%s/children", tmp);
    FILE *cf = fopen(path, "re");
    int pid;
    while (cf && fscanf(cf, "%d", &pid) == 1)
        if (kill(pid, SIGKILL) == 0)
            msleep(50);
    if (cf)
        fclose(cf);
    msleep(200);
    nixrun_reap_stale_cgroups();
    config_free(cfg);
    cfg = NULL;
    if (tmp[0]) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmp);
    }
    /* Nothing of ours may stay in our cgroup. */
    char own[512];
    nix_memory_base(own, sizeof own);
    DIR *d = own[0] ? opendir(own) : NULL;
    struct dirent *e;
    int left = 0;
    while (d && (e = readdir(d)))
        left += !strncmp(e->d_name, "farm-nix-", 9);
    if (d)
        closedir(d);
    ck_assert_msg(left == 0, "%d farm-nix-* cgroups left in %s", left, own);
}

/* Key and spec of a package list, the way the API computes them. */
static void key_for(const char *const *names, size_t n, store_depset_ref *ref, char **spec)
{
    char id[65], err[512];
    ck_assert_msg(builder_pkgset_id(cfg, id, err, sizeof err) == 0, "%.1500s", err);
    ck_assert_int_eq(depset_key_for_packages(id, names, n, ref->key, spec), 0);
    ref->spec_json = *spec;
}

/* Claims the oldest queued set and builds it in this process. */
static int claim_and_build(const char *owner, char *err, size_t errlen)
{
    store_depset_claimed c = {0};
    int r = store_depset_claim(st, owner, 3000, &c);
    ck_assert_int_eq(r, 1);
    r = builder_build_claimed(cfg, st, owner, &c, NULL, err, errlen);
    store_depset_claimed_done(&c);
    return r;
}

static json_t *row(const char *key)
{
    json_t *j = NULL;
    int r = store_depset_get(st, key, &j);
    ck_assert_msg(r == 0, "store_depset_get: %d", r);
    return j;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static volatile sig_atomic_t child_stop;
static void on_term(int sig)
{
    (void)sig;
    child_stop = 1;
}

/* Forks a builder process (the role farmd runs). */
static pid_t start_builder(int slot)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct sigaction sa = {.sa_handler = on_term};
        sigaction(SIGTERM, &sa, NULL);
        _exit(builder_run(cfg, slot, &child_stop) == 0 ? 0 : 1);
    }
    children[n_children++] = pid;
    char path[400];
    snprintf(path, sizeof path, "%s/children", tmp);
    FILE *f = fopen(path, "ae");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%d\n", (int)pid);
    fclose(f);
    return pid;
}

static void stop_builders(void)
{
    for (int i = 0; i < n_children; i++) {
        kill(children[i], SIGTERM);
        int status = 0;
        waitpid(children[i], &status, 0);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "builder %d ended with status %d", (int)children[i], status);
    }
    n_children = 0;
}

/* Polls the set until its state is want (or another terminal one). */
static json_t *wait_state(const char *key, const char *want, int timeout_ms, bool requeue)
{
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        json_t *j = row(key);
        const char *s = jstr(j, "state");
        if (!strcmp(s, want) || !strcmp(s, "failed") || !strcmp(s, "ready"))
            return j;
        json_decref(j);
        if (requeue) {
            store_requeue_counts rc;
            store_requeue_expired(st, store_now_ms(), &rc);
        }
        msleep(100);
    }
    ck_abort_msg("set %s did not reach %s in %d ms", key, want, timeout_ms);
    return NULL;
}

static void enqueue_submissions(const store_depset_ref *ref, int n, char ids[][33])
{
    for (int i = 0; i < n; i++) {
        store_submission_new sub = {
            .request_json = "{\"run\":\"true\"}", .depset = ref, .n_tests = 1};
        ck_assert_msg(store_submission_enqueue(st, &sub) == 0, "%.1500s", store_last_error(st));
        memcpy(ids[i], sub.id, 33);
    }
}

static const char *sub_state(const char *id, json_t **keep)
{
    ck_assert_int_eq(store_submission_get(st, id, keep), 0);
    return jstr(*keep, "state");
}

/*** package-set validation ***/

START_TEST(test_validate_known_and_unknown_names)
{
    char err[512] = "";
    json_t *ok = json_pack("[ss]", "hello", "busybox");
    ck_assert_int_eq(builder_validate_packages(cfg, ok, err, sizeof err), 0);
    json_decref(ok);

    json_t *typo = json_pack("[ss]", "busybox", "helo");
    ck_assert_int_eq(builder_validate_packages(cfg, typo, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "packages[1]") && strstr(err, "\"helo\"") &&
                      strstr(err, "closest known: hello"),
                  "message: %s", err);
    json_decref(typo);

    json_t *code = json_pack("[s]", "hello; builtins.readFile /etc/shadow");
    ck_assert_int_eq(builder_validate_packages(cfg, code, err, sizeof err), -EINVAL);
    json_decref(code);

    json_t *notstr = json_pack("[i]", 3);
    ck_assert_int_eq(builder_validate_packages(cfg, notstr, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "packages[0]: must be a string"), "message: %s", err);
    json_decref(notstr);

    json_t *close = NULL;
    ck_assert_int_eq(builder_closest_names(cfg, "sloww", 3, &close), 0);
    ck_assert_str_eq(json_string_value(json_array_get(close, 0)), "slow");
    json_decref(close);

    json_t *names = NULL;
    ck_assert_int_eq(builder_pkgset_names(cfg, &names, err, sizeof err), 0);
    ck_assert_int_eq(json_array_size(names), 7);
    json_decref(names);
}
END_TEST

START_TEST(test_unknown_package_runs_no_nix)
{
    char err[512] = "";
    unsigned long before = builder_nix_exec_count();
    json_t *names = json_pack("[s]", "pyhton3");
    json_t *out = NULL;
    ck_assert_int_eq(builder_realise_local(cfg, names, &out, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "unknown package \"pyhton3\""), "message: %s", err);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(builder_nix_exec_count(), before);
    ck_assert_int_eq(count_calls("nix-build"), 0);
    json_decref(names);
}
END_TEST

/*** nixrun limits ***/

START_TEST(test_nixrun_timeout_kills_the_group)
{
    char pidfile[400], err[512];
    snprintf(pidfile, sizeof pidfile, "%s/grandchild.pid", tmp);
    char script[600];
    snprintf(script, sizeof script, "sleep 60 & echo $! > %s; wait", pidfile);
    const char *argv[] = {"sh", "-c", script, NULL};
    nixrun_opts o = {.argv = argv, .timeout_ms = 500, .memory_kib = 65536};
    nixrun_result r;
    ck_assert_int_eq(nixrun(&o, &r, err, sizeof err), 0);
    ck_assert(r.timed_out);
    char *pid = slurp(pidfile);
    ck_assert_int_gt(atoi(pid), 0);
    ck_assert_msg(!pid_alive(atoi(pid)), "grandchild %s survived", pid);
    free(pid);
    char how[256];
    nixrun_describe(&o, &r, how, sizeof how);
    ck_assert_msg(strstr(how, "time limit"), "%s", how);
    nixrun_result_done(&r);
}
END_TEST

START_TEST(test_nixrun_keeps_the_log_tail)
{
    char err[512];
    const char *argv[] = {
        "sh", "-c",
        "i=0; while [ $i -lt 5000 ]; do echo \"line $i\" >&2; i=$((i+1)); done; echo out", NULL};
    nixrun_opts o = {.argv = argv, .log_bytes = 1000};
    nixrun_result r;
    ck_assert_int_eq(nixrun(&o, &r, err, sizeof err), 0);
    ck_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    ck_assert(r.log_truncated);
    ck_assert_uint_le(r.log_len, 1000 + 6);
    ck_assert_msg(!strncmp(r.log, "[...]\nline ", 11), "log starts: %.40s", r.log);
    ck_assert_msg(strstr(r.log, "line 4999\n") && r.log[r.log_len - 1] == '\n', "tail: %s",
                  r.log + r.log_len - 20);
    ck_assert_str_eq(r.out, "out\n");
    nixrun_result_done(&r);
}
END_TEST

START_TEST(test_nixrun_memory_limit)
{
    char err[512];
    /* Writes 256 MiB under a 64 MiB limit. */
    const char *argv[] = {"python3", "-c", "b = b'x' * (256 << 20); print(len(b))", NULL};
    nixrun_opts o = {.argv = argv, .memory_kib = 65536};
    nixrun_result r;
    ck_assert_int_eq(nixrun(&o, &r, err, sizeof err), 0);
    ck_assert_msg(!(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0),
                  "ran past the memory limit: %s", r.out);
    ck_assert_str_eq(r.out, "");
    /* Where a memory cgroup can be made beneath ours, it names the cause;
     * elsewhere RLIMIT_AS made the allocation fail (checked above: no output). */
    if (memory_cgroup_usable()) {
        ck_assert(r.memory_limited);
        char how[256];
        nixrun_describe(&o, &r, how, sizeof how);
        ck_assert_msg(strstr(how, "memory limit of 65536 KiB"), "%s", how);
    } else {
        fprintf(stderr, "# no memory cgroup can be made here: nixrun's limit is RLIMIT_AS, "
                        "checked by the run failing with no output\n");
    }
    nixrun_result_done(&r);
}
END_TEST

/*** builds ***/

START_TEST(test_cold_build_then_warm_hit_runs_no_nix)
{
    open_store();
    const char *names[] = {"hello", "busybox"};
    store_depset_ref ref = {0};
    char *spec = NULL, err[4096] = "";
    key_for(names, 2, &ref, &spec);
    ck_assert_int_eq(store_depset_ensure(st, &ref), 1);
    ck_assert_int_eq(builder_lookup(st, ref.key, NULL), 0);

    ck_assert_msg(claim_and_build("t-builder", err, sizeof err) == 1, "%.1500s", err);
    ck_assert_int_eq(count_calls("nix-build"), 1);
    json_t *j = row(ref.key);
    ck_assert_str_eq(jstr(j, "state"), "ready");
    ck_assert_int_eq(json_array_size(json_object_get(j, "out_paths")), 1);
    /* depset + busybox + hello */
    ck_assert_int_eq(json_array_size(json_object_get(j, "closure")), 3);
    ck_assert_int_gt(json_integer_value(json_object_get(j, "closure_bytes")), 1000000);
    char *root = builder_root_path(cfg, ref.key);
    ck_assert_str_eq(jstr(j, "root"), root);
    char target[4096] = "";
    ck_assert_int_gt(readlink(root, target, sizeof target - 1), 0);
    ck_assert_str_eq(target, json_string_value(json_array_get(json_object_get(j, "out_paths"), 0)));
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "%s/bin/hello | grep -q 'hello from the fixture'", target);
    sh("%s", cmd);
    json_decref(j);

    /* Warm: no Nix anywhere, and none started. */
    set("nix.bin_dir", "/nonexistent");
    setenv("PATH", "/nonexistent", 1);
    unsigned long before = builder_nix_exec_count();
    json_t *hit = NULL;
    ck_assert_int_eq(builder_lookup(st, ref.key, &hit), 1);
    ck_assert_str_eq(jstr(hit, "state"), "ready");
    ck_assert_uint_eq(builder_nix_exec_count(), before);
    json_decref(hit);
    json_t *jnames = json_pack("[ss]", "hello", "busybox");
    json_t *local = NULL;
    ck_assert_msg(builder_realise_local(cfg, jnames, &local, err, sizeof err) == 0, "%.1500s", err);
    ck_assert_str_eq(jstr(local, "key"), ref.key);
    ck_assert_uint_eq(builder_nix_exec_count(), before);
    setenv("PATH", "/usr/local/bin:/usr/bin:/bin", 1);
    ck_assert_int_eq(count_calls("nix-build") + count_calls("nix-store") + count_calls("nix"), 3);
    json_decref(local);
    json_decref(jnames);

    /* A ready row whose root is gone is no hit: it goes back to the queue. */
    unlink(root);
    ck_assert_int_eq(builder_lookup(st, ref.key, &hit), 0);
    ck_assert_str_eq(jstr(hit, "state"), "queued");
    json_decref(hit);
    free(root);
    free(spec);
}
END_TEST

/* farm-nix-<pid>-* directories beneath this process's cgroup, in every
 * hierarchy /proc/self/cgroup names (v1 controllers and the v2 tree). When
 * make_stale_for is > 0, instead creates farm-nix-<make_stale_for>-0 in the
 * memory hierarchy into stale (a dead run's leftover) and returns 0. */
static int own_nix_cgroups(int pid, int make_stale_for, char *stale, size_t stalelen)
{
    if (make_stale_for > 0) {
        /* where nixrun makes its groups: v1 memory, else the v2 tree */
        char own[1100];
        nix_memory_base(own, sizeof own);
        ck_assert_msg(own[0], "no memory cgroup to put a stale one in");
        snprintf(stale, stalelen, "%s/farm-nix-%d-0", own, make_stale_for);
        ck_assert_msg(mkdir(stale, 0755) == 0, "mkdir %s: %s", stale, strerror(errno));
        return 0;
    }
    FILE *f = fopen("/proc/self/cgroup", "re");
    ck_assert_ptr_nonnull(f);
    char line[1024], prefix[64];
    snprintf(prefix, sizeof prefix, "farm-nix-%d-", pid);
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = 0;
        const char *ctrls = c1 + 1, *path = strcmp(c2 + 1, "/") ? c2 + 1 : "";
        char first[64];
        snprintf(first, sizeof first, "%.*s", (int)strcspn(ctrls, ","), ctrls);
        if (!strncmp(first, "name=", 5))
            memmove(first, first + 5, strlen(first + 5) + 1);
        char dir[1200];
        snprintf(dir, sizeof dir, "/sys/fs/cgroup%s%s%s", first[0] ? "/" : "", first, path);
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d)))
            found += !strncmp(e->d_name, prefix, strlen(prefix));
        if (d)
            closedir(d);
    }
    fclose(f);
    return found;
}

START_TEST(test_realise_local_builds_inline)
{
    char err[4096] = "";
    json_t *names = json_pack("[s]", "busybox");
    json_t *out = NULL;
    ck_assert_msg(builder_realise_local(cfg, names, &out, err, sizeof err) == 0, "%.1500s", err);
    ck_assert_str_eq(jstr(out, "state"), "ready");
    ck_assert_int_eq(count_calls("nix-build"), 1);
    char path[4200];
    snprintf(path, sizeof path, "%s/sh", jstr(out, "env_path"));
    ck_assert_int_eq(access(path, X_OK), 0);
    json_decref(out);
    /* The miss ran Nix in farm-nix-<pid>-N cgroups: none is left. */
    ck_assert_int_eq(own_nix_cgroups(getpid(), 0, NULL, 0), 0);

    /* A dead run's leftover is reaped by the next realise, even a hit. */
    pid_t dead = fork();
    ck_assert_int_ge(dead, 0);
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    char stale[1300];
    own_nix_cgroups(0, dead, stale, sizeof stale);
    out = NULL;
    int r = builder_realise_local(cfg, names, &out, err, sizeof err);
    bool left = access(stale, F_OK) == 0;
    if (left)
        rmdir(stale);
    ck_assert_msg(r == 0, "%.1500s", err);
    ck_assert_str_eq(jstr(out, "state"), "ready");
    ck_assert_int_eq(count_calls("nix-build"), 1); /* a hit: no Nix */
    ck_assert_msg(!left, "a dead run's %s survived a local realise", stale);
    ck_assert_int_eq(own_nix_cgroups(getpid(), 0, NULL, 0), 0);
    json_decref(out);
    json_decref(names);
}
END_TEST

START_TEST(test_failing_build_ends_waiting_submissions_deps_failed)
{
    open_store();
    const char *names[] = {"fail"};
    store_depset_ref ref = {0};
    char *spec = NULL, err[4096] = "", ids[3][33];
    key_for(names, 1, &ref, &spec);
    enqueue_submissions(&ref, 3, ids);
    /* A worker's claim parks them while the set is not ready. */
    store_claimed c = {0};
    ck_assert_int_eq(store_submission_claim(st, "t-worker", 3000, &c), 0);
    json_t *j = NULL;
    ck_assert_str_eq(sub_state(ids[0], &j), "waiting_deps");
    json_decref(j);

    ck_assert_int_eq(claim_and_build("t-builder", err, sizeof err), 0);
    j = row(ref.key);
    ck_assert_str_eq(jstr(j, "state"), "failed");
    ck_assert_msg(strstr(jstr(j, "log"), "this package always fails") &&
                      strstr(jstr(j, "log"), "nix-build exited with status"),
                  "log: %.1500s", jstr(j, "log"));
    json_decref(j);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(sub_state(ids[i], &j), "deps_failed");
        char *dump = jsonutil_dump(j);
        ck_assert_msg(strstr(dump, "this package always fails"), "submission: %.1500s", dump);
        free(dump);
        json_decref(j);
    }
    free(spec);
}
END_TEST

START_TEST(test_expr_builds_sandboxed_and_restricted)
{
    open_store();
    char err[4096] = "";
    /* A failing expression: its log reaches the row. */
    store_depset_ref ref = {0};
    char *spec = NULL;
    ck_assert_int_eq(
        depset_key_for_expr("derivation { name = \"boom\"; system = \"x86_64-linux\"; "
                            "builder = \"/bin/sh\"; args = [\"-c\" \"echo expr-says-boom; exit "
                            "7\"]; }",
                            ref.key, &spec),
        0);
    ref.spec_json = spec;
    ck_assert_int_eq(store_depset_ensure(st, &ref), 1);
    ck_assert_int_eq(claim_and_build("t-builder", err, sizeof err), 0);
    json_t *j = row(ref.key);
    ck_assert_str_eq(jstr(j, "state"), "failed");
    ck_assert_msg(strstr(jstr(j, "log"), "expr-says-boom"), "log: %.1500s", jstr(j, "log"));
    json_decref(j);
    free(spec);

    /* Evaluation may not read the host (restrict-eval). */
    ck_assert_int_eq(depset_key_for_expr("derivation { name = builtins.readFile \"/etc/passwd\"; "
                                         "system = \"x86_64-linux\"; builder = \"/bin/sh\"; }",
                                         ref.key, &spec),
                     0);
    ref.spec_json = spec;
    ck_assert_int_eq(store_depset_ensure(st, &ref), 1);
    ck_assert_int_eq(claim_and_build("t-builder", err, sizeof err), 0);
    j = row(ref.key);
    ck_assert_str_eq(jstr(j, "state"), "failed");
    ck_assert_msg(strstr(jstr(j, "log"), "restricted mode"), "log: %.1500s", jstr(j, "log"));
    ck_assert_msg(!strstr(jstr(j, "log"), "root:x:0"), "host file leaked: %.1500s", jstr(j, "log"));
    json_decref(j);
    free(spec);

    /* The sandbox is on: a builder sees no host /etc/passwd. */
    ck_assert_int_eq(depset_key_for_expr(
                         "derivation { name = \"peek\"; system = \"x86_64-linux\"; "
                         "builder = \"/bin/sh\"; args = [\"-c\" \"cat /etc/hostname "
                         "/usr/bin/busybox >/dev/null 2>&1 && exit 9; echo sandboxed > $out\"]; }",
                         ref.key, &spec),
                     0);
    ref.spec_json = spec;
    ck_assert_int_eq(store_depset_ensure(st, &ref), 1);
    ck_assert_msg(claim_and_build("t-builder", err, sizeof err) == 1, "%.1500s", err);
    free(spec);
}
END_TEST

START_TEST(test_log_limit_keeps_the_tail)
{
    open_store();
    set("builder.log_bytes", "2048"); /* the build writes ~120 KB */
    const char *names[] = {"noisy"};
    store_depset_ref ref = {0};
    char *spec = NULL, err[4096];
    key_for(names, 1, &ref, &spec);
    ck_assert_int_eq(store_depset_ensure(st, &ref), 1);
    ck_assert_int_eq(claim_and_build("t-builder", err, sizeof err), 0);
    json_t *j = row(ref.key);
    const char *log = jstr(j, "log");
    ck_assert_uint_lt(strlen(log), 2048 + 300);
    ck_assert_msg(strstr(log, "[...]"), "log: %s", log);
    json_decref(j);
    free(spec);
}
END_TEST

START_TEST(test_twenty_requests_two_builders_one_build)
{
    open_store();
    const char *names[] = {"slow", "busybox"};
    store_depset_ref ref = {0};
    char *spec = NULL, ids[20][33];
    key_for(names, 2, &ref, &spec);
    start_builder(0);
    start_builder(1);
    /* Twenty submissions of one set, while both builders look for work. */
    enqueue_submissions(&ref, 20, ids);
    store_claimed c = {0};
    ck_assert_int_eq(store_submission_claim(st, "t-worker", 3000, &c), 0);
    json_t *j = wait_state(ref.key, "ready", 90000, false);
    ck_assert_msg(!strcmp(jstr(j, "state"), "ready"), "set ended %s: %.1500s", jstr(j, "state"),
                  jstr(j, "log"));
    json_decref(j);
    stop_builders();
    ck_assert_int_eq(count_calls("nix-build"), 1);
    for (int i = 0; i < 20; i++) {
        ck_assert_str_eq(sub_state(ids[i], &j), "queued");
        json_decref(j);
    }
    free(spec);
}
END_TEST

START_TEST(test_builder_killed_mid_build_another_finishes)
{
    open_store();
    set("lease.ms", "1500");
    const char *names[] = {"slow"};
    store_depset_ref ref = {0};
    char *spec = NULL;
    key_for(names, 1, &ref, &spec);
    ck_assert_int_eq(store_depset_ensure(st, &ref), 1);
    pid_t a = start_builder(0);
    json_t *j = wait_state(ref.key, "building", 30000, false);
    ck_assert_str_eq(jstr(j, "state"), "building");
    json_decref(j);
    /* Let Nix get going, then kill the builder as a crash would. */
    while (count_calls("nix-build") < 1)
        msleep(50);
    msleep(700);
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    n_children = 0;
    start_builder(1);
    /* This process plays the health checker. */
    j = wait_state(ref.key, "ready", 90000, true);
    ck_assert_msg(!strcmp(jstr(j, "state"), "ready"), "set ended %s: %.1500s", jstr(j, "state"),
                  jstr(j, "log"));
    ck_assert_int_ge(json_integer_value(json_object_get(j, "attempts")), 2);
    ck_assert_int_eq(access(jstr(j, "root"), F_OK), 0);
    json_decref(j);
    stop_builders();
    ck_assert_int_ge(count_calls("nix-build"), 2);
    free(spec);
}
END_TEST

START_TEST(test_stop_mid_build_kills_nix_and_leaves_the_set_to_requeue)
{
    open_store();
    set("lease.ms", "1500");
    const char *names[] = {"slow", "hello"};
    store_depset_ref ref = {0};
    char *spec = NULL;
    key_for(names, 2, &ref, &spec);
    ck_assert_int_eq(store_depset_ensure(st, &ref), 1);
    start_builder(0);
    json_t *j = wait_state(ref.key, "building", 30000, false);
    json_decref(j);
    while (count_calls("nix-build") < 1)
        msleep(50);
    msleep(500);
    /* SIGTERM: the builder kills its Nix and returns 0 (stop_builders checks). */
    stop_builders();
    char path[400];
    snprintf(path, sizeof path, "%s/nix-build.count", bin_dir);
    char *pids = slurp(path);
    ck_assert_msg(!pid_alive(atoi(pids)), "nix-build %d survived its builder", atoi(pids));
    free(pids);
    j = row(ref.key);
    ck_assert_str_eq(jstr(j, "state"), "building");
    json_decref(j);
    /* Nothing recorded: once the lease lapses the set is queued again. */
    j = wait_state(ref.key, "queued", 30000, true);
    ck_assert_str_eq(jstr(j, "state"), "queued");
    json_decref(j);
    free(spec);
}
END_TEST

START_TEST(test_key_lock_keeps_a_second_nix_out)
{
    open_store();
    const char *names[] = {"busybox"};
    store_depset_ref ref = {0};
    char *spec = NULL;
    key_for(names, 1, &ref, &spec);
    /* The builder starts first: a forked child would share our lock. */
    start_builder(0);
    /* Another process is in Nix for this key (say, its lease lapsed). */
    char *path = builder_lock_path(cfg, ref.key);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX), 0);
    ck_assert_int_eq(store_depset_ensure(st, &ref), 1);
    json_t *j = wait_state(ref.key, "building", 30000, false);
    json_decref(j);
    /* Longer than a lease: the waiting builder keeps renewing its own. */
    for (int i = 0; i < 20; i++) {
        msleep(200);
        store_requeue_counts rc = {0};
        ck_assert_int_eq(store_requeue_expired(st, store_now_ms(), &rc), 0);
        ck_assert_int_eq(rc.depsets_requeued, 0);
    }
    ck_assert_int_eq(count_calls("nix-build"), 0);
    j = row(ref.key);
    ck_assert_str_eq(jstr(j, "state"), "building");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "attempts")), 1);
    json_decref(j);
    close(fd);
    j = wait_state(ref.key, "ready", 60000, false);
    ck_assert_str_eq(jstr(j, "state"), "ready");
    json_decref(j);
    stop_builders();
    ck_assert_int_eq(count_calls("nix-build"), 1);
    free(path);
    free(spec);
}
END_TEST

START_TEST(test_real_package_set_busybox)
{
    /* The project's own nix/ (docs/packages.md contract), not the fixture. */
    set("nix.dir", "");
    set("nix.bin_dir", "");
    char err[4096] = "";
    json_t *names = json_pack("[s]", "busybox");
    json_t *out = NULL;
    ck_assert_msg(builder_realise_local(cfg, names, &out, err, sizeof err) == 0, "%.1500s", err);
    ck_assert_str_eq(jstr(out, "state"), "ready");
    const char *o = json_string_value(json_array_get(json_object_get(out, "out_paths"), 0));
    /* Its closure file agrees with nix-store -qR. */
    char path[4200];
    snprintf(path, sizeof path, "%s/closure", o);
    char *file = slurp(path);
    json_t *closure = json_object_get(out, "closure");
    ck_assert_int_gt(json_array_size(closure), 0);
    size_t i;
    json_t *v;
    json_array_foreach(closure, i, v)
    {
        ck_assert_msg(strstr(file, json_string_value(v)), "%s missing from %s",
                      json_string_value(v), path);
    }
    sh("%s/sh -c 'echo ok' | grep -qx ok", jstr(out, "env_path"));
    free(file);
    json_decref(out);
    json_decref(names);
}
END_TEST

START_TEST(test_quota_evicts_lru_but_never_a_held_set)
{
    open_store();
    const char *sets[3][1] = {{"busybox"}, {"hello"}, {"big"}};
    store_depset_ref refs[3];
    memset(refs, 0, sizeof refs);
    char *specs[3], err[4096];
    char outs[3][4096];
    for (int i = 0; i < 3; i++) {
        key_for(sets[i], 1, &refs[i], &specs[i]);
        ck_assert_int_eq(store_depset_ensure(st, &refs[i]), 1);
        ck_assert_msg(claim_and_build("t-builder", err, sizeof err) == 1, "%.1500s", err);
        json_t *j = row(refs[i].key);
        snprintf(outs[i], sizeof outs[i], "%s",
                 json_string_value(json_array_get(json_object_get(j, "out_paths"), 0)));
        json_decref(j);
    }
    /* Other suites use the host's store at the same time, and Nix 2.8's
     * collector deletes their in-flight imports (add-* directories): here
     * the builder's `nix-store --gc` deletes only this test's dead paths. */
    char list[400];
    snprintf(list, sizeof list, "%s/deletable", tmp);
    FILE *lf = fopen(list, "we");
    ck_assert_ptr_nonnull(lf);
    for (int i = 0; i < 3; i++) {
        json_t *j = row(refs[i].key);
        size_t k;
        json_t *v;
        json_array_foreach(json_object_get(j, "closure"), k, v)
            fprintf(lf, "%s\n", json_string_value(v));
        json_decref(j);
    }
    fclose(lf);
    sh("printf '#!/bin/sh\necho $$ >> %s/nix-store.count\n"
       "if [ \"$1\" = --gc ]; then\n"
       "  dead=$(/usr/bin/nix-store --gc --print-dead | grep -F -x -f %s)\n"
       "  [ -z \"$dead\" ] || exec /usr/bin/nix-store --delete $dead\n"
       "  exit 0\n"
       "fi\n"
       "exec /usr/bin/nix-store \"$@\"\n' > %s/nix-store",
       bin_dir, list, bin_dir);
    int gcs = count_calls("nix-store");
    /* The oldest set is held by a running submission. */
    ck_assert_int_eq(store_depset_hold(st, refs[0].key), 0);
    set("cache.quota_bytes", "1");
    int r = builder_enforce_quota(cfg, st, err, sizeof err);
    ck_assert_msg(r == 2, "evicted %d: %.1500s", r, err);
    json_t *j = row(refs[0].key);
    ck_assert_str_eq(jstr(j, "state"), "ready");
    ck_assert_int_eq(builder_lookup(st, refs[0].key, NULL), 1);
    ck_assert_int_eq(access(outs[0], F_OK), 0);
    json_decref(j);
    for (int i = 1; i < 3; i++) {
        json_t *gone = NULL;
        ck_assert_int_eq(store_depset_get(st, refs[i].key, &gone), -ENOENT);
        char *root = builder_root_path(cfg, refs[i].key);
        ck_assert_int_ne(access(root, F_OK), 0);
        free(root);
        ck_assert_msg(access(outs[i], F_OK) != 0, "%s survived the GC", outs[i]);
    }
    ck_assert_int_eq(count_calls("nix-store"), gcs + 1); /* one GC for both */
    /* Released, it goes too. */
    ck_assert_int_eq(store_depset_release(st, refs[0].key), 0);
    r = builder_enforce_quota(cfg, st, err, sizeof err);
    ck_assert_msg(r == 1, "evicted %d: %.1500s", r, err);
    for (int i = 0; i < 3; i++)
        free(specs[i]);
}
END_TEST

START_TEST(test_binary_cache_round_trip_into_an_empty_store)
{
    open_store();
    const char *names[] = {"hello", "busybox"};
    store_depset_ref ref = {0};
    char *spec = NULL, err[4096] = "";
    key_for(names, 2, &ref, &spec);
    ck_assert_int_eq(store_depset_ensure(st, &ref), 1);
    ck_assert_msg(claim_and_build("t-builder", err, sizeof err) == 1, "%.1500s", err);
    json_t *j = row(ref.key);
    json_t *outs = json_object_get(j, "out_paths");
    const char *out = json_string_value(json_array_get(outs, 0));

    sh("nix-store --generate-binary-cache-key farm-test-1 %s/cache.sec %s/cache.pub", tmp, tmp);
    char url[400], keyfile[400], pubfile[400], chroot_dir[400];
    snprintf(url, sizeof url, "file://%s/cache", tmp);
    snprintf(keyfile, sizeof keyfile, "%s/cache.sec", tmp);
    snprintf(pubfile, sizeof pubfile, "%s/cache.pub", tmp);
    snprintf(chroot_dir, sizeof chroot_dir, "%s/remote", tmp);
    set("cache.export_url", url);
    set("cache.secret_key_file", keyfile);
    ck_assert_msg(builder_export(cfg, outs, err, sizeof err) == 0, "%.1500s", err);
    sh("grep -l '^Sig: farm-test-1:' %s/cache/*.narinfo | wc -l | grep -qx 3", tmp);
    sh("grep -q 'Compression: zstd' %s/cache/*.narinfo", tmp);

    char *pub = slurp(pubfile);
    pub[strcspn(pub, "\n")] = 0;
    const char *paths[] = {out};
    /* A wrong key is refused. */
    ck_assert_int_lt(builder_import_from_cache(
                         NULL, url, "farm-test-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                         chroot_dir, paths, 1, err, sizeof err),
                     0);
    ck_assert_msg(
        builder_import_from_cache(NULL, url, pub, chroot_dir, paths, 1, err, sizeof err) == 0, "%s",
        err);
    /* The new store holds exactly the closure, and it runs in a root that
     * holds nothing but that store. */
    sh("test $(ls %s/nix/store | grep -v '^\\.' | wc -l) -eq 3", chroot_dir);
    sh("test \"$(ls -A %s)\" = nix", chroot_dir);
    sh("chroot %s %s/bin/hello | grep -q 'hello from the fixture'", chroot_dir, out);
    sh("chroot %s %s/bin/sh -c 'echo $((6*7))' | grep -qx 42", chroot_dir, out);
    free(pub);
    json_decref(j);
    free(spec);
}
END_TEST

static Suite *builder_suite(void)
{
    Suite *s = suite_create("builder");
    struct {
        const char *name;
        const TTest *t;
        int timeout;
    } cases[] = {
        {"validate", test_validate_known_and_unknown_names, 30},
        {"unknown", test_unknown_package_runs_no_nix, 30},
        {"nixrun_timeout", test_nixrun_timeout_kills_the_group, 30},
        {"nixrun_log", test_nixrun_keeps_the_log_tail, 30},
        {"nixrun_memory", test_nixrun_memory_limit, 30},
        {"cold_warm", test_cold_build_then_warm_hit_runs_no_nix, 120},
        {"local", test_realise_local_builds_inline, 120},
        {"failing", test_failing_build_ends_waiting_submissions_deps_failed, 120},
        {"expr", test_expr_builds_sandboxed_and_restricted, 120},
        {"log_limit", test_log_limit_keeps_the_tail, 120},
        {"twenty", test_twenty_requests_two_builders_one_build, 180},
        {"killed", test_builder_killed_mid_build_another_finishes, 180},
        {"stopped", test_stop_mid_build_kills_nix_and_leaves_the_set_to_requeue, 120},
        {"lock", test_key_lock_keeps_a_second_nix_out, 120},
        {"real_pkgset", test_real_package_set_busybox, 300},
        {"quota", test_quota_evicts_lru_but_never_a_held_set, 240},
        {"binary_cache", test_binary_cache_round_trip_into_an_empty_store, 180},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, cases[i].timeout);
        tcase_add_test(tc, cases[i].t);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(builder_suite());
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
