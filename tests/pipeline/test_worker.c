/* test_worker.c — the worker pipeline against a real store, a real Nix set
 * (busybox, realised with the builder library) and the real sandbox, without
 * the HTTP half: submissions are enqueued with store_submission_enqueue, a
 * forked worker_run() runs them, and the results are read back from the store.
 *
 * Prints TAP. Leaves nothing behind: the worker is stopped with SIGTERM (and
 * killed if it lingers), its boxes are removed, the temporary state dir too. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "builder.h"
#include "cleanup.h"
#include "config.h"
#include "hash.h"
#include "jsonutil.h"
#include "store.h"
#include "../../daemon/roles.h"
#include "../../daemon/supervisor.h"
#include "../lib/tap.h"

static config *cfg;
static store *st;
static char state_dir[256];
static char depset_key[65];
static char *depset_spec;
static pid_t worker_pid;

/* ---- building requests ---- */

static json_t *full_limits(long cpu_ms, long wall_ms, long memory_kib, long output_bytes)
{
    return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "cpu_ms", cpu_ms, "wall_ms", wall_ms,
                     "memory_kib", memory_kib, "processes", 64, "output_bytes", output_bytes,
                     "file_bytes", 1048576, "open_files", 64, "stack_kib", 8192);
}

#define MAX_BLOBS 32
typedef struct {
    store_blob blobs[MAX_BLOBS];
    char *data[MAX_BLOBS];
    size_t n;
} blobs;

/* Adds a blob and returns its sha (borrowed from b). */
static const char *blob_add(blobs *b, const char *data, size_t len)
{
    store_blob *x = &b->blobs[b->n];

    b->data[b->n] = malloc(len + 1);
    memcpy(b->data[b->n], data, len);
    x->data = b->data[b->n];
    x->len = len;
    hash_sha256_hex(data, len, x->sha256);
    b->n++;
    return x->sha256;
}

typedef struct {
    const char *compile;
    const char *run;
    const char *file_name;
    const char *file_content;
    const char *stdin_text;
    const char *expected;
    int n_tests;
    long cpu_ms, wall_ms, memory_kib, output_bytes;
    bool stop_first;
    const char *compare;
    const char *git_url; /* source.git.url, rev HEAD */
} sub_spec;

/* Enqueues; returns the id in id_out. */
static int enqueue(const sub_spec *sp, char id_out[33])
{
    blobs b = {.n = 0};
    _cleanup_json_ json_t *req = json_object();
    json_t *tests = json_array(), *files = json_array();
    store_depset_ref ref = {.spec_json = depset_spec};
    store_submission_new sub = {0};
    int n = sp->n_tests ? sp->n_tests : 1, r;

    memcpy(ref.key, depset_key, sizeof(ref.key));
    if (sp->file_name) {
        const char *sha = blob_add(&b, sp->file_content, strlen(sp->file_content));
        json_array_append_new(files,
                              json_pack("{s:s,s:s,s:i,s:b}", "name", sp->file_name, "blob", sha,
                                        "size", (int)strlen(sp->file_content), "executable", 0));
    }
    for (int i = 0; i < n; i++) {
        json_t *t =
            json_pack("{s:s+,s:[],s:o}", "name", "t", i == 0 ? "1" : "n", "args", "limits",
                      full_limits(sp->cpu_ms ? sp->cpu_ms : 2000, sp->wall_ms ? sp->wall_ms : 5000,
                                  sp->memory_kib ? sp->memory_kib : 262144,
                                  sp->output_bytes ? sp->output_bytes : 1048576));
        json_object_set_new(t, "stdin_blob",
                            sp->stdin_text
                                ? json_string(blob_add(&b, sp->stdin_text, strlen(sp->stdin_text)))
                                : json_null());
        json_object_set_new(t, "expected_blob",
                            sp->expected
                                ? json_string(blob_add(&b, sp->expected, strlen(sp->expected)))
                                : json_null());
        json_array_append_new(tests, t);
    }
    json_object_set_new(req, "profile", json_null());
    json_object_set_new(req, "packages", json_pack("[s]", "busybox"));
    json_object_set_new(req, "files", files);
    json_object_set_new(req, "compile", jsonutil_str_or_null(sp->compile));
    json_object_set_new(req, "run", json_string(sp->run));
    json_object_set_new(req, "env", json_object());
    json_object_set_new(req, "tests", tests);
    json_object_set_new(req, "limits",
                        json_pack("{s:o,s:o}", "compile",
                                  full_limits(10000, 20000, 524288, 1048576), "run",
                                  full_limits(2000, 5000, 262144, 1048576)));
    json_object_set_new(req, "compare",
                        json_string(sp->compare ? sp->compare : "trailing_whitespace"));
    json_object_set_new(req, "stop_on_first_failure", json_boolean(sp->stop_first));
    json_object_set_new(req, "callback_url", json_null());
    if (sp->git_url)
        json_object_set_new(
            req, "source",
            json_pack("{s:{s:s,s:s,s:s}}", "git", "url", sp->git_url, "rev", "HEAD", "subdir", ""));

    _cleanup_free_ char *text = jsonutil_dump(req);
    sub.request_json = text;
    sub.depset = &ref;
    sub.blobs = b.blobs;
    sub.n_blobs = b.n;
    sub.n_tests = n;
    r = store_submission_enqueue(st, &sub);
    for (size_t i = 0; i < b.n; i++)
        free(b.data[i]);
    if (r < 0) {
        fprintf(stderr, "# enqueue: %s\n", store_last_error(st));
        return r;
    }
    memcpy(id_out, sub.id, 33);
    return 0;
}

