/* worker_remote.c — the worker source over another farm's API (a remote
 * worker: `farmd --role worker --remote http://api-host:port --token T`).
 *
 * Each call of worker_source.h is one HTTP request to /v1/leases/... (scope
 * `worker`) carrying the same owner string a local worker would use; the
 * server answers it with the store call of the same name, so every write is
 * lease-checked where the rows are. Status codes map back to the store's
 * errors: 409 -> -ESTALE (the lease is someone else's), 410 -> -ECANCELED,
 * 404 -> -ENOENT, 401/403 -> -EACCES (logged once with the server's message),
 * 429/503 -> -EAGAIN, a network failure -> -ECONNREFUSED / -ETIMEDOUT.
 *
 * The claim long-polls: the server holds the request open until a submission
 * is claimable or wait_ms passes (it waits on its worker doorbell), so an idle
 * remote worker costs one request per wait. A stop request (SIGTERM) never
 * cuts a claim short: the server may have committed it already, and an answer
 * thrown away would leave the row leased to nobody until lease.ms. The worker
 * caps each wait instead (worker.c), and gives back what a claim returns
 * once it is stopping.
 *
 * The claim answer also names the farm's binary cache (cache.export_url) and
 * its public key; prepare_set imports the parts of the set's closure this
 * machine's Nix store lacks with builder_import_from_cache (Nix checks the
 * signatures). */
#include "worker_source.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../builder/builder.h"
#include "../../common/cleanup.h"
#include "../../common/jsonutil.h"
#include "../../common/log.h"
#include "worker_cache.h"

#define REMOTE_TIMEOUT_MS 60000L
#define REMOTE_CONNECT_TIMEOUT_MS 5000L
#define REMOTE_IMPORT_TRIES 5

typedef struct {
    worker_source base;
    const config *cfg;
    CURL *curl;
    struct curl_slist *headers;
    char *url;           /* base URL without a trailing slash */
    bool refused_logged; /* 401/403 said once */
    char cache_url[1024];
    char cache_key[256];
} remote_src;

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} remote_buf;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    remote_buf *b = userdata;
    size_t n = size * nmemb;

    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;

        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->data, cap);
        if (!p)
            return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static int status_errno(long status)
{
    if (status >= 200 && status < 300)
        return 0;
    switch (status) {
    case 401:
    case 403:
        return -EACCES;
    case 404:
        return -ENOENT;
    case 409:
        return -ESTALE;
    case 410:
        return -ECANCELED;
    case 413:
        return -EFBIG;
    case 429:
    case 503:
        return -EAGAIN;
    default:
        return status >= 500 ? -EIO : -EPROTO;
    }
}

/* One request. body (borrowed, may be NULL) is sent as JSON; the answer's
 * bytes land in *out (owned by the caller, NUL-terminated) when out is not
 * NULL. Returns the errno of the status (see above). */
