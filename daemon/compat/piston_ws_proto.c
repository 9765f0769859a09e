/* piston_ws_proto.c — Piston's interactive protocol (API 3.x,
 * api/src/api/v2.js router.ws('/connect')) over the one v1 pipeline.
 *
 * Client -> server (JSON text messages, "type"):
 *   init   the execute fields; must come within 1 s, else close 4001
 *          "Initialization Timeout"; a second one closes 4000
 *          "Already Initialized".
 *   data   {stream: "stdin", data}: bytes for the program's stdin; another
 *          stream closes 4004 "Can only write to stdin"; before init 4003
 *          "Not yet initialized".
 *   signal {signal: "SIGINT"...}: Piston's signal names; another closes
 *          4005 "Invalid signal"; before init 4003.
 * Anything that cannot be handled (not JSON, a bad init, an unknown type,
 * data that is not a string, more stdin than api.max_body_bytes or more than
 * MAX_SIGNALS signals in one session: each waits in the store as a row)
 * is answered {type: "error", message} and closed 4002 "Notified Error", as
 * Piston does for whatever throws.
 *
 * Server -> client: runtime {language, version} once the job is accepted,
 * then per stage stage {stage: "compile"|"run"}, data {stream, data} as the
 * program writes, exit {stage, code, signal}; when the submission ends,
 * close 4999 "Job Completed" (finished or compile error), or error
 * {message} + close 4002 (deps_failed, internal_error, cancelled).
 *
 * The job is an ordinary submission ("live": true, visible in /v1); its
 * stdin, signals and output go through the store's live channel
 * (store_live.h), which the worker's worker_live.c serves. */
#include "piston_ws.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/cleanup.h"
#include "../../common/jsonutil.h"
#include "../../common/log.h"
#include "../../common/store_live.h"
#include "compat.h"
#include "piston_packages.h"

#define INIT_TIMEOUT_MS 1000
#define POLL_FALLBACK_MS 250       /* a look at the store without a doorbell ring */
#define LIVE_READ_BATCH 256        /* chunks forwarded per look */
#define LIVE_MAX_AGE_MS 86400000LL /* chunks of sessions whose API died */
#define MAX_SIGNALS 1000           /* per session: each is a row in the store */

struct piston_ws_proto {
    api_call *c;
    piston_ws_io io;
    int64_t started_ms;
    bool inited, done;
    char id[64];
    int64_t after;         /* last live chunk forwarded */
    unsigned exits;        /* exit chunks forwarded */
    long long stdin_bytes; /* sent so far; at most api.max_body_bytes per session */
    unsigned signals;
    int64_t event_seq;  /* the submission's last event looked at */
    bool ended;         /* a terminal state event was seen */
    uint64_t bell_seen; /* api_bell generation at the last look */
    int64_t next_look_ms;
    /* a UTF-8 sequence cut by a chunk's end, per stream (stdout, stderr) */
    unsigned char carry[2][4];
    size_t carry_len[2];
};

static void send_json(piston_ws_proto *p, json_t *o /* stolen */)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (p->io.send_text(p->io.transport, text) < 0)
        log_warn("piston-ws-send-failed id=%s error=\"cannot queue a message\"", p->id);
}

static void finish(piston_ws_proto *p, uint16_t code, const char *reason)
{
    if (p->done)
        return;
    p->done = true;
    p->io.close(p->io.transport, code, reason);
}

/* Piston's answer to whatever throws: the message, then 4002. */
static void fail(piston_ws_proto *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(piston_ws_proto *p, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->done)
        return;
    send_json(p, json_pack("{s:s, s:s}", "type", "error", "message", msg));
    finish(p, 4002, "Notified Error");
}

piston_ws_proto *piston_ws_proto_new(api_call *c, const piston_ws_io *io)
{
    piston_ws_proto *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->c = c;
    p->io = *io;
    p->started_ms = -1;
    return p;
}

bool piston_ws_proto_running(const piston_ws_proto *p)
{
    return p && p->inited && !p->done;
}

/* Piston's signal names (its globals.SIGNALS): the Linux numbers 1-31 by
 * their names, SIGRTMIN..SIGRTMIN+15, SIGRTMAX-14..SIGRTMAX. 0 if none. */
