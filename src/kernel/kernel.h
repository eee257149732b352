/* kernel/kernel.h - the layer kernels' primitives (internal). */
#ifndef SDSINF_KERNEL_H
#define SDSINF_KERNEL_H

#include "core/core.h"

/* ---- Kernel primitives (kernel.c) ----
 * A dense block holds SDSINF__LANES samples as a K x LANES panel,
 * panel[k * LANES + j] = activation of input k in sample j (0 if none). */
#define SDSINF__LANES 16
/* A block goes dense when it holds at least 1/DENSE_DIV of its K x rows. */
#define SDSINF__DENSE_DIV 24
typedef struct sdsinf__kernel {
    /* One sample row (n entries, ascending) through the layer; writes its
     * positive outputs to oc/ov (room for C) and returns how many.  acc
     * holds C floats; bits, C bits, is zero before and after. */
    int64_t (*sparse_row)(const sdsinf_layer *l, float ymax,
                          const uint32_t *col, const float *val, int64_t n,
                          float *acc, uint64_t *bits, uint32_t *oc, float *ov);
    /* A panel (row k, LANES floats, at panel + k * stride) through the
     * layer into tile (output c's LANES floats at tile + c * tstride);
     * count[j] gets lane j's positive outputs.  with_mask: keep the bias
     * off outputs none of whose inputs is stored (needed when a bias is
     * positive). */
    void (*dense)(const sdsinf_layer *l, float ymax, int with_mask,
                  const float *panel, int64_t stride, float *tile,
                  int64_t tstride, int64_t count[SDSINF__LANES]);
    /* Lane j's positive tile entries, as (output, value), to oc/ov + j * C
     * (room for LANES * C); count[j] gets how many. */
    void (*compact)(const float *tile, int64_t C, uint32_t *oc, float *ov,
                    int64_t count[SDSINF__LANES]);
} sdsinf__kernel;
/* The fastest copy this CPU runs (SDSINF_KERNEL=c: the baseline C). */
const sdsinf__kernel *sdsinf__kernel_get(void);
/* Whether some bias of the layer is positive. */
int sdsinf__layer_with_mask(const sdsinf_layer *l);
/* Spreads rows[0..nl) of y into the panel (K inputs); the rest is zero. */
void sdsinf__fill_panel(float *panel, int64_t K, const sdsinf_csr *y,
                        const int64_t *rows, int nl);

#endif /* SDSINF_KERNEL_H */
