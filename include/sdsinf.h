/* sdsinf.h - public interface of libsdsinf, distributed sparse DNN inference.
 *
 * Conventions, for every call below:
 *   - Functions return an int status: SDSINF_OK (0) or a negative SDSINF_E*
 *     code; on failure the sdsinf_err, when not NULL, holds the code and a
 *     message naming the file and line (or byte offset) at fault.
 *   - Outputs are written only on success.  Every _free takes NULL.
 *   - Option structs begin with `version`; call the matching _init first so
 *     new fields, appended at the end, get their defaults.
 *
 * Orientation: activations Y are samples x neurons; a layer computes
 *   Y_next = min(ymax, ReLU(Y * W + b)), with b added to the stored
 *   (structurally nonzero) entries of Y * W only, and zeros dropped.
 *   W[r][c]: r = input neuron, c = output neuron (the GraphChallenge layout).
 */
#ifndef SDSINF_H
#define SDSINF_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SDSINF_BUILDING) && defined(__GNUC__)
#define SDSINF_API __attribute__((visibility("default")))
#else
#define SDSINF_API
#endif

/* SDSINF_VERSION_MAJOR, _MINOR, _PATCH and _STRING: this header's version
 * (generated at build time, installed beside it). */
#include "sdsinf_version.h"
/* The library's version, as SDSINF_VERSION_STRING gives it. */
SDSINF_API const char *sdsinf_version(void);

/* ---- Status codes and errors ------------------------------------------ */
#define SDSINF_STATUS_MAP(X)                                   \
    X(OK, 0, "success")                                        \
    X(EINVAL, -1, "invalid argument")                          \
    X(ENOMEM, -2, "out of memory")                             \
    X(EIO, -3, "input/output error")                           \
    X(EPARSE, -4, "malformed input")                           \
    X(ECORRUPT, -5, "corrupt or truncated data")               \
    X(ENOTSUP, -6, "not supported")                            \
    X(ETIMEDOUT, -7, "timed out")                              \
    X(EMISMATCH, -8, "result differs from the expected one")        \
    X(ECANCELED, -9, "canceled")                               \
    X(ETHROTTLED, -10, "throttled by the service")             \
    X(EACCES, -11, "access denied")

enum {
#define SDSINF_X_(name, code, text) SDSINF_##name = code,
    SDSINF_STATUS_MAP(SDSINF_X_)
#undef SDSINF_X_
};

typedef struct sdsinf_err {
    int code;      /* the status the failing call returned */
    char msg[512]; /* what went wrong and where, for a human: a chain of
                      causes fits; a longer one keeps its ends */
} sdsinf_err;

/* Fills *err (when not NULL) with code and a formatted message; returns
 * code, so a failure path reads `return sdsinf_err_set(err, SDSINF_EIO,
 * "...: %s", ...)` (for channels and programs built on the library). */
