/* api_ops.c — the operational endpoints: dependency sets, profiles, health,
 * metrics and drain. */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../builder/builder.h"
#include "../common/cleanup.h"
#include "../common/depset_key.h"
#include "../common/jsonutil.h"
#include "../common/log.h"

/* ---- dependency sets ---- */

/* A set row as clients see it (no lease bookkeeping). */
static json_t *depset_public(json_t *row)
{
    json_object_del(row, "lease_owner");
    json_object_del(row, "lease_expires_at");
    json_object_del(row, "max_attempts");
    json_t *spec = json_object_get(row, "spec");
    if (json_is_string(spec)) /* stored as text: show it as the object it is */
        json_object_set_new(row, "spec", jsonutil_loads_or_null(json_string_value(spec)));
    return row;
}

enum MHD_Result api_depsets_list(api_call *c)
{
    json_t *list = NULL;
    int r = store_depset_list(c->st, &list);
    if (r < 0)
        return api_store_error(c, r, "depset");
    size_t i;
    json_t *row;
    json_array_foreach(list, i, row) depset_public(row);
    return http_reply_json(c->req, 200, json_pack("{s:o}", "depsets", list));
}

enum MHD_Result api_depset_show(api_call *c)
{
    json_t *row = NULL;
    int r = store_depset_get(c->st, c->param, &row);
    if (r < 0)
        return api_store_error(c, r, "depset");
    return http_reply_json(c->req, 200, depset_public(row));
}

/* POST /v1/depsets {"packages": [...]} | {"profile": "c"} | {"expr": "..."}:
 * queues a build ahead of the submissions that will need it. The packages
 * get "bash" added exactly as submissions do, so the key is the one a later
 * submission with the same packages computes. */
/* Normalizes a {packages | profile | expr} body into the probe a submission
 * with the same dependencies would be (see api.h). */
static int depset_normalize(api_call *c, const json_t *in, request_norm *n, request_error *e)
{
    memset(e, 0, sizeof(*e));
    if (!json_is_object(in)) {
        e->status = 400;
        snprintf(e->code, sizeof(e->code), "invalid_type");
        snprintf(e->field, sizeof(e->field), "body");
        snprintf(e->message, sizeof(e->message), "the body must be a JSON object");
        return -EINVAL;
    }
    /* Reuse the submission checks: a minimal submission with a run command
     * resolves packages, profile and expr exactly like a real one. */
    _cleanup_json_ json_t *probe = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)in, k, v)
    {
        if (strcmp(k, "packages") && strcmp(k, "profile") && strcmp(k, "expr")) {
            e->status = 422;
            snprintf(e->code, sizeof(e->code), "unknown_field");
            snprintf(e->field, sizeof(e->field), "%.*s", (int)sizeof(e->field) - 1, k);
            snprintf(e->message, sizeof(e->message),
                     "unknown field %.200s (packages, profile or expr)", k);
            return -EINVAL;
        }
        json_object_set(probe, k, v);
    }
    json_object_set_new(probe, "run", json_string("true"));
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
    return request_normalize(&o, probe, n, e);
}

int api_depset_key_v1(api_call *c, const json_t *body, char key[65], request_error *e)
{
    request_norm n;
    int r = depset_normalize(c, body, &n, e);
    if (r < 0)
        return r;
    memcpy(key, n.depset_key, 65);
    request_norm_done(&n);
    return 0;
}

int api_depset_ensure_v1(api_call *c, const json_t *body, json_t **row_out, request_error *e)
{
    *row_out = NULL;
    request_norm n;
    int r = depset_normalize(c, body, &n, e);
    if (r < 0)
        return r;
    store_depset_ref ref;
    memcpy(ref.key, n.depset_key, sizeof(ref.key));
    ref.spec_json = n.depset_spec;
    r = store_depset_ensure(c->st, &ref);
    request_norm_done(&n);
    if (r < 0)
        return r;
    store_ring(c->st, STORE_ROLE_BUILDER);
    json_t *row = NULL;
    int g = store_depset_get(c->st, ref.key, &row);
    if (g < 0)
        return g;
    *row_out = depset_public(row);
    return r;
}

