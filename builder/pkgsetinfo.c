/* pkgsetinfo.c — what /v1/health and /metrics say about the package set:
 * read from <pkgset dir>/changes (written by pkgsetgen.c), so every process
 * of the farm reports the same numbers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

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

/* Loads dir/name as JSON; a missing file gives an empty object. */
static json_t *load_optional(const char *dir, const char *name, char *err, size_t errlen)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return NULL;
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return json_object();
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j || !json_is_object(j)) {
        snprintf(err, errlen, "package set %s: %s", path, j ? "not a JSON object" : je.text);
        json_decref(j);
        return NULL;
    }
    return j;
}

int builder_pkgset_describe(const config *cfg, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    _cleanup_free_ char *dir = NULL;
    int r = builder_pkgset_dir(cfg, false, &dir, err, errlen);
    if (r < 0)
        return r;
    char id[65];
    if ((r = builder_pkgset_id(cfg, id, err, errlen)) < 0)
        return r;
    json_t *pk = load_optional(dir, "packages.json", err, errlen);
    json_t *un = pk ? load_optional(dir, "unavailable.json", err, errlen) : NULL;
    if (!pk || !un) {
        json_decref(pk);
        return -EPROTO;
    }
    *out =
        json_pack("{s:s, s:s, s:o, s:o}", "id", id, "dir", dir, "packages", pk, "unavailable", un);
    return *out ? 0 : -ENOMEM;
}
