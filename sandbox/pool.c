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
    p->ncpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (p->ncpus < 1)
        p->ncpus = 1;
    int r = sbx_filter_build(&p->filter, err, errlen);
    if (r < 0)
        goto fail;
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
    }
    *ret = p;
    return 0;
fail:
    sandbox_pool_free(p);
    return r;
}

void sandbox_pool_free(struct sandbox_pool *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->n_slots; i++) {
        struct sbx_slot *s = &p->slots[i];
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
