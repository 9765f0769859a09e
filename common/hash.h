/* hash.h — SHA-256 and HMAC-SHA256 through OpenSSL's libcrypto, hex-encoded. */
#pragma once

#include <stddef.h>

#define HASH_HEX_LEN 64 /* characters, without the NUL */

/* hex must hold HASH_HEX_LEN + 1 bytes. */
void hash_sha256_hex(const void *data, size_t len, char hex[HASH_HEX_LEN + 1]);
/* Incremental form for canonical keys built from several parts. */
typedef struct hash_ctx hash_ctx;
hash_ctx *hash_new(void);
void hash_update(hash_ctx *h, const void *data, size_t len);
void hash_final_hex(hash_ctx *h, char hex[HASH_HEX_LEN + 1]); /* frees h */
void hash_hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len,
                          char hex[HASH_HEX_LEN + 1]);
/* Fills buf with n cryptographically random bytes; 0 or -errno. */
int hash_random_bytes(void *buf, size_t n);
/* A random id of 32 hex characters (128 bits), for submissions and tokens. */
int hash_random_id(char out[33]);
