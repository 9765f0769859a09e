/* depset_key.c — canonical dependency-set specs and their SHA-256 keys. */
#include "depset_key.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "cleanup.h"
#include "hash.h"
#include "jsonutil.h"

static int depset_key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int depset_key_for_packages(const char *set_id, const char *const *names, size_t n,
                            char key_out[65], char **spec_json_out)
{
    if (!set_id || strchr(set_id, '\n') || (n && !names))
        return -EINVAL;
    _cleanup_free_ const char **sorted = calloc(n ? n : 1, sizeof(*sorted));
    if (!sorted)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || !names[i][0] || strchr(names[i], '\n'))
            return -EINVAL;
        sorted[i] = names[i];
    }
    qsort(sorted, n, sizeof(*sorted), depset_key_cmp);

    _cleanup_json_ json_t *arr = json_array();
    hash_ctx *h = hash_new();
    if (!arr || !h) {
        hash_final_hex(h, key_out);
        return -ENOMEM;
    }
    hash_update(h, "packages\n", 9);
    hash_update(h, set_id, strlen(set_id));
    hash_update(h, "\n", 1);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(sorted[i], sorted[i - 1]) == 0)
            continue;
        if (kept++)
            hash_update(h, "\n", 1);
        hash_update(h, sorted[i], strlen(sorted[i]));
        json_array_append_new(arr, json_string(sorted[i]));
    }
    hash_final_hex(h, key_out);
    if (spec_json_out) {
        _cleanup_json_ json_t *spec = json_pack("{s:O,s:s}", "packages", arr, "set", set_id);
        if (!spec || !(*spec_json_out = jsonutil_dump_sorted(spec)))
            return -ENOMEM;
    }
    return 0;
}

int depset_key_for_set(const char *set_name, const char *set_id, const char *const *names, size_t n,
                       char key_out[65], char **spec_json_out)
{
    if (!set_name || !set_name[0])
        return -EINVAL;
    _cleanup_free_ char *spec = NULL;
    int r = depset_key_for_packages(set_id, names, n, key_out, spec_json_out ? &spec : NULL);
    if (r < 0 || !spec_json_out)
        return r;
    _cleanup_json_ json_t *j = json_loads(spec, 0, NULL);
    if (!j || json_object_set_new(j, "package_set", json_string(set_name)) < 0 ||
        !(*spec_json_out = jsonutil_dump_sorted(j)))
        return -ENOMEM;
    return 0;
}

int depset_key_for_expr(const char *expr, char key_out[65], char **spec_json_out)
{
    if (!expr || !expr[0])
        return -EINVAL;
    hash_ctx *h = hash_new();
    if (!h)
        return -ENOMEM;
    hash_update(h, "expr\n", 5);
    hash_update(h, expr, strlen(expr));
    hash_final_hex(h, key_out);
    if (spec_json_out) {
        _cleanup_json_ json_t *spec = json_pack("{s:s}", "expr", expr);
        if (!spec || !(*spec_json_out = jsonutil_dump_sorted(spec)))
            return -ENOMEM;
    }
    return 0;
}
