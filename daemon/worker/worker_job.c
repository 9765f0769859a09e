/* worker_job.c — the pipeline of one claimed submission: box, one compile,
 * every test in a fresh sandbox, verdicts, lease-checked writes, box removal.
 * See worker.h for the theory of operation.
 *
 * Commands become argv as common/cmdargv.h says: plain words are exec'd
 * directly (argv[0] looked up in the set's bin/ on the host: the store is the
 * same path inside), anything else runs as `sh -c` with the set's own sh, else
 * the host's static busybox bound read-only at /.farm/sh. A test's args follow
 * the command's words (or "$@").
 *
 * Host paths. Programs that hard-code /bin/sh (C's system() and popen(),
 * Python's shell=True, GnuCOBOL's cobc, which runs the C compiler through
 * system()) get the set's own sh there, and those that read
 * /usr/share/zoneinfo (Debian's PHP, glibc with TZ set) the set's time zone
 * database when it has one, Debian's gplc its objects at /usr/lib/gprolog,
 * and Debian's nodejs 18 (libnode) the acorn, acorn-walk, cjs-module-lexer
 * and undici trees it loads from /usr/share/nodejs; all bound read-only from
 * the store. They are files of the closure, so the root still holds nothing
 * else.
 *
 * Inside every step: cwd /box; PATH=<set>/bin; HOME and TMPDIR point at
 * writable places; the request's env on top. The compile step gets /box
 * writable; a test gets /box read-only and a fresh writable /scratch. */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../common/cleanup.h"
#include "../../common/cmdargv.h"
#include "../../common/jsonutil.h"
#include "../../common/log.h"
#include "../../sandbox/sandbox.h"
#include "worker_box.h"
#include "verdict.h"
#include "worker_faults.h"
#include "../../common/monotime.h"
#include "worker_live.h"

#define MAX_ENV 256
#define N_ROOT_PATHS 7 /* entries of root_paths */

struct worker_sandbox {
    pthread_mutex_t mu; /* guards pool against the renewer's cancel while rebuilt */
    struct sandbox_pool *pool;
    uid_t uid;
    bool have_host_busybox;
};

/* Everything one submission's run needs; freed by job_done. */
typedef struct {
    worker *w;
    const store_claimed *c;
    json_t *req;
    json_t *set;
    char box[PATH_MAX];
    bool box_made;
    const char **store_paths; /* borrowed strings from set.closure, NULL-terminated */
    size_t n_store_paths;
    char bin_dir[PATH_MAX];
    /* Store files the set provides for well-known host paths (root_paths). */
    char root_src[N_ROOT_PATHS][PATH_MAX];
    size_t n_root_src;
    char path_env[PATH_MAX + 8];
    const char *fail_kind; /* the last failed step's reason kind (static) */
    int64_t deadline_us;   /* monotonic: every step's wall limit from the start */
    verdict_compare_mode compare;
    size_t store_cap;     /* most bytes of one stream kept in the result */
    size_t budget_left;   /* output bytes the whole result may still keep */
    int64_t t_start_us;   /* monotonic, for the "finished" log line */
    int64_t t_sandbox_us; /* time spent inside sandbox_run */
    bool live;            /* request "live": steps use the live channel (worker_live.h) */
} job;

/* ---- sandbox pool ---- */

int worker_job_init(worker *w, char *err, size_t errlen)
{
    struct sandbox_pool_options o;
    worker_sandbox *sb = calloc(1, sizeof(*sb));
    int r;

    if (!sb)
        return -ENOMEM;
    sandbox_pool_options_init(&o);
    o.slots = 1;
    o.first_uid = (uid_t)(config_int(w->cfg, "worker.first_uid") + w->slot);
    r = sandbox_pool_new(&o, &sb->pool, err, errlen);
    if (r < 0) {
        free(sb);
        return r;
    }
    pthread_mutex_init(&sb->mu, NULL);
    sb->uid = o.first_uid;
    sb->have_host_busybox = cmdargv_host_has_busybox();
    log_info("sandbox-pool-ready uid=%u accounting=%s", (unsigned)o.first_uid,
             sandbox_accounting_name(sandbox_pool_accounting(sb->pool)));
    w->sb = sb;
    return 0;
}

void worker_job_done(worker *w)
{
    if (!w->sb)
        return;
    sandbox_pool_free(w->sb->pool);
    pthread_mutex_destroy(&w->sb->mu);
    free(w->sb);
    w->sb = NULL;
}

int worker_job_rebuild_slot(worker *w, char *err, size_t errlen)
{
    struct sandbox_pool_options o;
    struct sandbox_pool *fresh = NULL;
    int r;

    sandbox_pool_options_init(&o);
    o.slots = 1;
    o.first_uid = w->sb->uid;
    /* The old pool goes first: the new one takes the same cgroup names. */
    pthread_mutex_lock(&w->sb->mu);
    sandbox_pool_free(w->sb->pool);
    w->sb->pool = NULL;
    r = sandbox_pool_new(&o, &fresh, err, errlen);
    w->sb->pool = fresh;
    pthread_mutex_unlock(&w->sb->mu);
    if (r < 0)
        log_warn("slot-rebuild-failed errno=%d error=\"%s\"", -r, err);
    else
        log_info("slot-rebuilt uid=%u", (unsigned)o.first_uid);
    return r;
}

/* Lease lost, cancelled or grace over: kill the sandbox step in flight, so
 * a cancelled long test does not run to its wall limit. Runs in the renewer
 * thread; sandbox_cancel is safe from any thread. */
static void job_abort_step(void *userdata)
{
    worker_sandbox *sb = userdata;

    pthread_mutex_lock(&sb->mu);
    if (sb->pool)
        sandbox_cancel(sb->pool, 0);
    pthread_mutex_unlock(&sb->mu);
}

