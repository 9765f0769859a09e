/* worker_source_local.c — the worker source over this machine's store: each
 * call is the store.h function of the same name (see worker_source.h). */
#include "worker_source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

static int local_claim(worker_source *s, const char *owner, int64_t lease_ms, int wait_ms,
                       store_claimed *out)
{
    (void)wait_ms;
    return store_submission_claim(s->st, owner, lease_ms, out);
}

static int local_renew(worker_source *s, const char *id, const char *owner, int64_t lease_ms)
{
    return store_submission_renew(s->st, id, owner, lease_ms);
}

static int local_release(worker_source *s, const char *id, const char *owner)
{
    return store_submission_release(s->st, id, owner);
}

static int local_release_failed(worker_source *s, const char *id, const char *owner,
                                const char *kind, const char *message)
{
    return store_submission_release_failed(s->st, id, owner, kind, message);
}

static int local_event(worker_source *s, const char *id, const char *owner, const char *type,
                       json_t *data)
{
    return store_submission_event(s->st, id, owner, type, data);
}

static int local_test_result(worker_source *s, const char *id, const char *owner, int index,
                             json_t *result)
{
    return store_submission_test_result(s->st, id, owner, index, result);
}

static int local_finish(worker_source *s, const char *id, const char *owner, const char *state,
                        const char *verdict, json_t *result)
{
    return store_submission_finish(s->st, id, owner, state, verdict, result);
}

static int local_finish_and_claim(worker_source *s, const char *id, const char *owner,
                                  const char *state, const char *verdict, json_t *result,
                                  int64_t lease_ms, store_claimed *next)
{
    return store_submission_finish_and_claim(s->st, id, owner, state, verdict, result, lease_ms,
                                             next);
}

static int local_blob_get(worker_source *s, const char *sha256, void **data, size_t *len)
{
    return store_blob_get(s->st, sha256, data, len);
}

static int local_heartbeat(worker_source *s, const char *id, const char *host, int pid,
                           const char *current_item, const char *doing, int64_t deadline_in_ms)
{
    return store_heartbeat_doing(s->st, id, "worker", host, pid, current_item, doing,
                                 deadline_in_ms);
}

static int local_heartbeat_remove(worker_source *s, const char *id)
{
    return store_heartbeat_remove(s->st, id);
}

static int local_wait(worker_source *s, int timeout_ms)
{
    return store_wait(s->st, timeout_ms);
}

/* The builders of this farm realised the set into this machine's store. */
static int local_prepare_set(worker_source *s, const store_claimed *c, char *err, size_t errlen)
{
    (void)s;
    (void)c;
    (void)err;
    (void)errlen;
    return 0;
}

static void local_close(worker_source *s)
{
    store_close(s->st);
    free(s);
}

static const worker_source_ops local_ops = {
    .claim = local_claim,
    .renew = local_renew,
    .release = local_release,
    .release_failed = local_release_failed,
    .event = local_event,
    .test_result = local_test_result,
    .finish = local_finish,
    .finish_and_claim = local_finish_and_claim,
    .blob_get = local_blob_get,
    .heartbeat = local_heartbeat,
    .heartbeat_remove = local_heartbeat_remove,
    .wait = local_wait,
    .prepare_set = local_prepare_set,
    .close = local_close,
};

int worker_source_local_open(const config *cfg, bool listen, worker_source **out, char *err,
                             size_t errlen)
{
    _cleanup_free_ char *path = store_config_url(cfg);
    const char *state = config_str(cfg, "state_dir");
    worker_source *s;
    int r;

    if (listen) {
        r = fsutil_mkdir_p(state, 0755);
        if (r < 0) {
            snprintf(err, errlen, "cannot make state_dir %s: %s", state, strerror(-r));
            return r;
        }
    }
    if (!path)
        return -ENOMEM;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->ops = &local_ops;
    r = store_open(path, listen ? state : NULL, &s->st, err, errlen);
    if (r < 0) {
        free(s);
        return r;
    }
    *out = s;
    return 0;
}

int worker_source_open(const config *cfg, bool listen, worker_source **out, char *err,
                       size_t errlen)
{
    const char *url = config_str(cfg, "worker.remote_url");

    if (url && *url)
        return worker_remote_open(cfg, out, err, errlen);
    return worker_source_local_open(cfg, listen, out, err, errlen);
}

void worker_source_close(worker_source *s)
{
    if (s)
        s->ops->close(s);
}
