/* supervisor.h — farmd's process supervisor: one child process per role
 * instance, restarted with backoff when it crashes, stopped gracefully on
 * SIGTERM/SIGINT.
 *
 * Theory of operation
 * -------------------
 * The supervisor holds no store connection and does no work of its own: it
 * forks one child per instance (the API, N workers, M builders, the health
 * checker, the webhook sender) and then only waits for signals on a signalfd.
 *
 *  - A child that exits without being asked to is restarted after a delay
 *    that starts at supervisor.backoff_min_ms and doubles with every crash
 *    that follows a short life (< 10 s), up to supervisor.backoff_max_ms. A
 *    child that lived longer starts again from the minimum.
 *  - A child whose role is not built into this binary exits with
 *    SUPERVISOR_EXIT_NOT_BUILT and is not restarted.
 *  - A child whose role refuses its configuration (the role returns -EINVAL
 *    or -EPERM, e.g. the API asked to listen publicly without auth) exits with
 *    SUPERVISOR_EXIT_CONFIG: restarting cannot help, so the supervisor stops
 *    every child and farmd exits non-zero instead of looping.
 *  - SIGTERM or SIGINT: every child gets SIGTERM, which sets its role's *stop
 *    flag (workers then stop claiming and finish or release their lease).
 *    Children still alive after supervisor.kill_after_ms get SIGKILL. The
 *    supervisor returns when every child is gone. A second SIGTERM/SIGINT
 *    kills at once.
 *  - Children die with the supervisor: PR_SET_PDEATHSIG(SIGTERM), checked
 *    against a race with the parent's death right after fork.
 *
 * Children are named (comm) "farmd-<role>-<slot>", so tests and operators can
 * find a given worker with ps or /proc. */
#pragma once

#include <signal.h>
#include <stddef.h>
#include "../common/config.h"

/* Exit status of a child whose role is not compiled into farmd (EX_CONFIG). */
#define SUPERVISOR_EXIT_NOT_BUILT 78
/* Exit status of a child whose role refused its configuration. */
#define SUPERVISOR_EXIT_CONFIG 79

typedef struct {
    const char *role; /* "api", "worker", "builder", "health", "webhooks" */
    int slot;         /* instance number within the role, from 0 */
} supervisor_child;

/* Runs one role instance in the child; returns 0 after a clean stop, -ENOSYS
 * when the role is not built in, other <0 on a fatal error. */
typedef int (*supervisor_run_fn)(const config *cfg, const char *role, int slot,
                                 volatile sig_atomic_t *stop);

/* Starts every child and supervises them until SIGTERM/SIGINT and all are
 * gone. Returns 0 after a clean stop (every child exited by itself), 1 when
 * some child had to be killed, <0 (-errno) when supervision could not start.
 * Must be called from a single-threaded process. */
int supervisor_run(const config *cfg, const supervisor_child *children, size_t n,
                   supervisor_run_fn run);

/* For a process that runs a role itself (the child, or farmd without the
 * supervisor): SIGTERM/SIGINT set *stop; SIGPIPE is ignored. */
void supervisor_install_stop_handlers(volatile sig_atomic_t *stop);
