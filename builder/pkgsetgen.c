/* pkgsetgen.c — the offline package set, generated from this machine's dpkg.
 *
 * The committed nix/ holds only hand-written inputs (spec.json, lib/,
 * scripts/, depset.nix, packages.nix, regen). What depends on the machine
 * (file lists, Debian versions, pinned NAR hashes) is written by
 * `nix/regen --out DIR` into a generation directory:
 *
 *   <pkgset_dir>/<id>/            packages.json (SHA-256 = id), manifests/,
 *                                 unavailable.json
 *   <pkgset_dir>/inputs/<fp>   -> ../<id>   fp: dpkg status + nix/ inputs
 *   <pkgset_dir>/current       -> <id>      switched atomically (rename)
 *   <pkgset_dir>/changes          "<unix s> <old id> <new id> <reason>" lines
 *   <pkgset_dir>/lock             flock: one regen at a time on the machine
 *
 * A call costs a stat of the dpkg status file while it is unchanged. When it
 * changed (apt ran), the fingerprint is the SHA-256 of that file (under 1 MB)
 * and of the nix/ inputs; a known fingerprint reuses its generation, an
 * unknown one runs regen (seconds: it hashes every imported file). A forced
 * call (after Nix reported a hash mismatch: a host file changed without dpkg
 * noticing) runs regen whatever the fingerprint says.
 *
 * Never from a dpkg state in flux: while apt or dpkg holds the lock of the
 * admin dir (the status file's directory), or when regen finds a package it
 * looks at half-installed, unpacked, half-configured or waiting for triggers
 * (exit 3), or when the status file changed while regen ran, the current
 * generation stays, the fingerprint is not recorded, one line
 * `pkgset-regen-deferred reason=...` is logged, and a later use tries again
 * (not before DEFER_LOCK_MS / DEFER_REGEN_MS). A new generation without glibc
 * where the current one has it is not switched to (logged as an error): that
 * is a broken dpkg state, not an update.
 *
 * A nix.dir without spec.json and regen but with its own packages.json is a
 * static set (a pinned nixpkgs, the tests' fixtures): it is used as it is.
 * (A stray packages.json beside spec.json, say from an old checkout, is
 * ignored.) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "builder_internal.h"
#include "../common/cleanup.h"
#include "../common/fsutil.h"
#include "../common/hash.h"
#include "../common/log.h"
#include "../common/monotime.h"

typedef struct {
    char *src;  /* nix.dir */
    char *base; /* pkgset dir */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char *dir; /* the generation in use */
} gen_memo;

static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;
static gen_memo memo;

/* A deferred regeneration (memo_lock): when to look again, and what was
 * logged last (one line per kind of reason and episode). */
enum { DEFER_LOCK_MS = 1000, DEFER_REGEN_MS = 5000, REGEN_BUSY_EXIT = 3 };
static int64_t defer_until_ms;
static char defer_logged[32];

static void memo_clear(gen_memo *m)
{
    free(m->src);
    free(m->base);
    free(m->dir);
    memset(m, 0, sizeof *m);
}

static bool file_exists(const char *dir, const char *name)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return false;
    return access(path, F_OK) == 0;
}

char *builder_pkgset_base(const config *cfg)
{
    const char *d = cfg ? config_str(cfg, "nix.pkgset_dir") : "";
    if (d && d[0])
        return strdup(d);
    return config_state_path(cfg, "pkgset");
}

/* Adds the file's name and contents to h; 0 or -errno. */
static int hash_file(hash_ctx *h, const char *label, const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    hash_update(h, label, strlen(label) + 1);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        hash_update(h, buf, n);
    int bad = ferror(f);
    fclose(f);
    hash_update(h, "", 1);
    return bad ? -EIO : 0;
}

