/* health_report.h — what /v1/health and /metrics say about the farm (issue
 * 21): per role, processes with a fresh heartbeat (live) and without (stale);
 * the ages of the oldest queued submission and set; runs past their wall
 * limit plus health.stuck_grace_ms; builds past builder.timeout_ms; a status
 * ok / degraded / failing with the reasons that made it so.
 *
 * failing:  the database is not writable; no live worker while submissions
 *           are queued or running; no live builder while sets are queued or
 *           building.
 * degraded: stale heartbeats; runs past their limits (every live worker
 *           stuck says so); builds past builder.timeout_ms; the oldest queued
 *           submission or set older than health.queue_age_degraded_ms; no
 *           live health checker. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "config.h"
#include "store.h"

typedef struct {
    int64_t stale_ms;         /* health.heartbeat_stale_ms */
    int64_t stuck_grace_ms;   /* health.stuck_grace_ms */
    int64_t build_timeout_ms; /* builder.timeout_ms */
    int64_t queue_age_ms;     /* health.queue_age_degraded_ms */
} health_params;

void health_params_from_config(const config *cfg, health_params *p);

/* The roles that heartbeat, in the order reports list them. */
extern const char *const health_roles[];
#define HEALTH_N_ROLES 5

/* Builds the report: {"status", "reasons": [...], "database_writable",
 * "live": {"workers", "builders", "health", "api", "webhooks"},
 * "roles": {role: {"live", "stale"}}, "oldest_queued_ms": {"submission",
 * "depset"}, "runs_past_limit", "builds_past_timeout", "queues",
 * "processes": [heartbeat rows + "live"], "stuck_runs": [{id, owner,
 * past_ms}], "stuck_builds": [{key, owner, running_ms}],
 * "inflight": {owner: n}}. writable: what the caller's probe found. 0 or
 * -errno (store errors). */
int health_report(store *s, const health_params *p, bool writable, json_t **out);
