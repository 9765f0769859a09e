/* gitsrc.c — git sources: one bare mirror per URL, fetch on a missing rev,
 * checkout of a tree into a box directory. See gitsrc.h for the contract.
 *
 * Why a hand-written checkout instead of git_checkout_tree: the destination is
 * a box that the sandboxed program will own, not a work tree. Writing entries
 * ourselves through directory file descriptors (openat/mkdirat/symlinkat with
 * O_NOFOLLOW) means a hostile tree (symlink then file of the same path, ".."
 * names) can never make us write outside dest_dir, and we can check the size
 * limit before writing a byte. */
#include "gitsrc.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <git2.h>

#include "cleanup.h"
#include "fsutil.h"
#include "gitsrc_gc.h"
#include "gitsrc_net.h"
#include "hash.h"
#include "netaddr.h"
#include "monotime.h"

/* Most entries one checkout writes: a tree of a million empty files is as bad
 * for a box as a large one. */
#define GITSRC_MAX_ENTRIES 100000

static const char *gitsrc_lasterr(void)
{
    const git_error *e = git_error_last();
    return e && e->message ? e->message : "unknown libgit2 error";
}

/* libgit2 handles, one cleanup helper each. */
static inline void gitsrc_repo_freep(git_repository **p)
{
    git_repository_free(*p);
}
static inline void gitsrc_remote_freep(git_remote **p)
{
    git_remote_free(*p);
}
static inline void gitsrc_object_freep(git_object **p)
{
    git_object_free(*p);
}
static inline void gitsrc_tree_freep(git_tree **p)
{
    git_tree_free(*p);
}
static inline void gitsrc_entry_freep(git_tree_entry **p)
{
    git_tree_entry_free(*p);
}
static inline void gitsrc_odb_freep(git_odb **p)
{
    git_odb_free(*p);
}
static inline void gitsrc_buf_disposep(git_buf *b)
{
    git_buf_dispose(b);
}

/* Keeps libgit2's global state alive for one call; init/shutdown are
 * reference-counted, so nested and concurrent users are fine. */
static inline void gitsrc_lib_donep(int *inited)
{
    if (*inited > 0)
        git_libgit2_shutdown();
}
/* The count for gitsrc_lib_donep, or -EIO (said in err) when libgit2 cannot
 * start. */
static int gitsrc_lib_init(char *err, size_t errlen)
{
    int r = git_libgit2_init();
    if (r < 0) {
        errbuf_set(err, errlen, "libgit2 init failed: %s", gitsrc_lasterr());
        return -EIO;
    }
    if (r > 0) {
        /* Repositories handed to us as local paths may belong to another
         * user (a CI checkout); we only read them. */
        git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
    }
    return r;
}

static bool gitsrc_has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

int gitsrc_validate(const char *url, const char *rev, const char *subdir, char *err, size_t errlen)
{
    if (!url || !*url) {
        errbuf_set(err, errlen, "source.git.url: must be a non-empty string");
        return -EINVAL;
    }
    if (!(url[0] == '/' || gitsrc_has_prefix(url, "file:///") ||
          gitsrc_has_prefix(url, "http://") || gitsrc_has_prefix(url, "https://"))) {
        errbuf_set(err, errlen,
                   "source.git.url: '%s' is not supported; use https://, http://, file:// "
                   "or an absolute path",
                   url);
        return -EPROTONOSUPPORT;
    }
    if (strpbrk(url, "\n\r") || strlen(url) > 4096) {
        errbuf_set(err, errlen, "source.git.url: contains a newline or is too long");
        return -EINVAL;
    }
    if (!rev || !*rev || strlen(rev) > 1024 || strpbrk(rev, "\n\r")) {
        errbuf_set(err, errlen,
                   "source.git.rev: must be a branch, tag or commit id (non-empty, one line)");
        return -EINVAL;
    }
    if (subdir && *subdir) {
        if (subdir[0] == '/') {
            errbuf_set(err, errlen, "source.git.subdir: must be relative, got '%s'", subdir);
            return -EINVAL;
        }
        /* Reject any ".." component; "." and empty components are harmless
         * but we normalise nothing, so refuse them too for clarity. */
        const char *p = subdir;
        while (*p) {
            const char *e = strchrnul(p, '/');
            size_t n = (size_t)(e - p);
            if ((n == 2 && p[0] == '.' && p[1] == '.') || (n == 1 && p[0] == '.') ||
                (n == 0 && *e == '/')) {
                errbuf_set(err, errlen,
                           "source.git.subdir: '%s' must be a plain relative path without "
                           "'.', '..' or '//'",
                           subdir);
                return -EINVAL;
            }
            p = *e ? e + 1 : e;
        }
    }
    return 0;
}

