/* worker_remote.h — the remote worker's parts beyond worker_source.h: its
 * stop hook, and the import of a claimed set's closure from the farm's
 * signed binary cache (worker_remote_cache.c). */
#pragma once

#include <signal.h>
#include <jansson.h>
#include "../../common/config.h"
#include "worker_source.h"

/* A SIGTERM (*stop) ends the retries of a closure import early. No-op for
 * a local source. */
void worker_remote_watch_stop(worker_source *s, volatile sig_atomic_t *stop);

/* Makes every path of set's "closure" (else its "out_paths") present in this
 * machine's Nix store: paths already there are left alone, the missing ones
 * are copied from cache_url, signed by cache_key ("name:base64"), with
 * builder_import_from_cache. A cache that does not have them yet (the
 * builder exports right after marking the set ready) is retried up to tries
 * times, 1 s, 2 s, 4 s... apart, unless *stop. Returns how many paths were
 * missing (0: nothing to do) or -errno with err. */
int worker_remote_import_closure(const config *cfg, const json_t *set, const char *cache_url,
                                 const char *cache_key, int tries, volatile sig_atomic_t *stop,
                                 char *err, size_t errlen);
