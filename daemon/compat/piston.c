/* piston.c — the Piston v2 front (docs/compat-piston.md): GET
 * /api/v2/runtimes, POST /api/v2/execute, the packages calls, its auth header
 * and its refusals ({"message": ...}).
 *
 * Translation only: the request goes through piston_translate.c into a v1
 * request and through api_submit_v1 (the one pipeline, with ?wait); the
 * view comes back through piston_translate.c. The runtimes are built from
 * the package set of the moment (builder_pkgset_dir, or api.packages.file) on
 * every call, so they follow the set without a restart. The body is read as
 * JSON whatever its Content-Type (piston-client labels it text/plain). */
#include "compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../common/cleanup.h"
#include "../../common/jsonutil.h"
#include "piston_packages.h"
#include "piston_translate.h"
#include "piston_ws.h"

/* Builds the runtimes of the moment; answers 500 itself on failure. */
static int runtimes_now(api_call *c, piston_runtime **rts, size_t *n, enum MHD_Result *ret)
{
    int r = piston_runtimes_now(c->ctx->cfg, rts, n);
    if (r < 0)
        *ret = r == -ENOMEM
                   ? compat_reply_field(c, "message", 500, "out of memory")
                   : compat_reply_field(c, "message", 500, "the package set cannot be read");
    return r;
}

static enum MHD_Result piston_runtimes(api_call *c)
{
    piston_runtime *rts = NULL;
    size_t n = 0;
    enum MHD_Result ret;
    if (runtimes_now(c, &rts, &n, &ret) < 0)
        return ret;
    json_t *j = piston_runtimes_json(rts, n);
    free(rts);
    return http_reply_json(c->req, 200, j);
}

/* The body as JSON, whatever the Content-Type; answers 400 itself. */
static json_t *body_json(api_call *c, enum MHD_Result *ret)
{
    json_error_t je;
    json_t *b = json_loadb(c->req->body ? c->req->body : "", c->req->body_len, 0, &je);
    if (!b)
        *ret = compat_reply_field(c, "message", 400, "the body is not valid JSON: %s", je.text);
    return b;
}

void piston_maxima_of(const api_ctx *ctx, piston_maxima *m)
{
    m->timeout_ms = ctx->ropts.max[REQUEST_LIM_WALL_MS];
    m->cpu_time_ms = ctx->ropts.max[REQUEST_LIM_CPU_MS];
    m->memory_bytes = ctx->ropts.max[REQUEST_LIM_MEMORY_KIB] > 0
                          ? ctx->ropts.max[REQUEST_LIM_MEMORY_KIB] * 1024
                          : 0;
}

static enum MHD_Result piston_execute(api_call *c)
{
    enum MHD_Result ret;
    _cleanup_json_ json_t *body = body_json(c, &ret);
    if (!body)
        return ret;
    piston_runtime *rts = NULL;
    size_t n = 0;
    if (runtimes_now(c, &rts, &n, &ret) < 0)
        return ret;
    piston_maxima max;
    piston_maxima_of(c->ctx, &max);
    json_t *v1 = NULL;
    const piston_runtime *rt = NULL;
    char msg[1024] = "";
    int r = piston_request_to_v1(body, rts, n, &max, &v1, &rt, msg, sizeof(msg));
    if (r < 0) {
        free(rts);
        return r == -ENOMEM ? compat_reply_field(c, "message", 500, "out of memory")
                            : compat_reply_field(c, "message", 400, "%s", msg);
    }
    char id[64] = "";
    json_t *view = NULL;
    request_error e = {0};
    r = api_submit_v1(c, v1, true, id, &view, &e);
    json_decref(v1);
    if (r < 0) {
        free(rts);
        unsigned st =
            e.status >= 400 && e.status < 500 ? 400 : (unsigned)(e.status ? e.status : 500);
        return compat_reply_field(c, "message", st, "%s%s%s", e.field[0] ? e.field : "",
                                  e.field[0] ? ": " : "",
                                  e.message[0] ? e.message : "internal error");
    }
    json_t *out = view ? piston_response_from_view(view, rt, msg, sizeof(msg)) : NULL;
    if (!view)
        snprintf(msg, sizeof(msg), "the job's result cannot be read");
    else if (!out && !api_state_is_terminal(json_string_value(json_object_get(view, "state"))))
        snprintf(msg, sizeof(msg),
                 "the job did not finish within api.wait_timeout_ms; it is /v1/submissions/%s", id);
    json_decref(view);
    free(rts);
    if (!out)
        return compat_reply_field(c, "message", 500, "%s", msg);
    snprintf(c->req->location, sizeof(c->req->location), "/v1/submissions/%s", id);
    return http_reply_json(c->req, 200, out);
}

static const api_route piston_routes[] = {
    {"GET", "/api/v2/runtimes", piston_runtimes, AUTH_READ},
    {"POST", "/api/v2/execute", piston_execute, AUTH_SUBMIT},
    {"GET", "/api/v2/connect", piston_ws_connect, AUTH_SUBMIT},
    {"GET", "/api/v2/packages", piston_packages_list, AUTH_READ},
    {"POST", "/api/v2/packages", piston_packages_install, AUTH_ADMIN},
    {"DELETE", "/api/v2/packages", piston_packages_uninstall, AUTH_ADMIN},
    {NULL, NULL, NULL, 0},
};

/* Authorization: the token alone, or "Bearer <token>". */
int piston_token(struct MHD_Connection *conn, char *token, size_t len)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!v || !*v)
        return 0;
    if (!strncasecmp(v, "Bearer ", 7))
        v += 7;
    while (*v == ' ')
        v++;
    if (strlen(v) >= len)
        return -EINVAL;
    snprintf(token, len, "%s", v);
    return 1;
}

/* Piston answers every refusal as {"message": ...}. */
static enum MHD_Result piston_refusal(api_call *c, unsigned status, const char *code,
                                      const char *message)
{
    (void)code;
    return http_reply_json(c->req, status, json_pack("{s:s}", "message", message));
}

const compat_front compat_piston = {
    .name = "piston",
    .routes = piston_routes,
    .token_from_request = piston_token,
    .reply_refusal = piston_refusal,
    .cors = false,
};
