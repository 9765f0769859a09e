/* util.h — small helpers private to sandbox/: scope-bound cleanup (after
 * bubblewrap's utils.h; sandbox/ includes no project header, so it keeps its
 * own copy), error sentences, and whole-file reads and writes. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static inline void *sbx_steal_pointer_impl(void *pp)
{
    void **p = (void **)pp;
    void *v = *p;
    *p = NULL;
    return v;
}
#define steal_pointer(pp) ((__typeof__(*(pp)))sbx_steal_pointer_impl(pp))

static inline int steal_fd(int *fd)
{
    int v = *fd;
    *fd = -1;
    return v;
}

static inline void sbx_freep(void *p)
{
    free(*(void **)p);
}
static inline void sbx_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(sbx_freep)
#define _cleanup_close_ _cleanup_(sbx_closep)

/* Writes a sentence into err (if err is not NULL) and returns ret, which is a
 * -errno; "%m"-style text is the caller's job (use strerror(-ret)). */
int sbx_error(char *err, size_t errlen, int ret, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reads all of path into a malloc'd NUL-terminated buffer (at most max bytes). */
int sbx_read_file(const char *path, size_t max, char **data, size_t *len);
/* Writes s to path (O_WRONLY, no create). */
int sbx_write_file(const char *path, const char *s);
/* pread/pwrite of a small control file through an open fd. */
int sbx_fd_read_u64(int fd, uint64_t *v);
int sbx_fd_write_str(int fd, const char *s);
int sbx_fd_write_u64(int fd, uint64_t v);
/* Reads "key value" lines from fd (e.g. memory.oom_control) and returns value of key. */
int sbx_fd_read_keyed(int fd, const char *key, uint64_t *v);

/* A DIR stream over a duplicate of dirfd (which stays the caller's): NULL
 * and errno on failure, with nothing left open. */
DIR *sbx_fdopendir_dup(int dirfd);

/* Removes everything beneath dirfd without following symlinks or crossing
 * into other mounts (they are lazily unmounted first when possible). */
int sbx_rm_rf_at(int dirfd);

uint64_t sbx_now_ns(void);

/* Whether tok is one of the words of list, split at any of seps. */
bool sbx_has_token(const char *list, const char *tok, const char *seps);

/* One mount of /proc/self/mountinfo, whose lines read
 * "id parent maj:min root mountpoint opts [optional...] - fstype source superopts". */
struct sbx_mount {
    char mountpoint[4096];
    char fstype[64];
    char source[256];
    char super_opts[1024]; /* "" when the line has none */
};

/* Calls fn for each of our mounts in mountinfo's order (the topmost mount on
 * a path comes last), skipping lines that do not parse, until fn returns
 * nonzero. Returns that value, 0 after the last mount, or -errno when
 * mountinfo cannot be opened. */
int sbx_mountinfo_each(int (*fn)(const struct sbx_mount *m, void *data), void *data);
