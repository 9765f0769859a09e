/* jobe_langs.c — the Jobe front's languages: ids, packages and commands as
 * Jobe 2.2 has them (its *Task classes), and the two name rules and the Java
 * main-class inference Jobe applies. See jobe.h. */
#include "jobe.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* The sandbox has no locale files, so the JVM would take the C locale's
 * ASCII: source, output and file names are UTF-8 through flags instead, as
 * Jobe's java_extraflags/javac_extraflags settings allow. */
#define JAVA_UTF8 "-Dfile.encoding=UTF-8 -Dsun.stdout.encoding=UTF-8 -Dsun.stderr.encoding=UTF-8"
#define JAVA_UTF8_J                                                                                \
    "-J-Dfile.encoding=UTF-8 -J-Dsun.stdout.encoding=UTF-8 -J-Dsun.stderr.encoding=UTF-8"

/* clang-format off */
const jobe_lang jobe_langs[] = {
    {"c", {"gcc", NULL}, JOBE_KIND_COMPILED, "prog.c", "gcc", "-Wall -Werror -std=c99 -x c",
     NULL, "", 400, 30, 0, false, NULL, JOBE_CMP_STDERR, false, false},
    {"cpp", {"gcc", NULL}, JOBE_KIND_COMPILED, "prog.cpp", "g++", "-Wall -Werror",
     NULL, "", 400, 30, 0, false, NULL, JOBE_CMP_STDERR, false, false},
    {"python3", {"python3", NULL}, JOBE_KIND_INTERPRETED, "prog.py", "python3 -m py_compile", "",
     "python3", "-BE", 1000, 30, 0, false, "pylint", JOBE_CMP_STDERR, false, false},
    {"java", {"java", NULL}, JOBE_KIND_JAVA, "prog.java", "javac " JAVA_UTF8_J, "",
     "java " JAVA_UTF8, "-Xrs -Xss8m -Xmx200m", 0, 256, 256, false, NULL, JOBE_CMP_STDERR,
     false, false},
    {"nodejs", {"nodejs", NULL}, JOBE_KIND_INTERPRETED, "prog.js", NULL, "",
     "node", "--use_strict", 400, 30, 0, true, NULL, JOBE_CMP_STDERR, false, false},
    /* PHP looks its time zone up in /usr/share/zoneinfo: the worker binds the
     * set's tzdata there, without which every start warns on stderr. The
     * lint runs without --no-php-ini, as PhpTask's does. */
    {"php", {"php", "tzdata", NULL}, JOBE_KIND_INTERPRETED, "prog.php", "php -l", "",
     "php", "--no-php-ini", 400, 30, 0, false, NULL, JOBE_CMP_PHP_LINT, false, false},
    /* fpc links with the gcc package's ld. Jobe has no linkargs for Pascal. */
    {"pascal", {"fpc", "gcc", NULL}, JOBE_KIND_COMPILED, "prog.pas", "fpc", "-vew -Se",
     NULL, "", 400, 30, 0, false, NULL, JOBE_CMP_FPC_ERRFILE, false, false},
    /* The set has octave-cli, not the GUI-capable octave binary Jobe runs
     * with --no-window-system; the arguments are Jobe's either way. */
    {"octave", {"octave", NULL}, JOBE_KIND_INTERPRETED, "prog.m", NULL, "",
     "octave-cli", "--norc --no-window-system --silent -H", 500, 30, 0, false, NULL,
     JOBE_CMP_STDERR, true, true},
    {NULL, {NULL}, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, false, NULL, 0, false, false},
};
/* clang-format on */

const jobe_lang *jobe_lang_find(const char *id)
{
    for (const jobe_lang *l = jobe_langs; id && l->id; l++)
        if (!strcmp(l->id, id))
            return l;
    return NULL;
}

bool jobe_file_id_valid(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if (!isalnum((unsigned char)id[n]))
            return false;
    return n >= 8;
}

/* Jobe replaces file-system reserved, control, non-printing, URI-reserved and
 * URL-unsafe bytes, then strips leading '.' and '-': the name is legal when
 * that changes nothing. */
bool jobe_filename_valid(const char *name)
{
    static const char bad[] = "<>:\"/\\|?*#[]@!$&'()+,;={}^~`";
    if (name[0] == '.' || name[0] == '-')
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == 0xa0 || *p == 0xad || strchr(bad, *p))
            return false;
    }
    return true;
}

static bool is_word(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static const char *skip_space(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

/* Matches "word" at p followed by at least one space; returns past the
 * spaces or NULL. */
static const char *word_then_space(const char *p, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(p, word, n) || !isspace((unsigned char)p[n]))
        return NULL;
    return skip_space(p + n);
}

/* (public\s+static|static\s+public)\s+void\s+main\s*\(\s*String at p: the
 * end of the match or NULL. */
static const char *main_at(const char *p)
{
    const char *q = word_then_space(p, "public");
    if (q)
        q = word_then_space(q, "static");
    if (!q && (q = word_then_space(p, "static")))
        q = word_then_space(q, "public");
    if (q)
        q = word_then_space(q, "void");
    if (!q || strncmp(q, "main", 4))
        return NULL;
    q = skip_space(q + 4);
    if (*q != '(')
        return NULL;
    q = skip_space(q + 1);
    return strncmp(q, "String", 6) ? NULL : q + 6;
}

/* Jobe's pattern, (^|\W)public\s+class\s+(\w+)[^{]*\{.*?<main>, counted
 * without overlap: the name when it matches exactly once. */
bool jobe_java_main_class(const char *src, char *out, size_t outlen)
{
    int matches = 0;
    const char *p = src;
    char name[256] = "";
    while (*p) {
        const char *at = strstr(p, "public");
        if (!at)
            break;
        p = at + 1;
        if (at > src && is_word(at[-1]))
            continue;
        const char *q = word_then_space(at, "public");
        if (!q || !(q = word_then_space(q, "class")) || !is_word(*q))
            continue;
        const char *ns = q;
        while (is_word(*q))
            q++;
        size_t nlen = (size_t)(q - ns);
        const char *brace = strchr(q, '{');
        if (!brace)
            break; /* [^{]* then { fails for every later start too */
        const char *end = NULL;
        for (const char *r = brace + 1; *r && !end; r++)
            end = main_at(r);
        if (!end)
            break;
        if (++matches == 1)
            snprintf(name, sizeof(name), "%.*s", (int)nlen, ns);
        p = end;
    }
    if (matches != 1 || strlen(name) >= outlen)
        return false;
    memcpy(out, name, strlen(name) + 1);
    return true;
}
