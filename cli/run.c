/* run.c — `farm run --packages python3,gcc [limits] [--ro] -- COMMAND...`:
 * like `nix-shell -p python3 --run`, but isolated, with no daemon.
 *
 * The current directory is copied into a fresh box (a tmpfs of --box-size)
 * that the command may change freely; nothing it writes comes back. With --ro
 * the current directory itself is bound read-only at /box instead (no copy).
 * Output streams live to our stdout/stderr as the command writes it (the
 * sandbox library copies what it captures to them without ever blocking on
 * them; what a slow reader did not take during the run is written at the
 * end), then the measured time and memory go to stderr. Exit status: the command's,
 * 128+N for signal N, 124 time limit, 137 memory limit, 141 output limit,
 * 153 file-size limit, 126 process limit, 127 command not found, 125 farm
 * itself failed. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "cli_util.h"
#include "local.h"
#include "verbs.h"

static void run_help(void)
{
    printf("Usage: farm run -P PACKAGES [OPTIONS] -- COMMAND [ARGS...]\n\n"
           "Runs COMMAND in a sandbox holding only the Nix packages given (no network, own\n"
           "PID/mount/user namespaces, limits) with a copy of the current directory at /box.\n"
           "No daemon is needed; packages are realised into the local state directory.\n\n"
           "  -P, --packages LIST   Nix packages: python3,gcc (required)\n"
           "  -S, --package-set NAME  the package set (default debian; a nixpkgs set of\n"
           "                        nix.sources_file takes attribute paths: -P "
           "python3Packages.numpy)\n"
           "      --ro              bind the current directory read-only instead of copying\n"
           "      --box-size SIZE   size of the box tmpfs (default 256M)\n"
           "  -e, --env KEY=VALUE   environment (repeatable)\n"
           "  -i, --stdin           pass farm's stdin to the command (default: /dev/null)\n"
           "      --state-dir DIR   state directory (default ~/.local/state/nixfarm)\n"
           "      --json            print {exit_code, signal, limit, cpu_ms, wall_ms,\n"
           "                        memory_kib, stdout, stderr} instead of the output\n"
           "  -q, --quiet           no summary line\n\n"
           "%s\n"
           "Exit status: the command's own; 128+N killed by signal N; 124 time limit, 137\n"
           "memory limit, 141 output limit, 153 file-size limit, 126 process limit, 127 not\n"
           "found, 125 farm failed.\n",
           FARM_LIMITS_HELP);
}

static int run_exit_code(const struct sandbox_result *r)
{
    switch (r->limit) {
    case SANDBOX_LIMIT_CPU:
    case SANDBOX_LIMIT_WALL:
        return FARM_RUN_TIME_LIMIT;
    case SANDBOX_LIMIT_MEMORY:
        return FARM_RUN_MEMORY_LIMIT;
    case SANDBOX_LIMIT_OUTPUT:
        return FARM_RUN_OUTPUT_LIMIT;
    case SANDBOX_LIMIT_FILE_SIZE:
        return FARM_RUN_FILE_LIMIT;
    case SANDBOX_LIMIT_PROCESSES:
        return FARM_RUN_PROCESS_LIMIT;
    default:
        break;
    }
    if (r->signal > 0)
        return 128 + r->signal;
    return r->exit_code >= 0 ? r->exit_code & 0xff : FARM_RUN_FARM_FAILED;
}

static void run_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

static inline void run_env_closep(local_env *e)
{
    local_env_close(e);
}

/* What `farm run`'s command line asks for. */
struct run_args {
    json_t *packages;
    json_t *limits;
    bool ro, inherit_stdin;
    uint64_t box_bytes;
    const char *state_flag;
    const char *package_set; /* --package-set, NULL: the default set */
    const char *envv[129];   /* --env KEY=VALUE, NULL-terminated */
    size_t nenv;
    const char *const *command; /* argv of the command, NULL-terminated */
};

static void run_args_done(struct run_args *a)
{
    json_decref(a->packages);
    json_decref(a->limits);
}

