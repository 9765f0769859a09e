/* judge0.c — the Judge0 CE 1.13.1 front (docs/compat-judge0.md): its
 * routes, its auth headers (X-Auth-Token, X-Auth-User), its refusals and the
 * information endpoints. Submissions go through api_submit_v1 like any v1
 * submission; judge0_submit.c translates them, judge0_view.c renders them. */
#include "judge0.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "../../common/cleanup.h"
#include "../../common/log.h"

#define J0_NOT_FOUND "{\"status\":404,\"error\":\"Not Found\"}"

static enum MHD_Result j0_not_found(api_call *c)
{
    return http_reply_text(c->req, 404, "application/json; charset=utf-8", J0_NOT_FOUND);
}

static bool query_true(api_call *c, const char *key)
{
    const char *v = http_query(c->req, key);
    return v && !strcmp(v, "true");
}

/* ?fields=: answers 400 (and returns false) on an unknown name. */
static bool fields_or_refuse(api_call *c, j0_fields *f, enum MHD_Result *ret)
{
    char bad[512];
    if (j0_fields_parse(http_query(c->req, "fields"), f, bad, sizeof(bad)) < 0) {
        *ret = compat_reply_field(c, "error", 400, "invalid fields: [%s]", bad);
        return false;
    }
    return true;
}

/* A v1 refusal of a translated submission, in Judge0's terms. */
static json_t *v1_errors(const request_error *e)
{
    static const struct {
        const char *prefix, *field;
    } map[] = {
        {"files", "source_code"},
        {"tests", "stdin"},
        {"limits.run.cpu_ms", "cpu_time_limit"},
        {"limits.run.wall_ms", "wall_time_limit"},
        {"limits.run.memory_kib", "memory_limit"},
        {"limits.run.stack_kib", "stack_limit"},
        {"limits.run.processes", "max_processes_and_or_threads"},
        {"limits.run.file_bytes", "max_file_size"},
        {"limits.run.output_bytes", "max_file_size"},
        {"callback_url", "callback_url"},
        {"packages", "language_id"},
        {"profile", "language_id"},
    };
    const char *field = "base";
    for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++)
        if (!strncmp(e->field, map[i].prefix, strlen(map[i].prefix)))
            field = map[i].field;
    return json_pack("{s:[s]}", field, e->message);
}

/* Answers a failed api_submit_v1 as Judge0 would. */
static enum MHD_Result submit_refusal(api_call *c, const request_error *e)
{
    if (e->status == 503)
        return compat_reply_field(c, "error", 503, "%s",
                                  !strcmp(e->code, "queue_full") ? "queue is full" : e->message);
    if (e->status == 422 || e->status == 400 || e->status == 403)
        return http_reply_json(c->req, 422, v1_errors(e));
    return compat_reply_field(c, "error", (unsigned)(e->status ? e->status : 500), "%s",
                              e->message);
}

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

/* Decodes one x-www-form-urlencoded piece in place ('+' is a space). */
static size_t form_decode(char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+')
            s[k++] = ' ';
        else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            s[k++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else
            s[k++] = s[i];
    }
    return k;
}

/* A form body (Rails reads those too) as an object of strings. */
static json_t *form_json(const char *body, size_t len)
{
    _cleanup_free_ char *copy = malloc(len + 1);
    json_t *o = json_object();
    if (!copy || !o) {
        json_decref(o);
        return NULL;
    }
    memcpy(copy, body, len);
    copy[len] = '\0';
    for (char *p = copy; p && *p;) {
        char *amp = strchr(p, '&');
        if (amp)
            *amp = '\0';
        char *eq = strchr(p, '=');
        if (eq) {
            *eq = '\0';
            size_t kn = form_decode(p, strlen(p));
            size_t vn = form_decode(eq + 1, strlen(eq + 1));
            p[kn] = '\0';
            json_t *v = json_stringn(eq + 1, vn);
            if (v && *p)
                json_object_set_new(o, p, v);
            else
                json_decref(v); /* not UTF-8: left out, as an absent field */
        }
        p = amp ? amp + 1 : NULL;
    }
    return o;
}

