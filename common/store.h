/* store.h — the one interface to persistent state: queues, leases, blobs.
 *
 * Theory of operation
 * -------------------
 * Every process (API, worker, builder, health checker, CLI local runs) opens its
 * own `store` (one SQLite connection in WAL mode with a busy timeout; prepared
 * statements cached per connection). A `store` is used by one thread at a time.
 * No SQL exists outside common/store*.c and the SQL layer they are written
 * against (common/db.h): SQLite (one machine) or PostgreSQL (db.url, a farm of
 * several machines) stands behind this header.
 *
 * Queues. Submissions and dependency sets are rows with a state and a lease
 * (`lease_owner`, `lease_expires_at`, ms since the epoch). A claim picks the
 * best queued row (priority DESC, then FIFO by insertion sequence) and sets the
 * lease in one write transaction (BEGIN IMMEDIATE), so each row goes to exactly
 * one claimant however many processes claim at once. Every later write of the
 * holder (renew, event, test result, finish, release) names the owner and
 * succeeds only while the lease is still that owner's: otherwise -ESTALE, and
 * the caller must drop the work without writing.
 *
 * Submission states: queued -> waiting_deps -> queued -> running -> finished |
 * compile_error | deps_failed | cancelled | internal_error. A claim never hands
 * out a submission whose dependency set is not ready: inside the claim
 * transaction such rows are parked in waiting_deps (set building/queued) or
 * ended as deps_failed (set failed, its log attached). Marking a set ready
 * moves its waiting submissions back to queued.
 *
 * Dependency sets: key = SHA-256 of the canonical spec; states queued ->
 * building -> ready | failed. Enqueueing a submission inserts its set row if the
 * key is new (deduplicated), all in the submission's transaction.
 *
 * Expired leases are requeued by store_requeue_expired() (the health checkers)
 * with attempts + 1; an item that was claimed max_attempts times ends as
 * internal_error (submission) or failed (set) with the reason recorded.
 *
 * Wake-up. Writes that make work claimable ring a doorbell: a datagram to every
 * UNIX socket bound in <state_dir>/doorbell/<role>-*.sock. A claimer waits on
 * its own socket with store_wait(), falling back to polling; a claimer on
 * another machine just polls (or long-polls the API).
 *
 * Events (store_submission_events, for SSE): every state change appends
 * {"type": "state", "data": {"state": <new state>, ...}} (enqueue writes
 * "queued"; "running" carries attempts and owner; terminal states carry the
 * verdict or the error); each test result appends {"type": "test", "data":
 * <result> + "index"}; a cancel of a running row appends "cancel_requested";
 * workers add their own types through store_submission_event. seq counts from
 * 1 per submission. Times everywhere are integers, ms since the epoch.
 * Submission ids made by the store are 32 hex digits: the time in ms (12) then
 * 80 random bits, so they sort by creation and still cannot be guessed.
 *
 * Errors: functions return >= 0 on success, -errno on failure, and leave the
 * sentence a person needs in the store: store_last_error(s). Only opening
 * (there is no store yet) fills a (char *err, size_t errlen) instead.
 * -ESTALE: the lease is not the caller's. -ENOENT: no such row. -EBUSY: locked
 * past the busy timeout. -EROFS/-EACCES: read-only file. -EPROTO: corrupt file
 * or a database newer than this binary (the message says which). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct store store;

/* Opens (creating if missing) the database at path and applies the migrations
 * in schema/ that are newer than its PRAGMA user_version. path may also be a
 * PostgreSQL url (postgresql://... or "host=... dbname=..."): the same store
 * on a shared server, with schema/pg/'s migrations. state_dir is where the
 * doorbell sockets live (may be NULL: no doorbell). The caller owns *out. */
int store_open(const char *path, const char *state_dir, store **out, char *err, size_t errlen);
void store_close(store *s);
/* store_open with a busy timeout (ms, 0: 5000) and the max_attempts given to
 * submissions that do not set theirs (0: 3). */
int store_open_opts(const char *path, const char *state_dir, int busy_timeout_ms,
                    int default_max_attempts, store **out, char *err, size_t errlen);
