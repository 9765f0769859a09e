/* webhook.c — the webhook role: claim, check, sign, POST, record (webhook.h). */
#include "webhook.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>

#include "../../common/cleanup.h"
#include "../../common/hash.h"
#include "../../common/jsonutil.h"
#include "../../common/log.h"
#include "../../common/store_webhooks.h"
#include "farm-build-config.h"
#include "../roles.h"
#include "../../common/netaddr_url.h"
#include "webhook_policy.h"

static inline void webhook_curl_cleanupp(CURL **c)
{
    if (*c)
        curl_easy_cleanup(*c);
}
static inline void webhook_slist_freep(struct curl_slist **l)
{
    curl_slist_free_all(*l);
}
static inline void webhook_donep(store_webhook *w)
{
    store_webhook_done(w);
}

int webhook_secret(const config *cfg, store *s, char **out, char *err, size_t errlen)
{
    const char *conf = config_str(cfg, "webhook.secret");
    if (conf && *conf) {
        *out = strdup(conf);
        return *out ? 0 : -ENOMEM;
    }
    char *v = NULL;
    int r = store_setting_get(s, "webhook.secret", &v);
    if (r < 0) {
        snprintf(err, errlen, "reading the webhook secret: %s", strerror(-r));
        return r;
    }
    if (!v) {
        unsigned char raw[32];
        r = hash_random_bytes(raw, sizeof raw);
        if (r < 0)
            return r;
        v = malloc(65);
        if (!v)
            return -ENOMEM;
        for (size_t i = 0; i < sizeof raw; i++)
            snprintf(v + 2 * i, 3, "%02x", raw[i]);
        r = store_setting_set(s, "webhook.secret", v);
        if (r < 0) {
            free(v);
            snprintf(err, errlen, "storing the webhook secret: %s", strerror(-r));
            return r;
        }
    }
    /* The operator reads it here to configure receivers. */
    _cleanup_free_ char *path = config_state_path(cfg, "webhook.secret");
    if (path) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0)
            (void)!write(fd, v, strlen(v));
    }
    *out = v;
    return 0;
}

/* ---- the request ---------------------------------------------------------- */

/* Drops stdout/stderr of every stage so a huge result still fits. */
static void webhook_strip_outputs(json_t *view)
{
    json_t *result = json_object_get(view, "result");
    json_t *stages[] = {json_object_get(result, "compile"), NULL};
    json_t *tests = json_object_get(result, "tests");
    const char *drop[] = {"stdout", "stderr"};
    for (size_t k = 0; k < 2; k++)
        if (json_is_object(stages[0]))
            json_object_del(stages[0], drop[k]);
    size_t i;
    json_t *t;
    json_array_foreach(tests, i, t) for (size_t k = 0; k < 2; k++) json_object_del(t, drop[k]);
    json_array_foreach(json_object_get(view, "tests"), i, t) for (size_t k = 0; k < 2; k++)
        json_object_del(t, drop[k]);
    json_object_set_new(view, "outputs_omitted", json_true());
}

static webhook_front_body_fn webhook_front_body;

void webhook_set_front_body(webhook_front_body_fn fn)
{
    webhook_front_body = fn;
}

static char *webhook_body(const config *cfg, store *s, const char *submission_id, char *state_out,
                          size_t state_len, const char **method)
{
    _cleanup_json_ json_t *view = NULL;
    *method = "POST";
    if (store_submission_get(s, submission_id, &view) < 0 || !view)
        return NULL;
    if (webhook_front_body) {
        char *front = webhook_front_body(s, cfg, view, method);
        if (front) {
            snprintf(state_out, state_len, "%s",
                     json_string_value(json_object_get(view, "state")) ?: "unknown");
            return front;
        }
        *method = "POST";
    }
    /* The same view GET /v1/submissions/{id} shows: no internal bookkeeping,
     * and not the deliveries (they would describe this very one). */
    static const char *const hidden[] = {"webhooks", "request",   "lease_owner", "lease_expires_at",
                                         "token_id", "cache_key", "max_attempts"};
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++)
        json_object_del(view, hidden[i]);
    snprintf(state_out, state_len, "%s",
             json_string_value(json_object_get(view, "state")) ?: "unknown");
    char *body = json_dumps(view, JSON_COMPACT);
    long long max = config_int(cfg, "webhook.max_body_bytes");
    if (body && max > 0 && (long long)strlen(body) > max) {
        free(body);
        webhook_strip_outputs(view);
        body = json_dumps(view, JSON_COMPACT);
    }
    return body;
}

static size_t webhook_discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    size_t *seen = userdata;
    *seen += size * nmemb;
    /* Receivers answer briefly; a body of megabytes is not worth reading. */
    return *seen > 65536 ? 0 : size * nmemb;
}

