/* store_submissions.c — the submission queue: enqueue, claim with a lease,
 * renew, owner-checked writes (events, test results, finish), release and
 * cancel. Reading a submission is store_submission_view.c.
 *
 * Lease rule: every write of a worker names its owner string and runs in one
 * BEGIN IMMEDIATE transaction that first checks state = 'running' AND
 * lease_owner = owner. Once the health checker has requeued a row (and maybe
 * another worker has claimed it), the old owner gets -ESTALE and writes
 * nothing. See store.h for the state machine. */
#include "store_lease.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hash.h"
#include "jsonutil.h"

static const char *const store_terminal_states[] = {
    "finished", "compile_error", "deps_failed", "cancelled", "internal_error",
};

static bool store_state_is_terminal(const char *state)
{
    for (size_t i = 0; i < sizeof(store_terminal_states) / sizeof(*store_terminal_states); i++)
        if (strcmp(state, store_terminal_states[i]) == 0)
            return true;
    return false;
}

#define SQL_EVENT_INLINE(D)                                                                        \
    "UPDATE submissions SET " STORE_EVENT_INLINE(D, "?2", "?3", "?4") " WHERE id = ?1"
#define SQL_EVENT_ROW(D)                                                                           \
    "INSERT INTO submission_event_rows (submission_id, seq, type, data, at) "                      \
    "SELECT ?1, " STORE_EVENT_LAST(D) " + 1, ?2, ?3, ?4 FROM submissions WHERE id = ?1"

int store_event_append(store *s, const char *id, const char *type, json_t *data, int64_t now)
{
    _cleanup_free_ char *d = data ? jsonutil_dump(data) : NULL;
    if (data && !d)
        return -ENOMEM;
    bool inl = strcmp(type, "state") == 0 && (!d || strlen(d) <= STORE_EVENT_INLINE_MAX);
    /* Inline: one UPDATE of the row (its page is usually dirty already in
     * this transaction). Otherwise a row of its own; the submission is only
     * read for its seq. */
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, inl ? STORE_SQL(s, SQL_EVENT_INLINE) : STORE_SQL(s, SQL_EVENT_ROW));
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, type);
    if (d)
        db_bind_text(st, 3, d);
    db_bind_int64(st, 4, now);
    int rc = db_step(st);
    if (rc != DB_DONE)
        return store_fail(s, rc);
    if (db_changes(s->db) == 0)
        return -ENOENT;
    store_ring_later(s, STORE_ROLE_EVENTS);
    return 0;
}

/* A "state" event: {"state": state, ...extra (borrowed, may be NULL)}. */
static int store_state_event(store *s, const char *id, const char *state, json_t *extra,
                             int64_t now)
{
    _cleanup_json_ json_t *d = extra ? json_deep_copy(extra) : json_object();
    if (!d || json_object_set_new(d, "state", json_string(state)) < 0)
        return -ENOMEM;
    return store_event_append(s, id, "state", d, now);
}

/* ---- enqueue ---- */

/* 12 hex digits of the time in ms, then 80 random bits: still unguessable,
 * but ordered, so the id index and the event table grow at their right edge
 * (one page touched per insert instead of a random one). */
static int store_new_id(char out[33], int64_t now)
{
    unsigned char rnd[10];
    int r = hash_random_bytes(rnd, sizeof(rnd));
    if (r < 0)
        return r;
    snprintf(out, 33, "%012llx", (unsigned long long)now & 0xffffffffffffULL);
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(out + 12 + 2 * i, 3, "%02x", rnd[i]);
    return 0;
}

/* The set row: inserted when its key is new (returns 1), else looked at
 * (returns 0) with *log set (malloc'd sentence) if it already failed. One
 * statement in the common case, where the set exists. */
static int store_enqueue_set(store *s, const store_depset_ref *ref, int64_t now, char **log)
{
    *log = NULL;
    _cleanup_stmt_ db_stmt *st = store_stmt(s, "SELECT state, log FROM depsets WHERE key = ?1");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, ref->key);
    int rc = db_step(st);
    if (rc == DB_DONE) {
        db_reset(st);
        return store_depset_insert(s, ref, now);
    }
    if (rc != DB_ROW)
        return store_fail(s, rc);
    if (strcmp(db_col_text(st, 0), "failed") != 0)
        return 0;
    const char *l = db_col_text(st, 1);
    *log = store_strdupf("dependency set %s failed: %s", ref->key, l ? l : "");
    return *log ? 0 : -ENOMEM;
}

