/* webhook_addr.c — callback URL checks against SSRF (see webhook_addr.h). */
#include "webhook_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

static inline void webhook_curlu_freep(CURLU **u)
{
    curl_url_cleanup(*u);
}
static inline void webhook_curlfreep(char **p)
{
    curl_free(*p);
}
static inline void webhook_addrinfo_freep(struct addrinfo **ai)
{
    if (*ai)
        freeaddrinfo(*ai);
}

/* a (host order) within net/bits */
static bool webhook_in4(uint32_t a, uint32_t net, int bits)
{
    uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
    return (a & mask) == (net & mask);
}

static bool webhook_v4_public(uint32_t a)
{
    static const struct {
        uint32_t net;
        int bits;
    } refused[] = {
        {0x00000000, 8},  /* "this" network */
        {0x0a000000, 8},  /* 10/8 private */
        {0x64400000, 10}, /* 100.64/10 CGNAT */
        {0x7f000000, 8},  /* loopback */
        {0xa9fe0000, 16}, /* 169.254/16 link-local (cloud metadata) */
        {0xac100000, 12}, /* 172.16/12 private */
        {0xc0000000, 24}, /* 192.0.0/24 IETF protocol assignments */
        {0xc0000200, 24}, /* 192.0.2/24 documentation */
        {0xc0586300, 24}, /* 192.88.99/24 6to4 relay */
        {0xc0a80000, 16}, /* 192.168/16 private */
        {0xc6120000, 15}, /* 198.18/15 benchmarking */
        {0xc6336400, 24}, /* 198.51.100/24 documentation */
        {0xcb007100, 24}, /* 203.0.113/24 documentation */
        {0xe0000000, 4},  /* multicast */
        {0xf0000000, 4},  /* reserved, and 255.255.255.255 */
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (webhook_in4(a, refused[i].net, refused[i].bits))
            return false;
    return true;
}

static uint32_t webhook_v4_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool webhook_v6_public(const struct in6_addr *a6)
{
    const uint8_t *b = a6->s6_addr;
    static const uint8_t zero[16];
    if (memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1))
        return false; /* :: and ::1 */
    /* IPv4-mapped ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d */
    if (memcmp(b, zero, 10) == 0 &&
        ((b[10] == 0xff && b[11] == 0xff) || (b[10] == 0 && b[11] == 0)))
        return webhook_v4_public(webhook_v4_at(b + 12));
    /* NAT64 64:ff9b::/96 carries an IPv4 address in the low 32 bits. */
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    if (memcmp(b, nat64, 12) == 0)
        return webhook_v4_public(webhook_v4_at(b + 12));
    /* 6to4 2002::/16 embeds an IPv4 address in bits 16..47. */
    if (b[0] == 0x20 && b[1] == 0x02)
        return webhook_v4_public(webhook_v4_at(b + 2));
    if ((b[0] & 0xfe) == 0xfc)
        return false; /* fc00::/7 unique local */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return false; /* fe80::/10 link-local */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
        return false; /* fec0::/10 deprecated site-local */
    if (b[0] == 0xff)
        return false; /* multicast */
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
        return false; /* 2001:db8::/32 documentation */
    /* Teredo 2001::/32 tunnels to arbitrary IPv4 hosts. */
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0)
        return false;
    return true;
}

bool webhook_addr_is_public(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        return webhook_v4_public(ntohl(s4->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6)
        return webhook_v6_public(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

/* Parses url into host (brackets stripped) and port. */
static int webhook_url_parse(const char *url, char *host, size_t hostlen, int *port, char *err,
                             size_t errlen)
{
    if (!url || !*url || strlen(url) > 2048) {
        errbuf_set(err, errlen,
                   "callback_url: must be an http:// or https:// URL of at most 2048 "
                   "bytes");
        return -EINVAL;
    }
    /* curl's parser is lenient ("http:///x" and "http:x" become host "x"):
     * insist on scheme "://" and a non-empty authority first. */
    size_t sl = strncasecmp(url, "http://", 7) == 0    ? 7
                : strncasecmp(url, "https://", 8) == 0 ? 8
                                                       : 0;
    if (sl && strchr("/\\?#", url[sl])) {
        errbuf_set(err, errlen, "callback_url: '%s' has no host", url);
        return -EINVAL;
    }
    _cleanup_(webhook_curlu_freep) CURLU *u = curl_url();
    if (!u)
        return -ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        errbuf_set(err, errlen, "callback_url: '%s' is not a valid absolute URL", url);
        return -EINVAL;
    }
    _cleanup_(webhook_curlfreep) char *scheme = NULL;
    _cleanup_(webhook_curlfreep) char *h = NULL;
    _cleanup_(webhook_curlfreep) char *p = NULL;
    _cleanup_(webhook_curlfreep) char *user = NULL;
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (!sl || !scheme || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        errbuf_set(err, errlen, "callback_url: only http:// and https:// are allowed");
        return -EINVAL;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK && user) {
        errbuf_set(err, errlen, "callback_url: must not carry credentials; the body is signed");
        return -EINVAL;
    }
    if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || !h || !*h) {
        errbuf_set(err, errlen, "callback_url: '%s' has no host", url);
        return -EINVAL;
    }
    if (curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) != CURLUE_OK || !p) {
        errbuf_set(err, errlen, "callback_url: '%s' has no usable port", url);
        return -EINVAL;
    }
    const char *hs = h;
    size_t hl = strlen(h);
    if (hs[0] == '[' && hl > 2 && hs[hl - 1] == ']') {
        hs++;
        hl -= 2;
    }
    if (hl >= hostlen) {
        errbuf_set(err, errlen, "callback_url: host name too long");
        return -EINVAL;
    }
    memcpy(host, hs, hl);
    host[hl] = '\0';
    /* A zone id ("fe80::1%eth0") names an interface: never public. */
    *port = atoi(p);
    if (*port <= 0 || *port > 65535) {
        errbuf_set(err, errlen, "callback_url: bad port");
        return -EINVAL;
    }
    return 0;
}

