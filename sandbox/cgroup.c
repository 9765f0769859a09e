/* cgroup.c — per-run cgroups beneath the cgroup this process runs in.
 *
 * The farm may itself run in a delegated cgroup (systemd Delegate=yes, or here
 * a memory cgroup made for us by the host). We never touch the root of a
 * hierarchy: every group is <own cgroup>/<pool group>/run-<n>, made fresh for
 * one run (ahead of it, in the background) and removed after it, never reused:
 * whatever a run leaves charged (memory pinned by descriptors in flight, page
 * cache) cannot reach the next.
 *
 * The pool group's name is unique on the host and says who made it (names.c):
 * nixfarm-sandbox.<pid namespace inode>.<pid>.<start time>.<random>; a pid
 * alone collides between PID namespaces (containers, farmd beside farm run).
 * sandbox_cleanup_stale removes a group only when it proves it stale: same
 * PID namespace as ours, and no process with that pid and start time.
 *
 * The program's CPU time is its own: the keeper (mounts, the namespaces'
 * teardown) and the slot thread that clones it stay in the run group, and the
 * target moves itself, just before execve, into a child group "prog" (v1: of
 * the cpuacct hierarchy, a single-thread move of itself that costs
 * microseconds; v2: run/prog, the keeper being born in run/keeper) whose
 * counter is the run's CPU time. Limits stay on the run group (hierarchical).
 *
 * v1 (this machine): memory, pids and cpuacct hierarchies, each possibly
 * co-mounted with others. v2: one hierarchy with memory, pids and cpu enabled
 * in our own subtree_control. Files are opened once per run group, ahead of
 * the run; a run costs a few pread/pwrite calls. */
#include "internal.h"
#include "util.h"

#include <dirent.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>

static const char *const v1_ctrls[] = {"memory", "pids", "cpuacct"};
#define N_V1 3

struct mount_query {
    const char *ctrl;
    char *out;
    size_t outlen;
    bool found;
};

static int note_mount(const struct sbx_mount *m, void *data)
{
    struct mount_query *q = data;
    if (strcmp(m->fstype, q->ctrl ? "cgroup" : "cgroup2") != 0)
        return 0;
    if (q->ctrl && !sbx_has_token(m->super_opts, q->ctrl, ","))
        return 0;
    snprintf(q->out, q->outlen, "%s", m->mountpoint);
    q->found = true;
    /* Prefer /sys/fs/cgroup itself for v2 when it is the unified mount. */
    return q->ctrl || !strcmp(m->mountpoint, "/sys/fs/cgroup");
}

/* Finds the mount point of a cgroup hierarchy: v1 with controller ctrl, or the
 * v2 hierarchy when ctrl is NULL. */
static int find_mount(const char *ctrl, char *out, size_t outlen)
{
    struct mount_query q = {ctrl, out, outlen, false};
    int r = sbx_mountinfo_each(note_mount, &q);
    return r < 0 ? r : q.found ? 0 : -ENOENT;
}

/* This process's path in a hierarchy from /proc/self/cgroup ("" for "/"). */
static int own_path(const char *ctrl, char *out, size_t outlen)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    int ret = -ENOENT;
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = 0;
        const char *ctrls = c1 + 1, *path = c2 + 1;
        bool match = false;
        if (!ctrl) {
            match = (c1 - line == 1 && line[0] == '0' && *ctrls == 0);
        } else {
            char tmp[256];
            snprintf(tmp, sizeof tmp, "%s", ctrls);
            for (char *tok = strtok(tmp, ","); tok; tok = strtok(NULL, ","))
                if (!strcmp(tok, ctrl))
                    match = true;
        }
        if (match) {
            snprintf(out, outlen, "%s", strcmp(path, "/") ? path : "");
            ret = 0;
            break;
        }
    }
    free(line);
    fclose(f);
    return ret;
}

