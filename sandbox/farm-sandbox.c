/* farm-sandbox — run one program in a nixfarm sandbox from the command line.
 *
 * Every setting of struct sandbox_config is a flag; the captured output is
 * written to our stdout/stderr (or files) after the run, or as it is produced
 * with --stream (cfg.stream); --meta FILE writes an
 * isolate-style key:value file. Exit codes keep "the program failed" apart from
 * "we failed": see help() and docs/sandbox.md. */
#include "farm-sandbox-check.h"
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_PROGRAM_FAILED 1
#define EXIT_INTERNAL 2
#define EXIT_USAGE 64

enum {
    OPT_STORE_ROOT = 0x100,
    OPT_STORE,
    OPT_BOX,
    OPT_BOX_RO,
    OPT_BOX_SIZE,
    OPT_MAKE_BOX,
    OPT_KEEP_BOX,
    OPT_BIND,
    OPT_BIND_RW,
    OPT_TMPFS,
    OPT_TMP_SIZE,
    OPT_CWD,
    OPT_ENV,
    OPT_STDIN,
    OPT_STDIN_DATA,
    OPT_STDOUT,
    OPT_STDERR,
    OPT_CPU,
    OPT_WALL,
    OPT_MEM,
    OPT_PROCS,
    OPT_OUTPUT,
    OPT_FSIZE,
    OPT_NOFILE,
    OPT_STACK,
    OPT_HOSTNAME,
    OPT_SHARE_NET,
    OPT_STREAM,
    OPT_ORDER,
    OPT_META,
    OPT_UID,
    OPT_ACCOUNTING,
    OPT_CLEANUP,
    OPT_CHECK,
    OPT_JSON,
    OPT_VERSION,
};

static struct sandbox_config arg_cfg;
static const char **arg_store;
static size_t arg_n_store;
static struct sandbox_bind *arg_binds;
static struct sandbox_tmpfs *arg_tmpfs;
static const char **arg_env;
static size_t arg_n_env;
static const char *arg_stdin_file, *arg_stdout_file, *arg_stderr_file, *arg_meta;
static bool arg_make_box, arg_keep_box, arg_stream;
static uint64_t arg_make_box_bytes;
static uid_t arg_uid = 62000;
static enum sandbox_accounting arg_acct = SANDBOX_ACCT_AUTO;
static const char *arg_cleanup;
static bool arg_check, arg_json;

