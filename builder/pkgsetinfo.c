/* pkgsetinfo.c — what /v1/health and /metrics say about the package set:
 * read from <pkgset dir>/changes (written by pkgsetgen.c), so every process
 * of the farm reports the same numbers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "../common/cleanup.h"

int builder_pkgset_changes(const config *cfg, long long *changes, char current[65],
                           long long *changed_at)
{
    *changes = 0;
    *changed_at = 0;
    current[0] = 0;
    _cleanup_free_ char *base = builder_pkgset_base(cfg);
    _cleanup_free_ char *path = NULL;
    if (!base || asprintf(&path, "%s/changes", base) < 0)
        return -ENOMEM;
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    char line[512];
    long long n = 0;
    while (fgets(line, sizeof line, f)) {
        long long t = 0;
        char old[80] = "", id[80] = "";
        if (sscanf(line, "%lld %79s %79s", &t, old, id) != 3)
            continue;
        /* The first generation ("-" before it) is no change. */
        if (strcmp(old, "-")) {
            n++;
            *changed_at = t;
        }
        snprintf(current, 65, "%s", id);
    }
    fclose(f);
    *changes = n;
    return 0;
}
