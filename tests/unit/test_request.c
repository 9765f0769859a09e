/* test_request.c — validation and normalization of submission requests
 * (daemon/request/request.c), against a small static package set of the test's own
 * (a temporary packages.json: nothing of the machine's dpkg) and a small
 * inline profile file. */
#include "testutil.h"

#include <jansson.h>

#include "../../common/cleanup.h"
#include "../../common/config.h"
#include "../../common/depset_key.h"
#include "../../common/hash.h"
#include "../../daemon/request/profiles.h"
#include "../../daemon/request/request.h"

static const char *PROFILES =
    "{\"py\": {\"packages\": [\"python3\"], \"run\": \"python3 main.py\", \"compile\": null,"
    "          \"limits\": {\"run\": {\"cpu_ms\": 5000}}},"
    " \"c\": {\"packages\": [\"gcc\"], \"compile\": \"gcc main.c\", \"run\": \"./a.out\","
    "        \"aliases\": [\"c17\", \"gnuc\"]}}";

static config *cfg;
static profiles *profs;
static char pkgset_dir[] = "/tmp/farm-unit-request-XXXXXX";
static request_opts opts;

static void setup(void)
{
    char err[512];
    ck_assert_int_eq(config_new_default(&cfg, err, sizeof(err)), 0);
    /* A static package set of the test's own: names are checked against it,
     * not against the machine's dpkg-derived set. */
    ck_assert_int_eq(config_set(cfg, "nix.dir", pkgset_dir, err, sizeof(err)), 0);
    ck_assert_int_eq(profiles_parse(PROFILES, NULL, &profs, err, sizeof(err)), 0);
    request_opts_from_config(&opts, cfg);
    opts.profiles = profs;
    opts.pkgset_id = "testset";
}

static void teardown(void)
{
    profiles_free(profs);
    config_free(cfg);
}

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &je);
    ck_assert_msg(j != NULL, "bad test JSON: %s", je.text);
    return j;
}

static int norm(const char *text, request_norm *n, request_error *e)
{
    json_t *in = J(text);
    int r = request_normalize(&opts, in, n, e);
    json_decref(in);
    return r;
}

static void expect_error(const char *text, int status, const char *field)
{
    request_norm n;
    request_error e;
    int r = norm(text, &n, &e);
    ck_assert_msg(r < 0, "accepted: %s", text);
    ck_assert_msg(e.status == status && !strcmp(e.field, field), "%s: got %d %s (%s), want %d %s",
                  text, e.status, e.field, e.message, status, field);
}

START_TEST(profile_resolves_packages_commands_and_limits)
{
    request_norm n;
    request_error e;
    ck_assert_int_eq(norm("{\"profile\": \"c\", \"packages\": [\"python3\"], "
                          "\"limits\": {\"run\": {\"wall_ms\": 999}}}",
                          &n, &e),
                     0);
    json_t *o = n.normalized;
    _cleanup_free_ char *pk = json_dumps(json_object_get(o, "packages"), JSON_COMPACT);
    ck_assert_str_eq(pk, "[\"bash\",\"gcc\",\"python3\"]"); /* sorted, bash added */
    ck_assert_str_eq(json_string_value(json_object_get(o, "compile")), "gcc main.c");
    ck_assert_str_eq(json_string_value(json_object_get(o, "run")), "./a.out");
    json_t *run = json_object_get(json_object_get(o, "limits"), "run");
    ck_assert_int_eq(json_integer_value(json_object_get(run, "wall_ms")), 999);
    ck_assert_int_eq(json_integer_value(json_object_get(run, "cpu_ms")), opts.def_run[0]);
    ck_assert_int_eq(json_object_size(run), REQUEST_N_LIMITS);
    const char *names[] = {"bash", "gcc", "python3"};
    char key[65];
    ck_assert_int_eq(depset_key_for_packages("testset", names, 3, key, NULL), 0);
    ck_assert_str_eq(n.depset_key, key);
    request_norm_done(&n);
}
END_TEST