static int webhook_progress(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    volatile sig_atomic_t *stop = p;
    return stop && *stop ? 1 : 0;
}

/* Sends body (POST, or method); returns the HTTP status (> 0), or 0 with err
 * when no answer. */
static long webhook_post(const config *cfg, const netaddr_url_target *t, const char *url,
                         const char *method, const char *delivery_id, const char *submission_id,
                         const char *state, const char *secret, const char *body,
                         volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    _cleanup_(webhook_curl_cleanupp) CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "curl_easy_init failed");
        return 0;
    }
    long long ts = (long long)time(NULL);
    char sig[WEBHOOK_SIG_LEN + 1];
    webhook_sign(secret, ts, body, strlen(body), sig);

    _cleanup_(webhook_slist_freep) struct curl_slist *hdrs = NULL;
    char line[512];
    const char *fixed[] = {"Content-Type: application/json",
                           "Expect:", "User-Agent: nixfarm-webhook/" FARM_VERSION};
    for (size_t i = 0; i < 3; i++)
        hdrs = curl_slist_append(hdrs, fixed[i]);
    snprintf(line, sizeof line, "X-Farm-Event: submission.%s", state);
    hdrs = curl_slist_append(hdrs, line);
    snprintf(line, sizeof line, "X-Farm-Delivery: %s", delivery_id);
    hdrs = curl_slist_append(hdrs, line);
    snprintf(line, sizeof line, "X-Farm-Submission: %s", submission_id);
    hdrs = curl_slist_append(hdrs, line);
    snprintf(line, sizeof line, "X-Farm-Timestamp: %lld", ts);
    hdrs = curl_slist_append(hdrs, line);
    snprintf(line, sizeof line, "X-Farm-Signature: %s", sig);
    hdrs = curl_slist_append(hdrs, line);
    _cleanup_(webhook_slist_freep) struct curl_slist *resolve = NULL;
    if (t->resolve[0])
        resolve = curl_slist_append(NULL, t->resolve);

    char ebuf[CURL_ERROR_SIZE] = "";
    size_t seen = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    if (strcmp(method, "POST"))
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    /* Pinned to the address we checked; no redirect, no proxy may undo that. */
    if (resolve)
        curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)config_int(cfg, "webhook.timeout_ms"));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)config_int(cfg, "webhook.connect_timeout_ms"));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, webhook_discard);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &seen);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, webhook_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)stop);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_WRITE_ERROR && status > 0)
        return status; /* we stopped reading a long answer; the status counts */
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
        return 0;
    }
    return status;
}

/* ---- one delivery ----------------------------------------------------------- */

/* The breaker's read-check-write of a host row must not interleave between
 * this process's senders (one webhook process per farm). */
static pthread_mutex_t webhook_breaker_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t webhook_random(void)
{
    uint64_t v = 0;
    if (hash_random_bytes(&v, sizeof v) < 0)
        v = (uint64_t)store_now_ms() * 2654435761u;
    return v;
}

static webhook_breaker_params webhook_params(const config *cfg)
{
    webhook_breaker_params p = {
        .failures_to_open = (int)config_int(cfg, "webhook.breaker_failures"),
        .cooldown_ms = config_int(cfg, "webhook.breaker_cooldown_ms"),
        .max_cooldown_ms = config_int(cfg, "webhook.backoff_max_ms"),
        .probe_lease_ms = config_int(cfg, "webhook.timeout_ms") + 5000,
    };
    if (p.failures_to_open < 1)
        p.failures_to_open = 1;
    return p;
}

