/* names.c — defaults, names of enums, and freeing results. */
#include "sandbox.h"

#include <stdlib.h>
#include <string.h>

void sandbox_config_init(struct sandbox_config *c)
{
    memset(c, 0, sizeof *c);
    c->cwd = "/box";
    c->store_root = "/";
    c->stdin_kind = SANDBOX_STDIN_NULL;
    c->stdin_fd = -1;
    c->hostname = "sandbox";
}

void sandbox_result_free(struct sandbox_result *r)
{
    if (!r)
        return;
    free(r->stdout_buf);
    free(r->stderr_buf);
    free(r->order);
    memset(r, 0, sizeof *r);
}

const char *sandbox_status_name(enum sandbox_status s)
{
    switch (s) {
    case SANDBOX_OK:
        return "ok";
    case SANDBOX_PROGRAM_FAILED:
        return "failed";
    case SANDBOX_INTERNAL_ERROR:
        return "internal";
    default:
        return "unknown";
    }
}

const char *sandbox_limit_name(enum sandbox_limit l)
{
    switch (l) {
    case SANDBOX_LIMIT_NONE:
        return "none";
    case SANDBOX_LIMIT_CPU:
        return "cpu";
    case SANDBOX_LIMIT_WALL:
        return "wall";
    case SANDBOX_LIMIT_MEMORY:
        return "memory";
    case SANDBOX_LIMIT_OUTPUT:
        return "output";
    case SANDBOX_LIMIT_FILE_SIZE:
        return "file_size";
    case SANDBOX_LIMIT_PROCESSES:
        return "processes";
    default:
        return "unknown";
    }
}

const char *sandbox_accounting_name(enum sandbox_accounting a)
{
    switch (a) {
    case SANDBOX_ACCT_AUTO:
        return "auto";
    case SANDBOX_ACCT_CGROUP_V2:
        return "cgroup-v2";
    case SANDBOX_ACCT_CGROUP_V1:
        return "cgroup-v1";
    case SANDBOX_ACCT_RLIMITS:
        return "rlimits";
    default:
        return "unknown";
    }
}
