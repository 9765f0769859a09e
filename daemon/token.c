/* token.c — the `farmd token` verb: create, list and revoke the API's bearer
 * tokens in the store (see token.h; the checks are api/auth.c). */
#include "token.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cleanup.h"
#include "../common/hash.h"
#include "../common/jsonutil.h"
#include "../common/store_tokens.h"
#include "api/auth.h"

/* A token is this prefix and 64 hex characters (auth.h); only its SHA-256 is
 * stored. */
#define TOKEN_PREFIX "nft_"

static void token_help(FILE *f)
{
    fprintf(f,
            "Usage: farmd token create --name NAME --scopes submit,read[,admin,nix-expr,worker]\n"
            "       farmd token list\n"
            "       farmd token revoke ID\n\n"
            "create prints the token once; only its SHA-256 is kept.\n");
}

static int token_create(store *s, int argc, char **argv)
{
    const char *name = NULL, *scopes = NULL;
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"scopes", required_argument, NULL, 's'},
        {"scope", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "n:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            name = optarg;
            break;
        case 's':
            scopes = optarg;
            break;
        case 'h':
            token_help(stdout);
            return 0;
        default:
            token_help(stderr);
            return 2;
        }
    }
    if (optind < argc || !name || !*name || !scopes) {
        fprintf(stderr, "farmd token create: --name and --scopes are required\n");
        return 2;
    }
    unsigned bits = 0;
    char err[256];
    if (auth_scopes_parse(scopes, &bits, err, sizeof(err)) < 0) {
        fprintf(stderr, "farmd token create: --scopes: %s\n", err);
        return 2;
    }
    if (!bits) {
        fprintf(stderr, "farmd token create: --scopes: no scope given\n");
        return 2;
    }
    unsigned char raw[32];
    if (hash_random_bytes(raw, sizeof(raw)) < 0) {
        fprintf(stderr, "farmd token create: no randomness\n");
        return 1;
    }
    char token[sizeof(TOKEN_PREFIX) + 64];
    int off = snprintf(token, sizeof(token), "%s", TOKEN_PREFIX);
    for (size_t i = 0; i < sizeof(raw); i++)
        off += snprintf(token + off, sizeof(token) - (size_t)off, "%02x", raw[i]);
    char sha[65], id[33];
    hash_sha256_hex(token, strlen(token), sha);
    _cleanup_json_ json_t *arr = json_array();
    for (unsigned bit = 1; bit & AUTH_ALL; bit <<= 1)
        if (bits & bit)
            json_array_append_new(arr, json_string(auth_scope_name(bit)));
    int r = store_token_create(s, name, arr, sha, id);
    if (r < 0) {
        fprintf(stderr, "farmd token create: %s\n", store_last_error(s));
        return 1;
    }
    _cleanup_json_ json_t *o =
        json_pack("{s:s, s:s, s:O, s:s}", "id", id, "name", name, "scopes", arr, "token", token);
    _cleanup_free_ char *text = jsonutil_dump(o);
    printf("%s\n", text);
    return 0;
}

int token_command(const config *cfg, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        token_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "create") && strcmp(verb, "list") && strcmp(verb, "revoke")) {
        fprintf(stderr, "farmd token: unknown verb \"%s\" (create, list or revoke)\n", verb);
        return 2;
    }
    store *s = NULL;
    char err[512];
    if (store_open_config(cfg, &s, err, sizeof(err)) < 0) {
        fprintf(stderr, "farmd token: %s\n", err);
        return 1;
    }
    int rc = 0;
    if (!strcmp(verb, "create")) {
        rc = token_create(s, argc - 1, argv + 1);
    } else if (!strcmp(verb, "list")) {
        json_t *list = NULL;
        if (argc != 2) {
            fprintf(stderr, "farmd token list: takes no arguments\n");
            rc = 2;
        } else if (store_token_list(s, &list) < 0) {
            fprintf(stderr, "farmd token list: %s\n", store_last_error(s));
            rc = 1;
        } else {
            char *text = json_dumps(list, JSON_INDENT(2));
            printf("%s\n", text ? text : "[]");
            free(text);
            json_decref(list);
        }
    } else {
        if (argc != 3) {
            fprintf(stderr, "farmd token revoke: give exactly one token id\n");
            rc = 2;
        } else {
            int r = store_token_revoke(s, argv[2]);
            if (r == -ENOENT) {
                fprintf(stderr, "farmd token revoke: no token with id %s\n", argv[2]);
                rc = 1;
            } else if (r < 0) {
                fprintf(stderr, "farmd token revoke: %s\n", store_last_error(s));
                rc = 1;
            } else {
                printf("%s %s\n", r ? "revoked" : "already revoked", argv[2]);
            }
        }
    }
    store_close(s);
    return rc;
}
