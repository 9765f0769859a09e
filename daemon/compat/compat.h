/* compat.h — compatibility fronts: foreign APIs (Judge0, Piston, Jobe) served
 * by farmd as translations onto HTTP API v1.
 *
 * A front is a table of routes under the paths its clients use, plus two
 * optional hooks: where its clients put their token, and how it answers a
 * refused call. Its handlers translate the foreign request into a v1 request
 * body and hand it to api_submit_v1 (api.h), the one pipeline entry; they
 * read results with api_submission_view and cancel with api_cancel_v1. A
 * front never writes to the store itself, so its submissions are ordinary
 * submissions, visible in /v1, /metrics and the CLI.
 *
 * Serving: the main listener (api.listen) matches the v1 routes first, then
 * the routes of every enabled front in the order of compat_fronts[]. A front
 * with compat.<name>.listen set also gets a listener of its own that serves
 * only its routes. Config: compat.<name>.enabled (bool), compat.<name>.listen
 * (host:port, "" = none), declared in common/config_keys.def.
 *
 * Adding a front: daemon/compat/<name>.c defining `const compat_front
 * compat_<name>`, one line in compat.c's list (and its extern below), one in
 * daemon/compat/meson.build, the two config keys. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <microhttpd.h>

#include "../api/api.h"

typedef struct compat_front {
    const char *name;        /* "judge0", "piston", "jobe" */
    const api_route *routes; /* NULL-terminated; the paths the front's clients use */
    /* Fills token (NUL-terminated) from the front's own auth header(s); returns 1 if a
       token was found, 0 if none, <0 on error. NULL: the v1 `Authorization: Bearer`. */
    int (*token_from_request)(struct MHD_Connection *conn, char *token, size_t len);
    /* Answers a refused call (401/403/404/405/413/429/503…) in the front's own style.
       NULL: the v1 JSON error. */
    enum MHD_Result (*reply_refusal)(api_call *c, unsigned status, const char *code,
                                     const char *message);
    /* true: every answer on the front's paths carries CORS headers allowing any origin,
       and OPTIONS on any of its paths is answered as a preflight (204). */
    bool cors;
    /* The callback of a submission this front made (request.meta.front == name): body
       (malloc'd) and HTTP method, from the stored row (store_submission_get). NULL: the
       v1 callback. Delivery, signing and retries stay the webhook outbox's. */
    char *(*callback_body)(store *s, const config *cfg, const json_t *row, const char **method);
} compat_front;

extern const compat_front *const compat_fronts[]; /* NULL-terminated, compat.c */

/* The fronts (one line each). */
extern const compat_front compat_judge0;
extern const compat_front compat_jobe;
extern const compat_front compat_piston;

/* The package set the fronts offer now: the packages object of api.packages.file
 * when set, else of the set builder_pkgset_dir gives (a static nix.dir, or this
 * machine's current generation, regenerated after a Debian update). Accepts the
 * {"packages": {...}} layout too. New reference, NULL when it cannot be read. */
json_t *compat_package_set(const config *cfg);

/* compat.<name>.enabled / compat.<name>.listen ("" when none). */
bool compat_front_enabled(const config *cfg, const compat_front *f);
const char *compat_front_listen(const config *cfg, const compat_front *f);

/* Routes method + path through the enabled fronts (only `only` when not NULL).
 * Returns the route or NULL; *front is the front whose path matched (set also
 * when only the method is wrong: *path_known), NULL when none. */
const api_route *compat_route_match(const config *cfg, const compat_front *only, const char *method,
                                    const char *path, char *param, size_t paramlen,
                                    bool *path_known, const compat_front **front);

/* The front's callback body for a stored row (webhook_front_body_fn,
 * daemon/webhook/webhook.h): NULL when the row is not a front's or the front has
 * none. */
char *compat_callback_body(store *s, const config *cfg, const json_t *row, const char **method);

/* Answers a refusal in front's style (v1 JSON error when front or its hook
 * is NULL). */
enum MHD_Result compat_reply_refusal(const compat_front *front, api_call *c, unsigned status,
                                     const char *code, const char *message);

/* Answers {key: message} with status, message formatted from fmt (cut at
 * 1023 bytes): the one-field error bodies of the fronts ("message" for Piston,
 * "error" for Judge0). */
enum MHD_Result compat_reply_field(api_call *c, const char *key, unsigned status, const char *fmt,
                                   ...) __attribute__((format(printf, 4, 5)));
