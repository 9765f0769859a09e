/* mounts.c — the sandbox's filesystem: a plan built by the supervisor, carried
 * out by the keeper.
 *
 * The supervisor resolves and checks every host path (realpath, stat) and turns
 * the config into a flat list of operations with their strings prepared, so the
 * keeper — a clone of a possibly multithreaded, possibly ASan-instrumented
 * process — only makes system calls. The keeper:
 *   1. makes every mount private (nothing propagates to or from the host),
 *   2. mounts an empty tmpfs on BASE and pivot_roots into it, the host's root
 *      now at /oldroot (bubblewrap's approach: host paths stay reachable even
 *      when a source lies beneath BASE),
 *   3. binds store paths, the box and extra binds from /oldroot/<realpath>,
 *      each made read-only/nosuid/nodev with mount_setattr (which only adds
 *      flags, so locked flags of the source mount never make it fail),
 *   4. builds /tmp, /dev and /proc (with the host-revealing files masked),
 *   5. detaches /oldroot and makes the root tmpfs read-only.
 * /proc/self/mountinfo then shows only the sources' paths inside their own
 * filesystems: a box made by sandbox_box_create and a store at /nix/store
 * reveal nothing of the host's layout (see docs/security.md). */
#include "internal.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define BASE "/tmp"
#define DEFAULT_TMPFS_BYTES (64ull << 20)

/* Files of /proc that describe the host rather than the sandbox and that the
 * sandbox's uid can read: covered with /dev/null. Not listed because closed to
 * it already: the root-only files (kcore, kmsg, timer_list, slabinfo, kpage*,
 * sysrq-trigger...), and keys/key-users (filtered by user namespace, and the
 * keyring calls are refused anyway). Each mask is a mount per run, so the
 * list is kept to what reveals the host: its kernel command line and build,
 * its disks, swap and file locks. */
static const char *const proc_mask_files[] = {
    "cmdline", "config.gz", "kallsyms", "locks", "partitions", "diskstats", "swaps",
};
/* Directories of /proc about host hardware and filesystems (PCI devices,
 * SCSI disks, drivers, NFS exports): covered with an empty read-only one. */
static const char *const proc_mask_dirs[] = {"acpi", "scsi", "bus", "driver", "fs"};

static const struct {
    const char *name;
    unsigned long dev;
} dev_nodes[] = {{"null", 0x103},
                 {"zero", 0x105},
                 {"full", 0x107},
                 {"random", 0x108},
                 {"urandom", 0x109}}; /* makedev(1, n): fixed in Linux's devices.txt */

/*** Building (supervisor side, may allocate) ***/

static char *plan_str(struct sbx_plan *p, char *s)
{
    if (!s)
        return NULL;
    if (p->n_str == p->cap_str) {
        size_t nc = p->cap_str ? p->cap_str * 2 : 32;
        char **ns = realloc(p->strings, nc * sizeof *ns);
        if (!ns) {
            free(s);
            return NULL;
        }
        p->strings = ns;
        p->cap_str = nc;
    }
    p->strings[p->n_str++] = s;
    return s;
}

static char *plan_fmt(struct sbx_plan *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *plan_fmt(struct sbx_plan *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return plan_str(p, s);
}

static int plan_add(struct sbx_plan *p, struct sbx_op op)
{
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 64;
        struct sbx_op *no = realloc(p->ops, nc * sizeof *no);
        if (!no)
            return -ENOMEM;
        p->ops = no;
        p->cap = nc;
    }
    p->ops[p->n++] = op;
    return 0;
}

/* An absolute, normalised path inside the sandbox: no "." or ".." parts, no
 * "//", not "/" itself. */
static bool inside_path_ok(const char *s)
{
    if (!s || s[0] != '/' || s[1] == 0)
        return false;
    for (const char *c = s; *c;) {
        const char *slash = strchr(c + 1, '/');
        size_t len = slash ? (size_t)(slash - c - 1) : strlen(c + 1);
        if (len == 0 || (len == 1 && c[1] == '.') || (len == 2 && c[1] == '.' && c[2] == '.'))
            return false;
        if (!slash)
            break;
        c = slash;
    }
    return true;
}

