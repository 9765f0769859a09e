/* bench/evalcache.c — checking a submission's nixpkgs attribute paths: the
 * evaluation cache's hit path against a cold nix-instantiate, in one run.
 *
 *   hit:   what the API does per submission on a set whose attributes were
 *          evaluated before: pkgsources_get (read the sources file, the
 *          revision) + builder_nixpkgs_check answered by the store's
 *          eval_cache rows;
 *   floor: the same check with no cache, so nix/nixpkgs-eval.nix runs in
 *          nix-instantiate every time (what a farm without the cache pays).
 *
 * The nixpkgs tree is tests/nixpkgs-fixture (its derivations come from the
 * offline set, so evaluating it also evaluates that set's manifests, as real
 * nixpkgs evaluates its own tree); real nixpkgs costs seconds per cold
 * evaluation, so the ratio here is a lower bound. Prints the times and the
 * ratio floor/hit. Everything lives under a temporary directory removed at
 * the end.
 *
 * usage: bench-evalcache [hits=5000] [colds=10] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder.h"
#include "nixpkgs_eval.h"
#include "pkgsources.h"
#include "farm-build-config.h"
#include "../common/config.h"
#include "../common/store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One submission's check: the set by name, then its attributes. */
static int check_once(const config *cfg, store *s, json_t *names, size_t *evaluated, char *err,
                      size_t errlen)
{
    pkgsource *src = NULL;
    int r = pkgsources_get(cfg, "fixture", &src, err, errlen);
    if (r <= 0)
        return r < 0 ? r : -ENOENT;
    r = builder_nixpkgs_check(cfg, s, src, names, 0, NULL, evaluated, err, errlen);
    pkgsource_free(src);
    return r;
}

int main(int argc, char **argv)
{
    long hits = argc > 1 ? atol(argv[1]) : 5000;
    long colds = argc > 2 ? atol(argv[2]) : 10;
    char tmp[] = "/tmp/farm-bench-evalcache-XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    char err[8192] = "", path[4200], cmd[8400];
    int rc = 1;
    config *cfg = NULL;
    store *s = NULL;
    char *gen = NULL;
    json_t *names = json_pack("[s, s]", "hello", "python3Packages.greet");
    FILE *f;

    if (config_new_default(&cfg, err, sizeof err) < 0 ||
        config_set(cfg, "state_dir", tmp, err, sizeof err) < 0) {
        fprintf(stderr, "bench-evalcache: config: %s\n", err);
        goto out;
    }
    /* The offline set the fixture's derivations come from. */
    if (builder_pkgset_dir(cfg, false, &gen, err, sizeof err) < 0) {
        fprintf(stderr, "bench-evalcache: package set: %s\n", err);
        goto out;
    }
    snprintf(cmd, sizeof cmd, "cp -r '%s/tests/nixpkgs-fixture' '%s/nixpkgs'", FARM_SOURCE_ROOT,
             tmp);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench-evalcache: %s failed\n", cmd);
        goto out;
    }
    snprintf(path, sizeof path, "%s/nixpkgs/offline.nix", tmp);
    if (!(f = fopen(path, "w")))
        goto out;
    fprintf(f, "import %s/nix/lib/set.nix { gen = \"%s\"; }\n", FARM_SOURCE_ROOT, gen);
    fclose(f);
    snprintf(path, sizeof path, "%s/sources.json", tmp);
    if (!(f = fopen(path, "w")))
        goto out;
    fprintf(f, "{\"fixture\": {\"path\": \"%s/nixpkgs\", \"rev\": \"bench\"}}\n", tmp);
    fclose(f);
    if (config_set(cfg, "nix.sources_file", path, err, sizeof err) < 0 ||
        store_open_config(cfg, &s, err, sizeof err) < 0) {
        fprintf(stderr, "bench-evalcache: %s\n", err);
        goto out;
    }

    size_t evaluated = 0;
    double t0 = now_s(), total = 0;
    for (long i = 0; i < colds; i++) {
        t0 = now_s();
        if (check_once(cfg, NULL, names, &evaluated, err, sizeof err) < 0 || evaluated != 2) {
            fprintf(stderr, "bench-evalcache: cold check: %s\n", err);
            goto out;
        }
        total += now_s() - t0;
    }
    double floor_s = total / (double)colds;

    t0 = now_s();
    if (check_once(cfg, s, names, &evaluated, err, sizeof err) < 0) {
        fprintf(stderr, "bench-evalcache: first check: %s\n", err);
        goto out;
    }
    printf("first check, filling the cache: %.1f ms (%zu evaluated)\n", (now_s() - t0) * 1e3,
           evaluated);
    unsigned long execs = builder_nix_exec_count();
    t0 = now_s();
    for (long i = 0; i < hits; i++) {
        if (check_once(cfg, s, names, &evaluated, err, sizeof err) < 0 || evaluated) {
            fprintf(stderr, "bench-evalcache: check %ld was not a hit: %s\n", i, err);
            goto out;
        }
    }
    double hit = (now_s() - t0) / (double)hits;
    if (builder_nix_exec_count() != execs) {
        fprintf(stderr, "bench-evalcache: the hit path ran Nix\n");
        goto out;
    }
    printf("hit path   sources + eval cache:   %10.1f us  (mean of %ld)\n", hit * 1e6, hits);
    printf("floor      cold nix-instantiate:  %10.1f us  (mean of %ld)\n", floor_s * 1e6, colds);
    printf("ratio      floor / hit:           %10.0f x\n", floor_s / hit);
    rc = 0;
out:
    if (s)
        store_close(s);
    config_free(cfg);
    free(gen);
    json_decref(names);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "bench-evalcache: could not remove %s\n", tmp);
    return rc;
}