static int signal_number(const char *name)
{
    if (!name || strncmp(name, "SIG", 3))
        return 0;
    for (int i = 1; i <= 31; i++) {
        const char *ab = sigabbrev_np(i);
        if (ab && !strcmp(ab, name + 3))
            return i;
    }
    char *end;
    if (!strncmp(name, "SIGRTMIN", 8)) {
        if (!name[8])
            return 34;
        long k = name[8] == '+' ? strtol(name + 9, &end, 10) : 0;
        return k >= 1 && k <= 15 && !*end && name[9] >= '1' && name[9] <= '9' ? 34 + (int)k : 0;
    }
    if (!strncmp(name, "SIGRTMAX", 8)) {
        if (!name[8])
            return 64;
        long k = name[8] == '-' ? strtol(name + 9, &end, 10) : 0;
        return k >= 1 && k <= 14 && !*end && name[9] >= '1' && name[9] <= '9' ? 64 - (int)k : 0;
    }
    return 0;
}

/* ---- init: the job ---- */

static void on_init(piston_ws_proto *p, json_t *msg)
{
    api_call *c = p->c;
    piston_runtime *rts = NULL;
    size_t n = 0;
    if (piston_runtimes_now(c->ctx->cfg, &rts, &n) < 0) {
        fail(p, "the package set cannot be read");
        return;
    }
    piston_maxima max;
    piston_maxima_of(c->ctx, &max);
    json_t *v1 = NULL;
    const piston_runtime *rt = NULL;
    char err[1024] = "";
    int r = piston_request_to_v1(msg, rts, n, &max, &v1, &rt, err, sizeof(err));
    if (r < 0) {
        free(rts);
        fail(p, "%s", r == -ENOMEM ? "out of memory" : err);
        return;
    }
    /* Interactive stdin is the client's data messages; Piston ignores the
     * init's stdin, we feed it first when the client gave one. */
    const json_t *in = json_object_get(msg, "stdin");
    if (!json_is_string(in) || !json_string_length(in))
        json_object_del(json_array_get(json_object_get(v1, "tests"), 0), "stdin");
    json_object_set_new(v1, "live", json_true());
    json_object_set_new(v1, "meta",
                        json_pack("{s:s, s:s}", "front", "piston", "mode", "websocket"));
    request_error e = {0};
    r = api_submit_v1(c, v1, false, p->id, NULL, &e);
    json_decref(v1);
    if (r < 0) {
        free(rts);
        p->id[0] = 0;
        fail(p, "%s%s%s", e.field[0] ? e.field : "", e.field[0] ? ": " : "",
             e.message[0] ? e.message : "internal error");
        return;
    }
    p->inited = true;
    log_info("piston-ws-job id=%s language=%s", p->id, rt->lang->language);
    send_json(p, json_pack("{s:s, s:s, s:s}", "type", "runtime", "language", rt->lang->language,
                           "version", rt->version_str));
    free(rts);
    p->next_look_ms = 0;
}

/* ---- messages from the client ---- */

static void on_data(piston_ws_proto *p, json_t *msg)
{
    const char *stream = json_string_value(json_object_get(msg, "stream"));
    const json_t *data = json_object_get(msg, "data");
    if (!p->inited) {
        finish(p, 4003, "Not yet initialized");
        return;
    }
    if (!stream || strcmp(stream, "stdin")) {
        finish(p, 4004, "Can only write to stdin");
        return;
    }
    if (!json_is_string(data)) {
        fail(p, "data must be a string");
        return;
    }
    /* Rows wait in the store until the session ends: a session's stdin may
     * be as large as an execute request's body, no larger. */
    p->stdin_bytes += (long long)json_string_length(data);
    if (p->stdin_bytes > p->c->ctx->max_body) {
        fail(p, "stdin exceeds %lld bytes in total (api.max_body_bytes)", p->c->ctx->max_body);
        return;
    }
    if (json_string_length(data) &&
        store_live_append(p->c->st, p->id, STORE_LIVE_IN, "stdin", json_string_value(data),
                          json_string_length(data)) < 0)
        fail(p, "stdin cannot be passed on: %s", store_last_error(p->c->st));
}

static void on_signal(piston_ws_proto *p, json_t *msg)
{
    int sig = signal_number(json_string_value(json_object_get(msg, "signal")));
    if (!p->inited) {
        finish(p, 4003, "Not yet initialized");
        return;
    }
    if (!sig) {
        finish(p, 4005, "Invalid signal");
        return;
    }
    if (++p->signals > MAX_SIGNALS) {
        fail(p, "more than %d signals in one session", MAX_SIGNALS);
        return;
    }
    char num[16];
    snprintf(num, sizeof(num), "%d", sig);
    if (store_live_append(p->c->st, p->id, STORE_LIVE_IN, "signal", num, strlen(num)) < 0)
        fail(p, "the signal cannot be passed on: %s", store_last_error(p->c->st));
}

