/* test_webhook.c — webhook signing, backoff, breaker, address checks, the
 * outbox in the store, and deliveries to a local receiver (a forked HTTP
 * server) that fails, times out, then succeeds; a restart mid-retry resumes. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "../../common/config.h"
#include "../../common/store.h"
#include "../../common/store_webhooks.h"
#include "../../daemon/webhook/webhook.h"
#include "../../common/netaddr.h"
#include "../../common/netaddr_url.h"
#include "../../daemon/webhook/webhook_policy.h"
#include "../unit/testdb.h"

/* ---- pure policy ---------------------------------------------------------- */

START_TEST(signature_is_hmac_over_timestamp_dot_body)
{
    char sig[WEBHOOK_SIG_LEN + 1];
    const char *body = "{\"a\":1}";
    webhook_sign("s3cret", 1700000000, body, strlen(body), sig);
    /* python3: hmac.new(b's3cret', b'1700000000.{"a":1}', sha256).hexdigest() */
    ck_assert_str_eq(sig,
                     "sha256=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940");
    char other[WEBHOOK_SIG_LEN + 1];
    webhook_sign("s3cret", 1700000001, body, strlen(body), other);
    ck_assert_str_ne(sig, other);
}
END_TEST

START_TEST(backoff_doubles_with_jitter_and_caps)
{
    ck_assert_int_eq(webhook_backoff_ms(1, 1000, 60000, 0), 500);
    ck_assert_int_eq(webhook_backoff_ms(1, 1000, 60000, 500), 1000);
    ck_assert_int_eq(webhook_backoff_ms(2, 1000, 60000, 0), 1000);
    ck_assert_int_eq(webhook_backoff_ms(3, 1000, 60000, 0), 2000);
    for (uint64_t rnd = 0; rnd < 5000; rnd += 7) {
        int64_t d = webhook_backoff_ms(4, 1000, 60000, rnd * 0x9e3779b97f4a7c15ull);
        ck_assert_int_ge(d, 4000);
        ck_assert_int_le(d, 8000);
    }
    /* Capped: attempt 40 does not overflow and stays within max. */
    int64_t d = webhook_backoff_ms(40, 1000, 60000, UINT64_MAX);
    ck_assert_int_le(d, 60000);
    ck_assert_int_ge(d, 30000);
}
END_TEST

START_TEST(breaker_opens_probes_and_recovers)
{
    webhook_breaker_params p = {.failures_to_open = 3,
                                .cooldown_ms = 1000,
                                .max_cooldown_ms = 10000,
                                .probe_lease_ms = 500};
    store_webhook_host h = {.state = "closed"};
    int64_t retry = 0;
    bool changed;
    webhook_breaker_record(&h, &p, false, 100);
    webhook_breaker_record(&h, &p, false, 200);
    ck_assert_str_eq(h.state, "closed");
    ck_assert(webhook_breaker_allow(&h, &p, 250, &retry, &changed));
    webhook_breaker_record(&h, &p, false, 300);
    ck_assert_str_eq(h.state, "open");
    ck_assert_int_eq(h.open_until, 1300);
    ck_assert(!webhook_breaker_allow(&h, &p, 1299, &retry, &changed));
    ck_assert_int_eq(retry, 1300);
    /* Cool-down over: one probe, the others wait for it. */
    ck_assert(webhook_breaker_allow(&h, &p, 1300, &retry, &changed));
    ck_assert(changed);
    ck_assert_str_eq(h.state, "half_open");
    ck_assert(!webhook_breaker_allow(&h, &p, 1400, &retry, &changed));
    /* Probe fails: open again, cool-down doubled. */
    webhook_breaker_record(&h, &p, false, 1500);
    ck_assert_str_eq(h.state, "open");
    ck_assert_int_eq(h.open_until, 3500);
    /* A probe whose process died (lease over) lets another probe go. */
    ck_assert(webhook_breaker_allow(&h, &p, 3500, &retry, &changed));
    ck_assert(webhook_breaker_allow(&h, &p, 4001, &retry, &changed));
    webhook_breaker_record(&h, &p, true, 4100);
    ck_assert_str_eq(h.state, "closed");
    ck_assert_int_eq(h.failures, 0);
    ck_assert_int_eq(h.opened, 0);
    ck_assert(webhook_breaker_allow(&h, &p, 4100, &retry, &changed));
}
END_TEST

