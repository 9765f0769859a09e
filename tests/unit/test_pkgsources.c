/* test_pkgsources.c — the nixpkgs sources of nix.sources_file
 * (builder/pkgsources.c): entries checked field by field, ids that follow
 * the revision (pinned, a channel's .git-revision, the tree's fingerprint)
 * and never the name, and the attribute paths a client may name. */
#include "testutil.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../builder/pkgsources.h"
#include "../../common/config.h"

static char dir[512];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* A config whose sources file holds text, each @TREE@ replaced by a tree
 * under the test dir. */
static config *with_sources(const char *tmpl)
{
    snprintf(dir, sizeof dir, "%s", testutil_newdir());
    char tree[600], path[700], text[4096] = "", err[512] = "";
    snprintf(tree, sizeof tree, "%s/tree", dir);
    mkdir(tree, 0755);
    snprintf(path, sizeof path, "%s/default.nix", tree);
    write_file(path, "{ ... }: { }\n");
    for (const char *p = tmpl, *at; *p; p = at + 6) {
        at = strstr(p, "@TREE@");
        if (!at) {
            strncat(text, p, sizeof text - strlen(text) - 1);
            break;
        }
        strncat(text, p, (size_t)(at - p));
        strncat(text, tree, sizeof text - strlen(text) - 1);
    }
    snprintf(path, sizeof path, "%s/sources.json", dir);
    write_file(path, text);
    config *c = NULL;
    ck_assert_int_eq(config_new_default(&c, err, sizeof err), 0);
    ck_assert_int_eq(config_set(c, "nix.sources_file", path, err, sizeof err), 0);
    return c;
}

static int get(config *c, const char *name, char id[65], char *err, size_t errlen)
{
    pkgsource *p = NULL;
    int r = pkgsources_get(c, name, &p, err, errlen);
    if (r > 0) {
        memcpy(id, p->id, 65);
        pkgsource_free(p);
    }
    return r;
}

START_TEST(entries_checked_by_field)
{
    char err[512], id[65];
    config *c =
        with_sources("{\"a\": {\"path\": \"@TREE@\", \"colour\": 1}, \"b\": {\"path\": "
                     "\"relative\"}, \"c\": {\"tarball\": \"file:///x.tgz\"}, \"d\": "
                     "{\"path\": \"@TREE@\", \"tarball\": \"file:///x\"}, \"e\": {\"path\": "
                     "\"/nonexistent/np\"}}");
    ck_assert_int_eq(get(c, "a", id, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "unknown field \"colour\""), "%s", err);
    ck_assert_int_eq(get(c, "b", id, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "path must be absolute"), "%s", err);
    ck_assert_int_eq(get(c, "c", id, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "needs its \"sha256\""), "%s", err);
    ck_assert_int_eq(get(c, "d", id, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "exactly one of"), "%s", err);
    ck_assert_int_eq(get(c, "e", id, err, sizeof err), -ENOENT);
    ck_assert_int_eq(get(c, "zz", id, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "unknown package set \"zz\"; this farm has: debian, a"), "%s", err);
    json_t *names = NULL;
    ck_assert_int_eq(pkgsources_names(c, &names, err, sizeof err), 0);
    ck_assert_int_eq(json_array_size(names), 5);
    ck_assert_str_eq(json_string_value(json_array_get(names, 0)), "a");
    json_decref(names);
    config_free(c);
}
END_TEST

START_TEST(ids_follow_the_revision_not_the_name)
{
    char err[512] = "", p1[65], p2[65], t1[65], t2[65], fp1[65], fp2[65], ch[65];
    config *c = with_sources(
        "{\"pinned\": {\"path\": \"@TREE@\", \"rev\": \"r1\"}, \"same\": {\"path\": \"@TREE@\", "
        "\"rev\": "
        "\"r1\", \"substituters\": [\"https://cache.example\"]}, \"t1\": {\"tarball\": "
        "\"file:///a.tgz\", \"sha256\": \"1vyhv6x64hc7jkfc3wll902ls7y88gw9ijs9g0h8vlcdljmd39n9\"}, "
        "\"t2\": {\"tarball\": \"file:///a.tgz\", \"sha256\": "
        "\"0vyhv6x64hc7jkfc3wll902ls7y88gw9ijs9g0h8vlcdljmd39n9\"}}");
    ck_assert_int_eq(get(c, "pinned", p1, err, sizeof err), 1);
    ck_assert_int_eq(get(c, "same", p2, err, sizeof err), 1);
    ck_assert_str_eq(p1, p2); /* neither the name nor the substituters */
    ck_assert_int_eq(get(c, "t1", t1, err, sizeof err), 1);
    ck_assert_int_eq(get(c, "t2", t2, err, sizeof err), 1);
    ck_assert_str_ne(t1, t2); /* another lock, another set */
    ck_assert_str_ne(t1, p1);
    config_free(c);

    /* Unpinned: the tree's fingerprint, then the channel's revision. */
    c = with_sources("{\"tree\": {\"path\": \"@TREE@\"}}");
    ck_assert_int_eq(get(c, "tree", fp1, err, sizeof err), 1);
    char path[700];
    snprintf(path, sizeof path, "%s/tree/new.nix", dir);
    write_file(path, "{ }\n");
    sleep(3); /* past the per-process fingerprint cache (2 s) */
    ck_assert_int_eq(get(c, "tree", fp2, err, sizeof err), 1);
    ck_assert_str_ne(fp1, fp2);
    snprintf(path, sizeof path, "%s/tree/.git-revision", dir);
    write_file(path, "abc123\n");
    ck_assert_int_eq(get(c, "tree", ch, err, sizeof err), 1);
    pkgsource *p = NULL;
    ck_assert_int_eq(pkgsources_get(c, "tree", &p, err, sizeof err), 1);
    ck_assert_str_eq(p->revision, "abc123");
    pkgsource_free(p);
    config_free(c);
}
END_TEST

START_TEST(attribute_paths_and_set_names)
{
    ck_assert(pkgsources_attr_ok("python3Packages.numpy"));
    ck_assert(pkgsources_attr_ok("go_1_22"));
    ck_assert(pkgsources_attr_ok("gtk+3"));
    ck_assert(!pkgsources_attr_ok(""));
    ck_assert(!pkgsources_attr_ok("a..b"));
    ck_assert(!pkgsources_attr_ok(".a"));
    ck_assert(!pkgsources_attr_ok("a."));
    ck_assert(!pkgsources_attr_ok("a b"));
    ck_assert(!pkgsources_attr_ok("a\"b"));
    ck_assert(!pkgsources_attr_ok("${x}"));
    ck_assert(pkgsources_name_ok("nixpkgs-24.11"));
    ck_assert(!pkgsources_name_ok("Nixpkgs"));
    ck_assert(!pkgsources_name_ok("-x"));
    ck_assert(!pkgsources_name_ok("a/b"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pkgsources");
    TCase *tc = tcase_create("pkgsources");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, entries_checked_by_field);
    tcase_add_test(tc, ids_follow_the_revision_not_the_name);
    tcase_add_test(tc, attribute_paths_and_set_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_main(suite());
}
