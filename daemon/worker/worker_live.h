/* worker_live.h — the worker's end of the live channel (store_live.h) of an
 * interactive submission (request "live": true, Piston's WebSocket).
 *
 * For one sandbox step, worker_live_begin makes the pipes the sandbox takes
 * (a live stdin for the run step, stream fds for stdout and stderr) and
 * starts two threads, each with its own store connection:
 *   out: reads the stream pipes and appends each read as a stdout/stderr
 *        chunk (so the client sees output as the program writes it);
 *   in:  waits on the EVENTS doorbell (poll fallback), reads the API's new
 *        chunks and writes stdin bytes into the pipe, or hands a signal to
 *        the caller's signal function (sandbox_signal on the step's slot).
 * A "stage" chunk is appended at the start and an "exit" chunk at the end.
 * Limits are the sandbox's own: output caps, CPU and wall time apply as for
 * any step; a client that leaves cancels the submission, which the lease
 * renewer turns into sandbox_cancel. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "../../common/config.h"
#include "../../sandbox/sandbox.h"

typedef struct worker_live worker_live;

/* Sends a signal to the step in flight (from the in thread); returns >= 0. */
typedef int (*worker_live_signal_fn)(void *userdata, int sig);

/* Starts the channel of one step of submission id. stage is "compile" or
 * "run"; with_stdin makes a live stdin pipe, first fed with prefix (the
 * test's own stdin, may be empty). On success *out is the caller's; pass it
 * to worker_live_config before sandbox_run and to worker_live_end after. */
int worker_live_begin(const config *cfg, const char *id, const char *stage, bool with_stdin,
                      const void *prefix, size_t prefix_len, worker_live_signal_fn sig_fn,
                      void *sig_ud, worker_live **out, char *err, size_t errlen);

/* Points cfg's stdin and stream fds at the channel's pipes. */
void worker_live_config(worker_live *l, struct sandbox_config *cfg);

/* Ends the step's channel: closes the pipes' host ends, waits for the out
 * thread to forward everything read, appends what the sandbox captured but
 * could not stream (res->*_streamed), stops the in thread, appends the
 * "exit" chunk {"stage", "exit_code", "signal", "limit"} (res NULL: an
 * internal failure, exit_code null) and frees l. Accepts NULL. */
void worker_live_end(worker_live *l, const struct sandbox_result *res);
