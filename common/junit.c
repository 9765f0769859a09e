/* junit.c — JUnit XML from submission views (see junit.h).
 *
 * The document is kept as JSON (suites -> cases) until rendering, so counts
 * are computed once, at the end, from what is actually there. */
#include "junit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct junit_doc {
    char *name;
    json_t *suites; /* [{name, cases: [{name, time, kind, type, message, out, err}]}] */
};

junit_doc *junit_new(const char *name)
{
    junit_doc *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->name = strdup(name ? name : "nixfarm");
    d->suites = json_array();
    if (!d->name || !d->suites) {
        junit_free(d);
        return NULL;
    }
    return d;
}

void junit_free(junit_doc *d)
{
    if (!d)
        return;
    free(d->name);
    json_decref(d->suites);
    free(d);
}

static json_t *junit_suite(junit_doc *d, const char *suite)
{
    size_t i;
    json_t *s;
    json_array_foreach(d->suites, i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "name")), suite) == 0)
            return s;
    }
    s = json_object();
    if (s) {
        json_object_set_new(s, "name", json_string_nocheck(suite));
        json_object_set_new(s, "cases", json_array());
    }
    if (!s || json_array_append_new(d->suites, s) < 0)
        return NULL;
    return s;
}

int junit_add_case(junit_doc *d, const char *suite, const char *name, double seconds,
                   const char *kind, const char *type, const char *message, const char *stdout_text,
                   const char *stderr_text)
{
    json_t *s = junit_suite(d, suite ? suite : "nixfarm");
    if (!s)
        return -ENOMEM;
    /* Program output may be any bytes: stored unchecked, made valid XML
     * (invalid UTF-8 -> U+FFFD) when rendered. */
    json_t *c = json_object();
    if (c) {
        json_object_set_new(c, "name", json_string_nocheck(name ? name : ""));
        json_object_set_new(c, "time", json_real(seconds));
        json_object_set_new(c, "kind", json_string_nocheck(kind ? kind : ""));
        json_object_set_new(c, "type", json_string_nocheck(type ? type : ""));
        json_object_set_new(c, "message", json_string_nocheck(message ? message : ""));
        json_object_set_new(c, "out", json_string_nocheck(stdout_text ? stdout_text : ""));
        json_object_set_new(c, "err", json_string_nocheck(stderr_text ? stderr_text : ""));
    }
    if (!c || json_array_append_new(json_object_get(s, "cases"), c) < 0)
        return -ENOMEM;
    return 0;
}

static const char *junit_str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static double junit_secs(const json_t *stage)
{
    json_t *w = json_object_get(stage, "wall_ms");
    return json_is_number(w) ? json_number_value(w) / 1000.0 : 0.0;
}

/* Outputs a stage reported in base64 are passed on as they are, with a note:
 * the XML stays valid and nothing is lost. */
static const char *junit_output(const json_t *stage, const char *k, char **note)
{
    const char *v = junit_str(stage, k);
    *note = NULL;
    if (*v && strcmp(junit_str(stage, "encoding"), "base64") == 0 &&
        asprintf(note, "(output is not UTF-8; base64 follows)\n%s", v) >= 0)
        return *note;
    return v;
}

static int junit_add_stage(junit_doc *d, const char *suite, const char *name, const json_t *st,
                           const char *kind, const char *type, const char *message)
{
    char *n1, *n2;
    const char *out = junit_output(st, "stdout", &n1);
    const char *err = junit_output(st, "stderr", &n2);
    int r = junit_add_case(d, suite, name, junit_secs(st), kind, type, message, out, err);
    free(n1);
    free(n2);
    return r;
}

/* A one-line reason for a failed test: what a reader of a CI page wants first. */
static void junit_test_message(const json_t *t, const char *verdict, char *buf, size_t len)
{
    json_t *sig = json_object_get(t, "signal");
    json_t *code = json_object_get(t, "exit_code");
    const char *limit = junit_str(t, "limit");
    if (strcmp(verdict, "wrong_answer") == 0)
        snprintf(buf, len, "wrong answer: the output differs from the expected output");
    else if (*limit)
        snprintf(buf, len, "%s: the %s limit was hit", verdict, limit);
    else if (json_is_string(sig))
        snprintf(buf, len, "%s: killed by %s", verdict, json_string_value(sig));
    else if (json_is_integer(code))
        snprintf(buf, len, "%s: exit code %lld", verdict, (long long)json_integer_value(code));
    else
        snprintf(buf, len, "%s", verdict);
}

