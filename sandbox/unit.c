/* unit.c — what one run holds and nobody else ever will: a network namespace
 * and the run's cgroups. Made ahead of the run (ready.c), destroyed after it,
 * never reused, so nothing a run leaves in them (a listening socket or an
 * abstract unix name kept alive by descriptors in flight, memory charged to
 * its cgroup) is there for the next run.
 *
 * The network namespace is owned by a user namespace of its own, made for it
 * by a short-lived helper (clone with CLONE_NEWUSER|CLONE_NEWNET that opens
 * its namespace into our descriptor table and exits): the kernel broadcasts
 * host uevents (device activity) only to network namespaces owned by the
 * initial user namespace. We, root of the initial user namespace, can still
 * setns into it; the sandboxed program, in a user namespace of its own that is
 * no ancestor of that one, has no capability over it. */
#include "internal.h"
#include "util.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

struct netns_helper {
    int fd;
    int err;
};

/* Runs on a stack of our own, sharing our memory and descriptors (CLONE_VM,
 * CLONE_FILES; we sleep meanwhile, CLONE_VFORK): system calls only. */
__attribute__((no_sanitize_address)) static int netns_helper_main(void *arg)
{
    struct netns_helper *h = arg;
    h->fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    h->err = h->fd < 0 ? errno : 0;
    _exit(0);
}

static int make_netns(char *err, size_t errlen)
{
    enum { STACK = 64 * 1024 };
    _cleanup_free_ char *stack = malloc(STACK);
    if (!stack)
        return -ENOMEM;
    struct netns_helper h = {.fd = -1, .err = 0};
    /* No exit signal: nobody's SIGCHLD handler sees it; reaped with __WALL. */
    pid_t pid = clone(netns_helper_main, stack + STACK,
                      CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_NEWUSER | CLONE_NEWNET, &h);
    if (pid < 0)
        return sbx_error(err, errlen, -errno, "clone of the network namespace helper: %s",
                         strerror(errno));
    int st;
    while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
        ;
    if (h.fd < 0)
        return sbx_error(err, errlen, -(h.err ? h.err : EIO),
                         "opening the run's network namespace: %s", strerror(h.err));
    return h.fd;
}

int sbx_unit_new(struct sandbox_pool *p, uint64_t seq, struct sbx_unit **out, char *err,
                 size_t errlen)
{
    struct sbx_unit *u = calloc(1, sizeof *u);
    if (!u)
        return -ENOMEM;
    u->netns_fd = -1;
    int r = make_netns(err, errlen);
    if (r < 0) {
        sbx_unit_free(u);
        return r;
    }
    u->netns_fd = r;
    char name[48];
    snprintf(name, sizeof name, "run-%llu", (unsigned long long)seq);
    r = sbx_cg_run_init(&p->cgroot, name, &u->cg, err, errlen);
    if (r < 0) {
        sbx_unit_free(u); /* sbx_cg_run_init cleaned up after itself */
        return r;
    }
    u->cg_made = true;
    *out = u;
    return 0;
}

void sbx_unit_free(struct sbx_unit *u)
{
    if (!u)
        return;
    if (u->netns_fd >= 0)
        close(u->netns_fd);
    if (u->cg_made)
        sbx_cg_run_destroy(&u->cg);
    free(u);
}
