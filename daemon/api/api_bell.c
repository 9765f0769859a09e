/* api_bell.c — one thread listens to the EVENTS doorbell and broadcasts.
 * See api_bell.h. */
#include "api_bell.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/store.h"
#include "api_pool.h"

struct api_bell {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t gen;
    bool quit;
    volatile sig_atomic_t *stop;
    store *s;
    pthread_t thread;
    bool started;
};

static void bump(api_bell *b)
{
    pthread_mutex_lock(&b->lock);
    b->gen++;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

static void *bell_main(void *arg)
{
    api_bell *b = arg;
    for (;;) {
        pthread_mutex_lock(&b->lock);
        bool quit = b->quit;
        pthread_mutex_unlock(&b->lock);
        if (quit)
            break;
        int r = store_wait(b->s, 200);
        if (r > 0)
            bump(b);
        else if (r < 0) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (b->stop && *b->stop)
            bump(b); /* waiters re-check the stop flag */
    }
    return NULL;
}

int api_bell_start(const config *cfg, volatile sig_atomic_t *stop, api_bell **out, char *err,
                   size_t errlen)
{
    api_bell *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    pthread_mutex_init(&b->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cond, &ca);
    pthread_condattr_destroy(&ca);
    b->stop = stop;
    char *path = api_db_path(cfg);
    int r = path ? store_open(path, config_str(cfg, "state_dir"), &b->s, err, errlen) : -ENOMEM;
    free(path);
    if (r >= 0)
        r = store_doorbell_listen(b->s, STORE_ROLE_EVENTS);
    if (r >= 0) {
        r = -pthread_create(&b->thread, NULL, bell_main, b);
        b->started = r == 0;
    }
    if (r < 0) {
        if (err && errlen && !*err)
            snprintf(err, errlen, "cannot listen for events: %s", strerror(-r));
        api_bell_stop(b);
        return r;
    }
    *out = b;
    return 0;
}

void api_bell_stop(api_bell *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    b->quit = true;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    if (b->started)
        pthread_join(b->thread, NULL);
    if (b->s)
        store_close(b->s);
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

uint64_t api_bell_generation(api_bell *b)
{
    pthread_mutex_lock(&b->lock);
    uint64_t g = b->gen;
    pthread_mutex_unlock(&b->lock);
    return g;
}

uint64_t api_bell_wait(api_bell *b, uint64_t seen, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&b->lock);
    while (b->gen == seen && !b->quit) {
        if (pthread_cond_timedwait(&b->cond, &b->lock, &dl) == ETIMEDOUT)
            break;
    }
    uint64_t g = b->gen;
    pthread_mutex_unlock(&b->lock);
    return g;
}

void api_bell_ring_all(api_bell *b)
{
    bump(b);
}