int webhook_deliver_one(const config *cfg, store *s, const char *owner, volatile sig_atomic_t *stop)
{
    int64_t now = store_now_ms();
    _cleanup_(webhook_donep) store_webhook w = {0};
    int r = store_webhook_claim(s, owner, now, config_int(cfg, "webhook.lease_ms"), &w);
    if (r <= 0)
        return r;

    int64_t max_age = config_int(cfg, "webhook.max_age_ms");
    if (max_age > 0 && now - w.created_at > max_age) {
        log_warn("webhook-expired delivery=%s submission=%s attempts=%d", w.id, w.submission_id,
                 w.attempts);
        r = store_webhook_attempt(s, w.id, owner, 0, "gave up: older than webhook.max_age_ms", 0,
                                  STORE_WEBHOOK_FAILED, 0);
        return r < 0 ? r : 1;
    }

    char err[512] = "";
    netaddr_url_target t;
    r = netaddr_url_resolve(w.url, config_bool(cfg, "webhook.allow_private"), &t, err, sizeof err);
    if (r == -EACCES || r == -EINVAL) {
        /* Refused for good: retrying cannot make the address public. */
        log_warn("webhook-refused delivery=%s submission=%s reason=\"%s\"", w.id, w.submission_id,
                 err);
        r = store_webhook_attempt(s, w.id, owner, 0, err, 0, STORE_WEBHOOK_FAILED, 0);
        return r < 0 ? r : 1;
    }

    webhook_breaker_params bp = webhook_params(cfg);
    store_webhook_host host;
    const char *hkey = r == 0 ? t.key : "(unresolved)";
    if (r == 0) {
        int64_t retry_at = 0;
        bool changed = false;
        pthread_mutex_lock(&webhook_breaker_lock);
        int q = store_webhook_host_get(s, hkey, &host);
        bool allowed = q >= 0 && webhook_breaker_allow(&host, &bp, now, &retry_at, &changed);
        if (allowed && changed)
            q = store_webhook_host_put(s, hkey, &host);
        pthread_mutex_unlock(&webhook_breaker_lock);
        if (q < 0)
            return q;
        if (!allowed) {
            log_debug("webhook-held delivery=%s host=%s until=%lld", w.id, hkey,
                      (long long)retry_at);
            q = store_webhook_defer(s, w.id, owner, retry_at);
            return q < 0 ? q : 1;
        }
    }

    long status = 0;
    int64_t t0 = store_now_ms();
    if (r == 0) {
        char state[32];
        _cleanup_free_ char *secret = NULL;
        const char *method = "POST";
        _cleanup_free_ char *body =
            webhook_body(cfg, s, w.submission_id, state, sizeof state, &method);
        int q = webhook_secret(cfg, s, &secret, err, sizeof err);
        if (q < 0)
            return q;
        if (!body) {
            snprintf(err, sizeof err, "submission %s cannot be read", w.submission_id);
            q = store_webhook_attempt(s, w.id, owner, 0, err, 0, STORE_WEBHOOK_FAILED, 0);
            return q < 0 ? q : 1;
        }
        status = webhook_post(cfg, &t, w.url, method, w.id, w.submission_id, state, secret, body,
                              stop, err, sizeof err);
        if (status == 0 && stop && *stop) {
            /* Interrupted by shutdown, not the receiver's fault: no attempt. */
            int q2 = store_webhook_defer(s, w.id, owner, store_now_ms());
            return q2 < 0 ? q2 : 1;
        }
        if (status > 0 && (status < 200 || status > 299))
            snprintf(err, sizeof err, "HTTP %ld", status);
    }
    int64_t end = store_now_ms();
    bool ok = status >= 200 && status <= 299;
    if (r == 0) {
        /* Re-read: another sender may have moved this host's breaker. */
        pthread_mutex_lock(&webhook_breaker_lock);
        int q = store_webhook_host_get(s, hkey, &host);
        if (q >= 0) {
            webhook_breaker_record(&host, &bp, ok, end);
            q = store_webhook_host_put(s, hkey, &host);
        }
        pthread_mutex_unlock(&webhook_breaker_lock);
        if (q < 0)
            return q;
        if (!ok && strcmp(host.state, "open") == 0)
            log_warn("webhook-breaker-open host=%s failures=%d until=%lld", hkey, host.failures,
                     (long long)host.open_until);
    }
    store_webhook_outcome outcome = ok ? STORE_WEBHOOK_DELIVERED : STORE_WEBHOOK_RETRY;
    int64_t next = 0;
    if (!ok) {
        next =
            end + webhook_backoff_ms(w.attempts + 1, config_int(cfg, "webhook.backoff_base_ms"),
                                     config_int(cfg, "webhook.backoff_max_ms"), webhook_random());
        if (max_age > 0 && next - w.created_at > max_age) {
            outcome = STORE_WEBHOOK_FAILED;
            size_t n = strlen(err);
            snprintf(err + n, sizeof err - n,
                     "; gave up: the next try would pass webhook.max_age_ms");
        }
    }
    r = store_webhook_attempt(s, w.id, owner, (int)status, ok ? NULL : err, end - t0, outcome,
                              next);
    if (r < 0)
        return r;
    log_info(
        "webhook-attempt delivery=%s submission=%s attempt=%d status=%ld outcome=%s ms=%lld%s%s%s",
        w.id, w.submission_id, w.attempts + 1, status,
        ok                                ? "delivered"
        : outcome == STORE_WEBHOOK_FAILED ? "failed"
                                          : "retry",
        (long long)(end - t0), ok ? "" : " error=\"", ok ? "" : err, ok ? "" : "\"");
    return 1;
}

/* ---- the role -------------------------------------------------------------- */

static inline void webhook_store_closep(store **s)
{
    store_close(*s);
}

typedef struct {
    const config *cfg;
    volatile sig_atomic_t *stop;
    int index;
    int result;
} webhook_sender;

