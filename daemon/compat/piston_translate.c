/* piston_translate.c — see piston_translate.h. The request side follows
 * Piston's checks in its order (api/v2 get_job, then the Job's file rules),
 * the response side its isolate-derived fields. */
#include "piston_translate.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/base64.h"

static int fail(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* JavaScript truthiness of a JSON value (for Piston's `!value` checks). */
static bool truthy(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return false;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_integer(v))
        return json_integer_value(v) != 0;
    if (json_is_real(v))
        return json_real_value(v) != 0;
    return true;
}

/* ---- files ---- */

/* Normalizes a Piston file name the way path.join(dir, name) does and
 * refuses one that leaves the box. out gets the relative path. */
static int clean_name(const char *name, char *out, size_t outlen, char *msg, size_t msglen)
{
    size_t n = 0;
    const char *p = name;
    out[0] = '\0';
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t k = slash ? (size_t)(slash - p) : strlen(p);
        if (k == 0 || (k == 1 && p[0] == '.')) {
            /* empty or "." component */
        } else if (k == 2 && p[0] == '.' && p[1] == '.') {
            if (n == 0)
                return fail(msg, msglen, "File path \"%s\" tries to escape parent directory", name);
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--; /* the slash */
            out[n] = '\0';
        } else {
            if (n + k + 2 > outlen)
                return fail(msg, msglen, "File path \"%s\" is too long", name);
            if (n)
                out[n++] = '/';
            memcpy(out + n, p, k);
            n += k;
            out[n] = '\0';
        }
        p += k + (slash ? 1 : 0);
    }
    if (!n)
        return fail(msg, msglen, "File path \"%s\" tries to escape parent directory", name);
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* hex text -> base64 text (malloc'd), NULL on bad hex (errno EINVAL) or memory. */
static char *hex_to_base64(const char *hex, size_t len)
{
    if (len % 2) {
        errno = EINVAL;
        return NULL;
    }
    unsigned char *buf = malloc(len / 2 + 1);
    if (!buf)
        return NULL;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(buf);
            errno = EINVAL;
            return NULL;
        }
        buf[i] = (unsigned char)(hi << 4 | lo);
    }
    char *b = base64_encode(buf, len / 2);
    free(buf);
    return b;
}

/* Appends 'name' to buf as one shell word. */
static int shell_quote(FILE *m, const char *s)
{
    fputc('\'', m);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", m);
        else
            fputc(*s, m);
    }
    fputc('\'', m);
    return 0;
}

/* Expands {entry} and {files} in tmpl. */
static char *expand(const char *tmpl, const json_t *code_names)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    for (const char *p = tmpl; *p;) {
        if (!strncmp(p, "{entry}", 7)) {
            shell_quote(m, json_string_value(json_array_get(code_names, 0)));
            p += 7;
        } else if (!strncmp(p, "{files}", 7)) {
            size_t i;
            json_t *v;
            json_array_foreach(code_names, i, v)
            {
                if (i)
                    fputc(' ', m);
                shell_quote(m, json_string_value(v));
            }
            p += 7;
        } else
            fputc(*p++, m);
    }
    if (fclose(m) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int translate_files(const json_t *files, json_t *out, json_t *code_names, char *msg,
                           size_t msglen)
{
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f)
    {
        const json_t *nm = json_object_get(f, "name");
        const json_t *enc = json_object_get(f, "encoding");
        const char *e = json_string_value(enc);
        if (!e || (strcmp(e, "base64") && strcmp(e, "hex")))
            e = "utf8"; /* Piston: anything else is utf8 */
        char dflt[32], clean[1024];
        const char *name = truthy(nm) && json_is_string(nm) ? json_string_value(nm) : NULL;
        if (!name) {
            snprintf(dflt, sizeof(dflt), "file%zu.code", i);
            name = dflt;
        }
        if (clean_name(name, clean, sizeof(clean), msg, msglen) < 0)
            return -EINVAL;
        for (size_t j = 0; j < json_array_size(out); j++)
            if (!strcmp(json_string_value(json_object_get(json_array_get(out, j), "name")), clean))
                return fail(msg, msglen, "files[%zu].name duplicates files[%zu].name", i, j);
        const json_t *content = json_object_get(f, "content");
        json_t *o;
        if (!strcmp(e, "hex")) {
            char *b = hex_to_base64(json_string_value(content), json_string_length(content));
            if (!b)
                return errno == EINVAL ? fail(msg, msglen, "files[%zu].content is not valid hex", i)
                                       : -ENOMEM;
            o = json_pack("{s:s, s:s, s:s}", "name", clean, "content", b, "encoding", "base64");
            free(b);
        } else
            o = json_pack("{s:s, s:O, s:s}", "name", clean, "content", content, "encoding", e);
        if (!o || json_array_append_new(out, o) < 0)
            return -ENOMEM;
        if (!strcmp(e, "utf8"))
            json_array_append_new(code_names, json_string(clean));
    }
    return 0;
}

