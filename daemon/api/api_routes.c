/* api_routes.c — the routing table of HTTP API v1.
 *
 * One line per endpoint: method, path pattern, handler, scope. Other parts
 * append their endpoints here (e.g. the CLI/CI work's JUnit rendering in
 * daemon/api/api_junit.c: {"GET", "/v1/submissions/{id}/junit", junit_handler,
 * AUTH_READ}, with its prototype in junit.h taking an api_call *). Keep
 * docs/api.yaml in step: tests/e2e/test_openapi.py checks every path there
 * against this server. */
#include "api.h"
#include "api_dashboard.h" /* dashboard (issue 17) */
#include "api_junit.h"     /* CLI/CI work: GET /v1/submissions/{id}/junit */

#include <string.h>

const api_route api_routes[] = {
    {"POST", "/v1/submissions", api_submission_create, AUTH_SUBMIT},
    {"POST", "/v1/submissions/batch", api_submission_batch, AUTH_SUBMIT},
    {"GET", "/v1/submissions/{id}", api_submission_show, AUTH_READ},
    {"DELETE", "/v1/submissions/{id}", api_submission_cancel, AUTH_SUBMIT},
    {"GET", "/v1/submissions/{id}/events", api_submission_events, AUTH_READ},
    {"GET", "/v1/depsets", api_depsets_list, AUTH_READ},
    {"POST", "/v1/depsets", api_depsets_create, AUTH_SUBMIT},
    {"GET", "/v1/depsets/{key}", api_depset_show, AUTH_READ},
    {"DELETE", "/v1/depsets/{key}", api_depset_evict, AUTH_ADMIN},
    {"GET", "/v1/profiles", api_profiles_list, AUTH_READ},
    {"GET", "/v1/packages", api_packages_list, AUTH_READ},
    {"GET", "/v1/health", api_health, 0},
    {"GET", "/metrics", api_metrics, 0},
    {"GET", "/v1/admin/drain", api_admin_drain_get, AUTH_ADMIN},
    {"POST", "/v1/admin/drain", api_admin_drain, AUTH_ADMIN},
    /* ---- appended by other parts (below this line) ---- */
    {"GET", "/v1/submissions/{id}/junit", junit_handler, AUTH_READ},
    /* remote workers: the lease protocol over HTTP (api_leases.c) */
    {"POST", "/v1/leases/claim", api_lease_claim, AUTH_WORKER},
    {"POST", "/v1/leases/heartbeat", api_lease_heartbeat, AUTH_WORKER},
    {"POST", "/v1/leases/{id}/renew", api_lease_renew, AUTH_WORKER},
    {"POST", "/v1/leases/{id}/release", api_lease_release, AUTH_WORKER},
    {"POST", "/v1/leases/{id}/events", api_lease_event, AUTH_WORKER},
    {"POST", "/v1/leases/{id}/tests", api_lease_test_result, AUTH_WORKER},
    {"POST", "/v1/leases/{id}/finish", api_lease_finish, AUTH_WORKER},
    {"GET", "/v1/blobs/{key}", api_blob_get, AUTH_WORKER},
    /* the dashboard (api_stats.c, api_tokens.c, ui_static.c) */
    {"GET", "/v1/submissions", api_submissions_list, AUTH_READ},
    {"GET", "/v1/stats", api_stats_show, AUTH_READ},
    {"GET", "/v1/cache", api_cache_show, AUTH_READ},
    {"POST", "/v1/depsets/{key}/pin", api_depset_pin, AUTH_ADMIN},
    {"POST", "/v1/depsets/{key}/rebuild", api_depset_rebuild, AUTH_ADMIN},
    {"GET", "/v1/whoami", api_whoami, 0},
    {"GET", "/v1/tokens", api_tokens_list, AUTH_ADMIN},
    {"POST", "/v1/tokens", api_token_create, AUTH_ADMIN},
    {"DELETE", "/v1/tokens/{id}", api_token_revoke, AUTH_ADMIN},
    {"GET", "/ui", ui_static_index, 0},
    {"GET", "/ui/{file}", ui_static_file, 0},
    {NULL, NULL, NULL, 0},
};

/* Matches pattern against path; a "{...}" segment takes one non-empty path
 * segment into param. */
static bool match(const char *pattern, const char *path, char *param, size_t paramlen)
{
    while (*pattern && *path) {
        if (*pattern == '{') {
            const char *pend = strchr(pattern, '}');
            const char *seg_end = strchr(path, '/');
            size_t n = seg_end ? (size_t)(seg_end - path) : strlen(path);
            if (!pend || n == 0 || n >= paramlen)
                return false;
            memcpy(param, path, n);
            param[n] = '\0';
            pattern = pend + 1;
            path += n;
            continue;
        }
        if (*pattern != *path)
            return false;
        pattern++;
        path++;
    }
    return !*pattern && !*path;
}

const api_route *api_route_match_in(const api_route *table, const char *method, const char *path,
                                    char *param, size_t paramlen, bool *path_known)
{
    *path_known = false;
    /* a trailing slash means the same resource */
    char clean[512];
    size_t n = strlen(path);
    if (n >= sizeof(clean))
        return NULL;
    memcpy(clean, path, n + 1);
    while (n > 1 && clean[n - 1] == '/')
        clean[--n] = '\0';
    for (const api_route *r = table; r->method; r++) {
        param[0] = '\0';
        if (!match(r->pattern, clean, param, paramlen))
            continue;
        *path_known = true;
        if (!strcmp(r->method, method) || (!strcmp(method, "HEAD") && !strcmp(r->method, "GET")))
            return r;
    }
    param[0] = '\0';
    return NULL;
}

const api_route *api_route_match(const char *method, const char *path, char *param, size_t paramlen,
                                 bool *path_known)
{
    return api_route_match_in(api_routes, method, path, param, paramlen, path_known);
}
