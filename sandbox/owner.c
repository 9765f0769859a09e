/* owner.c — the name of a pool's cgroup, which says who made it, and the proof
 * that its maker is gone.
 *
 * Two farms can share one cgroup filesystem from two PID namespaces
 * (containers, farmd beside `farm run`): a pid alone names nothing on the
 * host, and "no process has this pid" proves nothing about a process of
 * another namespace. A pool's group is
 *
 *     nixfarm-sandbox.<pid ns inode>.<pid>.<start time>.<random>
 *
 * unique on the host (the random part alone, the rest to decide staleness),
 * and stale only when its PID namespace is ours and no process of ours has that
 * pid with that start time (field 22 of /proc/PID/stat, clock ticks since
 * boot). A group of another namespace, or of an older naming, is never
 * touched. Boxes carry the same owner tag in their tmpfs's source
 * (nixfarm-box.<pid ns inode>.<pid>.<start time>), checked the same way. */
#include "internal.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#define PREFIX "nixfarm-sandbox."

static int pidns_inode(unsigned long long *ino)
{
    struct stat st;
    if (stat("/proc/self/ns/pid", &st) < 0)
        return -errno;
    *ino = (unsigned long long)st.st_ino;
    return 0;
}

/* Start time of pid in our /proc, or -errno (-ENOENT: no such process). */
static int start_time(long pid, unsigned long long *t)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%ld/stat", pid);
    _cleanup_free_ char *buf = NULL;
    int r = sbx_read_file(p, 4096, &buf, NULL);
    if (r < 0)
        return r;
    /* comm may hold spaces and parentheses: fields resume after the last ')'. */
    char *c = strrchr(buf, ')');
    if (!c)
        return -EINVAL;
    c++;
    /* state is field 3; start time is field 22, the 20th after comm */
    for (int f = 3; f < 22; f++) {
        c = strchr(c + 1, ' ');
        if (!c)
            return -EINVAL;
    }
    *t = strtoull(c + 1, NULL, 10);
    return 0;
}

int sbx_owner_tag(char *out, size_t n)
{
    unsigned long long ns, st;
    int r = pidns_inode(&ns);
    if (r == 0)
        r = start_time((long)getpid(), &st);
    if (r < 0)
        return r;
    if ((size_t)snprintf(out, n, "%llu.%d.%llu", ns, (int)getpid(), st) >= n)
        return -ENAMETOOLONG;
    return 0;
}

bool sbx_owner_tag_is_stale(const char *tag)
{
    unsigned long long ns, st, our_ns = 0, now = 0;
    long pid;
    int used = 0;
    if (sscanf(tag, "%llu.%ld.%llu%n", &ns, &pid, &st, &used) != 3)
        return false;
    /* nothing, or a random ".<hex>" part, may follow */
    const char *rest = tag + used;
    if (*rest && (*rest != '.' || strspn(rest + 1, "0123456789abcdef") != strlen(rest + 1)))
        return false;
    if (pidns_inode(&our_ns) < 0 || ns != our_ns || pid <= 0)
        return false;
    if (pid == (long)getpid())
        return false; /* ours, alive: another pool of this process */
    int r = start_time(pid, &now);
    if (r == -ENOENT)
        return true;
    return r == 0 && now != st;
}

int sbx_pool_group_name(char *out, size_t n)
{
    char tag[96];
    int r = sbx_owner_tag(tag, sizeof tag);
    if (r < 0)
        return r;
    uint32_t rnd;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return -errno;
    if ((size_t)snprintf(out, n, PREFIX "%s.%08x", tag, (unsigned)rnd) >= n)
        return -ENAMETOOLONG;
    return 0;
}

bool sbx_pool_group_is_stale(const char *name)
{
    size_t n = strlen(PREFIX);
    return strncmp(name, PREFIX, n) == 0 && sbx_owner_tag_is_stale(name + n);
}
