/* worker_lease.c — the lease renewer thread; see worker_lease.h. */
#include "worker_lease.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../common/log.h"
#include "../../common/store.h"
#include "worker_source.h"
#include "../../common/monotime.h"

#define WORKER_LEASE_TICK_MS 100

struct worker_lease {
    worker_source *src; /* its own connection (local or remote) */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool quit;
    bool active;
    char id[33];
    char owner[128];
    int64_t lease_ms;
    int64_t renew_ms;
    int state;
    int64_t last_renew_at; /* monotonic ms */
    int64_t hb_ms;         /* heartbeat.interval_ms: renew (and beat) at least this often */
    volatile sig_atomic_t *stop;
    int64_t stop_seen_at;
    int64_t grace_ms;
    char hb_id[160]; /* heartbeat row refreshed with each renew ("" = none) */
    char hb_host[64];
    unsigned generation; /* bumps at every begin, so a late result of an old
                            lease never lands on the next one */
    worker_lease_abort_fn abort_fn;
    void *userdata;
};

/* Set by worker_lease_kick (a signal handler): the health checker found the
 * run stuck past its wall limit and took the lease back. */
static volatile sig_atomic_t lease_kicked;

void worker_lease_kick(void)
{
    lease_kicked = 1;
}

static void deadline_in(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Marks the lease lost with reason r and aborts the step in flight. Called
 * with the mutex held. */
static void lose(worker_lease *l, int r)
{
    l->state = r;
    if (l->abort_fn)
        l->abort_fn(l->userdata);
}

static void *renewer_main(void *arg)
{
    worker_lease *l = arg;

    pthread_mutex_lock(&l->mu);
    while (!l->quit) {
        struct timespec ts;
        char id[33], owner[128], hb_id[160], hb_host[64];
        int64_t lease_ms, now;
        unsigned gen;
        int r;

        if (!l->active || l->state < 0) {
            pthread_cond_wait(&l->cv, &l->mu);
            continue;
        }
        /* Tick often enough to notice a stop request (set by a signal
         * handler, which cannot signal a condition variable). */
        deadline_in(&ts, WORKER_LEASE_TICK_MS);
        gen = l->generation;
        while (!l->quit && l->active && l->generation == gen &&
               pthread_cond_timedwait(&l->cv, &l->mu, &ts) != ETIMEDOUT)
            ;
        if (l->quit || !l->active || l->generation != gen || l->state < 0)
            continue;
        now = monotime_ms();
        if (lease_kicked) {
            lease_kicked = 0;
            log_warn("stuck-run-killed id=%s reason=\"past its wall limit + grace: the health "
                     "checker took the lease back\"",
                     l->id);
            lose(l, -ESTALE);
            continue;
        }
        if (l->stop && *l->stop) {
            if (!l->stop_seen_at)
                l->stop_seen_at = now;
            if (now - l->stop_seen_at >= l->grace_ms) {
                log_info("grace-over id=%s reason=\"stopping: giving the lease back\"", l->id);
                lose(l, -EINTR);
                continue;
            }
        }
        if (now - l->last_renew_at < l->renew_ms && now - l->last_renew_at < l->hb_ms)
            continue;
        memcpy(id, l->id, sizeof(id));
        memcpy(owner, l->owner, sizeof(owner));
        lease_ms = l->lease_ms;
        memcpy(hb_id, l->hb_id, sizeof(hb_id));
        memcpy(hb_host, l->hb_host, sizeof(hb_host));
        pthread_mutex_unlock(&l->mu);

        /* Store calls may wait out a busy database: never under the mutex
         * the worker thread takes to read the state. */
        r = l->src->ops->renew(l->src, id, owner, lease_ms);
        if (r >= 0 && hb_id[0])
            l->src->ops->heartbeat(l->src, hb_id, hb_host, (int)getpid(), id, NULL, -1);

        pthread_mutex_lock(&l->mu);
        if (l->generation != gen || !l->active || l->state < 0)
            continue;
        l->last_renew_at = now;
        if (r == -ECANCELED || r == -ESTALE || r == -ENOENT) {
            log_info("lease-lost id=%s reason=%s", id, r == -ECANCELED ? "cancelled" : "stale");
            lose(l, r == -ENOENT ? -ESTALE : r);
        } else if (r < 0) {
            log_warn("lease-renew-failed id=%s errno=%d error=\"%s\"", id, -r, strerror(-r));
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int worker_lease_new(const config *cfg, worker_lease **out, char *err, size_t errlen)
{
    worker_lease *l = calloc(1, sizeof(*l));
    pthread_condattr_t ca;
    int r;

    if (!l)
        return -ENOMEM;
    r = worker_source_open(cfg, false, &l->src, err, errlen);
    if (r < 0) {
        free(l);
        return r;
    }
    l->renew_ms = config_int(cfg, "lease.renew_ms");
    if (l->renew_ms <= 0)
        l->renew_ms = 1000;
    l->hb_ms = config_int(cfg, "heartbeat.interval_ms");
    if (l->hb_ms <= 0)
        l->hb_ms = l->renew_ms;
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    r = pthread_create(&l->thread, NULL, renewer_main, l);
    if (r != 0) {
        worker_source_close(l->src);
        pthread_cond_destroy(&l->cv);
        pthread_mutex_destroy(&l->mu);
        free(l);
        return -r;
    }
    *out = l;
    return 0;
}

void worker_lease_free(worker_lease *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->quit = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    worker_source_close(l->src);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

void worker_lease_begin(worker_lease *l, const char *id, const char *owner, int64_t lease_ms,
                        worker_lease_abort_fn abort_fn, void *userdata)
{
    pthread_mutex_lock(&l->mu);
    snprintf(l->id, sizeof(l->id), "%s", id);
    snprintf(l->owner, sizeof(l->owner), "%s", owner);
    l->lease_ms = lease_ms;
    l->state = 0;
    lease_kicked = 0; /* a kick meant for an earlier run */
    l->last_renew_at = monotime_ms();
    l->active = true;
    l->generation++;
    l->abort_fn = abort_fn;
    l->userdata = userdata;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

int worker_lease_end(worker_lease *l)
{
    int st;

    pthread_mutex_lock(&l->mu);
    st = l->state;
    l->active = false;
    l->generation++;
    l->abort_fn = NULL;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return st;
}

void worker_lease_heartbeat_as(worker_lease *l, const char *hb_id, const char *host)
{
    pthread_mutex_lock(&l->mu);
    snprintf(l->hb_id, sizeof(l->hb_id), "%s", hb_id);
    snprintf(l->hb_host, sizeof(l->hb_host), "%s", host);
    pthread_mutex_unlock(&l->mu);
}

void worker_lease_watch_stop(worker_lease *l, volatile sig_atomic_t *stop, int64_t grace_ms)
{
    pthread_mutex_lock(&l->mu);
    l->stop = stop;
    l->grace_ms = grace_ms;
    pthread_mutex_unlock(&l->mu);
}

int worker_lease_state(worker_lease *l)
{
    int st;

    pthread_mutex_lock(&l->mu);
    st = l->state;
    pthread_mutex_unlock(&l->mu);
    return st;
}
