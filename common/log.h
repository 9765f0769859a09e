/* log.h — one line per event, key=value, syslog levels.
 *
 * log_msg(LOG_INFO, "claimed id=%s attempts=%d", id, n) writes
 *   ts=2026-11-23T12:00:00.123Z level=info pid=123 role=worker msg="claimed" id=...
 * Processes log; library code returns errors and lets its caller log once.
 * The level is checked before formatting. Under a service manager (JOURNAL_STREAM
 * set, or log_set_prefix(true)) lines carry a "<N>" syslog prefix. */
#pragma once

#include <stdbool.h>
#include <syslog.h>

/* Sets the most verbose level that is written (default LOG_INFO; FARM_LOG_LEVEL
 * overrides: debug, info, notice, warning, err). */
void log_set_level(int level);
int log_get_level(void);
/* Names the process's role in every line ("api", "worker", "builder", ...). */
void log_set_role(const char *role);
/* Parses "debug"/"info"/"warning"/"error"...; returns -1 when unknown. */
int log_level_from_string(const char *s);
/* Forces the "<N>" syslog prefix on or off (default: on when JOURNAL_STREAM is set). */
void log_set_prefix(bool on);

/* First word of fmt's output is the event; the rest should be key=value pairs.
 * Writes one line to stderr with a single write(2), so lines of concurrent
 * processes do not interleave. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