void piston_ws_proto_message(piston_ws_proto *p, const unsigned char *text, size_t len)
{
    if (p->done)
        return;
    json_error_t je;
    _cleanup_json_ json_t *msg = json_loadb((const char *)text, len, 0, &je);
    if (!json_is_object(msg)) {
        fail(p, msg ? "a message must be a JSON object" : "the message is not valid JSON: %s",
             je.text);
        return;
    }
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (type && !strcmp(type, "init")) {
        if (p->inited || p->id[0])
            finish(p, 4000, "Already Initialized");
        else
            on_init(p, msg);
    } else if (type && !strcmp(type, "data"))
        on_data(p, msg);
    else if (type && !strcmp(type, "signal"))
        on_signal(p, msg);
    else
        fail(p, "unknown message type %s%s%s (init, data, signal)", type ? "\"" : "",
             type ? type : "(none)", type ? "\"" : "");
}

/* ---- the job's output to the client ---- */

/* Length of the tail of buf that starts a UTF-8 sequence the next chunk
 * completes (0 when the chunk ends on a boundary). */
static size_t utf8_cut(const unsigned char *buf, size_t len)
{
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char b = buf[len - back];
        if ((b & 0xc0) == 0x80)
            continue; /* a continuation byte: look further back */
        size_t need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

static void forward_output(piston_ws_proto *p, int k, const char *stream, const unsigned char *d,
                           size_t len, bool flush)
{
    _cleanup_free_ unsigned char *buf = malloc(p->carry_len[k] + len + 1);
    if (!buf)
        return;
    memcpy(buf, p->carry[k], p->carry_len[k]);
    memcpy(buf + p->carry_len[k], d, len);
    size_t total = p->carry_len[k] + len;
    size_t cut = flush ? 0 : utf8_cut(buf, total);
    memcpy(p->carry[k], buf + total - cut, cut);
    p->carry_len[k] = cut;
    if (total - cut == 0)
        return;
    json_t *text = piston_utf8_lossy(buf, total - cut);
    send_json(p, json_pack("{s:s, s:s, s:o}", "type", "data", "stream", stream, "data", text));
}

/* exit {stage, code, signal}: a limit kill is SIGKILL with no code, as
 * Piston reports TO, OL and EL. */
static void forward_exit(piston_ws_proto *p, const unsigned char *d, size_t len)
{
    forward_output(p, 0, "stdout", (const unsigned char *)"", 0, true);
    forward_output(p, 1, "stderr", (const unsigned char *)"", 0, true);
    _cleanup_json_ json_t *x = json_loadb((const char *)d, len, 0, NULL);
    const char *stage = json_string_value(json_object_get(x, "stage"));
    const char *limit = json_string_value(json_object_get(x, "limit"));
    json_t *code = json_object_get(x, "exit_code");
    json_t *sig = json_object_get(x, "signal");
    bool killed = limit && (!strcmp(limit, "cpu") || !strcmp(limit, "wall") ||
                            !strcmp(limit, "output") || !strcmp(limit, "memory"));
    send_json(p, json_pack("{s:s, s:s, s:o, s:o}", "type", "exit", "stage", stage ? stage : "run",
                           "code", killed || !json_is_integer(code) ? json_null() : json_copy(code),
                           "signal",
                           killed                ? json_string("SIGKILL")
                           : json_is_string(sig) ? json_copy(sig)
                                                 : json_null()));
}

/* The submission's state and, when it ended badly, why; *view (if not
 * NULL) gets the whole view (new reference). */
static int job_state(piston_ws_proto *p, char *state, size_t len, char *why, size_t whylen,
                     json_t **view)
{
    json_t *v = NULL;
    int r = api_submission_view(p->c->st, p->id, &v);
    if (r < 0 || !v)
        return r < 0 ? r : -ENOENT;
    snprintf(state, len, "%s", json_string_value(json_object_get(v, "state")) ?: "");
    const char *err = json_string_value(json_object_get(v, "error"));
    snprintf(why, whylen, "%s", err ? err : "");
    if (view)
        *view = v;
    else
        json_decref(v);
    return 0;
}

/* A job that ran without the live channel (a remote worker, whose store is
 * another farm's API; or a channel that could not start): its stages from
 * the result, at the end, in the same messages. */
static void replay_stage(piston_ws_proto *p, const char *stage, const json_t *st)
{
    if (!json_is_object(st))
        return;
    _cleanup_json_ json_t *o = piston_stage_from_v1(st, false, NULL);
    if (!o)
        return;
    send_json(p, json_pack("{s:s, s:s}", "type", "stage", "stage", stage));
    static const char *const streams[] = {"stdout", "stderr"};
    for (int k = 0; k < 2; k++) {
        const char *t = json_string_value(json_object_get(o, streams[k]));
        if (t && *t)
            send_json(
                p, json_pack("{s:s, s:s, s:s}", "type", "data", "stream", streams[k], "data", t));
    }
    send_json(p, json_pack("{s:s, s:s, s:O, s:O}", "type", "exit", "stage", stage, "code",
                           json_object_get(o, "code"), "signal", json_object_get(o, "signal")));
}

static void replay(piston_ws_proto *p, const json_t *view)
{
    replay_stage(p, "compile", json_object_get(view, "compile"));
    replay_stage(p, "run", json_array_get(json_object_get(view, "tests"), 0));
}

/* Whether the submission has ended: from its new events (cheap; the whole
 * view is read only once it has). 1 ended, 0 not yet, <0 store errors. */
static int job_ended(piston_ws_proto *p)
{
    _cleanup_json_ json_t *ev = NULL;
    int r = store_submission_events(p->c->st, p->id, p->event_seq, &ev);
    if (r < 0)
        return r;
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e)
    {
        p->event_seq = json_integer_value(json_object_get(e, "seq"));
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *st = json_string_value(json_object_get(json_object_get(e, "data"), "state"));
        if (type && !strcmp(type, "state") && api_state_is_terminal(st))
            p->ended = true;
    }
    return p->ended;
}

