/* report.c — verdict table, progress line and exit codes (see report.h). */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_util.h"
#include "../common/monotime.h"

bool report_state_is_terminal(const char *state)
{
    static const char *const t[] = {"finished", "compile_error", "deps_failed", "cancelled",
                                    "internal_error"};
    for (size_t i = 0; state && i < sizeof t / sizeof t[0]; i++)
        if (strcmp(state, t[i]) == 0)
            return true;
    return false;
}

static const char *report_str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

int report_exit_code(const json_t *view)
{
    const char *state = report_str(view, "state");
    const char *verdict = report_str(view, "verdict");
    if (strcmp(state, "compile_error") == 0)
        return FARM_EXIT_COMPILE_ERROR;
    if (strcmp(state, "deps_failed") == 0)
        return FARM_EXIT_DEPS_FAILED;
    if (strcmp(state, "cancelled") == 0)
        return FARM_EXIT_CANCELLED;
    if (strcmp(state, "internal_error") == 0)
        return FARM_EXIT_FARM_ERROR;
    if (strcmp(state, "finished") != 0)
        return FARM_EXIT_PENDING;
    if (strcmp(verdict, "accepted") == 0)
        return FARM_EXIT_OK;
    if (strcmp(verdict, "internal_error") == 0)
        return FARM_EXIT_FARM_ERROR;
    if (strcmp(verdict, "compile_error") == 0)
        return FARM_EXIT_COMPILE_ERROR;
    return FARM_EXIT_TESTS_FAILED;
}

static const char *report_verdict_color(const cli_colors *k, const char *v)
{
    if (strcmp(v, "accepted") == 0)
        return k->green;
    if (strstr(v, "limit"))
        return k->yellow;
    if (!*v)
        return k->dim;
    return k->red;
}

