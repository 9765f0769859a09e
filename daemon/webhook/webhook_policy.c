/* webhook_policy.c — signature, backoff and breaker (see webhook_policy.h). */
#include "webhook_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/cleanup.h"
#include "../../common/hash.h"

void webhook_sign(const char *secret, long long ts, const char *body, size_t len,
                  char out[WEBHOOK_SIG_LEN + 1])
{
    char prefix[32];
    int n = snprintf(prefix, sizeof prefix, "%lld.", ts);
    size_t total = (size_t)n + len;
    _cleanup_free_ char *msg = malloc(total + 1);
    char hex[HASH_HEX_LEN + 1] = "";
    if (msg) {
        memcpy(msg, prefix, (size_t)n);
        memcpy(msg + n, body, len);
        hash_hmac_sha256_hex(secret, strlen(secret), msg, total, hex);
    }
    snprintf(out, WEBHOOK_SIG_LEN + 1, "sha256=%s", hex);
}

int64_t webhook_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, uint64_t rnd)
{
    if (attempt < 1)
        attempt = 1;
    if (base_ms < 1)
        base_ms = 1;
    if (max_ms < base_ms)
        max_ms = base_ms;
    int64_t d = base_ms;
    for (int i = 1; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    int64_t half = d / 2;
    return half + (int64_t)(rnd % (uint64_t)(d - half + 1));
}

static int64_t webhook_breaker_cooldown(const webhook_breaker_params *p, int opened)
{
    int64_t c = p->cooldown_ms > 0 ? p->cooldown_ms : 1;
    for (int i = 1; i < opened && c < p->max_cooldown_ms; i++)
        c *= 2;
    return p->max_cooldown_ms > 0 && c > p->max_cooldown_ms ? p->max_cooldown_ms : c;
}

bool webhook_breaker_allow(store_webhook_host *h, const webhook_breaker_params *p, int64_t now,
                           int64_t *retry_at, bool *changed)
{
    *changed = false;
    if (strcmp(h->state, "open") != 0 && strcmp(h->state, "half_open") != 0)
        return true;
    if (now < h->open_until) {
        *retry_at = h->open_until;
        return false;
    }
    /* Cool-down over (open), or the last probe's lease ran out (half_open:
     * its process died): this attempt is the probe. */
    snprintf(h->state, sizeof h->state, "half_open");
    h->open_until = now + p->probe_lease_ms;
    *changed = true;
    return true;
}

void webhook_breaker_record(store_webhook_host *h, const webhook_breaker_params *p, bool ok,
                            int64_t now)
{
    if (ok) {
        snprintf(h->state, sizeof h->state, "closed");
        h->failures = 0;
        h->opened = 0;
        h->open_until = 0;
        return;
    }
    h->failures++;
    bool probing = strcmp(h->state, "half_open") == 0;
    if (probing || h->failures >= p->failures_to_open) {
        h->opened++;
        snprintf(h->state, sizeof h->state, "open");
        h->open_until = now + webhook_breaker_cooldown(p, h->opened);
    }
}
