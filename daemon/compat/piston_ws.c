/* piston_ws.c — the WebSocket transport of Piston's /api/v2/connect: the
 * RFC 6455 handshake on libmicrohttpd's upgrade, then frames by libwslay on
 * the upgraded socket. The Piston protocol itself is piston_ws_proto.c.
 *
 * Theory of operation. The API runs one thread per connection, and in that
 * mode libmicrohttpd lets the upgrade handler block: the whole session runs
 * in it. One loop: poll() the socket (read when wslay wants to, write when
 * it has frames queued), let wslay parse what came (pings, fragments,
 * masking and close handshakes are its business) and hand each whole
 * message to the protocol, then tick the protocol (init timeout, live
 * output). The poll timeout is short while a job runs, because output
 * arrives through the store (the EVENTS doorbell moves api_bell's
 * generation, which the tick checks), not through a descriptor this loop
 * could poll. After our close frame the loop waits up to
 * WS_CLOSE_LINGER_MS for the client's, then gives the socket back to
 * libmicrohttpd to close. */
#include "piston_ws.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/sha.h>
#include <wslay/wslay.h>

#include "../../common/base64.h"
#include "../../common/cleanup.h"
#include "../../common/log.h"
#include "../../common/monotime.h"
#include "compat.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_TICK_IDLE_MS 100 /* poll timeout before init */
#define WS_TICK_RUN_MS 20   /* poll timeout while a job runs: output latency bound */
#define WS_CLOSE_LINGER_MS 1000

typedef struct {
    int sock;
    const char *extra; /* bytes libmicrohttpd read past the request head */
    size_t extra_len;
    wslay_event_context_ptr ws;
    piston_ws_proto *proto;
    bool close_queued; /* the protocol asked to close (no more messages) */
    bool close_sent;   /* the close frame is queued in wslay */
    uint16_t close_code;
    char close_reason[124]; /* a close frame's reason is at most 123 bytes */
    int64_t close_at_ms;
    bool peer_gone;
} ws_session;

/* ---- wslay callbacks ---- */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    ws_session *s = user;
    (void)flags;
    if (s->extra_len) {
        size_t n = len < s->extra_len ? len : s->extra_len;
        memcpy(buf, s->extra, n);
        s->extra += n;
        s->extra_len -= n;
        return (ssize_t)n;
    }
    ssize_t n;
    do
        n = recv(s->sock, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        return n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    s->peer_gone = true; /* EOF or a reset */
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    ws_session *s = user;
    int f = MSG_NOSIGNAL | ((flags & WSLAY_MSG_MORE) ? MSG_MORE : 0);
    ssize_t n;
    do
        n = send(s->sock, data, len, f);
    while (n < 0 && errno == EINTR);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    s->peer_gone = true;
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    ws_session *s = user;
    (void)ctx;
    if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME) {
        if (!s->close_queued)
            piston_ws_proto_message(s->proto, arg->msg, arg->msg_length);
    }
    /* WSLAY_CONNECTION_CLOSE: wslay answers it; the loop sees it. */
}

/* ---- what the protocol calls ---- */

static int io_send_text(void *transport, char *text)
{
    ws_session *s = transport;
    if (!text)
        return -ENOMEM;
    if (s->close_queued) {
        free(text);
        return 0;
    }
    struct wslay_event_msg m = {
        .opcode = WSLAY_TEXT_FRAME, .msg = (const uint8_t *)text, .msg_length = strlen(text)};
    int r = wslay_event_queue_msg(s->ws, &m); /* copies the payload */
    free(text);
    return r == 0 ? 0 : -EIO;
}

static void io_close(void *transport, uint16_t code, const char *reason)
{
    ws_session *s = transport;
    if (s->close_queued)
        return;
    s->close_queued = true;
    s->close_code = code;
    snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason ? reason : "");
}

/* wslay sends control frames ahead of queued messages, and nothing after a
 * close: the close frame waits until the messages before it are out. */
static void flush_close(ws_session *s)
{
    if (!s->close_queued || s->close_sent || wslay_event_get_queued_msg_count(s->ws) > 0)
        return;
    s->close_sent = true;
    s->close_at_ms = monotime_ms();
    wslay_event_queue_close(s->ws, s->close_code, (const uint8_t *)s->close_reason,
                            strlen(s->close_reason));
}

/* ---- the session ---- */

static void ws_loop(ws_session *s, api_ctx *ctx)
{
    for (;;) {
        int64_t now = monotime_ms();
        if (*ctx->stop && !s->close_queued)
            io_close(s, 1001, "Server shutting down");
        piston_ws_proto_tick(s->proto, now);
        flush_close(s);
        if (s->peer_gone)
            break;
        if (s->close_sent &&
            (wslay_event_get_close_received(s->ws) || now - s->close_at_ms > WS_CLOSE_LINGER_MS) &&
            !wslay_event_want_write(s->ws))
            break;
        bool rd = wslay_event_want_read(s->ws), wr = wslay_event_want_write(s->ws);
        if (!rd && !wr)
            break;
        if (s->extra_len && rd) {
            if (wslay_event_recv(s->ws) != 0)
                break;
            continue;
        }
        struct pollfd p = {.fd = s->sock,
                           .events = (short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0))};
        int timeout = piston_ws_proto_running(s->proto) ? WS_TICK_RUN_MS : WS_TICK_IDLE_MS;
        int n = poll(&p, 1, timeout);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if ((p.revents & (POLLIN | POLLHUP | POLLERR)) && rd && wslay_event_recv(s->ws) != 0)
            break;
        if ((p.revents & POLLOUT) && wslay_event_send(s->ws) != 0)
            break;
        if ((p.revents & (POLLHUP | POLLERR)) && !rd)
            break;
    }
}

