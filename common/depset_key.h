/* depset_key.h — the canonical spec and key of a dependency set
 * (docs/contracts.md): identical sets get identical keys, so they share one build.
 *
 *   packages: spec {"packages": [sorted, unique names], "set": "<package-set id>"},
 *             key = SHA-256 hex of "packages\n" + set + "\n" + names joined by "\n"
 *   expr:     spec {"expr": "<nix text>"}, key = SHA-256 hex of "expr\n" + text */
#pragma once

#include <stddef.h>

/* names need not be sorted or unique; each must be non-empty and free of
 * newlines and NULs (-EINVAL otherwise). key_out receives 64 hex characters and
 * a NUL; *spec_json_out (may be NULL if not wanted) is malloc'd, caller frees. */
int depset_key_for_packages(const char *set_id, const char *const *names, size_t n,
                            char key_out[65], char **spec_json_out);
int depset_key_for_expr(const char *expr, char key_out[65], char **spec_json_out);
