/* internal.h — what the files of sandbox/ share and nobody else sees: the pool,
 * its slots, the cgroup layer (cgroup.c), the seccomp filter (filter.c) and the
 * keeper's mount plan (mounts.c). */
#pragma once

#include "sandbox.h"

#include <linux/filter.h>
#include <pthread.h>
#include <stdatomic.h>

/*** cgroup.c: per-slot cgroups beneath the caller's own (v1 or v2) ***/

struct sbx_cgroup {
    enum sandbox_accounting kind; /* CGROUP_V1, CGROUP_V2 or RLIMITS (none) */
    /* Directories made for this slot, removed by sbx_cg_destroy (NULL-ended). */
    char *dirs[4];
    /* v1: "tasks" of each group; the slot's clone thread writes "0" to each
     * once and lives there, so every keeper it clones is born inside (a
     * migration per run would cost an RCU grace period, ~8 ms here).
     * v2: join_fd[0] is the group directory, for clone3's CLONE_INTO_CGROUP. */
    int join_fd[4];
    int n_join;
    int procs_fd;      /* cgroup.procs of the memory (v1) / keeper (v2) group, to check emptiness */
    int prog_procs_fd; /* cgroup.procs of the program's group ("prog"), the same */
    int prog_join_fd; /* v1 prog/tasks, v2 prog/cgroup.procs: the target writes "0" before execve */
    int mem_limit_fd; /* memory.limit_in_bytes | memory.max */
    int memsw_fd;     /* memory.memsw.limit_in_bytes | memory.swap.max, or -1 */
    int mem_peak_fd;  /* memory.max_usage_in_bytes | memory.peak (may be -1 on old v2) */
    int mem_usage_fd; /* memory.usage_in_bytes | memory.current */
    int oom_fd;       /* memory.oom_control | memory.events */
    int pids_max_fd;  /* pids.max */
    int pids_events_fd;  /* pids.events (may be -1) */
    int pids_current_fd; /* v1: pids.current, for the keeper to see the slot thread gone */
    int cpu_fd;          /* prog's cpuacct.usage (ns) | cpu.stat (usage_usec) */
    /* Baselines taken by sbx_cg_prepare. */
    uint64_t mem_base, oom_base, pids_base, cpu_base;
};

/* Directory that holds every run group of a pool: <own>/<sbx_pool_group_name>. */
struct sbx_cg_root {
    enum sandbox_accounting kind;
    char *group[4]; /* per hierarchy, NULL-ended */
    int park_fd[4]; /* v1: <group>/tasks, where a slot thread goes back after a clone */
    int n_park;
};

int sbx_cg_root_init(struct sbx_cg_root *root, enum sandbox_accounting want, char *err,
                     size_t errlen);
void sbx_cg_root_destroy(struct sbx_cg_root *root);
/* Makes the run group <root>/<name> (with its "prog" child) and opens its files. */
int sbx_cg_run_init(struct sbx_cg_root *root, const char *name, struct sbx_cgroup *cg, char *err,
                    size_t errlen);
/* Closes its files, kills what is left in it and removes it. */
void sbx_cg_run_destroy(struct sbx_cgroup *cg);
/* Before a run: limits in, counters reset, baselines read. */
int sbx_cg_prepare(struct sbx_cgroup *cg, const struct sandbox_limits *l, char *err, size_t errlen);
uint64_t sbx_cg_cpu_ns(struct sbx_cgroup *cg);
struct sbx_cg_stats {
    uint64_t cpu_ns, mem_peak_bytes;
    bool oom_killed, pids_hit;
};
void sbx_cg_stats(struct sbx_cgroup *cg, struct sbx_cg_stats *st);
/* After a run: kills anything left, waits until the group is empty. */
int sbx_cg_empty(struct sbx_cgroup *cg, char *err, size_t errlen);
/* Kills what runs in dir (cgroup.procs) and removes it and its subdirs. */
int sbx_cg_remove_tree(const char *dir, char *err, size_t errlen);
/* The cgroup mount + own path of this process per hierarchy, for cleanup. */
int sbx_cg_own_dirs(char *dirs[5]);

/*** owner.c: the pool group's name, and the proof that its maker is gone ***/

/* "<pid ns inode>.<pid>.<start time>" of this process. */
int sbx_owner_tag(char *out, size_t n);
/* A tag (optionally followed by ".<hex>") of our PID namespace whose process is gone. */
bool sbx_owner_tag_is_stale(const char *tag);
int sbx_pool_group_name(char *out, size_t n);
bool sbx_pool_group_is_stale(const char *name);

/*** filter.c: the seccomp filter, compiled once ***/

struct sbx_filter {
    struct sock_fprog prog;
};
/* The pool's copy of the filter compiled at build time (filter-prebuilt.c). */
int sbx_filter_build(struct sbx_filter *f, char *err, size_t errlen);
/* Compiles the rules with libseccomp (filter.c; used by gen-filter at build time). */
int sbx_filter_compile(struct sbx_filter *f, char *err, size_t errlen);
void sbx_filter_free(struct sbx_filter *f);

