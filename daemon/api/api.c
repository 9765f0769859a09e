/* api.c — farmd's HTTP API role: start-up checks, libmicrohttpd, dispatch.
 * See api.h for the theory of operation. */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../builder/builder.h"
#include "../../common/cleanup.h"
#include "../../common/log.h"
#include "../compat/compat.h"
#include "../roles.h"

/* ---- listen address ---- */

/* Parses "host:port", "[v6]:port" or ":port" into *ss. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *sslen, char *err,
                        size_t errlen)
{
    char host[256];
    const char *port;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof(host))
            goto bad;
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof(host))
            goto bad;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        port = colon + 1;
    }
    if (!*port)
        goto bad;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int r = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (r != 0) {
        snprintf(err, errlen, "api.listen \"%s\": %s", spec, gai_strerror(r));
        return -EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
bad:
    snprintf(err, errlen, "api.listen \"%s\" is not host:port", spec);
    return -EINVAL;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
    return false;
}

/* ---- dispatch ---- */

/* One libmicrohttpd daemon: the main listener (front NULL: v1 routes, then
 * every enabled front's) or a front's own (only its routes). */
typedef struct api_listener {
    api_ctx *ctx;
    const compat_front *front;
    struct MHD_Daemon *d;
} api_listener;

/* The refusal in the style of the route's front (v1 error when none). */
static enum MHD_Result refuse(api_call *c, unsigned status, const char *code, const char *field,
                              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static enum MHD_Result refuse(api_call *c, unsigned status, const char *code, const char *field,
                              const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->front)
        return compat_reply_refusal(c->front, c, status, code, msg);
    return http_reply_error(c->req, status, code, field, "%s", msg);
}

/* Who is calling: the v1 Authorization header, or the front's own. */
static int identify(api_call *c, char *err, size_t errlen)
{
    const char *authz = http_header(c->req, MHD_HTTP_HEADER_AUTHORIZATION);
    char bearer[600];
    if (c->front && c->front->token_from_request) {
        char token[512] = "";
        int r = c->front->token_from_request(c->req->conn, token, sizeof(token));
        if (r < 0) {
            snprintf(err, errlen, "the token header cannot be read");
            return -EACCES;
        }
        authz = NULL;
        if (r > 0) {
            snprintf(bearer, sizeof(bearer), "Bearer %s", token);
            authz = bearer;
        }
    }
    return auth_identify(c->ctx->auth, c->st, authz, c->req->client_addr, &c->who, err, errlen);
}

