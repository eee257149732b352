/* internal.h - declarations shared by libsdsinf's sources, never installed. */
#ifndef SDSINF_INTERNAL_H
#define SDSINF_INTERNAL_H

#include "sdsinf.h"

#include <stdarg.h>
#include <stdio.h>

#if defined(__GNUC__)
#define SDSINF__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SDSINF__PRINTF(a, b)
#endif

/* The library's failure paths: sdsinf_err_set. */
#define sdsinf__fail sdsinf_err_set

/* Allocation through one hook, so tests can fail the n-th allocation. */
void *sdsinf__malloc(size_t n);
void *sdsinf__calloc(size_t count, size_t size);
void *sdsinf__realloc(void *p, size_t n);
void sdsinf__free(void *p);
/* Malloc for large scratch that is touched whole: 2 MiB aligned and
 * advised into huge pages (a fault per 2 MiB, not per 4 KiB). */
void *sdsinf__malloc_big(size_t n);
/* Makes the allocation after the next n fail (n < 0: none), for tests;
 * the environment variable SDSINF_FAIL_ALLOC sets the same at start. */
void sdsinf__fail_alloc_after(long n);
/* Malloc of count * size that fails cleanly on overflow. */
void *sdsinf__mallocarray(size_t count, size_t size);

/* The whole content of a file, NUL-terminated (data[size] == 0). */
typedef struct sdsinf__file {
    char *data;
    size_t size;
} sdsinf__file;
int sdsinf__file_read(const char *path, sdsinf__file *f, sdsinf_err *err);
void sdsinf__file_free(sdsinf__file *f);

/* A line-oriented cursor over a text buffer, tracking the 1-based line. */
typedef struct sdsinf__lines {
    const char *p, *end;
    const char *path; /* for messages */
    int64_t line;     /* number of the line the last next() returned */
    const char *cur, *cur_end; /* the current line, without its newline */
    const char *line_start;    /* its first byte, for columns */
} sdsinf__lines;
void sdsinf__lines_init(sdsinf__lines *ls, const sdsinf__file *f,
                        const char *path);
/* Advances to the next line that is not blank (returns 0 at the end). */
int sdsinf__lines_next(sdsinf__lines *ls);
/* Token readers on the current line: skip blanks, parse one token.  They
 * return SDSINF_OK or SDSINF_EPARSE with a message naming path:line. */
int sdsinf__tok_u64(sdsinf__lines *ls, const char *what, uint64_t *v,
                    sdsinf_err *err);
int sdsinf__tok_f32(sdsinf__lines *ls, const char *what, float *v,
                    sdsinf_err *err);
/* Copies the next token (at most cap-1 bytes); 0 when the line is done. */
size_t sdsinf__tok_str(sdsinf__lines *ls, char *buf, size_t cap);
/* The same, checked: SDSINF_EPARSE naming path:line and the column of a
 * control byte (NUL included) in the token, `what` being the field's name;
 * *len gets the token's length (0 when the line is done). */
int sdsinf__tok_word(sdsinf__lines *ls, const char *what, char *buf,
                     size_t cap, size_t *len, sdsinf_err *err);
/* SDSINF_EPARSE unless only blanks remain on the current line. */
int sdsinf__tok_end(sdsinf__lines *ls, sdsinf_err *err);

/* The bias of a model's first L layers (of avail) from spec: NULL
 * (dir/bias.tsv where dir is given and has one, else the GraphChallenge
 * default), a number, or a bias file, which must give every layer (every
 * neuron) exactly once.  bias gets L scalars; *vecs, for per-neuron files,
 * L x N values the caller owns. */
int sdsinf__bias_resolve(const char *spec, const char *dir, int32_t N,
                         int32_t L, int32_t avail, float *bias, float **vecs,
                         sdsinf_err *err);

/* Parses a whole string as a finite float (for flags). */
int sdsinf__parse_float(const char *s, float *v);

/* Entries as read from a file: 0-based (row, col, value) and the line each
 * came from; grown by push. */
typedef struct sdsinf__triplets {
    uint32_t *row, *col;
    float *val;
    int64_t *line;
    int64_t n, cap;
} sdsinf__triplets;
/* Appends an entry; 0 when out of memory (t unchanged). */
int sdsinf__triplets_push(sdsinf__triplets *t, uint32_t r, uint32_t c,
                          float v, int64_t line);
void sdsinf__triplets_free(sdsinf__triplets *t);
/* The most rows a file with n entries may imply (ids or a declared size):
 * beyond this a few bytes would claim gigabytes of row offsets. */
