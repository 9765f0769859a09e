/* verbs_remote.c — the verbs that talk to a farmd: submit, status, watch,
 * cancel, junit, profiles, depsets. Each prints a table on a terminal (or
 * plain text when piped) and only JSON with --json. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "cli_util.h"
#include "report.h"
#include "submission.h"
#include "verbs.h"

static inline void verbs_client_donep(farm_client *c)
{
    client_done(c);
}
#define _cleanup_client_ __attribute__((cleanup(verbs_client_donep)))

/* How a limit option's value reads: a duration, a size (bytes or KiB for a
 * bare number) or a plain count. */
enum farm_limit_unit { LIMIT_MS, LIMIT_BYTES, LIMIT_KIB, LIMIT_COUNT };

/* Each limit option: the key it sets in the request's "limits" and its unit. */
static const struct farm_limit_spec {
    int opt;
    const char *key;
    enum farm_limit_unit unit;
} farm_limit_specs[] = {
    {OPT_LIM_TIME, "cpu_ms", LIMIT_MS},
    {OPT_LIM_WALL, "wall_ms", LIMIT_MS},
    {OPT_LIM_MEMORY, "memory_kib", LIMIT_KIB},
    {OPT_LIM_PROCS, "processes", LIMIT_COUNT},
    {OPT_LIM_OUTPUT, "output_bytes", LIMIT_BYTES},
    {OPT_LIM_FSIZE, "file_bytes", LIMIT_BYTES},
    {OPT_LIM_FILES, "open_files", LIMIT_COUNT},
    {OPT_LIM_STACK, "stack_kib", LIMIT_KIB},
};

static int farm_limit_parse(enum farm_limit_unit unit, const char *arg, uint64_t *v)
{
    switch (unit) {
    case LIMIT_MS:
        return cli_parse_ms(arg, v);
    case LIMIT_BYTES:
        return cli_parse_size(arg, 'B', v);
    case LIMIT_KIB:
        return cli_parse_size(arg, 'K', v);
    case LIMIT_COUNT:
    default:
        return cli_parse_uint(arg, v);
    }
}

int farm_limit_opt(int c, const char *arg, json_t *limits)
{
    const struct farm_limit_spec *spec = NULL;
    for (size_t i = 0; i < sizeof(farm_limit_specs) / sizeof(farm_limit_specs[0]); i++)
        if (farm_limit_specs[i].opt == c)
            spec = &farm_limit_specs[i];
    if (!spec)
        return 0;
    uint64_t v = 0;
    int r = farm_limit_parse(spec->unit, arg, &v);
    if (r < 0 || v > (uint64_t)INT64_MAX) {
        cli_errorf("bad value \"%s\" for the %s limit", arg, spec->key);
        return -EINVAL;
    }
    json_object_set_new(limits, spec->key, json_integer((json_int_t)v));
    return 1;
}

