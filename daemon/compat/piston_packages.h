/* piston_packages.h — Piston's package calls onto the farm's dependency sets:
 * GET lists every runtime with `installed` = its set is built (ready), POST
 * {language, version} builds it now (waits for the builder), DELETE drops its
 * GC root (v1: DELETE /v1/depsets/{key}). */
#pragma once

#include "../api.h"

enum MHD_Result piston_packages_list(api_call *c);
enum MHD_Result piston_packages_install(api_call *c);
enum MHD_Result piston_packages_uninstall(api_call *c);
