/* submission.c — request building and following (see submission.h). */
#include "submission.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/cleanup.h"
#include "cli_util.h"
#include "report.h"

#define SUBMISSION_MAX_FILE (64u << 20)

static int submission_add_file(json_t *files, const char *path, const char *name, char *err,
                               size_t errlen)
{
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    int r = cli_read_file(path, &data, &len, SUBMISSION_MAX_FILE);
    if (r < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-r));
        return r;
    }
    struct stat sb;
    bool exec = stat(path, &sb) == 0 && (sb.st_mode & 0111);
    json_t *f = cli_file_json(name, data, len, exec);
    if (!f || json_array_append_new(files, f) < 0)
        return -ENOMEM;
    return 0;
}

static int submission_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entry names of dir (without . and ..); caller frees each and the array. */
static int submission_list_dir(const char *dir, char ***names, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    size_t cap = 16, k = 0;
    char **v = malloc(cap * sizeof *v);
    struct dirent *e;
    while (v && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (k == cap) {
            char **nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv)
                break;
            v = nv;
        }
        v[k++] = strdup(e->d_name);
    }
    closedir(d);
    if (!v)
        return -ENOMEM;
    qsort(v, k, sizeof *v, submission_name_cmp);
    *names = v;
    *n = k;
    return 0;
}

static void submission_free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int submission_add_tree(json_t *files, const char *dir, const char *rel, char *err,
                               size_t errlen)
{
    char **names = NULL;
    size_t n = 0;
    int r = submission_list_dir(dir, &names, &n);
    if (r < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(-r));
        return r;
    }
    for (size_t i = 0; i < n && r >= 0; i++) {
        if (!names[i] || strcmp(names[i], ".git") == 0)
            continue;
        char path[PATH_MAX], name[PATH_MAX];
        /* A cut path would name another file (or none): refuse the tree.
         * The reason goes first: the path may not fit in err. */
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path ||
            (size_t)snprintf(name, sizeof name, "%s%s%s", rel, *rel ? "/" : "", names[i]) >=
                sizeof name) {
            snprintf(err, errlen, "%s: %s/%s", strerror(ENAMETOOLONG), dir, names[i]);
            r = -ENAMETOOLONG;
            break;
        }
        struct stat sb;
        if (lstat(path, &sb) < 0)
            continue;
        if (S_ISDIR(sb.st_mode))
            r = submission_add_tree(files, path, name, err, errlen);
        else if (S_ISREG(sb.st_mode))
            r = submission_add_file(files, path, name, err, errlen);
        /* symlinks and devices are not sent: the box gets regular files */
    }
    submission_free_names(names, n);
    return r;
}

int submission_add_path(json_t *files, const char *path, const char *base, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(path, &sb) < 0) {
        int r = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return r;
    }
    if (S_ISDIR(sb.st_mode))
        return submission_add_tree(files, path, base ? base : "", err, errlen);
    const char *name = base ? base : strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    return submission_add_file(files, path, name, err, errlen);
}

static bool submission_has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n > m && strcmp(s + n - m, suf) == 0;
}

int submission_add_tests_dir(json_t *tests, const char *dir, char *err, size_t errlen)
{
    char **names = NULL;
    size_t n = 0;
    int r = submission_list_dir(dir, &names, &n);
    if (r < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(-r));
        return r;
    }
    size_t added = 0;
    for (size_t i = 0; i < n && r >= 0; i++) {
        const char *nm = names[i];
        bool is_in = nm && submission_has_suffix(nm, ".in");
        bool is_out = nm && submission_has_suffix(nm, ".out");
        if (!is_in && !is_out)
            continue;
        size_t stem = strlen(nm) - (is_in ? 3 : 4);
        char test[NAME_MAX + 1], in[PATH_MAX], out[PATH_MAX];
        snprintf(test, sizeof test, "%.*s", (int)stem, nm);
        if ((size_t)snprintf(in, sizeof in, "%s/%s.in", dir, test) >= sizeof in ||
            (size_t)snprintf(out, sizeof out, "%s/%s.out", dir, test) >= sizeof out) {
            snprintf(err, errlen, "%s: %s/%s", strerror(ENAMETOOLONG), dir, nm);
            r = -ENAMETOOLONG;
            break;
        }
        /* A NAME.out whose NAME.in exists was handled with the .in. */
        if (is_out && access(in, F_OK) == 0)
            continue;
        json_t *t = json_pack("{s:s}", "name", test);
        if (!t)
            return -ENOMEM;
        const char *paths[2] = {is_in ? in : NULL, access(out, F_OK) == 0 ? out : NULL};
        const char *keys[2] = {"stdin", "expected_output"};
        for (int k = 0; k < 2 && r >= 0; k++) {
            if (!paths[k])
                continue;
            _cleanup_free_ char *data = NULL;
            size_t len;
            r = cli_read_file(paths[k], &data, &len, SUBMISSION_MAX_FILE);
            if (r < 0) {
                snprintf(err, errlen, "%s: %s", paths[k], strerror(-r));
                break;
            }
            json_t *s = memchr(data, '\0', len) ? NULL : json_stringn(data, len);
            if (!s) {
                snprintf(err, errlen, "%s: not UTF-8 text", paths[k]);
                r = -EINVAL;
                break;
            }
            json_object_set_new(t, keys[k], s);
        }
        if (r >= 0) {
            json_array_append_new(tests, t);
            added++;
        } else {
            json_decref(t);
        }
    }
    submission_free_names(names, n);
    if (r >= 0 && added == 0) {
        snprintf(err, errlen, "%s: no NAME.in / NAME.out test files", dir);
        return -ENOENT;
    }
    return r;
}

