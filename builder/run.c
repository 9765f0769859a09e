/* run.c — the builder role: `farmd --role builder` runs builder.count of
 * these loops, each in its own process (daemon/roles.h).
 *
 * Loop: heartbeat; claim a queued set with a lease; build it (the lease and
 * the heartbeat are renewed while Nix runs); export it if a binary cache is
 * configured; bring the cache under its quota; when nothing is claimable,
 * sleep on the builder doorbell, or poll every queue.poll_ms without one.
 * A stop request kills a running Nix and leaves the set's lease to expire:
 * the health checker gives the set to another builder. A starting builder
 * expires at once the leases of dead builders of its host. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder_internal.h"
#include "../common/cleanup.h"
#include "../common/health_check.h"
#include "../common/jsonutil.h"
#include "../common/log.h"

/* heartbeat.interval_ms, the one interval of every role (issue 21). */
#define HEARTBEAT_MS heartbeat_ms
#define QUOTA_CHECK_MS 30000

/* Log values are one line: a build log's tail has many. */
static const char *one_line(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '"')
            *p = *p == '"' ? '\'' : ' ';
    return s;
}

static void after_ready(const config *cfg, store *s, const char *key)
{
    char err[2048];
    if (config_str(cfg, "cache.export_url")[0]) {
        _cleanup_json_ json_t *row = NULL;
        if (store_depset_get(s, key, &row) == 0) {
            json_t *outs = json_object_get(row, "out_paths");
            int r = builder_export(cfg, outs, err, sizeof err);
            if (r < 0)
                log_warn("export-failed key=%s error=\"%.300s\"", key, one_line(err));
            else
                log_info("exported key=%s url=%s", key, config_str(cfg, "cache.export_url"));
        }
    }
}

static void quota(const config *cfg, store *s)
{
    char err[2048];
    int r = builder_enforce_quota(cfg, s, err, sizeof err);
    if (r < 0)
        log_warn("quota-failed error=\"%.300s\"", one_line(err));
    else if (r > 0)
        log_info("evicted sets=%d quota_bytes=%lld", r, config_int(cfg, "cache.quota_bytes"));
}

int builder_run(const config *cfg, int slot, volatile sig_atomic_t *stop)
{
    char err[4096];
    store *s = NULL;
    int r = store_open_config(cfg, &s, err, sizeof err);
    if (r < 0) {
        log_error("store-open-failed error=\"%s\"", one_line(err));
        return r;
    }
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    char owner[400];
    snprintf(owner, sizeof owner, "builder-%s-%d-%d", host, (int)getpid(), slot);
    health_expire_dead_local(s, "builder", host);
    bool bell = store_doorbell_listen(s, STORE_ROLE_BUILDER) >= 0;
    int poll_ms = (int)config_int(cfg, "queue.poll_ms");
    int64_t lease_ms = config_int(cfg, "lease.ms");
    int64_t next_hb = 0, next_quota = 0;
    int64_t heartbeat_ms = config_int(cfg, "heartbeat.interval_ms") > 0
                               ? config_int(cfg, "heartbeat.interval_ms")
                               : 2000;
    log_info("builder-started owner=%s doorbell=%s", owner, bell ? "yes" : "no");

    while (!*stop) {
        int64_t now = store_now_ms();
        if (now >= next_hb) {
            store_heartbeat(s, owner, "builder", host, (int)getpid(), NULL);
            next_hb = now + HEARTBEAT_MS;
        }
        if (now >= next_quota) {
            quota(cfg, s);
            next_quota = now + QUOTA_CHECK_MS;
        }
        store_depset_claimed c = {0};
        r = store_depset_claim(s, owner, lease_ms, &c);
        if (r < 0) {
            log_error("claim-failed error=\"%s\"", strerror(-r));
            struct timespec ts = {poll_ms / 1000, (long)(poll_ms % 1000) * 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (r == 0) {
            if (!bell || store_wait(s, poll_ms) < 0) {
                struct timespec ts = {poll_ms / 1000, (long)(poll_ms % 1000) * 1000000};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        log_info("build-start key=%s attempts=%d", c.key, c.attempts);
        store_heartbeat(s, owner, "builder", host, (int)getpid(), c.key);
        int64_t t0 = store_now_ms();
        r = builder_build_claimed_hb(cfg, s, owner, owner, &c, stop, err, sizeof err);
        int64_t ms = store_now_ms() - t0;
        if (r == 1) {
            log_info("build-ready key=%s ms=%lld", c.key, (long long)ms);
            after_ready(cfg, s, c.key);
            quota(cfg, s);
            next_quota = store_now_ms() + QUOTA_CHECK_MS;
        } else if (r == 0) {
            /* The log tail is in the row; one line of it is enough here. */
            log_warn("build-failed key=%s ms=%lld error=\"%.300s\"", c.key, (long long)ms,
                     one_line(err));
        } else {
            log_warn("build-abandoned key=%s ms=%lld error=\"%.300s\"", c.key, (long long)ms,
                     one_line(err));
        }
        store_heartbeat(s, owner, "builder", host, (int)getpid(), NULL);
        next_hb = store_now_ms() + HEARTBEAT_MS;
        store_depset_claimed_done(&c);
    }
    store_heartbeat_remove(s, owner);
    store_close(s);
    log_info("builder-stopped owner=%s", owner);
    return 0;
}
