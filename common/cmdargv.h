/* cmdargv.h — a step's command as the argv the sandbox execs.
 *
 * A command line runs without a shell when it is plain words whose first
 * word is a path or a program in the set's bin/: it is exec'd directly with
 * the step's args appended (a shell start saved per run). Anything else
 * (quoting, $, redirections, globs, VAR=x, builtins such as `exit`) runs as
 * `sh -c '<cmd> "$@"' sh <args>` ("$@" left out when there are no args or
 * after a compound command) with the set's own sh, else the host's static
 * busybox, which the caller binds read-only at CMDARGV_SHELL_INSIDE.
 *
 * The worker (daemon/worker/worker_job.c) and local runs (cli/local.c) both
 * build their argv here, so `farm run` runs a command as a farm does. Paths
 * only: nothing here touches the sandbox. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define CMDARGV_HOST_BUSYBOX "/bin/busybox" /* a static busybox on the host */
#define CMDARGV_SHELL_INSIDE "/.farm/sh"    /* where it is bound in the run */
#define CMDARGV_MAX 512

typedef struct {
    const char *argv[CMDARGV_MAX + 1]; /* NULL-terminated */
    char *owned[CMDARGV_MAX + 1];      /* the copies argv points into */
    size_t n, n_owned;
    bool host_shell; /* bind CMDARGV_HOST_BUSYBOX at CMDARGV_SHELL_INSIDE */
} cmdargv;

/* Whether this host has the static busybox (checked once by each caller). */
bool cmdargv_host_has_busybox(void);

/* Frees the copies; a is empty again. Zero-initialise a before first use. */
void cmdargv_done(cmdargv *a);

/* Appends a copy of s. 0, -E2BIG past CMDARGV_MAX words, -ENOMEM. */
int cmdargv_push(cmdargv *a, const char *s);

/* A command line of a step with n_args args to follow (the caller appends
 * them with cmdargv_push). 0; -EINVAL empty command; -ENOENT when it needs a
 * shell and the set has none and host_busybox is false; -E2BIG, -ENOMEM,
 * -ENAMETOOLONG. */
int cmdargv_from_line(cmdargv *a, const char *bin_dir, bool host_busybox, const char *cmd,
                      size_t n_args);

/* `sh -c script` with the set's sh, else the host busybox. 0 or as above. */
int cmdargv_shell(cmdargv *a, const char *bin_dir, bool host_busybox, const char *script);

/* An argv as a person typed it (`farm run -- prog args`): words[0] resolved
 * as a command line's first word must be, words[1..] as they are; a bare
 * "sh" the set lacks is the host busybox. -ENOENT with err naming the
 * program when it is not in the set; -E2BIG, -ENOMEM, -ENAMETOOLONG. */
int cmdargv_from_words(cmdargv *a, const char *bin_dir, bool host_busybox, const char *const *words,
                       char *err, size_t errlen);
