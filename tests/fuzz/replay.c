/* replay.c — runs a fuzz target's LLVMFuzzerTestOneInput over every file of
 * the directories given (the seed corpus and regression inputs), for builds
 * without libFuzzer. Prints TAP; a crash is the sanitizer's report. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    struct stat sb;
    if (fstat(fileno(f), &sb) < 0 || !(*data = malloc((size_t)sb.st_size + 1))) {
        fclose(f);
        return -ENOMEM;
    }
    *len = fread(*data, 1, (size_t)sb.st_size, f);
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    int n = 0, failed = 0;
    for (int a = 1; a < argc; a++) {
        struct dirent **names;
        int k = scandir(argv[a], &names, NULL, alphasort);
        if (k < 0) {
            printf("not ok %d - %s: %s\n", ++n, argv[a], strerror(errno));
            failed++;
            continue;
        }
        for (int i = 0; i < k; i++) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[a], names[i]->d_name);
            struct stat sb;
            if (names[i]->d_name[0] != '.' && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
                uint8_t *data = NULL;
                size_t len = 0;
                if (read_file(path, &data, &len) < 0) {
                    printf("not ok %d - %s: unreadable\n", ++n, path);
                    failed++;
                } else {
                    fflush(stdout);
                    LLVMFuzzerTestOneInput(data, len);
                    printf("ok %d - %s\n", ++n, path);
                }
                free(data);
            }
            free(names[i]);
        }
        free(names);
    }
    printf("1..%d\n", n);
    return failed ? 1 : 0;
}
