/* judge0_submit.c — one Judge0 submission -> one v1 request.
 *
 * Validation follows Judge0 CE 1.13.1's Submission model: its defaults, its
 * bounds and its messages ({"field": ["must be less than or equal to
 * 15.0"]}), every field checked and every error reported at once. What v1
 * then refuses (a callback_url on a private address, a limit past the farm's
 * api.limits.max.*) comes back through judge0.c in the same form. */
#include "judge0.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/base64.h"
#include "../../common/cleanup.h"

static void add_error(json_t *errors, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_error(json_t *errors, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *list = json_object_get(errors, field);
    if (!list) {
        list = json_array();
        json_object_set_new(errors, field, list);
    }
    json_array_append_new(list, json_string(msg));
}

static bool present(const json_t *v)
{
    return v && !json_is_null(v);
}

/* Ruby's Base64.decode64: characters outside the alphabet are skipped, a
 * short tail is dropped. Returns malloc'd bytes (NUL-terminated) or NULL on
 * memory failure. */
static unsigned char *lenient_b64(const char *in, size_t *outlen)
{
    size_t n = strlen(in), k = 0;
    _cleanup_free_ char *clean = malloc(n + 4);
    if (!clean)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char ch = in[i];
        if (ch == '=')
            break;
        if (isalnum((unsigned char)ch) || ch == '+' || ch == '/' || ch == '-' || ch == '_')
            clean[k++] = ch;
    }
    if (k % 4 == 1)
        k--;
    unsigned char *out = NULL;
    if (base64_decode(clean, k, &out, outlen) < 0) {
        out = calloc(1, 1);
        *outlen = 0;
    }
    return out;
}

/* A text field: its bytes (decoded from base64 when asked). -1: wrong
 * type (error added). */
static int text_field(json_t *in, const char *name, bool base64, json_t *errors,
                      unsigned char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    json_t *v = json_object_get(in, name);
    if (!present(v))
        return 0;
    if (json_is_number(v) || json_is_boolean(v)) { /* Rails casts scalars to text */
        char buf[64];
        if (json_is_boolean(v))
            snprintf(buf, sizeof(buf), "%s", json_is_true(v) ? "true" : "false");
        else if (json_is_integer(v))
            snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        else
            snprintf(buf, sizeof(buf), "%g", json_real_value(v));
        *data = (unsigned char *)strdup(buf);
        *len = strlen(buf);
        return *data ? 1 : -ENOMEM;
    }
    if (!json_is_string(v)) {
        add_error(errors, name, "is invalid");
        return -1;
    }
    if (base64) {
        *data = lenient_b64(json_string_value(v), len);
    } else {
        *len = json_string_length(v);
        *data = malloc(*len + 1);
        if (*data) {
            memcpy(*data, json_string_value(v), *len);
            (*data)[*len] = '\0';
        }
    }
    return *data ? 1 : -ENOMEM;
}

/* A number field (a JSON number or a numeric string); 0 absent, 1 set, -1
 * not a number (error added). */
static int number_field(json_t *in, const char *name, json_t *errors, double *out)
{
    json_t *v = json_object_get(in, name);
    if (!present(v) || (json_is_string(v) && !*json_string_value(v)))
        return 0;
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 1;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        double d = strtod(s, &end);
        while (*end && isspace((unsigned char)*end))
            end++;
        if (end != s && !*end && isfinite(d)) {
            *out = d;
            return 1;
        }
    }
    add_error(errors, name, "is not a number");
    return -1;
}

/* Rails' boolean cast: 0 absent, 1 set. */
static int bool_field(json_t *in, const char *name, bool *out)
{
    json_t *v = json_object_get(in, name);
    if (!present(v) || (json_is_string(v) && !*json_string_value(v)))
        return 0;
    if (json_is_boolean(v))
        *out = json_is_true(v);
    else if (json_is_integer(v))
        *out = json_integer_value(v) != 0;
    else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        *out = !(!strcmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "f") ||
                 !strcasecmp(s, "off") || !strcasecmp(s, "FALSE"));
    } else
        *out = true;
    return 1;
}

