/* judge0.c — the Judge0 CE 1.13.1 front (docs/compat-judge0.md): its routes,
 * its auth headers (X-Auth-Token, X-Auth-User) and its refusals. */
#include "compat.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define JUDGE0_VERSION "1.13.1"

static enum MHD_Result j0_about(api_call *c)
{
    return http_reply_json(c->req, 200,
                           json_pack("{s:s, s:s, s:s, s:s}", "version", JUDGE0_VERSION, "homepage",
                                     "https://judge0.com", "source_code",
                                     "https://github.com/judge0/judge0", "maintainer",
                                     "nixfarm (Judge0-compatible front)"));
}

static enum MHD_Result j0_version(api_call *c)
{
    return http_reply_text(c->req, 200, "text/plain; charset=utf-8", JUDGE0_VERSION);
}

static const api_route judge0_routes[] = {
    {"GET", "/about", j0_about, AUTH_SUBMIT},
    {"GET", "/version", j0_version, AUTH_SUBMIT},
    {NULL, NULL, NULL, 0},
};

/* X-Auth-User (Judge0's authorization header, admin calls) wins over
 * X-Auth-Token (authentication). */
static int j0_token(struct MHD_Connection *conn, char *token, size_t len)
{
    static const char *const headers[] = {"X-Auth-User", "X-Auth-Token"};
    for (size_t i = 0; i < sizeof(headers) / sizeof(*headers); i++) {
        const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, headers[i]);
        if (v && *v) {
            if (strlen(v) >= len)
                return -EINVAL;
            snprintf(token, len, "%s", v);
            return 1;
        }
    }
    return 0;
}

/* Judge0 answers 401/403 with an empty body, other refusals with
 * {"error": "..."}. */
static enum MHD_Result j0_refusal(api_call *c, unsigned status, const char *code,
                                  const char *message)
{
    (void)code;
    if (status == 401 || status == 403)
        return http_reply_text(c->req, status, "text/plain", "");
    return http_reply_json(c->req, status, json_pack("{s:s}", "error", message));
}

const compat_front compat_judge0 = {
    .name = "judge0",
    .routes = judge0_routes,
    .token_from_request = j0_token,
    .reply_refusal = j0_refusal,
    .cors = true,
};
