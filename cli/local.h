/* local.h — running commands in the sandbox on this machine, without a daemon
 * (`farm run`, `farm ci` without --remote).
 *
 * Theory of operation
 * -------------------
 * local_env_open() loads the config with the CLI's state directory (see
 * local_state_dir), realises the package set through the builder code
 * (builder_realise_local: a cache hit runs no Nix; a miss builds it here,
 * sharing the same store rows and GC roots as a farmd using that state
 * directory), holds the set so no quota eviction takes it mid-run, and makes a
 * one-slot sandbox pool. Each command then runs in a fresh sandbox with the
 * set's closure read-only, a box directory at /box and PATH=<set>/bin.
 *
 * The sandbox library captures output into buffers; with local_cmd.stream it
 * also copies it live to the fds given (sandbox_config.stream), so `farm run`
 * prints output as it is produced. Needs root, like farm-sandbox and isolate. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "../common/config.h"
#include "../sandbox/sandbox.h"

typedef struct {
    config *cfg;
    json_t *depset;           /* the ready row */
    const char **store_paths; /* borrowed from depset.closure, NULL-terminated */
    char bin_dir[PATH_MAX];   /* <set>/bin */
    char key[65];
    bool held;
    struct store *st; /* kept open for the whole run: one WAL checkpoint at the end */
    struct sandbox_pool *pool;
    bool host_busybox; /* /bin/busybox exists: a shell for sets without one */
} local_env;

/* The state directory of local runs: --state-dir, else FARM_STATE_DIR, else
 * $XDG_STATE_HOME/nixfarm, else ~/.local/state/nixfarm. Caller frees. */
char *local_state_dir(const char *flag);

/* Opens everything for packages (a JSON array of names) of the package set
 * called package_set (NULL: the default, debian; else a nixpkgs set of
 * nix.sources_file, packages then attribute paths). 0 or -errno with err:
 * -EINVAL bad names, -ENOEXEC the build failed (log tail in err). */
int local_env_open(local_env *e, const char *state_dir, const char *package_set, json_t *packages,
                   bool verbose, char *err, size_t errlen);
void local_env_close(local_env *e);

/* Makes a box directory (tmpfs of bytes) under <state_dir>/boxes and copies
 * src_dir into it when not NULL (regular files, directories, symlinks; .git
 * left out). path gets the box; destroy it with local_box_destroy. */
int local_box_new(local_env *e, const char *src_dir, uint64_t bytes, char *path, size_t pathlen,
                  char *err, size_t errlen);
void local_box_destroy(const char *path);

typedef struct {
    const char *const *argv;      /* exec'd directly (argv[0] looked up in the set) ... */
    const char *shell_cmd;        /* ... or run with sh -c */
    const char *const *extra_env; /* "K=V", NULL-terminated, may be NULL */
    const char *box;              /* host dir at /box */
    bool box_readonly;
    const void *stdin_buf; /* NULL: /dev/null */
    size_t stdin_len;
    bool stdin_inherit; /* pass farm's own stdin */
    struct sandbox_limits limits;
    /* Live output: copies of stdout/stderr written as they come (-1 = not
     * that one); res->stdout_streamed etc. say what went out. */
    bool stream;
    int stream_stdout_fd, stream_stderr_fd;
} local_cmd;

/* Runs one command. 0 when it ran (res filled: exit, limits, measurements,
 * output; free with sandbox_result_free), -ENOENT when argv[0] is not in the
 * set (err says so), other -errno when we failed. */
int local_run(local_env *e, const local_cmd *cmd, struct sandbox_result *res, char *err,
              size_t errlen);

/* The signal (SIGINT, SIGTERM, SIGHUP) that interrupted this run, or 0. From
 * local_env_open on, such a signal kills the running sandbox (and any Nix
 * build) instead of farm, so the caller can clean up and exit 128+N. */
int local_interrupted(void);

/* Limits from a JSON limits object ({"cpu_ms", ...}); missing keys keep *l. */
void local_limits_from_json(struct sandbox_limits *l, const json_t *o);
