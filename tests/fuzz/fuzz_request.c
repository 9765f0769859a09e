/* fuzz_request.c — libFuzzer target: a POST /v1/submissions body through
 * request_parse_body and request_normalize (daemon/request*.c), with the
 * source tree's profiles and package set, as the API runs them. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../common/config.h"
#include "../../daemon/profiles.h"
#include "../../daemon/request.h"
#include "fuzz.h"

static config *cfg;
static profiles *profs;
static request_opts opts;

static void init(void)
{
    char err[512];
    if (config_new_default(&cfg, err, sizeof(err)) < 0 ||
        profiles_load(cfg, &profs, err, sizeof(err)) < 0) {
        fprintf(stderr, "fuzz_request: %s\n", err);
        abort();
    }
    request_opts_from_config(&opts, cfg);
    opts.profiles = profs;
    opts.pkgset_id = "fuzz";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cfg)
        init();
    json_t *in = NULL;
    request_error e;
    if (request_parse_body((const char *)data, size, &in, &e) < 0)
        return 0;
    for (int expr = 0; expr < 2; expr++) {
        request_opts o = opts;
        o.allow_expr = expr;
        request_norm n;
        if (request_normalize(&o, in, &n, &e) == 0)
            request_norm_done(&n);
    }
    json_decref(in);
    return 0;
}
