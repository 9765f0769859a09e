/* auth.c — token checks and the rate limiter. See auth.h. */
#include "auth.h"
#include "ratetable.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../../common/cleanup.h"
#include "../../common/hash.h"
#include "../../common/jsonutil.h"
#include "../../common/store_tokens.h"
#include "../../common/monotime.h"

#define RATE_SLOTS 4096 /* callers held; the least recently seen go first */
#define TOUCH_EVERY_MS 60000

static const char *const scope_names[] = {"submit", "read", "admin", "nix-expr", "worker"};
#define N_SCOPES (sizeof(scope_names) / sizeof(*scope_names))

struct auth {
    bool required;
    unsigned anonymous_scopes;
    double rate;  /* per second; 0 = unlimited */
    double burst; /* bucket size */
    pthread_mutex_t lock;
    ratetable *slots;
};

const char *auth_scope_name(unsigned bit)
{
    for (unsigned i = 0; i < N_SCOPES; i++)
        if (bit == 1u << i)
            return scope_names[i];
    return "?";
}

int auth_scopes_parse(const char *csv, unsigned *out, char *err, size_t errlen)
{
    unsigned bits = 0;
    const char *p = csv;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (*p == ' '))
            p++, len--;
        while (len && p[len - 1] == ' ')
            len--;
        if (len) {
            bool ok = false;
            for (unsigned i = 0; i < N_SCOPES; i++) {
                if (strlen(scope_names[i]) == len && !strncmp(p, scope_names[i], len)) {
                    bits |= 1u << i;
                    ok = true;
                }
            }
            if (!ok) {
                if (err)
                    snprintf(
                        err, errlen,
                        "unknown scope \"%.*s\" (known: submit, read, admin, nix-expr, worker)",
                        (int)(len > 40 ? 40 : len), p);
                return -EINVAL;
            }
        }
        p = end ? end + 1 : NULL;
    }
    *out = bits;
    return 0;
}

static unsigned scopes_from_json(const json_t *arr)
{
    unsigned bits = 0;
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        for (unsigned k = 0; k < N_SCOPES; k++)
            if (json_is_string(v) && !strcmp(json_string_value(v), scope_names[k]))
                bits |= 1u << k;
    }
    return bits;
}

int auth_new(const config *cfg, auth **out, char *err, size_t errlen)
{
    auth *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->slots = ratetable_new(RATE_SLOTS);
    if (!a->slots) {
        free(a);
        return -ENOMEM;
    }
    pthread_mutex_init(&a->lock, NULL);
    a->required = config_bool(cfg, "api.auth");
    int r = auth_scopes_parse(config_str(cfg, "api.anonymous_scopes"), &a->anonymous_scopes, err,
                              errlen);
    if (r < 0) {
        auth_free(a);
        return r;
    }
    a->rate = (double)config_int(cfg, "api.rate_limit_per_s");
    a->burst = (double)config_int(cfg, "api.rate_limit_burst");
    if (a->rate < 0)
        a->rate = 0;
    if (a->burst <= 0)
        a->burst = a->rate * 2 < 1 ? 1 : a->rate * 2;
    *out = a;
    return 0;
}

void auth_free(auth *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->lock);
    ratetable_free(a->slots);
    free(a);
}

bool auth_required(const auth *a)
{
    return a->required;
}

/* The caller's entry (created if new); a->lock held. */
static rate_entry *slot_for(auth *a, const char *key, int64_t now)
{
    return ratetable_get(a->slots, key, a->burst, now, NULL);
}

int auth_rate_take(auth *a, store *s, const auth_identity *id)
{
    if (a->rate <= 0)
        return 0;
    if (!s)
        return auth_rate_take_at(a, id, monotime_ms());
    /* The bucket lives in the store: every API process (several nodes behind
     * a load balancer) takes from the same one. */
    int wait = 0;
    int r = store_rate_take(s, id->rate_key, (int64_t)a->rate, (int64_t)a->burst, store_now_ms(),
                            &wait);
    if (r < 0)
        return auth_rate_take_at(a, id, monotime_ms()); /* the store failed: limit here */
    return wait;
}

int auth_rate_take_at(auth *a, const auth_identity *id, int64_t now)
{
    if (a->rate <= 0)
        return 0;
    pthread_mutex_lock(&a->lock);
    rate_entry *sl = slot_for(a, id->rate_key, now);
    sl->tokens += (double)(now - sl->last_ms) * a->rate / 1000.0;
    if (sl->tokens > a->burst)
        sl->tokens = a->burst;
    sl->last_ms = now;
    int wait = 0;
    if (sl->tokens >= 1.0)
        sl->tokens -= 1.0;
    else {
        wait = (int)((1.0 - sl->tokens) / a->rate + 0.999);
        if (wait < 1)
            wait = 1;
    }
    pthread_mutex_unlock(&a->lock);
    return wait;
}

/* Whether this process should write last_used_at now (at most once a minute). */
static bool should_touch(auth *a, const char *token_id)
{
    int64_t now = monotime_ms();
    char key[80];
    snprintf(key, sizeof(key), "tok:%s", token_id);
    pthread_mutex_lock(&a->lock);
    rate_entry *sl = slot_for(a, key, now);
    bool touch = !sl->touched_ms || now - sl->touched_ms >= TOUCH_EVERY_MS;
    if (touch)
        sl->touched_ms = now;
    pthread_mutex_unlock(&a->lock);
    return touch;
}

int auth_identify(auth *a, store *s, const char *authorization, const char *client_addr,
                  auth_identity *id, char *err, size_t errlen)
{
    memset(id, 0, sizeof(*id));
    const char *tok = NULL;
    if (authorization) {
        if (strncasecmp(authorization, "Bearer ", 7)) {
            snprintf(err, errlen, "Authorization must be \"Bearer <token>\"");
            return -EACCES;
        }
        tok = authorization + 7;
        while (*tok == ' ')
            tok++;
    }
    if (!tok || !*tok) {
        if (a->required) {
            snprintf(err, errlen, "this API needs a bearer token (Authorization: Bearer ...)");
            return -EACCES;
        }
        id->anonymous = true;
        id->scopes = a->anonymous_scopes;
        snprintf(id->rate_key, sizeof(id->rate_key), "addr:%s", client_addr);
        return 0;
    }
    char sha[65];
    hash_sha256_hex(tok, strlen(tok), sha);
    _cleanup_json_ json_t *row = NULL;
    int r = store_token_find(s, sha, &row);
    if (r < 0) {
        snprintf(err, errlen, "cannot check the token: %s", store_last_error(s));
        return r == -EACCES ? -EIO : r;
    }
    if (r == 0 || !json_is_null(json_object_get(row, "revoked_at"))) {
        snprintf(err, errlen, r == 0 ? "unknown token" : "this token was revoked");
        return -EACCES;
    }
    snprintf(id->token_id, sizeof(id->token_id), "%s",
             json_string_value(json_object_get(row, "id")));
    id->scopes = scopes_from_json(json_object_get(row, "scopes"));
    snprintf(id->rate_key, sizeof(id->rate_key), "%s", id->token_id);
    if (should_touch(a, id->token_id))
        store_token_touch(s, id->token_id, store_now_ms()); /* best effort */
    return 0;
}

/* ---- farmd token ---- */
