/* api_leases.c — the lease protocol over HTTP, for remote workers (scope
 * `worker`; the client is daemon/worker/worker_remote.c).
 *
 * Each endpoint is one store call a local worker makes, with the owner string
 * the worker sends: the server does the lease check exactly as for a local
 * worker, so "finishes exactly once" holds whichever machine runs the work.
 *   POST /v1/leases/claim           store_submission_claim, long-polled
 *   POST /v1/leases/{id}/renew      store_submission_renew
 *   POST /v1/leases/{id}/release    store_submission_release; with "kind" (and
 *                                   "message"): store_submission_release_failed
 *   POST /v1/leases/{id}/events     store_submission_event (worker event types)
 *   POST /v1/leases/{id}/tests      store_submission_test_result
 *   POST /v1/leases/{id}/finish     store_submission_finish[_and_claim]
 *   POST /v1/leases/heartbeat       store_heartbeat / store_heartbeat_remove
 *   GET  /v1/blobs/{key}            store_blob_get (key: the SHA-256; raw bytes)
 * A lease that is no longer the caller's answers 409 (lease_lost), a cancel
 * request 410 (cancelled), an unknown id 404.
 *
 * Long poll: a claim with nothing claimable waits on this process's WORKER
 * doorbell (one listening thread, fanned out to every waiting request by a
 * generation counter, as api_bell.c does for events) and tries again, until
 * wait_ms (at most api.lease_wait_max_ms) passes. The doorbell rings exactly
 * when local workers would be woken: enqueue, requeue, a set turning ready. */
#include "api.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>

#include "../../common/cleanup.h"
#include "../../common/jsonutil.h"
#include "../../common/log.h"
#include "lease_parse.h"

#define LEASE_BELL_FALLBACK_MS 1000

/* ---- the worker doorbell, fanned out to the waiting claims ---- */

static struct {
    pthread_once_t once;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t gen;
    store *s; /* lives as long as the process: the thread never ends */
    bool ok;
} bell = {
    .once = PTHREAD_ONCE_INIT, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static const config *bell_cfg;

static void *bell_main(void *arg)
{
    (void)arg;
    for (;;) {
        int r = store_wait(bell.s, LEASE_BELL_FALLBACK_MS);

        if (r < 0) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (r > 0) {
            pthread_mutex_lock(&bell.mu);
            bell.gen++;
            pthread_cond_broadcast(&bell.cv);
            pthread_mutex_unlock(&bell.mu);
        }
    }
    return NULL;
}

static void bell_start(void)
{
    char err[256] = "";
    _cleanup_free_ char *path = api_db_path(bell_cfg);
    pthread_attr_t a;
    pthread_t t;

    if (!path || store_open(path, config_str(bell_cfg, "state_dir"), &bell.s, err, sizeof(err)) < 0)
        goto fail;
    if (store_doorbell_listen(bell.s, STORE_ROLE_WORKER) < 0)
        goto fail;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    bell.ok = pthread_create(&t, &a, bell_main, NULL) == 0;
    pthread_attr_destroy(&a);
    if (bell.ok)
        return;
fail:
    log_warn("lease-doorbell-unavailable error=\"%s\" reason=\"claims poll every %d ms\"", err,
             LEASE_BELL_FALLBACK_MS);
}

static uint64_t bell_generation(void)
{
    pthread_mutex_lock(&bell.mu);
    uint64_t g = bell.gen;
    pthread_mutex_unlock(&bell.mu);
    return g;
}

/* Waits until the generation moves past seen or ms pass. */
static void bell_wait(uint64_t seen, int ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&bell.mu);
    while (bell.gen == seen && pthread_cond_timedwait(&bell.cv, &bell.mu, &ts) == 0)
        ;
    pthread_mutex_unlock(&bell.mu);
}

/* ---- helpers ---- */

/* The store's errors as the lease protocol's statuses. */
static enum MHD_Result lease_error(api_call *c, int r)
{
    if (r == -ESTALE)
        return http_reply_error(c->req, 409, "lease_lost", "owner",
                                "the lease on %s is no longer this owner's; drop the work",
                                c->param);
    if (r == -ECANCELED)
        return http_reply_error(c->req, 410, "cancelled", NULL,
                                "submission %s was cancelled; finish it as cancelled", c->param);
    if (r == -EINVAL)
        return http_reply_error(c->req, 422, "invalid_value", NULL, "the store refused the value");
    return api_store_error(c, r, "submission");
}

/* Owners (and heartbeat ids) over HTTP start with "remote:": a worker
 * token can then never act on a local worker's lease, whose owner is
 * host:pid:worker-N and easy to guess, and a local worker never takes a
 * remote pid for one of its own host (health_expire_dead_local in
 * common/health_check.c). The checks are lease_parse's (lease_parse.h).
 * Parses the body for op into *q (borrowed from the returned body): NULL
 * when a reply was queued. */
