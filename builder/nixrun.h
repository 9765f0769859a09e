/* nixrun.h — run one Nix command under time, memory and log-size limits.
 * Internal to builder/. The command runs in its own session (so its process
 * group can be killed as one), in a memory cgroup beneath the caller's own
 * when one can be made (else under RLIMIT_AS), with stdin /dev/null, stdout
 * captured whole (up to out_max) and stderr kept as a tail of log_bytes. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *const *argv; /* argv[0] is a program name ("nix-build"), found in bin_dir or PATH */
    const char *bin_dir;     /* NULL or "": search PATH */
    const char *conf_dir;    /* NIX_CONF_DIR for the child; NULL: inherit */
    int64_t timeout_ms;      /* wall time; 0: none */
    int64_t memory_kib;      /* 0: none */
    size_t log_bytes;        /* tail of stderr kept; 0: 64 KiB */
    size_t out_max;          /* stdout bytes kept; 0: 1 MiB */
    /* Called about every tick_ms while the command runs (e.g. renew a lease).
     * A non-zero return kills the command; nixrun then returns that value. */
    int (*tick)(void *arg);
    void *tick_arg;
    int tick_ms;
    volatile sig_atomic_t *stop; /* set -> kill, return -EINTR; may be NULL */
} nixrun_opts;

typedef struct {
    int status;          /* wait status of the command */
    bool timed_out;      /* killed at timeout_ms */
    bool memory_limited; /* the memory cgroup hit its limit and the command died of it */
    char *out;           /* stdout, NUL-terminated, owned */
    size_t out_len;
    char *log; /* stderr tail, NUL-terminated, owned; starts with "[...]\n" when cut */
    size_t log_len;
    bool log_truncated;
    int64_t wall_ms;
} nixrun_result;

/* Runs the command to its end (or its kill). Returns 0 when it ran (check
 * r->status / r->timed_out: a failing command is not an error here), -ENOENT
 * when the program is not found, the tick's value or -EINTR when stopped, other
 * -errno on failure to run it, with err filled. r is always initialised and
 * must be released with nixrun_result_done. */
int nixrun(const nixrun_opts *o, nixrun_result *r, char *err, size_t errlen);
void nixrun_result_done(nixrun_result *r);

/* One sentence describing how the command ended ("exited with status 1",
 * "killed at the time limit of 600000 ms", ...), into buf. */
void nixrun_describe(const nixrun_opts *o, const nixrun_result *r, char *buf, size_t len);

/* Kills and removes farm-nix-<pid>-* cgroups whose builder process is dead;
 * returns how many. nixrun calls it itself before each command. */
int nixrun_reap_stale_cgroups(void);

/* Number of commands started by this process. */
unsigned long nixrun_exec_count(void);
