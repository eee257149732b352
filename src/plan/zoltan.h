/* plan/zoltan.h - Zoltan PHG for the hypergraph partitioner (internal).
 * The steps themselves (zoltan.c) are in the MPI plugin; the library
 * reaches them through zoltan_plugin.c.  Without Zoltan in the build, or
 * where it cannot start (MPI finalised), open gives NULL and the
 * partitioner places greedily. */
#ifndef SDSINF_ZOLTAN_H
#define SDSINF_ZOLTAN_H

#include "plan/hypergraph.h"

typedef struct sdsinf__zoltan sdsinf__zoltan;

/* A session for calls of at most `window` free stages; *out NULL (and
 * SDSINF_OK) where Zoltan is not in this build or cannot start; an error
 * where the build has it but its plugin cannot be loaded. */
int sdsinf__zoltan_open(sdsinf__zoltan **out, const plan *p, int window,
                        sdsinf_err *err);
void sdsinf__zoltan_close(sdsinf__zoltan *zs);
/* Zoltan partitions free stages [s, hi) (neighbours fixed where placed);
 * stages [s, place_hi) go where it says.  Returns 0 when Zoltan failed
 * (nothing moved). */
int sdsinf__zoltan_stage(sdsinf__zoltan *zs, plan *p, int32_t s, int32_t hi,
                         int32_t place_hi, unsigned seed);

/* The same three, as the plugin brings them (zoltan.c): open gives NULL
 * only where Zoltan cannot start. */
typedef struct sdsinf__zoltan_methods {
    int (*open)(sdsinf__zoltan **out, const plan *p, int window,
                sdsinf_err *err);
    void (*close)(sdsinf__zoltan *zs);
    int (*stage)(sdsinf__zoltan *zs, plan *p, int32_t s, int32_t hi,
                 int32_t place_hi, unsigned seed);
} sdsinf__zoltan_methods;
extern const sdsinf__zoltan_methods sdsinf__zoltan_phg;

#endif /* SDSINF_ZOLTAN_H */
