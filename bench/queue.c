/* queue.c — benchmark of the submission queue (bench/, not run by meson test).
 *
 * 1. Throughput: N processes (2 and 4) each loop enqueue -> claim -> finish
 *    through the store (three transactions per cycle, as farmd does), then
 *    drain. Beside it, the floor measured in the same run on the same kind of
 *    file: the same number of plain SQLite transactions of one INSERT + one
 *    UPDATE each, same pragmas, same process count. Prints cycles/s, floor
 *    tx/s and the ratio (goal: >= 0.5).
 * 2. Wake-up latency: a claimer sleeps in store_wait on its doorbell; a
 *    producer enqueues one item at a time. Latency = claimer wake time minus
 *    the time the producer called store_submission_enqueue (an upper bound of
 *    "commit to wake": it includes the commit itself). p50/p99 (goal p50 < 1 ms).
 *
 * 3. Pages: WAL frames (b-tree pages) each transaction of a cycle writes, one
 *    process, no checkpoints, beside a floor transaction's: the I/O a cycle
 *    costs, without the noise of the timings.
 *
 * On PostgreSQL (FARM_TEST_DB_URL set, as tests/lib/pgserver.py does for the
 * queue-pg benchmark) the same cycles run against a database on that server,
 * and the floor is that server's own: one single-statement transaction (an
 * autocommit INSERT) per floor transaction, same process count. Pages are
 * SQLite's WAL frames and are measured on SQLite only.
 *
 * Usage: bench-queue [cycles (default 4000)] [samples (default 300)] [procs (default 1,4,16)] */
#include <errno.h>
#include <stdbool.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "store.h"
#include "store_internal.h" /* s->db, for the WAL frame counts only */

static char bench_root[256];
static const char *pg_base; /* FARM_TEST_DB_URL: run on PostgreSQL */
static int bench_pid;       /* the main process's, in database names */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_cb(const char *p, const struct stat *sb, int f, struct FTW *ftw)
{
    (void)sb;
    (void)f;
    (void)ftw;
    remove(p);
    return 0;
}

static void die(const char *what, int r)
{
    fprintf(stderr, "bench-queue: %s: %s\n", what, strerror(r < 0 ? -r : r));
    _exit(1);
}

/* The database of a bench directory: its farm.db, or on PostgreSQL a
 * database named after the directory (made by bench_prepare). */
static void bench_db(const char *dir, char *out, size_t len)
{
    if (!pg_base) {
        snprintf(out, len, "%s/farm.db", dir);
        return;
    }
    const char *tag = strrchr(dir, '/');
    char name[64];
    snprintf(name, sizeof(name), "bench_%d_%s", bench_pid, tag ? tag + 1 : dir);
    for (char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
            *c = '_';
    snprintf(out, len, "%s dbname=%s", pg_base, name);
}

/* Runs sql on the PostgreSQL database at url; exits on failure. */
static void pg_exec(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "bench-queue: %s: %s\n", sql, PQerrorMessage(c));
        _exit(1);
    }
    PQclear(r);
    PQfinish(c);
}

static store *bench_open(const char *dir)
{
    char db[512], err[512];
    bench_db(dir, db, sizeof(db));
    store *s = NULL;
    int r = store_open_opts(db, dir, 30000, 3, &s, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "bench-queue: %s\n", err);
        _exit(1);
    }
    return s;
}

static char set_spec[] = "{\"packages\":[\"gcc\"],\"set\":\"bench\"}";
static store_depset_ref set_ref;

/* A fresh directory with a store whose one dependency set is ready. */
static void bench_prepare(const char *dir)
{
    if (mkdir(dir, 0755) < 0)
        die("mkdir", errno);
    if (pg_base) {
        char url[600], admin[600], sql[200];
        bench_db(dir, url, sizeof(url));
        snprintf(admin, sizeof(admin), "%s dbname=postgres", pg_base);
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", strrchr(url, '=') + 1);
        pg_exec(admin, sql);
    }
    store *s = bench_open(dir);
    hash_sha256_hex(set_spec, strlen(set_spec), set_ref.key);
    set_ref.spec_json = set_spec;
    store_depset_ensure(s, &set_ref);
    store_depset_claimed c;
    if (store_depset_claim(s, "bench", 60000, &c) != 1)
        die("depset claim", EIO);
    store_depset_claimed_done(&c);
    json_t *p = json_pack("[s]", "/nix/store/x-env");
    int r = store_depset_ready(s, set_ref.key, "bench", p, p, 1, "/tmp/root", "");
    json_decref(p);
    if (r < 0)
        die("depset ready", r);
    store_close(s);
}

