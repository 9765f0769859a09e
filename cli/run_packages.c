/* run_packages.c — the package list of `farm run --help`: what this
 * machine's package set holds (names and the versions dpkg has), and which
 * packages are unavailable here and why (a missing Debian package, say). The
 * set is the one local runs use (generated into the state directory from
 * dpkg's data on first use). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../builder/builder.h"
#include "../common/cleanup.h"
#include "../common/config.h"
#include "local.h"
#include "verbs.h"

void run_help_packages(const char *state_flag)
{
    char err[1024] = "";
    config *cfg = NULL;
    _cleanup_free_ char *state = local_state_dir(state_flag);
    json_t *set = NULL;
    if (!state || config_new_default(&cfg, err, sizeof err) < 0 ||
        config_set(cfg, "state_dir", state, err, sizeof err) < 0 ||
        builder_pkgset_describe(cfg, &set, err, sizeof err) < 0) {
        printf("Packages: cannot read this machine's package set: %s\n\n", err);
        config_free(cfg);
        return;
    }
    printf("Packages on this machine (package set %.12s):\n",
           json_string_value(json_object_get(set, "id")));
    const char *name;
    json_t *p;
    json_object_foreach(json_object_get(set, "packages"), name, p)
    {
        const char *v = json_string_value(json_object_get(p, "version"));
        printf("  %-12s %s\n", name, v ? v : "");
    }
    json_t *un = json_object_get(set, "unavailable");
    if (json_object_size(un) > 0) {
        printf("Unavailable here:\n");
        json_object_foreach(un, name, p)
        {
            printf("  %-12s %s\n", name, json_string_value(json_object_get(p, "reason")));
        }
    }
    printf("\n");
    json_decref(set);
    config_free(cfg);
}
