/* test_sandbox.c — adversarial tests of the sandbox library, with assertions on
 * what the host sees afterwards. Prints TAP.
 *
 * A temporary directory holds a "store" (a tmpfs on <tmp>/nix/store, like a
 * store on its own filesystem) with the static multi-call program abuse.c, a
 * setuid-root copy of it, and boxes. Each case runs one abuse through a pool
 * and checks the verdict; after every case the host must show no process of
 * the slots' uids, no mount under the temporary directory but the store and
 * live boxes, and slot cgroups holding nothing but our own slot threads. The
 * end removes everything and checks that too.
 *
 * usage: test-sandbox ABUSE_PROGRAM */
#include "sandbox.h"
#include "sbxtest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Host uids of this run's slots (FIRST_UID, +1) and of the crashed
 * supervisor (CRASH_UID): from the pid, so that runs of this test from other
 * checkouts on the same host (RLIMIT_NPROC and the host checks count per
 * uid) never share them. */
static uid_t first_uid_base;
#define FIRST_UID first_uid_base
#define SLOTS 2
#define CRASH_UID (first_uid_base + 2)

static char T[] = "/tmp/nixfarm-sbxtest-XXXXXX";
static char store_abuse[] = "/nix/store/0000000000000000000000000000abus-abuse";
static char store_suid[] = "/nix/store/0000000000000000000000000000suid-suid";
static char prog[256], suid_prog[256];
static struct sandbox_pool *pool;
static enum sandbox_accounting acct_auto; /* what an AUTO pool uses on this machine */
static char boxes[8][512];
static int n_boxes;

static void diag(const char *what, const struct sandbox_result *r)
{
    printf("# %s: status=%s exit=%d signal=%d limit=%s cpu=%llu wall=%llu mem=%llu msg=%s\n", what,
           sandbox_status_name(r->status), r->exit_code, r->signal, sandbox_limit_name(r->limit),
           (unsigned long long)r->cpu_ms, (unsigned long long)r->wall_ms,
           (unsigned long long)r->memory_kib, r->message);
    if (r->stdout_buf && r->stdout_len) {
        printf("# stdout: ");
        for (size_t i = 0; i < r->stdout_len && i < 3000; i++) {
            putchar(r->stdout_buf[i]);
            if (r->stdout_buf[i] == '\n' && i + 1 < r->stdout_len)
                printf("#   ");
        }
        printf("\n");
    }
    if (r->stderr_buf && r->stderr_len)
        printf("# stderr: %.300s\n", r->stderr_buf);
}

/*** what the host sees ***/

static int procs_of_uids_v(uid_t lo, uid_t hi, bool verbose)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char p[300], buf[4096];
        snprintf(p, sizeof p, "/proc/%s/status", de->d_name);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t r = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (r <= 0)
            continue;
        buf[r] = 0;
        char *u = strstr(buf, "\nUid:");
        unsigned a, b, c, e;
        if (u && sscanf(u + 5, "%u %u %u %u", &a, &b, &c, &e) == 4) {
            unsigned ids[] = {a, b, c, e};
            for (int i = 0; i < 4; i++)
                if (ids[i] >= lo && ids[i] < hi) {
                    n++;
                    if (verbose) {
                        char *st = strstr(buf, "State:");
                        printf("# left: pid %s %.40s\n", de->d_name, st ? st : "");
                    }
                    break;
                }
        }
    }
    if (d)
        closedir(d);
    return n;
}

static int procs_of_uids(uid_t lo, uid_t hi)
{
    return procs_of_uids_v(lo, hi, false);
}

/* Waits up to 2 s for the uids' processes to vanish (exit is asynchronous for
 * processes we do not reap, e.g. after a crash); returns how many remain. */
static int procs_left(uid_t lo, uid_t hi)
{
    int n = 0;
    for (int i = 0; i < 200; i++) {
        n = procs_of_uids(lo, hi);
        if (n == 0)
            return 0;
        usleep(10000);
    }
    procs_of_uids_v(lo, hi, true);
    return n;
}

/* Mounts under T other than the store and the live boxes. */
static int stray_mounts(void)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    int n = 0;
    size_t tl = strlen(T);
    char store[600];
    snprintf(store, sizeof store, "%s/nix/store", T);
    while (f && fgets(line, sizeof line, f)) {
        char mp[2048];
        if (sscanf(line, "%*s %*s %*s %*s %2047s", mp) != 1)
            continue;
        if (strncmp(mp, T, tl) != 0)
            continue;
        bool known = !strcmp(mp, store);
        for (int i = 0; i < n_boxes; i++)
            if (!strcmp(mp, boxes[i]))
                known = true;
        if (!known) {
            printf("# stray mount %s\n", mp);
            n++;
        }
    }
    if (f)
        fclose(f);
    return n;
}

/* The pool group of process pid beneath hierarchy directory hdir
 * (nixfarm-sandbox.<pid ns>.<pid>.<start>.<random>, sandbox/owner.c). */
static bool pool_group(const char *hdir, int pid, char *out, size_t n)
{
    DIR *d = opendir(hdir);
    struct dirent *de;
    bool found = false;
    while (d && !found && (de = readdir(d))) {
        unsigned long long ns;
        int p;
        if (sscanf(de->d_name, "nixfarm-sandbox.%llu.%d.", &ns, &p) == 2 && p == pid) {
            snprintf(out, n, "%s/%s", hdir, de->d_name);
            found = true;
        }
    }
    if (d)
        closedir(d);
    return found;
}

/* This process's cgroup directories in every hierarchy the sandbox may use
 * (v1 memory, pids, cpuacct wherever they are mounted, co-mounted or not;
 * the v2 hierarchy), found from mountinfo and /proc/self/cgroup — the test's
 * own reading, whatever the cgroup version of the machine. Returns how many. */
#define MAX_CG 8
static int cg_bases(char bases[MAX_CG][600])
{
    int n = 0;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    while (f && fgets(line, sizeof line, f) && n < MAX_CG) {
        char mp[512], fstype[64], sopts[1024];
        char *sep = strstr(line, " - ");
        if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mp) != 1 ||
            sscanf(sep + 3, "%63s %*s %1023s", fstype, sopts) != 2)
            continue;
        bool v2 = !strcmp(fstype, "cgroup2");
        if (!v2 && strcmp(fstype, "cgroup") != 0)
            continue;
        /* our path in that hierarchy: the /proc/self/cgroup line whose
         * controller list matches the mount's (v2: the "0::" line) */
        FILE *g = fopen("/proc/self/cgroup", "re");
        char cl[1024];
        while (g && fgets(cl, sizeof cl, g)) {
            cl[strcspn(cl, "\n")] = 0;
            char *c1 = strchr(cl, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (!c2)
                continue;
            *c2 = 0;
            const char *ctrls = c1 + 1, *path = c2 + 1;
            bool match = v2 ? (*ctrls == 0 && !strncmp(cl, "0", 1))
                            : (*ctrls &&
                               (strstr(ctrls, "memory") || strstr(ctrls, "pids") ||
                                strstr(ctrls, "cpuacct")) &&
                               strstr(sopts, ctrls));
            if (match) {
                snprintf(bases[n++], 600, "%s%s", mp, strcmp(path, "/") ? path : "");
                break;
            }
        }
        if (g)
            fclose(g);
    }
    if (f)
        fclose(f);
    return n;
}

/* Pids of cgroup.procs in dir and its child groups (a run's group and its
 * prog group) that are not us; counts them into *n. */
static void strangers_below(const char *dir, int depth, int *n)
{
    char p[1600];
    snprintf(p, sizeof p, "%s/cgroup.procs", dir);
    FILE *g = fopen(p, "re");
    int pid;
    while (g && fscanf(g, "%d", &pid) == 1)
        if (pid != getpid()) {
            printf("# stranger pid %d in %s\n", pid, p);
            (*n)++;
        }
    if (g)
        fclose(g);
    DIR *d = depth > 0 ? opendir(dir) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        strangers_below(p, depth - 1, n);
    }
    if (d)
        closedir(d);
}

