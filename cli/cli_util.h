/* cli_util.h — small helpers of the farm CLI: exit codes, option values,
 * files, terminal colours. The exit codes are documented in docs/cli.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "farm-build-config.h"
#include "../common/jsonutil.h"

#define FARM_CLI_VERSION FARM_VERSION

/* Exit codes of verbs that report a submission's outcome (submit, status,
 * watch, ci). */
enum {
    FARM_EXIT_OK = 0,           /* accepted: every test passed */
    FARM_EXIT_TESTS_FAILED = 1, /* wrong_answer, runtime_error, *_limit */
    FARM_EXIT_COMPILE_ERROR = 2,
    FARM_EXIT_DEPS_FAILED = 3,
    FARM_EXIT_CANCELLED = 4,
    FARM_EXIT_FARM_ERROR = 5,   /* internal_error: the farm failed, not the code */
    FARM_EXIT_PENDING = 6,      /* not finished yet (status, submit --detach never) */
    FARM_EXIT_USAGE = 64,       /* bad command line (EX_USAGE) */
    FARM_EXIT_REJECTED = 65,    /* the server refused the request: 4xx (EX_DATAERR) */
    FARM_EXIT_NOINPUT = 66,     /* a named file or directory cannot be read */
    FARM_EXIT_UNAVAILABLE = 69, /* server unreachable or 5xx (EX_UNAVAILABLE) */
    FARM_EXIT_SOFTWARE = 70,    /* a bug or out of memory in farm */
    FARM_EXIT_NOPERM = 77,      /* 401/403: token missing or not allowed */
};

/* Exit codes of `farm run` (like timeout(1) and docker run): the command's
 * own status, 128+N when killed by signal N, and these. */
enum {
    FARM_RUN_TIME_LIMIT = 124,
    FARM_RUN_FARM_FAILED = 125,
    FARM_RUN_NOT_FOUND = 127,
    FARM_RUN_MEMORY_LIMIT = 137,
    FARM_RUN_OUTPUT_LIMIT = 141,
    FARM_RUN_FILE_LIMIT = 153,
    FARM_RUN_PROCESS_LIMIT = 126,
};

/* "1.5", "1500ms", "2s", "1m" -> milliseconds. -EINVAL on junk. */
int cli_parse_ms(const char *s, uint64_t *out);
/* "262144" (KiB), "256M", "1G", "512K", "100B"... -> bytes when unit is 'B',
 * KiB when 'K' (the unit of a bare number). -EINVAL on junk or overflow. */
int cli_parse_size(const char *s, char unit, uint64_t *out);
/* Plain non-negative integer with an end check (opt_uint of isolate). */
int cli_parse_uint(const char *s, uint64_t *out);

/* Whole file into a malloc'd, NUL-terminated buffer; -errno. */
int cli_read_file(const char *path, char **data, size_t *len, size_t max);
/* {"name", "content", "encoding"} for a file: utf8 when it is valid UTF-8,
 * else base64. New reference or NULL. */
json_t *cli_file_json(const char *name, const char *data, size_t len, bool executable);

/* "packages": "a,b c" -> JSON array of names. */
json_t *cli_split_list(const char *s);

/* Terminal colours (empty strings when off). */
typedef struct {
    const char *green, *red, *yellow, *bold, *dim, *reset;
} cli_colors;
cli_colors cli_colors_for(bool on);

/* "1.23 s", "45 ms"; "12.0 MiB", "640 KiB". buf of 32. */
const char *cli_fmt_ms(char *buf, size_t len, long long ms);
const char *cli_fmt_kib(char *buf, size_t len, long long kib);

void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
