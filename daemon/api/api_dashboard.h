/* api_dashboard.h — the calls the dashboard (issue 17) needs beyond the rest
 * of v1: aggregated stats, a paged submission list, the cache in summary,
 * set pins and rebuilds (api_stats.c), who the caller is and token management
 * (api_tokens.c), and the page's own files under /ui/ (ui_static.c).
 * docs/api.yaml documents each; routes are in api_routes.c. */
#pragma once

#include "api.h"

/* api_stats.c */
enum MHD_Result api_stats_show(api_call *c);       /* GET /v1/stats */
enum MHD_Result api_submissions_list(api_call *c); /* GET /v1/submissions */
enum MHD_Result api_cache_show(api_call *c);       /* GET /v1/cache */
enum MHD_Result api_depset_pin(api_call *c);       /* POST /v1/depsets/{key}/pin */
enum MHD_Result api_depset_rebuild(api_call *c);   /* POST /v1/depsets/{key}/rebuild */

/* api_tokens.c */
enum MHD_Result api_whoami(api_call *c);       /* GET /v1/whoami */
enum MHD_Result api_tokens_list(api_call *c);  /* GET /v1/tokens */
enum MHD_Result api_token_create(api_call *c); /* POST /v1/tokens */
enum MHD_Result api_token_revoke(api_call *c); /* DELETE /v1/tokens/{id} */

/* ui_static.c */
enum MHD_Result ui_static_index(api_call *c); /* GET /ui and /ui/ */
enum MHD_Result ui_static_file(api_call *c);  /* GET /ui/{file} */