/*** unixgc.c ***/

/* Releases a unix socket of our own, which starts the kernel's unix garbage
 * collector if descriptors are in flight (see unixgc.c). Never fails. */
void sbx_unix_gc_kick(void);

/*** unit.c: what one run holds, made fresh and never reused ***/

struct sbx_unit {
    int netns_fd;         /* owned by a user namespace of its own (no host uevents) */
    struct sbx_cgroup cg; /* <pool group>/run-<seq> */
    bool cg_made;
    struct sbx_unit *next;
};

int sbx_unit_new(struct sandbox_pool *p, uint64_t seq, struct sbx_unit **out, char *err,
                 size_t errlen);
/* Closes the network namespace, kills what is left in the cgroups, removes them. */
void sbx_unit_free(struct sbx_unit *u);

/*** ready.c: units made ahead by a background thread, destroyed there after use ***/

struct sbx_ready {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct sbx_unit *ready, *dead;
    unsigned n_ready, want;
    uint64_t seq;
    bool quit, started, inited, failing;
    pthread_t th;
};

int sbx_ready_start(struct sandbox_pool *p, unsigned want, char *err, size_t errlen);
/* Stops the thread and destroys every unit, ready or used. */
void sbx_ready_stop(struct sandbox_pool *p);
/* A fresh unit: a ready one, or one made now. */
int sbx_ready_take(struct sandbox_pool *p, struct sbx_unit **out, char *err, size_t errlen);
/* A used unit, destroyed in the background. */
void sbx_ready_give_back(struct sandbox_pool *p, struct sbx_unit *u);

/*** pool.c ***/

/* Each slot has a thread that does nothing but clone keepers on request: for
 * each it enters the run's network namespace and (v1) cgroups, clones, and
 * goes back (a single thread moving itself between v1 cgroups costs
 * microseconds; a process would cost an RCU grace period), so a keeper is
 * born in the right places and the caller's threads never move. */
struct sbx_clone_req {
    void (*child)(void *arg); /* runs in the keeper; never returns */
    void *arg;
    struct sbx_unit *unit; /* the run's network namespace and cgroups */
    bool host_network;     /* clone in the pool's (host) network namespace */
    uint64_t *t_clone;     /* written just before clone3 */
    pid_t pid;
    int pidfd;
    int err; /* errno of clone3, 0 on success */
};

struct sbx_slot {
    unsigned index;
    uid_t uid;
    gid_t gid;
    int host_netns_fd;
    struct sbx_cg_root *cgroot;
    atomic_bool busy;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state; /* 0 idle, 1 request pending, 2 done, 3 quit */
    int thread_err;
    struct sbx_clone_req *req;
    /* sandbox_cancel: the run in flight and its keeper's pidfd. */
    pthread_mutex_t run_mu;
    bool in_run, cancel_pending;
    int live_pidfd;
};

/* Asks the slot's thread to clone a keeper; fills req->pid/pidfd/err. */
int sbx_slot_clone(struct sbx_slot *s, struct sbx_clone_req *req);

struct sandbox_pool {
    unsigned n_slots;
    struct sbx_slot *slots;
    int host_netns_fd;
    struct sbx_cg_root cgroot;
    struct sbx_ready ready;
    struct sbx_filter filter;
    enum sandbox_accounting accounting;
    long ncpus;
    bool oom_neutral; /* our oom_score_adj is 0: keepers need not reset it */
};

/*** mounts.c: the keeper's plan, built by the supervisor (may allocate),
 * executed by the keeper (may not: it runs after clone in a copy of a
 * possibly multithreaded process) ***/

enum sbx_op_kind {
    SBX_OP_MKDIR,   /* dst: path in the new root */
    SBX_OP_MKFILE,  /* dst: empty file (a bind target) */
    SBX_OP_SYMLINK, /* src: target text, dst: link */
    SBX_OP_MKNOD,   /* dst: character device, flags: dev_t */
    SBX_OP_TMPFS,   /* dst, data: options, flags */
    SBX_OP_BIND,    /* src (host, absolute, under /oldroot), dst, attr: mount_setattr attrs */
    SBX_OP_PROC,    /* dst */
    SBX_OP_SETATTR, /* dst, attr, recursive */
};

struct sbx_op {
    enum sbx_op_kind kind;
    const char *src;
    const char *dst;
    const char *data;
    unsigned long flags;
    uint64_t attr;
    bool recursive;
};

struct sbx_plan {
    struct sbx_op *ops;
    size_t n, cap;
    char **strings; /* owned strings */
    size_t n_str, cap_str;
};

int sbx_plan_build(struct sbx_plan *plan, const struct sandbox_config *cfg, uid_t uid, gid_t gid,
                   char *err, size_t errlen);
void sbx_plan_free(struct sbx_plan *plan);
/* Keeper: runs the plan (root tmpfs at base, pivot_root, binds from /oldroot,
 * detach the old root, root read-only). On failure returns -errno and sets
 * *failed to the op's dst or a step name. No allocation. */
int sbx_plan_execute(const struct sbx_plan *plan, const char **failed);
