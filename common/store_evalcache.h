/* store_evalcache.h — the evaluation cache of nixpkgs package sets: per
 * package-set id (one source at one revision) and attribute path, what
 * nix-instantiate said (schema/080_evalcache.sql). Written by whoever
 * evaluated (the API, the builder), read by every process. */
#pragma once

#include <jansson.h>

#include "store.h"

/* 1 with *result_out (a new reference: {"ok": true, ...} or {"ok": false,
 * "error"}) when (set_id, attr) was evaluated; 0 when not; < 0 on a store
 * error. */
int store_evalcache_get(store *s, const char *set_id, const char *attr, json_t **result_out);

/* Records every attribute of results (an object attr -> result, borrowed;
 * a result's "ok" says whether the attribute is a derivation) under set_id,
 * replacing entries already there, and deletes the entries source (the
 * set's name) has under any other id: a revision it has left. One
 * transaction. 0 or < 0. */
int store_evalcache_put_many(store *s, const char *source, const char *set_id,
                             const json_t *results);

/* Every entry of set_id, as an object attr -> result (new reference).
 * 0 or < 0. */
int store_evalcache_list(store *s, const char *set_id, json_t **out);
