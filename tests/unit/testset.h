/* testset.h — a package set in a store test: its spec and key, and taking it
 * through the builder's side (claim, then ready or failed) the way a cache
 * builder would, so queue and dashboard tests start from a built set.
 *
 *   test_set t;
 *   testset_make(&t, "gcc");
 *   testset_build(s, &t, true);   // ready, with a two-path closure */
#pragma once

#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hash.h"
#include "store.h"

typedef struct {
    store_depset_ref ref;
    char spec[256];
} test_set;

/* The spec of a set of the one package name, and its key. */
static inline void testset_make(test_set *t, const char *name)
{
    snprintf(t->spec, sizeof(t->spec), "{\"packages\":[\"%s\"],\"set\":\"test\"}", name);
    hash_sha256_hex(t->spec, strlen(t->spec), t->ref.key);
    t->ref.spec_json = t->spec;
}

/* Ensures the set, claims it as builder-1 (it must be the set claimed) and
 * ends the build: ready when ok, else failed. */
static inline void testset_build(store *s, test_set *t, bool ok)
{
    ck_assert_int_ge(store_depset_ensure(s, &t->ref), 0);
    store_depset_claimed c;
    ck_assert_int_eq(store_depset_claim(s, "builder-1", 60000, &c), 1);
    ck_assert_str_eq(c.key, t->ref.key);
    store_depset_claimed_done(&c);
    if (ok) {
        json_t *paths = json_pack("[s]", "/nix/store/aaaa-env");
        json_t *closure = json_pack("[s,s]", "/nix/store/aaaa-env", "/nix/store/bbbb-libc");
        ck_assert_int_eq(store_depset_ready(s, t->ref.key, "builder-1", paths, closure, 1234,
                                            "/var/roots/x", "built"),
                         0);
        json_decref(paths);
        json_decref(closure);
    } else {
        ck_assert_int_eq(store_depset_fail(s, t->ref.key, "builder-1", "error: no such package"),
                         0);
    }
}
