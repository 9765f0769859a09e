/* builder.h — the cache-builder: turns dependency sets into Nix store paths.
 *
 * Theory of operation
 * -------------------
 * A dependency set is a row in the store (common/store.h) whose key is the
 * SHA-256 of its canonical spec: {"packages": [...sorted names], "set": "<id>"}
 * or {"expr": "<nix text>"} (docs/contracts.md). The API and the CLI insert
 * rows; builder processes (farmd --role builder, `builder.count` of them) claim
 * queued rows with a lease, run Nix, and record the result:
 *
 *   claim (lease) -> per-key lock file -> nix-build --out-link <root>
 *     -> nix-store -qR (closure) -> nix-store -q --size (bytes)
 *     -> store_depset_ready (root already exists) -> quota -> optional export
 *
 * - Names are validated against <nix.dir>/packages.json and reach Nix only as
 *   one `--argstr names "a b c"`, never as Nix code. Expression sets
 *   ({"expr"}) are built only with `--option sandbox true`; whether a caller
 *   may submit one is the API's decision (token scope `nix-expr`).
 * - Nix runs in its own process group under a wall-time limit (the group and,
 *   when there is one, its memory cgroup are killed at the deadline), a memory
 *   limit (a memory cgroup beneath the caller's own, else RLIMIT_AS) and a log
 *   limit (only the last builder.log_bytes of its output are kept).
 * - Identical sets build once: the store deduplicates rows and hands a row to
 *   one lease holder; a lock file per key (<state_dir>/gcroots/<key>.lock,
 *   flock) keeps two processes from running Nix for one key even when a lease
 *   expired under a slow build.
 * - The GC root <state_dir>/gcroots/<key> exists before the row says ready, so
 *   a reader of a ready row may rely on its paths.
 * - A cache hit is decided without running Nix: the row is ready and its root
 *   symlink points at an existing path (builder_lookup).
 * - Quota: when the closure bytes of ready sets pass cache.quota_bytes, the
 *   least recently used sets nobody holds lose their row, then their root;
 *   then one `nix-store --gc`. A held set is never evicted.
 * - The package set comes from this machine's dpkg (pkgsetgen.c): generated
 *   into <state_dir>/pkgset/<id>/ by nix/regen, again when dpkg's status
 *   changes, and once more (with one retry of the build) when Nix reports a
 *   hash mismatch. Ready sets keep serving across a change; new keys carry the
 *   new id. The one log line of a change is written where it happens, in
 *   whichever process noticed it (an operator event, not an error).
 *
 * Errors follow the project rule: >= 0 success, -errno failure, and a sentence
 * in (err, errlen) where a person reads it. Nothing here calls exit() or logs
 * except builder_run, which is a process role, and the package-set change
 * above. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "../common/config.h"
#include "../common/store.h"

/* ---- the package set (<nix.dir>/packages.json) ---- */

/* The package-set directory: config nix.dir, or FARM_SOURCE_ROOT "/nix" when
 * that is empty. Caller frees; NULL only when out of memory. */
char *builder_nix_dir(const config *cfg);

/* <state_dir>/pkgset, or config nix.pkgset_dir: where the generations of
 * the machine-derived package set live (builder/pkgsetgen.c). Caller frees. */
char *builder_pkgset_base(const config *cfg);

/* The directory holding the package set's packages.json (and manifests/):
 * nix.dir itself when it holds a packages.json and no spec.json (a static
 * set), else the
 * generation of this machine's dpkg state under builder_pkgset_base, made by
 * <nix.dir>/regen when dpkg's state is new (or always, when force: after Nix
 * reported a hash mismatch). Costs a stat while dpkg's status file is
 * unchanged. A change of the current generation is logged and appended to
 * <pkgset dir>/changes. Thread-safe. *dir_out is the caller's; 0 or -errno
 * with err filled. */
int builder_pkgset_dir(const config *cfg, bool force, char **dir_out, char *err, size_t errlen);

/* How the machine-derived set changed so far: the number of lines of
 * <pkgset dir>/changes after the first generation, the current id ("" when
 * none) and the time of the last change (0 when none). 0 or -errno. */
int builder_pkgset_changes(const config *cfg, long long *changes, char current[65],
                           long long *changed_at);

/* The current package set for people: {"id", "dir", "packages": {name:
 * {version, debian_versions, bins, description...}}, "unavailable": {name:
 * {reason, debian_versions (null: not installed), description}}} (a static
 * set has no unavailable.json: empty). New reference; 0 or -errno. */
int builder_pkgset_describe(const config *cfg, json_t **out, char *err, size_t errlen);

/* The package-set id: SHA-256 hex of packages.json. The file is read once per
 * process and again only when its size or mtime changes; thread-safe (the API
 * calls it from its request threads). 0 or -errno with err filled. */
int builder_pkgset_id(const config *cfg, char id_out[65], char *err, size_t errlen);

/* The known attribute names, sorted (new reference). 0 or -errno. */
int builder_pkgset_names(const config *cfg, json_t **out, char *err, size_t errlen);

