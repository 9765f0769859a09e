/* verbs.h — the verbs of `farm`, each `int verb_x(int argc, char **argv)`
 * returning the process exit code (cli_util.h), and the options every verb
 * accepts (server, token, config file, --json, --quiet). */
#pragma once

#include <getopt.h>
#include <stdbool.h>

#include "client.h"

typedef struct {
    const char *server;
    const char *token;
    const char *config;
    bool json;
    bool quiet;
} farm_globals;
extern farm_globals arg_globals;

enum {
    OPT_SERVER = 0x100,
    OPT_TOKEN,
    OPT_CONFIG,
    OPT_JSON,
    OPT_QUIET,
    OPT_VERB_FIRST = 0x200, /* verbs number their own options from here */
};

#define FARM_COMMON_LONG_OPTS                                                                      \
    {"server", required_argument, NULL, OPT_SERVER},                                               \
        {"token", required_argument, NULL, OPT_TOKEN},                                             \
        {"config", required_argument, NULL, OPT_CONFIG}, {"json", no_argument, NULL, OPT_JSON},    \
        {"quiet", no_argument, NULL, 'q'},                                                         \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }

/* Handles a common option; true when c was one. */
bool farm_common_opt(int c, const char *arg);
/* Client from the common options; prints the error and returns an exit code
 * (> 0) on failure, 0 on success. */
int farm_client_open(farm_client *c);

int verb_submit(int argc, char **argv);
int verb_status(int argc, char **argv);
int verb_watch(int argc, char **argv);
int verb_cancel(int argc, char **argv);
int verb_profiles(int argc, char **argv);
int verb_depsets(int argc, char **argv);
int verb_junit(int argc, char **argv);
int verb_run(int argc, char **argv);
/* The package list of `farm run --help` (cli/run_packages.c). */
void run_help_packages(const char *state_flag);
int verb_ci(int argc, char **argv);

/* Limits options shared by submit and run: fills a full-or-partial limits
 * object ({"cpu_ms", "wall_ms", "memory_kib", ...}). OPT ids in verbs.c. */
#define FARM_LIMIT_LONG_OPTS                                                                       \
    {"time", required_argument, NULL, OPT_LIM_TIME},                                               \
        {"wall", required_argument, NULL, OPT_LIM_WALL},                                           \
        {"memory", required_argument, NULL, OPT_LIM_MEMORY},                                       \
        {"processes", required_argument, NULL, OPT_LIM_PROCS},                                     \
        {"output-limit", required_argument, NULL, OPT_LIM_OUTPUT},                                 \
        {"file-size", required_argument, NULL, OPT_LIM_FSIZE},                                     \
        {"open-files", required_argument, NULL, OPT_LIM_FILES},                                    \
    {                                                                                              \
        "stack", required_argument, NULL, OPT_LIM_STACK                                            \
    }
enum {
    OPT_LIM_TIME = 0x180,
    OPT_LIM_WALL,
    OPT_LIM_MEMORY,
    OPT_LIM_PROCS,
    OPT_LIM_OUTPUT,
    OPT_LIM_FSIZE,
    OPT_LIM_FILES,
    OPT_LIM_STACK,
};
/* Handles a limit option into limits; 1 handled, 0 not a limit option,
 * -EINVAL after printing an error naming the option. */
int farm_limit_opt(int c, const char *arg, json_t *limits);
#define FARM_LIMITS_HELP                                                                           \
    "Limits (per run):\n"                                                                          \
    "      --time T           CPU time: 2, 1.5s, 500ms\n"                                          \
    "      --wall T           wall-clock time\n"                                                   \
    "      --memory SIZE      memory of the whole process tree: 256M, 1G, 262144 (KiB)\n"          \
    "      --processes N      processes and threads\n"                                             \
    "      --output-limit SIZE  bytes of stdout (and of stderr)\n"                                 \
    "      --file-size SIZE   largest file written\n"                                              \
    "      --open-files N     open file descriptors\n"                                             \
    "      --stack SIZE       stack size\n"