/* A live client's signal for the step in flight (worker_live's in thread). */
static int job_signal_step(void *userdata, int sig)
{
    worker_sandbox *sb = userdata;
    int r = 0;

    pthread_mutex_lock(&sb->mu);
    if (sb->pool)
        r = sandbox_signal(sb->pool, 0, sig);
    pthread_mutex_unlock(&sb->mu);
    return r;
}

/* ---- commands ---- */

/* Builds argv for cmd with extra args (a JSON array of strings, may be NULL);
 * common/cmdargv.h decides between exec and the shell. */
static int build_argv(const job *j, const char *cmd, const json_t *args, cmdargv *a)
{
    size_t i;
    json_t *v;
    int r =
        cmdargv_from_line(a, j->bin_dir, j->w->sb->have_host_busybox, cmd, json_array_size(args));

    json_array_foreach(args, i, v)
    {
        if (r == 0 && json_is_string(v))
            r = cmdargv_push(a, json_string_value(v));
    }
    return r;
}

/* ---- environment ---- */

typedef struct {
    const char *env[MAX_ENV + 1];
    char *owned[MAX_ENV + 1];
    size_t n;
} job_env;

static void job_env_done(job_env *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->owned[i]);
    e->n = 0;
}

static int env_put(job_env *e, const char *key, const char *value)
{
    size_t klen = strlen(key);
    char *kv;

    for (size_t i = 0; i < e->n; i++) {
        if (strncmp(e->owned[i], key, klen) == 0 && e->owned[i][klen] == '=') {
            if (asprintf(&kv, "%s=%s", key, value) < 0)
                return -ENOMEM;
            free(e->owned[i]);
            e->owned[i] = kv;
            e->env[i] = kv;
            return 0;
        }
    }
    if (e->n >= MAX_ENV)
        return -E2BIG;
    if (asprintf(&kv, "%s=%s", key, value) < 0)
        return -ENOMEM;
    e->owned[e->n] = kv;
    e->env[e->n++] = kv;
    e->env[e->n] = NULL;
    return 0;
}

static int build_env(const job *j, bool compile, job_env *e)
{
    json_t *env = json_object_get(j->req, "env");
    const char *k;
    json_t *v;
    int r;

    if ((r = env_put(e, "PATH", j->bin_dir)) < 0 || (r = env_put(e, "LANG", "C.UTF-8")) < 0 ||
        (r = env_put(e, "HOME", compile ? "/box" : "/scratch")) < 0 ||
        (r = env_put(e, "TMPDIR", "/tmp")) < 0)
        return r;
    json_object_foreach(env, k, v)
    {
        /* PATH stays ours: the set decides what runs. */
        if (json_is_string(v) && strcmp(k, "PATH") != 0 && !strchr(k, '=') &&
            (r = env_put(e, k, json_string_value(v))) < 0)
            return r;
    }
    return 0;
}

/* ---- limits ---- */

static uint64_t lim(const json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));
    return v > 0 ? (uint64_t)v : 0;
}

/* Worst cases when a request (from an older API, or a hand-made row) leaves
 * a limit out: a step must end, and its output must fit in memory. */
#define WORKER_DEFAULT_WALL_MS 60000

static void fill_limits(struct sandbox_limits *l, const json_t *o, uint64_t scratch,
                        uint64_t output_cap)
{
    l->cpu_ms = lim(o, "cpu_ms");
    l->wall_ms = lim(o, "wall_ms");
    l->memory_kib = lim(o, "memory_kib");
    l->processes = (uint32_t)lim(o, "processes");
    l->output_bytes = lim(o, "output_bytes");
    l->file_bytes = lim(o, "file_bytes");
    l->open_files = (uint32_t)lim(o, "open_files");
    l->stack_kib = lim(o, "stack_kib");
    l->tmp_bytes = scratch;
    if (l->wall_ms == 0)
        l->wall_ms = l->cpu_ms ? l->cpu_ms * 3 + 1000 : WORKER_DEFAULT_WALL_MS;
    if (l->output_bytes == 0)
        l->output_bytes = output_cap;
}

static verdict_limit map_limit(enum sandbox_limit l)
{
    switch (l) {
    case SANDBOX_LIMIT_CPU:
        return VERDICT_LIMIT_CPU;
    case SANDBOX_LIMIT_WALL:
        return VERDICT_LIMIT_WALL;
    case SANDBOX_LIMIT_MEMORY:
        return VERDICT_LIMIT_MEMORY;
    case SANDBOX_LIMIT_OUTPUT:
        return VERDICT_LIMIT_OUTPUT;
    case SANDBOX_LIMIT_FILE_SIZE:
        return VERDICT_LIMIT_FILE_SIZE;
    case SANDBOX_LIMIT_PROCESSES:
        return VERDICT_LIMIT_PROCESSES;
    case SANDBOX_LIMIT_NONE:
    default:
        return VERDICT_LIMIT_NONE;
    }
}

/* Host paths a run root gets from the set when the set has them: the set's
 * file (under its out path) and where it appears inside. */
static const struct {
    const char *in_set;
    const char *inside;
} root_paths[] = {
    {"bin/sh", "/bin/sh"},
    {"share/zoneinfo", "/usr/share/zoneinfo"},
    {"lib/gprolog", "/usr/lib/gprolog"},
    /* Debian's nodejs 18: libnode loads these by absolute paths. */
    {"share/nodejs/acorn", "/usr/share/nodejs/acorn"},
    {"share/nodejs/acorn-walk", "/usr/share/nodejs/acorn-walk"},
    {"share/nodejs/cjs-module-lexer", "/usr/share/nodejs/cjs-module-lexer"},
    {"share/nodejs/undici", "/usr/share/nodejs/undici"},
};
/* job's root_src is sized before this table exists: a count that no longer
 * matches the entries stops the build instead of leaving NULL entries. */
