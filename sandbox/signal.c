/* signal.c — sandbox_signal: a signal from the caller to the program of a run
 * in flight (an interactive client's Ctrl-C, SIGTERM, ...).
 *
 * The supervisor knows only the keeper (PID 1 of the run's PID namespace, by
 * its pidfd). The target is the keeper's only child and leads its own
 * session (setsid), so its host pid is the first entry of the keeper's
 * /proc/<pid>/task/<pid>/children and the signal goes to its process group:
 * the program and whatever it started, never the keeper. Why this is safe
 * against pid reuse: run_mu is held, so the run cannot end and its keeper
 * cannot be reaped meanwhile; a target that already exited stays a zombie
 * child of the keeper (listed, pid not reusable) until the keeper reaps it,
 * after which it is no longer listed. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The host pid behind a pidfd (its fdinfo's "Pid:" line), or < 0. */
static pid_t pidfd_pid(int pidfd)
{
    char path[64], line[128];
    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    pid_t pid = -ESRCH;
    while (fgets(line, sizeof(line), f)) {
        int v;
        if (sscanf(line, "Pid: %d", &v) == 1) {
            pid = v > 0 ? v : -ESRCH;
            break;
        }
    }
    fclose(f);
    return pid;
}

/* The first child of pid (/proc/<pid>/task/<pid>/children), or < 0. */
static pid_t first_child(pid_t pid)
{
    char path[96], buf[64];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -ESRCH;
    buf[n] = 0;
    long v = strtol(buf, NULL, 10);
    return v > 1 ? (pid_t)v : -ESRCH;
}

int sandbox_signal(struct sandbox_pool *p, unsigned slot, int sig)
{
    if (!p || slot >= p->n_slots || sig <= 0 || sig >= 65)
        return -EINVAL;
    struct sbx_slot *s = &p->slots[slot];
    int ret = 0;
    pthread_mutex_lock(&s->run_mu);
    if (s->in_run && s->live_pidfd >= 0) {
        pid_t keeper = pidfd_pid(s->live_pidfd);
        pid_t target = keeper > 0 ? first_child(keeper) : keeper;
        if (target > 0)
            ret = kill(-target, sig) < 0 ? -errno : 1;
        else
            ret = target == -ESRCH || target == -ENOENT ? 0 : target;
    }
    pthread_mutex_unlock(&s->run_mu);
    return ret == -ESRCH ? 0 : ret;
}
