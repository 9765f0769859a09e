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
#include "../common/monotime.h"

extern char **environ;

static atomic_ulong exec_count;

unsigned long nixrun_exec_count(void)
{
    return atomic_load(&exec_count);
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

/* The pipes of one run: the child's stdout, its stderr, and the pipe its
 * exec failure comes back on. Closed by nixrun_pipes_close (a cleanup
 * attribute), so every way out of nixrun unwinds them. */
typedef struct {
    int out[2], err[2], ep[2];
} nixrun_pipes;

static void nixrun_pipes_close(nixrun_pipes *p)
{
    int *all[] = {&p->out[0], &p->out[1], &p->err[0], &p->err[1], &p->ep[0], &p->ep[1]};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        cleanup_closep(all[i]);
        *all[i] = -1;
    }
}

/* One running command as the poll loop sees it. */
typedef struct {
    const nixrun_opts *o;
    pid_t pid;
    int pidfd;            /* -1 before Linux 5.3: exits are found by polling */
    int *out_fd, *err_fd; /* read ends; -1 once at EOF */
    nix_cgroup *cg;
    char *out; /* stdout, up to out_max bytes */
    size_t out_len, out_cap, out_max;
    tail_buf *tail; /* the end of stderr */
    int64_t deadline, next_tick, drain_until;
    bool reaped, killed;
    int status;
} nixrun_watch;

static void nixrun_kill(nixrun_watch *w)
{
    kill(-w->pid, SIGKILL);
    nix_cgroup_kill(w->cg);
    w->killed = true;
}

/* Stops the command for the caller's stop flag, its deadline or the tick's
 * answer. The reason (-EINTR, the tick's <0), or 0. */
static int nixrun_check_stop(nixrun_watch *w, nixrun_result *r, int64_t now)
{
    int why = 0;
    if (w->killed)
        return 0;
    if (w->o->stop && *w->o->stop)
        why = -EINTR;
    else if (w->deadline && now >= w->deadline)
        r->timed_out = true;
    else if (w->next_tick && now >= w->next_tick) {
        why = w->o->tick(w->o->tick_arg);
        w->next_tick = now + w->o->tick_ms;
    }
    if (why || r->timed_out)
        nixrun_kill(w);
    return why;
}

/* How long poll may wait: until the deadline, the next tick, or the end of
 * the drain after the command was reaped. */
static int nixrun_wait_ms(const nixrun_watch *w, int64_t now)
{
    int wait_ms = w->pidfd >= 0 ? 200 : 10;
    if (w->reaped)
        wait_ms = (int)(w->drain_until - now);
    else {
        if (w->deadline && !w->killed && w->deadline - now < wait_ms)
            wait_ms = (int)(w->deadline - now);
        if (w->next_tick && !w->killed && w->next_tick - now < wait_ms)
            wait_ms = (int)(w->next_tick - now);
    }
    return wait_ms < 0 ? 0 : wait_ms;
}

/* Keeps n more bytes of stdout, up to out_max; what does not fit is dropped. */
static void nixrun_out_append(nixrun_watch *w, const char *buf, size_t n)
{
    size_t keep = w->out_len + n > w->out_max ? w->out_max - w->out_len : n;
    if (w->out_len + keep > w->out_cap) {
        size_t nc = w->out_cap;
        while (nc < w->out_len + keep)
            nc *= 2;
        char *t = realloc(w->out, nc + 1);
        if (t) {
            w->out = t;
            w->out_cap = nc;
        } else
            keep = w->out_cap - w->out_len;
    }
    memcpy(w->out + w->out_len, buf, keep);
    w->out_len += keep;
}

/* Reads what one pipe holds into stdout or the stderr tail; closes it at
 * EOF or on an error. */
static void nixrun_read(nixrun_watch *w, int *fd, bool is_out)
{
    char buf[65536];
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n > 0) {
        if (is_out)
            nixrun_out_append(w, buf, (size_t)n);
        else
            tail_put(w->tail, buf, (size_t)n);
    } else if (n == 0 || errno != EINTR) {
        close(steal_fd(fd));
    }
}

/* The command ended (or, without a pidfd, may have): reap it, kill what
 * outlived it, and drain the pipes for at most a second more. */
static void nixrun_reap(nixrun_watch *w)
{
    pid_t got = waitpid(w->pid, &w->status, w->pidfd < 0 ? WNOHANG : 0);
    if (got == w->pid) {
        w->reaped = true;
        /* Helpers that outlived the command die with it. */
        kill(-w->pid, SIGKILL);
        nix_cgroup_kill(w->cg);
        w->drain_until = monotime_ms() + 1000;
    } else if (w->pidfd < 0) {
        usleep(10000);
    }
}

/* The poll loop: output in, limits and the stop flag checked, until the
 * command is reaped and its pipes are drained (or a leftover holds them past
 * the drain). 0, or the reason the run was stopped (err says so for poll). */
