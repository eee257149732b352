/* plan/zoltan.h - Zoltan PHG for the hypergraph partitioner (internal).
 * Without Zoltan in the build (zoltan_none.c) or where it cannot start (MPI
 * finalised), open gives NULL and the partitioner places greedily. */
#ifndef SDSINF_ZOLTAN_H
#define SDSINF_ZOLTAN_H

#include "plan/hypergraph.h"

typedef struct sdsinf__zoltan sdsinf__zoltan;

/* A session for calls of at most `window` free stages; *out NULL (and
 * SDSINF_OK) where Zoltan is not available. */
int sdsinf__zoltan_open(sdsinf__zoltan **out, const plan *p, int window,
                        sdsinf_err *err);
void sdsinf__zoltan_close(sdsinf__zoltan *zs);
/* Zoltan partitions free stages [s, hi) (neighbours fixed where placed);
 * stages [s, place_hi) go where it says.  Returns 0 when Zoltan failed
 * (nothing moved). */
int sdsinf__zoltan_stage(sdsinf__zoltan *zs, plan *p, int32_t s, int32_t hi,
                         int32_t place_hi, unsigned seed);

#endif /* SDSINF_ZOLTAN_H */