int api_depset_wait_v1(api_call *c, const char *key, json_t **row_out)
{
    api_ctx *ctx = c->ctx;
    int64_t deadline = store_now_ms() + ctx->wait_timeout_ms;
    for (;;) {
        uint64_t gen = api_bell_generation(ctx->bell);
        json_t *row = NULL;
        int r = store_depset_get(c->st, key, &row);
        if (r < 0)
            return r;
        const char *st = json_string_value(json_object_get(row, "state"));
        int64_t now = store_now_ms();
        if ((st && (!strcmp(st, "ready") || !strcmp(st, "failed"))) || now >= deadline ||
            *ctx->stop) {
            *row_out = depset_public(row);
            return 0;
        }
        json_decref(row);
        long long left = deadline - now;
        api_bell_wait(ctx->bell, gen, (int)(left < ctx->poll_ms ? left : ctx->poll_ms));
    }
}

int api_depset_evict_v1(api_call *c, const char *key, char *err, size_t errlen)
{
    return builder_evict(c->ctx->cfg, c->st, key, err, errlen);
}

enum MHD_Result api_depsets_create(api_call *c)
{
    enum MHD_Result ret;
    _cleanup_json_ json_t *in = api_body_json(c, &ret);
    if (!in)
        return ret;
    if (!json_is_object(in))
        return http_reply_error(c->req, 400, "invalid_type", "body",
                                "the body must be a JSON object");
    if (!api_accepting(c->st)) {
        c->req->retry_after_s = 30;
        return http_reply_error(c->req, 503, "draining", NULL,
                                "this farm is draining and takes no new work");
    }
    json_t *row = NULL;
    request_error e;
    int r = api_depset_ensure_v1(c, in, &row, &e);
    if (r < 0 && e.status)
        return http_reply_error(c->req, (unsigned)e.status, e.code, e.field[0] ? e.field : NULL,
                                "%s", e.message);
    if (r < 0)
        return api_store_error(c, r, "depset");
    return http_reply_json(c->req, r == 1 ? 201 : 200, row);
}

/* DELETE /v1/depsets/{key}: 200 evicted; 409 "held" while submissions use or
 * await it, 409 "building" while it is queued or building (evicting then
 * would pull the root from under the builder); 404; 503 when the database is
 * locked. */
enum MHD_Result api_depset_evict(api_call *c)
{
    char err[512] = "";
    int r = builder_evict(c->ctx->cfg, c->st, c->param, err, sizeof(err));
    if (r == 0)
        return http_reply_error(c->req, 409, "held", NULL,
                                "depset %s is held by running submissions", c->param);
    if (r == -ENOENT)
        return http_reply_error(c->req, 404, "not_found", NULL, "no such depset: %s", c->param);
    if (r == -EBUSY) {
        /* builder_evict says -EBUSY for a set not done building; the store
         * says it for a locked database. The row tells which. */
        _cleanup_json_ json_t *row = NULL;
        const char *state = NULL;
        if (store_depset_get(c->st, c->param, &row) == 0)
            state = json_string_value(json_object_get(row, "state"));
        if (state && (!strcmp(state, "queued") || !strcmp(state, "building")))
            return http_reply_error(c->req, 409, "building", NULL,
                                    "depset %s is %s; it can be evicted once it is ready or "
                                    "failed",
                                    c->param, state);
        c->req->retry_after_s = 1;
        return http_reply_error(c->req, 503, "busy", NULL, "the database is busy; retry");
    }
    if (r < 0) {
        log_error("evict_failed key=%s err=\"%s\"", c->param, err);
        return http_reply_error(c->req, 500, "internal", NULL, "cannot evict: %s", err);
    }
    return http_reply_json(c->req, 200, json_pack("{s:s, s:b}", "key", c->param, "evicted", 1));
}

/* ---- profiles ---- */

static json_t *full_limits(const request_opts *o, const json_t *profile_limits,
                           const long long *defaults)
{
    json_t *out = json_object();
    for (int i = 0; i < REQUEST_N_LIMITS; i++) {
        long long v = defaults[i];
        json_t *pv = json_object_get(profile_limits, request_limit_names[i]);
        if (json_is_integer(pv) && json_integer_value(pv) > 0)
            v = json_integer_value(pv) < o->max[i] ? json_integer_value(pv) : o->max[i];
        json_object_set_new(out, request_limit_names[i], json_integer(v));
    }
    return out;
}

