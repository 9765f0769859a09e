/* request.c — from the client's submission JSON to the normalized request.
 * See request.h for the contract; docs/api.yaml for the client's view.
 *
 * The checks run in the order a person fixes them: shape of the body, then the
 * environment (profile, packages), then the program (files, commands), then
 * the tests, then limits and options. The first problem found is reported;
 * every message names the field exactly as the client wrote it. */
#include "request_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../builder/builder.h"
#include "../../common/cleanup.h"
#include "../../common/depset_key.h"
#include "../../common/gitsrc.h"
#include "../../common/hash.h"
#include "../../common/jsonutil.h"
#include "../../common/netaddr_url.h"

const char *const request_limit_names[REQUEST_N_LIMITS] = {
    "cpu_ms",       "wall_ms",    "memory_kib", "processes",
    "output_bytes", "file_bytes", "open_files", "stack_kib",
};

void request_opts_from_config(request_opts *o, const config *cfg)
{
    char key[96];
    memset(o, 0, sizeof(*o));
    o->cfg = cfg;
    for (int i = 0; i < REQUEST_N_LIMITS; i++) {
        snprintf(key, sizeof(key), "api.limits.max.%s", request_limit_names[i]);
        o->max[i] = config_int(cfg, key);
        snprintf(key, sizeof(key), "api.limits.default.run.%s", request_limit_names[i]);
        o->def_run[i] = config_int(cfg, key);
        snprintf(key, sizeof(key), "api.limits.default.compile.%s", request_limit_names[i]);
        o->def_compile[i] = config_int(cfg, key);
    }
    o->max_files = (int)config_int(cfg, "api.max_files");
    o->max_tests = (int)config_int(cfg, "api.max_tests");
    o->callback_allow_private = config_bool(cfg, "webhook.allow_private");
    o->git_allow_local = config_bool(cfg, "git.allow_local");
    o->git_allow_private = config_bool(cfg, "git.allow_private");
}

/* ---- limits ---- */

static int parse_limit_obj(const request_opts *o, json_t *obj, const char *field,
                           long long vals[REQUEST_N_LIMITS], request_error *e)
{
    if (!obj || json_is_null(obj))
        return 0;
    if (!json_is_object(obj))
        return request_wrong_type(e, field, "an object", obj);
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        int idx = -1;
        for (int i = 0; i < REQUEST_N_LIMITS; i++)
            if (!strcmp(k, request_limit_names[i]))
                idx = i;
        char sub[256], ex[80];
        request_excerpt(k, ex, sizeof(ex));
        snprintf(sub, sizeof(sub), "%s.%s", field, ex);
        if (idx < 0)
            return request_fail(e, 422, "unknown_field", sub,
                                "unknown limit %s (known: cpu_ms, wall_ms, memory_kib, processes, "
                                "output_bytes, file_bytes, open_files, stack_kib)",
                                sub);
        if (!json_is_integer(v))
            return request_wrong_type(e, sub, "an integer", v);
        json_int_t n = json_integer_value(v);
        if (n < 1)
            return request_fail(e, 422, "invalid_value", sub, "%s must be at least 1", sub);
        if (n > o->max[idx])
            return request_fail(e, 422, "limit_exceeded", sub, "%s is %lld; the maximum is %lld",
                                sub, (long long)n, o->max[idx]);
        vals[idx] = n;
    }
    return 0;
}

/* Operator-written profile limits: no error, clamped to the maxima. */
static void profile_limits(const request_opts *o, const json_t *obj,
                           long long vals[REQUEST_N_LIMITS])
{
    for (int i = 0; i < REQUEST_N_LIMITS; i++) {
        json_t *v = json_object_get(obj, request_limit_names[i]);
        if (json_is_integer(v) && json_integer_value(v) > 0)
            vals[i] = json_integer_value(v) < o->max[i] ? json_integer_value(v) : o->max[i];
    }
}

static json_t *limits_json(const long long vals[REQUEST_N_LIMITS])
{
    json_t *o = json_object();
    for (int i = 0; i < REQUEST_N_LIMITS; i++)
        json_object_set_new(o, request_limit_names[i], json_integer(vals[i]));
    return o;
}

/* ---- environment (packages / expr) ---- */

