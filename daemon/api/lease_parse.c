/* lease_parse.c — checks of the lease protocol's bodies. See lease_parse.h. */
#include "lease_parse.h"

#include <errno.h>
#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)

static int fail(lease_parse_error *e, int status, const char *code, const char *field,
                const char *message)
{
    e->status = status;
    e->code = code;
    e->field = field;
    e->message = message;
    return -EINVAL;
}

bool lease_remote_name_ok(const char *o)
{
    size_t pre = strlen(LEASE_REMOTE_PREFIX);
    return o && strncmp(o, LEASE_REMOTE_PREFIX, pre) == 0 && strlen(o) > pre &&
           strlen(o) <= LEASE_OWNER_MAX;
}

static int64_t lease_ms_of(const json_t *in, const char *field, int64_t def)
{
    json_t *v = json_object_get(in, field);
    int64_t ms = json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
    return ms < LEASE_MIN_MS ? LEASE_MIN_MS : ms > LEASE_MAX_MS ? LEASE_MAX_MS : ms;
}

static int parse_event(json_t *in, lease_req *out, lease_parse_error *e)
{
    const char *type = json_string_value(json_object_get(in, "type"));
    /* The store writes state, test and cancel events itself; a worker adds
     * its own kinds (e.g. "stage") next to them, never in their name. */
    if (!type || !*type || strlen(type) > 32 || !strcmp(type, "state") || !strcmp(type, "test") ||
        !strcmp(type, "cancel_requested"))
        return fail(e, 422, "invalid_value", "type",
                    "type must name a worker event (e.g. \"stage\"), not state, test or "
                    "cancel_requested");
    out->type = type;
    out->data = json_object_get(in, "data");
    if (!json_is_object(out->data))
        return fail(e, 422, "invalid_type", "data", "data must be an object");
    return 0;
}

static int parse_test(json_t *in, lease_req *out, lease_parse_error *e)
{
    json_t *index = json_object_get(in, "index");
    if (!json_is_integer(index) || json_integer_value(index) < 0 ||
        json_integer_value(index) > 100000)
        return fail(e, 422, "invalid_value", "index", "index must be the test's 0-based position");
    out->index = (int)json_integer_value(index);
    out->result = json_object_get(in, "result");
    if (!json_is_object(out->result))
        return fail(e, 422, "invalid_type", "result", "result must be an object");
    return 0;
}

static int parse_finish(json_t *in, int64_t def_ms, lease_req *out, lease_parse_error *e)
{
    static const char *const states[] = {"finished", "compile_error", "deps_failed", "cancelled",
                                         "internal_error"};
    const char *state = json_string_value(json_object_get(in, "state"));
    bool known = false;
    for (size_t i = 0; state && i < sizeof(states) / sizeof(*states); i++)
        known = known || !strcmp(state, states[i]);
    if (!known)
        return fail(e, 422, "invalid_value", "state",
                    "state must be a terminal state (finished, compile_error, deps_failed, "
                    "cancelled, internal_error)");
    json_t *verdict = json_object_get(in, "verdict");
    if (verdict && !json_is_null(verdict) && !json_is_string(verdict))
        return fail(e, 422, "invalid_type", "verdict", "verdict must be a string or null");
    out->result = json_object_get(in, "result");
    if (!json_is_object(out->result))
        return fail(e, 422, "invalid_type", "result", "result must be an object");
    out->state = state;
    out->verdict = json_string_value(verdict);
    /* next_lease_ms: finish and claim the next one in one commit, as a
     * local worker's steady state does. */
    out->claim_next = json_object_get(in, "next_lease_ms") && !strcmp(state, "finished");
    out->lease_ms = lease_ms_of(in, "next_lease_ms", def_ms);
    return 0;
}

