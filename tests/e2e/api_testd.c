/* api_testd.c — runs only the API role, for the e2e tests of the HTTP API.
 *
 * Accepts farmd's command line as tests/lib/farmtest.py uses it (--set k=v,
 * --config, --role/--workers/--builders ignored, the `token` verb), so the API
 * suites run before (and independently of) the worker half: validation,
 * auth, limits and the OpenAPI examples need no worker. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/config.h"
#include "../../common/log.h"
#include "../../daemon/token.h"
#include "../../daemon/roles.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},   {"set", required_argument, NULL, 's'},
        {"role", required_argument, NULL, 'r'},     {"workers", required_argument, NULL, 'w'},
        {"builders", required_argument, NULL, 'b'}, {NULL, 0, NULL, 0},
    };
    const char *cfgpath = NULL;
    const char *sets[64];
    int nsets = 0, c;
    while ((c = getopt_long(argc, argv, "+c:s:r:w:b:", opts, NULL)) != -1) {
        if (c == 'c')
            cfgpath = optarg;
        else if (c == 's' && nsets < 64)
            sets[nsets++] = optarg;
        else if (c == '?')
            return 2;
    }
    config *cfg = NULL;
    char err[512];
    if (config_load(cfgpath, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "api_testd: %s\n", err);
        return 1;
    }
    for (int i = 0; i < nsets; i++) {
        char *eq = strchr(sets[i], '=');
        if (!eq) {
            fprintf(stderr, "api_testd: --set %s: want key=value\n", sets[i]);
            return 2;
        }
        *eq = '\0';
        if (config_set(cfg, sets[i], eq + 1, err, sizeof(err)) < 0) {
            fprintf(stderr, "api_testd: --set: %s\n", err);
            return 2;
        }
    }
    int lvl = log_level_from_string(config_str(cfg, "log.level"));
    if (lvl >= 0)
        log_set_level(lvl);
    if (optind < argc && !strcmp(argv[optind], "token")) {
        int r = token_command(cfg, argc - optind, argv + optind);
        config_free(cfg);
        return r;
    }
    log_set_role("api");
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int r = api_run(cfg, &stop_flag);
    config_free(cfg);
    return r < 0 ? 1 : 0;
}
