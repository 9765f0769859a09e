/* pkgsources.c — the nixpkgs sources of nix.sources_file and their ids
 * (pkgsources.h).
 *
 * The file is small and read on every use (a submission naming a set):
 * an operator's edit takes effect without a restart, and a set removed from
 * it is refused at once. What costs is a path source without a pinned
 * revision: its fingerprint walks the tree (about 45,000 entries for a
 * nixpkgs checkout), so it is kept per process and walked again at most once
 * every FINGERPRINT_TTL_MS. */
#include "pkgsources.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../common/cleanup.h"
#include "../common/hash.h"
#include "../common/jsonutil.h"

#define FINGERPRINT_TTL_MS 2000
#define MAX_TREE_DEPTH 32

void pkgsource_free(pkgsource *p)
{
    if (!p)
        return;
    free(p->name);
    json_decref(p->def);
    free(p->revision);
    free(p->source_arg);
    free(p->system);
    free(p->substituters);
    free(p->trusted_keys);
    free(p);
}

bool pkgsources_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

bool pkgsources_attr_ok(const char *attr)
{
    size_t n = attr ? strlen(attr) : 0;
    if (n == 0 || n > 256 || attr[0] == '.' || attr[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = attr[i];
        if (c == '.' && attr[i + 1] == '.')
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '+' || c == '\'' || c == '.'))
            return false;
    }
    return true;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads the sources file: an object name -> entry. *out NULL when unset. */
static int load_file(const config *cfg, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *path = config_str(cfg, "nix.sources_file");
    if (!path || !path[0])
        return 0;
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        snprintf(err, errlen, "nix.sources_file %s: %s (line %d)", path, je.text, je.line);
        return -EPROTO;
    }
    if (!json_is_object(j)) {
        snprintf(err, errlen, "nix.sources_file %s: must be an object of package sets by name",
                 path);
        json_decref(j);
        return -EPROTO;
    }
    *out = j;
    return 0;
}

int pkgsources_names(const config *cfg, json_t **out, char *err, size_t errlen)
{
    _cleanup_json_ json_t *file = NULL;
    int r = load_file(cfg, &file, err, errlen);
    if (r < 0)
        return r;
    size_t n = file ? json_object_size(file) : 0, i = 0;
    _cleanup_free_ const char **keys = calloc(n + 1, sizeof *keys);
    json_t *names = json_array();
    if (!names || !keys) {
        json_decref(names);
        return -ENOMEM;
    }
    const char *k;
    json_t *v;
    json_object_foreach(file, k, v) keys[i++] = k;
    qsort(keys, n, sizeof *keys, cmp_name);
    for (i = 0; i < n; i++)
        json_array_append_new(names, json_string(keys[i]));
    *out = names;
    return 0;
}

/* A JSON array of strings as one space-separated string; NULL when absent,
 * -EINVAL (err names the field) when not such an array. */
static int join_strings(const char *set, const char *field, json_t *arr, char **out, char *err,
                        size_t errlen)
{
    *out = NULL;
    if (!arr)
        return 0;
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "package set %s: %s must be an array of strings", set, field);
        return -EINVAL;
    }
    size_t len = 1, i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        if (!s || !s[0] || strpbrk(s, " \t\n")) {
            snprintf(err, errlen, "package set %s: %s[%zu] must be a string without blanks", set,
                     field, i);
            return -EINVAL;
        }
        len += strlen(s) + 1;
    }
    char *j = calloc(1, len);
    if (!j)
        return -ENOMEM;
    json_array_foreach(arr, i, v)
    {
        if (i)
            strcat(j, " ");
        strcat(j, json_string_value(v));
    }
    *out = j;
    return 0;
}

/*** Fingerprint of a path source without a pinned revision ***/

typedef struct {
    char path[4096];
    char hex[65];
    long long at_ms;
} fingerprint_slot;

static pthread_mutex_t fp_lock = PTHREAD_MUTEX_INITIALIZER;
static fingerprint_slot fp_cache[8];

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Hashes names, types, sizes and mtimes under dir (rel: its name in the
 * tree) in sorted order; .git is left out (it changes on every fetch). */
