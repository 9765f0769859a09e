/* netaddr.c — address classification against SSRF (see netaddr.h), one list
 * for webhooks and callback URLs (netaddr_url.c), git sources
 * (common/gitsrc.c) and the API. */
#include "netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"

/* a (host order) within net/bits */
static bool netaddr_in4(uint32_t a, uint32_t net, int bits)
{
    uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
    return (a & mask) == (net & mask);
}

static bool netaddr_v4_public(uint32_t a)
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
        if (netaddr_in4(a, refused[i].net, refused[i].bits))
            return false;
    return true;
}

static uint32_t netaddr_v4_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool netaddr_v6_public(const struct in6_addr *a6)
{
    const uint8_t *b = a6->s6_addr;
    static const uint8_t zero[16];
    if (memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1))
        return false; /* :: and ::1 */
    /* IPv4-mapped ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d */
    if (memcmp(b, zero, 10) == 0 &&
        ((b[10] == 0xff && b[11] == 0xff) || (b[10] == 0 && b[11] == 0)))
        return netaddr_v4_public(netaddr_v4_at(b + 12));
    /* NAT64 64:ff9b::/96 carries an IPv4 address in the low 32 bits. */
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    if (memcmp(b, nat64, 12) == 0)
        return netaddr_v4_public(netaddr_v4_at(b + 12));
    /* 6to4 2002::/16 embeds an IPv4 address in bits 16..47. */
    if (b[0] == 0x20 && b[1] == 0x02)
        return netaddr_v4_public(netaddr_v4_at(b + 2));
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

bool netaddr_is_public(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        return netaddr_v4_public(ntohl(s4->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6)
        return netaddr_v6_public(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

bool netaddr_is_localhost_name(const char *host)
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

netaddr_host_class netaddr_classify_host(const char *host)
{
    if (netaddr_is_localhost_name(host))
        return NETADDR_HOST_PRIVATE;
    /* AI_NUMERICHOST: parse an address literal, never ask DNS. Every numeric
     * spelling the resolver accepts when connecting is caught here too. */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_flags = AI_NUMERICHOST};
    _cleanup_addrinfo_ struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return NETADDR_HOST_NAME;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (!netaddr_is_public(ai->ai_addr))
            return NETADDR_HOST_PRIVATE;
    return NETADDR_HOST_PUBLIC;
}

static void netaddr_text(const struct sockaddr *sa, char *out, size_t outlen)
{
    const void *src = sa->sa_family == AF_INET
                          ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                          : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!inet_ntop(sa->sa_family, src, out, (socklen_t)outlen) && outlen)
        out[0] = '\0';
}

int netaddr_resolve_checked(const char *host, const char *port, bool allow_private, char *addr,
                            size_t addrlen, int *gai_err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    _cleanup_addrinfo_ struct addrinfo *res = NULL;
    int g = getaddrinfo(host, port, &hints, &res);
    if (gai_err)
        *gai_err = g;
    if (g != 0 || !res)
        return -EHOSTUNREACH;
    char first[INET6_ADDRSTRLEN] = "";
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char a[INET6_ADDRSTRLEN] = "";
        netaddr_text(ai->ai_addr, a, sizeof a);
        if (!allow_private && !netaddr_is_public(ai->ai_addr)) {
            if (addr)
                snprintf(addr, addrlen, "%s", a);
            return -EACCES;
        }
        if (!first[0])
            snprintf(first, sizeof first, "%s", a);
    }
    if (addr)
        snprintf(addr, addrlen, "%s", first);
    return 0;
}
