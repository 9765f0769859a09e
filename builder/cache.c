/* cache.c — the cache side of dependency sets: the hit check that runs no
 * Nix, eviction (one set, or LRU sets down to the byte quota), garbage
 * collection, and the optional signed binary cache shared with other
 * machines.
 *
 * Eviction order matters: the row goes first (store_depset_evict refuses,
 * atomically, when a submission holds the set), the root second, the GC
 * last. Dropping the root first could strand a set that a submission claimed
 * in between. Closure bytes are summed per set, so paths shared between sets
 * count once per set: the quota is an upper bound of what the sets pin. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "builder_internal.h"
#include "../common/cleanup.h"
#include "../common/jsonutil.h"

static bool root_alive(const char *root)
{
    struct stat st;
    /* stat follows the link: the store path it names must still exist. */
    return root && root[0] && stat(root, &st) == 0;
}

int builder_lookup(store *s, const char *key, json_t **depset_out)
{
    if (depset_out)
        *depset_out = NULL;
    json_t *row = NULL;
    int r = store_depset_get(s, key, &row);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    _cleanup_json_ json_t *owned = row;
    const char *state = json_string_value(json_object_get(row, "state"));
    const char *root = json_string_value(json_object_get(row, "root"));
    int hit = 0;
    if (state && !strcmp(state, "ready")) {
        if (root_alive(root)) {
            hit = 1;
        } else {
            /* Someone removed the root (or a GC ran without it): the paths
             * may be gone, so the set goes back to the builders. Holders
             * keep what they have; new claims wait for the rebuild. The
             * dangling links go first, while the row still says ready (no
             * builder touches a ready set), so they cannot be a fresh build's. */
            if (root && !root_alive(root))
                builder_remove_roots(root);
            r = store_depset_requeue(s, key);
            if (r < 0)
                return r == -ENOENT ? 0 : r;
            json_decref(steal_pointer(&owned));
            r = store_depset_get(s, key, &row);
            if (r < 0)
                return r == -ENOENT ? 0 : r;
            owned = row;
        }
    }
    if (depset_out)
        *depset_out = steal_pointer(&owned);
    return hit;
}

int builder_evict(const config *cfg, store *s, const char *key, char *err, size_t errlen)
{
    _cleanup_json_ json_t *row = NULL;
    int r = store_depset_get(s, key, &row);
    if (r < 0) {
        snprintf(err, errlen, "%s", r == -ENOENT ? "no such dependency set" : strerror(-r));
        return r;
    }
    const char *state = json_string_value(json_object_get(row, "state"));
    if (state && (!strcmp(state, "queued") || !strcmp(state, "building"))) {
        snprintf(err, errlen, "the set is %s; it can be evicted once it is ready or failed", state);
        return -EBUSY;
    }
    r = store_depset_evict(s, key);
    if (r < 0) {
        snprintf(err, errlen, "evicting: %s", strerror(-r));
        return r;
    }
    if (r == 0) {
        snprintf(err, errlen, "the set is held by running submissions");
        return 0;
    }
    const char *root = json_string_value(json_object_get(row, "root"));
    _cleanup_free_ char *mine = builder_root_path(cfg, key);
    if (root && root[0])
        builder_remove_roots(root);
    if (mine)
        builder_remove_roots(mine);
    return 1;
}

/* The GC lock, exclusive: waits (up to builder.timeout_ms) until no build of
 * this farm is in Nix. Returns the fd or -errno. */
static int lock_gc(const config *cfg, char *err, size_t errlen)
{
    _cleanup_free_ char *path = builder_lock_path(cfg, "gc");
    if (!path)
        return -ENOMEM;
    _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int64_t deadline = store_now_ms() + config_int(cfg, "builder.timeout_ms");
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK && errno != EINTR)
            return -errno;
        if (store_now_ms() >= deadline) {
            snprintf(err, errlen, "builds kept the garbage collector waiting; it runs next time");
            return -EBUSY;
        }
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    return steal_fd(&fd);
}

int builder_collect_garbage(const config *cfg, char *err, size_t errlen)
{
    _cleanup_close_ int fd = lock_gc(cfg, err, errlen);
    if (fd < 0)
        return fd;
    builder_nix nix;
    int r = builder_nix_init(cfg, &nix);
    if (r < 0)
        return r;
    const char *argv[] = {"nix-store", "--gc", NULL};
    r = builder_nix_simple(&nix, argv, 0, NULL, err, errlen);
    builder_nix_done(&nix);
    return r;
}

