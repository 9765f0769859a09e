/* run.c — one run: supervisor, keeper and target (see sandbox.h for the
 * picture).
 *
 * Supervisor (caller's thread): builds the mount plan, resets the slot's
 * cgroups, has the slot's thread (which lives in the slot's network namespace
 * and cgroups) clone3 the keeper with new PID, mount, IPC, UTS and cgroup
 * namespaces, then polls the output pipes, the report pipe, a timerfd (wall
 * time, and periodic CPU checks against the cgroup) and the keeper's pidfd. A
 * limit hit → SIGKILL to the keeper; as PID 1 of the namespace its death takes
 * every other process of the sandbox with it.
 *
 * Keeper (PID 1, real root, only system calls — it is a raw clone of a possibly
 * multithreaded process, so no malloc, no stdio, no glibc fork): executes the
 * mount plan, pivots, starts the target with clone(CLONE_VM|CLONE_VFORK),
 * closes all but the report pipe, reaps until the target ends, reports its
 * wait status and exits.
 *
 * Target: default signals, new session, stdio, rlimits, then drops to the
 * slot's host uid, makes a user namespace mapping uid/gid 1000 to it (so the
 * sandbox owns no namespace but that one), drops every capability, sets
 * no_new_privs, loads the filter and execs. Errors before exec travel through
 * the close-on-exec report pipe; an exec failure is the program's (exit 127).
 *
 * "The program failed" (a verdict) and "we failed" (internal error) stay
 * apart: sandbox_run returns <0 only for the latter. */
#include "internal.h"
#include "util.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#define INSIDE_ID 1000
#define UNLIMITED_CAPTURE (64ull << 20)
/* After a kill, how often it is repeated until the keeper is reported gone. */
#define KILL_RETRY_NS 100000000ull

enum report_kind { REP_SETUP_ERROR = 1, REP_EXEC_ERROR, REP_TARGET_STEPS, REP_DONE };

/* One write each, smaller than PIPE_BUF, so never interleaved. */
struct report {
    int kind;
    int err;
    int status;
    uint64_t t_fork, t_end;
    uint64_t cpu_us, maxrss_kib;
    uint64_t step_ns[SANDBOX_STEP_COUNT];
    char what[160];
};

/* Everything the keeper and target need, prepared by the supervisor. */
struct run_ctx {
    const struct sandbox_config *cfg;
    const struct sbx_plan *plan;
    const struct sbx_filter *filter;
    struct sbx_cgroup *cg;
    uid_t uid;
    gid_t gid;
    int stdin_fd, stdout_w, stderr_w, report_w;
    const char *cwd;
    const char *hostname;
    char *const *envp;
    char uid_map[64], gid_map[64];
    uint64_t t_clone;
    bool rlimit_memory; /* no cgroups: RLIMIT_AS is the memory limit */
    bool reset_oom;     /* the supervisor's oom_score_adj is not 0 */
};

/*** Keeper and target: system calls only ***/

/* The keeper and the target run on stacks AddressSanitizer does not know (a
 * raw clone, then a clone onto a static stack) and end in _exit or execve:
 * keep its instrumentation out of them (it only warns there, on the
 * supervisor's stderr). */
#define CHILD_CODE __attribute__((no_sanitize_address))

CHILD_CODE static void report_write(int fd, struct report *rep)
{
    ssize_t w;
    do
        w = write(fd, rep, sizeof *rep);
    while (w < 0 && errno == EINTR);
}

CHILD_CODE static void copy_what(struct report *rep, const char *a, const char *b)
{
    size_t n = 0;
    for (; a && *a && n < sizeof rep->what - 1; a++)
        rep->what[n++] = *a;
    for (; b && *b && n < sizeof rep->what - 1; b++)
        rep->what[n++] = *b;
    rep->what[n] = 0;
}

CHILD_CODE static __attribute__((noreturn)) void child_fail(const struct run_ctx *c, int kind,
                                                            int e, const char *a, const char *b)
{
    struct report rep;
    memset(&rep, 0, sizeof rep);
    rep.kind = kind;
    rep.err = e;
    copy_what(&rep, a, b);
    report_write(c->report_w, &rep);
    _exit(127);
}

CHILD_CODE static int write_all_path(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = strlen(s);
    ssize_t w = write(fd, s, n);
    int e = errno;
    close(fd);
    return w == (ssize_t)n ? 0 : -(w < 0 ? e : EIO);
}

CHILD_CODE static void set_rlimit(int res, uint64_t soft, uint64_t hard)
{
    struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
    setrlimit(res, &rl);
}