SDSINF_API int sdsinf_err_set(sdsinf_err *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* "EPARSE" etc.; "UNKNOWN" for codes not in the table. */
SDSINF_API const char *sdsinf_status_name(int code);
/* A one-line description of the code. */
SDSINF_API const char *sdsinf_status_text(int code);

/* ---- Sparse matrices --------------------------------------------------- */
/* Compressed sparse rows, float32 values, column ids ascending within a row.
 * `owned` is nonzero when the arrays are heap memory freed by
 * sdsinf_csr_free; zero when they borrow memory (e.g. a mapped bundle). */
typedef struct sdsinf_csr {
    int64_t nrows, ncols;
    int64_t *rowptr; /* nrows + 1 offsets */
    uint32_t *col;   /* rowptr[nrows] column ids */
    float *val;      /* rowptr[nrows] values */
    int owned;
    int64_t cap;     /* entries col and val can hold, when owned */
} sdsinf_csr;

/* Allocates an empty-pattern nrows x ncols matrix with room for cap entries. */
SDSINF_API int sdsinf_csr_alloc(sdsinf_csr *m, int64_t nrows, int64_t ncols,
                                int64_t cap, sdsinf_err *err);
SDSINF_API void sdsinf_csr_free(sdsinf_csr *m);
static inline int64_t sdsinf_csr_nnz(const sdsinf_csr *m)
{
    return m->rowptr ? m->rowptr[m->nrows] : 0;
}
/* Writes the transpose of `a` into `t` (caller frees t). */
SDSINF_API int sdsinf_csr_transpose(const sdsinf_csr *a, sdsinf_csr *t,
                                    sdsinf_err *err);

/* ---- Models ------------------------------------------------------------ */
typedef struct sdsinf_layer {
    sdsinf_csr w;          /* neurons x neurons, row = input, col = output */
    sdsinf_csr wt;         /* the transpose of w (row = output neuron) */
    float bias;            /* used when bias_vec is NULL */
    const float *bias_vec; /* one bias per output neuron, or NULL */
    /* internal: the kernel's visiting order, made by the model; NULL for a
     * layer assembled by hand (the kernel then goes in output order) */
    const struct sdsinf_layer_plan *plan_;
} sdsinf_layer;

typedef struct sdsinf_model sdsinf_model; /* owns its layers */
struct sdsinf_model {
    int32_t neurons;
    int32_t layers;
    float ymax;
    sdsinf_layer *layer; /* layers entries */
    struct sdsinf_model_store *store_; /* internal: memory behind the layers */
};

#define SDSINF_MODEL_OPTS_VERSION 2
typedef struct sdsinf_model_opts {
    int version;
    int32_t neurons;  /* 0: infer from the files */
    int32_t layers;   /* 0: every layer present; else the first `layers` */
    const char *bias; /* NULL: GraphChallenge default for the size; else a
                         number for every layer, or a bias file (see README) */
    float ymax;       /* 0: 32 */
    /* version 2 */
    /* Called, from the calling thread, after each layer file of a
     * directory is read: done of total layers (a bundle maps at once, and
     * calls nothing).  NULL: none.  The library prints nothing. */
    void (*progress)(void *ud, int64_t done, int64_t total);
    void *progress_ud;
} sdsinf_model_opts;

SDSINF_API void sdsinf_model_opts_init(sdsinf_model_opts *o);
/* Loads a model from `path`: a directory of per-layer GraphChallenge TSV
 * (`n{N}-l{l}.tsv`) or MatrixMarket (`*l{l}.mtx`) files, or a bundle file
 * written by sdsinf_model_save_bundle.  Caller owns *out. */
SDSINF_API int sdsinf_model_load(const char *path, const sdsinf_model_opts *o,
                                 sdsinf_model **out, sdsinf_err *err);
SDSINF_API void sdsinf_model_free(sdsinf_model *m);
/* Builds a model from per-layer weights; takes ownership of `w` (layers
 * matrices, freed with the model even on failure) and copies bias_vec. */
SDSINF_API int sdsinf_model_from_layers(int32_t neurons, int32_t layers,
                                        sdsinf_csr *w, const float *bias,
                                        const float *bias_vec, float ymax,
                                        sdsinf_model **out, sdsinf_err *err);
/* The GraphChallenge bias for a neuron count (-0.3 for 1024, ...); returns
 * SDSINF_ENOTSUP for other sizes. */
SDSINF_API int sdsinf_default_bias(int32_t neurons, float *bias);

/* Writes `dir/n{N}-l{l}.tsv` for every layer (1-based, GraphChallenge). */
SDSINF_API int sdsinf_model_save_tsv(const sdsinf_model *m, const char *dir,
                                     sdsinf_err *err);
/* Writes the versioned, checksummed, mmap-able bundle. */
SDSINF_API int sdsinf_model_save_bundle(const sdsinf_model *m,
                                        const char *path, sdsinf_err *err);

/* ---- Images and categories --------------------------------------------- */
/* Reads `image feature value` lines (1-based) into an images x neurons CSR
 * of M rows, images 1..M: with count > 0, M = count and a larger id is an
 * error; with count 0, M is the largest id, which may be at most twice the
 * number of distinct ids with entries (an image without entries has no
 * line, but most do), else the line of the largest id is an error.
 * sdsinf_images_load is count 0.  Caller frees *out. */
SDSINF_API int sdsinf_images_load_count(const char *path, int32_t neurons,
                                        int64_t count, sdsinf_csr *out,
                                        sdsinf_err *err);
SDSINF_API int sdsinf_images_load(const char *path, int32_t neurons,
                                  sdsinf_csr *out, sdsinf_err *err);
SDSINF_API int sdsinf_images_save(const sdsinf_csr *images, const char *path,
                                  sdsinf_err *err);
/* Reads a categories file (one 1-based image id per line, ascending). */
SDSINF_API int sdsinf_categories_load(const char *path, int64_t **ids,
                                      int64_t *count, sdsinf_err *err);
SDSINF_API int sdsinf_categories_save(const int64_t *ids, int64_t count,
                                      const char *path, sdsinf_err *err);
/* Writes the categories to an open file (errors show in ferror(f)). */
SDSINF_API void sdsinf_categories_write(const int64_t *ids, int64_t count,
                                        FILE *f);

/* ---- Output files and directories -------------------------------------- */
/* Where a write of a path goes; every writer above goes through these.  A
 * regular file or a new path is written to a temporary file beside it
 * (NAME.tmpXXXXXX) that commit renames onto it, so a reader never sees half
 * of it and a failure leaves it as it was; a symlink is followed to its
 * final target (the link stays a link; a dangling one creates its target);
 * a character device, FIFO, socket or terminal is written straight
 * through, and a link to an open file (/dev/stdout, /dev/fd/N) appended to;
 * a directory is refused (SDSINF_EINVAL).  An s3://BUCKET/KEY location is
 * written to a private file under the scratch directory that commit stores
 * as the object, whole (a failure leaves the object as it was). */
typedef struct sdsinf_output {
    FILE *f;     /* write here (the output owns it) */
    char *name;  /* the path as given, for messages */
    char *final; /* where the temporary file goes (a link's final target) */
    char *temp;  /* the temporary file; NULL when written straight through */
} sdsinf_output;
SDSINF_API int sdsinf_output_open(const char *path, sdsinf_output *o,
                                  sdsinf_err *err);
/* Whether sdsinf_output_open(path) can work, checked before any work and
 * touching nothing: SDSINF_EINVAL, naming path, when it is a directory or
 * its directory is missing or not writable (an existing device, FIFO or
 * link to an open file is written straight through; an s3:// location is
 * not checked here). */
SDSINF_API int sdsinf_output_check(const char *path, sdsinf_err *err);
/* Closes the file, checking every write, and renames it into place; on
 * failure removes the temporary file.  Either way *o is then empty. */
SDSINF_API int sdsinf_output_commit(sdsinf_output *o, sdsinf_err *err);
/* Closes the file and removes the temporary one; *o is then empty. */
SDSINF_API void sdsinf_output_abort(sdsinf_output *o);

/* A directory written whole: begin makes `.NAME.tmpXXXXXX` beside it (write
 * the content into d->temp); commit renames it into place, replacing an
 * existing directory only then (swapped, the old one removed); abort
 * removes it.  An existing directory that is neither empty nor holds
 * `marker` (plan.bin for a plan) is not ours: begin refuses it
 * (SDSINF_EINVAL), as it refuses a file in its place.  Under an
 * s3://BUCKET/PREFIX location commit stores each file as PREFIX/NAME (the
 * marker last: a reader that finds it finds the rest); objects there that
 * the new content lacks stay. */
typedef struct sdsinf_output_dir {
    char *path; /* the directory (a link's final target) */
    char *temp; /* where to write until commit */
    const char *marker; /* an s3:// directory's: stored after the rest */
} sdsinf_output_dir;
SDSINF_API int sdsinf_output_dir_begin(const char *dir, const char *marker,
                                       sdsinf_output_dir *d, sdsinf_err *err);
SDSINF_API int sdsinf_output_dir_commit(sdsinf_output_dir *d,
                                        sdsinf_err *err);
SDSINF_API void sdsinf_output_dir_abort(sdsinf_output_dir *d);

/* ---- Inference --------------------------------------------------------- */
typedef struct sdsinf_pool sdsinf_pool; /* worker threads for the kernel */
/* threads <= 0: one per online CPU. */
SDSINF_API int sdsinf_pool_create(int threads, sdsinf_pool **out,
                                  sdsinf_err *err);
SDSINF_API int sdsinf_pool_threads(const sdsinf_pool *p);
SDSINF_API void sdsinf_pool_free(sdsinf_pool *p);

/* One layer: *out = min(ymax, ReLU(y * layer->w + bias)), zeros dropped.
 * `y` has layer->w.nrows columns; *out gets layer->w.ncols.  *out is either
 * zeroed or an owned matrix whose memory is reused (as when a caller
 * alternates two matrices over the layers); caller frees it.  Rows run in
 * parallel on `pool` (NULL: this thread), which keeps its scratch memory
 * between calls: one call at a time per pool. */
SDSINF_API int sdsinf_layer_forward(sdsinf_pool *pool,
                                    const sdsinf_layer *layer, float ymax,
                                    const sdsinf_csr *y, sdsinf_csr *out,
                                    sdsinf_err *err);

/* Per-sample outcome of a run. */
typedef struct sdsinf_result {
    int64_t images;
    int32_t *argmax; /* 0-based neuron of the largest final value (lowest id
                        wins ties), -1 when the final row is empty */
    float *max;      /* the largest final value, 0 when empty */
} sdsinf_result;
SDSINF_API void sdsinf_result_free(sdsinf_result *r);
/* The 1-based ids of images with a nonzero final row (the categories). */
SDSINF_API int sdsinf_result_categories(const sdsinf_result *r, int64_t **ids,
                                        int64_t *count, sdsinf_err *err);
/* Writes `image argmax max` (1-based; argmax 0 when empty) per image. */
SDSINF_API int sdsinf_result_save_scores(const sdsinf_result *r,
                                         const char *path, sdsinf_err *err);
/* The same to an open file (errors show in ferror(f)). */
SDSINF_API void sdsinf_result_write_scores(const sdsinf_result *r, FILE *f);

#define SDSINF_INFER_OPTS_VERSION 1
typedef struct sdsinf_infer_opts {
    int version;
    int threads;        /* <= 0: one per CPU (ignored when pool is set) */
    sdsinf_pool *pool;  /* borrowed; NULL: a pool is made for the call */
    int64_t batch_size; /* images per batch; <= 0: all at once */
    /* Called after every layer of every batch, from the calling thread. */
    void (*progress)(void *ud, int64_t batch, int64_t batches, int32_t layer,
                     int32_t layers);
    void *progress_ud;
} sdsinf_infer_opts;
SDSINF_API void sdsinf_infer_opts_init(sdsinf_infer_opts *o);
/* Runs every image through every layer.  Caller frees *out. */
SDSINF_API int sdsinf_infer(const sdsinf_model *m, const sdsinf_csr *images,
                            const sdsinf_infer_opts *o, sdsinf_result *out,
                            sdsinf_err *err);

/* ---- Generator --------------------------------------------------------- */
#define SDSINF_GEN_OPTS_VERSION 1
typedef struct sdsinf_gen_opts {
    int version;
    int32_t neurons; /* any N >= 2 */
    int32_t layers;
    int64_t images;
    uint64_t seed;
} sdsinf_gen_opts;
SDSINF_API void sdsinf_gen_opts_init(sdsinf_gen_opts *o);
/* A RadiX-Net-style network as in the GraphChallenge data: 32 connections
 * per neuron (all N when N <= 32), weights 2/degree (1/16), butterfly stages
 * of log2(N/16) layers, each later stage block behind its own random input
 * permutation; bias the GraphChallenge default for the size or, for other
 * sizes, interpolated in log2(N).  Caller owns the result. */
SDSINF_API int sdsinf_generate_model(const sdsinf_gen_opts *o,
                                     sdsinf_model **model, sdsinf_err *err);
/* Sparse image-like inputs (strokes on a sqrt(N) grid), binary values. */
SDSINF_API int sdsinf_generate_images(const sdsinf_gen_opts *o,
                                      sdsinf_csr *images, sdsinf_err *err);

/* ---- Memory: sizes that cannot fit, refused up front -------------------
 * A command's peak memory, estimated from its sizes before it allocates
 * (within about a factor of 2 of what it takes), so a size that cannot fit
 * is refused with the figure instead of running the machine out of memory.
 * Zero fields are unknown or absent and add nothing. */
typedef struct sdsinf_mem_sizes {
    int32_t neurons, layers;
    int64_t weights;       /* weight entries over all layers, when known */
    int64_t model_text;    /* else: bytes of the model's text layer files */
    int64_t model_text_once; /* of those, the most parsed at once (the
                                largest file; all without a neuron count) */
    int64_t images;        /* images held (rows of the images matrix) */
    int64_t image_entries; /* their entries, when known */
    int64_t image_text;    /* else: bytes of the images file to parse */
    int64_t batch_size;    /* images computed at once; <= 0: all */
    int infer;             /* one-process inference runs (dense batches) */
    int workers;           /* distributed workers in this process or on
                              this machine (each holds a batch); 0: none */
    int hypergraph;        /* the hypergraph partitioner runs */
} sdsinf_mem_sizes;

/* Bytes this machine can still give: MemAvailable from /proc/meminfo, else
 * its physical memory (sysconf); 0 when neither is known. */
SDSINF_API int64_t sdsinf_mem_available(void);
/* The estimated peak bytes of a command over sizes s. */
SDSINF_API int64_t sdsinf_mem_estimate(const sdsinf_mem_sizes *s);
/* SDSINF_ENOMEM, with a message giving the estimate, the sizes and the
 * limit, when the estimate exceeds limit bytes (limit 0: the available
 * memory; no check when that is unknown).  `what` names the command. */
SDSINF_API int sdsinf_mem_check(const char *what, const sdsinf_mem_sizes *s,
                                int64_t limit, sdsinf_err *err);
/* Fills the model's sizes in *s from `path` without loading it: a bundle's
 * header and layer table, or a directory's layer file names and sizes (the
 * other fields of *s are left as they are).  A path that does not load is
 * left to sdsinf_model_load to report: *s is then left unchanged. */
SDSINF_API void sdsinf_model_mem(const char *path, const sdsinf_model_opts *o,
                                 sdsinf_mem_sizes *s);
/* The sizes of what sdsinf_generate_model and _images make for o. */
SDSINF_API void sdsinf_generate_mem(const sdsinf_gen_opts *o,
                                    sdsinf_mem_sizes *s);

/* ---- Plans: neurons partitioned over workers ----------------------------
 * Stage 0 is the input features, stage l the outputs of layer l.  A plan
 * gives every neuron of every stage an owner in 0..workers-1; for layer l,
 * input row k (stage l-1) goes from its owner to every other worker owning
 * an output that row k feeds: the (row, target) pairs, whose count is the
 * communication volume in rows. */
typedef struct sdsinf_plan sdsinf_plan;

#define SDSINF_PARTITION_OPTS_VERSION 2
typedef struct sdsinf_partition_opts {
    int version;
    int workers;
    const char *method;  /* "block", "random" or "hypergraph" (NULL) */
    double imbalance;    /* allowed per-layer load imbalance; 0: 0.03 */
    uint64_t seed;
    const sdsinf_csr *sample; /* images weighting input features, or NULL */
    /* version 2 */
    /* Called from the calling thread as the hypergraph partitioner goes:
     * its step `stage` (static text: "build the hypergraph", "initial
     * plan", ...; a new pointer starts a new step), done of total (the
     * stages it visited, or the annealing's moves; total 0: a step that
     * counts none).  NULL: none; block and random plans call nothing.
     * The library prints nothing. */
    void (*progress)(void *ud, const char *stage, int64_t done,
                     int64_t total);
    void *progress_ud;
} sdsinf_partition_opts;
SDSINF_API void sdsinf_partition_opts_init(sdsinf_partition_opts *o);
/* Partitions the model; caller frees *out with sdsinf_plan_free. */
SDSINF_API int sdsinf_partition(const sdsinf_model *m,
                                const sdsinf_partition_opts *o,
                                sdsinf_plan **out, sdsinf_err *err);
SDSINF_API void sdsinf_plan_free(sdsinf_plan *p);

typedef struct sdsinf_plan_stats {
    int32_t workers, neurons, layers;
    const char *method;             /* borrowed from the plan */
    int64_t row_target_pairs;       /* over all layers */
    const int64_t *pairs_per_layer; /* layers entries, borrowed */
    double imbalance; /* max over layers of max worker nonzeros / mean - 1 */
    double seconds;   /* time the partitioner took; 0 for a plan loaded
                         from its files (plan.bin leaves the time out, so
                         the same plan made again is the same bytes) */
} sdsinf_plan_stats;
SDSINF_API void sdsinf_plan_get_stats(const sdsinf_plan *p,
                                      sdsinf_plan_stats *s);
/* Owners of stage s's neurons (neurons entries), borrowed. */
SDSINF_API const uint16_t *sdsinf_plan_owner(const sdsinf_plan *p,
                                             int32_t stage);
/* The workers that need input row k of layer l (1-based layer), its owner
 * excluded: *targets (borrowed) gets *count ids, ascending. */
SDSINF_API void sdsinf_plan_targets(const sdsinf_plan *p, int32_t layer,
                                    int32_t row, const uint16_t **targets,
                                    int64_t *count);

/* A plan directory: `plan.bin` (owners and targets, checksummed) and, per
 * worker, `shard-{w}.sdsinf`: a bundle of the weight columns it owns. */
SDSINF_API int sdsinf_plan_save(const sdsinf_plan *p, const sdsinf_model *m,
                                const char *dir, sdsinf_err *err);
/* Loads plan.bin; `m` (may be NULL) must be the model the plan is for. */
SDSINF_API int sdsinf_plan_load(const char *dir, const sdsinf_model *m,
                                sdsinf_plan **out, sdsinf_err *err);

/* SDS-Inf's per-worker layout (nnp.<w>, train.<w>, conn.<l>; 0-based):
 * written from a model, plan and images (images may be NULL), and read
 * back with every ownership and target checked.  Reading takes the
 * weights from `known` when given (*m is then NULL; nnp files may be
 * absent, owners are rebuilt from the conn files), else from the nnp files
 * with mo->neurons (numNeurons) and mo->bias (a number, a bias file as
 * sdsinf_model_load reads it, or the default).
 * *conn_pairs (may be NULL) gets the (row, target) pairs the conn files
 * list: SDS-Inf lists only rows that carry data, so it can be below the
 * plan's.  The caller owns what load returns (images may be NULL). */
SDSINF_API int sdsinf_legacy_save(const sdsinf_model *m, const sdsinf_plan *p,
                                  const sdsinf_csr *images, const char *dir,
                                  sdsinf_err *err);
SDSINF_API int sdsinf_legacy_load(const char *dir, const sdsinf_model *known,
                                  const sdsinf_model_opts *mo, sdsinf_model **m,
                                  sdsinf_plan **p, sdsinf_csr *images,
                                  int64_t *conn_pairs, sdsinf_err *err);

/* ---- Channels: how workers' messages travel ------------------------------
 * A channel moves opaque messages (the codec's bytes) between the workers of
 * one run, at least once; receivers deduplicate.  A channel is a versioned
 * table of functions (as sqlite3_vfs is for SQLite).  Instances embed
 * sdsinf_channel first; the core allocates instance_size bytes, zeroed.
 * An instance is used by one thread unless caps has SDSINF_CAP_THREADSAFE.
 *
 * Adding a channel: one source file in src/channels/ that fills in a table,
 * its line in the registry's list of built-ins (channels/registry.c, with
 * its extern in channels/channels.h and the file in CMakeLists.txt) or a
 * sdsinf_channel_register call, and one line in tests/CMakeLists.txt
 * running the shared conformance suite (tests/conformance_channel.c) on it
 * with the setting each case gives it.  The table needs:
 *   - version SDSINF_CHANNEL_VERSION, name, instance_size, caps,
 *     max_message; open, send, recv and close (control may be NULL);
 *   - for a service that bills requests: instance->requests, counted on
 *     every request the channel makes (a version 1 table gets its send and
 *     recv calls counted by the core instead);
 *   - where a run leaves state (files, keys, queues): run_create and
 *     run_destroy, which the coordinator calls once before the workers
 *     start and once after they end, whatever their fate, and run_residue,
 *     which counts what a run left (the suite's check that nothing is);
 *     with SDSINF_CAP_PROCESSES, the run's owner record names the channel,
 *     so that sdsinf_clean removes what a killed run left through
 *     run_destroy (on a process that did not make the run: it must work
 *     from the config, the run id and the endpoints alone);
 *   - type_init and type_cleanup for what all instances of the channel in a
 *     process share (a client, a connection pool, MPI), and flush when
 *     sends are batched.  Every version 2 entry may be NULL;
 *   - config_prepare (version 3) where the setting can be checked up
 *     front, or means something only where it is read (a relative path);
 *   - (version 4) an open whose setting changes the messages it takes sets
 *     the instance's max_message and whole_above (a claim check stores
 *     big blocks elsewhere and takes them whole).
 * Version 1 tables (without the entries after control) keep working when
 * built against this header (sdsinf_channel grew: rebuild a channel built
 * against an older one; its table may keep version 1). */
#define SDSINF_CHANNEL_VERSION 4

enum {
    SDSINF_CAP_KEYED = 1u,      /* messages sit at known keys (an object
                                   store): recv fetches the `want` key */
    SDSINF_CAP_PROCESSES = 2u,  /* works between processes */
    SDSINF_CAP_THREADSAFE = 4u, /* one instance may be shared by threads */
    SDSINF_CAP_DETACHED = 8u    /* a message waits in the channel for a
                                   receiver not open yet: a worker may send
                                   and close before its peer opens (a store
                                   or a queue service, not a pipe) */
};

/* Where a message belongs.  chunk/nchunks number the pieces of one block. */
typedef struct sdsinf_msg_key {
    uint64_t run;
    uint32_t batch, layer, source, target;
    uint32_t chunk, nchunks;
} sdsinf_msg_key;

typedef struct sdsinf_channel sdsinf_channel;

/* Billable requests by kind, as the service behind a channel bills them
 * (a batch of 10 messages is one send request; a receive that returns
 * nothing still counts).  Channels without a bill count calls. */
typedef struct sdsinf_requests {
    uint64_t send;    /* send/publish/put calls */
    uint64_t receive; /* receive/get calls, empty ones included */
    uint64_t empty;   /* of those, the ones that returned nothing */
    uint64_t remove;  /* delete calls */
    uint64_t list;    /* list calls */
    uint64_t retries; /* requests repeated after throttling or a 5xx */
    uint64_t units;   /* payload in the service's billing units (SQS/SNS:
                         64 KiB chunks per request), 0 where not billed */
    /* channel version 4 */
    uint64_t send_units; /* of units, those of the send calls (sns: its
                            publishes, which SNS bills; the rest SQS's) */
    /* S3 requests of a queue channel that keeps big blocks in S3 (the
     * claim check of sqs and sns); the s3 channel counts its own above */
    uint64_t s3_put, s3_get, s3_list, s3_remove;
} sdsinf_requests;

/* s3://BUCKET/KEY locations: every reader and writer of the library takes
 * one where it takes a path (a file, or the objects under KEY/ as a
 * directory), fetching a private copy to read and storing outputs whole
 * when committed (sdsinf_output).  1 when loc is one (no local checks such
 * as stat apply to it). */
SDSINF_API int sdsinf_location_remote(const char *loc);
/* Adds to *r the S3 requests this process made for such locations (GET
 * and HEAD as receive, PUT as send, LIST, DELETE as remove, and
 * retries), and those the workers of its runs made in processes of their
 * own (each fetching its plan, shard and inputs), which their reports
 * bring. */
SDSINF_API void sdsinf_location_requests(sdsinf_requests *r);
/* Copies location `from` to `to` (each a local path or an s3:// object),
 * whole or not at all (to is written through sdsinf_output). */
SDSINF_API int sdsinf_location_copy(const char *from, const char *to,
                                    sdsinf_err *err);

typedef struct sdsinf_channel_methods sdsinf_channel_methods;
struct sdsinf_channel_methods {
    int version;          /* SDSINF_CHANNEL_VERSION (1: without the
                             entries of version 2) */
    const char *name;     /* "mem", "local", "fs", ... */
    size_t instance_size; /* >= sizeof(sdsinf_channel) */
    unsigned caps;        /* SDSINF_CAP_* */
    size_t max_message;   /* largest message in bytes; 0: no limit */
    /* Opens the instance for worker ch->self of ch->workers in run ch->run;
     * `config` (may be NULL) is the channel's own setting (a directory, a
     * URL).  On failure close is not called. */
    int (*open)(sdsinf_channel *ch, const char *config, sdsinf_err *err);
    /* Sends msg (len bytes, borrowed for the call) to worker key->target. */
    int (*send)(sdsinf_channel *ch, const sdsinf_msg_key *key,
                const void *msg, size_t len, sdsinf_err *err);
    /* The next message for this worker, waiting at most timeout_ms:
     * SDSINF_ETIMEDOUT if none came.  A keyed channel returns the message
     * at `want` (all its chunks in one); others ignore `want` but for
     * error messages.  *msg is malloc'd: the caller frees it with free(). */
    int (*recv)(sdsinf_channel *ch, const sdsinf_msg_key *want, void **msg,
                size_t *len, int timeout_ms, sdsinf_err *err);
    /* Releases the instance; cleanup: also remove what the run left in the
     * channel (queues, objects, files), unless run_create made the run:
     * then its state stays for run_destroy. */
    int (*close)(sdsinf_channel *ch, int cleanup, sdsinf_err *err);
    /* Channel-specific operations (op >= 100); SDSINF_ENOTSUP for others. */
    int (*control)(sdsinf_channel *ch, int op, void *arg, sdsinf_err *err);

    /* ---- version 2: each may be NULL (nothing to do) ---- */
    /* Makes the state the channel's instances in this process share
     * (*state, handed to every instance as ch->type_state and to the run
     * calls below); called once, on the first open or run call, under a
     * lock (a failure is returned to that caller, and the next one tries
     * again).  m is the table registered, for code serving several. */
    int (*type_init)(const sdsinf_channel_methods *m, void **state,
                     sdsinf_err *err);
    /* Frees that state: at exit, or when the table is replaced and its
     * last instance has closed. */
    void (*type_cleanup)(void *state);
    /* Makes what run `run` of `workers` workers needs (queues, a prefix, a
     * directory) before any worker opens it.  Called once, by the run's
     * coordinator; the requests it makes are added to *req. */
    int (*run_create)(void *state, const char *config, uint64_t run,
                      int workers, sdsinf_requests *req, sdsinf_err *err);
    /* Removes everything the run left, whatever its workers did (also when
     * they crashed, or were never started); called once by the
     * coordinator after they ended.  Required with run_create. */
    int (*run_destroy)(void *state, const char *config, uint64_t run,
                       int workers, sdsinf_requests *req, sdsinf_err *err);
    /* Hands the service what send holds back for a batch (the worker calls
     * it after a layer's sends); a message must still go at the latest
     * with the sender's next recv or close. */
    int (*flush)(sdsinf_channel *ch, sdsinf_err *err);
    /* How many items (files, keys, queues, messages) of the run the
     * channel still holds; 0 once run_destroy or the last close with
     * cleanup is done.  For checks and `sdsinf clean`. */
    int (*run_residue)(void *state, const char *config, uint64_t run,
                       int64_t *items, sdsinf_err *err);

    /* ---- version 3: may be NULL (the setting is used as given) ---- */
    /* Checks setting `config` (may be NULL) without reaching the service
     * (SDSINF_EINVAL naming a bad setting) and writes into out (cap bytes)
     * the form that means the same in every process of a run and in its
     * owner record, wherever they start (a relative directory made
     * absolute).  A run calls it once, before anything is loaded. */
    int (*config_prepare)(const char *config, char *out, size_t cap,
                          sdsinf_err *err);
};

struct sdsinf_channel {
    const sdsinf_channel_methods *methods;
    int self, workers;
    uint64_t run;
    /* kept by the core on every send and recv */
    uint64_t msgs_sent, bytes_sent, msgs_recv, bytes_recv;
    /* version 2 */
    void *type_state;         /* the channel's shared state (type_init) */
    sdsinf_requests requests; /* the requests the instance made so far:
                                 counted by a version 2 channel (atomically
                                 when SDSINF_CAP_THREADSAFE), by the core
                                 for version 1 (calls; ETIMEDOUT: empty) */
    struct sdsinf_channel_type *type_; /* internal: the registry's entry */
    /* version 4: the messages this instance takes, set by the core before
     * open (the table's max_message; whole_above 0), which an open whose
     * setting differs may change (read from version 4 tables only) */
    size_t max_message;  /* the largest message; 0: no limit */
    size_t whole_above;  /* nonzero: messages over max_message are taken
                            whole (the channel stores them elsewhere); the
                            run hands over uncut the blocks over this (or
                            whose chunks together are) and cuts the others
                            into chunks; 0: none over max_message */
    /* set by the core before open: nonzero for the runtime's own
     * instances (a run's workers and coordinator; sdsinf_channel_open
     * sets 0), whose run its coordinator made with run_create before any
     * of them opened: open finds the run's state and makes none, so one
     * that finds it gone fails (the run has ended) and leaves nothing */
    int run_made;
};

/* Contract details every channel keeps:
 *  - a keyed channel holds one object per key: a block is sent whole
 *    (chunk 0 of 1); queue channels may get chunks (max_message);
 *  - queue channels treat `want` as advisory: messages of later layers may
 *    come early, and the runtime keeps them;
 *  - on success *msg is never NULL (a 0-byte message too); timeout 0 polls;
 *  - a run made by run_create is removed by run_destroy alone; in one
 *    opened without it (a standalone user), cleanup is deferred while
 *    other workers of the run are open: the last worker to close removes
 *    the run if any asked, and opening one instance and closing it with
 *    cleanup also removes what dead workers left;
 *  - access refused by the service or the filesystem is SDSINF_EACCES, a
 *    service that sheds load (busy, out of memory, too many clients)
 *    SDSINF_ETHROTTLED, each with what to do in the message;
 *  - the counters are read when no call is in flight.
 * Channel-specific control ops (>= 100): */
#define SDSINF_FS_LISTING 100          /* fs: int *on: recv by listing */
#define SDSINF_S3_LISTING SDSINF_FS_LISTING /* s3: the same */
#define SDSINF_LOCAL_SEND_TIMEOUT 110  /* local: int *ms: longest send wait */

/* The registry (thread-safe).  Registering a name again replaces it (the
 * same table again changes nothing). */
SDSINF_API int sdsinf_channel_register(const sdsinf_channel_methods *m,
                                       sdsinf_err *err);
/* NULL or "" gives the default ("local"); NULL when unknown.  "mpi", when
 * no table of that name is registered, loads the MPI plugin
 * (libsdsinf-mpi.so), whose table it is: NULL where it cannot. */
SDSINF_API const sdsinf_channel_methods *sdsinf_channel_find(const char *name);
SDSINF_API int sdsinf_channel_open(const char *name, const char *config,
                                   int self, int workers, uint64_t run,
                                   sdsinf_channel **out, sdsinf_err *err);
SDSINF_API int sdsinf_channel_send(sdsinf_channel *ch,
                                   const sdsinf_msg_key *key, const void *msg,
                                   size_t len, sdsinf_err *err);
SDSINF_API int sdsinf_channel_recv(sdsinf_channel *ch,
                                   const sdsinf_msg_key *want, void **msg,
                                   size_t *len, int timeout_ms,
                                   sdsinf_err *err);
/* What send holds back goes now (SDSINF_OK at once for channels without
 * batches). */
SDSINF_API int sdsinf_channel_flush(sdsinf_channel *ch, sdsinf_err *err);
/* The instance's request counters so far (SDSINF_EINVAL for NULL). */
SDSINF_API int sdsinf_channel_requests(const sdsinf_channel *ch,
                                       sdsinf_requests *out);
SDSINF_API int sdsinf_channel_control(sdsinf_channel *ch, int op, void *arg,
                                      sdsinf_err *err);
/* Closes and frees (NULL is fine). */
SDSINF_API int sdsinf_channel_close(sdsinf_channel *ch, int cleanup,
                                    sdsinf_err *err);
/* A run's life on channel `name`, for its coordinator: create before any
 * worker opens, destroy after every worker ended (both SDSINF_OK for a
 * channel without them).  The requests they make are added to *req (may
 * be NULL). */
SDSINF_API int sdsinf_channel_run_create(const char *name, const char *config,
                                         uint64_t run, int workers,
                                         sdsinf_requests *req,
                                         sdsinf_err *err);
SDSINF_API int sdsinf_channel_run_destroy(const char *name,
                                          const char *config, uint64_t run,
                                          int workers, sdsinf_requests *req,
                                          sdsinf_err *err);
/* How many items of the run the channel holds (SDSINF_ENOTSUP for a
 * channel that cannot tell). */
SDSINF_API int sdsinf_channel_run_residue(const char *name,
                                          const char *config, uint64_t run,
                                          int64_t *items, sdsinf_err *err);

/* ---- Distributed runs ------------------------------------------------------ */
/* What staging local data in a bucket did (sdsinf_stage): the objects
 * uploaded and those already there (not uploaded again), and their
 * bytes. */
typedef struct sdsinf_stage_stats {
    int64_t uploaded, skipped;
    uint64_t bytes_uploaded, bytes_skipped;
} sdsinf_stage_stats;

#define SDSINF_RUN_OPTS_VERSION 8
typedef struct sdsinf_run_opts {
    int version;                /* SDSINF_RUN_OPTS_VERSION (older: without
                                   the fields of later versions) */
    const char *launcher;       /* "local" processes (NULL), "threads",
                                   "external" (specs_dir), "mpi": this
                                   process is one rank of an MPI job
                                   (mpirun -n workers), the worker of its
                                   rank; rank 0 holds the result; "lambda"
                                   (invocations of `function`); or any
                                   registered (see Launchers) */
    const char *channel;        /* NULL: "local" ("mem" for threads, "mpi"
                                   for mpi) */
    const char *channel_config; /* the channel's own setting, or NULL */
    int64_t batch_size;         /* images per batch; <= 0: all */
    const char *codec;          /* "zstd" (NULL) or "raw" */
    int level;                  /* zstd level; 0: 3 */
    int timeout_ms;             /* longest wait for a message; 0: 30000 */
    uint64_t run_id;            /* 0: made up */
    int kernel_threads;         /* per worker; 0: 1 */
    int bfr, nlevels;           /* launch tree; 0: all from the coordinator */
    /* version 2 */
    const char *plan_dir; /* where the plan was loaded from: each worker
                             then loads its shard-{w}.sdsinf itself (mapped;
                             checked against the plan), after starting its
                             children, as a serverless worker would, and
                             takes its weights from it (bias and ymax stay
                             the model's); NULL: threads and MPI ranks cut
                             their shards from the model in memory, and for
                             workers that start from their specs (local,
                             external) the run writes the plan directory
                             under its scratch directory first */
    /* version 3 */
    int64_t max_message; /* bytes a message may take (a block over it goes
                            as chunks, split between rows); 0: 256 KiB, an
                            SQS message's limit; a channel's own lower
                            limit wins; a keyed channel (an object store)
                            takes each block whole */
    /* version 4 */
    const volatile sig_atomic_t *cancel; /* NULL, or a flag the caller sets
                            (from a signal handler, say; from another
                            thread with an atomic store, such as
                            __atomic_store_n) to stop the run:
                            the workers are stopped, the run's channel
                            state removed, and sdsinf_run returns
                            SDSINF_ECANCELED (within ~0.2 s) */
    /* version 5 */
    const char *worker_exe; /* launcher local: each worker process runs
                            `worker_exe worker --quiet --spec -` (the sdsinf
                            executable: the command line gives its own),
                            its spec on standard input; NULL: a fork of
                            this process runs sdsinf_worker_main on it */
    const char *specs_dir;  /* launcher external: the directory where the
                            run writes worker-{w}.spec, one per worker, for
                            someone else to start the workers with (`sdsinf
                            worker --spec FILE`), and waits for their
                            reports */
    /* version 6 */
    int start_timeout_ms;   /* a launcher that cannot tell of its workers
                            (no poll: external): the longest wait, from the
                            workers' launch, for every worker to start
                            (its data loaded and channel open, it tells the
                            coordinator so); then the run ends naming those
                            that did not; 0: 600000 (10 minutes; lambda:
                            the run's timeout) */
    /* version 7 */
    /* Called from the calling thread while the run waits for its workers
     * (every ~0.1 s at most): `done` of `total` steps, a step one worker's
     * one layer of one batch; total 0 where the launcher cannot see its
     * workers' layers (only local processes show them), done then the
     * workers that reported.  NULL: none.  The library prints nothing. */
    void (*progress)(void *ud, int64_t done, int64_t total);
    void *progress_ud;
    /* version 8 */
    const char *stage_bucket; /* workers that start from specs read only
                            S3: the run stages its local plan directory
                            (or the plan it made) and the workers' inputs
                            in this bucket first, content-addressed
                            (sdsinf_stage: what is there already is not
                            uploaded again), and the specs name only
                            s3:// locations; NULL: none (a launcher with
                            SDSINF_LAUNCH_REMOTE then needs an s3://
                            plan_dir) */
    const char *function;   /* launcher lambda: the name of the AWS Lambda
                            function whose invocations are the workers
                            (its bootstrap the sdsinf executable; `sdsinf
                            aws deploy --package` makes <stack>-worker);
                            NULL: the function this process runs in
                            ($AWS_LAMBDA_FUNCTION_NAME) */
} sdsinf_run_opts;
SDSINF_API void sdsinf_run_opts_init(sdsinf_run_opts *o);
/* Checks the options alone, before any data is loaded (sdsinf_run checks
 * them too), for a run of `workers` workers (0: not known yet):
 * SDSINF_EINVAL for a value no run takes (an unknown launcher, channel or
 * codec, a channel the launcher cannot use, a negative batch size, a
 * message limit too small, a launch tree of another size), SDSINF_ENOTSUP
 * for one this build lacks (the mpi launcher without MPI, a channel left
 * out) or whose plugin is missing (the mpi launcher and channel without
 * libsdsinf-mpi.so, the message says where it was looked for). */
SDSINF_API int sdsinf_run_opts_check(const sdsinf_run_opts *o, int workers,
                                     sdsinf_err *err);
/* The channel a run with these options uses: o->channel, else the
 * launcher's default ("mem" for threads, "mpi" for mpi, else "local"). */
SDSINF_API const char *sdsinf_run_channel(const sdsinf_run_opts *o);

/* What one worker did at one layer, over all batches of a run.  Layers
 * 1..L are the model's; L + 1 is the results' trip to worker 0.  "Sent"
 * counts messages (chunks) this worker sent at the layer, "received" those
 * it took in; the sizes are whole messages, header included. */
typedef struct sdsinf_layer_record {
    int32_t worker, layer;
    uint32_t targets;            /* peers it sent a block to */
    uint64_t sent, sent_bytes, sent_max, sent_min;
    uint64_t received, received_bytes, received_max, received_min;
    uint64_t rows_sent, nnz_sent; /* activation rows and entries sent */
    uint64_t nnz;                /* entries of its activations entering the
                                    layer (its own neurons, all samples) */
    double seconds;              /* wall time in the layer */
    double compute_seconds, encode_seconds, decode_seconds, send_seconds,
        wait_seconds;
    sdsinf_requests requests;    /* the channel's requests in the layer
                                    (layer 1's: from its open on) */
} sdsinf_layer_record;

typedef struct sdsinf_run_stats {
    int workers;
    int rank;               /* launcher mpi: this process's rank (only rank
                               0 holds the result and these statistics);
                               else 0 */
    int32_t layers;
    int64_t batches;
    double seconds;         /* from every worker started to results merged */
    double startup_seconds; /* launching and loading, before that */
    uint64_t messages_sent, bytes_sent, messages_received, bytes_received;
    uint64_t duplicates, dropped;
    double compute_seconds, encode_seconds, decode_seconds, send_seconds,
        wait_seconds; /* summed over workers */
    sdsinf_requests requests; /* the channel's requests, summed over
                                 workers and the coordinator */
    /* workers x (layers + 1) records, by worker then layer (owned: free
     * with sdsinf_run_stats_free); NULL when a run failed */
    sdsinf_layer_record *records;
    int64_t nrecords;
    sdsinf_stage_stats staged; /* what stage_bucket staged (zeros: none) */
    /* launcher lambda (else 0): the workers' invocations and their billed
     * duration x memory in GB-seconds (GB = 1024 MB; each worker's
     * duration as it measured it, from its invocation's start to its
     * report, rounded up to the ms as AWS bills), and the function's
     * architecture (SDSINF_ARCH_*, as its workers report it) */
    uint64_t lambda_invocations;
    double lambda_gb_seconds;
    int lambda_arch;
    double lambda_seconds; /* that billed duration, summed over workers */
    int lambda_warm;       /* workers a warm process served with the plan
                              and shard it held (loaded nothing) */
    uint32_t lambda_memory_mb; /* the function's memory, as billed */
    uint32_t peak_mb;      /* the largest peak resident memory (MB) of a
                              process a worker ran in, as the workers
                              report it (threads: this process's) */
} sdsinf_run_stats;
SDSINF_API void sdsinf_run_stats_free(sdsinf_run_stats *st);

/* Runs the images through the model on p's workers; *out as sdsinf_infer
 * gives it (equal to it, bit for bit).  The calling process is the run's
 * coordinator: it starts the workers through the launcher (see Launchers)
 * and takes every worker's report (status, records, worker 0's result) at
 * its own endpoint of the channel.  A worker's failure, a lost message
 * or a dead worker ends the run (every wait bounded by timeout_ms) with an
 * error naming the worker, the layer and the channel; the local launcher
 * leaves no process and, through the channel's run_destroy (called once the
 * workers have ended, as run_create was before they started; with the mpi
 * launcher, by rank 0), no file behind.  The run's
 * requests (st->requests, and per layer in the records) are what its
 * channel counted.
 * A run whose channel keeps state outside its processes (local, fs, redis)
 * or whose workers start from specs records its owner (this process: pid
 * and start time; the channel and its config) under the scratch
 * directory, and a run first sweeps what runs whose owner is gone (killed)
 * left (sdsinf_clean). */
SDSINF_API int sdsinf_run(const sdsinf_model *m, const sdsinf_plan *p,
                          const sdsinf_csr *images, const sdsinf_run_opts *o,
                          sdsinf_result *out, sdsinf_run_stats *st,
                          sdsinf_err *err);

/* ---- A worker from its spec -----------------------------------------------
 * Everything one worker needs, as settings and the locations of its data:
 * sdsinf_worker_main loads the rest itself (the plan, its shard, its
 * inputs), so a worker can start wherever those paths are visible:
 * another process, another machine, a serverless function.  A spec
 * travels as text: a first line `sdsinf-worker-spec 1`, then one
 * `key value` line per field set (the keys are the field names below;
 * plan_dir is `plan`, inputs_dir `inputs`), each value percent-encoded
 * (%XX for the bytes <= 0x20, '%' and >= 0x7f), so any path survives.
 * The reader refuses unknown keys, a key given twice, a required one
 * missing (run, worker, workers, launcher, channel, plan, inputs) and bad
 * values, naming the line. */
#define SDSINF_WORKER_SPEC_VERSION 1
typedef struct sdsinf_worker_spec {
    int version;                /* SDSINF_WORKER_SPEC_VERSION */
    uint64_t run;               /* the run id */
    int worker, workers;        /* this worker's id, of how many */
    const char *launcher;       /* the run's launcher: it starts this
                                   worker's children in a launch tree */
    int bfr, nlevels;           /* the launch tree (0: none: the run
                                   starts every worker) */
    const char *exec;           /* the sdsinf executable children start
                                   as (`exec worker --quiet --spec -`), or
                                   NULL: forked from the worker */
    const char *channel;        /* the channel's name, and its own */
    const char *channel_config; /* setting (or NULL) */
    const char *plan_dir;       /* plan.bin and shard-{w}.sdsinf */
    const char *inputs_dir;     /* inputs-{w}.sdsinf: each worker's input
                                   features, written by the run */
    const char *bias;           /* a number or a bias file, as the model
                                   loader takes it; NULL: the shard's */
    float ymax;                 /* 0: the shard's */
    int64_t batch_size;         /* images per batch; <= 0: all */
    const char *codec;          /* "zstd" (NULL) or "raw" */
    int level;                  /* zstd level; 0: 3 */
    int timeout_ms;             /* longest wait for a message; 0: 30000 */
    int64_t max_message;        /* bytes a message may take; 0: 256 KiB */
    int kernel_threads;         /* 0: 1 */
    const char *progress;       /* local processes: the run's file of
                                   per-worker slots (pid, last call on the
                                   channel, end) all its processes map, or
                                   NULL */
    char *store_;               /* internal: a spec read owns its strings */
} sdsinf_worker_spec;
SDSINF_API void sdsinf_worker_spec_init(sdsinf_worker_spec *s);
/* The spec as text: *text (malloc'd, NUL-terminated; free() it) of *len
 * bytes. */
SDSINF_API int sdsinf_worker_spec_write(const sdsinf_worker_spec *s,
                                        char **text, size_t *len,
                                        sdsinf_err *err);
/* The same, written to an open file (a failed write is SDSINF_EIO). */
SDSINF_API int sdsinf_worker_spec_save(const sdsinf_worker_spec *s, FILE *f,
                                       sdsinf_err *err);
/* Parses len bytes of spec text into *out (its strings owned by *out:
 * sdsinf_worker_spec_free); SDSINF_EPARSE naming the line at fault, or
 * SDSINF_ENOTSUP for a later format version. */
SDSINF_API int sdsinf_worker_spec_read(const void *data, size_t len,
                                       sdsinf_worker_spec *out,
                                       sdsinf_err *err);
SDSINF_API void sdsinf_worker_spec_free(sdsinf_worker_spec *s);
/* Runs the worker of `spec`: starts its children (launch tree), loads its
 * data from the spec's locations, runs every layer, and reports to the
 * run's coordinator over the channel (its status, per-layer records and,
 * from worker 0, the result).  Returns the worker's status. */
SDSINF_API int sdsinf_worker_main(const sdsinf_worker_spec *spec,
                                  sdsinf_err *err);

/* A process that runs workers one after another (a warm Lambda function)
 * keeps the last one's plan and shard in a cache, for the next worker of
 * the same plan, shard, bias and cap: the files named by location and
 * identity (a local file's device, inode, size and modification time; an
 * s3:// object's ETag, size and Last-Modified, one HEAD each), so a plan
 * made again in the same place is loaded again.  The cache owns what it
 * keeps; one thread at a time. */
typedef struct sdsinf_worker_cache sdsinf_worker_cache;
SDSINF_API int sdsinf_worker_cache_new(sdsinf_worker_cache **out,
                                       sdsinf_err *err);
SDSINF_API void sdsinf_worker_cache_free(sdsinf_worker_cache *c);
/* How many times workers loaded their plan and shard into c. */
SDSINF_API int64_t sdsinf_worker_cache_loads(const sdsinf_worker_cache *c);

/* ---- The Lambda custom runtime ----------------------------------------------
 * The sdsinf executable is a Lambda function's `bootstrap` (runtime
 * provided.al2023): sdsinf_lambda_serve runs the Runtime API loop
 * (unsigned HTTP on $AWS_LAMBDA_RUNTIME_API): it asks for the next
 * invocation, hands it to a handler, and posts the handler's answer as the
 * invocation's response, or its error as the invocation's error
 * ({"errorMessage", "errorType": "sdsinf.<STATUS>"}); a handler whose init
 * fails is reported as the function's init error. */
typedef struct sdsinf_lambda_invocation {
    const char *request_id;   /* Lambda-Runtime-Aws-Request-Id */
    const char *function_arn; /* Lambda-Runtime-Invoked-Function-Arn */
    const char *trace_id;     /* Lambda-Runtime-Trace-Id, or "" */
    int64_t deadline_ms;      /* Lambda-Runtime-Deadline-Ms: Unix time in
                                 ms by which it must have answered */
    const char *payload;      /* the event as sent (NUL-terminated) */
    size_t len;
    sdsinf_worker_cache *cache; /* the process's, borrowed */
} sdsinf_lambda_invocation;

#define SDSINF_LAMBDA_HANDLER_VERSION 1
typedef struct sdsinf_lambda_handler {
    int version; /* SDSINF_LAMBDA_HANDLER_VERSION */
    void *ctx;   /* passed to the calls, borrowed */
    /* Once before the first invocation, or NULL: a failure is the
     * function's init error, and the loop ends. */
    int (*init)(void *ctx, sdsinf_err *err);
    /* Answers one invocation: on success *body (malloc'd; the runtime
     * frees it) of *len bytes, the response; else the status and err,
     * the invocation's error. */
    int (*invoke)(void *ctx, const sdsinf_lambda_invocation *inv,
                  char **body, size_t *len, sdsinf_err *err);
} sdsinf_lambda_handler;

/* Serves invocations through the Runtime API at host:port `api` (NULL:
 * $AWS_LAMBDA_RUNTIME_API) until it cannot be reached (the runtime's end:
 * Lambda stops the process) or the handler's init fails; returns that
 * status.  SDSINF_ENOTSUP in a build without libcurl. */
SDSINF_API int sdsinf_lambda_serve(const char *api,
                                   const sdsinf_lambda_handler *h,
                                   sdsinf_err *err);

/* Runs worker spec s as invocation inv (sdsinf_worker_main, with the
 * invocation's cache): every wait is capped by its deadline, and a worker
 * still running SDSINF_LAMBDA_MARGIN_MS before it stops (reporting so to
 * its coordinator) and returns SDSINF_ETIMEDOUT naming the deadline.  Its
 * report carries the invocation's duration and the function's memory
 * ($AWS_LAMBDA_FUNCTION_MEMORY_SIZE), the run's Lambda usage.  On
 * success *body (malloc'd) is the answer, a JSON object: {"worker",
 * "workers", "run" (hex), "loaded" (whether it loaded its plan and shard,
 * or the cache's served), "seconds"}. */
#define SDSINF_LAMBDA_MARGIN_MS 500
SDSINF_API int sdsinf_lambda_worker(const sdsinf_lambda_invocation *inv,
                                    const sdsinf_worker_spec *s, char **body,
                                    size_t *len, sdsinf_err *err);

/* ---- Launchers: how a run's workers start ---------------------------------
 * A launcher starts the workers of a run, tells their ends and stops
 * them; sdsinf_run (the coordinator) picks it by name (the run option
 * `launcher`), checks the run's channel against its caps, opens its own
 * endpoint of the channel (a run's channel has workers + 1 endpoints: the
 * coordinator is the last one) and collects there every worker's report
 * (status, per-layer records, and worker 0's result), stopping the
 * workers at the first failure.  Like a channel it is a versioned table
 * of functions in a registry by name: a new launcher (workers that run
 * elsewhere) is one source file that fills one in and registers it.
 * Built in: "local" (processes of this machine, the default), "threads",
 * "external" (writes the specs for someone else to start), "mpi"
 * (where built with MPI; its MPI calls, like the mpi channel, come from
 * the MPI plugin libsdsinf-mpi.so, loaded when a run starts) and "lambda"
 * (where built with the AWS client: each worker an invocation of an AWS
 * Lambda function, run option `function`). */
#define SDSINF_LAUNCHER_VERSION 1

enum {
    SDSINF_LAUNCH_SHARES_MEMORY = 1u, /* the workers are threads of the
                                         calling process, with the run's
                                         data in memory: any channel
                                         works, one without
                                         SDSINF_CAP_PROCESSES (mem) too */
    SDSINF_LAUNCH_TREE = 2u,          /* starts the workers as a launch
                                         tree (run options bfr, nlevels):
                                         start_children */
    SDSINF_LAUNCH_IN_JOB = 4u,        /* the calling process is one worker
                                         of a job started outside the
                                         library (the ranks of mpirun):
                                         start runs that worker, and the
                                         job's process of worker 0 is the
                                         coordinator */
    SDSINF_LAUNCH_SPECS = 8u,         /* each worker starts from its spec
                                         alone (sdsinf_worker_main): the
                                         run first writes what the workers
                                         load (plan, shards, inputs) */
    SDSINF_LAUNCH_REMOTE = 16u        /* with SPECS: the workers cannot
                                         see this machine's files (Lambda),
                                         so the run stages what they load
                                         in a bucket first (run option
                                         stage_bucket), or takes it from
                                         an s3:// plan_dir */
};

/* A run as its launcher sees it (filled by sdsinf_run). */
typedef struct sdsinf_launch {
    const sdsinf_run_opts *opts;     /* the run's options */
    const char *channel;             /* the channel's name */
    int workers;
    uint64_t run;                    /* the run id */
    const sdsinf_worker_spec *spec;  /* SPECS: worker 0's spec (worker w's
                                        differs in `worker` alone); NULL */
    const char *work_dir;            /* SPECS: a directory of the run's,
                                        removed after it; NULL */
    void *state;                     /* the launcher's own, from start */
    struct run_ctx *ctx_;            /* internal: the run in memory */
} sdsinf_launch;

typedef struct sdsinf_launcher_methods {
    int version;                     /* SDSINF_LAUNCHER_VERSION */
    const char *name;                /* "local", "threads", "mpi", ... */
    unsigned caps;                   /* SDSINF_LAUNCH_* */
    const char *default_channel;     /* a run's channel when it names
                                        none; NULL: "local" */
    const char *const *own_channels; /* NULL, or NULL-terminated: channels
                                        without SDSINF_CAP_PROCESSES that
                                        its workers can use all the same
                                        (the mpi launcher's "mpi") */
    /* Starts the run's workers (IN_JOB: runs this process's). */
    int (*start)(sdsinf_launch *l, sdsinf_err *err);
    /* A worker that has ended since the last call: 1, with its id in
     * *worker and its outcome as the launcher knows it in *err (code
     * SDSINF_OK for a normal end; a death named with its layer); 0 when
     * none.  NULL: the launcher cannot tell (the run then knows its
     * workers from their reports alone). */
    int (*poll)(sdsinf_launch *l, int *worker, sdsinf_err *err);
    /* Stops every worker at once (a failure, a cancel); may be NULL. */
    void (*stop)(sdsinf_launch *l);
    /* Returns once every worker is gone, releasing l->state; may be
     * NULL. */
    void (*wait)(sdsinf_launch *l);
    /* In a worker of a launch tree (SDSINF_LAUNCH_TREE): starts the
     * workers whose parent it is, each from its spec, before it loads its
     * own data; *kids is the launcher's until end_children. */
    int (*start_children)(const sdsinf_worker_spec *parent, void **kids,
                          sdsinf_err *err);
    /* Waits for those children to end and releases kids: SDSINF_OK when
     * every one ended well. */
    int (*end_children)(void *kids);
} sdsinf_launcher_methods;

/* The registry (thread-safe).  Registering a name again replaces it. */
SDSINF_API int sdsinf_launcher_register(const sdsinf_launcher_methods *m,
                                        sdsinf_err *err);
/* NULL or "" gives the default ("local"); NULL when unknown. */
SDSINF_API const sdsinf_launcher_methods *
sdsinf_launcher_find(const char *name);

/* ---- Cost: a run's bill under a price table -------------------------------
 * What the AWS services a run uses bill for it: Lambda invocations and
 * duration, SQS and SNS requests in their 64 KiB billing units, S3
 * requests by kind, EC2 instance time.  The prices of one region come from
 * a price table (the command line reads prices/aws.json, each price with
 * its source and date, into an sdsinf_prices); sdsinf_cost_compute adds
 * up a usage under them, item by item.  Amounts are US dollars; a price 0
 * is free; free tiers and volume discounts are left out (the bill of one
 * run, not of an account's month).  Pure functions: thread-safe. */
#define SDSINF_PRICES_VERSION 1

enum { SDSINF_ARCH_X86_64 = 0, SDSINF_ARCH_ARM64 = 1 };

/* An EC2 instance type's on-demand price. */
typedef struct sdsinf_instance_price {
    const char *type; /* "c5.xlarge" */
    double usd_per_hour;
} sdsinf_instance_price;

typedef struct sdsinf_prices {
    int version;                         /* SDSINF_PRICES_VERSION */
    const char *region;                  /* its name, for messages */
    double lambda_usd_per_request;       /* per invocation */
    double lambda_usd_per_gb_second[2];  /* by SDSINF_ARCH_* (GB = 1024 MB) */
    double sqs_usd_per_request;          /* per billed request (unit) */
    uint64_t sqs_unit_bytes;             /* payload one billed request
                                            carries (AWS: 65536) */
    double sns_usd_per_publish;          /* per billed publish (unit) */
    uint64_t sns_unit_bytes;             /* (AWS: 65536) */
    double sns_usd_per_gb;               /* per 10^9 bytes published (AWS:
                                            0, delivery to SQS is free) */
    double s3_usd_per_put, s3_usd_per_get, s3_usd_per_list,
        s3_usd_per_delete;               /* per request (PUT: also COPY,
                                            POST) */
    const sdsinf_instance_price *instances; /* ninstances, borrowed */
    size_t ninstances;
} sdsinf_prices;
SDSINF_API void sdsinf_prices_init(sdsinf_prices *p); /* all free */

/* Where the price table of executable `exe` (NULL: this program) is:
 * $SDSINF_PRICES when set, else the one installed with it
 * (PREFIX/share/sdsinf/aws.json beside its bin/), else prices/aws.json
 * beside it (a build tree's, or a Lambda package's: the function's code
 * carries it); its path into out (cap bytes): 1, or 0 when neither is a
 * readable file (or the path does not fit). */
SDSINF_API int sdsinf_prices_path(const char *exe, char *out, size_t cap);

/* What a run used.  Requests by service, sdsinf_requests' fields read as
 *   sqs: send SendMessage(Batch), receive ReceiveMessage (empty ones
 *        included), remove DeleteMessage(Batch), list other calls;
 *   sns: send Publish(Batch);
 *   s3:  send PUT, receive GET, list LIST, remove DELETE;
 * a repeated request (retries) is in its kind's count: billed again.
 * SQS and SNS bill a call per unit_bytes of its payload (at least one):
 * `units` is the billed requests when the channel counted them; 0: they are
 * estimated from the bytes below (sends and non-empty receives each carry
 * an average share of them; no bytes: one unit per call). */
#define SDSINF_USAGE_VERSION 1
typedef struct sdsinf_usage {
    int version;                 /* SDSINF_USAGE_VERSION */
    sdsinf_requests sqs, sns, s3;
    uint64_t sqs_bytes;          /* payload sent through SQS queues (also
                                    what their receives return) */
    uint64_t sns_bytes;          /* payload published */
    uint64_t lambda_invocations;
    double lambda_gb_seconds;    /* billed duration x memory in GB */
    int lambda_arch;             /* SDSINF_ARCH_* */
    const char *instance;        /* an EC2 instance type, or NULL */
    double instance_seconds;     /* its billed time (boot included) */
} sdsinf_usage;
SDSINF_API void sdsinf_usage_init(sdsinf_usage *u); /* nothing used */

/* One item of a bill. */
typedef struct sdsinf_cost_line {
    const char *service;  /* "lambda", "sqs", "sns", "s3", "ec2" (static) */
    const char *item;     /* "invocations", "send", "64KiB-units", ...
                             (static), or the usage's instance type */
    double quantity;      /* requests, GB-seconds, GB or hours */
    double usd_each;      /* the price of one */
    double usd;
} sdsinf_cost_line;

#define SDSINF_COST_LINES 20
typedef struct sdsinf_cost {
    double usd;                                  /* the total */
    double lambda_usd, sqs_usd, sns_usd, s3_usd, ec2_usd;
    int estimated;         /* some billing units came from the bytes */
    int nlines;
    sdsinf_cost_line line[SDSINF_COST_LINES];    /* items used, in order */
} sdsinf_cost;

/* The bill of u under p into *out: SDSINF_EINVAL for a price or quantity
 * that is negative or not finite, a unit size of 0 where units are
 * estimated, an unknown architecture, or an instance type p does not
 * price (each named in the message). */
SDSINF_API int sdsinf_cost_compute(const sdsinf_prices *p,
                                   const sdsinf_usage *u, sdsinf_cost *out,
                                   sdsinf_err *err);

/* ---- Prediction: a configuration's seconds and dollars --------------------
 * The planner's model (src/cost/predict.c, advise.c): what a run of M
 * images takes and costs on one configuration, from this machine's
 * measurements of the model (sdsinf_calibration) and documented constants
 * (sdsinf_latency_model: request latencies, Lambda's vCPU share, boot and
 * cold starts; the price table's latency block), priced with
 * sdsinf_cost_compute.  Pure functions: thread-safe. */
#define SDSINF_CALIBRATION_VERSION 1
typedef struct sdsinf_calibration {
    int version;                /* SDSINF_CALIBRATION_VERSION */
    int32_t neurons, layers;    /* the model measured */
    int workers;                /* the calibration run's workers (>= 2) */
    double weight_bytes;        /* the model's weights as shards hold them */
    /* per layer (layers entries each, borrowed), per image: */
    const double *density;      /* activations entering / neurons */
    const double *compute_seconds; /* one thread of this machine's kernel */
    const double *bytes;        /* sent per worker (calibration run) */
    const double *messages;     /* sent per worker per batch (same run) */
} sdsinf_calibration;

/* An EC2 instance type's vCPUs (for the engines that run on EC2). */
typedef struct sdsinf_instance_cpus {
    const char *type;
    int vcpus;
} sdsinf_instance_cpus;

#define SDSINF_LATENCY_MODEL_VERSION 1
typedef struct sdsinf_latency_model {
    int version;                       /* SDSINF_LATENCY_MODEL_VERSION */
    double sns_publish_s, sqs_send_s, sqs_receive_s; /* per request */
    double s3_put_s, s3_get_s, s3_list_s, s3_scan_sleep_s;
    double s3_parallel;                /* S3 requests in flight per worker */
    double worker_bytes_per_s;         /* a Lambda worker's network */
    double lambda_mb_per_vcpu;         /* 1769: one vCPU */
    double lambda_max_vcpus;           /* 6 at 10,240 MB */
    double lambda_max_seconds;         /* 900: an invocation's limit */
    double lambda_invoke_s;            /* one Invoke call */
    double lambda_cold_start_s;
    double local_message_s, mpi_message_s, redis_request_s;
    double ec2_bytes_per_s;            /* between EC2 instances */
    double ec2_boot_s;                 /* a job-scoped instance's boot */
    double machine_vcpu_speed;         /* an EC2 vCPU / this machine's core */
    const sdsinf_instance_cpus *cpus;  /* ncpus, borrowed */
    size_t ncpus;
} sdsinf_latency_model;

/* Where a configuration runs.  LAMBDA: workers on Lambda, messages
 * through `channel`; LOCAL: one EC2 instance, a process per vCPU over
 * shared memory; MPI, REDIS: `machines` instances, a rank per vCPU;
 * SERVER_JOB: `sdsinf infer` on one instance started for the job (boot
 * billed); SERVER_ALWAYS: the same on an instance that stays up (billed
 * per started hour of service, no boot). */
enum { SDSINF_ENGINE_LAMBDA, SDSINF_ENGINE_LOCAL, SDSINF_ENGINE_MPI,
       SDSINF_ENGINE_REDIS, SDSINF_ENGINE_SERVER_JOB,
       SDSINF_ENGINE_SERVER_ALWAYS, SDSINF_ENGINES };
/* Lambda's channels: SQS queues, SNS topics to SQS, S3 objects, SQS with
 * blocks over a message's limit in S3 (a claim check). */
enum { SDSINF_VIA_SQS, SDSINF_VIA_SNS, SDSINF_VIA_S3, SDSINF_VIA_SQS_S3,
       SDSINF_VIAS };
SDSINF_API const char *sdsinf_engine_name(int engine); /* "lambda", .. */
SDSINF_API const char *sdsinf_via_name(int channel);   /* "sqs", .. */

/* The claim check's break-even under prices p for channel via
 * (SDSINF_VIA_SQS or SDSINF_VIA_SNS) into *bytes: a block whose message
 * is over it costs less as one S3 object (a PUT, a GET, its share of the
 * run's listing and deletion, and a pointer of one billing unit sent,
 * received and deleted) than as chunks, sent alone as the channel sends
 * them: halved until each fits a message (sns: 192 KiB, as base64), each
 * chunk a request of its own billed its rounded-up units, received 10 to
 * a request billed on their bytes together, each receive deleted.  Exact
 * to the byte under that model (the sizes where the chunks cost no more
 * than the object keep them).  UINT64_MAX when a unit costs nothing
 * (chunks never cost more).  SDSINF_EINVAL for bad prices or via. */
SDSINF_API int sdsinf_claim_break_even(const sdsinf_prices *p, int via,
                                       uint64_t *bytes, sdsinf_err *err);

#define SDSINF_DEPLOYMENT_VERSION 1
typedef struct sdsinf_deployment {
    int version;          /* SDSINF_DEPLOYMENT_VERSION */
    int engine;           /* SDSINF_ENGINE_* */
    int channel;          /* SDSINF_VIA_* (LAMBDA) */
    int workers;          /* LAMBDA; the others: vCPUs x machines */
    int bfr, nlevels;     /* LAMBDA's launch tree; 0: flat */
    int memory_mb;        /* LAMBDA */
    int64_t batch_size;   /* images per batch; <= 0: all */
    const char *instance; /* the EC2 engines' type */
    int machines;         /* MPI, REDIS (LOCAL, SERVER_*: 1) */
} sdsinf_deployment;

typedef struct sdsinf_prediction {
    double seconds;          /* from the request to the last result */
    double usd;              /* its bill */
    double startup_seconds, compute_seconds, channel_seconds;
    double memory_mb;        /* a worker's peak (LAMBDA) */
    const char *infeasible;  /* NULL, or why it cannot run (static) */
} sdsinf_prediction;

/* The prediction for `images` images on d into *out (a configuration that
 * cannot run, over Lambda's memory or time limit, has out->infeasible
 * set).  SDSINF_EINVAL for a calibration, constants or deployment out of
 * range (an instance type without vCPUs or price), named. */
SDSINF_API int sdsinf_predict(const sdsinf_calibration *cal,
                              const sdsinf_latency_model *lat,
                              const sdsinf_prices *prices, int64_t images,
                              const sdsinf_deployment *d,
                              sdsinf_prediction *out, sdsinf_err *err);

typedef struct sdsinf_candidate {
    sdsinf_deployment d;
    sdsinf_prediction p;
    int frontier;     /* no other is both faster and cheaper */
    int best_of_kind; /* 1: the recommendation among its kind; 2: none of
                         its kind meets the bounds, it is their nearest */
} sdsinf_candidate;

/* A candidate's kind, 0 .. SDSINF_CANDIDATE_KINDS - 1: one Lambda worker
 * (no channel), Lambda workers on each SDSINF_VIA_* channel, then each
 * EC2 engine (SDSINF_ENGINE_LOCAL ..). */
#define SDSINF_CANDIDATE_KINDS (SDSINF_VIAS + SDSINF_ENGINES)
SDSINF_API int sdsinf_candidate_kind(const sdsinf_deployment *d);

/* The search over every configuration there is: Lambda's channels,
 * workers (flat, and launch trees), memory and batch sizes; the EC2
 * engines on every instance type with vCPUs and a price; the servers. */
typedef struct sdsinf_advice {
    sdsinf_candidate *c;  /* n feasible candidates, fastest first (owned) */
    size_t n;
    int achievable;       /* one meets every bound given */
    long recommended;     /* max_seconds: the cheapest within it; else
                             max_usd: the fastest within it; -1: none */
    long nearest;         /* not achievable: the fastest (a time bound) or
                             the cheapest (a budget only) */
} sdsinf_advice;
/* Bounds <= 0 are not given; at least one must be.  Caller frees *out. */
SDSINF_API int sdsinf_advise(const sdsinf_calibration *cal,
                             const sdsinf_latency_model *lat,
                             const sdsinf_prices *prices, int64_t images,
                             double max_seconds, double max_usd,
                             sdsinf_advice *out, sdsinf_err *err);
SDSINF_API void sdsinf_advice_free(sdsinf_advice *a);

/* ---- Channel state left by killed runs ------------------------------------ */
/* Where the local and fs channels keep a run's state by default:
 * $SDSINF_SCRATCH, else /dev/shm, else $TMPDIR, else /tmp. */
SDSINF_API const char *sdsinf_scratch_dir(void);

/* One run's state that sdsinf_clean removed (or, dry run, would remove). */
typedef struct sdsinf_stale_run {
    const char *path; /* the run's directory (valid during the callback) */
    uint64_t run;
    int owner_pid;    /* the process that owned it, now gone */
    int64_t files, bytes; /* in the run's directory (the local channel's
                             files by default among them) */
    const char *channel;  /* its channel, or NULL when the record names
                             none (valid during the callback) */
    int64_t items;        /* what the channel held of the run (its
                             run_residue: files, keys, objects); -1 when it
                             cannot tell or none is named */
    const char *staged;   /* the s3:// location of the inputs it staged
                             for its workers (removed too), or NULL */
} sdsinf_stale_run;

typedef struct sdsinf_clean_stats {
    int64_t runs, files, bytes; /* removed (dry run: would be) */
    int64_t kept;               /* runs whose owner lives, or unknown */
} sdsinf_clean_stats;

/* Removes (dry_run: only finds) what runs whose owner process is gone
 * left: every run directory under the scratch directory (its sdsinf-<run>
 * entries) with an owner record of a dead process, and the run's state on
 * the channel the record names (any channel with run_destroy, through it:
 * local or fs files wherever their config put them, Redis keys, queues,
 * topics, buckets ...) and the inputs it staged in S3 for its workers,
 * calling fn (when not NULL) for each run.  A run whose owner lives,
 * without an owner record, of another user, or on a channel this process
 * has not registered is kept.  The first failure to remove is returned
 * (its run kept for a later try); the others are still swept. */
SDSINF_API int sdsinf_clean(int dry_run,
                            void (*fn)(const sdsinf_stale_run *r, void *arg),
                            void *arg, sdsinf_clean_stats *st,
                            sdsinf_err *err);

/* ---- AWS stacks (sdsinf aws deploy) ----------------------------------------
 * A CloudFormation stack holding what the AWS channels need (a bucket, an
 * SNS topic, one SQS queue per worker subscribed to it, the worker role),
 * found by name; its outputs under these keys give the channels' settings,
 * so a run never needs a pasted ARN or URL.  Endpoint, region and
 * credentials come from the standard AWS configuration.  A build without
 * the AWS client answers SDSINF_ENOTSUP. */
#define SDSINF_STACK_OUT_BUCKET "BucketName"     /* the bucket's name */
#define SDSINF_STACK_OUT_TOPIC "TopicArn"        /* the topic's ARN */
#define SDSINF_STACK_OUT_QUEUES "QueuePrefix"    /* queues <prefix>-<w> */
#define SDSINF_STACK_OUT_WORKERS "MaxWorkers"    /* queues 0..MaxWorkers */
#define SDSINF_STACK_OUT_ROLE "WorkerRoleArn"    /* the worker function's */
#define SDSINF_STACK_OUT_FUNCTION "FunctionName" /* the worker function's
                                                    name (a stack deployed
                                                    with its package) */

typedef struct sdsinf_stack_info {
    char id[320];      /* StackId */
    char status[64];   /* CREATE_COMPLETE, ROLLBACK_COMPLETE, ... */
    char reason[512];  /* why it is in that status, "" when none */
    int noutputs;
    struct {
        char key[64], value[512];
    } outputs[32];
} sdsinf_stack_info;

/* One resource or event of a stack (strings borrowed for the callback;
 * "" where the answer had none). */
typedef struct sdsinf_stack_item {
    const char *id;       /* an event's id ("" for a resource) */
    const char *time;     /* ISO 8601 */
    const char *logical;  /* the template's name for it */
    const char *physical; /* the service's (a queue's URL, a bucket's name) */
    const char *type;     /* AWS::SQS::Queue, ... */
    const char *status;   /* CREATE_COMPLETE, CREATE_FAILED, ... */
    const char *reason;
} sdsinf_stack_item;

/* Progress of a deploy or destroy: one line (no newline) per new stack
 * event and state, valid during the call. */
typedef void (*sdsinf_stack_progress)(const char *line, void *arg);

/* Stack `name`'s state into *out; SDSINF_EINVAL saying so when there is
 * no such stack. */
SDSINF_API int sdsinf_stack_describe(const char *name, sdsinf_stack_info *out,
                                     sdsinf_err *err);
/* Each resource of the stack to fn (a nonzero return stops and is
 * returned). */
SDSINF_API int sdsinf_stack_resources(const char *name,
                                      int (*fn)(const sdsinf_stack_item *it,
                                                void *arg),
                                      void *arg, sdsinf_err *err);
/* Creates stack `name` from template_json (or updates it when it exists),
 * then waits until CloudFormation has finished, reporting each event to
 * progress (may be NULL).  A stack that failed or rolled back is
 * SDSINF_EIO naming the resources that failed and why. */
SDSINF_API int sdsinf_stack_deploy(const char *name, const char *template_json,
                                   sdsinf_stack_progress progress, void *arg,
                                   sdsinf_err *err);
/* Empties the stack's buckets, deletes the stack and waits until it is
 * gone; no such stack is no error (progress says so). */
SDSINF_API int sdsinf_stack_destroy(const char *name,
                                    sdsinf_stack_progress progress, void *arg,
                                    sdsinf_err *err);
/* The --channel-config of channel (sqs, sns, s3) on stack `name`, from its
 * outputs, into out (cap bytes), after `extra` (the user's own settings,
 * may be NULL): "queues=P" (sqs), "queues=P,topic=ARN" (sns), "bucket=B"
 * (s3).  A stack not complete, or without the outputs, is SDSINF_EINVAL
 * saying what to do; another channel too. */
SDSINF_API int sdsinf_stack_channel_config(const char *name,
                                           const char *channel,
                                           const char *extra, char *out,
                                           size_t cap, sdsinf_err *err);

/* ---- The Lambda deployment package (sdsinf aws package) ---------------------
 * A provided.al2023 function's code: `bootstrap` (an executable, this
 * program unless another is named) and, under lib/ (on Lambda's
 * LD_LIBRARY_PATH), the shared libraries it needs that Amazon Linux 2023
 * lacks, found as the dynamic loader finds them.  No file of it may ask
 * for a glibc symbol version above AL2023's 2.34 (each offender goes to
 * progress as `symbol@GLIBC_x.y needed by FILE`); an executable linking
 * Open MPI or Zoltan is refused (the MPI plugin stays out: a function has
 * no use for it).  The zip is the same bytes for the same files. */
#define SDSINF_PACKAGE_MAX_LIBS 32
typedef struct sdsinf_package_lib {
    char soname[128];
    char path[512];  /* the file bundled as lib/<soname>; "" when AL2023
                        has the library */
    uint64_t nbytes; /* its size (0 when not bundled) */
} sdsinf_package_lib;
typedef struct sdsinf_package_info {
    char bootstrap[512];   /* the executable packaged (its real path) */
    char arch[8];          /* "x86_64" or "arm64" */
    char glibc[32];        /* the newest glibc version asked for */
    uint64_t bootstrap_nbytes;
    uint64_t nbytes;       /* the zip's size, or the recipe's files' */
    int nlibs;             /* the libraries needed, bundled or not */
    sdsinf_package_lib libs[SDSINF_PACKAGE_MAX_LIBS];
    char prices[512];      /* the price table packaged as prices/aws.json
                              (sdsinf_prices_path of the bootstrap, so a
                              coordinator on Lambda prices its runs), or
                              "": none found, none packaged */
    uint64_t prices_nbytes;
} sdsinf_package_info;

/* Writes the package of `bootstrap` (NULL: this program) as a zip at out
 * (a path or s3:// location, written whole): bootstrap (0755), lib/...
 * and prices/aws.json (0644). */
SDSINF_API int sdsinf_lambda_package(const char *bootstrap, const char *out,
                                     sdsinf_stack_progress progress,
                                     void *arg, sdsinf_package_info *info,
                                     sdsinf_err *err);
/* The container-image alternative: directory dir (written whole) with a
 * Dockerfile on public.ecr.aws/lambda/provided:al2023, bootstrap and
 * lib/. */
SDSINF_API int sdsinf_lambda_image(const char *bootstrap, const char *dir,
                                   sdsinf_stack_progress progress, void *arg,
                                   sdsinf_package_info *info,
                                   sdsinf_err *err);
/* Stores the package of `bootstrap` (NULL: this program) in stack's
 * bucket at sdsinf/lambda/<sha256 of the zip>.zip unless it is there
 * already (*uploaded 0): the key into key (cap bytes).  SDSINF_ENOTSUP in
 * a build without the AWS client. */
SDSINF_API int sdsinf_stack_put_package(const char *stack,
                                        const char *bootstrap,
                                        sdsinf_stack_progress progress,
                                        void *arg, char *key, size_t cap,
                                        int *uploaded,
                                        sdsinf_package_info *info,
                                        sdsinf_err *err);
/* ---- EC2 instances (sdsinf aws server) ------------------------------------
 * The server baseline: one EC2 instance that runs sdsinf itself, started
 * with a user-data script that does the work.  The stack's instance
 * profile (sdsinf aws deploy --server) lets the instance read the stack's
 * bucket and write its runs/.  A build without the AWS client answers
 * SDSINF_ENOTSUP. */
#define SDSINF_STACK_OUT_SERVER_PROFILE "ServerProfileArn" /* the instance
                                                              profile's */

/* What RunInstances launches: one instance, IMDSv2 only, tagged. */
#define SDSINF_EC2_SPEC_VERSION 1
#define SDSINF_EC2_USER_DATA_MAX 16384 /* EC2's limit, before base64 */
typedef struct sdsinf_ec2_spec {
    int version;               /* SDSINF_EC2_SPEC_VERSION */
    const char *image;         /* ami-..., or resolve:ssm:PARAMETER (EC2
                                  resolves the parameter at launch) */
    const char *instance_type; /* c5.xlarge, ... */
    const char *user_data;     /* the script (sent base64-encoded) */
    const char *profile_arn;   /* the instance profile, or NULL */
    int terminate_on_shutdown; /* a shutdown inside terminates it */
    const char *key_name;      /* an EC2 key pair for ssh, or NULL */
    const char *subnet;        /* or NULL: the default VPC's */
    const char *security_group; /* or NULL: the VPC's default group */
    const char *client_token;  /* RunInstances' idempotency token (1-64
                                  printable ASCII): a retried launch starts
                                  one instance */
    const char *const *tags;   /* "Key=Value" lines, NULL-ended (may be
                                  NULL): on the instance and its volumes */
} sdsinf_ec2_spec;

/* An instance as DescribeInstances tells it ("" where it tells nothing). */
typedef struct sdsinf_ec2_instance {
    char id[32];         /* i-... */
    char state[32];      /* pending, running, shutting-down, terminated,
                            stopping, stopped */
    char type[32];
    char image[256];
    char address[256];   /* the public DNS name, else the public or
                            private IP address */
    char launched[40];   /* ISO 8601 */
} sdsinf_ec2_instance;

/* The RunInstances request spec would send, one parameter a line
 * ("Key=Value", as sent but not percent-encoded), into *text (malloc'd;
 * free() it); no AWS call.  A spec EC2 would refuse (no
 * image or type, user data over SDSINF_EC2_USER_DATA_MAX, a bad tag) is
 * SDSINF_EINVAL saying why. */
SDSINF_API int sdsinf_ec2_request(const sdsinf_ec2_spec *spec, char **text,
                                  sdsinf_err *err);
/* Launches the instance spec describes (the request above); *out as
 * RunInstances answered. */
SDSINF_API int sdsinf_ec2_run(const sdsinf_ec2_spec *spec,
                              sdsinf_ec2_instance *out, sdsinf_err *err);
/* Instance id's state into *out; SDSINF_EINVAL when there is none. */
SDSINF_API int sdsinf_ec2_describe(const char *id, sdsinf_ec2_instance *out,
                                   sdsinf_err *err);
/* Terminates instance id (one already terminated is no error); *out (may
 * be NULL) as it is then. */
SDSINF_API int sdsinf_ec2_terminate(const char *id, sdsinf_ec2_instance *out,
                                    sdsinf_err *err);
/* Waits (at most timeout_s seconds) until instance id has written object
 * bucket/key and returns it in *body (malloc'd, NUL-terminated, *len
 * bytes; free() it): one made before the instance's launch (an earlier
 * run's) is waited past.  Each change of the instance's state goes to
 * progress (may be NULL); an instance that has ended (shutting-down,
 * terminated, stopped) without writing the object is SDSINF_EIO saying
 * so, the time running out SDSINF_ETIMEDOUT. */
SDSINF_API int sdsinf_ec2_wait_object(const char *id, const char *bucket,
                                      const char *key, double timeout_s,
                                      sdsinf_stack_progress progress,
                                      void *arg, char **body, size_t *len,
                                      sdsinf_err *err);
/* The region the standard AWS configuration names (as the AWS client
 * reads it) into out (cap bytes). */
SDSINF_API int sdsinf_aws_region(char *out, size_t cap, sdsinf_err *err);
/* ---- A stack's bucket: staged data, run records, the function ------------
 * Local data that code on Lambda must read (the workers' plan and inputs,
 * a coordinator's model and images) is staged in the stack's bucket
 * first, content-addressed, so staging the same content again uploads
 * nothing; the runs on a stack record their results there, under
 * runs/NAME/ (NAME: the UTC time it began, to the millisecond, then a
 * random tag, so names sort by time).  A build without the AWS client answers SDSINF_ENOTSUP
 * (sdsinf_run_record_name and _location excepted). */
#define SDSINF_STACK_OUT_FUNCTION "FunctionName" /* with --package */
#define SDSINF_STAGE_PREFIX "staged/"
#define SDSINF_RUNS_PREFIX "runs/"
#define SDSINF_RUN_RECORD "result.json" /* a run's JSON, in runs/NAME/ */

/* Output `key` (SDSINF_STACK_OUT_*) of stack `name` into out (cap bytes);
 * a stack not ready or without that output is SDSINF_EINVAL saying what
 * to do. */
SDSINF_API int sdsinf_stack_output(const char *name, const char *key,
                                   char *out, size_t cap, sdsinf_err *err);

/* Stages local `path` in `bucket`, content-addressed, and puts its s3://
 * location into loc (cap bytes): a file as staged/SHA256/NAME (SHA256 the
 * hex SHA-256 of its content, NAME its own name, which readers see), a
 * directory (its regular files, one level, as a model's or a plan's) as
 * the "directory" staged/M/ (M the SHA-256 of its manifest: each file's
 * hash, size and name; the manifest itself stored last as
 * staged/M/.manifest, which readers skip).  Each object is looked for
 * first (HEAD) and uploaded only when missing: a directory whose manifest
 * is there costs one HEAD.  An s3:// path is copied to loc as it is.
 * Counts into *st (added to; may be NULL) and into the process's
 * sdsinf_location_requests.  A name S3 keys cannot take, a file that
 * changes while it is staged, an unreadable path: SDSINF_EINVAL or
 * SDSINF_EIO naming it. */
SDSINF_API int sdsinf_stage(const char *bucket, const char *path, char *loc,
                            size_t cap, sdsinf_stage_stats *st,
                            sdsinf_err *err);

/* A new run record's name into out (at least 30 bytes):
 * YYYYmmddTHHMMSS.mmmZ-XXXXXXXX, the time now (UTC) and 32 random bits. */
SDSINF_API void sdsinf_run_record_name(char *out, size_t cap);
/* s3://BUCKET/runs/NAME/FILE into out (cap bytes); SDSINF_EINVAL when it
 * does not fit or NAME is not a record's. */
SDSINF_API int sdsinf_run_record_location(const char *bucket,
                                          const char *name, const char *file,
                                          char *out, size_t cap,
                                          sdsinf_err *err);
/* Run record NAME's JSON (runs/NAME/result.json of bucket) into *json
 * (malloc'd, NUL-terminated; caller frees it) of *len bytes, waiting for
 * it up to timeout_s seconds (0: one look), polling with backoff:
 * SDSINF_ETIMEDOUT saying so when it did not come. */
SDSINF_API int sdsinf_run_record_wait(const char *bucket, const char *name,
                                      double timeout_s, char **json,
                                      size_t *len, sdsinf_err *err);
/* The last `last` run records of bucket, oldest first, each to fn (its
 * name and JSON, borrowed for the call; a nonzero return stops and is
 * returned); a record whose JSON is missing (a run under way) comes with
 * json NULL. */
SDSINF_API int sdsinf_run_records(const char *bucket, int last,
                                  int (*fn)(const char *name,
                                            const char *json, size_t len,
                                            void *arg),
                                  void *arg, sdsinf_err *err);

/* Invokes Lambda function `name` with a JSON payload: async 1 queues it
 * (Event), 0 waits for its answer, *answer (malloc'd, NUL-terminated,
 * caller frees; may be NULL) of *alen bytes.  A function error is
 * SDSINF_EIO quoting it; no such function SDSINF_EINVAL saying to deploy
 * it. */
SDSINF_API int sdsinf_lambda_invoke(const char *name, const char *payload,
                                    size_t len, int async, char **answer,
                                    size_t *alen, sdsinf_err *err);

#ifdef __cplusplus
}
#endif
#endif /* SDSINF_H */
