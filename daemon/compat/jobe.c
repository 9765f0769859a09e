/* jobe.c — the Jobe 2.2 front (docs/compat-jobe.md): its routes under
 * /jobe/index.php/restapi/, its X-API-KEY header and its refusals (a JSON
 * string, as Jobe answers). Translation only: the run_spec becomes a v1
 * request (jobe_spec.c) handed to api_submit_v1, the submission view becomes
 * Jobe's result (jobe_result.c). Uploaded files are blobs named by the
 * client's id (common/store_compat_files.h).
 *
 * A run is synchronous. While it is still queued after
 * compat.jobe.overload_wait_ms (every worker busy), it is cancelled and
 * answered with outcome 21, as Jobe does when no Jobe user frees up within
 * its wait; a submission queue that is full or draining answers 21 too. */
#include "compat.h"
#include "jobe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../builder/builder.h"
#include "../../common/base64.h"
#include "../../common/cleanup.h"
#include "../../common/jsonutil.h"
#include "../../common/log.h"
#include "../../common/store_compat_files.h"

#define JOBE_PREFIX "/jobe/index.php/restapi"

static enum MHD_Result reply_string(api_call *c, unsigned status, const char *text)
{
    return http_reply_json(c->req, status, json_string(text));
}

static enum MHD_Result reply_empty(api_call *c, unsigned status)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    return http_reply_response(c->req, status, resp);
}

static json_t *parse_body(api_call *c)
{
    if (!c->req->body_len)
        return NULL;
    return json_loadb(c->req->body, c->req->body_len, JSON_ALLOW_NUL, NULL);
}

/* ---- languages ---- */

static bool has_name(const json_t *names, const char *want)
{
    size_t k;
    const json_t *n;
    json_array_foreach(names, k, n) if (!strcmp(json_string_value(n), want)) return true;
    return false;
}

static bool lang_known(const jobe_lang *l, void *arg)
{
    const json_t *names = arg;
    for (size_t i = 0; l->packages[i]; i++)
        if (!has_name(names, l->packages[i]))
            return false;
    return true;
}

/* The package set's version of name, cut where Jobe's pattern ([0-9._]*)
 * stops ("17.0.15+6" -> "17.0.15"). */
static void package_version(const json_t *pkgs, const char *name, char *out, size_t outlen)
{
    const json_t *root = json_object_get(pkgs, "packages");
    const json_t *e = json_object_get(root ? root : pkgs, name);
    const char *v = json_string_value(json_is_object(e) ? json_object_get(e, "version") : e);
    if (!v) {
        snprintf(out, outlen, "Unknown");
        return;
    }
    size_t n = strspn(v, "0123456789._");
    snprintf(out, outlen, "%.*s", (int)(n ? n : strlen(v)), v);
}

static enum MHD_Result jobe_languages(api_call *c)
{
    char err[512] = "";
    _cleanup_json_ json_t *names = NULL;
    if (builder_pkgset_names(c->ctx->cfg, &names, err, sizeof(err)) < 0) {
        log_error("jobe-languages-failed error=\"%s\"", err);
        return reply_string(c, 500, "Server exception (the package set cannot be read)");
    }
    _cleanup_json_ json_t *pkgs = compat_package_set(c->ctx->cfg);
    json_t *list = json_array();
    for (const jobe_lang *l = jobe_langs; l->id; l++) {
        if (!lang_known(l, names))
            continue;
        char ver[64];
        package_version(pkgs, l->packages[0], ver, sizeof(ver));
        json_array_append_new(list, json_pack("[s, s]", l->id, ver));
    }
    return http_reply_json(c->req, 200, list);
}

/* ---- files ---- */

static enum MHD_Result jobe_file_put(api_call *c)
{
    if (!jobe_file_id_valid(c->param))
        return reply_string(c, 400, "put: file id must be at least 8 alphanumeric characters");
    _cleanup_json_ json_t *body = parse_body(c);
    const json_t *fc = json_object_get(body, "file_contents");
    if (!json_is_string(fc))
        return reply_string(c, 400, "put: missing file_contents parameter");
    unsigned char *data = NULL;
    size_t len = 0;
    if (base64_decode(json_string_value(fc), json_string_length(fc), &data, &len) < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "put: contents of file %s are not valid base-64", c->param);
        return reply_string(c, 400, msg);
    }
    store_blob b = {.data = data, .len = len};
    int r = store_compat_file_put(c->st, "jobe", c->param, &b,
                                  config_int(c->ctx->cfg, "compat.jobe.file_ttl_ms"));
    free(data);
    if (r < 0) {
        log_error("jobe-file-put-failed id=%s error=\"%s\"", c->param, store_last_error(c->st));
        char msg[256];
        snprintf(msg, sizeof(msg), "put: failed to write file %s to cache", c->param);
        return reply_string(c, r == -EBUSY ? 503 : 500, msg);
    }
    return reply_empty(c, 204);
}

