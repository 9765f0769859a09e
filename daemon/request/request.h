/* request.h — validation and normalization of a submission request.
 *
 * Input: the client's JSON (docs/api.yaml, SubmissionRequest). Output:
 * the normalized request of docs/contracts.md, which is what the worker reads:
 * profile resolved into packages (+ "bash", since the worker runs commands with
 * `bash -c`) and commands, every limit filled from the profile, then the
 * config defaults, and checked against the config maxima; every content
 * (file, stdin, expected output) moved into a blob named by its SHA-256; one
 * test named "1" when the client gave none. Also the dependency-set key and
 * spec, and the cache key (SHA-256 over everything that decides the result).
 *
 * Errors name the field in the client's terms ("files[2].name",
 * "limits.run.cpu_ms", "tests[0].args[1]") and carry the HTTP status the API
 * answers with: 400 for a body that is not a JSON object, 403 for a field the
 * caller's token may not use, 422 for everything else. No I/O here except the
 * package-set checks through builder/builder.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "../../common/config.h"
#include "../../common/store.h"
#include "profiles.h"

enum {
    REQUEST_LIM_CPU_MS,
    REQUEST_LIM_WALL_MS,
    REQUEST_LIM_MEMORY_KIB,
    REQUEST_LIM_PROCESSES,
    REQUEST_LIM_OUTPUT_BYTES,
    REQUEST_LIM_FILE_BYTES,
    REQUEST_LIM_OPEN_FILES,
    REQUEST_LIM_STACK_KIB,
    REQUEST_N_LIMITS
};
/* "cpu_ms", "wall_ms", ... in the order above. */
extern const char *const request_limit_names[REQUEST_N_LIMITS];

#define REQUEST_PRIORITY_MIN (-100)
#define REQUEST_PRIORITY_MAX 100

typedef struct {
    const config *cfg; /* for the package-set checks (builder_*) */
    const profiles *profiles;
    const char *pkgset_id; /* SHA-256 of packages.json */
    store *st;             /* the nixpkgs sets' evaluation cache; NULL: none (Nix every time) */
    long long max[REQUEST_N_LIMITS];
    long long def_run[REQUEST_N_LIMITS];
    long long def_compile[REQUEST_N_LIMITS];
    int max_files;
    int max_tests;
    bool allow_expr;             /* the caller's token has the nix-expr scope */
    bool callback_allow_private; /* webhook.allow_private: loopback/private callback_url */
    bool git_allow_local;        /* git.allow_local: file:// and local-path git sources */
    bool git_allow_private;      /* git.allow_private: git sources on loopback/private hosts */
} request_opts;

/* Fills max/def_* and the counts from the api.limits.* and api.max_* keys,
 * callback_allow_private from webhook.allow_private, git_allow_* from
 * git.allow_local and git.allow_private. */
void request_opts_from_config(request_opts *o, const config *cfg);

typedef struct {
    int status;      /* 400, 403 or 422 */
    char code[40];   /* machine-readable: "invalid_json", "invalid_value", ... */
    char field[256]; /* the field in the client's terms, "" for the whole body */
    char message[1024];
} request_error;

typedef struct {
    json_t *normalized; /* docs/contracts.md "Normalized request" */
    store_blob *blobs;  /* unique by sha256; data owned by this struct */
    size_t n_blobs;
    char depset_key[65];
    char *depset_spec; /* canonical spec JSON */
    char cache_key[65];
    bool cacheable; /* false when the result may differ for the same input (git branch) */
    bool use_cache; /* the client asked for "cache": true */
    int priority;
    int n_tests;
    const char *callback_url; /* borrowed from normalized, may be NULL */
} request_norm;

/* Validates and normalizes in (borrowed). 0 with *out filled (release with
 * request_norm_done), or -EINVAL with *e filled, or -ENOMEM / -EIO (package
 * set unreadable: e says so, status 500). */
int request_normalize(const request_opts *o, json_t *in, request_norm *out, request_error *e);
void request_norm_done(request_norm *n);

/* Parses a body into a JSON value with errors in request_error form (400). */
int request_parse_body(const char *body, size_t len, json_t **out, request_error *e);
