/* test_piston.c — the Piston front's pure parts: node-semver ranges
 * (daemon/compat/semver.c), the runtimes table and its lookup
 * (piston_runtimes.c), and the request/response translation
 * (piston_translate.c) with Piston's error texts. */
#include "testutil.h"

#include <jansson.h>

#include "../../daemon/compat/piston_translate.h"
#include "../../daemon/compat/semver.h"

static int sat(const char *v, const char *range)
{
    semver s;
    ck_assert_msg(semver_parse(v, &s) == 0, "parse %s", v);
    return semver_satisfies(&s, range);
}

START_TEST(semver_ranges_follow_node_semver)
{
    static const struct {
        const char *v, *range;
        int want;
    } cases[] = {
        {"3.11.2", "*", 1},
        {"3.11.2", "", 1},
        {"3.11.2", "x", 1},
        {"3.11.2", "3", 1},
        {"3.11.2", "3.x", 1},
        {"3.11.2", "3.11", 1},
        {"3.11.2", "3.11.x", 1},
        {"3.11.2", "3.11.2", 1},
        {"3.11.2", "=3.11.2", 1},
        {"3.11.2", "v3.11.2", 1},
        {"3.11.2", "3.11.1", 0},
        {"3.11.2", "2", 0},
        {"3.11.2", "4.x", 0},
        {"3.11.2", "^3.10", 1},
        {"3.11.2", "^3.12", 0},
        {"3.11.2", "^3", 1},
        {"3.11.2", "^2", 0},
        {"0.2.5", "^0.2.3", 1},
        {"0.3.0", "^0.2.3", 0},
        {"0.0.3", "^0.0.3", 1},
        {"0.0.4", "^0.0.3", 0},
        {"0.1.9", "^0.x", 1},
        {"1.0.0", "^0.x", 0},
        {"0.0.9", "^0.0", 1},
        {"0.1.0", "^0.0", 0},
        {"3.11.2", "~3.11.0", 1},
        {"3.12.0", "~3.11.0", 0},
        {"3.11.2", "~3", 1},
        {"3.11.2", ">=3.10 <4", 1},
        {"4.0.0", ">=3.10 <4", 0},
        {"3.11.2", ">3.11", 0},
        {"3.12.0", ">3.11", 1},
        {"3.11.2", "<=3.11", 1},
        {"3.12.0", "<=3.11", 0},
        {"3.11.2", ">3", 0},
        {"4.0.0", ">3", 1},
        {"3.11.2", "<3", 0},
        {"2.9.9", "<3", 1},
        {"3.11.2", "2 || 3", 1},
        {"3.11.2", "1 || 2", 0},
        {"3.11.2", "3.0 - 3.11", 1},
        {"3.12.0", "3.0 - 3.11", 0},
        {"3.11.2", "3.11.3 - 4", 0},
        {"3.11.2", ">= 3.11.2", 1},
        {"3.11.2", ">*", 0},
        {"3.11.2", "<*", 0},
        {"3.0.0-rc.1", "*", 0},
        {"3.0.0-rc.1", ">=3.0.0-rc.0", 1},
        {"3.0.1-rc.1", ">=3.0.0-rc.0", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
        ck_assert_msg(sat(cases[i].v, cases[i].range) == cases[i].want, "%s in \"%s\": want %d",
                      cases[i].v, cases[i].range, cases[i].want);
}
END_TEST

START_TEST(semver_bad_input_is_refused)
{
    semver s;
    ck_assert_int_lt(semver_parse("3.11", &s), 0);
    ck_assert_int_lt(semver_parse("a.b.c", &s), 0);
    ck_assert_int_lt(semver_parse("1.2.3.4", &s), 0);
    ck_assert_int_eq(semver_parse("1.2.3", &s), 0);
    ck_assert_int_lt(semver_satisfies(&s, "not a range"), 0);
    ck_assert_int_lt(semver_satisfies(&s, ">=1.2.3.4"), 0);
    ck_assert_int_lt(semver_satisfies(&s, "1.2.3-"), 0);
    semver a, b;
    semver_parse("1.0.0-alpha", &a);
    semver_parse("1.0.0-alpha.1", &b);
    ck_assert_int_lt(semver_cmp(&a, &b), 0);
    semver_parse("1.0.0-alpha.beta", &a);
    ck_assert_int_gt(semver_cmp(&a, &b), 0);
    semver_parse("1.0.0", &b);
    ck_assert_int_lt(semver_cmp(&a, &b), 0);
    ck_assert_int_eq(semver_coerce("17.0.15+6", &a), 0);
    ck_assert_int_eq(a.major * 10000 + a.minor * 100 + a.patch, 170015);
    ck_assert_int_eq(semver_coerce("1.6", &a), 0);
    ck_assert_int_eq(a.minor * 100 + a.patch, 600);
    ck_assert_int_eq(semver_coerce("1:2.3.4-5", &a), 0);
    ck_assert_int_eq(a.major, 2);
    ck_assert_int_lt(semver_coerce("none", &a), 0);
}
END_TEST

static const char *PKGS = "{\"python3\": {\"version\": \"3.11.2\"}, \"gcc\": {\"version\": "
                          "\"12.2.0\"}, \"bash\": {\"version\": \"5.2.15\"}, \"coreutils\": "
                          "{\"version\": \"9.1\"}, \"lua\": "
                          "{\"version\": \"5.4.4\"}, \"nodejs\": {\"version\": \"20.20.2\"}}";

static piston_runtime *rts;
static size_t n_rts;

static void load(void)
{
    json_t *p = json_loads(PKGS, 0, NULL);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(piston_runtimes_build(p, &rts, &n_rts), 0);
    json_decref(p);
}

static void unload(void)
{
    free(rts);
    rts = NULL;
}

START_TEST(runtimes_list_and_aliases)
{
    load();
    json_t *j = piston_runtimes_json(rts, n_rts);
    ck_assert_uint_eq(json_array_size(j), 6); /* python c c++ bash javascript lua */
    json_t *c = json_array_get(j, 1);
    ck_assert_str_eq(json_string_value(json_object_get(c, "language")), "c");
    ck_assert_str_eq(json_string_value(json_object_get(c, "version")), "12.2.0");
    ck_assert_str_eq(json_string_value(json_object_get(c, "runtime")), "gcc");
    ck_assert_ptr_null(json_object_get(json_array_get(j, 0), "runtime"));
    json_decref(j);
    static const char *const names[][2] = {
        {"py", "python"},
        {"py3", "python"},
        {"python3", "python"},
        {"gcc", "c"},
        {"cpp", "c++"},
        {"g++", "c++"},
        {"sh", "bash"},
        {"js", "javascript"},
        {"node-js", "javascript"},
        {"node-javascript", "javascript"},
        {"lua", "lua"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
        const piston_runtime *r = piston_runtime_find(rts, n_rts, names[i][0], "*");
        ck_assert_msg(r != NULL, "%s", names[i][0]);
        ck_assert_str_eq(r->lang->language, names[i][1]);
    }
    ck_assert_ptr_null(piston_runtime_find(rts, n_rts, "perl", "*")); /* not in this set */
    ck_assert_ptr_null(piston_runtime_find(rts, n_rts, "python", "2"));
    ck_assert_ptr_nonnull(piston_runtime_find(rts, n_rts, "python", "^3.10"));
    unload();
}
END_TEST

START_TEST(highest_satisfying_version_wins)
{
    piston_runtime two[2] = {{&piston_langs[0], {3, 9, 1, ""}, "3.9.1"},
                             {&piston_langs[0], {3, 11, 2, ""}, "3.11.2"}};
    ck_assert_str_eq(piston_runtime_find(two, 2, "python", "*")->version_str, "3.11.2");
    ck_assert_str_eq(piston_runtime_find(two, 2, "python", "3.9")->version_str, "3.9.1");
    ck_assert_str_eq(piston_runtime_find(two, 2, "py", "<3.11")->version_str, "3.9.1");
}
END_TEST

static char msg[512];

static piston_maxima maxima = {20000, 10000, 512 * 1024 * 1024LL};

static int tr(const char *body, json_t **v1)
{
    load();
    json_t *b = json_loads(body, 0, NULL);
    ck_assert_msg(b != NULL, "bad test json %s", body);
    const piston_runtime *rt = NULL;
    msg[0] = '\0';
    int r = piston_request_to_v1(b, rts, n_rts, &maxima, v1, &rt, msg, sizeof(msg));
    json_decref(b);
    unload();
    return r;
}

static void refused(const char *body, const char *want)
{
    json_t *v1 = NULL;
    ck_assert_msg(tr(body, &v1) == -EINVAL, "accepted %s", body);
    ck_assert_ptr_null(v1);
    ck_assert_str_eq(msg, want);
}

START_TEST(request_errors_use_pistons_texts)
{
    refused("{}", "language is required as a string");
    refused("{\"language\": 3}", "language is required as a string");
    refused("{\"language\": \"\"}", "language is required as a string");
    refused("{\"language\": \"py\"}", "version is required as a string");
    refused("{\"language\": \"py\", \"version\": \"*\"}", "files is required as an array");
    refused("{\"language\": \"py\", \"version\": \"*\", \"files\": {}}",
            "files is required as an array");
    refused("{\"language\": \"py\", \"version\": \"*\", \"files\": [{\"content\": \"x\"}, {}]}",
            "files[1].content is required as a string");
    refused("{\"language\": \"cobol\", \"version\": \"*\", \"files\": []}",
            "cobol-* runtime is unknown");
    refused("{\"language\": \"py\", \"version\": \"2.x\", \"files\": []}",
            "py-2.x runtime is unknown");
    refused("{\"language\": \"py\", \"version\": \"*\", \"files\": [{\"content\": \"eA==\", "
            "\"encoding\": \"base64\"}]}",
            "files must include at least one utf8 encoded file");
    refused("{\"language\": \"py\", \"version\": \"*\", \"files\": [{\"content\": \"x\"}], "
            "\"run_timeout\": \"5\"}",
            "If specified, run_timeout must be a number");
    refused("{\"language\": \"py\", \"version\": \"*\", \"files\": [{\"content\": \"x\"}], "
            "\"run_timeout\": 20001}",
            "run_timeout cannot exceed the configured limit of 20000");
    refused("{\"language\": \"py\", \"version\": \"*\", \"files\": [{\"content\": \"x\"}], "
            "\"compile_cpu_time\": -5}",
            "compile_cpu_time must be non-negative");
    refused("{\"language\": \"py\", \"version\": \"*\", \"files\": [{\"content\": \"x\"}], "
            "\"run_memory_limit\": 1e300}",
            "run_memory_limit cannot exceed the configured limit of 536870912");
    refused("{\"language\": \"py\", \"version\": \"*\", \"files\": [{\"content\": \"x\", "
            "\"name\": \"../x\"}]}",
            "File path \"../x\" tries to escape parent directory");
    refused("{\"language\": \"py\", \"version\": \"*\", \"files\": [{\"content\": \"x\"}, "
            "{\"content\": \"zz\", \"encoding\": \"hex\"}]}",
            "files[1].content is not valid hex");
    refused("{\"language\": \"py\", \"version\": \"*\", \"files\": [{\"content\": \"x\"}], "
            "\"args\": [{}]}",
            "args[0] must be a string");
    /* no maxima configured: still no overflow into the v1 limits */
    maxima = (piston_maxima){0, 0, 0};
    refused("{\"language\": \"py\", \"version\": \"*\", \"files\": [{\"content\": \"x\"}], "
            "\"run_memory_limit\": 1e300}",
            "run_memory_limit cannot exceed 1000000000000000");
    refused("{\"language\": \"py\", \"version\": \"*\", \"files\": [{\"content\": \"x\"}], "
            "\"run_timeout\": 9.3e18}",
            "run_timeout cannot exceed 1000000000000000");
    maxima = (piston_maxima){20000, 10000, 512 * 1024 * 1024LL};
}
END_TEST

START_TEST(request_translates_every_field)
{
    json_t *v1 = NULL;
    ck_assert_int_eq(
        tr("{\"language\": \"gcc\", \"version\": \"12\", \"files\": [{\"content\": \"int "
           "main(){}\"}, {\"name\": \"lib/../inc/x.h\", \"content\": \"\"}, {\"name\": "
           "\"d.bin\", \"content\": \"00ff\", \"encoding\": \"hex\"}, {\"name\": \"it's.txt\", "
           "\"content\": \"aGk=\", \"encoding\": \"base64\"}], \"stdin\": \"1 2\", \"args\": "
           "[\"1\", 2, true], \"compile_timeout\": 10000, \"run_timeout\": 3000, "
           "\"run_cpu_time\": 500, \"run_memory_limit\": 1000, \"compile_memory_limit\": -1}",
           &v1),
        0);
    char *s = json_dumps(v1, JSON_SORT_KEYS | JSON_COMPACT);
    ck_assert_str_eq(
        s, "{\"compile\":\"gcc -std=gnu17 -O2 -pipe -x c 'file0.code' 'inc/x.h' -o a.out -lm\","
           "\"files\":[{\"content\":\"int main(){}\",\"encoding\":\"utf8\",\"name\":"
           "\"file0.code\"},{\"content\":\"\",\"encoding\":\"utf8\",\"name\":\"inc/x.h\"},"
           "{\"content\":\"AP8=\",\"encoding\":\"base64\",\"name\":\"d.bin\"},{\"content\":"
           "\"aGk=\",\"encoding\":\"base64\",\"name\":\"it's.txt\"}],\"limits\":{\"compile\":"
           "{\"wall_ms\":10000},\"run\":{\"cpu_ms\":500,\"memory_kib\":1,\"wall_ms\":3000}},"
           "\"packages\":[\"gcc\"],\"run\":\"./a.out\",\"tests\":[{\"args\":[\"1\",\"2\","
           "\"true\"],\"name\":\"run\",\"stdin\":\"1 2\\n\"}]}");
    free(s);
    json_decref(v1);
    /* interpreted: no compile; quoting of the entry; empty stdin is "\n" */
    ck_assert_int_eq(tr("{\"language\": \"python\", \"version\": \"3.11.2\", \"files\": "
                        "[{\"name\": \"/a b'c.py\", \"content\": \"print(1)\"}], "
                        "\"compile_timeout\": 999999}",
                        &v1),
                     -EINVAL); /* still checked against the maximum */
    ck_assert_int_eq(tr("{\"language\": \"python\", \"version\": \"3.11.2\", \"files\": "
                        "[{\"name\": \"/a b'c.py\", \"content\": \"print(1)\"}], "
                        "\"compile_timeout\": 10000, \"args\": [\"1\",\"2\",\"3\"]}",
                        &v1),
                     0);
    ck_assert_ptr_null(json_object_get(v1, "compile"));
    ck_assert_str_eq(json_string_value(json_object_get(v1, "run")), "python3 'a b'\\''c.py'");
    json_t *t = json_array_get(json_object_get(v1, "tests"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(t, "stdin")), "\n");
    ck_assert_ptr_null(json_object_get(json_object_get(v1, "limits"), "compile"));
    json_decref(v1);
}
END_TEST

static json_t *stage(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(j);
    json_t *o = piston_stage_from_v1(j, false, NULL);
    json_decref(j);
    return o;
}

#define S(o, k) json_string_value(json_object_get(o, k))

START_TEST(stage_statuses)
{
    json_t *o = stage("{\"exit_code\": 0, \"signal\": null, \"stdout\": \"a\", \"stderr\": "
                      "\"b\", \"cpu_ms\": 3, \"wall_ms\": 4, \"memory_kib\": 10, \"limit\": "
                      "null}");
    ck_assert(json_is_null(json_object_get(o, "status")));
    ck_assert(json_is_null(json_object_get(o, "message")));
    ck_assert(json_is_null(json_object_get(o, "signal")));
    ck_assert_int_eq(json_integer_value(json_object_get(o, "code")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "memory")), 10240);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "cpu_time")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "wall_time")), 4);
    ck_assert_str_eq(S(o, "output"), "ab");
    json_decref(o);
    o = stage("{\"exit_code\": 3, \"signal\": null, \"limit\": null}");
    ck_assert_str_eq(S(o, "status"), "RE");
    ck_assert_str_eq(S(o, "message"), "Exited with error status 3");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "code")), 3);
    json_decref(o);
    o = stage("{\"exit_code\": null, \"signal\": \"SIGSEGV\", \"limit\": null}");
    ck_assert_str_eq(S(o, "status"), "SG");
    ck_assert_str_eq(S(o, "signal"), "SIGSEGV");
    ck_assert_str_eq(S(o, "message"), "Caught fatal signal 11");
    ck_assert(json_is_null(json_object_get(o, "code")));
    json_decref(o);
    o = stage("{\"exit_code\": null, \"signal\": \"SIGKILL\", \"limit\": \"wall\"}");
    ck_assert_str_eq(S(o, "status"), "TO");
    ck_assert_str_eq(S(o, "signal"), "SIGKILL");
    json_decref(o);
    o = stage("{\"exit_code\": 0, \"signal\": null, \"limit\": \"cpu\"}");
    ck_assert_str_eq(S(o, "status"), "TO");
    ck_assert_str_eq(S(o, "signal"), "SIGKILL");
    ck_assert(json_is_null(json_object_get(o, "code")));
    json_decref(o);
    o = stage("{\"exit_code\": null, \"signal\": null, \"limit\": \"output\", "
              "\"stdout_truncated\": true}");
    ck_assert_str_eq(S(o, "status"), "OL");
    ck_assert_str_eq(S(o, "message"), "stdout length exceeded");
    ck_assert_str_eq(S(o, "signal"), "SIGKILL");
    json_decref(o);
    o = stage("{\"limit\": \"output\", \"stderr_truncated\": true}");
    ck_assert_str_eq(S(o, "status"), "EL");
    json_decref(o);
    o = stage("{\"stdout\": \"a1\", \"stderr\": \"b\u00e9\", \"output_order\": [[\"stdout\", "
              "1], [\"stderr\", 1], [\"stdout\", 5], [\"stderr\", 2]]}");
    ck_assert_str_eq(S(o, "output"), "ab1\xc3\xa9");
    json_decref(o);
    o = stage("{\"stdout\": \"\u00e9\", \"stderr\": \"x\", \"output_order\": [[\"stdout\", "
              "1], [\"stderr\", 1], [\"stdout\", 1]]}");
    ck_assert_str_eq(S(o, "output"), "\xc3\xa9x");
    json_decref(o);
    /* not UTF-8 (v1 sends base64): shown with U+FFFD as Node would */
    o = stage("{\"stdout\": \"aP8=\", \"stderr\": \"\", \"encoding\": \"base64\"}");
    ck_assert_str_eq(S(o, "stdout"), "h\xef\xbf\xbd");
    ck_assert_str_eq(S(o, "output"), "h\xef\xbf\xbd");
    json_decref(o);
    o = stage("{\"stdout\": \"7aCA4oKs8JCAgPSQgIA=\", \"encoding\": \"base64\"}");
    /* a surrogate (ED A0 80) is 3 x U+FFFD; the euro sign and U+10000 stay; F4 90 is past U+10FFFF
     */
    ck_assert_str_eq(S(o, "stdout"),
                     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xe2\x82\xac\xf0\x90\x80\x80"
                     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(o);
    json_t *j = json_loads("{}", 0, NULL);
    o = piston_stage_from_v1(j, true, "boom");
    ck_assert_str_eq(S(o, "status"), "XX");
    ck_assert_str_eq(S(o, "message"), "boom");
    json_decref(o);
    json_decref(j);
}
END_TEST

