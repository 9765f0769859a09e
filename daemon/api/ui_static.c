/* ui_static.c — serves the dashboard's files (ui/ in the repository: plain
 * HTML, CSS and JavaScript, no build step) at /ui/.
 *
 * The directory is ui.dir, by default the source tree's ui/ (as
 * api.profiles.file defaults to the source tree's profiles.json), else the
 * installed copy. Only plain file names of that one flat directory are
 * served: no sub-paths, nothing starting with a dot, so no request reaches
 * a file outside it. Every answer carries a strict Content-Security-Policy:
 * scripts and styles only from this origin (no inline script or style
 * element), calls only to this origin, no framing. */
#include "api_dashboard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "farm-build-config.h"
#include "../../common/cleanup.h"
#include "../../common/log.h"

#ifndef FARM_UI_INSTALL_DIR
#define FARM_UI_INSTALL_DIR "/usr/local/share/nixfarm/ui"
#endif

#define UI_FILE_MAX (8 * 1024 * 1024)

static const char ui_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

static const struct {
    const char *ext;
    const char *type;
} ui_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".txt", "text/plain; charset=utf-8"},
    {".json", "application/json"},
};

/* The directory the files come from (see the top of the file). */
static const char *ui_dir(const config *cfg, char *buf, size_t len)
{
    const char *d = config_str(cfg, "ui.dir");
    if (d && *d)
        return d;
    snprintf(buf, len, "%s/ui", FARM_SOURCE_ROOT);
    struct stat sb;
    if (stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode))
        return buf;
    return FARM_UI_INSTALL_DIR;
}

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(ui_types) / sizeof(*ui_types); i++)
        if (!strcmp(dot, ui_types[i].ext))
            return ui_types[i].type;
    return NULL;
}

static bool name_ok(const char *name)
{
    if (!*name || name[0] == '.')
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == '_'))
            return false;
    return true;
}

static enum MHD_Result serve(api_call *c, const char *name)
{
    const char *type = type_of(name);
    if (!name_ok(name) || !type)
        return http_reply_error(c->req, 404, "not_found", NULL, "no such file in the dashboard");
    char dbuf[4096], path[4200];
    snprintf(path, sizeof(path), "%s/%s", ui_dir(c->ctx->cfg, dbuf, sizeof(dbuf)), name);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > UI_FILE_MAX) {
        if (fd < 0 && errno != ENOENT)
            log_warn("ui-file-unreadable path=%s error=\"%s\"", path, strerror(errno));
        return http_reply_error(c->req, 404, "not_found", NULL, "no such file in the dashboard");
    }
    size_t len = (size_t)sb.st_size, got = 0;
    _cleanup_free_ char *buf = malloc(len ? len : 1);
    if (!buf)
        return http_reply_error(c->req, 500, "internal", NULL, "out of memory");
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0) {
            log_warn("ui-file-read-failed path=%s error=\"%s\"", path,
                     n < 0 ? strerror(errno) : "short read");
            return http_reply_error(c->req, 500, "internal", NULL, "cannot read %s", name);
        }
        got += (size_t)n;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (!resp)
        return MHD_NO;
    buf = NULL; /* the response owns it now */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "Content-Security-Policy", ui_csp);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    return http_reply_response(c->req, 200, resp);
}

enum MHD_Result ui_static_index(api_call *c)
{
    return serve(c, "index.html");
}

enum MHD_Result ui_static_file(api_call *c)
{
    return serve(c, c->param);
}
