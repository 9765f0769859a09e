/* jsonutil.h — small helpers on jansson: scope-bound references, typed getters
 * whose errors name the field, and dumping to a malloc'd string. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

static inline void jsonutil_decrefp(json_t **j)
{
    if (*j)
        json_decref(*j);
}
/* _cleanup_json_ json_t *o = json_object(); dropped when o leaves scope. */
#define _cleanup_json_ __attribute__((cleanup(jsonutil_decrefp)))

/* Typed getters on an object member. Return 0 and set *out; -ENOENT when the
 * member is absent (and required is false: *out keeps its value, returns 0);
 * -EINVAL when it has the wrong type. err names the field. Strings are
 * borrowed from obj. */
int jsonutil_get_str(const json_t *obj, const char *field, bool required, const char **out,
                     char *err, size_t errlen);
int jsonutil_get_int(const json_t *obj, const char *field, bool required, int64_t *out, char *err,
                     size_t errlen);
int jsonutil_get_bool(const json_t *obj, const char *field, bool required, bool *out, char *err,
                      size_t errlen);
/* Borrowed object / array member (NULL when absent and not required). */
int jsonutil_get_object(const json_t *obj, const char *field, bool required, json_t **out,
                        char *err, size_t errlen);
int jsonutil_get_array(const json_t *obj, const char *field, bool required, json_t **out, char *err,
                       size_t errlen);

/* Compact, key-order-preserving dump; malloc'd, caller frees; NULL on ENOMEM. */
char *jsonutil_dump(const json_t *j);
/* Same with sorted keys (canonical forms). */
char *jsonutil_dump_sorted(const json_t *j);
/* Parses text (NULL/empty -> NULL with -ENODATA); -EINVAL with jansson's message. */
int jsonutil_parse(const char *text, json_t **out, char *err, size_t errlen);
/* Parses text or returns json_null() — for columns known to hold valid JSON. */
json_t *jsonutil_loads_or_null(const char *text);
/* json_string() or json_null() for NULL. New reference. */
json_t *jsonutil_str_or_null(const char *s);
