/* jobe_spec.c — a Jobe run_spec: its checks (Jobe's order and texts) and its
 * translation into one v1 request. See jobe.h for the commands and the sh
 * wrappers that make the sandbox behave as Jobe's runguard. */
#include "jobe.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/base64.h"
#include "../../common/cleanup.h"
#include "../../common/jsonutil.h"

static int fail(jobe_error *e, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(jobe_error *e, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    e->status = status;
    return -EINVAL;
}

void jobe_spec_done(jobe_spec *s)
{
    free(s->files);
    memset(s, 0, sizeof(*s));
}

/* PHP's intval for what a JSON value can be: numbers truncated, numeric
 * strings read, everything else 0. */
static long long php_intval(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v)) {
        double d = json_real_value(v);
        return isfinite(d) && fabs(d) < 9e18 ? (long long)d : 0;
    }
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    if (json_is_true(v))
        return 1;
    return 0;
}

/* PHP's is_numeric for a JSON value, and its value. */
static bool numeric(const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    while (isspace((unsigned char)*s))
        s++;
    char *end;
    double d = strtod(s, &end);
    if (end == s || *end || !isfinite(d))
        return false;
    *out = d;
    return true;
}

/* print_r of a file specifier, as Jobe's message shows it. */
static void describe_filespec(const json_t *f, char *out, size_t outlen)
{
    if (!json_is_array(f)) {
        char *t = json_dumps(f, JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(out, outlen, "%s", t ? t : "?");
        free(t);
        return;
    }
    size_t used = (size_t)snprintf(out, outlen, "Array\n(\n");
    size_t i;
    const json_t *v;
    json_array_foreach(f, i, v)
    {
        if (used >= outlen)
            break;
        char val[160] = "";
        if (json_is_string(v))
            snprintf(val, sizeof(val), "%s", json_string_value(v));
        else if (json_is_integer(v))
            snprintf(val, sizeof(val), "%lld", (long long)json_integer_value(v));
        else if (json_is_real(v))
            snprintf(val, sizeof(val), "%g", json_real_value(v));
        else if (json_is_true(v))
            snprintf(val, sizeof(val), "1");
        else if (!json_is_false(v) && !json_is_null(v)) {
            char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            snprintf(val, sizeof(val), "%s", t ? t : "?");
            free(t);
        }
        used += (size_t)snprintf(out + used, outlen - used, "    [%zu] => %s\n", i, val);
    }
    if (used < outlen)
        snprintf(out + used, outlen - used, ")\n");
}

static bool filespec_valid(const json_t *f)
{
    size_t n = json_array_size(f);
    if (!json_is_array(f) || (n != 2 && n != 3))
        return false;
    const json_t *id = json_array_get(f, 0), *name = json_array_get(f, 1);
    if (!json_is_string(id) || !json_is_string(name) || !jobe_file_id_valid(json_string_value(id)))
        return false;
    const char *s = json_string_value(name);
    bool any = false;
    for (; *s; s++) {
        if (*s == '-' || *s == '_' || *s == '.')
            continue;
        if (!isalnum((unsigned char)*s))
            return false;
        any = true;
    }
    return any;
}

static int parse_files(const json_t *run, jobe_spec *out, jobe_error *e)
{
    const json_t *list = json_object_get(run, "file_list");
    if (!list || json_is_null(list))
        return 0;
    char desc[400];
    if (!json_is_array(list)) {
        describe_filespec(list, desc, sizeof(desc));
        return fail(e, 400, "Invalid file specifier: %s", desc);
    }
    size_t n = json_array_size(list);
    if (n && !(out->files = calloc(n, sizeof(*out->files))))
        return -ENOMEM;
    size_t i;
    const json_t *f;
    json_array_foreach(list, i, f)
    {
        const char *id = json_string_value(json_array_get(f, 0));
        const char *name = json_string_value(json_array_get(f, 1));
        if (!filespec_valid(f) || strlen(id) >= sizeof(out->files[i].id) ||
            strlen(name) >= sizeof(out->files[i].name)) {
            describe_filespec(f, desc, sizeof(desc));
            return fail(e, 400, "Invalid file specifier: %s", desc);
        }
        memcpy(out->files[i].id, id, strlen(id) + 1);
        memcpy(out->files[i].name, name, strlen(name) + 1);
        out->n_files = i + 1;
    }
    return 0;
}

int jobe_spec_parse(const json_t *body, bool (*is_known)(const jobe_lang *, void *), void *arg,
                    jobe_spec *out, jobe_error *e)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(body))
        return fail(e, 400, "Non-JSON post data received");
    const json_t *run = json_object_get(body, "run_spec");
    if (!json_is_object(run))
        return fail(e, 400, "No run_spec attribute found in post data");
    static const char *const required[] = {"sourcecode", "language_id"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *v = json_object_get(run, required[i]);
        if (!v || json_is_null(v))
            return fail(e, 400, "run_spec is missing the required attribute '%s'", required[i]);
        if (!json_is_string(v))
            return fail(e, 400, "run_spec attribute '%s' must be a string", required[i]);
    }
    const char *lang = json_string_value(json_object_get(run, "language_id"));
    char lower[sizeof(e->message) - 40];
    snprintf(lower, sizeof(lower), "%s", lang);
    for (char *p = lower; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    out->lang = strlen(lower) < sizeof(out->language_id) ? jobe_lang_find(lower) : NULL;
    if (!out->lang || (is_known && !is_known(out->lang, arg)))
        return fail(e, 400, "Language '%s' is not known", lower);
    memcpy(out->language_id, lower, strlen(lower) + 1);
    const json_t *src = json_object_get(run, "sourcecode");
    out->sourcecode = json_string_value(src);
    out->sourcecode_len = json_string_length(src);

    const json_t *input = json_object_get(run, "input");
    out->input = "";
    if (json_is_string(input)) {
        out->input = json_string_value(input);
        out->input_len = json_string_length(input);
    } else if (input && !json_is_null(input))
        return fail(e, 400, "run_spec attribute 'input' must be a string");
    out->debug = json_is_true(json_object_get(run, "debug"));

    const json_t *params = json_object_get(run, "parameters");
    if (json_is_object(params))
        out->parameters = params;
    else if (params && !json_is_null(params) && !json_is_array(params))
        return fail(e, 400, "run_spec attribute 'parameters' must be an object");
    if (out->parameters &&
        php_intval(json_object_get(out->parameters, "cputime")) > JOBE_MAX_CPUTIME_S)
        return fail(e, 400, "cputime exceeds maximum allowed on this Jobe server (%d secs)",
                    JOBE_MAX_CPUTIME_S);

    out->sourcefilename = "";
    const json_t *sfn = json_object_get(run, "sourcefilename");
    if (sfn && !json_is_null(sfn)) {
        if (!json_is_string(sfn) || !jobe_filename_valid(json_string_value(sfn)) ||
            strlen(json_string_value(sfn)) > 200)
            return fail(e, 400, "The sourcefilename for the run_spec is illegal");
        if (strcmp(json_string_value(sfn), "prog.java") != 0)
            out->sourcefilename = json_string_value(sfn);
    }
    int r = parse_files(run, out, e);
    if (r < 0) {
        jobe_spec_done(out);
        if (r == -ENOMEM)
            return fail(e, 500, "out of memory"), -ENOMEM;
    }
    return r;
}

