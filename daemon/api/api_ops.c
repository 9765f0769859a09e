/* api_ops.c — the operational endpoints: dependency sets, profiles, health,
 * metrics and drain. */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../builder/builder.h"
#include "../../common/cleanup.h"
#include "../../common/depset_key.h"
#include "../../common/health_report.h"
#include "../../common/jsonutil.h"
#include "../../common/log.h"

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
        if (strcmp(k, "packages") && strcmp(k, "profile") && strcmp(k, "expr") &&
            strcmp(k, "package_set")) {
            e->status = 422;
            snprintf(e->code, sizeof(e->code), "unknown_field");
            snprintf(e->field, sizeof(e->field), "%.*s", (int)sizeof(e->field) - 1, k);
            snprintf(e->message, sizeof(e->message),
                     "unknown field %.200s (packages, profile, expr or package_set)", k);
            return -EINVAL;
        }
        json_object_set(probe, k, v);
    }
    json_object_set_new(probe, "run", json_string("true"));
    request_opts o;
    char pkgset[65];
    if (api_request_opts(c, &o, pkgset, e) < 0)
        return -EIO;
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
        log_error("evict-failed key=%s error=\"%s\"", c->param, err);
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

/* What this machine's package set says of a profile: its version (from the
 * set, so it follows Debian updates), whether every package is there, and
 * for those that are not, the reason and the Debian versions installed. */
static void profile_availability(json_t *p, const json_t *set)
{
    if (!set)
        return;
    const json_t *pk = json_object_get(set, "packages");
    const json_t *un = json_object_get(set, "unavailable");
    json_t *missing = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(p, "packages"), i, v)
    {
        const char *n = json_string_value(v);
        json_t *u = json_object_get(un, n);
        if (n && !json_object_get(pk, n))
            json_array_append_new(missing,
                                  json_pack("{s:s, s:s, s:O}", "package", n, "reason",
                                            u ? json_string_value(json_object_get(u, "reason"))
                                              : "not in this farm's package set",
                                            "debian_versions",
                                            u && json_object_get(u, "debian_versions")
                                                ? json_object_get(u, "debian_versions")
                                                : json_null()));
    }
    const json_t *vp = json_object_get(p, "version_package");
    const char *vn = json_is_string(vp)
                         ? json_string_value(vp)
                         : json_string_value(json_array_get(json_object_get(p, "packages"), 0));
    const json_t *ver = json_object_get(json_object_get(pk, vn ? vn : ""), "version");
    if (json_is_string(ver))
        json_object_set(p, "version", (json_t *)ver);
    json_object_set_new(p, "available", json_boolean(json_array_size(missing) == 0));
    json_object_set_new(p, "unavailable", missing);
}

enum MHD_Result api_profiles_list(api_call *c)
{
    json_t *all = profiles_all(c->ctx->profiles);
    char e[512] = "";
    _cleanup_json_ json_t *set = NULL;
    if (builder_pkgset_describe(c->ctx->cfg, &set, e, sizeof e) < 0)
        log_warn("profiles-pkgset-failed error=\"%s\"", e);
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
        const char *ps = json_string_value(json_object_get(p, "package_set"));
        if (ps && strcmp(ps, "debian"))
            api_profile_nixpkgs_availability(c, p);
        else
            profile_availability(p, set);
        /* what the worker really installs: the profile's packages plus bash */
        json_array_append(list, p);
    }
    json_decref(all);
    return http_reply_json(c->req, 200, json_pack("{s:o}", "profiles", list));
}

/* ---- health, metrics, drain ---- */

/* The package set in /v1/health: the id submissions get now, how often it
 * changed under this farm (Debian updates), and what is unavailable here. */
static json_t *pkgset_health(const config *cfg)
{
    char id[65] = "", cur[65] = "", e[512] = "";
    long long changes = 0, at = 0;
    /* The id first: this use may regenerate the set, and the count then
     * includes that change. */
    int idr = builder_pkgset_id(cfg, id, e, sizeof e);
    (void)builder_pkgset_changes(cfg, &changes, cur, &at);
    if (idr < 0)
        return json_pack("{s:n, s:s, s:I}", "id", "error", e, "changes", (json_int_t)changes);
    json_t *o = json_pack("{s:s, s:I, s:o}", "id", id, "changes", (json_int_t)changes,
                          "changed_at_ms", at ? json_integer(at * 1000) : json_null());
    _cleanup_json_ json_t *set = NULL;
    if (o && builder_pkgset_describe(cfg, &set, e, sizeof e) == 0) {
        json_t *names = json_array();
        const char *n;
        json_t *v;
        json_object_foreach(json_object_get(set, "unavailable"), n, v)
            json_array_append_new(names, json_string(n));
        json_object_set_new(o, "unavailable", names);
    }
    return o;
}

