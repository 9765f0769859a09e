/* build.c — build one claimed dependency set and record the outcome.
 *
 *   lock <key>  ->  nix-build --out-link <state>/gcroots/<key>  ->  nix-store -qR
 *     ->  nix-store -q --size  ->  store_depset_ready | store_depset_fail
 *
 * The per-key lock (flock on <state>/builder-locks/<key>.lock) is what keeps
 * two processes from running Nix for one key: the store gives a row to one
 * lease holder, but a lease can lapse under a slow build and the row go to a
 * second builder while the first is still in Nix. The second then waits on
 * the lock (renewing its own lease), and its nix-build finds the output
 * already there. Nix's own path locks would also serialise them, but only by
 * polling, and only after evaluating twice.
 *
 * The root is made by nix-build itself (--out-link registers it as an
 * indirect GC root) before the row is marked ready, so a ready row always has
 * its paths protected from garbage collection. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "builder_internal.h"
#include "pkgsources.h"
#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "../common/jsonutil.h"

typedef struct {
    store *s;
    const char *key;
    const char *owner;
    const char *heartbeat_id;
    int64_t lease_ms;
} lease_ctx;

/* Called from nixrun every lease.renew_ms: a lost lease stops the build. */
static int lease_tick(void *arg)
{
    lease_ctx *c = arg;
    int r = store_depset_renew(c->s, c->key, c->owner, c->lease_ms);
    if (c->heartbeat_id) {
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        (void)store_heartbeat(c->s, c->heartbeat_id, "builder", host, (int)getpid(), c->key);
    }
    return r == -ESTALE ? -ESTALE : 0;
}

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Takes a lock file (op LOCK_EX or LOCK_SH), renewing the lease while
 * another process holds it. Returns the locked fd, -ESTALE, -EINTR or -errno. */
static int lock_file(const config *cfg, const char *name, int op, lease_ctx *lc,
                     volatile sig_atomic_t *stop)
{
    _cleanup_free_ char *path = builder_lock_path(cfg, name);
    if (!path)
        return -ENOMEM;
    _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int64_t renew_ms = config_int(cfg, "lease.renew_ms");
    int64_t next = store_now_ms() + renew_ms;
    while (flock(fd, op | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK && errno != EINTR)
            return -errno;
        if (stop && *stop)
            return -EINTR;
        if (store_now_ms() >= next) {
            int r = lease_tick(lc);
            if (r < 0)
                return r;
            next = store_now_ms() + renew_ms;
        }
        msleep(50);
    }
    return steal_fd(&fd);
}

/* Splits Nix's stdout into a JSON array of the lines that are paths. */
static json_t *path_lines(const char *text)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    const char *p = text;
    while (p && *p) {
        size_t n = strcspn(p, "\n");
        if (n > 0 && p[0] == '/')
            json_array_append_new(a, json_stringn(p, n));
        p += n;
        if (*p)
            p++;
    }
    return a;
}

/* argv for the set's nix-build; the strings live in spec, nix or bufs. */
typedef struct {
    const char *argv[32];
    char *names;      /* owned: "a b c" */
    char *include;    /* owned: nixfarm=<nix_dir> */
    char *depset_nix; /* owned */
    char *gen;        /* owned: the generated package-set directory */
    int gen_arg;      /* its index in argv (0: none) */
    pkgsource *src;   /* owned: the nixpkgs source of a named set, else NULL */
} build_cmd;

static void build_cmd_done(build_cmd *c)
{
    free(c->names);
    free(c->include);
    free(c->depset_nix);
    free(c->gen);
    pkgsource_free(c->src);
}

/* A named nixpkgs set: nix/nixpkgs-depset.nix over the source as the sources
 * file says now (like the Debian set, a set requested at an older revision
 * is built from the current one: its names are what was asked for), with the
 * source's substituters and keys. Fills argv from *i. */
