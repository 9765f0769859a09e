/* sandbox.h — run one untrusted program in a fresh, limited, measured sandbox.
 *
 * A config goes in, a result comes out. The library is standalone (it includes
 * no other nixfarm header) and is used by the worker for every compile and test
 * step and by `farm-sandbox`, the command-line runner.
 *
 * Theory of operation (details in sandbox/run.c and docs/sandbox.md):
 *
 *   supervisor (the caller's thread, real root)
 *     │ pool: per-slot network namespace (held by an fd), per-slot cgroups
 *     │ beneath the caller's own cgroup, a compiled seccomp filter, a host uid
 *     │ per slot — all made once in sandbox_pool_new().
 *     │ Each slot has a thread living in the slot's netns and cgroups.
 *     └─ slot thread: clone3(NEWPID|NEWNS|NEWIPC|NEWUTS|NEWCGROUP)
 *          "keeper", PID 1 of the sandbox, born in the slot's netns and
 *          cgroups: builds an empty tmpfs root (store paths ro, /box, /tmp,
 *          /dev, /proc), pivots.
 *          └─ clone(CLONE_VM|CLONE_VFORK): "target": setsid, rlimits, the slot's host uid,
 *             new user namespace (uid 1000 inside), no capabilities,
 *             no_new_privs, seccomp, exec argv[0].
 *   When the target exits (or a limit is hit and the supervisor kills the
 *   keeper), the kernel kills every process of the PID namespace, the mount
 *   namespace and its tmpfs go with the last process, and the supervisor checks
 *   that the slot cgroup is empty before the slot is used again.
 *
 * Thread-safety: one pool per process (it starts one thread per slot; the
 * caller must not reap children it did not make, e.g. waitpid(-1) or
 * SIGCHLD = SIG_IGN). sandbox_run() on *different* slots of
 * one pool may be called from different threads at the same time; one slot is
 * never used by two calls at once. The worker runs one slot per process and
 * gives each process its own first_uid, so nothing is shared between them.
 *
 * Errors: functions return >= 0 on success and -errno on failure, and write a
 * sentence into err (if not NULL) only on failure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*** Configuration of one run ***/

/* An extra bind: host path src appears at dst inside (absolute). Read-only
 * unless writable. dst's parents are created in the sandbox's tmpfs root. */
struct sandbox_bind {
    const char *src;
    const char *dst;
    bool writable;
};

/* An extra writable tmpfs at dst inside (e.g. a scratch dir beside a
 * read-only /box), capped at bytes (0 = the /tmp default). */
struct sandbox_tmpfs {
    const char *dst;
    uint64_t bytes;
};

/* Limits; 0 means "no limit" for every field except tmp_bytes and box_bytes,
 * where 0 means the default (64 MiB). */
struct sandbox_limits {
    uint64_t cpu_ms;       /* user+sys of the whole process tree */
    uint64_t wall_ms;      /* measured and enforced by the supervisor */
    uint64_t memory_kib;   /* whole tree (cgroup); RLIMIT_AS per process without cgroups */
    uint32_t processes;    /* processes + threads of the whole tree */
    uint64_t output_bytes; /* per stream; more output kills the run (limit OUTPUT) */
    uint64_t file_bytes;   /* largest file the program may write (RLIMIT_FSIZE) */
    uint32_t open_files;   /* RLIMIT_NOFILE */
    uint64_t stack_kib;    /* RLIMIT_STACK; 0 = 8 MiB */
    uint64_t tmp_bytes;    /* size of the /tmp tmpfs (and of extra tmpfs by default) */
    uint64_t box_bytes;    /* size of /box when box_dir is NULL (a fresh tmpfs) */
};

enum sandbox_stdin_kind {
    SANDBOX_STDIN_NULL = 0, /* /dev/null */
    SANDBOX_STDIN_FD,       /* stdin_fd, a host fd the caller keeps owning */
    SANDBOX_STDIN_BUFFER,   /* stdin_buf/stdin_len, copied before the run */
};

