/* webhook.h — the webhook role: drains the outbox (common/store_webhooks.h).
 *
 * Theory of operation
 * -------------------
 * A submission with a callback_url that reaches a terminal state gets an
 * outbox row in the same transaction (trigger, schema/020_webhooks.sql).
 * webhook_run (farmd --role webhooks, one process) runs webhook.senders
 * threads, each with its own store connection, and each loops:
 *
 *   claim the due delivery (lease webhook.lease_ms)
 *     -> older than webhook.max_age_ms?          failed
 *     -> resolve + check every address (SSRF)    refused: failed
 *     -> host breaker open?                      defer to its cool-down end
 *     -> POST the submission's GET view, signed, pinned to the checked address
 *     -> 2xx: delivered; else retry after backoff (or failed past max age)
 *     -> breaker updated and stored
 *
 * Every step is in the store, so killing the process at any point loses
 * nothing: an unfinished attempt's lease expires and the delivery is claimed
 * again with the same attempt count. At-least-once: a receiver may see a
 * delivery twice when we die after its 2xx and before we record it, so
 * receivers dedupe by X-Farm-Delivery.
 *
 * Request headers: Content-Type: application/json, User-Agent:
 * nixfarm-webhook/<version>, X-Farm-Event: submission.<state>, X-Farm-Delivery:
 * <delivery id>, X-Farm-Submission: <id>, X-Farm-Timestamp: <unix s>,
 * X-Farm-Signature: sha256=<hex> (webhook_policy.h). */
#pragma once

#include <signal.h>
#include <stddef.h>

#include <jansson.h>

#include "../../common/config.h"
#include "../../common/store.h"

/* The signing secret: webhook.secret, else one generated once, kept in the
 * store's settings ("webhook.secret") and written to <state_dir>/webhook.secret
 * (mode 0600) for the operator to hand to receivers. Caller frees *out. */
int webhook_secret(const config *cfg, store *s, char **out, char *err, size_t errlen);

/* Attempts one claimed-or-not delivery pass: claims at most one due delivery
 * and handles it. 1 handled one, 0 nothing due, <0 store error. For tests and
 * for webhook_run. */
int webhook_deliver_one(const config *cfg, store *s, const char *owner,
                        volatile sig_atomic_t *stop);

/* A compatibility front's callback (daemon/compat/): for a stored submission
 * row whose request.meta.front names a front with its own callback, the body
 * (malloc'd) and the HTTP method (*method, e.g. "PUT"); NULL: the v1 callback
 * (POST of the view). farmd's main sets it (compat_callback_body); the
 * delivery, signing, retries and breaker stay the outbox's. */
typedef char *(*webhook_front_body_fn)(store *s, const config *cfg, const json_t *row,
                                       const char **method);
void webhook_set_front_body(webhook_front_body_fn fn);

/* webhook_run(cfg, stop) is declared in roles.h. */