START_TEST(response_shapes)
{
    load();
    const piston_runtime *c = piston_runtime_find(rts, n_rts, "c", "*");
    const piston_runtime *py = piston_runtime_find(rts, n_rts, "python", "*");
    json_t *v = json_loads("{\"state\": \"compile_error\", \"compile\": {\"exit_code\": 1, "
                           "\"stderr\": \"err\", \"stdout\": \"\"}, \"tests\": []}",
                           0, NULL);
    json_t *o = piston_response_from_view(v, c, msg, sizeof(msg));
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(S(o, "language"), "c");
    ck_assert_str_eq(S(o, "version"), "12.2.0");
    ck_assert(json_equal(json_object_get(o, "run"), json_object_get(o, "compile")));
    ck_assert_str_eq(S(json_object_get(o, "run"), "output"), "err");
    ck_assert_str_eq(S(json_object_get(o, "run"), "status"), "RE");
    json_decref(o);
    json_decref(v);
    v = json_loads("{\"state\": \"finished\", \"compile\": null, \"tests\": [{\"exit_code\": 0, "
                   "\"stdout\": \"hi\"}]}",
                   0, NULL);
    o = piston_response_from_view(v, py, msg, sizeof(msg));
    ck_assert_ptr_null(json_object_get(o, "compile"));
    ck_assert_str_eq(S(json_object_get(o, "run"), "stdout"), "hi");
    json_decref(o);
    json_decref(v);
    v = json_loads("{\"state\": \"internal_error\", \"error\": \"disk\", \"tests\": []}", 0, NULL);
    o = piston_response_from_view(v, c, msg, sizeof(msg));
    ck_assert_str_eq(S(json_object_get(o, "run"), "status"), "XX");
    ck_assert_str_eq(S(json_object_get(o, "compile"), "status"), "XX");
    json_decref(o);
    json_decref(v);
    v = json_loads("{\"state\": \"deps_failed\", \"error\": \"no gcc\"}", 0, NULL);
    ck_assert_ptr_null(piston_response_from_view(v, c, msg, sizeof(msg)));
    ck_assert_str_eq(msg, "the job ended deps_failed: no gcc");
    json_decref(v);
    unload();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("piston");
    TCase *tc = tcase_create("piston");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, semver_ranges_follow_node_semver);
    tcase_add_test(tc, semver_bad_input_is_refused);
    tcase_add_test(tc, runtimes_list_and_aliases);
    tcase_add_test(tc, highest_satisfying_version_wins);
    tcase_add_test(tc, request_errors_use_pistons_texts);
    tcase_add_test(tc, request_translates_every_field);
    tcase_add_test(tc, stage_statuses);
    tcase_add_test(tc, response_shapes);
    suite_add_tcase(s, tc);
    return testutil_main(s);
}
