/* nixenv.c — the Nix settings of this process (from config) and small file
 * helpers the builder files share: paths of roots and locks, mkdir -p. */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builder_internal.h"
#include "../common/cleanup.h"
#include "../common/fsutil.h"

int builder_nix_init(const config *cfg, builder_nix *n)
{
    memset(n, 0, sizeof *n);
    n->nix_dir = builder_nix_dir(cfg);
    if (!n->nix_dir)
        return -ENOMEM;
    _cleanup_free_ char *conf = NULL;
    if (asprintf(&conf, "%s/nix.conf", n->nix_dir) < 0) {
        builder_nix_done(n);
        return -ENOMEM;
    }
    /* Without the farm's nix.conf, Nix reads /etc/nix/nix.conf as usual. */
    if (access(conf, R_OK) == 0 && !(n->conf_dir = strdup(n->nix_dir))) {
        builder_nix_done(n);
        return -ENOMEM;
    }
    n->bin_dir = cfg ? config_str(cfg, "nix.bin_dir") : "";
    n->timeout_ms = cfg ? config_int(cfg, "builder.timeout_ms") : 600000;
    n->memory_kib = cfg ? config_int(cfg, "builder.memory_kib") : 0;
    long long lb = cfg ? config_int(cfg, "builder.log_bytes") : 65536;
    n->log_bytes = lb > 0 ? (size_t)lb : 65536;
    return 0;
}

void builder_nix_done(builder_nix *n)
{
    free(n->nix_dir);
    free(n->conf_dir);
    memset(n, 0, sizeof *n);
}

int builder_nix_simple(const builder_nix *n, const char *const *argv, int64_t timeout_ms,
                       char **out, char *err, size_t errlen)
{
    nixrun_opts o = {
        .argv = argv,
        .bin_dir = n->bin_dir,
        .conf_dir = n->conf_dir,
        .timeout_ms = timeout_ms ? timeout_ms : n->timeout_ms,
        .memory_kib = n->memory_kib,
        .log_bytes = n->log_bytes,
        .out_max = 64 << 20,
    };
    nixrun_result r;
    int ret = nixrun(&o, &r, err, errlen);
    if (ret == 0 && !(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)) {
        char how[200];
        nixrun_describe(&o, &r, how, sizeof how);
        if (err && errlen)
            snprintf(err, errlen, "%s:\n%s", how, r.log);
        ret = -ENOEXEC;
    }
    if (ret == 0 && out)
        *out = steal_pointer(&r.out);
    nixrun_result_done(&r);
    return ret;
}

char *builder_root_path(const config *cfg, const char *key)
{
    _cleanup_free_ char *rel = NULL;
    if (asprintf(&rel, "gcroots/%s", key) < 0)
        return NULL;
    return config_state_path(cfg, rel);
}

char *builder_lock_path(const config *cfg, const char *key)
{
    _cleanup_free_ char *dir = config_state_path(cfg, "builder-locks");
    char *p = NULL;
    if (!dir || fsutil_mkdir_p(dir, 0700) < 0 || asprintf(&p, "%s/%s.lock", dir, key) < 0)
        return NULL;
    return p;
}

void builder_remove_roots(const char *root)
{
    unlink(root);
    /* nix-build names the links of further outputs <root>-<output>. */
    _cleanup_free_ char *pat = NULL;
    if (asprintf(&pat, "%s-*", root) < 0)
        return;
    glob_t g;
    if (glob(pat, GLOB_NOSORT, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            struct stat st;
            if (lstat(g.gl_pathv[i], &st) == 0 && S_ISLNK(st.st_mode))
                unlink(g.gl_pathv[i]);
        }
    }
    globfree(&g);
}

unsigned long builder_nix_exec_count(void)
{
    return nixrun_exec_count();
}
