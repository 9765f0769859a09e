/* ratetable.h — the API's per-caller token buckets, in a table of fixed size
 * that evicts the least-recently-used caller when full.
 *
 * A flood of new callers (many client addresses) only pushes out callers that
 * have been quiet longest: a busy caller keeps its bucket, so it cannot get a
 * fresh allowance by hiding among many addresses (issue 10: the old table was
 * wiped when three-quarters full). Not thread-safe: auth.c holds its lock. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATETABLE_KEY 80

typedef struct {
    char key[RATETABLE_KEY];
    double tokens;
    int64_t last_ms;
    int64_t touched_ms; /* auth.c: last_used_at written at */
} rate_entry;

typedef struct ratetable ratetable;

/* cap >= 1 entries. NULL when out of memory. */
ratetable *ratetable_new(size_t cap);
void ratetable_free(ratetable *t);
/* The entry for key, created (tokens = burst, last_ms = now) if new, evicting
 * the least-recently-used entry when the table is full; it becomes the most
 * recently used. *created says whether it was new. Never NULL. The pointer is
 * valid until the next call. */
rate_entry *ratetable_get(ratetable *t, const char *key, double burst, int64_t now_ms,
                          bool *created);
size_t ratetable_size(const ratetable *t);
/* Whether key has an entry (does not change the order). */
bool ratetable_has(const ratetable *t, const char *key);
