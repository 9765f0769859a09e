/* main.c — farmd: parse the command line, load the config, and run the chosen
 * roles under the supervisor (daemon/supervisor.h), or the `token` verb.
 *
 *   farmd [--config FILE] [--role api,worker,builder,health,webhooks]
 *         [--set key=value]... [--workers N] [--builders M]
 *   farmd [--config FILE] token create|list|revoke ...
 *   farmd [--config FILE] [--set KEY=VALUE]... config   (effective settings as JSON)
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "farm-build-config.h"
#include "../common/cleanup.h"
#include "../common/config.h"
#include "../common/log.h"
#include "compat/compat.h"
#include "roles.h"
#include "webhook/webhook.h"
#include "supervisor.h"
#include "worker/sandbox_features.h"
#include "token.h"

#define MAX_SETS 64
#define MAX_CHILDREN 1024

static const char *arg_config;
static const char *arg_roles = "all";
static const char *arg_sets[MAX_SETS];
static int arg_n_sets;
static const char *arg_workers;
static const char *arg_builders;
static const char *arg_remote;
static const char *arg_token;

static void help(void)
{
    printf("Usage: farmd [OPTIONS]\n"
           "       farmd [--config FILE] token create|list|revoke ...\n"
           "       farmd [--config FILE] [--set KEY=VALUE]... config\n\n"
           "Runs the nixfarm daemon: HTTP API, workers, cache-builders, health checker\n"
           "and webhook sender, each role in its own supervised process.\n\n"
           "  -c, --config FILE    JSON config file (default: $FARM_CONFIG, else none)\n"
           "  -r, --role LIST      comma-separated: api,worker,builder,health,webhooks\n"
           "                       or all (default)\n"
           "  -s, --set KEY=VALUE  override one config key (repeatable)\n"
           "  -w, --workers N      worker processes (workers.count; 0 = one per CPU)\n"
           "  -b, --builders M     cache-builder processes (builder.count)\n"
           "      --remote URL     workers take work from another farm's API\n"
           "                       (worker.remote_url; use with --role worker)\n"
           "      --token T        bearer token with scope worker for --remote\n"
           "                       (worker.remote_token)\n"
           "  -h, --help           this text\n"
           "  -V, --version        print the version\n");
}

/* Returns 1 go on, 0 done (help/version), <0 bad usage. */
static int parse_argv(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},   {"role", required_argument, NULL, 'r'},
        {"set", required_argument, NULL, 's'},      {"workers", required_argument, NULL, 'w'},
        {"builders", required_argument, NULL, 'b'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},        {"remote", required_argument, NULL, 'R'},
        {"token", required_argument, NULL, 'T'},    {0, 0, 0, 0},
    };
    int c;

    /* '+': stop at the first non-option, so `farmd token create --scope x`
     * leaves the verb's own options alone. */
    while ((c = getopt_long(argc, argv, "+c:r:s:w:b:hV", opts, NULL)) >= 0) {
        switch (c) {
        case 'c':
            arg_config = optarg;
            break;
        case 'r':
            arg_roles = optarg;
            break;
        case 's':
            if (arg_n_sets >= MAX_SETS || !strchr(optarg, '=')) {
                fprintf(stderr, "farmd: --set takes KEY=VALUE (at most %d times): %s\n", MAX_SETS,
                        optarg);
                return -EINVAL;
            }
            arg_sets[arg_n_sets++] = optarg;
            break;
        case 'w':
            arg_workers = optarg;
            break;
        case 'b':
            arg_builders = optarg;
            break;
        case 'R':
            arg_remote = optarg;
            break;
        case 'T':
            arg_token = optarg;
            break;
        case 'h':
            help();
            return 0;
        case 'V':
            printf("farmd %s\n", FARM_VERSION);
            return 0;
        default:
            return -EINVAL;
        }
    }
    /* A remote worker machine runs workers only, unless told otherwise. */
    if (arg_remote && !strcmp(arg_roles, "all"))
        arg_roles = "worker";
    return 1;
}

static int apply_overrides(config *cfg)
{
    char err[256];

    for (int i = 0; i < arg_n_sets; i++) {
        _cleanup_free_ char *key = strdup(arg_sets[i]);
        char *eq;

        if (!key)
            return -ENOMEM;
        eq = strchr(key, '=');
        *eq = '\0';
        if (config_set(cfg, key, eq + 1, err, sizeof(err)) < 0) {
            fprintf(stderr, "farmd: --set %s: %s\n", arg_sets[i], err);
            return -EINVAL;
        }
    }
    if (arg_workers && config_set(cfg, "workers.count", arg_workers, err, sizeof(err)) < 0) {
        fprintf(stderr, "farmd: --workers: %s\n", err);
        return -EINVAL;
    }
    if (arg_builders && config_set(cfg, "builder.count", arg_builders, err, sizeof(err)) < 0) {
        fprintf(stderr, "farmd: --builders: %s\n", err);
        return -EINVAL;
    }
    if (arg_remote && config_set(cfg, "worker.remote_url", arg_remote, err, sizeof(err)) < 0) {
        fprintf(stderr, "farmd: --remote: %s\n", err);
        return -EINVAL;
    }
    if (arg_token && config_set(cfg, "worker.remote_token", arg_token, err, sizeof(err)) < 0) {
        fprintf(stderr, "farmd: --token: %s\n", err);
        return -EINVAL;
    }
    return 0;
}