/* Who the caller is, again: the dispatcher checked the scope before the
 * 101, but its identity does not outlive the handler. */
static int ws_identify(api_call *c)
{
    char token[512] = "", bearer[600], err[256];
    const char *authz = NULL;
    if (piston_token(c->req->conn, token, sizeof(token)) > 0) {
        snprintf(bearer, sizeof(bearer), "Bearer %s", token);
        authz = bearer;
    }
    int r =
        auth_identify(c->ctx->auth, c->st, authz, c->req->client_addr, &c->who, err, sizeof(err));
    if (r < 0)
        return r;
    return (c->who.scopes & AUTH_SUBMIT) == AUTH_SUBMIT ? 0 : -EACCES;
}

static void ws_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
                        size_t extra_in_size, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh)
{
    api_ctx *ctx = cls;
    http_req *req = con_cls;
    api_call c = {.ctx = ctx, .front = &compat_piston, .req = req};
    ws_session s = {.sock = sock, .extra = extra_in, .extra_len = extra_in_size};
    struct wslay_event_callbacks cb = {
        .recv_callback = ws_recv, .send_callback = ws_send, .on_msg_recv_callback = ws_on_msg};
    piston_ws_io io = {.send_text = io_send_text, .close = io_close, .transport = &s};
    char err[512] = "";
    (void)conn;

    int fl = fcntl(sock, F_GETFL);
    if (fl >= 0)
        fcntl(sock, F_SETFL, fl | O_NONBLOCK);
    if (wslay_event_context_server_init(&s.ws, &cb, &s) != 0) {
        log_error("piston-ws-failed error=\"out of memory\"");
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    wslay_event_config_set_max_recv_msg_length(s.ws, (uint64_t)ctx->max_body);
    c.st = api_pool_get(ctx->pool, err, sizeof(err));
    if (!c.st) {
        log_error("piston-ws-failed error=\"%s\"", err);
        io_close(&s, 1011, "the database is not available");
    } else if (ws_identify(&c) < 0) {
        io_close(&s, 1008, "not allowed");
    } else if (!(s.proto = piston_ws_proto_new(&c, &io))) {
        io_close(&s, 1011, "out of memory");
    }
    log_debug("piston-ws-open client=%s", req->client_addr);
    ws_loop(&s, ctx);
    piston_ws_proto_free(s.proto);
    wslay_event_context_free(s.ws);
    if (c.st)
        api_pool_put(ctx->pool, c.st);
    log_debug("piston-ws-closed client=%s", req->client_addr);
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

/* ---- the handshake ---- */

/* true when the comma-separated header value v holds token (any case). */
static bool header_has_token(const char *v, const char *token)
{
    size_t tl = strlen(token);
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t n = strcspn(v, ",");
        size_t m = n;
        while (m && (v[m - 1] == ' ' || v[m - 1] == '\t'))
            m--;
        if (m == tl && !strncasecmp(v, token, tl))
            return true;
        v += n;
    }
    return false;
}

enum MHD_Result piston_ws_connect(api_call *c)
{
    const char *up = http_header(c->req, "Upgrade");
    const char *connection = http_header(c->req, "Connection");
    const char *version = http_header(c->req, "Sec-WebSocket-Version");
    const char *key = http_header(c->req, "Sec-WebSocket-Key");

    if (!up || !header_has_token(up, "websocket") || !connection ||
        !header_has_token(connection, "upgrade"))
        return compat_reply_field(c, "message", 400,
                                  "/api/v2/connect is a WebSocket: send Upgrade: websocket");
    if (!version || strcmp(version, "13") != 0) {
        struct MHD_Response *r = MHD_create_response_from_buffer(
            strlen("{\"message\":\"Sec-WebSocket-Version must be 13\"}"),
            (void *)"{\"message\":\"Sec-WebSocket-Version must be 13\"}", MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, "Sec-WebSocket-Version", "13");
        MHD_add_response_header(r, "Content-Type", "application/json");
        return http_reply_response(c->req, 426, r);
    }
    _cleanup_free_ unsigned char *raw = NULL;
    size_t raw_len = 0;
    if (!key || base64_decode(key, strlen(key), &raw, &raw_len) < 0 || raw_len != 16)
        return compat_reply_field(c, "message", 400,
                                  "Sec-WebSocket-Key must be 16 bytes in base64");
    char buf[128];
    unsigned char digest[SHA_DIGEST_LENGTH];
    snprintf(buf, sizeof(buf), "%s%s", key, WS_GUID);
    SHA1((const unsigned char *)buf, strlen(buf), digest);
    _cleanup_free_ char *accept = base64_encode(digest, sizeof(digest));
    struct MHD_Response *r = accept ? MHD_create_response_for_upgrade(ws_upgraded, c->ctx) : NULL;
    if (!r)
        return compat_reply_field(c, "message", 500, "out of memory");
    MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
    return http_reply_response(c->req, MHD_HTTP_SWITCHING_PROTOCOLS, r);
}