int junit_add_submission(junit_doc *d, const char *suite, const json_t *view)
{
    const char *state = junit_str(view, "state");
    const char *error = junit_str(view, "error");
    json_t *compile = json_object_get(view, "compile");
    json_t *tests = json_object_get(view, "tests");
    int r = 0;
    /* The suite exists even when empty, so a CI page shows the step. */
    if (!junit_suite(d, suite))
        return -ENOMEM;
    if (strcmp(state, "compile_error") == 0) {
        r = junit_add_stage(d, suite, "compile", compile, "failure", "compile_error",
                            "compilation failed");
        if (r < 0)
            return r;
    } else if (json_is_object(compile)) {
        r = junit_add_stage(d, suite, "compile", compile, NULL, NULL, NULL);
        if (r < 0)
            return r;
    }
    if (strcmp(state, "deps_failed") == 0)
        return junit_add_case(d, suite, "dependencies", 0, "error", "deps_failed",
                              "the dependency set failed to build", error, NULL);

    size_t i;
    json_t *t;
    bool any_error = false;
    json_array_foreach(tests, i, t)
    {
        char name[64];
        const char *tn = junit_str(t, "name");
        if (!*tn) {
            snprintf(name, sizeof name, "%zu", i + 1);
            tn = name;
        }
        const char *v = junit_str(t, "verdict");
        char msg[256];
        if (!*v || (strcmp(state, "cancelled") == 0 && !json_object_get(t, "exit_code"))) {
            r = junit_add_case(d, suite, tn, 0, "skipped", state, "not run", NULL, NULL);
        } else if (strcmp(v, "accepted") == 0) {
            r = junit_add_stage(d, suite, tn, t, NULL, NULL, NULL);
        } else {
            junit_test_message(t, v, msg, sizeof msg);
            bool is_error = strcmp(v, "internal_error") == 0;
            any_error |= is_error;
            r = junit_add_stage(d, suite, tn, t, is_error ? "error" : "failure", v, msg);
        }
        if (r < 0)
            return r;
    }
    if (strcmp(state, "internal_error") == 0 && !any_error)
        r = junit_add_case(d, suite, "farm", 0, "error", "internal_error",
                           "the farm could not run this submission", error, NULL);
    else if (strcmp(state, "cancelled") == 0 && json_array_size(tests) == 0)
        r = junit_add_case(d, suite, "run", 0, "skipped", "cancelled", "cancelled", NULL, NULL);
    return r;
}

int junit_count(const junit_doc *d, int *tests, int *failures, int *errors, int *skipped)
{
    int t = 0, f = 0, e = 0, s = 0;
    size_t i, j;
    json_t *su, *c;
    json_array_foreach(d->suites, i, su) json_array_foreach(json_object_get(su, "cases"), j, c)
    {
        const char *k = junit_str(c, "kind");
        t++;
        f += strcmp(k, "failure") == 0;
        e += strcmp(k, "error") == 0;
        s += strcmp(k, "skipped") == 0;
    }
    if (tests)
        *tests = t;
    if (failures)
        *failures = f;
    if (errors)
        *errors = e;
    if (skipped)
        *skipped = s;
    return 0;
}

