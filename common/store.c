/* store.c — opening a store connection, the prepared-statement cache,
 * transactions and the mapping of SQLite errors to -errno plus a sentence.
 *
 * One connection per process (and per thread using it). Pragmas: WAL so readers
 * never block the writer; synchronous=NORMAL (a commit survives a process crash,
 * not a power cut: the last transactions before a power cut may be lost, never
 * corrupted); foreign_keys on; busy_timeout so concurrent writers queue instead
 * of failing. The queue files are store_submissions.c, store_depsets.c, ... */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"
#include "jsonutil.h"

int64_t store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int store_schema_version(void)
{
    return store_n_migrations ? store_migrations[store_n_migrations - 1].version : 0;
}

/* ---- errors ---- */

int store_errno_of(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
        return -EPROTO;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_CONSTRAINT:
        return -EEXIST;
    case SQLITE_TOOBIG:
        return -E2BIG;
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
        return -EINVAL;
    default:
        return -EIO;
    }
}

int store_fail(store *s, int rc)
{
    int e = store_errno_of(rc);
    if (e == 0)
        e = -EIO;
    const char *m = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    switch (e) {
    case -EBUSY:
        snprintf(s->errmsg, sizeof(s->errmsg),
                 "database %s is locked by another connection (waited %d ms): %s", s->path,
                 s->busy_timeout_ms, m);
        break;
    case -EPROTO:
        snprintf(s->errmsg, sizeof(s->errmsg),
                 "%s is not a usable nixfarm database (corrupt or not SQLite): %s", s->path, m);
        break;
    case -EROFS:
        snprintf(s->errmsg, sizeof(s->errmsg),
                 "database %s is read-only (check the file's and directory's permissions "
                 "and the mount): %s",
                 s->path, m);
        break;
    default:
        snprintf(s->errmsg, sizeof(s->errmsg), "database %s: %s", s->path, m);
    }
    s->last_err = e;
    return e;
}

int store_err(store *s)
{
    return s->last_err < 0 ? s->last_err : -EIO;
}

const char *store_last_error(store *s)
{
    return s ? s->errmsg : "no store";
}

/* ---- statement cache ---- */

/* Keyed by the literal's address, not its text: hashing a few hundred
 * characters at every statement was 2% of a queue cycle. The same text at
 * another address (the same literal in two files) may get a second slot,
 * which is harmless; a probe still matches equal text. */
static size_t store_sql_hash(const char *sql)
{
    uint64_t h = (uint64_t)(uintptr_t)sql * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 32);
}

sqlite3_stmt *store_stmt(store *s, const char *sql)
{
    size_t h = store_sql_hash(sql) & (STORE_STMT_CACHE - 1);
    for (size_t i = 0; i < STORE_STMT_CACHE; i++) {
        store_stmt_slot *slot = &s->stmts[(h + i) & (STORE_STMT_CACHE - 1)];
        if (slot->sql && (slot->sql == sql || strcmp(slot->sql, sql) == 0))
            return slot->stmt;
        if (!slot->sql) {
            sqlite3_stmt *st = NULL;
            int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
            if (rc != SQLITE_OK) {
                store_fail(s, rc);
                return NULL;
            }
            slot->sql = sql;
            slot->stmt = st;
            return st;
        }
    }
    /* Cache full: a programming error (too many distinct statements). */
    snprintf(s->errmsg, sizeof(s->errmsg), "statement cache full");
    s->last_err = -ENOSPC;
    return NULL;
}

int store_exec(store *s, const char *sql, int n, ...)
{
    _cleanup_stmt_ sqlite3_stmt *st = store_stmt(s, sql);
    if (!st)
        return store_err(s);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *v = va_arg(ap, const char *);
        if (v)
            sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(st, i + 1);
    }
    va_end(ap);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store_fail(s, rc);
    return sqlite3_changes(s->db);
}

/* ---- transactions ---- */

int store_tx_begin(store *s)
{
    if (s->tx_depth) {
        snprintf(s->errmsg, sizeof(s->errmsg), "nested transaction");
        return s->last_err = -EINPROGRESS;
    }
    int r = store_exec(s, "BEGIN IMMEDIATE", 0);
    if (r < 0)
        return r;
    s->tx_depth = 1;
    s->ring_after = 0;
    return 0;
}

int store_tx_commit(store *s)
{
    int r = store_exec(s, "COMMIT", 0);
    if (r < 0) {
        store_tx_rollback(s);
        return r;
    }
    s->tx_depth = 0;
    unsigned ring = s->ring_after;
    s->ring_after = 0;
    if (ring)
        store_ring_mask(s, ring);
    return 0;
}

