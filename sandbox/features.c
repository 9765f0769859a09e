/* features.c — what the running kernel offers the sandbox, probed for real.
 *
 * Each probe makes the call the sandbox makes (or its cheapest harmless
 * form) and reads the answer: a syscall that exists fails with EINVAL/EFAULT/
 * EBADF on a bad argument, one that does not with ENOSYS. Namespaces and the
 * i386/x32 ABIs are tried in a short-lived child, so a refusal (or a fault)
 * costs this process nothing. docs/security.md lists what each feature is
 * for and what the sandbox does without it; farm-sandbox --check and farmd's
 * worker print this list. */
#include "internal.h"
#include "util.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#define X32_SYSCALL_BIT 0x40000000L
#define NOBODY 65534

static struct sandbox_feature *add(struct sandbox_features *fs, const char *name, const char *what,
                                   enum sandbox_need need, const char *if_missing)
{
    struct sandbox_feature *f = &fs->f[fs->n++];
    f->name = name;
    f->what = what;
    f->need = need;
    f->if_missing = if_missing;
    f->present = false;
    f->detail[0] = 0;
    return f;
}

static void detail(struct sandbox_feature *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void detail(struct sandbox_feature *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->detail, sizeof f->detail, fmt, ap);
    va_end(ap);
}

/* "exists (EINVAL on a bad size)" / "missing (ENOSYS)": a syscall probed with
 * an argument it must reject; want is the errno of a kernel that has it. */
static void syscall_probe(struct sandbox_feature *f, long r, int e, int want)
{
    f->present = r >= 0 || e == want;
    if (r >= 0)
        detail(f, "the call succeeded");
    else if (f->present)
        detail(f, "the kernel has it (%s on a probe argument)", strerrorname_np(e));
    else
        detail(f, "%s", e == ENOSYS ? "the kernel has no such call (ENOSYS)" : strerror(e));
}

/* Reads a small /proc or /sys file's first line into buf ("" if absent). */
static void read_line(const char *path, char *buf, size_t n)
{
    _cleanup_free_ char *data = NULL;
    buf[0] = 0;
    if (sbx_read_file(path, 4096, &data, NULL) < 0)
        return;
    data[strcspn(data, "\n")] = 0;
    snprintf(buf, n, "%s", data);
}

/* Waits for child pid; returns its wait status, or -1. */
static int reap(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return st;
}

/*** namespaces ***/

static const struct {
    const char *name, *file, *what;
    int flag;
} ns_table[] = {
    {"pid-namespace", "pid", "PID namespace per run: the run's processes die with its PID 1",
     CLONE_NEWPID},
    {"mount-namespace", "mnt", "mount namespace per run: the empty root, pivot_root", CLONE_NEWNS},
    {"ipc-namespace", "ipc", "IPC namespace per run", CLONE_NEWIPC},
    {"uts-namespace", "uts", "UTS namespace per run (the host name)", CLONE_NEWUTS},
    {"network-namespace", "net", "network namespace per slot: no interface but a down lo",
     CLONE_NEWNET},
    {"cgroup-namespace", "cgroup", "cgroup namespace per run: /proc/self/cgroup shows /",
     CLONE_NEWCGROUP},
};
#define N_NS (sizeof ns_table / sizeof *ns_table)

/* In a child: each namespace on its own (as root, like the keeper), then, as
 * an unprivileged uid like the target, a user namespace. Reports errnos (0 =
 * worked) through a pipe; the child leaves nothing. */