#define SDSINF__SPARSE_LIMIT(n) (1024 * ((uint64_t)(n) + 1024))
/* Triplets -> CSR: sorts by (row, col), rejects duplicates naming the line
 * of the second occurrence in `path`.  Rows and columns must be in range. */
int sdsinf__csr_from_triplets(int64_t nrows, int64_t ncols,
                              const sdsinf__triplets *t, const char *path,
                              sdsinf_csr *out, sdsinf_err *err);

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

/* A 64-bit checksum of a byte range (4-lane multiply-rotate, xxh64-like). */
uint64_t sdsinf__checksum(const void *data, size_t n, uint64_t seed);

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

/* ---- Plans (plan.c) ---- */
/* A plan from owners ((layers + 1) x neurons, ownership passes, freed on
 * failure too). */
int sdsinf__plan_from_owners(const sdsinf_model *m, int workers,
                             uint16_t *owner, const char *method,
                             uint64_t seed, double seconds, sdsinf_plan **out,
                             sdsinf_err *err);
/* The model restricted to the output columns worker w owns. */
int sdsinf__plan_shard(const sdsinf_plan *p, const sdsinf_model *m, int w,
                       sdsinf_model **out, sdsinf_err *err);

/* Sleeps ms milliseconds (resumed after signals). */
void sdsinf__sleep_ms(double ms);
/* Where channels keep a run's files by default: $SDSINF_SCRATCH, else
 * /dev/shm (memory: a journaled disk makes every create and rename wait),
 * else $TMPDIR, else /tmp. */
const char *sdsinf__scratch_dir(void);
/* mkdir -p, mode 0700; 0 or -1 with errno. */
int sdsinf__mkdir_p(const char *dir);

/* The local channel's directory for run (config, else
 * <scratch>/sdsinf-<run>) and the fs channel's store (config, else
 * <scratch>/sdsinf-store; a run's objects under <store>/<run>): config, or
 * def (cap bytes) filled with the default. */
const char *sdsinf__local_dir(const char *config, uint64_t run, char *def,
                              size_t cap);
const char *sdsinf__fs_store(const char *config, char *def, size_t cap);

/* The built-in channels (channel_*.c). */
extern const sdsinf_channel_methods sdsinf__channel_mem;
extern const sdsinf_channel_methods sdsinf__channel_local;
extern const sdsinf_channel_methods sdsinf__channel_fs;
extern const sdsinf_channel_methods sdsinf__channel_redis; /* SDSINF_HAVE_REDIS */
extern const sdsinf_channel_methods sdsinf__channel_mpi;   /* SDSINF_HAVE_MPI */

/* The registered channel called name, or SDSINF_EINVAL (unknown, with
 * the known names) or SDSINF_ENOTSUP (left out of this build). */
int sdsinf__channel_resolve(const char *name,
                            const sdsinf_channel_methods **out,
                            sdsinf_err *err);

/* Monotonic seconds. */
double sdsinf__now(void);
/* 1 when process pid has ended: gone, or a zombie nobody reaped yet. */
int sdsinf__process_ended(int pid);
/* Process pid's state letter and start time (clock ticks after boot) from
 * /proc/PID/stat; 0, or -1 when it cannot be read (gone). */
int sdsinf__proc_stat(int pid, char *state, unsigned long long *start);

/* ---- A run's channel state and its owner (sweep.c) ---- */
/* Removes path and, for a directory, everything under it (never following
 * a link), counting into *files and *bytes what it removes (dry_run:
 * would remove); path is a buffer of cap bytes, restored on return.
 * 0, or -1 with errno when something could not be removed. */
int sdsinf__rm_tree(char *path, size_t cap, int dry_run, int64_t *files,
                    int64_t *bytes);
/* Sweeps what runs whose owner is gone left in the scratch directory,
 * then records this process (pid, start time) as the owner of run's state
 * for the channel (local or fs; other channels keep none) under config
 * (NULL: the default place), before any worker opens it; the record's
 * path goes into owner (cap bytes; "" when none was written: the run goes
 * on, its state just not sweepable). */
void sdsinf__owner_claim(const char *channel, const char *config,
                         uint64_t run, char *owner, size_t cap);
/* Removes the owner record (once the run's state is gone) and its
 * directory if that left it empty. */
void sdsinf__owner_release(const char *owner);

#endif /* SDSINF_INTERNAL_H */
