/* client.c — farm's HTTP client over libcurl (see client.h). */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>

#include "../common/cleanup.h"
#include "cli_util.h"

static char *client_default_config_path(void)
{
    char *p = NULL;
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg) {
        if (asprintf(&p, "%s/farm/config.json", xdg) < 0)
            return NULL;
    } else if (home && *home) {
        if (asprintf(&p, "%s/.config/farm/config.json", home) < 0)
            return NULL;
    }
    return p;
}

int client_init(farm_client *c, const char *server_flag, const char *token_flag,
                const char *config_path, char *err, size_t errlen)
{
    const char *server = server_flag;
    const char *token = token_flag;
    if (!server)
        server = getenv("FARM_URL");
    if (!token)
        token = getenv("FARM_TOKEN");
    _cleanup_json_ json_t *file = NULL;
    _cleanup_free_ char *def = config_path ? NULL : client_default_config_path();
    const char *path = config_path ? config_path : def;
    if (path && (config_path || access(path, F_OK) == 0)) {
        json_error_t je;
        file = json_load_file(path, 0, &je);
        if (!file || !json_is_object(file)) {
            snprintf(err, errlen, "%s:%d: %s", path, je.line,
                     file ? "must hold a JSON object" : je.text);
            return -EINVAL;
        }
        if (!server)
            server = json_string_value(json_object_get(file, "server"));
        if (!token)
            token = json_string_value(json_object_get(file, "token"));
    }
    if (!server || !*server)
        server = "http://127.0.0.1:8080";
    c->server = strdup(server);
    if (!c->server)
        return -ENOMEM;
    size_t n = strlen(c->server);
    while (n > 0 && c->server[n - 1] == '/')
        c->server[--n] = '\0';
    if (!strstr(c->server, "://")) {
        /* "host:8080" is what people type; http is the farm's default. */
        char *full = NULL;
        if (asprintf(&full, "http://%s", c->server) < 0)
            return -ENOMEM;
        free(c->server);
        c->server = full;
    }
    c->token = token && *token ? strdup(token) : NULL;
    c->tty = isatty(STDOUT_FILENO);
    const char *nc = getenv("NO_COLOR");
    c->color = c->tty && !(nc && *nc) && !c->json;
    return 0;
}

void client_done(farm_client *c)
{
    free(c->server);
    free(c->token);
    c->server = c->token = NULL;
}

typedef struct {
    char *buf;
    size_t len;
    size_t max;
} client_buf;

static size_t client_collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
    client_buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > b->max)
        return 0;
    char *nb = realloc(b->buf, b->len + n + 1);
    if (!nb)
        return 0;
    memcpy(nb + b->len, ptr, n);
    b->buf = nb;
    b->len += n;
    b->buf[b->len] = '\0';
    return n;
}

static inline void client_easy_cleanupp(CURL **c)
{
    if (*c)
        curl_easy_cleanup(*c);
}
static inline void client_slist_freep(struct curl_slist **l)
{
    curl_slist_free_all(*l);
}

static CURL *client_easy(const farm_client *c, const char *method, const char *path,
                         struct curl_slist **hdrs, char *ebuf)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    _cleanup_free_ char *url = NULL;
    if (asprintf(&url, "%s%s", c->server, path) < 0) {
        curl_easy_cleanup(h);
        return NULL;
    }
    curl_easy_setopt(h, CURLOPT_URL, url); /* curl copies the string */
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "farm/" FARM_CLI_VERSION);
    *hdrs = curl_slist_append(*hdrs, "Accept: application/json");
    if (c->token) {
        char line[1024];
        snprintf(line, sizeof line, "Authorization: Bearer %s", c->token);
        *hdrs = curl_slist_append(*hdrs, line);
    }
    return h;
}

static int client_curl_errno(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -EHOSTUNREACH;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    default:
        return -EIO;
    }
}

static int client_perform(const farm_client *c, const char *method, const char *path,
                          const char *body, long timeout_ms, long *status, client_buf *out,
                          char *err, size_t errlen)
{
    char ebuf[CURL_ERROR_SIZE] = "";
    _cleanup_(client_slist_freep) struct curl_slist *hdrs = NULL;
    _cleanup_(client_easy_cleanupp) CURL *h = client_easy(c, method, path, &hdrs, ebuf);
    if (!h)
        return -ENOMEM;
    if (body) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, client_collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    if (timeout_ms > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s %s: %s", method, c->server,
                 ebuf[0] ? ebuf : curl_easy_strerror(rc));
        return client_curl_errno(rc);
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

int client_request(const farm_client *c, const char *method, const char *path, json_t *body,
                   long timeout_ms, long *status, json_t **out, char *err, size_t errlen)
{
    _cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !text)
        return -ENOMEM;
    client_buf b = {.max = 512u << 20};
    int r = client_perform(c, method, path, text, timeout_ms, status, &b, err, errlen);
    if (r < 0) {
        free(b.buf);
        return r;
    }
    json_t *j = b.buf ? json_loads(b.buf, JSON_DECODE_ANY, NULL) : NULL;
    if (!j)
        j = json_string(b.buf ? b.buf : "");
    if (!j)
        j = json_null();
    free(b.buf);
    *out = j;
    return 0;
}

int client_get_text(const farm_client *c, const char *path, long *status, char **text, char *err,
                    size_t errlen)
{
    client_buf b = {.max = 512u << 20};
    int r = client_perform(c, "GET", path, NULL, 0, status, &b, err, errlen);
    if (r < 0) {
        free(b.buf);
        return r;
    }
    *text = b.buf ? b.buf : strdup("");
    return *text ? 0 : -ENOMEM;
}

