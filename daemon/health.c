/* health.c — the health role of farmd: every health.interval_ms one pass of
 * the WorkerHealthChecker and the CacheBuilderHealthChecker
 * (common/health_check.c), plus this process's own heartbeat row. */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "../common/health_check.h"
#include "../common/log.h"
#include "../common/store.h"
#include "roles.h"

/* Sleeps up to ms, waking every 100 ms to notice *stop. */
static void health_sleep(long long ms, volatile sig_atomic_t *stop)
{
    while (ms > 0 && !*stop) {
        long long step = ms < 100 ? ms : 100;
        struct timespec ts = {.tv_sec = step / 1000, .tv_nsec = (step % 1000) * 1000000};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

int health_run(const config *cfg, volatile sig_atomic_t *stop)
{
    log_set_role("health");
    store *s = NULL;
    char err[512];
    int r = store_open_config(cfg, &s, err, sizeof(err));
    if (r < 0) {
        log_error("store_open_failed error=\"%s\"", err);
        return r;
    }
    char id[64];
    snprintf(id, sizeof(id), "health-%d", (int)getpid());
    long long interval = config_int(cfg, "health.interval_ms");
    if (interval <= 0)
        interval = 2000;
    log_info("started checkers=WorkerHealthChecker,CacheBuilderHealthChecker interval_ms=%lld",
             interval);
    while (!*stop) {
        r = health_check_once(s, 0, NULL);
        if (r < 0)
            log_warn("health_check_failed error=\"%s\"", store_last_error(s));
        if (store_heartbeat(s, id, "health", NULL, (int)getpid(), NULL) < 0)
            log_warn("heartbeat_failed error=\"%s\"", store_last_error(s));
        health_sleep(interval, stop);
    }
    store_heartbeat_remove(s, id);
    store_close(s);
    log_info("stopped");
    return 0;
}
