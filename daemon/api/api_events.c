/* api_events.c — GET /v1/submissions/{id}/events as server-sent events.
 *
 * The stream replays every event stored so far (a late subscriber sees what
 * already happened), then follows new ones as the EVENTS doorbell rings, and
 * ends after the event that puts the submission in a terminal state. Each SSE
 * message is
 *
 *   id: <seq>
 *   event: <type>            ("state", "test", "compile", ...)
 *   data: {"seq":..,"type":..,"data":{..},"at":..}
 *
 * A client that reconnects with Last-Event-ID (or ?after=N) resumes after
 * that seq. A comment line is sent every 15 s so proxies keep the stream open.
 * The body is produced in the connection's own thread (one per connection),
 * so blocking in the reader blocks nobody else. */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/cleanup.h"
#include "../../common/jsonutil.h"

#define KEEPALIVE_MS 15000

typedef struct {
    api_ctx *ctx;
    store *st;
    char id[160];
    int64_t seen_seq;
    char *pending; /* formatted, not yet sent */
    size_t pending_len, pending_off;
    bool finished;
} sse_state;

static void sse_free(void *cls)
{
    sse_state *s = cls;
    api_pool_put(s->ctx->pool, s->st);
    free(s->pending);
    free(s);
}

/* Formats new events into pending; returns how many, or -errno. */
static int sse_fetch(sse_state *s)
{
    _cleanup_json_ json_t *ev = NULL;
    int r = store_submission_events(s->st, s->id, s->seen_seq, &ev);
    if (r < 0)
        return r;
    if (json_array_size(ev) == 0)
        return 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -ENOMEM;
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e)
    {
        s->seen_seq = json_integer_value(json_object_get(e, "seq"));
        const char *type = json_string_value(json_object_get(e, "type"));
        _cleanup_free_ char *line = jsonutil_dump(e);
        fprintf(f, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)s->seen_seq,
                type ? type : "message", line ? line : "{}");
        const char *st = json_string_value(json_object_get(json_object_get(e, "data"), "state"));
        if (type && !strcmp(type, "state") && api_state_is_terminal(st))
            s->finished = true;
    }
    fclose(f);
    free(s->pending);
    s->pending = buf;
    s->pending_len = len;
    s->pending_off = 0;
    return (int)json_array_size(ev);
}

/* The terminal state may have been reached without a state event we could
 * see (e.g. rows written by an older farmd): look at the row itself. */
static bool sse_row_terminal(sse_state *s)
{
    _cleanup_json_ json_t *v = NULL;
    if (store_submission_get(s->st, s->id, &v) < 0)
        return true; /* gone: nothing more will come */
    return api_state_is_terminal(json_string_value(json_object_get(v, "state")));
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse_state *s = cls;
    int64_t quiet_since = store_now_ms();
    for (;;) {
        if (s->pending_off < s->pending_len) {
            size_t n = s->pending_len - s->pending_off;
            if (n > max)
                n = max;
            memcpy(buf, s->pending + s->pending_off, n);
            s->pending_off += n;
            return (ssize_t)n;
        }
        if (s->finished || *s->ctx->stop)
            return MHD_CONTENT_READER_END_OF_STREAM;
        uint64_t gen = api_bell_generation(s->ctx->bell);
        int r = sse_fetch(s);
        if (r < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (r > 0)
            continue;
        int64_t now = store_now_ms();
        if (now - quiet_since >= KEEPALIVE_MS) {
            if (sse_row_terminal(s)) {
                s->finished = true;
                continue;
            }
            free(s->pending);
            s->pending = strdup(": keepalive\n\n");
            s->pending_len = s->pending ? strlen(s->pending) : 0;
            s->pending_off = 0;
            quiet_since = now;
            continue;
        }
        api_bell_wait(s->ctx->bell, gen, (int)s->ctx->poll_ms);
    }
}

enum MHD_Result api_submission_events(api_call *c)
{
    int64_t after = 0;
    const char *last = http_header(c->req, "Last-Event-ID");
    const char *q = http_query(c->req, "after");
    const char *from = last ? last : q;
    if (from) {
        char *end;
        long long v = strtoll(from, &end, 10);
        if (*from == '\0' || *end || v < 0)
            return http_reply_error(c->req, 422, "invalid_value", last ? "Last-Event-ID" : "after",
                                    "must be an event seq (a non-negative integer)");
        after = v;
    }
    /* 404 now, before the stream starts, if there is no such submission */
    _cleanup_json_ json_t *probe = NULL;
    int r = store_submission_events(c->st, c->param, 0, &probe);
    if (r < 0)
        return api_store_error(c, r, "submission");
    sse_state *s = calloc(1, sizeof(*s));
    if (!s)
        return http_reply_error(c->req, 500, "internal", NULL, "out of memory");
    s->ctx = c->ctx;
    snprintf(s->id, sizeof(s->id), "%s", c->param);
    s->seen_seq = after;
    char err[256];
    s->st = api_pool_get(c->ctx->pool, err, sizeof(err));
    if (!s->st) {
        free(s);
        return http_reply_error(c->req, 503, "unavailable", NULL, "the database is not available");
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, s, sse_free);
    if (!resp) {
        sse_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return http_reply_response(c->req, 200, resp);
}