int builder_enforce_quota(const config *cfg, store *s, char *err, size_t errlen)
{
    long long quota = config_int(cfg, "cache.quota_bytes");
    if (quota <= 0)
        return 0;
    int64_t total = 0;
    int r = store_depset_total_bytes(s, &total);
    if (r < 0) {
        snprintf(err, errlen, "summing the cache: %s", strerror(-r));
        return r;
    }
    if (total <= quota)
        return 0;
    _cleanup_json_ json_t *cands = NULL;
    r = store_depset_eviction_candidates(s, &cands);
    if (r < 0) {
        snprintf(err, errlen, "listing eviction candidates: %s", strerror(-r));
        return r;
    }
    int evicted = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cands, i, c)
    {
        if (total <= quota)
            break;
        const char *key = json_string_value(json_object_get(c, "key"));
        const char *root = json_string_value(json_object_get(c, "root"));
        if (!key)
            continue;
        r = store_depset_evict(s, key);
        if (r != 1)
            continue; /* taken by a submission meanwhile, or gone */
        _cleanup_free_ char *mine = builder_root_path(cfg, key);
        if (root && root[0])
            builder_remove_roots(root);
        if (mine)
            builder_remove_roots(mine);
        total -= json_integer_value(json_object_get(c, "closure_bytes"));
        evicted++;
    }
    if (evicted > 0) {
        r = builder_collect_garbage(cfg, err, errlen);
        if (r < 0)
            return r;
    }
    return evicted;
}

/* url with "?" or "&" and the extra query parameters. */
static char *url_with(const char *url, const char *params)
{
    char *out = NULL;
    if (asprintf(&out, "%s%s%s", url, strchr(url, '?') ? "&" : "?", params) < 0)
        return NULL;
    return out;
}

static int run_copy(const builder_nix *nix, const char **head, size_t nhead,
                    const char *const *paths, size_t n, char *err, size_t errlen)
{
    _cleanup_free_ const char **argv = calloc(nhead + n + 1, sizeof *argv);
    if (!argv)
        return -ENOMEM;
    memcpy(argv, head, nhead * sizeof *argv);
    memcpy(argv + nhead, paths, n * sizeof *argv);
    argv[nhead + n] = NULL;
    return builder_nix_simple(nix, argv, 0, NULL, err, errlen);
}

int builder_export(const config *cfg, json_t *paths, char *err, size_t errlen)
{
    const char *url = config_str(cfg, "cache.export_url");
    if (!url || !url[0] || json_array_size(paths) == 0)
        return 0;
    const char *keyfile = config_str(cfg, "cache.secret_key_file");
    _cleanup_free_ char *params = NULL;
    if (asprintf(&params, "compression=zstd%s%s", keyfile && keyfile[0] ? "&secret-key=" : "",
                 keyfile && keyfile[0] ? keyfile : "") < 0)
        return -ENOMEM;
    _cleanup_free_ char *to = url_with(url, params);
    size_t n = json_array_size(paths);
    _cleanup_free_ const char **pv = calloc(n + 1, sizeof *pv);
    if (!to || !pv)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        pv[i] = json_string_value(json_array_get(paths, i));
    builder_nix nix;
    int r = builder_nix_init(cfg, &nix);
    if (r < 0)
        return r;
    const char *head[] = {"nix", "--extra-experimental-features", "nix-command", "copy", "--to",
                          to};
    r = run_copy(&nix, head, sizeof head / sizeof *head, pv, n, err, errlen);
    builder_nix_done(&nix);
    return r;
}

int builder_import_from_cache(const config *cfg, const char *url, const char *pubkey,
                              const char *to_store, const char *const *paths, size_t n_paths,
                              char *err, size_t errlen)
{
    if (!url || !url[0] || !pubkey || !pubkey[0] || n_paths == 0) {
        snprintf(err, errlen, "importing needs a cache URL, its public key and store paths");
        return -EINVAL;
    }
    builder_nix nix;
    int r = builder_nix_init(cfg, &nix);
    if (r < 0)
        return r;
    if (!cfg) {
        /* No config: Nix from PATH with the host's own configuration. */
        free(nix.conf_dir);
        nix.conf_dir = NULL;
        nix.bin_dir = "";
    }
    const char *head[20];
    size_t h = 0;
    head[h++] = "nix";
    head[h++] = "--extra-experimental-features";
    head[h++] = "nix-command";
    head[h++] = "copy";
    head[h++] = "--from";
    head[h++] = url;
    if (to_store && to_store[0]) {
        head[h++] = "--to";
        head[h++] = to_store;
    }
    /* Only what the farm signed is accepted. */
    head[h++] = "--option";
    head[h++] = "trusted-public-keys";
    head[h++] = pubkey;
    head[h++] = "--option";
    head[h++] = "require-sigs";
    head[h++] = "true";
    /* A worker may ask before the builder's export has landed and retries:
     * Nix must not remember "not in the cache" (an hour by default). */
    head[h++] = "--option";
    head[h++] = "narinfo-cache-negative-ttl";
    head[h++] = "0";
    r = run_copy(&nix, head, h, paths, n_paths, err, errlen);
    builder_nix_done(&nix);
    return r;
}
