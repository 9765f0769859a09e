/* store_webhooks.h — the webhook outbox: deliveries, attempts, host breakers.
 *
 * Rows appear by themselves: a trigger (schema/020_webhooks.sql) inserts a
 * pending delivery in the transaction that moves a submission with a
 * callback_url into a terminal state. The webhook role (daemon/webhook.c)
 * claims due deliveries with a lease (so a restart, or a second webhook
 * process, resumes exactly the unfinished ones), records each attempt, and
 * keeps one circuit breaker per host in the store.
 *
 * Delivery states: pending -> delivered | failed. All times are ms since the
 * epoch (store_now_ms). Return values follow store.h: >= 0 ok, -errno, and
 * -ESTALE when the caller's lease on the delivery is gone. */
#pragma once

#include <stdint.h>
#include <jansson.h>

#include "store.h"

typedef struct {
    char id[33];
    char submission_id[33];
    char *url;    /* owned */
    int attempts; /* attempts made before this claim */
    int64_t created_at;
} store_webhook;
void store_webhook_done(store_webhook *w);

/* Claims the pending delivery due soonest (next_attempt_at <= now) whose lease
 * is free or expired, for owner until now + lease_ms. 1 claimed, 0 none, <0. */
int store_webhook_claim(store *s, const char *owner, int64_t now, int64_t lease_ms,
                        store_webhook *out);

typedef enum {
    STORE_WEBHOOK_RETRY,     /* stays pending until next_attempt_at */
    STORE_WEBHOOK_DELIVERED, /* 2xx received */
    STORE_WEBHOOK_FAILED,    /* gave up (max age, refused address...) */
} store_webhook_outcome;

/* Records one attempt (http_status 0 = no answer; error may be NULL) and moves
 * the delivery per outcome, releasing the lease. Owner-checked: -ESTALE. */
int store_webhook_attempt(store *s, const char *id, const char *owner, int http_status,
                          const char *error, int64_t duration_ms, store_webhook_outcome outcome,
                          int64_t next_attempt_at);

/* Gives the delivery back without an attempt, due again at `until` (its host's
 * breaker is open). Owner-checked. */
int store_webhook_defer(store *s, const char *id, const char *owner, int64_t until);

/* When the next pending delivery is due (INT64_MAX when none): lets the role
 * sleep exactly as long as it may. */
int store_webhook_next_due(store *s, int64_t *at);

/* ---- per-host circuit breaker ---- */
typedef struct {
    char state[12];     /* "closed", "open", "half_open" */
    int failures;       /* consecutive */
    int opened;         /* consecutive openings */
    int64_t open_until; /* 0 when closed */
} store_webhook_host;
/* Fills *out with the host's row, or a closed breaker when there is none. */
int store_webhook_host_get(store *s, const char *host, store_webhook_host *out);
int store_webhook_host_put(store *s, const char *host, const store_webhook_host *h);

/* The deliveries of a submission for its GET view, oldest first:
 * [{id, url, state, attempts, next_attempt_at, last_status, last_error,
 *   created_at, delivered_at, finished_at,
 *   attempt_log: [{attempt, status, error, duration_ms, at}]}]
 * (an empty array when there are none). New reference in *out. */
int store_webhook_deliveries_json(store *s, const char *submission_id, json_t **out);
