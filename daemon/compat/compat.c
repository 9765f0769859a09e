/* compat.c — the list of compatibility fronts and what the router and the
 * listeners ask of them. See compat.h. */
#include "compat.h"
#include "builder.h"
#include "cleanup.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const compat_front *const compat_fronts[] = {
    &compat_judge0,
    &compat_jobe,
    &compat_piston,
    NULL,
};

static const char *front_key(const compat_front *f, const char *what, char *buf, size_t len)
{
    snprintf(buf, len, "compat.%s.%s", f->name, what);
    return buf;
}

bool compat_front_enabled(const config *cfg, const compat_front *f)
{
    char k[96];
    return config_bool(cfg, front_key(f, "enabled", k, sizeof(k)));
}

const char *compat_front_listen(const config *cfg, const compat_front *f)
{
    char k[96];
    return config_str(cfg, front_key(f, "listen", k, sizeof(k)));
}

const api_route *compat_route_match(const config *cfg, const compat_front *only, const char *method,
                                    const char *path, char *param, size_t paramlen,
                                    bool *path_known, const compat_front **front)
{
    *path_known = false;
    *front = NULL;
    for (const compat_front *const *fp = compat_fronts; *fp; fp++) {
        const compat_front *f = *fp;
        if (only ? f != only : !compat_front_enabled(cfg, f))
            continue;
        bool known = false;
        const api_route *r = api_route_match_in(f->routes, method, path, param, paramlen, &known);
        if (r || known) {
            *path_known = known;
            *front = f;
            return r;
        }
    }
    return NULL;
}

enum MHD_Result compat_reply_refusal(const compat_front *front, api_call *c, unsigned status,
                                     const char *code, const char *message)
{
    if (front && front->reply_refusal)
        return front->reply_refusal(c, status, code, message);
    return http_reply_error(c->req, status, code, NULL, "%s", message);
}

enum MHD_Result compat_reply_field(api_call *c, const char *key, unsigned status, const char *fmt,
                                   ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return http_reply_json(c->req, status, json_pack("{s:s}", key, msg));
}

char *compat_callback_body(store *s, const config *cfg, const json_t *row, const char **method)
{
    const char *name = json_string_value(
        json_object_get(json_object_get(json_object_get(row, "request"), "meta"), "front"));
    for (const compat_front *const *fp = compat_fronts; name && *fp; fp++)
        if (!strcmp((*fp)->name, name) && (*fp)->callback_body)
            return (*fp)->callback_body(s, cfg, row, method);
    return NULL;
}

json_t *compat_package_set(const config *cfg)
{
    _cleanup_free_ char *path = NULL;
    const char *pk = config_str(cfg, "api.packages.file");
    if (pk && *pk) {
        path = strdup(pk);
    } else {
        _cleanup_free_ char *dir = NULL;
        char err[512];
        if (builder_pkgset_dir(cfg, false, &dir, err, sizeof(err)) == 0 &&
            asprintf(&path, "%s/packages.json", dir) < 0)
            path = NULL;
    }
    if (!path)
        return NULL;
    json_t *j = json_load_file(path, 0, NULL);
    json_t *inner = json_object_get(j, "packages");
    if (json_is_object(inner)) {
        json_incref(inner);
        json_decref(j);
        return inner;
    }
    return j;
}