static int nixpkgs_build_cmd(const config *cfg, const builder_nix *nix, json_t *spec,
                             build_cmd *cmd, int *i, char *err, size_t errlen)
{
    const char *name = json_string_value(json_object_get(spec, "package_set"));
    int r = pkgsources_get(cfg, name, &cmd->src, err, errlen);
    if (r == 0)
        return -EINVAL; /* no longer configured: err says which sets there are */
    if (r < 0)
        return r == -ENOENT || r == -ENOTDIR ? -EINVAL : r;
    json_t *pkgs = json_object_get(spec, "packages");
    size_t len = 1, k;
    json_t *v;
    json_array_foreach(pkgs, k, v)
    {
        if (!pkgsources_attr_ok(json_string_value(v))) {
            snprintf(err, errlen, "packages[%zu]: not an attribute path", k);
            return -EINVAL;
        }
        len += strlen(json_string_value(v)) + 1;
    }
    if (!(cmd->names = calloc(1, len)) ||
        asprintf(&cmd->depset_nix, "%s/nixpkgs-depset.nix", nix->nix_dir) < 0)
        return -ENOMEM;
    json_array_foreach(pkgs, k, v)
    {
        if (k)
            strcat(cmd->names, " ");
        strcat(cmd->names, json_string_value(v));
    }
    cmd->argv[(*i)++] = "nix-build";
    cmd->argv[(*i)++] = cmd->depset_nix;
    cmd->argv[(*i)++] = "--argstr";
    cmd->argv[(*i)++] = "source";
    cmd->argv[(*i)++] = cmd->src->source_arg;
    cmd->argv[(*i)++] = "--argstr";
    cmd->argv[(*i)++] = "attrs";
    cmd->argv[(*i)++] = cmd->names;
    cmd->argv[(*i)++] = "--argstr";
    cmd->argv[(*i)++] = "system";
    cmd->argv[(*i)++] = cmd->src->system;
    pkgsource_nix_options(cmd->src, cmd->argv, i);
    return 0;
}

/* Fills cmd from the spec; -EINVAL with err for a spec this builder refuses. */
static int make_build_cmd(const config *cfg, const builder_nix *nix, json_t *spec, const char *root,
                          build_cmd *cmd, char *err, size_t errlen)
{
    memset(cmd, 0, sizeof *cmd);
    int i = 0;
    json_t *expr = json_object_get(spec, "expr");
    json_t *pkgs = json_object_get(spec, "packages");
    if (json_is_string(expr)) {
        /* Arbitrary Nix code: always in Nix's sandbox, and evaluation may read
         * nothing of the host but the package set (restrict-eval). */
        if (asprintf(&cmd->include, "nixfarm=%s", nix->nix_dir) < 0)
            return -ENOMEM;
        cmd->argv[i++] = "nix-build";
        cmd->argv[i++] = "-E";
        cmd->argv[i++] = json_string_value(expr);
        cmd->argv[i++] = "-I";
        cmd->argv[i++] = cmd->include;
        cmd->argv[i++] = "--option";
        cmd->argv[i++] = "restrict-eval";
        cmd->argv[i++] = "true";
    } else if (json_is_array(pkgs) && json_is_string(json_object_get(spec, "package_set"))) {
        int r = nixpkgs_build_cmd(cfg, nix, spec, cmd, &i, err, errlen);
        if (r < 0)
            return r;
    } else if (json_is_array(pkgs)) {
        /* The set is built from the current generation even when the row
         * was requested under an older package-set id (a Debian update came
         * in between): its names are what the submission asked for, and the
         * old host files may be gone. */
        int r = builder_pkgset_dir(cfg, false, &cmd->gen, err, errlen);
        if (r < 0)
            return r;
        /* Checked against the generation built from, not the one the API
         * validated against: a set whose package is unavailable there fails
         * with the API's sentence, not Nix's "attribute missing". */
        r = builder_pkgset_check_gen(cmd->gen, pkgs, err, errlen);
        if (r < 0)
            return r;
        size_t len = 1, k;
        json_t *v;
        json_array_foreach(pkgs, k, v) len += strlen(json_string_value(v)) + 1;
        if (!(cmd->names = calloc(1, len)))
            return -ENOMEM;
        json_array_foreach(pkgs, k, v)
        {
            /* Validated plain names: a space cannot occur inside one. */
            if (k)
                strcat(cmd->names, " ");
            strcat(cmd->names, json_string_value(v));
        }
        if (asprintf(&cmd->depset_nix, "%s/depset.nix", nix->nix_dir) < 0)
            return -ENOMEM;
        cmd->argv[i++] = "nix-build";
        cmd->argv[i++] = cmd->depset_nix;
        cmd->argv[i++] = "--argstr";
        cmd->argv[i++] = "names";
        cmd->argv[i++] = cmd->names;
        /* A static set's depset.nix takes no gen: Nix passes only the
         * arguments a function names. */
        cmd->argv[i++] = "--argstr";
        cmd->argv[i++] = "gen";
        cmd->gen_arg = i;
        cmd->argv[i++] = cmd->gen;
    } else {
        snprintf(err, errlen, "spec has neither \"packages\" nor \"expr\"");
        return -EINVAL;
    }
    /* Both kinds: sandboxed builds whatever nix.conf says. */
    cmd->argv[i++] = "--option";
    cmd->argv[i++] = "sandbox";
    cmd->argv[i++] = "true";
    cmd->argv[i++] = "--out-link";
    cmd->argv[i++] = root;
    cmd->argv[i] = NULL;
    return 0;
}