struct sandbox_config {
    /* argv[0] is an absolute path inside the sandbox; NULL-terminated. */
    const char *const *argv;
    /* "KEY=VALUE" strings, NULL-terminated; NULL = empty. Nothing of the
     * host's environment is passed. */
    const char *const *env;
    const char *cwd; /* inside; NULL = "/box" */

    enum sandbox_stdin_kind stdin_kind;
    int stdin_fd;
    const void *stdin_buf;
    size_t stdin_len;

    /* Store paths ("/nix/store/<hash>-name", NULL-terminated), bound read-only
     * at the same place inside; the host copy is <store_root><path>.
     * store_root NULL = "/" (the real store); a chroot store works too. */
    const char *store_root;
    const char *const *store_paths;

    /* Host directory bound at /box (writable unless box_readonly). NULL = a
     * fresh tmpfs of limits.box_bytes that disappears with the run. A writable
     * box_dir is chowned to the slot's host uid at the start of the run. */
    const char *box_dir;
    bool box_readonly;

    const struct sandbox_bind *binds;
    size_t n_binds;
    const struct sandbox_tmpfs *tmpfs;
    size_t n_tmpfs;

    const char *hostname; /* NULL = "sandbox" */
    /* false (default): the slot's empty network namespace (lo down, no
     * interfaces). true: share the supervisor's network — for trusted steps. */
    bool network;

    struct sandbox_limits limits;

    /* Live output (optional). When stream is true, the bytes of stdout and
     * stderr are also written to stream_stdout_fd / stream_stderr_fd (host fds
     * the caller keeps owning; -1 = that stream is not copied) as the
     * supervisor reads them from the pipes: the same bytes as the capture,
     * capped and flagged the same way (limits.output_bytes), in order.
     *
     * A stream fd never blocks or kills the supervisor: pipes, FIFOs and
     * terminals are written through a non-blocking description of their own
     * (reopened via /proc/self/fd, so the caller's fd keeps its flags),
     * sockets with MSG_DONTWAIT, regular files directly; SIGPIPE is blocked
     * in the supervisor's thread while it writes. Bytes a full fd does not
     * take wait in the capture buffer and go out when it has room, never
     * delaying the end of the run: stdout_streamed / stderr_streamed in the
     * result say how much of each buffer was written (a prefix), so the
     * caller can write the rest itself. A fd that fails (EPIPE, EBADF, ...)
     * or cannot be made non-blocking stops being written and
     * stdout_stream_failed / stderr_stream_failed is set. */
    bool stream;
    int stream_stdout_fd, stream_stderr_fd;

    /* Write order (optional). When true, the result's order[] tells how the
     * captured stdout and stderr bytes follow each other: runs of bytes in
     * the order the supervisor read them from the two pipes (each run as
     * long as possible). Bytes a program writes to one stream are in order;
     * across the two streams the order is exact whenever the supervisor read
     * one write before the next (it polls both pipes and reads whatever is
     * there, so writes that both arrive between two of its reads are
     * reported stdout first). Only captured bytes (within the cap) count. */
    bool record_order;
};

/* Zeroes c and fills the defaults (store_root "/", cwd "/box", stdin null). */
void sandbox_config_init(struct sandbox_config *c);

/*** Result of one run ***/

enum sandbox_status {
    SANDBOX_OK = 0,         /* exited with code 0, no limit hit */
    SANDBOX_PROGRAM_FAILED, /* non-zero exit, signal, or a limit: a verdict */
    SANDBOX_INTERNAL_ERROR, /* we failed; message says why */
};

enum sandbox_limit {
    SANDBOX_LIMIT_NONE = 0,
    SANDBOX_LIMIT_CPU,
    SANDBOX_LIMIT_WALL,
    SANDBOX_LIMIT_MEMORY,
    SANDBOX_LIMIT_OUTPUT,
    SANDBOX_LIMIT_FILE_SIZE,
    SANDBOX_LIMIT_PROCESSES,
};

