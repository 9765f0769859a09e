/* test_store.c — the store's queues, leases, health requeue and failure modes,
 * against real SQLite files in a temp dir or, registered as store-pg, real
 * PostgreSQL databases on a throwaway server (testdb.h), with real processes
 * where the behaviour is about processes (exactly-once claiming, kill -9,
 * doorbell). Cases about one backend's files and locks run on that backend. */
#include "testutil.h"
#include "testdb.h"
#include "testset.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "hash.h"
#include "health_check.h"
#include "health_report.h"
#include "store.h"

#define LEASE 60000

extern const size_t store_n_migrations; /* common/store_internal.h */

static char db_path[600]; /* the database url (a file path on SQLite) */
static char db_dir[600];  /* the case directory db_path belongs to */

/* The case's database for dir: made on first use, the same one after. */
static void case_db(const char *dir)
{
    if (strcmp(dir, db_dir) == 0)
        return;
    snprintf(db_dir, sizeof(db_dir), "%s", dir);
    testdb_url(dir, db_path, sizeof(db_path));
}

static bool has_table(const char *name, const char *type)
{
    char sql[300];
    if (testdb_is_pg())
        snprintf(sql, sizeof(sql),
                 "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "
                 "current_schema() AND table_name = '%s' AND table_type = '%s'",
                 name, strcmp(type, "view") == 0 ? "VIEW" : "BASE TABLE");
    else
        snprintf(sql, sizeof(sql),
                 "SELECT COUNT(*) FROM sqlite_master WHERE type = '%s' AND name = '%s'", type,
                 name);
    return testdb_int(db_path, sql) == 1;
}

static store *open_store(const char *dir)
{
    case_db(dir);
    store *s = NULL;
    char err[512] = "";
    int r = store_open_opts(db_path, dir, 2000, 3, &s, err, sizeof(err));
    ck_assert_msg(r == 0, "store_open: %d %s", r, err);
    return s;
}

static void ready_set(store *s, test_set *t, const char *name)
{
    testset_make(t, name);
    testset_build(s, t, true);
}

static void enqueue(store *s, test_set *t, int priority, int max_attempts, char id[33])
{
    store_submission_new n = {.priority = priority,
                              .request_json = "{\"run\":\"./main\"}",
                              .depset = &t->ref,
                              .n_tests = 1,
                              .max_attempts = max_attempts};
    int r = store_submission_enqueue(s, &n);
    ck_assert_msg(r == 0, "enqueue: %d %s", r, store_last_error(s));
    if (id)
        memcpy(id, n.id, 33);
}

/* Forks for a case that needs a second process: a pipe from the child
 * (pfd[1]) to the parent (pfd[0]), each side's other end closed. 0 in the
 * child, set up by testutil_child_init; the child's pid in the parent. */
static pid_t fork_with_pipe(int pfd[2])
{
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        testutil_child_init();
        close(pfd[0]);
    } else {
        close(pfd[1]);
    }
    return pid;
}

/* The child's own store on the case's database (a fork never uses the
 * parent's connection); exits 2 when it cannot open. */
static store *child_open_store(const char *dir)
{
    store *cs = NULL;
    char err[256];
    if (store_open(db_path, dir, &cs, err, sizeof(err)) < 0)
        _exit(2);
    return cs;
}

static const char *state_of(store *s, const char *id, char buf[32])
{
    json_t *o = NULL;
    ck_assert_int_eq(store_submission_get(s, id, &o), 0);
    snprintf(buf, 32, "%s", json_string_value(json_object_get(o, "state")));
    json_decref(o);
    return buf;
}

static long long sql_int(const char *sql)
{
    return testdb_int(db_path, sql);
}

/* Explicit holds plus running submissions, as store_depset_get counts them. */
static int holders_of(store *s, const char *key)
{
    json_t *d = NULL;
    ck_assert_int_eq(store_depset_get(s, key, &d), 0);
    int n = (int)json_integer_value(json_object_get(d, "holders"));
    json_decref(d);
    return n;
}

static int items(void)
{
    const char *e = getenv("FARM_TEST_ITEMS");
    return e && atoi(e) > 0 ? atoi(e) : 4000;
}

/* ---- opening and migrations ---- */

/* The database holds every submission's code: a new one is made private. */
START_TEST(new_database_is_private)
{
    char dir[600], path[700];
    struct stat st;
    store *s = NULL;
    char err[512] = "";

    snprintf(dir, sizeof(dir), "%s/state/sub", testutil_newdir());
    snprintf(path, sizeof(path), "%s/farm.db", dir);
    ck_assert_int_eq(store_open_opts(path, dir, 2000, 3, &s, err, sizeof(err)), 0);
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    store_close(s);
}
END_TEST

START_TEST(migrations_from_empty)
{
    store *s = open_store(testutil_newdir());
    ck_assert_int_gt(store_schema_version(), 0);
    ck_assert_int_eq(store_file_version(s), store_schema_version());
    static const char *tables[] = {
        "submissions", "submission_tests", "submission_event_rows", "depsets",          "blobs",
        "heartbeats",  "api_tokens",       "webhook_deliveries",    "webhook_attempts", "settings"};
    for (size_t i = 0; i < sizeof(tables) / sizeof(*tables); i++)
        ck_assert_msg(has_table(tables[i], "table"), "table %s missing", tables[i]);
    ck_assert(has_table("submission_events", "view"));
    if (!testdb_is_pg()) {
        ck_assert_int_eq(sql_int("PRAGMA user_version"), store_schema_version());
        ck_assert_int_eq(sql_int("SELECT COUNT(*) FROM schema_migrations"),
                         (long long)store_n_migrations);
    } else {
        ck_assert_int_eq(sql_int("SELECT MAX(version) FROM schema_migrations"),
                         store_schema_version());
    }
    store_close(s);
    /* Reopening an up-to-date file applies nothing and keeps the version. */
    s = open_store(testutil_dir);
    ck_assert_int_eq(store_file_version(s), store_schema_version());
    store_close(s);
}
END_TEST

START_TEST(concurrent_first_open_migrates_once)
{
    const char *dir = testutil_newdir();
    case_db(dir);
    pid_t pids[4];
    for (int k = 0; k < 4; k++) {
        pids[k] = fork();
        ck_assert_int_ge(pids[k], 0);
        if (pids[k] == 0) {
            testutil_child_init();
            store *c = NULL;
            char err[512];
            int r = store_open(db_path, dir, &c, err, sizeof(err));
            if (r == 0)
                r = store_file_version(c) == store_schema_version() ? 0 : -1;
            store_close(c);
            _exit(r == 0 ? 0 : 1);
        }
    }
    for (int k = 0; k < 4; k++) {
        int st;
        ck_assert_int_eq(waitpid(pids[k], &st, 0), pids[k]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "opener %d status %d", k, st);
    }
    ck_assert(has_table("submissions", "table"));
}
END_TEST

/* A database migrated before the ledger (and before 002) at a higher
 * version: the runner backfills the ledger and still applies 002, keeping
 * the events written before it. */
