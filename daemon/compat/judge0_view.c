/* judge0_view.c — a stored submission as Judge0 CE 1.13.1 shows it.
 *
 * Statuses from nixfarm's states and verdicts: queued/waiting_deps 1,
 * running 2; per decisive test accepted 3, wrong_answer 4, time_limit 5,
 * runtime_error by SIGSEGV 7 / SIGXFSZ 8 / SIGFPE 9 / SIGABRT 10 / another
 * signal 12 / a non-zero exit 11 (14 when the exec failed with "Exec
 * format error", exit 126/127), memory_limit 12 (the OOM kill), output_limit 8 (Judge0's
 * file-size limit on stdout); compile_error 6, deps_failed 6 (the builder's
 * log as compile output), cancelled 12; internal_error (submission or test) 13.
 * With number_of_runs > 1 the tests are the runs: the last one run decides,
 * time and memory are their averages. */
#include "judge0.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/base64.h"
#include "../../common/cleanup.h"

/* The serializer's attributes, in its order. */
static const char *const field_names[J0_F_N] = {
    "source_code",
    "language_id",
    "stdin",
    "expected_output",
    "stdout",
    "status_id",
    "created_at",
    "finished_at",
    "time",
    "memory",
    "stderr",
    "token",
    "number_of_runs",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "compile_output",
    "exit_code",
    "exit_signal",
    "message",
    "wall_time",
    "compiler_options",
    "command_line_arguments",
    "redirect_stderr_to_stdout",
    "callback_url",
    "additional_files",
    "enable_network",
    "status",
    "language",
};
static const char *const default_fields[] = {
    "token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status", NULL,
};

static const char *const status_names[] = {
    NULL,
    "In Queue",
    "Processing",
    "Accepted",
    "Wrong Answer",
    "Time Limit Exceeded",
    "Compilation Error",
    "Runtime Error (SIGSEGV)",
    "Runtime Error (SIGXFSZ)",
    "Runtime Error (SIGFPE)",
    "Runtime Error (SIGABRT)",
    "Runtime Error (NZEC)",
    "Runtime Error (Other)",
    "Internal Error",
    "Exec Format Error",
};

const char *j0_status_name(int id)
{
    return id >= 1 && id <= 14 ? status_names[id] : NULL;
}

static int field_index(const char *name, size_t len)
{
    for (int i = 0; i < J0_F_N; i++)
        if (strlen(field_names[i]) == len && !strncmp(field_names[i], name, len))
            return i;
    return -1;
}

int j0_fields_parse(const char *spec, j0_fields *f, char *bad, size_t badlen)
{
    memset(f, 0, sizeof(*f));
    bad[0] = '\0';
    bool any = false, all = false;
    size_t used = 0;
    for (const char *p = spec ? spec : ""; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == 1 && *p == '*')
            all = true;
        else if (n) {
            int i = field_index(p, n);
            if (i >= 0) {
                f->want[i] = true;
                any = true;
            } else if (used < badlen) {
                used += (size_t)snprintf(bad + used, badlen - used, "%s%.*s", used ? ", " : "",
                                         (int)n, p);
            }
        }
        p += n + (comma ? 1 : 0);
    }
    if (all)
        for (int i = 0; i < J0_F_N; i++)
            f->want[i] = true;
    else if (!any)
        for (size_t k = 0; default_fields[k]; k++)
            f->want[field_index(default_fields[k], strlen(default_fields[k]))] = true;
    return bad[0] ? -EINVAL : 0;
}

