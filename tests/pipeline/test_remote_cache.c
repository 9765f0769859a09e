/* test_remote_cache.c — a remote worker's import of a set's closure from the
 * farm's signed binary cache (worker_cache_import_closure), with real Nix:
 * a store path built for this test (rooted meanwhile) is copied to a file://
 * cache signed with a fresh key, then deleted from this machine's store; the
 * import refuses a cache it has no key for and a wrong key (nothing lands),
 * fetches it with the right key, and does nothing when the path is already
 * there. The path is deleted again at the end. Prints TAP. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "../../daemon/worker/worker_cache.h"
#include "../lib/tap.h"

static char tmp[] = "/tmp/farm-remote-cache-XXXXXX";
static char path[512]; /* the store path built for the test */
static char drv[512];  /* and its derivation */

/* Runs a shell command; its first output line lands in out (may be NULL). */
static int sh(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(char *out, size_t outlen, const char *fmt, ...)
{
    char cmd[2048];
    char line[1024] = "";
    va_list ap;
    FILE *p;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    p = popen(cmd, "r");
    if (!p)
        return -errno;
    if (!fgets(line, sizeof(line), p))
        line[0] = '\0';
    while (fgetc(p) != EOF)
        ;
    line[strcspn(line, "\n")] = '\0';
    if (out)
        snprintf(out, outlen, "%s", line);
    return pclose(p) == 0 ? 0 : -EIO;
}

static void cleanup(void)
{
    sh(NULL, 0, "rm -f %s/result %s/drv", tmp, tmp);
    if (path[0])
        sh(NULL, 0, "timeout 60 nix-store --delete %s >/dev/null 2>&1", path);
    if (drv[0])
        sh(NULL, 0, "timeout 60 nix-store --delete %s >/dev/null 2>&1", drv);
    sh(NULL, 0, "rm -rf %s", tmp);
}

int main(void)
{
    char pub[256] = "", wrong[256] = "", url[600], err[2048] = "";
    json_t *set;
    int r;

    log_set_level(LOG_WARNING);
    if (!mkdtemp(tmp)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    atexit(cleanup);
    printf("1..5\n");
    fflush(stdout);
    if (sh(NULL, 0,
           "nix-store --generate-binary-cache-key farm-remote-test-1 %s/k1.sec %s/k1.pub && "
           "nix-store --generate-binary-cache-key farm-remote-test-2 %s/k2.sec %s/k2.pub",
           tmp, tmp, tmp, tmp) < 0 ||
        sh(pub, sizeof(pub), "cat %s/k1.pub", tmp) < 0 ||
        sh(wrong, sizeof(wrong), "cat %s/k2.pub", tmp) < 0) {
        printf("Bail out! cannot make signing keys\n");
        return 1;
    }
    /* An input-addressed path with unique content: Nix insists on a
     * signature for it (a content-addressed one, as nix-store --add makes,
     * would be trusted without), and no other test or run has it. */
    if (sh(drv, sizeof(drv),
           "nix-instantiate --add-root %s/drv --indirect --option substituters '' -E "
           "'derivation { name = \"farm-remote-test\"; system = builtins.currentSystem; "
           "builder = \"/bin/sh\"; args = [\"-c\" \"echo nixfarm %d %lld > $out\"]; }' "
           ">/dev/null 2>&1 && readlink %s/drv",
           tmp, (int)getpid(), (long long)time(NULL), tmp) < 0 ||
        sh(path, sizeof(path),
           "nix-store --realise --add-root %s/result --indirect --option sandbox false "
           "--option substituters '' %s >/dev/null 2>&1 && readlink %s/result",
           tmp, drv, tmp) < 0 ||
        strncmp(path, "/nix/store/", 11) != 0) {
        printf("Bail out! nix-build of the test path failed (%s)\n", path);
        path[0] = '\0';
        return 1;
    }
    snprintf(url, sizeof(url), "file://%s/cache", tmp);
    if (sh(NULL, 0,
           "nix --extra-experimental-features nix-command copy --to '%s?secret-key=%s/k1.sec' %s "
           ">/dev/null 2>&1 && rm %s/result && timeout 60 nix-store --delete %s >/dev/null 2>&1",
           url, tmp, path, tmp, path) < 0 ||
        access(path, F_OK) == 0) {
        /* --delete is a garbage collection: it waits for gc.lock, which a
         * concurrent test_nixset holds shared for its whole run. */
        printf("Bail out! cannot export %s and remove it from the store (within 60 s; "
               "does something hold /nix/var/nix/gc.lock?)\n",
               path);
        return 1;
    }
    set = json_pack("{s:[s]}", "closure", path);

    r = worker_cache_import_closure(NULL, set, "", "", NULL, 1, NULL, err, sizeof(err));
    ok(r == -ENOENT && strstr(err, "not in this machine's Nix store"),
       "a missing path and no cache: refused with the reason (r=%d: %s)", r, err);

    err[0] = '\0';
    r = worker_cache_import_closure(NULL, set, url, wrong, NULL, 1, NULL, err, sizeof(err));
    ok(r < 0 && access(path, F_OK) != 0,
       "a cache signed with another key: refused, nothing imported (r=%d)", r);

    err[0] = '\0';
    /* Retried as a worker does: a garbage collection another test runs on
     * this store at the same moment fails an import (Nix 2.8). */
    r = worker_cache_import_closure(NULL, set, url, pub, NULL, 3, NULL, err, sizeof(err));
    ok(r == 1, "the missing path is imported from the signed cache (r=%d: %.300s)", r, err);
    ok(access(path, F_OK) == 0 && sh(NULL, 0, "nix-store --check-validity %s", path) == 0,
       "%s is now a valid path of this machine's store", path);

    r = worker_cache_import_closure(NULL, set, "", "", NULL, 1, NULL, err, sizeof(err));
    ok(r == 0, "a closure already present needs no cache (r=%d)", r);

    json_decref(set);
    return tap_failed() ? 1 : 0;
}
