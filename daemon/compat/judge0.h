/* judge0.h — what the Judge0 CE 1.13.1 front's files share
 * (docs/compat-judge0.md).
 *
 *   judge0.c        routes, auth headers, refusals, information endpoints
 *   judge0_lang.c   the language table (Judge0 CE ids over the package set)
 *   judge0_submit.c a Judge0 submission -> a v1 request (validation, texts)
 *   judge0_view.c   a stored submission -> Judge0's JSON (statuses, fields)
 *   judge0_zip.c    additional_files: a base64 zip -> v1 files
 *
 * A Judge0 token is the v1 id written as a UUID (8-4-4-4-12 of the same 32
 * hex digits), so the mapping needs no table. The front keeps the Judge0
 * fields that v1 has no place for in the request's meta ({"front":
 * "judge0", ...}). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "../../common/jsonutil.h"
#include "../../common/store.h"
#include "compat.h"

#define JUDGE0_VERSION "1.13.1"
#define JUDGE0_UTF8_ERROR                                                                          \
    "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true "   \
    "query parameter"

/* Judge0's defaults and bounds (its Config module, default environment). */
#define J0_CPU_TIME_LIMIT 5.0
#define J0_MAX_CPU_TIME_LIMIT 15.0
#define J0_CPU_EXTRA_TIME 1.0
#define J0_MAX_CPU_EXTRA_TIME 5.0
#define J0_WALL_TIME_LIMIT 10.0
#define J0_MAX_WALL_TIME_LIMIT 20.0
#define J0_MEMORY_LIMIT 128000
#define J0_MAX_MEMORY_LIMIT 512000
#define J0_STACK_LIMIT 64000
#define J0_MAX_STACK_LIMIT 128000
#define J0_MAX_PROCESSES 60
#define J0_MAX_MAX_PROCESSES 120
#define J0_MAX_FILE_SIZE 1024
#define J0_MAX_MAX_FILE_SIZE 4096
#define J0_NUMBER_OF_RUNS 1
#define J0_MAX_NUMBER_OF_RUNS 20
#define J0_MAX_EXTRACT_SIZE 10240
#define J0_MAX_BATCH 20
#define J0_CALLBACKS_MAX_TRIES 3
#define J0_CALLBACKS_TIMEOUT 5.0

/* ---- languages (judge0_lang.c) ---- */
typedef struct {
    int id;
    const char *name;        /* printf format taking the version, or a plain name */
    const char *version_pkg; /* package whose version the name shows; NULL: none */
    const char *packages[6]; /* NULL-terminated */
    const char *source_file; /* NULL: a project (89) */
    const char *compile_cmd; /* "%s": compiler_options; NULL: none */
    const char *run_cmd;
    bool executable; /* the source file is made executable (44) */
    int open_files;  /* the run's open_files when the language needs more (R), or 0 */
} j0_language;

/* The language with Judge0 id, or NULL. */
const j0_language *j0_language_get(int id);
/* Whether every package of l is in the set (NULL set: unknown, true). */
bool j0_language_available(const j0_language *l, const json_t *pkgset);
/* l's display name with the set's version ("Python (3.11.2)"). */
void j0_language_name(const j0_language *l, const json_t *pkgset, char *buf, size_t len);
/* {id, name, is_archived, source_file, compile_cmd, run_cmd} as Judge0
 * shows them (commands as Judge0 documents them). New reference. */
json_t *j0_language_json(const j0_language *l, const json_t *pkgset, bool full);
/* Every available language, sorted by name. New reference. */
json_t *j0_languages_list(const json_t *pkgset, bool with_archived);

/* ---- requests (judge0_submit.c) ---- */
/* Translates one Judge0 submission into a v1 request. 0 with *v1 set; or
 * -EINVAL with *errors set to Judge0's {"field": ["message", ...]} (422). */
int j0_to_v1(api_call *c, json_t *in, bool base64, json_t **v1, json_t **errors);

/* ---- answers (judge0_view.c) ---- */
#define J0_F_N 35 /* the submission's fields (judge0_view.c) */
typedef struct {
    bool want[J0_F_N];
} j0_fields;
/* Parses ?fields= (NULL/"": the default set; "*": all). -EINVAL with the
 * unknown names listed in bad (Judge0's "invalid fields: [a, b]"). */
int j0_fields_parse(const char *spec, j0_fields *f, char *bad, size_t badlen);
/* Renders the stored submission id (store_submission_get). 0 with *out;
 * -ENOENT; -EILSEQ when a text is not UTF-8 and !base64; other < 0. */
int j0_render(store *s, const config *cfg, const char *id, const j0_fields *f, bool base64,
              json_t **out);
/* The Judge0 status {id, description} of status_id. */
const char *j0_status_name(int id);
/* v1 id <-> Judge0 token. */
void j0_token_from_id(const char *id, char token[37]);
bool j0_id_from_token(const char *token, char id[33]);
/* Base64 as Ruby's Base64.encode64: a newline after every 60 characters and
 * at the end. malloc'd. */
char *j0_b64_encode(const void *data, size_t len);

/* ---- additional_files (judge0_zip.c) ---- */
/* Unpacks a zip into v1 files (appended to files, base64 content); sets
 * *has_compile / *has_run when the archive has those scripts. 0, or
 * -EINVAL with msg. */
int j0_zip_to_files(const void *zip, size_t len, json_t *files, bool *has_compile, bool *has_run,
                    char *msg, size_t msglen);

/* ---- callbacks (judge0_view.c) ---- */
/* Judge0's callback (PUT of the default fields, base64) of a stored row. */
char *j0_callback_body(store *s, const config *cfg, const json_t *row, const char **method);