static int remote_call(remote_src *r, const char *method, const char *path, json_t *body,
                       long timeout_ms, remote_buf *out)
{
    _cleanup_free_ char *url = NULL;
    _cleanup_free_ char *json = NULL;
    remote_buf b = {0};
    long status = 0;
    CURLcode cc;
    int e;

    if (asprintf(&url, "%s%s", r->url, path) < 0) {
        url = NULL;
        return -ENOMEM;
    }
    if (body && !(json = json_dumps(body, JSON_COMPACT)))
        return -ENOMEM;
    curl_easy_setopt(r->curl, CURLOPT_URL, url);
    curl_easy_setopt(r->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(r->curl, CURLOPT_HTTPGET, 0L);
    if (json) {
        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, json);
        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
    } else if (!strcmp(method, "GET")) {
        curl_easy_setopt(r->curl, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    cc = curl_easy_perform(r->curl);
    if (cc != CURLE_OK) {
        free(b.data);
        log_debug("remote-call-failed method=%s path=%s error=\"%s\"", method, path,
                  curl_easy_strerror(cc));
        return cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
    }
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
    e = status_errno(status);
    if (e == -EACCES) {
        _cleanup_json_ json_t *err = b.data ? json_loads(b.data, 0, NULL) : NULL;
        const char *msg =
            json_string_value(json_object_get(json_object_get(err, "error"), "message"));

        if (!r->refused_logged)
            log_error("remote-refused status=%ld url=%s error=\"%s\" reason=\"the API refused "
                      "this worker's token (worker.remote_token needs scope worker)\"",
                      status, r->url, msg ? msg : "");
        r->refused_logged = true;
    } else if (e == -EPROTO || e == -EIO) {
        log_warn("remote-error method=%s path=%s status=%ld body=\"%.200s\"", method, path, status,
                 b.data ? b.data : "");
    }
    if (out)
        *out = b;
    else
        free(b.data);
    return e;
}

/* Calls and parses a JSON answer into *out (may be NULL: answer ignored). */
static int remote_json(remote_src *r, const char *method, const char *path, json_t *body,
                       long timeout_ms, json_t **out)
{
    remote_buf b = {0};
    int e = remote_call(r, method, path, body, timeout_ms, out ? &b : NULL);

    if (out) {
        *out = NULL;
        if (e >= 0) {
            *out = b.data ? json_loads(b.data, 0, NULL) : NULL;
            if (!*out)
                e = -EPROTO;
        }
        free(b.data);
    }
    return e;
}

/* Fills *c from a claim answer's "claimed" object: 1, or 0 for null. */
static int remote_fill_claimed(remote_src *r, const json_t *answer, const char *field,
                               store_claimed *c)
{
    const json_t *o = json_object_get(answer, field);
    const json_t *cache = json_object_get(answer, "cache");
    const char *id, *key;

    memset(c, 0, sizeof(*c));
    if (json_is_object(cache)) {
        const char *u = json_string_value(json_object_get(cache, "url"));
        const char *k = json_string_value(json_object_get(cache, "public_key"));

        snprintf(r->cache_url, sizeof(r->cache_url), "%s", u ? u : "");
        snprintf(r->cache_key, sizeof(r->cache_key), "%s", k ? k : "");
    }
    if (!json_is_object(o))
        return 0;
    id = json_string_value(json_object_get(o, "id"));
    key = json_string_value(json_object_get(o, "depset_key"));
    if (!id || strlen(id) >= sizeof(c->id) || !key || strlen(key) >= sizeof(c->depset_key))
        return -EPROTO;
    snprintf(c->id, sizeof(c->id), "%s", id);
    snprintf(c->depset_key, sizeof(c->depset_key), "%s", key);
    c->request_json = json_dumps(json_object_get(o, "request"), JSON_COMPACT);
    c->depset_json = json_dumps(json_object_get(o, "depset"), JSON_COMPACT);
    c->attempts = (int)json_integer_value(json_object_get(o, "attempts"));
    c->lease_expires_at = json_integer_value(json_object_get(o, "lease_expires_at"));
    if (!c->request_json || !c->depset_json) {
        store_claimed_done(c);
        return -EPROTO;
    }
    return 1;
}

static int remote_claim(worker_source *s, const char *owner, int64_t lease_ms, int wait_ms,
                        store_claimed *out)
{
    remote_src *r = (remote_src *)s;
    _cleanup_json_ json_t *body =
        json_pack("{s:s,s:I,s:i}", "owner", owner, "lease_ms", (json_int_t)lease_ms, "wait_ms",
                  wait_ms > 0 ? wait_ms : 0);
    _cleanup_json_ json_t *ans = NULL;
    int e;

    memset(out, 0, sizeof(*out));
    if (!body)
        return -ENOMEM;
    e = remote_json(r, "POST", "/v1/leases/claim", body, REMOTE_TIMEOUT_MS + wait_ms, &ans);
    if (e < 0)
        return e;
    return remote_fill_claimed(r, ans, "claimed", out);
}

/* POST /v1/leases/<id>/<verb> with body; the answer is ignored. */
static int remote_lease_post(remote_src *r, const char *id, const char *verb, json_t *body)
{
    char path[128];

    if (!body)
        return -ENOMEM;
    snprintf(path, sizeof(path), "/v1/leases/%s/%s", id, verb);
    return remote_json(r, "POST", path, body, REMOTE_TIMEOUT_MS, NULL);
}

static int remote_renew(worker_source *s, const char *id, const char *owner, int64_t lease_ms)
{
    _cleanup_json_ json_t *b =
        json_pack("{s:s,s:I}", "owner", owner, "lease_ms", (json_int_t)lease_ms);
    return remote_lease_post((remote_src *)s, id, "renew", b);
}

static int remote_release(worker_source *s, const char *id, const char *owner)
{
    _cleanup_json_ json_t *b = json_pack("{s:s}", "owner", owner);
    return remote_lease_post((remote_src *)s, id, "release", b);
}

/* The same verb with the failure's kind and message: the attempt counts. */
static int remote_release_failed(worker_source *s, const char *id, const char *owner,
                                 const char *kind, const char *message)
{
    _cleanup_json_ json_t *b =
        json_pack("{s:s,s:s,s:s}", "owner", owner, "kind", kind, "message", message ? message : "");
    _cleanup_json_ json_t *ans = NULL;
    char path[128];
    int e;

    if (!b)
        return -ENOMEM;
    snprintf(path, sizeof(path), "/v1/leases/%s/release", id);
    e = remote_json((remote_src *)s, "POST", path, b, REMOTE_TIMEOUT_MS, &ans);
    if (e < 0)
        return e;
    return json_is_string(json_object_get(ans, "state")) &&
                   !strcmp(json_string_value(json_object_get(ans, "state")), "internal_error")
               ? 1
               : 0;
}

static int remote_event(worker_source *s, const char *id, const char *owner, const char *type,
                        json_t *data)
{
    _cleanup_json_ json_t *b =
        json_pack("{s:s,s:s,s:O}", "owner", owner, "type", type, "data", data ? data : json_null());
    return remote_lease_post((remote_src *)s, id, "events", b);
}

static int remote_test_result(worker_source *s, const char *id, const char *owner, int index,
                              json_t *result)
{
    _cleanup_json_ json_t *b =
        json_pack("{s:s,s:i,s:O}", "owner", owner, "index", index, "result", result);
    return remote_lease_post((remote_src *)s, id, "tests", b);
}

static json_t *finish_body(const char *owner, const char *state, const char *verdict,
                           json_t *result)
{
    return json_pack("{s:s,s:s,s:s?,s:O}", "owner", owner, "state", state, "verdict", verdict,
                     "result", result);
}

/* Empties the streams of one stage or test object, flagged truncated. */
static void strip_streams(json_t *o)
{
    if (!json_is_object(o))
        return;
    if (json_object_get(o, "stdout")) {
        json_object_set_new(o, "stdout", json_string(""));
        json_object_set_new(o, "stdout_truncated", json_true());
    }
    if (json_object_get(o, "stderr")) {
        json_object_set_new(o, "stderr", json_string(""));
        json_object_set_new(o, "stderr_truncated", json_true());
    }
    json_object_set_new(o, "encoding", json_string("utf8"));
}

/* A copy of result without outputs, for a finish whose body the API refused
 * as too large (413: api.max_body_bytes is below what this worker's
 * worker.max_result_output_bytes lets a result hold, once encoded). The
 * verdicts stand; each test's output was already stored with its test
 * result, which the finish would overwrite anyway. */
static json_t *result_without_outputs(json_t *result)
{
    json_t *r = json_deep_copy(result);
    json_t *t;
    size_t i;

    if (!r)
        return NULL;
    strip_streams(json_object_get(r, "compile"));
    json_array_foreach(json_object_get(r, "tests"), i, t) strip_streams(t);
    json_object_set_new(r, "output_dropped",
                        json_string("the result was larger than the API takes in one request"));
    return r;
}

static int remote_finish(worker_source *s, const char *id, const char *owner, const char *state,
                         const char *verdict, json_t *result)
{
    _cleanup_json_ json_t *b = finish_body(owner, state, verdict, result);
    int e = remote_lease_post((remote_src *)s, id, "finish", b);

    if (e == -EFBIG) {
        _cleanup_json_ json_t *small = result_without_outputs(result);
        _cleanup_json_ json_t *b2 = small ? finish_body(owner, state, verdict, small) : NULL;

        log_warn("result-too-large id=%s reason=\"413 from the API: finishing without outputs\"",
                 id);
        e = remote_lease_post((remote_src *)s, id, "finish", b2);
    }
    return e;
}

/* The finish and the next claim in one request and one server commit. */
static int remote_finish_and_claim(worker_source *s, const char *id, const char *owner,
                                   const char *state, const char *verdict, json_t *result,
                                   int64_t lease_ms, store_claimed *next)
{
    remote_src *r = (remote_src *)s;
    _cleanup_json_ json_t *b = finish_body(owner, state, verdict, result);
    _cleanup_json_ json_t *ans = NULL;
    char path[128];
    int e;

    memset(next, 0, sizeof(*next));
    if (!b)
        return -ENOMEM;
    json_object_set_new(b, "next_lease_ms", json_integer(lease_ms));
    snprintf(path, sizeof(path), "/v1/leases/%s/finish", id);
    e = remote_json(r, "POST", path, b, REMOTE_TIMEOUT_MS, &ans);
    if (e == -EFBIG) /* the plain finish drops the outputs; claim next time */
        return remote_finish(s, id, owner, state, verdict, result);
    if (e < 0)
        return e;
    e = remote_fill_claimed(r, ans, "next", next);
    /* The finish is written either way: a next we cannot read expires. */
    return e < 0 ? 0 : e;
}

static int remote_blob_get(worker_source *s, const char *sha256, void **data, size_t *len)
{
    remote_src *r = (remote_src *)s;
    remote_buf b = {0};
    char path[128];
    int e;

    *data = NULL;
    *len = 0;
    if (strlen(sha256) != 64 || strspn(sha256, "0123456789abcdef") != 64)
        return -EINVAL;
    snprintf(path, sizeof(path), "/v1/blobs/%s", sha256);
    e = remote_call(r, "GET", path, NULL, REMOTE_TIMEOUT_MS, &b);
    if (e < 0) {
        free(b.data);
        return e;
    }
    if (!b.data && !(b.data = calloc(1, 1)))
        return -ENOMEM;
    *data = b.data;
    *len = b.len;
    return 0;
}

static int remote_heartbeat(worker_source *s, const char *id, const char *host, int pid,
                            const char *current_item, const char *doing, int64_t deadline_in_ms)
{
    /* The deadline travels as "ms from now": the two clocks need not agree. */
    _cleanup_json_ json_t *b =
        json_pack("{s:s,s:s,s:i,s:s?,s:s?,s:I}", "id", id, "host", host, "pid", pid, "current_item",
                  current_item, "doing", doing, "deadline_in_ms", (json_int_t)deadline_in_ms);
    if (!b)
        return -ENOMEM;
    return remote_json((remote_src *)s, "POST", "/v1/leases/heartbeat", b, REMOTE_TIMEOUT_MS, NULL);
}

static int remote_heartbeat_remove(worker_source *s, const char *id)
{
    _cleanup_json_ json_t *b = json_pack("{s:s,s:b}", "id", id, "gone", 1);
    if (!b)
        return -ENOMEM;
    return remote_json((remote_src *)s, "POST", "/v1/leases/heartbeat", b, REMOTE_TIMEOUT_MS, NULL);
}

/* The claim itself long-polled: nothing to wait for here. */
static int remote_wait(worker_source *s, int timeout_ms)
{
    (void)s;
    (void)timeout_ms;
    return 0;
}

static int remote_prepare_set(worker_source *s, const store_claimed *c, char *err, size_t errlen)
{
    remote_src *r = (remote_src *)s;
    _cleanup_json_ json_t *set = json_loads(c->depset_json, 0, NULL);
    int e = worker_cache_import_closure(r->cfg, set, r->cache_url, r->cache_key,
                                        "the farm's cache.export_url and cache.secret_key_file",
                                        REMOTE_IMPORT_TRIES, s->stop, err, errlen);
    if (e > 0)
        log_info("closure-imported id=%s key=%s paths=%d url=%s", c->id, c->depset_key, e,
                 r->cache_url);
    else if (e == 0)
        log_debug("closure-present id=%s key=%s", c->id, c->depset_key);
    return e;
}

static void remote_close(worker_source *s)
{
    remote_src *r = (remote_src *)s;

    if (r->curl)
        curl_easy_cleanup(r->curl);
    curl_slist_free_all(r->headers);
    free(r->url);
    free(r);
}

static const worker_source_ops remote_ops = {
    .claim = remote_claim,
    .renew = remote_renew,
    .release = remote_release,
    .release_failed = remote_release_failed,
    .event = remote_event,
    .test_result = remote_test_result,
    .finish = remote_finish,
    .finish_and_claim = remote_finish_and_claim,
    .blob_get = remote_blob_get,
    .heartbeat = remote_heartbeat,
    .heartbeat_remove = remote_heartbeat_remove,
    .wait = remote_wait,
    .prepare_set = remote_prepare_set,
    .close = remote_close,
};

int worker_remote_open(const config *cfg, worker_source **out, char *err, size_t errlen)
{
    const char *url = config_str(cfg, "worker.remote_url");
    const char *token = config_str(cfg, "worker.remote_token");
    _cleanup_free_ char *auth = NULL;
    remote_src *r;
    size_t n;

    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        snprintf(err, errlen, "worker.remote_url must be an http:// or https:// URL (got %s)",
                 url ? url : "nothing");
        return -EINVAL;
    }
    pthread_once(&curl_once, curl_init_once);
    r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->base.ops = &remote_ops;
    r->base.remote = true;
    r->cfg = cfg;
    r->url = strdup(url);
    r->curl = curl_easy_init();
    if (r->url) {
        n = strlen(r->url);
        while (n > 0 && r->url[n - 1] == '/')
            r->url[--n] = '\0';
    }
    r->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (token && *token) {
        if (asprintf(&auth, "Authorization: Bearer %s", token) < 0)
            auth = NULL;
        if (auth && r->headers)
            r->headers = curl_slist_append(r->headers, auth);
    }
    if (!r->url || !r->curl || !r->headers || (token && *token && !auth)) {
        remote_close(&r->base);
        return -ENOMEM;
    }
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT_MS, REMOTE_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r->curl, CURLOPT_USERAGENT, "nixfarm-remote-worker");
    *out = &r->base;
    return 0;
}