gitsrc_policy gitsrc_policy_from_config(const config *cfg)
{
    return (gitsrc_policy){.allow_local = config_bool(cfg, "git.allow_local"),
                           .allow_private = config_bool(cfg, "git.allow_private")};
}

static bool gitsrc_is_local(const char *url)
{
    return url[0] == '/' || gitsrc_has_prefix(url, "file:");
}

/* The host of an http(s) URL, brackets stripped. Strict on purpose: what
 * this refuses (percent-escapes, a second '@', odd characters) no honest git
 * URL needs, and a host we cannot read the way libgit2 reads it cannot be
 * checked. */
static int gitsrc_url_host(const char *url, char *host, size_t hostlen, char *err, size_t errlen)
{
    const char *a = strstr(url, "://");
    /* A backslash is a separator to some URL parsers and not to others. */
    if (!a || strchr(url, '\\'))
        goto bad;
    a += 3;
    size_t alen = strcspn(a, "/?#");
    const char *at = memchr(a, '@', alen);
    if (at) {
        if (memchr(at + 1, '@', alen - (size_t)(at + 1 - a)))
            goto bad;
        alen -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    const char *h = a;
    size_t hl;
    if (alen && a[0] == '[') {
        const char *close = memchr(a, ']', alen);
        if (!close)
            goto bad;
        h = a + 1;
        hl = (size_t)(close - h);
        if (strspn(h, "0123456789abcdefABCDEF:.") < hl)
            goto bad;
        const char *rest = close + 1;
        if (rest < a + alen && *rest != ':')
            goto bad;
    } else {
        const char *colon = memchr(a, ':', alen);
        hl = colon ? (size_t)(colon - a) : alen;
        static const char ok[] =
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_";
        if (strspn(h, ok) < hl)
            goto bad;
    }
    if (hl == 0 || hl >= hostlen)
        goto bad;
    memcpy(host, h, hl);
    host[hl] = '\0';
    return 0;
bad:
    errbuf_set(err, errlen, "source.git.url: '%s' has no host the farm can check", url);
    return -EINVAL;
}

int gitsrc_url_check(const char *url, gitsrc_policy policy, char *err, size_t errlen)
{
    if (!url || !*url) {
        errbuf_set(err, errlen, "source.git.url: must be a non-empty string");
        return -EINVAL;
    }
    if (gitsrc_is_local(url)) {
        if (policy.allow_local)
            return 0;
        errbuf_set(err, errlen,
                   "source.git.url: '%s' is a repository on the farm's own disk; local paths "
                   "and file:// URLs are refused unless git.allow_local",
                   url);
        return -EACCES;
    }
    char host[256];
    int r = gitsrc_url_host(url, host, sizeof host, err, errlen);
    if (r < 0 || policy.allow_private)
        return r;
    if (netaddr_classify_host(host) == NETADDR_HOST_PRIVATE) {
        errbuf_set(err, errlen,
                   "source.git.url: %s is a loopback, private or reserved address (refused "
                   "unless git.allow_private)",
                   host);
        return -EACCES;
    }
    return 0;
}

char *gitsrc_mirror_path(const config *cfg, const char *url)
{
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(url, strlen(url), hex);
    char rel[HASH_HEX_LEN + 16];
    snprintf(rel, sizeof rel, "git/%s.git", hex);
    return config_state_path(cfg, rel);
}

/* ---- fetching ------------------------------------------------------------ */

typedef struct {
    bool creds_asked;
    bool timed_out;
    int64_t deadline_ms;
} gitsrc_fetch_state;

static int gitsrc_credentials_cb(git_credential **out, const char *url,
                                 const char *username_from_url, unsigned int allowed_types,
                                 void *payload)
{
    gitsrc_fetch_state *st = payload;
    /* The farm holds no credentials: report and stop instead of prompting. */
    st->creds_asked = true;
    git_error_set_str(GIT_ERROR_NET, "the remote asks for credentials");
    return GIT_EAUTH;
}

/* Progress callbacks are where libgit2 lets us abort a slow transfer
 * (libgit2 1.5 has no server timeout option). */
static int gitsrc_transfer_cb(const git_indexer_progress *stats, void *payload)
{
    gitsrc_fetch_state *st = payload;
    if (monotime_ms() > st->deadline_ms) {
        st->timed_out = true;
        git_error_set_str(GIT_ERROR_NET, "fetch timed out");
        return -1;
    }
    return 0;
}
static int gitsrc_sideband_cb(const char *str, int len, void *payload)
{
    return gitsrc_transfer_cb(NULL, payload);
}

/* Fetches every branch and tag of url into the bare mirror and points the
 * mirror's HEAD at the remote's default branch. Caller holds the mirror lock. */
static int gitsrc_fetch(const config *cfg, git_repository *repo, const char *url, char *err,
                        size_t errlen)
{
    _cleanup_(gitsrc_remote_freep) git_remote *remote = NULL;
    /* Anonymous remote; skipping url.*.insteadOf also avoids a pcre2 leak in
     * libgit2 1.5's config regex matching (and our mirrors have no config). */
    git_remote_create_options ro;
    git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    ro.repository = repo;
    ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    if (git_remote_create_with_opts(&remote, url, &ro) < 0) {
        errbuf_set(err, errlen, "source.git.url: %s: %s", url, gitsrc_lasterr());
        return -EHOSTUNREACH;
    }
    /* Every socket of this fetch resolves, checks and pins its address. */
    if (gitsrc_net_install(config_bool(cfg, "git.allow_private")) < 0) {
        errbuf_set(err, errlen, "source.git.url: cannot set up the fetch: %s", gitsrc_lasterr());
        return -EIO;
    }
    gitsrc_fetch_state st = {0};
    long long timeout = config_int(cfg, "git.fetch_timeout_ms");
    st.deadline_ms = monotime_ms() + (timeout > 0 ? timeout : 120000);

    git_fetch_options fo;
    git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
    fo.callbacks.credentials = gitsrc_credentials_cb;
    fo.callbacks.transfer_progress = gitsrc_transfer_cb;
    fo.callbacks.sideband_progress = gitsrc_sideband_cb;
    fo.callbacks.payload = &st;
    fo.prune = GIT_FETCH_PRUNE;
    fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL;
    fo.update_fetchhead = 0;
    /* A redirect to another host could point a farm at an internal service. */
    fo.follow_redirects = GIT_REMOTE_REDIRECT_INITIAL;

    char *specs[] = {"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"};
    git_strarray refspecs = {specs, 2};
    if (git_remote_fetch(remote, &refspecs, &fo, "nixfarm fetch") < 0) {
        if (gitsrc_net_refusal()) {
            errbuf_set(err, errlen, "%s", gitsrc_net_refusal());
            return -EACCES;
        }
        if (st.creds_asked) {
            errbuf_set(err, errlen,
                       "source.git.url: %s asks for credentials; the farm fetches only "
                       "public repositories",
                       url);
            return -EACCES;
        }
        if (st.timed_out) {
            errbuf_set(err, errlen, "source.git.url: fetching %s timed out", url);
            return -ETIMEDOUT;
        }
        errbuf_set(err, errlen, "source.git.url: cannot fetch %s: %s", url, gitsrc_lasterr());
        return -EHOSTUNREACH;
    }
    /* HEAD of the mirror follows the remote's default branch, so rev "HEAD"
     * means what it means in a clone. */
    git_buf head = GIT_BUF_INIT;
    if (git_remote_default_branch(&head, remote) == 0 && head.ptr)
        git_repository_set_head(repo, head.ptr);
    git_buf_dispose(&head);
    return 0;
}

static int gitsrc_rm_lock(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    size_t n = strlen(path);
    if (flag == FTW_F && n > 5 && strcmp(path + n - 5, ".lock") == 0)
        unlink(path);
    else if (flag == FTW_F && ftw->level > 0 && strstr(path, "/objects/pack/tmp_"))
        unlink(path);
    return 0;
}

typedef struct {
    int r;
    char msg[1024];
} gitsrc_fetch_answer;

/* Runs gitsrc_fetch in a child process and kills it at git.fetch_timeout_ms:
 * libgit2 1.5 has no connect or read timeout, and progress callbacks never
 * run while a server says nothing, so a silent server would otherwise hold a
 * worker forever. The caller holds the mirror's flock, so after a kill no
 * other process is fetching and the lock and temporary pack files the child
 * left can be removed. Also lets the worker's abort (which kills its
 * children) end a fetch. */
static int gitsrc_fetch_bounded(const config *cfg, git_repository *repo, const char *mirror,
                                const char *url, char *err, size_t errlen)
{
    long long timeout = config_int(cfg, "git.fetch_timeout_ms");
    if (timeout <= 0)
        timeout = 120000;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int r = -errno;
        close(pfd[0]);
        close(pfd[1]);
        return r;
    }
    if (pid == 0) {
        close(pfd[0]);
        gitsrc_fetch_answer a = {0};
        a.r = gitsrc_fetch(cfg, repo, url, a.msg, sizeof a.msg);
        (void)!write(pfd[1], &a, sizeof a);
        _exit(0);
    }
    close(pfd[1]);
    _cleanup_close_ int rfd = pfd[0];
    gitsrc_fetch_answer a = {.r = -EIO};
    int64_t deadline = monotime_ms() + timeout;
    bool answered = false;
    for (;;) {
        int64_t left = deadline - monotime_ms();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = rfd, .events = POLLIN};
        int n = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0) {
            answered = read(rfd, &a, sizeof a) == (ssize_t)sizeof a;
            break;
        }
    }
    if (!answered)
        kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (!answered) {
        nftw(mirror, gitsrc_rm_lock, 16, FTW_PHYS);
        if (monotime_ms() >= deadline) {
            errbuf_set(err, errlen, "source.git.url: fetching %s took longer than %lld ms", url,
                       timeout);
            return -ETIMEDOUT;
        }
        errbuf_set(err, errlen, "source.git.url: the fetch of %s died", url);
        return -EIO;
    }
    if (a.r < 0)
        errbuf_set(err, errlen, "%s", a.msg);
    return a.r;
}