void store_tx_rollback(store *s)
{
    if (!sqlite3_get_autocommit(s->db)) {
        _cleanup_stmt_ sqlite3_stmt *st = store_stmt(s, "ROLLBACK");
        if (st)
            sqlite3_step(st);
    }
    s->tx_depth = 0;
    s->ring_after = 0;
}

void store_ring_later(store *s, store_role role)
{
    if (s->tx_depth)
        s->ring_after |= 1u << role;
    else
        store_ring(s, role);
}

char *store_strdupf(const char *fmt, ...)
{
    char *p = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&p, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : p;
}

/* ---- columns ---- */

char *store_col_strdup(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? strdup((const char *)t) : NULL;
}

json_t *store_col_json(sqlite3_stmt *st, int col)
{
    return jsonutil_loads_or_null((const char *)sqlite3_column_text(st, col));
}

json_t *store_col_int_or_null(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return json_null();
    return json_integer(sqlite3_column_int64(st, col));
}

json_t *store_col_str_or_null(sqlite3_stmt *st, int col)
{
    return jsonutil_str_or_null((const char *)sqlite3_column_text(st, col));
}

/* ---- open / close ---- */

/* Makes the database's directory (0700: it holds every submission's code
 * and results) and the file itself 0600 before SQLite creates it with the
 * umask's defaults; the -wal and -shm files take the file's mode. An existing
 * directory or file keeps the mode its operator gave it. */
static int store_prepare_path(const char *path)
{
    _cleanup_free_ char *dir = strdup(path);
    if (!dir)
        return -ENOMEM;
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        int r = fsutil_mkdir_p(dir, 0700);
        if (r < 0)
            return r;
    }
    /* Only a missing file is touched: closing any descriptor of a database
     * file drops every POSIX lock this process holds on it, which would
     * break the locks of this process's other open connections. */
    struct stat st;
    if (stat(path, &st) < 0 && errno == ENOENT) {
        int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0)
            close(fd);
    }
    /* Read-only or foreign files are SQLite's to report, with its message. */
    return 0;
}

int store_file_version(store *s)
{
    _cleanup_stmt_ sqlite3_stmt *st = store_stmt(s, "PRAGMA user_version");
    if (!st)
        return store_err(s);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return store_fail(s, rc);
    return sqlite3_column_int(st, 0);
}

void store_close(store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < STORE_STMT_CACHE; i++)
        if (s->stmts[i].stmt)
            sqlite3_finalize(s->stmts[i].stmt);
    if (s->db)
        sqlite3_close_v2(s->db);
    store_doorbell_close(s);
    json_decref(s->depth_terminal);
    free(s->path);
    free(s->state_dir);
    free(s->doorbell_dir);
    free(s);
}

static void store_closep(store **s)
{
    store_close(*s);
}

/* Busy handler: SQLite's own sleeps 1, 2, 5, 10... ms between tries, far
 * longer than a queue transaction (tens of microseconds) holds the write
 * lock, so contended claimers would idle. This one backs off from 20 us to
 * 1 ms and gives up after busy_timeout_ms. */
static int store_busy_handler(void *arg, int count)
{
    store *s = arg;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t now_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    if (count == 0)
        s->busy_since_us = now_us;
    else if (now_us - s->busy_since_us >= (int64_t)s->busy_timeout_ms * 1000)
        return 0;
    long wait_us = count < 6 ? 20L << count : 1000;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = wait_us * 1000};
    nanosleep(&ts, NULL);
    return 1;
}

/* WAL checkpoints. SQLite's default hook checkpoints after every commit once
 * the WAL holds 1000 frames; with several processes always inside short
 * transactions the WAL often cannot restart (another connection still reads
 * it), so it stays above the mark and every commit pays a checkpoint: two
 * fdatasyncs for a handful of pages. This hook checkpoints at most every 50 ms
 * per connection while the WAL is large, and at once past a hard mark. */
#define STORE_WAL_CKPT_FRAMES 1000
#define STORE_WAL_CKPT_HARD_FRAMES 50000
#define STORE_WAL_CKPT_EVERY_MS 50

static int store_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    store *s = arg;
    if (frames < STORE_WAL_CKPT_FRAMES)
        return SQLITE_OK;
    int64_t now = store_now_ms();
    if (frames < STORE_WAL_CKPT_HARD_FRAMES &&
        now - s->last_checkpoint_ms < STORE_WAL_CKPT_EVERY_MS)
        return SQLITE_OK;
    s->last_checkpoint_ms = now;
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK; /* a checkpoint that could not finish is retried later */
}