static int copy_names(json_t *arr, const char ***names, size_t *n)
{
    *n = json_array_size(arr);
    *names = calloc(*n + 1, sizeof(**names));
    if (!*names)
        return -ENOMEM;
    for (size_t i = 0; i < *n; i++)
        (*names)[i] = json_string_value(json_array_get(arr, i));
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted, unique names as a JSON array. */
static json_t *sorted_unique(json_t *arr)
{
    size_t n;
    _cleanup_free_ const char **v = NULL;
    if (copy_names(arr, &v, &n) < 0)
        return NULL;
    qsort(v, n, sizeof(*v), cmp_str);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(v[i], v[i - 1]))
            json_array_append_new(out, json_string(v[i]));
    return out;
}

static int package_error(int r, const char *msg, const char *fallback_field, request_error *e)
{
    if (r == -EINVAL) {
        /* builder messages start with the field: "packages[1]: unknown ..." */
        char field[128] = "";
        const char *colon = strchr(msg, ':');
        if (colon && (size_t)(colon - msg) < sizeof(field) && !strncmp(msg, "packages", 8))
            snprintf(field, sizeof(field), "%.*s", (int)(colon - msg), msg);
        else
            snprintf(field, sizeof(field), "%s", fallback_field);
        return request_fail(e, 422, "unknown_package", field, "%s", msg);
    }
    request_fail(e, 500, "package_set_unavailable", fallback_field,
                 "the package set cannot be read: %s", msg);
    return r;
}

static int resolve_environment(const request_opts *o, json_t *in, const json_t *profile,
                               const char *profile_name, json_t *norm, request_norm *out,
                               request_error *e)
{
    json_t *pk = json_object_get(in, "packages");
    json_t *expr = json_object_get(in, "expr");
    /* The package set: the request's, else the profile's, else debian. */
    const char *set_name = NULL, *profile_set = NULL;
    if (request_get_text(in, "package_set", "package_set", true, 64, false, &set_name, e) < 0)
        return -EINVAL;
    if (profile)
        profile_set = json_string_value(json_object_get(profile, "package_set"));
    if (set_name && profile_set && strcmp(set_name, profile_set)) {
        char ex[80];
        request_excerpt(set_name, ex, sizeof(ex));
        return request_fail(e, 422, "conflicting_fields", "package_set",
                            "profile %s runs on package set %s, not %s", profile_name, profile_set,
                            ex);
    }
    if (!set_name)
        set_name = profile_set;
    if (set_name && strcmp(set_name, "debian")) {
        if (expr && !json_is_null(expr))
            return request_fail(e, 422, "conflicting_fields", "expr",
                                "expr cannot be combined with package_set");
        return request_nixpkgs_environment(o, in, profile, profile_name, set_name, norm, out, e);
    }
    if (expr && !json_is_null(expr)) {
        if (!o->allow_expr)
            return request_fail(e, 403, "forbidden", "expr",
                                "expr needs a token with the nix-expr scope");
        if ((pk && !json_is_null(pk)) || profile)
            return request_fail(e, 422, "conflicting_fields", "expr",
                                "expr cannot be combined with profile or packages");
        const char *text = NULL;
        if (request_get_text(in, "expr", "expr", false, MAX_EXPR_BYTES, false, &text, e) < 0)
            return -EINVAL;
        if (depset_key_for_expr(text, out->depset_key, &out->depset_spec) < 0)
            return request_fail(e, 422, "invalid_value", "expr", "expr cannot be used as a set");
        json_object_set_new(norm, "expr", json_string(text));
        json_object_set_new(norm, "packages", json_array());
        return 0;
    }
    if (!profile && (!pk || json_is_null(pk)))
        return request_fail(e, 422, "missing_field", "profile",
                            "give a profile (one of: %s) or packages", profiles_names(o->profiles));
    _cleanup_json_ json_t *all = json_array();
    char msg[1024] = "";
    if (pk && !json_is_null(pk)) {
        if (!json_is_array(pk))
            return request_wrong_type(e, "packages", "an array of names", pk);
        if (json_array_size(pk) > MAX_PACKAGES)
            return request_fail(e, 422, "too_many", "packages", "packages has more than %d names",
                                MAX_PACKAGES);
        size_t i;
        json_t *v;
        json_array_foreach(pk, i, v)
        {
            char field[64];
            snprintf(field, sizeof(field), "packages[%zu]", i);
            if (!json_is_string(v))
                return request_wrong_type(e, field, "a package name", v);
            if (request_has_nul(v) || !json_string_length(v) || strchr(json_string_value(v), '\n'))
                return request_fail(e, 422, "invalid_value", field, "%s is not a package name",
                                    field);
            json_array_append(all, v);
        }
        if (json_array_size(pk) > 0) {
            int r = builder_validate_packages(o->cfg, pk, msg, sizeof(msg));
            if (r < 0)
                return package_error(r, msg, "packages", e);
        }
    }
    if (profile)
        json_array_extend(all, json_object_get(profile, "packages"));
    json_array_append_new(all, json_string("bash"));
    _cleanup_json_ json_t *sorted = sorted_unique(all);
    if (!sorted)
        return request_fail(e, 500, "internal", "packages", "out of memory");
    int r = builder_validate_packages(o->cfg, sorted, msg, sizeof(msg));
    if (r == -EINVAL)
        return request_fail(e, 422, "profile_unavailable", profile ? "profile" : "packages",
                            "the package set cannot provide %s: %s",
                            profile ? profile_name : "these packages", msg);
    if (r < 0)
        return package_error(r, msg, "packages", e);
    size_t n;
    _cleanup_free_ const char **names = NULL;
    if (copy_names(sorted, &names, &n) < 0)
        return request_fail(e, 500, "internal", "packages", "out of memory");
    if (depset_key_for_packages(o->pkgset_id, names, n, out->depset_key, &out->depset_spec) < 0)
        return request_fail(e, 422, "invalid_value", "packages", "packages cannot form a set");
    json_object_set(norm, "packages", sorted);
    return 0;
}