static void help(void)
{
    printf("Usage: farm-sandbox [OPTIONS] -- PROGRAM [ARGS...]\n"
           "Runs PROGRAM (an absolute path inside the sandbox) in new user, mount, PID,\n"
           "network, IPC, UTS and cgroup namespaces with only the given store paths, /box,\n"
           "/tmp, a minimal /dev and /proc visible, under limits and a seccomp filter.\n"
           "Must run as root. Numbers accept K, M, G suffixes where they are bytes.\n\n"
           "Filesystem:\n"
           "  --store-root DIR       host directory holding nix/store (default /)\n"
           "  --store PATH           bind /nix/store/NAME read-only (repeatable)\n"
           "  --box DIR              host directory bound at /box (default: fresh tmpfs)\n"
           "  --box-ro               bind the box read-only\n"
           "  --make-box             mount a size-capped tmpfs on --box DIR first (and remove\n"
           "                         it afterwards unless --keep-box)\n"
           "  --keep-box             keep the box made by --make-box\n"
           "  --box-size BYTES       size of the fresh /box or of --make-box (default 64M)\n"
           "  --bind SRC:DST         extra read-only bind (repeatable)\n"
           "  --bind-rw SRC:DST      extra writable bind (repeatable)\n"
           "  --tmpfs DST[:BYTES]    extra writable tmpfs inside (repeatable)\n"
           "  --tmp-size BYTES       size of /tmp (default 64M)\n"
           "Process:\n"
           "  --cwd DIR              working directory inside (default /box)\n"
           "  --env KEY=VALUE        environment (repeatable; nothing is inherited)\n"
           "  --stdin FILE           stdin from a host file (default /dev/null)\n"
           "  --stdin-data TEXT      stdin from TEXT\n"
           "  --stdout FILE          write the captured stdout to FILE (default: our stdout)\n"
           "  --stderr FILE          write the captured stderr to FILE (default: our stderr)\n"
           "  --stream               write the output as it is produced, not after the run\n"
           "  --order                record the write order of stdout and stderr (--meta's\n"
           "                         order: line, runs such as o5,e12,o3)\n"
           "                         (a reader that falls behind is caught up at the end)\n"
           "  --hostname NAME        hostname inside (default sandbox)\n"
           "  --share-net            keep the host network (default: none at all)\n"
           "Limits (0 = none):\n"
           "  --cpu MS               CPU time of the whole tree\n"
           "  --wall MS              wall-clock time\n"
           "  --mem KIB              memory of the whole tree\n"
           "  --procs N              processes and threads\n"
           "  --output BYTES         output per stream (more kills the run)\n"
           "  --fsize BYTES          largest file written\n"
           "  --nofile N             open files\n"
           "  --stack KIB            stack size (default 8192)\n"
           "Supervisor:\n"
           "  --uid N                host uid (and gid) of the sandbox (default 62000)\n"
           "  --accounting MODE      auto, cgroup-v2, cgroup-v1 or rlimits (default auto)\n"
           "  --meta FILE            write key:value results to FILE ('-' = stdout)\n"
           "  --cleanup-stale DIR    remove boxes under DIR and cgroups of dead supervisors, exit\n"
           "  --check                list the kernel features the sandbox relies on, present or\n"
           "                         not here, and the accounting a pool uses; exit 1 if a\n"
           "                         required one is missing (--json: as one JSON object)\n"
           "  -h, --help             this text;  --version  the version\n\n"
           "Exit status:\n"
           "  0   the program exited with 0 within every limit\n"
           "  1   the program failed: non-zero exit, signal, or a limit (see --meta)\n"
           "  2   internal error: the sandbox could not run it (message on stderr)\n"
           "  64  bad command line\n"
           "  With --check: 0 every required feature is present, 1 one is missing (or no\n"
           "  pool could be made), 2 a probe failed.\n");
}

/* Parses a number with an optional K/M/G suffix (when bytes), rejecting junk
 * and overflow; names the option on error. */
static int opt_u64(const char *opt, const char *s, bool bytes, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        goto bad;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        goto bad;
    uint64_t mul = 1;
    if (bytes && *end) {
        switch (*end) {
        case 'k':
        case 'K':
            mul = 1ull << 10;
            break;
        case 'm':
        case 'M':
            mul = 1ull << 20;
            break;
        case 'g':
        case 'G':
            mul = 1ull << 30;
            break;
        default:
            goto bad;
        }
        end++;
    }
    if (*end || (v && mul > UINT64_MAX / v))
        goto bad;
    *out = v * mul;
    return 0;
bad:
    fprintf(stderr, "farm-sandbox: %s: '%s' is not a valid number\n", opt, s ? s : "");
    return -EINVAL;
}

static void *grow(void *arr, size_t n, size_t size)
{
    void *p = realloc(arr, (n + 2) * size);
    if (!p) {
        fprintf(stderr, "farm-sandbox: out of memory\n");
        abort();
    }
    return p;
}

static int parse_pair(const char *opt, const char *s, const char **a, const char **b)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1]) {
        fprintf(stderr, "farm-sandbox: %s: expected SRC:DST, got '%s'\n", opt, s);
        return -EINVAL;
    }
    *a = strndup(s, (size_t)(colon - s));
    *b = colon + 1;
    return 0;
}

