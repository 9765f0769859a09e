/* fuzz_request.c — libFuzzer target: a POST /v1/submissions body through
 * request_parse_body and request_normalize (daemon/request/request*.c), with the
 * source tree's profiles, as the API runs them, over a static package set of
 * the target's own (the machine's dpkg-derived set would be generated on the
 * first input, which takes longer than libFuzzer's per-input timeout). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../common/config.h"
#include "../../daemon/request/profiles.h"
#include "../../daemon/request/request.h"
#include "fuzz.h"

static config *cfg;
static profiles *profs;
static request_opts opts;
static char set_dir[] = "/tmp/farm-fuzz-request-XXXXXX";
static char set_file[64];

static void remove_set(void)
{
    unlink(set_file);
    rmdir(set_dir);
}

/* A static set (a packages.json and no spec.json): names are checked
 * against it. */
static int make_set(char *err, size_t errlen)
{
    if (!mkdtemp(set_dir)) {
        snprintf(err, errlen, "mkdtemp: %m");
        return -1;
    }
    snprintf(set_file, sizeof(set_file), "%s/packages.json", set_dir);
    atexit(remove_set);
    FILE *f = fopen(set_file, "we");
    if (!f) {
        snprintf(err, errlen, "%s: %m", set_file);
        return -1;
    }
    fputs("{\"bash\": {\"version\": \"5.2.15\"}, \"busybox\": {}, \"coreutils\": {}, "
          "\"gcc\": {\"version\": \"12.2.0\"}, \"python3\": {\"version\": \"3.11.2\"}, "
          "\"lua\": {}, \"tcc\": {}, \"java\": {}, \"perl\": {}}",
          f);
    return fclose(f) == 0 ? 0 : -1;
}

static void init(void)
{
    char err[512];
    if (config_new_default(&cfg, err, sizeof(err)) < 0 || make_set(err, sizeof(err)) < 0 ||
        config_set(cfg, "nix.dir", set_dir, err, sizeof(err)) < 0 ||
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
