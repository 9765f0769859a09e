/* request_check.c — error sentences that name the field, and typed reads of
 * the client's JSON, for the request*.c files. See request_internal.h. */
#include "request_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int request_fail(request_error *e, int status, const char *code, const char *field, const char *fmt,
                 ...)
{
    e->status = status;
    snprintf(e->code, sizeof(e->code), "%s", code);
    snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* A short, printable, valid-UTF-8 excerpt of a client string for messages. */
void request_excerpt(const char *s, char *out, size_t outlen)
{
    size_t j = 0;
    for (size_t i = 0; s[i] && j + 5 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80)
            out[j++] = '?';
        else
            out[j++] = (char)c;
        if (i >= 60) {
            memcpy(out + j, "...", 3);
            j += 3;
            break;
        }
    }
    out[j] = '\0';
}

const char *request_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    default:
        return "something else";
    }
}

int request_wrong_type(request_error *e, const char *field, const char *want, const json_t *v)
{
    return request_fail(e, 422, "invalid_type", field, "%s must be %s, not %s", field, want,
                        request_type_name(v));
}

bool request_has_nul(const json_t *s)
{
    return strlen(json_string_value(s)) != json_string_length(s);
}

int request_check_string(const json_t *v, const char *field, const char *want, size_t max,
                         request_error *e)
{
    if (!json_is_string(v))
        return request_wrong_type(e, field, want, v);
    if (request_has_nul(v))
        return request_fail(e, 422, "invalid_value", field, "%s contains a NUL byte", field);
    if (json_string_length(v) > max)
        return request_fail(e, 422, "too_long", field, "%s is longer than %zu bytes", field, max);
    return 0;
}

/* A string member: absent -> *out untouched, 0. null allowed when allow_null
 * (then *out = NULL). Rejects NUL bytes and strings over max bytes. */
int request_get_text(json_t *obj, const char *key, const char *field, bool allow_null, size_t max,
                     bool allow_empty, const char **out, request_error *e)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (json_is_null(v) && allow_null) {
        *out = NULL;
        return 0;
    }
    int r = request_check_string(v, field, allow_null ? "a string or null" : "a string", max, e);
    if (r < 0)
        return r;
    if (!allow_empty && json_string_length(v) == 0)
        return request_fail(e, 422, "invalid_value", field, "%s must not be empty", field);
    *out = json_string_value(v);
    return 0;
}

int request_get_flag(json_t *obj, const char *key, bool *out, request_error *e)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return request_wrong_type(e, key, "true or false", v);
    *out = json_is_true(v);
    return 0;
}

int request_check_known(json_t *obj, const char *prefix, const char *const *known, request_error *e)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            ok = ok || !strcmp(k, known[i]);
        if (!ok) {
            char ex[80], field[256];
            request_excerpt(k, ex, sizeof(ex));
            snprintf(field, sizeof(field), "%s%s%s", prefix, *prefix ? "." : "", ex);
            return request_fail(e, 422, "unknown_field", field, "unknown field %s", field);
        }
    }
    return 0;
}

int request_get_encoding(json_t *obj, const char *field, const char **out, request_error *e)
{
    *out = "utf8";
    if (request_get_text(obj, "encoding", field, true, 16, false, out, e) < 0)
        return -EINVAL;
    if (!*out)
        *out = "utf8";
    if (strcmp(*out, "utf8") && strcmp(*out, "base64"))
        return request_fail(e, 422, "invalid_value", field, "%s must be \"utf8\" or \"base64\"",
                            field);
    return 0;
}