static json_t *body_json(api_call *c, enum MHD_Result *ret)
{
    json_error_t je;
    const char *ct = http_header(c->req, MHD_HTTP_HEADER_CONTENT_TYPE);
    json_t *j = NULL;
    if (ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33))
        j = form_json(c->req->body ? c->req->body : "", c->req->body_len);
    else if (c->req->body_len)
        j = json_loadb(c->req->body, c->req->body_len, 0, &je);
    if (!j)
        *ret = http_reply_text(c->req, 400, "application/json; charset=utf-8",
                               "{\"status\":400,\"error\":\"Bad Request\"}");
    return j;
}

/* ---- submissions ---- */

static enum MHD_Result j0_create(api_call *c)
{
    enum MHD_Result ret;
    j0_fields f;
    if (!fields_or_refuse(c, &f, &ret))
        return ret;
    _cleanup_json_ json_t *in = body_json(c, &ret);
    if (!in)
        return ret;
    bool b64 = query_true(c, "base64_encoded"), wait = query_true(c, "wait");
    _cleanup_json_ json_t *v1 = NULL, *errors = NULL;
    int r = j0_to_v1(c, in, b64, &v1, &errors);
    if (r == -EINVAL)
        return http_reply_json(c->req, 422, steal_pointer(&errors));
    if (r < 0)
        return compat_reply_field(c, "error", 500, "out of memory");
    char id[64], token[37];
    request_error e;
    _cleanup_json_ json_t *view = NULL;
    r = api_submit_v1(c, v1, wait, id, wait ? &view : NULL, &e);
    if (r < 0)
        return submit_refusal(c, &e);
    j0_token_from_id(id, token);
    if (!wait)
        return http_reply_json(c->req, 201, json_pack("{s:s}", "token", token));
    json_t *out = NULL;
    r = j0_render(c->st, c->ctx->cfg, id, &f, b64, &out);
    if (r == -EILSEQ)
        return http_reply_json(c->req, 201,
                               json_pack("{s:s, s:s}", "error", JUDGE0_UTF8_ERROR, "token", token));
    if (r < 0)
        return api_store_error(c, r, "submission");
    return http_reply_json(c->req, 201, out);
}

static enum MHD_Result j0_show(api_call *c)
{
    enum MHD_Result ret;
    j0_fields f;
    if (!fields_or_refuse(c, &f, &ret))
        return ret;
    char id[33];
    if (!j0_id_from_token(c->param, id))
        return j0_not_found(c);
    json_t *out = NULL;
    int r = j0_render(c->st, c->ctx->cfg, id, &f, query_true(c, "base64_encoded"), &out);
    if (r == -ENOENT)
        return j0_not_found(c);
    if (r == -EILSEQ)
        return compat_reply_field(c, "error", 400, "%s", JUDGE0_UTF8_ERROR);
    if (r < 0)
        return api_store_error(c, r, "submission");
    return http_reply_json(c->req, 200, out);
}

/* Renders ids in order (null for an unknown one); -EILSEQ as j0_render. */
static int render_many(api_call *c, const char *const *ids, size_t n, const j0_fields *f, bool b64,
                       json_t **out)
{
    _cleanup_json_ json_t *arr = json_array();
    if (!arr)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *o = NULL;
        int r = ids[i] ? j0_render(c->st, c->ctx->cfg, ids[i], f, b64, &o) : -ENOENT;
        if (r == -ENOENT)
            o = json_null();
        else if (r < 0)
            return r;
        json_array_append_new(arr, o);
    }
    *out = steal_pointer(&arr);
    return 0;
}

#define J0_UTF8_ERROR_MANY                                                                         \
    "some attributes for one or more submissions cannot be converted to UTF-8, use "               \
    "base64_encoded=true query parameter"

static bool parse_int(const char *s, long long *out)
{
    if (!s)
        return false;
    *out = strtoll(s, NULL, 10); /* Ruby's to_i: leading digits, else 0 */
    return true;
}