static int cmp_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dots(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Every regular file of src/sub, in name order. */
static int hash_dir(hash_ctx *h, const char *src, const char *sub)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", src, sub);
    struct dirent **list = NULL;
    int n = scandir(dir, &list, skip_dots, cmp_name);
    if (n < 0)
        return errno == ENOENT ? 0 : -errno;
    int r = 0;
    for (int i = 0; i < n; i++) {
        char path[4096 + 256], label[512];
        snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
        snprintf(label, sizeof label, "%s/%s", sub, list[i]->d_name);
        struct stat st;
        if (r == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            r = hash_file(h, label, path);
        free(list[i]);
    }
    free(list);
    return r;
}

/* The fingerprint of what a generation is made from. */
static int fingerprint(const char *src, const char *status, char fp[65], char *err, size_t errlen)
{
    hash_ctx *h = hash_new();
    if (!h)
        return -ENOMEM;
    hash_update(h, "nixfarm-pkgset-1", 17);
    int r = hash_file(h, "dpkg-status", status);
    if (r < 0) {
        errbuf_set(err, errlen, "package set: cannot read dpkg status %s: %s", status,
                   strerror(-r));
        hash_final_hex(h, fp);
        return r;
    }
    const char *files[] = {"spec.json", "regen", "depset.nix", "packages.nix"};
    for (size_t i = 0; r == 0 && i < sizeof files / sizeof *files; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", src, files[i]);
        r = hash_file(h, files[i], path);
    }
    if (r == 0)
        r = hash_dir(h, src, "lib");
    if (r == 0)
        r = hash_dir(h, src, "scripts");
    hash_final_hex(h, fp);
    if (r < 0)
        errbuf_set(err, errlen, "package set: cannot read %s: %s", src, strerror(-r));
    return r;
}

/* Points link at target atomically (a new symlink renamed over it). */
static int switch_link(const char *link, const char *target)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", link, (int)getpid());
    unlink(tmp);
    if (symlink(target, tmp) < 0)
        return -errno;
    if (rename(tmp, link) < 0) {
        int e = errno;
        unlink(tmp);
        return -e;
    }
    return 0;
}

/* The id a link under base points at ("" when none). */
static void link_id(const char *link, char id[65])
{
    char buf[256];
    ssize_t n = readlink(link, buf, sizeof buf - 1);
    id[0] = 0;
    if (n <= 0)
        return;
    buf[n] = 0;
    const char *slash = strrchr(buf, '/');
    snprintf(id, 65, "%.64s", slash ? slash + 1 : buf);
}