static bool public_addr(const char *a)
{
    struct sockaddr_storage ss = {0};
    if (strchr(a, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        ck_assert_int_eq(inet_pton(AF_INET6, a, &s6->sin6_addr), 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, a, &s4->sin_addr), 1);
    }
    return netaddr_is_public((struct sockaddr *)&ss);
}

START_TEST(private_and_loopback_addresses_are_refused)
{
    const char *refused[] = {"127.0.0.1",
                             "127.1.2.3",
                             "10.0.0.1",
                             "172.16.0.1",
                             "172.31.255.1",
                             "192.168.1.1",
                             "169.254.169.254",
                             "100.64.0.1",
                             "0.0.0.0",
                             "224.0.0.1",
                             "255.255.255.255",
                             "::1",
                             "::",
                             "fe80::1",
                             "fc00::1",
                             "fd12:3456::1",
                             "ff02::1",
                             "::ffff:127.0.0.1",
                             "::ffff:10.0.0.1",
                             "64:ff9b::7f00:1",
                             "2002:7f00:1::1",
                             "2001:db8::1"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        ck_assert_msg(!public_addr(refused[i]), "%s should be refused", refused[i]);
    const char *allowed[] = {
        "8.8.8.8",       "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111",
        "::ffff:8.8.8.8"};
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        ck_assert_msg(public_addr(allowed[i]), "%s should be allowed", allowed[i]);

    char err[256];
    netaddr_url_target t;
    ck_assert_int_eq(netaddr_url_resolve("http://127.0.0.1:9/hook", false, &t, err, sizeof err),
                     -EACCES);
    ck_assert_ptr_nonnull(strstr(err, "webhook.allow_private"));
    ck_assert_int_eq(netaddr_url_resolve("http://localhost:8080/x", false, &t, err, sizeof err),
                     -EACCES);
    ck_assert_int_eq(netaddr_url_resolve("http://[::1]:8080/x", false, &t, err, sizeof err),
                     -EACCES);
    ck_assert_int_eq(netaddr_url_resolve("http://127.0.0.1:9/hook", true, &t, err, sizeof err), 0);
    ck_assert_str_eq(t.key, "127.0.0.1:9");
    ck_assert_str_eq(t.resolve, "");
    /* A name is pinned to the address that was checked. */
    ck_assert_int_eq(netaddr_url_resolve("http://localhost:8080/x", true, &t, err, sizeof err), 0);
    ck_assert_str_eq(t.key, "localhost:8080");
    ck_assert_ptr_nonnull(strstr(t.resolve, "localhost:8080:"));
    ck_assert_int_eq(netaddr_url_validate("ftp://example.org/x", err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "callback_url"));
    ck_assert_int_eq(netaddr_url_validate("http://u:p@example.org/x", err, sizeof err), -EINVAL);
    ck_assert_int_eq(netaddr_url_validate("not a url", err, sizeof err), -EINVAL);
    ck_assert_int_eq(netaddr_url_validate("https://example.org:8443/hook?x=1", err, sizeof err), 0);
    /* curl would read these as host "hook": no authority is no host */
    ck_assert_int_eq(netaddr_url_validate("http:///hook", err, sizeof err), -EINVAL);
    ck_assert_int_eq(netaddr_url_validate("http:hook", err, sizeof err), -EINVAL);
    ck_assert_int_eq(netaddr_url_validate("https://", err, sizeof err), -EINVAL);
}
END_TEST

/* What the API checks at submission: no DNS, literals in every spelling. */
START_TEST(submission_check_refuses_literals_and_localhost_without_dns)
{
    char err[256];
    static const char *const refused[] = {
        "http://127.0.0.1:8080/h",
        "http://127.1/h",
        "http://2130706433/h",
        "http://0x7f000001/h",
        "http://0177.0.0.1/h",
        "http://10.0.0.1/h",
        "http://172.16.5.4/h",
        "http://192.168.1.1/h",
        "http://169.254.169.254/",
        "http://100.64.0.1/h",
        "http://0.0.0.0/h",
        "http://[::1]/h",
        "http://[::]/h",
        "http://[fe80::1]/h",
        "http://[fd12::1]/h",
        "http://[::ffff:10.1.1.1]/h",
        "http://[64:ff9b::a00:1]/h",
        "http://localhost/h",
        "http://LOCALHOST.:9/h",
        "http://x.y.localhost/h",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        err[0] = 0;
        ck_assert_msg(netaddr_url_check(refused[i], false, err, sizeof err) == -EACCES, "%s: %s",
                      refused[i], err);
        ck_assert_ptr_nonnull(strstr(err, "callback_url"));
        ck_assert_ptr_nonnull(strstr(err, "webhook.allow_private"));
        ck_assert_int_eq(netaddr_url_check(refused[i], true, err, sizeof err), 0);
    }
    static const char *const accepted[] = {
        "https://93.184.216.34/h", "http://[2606:4700::1111]/h",     "https://ci.example.org/h",
        "http://notlocalhost/h",   "http://localhost.example.org/h",
    };
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
        ck_assert_msg(netaddr_url_check(accepted[i], false, err, sizeof err) == 0, "%s: %s",
                      accepted[i], err);
    ck_assert_int_eq(netaddr_url_check("ftp://1.1.1.1/x", true, err, sizeof err), -EINVAL);
    ck_assert_int_eq(netaddr_url_check("http:///h", true, err, sizeof err), -EINVAL);
}
END_TEST

/* ---- the outbox and deliveries --------------------------------------------- */

static char tmp[128];
static config *cfg;
static store *st;
static pid_t receiver = -1;
static int receiver_port;

static void sh(const char *cmd)
{
    ck_assert_int_eq(system(cmd), 0);
}

static void store_setup(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/farm-webhook-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    char err[256];
    ck_assert_int_eq(config_new_default(&cfg, err, sizeof err), 0);
    const char *kv[][2] = {{"state_dir", tmp},
                           {"webhook.allow_private", "true"},
                           {"webhook.secret", "test-secret"},
                           {"webhook.timeout_ms", "700"},
                           {"webhook.connect_timeout_ms", "700"},
                           {"webhook.backoff_base_ms", "40"},
                           {"webhook.backoff_max_ms", "2000"},
                           {"webhook.breaker_failures", "2"},
                           {"webhook.breaker_cooldown_ms", "300"},
                           {"webhook.lease_ms", "400"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        ck_assert_msg(config_set(cfg, kv[i][0], kv[i][1], err, sizeof err) == 0, "%s", err);
    if (testdb_is_pg()) { /* webhook-pg: a database of this case's own */
        char url[600];
        testdb_url(tmp, url, sizeof url);
        ck_assert_msg(config_set(cfg, "db.url", url, err, sizeof err) == 0, "%s", err);
    }
    ck_assert_msg(store_open_config(cfg, &st, err, sizeof err) == 0, "%s", err);
}

static void store_teardown(void)
{
    if (receiver > 0) {
        kill(receiver, SIGKILL);
        waitpid(receiver, NULL, 0);
        receiver = -1;
    }
    store_close(st);
    st = NULL;
    config_free(cfg);
    cfg = NULL;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    sh(cmd);
}

/* Enqueues a submission with callback_url and cancels it (queued -> cancelled
 * is a terminal transition, which is what fires the outbox trigger). */
static void make_finished(const char *callback, char id[33])
{
    static const char spec[] = "{\"packages\":[\"busybox\"],\"set\":\"t\"}";
    store_depset_ref ref = {.spec_json = spec};
    memset(ref.key, 'a', 64);
    ref.key[64] = '\0';
    store_submission_new sub = {.request_json = "{\"run\":\"true\"}",
                                .depset = &ref,
                                .n_tests = 1,
                                .callback_url = callback};
    ck_assert_msg(store_submission_enqueue(st, &sub) == 0, "%s", store_last_error(st));
    ck_assert_int_eq(store_submission_cancel(st, sub.id), 1);
    memcpy(id, sub.id, 33);
}

START_TEST(trigger_enqueues_once_and_claims_are_leased)
{
    char id[33], plain[33];
    make_finished("http://127.0.0.1:1/hook", id);
    make_finished(NULL, plain);
    json_t *d = NULL;
    ck_assert_int_eq(store_webhook_deliveries_json(st, id, &d), 0);
    ck_assert_int_eq(json_array_size(d), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 0), "state")), "pending");
    json_decref(d);
    ck_assert_int_eq(store_webhook_deliveries_json(st, plain, &d), 0);
    ck_assert_int_eq(json_array_size(d), 0);
    json_decref(d);

    int64_t now = store_now_ms();
    store_webhook w = {0}, w2 = {0};
    ck_assert_int_eq(store_webhook_claim(st, "a", now, 1000, &w), 1);
    ck_assert_str_eq(w.submission_id, id);
    ck_assert_str_eq(w.url, "http://127.0.0.1:1/hook");
    ck_assert_int_eq(w.attempts, 0);
    /* Leased: nobody else gets it... until the lease expires (a dead process). */
    ck_assert_int_eq(store_webhook_claim(st, "b", now, 1000, &w2), 0);
    ck_assert_int_eq(store_webhook_claim(st, "b", now + 1001, 1000, &w2), 1);
    ck_assert_str_eq(w2.id, w.id);
    /* The old holder's write is refused. */
    ck_assert_int_eq(store_webhook_attempt(st, w.id, "a", 500, "x", 1, STORE_WEBHOOK_RETRY, now),
                     -ESTALE);
    ck_assert_int_eq(
        store_webhook_attempt(st, w.id, "b", 503, "HTTP 503", 5, STORE_WEBHOOK_RETRY, now + 50), 0);
    int64_t due = 0;
    ck_assert_int_eq(store_webhook_next_due(st, &due), 0);
    ck_assert_int_eq(due, now + 50);
    store_webhook_done(&w);
    store_webhook_done(&w2);
    ck_assert_int_eq(store_webhook_claim(st, "c", now + 49, 1000, &w), 0);
    ck_assert_int_eq(store_webhook_claim(st, "c", now + 50, 1000, &w), 1);
    ck_assert_int_eq(w.attempts, 1);
    ck_assert_int_eq(store_webhook_attempt(st, w.id, "c", 204, NULL, 3, STORE_WEBHOOK_DELIVERED, 0),
                     0);
    store_webhook_done(&w);
    ck_assert_int_eq(store_webhook_claim(st, "c", now + 100000, 1000, &w), 0);

    ck_assert_int_eq(store_webhook_deliveries_json(st, id, &d), 0);
    json_t *d0 = json_array_get(d, 0);
    ck_assert_str_eq(json_string_value(json_object_get(d0, "state")), "delivered");
    ck_assert_int_eq(json_integer_value(json_object_get(d0, "attempts")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(d0, "last_status")), 204);
    json_t *log = json_object_get(d0, "attempt_log");
    ck_assert_int_eq(json_array_size(log), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(log, 0), "status")), 503);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(log, 1), "attempt")), 2);
    json_decref(d);

    store_webhook_host h = {.state = "open", .failures = 4, .opened = 1, .open_until = 99};
    ck_assert_int_eq(store_webhook_host_put(st, "h:80", &h), 0);
    store_webhook_host g;
    ck_assert_int_eq(store_webhook_host_get(st, "h:80", &g), 0);
    ck_assert_str_eq(g.state, "open");
    ck_assert_int_eq(g.failures, 4);
    ck_assert_int_eq(g.open_until, 99);
    ck_assert_int_eq(store_webhook_host_get(st, "other:80", &g), 0);
    ck_assert_str_eq(g.state, "closed");
}
END_TEST