/* Opens the store a config names: db_path (default <state_dir>/farm.db),
 * state_dir, db.busy_timeout_ms, queue.max_attempts. Creates missing parents. */
typedef struct config config;
int store_open_config(const config *cfg, store **out, char *err, size_t errlen);
/* The database a config names (malloc'd): db.url, else db_path, else
 * <state_dir>/farm.db. */
char *store_config_url(const config *cfg);
/* The sentence describing the last failure on s (for callers without err). */
const char *store_last_error(store *s);
/* Schema version this binary knows and the file's version. */
int store_schema_version(void);
int store_file_version(store *s);

int64_t store_now_ms(void);

/* ---- blobs: content-addressed by SHA-256 hex, stored once ---- */
typedef struct {
    char sha256[65]; /* filled by the caller or, when empty, by the store */
    const void *data;
    size_t len;
} store_blob;
int store_blob_put(store *s, store_blob *b);
/* *data is malloc'd and owned by the caller (NUL-terminated for convenience). */
int store_blob_get(store *s, const char *sha256, void **data, size_t *len);

/* ---- dependency sets ---- */
typedef struct {
    char key[65];
    const char *spec_json; /* canonical spec: {"packages":[...]} or {"expr":"..."} */
} store_depset_ref;

/* ---- submissions ---- */
typedef struct {
    char id[33];  /* out: filled by the store unless set: 32 hex, ms time + 80 random bits */
    int priority; /* higher is claimed first; wait=true jobs get a bonus */
    const char *request_json;       /* normalized request: contents replaced by blob sha256s */
    const store_depset_ref *depset; /* required */
    store_blob *blobs;              /* every blob the request references */
    size_t n_blobs;
    int n_tests;
    int max_attempts;         /* 0: the default given to store_open's config (3) */
    const char *token_id;     /* may be NULL */
    const char *callback_url; /* may be NULL */
    const char *cache_key;    /* may be NULL; an identical earlier submission's key */
} store_submission_new;

/* One transaction: blobs, the set row (if new), the submission row and its
 * events' first entry ("queued"). Rings the worker doorbell. */
int store_submission_enqueue(store *s, store_submission_new *sub);
/* Same for many; all or nothing ("submission <i>: ..." names the one that
 * failed). */
int store_submission_enqueue_batch(store *s, store_submission_new *subs, size_t n);

typedef struct {
    char id[33];
    char depset_key[65];
    char *request_json; /* owned; free with store_claimed_done */
    char *depset_json;  /* owned; the ready set: out_paths, closure, closure_bytes */
    int attempts;       /* including this claim */
    int64_t lease_expires_at;
} store_claimed;
void store_claimed_done(store_claimed *c);

/* Returns 1 and fills *out when a submission was claimed for owner, 0 when none
 * is claimable, <0 on error. Parks rows whose set is not ready on the way.
 * *out is zeroed first, so store_claimed_done(out) is safe after any return. */
int store_submission_claim(store *s, const char *owner, int64_t lease_ms, store_claimed *out);
/* -ESTALE if not the owner's; -ECANCELED if a cancel was requested (the lease
 * is still renewed: the worker then stops and finishes as cancelled). */
int store_submission_renew(store *s, const char *id, const char *owner, int64_t lease_ms);
/* Gives the row back to the queue without counting an attempt (graceful stop). */
int store_submission_release(store *s, const char *id, const char *owner);
/* Lets every lease owner holds run out now (the health checker requeues them
 * on its next pass): for an owner known dead or silent whose heartbeat never
 * named the item (it died before its first beat with it). How many rows. */
int store_submission_expire_owner(store *s, const char *owner);
/* Gives the row back after a failure of the farm's own (keeper died, slot
 * setup, mount, store write: never the program's), with the attempt counted:
 * {attempt, owner, kind, message} is appended to its attempt_reasons, and the
 * owner's slot (owner without its pid) skips the row in its claims for
 * queue.retry_elsewhere_ms, so another worker runs it when there is one.
 * kind is [a-z_]{1,32} (a metric label). At max_attempts the row ends
 * internal_error, its error listing every attempt's reason. Owner-checked.
 * 0 requeued, 1 ended internal_error, <0 (-ESTALE, -EINVAL...). */
