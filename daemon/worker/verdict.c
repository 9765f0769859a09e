/* verdict.c — the per-test verdict rule, output comparison and encoding; see
 * verdict.h. */
#include "verdict.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "../../common/base64.h"
#include "../../common/cleanup.h"

const char *verdict_decide(const verdict_input *in)
{
    if (in->sandbox_failed)
        return "internal_error";
    switch (in->limit) {
    case VERDICT_LIMIT_CPU:
    case VERDICT_LIMIT_WALL:
        return "time_limit";
    case VERDICT_LIMIT_MEMORY:
        return "memory_limit";
    case VERDICT_LIMIT_OUTPUT:
    case VERDICT_LIMIT_FILE_SIZE:
        return "output_limit";
    case VERDICT_LIMIT_PROCESSES:
    case VERDICT_LIMIT_NONE:
    default:
        break;
    }
    if (in->signal != 0 || in->exit_code != 0)
        return "runtime_error";
    if (in->has_expected && !in->output_matches)
        return "wrong_answer";
    return "accepted";
}

const char *verdict_limit_name(verdict_limit l)
{
    switch (l) {
    case VERDICT_LIMIT_CPU:
        return "cpu";
    case VERDICT_LIMIT_WALL:
        return "wall";
    case VERDICT_LIMIT_MEMORY:
        return "memory";
    case VERDICT_LIMIT_OUTPUT:
        return "output";
    case VERDICT_LIMIT_FILE_SIZE:
        return "file_size";
    case VERDICT_LIMIT_PROCESSES:
        return "processes";
    case VERDICT_LIMIT_NONE:
    default:
        return NULL;
    }
}

const char *verdict_signal_name(int sig)
{
    static __thread char buf[16];
    const char *abbrev;

    if (sig <= 0)
        return NULL;
    abbrev = sigabbrev_np(sig);
    if (abbrev)
        snprintf(buf, sizeof(buf), "SIG%s", abbrev);
    else
        snprintf(buf, sizeof(buf), "SIG%d", sig);
    return buf;
}

verdict_compare_mode verdict_compare_mode_from_string(const char *s)
{
    if (s && strcmp(s, "exact") == 0)
        return VERDICT_COMPARE_EXACT;
    return VERDICT_COMPARE_TRAILING_WS;
}

static bool is_trailing_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* The next line of buf from *pos, without its trailing whitespace; returns
 * false at the end. *len gets the trimmed length. */
static bool next_line(const char *buf, size_t n, size_t *pos, const char **line, size_t *len)
{
    size_t start = *pos, end;

    if (start >= n)
        return false;
    end = start;
    while (end < n && buf[end] != '\n')
        end++;
    *pos = end < n ? end + 1 : end;
    *line = buf + start;
    while (end > start && is_trailing_ws(buf[end - 1]))
        end--;
    *len = end - start;
    return true;
}

/* Length of buf without trailing whitespace-only lines and newlines. */
static size_t trim_end(const char *buf, size_t n)
{
    while (n > 0 && (buf[n - 1] == '\n' || is_trailing_ws(buf[n - 1])))
        n--;
    return n;
}

bool verdict_output_matches(const char *out, size_t out_len, const char *expected,
                            size_t expected_len, verdict_compare_mode mode)
{
    size_t pa = 0, pb = 0;

    if (mode == VERDICT_COMPARE_EXACT)
        return out_len == expected_len && (out_len == 0 || memcmp(out, expected, out_len) == 0);
    out_len = trim_end(out, out_len);
    expected_len = trim_end(expected, expected_len);
    for (;;) {
        const char *la = NULL, *lb = NULL;
        size_t na = 0, nb = 0;
        bool ha = next_line(out, out_len, &pa, &la, &na);
        bool hb = next_line(expected, expected_len, &pb, &lb, &nb);

        if (!ha || !hb)
            return ha == hb;
        if (na != nb || (na && memcmp(la, lb, na) != 0))
            return false;
    }
}

bool verdict_is_utf8(const char *data, size_t len)
{
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        uint32_t cp;
        int extra;

        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if ((size_t)extra >= len - i)
            return false;
        for (int k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += extra + 1;
    }
    return true;
}

static json_t *text_json(const char *s, size_t n)
{
    return json_stringn_nocheck(n ? s : "", n);
}

int verdict_set_output(json_t *obj, const char *out, size_t out_len, const char *err,
                       size_t err_len)
{
    bool text = verdict_is_utf8(out, out_len) && verdict_is_utf8(err, err_len);
    json_t *jo, *je;

    if (text) {
        jo = text_json(out, out_len);
        je = text_json(err, err_len);
    } else {
        _cleanup_free_ char *bo = base64_encode(out, out_len);
        _cleanup_free_ char *be = base64_encode(err, err_len);

        if (!bo || !be)
            return -ENOMEM;
        jo = json_string(bo);
        je = json_string(be);
    }
    if (!jo || !je || json_object_set_new(obj, "stdout", jo) < 0 ||
        json_object_set_new(obj, "stderr", je) < 0 ||
        json_object_set_new(obj, "encoding", json_string(text ? "utf8" : "base64")) < 0)
        return -ENOMEM;
    return 0;
}