START_TEST(alias_finds_its_profile)
{
    ck_assert_ptr_eq(profiles_get(profs, "c17"), profiles_get(profs, "c"));
    ck_assert_ptr_eq(profiles_get(profs, "gnuc"), profiles_get(profs, "c"));
    ck_assert_ptr_null(profiles_get(profs, "c18"));
    request_norm n;
    request_error e;
    ck_assert_int_eq(norm("{\"profile\": \"c17\"}", &n, &e), 0);
    ck_assert_str_eq(json_string_value(json_object_get(n.normalized, "compile")), "gcc main.c");
    request_norm_done(&n);
}
END_TEST

START_TEST(aliases_are_checked)
{
    profiles *p = NULL;
    char err[256];
    /* an alias that is another profile's name */
    ck_assert_int_lt(
        profiles_parse("{\"a\": {\"packages\": [\"x\"], \"run\": \"r\", \"aliases\": [\"b\"]},"
                       " \"b\": {\"packages\": [\"x\"], \"run\": \"r\"}}",
                       NULL, &p, err, sizeof(err)),
        0);
    ck_assert_msg(strstr(err, "alias b") != NULL, "%s", err);
    /* the same alias on two profiles */
    ck_assert_int_lt(
        profiles_parse("{\"a\": {\"packages\": [\"x\"], \"run\": \"r\", \"aliases\": [\"z\"]},"
                       " \"b\": {\"packages\": [\"x\"], \"run\": \"r\", \"aliases\": [\"z\"]}}",
                       NULL, &p, err, sizeof(err)),
        0);
    /* not an array of names */
    ck_assert_int_lt(
        profiles_parse("{\"a\": {\"packages\": [\"x\"], \"run\": \"r\", \"aliases\": \"z\"}}", NULL,
                       &p, err, sizeof(err)),
        0);
    ck_assert_msg(strstr(err, "aliases must be an array") != NULL, "%s", err);
    ck_assert_ptr_null(p);
}
END_TEST

START_TEST(profile_limits_sit_between_defaults_and_request)
{
    request_norm n;
    request_error e;
    ck_assert_int_eq(norm("{\"profile\": \"py\"}", &n, &e), 0);
    json_t *run = json_object_get(json_object_get(n.normalized, "limits"), "run");
    ck_assert_int_eq(json_integer_value(json_object_get(run, "cpu_ms")), 5000);
    ck_assert(json_is_null(json_object_get(n.normalized, "compile")));
    request_norm_done(&n);
}
END_TEST

START_TEST(no_tests_means_one_test_named_1)
{
    request_norm n;
    request_error e;
    ck_assert_int_eq(norm("{\"packages\": [\"bash\"], \"run\": \"echo\"}", &n, &e), 0);
    json_t *tests = json_object_get(n.normalized, "tests");
    ck_assert_int_eq(json_array_size(tests), 1);
    ck_assert_int_eq(n.n_tests, 1);
    json_t *t = json_array_get(tests, 0);
    ck_assert_str_eq(json_string_value(json_object_get(t, "name")), "1");
    ck_assert(json_is_null(json_object_get(t, "stdin_blob")));
    ck_assert(json_is_null(json_object_get(t, "expected_blob")));
    ck_assert_int_eq(json_object_size(json_object_get(t, "limits")), REQUEST_N_LIMITS);
    request_norm_done(&n);
}
END_TEST

START_TEST(contents_become_deduplicated_blobs)
{
    request_norm n;
    request_error e;
    ck_assert_int_eq(norm("{\"profile\": \"py\", \"files\": ["
                          "{\"name\": \"a\", \"content\": \"hi\\n\"},"
                          "{\"name\": \"d/b\", \"content\": \"aGkK\", \"encoding\": \"base64\","
                          " \"executable\": true}],"
                          " \"tests\": [{\"stdin\": \"hi\\n\", \"expected_output\": \"\"}]}",
                          &n, &e),
                     0);
    /* "hi\n" three times (file, base64 file, stdin) + "" = 2 blobs */
    ck_assert_int_eq(n.n_blobs, 2);
    char hi[65];
    hash_sha256_hex("hi\n", 3, hi);
    json_t *files = json_object_get(n.normalized, "files");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(files, 1), "blob")), hi);
    ck_assert(json_is_true(json_object_get(json_array_get(files, 1), "executable")));
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(files, 0), "size")), 3);
    json_t *t = json_array_get(json_object_get(n.normalized, "tests"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(t, "stdin_blob")), hi);
    ck_assert(json_is_string(json_object_get(t, "expected_blob")));
    request_norm_done(&n);
}
END_TEST