typedef struct {
    const char *name;
    double def;
    double lo;
    bool lo_strict; /* greater_than instead of greater_than_or_equal_to */
    double hi;
    bool integer;    /* an integer column: the value is truncated */
    const char *fmt; /* how Judge0 prints the bounds: "%.1f" floats, "%.0f" integers */
} j0_num;

static const j0_num nums[] = {
    {"number_of_runs", J0_NUMBER_OF_RUNS, 0, true, J0_MAX_NUMBER_OF_RUNS, true, "%.0f"},
    {"cpu_time_limit", J0_CPU_TIME_LIMIT, 0, false, J0_MAX_CPU_TIME_LIMIT, false, "%.1f"},
    {"cpu_extra_time", J0_CPU_EXTRA_TIME, 0, false, J0_MAX_CPU_EXTRA_TIME, false, "%.1f"},
    {"wall_time_limit", J0_WALL_TIME_LIMIT, 1, false, J0_MAX_WALL_TIME_LIMIT, false, "%.1f"},
    {"memory_limit", J0_MEMORY_LIMIT, 2048, false, J0_MAX_MEMORY_LIMIT, true, "%.0f"},
    {"stack_limit", J0_STACK_LIMIT, 0, false, J0_MAX_STACK_LIMIT, true, "%.0f"},
    {"max_processes_and_or_threads", J0_MAX_PROCESSES, 0, true, J0_MAX_MAX_PROCESSES, true, "%.0f"},
    {"max_file_size", J0_MAX_FILE_SIZE, 0, false, J0_MAX_MAX_FILE_SIZE, true, "%.0f"},
};
enum { N_RUNS, N_CPU, N_EXTRA, N_WALL, N_MEM, N_STACK, N_PROCS, N_FSIZE, N_NUMS };

/* The lower bounds print as Judge0's integers ("0", "1", "2048"). */
static void check_num(const j0_num *d, double v, json_t *errors)
{
    char b[32];
    if (d->lo_strict ? !(v > d->lo) : !(v >= d->lo)) {
        snprintf(b, sizeof(b), "%.0f", d->lo);
        add_error(errors, d->name, "must be greater than %s%s", d->lo_strict ? "" : "or equal to ",
                  b);
    }
    if (!(v <= d->hi)) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(b, sizeof(b), d->fmt, d->hi);
#pragma GCC diagnostic pop
        add_error(errors, d->name, "must be less than or equal to %s", b);
    }
}

/* Judge0 removes these from compiler options and arguments (they would
 * reach a shell). */
static void shell_clean(const unsigned char *in, size_t len, char *out, size_t outlen)
{
    size_t k = 0;
    /* strip leading/trailing blanks as Ruby's strip */
    while (len && isspace(in[0]))
        in++, len--;
    while (len && isspace(in[len - 1]))
        len--;
    for (size_t i = 0; i < len && k + 1 < outlen; i++)
        if (!strchr("$&;<>|`", in[i]) && in[i] != '\0')
            out[k++] = (char)in[i];
    out[k] = '\0';
}

static json_t *b64_string(const unsigned char *data, size_t len)
{
    _cleanup_free_ char *s = base64_encode(data ? (const void *)data : "", data ? len : 0);
    return s ? json_string(s) : NULL;
}