/* 1 to go on, 0 when done (--help), <0 on a bad command line (said). */
static int run_parse_argv(int argc, char **argv, struct run_args *a)
{
    enum { OPT_RO = OPT_VERB_FIRST, OPT_BOX_SIZE, OPT_STATE_DIR };
    static const struct option opts[] = {
        FARM_COMMON_LONG_OPTS,
        FARM_LIMIT_LONG_OPTS,
        {"packages", required_argument, NULL, 'P'},
        {"package-set", required_argument, NULL, 'S'},
        {"ro", no_argument, NULL, OPT_RO},
        {"box-size", required_argument, NULL, OPT_BOX_SIZE},
        {"env", required_argument, NULL, 'e'},
        {"stdin", no_argument, NULL, 'i'},
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {NULL, 0, NULL, 0},
    };
    int c;
    a->limits = json_object();
    a->box_bytes = 256u << 20;
    if (!a->limits)
        return -ENOMEM;
    /* "+": options end at the command, whose own options are its business. */
    while ((c = getopt_long(argc, argv, "+hqs:P:S:e:i", opts, NULL)) >= 0) {
        if (farm_common_opt(c, optarg))
            continue;
        int l = farm_limit_opt(c, optarg, a->limits);
        if (l < 0)
            return -EINVAL;
        if (l > 0)
            continue;
        switch (c) {
        case 'h':
            run_help();
            run_help_packages(a->state_flag);
            return 0;
        case 'P':
            json_decref(a->packages);
            a->packages = cli_split_list(optarg);
            break;
        case 'S':
            a->package_set = optarg;
            break;
        case OPT_RO:
            a->ro = true;
            break;
        case OPT_BOX_SIZE:
            if (cli_parse_size(optarg, 'B', &a->box_bytes) < 0 || a->box_bytes == 0) {
                cli_errorf("bad --box-size \"%s\"", optarg);
                return -EINVAL;
            }
            break;
        case 'e':
            if (!strchr(optarg, '=') || a->nenv >= 128) {
                cli_errorf("--env wants KEY=VALUE, got \"%s\"", optarg);
                return -EINVAL;
            }
            a->envv[a->nenv++] = optarg;
            break;
        case 'i':
            a->inherit_stdin = true;
            break;
        case OPT_STATE_DIR:
            a->state_flag = optarg;
            break;
        default:
            return -EINVAL;
        }
    }
    a->envv[a->nenv] = NULL;
    if (!a->packages || json_array_size(a->packages) == 0) {
        cli_errorf("farm run needs --packages (e.g. -P python3)");
        return -EINVAL;
    }
    if (optind >= argc) {
        cli_errorf("no command given: farm run -P PACKAGES -- COMMAND [ARGS...]");
        return -EINVAL;
    }
    a->command = (const char *const *)argv + optind;
    return 1;
}

/* The result: as JSON (--json), else the output the stream did not take yet;
 * then, unless quiet, the one-line summary on stderr. */