static enum MHD_Result j0_list(api_call *c)
{
    enum MHD_Result ret;
    j0_fields f;
    if (!fields_or_refuse(c, &f, &ret))
        return ret;
    long long page = 1, per_page = 20;
    parse_int(http_query(c->req, "page"), &page);
    parse_int(http_query(c->req, "per_page"), &per_page);
    if (page <= 0)
        return compat_reply_field(c, "error", 400, "invalid page: %lld", page);
    if (per_page < 0)
        return compat_reply_field(c, "error", 400, "invalid per_page: %lld", per_page);
    if (per_page > 1000)
        per_page = 1000;
    _cleanup_json_ json_t *ids = NULL;
    int64_t total = 0;
    int r = store_submission_ids(c->st, "judge0", (page - 1) * per_page, per_page, &ids, &total);
    if (r < 0)
        return api_store_error(c, r, "submission");
    size_t n = json_array_size(ids);
    const char **list = calloc(n ? n : 1, sizeof(*list));
    if (!list)
        return compat_reply_field(c, "error", 500, "out of memory");
    for (size_t i = 0; i < n; i++)
        list[i] = json_string_value(json_array_get(ids, i));
    json_t *subs = NULL;
    r = render_many(c, list, n, &f, query_true(c, "base64_encoded"), &subs);
    free(list);
    if (r == -EILSEQ)
        return compat_reply_field(c, "error", 400, "%s", J0_UTF8_ERROR_MANY);
    if (r < 0)
        return api_store_error(c, r, "submission");
    long long pages = per_page ? (total + per_page - 1) / per_page : 0;
    json_t *meta = json_pack("{s:I, s:o, s:o, s:I, s:I}", "current_page", (json_int_t)page,
                             "next_page", page < pages ? json_integer(page + 1) : json_null(),
                             "prev_page", page > 1 ? json_integer(page - 1) : json_null(),
                             "total_pages", (json_int_t)pages, "total_count", (json_int_t)total);
    return http_reply_json(c->req, 200, json_pack("{s:o, s:o}", "submissions", subs, "meta", meta));
}

static enum MHD_Result j0_delete(api_call *c)
{
    enum MHD_Result ret;
    j0_fields f;
    if (!fields_or_refuse(c, &f, &ret))
        return ret;
    char id[33];
    if (!j0_id_from_token(c->param, id))
        return j0_not_found(c);
    j0_fields st = {0};
    st.want[33] = true; /* status */
    _cleanup_json_ json_t *cur = NULL;
    int r = j0_render(c->st, c->ctx->cfg, id, &st, true, &cur);
    if (r == -ENOENT)
        return j0_not_found(c);
    if (r < 0)
        return api_store_error(c, r, "submission");
    json_t *status = json_object_get(cur, "status");
    int sid = (int)json_integer_value(json_object_get(status, "id"));
    if (sid == 1 || sid == 2)
        return compat_reply_field(c, "error", 400,
                                  "submission cannot be deleted because its status is %d (%s)", sid,
                                  j0_status_name(sid));
    /* Judge0 answers with the submission, base64 forced; nixfarm keeps the
     * row (history stays visible in /v1, /metrics and the CLI). */
    json_t *out = NULL;
    r = j0_render(c->st, c->ctx->cfg, id, &f, true, &out);
    if (r < 0)
        return api_store_error(c, r, "submission");
    return http_reply_json(c->req, 200, out);
}

static enum MHD_Result j0_batch_create(api_call *c)
{
    enum MHD_Result ret;
    _cleanup_json_ json_t *in = body_json(c, &ret);
    if (!in)
        return ret;
    json_t *list = json_object_get(in, "submissions");
    size_t n = json_is_array(list) ? json_array_size(list) : 0;
    if (n > J0_MAX_BATCH)
        return compat_reply_field(
            c, "error", 400, "number of submissions in a batch should be less than or equal to %d",
            J0_MAX_BATCH);
    if (n == 0)
        return compat_reply_field(c, "error", 400,
                                  "there should be at least one submission in a batch");
    bool b64 = query_true(c, "base64_encoded"), any = false;
    _cleanup_json_ json_t *out = json_array();
    if (!out)
        return compat_reply_field(c, "error", 500, "out of memory");
    for (size_t i = 0; i < n; i++) {
        _cleanup_json_ json_t *v1 = NULL, *errors = NULL;
        int r = j0_to_v1(c, json_array_get(list, i), b64, &v1, &errors);
        if (r == -EINVAL) {
            json_array_append(out, errors);
            continue;
        }
        if (r < 0)
            return compat_reply_field(c, "error", 500, "out of memory");
        char id[64], token[37];
        request_error e;
        r = api_submit_v1(c, v1, false, id, NULL, &e);
        if (r < 0 && e.status == 503)
            return submit_refusal(c, &e);
        if (r < 0) {
            json_array_append_new(out, v1_errors(&e));
            continue;
        }
        j0_token_from_id(id, token);
        json_array_append_new(out, json_pack("{s:s}", "token", token));
        any = true;
    }
    return http_reply_json(c->req, any ? 201 : 422, steal_pointer(&out));
}