static bool v2_usable(char *base, size_t baselen)
{
    char mnt[512], own[512], p[1100];
    if (find_mount(NULL, mnt, sizeof mnt) < 0 || own_path(NULL, own, sizeof own) < 0)
        return false;
    struct statfs sf;
    if (statfs(mnt, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC)
        return false;
    snprintf(p, sizeof p, "%s%s/cgroup.controllers", mnt, own);
    _cleanup_free_ char *ctl = NULL;
    if (sbx_read_file(p, 4096, &ctl, NULL) < 0)
        return false;
    if (!strstr(ctl, "memory") || !strstr(ctl, "pids") || !strstr(ctl, "cpu"))
        return false;
    /* Our children need the controllers: enable them in our subtree. This
     * fails (EBUSY) when our own group holds processes and is not the root —
     * then the service manager must give us a delegated leaf; we fall back. */
    snprintf(p, sizeof p, "%s%s/cgroup.subtree_control", mnt, own);
    _cleanup_free_ char *sub = NULL;
    if (sbx_read_file(p, 4096, &sub, NULL) < 0)
        return false;
    if (!strstr(sub, "memory") || !strstr(sub, "pids") || !strstr(sub, "cpu")) {
        if (sbx_write_file(p, "+memory +pids +cpu") < 0)
            return false;
    }
    snprintf(base, baselen, "%s%s", mnt, own);
    return true;
}

static int open_in(const char *dir, const char *name, int flags)
{
    char p[1600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return open(p, flags | O_CLOEXEC);
}

int sbx_cg_root_init(struct sbx_cg_root *root, enum sandbox_accounting want, char *err,
                     size_t errlen)
{
    memset(root, 0, sizeof *root);
    for (int i = 0; i < 4; i++)
        root->park_fd[i] = -1;
    char name[128];
    int nr = sbx_pool_group_name(name, sizeof name);
    if (nr < 0)
        return sbx_error(err, errlen, nr, "naming the pool's cgroup: %s", strerror(-nr));
    root->kind = SANDBOX_ACCT_RLIMITS;
    if (want == SANDBOX_ACCT_RLIMITS)
        return 0;
    char base[1024], dir[1200];
    if ((want == SANDBOX_ACCT_AUTO || want == SANDBOX_ACCT_CGROUP_V2) &&
        v2_usable(base, sizeof base)) {
        snprintf(dir, sizeof dir, "%s/%s", base, name);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            return sbx_error(err, errlen, -errno, "cgroup v2: mkdir %s: %s", dir, strerror(errno));
        char p[1300];
        snprintf(p, sizeof p, "%s/cgroup.subtree_control", dir);
        int r = sbx_write_file(p, "+memory +pids +cpu");
        if (r < 0) {
            rmdir(dir);
            return sbx_error(err, errlen, r, "cgroup v2: enabling controllers in %s: %s", dir,
                             strerror(-r));
        }
        root->group[0] = strdup(dir);
        root->kind = SANDBOX_ACCT_CGROUP_V2;
        return root->group[0] ? 0 : -ENOMEM;
    }
    if (want == SANDBOX_ACCT_CGROUP_V2)
        return sbx_error(err, errlen, -ENOTSUP,
                         "cgroup v2 with memory, pids and cpu is not available here");
    for (int i = 0; i < N_V1; i++) {
        char mnt[512], own[512];
        int r = find_mount(v1_ctrls[i], mnt, sizeof mnt);
        if (r == 0)
            r = own_path(v1_ctrls[i], own, sizeof own);
        if (r < 0) {
            sbx_cg_root_destroy(root);
            if (want == SANDBOX_ACCT_CGROUP_V1)
                return sbx_error(err, errlen, -ENOTSUP, "cgroup v1 controller %s not found",
                                 v1_ctrls[i]);
            root->kind = SANDBOX_ACCT_RLIMITS;
            return 0;
        }
        snprintf(dir, sizeof dir, "%s%s/%s", mnt, own, name);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
            int e = -errno;
            sbx_cg_root_destroy(root);
            return sbx_error(err, errlen, e, "cgroup v1: mkdir %s: %s", dir, strerror(-e));
        }
        root->group[i] = strdup(dir);
        /* Where the slot threads go back after cloning a keeper in a run group. */
        root->park_fd[i] = open_in(dir, "tasks", O_WRONLY);
        if (!root->group[i] || root->park_fd[i] < 0) {
            int e = root->group[i] ? -errno : -ENOMEM;
            sbx_cg_root_destroy(root);
            return sbx_error(err, errlen, e, "cgroup v1: %s/tasks: %s", dir, strerror(-e));
        }
        root->n_park = i + 1;
    }
    root->kind = SANDBOX_ACCT_CGROUP_V1;
    return 0;
}

/* Closes the four per-hierarchy fds and removes the four group directories
 * (a slot's root or a run's groups), leaving them -1 and NULL. */
static void sbx_cg_release_groups(int fds[4], char *dirs[4])
{
    for (int i = 0; i < 4; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
        if (dirs[i]) {
            sbx_cg_remove_tree(dirs[i], NULL, 0);
            free(dirs[i]);
            dirs[i] = NULL;
        }
    }
}

void sbx_cg_root_destroy(struct sbx_cg_root *root)
{
    sbx_cg_release_groups(root->park_fd, root->group);
}

/* v2: makes dir/sub, returns its path in out. */
static int mkdir_sub(const char *dir, const char *sub, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", dir, sub);
    return mkdir(out, 0755) < 0 ? -errno : 0;
}

int sbx_cg_run_init(struct sbx_cg_root *root, const char *name, struct sbx_cgroup *cg, char *err,
                    size_t errlen)
{
    memset(cg, 0, sizeof *cg);
    cg->kind = root->kind;
    cg->procs_fd = cg->prog_procs_fd = cg->prog_join_fd = cg->mem_limit_fd = cg->memsw_fd =
        cg->mem_peak_fd = cg->mem_usage_fd = cg->oom_fd = cg->pids_max_fd = cg->pids_events_fd =
            cg->pids_current_fd = cg->cpu_fd = -1;
    for (int i = 0; i < 4; i++)
        cg->join_fd[i] = -1;
    if (root->kind == SANDBOX_ACCT_RLIMITS)
        return 0;
    const char *cpu_dir = NULL;
    for (int i = 0; i < 4 && root->group[i]; i++) {
        char dir[1300];
        snprintf(dir, sizeof dir, "%s/%s", root->group[i], name);
        if (mkdir(dir, 0755) < 0) {
            int e = -errno;
            sbx_cg_run_destroy(cg);
            return sbx_error(err, errlen, e, "mkdir %s: %s", dir, strerror(-e));
        }
        cg->dirs[i] = strdup(dir);
        if (!cg->dirs[i]) {
            rmdir(dir);
            sbx_cg_run_destroy(cg);
            return -ENOMEM;
        }
        if (root->kind == SANDBOX_ACCT_CGROUP_V1) {
            cg->join_fd[i] = open_in(dir, "tasks", O_WRONLY);
            cg->n_join = i + 1;
            if (cg->join_fd[i] < 0) {
                int e = -errno;
                sbx_cg_run_destroy(cg);
                return sbx_error(err, errlen, e, "cgroup %s/tasks: %s", dir, strerror(-e));
            }
        }
    }
    char prog[1400], keeper[1400];
    int r = 0;
    if (root->kind == SANDBOX_ACCT_CGROUP_V1) {
        /* cpuacct's group (the third hierarchy) gets the program's child. */
        cpu_dir = cg->dirs[2];
        r = mkdir_sub(cpu_dir, "prog", prog, sizeof prog);
        if (r == 0) {
            cg->prog_join_fd = open_in(prog, "tasks", O_WRONLY);
            cg->prog_procs_fd = open_in(prog, "cgroup.procs", O_RDONLY);
            cg->cpu_fd = open_in(prog, "cpuacct.usage", O_RDONLY);
        }
    } else {
        char p[1400];
        snprintf(p, sizeof p, "%s/cgroup.subtree_control", cg->dirs[0]);
        r = sbx_write_file(p, "+memory +pids +cpu");
        if (r == 0)
            r = mkdir_sub(cg->dirs[0], "keeper", keeper, sizeof keeper);
        if (r == 0)
            r = mkdir_sub(cg->dirs[0], "prog", prog, sizeof prog);
        if (r == 0) {
            cg->join_fd[0] = open(keeper, O_PATH | O_DIRECTORY | O_CLOEXEC);
            cg->n_join = 1;
            cg->prog_join_fd = open_in(prog, "cgroup.procs", O_WRONLY);
            cg->prog_procs_fd = open_in(prog, "cgroup.procs", O_RDONLY);
            cg->cpu_fd = open_in(prog, "cpu.stat", O_RDONLY);
        }
    }
    if (r < 0) {
        sbx_cg_run_destroy(cg);
        return sbx_error(err, errlen, r, "making the program's cgroup under %s: %s",
                         cpu_dir ? cpu_dir : root->group[0], strerror(-r));
    }
    if (root->kind == SANDBOX_ACCT_CGROUP_V1) {
        const char *mem = cg->dirs[0], *pids = cg->dirs[1];
        cg->procs_fd = open_in(mem, "cgroup.procs", O_RDONLY);
        cg->mem_limit_fd = open_in(mem, "memory.limit_in_bytes", O_RDWR);
        cg->memsw_fd = open_in(mem, "memory.memsw.limit_in_bytes", O_RDWR);
        cg->mem_peak_fd = open_in(mem, "memory.max_usage_in_bytes", O_RDWR);
        cg->mem_usage_fd = open_in(mem, "memory.usage_in_bytes", O_RDONLY);
        cg->oom_fd = open_in(mem, "memory.oom_control", O_RDONLY);
        cg->pids_max_fd = open_in(pids, "pids.max", O_RDWR);
        cg->pids_events_fd = open_in(pids, "pids.events", O_RDONLY);
        cg->pids_current_fd = open_in(pids, "pids.current", O_RDONLY);
    } else {
        const char *d = cg->dirs[0];
        cg->procs_fd = open_in(keeper, "cgroup.procs", O_RDONLY);
        cg->mem_limit_fd = open_in(d, "memory.max", O_RDWR);
        cg->memsw_fd = open_in(d, "memory.swap.max", O_RDWR);
        cg->mem_peak_fd = open_in(d, "memory.peak", O_RDWR);
        cg->mem_usage_fd = open_in(d, "memory.current", O_RDONLY);
        cg->oom_fd = open_in(d, "memory.events", O_RDONLY);
        cg->pids_max_fd = open_in(d, "pids.max", O_RDWR);
        cg->pids_events_fd = open_in(d, "pids.events", O_RDONLY);
    }
    if (cg->procs_fd < 0 || cg->prog_procs_fd < 0 || cg->prog_join_fd < 0 || cg->mem_limit_fd < 0 ||
        cg->mem_usage_fd < 0 || cg->oom_fd < 0 || cg->pids_max_fd < 0 || cg->cpu_fd < 0 ||
        cg->join_fd[0] < 0) {
        sbx_cg_run_destroy(cg);
        return sbx_error(err, errlen, -ENOENT, "cgroup control files missing under %s/%s",
                         root->group[0], name);
    }
    return 0;
}

void sbx_cg_run_destroy(struct sbx_cgroup *cg)
{
    int *fds[] = {&cg->procs_fd,    &cg->prog_procs_fd,  &cg->prog_join_fd,    &cg->mem_limit_fd,
                  &cg->memsw_fd,    &cg->mem_peak_fd,    &cg->mem_usage_fd,    &cg->oom_fd,
                  &cg->pids_max_fd, &cg->pids_events_fd, &cg->pids_current_fd, &cg->cpu_fd};
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
    sbx_cg_release_groups(cg->join_fd, cg->dirs);
}

static uint64_t cpu_raw_ns(struct sbx_cgroup *cg);

int sbx_cg_prepare(struct sbx_cgroup *cg, const struct sandbox_limits *l, char *err, size_t errlen)
{
    if (cg->kind == SANDBOX_ACCT_RLIMITS)
        return 0;
    bool v1 = cg->kind == SANDBOX_ACCT_CGROUP_V1;
    int r;
    uint64_t mem = l->memory_kib ? l->memory_kib * 1024 : 0;
    if (v1) {
        /* memsw must stay >= limit at every step: open it up, set the limit,
         * then close it down to the limit (no escape into swap). */
        if (cg->memsw_fd >= 0)
            sbx_fd_write_str(cg->memsw_fd, "-1");
        r = mem ? sbx_fd_write_u64(cg->mem_limit_fd, mem)
                : sbx_fd_write_str(cg->mem_limit_fd, "-1");
        if (r < 0)
            return sbx_error(err, errlen, r, "setting memory.limit_in_bytes: %s", strerror(-r));
        if (cg->memsw_fd >= 0 && mem)
            sbx_fd_write_u64(cg->memsw_fd, mem);
        if (cg->mem_peak_fd >= 0)
            sbx_fd_write_str(cg->mem_peak_fd, "0");
        sbx_fd_read_keyed(cg->oom_fd, "oom_kill", &cg->oom_base);
    } else {
        r = mem ? sbx_fd_write_u64(cg->mem_limit_fd, mem)
                : sbx_fd_write_str(cg->mem_limit_fd, "max");
        if (r < 0)
            return sbx_error(err, errlen, r, "setting memory.max: %s", strerror(-r));
        if (cg->memsw_fd >= 0)
            sbx_fd_write_str(cg->memsw_fd, mem ? "0" : "max");
        if (cg->mem_peak_fd >= 0)
            sbx_fd_write_str(cg->mem_peak_fd, "reset"); /* 6.12+: per-fd reset */
        sbx_fd_read_keyed(cg->oom_fd, "oom_kill", &cg->oom_base);
    }
    /* +1: the keeper is in the group too (the slot thread that cloned it has
     * gone back to the pool's group by the time the target forks). */
    r = l->processes ? sbx_fd_write_u64(cg->pids_max_fd, l->processes + 1)
                     : sbx_fd_write_str(cg->pids_max_fd, "max");
    if (r < 0)
        return sbx_error(err, errlen, r, "setting pids.max: %s", strerror(-r));
    cg->pids_base = 0;
    if (cg->pids_events_fd >= 0)
        sbx_fd_read_keyed(cg->pids_events_fd, "max", &cg->pids_base);
    cg->mem_base = 0;
    sbx_fd_read_u64(cg->mem_usage_fd, &cg->mem_base);
    /* A fresh group: the program's counter starts at zero. */
    cg->cpu_base = 0;
    return 0;
}

static uint64_t cpu_raw_ns(struct sbx_cgroup *cg)
{
    uint64_t v = 0;
    if (cg->kind == SANDBOX_ACCT_CGROUP_V1)
        sbx_fd_read_u64(cg->cpu_fd, &v);
    else if (cg->kind == SANDBOX_ACCT_CGROUP_V2 &&
             sbx_fd_read_keyed(cg->cpu_fd, "usage_usec", &v) == 0)
        v *= 1000;
    return v;
}

/* CPU time of the program so far (its own group's counter). */
uint64_t sbx_cg_cpu_ns(struct sbx_cgroup *cg)
{
    uint64_t v = cpu_raw_ns(cg);
    return v > cg->cpu_base ? v - cg->cpu_base : 0;
}

void sbx_cg_stats(struct sbx_cgroup *cg, struct sbx_cg_stats *st)
{
    memset(st, 0, sizeof *st);
    if (cg->kind == SANDBOX_ACCT_RLIMITS)
        return;
    st->cpu_ns = sbx_cg_cpu_ns(cg);
    uint64_t peak = 0, oom = 0, pids = 0;
    if (cg->mem_peak_fd >= 0)
        sbx_fd_read_u64(cg->mem_peak_fd, &peak);
    st->mem_peak_bytes = peak > cg->mem_base ? peak - cg->mem_base : 0;
    if (sbx_fd_read_keyed(cg->oom_fd, "oom_kill", &oom) == 0)
        st->oom_killed = oom > cg->oom_base;
    if (cg->pids_events_fd >= 0 && sbx_fd_read_keyed(cg->pids_events_fd, "max", &pids) == 0)
        st->pids_hit = pids > cg->pids_base;
}

/* Kills the pids listed in dir/cgroup.procs (up to a buffer's worth: callers
 * loop until none are left); returns how many were listed. */
static int kill_listed(int procs_fd)
{
    char buf[4096];
    ssize_t n = pread(procs_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    /* A full buffer may end inside a pid ("1234" of 12345): that prefix is
     * some other process of the host. Drop the unfinished last line. */
    if ((size_t)n == sizeof buf - 1) {
        char *nl = strrchr(buf, '\n');
        if (!nl)
            return 0;
        nl[1] = 0;
    }
    int count = 0;
    for (char *s = buf; *s;) {
        char *end;
        long pid = strtol(s, &end, 10);
        if (end == s)
            break;
        /* Our own slot threads live in the slot groups: never us. */
        if (pid > 0 && pid != (long)getpid()) {
            kill((pid_t)pid, SIGKILL);
            count++;
        }
        s = end;
        while (*s == '\n')
            s++;
    }
    return count;
}

int sbx_cg_empty(struct sbx_cgroup *cg, char *err, size_t errlen)
{
    if (cg->kind == SANDBOX_ACCT_RLIMITS)
        return 0;
    /* The PID namespace is gone when the keeper has been reaped, so this is
     * normally empty at the first look; a task still exiting gets up to 5 s. */
    for (int i = 0; i < 5000; i++) {
        int n = kill_listed(cg->procs_fd) + kill_listed(cg->prog_procs_fd);
        if (n == 0)
            return 0;
        usleep(1000);
    }
    char buf[256] = "";
    ssize_t n = pread(cg->procs_fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    for (char *c = buf; *c; c++)
        if (*c == '\n')
            *c = ' ';
    return sbx_error(err, errlen, -EBUSY,
                     "waited 5 s for the run cgroup %s to empty (pids: %s; we are %d)", cg->dirs[0],
                     buf, (int)getpid());
}

int sbx_cg_remove_tree(const char *dir, char *err, size_t errlen)
{
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT
                   ? 0
                   : sbx_error(err, errlen, -errno, "cgroup %s: %s", dir, strerror(errno));
    int ret = 0;
    DIR *d = sbx_fdopendir_dup(dfd);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_type != DT_DIR || de->d_name[0] == '.')
                continue;
            char sub[1400];
            snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
            int r = sbx_cg_remove_tree(sub, err, errlen);
            if (r < 0 && ret == 0)
                ret = r;
        }
        closedir(d);
    }
    if (ret < 0)
        return ret;
    /* Bounded: a group that does not empty within 2 s is reported, by name. */
    _cleanup_close_ int procs = openat(dfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < 2000; i++) {
        if (procs >= 0 && kill_listed(procs) > 0) {
            usleep(1000);
            continue;
        }
        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            return sbx_error(err, errlen, -errno, "rmdir %s: %s", dir, strerror(errno));
        usleep(1000);
    }
    return sbx_error(err, errlen, -EBUSY,
                     "waited 2 s to remove cgroup %s: still busy (tasks of another PID "
                     "namespace show as pid 0 and cannot be killed from here)",
                     dir);
}

int sandbox_cgroup_own_dir(const char *ctrl, char *dir, size_t dirlen)
{
    char mnt[512], own[512];
    int r = find_mount(ctrl, mnt, sizeof mnt);
    if (r == 0)
        r = own_path(ctrl, own, sizeof own);
    if (r < 0)
        return r;
    return (size_t)snprintf(dir, dirlen, "%s%s", mnt, own) < dirlen ? 0 : -ENAMETOOLONG;
}

int sbx_cg_own_dirs(char *dirs[5])
{
    int n = 0;
    char p[1100];
    for (int i = 0; i < N_V1; i++)
        if (sandbox_cgroup_own_dir(v1_ctrls[i], p, sizeof p) == 0 && (dirs[n] = strdup(p)))
            n++;
    if (sandbox_cgroup_own_dir(NULL, p, sizeof p) == 0 && (dirs[n] = strdup(p)))
        n++;
    dirs[n] = NULL;
    return n;
}