/* Looks rev up in repo as a commit. 0 found, -ENOENT not found, -EIO other. */
static int gitsrc_lookup(git_repository *repo, const char *rev, git_object **commit)
{
    _cleanup_(gitsrc_object_freep) git_object *obj = NULL;
    int r = git_revparse_single(&obj, repo, rev);
    if (r == GIT_ENOTFOUND || r == GIT_EAMBIGUOUS || r == GIT_EINVALIDSPEC ||
        r == GIT_EUNBORNBRANCH)
        return -ENOENT;
    if (r < 0)
        return -ENOENT;
    if (git_object_peel(commit, obj, GIT_OBJECT_COMMIT) < 0)
        return -ENOENT;
    return 0;
}

static bool gitsrc_is_commit_id(const char *rev)
{
    size_t n = strlen(rev);
    if (n < 7 || n > 40)
        return false;
    return strspn(rev, "0123456789abcdefABCDEF") == n;
}

/* Opens (creating if needed) the mirror of url and finds rev in it, fetching
 * when rev is missing. A commit id that is present never fetches; a name
 * (branch, tag, HEAD) that is present fetches again only when the last fetch is
 * older than git.ref_max_age_ms, so "main" does not stay stale forever. */
static int gitsrc_open_rev(const config *cfg, const char *url, const char *rev,
                           git_repository **repo_out, git_object **commit_out, char *err,
                           size_t errlen)
{
    _cleanup_free_ char *mirror = gitsrc_mirror_path(cfg, url);
    _cleanup_free_ char *gitdir = config_state_path(cfg, "git");
    if (!mirror || !gitdir)
        return -ENOMEM;
    int r = fsutil_mkdir_p(gitdir, 0755);
    if (r < 0) {
        errbuf_set(err, errlen, "cannot create %s: %s", gitdir, strerror(-r));
        return r;
    }

    _cleanup_(gitsrc_repo_freep) git_repository *repo = NULL;
    _cleanup_(gitsrc_object_freep) git_object *commit = NULL;
    bool exists = access(mirror, F_OK) == 0;
    if (exists && git_repository_open_bare(&repo, mirror) == 0 &&
        gitsrc_lookup(repo, rev, &commit) == 0) {
        bool fresh = gitsrc_is_commit_id(rev) &&
                     strncasecmp(git_oid_tostr_s(git_object_id(commit)), rev, strlen(rev)) == 0;
        if (!fresh) {
            _cleanup_free_ char *stamp = NULL;
            struct stat sb;
            long long max_age = config_int(cfg, "git.ref_max_age_ms");
            if (asprintf(&stamp, "%s/nixfarm-fetched", mirror) < 0)
                return -ENOMEM;
            fresh = stat(stamp, &sb) == 0 && (long long)(time(NULL) - sb.st_mtime) * 1000 < max_age;
        }
        if (fresh) {
            gitsrc_gc_touch(mirror);
            *repo_out = steal_pointer(&repo);
            *commit_out = steal_pointer(&commit);
            return 0;
        }
    }
    git_object_free(steal_pointer(&commit));
    git_repository_free(steal_pointer(&repo));

    /* Serialize creation and fetches of one mirror across processes. */
    _cleanup_free_ char *lockpath = NULL;
    if (asprintf(&lockpath, "%s.lock", mirror) < 0)
        return -ENOMEM;
    _cleanup_close_ int lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0) {
        r = -errno;
        errbuf_set(err, errlen, "cannot lock %s: %s", lockpath, strerror(errno));
        return r;
    }
    exists = access(mirror, F_OK) == 0;
    if (exists)
        r = git_repository_open_bare(&repo, mirror);
    else
        r = git_repository_init(&repo, mirror, 1);
    if (r < 0) {
        errbuf_set(err, errlen, "cannot open git mirror %s: %s", mirror, gitsrc_lasterr());
        return -EIO;
    }
    r = gitsrc_fetch_bounded(cfg, repo, mirror, url, err, errlen);
    /* The fetch wrote into the mirror from another process: reopen, so no
     * cached view of refs or packs hides what arrived. */
    git_repository_free(steal_pointer(&repo));
    if (git_repository_open_bare(&repo, mirror) < 0)
        repo = NULL;
    if (r >= 0 && !repo) {
        errbuf_set(err, errlen, "cannot reopen git mirror %s: %s", mirror, gitsrc_lasterr());
        return -EIO;
    }
    if (r < 0) {
        /* A mirror we just made for an unreachable URL is worth nothing;
         * one that already held objects stays, for the next attempt. */
        if (!exists) {
            git_repository_free(steal_pointer(&repo));
            fsutil_rm_rf(mirror); /* ours: state_dir + hex name */
        }
        /* An existing mirror that still has a commit id can serve it even when
         * the remote is unreachable now. */
        if (exists && repo && gitsrc_is_commit_id(rev) && gitsrc_lookup(repo, rev, &commit) == 0) {
            gitsrc_gc_touch(mirror);
            *repo_out = steal_pointer(&repo);
            *commit_out = steal_pointer(&commit);
            return 0;
        }
        return r;
    }
    _cleanup_free_ char *stamp = NULL;
    if (asprintf(&stamp, "%s/nixfarm-fetched", mirror) < 0)
        return -ENOMEM;
    _cleanup_close_ int sfd = open(stamp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (sfd >= 0)
        futimens(sfd, NULL);
    gitsrc_gc_touch(mirror);

    if (gitsrc_lookup(repo, rev, &commit) < 0) {
        errbuf_set(err, errlen, "source.git.rev: '%s' is not a branch, tag or commit of %s", rev,
                   url);
        return -ENOENT;
    }
    *repo_out = steal_pointer(&repo);
    *commit_out = steal_pointer(&commit);
    return 0;
}