static enum MHD_Result j0_batch_show(api_call *c)
{
    enum MHD_Result ret;
    j0_fields f;
    if (!fields_or_refuse(c, &f, &ret))
        return ret;
    const char *tokens = http_header(c->req, "tokens");
    if (!tokens)
        tokens = http_query(c->req, "tokens");
    _cleanup_free_ char *copy = strdup(tokens ? tokens : "");
    if (!copy)
        return compat_reply_field(c, "error", 500, "out of memory");
    /* Ruby's strip + split(","): empty pieces in the middle stay */
    char *p = copy;
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    size_t len = strlen(p);
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\n'))
        p[--len] = '\0';
    char *ids_buf[J0_MAX_BATCH];
    char idstore[J0_MAX_BATCH][33];
    size_t n = 0;
    while (len && *p) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (n == J0_MAX_BATCH)
            return compat_reply_field(
                c, "error", 400,
                "number of submissions in a batch should be less than or equal to %d",
                J0_MAX_BATCH);
        ids_buf[n] = j0_id_from_token(p, idstore[n]) ? idstore[n] : NULL;
        n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    if (n == 0)
        return compat_reply_field(c, "error", 400,
                                  "there should be at least one submission in a batch");
    json_t *subs = NULL;
    int r =
        render_many(c, (const char *const *)ids_buf, n, &f, query_true(c, "base64_encoded"), &subs);
    if (r == -EILSEQ)
        return compat_reply_field(c, "error", 400, "%s", J0_UTF8_ERROR_MANY);
    if (r < 0)
        return api_store_error(c, r, "submission");
    return http_reply_json(c->req, 200, json_pack("{s:o}", "submissions", subs));
}

/* ---- languages and statuses ---- */

static enum MHD_Result j0_languages(api_call *c)
{
    _cleanup_json_ json_t *set = compat_package_set(c->ctx->cfg);
    return http_reply_json(c->req, 200, j0_languages_list(set, false));
}

static enum MHD_Result j0_languages_all(api_call *c)
{
    _cleanup_json_ json_t *set = compat_package_set(c->ctx->cfg);
    return http_reply_json(c->req, 200, j0_languages_list(set, true));
}

static enum MHD_Result j0_language_show(api_call *c)
{
    char *end;
    long id = strtol(c->param, &end, 10);
    const j0_language *l = *end || end == c->param ? NULL : j0_language_get((int)id);
    _cleanup_json_ json_t *set = l ? compat_package_set(c->ctx->cfg) : NULL;
    if (!l || !j0_language_available(l, set))
        return j0_not_found(c);
    return http_reply_json(c->req, 200, j0_language_json(l, set, true));
}

static enum MHD_Result j0_statuses(api_call *c)
{
    json_t *arr = json_array();
    for (int i = 1; arr && i <= 14; i++)
        json_array_append_new(arr,
                              json_pack("{s:i, s:s}", "id", i, "description", j0_status_name(i)));
    return http_reply_json(c->req, 200, arr);
}

/* ---- information ---- */

static enum MHD_Result j0_about(api_call *c)
{
    return http_reply_json(c->req, 200,
                           json_pack("{s:s, s:s, s:s, s:s}", "version", JUDGE0_VERSION, "homepage",
                                     "https://judge0.com", "source_code",
                                     "https://github.com/judge0/judge0", "maintainer",
                                     "nixfarm (Judge0-compatible front, docs/compat-judge0.md)"));
}

static enum MHD_Result j0_version(api_call *c)
{
    return http_reply_text(c->req, 200, "text/plain; charset=utf-8", JUDGE0_VERSION);
}

