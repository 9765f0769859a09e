/* gitsrc_net.h — internal to gitsrc: where a git fetch may connect.
 * Public callers use gitsrc_policy / gitsrc_url_check in gitsrc.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Makes every plain socket libgit2 opens from now on in this process (http,
 * and the socket beneath https) resolve its host itself, refuse it unless
 * every address is public or allow_private, and connect to the address it
 * checked. Process-wide: call only in the fetch's own child process. */
int gitsrc_net_install(bool allow_private);

/* After a failed fetch: the sentence of a refused connection (names host,
 * address and git.allow_private), or NULL when none was refused. */
const char *gitsrc_net_refusal(void);
