/* util.c — helpers private to sandbox/ (see util.h). */
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

int sbx_error(char *err, size_t errlen, int ret, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return ret;
}

int sbx_read_file(const char *path, size_t max, char **data, size_t *len)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    size_t cap = 4096, n = 0;
    _cleanup_free_ char *buf = malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (n == cap) {
            if (cap >= max)
                break;
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb)
                return -ENOMEM;
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, (cap < max ? cap : max) - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n >= max)
            break;
    }
    buf[n] = 0;
    *data = steal_pointer(&buf);
    if (len)
        *len = n;
    return 0;
}

int sbx_write_file(const char *path, const char *s)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    return sbx_fd_write_str(fd, s);
}

int sbx_fd_write_str(int fd, const char *s)
{
    size_t n = strlen(s);
    ssize_t w = pwrite(fd, s, n, 0);
    if (w < 0)
        return -errno;
    return (size_t)w == n ? 0 : -EIO;
}

int sbx_fd_write_u64(int fd, uint64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%" PRIu64, v);
    return sbx_fd_write_str(fd, b);
}

int sbx_fd_read_u64(int fd, uint64_t *v)
{
    char b[64];
    ssize_t r = pread(fd, b, sizeof b - 1, 0);
    if (r < 0)
        return -errno;
    b[r] = 0;
    if (strncmp(b, "max", 3) == 0) {
        *v = UINT64_MAX;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long x = strtoull(b, &end, 10);
    if (errno || end == b)
        return -EINVAL;
    *v = x;
    return 0;
}

int sbx_fd_read_keyed(int fd, const char *key, uint64_t *v)
{
    char b[2048];
    ssize_t r = pread(fd, b, sizeof b - 1, 0);
    if (r < 0)
        return -errno;
    b[r] = 0;
    size_t kl = strlen(key);
    for (char *line = b; line && *line;) {
        char *nl = strchr(line, '\n');
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ') {
            *v = strtoull(line + kl + 1, NULL, 10);
            return 0;
        }
        line = nl ? nl + 1 : NULL;
    }
    return -ENOENT;
}

DIR *sbx_fdopendir_dup(int dirfd)
{
    int dup = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
    if (dup < 0)
        return NULL;
    DIR *d = fdopendir(dup);
    if (!d) {
        int e = errno;
        close(dup);
        errno = e;
    }
    return d;
}

static int rm_entries(int dirfd, int depth)
{
    if (depth > 256)
        return -ELOOP;
    DIR *d = sbx_fdopendir_dup(dirfd);
    if (!d)
        return -errno;
    int ret = 0;
    struct stat dst;
    if (fstat(dirfd, &dst) < 0) {
        int e = -errno; /* before closedir can change it */
        closedir(d);
        return e;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (st.st_dev != dst.st_dev) {
                /* A mount beneath us (a box inside the tree): detach it first;
                 * never descend into another filesystem. */
                char p[64];
                _cleanup_close_ int sub =
                    openat(dirfd, de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub >= 0) {
                    snprintf(p, sizeof p, "/proc/self/fd/%d", sub);
                    umount2(p, MNT_DETACH);
                }
                if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    st.st_dev != dst.st_dev) {
                    ret = -EBUSY;
                    continue;
                }
            }
            _cleanup_close_ int sub =
                openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                int r = rm_entries(sub, depth + 1);
                if (r < 0)
                    ret = r;
            }
            if (unlinkat(dirfd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                ret = -errno;
        } else if (unlinkat(dirfd, de->d_name, 0) < 0 && errno != ENOENT) {
            ret = -errno;
        }
    }
    closedir(d);
    return ret;
}

int sbx_rm_rf_at(int dirfd)
{
    return rm_entries(dirfd, 0);
}

uint64_t sbx_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool sbx_has_token(const char *list, const char *tok, const char *seps)
{
    size_t n = strlen(tok);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, seps);
        if (len == n && !strncmp(p, tok, n))
            return true;
        p += len;
        p += strspn(p, seps);
    }
    return false;
}

int sbx_mountinfo_each(int (*fn)(const struct sbx_mount *m, void *data), void *data)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -errno;
    _cleanup_free_ char *line = NULL;
    _cleanup_free_ struct sbx_mount *m = malloc(sizeof *m); /* 5 KiB: off small stacks */
    size_t cap = 0;
    int ret = m ? 0 : -ENOMEM;
    while (ret == 0 && getline(&line, &cap, f) > 0) {
        char *sep = strstr(line, " - ");
        m->super_opts[0] = 0;
        if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", m->mountpoint) != 1 ||
            sscanf(sep + 3, "%63s %255s %1023s", m->fstype, m->source, m->super_opts) < 2)
            continue;
        ret = fn(m, data);
    }
    fclose(f);
    return ret;
}
