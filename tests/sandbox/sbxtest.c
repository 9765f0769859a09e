/* sbxtest.c — see sbxtest.h. */
#include "sbxtest.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

bool sbxtest_has(const struct sandbox_result *r, const char *s)
{
    return r->stdout_buf && strstr(r->stdout_buf, s);
}

int sbxtest_copy_file(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY | O_CLOEXEC), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    char buf[65536];
    ssize_t n;
    int ret = in >= 0 && out >= 0 ? 0 : -1;
    while (ret == 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            ret = -1;
    if (ret == 0 && fchmod(out, mode) < 0)
        ret = -1;
    int saved = errno;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    errno = saved;
    return ret;
}

int sbxtest_make_store(const char *root, const char *fsname, const char *size)
{
    char p[700], opts[64];
    snprintf(p, sizeof p, "%s/nix", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/nix/store", root);
    mkdir(p, 0755);
    snprintf(opts, sizeof opts, "size=%s,mode=0755", size);
    if (mount(fsname, p, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
        printf("Bail out! store tmpfs: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

void sbxtest_remove_root(const char *root)
{
    char p[700];
    snprintf(p, sizeof p, "%s/nix/store", root);
    umount2(p, MNT_DETACH);
    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf --one-file-system -- '%s'", root);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", root);
}

static struct sandbox_pool **fatal_pool;
static void (*fatal_cleanup)(void);

static void on_fatal(int sig)
{
    signal(sig, SIG_DFL);
    sandbox_pool_free(*fatal_pool);
    *fatal_pool = NULL;
    fatal_cleanup();
    raise(sig);
}

void sbxtest_trap_fatal(struct sandbox_pool **pool, void (*cleanup)(void))
{
    fatal_pool = pool;
    fatal_cleanup = cleanup;
    int fatal[] = {SIGTERM, SIGINT, SIGHUP, SIGSEGV, SIGABRT, SIGBUS};
    for (size_t i = 0; i < sizeof fatal / sizeof *fatal; i++)
        signal(fatal[i], on_fatal);
}