/* ---- limits ---- */

typedef struct {
    const char *name;  /* Piston's field */
    const char *stage; /* "run" / "compile" */
    const char *v1;    /* v1 limit */
    int kind;          /* 0 timeout, 1 cpu time, 2 memory */
} limit_map;

static const limit_map limit_maps[] = {
    {"compile_memory_limit", "compile", "memory_kib", 2},
    {"run_memory_limit", "run", "memory_kib", 2},
    {"compile_timeout", "compile", "wall_ms", 0},
    {"run_timeout", "run", "wall_ms", 0},
    {"compile_cpu_time", "compile", "cpu_ms", 1},
    {"run_cpu_time", "run", "cpu_ms", 1},
};

static int translate_limits(const json_t *body, const piston_maxima *max, bool compiled,
                            json_t *limits, char *msg, size_t msglen)
{
    for (size_t i = 0; i < sizeof(limit_maps) / sizeof(*limit_maps); i++) {
        const limit_map *l = &limit_maps[i];
        const json_t *v = json_object_get(body, l->name);
        if (!truthy(v))
            continue; /* absent, null, 0: the default */
        if (!json_is_number(v))
            return fail(msg, msglen, "If specified, %s must be a number", l->name);
        double d = json_number_value(v);
        if (d == -1)
            continue; /* -1: the default, as Piston's configuration means it */
        long long cap = l->kind == 0   ? max->timeout_ms
                        : l->kind == 1 ? max->cpu_time_ms
                                       : max->memory_bytes;
        if (cap > 0 && d > (double)cap)
            return fail(msg, msglen, "%s cannot exceed the configured limit of %lld", l->name, cap);
        if (d < 0)
            return fail(msg, msglen, "%s must be non-negative", l->name);
        if (d > 1e15) /* beyond any limit the farm can apply (and than a long long of KiB) */
            return fail(msg, msglen, "%s cannot exceed %.0f", l->name, 1e15);
        if (!compiled && !strcmp(l->stage, "compile"))
            continue;
        long long val = l->kind == 2 ? (long long)((d + 1023) / 1024) : (long long)d;
        if (val < 1)
            val = 1;
        json_t *st = json_object_get(limits, l->stage);
        if (!st) {
            st = json_object();
            json_object_set_new(limits, l->stage, st);
        }
        json_object_set_new(st, l->v1, json_integer(val));
    }
    return 0;
}

/* ---- the request ---- */

