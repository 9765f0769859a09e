/* request_internal.h — what request.c, request_check.c and request_content.c
 * share: the error helpers that name a field, typed reads of client JSON,
 * and the content blobs of one request. Only daemon/request/request*.c include it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "request.h"

#define MAX_COMMAND_BYTES 65536
#define MAX_NAME_BYTES 1024
#define MAX_ARGS 256
#define MAX_ARG_BYTES 65536
#define MAX_ENV 128
#define MAX_ENV_VALUE_BYTES 32768
#define MAX_PACKAGES 64
#define MAX_URL_BYTES 2048
#define MAX_EXPR_BYTES 65536
#define MAX_META_BYTES 16384

/* ---- request_check.c: errors and typed reads ---- */

/* Fills e and returns -EINVAL. */
int request_fail(request_error *e, int status, const char *code, const char *field, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));
/* A short, printable, ASCII excerpt of a client string, for messages. */
void request_excerpt(const char *s, char *out, size_t outlen);
/* "an object", "a string", ... */
const char *request_type_name(const json_t *v);
/* 422 invalid_type: "<field> must be <want>, not <type>". */
int request_wrong_type(request_error *e, const char *field, const char *want, const json_t *v);
bool request_has_nul(const json_t *s);
/* v (named field) must be a string without NUL bytes and of at most max
 * bytes; want is what the type error says it must be. */
int request_check_string(const json_t *v, const char *field, const char *want, size_t max,
                         request_error *e);
/* A string member (absent: *out untouched; null allowed when allow_null, then
 * *out = NULL); refuses NUL bytes, more than max bytes, and "" unless allow_empty. */
int request_get_text(json_t *obj, const char *key, const char *field, bool allow_null, size_t max,
                     bool allow_empty, const char **out, request_error *e);
/* A boolean member; absent or null leaves *out. */
int request_get_flag(json_t *obj, const char *key, bool *out, request_error *e);
/* 422 unknown_field for a member not in known (NULL-terminated). */
int request_check_known(json_t *obj, const char *prefix, const char *const *known,
                        request_error *e);
/* "encoding": "utf8" (default) or "base64". */
int request_get_encoding(json_t *obj, const char *field, const char **out, request_error *e);

/* ---- request_content.c: blobs and files ---- */

typedef struct {
    store_blob *v; /* unique by sha256; data owned */
    size_t n, cap;
} request_blobs;

void request_blobs_free(request_blobs *l);
/* Decodes a content string in encoding into a blob (deduplicated); copies its
 * sha256 into sha_out (never a pointer into l->v, which moves as it grows);
 * 0 or <0 with e filled. size_out may be NULL. */
int request_content_blob(request_blobs *l, json_t *content, const char *encoding, const char *field,
                         char sha_out[65], size_t *size_out, request_error *e);
/* files[] -> [{name, blob, size, executable}] appended to out_files. */
int request_parse_files(json_t *in, request_blobs *bl, int max_files, json_t *out_files,
                        request_error *e);

/* ---- request_nixpkgs.c: a request on a nixpkgs package set ---- */

/* Resolves packages (attribute paths) and the profile's packages against
 * the nixpkgs set set_name, fills out's dependency-set key and spec, and
 * norm's "packages" and "package_set". 0 or <0 with e filled. */
int request_nixpkgs_environment(const request_opts *o, json_t *in, const json_t *profile,
                                const char *profile_name, const char *set_name, json_t *norm,
                                request_norm *out, request_error *e);
