/* testutil.c - helpers shared by the unit tests. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tu_mkdtemp(void)
{
    const char *t = getenv("TMPDIR");
    char *p = malloc(4096);
    assert_non_null(p);
    snprintf(p, 4096, "%s/sdsinf-test-XXXXXX", t ? t : "/tmp");
    assert_non_null(mkdtemp(p));
    return p;
}

void tu_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[8192];
    if (!d)
        return;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            tu_rmdir(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

char *tu_write(const char *dir, const char *name, const char *text)
{
    char *p = malloc(8192);
    assert_non_null(p);
    snprintf(p, 8192, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

void tu_csr_dense(sdsinf_csr *m, int64_t rows, int64_t cols, const float *d)
{
    int64_t nnz = 0;
    for (int64_t i = 0; i < rows * cols; i++)
        nnz += d[i] != 0;
    assert_int_equal(sdsinf_csr_alloc(m, rows, cols, nnz, NULL), SDSINF_OK);
    int64_t k = 0;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++)
            if (d[r * cols + c] != 0) {
                m->col[k] = (uint32_t)c;
                m->val[k++] = d[r * cols + c];
            }
        m->rowptr[r + 1] = k;
    }
}

const char *tu_data_dir(void)
{
    const char *d = getenv("SDSINF_DATA");
    static char probe[4096];
    if (!d)
        return NULL;
    snprintf(probe, sizeof probe, "%s/graphchallenge/neuron1024", d);
    struct stat st;
    return stat(probe, &st) == 0 ? d : NULL;
}
