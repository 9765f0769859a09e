/* worker.h — one worker process: the claim loop (worker.c) and the pipeline
 * of one submission (worker_job.c). worker_run() itself is declared in
 * roles.h; this header is what the two files share, and what tests/pipeline
 * uses to drive one submission without the loop.
 *
 * Theory of operation (the whole loop, see also docs/architecture.md)
 * ------------------------------------------------------------------
 *   heartbeat -> claim (lease) -> [renewer thread keeps the lease]
 *     -> box: files from blobs / git checkout
 *     -> compile once (box writable, set closure read-only, PATH=<set>/bin)
 *     -> every test in a fresh sandbox (box read-only, scratch writable)
 *        each result persisted as it ends (lease-checked) + event
 *     -> finish (lease-checked) -> remove the box -> heartbeat -> claim ...
 *   nothing claimable: wait on the worker doorbell (queue.poll_ms fallback);
 *   a remote worker's claim long-polls the farm's API instead.
 * Every store call goes through w->src (worker_source.h): the local store or
 * another farm's API over HTTP, with the same lease semantics.
 *
 * Every write after the claim names the lease owner; the store refuses it
 * (-ESTALE) once the lease is no longer ours, and the worker then drops the
 * work without writing: whoever holds the lease now owns the result. That is
 * what makes "finishes exactly once" hold across kill -9 and requeues. */
#pragma once

#include <signal.h>
#include <stdint.h>
#include "../../common/config.h"
#include "../../common/store.h"
#include "worker_lease.h"
#include "worker_source.h"

typedef struct worker_sandbox worker_sandbox; /* worker_job.c's resident sandbox state */

typedef struct {
    const config *cfg;
    worker_source *src; /* the local store or a remote farm (worker_source.h) */
    worker_lease *lease;
    worker_sandbox *sb;
    char owner[160]; /* lease owner and heartbeat id: host:pid:worker-slot */
    char host[64];
    char boxes_dir[4096];
    int slot;
    int64_t lease_ms;
    volatile sig_atomic_t *stop;
    unsigned long long jobs; /* submissions run by this process */
    int sandbox_failures;    /* consecutive steps the sandbox failed to run */
} worker;

/* Sets up the resident sandbox state of this worker process (compiled filter,
 * per-slot namespaces...). 0 or -errno with err filled. */
int worker_job_init(worker *w, char *err, size_t errlen);
void worker_job_done(worker *w);
/* Replaces the sandbox pool with a fresh one (a sick slot heals before its
 * next use). 0 or -errno with err; on failure steps fail until the next. */
int worker_job_rebuild_slot(worker *w, char *err, size_t errlen);
/* Counts an internal retry of a step by reason kind in /metrics (local
 * store only; a remote worker's count stays on its own log). */
void worker_count_retry(worker *w, const char *kind);

/* After this many consecutive sandbox failures the worker exits, and the
 * supervisor starts it again with a fresh sandbox pool. */
#define WORKER_MAX_SANDBOX_FAILURES 3

/* Runs one claimed submission to its end: finishes it (lease-checked), or
 * releases it on a graceful stop past the grace period, or drops it when the
 * lease was lost. When next is not NULL and the worker is not stopping, a
 * submission that finishes normally is finished and the next one claimed in
 * one commit: returns 1 with *next filled (the caller owns it). Otherwise
 * returns 0; <0 only when the worker itself is broken (and should exit). */
int worker_job_run(worker *w, const store_claimed *c, store_claimed *next);
