/* nixrun.c — run one Nix command under time, memory and log-size limits.
 *
 * Why each piece is here:
 * - Its own session: nix-build forks helpers (and, as root without a daemon,
 *   the builders themselves); killing the process group reaches the ones that
 *   stay in it.
 * - A memory cgroup beneath our own: Nix's sandboxed builders call setsid and
 *   change uid, so only a cgroup reaches every process of a build, both to cap
 *   its memory and to kill it all at the deadline. Without a usable cgroup we
 *   fall back to RLIMIT_AS (which Nix's children inherit) and killpg.
 * - A pidfd: poll() wakes on exit, output and deadline alike, with no SIGCHLD
 *   handler in a library.
 * - Only the tail of stderr is kept: a runaway build log must not grow the
 *   builder (builder.log_bytes), and the end of a log is where the error is. */
#include "nixrun.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "../sandbox/sandbox.h"

extern char **environ;

static atomic_ulong exec_count;

unsigned long nixrun_exec_count(void)
{
    return atomic_load(&exec_count);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*** Memory cgroup ***/

typedef struct {
    char dir[512];
    bool v2;
    int procs_fd; /* open for the child to write "0" into before exec */
} nix_cgroup;

/* Our own memory cgroup directory (the sandbox library's discovery): the v1
 * "memory" hierarchy, else the v2 unified one when it offers controllers. */
static int own_memory_cgroup(char *dir, size_t len, bool *v2)
{
    int r = sandbox_cgroup_own_dir("memory", dir, len);
    if (r == 0 || r == -ENAMETOOLONG) {
        *v2 = false;
        return r;
    }
    r = sandbox_cgroup_own_dir(NULL, dir, len);
    if (r < 0)
        return r;
    char ctl[600];
    if ((size_t)snprintf(ctl, sizeof ctl, "%s/cgroup.controllers", dir) >= sizeof ctl ||
        access(ctl, F_OK) != 0)
        return -ENOENT;
    *v2 = true;
    return 0;
}

static int write_file(const char *path, const char *value)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = strlen(value);
    ssize_t w = write(fd, value, n);
    if (w < 0)
        return -errno;
    /* A short write sets no errno: -errno would read as success. */
    return (size_t)w == n ? 0 : -EIO;
}

static long long read_counter(const char *dir, const char *file, const char *field)
{
    char path[600], buf[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    if (!field)
        return atoll(buf);
    for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        size_t fl = strlen(field);
        if (!strncmp(l, field, fl) && l[fl] == ' ')
            return atoll(l + fl + 1);
    }
    return 0;
}

static void nix_cgroup_destroy(nix_cgroup *cg);

/* Kills and removes the cgroups of builder processes that died (SIGKILL)
 * while their Nix ran: their orphaned builds would otherwise run on and the
 * directories stay behind. Called before each new cgroup is made. */
int nixrun_reap_stale_cgroups(void)
{
    char own[400];
    bool v2;
    if (own_memory_cgroup(own, sizeof own, &v2) < 0)
        return 0;
    DIR *d = opendir(own);
    if (!d)
        return 0;
    int reaped = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int pid;
        unsigned n;
        if (sscanf(e->d_name, "farm-nix-%d-%u", &pid, &n) != 2 || pid == (int)getpid())
            continue;
        if (kill(pid, 0) == 0 || errno != ESRCH)
            continue; /* its owner lives: the build is in use */
        nix_cgroup cg = {.procs_fd = -1, .v2 = v2};
        if (snprintf(cg.dir, sizeof cg.dir, "%s/%.64s", own, e->d_name) >= (int)sizeof cg.dir)
            continue;
        nix_cgroup_destroy(&cg);
        reaped++;
    }
    closedir(d);
    return reaped;
}