/* Inside the caller's transaction; failures leave the sentence in s->errmsg.
 * A submission whose set already failed is stored as deps_failed at once,
 * so its client does not wait for a worker to find out. */
#define SQL_SUB_INSERT(D)                                                                          \
    "INSERT INTO submissions (id, state, priority, request, depset_key, n_tests, "                 \
    "max_attempts, token_id, callback_url, cache_key, created_at, queued_at, error, "              \
    "finished_at, event_seq, events) VALUES (?1, ?11, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "            \
    "?10, ?10, ?12, ?13, 1, " DB_JSON_ARRAY(D) "(" DB_JSON_OBJECT(                                 \
        D) "('seq', 1, 'type', "                                                                   \
           "'state', 'data', " DB_JSON_OBJECT(D) "('state', 'queued'), 'at', ?10))" DB_AS_TEXT(    \
               D) ")"

static int store_enqueue_insert(store *s, store_submission_new *sub, int64_t now)
{
    _cleanup_free_ char *failed = NULL;
    int r = store_enqueue_set(s, sub->depset, now, &failed);
    if (r < 0)
        return r;
    const char *state = failed ? "deps_failed" : "queued";
    _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_SUB_INSERT));
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, sub->id);
    db_bind_int64(st, 2, sub->priority);
    db_bind_text(st, 3, sub->request_json);
    db_bind_text(st, 4, sub->depset->key);
    db_bind_int64(st, 5, sub->n_tests);
    db_bind_int64(st, 6, sub->max_attempts > 0 ? sub->max_attempts : s->default_max_attempts);
    db_bind_text(st, 7, sub->token_id);
    db_bind_text(st, 8, sub->callback_url);
    db_bind_text(st, 9, sub->cache_key);
    db_bind_int64(st, 10, now);
    db_bind_text(st, 11, state);
    db_bind_text(st, 12, failed);
    if (failed)
        db_bind_int64(st, 13, now);
    int rc = db_step(st);
    if (rc != DB_DONE) {
        r = store_fail(s, rc);
        if (r == -EEXIST)
            store_set_error(s, r, "submission id %s already exists", sub->id);
        return r;
    }
    r = 0; /* the "queued" event went in with the row */
    if (failed) {
        _cleanup_json_ json_t *extra = json_pack("{s:s}", "error", failed);
        r = store_state_event(s, sub->id, "deps_failed", extra, now);
    }
    if (r < 0)
        return r;
    if (!failed)
        store_ring_later(s, STORE_ROLE_WORKER);
    return 0;
}

static int store_enqueue_one(store *s, store_submission_new *sub, int64_t now)
{
    if (!sub->request_json || !sub->depset || !sub->depset->key[0] || !sub->depset->spec_json)
        return store_set_error(s, -EINVAL, "submission needs a request and a dependency set");
    if (!sub->id[0]) {
        int r = store_new_id(sub->id, now);
        if (r < 0)
            return store_set_error(s, r, "cannot make a submission id: %s", strerror(-r));
    }
    for (size_t i = 0; i < sub->n_blobs; i++) {
        int r = store_blob_put(s, &sub->blobs[i]);
        if (r < 0) {
            char e[400];
            snprintf(e, sizeof(e), "%.399s", s->errmsg);
            return store_set_error(s, r, "blob %zu: %s", i, e);
        }
    }
    return store_enqueue_insert(s, sub, now);
}

int store_submission_enqueue_batch(store *s, store_submission_new *subs, size_t n)
{
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    store *tx _cleanup_tx_ = s;
    int64_t now = store_now_ms();
    for (size_t i = 0; i < n; i++) {
        r = store_enqueue_one(s, &subs[i], now);
        if (r < 0) {
            if (n > 1) {
                char e[480];
                snprintf(e, sizeof(e), "%.479s", s->errmsg);
                store_set_error(s, r, "submission %zu: %s", i, e);
            }
            return r;
        }
    }
    return store_tx_commit(s);
}