/* Every pid in the pool's run cgroups must be us (a slot thread cloning, on
 * v1). With cgroup accounting the pool group must have been found in at least
 * one hierarchy, so the check never passes by finding nothing; -1 when not. */
static int strangers_in_cgroups(void)
{
    char bases[MAX_CG][600];
    int nb = cg_bases(bases), n = 0, seen = 0;
    for (int b = 0; b < nb; b++) {
        char grp[1200];
        if (!pool_group(bases[b], (int)getpid(), grp, sizeof grp))
            continue;
        seen++;
        DIR *d = opendir(grp);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (strncmp(de->d_name, "run-", 4) != 0)
                continue;
            char p[1500]; /* grp, "/", a name of up to 255 bytes */
            snprintf(p, sizeof p, "%s/%s", grp, de->d_name);
            strangers_below(p, 2, &n);
        }
        if (d)
            closedir(d);
    }
    if (pool && sandbox_pool_accounting(pool) != SANDBOX_ACCT_RLIMITS && seen == 0) {
        printf("# no pool cgroup of ours found under %d hierarchies\n", nb);
        return -1;
    }
    return n;
}

/* The pool groups of this process that exist now, one per hierarchy of
 * cg_bases (v1 and v2 alike); returns how many were found. */
static int pool_groups_now(char groups[MAX_CG][1200])
{
    char bases[MAX_CG][600];
    int nb = cg_bases(bases), n = 0;
    for (int b = 0; b < nb; b++)
        if (pool_group(bases[b], (int)getpid(), groups[n], sizeof groups[n]))
            n++;
    return n;
}

/* Whether a pool group made by process pid is left under any hierarchy. */
static bool cgroup_left_of(pid_t pid)
{
    char bases[MAX_CG][600];
    int nb = cg_bases(bases);
    bool left = false;
    for (int b = 0; b < nb; b++) {
        char p[1200];
        if (pool_group(bases[b], (int)pid, p, sizeof p)) {
            printf("# left: %s\n", p);
            left = true;
        }
    }
    return left;
}

static void host_clean(const char *name)
{
    int p = procs_left(FIRST_UID, FIRST_UID + SLOTS);
    int m = stray_mounts();
    int c = strangers_in_cgroups();
    ok(p == 0 && m == 0 && c == 0, "%s: host clean (procs %d, mounts %d, cgroup strangers %d)",
       name, p, m, c);
}

/*** running ***/

static void base_config(struct sandbox_config *c, const char **argv)
{
    static const char *sp[] = {store_abuse, store_suid, NULL};
    sandbox_config_init(c);
    c->argv = argv;
    c->store_root = T;
    c->store_paths = sp;
    c->limits.wall_ms = 10000;
    c->limits.cpu_ms = 5000;
    c->limits.memory_kib = 256 * 1024;
    c->limits.processes = 64;
    c->limits.output_bytes = 1 << 20;
}

static int run_in(unsigned slot, struct sandbox_config *c, struct sandbox_result *r,
                  const char *name)
{
    char err[512] = "";
    int rc = sandbox_run(pool, slot, c, r, err, sizeof err);
    if (rc < 0)
        printf("# %s: internal error: %s\n", name, err);
    return rc;
}

static const char *make_box(const char *name, uint64_t bytes)
{
    snprintf(boxes[n_boxes], sizeof boxes[n_boxes], "%s/boxes/%s", T, name);
    char err[256];
    if (sandbox_box_create(boxes[n_boxes], bytes, err, sizeof err) < 0) {
        printf("# box: %s\n", err);
        return NULL;
    }
    return boxes[n_boxes++];
}

static void drop_box(const char *path)
{
    for (int i = 0; i < n_boxes; i++)
        if (!strcmp(boxes[i], path)) {
            sandbox_box_destroy(boxes[i], NULL, 0);
            boxes[i][0] = 0;
        }
}

/* Runs abuse NAME with extra args under c's limits; checks the verdict. */
#define ARGV(...) ((const char *[]){prog, __VA_ARGS__, NULL})

static void expect_limit(const char *name, const char **argv, struct sandbox_limits *lim,
                         enum sandbox_limit want)
{
    struct sandbox_config c;
    base_config(&c, argv);
    if (lim)
        c.limits = *lim;
    struct sandbox_result r;
    int rc = run_in(0, &c, &r, name);
    bool good = rc == 0 && r.status == SANDBOX_PROGRAM_FAILED && r.limit == want;
    ok(good, "%s: verdict names the %s limit (got %s)", name, sandbox_limit_name(want),
       sandbox_limit_name(r.limit));
    if (!good)
        diag(name, &r);
    sandbox_result_free(&r);
    host_clean(name);
}

static void expect_refusals_in(unsigned slot, bool check_host, const char *name, const char **argv,
                               const char *box)
{
    struct sandbox_config c;
    base_config(&c, argv);
    c.box_dir = box;
    struct sandbox_result r;
    int rc = run_in(slot, &c, &r, name);
    bool good = rc == 0 && r.status == SANDBOX_OK && !sbxtest_has(&r, "ESCAPE");
    ok(good, "%s: every attempt refused", name);
    if (!good)
        diag(name, &r);
    sandbox_result_free(&r);
    if (check_host)
        host_clean(name);
}

static void expect_refusals(const char *name, const char **argv, const char *box)
{
    expect_refusals_in(0, true, name, argv, box);
}

/*** cases ***/

static void t_identity(void)
{
    struct sandbox_config c;
    base_config(&c, ARGV("whoami"));
    const char *env[] = {"FOO=bar", NULL};
    c.env = env;
    struct sandbox_result r;
    int rc = run_in(0, &c, &r, "identity");
    ok(rc == 0 && r.status == SANDBOX_OK, "identity: runs");
    ok(sbxtest_has(&r, "uid=1000 euid=1000 gid=1000 host=sandbox cwd=/box"),
       "identity: uid 1000, hostname, cwd /box");
    ok(sbxtest_has(&r, "CapEff:\t0000000000000000") &&
           sbxtest_has(&r, "CapBnd:\t0000000000000000") &&
           sbxtest_has(&r, "CapPrm:\t0000000000000000") &&
           sbxtest_has(&r, "CapAmb:\t0000000000000000"),
       "identity: no capabilities at all");
    ok(sbxtest_has(&r, "NoNewPrivs:\t1") && sbxtest_has(&r, "Seccomp:\t2"),
       "identity: no_new_privs and seccomp");
    ok(sbxtest_has(&r, "env FOO=bar\npid=2 ppid=1"),
       "identity: only the given environment; pid 2 under keeper");
    ok(r.accounting == sandbox_pool_accounting(pool) && r.accounting != SANDBOX_ACCT_AUTO,
       "identity: reports the accounting in force (%s)", sandbox_accounting_name(r.accounting));
    if (r.status != SANDBOX_OK || !sbxtest_has(&r, "uid=1000"))
        diag("identity", &r);
    sandbox_result_free(&r);

    /* setuid-root binary in the store: nosuid + no_new_privs */
    const char *sargv[] = {suid_prog, "whoami", NULL};
    base_config(&c, sargv);
    rc = run_in(0, &c, &r, "setuid");
    ok(rc == 0 && sbxtest_has(&r, "uid=1000 euid=1000"),
       "setuid: a setuid-root binary gains nothing");
    if (!sbxtest_has(&r, "euid=1000"))
        diag("setuid", &r);
    sandbox_result_free(&r);
    host_clean("identity");
}

/* A closure of several paths (the /nix/store tmpfs layout), one of them a
 * symlink to another and one a plain file. */
