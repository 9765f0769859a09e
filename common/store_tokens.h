/* store_tokens.h — the API's tables: bearer tokens and metric counters.
 *
 * Tokens: only the SHA-256 of a token is stored (the token itself is shown
 * once, at creation), with a name and scopes (a JSON array of "submit",
 * "read", "admin", "nix-expr"). A revoked token stays listed, marked with
 * revoked_at, and never authenticates again.
 *
 * Counters: name -> integer (schema/010_api_metrics.sql); triggers keep most
 * of them, the API adds HTTP status counts and result-cache hits in batches.
 * Same error rules as store.h. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "store.h"

/* Inserts a token row; id_out gets a fresh random id. scopes is borrowed. */
int store_token_create(store *s, const char *name, json_t *scopes, const char *token_sha256,
                       char id_out[33]);
/* 1 with *out = {id, name, scopes, created_at, last_used_at, revoked_at} when a
 * token with that hash exists (revoked or not: the caller checks), 0 when none. */
int store_token_find(store *s, const char *token_sha256, json_t **out);
/* Every token, oldest first, without hashes. */
int store_token_list(store *s, json_t **out);
/* 1 revoked now, 0 was already revoked, -ENOENT no such id. */
int store_token_revoke(store *s, const char *id);
/* Records a use (last_used_at); callers throttle this themselves. */
int store_token_touch(store *s, const char *id, int64_t now_ms);

/* Adds deltas to counters (created at 0) in one transaction. */
int store_counters_add(store *s, const char *const *names, const int64_t *deltas, size_t n);
/* {name: value} of every counter. New reference. */
int store_counters(store *s, json_t **out);
