/* fsutil.h — small file-system and error-buffer helpers every process needs.
 *
 * They exist once here so the store, the builder, the worker, git sources and
 * the CLI do not each carry their own copy. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p: makes path and its missing parents with mode (existing ones are
 * left as they are). 0 or -errno. */
int fsutil_mkdir_p(const char *path, mode_t mode);

/* Writes the whole buffer, retrying on short writes and EINTR. 0 or -errno. */
int fsutil_write_all(int fd, const void *data, size_t len);

/* rm -rf that never follows a symbolic link (nftw FTW_PHYS, depth first):
 * removes path and everything below it. Best effort: what cannot be removed
 * stays. 0, or -errno when the walk itself failed (path missing). */
int fsutil_rm_rf(const char *path);

/* printf into a caller's error buffer; a NULL buffer or errlen 0 is skipped,
 * as anet's anetSetError does. */
void errbuf_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
