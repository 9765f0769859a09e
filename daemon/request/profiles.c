/* profiles.c — loading and checking daemon/request/profiles.json. See profiles.h.
 *
 * The file maps a profile name to {description, packages, version_package,
 * file, compile, run, limits, aliases}. An alias (Judge0's "javascript" for
 * "nodejs", "c++" for "cpp") finds the same profile; aliases are unique
 * across the file and never equal a profile's name. A mistake in it is an operator's mistake, so
 * loading fails with a sentence naming the profile and field rather than
 * serving a half-valid preset. */
#include "profiles.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm-build-config.h"
#include "../../builder/builder.h"
#include "../../builder/pkgsources.h"
#include "../../common/cleanup.h"
#include "../../common/jsonutil.h"

struct profiles {
    json_t *all;     /* {name: profile} with "version" filled */
    json_t *aliases; /* {alias: name} */
    char *names;
};

void profiles_free(profiles *p)
{
    if (!p)
        return;
    json_decref(p->all);
    json_decref(p->aliases);
    free(p->names);
    free(p);
}

/* The version a package set records for name. nix/packages.json is the nix
 * work's file; accept {"packages": {name: {version}}}, {name: {version}} and
 * [{name, version}] so the API does not break when that layout settles. */
static const char *package_version(const json_t *pkgs, const char *name)
{
    if (!pkgs || !name)
        return NULL;
    const json_t *root = json_object_get(pkgs, "packages");
    if (!root)
        root = pkgs;
    if (json_is_object(root)) {
        const json_t *e = json_object_get(root, name);
        const json_t *v = json_is_object(e) ? json_object_get(e, "version") : e;
        return json_is_string(v) ? json_string_value(v) : NULL;
    }
    if (json_is_array(root)) {
        size_t i;
        const json_t *e;
        json_array_foreach(root, i, e)
        {
            const json_t *n = json_object_get(e, "name");
            if (json_is_string(n) && !strcmp(json_string_value(n), name)) {
                const json_t *v = json_object_get(e, "version");
                return json_is_string(v) ? json_string_value(v) : NULL;
            }
        }
    }
    return NULL;
}

