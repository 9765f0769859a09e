/* box.c — boxes (host directories bound at /box), collecting outputs from
 * them safely, and cleaning up after a crashed supervisor.
 *
 * A box is a tmpfs mounted on a host directory, so its size is capped by the
 * kernel and /proc/self/mountinfo inside shows only "/" as its root. Whatever a
 * program leaves in it is hostile: outputs are opened with openat2 beneath the
 * box, refusing symlinks at every step (this host has protected_symlinks = 0),
 * non-regular files (a FIFO would block us) and files with more than one link
 * or on another device (a hard link to a file outside). */
#include "internal.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define BOX_SOURCE "nixfarm-box."

struct source_query {
    const char *path;
    char *out;
    size_t n;
    bool found;
};

static int note_source(const struct sbx_mount *m, void *data)
{
    struct source_query *q = data;
    if (!strcmp(m->mountpoint, q->path)) {
        snprintf(q->out, q->n, "%s", m->source); /* the last (topmost) mount wins */
        q->found = true;
    }
    return 0;
}

/* The source of the mount on path (from our mountinfo), or -ENOENT. */
static int mount_source(const char *path, char *out, size_t n)
{
    struct source_query q = {path, out, n, false};
    int r = sbx_mountinfo_each(note_source, &q);
    return r < 0 ? r : q.found ? 0 : -ENOENT;
}

