/* pkgsources.h — the package sets a submission may choose by name: the
 * embedded Debian-derived set "debian" (builder.h, pkgset.c) and the nixpkgs
 * sources an operator lists in the file named by config nix.sources_file:
 *
 *   {"nixpkgs-24.11": {"path": "/srv/nixpkgs",            (a checkout or channel)
 *                      "rev": "optional pinned revision label"},
 *    "nixpkgs-unstable": {"tarball": "https://.../nixpkgs.tar.gz",
 *                         "sha256": "<the lock: nix-prefetch-url --unpack>"},
 *    ... each optionally with "substituters": [url...],
 *        "trusted_public_keys": ["name:base64"...], "system": "x86_64-linux",
 *        "packages": [attribute paths listed in /v1/packages]}
 *
 * Each set has its own package-set id, the SHA-256 of its kind and revision
 * (a tarball: its locked hash; a path: "rev", else the file .git-revision a
 * channel carries, else a fingerprint of the tree's names, sizes and mtimes),
 * so dependency-set keys of two sets or two revisions never mix. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "../common/config.h"

#define PKGSOURCES_DEFAULT "debian"

typedef struct {
    char *name;
    json_t *def;        /* owned: the entry of the sources file */
    char id[65];        /* the package-set id at the current revision */
    char *revision;     /* owned: what the id was computed from, for people */
    char *source_arg;   /* owned: {"path"} or {"url", "sha256"} JSON, the --argstr of
                           nix/nixpkgs-*.nix */
    char *system;       /* owned: "x86_64-linux" unless the entry says */
    char *substituters; /* owned: space-separated, NULL when none given */
    char *trusted_keys; /* owned: space-separated, NULL when none given */
} pkgsource;

void pkgsource_free(pkgsource *p);
static inline void pkgsource_freep(pkgsource **p)
{
    if (*p)
        pkgsource_free(*p);
}
#define _cleanup_pkgsource_ __attribute__((cleanup(pkgsource_freep)))

/* A name a set may have: [a-z0-9][a-z0-9._-]*, at most 64 characters. */
bool pkgsources_name_ok(const char *name);

/* The nixpkgs source called name, with its id at the current revision:
 * 1 with *out filled (caller frees); 0 when cfg names no such source (err
 * says which ones it has); -errno with err when the sources file or the
 * entry is wrong (the sentence names the entry and the field). */
int pkgsources_get(const config *cfg, const char *name, pkgsource **out, char *err, size_t errlen);

/* The names of the configured nixpkgs sources, sorted (new reference; empty
 * when nix.sources_file is unset). 0 or -errno with err. */
int pkgsources_names(const config *cfg, json_t **out, char *err, size_t errlen);

/* The Nix options of a source's commands (--option substituters ... and
 * trusted-public-keys), appended to argv at *i (room for 6 more); the strings
 * are owned by p. */
void pkgsource_nix_options(const pkgsource *p, const char **argv, int *i);

/* An attribute path a client may name: dot-separated segments of
 * [A-Za-z0-9_+'-] (no quotes, no empty segment), at most 256 characters.
 * The only guard between a client's string and the --argstr Nix splits. */
bool pkgsources_attr_ok(const char *attr);
