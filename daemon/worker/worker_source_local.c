/* worker_source_local.c — the worker source over this machine's store: each
 * call is the store.h function of the same name (see worker_source.h). */
#include "worker_source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/cleanup.h"
#include "../../common/fsutil.h"
#include "../../common/jsonutil.h"
#include "../../common/log.h"
#include "worker_cache.h"

/* Like a remote worker's: the builder exports a set right after marking it
 * ready, so the cache may lag the claim by a moment (1+2+4+8 s of waits). */
#define LOCAL_IMPORT_TRIES 5

typedef struct {
    worker_source base;
    const config *cfg; /* the worker's, outlives the source */
} local_src;

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

/* On the builders' machine the set's closure is in this Nix store already;
 * a worker on a machine of its own copies what is missing from the signed
 * binary cache worker.cache_url names (the builders export every ready set
 * there: cache.export_url). */
static int local_prepare_set(worker_source *s, const store_claimed *c, char *err, size_t errlen)
{
    local_src *l = (local_src *)s;
    _cleanup_json_ json_t *set = NULL;
    int r;

    if (!c->depset_json)
        return 0; /* no set: the job says so itself (job_prepare_set) */
    set = json_loads(c->depset_json, 0, NULL);
    if (!set) {
        snprintf(err, errlen, "dependency set %s: its stored JSON does not parse", c->depset_key);
        return -EPROTO;
    }
    r = worker_cache_import_closure(l->cfg, set, config_str(l->cfg, "worker.cache_url"),
                                    config_str(l->cfg, "worker.cache_public_key"),
                                    "worker.cache_url and worker.cache_public_key",
                                    LOCAL_IMPORT_TRIES, s->stop, err, errlen);
    if (r > 0)
        log_info("closure-imported id=%s key=%s paths=%d url=%s", c->id, c->depset_key, r,
                 config_str(l->cfg, "worker.cache_url"));
    return r;
}

static void local_close(worker_source *s)
{
    store_close(s->st);
    free((local_src *)s);
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
    local_src *l;
    int r;

    /* An unsigned cache could hand this machine any store path: refuse. */
    if (*config_str(cfg, "worker.cache_url") && !*config_str(cfg, "worker.cache_public_key")) {
        snprintf(err, errlen,
                 "worker.cache_url is set but worker.cache_public_key is empty: give the "
                 "public key the cache is signed with (the .pub line of cache.secret_key_file)");
        return -EINVAL;
    }
    if (listen) {
        r = fsutil_mkdir_p(state, 0755);
        if (r < 0) {
            snprintf(err, errlen, "cannot make state_dir %s: %s", state, strerror(-r));
            return r;
        }
    }
    if (!path)
        return -ENOMEM;
    l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->base.ops = &local_ops;
    l->cfg = cfg;
    r = store_open(path, listen ? state : NULL, &l->base.st, err, errlen);
    if (r < 0) {
        free(l);
        return r;
    }
    *out = &l->base;
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