void j0_token_from_id(const char *id, char token[37])
{
    if (strlen(id) != 32) {
        snprintf(token, 37, "%s", id);
        return;
    }
    snprintf(token, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", id, id + 8, id + 12, id + 16, id + 20);
}

bool j0_id_from_token(const char *token, char id[33])
{
    size_t k = 0;
    for (const char *p = token; *p; p++) {
        if (*p == '-')
            continue;
        if (k >= 32 || !strchr("0123456789abcdefABCDEF", *p))
            return false;
        char ch = *p;
        id[k++] = (char)(ch >= 'A' && ch <= 'F' ? ch - 'A' + 'a' : ch);
    }
    id[k] = '\0';
    return k == 32;
}

char *j0_b64_encode(const void *data, size_t len)
{
    _cleanup_free_ char *flat = base64_encode(data, len);
    if (!flat)
        return NULL;
    size_t n = strlen(flat);
    char *out = malloc(n + n / 60 + 2);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        out[k++] = flat[i];
        if ((i + 1) % 60 == 0)
            out[k++] = '\n';
    }
    if (n && k && out[k - 1] != '\n')
        out[k++] = '\n';
    out[k] = '\0';
    return out;
}

/* ---- building blocks ---- */

typedef struct {
    unsigned char *data; /* owned, NUL-terminated */
    size_t len;
    bool set; /* false: null */
} bytes;

static void bytes_free(bytes *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static int bytes_copy(bytes *b, const void *data, size_t len)
{
    b->data = malloc(len + 1);
    if (!b->data)
        return -ENOMEM;
    memcpy(b->data, data, len);
    b->data[len] = '\0';
    b->len = len;
    b->set = true;
    return 0;
}

static int bytes_append(bytes *b, const void *data, size_t len)
{
    unsigned char *n = realloc(b->data, b->len + len + 1);
    if (!n)
        return -ENOMEM;
    memcpy(n + b->len, data, len);
    b->data = n;
    b->len += len;
    b->data[b->len] = '\0';
    b->set = true;
    return 0;
}

static int blob_bytes(store *s, const json_t *sha, bytes *b)
{
    if (!json_is_string(sha))
        return 0;
    void *data = NULL;
    size_t len = 0;
    int r = store_blob_get(s, json_string_value(sha), &data, &len);
    if (r < 0)
        return r == -ENOENT ? 0 : r;
    r = bytes_copy(b, data, len);
    free(data);
    return r;
}

/* A result's stream (stdout/stderr of a step object), decoded. */
static int stream_bytes(const json_t *step, const char *which, bytes *b)
{
    const json_t *v = json_object_get(step, which);
    if (!json_is_string(v))
        return 0;
    const char *enc = json_string_value(json_object_get(step, "encoding"));
    if (enc && !strcmp(enc, "base64")) {
        unsigned char *out = NULL;
        size_t len = 0;
        if (base64_decode(json_string_value(v), json_string_length(v), &out, &len) < 0)
            return 0;
        int r = bytes_copy(b, out, len);
        free(out);
        return r;
    }
    return bytes_copy(b, json_string_value(v), json_string_length(v));
}

/* A text field's JSON: null, the text, or base64 (Ruby's encode64).
 * empty_null: an empty text is null (the program's streams). */
static int text_json(const bytes *b, bool base64, bool empty_null, json_t **out)
{
    if (!b->set || (empty_null && b->len == 0)) {
        *out = json_null();
        return 0;
    }
    if (base64) {
        _cleanup_free_ char *e = j0_b64_encode(b->data ? (const void *)b->data : "", b->len);
        *out = e ? json_string(e) : NULL;
        return *out ? 0 : -ENOMEM;
    }
    /* jansson checks the bytes are UTF-8 */
    *out = json_stringn((const char *)b->data, b->len);
    return *out ? 0 : -EILSEQ;
}

/* "2024-04-17T23:28:19.123Z" from epoch milliseconds. */
static json_t *iso_time(const json_t *ms)
{
    if (!json_is_integer(ms))
        return json_null();
    long long v = json_integer_value(ms);
    time_t t = (time_t)(v / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[40];
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(v % 1000));
    return json_string(buf);
}

/* A decimal column as Rails renders it: "0.002", "5.0". */
static json_t *decimal(double v)
{
    char buf[40];
    snprintf(buf, sizeof(buf), "%.3f", v);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '0' && buf[n - 2] != '.')
        buf[--n] = '\0';
    return json_string(buf);
}

