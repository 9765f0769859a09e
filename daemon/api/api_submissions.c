/* api_submissions.c — POST/GET/DELETE /v1/submissions, the batch form and
 * ?wait=true.
 *
 * Accepting is: drained? -> backpressure -> validate and normalize
 * (request.c) -> result cache -> one store transaction (blobs, set row,
 * submission row, first event). The id goes back only after that commit, so
 * an accepted submission survives any crash. A ?wait=true call gets a
 * priority bonus (api.wait_priority_bonus: a fast job overtakes standard
 * ones) and then waits on the EVENTS doorbell for a terminal state. */
#include "api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../builder/builder.h"
#include "../../common/cleanup.h"
#include "../../common/jsonutil.h"
#include "../../common/log.h"
#include "../../common/store_webhooks.h"

static const char *const terminal_states[] = {"finished", "compile_error", "deps_failed",
                                              "cancelled", "internal_error"};

bool api_state_is_terminal(const char *state)
{
    for (size_t i = 0; state && i < sizeof(terminal_states) / sizeof(*terminal_states); i++)
        if (!strcmp(state, terminal_states[i]))
            return true;
    return false;
}

bool api_accepting(store *s)
{
    _cleanup_free_ char *v = NULL;
    if (store_setting_get(s, "accepting", &v) < 0 || !v)
        return true;
    return strcmp(v, "false") != 0 && strcmp(v, "0") != 0;
}

enum MHD_Result api_store_error(api_call *c, int r, const char *what)
{
    if (r == -ENOENT)
        return http_reply_error(c->req, 404, "not_found", NULL, "no such %s: %s", what,
                                c->param[0] ? c->param : "?");
    if (r == -EBUSY)
        return http_reply_error(c->req, 503, "busy", NULL, "the database is busy; retry");
    log_error("store-failed what=%s error=\"%s\"", what, store_last_error(c->st));
    return http_reply_error(c->req, 500, "internal", NULL, "database error");
}

json_t *api_body_json(api_call *c, enum MHD_Result *answered)
{
    request_error e;
    json_t *j = NULL;
    if (request_parse_body(c->req->body, c->req->body_len, &j, &e) < 0) {
        *answered = http_reply_error(c->req, (unsigned)e.status, e.code, e.field, "%s", e.message);
        return NULL;
    }
    return j;
}

int api_submission_view(store *s, const char *id, json_t **out)
{
    json_t *o = NULL;
    int r = store_submission_get(s, id, &o);
    if (r < 0)
        return r;
    /* the client's meta comes back as it was given */
    json_t *meta = json_object_get(json_object_get(o, "request"), "meta");
    if (json_is_object(meta))
        json_object_set(o, "meta", meta);
    /* what was asked for, for the dashboard's detail page: the profile,
     * packages and limits in force (defaults filled in by the normalizer) */
    json_t *req = json_object_get(o, "request");
    static const char *const shown[] = {"profile", "packages", "limits"};
    for (size_t i = 0; i < sizeof(shown) / sizeof(*shown); i++)
        if (json_object_get(req, shown[i]))
            json_object_set(o, shown[i], json_object_get(req, shown[i]));
    /* internal bookkeeping stays inside */
    static const char *const hidden[] = {"request",  "lease_owner", "lease_expires_at",
                                         "token_id", "cache_key",   "max_attempts"};
    for (size_t i = 0; i < sizeof(hidden) / sizeof(*hidden); i++)
        json_object_del(o, hidden[i]);
    /* Callback deliveries and their attempts (the outbox of
     * common/store_webhooks.h): [] when the submission has no callback_url or
     * has not ended yet. The webhook body itself leaves this key out. */
    json_t *wh = NULL;
    r = store_webhook_deliveries_json(s, id, &wh);
    if (r < 0) {
        json_decref(o);
        return r;
    }
    json_object_set_new(o, "webhooks", wh);
    *out = o;
    return 0;
}

/* ---- accepting ---- */

