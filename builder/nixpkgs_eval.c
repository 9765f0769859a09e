/* nixpkgs_eval.c — attribute paths of a nixpkgs set, through the evaluation
 * cache (nixpkgs_eval.h).
 *
 * Why a cache in the store and not in the process: every API process and
 * every front asks, a restart should not pay again, and a farm of several
 * API machines shares one store. Entries are keyed by the set's id, which
 * changes with its revision, so an answer is never used for another
 * revision; a failed lookup (a missing attribute) is cached too, since it
 * cannot start to exist at the same revision. What is not cached: Nix
 * failing to evaluate the set at all (a broken checkout, a tarball it could
 * not fetch) — that may be passing, and is reported as it is. */
#include "nixpkgs_eval.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder_internal.h"
#include "../common/cleanup.h"
#include "../common/jsonutil.h"
#include "../common/store_evalcache.h"

/* Runs nix/<file> on src (with --argstr attrs when attrs is not NULL); *out
 * the JSON it printed, an object (attr -> result) or, without attrs, an
 * array (the top-level names). */
static int nix_eval(const config *cfg, const pkgsource *src, const char *file, const char *attrs,
                    json_t **out, char *err, size_t errlen)
{
    builder_nix nix;
    int r = builder_nix_init(cfg, &nix);
    if (r < 0)
        return r;
    _cleanup_free_ char *expr = NULL;
    if (asprintf(&expr, "%s/%s", nix.nix_dir, file) < 0) {
        builder_nix_done(&nix);
        return -ENOMEM;
    }
    const char *argv[32];
    int i = 0;
    argv[i++] = "nix-instantiate";
    argv[i++] = "--eval";
    argv[i++] = "--strict";
    argv[i++] = "--json";
    argv[i++] = expr;
    argv[i++] = "--argstr";
    argv[i++] = "source";
    argv[i++] = src->source_arg;
    if (attrs) {
        argv[i++] = "--argstr";
        argv[i++] = "attrs";
        argv[i++] = attrs;
    }
    argv[i++] = "--argstr";
    argv[i++] = "system";
    argv[i++] = src->system;
    pkgsource_nix_options(src, argv, &i);
    argv[i] = NULL;
    _cleanup_free_ char *text = NULL;
    char e[2048] = "";
    r = builder_nix_simple(&nix, argv, 0, &text, e, sizeof e);
    builder_nix_done(&nix);
    if (r < 0) {
        snprintf(err, errlen, "package set %s: evaluating nixpkgs failed: %s", src->name, e);
        return r == -ENOEXEC ? -ENOEXEC : r;
    }
    json_error_t je;
    json_t *j = json_loads(text ? text : "", 0, &je);
    if (attrs ? !json_is_object(j) : !json_is_array(j)) {
        snprintf(err, errlen, "package set %s: nix-instantiate gave no %s: %s", src->name,
                 attrs ? "object" : "list", j ? "wrong type" : je.text);
        json_decref(j);
        return -EPROTO;
    }
    *out = j;
    return 0;
}

/* The key of the top-level names in the cache: not an attribute path, so
 * never a package's. */
#define TOP_NAMES_KEY "."

/* The set's top-level attribute names (sorted, new reference), from the
 * cache or evaluated once per revision. */
static int top_names(const config *cfg, store *s, const pkgsource *src, json_t **out, char *err,
                     size_t errlen)
{
    json_t *row = NULL;
    int r = s ? store_evalcache_get(s, src->id, TOP_NAMES_KEY, &row) : 0;
    if (r < 0) {
        snprintf(err, errlen, "evaluation cache: %s", strerror(-r));
        return r;
    }
    if (r > 0 && json_is_array(json_object_get(row, "names"))) {
        *out = json_incref(json_object_get(row, "names"));
        json_decref(row);
        return 0;
    }
    json_decref(row);
    _cleanup_json_ json_t *names = NULL;
    if ((r = nix_eval(cfg, src, "nixpkgs-names.nix", NULL, &names, err, errlen)) < 0)
        return r;
    if (s) {
        _cleanup_json_ json_t *put =
            json_pack("{s:{s:b, s:O}}", TOP_NAMES_KEY, "ok", 1, "names", names);
        if (!put)
            return -ENOMEM;
        if ((r = store_evalcache_put_many(s, src->name, src->id, put)) < 0) {
            snprintf(err, errlen, "evaluation cache: %s", strerror(-r));
            return r;
        }
    }
    *out = steal_pointer(&names);
    return 0;
}

/* The answer for a name whose first part is not a top-level attribute:
 * "no attribute" with up to three close names. */
static json_t *not_at_top(const char *first, const json_t *names)
{
    size_t best[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX}, idx[3] = {0, 0, 0};
    size_t len = strlen(first), limit = len / 3 > 2 ? len / 3 : 2, i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        size_t d = builder_edit_distance(first, json_string_value(v));
        for (size_t k = 0; k < 3 && d <= limit; k++) {
            if (d < best[k]) {
                for (size_t m = 2; m > k; m--) {
                    best[m] = best[m - 1];
                    idx[m] = idx[m - 1];
                }
                best[k] = d;
                idx[k] = i;
                break;
            }
        }
    }
    char msg[512];
    int o = snprintf(msg, sizeof msg, "no attribute \"%.64s\"", first);
    for (size_t k = 0; k < 3 && best[k] != SIZE_MAX && o < (int)sizeof msg; k++)
        o += snprintf(msg + o, sizeof msg - (size_t)o, "%s%s",
                      k ? ", " : "; closest: ", json_string_value(json_array_get(names, idx[k])));
    return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