/* A source as the request names it: well formed and allowed by the git
 * policy of cfg. 0, or a negative errno said in err. */
static int gitsrc_check_source(const config *cfg, const char *url, const char *rev,
                               const char *subdir, char *err, size_t errlen)
{
    int r = gitsrc_validate(url, rev, subdir, err, errlen);
    if (r < 0)
        return r;
    return gitsrc_url_check(url, gitsrc_policy_from_config(cfg), err, errlen);
}

int gitsrc_resolve(const config *cfg, const char *url, const char *rev, char commit_out[41],
                   char *err, size_t errlen)
{
    int r = gitsrc_check_source(cfg, url, rev, NULL, err, errlen);
    if (r < 0)
        return r;
    _cleanup_(gitsrc_lib_donep) int inited = gitsrc_lib_init(err, errlen);
    if (inited < 0)
        return inited;
    _cleanup_(gitsrc_repo_freep) git_repository *repo = NULL;
    _cleanup_(gitsrc_object_freep) git_object *commit = NULL;
    r = gitsrc_open_rev(cfg, url, rev, &repo, &commit, err, errlen);
    if (r < 0)
        return r;
    git_oid_tostr(commit_out, 41, git_object_id(commit));
    return 0;
}

/* ---- checkout ------------------------------------------------------------ */

