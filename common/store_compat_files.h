/* store_compat_files.h — files uploaded to a compatibility front under the
 * client's own id (Jobe: PUT /files/{id}), kept as blobs with an expiry.
 * schema/060_compat_files.sql has the table and the policy. */
#pragma once

#include <stdint.h>

#include "store.h"

/* Stores b (blob put, sha256 filled) and names it (front, id) until now +
 * ttl_ms, replacing an earlier file of that id; expired rows of every front
 * are deleted in the same transaction. 0 or < 0. */
int store_compat_file_put(store *s, const char *front, const char *id, store_blob *b,
                          int64_t ttl_ms);
/* 1 with sha256_out filled when (front, id) names a file that has not
 * expired, 0 when not; when ttl_ms > 0 the expiry is pushed to now + ttl_ms. */
int store_compat_file_get(store *s, const char *front, const char *id, int64_t ttl_ms,
                          char sha256_out[65]);
