/* store_doorbell.c — wake-up of claimers on this machine in microseconds.
 *
 * Each listening process binds a UNIX datagram socket at
 * <state_dir>/doorbell/<role>-<pid>-<n>.sock (filesystem sockets, not abstract
 * ones, so a network namespace or a chroot boundary is visible in the path and
 * stale files can be found). A write that makes work claimable sends one byte,
 * non-blocking, to every socket of the role after its transaction commits. A
 * full receive queue (EAGAIN) means the listener already has a ring pending; a
 * refused send means nobody is bound any more, so the file is unlinked. The
 * datagram stays queued until store_wait drains it, so a ring between a failed
 * claim and the wait is never lost. Claimers elsewhere just poll. */
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const char *const store_role_names[STORE_N_ROLES] = {"worker", "builder", "events"};

static int store_doorbell_addr(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return -ENAMETOOLONG;
    strcpy(sa->sun_path, path);
    return 0;
}

int store_doorbell_listen(store *s, store_role role)
{
    static unsigned counter; /* several stores in one process get distinct names */
    if ((unsigned)role >= STORE_N_ROLES)
        return -EINVAL;
    if (!s->doorbell_dir)
        return -ENOTCONN;
    if (s->listen_fd[role] >= 0)
        return 0;
    if (mkdir(s->state_dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    if (mkdir(s->doorbell_dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s-%d-%u.sock", s->doorbell_dir, store_role_names[role], (int)getpid(),
                 __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED)) < 0) {
        path = NULL;
        return -ENOMEM;
    }
    struct sockaddr_un sa;
    int r = store_doorbell_addr(path, &sa);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    unlink(path); /* a dead process with our pid left it behind */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -errno;
    s->listen_fd[role] = steal_fd(&fd);
    s->listen_path[role] = steal_pointer(&path);
    return 0;
}

void store_doorbell_close(store *s)
{
    for (int i = 0; i < STORE_N_ROLES; i++) {
        if (s->listen_fd[i] >= 0) {
            close(s->listen_fd[i]);
            s->listen_fd[i] = -1;
        }
        if (s->listen_path[i]) {
            unlink(s->listen_path[i]);
            free(s->listen_path[i]);
            s->listen_path[i] = NULL;
        }
    }
    if (s->send_fd >= 0) {
        close(s->send_fd);
        s->send_fd = -1;
    }
}

void store_ring(store *s, store_role role)
{
    if (!s->doorbell_dir || (unsigned)role >= STORE_N_ROLES)
        return;
    if (s->send_fd < 0) {
        s->send_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->send_fd < 0)
            return;
    }
    DIR *d = opendir(s->doorbell_dir);
    if (!d)
        return;
    const char *prefix = store_role_names[role];
    size_t plen = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, prefix, plen) != 0 || e->d_name[plen] != '-' || n < 5 ||
            strcmp(e->d_name + n - 5, ".sock") != 0)
            continue;
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        if (snprintf(path, sizeof(path), "%s/%s", s->doorbell_dir, e->d_name) >= (int)sizeof(path))
            continue;
        struct sockaddr_un sa;
        if (store_doorbell_addr(path, &sa) < 0)
            continue;
        if (sendto(s->send_fd, "!", 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa,
                   sizeof(sa)) < 0 &&
            (errno == ECONNREFUSED || errno == ENOENT))
            unlink(path); /* nobody is bound: its process is gone */
    }
    closedir(d);
}

int store_wait(store *s, int timeout_ms)
{
    struct pollfd p[STORE_N_ROLES];
    nfds_t n = 0;
    for (int i = 0; i < STORE_N_ROLES; i++)
        if (s->listen_fd[i] >= 0)
            p[n++] = (struct pollfd){.fd = s->listen_fd[i], .events = POLLIN};
    int r = poll(n ? p : NULL, n, timeout_ms);
    if (r < 0)
        return errno == EINTR ? 0 : -errno;
    if (r == 0)
        return 0;
    char buf[64];
    for (nfds_t i = 0; i < n; i++)
        if (p[i].revents & POLLIN)
            while (recv(p[i].fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
                ;
    return 1;
}
