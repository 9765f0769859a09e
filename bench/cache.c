/* bench/cache.c — the builder's hit path against Nix's own, in one run.
 *
 *   hit:   builder_lookup (one row read + one stat of the GC root), the check
 *          a worker or `farm run` makes before using a set;
 *   peer:  a no-op `nix-build depset.nix --argstr names ... --out-link root`
 *          of the same, already built set (what a cache without its own
 *          index would run every time);
 *   cold:  each package of the set built alone into a fresh chroot store
 *          (`--store <tmp>`), so nothing is already there.
 *
 * Prints the times and the ratio peer/hit (goal >= 100). Uses the project's
 * nix/ package set; everything it makes lives under a temporary directory
 * that is removed at the end.
 *
 * usage: bench-cache [lookups=20000] [nix-builds=20] [packages: all|none|a,b] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "builder.h"
#include "builder_internal.h"
#include "nixrun.h"
#include "../common/config.h"
#include "../common/depset_key.h"
#include "../common/store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run_nix(const builder_nix *nix, const char **argv, double *secs, char *err,
                   size_t errlen)
{
    nixrun_opts o = {
        .argv = argv, .bin_dir = nix->bin_dir, .conf_dir = nix->conf_dir, .timeout_ms = 600000};
    nixrun_result r;
    double t0 = now_s();
    int ret = nixrun(&o, &r, err, errlen);
    *secs = now_s() - t0;
    if (ret == 0 && !(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)) {
        snprintf(err, errlen, "%s failed:\n%s", argv[0], r.log);
        ret = -ENOEXEC;
    }
    nixrun_result_done(&r);
    return ret;
}

int main(int argc, char **argv)
{
    long lookups = argc > 1 ? atol(argv[1]) : 20000;
    long builds = argc > 2 ? atol(argv[2]) : 20;
    const char *which = argc > 3 ? argv[3] : "all";
    char tmp[] = "/tmp/farm-bench-cache-XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    char err[8192] = "", cmd[4200];
    int rc = 1;
    config *cfg = NULL;
    store *s = NULL;
    json_t *names = NULL, *row = NULL;
    builder_nix nix = {0};
    char *gen = NULL;

    if (config_new_default(&cfg, err, sizeof err) < 0 ||
        config_set(cfg, "state_dir", tmp, err, sizeof err) < 0 || builder_nix_init(cfg, &nix) < 0) {
        fprintf(stderr, "bench-cache: config: %s\n", err);
        goto out;
    }

    /* The hit path needs one ready set: busybox, built (or found) here. */
    names = json_pack("[s]", "busybox");
    double t0 = now_s();
    if (builder_realise_local(cfg, names, &row, err, sizeof err) < 0) {
        fprintf(stderr, "bench-cache: realise: %s\n", err);
        goto out;
    }
    printf("first realise of {busybox} (warm store or cold): %.3f s\n", now_s() - t0);
    const char *key = json_string_value(json_object_get(row, "key"));
    const char *root = json_string_value(json_object_get(row, "root"));
    if (store_open_config(cfg, &s, err, sizeof err) < 0) {
        fprintf(stderr, "bench-cache: store: %s\n", err);
        goto out;
    }

    unsigned long execs = builder_nix_exec_count();
    t0 = now_s();
    for (long i = 0; i < lookups; i++) {
        if (builder_lookup(s, key, NULL) != 1) {
            fprintf(stderr, "bench-cache: lookup %ld was not a hit\n", i);
            goto out;
        }
    }
    double hit = (now_s() - t0) / (double)lookups;
    if (builder_nix_exec_count() != execs) {
        fprintf(stderr, "bench-cache: the hit path ran Nix\n");
        goto out;
    }

    char depset_nix[600];
    snprintf(depset_nix, sizeof depset_nix, "%s/depset.nix", nix.nix_dir);
    if (builder_pkgset_dir(cfg, false, &gen, err, sizeof err) < 0) {
        fprintf(stderr, "bench-cache: package set: %s\n", err);
        goto out;
    }
    const char *nb[] = {"nix-build", depset_nix, "--argstr",   "names", "busybox", "--argstr",
                        "gen",       gen,        "--out-link", root,    NULL};
    double secs, total = 0;
    for (long i = 0; i < builds; i++) {
        if (run_nix(&nix, nb, &secs, err, sizeof err) < 0) {
            fprintf(stderr, "bench-cache: no-op nix-build: %s\n", err);
            goto out;
        }
        total += secs;
    }
    double peer = total / (double)builds;
    printf("hit path   builder_lookup:        %10.1f us  (mean of %ld)\n", hit * 1e6, lookups);
    printf("peer       no-op nix-build:        %10.1f us  (mean of %ld)\n", peer * 1e6, builds);
    printf("ratio      peer / hit:             %10.0f x   (goal >= 100)\n", peer / hit);

    /* Cold builds, one package each, into an empty chroot store. */
    json_t *all = NULL;
    if (strcmp(which, "none") && builder_pkgset_names(cfg, &all, err, sizeof err) == 0) {
        printf("cold build per package (fresh chroot store, includes importing host files):\n");
        size_t i;
        json_t *v;
        json_array_foreach(all, i, v)
        {
            const char *n = json_string_value(v);
            if (strcmp(which, "all")) {
                char list[1024];
                snprintf(list, sizeof list, ",%s,", which);
                char needle[200];
                snprintf(needle, sizeof needle, ",%s,", n);
                if (!strstr(list, needle))
                    continue;
            }
            char storedir[600];
            snprintf(storedir, sizeof storedir, "%s/cold-%s", tmp, n);
            const char *cb[] = {"nix-build", depset_nix, "--argstr",      "names",
                                n,           "--argstr", "gen",           gen,
                                "--store",   storedir,   "--no-out-link", NULL};
            int r = run_nix(&nix, cb, &secs, err, sizeof err);
            if (r < 0)
                printf("  %-12s failed: %.200s\n", n, err);
            else
                printf("  %-12s %8.2f s\n", n, secs);
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", storedir);
            if (system(cmd) != 0)
                fprintf(stderr, "bench-cache: could not remove %s\n", storedir);
        }
        json_decref(all);
    }
    rc = 0;
out:
    free(gen);
    if (s)
        store_close(s);
    json_decref(row);
    json_decref(names);
    builder_nix_done(&nix);
    config_free(cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "bench-cache: could not remove %s\n", tmp);
    return rc;
}
