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

#include "../builder/builder.h"
#include "../common/cleanup.h"
#include "../common/log.h"
#include "roles.h"

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

static enum MHD_Result dispatch(api_ctx *ctx, http_req *req)
{
    if (req->body_too_large)
        return http_reply_error(req, 413, "body_too_large", "body",
                                "the body is larger than %lld bytes (api.max_body_bytes)",
                                ctx->max_body);
    api_call c = {.ctx = ctx, .req = req};
    bool known;
    const api_route *route =
        api_route_match(req->method, req->url, c.param, sizeof(c.param), &known);
    if (!route) {
        if (known)
            return http_reply_error(req, 405, "method_not_allowed", NULL, "%s is not allowed on %s",
                                    req->method, req->url);
        return http_reply_error(req, 404, "not_found", NULL, "no such endpoint");
    }
    char err[512] = "";
    c.st = api_pool_get(ctx->pool, err, sizeof(err));
    if (!c.st) {
        log_error("store_open_failed err=\"%s\"", err);
        return http_reply_error(req, 503, "unavailable", NULL, "the database is not available");
    }
    enum MHD_Result ret;
    if (route->scope) {
        int r = auth_identify(ctx->auth, c.st, http_header(req, MHD_HTTP_HEADER_AUTHORIZATION),
                              req->client_addr, &c.who, err, sizeof(err));
        if (r == -EACCES) {
            ret = http_reply_error(req, 401, "unauthorized", "Authorization", "%s", err);
            goto out;
        }
        if (r < 0) {
            ret = http_reply_error(req, 500, "internal", NULL, "%s", err);
            goto out;
        }
        if ((c.who.scopes & route->scope) != route->scope) {
            ret = http_reply_error(req, 403, "forbidden", "Authorization",
                                   "this call needs the %s scope", auth_scope_name(route->scope));
            goto out;
        }
        int wait = auth_rate_take(ctx->auth, &c.who);
        if (wait > 0) {
            metrics_count(ctx->metrics, METRIC_REJECTED_RATE, 1);
            req->retry_after_s = wait;
            ret = http_reply_error(req, 429, "rate_limited", NULL,
                                   "too many requests; retry after %d s", wait);
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
    api_ctx *ctx = cls;
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
            return dispatch(ctx, req);
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
            return dispatch(ctx, req);
        return MHD_YES;
    }
    if (req->status) /* already answered (cannot happen twice, but be safe) */
        return MHD_YES;
    return dispatch(ctx, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    api_ctx *ctx = cls;
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

int api_run(const config *cfg, volatile sig_atomic_t *stop)
{
    char err[1024] = "";
    struct sockaddr_storage ss;
    socklen_t sslen;
    const char *listen = config_str(cfg, "api.listen");
    if (parse_listen(listen, &ss, &sslen, err, sizeof(err)) < 0) {
        log_error("api_config err=\"%s\"", err);
        return ROLE_REFUSED_CONFIG;
    }
    if (!is_loopback(&ss) && !config_bool(cfg, "api.auth") &&
        !config_bool(cfg, "api.allow_public_without_auth")) {
        log_error("api_refused listen=%s err=\"listening beyond loopback without auth: set "
                  "api.auth=true (and create tokens with farmd token create), or force it with "
                  "api.allow_public_without_auth=true\"",
                  listen);
        return ROLE_REFUSED_CONFIG;
    }
    api_ctx ctx;
    int r = ctx_init(&ctx, cfg, stop, err, sizeof(err));
    if (r < 0) {
        log_error("api_start_failed err=\"%s\"", err[0] ? err : strerror(-r));
        ctx_done(&ctx);
        return r;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    uint16_t port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    /* Thread per connection: api.threads_max is the whole capacity, so one
     * address (a slow or idle client) may hold only part of it. */
    long long per_addr = config_int(cfg, "api.connections_per_address");
    long long idle_s = config_int(cfg, "api.connection_timeout_s");
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, port, NULL, NULL, on_request, &ctx, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, &ctx, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)(idle_s > 0 ? idle_s : 0), MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)config_int(cfg, "api.threads_max"), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)(per_addr > 0 ? per_addr : 0), MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
    if (!d) {
        log_error("api_listen_failed listen=%s err=\"%s\"", listen, strerror(errno));
        ctx_done(&ctx);
        return -EADDRINUSE;
    }
    log_info("api_listening listen=%s auth=%s", listen,
             config_bool(cfg, "api.auth") ? "on" : "off");
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
    log_info("api_stopping");
    /* Stop accepting, wake every waiter (they see *stop), then wait for the
     * connection threads. */
    MHD_socket lfd = MHD_quiesce_daemon(d);
    api_bell_ring_all(ctx.bell);
    MHD_stop_daemon(d);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    if (own) {
        metrics_flush(ctx.metrics, own);
        store_heartbeat_remove(own, hid);
        api_pool_put(ctx.pool, own);
    }
    ctx_done(&ctx);
    return 0;
}
