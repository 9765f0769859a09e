/* cmdargv.c — see cmdargv.h. */
#include "cmdargv.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"

bool cmdargv_host_has_busybox(void)
{
    return access(CMDARGV_HOST_BUSYBOX, X_OK) == 0;
}

void cmdargv_done(cmdargv *a)
{
    for (size_t i = 0; i < a->n_owned; i++)
        free(a->owned[i]);
    a->n_owned = a->n = 0;
    a->argv[0] = NULL;
    a->host_shell = false;
}

int cmdargv_push(cmdargv *a, const char *s)
{
    if (a->n >= CMDARGV_MAX)
        return -E2BIG;
    char *d = strdup(s);
    if (!d)
        return -ENOMEM;
    a->owned[a->n_owned++] = d;
    a->argv[a->n++] = d;
    a->argv[a->n] = NULL;
    return 0;
}

/* True unless cmd is plain words whose first word is a program we can exec
 * directly: a path, or a name found in the set's bin/ (a shell builtin such
 * as `exit` or `cd` is not, so it goes through the shell). */
static bool cmdargv_needs_shell(const char *bin_dir, const char *cmd)
{
    size_t first_len = strcspn(cmd, " \t");
    char path[PATH_MAX];
    struct stat st;

    for (const char *p = cmd; *p; p++) {
        if (strchr("|&;<>()$`\\\"'*?[#~{}\n", *p))
            return true;
        if (*p == '=' && p < cmd + first_len)
            return true; /* VAR=value cmd */
    }
    if (first_len == 0 || memchr(cmd, '/', first_len))
        return false;
    if ((size_t)snprintf(path, sizeof(path), "%s/%.*s", bin_dir, (int)first_len, cmd) >=
        sizeof(path))
        return true;
    return stat(path, &st) < 0 || !S_ISREG(st.st_mode);
}

/* Whether "$@" can follow cmd in `sh -c`: not after a compound command or a
 * list terminator, where it would be a syntax error. */
static bool cmdargv_can_append_args(const char *cmd)
{
    static const char *const ends[] = {"done", "fi", "esac", "}", ")", ";", "&"};
    size_t n = strlen(cmd);

    while (n > 0 && strchr(" \t\n", cmd[n - 1]))
        n--;
    for (size_t i = 0; i < sizeof(ends) / sizeof(*ends); i++) {
        size_t k = strlen(ends[i]);
        if (n >= k && memcmp(cmd + n - k, ends[i], k) == 0)
            return false;
    }
    return true;
}

/* Where a program lives inside the run: an absolute path as given, a
 * relative one beneath /box (the box is the working directory), a bare name
 * in the set's bin/. */
static int cmdargv_program_path(const char *bin_dir, const char *word, char *out, size_t outlen)
{
    int n;

    if (word[0] == '/')
        n = snprintf(out, outlen, "%s", word);
    else if (strchr(word, '/'))
        n = snprintf(out, outlen, "/box/%s", strncmp(word, "./", 2) ? word : word + 2);
    else
        n = snprintf(out, outlen, "%s/%s", bin_dir, word);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

int cmdargv_shell(cmdargv *a, const char *bin_dir, bool host_busybox, const char *script)
{
    char sh[PATH_MAX];
    int r;

    if ((size_t)snprintf(sh, sizeof(sh), "%s/sh", bin_dir) < sizeof(sh) && access(sh, X_OK) == 0) {
        r = cmdargv_push(a, sh);
    } else {
        if (!host_busybox)
            return -ENOENT;
        a->host_shell = true;
        r = cmdargv_push(a, CMDARGV_SHELL_INSIDE);
    }
    if (r == 0)
        r = cmdargv_push(a, "-c");
    return r < 0 ? r : cmdargv_push(a, script);
}

int cmdargv_from_line(cmdargv *a, const char *bin_dir, bool host_busybox, const char *cmd,
                      size_t n_args)
{
    int r;

    if (cmdargv_needs_shell(bin_dir, cmd)) {
        _cleanup_free_ char *script = NULL;

        /* The args are the script's positional parameters either way; they
         * follow the command itself when that parses. */
        if (asprintf(&script, "%s%s", cmd,
                     n_args > 0 && cmdargv_can_append_args(cmd) ? " \"$@\"" : "") < 0)
            return -ENOMEM;
        r = cmdargv_shell(a, bin_dir, host_busybox, script);
        return r < 0 ? r : cmdargv_push(a, "sh"); /* $0 */
    }
    _cleanup_free_ char *copy = strdup(cmd);
    char *save = NULL, path[PATH_MAX];
    bool first = true;

    if (!copy)
        return -ENOMEM;
    for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (first && (r = cmdargv_program_path(bin_dir, w, path, sizeof(path))) < 0)
            return r;
        if ((r = cmdargv_push(a, first ? path : w)) < 0)
            return r;
        first = false;
    }
    return first ? -EINVAL : 0; /* an empty command */
}

int cmdargv_from_words(cmdargv *a, const char *bin_dir, bool host_busybox, const char *const *words,
                       char *err, size_t errlen)
{
    char exe[PATH_MAX];
    const char *a0 = words[0];
    int r = cmdargv_program_path(bin_dir, a0, exe, sizeof(exe));

    if (r < 0) {
        errbuf_set(err, errlen, "%s: path too long", a0);
        return r;
    }
    if (!strchr(a0, '/') && access(exe, X_OK) != 0) {
        if (strcmp(a0, "sh") == 0 && host_busybox) {
            /* A set without a shell still gets `sh -c`, from the host's
             * static busybox, as the workers do. */
            snprintf(exe, sizeof(exe), "%s", CMDARGV_SHELL_INSIDE);
            a->host_shell = true;
        } else {
            errbuf_set(err, errlen,
                       "%s: command not found in the package set (its bin/ is %s); add the "
                       "package that provides it to --packages",
                       a0, bin_dir);
            return -ENOENT;
        }
    }
    r = cmdargv_push(a, exe);
    for (size_t i = 1; r == 0 && words[i]; i++)
        r = cmdargv_push(a, words[i]);
    return r;
}