static int walk(hash_ctx *h, const char *dir, const char *rel, int depth)
{
    if (depth > MAX_TREE_DEPTH)
        return -ELOOP;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int r = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, ".git"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn) {
                r = -ENOMEM;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            r = -ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (r == 0)
        qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n && r == 0; i++) {
        _cleanup_free_ char *full = NULL, *sub = NULL;
        if (asprintf(&full, "%s/%s", dir, names[i]) < 0 ||
            asprintf(&sub, "%s/%s", rel, names[i]) < 0) {
            r = -ENOMEM;
            break;
        }
        struct stat st;
        if (lstat(full, &st) < 0)
            continue; /* went away meanwhile: the next walk sees it */
        char line[160];
        int len = snprintf(line, sizeof line, "\n%o %lld %lld.%09ld ", (unsigned)st.st_mode,
                           (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        hash_update(h, line, (size_t)len);
        hash_update(h, sub, strlen(sub));
        if (S_ISDIR(st.st_mode))
            r = walk(h, full, sub, depth + 1);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return r;
}

static int tree_fingerprint(const char *path, char hex[65], char *err, size_t errlen)
{
    pthread_mutex_lock(&fp_lock);
    long long now = now_ms();
    fingerprint_slot *slot = NULL, *oldest = &fp_cache[0];
    for (size_t i = 0; i < sizeof fp_cache / sizeof *fp_cache; i++) {
        if (!strcmp(fp_cache[i].path, path))
            slot = &fp_cache[i];
        if (fp_cache[i].at_ms < oldest->at_ms)
            oldest = &fp_cache[i];
    }
    if (slot && now - slot->at_ms < FINGERPRINT_TTL_MS) {
        memcpy(hex, slot->hex, 65);
        pthread_mutex_unlock(&fp_lock);
        return 0;
    }
    pthread_mutex_unlock(&fp_lock);

    hash_ctx *h = hash_new();
    if (!h)
        return -ENOMEM;
    int r = walk(h, path, "", 0);
    hash_final_hex(h, hex);
    if (r < 0) {
        snprintf(err, errlen, "package set path %s: cannot read the tree: %s", path, strerror(-r));
        return r;
    }
    pthread_mutex_lock(&fp_lock);
    if (!slot)
        slot = oldest;
    snprintf(slot->path, sizeof slot->path, "%s", path);
    memcpy(slot->hex, hex, 65);
    slot->at_ms = now;
    pthread_mutex_unlock(&fp_lock);
    return 0;
}

/* The first line of <path>/.git-revision (what a nixpkgs channel carries),
 * or NULL. */
static char *channel_revision(const char *path)
{
    _cleanup_free_ char *f = NULL;
    if (asprintf(&f, "%s/.git-revision", path) < 0)
        return NULL;
    FILE *fp = fopen(f, "re");
    if (!fp)
        return NULL;
    char line[128] = "";
    char *ok = fgets(line, sizeof line, fp);
    fclose(fp);
    line[strcspn(line, "\r\n")] = 0;
    return ok && line[0] ? strdup(line) : NULL;
}

/* Fills p's revision, source_arg and id from its entry. */
static int resolve(pkgsource *p, char *err, size_t errlen)
{
    json_t *def = p->def;
    const char *path = json_string_value(json_object_get(def, "path"));
    const char *url = json_string_value(json_object_get(def, "tarball"));
    const char *sha = json_string_value(json_object_get(def, "sha256"));
    const char *rev = json_string_value(json_object_get(def, "rev"));
    const char *system = json_string_value(json_object_get(def, "system"));
    static const char *const known[] = {
        "path",     "tarball",     "sha256", "rev", "system", "substituters", "trusted_public_keys",
        "packages", "description", NULL};
    const char *k;
    json_t *v;
    json_object_foreach(def, k, v)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], k))
            i++;
        if (!known[i]) {
            snprintf(err, errlen,
                     "package set %s: unknown field \"%.64s\" (path or tarball + sha256; rev, "
                     "system, substituters, trusted_public_keys, packages, description)",
                     p->name, k);
            return -EINVAL;
        }
    }
    if (!!path == !!url) {
        snprintf(err, errlen,
                 "package set %s: give exactly one of \"path\" (a nixpkgs checkout or channel) "
                 "and \"tarball\" (a URL, with its \"sha256\")",
                 p->name);
        return -EINVAL;
    }
    if (!(p->system = strdup(system ? system : "x86_64-linux")))
        return -ENOMEM;
    int r;
    if ((r = join_strings(p->name, "substituters", json_object_get(def, "substituters"),
                          &p->substituters, err, errlen)) < 0 ||
        (r = join_strings(p->name, "trusted_public_keys",
                          json_object_get(def, "trusted_public_keys"), &p->trusted_keys, err,
                          errlen)) < 0)
        return r;
    _cleanup_json_ json_t *arg = NULL;
    const char *kind;
    if (path) {
        if (path[0] != '/') {
            snprintf(err, errlen, "package set %s: path must be absolute, got \"%.200s\"", p->name,
                     path);
            return -EINVAL;
        }
        struct stat st;
        int se = stat(path, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
        if (se) {
            snprintf(err, errlen, "package set %s: path %.200s: %s", p->name, path, strerror(se));
            return -se;
        }
        kind = "path";
        arg = json_pack("{s:s}", "path", path);
        if (rev)
            p->revision = strdup(rev);
        else if (!(p->revision = channel_revision(path))) {
            char hex[65];
            if ((r = tree_fingerprint(path, hex, err, errlen)) < 0)
                return r;
            if (asprintf(&p->revision, "tree:%s", hex) < 0)
                p->revision = NULL;
        }
    } else {
        if (!sha || strlen(sha) < 32 || strpbrk(sha, " \n")) {
            snprintf(err, errlen,
                     "package set %s: a tarball needs its \"sha256\" (the lock: nix-prefetch-url "
                     "--unpack <url>)",
                     p->name);
            return -EINVAL;
        }
        kind = "tarball";
        arg = json_pack("{s:s, s:s}", "url", url, "sha256", sha);
        p->revision = rev ? strdup(rev) : strdup(sha);
    }
    if (!arg || !p->revision || !(p->source_arg = jsonutil_dump_sorted(arg)))
        return -ENOMEM;
    /* The id covers what the outputs depend on: what is evaluated and for
     * which system. Not the name (two names of one revision share builds),
     * not the substituters (they change where outputs come from, not what
     * they are). */
    hash_ctx *h = hash_new();
    if (!h)
        return -ENOMEM;
    const char *parts[] = {
        "nixpkgs\n", kind,
        "\n",        path ? "" : url,
        "\n",        path && !rev && !strncmp(p->revision, "tree:", 5) ? path : "",
        "\n",        p->revision,
        "\n",        p->system};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        hash_update(h, parts[i], strlen(parts[i]));
    hash_final_hex(h, p->id);
    return 0;
}

