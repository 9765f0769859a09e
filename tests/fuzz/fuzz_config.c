/* fuzz_config.c — libFuzzer target: a config file's text through
 * config_load_text (common/config.c), then every key read back and dumped. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../common/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    config *c = NULL;
    if (config_load_text((const char *)data, size, "fuzz.json", &c, err, sizeof(err)) < 0)
        return 0;
    json_t *d = config_dump(c);
    if (!d)
        abort();
    char *p = config_state_path(c, "git");
    free(p);
    json_decref(d);
    config_free(c);
    return 0;
}
