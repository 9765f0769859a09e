/* supervisor.c — forks, watches and restarts farmd's role processes; see
 * supervisor.h for the theory of operation. */
#include "supervisor.h"
#include "roles.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/log.h"
#include "../common/monotime.h"

/* A child that lived at least this long counts as healthy: its next crash
 * restarts after the minimum delay again. */
#define SUPERVISOR_HEALTHY_MS 10000

typedef struct {
    supervisor_child spec;
    pid_t pid;          /* 0 when not running */
    int64_t started_at; /* ms, monotonic */
    int64_t restart_at; /* ms, monotonic; 0 when no restart is due */
    int64_t backoff_ms; /* delay before the next restart */
    bool done;          /* not built in: never restart */
} sup_entry;

static volatile sig_atomic_t *child_stop_flag;

static void on_stop_signal(int sig)
{
    (void)sig;
    if (child_stop_flag)
        *child_stop_flag = 1;
}

void supervisor_install_stop_handlers(volatile sig_atomic_t *stop)
{
    struct sigaction sa;

    child_stop_flag = stop;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a blocking wait returns EINTR so the loop sees *stop. */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* In the child, right after fork: undo the supervisor's signal set-up, tie the
 * child's life to the parent's, run the role, and _exit with its status. */
static void __attribute__((noreturn))
child_main(const config *cfg, const sup_entry *e, pid_t parent, supervisor_run_fn run)
{
    static volatile sig_atomic_t stop;
    sigset_t none;
    char name[16];
    int r;

    signal(SIGCHLD, SIG_DFL);
    supervisor_install_stop_handlers(&stop);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* SIGTERM rather than SIGKILL: an orphaned worker still finishes or
     * releases its lease. The getppid() check closes the race where the
     * parent died between fork and prctl. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
        _exit(1);
    snprintf(name, sizeof(name), "farmd-%s-%d", e->spec.role, e->spec.slot);
    prctl(PR_SET_NAME, name);
    log_set_role(e->spec.role);

    r = run(cfg, e->spec.role, e->spec.slot, &stop);
    if (r == -ENOSYS)
        _exit(SUPERVISOR_EXIT_NOT_BUILT);
    if (r == ROLE_REFUSED_CONFIG)
        _exit(SUPERVISOR_EXIT_CONFIG);
    _exit(r < 0 ? 1 : 0);
}

static int start_child(const config *cfg, sup_entry *e, int sfd, supervisor_run_fn run)
{
    pid_t parent = getpid();
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        close(sfd);
        child_main(cfg, e, parent, run);
    }
    e->pid = pid;
    e->started_at = monotime_ms();
    e->restart_at = 0;
    log_info("child-started role=%s slot=%d pid=%d", e->spec.role, e->spec.slot, (int)pid);
    return 0;
}

static void describe_status(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "signal=%s", sigabbrev_np(WTERMSIG(status)) ?: "?");
    else
        snprintf(buf, len, "exit=%d", WEXITSTATUS(status));
}

/* Reaps every exited child; schedules restarts unless stopping. Sets
 * *config_failed when a child refused its configuration. */
static void reap(sup_entry *ents, size_t n, bool stopping, const config *cfg, bool *config_failed)
{
    int64_t min_ms = config_int(cfg, "supervisor.backoff_min_ms");
    int64_t max_ms = config_int(cfg, "supervisor.backoff_max_ms");
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        char how[48];

        for (size_t i = 0; i < n; i++) {
            sup_entry *e = &ents[i];
            int64_t lived;

            if (e->pid != pid)
                continue;
            e->pid = 0;
            describe_status(status, how, sizeof(how));
            if (stopping) {
                log_info("child-stopped role=%s slot=%d pid=%d %s", e->spec.role, e->spec.slot,
                         (int)pid, how);
                break;
            }
            if (WIFEXITED(status) && WEXITSTATUS(status) == SUPERVISOR_EXIT_NOT_BUILT) {
                log_warn("child-not-built role=%s slot=%d reason=\"role not compiled into farmd; "
                         "not restarted\"",
                         e->spec.role, e->spec.slot);
                e->done = true;
                break;
            }
            if (WIFEXITED(status) && WEXITSTATUS(status) == SUPERVISOR_EXIT_CONFIG) {
                log_error("child-config-refused role=%s slot=%d reason=\"the role refused its "
                          "configuration (see its log line above); stopping farmd\"",
                          e->spec.role, e->spec.slot);
                e->done = true;
                *config_failed = true;
                break;
            }
            lived = monotime_ms() - e->started_at;
            if (lived >= SUPERVISOR_HEALTHY_MS || e->backoff_ms <= 0)
                e->backoff_ms = min_ms;
            else
                e->backoff_ms = e->backoff_ms * 2 > max_ms ? max_ms : e->backoff_ms * 2;
            e->restart_at = monotime_ms() + e->backoff_ms;
            log_warn("child-died role=%s slot=%d pid=%d %s lived_ms=%lld restart_in_ms=%lld",
                     e->spec.role, e->spec.slot, (int)pid, how, (long long)lived,
                     (long long)e->backoff_ms);
            break;
        }
    }
}