static void t_closure(void)
{
    static char extra[3][128];
    const char *names[] = {"0000000000000000000000000000dir1-data",
                           "0000000000000000000000000000lnk1-link",
                           "0000000000000000000000000000fil1-file"};
    char p[700];
    snprintf(p, sizeof p, "%s/nix/store/%s", T, names[0]);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/nix/store/%s", T, names[1]);
    symlink(store_abuse, p);
    snprintf(p, sizeof p, "%s/nix/store/%s", T, names[2]);
    FILE *f = fopen(p, "w");
    if (f)
        fclose(f);
    for (int i = 0; i < 3; i++)
        snprintf(extra[i], sizeof extra[i], "/nix/store/%s", names[i]);
    const char *sp[] = {store_abuse, store_suid, extra[0], extra[1], extra[2], NULL};
    char via_link[300];
    snprintf(via_link, sizeof via_link, "%s/bin/abuse", extra[1]);
    const char *argv[] = {via_link, "store-write", prog, NULL};
    struct sandbox_config c;
    base_config(&c, argv);
    c.store_paths = sp;
    struct sandbox_result r;
    int rc = run_in(0, &c, &r, "closure");
    ok(rc == 0 && r.status == SANDBOX_OK && !sbxtest_has(&r, "ESCAPE"),
       "a closure of 5 paths (dir, file, symlink): runs through the link, all read-only");
    if (r.status != SANDBOX_OK || sbxtest_has(&r, "ESCAPE"))
        diag("closure", &r);
    sandbox_result_free(&r);
    host_clean("closure");
}

static void t_basics(void)
{
    struct sandbox_config c;
    struct sandbox_result r;
    const char *missing[] = {"/nix/store/nothing/bin/x", NULL};
    base_config(&c, missing);
    int rc = run_in(0, &c, &r, "exec");
    ok(rc == 0 && r.status == SANDBOX_PROGRAM_FAILED && r.exit_code == 127 &&
           strstr(r.message, "execve"),
       "exec failure is the program's: exit 127 with a message");
    sandbox_result_free(&r);

    base_config(&c, ARGV("exit", "3"));
    rc = run_in(0, &c, &r, "exit");
    ok(rc == 0 && r.status == SANDBOX_PROGRAM_FAILED && r.exit_code == 3 &&
           r.limit == SANDBOX_LIMIT_NONE,
       "exit code 3 is reported, no limit");
    sandbox_result_free(&r);

    base_config(&c, ARGV("cat"));
    c.stdin_kind = SANDBOX_STDIN_BUFFER;
    c.stdin_buf = "1 2\n";
    c.stdin_len = 4;
    rc = run_in(1, &c, &r, "stdin");
    ok(rc == 0 && r.status == SANDBOX_OK && r.stdout_len == 4 && !strcmp(r.stdout_buf, "1 2\n") &&
           r.stdout_total == 4 && !r.stdout_truncated,
       "stdin buffer reaches the program, stdout is captured (slot 1)");
    sandbox_result_free(&r);

    base_config(&c, ARGV("whoami"));
    c.cwd = "/nonexistent";
    rc = run_in(0, &c, &r, "cwd");
    ok(rc < 0 && r.status == SANDBOX_INTERNAL_ERROR && r.message[0],
       "a bad cwd is our error, with a message: %s", r.message);
    sandbox_result_free(&r);

    const char *rel[] = {"bin/x", NULL};
    base_config(&c, rel);
    rc = run_in(0, &c, &r, "relative");
    ok(rc == -EINVAL && r.status == SANDBOX_INTERNAL_ERROR, "a relative argv[0] is refused");
    sandbox_result_free(&r);
    host_clean("basics");
}

static void t_limits(void)
{
    struct sandbox_config c;
    base_config(&c, ARGV("x"));
    struct sandbox_limits l = c.limits;

    if (sandbox_pool_accounting(pool) == SANDBOX_ACCT_RLIMITS) {
        /* No usable cgroups on this machine: the pool's path is rlimits,
         * whose promises t_rlimits_mode checks (per-process memory, tasks
         * per uid). The whole-tree verdicts below cannot happen here. */
        printf("# cgroups are not usable here: the pool runs on rlimits; the cgroup cases "
               "(fork bomb, threads, memory bombs named by the cgroup) cannot run; the rlimits "
               "cases cover memory and processes\n");
    } else {
        l.processes = 32;
        l.wall_ms = 3000;
        l.cpu_ms = 2000;
        expect_limit("fork bomb", ARGV("forkbomb"), &l, SANDBOX_LIMIT_PROCESSES);
        expect_limit("threads instead of processes", ARGV("threads"), &l, SANDBOX_LIMIT_PROCESSES);

        l = c.limits;
        l.memory_kib = 64 * 1024;
        expect_limit("memory bomb (malloc+touch)", ARGV("membomb-malloc"), &l,
                     SANDBOX_LIMIT_MEMORY);
        expect_limit("memory bomb (mmap)", ARGV("membomb-mmap"), &l, SANDBOX_LIMIT_MEMORY);
    }

    l = c.limits;
    l.cpu_ms = 300;
    expect_limit("infinite loop", ARGV("spin"), &l, SANDBOX_LIMIT_CPU);
    l = c.limits;
    l.wall_ms = 300;
    expect_limit("sleeping forever", ARGV("sleep"), &l, SANDBOX_LIMIT_WALL);
    l = c.limits;
    l.wall_ms = 800;
    expect_limit("clock and timer abuse", ARGV("clocks"), &l, SANDBOX_LIMIT_WALL);

    l = c.limits;
    l.output_bytes = 65536;
    struct sandbox_result r;
    struct sandbox_config fc;
    base_config(&fc, ARGV("flood-stdout"));
    fc.limits = l;
    int rc = run_in(0, &fc, &r, "flood");
    ok(rc == 0 && r.limit == SANDBOX_LIMIT_OUTPUT && r.stdout_len == 65536 && r.stdout_truncated &&
           r.stdout_total > 65536,
       "stdout flood: output limit, capture capped at 64 KiB, truncated");
    sandbox_result_free(&r);
    host_clean("stdout flood");
    base_config(&fc, ARGV("flood-stderr"));
    fc.limits = l;
    rc = run_in(1, &fc, &r, "flood");
    ok(rc == 0 && r.limit == SANDBOX_LIMIT_OUTPUT && r.stderr_len == 65536 && r.stderr_truncated,
       "stderr flood: output limit, capture capped");
    sandbox_result_free(&r);
    host_clean("stderr flood");

    /* file size: RLIMIT_FSIZE → SIGXFSZ */
    const char *box = make_box("fsize", 8 << 20);
    base_config(&fc, ARGV("fsize"));
    fc.box_dir = box;
    fc.limits.file_bytes = 1 << 20;
    rc = run_in(0, &fc, &r, "fsize");
    ok(rc == 0 && r.limit == SANDBOX_LIMIT_FILE_SIZE, "file size limit named (got %s)",
       sandbox_limit_name(r.limit));
    sandbox_result_free(&r);
    drop_box(box);
    host_clean("file size");

    /* disk fill: box and /tmp are capped */
    box = make_box("fill", 4 << 20);
    base_config(&fc, ARGV("fill-box"));
    fc.box_dir = box;
    rc = run_in(0, &fc, &r, "fill-box");
    struct statvfs sv;
    statvfs(box, &sv);
    uint64_t used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
    ok(rc == 0 && r.status == SANDBOX_OK && sbxtest_has(&r, "ENOSPC") && used <= (4 << 20),
       "disk fill in the box stops at its cap (%llu bytes used)", (unsigned long long)used);
    sandbox_result_free(&r);
    drop_box(box);
    base_config(&fc, ARGV("fill-tmp"));
    fc.limits.tmp_bytes = 4 << 20;
    rc = run_in(0, &fc, &r, "fill-tmp");
    ok(rc == 0 && r.status == SANDBOX_OK && sbxtest_has(&r, "ENOSPC after 4194304"),
       "disk fill in /tmp stops at its cap");
    if (!sbxtest_has(&r, "ENOSPC after 4194304"))
        diag("fill-tmp", &r);
    sandbox_result_free(&r);
    host_clean("disk fill");
}

struct listen_arg {
    struct sandbox_result r;
    int rc;
    int out_w; /* the listener's stdout, streamed: "listening" says it is ready */
    int in_r;  /* its stdin: it listens until we close the other end */
};