static enum MHD_Result j0_config_info(api_call *c)
{
    json_t *o =
        json_pack("{s:b, s:b, s:b, s:[], s:b, s:b, s:b, s:i, s:f, s:b, s:I}", "maintenance_mode",
                  !api_accepting(c->st), "enable_wait_result", 1, "enable_compiler_options", 1,
                  "allowed_languages_for_compile_options", "enable_command_line_arguments", 1,
                  "enable_submission_delete", 1, "enable_callbacks", 1, "callbacks_max_tries",
                  J0_CALLBACKS_MAX_TRIES, "callbacks_timeout", J0_CALLBACKS_TIMEOUT,
                  "enable_additional_files", 1, "max_queue_size", (json_int_t)c->ctx->max_queue);
    json_t *more = json_pack(
        "{s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:i, s:i, s:i, s:i, s:i}", "cpu_time_limit",
        J0_CPU_TIME_LIMIT, "max_cpu_time_limit", J0_MAX_CPU_TIME_LIMIT, "cpu_extra_time",
        J0_CPU_EXTRA_TIME, "max_cpu_extra_time", J0_MAX_CPU_EXTRA_TIME, "wall_time_limit",
        J0_WALL_TIME_LIMIT, "max_wall_time_limit", J0_MAX_WALL_TIME_LIMIT, "memory_limit",
        J0_MEMORY_LIMIT, "max_memory_limit", J0_MAX_MEMORY_LIMIT, "stack_limit", J0_STACK_LIMIT,
        "max_stack_limit", J0_MAX_STACK_LIMIT, "max_processes_and_or_threads", J0_MAX_PROCESSES,
        "max_max_processes_and_or_threads", J0_MAX_MAX_PROCESSES);
    json_t *rest = json_pack(
        "{s:b, s:b, s:b, s:b, s:i, s:i, s:i, s:i, s:b, s:i, s:b, s:i, s:f, s:b, s:b, s:b}",
        "enable_per_process_and_thread_time_limit", 0,
        "allow_enable_per_process_and_thread_time_limit", 0,
        "enable_per_process_and_thread_memory_limit", 0,
        "allow_enable_per_process_and_thread_memory_limit", 0, "max_file_size", J0_MAX_FILE_SIZE,
        "max_max_file_size", J0_MAX_MAX_FILE_SIZE, "number_of_runs", J0_NUMBER_OF_RUNS,
        "max_number_of_runs", J0_MAX_NUMBER_OF_RUNS, "redirect_stderr_to_stdout", 0,
        "max_extract_size", J0_MAX_EXTRACT_SIZE, "enable_batched_submissions", 1,
        "max_submission_batch_size", J0_MAX_BATCH, "submission_cache_duration", 1.0,
        "use_docs_as_homepage", 0, "allow_enable_network", 0, "enable_network", 0);
    if (!o || !more || !rest) {
        json_decref(o);
        json_decref(more);
        json_decref(rest);
        return compat_reply_field(c, "error", 500, "out of memory");
    }
    json_object_update(o, more);
    json_object_update(o, rest);
    json_decref(more);
    json_decref(rest);
    return http_reply_json(c->req, 200, o);
}

static void human_bytes(unsigned long long b, char *buf, size_t len)
{
    const char *units = "BKMGTP";
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%lluB", b);
    else
        snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

static enum MHD_Result j0_system_info(api_call *c)
{
    json_t *o = json_object();
    struct utsname u;
    if (uname(&u) == 0)
        json_object_set_new(o, "Architecture", json_string(u.machine));
    char buf[64];
    snprintf(buf, sizeof(buf), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
    json_object_set_new(o, "CPU(s)", json_string(buf));
    FILE *f = fopen("/proc/cpuinfo", "re");
    char line[512];
    while (f && fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "model name", 10)) {
            char *colon = strchr(line, ':');
            if (colon) {
                colon++;
                while (*colon == ' ')
                    colon++;
                colon[strcspn(colon, "\n")] = '\0';
                json_object_set_new(o, "Model name", json_string(colon));
            }
            break;
        }
    }
    if (f)
        fclose(f);
    struct sysinfo si;
    if (sysinfo(&si) == 0) {
        human_bytes((unsigned long long)si.totalram * si.mem_unit, buf, sizeof(buf));
        json_object_set_new(o, "Mem", json_string(buf));
        human_bytes((unsigned long long)si.totalswap * si.mem_unit, buf, sizeof(buf));
        json_object_set_new(o, "Swap", json_string(buf));
    }
    return http_reply_json(c->req, 200, o);
}

static long long depth(const json_t *d, const char *queue, const char *state)
{
    return json_integer_value(json_object_get(json_object_get(d, queue), state));
}