/* A receiver that answers request i by script[i]: 'F' 500, 'T' never answers
 * (the client times out), 'S' 200. Each request is written
 * to <tmp>/req-<i> (headers, blank line, body). */
static void start_receiver(const char *script)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(s, 16), 0);
    getsockname(s, (struct sockaddr *)&a, &al);
    receiver_port = ntohs(a.sin_port);
    receiver = fork();
    ck_assert_int_ge(receiver, 0);
    if (receiver > 0) {
        close(s);
        return;
    }
    alarm(60);
    for (int i = 0;; i++) {
        int c = accept(s, NULL, NULL);
        if (c < 0)
            _exit(0);
        char buf[65536];
        size_t n = 0;
        for (;;) {
            ssize_t k = read(c, buf + n, sizeof buf - 1 - n);
            if (k <= 0)
                break;
            n += (size_t)k;
            buf[n] = '\0';
            char *end = strstr(buf, "\r\n\r\n");
            char *cl = strcasestr(buf, "content-length:");
            if (end && cl && (size_t)(end + 4 - buf) + (size_t)atol(cl + 15) <= n)
                break;
        }
        char path[256];
        snprintf(path, sizeof path, "%s/req-%d", tmp, i);
        FILE *f = fopen(path, "w");
        fwrite(buf, 1, n, f);
        fclose(f);
        char mode = script[i] ? script[i] : 'S';
        if (mode == 'T') {
            continue; /* never answer; the fd stays open until we exit */
        } else {
            const char *resp = mode == 'F' ? "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"
                                           : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            (void)!write(c, resp, strlen(resp));
        }
        close(c);
    }
}

