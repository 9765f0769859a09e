/* bench/sandbox.c — per-run overhead of the sandbox against its floor and peer.
 *
 * In one run, for a static true-like program and a static hello world:
 *   floor      fork + execve + waitpid of the program itself
 *   bwrap      bubblewrap with the equivalent isolation (new namespaces,
 *              read-only store path, /proc, minimal /dev, tmpfs /tmp, writable box)
 *   command    farm-sandbox as a command (cgroups as found, and rlimits only)
 *   resident   the library's pool, as the worker uses it (sandbox_run)
 * prints medians and ratios, the cost of each setup step (from the result's
 * step_ns), and the sandboxed runs per second with one slot per CPU.
 *
 * usage: bench-sandbox FARM_SANDBOX TRUE_PROGRAM HELLO_PROGRAM [RUNS] */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int runs = 200;
static char tmpdir[] = "/tmp/nixfarm-bench-XXXXXX";
static char store_true[64] = "/nix/store/00000000000000000000000000000001-true";
static char store_hello[64] = "/nix/store/00000000000000000000000000000002-hello";
static const char *farm_sandbox;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double median_ms(uint64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_u64);
    return (double)v[n / 2] / 1e6;
}

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    char buf[65536];
    ssize_t n;
    while (out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            break;
    close(in);
    if (out >= 0)
        close(out);
    return out >= 0 ? 0 : -1;
}

/* Runs argv with stdout/stderr to /dev/null and waits; returns ns or 0 on failure. */
static uint64_t spawn_wait(char *const argv[])
{
    uint64_t t = now_ns();
    pid_t pid = fork();
    if (pid == 0) {
        int dn = open("/dev/null", O_RDWR);
        dup2(dn, 1);
        dup2(dn, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    uint64_t d = now_ns() - t;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? d : 0;
}

static double bench_argv(const char *label, char *const argv[])
{
    uint64_t *v = calloc((size_t)runs, sizeof *v);
    int ok = 0;
    for (int i = 0; i < runs; i++) {
        uint64_t d = spawn_wait(argv);
        if (d)
            v[ok++] = d;
    }
    double m = ok ? median_ms(v, ok) : -1;
    if (ok < runs)
        printf("  (%s: %d of %d runs failed)\n", label, runs - ok, runs);
    free(v);
    return m;
}

static void box_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

static double bench_bwrap(const char *store_path, const char *prog)
{
    char src[512], box[512];
    snprintf(src, sizeof src, "%s%s", tmpdir, store_path);
    box_path(box, sizeof box, "box-bwrap");
    char *argv[] = {"/usr/bin/bwrap",
                    "--unshare-all",
                    "--die-with-parent",
                    "--new-session",
                    "--ro-bind",
                    src,
                    (char *)store_path,
                    "--dev",
                    "/dev",
                    "--proc",
                    "/proc",
                    "--tmpfs",
                    "/tmp",
                    "--bind",
                    box,
                    "/box",
                    "--chdir",
                    "/box",
                    "--clearenv",
                    "--",
                    (char *)prog,
                    NULL};
    return bench_argv("bwrap", argv);
}

static double bench_command(const char *store_path, const char *prog, const char *acct)
{
    char box[512];
    box_path(box, sizeof box, "box-cmd");
    char *argv[] = {(char *)farm_sandbox, "--store-root", tmpdir,       "--store",
                    (char *)store_path,   "--box",        box,          "--accounting",
                    (char *)acct,         "--",           (char *)prog, NULL};
    return bench_argv("farm-sandbox", argv);
}

static uint64_t step_sum[SANDBOX_STEP_COUNT];
static int step_n;

static double bench_resident(struct sandbox_pool *pool, const char *store_path, const char *prog,
                             bool steps)
{
    char box[512];
    box_path(box, sizeof box, "box-res");
    const char *argv[] = {prog, NULL};
    const char *sp[] = {store_path, NULL};
    struct sandbox_config c;
    sandbox_config_init(&c);
    c.argv = argv;
    c.store_root = tmpdir;
    c.store_paths = sp;
    c.box_dir = box;
    c.limits.wall_ms = 10000;
    c.limits.cpu_ms = 5000;
    c.limits.memory_kib = 262144;
    c.limits.processes = 64;
    c.limits.output_bytes = 1 << 20;
    uint64_t *v = calloc((size_t)runs, sizeof *v);
    int ok = 0;
    char err[256];
    for (int i = 0; i < runs; i++) {
        struct sandbox_result r;
        uint64_t t = now_ns();
        int rc = sandbox_run(pool, 0, &c, &r, err, sizeof err);
        uint64_t d = now_ns() - t;
        if (rc == 0 && r.status == SANDBOX_OK) {
            v[ok++] = d;
            if (steps) {
                for (int k = 0; k < SANDBOX_STEP_COUNT; k++)
                    step_sum[k] += r.step_ns[k];
                step_n++;
            }
        } else if (i == 0) {
            printf("  resident run failed: %s %s\n", err, r.message);
        }
        sandbox_result_free(&r);
    }
    double m = ok ? median_ms(v, ok) : -1;
    free(v);
    return m;
}

/* CPU time of the whole host so far (all CPUs, busy: not idle or iowait), from
 * /proc/stat in clock ticks: it counts the kernel's own workers too (a network
 * namespace is torn down by one), which our getrusage would not. */
static uint64_t host_busy_ns(void)
{
    FILE *f = fopen("/proc/stat", "re");
    unsigned long long v[8] = {0};
    if (f) {
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]) != 8)
            memset(v, 0, sizeof v);
        fclose(f);
    }
    long hz = sysconf(_SC_CLK_TCK);
    uint64_t busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return busy * (1000000000ull / (uint64_t)(hz > 0 ? hz : 100));
}

