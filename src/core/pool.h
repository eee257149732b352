/* core/pool.h - the kernel's thread pool and scratch, and CSR shaping (internal). */
#ifndef SDSINF_POOL_H
#define SDSINF_POOL_H

#include "core/core.h"

/* Parallel for: runs fn(ctx, task, thread) for task in [0, ntasks) on the
 * pool's threads and the caller (thread ids 0 .. threads-1). */
typedef void (*sdsinf__task_fn)(void *ctx, int64_t task, int thread);
void sdsinf__pool_run(sdsinf_pool *p, int64_t ntasks, sdsinf__task_fn fn,
                      void *ctx);

/* Scratch memory a pool keeps for its user between calls (the kernel's):
 * *slot starts NULL; free_fn runs on it when the pool is freed. */
void **sdsinf__pool_workspace(sdsinf_pool *p, void (*free_fn)(void *));
/* Makes m an owned nrows x ncols matrix with room for cap entries, keeping
 * its memory where it serves and no content (rowptr[0] is 0, the rest of
 * rowptr for the caller to fill); a zeroed m is allocated. */
int sdsinf__csr_reshape(sdsinf_csr *m, int64_t nrows, int64_t ncols,
                        int64_t cap, sdsinf_err *err);

#endif /* SDSINF_POOL_H */