int piston_request_to_v1(const json_t *body, const piston_runtime *rts, size_t n,
                         const piston_maxima *max, json_t **v1, const piston_runtime **rt_out,
                         char *msg, size_t msglen)
{
    *v1 = NULL;
    if (!json_is_object(body))
        return fail(msg, msglen, "language is required as a string");
    const json_t *lang = json_object_get(body, "language");
    const json_t *ver = json_object_get(body, "version");
    const json_t *files = json_object_get(body, "files");
    if (!truthy(lang) || !json_is_string(lang))
        return fail(msg, msglen, "language is required as a string");
    if (!truthy(ver) || !json_is_string(ver))
        return fail(msg, msglen, "version is required as a string");
    if (!json_is_array(files))
        return fail(msg, msglen, "files is required as an array");
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f)
    {
        if (!json_is_string(json_object_get(f, "content")))
            return fail(msg, msglen, "files[%zu].content is required as a string", i);
    }
    const piston_runtime *rt =
        piston_runtime_find(rts, n, json_string_value(lang), json_string_value(ver));
    if (!rt)
        return fail(msg, msglen, "%s-%s runtime is unknown", json_string_value(lang),
                    json_string_value(ver));
    bool any_utf8 = false;
    json_array_foreach(files, i, f)
    {
        const char *e = json_string_value(json_object_get(f, "encoding"));
        if (!e || !strcmp(e, "utf8"))
            any_utf8 = true;
    }
    if (!any_utf8)
        return fail(msg, msglen, "files must include at least one utf8 encoded file");
    bool compiled = rt->lang->compile != NULL;
    json_t *limits = json_object();
    json_t *out_files = json_array();
    json_t *code_names = json_array();
    json_t *args = json_array();
    json_t *req = NULL;
    char *compile = NULL, *run = NULL, *stdin_buf = NULL;
    int r = -ENOMEM;
    if (!limits || !out_files || !code_names || !args)
        goto out;
    if ((r = translate_limits(body, max, compiled, limits, msg, msglen)) < 0)
        goto out;
    if ((r = translate_files(files, out_files, code_names, msg, msglen)) < 0)
        goto out;
    /* args: each one argv entry; numbers and booleans as JavaScript prints them */
    const json_t *a = json_object_get(body, "args");
    if (a && !json_is_null(a)) {
        r = -EINVAL;
        if (!json_is_array(a)) {
            fail(msg, msglen, "args must be an array");
            goto out;
        }
        json_t *v;
        json_array_foreach(a, i, v)
        {
            char num[64];
            if (json_is_string(v))
                json_array_append(args, v);
            else if (json_is_integer(v)) {
                snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
                json_array_append_new(args, json_string(num));
            } else if (json_is_real(v)) {
                snprintf(num, sizeof(num), "%.17g", json_real_value(v));
                json_array_append_new(args, json_string(num));
            } else if (json_is_boolean(v))
                json_array_append_new(args, json_string(json_is_true(v) ? "true" : "false"));
            else {
                fail(msg, msglen, "args[%zu] must be a string", i);
                goto out;
            }
        }
    }
    /* stdin: a newline appended when missing, as Piston does */
    const json_t *s = json_object_get(body, "stdin");
    r = -EINVAL;
    if (s && !json_is_null(s) && !json_is_string(s)) {
        fail(msg, msglen, "stdin must be a string");
        goto out;
    }
    size_t slen = json_is_string(s) ? json_string_length(s) : 0;
    r = -ENOMEM;
    if (!(stdin_buf = malloc(slen + 2)))
        goto out;
    if (slen)
        memcpy(stdin_buf, json_string_value(s), slen);
    if (!slen || stdin_buf[slen - 1] != '\n')
        stdin_buf[slen++] = '\n';
    if (!(run = expand(rt->lang->run, code_names)))
        goto out;
    if (compiled && !(compile = expand(rt->lang->compile, code_names)))
        goto out;
    json_t *test =
        json_pack("{s:s, s:s%, s:O}", "name", "run", "stdin", stdin_buf, slen, "args", args);
    req = json_pack("{s:[s], s:O, s:s, s:[o], s:O}", "packages", rt->lang->package, "files",
                    out_files, "run", run, "tests", test, "limits", limits);
    if (!req)
        goto out;
    if (compile)
        json_object_set_new(req, "compile", json_string(compile));
    if (rt->lang->extra)
        json_array_append_new(json_object_get(req, "packages"), json_string(rt->lang->extra));
    *v1 = req;
    *rt_out = rt;
    r = 0;
out:
    json_decref(limits);
    json_decref(out_files);
    json_decref(code_names);
    json_decref(args);
    free(compile);
    free(run);
    free(stdin_buf);
    return r;
}

/* ---- the response ---- */

