/* report.h — what farm prints about a submission: the live progress line, the
 * verdict table, and the exit status of a result. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "client.h"

bool report_state_is_terminal(const char *state);

/* The exit code (cli_util.h FARM_EXIT_*) a submission view stands for. */
int report_exit_code(const json_t *view);

/* The coloured verdict table and a summary line (terminal or not). */
void report_table(const farm_client *c, const json_t *view, FILE *out);

/* One progress line on stderr, rewritten in place; only when stderr is a
 * terminal and not --json. Stages: "queued", "building dependencies",
 * "compiling", "test k of n", ... with the elapsed time since start_ms. */
typedef struct {
    bool on;
    int64_t start_ms;
    int64_t stage_ms;
    char stage[96];
    int n_tests;
    int tests_done;
    bool drawn;
    int64_t drawn_ms;
} report_progress;
void report_progress_init(report_progress *p, const farm_client *c, int n_tests);
/* Feeds one event of the stream (type and parsed data). */
void report_progress_event(report_progress *p, const char *type, const json_t *data);
void report_progress_set(report_progress *p, const char *stage);
void report_progress_draw(report_progress *p);
/* Redraws (new elapsed time) at most four times a second. */
void report_progress_tick(report_progress *p);
void report_progress_clear(report_progress *p);
