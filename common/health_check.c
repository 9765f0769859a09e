/* health_check.c — one pass of the WorkerHealthChecker and the
 * CacheBuilderHealthChecker over the store (see health_check.h). */
#include "health_check.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>

#include "jsonutil.h"

#include "log.h"

int health_check_once(store *s, int64_t now_ms, store_requeue_counts *out)
{
    store_requeue_counts c = {0};
    int r = store_requeue_expired(s, now_ms > 0 ? now_ms : store_now_ms(), &c);
    if (r < 0)
        return r;
    if (c.submissions_requeued || c.submissions_failed)
        log_notice("lease_expired checker=WorkerHealthChecker requeued=%d failed=%d",
                   c.submissions_requeued, c.submissions_failed);
    if (c.depsets_requeued || c.depsets_failed)
        log_notice("lease_expired checker=CacheBuilderHealthChecker requeued=%d failed=%d",
                   c.depsets_requeued, c.depsets_failed);
    if (out)
        *out = c;
    return 0;
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

        if (!id || !brole || strcmp(brole, role) != 0 || !bhost || strcmp(bhost, host) != 0 ||
            strncmp(id, "remote:", 7) == 0 || pid <= 0 || kill((pid_t)pid, 0) == 0 ||
            errno != ESRCH)
            continue;
        if (item && (builders ? store_depset_renew(s, item, id, 1)
                              : store_submission_renew(s, item, id, 1)) >= 0) {
            log_info("dead-%s-lease-expired owner=%s item=%s", role, id, item);
            n++;
        }
        store_heartbeat_remove(s, id);
    }
    return n;
}
