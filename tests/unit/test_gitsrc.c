/* test_gitsrc.c — git sources against local repositories made by the test:
 * checkout at a commit, branch, tag and HEAD, subdir, size limit, bad rev,
 * unreachable URL, credentials asked, fetch only when the rev is missing;
 * the policy (git.allow_local, git.allow_private): local repositories and
 * non-public hosts refused, a name resolving to loopback refused at fetch
 * time without a connection being made. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/config.h"
#include "../../common/gitsrc.h"
#include "../../common/gitsrc_gc.h"

#include <sys/file.h>
#include <time.h>

static char tmp[256];
static char repo[300];
static char state[300];
static config *cfg;
static char commit1[41], commit2[41];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int r = system(cmd);
    ck_assert_msg(r == 0, "command failed: %s", cmd);
}

static void capture(char *out, size_t len, const char *cmd)
{
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(out, (int)len, f));
    pclose(f);
    out[strcspn(out, "\n")] = '\0';
}

static char *slurp(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

#define GIT "git -c user.name=t -c user.email=t@t -c init.defaultBranch=main -C %s "

static void setup(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/farm-gitsrc-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    snprintf(repo, sizeof repo, "%s/repo", tmp);
    snprintf(state, sizeof state, "%s/state", tmp);
    mkdir(state, 0755);
    sh("git -c init.defaultBranch=main init -q %s", repo);
    sh("cd %s && printf 'one\\n' > a.txt && mkdir -p sub/deep && printf 'b\\n' > sub/b.txt && "
       "printf 'd\\n' > sub/deep/d.txt && printf '#!/bin/sh\\necho hi\\n' > run.sh && "
       "chmod +x run.sh && ln -s a.txt link",
       repo);
    sh(GIT "add -A && " GIT "commit -q -m one && " GIT "tag v1", repo, repo, repo);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "git -C %s rev-parse HEAD", repo);
    capture(commit1, sizeof commit1, cmd);
    sh("cd %s && printf 'two\\n' > a.txt", repo);
    sh(GIT "commit -q -am two", repo);
    capture(commit2, sizeof commit2, cmd);

    char err[256];
    ck_assert_int_eq(config_new_default(&cfg, err, sizeof err), 0);
    ck_assert_int_eq(config_set(cfg, "state_dir", state, err, sizeof err), 0);
    /* The repositories and servers of these tests are local: allowed here,
     * refused by the policy tests below. */
    ck_assert_int_eq(config_set(cfg, "git.allow_local", "true", err, sizeof err), 0);
    ck_assert_int_eq(config_set(cfg, "git.allow_private", "true", err, sizeof err), 0);
}

static void teardown(void)
{
    config_free(cfg);
    cfg = NULL;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    (void)!system(cmd);
}

static void mkbox(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", tmp, name);
    ck_assert_int_eq(mkdir(out, 0755), 0);
}

static int count_entries(const char *dir)
{
    char cmd[512], out[64];
    snprintf(cmd, sizeof cmd, "ls -A %s | wc -l", dir);
    capture(out, sizeof out, cmd);
    return atoi(out);
}

START_TEST(checkout_at_commit_writes_tree_modes_and_links)
{
    char box[300], err[512] = "", p[400];
    mkbox(box, sizeof box, "box");
    ck_assert_int_eq(gitsrc_checkout(cfg, repo, commit1, NULL, box, 0, err, sizeof err), 0);
    snprintf(p, sizeof p, "%s/a.txt", box);
    ck_assert_str_eq(slurp(p), "one\n");
    snprintf(p, sizeof p, "%s/sub/deep/d.txt", box);
    ck_assert_str_eq(slurp(p), "d\n");
    struct stat sb;
    snprintf(p, sizeof p, "%s/run.sh", box);
    ck_assert_int_eq(stat(p, &sb), 0);
    ck_assert(sb.st_mode & S_IXUSR);
    snprintf(p, sizeof p, "%s/a.txt", box);
    ck_assert_int_eq(stat(p, &sb), 0);
    ck_assert(!(sb.st_mode & S_IXUSR));
    snprintf(p, sizeof p, "%s/link", box);
    ck_assert_int_eq(lstat(p, &sb), 0);
    ck_assert(S_ISLNK(sb.st_mode));
    char target[64] = "";
    ck_assert_int_eq(readlink(p, target, sizeof target - 1), 5);
    ck_assert_str_eq(target, "a.txt");
    /* The mirror is bare and lives under state_dir/git. */
    char *m = gitsrc_mirror_path(cfg, repo);
    ck_assert_ptr_nonnull(strstr(m, "/git/"));
    snprintf(p, sizeof p, "%s/HEAD", m);
    ck_assert_int_eq(access(p, F_OK), 0);
    free(m);
}
END_TEST

