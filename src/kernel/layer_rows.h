/* kernel/layer_rows.h - a distributed worker's layer on neuron-major rows, in steps (internal). */
#ifndef SDSINF_LAYER_ROWS_H
#define SDSINF_LAYER_ROWS_H

#include "kernel/layer_plan.h"

/* The layer for a distributed worker (layer_rows.c), on neuron-major
 * activations: input row k (of the layer's K) holds n[k] entries, samples
 * smp[k][..] ascending below `samples` and values val[k][..].  The output,
 * C rows x samples (the numbers sdsinf_layer_forward gives), goes to *out,
 * or, when the layer ran dense and its output is dense, stays in *ws
 * (sdsinf__rows_ws_dense): the next call may then take an input row from
 * it, own_row[k] >= 0 naming which (own_row NULL: none), and
 * sdsinf__rows_ws_rows gives its rows.  *ws: scratch and that output, kept
 * between calls (NULL at first; free with sdsinf__rows_ws_free). */
typedef struct sdsinf__rows_ws sdsinf__rows_ws;
int sdsinf__layer_forward_rows(sdsinf_pool *pool, sdsinf__rows_ws **ws,
                               const sdsinf_layer *layer, float ymax,
                               int64_t samples, const uint32_t *const *smp,
                               const float *const *val, const int64_t *n,
                               const int32_t *own_row,
                               const sdsinf__layer_plan *rest,
                               sdsinf_csr *out, sdsinf_err *err);
/* A layer in steps, while the other rows arrive.  forward_own: when ws
 * holds the last output dense (and its layout stays; else *early = 0 and
 * forward_rows does it all), spreads the own rows (own_row as for
 * forward_rows) and runs the outputs of plan `own` (those reading only
 * own rows).  forward_more: spreads the views ks[0..nks) (arrived) and
 * runs the outputs of `ready` (those whose inputs are all in).  The next
 * forward_rows spreads the views not spread yet and runs `rest` (the
 * outputs not run yet), unless a received sample needs a new layout: then
 * it runs everything.  Bit-identical to one forward_rows: each output
 * still sums all its inputs in order. */
int sdsinf__layer_forward_own(sdsinf_pool *pool, sdsinf__rows_ws *ws,
                              const sdsinf_layer *layer,
                              const sdsinf__layer_plan *own, float ymax,
                              const int32_t *own_row, int *early,
                              sdsinf_err *err);
int sdsinf__layer_forward_more(sdsinf_pool *pool, sdsinf__rows_ws *ws,
                               const sdsinf_layer *layer,
                               const sdsinf__layer_plan *ready, float ymax,
                               const uint32_t *const *smp,
                               const float *const *val, const int64_t *n,
                               const uint32_t *ks, int64_t nks,
                               sdsinf_err *err);
/* Makes *ws (created if NULL) ready for layers of up to K inputs and C
 * outputs over `samples` samples on `threads` threads, its memory touched:
 * a worker does this while starting, so its layers do not fault pages in. */
int sdsinf__rows_ws_reserve(sdsinf__rows_ws **ws, int threads, int64_t K,
                            int64_t C, int64_t samples, sdsinf_err *err);
int sdsinf__rows_ws_dense(const sdsinf__rows_ws *ws);
/* Entries of the last output (held or given). */
int64_t sdsinf__rows_ws_nnz(const sdsinf__rows_ws *ws);
/* The held output's rows r with want[r] set (want NULL: all; the others
 * empty) into *out, C rows x samples. */
int sdsinf__rows_ws_rows(const sdsinf__rows_ws *ws, const uint8_t *want,
                         int64_t samples, sdsinf_csr *out, sdsinf_err *err);
void sdsinf__rows_ws_free(sdsinf__rows_ws *ws);

#endif /* SDSINF_LAYER_ROWS_H */