static uint64_t self_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct tp_arg {
    struct sandbox_pool *pool;
    unsigned slot;
    uint64_t until;
    int count;
};

static void *tp_thread(void *p)
{
    struct tp_arg *a = p;
    char box[512], name[32];
    snprintf(name, sizeof name, "box-tp%u", a->slot);
    box_path(box, sizeof box, name);
    const char *argv[] = {"/nix/store/00000000000000000000000000000001-true/bin/true", NULL};
    const char *sp[] = {store_true, NULL};
    struct sandbox_config c;
    sandbox_config_init(&c);
    c.argv = argv;
    c.store_root = tmpdir;
    c.store_paths = sp;
    c.box_dir = box;
    c.limits.wall_ms = 10000;
    c.limits.processes = 64;
    while (now_ns() < a->until) {
        struct sandbox_result r;
        if (sandbox_run(a->pool, a->slot, &c, &r, NULL, 0) == 0 && r.status == SANDBOX_OK)
            a->count++;
        sandbox_result_free(&r);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s FARM_SANDBOX TRUE_PROGRAM HELLO_PROGRAM [RUNS]\n", argv[0]);
        return 2;
    }
    farm_sandbox = argv[1];
    if (argc > 4)
        runs = atoi(argv[4]);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    char p[512];
    snprintf(p, sizeof p, "%s/nix", tmpdir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/nix/store", tmpdir);
    mkdir(p, 0755);
    const char *progs[2] = {argv[2], argv[3]};
    char *stores[2] = {store_true, store_hello};
    const char *names[2] = {"true", "hello"};
    char inside[2][256];
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s%s", tmpdir, stores[i]);
        mkdir(p, 0755);
        snprintf(p, sizeof p, "%s%s/bin", tmpdir, stores[i]);
        mkdir(p, 0755);
        snprintf(p, sizeof p, "%s%s/bin/%s", tmpdir, stores[i], names[i]);
        if (copy_file(progs[i], p) < 0) {
            perror(progs[i]);
            return 2;
        }
        snprintf(inside[i], sizeof inside[i], "%s/bin/%s", stores[i], names[i]);
    }
    const char *boxes[] = {"box-bwrap", "box-cmd", "box-res", "box-tp0",
                           "box-tp1",   "box-tp2", "box-tp3"};
    for (size_t i = 0; i < sizeof boxes / sizeof *boxes; i++) {
        box_path(p, sizeof p, boxes[i]);
        char err[256];
        if (sandbox_box_create(p, 16 << 20, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        chmod(p, 0777); /* bwrap's user is root here; the box must be writable */
    }
    struct sandbox_pool_options po;
    sandbox_pool_options_init(&po);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    po.slots = (unsigned)(ncpu > 1 ? ncpu : 1);
    struct sandbox_pool *pool;
    char err[256];
    if (sandbox_pool_new(&po, &pool, err, sizeof err) < 0) {
        fprintf(stderr, "pool: %s\n", err);
        return 2;
    }
    printf("sandbox benchmark: %d runs each, medians of the whole run, accounting %s, %ld CPUs\n",
           runs, sandbox_accounting_name(sandbox_pool_accounting(pool)), ncpu);
    printf("%-7s %10s %10s %10s %12s %12s %10s\n", "program", "floor", "bwrap", "command",
           "command-rl", "resident", "");
    for (int i = 0; i < 2; i++) {
        char hostprog[1024];
        snprintf(hostprog, sizeof hostprog, "%s%s", tmpdir, inside[i]);
        char *fargv[] = {hostprog, NULL};
        bench_resident(pool, stores[i], inside[i], false); /* warm up */
        double floor = bench_argv("floor", fargv);
        double bw = bench_bwrap(stores[i], inside[i]);
        double cmd = bench_command(stores[i], inside[i], "auto");
        double cmdrl = bench_command(stores[i], inside[i], "rlimits");
        double res = bench_resident(pool, stores[i], inside[i], i == 0);
        printf("%-7s %8.3fms %8.3fms %8.3fms %10.3fms %10.3fms\n", names[i], floor, bw, cmd, cmdrl,
               res);
        printf("%-7s ratios: resident/floor %.2fx (+%.3f ms), bwrap/resident %.2fx, "
               "bwrap/command %.2fx, bwrap/command-rlimits %.2fx\n",
               "", res / floor, res - floor, bw / res, bw / cmd, bw / cmdrl);
    }
    if (step_n) {
        static const char *const sn[] = {"clone (slot thread, namespaces)",
                                         "keeper settle",
                                         "mounts + pivot_root",
                                         "fork of target",
                                         "uid + userns + caps",
                                         "seccomp load",
                                         "teardown (slot clean)"};
        printf("resident steps (mean of %d runs of true):\n", step_n);
        for (int k = 0; k < SANDBOX_STEP_COUNT; k++)
            printf("  %-34s %8.1f us\n", sn[k], (double)step_sum[k] / step_n / 1000.0);
    }
    /* What a one-shot command pays on top of a resident run: making and
     * freeing a pool (filter, network namespace, cgroups, slot thread). */
    for (int acct = 0; acct < 2; acct++) {
        uint64_t tn[21], tf[21];
        int k = 0;
        for (int i = 0; i < 21; i++) {
            struct sandbox_pool_options co;
            sandbox_pool_options_init(&co);
            co.first_uid = 62100;
            co.accounting = acct ? SANDBOX_ACCT_RLIMITS : SANDBOX_ACCT_AUTO;
            struct sandbox_pool *cp;
            uint64_t t0 = now_ns();
            if (sandbox_pool_new(&co, &cp, NULL, 0) < 0)
                break;
            uint64_t t1 = now_ns();
            sandbox_pool_free(cp);
            tn[k] = t1 - t0;
            tf[k++] = now_ns() - t1;
        }
        if (k)
            printf("cold pool (%s): new %.3f ms, free %.3f ms (medians)\n",
                   acct ? "rlimits" : "cgroups", median_ms(tn, k), median_ms(tf, k));
    }
    /* throughput: one thread per slot, 2 s */
    pthread_t th[16];
    struct tp_arg ta[16];
    unsigned ns = sandbox_pool_slots(pool) > 4 ? 4 : sandbox_pool_slots(pool);
    uint64_t t0 = now_ns(), until = t0 + 2000000000ull;
    uint64_t busy0 = host_busy_ns(), self0 = self_cpu_ns();
    for (unsigned i = 0; i < ns; i++) {
        ta[i] = (struct tp_arg){.pool = pool, .slot = i, .until = until};
        pthread_create(&th[i], NULL, tp_thread, &ta[i]);
    }
    int total = 0;
    for (unsigned i = 0; i < ns; i++) {
        pthread_join(th[i], NULL);
        total += ta[i].count;
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    uint64_t busy = host_busy_ns() - busy0, self = self_cpu_ns() - self0;
    printf("throughput: %.0f sandboxed runs/s of true with %u slots (goal >= 400)\n", total / secs,
           ns);
    if (total)
        printf("CPU per run during it: supervisor process %.3f ms, whole host %.3f ms "
               "(kernel workers, other load included)\n",
               (double)self / total / 1e6, (double)busy / total / 1e6);
    sandbox_pool_free(pool);
    for (size_t i = 0; i < sizeof boxes / sizeof *boxes; i++) {
        box_path(p, sizeof p, boxes[i]);
        sandbox_box_destroy(p, NULL, 0);
    }
    int dfd = open(tmpdir, O_RDONLY | O_DIRECTORY);
    (void)dfd;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return 0;
}