/* Prints the final view the way the flags ask; returns its exit code. */
static int verbs_print_view(const farm_client *c, json_t *view)
{
    if (c->json) {
        json_dumpf(view, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        report_table(c, view, stdout);
    }
    fflush(stdout);
    return report_exit_code(view);
}

/* ---- submit ------------------------------------------------------------------ */

static void submit_help(void)
{
    printf("Usage: farm submit [OPTIONS] [FILE|DIR|NAME=FILE]...\n\n"
           "Sends the files (directories recursively, .git left out; NAME=FILE sends FILE\n"
           "as NAME) with the packages and commands to the farm, follows the submission\n"
           "and prints the verdict table.\n\n"
           "  -p, --profile NAME     a language profile (farm profiles)\n"
           "  -P, --packages LIST    Nix packages: python3,gcc\n"
           "  -S, --package-set NAME the package set (default debian; farm's nixpkgs sets\n"
           "                         take attribute paths: -P python3Packages.numpy)\n"
           "  -c, --compile CMD      compile command\n"
           "  -r, --run CMD          run command (once per test)\n"
           "  -t, --tests DIR        tests: NAME.in (stdin) / NAME.out (expected) pairs\n"
           "      --stdin FILE       stdin of the single test (without --tests)\n"
           "      --expect FILE      expected output of the single test\n"
           "  -e, --env KEY=VALUE    environment of the runs (repeatable)\n"
           "      --git URL          take the sources from a git repository instead\n"
           "      --rev REV          branch, tag or commit (default HEAD)\n"
           "      --subdir DIR       directory of the repository to use\n"
           "      --callback URL     POST the result there when it ends (signed)\n"
           "  -d, --detach           print the id and exit; do not follow\n"
           "%s\n"
           "Common options: --server, --token, --config, --json, --quiet (farm --help).\n",
           FARM_LIMITS_HELP);
}

/* What `farm submit`'s command line asks for: the request as far as options
 * build it, and what the files, --git and --stdin/--expect add after. */
struct submit_args {
    json_t *req, *limits, *tests, *env;
    const char *stdin_file, *expect_file, *git, *rev, *subdir;
    bool detach;
    int first_path; /* argv index of the first file argument */
};

static void submit_args_done(struct submit_args *a)
{
    json_decref(a->req);
    json_decref(a->limits);
    json_decref(a->tests);
    json_decref(a->env);
}

/* 1 to go on, 0 when done (--help), or minus the exit status of a bad
 * command line (said). */
static int submit_parse_argv(int argc, char **argv, struct submit_args *a)
{
    enum { OPT_STDIN = OPT_VERB_FIRST, OPT_EXPECT, OPT_GIT, OPT_REV, OPT_SUBDIR, OPT_CALLBACK };
    static const struct option opts[] = {
        FARM_COMMON_LONG_OPTS,
        FARM_LIMIT_LONG_OPTS,
        {"profile", required_argument, NULL, 'p'},
        {"packages", required_argument, NULL, 'P'},
        {"package-set", required_argument, NULL, 'S'},
        {"compile", required_argument, NULL, 'c'},
        {"run", required_argument, NULL, 'r'},
        {"tests", required_argument, NULL, 't'},
        {"stdin", required_argument, NULL, OPT_STDIN},
        {"expect", required_argument, NULL, OPT_EXPECT},
        {"env", required_argument, NULL, 'e'},
        {"git", required_argument, NULL, OPT_GIT},
        {"rev", required_argument, NULL, OPT_REV},
        {"subdir", required_argument, NULL, OPT_SUBDIR},
        {"callback", required_argument, NULL, OPT_CALLBACK},
        {"detach", no_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    char err[1024] = "";
    int c;
    a->req = json_object();
    a->limits = json_object();
    a->tests = json_array();
    a->env = json_object();
    if (!a->req || !a->limits || !a->tests || !a->env)
        return -FARM_EXIT_SOFTWARE;
    while ((c = getopt_long(argc, argv, "hqs:p:P:S:c:r:t:e:d", opts, NULL)) >= 0) {
        if (farm_common_opt(c, optarg))
            continue;
        int l = farm_limit_opt(c, optarg, a->limits);
        if (l < 0)
            return -FARM_EXIT_USAGE;
        if (l > 0)
            continue;
        switch (c) {
        case 'h':
            submit_help();
            return 0;
        case 'p':
            json_object_set_new(a->req, "profile", json_string(optarg));
            break;
        case 'P':
            json_object_set_new(a->req, "packages", cli_split_list(optarg));
            break;
        case 'S':
            json_object_set_new(a->req, "package_set", json_string(optarg));
            break;
        case 'c':
            json_object_set_new(a->req, "compile", json_string(optarg));
            break;
        case 'r':
            json_object_set_new(a->req, "run", json_string(optarg));
            break;
        case 't':
            if (submission_add_tests_dir(a->tests, optarg, err, sizeof err) < 0) {
                cli_errorf("--tests: %s", err);
                return -FARM_EXIT_NOINPUT;
            }
            break;
        case OPT_STDIN:
            a->stdin_file = optarg;
            break;
        case OPT_EXPECT:
            a->expect_file = optarg;
            break;
        case 'e': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                cli_errorf("--env wants KEY=VALUE, got \"%s\"", optarg);
                return -FARM_EXIT_USAGE;
            }
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)(eq - optarg), optarg);
            json_object_set_new(a->env, key, json_string(eq + 1));
            break;
        }
        case OPT_GIT:
            a->git = optarg;
            break;
        case OPT_REV:
            a->rev = optarg;
            break;
        case OPT_SUBDIR:
            a->subdir = optarg;
            break;
        case OPT_CALLBACK:
            json_object_set_new(a->req, "callback_url", json_string(optarg));
            break;
        case 'd':
            a->detach = true;
            break;
        default:
            return -FARM_EXIT_USAGE;
        }
    }
    a->first_path = optind;
    return 1;
}

