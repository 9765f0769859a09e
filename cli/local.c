/* local.c — local sandboxed runs for `farm run` and `farm ci` (see local.h). */
#include "local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../builder/builder.h"
#include "../common/cleanup.h"
#include "../common/cmdargv.h"
#include "../common/fsutil.h"
#include "../common/store.h"

#define LOCAL_MAX_ENV 128

char *local_state_dir(const char *flag)
{
    char *p = NULL;
    const char *env = getenv("FARM_STATE_DIR");
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    if (flag && *flag)
        p = strdup(flag);
    else if (env && *env)
        p = strdup(env);
    else if (xdg && *xdg)
        (void)!asprintf(&p, "%s/nixfarm", xdg);
    else if (home && *home)
        (void)!asprintf(&p, "%s/.local/state/nixfarm", home);
    else
        p = strdup("./var/nixfarm");
    return p;
}

/* ---- interrupts ---------------------------------------------------------------- */

static volatile sig_atomic_t local_signal;

/* Kills every child of every thread of this process: the sandbox keepers
 * (PID 1 of their namespaces, children of the pool's slot thread) and any Nix
 * build. Their ends make sandbox_run and the builder return at once, so the
 * main thread can remove its box and cgroups before exiting. */
static void local_kill_children(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *t;
    while ((t = readdir(d))) {
        if (t->d_name[0] == '.')
            continue;
        char path[320], buf[4096];
        snprintf(path, sizeof path, "/proc/self/task/%s/children", t->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        for (char *p = buf, *end; *p; p = end) {
            long pid = strtol(p, &end, 10);
            if (end == p)
                break;
            if (pid > 1)
                kill((pid_t)pid, SIGKILL);
        }
    }
    closedir(d);
}

static void *local_signal_thread(void *arg)
{
    sigset_t *set = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0)
            continue;
        local_signal = sig;
        local_kill_children();
    }
    return NULL;
}

/* Ctrl-C, SIGTERM and SIGHUP are taken by one thread (blocked everywhere
 * else, before the sandbox pool's threads exist): it records the signal and
 * kills our children, and the main thread cleans up and exits 128+N. The
 * sandboxed program and Nix reset their signal masks, so they see nothing of
 * this. */
static void local_guard_signals(void)
{
    static sigset_t set;
    static bool started;
    if (started)
        return;
    started = true;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t th;
    if (pthread_create(&th, NULL, local_signal_thread, &set) == 0)
        pthread_detach(th);
}

int local_interrupted(void)
{
    return local_signal;
}

int local_env_open(local_env *e, const char *state_dir, const char *package_set, json_t *packages,
                   bool verbose, char *err, size_t errlen)
{
    memset(e, 0, sizeof *e);
    local_guard_signals();
    int r = config_new_default(&e->cfg, err, errlen);
    if (r < 0)
        return r;
    if ((r = config_set(e->cfg, "state_dir", state_dir, err, errlen)) < 0)
        return r;
    if ((r = fsutil_mkdir_p(state_dir, 0755)) < 0) {
        snprintf(err, errlen, "cannot create the state directory %s: %s", state_dir, strerror(-r));
        return r;
    }
    if (verbose)
        fprintf(stderr, "farm: realising packages in %s...\n", state_dir);
    /* Our connection stays open until local_env_close, so the builder's own
     * open/close in between is not the last one and does not checkpoint the
     * WAL (an fdatasync each): one checkpoint per run instead of three. */
    if ((r = store_open_config(e->cfg, &e->st, err, errlen)) < 0)
        return r;
    r = builder_realise_local_set(e->cfg, package_set, packages, &e->depset, err, errlen);
    if (r < 0)
        return r;
    const char *key = json_string_value(json_object_get(e->depset, "key"));
    const char *envp = json_string_value(json_object_get(e->depset, "env_path"));
    json_t *closure = json_object_get(e->depset, "closure");
    if (!key || !json_is_array(closure)) {
        snprintf(err, errlen, "the dependency set has no closure");
        return -EPROTO;
    }
    snprintf(e->key, sizeof e->key, "%s", key);
    if (envp)
        snprintf(e->bin_dir, sizeof e->bin_dir, "%s", envp);
    else
        snprintf(e->bin_dir, sizeof e->bin_dir, "%s/bin",
                 json_string_value(json_array_get(json_object_get(e->depset, "out_paths"), 0))
                     ?: "/nonexistent");
    size_t n = json_array_size(closure);
    e->store_paths = calloc(n + 1, sizeof *e->store_paths);
    if (!e->store_paths)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        e->store_paths[i] = json_string_value(json_array_get(closure, i));

    /* Hold the set while we use it, so a farmd's quota does not evict it. */
    e->held = store_depset_hold(e->st, e->key) >= 0;

    struct sandbox_pool_options o;
    sandbox_pool_options_init(&o);
    o.slots = 1;
    /* Concurrent local runs get distinct uids, apart from farmd's workers. */
    o.first_uid = (uid_t)(config_int(e->cfg, "cli.sandbox_first_uid") + getpid() % 1000);
    r = sandbox_pool_new(&o, &e->pool, err, errlen);
    if (r < 0)
        return r;
    e->host_busybox = cmdargv_host_has_busybox();
    return 0;
}