static int signal_number(const char *name)
{
    if (!name || strncmp(name, "SIG", 3))
        return 0;
    for (int i = 1; i < 65; i++) {
        const char *ab = sigabbrev_np(i);
        if (ab && !strcmp(ab, name + 3))
            return i;
    }
    return atoi(name + 3);
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs,
 * no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* The bytes as text the way Node's Buffer.toString('utf8') shows them: every
 * ill-formed byte becomes U+FFFD. New reference. */
json_t *piston_utf8_lossy(const unsigned char *p, size_t len)
{
    char *out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq(p + i, len - i);
        if (k) {
            memcpy(out + n, p + i, k);
            n += k;
            i += k;
        } else {
            memcpy(out + n, "\xef\xbf\xbd", 3);
            n += 3;
            i++;
        }
    }
    json_t *o = json_stringn(out, n);
    free(out);
    return o;
}

/* A stream of a stage as text: base64 output (not UTF-8) decoded and shown
 * with U+FFFD, as Piston's clients would see it. New reference. */
static json_t *stream_text(const json_t *st, const char *key)
{
    const json_t *v = json_object_get(st, key);
    const char *enc = json_string_value(json_object_get(st, "encoding"));
    if (!json_is_string(v))
        return json_string("");
    if (!enc || strcmp(enc, "base64"))
        return json_incref((json_t *)v);
    unsigned char *raw = NULL;
    size_t n = 0;
    if (base64_decode(json_string_value(v), json_string_length(v), &raw, &n) < 0)
        return json_incref((json_t *)v);
    json_t *o = piston_utf8_lossy(raw, n);
    free(raw);
    return o;
}

/* "output": stdout and stderr interleaved by the stage's "output_order"
 * (runs of bytes) when the worker recorded one, else stdout then stderr
 * (one stream alone is its own order). */
static json_t *output_of(const json_t *st, const json_t *so, const json_t *se)
{
    const char *src[3] = {"", json_is_string(so) ? json_string_value(so) : "",
                          json_is_string(se) ? json_string_value(se) : ""};
    size_t len[3] = {0, json_string_length(so), json_string_length(se)};
    size_t pos[3] = {0, 0, 0};
    char *buf = malloc(len[1] + len[2] + 1);
    if (!buf)
        return NULL;
    size_t n = 0;
    const json_t *order = json_object_get(st, "output_order");
    size_t i;
    json_t *run;
    json_array_foreach(order, i, run)
    {
        const char *name = json_string_value(json_array_get(run, 0));
        json_int_t k = json_integer_value(json_array_get(run, 1));
        int s = name && !strcmp(name, "stdout") ? 1 : name && !strcmp(name, "stderr") ? 2 : 0;
        if (!s || k <= 0)
            continue;
        size_t take = (size_t)k < len[s] - pos[s] ? (size_t)k : len[s] - pos[s];
        memcpy(buf + n, src[s] + pos[s], take);
        pos[s] += take;
        n += take;
    }
    for (int s = 1; s <= 2; s++) { /* what the order did not cover, in stream order */
        memcpy(buf + n, src[s] + pos[s], len[s] - pos[s]);
        n += len[s] - pos[s];
    }
    json_t *o = json_stringn(buf, n);
    if (!o) { /* a run split a character: the streams one after the other */
        n = 0;
        for (int s = 1; s <= 2; s++) {
            memcpy(buf + n, src[s], len[s]);
            n += len[s];
        }
        o = json_stringn(buf, n);
    }
    free(buf);
    return o;
}

