/* cli_util.c — option parsing, files, colours for the farm CLI. */
#include "cli_util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "../common/base64.h"
#include "../common/cleanup.h"

void cli_errorf(const char *fmt, ...)
{
    va_list ap;
    fputs("farm: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_parse_uint(const char *s, uint64_t *out)
{
    if (!s || !*s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

int cli_parse_ms(const char *s, uint64_t *out)
{
    if (!s || !*s || !(isdigit((unsigned char)*s) || *s == '.'))
        return -EINVAL;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || v < 0)
        return -EINVAL;
    double mult = 1000; /* a bare number is seconds */
    if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        mult = 1000;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        mult = 60000;
    else
        return -EINVAL;
    double ms = v * mult;
    if (ms > 1e15)
        return -EINVAL;
    *out = (uint64_t)(ms + 0.5);
    return 0;
}

int cli_parse_size(const char *s, char unit, uint64_t *out)
{
    if (!s || !*s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || v < 0)
        return -EINVAL;
    double bytes;
    char u = (char)toupper((unsigned char)*end);
    if (*end == '\0')
        bytes = unit == 'K' ? v * 1024 : v;
    else if (u == 'B' && end[1] == '\0')
        bytes = v;
    else if ((u == 'K' || u == 'M' || u == 'G' || u == 'T') &&
             (end[1] == '\0' || strcasecmp(end + 1, "iB") == 0 || strcasecmp(end + 1, "B") == 0)) {
        bytes = v;
        for (const char *p = "KMGT"; *p; p++) {
            bytes *= 1024;
            if (*p == u)
                break;
        }
    } else {
        return -EINVAL;
    }
    if (bytes > 9e18)
        return -EINVAL;
    *out = unit == 'K' ? (uint64_t)(bytes / 1024 + 0.5) : (uint64_t)(bytes + 0.5);
    return 0;
}

int cli_read_file(const char *path, char **data, size_t *len, size_t max)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat sb;
    if (fstat(fd, &sb) < 0)
        return -errno;
    if (S_ISDIR(sb.st_mode))
        return -EISDIR;
    size_t cap = 4096, n = 0;
    _cleanup_free_ char *buf = malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (n == cap) {
            if (cap >= max)
                return -EFBIG;
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb)
                return -ENOMEM;
            buf = nb;
        }
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (n > max)
            return -EFBIG;
    }
    buf[n] = '\0';
    *data = steal_pointer(&buf);
    *len = n;
    return 0;
}

json_t *cli_file_json(const char *name, const char *data, size_t len, bool executable)
{
    json_t *content = memchr(data, '\0', len) ? NULL : json_stringn(data, len);
    json_t *f;
    if (content) {
        f = json_pack("{s:s,s:o,s:s}", "name", name, "content", content, "encoding", "utf8");
    } else {
        _cleanup_free_ char *b64 = base64_encode(data, len);
        if (!b64)
            return NULL;
        f = json_pack("{s:s,s:s,s:s}", "name", name, "content", b64, "encoding", "base64");
    }
    if (f && executable)
        json_object_set_new(f, "executable", json_true());
    return f;
}

json_t *cli_split_list(const char *s)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    const char *p = s;
    while (p && *p) {
        size_t n = strcspn(p, ", ");
        if (n > 0)
            json_array_append_new(a, json_stringn(p, n));
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return a;
}

cli_colors cli_colors_for(bool on)
{
    if (!on)
        return (cli_colors){"", "", "", "", "", ""};
    return (cli_colors){"\033[32m", "\033[31m", "\033[33m", "\033[1m", "\033[2m", "\033[0m"};
}

const char *cli_fmt_ms(char *buf, size_t len, long long ms)
{
    if (ms < 0)
        snprintf(buf, len, "-");
    else if (ms < 1000)
        snprintf(buf, len, "%lld ms", ms);
    else
        snprintf(buf, len, "%.2f s", ms / 1000.0);
    return buf;
}

const char *cli_fmt_kib(char *buf, size_t len, long long kib)
{
    if (kib < 0)
        snprintf(buf, len, "-");
    else if (kib < 10240)
        snprintf(buf, len, "%lld KiB", kib);
    else if (kib < 10240LL * 1024)
        snprintf(buf, len, "%.1f MiB", kib / 1024.0);
    else
        snprintf(buf, len, "%.2f GiB", kib / 1048576.0);
    return buf;
}