void local_env_close(local_env *e)
{
    if (e->held && e->st)
        store_depset_release(e->st, e->key);
    if (e->st)
        store_close(e->st);
    sandbox_pool_free(e->pool);
    free(e->store_paths);
    json_decref(e->depset);
    config_free(e->cfg);
    memset(e, 0, sizeof *e);
}

/* ---- boxes ------------------------------------------------------------------ */

static int local_copy_file(int sfd, int dfd, const char *name, mode_t mode)
{
    _cleanup_close_ int in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return -errno;
    _cleanup_close_ int out =
        openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0777);
    if (out < 0)
        return -errno;
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return 0;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return -errno; /* ENOSPC: the box is full */
            }
            off += w;
        }
    }
}

/* Copies the tree at sfd into dfd. box is the box's root: a state directory
 * inside the tree being copied holds it, and copying it into itself would
 * never end. */
static int local_copy_tree(int sfd, int dfd, const struct stat *box, char *err, size_t errlen,
                           const char *where)
{
    int fd2 = dup(sfd);
    if (fd2 < 0)
        return -errno;
    DIR *d = fdopendir(fd2);
    if (!d) {
        close(fd2);
        return -errno;
    }
    int r = 0;
    struct dirent *ent;
    while (r >= 0 && (ent = readdir(d))) {
        const char *n = ent->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, ".git") == 0)
            continue;
        struct stat sb;
        if (fstatat(sfd, n, &sb, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(sb.st_mode) && sb.st_dev == box->st_dev && sb.st_ino == box->st_ino)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            if (mkdirat(dfd, n, sb.st_mode & 0777) < 0 && errno != EEXIST) {
                r = -errno;
                break;
            }
            _cleanup_close_ int s2 =
                openat(sfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            _cleanup_close_ int d2 =
                openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (s2 < 0 || d2 < 0) {
                r = -errno;
                break;
            }
            r = local_copy_tree(s2, d2, box, err, errlen, n);
        } else if (S_ISREG(sb.st_mode)) {
            r = local_copy_file(sfd, dfd, n, sb.st_mode);
        } else if (S_ISLNK(sb.st_mode)) {
            char target[PATH_MAX];
            ssize_t k = readlinkat(sfd, n, target, sizeof target - 1);
            if (k >= 0) {
                target[k] = '\0';
                if (symlinkat(target, dfd, n) < 0)
                    r = -errno;
            }
        }
        if (r < 0)
            snprintf(err, errlen, "copying %s/%s into the box: %s", where, n,
                     r == -ENOSPC ? "the box is full (see --box-size)" : strerror(-r));
    }
    closedir(d);
    return r;
}

/* A zombie (killed, not yet reaped by its parent) counts as dead. */
static bool local_pid_alive(int pid)
{
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return false;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return !(paren && paren[1] == ' ' && paren[2] == 'Z');
}

/* Boxes of local runs that died (Ctrl-C, kill -9) are still mounted: remove
 * those whose process is gone, and their sandbox cgroups. Boxes of runs still
 * going (other pids) are left alone. */
static void local_clean_stale(const char *root)
{
    static bool done;
    if (done)
        return;
    done = true;
    char err[256];
    sandbox_cleanup_stale(NULL, err, sizeof err);
    DIR *d = opendir(root);
    if (!d)
        return;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        int pid = 0;
        if (sscanf(ent->d_name, "local-%d-", &pid) != 1 || pid <= 0 || pid == (int)getpid())
            continue;
        if (local_pid_alive(pid))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", root, ent->d_name);
        sandbox_box_destroy(path, err, sizeof err);
    }
    closedir(d);
}