static int store_pragmas(store *s)
{
    /* journal_mode answers with a row; the others with none. */
    _cleanup_stmt_ sqlite3_stmt *st = store_stmt(s, "PRAGMA journal_mode=WAL");
    if (!st)
        return store_err(s);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_fail(s, rc);
    int r = store_exec(s, "PRAGMA synchronous=NORMAL", 0);
    if (r >= 0)
        r = store_exec(s, "PRAGMA foreign_keys=ON", 0);
    return r < 0 ? r : 0;
}

/* Once per process: glibc gives freed memory at the top of the heap back to
 * the kernel past 128 KiB. With several processes writing one database, each
 * connection drops its whole page cache at the start of a transaction after
 * another process committed, and refills it: ~130 KiB freed and allocated
 * again, so every transaction paid two brk calls and a few dozen page faults
 * (zeroed pages) — a fifth of a queue cycle's CPU. Keeping up to 16 MiB of
 * free heap (and pinning the mmap threshold that setting it would freeze at
 * 128 KiB) removes that; RSS grows by at most the page caches' size. */
static void store_malloc_tune(void)
{
    static int done;
    if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
        return;
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
}

int store_open_opts(const char *path, const char *state_dir, int busy_timeout_ms,
                    int default_max_attempts, store **out, char *err, size_t errlen)
{
    if (!path || !path[0]) {
        if (err)
            snprintf(err, errlen, "no database path given");
        return -EINVAL;
    }
    store_malloc_tune();
    __attribute__((cleanup(store_closep))) store *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->send_fd = -1;
    for (int i = 0; i < STORE_N_ROLES; i++)
        s->listen_fd[i] = -1;
    s->busy_timeout_ms = busy_timeout_ms > 0 ? busy_timeout_ms : 5000;
    s->default_max_attempts = default_max_attempts > 0 ? default_max_attempts : 3;
    s->retry_elsewhere_ms = 10000;
    s->path = strdup(path);
    if (!s->path)
        return -ENOMEM;
    if (state_dir && state_dir[0]) {
        s->state_dir = strdup(state_dir);
        if (!s->state_dir || asprintf(&s->doorbell_dir, "%s/doorbell", state_dir) < 0) {
            s->doorbell_dir = NULL;
            return -ENOMEM;
        }
    }

    int r = store_prepare_path(path);
    if (r < 0) {
        if (err)
            snprintf(err, errlen, "cannot create the directory of %s: %s", path, strerror(-r));
        return r;
    }
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        r = store_fail(s, rc);
        if (r == -ENOENT && access(path, F_OK) == 0)
            r = -EACCES;
        if (err)
            snprintf(err, errlen, "cannot open database %s: %s", path,
                     s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        return r;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_handler(s->db, store_busy_handler, s);
    sqlite3_wal_hook(s->db, store_wal_hook, s);
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        if (err)
            snprintf(err, errlen,
                     "database %s is read-only: the store needs to write it (check the "
                     "file's permissions and the mount)",
                     path);
        return -EROFS;
    }
    /* Switching a fresh file to WAL and migrating it take exclusive locks;
     * when several processes open a new database at once SQLite may answer
     * SQLITE_BUSY without waiting (it would risk a deadlock), so retry here
     * within the busy timeout. */
    int64_t deadline = store_now_ms() + s->busy_timeout_ms;
    for (int attempt = 0;; attempt++) {
        r = store_pragmas(s);
        if (r >= 0)
            r = store_migrate(s, err, errlen);
        else if (err)
            snprintf(err, errlen, "%s", s->errmsg);
        if (r != -EBUSY || store_now_ms() >= deadline)
            break;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (attempt < 5 ? 1 + attempt : 10) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (r < 0)
        return r;
    *out = steal_pointer(&s);
    return 0;
}

int store_open(const char *path, const char *state_dir, store **out, char *err, size_t errlen)
{
    return store_open_opts(path, state_dir, 0, 0, out, err, errlen);
}

int store_open_config(const config *cfg, store **out, char *err, size_t errlen)
{
    const char *db = config_str(cfg, "db_path");
    _cleanup_free_ char *def = NULL;
    if (!db[0]) {
        def = config_state_path(cfg, "farm.db");
        if (!def)
            return -ENOMEM;
        db = def;
    }
    int r = store_open_opts(db, config_str(cfg, "state_dir"),
                            (int)config_int(cfg, "db.busy_timeout_ms"),
                            (int)config_int(cfg, "queue.max_attempts"), out, err, errlen);
    if (r >= 0)
        (*out)->retry_elsewhere_ms = config_int(cfg, "queue.retry_elsewhere_ms");
    return r;
}
