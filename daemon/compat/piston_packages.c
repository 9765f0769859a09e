/* piston_packages.c — see piston_packages.h. A runtime's dependency set is
 * {"packages": [its package]}, the very set its executions use. */
#include "piston_packages.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/cleanup.h"
#include "../../common/jsonutil.h"
#include "compat.h"
#include "piston_runtimes.h"

static const char *str_of(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

int piston_runtimes_now(const config *cfg, piston_runtime **rts, size_t *n)
{
    _cleanup_json_ json_t *pkgs = compat_package_set(cfg);
    if (!pkgs)
        return -EIO;
    return piston_runtimes_build(pkgs, rts, n);
}

static json_t *set_of(const piston_runtime *rt)
{
    json_t *set = json_pack("{s:[s]}", "packages", rt->lang->package);
    if (set && rt->lang->extra)
        json_array_append_new(json_object_get(set, "packages"), json_string(rt->lang->extra));
    return set;
}

enum MHD_Result piston_packages_list(api_call *c)
{
    piston_runtime *rts = NULL;
    size_t n = 0;
    if (piston_runtimes_now(c->ctx->cfg, &rts, &n) < 0)
        return compat_reply_field(c, "message", 500, "the package set cannot be read");
    json_t *out = json_array();
    for (size_t i = 0; out && i < n; i++) {
        _cleanup_json_ json_t *set = set_of(&rts[i]);
        char key[65];
        request_error e;
        bool installed = false;
        if (api_depset_key_v1(c, set, key, &e) == 0) {
            _cleanup_json_ json_t *row = NULL;
            if (store_depset_get(c->st, key, &row) == 0)
                installed = !strcmp(str_of(row, "state", ""), "ready");
        }
        json_array_append_new(out, json_pack("{s:s, s:s, s:b}", "language", rts[i].lang->language,
                                             "language_version", rts[i].version_str, "installed",
                                             installed));
    }
    free(rts);
    return http_reply_json(c->req, 200, out);
}

/* The runtime a {language, version} body names; answers itself when none. */
static const piston_runtime *named(api_call *c, const piston_runtime *rts, size_t n,
                                   enum MHD_Result *ret)
{
    json_error_t je;
    _cleanup_json_ json_t *b =
        json_loadb(c->req->body ? c->req->body : "", c->req->body_len, 0, &je);
    const char *lang = json_string_value(json_object_get(b, "language"));
    const char *ver = json_string_value(json_object_get(b, "version"));
    if (!lang || !ver) {
        *ret =
            compat_reply_field(c, "message", 400, "language and version are required as strings");
        return NULL;
    }
    const piston_runtime *rt = piston_runtime_find(rts, n, lang, ver);
    if (!rt)
        *ret = compat_reply_field(c, "message", 404, "Requested package %s-%s does not exist", lang,
                                  ver);
    return rt;
}

static enum MHD_Result set_error(api_call *c, int r, const request_error *e)
{
    if (e->status)
        return compat_reply_field(c, "message", e->status >= 500 ? 500 : 400, "%s", e->message);
    return compat_reply_field(c, "message", r == -EBUSY ? 503 : 500, "the database failed (%s)",
                              strerror(-r));
}

/* What the {language, version} body names, in the package set of the moment:
 * its dependency set (*set) and the body of a success reply (*out), both the
 * caller's. Returns 0, or -1 having answered itself (*ret). */
static int chosen(api_call *c, json_t **set, json_t **out, enum MHD_Result *ret)
{
    piston_runtime *rts = NULL;
    size_t n = 0;
    if (piston_runtimes_now(c->ctx->cfg, &rts, &n) < 0) {
        *ret = compat_reply_field(c, "message", 500, "the package set cannot be read");
        return -1;
    }
    const piston_runtime *rt = named(c, rts, n, ret);
    if (rt) {
        *set = set_of(rt);
        *out = json_pack("{s:s, s:s}", "language", rt->lang->language, "version", rt->version_str);
    }
    free(rts);
    return rt ? 0 : -1;
}

enum MHD_Result piston_packages_install(api_call *c)
{
    _cleanup_json_ json_t *set = NULL;
    _cleanup_json_ json_t *out = NULL;
    enum MHD_Result ret;
    if (chosen(c, &set, &out, &ret) < 0)
        return ret;
    _cleanup_json_ json_t *row = NULL;
    _cleanup_json_ json_t *done = NULL;
    request_error e = {0};
    int r = api_depset_ensure_v1(c, set, &row, &e);
    if (r >= 0)
        r = api_depset_wait_v1(c, str_of(row, "key", ""), &done);
    if (r < 0)
        return set_error(c, r, &e);
    const char *state = str_of(done, "state", "");
    if (!strcmp(state, "ready"))
        return http_reply_json(c->req, 200, steal_pointer(&out));
    return compat_reply_field(c, "message", 500, "the package's dependency set is %s%s%s", state,
                              json_is_string(json_object_get(done, "error")) ? ": " : "",
                              str_of(done, "error", ""));
}

enum MHD_Result piston_packages_uninstall(api_call *c)
{
    _cleanup_json_ json_t *set = NULL;
    _cleanup_json_ json_t *out = NULL;
    enum MHD_Result ret;
    if (chosen(c, &set, &out, &ret) < 0)
        return ret;
    char key[65], err[512] = "";
    request_error e = {0};
    int r = api_depset_key_v1(c, set, key, &e);
    if (r < 0)
        return set_error(c, r, &e);
    r = api_depset_evict_v1(c, key, err, sizeof(err));
    if (r == 1 || r == -ENOENT) /* not installed: nothing to drop */
        return http_reply_json(c->req, 200, steal_pointer(&out));
    if (r == 0)
        return compat_reply_field(c, "message", 409, "the package is in use by running jobs");
    if (r == -EBUSY)
        return compat_reply_field(c, "message", 409,
                                  "the package is being installed; retry once it is done");
    return compat_reply_field(c, "message", 500, "cannot uninstall: %s", err);
}