int store_submission_enqueue(store *s, store_submission_new *sub)
{
    return store_submission_enqueue_batch(s, sub, 1);
}

/* ---- claim ---- */

void store_claimed_done(store_claimed *c)
{
    if (!c)
        return;
    free(c->request_json);
    free(c->depset_json);
    c->request_json = c->depset_json = NULL;
}

/* A JSON string literal for s, or "null"; malloc'd. */
static char *store_json_quote(const char *s)
{
    if (!s)
        return strdup("null");
    _cleanup_json_ json_t *j = json_string(s);
    return j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
}

/* The ready set as a worker needs it: key, out_paths, closure, closure_bytes,
 * root, env_path; malloc'd JSON text. Built from the stored JSON columns
 * (read by the claim's own SELECT) without parsing the closure (hundreds of
 * paths, at every claim). */
static int store_depset_ready_json(const char *key, const char *paths, const char *closure,
                                   int64_t closure_bytes, const char *root, char **out)
{
    _cleanup_json_ json_t *pj = jsonutil_loads_or_null(paths);
    const char *first = json_string_value(json_array_get(pj, 0));
    _cleanup_free_ char *env = first ? store_strdupf("%s/bin", first) : NULL;
    _cleanup_free_ char *env_q = store_json_quote(env);
    _cleanup_free_ char *root_q = store_json_quote(root);
    if (!env_q || !root_q)
        return -ENOMEM;
    *out = store_strdupf("{\"key\":\"%s\",\"out_paths\":%s,\"closure\":%s,"
                         "\"closure_bytes\":%lld,\"root\":%s,\"env_path\":%s}",
                         key, paths ? paths : "null", closure ? closure : "null",
                         (long long)closure_bytes, root_q, env_q);
    return *out ? 0 : -ENOMEM;
}

/* Ends a queued row whose set failed or vanished (inside the claim). */
static int store_claim_end(store *s, const char *id, int64_t seq, const char *state,
                           const char *error, int64_t now)
{
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "UPDATE submissions SET state = ?2, error = ?3, finished_at = ?4, "
                      "lease_owner = NULL, lease_expires_at = NULL WHERE seq = ?1");
    if (!st)
        return store_err(s);
    db_bind_int64(st, 1, seq);
    db_bind_text(st, 2, state);
    db_bind_text(st, 3, error);
    db_bind_int64(st, 4, now);
    int rc = db_step(st);
    if (rc != DB_DONE)
        return store_fail(s, rc);
    _cleanup_json_ json_t *extra = json_pack("{s:s}", "error", error);
    return store_state_event(s, id, state, extra, now);
}

/* The columns of the claim's SELECT, in order. */
enum {
    CL_SEQ,
    CL_ID,
    CL_KEY,
    CL_DSTATE,
    CL_LOG,
    CL_REQUEST,
    CL_ATTEMPTS,
    CL_PATHS,
    CL_CLOSURE,
    CL_BYTES,
    CL_ROOT,
    CL_USED,
};

/* Takes the row st points at (its set is ready) for owner: one UPDATE sets
 * the lease and appends the "running" event; everything the worker needs
 * was read by the SELECT. Resets st. */
#define SQL_SUB_TAKE(D)                                                                            \
    "UPDATE submissions SET state = 'running', lease_owner = ?2, lease_expires_at = ?3, "          \
    "attempts = attempts + 1, started_at = ?4, " STORE_EVENT_INLINE(D, "'state'", "?5",            \
                                                                    "?4") " "                      \
                                                                          "WHERE seq = ?1"

