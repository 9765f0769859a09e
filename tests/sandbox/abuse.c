/* abuse.c — hostile programs, one function per abuse, run inside the sandbox by
 * test_sandbox.c (a multi-call static binary: argv[1] names the abuse, so one
 * store path holds them all). Each either runs into a limit (the driver checks
 * the verdict) or tries what must be refused and prints one line per attempt:
 * "ok <what>" when it was refused as expected, "ESCAPE <what>" when it was not;
 * it exits 0 only when nothing escaped. The driver then checks the host. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static int escapes;

/* expect: the call returned r with errno e; ok when r < 0 (refused). */
static void refused(const char *what, long r)
{
    if (r < 0) {
        printf("ok %s (%s)\n", what, strerror(errno));
    } else {
        printf("ESCAPE %s (returned %ld)\n", what, r);
        escapes++;
    }
}

static void refused_errno(const char *what, long r, int want)
{
    if (r < 0 && errno == want) {
        printf("ok %s (%s)\n", what, strerror(errno));
    } else {
        printf("ESCAPE %s (returned %ld, %s; wanted %s)\n", what, r, strerror(errno),
               strerror(want));
        escapes++;
    }
}

static int done(void)
{
    fflush(stdout);
    return escapes ? 1 : 0;
}

/*** limits ***/

static int forkbomb(void)
{
    for (;;)
        fork();
}

static int membomb_malloc(void)
{
    for (;;) {
        char *p = malloc(1 << 20);
        if (p)
            memset(p, 1, 1 << 20);
    }
}

static int membomb_mmap(void)
{
    for (;;) {
        void *p = mmap(NULL, 16 << 20, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (p == MAP_FAILED)
            usleep(1000);
    }
}

/* mem-grab malloc|mmap: takes (and touches) 1 MiB at a time until refused,
 * then says how much it got: where memory is an rlimit, the refusal is an
 * allocation failure the program lives through. */
static int mem_grab(const char *how)
{
    unsigned mib = 0;
    for (;;) {
        void *p;
        if (!strcmp(how, "mmap")) {
            p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
            if (p == MAP_FAILED)
                break;
        } else {
            p = malloc(1 << 20);
            if (!p)
                break;
            memset(p, 1, 1 << 20);
        }
        mib++;
    }
    printf("got %u MiB\n", mib);
    return 0;
}

static int fill(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        printf("open %s: %s\n", path, strerror(errno));
        return 2;
    }
    static char buf[65536];
    memset(buf, 'x', sizeof buf);
    long long total = 0;
    for (;;) {
        ssize_t w = write(fd, buf, sizeof buf);
        if (w < 0) {
            printf("%s after %lld bytes\n", errno == ENOSPC ? "ENOSPC" : strerror(errno), total);
            return 0;
        }
        total += w;
    }
}

static int flood(int fd)
{
    static char buf[65536];
    memset(buf, 'y', sizeof buf);
    for (;;)
        if (write(fd, buf, sizeof buf) < 0)
            return 3;
}

/* A line on each stream, a pause, another line: output that must be seen
 * live (cfg->stream) before the run ends. */
static int lines(void)
{
    printf("first\n");
    fprintf(stderr, "err-first\n");
    struct timespec ts = {1, 500000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    printf("second\n");
    return 0;
}

static int spin(void)
{
    volatile unsigned long x = 0;
    for (;;)
        x++;
}

static int sleep_forever(void)
{
    for (;;)
        pause();
}

static void *idle_thread(void *a)
{
    (void)a;
    for (;;)
        pause();
    return NULL;
}

static int threads(void)
{
    for (int i = 0;; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, idle_thread, NULL) != 0) {
            printf("thread %d refused\n", i);
            fflush(stdout);
            for (;;)
                pause();
        }
    }
}

/*** network ***/

