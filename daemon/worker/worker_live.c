/* worker_live.c — the worker's end of the live channel. See worker_live.h.
 *
 * Why two threads and two store connections: the step blocks the worker's
 * thread inside sandbox_run, and a store connection is used by one thread
 * at a time. The out thread blocks in poll() on the stream pipes; the in
 * thread blocks on its connection's doorbell socket. Neither holds anything
 * the other needs. */
#include "worker_live.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/cleanup.h"
#include "../../common/log.h"
#include "../../common/store.h"
#include "../../common/store_live.h"
#include "verdict.h"

/* Longest wait of the in thread between looks at the store when the
 * doorbell is silent (another machine's API, a lost datagram). */
#define LIVE_POLL_MS 100
#define LIVE_READ_MAX 64

struct worker_live {
    char id[64];
    char stage[16];
    store *out_st, *in_st;
    int in_r, in_w;   /* live stdin: the sandbox reads in_r, the in thread writes in_w */
    int out_r, out_w; /* stdout stream */
    int err_r, err_w; /* stderr stream */
    pthread_t out_thread, in_thread;
    bool out_started, in_started;
    atomic_bool stop_in;
    int64_t signal_floor; /* signals at or before this seq were for an earlier step */
    worker_live_signal_fn sig_fn;
    void *sig_ud;
};

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void live_free(worker_live *l)
{
    close_fd(&l->in_r);
    close_fd(&l->in_w);
    close_fd(&l->out_r);
    close_fd(&l->out_w);
    close_fd(&l->err_r);
    close_fd(&l->err_w);
    store_close(l->out_st);
    store_close(l->in_st);
    free(l);
}

static void *out_main(void *arg)
{
    worker_live *l = arg;
    struct pollfd p[2] = {{.fd = l->out_r, .events = POLLIN}, {.fd = l->err_r, .events = POLLIN}};
    static const char *const kind[2] = {"stdout", "stderr"};
    char buf[65536];
    int open_n = 2;

    while (open_n > 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                p[i].fd = -1; /* EOF: the write ends are closed */
                open_n--;
                continue;
            }
            int64_t r =
                store_live_append(l->out_st, l->id, STORE_LIVE_OUT, kind[i], buf, (size_t)n);
            if (r < 0)
                log_warn("live-append-failed id=%s error=\"%s\"", l->id,
                         store_last_error(l->out_st));
        }
    }
    return NULL;
}

/* Writes all of data into the stdin pipe; false once the program is gone. */
static bool write_all(int fd, const unsigned char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

static void *in_main(void *arg)
{
    worker_live *l = arg;
    sigset_t pipe_set;
    int64_t after = 0;

    /* A program that closed its stdin must not kill the worker: EPIPE only. */
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    store_doorbell_listen(l->in_st, STORE_ROLE_EVENTS);
    while (!atomic_load(&l->stop_in)) {
        store_live_chunk *c = NULL;
        size_t n = 0;
        if (store_live_read(l->in_st, l->id, STORE_LIVE_IN, after, LIVE_READ_MAX, &c, &n) < 0) {
            log_warn("live-read-failed id=%s error=\"%s\"", l->id, store_last_error(l->in_st));
            n = 0;
        }
        for (size_t i = 0; i < n; i++) {
            after = c[i].seq;
            if (!strcmp(c[i].kind, "stdin") && l->in_w >= 0) {
                if (!write_all(l->in_w, c[i].data, c[i].len))
                    close_fd(&l->in_w);
            } else if (!strcmp(c[i].kind, "signal") && l->sig_fn && c[i].seq > l->signal_floor) {
                int sig = atoi((const char *)c[i].data);
                int r = sig > 0 ? l->sig_fn(l->sig_ud, sig) : -EINVAL;
                log_info("live-signal id=%s signal=%d delivered=%d", l->id, sig, r);
            }
        }
        store_live_chunks_free(c, n);
        if (n < LIVE_READ_MAX)
            store_wait(l->in_st, LIVE_POLL_MS);
    }
    return NULL;
}

static int make_pipe(int *r, int *w)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    *r = p[0];
    *w = p[1];
    return 0;
}

