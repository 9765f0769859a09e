/* gitsrc_net.c — the socket stream libgit2 uses for a git source's fetch.
 *
 * Why our own stream: the API checks a URL's host without DNS when a
 * submission arrives, but a name can resolve to anything at fetch time (and
 * change between a check and a connect: DNS rebinding), and an http redirect
 * can name another host. libgit2 1.5 has no resolve override, but it opens
 * every plain socket — also the one beneath TLS, and the one after a
 * redirect — through the registered GIT_STREAM_STANDARD constructor. So
 * resolving, checking every address (common/netaddr.h) and connecting to the
 * checked address here pins the connection to what was checked. */
#include "gitsrc_net.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <git2.h>
#include <git2/sys/stream.h>

#include "cleanup.h"
#include "netaddr.h"

/* The fetch child is single-threaded and does one fetch: plain statics. */
static bool gitsrc_net_allow_private;
static char gitsrc_net_refused[512];

typedef struct {
    git_stream parent;
    char *host;
    char *port;
    int fd;
} gitsrc_net_stream;

static int gitsrc_net_connect(git_stream *stream)
{
    gitsrc_net_stream *s = (gitsrc_net_stream *)stream;
    char addr[64] = "";
    int gai = 0;
    int r = netaddr_resolve_checked(s->host, s->port, gitsrc_net_allow_private, addr, sizeof addr,
                                    &gai);
    if (r == -EACCES) {
        snprintf(gitsrc_net_refused, sizeof gitsrc_net_refused,
                 "source.git.url: %s resolves to %s, a loopback, private or reserved address "
                 "(refused unless git.allow_private)",
                 s->host, addr);
        git_error_set_str(GIT_ERROR_NET, gitsrc_net_refused);
        return -1;
    }
    if (r < 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "cannot resolve %s: %s", s->host, gai_strerror(gai));
        git_error_set_str(GIT_ERROR_NET, msg);
        return -1;
    }
    /* Connect to the literal we checked: no second lookup. */
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
    _cleanup_addrinfo_ struct addrinfo *res = NULL;
    if (getaddrinfo(addr, s->port, &hints, &res) != 0 || !res) {
        git_error_set_str(GIT_ERROR_NET, "cannot use the resolved address");
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "cannot connect to %s (%s) port %s: %s", s->host, addr, s->port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        git_error_set_str(GIT_ERROR_NET, msg);
        return -1;
    }
    s->fd = fd;
    return 0;
}

static ssize_t gitsrc_net_read(git_stream *stream, void *data, size_t len)
{
    gitsrc_net_stream *s = (gitsrc_net_stream *)stream;
    ssize_t n;
    while ((n = recv(s->fd, data, len, 0)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        git_error_set_str(GIT_ERROR_NET, strerror(errno));
    return n;
}

static ssize_t gitsrc_net_write(git_stream *stream, const char *data, size_t len, int flags)
{
    (void)flags;
    gitsrc_net_stream *s = (gitsrc_net_stream *)stream;
    ssize_t n;
    while ((n = send(s->fd, data, len, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        git_error_set_str(GIT_ERROR_NET, strerror(errno));
    return n;
}

static int gitsrc_net_close(git_stream *stream)
{
    gitsrc_net_stream *s = (gitsrc_net_stream *)stream;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    return 0;
}

static void gitsrc_net_free(git_stream *stream)
{
    gitsrc_net_stream *s = (gitsrc_net_stream *)stream;
    gitsrc_net_close(stream);
    free(s->host);
    free(s->port);
    free(s);
}

static int gitsrc_net_new(git_stream **out, const char *host, const char *port)
{
    gitsrc_net_stream *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->fd = -1;
    s->host = strdup(host);
    s->port = strdup(port);
    if (!s->host || !s->port) {
        gitsrc_net_free(&s->parent);
        return -1;
    }
    s->parent.version = GIT_STREAM_VERSION;
    s->parent.connect = gitsrc_net_connect;
    s->parent.read = gitsrc_net_read;
    s->parent.write = gitsrc_net_write;
    s->parent.close = gitsrc_net_close;
    s->parent.free = gitsrc_net_free;
    *out = &s->parent;
    return 0;
}

int gitsrc_net_install(bool allow_private)
{
    gitsrc_net_allow_private = allow_private;
    gitsrc_net_refused[0] = '\0';
    git_stream_registration reg = {.version = GIT_STREAM_VERSION, .init = gitsrc_net_new};
    return git_stream_register(GIT_STREAM_STANDARD, &reg) < 0 ? -EIO : 0;
}

const char *gitsrc_net_refusal(void)
{
    return gitsrc_net_refused[0] ? gitsrc_net_refused : NULL;
}
