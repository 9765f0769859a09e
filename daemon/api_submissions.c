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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../builder/builder.h"
#include "../common/cleanup.h"
#include "../common/jsonutil.h"
#include "../common/log.h"
#include "../common/store_webhooks.h"

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
    log_error("store_failed what=%s err=\"%s\"", what, store_last_error(c->st));
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

/* Answers 503 when new work cannot be taken; returns true if it answered. */
static bool refuse_new_work(api_call *c, enum MHD_Result *ret)
{
    if (!api_accepting(c->st)) {
        metrics_count(c->ctx->metrics, METRIC_REJECTED_DRAINING, 1);
        c->req->retry_after_s = 30;
        *ret = http_reply_error(c->req, 503, "draining", NULL,
                                "this farm is draining and takes no new work");
        return true;
    }
    if (queue_full(c)) {
        metrics_count(c->ctx->metrics, METRIC_REJECTED_BACKPRESSURE, 1);
        c->req->retry_after_s = 5;
        *ret = http_reply_error(c->req, 503, "queue_full", NULL,
                                "the queue holds %lld or more submissions (api.max_queue); retry "
                                "later",
                                c->ctx->max_queue);
        return true;
    }
    return false;
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

/* Validates one request into p; on failure e says what to answer. */
static int prepare(api_call *c, json_t *in, prepared *p, const char *prefix, request_error *e)
{
    memset(p, 0, sizeof(*p));
    request_opts o = c->ctx->ropts;
    o.allow_expr = (c->who.scopes & AUTH_NIX_EXPR) != 0;
    char pkgset[65] = "", msg[512] = "";
    if (builder_pkgset_id(c->ctx->cfg, pkgset, msg, sizeof(msg)) < 0) {
        e->status = 500;
        snprintf(e->code, sizeof(e->code), "package_set_unavailable");
        snprintf(e->field, sizeof(e->field), "packages");
        snprintf(e->message, sizeof(e->message), "the package set cannot be read: %s", msg);
        return -EIO;
    }
    o.pkgset_id = pkgset;
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

/* Waits for id to reach a terminal state; answers 200 with the result, or
 * 202 with the unfinished submission at the wait timeout or shutdown. */
static enum MHD_Result wait_and_reply(api_call *c, const char *id)
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
            return api_store_error(c, r, "submission");
        bool done = false;
        size_t i;
        json_t *e;
        json_array_foreach(ev, i, e)
        {
            seen_seq = json_integer_value(json_object_get(e, "seq"));
            const char *type = json_string_value(json_object_get(e, "type"));
            const char *st =
                json_string_value(json_object_get(json_object_get(e, "data"), "state"));
            if (type && !strcmp(type, "state") && api_state_is_terminal(st))
                done = true;
        }
        int64_t now = store_now_ms();
        if (done || now >= deadline || *ctx->stop) {
            json_t *v = NULL;
            r = api_submission_view(c->st, id, &v);
            if (r < 0)
                return api_store_error(c, r, "submission");
            bool term = api_state_is_terminal(json_string_value(json_object_get(v, "state")));
            if (term || now >= deadline || *ctx->stop)
                return http_reply_json(c->req, term ? 200 : 202, v);
            json_decref(v);
        }
        long long left = deadline - now;
        api_bell_wait(ctx->bell, gen, (int)(left < ctx->poll_ms ? left : ctx->poll_ms));
    }
}

enum MHD_Result api_submission_create(api_call *c)
{
    enum MHD_Result ret;
    _cleanup_json_ json_t *in = api_body_json(c, &ret);
    if (!in)
        return ret;
    if (refuse_new_work(c, &ret))
        return ret;
    bool wait = http_query_bool(c->req, "wait");
    prepared p;
    request_error e = {0};
    int r = prepare(c, in, &p, NULL, &e);
    if (r < 0) {
        ret = reply_request_error(c, r, &e);
        prepared_done(&p);
        return ret;
    }
    if (p.cached_id[0]) {
        ret = reply_cached(c, p.cached_id);
        prepared_done(&p);
        return ret;
    }
    store_submission_new sub;
    fill_new(c, &p, wait, &sub);
    char err[512] = "";
    r = store_submission_enqueue(c->st, &sub, err, sizeof(err));
    prepared_done(&p);
    if (r < 0) {
        log_error("enqueue_failed err=\"%s\"", err);
        return r == -EBUSY
                   ? http_reply_error(c->req, 503, "busy", NULL, "database busy; retry")
                   : http_reply_error(c->req, 500, "internal", NULL, "cannot queue: %s", err);
    }
    depth_add(c->ctx, 1);
    metrics_count(c->ctx->metrics, METRIC_SUBMISSIONS_ACCEPTED, 1);
    log_debug("accepted id=%s wait=%d", sub.id, wait);
    snprintf(c->req->location, sizeof(c->req->location), "/v1/submissions/%s", sub.id);
    if (wait)
        return wait_and_reply(c, sub.id);
    return http_reply_json(c->req, 202, json_pack("{s:s, s:s}", "id", sub.id, "state", "queued"));
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
    if (r >= 0 && n_new)
        r = store_submission_enqueue_batch(c->st, subs, n_new, err, sizeof(err));
    if (r < 0) {
        if (e.status || r == -ENOMEM)
            ret = reply_request_error(c, r, &e);
        else {
            log_error("enqueue_failed err=\"%s\"", err);
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

enum MHD_Result api_submission_cancel(api_call *c)
{
    int r = store_submission_cancel(c->st, c->param);
    if (r == -EALREADY)
        return http_reply_error(c->req, 409, "already_finished", NULL,
                                "submission %s has already finished", c->param);
    if (r < 0)
        return api_store_error(c, r, "submission");
    json_t *v = NULL;
    int g = api_submission_view(c->st, c->param, &v);
    if (g < 0)
        return api_store_error(c, g, "submission");
    /* 1: cancelled now; 0: running, the worker stops at its next renew */
    return http_reply_json(c->req, r == 1 ? 200 : 202, v);
}