START_TEST(file_below_the_version_is_applied)
{
    store *s = open_store(testutil_newdir());
    test_set t;
    ready_set(s, &t, "gcc");
    char id[33];
    enqueue(s, &t, 0, 0, id);
    store_close(s);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    char *msg = NULL;
    char sql[1200];
    /* Undo 002 by hand: the layout of a database that never had it. */
    snprintf(sql, sizeof(sql),
             "DROP VIEW submission_events;"
             "ALTER TABLE submission_event_rows RENAME TO submission_events;"
             "INSERT INTO submission_events (submission_id, seq, type, data, at) VALUES "
             "('%s', 1, 'state', '{\"state\":\"queued\"}', 1), "
             "('%s', 2, 'stage', '{\"stage\":\"x\"}', 2);"
             "ALTER TABLE submissions DROP COLUMN events;"
             "ALTER TABLE submissions DROP COLUMN event_seq;"
             /* ...and everything after 020: pre-ledger databases stop there. */
             "DROP TRIGGER attempt_reasons_metrics;"
             "ALTER TABLE submissions DROP COLUMN attempt_reasons;"
             "ALTER TABLE submissions DROP COLUMN last_failed_slot;"
             "ALTER TABLE heartbeats DROP COLUMN doing;"
             "ALTER TABLE heartbeats DROP COLUMN doing_since;"
             "ALTER TABLE heartbeats DROP COLUMN deadline_at;"
             "PRAGMA user_version=20;"
             "DROP TABLE schema_migrations;",
             id, id);
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s", msg);
    sqlite3_close(db);

    s = open_store(testutil_dir);
    ck_assert_int_eq(store_file_version(s), store_schema_version());
    ck_assert_int_eq(sql_int("SELECT COUNT(*) FROM schema_migrations"),
                     (long long)store_n_migrations);
    ck_assert_int_eq(sql_int("SELECT COUNT(*) FROM schema_migrations WHERE version = 2"), 1);
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), 1);
    store_claimed_done(&c);
    json_t *ev = NULL;
    ck_assert_int_eq(store_submission_events(s, id, 0, &ev), 0);
    ck_assert_int_eq(json_array_size(ev), 3); /* the two old rows, then "running" as seq 3 */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(ev, (size_t)i), "seq")),
                         i + 1);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(json_array_get(ev, 2), "data"), "state")),
        "running");
    json_decref(ev);
    ck_assert_int_eq(sql_int("SELECT COUNT(*) FROM submission_events"), 3);
    store_close(s);
}
END_TEST

START_TEST(newer_database_refused)
{
    store *s = open_store(testutil_newdir());
    store_close(s);
    char err[512] = "";
    if (testdb_is_pg()) {
        /* The ledger is the version: a newer number, then one not embedded. */
        testdb_exec(db_path, "INSERT INTO schema_migrations (version, name, applied_at) "
                             "VALUES (999, '999_future.sql', 0)");
        s = NULL;
        ck_assert_int_eq(store_open(db_path, NULL, &s, err, sizeof(err)), -EPROTO);
        ck_assert_ptr_null(s);
        ck_assert_msg(strstr(err, "newer"), "message: %s", err);
        testdb_exec(db_path, "UPDATE schema_migrations SET version = 9 WHERE version = 999");
        ck_assert_int_eq(store_open(db_path, NULL, &s, err, sizeof(err)), -EPROTO);
        ck_assert_ptr_null(s);
        ck_assert_msg(strstr(err, "does not know"), "message: %s", err);
        return;
    }
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", store_schema_version() + 1);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    s = NULL;
    ck_assert_int_eq(store_open(db_path, NULL, &s, err, sizeof(err)), -EPROTO);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, "newer"), "message: %s", err);
    /* Same version, but a file this binary does not embed was applied. */
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", store_schema_version());
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db,
                                  "INSERT INTO schema_migrations (version, name, applied_at) "
                                  "VALUES (9, '009_future.sql', 0)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(store_open(db_path, NULL, &s, err, sizeof(err)), -EPROTO);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, "does not know"), "message: %s", err);
}
END_TEST

START_TEST(corrupt_file_refused)
{
    const char *dir = testutil_newdir();
    snprintf(db_path, sizeof(db_path), "%s/farm.db", dir);
    FILE *f = fopen(db_path, "w");
    for (int i = 0; i < 4096; i++)
        fputs("not a database ", f);
    fclose(f);
    store *s = NULL;
    char err[512] = "";
    ck_assert_int_eq(store_open(db_path, NULL, &s, err, sizeof(err)), -EPROTO);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, "corrupt"), "message: %s", err);
}
END_TEST

START_TEST(read_only_file_refused)
{
    const char *dir = testutil_newdir();
    store *s = open_store(dir);
    store_close(s);
    /* Root ignores file modes, so the opener runs as nobody. */
    ck_assert_int_eq(chmod(db_path, 0444), 0);
    int pfd[2];
    pid_t pid = fork_with_pipe(pfd);
    if (pid == 0) {
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(3);
        store *c = NULL;
        char err[512] = "";
        int r = store_open(db_path, NULL, &c, err, sizeof(err));
        dprintf(pfd[1], "%d %s", r, err);
        _exit(r == -EROFS || r == -EACCES ? 0 : 1);
    }
    char msg[600] = "";
    ssize_t n = read(pfd[0], msg, sizeof(msg) - 1);
    close(pfd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    chmod(db_path, 0644);
    ck_assert_msg(n > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", msg);
    ck_assert_msg(strstr(msg, "read-only"), "message: %s", msg);
}
END_TEST

START_TEST(locked_database_gives_ebusy)
{
    const char *dir = testutil_newdir();
    store *s = open_store(dir);
    test_set t;
    testset_make(&t, "gcc");
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    store_submission_new n = {.request_json = "{}", .depset = &t.ref};
    char err[512] = "";
    ck_assert_int_eq(store_submission_enqueue(s, &n), -EBUSY);
    ck_assert_msg(strstr(store_last_error(s), "locked"), "message: %s", store_last_error(s));
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), -EBUSY);
    ck_assert_ptr_nonnull(strstr(store_last_error(s), "locked"));
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    /* The lock gone, the same connection works again. */
    ck_assert_int_eq(store_submission_enqueue(s, &n), 0);
    store_close(s);

    /* Opening a fresh file another connection holds exclusively. */
    char fresh[700];
    snprintf(fresh, sizeof(fresh), "%s/fresh.db", dir);
    sqlite3_close(db);
    ck_assert_int_eq(sqlite3_open(fresh, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN EXCLUSIVE; CREATE TABLE x (a);", NULL, NULL, NULL),
                     SQLITE_OK);
    s = NULL;
    ck_assert_int_eq(store_open_opts(fresh, NULL, 200, 3, &s, err, sizeof(err)), -EBUSY);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, "locked"), "message: %s", err);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
}
END_TEST

/* ---- the queue ---- */