static enum MHD_Result dispatch(api_listener *l, http_req *req)
{
    api_ctx *ctx = l->ctx;
    api_call c = {.ctx = ctx, .req = req};
    bool known = false;
    const api_route *route = NULL;
    if (!l->front)
        route = api_route_match(req->method, req->url, c.param, sizeof(c.param), &known);
    if (!route && !known)
        route = compat_route_match(ctx->cfg, l->front, req->method, req->url, c.param,
                                   sizeof(c.param), &known, &c.front);
    if (l->front && !c.front)
        c.front = l->front; /* a front's listener answers in its style */
    if (c.front && c.front->cors) {
        req->cors = true;
        if (!strcmp(req->method, "OPTIONS") && (route || known))
            return http_reply_text(req, 204, "text/plain", "");
    }
    if (req->body_too_large)
        return refuse(&c, 413, "body_too_large", "body",
                      "the body is larger than %lld bytes (api.max_body_bytes)", ctx->max_body);
    if (!route) {
        if (known)
            return refuse(&c, 405, "method_not_allowed", NULL, "%s is not allowed on %s",
                          req->method, req->url);
        return refuse(&c, 404, "not_found", NULL, "no such endpoint");
    }
    char err[512] = "";
    c.st = api_pool_get(ctx->pool, err, sizeof(err));
    if (!c.st) {
        log_error("store-open-failed error=\"%s\"", err);
        return refuse(&c, 503, "unavailable", NULL, "the database is not available");
    }
    enum MHD_Result ret;
    if (route->scope) {
        int r = identify(&c, err, sizeof(err));
        if (r == -EACCES) {
            ret = refuse(&c, 401, "unauthorized", "Authorization", "%s", err);
            goto out;
        }
        if (r < 0) {
            ret = refuse(&c, 500, "internal", NULL, "%s", err);
            goto out;
        }
        if ((c.who.scopes & route->scope) != route->scope) {
            ret = refuse(&c, 403, "forbidden", "Authorization", "this call needs the %s scope",
                         auth_scope_name(route->scope));
            goto out;
        }
        int wait = auth_rate_take(ctx->auth, c.st, &c.who);
        if (wait > 0) {
            metrics_count(ctx->metrics, METRIC_REJECTED_RATE, 1);
            req->retry_after_s = wait;
            ret =
                refuse(&c, 429, "rate_limited", NULL, "too many requests; retry after %d s", wait);
            goto out;
        }
    }
    ret = route->fn(&c);
out:
    api_pool_put(ctx->pool, c.st);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    api_listener *l = cls;
    api_ctx *ctx = l->ctx;
    http_req *req = *con_cls;
    if (!req) {
        req = http_req_new(conn, method, url, (size_t)ctx->max_body);
        if (!req)
            return MHD_NO;
        *con_cls = req;
        /* A body announced far past the cap is refused before it is read
         * (the connection closes after the answer); one just past it is
         * read and dropped so an ordinary client sees a clean 413. */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) / 4 > (unsigned long long)ctx->max_body) {
            req->body_too_large = true;
            return dispatch(l, req);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        http_req_feed(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        /* A body without a length (chunked) could run on forever: past the
         * bound of an announced one, answer now (the connection closes). */
        if (req->body_too_large && !req->status &&
            req->body_dropped / 4 > (unsigned long long)ctx->max_body)
            return dispatch(l, req);
        return MHD_YES;
    }
    if (req->status) /* already answered (cannot happen twice, but be safe) */
        return MHD_YES;
    return dispatch(l, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    api_ctx *ctx = ((api_listener *)cls)->ctx;
    http_req *req = *con_cls;
    if (!req)
        return;
    if (req->status) {
        metrics_count_status(ctx->metrics, req->status);
        log_debug("http method=%s path=%s status=%u client=%s", req->method, req->url, req->status,
                  req->client_addr);
    }
    http_req_free(req);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    log_debug("mhd msg=\"%s\"", buf);
}

/* ---- the role ---- */

static void ctx_done(api_ctx *ctx)
{
    api_bell_stop(ctx->bell);
    api_pool_free(ctx->pool);
    profiles_free(ctx->profiles);
    auth_free(ctx->auth);
    metrics_free(ctx->metrics);
    pthread_mutex_destroy(&ctx->depth_lock);
}

static int ctx_init(api_ctx *ctx, const config *cfg, volatile sig_atomic_t *stop, char *err,
                    size_t errlen)
{
    memset(ctx, 0, sizeof(*ctx));
    pthread_mutex_init(&ctx->depth_lock, NULL);
    ctx->cfg = cfg;
    ctx->stop = stop;
    ctx->max_body = config_int(cfg, "api.max_body_bytes");
    ctx->max_queue = config_int(cfg, "api.max_queue");
    ctx->batch_max = config_int(cfg, "api.batch_max");
    ctx->wait_timeout_ms = config_int(cfg, "api.wait_timeout_ms");
    ctx->wait_bonus = config_int(cfg, "api.wait_priority_bonus");
    ctx->stale_ms = config_int(cfg, "health.heartbeat_stale_ms");
    ctx->poll_ms = config_int(cfg, "queue.poll_ms");
    if (ctx->max_body < 1024)
        ctx->max_body = 1024;
    if (ctx->poll_ms < 10)
        ctx->poll_ms = 10;
    request_opts_from_config(&ctx->ropts, cfg);
    int r;
    if ((r = profiles_load(cfg, &ctx->profiles, err, errlen)) < 0)
        return r;
    ctx->ropts.profiles = ctx->profiles;
    if ((r = auth_new(cfg, &ctx->auth, err, errlen)) < 0)
        return r;
    if (!(ctx->metrics = metrics_new()))
        return -ENOMEM;
    if ((r = api_pool_new(cfg, 64, &ctx->pool, err, errlen)) < 0)
        return r;
    if ((r = api_bell_start(cfg, stop, &ctx->bell, err, errlen)) < 0)
        return r;
    return 0;
}

/* Refuses an address beyond loopback while auth is off (unless forced). */
static int check_listen(const config *cfg, const char *key, const char *listen,
                        struct sockaddr_storage *ss, socklen_t *sslen, char *err, size_t errlen)
{
    if (parse_listen(listen, ss, sslen, err, errlen) < 0)
        return -EINVAL;
    if (!is_loopback(ss) && !config_bool(cfg, "api.auth") &&
        !config_bool(cfg, "api.allow_public_without_auth")) {
        snprintf(err, errlen,
                 "%s=%s: listening beyond loopback without auth: set api.auth=true (and create "
                 "tokens with farmd token create), or force it with "
                 "api.allow_public_without_auth=true",
                 key, listen);
        return -EPERM;
    }
    return 0;
}

static struct MHD_Daemon *start_listener(const config *cfg, api_listener *l,
                                         const struct sockaddr_storage *ss)
{
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_UPGRADE; /* Piston's WebSocket (compat/piston_ws.c) */
    if (ss->ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    uint16_t port = ss->ss_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)ss)->sin6_port)
                                              : ntohs(((const struct sockaddr_in *)ss)->sin_port);
    /* Thread per connection: api.threads_max is the whole capacity, so one
     * address (a slow or idle client) may hold only part of it. */
    long long per_addr = config_int(cfg, "api.connections_per_address");
    long long idle_s = config_int(cfg, "api.connection_timeout_s");
    return MHD_start_daemon(
        flags, port, NULL, NULL, on_request, l, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, l, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)(idle_s > 0 ? idle_s : 0), MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)config_int(cfg, "api.threads_max"), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)(per_addr > 0 ? per_addr : 0), MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
}

