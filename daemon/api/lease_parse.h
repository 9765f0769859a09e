/* lease_parse.h — the JSON bodies the lease protocol accepts (api_leases.c),
 * checked apart from HTTP and the store so they can be fuzzed
 * (tests/fuzz/fuzz_lease.c).
 *
 * Every body is an object; every operation but heartbeat carries "owner",
 * which starts with "remote:" and has at most LEASE_OWNER_MAX bytes:
 *   claim      {owner, wait_ms?: int >= 0 (clamped to wait_max_ms), lease_ms?}
 *   renew      {owner, lease_ms?}
 *   release    {owner, kind?: 1-32 of a-z and _ (a failure of the farm's own:
 *               the attempt counts), message?: string <= 1024 bytes}
 *   event      {owner, type: a worker event name (not state, test,
 *               cancel_requested; 1-32 bytes), data: object}
 *   test       {owner, index: 0..100000, result: object}
 *   finish     {owner, state: a terminal state, verdict?: string|null,
 *               result: object, next_lease_ms?}
 *   heartbeat  {id: "remote:...", host: 1-255 bytes (unless gone), pid?,
 *               current_item?: string, gone?: bool, doing?: string <= 200 bytes,
 *               deadline_in_ms?: -1 (keep), 0 (none) or ms from now (<= a week)}
 * lease_ms and next_lease_ms are clamped to [LEASE_MIN_MS, LEASE_MAX_MS];
 * absent, they are default_lease_ms. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#define LEASE_OWNER_MAX 159
#define LEASE_REMOTE_PREFIX "remote:"
#define LEASE_MIN_MS 1000
#define LEASE_MAX_MS 3600000

typedef enum {
    LEASE_OP_CLAIM,
    LEASE_OP_RENEW,
    LEASE_OP_RELEASE,
    LEASE_OP_EVENT,
    LEASE_OP_TEST,
    LEASE_OP_FINISH,
    LEASE_OP_HEARTBEAT,
} lease_op;

/* Borrowed from the body it was parsed from. */
typedef struct {
    const char *owner;        /* all but heartbeat */
    long long wait_ms;        /* claim */
    int64_t lease_ms;         /* claim, renew; finish: next_lease_ms */
    bool claim_next;          /* finish: next_lease_ms given and state finished */
    const char *type;         /* event */
    json_t *data;             /* event */
    int index;                /* test */
    json_t *result;           /* test, finish */
    const char *state;        /* finish */
    const char *verdict;      /* finish, may be NULL */
    const char *id;           /* heartbeat */
    const char *host;         /* heartbeat, NULL when gone */
    const char *item;         /* heartbeat, may be NULL */
    int pid;                  /* heartbeat */
    bool gone;                /* heartbeat */
    const char *doing;        /* heartbeat, may be NULL */
    long long deadline_in_ms; /* heartbeat: -1 keep (the default), 0 none */
    const char *kind;         /* release, NULL: a plain give-back */
    const char *message;      /* release, may be NULL */
} lease_req;

typedef struct {
    int status; /* 400 or 422 */
    const char *code, *field, *message;
} lease_parse_error;

/* Whether o is a remote owner or heartbeat id ("remote:" + 1..152 bytes). */
bool lease_remote_name_ok(const char *o);
/* Checks in (borrowed) for op: 0 with *out filled, or -EINVAL with *e. */
int lease_parse(lease_op op, json_t *in, int64_t default_lease_ms, long long wait_max_ms,
                lease_req *out, lease_parse_error *e);