static bool terminal(const char *state)
{
    return state && strcmp(state, "queued") != 0 && strcmp(state, "running") != 0 &&
           strcmp(state, "waiting_deps") != 0;
}

/* Waits for a terminal state; returns the submission (new reference) or NULL. */
static json_t *wait_done(const char *id, int timeout_s)
{
    time_t end = time(NULL) + timeout_s;

    while (time(NULL) < end) {
        json_t *o = NULL;
        if (store_submission_get(st, id, &o) == 0 &&
            terminal(json_string_value(json_object_get(o, "state"))))
            return o;
        json_decref(o);
        usleep(20000);
    }
    return NULL;
}

static const char *sget(json_t *o, const char *path)
{
    /* "a.b.0.c": objects by key, arrays by index */
    char buf[256], *save = NULL;
    json_t *cur = o;

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *t = strtok_r(buf, ".", &save); t && cur; t = strtok_r(NULL, ".", &save))
        cur = json_is_array(cur) ? json_array_get(cur, strtoul(t, NULL, 10))
                                 : json_object_get(cur, t);
    if (json_is_string(cur))
        return json_string_value(cur);
    return cur ? (json_is_null(cur) ? "null" : "?") : "(absent)";
}

static json_t *jget(json_t *o, const char *path)
{
    char buf[256], *save = NULL;
    json_t *cur = o;

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *t = strtok_r(buf, ".", &save); t && cur; t = strtok_r(NULL, ".", &save))
        cur = json_is_array(cur) ? json_array_get(cur, strtoul(t, NULL, 10))
                                 : json_object_get(cur, t);
    return cur;
}

/* The accounting a sandbox pool really takes on this machine, as
 * `farm-sandbox --check --json` finds by making one (argv[1]); "" if unknown.
 * A memory limit is named by a cgroup only where a pool has one. */
static char accounting[32];

static void find_accounting(const char *farm_sandbox)
{
    char cmd[1024], out[8192];
    size_t n;
    FILE *p;

    snprintf(cmd, sizeof(cmd), "'%s' --uid %d --check --json 2>/dev/null", farm_sandbox,
             65500 + (int)(getpid() % 400));
    p = popen(cmd, "r");
    n = p ? fread(out, 1, sizeof(out) - 1, p) : 0;
    if (p)
        pclose(p);
    out[n] = '\0';
    /* "accounting": "cgroup-v1" (the pool's; accounting_expected comes first) */
    const char *a = strstr(out, "\"accounting\": \"");
    if (a)
        sscanf(a + 15, "%31[^\"]", accounting);
}

/* Runs one case: enqueue, wait, check state and first test verdict. */
static json_t *run_case(const char *name, const sub_spec *sp, const char *state,
                        const char *verdict)
{
    char id[33];
    json_t *o;

    if (enqueue(sp, id) < 0) {
        ok(false, "%s: enqueue", name);
        return NULL;
    }
    o = wait_done(id, 60);
    if (!o) {
        ok(false, "%s: did not finish in 60 s", name);
        return NULL;
    }
    ok(strcmp(sget(o, "state"), state) == 0 &&
           (!verdict || strcmp(sget(o, "verdict"), verdict) == 0),
       "%s: state=%s verdict=%s (want %s/%s)", name, sget(o, "state"), sget(o, "verdict"), state,
       verdict ? verdict : "-");
    return o;
}