static int signal_number(const char *name)
{
    if (!name || strncmp(name, "SIG", 3))
        return 0;
    for (int i = 1; i < 65; i++) {
        const char *a = sigabbrev_np(i);
        if (a && !strcmp(a, name + 3))
            return i;
    }
    return atoi(name + 3);
}

/* ---- the submission ---- */

typedef struct {
    int status;
    const json_t *decisive; /* the test that decides, NULL before/without */
    double time, wall;
    long long memory;
    bool measured;
    int exit_code; /* -1: null */
    int exit_signal;
    char message[512];
    bytes compile_output;
} outcome;

static int signal_status(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return 7;
    case SIGXFSZ:
        return 8;
    case SIGFPE:
        return 9;
    case SIGABRT:
        return 10;
    default:
        return 12;
    }
}

static int test_outcome(const json_t *t, outcome *o)
{
    const char *v = json_string_value(json_object_get(t, "verdict"));
    const char *limit = json_string_value(json_object_get(t, "limit"));
    int sig = signal_number(json_string_value(json_object_get(t, "signal")));
    json_t *ec = json_object_get(t, "exit_code");
    o->exit_code = json_is_integer(ec) ? (int)json_integer_value(ec) : 0;
    o->exit_signal = sig;
    if (sig)
        o->exit_code = 0;
    if (!v || !strcmp(v, "accepted"))
        return 3;
    if (!strcmp(v, "wrong_answer"))
        return 4;
    if (!strcmp(v, "time_limit")) {
        snprintf(o->message, sizeof(o->message), "Time limit exceeded%s",
                 limit && !strcmp(limit, "wall") ? " (wall clock)" : "");
        return 5;
    }
    if (!strcmp(v, "memory_limit")) {
        o->exit_signal = sig ? sig : SIGKILL;
        snprintf(o->message, sizeof(o->message), "Caught fatal signal %d", o->exit_signal);
        return 12;
    }
    if (!strcmp(v, "output_limit")) {
        o->exit_signal = SIGXFSZ;
        o->exit_code = 0;
        snprintf(o->message, sizeof(o->message), "Caught fatal signal %d", SIGXFSZ);
        return 8;
    }
    if (!strcmp(v, "runtime_error")) {
        if (sig) {
            snprintf(o->message, sizeof(o->message), "Caught fatal signal %d", sig);
            return signal_status(sig);
        }
        snprintf(o->message, sizeof(o->message), "Exited with error status %d", o->exit_code);
        if (o->exit_code == 126 || o->exit_code == 127) { /* the shell's or the exec's */
            bytes err = {0};
            stream_bytes(t, "stderr", &err);
            bool exe = err.data && strstr((const char *)err.data, "Exec format error");
            bytes_free(&err);
            if (exe)
                return 14;
        }
        return 11;
    }
    o->exit_code = -1;
    o->exit_signal = 0;
    return 13; /* internal_error */
}