/* The one test --stdin/--expect describe, or NULL with the reason said. */
static json_t *submit_single_test(const struct submit_args *a)
{
    json_t *t = json_pack("{s:s}", "name", "1");
    const char *paths[2] = {a->stdin_file, a->expect_file};
    const char *keys[2] = {"stdin", "expected_output"};
    for (int k = 0; k < 2; k++) {
        if (!paths[k])
            continue;
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r = cli_read_file(paths[k], &data, &len, 64u << 20);
        json_t *s = r < 0 ? NULL : json_stringn(data, len);
        if (!s) {
            cli_errorf("%s: %s", paths[k], r < 0 ? strerror(-r) : "not UTF-8 text");
            json_decref(t);
            return NULL;
        }
        json_object_set_new(t, keys[k], s);
    }
    return t;
}

/* Completes a->req: the files (NAME=PATH renames), the git source, the
 * tests, limits and env. 0, or the exit status of what was wrong (said). */
static int submit_build_request(struct submit_args *a, int argc, char **argv)
{
    char err[1024] = "";
    json_t *files = json_array();
    json_object_set_new(a->req, "files", files);
    for (int i = a->first_path; i < argc; i++) {
        /* NAME=PATH sends PATH under another name (solution.c as main.c),
         * unless a file of that very name exists. */
        const char *arg = argv[i], *eq = strchr(arg, '='), *name = NULL;
        char nbuf[256];
        if (eq && eq > arg && (size_t)(eq - arg) < sizeof nbuf && access(arg, F_OK) != 0) {
            snprintf(nbuf, sizeof nbuf, "%.*s", (int)(eq - arg), arg);
            name = nbuf;
            arg = eq + 1;
        }
        if (submission_add_path(files, arg, name, err, sizeof err) < 0) {
            cli_errorf("%s", err);
            return FARM_EXIT_NOINPUT;
        }
    }
    if (a->git) {
        json_object_set_new(a->req, "source",
                            json_pack("{s:{s:s,s:s,s:s}}", "git", "url", a->git, "rev",
                                      a->rev ? a->rev : "HEAD", "subdir",
                                      a->subdir ? a->subdir : ""));
        if (json_array_size(files) == 0)
            json_object_del(a->req, "files");
    } else if (json_array_size(files) == 0 && !json_object_get(a->req, "run")) {
        cli_errorf("nothing to run: give files, --git, or --run (see farm submit --help)");
        return FARM_EXIT_USAGE;
    }
    if ((a->stdin_file || a->expect_file) && json_array_size(a->tests) > 0) {
        cli_errorf("--stdin/--expect describe a single test; they do not mix with --tests");
        return FARM_EXIT_USAGE;
    }
    if (a->stdin_file || a->expect_file) {
        json_t *t = submit_single_test(a);
        if (!t)
            return FARM_EXIT_NOINPUT;
        json_array_append_new(a->tests, t);
    }
    if (json_array_size(a->tests) > 0)
        json_object_set(a->req, "tests", a->tests);
    if (json_object_size(a->limits) > 0)
        json_object_set_new(a->req, "limits", json_pack("{s:O}", "run", a->limits));
    if (json_object_size(a->env) > 0)
        json_object_set(a->req, "env", a->env);
    return 0;
}