static int probe_namespaces(bool root, int errs[N_NS + 2], char *err, size_t errlen)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return sbx_error(err, errlen, -errno, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return sbx_error(err, errlen, -e, "fork: %s", strerror(e));
    }
    if (pid == 0) {
        int out[N_NS + 2];
        for (size_t i = 0; i < N_NS; i++)
            out[i] = !root ? EPERM : unshare(ns_table[i].flag) == 0 ? 0 : errno;
        bool dropped = !root || (syscall(SYS_setgroups, 0, NULL) == 0 &&
                                 syscall(SYS_setresgid, NOBODY, NOBODY, NOBODY) == 0 &&
                                 syscall(SYS_setresuid, NOBODY, NOBODY, NOBODY) == 0);
        out[N_NS + 1] = !dropped;
        out[N_NS] = !dropped ? errno : unshare(CLONE_NEWUSER) == 0 ? 0 : errno;
        ssize_t w = write(p[1], out, sizeof out);
        syscall(SYS_exit_group, w == (ssize_t)sizeof out ? 0 : 1);
    }
    close(p[1]);
    ssize_t n = read(p[0], errs, sizeof(int) * (N_NS + 2));
    close(p[0]);
    reap(pid);
    if (n != (ssize_t)(sizeof(int) * (N_NS + 2)))
        return sbx_error(err, errlen, -EIO, "the namespace probe child did not report");
    return 0;
}

static int namespaces(struct sandbox_features *fs, char *err, size_t errlen)
{
    int errs[N_NS + 2];
    int r = probe_namespaces(fs->probed_as_root, errs, err, errlen);
    if (r < 0)
        return r;
    char path[64], max[32], clone_ok[32];
    struct sandbox_feature *f =
        add(fs, "user-namespaces", "the program's own user namespace, made by an unprivileged uid",
            SANDBOX_NEED_REQUIRED, "no run: the target cannot leave the host's user namespace");
    read_line("/proc/sys/user/max_user_namespaces", max, sizeof max);
    read_line("/proc/sys/kernel/unprivileged_userns_clone", clone_ok, sizeof clone_ok);
    f->present = errs[N_NS] == 0;
    int uid = fs->probed_as_root ? NOBODY : (int)getuid();
    char how[96];
    if (errs[N_NS + 1])
        snprintf(how, sizeof how, "could not become uid %d: %s", uid, strerror(errs[N_NS]));
    else if (f->present)
        snprintf(how, sizeof how, "made as uid %d", uid);
    else
        snprintf(how, sizeof how, "refused to uid %d: %s", uid, strerror(errs[N_NS]));
    detail(f, "%s; user.max_user_namespaces=%s%s%s", how, max[0] ? max : "?",
           clone_ok[0] ? " kernel.unprivileged_userns_clone=" : "", clone_ok);
    for (size_t i = 0; i < N_NS; i++) {
        f = add(fs, ns_table[i].name, ns_table[i].what, SANDBOX_NEED_REQUIRED,
                "no run: every run needs all its namespaces");
        snprintf(path, sizeof path, "/proc/self/ns/%s", ns_table[i].file);
        bool exists = access(path, F_OK) == 0;
        if (fs->probed_as_root) {
            f->present = errs[i] == 0;
            detail(f, "%s; %s %s", f->present ? "made" : strerror(errs[i]), path,
                   exists ? "exists" : "missing");
        } else {
            f->present = exists;
            detail(f, "%s %s (not tried: not root)", path, exists ? "exists" : "missing");
        }
    }
    return 0;
}

/*** seccomp ***/

static void seccomp_features(struct sandbox_features *fs)
{
    struct sandbox_feature *f =
        add(fs, "seccomp-filter", "seccomp BPF filters (SECCOMP_SET_MODE_FILTER)",
            SANDBOX_NEED_REQUIRED, "no run: the syscall filter is a layer every run has");
    errno = 0;
    long mode = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
    int mode_err = errno;
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, NULL);
    int e = errno;
    char status[64] = "";
    _cleanup_free_ char *st = NULL;
    if (sbx_read_file("/proc/self/status", 65536, &st, NULL) == 0) {
        char *l = strstr(st, "\nSeccomp_filters:");
        if (l)
            snprintf(status, sizeof status, "%ld filter(s) loaded", strtol(l + 17, NULL, 10));
    }
    f->present = mode >= 0 && r < 0 && e == EFAULT;
    if (mode < 0)
        detail(f, "prctl(PR_GET_SECCOMP): %s (no CONFIG_SECCOMP)", strerror(mode_err));
    else
        detail(f, "%s; this process: mode %ld%s%s",
               f->present ? "SECCOMP_SET_MODE_FILTER exists (EFAULT on a NULL program)"
                          : strerror(e),
               mode, status[0] ? ", " : "", status);

    f = add(fs, "seccomp-kill-process", "the SECCOMP_RET_KILL_PROCESS action",
            SANDBOX_NEED_REQUIRED, "no run: a foreign syscall ABI must kill the whole process");
    uint32_t action = SECCOMP_RET_KILL_PROCESS;
    r = syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action);
    f->present = r == 0;
    detail(f, "SECCOMP_GET_ACTION_AVAIL: %s", r == 0 ? "available" : strerror(errno));
}

