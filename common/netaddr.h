/* netaddr.h — which network addresses a client may make the farm reach.
 *
 * A farm that connects to a host a client names (webhook callbacks, git
 * sources) could be used to reach services behind its firewall (SSRF). These
 * pure functions classify addresses and host names; the callers decide what
 * to do with the answer and pin their connection to a checked address.
 *
 * Not public (refused by callers unless their allow_private setting is on):
 * loopback, RFC 1918 private, link-local, CGNAT (100.64/10), "this network"
 * (0/8), multicast, reserved (240/4), broadcast, benchmarking (198.18/15),
 * IETF protocol assignments, documentation ranges; IPv6 ::, ::1, fc00::/7,
 * fe80::/10, fec0::/10, ff00::/8, documentation 2001:db8::/32, Teredo
 * 2001::/32, and IPv4-mapped/compatible/NAT64/6to4 forms of a refused IPv4
 * address. No DNS here except where a function says so. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <netdb.h>
#include <sys/socket.h>

static inline void netaddr_addrinfo_freep(struct addrinfo **ai)
{
    if (*ai)
        freeaddrinfo(*ai);
}
/* _cleanup_addrinfo_ struct addrinfo *res = NULL; getaddrinfo(..., &res):
 * freed when res leaves scope. */
#define _cleanup_addrinfo_ __attribute__((cleanup(netaddr_addrinfo_freep)))

/* Whether one address is a public unicast address (see the list above). */
bool netaddr_is_public(const struct sockaddr *sa);

/* "localhost", "LocalHost.", "a.localhost": names that always mean loopback
 * (RFC 6761). */
bool netaddr_is_localhost_name(const char *host);

typedef enum {
    NETADDR_HOST_NAME,    /* a name: only DNS can tell (check when resolving) */
    NETADDR_HOST_PUBLIC,  /* an address literal of a public address */
    NETADDR_HOST_PRIVATE, /* a localhost name, or a literal that is not public */
} netaddr_host_class;

/* Classifies host (no brackets) without DNS: an address literal in any form
 * the resolver reads ("127.1", "2130706433", "::ffff:10.0.0.1") is checked
 * with netaddr_is_public; the localhost names are private. */
netaddr_host_class netaddr_classify_host(const char *host);

/* Resolves host:port (DNS) and checks EVERY address it resolves to, so a
 * name with one public and one private address cannot reach the private one.
 * 0 with the first address's text in addr (may be NULL); -EHOSTUNREACH when
 * it does not resolve (gai_err filled when not NULL); -EACCES when an address
 * is not public and !allow_private (that address's text in addr). */
int netaddr_resolve_checked(const char *host, const char *port, bool allow_private, char *addr,
                            size_t addrlen, int *gai_err);
