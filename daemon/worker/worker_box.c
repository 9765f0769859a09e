/* box.c — writes a submission's files into its box; see box.h. */
#include "worker_box.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/cleanup.h"
#include "../../common/fsutil.h"
#include "../../common/gitsrc.h"

int box_name_ok(const char *name)
{
    const char *p = name;

    if (!name || !*name || *name == '/' || strlen(name) > 4096)
        return 0;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);

        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!slash)
            break;
        p = slash + 1;
        if (!*p)
            return 0; /* trailing slash: a directory, not a file */
    }
    return 1;
}

/* Opens (making as needed) the parent directories of rel below dirfd, never
 * following a symlink; returns a directory fd and points *base at the last
 * component. */
static int open_parent(int dirfd, char *rel, const char **base)
{
    _cleanup_close_ int cur = dup(dirfd);
    char *p = rel;

    if (cur < 0)
        return -errno;
    for (;;) {
        char *slash = strchr(p, '/');
        int next;

        if (!slash) {
            *base = p;
            return steal_fd(&cur);
        }
        *slash = '\0';
        if (mkdirat(cur, p, 0755) < 0 && errno != EEXIST)
            return -errno;
        next = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0)
            return -errno;
        close(cur);
        cur = next;
        *slash = '/';
        p = slash + 1;
    }
}

int box_write_files(worker_source *src, const char *box_dir, const json_t *files, char *err,
                    size_t errlen)
{
    _cleanup_close_ int root = -1;
    size_t i;
    json_t *f;

    if (!files || json_array_size(files) == 0)
        return 0;
    root = open(box_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        snprintf(err, errlen, "cannot open box %s: %s", box_dir, strerror(errno));
        return -errno;
    }
    json_array_foreach(files, i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *blob = json_string_value(json_object_get(f, "blob"));
        bool exec = json_is_true(json_object_get(f, "executable"));
        _cleanup_free_ char *rel = NULL;
        _cleanup_free_ void *data = NULL;
        _cleanup_close_ int dir = -1, fd = -1;
        const char *base = NULL;
        size_t len = 0;
        int r;

        if (!box_name_ok(name)) {
            snprintf(err, errlen, "files[%zu].name: not a safe relative path", i);
            return -EINVAL;
        }
        if (!blob) {
            snprintf(err, errlen, "files[%zu]: no blob", i);
            return -EINVAL;
        }
        r = src->ops->blob_get(src, blob, &data, &len);
        if (r < 0) {
            snprintf(err, errlen, "files[%zu] (%s): blob %s: %s", i, name, blob, strerror(-r));
            return r;
        }
        rel = strdup(name);
        if (!rel)
            return -ENOMEM;
        dir = open_parent(root, rel, &base);
        if (dir < 0) {
            snprintf(err, errlen, "files[%zu] (%s): %s", i, name, strerror(-dir));
            return dir;
        }
        fd = openat(dir, base, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                    exec ? 0755 : 0644);
        if (fd < 0 || fsutil_write_all(fd, data, len) < 0 || fchmod(fd, exec ? 0755 : 0644) < 0) {
            r = -errno;
            snprintf(err, errlen, "files[%zu] (%s): %s", i, name, strerror(errno));
            return r;
        }
    }
    return 0;
}

int box_write_file(const char *path, const void *data, size_t len, int mode)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

    if (fd < 0)
        return -errno;
    return fsutil_write_all(fd, data, len);
}

int box_checkout_git(const config *cfg, const char *box_dir, const json_t *git, long long max_bytes,
                     char *err, size_t errlen)
{
    const char *url = json_string_value(json_object_get(git, "url"));
    const char *rev = json_string_value(json_object_get(git, "rev"));
    const char *subdir = json_string_value(json_object_get(git, "subdir"));

    if (max_bytes <= 0)
        max_bytes = config_int(cfg, "git.max_checkout_bytes");
    return gitsrc_checkout(cfg, url, rev ? rev : "HEAD", subdir, box_dir, max_bytes, err, errlen);
}
