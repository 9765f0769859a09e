/* pool.c — the resident supervisor's per-slot state, made once.
 *
 * Creating a network namespace costs about 0.6 ms and its teardown 1–3 ms of
 * CPU later, a cgroup about 0.2 ms, compiling the filter 0.2–0.3 ms: a pool
 * pays these once per slot instead of per run. A slot's network namespace is
 * held only by an fd, so it disappears with the process whatever happens; runs
 * of one slot never overlap, so nothing in it (abstract UNIX sockets above all)
 * is shared by two live submissions. */
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
}

/* A fresh, empty network namespace (only a down loopback), held by an fd.
 * unshare/setns act on the calling thread only, so other threads of the
 * caller keep their network. */
static int make_netns(int host_fd, char *err, size_t errlen)
{
    if (unshare(CLONE_NEWNET) < 0)
        return sbx_error(err, errlen, -errno, "unshare(CLONE_NEWNET): %s", strerror(errno));
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int e = errno;
    if (setns(host_fd, CLONE_NEWNET) < 0) {
        /* We are stranded in the new namespace: refuse to go on. */
        int e2 = errno;
        if (fd >= 0)
            close(fd);
        return sbx_error(err, errlen, -e2, "setns back to the host network: %s", strerror(e2));
    }
    if (fd < 0)
        return sbx_error(err, errlen, -e, "opening the slot network namespace: %s", strerror(e));
    return fd;
}

static void *slot_thread(void *arg)
{
    struct sbx_slot *s = arg;
    /* Process signals go to the caller's threads, never here; keepers inherit
     * this mask and the target resets it. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    int err = 0;
    if (setns(s->netns_fd, CLONE_NEWNET) < 0)
        err = errno;
    for (int i = 0; !err && s->cg.kind == SANDBOX_ACCT_CGROUP_V1 && i < s->cg.n_join; i++)
        if (write(s->cg.join_fd[i], "0", 1) != 1)
            err = errno;
    pthread_mutex_lock(&s->mu);
    s->thread_err = err;
    s->state = err ? 3 : 0;
    pthread_cond_broadcast(&s->cv);
    while (!err) {
        while (s->state != 1 && s->state != 3)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->state == 3)
            break;
        struct sbx_clone_req *req = s->req;
        if (req->host_network && setns(s->host_netns_fd, CLONE_NEWNET) < 0) {
            req->err = errno;
        } else {
            struct clone_args ca;
            memset(&ca, 0, sizeof ca);
            ca.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP |
                       CLONE_PIDFD;
            if (s->cg.kind == SANDBOX_ACCT_CGROUP_V2) {
                ca.flags |= CLONE_INTO_CGROUP;
                ca.cgroup = (uint64_t)s->cg.join_fd[0];
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
            if (req->host_network && setns(s->netns_fd, CLONE_NEWNET) < 0) {
                /* Stranded in the host network: refuse further runs. */
                s->thread_err = errno;
                err = errno;
            }
        }
        s->state = 2;
        pthread_cond_broadcast(&s->cv);
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

/* Waits until the thread sits in its namespace and cgroups (or failed to). */
static int wait_slot_thread(struct sbx_slot *s, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->mu);
    while (s->state == -1)
        pthread_cond_wait(&s->cv, &s->mu);
    int e = s->thread_err;
    pthread_mutex_unlock(&s->mu);
    if (e)
        return sbx_error(err, errlen, -e, "slot %u thread: entering its namespace and cgroups: %s",
                         s->index, strerror(e));
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
        s->netns_fd = -1;
        s->host_netns_fd = -1;
        for (int k = 0; k < 4; k++)
            s->cg.join_fd[k] = -1;
        s->cg.procs_fd = -1;
        p->n_slots = i + 1;
        r = make_netns(p->host_netns_fd, err, errlen);
        if (r < 0)
            goto fail;
        s->netns_fd = r;
        r = sbx_cg_slot_init(&p->cgroot, i, &s->cg, err, errlen);
        if (r < 0)
            goto fail;
        s->host_netns_fd = p->host_netns_fd;
        r = launch_slot_thread(s, err, errlen);
        if (r < 0)
            goto fail;
    }
    /* Compile the filter while the slot threads join their cgroups (on v1 the
     * first move into a cgroup waits for an RCU grace period). */
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
    for (unsigned i = 0; i < p->n_slots; i++) {
        struct sbx_slot *s = &p->slots[i];
        /* The thread leaves the slot cgroups by exiting; only then can they go. */
        stop_slot_thread(s);
        if (s->netns_fd >= 0)
            close(s->netns_fd);
        if (s->cg.procs_fd >= 0 || s->cg.dirs[0])
            sbx_cg_slot_destroy(&s->cg);
    }
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
