/* http.h — the small layer between libmicrohttpd and the API handlers.
 *
 * One http_req lives for one HTTP request: libmicrohttpd calls the access
 * handler several times (headers, body chunks, end of body); http_req_feed()
 * collects the body up to a byte cap, and the handler runs once the body is
 * complete. Replies are JSON (errors as {"error": {"code", "message",
 * "field"}}), text, or a streamed body the handler builds itself. The status
 * of every reply is recorded in the request so metrics can count it.
 *
 * Everything here runs in the connection's thread (the daemon uses one thread
 * per connection); nothing is shared between requests. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <microhttpd.h>

typedef struct http_req {
    struct MHD_Connection *conn;
    const char *method; /* owned by libmicrohttpd, valid for the request */
    const char *url;    /* path only, without the query string */
    char *body;         /* NUL-terminated, owned */
    size_t body_len;
    size_t body_cap;
    size_t body_max;
    bool body_too_large;
    size_t body_dropped;  /* bytes read and discarded past body_max */
    char client_addr[64]; /* numeric address of the peer */
    int retry_after_s;    /* > 0: the next reply carries Retry-After */
    char location[192];   /* non-empty: the next reply carries Location */
    unsigned status;      /* status of the reply queued, 0 before */
    bool cors;            /* replies carry CORS headers allowing any origin (compat fronts) */
    void *user;           /* the API's per-request state (auth) */
} http_req;

/* Allocates the per-request state on the first call of the access handler. */
http_req *http_req_new(struct MHD_Connection *conn, const char *method, const char *url,
                       size_t body_max);
void http_req_free(http_req *r);
/* Appends a chunk of upload data; past body_max the rest is discarded (and
 * counted in body_dropped) and body_too_large is set (the handler answers
 * 413 at the end, or as soon as a body without a length runs on). */
void http_req_feed(http_req *r, const char *data, size_t len);

/* Query argument and header lookups; NULL when absent. */
const char *http_query(const http_req *r, const char *key);
const char *http_header(const http_req *r, const char *name);
/* "true", "1", "yes" -> true. */
bool http_query_bool(const http_req *r, const char *key);

/* Queues a reply. Each returns the libmicrohttpd result for the handler to
 * return. http_reply_json takes ownership of body (may be NULL: 500). */
enum MHD_Result http_reply_json(http_req *r, unsigned status, json_t *body);
enum MHD_Result http_reply_text(http_req *r, unsigned status, const char *content_type,
                                const char *text);
/* {"error": {"code": code, "message": printf(fmt...), "field": field|null}} */
enum MHD_Result http_reply_error(http_req *r, unsigned status, const char *code, const char *field,
                                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Queues a response the caller built (adds Retry-After if set); takes it. */
enum MHD_Result http_reply_response(http_req *r, unsigned status, struct MHD_Response *resp);

/* The error object alone, for batch answers and SSE. New reference. */
json_t *http_error_object(const char *code, const char *field, const char *message);
