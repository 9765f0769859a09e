/* api_bell.h — fan-out of the store's EVENTS doorbell to many waiting threads.
 *
 * The store rings one datagram per listening process when a submission's
 * events change (test result, state change). Many API threads may be waiting
 * at once (?wait=true calls, SSE streams), but a datagram wakes one reader, so
 * one thread owns the doorbell socket and turns each ring into a generation
 * bump plus a condition-variable broadcast. A waiter reads the generation
 * BEFORE it looks at the database and waits for it to change, so a ring that
 * lands between the look and the wait is never lost. Waits also time out (the
 * doorbell is an optimisation; polling is the fallback). */
#pragma once

#include <signal.h>
#include <stdint.h>
#include "../../common/config.h"

typedef struct api_bell api_bell;

/* Starts the listening thread with its own store connection. Caller owns *out. */
int api_bell_start(const config *cfg, volatile sig_atomic_t *stop, api_bell **out, char *err,
                   size_t errlen);
/* Stops the thread and frees; NULL is ignored. */
void api_bell_stop(api_bell *b);
uint64_t api_bell_generation(api_bell *b);
/* Waits until the generation differs from seen or timeout_ms passes;
 * returns the current generation. */
uint64_t api_bell_wait(api_bell *b, uint64_t seen, int timeout_ms);
/* Wakes every waiter now (at shutdown). */
void api_bell_ring_all(api_bell *b);
