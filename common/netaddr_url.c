/* netaddr_url.c — callback URL checks against SSRF (see netaddr_url.h). */
#include "netaddr_url.h"

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

#include "cleanup.h"
#include "fsutil.h"
#include "netaddr.h"

static inline void netaddr_url_curlu_freep(CURLU **u)
{
    curl_url_cleanup(*u);
}
static inline void netaddr_url_curl_freep(char **p)
{
    curl_free(*p);
}

/* Parses url into host (brackets stripped) and port. */
static int netaddr_url_parse(const char *url, char *host, size_t hostlen, int *port, char *err,
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
    _cleanup_(netaddr_url_curlu_freep) CURLU *u = curl_url();
    if (!u)
        return -ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        errbuf_set(err, errlen, "callback_url: '%s' is not a valid absolute URL", url);
        return -EINVAL;
    }
    _cleanup_(netaddr_url_curl_freep) char *scheme = NULL;
    _cleanup_(netaddr_url_curl_freep) char *h = NULL;
    _cleanup_(netaddr_url_curl_freep) char *p = NULL;
    _cleanup_(netaddr_url_curl_freep) char *user = NULL;
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

int netaddr_url_validate(const char *url, char *err, size_t errlen)
{
    char host[256];
    int port;
    return netaddr_url_parse(url, host, sizeof host, &port, err, errlen);
}

int netaddr_url_check(const char *url, bool allow_private, char *err, size_t errlen)
{
    char host[256];
    int port;
    int r = netaddr_url_parse(url, host, sizeof host, &port, err, errlen);
    if (r < 0 || allow_private)
        return r;
    if (netaddr_is_localhost_name(host)) {
        errbuf_set(err, errlen,
                   "callback_url: %s is a loopback name (refused unless "
                   "webhook.allow_private)",
                   host);
        return -EACCES;
    }
    /* Other names are checked when they are resolved for a delivery. */
    if (netaddr_classify_host(host) == NETADDR_HOST_PRIVATE) {
        errbuf_set(err, errlen,
                   "callback_url: %s is a loopback, private or reserved address "
                   "(refused unless webhook.allow_private)",
                   host);
        return -EACCES;
    }
    return 0;
}

int netaddr_url_resolve(const char *url, bool allow_private, netaddr_url_target *out, char *err,
                        size_t errlen)
{
    netaddr_url_target t = {0};
    int r = netaddr_url_parse(url, t.host, sizeof t.host, &t.port, err, errlen);
    if (r < 0)
        return r;
    /* localhost names are loopback by definition (RFC 6761), whatever
     * /etc/hosts says or lacks: decided without asking the resolver. */
    bool local = netaddr_is_localhost_name(t.host);
    if (local && !allow_private) {
        errbuf_set(err, errlen,
                   "callback_url: %s is a loopback name (refused unless webhook.allow_private)",
                   t.host);
        return -EACCES;
    }
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", t.port);
    int g = 0;
    if (local)
        snprintf(t.addr, sizeof t.addr, "127.0.0.1");
    else
        r = netaddr_resolve_checked(t.host, portstr, allow_private, t.addr, sizeof t.addr, &g);
    if (r == -EHOSTUNREACH) {
        errbuf_set(err, errlen, "callback_url: cannot resolve %s: %s", t.host, gai_strerror(g));
        return r;
    }
    if (r == -EACCES) {
        errbuf_set(err, errlen,
                   "callback_url: %s resolves to %s, a loopback, private or "
                   "reserved address (refused unless webhook.allow_private)",
                   t.host, t.addr);
        return r;
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