static bool queue_full(api_call *c)
{
    api_ctx *ctx = c->ctx;
    if (ctx->max_queue <= 0)
        return false;
    int64_t now = store_now_ms();
    pthread_mutex_lock(&ctx->depth_lock);
    bool fresh = now - ctx->depth_at_ms < 200;
    long long depth = ctx->depth_waiting;
    pthread_mutex_unlock(&ctx->depth_lock);
    if (!fresh) {
        _cleanup_json_ json_t *d = NULL;
        if (store_queue_depths(c->st, &d) < 0)
            return false; /* cannot tell: do not refuse work over it */
        json_t *subs = json_object_get(d, "submissions");
        depth = json_integer_value(json_object_get(subs, "queued")) +
                json_integer_value(json_object_get(subs, "waiting_deps"));
        pthread_mutex_lock(&ctx->depth_lock);
        ctx->depth_at_ms = now;
        ctx->depth_waiting = depth;
        pthread_mutex_unlock(&ctx->depth_lock);
    }
    return depth >= ctx->max_queue;
}

/* Counts work taken in this process towards the cached depth, so a burst
 * inside one 200 ms window cannot overshoot the limit by much. */
static void depth_add(api_ctx *ctx, long long n)
{
    pthread_mutex_lock(&ctx->depth_lock);
    ctx->depth_waiting += n;
    pthread_mutex_unlock(&ctx->depth_lock);
}