/* ---- throughput ---- */

/* combined: finish the item and claim the next in one transaction
 * (store_submission_finish_and_claim), two commits per cycle instead of three. */
static void cycler(const char *dir, int k, int cycles, int start_fd, bool combined)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(1); /* the parent died before prctl */
    store *s = bench_open(dir);
    char owner[32];
    snprintf(owner, sizeof(owner), "bench-%d", k);
    char go;
    if (read(start_fd, &go, 1) != 1)
        _exit(1);
    store_submission_new n = {.request_json = "{\"run\":\"./main\"}", .depset = &set_ref};
    store_claimed held; /* combined mode: the item claimed by the last finish */
    bool holding = false;
    for (int i = 0; i < cycles; i++) {
        n.id[0] = '\0';
        int r = store_submission_enqueue(s, &n);
        if (r < 0)
            die(store_last_error(s), r);
        store_claimed c;
        if (combined && holding) {
            r = store_submission_finish_and_claim(s, held.id, owner, "finished", "accepted", NULL,
                                                  60000, &c);
            store_claimed_done(&held);
            holding = false;
        } else {
            r = store_submission_claim(s, owner, 60000, &c);
        }
        if (r < 0)
            die("claim", r);
        if (r == 1 && combined) {
            held = c;
            holding = true;
        } else if (r == 1) {
            r = store_submission_finish(s, c.id, owner, "finished", "accepted", NULL);
            store_claimed_done(&c);
            if (r < 0)
                die("finish", r);
        }
    }
    if (holding) {
        int r = store_submission_finish(s, held.id, owner, "finished", "accepted", NULL);
        store_claimed_done(&held);
        if (r < 0)
            die("finish", r);
    }
    for (;;) { /* drain what others left */
        store_claimed c;
        int r = store_submission_claim(s, owner, 60000, &c);
        if (r < 0)
            die("claim", r);
        if (r == 0)
            break;
        r = store_submission_finish(s, c.id, owner, "finished", "accepted", NULL);
        store_claimed_done(&c);
        if (r < 0)
            die("finish", r);
    }
    store_close(s);
    _exit(0);
}

/* PostgreSQL's floor: one autocommit INSERT per transaction, prepared. */
static void pg_floorer(const char *url, int txs, int start_fd)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        _exit(1);
    PGresult *p =
        PQprepare(c, "ins", "INSERT INTO q (state, payload) VALUES ('queued', $1)", 1, NULL);
    if (PQresultStatus(p) != PGRES_COMMAND_OK)
        _exit(2);
    PQclear(p);
    char go;
    if (read(start_fd, &go, 1) != 1)
        _exit(1);
    const char *v[1] = {"{\"run\":\"./main\"}"};
    for (int i = 0; i < txs; i++) {
        PGresult *r = PQexecPrepared(c, "ins", 1, v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            _exit(3);
        PQclear(r);
    }
    PQfinish(c);
    _exit(0);
}

/* The floor: one INSERT + one UPDATE per transaction, same pragmas. */
static void floorer(const char *db, int txs, int start_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(1); /* the parent died before prctl */
    if (pg_base)
        pg_floorer(db, txs, start_fd);
    sqlite3 *h = NULL;
    if (sqlite3_open(db, &h) != SQLITE_OK)
        _exit(1);
    sqlite3_busy_timeout(h, 30000);
    sqlite3_exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON",
                 NULL, NULL, NULL);
    sqlite3_stmt *b, *ins, *upd, *cm;
    sqlite3_prepare_v2(h, "BEGIN IMMEDIATE", -1, &b, NULL);
    sqlite3_prepare_v2(h, "INSERT INTO q (state, payload) VALUES ('queued', ?1)", -1, &ins, NULL);
    sqlite3_prepare_v2(h, "UPDATE q SET state = 'done' WHERE id = ?1", -1, &upd, NULL);
    sqlite3_prepare_v2(h, "COMMIT", -1, &cm, NULL);
    char go;
    if (read(start_fd, &go, 1) != 1)
        _exit(1);
    for (int i = 0; i < txs; i++) {
        if (sqlite3_step(b) != SQLITE_DONE)
            _exit(2);
        sqlite3_reset(b);
        sqlite3_bind_text(ins, 1, "{\"run\":\"./main\"}", -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE)
            _exit(3);
        sqlite3_reset(ins);
        sqlite3_bind_int64(upd, 1, sqlite3_last_insert_rowid(h));
        if (sqlite3_step(upd) != SQLITE_DONE)
            _exit(4);
        sqlite3_reset(upd);
        if (sqlite3_step(cm) != SQLITE_DONE)
            _exit(5);
        sqlite3_reset(cm);
    }
    sqlite3_finalize(b);
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    sqlite3_finalize(cm);
    sqlite3_close(h);
    _exit(0);
}

