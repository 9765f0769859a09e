/* test_jobe.c — the Jobe front's pure parts (daemon/compat/jobe_*.c):
 * run_spec checks and their texts, the v1 request a run_spec becomes, Java
 * main-class inference, output cleaning and the outcome rule. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "../../common/base64.h"
#include "../../daemon/compat/jobe.h"

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &je);
    ck_assert_msg(j != NULL, "bad test JSON: %s", je.text);
    return j;
}

static const jobe_caps CAPS = {.cpu_ms = 60000,
                               .wall_ms = 120000,
                               .memory_kib = 2097152,
                               .processes = 256,
                               .output_bytes = 67108864,
                               .file_bytes = 268435456,
                               .open_files = 1024,
                               .compile_cpu_ms = 10000};

static bool no_php(const jobe_lang *l, void *arg)
{
    (void)arg;
    return strcmp(l->id, "php") != 0;
}

/* The error text and status a body gets. */
static void expect_error(const char *body, int status, const char *text)
{
    json_t *b = J(body);
    jobe_spec s;
    jobe_error e = {0};
    ck_assert_int_eq(jobe_spec_parse(b, no_php, NULL, &s, &e), -EINVAL);
    ck_assert_int_eq(e.status, status);
    ck_assert_str_eq(e.message, text);
    json_decref(b);
}

START_TEST(errors_have_jobes_texts)
{
    expect_error("[1]", 400, "Non-JSON post data received");
    expect_error("{}", 400, "No run_spec attribute found in post data");
    expect_error("{\"run_spec\": {\"language_id\": \"c\"}}", 400,
                 "run_spec is missing the required attribute 'sourcecode'");
    expect_error("{\"run_spec\": {\"sourcecode\": \"x\"}}", 400,
                 "run_spec is missing the required attribute 'language_id'");
    expect_error("{\"run_spec\": {\"sourcecode\": \"x\", \"language_id\": \"Cobol\"}}", 400,
                 "Language 'cobol' is not known");
    /* in the table but not in the package set */
    expect_error("{\"run_spec\": {\"sourcecode\": \"x\", \"language_id\": \"php\"}}", 400,
                 "Language 'php' is not known");
    expect_error("{\"run_spec\": {\"sourcecode\": \"x\", \"language_id\": \"c\", "
                 "\"parameters\": {\"cputime\": 151}}}",
                 400, "cputime exceeds maximum allowed on this Jobe server (120 secs)");
    expect_error("{\"run_spec\": {\"sourcecode\": \"x\", \"language_id\": \"c\", "
                 "\"parameters\": {\"cputime\": \"121\"}}}",
                 400, "cputime exceeds maximum allowed on this Jobe server (120 secs)");
    expect_error("{\"run_spec\": {\"sourcecode\": \"x\", \"language_id\": \"c\", "
                 "\"sourcefilename\": \"../etc/passwd\"}}",
                 400, "The sourcefilename for the run_spec is illegal");
    expect_error("{\"run_spec\": {\"sourcecode\": \"x\", \"language_id\": \"c\", "
                 "\"sourcefilename\": \".hidden.c\"}}",
                 400, "The sourcefilename for the run_spec is illegal");
    expect_error("{\"run_spec\": {\"sourcecode\": \"x\", \"language_id\": \"c\", "
                 "\"file_list\": [[\"short\", \"data.txt\"]]}}",
                 400,
                 "Invalid file specifier: Array\n(\n    [0] => short\n    [1] => data.txt\n)\n");
    expect_error("{\"run_spec\": {\"sourcecode\": \"x\", \"language_id\": \"c\", "
                 "\"file_list\": [[\"abcdefgh12\", \"../x\"]]}}",
                 400,
                 "Invalid file specifier: Array\n(\n    [0] => abcdefgh12\n    [1] => ../x\n)\n");
}
END_TEST

START_TEST(name_rules)
{
    ck_assert(jobe_file_id_valid("0123456789abcdef"));
    ck_assert(!jobe_file_id_valid("abc"));
    ck_assert(!jobe_file_id_valid("abcdefgh-1"));
    ck_assert(jobe_filename_valid("__tester__.python3"));
    ck_assert(jobe_filename_valid("prog.c"));
    ck_assert(!jobe_filename_valid("a/b.c"));
    ck_assert(!jobe_filename_valid("-x.c"));
    ck_assert(!jobe_filename_valid("a;b.c"));
    ck_assert(!jobe_filename_valid("a\tb"));
}
END_TEST

