/* piston_packages.h — Piston's package calls onto the farm's dependency sets:
 * GET lists every runtime with `installed` = its set is built (ready), POST
 * {language, version} builds it now (waits for the builder), DELETE drops its
 * GC root (v1: DELETE /v1/depsets/{key}). */
#pragma once

#include "../api/api.h"
#include "piston_runtimes.h"

/* The runtimes of the package set of the moment (api.packages.file, else
 * the packages.json of builder_pkgset_dir), read on every call so they follow the
 * set. *rts is malloc'd. -EIO when the set cannot be read, -ENOMEM. */
int piston_runtimes_now(const config *cfg, piston_runtime **rts, size_t *n);

enum MHD_Result piston_packages_list(api_call *c);
enum MHD_Result piston_packages_install(api_call *c);
enum MHD_Result piston_packages_uninstall(api_call *c);
