/* auth.h — bearer tokens, scopes and the per-caller rate limit of the API.
 *
 * Tokens look like "nft_" + 64 hex characters; only their SHA-256 is stored
 * (common/store_tokens.h), so a stolen database does not hand out tokens.
 * Scopes: submit (create and cancel submissions), read (see submissions,
 * depsets, profiles), admin (drain, depset eviction, token-free metrics are
 * public anyway), nix-expr (submit arbitrary Nix expressions, whose builders
 * run code on the build host).
 *
 * With api.auth off every caller gets api.anonymous_scopes and is rate-limited
 * by client address; with it on, a missing or unknown token is 401, a revoked
 * one 401, a missing scope 403. The rate limit is a token bucket per caller
 * held in this process (one API process serves a farm; see docs/operations.md).
 *
 * `farmd token` (daemon/token.h) manages tokens from the command line. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../../common/config.h"
#include "../../common/store.h"

enum {
    AUTH_SUBMIT = 1u << 0,
    AUTH_READ = 1u << 1,
    AUTH_ADMIN = 1u << 2,
    AUTH_NIX_EXPR = 1u << 3,
    AUTH_WORKER = 1u << 4, /* remote workers: the lease protocol, blobs */
};
#define AUTH_ALL (AUTH_SUBMIT | AUTH_READ | AUTH_ADMIN | AUTH_NIX_EXPR | AUTH_WORKER)

typedef struct auth auth;

typedef struct {
    bool anonymous;
    char token_id[33]; /* "" when anonymous */
    unsigned scopes;
    char rate_key[80]; /* token id, or "addr:" + client address */
} auth_identity;

int auth_new(const config *cfg, auth **out, char *err, size_t errlen);
void auth_free(auth *a);
bool auth_required(const auth *a);

/* Who is calling: from the Authorization header (may be NULL). 0 with *id
 * filled; -EACCES (answer 401) with a sentence in err. */
int auth_identify(auth *a, store *s, const char *authorization, const char *client_addr,
                  auth_identity *id, char *err, size_t errlen);
/* Takes one request from the caller's bucket: 0 allowed, or the number of
 * seconds (>= 1) to wait before the next request would be allowed. The
 * bucket is in the store s (store_rate_take), shared by every API process;
 * without a store (or when it fails) in this process's table. */
int auth_rate_take(auth *a, store *s, const auth_identity *id);
/* This process's table at a given CLOCK_MONOTONIC time in ms (tests drive
 * the clock). */
int auth_rate_take_at(auth *a, const auth_identity *id, int64_t now_ms);

/* "submit,read" or ["submit", "read"] -> bits; -EINVAL names the bad scope. */
int auth_scopes_parse(const char *csv, unsigned *out, char *err, size_t errlen);
/* "submit", "read", ... for one bit. */
const char *auth_scope_name(unsigned bit);
