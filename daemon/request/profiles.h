/* profiles.h — language presets (daemon/request/profiles.json).
 *
 * A profile names the packages a language needs, its compile and run commands,
 * the file name its examples use, and limits that differ from the config
 * defaults. The version string shown by GET /v1/profiles comes from the package
 * set (nix/packages.json), so it is what the sandbox really runs.
 * Loaded once when the API starts; read-only afterwards, so threads share it. */
#pragma once

#include <jansson.h>
#include "../../common/config.h"

typedef struct profiles profiles;

/* Loads api.profiles.file (default: FARM_SOURCE_ROOT/daemon/request/profiles.json) and
 * checks every profile's shape. Caller owns *out. */
int profiles_load(const config *cfg, profiles **out, char *err, size_t errlen);
/* Same from a JSON text, for tests. packages_json may be NULL (no versions). */
int profiles_parse(const char *text, const char *packages_json, profiles **out, char *err,
                   size_t errlen);
void profiles_free(profiles *p);

/* The profile object of a name or an alias (borrowed, valid while p lives) or
 * NULL: {packages: [...], compile: str|null, run: str, file: str,
 *  version: str|null, limits: {run: {...}, compile: {...}}, description: str,
 *  aliases: [str...]}. */
const json_t *profiles_get(const profiles *p, const char *name);
/* Comma-separated names, for error messages; borrowed. */
const char *profiles_names(const profiles *p);
/* {name: profile, ...} for GET /v1/profiles. New reference. */
json_t *profiles_all(const profiles *p);