_Static_assert(sizeof(root_paths) / sizeof(*root_paths) == N_ROOT_PATHS,
               "N_ROOT_PATHS is the number of root_paths");

/* ---- one step ---- */

typedef struct {
    const char *cmd;
    const json_t *args;
    const json_t *limits;
    const void *stdin_data;
    size_t stdin_len;
    bool compile;
} job_step;

/* Runs one step; fills res (caller frees with sandbox_result_free). Returns
 * 0 when the program ran, <0 when we failed (message in err). */
static int run_step(job *j, const job_step *st, struct sandbox_result *res, char *err,
                    size_t errlen)
{
    struct sandbox_config cfg;
    struct sandbox_bind bind = {
        .src = CMDARGV_HOST_BUSYBOX, .dst = CMDARGV_SHELL_INSIDE, .writable = false};
    struct sandbox_bind binds[N_ROOT_PATHS + 1];
    size_t n_binds = 0;
    struct sandbox_tmpfs scratch = {.dst = "/scratch", .bytes = 0};
    cmdargv a = {.n = 0};
    job_env e = {.n = 0};
    uint64_t scratch_bytes = (uint64_t)config_int(j->w->cfg, "worker.scratch_bytes");
    sigset_t stop_sigs, old_sigs;
    int64_t t0;
    int r;

    memset(res, 0, sizeof(*res));
    r = build_argv(j, st->cmd, st->args, &a);
    if (r >= 0)
        r = build_env(j, st->compile, &e);
    if (r < 0) {
        snprintf(err, errlen, "cannot prepare command \"%s\": %s", st->cmd,
                 r == -ENOENT ? "no shell in the set and none on the host" : strerror(-r));
        cmdargv_done(&a);
        job_env_done(&e);
        res->status = SANDBOX_INTERNAL_ERROR;
        return r;
    }
    sandbox_config_init(&cfg);
    cfg.argv = a.argv;
    cfg.env = e.env;
    cfg.cwd = "/box";
    cfg.store_paths = j->store_paths;
    cfg.box_dir = j->box;
    cfg.box_readonly = !st->compile;
    if (st->stdin_len > 0) {
        cfg.stdin_kind = SANDBOX_STDIN_BUFFER;
        cfg.stdin_buf = st->stdin_data;
        cfg.stdin_len = st->stdin_len;
    }
    if (a.host_shell)
        binds[n_binds++] = bind;
    for (size_t i = 0; i < j->n_root_src; i++)
        if (j->root_src[i][0])
            binds[n_binds++] = (struct sandbox_bind){
                .src = j->root_src[i], .dst = root_paths[i].inside, .writable = false};
    cfg.binds = n_binds ? binds : NULL;
    cfg.n_binds = n_binds;
    if (!st->compile) {
        scratch.bytes = scratch_bytes;
        cfg.tmpfs = &scratch;
        cfg.n_tmpfs = 1;
    }
    fill_limits(&cfg.limits, st->limits, scratch_bytes, j->store_cap);
    cfg.record_order = true; /* the results' "output_order" */
    /* SIGTERM/SIGINT only set the stop flag; keep them off this thread while
     * the sandbox waits, so no wait of the library sees EINTR. They are
     * handled by the renewer thread meanwhile, or here once unblocked. */
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, &old_sigs);
    worker_live *live = NULL;
    if (j->live) {
        r = worker_live_begin(j->w->cfg, j->c->id, st->compile ? "compile" : "run", !st->compile,
                              st->stdin_data, st->stdin_len, job_signal_step, j->w->sb, &live, err,
                              errlen);
        if (r < 0)
            log_warn("live-channel-failed id=%s error=\"%s\"", j->c->id, err), err[0] = 0;
        else
            worker_live_config(live, &cfg);
    }
    t0 = monotime_us();
    if (!j->w->sb->pool) {
        /* A rebuild that failed: the slot is unusable until the next one. */
        snprintf(err, errlen, "slot setup failed: no sandbox pool (the last rebuild failed)");
        res->status = SANDBOX_INTERNAL_ERROR;
        r = -EIO;
    } else if (worker_fault_injected(j->w->slot, err, errlen)) {
        res->status = SANDBOX_INTERNAL_ERROR;
        r = -EIO;
    } else {
        static const char *const hang_argv[] = {CMDARGV_SHELL_INSIDE, "-c", "sleep 86400", NULL};
        if (!st->compile && j->c->attempts == 1 && worker_fault_hang(j->w->slot)) {
            /* A run that outlives its wall limit, as a wedged keeper would;
             * only a cancel (lease lost, the health checker) ends it. */
            cfg.argv = hang_argv;
            cfg.binds = &bind;
            cfg.n_binds = 1;
            cfg.limits.wall_ms = 86400000;
            cfg.limits.cpu_ms = 0;
        }
        r = sandbox_run(j->w->sb->pool, 0, &cfg, res, err, errlen);
    }
    j->t_sandbox_us += monotime_us() - t0;
    worker_live_end(live, res);
    /* A step we cancelled (lease lost) says nothing about the sandbox. */
    if (r != -ECANCELED)
        j->w->sandbox_failures = r < 0 ? j->w->sandbox_failures + 1 : 0;
    pthread_sigmask(SIG_SETMASK, &old_sigs, NULL);
    if (log_get_level() >= LOG_DEBUG)
        log_debug("step id=%s compile=%d paths=%zu wall_ms=%llu clone_us=%llu cgroup_us=%llu "
                  "mounts_us=%llu fork_us=%llu userns_us=%llu seccomp_us=%llu teardown_us=%llu",
                  j->c->id, st->compile, j->n_store_paths, (unsigned long long)res->wall_ms,
                  (unsigned long long)res->step_ns[SANDBOX_STEP_CLONE] / 1000,
                  (unsigned long long)res->step_ns[SANDBOX_STEP_CGROUP] / 1000,
                  (unsigned long long)res->step_ns[SANDBOX_STEP_MOUNTS] / 1000,
                  (unsigned long long)res->step_ns[SANDBOX_STEP_FORK] / 1000,
                  (unsigned long long)res->step_ns[SANDBOX_STEP_USERNS] / 1000,
                  (unsigned long long)res->step_ns[SANDBOX_STEP_SECCOMP] / 1000,
                  (unsigned long long)res->step_ns[SANDBOX_STEP_TEARDOWN] / 1000);
    cmdargv_done(&a);
    job_env_done(&e);
    return r;
}