/* mkdir -p for every parent of dst (and dst itself when is_dir). */
static int plan_mkdirs(struct sbx_plan *p, const char *dst, bool is_dir)
{
    size_t len = strlen(dst);
    for (size_t i = 1; i <= len; i++) {
        if (dst[i] == '/' || (dst[i] == 0 && is_dir)) {
            char *prefix = plan_str(p, strndup(dst, i));
            if (!prefix)
                return -ENOMEM;
            int r = plan_add(p, (struct sbx_op){.kind = SBX_OP_MKDIR, .dst = prefix});
            if (r < 0)
                return r;
        }
    }
    if (!is_dir)
        return plan_add(p, (struct sbx_op){.kind = SBX_OP_MKFILE, .dst = dst});
    return 0;
}

/* A bind of host path host (resolved here) at dst with mount_setattr attrs. */
static int plan_bind(struct sbx_plan *p, const char *host, const char *dst, uint64_t attr,
                     char *err, size_t errlen)
{
    _cleanup_free_ char *real = realpath(host, NULL);
    if (!real)
        return sbx_error(err, errlen, -errno, "bind source %s: %s", host, strerror(errno));
    struct stat st;
    if (stat(real, &st) < 0)
        return sbx_error(err, errlen, -errno, "bind source %s: %s", host, strerror(errno));
    char *src = plan_fmt(p, "/oldroot%s", real);
    char *d = plan_str(p, strdup(dst));
    if (!src || !d)
        return -ENOMEM;
    int r = plan_mkdirs(p, d, S_ISDIR(st.st_mode));
    if (r < 0)
        return r;
    return plan_add(p, (struct sbx_op){.kind = SBX_OP_BIND, .src = src, .dst = d, .attr = attr});
}

/* A store path: its root is resolved already and entries directly under
 * /nix/store are directories, files or symlinks (recreated, never followed on
 * the host), so one lstat replaces realpath's walk — a closure has dozens to
 * hundreds. The parents (/nix/store) are made once by the caller. */
