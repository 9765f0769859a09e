/* judge0_lang.c — Judge0 CE's language ids over nixfarm's package set.
 *
 * Each entry names the packages a language needs; it is offered when the
 * package set has them all, named with the version the set really has
 * ("Python (3.11.2)"). Source file names and commands follow Judge0 CE
 * (script.py, main.c + ./a.out, Main.java + java Main); the commands run in
 * the box with the set's bin/ on PATH. Several Judge0 ids of one language
 * (48, 49, 50: C with three GCCs) all use the one compiler the set has. */
#include "judge0.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GCC_C "gcc %s main.c"
#define GCC_CXX "g++ %s main.cpp"

static const j0_language languages[] = {
    {43, "Plain Text", NULL, {"coreutils"}, "text.txt", NULL, "cat text.txt", false, 0},
    {44, "Executable", NULL, {"coreutils"}, "a.out", NULL, "./a.out", true, 0},
    {45,
     "Assembly (NASM %s)",
     "nasm",
     {"nasm", "gcc"},
     "main.asm",
     "nasm -f elf64 %s -o main.o main.asm && ld -o a.out main.o",
     "./a.out",
     false,
     0},
    {46, "Bash (%s)", "bash", {"bash"}, "script.sh", NULL, "bash script.sh", false, 0},
    {48, "C (GCC %s)", "gcc", {"gcc"}, "main.c", GCC_C, "./a.out", false, 0},
    {49, "C (GCC %s)", "gcc", {"gcc"}, "main.c", GCC_C, "./a.out", false, 0},
    {50, "C (GCC %s)", "gcc", {"gcc"}, "main.c", GCC_C, "./a.out", false, 0},
    {51, "C# (Mono %s)", "mono", {"mono"}, "Main.cs", "mcs %s Main.cs", "mono Main.exe", false, 0},
    {52, "C++ (GCC %s)", "gcc", {"gcc"}, "main.cpp", GCC_CXX, "./a.out", false, 0},
    {53, "C++ (GCC %s)", "gcc", {"gcc"}, "main.cpp", GCC_CXX, "./a.out", false, 0},
    {54, "C++ (GCC %s)", "gcc", {"gcc"}, "main.cpp", GCC_CXX, "./a.out", false, 0},
    {55,
     "Common Lisp (SBCL %s)",
     "sbcl",
     {"sbcl"},
     "script.lisp",
     NULL,
     "sbcl --dynamic-space-size 512MB --script script.lisp",
     false,
     0},
    {56,
     "D (GDC %s)",
     "gdc",
     {"gdc", "gcc"},
     "main.d",
     "gdc %s -o a.out main.d",
     "./a.out",
     false,
     0},
    {59,
     "Fortran (GFortran %s)",
     "gfortran",
     {"gfortran", "gcc"},
     "main.f90",
     "gfortran %s main.f90",
     "./a.out",
     false,
     0},
    {60, "Go (%s)", "go", {"go"}, "main.go", "go build %s -o main main.go", "./main", false, 0},
    {61, "Haskell (GHC %s)", "ghc", {"ghc"}, "main.hs", "ghc %s main.hs", "./main", false, 0},
    {62,
     "Java (OpenJDK %s)",
     "java",
     {"java"},
     "Main.java",
     "javac %s Main.java",
     "java Main",
     false,
     0},
    {63,
     "JavaScript (Node.js %s)",
     "nodejs",
     {"nodejs"},
     "script.js",
     NULL,
     "node script.js",
     false,
     0},
    {64,
     "Lua (%s)",
     "lua",
     {"lua"},
     "script.lua",
     "luac %s script.lua",
     "lua ./luac.out",
     false,
     0},
    {65,
     "OCaml (%s)",
     "ocaml",
     {"ocaml"},
     "script.ml",
     "ocamlc %s -o main script.ml",
     "ocamlrun ./main",
     false,
     0},
    {66,
     "Octave (%s)",
     "octave",
     {"octave"},
     "script.m",
     NULL,
     "octave-cli --norc -q --no-history script.m",
     false,
     0},
    {67,
     "Pascal (FPC %s)",
     "fpc",
     {"fpc", "gcc"},
     "main.pas",
     "fpc %s -v0 -omain main.pas",
     "./main",
     false,
     0},
    {68, "PHP (%s)", "php", {"php", "tzdata"}, "script.php", NULL, "php script.php", false, 0},
    {69,
     "Prolog (GNU Prolog %s)",
     "gprolog",
     {"gprolog", "gcc"},
     "main.pro",
     "gplc --no-top-level %s main.pro",
     "./main",
     false,
     0},
    {71, "Python (%s)", "python3", {"python3"}, "script.py", NULL, "python3 script.py", false, 0},
    {72, "Ruby (%s)", "ruby", {"ruby"}, "script.rb", NULL, "ruby script.rb", false, 0},
    {73,
     "Rust (%s)",
     "rust",
     {"rust", "gcc"},
     "main.rs",
     "rustc %s -o main main.rs",
     "./main",
     false,
     0},
    {74,
     "TypeScript (%s)",
     "typescript",
     {"typescript", "nodejs"},
     "script.ts",
     "tsc %s --target es2020 --module commonjs --outDir . script.ts",
     "node script.js",
     false,
     0},
    {75,
     "C (Clang %s)",
     "clang",
     {"clang", "gcc"},
     "main.c",
     "clang %s main.c",
     "./a.out",
     false,
     0},
    {76,
     "C++ (Clang %s)",
     "clang",
     {"clang", "gcc"},
     "main.cpp",
     "clang++ %s main.cpp",
     "./a.out",
     false,
     0},
    {77,
     "COBOL (GnuCOBOL %s)",
     "gnucobol",
     {"gnucobol", "gcc"},
     "main.cob",
     "cobc -free -x %s main.cob",
     "./main",
     false,
     0},
    /* Judge0 runs MainKt with the kotlin runner; the set has no runner, so the
     * program is a jar with the runtime, run by java. */
    {78,
     "Kotlin (%s)",
     "kotlin",
     {"kotlin", "java"},
     "Main.kt",
     "kotlinc %s Main.kt -include-runtime -d main.jar",
     "java -jar main.jar",
     false,
     0},
    {79,
     "Objective-C (GCC %s)",
     "gobjc",
     {"gobjc", "gcc"},
     "main.m",
     "gobjc %s -o a.out main.m -lobjc",
     "./a.out",
     false,
     0},
    /* R refuses to start with fewer than about 170 open files */
    {80, "R (%s)", "r", {"r", "coreutils"}, "script.r", NULL, "Rscript script.r", false, 256},
    {81,
     "Scala (%s)",
     "scala",
     {"scala", "java"},
     "Main.scala",
     "scalac %s Main.scala",
     "scala -cp . Main",
     false,
     0},
    {82,
     "SQL (SQLite %s)",
     "sqlite3",
     {"sqlite3", "coreutils"},
     "script.sql",
     NULL,
     "cat script.sql | sqlite3 \"$TMPDIR/db.sqlite\"",
     false,
     0},
    {85, "Perl (%s)", "perl", {"perl"}, "script.pl", NULL, "perl script.pl", false, 0},
    {86,
     "Clojure (%s)",
     "clojure",
     {"clojure", "java"},
     "main.clj",
     NULL,
     "clojure main.clj",
     false,
     0},
    /* Judge0 compiles with groovyc and runs the class; groovy runs the script. */
    {88,
     "Groovy (%s)",
     "groovy",
     {"groovy", "java"},
     "script.groovy",
     NULL,
     "groovy script.groovy",
     false,
     0},
    {89,
     "Multi-file program",
     NULL,
     {"coreutils", "gcc", "python3", "make"},
     NULL,
     NULL,
     NULL,
     false,
     0},
};
#define N_LANGUAGES (sizeof(languages) / sizeof(*languages))

