/* piston_runtimes.h — the languages the Piston front offers and how each one
 * compiles and runs, built from the package set of the moment.
 *
 * A static table names, per Piston language, its aliases (Piston's own), the
 * package of the set that serves it, and the shell commands that compile and
 * run the entry point. piston_runtimes_build keeps the rows whose package the
 * set has, with the package's version coerced to plain semver. Lookup is
 * Piston's: the language or one of its aliases, the highest version that
 * satisfies the requested range. Pure functions over JSON. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "semver.h"

typedef struct {
    const char *language;   /* canonical Piston name: "python", "c++" */
    const char *aliases[6]; /* NULL-terminated */
    const char *package;    /* attribute of the package set; its version is the runtime's */
    const char *extra;      /* one more package its programs expect (coreutils for bash), or NULL */
    const char *runtime;    /* the package's name when it serves several languages, else NULL */
    const char *compile;    /* NULL for interpreted; "{files}" = the code files, quoted */
    const char *run;        /* "{entry}" = the entry file, quoted */
    int open_files;         /* the run's open_files when the language needs more (R), or 0 */
} piston_lang;

typedef struct {
    const piston_lang *lang;
    semver version;
    char version_str[80];
} piston_runtime;

/* The static table, NULL-language terminated. */
extern const piston_lang piston_langs[];

/* Rows of the table whose package is in packages ({name: {version}} or
 * {"packages": {...}}), in table order. *out is malloc'd (caller frees), *n
 * its length. */
int piston_runtimes_build(const json_t *packages, piston_runtime **out, size_t *n);
/* [{language, version, aliases, runtime?}] as GET /api/v2/runtimes answers. */
json_t *piston_runtimes_json(const piston_runtime *rts, size_t n);
/* The runtime for language (name or alias) whose version is the highest
 * satisfying range, or NULL. */
const piston_runtime *piston_runtime_find(const piston_runtime *rts, size_t n, const char *language,
                                          const char *range);
