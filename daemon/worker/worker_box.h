/* box.h — filling a submission's box directory: the request's files from
 * blobs, or a git checkout.
 *
 * The box itself (a directory under <state_dir>/boxes/, with its byte cap) is
 * made and removed by the sandbox library; this file only writes into it. Names
 * come from the API already checked, but the worker checks again (no absolute
 * path, no "." or ".." component, no empty component) and writes with
 * O_NOFOLLOW below a directory fd, so a bad row (or a symlink a git checkout
 * left) can never make the worker write outside the box. A request file
 * replaces a regular file of the same name from a git checkout. Files are 0644 (0755 when
 * "executable"), directories 0755. */
#pragma once

#include <stddef.h>
#include <jansson.h>
#include "../../common/config.h"
#include "worker_source.h"

/* Writes every {name, blob, executable} of files (a JSON array, may be NULL)
 * into box_dir, reading contents from the worker's source (the store, or a
 * remote farm). 0 or -errno with err naming
 * the file. */
int box_write_files(worker_source *src, const char *box_dir, const json_t *files, char *err,
                    size_t errlen);

/* Checks out request.source.git ({url, rev, subdir}) into box_dir with
 * common/gitsrc.h; its errors (gitsrc.h) with err naming the URL or rev. */
int box_checkout_git(const config *cfg, const char *box_dir, const json_t *git, long long max_bytes,
                     char *err, size_t errlen);

/* True when name is a safe relative path (see above). */
int box_name_ok(const char *name);

/* Writes data to a new file path (O_EXCL) outside any box, e.g. a test's stdin
 * file. 0 or -errno. */
int box_write_file(const char *path, const void *data, size_t len, int mode);