typedef struct {
    git_repository *repo;
    git_odb *odb;
    long long bytes;
    long entries;
    long long max_bytes;
    char *err;
    size_t errlen;
    char path[PATH_MAX]; /* of the entry being handled, for messages */
} gitsrc_walk;

static bool gitsrc_bad_name(const char *name)
{
    return !*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/');
}

/* Pass one: sums blob sizes without reading contents (odb headers). */
static int gitsrc_measure(gitsrc_walk *w, const git_tree *tree)
{
    size_t n = git_tree_entrycount(tree);
    for (size_t i = 0; i < n; i++) {
        const git_tree_entry *e = git_tree_entry_byindex(tree, i);
        const char *name = git_tree_entry_name(e);
        if (gitsrc_bad_name(name)) {
            errbuf_set(w->err, w->errlen, "the tree holds an unsafe entry name '%s'", name);
            return -EIO;
        }
        if (++w->entries > GITSRC_MAX_ENTRIES) {
            errbuf_set(w->err, w->errlen, "the source has more than %d files and directories",
                       GITSRC_MAX_ENTRIES);
            return -EFBIG;
        }
        git_object_t type = git_tree_entry_type(e);
        if (type == GIT_OBJECT_TREE) {
            _cleanup_(gitsrc_tree_freep) git_tree *sub = NULL;
            if (git_tree_lookup(&sub, w->repo, git_tree_entry_id(e)) < 0) {
                errbuf_set(w->err, w->errlen, "reading tree %s: %s", name, gitsrc_lasterr());
                return -EIO;
            }
            int r = gitsrc_measure(w, sub);
            if (r < 0)
                return r;
        } else if (type == GIT_OBJECT_BLOB) {
            size_t len;
            git_object_t t;
            if (git_odb_read_header(&len, &t, w->odb, git_tree_entry_id(e)) < 0) {
                errbuf_set(w->err, w->errlen, "reading blob %s: %s", name, gitsrc_lasterr());
                return -EIO;
            }
            w->bytes += (long long)len;
            if (w->max_bytes > 0 && w->bytes > w->max_bytes) {
                errbuf_set(w->err, w->errlen, "the source is larger than the limit of %lld bytes",
                           w->max_bytes);
                return -EFBIG;
            }
        }
        /* GIT_OBJECT_COMMIT: a submodule, skipped. */
    }
    return 0;
}

