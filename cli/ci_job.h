/* ci_job.h — the job file of `farm ci` (farm.json, see ci.c for its shape):
 * read from text and checked, apart from files and the sandbox, so it can be
 * fuzzed (tests/fuzz/fuzz_farmjson.c). */
#pragma once

#include <stddef.h>
#include <jansson.h>

/* Parses len bytes of text as the job; job_file names it in errors. 0 with
 * *job (owned; every step has a "name", "stepN" by default), or -EINVAL with
 * a sentence in err. */
int ci_job_parse(const char *text, size_t len, const char *job_file, json_t **job, char *err,
                 size_t errlen);
/* Checks a parsed job (borrowed; names missing step names): 0 or -EINVAL. */
int ci_job_check(json_t *j, const char *job_file, char *err, size_t errlen);
/* Step limits: the job's, then the step's own on top (a new object). */
json_t *ci_job_step_limits(const json_t *job, const json_t *step);