static void look(piston_ws_proto *p)
{
    char state[32] = "", why[512] = "";
    _cleanup_json_ json_t *view = NULL;
    /* The state first: a state that is terminal now has all its chunks
     * written before it (the worker appends them before it finishes). */
    int r = job_ended(p);
    if (r > 0)
        r = job_state(p, state, sizeof(state), why, sizeof(why), &view);
    if (r < 0) {
        fail(p, "the job cannot be read: %s", strerror(-r));
        return;
    }
    store_live_chunk *ch = NULL;
    size_t n = 0;
    if ((r = store_live_read(p->c->st, p->id, STORE_LIVE_OUT, p->after, LIVE_READ_BATCH, &ch, &n)) <
        0) {
        fail(p, "the job's output cannot be read: %s", store_last_error(p->c->st));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        p->after = ch[i].seq;
        if (!strcmp(ch[i].kind, "stdout"))
            forward_output(p, 0, "stdout", ch[i].data, ch[i].len, false);
        else if (!strcmp(ch[i].kind, "stderr"))
            forward_output(p, 1, "stderr", ch[i].data, ch[i].len, false);
        else if (!strcmp(ch[i].kind, "stage"))
            send_json(p, json_pack("{s:s, s:s%}", "type", "stage", "stage", ch[i].data, ch[i].len));
        else if (!strcmp(ch[i].kind, "exit")) {
            forward_exit(p, ch[i].data, ch[i].len);
            p->exits++;
        }
    }
    store_live_chunks_free(ch, n);
    if (n == LIVE_READ_BATCH) {
        p->next_look_ms = 0; /* more to forward: look again at once */
        return;
    }
    if (!api_state_is_terminal(state))
        return;
    if (!strcmp(state, "finished") || !strcmp(state, "compile_error")) {
        if (!p->exits)
            replay(p, view);
        finish(p, 4999, "Job Completed");
    } else
        fail(p, "the job ended %s%s%s", state, why[0] ? ": " : "", why);
}

void piston_ws_proto_tick(piston_ws_proto *p, int64_t now_ms)
{
    if (!p || p->done)
        return;
    if (p->started_ms < 0)
        p->started_ms = now_ms;
    if (!p->inited) {
        if (now_ms - p->started_ms >= INIT_TIMEOUT_MS)
            finish(p, 4001, "Initialization Timeout");
        return;
    }
    uint64_t gen = api_bell_generation(p->c->ctx->bell);
    if (gen == p->bell_seen && now_ms < p->next_look_ms)
        return;
    p->bell_seen = gen;
    p->next_look_ms = now_ms + POLL_FALLBACK_MS;
    look(p);
}

void piston_ws_proto_free(piston_ws_proto *p)
{
    if (!p)
        return;
    if (p->id[0]) {
        char state[32] = "", why[8];
        if (job_state(p, state, sizeof(state), why, sizeof(why), NULL) == 0 &&
            !api_state_is_terminal(state)) {
            /* The client left (or we stop): the run must not go on alone. */
            int r = api_cancel_v1(p->c, p->id, NULL);
            log_info("piston-ws-cancel id=%s result=%d", p->id, r);
        }
        store_live_drop(p->c->st, p->id, LIVE_MAX_AGE_MS);
    }
    free(p);
}