/*** cgroups ***/

struct cg_mounts {
    char v2[256];     /* mount point of cgroup2 ("" if none) */
    char v1[3][256];  /* memory, pids, cpuacct */
    char v2_own[512]; /* our path in the v2 hierarchy */
};

static const char *const v1_names[3] = {"memory", "pids", "cpuacct"};

static int note_cgroup_mount(const struct sbx_mount *mt, void *data)
{
    struct cg_mounts *m = data;
    if (!strcmp(mt->fstype, "cgroup2") && (!m->v2[0] || !strcmp(mt->mountpoint, "/sys/fs/cgroup")))
        snprintf(m->v2, sizeof m->v2, "%.255s", mt->mountpoint);
    for (int i = 0; i < 3 && !strcmp(mt->fstype, "cgroup"); i++)
        if (!m->v1[i][0] && sbx_has_token(mt->super_opts, v1_names[i], ","))
            snprintf(m->v1[i], sizeof m->v1[i], "%.255s", mt->mountpoint);
    return 0;
}

static void find_cgroup_mounts(struct cg_mounts *m)
{
    memset(m, 0, sizeof *m);
    sbx_mountinfo_each(note_cgroup_mount, m);
    char line[4096];
    FILE *f = fopen("/proc/self/cgroup", "re");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "0::", 3)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(m->v2_own, sizeof m->v2_own, "%.500s", strcmp(line + 3, "/") ? line + 3 : "");
        }
    if (f)
        fclose(f);
}

static void cgroup_features(struct sandbox_features *fs)
{
    struct cg_mounts m;
    find_cgroup_mounts(&m);
    struct sandbox_feature *f =
        add(fs, "cgroup-v2", "cgroup v2 with the memory, pids and cpu controllers in our group",
            SANDBOX_NEED_FALLBACK, "cgroup v1 if it is mounted, else rlimits");
    char ctl[256] = "", p[1024];
    if (m.v2[0]) {
        snprintf(p, sizeof p, "%s%s/cgroup.controllers", m.v2, m.v2_own);
        read_line(p, ctl, sizeof ctl);
        f->present = sbx_has_token(ctl, "memory", " ") && sbx_has_token(ctl, "pids", " ") &&
                     sbx_has_token(ctl, "cpu", " ");
        detail(f, "cgroup2 at %s; our group %s has controllers: %s", m.v2,
               m.v2_own[0] ? m.v2_own : "/", ctl[0] ? ctl : "(none)");
    } else {
        detail(f, "no cgroup2 filesystem is mounted");
    }
    bool v2 = f->present;

    f = add(fs, "cgroup-v1", "cgroup v1 hierarchies with the memory, pids and cpuacct controllers",
            SANDBOX_NEED_FALLBACK,
            "rlimits: memory and CPU per process (RLIMIT_AS, RLIMIT_CPU), processes per uid");
    f->present = m.v1[0][0] && m.v1[1][0] && m.v1[2][0];
    detail(f, "memory: %s, pids: %s, cpuacct: %s", m.v1[0][0] ? m.v1[0] : "not mounted",
           m.v1[1][0] ? m.v1[1] : "not mounted", m.v1[2][0] ? m.v1[2] : "not mounted");
    fs->accounting = v2           ? SANDBOX_ACCT_CGROUP_V2
                     : f->present ? SANDBOX_ACCT_CGROUP_V1
                                  : SANDBOX_ACCT_RLIMITS;
}