/* Makes <own>/farm-nix-<pid>-<n> with the limit; 0 or -errno (then no cgroup). */
static int nix_cgroup_create(nix_cgroup *cg, int64_t memory_kib)
{
    static atomic_uint counter;
    char own[400];
    cg->procs_fd = -1;
    cg->dir[0] = 0;
    int r = own_memory_cgroup(own, sizeof own, &cg->v2);
    if (r < 0)
        return r;
    if ((size_t)snprintf(cg->dir, sizeof cg->dir, "%s/farm-nix-%d-%u", own, (int)getpid(),
                         atomic_fetch_add(&counter, 1)) >= sizeof cg->dir) {
        cg->dir[0] = 0;
        return -ENAMETOOLONG;
    }
    if (mkdir(cg->dir, 0755) < 0) {
        r = -errno;
        cg->dir[0] = 0;
        return r;
    }
    char path[600], val[32];
    snprintf(val, sizeof val, "%lld", (long long)memory_kib * 1024);
    snprintf(path, sizeof path, "%s/%s", cg->dir, cg->v2 ? "memory.max" : "memory.limit_in_bytes");
    r = write_file(path, val);
    if (r == 0 && cg->v2) {
        snprintf(path, sizeof path, "%s/memory.swap.max", cg->dir);
        (void)write_file(path, "0");
    }
    if (r == 0) {
        snprintf(path, sizeof path, "%s/cgroup.procs", cg->dir);
        cg->procs_fd = open(path, O_WRONLY | O_CLOEXEC);
        if (cg->procs_fd < 0)
            r = -errno;
    }
    if (r < 0) {
        rmdir(cg->dir);
        cg->dir[0] = 0;
    }
    return r;
}