/* Checks a client's package list: names must be a JSON array of strings,
 * each a known attribute name (an empty array passes: whether a submission
 * may have no packages is the API's rule). Returns 0 when all are known;
 * -EINVAL with a sentence such as
 *   packages[1]: unknown package "pyhton3"; closest known: python3, python
 * -ENOENT / -EIO / -EPROTO when the package set itself cannot be read. */
int builder_validate_packages(const config *cfg, json_t *names, char *err, size_t errlen);

/* Up to max known names closest to name (Levenshtein distance, ties by name),
 * best first, as a new JSON array (empty when nothing is close). */
int builder_closest_names(const config *cfg, const char *name, size_t max, json_t **out);

/* ---- the cache ---- */

/* <state_dir>/gcroots/<key>; caller frees. */
char *builder_root_path(const config *cfg, const char *key);

/* Hit check without running Nix. Returns 1 when the set is ready and its root
 * points at an existing store path (*depset_out, when not NULL, gets the row
 * as store_depset_get gives it, a new reference); 0 when it is not (missing,
 * queued, building, failed — *depset_out gets the row if there is one, else
 * NULL); < 0 on a store error. A ready row whose root has gone is requeued
 * (evicted and inserted again from its spec) and reported as 0; while
 * submissions hold or await it the store refuses that, and it stays as is. */
int builder_lookup(store *s, const char *key, json_t **depset_out);

/* Evicts one set if nobody holds or awaits it (DELETE /v1/depsets/{key}):
 * deletes the row, then removes its root; garbage collection is left to the
 * next builder_collect_garbage. 1 evicted; 0 held or awaited by submissions
 * (nothing changed, err says so); -EBUSY queued or building; -ENOENT. */
int builder_evict(const config *cfg, store *s, const char *key, char *err, size_t errlen);

/* Brings the ready sets under cache.quota_bytes (0 = no quota): evicts least
 * recently used unheld sets, then runs one `nix-store --gc` if any went.
 * Returns how many sets were evicted, or -errno. */
int builder_enforce_quota(const config *cfg, store *s, char *err, size_t errlen);

/* `nix-store --gc` with the farm's NIX_CONF_DIR. 0 or -errno. */
int builder_collect_garbage(const config *cfg, char *err, size_t errlen);

/* ---- building ---- */

/* The cache-builder process role (farmd --role builder): claims sets with a
 * lease, builds them, keeps the quota, until *stop is set. 0 after a clean
 * stop, <0 on a fatal error (logged once). daemon/roles.h lists it with the
 * other roles; it is declared here so builder/ needs nothing of daemon/. */
int builder_run(const config *cfg, int slot, volatile sig_atomic_t *stop);

/* Builds one claimed set (the code path of builder_run and of local runs):
 * takes the key's lock, runs Nix under the limits while renewing the lease,
 * roots, records ready or failed. Returns 1 ready, 0 failed (recorded with its
 * log), -ESTALE when the lease was lost (nothing recorded), -EINTR when *stop
 * was set (the Nix process group was killed, nothing recorded; the lease will
 * expire), other -errno on an internal error (the set is recorded failed when
 * the store still accepts it). stop may be NULL. */
int builder_build_claimed(const config *cfg, store *s, const char *owner,
                          const store_depset_claimed *claimed, volatile sig_atomic_t *stop,
                          char *err, size_t errlen);

/* For `farm run` without a daemon: validates names, computes the key
 * (depset_key_for_packages), opens the configured store, and returns the
 * ready row (new reference in *depset_out). A hit runs no Nix; a miss builds
 * inline through builder_build_claimed, or waits while another process builds
 * it. Returns 0 ready; -EINVAL bad names (err says which); -ENOEXEC the build
 * failed (err holds the log tail); other -errno. */
int builder_realise_local(const config *cfg, json_t *names, json_t **depset_out, char *err,
                          size_t errlen);
/* The same on the package set called set_name: NULL or "debian" is the
 * default set; another name is a nixpkgs set of nix.sources_file, whose names
 * are attribute paths checked through the evaluation cache (-EINVAL with the
 * sentence for an unknown set or attribute). */
int builder_realise_local_set(const config *cfg, const char *set_name, json_t *names,
                              json_t **depset_out, char *err, size_t errlen);

/* ---- the binary cache (optional sharing with other machines) ---- */

/* Copies paths (a JSON array of store paths, closures included by Nix) to
 * cache.export_url signed with cache.secret_key_file, zstd-compressed.
 * 0 (also when no export is configured) or -errno with err. */
int builder_export(const config *cfg, json_t *paths, char *err, size_t errlen);

/* Fills a Nix store from a signed binary cache (a remote worker's side):
 * `nix copy --from url` of paths and their closures, requiring signatures by
 * pubkey ("name:base64", as --generate-binary-cache-key writes it). to_store
 * is a Nix store URI or a chroot store directory; NULL means the local store.
 * cfg may be NULL (nix from PATH, the default Nix configuration).
 * 0 or -errno with err. */
int builder_import_from_cache(const config *cfg, const char *url, const char *pubkey,
                              const char *to_store, const char *const *paths, size_t n_paths,
                              char *err, size_t errlen);

/* ---- observability ---- */

/* How many Nix processes this process has started (tests prove that a hit
 * runs none). */
unsigned long builder_nix_exec_count(void);