/*** clone3, pidfds and the newer file calls ***/

static void process_features(struct sandbox_features *fs)
{
    struct sandbox_feature *f =
        add(fs, "clone3", "clone3(): keepers are made with it", SANDBOX_NEED_REQUIRED,
            "no run: the keeper is cloned with clone3");
    long r = syscall(SYS_clone3, NULL, 0);
    syscall_probe(f, r, errno, EINVAL);

    f = add(fs, "clone-pidfd", "CLONE_PIDFD, pidfd_send_signal and waitid(P_PIDFD)",
            SANDBOX_NEED_REQUIRED, "no run: the supervisor watches and kills keepers by pidfd");
    int pidfd = -1;
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE_PIDFD;
    ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
    ca.exit_signal = SIGCHLD;
    pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
    if (pid == 0)
        syscall(SYS_exit_group, 0);
    if (pid < 0) {
        detail(f, "clone3(CLONE_PIDFD): %s", strerror(errno));
    } else {
        long sig = syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0);
        int sig_err = errno;
        siginfo_t si;
        memset(&si, 0, sizeof si);
        long w = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED);
        int w_err = errno;
        if (w < 0)
            reap(pid);
        f->present = pidfd >= 0 && sig == 0 && w == 0 && si.si_pid == pid;
        detail(f, "pidfd %s, pidfd_send_signal %s, waitid(P_PIDFD) %s",
               pidfd >= 0 ? "given" : "not given", sig == 0 ? "works" : strerror(sig_err),
               w == 0 ? "works" : strerror(w_err));
        if (pidfd >= 0)
            close(pidfd);
    }

    f = add(fs, "pidfd-open", "pidfd_open()", SANDBOX_NEED_INFO, "nothing: not used");
    r = syscall(SYS_pidfd_open, getpid(), 0);
    syscall_probe(f, r, errno, 0);
    if (r >= 0)
        close((int)r);

    f = add(fs, "clone-into-cgroup", "clone3's CLONE_INTO_CGROUP (keepers born in the v2 group)",
            fs->accounting == SANDBOX_ACCT_CGROUP_V2 ? SANDBOX_NEED_REQUIRED : SANDBOX_NEED_INFO,
            "with cgroup v2 no run (use --accounting cgroup-v1 or rlimits); unused otherwise");
    _cleanup_close_ int dirfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE_INTO_CGROUP;
    ca.cgroup = (uint64_t)dirfd;
    ca.exit_signal = SIGCHLD;
    pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
    if (pid == 0)
        syscall(SYS_exit_group, 0);
    if (pid > 0)
        reap(pid);
    syscall_probe(f, pid, errno, EBADF);

    f = add(fs, "close-range", "close_range() with CLOSE_RANGE_CLOEXEC", SANDBOX_NEED_REQUIRED,
            "no run: the target marks every inherited fd close-on-exec with it");
    r = syscall(SYS_close_range, ~0U, ~0U, CLOSE_RANGE_CLOEXEC);
    syscall_probe(f, r, errno, 0);

    f = add(fs, "mount-setattr", "mount_setattr(): read-only, nosuid, nodev binds",
            SANDBOX_NEED_REQUIRED, "no run: the keeper seals its mounts with it");
    r = syscall(SYS_mount_setattr, -1, "", 0, NULL, 0);
    syscall_probe(f, r, errno, EINVAL);

    f = add(fs, "openat2", "openat2() with RESOLVE_BENEATH: collecting outputs from a box",
            SANDBOX_NEED_REQUIRED, "sandbox_box_open/read fail: no output file is collected");
    r = syscall(SYS_openat2, AT_FDCWD, "/", NULL, 0);
    syscall_probe(f, r, errno, EINVAL);
}