/* What one step may take beyond its wall limit: sandbox set-up and teardown,
 * reading its input and writing its result (a remote worker's over HTTP). */
#define JOB_STEP_OVERHEAD_MS 1000

/* The longest the job's steps may take: every step's wall limit as
 * fill_limits derives it, the compile step's included, plus the overhead. */
static int64_t job_wall_budget_ms(const job *j)
{
    const json_t *lims = json_object_get(j->req, "limits");
    const json_t *tests = json_object_get(j->req, "tests");
    const char *compile = json_string_value(json_object_get(j->req, "compile"));
    struct sandbox_limits l;
    int64_t total = 0;
    size_t i, n = json_array_size(tests);

    if (compile && *compile) {
        memset(&l, 0, sizeof(l));
        fill_limits(&l, json_object_get(lims, "compile"), 0, 1);
        total += (int64_t)l.wall_ms + JOB_STEP_OVERHEAD_MS;
    }
    for (i = 0; i < (n ? n : 1); i++) {
        const json_t *tl = json_object_get(json_array_get(tests, i), "limits");
        memset(&l, 0, sizeof(l));
        fill_limits(&l, json_is_object(tl) ? tl : json_object_get(lims, "run"), 0, 1);
        total += (int64_t)l.wall_ms + JOB_STEP_OVERHEAD_MS;
    }
    return total;
}

/* Heartbeats the job's item with what is left of its wall budget (the health
 * checker kills it past that plus health.stuck_grace_ms). */
static void job_beat(job *j)
{
    int64_t left_ms = (j->deadline_us - monotime_us()) / 1000;

    j->w->src->ops->heartbeat(j->w->src, j->w->owner, j->w->host, (int)getpid(), j->c->id, NULL,
                              left_ms > 0 ? left_ms : 1);
}

/* A step run again gets its wall limit once more. */
static void job_extend_deadline(job *j, const job_step *st)
{
    struct sandbox_limits l;

    memset(&l, 0, sizeof(l));
    fill_limits(&l, st->limits, 0, 1);
    j->deadline_us += ((int64_t)l.wall_ms + JOB_STEP_OVERHEAD_MS) * 1000;
    job_beat(j);
}

/* run_step, retried once in a rebuilt slot when the sandbox (not the
 * program) failed: the keeper died, slot or cgroup setup, a mount. A program
 * that failed is a verdict and never retried; a cancel (lease lost) neither.
 * On a failure that stays, j->fail_kind names it. */
static int run_step_retrying(job *j, const job_step *st, struct sandbox_result *res, char *err,
                             size_t errlen)
{
    char rebuild_err[256] = "";
    int r = run_step(j, st, res, err, errlen);

    if ((r >= 0 && res->status != SANDBOX_INTERNAL_ERROR) || r == -ECANCELED ||
        worker_lease_state(j->w->lease) != 0)
        return r;
    j->fail_kind = worker_fault_kind(err);
    worker_count_retry(j->w, j->fail_kind);
    job_extend_deadline(j, st);
    log_warn("step-retry id=%s kind=%s error=\"%s\" reason=\"the farm failed, not the program: "
             "once more in a rebuilt slot\"",
             j->c->id, j->fail_kind, err);
    sandbox_result_free(res);
    worker_job_rebuild_slot(j->w, rebuild_err, sizeof(rebuild_err));
    r = run_step(j, st, res, err, errlen);
    if ((r >= 0 && res->status != SANDBOX_INTERNAL_ERROR) || r == -ECANCELED)
        return r;
    j->fail_kind = worker_fault_kind(err);
    /* Leave a clean slot to whatever comes next. */
    worker_job_rebuild_slot(j->w, rebuild_err, sizeof(rebuild_err));
    return r < 0 ? r : -EIO;
}

/* The stage/test object of a run, as docs/contracts.md "Result" shows. */
/* How much of a stream of len bytes the result keeps: at most store_cap,
 * and no more than what is left of the result's budget (a thousand tests
 * with a megabyte each must not make a gigabyte result). */
static size_t keep_bytes(job *j, size_t len)
{
    size_t keep = len < j->store_cap ? len : j->store_cap;

    if (keep > j->budget_left)
        keep = j->budget_left;
    j->budget_left -= keep;
    return keep;
}

/* "output_order": the write order of stdout and stderr as runs of bytes of
 * the kept outputs ([["stdout", n], ["stderr", m], ...]), clipped to what is
 * kept, the rest of stderr (a message appended to it) as a last run. Only
 * when both streams have bytes and they are text: NULL otherwise (one
 * stream alone, or base64 output, is its own order). */