/* ---- tests ---- */

static int parse_args(json_t *t, const char *field, json_t **out, request_error *e)
{
    json_t *args = json_object_get(t, "args");
    char sub[160];
    snprintf(sub, sizeof(sub), "%s.args", field);
    *out = json_array();
    if (!args || json_is_null(args))
        return 0;
    if (!json_is_array(args))
        return request_wrong_type(e, sub, "an array of strings", args);
    if (json_array_size(args) > MAX_ARGS)
        return request_fail(e, 422, "too_many", sub, "%s has more than %d entries", sub, MAX_ARGS);
    size_t i;
    json_t *a;
    json_array_foreach(args, i, a)
    {
        char f2[192];
        snprintf(f2, sizeof(f2), "%s[%zu]", sub, i);
        int r = request_check_string(a, f2, "a string", MAX_ARG_BYTES, e);
        if (r < 0)
            return r;
        json_array_append(*out, a);
    }
    return 0;
}

static int parse_tests(const request_opts *o, json_t *in, request_blobs *bl,
                       const long long run_limits[REQUEST_N_LIMITS], json_t *out_tests,
                       request_error *e)
{
    json_t *tests = json_object_get(in, "tests");
    if (tests && !json_is_null(tests) && !json_is_array(tests))
        return request_wrong_type(e, "tests", "an array", tests);
    size_t n = tests && json_is_array(tests) ? json_array_size(tests) : 0;
    if ((int)n > o->max_tests)
        return request_fail(e, 422, "too_many", "tests", "tests has %zu entries; the maximum is %d",
                            n, o->max_tests);
    if (n == 0) {
        json_array_append_new(out_tests, json_pack("{s:s, s:n, s:[], s:n, s:o}", "name", "1",
                                                   "stdin_blob", "args", "expected_blob", "limits",
                                                   limits_json(run_limits)));
        return 0;
    }
    static const char *const known[] = {"name",   "stdin",    "args", "expected_output",
                                        "limits", "encoding", NULL};
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(tests, i);
        char field[64], sub[160];
        snprintf(field, sizeof(field), "tests[%zu]", i);
        if (!json_is_object(t))
            return request_wrong_type(e, field, "an object", t);
        if (request_check_known(t, field, known, e) < 0)
            return -EINVAL;
        char defname[24];
        snprintf(defname, sizeof(defname), "%zu", i + 1);
        const char *name = defname;
        snprintf(sub, sizeof(sub), "%s.name", field);
        if (request_get_text(t, "name", sub, true, 256, false, &name, e) < 0)
            return -EINVAL;
        if (!name)
            name = defname;
        for (size_t j = 0; j < i; j++) {
            const char *other =
                json_string_value(json_object_get(json_array_get(out_tests, j), "name"));
            if (!strcmp(other, name))
                return request_fail(e, 422, "duplicate_test_name", sub,
                                    "%s duplicates tests[%zu].name", sub, j);
        }
        const char *enc;
        snprintf(sub, sizeof(sub), "%s.encoding", field);
        if (request_get_encoding(t, sub, &enc, e) < 0)
            return -EINVAL;
        char sha[2][65];
        const char *blobs[2] = {NULL, NULL};
        static const char *const keys[2] = {"stdin", "expected_output"};
        for (int k = 0; k < 2; k++) {
            json_t *v = json_object_get(t, keys[k]);
            snprintf(sub, sizeof(sub), "%s.%s", field, keys[k]);
            if (!v || json_is_null(v))
                continue;
            if (!json_is_string(v))
                return request_wrong_type(e, sub, "a string or null", v);
            if (k == 0 && json_string_length(v) == 0)
                continue; /* empty stdin is no stdin */
            if (request_content_blob(bl, v, enc, sub, sha[k], NULL, e) < 0)
                return -EINVAL;
            blobs[k] = sha[k];
        }
        _cleanup_json_ json_t *args = NULL;
        if (parse_args(t, field, &args, e) < 0)
            return -EINVAL;
        long long lim[REQUEST_N_LIMITS];
        memcpy(lim, run_limits, sizeof(lim));
        snprintf(sub, sizeof(sub), "%s.limits", field);
        if (parse_limit_obj(o, json_object_get(t, "limits"), sub, lim, e) < 0)
            return -EINVAL;
        json_array_append_new(
            out_tests, json_pack("{s:s, s:o, s:O, s:o, s:o}", "name", name, "stdin_blob",
                                 jsonutil_str_or_null(blobs[0]), "args", args, "expected_blob",
                                 jsonutil_str_or_null(blobs[1]), "limits", limits_json(lim)));
    }
    return 0;
}

