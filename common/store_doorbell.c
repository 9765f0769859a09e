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
 * claim and the wait is never lost. Claimers elsewhere just poll.
 *
 * On PostgreSQL the doorbell is LISTEN/NOTIFY on channels farm_<role>, so it
 * rings across machines: NOTIFY after the commit (store_ring_later keeps the
 * same rule), and store_wait waits on the connection's socket. Notifications
 * that arrive while the connection runs other statements are queued by libpq
 * and seen by the next store_wait, so no ring is lost there either. */
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
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

static const char *const store_role_channels[STORE_N_ROLES] = {"farm_worker", "farm_builder",
                                                               "farm_events"};

int store_doorbell_listen(store *s, store_role role)
{
    static unsigned counter; /* several stores in one process get distinct names */
    if ((unsigned)role >= STORE_N_ROLES)
        return -EINVAL;
    if (store_is_pg(s)) {
        int r = db_listen(s->db, store_role_channels[role]);
        if (r < 0)
            return store_fail(s, r);
        s->pg_listening |= 1u << role;
        return 0;
    }
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

static void store_bells_forget(store *s)
{
    for (size_t i = 0; i < s->n_bells; i++)
        free(s->bell_paths[i]);
    free(s->bell_paths);
    free(s->bell_roles);
    s->bell_paths = NULL;
    s->bell_roles = NULL;
    s->n_bells = 0;
    s->bell_cached = false;
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
    store_bells_forget(s);
}

static int store_role_of(const char *name)
{
    size_t n = strlen(name);
    if (n < 5 || strcmp(name + n - 5, ".sock") != 0)
        return -1;
    for (int r = 0; r < STORE_N_ROLES; r++) {
        size_t plen = strlen(store_role_names[r]);
        if (strncmp(name, store_role_names[r], plen) == 0 && name[plen] == '-')
            return r;
    }
    return -1;
}

/* Reads the doorbell directory into the cache. */
static int store_bells_scan(store *s)
{
    store_bells_forget(s);
    DIR *d = opendir(s->doorbell_dir);
    if (!d)
        return -errno;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int role = store_role_of(e->d_name);
        if (role < 0)
            continue;
        if (s->n_bells == cap) {
            size_t nc = cap ? cap * 2 : 8;
            char **np = realloc(s->bell_paths, nc * sizeof(*np));
            if (np)
                s->bell_paths = np;
            unsigned char *nr = realloc(s->bell_roles, nc);
            if (nr)
                s->bell_roles = nr;
            if (!np || !nr)
                break;
            cap = nc;
        }
        char *p = store_strdupf("%s/%s", s->doorbell_dir, e->d_name);
        if (!p)
            break;
        s->bell_paths[s->n_bells] = p;
        s->bell_roles[s->n_bells++] = (unsigned char)role;
    }
    closedir(d);
    return 0;
}

/* The listing is re-read when the directory changed since the last scan, and
 * also while its mtime is recent: mtimes tick coarsely (a few ms), so a
 * socket bound in the same tick as the last change would otherwise be missed. */
static bool store_bells_fresh(store *s, const struct stat *st)
{
    if (!s->bell_cached || st->st_mtim.tv_sec != s->bell_mtime.tv_sec ||
        st->st_mtim.tv_nsec != s->bell_mtime.tv_nsec)
        return false;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t age_ms = (int64_t)(now.tv_sec - st->st_mtim.tv_sec) * 1000 +
                     (now.tv_nsec - st->st_mtim.tv_nsec) / 1000000;
    return age_ms > 200;
}

void store_doorbell_notify_sql(unsigned mask, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int r = 0; r < STORE_N_ROLES; r++)
        if (mask & (1u << r))
            n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "NOTIFY %s; ",
                                  store_role_channels[r]);
}

void store_ring_mask(store *s, unsigned mask)
{
    if (store_is_pg(s)) {
        for (int r = 0; r < STORE_N_ROLES; r++)
            if (mask & (1u << r))
                db_notify(s->db, store_role_channels[r]); /* a lost ring costs one poll */
        return;
    }
    if (!s->doorbell_dir || !mask)
        return;
    struct stat st;
    if (stat(s->doorbell_dir, &st) < 0)
        return; /* no directory: nobody has ever listened */
    if (!store_bells_fresh(s, &st)) {
        if (store_bells_scan(s) < 0)
            return;
        s->bell_mtime = st.st_mtim;
        s->bell_cached = true;
    }
    if (s->send_fd < 0) {
        s->send_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->send_fd < 0)
            return;
    }
    for (size_t i = 0; i < s->n_bells; i++) {
        if (!(mask & (1u << s->bell_roles[i])))
            continue;
        struct sockaddr_un sa;
        if (store_doorbell_addr(s->bell_paths[i], &sa) < 0)
            continue;
        if (sendto(s->send_fd, "!", 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa,
                   sizeof(sa)) < 0 &&
            (errno == ECONNREFUSED || errno == ENOENT)) {
            unlink(s->bell_paths[i]); /* nobody is bound: its process is gone */
            s->bell_cached = false;
        }
    }
}

void store_ring(store *s, store_role role)
{
    if ((unsigned)role < STORE_N_ROLES)
        store_ring_mask(s, 1u << role);
}

int store_wait(store *s, int timeout_ms)
{
    if (store_is_pg(s) && s->pg_listening) {
        int r = db_wait_notify(s->db, timeout_ms);
        return r < 0 ? store_fail(s, r) : r;
    }
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