/* Returns 1 to go on, 0 when done (help), <0 on error. */
static int parse_argv(int argc, char **argv)
{
    static const struct option opts[] = {
        {"store-root", required_argument, 0, OPT_STORE_ROOT},
        {"store", required_argument, 0, OPT_STORE},
        {"box", required_argument, 0, OPT_BOX},
        {"box-ro", no_argument, 0, OPT_BOX_RO},
        {"box-size", required_argument, 0, OPT_BOX_SIZE},
        {"make-box", no_argument, 0, OPT_MAKE_BOX},
        {"keep-box", no_argument, 0, OPT_KEEP_BOX},
        {"bind", required_argument, 0, OPT_BIND},
        {"bind-rw", required_argument, 0, OPT_BIND_RW},
        {"tmpfs", required_argument, 0, OPT_TMPFS},
        {"tmp-size", required_argument, 0, OPT_TMP_SIZE},
        {"cwd", required_argument, 0, OPT_CWD},
        {"env", required_argument, 0, OPT_ENV},
        {"stdin", required_argument, 0, OPT_STDIN},
        {"stdin-data", required_argument, 0, OPT_STDIN_DATA},
        {"stdout", required_argument, 0, OPT_STDOUT},
        {"stderr", required_argument, 0, OPT_STDERR},
        {"cpu", required_argument, 0, OPT_CPU},
        {"wall", required_argument, 0, OPT_WALL},
        {"mem", required_argument, 0, OPT_MEM},
        {"procs", required_argument, 0, OPT_PROCS},
        {"output", required_argument, 0, OPT_OUTPUT},
        {"fsize", required_argument, 0, OPT_FSIZE},
        {"nofile", required_argument, 0, OPT_NOFILE},
        {"stack", required_argument, 0, OPT_STACK},
        {"hostname", required_argument, 0, OPT_HOSTNAME},
        {"share-net", no_argument, 0, OPT_SHARE_NET},
        {"stream", no_argument, 0, OPT_STREAM},
        {"order", no_argument, 0, OPT_ORDER},
        {"meta", required_argument, 0, OPT_META},
        {"uid", required_argument, 0, OPT_UID},
        {"accounting", required_argument, 0, OPT_ACCOUNTING},
        {"cleanup-stale", required_argument, 0, OPT_CLEANUP},
        {"check", no_argument, 0, OPT_CHECK},
        {"json", no_argument, 0, OPT_JSON},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, OPT_VERSION},
        {0, 0, 0, 0},
    };
    struct sandbox_config *c = &arg_cfg;
    struct sandbox_limits *l = &c->limits;
    uint64_t v;
    int o, r = 0;
    size_t n_binds = 0, n_tmpfs = 0;
    while ((o = getopt_long(argc, argv, "+h", opts, NULL)) >= 0) {
        const char *name = NULL;
        for (const struct option *p = opts; p->name; p++)
            if (p->val == o)
                name = p->name;
        char optname[64];
        snprintf(optname, sizeof optname, "--%s", name ? name : "?");
        switch (o) {
        case 'h':
            help();
            return 0;
        case OPT_VERSION:
            printf("farm-sandbox (nixfarm)\n");
            return 0;
        case OPT_STORE_ROOT:
            c->store_root = optarg;
            break;
        case OPT_STORE:
            arg_store = grow(arg_store, arg_n_store, sizeof *arg_store);
            arg_store[arg_n_store++] = optarg;
            arg_store[arg_n_store] = NULL;
            break;
        case OPT_BOX:
            c->box_dir = optarg;
            break;
        case OPT_BOX_RO:
            c->box_readonly = true;
            break;
        case OPT_BOX_SIZE:
            r = opt_u64(optname, optarg, true, &l->box_bytes);
            arg_make_box_bytes = l->box_bytes;
            break;
        case OPT_MAKE_BOX:
            arg_make_box = true;
            break;
        case OPT_KEEP_BOX:
            arg_keep_box = true;
            break;
        case OPT_BIND:
        case OPT_BIND_RW: {
            arg_binds = grow(arg_binds, n_binds, sizeof *arg_binds);
            struct sandbox_bind *b = &arg_binds[n_binds];
            r = parse_pair(optname, optarg, &b->src, &b->dst);
            b->writable = o == OPT_BIND_RW;
            n_binds++;
            break;
        }
        case OPT_TMPFS: {
            arg_tmpfs = grow(arg_tmpfs, n_tmpfs, sizeof *arg_tmpfs);
            struct sandbox_tmpfs *t = &arg_tmpfs[n_tmpfs++];
            char *colon = strchr(optarg, ':');
            t->bytes = 0;
            if (colon) {
                *colon = 0;
                r = opt_u64(optname, colon + 1, true, &t->bytes);
            }
            t->dst = optarg;
            break;
        }
        case OPT_TMP_SIZE:
            r = opt_u64(optname, optarg, true, &l->tmp_bytes);
            break;
        case OPT_CWD:
            c->cwd = optarg;
            break;
        case OPT_ENV:
            if (!strchr(optarg, '=')) {
                fprintf(stderr, "farm-sandbox: --env: expected KEY=VALUE, got '%s'\n", optarg);
                return -EINVAL;
            }
            arg_env = grow(arg_env, arg_n_env, sizeof *arg_env);
            arg_env[arg_n_env++] = optarg;
            arg_env[arg_n_env] = NULL;
            break;
        case OPT_STDIN:
            arg_stdin_file = optarg;
            break;
        case OPT_STDIN_DATA:
            c->stdin_kind = SANDBOX_STDIN_BUFFER;
            c->stdin_buf = optarg;
            c->stdin_len = strlen(optarg);
            break;
        case OPT_STDOUT:
            arg_stdout_file = optarg;
            break;
        case OPT_STDERR:
            arg_stderr_file = optarg;
            break;
        case OPT_CPU:
            r = opt_u64(optname, optarg, false, &l->cpu_ms);
            break;
        case OPT_WALL:
            r = opt_u64(optname, optarg, false, &l->wall_ms);
            break;
        case OPT_MEM:
            r = opt_u64(optname, optarg, false, &l->memory_kib);
            break;
        case OPT_PROCS:
            r = opt_u64(optname, optarg, false, &v);
            if (r == 0 && v > UINT32_MAX)
                r = opt_u64(optname, "x", false, &v);
            l->processes = (uint32_t)v;
            break;
        case OPT_OUTPUT:
            r = opt_u64(optname, optarg, true, &l->output_bytes);
            break;
        case OPT_FSIZE:
            r = opt_u64(optname, optarg, true, &l->file_bytes);
            break;
        case OPT_NOFILE:
            r = opt_u64(optname, optarg, false, &v);
            if (r == 0 && v > UINT32_MAX)
                r = opt_u64(optname, "x", false, &v);
            l->open_files = (uint32_t)v;
            break;
        case OPT_STACK:
            r = opt_u64(optname, optarg, false, &l->stack_kib);
            break;
        case OPT_HOSTNAME:
            c->hostname = optarg;
            break;
        case OPT_ORDER:
            arg_cfg.record_order = true;
            break;
        case OPT_STREAM:
            arg_stream = true;
            break;
        case OPT_SHARE_NET:
            c->network = true;
            break;
        case OPT_META:
            arg_meta = optarg;
            break;
        case OPT_UID:
            r = opt_u64(optname, optarg, false, &v);
            if (r == 0 && (v == 0 || v >= UINT32_MAX))
                r = opt_u64(optname, "x", false, &v);
            arg_uid = (uid_t)v;
            break;
        case OPT_ACCOUNTING:
            if (!strcmp(optarg, "auto"))
                arg_acct = SANDBOX_ACCT_AUTO;
            else if (!strcmp(optarg, "cgroup-v2"))
                arg_acct = SANDBOX_ACCT_CGROUP_V2;
            else if (!strcmp(optarg, "cgroup-v1"))
                arg_acct = SANDBOX_ACCT_CGROUP_V1;
            else if (!strcmp(optarg, "rlimits"))
                arg_acct = SANDBOX_ACCT_RLIMITS;
            else {
                fprintf(stderr, "farm-sandbox: --accounting: unknown mode '%s'\n", optarg);
                return -EINVAL;
            }
            break;
        case OPT_CLEANUP:
            arg_cleanup = optarg;
            break;
        case OPT_CHECK:
            arg_check = true;
            break;
        case OPT_JSON:
            arg_json = true;
            break;
        default:
            fprintf(stderr, "farm-sandbox: try --help\n");
            return -EINVAL;
        }
        if (r < 0)
            return r;
    }
    c->binds = arg_binds;
    c->n_binds = n_binds;
    c->tmpfs = arg_tmpfs;
    c->n_tmpfs = n_tmpfs;
    c->store_paths = arg_store;
    c->env = arg_env;
    if (arg_json && !arg_check) {
        fprintf(stderr, "farm-sandbox: --json goes with --check\n");
        return -EINVAL;
    }
    if (arg_cleanup || arg_check)
        return 1;
    if (optind >= argc) {
        fprintf(stderr, "farm-sandbox: no program given (try --help)\n");
        return -EINVAL;
    }
    if (argv[optind][0] != '/') {
        fprintf(stderr, "farm-sandbox: the program must be an absolute path inside the sandbox\n");
        return -EINVAL;
    }
    if (arg_make_box && !c->box_dir) {
        fprintf(stderr, "farm-sandbox: --make-box needs --box DIR\n");
        return -EINVAL;
    }
    c->argv = (const char *const *)&argv[optind];
    return 1;
}