/* ---- the rest ---- */

static int parse_env(json_t *in, json_t *norm, request_error *e)
{
    json_t *env = json_object_get(in, "env");
    json_t *out = json_object();
    json_object_set_new(norm, "env", out);
    if (!env || json_is_null(env))
        return 0;
    if (!json_is_object(env))
        return request_wrong_type(e, "env", "an object of strings", env);
    if (json_object_size(env) > MAX_ENV)
        return request_fail(e, 422, "too_many", "env", "env has more than %d variables", MAX_ENV);
    const char *k;
    json_t *v;
    json_object_foreach(env, k, v)
    {
        char field[160], ex[80];
        request_excerpt(k, ex, sizeof(ex));
        snprintf(field, sizeof(field), "env.%s", ex);
        bool ok = (isalpha((unsigned char)k[0]) || k[0] == '_') && strlen(k) <= 128;
        for (const char *p = k; ok && *p; p++)
            ok = isalnum((unsigned char)*p) || *p == '_';
        if (!ok)
            return request_fail(e, 422, "invalid_name", field,
                                "%s is not a variable name ([A-Za-z_][A-Za-z0-9_]*)", field);
        int r = request_check_string(v, field, "a string", MAX_ENV_VALUE_BYTES, e);
        if (r < 0)
            return r;
        json_object_set(out, k, v);
    }
    return 0;
}

/* source.git: the form, then where it may be fetched from (common/gitsrc.h:
 * local repositories and non-public hosts are refused unless the config
 * allows them; names are checked again, resolved, when fetched). */