static int decide(const json_t *row, outcome *o)
{
    memset(o, 0, sizeof(*o));
    o->exit_code = -1;
    const char *state = json_string_value(json_object_get(row, "state"));
    const json_t *tests = json_object_get(row, "tests");
    const json_t *compile = json_object_get(row, "compile");
    if (json_is_object(compile)) {
        int r = stream_bytes(compile, "stdout", &o->compile_output);
        bytes e = {0};
        if (r >= 0)
            r = stream_bytes(compile, "stderr", &e);
        if (r >= 0 && e.len)
            r = bytes_append(&o->compile_output, e.data, e.len);
        bytes_free(&e);
        if (r < 0)
            return r;
    }
    if (!state || !strcmp(state, "queued") || !strcmp(state, "waiting_deps")) {
        o->status = 1;
        return 0;
    }
    if (!strcmp(state, "running")) {
        o->status = 2;
        return 0;
    }
    if (!strcmp(state, "compile_error")) {
        o->status = 6;
        const char *lim = json_string_value(json_object_get(compile, "limit"));
        if (lim && (!strcmp(lim, "cpu") || !strcmp(lim, "wall"))) {
            bytes_free(&o->compile_output);
            return bytes_copy(&o->compile_output, "Compilation time limit exceeded.",
                              strlen("Compilation time limit exceeded."));
        }
        return 0;
    }
    const char *error = json_string_value(json_object_get(row, "error"));
    if (!strcmp(state, "deps_failed")) {
        o->status = 6;
        snprintf(o->message, sizeof(o->message),
                 "the language's packages could not be built (nixfarm deps_failed)");
        bytes_free(&o->compile_output);
        return error ? bytes_copy(&o->compile_output, error, strlen(error)) : 0;
    }
    if (!strcmp(state, "internal_error")) {
        o->status = 13;
        snprintf(o->message, sizeof(o->message), "%s", error ? error : "internal error");
        return 0;
    }
    if (!strcmp(state, "cancelled")) {
        o->status = 12;
        snprintf(o->message, sizeof(o->message), "cancelled");
    }
    /* finished (or cancelled after some runs): the last run decides */
    size_t n = json_array_size(tests);
    double t = 0, w = 0;
    long long m = 0;
    size_t i, k = 0;
    const json_t *test;
    json_array_foreach(tests, i, test)
    {
        if (!json_object_get(test, "verdict"))
            continue;
        t += (double)json_integer_value(json_object_get(test, "cpu_ms")) / 1000.0;
        w += (double)json_integer_value(json_object_get(test, "wall_ms")) / 1000.0;
        m += json_integer_value(json_object_get(test, "memory_kib"));
        o->decisive = test;
        k++;
    }
    if (k) {
        o->measured = true;
        o->time = t / (double)k;
        o->wall = w / (double)k;
        o->memory = m / (long long)k;
    }
    (void)n;
    if (o->status == 12) /* cancelled */
        return 0;
    o->status = o->decisive ? test_outcome(o->decisive, o) : 13;
    if (o->status == 13 && !o->message[0])
        snprintf(o->message, sizeof(o->message), "%s", error ? error : "internal error");
    return 0;
}

static const json_t *meta_of(const json_t *row)
{
    return json_object_get(json_object_get(row, "request"), "meta");
}

/* Sets field name on out unless it is not wanted. */
#define WANT(i) (f->want[(i)])

