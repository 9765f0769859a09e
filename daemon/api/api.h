/* api.h — what the API's files share: the server context, one call's state,
 * the routing table and the handlers.
 *
 * Theory of operation
 * -------------------
 * api_run (api.c) starts libmicrohttpd with one thread per connection, so a
 * handler may block (a ?wait=true call, an SSE stream) without stalling other
 * clients. A request's body is collected up to api.max_body_bytes; then the
 * route is looked up (api_routes.c), the caller identified and rate-limited
 * (auth.c), the route's scope checked, a store connection borrowed from the
 * pool (api_pool.c) and the handler called. Handlers talk to the store only;
 * other API processes see the same rows, settings and counters.
 *
 * Waiting (?wait=true, SSE) never polls hot: a waiter reads the doorbell
 * generation (api_bell.c), looks at the database, and sleeps until the
 * generation moves or a fallback timeout passes. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <microhttpd.h>

#include "../../common/config.h"
#include "../../common/store.h"
#include "api_bell.h"
#include "api_pool.h"
#include "auth.h"
#include "http.h"
#include "metrics.h"
#include "../request/profiles.h"
#include "../request/request.h"

typedef struct api_ctx {
    const config *cfg;
    volatile sig_atomic_t *stop;
    api_pool *pool;
    api_bell *bell;
    profiles *profiles;
    auth *auth;
    metrics *metrics;
    request_opts ropts; /* per-call copies get allow_expr and pkgset_id */
    long long max_body;
    long long max_queue;
    long long batch_max;
    long long wait_timeout_ms;
    long long wait_bonus;
    long long stale_ms;
    long long poll_ms;
    /* queue depth cache for backpressure (COUNT over the queue is not free) */
    pthread_mutex_t depth_lock;
    int64_t depth_at_ms;
    long long depth_waiting; /* queued + waiting_deps */
} api_ctx;

struct compat_front;

typedef struct api_call {
    api_ctx *ctx;
    const struct compat_front *front; /* the front whose route this is, NULL for v1 */
    http_req *req;
    store *st;
    auth_identity who;
    char param[160]; /* the {id} / {key} path segment, "" when none */
} api_call;

typedef enum MHD_Result (*api_handler)(api_call *c);

typedef struct {
    const char *method;
    const char *pattern; /* "/v1/submissions/{id}": one {...} segment at most */
    api_handler fn;
    unsigned scope; /* AUTH_* bits needed; 0 = public (no token needed) */
} api_route;

extern const api_route api_routes[];
/* The route for method + path (param filled), or NULL; *path_known tells 405
 * (path exists with another method) from 404. */
const api_route *api_route_match(const char *method, const char *path, char *param, size_t paramlen,
                                 bool *path_known);
/* The same over another table (a compatibility front's, daemon/compat/). */
const api_route *api_route_match_in(const api_route *table, const char *method, const char *path,
                                    char *param, size_t paramlen, bool *path_known);

/* ---- handlers (api_submissions.c, api_events.c, api_ops.c) ---- */
enum MHD_Result api_submission_create(api_call *c);
enum MHD_Result api_submission_batch(api_call *c);
enum MHD_Result api_submission_show(api_call *c);
enum MHD_Result api_submission_cancel(api_call *c);
enum MHD_Result api_submission_events(api_call *c);
enum MHD_Result api_depsets_list(api_call *c);
enum MHD_Result api_depsets_create(api_call *c);
enum MHD_Result api_depset_show(api_call *c);
enum MHD_Result api_depset_evict(api_call *c);
enum MHD_Result api_profiles_list(api_call *c);
/* api_packages.c: GET /v1/packages; a nixpkgs profile's version and
 * availability, filled into p as profile_availability does for debian's. */
enum MHD_Result api_packages_list(api_call *c);
void api_profile_nixpkgs_availability(api_call *c, json_t *p);
enum MHD_Result api_health(api_call *c);
enum MHD_Result api_metrics(api_call *c);
enum MHD_Result api_admin_drain_get(api_call *c);
enum MHD_Result api_admin_drain(api_call *c);
/* remote workers' lease protocol (api_leases.c) */
enum MHD_Result api_lease_claim(api_call *c);
enum MHD_Result api_lease_renew(api_call *c);
enum MHD_Result api_lease_release(api_call *c);
enum MHD_Result api_lease_event(api_call *c);
enum MHD_Result api_lease_test_result(api_call *c);
enum MHD_Result api_lease_finish(api_call *c);
enum MHD_Result api_lease_heartbeat(api_call *c);
enum MHD_Result api_blob_get(api_call *c);

