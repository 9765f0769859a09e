/* jobe_result.c — a v1 submission view as Jobe's result object
 * {run_id, outcome, cmpinfo, stdout, stderr}. See jobe.h.
 *
 * Outcome rule (Jobe's, on the v1 result): a compile error (any compiler
 * stderr: the compile wrapper fails on it) -> 11; the time limit -> 13 with
 * stderr cleared; the memory cgroup's limit -> 17; a seccomp kill (SIGSYS,
 * or status 128+31 from the run wrapper) -> 19; any stderr, or a program
 * killed by a signal (status above 128 from the wrapper) -> 12; else 15 —
 * the exit code is ignored, as Jobe does. A submission that did not finish
 * (internal_error, deps_failed, cancelled, still running) -> 20. */
#include "jobe.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/base64.h"

/* Well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF); NUL is allowed, as PHP's mb_check_encoding allows it. */
static bool utf8_valid(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        unsigned min;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, min = 0x80, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, min = 0x800, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, min = 0x10000, cp = c & 0x07;
        } else
            return false;
        if (n >= len - i)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

char *jobe_clean_output(const char *s, size_t len, size_t *outlen)
{
    if (utf8_valid((const unsigned char *)s, len)) {
        char *copy = malloc(len + 1);
        if (!copy)
            return NULL;
        memcpy(copy, s, len);
        copy[len] = '\0';
        *outlen = len;
        return copy;
    }
    char *out = malloc(len * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < ' ' && c != '\n' && c != '\r' && c != '\t') || c > '~')
            o += (size_t)sprintf(out + o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* Where the last line of text[0, n) starts (lines are split at '\n'). */
static size_t last_line(const char *text, size_t n)
{
    while (n && text[n - 1] != '\n')
        n--;
    return n;
}

/* PHP's trim() would leave nothing of text[0, n). */
static bool blank(const char *text, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!memchr(" \t\n\r\v", text[i], 6)) /* 6: NUL counts as blank too */
            return false;
    return true;
}

/* Drops the last line: text[0, *n) keeps the ones before it; *lines counts
 * what is left (explode() gives one line even for ""). */
static void drop_last(size_t start, size_t *n, size_t *lines)
{
    *n = start ? start - 1 : 0;
    (*lines)--;
}

char *jobe_octave_stderr(const char *s, size_t len, size_t *outlen)
{
    static const char ignoring[] = "error: ignoring octave_execution_exception";
    static const char no_such[] = "error: No such file or directory";
    char *out = malloc(len + 2);
    if (!out)
        return NULL;
    size_t n = 0, lines = 1;
    for (size_t i = 0; i < len; i++)
        if (s[i] != '\r') {
            out[n++] = s[i];
            lines += s[i] == '\n';
        }
    for (;;) {
        size_t st = last_line(out, n);
        if (!lines || !blank(out + st, n - st))
            break;
        drop_last(st, &n, &lines);
    }
    size_t st = last_line(out, n);
    if (lines && n - st >= sizeof(ignoring) - 1 &&
        !memcmp(out + st, ignoring, sizeof(ignoring) - 1))
        drop_last(st, &n, &lines);
    st = last_line(out, n);
    if (lines && n - st == sizeof(no_such) - 1 && !memcmp(out + st, no_such, sizeof(no_such) - 1))
        drop_last(st, &n, &lines);
    if (lines)
        out[n++] = '\n';
    else
        n = 0;
    out[n] = '\0';
    *outlen = n;
    return out;
}

/* A stream of a stage/test object as a Jobe string (decoded from base64 when
 * the stage says so, filtered as the language's task does, then cleaned). New
 * reference. */