static json_t *output_order(const struct sandbox_result *res, size_t out_len, size_t err_len,
                            const json_t *o)
{
    const char *enc = json_string_value(json_object_get(o, "encoding"));
    if (!res->order || !out_len || !err_len || (enc && strcmp(enc, "utf8")))
        return NULL;
    json_t *a = json_array();
    size_t left[3] = {0, out_len, err_len};
    static const char *const names[3] = {"", "stdout", "stderr"};
    for (size_t i = 0; a && i < res->n_order; i++) {
        unsigned st = res->order[i].stream;
        if (st < 1 || st > 2)
            continue;
        size_t n = res->order[i].len < left[st] ? res->order[i].len : left[st];
        if (!n)
            continue;
        left[st] -= n;
        json_array_append_new(a, json_pack("[s, I]", names[st], (json_int_t)n));
    }
    for (unsigned st = 1; a && st <= 2; st++)
        if (left[st])
            json_array_append_new(a, json_pack("[s, I]", names[st], (json_int_t)left[st]));
    return a;
}

static json_t *step_json(job *j, const struct sandbox_result *res, bool internal,
                         const char *internal_msg)
{
    _cleanup_json_ json_t *o = json_object();
    size_t out_len = keep_bytes(j, res->stdout_len);
    size_t err_len = keep_bytes(j, res->stderr_len);
    const char *sig = verdict_signal_name(res->signal);
    _cleanup_free_ char *err_text = NULL;
    const char *err_buf = res->stderr_buf ? res->stderr_buf : "";

    if (!o)
        return NULL;
    /* "execve failed" and our own failures read best where a person looks:
     * appended to stderr. */
    if ((internal || (res->exit_code == 127 && res->message[0])) &&
        (internal_msg || res->message[0])) {
        if (asprintf(&err_text, "%.*s%s%s\n", (int)err_len, err_buf, err_len ? "\n" : "",
                     internal_msg ? internal_msg : res->message) < 0)
            return NULL;
        err_buf = err_text;
        err_len = strlen(err_text);
    }
    json_object_set_new(o, "exit_code", internal ? json_null() : json_integer(res->exit_code));
    json_object_set_new(o, "signal", sig ? json_string(sig) : json_null());
    json_object_set_new(o, "cpu_ms", json_integer((json_int_t)res->cpu_ms));
    json_object_set_new(o, "wall_ms", json_integer((json_int_t)res->wall_ms));
    json_object_set_new(o, "memory_kib", json_integer((json_int_t)res->memory_kib));
    if (verdict_set_output(o, res->stdout_buf ? res->stdout_buf : "", out_len, err_buf, err_len) <
        0)
        return NULL;
    json_t *order = output_order(res, out_len, err_len, o);
    if (order)
        json_object_set_new(o, "output_order", order);
    json_object_set_new(o, "stdout_truncated",
                        json_boolean(res->stdout_truncated || res->stdout_len > out_len));
    json_object_set_new(o, "stderr_truncated",
                        json_boolean(res->stderr_truncated || res->stderr_len > err_len));
    json_object_set_new(o, "limit",
                        jsonutil_str_or_null(verdict_limit_name(map_limit(res->limit))));
    return steal_pointer(&o);
}

/* ---- the job ---- */

static void job_done(job *j)
{
    char err[256];

    if (j->box_made && sandbox_box_destroy(j->box, err, sizeof(err)) < 0)
        log_warn("box-remove-failed id=%s error=\"%s\"", j->c->id, err);
    free(j->store_paths);
    json_decref(j->req);
    json_decref(j->set);
}

/* Fills j->root_src[i] with the store path root_paths[i].in_set resolves to,
 * when that lies inside one of the set's store paths (never a host file), or
 * with "". */
static void job_find_root_paths(job *j, const char *set_out)
{
    char link[PATH_MAX + 32];
    char real[PATH_MAX];

    j->n_root_src = sizeof(root_paths) / sizeof(*root_paths);
    for (size_t k = 0; k < j->n_root_src; k++) {
        j->root_src[k][0] = '\0';
        if ((size_t)snprintf(link, sizeof(link), "%s/%s", set_out, root_paths[k].in_set) >=
                sizeof(link) ||
            !realpath(link, real))
            continue;
        for (size_t i = 0; i < j->n_store_paths; i++) {
            size_t len = strlen(j->store_paths[i]);
            if (strncmp(real, j->store_paths[i], len) == 0 &&
                (real[len] == '/' || real[len] == '\0')) {
                snprintf(j->root_src[k], sizeof(j->root_src[k]), "%s", real);
                break;
            }
        }
    }
}

static int job_prepare_set(job *j, char *err, size_t errlen)
{
    json_t *closure = json_object_get(j->set, "closure");
    json_t *outs = json_object_get(j->set, "out_paths");
    const char *env_path = json_string_value(json_object_get(j->set, "env_path"));
    size_t i, n = json_array_size(closure);
    json_t *v;

    if (env_path && *env_path) {
        snprintf(j->bin_dir, sizeof(j->bin_dir), "%s", env_path);
    } else if (json_array_size(outs) > 0 && json_is_string(json_array_get(outs, 0))) {
        snprintf(j->bin_dir, sizeof(j->bin_dir), "%s/bin",
                 json_string_value(json_array_get(outs, 0)));
    } else {
        snprintf(err, errlen, "dependency set %s has no out path", j->c->depset_key);
        return -EPROTO;
    }
    j->store_paths = calloc(n + 1, sizeof(*j->store_paths));
    if (!j->store_paths)
        return -ENOMEM;
    n = 0;
    json_array_foreach(closure, i, v)
    {
        if (json_is_string(v))
            j->store_paths[n++] = json_string_value(v);
    }
    if (n == 0) {
        /* No closure recorded: bind at least the out paths. */
        free(j->store_paths);
        j->store_paths = calloc(json_array_size(outs) + 1, sizeof(*j->store_paths));
        if (!j->store_paths)
            return -ENOMEM;
        json_array_foreach(outs, i, v)
        {
            if (json_is_string(v))
                j->store_paths[n++] = json_string_value(v);
        }
    }
    j->n_store_paths = n;
    /* The set's out path: its bin dir without "/bin". */
    char set_out[PATH_MAX];
    size_t blen = strlen(j->bin_dir);
    snprintf(set_out, sizeof(set_out), "%s", j->bin_dir);
    if (blen > 4 && strcmp(set_out + blen - 4, "/bin") == 0) {
        set_out[blen - 4] = '\0';
        job_find_root_paths(j, set_out);
    }
    return 0;
}

