/* run.h - what the launchers of a distributed run share (internal): the
 * run, one worker's setup and teardown, and the statistics they gather.
 * A launcher (launcher_threads.c, launcher_local.c, launcher_mpi.c; found
 * through launchers.c) starts the workers its way and gathers their
 * results and statistics into the run. */
#ifndef SDSINF_RUN_H
#define SDSINF_RUN_H

#include "run/worker.h"

typedef struct run_ctx {
    const sdsinf_model *m;
    const sdsinf_plan *p;
    const sdsinf_csr *images;
    const sdsinf_run_opts *o;
    const char *channel;
    const char *plan_dir; /* NULL: shards cut from m */
    size_t max_message;   /* bytes per message: the option, or the
                             channel's lower limit */
    int W;
    uint64_t run;
    sdsinf_result *res;
    sdsinf_run_stats *st;  /* where the launcher puts totals and records */
    double ready;          /* when every worker had loaded (monotonic s) */
    const volatile sig_atomic_t *cancel; /* the caller's flag, or NULL */
    char owner[4352]; /* the run's owner record (sweep.c), or "" */
} run_ctx;

typedef struct one_worker {
    sdsinf__worker_opts wo;
    sdsinf__local_shard shard;
    sdsinf__worker_stats st;
    sdsinf_err err;
    int rc;
    sdsinf__rows_ws *kernel; /* its layers' scratch, reserved at setup */
} one_worker;

/* The built-in launchers (one file each) and the registry's lookup: the
 * launcher called name, or SDSINF_EINVAL (unknown, with the known names)
 * or SDSINF_ENOTSUP (left out of this build). */
extern const sdsinf_launcher_methods sdsinf__launcher_local;
extern const sdsinf_launcher_methods sdsinf__launcher_threads;
extern const sdsinf_launcher_methods sdsinf__launcher_mpi; /* SDSINF_HAVE_MPI */
int sdsinf__launcher_resolve(const char *name,
                             const sdsinf_launcher_methods **out,
                             sdsinf_err *err);

/* Loads worker w's data (its shard), opens its channel and kernel pool. */
int sdsinf__worker_setup(const run_ctx *c, int w, one_worker *t,
                         sdsinf_err *err);
void sdsinf__worker_teardown(one_worker *t);
/* Puts records in their place among the run's (workers x (layers + 1), by
 * worker then layer; allocated by sdsinf_run). */
void sdsinf__records_put(sdsinf_run_stats *st, const sdsinf_layer_record *r,
                         int64_t n);
/* Adds a worker's totals to the run's. */
void sdsinf__stats_add(sdsinf_run_stats *st, const sdsinf__worker_stats *s);
/* The error of a run canceled through c->cancel: its workers stopped and
 * (cleaned: whether that worked) its channel state removed. */
int sdsinf__canceled(const run_ctx *c, int cleaned, sdsinf_err *err);

/* Worker i's parent in a launch tree of `bfr` children per worker over
 * `nlevels` levels (parent[i] = -1: started by the coordinator); the
 * tree must hold exactly `workers` (SDSINF_EINVAL otherwise). */
int sdsinf__launch_tree(int bfr, int nlevels, int workers, int *parent,
                        sdsinf_err *err);

#endif /* SDSINF_RUN_H */
