/* fuzz_tsv.c - fuzz target: a GraphChallenge TSV layer file, loaded as the
 * only layer of an 8-neuron model directory (n8-l1.tsv, bias -0.3).  A
 * failure must name the file; a success must be the promised shape. */
#include "sdsinf.h"
#include "fuzz_input.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LAYER_FILE "n8-l1.tsv"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sdsinf_model_opts o;
    sdsinf_model *m = NULL;
    sdsinf_err err = {0};
    const char *path = fuzz_write(LAYER_FILE, data, size);
    sdsinf_model_opts_init(&o);
    o.bias = "-0.3";
    int rc = sdsinf_model_load(fuzz_dir(), &o, &m, &err);
    if (rc == SDSINF_OK && (m->neurons != 8 || m->layers != 1 ||
                            m->layer[0].w.nrows != 8))
        abort();
    if (rc != SDSINF_OK && (m || !strstr(err.msg, path)))
        abort();
    sdsinf_model_free(m);
    return 0;
}