START_TEST(java_main_class)
{
    char n[64];
    ck_assert(jobe_java_main_class("import java.util.*;\npublic class Hello extends Object {\n"
                                   "  public static void main(String[] args) {}\n}\n",
                                   n, sizeof(n)));
    ck_assert_str_eq(n, "Hello");
    ck_assert(jobe_java_main_class("class A {}\npublic class B { static public void main ( String "
                                   "a[]) {} }",
                                   n, sizeof(n)));
    ck_assert_str_eq(n, "B");
    /* no main, or a public class without one: no name */
    ck_assert(!jobe_java_main_class("public class C { void f() {} }", n, sizeof(n)));
    ck_assert(
        !jobe_java_main_class("class D { public static void main(String[] a) {} }", n, sizeof(n)));
    /* two matches: Jobe refuses to guess */
    ck_assert(!jobe_java_main_class("public class E { public static void main(String[] a) {} }\n"
                                    "public class F { public static void main(String[] a) {} }",
                                    n, sizeof(n)));
    /* "mypublic class" is not "public class" */
    ck_assert(!jobe_java_main_class("mypublic class G { public static void main(String[] a) {} }",
                                    n, sizeof(n)));
}
END_TEST

/* run_spec text -> v1 request (files given as "id" -> content). */
static json_t *to_v1(const char *body, const jobe_file_data *files)
{
    json_t *b = J(body);
    jobe_spec s;
    jobe_error e = {0};
    ck_assert_msg(jobe_spec_parse(b, NULL, NULL, &s, &e) == 0, "%s", e.message);
    json_t *out = NULL;
    ck_assert_msg(jobe_spec_to_v1(&s, files, &CAPS, &out, &e) == 0, "%s", e.message);
    jobe_spec_done(&s);
    json_decref(b);
    return out;
}

static const char *get_str(const json_t *o, const char *path1, const char *path2)
{
    const json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    return json_string_value(v);
}

static long long lim(const json_t *r, const char *stage, const char *key)
{
    return json_integer_value(
        json_object_get(json_object_get(json_object_get(r, "limits"), stage), key));
}

START_TEST(c_commands_and_limits)
{
    json_t *r = to_v1("{\"run_spec\": {\"language_id\": \"C\", \"sourcecode\": \"int main(){}\", "
                      "\"sourcefilename\": \"__tester__.c\", \"input\": \"1 2\\n\", "
                      "\"parameters\": {\"cputime\": 3, \"memorylimit\": 100, \"numprocs\": 10, "
                      "\"streamsize\": 1, \"disklimit\": 2, \"compileargs\": [\"-O2 -g\", "
                      "\"-std=c11\"], \"linkargs\": [\"-lm\"], \"runargs\": [\"a\", \"b c\"], "
                      "\"unknown\": true}}}",
                      NULL);
    ck_assert(strstr(get_str(r, "compile", NULL),
                     "gcc -O2 -g -std=c11 -o __tester__.c.exe __tester__.c -lm\n"));
    const char *run = get_str(r, "run", NULL);
    ck_assert(strstr(run, "./__tester__.c.exe  a b c\n"));
    ck_assert(strstr(run, "ulimit -v 102400\n"));
    ck_assert(strstr(run, "head -c 1048576"));
    ck_assert_int_eq(lim(r, "run", "cpu_ms"), 3000);
    ck_assert_int_eq(lim(r, "run", "wall_ms"), 6000);
    ck_assert_int_eq(lim(r, "run", "memory_kib"), 102400);
    ck_assert_int_eq(lim(r, "run", "processes"), 13);
    ck_assert_int_eq(lim(r, "run", "file_bytes"), 2097152);
    ck_assert_int_eq(lim(r, "run", "output_bytes"), 1048576);
    ck_assert_int_eq(lim(r, "compile", "cpu_ms"), 10000);
    const json_t *f = json_array_get(json_object_get(r, "files"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(f, "name")), "__tester__.c");
    ck_assert_str_eq(json_string_value(json_object_get(f, "content")), "int main(){}");
    ck_assert_str_eq(get_str(json_array_get(json_object_get(r, "tests"), 0), "stdin", NULL),
                     "1 2\n");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r, "packages"), 0)), "gcc");
    json_decref(r);

    /* defaults: Jobe's flags, prog.c, 5 s, 400 MB */
    r = to_v1("{\"run_spec\": {\"language_id\": \"c\", \"sourcecode\": \"x\"}}", NULL);
    ck_assert(strstr(get_str(r, "compile", NULL),
                     "gcc -Wall -Werror -std=c99 -x c -o prog.c.exe prog.c \n"));
    ck_assert_int_eq(lim(r, "run", "cpu_ms"), 5000);
    ck_assert_int_eq(lim(r, "run", "wall_ms"), 10000);
    ck_assert_int_eq(lim(r, "run", "memory_kib"), 409600);
    json_decref(r);

    /* memorylimit 0: no address-space limit, the farm's maximum; cputime clamped to the farm */
    r = to_v1("{\"run_spec\": {\"language_id\": \"cpp\", \"sourcecode\": \"x\", "
              "\"parameters\": {\"memorylimit\": 0, \"cputime\": 100, \"numprocs\": \"many\"}}}",
              NULL);
    ck_assert(!strstr(get_str(r, "run", NULL), "ulimit -v"));
    ck_assert_int_eq(lim(r, "run", "memory_kib"), 2097152);
    ck_assert_int_eq(lim(r, "run", "cpu_ms"), 60000);
    ck_assert_int_eq(lim(r, "run", "wall_ms"), 120000);
    ck_assert_int_eq(lim(r, "run", "processes"), 33); /* non-numeric: the default 30 */
    ck_assert(strstr(get_str(r, "compile", NULL), "g++ -Wall -Werror -o prog.cpp.exe prog.cpp"));
    json_decref(r);
}
END_TEST

