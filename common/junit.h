/* junit.h — JUnit XML from submission results, for CI systems.
 *
 * The format is the de-facto one that Jenkins, GitLab, GitHub Actions
 * reporters and Azure Pipelines read: <testsuites> of <testsuite> of
 * <testcase>, a failed case holding <failure type message>, a case we could
 * not run holding <error>, a cancelled one <skipped/>, outputs in
 * <system-out>/<system-err>. One submission is one testsuite; `farm ci` adds
 * one suite per step.
 *
 * Mapping of a submission (its GET view: state, verdict, compile, tests, error):
 *   every test          -> a testcase named after the test; accepted passes,
 *                          internal_error is an <error>, other verdicts a
 *                          <failure type="<verdict>">
 *   compile_error       -> a testcase "compile" with <failure type="compile_error">
 *   deps_failed         -> a testcase "dependencies" with <error>
 *   internal_error      -> a testcase "farm" with <error> (when no test says more)
 *   cancelled           -> the tests not run are <skipped/>
 * Text is escaped for XML 1.0; characters XML cannot carry at all (most
 * control characters, invalid UTF-8) become U+FFFD, so any parser accepts the
 * file. Pure code: no I/O, jansson only, so it lives in common/: farmd's
 * GET /v1/submissions/{id}/junit (daemon/api/api_junit.c) and `farm ci` (cli/) both
 * render through it. */
#pragma once

#include <stdbool.h>
#include <jansson.h>

typedef struct junit_doc junit_doc;

junit_doc *junit_new(const char *name);
void junit_free(junit_doc *d);

/* Adds one testsuite named suite from a submission view (borrowed). 0 or -ENOMEM. */
int junit_add_submission(junit_doc *d, const char *suite, const json_t *view);

/* Adds one testcase to suite (created on first use). kind: NULL or "" passed,
 * "failure", "error" or "skipped"; type/message describe it. stdout_text and
 * stderr_text may be NULL. */
int junit_add_case(junit_doc *d, const char *suite, const char *name, double seconds,
                   const char *kind, const char *type, const char *message, const char *stdout_text,
                   const char *stderr_text);

/* Totals over every suite. */
int junit_count(const junit_doc *d, int *tests, int *failures, int *errors, int *skipped);

/* The XML document (malloc'd, caller frees), or NULL when out of memory. */
char *junit_render(const junit_doc *d);
