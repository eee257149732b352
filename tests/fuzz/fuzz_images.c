/* fuzz_images.c - fuzz target: an input file read both as images (for a
 * 16-neuron model) and as a categories file.  A failure must name the file;
 * a success must keep the readers' promises. */
#include "sdsinf.h"
#include "fuzz_input.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NEURONS 16

/* Aborts unless a failed read left its output alone and named the file;
 * out of memory (an image id may be in the billions) names no file. */
static void check_failure(int rc, const sdsinf_err *err, const char *path,
                          int untouched)
{
    if (!untouched ||
        (rc != SDSINF_ENOMEM && (err->code != rc || !strstr(err->msg, path))))
        abort();
}

static void fuzz_images(const char *path)
{
    sdsinf_csr m = {0};
    sdsinf_err err = {0};
    int rc = sdsinf_images_load(path, NEURONS, &m, &err);
    if (rc != SDSINF_OK)
        check_failure(rc, &err, path, m.rowptr == NULL);
    else if (m.ncols != NEURONS || m.nrows < 1 || m.rowptr[0] != 0)
        abort();
    sdsinf_csr_free(&m);
}

static void fuzz_categories(const char *path)
{
    int64_t *ids = NULL, count = -1;
    sdsinf_err err = {0};
    int rc = sdsinf_categories_load(path, &ids, &count, &err);
    if (rc != SDSINF_OK)
        check_failure(rc, &err, path, !ids && count == -1);
    for (int64_t i = 0; rc == SDSINF_OK && i < count; i++)
        if (ids[i] < 1 || (i > 0 && ids[i] <= ids[i - 1]))
            abort();
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("images.tsv", data, size);
    fuzz_images(path);
    fuzz_categories(path);
    return 0;
}