int pkgsources_get(const config *cfg, const char *name, pkgsource **out, char *err, size_t errlen)
{
    _cleanup_json_ json_t *file = NULL;
    int r = load_file(cfg, &file, err, errlen);
    if (r < 0)
        return r;
    json_t *def = file ? json_object_get(file, name) : NULL;
    if (!def) {
        char list[300] = PKGSOURCES_DEFAULT;
        size_t o = strlen(list);
        const char *k;
        json_t *v;
        json_object_foreach(file, k, v)
        {
            o += snprintf(list + o, o < sizeof list ? sizeof list - o : 0, ", %s", k);
        }
        snprintf(err, errlen, "unknown package set \"%.64s\"; this farm has: %s", name, list);
        return 0;
    }
    if (!pkgsources_name_ok(name) || !strcmp(name, PKGSOURCES_DEFAULT)) {
        snprintf(err, errlen,
                 "nix.sources_file: \"%.64s\" cannot name a package set ([a-z0-9][a-z0-9._-]*, "
                 "not \"" PKGSOURCES_DEFAULT "\")",
                 name);
        return -EINVAL;
    }
    if (!json_is_object(def)) {
        snprintf(err, errlen, "package set %s: must be an object", name);
        return -EINVAL;
    }
    pkgsource *p = calloc(1, sizeof *p);
    if (!p || !(p->name = strdup(name))) {
        free(p);
        return -ENOMEM;
    }
    p->def = json_incref(def);
    if ((r = resolve(p, err, errlen)) < 0) {
        pkgsource_free(p);
        return r;
    }
    *out = p;
    return 1;
}

void pkgsource_nix_options(const pkgsource *p, const char **argv, int *i)
{
    if (p->substituters) {
        argv[(*i)++] = "--option";
        argv[(*i)++] = "substituters";
        argv[(*i)++] = p->substituters;
    }
    if (p->trusted_keys) {
        argv[(*i)++] = "--option";
        argv[(*i)++] = "trusted-public-keys";
        argv[(*i)++] = p->trusted_keys;
    }
}