/* Whether Nix failed because an imported host file no longer has the NAR
 * hash its manifest pins (Nix 2.8: "store path mismatch in (possibly
 * filtered) path added from '/'"; newer: "hash mismatch"). */
static bool host_files_changed(const char *log)
{
    return log && (strstr(log, "store path mismatch") || strstr(log, "hash mismatch"));
}

/* Records the failure; the store ends the waiting submissions deps_failed. */
static int record_fail(store *s, const char *key, const char *owner, const char *log, char *err,
                       size_t errlen)
{
    int r = store_depset_fail(s, key, owner, log);
    if (r < 0) {
        snprintf(err, errlen, "recording the failed set %.12s: %s", key, strerror(-r));
        return r;
    }
    snprintf(err, errlen, "%s", log);
    return 0;
}

/* Closure and its size, by two nix-store queries. */
static int query_closure(const builder_nix *nix, json_t *out_paths, json_t **closure_out,
                         int64_t *bytes_out, char *err, size_t errlen)
{
    size_t n = json_array_size(out_paths);
    _cleanup_free_ const char **argv = calloc(n + 4, sizeof *argv);
    if (!argv)
        return -ENOMEM;
    argv[0] = "nix-store";
    argv[1] = "-qR";
    for (size_t i = 0; i < n; i++)
        argv[2 + i] = json_string_value(json_array_get(out_paths, i));
    _cleanup_free_ char *text = NULL;
    int r = builder_nix_simple(nix, argv, 0, &text, err, errlen);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *closure = path_lines(text);
    if (!closure)
        return -ENOMEM;
    size_t m = json_array_size(closure);
    _cleanup_free_ const char **argv2 = calloc(m + 4, sizeof *argv2);
    if (!argv2)
        return -ENOMEM;
    argv2[0] = "nix-store";
    argv2[1] = "-q";
    argv2[2] = "--size";
    for (size_t i = 0; i < m; i++)
        argv2[3 + i] = json_string_value(json_array_get(closure, i));
    _cleanup_free_ char *sizes = NULL;
    r = builder_nix_simple(nix, argv2, 0, &sizes, err, errlen);
    if (r < 0)
        return r;
    int64_t total = 0;
    for (char *p = sizes, *end; p && *p; p = end) {
        long long v = strtoll(p, &end, 10);
        if (end == p)
            break;
        total += v;
    }
    *closure_out = steal_pointer(&closure);
    *bytes_out = total;
    return 0;
}