enum sandbox_accounting {
    SANDBOX_ACCT_AUTO = 0, /* only as a pool option: v2, else v1, else rlimits */
    SANDBOX_ACCT_CGROUP_V2,
    SANDBOX_ACCT_CGROUP_V1,
    SANDBOX_ACCT_RLIMITS,
};

/* Where a run's setup time went (nanoseconds), for the benchmark. */
enum sandbox_step {
    SANDBOX_STEP_CLONE = 0, /* supervisor: hand-off to the slot thread + clone3 of the keeper
                             * with new namespaces, born in the slot cgroups */
    SANDBOX_STEP_CGROUP,    /* keeper: settling in the slot (OOM score) */
    SANDBOX_STEP_MOUNTS,    /* keeper: tmpfs root, binds, /dev, /proc, pivot_root */
    SANDBOX_STEP_FORK,      /* keeper: fork of the target */
    SANDBOX_STEP_USERNS,    /* target: uid drop, user namespace, capabilities */
    SANDBOX_STEP_SECCOMP,   /* target: loading the precompiled filter */
    SANDBOX_STEP_TEARDOWN,  /* supervisor: from the target's end to a clean slot */
    SANDBOX_STEP_COUNT,
};

/* One run of bytes of the capture (cfg->record_order). */
struct sandbox_chunk {
    unsigned char stream; /* 1 = stdout, 2 = stderr */
    size_t len;           /* bytes of that stream's buffer, following the previous run */
};

struct sandbox_result {
    enum sandbox_status status;
    int exit_code; /* when exited; -1 when killed by a signal */
    int signal;    /* signal number that killed the target, 0 if it exited */
    enum sandbox_limit limit;

    uint64_t cpu_ms;     /* user+sys of the program's processes (not the sandbox's setup) */
    uint64_t cpu_us;     /* the same in microseconds */
    uint64_t wall_ms;    /* from the start of the target to its end */
    uint64_t memory_kib; /* peak, whole tree (cgroup); largest process's RSS under rlimits */

    /* Captured output, malloc'd and NUL-terminated (the NUL is not counted),
     * capped at limits.output_bytes (64 MiB when 0); *_total counts every
     * byte produced. What was captured before an internal error is kept;
     * the buffers may be NULL then. */
    char *stdout_buf;
    size_t stdout_len;
    uint64_t stdout_total;
    bool stdout_truncated;
    char *stderr_buf;
    size_t stderr_len;
    uint64_t stderr_total;
    bool stderr_truncated;

    /* With cfg->stream: how many bytes of stdout_buf / stderr_buf (from the
     * start) reached the stream fd during the run, and whether that fd
     * failed and was given up. */
    size_t stdout_streamed;
    size_t stderr_streamed;
    bool stdout_stream_failed;
    bool stderr_stream_failed;

    /* With cfg->record_order: the runs, in order (malloc'd, NULL when there
     * was no output); their lengths add up to stdout_len + stderr_len. */
    struct sandbox_chunk *order;
    size_t n_order;

    enum sandbox_accounting accounting; /* the mechanism that was in force */
    /* Internal errors, and "execve ... failed" (reported as exit code 127). */
    char message[256];
    uint64_t step_ns[SANDBOX_STEP_COUNT];
};

/* Frees the output buffers (not r itself); r is zeroed. Accepts NULL. */
void sandbox_result_free(struct sandbox_result *r);

const char *sandbox_status_name(enum sandbox_status s);         /* "ok", "failed", "internal" */
const char *sandbox_limit_name(enum sandbox_limit l);           /* "none", "cpu", "wall", ... */
const char *sandbox_accounting_name(enum sandbox_accounting a); /* "cgroup-v2", ... */

