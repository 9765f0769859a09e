/* config.c — every setting with a working default (config_keys.def), a JSON
 * file (flat or nested keys), FARM_* environment overrides, then config_set.
 *
 * Values are kept as the string form plus the parsed int/bool, so config_dump
 * can show exactly what was set and reads are cheap. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "jsonutil.h"
#include "log.h"

/* PATH is a string made absolute when set, against the working directory of
 * that moment: roles hand paths to sandboxes and children that must not
 * depend on where farmd was started (a relative box path is refused). */
typedef enum { CONFIG_STR, CONFIG_PATH, CONFIG_INT, CONFIG_BOOL } config_type;

static bool config_is_text(config_type t)
{
    return t == CONFIG_STR || t == CONFIG_PATH;
}

typedef struct {
    const char *name;
    config_type type;
    const char *def;
    const char *desc;
} config_key;

static const config_key config_keys[] = {
#define CONFIG_KEY(name, type, def, desc) {name, CONFIG_##type, def, desc},
#include "config_keys.def"
#undef CONFIG_KEY
};
#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

typedef struct {
    char *str;
    long long i;
    bool b;
} config_value;

struct config {
    config_value v[CONFIG_NKEYS];
};

static int config_find(const char *key)
{
    for (size_t i = 0; i < CONFIG_NKEYS; i++)
        if (strcmp(config_keys[i].name, key) == 0)
            return (int)i;
    return -1;
}

static const char *config_type_name(config_type t)
{
    return t == CONFIG_INT ? "an integer" : t == CONFIG_BOOL ? "true or false" : "a string";
}

static int config_parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"true", "1", "yes", "on"}, *no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

static int config_parse_int(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || isspace((unsigned char)*s))
        return -EINVAL;
    *out = v;
    return 0;
}

/* Sets entry i from its string form; err names `origin` (a key or FARM_ name). */
static char *config_absolute(const char *value)
{
    char cwd[4096];
    char *p = NULL;

    if (!value[0] || value[0] == '/' || !getcwd(cwd, sizeof(cwd)))
        return strdup(value);
    while (value[0] == '.' && value[1] == '/')
        value += 2;
    if (asprintf(&p, "%s/%s", cwd, value) < 0)
        return NULL;
    return p;
}

static int config_set_index(config *c, int i, const char *value, const char *origin, char *err,
                            size_t errlen)
{
    const config_key *k = &config_keys[i];
    long long iv = 0;
    bool bv = false;
    if ((k->type == CONFIG_INT && config_parse_int(value, &iv) < 0) ||
        (k->type == CONFIG_BOOL && config_parse_bool(value, &bv) < 0)) {
        if (err)
            snprintf(err, errlen, "config %s: '%s' is not %s", origin, value,
                     config_type_name(k->type));
        return -EINVAL;
    }
    char *dup = k->type == CONFIG_PATH ? config_absolute(value) : strdup(value);
    if (!dup)
        return -ENOMEM;
    free(c->v[i].str);
    c->v[i] = (config_value){.str = dup, .i = iv, .b = bv};
    return 0;
}

int config_set(config *c, const char *key, const char *value, char *err, size_t errlen)
{
    int i = config_find(key);
    if (i < 0) {
        if (err)
            snprintf(err, errlen, "unknown config key '%s'", key);
        return -EINVAL;
    }
    return config_set_index(c, i, value ? value : "", key, err, errlen);
}

void config_free(config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CONFIG_NKEYS; i++)
        free(c->v[i].str);
    free(c);
}

static void config_freep(config **c)
{
    config_free(*c);
}

static int config_apply_env(config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        char env[128] = "FARM_";
        size_t n = 5;
        for (const char *p = config_keys[i].name; *p && n < sizeof(env) - 1; p++)
            env[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
        env[n] = '\0';
        const char *v = getenv(env);
        if (!v)
            continue;
        int r = config_set_index(c, (int)i, v, env, err, errlen);
        if (r < 0)
            return r;
    }
    return 0;
}

static int config_apply_json_value(config *c, const char *key, json_t *v, char *err, size_t errlen)
{
    int i = config_find(key);
    if (i < 0) {
        if (err)
            snprintf(err, errlen, "unknown config key '%s'", key);
        return -EINVAL;
    }
    const config_key *k = &config_keys[i];
    char buf[32];
    const char *s = NULL;
    if (config_is_text(k->type) && json_is_string(v))
        s = json_string_value(v);
    else if (k->type == CONFIG_INT && json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = buf;
    } else if (k->type == CONFIG_BOOL && json_is_boolean(v))
        s = json_is_true(v) ? "true" : "false";
    if (!s) {
        if (err)
            snprintf(err, errlen, "config key '%s' must be %s", key, config_type_name(k->type));
        return -EINVAL;
    }
    return config_set_index(c, i, s, key, err, errlen);
}

/* Walks a (possibly nested) object: {"api": {"listen": x}} means "api.listen". */
static int config_apply_json(config *c, const char *prefix, json_t *obj, char *err, size_t errlen)
{
    const char *name;
    json_t *v;
    json_object_foreach(obj, name, v)
    {
        char key[256];
        if (snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", name) >=
            (int)sizeof(key)) {
            if (err)
                snprintf(err, errlen, "config key '%s...' is too long", prefix);
            return -EINVAL;
        }
        int r;
        if (json_is_object(v) && config_find(key) < 0)
            r = config_apply_json(c, key, v, err, errlen);
        else
            r = config_apply_json_value(c, key, v, err, errlen);
        if (r < 0)
            return r;
    }
    return 0;
}

