/* api_tokens.c — who the caller is (GET /v1/whoami, so a page knows whether
 * to ask for a token and which controls to show) and token management over
 * HTTP for admins (the same as `farmd token create | list | revoke`). The
 * token itself is in the answer to its creation only; the store keeps its
 * SHA-256. */
#include "api_dashboard.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../common/cleanup.h"
#include "../../common/jsonutil.h"
#include "../../common/hash.h"
#include "../../common/log.h"
#include "../../common/store_tokens.h"

#define TOKEN_NAME_MAX 128

static json_t *scope_list(unsigned bits)
{
    json_t *arr = json_array();
    for (unsigned i = 0; i < 32; i++)
        if (bits & (1u << i))
            json_array_append_new(arr, json_string(auth_scope_name(1u << i)));
    return arr;
}

/* GET /v1/whoami: public route, so it identifies the caller itself: 401 for
 * a wrong token (or none while auth is on), else who it is. */
enum MHD_Result api_whoami(api_call *c)
{
    char err[256] = "";
    const char *authz = http_header(c->req, MHD_HTTP_HEADER_AUTHORIZATION);
    int r =
        auth_identify(c->ctx->auth, c->st, authz, c->req->client_addr, &c->who, err, sizeof(err));
    if (r == -EACCES)
        return http_reply_error(c->req, 401, "unauthorized", "Authorization", "%s", err);
    if (r < 0)
        return http_reply_error(c->req, 500, "internal", NULL, "%s", err);
    return http_reply_json(
        c->req, 200,
        json_pack("{s:b, s:b, s:o, s:o}", "auth", auth_required(c->ctx->auth), "anonymous",
                  c->who.anonymous, "token_id",
                  c->who.token_id[0] ? json_string(c->who.token_id) : json_null(), "scopes",
                  scope_list(c->who.scopes)));
}

enum MHD_Result api_tokens_list(api_call *c)
{
    json_t *list = NULL;
    int r = store_token_list(c->st, &list);
    if (r < 0)
        return api_store_error(c, r, "token");
    return http_reply_json(c->req, 200, json_pack("{s:o}", "tokens", list));
}

/* POST /v1/tokens {"name": "...", "scopes": ["submit", "read"]} -> 201 with
 * the token, shown this once. */
enum MHD_Result api_token_create(api_call *c)
{
    enum MHD_Result ret;
    _cleanup_json_ json_t *in = api_body_json(c, &ret);
    if (!in)
        return ret;
    if (!json_is_object(in))
        return http_reply_error(c->req, 400, "invalid_type", "body",
                                "the body must be a JSON object");
    const json_t *name = json_object_get(in, "name");
    const json_t *scopes = json_object_get(in, "scopes");
    if (!json_is_string(name) || !json_string_length(name) ||
        json_string_length(name) > TOKEN_NAME_MAX)
        return http_reply_error(c->req, 422, name ? "invalid_value" : "missing_field", "name",
                                "name must be a string of 1 to %d bytes", TOKEN_NAME_MAX);
    if (!json_is_array(scopes) || !json_array_size(scopes))
        return http_reply_error(c->req, 422, scopes ? "invalid_value" : "missing_field", "scopes",
                                "scopes must be a non-empty array of submit, read, admin, "
                                "nix-expr, worker");
    unsigned bits = 0;
    size_t i;
    const json_t *v;
    json_array_foreach(scopes, i, v)
    {
        unsigned one = 0;
        char err[160];
        if (!json_is_string(v) || strchr(json_string_value(v), ',') ||
            auth_scopes_parse(json_string_value(v), &one, err, sizeof(err)) < 0 || !one)
            return http_reply_error(c->req, 422, "invalid_value", "scopes",
                                    "scopes[%zu] is not one of submit, read, admin, nix-expr, "
                                    "worker",
                                    i);
        bits |= one;
    }
    unsigned char raw[32];
    if (hash_random_bytes(raw, sizeof(raw)) < 0)
        return http_reply_error(c->req, 500, "internal", NULL, "no randomness for a token");
    char token[4 + 64 + 1];
    int off = snprintf(token, sizeof(token), "nft_");
    for (size_t k = 0; k < sizeof(raw); k++)
        off += snprintf(token + off, sizeof(token) - (size_t)off, "%02x", raw[k]);
    char sha[65], id[33];
    hash_sha256_hex(token, strlen(token), sha);
    _cleanup_json_ json_t *arr = scope_list(bits);
    int r = store_token_create(c->st, json_string_value(name), arr, sha, id);
    if (r < 0)
        return api_store_error(c, r, "token");
    log_info("token-created id=%s by=%s", id, c->who.token_id[0] ? c->who.token_id : "anonymous");
    return http_reply_json(
        c->req, 201,
        json_pack("{s:s, s:O, s:O, s:s}", "id", id, "name", name, "scopes", arr, "token", token));
}

/* DELETE /v1/tokens/{id} */
enum MHD_Result api_token_revoke(api_call *c)
{
    int r = store_token_revoke(c->st, c->param);
    if (r < 0)
        return api_store_error(c, r, "token");
    log_info("token-revoked id=%s by=%s", c->param,
             c->who.token_id[0] ? c->who.token_id : "anonymous");
    return http_reply_json(
        c->req, 200, json_pack("{s:s, s:b, s:b}", "id", c->param, "revoked", 1, "changed", r == 1));
}
