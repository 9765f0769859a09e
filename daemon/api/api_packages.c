/* api_packages.c — GET /v1/packages: every package a submission may name,
 * in every package set of this farm, each saying which set it belongs to;
 * and what /v1/profiles says of a profile on a nixpkgs set.
 *
 * The Debian-derived set lists its packages.json (and its unavailable
 * ones). A nixpkgs set has tens of thousands of attributes: it lists those
 * the operator names in the sources file ("packages") and those submissions
 * have already used (the evaluation cache), evaluated through that cache, so
 * a listing pays for Nix once per set revision. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "../../builder/builder.h"
#include "../../builder/nixpkgs_eval.h"
#include "../../builder/pkgsources.h"
#include "../../common/cleanup.h"
#include "../../common/jsonutil.h"
#include "../../common/log.h"
#include "../../common/store_evalcache.h"

static void debian_entries(api_call *c, json_t *sets, json_t *list)
{
    char e[512] = "";
    _cleanup_json_ json_t *set = NULL;
    if (builder_pkgset_describe(c->ctx->cfg, &set, e, sizeof e) < 0) {
        json_array_append_new(sets,
                              json_pack("{s:s, s:s, s:n, s:b, s:s}", "name", PKGSOURCES_DEFAULT,
                                        "kind", "debian", "id", "default", 1, "error", e));
        return;
    }
    json_array_append_new(sets,
                          json_pack("{s:s, s:s, s:O, s:b}", "name", PKGSOURCES_DEFAULT, "kind",
                                    "debian", "id", json_object_get(set, "id"), "default", 1));
    const char *name;
    json_t *p;
    json_object_foreach(json_object_get(set, "packages"), name, p)
    {
        json_t *d = json_object_get(p, "description");
        json_array_append_new(
            list,
            json_pack("{s:s, s:s, s:O, s:O, s:b}", "name", name, "package_set", PKGSOURCES_DEFAULT,
                      "version",
                      json_object_get(p, "version") ? json_object_get(p, "version") : json_null(),
                      "description", d ? d : json_null(), "available", 1));
    }
    json_object_foreach(json_object_get(set, "unavailable"), name, p)
    {
        json_t *r = json_object_get(p, "reason");
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:n, s:O, s:b, s:O}", "name", name, "package_set",
                            PKGSOURCES_DEFAULT, "version", "description",
                            json_object_get(p, "description") ? json_object_get(p, "description")
                                                              : json_null(),
                            "available", 0, "reason", r ? r : json_null()));
    }
}

/* One entry of a nixpkgs set from an evaluation result. */
static json_t *nixpkgs_entry(const char *set, const char *attr, const json_t *res)
{
    bool ok = json_is_true(json_object_get(res, "ok"));
    json_t *o = json_pack("{s:s, s:s, s:b}", "name", attr, "package_set", set, "available", ok);
    const char *keys[] = {"version", "description", "out_path"};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(res, keys[i]);
        json_object_set(o, keys[i], v ? v : json_null());
    }
    if (!ok)
        json_object_set(o, "reason", json_object_get(res, "error"));
    return o;
}

static void nixpkgs_entries(api_call *c, const char *name, json_t *sets, json_t *list)
{
    char e[2048] = "";
    _cleanup_pkgsource_ pkgsource *src = NULL;
    int r = pkgsources_get(c->ctx->cfg, name, &src, e, sizeof e);
    if (r <= 0) {
        json_array_append_new(sets, json_pack("{s:s, s:s, s:n, s:b, s:s}", "name", name, "kind",
                                              "nixpkgs", "id", "default", 0, "error", e));
        return;
    }
    json_t *s = json_pack("{s:s, s:s, s:s, s:s, s:b}", "name", name, "kind", "nixpkgs", "id",
                          src->id, "revision", src->revision, "default", 0);
    json_t *subs = json_object_get(src->def, "substituters");
    json_object_set(s, "substituters", subs ? subs : json_array());
    json_array_append_new(sets, s);
    /* The advertised ones, evaluated together once per revision; the check
     * records every answer before it reports the first bad one. */
    json_t *adv = json_object_get(src->def, "packages");
    if (json_is_array(adv) && json_array_size(adv) > 0 &&
        builder_nixpkgs_check(c->ctx->cfg, c->st, src, adv, 0, NULL, NULL, e, sizeof e) == -ENOEXEC)
        log_warn("packages-eval-failed set=%s error=\"%.300s\"", name, e);
    _cleanup_json_ json_t *cached = NULL;
    if (store_evalcache_list(c->st, src->id, &cached) < 0)
        return;
    const char *attr;
    json_t *res;
    json_object_foreach(cached, attr, res)
    {
        if (pkgsources_attr_ok(attr)) /* not the row of the set's top-level names */
            json_array_append_new(list, nixpkgs_entry(name, attr, res));
    }
}

enum MHD_Result api_packages_list(api_call *c)
{
    const char *only = http_query(c->req, "package_set");
    char e[512] = "";
    _cleanup_json_ json_t *names = NULL;
    if (pkgsources_names(c->ctx->cfg, &names, e, sizeof e) < 0)
        return http_reply_error(c->req, 500, "package_set_unavailable", NULL, "%s", e);
    if (only && strcmp(only, PKGSOURCES_DEFAULT)) {
        bool found = false;
        size_t i;
        json_t *v;
        json_array_foreach(names, i, v) found = found || !strcmp(json_string_value(v), only);
        if (!found)
            return http_reply_error(c->req, 404, "unknown_package_set", "package_set",
                                    "unknown package set \"%.64s\"", only);
    }
    json_t *sets = json_array(), *list = json_array();
    if (!only || !strcmp(only, PKGSOURCES_DEFAULT))
        debian_entries(c, sets, list);
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        if (!only || !strcmp(only, json_string_value(v)))
            nixpkgs_entries(c, json_string_value(v), sets, list);
    }
    return http_reply_json(c->req, 200, json_pack("{s:o, s:o}", "sets", sets, "packages", list));
}

void api_profile_nixpkgs_availability(api_call *c, json_t *p)
{
    const char *set = json_string_value(json_object_get(p, "package_set"));
    char e[2048] = "";
    _cleanup_pkgsource_ pkgsource *src = NULL;
    _cleanup_json_ json_t *info = NULL;
    json_t *missing = json_array();
    int r = pkgsources_get(c->ctx->cfg, set, &src, e, sizeof e);
    if (r > 0)
        r = builder_nixpkgs_check(c->ctx->cfg, c->st, src, json_object_get(p, "packages"), 0, &info,
                                  NULL, e, sizeof e);
    else if (r == 0)
        r = -ENOENT;
    if (r < 0)
        json_array_append_new(missing, json_pack("{s:n, s:s}", "package", "reason", e));
    const json_t *vp = json_object_get(p, "version_package");
    const char *vn = json_is_string(vp)
                         ? json_string_value(vp)
                         : json_string_value(json_array_get(json_object_get(p, "packages"), 0));
    json_t *ver = json_object_get(json_object_get(info, vn ? vn : ""), "version");
    if (json_is_string(ver))
        json_object_set(p, "version", ver);
    json_object_set_new(p, "available", json_boolean(json_array_size(missing) == 0));
    json_object_set_new(p, "unavailable", missing);
}
