/* base64.c — see base64.h. OpenSSL does the coding; this file only adapts
 * lengths (EVP takes int) and the alphabet and padding clients may use. */
#include "base64.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "cleanup.h"

/* Multiple of 3 (encode) and of 4 (decode) so chunks join seamlessly. */
#define BASE64_CHUNK_BYTES ((size_t)3 * 1024 * 1024)
#define BASE64_CHUNK_CHARS ((size_t)4 * 1024 * 1024)

char *base64_encode(const void *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    size_t done = 0, o = 0;

    if (!out)
        return NULL;
    while (done < len) {
        size_t chunk = len - done > BASE64_CHUNK_BYTES ? BASE64_CHUNK_BYTES : len - done;
        o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, (const unsigned char *)data + done,
                                     (int)chunk);
        done += chunk;
    }
    out[o] = '\0';
    return out;
}

static bool base64_is_alphabet(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int base64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
    /* Normalise to what EVP_DecodeBlock takes: standard alphabet, no line
     * breaks, padded to a multiple of 4. */
    _cleanup_free_ unsigned char *norm = malloc(len + 4);
    size_t n = 0, pad = 0;

    if (!norm)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\n' || c == '\r')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        if (pad || !base64_is_alphabet(c))
            return -EINVAL;
        norm[n++] = c;
    }
    /* One leftover character can never come from whole bytes; neither can
     * more padding than a final group holds. */
    if (n % 4 == 1 || pad > 2 || (pad && (n + pad) % 4 != 0))
        return -EINVAL;
    size_t tail = (4 - n % 4) % 4;
    for (size_t i = 0; i < tail; i++)
        norm[n + i] = '=';
    size_t total = n + tail;

    unsigned char *buf = malloc(total / 4 * 3 + 1);
    size_t o = 0;
    if (!buf)
        return -ENOMEM;
    for (size_t done = 0; done < total;) {
        size_t chunk = total - done > BASE64_CHUNK_CHARS ? BASE64_CHUNK_CHARS : total - done;
        int got = EVP_DecodeBlock(buf + o, norm + done, (int)chunk);
        if (got < 0) {
            free(buf);
            return -EINVAL;
        }
        o += (size_t)got;
        done += chunk;
    }
    /* EVP_DecodeBlock counts the zero bytes that padding stands for. */
    o -= tail == 0 ? 0 : tail;
    buf[o] = '\0';
    *out = buf;
    *outlen = o;
    return 0;
}