static int count_events(const char *id, const char *type, const char *stage)
{
    _cleanup_json_ json_t *ev = NULL;
    size_t i;
    json_t *e;
    int n = 0;

    if (store_submission_events(st, id, 0, &ev) < 0)
        return -1;
    json_array_foreach(ev, i, e)
    {
        if (strcmp(sget(e, "type"), type) != 0)
            continue;
        if (stage && strcmp(sget(e, "data.stage"), stage) != 0)
            continue;
        n++;
    }
    return n;
}

/* ---- the worker ---- */

static void start_worker(void)
{
    worker_pid = fork();
    if (worker_pid == 0) {
        static volatile sig_atomic_t stop;
        supervisor_install_stop_handlers(&stop);
        fflush(NULL);
        /* exit, not _exit: the sanitizer build checks the worker for leaks. */
        exit(worker_run(cfg, 0, &stop) < 0 ? 1 : 0);
    }
}

static int stop_worker(void)
{
    int status = 0;

    if (worker_pid <= 0)
        return 0;
    kill(worker_pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(worker_pid, &status, WNOHANG) == worker_pid) {
            worker_pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        usleep(50000);
    }
    kill(worker_pid, SIGKILL);
    waitpid(worker_pid, &status, 0);
    worker_pid = 0;
    return -1;
}

static void cleanup(void)
{
    char cmd[1200];

    stop_worker();
    store_close(st);
    st = NULL;
    config_free(cfg);
    cfg = NULL;
    free(depset_spec);
    if (state_dir[0]) {
        snprintf(cmd, sizeof(cmd),
                 "grep -o ' %s[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l "
                 "2>/dev/null; rm -rf '%s'",
                 state_dir, state_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "# cleanup of %s failed\n", state_dir);
    }
}

/* worker-pg (FARM_TEST_DB_URL, tests/lib/pgserver.py): a database of this
 * run's own on that server, into db; 0 or -EIO. */
static int make_pg_database(const char *base, char *db, size_t len)
{
    char admin[600], sql[64];
    snprintf(admin, sizeof(admin), "%s dbname=postgres", base);
    snprintf(sql, sizeof(sql), "CREATE DATABASE w_%d", (int)getpid());
    PGconn *c = PQconnectdb(admin);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "# %s: %s\n", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    snprintf(db, len, "%s dbname=w_%d", base, (int)getpid());
    return ok ? 0 : -EIO;
}

static int setup(void)
{
    char err[1024], db[600], uid[16];
    _cleanup_json_ json_t *names = json_pack("[s]", "busybox");
    _cleanup_json_ json_t *set = NULL;
    static const char *const sets[][2] = {
        {"lease.ms", "4000"},
        {"lease.renew_ms", "500"},
        {"queue.poll_ms", "100"},
        {"log.level", "warning"},
        {"worker.stop_grace_ms", "3000"},
        {"worker.max_result_output_bytes", "4096"},
        {"git.allow_local", "true"}, /* the git source case uses a local repository */
    };

    snprintf(state_dir, sizeof(state_dir), "/tmp/farm-pipeline-XXXXXX");
    if (!mkdtemp(state_dir)) {
        state_dir[0] = '\0';
        return -errno;
    }
    chmod(state_dir, 0755);
    if (config_new_default(&cfg, err, sizeof(err)) < 0 ||
        config_set(cfg, "state_dir", state_dir, err, sizeof(err)) < 0) {
        fprintf(stderr, "# config: %s\n", err);
        return -EINVAL;
    }
    for (size_t i = 0; i < sizeof(sets) / sizeof(*sets); i++)
        config_set(cfg, sets[i][0], sets[i][1], err, sizeof(err));
    /* Own sandbox uids, apart from other farms tests run at the same time. */
    snprintf(uid, sizeof(uid), "%d", 63000 + (int)(getpid() % 250) * 8 + 4);
    config_set(cfg, "worker.first_uid", uid, err, sizeof(err));
    /* Before the set is realised: it is recorded in the store db names. */
    const char *pg = getenv("FARM_TEST_DB_URL");
    if (pg && pg[0]) {
        if (make_pg_database(pg, db, sizeof(db)) < 0 ||
            config_set(cfg, "db.url", db, err, sizeof(err)) < 0)
            return -EIO;
    } else {
        snprintf(db, sizeof(db), "%s/farm.db", state_dir);
    }
    if (builder_realise_local(cfg, names, &set, err, sizeof(err)) < 0) {
        fprintf(stderr, "# realise busybox: %s\n", err);
        return -EIO;
    }
    snprintf(depset_key, sizeof(depset_key), "%s", sget(set, "key"));
    depset_spec = jsonutil_dump(jget(set, "spec"));
    if (store_open(db, state_dir, &st, err, sizeof(err)) < 0) {
        fprintf(stderr, "# store: %s\n", err);
        return -EIO;
    }
    return 0;
}