/* CPU seconds (user + sys) used by reaped children so far. */
static double children_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Forks nproc children running fn, releases them at once, returns wall
 * seconds; *cpu gets the CPU seconds they used. */
static double run_group(int nproc, void (*body)(int k, int start_fd, void *arg), void *arg,
                        double *cpu)
{
    double cpu0 = children_cpu_s();
    int pfd[2];
    if (pipe(pfd) < 0)
        die("pipe", errno);
    pid_t pids[16];
    for (int k = 0; k < nproc; k++) {
        pids[k] = fork();
        if (pids[k] < 0)
            die("fork", errno);
        if (pids[k] == 0) {
            close(pfd[1]);
            body(k, pfd[0], arg);
            _exit(0);
        }
    }
    close(pfd[0]);
    usleep(200000); /* let every child open its connection */
    double t0 = now_s();
    char go[16] = {0};
    if (nproc < 1 || nproc > 16 || write(pfd[1], go, (size_t)nproc) != (ssize_t)nproc)
        die("write", errno);
    int failed = 0;
    for (int k = 0; k < nproc; k++) {
        int st;
        waitpid(pids[k], &st, 0);
        failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    double t = now_s() - t0;
    *cpu = children_cpu_s() - cpu0;
    close(pfd[1]);
    if (failed)
        die("a child failed", EIO);
    return t;
}

typedef struct {
    char dir[300];
    int per_proc;
    bool combined;
} group_arg;

static void cycler_body(int k, int fd, void *arg)
{
    group_arg *g = arg;
    cycler(g->dir, k, g->per_proc, fd, g->combined);
}

static void floor_body(int k, int fd, void *arg)
{
    (void)k;
    group_arg *g = arg;
    char db[600];
    if (pg_base)
        bench_db(g->dir, db, sizeof(db)); /* table q beside the store's */
    else
        snprintf(db, sizeof(db), "%s/floor.db", g->dir);
    floorer(db, g->per_proc, fd);
}

static void throughput(int nproc, int cycles)
{
    group_arg g = {.per_proc = cycles / nproc};
    snprintf(g.dir, sizeof(g.dir), "%s/tp-%d", bench_root, nproc);
    bench_prepare(g.dir);
    double cpu_store, cpu_floor, cpu_comb;
    double t_store = run_group(nproc, cycler_body, &g, &cpu_store);
    g.combined = true;
    double t_comb = run_group(nproc, cycler_body, &g, &cpu_comb);

    char db[600];
    if (pg_base) {
        bench_db(g.dir, db, sizeof(db));
        pg_exec(db, "CREATE TABLE q (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
                    "state TEXT, payload TEXT)");
    } else {
        snprintf(db, sizeof(db), "%s/floor.db", g.dir);
        sqlite3 *h = NULL;
        sqlite3_open(db, &h);
        sqlite3_exec(h,
                     "PRAGMA journal_mode=WAL; CREATE TABLE q (id INTEGER PRIMARY KEY, state "
                     "TEXT, payload TEXT)",
                     NULL, NULL, NULL);
        sqlite3_close(h);
    }
    double t_floor = run_group(nproc, floor_body, &g, &cpu_floor);

    int total = g.per_proc * nproc;
    double ours = total / t_store, fl = total / t_floor;
    printf("throughput procs=%d cycles=%d store_cycles_per_s=%.0f floor_tx_per_s=%.0f "
           "ratio=%.2f (goal >= 0.50) cpu_us_per_cycle=%.1f floor_cpu_us_per_tx=%.1f "
           "cpu_ratio=%.2f per_transaction_ratio=%.2f (a store cycle commits 3 transactions: "
           "enqueue, claim, finish; per_transaction_ratio compares it with 3 floor "
           "transactions)\n",
           nproc, total, ours, fl, ours / fl, cpu_store * 1e6 / total, cpu_floor * 1e6 / total,
           cpu_floor / cpu_store, 3 * ours / fl);
    double comb = total / t_comb;
    printf("throughput_combined procs=%d cycles=%d store_cycles_per_s=%.0f ratio=%.2f "
           "cpu_us_per_cycle=%.1f cpu_ratio=%.2f (enqueue + finish_and_claim: 2 commits per "
           "cycle)\n",
           nproc, total, comb, comb / fl, cpu_comb * 1e6 / total, cpu_floor / cpu_comb);
}

/* ---- wake-up latency ---- */

typedef struct {
    volatile double t_enqueue; /* producer: just before store_submission_enqueue */
    volatile double t_wake;    /* claimer: store_wait returned */
    volatile int seq_done;     /* claimer: samples handled */
} shared_lat;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void latency(int samples)
{
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/lat", bench_root);
    bench_prepare(dir);
    shared_lat *sh =
        mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        die("mmap", errno);
    memset((void *)sh, 0, sizeof(*sh));
    int ready[2], ack[2];
    if (pipe(ready) < 0 || pipe(ack) < 0)
        die("pipe", errno);
    pid_t pid = fork();
    if (pid < 0)
        die("fork", errno);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
            _exit(1); /* the parent died before prctl */
        store *s = bench_open(dir);
        int r = store_doorbell_listen(s, STORE_ROLE_WORKER);
        if (r < 0)
            die("doorbell", r);
        if (write(ready[1], "r", 1) != 1)
            _exit(1);
        for (int i = 0; i < samples; i++) {
            store_claimed c;
            for (;;) {
                r = store_submission_claim(s, "lat", 60000, &c);
                if (r == 1)
                    break;
                if (r < 0)
                    die("claim", r);
                if (store_wait(s, 10000) == 1)
                    sh->t_wake = now_s();
            }
            store_submission_finish(s, c.id, "lat", "finished", "accepted", NULL);
            store_claimed_done(&c);
            sh->seq_done = i + 1;
            if (write(ack[1], "a", 1) != 1)
                _exit(1);
        }
        store_close(s);
        _exit(0);
    }
    char ch;
    if (read(ready[0], &ch, 1) != 1)
        die("claimer start", EIO);
    store *s = bench_open(dir);
    double *lat = calloc((size_t)samples, sizeof(double));
    int n = 0;
    store_submission_new sub = {.request_json = "{}", .depset = &set_ref};
    for (int i = 0; i < samples; i++) {
        usleep(2000); /* the claimer is asleep in poll again */
        sh->t_wake = 0;
        sub.id[0] = '\0';
        sh->t_enqueue = now_s();
        if (store_submission_enqueue(s, &sub) < 0)
            die(store_last_error(s), EIO);
        if (read(ack[0], &ch, 1) != 1)
            die("claimer died", EIO);
        if (sh->t_wake > 0)
            lat[n++] = (sh->t_wake - sh->t_enqueue) * 1e6;
    }
    waitpid(pid, NULL, 0);
    store_close(s);
    qsort(lat, (size_t)n, sizeof(double), cmp_double);
    if (n)
        printf("wakeup samples=%d p50_us=%.0f p99_us=%.0f max_us=%.0f (goal p50 < 1000; "
               "measured from the enqueue call, so it includes the commit; polling "
               "fallback would average queue.poll_ms/2)\n",
               n, lat[n / 2], lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1], lat[n - 1]);
    else
        printf("wakeup samples=0 (the claimer never slept: no wake-up measured)\n");
    free(lat);
    munmap((void *)sh, sizeof(*sh));
}

