/* plan/hypergraph.h - the hypergraph partitioner's model and plan state,
 * shared by its own search (partition_hypergraph.c) and the Zoltan steps
 * (zoltan.c) (internal). */
#ifndef SDSINF_HYPERGRAPH_H
#define SDSINF_HYPERGRAPH_H

#include "core/core.h"

#define UNASSIGNED 0xFFFFu

/* Vertices are numbered stage by stage; a net's pins lie in two adjacent
 * stages and its first pin is in the lower one (the source row, for the
 * neuron hypergraph).  Nets are ordered by the stage of their first pin. */
typedef struct hgraph {
    int32_t nv, ne, nstages;
    int32_t *xstage; /* nstages + 1: stage s is [xstage[s], xstage[s+1]) */
    int32_t *stage;  /* nv */
    int64_t *vw;     /* nv weights */
    int64_t *xpin;   /* ne + 1 */
    int32_t *pin;
    int32_t *nw;     /* ne weights */
    int32_t *xsrc;   /* nstages + 1: nets whose first pin is in stage s */
    int64_t *xnet;   /* nv + 1: incidence, nets ascending */
    int32_t *net;
} hgraph;

typedef struct hashed {
    uint64_t h;
    int32_t v;
} hashed;

typedef struct plan {
    const hgraph *g;
    int W;
    uint16_t *part;  /* nv; UNASSIGNED until placed */
    uint16_t *cnt;   /* ne x W: a net's pins in each part */
    int32_t *nass;   /* ne: a net's placed pins */
    int64_t *load;   /* nstages x W */
    int64_t *cap;    /* nstages: the bound on a part's load */
    int64_t cut;     /* sum of weight x (parts spanned - 1) */
    int64_t *gain;   /* W scratch */
    uint16_t *old;   /* scratch: a stage's parts */
    hashed *ord;     /* scratch: a stage's vertices in order */
} plan;

/* Moves (or places) v into part b; returns the change of the cut. */
int64_t sdsinf__hplan_move(plan *p, int32_t v, int b);

#endif /* SDSINF_HYPERGRAPH_H */