START_TEST(interpreted_and_java)
{
    json_t *r = to_v1("{\"run_spec\": {\"language_id\": \"python3\", \"sourcecode\": \"print(1)\", "
                      "\"sourcefilename\": \"__tester__.python3\", \"parameters\": "
                      "{\"interpreterargs\": [\"-c \\\"print(2)\\\"\"], \"runargs\": [\"x\"]}}}",
                      NULL);
    ck_assert(strstr(get_str(r, "compile", NULL), "python3 -m py_compile __tester__.python3\n"));
    ck_assert(strstr(get_str(r, "run", NULL), "python3 -c \"print(2)\" __tester__.python3 x\n"));
    json_decref(r);
    r = to_v1("{\"run_spec\": {\"language_id\": \"python3\", \"sourcecode\": \"print(1)\"}}", NULL);
    ck_assert(strstr(get_str(r, "run", NULL), "python3 -BE prog.py \n"));
    ck_assert_int_eq(lim(r, "run", "memory_kib"), 1024000);
    json_decref(r);

    r = to_v1("{\"run_spec\": {\"language_id\": \"nodejs\", \"sourcecode\": \"1\"}}", NULL);
    ck_assert(!json_object_get(r, "compile"));
    ck_assert(strstr(get_str(r, "run", NULL), "node --use_strict prog.js \n"));
    ck_assert(!strstr(get_str(r, "run", NULL), "ulimit -v"));
    json_decref(r);

    /* Java: file and class from the public class with main; memory left to the JVM */
    r = to_v1("{\"run_spec\": {\"language_id\": \"java\", \"sourcecode\": \"public class Thing "
              "{ public static void main(String[] a) {} }\", \"parameters\": "
              "{\"memorylimit\": 100, \"numprocs\": 5}}}",
              NULL);
    ck_assert_str_eq(get_str(json_array_get(json_object_get(r, "files"), 0), "name", NULL),
                     "Thing.java");
    ck_assert(strstr(get_str(r, "compile", NULL), " Thing.java\n"));
    ck_assert(strstr(get_str(r, "run", NULL), "-Xrs -Xss8m -Xmx200m Thing \n"));
    ck_assert(!strstr(get_str(r, "run", NULL), "ulimit -v"));
    ck_assert_int_eq(lim(r, "run", "processes"), 256); /* 256 at least, clamped */
    json_decref(r);
    /* a given name decides the class; main_class overrides it; "prog.java" is ignored */
    r = to_v1(
        "{\"run_spec\": {\"language_id\": \"java\", \"sourcecode\": \"x\", "
        "\"sourcefilename\": \"Other.java\", \"parameters\": {\"main_class\": \"pkg.Main\"}}}",
        NULL);
    ck_assert(strstr(get_str(r, "run", NULL), " pkg.Main \n"));
    json_decref(r);
    r = to_v1("{\"run_spec\": {\"language_id\": \"java\", \"sourcecode\": \"public class Q { "
              "public static void main(String[] a) {} }\", \"sourcefilename\": \"prog.java\"}}",
              NULL);
    ck_assert(strstr(get_str(r, "run", NULL), " Q \n"));
    json_decref(r);
}
END_TEST

