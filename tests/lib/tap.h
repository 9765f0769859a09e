/* tap.h — TAP output for the C test drivers that are not Check suites
 * (meson's protocol: 'tap'): one ok() per assertion, the plan at the end. */
#pragma once

#include <stdbool.h>

/* Prints "ok N - ..." or "not ok N - ..." and flushes stdout, so a crash
 * later loses no line. */
void ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How many ok() calls so far, and how many of them failed. */
int tap_count(void);
int tap_failed(void);

/* Prints the plan ("1..N"); returns main's exit status: 1 when any ok()
 * failed, else 0. */
int tap_done(void);