static enum MHD_Result j0_workers(api_call *c)
{
    _cleanup_json_ json_t *d = NULL, *beats = NULL;
    int r = store_queue_depths(c->st, &d);
    if (r < 0)
        return api_store_error(c, r, "queue");
    store_heartbeats(c->st, &beats);
    long long workers = 0, builders = 0;
    int64_t now = store_now_ms();
    size_t i;
    json_t *b;
    json_array_foreach(beats, i, b)
    {
        const char *role = json_string_value(json_object_get(b, "role"));
        json_t *seen = json_object_get(b, "last_seen_at");
        if (!role || !json_is_integer(seen) || now - json_integer_value(seen) > c->ctx->stale_ms)
            continue;
        workers += !strcmp(role, "worker");
        builders += !strcmp(role, "builder");
    }
    long long running = depth(d, "submissions", "running");
    long long building = depth(d, "depsets", "building");
    json_t *arr = json_pack(
        "[{s:s, s:I, s:I, s:I, s:I, s:i, s:I}, {s:s, s:I, s:I, s:I, s:I, s:i, s:I}]", "queue",
        JUDGE0_VERSION, "size",
        (json_int_t)(depth(d, "submissions", "queued") + depth(d, "submissions", "waiting_deps")),
        "available", (json_int_t)workers, "idle",
        (json_int_t)(workers > running ? workers - running : 0), "working", (json_int_t)running,
        "paused", 0, "failed", (json_int_t)depth(d, "submissions", "internal_error"), "queue",
        "depsets", "size", (json_int_t)depth(d, "depsets", "queued"), "available",
        (json_int_t)builders, "idle", (json_int_t)(builders > building ? builders - building : 0),
        "working", (json_int_t)building, "paused", 0, "failed",
        (json_int_t)depth(d, "depsets", "failed"));
    return http_reply_json(c->req, 200, arr);
}

static json_t *iso_now(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[40];
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return json_string(buf);
}

/* The Judge0 status of a terminal (state, verdict) pair, for counting. */
static int outcome_status(const char *state, const char *verdict)
{
    if (!state || !strcmp(state, "queued") || !strcmp(state, "waiting_deps"))
        return 1;
    if (!strcmp(state, "running"))
        return 2;
    if (!strcmp(state, "compile_error") || !strcmp(state, "deps_failed"))
        return 6;
    if (!strcmp(state, "internal_error"))
        return 13;
    if (!strcmp(state, "cancelled") || !verdict)
        return 12;
    if (!strcmp(verdict, "accepted"))
        return 3;
    if (!strcmp(verdict, "wrong_answer"))
        return 4;
    if (!strcmp(verdict, "time_limit"))
        return 5;
    if (!strcmp(verdict, "output_limit"))
        return 8;
    if (!strcmp(verdict, "internal_error"))
        return 13;
    return 12; /* memory_limit; runtime errors are split by signal only per row */
}

static enum MHD_Result j0_statistics(api_call *c)
{
    int64_t now = store_now_ms();
    int64_t day0 = now - now % 86400000;
    _cleanup_json_ json_t *st = NULL, *set = compat_package_set(c->ctx->cfg);
    int r = store_submission_stats(c->st, "judge0", day0 - 30LL * 86400000, &st);
    if (r < 0)
        return api_store_error(c, r, "submission");
    long long by_status[15] = {0}, total = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(st, "outcomes"), i, e)
    {
        long long n = json_integer_value(json_object_get(e, "count"));
        by_status[outcome_status(json_string_value(json_object_get(e, "state")),
                                 json_string_value(json_object_get(e, "verdict")))] += n;
        total += n;
    }
    json_t *statuses = json_array();
    for (int k = 1; k <= 14; k++)
        if (by_status[k])
            json_array_append_new(statuses,
                                  json_pack("{s:{s:i, s:s}, s:I}", "status", "id", k, "name",
                                            j0_status_name(k), "count", (json_int_t)by_status[k]));
    json_t *langs = json_array();
    json_array_foreach(json_object_get(st, "languages"), i, e)
    {
        int id = (int)json_integer_value(json_object_get(e, "language_id"));
        const j0_language *l = j0_language_get(id);
        char name[128] = "";
        if (l)
            j0_language_name(l, set, name, sizeof(name));
        json_array_append_new(langs, json_pack("{s:{s:i, s:o}, s:O}", "language", "id", id, "name",
                                               l ? json_string(name) : json_null(), "count",
                                               json_object_get(e, "count")));
    }
    json_t *days = json_object();
    long long today = 0;
    char today_s[16];
    time_t t0 = (time_t)(day0 / 1000);
    struct tm tm;
    gmtime_r(&t0, &tm);
    strftime(today_s, sizeof(today_s), "%Y-%m-%d", &tm);
    for (int k = 1; k <= 30; k++) { /* the 30 days before today, newest first */
        time_t t = (time_t)(day0 / 1000 - (time_t)k * 86400);
        char d[16];
        gmtime_r(&t, &tm);
        strftime(d, sizeof(d), "%Y-%m-%d", &tm);
        json_object_set_new(days, d, json_integer(0));
    }
    json_array_foreach(json_object_get(st, "days"), i, e)
    {
        const char *d = json_string_value(json_object_get(e, "day"));
        long long n = json_integer_value(json_object_get(e, "count"));
        if (d && !strcmp(d, today_s))
            today = n;
        else if (d && json_object_get(days, d))
            json_object_set_new(days, d, json_integer(n));
    }
    long long dbb = json_integer_value(json_object_get(st, "db_bytes"));
    char pretty[32];
    human_bytes((unsigned long long)dbb, pretty, sizeof(pretty));
    return http_reply_json(c->req, 200,
                           json_pack("{s:o, s:o, s:{s:I, s:I, s:o}, s:o, s:o, s:{s:s, s:I}}",
                                     "created_at", iso_now(now), "cached_until", iso_now(now),
                                     "submissions", "total", (json_int_t)total, "today",
                                     (json_int_t)today, "last_30_days", days, "languages", langs,
                                     "statuses", statuses, "database", "size_pretty", pretty,
                                     "size_in_bytes", (json_int_t)dbb));
}