static int config_defaults(config **out, char *err, size_t errlen)
{
    config *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        int r = config_set_index(c, (int)i, config_keys[i].def, config_keys[i].name, err, errlen);
        if (r < 0) {
            config_free(c);
            return r;
        }
    }
    *out = c;
    return 0;
}

/* The file's object (root, borrowed) onto c; origin names it in errors. */
static int config_apply_root(config *c, json_t *root, const char *origin, char *err, size_t errlen)
{
    if (!json_is_object(root)) {
        if (err)
            snprintf(err, errlen, "config file %s: must hold a JSON object", origin);
        return -EINVAL;
    }
    char e2[512] = "";
    int r = config_apply_json(c, "", root, e2, sizeof(e2));
    if (r < 0 && err)
        snprintf(err, errlen, "config file %s: %s", origin, e2);
    return r;
}

/* The sentence of a JSON parse failure, for config_load and config_load_text. */
static int config_parse_failed(const char *origin, const json_error_t *je, char *err, size_t errlen)
{
    if (err)
        snprintf(err, errlen, "config file %s: line %d column %d: %s", origin, je->line, je->column,
                 je->text);
    return -EINVAL;
}

/* Defaults, then root's keys (none when root is NULL; origin names it in
 * sentences), then the FARM_* environment. */
static int config_build(json_t *root, const char *origin, config **out, char *err, size_t errlen)
{
    __attribute__((cleanup(config_freep))) config *c = NULL;
    int r = config_defaults(&c, err, errlen);
    if (r < 0)
        return r;
    if (root) {
        r = config_apply_root(c, root, origin, err, errlen);
        if (r < 0)
            return r;
    }
    r = config_apply_env(c, err, errlen);
    if (r < 0)
        return r;
    *out = steal_pointer(&c);
    return 0;
}

int config_load(const char *path, config **out, char *err, size_t errlen)
{
    if (!path || !path[0])
        path = getenv("FARM_CONFIG");
    _cleanup_json_ json_t *root = NULL;
    if (path && path[0]) {
        json_error_t je;
        root = json_load_file(path, 0, &je);
        if (!root) {
            FILE *f = fopen(path, "r");
            if (!f) {
                int r = -errno;
                if (err)
                    snprintf(err, errlen, "config file %s: %s", path, strerror(-r));
                return r;
            }
            fclose(f);
            return config_parse_failed(path, &je, err, errlen);
        }
    }
    return config_build(root, path, out, err, errlen);
}

int config_load_text(const char *text, size_t len, const char *origin, config **out, char *err,
                     size_t errlen)
{
    json_error_t je;
    _cleanup_json_ json_t *root = json_loadb(text, len, 0, &je);
    if (!root)
        return config_parse_failed(origin, &je, err, errlen);
    return config_build(root, origin, out, err, errlen);
}

int config_new_default(config **out, char *err, size_t errlen)
{
    return config_build(NULL, NULL, out, err, errlen);
}

static const config_value *config_get(const config *c, const char *key, config_type t)
{
    int i = config_find(key);
    if (!c || i < 0 ||
        (config_keys[i].type != t && !(t == CONFIG_STR && config_is_text(config_keys[i].type)))) {
        /* A key missing from config_keys.def is a programming error (every
         * key is declared at build time), and the getters have no error
         * channel: say so once here rather than return a silent default. */
        log_error("config-undeclared key=%s want=%s", key, config_type_name(t));
        return NULL;
    }
    return &c->v[i];
}

const char *config_str(const config *c, const char *key)
{
    const config_value *v = config_get(c, key, CONFIG_STR);
    return v ? v->str : "";
}

long long config_int(const config *c, const char *key)
{
    const config_value *v = config_get(c, key, CONFIG_INT);
    return v ? v->i : 0;
}

bool config_bool(const config *c, const char *key)
{
    const config_value *v = config_get(c, key, CONFIG_BOOL);
    return v ? v->b : false;
}

json_t *config_dump(const config *c)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        const config_key *k = &config_keys[i];
        json_t *val;
        if (k->type == CONFIG_INT)
            val = json_integer(c->v[i].i);
        else if (k->type == CONFIG_BOOL)
            val = json_boolean(c->v[i].b);
        else
            val = json_string(c->v[i].str);
        json_object_set_new(o, k->name,
                            json_pack("{s:o,s:s,s:s,s:s}", "value", val, "default", k->def, "type",
                                      k->type == CONFIG_INT    ? "int"
                                      : k->type == CONFIG_BOOL ? "bool"
                                      : k->type == CONFIG_PATH ? "path"
                                                               : "str",
                                      "description", k->desc));
    }
    return o;
}

char *config_state_path(const config *c, const char *rel)
{
    const char *dir = config_str(c, "state_dir");
    char *p = NULL;
    if (!rel || !rel[0])
        return strdup(dir);
    if (rel[0] == '/')
        return strdup(rel);
    if (asprintf(&p, "%s/%s", dir, rel) < 0)
        return NULL;
    return p;
}