enum MHD_Result api_profiles_list(api_call *c)
{
    json_t *all = profiles_all(c->ctx->profiles);
    json_t *list = json_array();
    const char *name;
    json_t *p;
    const request_opts *o = &c->ctx->ropts;
    json_object_foreach(all, name, p)
    {
        json_t *pl = json_object_get(p, "limits");
        json_t *lim =
            json_pack("{s:o, s:o}", "run", full_limits(o, json_object_get(pl, "run"), o->def_run),
                      "compile", full_limits(o, json_object_get(pl, "compile"), o->def_compile));
        json_object_set_new(p, "limits", lim);
        json_object_set_new(p, "name", json_string(name));
        /* what the worker really installs: the profile's packages plus bash */
        json_array_append(list, p);
    }
    json_decref(all);
    return http_reply_json(c->req, 200, json_pack("{s:o}", "profiles", list));
}

/* ---- health, metrics, drain ---- */

enum MHD_Result api_health(api_call *c)
{
    char now[32];
    snprintf(now, sizeof(now), "%lld", (long long)store_now_ms());
    bool writable = store_setting_set(c->st, "health.last_probe", now) >= 0;
    _cleanup_json_ json_t *depths = NULL, *beats = NULL;
    store_queue_depths(c->st, &depths);
    store_heartbeats(c->st, &beats);
    long long live[3] = {0}; /* workers, builders, health */
    int64_t t = store_now_ms();
    size_t i;
    json_t *b;
    json_array_foreach(beats, i, b)
    {
        json_t *seen = json_object_get(b, "last_seen_at");
        const char *role = json_string_value(json_object_get(b, "role"));
        if (!role || !json_is_integer(seen) || t - json_integer_value(seen) > c->ctx->stale_ms)
            continue;
        if (!strcmp(role, "worker"))
            live[0]++;
        else if (!strcmp(role, "builder"))
            live[1]++;
        else if (!strcmp(role, "health"))
            live[2]++;
    }
    bool accepting = api_accepting(c->st);
    json_t *o =
        json_pack("{s:s, s:b, s:b, s:{s:I, s:I, s:I}, s:O}", "status", writable ? "ok" : "degraded",
                  "database_writable", writable, "accepting", accepting, "live", "workers",
                  (json_int_t)live[0], "builders", (json_int_t)live[1], "health",
                  (json_int_t)live[2], "queues", depths ? depths : json_null());
    return http_reply_json(c->req, writable ? 200 : 503, o);
}

enum MHD_Result api_metrics(api_call *c)
{
    _cleanup_free_ char *text = NULL;
    int r = metrics_render(c->ctx->metrics, c->st, c->ctx->stale_ms, api_accepting(c->st), &text);
    if (r < 0)
        return api_store_error(c, r, "metrics");
    return http_reply_text(c->req, 200, "text/plain; version=0.0.4; charset=utf-8", text);
}

enum MHD_Result api_admin_drain_get(api_call *c)
{
    return http_reply_json(c->req, 200, json_pack("{s:b}", "accepting", api_accepting(c->st)));
}

enum MHD_Result api_admin_drain(api_call *c)
{
    enum MHD_Result ret;
    _cleanup_json_ json_t *in = api_body_json(c, &ret);
    if (!in)
        return ret;
    json_t *acc = json_object_get(in, "accepting");
    if (!json_is_object(in) || !json_is_boolean(acc))
        return http_reply_error(c->req, 422, acc ? "invalid_type" : "missing_field", "accepting",
                                "send {\"accepting\": false} to drain, true to resume");
    int r = store_setting_set(c->st, "accepting", json_is_true(acc) ? "true" : "false");
    if (r < 0)
        return api_store_error(c, r, "setting");
    log_info("api_drain accepting=%s", json_is_true(acc) ? "true" : "false");
    return http_reply_json(c->req, 200, json_pack("{s:b}", "accepting", json_is_true(acc)));
}
