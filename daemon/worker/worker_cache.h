/* worker_cache.h — a worker's Nix store when it is not the builders' store:
 * the closure of a claimed set comes from the farm's signed binary cache
 * (worker_cache.c), never through a home-made protocol. Used by the remote
 * source (cache named in the claim answer) and by a store-connected worker on
 * a machine of its own (worker.cache_url, worker.cache_public_key). */
#pragma once

#include <signal.h>
#include <jansson.h>
#include "../../common/config.h"

/* Makes every path of set's "closure" (else its "out_paths") present in this
 * machine's Nix store: paths already there are left alone, the missing ones
 * are copied from cache_url, signed by cache_key ("name:base64"), with
 * builder_import_from_cache. A cache that does not have them yet (the
 * builder exports right after marking the set ready) is retried up to tries
 * times, 1 s, 2 s, 4 s... apart, unless *stop (stop may be NULL). When paths
 * are missing and no cache is given, err names them and the settings that
 * would name one (config_hint, e.g. "worker.cache_url"). Returns how many
 * paths were missing (0: nothing to do) or -errno with err. */
int worker_cache_import_closure(const config *cfg, const json_t *set, const char *cache_url,
                                const char *cache_key, const char *config_hint, int tries,
                                volatile sig_atomic_t *stop, char *err, size_t errlen);