static int plan_bind_store(struct sbx_plan *p, const char *host, const char *dst, uint64_t attr,
                           char *err, size_t errlen)
{
    struct stat st;
    if (lstat(host, &st) < 0)
        return sbx_error(err, errlen, -errno, "store path %s: %s", host, strerror(errno));
    if (S_ISLNK(st.st_mode)) {
        /* A store path that is a symlink (runCommand "ln -s ..."): the same
         * link inside; its referent is in the closure and bound on its own. */
        char target[4096];
        ssize_t n = readlink(host, target, sizeof target - 1);
        if (n < 0)
            return sbx_error(err, errlen, -errno, "store path %s: %s", host, strerror(errno));
        target[n] = 0;
        char *t = plan_str(p, strdup(target));
        if (!t)
            return -ENOMEM;
        return plan_add(p, (struct sbx_op){.kind = SBX_OP_SYMLINK, .src = t, .dst = dst});
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return sbx_error(err, errlen, -EINVAL, "store path %s is neither a directory nor a file",
                         host);
    char *src = plan_fmt(p, "/oldroot%s", host);
    if (!src)
        return -ENOMEM;
    int r = plan_add(
        p, (struct sbx_op){.kind = S_ISDIR(st.st_mode) ? SBX_OP_MKDIR : SBX_OP_MKFILE, .dst = dst});
    if (r < 0)
        return r;
    return plan_add(p, (struct sbx_op){.kind = SBX_OP_BIND, .src = src, .dst = dst, .attr = attr});
}

static int plan_tmpfs(struct sbx_plan *p, const char *dst, uint64_t bytes, const char *mode,
                      uid_t uid, gid_t gid)
{
    char *d = plan_str(p, strdup(dst));
    char *data = plan_fmt(p, "size=%llu,mode=%s,uid=%u,gid=%u",
                          (unsigned long long)(bytes ? bytes : DEFAULT_TMPFS_BYTES), mode,
                          (unsigned)uid, (unsigned)gid);
    if (!d || !data)
        return -ENOMEM;
    int r = plan_mkdirs(p, d, true);
    if (r < 0)
        return r;
    return plan_add(
        p, (struct sbx_op){
               .kind = SBX_OP_TMPFS, .dst = d, .data = data, .flags = MS_NOSUID | MS_NODEV});
}

int sbx_plan_build(struct sbx_plan *p, const struct sandbox_config *cfg, uid_t uid, gid_t gid,
                   char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    int r = 0;
    const uint64_t RO = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    const uint64_t RW = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;

    /* Store paths. The root is resolved once; each entry must be one name
     * directly under /nix/store (never /nix/var: it may hold the daemon socket). */
    const char *root = cfg->store_root && *cfg->store_root ? cfg->store_root : "/";
    _cleanup_free_ char *realroot = realpath(root, NULL);
    if (!realroot)
        return sbx_error(err, errlen, -errno, "store_root %s: %s", root, strerror(errno));
    size_t n_store = 0;
    while (cfg->store_paths && cfg->store_paths[n_store])
        n_store++;
    /* Several paths (a real closure): /nix/store is a small tmpfs of its own,
     * and one recursive mount_setattr makes every bind in it read-only. */
    bool store_tmpfs = n_store >= 3;
    if (n_store)
        r = plan_mkdirs(p, "/nix/store", true);
    if (r == 0 && store_tmpfs)
        r = plan_add(p, (struct sbx_op){.kind = SBX_OP_TMPFS,
                                        .dst = "/nix/store",
                                        .data = "size=64k,mode=0755",
                                        .flags = MS_NOSUID | MS_NODEV});
    if (r < 0)
        return r;
    for (size_t i = 0; i < n_store; i++) {
        const char *sp = cfg->store_paths[i];
        const char *name = sp + strlen("/nix/store/");
        if (strncmp(sp, "/nix/store/", 11) != 0 || !*name || strchr(name, '/') ||
            !strcmp(name, ".") || !strcmp(name, ".."))
            return sbx_error(err, errlen, -EINVAL, "store path %s is not a /nix/store/<name> path",
                             sp);
        _cleanup_free_ char *host = NULL;
        if (asprintf(&host, "%s%s", strcmp(realroot, "/") ? realroot : "", sp) < 0)
            return -ENOMEM;
        r = plan_bind_store(p, host, sp, store_tmpfs ? 0 : RO, err, errlen);
        if (r < 0)
            return r;
    }
    if (store_tmpfs) {
        r = plan_add(
            p, (struct sbx_op){
                   .kind = SBX_OP_SETATTR, .dst = "/nix/store", .attr = RO, .recursive = true});
        if (r < 0)
            return r;
    }

    /* /box */
    if (cfg->box_dir) {
        r = plan_bind(p, cfg->box_dir, "/box", cfg->box_readonly ? RO : RW, err, errlen);
    } else {
        r = plan_tmpfs(p, "/box", cfg->limits.box_bytes, "0755", uid, gid);
        if (r == 0 && cfg->box_readonly)
            r = plan_add(p, (struct sbx_op){.kind = SBX_OP_SETATTR, .dst = "/box", .attr = RO});
    }
    if (r < 0)
        return r;

    /* /tmp and extra tmpfs */
    r = plan_tmpfs(p, "/tmp", cfg->limits.tmp_bytes, "1777", uid, gid);
    for (size_t i = 0; r == 0 && i < cfg->n_tmpfs; i++) {
        if (!inside_path_ok(cfg->tmpfs[i].dst))
            return sbx_error(err, errlen, -EINVAL,
                             "tmpfs destination %s is not a clean absolute path",
                             cfg->tmpfs[i].dst ? cfg->tmpfs[i].dst : "(null)");
        r = plan_tmpfs(p, cfg->tmpfs[i].dst,
                       cfg->tmpfs[i].bytes ? cfg->tmpfs[i].bytes : cfg->limits.tmp_bytes, "0755",
                       uid, gid);
    }
    if (r < 0)
        return r;

    /* extra binds */
    for (size_t i = 0; i < cfg->n_binds; i++) {
        const struct sandbox_bind *b = &cfg->binds[i];
        if (!b->src || !inside_path_ok(b->dst))
            return sbx_error(err, errlen, -EINVAL,
                             "bind %s -> %s: destination must be a clean absolute path",
                             b->src ? b->src : "(null)", b->dst ? b->dst : "(null)");
        if (!strncmp(b->dst, "/proc", 5) && (b->dst[5] == 0 || b->dst[5] == '/'))
            return sbx_error(err, errlen, -EINVAL, "bind destination %s: /proc is the sandbox's",
                             b->dst);
        r = plan_bind(p, b->src, b->dst, b->writable ? RW : RO, err, errlen);
        if (r < 0)
            return r;
    }

    /* /dev: a small tmpfs with the five harmless nodes bound from the host, no
     * tty, no pts, no shm device (POSIX shm goes to /tmp through the link). */
    /* /dev is a directory of the root tmpfs (read-only with it): one mount
     * fewer per run. Device binds need no flags: nothing there executes. */
    r = plan_add(p, (struct sbx_op){.kind = SBX_OP_MKDIR, .dst = "/dev"});
    /* The nodes are made, not bound: no mount per node. Only the keeper (real
     * root) can mknod; the root tmpfs allows devices for exactly these. */
    for (size_t i = 0; r == 0 && i < sizeof dev_nodes / sizeof *dev_nodes; i++) {
        char *dst = plan_fmt(p, "/dev/%s", dev_nodes[i].name);
        if (!dst)
            return -ENOMEM;
        r = plan_add(p,
                     (struct sbx_op){.kind = SBX_OP_MKNOD, .dst = dst, .flags = dev_nodes[i].dev});
    }
    static const char *const links[][2] = {{"/proc/self/fd", "/dev/fd"},
                                           {"/proc/self/fd/0", "/dev/stdin"},
                                           {"/proc/self/fd/1", "/dev/stdout"},
                                           {"/proc/self/fd/2", "/dev/stderr"},
                                           {"/tmp", "/dev/shm"}};
    for (size_t i = 0; r == 0 && i < sizeof links / sizeof *links; i++)
        r = plan_add(
            p, (struct sbx_op){.kind = SBX_OP_SYMLINK, .src = links[i][0], .dst = links[i][1]});

    /* /proc of the sandbox's PID namespace, host-revealing parts masked. The
     * mask sources are inside the new root (no /oldroot prefix). */
    if (r == 0)
        r = plan_add(p, (struct sbx_op){.kind = SBX_OP_MKDIR, .dst = "/proc"});
    if (r == 0)
        r = plan_add(p, (struct sbx_op){.kind = SBX_OP_PROC, .dst = "/proc"});
    for (size_t i = 0; r == 0 && i < sizeof proc_mask_files / sizeof *proc_mask_files; i++) {
        char *dst = plan_fmt(p, "/proc/%s", proc_mask_files[i]);
        if (!dst)
            return -ENOMEM;
        /* No flags: writes to a masked file land in /dev/null. */
        r = plan_add(p, (struct sbx_op){.kind = SBX_OP_BIND,
                                        .src = "/dev/null",
                                        .dst = dst,
                                        .attr = 0,
                                        .recursive = true /* optional: may not exist */});
    }
    if (r == 0)
        r = plan_add(p, (struct sbx_op){.kind = SBX_OP_MKDIR, .dst = "/.mask"});
    for (size_t i = 0; r == 0 && i < sizeof proc_mask_dirs / sizeof *proc_mask_dirs; i++) {
        char *dst = plan_fmt(p, "/proc/%s", proc_mask_dirs[i]);
        if (!dst)
            return -ENOMEM;
        /* No flags: .mask is on the root tmpfs, read-only with it at the end. */
        r = plan_add(p, (struct sbx_op){
                            .kind = SBX_OP_BIND, .src = "/.mask", .dst = dst, .recursive = true});
    }
    return r;
}

void sbx_plan_free(struct sbx_plan *p)
{
    for (size_t i = 0; i < p->n_str; i++)
        free(p->strings[i]);
    free(p->strings);
    free(p->ops);
    memset(p, 0, sizeof *p);
}

/*** Executing (keeper side: system calls only) ***/

__attribute__((no_sanitize_address)) static int setattr(const char *path, uint64_t attr,
                                                        bool recursive)
{
    struct mount_attr ma = {.attr_set = attr};
    if (syscall(SYS_mount_setattr, AT_FDCWD, path, recursive ? AT_RECURSIVE : 0, &ma, sizeof ma) <
        0)
        return -errno;
    return 0;
}

__attribute__((no_sanitize_address)) int sbx_plan_execute(const struct sbx_plan *p,
                                                          const char **failed)
{
    *failed = "making mounts private";
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return -errno;
    *failed = "root tmpfs";
    /* No MS_NODEV: /dev's nodes live here (nobody inside can make more). */
    if (mount("sandbox", BASE, "tmpfs", MS_NOSUID, "size=1m,nr_inodes=4096,mode=0755") < 0)
        return -errno;
    *failed = "pivot_root";
    if (chdir(BASE) < 0 || mkdir("oldroot", 0700) < 0)
        return -errno;
    if (syscall(SYS_pivot_root, ".", "oldroot") < 0)
        return -errno;
    if (chdir("/") < 0)
        return -errno;

    for (size_t i = 0; i < p->n; i++) {
        const struct sbx_op *op = &p->ops[i];
        *failed = op->dst;
        switch (op->kind) {
        case SBX_OP_MKDIR:
            if (mkdir(op->dst, 0755) < 0 && errno != EEXIST)
                return -errno;
            break;
        case SBX_OP_MKFILE: {
            int fd = open(op->dst, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0444);
            if (fd < 0 && errno != EEXIST)
                return -errno;
            if (fd >= 0)
                close(fd);
            break;
        }
        case SBX_OP_MKNOD:
            if (mknod(op->dst, S_IFCHR | 0666, (dev_t)op->flags) < 0 || chmod(op->dst, 0666) < 0)
                return -errno;
            break;
        case SBX_OP_SYMLINK:
            if (symlink(op->src, op->dst) < 0)
                return -errno;
            break;
        case SBX_OP_TMPFS:
            if (mount("tmpfs", op->dst, "tmpfs", op->flags, op->data) < 0)
                return -errno;
            break;
        case SBX_OP_BIND:
            /* .recursive on a bind marks an optional mask (the /proc file may
             * not exist on this kernel). */
            if (mount(op->src, op->dst, NULL, MS_BIND, NULL) < 0) {
                if (op->recursive && errno == ENOENT)
                    break;
                return -errno;
            }
            if (op->attr) {
                int r = setattr(op->dst, op->attr, false);
                if (r < 0)
                    return r;
            }
            break;
        case SBX_OP_PROC:
            /* hidepid=invisible: the keeper (PID 1, root) is not even listed,
             * so its command line — the supervisor's — stays unread. */
            if (mount("proc", op->dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      "hidepid=invisible") < 0)
                return -errno;
            break;
        case SBX_OP_SETATTR: {
            int r = setattr(op->dst, op->attr, op->recursive);
            if (r < 0)
                return r;
            break;
        }
        }
    }
    *failed = "detaching the old root";
    if (umount2("/oldroot", MNT_DETACH) < 0)
        return -errno;
    if (rmdir("/oldroot") < 0)
        return -errno;
    /* /.mask stays (empty, read-only): an unlinked directory still pinned by
     * the masks would make the read-only remount below fail with EBUSY. */
    /* Read-only superblock: the root and every bind of it (the /proc masks)
     * in one call. Device nodes stay usable on a read-only filesystem. */
    *failed = "read-only root";
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID, NULL) < 0)
        return -errno;
    return 0;
}
