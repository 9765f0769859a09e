/* store_sql.h — writing a statement once for both backends.
 *
 * Most SQL is the same on SQLite and PostgreSQL when written with care
 * (see docs/architecture.md "Porting a store file"): ?N parameters,
 * INSERT ... ON CONFLICT, RETURNING, CAST(x AS BIGINT), IS [NOT] DISTINCT
 * FROM, COALESCE, CASE. What still differs is spelled with the fragments
 * below, inside a statement macro that takes the dialect D:
 *
 *   #define SQL_TOUCH(D) "UPDATE t SET v = " DB_MAX2(D) "(v, ?2) WHERE id = ?1"
 *   db_stmt *st = store_stmt(s, STORE_SQL(s, SQL_TOUCH));
 *
 * STORE_SQL picks the dialect's literal at run time; both literals are
 * compiled in, so the statement cache still keys on a literal's address. */
#pragma once

#define DB_IF(D, lite, pg) DB_IF_##D(lite, pg)
#define DB_IF_LITE(lite, pg) lite
#define DB_IF_PG(lite, pg) pg

/* The statement macro M expanded for s's backend. */
#define STORE_SQL(s, M) (store_is_pg(s) ? M(PG) : M(LITE))

/* Two-argument MAX/MIN (SQLite's scalar forms). */
#define DB_MAX2(D) DB_IF(D, "MAX", "GREATEST")
#define DB_MIN2(D) DB_IF(D, "MIN", "LEAST")
/* JSON built in SQL: objects and arrays as text, a JSON text parameter. */
#define DB_JSON_OBJECT(D) DB_IF(D, "json_object", "json_build_object")
#define DB_JSON_ARRAY(D) DB_IF(D, "json_array", "json_build_array")
#define DB_AS_TEXT(D) DB_IF(D, "", "::text")
#define DB_JSON(D, x) DB_IF(D, "json(" x ")", "(" x ")::json")
/* Row locks: SQLite's BEGIN IMMEDIATE already serializes writers; in
 * PostgreSQL a read that decides a write locks its rows, and a claim skips
 * rows another claimer holds. */
#define DB_FOR_UPDATE(D) DB_IF(D, "", " FOR UPDATE")
#define DB_SKIP_LOCKED(D) DB_IF(D, "", " FOR UPDATE SKIP LOCKED")