CHILD_CODE static __attribute__((noreturn)) void target_main(const struct run_ctx *c)
{
    const struct sandbox_limits *l = &c->cfg->limits;
    struct report steps;
    memset(&steps, 0, sizeof steps);
    steps.kind = REP_TARGET_STEPS;
    steps.t_fork = sbx_now_ns(); /* when the target started, for the fork step */

    /* Dispositions and the mask are inherited from the caller (a server may
     * ignore SIGPIPE); SIG_IGN would even survive exec. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < _NSIG; s++)
        sigaction(s, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* A new session and process group: no controlling terminal (nothing to
     * TIOCSTI into), and a group of its own. */
    setsid();

    int in = fcntl(c->stdin_fd, F_DUPFD, 3);
    int out = fcntl(c->stdout_w, F_DUPFD, 3);
    int er = fcntl(c->stderr_w, F_DUPFD, 3);
    if (in < 0 || out < 0 || er < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(er, 2) < 0)
        child_fail(c, REP_SETUP_ERROR, errno, "target: stdio", NULL);
    /* Everything else closes at exec; the report pipe is already close-on-exec. */
    if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        child_fail(c, REP_SETUP_ERROR, errno, "target: close_range", NULL);

    /* rlimits: the floor under the cgroup limits, and the only limits for
     * file size, open files and stack. */
    set_rlimit(RLIMIT_CORE, 0, 0);
    if (l->cpu_ms) {
        uint64_t s = (l->cpu_ms + 999) / 1000 + (c->rlimit_memory ? 0 : 1);
        set_rlimit(RLIMIT_CPU, s, s + 1);
    }
    if (l->file_bytes)
        set_rlimit(RLIMIT_FSIZE, l->file_bytes, l->file_bytes);
    uint64_t stack = l->stack_kib ? l->stack_kib * 1024 : 8ull << 20;
    set_rlimit(RLIMIT_STACK, stack, stack);
    /* RLIMIT_NPROC counts the slot uid's tasks. With cgroups it stays one
     * above pids.max, so the cgroup refuses first and records the event we
     * name the verdict after. */
    if (l->processes) {
        uint64_t n = l->processes + (c->rlimit_memory ? 0 : 1);
        set_rlimit(RLIMIT_NPROC, n, n);
    }
    if (c->rlimit_memory && l->memory_kib)
        set_rlimit(RLIMIT_AS, l->memory_kib * 1024, l->memory_kib * 1024);

    uint64_t t0 = sbx_now_ns();
    /* The slot's own host uid: per-user limits and signals cannot cross
     * between slots, and no file of the host belongs to it. */
    /* Raw system calls: glibc's setgroups/setresuid broadcast the change to
     * every thread it knows of, and in this copy of the supervisor's memory
     * it "knows" the supervisor's threads, one of which may have been in
     * pthread_create when we were cloned: it would wait for ever. */
    if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, c->gid, c->gid, c->gid) < 0 ||
        syscall(SYS_setresuid, c->uid, c->uid, c->uid) < 0)
        child_fail(c, REP_SETUP_ERROR, errno, "target: dropping to the slot uid", NULL);
    /* Changing credentials made us non-dumpable, which would leave
     * /proc/self/uid_map root's; we own ourselves again. */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    if (unshare(CLONE_NEWUSER) < 0)
        child_fail(c, REP_SETUP_ERROR, errno, "target: user namespace", NULL);
    int r = write_all_path("/proc/self/uid_map", c->uid_map);
    if (r == 0)
        r = write_all_path("/proc/self/setgroups", "deny");
    if (r == 0)
        r = write_all_path("/proc/self/gid_map", c->gid_map);
    if (r < 0)
        child_fail(c, REP_SETUP_ERROR, -r, "target: writing the id maps", NULL);
    /* The creator of a user namespace holds every capability in it: give
     * them all up, bounding and ambient sets included. */
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno == EINVAL)
            break;
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) < 0)
        child_fail(c, REP_SETUP_ERROR, errno, "target: dropping capabilities", NULL);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        child_fail(c, REP_SETUP_ERROR, errno, "target: no_new_privs", NULL);
    uint64_t t1 = sbx_now_ns();
    steps.step_ns[SANDBOX_STEP_USERNS] = t1 - t0;

    if (chdir(c->cwd) < 0)
        child_fail(c, REP_SETUP_ERROR, errno, "target: chdir ", c->cwd);

    /* Open files last: until exec this process holds a copy of the
     * supervisor's descriptors (close-on-exec), which may number more than
     * the limit, and opening the id maps above needs a free one below it. */
    if (l->open_files)
        set_rlimit(RLIMIT_NOFILE, l->open_files, l->open_files);
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &c->filter->prog) < 0)
        child_fail(c, REP_SETUP_ERROR, errno, "target: loading the seccomp filter", NULL);
    steps.step_ns[SANDBOX_STEP_SECCOMP] = sbx_now_ns() - t1;
    report_write(c->report_w, &steps);

    /* Last: into the program's own cgroup, so that its CPU time counts
     * nothing of the sandbox's setup (v1: this thread alone, microseconds). */
    if (c->cg->prog_join_fd >= 0 && write(c->cg->prog_join_fd, "0", 1) != 1)
        child_fail(c, REP_SETUP_ERROR, errno, "target: joining the program's cgroup", NULL);
    static char *const empty_env[] = {NULL};
    execve(c->cfg->argv[0], (char *const *)c->cfg->argv, c->envp ? c->envp : empty_env);
    child_fail(c, REP_EXEC_ERROR, errno, "execve ", c->cfg->argv[0]);
}

CHILD_CODE static int target_entry(void *arg)
{
    target_main(arg);
}

