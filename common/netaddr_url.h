/* netaddr_url.h — where a callback URL may go (the API checks it on accept,
 * the webhook role at each delivery).
 *
 * A farm that POSTs to any URL a client names could be used to reach services
 * behind its firewall (SSRF). So before each delivery the host is resolved,
 * EVERY address it resolves to is checked, and the connection is pinned to a
 * checked address with CURLOPT_RESOLVE: a DNS answer that changes between the
 * check and the connect (DNS rebinding) cannot redirect the request. Redirects
 * are never followed. The address list lives in common/netaddr.h (shared
 * with git sources). Refused unless webhook.allow_private: loopback,
 * RFC 1918 private, link-local, CGNAT (100.64/10), "this network" (0/8),
 * multicast, reserved (240/4), broadcast, benchmarking (198.18/15),
 * documentation ranges; IPv6 ::, ::1, fc00::/7, fe80::/10, ff00::/8,
 * documentation 2001:db8::/32, and IPv4-mapped/translated/6to4 forms of a
 * refused IPv4 address. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

typedef struct {
    char host[256];    /* as in the URL, without brackets ("example.org", "::1") */
    int port;          /* explicit or the scheme's default */
    char key[300];     /* "host:port", the circuit breaker's key */
    char addr[64];     /* the checked address the connection is pinned to */
    char resolve[400]; /* CURLOPT_RESOLVE entry: "host:port:addr" */
} netaddr_url_target;

/* Form only, no DNS: an absolute http:// or https:// URL with a host, no
 * user:password, at most 2048 bytes. 0 or -EINVAL with a sentence naming
 * "callback_url". For the API when it accepts a submission. */
int netaddr_url_validate(const char *url, char *err, size_t errlen);

/* For the API when it accepts a submission, without DNS (an accept must not
 * wait on a resolver): the form of netaddr_url_validate, then, unless
 * allow_private, refuses a host that is an address literal in any form the
 * resolver reads ("127.1", "2130706433", "[::ffff:10.0.0.1]") and is not
 * public, and the localhost names ("localhost", "*.localhost", RFC 6761).
 * Other names are resolved and checked at each delivery
 * (netaddr_url_resolve), where the checked address is also the one used.
 * 0; -EINVAL malformed; -EACCES not public. err names "callback_url". */
int netaddr_url_check(const char *url, bool allow_private, char *err, size_t errlen);

/* Validates url, resolves its host and checks every address. 0 and *out
 * filled; -EINVAL bad URL; -EHOSTUNREACH no address; -EACCES an address is
 * not public and allow_private is false (err names host and address). */
int netaddr_url_resolve(const char *url, bool allow_private, netaddr_url_target *out, char *err,
                        size_t errlen);
