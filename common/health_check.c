/* health_check.c — one pass of the WorkerHealthChecker and the
 * CacheBuilderHealthChecker over the store (see health_check.h). */
#include "health_check.h"

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
