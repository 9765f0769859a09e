/* log.c — one line per event, key=value, written with a single write(2).
 *
 * Lines look like
 *   ts=2026-11-23T12:00:00.123Z level=info pid=123 role=worker msg="claimed" id=...
 * The first word of the formatted message becomes msg="..."; the rest is passed
 * through as the caller wrote it (key=value pairs). Under a service manager a
 * "<N>" syslog prefix lets journald keep the level. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_level = -1; /* -1: not yet read from FARM_LOG_LEVEL */
static char log_role[32] = "";
static int log_prefix = -1; /* -1: decide from JOURNAL_STREAM */

static const struct {
    const char *name;
    int level;
} log_levels[] = {
    {"debug", LOG_DEBUG},  {"info", LOG_INFO},   {"notice", LOG_NOTICE}, {"warning", LOG_WARNING},
    {"warn", LOG_WARNING}, {"err", LOG_ERR},     {"error", LOG_ERR},     {"crit", LOG_CRIT},
    {"alert", LOG_ALERT},  {"emerg", LOG_EMERG},
};

int log_level_from_string(const char *s)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
        if (strcasecmp(s, log_levels[i].name) == 0)
            return log_levels[i].level;
    return -1;
}

static const char *log_level_name(int level)
{
    switch (level) {
    case LOG_DEBUG:
        return "debug";
    case LOG_INFO:
        return "info";
    case LOG_NOTICE:
        return "notice";
    case LOG_WARNING:
        return "warning";
    case LOG_ERR:
        return "err";
    case LOG_CRIT:
        return "crit";
    case LOG_ALERT:
        return "alert";
    default:
        return "emerg";
    }
}

void log_set_level(int level)
{
    log_level = level;
}

int log_get_level(void)
{
    if (log_level < 0) {
        int l = log_level_from_string(getenv("FARM_LOG_LEVEL"));
        log_level = l >= 0 ? l : LOG_INFO;
    }
    return log_level;
}

void log_set_role(const char *role)
{
    snprintf(log_role, sizeof(log_role), "%s", role ? role : "");
}

void log_set_prefix(bool on)
{
    log_prefix = on;
}

void log_msg(int level, const char *fmt, ...)
{
    if (level > log_get_level())
        return;
    int saved_errno = errno;
    if (log_prefix < 0)
        log_prefix = getenv("JOURNAL_STREAM") != NULL;

    char body[3072];
    va_list ap;
    va_start(ap, fmt);
    int blen = vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    if (blen < 0)
        blen = 0;
    if ((size_t)blen >= sizeof(body))
        blen = sizeof(body) - 1;
    /* Split off the event word; the rest stays as written. */
    size_t ev = strcspn(body, " ");
    const char *rest = body[ev] ? body + ev + 1 : "";

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);

    char line[4096];
    int n = 0;
    if (log_prefix)
        n += snprintf(line + n, sizeof(line) - n, "<%d>", level);
    n += snprintf(line + n, sizeof(line) - n,
                  "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s pid=%d%s%s msg=\"%.*s\"%s%s\n",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  (int)(tv.tv_usec / 1000), log_level_name(level), (int)getpid(),
                  log_role[0] ? " role=" : "", log_role, (int)ev, body, rest[0] ? " " : "", rest);
    if (n >= (int)sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
    errno = saved_errno;
}
