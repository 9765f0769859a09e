/* jobe.h — the Jobe 2.2 front's pure parts: the language table, run_spec ->
 * v1 request, v1 submission view -> Jobe result. No I/O here: the handlers
 * (jobe.c) fetch the uploaded files and give their bytes in; everything
 * below is unit-tested (tests/unit/test_jobe.c).
 *
 * Theory of operation
 * -------------------
 * A run_spec is checked in Jobe's order with Jobe's texts (jobe_spec_parse),
 * then turned into one v1 request (jobe_spec_to_v1): the language's packages
 * plus coreutils, the source and the listed files, one test whose stdin is
 * `input`, and compile/run commands built the way Jobe builds them
 * (`gcc <compileargs> -o prog.c.exe prog.c <linkargs>`,
 * `<interpreter> <interpreterargs> <file> <runargs>`), each wrapped in a
 * short sh script so the sandbox behaves as Jobe's runguard does:
 *   - compile: the step fails exactly when Jobe's task would set cmpinfo
 *     (jobe_compile_rule: any compiler stderr, warnings included; php -l's
 *     stderr after its stdout; fpc's error file when no executable
 *     appeared), and its stderr is that cmpinfo;
 *   - run: the box is copied into the writable /scratch and the program runs
 *     there (Jobe's working directory is writable); memorylimit becomes
 *     `ulimit -v` (Jobe limits address space, so a 2 GB malloc fails);
 *     stdout goes through a FIFO to `head -c <streamsize>` and the rest is
 *     read and dropped, so output is truncated, not killed; the program runs
 *     as a job (set -m) whose process group is killed when it exits, so
 *     children it leaves do not hold the run open (runguard ends a run when
 *     the program exits); the program's exit status is the step's, so a
 *     signal shows as 128 + its number.
 * The result view of that submission becomes {run_id, outcome, cmpinfo,
 * stdout, stderr} (jobe_result_from_view), Octave's stderr filtered first as
 * Jobe's OctaveTask does. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#define JOBE_MAX_CPUTIME_S 120
#define JOBE_OVERLOAD_SOURCE "!** TESTING OVERLOAD EXCEPTION **!"

enum {
    JOBE_RESULT_COMPILATION_ERROR = 11,
    JOBE_RESULT_RUNTIME_ERROR = 12,
    JOBE_RESULT_TIME_LIMIT = 13,
    JOBE_RESULT_SUCCESS = 15,
    JOBE_RESULT_MEMORY_LIMIT = 17,
    JOBE_RESULT_ILLEGAL_SYSCALL = 19,
    JOBE_RESULT_INTERNAL_ERR = 20,
    JOBE_RESULT_SERVER_OVERLOAD = 21,
};

typedef enum { JOBE_KIND_COMPILED, JOBE_KIND_INTERPRETED, JOBE_KIND_JAVA } jobe_kind;

/* How a compile step's output becomes cmpinfo, as each Jobe task decides. */
typedef enum {
    JOBE_CMP_STDERR,      /* any compiler stderr is the error (c, cpp, python3, java) */
    JOBE_CMP_PHP_LINT,    /* `php -l`: any stderr is the error, its stdout put before it
                             ("<stdout>\n<stderr>"), as PhpTask does */
    JOBE_CMP_FPC_ERRFILE, /* fpc writes its messages to <src>.err (-Fe); the error is that
                             file when no executable appeared (warnings alone pass) */
} jobe_compile_rule;

typedef struct {
    const char *id;          /* Jobe's language_id */
    const char *packages[3]; /* package-set attributes, NULL-terminated; [0] gives the version */
    jobe_kind kind;
    const char *default_file;    /* when the run_spec names none (Java: from the class) */
    const char *compiler;        /* NULL: no compile step */
    const char *compileargs;     /* default, joined */
    const char *interpreter;     /* interpreted and Java: the program that runs the file */
    const char *interpreterargs; /* default, joined */
    long memorylimit_mb;         /* default; Java ignores the parameter (0: none) */
    long numprocs;               /* default */
    long min_numprocs;           /* a smaller numprocs is raised to this */
    bool memory_rss_only;        /* memorylimit caps the memory cgroup only, not the address
                                    space (V8 reserves gigabytes of address space up front) */
    const char *optional;        /* a package added when the set has it (python3: pylint,
                                    which CodeRunner's Python questions run), else NULL */
    jobe_compile_rule compile_rule;
    bool copy_to_m;     /* the source is copied to <src>.m before the run (OctaveTask's
                           compile), the interpreter still runs <src> */
    bool octave_stderr; /* stderr filtered as OctaveTask does (jobe_octave_stderr) */
} jobe_lang;