/* owner without its pid field ("host:pid:worker-N" -> "host:worker-N"), the
 * worker slot a failed attempt is remembered by, whatever its pid. */
void store_owner_slot(const char *owner, char *buf, size_t len);
int store_submission_release_failed(store *s, const char *id, const char *owner, const char *kind,
                                    const char *message);
/* Appends an event {type, data} for the SSE stream; owner-checked when owner != NULL. */
int store_submission_event(store *s, const char *id, const char *owner, const char *type,
                           json_t *data /* borrowed */);
/* Stores one test's result (JSON object), owner-checked. Appends a "test" event. */
int store_submission_test_result(store *s, const char *id, const char *owner, int index,
                                 json_t *result /* borrowed */);
/* Ends a running submission: state is one of the terminal states, verdict may be
 * NULL, result is the full result object (compile stage, tests...). Owner-checked.
 * Appends a "state" event. Releases the set hold taken by the claim. */
int store_submission_finish(store *s, const char *id, const char *owner, const char *state,
                            const char *verdict, json_t *result /* borrowed */);
/* store_submission_finish, then store_submission_claim for the same owner, in
 * one transaction (a worker's steady state: one commit fewer per item).
 * Returns 1 with *next filled, 0 when finished and nothing was claimable, <0
 * when the finish failed (nothing claimed, nothing written). */
int store_submission_finish_and_claim(store *s, const char *id, const char *owner,
                                      const char *state, const char *verdict,
                                      json_t *result /* borrowed */, int64_t lease_ms,
                                      store_claimed *next);
/* Cancels: queued/waiting_deps -> cancelled at once (returns 1); running ->
 * cancel requested, the holder sees -ECANCELED at its next renew (returns 0);
 * terminal -> -EALREADY. */
int store_submission_cancel(store *s, const char *id);
/* The whole submission as the API shows it: id, state, verdict, request,
 * result, tests, depset {key, state}, timestamps, attempts, error. New reference. */
int store_submission_get(store *s, const char *id, json_t **out);
/* Events with seq > after_seq, oldest first: [{seq, type, data, at}]. */
int store_submission_events(store *s, const char *id, int64_t after_seq, json_t **out);
/* A finished submission with the same cache key, if any (id copied out): 1/0/<0. */
int store_submission_find_cached(store *s, const char *cache_key, char id_out[33]);

/* ---- dependency sets (builder side) ---- */
typedef struct {
    char key[65];
    char *spec_json; /* owned */
    int attempts;
} store_depset_claimed;
void store_depset_claimed_done(store_depset_claimed *c);

/* Inserts the set if new (state queued); returns 1 if inserted, 0 if it existed. */
int store_depset_ensure(store *s, const store_depset_ref *ref);
int store_depset_claim(store *s, const char *owner, int64_t lease_ms, store_depset_claimed *out);
int store_depset_renew(store *s, const char *key, const char *owner, int64_t lease_ms);
/* Marks ready (owner-checked): out_paths and closure are JSON arrays of store
 * paths; root is the GC root's path. Requeues the waiting submissions. */
int store_depset_ready(store *s, const char *key, const char *owner, json_t *out_paths,
                       json_t *closure, int64_t closure_bytes, const char *root, const char *log);
/* Marks failed with the log tail; waiting submissions end deps_failed with it. */
int store_depset_fail(store *s, const char *key, const char *owner, const char *log);
/* key, spec, state, out_paths, closure, closure_bytes, root, log, holders,
 * last_used_at, attempts, timestamps. New reference. */
int store_depset_get(store *s, const char *key, json_t **out);
int store_depset_list(store *s, json_t **out);
/* Holds keep a ready set from eviction; a submission claim takes one and its
 * finish (or requeue) drops it. Explicit forms for local runs. */
int store_depset_hold(store *s, const char *key);
int store_depset_release(store *s, const char *key);
/* Ready, unheld sets, least recently used first: [{key, closure_bytes, root, last_used_at}]. */
int store_depset_eviction_candidates(store *s, json_t **out);
/* Sends a ready set back to the builders (its GC root or paths are gone):
 * ready -> queued with out_paths, closure, closure_bytes, root, log and
 * attempts cleared; rings the builder doorbell. Allowed while held: running
 * submissions keep their claim, waiting ones keep waiting, and later claims
 * park in waiting_deps until the set is ready again. 1 requeued, 0 not ready
 * (nothing written), -ENOENT no such set. */
