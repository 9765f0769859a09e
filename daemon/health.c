/* health.c — the health role of farmd: every health.interval_ms one pass of
 * health_act (dead processes' rows, silent remote workers, runs stuck past
 * their limits) and of the WorkerHealthChecker and CacheBuilderHealthChecker
 * (common/health_check.c); this process's own heartbeat row every
 * heartbeat.interval_ms. */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "../common/health_check.h"
#include "../common/log.h"
#include "../common/store.h"
#include "roles.h"
#include "../common/monotime.h"

int health_run(const config *cfg, volatile sig_atomic_t *stop)
{
    log_set_role("health");
    store *s = NULL;
    char err[512], host[64] = "";
    int r = store_open_config(cfg, &s, err, sizeof(err));
    if (r < 0) {
        log_error("store-open-failed error=\"%s\"", err);
        return r;
    }
    gethostname(host, sizeof(host) - 1);
    char id[64];
    snprintf(id, sizeof(id), "health-%d", (int)getpid());
    long long interval = config_int(cfg, "health.interval_ms");
    long long beat = config_int(cfg, "heartbeat.interval_ms");
    health_params hp;
    health_params_from_config(cfg, &hp);
    if (interval <= 0)
        interval = 2000;
    if (beat <= 0)
        beat = 5000;
    log_info("started checkers=WorkerHealthChecker,CacheBuilderHealthChecker interval_ms=%lld "
             "stale_ms=%lld stuck_grace_ms=%lld",
             interval, (long long)hp.stale_ms, (long long)hp.stuck_grace_ms);
    int64_t next_pass = 0, next_beat = 0;
    while (!*stop) {
        int64_t now = monotime_ms();
        if (now >= next_beat) {
            if (store_heartbeat_doing(s, id, "health", host, (int)getpid(), NULL, "checking", 0) <
                0)
                log_warn("heartbeat-failed error=\"%s\"", store_last_error(s));
            next_beat = now + beat;
        }
        if (now >= next_pass) {
            if (health_act(s, &hp, host, NULL) < 0)
                log_warn("health-act-failed error=\"%s\"", store_last_error(s));
            /* +2 ms: the leases health_act just cut to 1 ms are taken back
             * in this same pass (a cut lease is renewed again next pass). */
            if (health_check_once(s, store_now_ms() + 2, NULL) < 0)
                log_warn("health-check-failed error=\"%s\"", store_last_error(s));
            next_pass = now + interval;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    store_heartbeat_remove(s, id);
    store_close(s);
    log_info("stopped");
    return 0;
}