/* The table, NULL-id terminated. */
extern const jobe_lang jobe_langs[];
const jobe_lang *jobe_lang_find(const char *id);

/* A Jobe error: the HTTP status and the text the body carries as a JSON
 * string. */
typedef struct {
    int status;
    char message[512];
} jobe_error;

typedef struct {
    char id[65];
    char name[256];
} jobe_file_ref;

/* A checked run_spec; strings borrowed from the JSON it was parsed from. */
typedef struct {
    char language_id[64]; /* lower-cased */
    const jobe_lang *lang;
    const char *sourcecode;
    size_t sourcecode_len;
    const char *sourcefilename; /* "" when none was given (or legacy "prog.java") */
    const char *input;
    size_t input_len;
    bool debug;
    const json_t *parameters; /* object or NULL */
    jobe_file_ref *files;     /* owned */
    size_t n_files;
} jobe_spec;

/* Checks body ({"run_spec": {...}}) the way Jobe does, in its order and with
 * its texts. is_known(id) says whether a language is offered (the package set
 * has it). 0 with *out filled (jobe_spec_done), or -EINVAL with *e. */
int jobe_spec_parse(const json_t *body, bool (*is_known)(const jobe_lang *, void *), void *arg,
                    jobe_spec *out, jobe_error *e);
void jobe_spec_done(jobe_spec *s);

/* Jobe's file-id rule: at least 8 characters, all alphanumeric. */
bool jobe_file_id_valid(const char *id);
/* Jobe's sourcefilename rule. */
bool jobe_filename_valid(const char *name);
/* The public class that has main, as Jobe finds it (exactly one match);
 * false when none or several. */
bool jobe_java_main_class(const char *src, char *out, size_t outlen);

/* The farm's maxima the translation clamps to (api.limits.max.*). */
typedef struct {
    long long cpu_ms, wall_ms, memory_kib, processes, output_bytes, file_bytes, open_files;
    long long compile_cpu_ms; /* api.limits.default.compile.cpu_ms: compile gets at least this */
} jobe_caps;

/* An uploaded file's bytes, fetched by the caller for spec->files[i]. */
typedef struct {
    const void *data;
    size_t len;
} jobe_file_data;

/* The v1 request for spec (files[i] holds spec->files[i]'s bytes). New
 * reference in *out; -ENOMEM, or -EINVAL with *e (a parameter of the wrong
 * type). */
int jobe_spec_to_v1(const jobe_spec *spec, const jobe_file_data *files, const jobe_caps *caps,
                    json_t **out, jobe_error *e);

/* Jobe's clean(): valid UTF-8 stays as it is; otherwise every byte below
 * space (but \n, \r, \t) or above '~' becomes \xNN. malloc'd, NUL-terminated;
 * *outlen set. */
char *jobe_clean_output(const char *s, size_t len, size_t *outlen);

/* OctaveTask's filteredStderr: CRs removed, trailing blank lines dropped,
 * then a last line starting "error: ignoring octave_execution_exception" and
 * then a last line "error: No such file or directory" (noise Octave adds in a
 * sandbox); what is left ends with one newline, or is empty. malloc'd,
 * NUL-terminated; *outlen set. */
char *jobe_octave_stderr(const char *s, size_t len, size_t *outlen);

/* The Jobe result for a v1 submission view (api_submission_view): new
 * reference. run_id is the submission id when debug, else null. lang (may be
 * NULL) says how its run's stderr is filtered before the outcome is chosen. */
json_t *jobe_result_from_view(const json_t *view, const jobe_lang *lang, bool debug);
/* {run_id: 0, outcome: 21, cmpinfo: "", stdout: "", stderr: ""}, as Jobe. */
json_t *jobe_result_overload(void);