/* Runs one role instance in a supervised child. */
static int run_role(const config *cfg, const char *role, int slot, volatile sig_atomic_t *stop)
{
    if (strcmp(role, "worker") == 0)
        return worker_run(cfg, slot, stop);
    if (strcmp(role, "api") == 0)
        return api_run(cfg, stop);
    if (strcmp(role, "builder") == 0)
        return builder_run(cfg, slot, stop);
    if (strcmp(role, "health") == 0)
        return health_run(cfg, stop);
    if (strcmp(role, "webhooks") == 0) {
        webhook_set_front_body(compat_callback_body); /* Judge0's PUT, ... */
        return webhook_run(cfg, stop);
    }
    log_warn("role-unknown role=%s", role);
    return -ENOSYS;
}

static int add_children(supervisor_child *out, size_t *n, const char *role, long long count)
{
    for (long long i = 0; i < count; i++) {
        if (*n >= MAX_CHILDREN)
            return -E2BIG;
        out[*n].role = role;
        out[*n].slot = (int)i;
        (*n)++;
    }
    return 0;
}

/* Expands --role into child specs; the role names are static strings. */
static int plan_children(const config *cfg, supervisor_child *out, size_t *n)
{
    static const char *const known[] = {"api", "worker", "builder", "health", "webhooks"};
    _cleanup_free_ char *list = strdup(arg_roles);
    long long workers = config_int(cfg, "workers.count");
    long long builders = config_int(cfg, "builder.count");
    char *save = NULL;
    bool want[5] = {false};
    int r;

    if (!list)
        return -ENOMEM;
    if (workers <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        workers = cpus > 0 ? cpus : 1;
    }
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        bool found = false;

        if (strcmp(tok, "all") == 0) {
            for (size_t k = 0; k < 5; k++)
                want[k] = true;
            continue;
        }
        for (size_t k = 0; k < 5; k++) {
            if (strcmp(tok, known[k]) == 0) {
                want[k] = true;
                found = true;
            }
        }
        if (!found) {
            fprintf(stderr,
                    "farmd: --role: unknown role \"%s\" (api, worker, builder, health, "
                    "webhooks or all)\n",
                    tok);
            return -EINVAL;
        }
    }
    *n = 0;
    if ((want[0] && (r = add_children(out, n, "api", 1)) < 0) ||
        (want[1] && (r = add_children(out, n, "worker", workers)) < 0) ||
        (want[2] && (r = add_children(out, n, "builder", builders)) < 0) ||
        (want[3] && (r = add_children(out, n, "health", 1)) < 0) ||
        (want[4] && (r = add_children(out, n, "webhooks", 1)) < 0)) {
        fprintf(stderr, "farmd: too many processes (at most %d)\n", MAX_CHILDREN);
        return r;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static supervisor_child children[MAX_CHILDREN];
    config *cfg = NULL;
    char err[512];
    size_t n = 0;
    int r, level;

    r = parse_argv(argc, argv);
    if (r <= 0)
        return r < 0 ? 2 : 0;
    if (config_load(arg_config, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "farmd: config: %s\n", err);
        return 2;
    }
    if (apply_overrides(cfg) < 0) {
        config_free(cfg);
        return 2;
    }
    level = log_level_from_string(config_str(cfg, "log.level"));
    if (level >= 0)
        log_set_level(level);

    if (optind < argc) {
        if (strcmp(argv[optind], "token") == 0) {
            r = token_command(cfg, argc - optind, argv + optind);
            config_free(cfg);
            return r;
        }
        if (strcmp(argv[optind], "config") == 0 && optind + 1 == argc) {
            /* Every key with its effective value, default and description:
             * what an operator checks after layering file, FARM_* and --set. */
            json_t *dump = config_dump(cfg);
            r = dump && json_dumpf(dump, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) == 0 ? 0 : 1;
            putchar('\n');
            json_decref(dump);
            config_free(cfg);
            return r;
        }
        fprintf(stderr, "farmd: unknown argument \"%s\" (try --help)\n", argv[optind]);
        config_free(cfg);
        return 2;
    }

    log_set_role("supervisor");
    if (plan_children(cfg, children, &n) < 0) {
        config_free(cfg);
        return 2;
    }
    log_info("starting version=%s roles=%s children=%zu state_dir=%s", FARM_VERSION, arg_roles, n,
             config_str(cfg, "state_dir"));
    /* Workers run everything in the sandbox: say what this kernel offers it. */
    if (!strcmp(arg_roles, "all") || strstr(arg_roles, "worker"))
        sandbox_features_log();
    r = supervisor_run(cfg, children, n, run_role);
    config_free(cfg);
    if (r < 0) {
        log_error("supervisor-failed errno=%d error=\"%s\"", -r, strerror(-r));
        return 1;
    }
    return r;
}
