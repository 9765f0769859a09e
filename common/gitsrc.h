/* gitsrc.h — git sources for submissions: `source: {git: {url, rev, subdir}}`.
 *
 * Theory of operation
 * -------------------
 * Every URL gets one bare mirror under <state_dir>/git/<sha256(url)>.git, made
 * with libgit2. A checkout first looks the rev up in the mirror; only when it is
 * missing does it fetch (all branches and tags), then looks
 * again. So a farm that runs the same commit a thousand times fetches once, and
 * a pinned commit id never touches the network after the first fetch.
 *
 * Accepted URLs: file:// URLs, absolute local paths of a repository (bare or a
 * work tree), http:// and https://. Anything else (ssh, git://, relative paths)
 * is refused with -EPROTONOSUPPORT, because the farm carries no ssh keys and a
 * relative path means nothing to a daemon.
 *
 * A checkout writes the tree of rev (or of its subdir) into dest_dir, which must
 * exist and should be empty: regular files (0644, or 0755 when executable in
 * git), directories and symlinks (kept as links, never followed, so a link
 * cannot make the farm write outside dest_dir). Submodules are skipped. The sum
 * of blob sizes is checked against max_bytes before anything is written, so a
 * huge tree fails fast and leaves dest_dir as it was.
 *
 * Concurrency: several processes may check out from one mirror at once; fetches
 * into one mirror are serialized with an flock on <mirror>.lock.
 *
 * Where a fetch may go (an untrusted submitter names the URL): local
 * repositories (file:// and absolute paths) could read any repository on the
 * farm host, and http(s) to a loopback, private or reserved address could
 * reach internal services (SSRF). Both are refused unless the config allows
 * them (git.allow_local, git.allow_private; see gitsrc_policy). The URL's
 * host is checked without DNS first (address literals and localhost names,
 * common/netaddr.h); at fetch time every socket libgit2 opens resolves the
 * host itself, refuses it unless every address passes, and connects to the
 * checked address (gitsrc_net.c), so DNS rebinding and redirects to another
 * host are caught too. A mirror fetched earlier still serves its commits.
 *
 * Errors (negative errno, with a sentence in err that names the URL or rev):
 *   -ENOENT          the rev (branch, tag, commit id, or "HEAD") is not in the
 *                    repository even after a fetch, or subdir is not a directory
 *                    at that rev
 *   -EHOSTUNREACH    the URL cannot be reached (no such path, DNS, refused, HTTP
 *                    404/5xx)
 *   -EACCES          the remote asks for credentials, or the policy refuses
 *                    the URL (local repository, or a host that is or
 *                    resolves to a non-public address; err names the setting)
 *   -ETIMEDOUT       the fetch took longer than git.fetch_timeout_ms (it runs
 *                    in a child process that is killed then)
 *   -EFBIG           the tree (or subdir) is larger than max_bytes
 *   -EPROTONOSUPPORT the URL scheme is not one of the above
 *   -EINVAL          empty URL/rev, a subdir with "..", or a bad dest_dir
 *   -EIO             anything else libgit2 reports (its message is in err)
 *
 * Config keys used: state_dir, git.fetch_timeout_ms, git.max_checkout_bytes,
 * git.ref_max_age_ms, git.allow_local, git.allow_private, and through gitsrc_gc.h
 * (collection of old mirrors) git.mirror_max_age_ms, git.mirrors_max_bytes,
 * git.gc_interval_ms (see config_keys.def). Library code:
 * nothing here logs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include "config.h"

/* Which URLs a fetch may use. Off by default in the daemon's config: farmd
 * serves untrusted submitters. `farm ci`/`farm run` on the operator's own
 * machine read work trees directly (gitsrc_checkout_worktree) and never
 * pass through this policy. */
typedef struct {
    bool allow_local;   /* file:// URLs and absolute paths */
    bool allow_private; /* http(s) to loopback/private/link-local/reserved */
} gitsrc_policy;

/* The policy of cfg: git.allow_local and git.allow_private. */
gitsrc_policy gitsrc_policy_from_config(const config *cfg);

/* Checks url (already of a supported form, see gitsrc_validate) against the
 * policy without DNS: a local URL unless allow_local; an http(s) host that is
 * a localhost name or an address literal of a non-public address unless
 * allow_private. 0; -EINVAL when the host cannot be read (bad characters,
 * percent-escapes, several '@'); -EACCES refused. err names
 * "source.git.url" and the setting that would allow it. Other names are
 * checked when the fetch resolves them. For the API and gitsrc_checkout. */
int gitsrc_url_check(const char *url, gitsrc_policy policy, char *err, size_t errlen);

/* Checks out rev (+ subdir, may be NULL or "") of url into dest_dir, fetching
 * into the URL's mirror only when rev is missing there. max_bytes <= 0 means no
 * limit. The policy is cfg's (gitsrc_policy_from_config). Returns 0 on success or one of the errors
 * above. Called by the worker for submissions with a git source. Safe to call from several
 * processes at once. */
int gitsrc_checkout(const config *cfg, const char *url, const char *rev, const char *subdir,
                    const char *dest_dir, long long max_bytes, char *err, size_t errlen);

/* Resolves rev of url to a full commit id (40 hex + NUL), fetching only when
 * missing, like gitsrc_checkout. For cache keys and for the API to reject an
 * unknown rev early. 0 or the errors above. */
int gitsrc_resolve(const config *cfg, const char *url, const char *rev, char commit_out[41],
                   char *err, size_t errlen);

/* Checks the form of a git source without touching the network: non-empty url
 * with a supported scheme, non-empty rev, subdir relative without "..".
 * 0 or -EINVAL/-EPROTONOSUPPORT with a sentence naming the field
 * ("source.git.url", "source.git.rev", "source.git.subdir"). For the API. */
int gitsrc_validate(const char *url, const char *rev, const char *subdir, char *err, size_t errlen);

/* The mirror directory for url (<state_dir>/git/<sha256(url)>.git); caller frees. */
char *gitsrc_mirror_path(const config *cfg, const char *url);

/* ---- local work trees (`farm ci`) ----
 * These open the repository that contains path directly (no mirror, no
 * fetch), so a detached HEAD or an unpushed commit works, as CI checkouts
 * have them. Only the committed tree is used: uncommitted changes are not. */

/* HEAD's commit id of the repository containing path, and (when toplevel is
 * not NULL) its work tree root (caller frees). 0, -ENOENT (not a repository,
 * or no commit yet) or -errno. */
int gitsrc_worktree_head(const char *path, char commit_out[41], char **toplevel, char *err,
                         size_t errlen);

/* Writes the tree of rev of the repository containing path into dest_dir,
 * like gitsrc_checkout. */
int gitsrc_checkout_worktree(const char *path, const char *rev, const char *dest_dir,
                             long long max_bytes, char *err, size_t errlen);
