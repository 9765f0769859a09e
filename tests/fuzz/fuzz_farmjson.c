/* fuzz_farmjson.c — libFuzzer target: a farm.json job through ci_job_parse
 * (cli/ci_job.c) and the limits of every step. */
#include <stddef.h>
#include <stdint.h>

#include "../../cli/ci_job.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    json_t *job = NULL;
    if (ci_job_parse((const char *)data, size, "farm.json", &job, err, sizeof(err)) < 0)
        return 0;
    size_t i;
    json_t *step;
    json_array_foreach(json_object_get(job, "steps"), i, step)
    {
        json_t *l = ci_job_step_limits(job, step);
        json_decref(l);
    }
    json_decref(job);
    return 0;
}
