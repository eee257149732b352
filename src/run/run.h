/* run.h - a distributed run (internal): the run as its coordinator holds
 * it, one worker's setup and teardown, the coordinator's gathering of the
 * workers' reports, and the files the run writes for workers that start
 * from their specs.  A launcher (launcher_threads.c, launcher_local.c,
 * launcher_external.c, launcher_mpi.c; found through launchers.c) starts
 * the workers its way (launcher_lambda.c too, where built with the AWS
 * client); every worker reports to the coordinator over the channel
 * (gather.c). */
#ifndef SDSINF_RUN_H
#define SDSINF_RUN_H

#include "run/progress.h"
#include "run/worker.h"

typedef struct run_ctx {
    const sdsinf_model *m;
    const sdsinf_plan *p;
    const sdsinf_csr *images;
    const sdsinf_run_opts *o;
    const char *channel;
    const char *plan_dir; /* NULL: shards cut from m */
    int W;
    uint64_t run;
    sdsinf_result *res;
    sdsinf_run_stats *st;  /* where the reports' totals and records go */
    double t0, t0_wall;    /* when the run began (monotonic, wall clock) */
    double ready;          /* when every worker had loaded (monotonic s) */
    const volatile sig_atomic_t *cancel; /* the caller's flag, or NULL */
    sdsinf_channel *coord; /* the coordinator's endpoint (id W), once open */
    int canceled;          /* the caller's flag stopped the run */
    int unconfirmed;       /* then, workers told to stop over the channel
                              (a launcher that cannot) that never said so */
    int made;              /* sdsinf__run_create made the channel's state */
    const sdsinf__progress *progress; /* the launcher's progress file, where
                                         it keeps one (local), or NULL */
    int start_default_ms;   /* the launcher's start timeout where the run
                               gives none (0: 10 minutes), and what to do
                               about workers that never start (NULL: start
                               them within it): set by its start */
    const char *start_hint;
    char owner[4352]; /* the run's owner record (sweep.c), or "" */
} run_ctx;

typedef struct one_worker {
    sdsinf__worker_opts wo;
    sdsinf__local_shard shard;
    sdsinf__worker_stats st;
    sdsinf_result res;       /* worker 0: the merged result, reported */
    sdsinf_err err;
    int rc;
    double ready;            /* wall clock when it had loaded; 0: never */
    int32_t layers;          /* the model's */
    sdsinf__rows_ws *kernel; /* its layers' scratch, reserved at setup */
    sdsinf_plan *plan;       /* loaded from its spec, else NULL */
    sdsinf_csr inputs;       /* loaded from its spec, else empty */
    sdsinf__progress progress;    /* the run's, when its spec names one */
    sdsinf_channel_methods track; /* the tracked channel's table */
    double billed_from;      /* a Lambda invocation's: when it started
                                (wall clock s), and the function's memory
                                (MB; 0: not an invocation), reported */
    uint32_t billed_mb;
    int warm;                /* 1: its plan and shard were the cache's */
} one_worker;

/* The built-in launchers (one file each) and the registry's lookup: the
 * launcher called name, or SDSINF_EINVAL (unknown, with the known names)
 * or SDSINF_ENOTSUP (left out of this build). */
extern const sdsinf_launcher_methods sdsinf__launcher_local;
extern const sdsinf_launcher_methods sdsinf__launcher_threads;
extern const sdsinf_launcher_methods sdsinf__launcher_external;
extern const sdsinf_launcher_methods sdsinf__launcher_mpi;
extern const sdsinf_launcher_methods sdsinf__launcher_lambda; /* AWS builds */
int sdsinf__launcher_resolve(const char *name,
                             const sdsinf_launcher_methods **out,
                             sdsinf_err *err);
/* The external launcher's specs directory (run option specs_dir): given,
 * and holding no worker-*.spec yet; else SDSINF_EINVAL saying so. */
int sdsinf__specs_dir_check(const sdsinf_run_opts *o, sdsinf_err *err);
/* Whether launcher lm's workers can use channel cm. */
int sdsinf__launcher_fits(const sdsinf_launcher_methods *lm,
                          const sdsinf_channel_methods *cm);
/* The launchers whose workers can use channel cm, as advice for a message
 * ("--launcher mpi under mpirun -n W"), in buf (cap bytes). */
void sdsinf__launchers_for(const sdsinf_channel_methods *cm, char *buf,
                           size_t cap);

/* Bytes a message may take on instance ch for the option opt (0: the
 * default): a keyed channel takes a block whole. */
size_t sdsinf__message_limit(const sdsinf_channel *ch, int64_t opt);
/* The size over which instance ch takes a block's message whole (its
 * whole_above, at least the message limit `limit`); 0: none. */
size_t sdsinf__whole_above(const sdsinf_channel *ch, size_t limit);

/* Loads worker w's data from the run in memory (its shard cut from the
 * model, or mapped from the plan directory with the model's bias), opens
 * its channel and kernel pool (worker_main.c). */
int sdsinf__worker_setup(const run_ctx *c, int w, one_worker *t,
                         sdsinf_err *err);
/* Sends the worker's report to the coordinator: t->rc and t->err, its
 * totals and records, worker 0's result. */
void sdsinf__worker_report(one_worker *t);
/* Closes its channel (with cleanup) and frees what it holds. */
void sdsinf__worker_teardown(one_worker *t);