CHILD_CODE static __attribute__((noreturn)) void keeper_main(struct run_ctx *c)
{
    struct report done;
    memset(&done, 0, sizeof done);
    done.kind = REP_DONE;
    uint64_t t0 = sbx_now_ns();
    done.step_ns[SANDBOX_STEP_CLONE] = t0 - c->t_clone;

    /* If the supervisor dies, so does the sandbox (and with PID 1, all of it). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);

    /* We were born in the slot cgroups (the slot thread lives there, or v2's
     * CLONE_INTO_CGROUP) and in a cgroup namespace rooted there, so
     * /proc/self/cgroup shows nothing of the host. The supervisor's OOM score
     * (a farm may protect itself) must not protect the sandbox: neutral. */
    int ofd = c->reset_oom ? open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC) : -1;
    if (ofd >= 0) {
        if (write(ofd, "0", 1) < 0) {
            /* keep the inherited score */
        }
        close(ofd);
    }
    uint64_t t1 = sbx_now_ns();
    done.step_ns[SANDBOX_STEP_CGROUP] = t1 - t0;

    if (sethostname(c->hostname, strlen(c->hostname)) < 0)
        child_fail(c, REP_SETUP_ERROR, errno, "keeper: sethostname", NULL);
    const char *failed = NULL;
    int r = sbx_plan_execute(c->plan, &failed);
    if (r < 0)
        child_fail(c, REP_SETUP_ERROR, -r, "keeper: mount setup: ", failed);
    uint64_t t2 = sbx_now_ns();
    done.step_ns[SANDBOX_STEP_MOUNTS] = t2 - t1;

    /* Raw clone, not fork(): glibc's fork takes locks another thread of the
     * supervisor may have held at the moment we were cloned. */
    /* The target shares our memory until it execs (CLONE_VM|CLONE_VFORK, on
     * a stack of its own): no second copy of the supervisor's page tables.
     * We sleep meanwhile; it touches nothing of ours but its stack. Not
     * glibc's fork(): that takes locks another supervisor thread may have held
     * when we were cloned. */
    /* v1: the slot thread that cloned us leaves the run's groups right after
     * the clone; until it has, it would count against the program's
     * processes. Normally long gone by now; waited for, bounded. */
    for (int i = 0; c->cg->pids_current_fd >= 0 && i < 100000; i++) {
        char b[24];
        ssize_t n = pread(c->cg->pids_current_fd, b, sizeof b, 0);
        if (n <= 0 || (n >= 2 && b[0] == '1' && b[1] == '\n'))
            break; /* only we are left (or we cannot tell) */
        sched_yield();
    }
    done.t_fork = sbx_now_ns();
    static char target_stack[256 * 1024] __attribute__((aligned(64)));
    pid_t target = clone(target_entry, target_stack + sizeof target_stack,
                         CLONE_VM | CLONE_VFORK | SIGCHLD, c);
    if (target < 0)
        child_fail(c, REP_SETUP_ERROR, errno, "keeper: fork of the target", NULL);

    /* Keep only the report pipe: the sandbox must not hold the supervisor's
     * files, and the output pipes must reach EOF when the target's tree ends. */
    int rep = c->report_w;
    if (rep > 0)
        syscall(SYS_close_range, 0, rep - 1, 0);
    syscall(SYS_close_range, rep + 1, ~0U, 0);

    /* Reap everything (orphans are re-parented to us) until the target ends. */
    for (;;) {
        int st;
        pid_t w = wait4(-1, &st, 0, NULL);
        if (w == target) {
            done.status = st;
            break;
        }
        if (w < 0 && errno != EINTR) {
            done.status = 0x7f00; /* cannot happen: we have a child */
            break;
        }
    }
    done.t_end = sbx_now_ns();
    struct rusage ru;
    if (getrusage(RUSAGE_CHILDREN, &ru) == 0) {
        done.cpu_us = (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
                      (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
        done.maxrss_kib = (uint64_t)ru.ru_maxrss;
    }
    report_write(rep, &done);
    /* Our exit kills what is left of the namespace. */
    _exit(0);
}

CHILD_CODE static __attribute__((noreturn)) void keeper_entry(void *arg)
{
    keeper_main(arg);
}

/*** Supervisor ***/

/* The runs of cfg->record_order, shared by both captures. */
struct order_log {
    struct sandbox_chunk *v;
    size_t n, cap;
    bool on, failed;
};

/* Appends len bytes of stream to the log, extending the last run when it is
 * of the same stream. */
static void order_add(struct order_log *o, unsigned char stream, size_t len)
{
    if (!o->on || o->failed || !len)
        return;
    if (o->n && o->v[o->n - 1].stream == stream) {
        o->v[o->n - 1].len += len;
        return;
    }
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 16;
        struct sandbox_chunk *nv = realloc(o->v, nc * sizeof(*nv));
        if (!nv) {
            o->failed = true; /* no order rather than a wrong one */
            return;
        }
        o->v = nv;
        o->cap = nc;
    }
    o->v[o->n++] = (struct sandbox_chunk){.stream = stream, .len = len};
}

struct capture {
    int fd;
    struct order_log *order; /* NULL = not recorded */
    unsigned char stream;    /* 1 stdout, 2 stderr */
    char *buf;
    size_t len, cap, max;
    uint64_t total;
    bool truncated;
    /* Live copy (cfg->stream): the captured bytes buf[0..sent) went out on
     * sfd; the rest waits for room. sfd is ours when owned (closed at the
     * end), the caller's otherwise; -1 = no stream. */
    int sfd;
    bool sowned, ssock, sfailed;
    size_t sent;
};

/* Chooses how to write the caller's stream fd without ever blocking. Pipes,
 * FIFOs and terminals get a description of their own opened with O_NONBLOCK
 * (setting the flag on the caller's fd would change it for everyone sharing
 * that description, e.g. a shell's terminal); sockets take MSG_DONTWAIT;
 * regular files and block devices do not block on a full reader. */
static void stream_open(struct capture *c, int fd)
{
    c->sfd = -1;
    if (fd < 0)
        return;
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        c->sfailed = true;
        return;
    }
    if (S_ISREG(sb.st_mode) || S_ISBLK(sb.st_mode) || S_ISSOCK(sb.st_mode)) {
        c->sfd = fd;
        c->ssock = S_ISSOCK(sb.st_mode);
        return;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK)) {
        c->sfd = fd;
        return;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int nfd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (nfd < 0) {
        /* e.g. a pipe whose reader is gone (ENXIO): nothing to stream to */
        c->sfailed = true;
        return;
    }
    c->sfd = nfd;
    c->sowned = true;
}

static bool stream_pending(const struct capture *c)
{
    return c->sfd >= 0 && !c->sfailed && c->sent < c->len;
}

/* Writes what the fd takes now; the rest stays for its next POLLOUT. */
static void stream_flush(struct capture *c)
{
    while (stream_pending(c)) {
        const char *p = c->buf + c->sent;
        size_t n = c->len - c->sent;
        ssize_t w =
            c->ssock ? send(c->sfd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL) : write(c->sfd, p, n);
        if (w > 0) {
            c->sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        c->sfailed = true; /* EPIPE, EBADF, ENOSPC, ...: give this fd up */
    }
}

/* Reads what is available; returns 1 at EOF, 0 otherwise, <0 on error. */
static int capture_read(struct capture *c)
{
    char tmp[65536];
    for (;;) {
        ssize_t n = read(c->fd, tmp, sizeof tmp);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            return -errno;
        }
        if (n == 0)
            return 1;
        c->total += (uint64_t)n;
        size_t room = c->max > c->len ? c->max - c->len : 0;
        size_t take = (size_t)n < room ? (size_t)n : room;
        if (take < (size_t)n)
            c->truncated = true;
        if (take) {
            if (c->len + take + 1 > c->cap) {
                size_t nc = c->cap ? c->cap : 4096;
                while (nc < c->len + take + 1)
                    nc *= 2;
                char *nb = realloc(c->buf, nc);
                if (!nb)
                    return -ENOMEM;
                c->buf = nb;
                c->cap = nc;
            }
            memcpy(c->buf + c->len, tmp, take);
            c->len += take;
            if (c->order)
                order_add(c->order, c->stream, take);
        }
    }
}