/* Counts UTF-8 characters (Rails' length); bytes when not UTF-8. */
static size_t char_len(const unsigned char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

int j0_to_v1(api_call *c, json_t *in, bool base64, json_t **v1, json_t **errors_out)
{
    *v1 = NULL;
    *errors_out = NULL;
    _cleanup_json_ json_t *errors = json_object();
    if (!errors)
        return -ENOMEM;
    if (!json_is_object(in)) {
        add_error(errors, "base", "the submission must be a JSON object");
        *errors_out = steal_pointer(&errors);
        return -EINVAL;
    }
    _cleanup_free_ unsigned char *src = NULL, *stdin_d = NULL, *expected = NULL, *copts = NULL,
                                 *args = NULL, *files = NULL, *cb = NULL;
    size_t src_len = 0, stdin_len = 0, exp_len = 0, copts_len = 0, args_len = 0, files_len = 0,
           cb_len = 0;
    int has_src = text_field(in, "source_code", base64, errors, &src, &src_len);
    int has_stdin = text_field(in, "stdin", base64, errors, &stdin_d, &stdin_len);
    int has_exp = text_field(in, "expected_output", base64, errors, &expected, &exp_len);
    int has_copts = text_field(in, "compiler_options", false, errors, &copts, &copts_len);
    int has_args = text_field(in, "command_line_arguments", false, errors, &args, &args_len);
    int has_files = text_field(in, "additional_files", true, errors, &files, &files_len);
    int has_cb = text_field(in, "callback_url", false, errors, &cb, &cb_len);
    if (has_src == -ENOMEM || has_stdin == -ENOMEM || has_exp == -ENOMEM || has_copts == -ENOMEM ||
        has_args == -ENOMEM || has_files == -ENOMEM || has_cb == -ENOMEM)
        return -ENOMEM;

    /* language */
    const j0_language *lang = NULL;
    double lid = 0;
    json_t *lv = json_object_get(in, "language_id");
    if (!present(lv) || (json_is_string(lv) && !*json_string_value(lv)))
        add_error(errors, "language_id", "can't be blank");
    else {
        bool ok = false;
        if (json_is_integer(lv)) {
            lid = (double)json_integer_value(lv);
            ok = true;
        } else if (json_is_real(lv)) {
            lid = trunc(json_real_value(lv));
            ok = true;
        } else if (json_is_string(lv)) {
            char *end;
            lid = strtod(json_string_value(lv), &end);
            ok = end != json_string_value(lv);
            lid = trunc(lid);
        }
        if (ok && lid >= 0 && lid < 1e6)
            lang = j0_language_get((int)lid);
        _cleanup_json_ json_t *set = lang ? compat_package_set(c->ctx->cfg) : NULL;
        if (lang && !j0_language_available(lang, set))
            lang = NULL;
        if (!lang) {
            if (ok)
                add_error(errors, "language_id", "language with id %.0f doesn't exist", lid);
            else
                add_error(errors, "language_id", "language with id %s doesn't exist",
                          json_is_string(lv) ? json_string_value(lv) : "?");
        }
    }
    bool project = lang && !lang->source_file;
    if (!project && (has_src <= 0 || src_len == 0))
        add_error(errors, "source_code", "can't be blank");
    if (project && has_src > 0 && src_len > 0)
        add_error(errors, "source_code", "must be blank");
    if (project && (has_files <= 0 || files_len == 0))
        add_error(errors, "additional_files", "can't be blank");

    /* numbers */
    double val[N_NUMS];
    for (int i = 0; i < N_NUMS; i++) {
        val[i] = nums[i].def;
        double v;
        int r = number_field(in, nums[i].name, errors, &v);
        if (r == 1) {
            val[i] = v;
            check_num(&nums[i], v, errors);
            if (nums[i].integer)
                val[i] = trunc(v);
        }
    }
    /* flags */
    bool per_time = false, per_mem = false, redirect = false, network = false;
    if (bool_field(in, "enable_per_process_and_thread_time_limit", &per_time) && per_time)
        add_error(errors, "enable_per_process_and_thread_time_limit",
                  "this option cannot be enabled");
    if (bool_field(in, "enable_per_process_and_thread_memory_limit", &per_mem) && per_mem)
        add_error(errors, "enable_per_process_and_thread_memory_limit",
                  "this option cannot be enabled");
    bool_field(in, "redirect_stderr_to_stdout", &redirect);
    if (bool_field(in, "enable_network", &network) && network)
        add_error(errors, "enable_network", "enabling network is not allowed");

    /* options and arguments */
    if (has_copts > 0 && char_len(copts, copts_len) > 512)
        add_error(errors, "compiler_options", "is too long (maximum is 512 characters)");
    if (has_args > 0 && char_len(args, args_len) > 512)
        add_error(errors, "command_line_arguments", "is too long (maximum is 512 characters)");
    char copt_clean[1024] = "", args_clean[1024] = "";
    if (has_copts > 0) {
        shell_clean(copts, copts_len, copt_clean, sizeof(copt_clean));
        if (*copt_clean && lang && !lang->compile_cmd && !project)
            add_error(errors, "compiler_options",
                      "setting compiler options is only allowed for compiled languages");
    }
    if (has_args > 0)
        shell_clean(args, args_len, args_clean, sizeof(args_clean));

    /* additional files */
    _cleanup_json_ json_t *vfiles = json_array();
    bool zip_compile = false, zip_run = false;
    if (!vfiles)
        return -ENOMEM;
    if (has_files > 0 && files_len > 0) {
        char msg[256] = "";
        if (j0_zip_to_files(files, files_len, vfiles, &zip_compile, &zip_run, msg, sizeof(msg)) < 0)
            add_error(errors, "additional_files", "%s", msg);
        else if (project && !zip_run)
            add_error(errors, "additional_files",
                      "a multi-file program needs a script named run in the archive");
    }
    if (json_object_size(errors)) {
        *errors_out = steal_pointer(&errors);
        return -EINVAL;
    }

    /* the v1 request */
    _cleanup_json_ json_t *req = json_object();
    json_t *pk = json_array();
    if (!req || !pk)
        return -ENOMEM;
    json_object_set_new(req, "packages", pk);
    for (size_t i = 0; lang->packages[i]; i++)
        json_array_append_new(pk, json_string(lang->packages[i]));
    if (!project) {
        json_t *f = json_pack("{s:s, s:o, s:s, s:b}", "name", lang->source_file, "content",
                              b64_string(src, src_len), "encoding", "base64", "executable",
                              lang->executable);
        /* as `unzip -n`: the archive does not replace the source file */
        for (size_t i = json_array_size(vfiles); i-- > 0;) {
            const char *nm = json_string_value(json_object_get(json_array_get(vfiles, i), "name"));
            if (nm && !strcmp(nm, lang->source_file))
                json_array_remove(vfiles, i);
        }
        if (!f || json_array_insert_new(vfiles, 0, f) < 0)
            return -ENOMEM;
    }
    json_object_set(req, "files", vfiles);
    char cmd[2048];
    if (project) {
        if (zip_compile)
            json_object_set_new(req, "compile", json_string("bash ./compile"));
        snprintf(cmd, sizeof(cmd), "%sbash ./run", redirect ? "exec 2>&1; " : "");
    } else {
        if (lang->compile_cmd) {
            char comp[1536];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            snprintf(comp, sizeof(comp), lang->compile_cmd, copt_clean);
#pragma GCC diagnostic pop
            json_object_set_new(req, "compile", json_string(comp));
        }
        snprintf(cmd, sizeof(cmd), "%s%s%s%s", redirect ? "exec 2>&1; " : "", lang->run_cmd,
                 *args_clean ? " " : "", args_clean);
    }
    json_object_set_new(req, "run", json_string(cmd));
    /* one test per run; the first that is not accepted ends the submission */
    json_t *tests = json_array();
    json_object_set_new(req, "tests", tests);
    int runs = (int)val[N_RUNS];
    for (int i = 0; i < runs; i++) {
        char name[16];
        snprintf(name, sizeof(name), "run%d", i + 1);
        json_t *t = json_pack("{s:s, s:s}", "name", name, "encoding", "base64");
        if (!t)
            return -ENOMEM;
        if (has_stdin > 0) /* absent stays absent: Judge0 shows null */
            json_object_set_new(t, "stdin", b64_string(stdin_d, stdin_len));
        if (has_exp > 0)
            json_object_set_new(t, "expected_output", b64_string(expected, exp_len));
        json_array_append_new(tests, t);
    }
    json_object_set_new(req, "stop_on_first_failure", json_true());
    json_object_set_new(req, "compare", json_string("trailing_whitespace"));
    /* limits: 0 means "none" in Judge0 (isolate), the farm's maximum here */
    json_t *run = json_object();
    json_t *comp = json_pack("{s:i, s:i, s:i}", "cpu_ms", (int)(J0_MAX_CPU_TIME_LIMIT * 1000),
                             "wall_ms", 40000, "memory_kib", J0_MAX_MEMORY_LIMIT);
    json_object_set_new(req, "limits", json_pack("{s:o, s:o}", "run", run, "compile", comp));
    double cpu = val[N_CPU] > 0 ? val[N_CPU] : J0_MAX_CPU_TIME_LIMIT;
    json_object_set_new(run, "cpu_ms", json_integer((json_int_t)llround(cpu * 1000)));
    json_object_set_new(run, "wall_ms", json_integer((json_int_t)llround(val[N_WALL] * 1000)));
    json_object_set_new(run, "memory_kib", json_integer((json_int_t)val[N_MEM]));
    if (val[N_STACK] > 0)
        json_object_set_new(run, "stack_kib", json_integer((json_int_t)val[N_STACK]));
    json_object_set_new(run, "processes", json_integer((json_int_t)val[N_PROCS]));
    double fsize = val[N_FSIZE] > 0 ? val[N_FSIZE] : J0_MAX_MAX_FILE_SIZE;
    json_object_set_new(run, "file_bytes", json_integer((json_int_t)fsize * 1024));
    json_object_set_new(run, "output_bytes", json_integer((json_int_t)fsize * 1024));
    if (lang->open_files > 0)
        json_object_set_new(run, "open_files", json_integer(lang->open_files));
    if (has_cb > 0 && cb_len)
        json_object_set_new(req, "callback_url", json_stringn((const char *)cb, cb_len));
    /* what v1 has no place for comes back through meta */
    json_t *meta = json_pack(
        "{s:s, s:i, s:i, s:f, s:f, s:f, s:i, s:i, s:i, s:i, s:b, s:b, s:b, s:b, s:b}", "front",
        "judge0", "language_id", lang->id, "number_of_runs", runs, "cpu_time_limit", val[N_CPU],
        "cpu_extra_time", val[N_EXTRA], "wall_time_limit", val[N_WALL], "memory_limit",
        (int)val[N_MEM], "stack_limit", (int)val[N_STACK], "max_processes_and_or_threads",
        (int)val[N_PROCS], "max_file_size", (int)val[N_FSIZE],
        "enable_per_process_and_thread_time_limit", per_time,
        "enable_per_process_and_thread_memory_limit", per_mem, "redirect_stderr_to_stdout",
        redirect, "enable_network", network, "has_expected_output", has_exp > 0);
    if (!meta)
        return -ENOMEM;
    json_object_set_new(meta, "compiler_options",
                        has_copts > 0 ? json_stringn((const char *)copts, copts_len) : json_null());
    json_object_set_new(meta, "command_line_arguments",
                        has_args > 0 ? json_stringn((const char *)args, args_len) : json_null());
    json_object_set_new(meta, "has_additional_files", json_boolean(has_files > 0 && files_len));
    json_object_set_new(meta, "has_stdin", json_boolean(has_stdin > 0));
    json_object_set_new(req, "meta", meta);
    *v1 = steal_pointer(&req);
    return 0;
}