static void *abstract_listener(void *p)
{
    struct listen_arg *a = p;
    struct sandbox_config c;
    base_config(&c, ARGV("abstract-listen", "nixfarm-sbxtest", "stdin"));
    c.stdin_kind = SANDBOX_STDIN_FD;
    c.stdin_fd = a->in_r;
    c.stream = true;
    c.stream_stdout_fd = a->out_w;
    c.stream_stderr_fd = -1;
    a->rc = run_in(1, &c, &a->r, "abstract listener");
    return NULL;
}

static size_t read_line_by(int fd, char *buf, size_t cap, int deadline_ms);

static void t_network(void)
{
    /* host listeners the sandbox must not reach */
    int tl = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(tl, (struct sockaddr *)&sa, sizeof sa);
    listen(tl, 4);
    socklen_t sl = sizeof sa;
    getsockname(tl, (struct sockaddr *)&sa, &sl);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(sa.sin_port));
    int ul = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    bind(ul, (struct sockaddr *)&sa, sizeof sa); /* same port, UDP */
    char aname[64];
    snprintf(aname, sizeof aname, "nixfarm-sbxtest-host-%d", (int)getpid());
    int al = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    memcpy(un.sun_path + 1, aname, strlen(aname));
    bind(al, (struct sockaddr *)&un, (socklen_t)(sizeof(sa_family_t) + 1 + strlen(aname)));
    listen(al, 4);

    expect_refusals("network", ARGV("network", port, aname), NULL);
    char b;
    ok(accept(tl, NULL, NULL) < 0 && errno == EAGAIN && recv(ul, &b, 1, 0) < 0 &&
           accept(al, NULL, NULL) < 0,
       "network: nothing reached the host's TCP, UDP or abstract sockets");
    close(tl);
    close(ul);
    close(al);

    /* two concurrent sandboxes: B cannot reach A's abstract socket. A says
     * when it listens (streamed) and listens until B is done (its stdin). */
    struct listen_arg a;
    memset(&a, 0, sizeof a);
    int lo[2], li[2];
    if (pipe2(lo, O_CLOEXEC) < 0 || pipe2(li, O_CLOEXEC) < 0) {
        ok(false, "network: pipes: %s", strerror(errno));
        return;
    }
    a.out_w = lo[1];
    a.in_r = li[0];
    pthread_t th;
    pthread_create(&th, NULL, abstract_listener, &a);
    char line[64];
    size_t got = read_line_by(lo[0], line, sizeof line, 60000);
    bool listening = got > 0 && !strcmp(line, "listening\n");
    /* the other slot is busy meanwhile: check the host after both ended */
    expect_refusals_in(0, false, "abstract socket of a concurrent sandbox",
                       ARGV("abstract-connect", "nixfarm-sbxtest"), NULL);
    close(li[1]);
    pthread_join(th, NULL);
    close(lo[0]);
    close(lo[1]);
    close(li[0]);
    ok(listening && a.rc == 0 && a.r.status == SANDBOX_OK && sbxtest_has(&a.r, "listening"),
       "the other sandbox was listening meanwhile (it said so before the connect)");
    sandbox_result_free(&a.r);
    host_clean("network");
}

static void t_escapes(void)
{
    expect_refusals("ptrace of the keeper, parent and siblings", ARGV("ptrace"), NULL);
    expect_refusals("mount, unshare, setns, chroot tricks", ARGV("namespaces"), NULL);
    expect_refusals("TIOCSTI and terminals", ARGV("tiocsti"), NULL);
    expect_refusals("kernel keyring", ARGV("keyring"), NULL);
    expect_refusals("kernel interfaces (bpf, perf, io_uring, modules, personality)", ARGV("kernel"),
                    NULL);

    /* reading host files, other boxes, /proc */
    const char *other = make_box("other", 1 << 20);
    char secret[600];
    snprintf(secret, sizeof secret, "%s/secret", other);
    FILE *f = fopen(secret, "w");
    if (f) {
        fputs("secret\n", f);
        fclose(f);
    }
    struct sandbox_config c;
    base_config(&c, ARGV("read-host", T, secret));
    struct sandbox_result r;
    int rc = run_in(0, &c, &r, "read-host");
    ok(rc == 0 && r.status == SANDBOX_OK && !sbxtest_has(&r, "ESCAPE"),
       "reading host files, the state dir, other boxes and /proc: refused or empty");
    const char *mi = r.stdout_buf ? strstr(r.stdout_buf, "--- mountinfo") : NULL;
    ok(mi && !strstr(mi, T) && !strstr(mi, "/tmp/") && !strstr(mi, "nixfarm-sbxtest"),
       "/proc/self/mountinfo shows no host path");
    if (r.status != SANDBOX_OK || sbxtest_has(&r, "ESCAPE") || !mi || strstr(mi, T))
        diag("read-host", &r);
    sandbox_result_free(&r);
    drop_box(other);

    /* the store is read-only; the file is unchanged on the host */
    char host_file[600];
    snprintf(host_file, sizeof host_file, "%s%s/bin/abuse", T, store_abuse);
    struct stat before, after;
    stat(host_file, &before);
    expect_refusals("writes to the store", ARGV("store-write", prog), NULL);
    stat(host_file, &after);
    ok(before.st_size == after.st_size && before.st_mtime == after.st_mtime &&
           before.st_mode == after.st_mode,
       "store file unchanged on the host");

    host_clean("escapes");
}

/*** foreign syscall ABIs: no call through them takes effect ***/

static char abuse_host_path[512]; /* the abuse program as given, run unfiltered for controls */

/* Runs "abuse abi-<abi> DIR" on the host, outside any sandbox and filter;
 * returns its wait status. */
static int host_abi_run(const char *abi, const char *dir)
{
    char name[16];
    snprintf(name, sizeof name, "abi-%s", abi);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(abuse_host_path, abuse_host_path, name, dir, (char *)NULL);
        _exit(127);
    }
    int st = -1;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

static bool marker_in(const char *dir, const char *abi)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s-marker", dir, abi);
    struct stat st;
    return lstat(p, &st) == 0;
}

/* which: 0 = i386 (int 0x80), 1 = x32. The promise: no system call through
 * the ABI takes effect in a sandbox. Shown by an effect: the program makes
 * a directory in its box and writes a line through the ABI; afterwards the
 * host finds neither. How the kernel refuses depends on the kernel: where it
 * has the ABI, the call reaches the seccomp filter, which kills (SIGSYS);
 * where it does not (CONFIG_IA32_EMULATION=n, ia32_emulation=0, some
 * confidential-computing guests), int 0x80 faults first (SIGSEGV). The same
 * program run on the host without a filter is the control: it tells which
 * kind of kernel this is, and that the effect would be seen. */