static int job_event(job *j, const char *stage, json_t *extra /* stolen, may be NULL */)
{
    _cleanup_json_ json_t *d = extra ? extra : json_object();

    if (!d)
        return -ENOMEM;
    json_object_set_new(d, "stage", json_string(stage));
    return j->w->src->ops->event(j->w->src, j->c->id, j->w->owner, "stage", d);
}

/* Ends the submission, lease-checked; logs and drops on -ESTALE. */
static int job_finish(job *j, const char *state, const char *verdict, json_t *result)
{
    int r = j->w->src->ops->finish(j->w->src, j->c->id, j->w->owner, state, verdict, result);

    if (r == -ESTALE) {
        log_info("dropped id=%s reason=\"lease no longer ours; result not written\"", j->c->id);
        return 0;
    }
    if (r < 0) {
        log_error("finish-failed id=%s errno=%d error=\"%s\"", j->c->id, -r, strerror(-r));
        return 0; /* the lease will expire and the row be requeued */
    }
    log_info("finished id=%s state=%s verdict=%s total_us=%lld sandbox_us=%lld", j->c->id, state,
             verdict ? verdict : "-", (long long)(monotime_us() - j->t_start_us),
             (long long)j->t_sandbox_us);
    return 0;
}

/* The steady state: finish "finished" and claim the next submission in one
 * commit (not while stopping). Returns 1 with *next filled, else 0. */
static int job_finish_and_claim(job *j, const char *verdict, json_t *result, store_claimed *next)
{
    int r;

    if (!next || *j->w->stop)
        return job_finish(j, "finished", verdict, result);
    r = j->w->src->ops->finish_and_claim(j->w->src, j->c->id, j->w->owner, "finished", verdict,
                                         result, j->w->lease_ms, next);
    if (r == -ESTALE) {
        log_info("dropped id=%s reason=\"lease no longer ours; result not written\"", j->c->id);
        return 0;
    }
    if (r < 0) {
        log_error("finish-failed id=%s errno=%d error=\"%s\"", j->c->id, -r, strerror(-r));
        return 0;
    }
    log_info("finished id=%s state=finished verdict=%s total_us=%lld sandbox_us=%lld next=%s",
             j->c->id, verdict, (long long)(monotime_us() - j->t_start_us),
             (long long)j->t_sandbox_us, r == 1 ? next->id : "-");
    return r == 1 ? 1 : 0;
}

/* The farm failed this attempt (not the program): the submission goes back
 * to the queue with the attempt counted and the reason kept, so another
 * worker runs it from scratch; after queue.max_attempts the store ends it
 * internal_error listing every attempt's reason. Never a test verdict. */
static int job_internal_error_kind(job *j, const char *kind, const char *msg)
{
    int r = j->w->src->ops->release_failed(j->w->src, j->c->id, j->w->owner, kind, msg);

    if (r == -ESTALE) {
        log_info("dropped id=%s reason=\"lease no longer ours\"", j->c->id);
        return 0;
    }
    if (r < 0) {
        /* The lease will expire and the health checker requeue it. */
        log_error("release-failed id=%s errno=%d error=\"%s\"", j->c->id, -r, strerror(-r));
        return 0;
    }
    log_warn("attempt-failed id=%s attempt=%d kind=%s outcome=%s error=\"%s\"", j->c->id,
             j->c->attempts, kind, r == 1 ? "internal_error" : "requeued", msg);
    return 0;
}

static int job_internal_error(job *j, json_t *result, const char *msg)
{
    (void)result;
    return job_internal_error_kind(j, j->fail_kind ? j->fail_kind : "internal", msg);
}

/* A git source the submitter got wrong (unknown rev, unreachable or private
 * URL, too big) is the submitter's failure, not the farm's: the submission
 * ends compile_error with the reason as the compile stage's stderr, as a
 * build that cannot start would. Timeouts and libgit2 faults stay internal. */
static bool source_error_is_submitters(int r)
{
    return r == -ENOENT || r == -EHOSTUNREACH || r == -EACCES || r == -EFBIG ||
           r == -EPROTONOSUPPORT || r == -EINVAL;
}

static int job_source_error(job *j, json_t *result, const char *msg)
{
    char text[640];

    snprintf(text, sizeof(text), "source: %s\n", msg);
    json_object_set_new(result, "compile",
                        json_pack("{s:n,s:n,s:s,s:s,s:i,s:i,s:i,s:s,s:b,s:b,s:n}", "exit_code",
                                  "signal", "stdout", "", "stderr", text, "cpu_ms", 0, "wall_ms", 0,
                                  "memory_kib", 0, "encoding", "utf8", "stdout_truncated", 0,
                                  "stderr_truncated", 0, "limit"));
    json_object_set_new(result, "error", json_string(text));
    log_info("source-refused id=%s error=\"%s\"", j->c->id, msg);
    return job_finish(j, "compile_error", NULL, result);
}

