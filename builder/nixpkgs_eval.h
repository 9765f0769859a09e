/* nixpkgs_eval.h — attribute paths of a nixpkgs package set, checked once per
 * set revision: nix/nixpkgs-eval.nix evaluates the ones the evaluation cache
 * (common/store_evalcache.h) does not have yet, in one nix-instantiate, and
 * records what it said, so the next submission naming them runs no Nix. */
#pragma once

#include <stddef.h>
#include <jansson.h>

#include "../common/config.h"
#include "../common/store.h"
#include "pkgsources.h"

/* Checks names (a JSON array of attribute paths, borrowed) of set src.
 * Returns 0 when every one is a derivation of the set; -EINVAL with a
 * sentence naming the first bad one, e.g.
 *   packages[1]: package set nixpkgs-24.11 has no python3Packages.nump: no
 *   attribute "nump" in "python3Packages"
 * (index_base is added to the index: the caller's position of names[0]);
 * -ENOEXEC when Nix could not evaluate the set itself (err holds its log);
 * other -errno. *info_out (may be NULL) gets an object attr -> cached result
 * of every name. *evaluated_out (may be NULL) says how many names Nix had to
 * evaluate now (0: all came from the cache). */
int builder_nixpkgs_check(const config *cfg, store *s, const pkgsource *src, json_t *names,
                          size_t index_base, json_t **info_out, size_t *evaluated_out, char *err,
                          size_t errlen);
