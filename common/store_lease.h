/* store_lease.h — the one lease module: claim, renew, owner checks, release
 * and expiry for every leased table (submissions, dependency sets, webhook
 * deliveries). A lease is (lease_owner, lease_expires_at ms) on a row in
 * its "held" state; every failure leaves its sentence in the store's error
 * (store_last_error): -ESTALE "… is not leased to <owner> any more (state
 * …)", -ENOENT "no such …". Only common/store*.c include this. */
#pragma once

#include "store_internal.h"

/* One leased table. The SQL is per backend ([0] SQLite, [1] PostgreSQL),
 * written with the parameters named in each comment. */
typedef struct {
    const char *what; /* "submission", "dependency set", "webhook delivery" */
    /* ?1 key, ?2 owner, ?3 new expiry: extend a lease the owner holds */
    const char *renew[2];
    /* ?1 key: the row's state (for the sentence) */
    const char *state[2];
    /* ?1 key, ?2 owner: one row while owner holds it (locks it in PostgreSQL) */
    const char *held[2];
    /* ?1 owner, ?2 now + 1: let every lease of owner run out */
    const char *expire_owner[2];
    /* ?1 now: key, owner, item, attempts, max_attempts of every expired
     * lease (locked and skipped by other checkers in PostgreSQL) */
    const char *expired[2];
    /* ?1 key, ?2 new state, ?3 why, ?4 now: end an expired lease */
    const char *end[2];
} store_lease_kind;

/* One expired lease: its row's key, the owner that let it lapse, the item
 * (a submission's set, a set's own key), and the attempts so far. */
typedef struct {
    char id[65];
    char owner[128];
    char key[65];
    int attempts, max_attempts;
} store_lease_expired;

extern const store_lease_kind store_lease_submission;
extern const store_lease_kind store_lease_depset;
extern const store_lease_kind store_lease_webhook;

/* The kind's statement for s's backend. */
const char *store_lease_sql(const store *s, const char *const sql[2]);

/* After an owner-checked write matched nothing: -ENOENT or -ESTALE, with the
 * sentence. */
int store_lease_lost(store *s, const store_lease_kind *k, const char *key, const char *owner);
/* 0 while owner holds key (inside a transaction, the row stays locked). */
int store_lease_check(store *s, const store_lease_kind *k, const char *key, const char *owner);
/* store_tx_begin, then store_lease_check: the caller writes as the holder
 * and commits (declare _cleanup_tx_ after it succeeded). Rolled back on
 * failure. */
int store_lease_begin(store *s, const store_lease_kind *k, const char *key, const char *owner);
/* Extends owner's lease on key to now + lease_ms. */
int store_lease_renew(store *s, const store_lease_kind *k, const char *key, const char *owner,
                      int64_t lease_ms);
/* Lets every lease of owner run out now; how many rows. */
int store_lease_expire_owner(store *s, const store_lease_kind *k, const char *owner);
/* Runs an owner-checked write st (bound by the caller) and says why when it
 * matched nothing: 0 written, -ESTALE / -ENOENT, <0 error. */
int store_lease_write(store *s, const store_lease_kind *k, db_stmt *st, const char *key,
                      const char *owner);
/* The expired leases of kind k at now, as a malloc'd array. */
int store_lease_collect_expired(store *s, const store_lease_kind *k, int64_t now,
                                store_lease_expired **out, size_t *n);
/* Takes an expired lease back: the row moves to state with why recorded. */
int store_lease_end(store *s, const store_lease_kind *k, const char *key, const char *state,
                    const char *why, int64_t now);
/* Runs a claim statement (UPDATE ... WHERE key = (SELECT ... LIMIT 1
 * <DB_SKIP_LOCKED>) RETURNING ...) bound by the caller: 1 with st at the
 * claimed row (read it, then db_step to the end), 0 nothing claimable. */
int store_lease_claim(store *s, db_stmt *st);