static void abi_case(int which)
{
    const char *abi = which == 0 ? "i386" : "x32";
    char name[32], hostdir[600];
    snprintf(name, sizeof name, "abi-%s", abi);

    /* 1. control, on the host (SIGSYS there would be a filter the test
     * itself runs under, e.g. a container's: the sandbox then inherits it) */
    snprintf(hostdir, sizeof hostdir, "%s/abi-host-%s", T, abi);
    mkdir(hostdir, 0755);
    int hs = host_abi_run(abi, hostdir);
    bool has_abi = marker_in(hostdir, abi);
    bool control_ok =
        has_abi ? (WIFEXITED(hs) && WEXITSTATUS(hs) == 1)
                : ((WIFSIGNALED(hs) && (WTERMSIG(hs) == SIGSEGV || WTERMSIG(hs) == SIGSYS)) ||
                   (WIFEXITED(hs) && WEXITSTATUS(hs) == 1));
    printf("# %s control on the host, unfiltered: %s (%s %d)\n", abi,
           has_abi ? "the ABI exists here: the call made its marker"
                   : "this kernel has no such ABI: no marker",
           WIFSIGNALED(hs) ? "signal" : "exit", WIFSIGNALED(hs) ? WTERMSIG(hs) : WEXITSTATUS(hs));
    ok(control_ok, "%s ABI control: unfiltered on the host, the call %s", abi,
       has_abi ? "takes effect (the ABI exists on this kernel)"
               : "is refused by the kernel itself (no such ABI here)");
    struct sandbox_features fs;
    char err[256];
    const struct sandbox_feature *f = NULL;
    if (sandbox_features_probe(&fs, err, sizeof err) == 0)
        f = sandbox_features_get(&fs, which == 0 ? "i386-abi" : "x32-abi");
    ok(f && f->present == has_abi, "%s ABI: sandbox_features_probe agrees with the control (%s)",
       abi, f ? f->detail : err);

    /* 2. the same program in a sandbox */
    const char *box = make_box(name, 1 << 20);
    struct sandbox_config c;
    base_config(&c, ARGV(name, "/box"));
    c.box_dir = box;
    struct sandbox_result r;
    int rc = run_in(0, &c, &r, name);
    bool effect = box && marker_in(box, abi);
    bool refused = rc == 0 && (r.signal == SIGSYS || r.signal == SIGSEGV);
    bool good = refused && !effect && !sbxtest_has(&r, "ESCAPE") && sbxtest_has(&r, "trying");
    printf("# %s in the sandbox: %s\n", name,
           r.signal == SIGSYS    ? "killed by SIGSYS (the seccomp filter saw the call)"
           : r.signal == SIGSEGV ? "killed by SIGSEGV (the kernel refused before any filter)"
                                 : "not killed by SIGSYS or SIGSEGV");
    ok(good, "%s syscall ABI: no call took effect (no marker in the box, no output), killed by %s",
       abi, r.signal ? strsignal(r.signal) : "nothing");
    if (!good)
        diag(name, &r);
    /* The path this kernel takes: the filter wherever the call reaches it.
     * Every x32 number reaches it (the filter refuses the x32 bit on any
     * kernel); int 0x80 only where the kernel has the i386 ABI. */
    bool via_filter = which == 1 || has_abi;
    int want = via_filter ? SIGSYS : WIFSIGNALED(hs) ? WTERMSIG(hs) : SIGSEGV;
    ok(rc == 0 && r.signal == want,
       "%s syscall ABI: refused on this kernel's path (%s expected, got %s)", abi,
       via_filter ? "SIGSYS from the filter" : "the bare kernel's signal",
       r.signal ? strsignal(r.signal) : "no signal");
    if (which == 0 && !has_abi)
        printf("# the i386 ABI is absent on this kernel: the filter's kill of a foreign ABI "
               "cannot be reached through int 0x80 here; the x32 case covers it\n");
    sandbox_result_free(&r);
    if (box)
        drop_box(box);
    host_clean(name);
}

static void t_abi(void)
{
    abi_case(0);
    abi_case(1);
}

static void t_processes(void)
{
    const char *names[] = {"outlive-session", "outlive-pgrp"};
    for (int i = 0; i < 2; i++) {
        const char *box = make_box(names[i], 1 << 20);
        struct sandbox_config c;
        base_config(&c, ARGV(names[i], "/box/marker"));
        c.box_dir = box;
        struct sandbox_result r;
        int rc = run_in(0, &c, &r, names[i]);
        ok(rc == 0 && r.status == SANDBOX_OK && sbxtest_has(&r, "parent leaving"),
           "%s: the run ends when the main process does", names[i]);
        sandbox_result_free(&r);
        host_clean(names[i]);
        usleep(1500000);
        char marker[600];
        snprintf(marker, sizeof marker, "%s/marker", box);
        ok(access(marker, F_OK) < 0, "%s: the escaped grandchild never ran on", names[i]);
        drop_box(box);
    }

    /* signals to host processes */
    pid_t sleeper = fork();
    if (sleeper == 0) {
        for (;;)
            pause();
    }
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)sleeper);
    expect_refusals("signals to host processes", ARGV("signals", pid), NULL);
    ok(kill(sleeper, 0) == 0 && waitpid(sleeper, NULL, WNOHANG) == 0,
       "the host process survived kill() and kill(-1) from the sandbox");
    kill(sleeper, SIGKILL);
    waitpid(sleeper, NULL, 0);

    /* clocks: the host's real-time clock did not move */
    struct timespec r0, m0, r1, m1;
    clock_gettime(CLOCK_REALTIME, &r0);
    clock_gettime(CLOCK_MONOTONIC, &m0);
    struct sandbox_config c;
    base_config(&c, ARGV("clocks"));
    c.limits.wall_ms = 300;
    struct sandbox_result r;
    run_in(0, &c, &r, "clocks");
    clock_gettime(CLOCK_REALTIME, &r1);
    clock_gettime(CLOCK_MONOTONIC, &m1);
    double dr = (double)(r1.tv_sec - r0.tv_sec) + (double)(r1.tv_nsec - r0.tv_nsec) / 1e9;
    double dm = (double)(m1.tv_sec - m0.tv_sec) + (double)(m1.tv_nsec - m0.tv_nsec) / 1e9;
    ok(!sbxtest_has(&r, "ESCAPE") && sbxtest_has(&r, "ok settimeofday") && dr - dm < 1.0 &&
           dm - dr < 1.0,
       "clock setting refused; the host clock did not move");
    sandbox_result_free(&r);
    host_clean("clocks");
}

/* record_order: the runs of stdout and stderr in write order. */
static void t_order(void)
{
    struct sandbox_config c;
    base_config(&c, ARGV("interleave"));
    c.record_order = true;
    struct sandbox_result r;
    int rc = run_in(0, &c, &r, "interleave");
    bool good = rc == 0 && r.status == SANDBOX_OK && r.n_order == 8;
    size_t total = 0;
    for (size_t i = 0; good && i < r.n_order; i++) {
        good = r.order[i].stream == (i % 2 ? 2 : 1) && r.order[i].len == 3;
        total += r.order[i].len;
    }
    ok(good && total == r.stdout_len + r.stderr_len,
       "order: 8 runs alternating stdout/stderr, 3 bytes each, covering both captures");
    if (!good)
        diag("interleave", &r);
    sandbox_result_free(&r);
    base_config(&c, ARGV("interleave"));
    rc = run_in(0, &c, &r, "interleave-off");
    ok(rc == 0 && !r.order && r.n_order == 0, "order: not recorded unless asked");
    sandbox_result_free(&r);
    host_clean("order");
}

static void t_outputs(void)
{
    const char *box = make_box("links", 1 << 20);
    struct sandbox_config c;
    base_config(&c, ARGV("links"));
    c.box_dir = box;
    struct sandbox_result r;
    int rc = run_in(0, &c, &r, "links");
    ok(rc == 0 && r.status == SANDBOX_OK && sbxtest_has(&r, "traps set"),
       "links: traps set in the box");
    if (r.status != SANDBOX_OK)
        diag("links", &r);
    sandbox_result_free(&r);
    char *data = NULL, err[256];
    size_t len;
    bool trunc;
    ok(sandbox_box_read(box, "plain", 100, &data, &len, &trunc, err, sizeof err) == 0 && len == 5 &&
           !strcmp(data, "good\n") && !trunc,
       "collect: a plain file is read");
    free(data);
    data = NULL;
    ok(sandbox_box_read(box, "out-symlink", 100, &data, &len, &trunc, err, sizeof err) == -ELOOP,
       "collect: a symlink to /etc/shadow is refused (%s)", err);
    ok(sandbox_box_read(box, "dirlink/etc/shadow", 100, &data, &len, &trunc, err, sizeof err) < 0,
       "collect: a path through a symlinked directory is refused (%s)", err);
    ok(sandbox_box_read(box, "../../../../etc/shadow", 100, &data, &len, &trunc, err, sizeof err) <
           0,
       "collect: .. out of the box is refused (%s)", err);
    ok(sandbox_box_read(box, "/etc/shadow", 100, &data, &len, &trunc, err, sizeof err) < 0,
       "collect: an absolute path is refused (%s)", err);
    ok(sandbox_box_read(box, "linked", 100, &data, &len, &trunc, err, sizeof err) == -EMLINK,
       "collect: a file with two hard links is refused (%s)", err);
    ok(sandbox_box_read(box, "fifo", 100, &data, &len, &trunc, err, sizeof err) < 0,
       "collect: a FIFO is refused without blocking (%s)", err);
    ok(sandbox_box_read(box, "dir", 100, &data, &len, &trunc, err, sizeof err) < 0,
       "collect: a directory is refused");

    /* read-only box + writable scratch tmpfs, as the worker runs tests */
    struct sandbox_tmpfs scratch = {.dst = "/box/scratch", .bytes = 1 << 20};
    char scratch_dir[700];
    snprintf(scratch_dir, sizeof scratch_dir, "%s/scratch", box);
    mkdir(scratch_dir, 0755); /* the mount point must exist in the read-only box */
    const char *sh_argv[] = {prog, "fill-box", NULL};
    base_config(&c, sh_argv);
    c.box_dir = box;
    c.box_readonly = true;
    c.tmpfs = &scratch;
    c.n_tmpfs = 1;
    rc = run_in(0, &c, &r, "ro box");
    ok(rc == 0 && sbxtest_has(&r, "open /box/fill: Read-only file system"),
       "a read-only box refuses writes");
    if (!sbxtest_has(&r, "Read-only"))
        diag("ro box", &r);
    sandbox_result_free(&r);
    drop_box(box);
    host_clean("outputs");
}