static int count_requests(void)
{
    int n = 0;
    char path[256];
    for (;; n++) {
        snprintf(path, sizeof path, "%s/req-%d", tmp, n);
        if (access(path, F_OK) != 0)
            return n;
    }
}

static char *read_request(int i)
{
    char path[256];
    snprintf(path, sizeof path, "%s/req-%d", tmp, i);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void nap_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Runs delivery passes until the delivery of id is no longer pending. */
static json_t *deliver_until_done(const char *owner, const char *id, bool *saw_open,
                                  const char *hostkey)
{
    volatile sig_atomic_t stop = 0;
    for (int i = 0; i < 1000; i++) {
        int r = webhook_deliver_one(cfg, st, owner, &stop);
        ck_assert_int_ge(r, 0);
        store_webhook_host h;
        if (saw_open && store_webhook_host_get(st, hostkey, &h) == 0 &&
            strcmp(h.state, "open") == 0)
            *saw_open = true;
        json_t *d = NULL;
        ck_assert_int_eq(store_webhook_deliveries_json(st, id, &d), 0);
        const char *state = json_string_value(json_object_get(json_array_get(d, 0), "state"));
        if (strcmp(state, "pending") != 0)
            return d;
        json_decref(d);
        if (r == 0)
            nap_ms(20);
    }
    ck_abort_msg("delivery did not finish");
    return NULL;
}

START_TEST(fails_times_out_then_succeeds_once_with_breaker)
{
    start_receiver("FTS");
    char url[128], id[33], hostkey[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", receiver_port);
    snprintf(hostkey, sizeof hostkey, "127.0.0.1:%d", receiver_port);
    make_finished(url, id);
    bool saw_open = false;
    json_t *d = deliver_until_done("w1", id, &saw_open, hostkey);
    json_t *d0 = json_array_get(d, 0);
    ck_assert_str_eq(json_string_value(json_object_get(d0, "state")), "delivered");
    ck_assert_int_eq(json_integer_value(json_object_get(d0, "attempts")), 3);
    json_t *log = json_object_get(d0, "attempt_log");
    ck_assert_int_eq(json_array_size(log), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(log, 0), "status")), 500);
    ck_assert(json_is_null(json_object_get(json_array_get(log, 1), "status")));
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(log, 2), "status")), 200);
    json_decref(d);
    /* Two failures opened the breaker; the successful probe closed it. */
    ck_assert(saw_open);
    store_webhook_host h;
    ck_assert_int_eq(store_webhook_host_get(st, hostkey, &h), 0);
    ck_assert_str_eq(h.state, "closed");
    /* Exactly three requests reached the receiver, one of them answered 200. */
    nap_ms(100);
    ck_assert_int_eq(count_requests(), 3);

    /* The body is the submission, signed over timestamp "." body. */
    char *req = read_request(2);
    ck_assert_ptr_nonnull(strstr(req, "POST /hook HTTP/1.1"));
    ck_assert_ptr_nonnull(strstr(req, "X-Farm-Event: submission.cancelled"));
    char *ts = strstr(req, "X-Farm-Timestamp: ");
    char *sig = strstr(req, "X-Farm-Signature: ");
    char *body = strstr(req, "\r\n\r\n");
    ck_assert(ts && sig && body);
    body += 4;
    char want[WEBHOOK_SIG_LEN + 1];
    webhook_sign("test-secret", atoll(ts + 18), body, strlen(body), want);
    ck_assert_int_eq(strncmp(sig + 18, want, WEBHOOK_SIG_LEN), 0);
    json_t *j = json_loads(body, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "id")), id);
    ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "cancelled");
    json_decref(j);
}
END_TEST