int submission_exit_for(long status, int r)
{
    if (r < 0)
        return r == -ENOMEM ? FARM_EXIT_SOFTWARE : FARM_EXIT_UNAVAILABLE;
    if (status == 401 || status == 403)
        return FARM_EXIT_NOPERM;
    if (status >= 400 && status < 500)
        return FARM_EXIT_REJECTED;
    return FARM_EXIT_UNAVAILABLE;
}

int submission_post(const farm_client *c, json_t *req, char id[33], char *err, size_t errlen)
{
    long status = 0;
    _cleanup_json_ json_t *resp = NULL;
    int r = client_request(c, "POST", "/v1/submissions", req, 120000, &status, &resp, err, errlen);
    if (r < 0)
        return submission_exit_for(0, r);
    if (status != 200 && status != 201 && status != 202) {
        _cleanup_free_ char *msg = client_error_text(status, resp);
        snprintf(err, errlen, "the server refused the submission: %s", msg ? msg : "?");
        return submission_exit_for(status, 0);
    }
    const char *sid = json_string_value(json_object_get(resp, "id"));
    if (!sid || strlen(sid) > 32) {
        snprintf(err, errlen, "the server answered without an id");
        return FARM_EXIT_UNAVAILABLE;
    }
    snprintf(id, 33, "%s", sid);
    return 0;
}

int submission_get(const farm_client *c, const char *id, json_t **view, char *err, size_t errlen)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/submissions/%s", id);
    long status = 0;
    json_t *resp = NULL;
    int r = client_request(c, "GET", path, NULL, 60000, &status, &resp, err, errlen);
    if (r < 0)
        return submission_exit_for(0, r);
    if (status != 200) {
        _cleanup_free_ char *msg = client_error_text(status, resp);
        snprintf(err, errlen, "submission %s: %s", id, msg ? msg : "?");
        json_decref(resp);
        return submission_exit_for(status, 0);
    }
    *view = resp;
    return 0;
}

typedef struct {
    report_progress *p;
    bool terminal;
} submission_follow_state;

static int submission_on_event(const char *event, const char *data, void *ud)
{
    submission_follow_state *st = ud;
    if (!event) {
        report_progress_tick(st->p);
        return 0;
    }
    _cleanup_json_ json_t *j = json_loads(data, JSON_DECODE_ANY, NULL);
    const char *type = event;
    json_t *payload = j;
    /* Events may come as {seq, type, data, at} (the store's shape) or as the
     * data alone under an SSE event name. */
    if (json_is_object(j) && json_is_string(json_object_get(j, "type")) &&
        json_object_get(j, "data")) {
        type = json_string_value(json_object_get(j, "type"));
        payload = json_object_get(j, "data");
    }
    report_progress_event(st->p, type, payload);
    const char *state = json_string_value(json_object_get(payload, "state"));
    if ((state && report_state_is_terminal(state)) || strcmp(type, "end") == 0 ||
        strcmp(type, "done") == 0 ||
        (strcmp(type, "state") == 0 && state && report_state_is_terminal(state)))
        st->terminal = true;
    if (report_state_is_terminal(type))
        st->terminal = true;
    return st->terminal;
}

static void submission_nap(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int submission_follow(const farm_client *c, const char *id, int n_tests, json_t **view, char *err,
                      size_t errlen)
{
    report_progress p;
    report_progress_init(&p, c, n_tests);
    report_progress_set(&p, "queued");
    char path[160];
    snprintf(path, sizeof path, "/v1/submissions/%s/events", id);
    submission_follow_state st = {.p = &p};
    long status = 0;
    char serr[256] = "";
    int r = client_sse(c, path, submission_on_event, &st, &status, serr, sizeof serr);
    if (r < 0 && r != -ENOTSUP && status != 200 && status != 0 && status != 404) {
        report_progress_clear(&p);
        snprintf(err, errlen, "%s", serr);
        return submission_exit_for(status, 0);
    }
    /* Whatever the stream did (ended, unsupported, dropped), the GET view is
     * the truth: poll it until terminal, drawing the line meanwhile. */
    int delay = 100;
    for (;;) {
        json_t *v = NULL;
        int e = submission_get(c, id, &v, err, errlen);
        if (e) {
            report_progress_clear(&p);
            return e;
        }
        const char *state = json_string_value(json_object_get(v, "state"));
        if (report_state_is_terminal(state)) {
            report_progress_clear(&p);
            *view = v;
            return 0;
        }
        report_progress_event(&p, "state", v);
        json_decref(v);
        submission_nap(delay);
        if (delay < 1000)
            delay += 100;
    }
}
