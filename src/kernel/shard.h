/* kernel/shard.h - a worker's layers, renumbered to the neurons it reads and owns (internal). */
#ifndef SDSINF_SHARD_H
#define SDSINF_SHARD_H

#include "kernel/layer_plan.h"

/* A worker's layer, renumbered (shard.c): K inputs (in_ids) to the
 * C outputs the worker owns at the next stage. */
typedef struct sdsinf__local_layer {
    sdsinf_layer layer;        /* K x C; plan_ points at plan */
    sdsinf__layer_plan plan;
    float *bias;               /* C, when the model has bias vectors */
    uint32_t *in_ids;          /* K neurons of the stage before, ascending */
    int32_t *in_of;            /* neurons: input index, or -1 if not read */
    uint32_t *own_in, *own_at; /* the nown inputs the worker owns: input
                                  index, and index in the stage's ids */
    int64_t nown;
} sdsinf__local_layer;

typedef struct sdsinf__local_shard {
    int32_t neurons, layers;
    float ymax;
    uint32_t **ids;             /* layers + 1 stages: owned neurons, ascending */
    int64_t *count;             /* per stage: how many */
    int32_t *pos;               /* (layers + 1) x neurons: index in ids, or -1 */
    sdsinf__local_layer *layer; /* layers */
} sdsinf__local_shard;

/* Worker w's layers from m (the whole model, or its shard: only the columns
 * w owns are read). */
int sdsinf__local_shard_build(const sdsinf_plan *p, const sdsinf_model *m,
                              int w, sdsinf__local_shard *out,
                              sdsinf_err *err);
void sdsinf__local_shard_free(sdsinf__local_shard *s);

#endif /* SDSINF_SHARD_H */