static int network(int argc, char **argv)
{
    int port = argc > 2 ? atoi(argv[2]) : 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    refused("tcp connect to the host's loopback", connect(s, (struct sockaddr *)&sa, sizeof sa));
    close(s);
    s = socket(AF_INET, SOCK_DGRAM, 0);
    refused("udp send to the host's loopback",
            sendto(s, "x", 1, 0, (struct sockaddr *)&sa, sizeof sa));
    close(s);
    struct sockaddr_in out = {.sin_family = AF_INET, .sin_port = htons(53)};
    out.sin_addr.s_addr = htonl(0x08080808);
    s = socket(AF_INET, SOCK_DGRAM, 0);
    refused("udp to the outside", sendto(s, "x", 1, 0, (struct sockaddr *)&out, sizeof out));
    close(s);
    refused("raw socket", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    refused("packet socket", socket(AF_PACKET, SOCK_RAW, 0));
    refused_errno("vsock socket", socket(AF_VSOCK, SOCK_STREAM, 0), EPERM);
    refused_errno("alg socket", socket(AF_ALG, SOCK_SEQPACKET, 0), EPERM);
    /* the host's abstract socket, named by the driver */
    if (argc > 3) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        size_t n = strlen(argv[3]);
        memcpy(un.sun_path + 1, argv[3], n);
        s = socket(AF_UNIX, SOCK_STREAM, 0);
        refused("connect to the host's abstract socket",
                connect(s, (struct sockaddr *)&un, (socklen_t)(sizeof(sa_family_t) + 1 + n)));
        close(s);
    }
    return done();
}

/* abstract-listen NAME MS|stdin: binds an abstract socket and waits MS, or
 * until stdin ends. */
static int abstract_listen(int argc, char **argv)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    size_t n = strlen(argv[2]);
    memcpy(un.sun_path + 1, argv[2], n);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(s, (struct sockaddr *)&un, (socklen_t)(sizeof(sa_family_t) + 1 + n)) < 0 ||
        listen(s, 4) < 0) {
        printf("bind: %s\n", strerror(errno));
        return 2;
    }
    printf("listening\n");
    fflush(stdout);
    if (!strcmp(argv[3], "stdin")) {
        /* until the driver closes our stdin: it is done connecting */
        char b[64];
        while (read(0, b, sizeof b) > 0)
            ;
    } else {
        usleep((useconds_t)atoi(argv[3]) * 1000);
    }
    return 0;
}

static int abstract_connect(int argc, char **argv)
{
    (void)argc;
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    size_t n = strlen(argv[2]);
    memcpy(un.sun_path + 1, argv[2], n);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    refused("connect to another sandbox's abstract socket",
            connect(s, (struct sockaddr *)&un, (socklen_t)(sizeof(sa_family_t) + 1 + n)));
    return done();
}

/*** processes ***/

static int ptrace_abuse(void)
{
    refused("ptrace attach to pid 1 (keeper)", ptrace(PTRACE_ATTACH, 1, 0, 0));
    refused("ptrace attach to parent", ptrace(PTRACE_ATTACH, getppid(), 0, 0));
    pid_t c = fork();
    if (c == 0) {
        pause();
        _exit(0);
    }
    refused("ptrace attach to own child", ptrace(PTRACE_ATTACH, c, 0, 0));
    refused("ptrace seize of own child", ptrace(PTRACE_SEIZE, c, 0, 0));
    char buf[16];
    struct iovec l = {buf, sizeof buf}, r = {(void *)0x400000, sizeof buf};
    refused("process_vm_readv of own child", process_vm_readv(c, &l, 1, &r, 1, 0));
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    pid_t t = fork();
    if (t == 0) {
        long rr = ptrace(PTRACE_TRACEME, 0, 0, 0);
        _exit(rr < 0 ? 0 : 1);
    }
    int st;
    waitpid(t, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        printf("ok ptrace traceme\n");
    } else {
        printf("ESCAPE ptrace traceme\n");
        escapes++;
    }
    return done();
}