static int nixrun_watch_loop(nixrun_watch *w, nixrun_result *r, char *err, size_t errlen)
{
    int ret = 0;
    for (;;) {
        if (w->reaped && (*w->out_fd < 0 && *w->err_fd < 0))
            break;
        int64_t now = monotime_ms();
        if (w->reaped && now >= w->drain_until)
            break; /* a leftover holds our pipes: stop reading them */
        int why = nixrun_check_stop(w, r, now);
        if (why)
            ret = why;
        struct pollfd pf[3];
        int np = 0, i_out = -1, i_err = -1, i_pid = -1;
        if (*w->out_fd >= 0) {
            i_out = np;
            pf[np++] = (struct pollfd){.fd = *w->out_fd, .events = POLLIN};
        }
        if (*w->err_fd >= 0) {
            i_err = np;
            pf[np++] = (struct pollfd){.fd = *w->err_fd, .events = POLLIN};
        }
        if (!w->reaped && w->pidfd >= 0) {
            i_pid = np;
            pf[np++] = (struct pollfd){.fd = w->pidfd, .events = POLLIN};
        }
        int pr = poll(pf, np, nixrun_wait_ms(w, now));
        if (pr < 0 && errno != EINTR) {
            ret = -errno;
            errbuf_set(err, errlen, "poll: %s", strerror(errno));
            nixrun_kill(w);
            pr = 0;
        }
        if (pr <= 0 && !(w->pidfd < 0 && !w->reaped))
            continue;
        if (i_out >= 0 && pf[i_out].revents)
            nixrun_read(w, w->out_fd, true);
        if (i_err >= 0 && pf[i_err].revents)
            nixrun_read(w, w->err_fd, false);
        if ((i_pid >= 0 && pf[i_pid].revents) || (w->pidfd < 0 && !w->reaped))
            nixrun_reap(w);
    }
    if (!w->reaped)
        waitpid(w->pid, &w->status, 0);
    return ret;
}

int nixrun(const nixrun_opts *o, nixrun_result *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    size_t log_cap = o->log_bytes ? o->log_bytes : 65536;

    _cleanup_free_ char *prog = find_program(o->argv[0], o->bin_dir);
    if (!prog) {
        errbuf_set(err, errlen, "%s not found in %s", o->argv[0],
                   o->bin_dir && o->bin_dir[0] ? o->bin_dir : "PATH");
        return -ENOENT;
    }
    _cleanup_free_ char *env_owned = NULL;
    _cleanup_free_ char **envp = make_env(o->conf_dir, &env_owned);
    _cleanup_free_ char *tail_mem = malloc(log_cap);
    _cleanup_free_ char *out = malloc(4096 + 1);
    if (!envp || !tail_mem || !out)
        return -ENOMEM;
    tail_buf tail = {.buf = tail_mem, .cap = log_cap};

    nix_cgroup cg = {.procs_fd = -1};
    int64_t rlimit_kib = 0;
    nixrun_reap_stale_cgroups();
    if (o->memory_kib > 0 && nix_cgroup_create(&cg, o->memory_kib) < 0)
        rlimit_kib = o->memory_kib;

    _cleanup_(nixrun_pipes_close) nixrun_pipes pp = {{-1, -1}, {-1, -1}, {-1, -1}};
    if (pipe2(pp.out, O_CLOEXEC) < 0 || pipe2(pp.err, O_CLOEXEC) < 0 ||
        pipe2(pp.ep, O_CLOEXEC) < 0) {
        int e = -errno;
        nix_cgroup_destroy(&cg);
        errbuf_set(err, errlen, "pipe: %s", strerror(-e));
        return e;
    }

    int64_t t0 = monotime_ms();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        child_exec(prog, (char *const *)o->argv, envp, pp.out[1], pp.err[1], pp.ep[1], cg.procs_fd,
                   rlimit_kib, parent);
    int fork_errno = errno;
    close(steal_fd(&pp.out[1]));
    close(steal_fd(&pp.err[1]));
    close(steal_fd(&pp.ep[1]));
    if (pid < 0) {
        nix_cgroup_destroy(&cg);
        errbuf_set(err, errlen, "fork: %s", strerror(fork_errno));
        return -fork_errno;
    }
    atomic_fetch_add(&exec_count, 1);

    int child_errno = 0;
    ssize_t n;
    while ((n = read(pp.ep[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR)
        ;
    if (n == sizeof child_errno) {
        waitpid(pid, NULL, 0);
        nix_cgroup_destroy(&cg);
        errbuf_set(err, errlen, "cannot run %s: %s", prog, strerror(child_errno));
        return -child_errno;
    }

    _cleanup_close_ int pidfd = pidfd_open(pid, 0);
    nixrun_watch w = {.o = o,
                      .pid = pid,
                      .pidfd = pidfd,
                      .out_fd = &pp.out[0],
                      .err_fd = &pp.err[0],
                      .cg = &cg,
                      .out = steal_pointer(&out),
                      .out_cap = 4096,
                      .out_max = o->out_max ? o->out_max : 1 << 20,
                      .tail = &tail,
                      .deadline = o->timeout_ms > 0 ? t0 + o->timeout_ms : 0,
                      .next_tick = o->tick && o->tick_ms > 0 ? t0 + o->tick_ms : 0};
    int ret = nixrun_watch_loop(&w, r, err, errlen);

    r->wall_ms = monotime_ms() - t0;
    r->memory_limited = nix_cgroup_oom(&cg);
    nix_cgroup_destroy(&cg);
    r->status = w.status;
    w.out[w.out_len] = 0;
    r->out = w.out;
    r->out_len = w.out_len;
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