/* Acts on a lost lease: 1 when the job must end now (already handled). */
static int job_check_lease(job *j, json_t *result)
{
    int st = worker_lease_state(j->w->lease);

    if (st == 0)
        return 0;
    worker_lease_end(j->w->lease);
    if (st == -ECANCELED) {
        json_object_set_new(result, "error", json_string("cancelled by request"));
        job_finish(j, "cancelled", NULL, result);
    } else if (st == -EINTR) {
        int r = j->w->src->ops->release(j->w->src, j->c->id, j->w->owner);
        log_info("released id=%s r=%d reason=\"stopping\"", j->c->id, r);
    } else {
        /* Lost while a step ran (expired, or the health checker found it
         * stuck): the slot may be wedged, so it starts afresh. */
        char rebuild_err[256] = "";
        log_info("dropped id=%s reason=\"lease lost\"", j->c->id);
        worker_job_rebuild_slot(j->w, rebuild_err, sizeof(rebuild_err));
    }
    return 1;
}

static int job_get_blob(job *j, const json_t *o, const char *field, void **data, size_t *len,
                        char *err, size_t errlen)
{
    const char *sha = json_string_value(json_object_get(o, field));
    int r;

    *data = NULL;
    *len = 0;
    if (!sha)
        return 0;
    r = j->w->src->ops->blob_get(j->w->src, sha, data, len);
    if (r < 0)
        snprintf(err, errlen, "%s blob %s: %s", field, sha, strerror(-r));
    return r;
}

/* Compile stage. Returns 1 when the job ended (compile error, internal error,
 * lost lease), 0 to go on to the tests. */
static int job_compile(job *j, const char *cmd, json_t *result)
{
    json_t *limits = json_object_get(json_object_get(j->req, "limits"), "compile");
    job_step st = {.cmd = cmd, .limits = limits, .compile = true};
    struct sandbox_result res;
    char err[512] = "";
    json_t *stage;
    int r;

    job_event(j, "compiling", NULL);
    r = run_step_retrying(j, &st, &res, err, sizeof(err));
    if (job_check_lease(j, result)) {
        sandbox_result_free(&res);
        return 1;
    }
    if (r < 0 || res.status == SANDBOX_INTERNAL_ERROR) {
        sandbox_result_free(&res);
        job_internal_error(j, result, err);
        return 1;
    }
    stage = step_json(j, &res, false, NULL);
    if (!stage) {
        sandbox_result_free(&res);
        job_internal_error_kind(j, "out_of_memory", "out of memory");
        return 1;
    }
    json_object_set_new(result, "compile", stage);
    job_event(j, "compiled",
              json_pack("{s:O?,s:O?}", "exit_code", json_object_get(stage, "exit_code"), "signal",
                        json_object_get(stage, "signal")));
    if (res.status != SANDBOX_OK) {
        sandbox_result_free(&res);
        json_object_set_new(result, "tests", json_array());
        json_object_set_new(result, "verdict", json_null());
        job_finish(j, "compile_error", NULL, result);
        return 1;
    }
    sandbox_result_free(&res);
    return 0;
}

/* One test; returns its verdict (static string) or NULL when the job ended. */
static const char *job_test(job *j, size_t k, size_t n, const json_t *t, json_t *tests,
                            json_t *result)
{
    const char *run = json_string_value(json_object_get(j->req, "run"));
    const json_t *limits = json_object_get(t, "limits");
    _cleanup_free_ void *in = NULL;
    _cleanup_free_ void *expected = NULL;
    size_t in_len = 0, exp_len = 0;
    struct sandbox_result res;
    char err[512] = "";
    verdict_input vi = {0};
    const char *verdict;
    const char *name = json_string_value(json_object_get(t, "name"));
    char name_buf[32];
    json_t *o;
    int r;

    if (!json_is_object(limits))
        limits = json_object_get(json_object_get(j->req, "limits"), "run");
    if (!name) {
        snprintf(name_buf, sizeof(name_buf), "%zu", k + 1);
        name = name_buf;
    }
    job_event(
        j, "testing",
        json_pack("{s:I,s:I,s:s}", "test", (json_int_t)(k + 1), "of", (json_int_t)n, "name", name));
    r = job_get_blob(j, t, "stdin_blob", &in, &in_len, err, sizeof(err));
    if (r >= 0)
        r = job_get_blob(j, t, "expected_blob", &expected, &exp_len, err, sizeof(err));
    if (r >= 0) {
        job_step st = {.cmd = run ? run : "",
                       .args = json_object_get(t, "args"),
                       .limits = limits,
                       .stdin_data = in,
                       .stdin_len = in_len};
        r = run_step_retrying(j, &st, &res, err, sizeof(err));
    } else {
        memset(&res, 0, sizeof(res));
        j->fail_kind = "store";
    }
    if (job_check_lease(j, result)) {
        sandbox_result_free(&res);
        return NULL;
    }
    if (r < 0 || res.status == SANDBOX_INTERNAL_ERROR) {
        /* Not the program's failure: no verdict; the attempt is given back. */
        sandbox_result_free(&res);
        log_warn("test-internal-error id=%s test=%zu error=\"%s\"", j->c->id, k + 1, err);
        job_internal_error(j, result, err);
        return NULL;
    }
    vi.sandbox_failed = r < 0 || res.status == SANDBOX_INTERNAL_ERROR;
    vi.limit = map_limit(res.limit);
    vi.exit_code = res.exit_code;
    vi.signal = res.signal;
    vi.has_expected = json_is_string(json_object_get(t, "expected_blob"));
    if (vi.has_expected)
        vi.output_matches =
            verdict_output_matches(res.stdout_buf ? res.stdout_buf : "", res.stdout_len,
                                   expected ? expected : "", exp_len, j->compare);
    verdict = verdict_decide(&vi);
    o = step_json(j, &res, vi.sandbox_failed, vi.sandbox_failed ? err : NULL);
    sandbox_result_free(&res);
    if (!o) {
        job_internal_error(j, result, "out of memory");
        return NULL;
    }
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "verdict", json_string(verdict));
    r = j->w->src->ops->test_result(j->w->src, j->c->id, j->w->owner, (int)k, o);
    json_array_append_new(tests, o);
    if (r == -ESTALE) {
        worker_lease_end(j->w->lease);
        log_info("dropped id=%s reason=\"lease lost at test %zu\"", j->c->id, k + 1);
        return NULL;
    }
    if (r < 0)
        log_warn("test-result-failed id=%s test=%zu errno=%d", j->c->id, k + 1, -r);
    return verdict;
}