START_TEST(base64_is_strict)
{
    request_norm n;
    request_error e;
    const char *ok[] = {"YQ", "YQ==", "YWJj", "YW\nJj", "-_8"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"profile\": \"py\", \"files\": [{\"name\": \"a\", \"content\": \"%s\", "
                 "\"encoding\": \"base64\"}]}",
                 !strcmp(ok[i], "YW\nJj") ? "YW\\nJj" : ok[i]);
        ck_assert_msg(norm(text, &n, &e) == 0, "%s refused: %s", ok[i], e.message);
        request_norm_done(&n);
    }
    const char *bad[] = {"Y", "YQ=a", "YQ===", "Y Q", "a*"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"profile\": \"py\", \"files\": [{\"name\": \"a\", \"content\": \"%s\", "
                 "\"encoding\": \"base64\"}]}",
                 bad[i]);
        expect_error(text, 422, "files[0].content");
    }
}
END_TEST

START_TEST(file_names_stay_inside_the_box)
{
    const char *bad[] = {"/abs", "..",   "../a", "a/..", "a/../b", ".",
                         "./a",  "a//b", "a/",   "",     "a\\\\b", "a\\tb"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"profile\": \"py\", \"files\": [{\"name\": \"%s\", \"content\": \"\"}]}",
                 bad[i]);
        expect_error(text, 422, "files[0].name");
    }
    expect_error("{\"profile\": \"py\", \"files\": [{\"name\": \"x\", \"content\": \"\"},"
                 " {\"name\": \"x\", \"content\": \"1\"}]}",
                 422, "files[1].name");
    request_norm n;
    request_error e;
    ck_assert_int_eq(norm("{\"profile\": \"py\", \"files\": [{\"name\": \"a..b/.c/d\","
                          " \"content\": \"\"}]}",
                          &n, &e),
                     0);
    request_norm_done(&n);
}
END_TEST

START_TEST(limit_over_maximum_names_field_and_maximum)
{
    request_norm n;
    request_error e;
    char text[256], max[32];
    snprintf(text, sizeof(text),
             "{\"profile\": \"py\", \"limits\": {\"compile\": {\"cpu_ms\": %lld}}}",
             opts.max[0] + 1);
    ck_assert_int_lt(norm(text, &n, &e), 0);
    ck_assert_int_eq(e.status, 422);
    ck_assert_str_eq(e.field, "limits.compile.cpu_ms");
    ck_assert_str_eq(e.code, "limit_exceeded");
    snprintf(max, sizeof(max), "%lld", opts.max[0]);
    ck_assert_msg(strstr(e.message, max), "message lacks the maximum: %s", e.message);
}
END_TEST

START_TEST(expr_needs_the_scope)
{
    const char *text = "{\"expr\": \"let x = 1; in x\", \"run\": \"true\"}";
    expect_error(text, 403, "expr");
    opts.allow_expr = true;
    request_norm n;
    request_error e;
    ck_assert_int_eq(norm(text, &n, &e), 0);
    char key[65];
    ck_assert_int_eq(depset_key_for_expr("let x = 1; in x", key, NULL), 0);
    ck_assert_str_eq(n.depset_key, key);
    request_norm_done(&n);
    expect_error("{\"expr\": \"x\", \"profile\": \"py\"}", 422, "expr");
}
END_TEST

START_TEST(cache_key_covers_what_decides_the_result)
{
    request_norm a, b, c, d;
    request_error e;
    ck_assert_int_eq(norm("{\"profile\": \"py\", \"files\": [{\"name\": \"main.py\", "
                          "\"content\": \"print(1)\"}], \"callback_url\": \"http://x/a\"}",
                          &a, &e),
                     0);
    /* the same program spelt without the profile, other callback */
    ck_assert_int_eq(norm("{\"packages\": [\"python3\"], \"run\": \"python3 main.py\","
                          " \"limits\": {\"run\": {\"cpu_ms\": 5000}},"
                          " \"files\": [{\"name\": \"main.py\", \"content\": \"cHJpbnQoMSk=\","
                          " \"encoding\": \"base64\"}]}",
                          &b, &e),
                     0);
    ck_assert_str_eq(a.cache_key, b.cache_key);
    ck_assert_int_eq(norm("{\"profile\": \"py\", \"files\": [{\"name\": \"main.py\", "
                          "\"content\": \"print(1)\"}], \"limits\": {\"run\": {\"wall_ms\": 7}}}",
                          &c, &e),
                     0);
    ck_assert_str_ne(a.cache_key, c.cache_key);
    ck_assert_int_eq(norm("{\"profile\": \"py\", \"source\": {\"git\": {\"url\": "
                          "\"https://example.org/r.git\", \"rev\": \"main\"}}}",
                          &d, &e),
                     0);
    ck_assert(a.cacheable && !d.cacheable);
    request_norm_done(&a);
    request_norm_done(&b);
    request_norm_done(&c);
    request_norm_done(&d);
}
END_TEST