/* ---- dependency sets for fronts (api_ops.c), as POST/DELETE /v1/depsets ----
 * body is {packages | profile | expr} (borrowed), resolved exactly as a
 * submission with those dependencies (so the key is the one it computes).
 * Errors < 0 with e filled when e->status is set, else store errors. */
int api_depset_key_v1(api_call *c, const json_t *body, char key[65], request_error *e);
/* Queues the set's build unless it exists: 1 created, 0 existed; *row_out
 * the public row. */
int api_depset_ensure_v1(api_call *c, const json_t *body, json_t **row_out, request_error *e);
/* Waits (doorbell, api.wait_timeout_ms) until key is ready or failed; *row_out
 * the public row then (or at the timeout). */
int api_depset_wait_v1(api_call *c, const char *key, json_t **row_out);
/* As DELETE /v1/depsets/{key}: builder_evict's answers (1 evicted, 0 held,
 * -EBUSY queued/building or busy, -ENOENT). */
int api_depset_evict_v1(api_call *c, const char *key, char *err, size_t errlen);

/* ---- the one pipeline entry (api_submissions.c) ----
 * Every way in (POST /v1/submissions, its batch form, and every
 * compatibility front in daemon/compat/) goes through api_submit_v1:
 * drained/backpressure refusal -> request_normalize (same limits, profiles,
 * allow_expr from the caller's scopes) -> result cache -> one store
 * transaction -> metrics. body is a v1 request (borrowed).
 *
 * Returns 0 with id_out filled: a new submission, or 1: a result-cache hit
 * (id_out is the earlier, finished submission). With wait, it then waits
 * (doorbell, api.wait_timeout_ms, priority bonus) and, when view_out is not
 * NULL, sets *view_out to the submission view (as GET /v1/submissions/{id});
 * the view's "state" tells whether it ended (api_state_is_terminal) or the wait
 * timed out / the daemon is stopping. Without wait, *view_out (if asked) is
 * the view right after the commit. On failure returns < 0 with e filled:
 * status 4xx (validation, e.field names the v1 field), 503 (code "draining",
 * "queue_full" or "busy"; c->req->retry_after_s is set) or 500. */
int api_submit_v1(api_call *c, json_t *body, bool wait, char id_out[64], json_t **view_out,
                  request_error *e);
/* The request options of c's caller: the API's, allow_expr from its scopes,
 * and pkgset_id the package set of the moment, written into pkgset (the
 * caller's). 0, or -EIO with e filled (500 package_set_unavailable). */
int api_request_opts(api_call *c, request_opts *o, char pkgset[65], request_error *e);
/* Cancels submission id as DELETE /v1/submissions/{id}: 1 cancelled now, 0
 * running (the worker stops at its next renew), -EALREADY already ended,
 * -ENOENT no such id, other < 0 store errors. *view_out (if not NULL) gets
 * the view afterwards (not on errors). */
int api_cancel_v1(api_call *c, const char *id, json_t **view_out);

/* ---- helpers shared by handlers (api_submissions.c) ---- */
/* The client's view of a submission (internal columns removed, its webhook
 * deliveries added as "webhooks"). New reference or NULL; -ENOENT when there
 * is no such id. */
int api_submission_view(store *s, const char *id, json_t **out);
bool api_state_is_terminal(const char *state);
/* Reads the "accepting" setting: false while draining. */
bool api_accepting(store *s);
/* Answers the error for a store failure (-ENOENT -> 404 naming what). */
enum MHD_Result api_store_error(api_call *c, int r, const char *what);
/* Parses the body as JSON; on failure answers 400 and returns NULL. *answered
 * is set when a reply was queued. */
json_t *api_body_json(api_call *c, enum MHD_Result *answered);