static int parse_source(const request_opts *o, json_t *in, json_t *norm, bool *cacheable,
                        request_error *e)
{
    json_t *src = json_object_get(in, "source");
    if (!src || json_is_null(src))
        return 0;
    if (!json_is_object(src))
        return request_wrong_type(e, "source", "an object", src);
    static const char *const known[] = {"git", NULL};
    if (request_check_known(src, "source", known, e) < 0)
        return -EINVAL;
    json_t *git = json_object_get(src, "git");
    if (!json_is_object(git))
        return git ? request_wrong_type(e, "source.git", "an object", git)
                   : request_fail(e, 422, "missing_field", "source.git", "source.git is required");
    static const char *const gknown[] = {"url", "rev", "subdir", NULL};
    if (request_check_known(git, "source.git", gknown, e) < 0)
        return -EINVAL;
    const char *url = NULL, *rev = "HEAD", *subdir = "";
    if (request_get_text(git, "url", "source.git.url", false, MAX_URL_BYTES, false, &url, e) < 0 ||
        request_get_text(git, "rev", "source.git.rev", false, 256, false, &rev, e) < 0 ||
        request_get_text(git, "subdir", "source.git.subdir", true, MAX_NAME_BYTES, true, &subdir,
                         e) < 0)
        return -EINVAL;
    if (!url)
        return request_fail(e, 422, "missing_field", "source.git.url",
                            "source.git.url is required");
    if (!subdir)
        subdir = "";
    char msg[512] = "";
    if (gitsrc_validate(url, rev, subdir, msg, sizeof(msg)) < 0) {
        const char *field = strstr(msg, "source.git.subdir") ? "source.git.subdir"
                            : strstr(msg, "source.git.rev")  ? "source.git.rev"
                                                             : "source.git.url";
        return request_fail(e, 422, "invalid_value", field, "%s", msg);
    }
    gitsrc_policy policy = {.allow_local = o->git_allow_local,
                            .allow_private = o->git_allow_private};
    int r = gitsrc_url_check(url, policy, msg, sizeof(msg));
    if (r == -EACCES)
        return request_fail(
            e, 422, strstr(msg, "git.allow_local") ? "forbidden_source" : "forbidden_address",
            "source.git.url", "%s", msg);
    if (r < 0)
        return request_fail(e, 422, "invalid_value", "source.git.url", "%s", msg);
    /* Only a pinned commit gives the same tree every time. */
    bool pinned = strlen(rev) == 40;
    for (const char *p = rev; pinned && *p; p++)
        pinned = isxdigit((unsigned char)*p);
    *cacheable = *cacheable && pinned;
    json_object_set_new(
        norm, "source",
        json_pack("{s:{s:s, s:s, s:s}}", "git", "url", url, "rev", rev, "subdir", subdir));
    return 0;
}

/* callback_url: refused now rather than failing its delivery later when it
 * is malformed or names a loopback/private address (SSRF; see
 * common/netaddr_url.h). Host names are checked again, resolved, at each
 * delivery. */
static int parse_callback(const request_opts *o, json_t *in, json_t *norm, request_error *e)
{
    const char *url = NULL;
    if (request_get_text(in, "callback_url", "callback_url", true, MAX_URL_BYTES, false, &url, e) <
        0)
        return -EINVAL;
    if (url) {
        char msg[512] = "";
        int r = netaddr_url_check(url, o->callback_allow_private, msg, sizeof(msg));
        if (r == -EACCES)
            return request_fail(e, 422, "forbidden_address", "callback_url", "%s", msg);
        if (r < 0)
            return request_fail(e, 422, "invalid_value", "callback_url", "%s",
                                msg[0] ? msg : "callback_url must be an http:// or https:// URL");
    }
    json_object_set_new(norm, "callback_url", jsonutil_str_or_null(url));
    return 0;
}

int request_parse_body(const char *body, size_t len, json_t **out, request_error *e)
{
    json_error_t je;
    /* NULs are allowed by the parser so the checks can name the field that
     * holds one; duplicate keys are refused (which one would win?). */
    json_t *j = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je) : NULL;
    if (!j) {
        if (!body || !len)
            return request_fail(e, 400, "invalid_json", "body",
                                "the body is empty; send a JSON object");
        char ex[200];
        request_excerpt(je.text, ex, sizeof(ex));
        return request_fail(e, 400, "invalid_json", "body",
                            "the body is not valid JSON: %s at line %d", ex, je.line);
    }
    *out = j;
    return 0;
}

/* meta: an object the client gets back as it gave it (a compatibility front
 * keeps its own request fields there); it does not decide the result. */