START_TEST(enqueue_claim_finish)
{
    store *s = open_store(testutil_newdir());
    test_set t;
    ready_set(s, &t, "gcc");
    char id[33], buf[32];
    enqueue(s, &t, 0, 0, id);
    ck_assert_str_eq(state_of(s, id, buf), "queued");
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "w1", LEASE, &c), 1);
    ck_assert_str_eq(c.id, id);
    ck_assert_str_eq(c.depset_key, t.ref.key);
    ck_assert_int_eq(c.attempts, 1);
    ck_assert_str_eq(c.request_json, "{\"run\":\"./main\"}");
    ck_assert_ptr_nonnull(strstr(c.depset_json, "/nix/store/aaaa-env"));
    ck_assert_int_eq(holders_of(s, t.ref.key), 1);
    json_t *tr = json_pack("{s:s,s:s,s:i}", "name", "t1", "verdict", "accepted", "exit_code", 0);
    ck_assert_int_eq(store_submission_test_result(s, id, "w1", 0, tr), 0);
    json_t *res = json_pack("{s:n,s:[O]}", "compile", "tests", tr);
    ck_assert_int_eq(store_submission_finish(s, id, "w1", "finished", "accepted", res), 0);
    json_decref(tr);
    json_decref(res);
    store_claimed_done(&c);
    ck_assert_int_eq(holders_of(s, t.ref.key), 0);

    json_t *o = NULL;
    ck_assert_int_eq(store_submission_get(s, id, &o), 0);
    ck_assert_str_eq(json_string_value(json_object_get(o, "state")), "finished");
    ck_assert_str_eq(json_string_value(json_object_get(o, "verdict")), "accepted");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "depset"), "state")),
                     "ready");
    ck_assert_int_eq(json_array_size(json_object_get(o, "tests")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "attempts")), 1);
    ck_assert(json_is_integer(json_object_get(o, "finished_at")));
    json_decref(o);

    json_t *ev = NULL;
    ck_assert_int_eq(store_submission_events(s, id, 0, &ev), 0);
    /* queued, running, test, finished: one seq across the row's inline
     * state events and the test's event row */
    ck_assert_int_eq(json_array_size(ev), 4);
    static const char *types[] = {"state", "state", "test", "state"};
    for (size_t i = 0; i < 4; i++) {
        json_t *e = json_array_get(ev, i);
        ck_assert_int_eq(json_integer_value(json_object_get(e, "seq")), (json_int_t)i + 1);
        ck_assert_str_eq(json_string_value(json_object_get(e, "type")), types[i]);
        ck_assert(json_is_integer(json_object_get(e, "at")));
    }
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(json_array_get(ev, 3), "data"), "state")),
        "finished");
    json_decref(ev);
    ck_assert_int_eq(store_submission_events(s, id, 3, &ev), 0);
    ck_assert_int_eq(json_array_size(ev), 1);
    json_decref(ev);
    ck_assert_int_eq(store_submission_events(s, id, 4, &ev), 0);
    ck_assert_int_eq(json_array_size(ev), 0);
    json_decref(ev);
    ck_assert_int_eq(store_submission_event(s, id, NULL, "note", NULL), 0);
    ck_assert_int_eq(store_submission_events(s, id, 4, &ev), 0);
    ck_assert_int_eq(json_array_size(ev), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(ev, 0), "seq")), 5);
    ck_assert(json_is_null(json_object_get(json_array_get(ev, 0), "data")));
    json_decref(ev);
    ck_assert_int_eq(store_submission_events(s, "nosuch", 0, &ev), -ENOENT);
    /* The view shows the same stream to readers outside the store. */
    ck_assert_int_eq(sql_int("SELECT COUNT(*) FROM submission_events"), 5);
    ck_assert_int_eq(sql_int("SELECT MAX(seq) FROM submission_events"), 5);
    ck_assert_int_eq(store_submission_claim(s, "w1", LEASE, &c), 0);
    store_close(s);
}
END_TEST

START_TEST(priority_then_fifo)
{
    store *s = open_store(testutil_newdir());
    test_set t;
    ready_set(s, &t, "gcc");
    char a[33], b[33], c_[33], d[33];
    enqueue(s, &t, 0, 0, a);
    enqueue(s, &t, 5, 0, b);
    enqueue(s, &t, 0, 0, c_);
    enqueue(s, &t, 5, 0, d);
    const char *want[] = {b, d, a, c_};
    for (int i = 0; i < 4; i++) {
        store_claimed c;
        ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), 1);
        ck_assert_str_eq(c.id, want[i]);
        store_claimed_done(&c);
    }
    store_close(s);
}
END_TEST

START_TEST(set_and_blobs_deduplicated)
{
    store *s = open_store(testutil_newdir());
    test_set t;
    testset_make(&t, "python3");
    const char *input = "1 2\n";
    for (int i = 0; i < 50; i++) {
        store_blob b = {.data = input, .len = strlen(input)};
        store_submission_new n = {
            .request_json = "{}", .depset = &t.ref, .blobs = &b, .n_blobs = 1};
        ck_assert_int_eq(store_submission_enqueue(s, &n), 0);
        ck_assert_uint_eq(strlen(b.sha256), 64);
    }
    ck_assert_int_eq(sql_int("SELECT COUNT(*) FROM blobs"), 1);
    ck_assert_int_eq(sql_int("SELECT COUNT(*) FROM depsets"), 1);
    ck_assert_int_eq(sql_int("SELECT COUNT(*) FROM submissions"), 50);
    char hex[65];
    hash_sha256_hex(input, strlen(input), hex);
    void *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(store_blob_get(s, hex, &data, &len), 0);
    ck_assert_uint_eq(len, 4);
    ck_assert_str_eq(data, input);
    free(data);
    /* A caller-given hash that does not match the bytes is refused. */
    store_blob bad = {.data = "x", .len = 1};
    memcpy(bad.sha256, hex, 65);
    ck_assert_int_eq(store_blob_put(s, &bad), -EBADMSG);
    ck_assert_int_eq(store_blob_get(s, "00", &data, &len), -EINVAL);
    store_close(s);
}
END_TEST

START_TEST(batch_is_all_or_nothing)
{
    store *s = open_store(testutil_newdir());
    test_set t;
    testset_make(&t, "gcc");
    store_submission_new n[3] = {
        {.request_json = "{}", .depset = &t.ref},
        {.request_json = "{}", .depset = &t.ref},
        {.request_json = NULL, .depset = &t.ref},
    };
    ck_assert_int_eq(store_submission_enqueue_batch(s, n, 3), -EINVAL);
    ck_assert_msg(strstr(store_last_error(s), "submission 2"), "message: %s", store_last_error(s));
    ck_assert_int_eq(sql_int("SELECT COUNT(*) FROM submissions"), 0);
    ck_assert_int_eq(sql_int("SELECT COUNT(*) FROM depsets"), 0);
    n[2].request_json = "{}";
    ck_assert_int_eq(store_submission_enqueue_batch(s, n, 3), 0);
    ck_assert_int_eq(sql_int("SELECT COUNT(*) FROM submissions"), 3);
    store_close(s);
}
END_TEST

START_TEST(lease_expiry_requeues_with_attempts)
{
    store *s = open_store(testutil_newdir());
    test_set t;
    ready_set(s, &t, "gcc");
    char id[33], buf[32];
    enqueue(s, &t, 0, 0, id);
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "w1", 1, &c), 1);
    store_claimed_done(&c);
    usleep(20000);
    store_requeue_counts rc;
    ck_assert_int_eq(store_requeue_expired(s, store_now_ms(), &rc), 0);
    ck_assert_int_eq(rc.submissions_requeued, 1);
    ck_assert_int_eq(rc.submissions_failed, 0);
    ck_assert_str_eq(state_of(s, id, buf), "queued");
    ck_assert_int_eq(holders_of(s, t.ref.key), 0);
    ck_assert_int_eq(store_submission_claim(s, "w2", LEASE, &c), 1);
    ck_assert_int_eq(c.attempts, 2);
    store_claimed_done(&c);
    /* A live lease is left alone. */
    ck_assert_int_eq(store_requeue_expired(s, store_now_ms(), &rc), 0);
    ck_assert_int_eq(rc.submissions_requeued, 0);
    ck_assert_str_eq(state_of(s, id, buf), "running");
    store_close(s);
}
END_TEST

START_TEST(stale_owner_cannot_write)
{
    store *s = open_store(testutil_newdir());
    test_set t;
    ready_set(s, &t, "gcc");
    char id[33];
    enqueue(s, &t, 0, 0, id);
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "old", LEASE, &c), 1);
    store_claimed_done(&c);
    ck_assert_int_eq(store_submission_renew(s, id, "old", LEASE), 0);
    store_requeue_counts rc;
    ck_assert_int_eq(store_requeue_expired(s, store_now_ms() + 2 * LEASE, &rc), 0);
    ck_assert_int_eq(rc.submissions_requeued, 1);
    /* Between requeue and reclaim the old owner is already out. */
    ck_assert_int_eq(store_submission_renew(s, id, "old", LEASE), -ESTALE);
    ck_assert_int_eq(store_submission_claim(s, "new", LEASE, &c), 1);
    store_claimed_done(&c);
    json_t *r = json_pack("{s:s}", "who", "old");
    ck_assert_int_eq(store_submission_renew(s, id, "old", LEASE), -ESTALE);
    ck_assert_int_eq(store_submission_event(s, id, "old", "log", r), -ESTALE);
    ck_assert_int_eq(store_submission_test_result(s, id, "old", 0, r), -ESTALE);
    ck_assert_int_eq(store_submission_finish(s, id, "old", "finished", "accepted", r), -ESTALE);
    ck_assert_int_eq(store_submission_release(s, id, "old"), -ESTALE);
    ck_assert_int_eq(sql_int("SELECT COUNT(*) FROM submission_tests"), 0);
    json_decref(r);
    r = json_pack("{s:s}", "who", "new");
    ck_assert_int_eq(store_submission_finish(s, id, "new", "finished", "accepted", r), 0);
    json_decref(r);
    json_t *o = NULL;
    ck_assert_int_eq(store_submission_get(s, id, &o), 0);
    ck_assert_str_eq(json_string_value(json_object_get(o, "who")), "new");
    json_decref(o);
    ck_assert_int_eq(store_submission_renew(s, "nosuch", "x", LEASE), -ENOENT);
    store_close(s);
}
END_TEST