const j0_language *j0_language_get(int id)
{
    for (size_t i = 0; i < N_LANGUAGES; i++)
        if (languages[i].id == id)
            return &languages[i];
    return NULL;
}

static const json_t *package(const json_t *set, const char *name)
{
    if (json_is_object(set))
        return json_object_get(set, name);
    size_t i;
    const json_t *e;
    json_array_foreach(set, i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && !strcmp(n, name))
            return e;
    }
    return NULL;
}

bool j0_language_available(const j0_language *l, const json_t *pkgset)
{
    if (!pkgset)
        return true;
    for (size_t i = 0; l->packages[i]; i++)
        if (!package(pkgset, l->packages[i]))
            return false;
    return true;
}

void j0_language_name(const j0_language *l, const json_t *pkgset, char *buf, size_t len)
{
    if (!l->version_pkg) {
        snprintf(buf, len, "%s", l->name);
        return;
    }
    const char *v = json_string_value(json_object_get(package(pkgset, l->version_pkg), "version"));
    /* the name is a format taking the version; the table is ours */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(buf, len, l->name, v ? v : "unknown");
#pragma GCC diagnostic pop
}

json_t *j0_language_json(const j0_language *l, const json_t *pkgset, bool full)
{
    char name[128];
    j0_language_name(l, pkgset, name, sizeof(name));
    if (!full)
        return json_pack("{s:i, s:s}", "id", l->id, "name", name);
    return json_pack("{s:i, s:s, s:b, s:o, s:o, s:o}", "id", l->id, "name", name, "is_archived", 0,
                     "source_file", l->source_file ? json_string(l->source_file) : json_null(),
                     "compile_cmd", l->compile_cmd ? json_string(l->compile_cmd) : json_null(),
                     "run_cmd", l->run_cmd ? json_string(l->run_cmd) : json_null());
}

static int by_name(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "name"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "name"));
    int r = strcmp(x ? x : "", y ? y : "");
    if (r)
        return r;
    return (int)(json_integer_value(json_object_get(*(json_t *const *)a, "id")) -
                 json_integer_value(json_object_get(*(json_t *const *)b, "id")));
}

json_t *j0_languages_list(const json_t *pkgset, bool with_archived)
{
    json_t *items[N_LANGUAGES];
    size_t n = 0;
    for (size_t i = 0; i < N_LANGUAGES; i++) {
        if (!j0_language_available(&languages[i], pkgset))
            continue;
        json_t *o = j0_language_json(&languages[i], pkgset, false);
        if (!o)
            continue;
        if (with_archived)
            json_object_set_new(o, "is_archived", json_false());
        items[n++] = o;
    }
    qsort(items, n, sizeof(*items), by_name);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (arr)
            json_array_append_new(arr, items[i]);
        else
            json_decref(items[i]);
    }
    return arr;
}