START_TEST(restart_mid_retry_resumes)
{
    start_receiver("FS");
    char url[128], id[33];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", receiver_port);
    make_finished(url, id);
    volatile sig_atomic_t stop = 0;
    /* First attempt fails and schedules a retry. */
    ck_assert_int_eq(webhook_deliver_one(cfg, st, "before", &stop), 1);
    /* The process then claims the retry and dies before recording anything. */
    store_webhook w = {0};
    for (int i = 0; i < 200 && store_webhook_claim(st, "before", store_now_ms(), 400, &w) == 0; i++)
        nap_ms(20);
    ck_assert_ptr_nonnull(w.url);
    store_webhook_done(&w);
    store_close(st);
    st = NULL;

    /* Restart: a new connection and owner find the delivery once the lease ends. */
    char err[256];
    ck_assert_int_eq(store_open_config(cfg, &st, err, sizeof err), 0);
    json_t *d = deliver_until_done("after", id, NULL, NULL);
    json_t *d0 = json_array_get(d, 0);
    ck_assert_str_eq(json_string_value(json_object_get(d0, "state")), "delivered");
    ck_assert_int_eq(json_integer_value(json_object_get(d0, "attempts")), 2);
    json_decref(d);
    nap_ms(100);
    ck_assert_int_eq(count_requests(), 2);
}
END_TEST