/*** live output (cfg->stream) ***/

struct stream_job {
    struct sandbox_config *c;
    struct sandbox_result r;
    int rc;
    atomic_bool done;
};

static void *stream_runner(void *arg)
{
    struct stream_job *j = arg;
    j->rc = run_in(0, j->c, &j->r, "stream");
    atomic_store(&j->done, true);
    return NULL;
}

/* Reads fd into buf (NUL-terminated) until it holds a newline or deadline_ms
 * passes; returns the bytes held. */
static size_t read_line_by(int fd, char *buf, size_t cap, int deadline_ms)
{
    size_t n = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    buf[0] = 0;
    while (!memchr(buf, '\n', n) && n + 1 < cap) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left =
            deadline_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0)
            break;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, (int)left) <= 0)
            continue;
        ssize_t k = read(fd, buf + n, cap - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        buf[n] = 0;
    }
    return n;
}

/* Everything still in a pipe whose writers are gone or idle (non-blocking). */
static size_t drain(int fd, char *buf, size_t cap)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    size_t n = 0;
    ssize_t k;
    while (n + 1 < cap && (k = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)k;
    buf[n] = 0;
    return n;
}

/* A run of echo-lines on its own thread, stdin a pipe the case writes
 * (in[1]) and stdout streamed to a pipe it reads (so[0]) while the program
 * runs: what an interactive session does. */
struct live_echo {
    int in[2], so[2];
    const char *argv[3];
    struct sandbox_config c;
    struct stream_job j;
    pthread_t th;
};

/* Starts the run; false, said as a failed check of what, when the pipes
 * cannot be made. */
static bool live_echo_start(struct live_echo *le, const char *what)
{
    if (pipe2(le->in, O_CLOEXEC) < 0 || pipe2(le->so, O_CLOEXEC) < 0) {
        ok(false, "%s: pipes: %s", what, strerror(errno));
        return false;
    }
    le->argv[0] = prog;
    le->argv[1] = "echo-lines";
    le->argv[2] = NULL;
    base_config(&le->c, le->argv);
    le->c.stdin_kind = SANDBOX_STDIN_FD;
    le->c.stdin_fd = le->in[0];
    le->c.stream = true;
    le->c.stream_stdout_fd = le->so[1];
    le->c.stream_stderr_fd = -1;
    le->j = (struct stream_job){.c = &le->c};
    atomic_init(&le->j.done, false);
    pthread_create(&le->th, NULL, stream_runner, &le->j);
    return true;
}

/* After the thread is joined: frees the result and closes the pipe ends
 * (in[1] only when the case has not closed it, marking it -1). */
static void live_echo_end(struct live_echo *le)
{
    sandbox_result_free(&le->j.r);
    close(le->in[0]);
    if (le->in[1] >= 0)
        close(le->in[1]);
    close(le->so[0]);
    close(le->so[1]);
}

/* A live stdin: stdin_fd is a pipe the caller writes while the program runs
 * (what an interactive session needs): the answer to the first line comes
 * back before the second line is even written. */
static void t_live_stdin(void)
{
    struct live_echo le;
    if (!live_echo_start(&le, "live stdin"))
        return;
    char line[256];
    bool wrote = write(le.in[1], "ping1\n", 6) == 6;
    size_t n = read_line_by(le.so[0], line, sizeof line, 30000);
    bool running = !atomic_load(&le.j.done);
    ok(wrote && n == 6 && !strcmp(line, "ping1\n") && running,
       "live stdin: the program answers a line while it runs (got %zu bytes, running %d)", n,
       running);
    wrote = write(le.in[1], "ping2\n", 6) == 6;
    n = read_line_by(le.so[0], line, sizeof line, 30000);
    ok(wrote && n == 6 && !strcmp(line, "ping2\n"), "live stdin: and the next one");
    close(le.in[1]); /* EOF: the program ends */
    le.in[1] = -1;
    pthread_join(le.th, NULL);
    struct sandbox_result *r = &le.j.r;
    bool good = le.j.rc == 0 && r->status == SANDBOX_OK && r->stdout_buf &&
                !strcmp(r->stdout_buf, "ping1\nping2\n");
    ok(good, "live stdin: the run ends at EOF with both answers captured");
    if (!good)
        diag("live-stdin", r);
    live_echo_end(&le);
    host_clean("live-stdin");
}

/* sandbox_signal: a signal from another thread reaches the running program
 * (an interactive client's SIGTERM), not the keeper: the run ends with that
 * signal as the program's own end. Without a run it sends nothing. */
static void t_signal(void)
{
    ok(sandbox_signal(pool, 0, SIGTERM) == 0, "signal: nothing is sent while no run is in flight");
    struct live_echo le;
    if (!live_echo_start(&le, "signal"))
        return;
    char line[256];
    bool wrote = write(le.in[1], "up\n", 3) == 3;
    size_t n = read_line_by(le.so[0], line, sizeof line, 30000); /* the program runs now */
    int sent = sandbox_signal(pool, 0, SIGTERM);
    pthread_join(le.th, NULL);
    struct sandbox_result *r = &le.j.r;
    bool good = wrote && n == 3 && sent == 1 && le.j.rc == 0 &&
                r->status == SANDBOX_PROGRAM_FAILED && r->signal == SIGTERM &&
                r->limit == SANDBOX_LIMIT_NONE;
    ok(good, "signal: SIGTERM from another thread ends the program (sent %d, signal %d)", sent,
       r->signal);
    if (!good)
        diag("signal", r);
    live_echo_end(&le);
    host_clean("signal");
}

