/* ci.c — `farm ci`: run the job of a git work tree at HEAD, locally in the
 * sandbox or on a farm (--remote), print a summary, write JUnit, exit non-zero
 * on failure.
 *
 * The job file is farm.json at the top of the work tree (TOML is not read:
 * Debian 12 has no C TOML library, only C++ ones):
 *
 *   {"name": "demo", "packages": ["gcc"],
 *    "limits": {"cpu_ms": 5000, "memory_kib": 262144},        per step / test
 *    "steps": [{"name": "build", "run": "gcc -O2 -o main main.c"},
 *              {"name": "io", "run": "./main", "tests": "tests/io"}]}
 *
 * A step with "tests" runs its command once per NAME.in (stdin) and compares
 * stdout with NAME.out (trailing whitespace ignored); a step without tests
 * passes when its command exits 0. Steps run in order; after a failing step
 * the rest are skipped.
 *
 * Local: the committed tree at HEAD is checked out into one box (uncommitted
 * changes are not part of the job, as in CI); plain steps run with /box
 * writable, so a build's outputs reach later steps; test steps see /box
 * read-only. Remote: each step with tests becomes a submission whose compile
 * command is the plain steps before it joined with " && " (no test step: the
 * last step is the run); sources go inline (HEAD's files) or, with
 * --git-source URL, as {"source": {"git": {url, rev: HEAD}}}. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/gitsrc.h"
#include "../common/junit.h"
#include "ci_job.h"
#include "cli_util.h"
#include "local.h"
#include "report.h"
#include "submission.h"
#include "verbs.h"

#define CI_MAX_TREE (256ll << 20)

typedef struct {
    const char *dir;        /* -C */
    const char *job_file;   /* --job, relative to the work tree */
    const char *remote;     /* --remote URL */
    const char *git_source; /* --git-source URL */
    const char *junit;      /* --junit FILE */
    const char *state_dir;
} ci_args;

static void ci_help(void)
{
    printf("Usage: farm ci [OPTIONS]\n\n"
           "Runs the job in farm.json of the git work tree at HEAD (committed files only),\n"
           "locally in the sandbox (needs root) or on a farm, prints a summary and exits\n"
           "non-zero when a step or test fails.\n\n"
           "  -C, --directory DIR   the work tree (default: the current directory)\n"
           "      --job FILE        job file in the tree (default farm.json)\n"
           "      --remote URL      run on the farm at URL instead of locally\n"
           "      --git-source URL  with --remote: let the farm fetch the sources from URL\n"
           "                        at HEAD's commit instead of sending the files\n"
           "      --junit FILE      write JUnit XML there\n"
           "      --state-dir DIR   local state directory (default ~/.local/state/nixfarm)\n"
           "      --json            print the summary as JSON\n");
}

/* ---- job -------------------------------------------------------------------- */

static int ci_load_job(const char *tree, const char *job_file, json_t **job, char *err,
                       size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", tree, job_file);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        if (access(path, F_OK) != 0)
            snprintf(err, errlen, "%s is not in the commit at HEAD (is it committed?)", job_file);
        else
            snprintf(err, errlen, "%s:%d:%d: %s", job_file, je.line, je.column, je.text);
        return -EINVAL;
    }
    if (ci_job_check(j, job_file, err, errlen) < 0) {
        json_decref(j);
        return -EINVAL;
    }
    *job = j;
    return 0;
}

static const char *ci_str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* ---- comparing ----------------------------------------------------------------- */

/* Equal after trimming trailing blanks of every line and trailing empty lines:
 * what graders call "trailing whitespace" comparison. */
static size_t ci_trimmed_len(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    return n;
}

static bool ci_output_matches(const char *got, size_t gn, const char *want, size_t wn)
{
    gn = ci_trimmed_len(got, gn);
    wn = ci_trimmed_len(want, wn);
    size_t i = 0, j = 0;
    while (i < gn || j < wn) {
        size_t ge = i, we = j;
        while (ge < gn && got[ge] != '\n')
            ge++;
        while (we < wn && want[we] != '\n')
            we++;
        size_t gl = ci_trimmed_len(got + i, ge - i), wl = ci_trimmed_len(want + j, we - j);
        if (gl != wl || memcmp(got + i, want + j, gl) != 0)
            return false;
        if ((ge < gn) != (we < wn))
            return false;
        i = ge + 1;
        j = we + 1;
    }
    return true;
}