int webhook_url_validate(const char *url, char *err, size_t errlen)
{
    char host[256];
    int port;
    return webhook_url_parse(url, host, sizeof host, &port, err, errlen);
}

/* "localhost", "LocalHost.", "a.localhost": names that always mean loopback. */
static bool webhook_is_localhost_name(const char *host)
{
    size_t n = strlen(host);
    if (n && host[n - 1] == '.')
        n--;
    static const char lh[] = "localhost";
    size_t l = sizeof lh - 1;
    if (n < l || strncasecmp(host + n - l, lh, l) != 0)
        return false;
    return n == l || host[n - l - 1] == '.';
}

int webhook_url_check(const char *url, bool allow_private, char *err, size_t errlen)
{
    char host[256];
    int port;
    int r = webhook_url_parse(url, host, sizeof host, &port, err, errlen);
    if (r < 0 || allow_private)
        return r;
    if (webhook_is_localhost_name(host)) {
        errbuf_set(err, errlen,
                   "callback_url: %s is a loopback name (refused unless "
                   "webhook.allow_private)",
                   host);
        return -EACCES;
    }
    /* AI_NUMERICHOST: parse an address literal, never ask DNS. Every numeric
     * spelling the resolver accepts at delivery time is caught here too. */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_flags = AI_NUMERICHOST};
    _cleanup_(webhook_addrinfo_freep) struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return 0; /* a name: checked when it is resolved for a delivery */
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (!webhook_addr_is_public(ai->ai_addr)) {
            errbuf_set(err, errlen,
                       "callback_url: %s is a loopback, private or reserved address "
                       "(refused unless webhook.allow_private)",
                       host);
            return -EACCES;
        }
    return 0;
}

int webhook_target_resolve(const char *url, bool allow_private, webhook_target *out, char *err,
                           size_t errlen)
{
    webhook_target t = {0};
    int r = webhook_url_parse(url, t.host, sizeof t.host, &t.port, err, errlen);
    if (r < 0)
        return r;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    _cleanup_(webhook_addrinfo_freep) struct addrinfo *res = NULL;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", t.port);
    int g = getaddrinfo(t.host, portstr, &hints, &res);
    if (g != 0 || !res) {
        errbuf_set(err, errlen, "callback_url: cannot resolve %s: %s", t.host, gai_strerror(g));
        return -EHOSTUNREACH;
    }
    /* Every address must pass, not just the first: otherwise a name with one
     * public and one private address could still reach the private one. */
    const struct addrinfo *pick = NULL;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char a[INET6_ADDRSTRLEN] = "";
        const void *src = ai->ai_family == AF_INET
                              ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                              : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        inet_ntop(ai->ai_family, src, a, sizeof a);
        if (!allow_private && !webhook_addr_is_public(ai->ai_addr)) {
            errbuf_set(err, errlen,
                       "callback_url: %s resolves to %s, a loopback, private or "
                       "reserved address (refused unless webhook.allow_private)",
                       t.host, a);
            return -EACCES;
        }
        if (!pick) {
            pick = ai;
            snprintf(t.addr, sizeof t.addr, "%s", a);
        }
    }
    snprintf(t.key, sizeof t.key, "%s:%d", t.host, t.port);
    unsigned char lit[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, t.host, lit) == 1 || inet_pton(AF_INET6, t.host, lit) == 1)
        t.resolve[0] = '\0'; /* a literal is never looked up: nothing to pin */
    else if (strchr(t.addr, ':'))
        snprintf(t.resolve, sizeof t.resolve, "%s:%d:[%s]", t.host, t.port, t.addr);
    else
        snprintf(t.resolve, sizeof t.resolve, "%s:%d:%s", t.host, t.port, t.addr);
    *out = t;
    return 0;
}