START_TEST(refused_address_fails_without_a_request)
{
    ck_assert_int_eq(config_set(cfg, "webhook.allow_private", "false", NULL, 0), 0);
    start_receiver("S");
    char url[128], id[33];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", receiver_port);
    make_finished(url, id);
    json_t *d = deliver_until_done("w", id, NULL, NULL);
    json_t *d0 = json_array_get(d, 0);
    ck_assert_str_eq(json_string_value(json_object_get(d0, "state")), "failed");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(d0, "last_error")), "private"));
    json_decref(d);
    ck_assert_int_eq(count_requests(), 0);
}
END_TEST

START_TEST(max_age_marks_failed)
{
    ck_assert_int_eq(config_set(cfg, "webhook.max_age_ms", "150", NULL, 0), 0);
    start_receiver("FFFFFFFFFFFFFFFFFFFF");
    char url[128], id[33];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", receiver_port);
    make_finished(url, id);
    ck_assert_int_eq(config_set(cfg, "webhook.breaker_failures", "100", NULL, 0), 0);
    json_t *d = deliver_until_done("w", id, NULL, NULL);
    json_t *d0 = json_array_get(d, 0);
    ck_assert_str_eq(json_string_value(json_object_get(d0, "state")), "failed");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(d0, "last_error")), "max_age"));
    json_decref(d);
}
END_TEST

static Suite *webhook_suite(void)
{
    Suite *s = suite_create("webhook");
    TCase *pure = tcase_create("policy");
    tcase_add_test(pure, signature_is_hmac_over_timestamp_dot_body);
    tcase_add_test(pure, backoff_doubles_with_jitter_and_caps);
    tcase_add_test(pure, breaker_opens_probes_and_recovers);
    tcase_add_test(pure, private_and_loopback_addresses_are_refused);
    tcase_add_test(pure, submission_check_refuses_literals_and_localhost_without_dns);
    suite_add_tcase(s, pure);
    TCase *out = tcase_create("outbox");
    tcase_add_checked_fixture(out, store_setup, store_teardown);
    tcase_set_timeout(out, 60);
    tcase_add_test(out, trigger_enqueues_once_and_claims_are_leased);
    tcase_add_test(out, fails_times_out_then_succeeds_once_with_breaker);
    tcase_add_test(out, restart_mid_retry_resumes);
    tcase_add_test(out, refused_address_fails_without_a_request);
    tcase_add_test(out, max_age_marks_failed);
    suite_add_tcase(s, out);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(webhook_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