static enum MHD_Result jobe_file_head(api_call *c)
{
    char sha[65];
    int r =
        jobe_file_id_valid(c->param) ? store_compat_file_get(c->st, "jobe", c->param, 0, sha) : 0;
    if (r < 0)
        return reply_empty(c, 500);
    return reply_empty(c, r > 0 ? 204 : 404);
}

/* ---- runs ---- */

typedef struct {
    void **data;
    jobe_file_data *files;
    size_t n;
} loaded_files;

static void loaded_done(loaded_files *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->data[i]);
    free(l->data);
    free(l->files);
}

/* 0, -ENOENT (some file is missing or expired) or another < 0. */
static int load_files(api_call *c, const jobe_spec *s, loaded_files *l)
{
    memset(l, 0, sizeof(*l));
    if (!s->n_files)
        return 0;
    l->data = calloc(s->n_files, sizeof(*l->data));
    l->files = calloc(s->n_files, sizeof(*l->files));
    if (!l->data || !l->files)
        return -ENOMEM;
    int64_t ttl = config_int(c->ctx->cfg, "compat.jobe.file_ttl_ms");
    for (size_t i = 0; i < s->n_files; i++) {
        char sha[65];
        int r = store_compat_file_get(c->st, "jobe", s->files[i].id, ttl, sha);
        if (r == 0)
            return -ENOENT;
        if (r < 0)
            return r;
        size_t len = 0;
        r = store_blob_get(c->st, sha, &l->data[i], &len);
        if (r < 0)
            return r;
        l->n = i + 1;
        l->files[i] = (jobe_file_data){.data = l->data[i], .len = len};
    }
    return 0;
}

static void caps_from(const api_ctx *ctx, jobe_caps *k)
{
    const request_opts *o = &ctx->ropts;
    *k = (jobe_caps){
        .cpu_ms = o->max[REQUEST_LIM_CPU_MS],
        .wall_ms = o->max[REQUEST_LIM_WALL_MS],
        .memory_kib = o->max[REQUEST_LIM_MEMORY_KIB],
        .processes = o->max[REQUEST_LIM_PROCESSES],
        .output_bytes = o->max[REQUEST_LIM_OUTPUT_BYTES],
        .file_bytes = o->max[REQUEST_LIM_FILE_BYTES],
        .open_files = o->max[REQUEST_LIM_OPEN_FILES],
        .compile_cpu_ms = o->def_compile[REQUEST_LIM_CPU_MS],
    };
}

/* Waits for the submission's end. Returns 1 with *view set, or 0 when it was
 * still queued after overload_ms and has been cancelled (overload). */
static int wait_run(api_call *c, const char *id, long long overload_ms, json_t **view)
{
    api_ctx *ctx = c->ctx;
    int64_t start = store_now_ms();
    int64_t deadline = start + ctx->wait_timeout_ms;
    int64_t seen_seq = 0;
    char last[32] = "queued";
    bool overload_checked = overload_ms <= 0;
    for (;;) {
        uint64_t gen = api_bell_generation(ctx->bell);
        _cleanup_json_ json_t *ev = NULL;
        int r = store_submission_events(c->st, id, seen_seq, &ev);
        if (r < 0)
            return r;
        bool done = false;
        size_t i;
        json_t *ej;
        json_array_foreach(ev, i, ej)
        {
            seen_seq = json_integer_value(json_object_get(ej, "seq"));
            const char *type = json_string_value(json_object_get(ej, "type"));
            const char *st =
                json_string_value(json_object_get(json_object_get(ej, "data"), "state"));
            if (!type || strcmp(type, "state") || !st)
                continue;
            snprintf(last, sizeof(last), "%s", st);
            if (api_state_is_terminal(st))
                done = true;
        }
        int64_t now = store_now_ms();
        if (!done && !overload_checked && now - start >= overload_ms) {
            overload_checked = true;
            if (!strcmp(last, "queued") && api_cancel_v1(c, id, NULL) == 1)
                return 0;
        }
        if (done || now >= deadline || *ctx->stop) {
            if ((r = api_submission_view(c->st, id, view)) < 0)
                return r;
            if (!done)
                api_cancel_v1(c, id, NULL); /* gave up waiting: do not run it for nobody */
            return 1;
        }
        int64_t until = overload_checked ? deadline : start + overload_ms;
        long long left = until - now;
        api_bell_wait(ctx->bell, gen, (int)(left < ctx->poll_ms ? left : ctx->poll_ms));
    }
}

static enum MHD_Result reply_server_error(api_call *c, const char *what)
{
    char msg[1100];
    snprintf(msg, sizeof(msg), "Server exception (%.1024s)", what);
    return reply_string(c, 500, msg);
}