static void t_stream(void)
{
    /* 1. The first line reaches the stream fd while the program still runs. */
    int so[2], se[2];
    if (pipe2(so, O_CLOEXEC) < 0 || pipe2(se, O_CLOEXEC) < 0) {
        ok(false, "stream: pipes: %s", strerror(errno));
        return;
    }
    struct sandbox_config c;
    base_config(&c, ARGV("lines"));
    c.stream = true;
    c.stream_stdout_fd = so[1];
    c.stream_stderr_fd = se[1];
    struct stream_job j = {.c = &c};
    atomic_init(&j.done, false);
    pthread_t th;
    pthread_create(&th, NULL, stream_runner, &j);
    char first[256], rest[256], errs[256];
    size_t n = read_line_by(so[0], first, sizeof first, 30000);
    bool still_running = !atomic_load(&j.done);
    ok(n == 6 && !strcmp(first, "first\n") && still_running,
       "stream: the first line arrives live, before the run ends (got %zu bytes, running %d)", n,
       still_running);
    pthread_join(th, NULL);
    drain(so[0], rest, sizeof rest);
    drain(se[0], errs, sizeof errs);
    struct sandbox_result *r = &j.r;
    bool good = j.rc == 0 && r->status == SANDBOX_OK && !strcmp(rest, "second\n") &&
                !strcmp(errs, "err-first\n") && r->stdout_len == 13 &&
                !strcmp(r->stdout_buf, "first\nsecond\n") && r->stdout_streamed == 13 &&
                r->stderr_streamed == 10 && !r->stdout_stream_failed && !r->stderr_stream_failed;
    ok(good, "stream: the rest follows, and the capture holds the same bytes");
    if (!good)
        diag("stream", r);
    int fl = fcntl(so[1], F_GETFL);
    ok(fl >= 0 && !(fl & O_NONBLOCK), "stream: the caller's fd keeps its flags (blocking)");
    sandbox_result_free(r);

    /* 2. The cap truncates and flags; the stream gets the same capped bytes. */
    base_config(&c, ARGV("flood-stdout"));
    c.limits.output_bytes = 1000;
    c.stream = true;
    c.stream_stdout_fd = so[1];
    c.stream_stderr_fd = -1;
    struct sandbox_result r2;
    int rc = run_in(0, &c, &r2, "stream cap");
    static char big[70000];
    size_t got = drain(so[0], big, sizeof big);
    bool all_y = got == 1000 && strspn(big, "y") == 1000;
    good = rc == 0 && r2.limit == SANDBOX_LIMIT_OUTPUT && r2.stdout_truncated &&
           r2.stdout_len == 1000 && r2.stdout_streamed == 1000 && all_y;
    ok(good, "stream: the output cap truncates and flags; the stream got the same %zu bytes", got);
    if (!good)
        diag("stream cap", &r2);
    sandbox_result_free(&r2);

    /* 3. A full pipe nobody reads neither hangs nor fails the run: the
     * bytes stay in the capture, streamed says none went out. */
    fcntl(so[1], F_SETFL, fcntl(so[1], F_GETFL) | O_NONBLOCK);
    size_t filled = 0;
    ssize_t k;
    while ((k = write(so[1], big, 4096)) > 0)
        filled += (size_t)k;
    fcntl(so[1], F_SETFL, fcntl(so[1], F_GETFL) & ~O_NONBLOCK);
    base_config(&c, ARGV("flood-stdout"));
    c.limits.output_bytes = 300000;
    c.stream = true;
    c.stream_stdout_fd = so[1];
    c.stream_stderr_fd = so[1];
    rc = run_in(0, &c, &r2, "stream full pipe");
    good = rc == 0 && r2.limit == SANDBOX_LIMIT_OUTPUT && r2.stdout_len == 300000 &&
           r2.stdout_streamed == 0 && !r2.stdout_stream_failed && filled > 0;
    ok(good, "stream: a full pipe nobody reads does not hang the run (%zu bytes were in it)",
       filled);
    if (!good)
        diag("stream full pipe", &r2);
    sandbox_result_free(&r2);

    /* 4. The reader leaves mid-run: the stream is given up with a flag,
     * SIGPIPE does not kill us, the run ends normally. */
    close(so[0]);
    if (pipe2(so, O_CLOEXEC) < 0) {
        ok(false, "stream: pipe: %s", strerror(errno));
        return;
    }
    base_config(&c, ARGV("lines"));
    c.stream = true;
    c.stream_stdout_fd = so[1];
    c.stream_stderr_fd = -1;
    struct stream_job j2 = {.c = &c};
    atomic_init(&j2.done, false);
    pthread_create(&th, NULL, stream_runner, &j2);
    n = read_line_by(so[0], first, sizeof first, 30000);
    close(so[0]);
    pthread_join(th, NULL);
    sigset_t pend;
    sigpending(&pend);
    r = &j2.r;
    good = n == 6 && j2.rc == 0 && r->status == SANDBOX_OK && r->stdout_stream_failed &&
           r->stdout_streamed == 6 && !strcmp(r->stdout_buf, "first\nsecond\n") &&
           !sigismember(&pend, SIGPIPE);
    ok(good, "stream: a reader that leaves is given up with a flag; no SIGPIPE reaches us");
    if (!good)
        diag("stream closed", r);
    sandbox_result_free(r);
    close(so[1]);
    close(se[0]);
    close(se[1]);
    host_clean("stream");
}

/* A second pool in the same process keeps to its own cgroups. */
static void t_second_pool(void)
{
    struct sandbox_pool_options po;
    sandbox_pool_options_init(&po);
    po.first_uid = FIRST_UID + 1; /* within the range host_clean watches */
    struct sandbox_pool *p2;
    char err[256];
    int rc = sandbox_pool_new(&po, &p2, err, sizeof err);
    ok(rc == 0, "second pool in one process (%s)", rc < 0 ? err : "ok");
    if (rc < 0)
        return;
    struct sandbox_config c;
    base_config(&c, ARGV("exit", "0"));
    struct sandbox_result r;
    rc = sandbox_run(p2, 0, &c, &r, err, sizeof err);
    ok(rc == 0 && r.status == SANDBOX_OK, "second pool runs");
    sandbox_result_free(&r);
    sandbox_pool_free(p2);
    base_config(&c, ARGV("exit", "0"));
    rc = run_in(0, &c, &r, "first pool after the second");
    ok(rc == 0 && r.status == SANDBOX_OK, "the first pool is untouched by the second's end");
    sandbox_result_free(&r);
    host_clean("second pool");
}

static void t_rlimits_mode(void)
{
    struct sandbox_pool_options po;
    sandbox_pool_options_init(&po);
    po.first_uid = FIRST_UID; /* slot 0's uid: pools never run together here */
    po.accounting = SANDBOX_ACCT_RLIMITS;
    struct sandbox_pool *rp;
    char err[256];
    int rc = sandbox_pool_new(&po, &rp, err, sizeof err);
    ok(rc == 0 && sandbox_pool_accounting(rp) == SANDBOX_ACCT_RLIMITS, "rlimits-only pool");
    if (rc < 0)
        return;
    struct sandbox_config c;
    base_config(&c, ARGV("spin"));
    c.limits.cpu_ms = 300;
    struct sandbox_result r;
    rc = sandbox_run(rp, 0, &c, &r, err, sizeof err);
    ok(rc == 0 && r.limit == SANDBOX_LIMIT_CPU && r.accounting == SANDBOX_ACCT_RLIMITS,
       "rlimits: CPU limit via RLIMIT_CPU, reported as such (got %s)", sandbox_limit_name(r.limit));
    sandbox_result_free(&r);

    /* Memory: RLIMIT_AS per process. A program that takes memory until it
     * is refused lives through the refusal: it says how much it got, and
     * the peak RSS measured agrees; both stay under the limit. */
    const char *hows[] = {"malloc", "mmap"};
    for (int i = 0; i < 2; i++) {
        base_config(&c, ARGV("mem-grab", hows[i]));
        c.limits.memory_kib = 64 * 1024;
        rc = sandbox_run(rp, 0, &c, &r, err, sizeof err);
        const char *g = r.stdout_buf ? strstr(r.stdout_buf, "got ") : NULL;
        int got = g ? atoi(g + 4) : -1;
        bool good = rc == 0 && r.status == SANDBOX_OK && got >= 1 && got <= 64 &&
                    r.memory_kib > 0 && r.memory_kib <= 64 * 1024;
        ok(good,
           "rlimits: memory taken by %s stops at RLIMIT_AS (got %d MiB, peak %llu KiB of "
           "65536)",
           hows[i], got, (unsigned long long)r.memory_kib);
        if (!good)
            diag(hows[i], &r);
        sandbox_result_free(&r);
    }

    /* Processes: RLIMIT_NPROC counts the slot uid's tasks; the program
     * itself is one, so the 32nd thread is refused. */
    base_config(&c, ARGV("threads"));
    c.limits.processes = 32;
    c.limits.cpu_ms = 500;
    c.limits.wall_ms = 1500;
    rc = sandbox_run(rp, 0, &c, &r, err, sizeof err);
    const char *tr = r.stdout_buf ? strstr(r.stdout_buf, "thread ") : NULL;
    int made = tr ? atoi(tr + 7) : -1;
    ok(rc == 0 && made >= 0 && made + 1 <= 32,
       "rlimits: threads stop at RLIMIT_NPROC (%d made + the program, limit 32)", made);
    if (made < 0)
        diag("rlimits threads", &r);
    sandbox_result_free(&r);
    sandbox_pool_free(rp);
    host_clean("rlimits mode");
}