int verb_submit(int argc, char **argv)
{
    _cleanup_(submit_args_done) struct submit_args a = {0};
    char err[1024] = "";
    int e = submit_parse_argv(argc, argv, &a);
    if (e <= 0)
        return -e;
    _cleanup_client_ farm_client cl = {0};
    e = farm_client_open(&cl);
    if (e)
        return e;
    e = submit_build_request(&a, argc, argv);
    if (e)
        return e;

    char id[33];
    e = submission_post(&cl, a.req, id, err, sizeof err);
    if (e) {
        cli_errorf("%s", err);
        return e;
    }
    if (a.detach) {
        if (cl.json)
            printf("{\"id\": \"%s\"}\n", id);
        else
            printf("%s\n", id);
        return FARM_EXIT_OK;
    }
    if (!cl.json && !cl.quiet && !cl.tty)
        fprintf(stderr, "submitted %s\n", id);
    _cleanup_json_ json_t *view = NULL;
    e = submission_follow(&cl, id, (int)json_array_size(a.tests), &view, err, sizeof err);
    if (e) {
        cli_errorf("%s", err);
        return e;
    }
    return verbs_print_view(&cl, view);
}

/* ---- status / watch / cancel / junit ---------------------------------------- */

/* Parses "VERB [common options] ID"; returns 0 with *id or an exit code. */
static int verbs_one_id(int argc, char **argv, const char *usage, const char **id)
{
    static const struct option opts[] = {FARM_COMMON_LONG_OPTS, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "hqs:", opts, NULL)) >= 0) {
        if (farm_common_opt(c, optarg))
            continue;
        if (c == 'h') {
            printf("%s", usage);
            return -1;
        }
        return FARM_EXIT_USAGE;
    }
    if (optind + 1 != argc) {
        cli_errorf("expected one submission id\n%s", usage);
        return FARM_EXIT_USAGE;
    }
    *id = argv[optind];
    if (strlen(*id) > 32 || strspn(*id, "0123456789abcdefABCDEF") != strlen(*id)) {
        cli_errorf("\"%s\" is not a submission id (32 hex characters)", *id);
        return FARM_EXIT_USAGE;
    }
    return 0;
}

/* The verbs about one submission start the same way: its id, then a client.
 * Returns 0, -1 after --help, or an exit code. */
static int verbs_open_one(int argc, char **argv, const char *usage, farm_client *cl,
                          const char **id)
{
    int e = verbs_one_id(argc, argv, usage, id);
    if (e)
        return e;
    return farm_client_open(cl);
}

/* status and watch go on to the submission's current view. Returns 0, -1
 * after --help, or an exit code. */
static int verbs_open_view(int argc, char **argv, const char *usage, farm_client *cl,
                           const char **id, json_t **view)
{
    int e = verbs_open_one(argc, argv, usage, cl, id);
    if (e)
        return e;
    char err[512];
    if ((e = submission_get(cl, *id, view, err, sizeof err)))
        cli_errorf("%s", err);
    return e;
}

int verb_status(int argc, char **argv)
{
    const char *id;
    _cleanup_client_ farm_client cl = {0};
    _cleanup_json_ json_t *view = NULL;
    int e = verbs_open_view(argc, argv,
                            "Usage: farm status [--json] ID\n\nShows the state and results; "
                            "exits with the verdict's status (6 while not finished).\n",
                            &cl, &id, &view);
    if (e)
        return e < 0 ? FARM_EXIT_OK : e;
    return verbs_print_view(&cl, view);
}

int verb_watch(int argc, char **argv)
{
    const char *id;
    _cleanup_client_ farm_client cl = {0};
    _cleanup_json_ json_t *first = NULL;
    int e = verbs_open_view(argc, argv,
                            "Usage: farm watch [--json] ID\n\nFollows the submission's event "
                            "stream until it ends, then prints the results.\n",
                            &cl, &id, &first);
    if (e)
        return e < 0 ? FARM_EXIT_OK : e;
    char err[512];
    int n_tests = (int)json_integer_value(json_object_get(first, "n_tests"));
    _cleanup_json_ json_t *view = NULL;
    if ((e = submission_follow(&cl, id, n_tests, &view, err, sizeof err))) {
        cli_errorf("%s", err);
        return e;
    }
    return verbs_print_view(&cl, view);
}