int sandbox_box_create(const char *path, uint64_t bytes, char *err, size_t errlen)
{
    if (!path || path[0] != '/')
        return sbx_error(err, errlen, -EINVAL, "box path must be absolute");
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return sbx_error(err, errlen, -errno, "mkdir %s: %s", path, strerror(errno));
    char opts[96];
    snprintf(opts, sizeof opts, "size=%llu,mode=0755,uid=0,gid=0",
             (unsigned long long)(bytes ? bytes : 64ull << 20));
    /* The source names who made it, for sandbox_cleanup_stale (owner.c). */
    char src[128] = BOX_SOURCE;
    int tr = sbx_owner_tag(src + strlen(src), sizeof src - strlen(src));
    if (tr < 0)
        return sbx_error(err, errlen, tr, "naming the box's owner: %s", strerror(-tr));
    if (mount(src, path, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
        int e = errno;
        rmdir(path);
        return sbx_error(err, errlen, -e, "mounting the box tmpfs on %s: %s", path, strerror(e));
    }
    return 0;
}

int sandbox_box_destroy(const char *path, char *err, size_t errlen)
{
    if (!path || path[0] != '/')
        return sbx_error(err, errlen, -EINVAL, "box path must be absolute");
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0
                               : sbx_error(err, errlen, -errno, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return sbx_error(err, errlen, -ENOTDIR, "%s is not a directory", path);
    /* Unmount every layer mounted here (a box may have been created twice). */
    while (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
        ;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return sbx_error(err, errlen, -errno, "%s: %s", path, strerror(errno));
    int r = sbx_rm_rf_at(fd);
    if (rmdir(path) < 0 && errno != ENOENT)
        return sbx_error(err, errlen, -errno, "rmdir %s: %s%s", path, strerror(errno),
                         r < 0 ? " (some entries could not be removed)" : "");
    return 0;
}

int sandbox_box_open(const char *box, const char *relpath, char *err, size_t errlen)
{
    if (!box || !relpath || !*relpath)
        return sbx_error(err, errlen, -EINVAL, "box and path are required");
    _cleanup_close_ int dfd = open(box, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return sbx_error(err, errlen, -errno, "box %s: %s", box, strerror(errno));
    struct stat bst;
    if (fstat(dfd, &bst) < 0)
        return sbx_error(err, errlen, -errno, "box %s: %s", box, strerror(errno));
    struct open_how how;
    memset(&how, 0, sizeof how);
    /* O_NONBLOCK: opening a FIFO the program left must not hang us. */
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    int fd = (int)syscall(SYS_openat2, dfd, relpath, &how, sizeof how);
    if (fd < 0) {
        int e = errno;
        const char *why = e == ELOOP ? " (a symlink)" : e == EXDEV ? " (outside the box)" : "";
        return sbx_error(err, errlen, -e, "output %s: %s%s", relpath, strerror(e), why);
    }
    struct stat st;
    int e = 0;
    const char *why = NULL;
    if (fstat(fd, &st) < 0) {
        e = errno;
        why = strerror(e);
    } else if (!S_ISREG(st.st_mode)) {
        e = EINVAL;
        why = "not a regular file";
    } else if (st.st_nlink != 1) {
        e = EMLINK;
        why = "has more than one hard link";
    } else if (st.st_dev != bst.st_dev) {
        e = EXDEV;
        why = "on another filesystem than the box";
    }
    if (e) {
        close(fd);
        return sbx_error(err, errlen, -e, "output %s: %s", relpath, why);
    }
    /* Back to blocking reads for the caller. */
    fcntl(fd, F_SETFL, 0);
    return fd;
}

int sandbox_box_read(const char *box, const char *relpath, size_t max_bytes, char **data,
                     size_t *len, bool *truncated, char *err, size_t errlen)
{
    _cleanup_close_ int fd = sandbox_box_open(box, relpath, err, errlen);
    if (fd < 0)
        return fd;
    _cleanup_free_ char *buf = malloc(max_bytes + 1);
    if (!buf)
        return -ENOMEM;
    size_t n = 0;
    while (n < max_bytes) {
        ssize_t r = read(fd, buf + n, max_bytes - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return sbx_error(err, errlen, -errno, "reading %s: %s", relpath, strerror(errno));
        if (r == 0)
            break;
        n += (size_t)r;
    }
    bool more = false;
    if (n == max_bytes) {
        char c;
        more = read(fd, &c, 1) == 1;
    }
    buf[n] = 0;
    *data = steal_pointer(&buf);
    if (len)
        *len = n;
    if (truncated)
        *truncated = more;
    return 0;
}

int sandbox_cleanup_stale(const char *box_root, char *err, size_t errlen)
{
    int removed = 0, ret = 0;
    char msg[512] = "";
    if (box_root) {
        _cleanup_close_ int fd = open(box_root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno != ENOENT)
            return sbx_error(err, errlen, -errno, "box root %s: %s", box_root, strerror(errno));
        if (fd >= 0) {
            DIR *d = sbx_fdopendir_dup(fd);
            if (d) {
                struct dirent *de;
                while ((de = readdir(d))) {
                    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                    char p[4096];
                    /* A cut path names some other file: never remove that. */
                    if ((size_t)snprintf(p, sizeof p, "%s/%s", box_root, de->d_name) >= sizeof p) {
                        ret = -ENAMETOOLONG;
                        continue;
                    }
                    struct stat st;
                    if (lstat(p, &st) < 0)
                        continue;
                    /* A box still mounted is removed only when its owner
                     * (in the tmpfs's source) is provably gone: another
                     * farm's live box may share this directory. */
                    char src[256];
                    if (S_ISDIR(st.st_mode) && mount_source(p, src, sizeof src) == 0 &&
                        (strncmp(src, BOX_SOURCE, strlen(BOX_SOURCE)) != 0 ||
                         !sbx_owner_tag_is_stale(src + strlen(BOX_SOURCE))))
                        continue;
                    int r;
                    if (S_ISDIR(st.st_mode))
                        r = sandbox_box_destroy(p, NULL, 0);
                    else
                        r = unlink(p) < 0 ? -errno : 0;
                    if (r < 0)
                        ret = r;
                    else
                        removed++;
                }
                closedir(d);
            }
        }
    }
    /* Cgroups beneath our own groups that a pool of this PID namespace made
     * and whose maker is provably gone (owner.c); nothing else. */
    char *dirs[6];
    int n = sbx_cg_own_dirs(dirs);
    for (int i = 0; i < n; i++) {
        DIR *d = opendir(dirs[i]);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d))) {
                if (de->d_type != DT_DIR || !sbx_pool_group_is_stale(de->d_name))
                    continue;
                char p[4096];
                if ((size_t)snprintf(p, sizeof p, "%s/%s", dirs[i], de->d_name) >= sizeof p) {
                    ret = -ENAMETOOLONG;
                    continue;
                }
                int r = sbx_cg_remove_tree(p, msg, sizeof msg);
                if (r < 0)
                    ret = r;
                else
                    removed++;
            }
            closedir(d);
        }
        free(dirs[i]);
    }
    if (ret < 0)
        return sbx_error(err, errlen, ret, "some stale sandbox state could not be removed: %s",
                         msg[0] ? msg : strerror(-ret));
    return removed;
}
