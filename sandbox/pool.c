/* pool.c — the resident supervisor: a thread per slot that clones keepers,
 * the seccomp filter compiled once, the pool's cgroup, and the background
 * thread of ready.c that prepares each run's own network namespace and
 * cgroups (unit.c). Nothing a run can hold is shared with another run: the
 * slot keeps only its host uid, used by one run at a time. */
#include "internal.h"
#include "util.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

void sandbox_pool_options_init(struct sandbox_pool_options *o)
{
    memset(o, 0, sizeof *o);
    o->slots = 1;
    o->first_uid = 62000;
    o->accounting = SANDBOX_ACCT_AUTO;
    o->ready_per_slot = 2;
}

/* Enters the run's cgroups (v1: "0" into each tasks file moves this thread
 * alone) or leaves them for the pool's group. */
static int v1_move(const int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (write(fds[i], "0", 1) != 1)
            return errno ? errno : EIO;
    return 0;
}

/* One clone request: into the run's network namespace and cgroups, clone3,
 * back out. Returns 0, or an errno after which this thread is stranded (in a
 * run's namespace or cgroup) and must refuse further work. */
static int serve(struct sbx_slot *s, struct sbx_clone_req *req)
{
    struct sbx_unit *u = req->unit;
    bool v1 = u->cg.kind == SANDBOX_ACCT_CGROUP_V1;
    req->err = 0;
    if (!req->host_network && setns(u->netns_fd, CLONE_NEWNET) < 0) {
        req->err = errno;
        return 0;
    }
    int e = v1 ? v1_move(u->cg.join_fd, u->cg.n_join) : 0;
    if (e) {
        req->err = e;
    } else {
        struct clone_args ca;
        memset(&ca, 0, sizeof ca);
        ca.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP |
                   CLONE_PIDFD;
        if (u->cg.kind == SANDBOX_ACCT_CGROUP_V2) {
            ca.flags |= CLONE_INTO_CGROUP;
            ca.cgroup = (uint64_t)u->cg.join_fd[0];
        }
        int pidfd = -1;
        ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
        ca.exit_signal = SIGCHLD;
        *req->t_clone = sbx_now_ns();
        pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
        if (pid == 0)
            req->child(req->arg); /* never returns */
        req->err = pid < 0 ? errno : 0;
        req->pid = pid;
        req->pidfd = pidfd;
    }
    int stranded = v1 ? v1_move(s->cgroot->park_fd, s->cgroot->n_park) : 0;
    if (!req->host_network && setns(s->host_netns_fd, CLONE_NEWNET) < 0)
        stranded = errno;
    return stranded;
}

static void *slot_thread(void *arg)
{
    struct sbx_slot *s = arg;
    /* Process signals go to the caller's threads, never here; keepers inherit
     * this mask and the target resets it. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_mutex_lock(&s->mu);
    s->thread_err = 0;
    s->state = 0;
    pthread_cond_broadcast(&s->cv);
    for (;;) {
        while (s->state != 1 && s->state != 3)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->state == 3)
            break;
        int stranded = serve(s, s->req);
        s->state = 2;
        pthread_cond_broadcast(&s->cv);
        if (stranded) {
            /* Left in a run's namespace or cgroup: refuse further runs. */
            s->thread_err = stranded;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int sbx_slot_clone(struct sbx_slot *s, struct sbx_clone_req *req)
{
    pthread_mutex_lock(&s->mu);
    if (s->thread_err || s->state != 0) {
        int e = s->thread_err ? s->thread_err : EBUSY;
        pthread_mutex_unlock(&s->mu);
        return -e;
    }
    s->req = req;
    s->state = 1;
    pthread_cond_broadcast(&s->cv);
    while (s->state == 1)
        pthread_cond_wait(&s->cv, &s->mu);
    s->state = 0;
    s->req = NULL;
    pthread_mutex_unlock(&s->mu);
    return req->err ? -req->err : 0;
}

static int launch_slot_thread(struct sbx_slot *s, char *err, size_t errlen)
{
    pthread_mutex_init(&s->run_mu, NULL);
    s->live_pidfd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->state = -1;
    int r = pthread_create(&s->thread, NULL, slot_thread, s);
    if (r) {
        pthread_mutex_destroy(&s->mu);
        pthread_mutex_destroy(&s->run_mu);
        pthread_cond_destroy(&s->cv);
        return sbx_error(err, errlen, -r, "starting the slot thread: %s", strerror(r));
    }
    s->thread_started = true;
    return 0;
}

/* Waits until the thread is up. */
static int wait_slot_thread(struct sbx_slot *s, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->mu);
    while (s->state == -1)
        pthread_cond_wait(&s->cv, &s->mu);
    int e = s->thread_err;
    pthread_mutex_unlock(&s->mu);
    if (e)
        return sbx_error(err, errlen, -e, "slot %u thread: %s", s->index, strerror(e));
    return 0;
}

