/* api_pool.c — a mutex-guarded free list of store connections. See api_pool.h. */
#include "api_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct api_pool {
    pthread_mutex_t lock;
    const config *cfg; /* the role's, alive as long as the pool */
    char *db_path;
    char *state_dir;
    store **idle;
    size_t n_idle;
    size_t max_idle;
};

char *api_db_path(const config *cfg)
{
    return store_config_url(cfg);
}

int api_pool_new(const config *cfg, size_t max_idle, api_pool **out, char *err, size_t errlen)
{
    api_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    pthread_mutex_init(&p->lock, NULL);
    p->max_idle = max_idle ? max_idle : 1;
    p->cfg = cfg;
    p->db_path = api_db_path(cfg);
    p->state_dir = strdup(config_str(cfg, "state_dir"));
    p->idle = calloc(p->max_idle, sizeof(*p->idle));
    if (!p->db_path || !p->state_dir || !p->idle) {
        api_pool_free(p);
        return -ENOMEM;
    }
    store *s = api_pool_get(p, err, errlen);
    if (!s) {
        api_pool_free(p);
        return -EIO;
    }
    api_pool_put(p, s);
    *out = p;
    return 0;
}

void api_pool_free(api_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_idle; i++)
        store_close(p->idle[i]);
    free(p->idle);
    free(p->db_path);
    free(p->state_dir);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

store *api_pool_get(api_pool *p, char *err, size_t errlen)
{
    pthread_mutex_lock(&p->lock);
    store *s = p->n_idle ? p->idle[--p->n_idle] : NULL;
    pthread_mutex_unlock(&p->lock);
    if (s)
        return s;
    /* store_open_config: the connection honours queue.max_attempts,
     * queue.retry_elsewhere_ms and db.busy_timeout_ms like every other role's. */
    if (store_open_config(p->cfg, &s, err, errlen) < 0)
        return NULL;
    return s;
}

void api_pool_put(api_pool *p, store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->n_idle < p->max_idle) {
        p->idle[p->n_idle++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    if (s)
        store_close(s); /* past the cap: a burst is over, let it go */
}