/* SIGKILLs every process in the cgroup; returns how many were still there. */
static int nix_cgroup_kill(const nix_cgroup *cg)
{
    if (!cg->dir[0])
        return 0;
    char path[600];
    snprintf(path, sizeof path, "%s/cgroup.procs", cg->dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int n = 0, pid;
    while (fscanf(f, "%d", &pid) == 1) {
        kill(pid, SIGKILL);
        n++;
    }
    fclose(f);
    return n;
}

/* Kills what is left and removes the directory (the kernel refuses while a
 * process, even a dying one, is inside: retry for a few seconds). */
static void nix_cgroup_destroy(nix_cgroup *cg)
{
    if (cg->procs_fd >= 0)
        close(cg->procs_fd);
    cg->procs_fd = -1;
    if (!cg->dir[0])
        return;
    for (int i = 0; i < 500; i++) {
        nix_cgroup_kill(cg);
        if (rmdir(cg->dir) == 0 || errno == ENOENT)
            break;
        usleep(10000);
    }
    cg->dir[0] = 0;
}

static bool nix_cgroup_oom(const nix_cgroup *cg)
{
    if (!cg->dir[0])
        return false;
    if (cg->v2)
        return read_counter(cg->dir, "memory.events", "oom_kill") > 0;
    /* Not memory.failcnt: page cache of written outputs hits the limit too,
     * and is reclaimed without harm. */
    return read_counter(cg->dir, "memory.oom_control", "oom_kill") > 0;
}

/*** Output capture ***/

typedef struct {
    char *buf;
    size_t cap, head, total; /* ring of cap bytes; total ever written */
} tail_buf;

static void tail_put(tail_buf *t, const char *p, size_t n)
{
    t->total += n;
    if (n >= t->cap) {
        memcpy(t->buf, p + n - t->cap, t->cap);
        t->head = 0;
        return;
    }
    size_t first = t->cap - t->head < n ? t->cap - t->head : n;
    memcpy(t->buf + t->head, p, first);
    memcpy(t->buf, p + first, n - first);
    t->head = (t->head + n) % t->cap;
}

/* Linear copy of the tail; cut at a line start when the ring wrapped. */
static char *tail_take(const tail_buf *t, size_t *len, bool *truncated)
{
    size_t have = t->total < t->cap ? t->total : t->cap;
    size_t start = t->total < t->cap ? 0 : t->head;
    static const char mark[] = "[...]\n";
    char *out = malloc(have + sizeof mark);
    if (!out)
        return NULL;
    size_t o = 0, skip = 0;
    *truncated = t->total > t->cap;
    if (*truncated) {
        memcpy(out, mark, sizeof mark - 1);
        o = sizeof mark - 1;
        /* Drop the partial first line if a newline comes soon. */
        for (size_t i = 0; i < have && i < 512; i++) {
            if (t->buf[(start + i) % t->cap] == '\n') {
                skip = i + 1;
                break;
            }
        }
    }
    for (size_t i = skip; i < have; i++)
        out[o++] = t->buf[(start + i) % t->cap];
    out[o] = 0;
    *len = o;
    return out;
}

/*** Spawning ***/

static char *find_program(const char *name, const char *bin_dir)
{
    char path[4096];
    if (strchr(name, '/'))
        return access(name, X_OK) == 0 ? strdup(name) : NULL;
    if (bin_dir && bin_dir[0]) {
        snprintf(path, sizeof path, "%s/%s", bin_dir, name);
        return access(path, X_OK) == 0 ? strdup(path) : NULL;
    }
    const char *p = getenv("PATH");
    if (!p || !*p)
        p = "/usr/local/bin:/usr/bin:/bin";
    while (*p) {
        size_t n = strcspn(p, ":");
        snprintf(path, sizeof path, "%.*s/%s", (int)n, n ? p : ".", name);
        if (access(path, X_OK) == 0)
            return strdup(path);
        p += n;
        if (*p == ':')
            p++;
    }
    return NULL;
}

/* environ with NIX_CONF_DIR replaced; the strings belong to environ except the
 * one at *owned (free it together with the array). */
static char **make_env(const char *conf_dir, char **owned)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    if (!env)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (!conf_dir || strncmp(environ[i], "NIX_CONF_DIR=", 13))
            env[o++] = environ[i];
    *owned = NULL;
    if (conf_dir) {
        if (asprintf(owned, "NIX_CONF_DIR=%s", conf_dir) < 0) {
            free(env);
            return NULL;
        }
        env[o++] = *owned;
    }
    env[o] = NULL;
    return env;
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void __attribute__((noreturn))
child_exec(const char *prog, char *const argv[], char *const envp[], int out_w, int err_w,
           int errpipe_w, int procs_fd, int64_t rlimit_as_kib, pid_t parent)
{
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
    setsid();
    /* A builder killed with SIGKILL takes its Nix down with it (the cgroup
     * reaper gets the sandboxed builders that escape this). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        goto fail;
    if (procs_fd >= 0 && write(procs_fd, "0", 1) != 1)
        goto fail;
    if (rlimit_as_kib > 0) {
        struct rlimit rl = {(rlim_t)rlimit_as_kib * 1024, (rlim_t)rlimit_as_kib * 1024};
        if (setrlimit(RLIMIT_AS, &rl) < 0)
            goto fail;
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
        goto fail;
    execve(prog, argv, envp);
fail:;
    int e = errno;
    ssize_t w = write(errpipe_w, &e, sizeof e);
    (void)w;
    _exit(127);
}

void nixrun_result_done(nixrun_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->log);
    memset(r, 0, sizeof *r);
}

int nixrun(const nixrun_opts *o, nixrun_result *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    size_t log_cap = o->log_bytes ? o->log_bytes : 65536;
    size_t out_max = o->out_max ? o->out_max : 1 << 20;

    _cleanup_free_ char *prog = find_program(o->argv[0], o->bin_dir);
    if (!prog) {
        errbuf_set(err, errlen, "%s not found in %s", o->argv[0],
                   o->bin_dir && o->bin_dir[0] ? o->bin_dir : "PATH");
        return -ENOENT;
    }
    _cleanup_free_ char *env_owned = NULL;
    _cleanup_free_ char **envp = make_env(o->conf_dir, &env_owned);
    _cleanup_free_ char *tail_mem = malloc(log_cap);
    size_t out_cap = 4096;
    _cleanup_free_ char *out = malloc(out_cap + 1);
    if (!envp || !tail_mem || !out)
        return -ENOMEM;
    tail_buf tail = {.buf = tail_mem, .cap = log_cap};
    size_t out_len = 0;

    nix_cgroup cg = {.procs_fd = -1};
    int64_t rlimit_kib = 0;
    nixrun_reap_stale_cgroups();
    if (o->memory_kib > 0 && nix_cgroup_create(&cg, o->memory_kib) < 0)
        rlimit_kib = o->memory_kib;

    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, ep[2] = {-1, -1};
    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
        int e = -errno;
        for (int i = 0; i < 2; i++) {
            if (outp[i] >= 0)
                close(outp[i]);
            if (errp[i] >= 0)
                close(errp[i]);
            if (ep[i] >= 0)
                close(ep[i]);
        }
        nix_cgroup_destroy(&cg);
        errbuf_set(err, errlen, "pipe: %s", strerror(-e));
        return e;
    }

    int64_t t0 = mono_ms();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        child_exec(prog, (char *const *)o->argv, envp, outp[1], errp[1], ep[1], cg.procs_fd,
                   rlimit_kib, parent);
    int fork_errno = errno;
    close(outp[1]);
    close(errp[1]);
    close(ep[1]);
    _cleanup_close_ int out_fd = outp[0];
    _cleanup_close_ int err_fd = errp[0];
    _cleanup_close_ int ep_fd = ep[0];
    if (pid < 0) {
        nix_cgroup_destroy(&cg);
        errbuf_set(err, errlen, "fork: %s", strerror(fork_errno));
        return -fork_errno;
    }
    atomic_fetch_add(&exec_count, 1);

    int child_errno = 0;
    ssize_t n;
    while ((n = read(ep_fd, &child_errno, sizeof child_errno)) < 0 && errno == EINTR)
        ;
    if (n == sizeof child_errno) {
        waitpid(pid, NULL, 0);
        nix_cgroup_destroy(&cg);
        errbuf_set(err, errlen, "cannot run %s: %s", prog, strerror(child_errno));
        return -child_errno;
    }

    _cleanup_close_ int pidfd = pidfd_open(pid, 0);
    int64_t deadline = o->timeout_ms > 0 ? t0 + o->timeout_ms : 0;
    int64_t next_tick = o->tick && o->tick_ms > 0 ? t0 + o->tick_ms : 0;
    int64_t drain_until = 0;
    bool reaped = false, killed = false;
    int ret = 0, status = 0;

    for (;;) {
        if (reaped && (out_fd < 0 && err_fd < 0))
            break;
        int64_t now = mono_ms();
        if (reaped && now >= drain_until)
            break; /* a leftover holds our pipes: stop reading them */
        if (!killed) {
            int why = 0;
            if (o->stop && *o->stop)
                why = -EINTR;
            else if (deadline && now >= deadline)
                r->timed_out = true;
            else if (next_tick && now >= next_tick) {
                why = o->tick(o->tick_arg);
                next_tick = now + o->tick_ms;
            }
            if (why || r->timed_out) {
                ret = why;
                killed = true;
                kill(-pid, SIGKILL);
                nix_cgroup_kill(&cg);
            }
        }
        /* Without a pidfd (kernels before 5.3) exits are found by polling. */
        int wait_ms = pidfd >= 0 ? 200 : 10;
        if (reaped)
            wait_ms = (int)(drain_until - now);
        else {
            if (deadline && !killed && deadline - now < wait_ms)
                wait_ms = (int)(deadline - now);
            if (next_tick && !killed && next_tick - now < wait_ms)
                wait_ms = (int)(next_tick - now);
        }
        if (wait_ms < 0)
            wait_ms = 0;
        struct pollfd pf[3];
        int np = 0, i_out = -1, i_err = -1, i_pid = -1;
        if (out_fd >= 0) {
            i_out = np;
            pf[np++] = (struct pollfd){.fd = out_fd, .events = POLLIN};
        }
        if (err_fd >= 0) {
            i_err = np;
            pf[np++] = (struct pollfd){.fd = err_fd, .events = POLLIN};
        }
        if (!reaped && pidfd >= 0) {
            i_pid = np;
            pf[np++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        }
        int pr = poll(pf, np, wait_ms);
        if (pr < 0 && errno != EINTR) {
            ret = -errno;
            errbuf_set(err, errlen, "poll: %s", strerror(errno));
            kill(-pid, SIGKILL);
            nix_cgroup_kill(&cg);
            killed = true;
            pr = 0;
        }
        if (pr <= 0 && !(pidfd < 0 && !reaped))
            continue;
        char buf[65536];
        if (i_out >= 0 && pf[i_out].revents) {
            n = read(out_fd, buf, sizeof buf);
            if (n > 0) {
                size_t keep = out_len + (size_t)n > out_max ? out_max - out_len : (size_t)n;
                if (out_len + keep > out_cap) {
                    size_t nc = out_cap;
                    while (nc < out_len + keep)
                        nc *= 2;
                    char *t = realloc(out, nc + 1);
                    if (t) {
                        out = t;
                        out_cap = nc;
                    } else
                        keep = out_cap - out_len;
                }
                memcpy(out + out_len, buf, keep);
                out_len += keep;
            } else if (n == 0 || errno != EINTR) {
                close(steal_fd(&out_fd));
            }
        }
        if (i_err >= 0 && pf[i_err].revents) {
            n = read(err_fd, buf, sizeof buf);
            if (n > 0)
                tail_put(&tail, buf, (size_t)n);
            else if (n == 0 || errno != EINTR)
                close(steal_fd(&err_fd));
        }
        if ((i_pid >= 0 && pf[i_pid].revents) || (pidfd < 0 && !reaped)) {
            pid_t w = waitpid(pid, &status, pidfd < 0 ? WNOHANG : 0);
            if (w == pid) {
                reaped = true;
                /* Helpers that outlived the command die with it. */
                kill(-pid, SIGKILL);
                nix_cgroup_kill(&cg);
                drain_until = mono_ms() + 1000;
            } else if (pidfd < 0) {
                usleep(10000);
            }
        }
    }
    if (!reaped)
        waitpid(pid, &status, 0);

    r->wall_ms = mono_ms() - t0;
    r->memory_limited = nix_cgroup_oom(&cg);
    nix_cgroup_destroy(&cg);
    r->status = status;
    out[out_len] = 0;
    r->out = steal_pointer(&out);
    r->out_len = out_len;
    r->log = tail_take(&tail, &r->log_len, &r->log_truncated);
    if (!r->log)
        return -ENOMEM;
    if (ret == -EINTR)
        errbuf_set(err, errlen, "stopped while %s was running", o->argv[0]);
    return ret;
}

void nixrun_describe(const nixrun_opts *o, const nixrun_result *r, char *buf, size_t len)
{
    if (r->timed_out)
        snprintf(buf, len, "%s was killed at the time limit of %lld ms", o->argv[0],
                 (long long)o->timeout_ms);
    else if (r->memory_limited)
        snprintf(buf, len, "%s ran out of its memory limit of %lld KiB", o->argv[0],
                 (long long)o->memory_kib);
    else if (WIFEXITED(r->status))
        snprintf(buf, len, "%s exited with status %d", o->argv[0], WEXITSTATUS(r->status));
    else if (WIFSIGNALED(r->status))
        snprintf(buf, len, "%s was killed by signal %s", o->argv[0],
                 sigabbrev_np(WTERMSIG(r->status)) ? sigabbrev_np(WTERMSIG(r->status)) : "?");
    else
        snprintf(buf, len, "%s ended with wait status %d", o->argv[0], r->status);
}
