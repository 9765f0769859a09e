/* farm-sandbox-check.h — `farm-sandbox --check`: what this machine offers. */
#pragma once

#include "sandbox.h"

#include <stdbool.h>

/* Probes the machine (sandbox_features_probe), makes a pool with po to learn
 * the accounting really in force, and prints the list to stdout: one feature
 * a line for people, or one JSON object with json. Returns the exit code:
 * 0 every required feature is present and a pool could be made, 1 something
 * required is missing (or the pool failed), 2 a probe could not be made. */
int farm_sandbox_check(const struct sandbox_pool_options *po, bool json);