START_TEST(kill9_claimer_is_requeued_and_finished_once)
{
    const char *dir = testutil_newdir();
    store *s = open_store(dir);
    test_set t;
    ready_set(s, &t, "gcc");
    char id[33];
    enqueue(s, &t, 0, 0, id);
    store_close(s);
    int pfd[2];
    pid_t pid = fork_with_pipe(pfd);
    if (pid == 0) {
        store *cs = child_open_store(dir);
        store_claimed c;
        if (store_submission_claim(cs, "victim", 500, &c) != 1)
            _exit(3);
        if (write(pfd[1], c.id, 32) != 32)
            _exit(4);
        for (;;)
            pause(); /* mid-lease, until SIGKILL */
    }
    s = open_store(dir);
    char got[33] = "";
    ck_assert_int_eq(read(pfd[0], got, 32), 32);
    close(pfd[0]);
    ck_assert_str_eq(got, id);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    /* Before the lease runs out nothing moves; after, the checker requeues. */
    store_requeue_counts rc;
    ck_assert_int_eq(health_check_once(s, store_now_ms() - 1000, &rc), 0);
    ck_assert_int_eq(rc.submissions_requeued, 0);
    ck_assert_int_eq(health_check_once(s, store_now_ms() + 1000, &rc), 0);
    ck_assert_int_eq(rc.submissions_requeued, 1);
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "survivor", LEASE, &c), 1);
    ck_assert_str_eq(c.id, id);
    ck_assert_int_eq(c.attempts, 2);
    store_claimed_done(&c);
    ck_assert_int_eq(store_submission_finish(s, id, "survivor", "finished", "accepted", NULL), 0);
    ck_assert_int_eq(store_submission_finish(s, id, "victim", "finished", "accepted", NULL),
                     -ESTALE);
    ck_assert_int_eq(sql_int(testdb_is_pg()
                                 ? "SELECT COUNT(*) FROM submission_events WHERE type='state' AND "
                                   "data::json->>'state'='finished'"
                                 : "SELECT COUNT(*) FROM submission_events WHERE type='state' AND "
                                   "json_extract(data,'$.state')='finished'"),
                     1);
    ck_assert_int_eq(holders_of(s, t.ref.key), 0);
    ck_assert_int_eq(store_submission_claim(s, "survivor", LEASE, &c), 0);
    store_close(s);
}
END_TEST

START_TEST(poison_item_ends_internal_error)
{
    store *s = open_store(testutil_newdir());
    test_set t;
    ready_set(s, &t, "gcc");
    char id[33], buf[32];
    enqueue(s, &t, 0, 3, id);
    store_requeue_counts rc;
    for (int i = 1; i <= 3; i++) {
        store_claimed c;
        ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), 1);
        ck_assert_int_eq(c.attempts, i);
        store_claimed_done(&c);
        ck_assert_int_eq(store_requeue_expired(s, store_now_ms() + 2 * LEASE, &rc), 0);
    }
    ck_assert_int_eq(rc.submissions_failed, 1);
    ck_assert_str_eq(state_of(s, id, buf), "internal_error");
    json_t *o = NULL;
    ck_assert_int_eq(store_submission_get(s, id, &o), 0);
    const char *err = json_string_value(json_object_get(o, "error"));
    ck_assert_msg(err && strstr(err, "attempt 1 (w): lease_expired") &&
                      strstr(err, "attempt 3 (w): lease_expired"),
                  "error: %s", err ? err : "(null)");
    json_decref(o);
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), 0);
    ck_assert_int_eq(holders_of(s, t.ref.key), 0);
    store_close(s);
}
END_TEST

START_TEST(finish_and_claim_in_one_transaction)
{
    store *s = open_store(testutil_newdir());
    test_set t;
    ready_set(s, &t, "gcc");
    char a[33], b[33], c_[33], buf[32];
    enqueue(s, &t, 0, 0, a);
    enqueue(s, &t, 0, 0, b);
    store_claimed c, next;
    ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), 1);
    ck_assert_str_eq(c.id, a);
    store_claimed_done(&c);
    /* A stale owner's call fails whole: nothing finished, nothing claimed. */
    ck_assert_int_eq(
        store_submission_finish_and_claim(s, a, "other", "finished", NULL, NULL, LEASE, &next),
        -ESTALE);
    ck_assert_str_eq(state_of(s, b, buf), "queued");
    ck_assert_int_eq(
        store_submission_finish_and_claim(s, a, "w", "finished", "accepted", NULL, LEASE, &next),
        1);
    ck_assert_str_eq(next.id, b);
    ck_assert_str_eq(state_of(s, a, buf), "finished");
    ck_assert_str_eq(state_of(s, b, buf), "running");
    store_claimed_done(&next);
    ck_assert_int_eq(
        store_submission_finish_and_claim(s, b, "w", "finished", "accepted", NULL, LEASE, &next),
        0);
    ck_assert_str_eq(state_of(s, b, buf), "finished");
    enqueue(s, &t, 0, 0, c_);
    ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), 1);
    ck_assert_str_eq(c.id, c_);
    store_claimed_done(&c);
    store_close(s);
}
END_TEST

START_TEST(release_does_not_count_an_attempt)
{
    store *s = open_store(testutil_newdir());
    test_set t;
    ready_set(s, &t, "gcc");
    char id[33], buf[32];
    enqueue(s, &t, 0, 0, id);
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), 1);
    store_claimed_done(&c);
    ck_assert_int_eq(store_submission_release(s, id, "w"), 0);
    ck_assert_str_eq(state_of(s, id, buf), "queued");
    ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), 1);
    ck_assert_int_eq(c.attempts, 1);
    store_claimed_done(&c);
    store_close(s);
}
END_TEST

/* Issue 18: a failed attempt is counted, its reason kept; the failing slot
 * leaves the row to others; the last attempt ends internal_error listing all. */
START_TEST(release_failed_counts_and_lists_reasons)
{
    store *s = open_store(testutil_newdir());
    test_set t;
    ready_set(s, &t, "gcc");
    char id[33], buf[32];
    enqueue(s, &t, 0, 0, id);
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "h:11:worker-0", LEASE, &c), 1);
    store_claimed_done(&c);
    ck_assert_int_eq(store_submission_release_failed(s, id, "h:11:worker-0", "Bad kind", "x"),
                     -EINVAL);
    ck_assert_int_eq(store_submission_release_failed(s, id, "other", "keeper_died", "x"), -ESTALE);
    ck_assert_int_eq(
        store_submission_release_failed(s, id, "h:11:worker-0", "keeper_died", "keeper died"), 0);
    ck_assert_str_eq(state_of(s, id, buf), "queued");
    /* The same slot, under a new pid, skips it; another slot takes it. */
    ck_assert_int_eq(store_submission_claim(s, "h:12:worker-0", LEASE, &c), 0);
    ck_assert_int_eq(store_submission_claim(s, "h:13:worker-1", LEASE, &c), 1);
    ck_assert_int_eq(c.attempts, 2);
    store_claimed_done(&c);
    ck_assert_int_eq(store_submission_release_failed(s, id, "h:13:worker-1", "mount", "mount"), 0);
    ck_assert_int_eq(store_submission_claim(s, "h:12:worker-0", LEASE, &c), 1);
    ck_assert_int_eq(c.attempts, 3);
    store_claimed_done(&c);
    ck_assert_int_eq(store_submission_release_failed(s, id, "h:12:worker-0", "slot_setup", "s"), 1);
    ck_assert_str_eq(state_of(s, id, buf), "internal_error");
    json_t *o = NULL;
    ck_assert_int_eq(store_submission_get(s, id, &o), 0);
    const char *err = json_string_value(json_object_get(o, "error"));
    ck_assert_ptr_nonnull(strstr(err, "attempt 1 (h:11:worker-0): keeper_died: keeper died"));
    ck_assert_ptr_nonnull(strstr(err, "attempt 2 (h:13:worker-1): mount: mount"));
    ck_assert_ptr_nonnull(strstr(err, "attempt 3 (h:12:worker-0): slot_setup: s"));
    ck_assert_int_eq(json_array_size(json_object_get(o, "attempt_reasons")), 3);
    json_decref(o);
    char slot[64];
    store_owner_slot("remote:h:77:worker-3", slot, sizeof(slot));
    ck_assert_str_eq(slot, "remote:h:worker-3");
    store_close(s);
}
END_TEST

