/* test_config.c — defaults, JSON file (flat and nested), FARM_ environment
 * overrides, and errors that name the key. */
#include "testutil.h"

#include "config.h"

static char *write_file(const char *name, const char *text)
{
    const char *dir = testutil_newdir();
    char *path = NULL;
    ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

START_TEST(defaults_without_file)
{
    unsetenv("FARM_CONFIG");
    config *c = NULL;
    char err[256];
    char cwd[4096], want[4200];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    ck_assert_int_eq(config_load(NULL, &c, err, sizeof(err)), 0);
    /* The default ./var/nixfarm is made absolute against the working
     * directory, so boxes and sockets do not depend on a later chdir. */
    snprintf(want, sizeof(want), "%s/var/nixfarm", cwd);
    ck_assert_str_eq(config_str(c, "state_dir"), want);
    ck_assert_int_eq(config_int(c, "lease.ms"), 30000);
    ck_assert_int_eq(config_int(c, "queue.max_attempts"), 3);
    char *p = config_state_path(c, "farm.db");
    snprintf(want, sizeof(want), "%s/var/nixfarm/farm.db", cwd);
    ck_assert_str_eq(p, want);
    free(p);
    ck_assert_int_eq(config_set(c, "state_dir", "rel/dir", err, sizeof(err)), 0);
    snprintf(want, sizeof(want), "%s/rel/dir", cwd);
    ck_assert_str_eq(config_str(c, "state_dir"), want);
    /* Every path-typed key, not only state_dir; plain strings stay as given. */
    ck_assert_int_eq(config_set(c, "nix.dir", "./pkgs", err, sizeof(err)), 0);
    snprintf(want, sizeof(want), "%s/pkgs", cwd);
    ck_assert_str_eq(config_str(c, "nix.dir"), want);
    ck_assert_int_eq(config_set(c, "cache.export_url", "file://rel", err, sizeof(err)), 0);
    ck_assert_str_eq(config_str(c, "cache.export_url"), "file://rel");
    config_free(c);
}
END_TEST

START_TEST(flat_and_nested_file)
{
    char *path = write_file("c.json", "{\"lease.ms\": 1234, \"queue\": {\"poll_ms\": 77},"
                                      " \"state_dir\": \"/srv/farm\"}");
    config *c = NULL;
    char err[256];
    ck_assert_int_eq(config_load(path, &c, err, sizeof(err)), 0);
    ck_assert_int_eq(config_int(c, "lease.ms"), 1234);
    ck_assert_int_eq(config_int(c, "queue.poll_ms"), 77);
    ck_assert_str_eq(config_str(c, "state_dir"), "/srv/farm");
    config_free(c);
    free(path);
}
END_TEST

START_TEST(env_overrides_file)
{
    char *path = write_file("c.json", "{\"lease.ms\": 1234}");
    setenv("FARM_LEASE_MS", "999", 1);
    setenv("FARM_HEALTH_INTERVAL_MS", "5", 1);
    config *c = NULL;
    char err[256];
    ck_assert_int_eq(config_load(path, &c, err, sizeof(err)), 0);
    ck_assert_int_eq(config_int(c, "lease.ms"), 999);
    ck_assert_int_eq(config_int(c, "health.interval_ms"), 5);
    config_free(c);
    unsetenv("FARM_LEASE_MS");
    unsetenv("FARM_HEALTH_INTERVAL_MS");
    free(path);
}
END_TEST

START_TEST(config_env_names_the_file)
{
    char *path = write_file("c.json", "{\"queue.poll_ms\": 42}");
    setenv("FARM_CONFIG", path, 1);
    config *c = NULL;
    char err[256];
    ck_assert_int_eq(config_load(NULL, &c, err, sizeof(err)), 0);
    ck_assert_int_eq(config_int(c, "queue.poll_ms"), 42);
    config_free(c);
    unsetenv("FARM_CONFIG");
    free(path);
}
END_TEST

START_TEST(unknown_key_is_named)
{
    char *path = write_file("c.json", "{\"queue\": {\"pol_ms\": 1}}");
    config *c = NULL;
    char err[256] = "";
    ck_assert_int_eq(config_load(path, &c, err, sizeof(err)), -EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(err, "queue.pol_ms"));
    free(path);
}
END_TEST

START_TEST(wrong_type_is_named)
{
    char *path = write_file("c.json", "{\"lease.ms\": \"soon\"}");
    config *c = NULL;
    char err[256] = "";
    ck_assert_int_eq(config_load(path, &c, err, sizeof(err)), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "lease.ms"));
    ck_assert_ptr_nonnull(strstr(err, "integer"));
    free(path);
}
END_TEST

START_TEST(bad_env_value_is_named)
{
    setenv("FARM_LEASE_MS", "12x", 1);
    config *c = NULL;
    char err[256] = "";
    ck_assert_int_eq(config_new_default(&c, err, sizeof(err)), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "FARM_LEASE_MS"));
    unsetenv("FARM_LEASE_MS");
}
END_TEST

START_TEST(missing_and_broken_files)
{
    config *c = NULL;
    char err[256] = "";
    ck_assert_int_eq(config_load("/nonexistent/farm.json", &c, err, sizeof(err)), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/farm.json"));
    char *path = write_file("c.json", "{\"lease.ms\": ");
    ck_assert_int_eq(config_load(path, &c, err, sizeof(err)), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "line"));
    free(path);
}
END_TEST

START_TEST(set_and_dump)
{
    config *c = NULL;
    char err[256] = "";
    ck_assert_int_eq(config_new_default(&c, err, sizeof(err)), 0);
    ck_assert_int_eq(config_set(c, "lease.ms", "5", err, sizeof(err)), 0);
    ck_assert_int_eq(config_int(c, "lease.ms"), 5);
    ck_assert_int_eq(config_set(c, "lease.ms", "five", err, sizeof(err)), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "lease.ms"));
    ck_assert_int_eq(config_set(c, "no.such", "1", err, sizeof(err)), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "no.such"));
    json_t *d = config_dump(c);
    json_t *lease = json_object_get(d, "lease.ms");
    ck_assert_int_eq(json_integer_value(json_object_get(lease, "value")), 5);
    ck_assert_str_eq(json_string_value(json_object_get(lease, "default")), "30000");
    ck_assert_ptr_nonnull(json_object_get(d, "state_dir"));
    json_decref(d);
    config_free(c);
}
END_TEST

int main(void)
{
    /* The cases control the environment; drop whatever the caller set. */
    extern char **environ;
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "FARM_", 5) == 0) {
                char name[256];
                snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
                unsetenv(name);
                again = 1;
                break;
            }
        }
    }
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, defaults_without_file);
    tcase_add_test(tc, flat_and_nested_file);
    tcase_add_test(tc, env_overrides_file);
    tcase_add_test(tc, config_env_names_the_file);
    tcase_add_test(tc, unknown_key_is_named);
    tcase_add_test(tc, wrong_type_is_named);
    tcase_add_test(tc, bad_env_value_is_named);
    tcase_add_test(tc, missing_and_broken_files);
    tcase_add_test(tc, set_and_dump);
    suite_add_tcase(s, tc);
    return testutil_main(s);
}