static int store_claim_take(store *s, db_stmt *st, const char *owner, int64_t lease_ms, int64_t now,
                            store_claimed *out)
{
    store_claimed c = {.lease_expires_at = now + lease_ms};
    int64_t seq = db_col_int64(st, CL_SEQ);
    snprintf(c.id, sizeof(c.id), "%s", db_col_text(st, CL_ID));
    snprintf(c.depset_key, sizeof(c.depset_key), "%s", db_col_text(st, CL_KEY));
    c.attempts = db_col_int(st, CL_ATTEMPTS) + 1;
    bool fresh = !db_col_is_null(st, CL_USED) && db_col_int64(st, CL_USED) >= now - 1000;
    c.request_json = store_col_strdup(st, CL_REQUEST);
    int r = c.request_json ? 0 : -ENOMEM;
    if (r >= 0)
        r = store_depset_ready_json(c.depset_key, db_col_text(st, CL_PATHS),
                                    db_col_text(st, CL_CLOSURE), db_col_int64(st, CL_BYTES),
                                    db_col_text(st, CL_ROOT), &c.depset_json);
    db_reset(st);
    _cleanup_json_ json_t *ev =
        json_pack("{s:i,s:s,s:s}", "attempts", c.attempts, "owner", owner, "state", "running");
    _cleanup_free_ char *evtext = ev ? jsonutil_dump(ev) : NULL;
    if (r >= 0 && !evtext)
        r = -ENOMEM;
    if (r < 0) {
        store_claimed_done(&c);
        return r;
    }
    _cleanup_stmt_ db_stmt *up = store_stmt(s, STORE_SQL(s, SQL_SUB_TAKE));
    if (!up) {
        store_claimed_done(&c);
        return store_err(s);
    }
    db_bind_int64(up, 1, seq);
    db_bind_text(up, 2, owner);
    db_bind_int64(up, 3, now + lease_ms);
    db_bind_int64(up, 4, now);
    db_bind_text(up, 5, evtext);
    int rc = db_step(up);
    if (rc != DB_DONE) {
        store_claimed_done(&c);
        return store_fail(s, rc);
    }
    store_ring_later(s, STORE_ROLE_EVENTS);
    /* The running row itself is the hold (counted by eviction); the set's
     * last use is rewritten at most once a second. */
    if (!fresh && (r = store_depset_touch(s, c.depset_key, now)) < 0) {
        store_claimed_done(&c);
        return r;
    }
    *out = c;
    return 1;
}

/* The best claimable row and its set. In PostgreSQL the row is locked and
 * rows other claimers hold are skipped (the set is only read). */
#define SQL_SUB_CLAIM(D)                                                                           \
    "SELECT s.seq, s.id, s.depset_key, d.state, d.log, s.request, s.attempts, "                    \
    "d.out_paths, d.closure, d.closure_bytes, d.root, d.last_used_at FROM submissions s "          \
    "LEFT JOIN depsets d ON d.key = s.depset_key "                                                 \
    "WHERE s.state IN ('queued', 'running') AND s.state = 'queued' "                               \
    "AND (s.last_failed_slot IS NULL OR s.last_failed_slot <> ?1 "                                 \
    "OR s.queued_at < ?2) "                                                                        \
    "ORDER BY s.priority DESC, s.seq LIMIT 1" DB_IF(D, "", " FOR UPDATE OF s SKIP LOCKED")

/* Before parking a row on its set (PostgreSQL): the claim read the set in
 * its snapshot, and a builder may have marked it ready since and woken the
 * waiting rows, which did not include this one yet; parked now, the row would
 * wait for ever. So lock the set row (waiting for such a builder to commit)
 * and read its state again: 1 still queued or building (the lock makes the
 * builder's wake-up, later, see this row), 0 it moved on. SQLite's
 * BEGIN IMMEDIATE already keeps builders out of the claim's transaction. */
static int store_claim_set_still_pending(store *s, const char *key)
{
    if (!store_is_pg(s))
        return 1;
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "SELECT state FROM depsets WHERE key = ?1 FOR SHARE");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, key);
    int rc = db_step(st);
    if (rc == DB_DONE)
        return 0; /* gone: the claim's next look ends the row */
    if (rc != DB_ROW)
        return store_fail(s, rc);
    const char *state = db_col_text(st, 0);
    return strcmp(state, "queued") == 0 || strcmp(state, "building") == 0;
}

