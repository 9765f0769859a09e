/* health_check.c — one pass of the WorkerHealthChecker and the
 * CacheBuilderHealthChecker over the store (see health_check.h). */
#include "health_check.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#include "jsonutil.h"

#include "log.h"
#include "store_tokens.h"

int health_check_once(store *s, int64_t now_ms, store_requeue_counts *out)
{
    store_requeue_counts c = {0};
    int r = store_requeue_expired(s, now_ms > 0 ? now_ms : store_now_ms(), &c);
    if (r < 0)
        return r;
    if (c.submissions_requeued || c.submissions_failed)
        log_notice("lease-expired checker=WorkerHealthChecker requeued=%d failed=%d",
                   c.submissions_requeued, c.submissions_failed);
    if (c.depsets_requeued || c.depsets_failed)
        log_notice("lease-expired checker=CacheBuilderHealthChecker requeued=%d failed=%d",
                   c.depsets_requeued, c.depsets_failed);
    if (out)
        *out = c;
    return 0;
}

/* Whether a heartbeat's process (pid on bhost) is of this host and gone. */
static bool health_local_dead(const char *bhost, const char *host, json_int_t pid)
{
    return bhost && strcmp(bhost, host) == 0 && pid > 0 && kill((pid_t)pid, 0) < 0 &&
           errno == ESRCH;
}

int health_expire_dead_local(store *s, const char *role, const char *host)
{
    _cleanup_json_ json_t *beats = NULL;
    bool builders = strcmp(role, "builder") == 0;
    size_t i;
    json_t *b;
    int n = 0, r;

    if ((r = store_heartbeats(s, &beats)) < 0)
        return r;
    json_array_foreach(beats, i, b)
    {
        const char *id = json_string_value(json_object_get(b, "id"));
        const char *brole = json_string_value(json_object_get(b, "role"));
        const char *bhost = json_string_value(json_object_get(b, "host"));
        const char *item = json_string_value(json_object_get(b, "current_item"));
        json_int_t pid = json_integer_value(json_object_get(b, "pid"));

        if (!id || !brole || strcmp(brole, role) != 0 || strncmp(id, "remote:", 7) == 0 ||
            !health_local_dead(bhost, host, pid))
            continue;
        if (builders ? item && store_depset_renew(s, item, id, 1) >= 0
                     : store_submission_expire_owner(s, id) > 0) {
            log_info("dead-%s-lease-expired owner=%s item=%s", role, id, item ? item : "-");
            n++;
        }
        store_heartbeat_remove(s, id);
    }
    return n;
}

/* Adds n to farm_stuck_runs_total{role}. 0 or -errno (store_last_error). */
static int health_count(store *s, const char *role, int n)
{
    char name[96];
    const char *names[1] = {name};
    int64_t d = n;

    snprintf(name, sizeof(name), "stuck_runs_total{role=\"%s\"}", role);
    return n > 0 ? store_counters_add(s, names, &d, 1) : 0;
}

/* Rows of dead processes of this host, any role; stale remote workers. */
static int health_sweep_beats(store *s, const health_params *p, const char *host,
                              health_act_counts *c)
{
    _cleanup_json_ json_t *beats = NULL;
    int64_t now = store_now_ms();
    size_t i;
    json_t *b;
    int r;

    /* Dead workers and builders of this host: their items first. */
    for (int k = 0; k < 2; k++) {
        r = health_expire_dead_local(s, k ? "builder" : "worker", host);
        if (r > 0)
            c->dead_removed += r;
    }
    if ((r = store_heartbeats(s, &beats)) < 0)
        return r;
    json_array_foreach(beats, i, b)
    {
        const char *id = json_string_value(json_object_get(b, "id"));
        const char *role = json_string_value(json_object_get(b, "role"));
        const char *bhost = json_string_value(json_object_get(b, "host"));
        const char *item = json_string_value(json_object_get(b, "current_item"));
        json_int_t pid = json_integer_value(json_object_get(b, "pid"));
        int64_t age = now - json_integer_value(json_object_get(b, "last_seen_at"));
        bool remote = id && strncmp(id, "remote:", 7) == 0;

        if (!id || !role)
            continue;
        if (remote) {
            if (age <= p->stale_ms)
                continue;
            /* Every row leased to it, not only the heartbeat's item: it may
             * have died before a beat named the item it had just claimed. */
            if (!strcmp(role, "worker") && store_submission_expire_owner(s, id) > 0) {
                log_notice("dead-remote-worker-lease-expired owner=%s item=%s silent_ms=%lld", id,
                           item ? item : "-", (long long)age);
                c->remote_expired++;
            }
            if (age > 10 * p->stale_ms && store_heartbeat_remove(s, id) >= 0)
                c->dead_removed++;
            continue;
        }
        if (!health_local_dead(bhost, host, pid))
            continue;
        if (store_heartbeat_remove(s, id) >= 0) {
            log_info("dead-process-heartbeat-removed id=%s role=%s", id, role);
            c->dead_removed++;
        }
    }
    return 0;
}