/* ---- pages per transaction ---- */

/* Replaces the store's hook (which checkpoints): frames only grow. */
static int frames_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    *(int *)arg = frames;
    return SQLITE_OK;
}

static void pages(void)
{
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/pages", bench_root);
    bench_prepare(dir);
    store *s = bench_open(dir);
    int frames = 0;
    sqlite3_wal_hook(db_sqlite_handle(s->db), frames_hook, &frames);
    store_submission_new n = {.request_json = "{\"run\":\"./main\"}", .depset = &set_ref};
    const int warm = 50, runs = 200;
    long sum[3] = {0, 0, 0};
    for (int i = 0; i < warm + runs; i++) {
        int f0 = frames;
        n.id[0] = '\0';
        if (store_submission_enqueue(s, &n) < 0)
            die(store_last_error(s), EIO);
        int f1 = frames;
        store_claimed c;
        if (store_submission_claim(s, "pages", 60000, &c) != 1)
            die("claim", EIO);
        int f2 = frames;
        int r = store_submission_finish(s, c.id, "pages", "finished", "accepted", NULL);
        store_claimed_done(&c);
        if (r < 0)
            die("finish", r);
        if (i >= warm) {
            sum[0] += f1 - f0;
            sum[1] += f2 - f1;
            sum[2] += frames - f2;
        }
    }
    store_close(s);

    char db[400];
    snprintf(db, sizeof(db), "%s/floor.db", dir);
    sqlite3 *h = NULL;
    if (sqlite3_open(db, &h) != SQLITE_OK)
        die("floor open", EIO);
    sqlite3_exec(h,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE q (id INTEGER "
                 "PRIMARY KEY, state TEXT, payload TEXT)",
                 NULL, NULL, NULL);
    frames = 0;
    sqlite3_wal_hook(h, frames_hook, &frames);
    long fsum = 0;
    for (int i = 0; i < warm + runs; i++) {
        int f0 = frames;
        sqlite3_exec(h,
                     "BEGIN IMMEDIATE; INSERT INTO q (state, payload) VALUES ('queued', "
                     "'{\"run\":\"./main\"}'); UPDATE q SET state = 'done' WHERE id = "
                     "last_insert_rowid(); COMMIT",
                     NULL, NULL, NULL);
        if (i >= warm)
            fsum += frames - f0;
    }
    sqlite3_close(h);
    printf("pages_per_cycle enqueue=%.1f claim=%.1f finish=%.1f total=%.1f floor_tx=%.1f "
           "(WAL frames written per commit, one process, no checkpoint)\n",
           (double)sum[0] / runs, (double)sum[1] / runs, (double)sum[2] / runs,
           (double)(sum[0] + sum[1] + sum[2]) / runs, (double)fsum / runs);
}

static void on_signal(int sig)
{
    nftw(bench_root, rm_cb, 32, FTW_DEPTH | FTW_PHYS); /* children die with us (PDEATHSIG) */
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv)
{
    int cycles = argc > 1 ? atoi(argv[1]) : 4000;
    int samples = argc > 2 ? atoi(argv[2]) : 300;
    if (cycles <= 0 || samples <= 0) {
        fprintf(stderr, "usage: bench-queue [cycles] [samples]\n");
        return 2;
    }
    snprintf(bench_root, sizeof(bench_root), "%s/farm-bench-queue-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(bench_root)) {
        perror("mkdtemp");
        return 1;
    }
    bench_pid = (int)getpid();
    pg_base = getenv("FARM_TEST_DB_URL");
    if (pg_base && !pg_base[0])
        pg_base = NULL;
    if (pg_base)
        printf("bench queue: postgresql (libpq %d), %ld cpus\n", PQlibVersion(),
               sysconf(_SC_NPROCESSORS_ONLN));
    else
        printf("bench queue: sqlite %s, %ld cpus\n", sqlite3_libversion(),
               sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);
    const char *procs = argc > 3 ? argv[3] : "1,4,16";
    pid_t pid = fork(); /* run in a child so the temp dir goes whatever happens */
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
            _exit(1); /* the parent died before prctl */
        for (const char *p = procs; *p;) {
            int n = atoi(p);
            if (n > 0 && n <= 16) {
                throughput(n, cycles);
                fflush(stdout);
            }
            p += strcspn(p, ",");
            p += *p == ',';
        }
        latency(samples);
        if (!pg_base)
            pages();
        fflush(stdout);
        _exit(0);
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    int st = 0;
    waitpid(pid, &st, 0);
    nftw(bench_root, rm_cb, 32, FTW_DEPTH | FTW_PHYS);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