/* ---- output ---------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
    bool oom;
} junit_buf;

static void junit_put(junit_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->oom = true;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void junit_puts(junit_buf *b, const char *s)
{
    junit_put(b, s, strlen(s));
}

static void junit_printf(junit_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void junit_printf(junit_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        junit_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t junit_utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = (s[0] & 0xe0) == 0xc0   ? 2
               : (s[0] & 0xf0) == 0xe0 ? 3
               : (s[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (n == 0 || (n == 2 && s[0] < 0xc2) || (n == 4 && s[0] > 0xf4))
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if (n == 3) {
        unsigned cp = (s[0] & 0x0fu) << 12 | (s[1] & 0x3fu) << 6 | (s[2] & 0x3fu);
        if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
            return 0;
    }
    if (n == 4) {
        unsigned cp = (s[0] & 0x07u) << 18 | (s[1] & 0x3fu) << 12 | (s[2] & 0x3fu) << 6;
        if (cp < 0x10000 || cp > 0x10ffff)
            return 0;
    }
    return n;
}

/* Escapes for element text and attribute values alike. */
static void junit_escape(junit_buf *b, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        unsigned char c = *s;
        const char *rep = NULL;
        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        case '\n':
        case '\t':
            break;
        case '\r':
            rep = "&#13;";
            break;
        default:
            if (c < 0x20)
                rep = "\xef\xbf\xbd"; /* XML 1.0 cannot carry it even escaped */
        }
        if (rep) {
            junit_puts(b, rep);
            s++;
            continue;
        }
        size_t n = junit_utf8_len(s);
        if (n == 0) {
            junit_puts(b, "\xef\xbf\xbd");
            s++;
        } else {
            junit_put(b, (const char *)s, n);
            s += n;
        }
    }
}

char *junit_render(const junit_doc *d)
{
    junit_buf b = {0};
    int t, f, e, s;
    junit_count(d, &t, &f, &e, &s);
    double total = 0;
    size_t i, j;
    json_t *su, *c;
    json_array_foreach(d->suites, i, su) json_array_foreach(json_object_get(su, "cases"), j, c)
        total += json_real_value(json_object_get(c, "time"));

    junit_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"");
    junit_escape(&b, d->name);
    junit_printf(&b,
                 "\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\">\n", t,
                 f, e, s, total);
    json_array_foreach(d->suites, i, su)
    {
        const char *sname = junit_str(su, "name");
        int st = 0, sf = 0, se = 0, ss = 0;
        double stime = 0;
        json_array_foreach(json_object_get(su, "cases"), j, c)
        {
            const char *k = junit_str(c, "kind");
            st++;
            sf += strcmp(k, "failure") == 0;
            se += strcmp(k, "error") == 0;
            ss += strcmp(k, "skipped") == 0;
            stime += json_real_value(json_object_get(c, "time"));
        }
        junit_puts(&b, "  <testsuite name=\"");
        junit_escape(&b, sname);
        junit_printf(&b,
                     "\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" "
                     "time=\"%.3f\">\n",
                     st, sf, se, ss, stime);
        json_array_foreach(json_object_get(su, "cases"), j, c)
        {
            const char *k = junit_str(c, "kind");
            junit_puts(&b, "    <testcase classname=\"");
            junit_escape(&b, sname);
            junit_puts(&b, "\" name=\"");
            junit_escape(&b, junit_str(c, "name"));
            junit_printf(&b, "\" time=\"%.3f\">\n", json_real_value(json_object_get(c, "time")));
            if (*k) {
                junit_printf(&b, "      <%s", k);
                if (strcmp(k, "skipped") != 0 || *junit_str(c, "message")) {
                    junit_puts(&b, " type=\"");
                    junit_escape(&b, junit_str(c, "type"));
                    junit_puts(&b, "\" message=\"");
                    junit_escape(&b, junit_str(c, "message"));
                    junit_puts(&b, "\"");
                }
                junit_puts(&b, "/>\n");
            }
            if (*junit_str(c, "out")) {
                junit_puts(&b, "      <system-out>");
                junit_escape(&b, junit_str(c, "out"));
                junit_puts(&b, "</system-out>\n");
            }
            if (*junit_str(c, "err")) {
                junit_puts(&b, "      <system-err>");
                junit_escape(&b, junit_str(c, "err"));
                junit_puts(&b, "</system-err>\n");
            }
            junit_puts(&b, "    </testcase>\n");
        }
        junit_puts(&b, "  </testsuite>\n");
    }
    junit_puts(&b, "</testsuites>\n");
    if (b.oom) {
        free(b.buf);
        return NULL;
    }
    return b.buf;
}
