/* farm.c — the `farm` command: verbs from a table (systemd's Verb style).
 *
 *   farm [OPTIONS] VERB [VERB OPTIONS] [ARGS]
 *
 * Client verbs talk to a farmd over HTTP (client.c); `run` and `ci` run
 * locally without a daemon (run.c, ci.c) or, for ci, against one (--remote).
 * Exit codes: cli_util.h, documented in docs/cli.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "cli_util.h"
#include "verbs.h"

farm_globals arg_globals;

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} farm_verb;

static const farm_verb farm_verbs[] = {
    {"submit", verb_submit, "send files and tests to the farm, follow them, print the verdict"},
    {"status", verb_status, "show a submission's state and results"},
    {"watch", verb_watch, "follow a submission's progress until it ends"},
    {"cancel", verb_cancel, "cancel a submission"},
    {"junit", verb_junit, "print a submission's results as JUnit XML"},
    {"profiles", verb_profiles, "list the language profiles of the farm"},
    {"depsets", verb_depsets, "list the dependency sets in the farm's cache"},
    {"run", verb_run, "run a command locally in a sandbox with Nix packages (no daemon)"},
    {"ci", verb_ci, "run the farm.json job of a git work tree, locally or on a farm"},
    {NULL, NULL, NULL},
};

static void help(void)
{
    printf("farm — client of the nixfarm build and execution farm, and local sandboxed runs.\n\n"
           "Usage: farm [OPTIONS] VERB [ARGS...]\n\nVerbs:\n");
    for (const farm_verb *v = farm_verbs; v->name; v++)
        printf("  %-10s %s\n", v->name, v->summary);
    printf("\nOptions (also accepted after the verb):\n"
           "  -s, --server URL   farm address (FARM_URL, config \"server\"; default "
           "http://127.0.0.1:8080)\n"
           "      --token TOKEN  API token (FARM_TOKEN, config \"token\")\n"
           "      --config FILE  config file (default ~/.config/farm/config.json)\n"
           "      --json         machine-readable JSON on stdout, nothing else\n"
           "  -q, --quiet        no progress line\n"
           "  -h, --help         this text; `farm VERB --help` for a verb\n"
           "      --version      version\n\n"
           "Exit status: 0 accepted, 1 tests failed, 2 compile error, 3 dependencies failed,\n"
           "4 cancelled, 5 farm internal error, 6 not finished, 64 usage, 65 request refused,\n"
           "66 input unreadable, 69 farm unreachable, 77 not allowed. `farm run` exits with the\n"
           "command's status (see docs/cli.md).\n");
}

bool farm_common_opt(int c, const char *arg)
{
    switch (c) {
    case OPT_SERVER:
    case 's':
        arg_globals.server = arg;
        return true;
    case OPT_TOKEN:
        arg_globals.token = arg;
        return true;
    case OPT_CONFIG:
        arg_globals.config = arg;
        return true;
    case OPT_JSON:
        arg_globals.json = true;
        return true;
    case 'q':
        arg_globals.quiet = true;
        return true;
    default:
        return false;
    }
}

int farm_client_open(farm_client *c)
{
    char err[512] = "";
    memset(c, 0, sizeof *c);
    c->json = arg_globals.json;
    c->quiet = arg_globals.quiet;
    int r =
        client_init(c, arg_globals.server, arg_globals.token, arg_globals.config, err, sizeof err);
    if (r < 0) {
        cli_errorf("%s", err);
        return r == -ENOMEM ? FARM_EXIT_SOFTWARE : FARM_EXIT_USAGE;
    }
    return 0;
}

static int parse_argv(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 's'},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    /* "+": stop at the verb; its own options are parsed by the verb. */
    while ((c = getopt_long(argc, argv, "+s:qh", opts, NULL)) >= 0) {
        if (farm_common_opt(c, optarg))
            continue;
        switch (c) {
        case 'h':
            help();
            return 0;
        case 'V':
            printf("farm %s\n", FARM_CLI_VERSION);
            return 0;
        default:
            return -EINVAL;
        }
    }
    return 1;
}

int main(int argc, char **argv)
{
    int r = parse_argv(argc, argv);
    if (r <= 0)
        return r == 0 ? FARM_EXIT_OK : FARM_EXIT_USAGE;
    if (optind >= argc) {
        help();
        return FARM_EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        help();
        return FARM_EXIT_OK;
    }
    for (const farm_verb *v = farm_verbs; v->name; v++) {
        if (strcmp(v->name, name) != 0)
            continue;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
            cli_errorf("libcurl failed to initialise");
            return FARM_EXIT_SOFTWARE;
        }
        int vargc = argc - optind;
        char **vargv = argv + optind;
        optind = 0; /* getopt_long starts afresh for the verb */
        int code = v->fn(vargc, vargv);
        curl_global_cleanup();
        return code;
    }
    cli_errorf("unknown verb \"%s\"; see farm --help", name);
    return FARM_EXIT_USAGE;
}