static int render_row(store *s, const config *cfg, const json_t *row, const j0_fields *f,
                      bool base64, json_t **out)
{
    _cleanup_json_ json_t *o = json_object();
    if (!o)
        return -ENOMEM;
    const json_t *req = json_object_get(row, "request");
    const json_t *meta = meta_of(row);
    outcome oc;
    int r = decide(row, &oc);
    bytes src = {0}, in = {0}, exp = {0}, sout = {0}, serr = {0};
    const json_t *t0 = json_array_get(json_object_get(req, "tests"), 0);
    int lang_id = (int)json_integer_value(json_object_get(meta, "language_id"));
    const j0_language *lang = j0_language_get(lang_id);
    if (r >= 0 && WANT(0)) {
        const json_t *file = json_array_get(json_object_get(req, "files"), 0);
        if (lang && lang->source_file && file)
            r = blob_bytes(s, json_object_get(file, "blob"), &src);
    }
    if (r >= 0 && WANT(2))
        r = blob_bytes(s, json_object_get(t0, "stdin_blob"), &in);
    if (r >= 0 && WANT(3))
        r = blob_bytes(s, json_object_get(t0, "expected_blob"), &exp);
    /* an empty stdin is stored as none; Judge0 shows "" for it */
    if (r >= 0 && WANT(2) && !in.set && json_is_true(json_object_get(meta, "has_stdin")))
        r = bytes_copy(&in, "", 0);
    if (r >= 0 && oc.decisive)
        r = stream_bytes(oc.decisive, "stdout", &sout);
    if (r >= 0 && oc.decisive)
        r = stream_bytes(oc.decisive, "stderr", &serr);
    for (int i = 0; r >= 0 && i < J0_F_N; i++) {
        if (!WANT(i))
            continue;
        json_t *v = NULL;
        const char *name = field_names[i];
        switch (i) {
        case 0:
            r = text_json(&src, base64, false, &v);
            break;
        case 1:
            v = json_integer(lang_id);
            break;
        case 2:
            r = text_json(&in, base64, false, &v);
            break;
        case 3:
            r = text_json(&exp, base64, false, &v);
            break;
        case 4:
            r = text_json(&sout, base64, true, &v);
            break;
        case 5:
            v = json_integer(oc.status);
            break;
        case 6:
            v = iso_time(json_object_get(row, "created_at"));
            break;
        case 7:
            v = oc.status > 2 ? iso_time(json_object_get(row, "finished_at")) : json_null();
            break;
        case 8:
            v = oc.measured ? decimal(oc.time) : json_null();
            break;
        case 9:
            v = oc.measured ? json_integer(oc.memory) : json_null();
            break;
        case 10:
            r = text_json(&serr, base64, true, &v);
            break;
        case 11: {
            char token[37];
            j0_token_from_id(json_string_value(json_object_get(row, "id")), token);
            v = json_string(token);
            break;
        }
        case 13:
        case 14:
        case 15:
            v = decimal(json_real_value(json_object_get(meta, name)));
            break;
        case 12:
        case 16:
        case 17:
        case 18:
        case 21:
            v = json_integer(json_integer_value(json_object_get(meta, name)));
            break;
        case 19:
        case 20:
        case 29:
        case 32:
            v = json_boolean(json_is_true(json_object_get(meta, name)));
            break;
        case 22:
            r = text_json(&oc.compile_output, base64, true, &v);
            break;
        case 23:
            v = oc.status > 2 && oc.decisive && oc.exit_code >= 0 ? json_integer(oc.exit_code)
                                                                  : json_null();
            break;
        case 24:
            v = oc.exit_signal ? json_integer(oc.exit_signal) : json_null();
            break;
        case 25: {
            bytes m = {0};
            if (oc.message[0])
                r = bytes_copy(&m, oc.message, strlen(oc.message));
            if (r >= 0)
                r = text_json(&m, base64, true, &v);
            bytes_free(&m);
            break;
        }
        case 26:
            v = oc.measured ? decimal(oc.wall) : json_null();
            break;
        case 27:
        case 28: {
            const json_t *m = json_object_get(meta, name);
            v = json_is_string(m) ? json_incref((json_t *)m) : json_null();
            break;
        }
        case 30: {
            const json_t *u = json_object_get(row, "callback_url");
            v = json_is_string(u) ? json_incref((json_t *)u) : json_null();
            break;
        }
        case 31:
            v = json_null(); /* the archive is unpacked into the box, not kept */
            break;
        case 33:
            v = json_pack("{s:i, s:s}", "id", oc.status, "description", j0_status_name(oc.status));
            break;
        case 34: {
            _cleanup_json_ json_t *set = compat_package_set(cfg);
            v = lang ? j0_language_json(lang, set, false) : json_null();
            break;
        }
        default:
            v = json_null();
        }
        if (r >= 0 && v)
            json_object_set_new(o, name, v);
        else
            json_decref(v);
    }
    bytes_free(&src);
    bytes_free(&in);
    bytes_free(&exp);
    bytes_free(&sout);
    bytes_free(&serr);
    bytes_free(&oc.compile_output);
    if (r < 0)
        return r;
    *out = steal_pointer(&o);
    return 0;
}

int j0_render(store *s, const config *cfg, const char *id, const j0_fields *f, bool base64,
              json_t **out)
{
    _cleanup_json_ json_t *row = NULL;
    int r = store_submission_get(s, id, &row);
    if (r < 0)
        return r;
    return render_row(s, cfg, row, f, base64, out);
}

char *j0_callback_body(store *s, const config *cfg, const json_t *row, const char **method)
{
    j0_fields f;
    char bad[8];
    j0_fields_parse(NULL, &f, bad, sizeof(bad));
    _cleanup_json_ json_t *o = NULL;
    if (render_row(s, cfg, row, &f, true, &o) < 0)
        return NULL;
    *method = "PUT";
    return json_dumps(o, JSON_COMPACT);
}
