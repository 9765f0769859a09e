/* test_supervisor.c — daemon/supervisor.c with fake roles: a crashing child
 * is restarted with growing delays, a role that is not built is not, SIGTERM
 * stops well-behaved children, a child that ignores it is killed after
 * supervisor.kill_after_ms, a second signal kills at once, and nothing is
 * left behind. Prints TAP. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "config.h"
#include "log.h"
#include "../../daemon/supervisor.h"
#include "../lib/tap.h"

static char log_path[] = "/tmp/farm-supervisor-XXXXXX";

/* Each child start appends "<role>\n" to the log file (O_APPEND: one write
 * per line, so concurrent children do not interleave). */
static void note(const char *role)
{
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CLOEXEC);
    char line[64];
    int n = snprintf(line, sizeof(line), "%s\n", role);

    if (fd >= 0) {
        if (write(fd, line, (size_t)n) < 0)
            perror("write");
        close(fd);
    }
}

static int count(const char *role)
{
    FILE *f = fopen(log_path, "r");
    char line[64];
    int n = 0;

    while (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        n += strcmp(line, role) == 0;
    }
    if (f)
        fclose(f);
    return n;
}

static int fake_run(const config *cfg, const char *role, int slot, volatile sig_atomic_t *stop)
{
    (void)cfg;
    (void)slot;
    note(role);
    if (strcmp(role, "crash") == 0)
        return -EIO;
    if (strcmp(role, "absent") == 0)
        return -ENOSYS;
    if (strcmp(role, "stubborn") == 0) {
        signal(SIGTERM, SIG_IGN);
        for (;;)
            pause();
    }
    while (!*stop)
        pause();
    note("clean-stop");
    return 0;
}

/* Processes whose comm starts with "farmd-" and whose parent is pid. */
static int children_named(pid_t parent)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int n = 0;

    while (d && (de = readdir(d))) {
        char path[300], buf[512];
        FILE *f;
        int pid, ppid;
        char comm[64];

        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(buf, sizeof(buf), f) &&
            sscanf(buf, "%d (%63[^)]) %*c %d", &pid, comm, &ppid) == 3 && ppid == parent &&
            strncmp(comm, "farmd-", 6) == 0)
            n++;
        fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

static pid_t start_supervisor(config *cfg, const supervisor_child *kids, size_t n)
{
    pid_t pid = fork();

    if (pid == 0) {
        int r = supervisor_run(cfg, kids, n, fake_run);
        _exit(r < 0 ? 100 : r);
    }
    return pid;
}

static int wait_exit(pid_t pid, int timeout_ms)
{
    int status;

    for (int i = 0; i < timeout_ms / 10; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

int main(void)
{
    static const supervisor_child kids[] = {{"good", 0}, {"good", 1}, {"crash", 0}, {"absent", 0}};
    static const supervisor_child stubborn[] = {{"good", 0}, {"stubborn", 0}};
    config *cfg = NULL;
    char err[256];
    pid_t sup;
    int fd, rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    fd = mkstemp(log_path);
    if (fd < 0 || config_new_default(&cfg, err, sizeof(err)) < 0) {
        printf("1..1\nnot ok 1 - setup\n");
        return 1;
    }
    close(fd);
    config_set(cfg, "supervisor.backoff_min_ms", "50", err, sizeof(err));
    config_set(cfg, "supervisor.backoff_max_ms", "400", err, sizeof(err));
    config_set(cfg, "supervisor.kill_after_ms", "500", err, sizeof(err));
    log_set_level(LOG_ERR);

    /* 1: restarts, not-built, clean stop */
    sup = start_supervisor(cfg, kids, sizeof(kids) / sizeof(*kids));
    usleep(1300000);
    ok(children_named(sup) == 2, "two well-behaved children alive (%d)", children_named(sup));
    /* 50+100+200+400(+400) ms of backoff fit 4-6 starts into 1.3 s; no
     * backoff would have made hundreds. */
    ok(count("crash") >= 3 && count("crash") <= 8,
       "crashing child restarted with backoff (%d starts)", count("crash"));
    ok(count("absent") == 1, "a role that is not built is not restarted (%d starts)",
       count("absent"));
    ok(count("good") == 2, "healthy children started once each (%d)", count("good"));
    kill(sup, SIGTERM);
    rc = wait_exit(sup, 5000);
    ok(rc == 0, "SIGTERM: clean stop, exit status %d", rc);
    ok(count("clean-stop") == 2, "both children saw the stop flag (%d)", count("clean-stop"));
    ok(children_named(sup) == 0, "no child left");

    /* 2: a child that ignores SIGTERM is killed after kill_after_ms */
    sup = start_supervisor(cfg, stubborn, 2);
    usleep(300000);
    kill(sup, SIGTERM);
    rc = wait_exit(sup, 5000);
    ok(rc == 1, "stubborn child killed after the grace period, exit status %d", rc);

    /* 3: a second signal kills at once */
    config_set(cfg, "supervisor.kill_after_ms", "60000", err, sizeof(err));
    sup = start_supervisor(cfg, stubborn, 2);
    usleep(300000);
    kill(sup, SIGTERM);
    usleep(100000);
    kill(sup, SIGINT);
    rc = wait_exit(sup, 3000);
    ok(rc == 1, "second signal kills at once, exit status %d", rc);

    /* 4: children die with a killed supervisor (PR_SET_PDEATHSIG) */
    sup = start_supervisor(cfg, kids, 2);
    usleep(300000);
    {
        int before = count("clean-stop");
        kill(sup, SIGKILL);
        wait_exit(sup, 1000);
        for (int i = 0; i < 200 && count("clean-stop") < before + 2; i++)
            usleep(10000);
        ok(count("clean-stop") == before + 2, "children stop when the supervisor is killed");
    }

    int status = tap_done();
    config_free(cfg);
    unlink(log_path);
    return status;
}
