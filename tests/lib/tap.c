/* tap.c — see tap.h. */
#include "tap.h"

#include <stdarg.h>
#include <stdio.h>

static int tap_n, tap_nfailed;

void ok(bool cond, const char *fmt, ...)
{
    va_list ap;

    tap_n++;
    tap_nfailed += !cond;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

int tap_count(void)
{
    return tap_n;
}

int tap_failed(void)
{
    return tap_nfailed;
}

int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_nfailed ? 1 : 0;
}