START_TEST(checkout_by_branch_tag_head_and_short_id)
{
    char box[300], err[512] = "", p[400];
    const char *revs[] = {"main", "v1", "HEAD", NULL};
    const char *want[] = {"two\n", "one\n", "two\n"};
    for (int i = 0; revs[i]; i++) {
        char name[32];
        snprintf(name, sizeof name, "box%d", i);
        mkbox(box, sizeof box, name);
        ck_assert_msg(gitsrc_checkout(cfg, repo, revs[i], "", box, 0, err, sizeof err) == 0,
                      "%s: %s", revs[i], err);
        snprintf(p, sizeof p, "%s/a.txt", box);
        ck_assert_str_eq(slurp(p), want[i]);
    }
    char shortid[9];
    memcpy(shortid, commit1, 8);
    shortid[8] = '\0';
    char full[41];
    ck_assert_int_eq(gitsrc_resolve(cfg, repo, shortid, full, err, sizeof err), 0);
    ck_assert_str_eq(full, commit1);
    ck_assert_int_eq(gitsrc_resolve(cfg, repo, "v1", full, err, sizeof err), 0);
    ck_assert_str_eq(full, commit1);
}
END_TEST

START_TEST(file_url_and_subdir)
{
    char box[300], err[512] = "", url[400], p[400];
    snprintf(url, sizeof url, "file://%s", repo);
    mkbox(box, sizeof box, "box");
    ck_assert_msg(gitsrc_checkout(cfg, url, commit2, "sub", box, 0, err, sizeof err) == 0, "%s",
                  err);
    snprintf(p, sizeof p, "%s/b.txt", box);
    ck_assert_str_eq(slurp(p), "b\n");
    snprintf(p, sizeof p, "%s/deep/d.txt", box);
    ck_assert_str_eq(slurp(p), "d\n");
    ck_assert_int_eq(count_entries(box), 2);

    char box2[300];
    mkbox(box2, sizeof box2, "box2");
    ck_assert_int_eq(gitsrc_checkout(cfg, url, commit2, "nope", box2, 0, err, sizeof err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "source.git.subdir"));
    ck_assert_int_eq(gitsrc_checkout(cfg, url, commit2, "a.txt", box2, 0, err, sizeof err),
                     -ENOENT);
    ck_assert_int_eq(count_entries(box2), 0);
}
END_TEST

START_TEST(unknown_rev_is_enoent_with_sentence)
{
    char box[300], err[512] = "";
    mkbox(box, sizeof box, "box");
    ck_assert_int_eq(gitsrc_checkout(cfg, repo, "no-such-branch", NULL, box, 0, err, sizeof err),
                     -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "source.git.rev"));
    ck_assert_ptr_nonnull(strstr(err, "no-such-branch"));
    ck_assert_int_eq(gitsrc_checkout(cfg, repo, "0123456789abcdef0123456789abcdef01234567", NULL,
                                     box, 0, err, sizeof err),
                     -ENOENT);
    ck_assert_int_eq(count_entries(box), 0);
}
END_TEST

