/* worker_cache.c — the import of a claimed set's closure from the farm's
 * signed binary cache into this machine's Nix store (see worker_cache.h). */
#include "worker_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../builder/builder.h"
#include "../../common/cleanup.h"
#include "../../common/log.h"

int worker_cache_import_closure(const config *cfg, const json_t *set, const char *cache_url,
                                const char *cache_key, const char *config_hint, int tries,
                                volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    const json_t *paths = json_object_get(set, "closure");
    _cleanup_free_ const char **missing = NULL;
    size_t i, n = 0;
    const json_t *v;
    int r = 0;

    if (json_array_size(paths) == 0)
        paths = json_object_get(set, "out_paths");
    missing = calloc(json_array_size(paths) + 1, sizeof(*missing));
    if (!missing)
        return -ENOMEM;
    json_array_foreach(paths, i, v)
    {
        const char *p = json_string_value(v);

        if (p && access(p, F_OK) != 0)
            missing[n++] = p;
    }
    if (n == 0)
        return 0;
    if (!cache_url || !*cache_url || !cache_key || !*cache_key) {
        snprintf(err, errlen,
                 "%zu store paths of the set (first %s) are not in this machine's Nix store, "
                 "and no signed binary cache is named to copy them from (%s)",
                 n, missing[0], config_hint ? config_hint : "no cache configured");
        return -ENOENT;
    }
    for (int k = 0; k < tries; k++) {
        if (k > 0) {
            log_info("closure-import-retry try=%d error=\"%.300s\"", k + 1, err);
            for (int s = 0; s < (1 << (k - 1)) * 10 && !(stop && *stop); s++)
                usleep(100 * 1000);
        }
        r = builder_import_from_cache(cfg, cache_url, cache_key, NULL, missing, n, err, errlen);
        if (r >= 0 || (stop && *stop))
            break;
    }
    return r < 0 ? r : (int)n;
}