int local_box_new(local_env *e, const char *src_dir, uint64_t bytes, char *path, size_t pathlen,
                  char *err, size_t errlen)
{
    static unsigned seq;
    _cleanup_free_ char *root = config_state_path(e->cfg, "boxes");
    if (!root)
        return -ENOMEM;
    int r = fsutil_mkdir_p(root, 0755);
    if (r < 0) {
        snprintf(err, errlen, "cannot create %s: %s", root, strerror(-r));
        return r;
    }
    local_clean_stale(root);
    snprintf(path, pathlen, "%s/local-%d-%u", root, (int)getpid(), seq++);
    r = sandbox_box_create(path, bytes, err, errlen);
    if (r < 0)
        return r;
    if (!src_dir)
        return 0;
    _cleanup_close_ int sfd = open(src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0 || dfd < 0) {
        r = -errno;
        snprintf(err, errlen, "opening %s: %s", sfd < 0 ? src_dir : path, strerror(errno));
        local_box_destroy(path);
        return r;
    }
    struct stat box;
    if (fstat(dfd, &box) < 0) {
        r = -errno;
        snprintf(err, errlen, "stat %s: %s", path, strerror(errno));
        local_box_destroy(path);
        return r;
    }
    r = local_copy_tree(sfd, dfd, &box, err, errlen, ".");
    if (r < 0)
        local_box_destroy(path);
    return r;
}

void local_box_destroy(const char *path)
{
    char err[256];
    sandbox_box_destroy(path, err, sizeof err);
}

/* ---- running ------------------------------------------------------------------ */

void local_limits_from_json(struct sandbox_limits *l, const json_t *o)
{
    struct {
        const char *key;
        uint64_t *u64;
        uint32_t *u32;
    } map[] = {
        {"cpu_ms", &l->cpu_ms, NULL},
        {"wall_ms", &l->wall_ms, NULL},
        {"memory_kib", &l->memory_kib, NULL},
        {"processes", NULL, &l->processes},
        {"output_bytes", &l->output_bytes, NULL},
        {"file_bytes", &l->file_bytes, NULL},
        {"open_files", NULL, &l->open_files},
        {"stack_kib", &l->stack_kib, NULL},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        json_t *v = json_object_get(o, map[i].key);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            continue;
        if (map[i].u64)
            *map[i].u64 = (uint64_t)json_integer_value(v);
        else
            *map[i].u32 = (uint32_t)json_integer_value(v);
    }
}

int local_run(local_env *e, const local_cmd *cmd, struct sandbox_result *res, char *err,
              size_t errlen)
{
    _cleanup_(cmdargv_done) cmdargv a = {.n = 0};
    int r;
    memset(res, 0, sizeof *res);

    if (cmd->shell_cmd) {
        r = cmdargv_shell(&a, e->bin_dir, e->host_busybox, cmd->shell_cmd);
        if (r == -ENOENT)
            snprintf(err, errlen, "no shell in the package set (add bash) and no %s",
                     CMDARGV_HOST_BUSYBOX);
    } else {
        r = cmdargv_from_words(&a, e->bin_dir, e->host_busybox, cmd->argv, err, errlen);
    }
    if (r < 0) {
        if (r != -ENOENT)
            snprintf(err, errlen, "cannot build the command: %s", strerror(-r));
        return r;
    }

    char path_env[PATH_MAX + 8];
    snprintf(path_env, sizeof path_env, "PATH=%s", e->bin_dir);
    const char *env[LOCAL_MAX_ENV + 8];
    size_t ne = 0;
    env[ne++] = path_env;
    env[ne++] = "HOME=/tmp";
    env[ne++] = "TMPDIR=/tmp";
    env[ne++] = "LANG=C.UTF-8";
    for (size_t i = 0; cmd->extra_env && cmd->extra_env[i] && ne < LOCAL_MAX_ENV; i++)
        env[ne++] = cmd->extra_env[i];
    env[ne] = NULL;

    struct sandbox_config c;
    sandbox_config_init(&c);
    c.argv = a.argv;
    c.env = env;
    c.cwd = "/box";
    c.store_paths = e->store_paths;
    c.box_dir = cmd->box;
    c.box_readonly = cmd->box_readonly;
    struct sandbox_bind bind = {.src = CMDARGV_HOST_BUSYBOX, .dst = CMDARGV_SHELL_INSIDE};
    if (a.host_shell) {
        c.binds = &bind;
        c.n_binds = 1;
    }
    if (cmd->stdin_inherit) {
        c.stdin_kind = SANDBOX_STDIN_FD;
        c.stdin_fd = STDIN_FILENO;
    } else if (cmd->stdin_buf) {
        c.stdin_kind = SANDBOX_STDIN_BUFFER;
        c.stdin_buf = cmd->stdin_buf;
        c.stdin_len = cmd->stdin_len;
    }
    c.limits = cmd->limits;
    if (cmd->stream) {
        c.stream = true;
        c.stream_stdout_fd = cmd->stream_stdout_fd;
        c.stream_stderr_fd = cmd->stream_stderr_fd;
    }
    return sandbox_run(e->pool, 0, &c, res, err, errlen);
}