int main(int argc, char **argv)
{
    json_t *o;
    char id[33];

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1)
        find_accounting(argv[1]);
    if (setup() < 0) {
        printf("1..1\nnot ok 1 - setup\n");
        cleanup();
        return 1;
    }
    start_worker();

    o = run_case("hello", &(sub_spec){.run = "echo hello", .expected = "hello\n"}, "finished",
                 "accepted");
    if (o)
        ok(strcmp(sget(o, "tests.0.stdout"), "hello\n") == 0 &&
               strcmp(sget(o, "tests.0.encoding"), "utf8") == 0,
           "hello: stdout \"%.*s\" (to its first newline: TAP is one line)",
           (int)strcspn(sget(o, "tests.0.stdout"), "\n"), sget(o, "tests.0.stdout"));
    json_decref(o);

    o = run_case("script file",
                 &(sub_spec){.run = "sh main.sh",
                             .file_name = "main.sh",
                             .file_content = "read x; echo $((x*2))\n",
                             .stdin_text = "21\n",
                             .expected = "42"},
                 "finished", "accepted");
    json_decref(o);

    json_decref(run_case("wrong answer", &(sub_spec){.run = "echo 4", .expected = "5\n"},
                         "finished", "wrong_answer"));
    json_decref(run_case("exact compare",
                         &(sub_spec){.run = "echo 4", .expected = "4", .compare = "exact"},
                         "finished", "wrong_answer"));

    o = run_case("exit code", &(sub_spec){.run = "exit 3"}, "finished", "runtime_error");
    if (o)
        ok(json_integer_value(jget(o, "tests.0.exit_code")) == 3, "exit code: 3");
    json_decref(o);

    o = run_case("signal", &(sub_spec){.run = "kill -SEGV $$"}, "finished", "runtime_error");
    if (o)
        ok(strcmp(sget(o, "tests.0.signal"), "SIGSEGV") == 0, "signal: %s",
           sget(o, "tests.0.signal"));
    json_decref(o);

    o = run_case("busy loop", &(sub_spec){.run = "while :; do :; done", .cpu_ms = 300}, "finished",
                 "time_limit");
    json_decref(o);
    o = run_case("sleeping", &(sub_spec){.run = "sleep 30", .wall_ms = 400}, "finished",
                 "time_limit");
    json_decref(o);

    /* With cgroups the tree is killed and the verdict names memory; under
     * rlimits (no usable cgroup here) awk's allocation fails and it dies of it. */
    printf("# sandbox accounting here: %s\n", accounting[0] ? accounting : "unknown");
    o = run_case("memory",
                 &(sub_spec){.run = "awk 'BEGIN { s = \"xxxxxxxx\"; while (1) s = s s }'",
                             .memory_kib = 32768},
                 "finished", strcmp(accounting, "rlimits") ? "memory_limit" : "runtime_error");
    json_decref(o);

    o = run_case("output flood", &(sub_spec){.run = "yes", .output_bytes = 10000}, "finished",
                 "output_limit");
    if (o)
        ok(json_is_true(jget(o, "tests.0.stdout_truncated")) &&
               strlen(sget(o, "tests.0.stdout")) <= 10000,
           "output flood: truncated to %zu bytes", strlen(sget(o, "tests.0.stdout")));
    json_decref(o);

    o = run_case("non-utf8", &(sub_spec){.run = "printf '\\377\\376ok'"}, "finished", "accepted");
    if (o)
        ok(strcmp(sget(o, "tests.0.encoding"), "base64") == 0 &&
               strcmp(sget(o, "tests.0.stdout"), "//5vaw==") == 0,
           "non-utf8: %s %s", sget(o, "tests.0.encoding"), sget(o, "tests.0.stdout"));
    json_decref(o);

    /* Compiled once: the compile step appends to a file; every test sees one line. */
    if (enqueue(&(sub_spec){.compile = "echo built >> count.txt",
                            .run = "cat count.txt",
                            .expected = "built\n",
                            .n_tests = 5},
                id) == 0 &&
        (o = wait_done(id, 60))) {
        ok(strcmp(sget(o, "verdict"), "accepted") == 0 && json_array_size(jget(o, "tests")) == 5,
           "compile once: %s with %zu tests", sget(o, "verdict"),
           json_array_size(jget(o, "tests")));
        ok(count_events(id, "stage", "compiling") == 1 && count_events(id, "test", NULL) == 5,
           "compile once: %d compile events, %d test events",
           count_events(id, "stage", "compiling"), count_events(id, "test", NULL));
        json_decref(o);
    } else {
        ok(false, "compile once: did not finish");
    }

    o = run_case("compile error",
                 &(sub_spec){.compile = "echo oops >&2; exit 1", .run = "echo never"},
                 "compile_error", NULL);
    if (o)
        ok(strstr(sget(o, "result.compile.stderr"), "oops") != NULL ||
               strstr(sget(o, "compile.stderr"), "oops") != NULL,
           "compile error: stderr kept");
    json_decref(o);

    o = run_case("box is read-only in tests", &(sub_spec){.run = "touch x || echo ro"}, "finished",
                 "accepted");
    if (o)
        ok(strstr(sget(o, "tests.0.stdout"), "ro") != NULL, "read-only box: %s",
           sget(o, "tests.0.stdout"));
    json_decref(o);

    o = run_case("stop on first failure",
                 &(sub_spec){.run = "exit 1", .n_tests = 4, .stop_first = true}, "finished",
                 "runtime_error");
    if (o)
        ok(json_array_size(jget(o, "tests")) == 1, "stop on first failure: %zu tests ran",
           json_array_size(jget(o, "tests")));
    json_decref(o);

    /* Cancel while running: the renewer sees -ECANCELED and kills the step. */
    if (enqueue(&(sub_spec){.run = "sleep 30", .wall_ms = 60000, .cpu_ms = 60000}, id) == 0) {
        json_t *cur = NULL;
        for (int i = 0; i < 200; i++) {
            store_submission_get(st, id, &cur);
            bool running = strcmp(sget(cur, "state"), "running") == 0;
            json_decref(cur);
            cur = NULL;
            if (running)
                break;
            usleep(20000);
        }
        usleep(300000);
        store_submission_cancel(st, id);
        o = wait_done(id, 20);
        ok(o && strcmp(sget(o, "state"), "cancelled") == 0, "cancel while running: %s",
           o ? sget(o, "state") : "timeout");
        json_decref(o);
    }

    /* The result's output budget: 20 tests of 1000 bytes keep 4096 in all. */
    o = run_case("output budget", &(sub_spec){.run = "head -c 1000 /dev/zero", .n_tests = 20},
                 "finished", "accepted");
    if (o) {
        json_t *tests = jget(o, "tests");
        size_t kept = 0, i;
        json_t *t;
        bool last_cut = json_is_true(jget(o, "tests.19.stdout_truncated"));
        json_array_foreach(tests, i, t) kept += strlen(sget(t, "stdout"));
        ok(json_array_size(tests) == 20 && last_cut && kept <= 4096 * 4 / 3 + 64,
           "output budget: %zu bytes kept over 20 tests, last cut=%d", kept, last_cut);
    }
    json_decref(o);

    /* A git source: a local repository checked out into the box. */
    {
        char repo[400], cmd[1200];
        snprintf(repo, sizeof(repo), "%s/repo", state_dir);
        snprintf(cmd, sizeof(cmd),
                 "set -e; mkdir -p %s; cd %s; git init -q; echo 'echo from-git' > main.sh; "
                 "git add main.sh; git -c user.name=t -c user.email=t@t commit -qm init",
                 repo, repo);
        if (system(cmd) != 0) {
            ok(false, "git source: making the repository");
        } else {
            o = run_case("git source", &(sub_spec){.run = "sh main.sh", .git_url = repo},
                         "finished", "accepted");
            if (o)
                ok(strcmp(sget(o, "tests.0.stdout"), "from-git\n") == 0, "git source: stdout %s",
                   sget(o, "tests.0.stdout"));
            json_decref(o);
        }
    }

    ok(stop_worker() == 0, "worker stops cleanly on SIGTERM");
    int rc = tap_done();
    cleanup();
    return rc;
}
