/* api_pool.h — store connections for the API's connection threads.
 *
 * A store is used by one thread at a time (common/store.h), and the API serves
 * each connection in its own thread, so a handler borrows a connection for the
 * length of one request and gives it back. Idle connections are kept (up to a
 * cap) so a busy API does not reopen SQLite on every request. */
#pragma once

#include <stddef.h>
#include "../../common/config.h"
#include "../../common/store.h"

typedef struct api_pool api_pool;

/* Opens one connection at once, so a bad database path fails at start-up.
 * Caller owns *out (api_pool_free). */
int api_pool_new(const config *cfg, size_t max_idle, api_pool **out, char *err, size_t errlen);
void api_pool_free(api_pool *p);
/* Borrows a connection (opening one when none is idle); NULL when it cannot be
 * opened (err filled). */
store *api_pool_get(api_pool *p, char *err, size_t errlen);
/* Gives it back; NULL is ignored. */
void api_pool_put(api_pool *p, store *s);

/* The database path the config names (db_path, else <state_dir>/farm.db); caller frees. */
char *api_db_path(const config *cfg);