static json_t *lease_body(api_call *c, lease_op op, lease_req *q, enum MHD_Result *ret)
{
    json_t *in = api_body_json(c, ret);
    lease_parse_error e;

    if (!in)
        return NULL;
    if (lease_parse(op, in, config_int(c->ctx->cfg, "lease.ms"),
                    config_int(c->ctx->cfg, "api.lease_wait_max_ms"), q, &e) < 0) {
        json_decref(in);
        *ret = http_reply_error(c->req, (unsigned)e.status, e.code, e.field, "%s", e.message);
        return NULL;
    }
    return in;
}

/* "name:base64(64-byte ed25519 secret key)" -> "name:base64(its public
 * half)": libsodium's secret key ends with the public key, so the farm
 * publishes the key its cache is signed with without a second file. */
static int public_key_of(const char *keyfile, char *out, size_t outlen)
{
    FILE *f = fopen(keyfile, "re");
    char line[512];
    unsigned char raw[96];
    unsigned char pub[64];
    char *colon, *end;
    int n;

    if (!f)
        return -errno;
    if (!fgets(line, sizeof(line), f)) {
        fclose(f);
        return -EIO;
    }
    fclose(f);
    end = line + strcspn(line, "\r\n");
    *end = '\0';
    colon = strchr(line, ':');
    if (!colon || end - (colon + 1) != 88)
        return -EINVAL;
    n = EVP_DecodeBlock(raw, (unsigned char *)colon + 1, 88);
    if (n < 64)
        return -EINVAL;
    n = EVP_EncodeBlock(pub, raw + 32, 32);
    *colon = '\0';
    if ((size_t)snprintf(out, outlen, "%s:%.*s", line, n, (char *)pub) >= outlen)
        return -ENAMETOOLONG;
    return 0;
}

/* {"url", "public_key"} of the farm's signed binary cache, or null. */
static json_t *cache_json(api_call *c)
{
    const char *url = config_str(c->ctx->cfg, "cache.export_url");
    const char *keyfile = config_str(c->ctx->cfg, "cache.secret_key_file");
    char pub[256];

    if (!url || !*url || !keyfile || !*keyfile || public_key_of(keyfile, pub, sizeof(pub)) < 0)
        return json_null();
    return json_pack("{s:s,s:s}", "url", url, "public_key", pub);
}

/* A claimed submission as the remote worker needs it, or null. */
static json_t *claimed_json(const store_claimed *cl)
{
    json_t *req = jsonutil_loads_or_null(cl->request_json);
    json_t *set = jsonutil_loads_or_null(cl->depset_json);

    return json_pack("{s:s,s:s,s:o,s:o,s:i,s:I}", "id", cl->id, "depset_key", cl->depset_key,
                     "request", req, "depset", set, "attempts", cl->attempts, "lease_expires_at",
                     (json_int_t)cl->lease_expires_at);
}

/* ---- handlers ---- */

enum MHD_Result api_lease_claim(api_call *c)
{
    enum MHD_Result ret;
    lease_req q;
    _cleanup_json_ json_t *in = lease_body(c, LEASE_OP_CLAIM, &q, &ret);
    store_claimed cl = {0};
    int64_t lease_ms, deadline;
    long long wait_ms;
    int r;

    if (!in)
        return ret;
    const char *owner = q.owner;
    wait_ms = q.wait_ms;
    lease_ms = q.lease_ms;
    if (wait_ms > 0) {
        bell_cfg = c->ctx->cfg;
        pthread_once(&bell.once, bell_start);
    }
    deadline = store_now_ms() + wait_ms;
    for (;;) {
        /* Read the generation first: a ring between the claim and the wait
         * then still wakes us. */
        uint64_t gen = bell_generation();
        int64_t left;

        r = store_submission_claim(c->st, owner, lease_ms, &cl);
        if (r != 0)
            break;
        left = deadline - store_now_ms();
        if (left <= 0 || (c->ctx->stop && *c->ctx->stop))
            break;
        /* The fallback bounds each wait: a lost ring, a stop, no doorbell. */
        bell_wait(gen, (int)(left < LEASE_BELL_FALLBACK_MS ? left : LEASE_BELL_FALLBACK_MS));
    }
    if (r < 0)
        return api_store_error(c, r, "submission");
    if (r == 1)
        log_info("lease-claimed id=%s owner=%s attempts=%d", cl.id, owner, cl.attempts);
    json_t *ans = json_pack("{s:o,s:o}", "claimed", r == 1 ? claimed_json(&cl) : json_null(),
                            "cache", cache_json(c));
    store_claimed_done(&cl);
    return http_reply_json(c->req, 200, ans);
}

enum MHD_Result api_lease_renew(api_call *c)
{
    enum MHD_Result ret;
    lease_req q;
    _cleanup_json_ json_t *in = lease_body(c, LEASE_OP_RENEW, &q, &ret);

    if (!in)
        return ret;
    int r = store_submission_renew(c->st, c->param, q.owner, q.lease_ms);
    if (r < 0)
        return lease_error(c, r);
    return http_reply_json(c->req, 200, json_pack("{s:s,s:b}", "id", c->param, "renewed", 1));
}