START_TEST(meta_is_kept_and_does_not_decide_the_result)
{
    request_norm a, b;
    request_error e;
    ck_assert_int_eq(norm("{\"profile\": \"py\", \"files\": [{\"name\": \"main.py\", "
                          "\"content\": \"print(1)\"}], \"meta\": {\"front\": \"judge0\", "
                          "\"language_id\": 71}}",
                          &a, &e),
                     0);
    ck_assert_int_eq(norm("{\"profile\": \"py\", \"files\": [{\"name\": \"main.py\", "
                          "\"content\": \"print(1)\"}]}",
                          &b, &e),
                     0);
    json_t *meta = json_object_get(a.normalized, "meta");
    ck_assert(json_is_object(meta));
    ck_assert_int_eq(json_integer_value(json_object_get(meta, "language_id")), 71);
    ck_assert_str_eq(a.cache_key, b.cache_key);
    request_norm_done(&a);
    request_norm_done(&b);
    expect_error("{\"profile\": \"py\", \"files\": [{\"name\": \"main.py\", "
                 "\"content\": \"x\"}], \"meta\": [1]}",
                 422, "meta");
    /* past 16384 bytes as JSON */
    size_t n = 20000;
    char *big = malloc(n + 200);
    ck_assert_ptr_nonnull(big);
    int k = snprintf(big, 200,
                     "{\"profile\": \"py\", \"files\": [{\"name\": \"main.py\", "
                     "\"content\": \"x\"}], \"meta\": {\"a\": \"");
    memset(big + k, 'x', n);
    strcpy(big + k + n, "\"}}");
    expect_error(big, 422, "meta");
    free(big);
}
END_TEST

START_TEST(live_has_one_test_and_skips_the_cache)
{
    request_norm a;
    request_error e;
    ck_assert_int_eq(norm("{\"profile\": \"py\", \"files\": [{\"name\": \"main.py\", "
                          "\"content\": \"print(1)\"}], \"live\": true, \"cache\": true}",
                          &a, &e),
                     0);
    ck_assert(json_is_true(json_object_get(a.normalized, "live")));
    ck_assert(!a.use_cache); /* a live run is never answered from the cache */
    request_norm_done(&a);
    ck_assert_int_eq(norm("{\"profile\": \"py\", \"files\": [{\"name\": \"main.py\", "
                          "\"content\": \"print(1)\"}], \"live\": false}",
                          &a, &e),
                     0);
    ck_assert_ptr_null(json_object_get(a.normalized, "live"));
    request_norm_done(&a);
    expect_error("{\"profile\": \"py\", \"files\": [{\"name\": \"main.py\", "
                 "\"content\": \"x\"}], \"live\": true, \"tests\": [{}, {}]}",
                 422, "live");
    expect_error("{\"profile\": \"py\", \"files\": [{\"name\": \"main.py\", "
                 "\"content\": \"x\"}], \"live\": \"yes\"}",
                 422, "live");
}
END_TEST

START_TEST(unknown_package_lists_close_names)
{
    request_norm n;
    request_error e;
    ck_assert_int_lt(norm("{\"packages\": [\"bash\", \"pyhton3\"], \"run\": \"x\"}", &n, &e), 0);
    ck_assert_int_eq(e.status, 422);
    ck_assert_str_eq(e.field, "packages[1]");
    ck_assert_msg(strstr(e.message, "python3"), "no suggestion: %s", e.message);
    ck_assert_int_lt(norm("{\"profile\": \"cobol\"}", &n, &e), 0);
    ck_assert_msg(strstr(e.message, "py") && strstr(e.message, "c"), "%s", e.message);
}
END_TEST