/* Whether the query has key at all: a bare "?verbose" has no value, so
 * http_query cannot tell it from an absent one. */
typedef struct {
    const char *key;
    bool found;
} query_key;

static enum MHD_Result query_key_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    query_key *q = cls;

    (void)kind;
    (void)value;
    if (key && !strcmp(key, q->key)) {
        q->found = true;
        return MHD_NO;
    }
    return MHD_YES;
}

/* GET /v1/health[?verbose]: common/health_report.h says what makes it ok,
 * degraded or failing; 200 unless failing (503), so a load balancer can use
 * it. The details (every process, stuck runs and builds, in-flight runs per
 * worker) only with ?verbose. */
enum MHD_Result api_health(api_call *c)
{
    static const char *const details[] = {"processes", "stuck_runs", "stuck_builds", "inflight"};
    const char *v = http_query(c->req, "verbose");
    if (v && *v && strcasecmp(v, "true") && strcmp(v, "1") && strcasecmp(v, "yes") &&
        strcasecmp(v, "false") && strcmp(v, "0") && strcasecmp(v, "no"))
        return http_reply_error(c->req, 400, "invalid_value", "verbose",
                                "verbose must be true or false (or given without a value)");
    query_key q = {.key = "verbose"};
    MHD_get_connection_values(c->req->conn, MHD_GET_ARGUMENT_KIND, query_key_cb, &q);
    bool verbose = q.found && (!v || http_query_bool(c->req, "verbose"));
    char now[32];
    snprintf(now, sizeof(now), "%lld", (long long)store_now_ms());
    bool writable = store_setting_set(c->st, "health.last_probe", now) >= 0;
    health_params hp;
    health_params_from_config(c->ctx->cfg, &hp);
    json_t *o = NULL;
    int r = health_report(c->st, &hp, writable, &o);
    if (r < 0) {
        /* The database cannot even be read: that is the answer. */
        log_warn("health-report-failed errno=%d error=\"%s\"", -r, store_last_error(c->st));
        return http_reply_json(c->req, 503,
                               json_pack("{s:s,s:[s],s:b,s:b}", "status", "failing", "reasons",
                                         "database not readable", "database_writable", writable,
                                         "accepting", api_accepting(c->st)));
    }
    json_object_set_new(o, "accepting", json_boolean(api_accepting(c->st)));
    json_object_set_new(o, "pkgset", pkgset_health(c->ctx->cfg));
    if (!verbose)
        for (size_t i = 0; i < sizeof(details) / sizeof(*details); i++)
            json_object_del(o, details[i]);
    bool failing = !strcmp(json_string_value(json_object_get(o, "status")), "failing");
    return http_reply_json(c->req, failing ? 503 : 200, o);
}

enum MHD_Result api_metrics(api_call *c)
{
    _cleanup_free_ char *text = NULL;
    health_params hp;
    health_params_from_config(c->ctx->cfg, &hp);
    int r = metrics_render(c->ctx->metrics, c->st, &hp, api_accepting(c->st), &text);
    if (r < 0)
        return api_store_error(c, r, "metrics");
    char id[65] = "", cur[65] = "", e[512];
    long long changes = 0, at = 0;
    (void)builder_pkgset_id(c->ctx->cfg, id, e, sizeof e); /* may regenerate: first */
    (void)builder_pkgset_changes(c->ctx->cfg, &changes, cur, &at);
    char *more = NULL;
    if (asprintf(&more,
                 "%s# HELP farm_pkgset_changes_total Times the package set derived from dpkg "
                 "changed under this farm\n# TYPE farm_pkgset_changes_total counter\n"
                 "farm_pkgset_changes_total %lld\n"
                 "# HELP farm_pkgset_info The package-set id new submissions get\n"
                 "# TYPE farm_pkgset_info gauge\nfarm_pkgset_info{id=\"%s\"} 1\n",
                 text, changes, id) >= 0) {
        free(text);
        text = more;
    }
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
    log_info("api-drain accepting=%s", json_is_true(acc) ? "true" : "false");
    return http_reply_json(c->req, 200, json_pack("{s:b}", "accepting", json_is_true(acc)));
}