START_TEST(files_after_source)
{
    jobe_file_data fd[3] = {{"one", 3}, {"\x00\xff", 2}, {"two", 3}};
    json_t *r = to_v1("{\"run_spec\": {\"language_id\": \"python3\", \"sourcecode\": \"s\", "
                      "\"sourcefilename\": \"a.py\", \"file_list\": [[\"abcdefgh1\", \"data\"], "
                      "[\"abcdefgh2\", \"bin.dat\"], [\"abcdefgh3\", \"a.py\"]]}}",
                      fd);
    json_t *files = json_object_get(r, "files");
    ck_assert_int_eq(json_array_size(files), 3); /* a.py: the file wins over the source */
    ck_assert_str_eq(get_str(json_array_get(files, 0), "name", NULL), "data");
    ck_assert_str_eq(get_str(json_array_get(files, 0), "encoding", NULL), "base64");
    ck_assert_str_eq(get_str(json_array_get(files, 1), "content", NULL), "AP8=");
    ck_assert_str_eq(get_str(json_array_get(files, 2), "name", NULL), "a.py");
    ck_assert_str_eq(get_str(json_array_get(files, 2), "content", NULL), "dHdv");
    json_decref(r);
}
END_TEST

START_TEST(bad_parameter_types)
{
    json_t *b = J("{\"run_spec\": {\"language_id\": \"c\", \"sourcecode\": \"x\", "
                  "\"parameters\": {\"compileargs\": \"-O2\"}}}");
    jobe_spec s;
    jobe_error e = {0};
    ck_assert_int_eq(jobe_spec_parse(b, NULL, NULL, &s, &e), 0);
    json_t *out = NULL;
    ck_assert_int_eq(jobe_spec_to_v1(&s, NULL, &CAPS, &out, &e), -EINVAL);
    ck_assert_int_eq(e.status, 400);
    ck_assert_str_eq(e.message, "parameter 'compileargs' must be a list of strings");
    jobe_spec_done(&s);
    json_decref(b);
}
END_TEST

START_TEST(clean_output)
{
    size_t n;
    char *c = jobe_clean_output("h\xc3\xa9llo\n", 7, &n);
    ck_assert_str_eq(c, "h\xc3\xa9llo\n"); /* valid UTF-8 stays */
    free(c);
    c = jobe_clean_output("Hello world\n\001\006\300\311\n", 17, &n);
    ck_assert_str_eq(c, "Hello world\n\\x01\\x06\\xc0\\xc9\n");
    ck_assert_uint_eq(n, strlen(c));
    free(c);
    c = jobe_clean_output("\t\r\x7f\xe2\x82", 5, &n); /* truncated sequence */
    ck_assert_str_eq(c, "\t\r\\x7f\\xe2\\x82");
    free(c);
}
END_TEST

static json_t *result_of(const char *view)
{
    json_t *v = J(view);
    json_t *r = jobe_result_from_view(v, NULL, false);
    json_decref(v);
    return r;
}

static void expect_outcome(const char *view, int outcome, const char *out, const char *err)
{
    json_t *r = result_of(view);
    ck_assert_msg(json_integer_value(json_object_get(r, "outcome")) == outcome, "%s -> %lld", view,
                  (long long)json_integer_value(json_object_get(r, "outcome")));
    ck_assert(json_is_null(json_object_get(r, "run_id")));
    if (out)
        ck_assert_str_eq(json_string_value(json_object_get(r, "stdout")), out);
    if (err)
        ck_assert_str_eq(json_string_value(json_object_get(r, "stderr")), err);
    json_decref(r);
}

#define TEST1(fields) "{\"id\": \"abc\", \"state\": \"finished\", \"tests\": [{" fields "}]}"