static int make_stdin(const struct sandbox_config *cfg, int *owned, char *err, size_t errlen)
{
    *owned = -1;
    switch (cfg->stdin_kind) {
    case SANDBOX_STDIN_FD:
        if (cfg->stdin_fd < 0)
            return sbx_error(err, errlen, -EBADF, "stdin_fd is not a valid descriptor");
        return cfg->stdin_fd;
    case SANDBOX_STDIN_BUFFER: {
        /* A sealed memfd: seekable like a file, costs no pipe pumping. */
        int fd = memfd_create("stdin", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
            return sbx_error(err, errlen, -errno, "memfd_create: %s", strerror(errno));
        size_t off = 0;
        while (off < cfg->stdin_len) {
            ssize_t w = write(fd, (const char *)cfg->stdin_buf + off, cfg->stdin_len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                int e = errno;
                close(fd);
                return sbx_error(err, errlen, -e, "writing stdin: %s", strerror(e));
            }
            off += (size_t)w;
        }
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
        lseek(fd, 0, SEEK_SET);
        *owned = fd;
        return fd;
    }
    case SANDBOX_STDIN_NULL:
    default: {
        /* An empty pipe whose writer is already closed: reads see EOF at
         * once, and nothing of it is a host inode (the host's /dev/null would
         * let a run watch the host's use of it with inotify, or change its
         * timestamps). */
        int pp[2];
        if (pipe2(pp, O_CLOEXEC) < 0)
            return sbx_error(err, errlen, -errno, "stdin pipe: %s", strerror(errno));
        close(pp[1]);
        *owned = pp[0];
        return pp[0];
    }
    }
}

static void arm_timer(int tfd, uint64_t at_ns)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = (time_t)(at_ns / 1000000000ull);
    its.it_value.tv_nsec = (long)(at_ns % 1000000000ull);
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

struct run_state {
    int pidfd;
    int tfd; /* the wall/CPU timer, re-armed to repeat a kill */
    bool killed;
    enum sandbox_limit kill_reason;
};

static void kill_sandbox(struct run_state *st, enum sandbox_limit why)
{
    if (!st->killed) {
        syscall(SYS_pidfd_send_signal, st->pidfd, SIGKILL, NULL, 0);
        st->killed = true;
        st->kill_reason = why;
        /* The timer keeps firing (and the kill is repeated) until the keeper
         * is reported gone, whatever limit killed it. */
        arm_timer(st->tfd, sbx_now_ns() + KILL_RETRY_NS);
    }
}

/* What the keeper and the target reported. */
struct reports {
    struct report done, tsteps, exec_err, setup_err;
    bool got_done, got_exec_err, got_setup_err;
};

/* Reads every whole report the non-blocking pipe holds now; returns 1 at EOF. */
static int read_reports(int fd, struct reports *rs)
{
    struct report rep;
    for (;;) {
        ssize_t rn = read(fd, &rep, sizeof rep);
        if (rn < 0 && errno == EINTR)
            continue;
        if (rn < 0)
            return 0;
        if (rn == 0)
            return 1;
        if (rn != sizeof rep)
            continue;
        if (rep.kind == REP_DONE) {
            rs->done = rep;
            rs->got_done = true;
        } else if (rep.kind == REP_TARGET_STEPS) {
            rs->tsteps = rep;
        } else if (rep.kind == REP_EXEC_ERROR) {
            rs->exec_err = rep;
            rs->got_exec_err = true;
        } else if (rep.kind == REP_SETUP_ERROR) {
            rs->setup_err = rep;
            rs->got_setup_err = true;
        }
    }
}

static int fail(struct sandbox_result *r, char *err, size_t errlen, int ret, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(struct sandbox_result *r, char *err, size_t errlen, int ret, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    r->status = SANDBOX_INTERNAL_ERROR;
    if (err && errlen)
        snprintf(err, errlen, "%s", r->message);
    return ret;
}

/* The supervisor's descriptors of one run. The write ends go to the keeper
 * and are closed here once it has them; the rest live until the run is
 * reported (run_fds_close, a cleanup attribute of run_in_unit). */
struct run_fds {
    int owned_stdin; /* a stdin pipe make_stdin made, or -1 */
    int out_r, out_w, err_r, err_w, rep_r, rep_w;
    int tfd;   /* the wall/CPU timer, re-armed to repeat a kill */
    int pidfd; /* the keeper */
};
#define RUN_FDS_INIT                                                                               \
    {                                                                                              \
        -1, -1, -1, -1, -1, -1, -1, -1, -1                                                         \
    }

static void run_fds_close(struct run_fds *f)
{
    int *all[] = {&f->owned_stdin, &f->out_r, &f->out_w, &f->err_r, &f->err_w,
                  &f->rep_r,       &f->rep_w, &f->tfd,   &f->pidfd};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        sbx_closep(all[i]);
        *all[i] = -1;
    }
}

/* What the run's output becomes: both captures, their order, and the
 * SIGPIPE mask held while streaming. */
struct run_output {
    struct capture cap[2];
    struct order_log order;
    /* SIGPIPE of a stream pipe whose reader left is held back from this
     * thread (it would kill the caller's process) and discarded after. */
    sigset_t pipe_set, old_mask;
    bool mask_set, pipe_was_pending;
};

static void run_output_init(struct run_output *o, const struct sandbox_config *cfg)
{
    memset(o, 0, sizeof *o);
    o->order.on = cfg && cfg->record_order;
    o->cap[0].sfd = o->cap[1].sfd = -1;
    for (int i = 0; i < 2; i++) {
        o->cap[i].order = &o->order;
        o->cap[i].stream = (unsigned char)(i + 1);
    }
    sigemptyset(&o->pipe_set);
    sigaddset(&o->pipe_set, SIGPIPE);
}

/* What the watch loop saw, for the measure and verdict. */
struct run_watch {
    struct reports rs;
    struct run_state st;
    bool eof[3]; /* stdout, stderr, reports */
    uint64_t start, t_exit;
    siginfo_t si; /* how the keeper ended */
};

/* Spawn: pipes and timer, the unit's cgroups set to the limits, the keeper
 * cloned by the slot's thread and made visible to sandbox_cancel. 0, or a
 * -errno with r failed. */
static int run_spawn(struct sandbox_pool *p, struct sbx_slot *s, const struct sandbox_config *cfg,
                     struct sbx_unit *u, struct run_fds *fds, struct run_ctx *c,
                     struct sandbox_result *r, char *err, size_t errlen)
{
    char msg[256] = "";
    int in_fd = make_stdin(cfg, &fds->owned_stdin, msg, sizeof msg);
    if (in_fd < 0)
        return fail(r, err, errlen, in_fd, "%s", msg);
    int out_p[2], err_p[2], rep_p[2];
    if (pipe2(out_p, O_CLOEXEC) < 0)
        return fail(r, err, errlen, -errno, "pipe2: %s", strerror(errno));
    fds->out_r = out_p[0], fds->out_w = out_p[1];
    if (pipe2(err_p, O_CLOEXEC) < 0)
        return fail(r, err, errlen, -errno, "pipe2: %s", strerror(errno));
    fds->err_r = err_p[0], fds->err_w = err_p[1];
    if (pipe2(rep_p, O_CLOEXEC) < 0)
        return fail(r, err, errlen, -errno, "pipe2: %s", strerror(errno));
    fds->rep_r = rep_p[0], fds->rep_w = rep_p[1];
    fcntl(fds->out_r, F_SETFL, O_NONBLOCK);
    fcntl(fds->err_r, F_SETFL, O_NONBLOCK);
    fcntl(fds->rep_r, F_SETFL, O_NONBLOCK);
    fds->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (fds->tfd < 0)
        return fail(r, err, errlen, -errno, "timerfd_create: %s", strerror(errno));
    int ret = sbx_cg_prepare(&u->cg, &cfg->limits, msg, sizeof msg);
    if (ret < 0)
        return fail(r, err, errlen, ret, "%s", msg);

    c->cg = &u->cg;
    c->stdin_fd = in_fd;
    c->stdout_w = fds->out_w;
    c->stderr_w = fds->err_w;
    c->report_w = fds->rep_w;
    c->rlimit_memory = u->cg.kind == SANDBOX_ACCT_RLIMITS;
    c->reset_oom = !p->oom_neutral;

    /* The slot's thread clones the keeper: it sits in the slot's network
     * namespace and cgroups already. */
    struct sbx_clone_req req = {.child = keeper_entry,
                                .arg = c,
                                .unit = u,
                                .host_network = cfg->network,
                                .t_clone = &c->t_clone,
                                .pidfd = -1};
    ret = sbx_slot_clone(s, &req);
    if (ret < 0)
        return fail(r, err, errlen, ret, "cloning the sandbox keeper: %s", strerror(-ret));
    fds->pidfd = req.pidfd;
    /* Visible to sandbox_cancel from now on (a cancel that came earlier
     * takes effect here). */
    pthread_mutex_lock(&s->run_mu);
    s->live_pidfd = fds->pidfd;
    if (s->cancel_pending)
        syscall(SYS_pidfd_send_signal, fds->pidfd, SIGKILL, NULL, 0);
    pthread_mutex_unlock(&s->run_mu);
    /* The keeper holds the write ends now: ours go, so the pipes reach EOF. */
    sbx_closep(&fds->out_w);
    sbx_closep(&fds->err_w);
    sbx_closep(&fds->rep_w);
    fds->out_w = fds->err_w = fds->rep_w = -1;
    return 0;
}

/* The captures take the output pipes; a live copy goes to the caller's
 * stream fds, with SIGPIPE held back meanwhile. */
static void run_output_start(struct run_output *o, const struct sandbox_config *cfg,
                             const struct run_fds *fds)
{
    const struct sandbox_limits *l = &cfg->limits;
    for (int i = 0; i < 2; i++) {
        o->cap[i].fd = i ? fds->err_r : fds->out_r;
        o->cap[i].max = l->output_bytes ? l->output_bytes : UNLIMITED_CAPTURE;
    }
    if (cfg->stream) {
        stream_open(&o->cap[0], cfg->stream_stdout_fd);
        stream_open(&o->cap[1], cfg->stream_stderr_fd);
        if (pthread_sigmask(SIG_BLOCK, &o->pipe_set, &o->old_mask) == 0) {
            o->mask_set = true;
            sigset_t pend;
            o->pipe_was_pending = sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE);
        }
    }
}