enum MHD_Result api_lease_release(api_call *c)
{
    enum MHD_Result ret;
    lease_req q;
    _cleanup_json_ json_t *in = lease_body(c, LEASE_OP_RELEASE, &q, &ret);

    if (!in)
        return ret;
    if (q.kind) {
        /* A failure of the farm's own on the worker's side: the attempt counts. */
        int r = store_submission_release_failed(c->st, c->param, q.owner, q.kind, q.message);
        if (r < 0)
            return lease_error(c, r);
        log_info("lease-released id=%s owner=%s kind=%s state=%s", c->param, q.owner, q.kind,
                 r == 1 ? "internal_error" : "queued");
        return http_reply_json(c->req, 200,
                               json_pack("{s:s,s:b,s:s}", "id", c->param, "released", 1, "state",
                                         r == 1 ? "internal_error" : "queued"));
    }
    int r = store_submission_release(c->st, c->param, q.owner);
    if (r < 0)
        return lease_error(c, r);
    log_info("lease-released id=%s owner=%s", c->param, q.owner);
    return http_reply_json(c->req, 200, json_pack("{s:s,s:b}", "id", c->param, "released", 1));
}

enum MHD_Result api_lease_event(api_call *c)
{
    enum MHD_Result ret;
    lease_req q;
    _cleanup_json_ json_t *in = lease_body(c, LEASE_OP_EVENT, &q, &ret);

    if (!in)
        return ret;
    int r = store_submission_event(c->st, c->param, q.owner, q.type, q.data);
    if (r < 0)
        return lease_error(c, r);
    return http_reply_json(c->req, 200, json_pack("{s:s,s:b}", "id", c->param, "recorded", 1));
}

enum MHD_Result api_lease_test_result(api_call *c)
{
    enum MHD_Result ret;
    lease_req q;
    _cleanup_json_ json_t *in = lease_body(c, LEASE_OP_TEST, &q, &ret);

    if (!in)
        return ret;
    int r = store_submission_test_result(c->st, c->param, q.owner, q.index, q.result);
    if (r < 0)
        return lease_error(c, r);
    return http_reply_json(c->req, 200, json_pack("{s:s,s:b}", "id", c->param, "recorded", 1));
}

enum MHD_Result api_lease_finish(api_call *c)
{
    enum MHD_Result ret;
    lease_req q;
    _cleanup_json_ json_t *in = lease_body(c, LEASE_OP_FINISH, &q, &ret);
    store_claimed next = {0};
    int r;

    if (!in)
        return ret;
    const char *owner = q.owner, *state = q.state;
    if (q.claim_next)
        r = store_submission_finish_and_claim(c->st, c->param, owner, state, q.verdict, q.result,
                                              q.lease_ms, &next);
    else
        r = store_submission_finish(c->st, c->param, owner, state, q.verdict, q.result);
    if (r < 0) {
        store_claimed_done(&next);
        if (r == -ESTALE)
            log_info("lease-finish-refused id=%s owner=%s reason=\"lease no longer this "
                     "owner's\"",
                     c->param, owner);
        return lease_error(c, r);
    }
    log_info("lease-finished id=%s owner=%s state=%s", c->param, owner, state);
    json_t *ans = json_pack("{s:s,s:b,s:o,s:o}", "id", c->param, "finished", 1, "next",
                            r == 1 ? claimed_json(&next) : json_null(), "cache", cache_json(c));
    store_claimed_done(&next);
    return http_reply_json(c->req, 200, ans);
}

enum MHD_Result api_lease_heartbeat(api_call *c)
{
    enum MHD_Result ret;
    lease_req q;
    _cleanup_json_ json_t *in = lease_body(c, LEASE_OP_HEARTBEAT, &q, &ret);
    int r;

    if (!in)
        return ret;
    if (q.gone)
        r = store_heartbeat_remove(c->st, q.id);
    else
        r = store_heartbeat_doing(c->st, q.id, "worker", q.host, q.pid, q.item, q.doing,
                                  q.deadline_in_ms);
    if (r < 0)
        return api_store_error(c, r, "heartbeat");
    return http_reply_json(c->req, 200, json_pack("{s:s,s:b}", "id", q.id, "recorded", 1));
}

enum MHD_Result api_blob_get(api_call *c)
{
    void *data = NULL;
    size_t len = 0;
    int r;

    if (strlen(c->param) != 64 || strspn(c->param, "0123456789abcdef") != 64)
        return http_reply_error(c->req, 422, "invalid_value", "sha256",
                                "a blob is named by 64 lower-case hex digits");
    r = store_blob_get(c->st, c->param, &data, &len);
    if (r < 0)
        return r == -ENOENT
                   ? http_reply_error(c->req, 404, "not_found", NULL, "no such blob: %s", c->param)
                   : api_store_error(c, r, "blob");
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(data);
        return http_reply_error(c->req, 500, "internal", NULL, "out of memory");
    }
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    return http_reply_response(c->req, 200, resp);
}