/* Inside the caller's transaction: 1 claimed (*out filled), 0 none. */
static int store_claim_locked(store *s, const char *owner, int64_t lease_ms, int64_t now,
                              store_claimed *out)
{
    int r;
    for (;;) {
        _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_SUB_CLAIM));
        if (!st)
            return store_err(s);
        /* A slot whose attempt failed leaves the row to others for a while. */
        char slot[160];
        store_owner_slot(owner, slot, sizeof(slot));
        db_bind_text_copy(st, 1, slot);
        db_bind_int64(st, 2, now - s->retry_elsewhere_ms);
        int rc = db_step(st);
        if (rc == DB_DONE)
            return 0;
        if (rc != DB_ROW)
            return store_fail(s, rc);
        const char *dstate = db_col_text(st, CL_DSTATE);
        if (dstate && strcmp(dstate, "ready") == 0)
            return store_claim_take(s, st, owner, lease_ms, now, out);
        int64_t seq = db_col_int64(st, CL_SEQ);
        char id[33], key[65];
        snprintf(id, sizeof(id), "%s", db_col_text(st, CL_ID));
        snprintf(key, sizeof(key), "%s", db_col_text(st, CL_KEY));
        bool failed = dstate && strcmp(dstate, "failed") == 0;
        bool missing = !dstate;
        _cleanup_free_ char *log = store_col_strdup(st, CL_LOG);
        db_reset(st);

        if (failed) {
            _cleanup_free_ char *msg =
                store_strdupf("dependency set %s failed: %s", key, log ? log : "");
            if (!msg)
                return -ENOMEM;
            r = store_claim_end(s, id, seq, "deps_failed", msg, now);
        } else if (missing) {
            r = store_claim_end(s, id, seq, "internal_error", "dependency set row is missing", now);
        } else {
            r = store_claim_set_still_pending(s, key);
            if (r < 0)
                return r;
            if (r == 0)
                continue; /* the set became ready or failed meanwhile: look again */
            _cleanup_stmt_ db_stmt *p =
                store_stmt(s, "UPDATE submissions SET state = 'waiting_deps' WHERE seq = ?1");
            if (!p)
                return store_err(s);
            db_bind_int64(p, 1, seq);
            rc = db_step(p);
            if (rc != DB_DONE)
                return store_fail(s, rc);
            r = store_state_event(s, id, "waiting_deps", NULL, now);
        }
        if (r < 0)
            return r;
    }
}

int store_submission_claim(store *s, const char *owner, int64_t lease_ms, store_claimed *out)
{
    if (!owner || !owner[0] || lease_ms <= 0 || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out)); /* store_claimed_done is safe whatever we return */
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    store *tx _cleanup_tx_ = s;
    int got = store_claim_locked(s, owner, lease_ms, store_now_ms(), out);
    if (got < 0)
        return got;
    r = store_tx_commit(s); /* also keeps the rows parked on the way */
    if (r < 0) {
        if (got)
            store_claimed_done(out);
        return r;
    }
    return got;
}

/* ---- the lease holder's writes ---- */

static int store_sub_exists(store *s, const char *id)
{
    _cleanup_stmt_ db_stmt *st = store_stmt(s, "SELECT 1 FROM submissions WHERE id = ?1");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id);
    int rc = db_step(st);
    if (rc == DB_ROW)
        return 0;
    return rc == DB_DONE ? store_set_error(s, -ENOENT, "no such submission %s", id)
                         : store_fail(s, rc);
}

int store_submission_renew(store *s, const char *id, const char *owner, int64_t lease_ms)
{
    int r = store_lease_renew(s, &store_lease_submission, id, owner, lease_ms);
    if (r < 0)
        return r;
    /* Read after the write: a cancel that lands in between is seen next time. */
    _cleanup_stmt_ db_stmt *c =
        store_stmt(s, "SELECT cancel_requested FROM submissions WHERE id = ?1");
    if (!c)
        return store_err(s);
    db_bind_text(c, 1, id);
    int rc = db_step(c);
    if (rc != DB_ROW)
        return rc == DB_DONE ? -ENOENT : store_fail(s, rc);
    return db_col_int(c, 0) ? -ECANCELED : 0;
}

int store_submission_expire_owner(store *s, const char *owner)
{
    return store_lease_expire_owner(s, &store_lease_submission, owner);
}

