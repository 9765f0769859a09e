/* piston_ws.h — Piston's interactive mode, WebSocket /api/v2/connect
 * (docs/compat-piston.md, "WebSocket"), and what piston.c shares with it.
 *
 * piston_ws.c answers the upgrade (libmicrohttpd's 101 + upgrade handler)
 * and runs the session in the connection's thread (the API runs one thread
 * per connection, where an upgrade handler may block), with frames by
 * libwslay. piston_ws_proto.c is the Piston protocol over it: init becomes
 * an ordinary v1 submission with "live": true (api_submit_v1, the one
 * pipeline), stdin and signals go to the worker through the store's live
 * channel (common/store_live.h), output, stage and exit chunks come back
 * the same way. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <microhttpd.h>

#include "../api/api.h"
#include "piston_translate.h"

/* GET /api/v2/connect (scope submit). */
enum MHD_Result piston_ws_connect(api_call *c);

/* piston.c: the token of Authorization (bare or "Bearer <token>"): 1 found,
 * 0 none, <0 too long. */
int piston_token(struct MHD_Connection *conn, char *token, size_t len);
/* piston.c: the farm's maxima in Piston's units. */
void piston_maxima_of(const api_ctx *ctx, piston_maxima *m);

/* ---- the protocol (piston_ws_proto.c), driven by piston_ws.c ---- */

/* What the protocol asks the transport to do. */
typedef struct {
    /* queue a text message (takes ownership of text, malloc'd) */
    int (*send_text)(void *transport, char *text);
    /* queue a close frame; the session ends after it */
    void (*close)(void *transport, uint16_t code, const char *reason);
    void *transport;
} piston_ws_io;

typedef struct piston_ws_proto piston_ws_proto;

/* A session for the caller c (c->st, c->who and c->req stay valid for its
 * life). NULL on ENOMEM. */
piston_ws_proto *piston_ws_proto_new(api_call *c, const piston_ws_io *io);
/* One message from the client (a text or binary frame's payload). */
void piston_ws_proto_message(piston_ws_proto *p, const unsigned char *msg, size_t len);
/* Called every turn of the transport's loop with now (ms, monotonic):
 * the init timeout, and forwarding of the job's live output when the
 * EVENTS doorbell moved (or every poll interval). */
void piston_ws_proto_tick(piston_ws_proto *p, int64_t now_ms);
/* true once init came (the transport then polls more often). */
bool piston_ws_proto_running(const piston_ws_proto *p);
/* The client left or the server stops: cancels a job still running, drops
 * the live chunks, frees p. Accepts NULL. */
void piston_ws_proto_free(piston_ws_proto *p);