#define API_MAX_LISTENERS 16

/* Stops accepting on every listener, wakes every waiter (they see *stop),
 * then waits for the connection threads. */
static void stop_listeners(api_ctx *ctx, api_listener *ls, size_t n)
{
    MHD_socket lfd[API_MAX_LISTENERS];
    for (size_t i = 0; i < n; i++)
        lfd[i] = MHD_quiesce_daemon(ls[i].d);
    api_bell_ring_all(ctx->bell);
    for (size_t i = 0; i < n; i++) {
        MHD_stop_daemon(ls[i].d);
        if (lfd[i] != MHD_INVALID_SOCKET)
            close(lfd[i]);
    }
}

int api_run(const config *cfg, volatile sig_atomic_t *stop)
{
    char err[1024] = "";
    const char *listen = config_str(cfg, "api.listen");
    /* the main listener, then one per front with compat.<name>.listen */
    struct sockaddr_storage ss[API_MAX_LISTENERS];
    socklen_t sslen;
    const compat_front *lfront[API_MAX_LISTENERS] = {NULL};
    const char *laddr[API_MAX_LISTENERS] = {listen};
    size_t n = 1;
    if (check_listen(cfg, "api.listen", listen, &ss[0], &sslen, err, sizeof(err)) < 0) {
        log_error("api-refused listen=%s error=\"%s\"", listen, err);
        return ROLE_REFUSED_CONFIG;
    }
    for (const compat_front *const *fp = compat_fronts; *fp && n < API_MAX_LISTENERS; fp++) {
        const char *fl = compat_front_listen(cfg, *fp);
        if (!compat_front_enabled(cfg, *fp) || !*fl)
            continue;
        char key[96];
        snprintf(key, sizeof(key), "compat.%s.listen", (*fp)->name);
        if (check_listen(cfg, key, fl, &ss[n], &sslen, err, sizeof(err)) < 0) {
            log_error("api-refused listen=%s error=\"%s\"", fl, err);
            return ROLE_REFUSED_CONFIG;
        }
        lfront[n] = *fp;
        laddr[n++] = fl;
    }
    api_ctx ctx;
    int r = ctx_init(&ctx, cfg, stop, err, sizeof(err));
    if (r < 0) {
        log_error("api-start-failed error=\"%s\"", err[0] ? err : strerror(-r));
        ctx_done(&ctx);
        return r;
    }
    api_listener ls[API_MAX_LISTENERS];
    for (size_t i = 0; i < n; i++) {
        ls[i] = (api_listener){.ctx = &ctx, .front = lfront[i]};
        ls[i].d = start_listener(cfg, &ls[i], &ss[i]);
        if (!ls[i].d) {
            log_error("api-listen-failed listen=%s error=\"%s\"", laddr[i], strerror(errno));
            stop_listeners(&ctx, ls, i);
            ctx_done(&ctx);
            return -EADDRINUSE;
        }
        log_info("api-listening listen=%s front=%s auth=%s", laddr[i],
                 lfront[i] ? lfront[i]->name : "v1", config_bool(cfg, "api.auth") ? "on" : "off");
    }
    char hid[64], host[128] = "";
    gethostname(host, sizeof(host) - 1);
    snprintf(hid, sizeof(hid), "api-%s-%d", host, (int)getpid());
    store *own = api_pool_get(ctx.pool, err, sizeof(err));
    if (own)
        store_heartbeat(own, hid, "api", host, (int)getpid(), NULL);
    int ticks = 0;
    while (!*stop) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (++ticks % 10 == 0 && own) {
            metrics_flush(ctx.metrics, own);
            store_heartbeat(own, hid, "api", host, (int)getpid(), NULL);
        }
    }
    log_info("api-stopping");
    stop_listeners(&ctx, ls, n);
    if (own) {
        metrics_flush(ctx.metrics, own);
        store_heartbeat_remove(own, hid);
        api_pool_put(ctx.pool, own);
    }
    ctx_done(&ctx);
    return 0;
}