/* ---- local ------------------------------------------------------------------- */

typedef struct {
    junit_doc *junit;
    json_t *summary; /* [{name, status, tests, failed, detail}] */
    int failed_steps;
} ci_run;

static const char *ci_verdict_of(const struct sandbox_result *r)
{
    switch (r->limit) {
    case SANDBOX_LIMIT_CPU:
    case SANDBOX_LIMIT_WALL:
        return "time_limit";
    case SANDBOX_LIMIT_MEMORY:
        return "memory_limit";
    case SANDBOX_LIMIT_OUTPUT:
    case SANDBOX_LIMIT_FILE_SIZE:
        return "output_limit";
    default:
        break;
    }
    if (r->status == SANDBOX_INTERNAL_ERROR)
        return "internal_error";
    if (r->signal || r->exit_code != 0)
        return "runtime_error";
    return "accepted";
}

static void ci_add_result_case(ci_run *run, const char *suite, const char *name,
                               const struct sandbox_result *r, const char *verdict)
{
    char msg[160];
    const char *kind = NULL;
    if (strcmp(verdict, "accepted") != 0) {
        kind = strcmp(verdict, "internal_error") == 0 ? "error" : "failure";
        if (r->signal)
            snprintf(msg, sizeof msg, "%s: killed by signal %d", verdict, r->signal);
        else if (strcmp(verdict, "wrong_answer") == 0)
            snprintf(msg, sizeof msg, "wrong answer: the output differs from NAME.out");
        else
            snprintf(msg, sizeof msg, "%s: exit code %d", verdict, r->exit_code);
    }
    junit_add_case(run->junit, suite, name, (double)r->wall_ms / 1000.0, kind, verdict,
                   kind ? msg : NULL, r->stdout_buf, r->stderr_buf);
}

static int ci_local_step(ci_run *run, local_env *env, const char *box, const char *tree,
                         const json_t *job, const json_t *step, bool skip)
{
    const char *name = ci_str(step, "name");
    const char *tests_dir = ci_str(step, "tests");
    json_t *entry =
        json_pack("{s:s,s:s,s:i,s:i}", "name", name, "status", "passed", "tests", 0, "failed", 0);
    json_array_append_new(run->summary, entry);
    if (skip) {
        json_object_set_new(entry, "status", json_string("skipped"));
        junit_add_case(run->junit, name, name, 0, "skipped", "skipped", "an earlier step failed",
                       NULL, NULL);
        return 0;
    }
    _cleanup_json_ json_t *limits = ci_job_step_limits(job, step);
    local_cmd cmd = {.shell_cmd = ci_str(step, "run"), .box = box};
    cmd.limits.output_bytes = 16u << 20;
    local_limits_from_json(&cmd.limits, limits);
    char err[1024] = "";
    if (!*tests_dir) {
        struct sandbox_result r;
        int e = local_run(env, &cmd, &r, err, sizeof err);
        if (e < 0) {
            r.status = SANDBOX_INTERNAL_ERROR;
            snprintf(r.message, sizeof r.message, "%s", err);
        }
        const char *v = e < 0 ? "internal_error" : ci_verdict_of(&r);
        ci_add_result_case(run, name, name, &r, v);
        json_object_set_new(entry, "tests", json_integer(1));
        if (strcmp(v, "accepted") != 0) {
            json_object_set_new(entry, "status", json_string("failed"));
            json_object_set_new(entry, "failed", json_integer(1));
            char d[300];
            snprintf(d, sizeof d, "%s%s%s", v, e < 0 ? ": " : "", e < 0 ? err : "");
            json_object_set_new(entry, "detail", json_string(d));
            json_object_set_new(entry, "stderr", json_string(r.stderr_buf ? r.stderr_buf : ""));
            run->failed_steps++;
        }
        json_object_set_new(entry, "wall_ms", json_integer((json_int_t)r.wall_ms));
        sandbox_result_free(&r);
        return 0;
    }
    /* Tests are read from the checkout, not from the box a build step may
     * have changed. */
    _cleanup_json_ json_t *tests = json_array();
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", tree, tests_dir);
    if (submission_add_tests_dir(tests, dir, err, sizeof err) < 0) {
        json_object_set_new(entry, "status", json_string("failed"));
        json_object_set_new(entry, "detail", json_string(err));
        junit_add_case(run->junit, name, name, 0, "error", "job_error", err, NULL, NULL);
        run->failed_steps++;
        return 0;
    }
    cmd.box_readonly = true;
    int failed = 0;
    size_t i;
    json_t *t;
    json_array_foreach(tests, i, t)
    {
        const char *in = json_string_value(json_object_get(t, "stdin"));
        const char *want = json_string_value(json_object_get(t, "expected_output"));
        cmd.stdin_buf = in;
        cmd.stdin_len = in ? strlen(in) : 0;
        struct sandbox_result r;
        int e = local_run(env, &cmd, &r, err, sizeof err);
        const char *v = e < 0 ? "internal_error" : ci_verdict_of(&r);
        if (strcmp(v, "accepted") == 0 && want &&
            !ci_output_matches(r.stdout_buf ? r.stdout_buf : "", r.stdout_len, want, strlen(want)))
            v = "wrong_answer";
        if (e < 0)
            snprintf(r.message, sizeof r.message, "%s", err);
        ci_add_result_case(run, name, ci_str(t, "name"), &r, v);
        if (strcmp(v, "accepted") != 0) {
            if (failed++ == 0) {
                char d[300];
                snprintf(d, sizeof d, "%s: %s", ci_str(t, "name"), v);
                json_object_set_new(entry, "detail", json_string(d));
            }
        }
        sandbox_result_free(&r);
    }
    json_object_set_new(entry, "tests", json_integer((json_int_t)json_array_size(tests)));
    json_object_set_new(entry, "failed", json_integer(failed));
    if (failed) {
        json_object_set_new(entry, "status", json_string("failed"));
        run->failed_steps++;
    }
    return 0;
}

