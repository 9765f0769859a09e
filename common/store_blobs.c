/* store_blobs.c — content-addressed blobs: file contents, stdin, expected
 * outputs. The key is the SHA-256 of the bytes, so identical inputs of a
 * thousand submissions are stored once (INSERT OR IGNORE). */
#include "store_internal.h"

#include <errno.h>
#include <string.h>

#include "hash.h"

static bool store_is_sha256_hex(const char *h)
{
    if (strlen(h) != HASH_HEX_LEN)
        return false;
    for (; *h; h++)
        if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
            return false;
    return true;
}

/* Inside or outside a transaction. A caller-given sha256 is trusted only after
 * checking it against the data: a wrong key would poison the dedup forever. */
int store_blob_put(store *s, store_blob *b)
{
    if (!b || (!b->data && b->len))
        return -EINVAL;
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(b->data ? b->data : "", b->len, hex);
    if (b->sha256[0] && strcmp(b->sha256, hex) != 0) {
        return store_set_error(s, -EBADMSG, "blob sha256 %.64s does not match its content",
                               b->sha256);
    }
    memcpy(b->sha256, hex, sizeof(hex));
    _cleanup_stmt_ db_stmt *st = store_stmt(s, "INSERT INTO blobs (sha256, size, data, created_at) "
                                               "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING");
    if (!st)
        return store_err(s);
    db_bind_text(st, 1, b->sha256);
    db_bind_int64(st, 2, (int64_t)b->len);
    db_bind_blob(st, 3, b->data, b->len);
    db_bind_int64(st, 4, store_now_ms());
    int rc = db_step(st);
    if (rc != DB_DONE)
        return store_fail(s, rc);
    return db_changes(s->db) > 0 ? 1 : 0;
}

int store_blob_get(store *s, const char *sha256, void **data, size_t *len)
{
    if (!sha256 || !store_is_sha256_hex(sha256))
        return -EINVAL;
    _cleanup_stmt_ db_stmt *st = NULL;
    int rc = store_row_by_key(s, "SELECT data FROM blobs WHERE sha256 = ?1", sha256, &st);
    if (rc < 0)
        return rc;
    size_t n = 0;
    const void *p = db_col_blob(st, 0, &n);
    char *copy = malloc(n + 1);
    if (!copy)
        return -ENOMEM;
    if (n)
        memcpy(copy, p, n);
    copy[n] = '\0';
    *data = copy;
    if (len)
        *len = n;
    return 0;
}