static json_t *stream_filtered(const json_t *stage, const char *key, bool octave)
{
    const json_t *v = json_object_get(stage, key);
    if (!json_is_string(v))
        return json_string("");
    const char *enc = json_string_value(json_object_get(stage, "encoding"));
    unsigned char *raw = NULL;
    size_t rawlen = 0;
    const char *data = json_string_value(v);
    size_t len = json_string_length(v);
    if (enc && !strcmp(enc, "base64")) {
        if (base64_decode(data, len, &raw, &rawlen) < 0)
            return json_string("");
        data = (const char *)raw;
        len = rawlen;
    }
    char *filtered = NULL;
    if (octave) {
        size_t flen = 0;
        if (!(filtered = jobe_octave_stderr(data, len, &flen))) {
            free(raw);
            return json_string("");
        }
        data = filtered;
        len = flen;
    }
    size_t n = 0;
    char *clean = jobe_clean_output(data, len, &n);
    free(filtered);
    free(raw);
    json_t *s = clean ? json_stringn(clean, n) : NULL;
    free(clean);
    return s ? s : json_string("");
}

static json_t *stream(const json_t *stage, const char *key)
{
    return stream_filtered(stage, key, false);
}

static bool is_empty(const json_t *s)
{
    return !json_is_string(s) || json_string_length(s) == 0;
}

static json_t *result(const json_t *view, bool debug, int outcome, json_t *cmpinfo, json_t *out,
                      json_t *err)
{
    const char *id = json_string_value(json_object_get(view, "id"));
    return json_pack("{s:o, s:i, s:o, s:o, s:o}", "run_id",
                     debug && id ? json_string(id) : json_null(), "outcome", outcome, "cmpinfo",
                     cmpinfo ? cmpinfo : json_string(""), "stdout", out ? out : json_string(""),
                     "stderr", err ? err : json_string(""));
}

json_t *jobe_result_overload(void)
{
    return json_pack("{s:i, s:i, s:s, s:s, s:s}", "run_id", 0, "outcome",
                     JOBE_RESULT_SERVER_OVERLOAD, "cmpinfo", "", "stdout", "", "stderr", "");
}

json_t *jobe_result_from_view(const json_t *view, const jobe_lang *lang, bool debug)
{
    const char *state = json_string_value(json_object_get(view, "state"));
    const json_t *compile = json_object_get(view, "compile");
    if (state && !strcmp(state, "compile_error")) {
        json_t *cmp = stream(compile, "stderr");
        if (is_empty(cmp)) {
            json_decref(cmp);
            cmp = stream(compile, "stdout");
        }
        if (is_empty(cmp)) {
            json_decref(cmp);
            cmp = json_string("compilation failed");
        }
        return result(view, debug, JOBE_RESULT_COMPILATION_ERROR, cmp, NULL, NULL);
    }
    const json_t *t = json_array_get(json_object_get(view, "tests"), 0);
    if (!state || strcmp(state, "finished") != 0 || !t) {
        const json_t *err = json_object_get(view, "error");
        json_t *msg = json_is_string(err) ? json_string(json_string_value(err)) : NULL;
        return result(view, debug, JOBE_RESULT_INTERNAL_ERR, NULL, NULL, msg);
    }
    const char *verdict = json_string_value(json_object_get(t, "verdict"));
    const char *sig = json_string_value(json_object_get(t, "signal"));
    const json_t *ec = json_object_get(t, "exit_code");
    long long code = json_is_integer(ec) ? json_integer_value(ec) : 0;
    json_t *out = stream(t, "stdout");
    json_t *err = stream_filtered(t, "stderr", lang && lang->octave_stderr);
    int outcome;
    if (verdict && !strcmp(verdict, "time_limit")) {
        outcome = JOBE_RESULT_TIME_LIMIT;
        json_decref(err);
        err = NULL;
    } else if (verdict && !strcmp(verdict, "memory_limit"))
        outcome = JOBE_RESULT_MEMORY_LIMIT;
    else if ((sig && !strcmp(sig, "SIGSYS")) || code == 128 + SIGSYS)
        outcome = JOBE_RESULT_ILLEGAL_SYSCALL;
    else if (verdict && !strcmp(verdict, "internal_error"))
        outcome = JOBE_RESULT_INTERNAL_ERR;
    else if (!is_empty(err) || sig || code > 128)
        outcome = JOBE_RESULT_RUNTIME_ERROR;
    else
        outcome = JOBE_RESULT_SUCCESS;
    return result(view, debug, outcome, NULL, out, err);
}