int verb_cancel(int argc, char **argv)
{
    const char *id;
    _cleanup_client_ farm_client cl = {0};
    int e = verbs_open_one(argc, argv,
                           "Usage: farm cancel [--json] ID\n\nCancels a queued submission at once "
                           "and a running one at its next step.\n",
                           &cl, &id);
    if (e)
        return e < 0 ? FARM_EXIT_OK : e;
    char err[512] = "", path[128];
    snprintf(path, sizeof path, "/v1/submissions/%s", id);
    long status = 0;
    _cleanup_json_ json_t *resp = NULL;
    int r = client_request(&cl, "DELETE", path, NULL, 60000, &status, &resp, err, sizeof err);
    if (r < 0) {
        cli_errorf("%s", err);
        return submission_exit_for(0, r);
    }
    if (status >= 300) {
        _cleanup_free_ char *msg = client_error_text(status, resp);
        cli_errorf("cannot cancel %s: %s", id, msg ? msg : "?");
        return submission_exit_for(status, 0);
    }
    if (cl.json) {
        json_dumpf(resp, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        const char *state = json_string_value(json_object_get(resp, "state"));
        printf("%s: %s\n", id, state ? state : "cancel requested");
    }
    return FARM_EXIT_OK;
}

int verb_junit(int argc, char **argv)
{
    const char *id;
    _cleanup_client_ farm_client cl = {0};
    int e =
        verbs_open_one(argc, argv,
                       "Usage: farm junit ID > report.xml\n\nPrints the submission's results as "
                       "JUnit XML (GET /v1/submissions/ID/junit).\n",
                       &cl, &id);
    if (e)
        return e < 0 ? FARM_EXIT_OK : e;
    char err[512] = "", path[128];
    snprintf(path, sizeof path, "/v1/submissions/%s/junit", id);
    long status = 0;
    _cleanup_free_ char *xml = NULL;
    int r = client_get_text(&cl, path, &status, &xml, err, sizeof err);
    if (r < 0) {
        cli_errorf("%s", err);
        return submission_exit_for(0, r);
    }
    if (status != 200) {
        cli_errorf("GET %s: HTTP %ld", path, status);
        return submission_exit_for(status, 0);
    }
    fputs(xml, stdout);
    return FARM_EXIT_OK;
}

/* ---- profiles / depsets -------------------------------------------------------- */

static int verbs_get_list(int argc, char **argv, const char *path, const char *usage, json_t **out,
                          farm_client *cl)
{
    static const struct option opts[] = {FARM_COMMON_LONG_OPTS, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "hqs:", opts, NULL)) >= 0) {
        if (farm_common_opt(c, optarg))
            continue;
        if (c == 'h') {
            printf("%s", usage);
            return -1;
        }
        return FARM_EXIT_USAGE;
    }
    if (optind != argc) {
        cli_errorf("unexpected argument \"%s\"", argv[optind]);
        return FARM_EXIT_USAGE;
    }
    int e = farm_client_open(cl);
    if (e)
        return e;
    char err[512] = "";
    long status = 0;
    int r = client_request(cl, "GET", path, NULL, 60000, &status, out, err, sizeof err);
    if (r < 0) {
        cli_errorf("%s", err);
        return submission_exit_for(0, r);
    }
    if (status != 200) {
        _cleanup_free_ char *msg = client_error_text(status, *out);
        cli_errorf("GET %s: %s", path, msg ? msg : "?");
        return submission_exit_for(status, 0);
    }
    if (cl->json) {
        json_dumpf(*out, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        return -1;
    }
    return 0;
}

/* Lists come as an array or wrapped in an object ({"profiles": [...]}). */
static json_t *verbs_list_of(json_t *resp, const char *key)
{
    if (json_is_array(resp))
        return resp;
    json_t *a = json_object_get(resp, key);
    if (json_is_array(a))
        return a;
    return json_object_get(resp, "items");
}

