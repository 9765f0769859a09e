/* farm-sandbox-check.c — `farm-sandbox --check [--json]`: the kernel features
 * the sandbox relies on, present or not on this machine, what it does where
 * one is missing, and the accounting a pool really uses here. */
#include "farm-sandbox-check.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

/* A JSON string: quotes, backslashes and control characters escaped. */
static void json_str(const char *s)
{
    if (!s) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void print_json(const struct sandbox_features *fs, const struct utsname *u,
                       const char *accounting, const char *pool_err, size_t missing)
{
    printf("{\"kernel\": ");
    json_str(u->release);
    printf(", \"machine\": ");
    json_str(u->machine);
    printf(", \"probed_as_root\": %s, \"accounting_expected\": ",
           fs->probed_as_root ? "true" : "false");
    json_str(sandbox_accounting_name(fs->accounting));
    printf(", \"accounting\": ");
    json_str(accounting);
    printf(", \"pool_error\": ");
    json_str(pool_err);
    printf(", \"missing_required\": %zu,\n \"features\": [\n", missing);
    for (size_t i = 0; i < fs->n; i++) {
        const struct sandbox_feature *f = &fs->f[i];
        printf("  {\"name\": ");
        json_str(f->name);
        printf(", \"present\": %s, \"need\": ", f->present ? "true" : "false");
        json_str(sandbox_need_name(f->need));
        printf(", \"what\": ");
        json_str(f->what);
        printf(", \"detail\": ");
        json_str(f->detail);
        printf(", \"if_missing\": ");
        json_str(f->if_missing);
        printf("}%s\n", i + 1 < fs->n ? "," : "");
    }
    printf(" ]}\n");
}

static void print_text(const struct sandbox_features *fs, const struct utsname *u,
                       const char *accounting, const char *pool_err, size_t missing)
{
    printf("What this machine offers the sandbox (Linux %s %s%s):\n\n", u->release, u->machine,
           fs->probed_as_root ? "" : ", probed without root");
    printf("%-20s %-4s %-9s %s\n", "FEATURE", "HERE", "NEED", "WHAT / FOUND / WITHOUT IT");
    for (size_t i = 0; i < fs->n; i++) {
        const struct sandbox_feature *f = &fs->f[i];
        printf("%-20s %-4s %-9s %s\n", f->name, f->present ? "yes" : "no",
               sandbox_need_name(f->need), f->what);
        printf("%36sfound: %s\n", "", f->detail);
        if (!f->present || f->need == SANDBOX_NEED_REFUSED)
            printf("%36swithout it: %s\n", "", f->if_missing);
    }
    printf("\naccounting: %s expected from the mounts; a pool here uses %s\n",
           sandbox_accounting_name(fs->accounting), accounting ? accounting : "nothing");
    if (pool_err)
        printf("pool: %s\n", pool_err);
    if (missing)
        printf("result: %zu required feature(s) missing: the sandbox cannot run here\n", missing);
    else if (pool_err)
        printf("result: every required feature is present, but no pool could be made\n");
    else
        printf("result: every required feature is present\n");
}

int farm_sandbox_check(const struct sandbox_pool_options *po, bool json)
{
    struct sandbox_features fs;
    char err[512] = "";
    if (sandbox_features_probe(&fs, err, sizeof err) < 0) {
        fprintf(stderr, "farm-sandbox: --check: %s\n", err);
        return 2;
    }
    struct utsname u;
    if (uname(&u) < 0)
        memset(&u, 0, sizeof u);
    struct sandbox_pool *pool = NULL;
    char pool_err[512] = "";
    const char *accounting = NULL;
    if (sandbox_pool_new(po, &pool, pool_err, sizeof pool_err) == 0)
        accounting = sandbox_accounting_name(sandbox_pool_accounting(pool));
    sandbox_pool_free(pool);
    size_t missing = sandbox_features_missing(&fs);
    const char *perr = accounting ? NULL : pool_err;
    if (json)
        print_json(&fs, &u, accounting, perr, missing);
    else
        print_text(&fs, &u, accounting, perr, missing);
    fflush(stdout);
    return missing || perr ? 1 : 0;
}
