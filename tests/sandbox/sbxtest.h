/* sbxtest.h — what the C drivers of suite sandbox (test_sandbox.c,
 * test_leftovers.c) share: setting up and removing the temporary root with
 * its store mount so that the host is left as found. TAP output is
 * tests/lib/tap.h. */
#ifndef NIXFARM_TESTS_SBXTEST_H
#define NIXFARM_TESTS_SBXTEST_H

#include <stdbool.h>
#include <sys/types.h>

#include "sandbox.h"
#include "../lib/tap.h" /* ok(), tap_done() */

/* Whether the run's stdout holds s. */
bool sbxtest_has(const struct sandbox_result *r, const char *s);

/* Copies the file from to to (created or truncated) with mode. Returns 0, or
 * -1 with errno when either cannot be opened or a write fails. */
int sbxtest_copy_file(const char *from, const char *to, mode_t mode);

/* Makes root/nix/store on a tmpfs of its own named fsname (as /nix/store is
 * a file system of its own: mountinfo inside then shows only /<fsname> as
 * the source), capped by size ("64m"). 0, or -1 after a TAP "Bail out!". */
int sbxtest_make_store(const char *root, const char *fsname, const char *size);

/* Best effort, also from a signal handler's exit path: detaches the store
 * mount at root/nix/store and removes root on its own file system; says so
 * on a TAP comment line when root stays. */
void sbxtest_remove_root(const char *root);

/* A test killed by meson's timeout or crashing (SIGTERM, SIGINT, SIGHUP,
 * SIGSEGV, SIGABRT, SIGBUS) still leaves the host as it found it, best
 * effort, from the handler: frees *pool, runs cleanup, then dies of the
 * signal. */
void sbxtest_trap_fatal(struct sandbox_pool **pool, void (*cleanup)(void));

#endif
