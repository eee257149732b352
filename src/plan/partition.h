/* partition.h - worker plans for distributed inference (internal).
 *
 * A plan assigns every neuron of every stage to one of W workers: stage 0 is
 * the input features, stage l the outputs of layer l (l = 1..L).  Plans are
 * stage-major arrays of (layers + 1) x neurons worker ids.
 *
 * Cost of a plan: for layer l, input row k (stage l-1 neuron k) goes to every
 * worker owning an output c with W_l[k][c] != 0, except its own owner; the
 * volume is the number of such (row, target) pairs over all layers.  Work of
 * a worker at stage l >= 1 is the in-degree (the nonzeros of the columns of
 * W_l) of the outputs it owns; the imbalance of a layer is max / mean - 1 and
 * a plan's imbalance is the largest over the layers (stage 0 carries no
 * compute and is balanced loosely). */
#ifndef SDSINF_PARTITION_H
#define SDSINF_PARTITION_H

#include "core/core.h"

/* How the initial plan is made.  Only ZOLTAN runs the Zoltan sweeps after
 * it (and falls back to GREEDY where MPI is already finalised); annealing
 * and refinement follow each. */
enum {
    SDSINF__PART_INIT_ZOLTAN = 0, /* Zoltan PHG, stage by stage */
    SDSINF__PART_INIT_GREEDY = 1, /* stage by stage, cheapest part each */
    SDSINF__PART_INIT_RANDOM = 2  /* balanced random clusters */
};

typedef struct sdsinf__partition_opts {
    int workers;
    double imbalance;          /* per-layer bound; < 0: 0.03 */
    uint64_t seed;             /* same seed, same plan */
    const float *input_weight; /* neurons entries, or NULL: stage 0 by count */
    int initial;               /* SDSINF__PART_INIT_* */
    int window;                /* free stages per initial Zoltan call (the
                                  first is kept); <= 0: 1 */
    int sweeps;                /* Zoltan passes over the stages after the
                                  initial plan; < 0: up to 8 */
    int span;                  /* free stages per Zoltan call in a sweep;
                                  <= 0: 1 */
    double effort;             /* annealing work, relative; < 0: 1; 0: none */
    /* how far it is (sdsinf_partition_opts' progress); NULL: not told */
    void (*progress)(void *ud, const char *stage, int64_t done,
                     int64_t total);
    void *progress_ud;
} sdsinf__partition_opts;

/* What a run did (cuts in row-target pairs, times in seconds). */
typedef struct sdsinf__partition_report {
    int64_t cut_initial;    /* after the initial plan, on clusters */
    int64_t cut_sweeps;     /* after the Zoltan sweeps */
    int64_t cut_clusters;   /* after annealing the clusters */
    int64_t cut_final;      /* the plan returned */
    int64_t clusters;       /* vertices of the clustered hypergraph */
    double t_build, t_initial, t_sweeps, t_clusters, t_final;
    int zoltan_calls;       /* 0 when Zoltan was not used */
    int zoltan_failures;    /* initial calls Zoltan failed (greedy took
                               over) */
} sdsinf__partition_report;

void sdsinf__partition_opts_init(sdsinf__partition_opts *o);

/* The plan for o->workers workers (1..65535).  *owner: (layers + 1) x
 * neurons worker ids, stage-major; caller frees with sdsinf__free.  The
 * bound holds wherever the neuron weights allow it (best effort otherwise,
 * e.g. more workers than neurons: check with sdsinf__partition_stats).
 * Uses Zoltan, which calls MPI_Init if MPI is not running yet (never
 * MPI_Finalize); one run at a time uses Zoltan (a lock).  report may be
 * NULL. */
int sdsinf__partition_run(const sdsinf_model *m,
                          const sdsinf__partition_opts *o, uint16_t **owner,
                          sdsinf__partition_report *report, sdsinf_err *err);

/* The row-target pairs per layer (layers entries) and the imbalance (either
 * may be NULL).  Fails on an owner id >= workers. */
int sdsinf__partition_stats(const sdsinf_model *m, int workers,
                            const uint16_t *owner, int64_t *pairs_per_layer,
                            double *imbalance, sdsinf_err *err);

#endif /* SDSINF_PARTITION_H */