/* ---- the v1 request ---- */

typedef struct {
    double cputime, memorylimit, numprocs, disklimit, streamsize;
} jobe_params;

static double param_num(const jobe_spec *s, const char *key, double deflt)
{
    double v;
    const json_t *p = s->parameters ? json_object_get(s->parameters, key) : NULL;
    return p && numeric(p, &v) ? v : deflt;
}

/* A list parameter joined by spaces (each element may hold several words);
 * the default when absent. */
static int param_words(const jobe_spec *s, const char *key, const char *deflt, char **out,
                       jobe_error *e)
{
    const json_t *p = s->parameters ? json_object_get(s->parameters, key) : NULL;
    if (!p || json_is_null(p)) {
        *out = strdup(deflt);
        return *out ? 0 : -ENOMEM;
    }
    if (!json_is_array(p))
        return fail(e, 400, "parameter '%s' must be a list of strings", key);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return -ENOMEM;
    size_t i;
    const json_t *w;
    json_array_foreach(p, i, w)
    {
        if (json_is_string(w))
            fprintf(m, "%s%s", i ? " " : "", json_string_value(w));
        else if (json_is_integer(w))
            fprintf(m, "%s%lld", i ? " " : "", (long long)json_integer_value(w));
        else {
            fclose(m);
            free(buf);
            return fail(e, 400, "parameter '%s' must be a list of strings", key);
        }
    }
    if (fclose(m) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *out = buf;
    return 0;
}

static long long clamp(double v, long long lo, long long hi)
{
    if (!(v >= (double)lo))
        return lo;
    if (v >= (double)hi)
        return hi;
    return (long long)v;
}

static void source_name(const jobe_spec *s, char *out, size_t outlen)
{
    char cls[200];
    if (s->sourcefilename[0])
        snprintf(out, outlen, "%s", s->sourcefilename);
    else if (s->lang->kind == JOBE_KIND_JAVA &&
             jobe_java_main_class(s->sourcecode, cls, sizeof(cls)))
        snprintf(out, outlen, "%s.java", cls);
    else
        snprintf(out, outlen, "%s", s->lang->default_file);
}

/* The compile and run command lines, as Jobe's tasks build them. */
static int commands(const jobe_spec *s, const char *src, char **compile, char **run, jobe_error *e)
{
    const jobe_lang *l = s->lang;
    _cleanup_free_ char *cargs = NULL, *largs = NULL, *iargs = NULL, *rargs = NULL;
    int r;
    if ((r = param_words(s, "compileargs", l->compileargs, &cargs, e)) < 0 ||
        (r = param_words(s, "linkargs", "", &largs, e)) < 0 ||
        (r = param_words(s, "interpreterargs", l->interpreterargs, &iargs, e)) < 0 ||
        (r = param_words(s, "runargs", "", &rargs, e)) < 0)
        return r;
    *compile = NULL;
    *run = NULL;
    int n = 0;
    switch (l->kind) {
    case JOBE_KIND_COMPILED:
        if (l->compile_rule == JOBE_CMP_FPC_ERRFILE) /* PascalTask's: no linkargs */
            n = asprintf(compile, "%s %s -Fe%s.err -o%s.exe %s", l->compiler, cargs, src, src, src);
        else
            n = asprintf(compile, "%s %s -o %s.exe %s %s", l->compiler, cargs, src, src, largs);
        if (n >= 0)
            n = asprintf(run, "./%s.exe %s %s", src, iargs, rargs);
        break;
    case JOBE_KIND_INTERPRETED:
        if (l->compiler)
            n = asprintf(compile, "%s %s", l->compiler, src);
        if (n >= 0 && l->copy_to_m)
            n = asprintf(run, "cp -- '%s' '%s.m' && %s %s %s %s", src, src, l->interpreter, iargs,
                         src, rargs);
        else if (n >= 0)
            n = asprintf(run, "%s %s %s %s", l->interpreter, iargs, src, rargs);
        break;
    case JOBE_KIND_JAVA: {
        const json_t *mc = s->parameters ? json_object_get(s->parameters, "main_class") : NULL;
        char cls[256];
        if (json_is_string(mc) && *json_string_value(mc))
            snprintf(cls, sizeof(cls), "%s", json_string_value(mc));
        else
            snprintf(cls, sizeof(cls), "%.*s", (int)strcspn(src, "."), src);
        n = asprintf(compile, "%s %s %s", l->compiler, cargs, src);
        if (n >= 0)
            n = asprintf(run, "%s %s %s %s", l->interpreter, iargs, cls, rargs);
        break;
    }
    }
    if (n < 0) {
        free(*compile);
        free(*run);
        *compile = *run = NULL;
        return -ENOMEM;
    }
    return 0;
}

/* The compile step fails exactly when Jobe's task would set cmpinfo; what
 * it writes on stderr is that cmpinfo. src is a legal Jobe file name (no
 * quotes), so it can be single-quoted. */
static char *wrap_compile(const char *cmd, jobe_compile_rule rule, const char *src)
{
    char *out = NULL;
    int n = -1;
    switch (rule) {
    case JOBE_CMP_STDERR:
        n = asprintf(&out,
                     "{ %s\n} 2>/tmp/.jobe_cmperr\n"
                     "s=$?\n"
                     "cat /tmp/.jobe_cmperr >&2\n"
                     "[ \"$s\" -eq 0 ] && [ ! -s /tmp/.jobe_cmperr ]\n",
                     cmd);
        break;
    case JOBE_CMP_PHP_LINT: /* the exit status does not count, only stderr */
        n = asprintf(&out,
                     "{ %s\n} >/tmp/.jobe_cmpout 2>/tmp/.jobe_cmperr\n"
                     "[ -s /tmp/.jobe_cmperr ] || exit 0\n"
                     "if [ -s /tmp/.jobe_cmpout ]; then cat /tmp/.jobe_cmpout; echo; fi >&2\n"
                     "cat /tmp/.jobe_cmperr >&2\n"
                     "exit 1\n",
                     cmd);
        break;
    case JOBE_CMP_FPC_ERRFILE: /* fpc's own stdout and stderr are not looked at */
        n = asprintf(&out,
                     "{ %s\n} >/dev/null 2>&1\n"
                     "[ -e '%s.exe' ] && exit 0\n"
                     "cat -- '%s.err' >&2\n"
                     "exit 1\n",
                     cmd, src, src);
        break;
    }
    return n < 0 ? NULL : out;
}

/* Writable working copy; address-space limit; stdout through a FIFO whose
 * reader passes the first stream_bytes on and drops the rest, so output is
 * truncated, not killed, and never counts as a file against disklimit. The
 * program runs as a job of its own (set -m): when it exits, what it left
 * behind in its process group is killed so the reader sees the end of its
 * output, as runguard ends a run when the program exits. The reader forks
 * nothing once the program runs (it execs cat): what the program left behind
 * may hold every process the limit allows, and a shell's "fork: retry" on
 * stderr would turn the outcome into a runtime error. */
static char *wrap_run(const char *cmd, long long mem_kib, long long stream_bytes)
{
    char ulimit[64] = "";
    if (mem_kib > 0)
        snprintf(ulimit, sizeof(ulimit), "ulimit -v %lld\n", mem_kib);
    char *out = NULL;
    if (asprintf(&out,
                 "cp -R /box/. /scratch/ && cd /scratch && mkfifo /tmp/.jobe_out || exit 120\n"
                 "{ head -c %lld; exec cat >/dev/null; } </tmp/.jobe_out 2>/dev/null &\n"
                 "r=$!\n"
                 "set -m\n"
                 "( %s%s\n"
                 ") >/tmp/.jobe_out &\n"
                 "p=$!\n"
                 "wait $p\n"
                 "s=$?\n"
                 "set +m\n"
                 "kill -9 -$p 2>/dev/null\n"
                 "wait $r\n"
                 "exit $s\n",
                 stream_bytes, ulimit, cmd) < 0)
        return NULL;
    return out;
}

static int add_files(const jobe_spec *s, const jobe_file_data *files, const char *src, json_t *list)
{
    /* Jobe writes the source, then the files over it: the last of a name wins. */
    bool src_replaced = false;
    for (size_t i = 0; i < s->n_files; i++)
        if (!strcmp(s->files[i].name, src))
            src_replaced = true;
    if (!src_replaced &&
        json_array_append_new(list, json_pack("{s:s, s:s%}", "name", src, "content", s->sourcecode,
                                              s->sourcecode_len)) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_files; i++) {
        bool later = false;
        for (size_t j = i + 1; j < s->n_files; j++)
            if (!strcmp(s->files[i].name, s->files[j].name))
                later = true;
        if (later)
            continue;
        _cleanup_free_ char *b64 = base64_encode(files[i].data, files[i].len);
        if (!b64 ||
            json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "name", s->files[i].name,
                                                  "content", b64, "encoding", "base64")) < 0)
            return -ENOMEM;
    }
    return 0;
}