int builder_build_claimed_hb(const config *cfg, store *s, const char *owner,
                             const char *heartbeat_id, const store_depset_claimed *claimed,
                             volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    char e[1024] = "";
    const char *key = claimed->key;
    lease_ctx lc = {s, key, owner, heartbeat_id, config_int(cfg, "lease.ms")};

    _cleanup_json_ json_t *spec = NULL;
    int r = jsonutil_parse(claimed->spec_json, &spec, e, sizeof e);
    if (r < 0 || !json_is_object(spec)) {
        char log[1200];
        snprintf(log, sizeof log, "unreadable spec: %s", e);
        return record_fail(s, key, owner, log, err, errlen);
    }

    builder_nix nix;
    if ((r = builder_nix_init(cfg, &nix)) < 0)
        return r;
    _cleanup_free_ char *root = builder_root_path(cfg, key);
    _cleanup_free_ char *gcdir = config_state_path(cfg, "gcroots");
    build_cmd cmd;
    if (!root || !gcdir) {
        builder_nix_done(&nix);
        return -ENOMEM;
    }
    if ((r = fsutil_mkdir_p(gcdir, 0755)) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", gcdir, strerror(-r));
        builder_nix_done(&nix);
        return r;
    }
    r = make_build_cmd(cfg, &nix, spec, root, &cmd, e, sizeof e);
    if (r == -EINVAL) {
        build_cmd_done(&cmd);
        builder_nix_done(&nix);
        return record_fail(s, key, owner, e, err, errlen);
    }
    if (r < 0) {
        snprintf(err, errlen, "%s", e[0] ? e : strerror(-r));
        build_cmd_done(&cmd);
        builder_nix_done(&nix);
        return r;
    }

    /* The key's lock keeps a second Nix out of this set; the shared GC lock
     * keeps this farm's `nix-store --gc` from running while Nix imports or
     * builds (Nix 2.8's collector deletes in-flight add-* directories). */
    _cleanup_close_ int lock_fd = lock_file(cfg, key, LOCK_EX, &lc, stop);
    _cleanup_close_ int gc_fd = lock_fd < 0 ? lock_fd : lock_file(cfg, "gc", LOCK_SH, &lc, stop);
    if (lock_fd < 0 || gc_fd < 0) {
        r = lock_fd < 0 ? lock_fd : gc_fd;
        snprintf(err, errlen, "waiting for the lock of set %.12s: %s", key, strerror(-r));
        build_cmd_done(&cmd);
        builder_nix_done(&nix);
        return r;
    }

    nixrun_opts o = {
        .argv = cmd.argv,
        .bin_dir = nix.bin_dir,
        .conf_dir = nix.conf_dir,
        .timeout_ms = nix.timeout_ms,
        .memory_kib = nix.memory_kib,
        .log_bytes = nix.log_bytes,
        .tick = lease_tick,
        .tick_arg = &lc,
        .tick_ms = (int)config_int(cfg, "lease.renew_ms"),
        .stop = stop,
    };
    nixrun_result res;
    char ge[1024] = ""; /* why a forced regeneration failed */
    r = nixrun(&o, &res, e, sizeof e);
    if (r == 0 && !(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0) && !res.timed_out &&
        cmd.gen && host_files_changed(res.log)) {
        /* A host file changed without dpkg noticing: the pinned hash is
         * stale. Regenerate the set and build once more from the new one. */
        _cleanup_free_ char *gen = NULL;
        if (builder_pkgset_dir(cfg, true, &gen, ge, sizeof ge) == 0) {
            ge[0] = 0;
            free(cmd.gen);
            cmd.gen = steal_pointer(&gen);
            cmd.argv[cmd.gen_arg] = cmd.gen;
            nixrun_result_done(&res);
            r = nixrun(&o, &res, e, sizeof e);
        } else if (!ge[0]) {
            snprintf(ge, sizeof ge, "package set: cannot regenerate after a hash mismatch");
        }
    }
    int ret;
    if (r == -EINTR || r == -ESTALE) {
        snprintf(err, errlen, "%s",
                 r == -EINTR ? "stopped during the build" : "lost the lease during the build");
        ret = r;
    } else if (r < 0) {
        /* Nix could not even start: that is this machine's fault, but the
         * waiting submissions deserve an answer rather than a retry loop. */
        ret = record_fail(s, key, owner, e, err, errlen);
        ret = ret < 0 ? ret : 0;
    } else if (!(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0) || res.timed_out) {
        char how[256];
        nixrun_describe(&o, &res, how, sizeof how);
        _cleanup_free_ char *log = NULL;
        /* A host file changed and the set could not be regenerated (dpkg
         * busy): say that rather than Nix's hash mismatch. */
        if (ge[0] ? asprintf(&log, "%s", ge) < 0 : asprintf(&log, "%s\n%s", how, res.log) < 0)
            ret = -ENOMEM;
        else
            ret = record_fail(s, key, owner, log, err, errlen);
    } else {
        _cleanup_json_ json_t *outs = path_lines(res.out);
        _cleanup_json_ json_t *closure = NULL;
        int64_t bytes = 0;
        struct stat st;
        if (!outs || json_array_size(outs) == 0 || stat(root, &st) < 0) {
            ret = record_fail(s, key, owner, "nix-build succeeded but made no output link", err,
                              errlen);
        } else if ((r = query_closure(&nix, outs, &closure, &bytes, e, sizeof e)) < 0) {
            ret = record_fail(s, key, owner, e, err, errlen);
        } else {
            r = store_depset_ready(s, key, owner, outs, closure, bytes, root, res.log);
            if (r < 0) {
                /* Keep the root: whoever holds the lease now will reuse it. */
                snprintf(err, errlen, "recording the ready set %.12s: %s", key, strerror(-r));
                ret = r;
            } else {
                ret = 1;
            }
        }
    }
    nixrun_result_done(&res);
    build_cmd_done(&cmd);
    builder_nix_done(&nix);
    return ret;
}

int builder_build_claimed(const config *cfg, store *s, const char *owner,
                          const store_depset_claimed *claimed, volatile sig_atomic_t *stop,
                          char *err, size_t errlen)
{
    return builder_build_claimed_hb(cfg, s, owner, NULL, claimed, stop, err, errlen);
}
