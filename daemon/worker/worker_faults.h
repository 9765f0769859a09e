/* worker_faults.h — failures of the farm's own during a submission (issue 18):
 * what kind a sandbox error is (a metric label and the reason kept with the
 * attempt), and the fault hook of test builds. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The reason kind of a sandbox failure message: keeper_died, mount, cgroup,
 * slot_setup or sandbox. Static string. */
const char *worker_fault_kind(const char *message);

/* Test builds only (meson -Dtests=true defines FARM_TEST_HOOKS): when the
 * environment variable FARM_TEST_FAIL_SLOTS lists slot (comma-separated
 * numbers, or "all"), fills err as a slot setup failure and returns true, so
 * every step of that worker fails the way a broken slot does. Other builds:
 * always false. */
bool worker_fault_injected(int slot, char *err, size_t errlen);

/* Test builds only: FARM_TEST_HANG_SLOTS (same syntax) makes a test step of
 * that slot hang past its wall limit: the worker blocks until cancelled
 * (sandbox_cancel), as a run whose keeper never reports would. */
bool worker_fault_hang(int slot);
