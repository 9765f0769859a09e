/* pkgset.c — the package set a client may name: packages.json of the
 * current generation (builder_pkgset_dir: nix.dir for a static set, else the
 * set generated from this machine's dpkg data).
 *
 * The file is an object whose keys are attribute names (values describe each
 * package; only the keys matter here). Its SHA-256 is the package-set id that
 * goes into every set's key, so regenerating the set never aliases old builds.
 * It is read once per process and again only when its size, mtime or inode
 * changes: the API validates every submission against it from several
 * threads, hence the mutex.
 *
 * Validation is the only guard between a client's strings and Nix: a name
 * must be exactly one of the keys, and keys that are not plain identifiers
 * are ignored, so a name can never carry Nix syntax or a space (names reach
 * nix-build joined by spaces in one --argstr). */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder.h"
#include "builder_internal.h"
#include "../common/cleanup.h"
#include "../common/hash.h"
#include "../common/jsonutil.h"
#include "farm-build-config.h"

typedef struct {
    char *dir;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char id[65];
    char **names; /* sorted, owned */
    size_t n;
    json_t *unavailable; /* owned: unavailable.json of a generated set, or NULL */
} pkgset_cache;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pkgset_cache cache;

char *builder_nix_dir(const config *cfg)
{
    const char *d = cfg ? config_str(cfg, "nix.dir") : "";
    if (d && d[0])
        return strdup(d);
    return strdup(FARM_SOURCE_ROOT "/nix");
}

bool builder_name_is_plain(const char *s)
{
    if (!s || !s[0] || strlen(s) > 128)
        return false;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '+' || c == '.'))
            return false;
    }
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void cache_clear(pkgset_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->names[i]);
    free(c->names);
    free(c->dir);
    json_decref(c->unavailable);
    memset(c, 0, sizeof *c);
}

/* Reads and parses <dir>/packages.json into a fresh cache entry. */
static int cache_load(const char *dir, const struct stat *st, pkgset_cache *out, char *err,
                      size_t errlen)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/packages.json", dir) < 0)
        return -ENOMEM;
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "package set %s: %s", path, strerror(e));
        return -e;
    }
    size_t cap = (size_t)st->st_size + 1, len = 0;
    _cleanup_free_ char *text = malloc(cap);
    if (!text) {
        fclose(f);
        return -ENOMEM;
    }
    len = fread(text, 1, cap - 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        snprintf(err, errlen, "package set %s: read error", path);
        return -EIO;
    }
    text[len] = 0;

    json_error_t je;
    _cleanup_json_ json_t *root = json_loadb(text, len, 0, &je);
    if (!root || !json_is_object(root)) {
        snprintf(err, errlen, "package set %s: %s", path,
                 root ? "not a JSON object of packages" : je.text);
        return -EPROTO;
    }
    pkgset_cache c = {0};
    c.names = calloc(json_object_size(root) + 1, sizeof *c.names);
    c.dir = strdup(dir);
    if (!c.names || !c.dir) {
        cache_clear(&c);
        return -ENOMEM;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        if (!builder_name_is_plain(k))
            continue;
        if (!(c.names[c.n] = strdup(k))) {
            cache_clear(&c);
            return -ENOMEM;
        }
        c.n++;
    }
    qsort(c.names, c.n, sizeof *c.names, cmp_str);
    _cleanup_free_ char *upath = NULL;
    if (asprintf(&upath, "%s/unavailable.json", dir) < 0) {
        cache_clear(&c);
        return -ENOMEM;
    }
    c.unavailable = json_load_file(upath, 0, NULL); /* optional */
    hash_sha256_hex(text, len, c.id);
    c.dev = st->st_dev;
    c.ino = st->st_ino;
    c.size = st->st_size;
    c.mtime = st->st_mtim;
    *out = c;
    return 0;
}