/* Whether attr's first part is one of names (sorted). */
static bool first_part_known(const char *attr, const json_t *names, char *first, size_t len)
{
    snprintf(first, len, "%.*s", (int)strcspn(attr, "."), attr);
    size_t lo = 0, hi = json_array_size(names);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(json_string_value(json_array_get(names, mid)), first);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Fills info with the cached answers of names; *missing and *len count the
 * others (and the bytes of their blank-joined list). 0, or -EINVAL for a
 * name that is not an attribute path, or a store error. */
static int from_cache(store *s, const pkgsource *src, json_t *names, size_t index_base,
                      json_t *info, size_t *missing, size_t *len, char *err, size_t errlen)
{
    size_t i;
    json_t *v;
    *missing = 0;
    *len = 1;
    json_array_foreach(names, i, v)
    {
        const char *a = json_string_value(v);
        if (!a || !pkgsources_attr_ok(a)) {
            snprintf(err, errlen,
                     "packages[%zu]: \"%.64s\" is not an attribute path (names separated by "
                     "dots, e.g. python3Packages.numpy)",
                     i + index_base, a ? a : "");
            return -EINVAL;
        }
        if (json_object_get(info, a))
            continue;
        json_t *hit = NULL;
        int r = s ? store_evalcache_get(s, src->id, a, &hit) : 0;
        if (r < 0) {
            snprintf(err, errlen, "evaluation cache: %s", strerror(-r));
            return r;
        }
        if (r > 0) {
            json_object_set_new(info, a, hit);
        } else {
            (*missing)++;
            *len += strlen(a) + 1;
        }
    }
    return 0;
}

/* One evaluation at a time in a process: API threads asking for the same
 * new attribute at once run Nix once, the others find its answer. */
static pthread_mutex_t eval_lock = PTHREAD_MUTEX_INITIALIZER;

static void unlockp(pthread_mutex_t **m)
{
    if (*m)
        pthread_mutex_unlock(*m);
}

int builder_nixpkgs_check(const config *cfg, store *s, const pkgsource *src, json_t *names,
                          size_t index_base, json_t **info_out, size_t *evaluated_out, char *err,
                          size_t errlen)
{
    if (evaluated_out)
        *evaluated_out = 0;
    if (!json_is_array(names)) {
        snprintf(err, errlen, "packages: must be an array of attribute paths");
        return -EINVAL;
    }
    _cleanup_json_ json_t *info = json_object();
    if (!info)
        return -ENOMEM;
    size_t i, missing = 0, len = 1;
    json_t *v;
    int r = from_cache(s, src, names, index_base, info, &missing, &len, err, errlen);
    if (r < 0)
        return r;
    __attribute__((cleanup(unlockp))) pthread_mutex_t *locked = NULL;
    if (missing) {
        pthread_mutex_lock(&eval_lock);
        locked = &eval_lock;
        r = from_cache(s, src, names, index_base, info, &missing, &len, err, errlen);
        if (r < 0)
            return r;
    }
    if (missing) {
        /* A name whose first part the set does not have is answered from
         * its top-level names (kept in the cache), without Nix and without
         * a row of its own: typos and made-up names cost no evaluation. */
        _cleanup_json_ json_t *top = NULL;
        if (s && (r = top_names(cfg, s, src, &top, err, errlen)) < 0)
            return r;
        _cleanup_free_ char *attrs = calloc(1, len);
        _cleanup_json_ json_t *queued = json_object();
        if (!attrs || !queued)
            return -ENOMEM;
        missing = 0;
        json_array_foreach(names, i, v)
        {
            const char *a = json_string_value(v);
            char first[260];
            if (json_object_get(info, a) || json_object_get(queued, a))
                continue;
            if (top && !first_part_known(a, top, first, sizeof first)) {
                json_object_set_new(info, a, not_at_top(first, top));
                continue;
            }
            json_object_set_new(queued, a, json_true());
            missing++;
            if (attrs[0])
                strcat(attrs, " ");
            strcat(attrs, a);
        }
        _cleanup_json_ json_t *fresh = NULL;
        if (missing) {
            r = nix_eval(cfg, src, "nixpkgs-eval.nix", attrs, &fresh, err, errlen);
            if (r < 0)
                return r;
            if (s && (r = store_evalcache_put_many(s, src->name, src->id, fresh)) < 0) {
                snprintf(err, errlen, "evaluation cache: %s", strerror(-r));
                return r;
            }
            json_object_update(info, fresh);
        }
        if (evaluated_out)
            *evaluated_out = missing;
    }
    json_array_foreach(names, i, v)
    {
        const char *a = json_string_value(v);
        json_t *res = json_object_get(info, a);
        if (!json_is_true(json_object_get(res, "ok"))) {
            const char *why = json_string_value(json_object_get(res, "error"));
            snprintf(err, errlen, "packages[%zu]: package set %s has no package %s: %s",
                     i + index_base, src->name, a, why ? why : "Nix said nothing of it");
            return -EINVAL;
        }
    }
    if (info_out)
        *info_out = steal_pointer(&info);
    return 0;
}