START_TEST(outcomes)
{
    json_t *r = result_of("{\"id\": \"abc\", \"state\": \"compile_error\", \"compile\": "
                          "{\"exit_code\": 1, \"stdout\": \"\", \"stderr\": \"warning: x\"}, "
                          "\"tests\": []}");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "outcome")), 11);
    ck_assert_str_eq(json_string_value(json_object_get(r, "cmpinfo")), "warning: x");
    json_decref(r);
    expect_outcome(TEST1("\"verdict\": \"accepted\", \"exit_code\": 0, \"stdout\": \"hi\\n\", "
                         "\"stderr\": \"\""),
                   15, "hi\n", "");
    /* the exit code is ignored */
    expect_outcome(TEST1("\"verdict\": \"runtime_error\", \"exit_code\": 3, \"stdout\": \"x\", "
                         "\"stderr\": \"\""),
                   15, "x", "");
    expect_outcome(TEST1("\"verdict\": \"accepted\", \"exit_code\": 0, \"stdout\": \"\", "
                         "\"stderr\": \"warn\""),
                   12, "", "warn");
    expect_outcome(TEST1("\"verdict\": \"runtime_error\", \"exit_code\": 139, \"stdout\": \"\", "
                         "\"stderr\": \"\""),
                   12, NULL, NULL);
    expect_outcome(TEST1("\"verdict\": \"time_limit\", \"exit_code\": null, \"signal\": "
                         "\"SIGKILL\", \"stdout\": \"part\", \"stderr\": \"noise\""),
                   13, "part", "");
    expect_outcome(TEST1("\"verdict\": \"memory_limit\", \"signal\": \"SIGKILL\", \"stdout\": "
                         "\"\", \"stderr\": \"\""),
                   17, NULL, NULL);
    expect_outcome(TEST1("\"verdict\": \"runtime_error\", \"exit_code\": 159, \"stdout\": \"\", "
                         "\"stderr\": \"\""),
                   19, NULL, NULL);
    expect_outcome(TEST1("\"verdict\": \"runtime_error\", \"signal\": \"SIGSYS\", \"stdout\": "
                         "\"\", \"stderr\": \"\""),
                   19, NULL, NULL);
    expect_outcome(TEST1("\"verdict\": \"internal_error\", \"stdout\": \"\", \"stderr\": \"\""), 20,
                   NULL, NULL);
    expect_outcome("{\"id\": \"abc\", \"state\": \"internal_error\", \"error\": \"lost\", "
                   "\"tests\": []}",
                   20, "", "lost");
    expect_outcome("{\"id\": \"abc\", \"state\": \"running\", \"tests\": []}", 20, NULL, NULL);
    /* base64 output is decoded, then cleaned */
    expect_outcome(TEST1("\"verdict\": \"accepted\", \"encoding\": \"base64\", \"stdout\": "
                         "\"wMk=\", \"stderr\": \"\""),
                   15, "\\xc0\\xc9", "");
}
END_TEST

START_TEST(debug_and_overload)
{
    json_t *v = J(TEST1("\"verdict\": \"accepted\", \"stdout\": \"\", \"stderr\": \"\""));
    json_t *r = jobe_result_from_view(v, NULL, true);
    ck_assert_str_eq(json_string_value(json_object_get(r, "run_id")), "abc");
    json_decref(r);
    json_decref(v);
    r = jobe_result_overload();
    ck_assert_int_eq(json_integer_value(json_object_get(r, "outcome")), 21);
    ck_assert_str_eq(json_string_value(json_object_get(r, "stdout")), "");
    json_decref(r);
}
END_TEST