static int ns_abuse(void)
{
    refused("mount tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL));
    refused("bind mount", mount("/", "/tmp", NULL, MS_BIND, NULL));
    refused("umount /proc", umount2("/proc", MNT_DETACH));
    refused("unshare user", unshare(CLONE_NEWUSER));
    refused("unshare mount", unshare(CLONE_NEWNS));
    refused("unshare net", unshare(CLONE_NEWNET));
    int fd = open("/proc/1/ns/mnt", O_RDONLY);
    refused("setns to pid 1's mount namespace", fd < 0 ? -1 : setns(fd, 0));
    refused("chroot", chroot("/tmp"));
    refused("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
    refused("clone with CLONE_NEWUSER", syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
    struct clone_args ca = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
    refused_errno("clone3", syscall(SYS_clone3, &ca, sizeof ca), ENOSYS);
    refused("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */));
    refused("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
    /* The classic chroot escape: walk up past the root. */
    struct stat root, cur;
    stat("/", &root);
    for (int i = 0; i < 64; i++)
        if (chdir("..") < 0)
            break;
    stat(".", &cur);
    if (cur.st_ino == root.st_ino && cur.st_dev == root.st_dev) {
        printf("ok walking up stays at the sandbox root\n");
    } else {
        printf("ESCAPE walked above the root\n");
        escapes++;
    }
    /* /proc/1/root is the keeper's root: the same tmpfs */
    struct stat pr;
    if (stat("/proc/1/root/", &pr) == 0 && (pr.st_ino != root.st_ino || pr.st_dev != root.st_dev)) {
        printf("ESCAPE /proc/1/root is another root\n");
        escapes++;
    } else {
        printf("ok /proc/1/root\n");
    }
    return done();
}

/* read-host STATE_DIR OTHER_BOX: none of these may be readable */
static int read_host(int argc, char **argv)
{
    const char *paths[] = {"/etc/shadow",
                           "/etc/passwd",
                           "/root",
                           "/home",
                           "/var",
                           "/nix/var",
                           "/proc/kcore",
                           "/proc/1/environ",
                           "/proc/1/mem",
                           "/proc/1/cmdline",
                           "/proc/1/status",
                           "/proc/sysrq-trigger",
                           "/sys/kernel",
                           "/dev/mem",
                           "/dev/kmsg",
                           "/dev/sda",
                           "/dev/vda",
                           argc > 2 ? argv[2] : "/nonexistent",
                           argc > 3 ? argv[3] : "/nonexistent"};
    char buf[64];
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        int fd = open(paths[i], O_RDONLY);
        long r = fd;
        if (fd >= 0) {
            r = read(fd, buf, sizeof buf);
            if (r == 0 || (r < 0 && errno == EISDIR))
                r = -1; /* empty or a directory of our own root: nothing learnt */
            close(fd);
        }
        char what[300];
        snprintf(what, sizeof what, "read %s", paths[i]);
        refused(what, r);
    }
    /* masked /proc files read as empty */
    const char *empty[] = {"/proc/cmdline",  "/proc/keys",  "/proc/partitions",
                           "/proc/kallsyms", "/proc/locks", "/proc/swaps"};
    for (size_t i = 0; i < sizeof empty / sizeof *empty; i++) {
        int fd = open(empty[i], O_RDONLY);
        long r = fd < 0 ? -1 : read(fd, buf, sizeof buf);
        if (fd >= 0)
            close(fd);
        char what[300];
        snprintf(what, sizeof what, "%s is empty", empty[i]);
        refused(what, r > 0 ? 1 : -1);
    }
    /* /proc/self/mountinfo: print it; the driver checks for host paths */
    int fd = open("/proc/self/mountinfo", O_RDONLY);
    char big[16384];
    ssize_t n = fd < 0 ? 0 : read(fd, big, sizeof big - 1);
    if (n > 0) {
        big[n] = 0;
        printf("--- mountinfo\n%s--- end\n", big);
    }
    return done();
}

static int whoami(void)
{
    char host[65] = "";
    gethostname(host, sizeof host);
    printf("uid=%d euid=%d gid=%d host=%s cwd=", (int)getuid(), (int)geteuid(), (int)getgid(),
           host);
    char cwd[256];
    printf("%s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
    int fd = open("/proc/self/status", O_RDONLY);
    char buf[8192];
    ssize_t n = fd < 0 ? 0 : read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
        if (!strncmp(l, "Cap", 3) || !strncmp(l, "NoNewPrivs", 10) || !strncmp(l, "Seccomp:", 8))
            printf("%s\n", l);
    extern char **environ;
    for (char **e = environ; *e; e++)
        printf("env %s\n", *e);
    printf("pid=%d ppid=%d\n", (int)getpid(), (int)getppid());
    return 0;
}

static int tiocsti(void)
{
    char c = 'x';
    refused_errno("TIOCSTI on stdin", ioctl(0, TIOCSTI, &c), EPERM);
    refused_errno("TIOCSTI on stdout", ioctl(1, TIOCSTI, &c), EPERM);
    refused("open /dev/tty", open("/dev/tty", O_RDWR));
    refused("open /dev/console", open("/dev/console", O_RDWR));
    refused("open /dev/ptmx", open("/dev/ptmx", O_RDWR));
    return done();
}

static int keyring(void)
{
    refused_errno("add_key",
                  syscall(SYS_add_key, "user", "nixfarm-test", "secret", 6, -3 /* user */), EPERM);
    refused_errno("request_key", syscall(SYS_request_key, "user", "nixfarm-test", NULL, 0), EPERM);
    refused_errno("keyctl", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3, 0), EPERM);
    return done();
}

static int kernel_abuse(void)
{
    refused_errno("bpf", syscall(SYS_bpf, 0, NULL, 0), EPERM);
    refused_errno("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0), EPERM);
    refused_errno("userfaultfd", syscall(SYS_userfaultfd, 0), EPERM);
    refused_errno("io_uring_setup", syscall(SYS_io_uring_setup, 8, NULL), EPERM);
    refused_errno("init_module", syscall(SYS_init_module, NULL, 0, ""), EPERM);
    refused_errno("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0), EPERM);
    refused_errno("personality(ADDR_NO_RANDOMIZE)", personality(ADDR_NO_RANDOMIZE), EPERM);
    refused_errno("personality(READ_IMPLIES_EXEC)", personality(READ_IMPLIES_EXEC), EPERM);
    refused_errno("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0), EPERM);
    refused_errno("reboot", syscall(SYS_reboot, 0, 0, 0, NULL), EPERM);
    refused_errno("syslog", syscall(SYS_syslog, 3, NULL, 0), EPERM);
    refused_errno("acct", syscall(SYS_acct, NULL), EPERM);
    return done();
}

static int store_write(int argc, char **argv)
{
    const char *self = argc > 2 ? argv[2] : "/proc/self/exe";
    refused("open own store file for writing", open(self, O_WRONLY));
    refused("create in /nix/store", open("/nix/store/evil", O_WRONLY | O_CREAT, 0644));
    refused("mkdir in /nix/store", mkdir("/nix/store/evil", 0755));
    refused("create in /", open("/evil", O_WRONLY | O_CREAT, 0644));
    refused("create in /dev", open("/dev/evil", O_WRONLY | O_CREAT, 0644));
    refused("chmod own store file", chmod(self, 0777));
    refused("rename in store", rename(self, "/nix/store/x"));
    return done();
}

/* outlive BOX_MARKER: the main process exits at once; a double-forked
 * grandchild in its own session tries to live on and write a marker later. */
static int outlive(int argc, char **argv, bool new_session)
{
    const char *marker = argc > 2 ? argv[2] : "/box/marker";
    pid_t c = fork();
    if (c == 0) {
        if (fork() == 0) {
            if (new_session)
                setsid();
            else
                setpgid(0, 0);
            signal(SIGHUP, SIG_IGN);
            signal(SIGTERM, SIG_IGN);
            sleep(1);
            int fd = open(marker, O_WRONLY | O_CREAT, 0644);
            if (fd >= 0)
                close(fd);
            for (;;)
                pause();
        }
        _exit(0);
    }
    waitpid(c, NULL, 0);
    printf("parent leaving\n");
    return 0;
}

/* signals HOST_PID */
static int signals(int argc, char **argv)
{
    pid_t host = argc > 2 ? (pid_t)atoi(argv[2]) : 1;
    refused_errno("kill a host pid", kill(host, SIGKILL), ESRCH);
    refused_errno("kill pid 1 (the keeper, root outside our user namespace)", kill(1, SIGKILL),
                  EPERM);
    /* kill(-1) reaches only our own namespace; we survive to report. */
    signal(SIGTERM, SIG_IGN);
    kill(-1, SIGTERM);
    printf("ok kill(-1) did not reach the host (checked by the driver)\n");
    return done();
}

static void on_alarm(int s)
{
    (void)s;
}

static int clocks(void)
{
    struct timeval tv = {.tv_sec = 1000000000};
    refused_errno("settimeofday", settimeofday(&tv, NULL), EPERM);
    struct timespec ts = {.tv_sec = 1000000000};
    refused_errno("clock_settime", clock_settime(CLOCK_REALTIME, &ts), EPERM);
    struct timex tx = {.modes = ADJ_OFFSET, .offset = 1000000};
    refused_errno("adjtimex", syscall(SYS_adjtimex, &tx), EPERM);
    /* timer abuse: as many timers as allowed, and a storm of alarms */
    int n = 0;
    for (; n < 100000; n++) {
        timer_t t;
        struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGALRM};
        if (timer_create(CLOCK_MONOTONIC, &ev, &t) < 0)
            break;
    }
    printf("made %d timers\n", n);
    signal(SIGALRM, on_alarm);
    struct itimerval it = {.it_interval = {0, 1}, .it_value = {0, 1}};
    setitimer(ITIMER_REAL, &it, NULL);
    fflush(stdout);
    for (;;)
        pause();
}

/* abi-i386 DIR / abi-x32 DIR: a mkdir of DIR/<abi>-marker and a write to
 * stdout through the foreign syscall ABI. Where the call took effect, the
 * marker exists afterwards (the driver looks from the host) and the line is
 * in the output; a refusal kills us before either (SIGSYS from the filter,
 * or SIGSEGV from a kernel without that ABI). Run unfiltered on the host,
 * the same program is the driver's control: it shows the effect is there to
 * be seen wherever the kernel has the ABI. */
static int abi32(int which, const char *dir)
{
    const char *abi = which == 0 ? "i386" : "x32";
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* a refusal leaves no core behind */
    /* int 0x80 passes 32-bit registers: the path must live below 4 GiB */
    char *low =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED) {
        printf("mmap below 4 GiB: %s\n", strerror(errno));
        return 2;
    }
    snprintf(low, 2048, "%s/%s-marker", dir, abi);
    char *msg = low + 2048;
    int len = snprintf(msg, 2048, "ESCAPE the %s write ran\n", abi);
    printf("trying %s mkdir %s\n", abi, low);
    fflush(stdout);
    long r, w;
    if (which == 0) {
        /* i386: mkdir = 39, write = 4 */
        __asm__ volatile("int $0x80" : "=a"(r) : "a"(39L), "b"(low), "c"(0755L) : "memory");
        __asm__ volatile("int $0x80"
                         : "=a"(w)
                         : "a"(4L), "b"(1L), "c"(msg), "d"((long)len)
                         : "memory");
    } else {
        /* x32: the 64-bit numbers with __X32_SYSCALL_BIT */
        r = syscall(0x40000000L | SYS_mkdir, low, 0755);
        w = syscall(0x40000000L | SYS_write, 1, msg, len);
    }
    printf("ESCAPE the %s calls returned: mkdir %ld, write %ld\n", abi, r, w);
    return 1;
}

static int fsize(void)
{
    return fill("/box/big");
}

/* links: leave traps in the box for output collection */
static int links(void)
{
    int ok = 0;
    ok |= symlink("/etc/shadow", "/box/out-symlink");
    mkdir("/box/dir", 0755);
    ok |= symlink("/", "/box/dirlink");
    int fd = open("/box/plain", O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) {
        if (write(fd, "good\n", 5) != 5)
            ok = -1;
        close(fd);
    }
    fd = open("/box/linked", O_WRONLY | O_CREAT, 0644);
    if (fd >= 0)
        close(fd);
    ok |= link("/box/linked", "/box/linked2");
    ok |= mkfifo("/box/fifo", 0644);
    /* a hard link to a file outside the box: refused (another filesystem) */
    if (link("/nix/store", "/box/storelink") == 0) {
        printf("ESCAPE hard link to the store\n");
        escapes++;
    }
    printf("traps %s\n", ok == 0 ? "set" : "partly set");
    return done();
}

/* syscalls: the answer of each call the sandbox needs to a harmless probe
 * ("name errno-name" or "name ok"), for test_check.sh to hold against
 * farm-sandbox --check. Written apart from sandbox/features.c on purpose. */
static void answer(const char *name, long r)
{
    printf("%s %s\n", name, r >= 0 ? "ok" : strerrorname_np(errno));
}

static int syscalls(void)
{
    answer("clone3", syscall(SYS_clone3, NULL, (size_t)0));
    answer("openat2", syscall(SYS_openat2, AT_FDCWD, ".", NULL, (size_t)0));
    answer("mount_setattr", syscall(SYS_mount_setattr, -1, "", 0, NULL, (size_t)0));
    answer("close_range", syscall(SYS_close_range, 1000000u, 1000000u, 4u /* CLOEXEC */));
    long fd = syscall(SYS_pidfd_open, getpid(), 0);
    answer("pidfd_open", fd);
    if (fd >= 0)
        close((int)fd);
    return 0;
}

/* Writes "o<i>\n" to stdout and "e<i>\n" to stderr in turn, each only once
 * the previous one has been read off its pipe (FIONREAD 0): the write order
 * is then the order the supervisor saw, without any timing. */
static int interleave(void)
{
    for (int i = 0; i < 4; i++)
        for (int fd = 1; fd <= 2; fd++) {
            char b[8];
            int n = snprintf(b, sizeof b, "%c%d\n", fd == 1 ? 'o' : 'e', i);
            if (write(fd, b, (size_t)n) != n)
                return 1;
            int left = 1;
            while (ioctl(fd, FIONREAD, &left) == 0 && left > 0)
                sched_yield();
        }
    return 0;
}

/* Copies stdin to stdout line by line, each line written as soon as it is
 * read (an interactive program). */
static int echo_lines(void)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0;
        if (write(1, buf, (size_t)n) != n)
            return 1;
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: abuse NAME [ARGS]\n");
        return 64;
    }
    const char *n = argv[1];
    if (!strcmp(n, "forkbomb"))
        return forkbomb();
    if (!strcmp(n, "membomb-malloc"))
        return membomb_malloc();
    if (!strcmp(n, "membomb-mmap"))
        return membomb_mmap();
    if (!strcmp(n, "mem-grab"))
        return mem_grab(argc > 2 ? argv[2] : "malloc");
    if (!strcmp(n, "fill-box"))
        return fill("/box/fill");
    if (!strcmp(n, "fill-tmp"))
        return fill("/tmp/fill");
    if (!strcmp(n, "flood-stdout"))
        return flood(1);
    if (!strcmp(n, "flood-stderr"))
        return flood(2);
    if (!strcmp(n, "lines"))
        return lines();
    if (!strcmp(n, "interleave"))
        return interleave();
    if (!strcmp(n, "echo-lines"))
        return echo_lines();
    if (!strcmp(n, "spin"))
        return spin();
    if (!strcmp(n, "sleep"))
        return sleep_forever();
    if (!strcmp(n, "threads"))
        return threads();
    if (!strcmp(n, "network"))
        return network(argc, argv);
    if (!strcmp(n, "abstract-listen"))
        return abstract_listen(argc, argv);
    if (!strcmp(n, "abstract-connect"))
        return abstract_connect(argc, argv);
    if (!strcmp(n, "ptrace"))
        return ptrace_abuse();
    if (!strcmp(n, "namespaces"))
        return ns_abuse();
    if (!strcmp(n, "read-host"))
        return read_host(argc, argv);
    if (!strcmp(n, "whoami"))
        return whoami();
    if (!strcmp(n, "tiocsti"))
        return tiocsti();
    if (!strcmp(n, "keyring"))
        return keyring();
    if (!strcmp(n, "kernel"))
        return kernel_abuse();
    if (!strcmp(n, "store-write"))
        return store_write(argc, argv);
    if (!strcmp(n, "outlive-session"))
        return outlive(argc, argv, true);
    if (!strcmp(n, "outlive-pgrp"))
        return outlive(argc, argv, false);
    if (!strcmp(n, "signals"))
        return signals(argc, argv);
    if (!strcmp(n, "clocks"))
        return clocks();
    if (!strcmp(n, "abi-i386"))
        return abi32(0, argc > 2 ? argv[2] : "/box");
    if (!strcmp(n, "abi-x32"))
        return abi32(1, argc > 2 ? argv[2] : "/box");
    if (!strcmp(n, "syscalls"))
        return syscalls();
    if (!strcmp(n, "fsize"))
        return fsize();
    if (!strcmp(n, "links"))
        return links();
    if (!strcmp(n, "exit"))
        return argc > 2 ? atoi(argv[2]) : 0;
    if (!strcmp(n, "cat")) {
        char buf[4096];
        ssize_t r;
        while ((r = read(0, buf, sizeof buf)) > 0)
            if (write(1, buf, (size_t)r) != r)
                return 1;
        return 0;
    }
    fprintf(stderr, "abuse: unknown %s\n", n);
    return 64;
}