START_TEST(waiting_deps_park_and_wake)
{
    store *s = open_store(testutil_newdir());
    test_set t;
    testset_make(&t, "python3");
    char id[33], buf[32];
    enqueue(s, &t, 0, 0, id);
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), 0);
    ck_assert_str_eq(state_of(s, id, buf), "waiting_deps");
    testset_build(s, &t, true);
    ck_assert_str_eq(state_of(s, id, buf), "queued");
    ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), 1);
    ck_assert_str_eq(c.id, id);
    ck_assert_ptr_nonnull(strstr(c.depset_json, "\"env_path\":\"/nix/store/aaaa-env/bin\""));
    json_t *ready = json_loads(c.depset_json, 0, NULL);
    ck_assert_ptr_nonnull(ready);
    ck_assert_int_eq(json_array_size(json_object_get(ready, "closure")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(ready, "closure_bytes")), 1234);
    ck_assert_str_eq(json_string_value(json_object_get(ready, "root")), "/var/roots/x");
    ck_assert_str_eq(json_string_value(json_object_get(ready, "key")), t.ref.key);
    json_decref(ready);
    store_claimed_done(&c);
    json_t *d = NULL;
    ck_assert_int_eq(store_depset_get(s, t.ref.key, &d), 0);
    ck_assert_str_eq(json_string_value(json_object_get(d, "state")), "ready");
    ck_assert_int_eq(json_integer_value(json_object_get(d, "holders")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "closure_bytes")), 1234);
    json_decref(d);
    store_close(s);
}
END_TEST

START_TEST(deps_failed_on_set_failure)
{
    store *s = open_store(testutil_newdir());
    test_set t;
    testset_make(&t, "nosuchpkg");
    char parked[33], queued[33], later[33], buf[32];
    enqueue(s, &t, 0, 0, parked);
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), 0);
    enqueue(s, &t, 0, 0, queued);
    testset_build(s, &t, false);
    ck_assert_str_eq(state_of(s, parked, buf), "deps_failed");
    ck_assert_str_eq(state_of(s, queued, buf), "deps_failed");
    json_t *o = NULL;
    ck_assert_int_eq(store_submission_get(s, parked, &o), 0);
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(o, "error")), "error: no such package"));
    json_decref(o);
    /* A submission arriving after the failure ends at once. */
    enqueue(s, &t, 0, 0, later);
    ck_assert_str_eq(state_of(s, later, buf), "deps_failed");
    ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), 0);
    store_close(s);
}
END_TEST

START_TEST(builder_lease_expiry_and_poison_set)
{
    store *s = open_store(testutil_newdir());
    test_set t;
    testset_make(&t, "hangs");
    char id[33], buf[32];
    enqueue(s, &t, 0, 0, id);
    store_requeue_counts rc;
    for (int i = 1; i <= 3; i++) {
        store_depset_claimed d;
        ck_assert_int_eq(store_depset_claim(s, "b", LEASE, &d), 1);
        ck_assert_int_eq(d.attempts, i);
        store_depset_claimed_done(&d);
        ck_assert_int_eq(store_depset_renew(s, t.ref.key, "other", LEASE), -ESTALE);
        ck_assert_int_eq(store_requeue_expired(s, store_now_ms() + 2 * LEASE, &rc), 0);
    }
    ck_assert_int_eq(rc.depsets_failed, 1);
    ck_assert_str_eq(state_of(s, id, buf), "deps_failed");
    store_depset_claimed d;
    ck_assert_int_eq(store_depset_claim(s, "b", LEASE, &d), 0);
    store_close(s);
}
END_TEST

START_TEST(cancel_in_each_state)
{
    store *s = open_store(testutil_newdir());
    test_set ready, pending;
    ready_set(s, &ready, "gcc");
    testset_make(&pending, "slow");
    char q[33], w[33], r[33], buf[32];
    enqueue(s, &pending, 0, 0, w);
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "x", LEASE, &c), 0); /* parks w */
    enqueue(s, &ready, 0, 0, r);
    ck_assert_int_eq(store_submission_claim(s, "x", LEASE, &c), 1);
    store_claimed_done(&c);
    enqueue(s, &ready, 0, 0, q);

    ck_assert_int_eq(store_submission_cancel(s, q), 1);
    ck_assert_str_eq(state_of(s, q, buf), "cancelled");
    ck_assert_int_eq(store_submission_cancel(s, w), 1);
    ck_assert_str_eq(state_of(s, w, buf), "cancelled");
    ck_assert_int_eq(store_submission_cancel(s, r), 0);
    ck_assert_str_eq(state_of(s, r, buf), "running");
    ck_assert_int_eq(store_submission_renew(s, r, "x", LEASE), -ECANCELED);
    ck_assert_int_eq(store_submission_finish(s, r, "x", "cancelled", NULL, NULL), 0);
    ck_assert_int_eq(store_submission_cancel(s, r), -EALREADY);
    ck_assert_int_eq(store_submission_cancel(s, q), -EALREADY);
    ck_assert_int_eq(store_submission_cancel(s, "nosuch"), -ENOENT);
    ck_assert_int_eq(store_submission_claim(s, "x", LEASE, &c), 0);
    store_close(s);
}
END_TEST

START_TEST(find_cached_and_finish_validation)
{
    store *s = open_store(testutil_newdir());
    test_set t;
    ready_set(s, &t, "gcc");
    store_submission_new n = {.request_json = "{}", .depset = &t.ref, .cache_key = "ck1"};
    char got[33];
    ck_assert_int_eq(store_submission_enqueue(s, &n), 0);
    ck_assert_int_eq(store_submission_find_cached(s, "ck1", got), 0);
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), 1);
    store_claimed_done(&c);
    ck_assert_int_eq(store_submission_finish(s, n.id, "w", "running", NULL, NULL), -EINVAL);
    ck_assert_int_eq(store_submission_finish(s, n.id, "w", "finished", "accepted", NULL), 0);
    ck_assert_int_eq(store_submission_find_cached(s, "ck1", got), 1);
    ck_assert_str_eq(got, n.id);
    /* An explicit id that exists is refused with a sentence. */
    store_submission_new dup = n;
    ck_assert_int_eq(store_submission_enqueue(s, &dup), -EEXIST);
    ck_assert_ptr_nonnull(strstr(store_last_error(s), "already exists"));
    store_close(s);
}
END_TEST

/* NULL lists are stored as empty arrays (and nothing leaks: the sanitizer and
 * valgrind runs check that). */
