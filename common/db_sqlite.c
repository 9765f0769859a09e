/* db_sqlite.c — the SQLite backend of common/db.h: one connection in WAL mode.
 *
 * Pragmas: WAL so readers never block the writer; synchronous=NORMAL (a
 * commit survives a process crash, not a power cut: the last transactions
 * before a power cut may be lost, never corrupted); foreign_keys on; a busy
 * handler so concurrent writers queue instead of failing. */
#include "db_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"

static int dblite_errno_of(int rc)
{
    switch (rc & 0xff) {
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

int dblite_fail(db_conn *d, int rc)
{
    int e = dblite_errno_of(rc);
    const char *m = d->lite ? sqlite3_errmsg(d->lite) : sqlite3_errstr(rc);
    switch (e) {
    case -EBUSY:
        return db_set_error(d, e, "database %s is locked by another connection (waited %d ms): %s",
                            d->name, d->busy_timeout_ms, m);
    case -EPROTO:
        return db_set_error(d, e, "%s is not a usable nixfarm database (corrupt or not SQLite): %s",
                            d->name, m);
    case -EROFS:
        return db_set_error(d, e,
                            "database %s is read-only (check the file's and directory's "
                            "permissions and the mount): %s",
                            d->name, m);
    default:
        return db_set_error(d, e, "database %s: %s", d->name, m);
    }
}

int dblite_prepare(db_stmt *st)
{
    int rc =
        sqlite3_prepare_v3(st->d->lite, st->sql, -1, SQLITE_PREPARE_PERSISTENT, &st->lite, NULL);
    return rc == SQLITE_OK ? 0 : dblite_fail(st->d, rc);
}

int dblite_exec_script(db_conn *d, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(d->lite, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return 0;
    int e = dblite_fail(d, rc);
    if (msg)
        db_set_error(d, e, "%s", msg);
    sqlite3_free(msg);
    return e;
}

/* Busy handler: SQLite's own sleeps 1, 2, 5, 10... ms between tries, far
 * longer than a queue transaction (tens of microseconds) holds the write
 * lock, so contended claimers would idle. This one backs off from 20 us to
 * 1 ms and gives up after busy_timeout_ms. */
static int dblite_busy_handler(void *arg, int count)
{
    db_conn *d = arg;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t now_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    if (count == 0)
        d->busy_since_us = now_us;
    else if (now_us - d->busy_since_us >= (int64_t)d->busy_timeout_ms * 1000)
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
#define DBLITE_WAL_CKPT_FRAMES 1000
#define DBLITE_WAL_CKPT_HARD_FRAMES 50000
#define DBLITE_WAL_CKPT_EVERY_MS 50

static int64_t dblite_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dblite_wal_hook(void *arg, sqlite3 *lite, const char *name, int frames)
{
    db_conn *d = arg;
    if (frames < DBLITE_WAL_CKPT_FRAMES)
        return SQLITE_OK;
    int64_t now = dblite_now_ms();
    if (frames < DBLITE_WAL_CKPT_HARD_FRAMES &&
        now - d->last_checkpoint_ms < DBLITE_WAL_CKPT_EVERY_MS)
        return SQLITE_OK;
    d->last_checkpoint_ms = now;
    sqlite3_wal_checkpoint_v2(lite, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK; /* a checkpoint that could not finish is retried later */
}

static int dblite_run(db_conn *d, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(d->lite, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    int e = rc == SQLITE_OK ? 0 : dblite_fail(d, rc);
    sqlite3_finalize(st);
    return e;
}

/* Once per process: glibc gives freed memory at the top of the heap back to
 * the kernel past 128 KiB. With several processes writing one database, each
 * connection drops its whole page cache at the start of a transaction after
 * another process committed, and refills it: ~130 KiB freed and allocated
 * again, so every transaction paid two brk calls and a few dozen page faults
 * (zeroed pages) — a fifth of a queue cycle's CPU. Keeping up to 16 MiB of
 * free heap (and pinning the mmap threshold that setting it would freeze at
 * 128 KiB) removes that; RSS grows by at most the page caches' size. */
static void dblite_malloc_tune(void)
{
    static int done;
    if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
        return;
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
}

/* Makes the database's directory (0700: it holds every submission's code
 * and results) and the file itself 0600 before SQLite creates it with the
 * umask's defaults; the -wal and -shm files take the file's mode. An existing
 * directory or file keeps the mode its operator gave it. */
static int dblite_prepare_path(const char *path)
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

int dblite_open(db_conn *d, const char *path, char *err, size_t errlen)
{
    dblite_malloc_tune();
    int r = dblite_prepare_path(path);
    if (r < 0) {
        if (err)
            snprintf(err, errlen, "cannot create the directory of %s: %s", path, strerror(-r));
        return r;
    }
    int rc = sqlite3_open_v2(
        path, &d->lite, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        r = dblite_fail(d, rc);
        if (r == -ENOENT && access(path, F_OK) == 0)
            r = -EACCES;
        if (err)
            snprintf(err, errlen, "cannot open database %s: %s", path,
                     d->lite ? sqlite3_errmsg(d->lite) : sqlite3_errstr(rc));
        return r;
    }
    sqlite3_extended_result_codes(d->lite, 1);
    sqlite3_busy_handler(d->lite, dblite_busy_handler, d);
    sqlite3_wal_hook(d->lite, dblite_wal_hook, d);
    if (sqlite3_db_readonly(d->lite, "main") == 1) {
        if (err)
            snprintf(err, errlen,
                     "database %s is read-only: the store needs to write it (check the "
                     "file's permissions and the mount)",
                     path);
        return -EROFS;
    }
    /* Switching a fresh file to WAL takes an exclusive lock; when several
     * processes open a new database at once SQLite may answer SQLITE_BUSY
     * without waiting (it would risk a deadlock), so retry here within the
     * busy timeout. */
    int64_t deadline = dblite_now_ms() + d->busy_timeout_ms;
    for (int attempt = 0;; attempt++) {
        r = dblite_run(d, "PRAGMA journal_mode=WAL");
        if (r >= 0)
            r = dblite_run(d, "PRAGMA synchronous=NORMAL");
        if (r >= 0)
            r = dblite_run(d, "PRAGMA foreign_keys=ON");
        if (r != -EBUSY || dblite_now_ms() >= deadline)
            break;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (attempt < 5 ? 1 + attempt : 10) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (r < 0 && err)
        snprintf(err, errlen, "%s", d->errmsg);
    return r < 0 ? r : 0;
}

void dblite_close(db_conn *d)
{
    if (d->lite)
        sqlite3_close_v2(d->lite);
    d->lite = NULL;
}