static enum MHD_Result submit(api_call *c, const jobe_spec *spec, const loaded_files *lf,
                              const json_t *names)
{
    jobe_caps caps;
    caps_from(c->ctx, &caps);
    jobe_error je = {0};
    _cleanup_json_ json_t *req = NULL;
    int r = jobe_spec_to_v1(spec, lf->files, &caps, &req, &je);
    if (r < 0)
        return reply_string(c, (unsigned)je.status, je.message);
    const jobe_lang *l = jobe_lang_find(spec->language_id);
    if (l && l->optional && has_name(names, l->optional)) {
        json_array_append_new(json_object_get(req, "packages"), json_string(l->optional));
        /* A Jobe server's /etc/pylintrc (its install guide makes it with
         * --reports=no --score=n), which CodeRunner's pylint checks expect:
         * here a file of the run's own /tmp named by PYLINTRC. */
        const char *run = json_string_value(json_object_get(req, "run"));
        _cleanup_free_ char *with_rc = NULL;
        if (!strcmp(l->optional, "pylint") && run &&
            asprintf(&with_rc,
                     "printf '[REPORTS]\\nreports=no\\nscore=no\\n' >/tmp/.jobe_pylintrc\n"
                     "export PYLINTRC=/tmp/.jobe_pylintrc\n%s",
                     run) >= 0)
            json_object_set_new(req, "run", json_string(with_rc));
    }
    char id[64];
    request_error e;
    r = api_submit_v1(c, req, false, id, NULL, &e);
    if (r < 0) {
        if (e.status == 503) /* queue full, draining, database busy: no room now */
            return http_reply_json(c->req, 200, jobe_result_overload());
        if (e.status >= 400 && e.status < 500) {
            char msg[1400];
            snprintf(msg, sizeof(msg), "%s%s%s", e.field[0] ? e.field : "", e.field[0] ? ": " : "",
                     e.message);
            return reply_string(c, 400, msg);
        }
        return reply_server_error(c, e.message[0] ? e.message : "cannot queue the run");
    }
    json_t *view = NULL;
    r = wait_run(c, id, config_int(c->ctx->cfg, "compat.jobe.overload_wait_ms"), &view);
    if (r < 0) {
        log_error("jobe-wait-failed id=%s error=\"%s\"", id, store_last_error(c->st));
        return reply_server_error(c, "database error");
    }
    if (r == 0)
        return http_reply_json(c->req, 200, jobe_result_overload());
    json_t *res = jobe_result_from_view(view, spec->lang, spec->debug);
    json_decref(view);
    return http_reply_json(c->req, 200, res);
}

static enum MHD_Result jobe_runs(api_call *c)
{
    _cleanup_json_ json_t *body = parse_body(c);
    char err[512] = "";
    _cleanup_json_ json_t *names = NULL;
    if (builder_pkgset_names(c->ctx->cfg, &names, err, sizeof(err)) < 0) {
        log_error("jobe-runs-failed error=\"%s\"", err);
        return reply_server_error(c, "the package set cannot be read");
    }
    jobe_spec spec;
    jobe_error je = {0};
    int r = jobe_spec_parse(body, lang_known, names, &spec, &je);
    if (r < 0)
        return reply_string(c, (unsigned)je.status, je.message);
    loaded_files lf;
    enum MHD_Result ret;
    r = load_files(c, &spec, &lf);
    if (r == -ENOENT)
        ret = reply_string(c, 404, "One or more of the specified files is missing/unavailable");
    else if (r < 0)
        ret = reply_server_error(c, "cannot read the files");
    else if (spec.sourcecode_len == strlen(JOBE_OVERLOAD_SOURCE) &&
             !strcmp(spec.sourcecode, JOBE_OVERLOAD_SOURCE))
        ret = http_reply_json(c->req, 200, jobe_result_overload());
    else
        ret = submit(c, &spec, &lf, names);
    loaded_done(&lf);
    jobe_spec_done(&spec);
    return ret;
}

/* ---- the front ---- */

static const api_route jobe_routes[] = {
    {"GET", JOBE_PREFIX "/languages", jobe_languages, AUTH_READ},
    {"POST", JOBE_PREFIX "/runs", jobe_runs, AUTH_SUBMIT},
    {"PUT", JOBE_PREFIX "/files/{id}", jobe_file_put, AUTH_SUBMIT},
    {"HEAD", JOBE_PREFIX "/files/{id}", jobe_file_head, AUTH_SUBMIT},
    {NULL, NULL, NULL, 0},
};

/* CodeRunner sends X-API-KEY whether keys are in use or not: only a nixfarm
 * token there counts (so with api.auth off a Jobe key is ignored, and with
 * it on a farm token is accepted in Jobe's header). */
static int jobe_token(struct MHD_Connection *conn, char *token, size_t len)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-API-KEY");
    if (!v || strncmp(v, "nft_", 4) != 0)
        return 0;
    if (strlen(v) >= len)
        return -EINVAL;
    snprintf(token, len, "%s", v);
    return 1;
}

/* Jobe answers every refusal with a JSON string. */
static enum MHD_Result jobe_refusal(api_call *c, unsigned status, const char *code,
                                    const char *message)
{
    (void)code;
    return reply_string(c, status, message);
}

const compat_front compat_jobe = {
    .name = "jobe",
    .routes = jobe_routes,
    .token_from_request = jobe_token,
    .reply_refusal = jobe_refusal,
    .cors = false,
};