int worker_job_run(worker *w, const store_claimed *c, store_claimed *next)
{
    job j = {.w = w, .c = c, .t_start_us = monotime_us()};
    _cleanup_json_ json_t *result = json_object();
    json_t *tests_in, *tests_out, *git;
    const char *compile, *first_fail = NULL;
    char err[1024] = "";
    bool stop_first;
    size_t k, n;
    int r;

    if (!result)
        return -ENOMEM;
    j.store_cap = (size_t)config_int(w->cfg, "worker.max_output_store_bytes");
    j.budget_left = (size_t)config_int(w->cfg, "worker.max_result_output_bytes");
    log_debug("claimed id=%s attempts=%d", c->id, c->attempts);
    worker_lease_begin(w->lease, c->id, w->owner, w->lease_ms, job_abort_step, w->sb);
    json_object_set_new(result, "compile", json_null());

    if (jsonutil_parse(c->request_json, &j.req, err, sizeof(err)) < 0 || !json_is_object(j.req) ||
        jsonutil_parse(c->depset_json, &j.set, err, sizeof(err)) < 0 || !json_is_object(j.set)) {
        w->src->ops->heartbeat(w->src, w->owner, w->host, (int)getpid(), c->id, NULL, 0);
        worker_lease_end(w->lease);
        job_internal_error_kind(&j, "request",
                                err[0] ? err : "request or set is not a JSON object");
        job_done(&j);
        return 0;
    }
    j.deadline_us = monotime_us() + job_wall_budget_ms(&j) * 1000;
    job_beat(&j);
    j.fail_kind = "set";
    if ((r = job_prepare_set(&j, err, sizeof(err))) < 0)
        goto internal;
    /* A worker with a Nix store of its own (a remote worker, or one on a
     * machine without a builder) gets the set's closure from the farm's
     * signed binary cache. */
    if ((r = w->src->ops->prepare_set(w->src, c, err, sizeof(err))) < 0)
        goto internal;
    if (r > 0) {
        /* The import may take a while: the wall budget starts after it. */
        j.deadline_us = monotime_us() + job_wall_budget_ms(&j) * 1000;
        job_beat(&j);
    }
    j.compare =
        verdict_compare_mode_from_string(json_string_value(json_object_get(j.req, "compare")));
    stop_first = json_is_true(json_object_get(j.req, "stop_on_first_failure"));
    /* The live channel is in the store: a remote worker runs it as a plain job. */
    j.live = json_is_true(json_object_get(j.req, "live")) && !w->src->remote;

    /* The pid in the name keeps a worker that lost its lease (and may still
     * be cleaning up) apart from the new holder on the same host. */
    if ((size_t)snprintf(j.box, sizeof(j.box), "%s/%s.%d", w->boxes_dir, c->id, (int)getpid()) >=
        sizeof(j.box)) {
        r = -ENAMETOOLONG;
        goto internal;
    }
    j.fail_kind = "mount"; /* the box is a tmpfs mount */
    sandbox_box_destroy(j.box, NULL, 0);
    r = sandbox_box_create(j.box, (uint64_t)config_int(w->cfg, "worker.box_bytes"), err,
                           sizeof(err));
    if (r < 0)
        goto internal;
    j.box_made = true;
    git = json_object_get(json_object_get(j.req, "source"), "git");
    if (json_is_object(git)) {
        r = box_checkout_git(w->cfg, j.box, git, 0, err, sizeof(err));
        if (r < 0 && source_error_is_submitters(r)) {
            worker_lease_end(w->lease);
            job_source_error(&j, result, err[0] ? err : strerror(-r));
            job_done(&j);
            return 0;
        }
        if (r < 0) {
            j.fail_kind = "source";
            goto internal;
        }
    }
    j.fail_kind = "store";
    r = box_write_files(w->src, j.box, json_object_get(j.req, "files"), err, sizeof(err));
    if (r < 0)
        goto internal;

    j.fail_kind = NULL;
    compile = json_string_value(json_object_get(j.req, "compile"));
    if (compile && *compile && job_compile(&j, compile, result)) {
        worker_lease_end(w->lease);
        job_done(&j);
        return 0;
    }

    tests_in = json_object_get(j.req, "tests");
    n = json_array_size(tests_in);
    tests_out = json_array();
    json_object_set_new(result, "tests", tests_out);
    for (k = 0; k < n; k++) {
        const char *v;

        if (job_check_lease(&j, result)) {
            job_done(&j);
            return 0;
        }
        v = job_test(&j, k, n, json_array_get(tests_in, k), tests_out, result);
        if (!v) {
            worker_lease_end(w->lease);
            job_done(&j);
            return 0;
        }
        if (strcmp(v, "accepted") != 0 && !first_fail) {
            first_fail = v;
            if (stop_first)
                break;
        }
    }
    if (job_check_lease(&j, result)) {
        job_done(&j);
        return 0;
    }
    worker_lease_end(w->lease);
    json_object_set_new(result, "verdict", json_string(first_fail ? first_fail : "accepted"));
    r = job_finish_and_claim(&j, first_fail ? first_fail : "accepted", result, next);
    job_done(&j);
    return r;

internal:
    worker_lease_end(w->lease);
    if (!err[0])
        snprintf(err, sizeof(err), "%s", strerror(-r));
    job_internal_error(&j, result, err);
    job_done(&j);
    return 0;
}