/* The timer fired: repeat a kill under way, or end the run at its wall
 * limit, or check its CPU time and re-arm for the next check. */
static void run_timer_fired(struct sandbox_pool *p, struct sbx_unit *u,
                            const struct sandbox_limits *l, struct run_watch *w,
                            uint64_t wall_deadline, bool cpu_watch)
{
    uint64_t exp;
    if (read(w->st.tfd, &exp, sizeof exp) < 0) {
        /* spurious: fall through to the checks */
    }
    uint64_t now = sbx_now_ns();
    if (w->st.killed) {
        /* The kill is under way: keep the timer firing (and the signal
         * going) until the keeper is reported gone. */
        syscall(SYS_pidfd_send_signal, w->st.pidfd, SIGKILL, NULL, 0);
        arm_timer(w->st.tfd, now + KILL_RETRY_NS);
    } else if (wall_deadline && now >= wall_deadline) {
        kill_sandbox(&w->st, SANDBOX_LIMIT_WALL);
    } else if (cpu_watch) {
        uint64_t used = sbx_cg_cpu_ns(&u->cg);
        uint64_t lim = l->cpu_ms * 1000000ull;
        if (used >= lim) {
            kill_sandbox(&w->st, SANDBOX_LIMIT_CPU);
        } else {
            uint64_t step = (lim - used) / (uint64_t)p->ncpus;
            if (step < 2000000)
                step = 2000000;
            uint64_t next_check = now + step;
            if (wall_deadline && wall_deadline < next_check)
                next_check = wall_deadline;
            arm_timer(w->st.tfd, next_check);
        }
    }
}

