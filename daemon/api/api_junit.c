/* junit.c — the JUnit endpoint (see junit.h). */
#include "api_junit.h"

#include <errno.h>
#include <stdlib.h>

#include "../../common/cleanup.h"
#include "../../common/jsonutil.h"
#include "../../common/junit.h"

static inline void junit_docp(junit_doc **d)
{
    junit_free(*d);
}

enum MHD_Result junit_handler(api_call *c)
{
    _cleanup_json_ json_t *view = NULL;
    int r = api_submission_view(c->st, c->param, &view);
    if (r < 0 || !view)
        return api_store_error(c, r < 0 ? r : -ENOMEM, "submission");
    _cleanup_(junit_docp) junit_doc *d = junit_new("nixfarm");
    if (!d || junit_add_submission(d, c->param, view) < 0)
        return http_reply_error(c->req, 500, "internal", NULL, "out of memory");
    _cleanup_free_ char *xml = junit_render(d);
    if (!xml)
        return http_reply_error(c->req, 500, "internal", NULL, "out of memory");
    return http_reply_text(c->req, 200, "application/xml; charset=utf-8", xml);
}