/* ---- server-sent events ---------------------------------------------------- */

typedef struct {
    client_sse_cb cb;
    void *ud;
    char *line; /* partial line */
    size_t line_len;
    char event[64];
    char *data;
    size_t data_len;
    bool stopped;
    CURL *h;
    bool checked_status;
    long status;
} client_sse_state;

static void client_sse_dispatch(client_sse_state *s)
{
    if (s->data || s->event[0]) {
        if (s->cb(s->event[0] ? s->event : "message", s->data ? s->data : "", s->ud))
            s->stopped = true;
    }
    free(s->data);
    s->data = NULL;
    s->data_len = 0;
    s->event[0] = '\0';
}

static void client_sse_line(client_sse_state *s, char *line)
{
    size_t n = strlen(line);
    if (n && line[n - 1] == '\r')
        line[--n] = '\0';
    if (n == 0) {
        client_sse_dispatch(s);
        return;
    }
    if (line[0] == ':')
        return; /* comment / keep-alive */
    char *colon = strchr(line, ':');
    const char *val = "";
    if (colon) {
        *colon = '\0';
        val = colon + 1;
        if (*val == ' ')
            val++;
    }
    if (strcmp(line, "event") == 0) {
        snprintf(s->event, sizeof s->event, "%s", val);
    } else if (strcmp(line, "data") == 0) {
        size_t vl = strlen(val);
        char *nd = realloc(s->data, s->data_len + vl + 2);
        if (!nd)
            return;
        if (s->data_len)
            nd[s->data_len++] = '\n';
        memcpy(nd + s->data_len, val, vl + 1);
        s->data = nd;
        s->data_len += vl;
    }
}

static size_t client_sse_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    client_sse_state *s = ud;
    size_t n = size * nmemb;
    if (!s->checked_status) {
        s->checked_status = true;
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
        if (s->status != 200) /* an error body: collect nothing, stop */
            return 0;
    }
    for (size_t i = 0; i < n && !s->stopped; i++) {
        if (ptr[i] == '\n') {
            char *nl = realloc(s->line, s->line_len + 1);
            if (!nl)
                return 0;
            nl[s->line_len] = '\0';
            s->line = nl;
            client_sse_line(s, s->line);
            s->line_len = 0;
            continue;
        }
        if (s->line_len > (1u << 26))
            return 0;
        char *nl = realloc(s->line, s->line_len + 2);
        if (!nl)
            return 0;
        nl[s->line_len++] = ptr[i];
        s->line = nl;
    }
    return s->stopped ? 0 : n;
}

/* libcurl calls this about once a second while the stream is open, even when
 * nothing arrives: the caller redraws its progress line (event NULL). */
static int client_sse_tick(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    client_sse_state *s = ud;
    if (!s->stopped && s->cb(NULL, NULL, s->ud))
        s->stopped = true;
    return s->stopped ? 1 : 0;
}

int client_sse(const farm_client *c, const char *path, client_sse_cb cb, void *userdata,
               long *status, char *err, size_t errlen)
{
    char ebuf[CURL_ERROR_SIZE] = "";
    _cleanup_(client_slist_freep) struct curl_slist *hdrs = NULL;
    _cleanup_(client_easy_cleanupp) CURL *h = client_easy(c, "GET", path, &hdrs, ebuf);
    if (!h)
        return -ENOMEM;
    hdrs = curl_slist_append(hdrs, "Accept: text/event-stream");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    client_sse_state s = {.cb = cb, .ud = userdata, .h = h};
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, client_sse_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, client_sse_tick);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &s);
    CURLcode rc = curl_easy_perform(h);
    if (!s.checked_status)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &s.status);
    /* A last event without its blank line still counts. */
    if (!s.stopped && rc == CURLE_OK) {
        if (s.line_len) {
            char *nl = realloc(s.line, s.line_len + 1);
            if (nl) {
                nl[s.line_len] = '\0';
                s.line = nl;
                client_sse_line(&s, s.line);
            }
        }
        client_sse_dispatch(&s);
    }
    free(s.line);
    free(s.data);
    *status = s.status;
    if (s.status == 404 || s.status == 405 || s.status == 501)
        return -ENOTSUP;
    if (s.stopped)
        return 0;
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && s.status != 200)) {
        snprintf(err, errlen, "GET %s%s: %s", c->server, path,
                 ebuf[0] ? ebuf : curl_easy_strerror(rc));
        return client_curl_errno(rc);
    }
    if (s.status != 200) {
        snprintf(err, errlen, "GET %s%s: HTTP %ld", c->server, path, s.status);
        return -EIO;
    }
    return 0;
}

char *client_error_text(long status, const json_t *body)
{
    char *out = NULL;
    json_t *e = json_object_get(body, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *field = json_string_value(json_object_get(e, "field"));
    const char *code = json_string_value(json_object_get(e, "code"));
    int r;
    if (msg && field)
        r = asprintf(&out, "%s (HTTP %ld, %s, field %s)", msg, status, code ? code : "error",
                     field);
    else if (msg)
        r = asprintf(&out, "%s (HTTP %ld%s%s)", msg, status, code ? ", " : "", code ? code : "");
    else if (json_is_string(body) && *json_string_value(body))
        r = asprintf(&out, "HTTP %ld: %.200s", status, json_string_value(body));
    else
        r = asprintf(&out, "HTTP %ld", status);
    return r < 0 ? NULL : out;
}