int jobe_spec_to_v1(const jobe_spec *s, const jobe_file_data *files, const jobe_caps *caps,
                    json_t **out, jobe_error *e)
{
    const jobe_lang *l = s->lang;
    char src[256];
    source_name(s, src, sizeof(src));
    _cleanup_free_ char *compile = NULL, *run = NULL;
    int r = commands(s, src, &compile, &run, e);
    if (r < 0)
        return r == -ENOMEM ? (fail(e, 500, "out of memory"), r) : r;

    double cputime = param_num(s, "cputime", 5);
    if (cputime <= 0)
        cputime = 5;
    double mem_mb =
        l->kind == JOBE_KIND_JAVA ? 0 : param_num(s, "memorylimit", (double)l->memorylimit_mb);
    double numprocs = param_num(s, "numprocs", (double)l->numprocs);
    if (numprocs < (double)l->min_numprocs)
        numprocs = (double)l->min_numprocs;
    double disk_mb = param_num(s, "disklimit", 20);
    double stream_mb = param_num(s, "streamsize", 2);
    if (stream_mb <= 0)
        stream_mb = 2;

    long long cpu_ms = clamp(cputime * 1000, 1, caps->cpu_ms);
    long long wall_ms = clamp(cputime * 2000, 1, caps->wall_ms);
    long long mem_kib = mem_mb > 0 ? clamp(mem_mb * 1024, 1024, caps->memory_kib) : 0;
    long long stream = clamp(stream_mb * 1048576, 1, caps->output_bytes);
    /* the wrapper's sh and its output reader (Jobe adds 1 for its sh) */
    long long procs = clamp(numprocs + 3, 4, caps->processes);
    long long file_bytes =
        disk_mb < 0 ? caps->file_bytes : clamp(disk_mb * 1048576, 1, caps->file_bytes);
    double ccpu = cputime * 1000 > (double)caps->compile_cpu_ms ? cputime * 1000
                                                                : (double)caps->compile_cpu_ms;
    long long compile_cpu = clamp(ccpu, 1, caps->cpu_ms);
    long long compile_wall = clamp(ccpu * 2, 1, caps->wall_ms);

    _cleanup_free_ char *wrun = wrap_run(run, l->memory_rss_only ? 0 : mem_kib, stream);
    _cleanup_free_ char *wcompile = compile ? wrap_compile(compile, l->compile_rule, src) : NULL;
    json_t *pk = json_array();
    json_t *fl = json_array();
    json_t *req = json_object();
    if (!wrun || (compile && !wcompile) || !pk || !fl || !req)
        goto nomem;
    for (size_t i = 0; l->packages[i]; i++)
        json_array_append_new(pk, json_string(l->packages[i]));
    json_array_append_new(pk, json_string("coreutils"));
    json_object_set_new(req, "packages", pk);
    pk = NULL;
    if (add_files(s, files, src, fl) < 0)
        goto nomem;
    json_object_set_new(req, "files", fl);
    fl = NULL;
    if (wcompile)
        json_object_set_new(req, "compile", json_string(wcompile));
    json_object_set_new(req, "run", json_string(wrun));
    json_object_set_new(
        req, "tests", json_pack("[{s:s, s:s%}]", "name", "jobe", "stdin", s->input, s->input_len));
    json_t *lim = json_pack(
        "{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I}}", "run", "cpu_ms",
        (json_int_t)cpu_ms, "wall_ms", (json_int_t)wall_ms, "memory_kib",
        (json_int_t)(mem_kib ? mem_kib : caps->memory_kib), "processes", (json_int_t)procs,
        "output_bytes", (json_int_t)stream, "file_bytes", (json_int_t)file_bytes, "open_files",
        (json_int_t)caps->open_files, "compile", "cpu_ms", (json_int_t)compile_cpu, "wall_ms",
        (json_int_t)compile_wall, "processes", (json_int_t)caps->processes);
    if (!lim || !json_object_get(req, "tests") || !json_object_get(req, "run"))
        goto nomem;
    json_object_set_new(req, "limits", lim);
    *out = req;
    return 0;
nomem:
    json_decref(pk);
    json_decref(fl);
    json_decref(req);
    return fail(e, 500, "out of memory"), -ENOMEM;
}