/* The directory of this process's own cgroup in one hierarchy: the cgroup v1
 * hierarchy that has controller ctrl ("memory", "pids", ...), or the v2
 * unified one when ctrl is NULL. Read from /proc/self/cgroup and the mount
 * table, so it holds wherever the hierarchy is mounted. 0 with dir filled;
 * -ENOENT when the hierarchy is not mounted or this process is not in it;
 * -ENAMETOOLONG when dir is too small (a cut path would name another group). */
int sandbox_cgroup_own_dir(const char *ctrl, char *dir, size_t dirlen);

/*** The resident supervisor ***/

struct sandbox_pool;

struct sandbox_pool_options {
    unsigned slots;                     /* number of slots; default 1 */
    uid_t first_uid;                    /* host uid (and gid) of slot 0; slot i gets first_uid + i.
                                         * default 62000. Give each worker process its own range. */
    enum sandbox_accounting accounting; /* default AUTO */
    unsigned ready_per_slot;            /* fresh network namespaces + cgroups kept ready per
                                         * slot by a background thread; default 2; 0: each
                                         * run makes its own (one-shot commands) */
};

void sandbox_pool_options_init(struct sandbox_pool_options *o);

/* Prepares the slots: compiles the seccomp filter, makes the pool's cgroup
 * <own cgroup>/nixfarm-sandbox.<pid ns inode>.<pid>.<start time>.<random> in
 * each hierarchy used, and starts a thread that keeps fresh network
 * namespaces and run cgroups (<pool group>/run-<n>) ready: each run gets its
 * own, destroyed after it, never reused.
 * Needs root. On success *ret owns the pool; free it with sandbox_pool_free(). */
int sandbox_pool_new(const struct sandbox_pool_options *o, struct sandbox_pool **ret, char *err,
                     size_t errlen);

/* Kills anything still running in the pool's slots and removes its cgroups.
 * Accepts NULL. */
void sandbox_pool_free(struct sandbox_pool *p);

enum sandbox_accounting sandbox_pool_accounting(const struct sandbox_pool *p);
unsigned sandbox_pool_slots(const struct sandbox_pool *p);
uid_t sandbox_pool_slot_uid(const struct sandbox_pool *p, unsigned slot);

/* Runs cfg in slot and waits for it. Returns 0 when the program ran (r->status
 * is OK or PROGRAM_FAILED, the verdict), <0 when we failed (r->status is
 * INTERNAL_ERROR, r->message and err say why). r is always filled and must be
 * released with sandbox_result_free(). Blocks the calling thread. */
int sandbox_run(struct sandbox_pool *p, unsigned slot, const struct sandbox_config *cfg,
                struct sandbox_result *r, char *err, size_t errlen);

/* Kills the run in progress in slot, from any thread (e.g. a lease renewer):
 * its sandbox_run then returns -ECANCELED, status INTERNAL_ERROR, message
 * "cancelled", after the usual clean end. Returns 1 if a run was in progress,
 * 0 if none (nothing is remembered for a later run), <0 on a bad slot. */
int sandbox_cancel(struct sandbox_pool *p, unsigned slot);

/* Sends sig to the program of the run in progress in slot (its process
 * group: the target leads its own session), from any thread, e.g. an
 * interactive client's SIGINT. Returns 1 when sent, 0 when no program is
 * running (not started yet, or already gone), <0 on a bad slot or signal. */
int sandbox_signal(struct sandbox_pool *p, unsigned slot, int sig);

/*** Boxes: host directories bound at /box ***/

/* Makes directory path (parents must exist) and mounts a tmpfs capped at bytes
 * on it (mode 0755, root-owned; sandbox_run chowns a writable box to the slot
 * uid). An existing empty directory is fine. */
int sandbox_box_create(const char *path, uint64_t bytes, char *err, size_t errlen);

/* Unmounts (lazily) whatever is mounted on path, removes what remains under it
 * without following symlinks, and removes path. A missing path is success. */
