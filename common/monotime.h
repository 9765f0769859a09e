/* monotime.h — the monotonic clock in the units callers count in. Deadlines,
 * backoffs and rate buckets use it, so a wall-clock step (NTP, an operator's
 * `date -s`) never stretches or skips them. */
#pragma once

#include <stdint.h>

/* CLOCK_MONOTONIC now, in milliseconds / microseconds. */
int64_t monotime_ms(void);
int64_t monotime_us(void);