static size_t count_alive(const sup_entry *ents, size_t n)
{
    size_t alive = 0;

    for (size_t i = 0; i < n; i++)
        alive += ents[i].pid > 0;
    return alive;
}

static void signal_all(const sup_entry *ents, size_t n, int sig)
{
    for (size_t i = 0; i < n; i++)
        if (ents[i].pid > 0)
            kill(ents[i].pid, sig);
}

int supervisor_run(const config *cfg, const supervisor_child *children, size_t n,
                   supervisor_run_fn run)
{
    _cleanup_free_ sup_entry *ents = calloc(n ? n : 1, sizeof(*ents));
    _cleanup_close_ int sfd = -1;
    sigset_t mask, old;
    bool stopping = false, killed = false, config_failed = false;
    int64_t kill_at = 0;

    if (!ents)
        return -ENOMEM;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &mask, &old) < 0)
        return -errno;
    sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        int r = -errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        return r;
    }
    signal(SIGPIPE, SIG_IGN);

    for (size_t i = 0; i < n; i++) {
        ents[i].spec = children[i];
        if (start_child(cfg, &ents[i], sfd, run) < 0) {
            log_error("child-fork-failed role=%s slot=%zu errno=%d", children[i].role, i, errno);
            ents[i].restart_at = monotime_ms() + config_int(cfg, "supervisor.backoff_min_ms");
        }
    }

    for (;;) {
        int64_t now = monotime_ms(), next = -1;
        struct pollfd pfd = {.fd = sfd, .events = POLLIN};
        struct signalfd_siginfo si;

        if (stopping && count_alive(ents, n) == 0)
            break;
        if (!stopping) {
            for (size_t i = 0; i < n; i++) {
                sup_entry *e = &ents[i];
                if (e->pid || e->done || !e->restart_at)
                    continue;
                if (e->restart_at <= now) {
                    if (start_child(cfg, e, sfd, run) < 0)
                        e->restart_at = now + e->backoff_ms;
                }
                if (e->restart_at && (next < 0 || e->restart_at < next))
                    next = e->restart_at;
            }
        } else if (!killed) {
            if (kill_at <= now) {
                log_warn("children-killed alive=%zu reason=\"grace period over\"",
                         count_alive(ents, n));
                signal_all(ents, n, SIGKILL);
                killed = true;
            } else {
                next = kill_at;
            }
        }
        if (poll(&pfd, 1, next < 0 ? -1 : (int)(next - now)) < 0 && errno != EINTR)
            return -errno;
        while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
            if (si.ssi_signo == SIGCHLD)
                continue;
            if (si.ssi_signo == SIGHUP)
                continue; /* no reload yet: a config change needs a restart */
            if (!stopping) {
                log_info("stopping signal=%s children=%zu", sigabbrev_np((int)si.ssi_signo),
                         count_alive(ents, n));
                stopping = true;
                kill_at = monotime_ms() + config_int(cfg, "supervisor.kill_after_ms");
                signal_all(ents, n, SIGTERM);
            } else if (!killed) {
                log_warn("stopping-now reason=\"second signal: killing children\"");
                signal_all(ents, n, SIGKILL);
                killed = true;
            }
        }
        reap(ents, n, stopping, cfg, &config_failed);
        if (config_failed && !stopping) {
            stopping = true;
            kill_at = monotime_ms() + config_int(cfg, "supervisor.kill_after_ms");
            signal_all(ents, n, SIGTERM);
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    log_info("stopped killed=%s config_refused=%s", killed ? "true" : "false",
             config_failed ? "true" : "false");
    if (config_failed)
        return -EINVAL;
    return killed ? 1 : 0;
}