static int parse_meta(json_t *in, json_t *norm, request_error *e)
{
    json_t *m = json_object_get(in, "meta");
    if (!m || json_is_null(m))
        return 0;
    if (!json_is_object(m))
        return request_wrong_type(e, "meta", "an object", m);
    _cleanup_free_ char *text = jsonutil_dump(m);
    if (!text)
        return request_fail(e, 500, "internal", "meta", "out of memory");
    if (strlen(text) > MAX_META_BYTES)
        return request_fail(e, 422, "too_large", "meta",
                            "meta is %zu bytes as JSON; the maximum is %d", strlen(text),
                            MAX_META_BYTES);
    json_object_set(norm, "meta", m);
    return 0;
}

static int build(const request_opts *o, json_t *in, json_t *norm, request_blobs *bl,
                 request_norm *out, request_error *e)
{
    static const char *const known[] = {"profile",
                                        "packages",
                                        "expr",
                                        "files",
                                        "source",
                                        "compile",
                                        "run",
                                        "tests",
                                        "limits",
                                        "env",
                                        "priority",
                                        "compare",
                                        "stop_on_first_failure",
                                        "cache",
                                        "live",
                                        "callback_url",
                                        "meta",
                                        "package_set",
                                        NULL};
    if (request_check_known(in, "", known, e) < 0)
        return -EINVAL;
    /* environment */
    const char *profile_name = NULL;
    if (request_get_text(in, "profile", "profile", true, 128, false, &profile_name, e) < 0)
        return -EINVAL;
    const json_t *profile = NULL;
    if (profile_name) {
        profile = profiles_get(o->profiles, profile_name);
        if (!profile) {
            char ex[80];
            request_excerpt(profile_name, ex, sizeof(ex));
            return request_fail(e, 422, "unknown_profile", "profile",
                                "unknown profile \"%s\"; known: %s", ex,
                                profiles_names(o->profiles));
        }
    }
    json_object_set_new(norm, "profile", jsonutil_str_or_null(profile_name));
    int r = resolve_environment(o, in, profile, profile_name, norm, out, e);
    if (r < 0)
        return r;

    /* program */
    _cleanup_json_ json_t *files = json_array();
    if (request_parse_files(in, bl, o->max_files, files, e) < 0)
        return -EINVAL;
    json_object_set(norm, "files", files);
    out->cacheable = true;
    if (parse_source(o, in, norm, &out->cacheable, e) < 0)
        return -EINVAL;
    const char *compile = profile ? json_string_value(json_object_get(profile, "compile")) : NULL;
    const char *run = profile ? json_string_value(json_object_get(profile, "run")) : NULL;
    if (request_get_text(in, "compile", "compile", true, MAX_COMMAND_BYTES, false, &compile, e) <
            0 ||
        request_get_text(in, "run", "run", false, MAX_COMMAND_BYTES, false, &run, e) < 0)
        return -EINVAL;
    if (!run) {
        return request_fail(e, 422, "missing_field", "run",
                            "run is required (no profile gives one)");
    }
    json_object_set_new(norm, "compile", jsonutil_str_or_null(compile));
    json_object_set_new(norm, "run", json_string(run));
    if (parse_env(in, norm, e) < 0)
        return -EINVAL;

    /* limits: config default, then the profile's, then the request's */
    long long lrun[REQUEST_N_LIMITS], lcomp[REQUEST_N_LIMITS];
    memcpy(lrun, o->def_run, sizeof(lrun));
    memcpy(lcomp, o->def_compile, sizeof(lcomp));
    if (profile) {
        json_t *pl = json_object_get(profile, "limits");
        profile_limits(o, json_object_get(pl, "run"), lrun);
        profile_limits(o, json_object_get(pl, "compile"), lcomp);
    }
    json_t *limits = json_object_get(in, "limits");
    if (limits && !json_is_null(limits)) {
        if (!json_is_object(limits)) {
            return request_wrong_type(e, "limits", "an object", limits);
        }
        static const char *const lknown[] = {"run", "compile", NULL};
        if (request_check_known(limits, "limits", lknown, e) < 0 ||
            parse_limit_obj(o, json_object_get(limits, "run"), "limits.run", lrun, e) < 0 ||
            parse_limit_obj(o, json_object_get(limits, "compile"), "limits.compile", lcomp, e) < 0)
            return -EINVAL;
    }
    json_object_set_new(
        norm, "limits",
        json_pack("{s:o, s:o}", "compile", limits_json(lcomp), "run", limits_json(lrun)));

    _cleanup_json_ json_t *tests = json_array();
    if (parse_tests(o, in, bl, lrun, tests, e) < 0)
        return -EINVAL;
    json_object_set(norm, "tests", tests);
    out->n_tests = (int)json_array_size(tests);

    /* options */
    const char *compare = "trailing_whitespace";
    if (request_get_text(in, "compare", "compare", true, 64, false, &compare, e) < 0)
        return -EINVAL;
    if (!compare)
        compare = "trailing_whitespace";
    if (strcmp(compare, "exact") && strcmp(compare, "trailing_whitespace")) {
        return request_fail(e, 422, "invalid_value", "compare",
                            "compare must be \"exact\" or \"trailing_whitespace\"");
    }
    json_object_set_new(norm, "compare", json_string(compare));
    bool stop_first = false;
    if (request_get_flag(in, "stop_on_first_failure", &stop_first, e) < 0 ||
        request_get_flag(in, "cache", &out->use_cache, e) < 0)
        return -EINVAL;
    json_object_set_new(norm, "stop_on_first_failure", json_boolean(stop_first));
    /* live: the run's stdin, signals and output go through the store's live
     * channel (store_live.h) while it runs; one test, never a cache hit. */
    bool live = false;
    if (request_get_flag(in, "live", &live, e) < 0)
        return -EINVAL;
    if (live && out->n_tests != 1)
        return request_fail(e, 422, "invalid_value", "live",
                            "a live submission has exactly one test (it has %d)", out->n_tests);
    if (live) {
        json_object_set_new(norm, "live", json_true());
        out->use_cache = false;
    }
    json_t *prio = json_object_get(in, "priority");
    if (prio && !json_is_null(prio)) {
        if (!json_is_integer(prio)) {
            return request_wrong_type(e, "priority", "an integer", prio);
        }
        json_int_t p = json_integer_value(prio);
        if (p < REQUEST_PRIORITY_MIN || p > REQUEST_PRIORITY_MAX) {
            return request_fail(e, 422, "invalid_value", "priority",
                                "priority must be between %d and %d", REQUEST_PRIORITY_MIN,
                                REQUEST_PRIORITY_MAX);
        }
        out->priority = (int)p;
    }
    if (parse_callback(o, in, norm, e) < 0 || parse_meta(in, norm, e) < 0)
        return -EINVAL;

    /* cache key: everything that decides the result, nothing that does not
     * (profile name, callback, meta) */
    _cleanup_json_ json_t *ck = json_deep_copy(norm);
    json_object_del(ck, "profile");
    json_object_del(ck, "callback_url");
    json_object_del(ck, "meta");
    json_object_set_new(ck, "depset", json_string(out->depset_key));
    _cleanup_free_ char *cktext = jsonutil_dump_sorted(ck);
    if (!cktext) {
        request_fail(e, 500, "internal", "body", "out of memory");
        return -ENOMEM;
    }
    hash_sha256_hex(cktext, strlen(cktext), out->cache_key);

    return 0;
}

int request_normalize(const request_opts *o, json_t *in, request_norm *out, request_error *e)
{
    memset(out, 0, sizeof(*out));
    memset(e, 0, sizeof(*e));
    if (!json_is_object(in))
        return request_fail(e, 400, "invalid_type", "body",
                            "the body must be a JSON object, not %s", request_type_name(in));
    json_t *norm = json_object();
    request_blobs bl = {0};
    int r = norm ? build(o, in, norm, &bl, out, e) : -ENOMEM;
    if (r < 0) {
        json_decref(norm);
        request_blobs_free(&bl);
        free(out->depset_spec);
        out->depset_spec = NULL;
        if (!e->status)
            request_fail(e, 500, "internal", "body", "internal error");
        return r;
    }
    out->normalized = norm;
    out->callback_url = json_string_value(json_object_get(norm, "callback_url"));
    out->blobs = bl.v;
    out->n_blobs = bl.n;
    return 0;
}

void request_norm_done(request_norm *n)
{
    if (!n)
        return;
    json_decref(n->normalized);
    for (size_t i = 0; i < n->n_blobs; i++)
        free((void *)n->blobs[i].data);
    free(n->blobs);
    free(n->depset_spec);
    memset(n, 0, sizeof(*n));
}