static inline void ci_env_closep(local_env *e)
{
    local_env_close(e);
}

static int ci_local(const ci_args *a, const char *toplevel, const char *commit, json_t *job,
                    ci_run *run, char *err, size_t errlen)
{
    if (geteuid() != 0) {
        snprintf(err, errlen, "local runs need root for the sandbox; use sudo, or --remote URL");
        return FARM_EXIT_NOPERM;
    }
    _cleanup_free_ char *state_dir = local_state_dir(a->state_dir);
    _cleanup_(ci_env_closep) local_env env = {0};
    int r =
        local_env_open(&env, state_dir, NULL, json_object_get(job, "packages"), false, err, errlen);
    if (r < 0)
        return r == -EINVAL ? FARM_EXIT_REJECTED : FARM_EXIT_DEPS_FAILED;
    char box[PATH_MAX];
    r = local_box_new(&env, NULL, 512u << 20, box, sizeof box, err, errlen);
    if (r < 0)
        return FARM_EXIT_SOFTWARE;
    r = gitsrc_checkout_worktree(toplevel, commit, box, CI_MAX_TREE, err, errlen);
    if (r < 0) {
        local_box_destroy(box);
        return FARM_EXIT_NOINPUT;
    }
    size_t i;
    json_t *step;
    json_array_foreach(json_object_get(job, "steps"), i, step)
    {
        if (local_interrupted())
            break;
        ci_local_step(run, &env, box, toplevel, job, step, run->failed_steps > 0);
    }
    local_box_destroy(box);
    if (local_interrupted()) {
        snprintf(err, errlen, "interrupted by signal %d", local_interrupted());
        return 128 + local_interrupted();
    }
    return 0;
}

/* ---- remote ----------------------------------------------------------------------- */