static int gitsrc_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Pass two: writes the tree under dirfd. Every create is relative to a
 * directory fd we opened with O_NOFOLLOW and uses O_EXCL, so nothing is
 * followed out of the box. */
static int gitsrc_write_tree(gitsrc_walk *w, const git_tree *tree, int dirfd)
{
    size_t n = git_tree_entrycount(tree);
    for (size_t i = 0; i < n; i++) {
        const git_tree_entry *e = git_tree_entry_byindex(tree, i);
        const char *name = git_tree_entry_name(e);
        git_filemode_t mode = git_tree_entry_filemode(e);
        int r;
        if (mode == GIT_FILEMODE_TREE) {
            _cleanup_(gitsrc_tree_freep) git_tree *sub = NULL;
            if (git_tree_lookup(&sub, w->repo, git_tree_entry_id(e)) < 0)
                return -EIO;
            if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
                goto fail_errno;
            _cleanup_close_ int sub_fd =
                openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub_fd < 0)
                goto fail_errno;
            r = gitsrc_write_tree(w, sub, sub_fd);
            if (r < 0)
                return r;
        } else if (mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE ||
                   mode == GIT_FILEMODE_LINK) {
            _cleanup_(gitsrc_object_freep) git_object *obj = NULL;
            if (git_object_lookup(&obj, w->repo, git_tree_entry_id(e), GIT_OBJECT_BLOB) < 0) {
                errbuf_set(w->err, w->errlen, "reading blob %s: %s", name, gitsrc_lasterr());
                return -EIO;
            }
            git_blob *blob = (git_blob *)obj;
            const char *data = git_blob_rawcontent(blob);
            size_t len = (size_t)git_blob_rawsize(blob);
            if (mode == GIT_FILEMODE_LINK) {
                _cleanup_free_ char *target = strndup(data, len);
                if (!target)
                    return -ENOMEM;
                if (symlinkat(target, dirfd, name) < 0)
                    goto fail_errno;
                continue;
            }
            _cleanup_close_ int fd =
                openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644);
            if (fd < 0)
                goto fail_errno;
            r = gitsrc_write_all(fd, data, len);
            if (r < 0) {
                errno = -r;
                goto fail_errno;
            }
        }
        continue;
    fail_errno:
        r = -errno;
        errbuf_set(w->err, w->errlen, "writing %s: %s", name, strerror(errno));
        return r;
    }
    return 0;
}

