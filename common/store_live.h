/* store_live.h — the live channel of an interactive run, through the store.
 *
 * The API process that holds a client's WebSocket (daemon/compat/piston_ws.c)
 * and the worker process that runs the submission (daemon/worker_live.c)
 * append chunks to one ordered table and each reads the other's after the
 * last seq it saw. Every append rings the EVENTS doorbell of this machine, so
 * both sides wait on the doorbell they already have (polling is the
 * fallback). schema/090_live.sql has the table and the meaning of dir/kind. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_LIVE_IN "in"   /* API -> worker: stdin, signal */
#define STORE_LIVE_OUT "out" /* worker -> API: stdout, stderr, stage, exit */

typedef struct {
    int64_t seq;
    char kind[16];
    unsigned char *data; /* malloc'd, NUL-terminated (the NUL is not counted) */
    size_t len;
} store_live_chunk;

/* Appends one chunk (kind at most 15 bytes) for submission id and rings the
 * EVENTS doorbell. Returns the chunk's seq (> 0) or < 0. */
int64_t store_live_append(store *s, const char *id, const char *dir, const char *kind,
                          const void *data, size_t len);

/* The chunks of id in dir with seq > after, oldest first, at most max; *out
 * is a malloc'd array the caller frees with store_live_chunks_free (NULL
 * when *n is 0). 0 or < 0. */
int store_live_read(store *s, const char *id, const char *dir, int64_t after, size_t max,
                    store_live_chunk **out, size_t *n);
void store_live_chunks_free(store_live_chunk *c, size_t n);

/* Deletes every chunk of id, and every chunk older than max_age_ms (of
 * sessions whose API died). Returns the rows deleted or < 0. */
int store_live_drop(store *s, const char *id, int64_t max_age_ms);
