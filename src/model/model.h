/* model/model.h - a model's bias rules and its mapped bundle (internal). */
#ifndef SDSINF_MODEL_H
#define SDSINF_MODEL_H

#include "core/core.h"

/* The bias of a model's first L layers (of avail) from spec: NULL
 * (dir/bias.tsv where dir is given and has one, else the GraphChallenge
 * default), a number, or a bias file, which must give every layer (every
 * neuron) exactly once.  bias gets L scalars; *vecs, for per-neuron files,
 * L x N values the caller owns. */
int sdsinf__bias_resolve(const char *spec, const char *dir, int32_t N,
                         int32_t L, int32_t avail, float *bias, float **vecs,
                         sdsinf_err *err);

/* Writes the model's bias as a bias file (bias.tsv: `layer bias`, or
 * `layer neuron bias` for per-neuron vectors), as sdsinf__bias_resolve
 * reads it back, value for value. */
int sdsinf__bias_save(const sdsinf_model *m, const char *path,
                      sdsinf_err *err);

/* Hands a model the bundle mapping it reads from (bundle.c -> model.c);
 * the model unmaps it when freed. */
void sdsinf__model_set_map(sdsinf_model *m, void *map, size_t size);
void sdsinf__bundle_unmap(void *map, size_t size);

/* An empty model of the given shape, for a loader to fill (model.c). */
int sdsinf__model_new(int32_t neurons, int32_t layers, float ymax,
                      sdsinf_model **out, sdsinf_err *err);
/* Builds layer l's kernel plan, from `order` when the bundle stored one. */
int sdsinf__model_plan(sdsinf_model *m, int32_t l, const uint32_t *order,
                       sdsinf_err *err);
/* Loads a bundle (bundle.c), mapped where it can be. */
int sdsinf__bundle_load(const char *path, const sdsinf_model_opts *o,
                        sdsinf_model **out, sdsinf_err *err);
/* What loading the first `use` layers of a bundle takes (bundle.c). */
void sdsinf__bundle_sizes(const char *path, int32_t use, sdsinf_mem_sizes *s);

#endif /* SDSINF_MODEL_H */