/*** foreign syscall ABIs ***/

/* In a child that may die of it: 0 = the i386 (which 0) or x32 (1) getpid
 * returned our pid; otherwise the child's wait status. */
static int try_abi(int which)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* A fault must kill the child, quietly: default action, no core. */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGSYS, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
        sigaction(SIGILL, &sa, NULL);
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        long self = syscall(SYS_getpid), r = -1;
#if defined(__x86_64__)
        if (which == 0)
            __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
        else
            r = syscall(X32_SYSCALL_BIT | SYS_getpid);
#else
        (void)which;
#endif
        syscall(SYS_exit_group, r == self ? 0 : 1);
    }
    return reap(pid);
}

static void describe_abi(struct sandbox_feature *f, int st, const char *absent)
{
    f->present = st == 0;
    if (st == 0)
        detail(f, "a getpid through it worked outside the sandbox; inside, the filter kills it "
                  "(SIGSYS)");
    else if (st > 0 && WIFSIGNALED(st))
        detail(f, "%s (the probe died of %s)", absent, sigabbrev_np(WTERMSIG(st)));
    else
        detail(f, "%s (the call failed)", absent);
}

static void abi_features(struct sandbox_features *fs)
{
    struct sandbox_feature *f =
        add(fs, "i386-abi", "the i386 syscall ABI (int 0x80) of 64-bit processes",
            SANDBOX_NEED_REFUSED, "nothing: such a call faults before any filter (SIGSEGV)");
#if defined(__x86_64__)
    char cmdline[1024], why[160] = "the kernel refuses int 0x80";
    read_line("/proc/cmdline", cmdline, sizeof cmdline);
    char *ia32 = strstr(cmdline, "ia32_emulation=");
    if (ia32)
        snprintf(why, sizeof why, "the kernel refuses int 0x80 (booted with %.*s)",
                 (int)strcspn(ia32, " "), ia32);
    describe_abi(f, try_abi(0), why);
    f = add(fs, "x32-abi", "the x32 syscall ABI (numbers with __X32_SYSCALL_BIT)",
            SANDBOX_NEED_REFUSED, "nothing: such a call fails with ENOSYS outside, SIGSYS inside");
    describe_abi(f, try_abi(1), "the kernel has no x32 system calls");
#else
    detail(f, "not an x86-64 machine");
    f = add(fs, "x32-abi", "the x32 syscall ABI (numbers with __X32_SYSCALL_BIT)",
            SANDBOX_NEED_REFUSED, "nothing");
    detail(f, "not an x86-64 machine");
#endif
}

int sandbox_features_probe(struct sandbox_features *fs, char *err, size_t errlen)
{
    memset(fs, 0, sizeof *fs);
    fs->probed_as_root = geteuid() == 0;
    int r = namespaces(fs, err, errlen);
    if (r < 0)
        return r;
    seccomp_features(fs);
    cgroup_features(fs);
    process_features(fs);
    abi_features(fs);
    return 0;
}

const struct sandbox_feature *sandbox_features_get(const struct sandbox_features *fs,
                                                   const char *name)
{
    for (size_t i = 0; i < fs->n; i++)
        if (!strcmp(fs->f[i].name, name))
            return &fs->f[i];
    return NULL;
}

size_t sandbox_features_missing(const struct sandbox_features *fs)
{
    size_t n = 0;
    for (size_t i = 0; i < fs->n; i++)
        if (fs->f[i].need == SANDBOX_NEED_REQUIRED && !fs->f[i].present)
            n++;
    return n;
}

const char *sandbox_need_name(enum sandbox_need n)
{
    switch (n) {
    case SANDBOX_NEED_REQUIRED:
        return "required";
    case SANDBOX_NEED_FALLBACK:
        return "fallback";
    case SANDBOX_NEED_REFUSED:
        return "refused";
    case SANDBOX_NEED_INFO:
        return "info";
    default:
        return "unknown";
    }
}