/* FILE opened for writing, or fallback when FILE is NULL; -1 on error. */
static int open_out(const char *file, int fallback)
{
    if (!file)
        return fallback;
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        fprintf(stderr, "farm-sandbox: %s: %s\n", file, strerror(errno));
    return fd;
}

/* Writes buf to fd (opened by open_out; nothing when skip); closes it when it
 * is a file. */
static int write_out(const char *file, int fd, const char *buf, size_t len, bool skip)
{
    if (fd < 0)
        return -EBADF;
    size_t off = 0;
    while (!skip && off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (file)
        close(fd);
    return 0;
}

/* isolate-like status letters, plus our own keys. */
static const char *status_code(const struct sandbox_result *r)
{
    if (r->status == SANDBOX_INTERNAL_ERROR)
        return "XX";
    switch (r->limit) {
    case SANDBOX_LIMIT_CPU:
    case SANDBOX_LIMIT_WALL:
        return "TO";
    case SANDBOX_LIMIT_MEMORY:
        return "ML";
    case SANDBOX_LIMIT_OUTPUT:
        return "OL";
    case SANDBOX_LIMIT_FILE_SIZE:
        return "FL";
    case SANDBOX_LIMIT_PROCESSES:
        return "PL";
    default:
        break;
    }
    if (r->signal)
        return "SG";
    if (r->exit_code != 0)
        return "RE";
    return "OK";
}

static void write_meta(const struct sandbox_result *r)
{
    FILE *f = strcmp(arg_meta, "-") ? fopen(arg_meta, "we") : stdout;
    if (!f) {
        fprintf(stderr, "farm-sandbox: --meta %s: %s\n", arg_meta, strerror(errno));
        return;
    }
    fprintf(f, "status:%s\n", status_code(r));
    fprintf(f, "result:%s\n", sandbox_status_name(r->status));
    if (r->status != SANDBOX_INTERNAL_ERROR) {
        if (r->signal)
            fprintf(f, "exitsig:%d\nkilled:1\n", r->signal);
        else
            fprintf(f, "exitcode:%d\n", r->exit_code);
        fprintf(f, "limit:%s\n", sandbox_limit_name(r->limit));
        fprintf(f, "time:%" PRIu64 ".%03" PRIu64 "\n", r->cpu_ms / 1000, r->cpu_ms % 1000);
        fprintf(f, "time-wall:%" PRIu64 ".%03" PRIu64 "\n", r->wall_ms / 1000, r->wall_ms % 1000);
        fprintf(f, "cpu-ms:%" PRIu64 "\nwall-ms:%" PRIu64 "\nmax-rss:%" PRIu64 "\n", r->cpu_ms,
                r->wall_ms, r->memory_kib);
        fprintf(f, "stdout-bytes:%" PRIu64 "\nstdout-truncated:%d\n", r->stdout_total,
                r->stdout_truncated);
        fprintf(f, "stderr-bytes:%" PRIu64 "\nstderr-truncated:%d\n", r->stderr_total,
                r->stderr_truncated);
        if (r->order) {
            fputs("order:", f);
            for (size_t i = 0; i < r->n_order; i++)
                fprintf(f, "%s%c%zu", i ? "," : "", r->order[i].stream == 1 ? 'o' : 'e',
                        r->order[i].len);
            fputc('\n', f);
        }
    }
    fprintf(f, "accounting:%s\n", sandbox_accounting_name(r->accounting));
    if (r->message[0])
        fprintf(f, "message:%s\n", r->message);
    static const char *const steps[] = {"clone",  "cgroup",  "mounts",  "fork",
                                        "userns", "seccomp", "teardown"};
    for (int i = 0; i < SANDBOX_STEP_COUNT; i++)
        fprintf(f, "step-%s-us:%" PRIu64 "\n", steps[i], r->step_ns[i] / 1000);
    if (f != stdout)
        fclose(f);
    else
        fflush(f);
}

int main(int argc, char **argv)
{
    sandbox_config_init(&arg_cfg);
    int r = parse_argv(argc, argv);
    if (r <= 0)
        return r < 0 ? EXIT_USAGE : 0;
    char err[512] = "";
    if (arg_check) {
        struct sandbox_pool_options po;
        sandbox_pool_options_init(&po);
        po.first_uid = arg_uid;
        po.accounting = arg_acct;
        return farm_sandbox_check(&po, arg_json);
    }
    if (arg_cleanup) {
        r = sandbox_cleanup_stale(arg_cleanup, err, sizeof err);
        if (r < 0) {
            fprintf(stderr, "farm-sandbox: %s\n", err);
            return EXIT_INTERNAL;
        }
        printf("removed %d stale item(s)\n", r);
        return 0;
    }
    int stdin_fd = -1;
    if (arg_stdin_file) {
        stdin_fd = open(arg_stdin_file, O_RDONLY | O_CLOEXEC);
        if (stdin_fd < 0) {
            fprintf(stderr, "farm-sandbox: --stdin %s: %s\n", arg_stdin_file, strerror(errno));
            return EXIT_USAGE;
        }
        arg_cfg.stdin_kind = SANDBOX_STDIN_FD;
        arg_cfg.stdin_fd = stdin_fd;
    }
    if (arg_make_box) {
        r = sandbox_box_create(arg_cfg.box_dir, arg_make_box_bytes, err, sizeof err);
        if (r < 0) {
            fprintf(stderr, "farm-sandbox: %s\n", err);
            return EXIT_INTERNAL;
        }
    }
    /* Opened before the run, so that --stream can write them as it goes. */
    int out_fd = open_out(arg_stdout_file, STDOUT_FILENO);
    int err_fd = open_out(arg_stderr_file, STDERR_FILENO);
    if (arg_stream) {
        arg_cfg.stream = true;
        arg_cfg.stream_stdout_fd = out_fd;
        arg_cfg.stream_stderr_fd = err_fd;
    }
    struct sandbox_pool_options po;
    sandbox_pool_options_init(&po);
    po.first_uid = arg_uid;
    po.accounting = arg_acct;
    /* One run: it makes its own network namespace and cgroups; units made
     * ahead would only be destroyed unused. */
    po.ready_per_slot = 0;
    struct sandbox_pool *pool = NULL;
    struct sandbox_result res;
    memset(&res, 0, sizeof res);
    int code;
    r = sandbox_pool_new(&po, &pool, err, sizeof err);
    if (r < 0) {
        snprintf(res.message, sizeof res.message, "%s", err);
        res.status = SANDBOX_INTERNAL_ERROR;
    } else {
        r = sandbox_run(pool, 0, &arg_cfg, &res, err, sizeof err);
    }
    if (r < 0) {
        fprintf(stderr, "farm-sandbox: %s\n", err);
        code = EXIT_INTERNAL;
    } else {
        /* With --stream, what the fds took during the run is not written
         * again; a fd that failed gets nothing more. */
        size_t so = arg_stream ? res.stdout_streamed : 0, se = arg_stream ? res.stderr_streamed : 0;
        write_out(arg_stdout_file, out_fd, res.stdout_buf + so, res.stdout_len - so,
                  res.stdout_stream_failed);
        write_out(arg_stderr_file, err_fd, res.stderr_buf + se, res.stderr_len - se,
                  res.stderr_stream_failed);
        out_fd = err_fd = -1;
        code = res.status == SANDBOX_OK ? 0 : EXIT_PROGRAM_FAILED;
    }
    if (arg_meta)
        write_meta(&res);
    sandbox_result_free(&res);
    sandbox_pool_free(pool);
    if (arg_make_box && !arg_keep_box &&
        sandbox_box_destroy(arg_cfg.box_dir, err, sizeof err) < 0) {
        fprintf(stderr, "farm-sandbox: %s\n", err);
        code = EXIT_INTERNAL;
    }
    if (stdin_fd >= 0)
        close(stdin_fd);
    if (arg_stdout_file && out_fd >= 0)
        close(out_fd);
    if (arg_stderr_file && err_fd >= 0)
        close(err_fd);
    for (size_t i = 0; i < arg_cfg.n_binds; i++)
        free((char *)arg_binds[i].src);
    free(arg_binds);
    free(arg_tmpfs);
    free(arg_store);
    free(arg_env);
    return code;
}