static enum MHD_Result j0_ok(api_call *c)
{
    return http_reply_text(c->req, 200, "text/plain", "");
}

/* Judge0 asks every caller for X-Auth-Token when authentication is on, and
 * X-Auth-User for the admin calls: here the scopes submit and admin. */
static const api_route judge0_routes[] = {
    {"POST", "/submissions/batch", j0_batch_create, AUTH_SUBMIT},
    {"GET", "/submissions/batch", j0_batch_show, AUTH_SUBMIT},
    {"POST", "/submissions", j0_create, AUTH_SUBMIT},
    {"GET", "/submissions", j0_list, AUTH_ADMIN},
    {"GET", "/submissions/{token}", j0_show, AUTH_SUBMIT},
    {"DELETE", "/submissions/{token}", j0_delete, AUTH_ADMIN},
    {"GET", "/languages/all", j0_languages_all, AUTH_SUBMIT},
    {"GET", "/languages", j0_languages, AUTH_SUBMIT},
    {"GET", "/languages/{id}", j0_language_show, AUTH_SUBMIT},
    {"GET", "/statuses", j0_statuses, AUTH_SUBMIT},
    {"GET", "/about", j0_about, AUTH_SUBMIT},
    {"GET", "/version", j0_version, AUTH_SUBMIT},
    {"GET", "/config_info", j0_config_info, AUTH_SUBMIT},
    {"GET", "/system_info", j0_system_info, AUTH_SUBMIT},
    {"GET", "/statistics", j0_statistics, AUTH_SUBMIT},
    {"GET", "/workers", j0_workers, AUTH_SUBMIT},
    {"POST", "/authenticate", j0_ok, AUTH_SUBMIT},
    {"POST", "/authorize", j0_ok, AUTH_ADMIN},
    {NULL, NULL, NULL, 0},
};

/* X-Auth-User (Judge0's authorization header, admin calls) wins over
 * X-Auth-Token (authentication). */
static int j0_token(struct MHD_Connection *conn, char *token, size_t len)
{
    static const char *const headers[] = {"X-Auth-User", "X-Auth-Token"};
    for (size_t i = 0; i < sizeof(headers) / sizeof(*headers); i++) {
        const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, headers[i]);
        if (v && *v) {
            if (strlen(v) >= len)
                return -EINVAL;
            snprintf(token, len, "%s", v);
            return 1;
        }
    }
    return 0;
}

/* Judge0 answers 401/403 with an empty body, other refusals with
 * {"error": "..."}. */
static enum MHD_Result j0_refusal(api_call *c, unsigned status, const char *code,
                                  const char *message)
{
    if (status == 401 || status == 403)
        return http_reply_text(c->req, status, "text/plain", "");
    if (status == 404 && !strcmp(code, "not_found"))
        return j0_not_found(c);
    return http_reply_json(c->req, status, json_pack("{s:s}", "error", message));
}

const compat_front compat_judge0 = {
    .name = "judge0",
    .routes = judge0_routes,
    .token_from_request = j0_token,
    .reply_refusal = j0_refusal,
    .cors = true,
    .callback_body = j0_callback_body,
};