static void *canceller(void *arg)
{
    (void)arg;
    usleep(300000);
    int *ret = malloc(sizeof *ret);
    *ret = sandbox_cancel(pool, 0);
    return ret;
}

static void t_cancel(void)
{
    ok(sandbox_cancel(pool, 0) == 0, "cancel: nothing to cancel between runs");
    pthread_t th;
    pthread_create(&th, NULL, canceller, NULL);
    struct sandbox_config c;
    base_config(&c, ARGV("outlive-session", "/box/marker"));
    const char *sleeper[] = {prog, "sleep", NULL};
    c.argv = sleeper;
    struct sandbox_result r;
    char err[256] = "";
    int rc = sandbox_run(pool, 0, &c, &r, err, sizeof err);
    void *tr;
    pthread_join(th, &tr);
    ok(rc == -ECANCELED && r.status == SANDBOX_INTERNAL_ERROR && !strcmp(r.message, "cancelled") &&
           *(int *)tr == 1,
       "cancel: another thread ends a run at once (%s)", err);
    free(tr);
    sandbox_result_free(&r);
    base_config(&c, ARGV("exit", "0"));
    rc = run_in(0, &c, &r, "after cancel");
    ok(rc == 0 && r.status == SANDBOX_OK, "cancel: the next run is not affected");
    sandbox_result_free(&r);
    host_clean("cancel");
}

/* A supervisor killed mid-run leaves nothing sandbox_cleanup_stale does not
 * remove. */
static void t_crash(void)
{
    char root[600], box[700];
    snprintf(root, sizeof root, "%s/crash", T);
    mkdir(root, 0755);
    snprintf(box, sizeof box, "%s/box1", root);
    pid_t child = fork();
    if (child == 0) {
        struct sandbox_pool_options po;
        sandbox_pool_options_init(&po);
        po.first_uid = CRASH_UID;
        struct sandbox_pool *p;
        if (sandbox_pool_new(&po, &p, NULL, 0) < 0 || sandbox_box_create(box, 1 << 20, NULL, 0) < 0)
            _exit(2);
        struct sandbox_config c;
        base_config(&c, ARGV("sleep"));
        c.box_dir = box;
        c.limits.wall_ms = 60000;
        struct sandbox_result r;
        sandbox_run(p, 0, &c, &r, NULL, 0);
        _exit(3);
    }
    /* wait until the sandboxed sleeper exists, then kill the supervisor */
    for (int i = 0; i < 300 && procs_of_uids(CRASH_UID, CRASH_UID + 1) == 0; i++)
        usleep(10000);
    ok(procs_of_uids(CRASH_UID, CRASH_UID + 1) > 0, "crash: the sandbox was running");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    ok(procs_left(CRASH_UID, CRASH_UID + 1) == 0,
       "crash: the sandbox died with its supervisor (parent-death signal to PID 1)");
    char err[256];
    int n = sandbox_cleanup_stale(root, err, sizeof err);
    /* the box, and the dead supervisor's group in each hierarchy it used */
    int want = 1 + (acct_auto == SANDBOX_ACCT_RLIMITS ? 0 : 1);
    ok(n >= want, "crash: cleanup removed the box and the cgroups (%d items, %d at least with %s)",
       n, want, sandbox_accounting_name(acct_auto));
    struct stat st;
    ok(stat(box, &st) < 0 && errno == ENOENT, "crash: the box is gone");
    bool found = cgroup_left_of(child);
    ok(!found, "crash: no cgroup of the dead supervisor is left");
    rmdir(root);
    host_clean("crash");
}

/*** setup and teardown ***/

static void cleanup(void)
{
    for (int i = 0; i < n_boxes; i++)
        if (boxes[i][0])
            sandbox_box_destroy(boxes[i], NULL, 0);
    sbxtest_remove_root(T);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    first_uid_base = (uid_t)(66000 + (getpid() % 1000) * 4);
    sbxtest_trap_fatal(&pool, cleanup);
    if (argc < 2) {
        fprintf(stderr, "usage: test-sandbox ABUSE_PROGRAM\n");
        return 2;
    }
    if (!mkdtemp(T)) {
        perror("mkdtemp");
        return 2;
    }
    char p[700];
    if (sbxtest_make_store(T, "teststore", "64m") < 0) {
        cleanup();
        return 1;
    }
    snprintf(p, sizeof p, "%s/boxes", T);
    mkdir(p, 0755);
    const char *stores[] = {store_abuse, store_suid};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s%s", T, stores[i]);
        mkdir(p, 0755);
        snprintf(p, sizeof p, "%s%s/bin", T, stores[i]);
        mkdir(p, 0755);
        snprintf(p, sizeof p, "%s%s/bin/abuse", T, stores[i]);
        if (sbxtest_copy_file(argv[1], p, i ? 04755 : 0755) < 0) {
            printf("Bail out! copying %s: %s\n", argv[1], strerror(errno));
            cleanup();
            return 1;
        }
    }
    snprintf(prog, sizeof prog, "%s/bin/abuse", store_abuse);
    snprintf(abuse_host_path, sizeof abuse_host_path, "%s", argv[1]);
    snprintf(suid_prog, sizeof suid_prog, "%s/bin/abuse", store_suid);

    struct sandbox_pool_options po;
    sandbox_pool_options_init(&po);
    po.slots = SLOTS;
    po.first_uid = FIRST_UID;
    char err[512];
    if (sandbox_pool_new(&po, &pool, err, sizeof err) < 0) {
        printf("Bail out! pool: %s\n", err);
        cleanup();
        return 1;
    }
    acct_auto = sandbox_pool_accounting(pool);
    printf("# accounting: %s; slot uids %u-%u\n", sandbox_accounting_name(acct_auto),
           (unsigned)FIRST_UID, (unsigned)(FIRST_UID + SLOTS - 1));
    t_identity();
    t_basics();
    t_closure();
    t_limits();
    t_network();
    t_escapes();
    t_abi();
    t_processes();
    t_outputs();
    t_order();
    t_stream();
    t_live_stdin();
    t_signal();
    t_cancel();
    t_second_pool();

    /* The pool's groups as they exist before pool_free, in every hierarchy
     * this process is in (v1 lines and the v2 "0::" line of
     * /proc/self/cgroup alike): with cgroup accounting there must be some,
     * so the check below cannot pass by looking where nothing ever was. */
    char made[MAX_CG][1200];
    int n_made = pool_groups_now(made);
    ok(acct_auto == SANDBOX_ACCT_RLIMITS || n_made > 0,
       "the pool's cgroups are found before pool_free (%d, accounting %s)", n_made,
       sandbox_accounting_name(acct_auto));
    sandbox_pool_free(pool);
    pool = NULL;
    int n_gone = 0;
    for (int i = 0; i < n_made; i++) {
        if (access(made[i], F_OK) != 0 && errno == ENOENT)
            n_gone++;
        else
            printf("# left: %s\n", made[i]);
    }
    t_rlimits_mode();
    t_crash();
    /* nothing of ours is left in any cgroup hierarchy */
    bool left = cgroup_left_of(getpid());
    ok(n_gone == n_made && !left, "pool_free removed every cgroup it made (%d of %d)", n_gone,
       n_made);
    cleanup();
    struct stat st;
    ok(stat(T, &st) < 0 && stray_mounts() == 0, "the test directory and its mounts are gone");
    return tap_done();
}