/* Watch: output, reports, limits, until the keeper is gone; then what the
 * pipes still hold, without waiting, and the keeper reaped. */
static void run_watch_loop(struct sandbox_pool *p, struct sbx_unit *u,
                           const struct sandbox_config *cfg, const struct run_fds *fds,
                           struct run_output *o, struct run_watch *w)
{
    const struct sandbox_limits *l = &cfg->limits;
    struct capture *cap = o->cap;
    w->st = (struct run_state){.pidfd = fds->pidfd, .tfd = fds->tfd};
    uint64_t wall_deadline = l->wall_ms ? w->start + l->wall_ms * 1000000ull : 0;
    bool cpu_watch = l->cpu_ms && u->cg.kind != SANDBOX_ACCT_RLIMITS;
    uint64_t next_check = 0;
    if (cpu_watch)
        /* CPU time grows at most ncpus times faster than the clock. */
        next_check = w->start + (l->cpu_ms * 1000000ull) / (uint64_t)p->ncpus;
    if (wall_deadline && (!next_check || wall_deadline < next_check))
        next_check = wall_deadline;
    if (next_check)
        arm_timer(fds->tfd, next_check);

    bool keeper_exited = false;
    /* Until the keeper is gone, not until the pipes reach EOF: a program can
     * keep its own pipe ends alive after its death (in flight over a unix
     * socket, in a reference cycle only the kernel's unix garbage collector
     * frees). Once the keeper's pidfd is readable the PID namespace is empty
     * (PID 1 waits for the rest before it exits): what is buffered is read
     * without waiting, and the run is reported. */
    while (!keeper_exited) {
        struct pollfd pf[7];
        int n = 0;
        int idx_out = -1, idx_err = -1, idx_rep = -1, idx_pid = -1, idx_t = -1;
        int idx_s[2] = {-1, -1};
        for (int i = 0; i < 2; i++) {
            if (stream_pending(&cap[i])) {
                idx_s[i] = n;
                pf[n++] = (struct pollfd){.fd = cap[i].sfd, .events = POLLOUT};
            }
        }
        if (!w->eof[0]) {
            idx_out = n;
            pf[n++] = (struct pollfd){.fd = fds->out_r, .events = POLLIN};
        }
        if (!w->eof[1]) {
            idx_err = n;
            pf[n++] = (struct pollfd){.fd = fds->err_r, .events = POLLIN};
        }
        if (!w->eof[2]) {
            idx_rep = n;
            pf[n++] = (struct pollfd){.fd = fds->rep_r, .events = POLLIN};
        }
        idx_pid = n;
        pf[n++] = (struct pollfd){.fd = fds->pidfd, .events = POLLIN};
        idx_t = n;
        pf[n++] = (struct pollfd){.fd = fds->tfd, .events = POLLIN};
        int pr = poll(pf, (nfds_t)n, -1);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            kill_sandbox(&w->st, SANDBOX_LIMIT_NONE);
            break;
        }
        for (int i = 0; i < 2; i++) {
            int idx = i ? idx_err : idx_out;
            if (idx < 0 || !pf[idx].revents)
                continue;
            int cr = capture_read(&cap[i]);
            if (cr != 0)
                w->eof[i] = true;
            if (l->output_bytes && cap[i].total > l->output_bytes)
                kill_sandbox(&w->st, SANDBOX_LIMIT_OUTPUT);
            stream_flush(&cap[i]);
        }
        for (int i = 0; i < 2; i++)
            if (idx_s[i] >= 0 && pf[idx_s[i]].revents)
                stream_flush(&cap[i]);
        if (idx_rep >= 0 && pf[idx_rep].revents) {
            if (read_reports(fds->rep_r, &w->rs))
                w->eof[2] = true;
        }
        if (pf[idx_pid].revents) {
            keeper_exited = true;
            w->t_exit = sbx_now_ns();
        }
        if (pf[idx_t].revents)
            run_timer_fired(p, u, l, w, wall_deadline, cpu_watch);
    }
    /* Every process of the sandbox is gone. Descriptors it left in flight
     * (SCM_RIGHTS in a cycle) are freed only by the unix garbage collector:
     * start it now, then take what the pipes hold without waiting for EOF. */
    sbx_unix_gc_kick();
    for (int i = 0; i < 2; i++) {
        if (!w->eof[i] && capture_read(&cap[i]) < 0)
            w->eof[i] = true;
        if (l->output_bytes && cap[i].total > l->output_bytes && !w->st.killed) {
            w->st.killed = true;
            w->st.kill_reason = SANDBOX_LIMIT_OUTPUT;
        }
    }
    read_reports(fds->rep_r, &w->rs);
    /* A last try for what the stream fds did not take yet; never waits. */
    for (int i = 0; i < 2; i++)
        stream_flush(&cap[i]);
    memset(&w->si, 0, sizeof w->si);
    while (waitid((idtype_t)P_PIDFD, (id_t)fds->pidfd, &w->si, WEXITED) < 0 && errno == EINTR)
        ;
    if (!w->t_exit)
        w->t_exit = sbx_now_ns();
}

/* Measure and verdict: the slot made clean, the step times, then either
 * our failure (a -errno, r failed) or the program's result in r (0). */
static int run_measure(struct sbx_slot *s, struct sbx_unit *u, const struct sandbox_limits *l,
                       struct run_watch *w, struct sandbox_result *r, char *err, size_t errlen)
{
    char msg[256] = "";
    const struct reports *rs = &w->rs;
    struct run_state *st = &w->st;

