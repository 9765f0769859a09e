/* ci_job.c — farm.json checks. See ci_job.h. */
#include "ci_job.h"

#include <errno.h>
#include <stdio.h>

int ci_job_check(json_t *j, const char *job_file, char *err, size_t errlen)
{
    json_t *steps = json_object_get(j, "steps");
    json_t *pk = json_object_get(j, "packages");
    const char *bad = NULL;
    if (!json_is_object(j))
        bad = "the job must be a JSON object";
    else if (!json_is_array(pk) || json_array_size(pk) == 0)
        bad = "\"packages\" must be a non-empty array of package names";
    else if (!json_is_array(steps) || json_array_size(steps) == 0)
        bad = "\"steps\" must be a non-empty array";
    else if (json_object_get(j, "limits") && !json_is_object(json_object_get(j, "limits")))
        bad = "\"limits\" must be an object";
    size_t i;
    json_t *s;
    char buf[160];
    json_array_foreach(steps, i, s)
    {
        if (bad)
            break;
        json_t *t = json_object_get(s, "tests");
        if (!json_is_object(s) || !json_is_string(json_object_get(s, "run")))
            snprintf(buf, sizeof buf, "steps[%zu]: needs \"run\": a command", i), bad = buf;
        else if (json_object_get(s, "name") && !json_is_string(json_object_get(s, "name")))
            snprintf(buf, sizeof buf, "steps[%zu].name: must be a string", i), bad = buf;
        else if (t && !json_is_string(t))
            snprintf(buf, sizeof buf, "steps[%zu].tests: must be a directory name", i), bad = buf;
        if (!bad && !json_object_get(s, "name")) {
            char nm[32];
            snprintf(nm, sizeof nm, "step%zu", i + 1);
            json_object_set_new(s, "name", json_string(nm));
        }
    }
    if (bad) {
        snprintf(err, errlen, "%s: %s", job_file, bad);
        return -EINVAL;
    }
    return 0;
}

int ci_job_parse(const char *text, size_t len, const char *job_file, json_t **job, char *err,
                 size_t errlen)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je);
    if (!j) {
        snprintf(err, errlen, "%s:%d:%d: %s", job_file, je.line, je.column, je.text);
        return -EINVAL;
    }
    int r = ci_job_check(j, job_file, err, errlen);
    if (r < 0) {
        json_decref(j);
        return r;
    }
    *job = j;
    return 0;
}

json_t *ci_job_step_limits(const json_t *job, const json_t *step)
{
    json_t *l = json_deep_copy(json_object_get(job, "limits"));
    if (!l)
        l = json_object();
    json_t *own = json_object_get(step, "limits");
    if (l && json_is_object(own))
        json_object_update(l, own);
    return l;
}