static int parse_heartbeat(json_t *in, lease_req *out, lease_parse_error *e)
{
    out->id = json_string_value(json_object_get(in, "id"));
    if (!lease_remote_name_ok(out->id))
        return fail(e, 422, "invalid_value", "id",
                    "id must be the worker's owner string (\"" LEASE_REMOTE_PREFIX "...\")");
    out->gone = json_is_true(json_object_get(in, "gone"));
    out->item = json_string_value(json_object_get(in, "current_item"));
    json_t *pid = json_object_get(in, "pid");
    json_int_t p = json_is_integer(pid) ? json_integer_value(pid) : 0;
    out->pid = p > 0 && p <= 0x7fffffff ? (int)p : 0;
    if (out->gone)
        return 0;
    out->host = json_string_value(json_object_get(in, "host"));
    if (!out->host || !*out->host || strlen(out->host) > 255)
        return fail(e, 422, "invalid_value", "host", "host must be the worker's host name");
    json_t *doing = json_object_get(in, "doing");
    json_t *dl = json_object_get(in, "deadline_in_ms");
    if (doing && !json_is_null(doing) &&
        (!json_is_string(doing) || json_string_length(doing) > 200))
        return fail(e, 422, "invalid_value", "doing",
                    "doing must be a string of at most 200 bytes");
    if (dl && (!json_is_integer(dl) || json_integer_value(dl) < -1 ||
               json_integer_value(dl) > 7LL * 24 * 3600 * 1000))
        return fail(e, 422, "invalid_value", "deadline_in_ms",
                    "deadline_in_ms must be -1 (keep), 0 (none) or ms from now (at most a week)");
    out->doing = json_string_value(doing);
    out->deadline_in_ms = dl ? (long long)json_integer_value(dl) : -1;
    return 0;
}

static int parse_release(json_t *in, lease_req *out, lease_parse_error *e)
{
    json_t *kind = json_object_get(in, "kind");
    json_t *message = json_object_get(in, "message");
    if (!kind)
        return 0;
    if (!json_is_string(kind) || !json_string_length(kind) || json_string_length(kind) > 32 ||
        strspn(json_string_value(kind), "abcdefghijklmnopqrstuvwxyz_") != json_string_length(kind))
        return fail(e, 422, "invalid_value", "kind",
                    "kind must be 1 to 32 of a-z and _ (e.g. \"keeper_died\")");
    if (message && (!json_is_string(message) || json_string_length(message) > 1024))
        return fail(e, 422, "invalid_value", "message",
                    "message must be a string of at most 1024 bytes");
    out->kind = json_string_value(kind);
    out->message = json_string_value(message);
    return 0;
}

int lease_parse(lease_op op, json_t *in, int64_t default_lease_ms, long long wait_max_ms,
                lease_req *out, lease_parse_error *e)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(in))
        return fail(e, 400, "invalid_type", "body", "the body must be a JSON object");
    if (op == LEASE_OP_HEARTBEAT)
        return parse_heartbeat(in, out, e);
    out->owner = json_string_value(json_object_get(in, "owner"));
    if (!lease_remote_name_ok(out->owner))
        return fail(e, 422, "invalid_value", "owner",
                    "owner must start with \"" LEASE_REMOTE_PREFIX
                    "\" and be at most " STR(LEASE_OWNER_MAX) " bytes");
    out->lease_ms = lease_ms_of(in, "lease_ms", default_lease_ms);
    switch (op) {
    case LEASE_OP_CLAIM: {
        json_t *wv = json_object_get(in, "wait_ms");
        if (wv && !json_is_integer(wv))
            return fail(e, 422, "invalid_type", "wait_ms", "wait_ms must be an integer (ms)");
        long long w = wv ? (long long)json_integer_value(wv) : 0;
        out->wait_ms = w < 0 ? 0 : w > wait_max_ms ? wait_max_ms : w;
        return 0;
    }
    case LEASE_OP_EVENT:
        return parse_event(in, out, e);
    case LEASE_OP_TEST:
        return parse_test(in, out, e);
    case LEASE_OP_FINISH:
        return parse_finish(in, default_lease_ms, out, e);
    case LEASE_OP_RELEASE:
        return parse_release(in, out, e);
    default:
        return 0;
    }
}
