/* worker.c — worker_run(): the claim loop of one worker process. The pipeline
 * of one submission is in worker_job.c; the theory of operation is in
 * worker.h and docs/architecture.md. */
#include "worker.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../common/cleanup.h"
#include "../../common/health_check.h"
#include "../../common/fsutil.h"
#include "../../common/jsonutil.h"
#include "../../common/log.h"
#include "../../common/store_tokens.h"
#include "../../sandbox/sandbox.h"
#include "../roles.h"
#include "worker_source.h"
#include "../../common/monotime.h"

/* SIGUSR1: the health checker took back the lease of a run stuck past its
 * wall limit (common/health_check.c); the renewer aborts the step. */
static void worker_on_kick(int sig)
{
    (void)sig;
    worker_lease_kick();
}

/* Removes boxes left by dead worker processes of this host (named
 * <id>.<pid>, see worker_job.c) and their sandbox cgroups: a worker killed
 * with -9 leaves both, and its successor cleans up. */
static void worker_clean_stale(const char *boxes_dir)
{
    char err[256];
    DIR *d = opendir(boxes_dir);
    struct dirent *de;
    int n = 0, r;

    while (d && (de = readdir(d))) {
        const char *dot = strrchr(de->d_name, '.');
        char path[4096];
        long pid;

        if (de->d_name[0] == '.' || !dot)
            continue;
        pid = strtol(dot + 1, NULL, 10);
        if (pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", boxes_dir, de->d_name) >= sizeof(path))
            continue;
        if (sandbox_box_destroy(path, err, sizeof(err)) < 0)
            log_warn("stale-box-remove-failed path=%s error=\"%s\"", path, err);
        else
            n++;
    }
    if (d)
        closedir(d);
    r = sandbox_cleanup_stale(NULL, err, sizeof(err));
    if (r < 0)
        log_warn("stale-sandbox-cleanup-failed error=\"%s\"", err);
    if (n > 0 || r > 0)
        log_info("stale-cleaned boxes=%d sandboxes=%d", n, r > 0 ? r : 0);
}

/* A submission claimed together with the last finish but not started (the
 * worker is stopping): back to the queue, no attempt counted. */
static void worker_give_back(worker *w, store_claimed *c, bool have)
{
    if (!have)
        return;
    int r = w->src->ops->release(w->src, c->id, w->owner);
    log_info("released id=%s r=%d reason=\"stopping before it started\"", c->id, r);
    store_claimed_done(c);
}

void worker_count_retry(worker *w, const char *kind)
{
    char name[96];
    const char *names[1] = {name};
    int64_t one = 1;

    if (!w->src || !w->src->st)
        return;
    snprintf(name, sizeof(name), "internal_retries_total{reason=\"%s\"}", kind);
    if (store_counters_add(w->src->st, names, &one, 1) < 0)
        log_warn("retry-count-failed kind=%s", kind);
}

static void worker_teardown(worker *w)
{
    if (w->src)
        w->src->ops->heartbeat_remove(w->src, w->owner);
    worker_job_done(w);
    worker_lease_free(w->lease);
    worker_source_close(w->src);
    w->lease = NULL;
    w->src = NULL;
}

int worker_run(const config *cfg, int slot, volatile sig_atomic_t *stop)
{
    worker w = {.cfg = cfg, .slot = slot, .stop = stop};
    _cleanup_free_ char *boxes = NULL;
    char host[64] = "localhost", err[512] = "";
    int64_t poll_ms = config_int(cfg, "queue.poll_ms"), last_beat = 0;
    store_claimed c = {0};
    bool have = false; /* c holds a claimed submission not yet run */
    bool remote;
    int64_t wait_ms = config_int(cfg, "worker.remote_wait_ms");
    int64_t beat_ms = config_int(cfg, "heartbeat.interval_ms");
    struct sigaction kick = {.sa_handler = worker_on_kick, .sa_flags = SA_RESTART};
    int r;

    log_set_role("worker");
    sigemptyset(&kick.sa_mask);
    sigaction(SIGUSR1, &kick, NULL);
    if (beat_ms <= 0)
        beat_ms = 5000;
    gethostname(host, sizeof(host) - 1);
    snprintf(w.host, sizeof(w.host), "%s", host);
    w.lease_ms = config_int(cfg, "lease.ms");
    if (poll_ms <= 0)
        poll_ms = 500;

    r = worker_source_open(cfg, true, &w.src, err, sizeof(err));
    if (r < 0) {
        log_error("store-open-failed error=\"%s\"", err);
        /* A remote URL that is not one never will be, nor a cache without its key. */
        return r == -EINVAL && (*config_str(cfg, "worker.remote_url") ||
                                *config_str(cfg, "worker.cache_url"))
                   ? ROLE_REFUSED_CONFIG
                   : r;
    }
    remote = w.src->remote;
    /* A remote worker's owner says so: the farm's rows and heartbeats then
     * tell its workers from the local ones at a glance. */
    snprintf(w.owner, sizeof(w.owner), "%s%s:%d:worker-%d", remote ? "remote:" : "", host,
             (int)getpid(), slot);
    w.src->stop = stop;
    if (remote) {
        /* A token the API refuses can never work: say so, and stop farmd
         * instead of being restarted forever. */
        r = w.src->ops->heartbeat(w.src, w.owner, host, (int)getpid(), NULL, "starting", 0);
        if (r == -EACCES) {
            log_error("remote-worker-refused url=%s reason=\"401/403 from the API: check "
                      "worker.remote_token (--token) and its scope worker\"",
                      config_str(cfg, "worker.remote_url"));
            worker_source_close(w.src);
            return ROLE_REFUSED_CONFIG;
        }
        if (r < 0)
            log_warn("remote-unreachable url=%s errno=%d error=\"%s\"",
                     config_str(cfg, "worker.remote_url"), -r, strerror(-r));
    }
    boxes = config_state_path(cfg, "boxes");
    if (!boxes || (r = fsutil_mkdir_p(boxes, 0711)) < 0) {
        log_error("boxes-dir-failed errno=%d", boxes ? -r : ENOMEM);
        worker_teardown(&w);
        return boxes ? r : -ENOMEM;
    }
    snprintf(w.boxes_dir, sizeof(w.boxes_dir), "%s", boxes);
    worker_clean_stale(boxes);
    if (!remote)
        health_expire_dead_local(w.src->st, "worker", host);
    if ((r = worker_lease_new(cfg, &w.lease, err, sizeof(err))) < 0 ||
        (r = worker_job_init(&w, err, sizeof(err))) < 0) {
        log_error("worker-init-failed errno=%d error=\"%s\"", -r, err);
        worker_teardown(&w);
        return r;
    }
    worker_lease_watch_stop(w.lease, stop, config_int(cfg, "worker.stop_grace_ms"));
    worker_lease_heartbeat_as(w.lease, w.owner, host);
    r = remote ? 0 : store_doorbell_listen(w.src->st, STORE_ROLE_WORKER);
    if (r < 0)
        log_warn("doorbell-unavailable errno=%d reason=\"polling every %lld ms\"", -r,
                 (long long)poll_ms);
    if (remote)
        log_info("worker-ready slot=%d owner=%s remote=%s", slot, w.owner,
                 config_str(cfg, "worker.remote_url"));
    else
        log_info("worker-ready slot=%d owner=%s", slot, w.owner);

    while (!*stop) {
        int64_t now = monotime_ms();
        store_claimed next = {0};

        if (!have) {
            if (now - last_beat >= beat_ms) {
                w.src->ops->heartbeat(w.src, w.owner, host, (int)getpid(), NULL, NULL, 0);
                last_beat = now;
            }
            /* A remote claim long-polls the API for up to wait_ms (but not
             * past the next heartbeat); a local one waits on the doorbell. */
            r = w.src->ops->claim(w.src, w.owner, w.lease_ms,
                                  (int)(wait_ms < beat_ms ? wait_ms : beat_ms), &c);
            if (r == 1 && *stop) {
                /* Claimed while a SIGTERM arrived (a long-polled remote
                 * claim is never cut short, see worker_remote.c). */
                worker_give_back(&w, &c, true);
                break;
            }
            if (r < 0) {
                log_warn("claim-failed errno=%d error=\"%s\"", -r, strerror(-r));
                if (w.src->ops->wait(w.src, (int)poll_ms) <= 0 && !*stop)
                    usleep((useconds_t)poll_ms * 1000);
                continue;
            }
            if (r == 0) {
                /* Ring or timeout, both mean "look again"; an error (no
                 * doorbell) falls back to sleeping for the poll interval. */
                if (w.src->ops->wait(w.src, (int)poll_ms) < 0 && !*stop)
                    usleep((useconds_t)poll_ms * 1000);
                continue;
            }
        }
        /* worker_job_run heartbeats with the item and its deadline: that
         * lets a successor expire this worker's lease at once if it dies
         * (health_expire_dead_local), and the health checker kill it if it
         * hangs past its limits. */
        r = worker_job_run(&w, &c, &next);
        store_claimed_done(&c);
        w.jobs++;
        last_beat = 0;
        have = r == 1;
        if (have)
            c = next;
        if (r >= 0 && w.sandbox_failures >= WORKER_MAX_SANDBOX_FAILURES)
            r = -EIO; /* a broken slot: start over with a fresh pool */
        if (r < 0) {
            log_error("worker-broken errno=%d error=\"%s\" sandbox_failures=%d", -r, strerror(-r),
                      w.sandbox_failures);
            worker_give_back(&w, &c, have);
            worker_teardown(&w);
            return r;
        }
    }
    worker_give_back(&w, &c, have);
    log_info("worker-stopped slot=%d jobs=%llu", slot, w.jobs);
    worker_teardown(&w);
    return 0;
}
