/* http.c — request state, body collection and replies over libmicrohttpd.
 * See http.h. */
#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

http_req *http_req_new(struct MHD_Connection *conn, const char *method, const char *url,
                       size_t body_max)
{
    http_req *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->conn = conn;
    r->method = method;
    r->url = url;
    r->body_max = body_max;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->client_addr,
                      sizeof(r->client_addr));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->client_addr,
                      sizeof(r->client_addr));
    }
    if (!r->client_addr[0])
        snprintf(r->client_addr, sizeof(r->client_addr), "unknown");
    return r;
}

void http_req_free(http_req *r)
{
    if (!r)
        return;
    free(r->body);
    free(r);
}

void http_req_feed(http_req *r, const char *data, size_t len)
{
    if (r->body_too_large) {
        r->body_dropped += len;
        return;
    }
    if (len > r->body_max - r->body_len) {
        /* Keep reading (and dropping) the rest, so the client gets a clean 413
         * instead of a reset connection while it is still sending. */
        r->body_too_large = true;
        r->body_dropped = r->body_len + len;
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
        return;
    }
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (!nb) {
            r->body_too_large = true; /* answered as 413: we cannot hold it */
            free(r->body);
            r->body = NULL;
            r->body_len = r->body_cap = 0;
            return;
        }
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
}

const char *http_query(const http_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(const http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

bool http_query_bool(const http_req *r, const char *key)
{
    const char *v = http_query(r, key);
    if (!v)
        return false;
    /* "?wait" alone counts as true, as most APIs treat a bare flag */
    return !*v || !strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes");
}

enum MHD_Result http_reply_response(http_req *r, unsigned status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    if (r->retry_after_s > 0) {
        char buf[24];
        snprintf(buf, sizeof(buf), "%d", r->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, buf);
    }
    if (r->location[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (r->cors) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
        MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                                "GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD");
        const char *h = http_header(r, "Access-Control-Request-Headers");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                h && *h ? h
                                        : "Content-Type, X-Auth-Token, X-Auth-User, "
                                          "Authorization");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
    }
    r->status = status;
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result reply_buffer(http_req *r, unsigned status, const char *ctype, char *buf,
                                    size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(buf);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    return http_reply_response(r, status, resp);
}

enum MHD_Result http_reply_json(http_req *r, unsigned status, json_t *body)
{
    /* Not http_reply_error: it builds its body with jansson too, and would
     * come back here without end while memory is short. */
    if (!body)
        return http_reply_text(r, 500, "application/json",
                               "{\"error\":{\"code\":\"internal\",\"message\":\"out of "
                               "memory\",\"field\":null}}\n");
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    if (!text)
        return MHD_NO;
    size_t len = strlen(text);
    /* one trailing newline makes curl output readable; JSON parsers ignore it */
    char *nt = realloc(text, len + 2);
    if (nt) {
        text = nt;
        text[len++] = '\n';
        text[len] = '\0';
    }
    return reply_buffer(r, status, "application/json", text, len);
}

enum MHD_Result http_reply_text(http_req *r, unsigned status, const char *content_type,
                                const char *text)
{
    char *copy = strdup(text);
    if (!copy)
        return MHD_NO;
    return reply_buffer(r, status, content_type, copy, strlen(copy));
}

/* Messages may quote a client's bytes (a path segment, say); JSON needs
 * UTF-8, so anything else is shown as '?'. */
static json_t *text_or_ascii(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char buf[1024];
    size_t i = 0;
    for (; s[i] && i + 1 < sizeof(buf); i++)
        buf[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    buf[i] = '\0';
    return json_string(buf);
}

json_t *http_error_object(const char *code, const char *field, const char *message)
{
    return json_pack("{s:{s:s, s:o, s:o}}", "error", "code", code, "message",
                     text_or_ascii(message), "field", field ? text_or_ascii(field) : json_null());
}

enum MHD_Result http_reply_error(http_req *r, unsigned status, const char *code, const char *field,
                                 const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return http_reply_json(r, status, http_error_object(code, field, msg));
}