int worker_live_begin(const config *cfg, const char *id, const char *stage, bool with_stdin,
                      const void *prefix, size_t prefix_len, worker_live_signal_fn sig_fn,
                      void *sig_ud, worker_live **out, char *err, size_t errlen)
{
    worker_live *l = calloc(1, sizeof(*l));
    int r;
    if (!l)
        return -ENOMEM;
    l->in_r = l->in_w = l->out_r = l->out_w = l->err_r = l->err_w = -1;
    snprintf(l->id, sizeof(l->id), "%s", id);
    snprintf(l->stage, sizeof(l->stage), "%s", stage);
    l->sig_fn = sig_fn;
    l->sig_ud = sig_ud;
    if ((r = store_open_config(cfg, &l->out_st, err, errlen)) < 0 ||
        (r = store_open_config(cfg, &l->in_st, err, errlen)) < 0)
        goto fail;
    if ((r = make_pipe(&l->out_r, &l->out_w)) < 0 || (r = make_pipe(&l->err_r, &l->err_w)) < 0 ||
        (with_stdin && (r = make_pipe(&l->in_r, &l->in_w)) < 0)) {
        snprintf(err, errlen, "live channel pipes: %s", strerror(-r));
        goto fail;
    }
    /* Every step reads the client's stdin from the start (what came during
     * the compile is the run's), but a signal is for the step in flight. */
    for (;;) {
        store_live_chunk *c = NULL;
        size_t n = 0;
        if (store_live_read(l->out_st, id, STORE_LIVE_IN, l->signal_floor, LIVE_READ_MAX, &c, &n) <
                0 ||
            n == 0)
            break;
        l->signal_floor = c[n - 1].seq;
        store_live_chunks_free(c, n);
    }
    if (store_live_append(l->out_st, id, STORE_LIVE_OUT, "stage", stage, strlen(stage)) < 0)
        log_warn("live-append-failed id=%s error=\"%s\"", id, store_last_error(l->out_st));
    if (prefix_len > 0 && l->in_w >= 0 &&
        store_live_append(l->out_st, id, STORE_LIVE_IN, "stdin", prefix, prefix_len) < 0)
        log_warn("live-append-failed id=%s error=\"%s\"", id, store_last_error(l->out_st));
    if ((r = -pthread_create(&l->out_thread, NULL, out_main, l)) < 0) {
        snprintf(err, errlen, "live channel thread: %s", strerror(-r));
        goto fail;
    }
    l->out_started = true;
    if ((r = -pthread_create(&l->in_thread, NULL, in_main, l)) < 0) {
        snprintf(err, errlen, "live channel thread: %s", strerror(-r));
        close_fd(&l->out_w);
        close_fd(&l->err_w);
        pthread_join(l->out_thread, NULL);
        goto fail;
    }
    l->in_started = true;
    *out = l;
    return 0;
fail:
    live_free(l);
    return r;
}

void worker_live_config(worker_live *l, struct sandbox_config *cfg)
{
    if (l->in_r >= 0) {
        cfg->stdin_kind = SANDBOX_STDIN_FD;
        cfg->stdin_fd = l->in_r;
    }
    cfg->stream = true;
    cfg->stream_stdout_fd = l->out_w;
    cfg->stream_stderr_fd = l->err_w;
}

/* The bytes the sandbox captured but its stream fd did not take. */
static void append_rest(worker_live *l, const char *kind, const char *buf, size_t len,
                        size_t streamed)
{
    if (buf && streamed < len &&
        store_live_append(l->out_st, l->id, STORE_LIVE_OUT, kind, buf + streamed, len - streamed) <
            0)
        log_warn("live-append-failed id=%s error=\"%s\"", l->id, store_last_error(l->out_st));
}

void worker_live_end(worker_live *l, const struct sandbox_result *res)
{
    if (!l)
        return;
    /* The run is over: the sandbox holds no copy of these any more, so the
     * out thread sees EOF once it has read everything. */
    close_fd(&l->out_w);
    close_fd(&l->err_w);
    close_fd(&l->in_r);
    if (l->out_started)
        pthread_join(l->out_thread, NULL);
    if (res) {
        append_rest(l, "stdout", res->stdout_buf, res->stdout_len, res->stdout_streamed);
        append_rest(l, "stderr", res->stderr_buf, res->stderr_len, res->stderr_streamed);
    }
    atomic_store(&l->stop_in, true);
    json_t *exit = json_pack("{s:s}", "stage", l->stage);
    if (exit && res && res->status != SANDBOX_INTERNAL_ERROR) {
        const char *lim = res->limit != SANDBOX_LIMIT_NONE ? sandbox_limit_name(res->limit) : NULL;
        json_object_set_new(exit, "exit_code",
                            res->signal ? json_null() : json_integer(res->exit_code));
        json_object_set_new(exit, "signal",
                            res->signal ? json_string(verdict_signal_name(res->signal))
                                        : json_null());
        json_object_set_new(exit, "limit", lim ? json_string(lim) : json_null());
    } else if (exit) {
        json_object_set_new(exit, "exit_code", json_null());
        json_object_set_new(exit, "signal", json_null());
        json_object_set_new(exit, "limit", json_null());
        json_object_set_new(exit, "error",
                            json_string(res && res->message[0] ? res->message : "internal error"));
    }
    _cleanup_free_ char *text = exit ? json_dumps(exit, JSON_COMPACT) : NULL;
    json_decref(exit);
    /* The exit chunk also rings the doorbell the in thread waits on. */
    if (!text ||
        store_live_append(l->out_st, l->id, STORE_LIVE_OUT, "exit", text, strlen(text)) < 0)
        log_warn("live-append-failed id=%s error=\"%s\"", l->id, store_last_error(l->out_st));
    if (l->in_started)
        pthread_join(l->in_thread, NULL);
    live_free(l);
}
