/* piston_translate.h — Piston v2 execute requests into v1 submission
 * requests, and v1 submission views back into Piston execute responses.
 *
 * Pure functions (no I/O, no store): the front (piston.c) hands the request
 * to the one v1 pipeline and the view it gets back to here. Errors carry
 * Piston's own texts ("language is required as a string", ...), answered as
 * 400 {"message": ...}. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "piston_runtimes.h"

/* The farm's maxima in Piston's units, for "cannot exceed the configured
 * limit of N" (0 = no maximum). */
typedef struct {
    long long timeout_ms;   /* compile_timeout, run_timeout (wall) */
    long long cpu_time_ms;  /* compile_cpu_time, run_cpu_time */
    long long memory_bytes; /* compile_memory_limit, run_memory_limit */
} piston_maxima;

/* Checks body and translates it. 0 with *v1 (new reference) and *rt (the
 * runtime chosen, borrowed from rts), or -EINVAL with msg set (Piston's
 * text), or -ENOMEM. */
int piston_request_to_v1(const json_t *body, const piston_runtime *rts, size_t n,
                         const piston_maxima *max, json_t **v1, const piston_runtime **rt,
                         char *msg, size_t msglen);

/* The execute response for a terminal view (finished, compile_error,
 * internal_error). NULL with msg set when the view cannot be answered as a
 * result (deps_failed, cancelled, not finished): the front answers 500. */
json_t *piston_response_from_view(const json_t *view, const piston_runtime *rt, char *msg,
                                  size_t msglen);

/* One stage object {stdout, stderr, output, code, signal, message, status,
 * cpu_time, wall_time, memory} from a v1 stage/test object; internal sets
 * status XX. New reference. */
json_t *piston_stage_from_v1(const json_t *st, bool internal, const char *internal_msg);

/* The bytes as text the way Node's Buffer.toString('utf8') shows them: every
 * ill-formed byte becomes U+FFFD. New reference (NULL on ENOMEM). */
json_t *piston_utf8_lossy(const unsigned char *p, size_t len);
