/* local.c — dependency sets for `farm run` without a daemon.
 *
 * Same store, same rows, same build code as the builder role: a local run on
 * a machine where farmd also runs shares its cache both ways. When the set is
 * queued, this process claims work itself (the store hands out the oldest
 * queued set, which may be somebody else's: it is built all the same, then
 * the loop looks again); when another process is building it, this one waits
 * on the row. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder_internal.h"
#include "nixpkgs_eval.h"
#include "pkgsources.h"
#include "../common/cleanup.h"
#include "../common/depset_key.h"
#include "../common/jsonutil.h"

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void store_closep(store **s)
{
    if (*s)
        store_close(*s);
}

/* The key and spec of names on the nixpkgs set set_name, checked through
 * the evaluation cache in the configured store. */
static int nixpkgs_key(const config *cfg, const char *set_name, json_t *names, const char **nv,
                       size_t n, char key[65], char **spec, char *err, size_t errlen)
{
    pkgsource *src = NULL;
    int r = pkgsources_get(cfg, set_name, &src, err, errlen);
    if (r <= 0)
        return r < 0 ? r : -EINVAL;
    __attribute__((cleanup(store_closep))) store *s = NULL;
    if ((r = store_open_config(cfg, &s, err, errlen)) == 0 &&
        (r = builder_nixpkgs_check(cfg, s, src, names, 0, NULL, NULL, err, errlen)) == 0 &&
        (r = depset_key_for_set(set_name, src->id, nv, n, key, spec)) < 0)
        snprintf(err, errlen, "packages: cannot compute the set's key: %s", strerror(-r));
    pkgsource_free(src);
    return r;
}

int builder_realise_local(const config *cfg, json_t *names, json_t **depset_out, char *err,
                          size_t errlen)
{
    return builder_realise_local_set(cfg, NULL, names, depset_out, err, errlen);
}

int builder_realise_local_set(const config *cfg, const char *set_name, json_t *names,
                              json_t **depset_out, char *err, size_t errlen)
{
    bool nixpkgs = set_name && strcmp(set_name, PKGSOURCES_DEFAULT);
    int r = nixpkgs ? 0 : builder_validate_packages(cfg, names, err, errlen);
    if (r < 0)
        return r;
    char set_id[65];
    if (!nixpkgs && (r = builder_pkgset_id(cfg, set_id, err, errlen)) < 0)
        return r;
    size_t n = json_array_size(names);
    _cleanup_free_ const char **nv = calloc(n + 1, sizeof *nv);
    if (!nv)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        nv[i] = json_string_value(json_array_get(names, i));
    store_depset_ref ref = {0};
    _cleanup_free_ char *spec = NULL;
    if (nixpkgs) {
        r = nixpkgs_key(cfg, set_name, names, nv, n, ref.key, &spec, err, errlen);
        if (r < 0)
            return r;
    } else {
        r = depset_key_for_packages(set_id, nv, n, ref.key, &spec);
    }
    if (r < 0) {
        snprintf(err, errlen, "packages: cannot compute the set's key: %s", strerror(-r));
        return r;
    }
    ref.spec_json = spec;

    /* A local run killed while Nix built (kill -9, a closed terminal) left
     * its farm-nix-<pid>-N cgroup, and maybe sandboxed builders in it, under
     * our cgroup. Reap them here, not only before the next Nix run: most
     * runs are hits that never start Nix, and would leave them forever. */
    nixrun_reap_stale_cgroups();

    __attribute__((cleanup(store_closep))) store *s = NULL;
    if ((r = store_open_config(cfg, &s, err, errlen)) < 0)
        return r;
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    char owner[400];
    snprintf(owner, sizeof owner, "local-%s-%d", host, (int)getpid());
    int poll_ms = (int)config_int(cfg, "queue.poll_ms");
    bool retried_failed = false;

    for (;;) {
        json_t *row = NULL;
        r = builder_lookup(s, ref.key, &row);
        if (r < 0) {
            snprintf(err, errlen, "looking up the set: %s", strerror(-r));
            return r;
        }
        _cleanup_json_ json_t *owned = row;
        if (r == 1) {
            *depset_out = steal_pointer(&owned);
            return 0;
        }
        const char *state = row ? json_string_value(json_object_get(row, "state")) : NULL;
        if (state && !strcmp(state, "failed")) {
            if (retried_failed) {
                const char *log = json_string_value(json_object_get(row, "log"));
                snprintf(err, errlen, "building the dependency set failed:\n%s",
                         log ? log : "(no log)");
                return -ENOEXEC;
            }
            /* An old failure (the package set may have been fixed since):
             * try once more before reporting it. */
            retried_failed = true;
            if (store_depset_evict(s, ref.key) != 1) {
                const char *log = json_string_value(json_object_get(row, "log"));
                snprintf(err, errlen, "building the dependency set failed:\n%s",
                         log ? log : "(no log)");
                return -ENOEXEC;
            }
            state = NULL;
        }
        if (!state) {
            if ((r = store_depset_ensure(s, &ref)) < 0) {
                snprintf(err, errlen, "queueing the set: %s", strerror(-r));
                return r;
            }
            retried_failed = true; /* a failure from here on is this run's */
            continue;
        }
        if (!strcmp(state, "queued")) {
            store_depset_claimed c = {0};
            r = store_depset_claim(s, owner, config_int(cfg, "lease.ms"), &c);
            if (r < 0) {
                snprintf(err, errlen, "claiming the set: %s", strerror(-r));
                return r;
            }
            if (r == 1) {
                char e[4096];
                r = builder_build_claimed(cfg, s, owner, &c, NULL, e, sizeof e);
                store_depset_claimed_done(&c);
                if (r < 0 && r != -ESTALE) {
                    snprintf(err, errlen, "building: %s", e);
                    return r;
                }
                continue;
            }
        }
        /* Building elsewhere (or claimed between our look and our claim).
         * Without a daemon nobody else requeues a dead builder's set. */
        store_requeue_counts rc;
        (void)store_requeue_expired(s, store_now_ms(), &rc);
        msleep(poll_ms > 0 && poll_ms < 200 ? poll_ms : 100);
    }
}