/* Makes <base>/current point at id and records a change. */
static int make_current(const char *base, const char *id, const char *reason, char *err,
                        size_t errlen)
{
    char link[4096], old[65];
    snprintf(link, sizeof link, "%s/current", base);
    link_id(link, old);
    if (!strcmp(old, id))
        return 0;
    int r = switch_link(link, id);
    if (r < 0) {
        errbuf_set(err, errlen, "package set: cannot switch %s: %s", link, strerror(-r));
        return r;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/changes", base);
    FILE *f = fopen(path, "ae");
    if (f) {
        fprintf(f, "%lld %s %s %s\n", (long long)time(NULL), old[0] ? old : "-", id, reason);
        fclose(f);
    }
    if (old[0])
        log_notice("pkgset-changed old=%.12s new=%.12s reason=\"%s\" (ready sets keep serving; new "
                   "sets build from the new files)",
                   old, id, reason);
    else
        log_notice("pkgset-generated id=%.12s dir=%s/%s", id, base, id);
    return 0;
}

/* Runs <src>/regen --out tmp and moves the result to <base>/<id>. */
static int run_regen(const config *cfg, const char *src, const char *base, const char *status,
                     bool force, char id[65], char *err, size_t errlen)
{
    char tmp[4096], prog[4096], out_arg[4096];
    snprintf(tmp, sizeof tmp, "%s/tmp-%d", base, (int)getpid());
    snprintf(prog, sizeof prog, "%s/regen", src);
    snprintf(out_arg, sizeof out_arg, "%s", tmp);
    fsutil_rm_rf(tmp);
    const char *argv[] = {prog, "--out", out_arg, "--dpkg-status", status, NULL};
    nixrun_opts o = {
        .argv = argv,
        .timeout_ms = cfg ? config_int(cfg, "builder.timeout_ms") : 600000,
        .log_bytes = 8192,
    };
    nixrun_result res;
    char e[1024] = "";
    int r = nixrun(&o, &res, e, sizeof e);
    if (r == 0 && WIFEXITED(res.status) && WEXITSTATUS(res.status) == REGEN_BUSY_EXIT) {
        /* A package regen looks at is in a transient dpkg state. */
        const char *busy = strstr(res.log, "dpkg is busy");
        errbuf_set(err, errlen, "%.*s", (int)strcspn(busy ? busy : res.log, "\n"),
                   busy ? busy : res.log);
        r = -EAGAIN;
    } else if (r == 0 && !(WIFEXITED(res.status) && WEXITSTATUS(res.status) == 0)) {
        char how[256];
        nixrun_describe(&o, &res, how, sizeof how);
        errbuf_set(err, errlen, "package set: %s %s\n%s", prog, how, res.log);
        r = -ENOEXEC;
    } else if (r < 0) {
        errbuf_set(err, errlen, "package set: cannot run %s: %s", prog, e);
    }
    nixrun_result_done(&res);
    if (r < 0) {
        fsutil_rm_rf(tmp);
        return r;
    }
    char pj[4096 + 32];
    snprintf(pj, sizeof pj, "%s/packages.json", tmp);
    hash_ctx *h = hash_new();
    if (!h)
        return -ENOMEM;
    FILE *f = fopen(pj, "re");
    if (!f) {
        r = -errno;
        hash_final_hex(h, id);
        errbuf_set(err, errlen, "package set: regen wrote no %s: %s", pj, strerror(-r));
        fsutil_rm_rf(tmp);
        return r;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        hash_update(h, buf, n);
    fclose(f);
    hash_final_hex(h, id);
    char dest[4096];
    snprintf(dest, sizeof dest, "%s/%s", base, id);
    if (access(dest, F_OK) == 0 && !force) {
        fsutil_rm_rf(tmp); /* the same set again: keep the one readers may hold */
        return 0;
    }
    if (access(dest, F_OK) == 0) {
        /* Forced (Nix found a stale hash) yet the same id: a manifest was
         * wrong while packages.json was not. Replace the directory. */
        char aside[4096 + 32];
        snprintf(aside, sizeof aside, "%s.stale-%d", dest, (int)getpid());
        if (rename(dest, aside) == 0)
            fsutil_rm_rf(aside);
    }
    if (rename(tmp, dest) < 0) {
        r = -errno;
        errbuf_set(err, errlen, "package set: cannot move %s to %s: %s", tmp, dest, strerror(-r));
        fsutil_rm_rf(tmp);
        return r;
    }
    return 0;
}

/* Whether dpkg's status file is still the one st describes. */
static bool same_status(const char *status, const struct stat *st)
{
    struct stat now;
    return stat(status, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino &&
           now.st_size == st->st_size && now.st_mtim.tv_sec == st->st_mtim.tv_sec &&
           now.st_mtim.tv_nsec == st->st_mtim.tv_nsec;
}

/* The regression guard: a generation without glibc replacing one with it is
 * what a dpkg state in flux looks like (libc6 "unpacked"), never an update:
 * every package needs glibc. -ENOTRECOVERABLE with err (logged loudly). */
static int check_glibc_kept(const char *base, const char *id, char *err, size_t errlen)
{
    char link[4096], old[65], olddir[4096 + 80], newdir[4096 + 80];
    snprintf(link, sizeof link, "%s/current", base);
    link_id(link, old);
    if (!old[0] || !strcmp(old, id))
        return 0;
    snprintf(olddir, sizeof olddir, "%s/%s/manifests", base, old);
    snprintf(newdir, sizeof newdir, "%s/%s/manifests", base, id);
    if (!file_exists(olddir, "glibc.json") || file_exists(newdir, "glibc.json"))
        return 0;
    errbuf_set(err, errlen,
               "package set: the new generation %.12s has no glibc while the current %.12s has "
               "it (is libc6 half-installed?); keeping %.12s",
               id, old, old);
    log_error("pkgset-suspicious new=%.12s old=%.12s: glibc unavailable in the new generation; "
              "not switching (see %s/%s/unavailable.json)",
              id, old, base, id);
    return -ENOTRECOVERABLE;
}

/* The generation for fingerprint fp, made when missing (or when force);
 * called with the lock file held. st: dpkg's status file as fp hashed it.
 * -EAGAIN (err: why) when dpkg's state was in flux. */
static int generate_locked(const config *cfg, const char *src, const char *base, const char *fp,
                           const char *status, const struct stat *st, bool force, char id[65],
                           char *err, size_t errlen)
{
    char link[4096], target[4096];
    snprintf(link, sizeof link, "%s/inputs/%s", base, fp);
    link_id(link, id);
    if (!force && id[0]) {
        snprintf(target, sizeof target, "%s/%s", base, id);
        if (file_exists(target, "packages.json"))
            return make_current(base, id, "dpkg state seen before", err, errlen);
    }
    int r = run_regen(cfg, src, base, status, force, id, err, errlen);
    if (r < 0)
        return r;
    if (!same_status(status, st)) {
        errbuf_set(err, errlen, "package set: dpkg's status %s changed while regen ran", status);
        return -EAGAIN;
    }
    if ((r = check_glibc_kept(base, id, err, errlen)) < 0)
        return r;
    char inputs[4096], rel[128];
    snprintf(inputs, sizeof inputs, "%s/inputs", base);
    if ((r = fsutil_mkdir_p(inputs, 0755)) < 0) {
        errbuf_set(err, errlen, "package set: cannot create %s: %s", inputs, strerror(-r));
        return r;
    }
    snprintf(rel, sizeof rel, "../%s", id);
    if ((r = switch_link(link, rel)) < 0) {
        errbuf_set(err, errlen, "package set: cannot write %s: %s", link, strerror(-r));
        return r;
    }
    return make_current(base, id,
                        force ? "a host file changed without dpkg noticing (Nix hash mismatch)"
                              : "dpkg state changed",
                        err, errlen);
}

/* The generation to keep: memo_dir, or <base>/current when memo_dir is
 * NULL or another process switched it; NULL when there is none. */
static char *current_dir(const char *base, const char *memo_dir)
{
    char link[4096], cur[65];
    snprintf(link, sizeof link, "%s/current", base);
    link_id(link, cur);
    char *d = NULL;
    if (cur[0] && asprintf(&d, "%s/%s", base, cur) >= 0 && file_exists(d, "packages.json"))
        return d;
    free(d);
    if (memo_dir && file_exists(memo_dir, "packages.json"))
        return strdup(memo_dir);
    return NULL;
}

/* Keeps *keep as the generation in use while dpkg's state is in flux: logs
 * once per kind and episode, looks again after ms. A forced regeneration
 * (Nix found a stale hash) cannot be served by the kept generation: -EAGAIN
 * with err. Call with memo_lock held; the fingerprint is not recorded. */
static int defer(char **keep, const char *kind, const char *why, int ms, bool force, char **dir_out,
                 char *err, size_t errlen)
{
    defer_until_ms = monotime_ms() + ms;
    if (strcmp(defer_logged, kind)) {
        snprintf(defer_logged, sizeof defer_logged, "%s", kind);
        log_notice("pkgset-regen-deferred reason=%s detail=\"%s\" keep=%.12s (apt or dpkg is "
                   "changing packages; regenerating when it has finished)",
                   kind, why, strrchr(*keep, '/') + 1);
    }
    if (force) {
        errbuf_set(err, errlen,
                   "package set: cannot regenerate now: %s; the farm tries again when apt or "
                   "dpkg has finished",
                   why);
        return -EAGAIN;
    }
    *dir_out = *keep;
    *keep = NULL;
    return 0;
}

int builder_pkgset_dir(const config *cfg, bool force, char **dir_out, char *err, size_t errlen)
{
    *dir_out = NULL;
    _cleanup_free_ char *src = builder_nix_dir(cfg);
    _cleanup_free_ char *base = builder_pkgset_base(cfg);
    if (!src || !base)
        return -ENOMEM;
    bool generated = file_exists(src, "regen") && file_exists(src, "spec.json");
    if (!generated && file_exists(src, "packages.json")) {
        *dir_out = steal_pointer(&src);
        return 0;
    }
    if (!generated) {
        errbuf_set(err, errlen,
                   "package set %s: neither packages.json nor spec.json and regen are there", src);
        return -ENOENT;
    }
    const char *status = cfg ? config_str(cfg, "nix.dpkg_status") : "";
    if (!status || !status[0])
        status = "/var/lib/dpkg/status";
    struct stat st;
    if (stat(status, &st) < 0) {
        int e = errno;
        errbuf_set(err, errlen, "package set: dpkg status %s: %s", status, strerror(e));
        return -e;
    }

    pthread_mutex_lock(&memo_lock);
    if (!force && memo.dir && !strcmp(memo.src, src) && !strcmp(memo.base, base) &&
        memo.dev == st.st_dev && memo.ino == st.st_ino && memo.size == st.st_size &&
        memo.mtime.tv_sec == st.st_mtim.tv_sec && memo.mtime.tv_nsec == st.st_mtim.tv_nsec &&
        file_exists(memo.dir, "packages.json")) {
        /* Another process may have regenerated after a hash mismatch. */
        char link[4096], cur[65];
        snprintf(link, sizeof link, "%s/current", base);
        link_id(link, cur);
        const char *slash = strrchr(memo.dir, '/');
        if (cur[0] && slash && strcmp(slash + 1, cur)) {
            char *d = NULL;
            if (asprintf(&d, "%s/%s", base, cur) >= 0 && file_exists(d, "packages.json")) {
                free(memo.dir);
                memo.dir = d;
            } else {
                free(d);
            }
        }
        *dir_out = strdup(memo.dir);
        pthread_mutex_unlock(&memo_lock);
        return *dir_out ? 0 : -ENOMEM;
    }

    /* The generation in use, to keep while dpkg's state is in flux. */
    _cleanup_free_ char *keep = NULL;
    if (memo.dir && !strcmp(memo.src, src) && !strcmp(memo.base, base))
        keep = current_dir(base, memo.dir);
    else
        keep = current_dir(base, NULL);
    if (keep && !force && monotime_ms() < defer_until_ms) {
        *dir_out = steal_pointer(&keep);
        pthread_mutex_unlock(&memo_lock);
        return 0;
    }
    char why[1024] = "";
    if (keep && builder_dpkg_busy(status, why, sizeof why) > 0) {
        int r = defer(&keep, strstr(why, "dpkg lock") ? "dpkg-locked" : "dpkg-transient", why,
                      DEFER_LOCK_MS, force, dir_out, err, errlen);
        pthread_mutex_unlock(&memo_lock);
        return r;
    }

    char fp[65], id[65] = "";
    int r = fingerprint(src, status, fp, err, errlen);
    _cleanup_close_ int lock_fd = -1;
    if (r == 0 && (r = fsutil_mkdir_p(base, 0755)) < 0)
        errbuf_set(err, errlen, "package set: cannot create %s: %s", base, strerror(-r));
    if (r == 0) {
        char lock[4096];
        snprintf(lock, sizeof lock, "%s/lock", base);
        lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lock_fd < 0 || flock(lock_fd, LOCK_EX) < 0) {
            r = -errno;
            errbuf_set(err, errlen, "package set: cannot lock %s: %s", lock, strerror(-r));
        }
    }
    if (r == 0)
        r = generate_locked(cfg, src, base, fp, status, &st, force, id, why, sizeof why);
    if (r == -EAGAIN && keep) {
        r = defer(&keep, "dpkg-in-flux", why, DEFER_REGEN_MS, force, dir_out, err, errlen);
        pthread_mutex_unlock(&memo_lock);
        return r;
    }
    if (r == -ENOTRECOVERABLE && keep) {
        /* Keep the current generation for this dpkg state (logged). */
        snprintf(id, sizeof id, "%s", strrchr(keep, '/') + 1);
        r = 0;
    } else if (r < 0) {
        if (why[0])
            errbuf_set(err, errlen, "%s", why);
        if (r == -ENOTRECOVERABLE)
            r = -EAGAIN;
    }
    if (r == 0) {
        defer_until_ms = 0;
        defer_logged[0] = 0;
        char *d = NULL;
        if (asprintf(&d, "%s/%s", base, id) < 0) {
            r = -ENOMEM;
        } else {
            memo_clear(&memo);
            memo.src = strdup(src);
            memo.base = strdup(base);
            memo.dir = d;
            memo.dev = st.st_dev;
            memo.ino = st.st_ino;
            memo.size = st.st_size;
            memo.mtime = st.st_mtim;
            if (!memo.src || !memo.base)
                memo_clear(&memo);
            *dir_out = strdup(d);
            if (!*dir_out)
                r = -ENOMEM;
        }
    }
    pthread_mutex_unlock(&memo_lock);
    return r;
}
