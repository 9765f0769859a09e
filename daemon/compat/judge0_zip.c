/* judge0_zip.c — Judge0's additional_files: a zip archive unpacked beside
 * the source (libzip), as v1 files. Like Judge0's `unzip -n`, a file of the
 * archive never replaces the source file; the total unpacked size is capped
 * at Judge0's MAX_EXTRACT_SIZE (10240 KB). */
#include "judge0.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#include "../../common/base64.h"

static void zip_closep(zip_t **z)
{
    if (*z)
        zip_discard(*z);
}

/* Unpacks entry i as a v1 file into files. */
static int add_entry(zip_t *z, zip_uint64_t i, const zip_stat_t *st, json_t *files, char *msg,
                     size_t msglen)
{
    zip_file_t *zf = zip_fopen_index(z, i, 0);
    if (!zf) {
        snprintf(msg, msglen, "cannot read %s from the archive: %s", st->name, zip_strerror(z));
        return -EINVAL;
    }
    size_t size = (size_t)st->size;
    unsigned char *data = malloc(size ? size : 1);
    zip_int64_t got = data ? zip_fread(zf, data, size) : -1;
    zip_fclose(zf);
    if (got < 0 || (size_t)got != size) {
        free(data);
        snprintf(msg, msglen, "cannot read %s from the archive", st->name);
        return data ? -EINVAL : -ENOMEM;
    }
    char *b64 = base64_encode(data, size);
    free(data);
    if (!b64)
        return -ENOMEM;
    zip_uint8_t opsys;
    zip_uint32_t attr = 0;
    bool exec = false;
    if (zip_file_get_external_attributes(z, i, 0, &opsys, &attr) == 0 && opsys == ZIP_OPSYS_UNIX)
        exec = ((attr >> 16) & 0111) != 0;
    json_t *f = json_pack("{s:s, s:s, s:s, s:b}", "name", st->name, "content", b64, "encoding",
                          "base64", "executable", exec);
    free(b64);
    if (!f)
        return -ENOMEM;
    return json_array_append_new(files, f) < 0 ? -ENOMEM : 0;
}

int j0_zip_to_files(const void *zipdata, size_t len, json_t *files, bool *has_compile,
                    bool *has_run, char *msg, size_t msglen)
{
    *has_compile = *has_run = false;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(zipdata, len, 0, &ze);
    if (!src) {
        snprintf(msg, msglen, "is not a valid zip archive");
        zip_error_fini(&ze);
        return -EINVAL;
    }
    zip_t *z __attribute__((cleanup(zip_closep))) =
        zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!z) {
        zip_source_free(src);
        snprintf(msg, msglen, "is not a valid zip archive: %s", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return -EINVAL;
    }
    zip_error_fini(&ze);
    zip_int64_t n = zip_get_num_entries(z, 0);
    unsigned long long total = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t st;
        if (zip_stat_index(z, (zip_uint64_t)i, 0, &st) < 0 || !(st.valid & ZIP_STAT_NAME) ||
            !(st.valid & ZIP_STAT_SIZE)) {
            snprintf(msg, msglen, "the archive's entry %lld cannot be read", (long long)i);
            return -EINVAL;
        }
        size_t nl = strlen(st.name);
        if (nl == 0 || st.name[nl - 1] == '/')
            continue; /* directories come with their files */
        total += st.size;
        if (total > (unsigned long long)J0_MAX_EXTRACT_SIZE * 1024) {
            snprintf(msg, msglen, "the archive unpacks to more than %d KB", J0_MAX_EXTRACT_SIZE);
            return -EINVAL;
        }
        if (!strcmp(st.name, "compile"))
            *has_compile = true;
        if (!strcmp(st.name, "run"))
            *has_run = true;
        int r = add_entry(z, (zip_uint64_t)i, &st, files, msg, msglen);
        if (r < 0)
            return r;
    }
    return 0;
}