START_TEST(ready_with_null_lists)
{
    store *s = open_store(testutil_newdir());
    test_set t;
    testset_make(&t, "nolists");
    store_depset_ensure(s, &t.ref);
    store_depset_claimed c;
    ck_assert_int_eq(store_depset_claim(s, "builder-1", LEASE, &c), 1);
    store_depset_claimed_done(&c);
    ck_assert_int_eq(store_depset_ready(s, t.ref.key, "builder-1", NULL, NULL, 0, "/r", "built"),
                     0);
    json_t *row = NULL;
    ck_assert_int_eq(store_depset_get(s, t.ref.key, &row), 0);
    ck_assert_str_eq(json_string_value(json_object_get(row, "state")), "ready");
    ck_assert(json_is_array(json_object_get(row, "out_paths")));
    ck_assert_int_eq(json_array_size(json_object_get(row, "out_paths")), 0);
    ck_assert(json_is_array(json_object_get(row, "closure")));
    ck_assert_int_eq(json_array_size(json_object_get(row, "closure")), 0);
    json_decref(row);
    store_close(s);
}
END_TEST

START_TEST(eviction_respects_holds)
{
    store *s = open_store(testutil_newdir());
    test_set a, b;
    ready_set(s, &a, "a");
    ready_set(s, &b, "b");
    int64_t total = 0;
    ck_assert_int_eq(store_depset_total_bytes(s, &total), 0);
    ck_assert_int_eq(total, 2468);
    char id[33];
    enqueue(s, &a, 0, 0, id);
    json_t *cand = NULL;
    ck_assert_int_eq(store_depset_eviction_candidates(s, &cand), 0);
    ck_assert_int_eq(json_array_size(cand), 1); /* a is needed by a queued row */
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cand, 0), "key")), b.ref.key);
    json_decref(cand);
    ck_assert_int_eq(store_depset_evict(s, a.ref.key), 0);
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), 1);
    store_claimed_done(&c);
    ck_assert_int_eq(store_depset_evict(s, a.ref.key), 0); /* held by the running row */
    ck_assert_int_eq(store_submission_finish(s, id, "w", "finished", NULL, NULL), 0);
    ck_assert_int_eq(store_depset_hold(s, b.ref.key), 0);
    ck_assert_int_eq(store_depset_evict(s, b.ref.key), 0);
    ck_assert_int_eq(store_depset_release(s, b.ref.key), 0);
    ck_assert_int_eq(store_depset_evict(s, b.ref.key), 1);
    ck_assert_int_eq(store_depset_evict(s, a.ref.key), 1);
    ck_assert_int_eq(store_depset_evict(s, a.ref.key), -ENOENT);
    json_t *list = NULL;
    ck_assert_int_eq(store_depset_list(s, &list), 0);
    ck_assert_int_eq(json_array_size(list), 0);
    json_decref(list);
    store_close(s);
}
END_TEST

START_TEST(depset_requeue_while_held_and_waited_on)
{
    store *s = open_store(testutil_newdir());
    char dir[600];
    snprintf(dir, sizeof(dir), "%.590s", db_dir);
    /* A builder listening on its doorbell must hear the requeue. */
    store *b = open_store(dir);
    ck_assert_int_eq(store_doorbell_listen(b, STORE_ROLE_BUILDER), 0);
    test_set t, other;
    ready_set(s, &t, "gcc");
    testset_make(&other, "nosuchset");
    char running[33], queued[33], waiting[33], buf[32];
    enqueue(s, &other, 0, 0, waiting); /* parked on another set, untouched */
    enqueue(s, &t, 5, 0, running);
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), 1);
    ck_assert_str_eq(c.id, running);
    store_claimed_done(&c);
    ck_assert_int_eq(store_depset_hold(s, t.ref.key), 0);
    enqueue(s, &t, 0, 0, queued);
    ck_assert_int_eq(holders_of(s, t.ref.key), 2);
    while (store_wait(b, 0) == 1) /* drain the rings of the setup */
        ;

    ck_assert_int_eq(store_depset_requeue(s, t.ref.key), 1);
    ck_assert_int_eq(store_wait(b, 2000), 1);
    json_t *d = NULL;
    ck_assert_int_eq(store_depset_get(s, t.ref.key, &d), 0);
    ck_assert_str_eq(json_string_value(json_object_get(d, "state")), "queued");
    ck_assert(json_is_null(json_object_get(d, "out_paths")));
    ck_assert(json_is_null(json_object_get(d, "closure")));
    ck_assert(json_is_null(json_object_get(d, "root")));
    ck_assert_int_eq(json_integer_value(json_object_get(d, "closure_bytes")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "attempts")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "holders")), 2); /* kept */
    json_decref(d);
    ck_assert_int_eq(store_depset_requeue(s, t.ref.key), 0); /* not ready: nothing to do */
    ck_assert_int_eq(store_depset_requeue(s, "nosuchkey"), -ENOENT);
    ck_assert_int_eq(store_depset_evict(s, t.ref.key), 0); /* queued sets are not evictable */

    /* The holder keeps running and can finish; a new claim parks again. */
    ck_assert_str_eq(state_of(s, running, buf), "running");
    ck_assert_int_eq(store_submission_renew(s, running, "w", LEASE), 0);
    ck_assert_int_eq(store_submission_claim(s, "w2", LEASE, &c), 0);
    ck_assert_str_eq(state_of(s, queued, buf), "waiting_deps");
    ck_assert_str_eq(state_of(s, waiting, buf), "waiting_deps");
    ck_assert_int_eq(store_submission_finish(s, running, "w", "finished", "accepted", NULL), 0);

    /* The builder rebuilds it (attempts count from 1 again) and the parked row runs. */
    testset_build(s, &t, true);
    ck_assert_str_eq(state_of(s, queued, buf), "queued");
    ck_assert_int_eq(store_submission_claim(s, "w2", LEASE, &c), 1);
    ck_assert_str_eq(c.id, queued);
    ck_assert_ptr_nonnull(strstr(c.depset_json, "\"root\":\"/var/roots/x\""));
    store_claimed_done(&c);
    ck_assert_int_eq(store_depset_get(s, t.ref.key, &d), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "attempts")), 1);
    json_decref(d);
    ck_assert_str_eq(state_of(s, waiting, buf), "waiting_deps");
    ck_assert_int_eq(store_depset_release(s, t.ref.key), 0);
    store_close(b);
    store_close(s);
}
END_TEST

/* Issue 21: what the heartbeats say and what the report makes of them. */
static json_t *report(store *s, const health_params *p, bool writable)
{
    json_t *o = NULL;
    ck_assert_int_eq(health_report(s, p, writable, &o), 0);
    return o;
}

static bool has_reason(json_t *o, const char *part)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(o, "reasons"), i, r)
    {
        if (strstr(json_string_value(r), part))
            return true;
    }
    return false;
}