START_TEST(size_limit_refuses_before_writing)
{
    char box[300], err[512] = "";
    sh("head -c 100000 /dev/urandom > %s/big.bin", repo);
    sh(GIT "add big.bin && " GIT "commit -q -m big", repo, repo);
    mkbox(box, sizeof box, "box");
    ck_assert_int_eq(gitsrc_checkout(cfg, repo, "main", NULL, box, 50000, err, sizeof err), -EFBIG);
    ck_assert_ptr_nonnull(strstr(err, "50000"));
    ck_assert_int_eq(count_entries(box), 0);
    ck_assert_int_eq(gitsrc_checkout(cfg, repo, "main", NULL, box, 200000, err, sizeof err), 0);
}
END_TEST

START_TEST(unreachable_url_is_ehostunreach)
{
    char box[300], err[512] = "", url[400];
    mkbox(box, sizeof box, "box");
    snprintf(url, sizeof url, "%s/does-not-exist", tmp);
    ck_assert_int_eq(gitsrc_checkout(cfg, url, "main", NULL, box, 0, err, sizeof err),
                     -EHOSTUNREACH);
    ck_assert_ptr_nonnull(strstr(err, "does-not-exist"));
    /* A refused TCP port: bind, learn the port, close, then connect there. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(s, (struct sockaddr *)&a, &al);
    close(s);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x.git", ntohs(a.sin_port));
    ck_assert_int_eq(gitsrc_checkout(cfg, url, "main", NULL, box, 0, err, sizeof err),
                     -EHOSTUNREACH);
    /* No mirror is left behind for a URL that never answered. */
    char *m = gitsrc_mirror_path(cfg, url);
    ck_assert_int_ne(access(m, F_OK), 0);
    free(m);
}
END_TEST

/* A loopback server in a child (gone after 30 s at the most) on a free port,
 * said in *port: it answers every request with reply, or, with reply NULL,
 * accepts connections and never says a word. */
static pid_t start_server(const char *reply, int *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(s, 8), 0);
    getsockname(s, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        alarm(30);
        for (;;) {
            int c = accept(s, NULL, NULL);
            if (c < 0)
                _exit(0);
            if (!reply)
                continue; /* silent: the connection stays open, unanswered */
            char buf[4096];
            (void)!read(c, buf, sizeof buf);
            (void)!write(c, reply, strlen(reply));
            close(c);
        }
    }
    close(s);
    return pid;
}

/* What a private forge answers without credentials. */
static const char http_401[] = "HTTP/1.1 401 Unauthorized\r\n"
                               "WWW-Authenticate: Basic realm=\"git\"\r\n"
                               "Content-Length: 0\r\nConnection: close\r\n\r\n";

