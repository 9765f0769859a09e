/* piston_runtimes.c — see piston_runtimes.h. */
#include "piston_runtimes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Commands run with sh -c in /box; "$@" (the args) is appended by the worker. */
/* clang-format off */
const piston_lang piston_langs[] = {
    {"python", {"py", "py3", "python3", NULL}, "python3", NULL, NULL, NULL, "python3 {entry}", 0},
    {"c", {"gcc", NULL}, "gcc", NULL, "gcc",
     "gcc -std=gnu17 -O2 -pipe -x c {files} -o a.out -lm", "./a.out", 0},
    {"c++", {"cpp", "g++", NULL}, "gcc", NULL, "gcc",
     "g++ -std=gnu++17 -O2 -pipe -x c++ {files} -o a.out", "./a.out", 0},
    {"bash", {"sh", NULL}, "bash", "coreutils", NULL, NULL, "bash {entry}", 0},
    {"javascript", {"js", "node-js", "node-javascript", NULL}, "nodejs", NULL, NULL, NULL,
     "node {entry}", 0},
    {"perl", {"pl", NULL}, "perl", NULL, NULL, NULL, "perl {entry}", 0},
    {"lua", {NULL}, "lua", NULL, NULL, NULL, "lua {entry}", 0},
    /* the languages the package set gains (scripts/install-languages.sh) */
    {"ruby", {"ruby3", "rb", NULL}, "ruby", NULL, NULL, NULL, "ruby {entry}", 0},
    {"php", {NULL}, "php", "tzdata", NULL, NULL, "php {entry}", 0},
    /* go, ocamlc and gdc go by the file's extension: an unnamed file
     * (file0.code) is compiled as main.<ext> (bash builtins: the set has no cp) */
    {"go", {"golang", NULL}, "go", NULL, NULL,
     "case {entry} in *.go) go build -o binary {files};; "
     "*) printf '%s\\n' \"$(<{entry})\" >main.go && go build -o binary main.go;; esac", "./binary", 0},
    {"rust", {"rs", NULL}, "rust", "gcc", NULL, "rustc -O -o binary {files}", "./binary", 0},
    {"ocaml", {"ml", NULL}, "ocaml", NULL, NULL,
     "case {entry} in *.ml) ocamlc -o binary {files};; "
     "*) printf '%s\\n' \"$(<{entry})\" >main.ml && ocamlc -o binary main.ml;; esac", "ocamlrun ./binary", 0},
    {"lisp", {"cl", "sbcl", "commonlisp", NULL}, "sbcl", NULL, NULL, NULL,
     "sbcl --dynamic-space-size 512MB --script {entry}", 0},
    {"nasm64", {"asm64", NULL}, "nasm", "gcc", NULL,
     "nasm -f elf64 -o binary.o {files} && ld -o binary binary.o", "./binary", 0},
    {"pascal", {"freepascal", "pp", "pas", NULL}, "fpc", "gcc", NULL,
     "fpc -O2 -v0 -obinary {files}", "./binary", 0},
    {"d", {"gdc", NULL}, "gdc", "gcc", NULL,
     "case {entry} in *.d) gdc -O2 -o binary {files};; "
     "*) printf '%s\\n' \"$(<{entry})\" >main.d && gdc -O2 -o binary main.d;; esac", "./binary", 0},
    {"clojure", {"clj", NULL}, "clojure", "java", NULL, NULL, "clojure {entry}", 0},
    /* issue 15's second round: Piston's names and aliases */
    {"csharp", {"mono", "mono-csharp", "mono-cs", "c#", "cs", NULL}, "mono", NULL, "mono",
     "mcs -out:binary.exe {files}", "mono binary.exe", 0},
    {"haskell", {"hs", NULL}, "ghc", NULL, NULL,
     "case {entry} in *.hs) ghc -O -o binary {files};; "
     "*) printf '%s\\n' \"$(<{entry})\" >main.hs && ghc -O -o binary main.hs;; esac", "./binary", 0},
    {"kotlin", {"kt", NULL}, "kotlin", "java", NULL,
     "case {entry} in *.kt) kotlinc {files} -include-runtime -d binary.jar;; "
     "*) printf '%s\\n' \"$(<{entry})\" >main.kt && kotlinc main.kt -include-runtime -d binary.jar;; esac",
     "java -jar binary.jar", 0},
    {"scala", {"sc", NULL}, "scala", "java", NULL, NULL, "scala -nc {entry}", 0},
    {"groovy", {"gvy", NULL}, "groovy", "java", NULL, NULL, "groovy {entry}", 0},
    {"cobol", {"cob", NULL}, "gnucobol", "gcc", NULL,
     "case {entry} in *.cob) cobc -x -free -o binary {files};; "
     "*) printf '%s\\n' \"$(<{entry})\" >main.cob && cobc -x -free -o binary main.cob;; esac", "./binary", 0},
    /* R refuses to start with fewer than about 170 open files */
    {"rscript", {"r", NULL}, "r", "coreutils", NULL, NULL, "Rscript {entry}", 256},
    {"octave", {"matlab", "m", NULL}, "octave", NULL, NULL, NULL,
     "octave-cli --norc -q --no-history {entry}", 0},
    {NULL, {NULL}, NULL, NULL, NULL, NULL, NULL, 0},
};
/* clang-format on */

static const char *package_version(const json_t *pkgs, const char *name)
{
    const json_t *inner = json_object_get(pkgs, "packages");
    if (json_is_object(inner))
        pkgs = inner;
    const json_t *e = json_object_get(pkgs, name);
    const json_t *v = json_is_object(e) ? json_object_get(e, "version") : e;
    return json_string_value(v);
}

int piston_runtimes_build(const json_t *packages, piston_runtime **out, size_t *n)
{
    size_t cap = sizeof(piston_langs) / sizeof(*piston_langs);
    piston_runtime *r = calloc(cap, sizeof(*r));
    if (!r)
        return -ENOMEM;
    size_t k = 0;
    for (const piston_lang *l = piston_langs; l->language; l++) {
        const char *ver = package_version(packages, l->package);
        if (!ver || semver_coerce(ver, &r[k].version) < 0 ||
            (l->extra && !package_version(packages, l->extra)))
            continue;
        r[k].lang = l;
        semver_format(&r[k].version, r[k].version_str, sizeof(r[k].version_str));
        k++;
    }
    *out = r;
    *n = k;
    return 0;
}

json_t *piston_runtimes_json(const piston_runtime *rts, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *al = json_array();
        for (const char *const *x = rts[i].lang->aliases; *x; x++)
            json_array_append_new(al, json_string(*x));
        json_t *o = json_pack("{s:s, s:s, s:o}", "language", rts[i].lang->language, "version",
                              rts[i].version_str, "aliases", al);
        if (o && rts[i].lang->runtime)
            json_object_set_new(o, "runtime", json_string(rts[i].lang->runtime));
        json_array_append_new(a, o);
    }
    return a;
}

static bool names(const piston_lang *l, const char *language)
{
    if (!strcmp(l->language, language))
        return true;
    for (const char *const *x = l->aliases; *x; x++)
        if (!strcmp(*x, language))
            return true;
    return false;
}

const piston_runtime *piston_runtime_find(const piston_runtime *rts, size_t n, const char *language,
                                          const char *range)
{
    const piston_runtime *best = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!names(rts[i].lang, language) || semver_satisfies(&rts[i].version, range) != 1)
            continue;
        if (!best || semver_cmp(&rts[i].version, &best->version) > 0)
            best = &rts[i];
    }
    return best;
}