START_TEST(health_report_tells_the_truth)
{
    store *s = open_store(testutil_newdir());
    health_params p = {
        .stale_ms = 60000, .stuck_grace_ms = 0, .build_timeout_ms = 600000, .queue_age_ms = 600000};
    ck_assert_int_eq(store_heartbeat_doing(s, "h", "health", "x", 1, NULL, "checking", 0), 0);
    json_t *o = report(s, &p, true);
    ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "ok");
    json_decref(o);

    /* work queued, no worker: failing */
    test_set t;
    ready_set(s, &t, "gcc");
    char id[33];
    enqueue(s, &t, 0, 0, id);
    o = report(s, &p, true);
    ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "failing");
    ck_assert(has_reason(o, "no live worker with a non-empty queue"));
    ck_assert(
        json_is_integer(json_object_get(json_object_get(o, "oldest_queued_ms"), "submission")));
    json_decref(o);

    /* a worker heartbeats: ok; it runs the item with a 1 ms deadline */
    ck_assert_int_eq(store_heartbeat(s, "w", "worker", "x", 2, NULL), 0);
    o = report(s, &p, true);
    ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "ok");
    json_decref(o);
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "w", LEASE, &c), 1);
    store_claimed_done(&c);
    ck_assert_int_eq(store_heartbeat_doing(s, "w", "worker", "x", 2, id, NULL, 1), 0);
    json_t *beats = NULL;
    ck_assert_int_eq(store_heartbeats(s, &beats), 0);
    json_t *w = json_array_get(beats, 1);
    ck_assert_str_eq(json_string_value(json_object_get(w, "id")), "w");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(w, "doing")), id));
    json_int_t since = json_integer_value(json_object_get(w, "doing_since"));
    json_decref(beats);
    /* the renewer's beats keep doing, its start and the deadline */
    ck_assert_int_eq(store_heartbeat(s, "w", "worker", "x", 2, id), 0);
    ck_assert_int_eq(store_heartbeats(s, &beats), 0);
    w = json_array_get(beats, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(w, "doing_since")), since);
    ck_assert(json_is_integer(json_object_get(w, "deadline_at")));
    json_decref(beats);
    /* past the deadline (+ 0 grace): degraded, every live worker stuck */
    bool stuck = false;
    for (int i = 0; i < 2000 && !stuck; i++) {
        o = report(s, &p, true);
        stuck = json_integer_value(json_object_get(o, "runs_past_limit")) == 1;
        if (stuck) {
            ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "degraded");
            ck_assert(has_reason(o, "all workers busy past their limits"));
            json_t *sr = json_array_get(json_object_get(o, "stuck_runs"), 0);
            ck_assert_str_eq(json_string_value(json_object_get(sr, "id")), id);
        }
        json_decref(o);
        if (!stuck)
            usleep(1000);
    }
    ck_assert(stuck);
    /* the database not writable: failing whatever else holds */
    o = report(s, &p, false);
    ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "failing");
    ck_assert(has_reason(o, "database not writable"));
    json_decref(o);
    /* stale: a heartbeat older than stale_ms */
    p.stale_ms = -1;
    o = report(s, &p, true);
    ck_assert(has_reason(o, "stale worker heartbeats"));
    json_decref(o);
    store_close(s);
}
END_TEST

START_TEST(heartbeats_depths_settings)
{
    store *s = open_store(testutil_newdir());
    ck_assert_int_eq(store_heartbeat(s, "worker-1", "worker", "h1", 42, NULL), 0);
    ck_assert_int_eq(store_heartbeat(s, "worker-1", "worker", "h1", 42, "abc"), 0);
    json_t *hb = NULL;
    ck_assert_int_eq(store_heartbeats(s, &hb), 0);
    ck_assert_int_eq(json_array_size(hb), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(hb, 0), "current_item")),
                     "abc");
    json_decref(hb);
    ck_assert_int_eq(store_heartbeat_remove(s, "worker-1"), 0);
    ck_assert_int_eq(store_heartbeat_remove(s, "worker-1"), -ENOENT);

    test_set t;
    testset_make(&t, "gcc");
    enqueue(s, &t, 0, 0, NULL);
    enqueue(s, &t, 0, 0, NULL);
    json_t *d = NULL;
    ck_assert_int_eq(store_queue_depths(s, &d), 0);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(d, "submissions"), "queued")), 2);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(d, "submissions"), "running")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(d, "depsets"), "queued")),
                     1);
    json_decref(d);

    char *v = NULL;
    ck_assert_int_eq(store_setting_get(s, "accepting", &v), 0);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(store_setting_set(s, "accepting", "false"), 0);
    ck_assert_int_eq(store_setting_set(s, "accepting", "true"), 0);
    ck_assert_int_eq(store_setting_get(s, "accepting", &v), 0);
    ck_assert_str_eq(v, "true");
    free(v);
    store_close(s);
}
END_TEST

/* ---- processes ---- */

START_TEST(doorbell_wakes_waiting_claimer)
{
    const char *dir = testutil_newdir();
    store *s = open_store(dir);
    test_set t;
    ready_set(s, &t, "gcc");
    /* Children never inherit an open store (a fork of a live SQLite
     * connection is not usable, and valgrind would count it as leaked). */
    store_close(s);
    int pfd[2];
    pid_t pid = fork_with_pipe(pfd);
    if (pid == 0) {
        store *cs = child_open_store(dir);
        if (store_doorbell_listen(cs, STORE_ROLE_WORKER) < 0)
            _exit(2);
        store_claimed c;
        if (store_submission_claim(cs, "sleeper", LEASE, &c) != 0)
            _exit(3);
        if (write(pfd[1], "r", 1) != 1)
            _exit(4);
        int rung = store_wait(cs, 30000); /* 0 here means no ring came */
        int got = store_submission_claim(cs, "sleeper", LEASE, &c);
        if (got == 1)
            store_claimed_done(&c);
        store_close(cs);
        _exit(rung == 1 && got == 1 ? 0 : 5);
    }
    s = open_store(dir);
    char ch;
    ck_assert_int_eq(read(pfd[0], &ch, 1), 1);
    close(pfd[0]);
    enqueue(s, &t, 0, 0, NULL);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "claimer status %d", st);
    store_close(s);
    if (testdb_is_pg())
        return; /* rung by NOTIFY: no socket files */
    /* The claimer closed its store: its socket file is gone. */
    char sock_dir[700];
    snprintf(sock_dir, sizeof(sock_dir), "%s/doorbell", dir);
    DIR *d = opendir(sock_dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int socks = 0;
    while ((e = readdir(d)))
        socks += e->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(socks, 0);
}
END_TEST

START_TEST(stale_doorbell_socket_unlinked)
{
    const char *dir = testutil_newdir();
    store *s = open_store(dir);
    char path[700];
    snprintf(path, sizeof(path), "%s/doorbell", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/doorbell/worker-999999-0.sock", dir);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd); /* bound file left behind, nobody listening */
    ck_assert_int_eq(access(path, F_OK), 0);
    store_ring(s, STORE_ROLE_WORKER);
    ck_assert_int_eq(access(path, F_OK), -1);
    store_close(s);
}
END_TEST

START_TEST(kill9_mid_write_loses_no_commit)
{
    const char *dir = testutil_newdir();
    store *s = open_store(dir);
    test_set t;
    ready_set(s, &t, "gcc");
    store_close(s);
    int pfd[2];
    pid_t pid = fork_with_pipe(pfd);
    if (pid == 0) {
        store *cs = child_open_store(dir);
        for (;;) { /* enqueue and report each commit until killed */
            store_submission_new n = {.request_json = "{}", .depset = &t.ref, .n_tests = 1};
            if (store_submission_enqueue(cs, &n) < 0 || write(pfd[1], n.id, 32) != 32)
                _exit(3);
        }
    }
    char ids[200][33];
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(read(pfd[0], ids[i], 32), 32);
        ids[i][32] = '\0';
    }
    ck_assert_int_eq(kill(pid, SIGKILL), 0); /* most likely inside a transaction */
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    close(pfd[0]);
    ck_assert(WIFSIGNALED(st));

    s = open_store(dir);
    if (!testdb_is_pg()) {
        sqlite3 *db = NULL;
        ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
        sqlite3_stmt *q = NULL;
        ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
        ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
        ck_assert_str_eq((const char *)sqlite3_column_text(q, 0), "ok");
        sqlite3_finalize(q);
        sqlite3_close(db);
    }
    char buf[32];
    for (int i = 0; i < 200; i++)
        ck_assert_str_eq(state_of(s, ids[i], buf), "queued");
    /* The queue still works: everything committed can be claimed. */
    long long n = sql_int("SELECT COUNT(*) FROM submissions");
    ck_assert_int_ge(n, 200);
    for (long long i = 0; i < n; i++) {
        store_claimed c;
        ck_assert_int_eq(store_submission_claim(s, "after", LEASE, &c), 1);
        store_claimed_done(&c);
    }
    store_claimed c;
    ck_assert_int_eq(store_submission_claim(s, "after", LEASE, &c), 0);
    store_close(s);
}
END_TEST

/* One claimer process: claims until the parent says it is done enqueueing and
 * nothing is left; writes each id it finished to its own file. */