START_TEST(body_parse_errors_are_400)
{
    json_t *j = NULL;
    request_error e;
    ck_assert_int_lt(request_parse_body("{\"a\": 1, \"a\": 2}", 16, &j, &e), 0);
    ck_assert_int_eq(e.status, 400);
    ck_assert_str_eq(e.field, "body");
    ck_assert_int_lt(request_parse_body(NULL, 0, &j, &e), 0);
    ck_assert_int_eq(request_parse_body("{\"a\": \"x\\u0000y\"}", 17, &j, &e), 0);
    json_decref(j);
    expect_error("[]", 400, "body");
}
END_TEST

/* Issue 10: 40 tests with their own stdin and expected output answered 500;
 * each test's blob names must be the hashes of its own contents. */
START_TEST(many_tests_keep_their_own_blobs)
{
    for (int n = 10; n <= 200; n += 30) {
        json_t *tests = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(tests, json_pack("{s:s%, s:s%}", "stdin", "in", (size_t)2,
                                                   "expected_output", "out", (size_t)3));
        for (int i = 0; i < n; i++) {
            char in[32], out[32];
            snprintf(in, sizeof(in), "%d\n", i);
            snprintf(out, sizeof(out), "%d\n", 2 * i + 1);
            json_object_set_new(json_array_get(tests, i), "stdin", json_string(in));
            json_object_set_new(json_array_get(tests, i), "expected_output", json_string(out));
        }
        json_t *in = json_pack("{s:s, s:[{s:s, s:s}], s:o}", "profile", "py", "files", "name",
                               "main.py", "content", "print(1)", "tests", tests);
        request_norm nr;
        request_error e;
        ck_assert_msg(request_normalize(&opts, in, &nr, &e) == 0, "%d tests: %d %s", n, e.status,
                      e.message);
        json_t *nt = json_object_get(nr.normalized, "tests");
        ck_assert_int_eq((int)json_array_size(nt), n);
        for (int i = 0; i < n; i++) {
            char buf[32], hex[65];
            snprintf(buf, sizeof(buf), "%d\n", i);
            hash_sha256_hex(buf, strlen(buf), hex);
            ck_assert_str_eq(
                json_string_value(json_object_get(json_array_get(nt, i), "stdin_blob")), hex);
            snprintf(buf, sizeof(buf), "%d\n", 2 * i + 1);
            hash_sha256_hex(buf, strlen(buf), hex);
            ck_assert_str_eq(
                json_string_value(json_object_get(json_array_get(nt, i), "expected_blob")), hex);
        }
        request_norm_done(&nr);
        json_decref(in);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("request");
    TCase *tc = tcase_create("normalize");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, profile_resolves_packages_commands_and_limits);
    tcase_add_test(tc, alias_finds_its_profile);
    tcase_add_test(tc, aliases_are_checked);
    tcase_add_test(tc, profile_limits_sit_between_defaults_and_request);
    tcase_add_test(tc, no_tests_means_one_test_named_1);
    tcase_add_test(tc, contents_become_deduplicated_blobs);
    tcase_add_test(tc, base64_is_strict);
    tcase_add_test(tc, file_names_stay_inside_the_box);
    tcase_add_test(tc, limit_over_maximum_names_field_and_maximum);
    tcase_add_test(tc, meta_is_kept_and_does_not_decide_the_result);
    tcase_add_test(tc, expr_needs_the_scope);
    tcase_add_test(tc, cache_key_covers_what_decides_the_result);
    tcase_add_test(tc, unknown_package_lists_close_names);
    tcase_add_test(tc, body_parse_errors_are_400);
    tcase_add_test(tc, many_tests_keep_their_own_blobs);
    tcase_add_test(tc, live_has_one_test_and_skips_the_cache);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!mkdtemp(pkgset_dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/packages.json", pkgset_dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        rmdir(pkgset_dir);
        return 1;
    }
    fputs("{\"bash\": {}, \"busybox\": {}, \"coreutils\": {}, \"gcc\": {}, \"python3\": {}}", f);
    fclose(f);
    int r = testutil_main(suite());
    unlink(path);
    rmdir(pkgset_dir);
    return r;
}