/* Writes the tree of commit (or its subdir) into dest_fd, size-checked first. */
static int gitsrc_write_commit(git_repository *repo, git_object *commit, const char *rev,
                               const char *subdir, int dest_fd, long long max_bytes, char *err,
                               size_t errlen)
{
    _cleanup_(gitsrc_tree_freep) git_tree *tree = NULL;
    if (git_commit_tree(&tree, (git_commit *)commit) < 0) {
        errbuf_set(err, errlen, "reading the tree of %s: %s", rev, gitsrc_lasterr());
        return -EIO;
    }
    if (subdir && *subdir) {
        _cleanup_(gitsrc_entry_freep) git_tree_entry *entry = NULL;
        _cleanup_(gitsrc_tree_freep) git_tree *sub = NULL;
        if (git_tree_entry_bypath(&entry, tree, subdir) < 0 ||
            git_tree_entry_type(entry) != GIT_OBJECT_TREE) {
            errbuf_set(err, errlen, "source.git.subdir: '%s' is not a directory at %s", subdir,
                       rev);
            return -ENOENT;
        }
        if (git_tree_lookup(&sub, repo, git_tree_entry_id(entry)) < 0) {
            errbuf_set(err, errlen, "reading %s: %s", subdir, gitsrc_lasterr());
            return -EIO;
        }
        git_tree_free(tree);
        tree = steal_pointer(&sub);
    }

    _cleanup_(gitsrc_odb_freep) git_odb *odb = NULL;
    if (git_repository_odb(&odb, repo) < 0) {
        errbuf_set(err, errlen, "opening objects: %s", gitsrc_lasterr());
        return -EIO;
    }
    gitsrc_walk w = {
        .repo = repo, .odb = odb, .max_bytes = max_bytes, .err = err, .errlen = errlen};
    int r = gitsrc_measure(&w, tree);
    if (r < 0)
        return r;
    return gitsrc_write_tree(&w, tree, dest_fd);
}

static int gitsrc_open_dest(const char *dest_dir, char *err, size_t errlen)
{
    if (!dest_dir || !*dest_dir) {
        errbuf_set(err, errlen, "no destination directory");
        return -EINVAL;
    }
    int fd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int r = -errno;
        errbuf_set(err, errlen, "cannot open %s: %s", dest_dir, strerror(errno));
        return r == -ENOENT ? -EINVAL : r;
    }
    return fd;
}