static void stop_slot_thread(struct sbx_slot *s)
{
    if (!s->thread_started)
        return;
    pthread_mutex_lock(&s->mu);
    s->state = 3;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->thread_started = false;
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->run_mu);
    pthread_cond_destroy(&s->cv);
}

int sandbox_pool_new(const struct sandbox_pool_options *o, struct sandbox_pool **ret, char *err,
                     size_t errlen)
{
    struct sandbox_pool_options def;
    if (!o) {
        sandbox_pool_options_init(&def);
        o = &def;
    }
    if (geteuid() != 0)
        return sbx_error(err, errlen, -EPERM, "the sandbox supervisor must run as root");
    /* Keepers need clone3 (a kernel >= 5.3; 5.7 for v2's CLONE_INTO_CGROUP).
     * Where it is missing — valgrind, too, emulates none of this — say so here,
     * before the network namespace helper's clone, which valgrind would abort
     * on. A real clone3 refuses the empty call with EINVAL. */
    if (syscall(SYS_clone3, NULL, 0) < 0 && errno == ENOSYS)
        return sbx_error(err, errlen, -ENOSYS, "clone3 is not available (old kernel, or valgrind)");
    unsigned n = o->slots ? o->slots : 1;
    if (n > 4096 || o->first_uid == 0 || (uint64_t)o->first_uid + n > 0xfffffffeu)
        return sbx_error(err, errlen, -EINVAL, "bad slot count %u or first uid %u", n,
                         (unsigned)o->first_uid);
    struct sandbox_pool *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->host_netns_fd = -1;
    char *oom = NULL;
    p->oom_neutral = sbx_read_file("/proc/self/oom_score_adj", 64, &oom, NULL) == 0 &&
                     strtol(oom, NULL, 10) == 0;
    free(oom);
    p->ncpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (p->ncpus < 1)
        p->ncpus = 1;
    int r;
    p->host_netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (p->host_netns_fd < 0) {
        r = sbx_error(err, errlen, -errno, "opening our network namespace: %s", strerror(errno));
        goto fail;
    }
    r = sbx_cg_root_init(&p->cgroot, o->accounting, err, errlen);
    if (r < 0)
        goto fail;
    p->accounting = p->cgroot.kind;
    p->slots = calloc(n, sizeof *p->slots);
    if (!p->slots) {
        r = -ENOMEM;
        goto fail;
    }
    for (unsigned i = 0; i < n; i++) {
        struct sbx_slot *s = &p->slots[i];
        s->index = i;
        s->uid = o->first_uid + i;
        s->gid = o->first_uid + i;
        s->host_netns_fd = p->host_netns_fd;
        s->cgroot = &p->cgroot;
        p->n_slots = i + 1;
        r = launch_slot_thread(s, err, errlen);
        if (r < 0)
            goto fail;
    }
    r = sbx_ready_start(p, n * o->ready_per_slot, err, errlen);
    if (r < 0)
        goto fail;
    /* Compile the filter while the first units are made. */
    r = sbx_filter_build(&p->filter, err, errlen);
    if (r < 0)
        goto fail;
    for (unsigned i = 0; i < n; i++) {
        r = wait_slot_thread(&p->slots[i], err, errlen);
        if (r < 0)
            goto fail;
    }
    *ret = p;
    return 0;
fail:
    /* Threads still settling must have settled before they can be stopped. */
    for (unsigned i = 0; i < p->n_slots; i++)
        if (p->slots[i].thread_started)
            wait_slot_thread(&p->slots[i], NULL, 0);
    sandbox_pool_free(p);
    return r;
}

void sandbox_pool_free(struct sandbox_pool *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->n_slots; i++)
        stop_slot_thread(&p->slots[i]);
    sbx_ready_stop(p);
    free(p->slots);
    sbx_cg_root_destroy(&p->cgroot);
    if (p->host_netns_fd >= 0)
        close(p->host_netns_fd);
    sbx_filter_free(&p->filter);
    free(p);
}

int sandbox_cancel(struct sandbox_pool *p, unsigned slot)
{
    if (!p || slot >= p->n_slots)
        return -EINVAL;
    struct sbx_slot *s = &p->slots[slot];
    pthread_mutex_lock(&s->run_mu);
    int was = s->in_run;
    if (s->in_run) {
        s->cancel_pending = true;
        if (s->live_pidfd >= 0)
            syscall(SYS_pidfd_send_signal, s->live_pidfd, SIGKILL, NULL, 0);
    }
    pthread_mutex_unlock(&s->run_mu);
    return was;
}

enum sandbox_accounting sandbox_pool_accounting(const struct sandbox_pool *p)
{
    return p->accounting;
}

unsigned sandbox_pool_slots(const struct sandbox_pool *p)
{
    return p->n_slots;
}

uid_t sandbox_pool_slot_uid(const struct sandbox_pool *p, unsigned slot)
{
    return slot < p->n_slots ? p->slots[slot].uid : (uid_t)-1;
}
