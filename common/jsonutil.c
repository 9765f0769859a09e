/* jsonutil.c — typed jansson getters with field-naming errors, dumps to strings. */
#include "jsonutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int jsonutil_member(const json_t *obj, const char *field, bool required, json_t **m,
                           char *err, size_t errlen)
{
    if (!json_is_object(obj)) {
        if (err)
            snprintf(err, errlen, "expected an object holding '%s'", field);
        return -EINVAL;
    }
    *m = json_object_get(obj, field);
    if (!*m || (json_is_null(*m) && !required)) {
        *m = NULL;
        if (required) {
            if (err)
                snprintf(err, errlen, "'%s' is required", field);
            return -ENOENT;
        }
        return 0;
    }
    return 1;
}

static int jsonutil_type_error(const char *field, const char *want, char *err, size_t errlen)
{
    if (err)
        snprintf(err, errlen, "'%s' must be %s", field, want);
    return -EINVAL;
}

int jsonutil_get_str(const json_t *obj, const char *field, bool required, const char **out,
                     char *err, size_t errlen)
{
    json_t *m;
    int r = jsonutil_member(obj, field, required, &m, err, errlen);
    if (r <= 0)
        return r;
    if (!json_is_string(m))
        return jsonutil_type_error(field, "a string", err, errlen);
    *out = json_string_value(m);
    return 0;
}

int jsonutil_get_int(const json_t *obj, const char *field, bool required, int64_t *out, char *err,
                     size_t errlen)
{
    json_t *m;
    int r = jsonutil_member(obj, field, required, &m, err, errlen);
    if (r <= 0)
        return r;
    if (!json_is_integer(m))
        return jsonutil_type_error(field, "an integer", err, errlen);
    *out = json_integer_value(m);
    return 0;
}

int jsonutil_get_bool(const json_t *obj, const char *field, bool required, bool *out, char *err,
                      size_t errlen)
{
    json_t *m;
    int r = jsonutil_member(obj, field, required, &m, err, errlen);
    if (r <= 0)
        return r;
    if (!json_is_boolean(m))
        return jsonutil_type_error(field, "true or false", err, errlen);
    *out = json_is_true(m);
    return 0;
}

int jsonutil_get_object(const json_t *obj, const char *field, bool required, json_t **out,
                        char *err, size_t errlen)
{
    json_t *m;
    int r = jsonutil_member(obj, field, required, &m, err, errlen);
    if (r <= 0) {
        if (r == 0)
            *out = NULL;
        return r;
    }
    if (!json_is_object(m))
        return jsonutil_type_error(field, "an object", err, errlen);
    *out = m;
    return 0;
}

int jsonutil_get_array(const json_t *obj, const char *field, bool required, json_t **out, char *err,
                       size_t errlen)
{
    json_t *m;
    int r = jsonutil_member(obj, field, required, &m, err, errlen);
    if (r <= 0) {
        if (r == 0)
            *out = NULL;
        return r;
    }
    if (!json_is_array(m))
        return jsonutil_type_error(field, "an array", err, errlen);
    *out = m;
    return 0;
}

char *jsonutil_dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

char *jsonutil_dump_sorted(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

int jsonutil_parse(const char *text, json_t **out, char *err, size_t errlen)
{
    if (!text || !*text) {
        if (err)
            snprintf(err, errlen, "empty JSON text");
        return -ENODATA;
    }
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (!j) {
        if (err)
            snprintf(err, errlen, "invalid JSON at line %d column %d: %s", je.line, je.column,
                     je.text);
        return -EINVAL;
    }
    *out = j;
    return 0;
}

json_t *jsonutil_loads_or_null(const char *text)
{
    if (!text)
        return json_null();
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    return j ? j : json_null();
}

json_t *jsonutil_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}