static int ci_remote(const ci_args *a, const char *tree, const char *commit, json_t *job,
                     ci_run *run, char *err, size_t errlen)
{
    arg_globals.server = a->remote;
    farm_client cl;
    int e = farm_client_open(&cl);
    if (e)
        return e;
    _cleanup_json_ json_t *files = NULL;
    if (!a->git_source) {
        files = json_array();
        if (submission_add_path(files, tree, "", err, errlen) < 0) {
            client_done(&cl);
            return FARM_EXIT_NOINPUT;
        }
    }
    json_t *steps = json_object_get(job, "steps");
    size_t n = json_array_size(steps);
    /* Submissions: one per test step; with none, the whole job as one. */
    int worst = 0;
    size_t i;
    json_t *step;
    char compile[8192] = "";
    size_t clen = 0;
    bool any_tests = false;
    json_array_foreach(steps, i, step) any_tests |= *ci_str(step, "tests") != '\0';
    json_array_foreach(steps, i, step)
    {
        const char *tests_dir = ci_str(step, "tests");
        bool last = i + 1 == n;
        if (!*tests_dir && !(last && !any_tests)) {
            clen +=
                (size_t)snprintf(compile + clen, clen < sizeof compile ? sizeof compile - clen : 0,
                                 "%s(%s)", clen ? " && " : "", ci_str(step, "run"));
            continue;
        }
        const char *name = ci_str(step, "name");
        _cleanup_json_ json_t *req = json_pack(
            "{s:O,s:s}", "packages", json_object_get(job, "packages"), "run", ci_str(step, "run"));
        if (clen)
            json_object_set_new(req, "compile", json_string(compile));
        if (files)
            json_object_set(req, "files", files);
        else
            json_object_set_new(req, "source",
                                json_pack("{s:{s:s,s:s,s:s}}", "git", "url", a->git_source, "rev",
                                          commit, "subdir", ""));
        int n_tests = 1;
        if (*tests_dir) {
            json_t *tests = json_array();
            char dir[PATH_MAX];
            snprintf(dir, sizeof dir, "%s/%s", tree, tests_dir);
            if (submission_add_tests_dir(tests, dir, err, errlen) < 0) {
                json_decref(tests);
                client_done(&cl);
                return FARM_EXIT_NOINPUT;
            }
            n_tests = (int)json_array_size(tests);
            json_object_set_new(req, "tests", tests);
        }
        json_t *limits = ci_job_step_limits(job, step);
        if (json_object_size(limits))
            json_object_set_new(req, "limits", json_pack("{s:o}", "run", limits));
        else
            json_decref(limits);
        char id[33];
        e = submission_post(&cl, req, id, err, errlen);
        if (e) {
            client_done(&cl);
            return e;
        }
        if (!cl.json && !cl.quiet)
            fprintf(stderr, "farm ci: step %s is submission %s\n", name, id);
        _cleanup_json_ json_t *view = NULL;
        e = submission_follow(&cl, id, n_tests, &view, err, errlen);
        if (e) {
            client_done(&cl);
            return e;
        }
        junit_add_submission(run->junit, name, view);
        int code = report_exit_code(view);
        int failed = 0, total = 0;
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(view, "tests"), k, t)
        {
            total++;
            failed += strcmp(ci_str(t, "verdict"), "accepted") != 0;
        }
        json_t *entry = json_pack(
            "{s:s,s:s,s:i,s:i,s:s,s:s}", "name", name, "status", code ? "failed" : "passed",
            "tests", total, "failed", failed, "submission", id, "verdict",
            *ci_str(view, "verdict") ? ci_str(view, "verdict") : ci_str(view, "state"));
        if (code) {
            json_object_set_new(entry, "detail",
                                json_string(*ci_str(view, "verdict") ? ci_str(view, "verdict")
                                                                     : ci_str(view, "state")));
            run->failed_steps++;
        }
        json_array_append_new(run->summary, entry);
        if (code > worst)
            worst = code;
        clen = 0;
        compile[0] = '\0';
    }
    client_done(&cl);
    return 0;
}

/* ---- the verb ------------------------------------------------------------------------ */

static void ci_print_summary(const json_t *job, const char *commit, bool remote, const ci_run *run)
{
    cli_colors k = cli_colors_for(isatty(STDOUT_FILENO) && !getenv("NO_COLOR"));
    printf("%sfarm ci%s %s at %.12s (%s)\n", k.bold, k.reset, ci_str(job, "name"), commit,
           remote ? "remote" : "local");
    size_t i;
    json_t *s;
    json_array_foreach(run->summary, i, s)
    {
        const char *st = ci_str(s, "status");
        const char *col = strcmp(st, "passed") == 0    ? k.green
                          : strcmp(st, "skipped") == 0 ? k.dim
                                                       : k.red;
        long long tests = (long long)json_integer_value(json_object_get(s, "tests"));
        long long failed = (long long)json_integer_value(json_object_get(s, "failed"));
        printf("  %s%-8s%s %-20s", col, st, k.reset, ci_str(s, "name"));
        if (tests > 1 || *ci_str(s, "submission"))
            printf(" %lld/%lld passed", tests - failed, tests);
        if (*ci_str(s, "detail"))
            printf("  %s", ci_str(s, "detail"));
        putchar('\n');
    }
    printf("%s%s%s\n", run->failed_steps ? k.red : k.green, run->failed_steps ? "FAILED" : "PASSED",
           k.reset);
}

