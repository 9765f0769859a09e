/* worker_faults.c — see worker_faults.h. */
#include "worker_faults.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *worker_fault_kind(const char *m)
{
    if (!m)
        return "sandbox";
    if (strstr(m, "keeper died"))
        return "keeper_died";
    if (strstr(m, "mount"))
        return "mount";
    if (strstr(m, "cgroup"))
        return "cgroup";
    if (strstr(m, "slot") || strstr(m, "clone") || strstr(m, "pipe") || strstr(m, "timerfd"))
        return "slot_setup";
    return "sandbox";
}

#ifdef FARM_TEST_HOOKS
static bool slot_listed(const char *var, int slot)
{
    const char *v = getenv(var);
    char num[16];
    size_t n;

    if (!v || !*v)
        return false;
    if (strcmp(v, "all") == 0)
        return true;
    n = (size_t)snprintf(num, sizeof(num), "%d", slot);
    for (const char *p = v; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && memcmp(p, num, n) == 0)
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

bool worker_fault_injected(int slot, char *err, size_t errlen)
{
    if (!slot_listed("FARM_TEST_FAIL_SLOTS", slot))
        return false;
    snprintf(err, errlen, "slot %d setup failed (fault injected by FARM_TEST_FAIL_SLOTS)", slot);
    return true;
}

bool worker_fault_hang(int slot)
{
    return slot_listed("FARM_TEST_HANG_SLOTS", slot);
}
#else
bool worker_fault_injected(int slot, char *err, size_t errlen)
{
    (void)slot;
    (void)err;
    (void)errlen;
    return false;
}

bool worker_fault_hang(int slot)
{
    (void)slot;
    return false;
}
#endif