json_t *piston_stage_from_v1(const json_t *st, bool internal, const char *internal_msg)
{
    const char *sig = json_string_value(json_object_get(st, "signal"));
    const char *limit = json_string_value(json_object_get(st, "limit"));
    const json_t *code = json_object_get(st, "exit_code");
    bool out_trunc = json_is_true(json_object_get(st, "stdout_truncated"));
    const char *status = NULL;
    char message[256] = "";
    if (internal) {
        status = "XX";
        snprintf(message, sizeof(message), "%s", internal_msg ? internal_msg : "internal error");
    } else if (limit && (!strcmp(limit, "wall") || !strcmp(limit, "cpu"))) {
        status = "TO";
        snprintf(message, sizeof(message), "%s",
                 !strcmp(limit, "wall") ? "Time limit exceeded (wall clock)"
                                        : "Time limit exceeded");
    } else if (limit && !strcmp(limit, "output")) {
        status = out_trunc ? "OL" : "EL";
        snprintf(message, sizeof(message), "%s length exceeded", out_trunc ? "stdout" : "stderr");
    } else if (sig) {
        status = "SG";
        snprintf(message, sizeof(message), "Caught fatal signal %d", signal_number(sig));
    } else if (json_is_integer(code) && json_integer_value(code) != 0) {
        status = "RE";
        snprintf(message, sizeof(message), "Exited with error status %lld",
                 (long long)json_integer_value(code));
    }
    bool killed =
        status && (!strcmp(status, "TO") || !strcmp(status, "OL") || !strcmp(status, "EL"));
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_t *so = stream_text(st, "stdout"), *se = stream_text(st, "stderr");
    json_t *out = so && se ? output_of(st, so, se) : NULL;
    json_object_set_new(o, "stdout", so ? so : json_string(""));
    json_object_set_new(o, "stderr", se ? se : json_string(""));
    json_object_set_new(o, "output", out ? out : json_string(""));
    json_object_set_new(o, "code",
                        !sig && !killed && json_is_integer(code) ? json_copy((json_t *)code)
                                                                 : json_null());
    json_object_set_new(o, "signal",
                        killed ? json_string("SIGKILL")
                        : sig  ? json_string(sig)
                               : json_null());
    json_object_set_new(o, "message", message[0] ? json_string(message) : json_null());
    json_object_set_new(o, "status", status ? json_string(status) : json_null());
    static const char *const nums[][2] = {{"cpu_ms", "cpu_time"}, {"wall_ms", "wall_time"}};
    for (size_t i = 0; i < 2; i++) {
        const json_t *v = json_object_get(st, nums[i][0]);
        json_object_set_new(o, nums[i][1],
                            json_is_integer(v) ? json_copy((json_t *)v) : json_null());
    }
    const json_t *mem = json_object_get(st, "memory_kib");
    json_object_set_new(o, "memory",
                        json_is_integer(mem) ? json_integer(json_integer_value(mem) * 1024)
                                             : json_null());
    return o;
}

json_t *piston_response_from_view(const json_t *view, const piston_runtime *rt, char *msg,
                                  size_t msglen)
{
    const char *state = json_string_value(json_object_get(view, "state"));
    const json_t *comp = json_object_get(view, "compile");
    const json_t *t0 = json_array_get(json_object_get(view, "tests"), 0);
    json_t *o = json_pack("{s:s, s:s}", "language", rt->lang->language, "version", rt->version_str);
    if (!o)
        return NULL;
    bool compiled = rt->lang->compile != NULL;
    if (state && !strcmp(state, "internal_error")) {
        const char *why = json_string_value(json_object_get(view, "error"));
        json_t *empty = json_object();
        json_t *st = piston_stage_from_v1(t0                     ? t0
                                          : json_is_object(comp) ? comp
                                                                 : empty,
                                          true, why ? why : "internal error");
        json_decref(empty);
        if (compiled)
            json_object_set(o, "compile", st);
        json_object_set_new(o, "run", st);
        return o;
    }
    if (state && !strcmp(state, "compile_error")) {
        json_t *st = piston_stage_from_v1(json_is_object(comp) ? comp : NULL, false, NULL);
        json_object_set_new(o, "compile", st);
        json_object_set_new(o, "run", json_deep_copy(st)); /* as Piston: run is the compile */
        return o;
    }
    if (!state || strcmp(state, "finished") || !t0) {
        json_decref(o);
        snprintf(msg, msglen, "the job ended %s%s%s", state ? state : "in an unknown state",
                 json_is_string(json_object_get(view, "error")) ? ": " : "",
                 json_is_string(json_object_get(view, "error"))
                     ? json_string_value(json_object_get(view, "error"))
                     : "");
        return NULL;
    }
    if (compiled)
        json_object_set_new(o, "compile", piston_stage_from_v1(comp, false, NULL));
    json_object_set_new(o, "run", piston_stage_from_v1(t0, false, NULL));
    return o;
}