/* Makes sure the cache holds cfg's package set; call with cache_lock held. */
static int cache_refresh(const config *cfg, char *err, size_t errlen)
{
    _cleanup_free_ char *dir = NULL;
    int r = builder_pkgset_dir(cfg, false, &dir, err, errlen);
    if (r < 0)
        return r;
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/packages.json", dir) < 0)
        return -ENOMEM;
    struct stat st;
    if (stat(path, &st) < 0) {
        int e = errno;
        snprintf(err, errlen, "package set %s: %s", path, strerror(e));
        return -e;
    }
    if (cache.dir && !strcmp(cache.dir, dir) && cache.dev == st.st_dev && cache.ino == st.st_ino &&
        cache.size == st.st_size && cache.mtime.tv_sec == st.st_mtim.tv_sec &&
        cache.mtime.tv_nsec == st.st_mtim.tv_nsec)
        return 0;
    pkgset_cache fresh;
    r = cache_load(dir, &st, &fresh, err, errlen);
    if (r < 0)
        return r;
    cache_clear(&cache);
    cache = fresh;
    return 0;
}

int builder_pkgset_id(const config *cfg, char id_out[65], char *err, size_t errlen)
{
    char e[512] = "";
    pthread_mutex_lock(&cache_lock);
    int r = cache_refresh(cfg, e, sizeof e);
    if (r == 0)
        memcpy(id_out, cache.id, 65);
    pthread_mutex_unlock(&cache_lock);
    if (r < 0 && err && errlen)
        snprintf(err, errlen, "%s", e);
    return r;
}

int builder_pkgset_names(const config *cfg, json_t **out, char *err, size_t errlen)
{
    char e[512] = "";
    json_t *arr = json_array();
    if (!arr)
        return -ENOMEM;
    pthread_mutex_lock(&cache_lock);
    int r = cache_refresh(cfg, e, sizeof e);
    for (size_t i = 0; r == 0 && i < cache.n; i++)
        if (json_array_append_new(arr, json_string(cache.names[i])) < 0)
            r = -ENOMEM;
    pthread_mutex_unlock(&cache_lock);
    if (r < 0) {
        json_decref(arr);
        if (err && errlen)
            snprintf(err, errlen, "%s", e);
        return r;
    }
    *out = arr;
    return 0;
}

/* Levenshtein distance, case-insensitive (users type "Python3"). */
size_t builder_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 256 || lb > 256)
        return la > lb ? la : lb;
    size_t row[257];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost =
                tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

