/* dpkgbusy.c — is dpkg in the middle of something?
 *
 * apt and dpkg hold fcntl locks on <admindir>/lock-frontend and
 * <admindir>/lock while they change the system. The package set must not be
 * generated from such a moment (a package being unpacked is "not installed"
 * to nix/regen, and with libc6 that makes every package unavailable). This
 * only asks the kernel whether a lock is held (F_OFD_GETLK, else F_GETLK):
 * it never takes the lock, so it cannot get in apt's way. The admin dir is
 * the directory of the configured status file (nix.dpkg_status), so tests
 * point the farm at a copy whose lock files they hold themselves.
 *
 * Then the status file: a package half-installed, unpacked, half-configured
 * or waiting for triggers (or needing a reinstall) is what apt leaves
 * between its unpack and configure phases, or after an interrupted run (then
 * `dpkg --configure -a` ends it). Reading the file costs a few ms; nix/regen
 * makes the same check for the packages it looks at (exit 3), but only after
 * reading every package's file list (seconds). */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "builder_internal.h"

/* 1 when some process holds a lock on path, 0 when none (or no file), -errno. */
static int lock_held(const char *path, pid_t *pid)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    int r = fcntl(fd, F_OFD_GETLK, &fl);
    if (r < 0 && errno == EINVAL) {
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        r = fcntl(fd, F_GETLK, &fl);
    }
    int e = errno;
    close(fd);
    if (r < 0)
        return -e;
    *pid = fl.l_pid;
    return fl.l_type != F_UNLCK;
}

static const char *const transient[] = {"half-installed", "unpacked", "half-configured",
                                        "triggers-awaited", "triggers-pending"};

/* Whether a "Status: want eflag state" value is not a final state. */
static bool status_transient(const char *v)
{
    char want[32], eflag[32], state[32];
    if (sscanf(v, "%31s %31s %31s", want, eflag, state) != 3)
        return false;
    if (!strcmp(eflag, "reinstreq"))
        return true;
    for (size_t i = 0; i < sizeof transient / sizeof *transient; i++)
        if (!strcmp(state, transient[i]))
            return true;
    return false;
}

/* 1 with why filled when a package of the status file is in a transient
 * state, 0 when none, -errno. */
static int status_busy(const char *status_path, char *why, size_t whylen)
{
    FILE *f = fopen(status_path, "re");
    if (!f)
        return -errno;
    char line[1024], pkg[256] = "";
    int r = 0;
    while (r == 0 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!line[0])
            pkg[0] = 0;
        else if (!strncmp(line, "Package: ", 9))
            snprintf(pkg, sizeof pkg, "%.200s", line + 9);
        else if (!strncmp(line, "Status: ", 8) && status_transient(line + 8)) {
            snprintf(why, whylen, "Debian package %s is %s in %s", pkg[0] ? pkg : "?", line + 8,
                     status_path);
            r = 1;
        }
    }
    fclose(f);
    return r;
}

int builder_dpkg_busy(const char *status_path, char *why, size_t whylen)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", status_path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    const char *names[] = {"lock-frontend", "lock"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[4096 + 32];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        pid_t pid = 0;
        int r = lock_held(path, &pid);
        if (r < 0)
            continue; /* unreadable: the regen's own state check still guards */
        if (r > 0) {
            snprintf(why, whylen, "dpkg lock %s held by process %d", path, (int)pid);
            return 1;
        }
    }
    return status_busy(status_path, why, whylen) > 0;
}
