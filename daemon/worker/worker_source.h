/* worker_source.h — where a worker takes its work from: the local store, or
 * another farm's API over HTTP (a remote worker, daemon/worker/worker_remote.c).
 *
 * The worker pipeline (worker.c, worker_job.c, worker_lease.c) makes exactly
 * the store calls listed here, with the same meaning and the same errors as
 * the store.h functions of the same name: -ESTALE when the lease is no longer
 * the owner's, -ECANCELED when a cancel was requested, -ENOENT for an unknown
 * id. The local source calls store.h; the remote one maps each call to one
 * HTTP request that the server answers with the very same store call, so the
 * lease checks (and the exactly-once argument of worker.h) happen where the
 * rows are, whichever machine the worker runs on.
 *
 * A source is used by one thread at a time; the lease renewer opens its own
 * (worker_source_open). */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "../../common/config.h"
#include "../../common/store.h"

typedef struct worker_source worker_source;

typedef struct {
    /* store_submission_claim; wait_ms > 0 lets a remote source long-poll
     * (the local one ignores it: it waits on the doorbell with wait()). */
    int (*claim)(worker_source *s, const char *owner, int64_t lease_ms, int wait_ms,
                 store_claimed *out);
    int (*renew)(worker_source *s, const char *id, const char *owner, int64_t lease_ms);
    int (*release)(worker_source *s, const char *id, const char *owner);
    /* store_submission_release_failed: 0 requeued, 1 ended internal_error. */
    int (*release_failed)(worker_source *s, const char *id, const char *owner, const char *kind,
                          const char *message);
    int (*event)(worker_source *s, const char *id, const char *owner, const char *type,
                 json_t *data);
    int (*test_result)(worker_source *s, const char *id, const char *owner, int index,
                       json_t *result);
    int (*finish)(worker_source *s, const char *id, const char *owner, const char *state,
                  const char *verdict, json_t *result);
    int (*finish_and_claim)(worker_source *s, const char *id, const char *owner, const char *state,
                            const char *verdict, json_t *result, int64_t lease_ms,
                            store_claimed *next);
    int (*blob_get)(worker_source *s, const char *sha256, void **data, size_t *len);
    /* store_heartbeat_doing for role worker (doing NULL and deadline_in_ms
     * -1 keep what the row says while current_item is unchanged). */
    int (*heartbeat)(worker_source *s, const char *id, const char *host, int pid,
                     const char *current_item, const char *doing, int64_t deadline_in_ms);
    int (*heartbeat_remove)(worker_source *s, const char *id);
    /* Idle wait after an empty claim: 1 rung, 0 timeout, <0 no doorbell. */
    int (*wait)(worker_source *s, int timeout_ms);
    /* Makes the claimed set's closure usable here: paths this machine's Nix
     * store lacks are imported from the farm's signed binary cache (named in
     * the claim answer for a remote source, by worker.cache_url for a local
     * one). Returns how many paths it imported (0: all were there), or
     * -errno with err. */
    int (*prepare_set)(worker_source *s, const store_claimed *c, char *err, size_t errlen);
    void (*close)(worker_source *s);
} worker_source_ops;

struct worker_source {
    const worker_source_ops *ops;
    store *st; /* the local store (NULL for a remote source) */
    bool remote;
    /* Set by the worker to its SIGTERM flag (may stay NULL): it ends the
     * retries of a closure import early. */
    volatile sig_atomic_t *stop;
};

/* Opens the source cfg names: remote when worker.remote_url is set, else the
 * local database (doorbell too when listen is true). 0 or -errno with err
 * filled. The caller owns *out (worker_source_close). */
int worker_source_open(const config *cfg, bool listen, worker_source **out, char *err,
                       size_t errlen);
void worker_source_close(worker_source *s); /* accepts NULL */

/* The implementations (worker_source_local.c, worker_remote.c). */
int worker_source_local_open(const config *cfg, bool listen, worker_source **out, char *err,
                             size_t errlen);
int worker_remote_open(const config *cfg, worker_source **out, char *err, size_t errlen);