#define SQL_SUB_RELEASE(D)                                                                         \
    "UPDATE submissions SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, "       \
    "attempts = " DB_MAX2(D) "(attempts - 1, 0), queued_at = CAST(?2 AS BIGINT) WHERE id = ?1"

int store_submission_release(store *s, const char *id, const char *owner)
{
    int r = store_lease_begin(s, &store_lease_submission, id, owner);
    if (r < 0)
        return r;
    store *tx _cleanup_tx_ = s;
    int64_t now = store_now_ms();
    char nowtxt[24];
    snprintf(nowtxt, sizeof(nowtxt), "%lld", (long long)now);
    r = store_exec(s, STORE_SQL(s, SQL_SUB_RELEASE), 2, id, nowtxt);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *extra = json_pack("{s:s}", "reason", "released");
    if ((r = store_state_event(s, id, "queued", extra, now)) < 0)
        return r;
    store_ring_later(s, STORE_ROLE_WORKER);
    return store_tx_commit(s);
}

int store_submission_event(store *s, const char *id, const char *owner, const char *type,
                           json_t *data)
{
    if (!id || !type)
        return -EINVAL;
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    store *tx _cleanup_tx_ = s;
    if (owner)
        r = store_lease_check(s, &store_lease_submission, id, owner);
    else
        r = store_sub_exists(s, id);
    if (r < 0)
        return r;
    if ((r = store_event_append(s, id, type, data, store_now_ms())) < 0)
        return r;
    return store_tx_commit(s);
}

int store_submission_test_result(store *s, const char *id, const char *owner, int index,
                                 json_t *result)
{
    if (!id || !json_is_object(result) || index < 0)
        return -EINVAL;
    _cleanup_free_ char *text = jsonutil_dump(result);
    if (!text)
        return -ENOMEM;
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    store *tx _cleanup_tx_ = s;
    if (owner && (r = store_lease_check(s, &store_lease_submission, id, owner)) < 0)
        return r;
    _cleanup_stmt_ db_stmt *st =
        store_stmt(s, "INSERT INTO submission_tests (submission_id, idx, name, result, verdict) "
                      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (submission_id, idx) DO UPDATE SET "
                      "name = excluded.name, result = excluded.result, verdict = excluded.verdict");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id);
    db_bind_int64(st, 2, index);
    db_bind_text(st, 3, json_string_value(json_object_get(result, "name")));
    db_bind_text(st, 4, text);
    db_bind_text(st, 5, json_string_value(json_object_get(result, "verdict")));
    int rc = db_step(st);
    if (rc != DB_DONE)
        return store_fail(s, rc);
    _cleanup_json_ json_t *ev = json_deep_copy(result);
    if (!ev || json_object_set_new(ev, "index", json_integer(index)) < 0)
        return -ENOMEM;
    if ((r = store_event_append(s, id, "test", ev, store_now_ms())) < 0)
        return r;
    return store_tx_commit(s);
}

/* Inside the caller's transaction: ends id (owner-checked) as state. One
 * UPDATE checks the lease, writes the result and appends the state event;
 * only when it matches nothing is the row read again to say why. */
#define SQL_SUB_FINISH(D)                                                                          \
    "UPDATE submissions SET state = ?2, verdict = ?3, result = ?4, error = ?5, "                   \
    "finished_at = ?6, lease_owner = NULL, lease_expires_at = NULL, " STORE_EVENT_INLINE(          \
        D, "'state'", "?8", "?6") " WHERE id = ?1 AND state = 'running' AND lease_owner = ?7"