/* Whether pid is (still) a farmd worker process: its comm is set by the
 * supervisor ("farmd-worker-N"), so a reused pid is never signalled. */
static bool is_worker_pid(pid_t pid)
{
    char path[64], comm[32] = "";
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return false;
    if (!fgets(comm, sizeof(comm), f))
        comm[0] = '\0';
    fclose(f);
    return strncmp(comm, "farmd-worker", 12) == 0;
}

int health_act(store *s, const health_params *p, const char *host, health_act_counts *out)
{
    health_act_counts c = {0};
    _cleanup_json_ json_t *rep = NULL;
    size_t i;
    json_t *e;
    int r;

    if ((r = health_sweep_beats(s, p, host, &c)) < 0)
        return r;
    if ((r = health_report(s, p, true, &rep)) < 0)
        return r;
    json_array_foreach(json_object_get(rep, "stuck_runs"), i, e)
    {
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *owner = json_string_value(json_object_get(e, "owner"));
        const char *bhost = json_string_value(json_object_get(e, "host"));
        json_int_t pid = json_integer_value(json_object_get(e, "pid"));
        char msg[256];

        snprintf(msg, sizeof(msg),
                 "run past its wall limit + %lld ms grace by %lld ms: killed by the health checker",
                 (long long)p->stuck_grace_ms,
                 (long long)json_integer_value(json_object_get(e, "past_ms")));
        if (!id || !owner || store_submission_release_failed(s, id, owner, "stuck", msg) < 0)
            continue;
        log_warn("stuck-run id=%s owner=%s action=\"lease taken back, worker signalled\" "
                 "error=\"%s\"",
                 id, owner, msg);
        c.stuck_runs++;
        /* A local worker aborts the step at once and rebuilds its slot; a
         * remote one at its next renew (409). */
        if (strncmp(owner, "remote:", 7) != 0 && bhost && !strcmp(bhost, host) && pid > 0 &&
            is_worker_pid((pid_t)pid))
            kill((pid_t)pid, SIGUSR1);
    }
    json_array_foreach(json_object_get(rep, "stuck_builds"), i, e)
    {
        const char *key = json_string_value(json_object_get(e, "key"));
        const char *owner = json_string_value(json_object_get(e, "owner"));
        json_int_t ran = json_integer_value(json_object_get(e, "running_ms"));

        if (!key || !owner || ran <= p->build_timeout_ms + p->stuck_grace_ms ||
            store_depset_renew(s, key, owner, 1) < 0)
            continue;
        log_warn("stuck-build key=%s owner=%s running_ms=%lld action=\"lease taken back\"", key,
                 owner, (long long)ran);
        c.stuck_builds++;
    }
    /* What the pass did stands even when its count cannot be written: the
     * caller hears of the failure after the pass, not instead of it. */
    r = health_count(s, "worker", c.stuck_runs);
    int r2 = health_count(s, "builder", c.stuck_builds);
    if (out)
        *out = c;
    return r < 0 ? r : r2 < 0 ? r2 : 0;
}