    /* Measure, then make sure the slot is clean before anyone reuses it. */
    struct sbx_cg_stats cs;
    sbx_cg_stats(&u->cg, &cs);
    int er = sbx_cg_empty(&u->cg, msg, sizeof msg);
    /* From the target's end (or our kill) to a clean slot: the namespaces'
     * teardown is most of it. */
    r->step_ns[SANDBOX_STEP_TEARDOWN] = sbx_now_ns() - (rs->got_done ? rs->done.t_end : w->t_exit);
    for (int i = 0; i < SANDBOX_STEP_COUNT; i++) {
        if (rs->done.step_ns[i])
            r->step_ns[i] = rs->done.step_ns[i];
        if (rs->tsteps.step_ns[i])
            r->step_ns[i] = rs->tsteps.step_ns[i];
    }
    if (rs->tsteps.t_fork && rs->done.t_fork && rs->tsteps.t_fork > rs->done.t_fork)
        r->step_ns[SANDBOX_STEP_FORK] = rs->tsteps.t_fork - rs->done.t_fork;
    if (er < 0)
        return fail(r, err, errlen, er, "%s", msg);
    pthread_mutex_lock(&s->run_mu);
    bool cancelled = s->cancel_pending;
    pthread_mutex_unlock(&s->run_mu);
    if (cancelled)
        return fail(r, err, errlen, -ECANCELED, "cancelled");
    if (rs->got_setup_err)
        return fail(r, err, errlen, -(rs->setup_err.err ? rs->setup_err.err : EIO), "%s: %s",
                    rs->setup_err.what, strerror(rs->setup_err.err));
    if (!rs->got_done && cs.oom_killed) {
        /* The OOM killer chose the keeper: the memory limit ended the run. */
        st->killed = true;
        st->kill_reason = SANDBOX_LIMIT_MEMORY;
    }
    if (!rs->got_done && !st->killed)
        return fail(r, err, errlen, -EIO, "the sandbox keeper died (%s %d) before reporting",
                    w->si.si_code == CLD_EXITED ? "exit" : "signal", w->si.si_status);

    /* The verdict. */
    if (rs->got_done) {
        if (WIFEXITED(rs->done.status)) {
            r->exit_code = WEXITSTATUS(rs->done.status);
        } else if (WIFSIGNALED(rs->done.status)) {
            r->exit_code = -1;
            r->signal = WTERMSIG(rs->done.status);
        }
        r->wall_ms = (rs->done.t_end - rs->done.t_fork) / 1000000ull;
    } else {
        /* We killed the keeper before the target ended. */
        r->exit_code = -1;
        r->signal = SIGKILL;
        r->wall_ms = (w->t_exit - w->start) / 1000000ull;
    }
    if (u->cg.kind == SANDBOX_ACCT_RLIMITS) {
        r->cpu_us = rs->done.cpu_us;
        r->memory_kib = rs->done.maxrss_kib;
    } else {
        r->cpu_us = cs.cpu_ns / 1000ull;
        r->memory_kib = cs.mem_peak_bytes / 1024;
    }
    r->cpu_ms = r->cpu_us / 1000;
    if (rs->got_exec_err) {
        snprintf(r->message, sizeof r->message, "%s: %s", rs->exec_err.what,
                 strerror(rs->exec_err.err));
        r->exit_code = 127;
        r->signal = 0;
    }
    enum sandbox_limit lim = st->killed ? st->kill_reason : SANDBOX_LIMIT_NONE;
    if (r->signal == SIGXCPU)
        lim = SANDBOX_LIMIT_CPU;
    if (r->signal == SIGXFSZ)
        lim = SANDBOX_LIMIT_FILE_SIZE;
    if (lim == SANDBOX_LIMIT_NONE && l->cpu_ms && r->cpu_ms > l->cpu_ms)
        lim = SANDBOX_LIMIT_CPU;
    if (lim == SANDBOX_LIMIT_NONE && l->wall_ms && r->wall_ms > l->wall_ms)
        lim = SANDBOX_LIMIT_WALL;
    bool clean = r->exit_code == 0 && r->signal == 0 && lim == SANDBOX_LIMIT_NONE;
    /* A run that failed after running out of processes failed because of
     * them (a fork bomb ends by time, but the verdict is the processes). */
    if (cs.pids_hit && !clean)
        lim = SANDBOX_LIMIT_PROCESSES;
    if (cs.oom_killed)
        lim = SANDBOX_LIMIT_MEMORY;
    r->limit = lim;
    r->status = (r->exit_code == 0 && r->signal == 0 && lim == SANDBOX_LIMIT_NONE)
                    ? SANDBOX_OK
                    : SANDBOX_PROGRAM_FAILED;
    return 0;
}

/* Hands the captured output to r (whatever ret is), restores the caller's
 * signal mask. Returns ret, or -ENOMEM when an empty buffer cannot be made. */
static int run_output_publish(struct run_output *o, const struct sandbox_config *cfg, int ret,
                              struct sandbox_result *r, char *err, size_t errlen)
{
    struct capture *cap = o->cap;
    for (int i = 0; i < 2; i++) {
        if (!cap[i].buf && ret == 0) {
            cap[i].buf = malloc(1);
            if (!cap[i].buf)
                ret = fail(r, err, errlen, -ENOMEM, "out of memory");
        }
        if (cap[i].buf)
            cap[i].buf[cap[i].len] = 0;
    }
    r->stdout_buf = cap[0].buf;
    r->stdout_len = cap[0].len;
    r->stdout_total = cap[0].total;
    r->stdout_truncated = cap[0].truncated;
    r->stderr_buf = cap[1].buf;
    r->stderr_len = cap[1].len;
    r->stderr_total = cap[1].total;
    r->stderr_truncated = cap[1].truncated;
    if (o->order.on && !o->order.failed) {
        r->order = o->order.v;
        r->n_order = o->order.n;
    } else
        free(o->order.v);
    r->stdout_streamed = cap[0].sent;
    r->stderr_streamed = cap[1].sent;
    r->stdout_stream_failed = cfg && cfg->stream && cfg->stream_stdout_fd >= 0 && cap[0].sfailed;
    r->stderr_stream_failed = cfg && cfg->stream && cfg->stream_stderr_fd >= 0 && cap[1].sfailed;
    for (int i = 0; i < 2; i++)
        if (cap[i].sowned)
            close(cap[i].sfd);
    if (o->mask_set) {
        /* Discard the SIGPIPEs our stream writes raised (not one that was
         * pending before the run), then restore the caller's mask. */
        struct timespec zero = {0, 0};
        if (!o->pipe_was_pending)
            while (sigtimedwait(&o->pipe_set, NULL, &zero) == SIGPIPE)
                ;
        pthread_sigmask(SIG_SETMASK, &o->old_mask, NULL);
    }
    return ret;
}

