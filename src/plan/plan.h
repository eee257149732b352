/* plan/plan.h - plans from owners, and a worker's shard of a model (internal). */
#ifndef SDSINF_PLAN_H
#define SDSINF_PLAN_H

#include "core/core.h"

/* A plan from owners ((layers + 1) x neurons, ownership passes, freed on
 * failure too). */
int sdsinf__plan_from_owners(const sdsinf_model *m, int workers,
                             uint16_t *owner, const char *method,
                             uint64_t seed, double seconds, sdsinf_plan **out,
                             sdsinf_err *err);
/* The model restricted to the output columns worker w owns. */
int sdsinf__plan_shard(const sdsinf_plan *p, const sdsinf_model *m, int w,
                       sdsinf_model **out, sdsinf_err *err);

#endif /* SDSINF_PLAN_H */
