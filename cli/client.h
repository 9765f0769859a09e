/* client.h — how `farm` talks to a farmd: where, as whom, and over libcurl.
 *
 * Server and token come from, in this order (first wins): --server/--token,
 * FARM_URL/FARM_TOKEN, the config file (--config, else
 * $XDG_CONFIG_HOME/farm/config.json, else ~/.config/farm/config.json:
 * {"server": "http://host:8080", "token": "..."}), then the default
 * http://127.0.0.1:8080 with no token. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

typedef struct {
    char *server; /* base URL, no trailing slash; owned */
    char *token;  /* owned; NULL when none */
    bool json;    /* --json: machine-readable output only */
    bool tty;     /* stdout is a terminal (progress line, table) */
    bool color;   /* tty and NO_COLOR unset */
    bool quiet;
} farm_client;

/* Fills c from flags (may be NULL), environment and the config file.
 * 0 or -errno with err (e.g. a config file that is not JSON). */
int client_init(farm_client *c, const char *server_flag, const char *token_flag,
                const char *config_path, char *err, size_t errlen);
void client_done(farm_client *c);

/* One request. body may be NULL. On an HTTP answer returns 0 with *status and
 * *out (parsed JSON, or a JSON string holding the text when the answer is not
 * JSON; new reference). Returns -EHOSTUNREACH (cannot connect), -ETIMEDOUT,
 * -EIO with err when there was no answer. timeout_ms 0: none. */
int client_request(const farm_client *c, const char *method, const char *path, json_t *body,
                   long timeout_ms, long *status, json_t **out, char *err, size_t errlen);

/* A plain-text GET (JUnit, metrics): *text malloc'd. Same returns. */
int client_get_text(const farm_client *c, const char *path, long *status, char **text, char *err,
                    size_t errlen);

/* Server-sent events: calls cb for every event (type "message" when the
 * server names none; data is the joined data lines), and about once a second
 * with event and data NULL (a tick, for progress lines). cb returns nonzero
 * to stop listening. Returns 0 when the stream ended or cb stopped it, -ENOTSUP
 * when the server has no such stream (404/405), other -errno as above. */
typedef int (*client_sse_cb)(const char *event, const char *data, void *userdata);
int client_sse(const farm_client *c, const char *path, client_sse_cb cb, void *userdata,
               long *status, char *err, size_t errlen);

/* The sentence of an error answer {"error": {"code", "message", "field"}},
 * or a short form of whatever came back. Caller frees. */
char *client_error_text(long status, const json_t *body);
