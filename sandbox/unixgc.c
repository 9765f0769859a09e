/* unixgc.c — starting the kernel's garbage collector of unix sockets.
 *
 * A run can leave descriptors "in flight": sent with SCM_RIGHTS over a unix
 * socket and never received, in a reference cycle (each socket of a pair sent
 * through the other). Once every process of the run is dead nothing refers to
 * them but each other, and only the unix garbage collector frees them; until
 * then they pin what they refer to (pipe ends the supervisor reads, memfds
 * charged to the run's memory cgroup, listening sockets, the run's network
 * namespace). The kernel starts the collector when a unix socket is released
 * while descriptors are in flight (unix_release_sock; on 6.x it is queued as
 * work, and skipped when the in-flight graph is known to hold no cycle), or
 * when one user has very many in flight. Nothing else starts it on an idle
 * host, so after each run we release a socket of our own. */
#include "internal.h"

#include <sys/socket.h>
#include <unistd.h>

void sbx_unix_gc_kick(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
        return;
    close(sv[0]);
    close(sv[1]);
}