int store_depset_requeue(store *s, const char *key);
/* Deletes the row if (and only if) it is still unheld; 1 deleted, 0 held. */
int store_depset_evict(store *s, const char *key);
/* Sum of closure_bytes of ready sets. */
int store_depset_total_bytes(store *s, int64_t *out);

/* ---- health ---- */
typedef struct {
    int submissions_requeued;
    int submissions_failed; /* past max_attempts */
    int depsets_requeued;
    int depsets_failed;
} store_requeue_counts;
int store_requeue_expired(store *s, int64_t now_ms, store_requeue_counts *out);
int store_heartbeat(store *s, const char *id, const char *role, const char *host, int pid,
                    const char *current_item);
/* store_heartbeat that also says what the process does (doing: NULL keeps
 * the row's while current_item is unchanged, else "idle" / "running
 * submission <id>" / "building set <key>") and by when it must be done
 * (deadline_in_ms from now; 0 clears it, -1 keeps it while the item is
 * unchanged). doing_since moves only when doing changes. */
int store_heartbeat_doing(store *s, const char *id, const char *role, const char *host, int pid,
                          const char *current_item, const char *doing, int64_t deadline_in_ms);
/* The facts /v1/health and /metrics add to the heartbeats (issue 21): ages in
 * ms of the oldest queued submission and set ("oldest_queued": {"submission",
 * "depset"}, null when none), running submissions per lease owner
 * ("inflight": {owner: n}), and sets building ("builds": [{key, owner,
 * started_at}]). */
int store_health_facts(store *s, json_t **out);
int store_heartbeat_remove(store *s, const char *id);
/* [{id, role, host, pid, started_at, last_seen_at, current_item, doing,
 * doing_since, deadline_at}] */
int store_heartbeats(store *s, json_t **out);
/* {"queued": n, "waiting_deps": n, ...} for submissions and sets, as
 * {"submissions": {state: n, ...}, "depsets": {state: n, ...}} with every state
 * present. Live submission states are exact; terminal ones may be up to 5 s
 * old (they need a table scan, cached per connection). */
int store_queue_depths(store *s, json_t **out);
/* Ids of the submissions a compatibility front made (request.meta.front ==
 * front), newest first, limit from offset; *total counts them all
 * (store_submission_list.c). */
int store_submission_ids(store *s, const char *front, int64_t offset, int64_t limit, json_t **ids,
                         int64_t *total);
/* Counts of a front's submissions: {"outcomes": [{state, verdict, count}],
 * "languages": [{language_id, count}], "days": [{day "YYYY-MM-DD", count}]
 * (created since since_ms), "db_bytes"}. */
int store_submission_stats(store *s, const char *front, int64_t since_ms, json_t **out);

/* ---- rate limits shared by every API process (store_ratelimit.c) ---- */
/* Takes one token from key's bucket (rate_per_s tokens a second, at most
 * burst): 0 taken, 1 refused with *wait_s the seconds until one is there,
 * <0 error. rate_per_s <= 0: unlimited (0, nothing written). */
int store_rate_take(store *s, const char *key, int64_t rate_per_s, int64_t burst, int64_t now_ms,
                    int *wait_s);

/* ---- settings (e.g. "accepting" = "false" while draining) ---- */
int store_setting_get(store *s, const char *key, char **value /* owned, NULL if unset */);
int store_setting_set(store *s, const char *key, const char *value);

/* ---- wake-up ---- */
typedef enum { STORE_ROLE_WORKER, STORE_ROLE_BUILDER, STORE_ROLE_EVENTS } store_role;
/* Binds this process's doorbell socket for role (idempotent). */
int store_doorbell_listen(store *s, store_role role);
/* Waits until a doorbell of the listened role rings or timeout_ms passes;
 * 1 rung, 0 timeout, <0 error. Drains pending rings. */
int store_wait(store *s, int timeout_ms);
/* Rings every listener of role (done by the store itself after enqueue etc.). */
void store_ring(store *s, store_role role);