START_TEST(silent_server_times_out)
{
    char box[300], err[512] = "", url[400];
    mkbox(box, sizeof box, "box");
    ck_assert_int_eq(config_set(cfg, "git.fetch_timeout_ms", "800", err, sizeof err), 0);
    int port;
    pid_t pid = start_server(NULL, &port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow.git", port);
    int r = gitsrc_checkout(cfg, url, "main", NULL, box, 0, err, sizeof err);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_assert_msg(r == -ETIMEDOUT, "r=%d err=%s", r, err);
    ck_assert_ptr_nonnull(strstr(err, "800 ms"));
    char *m = gitsrc_mirror_path(cfg, url);
    ck_assert_int_ne(access(m, F_OK), 0);
    free(m);
}
END_TEST

START_TEST(credentials_needed_is_eacces)
{
    char box[300], err[512] = "", url[400];
    mkbox(box, sizeof box, "box");
    int port;
    pid_t pid = start_server(http_401, &port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/private.git", port);
    int r = gitsrc_checkout(cfg, url, "main", NULL, box, 0, err, sizeof err);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_assert_msg(r == -EACCES, "r=%d err=%s", r, err);
    ck_assert_ptr_nonnull(strstr(err, "credentials"));
}
END_TEST

START_TEST(fetches_only_when_rev_is_missing)
{
    char box[300], err[512] = "", moved[400], p[400];
    mkbox(box, sizeof box, "b1");
    ck_assert_int_eq(gitsrc_checkout(cfg, repo, commit1, NULL, box, 0, err, sizeof err), 0);
    /* With the origin gone, a commit the mirror holds still checks out: no fetch. */
    snprintf(moved, sizeof moved, "%s/moved", tmp);
    ck_assert_int_eq(rename(repo, moved), 0);
    mkbox(box, sizeof box, "b2");
    ck_assert_msg(gitsrc_checkout(cfg, repo, commit2, NULL, box, 0, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_int_eq(rename(moved, repo), 0);
    /* A new commit is missing from the mirror: that one fetches. */
    sh("cd %s && printf 'three\\n' > a.txt", repo);
    sh(GIT "commit -q -am three", repo);
    char c3[41], cmd[512];
    snprintf(cmd, sizeof cmd, "git -C %s rev-parse HEAD", repo);
    capture(c3, sizeof c3, cmd);
    mkbox(box, sizeof box, "b3");
    ck_assert_msg(gitsrc_checkout(cfg, repo, c3, NULL, box, 0, err, sizeof err) == 0, "%s", err);
    snprintf(p, sizeof p, "%s/a.txt", box);
    ck_assert_str_eq(slurp(p), "three\n");
}
END_TEST

START_TEST(validate_names_the_field)
{
    char err[256];
    ck_assert_int_eq(gitsrc_validate("git@github.com:a/b.git", "main", NULL, err, sizeof err),
                     -EPROTONOSUPPORT);
    ck_assert_ptr_nonnull(strstr(err, "source.git.url"));
    ck_assert_int_eq(gitsrc_validate("relative/path", "main", NULL, err, sizeof err),
                     -EPROTONOSUPPORT);
    ck_assert_int_eq(gitsrc_validate("", "main", NULL, err, sizeof err), -EINVAL);
    ck_assert_int_eq(gitsrc_validate("https://example.org/x.git", "", NULL, err, sizeof err),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "source.git.rev"));
    ck_assert_int_eq(
        gitsrc_validate("https://example.org/x.git", "main", "a/../..", err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "source.git.subdir"));
    ck_assert_int_eq(gitsrc_validate("https://example.org/x.git", "main", "/etc", err, sizeof err),
                     -EINVAL);
    ck_assert_int_eq(gitsrc_validate("https://example.org/x.git", "main", "a/b", err, sizeof err),
                     0);
    ck_assert_int_eq(gitsrc_validate("/srv/git/x", "v1.0", "", err, sizeof err), 0);
    ck_assert_int_eq(gitsrc_validate("file:///srv/git/x", "v1.0", "", err, sizeof err), 0);
}
END_TEST

START_TEST(policy_refuses_local_and_private_urls)
{
    char err[512] = "", box[300], url[400];
    const gitsrc_policy closed = {0}, open = {.allow_local = true, .allow_private = true};
    static const char *const local[] = {"file:///etc", "/root/x", "file:///srv/x.git"};
    for (size_t i = 0; i < sizeof local / sizeof *local; i++) {
        ck_assert_msg(gitsrc_url_check(local[i], closed, err, sizeof err) == -EACCES, "%s: %s",
                      local[i], err);
        ck_assert_ptr_nonnull(strstr(err, "source.git.url"));
        ck_assert_ptr_nonnull(strstr(err, "git.allow_local"));
        ck_assert_int_eq(gitsrc_url_check(local[i], open, err, sizeof err), 0);
    }
    static const char *const private[] = {
        "http://127.0.0.1/x.git",  "http://10.0.0.1/x.git",     "http://[::1]/x",
        "http://localhost/x",      "https://a.LocalHost./x",    "http://2130706433/x",
        "http://127.1:8080/x.git", "http://[::ffff:10.0.0.1]/", "http://169.254.169.254/x",
        "http://u@192.168.1.1/x",  "https://[fd00::1]:443/x",   "http://0.0.0.0/x"};
    for (size_t i = 0; i < sizeof private / sizeof *private; i++) {
        ck_assert_msg(gitsrc_url_check(private[i], closed, err, sizeof err) == -EACCES, "%s: %s",
                      private[i], err);
        ck_assert_ptr_nonnull(strstr(err, "source.git.url"));
        ck_assert_ptr_nonnull(strstr(err, "git.allow_private"));
        ck_assert_msg(gitsrc_url_check(private[i], open, err, sizeof err) == 0, "%s: %s",
                      private[i], err);
    }
    /* Public hosts and names (checked when resolved) pass without DNS. */
    static const char *const public[] = {"https://example.org/x.git", "http://1.1.1.1/x",
                                         "https://[2606:4700::1111]:8443/x",
                                         "https://git.internal/x"};
    for (size_t i = 0; i < sizeof public / sizeof *public; i++)
        ck_assert_msg(gitsrc_url_check(public[i], closed, err, sizeof err) == 0, "%s: %s",
                      public[i], err);
    /* A host we cannot read as libgit2 would is refused as malformed. */
    static const char *const odd[] = {"http://%31%32%37.0.0.1/x", "http://a@b@127.0.0.1/x",
                                      "http:///x", "http://[::1/x", "http://h\\@127.0.0.1/"};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++)
        ck_assert_msg(gitsrc_url_check(odd[i], open, err, sizeof err) == -EINVAL, "%s: %s", odd[i],
                      err);

    /* gitsrc_checkout applies cfg's policy before touching anything. */
    char e[64];
    ck_assert_int_eq(config_set(cfg, "git.allow_local", "false", e, sizeof e), 0);
    ck_assert_int_eq(config_set(cfg, "git.allow_private", "false", e, sizeof e), 0);
    mkbox(box, sizeof box, "box");
    ck_assert_int_eq(gitsrc_checkout(cfg, repo, "main", NULL, box, 0, err, sizeof err), -EACCES);
    ck_assert_ptr_nonnull(strstr(err, "git.allow_local"));
    snprintf(url, sizeof url, "file://%s", repo);
    char full[41];
    ck_assert_int_eq(gitsrc_resolve(cfg, url, "main", full, err, sizeof err), -EACCES);
    ck_assert_int_eq(
        gitsrc_checkout(cfg, "http://127.0.0.1:1/x.git", "main", NULL, box, 0, err, sizeof err),
        -EACCES);
    ck_assert_ptr_nonnull(strstr(err, "git.allow_private"));
    ck_assert_int_eq(count_entries(box), 0);
    char *m = gitsrc_mirror_path(cfg, repo);
    ck_assert_int_ne(access(m, F_OK), 0);
    free(m);
}
END_TEST

/* Makes name resolve to 127.0.0.1 for this test process only (Check runs
 * each test in a child of its own): a private mount namespace whose
 * /etc/hosts and /etc/nsswitch.conf are the test's files, so the test needs
 * nothing of the machine's resolver (not even that its host name resolves).
 * Where the machine has no /etc/hosts to bind over, a tmpfs on /etc holds
 * the two files (and copies of passwd and group). */
static void private_hosts(const char *name)
{
    char dir[] = "/tmp/farm-gitsrc-hosts-XXXXXX", hosts[64], nss[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(hosts, sizeof hosts, "%s/hosts", dir);
    snprintf(nss, sizeof nss, "%s/nsswitch.conf", dir);
    FILE *f = fopen(hosts, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "127.0.0.1 %s\n", name);
    fclose(f);
    ck_assert_ptr_nonnull(f = fopen(nss, "w"));
    fprintf(f, "passwd: files\ngroup: files\nhosts: files\n");
    fclose(f);
    ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
    ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    if (access("/etc/hosts", F_OK) == 0 && access("/etc/nsswitch.conf", F_OK) == 0) {
        ck_assert_int_eq(mount(hosts, "/etc/hosts", NULL, MS_BIND, NULL), 0);
        ck_assert_int_eq(mount(nss, "/etc/nsswitch.conf", NULL, MS_BIND, NULL), 0);
    } else {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "cp /etc/passwd /etc/group %s/ 2>/dev/null; true", dir);
        ck_assert_int_eq(system(cmd), 0);
        ck_assert_int_eq(mount("tmpfs", "/etc", "tmpfs", 0, "size=1m"), 0);
        snprintf(cmd, sizeof cmd, "cp %s/* /etc/", dir);
        ck_assert_int_eq(system(cmd), 0);
    }
    /* The files are open or copied: the directory can go now. */
    unlink(hosts);
    unlink(nss);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* A name that resolves to loopback passes the check without DNS; the fetch
 * resolves it, refuses it, and never connects (the pinned stream). */
START_TEST(name_resolving_to_loopback_is_refused_at_fetch)
{
    char err[512] = "", box[300], url[400], e[64], name[256] = "farm-test-loopback.example";
    private_hosts(name);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    ck_assert_msg(getaddrinfo(name, NULL, &hints, &res) == 0, "host name %s must resolve", name);
    uint32_t a4 = ntohl(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr);
    freeaddrinfo(res);
    ck_assert_msg((a4 >> 24) == 127, "host name %s must resolve to loopback", name);

    /* A listener on the loopback port the URL names: nobody may connect. */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(a4)};
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(s, 4), 0);
    getsockname(s, (struct sockaddr *)&sa, &sl);
    snprintf(url, sizeof url, "http://%s:%d/x.git", name, ntohs(sa.sin_port));

    const gitsrc_policy closed = {0};
    ck_assert_msg(gitsrc_url_check(url, closed, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(config_set(cfg, "git.allow_private", "false", e, sizeof e), 0);
    mkbox(box, sizeof box, "box");
    int r = gitsrc_checkout(cfg, url, "main", NULL, box, 0, err, sizeof err);
    ck_assert_msg(r == -EACCES, "r=%d err=%s", r, err);
    ck_assert_ptr_nonnull(strstr(err, "resolves to 127."));
    ck_assert_ptr_nonnull(strstr(err, "git.allow_private"));
    /* https: the socket beneath TLS goes through the same check. */
    snprintf(url, sizeof url, "https://%s:%d/x.git", name, ntohs(sa.sin_port));
    r = gitsrc_checkout(cfg, url, "main", NULL, box, 0, err, sizeof err);
    ck_assert_msg(r == -EACCES, "r=%d err=%s", r, err);
    ck_assert_ptr_nonnull(strstr(err, "resolves to 127."));
    ck_assert_int_lt(accept(s, NULL, NULL), 0); /* no connection was made */
    ck_assert_int_eq(errno, EAGAIN);
    snprintf(url, sizeof url, "http://%s:%d/x.git", name, ntohs(sa.sin_port));
    char *m = gitsrc_mirror_path(cfg, url);
    ck_assert_int_ne(access(m, F_OK), 0);
    free(m);

    /* Allowed, the same URL reaches the listener (which never answers: the
     * fetch times out, and the connection waits in the listener's queue). */
    ck_assert_int_eq(config_set(cfg, "git.allow_private", "true", e, sizeof e), 0);
    ck_assert_int_eq(config_set(cfg, "git.fetch_timeout_ms", "1500", e, sizeof e), 0);
    r = gitsrc_checkout(cfg, url, "main", NULL, box, 0, err, sizeof err);
    ck_assert_msg(r == -ETIMEDOUT, "r=%d err=%s", r, err);
    int c = accept(s, NULL, NULL);
    ck_assert_int_ge(c, 0);
    close(c);
    close(s);
}
END_TEST

START_TEST(worktree_head_and_checkout_detached)
{
    char box[300], err[512] = "", p[400], sub[400];
    sh(GIT "checkout -q --detach %s", repo, commit1);
    char head[41];
    char *top = NULL;
    snprintf(sub, sizeof sub, "%s/sub/deep", repo);
    ck_assert_msg(gitsrc_worktree_head(sub, head, &top, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(head, commit1);
    ck_assert_str_eq(top, repo);
    free(top);
    mkbox(box, sizeof box, "box");
    /* Uncommitted changes are not part of the checkout. */
    sh("cd %s && printf 'dirty\\n' > a.txt", repo);
    ck_assert_msg(gitsrc_checkout_worktree(sub, "HEAD", box, 0, err, sizeof err) == 0, "%s", err);
    snprintf(p, sizeof p, "%s/a.txt", box);
    ck_assert_str_eq(slurp(p), "one\n");
    ck_assert_int_eq(gitsrc_worktree_head(tmp, head, NULL, err, sizeof err), -ENOENT);
}
END_TEST

/* ---- mirror collection (issue 10: state_dir/git grew for ever) ---- */

/* n bare copies of the test repository, each checked out once through its
 * own mirror; urls[i] gets the URL, mirrors[i] the mirror path (freed by the
 * caller). */
static void make_mirrors(int n, char urls[][320], char **mirrors)
{
    for (int i = 0; i < n; i++) {
        char box[300], err[512] = "", name[32];
        snprintf(urls[i], 320, "%s/copy%d.git", tmp, i);
        sh("git clone -q --bare %s %s", repo, urls[i]);
        snprintf(name, sizeof name, "box-m%d", i);
        mkbox(box, sizeof box, name);
        ck_assert_msg(gitsrc_checkout(cfg, urls[i], "main", NULL, box, 0, err, sizeof err) == 0,
                      "%s", err);
        mirrors[i] = gitsrc_mirror_path(cfg, urls[i]);
        ck_assert_int_eq(access(mirrors[i], F_OK), 0);
    }
}

static void used_ago(const char *mirror, long seconds)
{
    char p[512];
    snprintf(p, sizeof p, "%s/nixfarm-used", mirror);
    struct timespec ts[2] = {{.tv_sec = time(NULL) - seconds}, {.tv_sec = time(NULL) - seconds}};
    ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static bool exists(const char *p)
{
    return access(p, F_OK) == 0;
}

START_TEST(mirrors_are_collected_by_age_then_size)
{
    char urls[3][320], *m[3], err[256] = "";
    make_mirrors(3, urls, m);
    used_ago(m[0], 30L * 86400); /* a month: past git.mirror_max_age_ms (a week) */
    used_ago(m[1], 2 * 3600);
    used_ago(m[2], 3600);
    gitsrc_gc_stats st;
    ck_assert_int_eq(gitsrc_gc(cfg, time(NULL), &st, err, sizeof err), 0);
    ck_assert_int_eq(st.removed_age, 1);
    ck_assert_int_eq(st.removed_size, 0);
    ck_assert_int_eq(st.kept, 2);
    ck_assert(st.bytes_freed > 0);
    ck_assert(!exists(m[0]) && exists(m[1]) && exists(m[2]));
    /* room for one mirror: the least recently used goes */
    char cap[32];
    snprintf(cap, sizeof cap, "%lld", st.bytes_kept / 2 + 1);
    ck_assert_int_eq(config_set(cfg, "git.mirrors_max_bytes", cap, err, sizeof err), 0);
    ck_assert_int_eq(gitsrc_gc(cfg, time(NULL), &st, err, sizeof err), 0);
    ck_assert_int_eq(st.removed_size, 1);
    ck_assert(!exists(m[1]) && exists(m[2]));
    /* a mirror used just now stays whatever the cap (a checkout may read it) */
    ck_assert_int_eq(config_set(cfg, "git.mirrors_max_bytes", "1", err, sizeof err), 0);
    used_ago(m[2], 0);
    ck_assert_int_eq(gitsrc_gc(cfg, time(NULL), &st, err, sizeof err), 0);
    ck_assert_int_eq(st.kept, 1);
    ck_assert(exists(m[2]));
    /* and the collected URLs still work: fetched again */
    char box[300];
    mkbox(box, sizeof box, "box-again");
    ck_assert_msg(gitsrc_checkout(cfg, urls[0], commit1, NULL, box, 0, err, sizeof err) == 0, "%s",
                  err);
    ck_assert(exists(m[0]));
    for (int i = 0; i < 3; i++)
        free(m[i]);
}
END_TEST

START_TEST(a_mirror_being_fetched_is_not_collected)
{
    char urls[1][320], *m[1], err[256] = "", lock[600];
    make_mirrors(1, urls, m);
    used_ago(m[0], 30L * 86400);
    snprintf(lock, sizeof lock, "%s.lock", m[0]);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX), 0); /* as gitsrc_open_rev holds it while fetching */
    gitsrc_gc_stats st;
    ck_assert_int_eq(gitsrc_gc(cfg, time(NULL), &st, err, sizeof err), 0);
    ck_assert_int_eq(st.kept, 1);
    ck_assert(exists(m[0]));
    close(fd);
    ck_assert_int_eq(gitsrc_gc(cfg, time(NULL), &st, err, sizeof err), 0);
    ck_assert_int_eq(st.removed_age, 1);
    ck_assert(!exists(m[0]));
    free(m[0]);
}
END_TEST

START_TEST(checkouts_collect_at_most_once_per_interval)
{
    char urls[2][320], *m[2], err[256] = "", box[300];
    make_mirrors(1, urls, m); /* this checkout already ran a collection: stamp fresh */
    used_ago(m[0], 30L * 86400);
    snprintf(urls[1], 320, "%s/copy-late.git", tmp);
    sh("git clone -q --bare %s %s", repo, urls[1]);
    mkbox(box, sizeof box, "box-late");
    ck_assert_int_eq(gitsrc_checkout(cfg, urls[1], "main", NULL, box, 0, err, sizeof err), 0);
    ck_assert_msg(exists(m[0]), "collected again within git.gc_interval_ms");
    ck_assert_int_eq(config_set(cfg, "git.gc_interval_ms", "0", err, sizeof err), 0);
    mkbox(box, sizeof box, "box-late2");
    ck_assert_int_eq(gitsrc_checkout(cfg, urls[1], "main", NULL, box, 0, err, sizeof err), 0);
    ck_assert_msg(!exists(m[0]), "a checkout did not collect the month-old mirror");
    m[1] = gitsrc_mirror_path(cfg, urls[1]);
    ck_assert(exists(m[1]));
    free(m[0]);
    free(m[1]);
}
END_TEST

static Suite *gitsrc_suite(void)
{
    Suite *s = suite_create("gitsrc");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, checkout_at_commit_writes_tree_modes_and_links);
    tcase_add_test(tc, checkout_by_branch_tag_head_and_short_id);
    tcase_add_test(tc, file_url_and_subdir);
    tcase_add_test(tc, unknown_rev_is_enoent_with_sentence);
    tcase_add_test(tc, size_limit_refuses_before_writing);
    tcase_add_test(tc, unreachable_url_is_ehostunreach);
    tcase_add_test(tc, credentials_needed_is_eacces);
    tcase_add_test(tc, silent_server_times_out);
    tcase_add_test(tc, fetches_only_when_rev_is_missing);
    tcase_add_test(tc, validate_names_the_field);
    tcase_add_test(tc, worktree_head_and_checkout_detached);
    tcase_add_test(tc, policy_refuses_local_and_private_urls);
    tcase_add_test(tc, name_resolving_to_loopback_is_refused_at_fetch);
    tcase_add_test(tc, mirrors_are_collected_by_age_then_size);
    tcase_add_test(tc, a_mirror_being_fetched_is_not_collected);
    tcase_add_test(tc, checkouts_collect_at_most_once_per_interval);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gitsrc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