/* One run in the unit *up takes (its own network namespace and cgroups,
 * never used before; the caller gives it back): spawn, watch, measure, and
 * the output handed over whatever happened. */
static int run_in_unit(struct sandbox_pool *p, struct sbx_slot *s, const struct sandbox_config *cfg,
                       const struct sbx_plan *plan, const char *cwd, const char *hostname,
                       struct sbx_unit **up, struct sandbox_result *r, char *err, size_t errlen)
{
    _cleanup_(run_fds_close) struct run_fds fds = RUN_FDS_INIT;
    struct run_output out;
    struct run_watch w;
    struct run_ctx c;
    char msg[256] = "";

    run_output_init(&out, cfg);
    memset(&w, 0, sizeof w);
    memset(&c, 0, sizeof c);
    c.cfg = cfg;
    c.plan = plan;
    c.filter = &p->filter;
    c.uid = s->uid;
    c.gid = s->gid;
    c.cwd = cwd;
    c.hostname = hostname;
    c.envp = (char *const *)cfg->env;
    snprintf(c.uid_map, sizeof c.uid_map, "%d %u 1\n", INSIDE_ID, (unsigned)s->uid);
    snprintf(c.gid_map, sizeof c.gid_map, "%d %u 1\n", INSIDE_ID, (unsigned)s->gid);

    int ret = sbx_ready_take(p, up, msg, sizeof msg);
    if (ret < 0)
        ret = fail(r, err, errlen, ret, "%s", msg);
    else
        ret = run_spawn(p, s, cfg, *up, &fds, &c, r, err, errlen);
    if (ret == 0) {
        w.start = c.t_clone;
        run_output_start(&out, cfg, &fds);
        run_watch_loop(p, *up, cfg, &fds, &out, &w);
        ret = run_measure(s, *up, &cfg->limits, &w, r, err, errlen);
    }
    ret = run_output_publish(&out, cfg, ret, r, err, errlen);
    /* Out of sandbox_cancel's reach before its pidfd is closed. */
    pthread_mutex_lock(&s->run_mu);
    s->live_pidfd = -1;
    pthread_mutex_unlock(&s->run_mu);
    return ret;
}

static int run_slot(struct sandbox_pool *p, struct sbx_slot *s, const struct sandbox_config *cfg,
                    struct sandbox_result *r, char *err, size_t errlen)
{
    char msg[256] = "";
    int ret;
    if (!cfg || !cfg->argv || !cfg->argv[0] || cfg->argv[0][0] != '/')
        return fail(r, err, errlen, -EINVAL, "argv[0] must be an absolute path inside the sandbox");
    const char *cwd = cfg->cwd ? cfg->cwd : "/box";
    if (cwd[0] != '/')
        return fail(r, err, errlen, -EINVAL, "cwd %s must be absolute", cwd);
    const char *hostname = cfg->hostname ? cfg->hostname : "sandbox";
    if (strlen(hostname) > 64)
        return fail(r, err, errlen, -EINVAL, "hostname is longer than 64 bytes");

    struct sbx_plan plan;
    ret = sbx_plan_build(&plan, cfg, s->uid, s->gid, msg, sizeof msg);
    if (ret < 0) {
        sbx_plan_free(&plan);
        return fail(r, err, errlen, ret, "%s", msg);
    }
    /* A writable box belongs to the slot's uid (1000 inside). */
    if (cfg->box_dir && !cfg->box_readonly && lchown(cfg->box_dir, s->uid, s->gid) < 0) {
        ret = -errno;
        sbx_plan_free(&plan);
        return fail(r, err, errlen, ret, "chown of box %s: %s", cfg->box_dir, strerror(-ret));
    }
    struct sbx_unit *u = NULL;
    ret = run_in_unit(p, s, cfg, &plan, cwd, hostname, &u, r, err, errlen);
    /* Destroyed in the background; the unix garbage collector was started
     * when the keeper was gone, so what was in flight lets go of it. */
    sbx_ready_give_back(p, u);
    sbx_plan_free(&plan);
    return ret;
}

int sandbox_run(struct sandbox_pool *p, unsigned slot, const struct sandbox_config *cfg,
                struct sandbox_result *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->exit_code = -1;
    if (!p || slot >= p->n_slots)
        return fail(r, err, errlen, -EINVAL, "no slot %u in this pool", slot);
    r->accounting = p->accounting;
    struct sbx_slot *s = &p->slots[slot];
    bool was = false;
    if (!atomic_compare_exchange_strong(&s->busy, &was, true))
        return fail(r, err, errlen, -EBUSY, "slot %u is already running", slot);
    pthread_mutex_lock(&s->run_mu);
    s->in_run = true;
    s->cancel_pending = false;
    pthread_mutex_unlock(&s->run_mu);
    int ret = run_slot(p, s, cfg, r, err, errlen);
    pthread_mutex_lock(&s->run_mu);
    s->in_run = false;
    s->cancel_pending = false;
    pthread_mutex_unlock(&s->run_mu);
    atomic_store(&s->busy, false);
    return ret;
}