static void verbs_join(json_t *arr, char *buf, size_t len)
{
    buf[0] = '\0';
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        if (s)
            n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", i ? "," : "", s);
    }
}

int verb_profiles(int argc, char **argv)
{
    _cleanup_client_ farm_client cl = {0};
    _cleanup_json_ json_t *resp = NULL;
    int e = verbs_get_list(argc, argv, "/v1/profiles",
                           "Usage: farm profiles [--json]\n\nLists the language profiles.\n", &resp,
                           &cl);
    if (e)
        return e < 0 ? FARM_EXIT_OK : e;
    cli_colors k = cli_colors_for(cl.color);
    json_t *list = verbs_list_of(resp, "profiles");
    if (json_is_object(list) || (json_is_object(resp) && !list)) {
        /* {"c": {...}, "python": {...}} */
        json_t *obj = json_is_object(list) ? list : resp;
        printf("%s%-12s %-24s %s%s\n", k.bold, "PROFILE", "PACKAGES", "RUN", k.reset);
        const char *name;
        json_t *p;
        json_object_foreach(obj, name, p)
        {
            char pk[256];
            verbs_join(json_object_get(p, "packages"), pk, sizeof pk);
            printf("%-12s %-24s %s\n", name, pk,
                   json_string_value(json_object_get(p, "run")) ?: "");
        }
        return FARM_EXIT_OK;
    }
    printf("%s%-12s %-24s %-36s %s%s\n", k.bold, "PROFILE", "PACKAGES", "COMPILE", "RUN", k.reset);
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p)
    {
        char pk[256];
        verbs_join(json_object_get(p, "packages"), pk, sizeof pk);
        printf("%-12s %-24s %-36s %s\n", json_string_value(json_object_get(p, "name")) ?: "?", pk,
               json_string_value(json_object_get(p, "compile")) ?: "-",
               json_string_value(json_object_get(p, "run")) ?: "");
    }
    return FARM_EXIT_OK;
}

int verb_depsets(int argc, char **argv)
{
    _cleanup_client_ farm_client cl = {0};
    _cleanup_json_ json_t *resp = NULL;
    int e = verbs_get_list(argc, argv, "/v1/depsets",
                           "Usage: farm depsets [--json]\n\nLists the dependency sets the farm "
                           "has built or is building.\n",
                           &resp, &cl);
    if (e)
        return e < 0 ? FARM_EXIT_OK : e;
    cli_colors k = cli_colors_for(cl.color);
    json_t *list = verbs_list_of(resp, "depsets");
    printf("%s%-14s %-9s %-30s %10s %7s%s\n", k.bold, "KEY", "STATE", "PACKAGES", "SIZE", "HOLDERS",
           k.reset);
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d)
    {
        char pk[256] = "", sz[32];
        json_t *spec = json_object_get(d, "spec");
        if (json_is_string(spec)) {
            _cleanup_json_ json_t *sp = json_loads(json_string_value(spec), 0, NULL);
            verbs_join(json_object_get(sp, "packages"), pk, sizeof pk);
            if (!pk[0] && json_object_get(sp, "expr"))
                snprintf(pk, sizeof pk, "(nix expression)");
        } else {
            verbs_join(json_object_get(spec, "packages"), pk, sizeof pk);
        }
        if (!pk[0])
            verbs_join(json_object_get(d, "packages"), pk, sizeof pk);
        const char *state = json_string_value(json_object_get(d, "state")) ?: "?";
        long long bytes = (long long)json_integer_value(json_object_get(d, "closure_bytes"));
        printf("%-14.12s %s%-9s%s %-30.30s %10s %7lld\n",
               json_string_value(json_object_get(d, "key")) ?: "?",
               strcmp(state, "ready") == 0    ? k.green
               : strcmp(state, "failed") == 0 ? k.red
                                              : k.yellow,
               state, k.reset, pk, cli_fmt_kib(sz, sizeof sz, bytes / 1024),
               (long long)json_integer_value(json_object_get(d, "holders")));
    }
    return FARM_EXIT_OK;
}
