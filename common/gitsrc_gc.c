/* gitsrc_gc.c — age and size collection of the git mirrors. See gitsrc_gc.h. */
#include "gitsrc_gc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"

#define USED_STAMP "nixfarm-used"
#define FETCHED_STAMP "nixfarm-fetched"
#define GC_STAMP ".nixfarm-gc"

typedef struct {
    char name[70]; /* <64 hex>.git */
    int64_t used_s;
    long long bytes;
} gc_mirror;

void gitsrc_gc_touch(const char *mirror)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/" USED_STAMP, mirror) >= (int)sizeof(path))
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return;
    futimens(fd, NULL);
    close(fd);
}

static bool is_mirror_name(const char *n)
{
    return strlen(n) == 68 && strspn(n, "0123456789abcdef") == 64 && !strcmp(n + 64, ".git");
}

/* Last use: the use stamp, else the fetch stamp, else the directory. */
static int64_t last_used(int dfd, const char *name)
{
    char p[128];
    struct stat sb;
    snprintf(p, sizeof(p), "%s/" USED_STAMP, name);
    if (fstatat(dfd, p, &sb, AT_SYMLINK_NOFOLLOW) == 0)
        return (int64_t)sb.st_mtime;
    snprintf(p, sizeof(p), "%s/" FETCHED_STAMP, name);
    if (fstatat(dfd, p, &sb, AT_SYMLINK_NOFOLLOW) == 0)
        return (int64_t)sb.st_mtime;
    if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
        return (int64_t)sb.st_mtime;
    return 0;
}

/* nftw has no user pointer; a collection runs in one thread at a time per
 * process (thread-local all the same). */
static _Thread_local long long du_sum;

static int du_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path;
    (void)flag;
    (void)ftw;
    du_sum += (long long)sb->st_blocks * 512;
    return 0;
}

static long long du(const char *path)
{
    du_sum = 0;
    nftw(path, du_entry, 16, FTW_PHYS);
    return du_sum;
}

static int by_use(const void *a, const void *b)
{
    const gc_mirror *x = a, *y = b;
    return x->used_s < y->used_s ? -1 : x->used_s > y->used_s;
}

/* Removes one mirror unless it is in use; true when removed. */
static bool remove_mirror(const char *gitdir, int dfd, const gc_mirror *m, int64_t now_s)
{
    char lock[PATH_MAX], from[PATH_MAX], trash[PATH_MAX];
    snprintf(lock, sizeof(lock), "%s/%s.lock", gitdir, m->name);
    _cleanup_close_ int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) < 0)
        return false; /* a fetch is writing it */
    if (last_used(dfd, m->name) > now_s - GITSRC_GC_GRACE_S)
        return false; /* used since the scan */
    snprintf(from, sizeof(from), "%s/%s", gitdir, m->name);
    snprintf(trash, sizeof(trash), "%s/.gc-%.64s-%d", gitdir, m->name, (int)getpid());
    if (rename(from, trash) < 0)
        return false;
    fsutil_rm_rf(trash);
    return true;
}

int gitsrc_gc(const config *cfg, int64_t now_s, gitsrc_gc_stats *st, char *err, size_t errlen)
{
    gitsrc_gc_stats s = {0};
    _cleanup_free_ char *gitdir = config_state_path(cfg, "git");
    if (!gitdir)
        return -ENOMEM;
    long long max_age_s = config_int(cfg, "git.mirror_max_age_ms") / 1000;
    long long max_bytes = config_int(cfg, "git.mirrors_max_bytes");
    DIR *d = opendir(gitdir);
    if (!d) {
        if (errno == ENOENT) {
            if (st)
                *st = s;
            return 0;
        }
        int r = -errno;
        errbuf_set(err, errlen, "cannot read %s: %s", gitdir, strerror(errno));
        return r;
    }
    int dfd = dirfd(d);
    _cleanup_free_ gc_mirror *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int r = 0;
    char path[PATH_MAX];
    while ((e = readdir(d))) {
        if (!strncmp(e->d_name, ".gc-", 4)) { /* a collection killed halfway */
            snprintf(path, sizeof(path), "%s/%s", gitdir, e->d_name);
            fsutil_rm_rf(path);
            continue;
        }
        if (!is_mirror_name(e->d_name))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            gc_mirror *nv = realloc(v, nc * sizeof(*nv));
            if (!nv) {
                r = -ENOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        gc_mirror *m = &v[n++];
        snprintf(m->name, sizeof(m->name), "%s", e->d_name);
        m->used_s = last_used(dfd, e->d_name);
        snprintf(path, sizeof(path), "%s/%s", gitdir, e->d_name);
        m->bytes = du(path);
    }
    if (r < 0) {
        closedir(d);
        errbuf_set(err, errlen, "out of memory listing %s", gitdir);
        return r;
    }
    qsort(v, n, sizeof(*v), by_use);
    long long total = 0;
    for (size_t i = 0; i < n; i++)
        total += v[i].bytes;
    for (size_t i = 0; i < n; i++) { /* oldest first */
        bool too_old = max_age_s > 0 && v[i].used_s < now_s - max_age_s;
        bool too_big = max_bytes > 0 && total > max_bytes;
        if ((too_old || too_big) && v[i].used_s <= now_s - GITSRC_GC_GRACE_S &&
            remove_mirror(gitdir, dfd, &v[i], now_s)) {
            total -= v[i].bytes;
            s.bytes_freed += v[i].bytes;
            if (too_old)
                s.removed_age++;
            else
                s.removed_size++;
            continue;
        }
        s.kept++;
        s.bytes_kept += v[i].bytes;
    }
    closedir(d);
    if (st)
        *st = s;
    return 0;
}

int gitsrc_gc_maybe(const config *cfg, gitsrc_gc_stats *st, char *err, size_t errlen)
{
    _cleanup_free_ char *stamp = config_state_path(cfg, "git/" GC_STAMP);
    if (!stamp)
        return -ENOMEM;
    long long interval_ms = config_int(cfg, "git.gc_interval_ms");
    struct stat sb;
    time_t now = time(NULL);
    if (interval_ms > 0 && stat(stamp, &sb) == 0 &&
        ((long long)now - (long long)sb.st_mtime) * 1000 < interval_ms)
        return 0;
    _cleanup_close_ int fd = open(stamp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        int r = -errno;
        if (r == -ENOENT)
            return 0; /* no git directory yet: nothing to collect */
        errbuf_set(err, errlen, "cannot open %s: %s", stamp, strerror(errno));
        return r;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0)
        return 0; /* another process is collecting */
    futimens(fd, NULL);
    int r = gitsrc_gc(cfg, (int64_t)now, st, err, errlen);
    return r < 0 ? r : 1;
}