static int check_profile(const char *name, json_t *p, char *err, size_t errlen)
{
    if (!json_is_object(p)) {
        snprintf(err, errlen, "profile %s: not an object", name);
        return -EINVAL;
    }
    json_t *pk = json_object_get(p, "packages");
    if (!json_is_array(pk) || json_array_size(pk) == 0) {
        snprintf(err, errlen, "profile %s: packages must be a non-empty array", name);
        return -EINVAL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(pk, i, v)
    {
        if (!json_is_string(v) || !*json_string_value(v)) {
            snprintf(err, errlen, "profile %s: packages[%zu] must be a name", name, i);
            return -EINVAL;
        }
    }
    json_t *run = json_object_get(p, "run");
    if (!json_is_string(run) || !*json_string_value(run)) {
        snprintf(err, errlen, "profile %s: run must be a command", name);
        return -EINVAL;
    }
    json_t *c = json_object_get(p, "compile");
    if (c && !json_is_null(c) && !json_is_string(c)) {
        snprintf(err, errlen, "profile %s: compile must be a command or null", name);
        return -EINVAL;
    }
    if (!c)
        json_object_set_new(p, "compile", json_null());
    json_t *lim = json_object_get(p, "limits");
    if (lim && !json_is_object(lim)) {
        snprintf(err, errlen, "profile %s: limits must be an object", name);
        return -EINVAL;
    }
    if (!lim)
        json_object_set_new(p, "limits", json_object());
    json_t *al = json_object_get(p, "aliases");
    if (al && !json_is_array(al)) {
        snprintf(err, errlen, "profile %s: aliases must be an array of names", name);
        return -EINVAL;
    }
    json_array_foreach(al, i, v)
    {
        if (!json_is_string(v) || !*json_string_value(v)) {
            snprintf(err, errlen, "profile %s: aliases[%zu] must be a name", name, i);
            return -EINVAL;
        }
    }
    if (!al)
        json_object_set_new(p, "aliases", json_array());
    if (!json_is_string(json_object_get(p, "file")))
        json_object_set_new(p, "file", json_string("main"));
    if (!json_is_string(json_object_get(p, "description")))
        json_object_set_new(p, "description", json_string(name));
    /* The package set the packages are names of: a nixpkgs set's profile
     * names attribute paths (docs/packages.md). */
    json_t *set = json_object_get(p, "package_set");
    if (set && (!json_is_string(set) || !pkgsources_name_ok(json_string_value(set)))) {
        snprintf(err, errlen, "profile %s: package_set must be the name of a package set", name);
        return -EINVAL;
    }
    if (!set)
        json_object_set_new(p, "package_set", json_string(PKGSOURCES_DEFAULT));
    return 0;
}

/* Fills map {alias: profile name}; an alias equal to a profile's name or to
 * another profile's alias is an error. */
static int alias_map(json_t *all, json_t *map, char *err, size_t errlen)
{
    const char *name;
    json_t *p;
    json_object_foreach(all, name, p)
    {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(p, "aliases"), i, v)
        {
            const char *a = json_string_value(v);
            const json_t *other = json_object_get(map, a);
            if (json_object_get(all, a) || (other && strcmp(json_string_value(other), name))) {
                snprintf(err, errlen,
                         "profile %s: alias %s is already a profile or an alias of one", name, a);
                return -EINVAL;
            }
            if (json_object_set_new(map, a, json_string(name)) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

int profiles_parse(const char *text, const char *packages_json, profiles **out, char *err,
                   size_t errlen)
{
    json_error_t je;
    _cleanup_json_ json_t *all = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!all || !json_is_object(all)) {
        snprintf(err, errlen, "profiles: %s (line %d)", all ? "not an object" : je.text, je.line);
        return -EINVAL;
    }
    _cleanup_json_ json_t *pkgs = packages_json ? json_loads(packages_json, 0, NULL) : NULL;
    size_t cap = 1, used = 0;
    const char *name;
    json_t *p;
    json_object_foreach(all, name, p) cap += strlen(name) + 2;
    _cleanup_free_ char *names = calloc(1, cap);
    if (!names)
        return -ENOMEM;
    json_object_foreach(all, name, p)
    {
        int r = check_profile(name, p, err, errlen);
        if (r < 0)
            return r;
        const json_t *vp = json_object_get(p, "version_package");
        const char *ver = package_version(
            pkgs, json_is_string(vp)
                      ? json_string_value(vp)
                      : json_string_value(json_array_get(json_object_get(p, "packages"), 0)));
        json_object_set_new(p, "version", ver ? json_string(ver) : json_null());
        used += (size_t)snprintf(names + used, cap - used, "%s%s", used ? ", " : "", name);
    }
    _cleanup_json_ json_t *aliases = json_object();
    if (!aliases)
        return -ENOMEM;
    int r = alias_map(all, aliases, err, errlen);
    if (r < 0)
        return r;
    profiles *res = calloc(1, sizeof(*res));
    if (!res)
        return -ENOMEM;
    res->all = steal_pointer(&all);
    res->aliases = steal_pointer(&aliases);
    res->names = steal_pointer(&names);
    *out = res;
    return 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) {
        fclose(f);
        return NULL;
    }
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, m);
    bool bad = ferror(f);
    fclose(f);
    fclose(m);
    if (bad) {
        free(buf);
        return NULL;
    }
    return buf;
}

int profiles_load(const config *cfg, profiles **out, char *err, size_t errlen)
{
    const char *path = config_str(cfg, "api.profiles.file");
    _cleanup_free_ char *deflt = NULL;
    if (!path || !*path) {
        if (asprintf(&deflt, "%s/daemon/request/profiles.json", FARM_SOURCE_ROOT) < 0)
            return -ENOMEM;
        path = deflt;
    }
    _cleanup_free_ char *text = read_file(path);
    if (!text) {
        int e = errno ? errno : EIO;
        snprintf(err, errlen, "cannot read profiles %s: %s", path, strerror(e));
        return -e;
    }
    /* Versions are a nicety: a missing package list leaves them null. */
    _cleanup_free_ char *pkpath = NULL;
    const char *pk = config_str(cfg, "api.packages.file");
    if (pk && *pk)
        pkpath = strdup(pk);
    else {
        _cleanup_free_ char *dir = NULL;
        char pe[512];
        if (builder_pkgset_dir(cfg, false, &dir, pe, sizeof pe) == 0 &&
            asprintf(&pkpath, "%s/packages.json", dir) < 0)
            pkpath = NULL;
    }
    _cleanup_free_ char *pktext = pkpath ? read_file(pkpath) : NULL;
    char sub[512] = "";
    int r = profiles_parse(text, pktext, out, sub, sizeof(sub));
    if (r < 0)
        snprintf(err, errlen, "%s: %s", path, sub);
    return r;
}

const json_t *profiles_get(const profiles *p, const char *name)
{
    if (!name)
        return NULL;
    const json_t *prof = json_object_get(p->all, name);
    if (prof)
        return prof;
    const json_t *to = json_object_get(p->aliases, name);
    return to ? json_object_get(p->all, json_string_value(to)) : NULL;
}

const char *profiles_names(const profiles *p)
{
    return p->names;
}

json_t *profiles_all(const profiles *p)
{
    json_t *o = json_deep_copy(p->all);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) json_object_del(v, "version_package");
    return o;
}
