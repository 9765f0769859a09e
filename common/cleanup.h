/* cleanup.h — scope-bound ownership for locals, after bubblewrap's utils.h.
 *
 *   _cleanup_free_ char *s = strdup("x");      freed when s leaves scope
 *   return steal_pointer(&s);                  hand ownership to the caller
 *
 * One helper per library handle, so every allocation has exactly one owner. */
#pragma once

#include <stdlib.h>
#include <unistd.h>
#include <errno.h>

static inline void *steal_pointer_impl(void *pp)
{
    void **p = (void **)pp;
    void *v = *p;
    *p = NULL;
    return v;
}
#define steal_pointer(pp) ((__typeof__(*(pp)))steal_pointer_impl(pp))

static inline int steal_fd(int *fd)
{
    int v = *fd;
    *fd = -1;
    return v;
}

static inline void cleanup_freep(void *p)
{
    free(*(void **)p);
}
static inline void cleanup_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(cleanup_freep)
#define _cleanup_close_ _cleanup_(cleanup_closep)

/* Library handles get their helpers next to the code that uses the library:
 * jansson's in jsonutil.h, sqlite's in store_internal.h, getaddrinfo's in
 * netaddr.h, curl's beside each curl user. */