static void claimer(const char *dir, int k)
{
    testutil_child_init();
    store *s = NULL;
    char err[256], owner[32], path[700];
    if (store_open(db_path, dir, &s, err, sizeof(err)) < 0 ||
        store_doorbell_listen(s, STORE_ROLE_WORKER) < 0)
        _exit(2);
    snprintf(owner, sizeof(owner), "claimer-%d", k);
    snprintf(path, sizeof(path), "%s/claimed-%d", dir, k);
    FILE *out = fopen(path, "w");
    if (!out)
        _exit(3);
    for (;;) {
        char *done = NULL;
        if (store_setting_get(s, "test.done", &done) < 0)
            _exit(4);
        bool last = done != NULL;
        free(done);
        store_claimed c;
        int r = store_submission_claim(s, owner, LEASE, &c);
        if (r < 0)
            _exit(5);
        if (r == 0) {
            if (last)
                break;
            store_wait(s, 100);
            continue;
        }
        if (store_submission_finish(s, c.id, owner, "finished", "accepted", NULL) != 0)
            _exit(6);
        fprintf(out, "%s\n", c.id);
        store_claimed_done(&c);
    }
    fclose(out);
    store_close(s);
    _exit(0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

START_TEST(exactly_once_with_four_processes)
{
    const char *dir = testutil_newdir();
    char mydir[600];
    snprintf(mydir, sizeof(mydir), "%s", dir);
    store *s = open_store(mydir);
    test_set t;
    ready_set(s, &t, "gcc");
    store_close(s);
    const int nproc = 4, n = items();
    pid_t pids[4];
    for (int k = 0; k < nproc; k++) {
        pids[k] = fork();
        ck_assert_int_ge(pids[k], 0);
        if (pids[k] == 0)
            claimer(mydir, k);
    }
    s = open_store(mydir);
    /* Enqueue while they claim, in batches, so claims race with inserts. */
    store_submission_new batch[50];
    for (int done = 0; done < n;) {
        int m = n - done < 50 ? n - done : 50;
        for (int i = 0; i < m; i++)
            batch[i] = (store_submission_new){.request_json = "{}", .depset = &t.ref};
        ck_assert_int_eq(store_submission_enqueue_batch(s, batch, (size_t)m), 0);
        done += m;
    }
    ck_assert_int_eq(store_setting_set(s, "test.done", "1"), 0);
    for (int k = 0; k < nproc; k++) {
        int st;
        ck_assert_int_eq(waitpid(pids[k], &st, 0), pids[k]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "claimer %d status %d", k, st);
    }
    char(*ids)[33] = calloc((size_t)n + 1, 33);
    int total = 0;
    for (int k = 0; k < nproc; k++) {
        char path[700], line[64];
        snprintf(path, sizeof(path), "%s/claimed-%d", mydir, k);
        FILE *f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f)) {
            ck_assert_int_lt(total, n + 1);
            snprintf(ids[total++], 33, "%.32s", line);
        }
        fclose(f);
    }
    ck_assert_int_eq(total, n); /* none lost, none twice (see below) */
    qsort(ids, (size_t)total, 33, cmp_str);
    for (int i = 1; i < total; i++)
        ck_assert_msg(strcmp(ids[i - 1], ids[i]) != 0, "claimed twice: %s", ids[i]);
    free(ids);
    ck_assert_int_eq(sql_int("SELECT COUNT(*) FROM submissions WHERE state='finished' AND "
                             "attempts=1"),
                     n);
    ck_assert_int_eq(holders_of(s, t.ref.key), 0);
    store_close(s);
}
END_TEST

/* Two connections (two API processes) take from one bucket; it refills with
 * time, never past its burst, and says how long to wait when empty. */
START_TEST(rate_buckets_are_shared)
{
    const char *dir = testutil_newdir();
    store *a = open_store(dir);
    store *b = open_store(dir);
    int wait = -1;
    int64_t t0 = 1000000;
    ck_assert_int_eq(store_rate_take(a, "addr:1", 2, 3, t0, &wait), 0); /* 3 in the bucket */
    ck_assert_int_eq(store_rate_take(b, "addr:1", 2, 3, t0, &wait), 0);
    ck_assert_int_eq(store_rate_take(a, "addr:1", 2, 3, t0, &wait), 0);
    ck_assert_int_eq(store_rate_take(b, "addr:1", 2, 3, t0, &wait), 1);
    ck_assert_int_eq(wait, 1);
    ck_assert_int_eq(store_rate_take(b, "addr:2", 2, 3, t0, &wait), 0);       /* its own bucket */
    ck_assert_int_eq(store_rate_take(a, "addr:1", 2, 3, t0 + 500, &wait), 0); /* 2/s */
    ck_assert_int_eq(store_rate_take(b, "addr:1", 2, 3, t0 + 500, &wait), 1);
    /* An hour idle fills it to the burst, not beyond. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(store_rate_take(i % 2 ? a : b, "addr:1", 2, 3, t0 + 3600000, &wait), 0);
    ck_assert_int_eq(store_rate_take(a, "addr:1", 2, 3, t0 + 3600000, &wait), 1);
    /* Unlimited writes nothing. */
    ck_assert_int_eq(store_rate_take(a, "addr:3", 0, 0, t0, &wait), 0);
    ck_assert_int_eq(sql_int("SELECT COUNT(*) FROM rate_buckets WHERE key = 'addr:3'"), 0);
    store_close(a);
    store_close(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store");
    TCase *open = tcase_create("open");
    tcase_add_test(open, migrations_from_empty);
    tcase_add_test(open, concurrent_first_open_migrates_once);
    tcase_add_test(open, newer_database_refused);
    if (!testdb_is_pg()) {
        /* About SQLite's file: its mode, its history, its bytes, its locks. */
        tcase_add_test(open, new_database_is_private);
        tcase_add_test(open, file_below_the_version_is_applied);
        tcase_add_test(open, corrupt_file_refused);
        tcase_add_test(open, read_only_file_refused);
        tcase_add_test(open, locked_database_gives_ebusy);
    }
    tcase_set_timeout(open, 60);
    suite_add_tcase(s, open);

    TCase *q = tcase_create("queue");
    tcase_add_test(q, enqueue_claim_finish);
    tcase_add_test(q, priority_then_fifo);
    tcase_add_test(q, set_and_blobs_deduplicated);
    tcase_add_test(q, batch_is_all_or_nothing);
    tcase_add_test(q, lease_expiry_requeues_with_attempts);
    tcase_add_test(q, stale_owner_cannot_write);
    tcase_add_test(q, poison_item_ends_internal_error);
    tcase_add_test(q, finish_and_claim_in_one_transaction);
    tcase_add_test(q, release_does_not_count_an_attempt);
    tcase_add_test(q, release_failed_counts_and_lists_reasons);
    tcase_add_test(q, waiting_deps_park_and_wake);
    tcase_add_test(q, deps_failed_on_set_failure);
    tcase_add_test(q, builder_lease_expiry_and_poison_set);
    tcase_add_test(q, cancel_in_each_state);
    tcase_add_test(q, find_cached_and_finish_validation);
    tcase_add_test(q, ready_with_null_lists);
    tcase_add_test(q, eviction_respects_holds);
    tcase_add_test(q, depset_requeue_while_held_and_waited_on);
    tcase_add_test(q, heartbeats_depths_settings);
    tcase_add_test(q, rate_buckets_are_shared);
    tcase_add_test(q, health_report_tells_the_truth);
    tcase_set_timeout(q, 60);
    suite_add_tcase(s, q);

    TCase *p = tcase_create("processes");
    tcase_add_test(p, doorbell_wakes_waiting_claimer);
    if (!testdb_is_pg()) /* socket files: PostgreSQL rings with NOTIFY */
        tcase_add_test(p, stale_doorbell_socket_unlinked);
    tcase_add_test(p, kill9_claimer_is_requeued_and_finished_once);
    tcase_add_test(p, kill9_mid_write_loses_no_commit);
    tcase_add_test(p, exactly_once_with_four_processes);
    tcase_set_timeout(p, 300);
    suite_add_tcase(s, p);
    return testutil_main(s);
}
