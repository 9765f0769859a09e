/* leftovers.c — hostile programs that try to leave something of a run behind
 * them (issue 20), one function per attack, a multi-call binary: argv[1] names
 * it. Built static for the library tests (test_leftovers.c); the end-to-end
 * test (tests/e2e/test_leftovers.sh) submits this very file with profile "c".
 *
 * The trick they share: descriptors sent with SCM_RIGHTS over a unix socket
 * pair and never received, in a reference cycle (each socket of the pair in
 * flight in the other's queue). After the program exits, only the kernel's
 * unix garbage collector frees them.
 *
 *   hide-stdio              write a line, hide stdout/stderr in a cycle, exit 0
 *   pin-mem MIB             fill MIB of memfd, hide it in a cycle, exit 0
 *   alloc MIB               touch MIB of anonymous memory, print "allocated"
 *   sock-leave PORT NAME    bind TCP PORT (listening) and abstract unix @NAME,
 *                           hide both in a cycle, exit 0
 *   sock-probe PORT NAME    print name-bound|name-free, port-busy|port-free
 *   null-watch GO|MS        inotify on fd 0 and /dev/null, futimens on both;
 *                           wait until file GO exists (or MS milliseconds),
 *                           print "events N"
 *   uevent GO               listen to kernel uevents until file GO exists,
 *                           print "uevents N"
 *
 * Files named READY are made next to GO (GO with ".ready") when the watch is
 * in place, so that a driver knows when to act. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int send_fds(int sock, const int *fds, int n)
{
    char byte = 'x';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    char ctl[CMSG_SPACE(sizeof(int) * 8)];
    memset(ctl, 0, sizeof ctl);
    struct msghdr m = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = ctl,
                       .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
    return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

/* Puts fds (up to 6) in flight in a cycle, then closes every descriptor. */
static int hide(const int *fds, int n)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0) {
        perror("socketpair");
        return 1;
    }
    int a[8] = {sv[0]};
    memcpy(a + 1, fds, sizeof(int) * (size_t)n);
    int b[1] = {sv[1]};
    if (send_fds(sv[0], a, n + 1) < 0 || send_fds(sv[1], b, 1) < 0) {
        perror("sendmsg");
        return 1;
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

static int hide_stdio(void)
{
    printf("hidden\n");
    fflush(stdout);
    int fds[2] = {dup(1), dup(2)};
    if (fds[0] < 0 || fds[1] < 0)
        return 1;
    return hide(fds, 2);
}

static int pin_mem(long mib)
{
    int fd = memfd_create("pin", 0);
    if (fd < 0) {
        perror("memfd_create");
        return 1;
    }
    static char chunk[1 << 20];
    memset(chunk, 'p', sizeof chunk);
    for (long i = 0; i < mib; i++)
        if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk) {
            perror("write memfd");
            return 1;
        }
    printf("pinned %ld MiB\n", mib);
    fflush(stdout);
    return hide(&fd, 1);
}

static int alloc(long mib)
{
    size_t n = (size_t)mib << 20;
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    for (size_t i = 0; i < n; i += 4096)
        p[i] = 1;
    printf("allocated %ld MiB\n", mib);
    return 0;
}

