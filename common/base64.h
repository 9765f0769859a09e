/* base64.h — base64 through OpenSSL's libcrypto (EVP_EncodeBlock /
 * EVP_DecodeBlock), for file contents and outputs in JSON. */
#pragma once

#include <stddef.h>

/* Standard alphabet with padding, no line breaks. Returns a malloc'd,
 * NUL-terminated string the caller frees, or NULL when out of memory. */
char *base64_encode(const void *data, size_t len);

/* Strict decoding of what clients send: the standard or the URL-safe
 * alphabet, padding optional, line breaks ignored; any other character, '='
 * before the end, or a length no whole bytes can make is -EINVAL. On success
 * *out is malloc'd (the caller frees it; one spare NUL byte follows the data)
 * and *outlen its length. -ENOMEM when out of memory. */
int base64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);
