/* builder_internal.h — what the files of builder/ share and nobody else uses. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "builder.h"
#include "nixrun.h"

/* A name that can be a package attribute: [A-Za-z_][A-Za-z0-9_+.-]*, <= 128. */
bool builder_name_is_plain(const char *s);

/* 1 when dpkg's state is in flux, with why filled: apt or dpkg holds the
 * lock of the admin dir that holds status_path (lock-frontend, lock; only
 * tested, never taken), or a package in status_path is in a transient state
 * (half-installed, unpacked, ...); 0 when not (builder/dpkgbusy.c). */
int builder_dpkg_busy(const char *status_path, char *why, size_t whylen);

/* Checks a set's names against the generation dir it is built from: each a
 * package of dir's packages.json, and, for a generated set, glibc present.
 * 0; -EINVAL with the same sentence as the API's (packages[i]: package "x"
 * is not available on this farm: <reason>); other -errno (builder/pkgset.c). */
int builder_pkgset_check_gen(const char *dir, json_t *names, char *err, size_t errlen);
/* Case-insensitive Levenshtein distance. */
size_t builder_edit_distance(const char *a, const char *b);

/* The Nix settings every command of this process gets from cfg. */
typedef struct {
    char *nix_dir;  /* owned: the package set and its nix.conf */
    char *conf_dir; /* owned: NIX_CONF_DIR (nix_dir when it has nix.conf, else NULL) */
    const char *bin_dir;
    int64_t timeout_ms;
    int64_t memory_kib;
    size_t log_bytes;
} builder_nix;

int builder_nix_init(const config *cfg, builder_nix *n);
void builder_nix_done(builder_nix *n);
/* nixrun with n's settings and no tick; out may be NULL. 0 when the command
 * exited 0, else -errno / -ENOEXEC with err telling how it ended and its log. */
int builder_nix_simple(const builder_nix *n, const char *const *argv, int64_t timeout_ms,
                       char **out, char *err, size_t errlen);

/* <state_dir>/builder-locks/<key>.lock, created; caller frees. */
char *builder_lock_path(const config *cfg, const char *key);

/* builder_build_claimed, also keeping a heartbeat alive while Nix runs
 * (heartbeat_id NULL: none). */
int builder_build_claimed_hb(const config *cfg, store *s, const char *owner,
                             const char *heartbeat_id, const store_depset_claimed *claimed,
                             volatile sig_atomic_t *stop, char *err, size_t errlen);

/* Removes <root> and the <root>-<output> links nix-build made beside it. */
void builder_remove_roots(const char *root);

/* mkdir -p; 0 or -errno. */