static socklen_t abstract_addr(struct sockaddr_un *a, const char *name)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(name);
    if (n > sizeof a->sun_path - 2)
        n = sizeof a->sun_path - 2;
    memcpy(a->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int tcp_socket_on(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    in.sin_addr.s_addr = htonl(INADDR_ANY);
    if (s < 0 || bind(s, (struct sockaddr *)&in, sizeof in) < 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    return s;
}

static int sock_leave(int port, const char *name)
{
    int t = tcp_socket_on(port);
    if (t < 0 || listen(t, 4) < 0) {
        perror("tcp listen");
        return 1;
    }
    int u = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a;
    socklen_t al = abstract_addr(&a, name);
    if (u < 0 || bind(u, (struct sockaddr *)&a, al) < 0) {
        perror("abstract bind");
        return 1;
    }
    printf("left port %d and @%s\n", port, name);
    fflush(stdout);
    int fds[2] = {t, u};
    return hide(fds, 2);
}

static int sock_probe(int port, const char *name)
{
    int u = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a;
    socklen_t al = abstract_addr(&a, name);
    bool bound = u >= 0 && sendto(u, "hi", 2, 0, (struct sockaddr *)&a, al) == 2;
    printf("%s\n", bound ? "name-bound" : "name-free");
    int t = tcp_socket_on(port);
    printf("%s\n", t < 0 && errno == EADDRINUSE ? "port-busy" : t >= 0 ? "port-free" : "port-?");
    return 0;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void mark_ready(const char *go)
{
    char p[512];
    snprintf(p, sizeof p, "%s.ready", go);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
}

/* Waits for file go (a path) or for go milliseconds (a number). */
static void wait_go(const char *go)
{
    char *end;
    long ms = strtol(go, &end, 10);
    if (*end == 0) {
        sleep_ms(ms);
        return;
    }
    mark_ready(go);
    while (!exists(go))
        sleep_ms(1);
}

static int null_watch(const char *go)
{
    struct stat st;
    if (fstat(0, &st) == 0)
        printf("stdin mode %o dev %u:%u ino %lu\n", st.st_mode & S_IFMT, major(st.st_rdev),
               minor(st.st_rdev), (unsigned long)st.st_ino);
    int in = inotify_init1(IN_NONBLOCK);
    if (in < 0) {
        perror("inotify_init1");
        return 1;
    }
    int w0 = inotify_add_watch(in, "/proc/self/fd/0", IN_ALL_EVENTS);
    int w1 = inotify_add_watch(in, "/dev/null", IN_ALL_EVENTS);
    printf("watch fd0 %s, /dev/null %s\n", w0 >= 0 ? "set" : strerror(errno),
           w1 >= 0 ? "set" : "refused");
    /* Timestamps: on a host inode this would be visible to the host. */
    struct timespec old[2] = {{.tv_sec = 1, .tv_nsec = 0}, {.tv_sec = 1, .tv_nsec = 0}};
    printf("futimens fd0 %s\n", futimens(0, old) == 0 ? "done" : "refused");
    fflush(stdout);
    wait_go(go);
    /* Our own accesses (none since the watch) do not count; the host's do. */
    char buf[4096] __attribute__((aligned(8)));
    long events = 0;
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            events++;
            p += sizeof *e + e->len;
        }
    printf("events %ld\n", events);
    return 0;
}

static int uevent(const char *go)
{
    int s = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
    struct sockaddr_nl a = {.nl_family = AF_NETLINK, .nl_groups = 1};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) {
        printf("uevent socket refused (%s)\n", strerror(errno));
        printf("uevents 0\n");
        return 0;
    }
    wait_go(go);
    char buf[8192];
    long n = 0;
    while (recv(s, buf, sizeof buf, 0) > 0)
        n++;
    printf("uevents %ld\n", n);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "hide-stdio"))
        return hide_stdio();
    if (!strcmp(what, "pin-mem") && argc > 2)
        return pin_mem(atol(argv[2]));
    if (!strcmp(what, "alloc") && argc > 2)
        return alloc(atol(argv[2]));
    if (!strcmp(what, "sock-leave") && argc > 3)
        return sock_leave(atoi(argv[2]), argv[3]);
    if (!strcmp(what, "sock-probe") && argc > 3)
        return sock_probe(atoi(argv[2]), argv[3]);
    if (!strcmp(what, "null-watch") && argc > 2)
        return null_watch(argv[2]);
    if (!strcmp(what, "uevent") && argc > 2)
        return uevent(argv[2]);
    fprintf(stderr, "usage: leftovers hide-stdio|pin-mem MIB|alloc MIB|sock-leave PORT NAME|"
                    "sock-probe PORT NAME|null-watch GO|MS|uevent GO\n");
    return 64;
}
