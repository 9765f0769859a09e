/* request_content.c — file contents, stdin and expected outputs turned into
 * content-addressed blobs (strict base64 for binary data), and the checks
 * that keep file names inside the box. See request_internal.h. */
#include "request_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/base64.h"
#include "../../common/hash.h"

/* ---- blobs ---- */

/* Takes data (malloc'd); writes the blob's sha256 into hex (the caller's: a
 * pointer into l->v would dangle at the next realloc). 0 or -ENOMEM. */
static int blob_add(request_blobs *l, void *data, size_t len, char hex[65])
{
    hash_sha256_hex(data, len, hex);
    for (size_t i = 0; i < l->n; i++) {
        if (!strcmp(l->v[i].sha256, hex)) {
            free(data);
            return 0;
        }
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        store_blob *nv = realloc(l->v, cap * sizeof(*nv));
        if (!nv) {
            free(data);
            return -ENOMEM;
        }
        l->v = nv;
        l->cap = cap;
    }
    store_blob *b = &l->v[l->n++];
    memcpy(b->sha256, hex, 65);
    b->data = data;
    b->len = len;
    return 0;
}

void request_blobs_free(request_blobs *l)
{
    for (size_t i = 0; i < l->n; i++)
        free((void *)l->v[i].data);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* Decodes a content string in encoding into a fresh blob; writes its sha256
 * into sha_out; 0 or <0 with e filled. */
int request_content_blob(request_blobs *bl, json_t *content, const char *encoding,
                         const char *field, char sha_out[65], size_t *size_out, request_error *e)
{
    const char *s = json_string_value(content);
    size_t len = json_string_length(content);
    unsigned char *data;
    size_t dlen;
    if (encoding && !strcmp(encoding, "base64")) {
        int r = base64_decode(s, len, &data, &dlen);
        if (r == -ENOMEM)
            return request_fail(e, 500, "internal", field, "out of memory");
        if (r < 0)
            return request_fail(e, 422, "invalid_base64", field, "%s is not valid base64", field);
    } else {
        data = malloc(len + 1);
        if (!data)
            return request_fail(e, 500, "internal", field, "out of memory");
        memcpy(data, s, len);
        dlen = len;
    }
    if (size_out)
        *size_out = dlen;
    if (blob_add(bl, data, dlen, sha_out) < 0)
        return request_fail(e, 500, "internal", field, "out of memory");
    return 0;
}

/* ---- file names ---- */

/* Relative, no "." or ".." components, no empty component, no control
 * characters or backslashes: the box is a plain directory tree. */
static int check_file_name(const char *name, size_t len, const char *field, request_error *e)
{
    if (len == 0)
        return request_fail(e, 422, "invalid_file_name", field, "%s must not be empty", field);
    if (len > MAX_NAME_BYTES)
        return request_fail(e, 422, "invalid_file_name", field, "%s is longer than %d bytes", field,
                            MAX_NAME_BYTES);
    if (name[0] == '/')
        return request_fail(e, 422, "invalid_file_name", field, "%s must be a relative path",
                            field);
    const char *p = name;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t clen = slash ? (size_t)(slash - p) : strlen(p);
        if (clen == 0)
            return request_fail(e, 422, "invalid_file_name", field,
                                "%s has an empty path component", field);
        if (clen > 255)
            return request_fail(e, 422, "invalid_file_name", field,
                                "%s has a component longer than 255 bytes", field);
        if ((clen == 1 && p[0] == '.') || (clen == 2 && p[0] == '.' && p[1] == '.'))
            return request_fail(e, 422, "invalid_file_name", field,
                                "%s must not contain \".\" or \"..\" components", field);
        if (!slash)
            break;
        p = slash + 1;
        if (!*p)
            return request_fail(e, 422, "invalid_file_name", field, "%s must not end with /",
                                field);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            return request_fail(e, 422, "invalid_file_name", field,
                                "%s contains a control character or backslash", field);
    }
    return 0;
}

/* "a" and "a/b" cannot both be files. */
static bool is_dir_prefix(const char *dir, const char *path)
{
    size_t n = strlen(dir);
    return !strncmp(dir, path, n) && path[n] == '/';
}

int request_parse_files(json_t *in, request_blobs *bl, int max_files, json_t *out_files,
                        request_error *e)
{
    json_t *files = json_object_get(in, "files");
    if (!files || json_is_null(files))
        return 0;
    if (!json_is_array(files))
        return request_wrong_type(e, "files", "an array", files);
    if ((int)json_array_size(files) > max_files)
        return request_fail(e, 422, "too_many", "files", "files has %zu entries; the maximum is %d",
                            json_array_size(files), max_files);
    static const char *const known[] = {"name", "content", "encoding", "executable", NULL};
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f)
    {
        char field[96], sub[128];
        snprintf(field, sizeof(field), "files[%zu]", i);
        if (!json_is_object(f))
            return request_wrong_type(e, field, "an object", f);
        if (request_check_known(f, field, known, e) < 0)
            return -EINVAL;
        json_t *name = json_object_get(f, "name");
        snprintf(sub, sizeof(sub), "%s.name", field);
        if (!name)
            return request_fail(e, 422, "missing_field", sub, "%s is required", sub);
        if (!json_is_string(name))
            return request_wrong_type(e, sub, "a string", name);
        if (request_has_nul(name))
            return request_fail(e, 422, "invalid_file_name", sub, "%s contains a NUL byte", sub);
        const char *nm = json_string_value(name);
        if (check_file_name(nm, json_string_length(name), sub, e) < 0)
            return -EINVAL;
        for (size_t j = 0; j < i; j++) {
            const char *other =
                json_string_value(json_object_get(json_array_get(out_files, j), "name"));
            if (!strcmp(other, nm))
                return request_fail(e, 422, "duplicate_file_name", sub,
                                    "%s duplicates files[%zu].name", sub, j);
            if (is_dir_prefix(other, nm) || is_dir_prefix(nm, other))
                return request_fail(
                    e, 422, "duplicate_file_name", sub,
                    "%s and files[%zu].name need the same path as file and directory", sub, j);
        }
        const char *enc;
        snprintf(sub, sizeof(sub), "%s.encoding", field);
        if (request_get_encoding(f, sub, &enc, e) < 0)
            return -EINVAL;
        json_t *content = json_object_get(f, "content");
        snprintf(sub, sizeof(sub), "%s.content", field);
        if (!content)
            return request_fail(e, 422, "missing_field", sub, "%s is required", sub);
        if (!json_is_string(content))
            return request_wrong_type(e, sub, "a string", content);
        bool exec = false;
        json_t *x = json_object_get(f, "executable");
        snprintf(sub, sizeof(sub), "%s.executable", field);
        if (x && !json_is_null(x)) {
            if (!json_is_boolean(x))
                return request_wrong_type(e, sub, "true or false", x);
            exec = json_is_true(x);
        }
        size_t size = 0;
        snprintf(sub, sizeof(sub), "%s.content", field);
        char sha[65];
        if (request_content_blob(bl, content, enc, sub, sha, &size, e) < 0)
            return -EINVAL;
        json_array_append_new(out_files, json_pack("{s:s, s:s, s:I, s:b}", "name", nm, "blob", sha,
                                                   "size", (json_int_t)size, "executable", exec));
    }
    return 0;
}
