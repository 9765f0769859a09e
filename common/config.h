/* config.h — every setting of every process, with a working default.
 *
 * Sources, later wins: the defaults in config_keys.def; the JSON file given to
 * config_load (or named by FARM_CONFIG); environment FARM_<KEY> where KEY is
 * the key upper-cased with '.' turned into '_' (e.g. "api.listen" ->
 * FARM_API_LISTEN); config_set (command-line flags, tests).
 * The file is a flat JSON object {"api.listen": "127.0.0.1:8080", ...} or a
 * nested one ({"api": {"listen": ...}}); an unknown key or a wrong type is an
 * error naming the key. Every key is declared once in config_keys.def. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

typedef struct config config;

/* path may be NULL (then FARM_CONFIG, then no file). On failure returns -errno,
 * fills err and leaves *out untouched. The caller owns *out (config_free). */
int config_load(const char *path, config **out, char *err, size_t errlen);
/* The same with the file's text given (len bytes; origin names it in errors). */
int config_load_text(const char *text, size_t len, const char *origin, config **out, char *err,
                     size_t errlen);
/* Defaults + environment only; never fails except on a bad FARM_ value. */
int config_new_default(config **out, char *err, size_t errlen);
void config_free(config *c);

/* Typed reads of a declared key. Reading an undeclared key is a programming
 * error: it logs and returns "" / 0 / false. Strings are owned by the config. */
const char *config_str(const config *c, const char *key);
long long config_int(const config *c, const char *key);
bool config_bool(const config *c, const char *key);

/* Sets a declared key from its string form ("true", "42", "text");
 * 0 or -EINVAL with err naming the key. */
int config_set(config *c, const char *key, const char *value, char *err, size_t errlen);

/* Every key with its value, default and description (new reference). */
json_t *config_dump(const config *c);

/* Convenience: state_dir joined with a relative path; caller frees. */
char *config_state_path(const config *c, const char *rel);