/* One sender: its own store connection and owner name, claiming and
 * delivering until stop. Several run at once so that one slow receiver (up
 * to webhook.timeout_ms per attempt) does not hold up everybody else's. */
static void *webhook_sender_loop(void *arg)
{
    webhook_sender *ws = arg;
    const config *cfg = ws->cfg;
    char err[512] = "";
    _cleanup_(webhook_store_closep) store *s = NULL;
    int r = store_open_config(cfg, &s, err, sizeof err);
    if (r < 0) {
        log_error("webhook-store-open error=\"%s\"", err);
        ws->result = r;
        return NULL;
    }
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    char owner[160];
    snprintf(owner, sizeof owner, "webhook-%s-%d-%d", host, (int)getpid(), ws->index);

    int64_t poll = config_int(cfg, "webhook.poll_ms");
    if (poll < 10)
        poll = 10;
    int failures = 0;
    while (!*ws->stop) {
        r = webhook_deliver_one(cfg, s, owner, ws->stop);
        if (r > 0) {
            failures = 0;
            continue;
        }
        if (r < 0) {
            /* A busy or broken database: say so, back off, keep going. */
            if (failures++ < 3 || failures % 100 == 0)
                log_warn("webhook-store error=%d msg=\"%s\"", r, strerror(-r));
        }
        int64_t due = INT64_MAX, now = store_now_ms();
        store_webhook_next_due(s, &due);
        int64_t wait = due == INT64_MAX ? poll : due - now;
        if (wait > poll)
            wait = poll;
        if (wait < 1)
            wait = 1;
        /* Short naps so a stop request is honoured quickly. */
        for (int64_t slept = 0; slept < wait && !*ws->stop; slept += 50) {
            int64_t step = wait - slept < 50 ? wait - slept : 50;
            struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

/* This process's heartbeat row ("webhooks"), every heartbeat.interval_ms
 * until stop; removed at the end. */
static void webhook_heartbeat_loop(const config *cfg, volatile sig_atomic_t *stop)
{
    char err[512] = "", host[64] = "", id[128];
    _cleanup_(webhook_store_closep) store *s = NULL;
    int64_t every = config_int(cfg, "heartbeat.interval_ms"), next = 0;

    if (store_open_config(cfg, &s, err, sizeof err) < 0) {
        log_warn("webhook-heartbeat-store-open error=\"%s\"", err);
        s = NULL;
    }
    gethostname(host, sizeof host - 1);
    snprintf(id, sizeof id, "webhooks-%s-%d", host, (int)getpid());
    if (every <= 0)
        every = 5000;
    while (!*stop) {
        int64_t now = store_now_ms();
        if (s && now >= next) {
            if (store_heartbeat_doing(s, id, "webhooks", host, (int)getpid(), NULL, "delivering",
                                      0) < 0)
                log_warn("heartbeat-failed error=\"%s\"", store_last_error(s));
            next = now + every;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (s)
        store_heartbeat_remove(s, id);
}

int webhook_run(const config *cfg, volatile sig_atomic_t *stop)
{
    log_set_role("webhooks");
    char err[512] = "";
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        log_error("webhook-curl-init failed");
        return -EIO;
    }
    /* Make (and publish) the secret at start, so an operator can read it
     * before the first callback. */
    {
        _cleanup_(webhook_store_closep) store *s = NULL;
        _cleanup_free_ char *secret = NULL;
        int r = store_open_config(cfg, &s, err, sizeof err);
        if (r >= 0)
            r = webhook_secret(cfg, s, &secret, err, sizeof err);
        if (r < 0) {
            log_error("webhook-start error=\"%s\"", err);
            curl_global_cleanup();
            return r;
        }
    }
    int n = (int)config_int(cfg, "webhook.senders");
    if (n < 1)
        n = 1;
    if (n > 64)
        n = 64;
    webhook_sender ws[64];
    pthread_t th[64];
    int started = 0;
    log_info("webhook-start senders=%d", n);
    for (int i = 0; i < n; i++)
        ws[i] = (webhook_sender){.cfg = cfg, .stop = stop, .index = i};
    for (int i = 0; i < n; i++) {
        if (pthread_create(&th[i], NULL, webhook_sender_loop, &ws[i]) != 0) {
            log_warn("webhook-thread failed index=%d", i);
            break;
        }
        started++;
    }
    /* The main thread heartbeats for the process while the senders deliver
     * (a slow receiver holds a sender, never the heartbeat). */
    if (started > 0)
        webhook_heartbeat_loop(cfg, stop);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    log_info("webhook-stop");
    curl_global_cleanup();
    for (int i = 0; i < started; i++)
        if (ws[i].result < 0)
            return ws[i].result;
    return 0;
}