START_TEST(php_pascal_octave_commands)
{
    /* php: `php -l` lint as the compile step (stdout before stderr in cmpinfo), run with
     * --no-php-ini; tzdata in the set for its time zone; 400 MB */
    json_t *r =
        to_v1("{\"run_spec\": {\"language_id\": \"php\", \"sourcecode\": \"<?php\"}}", NULL);
    const char *cmp = get_str(r, "compile", NULL);
    ck_assert(strstr(cmp, "{ php -l prog.php\n} >/tmp/.jobe_cmpout 2>/tmp/.jobe_cmperr\n"));
    ck_assert(strstr(cmp, "[ -s /tmp/.jobe_cmperr ] || exit 0\n"));
    ck_assert(strstr(cmp, "cat /tmp/.jobe_cmpout; echo; fi >&2\n"));
    ck_assert(strstr(get_str(r, "run", NULL), "php --no-php-ini prog.php \n"));
    ck_assert(strstr(get_str(r, "run", NULL), "ulimit -v 409600\n"));
    json_t *pk = json_object_get(r, "packages");
    ck_assert_str_eq(json_string_value(json_array_get(pk, 0)), "php");
    ck_assert_str_eq(json_string_value(json_array_get(pk, 1)), "tzdata");
    ck_assert_str_eq(json_string_value(json_array_get(pk, 2)), "coreutils");
    json_decref(r);
    r = to_v1("{\"run_spec\": {\"language_id\": \"php\", \"sourcecode\": \"<?php\", "
              "\"parameters\": {\"interpreterargs\": [\"-d\", \"precision=3\"]}}}",
              NULL);
    ck_assert(strstr(get_str(r, "run", NULL), "php -d precision=3 prog.php \n"));
    json_decref(r);

    /* pascal: fpc with Jobe's -vew -Se, its messages in <src>.err, read only when no
     * executable appeared; linkargs are not Pascal's */
    r = to_v1("{\"run_spec\": {\"language_id\": \"pascal\", \"sourcecode\": \"begin end.\", "
              "\"parameters\": {\"linkargs\": [\"-lm\"], \"runargs\": [\"a\"]}}}",
              NULL);
    cmp = get_str(r, "compile", NULL);
    ck_assert(strstr(cmp, "{ fpc -vew -Se -Feprog.pas.err -oprog.pas.exe prog.pas\n} "
                          ">/dev/null 2>&1\n"));
    ck_assert(strstr(cmp, "[ -e 'prog.pas.exe' ] && exit 0\ncat -- 'prog.pas.err' >&2\nexit 1\n"));
    ck_assert(!strstr(cmp, "-lm"));
    ck_assert(strstr(get_str(r, "run", NULL), "./prog.pas.exe  a\n"));
    pk = json_object_get(r, "packages");
    ck_assert_str_eq(json_string_value(json_array_get(pk, 0)), "fpc");
    ck_assert_str_eq(json_string_value(json_array_get(pk, 1)), "gcc");
    json_decref(r);
    r = to_v1("{\"run_spec\": {\"language_id\": \"pascal\", \"sourcecode\": \"x\", "
              "\"sourcefilename\": \"__tester__.pascal\", \"parameters\": "
              "{\"compileargs\": [\"-O2\"]}}}",
              NULL);
    ck_assert(
        strstr(get_str(r, "compile", NULL),
               "fpc -O2 -Fe__tester__.pascal.err -o__tester__.pascal.exe __tester__.pascal\n"));
    json_decref(r);

    /* octave: no compile step; the source copied to <src>.m, octave-cli run on the source
     * with Jobe's arguments; 500 MB */
    r = to_v1("{\"run_spec\": {\"language_id\": \"octave\", \"sourcecode\": \"disp(1)\", "
              "\"sourcefilename\": \"__tester__.octave\"}}",
              NULL);
    ck_assert(!json_object_get(r, "compile"));
    ck_assert(strstr(get_str(r, "run", NULL),
                     "cp -- '__tester__.octave' '__tester__.octave.m' && octave-cli --norc "
                     "--no-window-system --silent -H __tester__.octave \n"));
    ck_assert(strstr(get_str(r, "run", NULL), "ulimit -v 512000\n"));
    ck_assert_int_eq(lim(r, "run", "memory_kib"), 512000);
    json_decref(r);
    r = to_v1("{\"run_spec\": {\"language_id\": \"octave\", \"sourcecode\": \"1\", "
              "\"parameters\": {\"memorylimit\": 0, \"runargs\": [\"q\"]}}}",
              NULL);
    ck_assert(strstr(get_str(r, "run", NULL), "-H prog.m q\n"));
    ck_assert(!strstr(get_str(r, "run", NULL), "ulimit -v"));
    json_decref(r);
}
END_TEST

static void expect_octave(const char *in, const char *want)
{
    size_t n = 99;
    char *out = jobe_octave_stderr(in, strlen(in), &n);
    ck_assert_msg(!strcmp(out, want), "%s -> %s, wanted %s", in, out, want);
    ck_assert_uint_eq(n, strlen(want));
    free(out);
}

