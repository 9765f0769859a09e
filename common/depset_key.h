/* depset_key.h — the canonical spec and key of a dependency set
 * (docs/contracts.md): identical sets get identical keys, so they share one build.
 *
 *   packages: spec {"packages": [sorted, unique names], "set": "<package-set id>"},
 *             key = SHA-256 hex of "packages\n" + set + "\n" + names joined by "\n"
 *   a named set other than the default (a nixpkgs source): the same key over
 *             that set's own id, spec {"package_set": "<name>", "packages":
 *             [...], "set": "<id>"}: the name tells the builder which source
 *             to build from; the id alone keeps the keys of sets apart
 *   expr:     spec {"expr": "<nix text>"}, key = SHA-256 hex of "expr\n" + text */
#pragma once

#include <stddef.h>

/* names need not be sorted or unique; each must be non-empty and free of
 * newlines and NULs (-EINVAL otherwise). key_out receives 64 hex characters and
 * a NUL; *spec_json_out (may be NULL if not wanted) is malloc'd, caller frees. */
int depset_key_for_packages(const char *set_id, const char *const *names, size_t n,
                            char key_out[65], char **spec_json_out);
/* The same for the set called set_name (not the default "debian"), whose id
 * is set_id; names are attribute paths. */
int depset_key_for_set(const char *set_name, const char *set_id, const char *const *names, size_t n,
                       char key_out[65], char **spec_json_out);
int depset_key_for_expr(const char *expr, char key_out[65], char **spec_json_out);