static int store_finish_locked(store *s, const char *id, const char *owner, const char *state,
                               const char *verdict, json_t *result, const char *text, int64_t now)
{
    _cleanup_json_ json_t *ev =
        json_pack("{s:o,s:s}", "verdict", jsonutil_str_or_null(verdict), "state", state);
    _cleanup_free_ char *evtext = ev ? jsonutil_dump(ev) : NULL;
    if (!evtext)
        return -ENOMEM;
    _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_SUB_FINISH));
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, state);
    db_bind_text(st, 3, verdict);
    db_bind_text(st, 4, text);
    db_bind_text(st, 5, json_string_value(json_object_get(result, "error")));
    db_bind_int64(st, 6, now);
    db_bind_text(st, 7, owner);
    db_bind_text(st, 8, evtext);
    int r = store_lease_write(s, &store_lease_submission, st, id, owner);
    if (r < 0)
        return r;
    store_ring_later(s, STORE_ROLE_EVENTS);
    /* The set's last use, at most once a second (store_depset_touch). */
    _cleanup_stmt_ db_stmt *touch = store_stmt(
        s, "UPDATE depsets SET last_used_at = ?2 WHERE key = (SELECT depset_key FROM submissions "
           "WHERE id = ?1) AND (last_used_at IS NULL OR last_used_at < ?2 - 1000)");
    if (!touch)
        return store_err(s);
    db_bind_text(touch, 1, id);
    db_bind_int64(touch, 2, now);
    int rc = db_step(touch);
    return rc == DB_DONE ? 0 : store_fail(s, rc);
}

int store_submission_finish(store *s, const char *id, const char *owner, const char *state,
                            const char *verdict, json_t *result)
{
    if (!id || !owner || !state || !store_state_is_terminal(state))
        return -EINVAL;
    _cleanup_free_ char *text = result ? jsonutil_dump(result) : NULL;
    if (result && !text)
        return -ENOMEM;
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    store *tx _cleanup_tx_ = s;
    r = store_finish_locked(s, id, owner, state, verdict, result, text, store_now_ms());
    if (r < 0)
        return r;
    return store_tx_commit(s);
}

int store_submission_finish_and_claim(store *s, const char *id, const char *owner,
                                      const char *state, const char *verdict, json_t *result,
                                      int64_t lease_ms, store_claimed *next)
{
    if (!next)
        return -EINVAL;
    memset(next, 0, sizeof(*next));
    if (!id || !owner || !state || !store_state_is_terminal(state) || lease_ms <= 0)
        return -EINVAL;
    _cleanup_free_ char *text = result ? jsonutil_dump(result) : NULL;
    if (result && !text)
        return -ENOMEM;
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    store *tx _cleanup_tx_ = s;
    int64_t now = store_now_ms();
    r = store_finish_locked(s, id, owner, state, verdict, result, text, now);
    if (r < 0)
        return r;
    int got = store_claim_locked(s, owner, lease_ms, now, next);
    if (got < 0)
        return got;
    r = store_tx_commit(s);
    if (r < 0) {
        if (got)
            store_claimed_done(next);
        return r;
    }
    return got;
}

/* ---- cancel ---- */

#define SQL_SUB_STATE_LOCK(D) "SELECT state FROM submissions WHERE id = ?1" DB_FOR_UPDATE(D)

int store_submission_cancel(store *s, const char *id)
{
    int r = store_tx_begin(s);
    if (r < 0)
        return r;
    store *tx _cleanup_tx_ = s;
    _cleanup_stmt_ db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_SUB_STATE_LOCK));
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, id);
    int rc = db_step(st);
    if (rc == DB_DONE)
        return store_set_error(s, -ENOENT, "no such submission %s", id);
    if (rc != DB_ROW)
        return store_fail(s, rc);
    char state[32];
    snprintf(state, sizeof(state), "%s", db_col_text(st, 0));
    db_reset(st);
    int64_t now = store_now_ms();
    char nowtxt[24];
    snprintf(nowtxt, sizeof(nowtxt), "%lld", (long long)now);
    int ret;
    if (strcmp(state, "queued") == 0 || strcmp(state, "waiting_deps") == 0) {
        r = store_exec(s,
                       "UPDATE submissions SET state = 'cancelled', "
                       "finished_at = CAST(?2 AS BIGINT) WHERE id = ?1",
                       2, id, nowtxt);
        if (r >= 0)
            r = store_state_event(s, id, "cancelled", NULL, now);
        ret = 1;
    } else if (strcmp(state, "running") == 0) {
        r = store_exec(s, "UPDATE submissions SET cancel_requested = 1 WHERE id = ?1", 1, id);
        if (r >= 0)
            r = store_event_append(s, id, "cancel_requested", NULL, now);
        ret = 0;
    } else {
        return -EALREADY;
    }
    if (r < 0)
        return r;
    r = store_tx_commit(s);
    return r < 0 ? r : ret;
}