START_TEST(octave_stderr_filter)
{
    expect_octave("", "");
    expect_octave("\n \n\t\n", "");
    expect_octave("x", "x\n");
    expect_octave("a\r\nb\r\n\r\n", "a\nb\n");
    expect_octave("error: 'x' undefined\nerror: ignoring octave_execution_exception while x\n\n",
                  "error: 'x' undefined\n");
    expect_octave("e\nerror: ignoring octave_execution_exception\nerror: No such file or "
                  "directory\n",
                  "e\nerror: ignoring octave_execution_exception\n");
    expect_octave("e\nerror: No such file or directory\n\n", "e\n");
    /* blank lines are trimmed before the noise only: an empty line before it stays */
    expect_octave("\nerror: No such file or directory\n", "\n");
    expect_octave("error: No such file or directory\nerror: ignoring octave_execution_exception",
                  "");
    /* exactly that line, and each noise line once */
    expect_octave("error: No such file or directory!\n", "error: No such file or directory!\n");
    expect_octave("e\nerror: No such file or directory\nerror: No such file or directory\n",
                  "e\nerror: No such file or directory\n");
    expect_octave("  error: ignoring octave_execution_exception\n",
                  "  error: ignoring octave_execution_exception\n");

    /* the outcome is decided on the filtered stderr, as OctaveTask's */
    const jobe_lang *oct = jobe_lang_find("octave");
    json_t *v = J(TEST1("\"verdict\": \"accepted\", \"exit_code\": 0, \"stdout\": \"1\\n\", "
                        "\"stderr\": \"error: No such file or directory\\n\""));
    json_t *r = jobe_result_from_view(v, oct, false);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "outcome")), 15);
    ck_assert_str_eq(json_string_value(json_object_get(r, "stderr")), "");
    json_decref(r);
    r = jobe_result_from_view(v, jobe_lang_find("php"), false); /* only octave's is filtered */
    ck_assert_int_eq(json_integer_value(json_object_get(r, "outcome")), 12);
    json_decref(r);
    json_decref(v);
    v = J(TEST1("\"verdict\": \"runtime_error\", \"exit_code\": 1, \"stdout\": \"\", \"stderr\": "
                "\"error: boom\\r\\nerror: ignoring octave_execution_exception\\n\""));
    r = jobe_result_from_view(v, oct, false);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "outcome")), 12);
    ck_assert_str_eq(json_string_value(json_object_get(r, "stderr")), "error: boom\n");
    json_decref(r);
    json_decref(v);
}
END_TEST

static bool only_c(const jobe_lang *l, void *arg)
{
    return !strcmp(l->id, (const char *)arg);
}

START_TEST(languages_the_set_lacks_are_unknown)
{
    ck_assert(jobe_lang_find("php") && jobe_lang_find("pascal") && jobe_lang_find("octave"));
    ck_assert(!jobe_lang_find("python2") && !jobe_lang_find("matlab"));
    static const char *const ids[] = {"php", "pascal", "octave"};
    for (size_t i = 0; i < 3; i++) {
        char body[160];
        snprintf(body, sizeof(body),
                 "{\"run_spec\": {\"language_id\": \"%s\", \"sourcecode\": \"x\"}}", ids[i]);
        json_t *b = J(body);
        jobe_spec s;
        jobe_error e = {0};
        ck_assert_int_eq(jobe_spec_parse(b, only_c, "c", &s, &e), -EINVAL);
        char want[80];
        snprintf(want, sizeof(want), "Language '%s' is not known", ids[i]);
        ck_assert_str_eq(e.message, want);
        ck_assert_int_eq(jobe_spec_parse(b, only_c, (void *)ids[i], &s, &e), 0);
        jobe_spec_done(&s);
        json_decref(b);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jobe");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, errors_have_jobes_texts);
    tcase_add_test(tc, name_rules);
    tcase_add_test(tc, java_main_class);
    tcase_add_test(tc, c_commands_and_limits);
    tcase_add_test(tc, interpreted_and_java);
    tcase_add_test(tc, files_after_source);
    tcase_add_test(tc, bad_parameter_types);
    tcase_add_test(tc, clean_output);
    tcase_add_test(tc, outcomes);
    tcase_add_test(tc, debug_and_overload);
    tcase_add_test(tc, php_pascal_octave_commands);
    tcase_add_test(tc, octave_stderr_filter);
    tcase_add_test(tc, languages_the_set_lacks_are_unknown);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
