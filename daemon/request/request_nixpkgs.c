/* request_nixpkgs.c — the environment of a request that chooses a nixpkgs
 * package set (`"package_set": "nixpkgs-24.11"`, or a profile that names
 * one): its packages are attribute paths of that set, checked through the
 * evaluation cache (builder/nixpkgs_eval.h), and its dependency-set key is
 * made over that set's own id (depset_key_for_set), so it never meets a key
 * of the Debian-derived set or of another revision.
 *
 * Unlike the Debian set, nothing is added to the names: a nixpkgs set need
 * not have bash, and the worker runs shell syntax with its own static sh
 * when the set has none. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "request_internal.h"
#include "../../builder/nixpkgs_eval.h"
#include "../../builder/pkgsources.h"
#include "../../common/cleanup.h"
#include "../../common/depset_key.h"
#include "../../common/jsonutil.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "packages[3]: ..." -> 422 naming packages[3]; anything else -> 500. */
static int check_error(int r, const char *msg, const char *fallback, request_error *e)
{
    if (r == -EINVAL) {
        char field[128];
        const char *colon = strchr(msg, ':');
        if (colon && (size_t)(colon - msg) < sizeof field && !strncmp(msg, "packages", 8))
            snprintf(field, sizeof field, "%.*s", (int)(colon - msg), msg);
        else
            snprintf(field, sizeof field, "%s", fallback);
        return request_fail(e, 422, "unknown_package", field, "%s", msg);
    }
    request_fail(e, 500, "package_set_unavailable", fallback, "%s", msg);
    return r;
}

int request_nixpkgs_environment(const request_opts *o, json_t *in, const json_t *profile,
                                const char *profile_name, const char *set_name, json_t *norm,
                                request_norm *out, request_error *e)
{
    char msg[2048] = "";
    if (!pkgsources_name_ok(set_name)) {
        char ex[80];
        request_excerpt(set_name, ex, sizeof ex);
        return request_fail(e, 422, "invalid_value", "package_set",
                            "package_set \"%s\" is not a set name", ex);
    }
    _cleanup_pkgsource_ pkgsource *src = NULL;
    int r = o->cfg ? pkgsources_get(o->cfg, set_name, &src, msg, sizeof msg) : 0;
    if (r == 0)
        return request_fail(e, 422, "unknown_package_set", "package_set", "%s",
                            msg[0] ? msg : "this farm has no package sets besides debian");
    if (r < 0)
        return request_fail(e, 500, "package_set_unavailable", "package_set",
                            "package set %s cannot be used: %s", set_name, msg);

    json_t *pk = json_object_get(in, "packages");
    _cleanup_json_ json_t *all = json_array();
    if (!all)
        return request_fail(e, 500, "internal", "packages", "out of memory");
    if (pk && !json_is_null(pk)) {
        if (!json_is_array(pk))
            return request_wrong_type(e, "packages", "an array of attribute paths", pk);
        if (json_array_size(pk) > MAX_PACKAGES)
            return request_fail(e, 422, "too_many", "packages", "packages has more than %d names",
                                MAX_PACKAGES);
        size_t i;
        json_t *v;
        json_array_foreach(pk, i, v)
        {
            char field[64];
            snprintf(field, sizeof field, "packages[%zu]", i);
            if (!json_is_string(v))
                return request_wrong_type(e, field, "an attribute path", v);
            json_array_append(all, v);
        }
        if (json_array_size(pk) > 0 &&
            (r = builder_nixpkgs_check(o->cfg, o->st, src, pk, 0, NULL, NULL, msg, sizeof msg)) < 0)
            return check_error(r, msg, "packages", e);
    }
    if (profile) {
        json_t *pp = json_object_get(profile, "packages");
        if ((r = builder_nixpkgs_check(o->cfg, o->st, src, pp, 0, NULL, NULL, msg, sizeof msg)) <
            0) {
            if (r == -EINVAL)
                return request_fail(e, 422, "profile_unavailable", "profile",
                                    "package set %s cannot provide %s: %s", set_name, profile_name,
                                    msg);
            return check_error(r, msg, "profile", e);
        }
        json_array_extend(all, pp);
    }
    if (json_array_size(all) == 0)
        return request_fail(e, 422, "missing_field", "packages",
                            "package set %s: name at least one attribute path in packages",
                            set_name);

    size_t n = json_array_size(all), k = 0;
    _cleanup_free_ const char **names = calloc(n + 1, sizeof *names);
    if (!names)
        return request_fail(e, 500, "internal", "packages", "out of memory");
    for (size_t i = 0; i < n; i++)
        names[i] = json_string_value(json_array_get(all, i));
    qsort(names, n, sizeof *names, cmp_str);
    json_t *sorted = json_array();
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(names[i], names[i - 1])) {
            names[k++] = names[i];
            json_array_append_new(sorted, json_string(names[i]));
        }
    r = depset_key_for_set(set_name, src->id, names, k, out->depset_key, &out->depset_spec);
    if (r < 0) {
        json_decref(sorted);
        return request_fail(e, 422, "invalid_value", "packages", "packages cannot form a set");
    }
    json_object_set_new(norm, "packages", sorted);
    json_object_set_new(norm, "package_set", json_string(set_name));
    return 0;
}
