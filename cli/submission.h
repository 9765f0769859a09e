/* submission.h — building a submission request (docs/api.yaml shape) from the
 * command line or a CI job, and following one to its end. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "client.h"

/* Adds a file, or every regular file under a directory (recursively, skipping
 * .git), to files as {"name", "content", "encoding"[, "executable"]}. name is
 * the path relative to base (base NULL: the file's basename, or the directory's
 * contents at the top). 0 or -errno with err naming the path. */
int submission_add_path(json_t *files, const char *path, const char *base, char *err,
                        size_t errlen);

/* Adds one test per NAME.in (stdin) and/or NAME.out (expected output) in dir,
 * sorted by NAME. 0, -ENOENT (no pairs: err says so) or -errno. */
int submission_add_tests_dir(json_t *tests, const char *dir, char *err, size_t errlen);

/* Posts req; on 202 returns 0 with id (33 bytes). Errors print nothing; they
 * return an exit code (> 0, FARM_EXIT_*) with err filled. */
int submission_post(const farm_client *c, json_t *req, char id[33], char *err, size_t errlen);

/* Follows a submission to its end: the events stream when the server has one
 * (live progress on a terminal), else polling. *view gets the final GET view.
 * Returns 0, or an exit code with err filled. */
int submission_follow(const farm_client *c, const char *id, int n_tests, json_t **view, char *err,
                      size_t errlen);

/* GET /v1/submissions/{id}; 0 or an exit code with err. */
int submission_get(const farm_client *c, const char *id, json_t **view, char *err, size_t errlen);

/* The FARM_EXIT_* for an HTTP failure status or a transport error (<0). */
int submission_exit_for(long status, int r);