/* The public sdsinf_worker_cache (worker_cache.c): the plan and shard of
 * the last worker a process ran from a spec, and what they were loaded
 * from (key: the files' identities and the spec's settings that shape
 * them), kept for the next worker of the same model; it owns both. */
struct sdsinf_worker_cache {
    char *key;              /* NULL: empty */
    sdsinf_plan *plan;
    sdsinf__local_shard shard;
    int64_t loads;          /* times a worker loaded its plan and shard */
};
/* The key of spec s's plan and shard (malloc'd, or NULL: their files
 * cannot be seen, so nothing is kept). */
char *sdsinf__worker_cache_key(const sdsinf_worker_spec *s);
/* Frees what the cache holds, leaving it empty (its count stays). */
void sdsinf__worker_cache_clear(sdsinf_worker_cache *c);

/* What a worker started from its spec gets from the process around it
 * (sdsinf_lambda_worker): all optional. */
typedef struct sdsinf__worker_env {
    const volatile sig_atomic_t *cancel; /* nonzero: stop, or NULL */
    int timeout_cap_ms;          /* > 0: no wait longer than this */
    sdsinf_worker_cache *cache;  /* borrowed, or NULL */
    int loaded;                  /* out: 1 when it loaded its plan and
                                    shard, 0 when the cache's served */
    double billed_from;          /* a Lambda invocation: when it started
                                    (wall clock s) and the function's
                                    memory (MB; 0: none), for its report */
    uint32_t billed_mb;
} sdsinf__worker_env;
/* sdsinf_worker_main in env (NULL: none). */
int sdsinf__worker_main_in(const sdsinf_worker_spec *s,
                           sdsinf__worker_env *env, sdsinf_err *err);

/* Makes the run's channel state for its W workers and the coordinator's
 * endpoint (the channel's run_create), before any of them opens: the
 * coordinator's call (in a job, worker 0's process).  sdsinf_run removes
 * it (run_destroy) in that process once every worker has ended. */
int sdsinf__run_create(run_ctx *c, sdsinf_err *err);
/* Opens the coordinator's endpoint of the run's channel (gather.c). */
int sdsinf__coordinator_open(run_ctx *c, sdsinf_err *err);
/* Collects the W workers' reports at c->coord while the launcher tells of
 * ends (lm->poll), until every worker has reported or the first failure,
 * which stops the others (lm->stop, or else a stop over the channel to
 * each, which ends its waits at once): the first failure wins, but a
 * worker's own error over a timeout and either over a weaker one (a lost
 * report, a worker stopped because another failed).  On success the
 * totals, records and result are the run's; a cancel (c->cancel) gives
 * SDSINF_ECANCELED with c->canceled set. */
int sdsinf__gather(run_ctx *c, sdsinf_launch *l,
                   const sdsinf_launcher_methods *lm, sdsinf_err *err);

/* What the run writes for workers that start from their specs (stage.c):
 * under <scratch>/sdsinf-<run>/ (beside the run's owner record, so a killed
 * run's files are swept), work/: the plan and shards unless the run has a
 * plan directory, each worker's inputs, the bias file when one is needed;
 * and the spec they share. */
typedef struct sdsinf__stage {
    char dir[4096];   /* <scratch>/sdsinf-<run> */
    char work[4160];  /* dir/work, removed by sdsinf__stage_remove */
    char plan[4200];  /* the plan directory the workers read */
    char bias[4200];  /* the bias spec: a number, or work/bias.tsv */
    char remote[2048]; /* s3://BUCKET/sdsinf-<run>: work/ stored there for
                          a plan in S3; "" for none */
    char staged[2048]; /* work/'s files staged in the run's stage_bucket
                          (content-addressed, kept); "" for none */
    sdsinf_worker_spec spec;
} sdsinf__stage;
int sdsinf__stage_write(const run_ctx *c, const sdsinf_launcher_methods *lm,
                        sdsinf__stage *s, sdsinf_err *err);
/* Where stage_write stores the inputs of a run whose plan is in S3,
 * s3://BUCKET/sdsinf-<run> (BUCKET the plan's), into out (cap bytes); ""
 * for a run whose plan is not (SDSINF_EINVAL when it does not fit). */
int sdsinf__stage_remote(const run_ctx *c, char *out, size_t cap,
                         sdsinf_err *err);
/* Removes what stage_write made: SDSINF_OK, or the failure to remove the
 * objects it stored (then the run's owner record stays, for `sdsinf
 * clean`). */
int sdsinf__stage_remove(sdsinf__stage *s);

/* The error of a run canceled through c->cancel: its workers stopped and
 * (cleaned: whether that worked) its channel state removed. */
int sdsinf__canceled(const run_ctx *c, int cleaned, sdsinf_err *err);

/* Worker i's parent in a launch tree of `bfr` children per worker over
 * `nlevels` levels (parent[i] = -1: started by the coordinator); the
 * tree must hold exactly `workers` (SDSINF_EINVAL otherwise). */
int sdsinf__launch_tree(int bfr, int nlevels, int workers, int *parent,
                        sdsinf_err *err);
/* The launch tree of spec s (its bfr and nlevels; none: every worker the
 * coordinator's): *parent (sdsinf__free it) gets each worker's parent. */
int sdsinf__spec_tree(const sdsinf_worker_spec *s, int **parent,
                      sdsinf_err *err);

#endif /* SDSINF_RUN_H */