int gitsrc_checkout(const config *cfg, const char *url, const char *rev, const char *subdir,
                    const char *dest_dir, long long max_bytes, char *err, size_t errlen)
{
    int r = gitsrc_check_source(cfg, url, rev, subdir, err, errlen);
    if (r < 0)
        return r;
    _cleanup_close_ int dest_fd = gitsrc_open_dest(dest_dir, err, errlen);
    if (dest_fd < 0)
        return dest_fd;
    _cleanup_(gitsrc_lib_donep) int inited = gitsrc_lib_init(err, errlen);
    if (inited < 0)
        return inited;
    _cleanup_(gitsrc_repo_freep) git_repository *repo = NULL;
    _cleanup_(gitsrc_object_freep) git_object *commit = NULL;
    r = gitsrc_open_rev(cfg, url, rev, &repo, &commit, err, errlen);
    if (r < 0)
        return r;
    r = gitsrc_write_commit(repo, commit, rev, subdir, dest_fd, max_bytes, err, errlen);
    /* Keep the mirrors trimmed (at most once per git.gc_interval_ms); a
     * failed collection does not fail this checkout. */
    char gc_err[256];
    gitsrc_gc_maybe(cfg, NULL, gc_err, sizeof(gc_err));
    return r;
}

/* ---- local work trees (farm ci) -------------------------------------------- */

static int gitsrc_open_worktree(const char *path, git_repository **repo, char *err, size_t errlen)
{
    if (git_repository_open_ext(repo, path, 0, NULL) < 0) {
        errbuf_set(err, errlen, "%s is not inside a git repository: %s", path, gitsrc_lasterr());
        return -ENOENT;
    }
    return 0;
}

int gitsrc_worktree_head(const char *path, char commit_out[41], char **toplevel, char *err,
                         size_t errlen)
{
    _cleanup_(gitsrc_lib_donep) int inited = gitsrc_lib_init(err, errlen);
    if (inited < 0)
        return inited;
    _cleanup_(gitsrc_repo_freep) git_repository *repo = NULL;
    int r = gitsrc_open_worktree(path, &repo, err, errlen);
    if (r < 0)
        return r;
    _cleanup_(gitsrc_object_freep) git_object *commit = NULL;
    if (gitsrc_lookup(repo, "HEAD", &commit) < 0) {
        errbuf_set(err, errlen, "%s: HEAD has no commit yet", path);
        return -ENOENT;
    }
    git_oid_tostr(commit_out, 41, git_object_id(commit));
    if (toplevel) {
        const char *wd = git_repository_workdir(repo);
        const char *top = wd ? wd : git_repository_path(repo);
        *toplevel = strdup(top);
        if (!*toplevel)
            return -ENOMEM;
        size_t n = strlen(*toplevel);
        if (n > 1 && (*toplevel)[n - 1] == '/')
            (*toplevel)[n - 1] = '\0';
    }
    return 0;
}

int gitsrc_checkout_worktree(const char *path, const char *rev, const char *dest_dir,
                             long long max_bytes, char *err, size_t errlen)
{
    _cleanup_close_ int dest_fd = gitsrc_open_dest(dest_dir, err, errlen);
    if (dest_fd < 0)
        return dest_fd;
    _cleanup_(gitsrc_lib_donep) int inited = gitsrc_lib_init(err, errlen);
    if (inited < 0)
        return inited;
    _cleanup_(gitsrc_repo_freep) git_repository *repo = NULL;
    int r = gitsrc_open_worktree(path, &repo, err, errlen);
    if (r < 0)
        return r;
    _cleanup_(gitsrc_object_freep) git_object *commit = NULL;
    if (gitsrc_lookup(repo, rev, &commit) < 0) {
        errbuf_set(err, errlen, "'%s' is not a commit of the repository at %s", rev, path);
        return -ENOENT;
    }
    return gitsrc_write_commit(repo, commit, rev, NULL, dest_fd, max_bytes, err, errlen);
}