typedef struct {
    size_t dist;
    const char *name;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Fills out with up to max names of c close to name (the shared cache: call
 * with cache_lock held). */
static int closest_in(const pkgset_cache *c, const char *name, size_t max, json_t *out)
{
    if (c->n == 0 || max == 0)
        return 0;
    scored *s = calloc(c->n, sizeof *s);
    if (!s)
        return -ENOMEM;
    size_t len = strlen(name), limit = len / 2 > 2 ? len / 2 : 2, n = 0;
    for (size_t i = 0; i < c->n; i++) {
        size_t d = builder_edit_distance(name, c->names[i]);
        /* "python" for "python3", "gcc" for "gcc12": containment counts as close. */
        if (d > 1 && len >= 2 && (strcasestr(c->names[i], name) || strcasestr(name, c->names[i])))
            d = 1 + (d > 2);
        if (d <= limit)
            s[n++] = (scored){d, c->names[i]};
    }
    qsort(s, n, sizeof *s, cmp_scored);
    int r = 0;
    for (size_t i = 0; i < n && i < max && r == 0; i++)
        if (json_array_append_new(out, json_string(s[i].name)) < 0)
            r = -ENOMEM;
    free(s);
    return r;
}

int builder_closest_names(const config *cfg, const char *name, size_t max, json_t **out)
{
    char e[512];
    json_t *arr = json_array();
    if (!arr)
        return -ENOMEM;
    pthread_mutex_lock(&cache_lock);
    int r = cache_refresh(cfg, e, sizeof e);
    if (r == 0)
        r = closest_in(&cache, name ? name : "", max, arr);
    pthread_mutex_unlock(&cache_lock);
    if (r < 0) {
        json_decref(arr);
        return r;
    }
    *out = arr;
    return 0;
}

static bool known_in(const pkgset_cache *c, const char *name)
{
    return bsearch(&name, c->names, c->n, sizeof *c->names, cmp_str) != NULL;
}

/* The sentence for an unknown name: the closest names, else a few known ones. */
static void unknown_sentence(const pkgset_cache *c, size_t index, const char *name, char *err,
                             size_t errlen)
{
    _cleanup_json_ json_t *close = json_array();
    char list[400] = "";
    size_t o = 0;
    json_t *un = json_object_get(c->unavailable, name);
    if (json_is_object(un)) {
        snprintf(err, errlen, "packages[%zu]: package \"%.64s\" is not available on this farm: %s",
                 index, name, json_string_value(json_object_get(un, "reason")));
        return;
    }
    if (close && closest_in(c, name, 3, close) == 0 && json_array_size(close) > 0) {
        size_t i;
        json_t *v;
        json_array_foreach(close, i, v)
        {
            o += snprintf(list + o, o < sizeof list ? sizeof list - o : 0, "%s%s", i ? ", " : "",
                          json_string_value(v));
        }
        snprintf(err, errlen, "packages[%zu]: unknown package \"%.64s\"; closest known: %s", index,
                 name, list);
        return;
    }
    for (size_t i = 0; i < c->n && i < 8; i++)
        o += snprintf(list + o, o < sizeof list ? sizeof list - o : 0, "%s%s", i ? ", " : "",
                      c->names[i]);
    snprintf(err, errlen, "packages[%zu]: unknown package \"%.64s\"; known packages include: %s%s",
             index, name, list, c->n > 8 ? ", ..." : "");
}

int builder_validate_packages(const config *cfg, json_t *names, char *err, size_t errlen)
{
    char e[512] = "";
    if (!json_is_array(names)) {
        snprintf(err, errlen, "packages: must be an array of package names");
        return -EINVAL;
    }
    pthread_mutex_lock(&cache_lock);
    int r = cache_refresh(cfg, e, sizeof e);
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        if (r < 0)
            break;
        if (!json_is_string(v)) {
            snprintf(e, sizeof e, "packages[%zu]: must be a string", i);
            r = -EINVAL;
        } else if (!known_in(&cache, json_string_value(v))) {
            unknown_sentence(&cache, i, json_string_value(v), e, sizeof e);
            r = -EINVAL;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    if (r < 0 && err && errlen)
        snprintf(err, errlen, "%s", e);
    return r;
}

int builder_pkgset_check_gen(const char *dir, json_t *names, char *err, size_t errlen)
{
    if (!json_is_array(names)) {
        snprintf(err, errlen, "packages: must be an array of package names");
        return -EINVAL;
    }
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/packages.json", dir) < 0)
        return -ENOMEM;
    struct stat st;
    if (stat(path, &st) < 0) {
        int e = errno;
        snprintf(err, errlen, "package set %s: %s", path, strerror(e));
        return -e;
    }
    pkgset_cache c;
    int r = cache_load(dir, &st, &c, err, errlen);
    if (r < 0)
        return r;
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        if (!json_is_string(v)) {
            snprintf(err, errlen, "packages[%zu]: must be a string", i);
            r = -EINVAL;
        } else if (!known_in(&c, json_string_value(v))) {
            unknown_sentence(&c, i, json_string_value(v), err, errlen);
            r = -EINVAL;
        }
        if (r < 0)
            break;
    }
    /* Every package of a generated set needs glibc (set.nix): without it
     * Nix would only say "attribute 'glibc' missing". */
    _cleanup_free_ char *manifests = NULL, *glibc = NULL;
    if (r == 0 && (asprintf(&manifests, "%s/manifests", dir) < 0 ||
                   asprintf(&glibc, "%s/glibc.json", manifests) < 0))
        r = -ENOMEM;
    if (r == 0 && access(manifests, F_OK) == 0 && access(glibc, F_OK) < 0) {
        snprintf(err, errlen,
                 "package set %.12s has no glibc (Debian libc6 was not installed when it was "
                 "generated, e.g. while apt was upgrading it); every package needs it: the farm "
                 "makes a new set when dpkg has finished",
                 c.id);
        r = -EINVAL;
    }
    cache_clear(&c);
    return r;
}
