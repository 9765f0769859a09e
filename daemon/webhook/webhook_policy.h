/* webhook_policy.h — the pure decisions of webhook delivery: signature,
 * retry delay, circuit breaker. No I/O here, so tests can drive time.
 *
 * Signature: X-Farm-Signature: sha256=<hex HMAC-SHA256(secret, ts "." body)>
 * with X-Farm-Timestamp: <ts, unix seconds>, as GitHub/Stripe do: the receiver
 * recomputes it, compares in constant time, and rejects old timestamps to stop
 * replays.
 *
 * Retry delay: "equal jitter" exponential backoff — the nominal delay
 * d = min(max, base * 2^(attempt-1)) is split as d/2 + random(0..d/2), so
 * retries of many deliveries spread out but never come sooner than d/2.
 *
 * Circuit breaker per host (store_webhook_host, persisted by the caller):
 *   closed    --K consecutive failures-->  open (until now + cool-down)
 *   open      --cool-down over, next try-->  half_open (one probe, leased)
 *   half_open --probe ok-->  closed;  --probe fails-->  open (longer cool-down)
 * The cool-down doubles with each consecutive opening, capped at max. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../common/store_webhooks.h"

#define WEBHOOK_SIG_LEN (7 + 64) /* "sha256=" + hex, without the NUL */

/* out gets "sha256=<hex>" over ts "." body. */
void webhook_sign(const char *secret, long long ts, const char *body, size_t len,
                  char out[WEBHOOK_SIG_LEN + 1]);

/* Delay before attempt number `attempt` + 1, given `attempt` failures so far
 * (attempt >= 1). rnd is a uniformly random 64-bit value (injected for tests). */
int64_t webhook_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, uint64_t rnd);

typedef struct {
    int failures_to_open; /* K */
    int64_t cooldown_ms;  /* first cool-down */
    int64_t max_cooldown_ms;
    int64_t probe_lease_ms; /* how long a half-open probe may take before another */
} webhook_breaker_params;

/* May a delivery to this host be attempted now? Returns true and, when the
 * breaker moves open -> half_open (or re-leases a stale probe), updates h and
 * sets *changed so the caller persists it. Returns false with *retry_at when
 * the host's deliveries must wait. */
bool webhook_breaker_allow(store_webhook_host *h, const webhook_breaker_params *p, int64_t now,
                           int64_t *retry_at, bool *changed);

/* Records an attempt's outcome in h (the caller persists it). */
void webhook_breaker_record(store_webhook_host *h, const webhook_breaker_params *p, bool ok,
                            int64_t now);