static long long report_int(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static void report_exit_cell(const json_t *t, char *buf, size_t len)
{
    const char *sig = json_string_value(json_object_get(t, "signal"));
    long long code = report_int(t, "exit_code");
    if (sig)
        snprintf(buf, len, "%s", sig);
    else if (code >= 0)
        snprintf(buf, len, "%lld", code);
    else
        snprintf(buf, len, "-");
}

/* The first lines of a text, indented, for failures and compile errors. */
static void report_excerpt(FILE *out, const cli_colors *k, const char *label, const char *text)
{
    if (!text || !*text)
        return;
    fprintf(out, "  %s%s:%s\n", k->dim, label, k->reset);
    int lines = 0;
    const char *p = text;
    while (*p && lines < 12) {
        size_t n = strcspn(p, "\n");
        fprintf(out, "    %.*s\n", (int)(n > 200 ? 200 : n), p);
        p += n;
        if (*p)
            p++;
        lines++;
    }
    if (*p)
        fprintf(out, "    %s...%s\n", k->dim, k->reset);
}

void report_table(const farm_client *c, const json_t *view, FILE *out)
{
    cli_colors k = cli_colors_for(c->color);
    const char *state = report_str(view, "state");
    const char *verdict = report_str(view, "verdict");
    json_t *compile = json_object_get(view, "compile");
    json_t *tests = json_object_get(view, "tests");
    char b1[32], b2[32], b3[32], ex[32];

    fprintf(out, "%ssubmission%s %s\n", k.bold, k.reset, report_str(view, "id"));
    if (json_is_object(compile)) {
        report_exit_cell(compile, ex, sizeof ex);
        fprintf(out, "compile: exit %s, %s, %s\n", ex,
                cli_fmt_ms(b1, sizeof b1, report_int(compile, "wall_ms")),
                cli_fmt_kib(b2, sizeof b2, report_int(compile, "memory_kib")));
        if (strcmp(state, "compile_error") == 0) {
            report_excerpt(out, &k, "compiler output", report_str(compile, "stderr"));
            report_excerpt(out, &k, "stdout", report_str(compile, "stdout"));
        }
    }
    if (strcmp(state, "deps_failed") == 0 || strcmp(state, "internal_error") == 0)
        report_excerpt(out, &k, "error", report_str(view, "error"));

    size_t n = json_array_size(tests);
    int passed = 0;
    if (n > 0) {
        size_t w = 4;
        size_t i;
        json_t *t;
        json_array_foreach(tests, i, t)
        {
            size_t l = strlen(report_str(t, "name"));
            if (l > w)
                w = l < 40 ? l : 40;
        }
        fprintf(out, "%s%-*s  %-15s %10s %10s %12s  %s%s\n", k.bold, (int)w, "TEST", "VERDICT",
                "CPU", "WALL", "MEMORY", "EXIT", k.reset);
        json_array_foreach(tests, i, t)
        {
            const char *v = report_str(t, "verdict");
            passed += strcmp(v, "accepted") == 0;
            report_exit_cell(t, ex, sizeof ex);
            fprintf(out, "%-*.*s  %s%-15s%s %10s %10s %12s  %s\n", (int)w, (int)w,
                    report_str(t, "name"), report_verdict_color(&k, v), *v ? v : "pending", k.reset,
                    cli_fmt_ms(b1, sizeof b1, report_int(t, "cpu_ms")),
                    cli_fmt_ms(b2, sizeof b2, report_int(t, "wall_ms")),
                    cli_fmt_kib(b3, sizeof b3, report_int(t, "memory_kib")), ex);
        }
        /* Details of the first failure: what a person needs to fix it. */
        json_array_foreach(tests, i, t)
        {
            const char *v = report_str(t, "verdict");
            if (!*v || strcmp(v, "accepted") == 0)
                continue;
            fprintf(out, "%sfirst failure: %s (%s)%s\n", k.bold, report_str(t, "name"), v, k.reset);
            report_excerpt(out, &k, "stdout", report_str(t, "stdout"));
            report_excerpt(out, &k, "stderr", report_str(t, "stderr"));
            break;
        }
    }
    const char *shown = *verdict ? verdict : state;
    int code = report_exit_code(view);
    const char *col = code == 0 ? k.green : code == FARM_EXIT_PENDING ? k.dim : k.red;
    fprintf(out, "%s%s%s%s", k.bold, col, shown, k.reset);
    if (n > 0)
        fprintf(out, " (%d/%zu tests passed)", passed, n);
    if (!report_state_is_terminal(state))
        fprintf(out, " [%s]", state);
    fputc('\n', out);
}

/* ---- progress line ----------------------------------------------------------- */

void report_progress_init(report_progress *p, const farm_client *c, int n_tests)
{
    memset(p, 0, sizeof *p);
    p->on = !c->json && !c->quiet && isatty(STDERR_FILENO);
    p->start_ms = p->stage_ms = monotime_ms();
    p->n_tests = n_tests;
    snprintf(p->stage, sizeof p->stage, "submitted");
}

void report_progress_set(report_progress *p, const char *stage)
{
    if (strcmp(p->stage, stage) != 0) {
        snprintf(p->stage, sizeof p->stage, "%s", stage);
        p->stage_ms = monotime_ms();
    }
    report_progress_draw(p);
}

void report_progress_draw(report_progress *p)
{
    if (!p->on)
        return;
    int64_t now = monotime_ms();
    fprintf(stderr, "\r\033[K%s  %.1fs (total %.1fs)", p->stage, (now - p->stage_ms) / 1000.0,
            (now - p->start_ms) / 1000.0);
    fflush(stderr);
    p->drawn = true;
    p->drawn_ms = now;
}

void report_progress_tick(report_progress *p)
{
    if (p->on && monotime_ms() - p->drawn_ms >= 250)
        report_progress_draw(p);
}

void report_progress_clear(report_progress *p)
{
    if (p->on && p->drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
        p->drawn = false;
    }
}

/* Maps the server's events to stages. The stream carries at least "state"
 * events ({"state": ...}) and "test" events (a test's result); anything else
 * with a "stage" or "state" field is shown as it is. */
void report_progress_event(report_progress *p, const char *type, const json_t *data)
{
    const char *state = json_string_value(json_object_get(data, "state"));
    const char *stage = json_string_value(json_object_get(data, "stage"));
    char buf[96];
    if (strcmp(type, "test") == 0) {
        p->tests_done++;
        int n = p->n_tests > p->tests_done ? p->n_tests : p->tests_done;
        if (p->tests_done < n)
            snprintf(buf, sizeof buf, "test %d of %d", p->tests_done + 1, n);
        else
            snprintf(buf, sizeof buf, "finishing (%d tests done)", p->tests_done);
        report_progress_set(p, buf);
        return;
    }
    if (!state && !stage) {
        if (strcmp(type, "queued") == 0)
            report_progress_set(p, "queued");
        else if (strstr(type, "compil"))
            report_progress_set(p, "compiling");
        else if (strstr(type, "build") || strstr(type, "deps"))
            report_progress_set(p, "building dependencies");
        else
            report_progress_draw(p);
        return;
    }
    json_t *k = json_object_get(data, "test"), *of = json_object_get(data, "of");
    if (json_is_integer(k) && json_is_integer(of)) {
        /* The worker's {"stage": "testing", "test": k, "of": n, "name"}. */
        const char *nm = json_string_value(json_object_get(data, "name"));
        snprintf(buf, sizeof buf, "test %lld of %lld%s%s%s", (long long)json_integer_value(k),
                 (long long)json_integer_value(of), nm ? " (" : "", nm ? nm : "", nm ? ")" : "");
        report_progress_set(p, buf);
        return;
    }
    const char *s = stage ? stage : state;
    if (strcmp(s, "waiting_deps") == 0 || strstr(s, "deps") || strstr(s, "build"))
        report_progress_set(p, "building dependencies");
    else if (strstr(s, "compil"))
        report_progress_set(p, "compiling");
    else if (strcmp(s, "running") == 0 || strstr(s, "test")) {
        if (p->n_tests > 0)
            snprintf(buf, sizeof buf, "test %d of %d", p->tests_done + 1, p->n_tests);
        else
            snprintf(buf, sizeof buf, "running");
        report_progress_set(p, buf);
    } else {
        report_progress_set(p, s);
    }
}