int verb_ci(int argc, char **argv)
{
    enum { OPT_JOB = OPT_VERB_FIRST, OPT_REMOTE, OPT_GIT_SOURCE, OPT_JUNIT, OPT_STATE_DIR };
    static const struct option opts[] = {
        FARM_COMMON_LONG_OPTS,
        {"directory", required_argument, NULL, 'C'},
        {"job", required_argument, NULL, OPT_JOB},
        {"remote", required_argument, NULL, OPT_REMOTE},
        {"git-source", required_argument, NULL, OPT_GIT_SOURCE},
        {"junit", required_argument, NULL, OPT_JUNIT},
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {NULL, 0, NULL, 0},
    };
    ci_args a = {.dir = ".", .job_file = "farm.json"};
    int c;
    while ((c = getopt_long(argc, argv, "hqs:C:", opts, NULL)) >= 0) {
        if (farm_common_opt(c, optarg))
            continue;
        switch (c) {
        case 'h':
            ci_help();
            return FARM_EXIT_OK;
        case 'C':
            a.dir = optarg;
            break;
        case OPT_JOB:
            a.job_file = optarg;
            break;
        case OPT_REMOTE:
            a.remote = optarg;
            break;
        case OPT_GIT_SOURCE:
            a.git_source = optarg;
            break;
        case OPT_JUNIT:
            a.junit = optarg;
            break;
        case OPT_STATE_DIR:
            a.state_dir = optarg;
            break;
        default:
            return FARM_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        cli_errorf("unexpected argument \"%s\"", argv[optind]);
        return FARM_EXIT_USAGE;
    }
    if (a.git_source && !a.remote) {
        cli_errorf("--git-source only makes sense with --remote");
        return FARM_EXIT_USAGE;
    }
    char err[4096] = "", commit[41];
    _cleanup_free_ char *toplevel = NULL;
    if (gitsrc_worktree_head(a.dir, commit, &toplevel, err, sizeof err) < 0) {
        cli_errorf("%s", err);
        return FARM_EXIT_NOINPUT;
    }
    /* HEAD's tree in a scratch directory: the job file and the tests come
     * from the commit, not from whatever is in the work tree. */
    char tree[] = "/tmp/farm-ci-XXXXXX";
    if (!mkdtemp(tree)) {
        cli_errorf("cannot make a temporary directory: %s", strerror(errno));
        return FARM_EXIT_SOFTWARE;
    }
    int code = 0;
    _cleanup_json_ json_t *job = NULL;
    ci_run run = {.junit = NULL, .summary = json_array()};
    if (gitsrc_checkout_worktree(toplevel, commit, tree, CI_MAX_TREE, err, sizeof err) < 0) {
        cli_errorf("%s", err);
        code = FARM_EXIT_NOINPUT;
        goto out;
    }
    if (ci_load_job(tree, a.job_file, &job, err, sizeof err) < 0) {
        cli_errorf("%s", err);
        code = FARM_EXIT_USAGE;
        goto out;
    }
    if (!json_object_get(job, "name")) {
        const char *base = strrchr(toplevel, '/');
        json_object_set_new(job, "name", json_string(base ? base + 1 : toplevel));
    }
    run.junit = junit_new(ci_str(job, "name"));
    code = a.remote ? ci_remote(&a, tree, commit, job, &run, err, sizeof err)
                    : ci_local(&a, toplevel, commit, job, &run, err, sizeof err);
    if (code) {
        cli_errorf("%s", err);
        goto out;
    }
    if (a.junit) {
        _cleanup_free_ char *xml = junit_render(run.junit);
        FILE *f = xml ? fopen(a.junit, "w") : NULL;
        if (!f || fputs(xml, f) < 0 || fclose(f) != 0) {
            cli_errorf("cannot write %s: %s", a.junit, strerror(errno));
            code = FARM_EXIT_SOFTWARE;
            goto out;
        }
    }
    if (arg_globals.json) {
        _cleanup_json_ json_t *o = json_pack(
            "{s:s,s:s,s:s,s:b,s:O}", "name", ci_str(job, "name"), "commit", commit, "mode",
            a.remote ? "remote" : "local", "passed", run.failed_steps == 0, "steps", run.summary);
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        ci_print_summary(job, commit, a.remote != NULL, &run);
    }
    code = run.failed_steps ? FARM_EXIT_TESTS_FAILED : FARM_EXIT_OK;
out:
    junit_free(run.junit);
    json_decref(run.summary);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tree);
    (void)!system(cmd);
    return code;
}
