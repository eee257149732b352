/* kernel/layer_plan.h - how the dense kernel visits a layer's outputs (internal). */
#ifndef SDSINF_LAYER_PLAN_H
#define SDSINF_LAYER_PLAN_H

#include "core/core.h"

/* How the dense kernel visits a layer's outputs (layer_plan.c). */
struct sdsinf_layer_plan {
    const uint32_t *order; /* outputs, similar input lists adjacent */
    int64_t count;         /* outputs in order: all, or a subset's */
    uint32_t *own_order;   /* order when the plan owns it, else NULL */
    uint8_t *same4;        /* per group of 4 in order: identical inputs */
};
typedef struct sdsinf_layer_plan sdsinf__layer_plan;
/* Sorts outputs by input list into order (wt->nrows entries). */
int sdsinf__layer_order(const sdsinf_csr *wt, uint32_t *order, sdsinf_err *err);
/* Builds a plan for wt; `order` (borrowed) may be NULL to compute one. */
int sdsinf__layer_plan_build(const sdsinf_csr *wt, const uint32_t *order,
                             sdsinf__layer_plan *plan, sdsinf_err *err);
/* The plan visiting only the outputs c with keep[c] set, in full's order. */
int sdsinf__layer_plan_subset(const sdsinf_csr *wt,
                              const sdsinf__layer_plan *full,
                              const uint8_t *keep, sdsinf__layer_plan *sub,
                              sdsinf_err *err);
void sdsinf__layer_plan_free(sdsinf__layer_plan *plan);

#endif /* SDSINF_LAYER_PLAN_H */