int sandbox_box_destroy(const char *path, char *err, size_t errlen);

/* Opens relpath beneath box for reading the way an output must be collected:
 * openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS,
 * refusing anything that is not a regular file, has more than one link, or
 * lives on another device than box. Returns an O_RDONLY|O_CLOEXEC fd. */
int sandbox_box_open(const char *box, const char *relpath, char *err, size_t errlen);

/* Reads at most max_bytes of such a file into a malloc'd, NUL-terminated
 * *data (caller frees); *len is the bytes read, *truncated whether there
 * was more. */
int sandbox_box_read(const char *box, const char *relpath, size_t max_bytes, char **data,
                     size_t *len, bool *truncated, char *err, size_t errlen);

/* For a restarted supervisor: removes what this farm made and nobody uses
 * any more, and nothing else. Under box_root (box_root itself stays; NULL =
 * skip): a box still mounted only when its owner (tagged in the tmpfs's source
 * by sandbox_box_create) is provably gone — same PID namespace as ours, no
 * process with its pid and start time — and any entry that is no mount. And
 * every pool cgroup (nixfarm-sandbox.<pid ns>.<pid>.<start>.<random>) beneath
 * this process's cgroups whose maker is provably gone, killing what still runs
 * in it. Groups and boxes of another PID namespace, or of an older naming, are
 * never touched. Returns the number of things removed, or -errno. */
int sandbox_cleanup_stale(const char *box_root, char *err, size_t errlen);

/*** What this machine offers (features.c) ***/

/* How the sandbox depends on a kernel feature. */
enum sandbox_need {
    SANDBOX_NEED_REQUIRED = 0, /* no run without it */
    SANDBOX_NEED_FALLBACK,     /* without it the sandbox takes another path (if_missing) */
    SANDBOX_NEED_REFUSED,      /* a syscall ABI no sandboxed call may use: present or not,
                                * nothing runs through it (present: the filter kills) */
    SANDBOX_NEED_INFO,         /* not used by the sandbox; reported for completeness */
};

struct sandbox_feature {
    const char *name;       /* stable key: "user-namespaces", "cgroup-v2", "i386-abi", ... */
    const char *what;       /* one line for people */
    enum sandbox_need need; /* on this machine (clone-into-cgroup is required only with v2) */
    bool present;
    const char *if_missing; /* what the sandbox does without it */
    char detail[200];       /* how it was found: errno, mount point, controllers, ... */
};

#define SANDBOX_FEATURES_MAX 24

struct sandbox_features {
    size_t n;
    struct sandbox_feature f[SANDBOX_FEATURES_MAX];
    /* What a pool with accounting AUTO is expected to use here, from what is
     * mounted (a pool may still fall back, e.g. a v2 group that cannot
     * delegate): sandbox_pool_accounting() of a real pool is the last word. */
    enum sandbox_accounting accounting;
    bool probed_as_root; /* namespaces are only tried for real as root */
};

/* Probes the running kernel: namespaces (tried in a short-lived child, the way
 * a run uses them), seccomp and its KILL_PROCESS action, cgroup v1/v2 and
 * their controllers, clone3, pidfds, close_range, mount_setattr, openat2, and
 * whether the i386 (int 0x80) and x32 syscall ABIs exist. Leaves nothing
 * behind; fs owns no memory (nothing to free). Returns 0, or -errno when a probe itself could
 * not be made (err says which). */
int sandbox_features_probe(struct sandbox_features *fs, char *err, size_t errlen);

/* The feature named name, or NULL. */
const struct sandbox_feature *sandbox_features_get(const struct sandbox_features *fs,
                                                   const char *name);

/* How many features this machine lacks that the sandbox requires. */
size_t sandbox_features_missing(const struct sandbox_features *fs);

const char *sandbox_need_name(enum sandbox_need n); /* "required", "fallback", ... */

#ifdef __cplusplus
}
#endif
