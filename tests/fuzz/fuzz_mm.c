/* fuzz_mm.c - fuzz target: a MatrixMarket layer file, loaded as the only
 * layer of a model directory (l1.mtx, bias -0.3) whose size comes from the
 * file.  A failure must name the model; a success must be the promised
 * shape. */
#include "sdsinf.h"
#include "fuzz_input.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LAYER_FILE "l1.mtx"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sdsinf_model_opts o;
    sdsinf_model *m = NULL;
    sdsinf_err err = {0};
    fuzz_write(LAYER_FILE, data, size);
    sdsinf_model_opts_init(&o);
    o.bias = "-0.3";
    int rc = sdsinf_model_load(fuzz_dir(), &o, &m, &err);
    if (rc == SDSINF_OK &&
        (m->layers != 1 || m->layer[0].w.nrows != m->neurons ||
         m->layer[0].wt.nrows != m->neurons))
        abort();
    /* Out of memory (a size line may declare billions) names no file. */
    if (rc != SDSINF_OK &&
        (m || (rc != SDSINF_ENOMEM && !strstr(err.msg, fuzz_dir()))))
        abort();
    sdsinf_model_free(m);
    return 0;
}