static void run_report(const struct sandbox_result *res, int code, bool quiet)
{
    if (arg_globals.json) {
        json_t *o = json_pack(
            "{s:i,s:o,s:s,s:I,s:I,s:I,s:s%,s:s%,s:b,s:b,s:s}", "exit_code", res->exit_code,
            "signal", res->signal ? json_integer(res->signal) : json_null(), "limit",
            sandbox_limit_name(res->limit), "cpu_ms", (json_int_t)res->cpu_ms, "wall_ms",
            (json_int_t)res->wall_ms, "memory_kib", (json_int_t)res->memory_kib, "stdout",
            res->stdout_buf ? res->stdout_buf : "", res->stdout_len, "stderr",
            res->stderr_buf ? res->stderr_buf : "", res->stderr_len, "stdout_truncated",
            res->stdout_truncated, "stderr_truncated", res->stderr_truncated, "accounting",
            sandbox_accounting_name(res->accounting));
        if (o) {
            json_object_set_new(o, "farm_exit", json_integer(code));
            json_dumpf(o, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
            json_decref(o);
        } else {
            /* Output that is not UTF-8 cannot be a JSON string. */
            printf("{\"exit_code\": %d, \"error\": \"output is not UTF-8\"}\n", res->exit_code);
        }
    } else {
        /* The part the stream did not take yet (a slow reader); nothing more
         * to a reader that left. */
        fflush(stdout);
        if (res->stdout_buf && !res->stdout_stream_failed)
            run_write_all(STDOUT_FILENO, res->stdout_buf + res->stdout_streamed,
                          res->stdout_len - res->stdout_streamed);
        if (res->stderr_buf && !res->stderr_stream_failed)
            run_write_all(STDERR_FILENO, res->stderr_buf + res->stderr_streamed,
                          res->stderr_len - res->stderr_streamed);
    }
    if (!quiet) {
        cli_colors k = cli_colors_for(isatty(STDERR_FILENO) && !getenv("NO_COLOR"));
        char b1[32], b2[32], b3[32], b4[32];
        const char *what = res->limit != SANDBOX_LIMIT_NONE ? "limit" : "exit";
        fprintf(stderr, "%sfarm run:%s %s%s %s%s · cpu %s · wall %s · memory %s\n", k.dim, k.reset,
                code == 0 ? k.green : k.red, what,
                res->limit != SANDBOX_LIMIT_NONE ? sandbox_limit_name(res->limit)
                : res->signal                    ? strsignal(res->signal)
                              : (snprintf(b4, sizeof b4, "%d", res->exit_code), b4),
                k.reset, cli_fmt_ms(b1, sizeof b1, (long long)res->cpu_ms),
                cli_fmt_ms(b2, sizeof b2, (long long)res->wall_ms),
                cli_fmt_kib(b3, sizeof b3, (long long)res->memory_kib));
    }
}

int verb_run(int argc, char **argv)
{
    _cleanup_(run_args_done) struct run_args a = {0};
    int r = run_parse_argv(argc, argv, &a);
    if (r <= 0)
        return r == 0 ? FARM_EXIT_OK : FARM_RUN_FARM_FAILED;
    if (geteuid() != 0) {
        cli_errorf("farm run needs root for its namespaces and cgroups (run it with sudo)");
        return FARM_RUN_FARM_FAILED;
    }
    bool quiet = arg_globals.quiet || arg_globals.json;

    char err[4096] = "";
    _cleanup_free_ char *state_dir = local_state_dir(a.state_flag);
    _cleanup_(run_env_closep) local_env env = {0};
    r = local_env_open(&env, state_dir, a.package_set, a.packages, false, err, sizeof err);
    if (local_interrupted())
        return 128 + local_interrupted();
    if (r < 0) {
        cli_errorf("%s", err);
        return FARM_RUN_FARM_FAILED;
    }
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) {
        cli_errorf("cannot read the current directory: %s", strerror(errno));
        return FARM_RUN_FARM_FAILED;
    }
    char box[PATH_MAX];
    bool made_box = false;
    if (a.ro) {
        snprintf(box, sizeof box, "%s", cwd);
    } else {
        r = local_box_new(&env, cwd, a.box_bytes, box, sizeof box, err, sizeof err);
        if (r < 0) {
            cli_errorf("%s", err);
            return FARM_RUN_FARM_FAILED;
        }
        made_box = true;
    }

    local_cmd cmd = {.argv = a.command,
                     .extra_env = a.envv,
                     .box = box,
                     .box_readonly = a.ro,
                     .stdin_inherit = a.inherit_stdin};
    /* Output is also held in memory (for --json and a reader that falls
     * behind): cap it unless asked. */
    cmd.limits.output_bytes = 64u << 20;
    if (!arg_globals.json) {
        fflush(stdout);
        fflush(stderr);
        cmd.stream = true;
        cmd.stream_stdout_fd = STDOUT_FILENO;
        cmd.stream_stderr_fd = STDERR_FILENO;
    }
    local_limits_from_json(&cmd.limits, a.limits);
    struct sandbox_result res;
    r = local_run(&env, &cmd, &res, err, sizeof err);
    if (made_box)
        local_box_destroy(box);
    if (local_interrupted()) {
        sandbox_result_free(&res);
        return 128 + local_interrupted();
    }
    if (r == -ENOENT) {
        cli_errorf("%s", err);
        sandbox_result_free(&res);
        return FARM_RUN_NOT_FOUND;
    }
    if (r < 0) {
        cli_errorf("sandbox: %s", err);
        sandbox_result_free(&res);
        return FARM_RUN_FARM_FAILED;
    }
    int code = run_exit_code(&res);
    run_report(&res, code, quiet);
    sandbox_result_free(&res);
    return code;
}
