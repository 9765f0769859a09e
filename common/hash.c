/* hash.c — SHA-256, HMAC-SHA256 and random bytes through OpenSSL's libcrypto.
 * Never hand-rolled: EVP for digests, HMAC() for MACs, RAND_bytes for ids. */
#include "hash.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

struct hash_ctx {
    EVP_MD_CTX *md;
};

static void hash_hex(const unsigned char *d, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * n] = '\0';
}

void hash_sha256_hex(const void *data, size_t len, char hex[HASH_HEX_LEN + 1])
{
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_Digest(data, len, d, &dl, EVP_sha256(), NULL);
    hash_hex(d, 32, hex);
}

hash_ctx *hash_new(void)
{
    hash_ctx *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->md = EVP_MD_CTX_new();
    if (!h->md || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h->md);
        free(h);
        return NULL;
    }
    return h;
}

void hash_update(hash_ctx *h, const void *data, size_t len)
{
    if (h && len)
        EVP_DigestUpdate(h->md, data, len);
}

void hash_final_hex(hash_ctx *h, char hex[HASH_HEX_LEN + 1])
{
    unsigned char d[32];
    unsigned int dl = 0;
    if (!h) {
        hex[0] = '\0';
        return;
    }
    EVP_DigestFinal_ex(h->md, d, &dl);
    hash_hex(d, 32, hex);
    EVP_MD_CTX_free(h->md);
    free(h);
}

void hash_hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len,
                          char hex[HASH_HEX_LEN + 1])
{
    unsigned char d[32];
    unsigned int dl = 0;
    static const unsigned char empty = 0;
    HMAC(EVP_sha256(), key ? key : &empty, (int)keylen, data ? data : &empty, len, d, &dl);
    hash_hex(d, 32, hex);
}

int hash_random_bytes(void *buf, size_t n)
{
    if (n > INT32_MAX)
        return -EINVAL;
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -EIO;
}

int hash_random_id(char out[33])
{
    unsigned char b[16];
    int r = hash_random_bytes(b, sizeof(b));
    if (r < 0)
        return r;
    hash_hex(b, sizeof(b), out);
    return 0;
}
