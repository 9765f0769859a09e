/* verdict.h — from what a sandboxed run did to the verdict and JSON a client
 * reads: the per-test verdict rule, output comparison, UTF-8 check and base64.
 *
 * Pure functions with no I/O, so tests/pipeline checks them directly.
 *
 * The rule (first that applies):
 *   the sandbox itself failed            -> internal_error
 *   cpu or wall time limit hit           -> time_limit
 *   memory limit hit                     -> memory_limit
 *   an output stream or file cap hit     -> output_limit (output truncated, flagged)
 *   killed by a signal                   -> runtime_error (signal "SIGSEGV", ...)
 *   exit code != 0                       -> runtime_error
 *   expected output given and different  -> wrong_answer
 *   otherwise                            -> accepted
 * A process-count limit shows as the program's own failure (fork returns
 * EAGAIN), so it ends as runtime_error or wrong_answer with limit "processes". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

typedef enum {
    VERDICT_LIMIT_NONE = 0,
    VERDICT_LIMIT_CPU,
    VERDICT_LIMIT_WALL,
    VERDICT_LIMIT_MEMORY,
    VERDICT_LIMIT_OUTPUT,
    VERDICT_LIMIT_FILE_SIZE,
    VERDICT_LIMIT_PROCESSES,
} verdict_limit;

typedef enum { VERDICT_COMPARE_TRAILING_WS = 0, VERDICT_COMPARE_EXACT } verdict_compare_mode;

typedef struct {
    bool sandbox_failed;
    verdict_limit limit;
    int exit_code;
    int signal; /* 0: none */
    bool has_expected;
    bool output_matches; /* only read when has_expected */
} verdict_input;

/* One of the verdict names (schema/submission.json, the verdict enum; the rule is in
 * docs/architecture.md, "the worker loop"). A static string. */
const char *verdict_decide(const verdict_input *in);

/* The limit's name for the result's "limit" field, or NULL for none. */
const char *verdict_limit_name(verdict_limit l);

/* "SIGSEGV" for 11; "SIG<n>" for an unnamed one (static or thread-local
 * buffer: copy before the next call). NULL for 0. */
const char *verdict_signal_name(int sig);

/* Parses "exact" / "trailing_whitespace" (NULL or unknown: the default). */
verdict_compare_mode verdict_compare_mode_from_string(const char *s);

/* Compares program output with the expected output. Trailing-whitespace mode
 * ignores spaces, tabs and \r at the end of every line and any empty lines at
 * the end, as judges usually do. */
bool verdict_output_matches(const char *out, size_t out_len, const char *expected,
                            size_t expected_len, verdict_compare_mode mode);

/* True when the bytes are well-formed UTF-8 (no overlongs, no surrogates, no
 * NUL: a NUL cannot round-trip through a JSON string in every client). */
bool verdict_is_utf8(const char *data, size_t len);

/* Sets "stdout", "stderr" and "encoding" on obj: both streams as text when
 * both are UTF-8, else both as base64 with "encoding": "base64" (one encoding
 * per object keeps clients simple). 0 or -ENOMEM. */
int verdict_set_output(json_t *obj, const char *out, size_t out_len, const char *err,
                       size_t err_len);