static void set_error(request_error *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_error(request_error *e, int status, const char *code, const char *fmt, ...)
{
    memset(e, 0, sizeof(*e));
    e->status = status;
    snprintf(e->code, sizeof(e->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

/* A store failure as a request_error (-ENOENT -> 404, -EBUSY -> 503). */
static int store_error_e(api_call *c, int r, const char *id, request_error *e)
{
    if (r == -ENOENT)
        set_error(e, 404, "not_found", "no such submission: %s", id);
    else if (r == -EBUSY) {
        c->req->retry_after_s = 1;
        set_error(e, 503, "busy", "the database is busy; retry");
    } else {
        log_error("store-failed what=submission error=\"%s\"", store_last_error(c->st));
        set_error(e, 500, "internal", "database error");
    }
    return r < 0 ? r : -EIO;
}

/* Fills e (503) when new work cannot be taken; returns -EAGAIN then. */
static int refuse_new_work_e(api_call *c, request_error *e)
{
    if (!api_accepting(c->st)) {
        metrics_count(c->ctx->metrics, METRIC_REJECTED_DRAINING, 1);
        c->req->retry_after_s = 30;
        set_error(e, 503, "draining", "this farm is draining and takes no new work");
        return -EAGAIN;
    }
    if (queue_full(c)) {
        metrics_count(c->ctx->metrics, METRIC_REJECTED_BACKPRESSURE, 1);
        c->req->retry_after_s = 5;
        set_error(e, 503, "queue_full",
                  "the queue holds %lld or more submissions (api.max_queue); retry later",
                  c->ctx->max_queue);
        return -EAGAIN;
    }
    return 0;
}

/* Answers 503 when new work cannot be taken; returns true if it answered. */
static bool refuse_new_work(api_call *c, enum MHD_Result *ret)
{
    request_error e;
    if (refuse_new_work_e(c, &e) == 0)
        return false;
    *ret = http_reply_error(c->req, (unsigned)e.status, e.code, NULL, "%s", e.message);
    return true;
}

typedef struct {
    request_norm norm;
    store_depset_ref ref;
    char *request_json;
    char cached_id[33]; /* set on a result-cache hit: nothing to enqueue */
} prepared;

static void prepared_done(prepared *p)
{
    request_norm_done(&p->norm);
    free(p->request_json);
    memset(p, 0, sizeof(*p));
}

int api_request_opts(api_call *c, request_opts *o, char pkgset[65], request_error *e)
{
    char msg[512] = "";
    pkgset[0] = 0;
    if (builder_pkgset_id(c->ctx->cfg, pkgset, msg, sizeof(msg)) < 0) {
        e->status = 500;
        snprintf(e->code, sizeof(e->code), "package_set_unavailable");
        snprintf(e->field, sizeof(e->field), "packages");
        snprintf(e->message, sizeof(e->message), "the package set cannot be read: %s", msg);
        return -EIO;
    }
    *o = c->ctx->ropts;
    o->allow_expr = (c->who.scopes & AUTH_NIX_EXPR) != 0;
    o->pkgset_id = pkgset;
    o->st = c->st;
    return 0;
}

/* Validates one request into p; on failure e says what to answer. */
static int prepare(api_call *c, json_t *in, prepared *p, const char *prefix, request_error *e)
{
    memset(p, 0, sizeof(*p));
    request_opts o;
    char pkgset[65];
    if (api_request_opts(c, &o, pkgset, e) < 0)
        return -EIO;
    int r = request_normalize(&o, in, &p->norm, e);
    if (r < 0) {
        if (prefix && *prefix) { /* batch: name the item */
            char f[sizeof(e->field) + 64];
            bool whole = !e->field[0] || !strcmp(e->field, "body");
            snprintf(f, sizeof(f), "%s%s%s", prefix, whole ? "" : ".", whole ? "" : e->field);
            snprintf(e->field, sizeof(e->field), "%.*s", (int)sizeof(e->field) - 1, f);
        }
        return r;
    }
    if (p->norm.use_cache && p->norm.cacheable) {
        r = store_submission_find_cached(c->st, p->norm.cache_key, p->cached_id);
        if (r > 0) {
            metrics_count(c->ctx->metrics, METRIC_RESULT_CACHE_HIT, 1);
            return 0;
        }
        p->cached_id[0] = '\0';
        metrics_count(c->ctx->metrics, METRIC_RESULT_CACHE_MISS, 1);
    }
    p->request_json = jsonutil_dump(p->norm.normalized);
    if (!p->request_json)
        return -ENOMEM;
    memcpy(p->ref.key, p->norm.depset_key, sizeof(p->ref.key));
    p->ref.spec_json = p->norm.depset_spec;
    return 0;
}

static void fill_new(api_call *c, prepared *p, bool wait, store_submission_new *sub)
{
    memset(sub, 0, sizeof(*sub));
    sub->priority = p->norm.priority + (wait ? (int)c->ctx->wait_bonus : 0);
    sub->request_json = p->request_json;
    sub->depset = &p->ref;
    sub->blobs = p->norm.blobs;
    sub->n_blobs = p->norm.n_blobs;
    sub->n_tests = p->norm.n_tests;
    sub->token_id = c->who.token_id[0] ? c->who.token_id : NULL;
    sub->callback_url = p->norm.callback_url;
    sub->cache_key = p->norm.cacheable ? p->norm.cache_key : NULL;
}

static enum MHD_Result reply_request_error(api_call *c, int r, const request_error *e)
{
    if (r == -ENOMEM)
        return http_reply_error(c->req, 500, "internal", NULL, "out of memory");
    return http_reply_error(c->req, (unsigned)(e->status ? e->status : 500),
                            e->code[0] ? e->code : "internal", e->field[0] ? e->field : NULL, "%s",
                            e->message[0] ? e->message : "internal error");
}

static enum MHD_Result reply_cached(api_call *c, const char *id)
{
    json_t *v = NULL;
    int r = api_submission_view(c->st, id, &v);
    if (r < 0)
        return api_store_error(c, r, "submission");
    json_object_set_new(v, "cached", json_true());
    return http_reply_json(c->req, 200, v);
}

/* Waits for id to reach a terminal state, the wait timeout or shutdown;
 * then *out is the submission view. */
static int wait_for_view(api_call *c, const char *id, json_t **out, request_error *e)
{
    api_ctx *ctx = c->ctx;
    int64_t deadline = store_now_ms() + ctx->wait_timeout_ms;
    int64_t seen_seq = 0;
    for (;;) {
        uint64_t gen = api_bell_generation(ctx->bell);
        /* Cheap check first: only new events can change the state. */
        _cleanup_json_ json_t *ev = NULL;
        int r = store_submission_events(c->st, id, seen_seq, &ev);
        if (r < 0)
            return store_error_e(c, r, id, e);
        bool done = false;
        size_t i;
        json_t *ej;
        json_array_foreach(ev, i, ej)
        {
            seen_seq = json_integer_value(json_object_get(ej, "seq"));
            const char *type = json_string_value(json_object_get(ej, "type"));
            const char *st =
                json_string_value(json_object_get(json_object_get(ej, "data"), "state"));
            if (type && !strcmp(type, "state") && api_state_is_terminal(st))
                done = true;
        }
        int64_t now = store_now_ms();
        if (done || now >= deadline || *ctx->stop) {
            json_t *v = NULL;
            r = api_submission_view(c->st, id, &v);
            if (r < 0)
                return store_error_e(c, r, id, e);
            bool term = api_state_is_terminal(json_string_value(json_object_get(v, "state")));
            if (term || now >= deadline || *ctx->stop) {
                *out = v;
                return 0;
            }
            json_decref(v);
        }
        long long left = deadline - now;
        api_bell_wait(ctx->bell, gen, (int)(left < ctx->poll_ms ? left : ctx->poll_ms));
    }
}

int api_submit_v1(api_call *c, json_t *body, bool wait, char id_out[64], json_t **view_out,
                  request_error *e)
{
    memset(e, 0, sizeof(*e));
    id_out[0] = '\0';
    if (view_out)
        *view_out = NULL;
    int r = refuse_new_work_e(c, e);
    if (r < 0)
        return r;
    prepared p;
    r = prepare(c, body, &p, NULL, e);
    if (r < 0) {
        prepared_done(&p);
        if (r == -ENOMEM || !e->status)
            set_error(e, 500, "internal", "%s", r == -ENOMEM ? "out of memory" : "internal error");
        return r;
    }
    if (p.cached_id[0]) {
        snprintf(id_out, 64, "%s", p.cached_id);
        prepared_done(&p);
        if (view_out && (r = api_submission_view(c->st, id_out, view_out)) < 0)
            return store_error_e(c, r, id_out, e);
        return 1;
    }
    store_submission_new sub;
    fill_new(c, &p, wait, &sub);
    r = store_submission_enqueue(c->st, &sub);
    prepared_done(&p);
    if (r < 0) {
        const char *err = store_last_error(c->st);
        log_error("enqueue-failed error=\"%s\"", err);
        if (r == -EBUSY) {
            c->req->retry_after_s = 1;
            set_error(e, 503, "busy", "database busy; retry");
        } else
            set_error(e, 500, "internal", "cannot queue: %s", err);
        return r;
    }
    snprintf(id_out, 64, "%s", sub.id);
    depth_add(c->ctx, 1);
    metrics_count(c->ctx->metrics, METRIC_SUBMISSIONS_ACCEPTED, 1);
    log_debug("accepted id=%s wait=%d front=%s", sub.id, wait, c->front ? "compat" : "v1");
    if (!view_out)
        return 0;
    if (wait)
        return wait_for_view(c, id_out, view_out, e);
    if ((r = api_submission_view(c->st, id_out, view_out)) < 0)
        return store_error_e(c, r, id_out, e);
    return 0;
}

int api_cancel_v1(api_call *c, const char *id, json_t **view_out)
{
    if (view_out)
        *view_out = NULL;
    int r = store_submission_cancel(c->st, id);
    if (r < 0)
        return r;
    if (view_out) {
        int g = api_submission_view(c->st, id, view_out);
        if (g < 0)
            return g;
    }
    return r;
}

enum MHD_Result api_submission_create(api_call *c)
{
    enum MHD_Result ret;
    _cleanup_json_ json_t *in = api_body_json(c, &ret);
    if (!in)
        return ret;
    bool wait = http_query_bool(c->req, "wait");
    char id[64];
    json_t *v = NULL;
    request_error e;
    int r = api_submit_v1(c, in, wait, id, wait ? &v : NULL, &e);
    if (r < 0)
        return reply_request_error(c, r, &e);
    if (r == 1) { /* result cache: the earlier submission's result */
        json_decref(v);
        return reply_cached(c, id);
    }
    snprintf(c->req->location, sizeof(c->req->location), "/v1/submissions/%s", id);
    if (wait) {
        bool term = api_state_is_terminal(json_string_value(json_object_get(v, "state")));
        return http_reply_json(c->req, term ? 200 : 202, v);
    }
    return http_reply_json(c->req, 202, json_pack("{s:s, s:s}", "id", id, "state", "queued"));
}

enum MHD_Result api_submission_batch(api_call *c)
{
    enum MHD_Result ret;
    _cleanup_json_ json_t *in = api_body_json(c, &ret);
    if (!in)
        return ret;
    json_t *list = json_is_array(in) ? in : json_object_get(in, "submissions");
    if (!json_is_array(list))
        return http_reply_error(c->req, 422, "invalid_type", "submissions",
                                "the body must be {\"submissions\": [...]} or an array");
    size_t n = json_array_size(list);
    if (n == 0)
        return http_reply_error(c->req, 422, "invalid_value", "submissions",
                                "submissions must not be empty");
    if ((long long)n > c->ctx->batch_max)
        return http_reply_error(c->req, 422, "too_many", "submissions",
                                "submissions has %zu entries; the maximum is %lld (api.batch_max)",
                                n, c->ctx->batch_max);
    if (refuse_new_work(c, &ret))
        return ret;
    prepared *ps = calloc(n, sizeof(*ps));
    store_submission_new *subs = calloc(n, sizeof(*subs));
    size_t *slot = calloc(n, sizeof(*slot));
    if (!ps || !subs || !slot) {
        free(ps);
        free(subs);
        free(slot);
        return http_reply_error(c->req, 500, "internal", NULL, "out of memory");
    }
    size_t n_new = 0, done = 0;
    int r = 0;
    request_error e = {0};
    for (; done < n; done++) {
        char prefix[48];
        snprintf(prefix, sizeof(prefix), "submissions[%zu]", done);
        r = prepare(c, json_array_get(list, done), &ps[done], prefix, &e);
        if (r < 0) {
            done++;
            break;
        }
        if (!ps[done].cached_id[0]) {
            fill_new(c, &ps[done], false, &subs[n_new]);
            slot[done] = n_new++;
        }
    }
    char err[512] = "";
    if (r >= 0 && n_new && (r = store_submission_enqueue_batch(c->st, subs, n_new)) < 0)
        snprintf(err, sizeof(err), "%s", store_last_error(c->st));
    if (r < 0) {
        if (e.status || r == -ENOMEM)
            ret = reply_request_error(c, r, &e);
        else {
            log_error("enqueue-failed error=\"%s\"", err);
            ret = http_reply_error(c->req, 500, "internal", NULL, "cannot queue: %s", err);
        }
    } else {
        depth_add(c->ctx, (long long)n_new);
        metrics_count(c->ctx->metrics, METRIC_SUBMISSIONS_ACCEPTED, (long)n_new);
        json_t *items = json_array();
        for (size_t i = 0; i < n; i++) {
            if (ps[i].cached_id[0])
                json_array_append_new(items, json_pack("{s:s, s:s, s:b}", "id", ps[i].cached_id,
                                                       "state", "finished", "cached", 1));
            else
                json_array_append_new(
                    items, json_pack("{s:s, s:s}", "id", subs[slot[i]].id, "state", "queued"));
        }
        ret = http_reply_json(c->req, 202, json_pack("{s:o}", "submissions", items));
    }
    for (size_t i = 0; i < done; i++)
        prepared_done(&ps[i]);
    free(ps);
    free(subs);
    free(slot);
    return ret;
}

enum MHD_Result api_submission_show(api_call *c)
{
    json_t *v = NULL;
    int r = api_submission_view(c->st, c->param, &v);
    if (r < 0)
        return api_store_error(c, r, "submission");
    return http_reply_json(c->req, 200, v);
}

/* Whether the caller may cancel submission id: an admin any, anyone else
 * only those made with its own token (anonymous callers those made without
 * one). 1 yes, 0 no, < 0 store errors (-ENOENT no such id). */
static int may_cancel(api_call *c, const char *id)
{
    if (c->who.scopes & AUTH_ADMIN)
        return 1;
    _cleanup_json_ json_t *row = NULL;
    int r = store_submission_get(c->st, id, &row);
    if (r < 0)
        return r;
    const char *owner = json_string_value(json_object_get(row, "token_id"));
    return !strcmp(owner ? owner : "", c->who.token_id);
}

enum MHD_Result api_submission_cancel(api_call *c)
{
    int m = may_cancel(c, c->param);
    if (m < 0)
        return api_store_error(c, m, "submission");
    if (m == 0)
        return http_reply_error(c->req, 403, "forbidden", "Authorization",
                                "submission %s was made with another token; cancelling it needs "
                                "the admin scope",
                                c->param);
    json_t *v = NULL;
    int r = api_cancel_v1(c, c->param, &v);
    if (r == -EALREADY)
        return http_reply_error(c->req, 409, "already_finished", NULL,
                                "submission %s has already finished", c->param);
    if (r < 0)
        return api_store_error(c, r, "submission");
    /* 1: cancelled now; 0: running, the worker stops at its next renew */
    return http_reply_json(c->req, r == 1 ? 200 : 202, v);
}
