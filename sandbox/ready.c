/* ready.c — a few units (unit.c) made ahead of the runs by a background
 * thread, and the used ones destroyed there too.
 *
 * A network namespace costs about half a millisecond to make (and more to
 * tear down, in the kernel's own worker), a run's cgroups a few hundred
 * microseconds: the pool keeps ready_per_slot × slots units ready so a run
 * only takes one. A used unit is handed back and destroyed, never recycled.
 * When none is ready (a burst), the run makes its own. */
#include "internal.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static void *ready_main(void *arg)
{
    struct sandbox_pool *p = arg;
    struct sbx_ready *q = &p->ready;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_mutex_lock(&q->mu);
    while (!q->quit) {
        if (q->dead) {
            struct sbx_unit *u = q->dead;
            q->dead = u->next;
            pthread_mutex_unlock(&q->mu);
            sbx_unit_free(u);
            pthread_mutex_lock(&q->mu);
            continue;
        }
        if (q->n_ready < q->want && !q->failing) {
            uint64_t seq = q->seq++;
            pthread_mutex_unlock(&q->mu);
            struct sbx_unit *u = NULL;
            char msg[256];
            int r = sbx_unit_new(p, seq, &u, msg, sizeof msg);
            pthread_mutex_lock(&q->mu);
            if (r < 0) {
                /* The runs make their own (and report the error) until one
                 * of them succeeds again. */
                q->failing = true;
                continue;
            }
            u->next = q->ready;
            q->ready = u;
            q->n_ready++;
            pthread_cond_broadcast(&q->cv);
            continue;
        }
        pthread_cond_wait(&q->cv, &q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int sbx_ready_start(struct sandbox_pool *p, unsigned want, char *err, size_t errlen)
{
    struct sbx_ready *q = &p->ready;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->want = want;
    q->inited = true;
    int r = pthread_create(&q->th, NULL, ready_main, p);
    if (r)
        return sbx_error(err, errlen, -r, "starting the thread that prepares runs: %s",
                         strerror(r));
    q->started = true;
    return 0;
}

void sbx_ready_stop(struct sandbox_pool *p)
{
    struct sbx_ready *q = &p->ready;
    if (!q->inited)
        return;
    if (q->started) {
        pthread_mutex_lock(&q->mu);
        q->quit = true;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        pthread_join(q->th, NULL);
        q->started = false;
    }
    struct sbx_unit *lists[] = {q->ready, q->dead};
    for (int i = 0; i < 2; i++)
        while (lists[i]) {
            struct sbx_unit *u = lists[i];
            lists[i] = u->next;
            sbx_unit_free(u);
        }
    q->ready = q->dead = NULL;
    q->n_ready = 0;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    q->inited = false;
}

int sbx_ready_take(struct sandbox_pool *p, struct sbx_unit **out, char *err, size_t errlen)
{
    struct sbx_ready *q = &p->ready;
    pthread_mutex_lock(&q->mu);
    struct sbx_unit *u = q->ready;
    if (u) {
        q->ready = u->next;
        q->n_ready--;
        u->next = NULL;
    }
    uint64_t seq = q->seq++;
    pthread_cond_broadcast(&q->cv); /* make another */
    pthread_mutex_unlock(&q->mu);
    if (u) {
        *out = u;
        return 0;
    }
    int r = sbx_unit_new(p, seq, out, err, errlen);
    if (r == 0) {
        pthread_mutex_lock(&q->mu);
        q->failing = false;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
    return r;
}

void sbx_ready_give_back(struct sandbox_pool *p, struct sbx_unit *u)
{
    if (!u)
        return;
    struct sbx_ready *q = &p->ready;
    pthread_mutex_lock(&q->mu);
    u->next = q->dead;
    q->dead = u;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}
