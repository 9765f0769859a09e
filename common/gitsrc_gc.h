/* gitsrc_gc.h — garbage collection of the git mirrors under <state_dir>/git.
 *
 * Every use of a mirror (a checkout or a resolve, gitsrc.c) touches
 * <mirror>/nixfarm-used. A collection removes, in order of last use:
 *  - every mirror not used for git.mirror_max_age_ms;
 *  - then the least recently used ones while all mirrors together take more
 *    than git.mirrors_max_bytes (disk blocks, as du counts them).
 * A mirror used in the last GITSRC_GC_GRACE_S seconds is never removed (a
 * checkout may be reading it), nor one whose <mirror>.lock another process
 * holds (a fetch is writing it); so the size cap may be exceeded for a while.
 * A mirror is renamed away under its lock, then deleted, so nobody opens a
 * half-deleted one. The lock files stay (empty; deleting one that another
 * process has opened would let two fetches into one mirror).
 *
 * gitsrc_gc_maybe runs a collection at most once per git.gc_interval_ms
 * across all processes of a farm (a stamp file and an flock); gitsrc_checkout
 * calls it after each checkout, so workers keep the mirrors trimmed. Library
 * code: nothing here logs. */
#pragma once

#include <stdint.h>
#include "config.h"

#define GITSRC_GC_GRACE_S 600

typedef struct {
    int kept, removed_age, removed_size;
    long long bytes_kept, bytes_freed;
} gitsrc_gc_stats;

/* One collection at now_s (seconds since the epoch). 0 with *st filled (st may
 * be NULL), or -errno with a sentence in err (the git directory unreadable).
 * A mirror that cannot be removed is counted as kept. */
int gitsrc_gc(const config *cfg, int64_t now_s, gitsrc_gc_stats *st, char *err, size_t errlen);

/* Runs gitsrc_gc when the last collection of this state_dir is older than
 * git.gc_interval_ms and no other process is collecting. 1 ran, 0 not due,
 * or -errno. */
int gitsrc_gc_maybe(const config *cfg, gitsrc_gc_stats *st, char *err, size_t errlen);

/* Marks the mirror directory as used now (gitsrc.c, on every use). */
void gitsrc_gc_touch(const char *mirror);
