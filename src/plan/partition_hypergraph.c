/* partition_hypergraph.c - worker plans by hypergraph partitioning.
 *
 * The model as a hypergraph: one vertex per (stage, neuron); one net per
 * (layer l, input row k) holding stage l-1 neuron k (its source) and the
 * stage l outputs of row k.  A net spanning lambda workers costs lambda - 1
 * row sends, so a plan's volume is the connectivity-1 cut.  A vertex weighs
 * its in-degree (stage 0: 1, or the caller's input weight) and every stage
 * has its own balance bound, which a single-weight partitioner cannot hold
 * for the whole hypergraph (left free, it cuts the layers into a pipeline).
 * So:
 *   1. cluster: the vertices of a stage with the same input rows share all
 *      the nets of their layer and move together, cut into pieces the way
 *      a packing of the stage into W bounded parts would cut them, so the
 *      clusters can meet the bound (make_clusters, contract);
 *   2. initial plan, stage 1 to L: Zoltan PHG partitions the stage with the
 *      stage before fixed (weightless), the result is repaired to the
 *      stage's bound (initial_plan, rebalance_stage);
 *   3. sweeps: every stage again by Zoltan with both neighbours fixed, kept
 *      where the cut drops (zoltan_improve), then every stage's part names
 *      matched to the stage before by an assignment problem (relabel);
 *   4. simulated annealing over moves and swaps of clusters within the
 *      bounds, kept if it helps (anneal);
 *   5. the neurons: the clusters' parts projected, every stage rebalanced to
 *      the exact bound, greedy moves and swaps (refine).
 * Without Zoltan (a build without it, a Lambda function, or MPI
 * finalised) step 2 places greedily and 3 is skipped; Zoltan's steps come
 * from the MPI plugin (zoltan_plugin.c), and a build with Zoltan fails
 * where it is missing, but in a Lambda function.
 * The same seed gives the same plan (Zoltan's generator is seeded per
 * call).  Zoltan keeps global state: its use is serialised by a mutex.
 *
 * Sections: random numbers, hypergraphs, clusters, plan state, rebalancing
 * and refinement, relabelling, annealing, initial plans, statistics, entry;
 * Zoltan's own steps are in zoltan.c. */
#include "plan/partition.h"
#include "plan/zoltan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORKERS 65535
#define DEFAULT_IMBALANCE 0.03
/* Stage 0 does no compute: its bound is at least this loose. */
#define STAGE0_IMBALANCE 0.25
/* Annealing proposals per cluster at effort 1 (at most ANNEAL_MAX), and its
 * temperatures; hotter and twice as long where no Zoltan sweeps preceded. */
#define ANNEAL_PER_VERTEX 300
#define ANNEAL_MAX 3000000
#define ANNEAL_T0 2.0
#define ANNEAL_T1 0.3
#define ANNEAL_HOT_T0 8.0
#define ANNEAL_HOT_T1 0.8
#define ANNEAL_TRIES 3
#define REFINE_PASSES 8 /* greedy passes at most, on clusters */
#define FINE_PASSES 4   /* and on neurons */
#define DEFAULT_SWEEPS 8
/* Sweeps stop when one saves less than this share of the cut. */
#define SWEEP_MIN_GAIN 0.0005

/* The steps the progress callback is told of (sdsinf_partition_opts). */
static const char STEP_BUILD[] = "build the hypergraph",
                  STEP_INITIAL[] = "initial plan",
                  STEP_SWEEPS[] = "Zoltan sweeps",
                  STEP_ANNEAL[] = "annealing",
                  STEP_FINE[] = "refine on neurons";

/* Tells o's progress callback, if any, how far step `stage` is. */
static void tell(const sdsinf__partition_opts *o, const char *stage,
                 int64_t done, int64_t total)
{
    if (o->progress)
        o->progress(o->progress_ud, stage, done, total);
}

/* ---- Random numbers (splitmix64) --------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n >= 1. */
static uint32_t rng_below(rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static void shuffle(int32_t *a, int32_t n, rng *r)
{
    for (int32_t i = n - 1; i > 0; i--) {
        int32_t j = (int32_t)rng_below(r, (uint32_t)i + 1);
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* ---- Hypergraphs -------------------------------------------------------- */


static void hg_free(hgraph *g)
{
    sdsinf__free(g->xstage);
    sdsinf__free(g->stage);
    sdsinf__free(g->vw);
    sdsinf__free(g->xpin);
    sdsinf__free(g->pin);
    sdsinf__free(g->nw);
    sdsinf__free(g->xsrc);
    sdsinf__free(g->xnet);
    sdsinf__free(g->net);
    memset(g, 0, sizeof *g);
}

/* Builds xnet/net from the pins. */
static int hg_incidence(hgraph *g, sdsinf_err *err)
{
    int64_t npins = g->xpin[g->ne];
    g->xnet = sdsinf__calloc((size_t)g->nv + 1, sizeof *g->xnet);
    g->net = sdsinf__mallocarray((size_t)npins, sizeof *g->net);
    if (!g->xnet || !g->net)
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "no memory for the incidence of %lld pins",
                            (long long)npins);
    for (int64_t i = 0; i < npins; i++)
        g->xnet[g->pin[i] + 1]++;
    for (int32_t v = 0; v < g->nv; v++)
        g->xnet[v + 1] += g->xnet[v];
    for (int32_t e = 0; e < g->ne; e++)
        for (int64_t i = g->xpin[e]; i < g->xpin[e + 1]; i++)
            g->net[g->xnet[g->pin[i]]++] = e;
    memmove(g->xnet + 1, g->xnet, (size_t)g->nv * sizeof *g->xnet);
    g->xnet[0] = 0;
    return SDSINF_OK;
}

/* Stage 0 weights: 1 each, or the caller's weights scaled to 0..1000. */
static int input_weights(const float *iw, int32_t n, int64_t *vw,
                         sdsinf_err *err)
{
    float mx = 0;
    for (int32_t i = 0; iw && i < n; i++) {
        if (!(iw[i] >= 0) || !isfinite(iw[i]))
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "input weight %d is %g; weights must be "
                                "finite and >= 0",
                                (int)i, (double)iw[i]);
        mx = iw[i] > mx ? iw[i] : mx;
    }
    for (int32_t i = 0; i < n; i++)
        vw[i] = mx > 0 ? llround(1000.0 * iw[i] / mx) : 1;
    return SDSINF_OK;
}

static int check_model(const sdsinf_model *m, sdsinf_err *err)
{
    if (!m || m->neurons < 1 || m->layers < 0 || !m->layer)
        return sdsinf__fail(err, SDSINF_EINVAL, "no model to partition");
    if ((int64_t)m->neurons * (m->layers + 1) > INT32_MAX)
        return sdsinf__fail(err, SDSINF_ENOTSUP,
                            "%d neurons x %d stages is too many to partition",
                            (int)m->neurons, (int)m->layers + 1);
    for (int32_t l = 0; l < m->layers; l++) {
        const sdsinf_csr *w = &m->layer[l].w;
        if (w->nrows != m->neurons || w->ncols != m->neurons || !w->rowptr)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "layer %d is %lld x %lld, not %d x %d",
                                (int)l + 1, (long long)w->nrows,
                                (long long)w->ncols, (int)m->neurons,
                                (int)m->neurons);
        for (int64_t k = 0; k < w->nrows; k++)
            if (w->rowptr[k + 1] - w->rowptr[k] > 65534)
                return sdsinf__fail(err, SDSINF_ENOTSUP,
                                    "layer %d row %lld has over 65534 "
                                    "entries",
                                    (int)l + 1, (long long)k + 1);
    }
    return SDSINF_OK;
}

/* The neuron hypergraph: vertex s*N + i, net (l-1)*N + k for layer l. */
static int hg_build(const sdsinf_model *m, const float *input_weight,
                    hgraph *g, sdsinf_err *err)
{
    int32_t N = m->neurons, L = m->layers;
    int64_t npins = (int64_t)L * N;
    for (int32_t l = 0; l < L; l++)
        npins += sdsinf_csr_nnz(&m->layer[l].w);
    memset(g, 0, sizeof *g);
    g->nstages = L + 1;
    g->nv = N * (L + 1);
    g->ne = N * L;
    g->xstage = sdsinf__mallocarray((size_t)L + 2, sizeof *g->xstage);
    g->xsrc = sdsinf__mallocarray((size_t)L + 2, sizeof *g->xsrc);
    g->stage = sdsinf__mallocarray((size_t)g->nv, sizeof *g->stage);
    g->vw = sdsinf__calloc((size_t)g->nv, sizeof *g->vw);
    g->xpin = sdsinf__mallocarray((size_t)g->ne + 1, sizeof *g->xpin);
    g->pin = sdsinf__mallocarray((size_t)npins, sizeof *g->pin);
    g->nw = sdsinf__mallocarray((size_t)g->ne, sizeof *g->nw);
    if (!g->xstage || !g->xsrc || !g->stage || !g->vw || !g->xpin ||
        !g->pin || !g->nw)
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "no memory for a hypergraph of %lld pins",
                            (long long)npins);
    for (int32_t s = 0; s <= L + 1; s++) {
        g->xstage[s] = (s <= L ? s : L + 1) * N;
        g->xsrc[s] = (s <= L ? s : L) * N;
    }
    for (int32_t v = 0; v < g->nv; v++)
        g->stage[v] = v / N;
    int rc = input_weights(input_weight, N, g->vw, err);
    if (rc != SDSINF_OK)
        return rc;
    int64_t at = 0;
    for (int32_t l = 1; l <= L; l++) {
        const sdsinf_csr *w = &m->layer[l - 1].w;
        for (int32_t k = 0; k < N; k++) {
            int32_t e = (l - 1) * N + k;
            g->xpin[e] = at;
            g->nw[e] = 1;
            g->pin[at++] = (l - 1) * N + k;
            for (int64_t i = w->rowptr[k]; i < w->rowptr[k + 1]; i++) {
                if (w->col[i] >= (uint32_t)N)
                    return sdsinf__fail(err, SDSINF_EINVAL,
                                        "layer %d has column %u >= %d",
                                        (int)l, w->col[i], (int)N);
                g->pin[at++] = l * N + (int32_t)w->col[i];
                g->vw[l * N + (int32_t)w->col[i]]++;
            }
        }
    }
    g->xpin[g->ne] = at;
    return hg_incidence(g, err);
}

/* ---- Clusters ----------------------------------------------------------- */

/* What a vertex is grouped by, its key: for stage 0 the other pins of the
 * net it sources (its outputs), otherwise the nets it does not source (its
 * input rows); walked id by id in a fixed order. */
typedef struct keyiter {
    const hgraph *g;
    int32_t v;
    int64_t i, end; /* over xnet (inputs) or the pins of one net */
    int outputs;
} keyiter;

static void key_start(keyiter *it, const hgraph *g, int32_t v)
{
    it->g = g;
    it->v = v;
    it->outputs = g->stage[v] == 0;
    it->i = g->xnet[v];
    it->end = g->xnet[v + 1];
    if (it->outputs && it->i < it->end) {
        int32_t e = g->net[it->i];
        it->i = g->xpin[e];
        it->end = g->xpin[e + 1];
    } else if (it->outputs) {
        it->end = it->i;
    }
}

/* Next id of the key, or -1 at the end. */
static int32_t key_next(keyiter *it)
{
    const hgraph *g = it->g;
    while (it->i < it->end) {
        int64_t i = it->i++;
        if (it->outputs) {
            if (g->pin[i] != it->v)
                return g->pin[i];
        } else {
            int32_t e = g->net[i];
            if (g->pin[g->xpin[e]] != it->v)
                return e;
        }
    }
    return -1;
}

static uint64_t key_hash(const hgraph *g, int32_t v)
{
    keyiter it;
    uint64_t h = 0x84222325CBF29CE4ull;
    key_start(&it, g, v);
    for (int32_t x; (x = key_next(&it)) >= 0;)
        h = (h ^ (uint64_t)x) * 0x100000001B3ull + 0x9E37u;
    return h;
}

static int key_equal(const hgraph *g, int32_t a, int32_t b)
{
    keyiter ia, ib;
    key_start(&ia, g, a);
    key_start(&ib, g, b);
    for (;;) {
        int32_t x = key_next(&ia), y = key_next(&ib);
        if (x != y)
            return 0;
        if (x < 0)
            return 1;
    }
}


static int cmp_hashed(const void *pa, const void *pb)
{
    const hashed *a = pa, *b = pb;
    if (a->h != b->h)
        return a->h < b->h ? -1 : 1;
    return (a->v > b->v) - (a->v < b->v);
}

/* A group of same-key vertices: h[first .. first + n) of its stage. */
typedef struct group {
    int32_t first, n;
    int64_t w;
} group;

static int cmp_group(const void *pa, const void *pb)
{
    const group *a = pa, *b = pb;
    if (a->w != b->w)
        return a->w < b->w ? 1 : -1;
    return (a->first > b->first) - (a->first < b->first);
}

/* Splits h[0..n) (sorted by key hash) into groups of equal keys. */
static int32_t find_groups(const hgraph *g, const hashed *h, int32_t n,
                           group *gr)
{
    int32_t ng = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t v = h[i].v;
        if (i == 0 || h[i].h != h[i - 1].h ||
            !key_equal(g, h[gr[ng - 1].first].v, v))
            gr[ng++] = (group){i, 0, 0};
        gr[ng - 1].n++;
        gr[ng - 1].w += g->vw[v];
    }
    return ng;
}

/* The part with the least room that still takes w, else (-1). */
static int best_fit(const int64_t *ld, int W, int64_t cap, int64_t w)
{
    int b = -1;
    for (int q = 0; q < W; q++)
        if (ld[q] + w <= cap && (b < 0 || ld[q] > ld[b]))
            b = q;
    return b;
}

/* Cuts the stage's groups into clusters as a best-fit-decreasing packing
 * into W parts of `cap` would: whole where a group fits, else in pieces
 * filling the emptiest part.  So the clusters can meet the bound (*fc gets
 * the packing's heaviest part, above cap only when a vertex alone is). */
static int32_t pack_stage(const hgraph *g, const hashed *h, group *gr,
                          int32_t ng, int W, int64_t cap, int64_t *ld,
                          int32_t *cl, int32_t next, int64_t *fc)
{
    qsort(gr, (size_t)ng, sizeof *gr, cmp_group);
    memset(ld, 0, (size_t)W * sizeof *ld);
    for (int32_t k = 0; k < ng; k++) {
        int b = best_fit(ld, W, cap, gr[k].w);
        int32_t i = gr[k].first, end = i + gr[k].n;
        while (i < end) {
            if (b < 0) { /* the emptiest part takes what fits */
                b = 0;
                for (int q = 1; q < W; q++)
                    if (ld[q] < ld[b])
                        b = q;
            }
            int32_t i0 = i;
            while (i < end && (i == i0 || ld[b] + g->vw[h[i].v] <= cap)) {
                ld[b] += g->vw[h[i].v];
                cl[h[i++].v] = next;
            }
            next++;
            b = -1;
        }
    }
    *fc = 0;
    for (int q = 0; q < W; q++)
        *fc = ld[q] > *fc ? ld[q] : *fc;
    return next;
}

/* cl[v]: the cluster of every vertex, numbered stage by stage; *ncl gets
 * how many, fc[s] the bound the clusters of stage s can meet. */
static int make_clusters(const hgraph *g, int W, const int64_t *cap,
                         int32_t *cl, int32_t *ncl, int64_t *fc,
                         sdsinf_err *err)
{
    int32_t maxn = 0, next = 0;
    for (int32_t s = 0; s < g->nstages; s++)
        if (g->xstage[s + 1] - g->xstage[s] > maxn)
            maxn = g->xstage[s + 1] - g->xstage[s];
    hashed *h = sdsinf__mallocarray((size_t)maxn + 1, sizeof *h);
    group *gr = sdsinf__mallocarray((size_t)maxn + 1, sizeof *gr);
    int64_t *ld = sdsinf__mallocarray((size_t)W, sizeof *ld);
    if (!h || !gr || !ld) {
        sdsinf__free(h);
        sdsinf__free(gr);
        sdsinf__free(ld);
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for clusters");
    }
    for (int32_t s = 0; s < g->nstages; s++) {
        int32_t v0 = g->xstage[s], n = g->xstage[s + 1] - v0;
        for (int32_t i = 0; i < n; i++) {
            h[i].h = key_hash(g, v0 + i);
            h[i].v = v0 + i;
        }
        qsort(h, (size_t)n, sizeof *h, cmp_hashed);
        int32_t ng = find_groups(g, h, n, gr);
        next = pack_stage(g, h, gr, ng, W, cap[s], ld, cl, next, &fc[s]);
        fc[s] = fc[s] > cap[s] ? fc[s] : cap[s];
    }
    sdsinf__free(h);
    sdsinf__free(gr);
    sdsinf__free(ld);
    *ncl = next;
    return SDSINF_OK;
}

static int cmp_i32(const void *pa, const void *pb)
{
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return (a > b) - (a < b);
}

static uint64_t pins_hash(const int32_t *p, int32_t n)
{
    uint64_t h = 0xCBF29CE484222325ull ^ (uint64_t)n;
    for (int32_t i = 0; i < n; i++)
        h = (h ^ (uint64_t)p[i]) * 0x100000001B3ull;
    return h ^ (h >> 29);
}

/* The hypergraph of the clusters: a net per distinct set of clusters its
 * pins fall in (two or more), weighing the nets it stands for. */
static int contract(const hgraph *f, const int32_t *cl, int32_t ncl,
                    hgraph *c, sdsinf_err *err)
{
    int rc = SDSINF_OK;
    int64_t fpins = f->xpin[f->ne];
    size_t tcap = 16;
    while (tcap < 2 * (size_t)f->ne + 2)
        tcap *= 2;
    int32_t *table = sdsinf__mallocarray(tcap, sizeof *table);
    uint64_t *nh = sdsinf__mallocarray((size_t)f->ne + 1, sizeof *nh);
    int32_t *mark = sdsinf__mallocarray((size_t)ncl, sizeof *mark);
    memset(c, 0, sizeof *c);
    c->nv = ncl;
    c->nstages = f->nstages;
    c->xstage = sdsinf__calloc((size_t)f->nstages + 1, sizeof *c->xstage);
    c->xsrc = sdsinf__calloc((size_t)f->nstages + 1, sizeof *c->xsrc);
    c->stage = sdsinf__mallocarray((size_t)ncl, sizeof *c->stage);
    c->vw = sdsinf__calloc((size_t)ncl, sizeof *c->vw);
    c->xpin = sdsinf__mallocarray((size_t)f->ne + 1, sizeof *c->xpin);
    c->pin = sdsinf__mallocarray((size_t)fpins, sizeof *c->pin);
    c->nw = sdsinf__mallocarray((size_t)f->ne, sizeof *c->nw);
    if (!table || !nh || !mark || !c->xstage || !c->xsrc || !c->stage ||
        !c->vw || !c->xpin || !c->pin || !c->nw) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM,
                          "no memory for the clustered hypergraph");
        goto done;
    }
    memset(table, 0xFF, tcap * sizeof *table);
    memset(mark, 0xFF, (size_t)ncl * sizeof *mark);
    for (int32_t v = 0; v < f->nv; v++) {
        c->stage[cl[v]] = f->stage[v];
        c->vw[cl[v]] += f->vw[v];
    }
    for (int32_t v = 0; v < ncl; v++)
        c->xstage[c->stage[v] + 1]++;
    for (int32_t s = 0; s < c->nstages; s++)
        c->xstage[s + 1] += c->xstage[s];
    int64_t at = 0;
    int32_t ne = 0;
    c->xpin[0] = 0;
    for (int32_t e = 0; e < f->ne; e++) {
        int32_t n = 0, *p = c->pin + at;
        for (int64_t i = f->xpin[e]; i < f->xpin[e + 1]; i++) {
            int32_t x = cl[f->pin[i]];
            if (mark[x] != e) {
                mark[x] = e;
                p[n++] = x;
            }
        }
        if (n < 2)
            continue;
        qsort(p, (size_t)n, sizeof *p, cmp_i32);
        uint64_t hv = pins_hash(p, n);
        size_t slot = (size_t)hv & (tcap - 1);
        for (; table[slot] >= 0; slot = (slot + 1) & (tcap - 1)) {
            int32_t o = table[slot];
            if (nh[o] == hv && c->xpin[o + 1] - c->xpin[o] == n &&
                !memcmp(c->pin + c->xpin[o], p, (size_t)n * sizeof *p))
                break;
        }
        if (table[slot] >= 0) {
            c->nw[table[slot]] += f->nw[e];
            continue;
        }
        table[slot] = ne;
        nh[ne] = hv;
        c->nw[ne] = f->nw[e];
        c->xsrc[c->stage[p[0]] + 1]++;
        at += n;
        c->xpin[++ne] = at;
    }
    c->ne = ne;
    for (int32_t s = 0; s < c->nstages; s++)
        c->xsrc[s + 1] += c->xsrc[s];
    rc = hg_incidence(c, err);
done:
    sdsinf__free(table);
    sdsinf__free(nh);
    sdsinf__free(mark);
    return rc;
}

/* ---- Plan state --------------------------------------------------------- */


static void plan_free(plan *p)
{
    sdsinf__free(p->part);
    sdsinf__free(p->cnt);
    sdsinf__free(p->nass);
    sdsinf__free(p->load);
    sdsinf__free(p->cap);
    sdsinf__free(p->gain);
    sdsinf__free(p->old);
    sdsinf__free(p->ord);
    memset(p, 0, sizeof *p);
}

/* cap[s]: the most a part of stage s may carry, load x W / total - 1 <=
 * tol computed as sdsinf__partition_stats does (stage 0, with no compute,
 * at least STAGE0_IMBALANCE over the mean). */
static void stage_caps(const hgraph *g, int W, double tol, int64_t *cap)
{
    for (int32_t s = 0; s < g->nstages; s++) {
        int64_t total = 0;
        for (int32_t v = g->xstage[s]; v < g->xstage[s + 1]; v++)
            total += g->vw[v];
        double t = s == 0 && tol < STAGE0_IMBALANCE ? STAGE0_IMBALANCE : tol;
        cap[s] = (int64_t)floor((double)total * (1 + t) / W) + 1;
        while (cap[s] > 0 && total > 0 &&
               (double)cap[s] * W / (double)total - 1 > t)
            cap[s]--;
    }
}

static int plan_init(plan *p, const hgraph *g, int W, const int64_t *cap,
                     sdsinf_err *err)
{
    memset(p, 0, sizeof *p);
    p->g = g;
    p->W = W;
    p->part = sdsinf__mallocarray((size_t)g->nv, sizeof *p->part);
    p->cnt = sdsinf__calloc((size_t)g->ne * (size_t)W, sizeof *p->cnt);
    p->nass = sdsinf__calloc((size_t)g->ne, sizeof *p->nass);
    p->load = sdsinf__calloc((size_t)g->nstages * (size_t)W, sizeof *p->load);
    p->cap = sdsinf__mallocarray((size_t)g->nstages, sizeof *p->cap);
    p->gain = sdsinf__mallocarray((size_t)W, sizeof *p->gain);
    int32_t maxn = 0;
    for (int32_t s = 0; s < g->nstages; s++)
        if (g->xstage[s + 1] - g->xstage[s] > maxn)
            maxn = g->xstage[s + 1] - g->xstage[s];
    p->old = sdsinf__mallocarray((size_t)maxn + 1, sizeof *p->old);
    p->ord = sdsinf__mallocarray((size_t)maxn + 1, sizeof *p->ord);
    if (!p->part || !p->cnt || !p->nass || !p->load || !p->cap || !p->gain ||
        !p->old || !p->ord) {
        plan_free(p);
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "no memory for a plan of %d parts over %d nets",
                            W, (int)g->ne);
    }
    memset(p->part, 0xFF, (size_t)g->nv * sizeof *p->part);
    memcpy(p->cap, cap, (size_t)g->nstages * sizeof *cap);
    return SDSINF_OK;
}

/* Moves (or places) v into part b; returns the change of the cut. */
int64_t sdsinf__hplan_move(plan *p, int32_t v, int b)
{
    const hgraph *g = p->g;
    int W = p->W, a = p->part[v];
    int64_t d = 0;
    for (int64_t i = g->xnet[v]; i < g->xnet[v + 1]; i++) {
        int32_t e = g->net[i];
        uint16_t *c = p->cnt + (size_t)e * W;
        if (a != (int)UNASSIGNED) {
            if (--c[a] == 0)
                d -= g->nw[e];
            if (c[b]++ == 0)
                d += g->nw[e];
        } else {
            if (c[b]++ == 0 && p->nass[e] > 0)
                d += g->nw[e];
            p->nass[e]++;
        }
    }
    int32_t s = g->stage[v];
    if (a != (int)UNASSIGNED)
        p->load[(size_t)s * W + a] -= g->vw[v];
    p->load[(size_t)s * W + b] += g->vw[v];
    p->part[v] = (uint16_t)b;
    p->cut += d;
    return d;
}

/* Takes placed v out of its part. */
static void plan_unplace(plan *p, int32_t v)
{
    const hgraph *g = p->g;
    int W = p->W, a = p->part[v];
    for (int64_t i = g->xnet[v]; i < g->xnet[v + 1]; i++) {
        int32_t e = g->net[i];
        uint16_t *c = p->cnt + (size_t)e * W;
        p->nass[e]--;
        if (--c[a] == 0 && p->nass[e] > 0)
            p->cut -= g->nw[e];
    }
    p->load[(size_t)g->stage[v] * W + a] -= g->vw[v];
    p->part[v] = (uint16_t)UNASSIGNED;
}

/* p->gain[b]: how much the cut drops when v goes to b (placed v), or minus
 * what placing it there costs (unplaced v). */
static void plan_gains(plan *p, int32_t v)
{
    const hgraph *g = p->g;
    int W = p->W, a = p->part[v];
    int64_t leave = 0, *gn = p->gain;
    for (int q = 0; q < W; q++)
        gn[q] = 0;
    for (int64_t i = g->xnet[v]; i < g->xnet[v + 1]; i++) {
        int32_t e = g->net[i];
        const uint16_t *c = p->cnt + (size_t)e * W;
        int64_t w = g->nw[e];
        if (a != (int)UNASSIGNED) {
            if (c[a] == 1)
                leave += w;
        } else if (p->nass[e] == 0) {
            continue;
        }
        for (int q = 0; q < W; q++)
            if (c[q] == 0)
                gn[q] -= w;
    }
    for (int q = 0; q < W; q++)
        gn[q] += leave;
    if (a != (int)UNASSIGNED)
        gn[a] = 0;
}

/* The gain of moving placed u from a to b, counts as they stand. */
static int64_t move_gain(const plan *p, int32_t u, int b)
{
    const hgraph *g = p->g;
    int W = p->W, a = p->part[u];
    int64_t d = 0;
    for (int64_t i = g->xnet[u]; i < g->xnet[u + 1]; i++) {
        int32_t e = g->net[i];
        const uint16_t *c = p->cnt + (size_t)e * W;
        d += (int64_t)g->nw[e] * ((c[a] == 1) - (c[b] == 0));
    }
    return d;
}

static int64_t *stage_load(plan *p, int32_t s)
{
    return p->load + (size_t)s * p->W;
}

/* ---- Rebalancing and refinement ----------------------------------------- */

/* Moves vertices out of parts above the bound into parts with room, the
 * least harmful first; returns whether the stage now meets its bound. */
static int relieve_stage(plan *p, int32_t s)
{
    const hgraph *g = p->g;
    int W = p->W;
    int64_t *ld = stage_load(p, s), cap = p->cap[s];
    for (;;) {
        int32_t bv = -1;
        int bb = -1, over = 0;
        int64_t bg = 0;
        for (int32_t v = g->xstage[s]; v < g->xstage[s + 1]; v++) {
            int a = p->part[v];
            if (ld[a] <= cap)
                continue;
            over = 1;
            if (g->vw[v] == 0)
                continue;
            plan_gains(p, v);
            for (int q = 0; q < W; q++)
                if (q != a && ld[q] + g->vw[v] <= cap &&
                    (bv < 0 || p->gain[q] > bg)) {
                    bv = v;
                    bb = q;
                    bg = p->gain[q];
                }
        }
        if (!over || bv < 0)
            return !over;
        sdsinf__hplan_move(p, bv, bb);
    }
}

/* Places the stage afresh, heaviest first: each vertex in its old part if
 * that has room, else in the cheapest part with room, else in the lightest
 * (so coarse vertices that collide find parts emptied of small ones). */
static void repack_stage(plan *p, int32_t s)
{
    const hgraph *g = p->g;
    int32_t v0 = g->xstage[s], n = g->xstage[s + 1] - v0;
    int64_t *ld = stage_load(p, s), cap = p->cap[s];
    for (int32_t i = 0; i < n; i++) {
        p->old[i] = p->part[v0 + i];
        plan_unplace(p, v0 + i);
        p->ord[i].h = (uint64_t)(INT64_MAX - g->vw[v0 + i]);
        p->ord[i].v = v0 + i;
    }
    qsort(p->ord, (size_t)n, sizeof *p->ord, cmp_hashed);
    for (int32_t i = 0; i < n; i++) {
        int32_t v = p->ord[i].v;
        int b = p->old[v - v0];
        if (ld[b] + g->vw[v] > cap) {
            plan_gains(p, v);
            b = -1;
            for (int q = 0; q < p->W; q++) {
                int fit = ld[q] + g->vw[v] <= cap;
                int bfit = b >= 0 && ld[b] + g->vw[v] <= cap;
                if (b < 0 || fit > bfit ||
                    (fit && bfit && p->gain[q] > p->gain[b]) ||
                    (!fit && !bfit && ld[q] < ld[b]))
                    b = q;
            }
        }
        sdsinf__hplan_move(p, v, b);
    }
}

/* Brings a stage within its bound: moves, else a repacking, else (weights
 * that cannot meet it) moves that still lower the heaviest part. */
static void rebalance_stage(plan *p, int32_t s)
{
    const hgraph *g = p->g;
    int W = p->W;
    int64_t *ld = stage_load(p, s), cap = p->cap[s];
    if (relieve_stage(p, s))
        return;
    repack_stage(p, s);
    if (relieve_stage(p, s))
        return;
    for (;;) {
        int a = 0;
        for (int q = 1; q < W; q++)
            if (ld[q] > ld[a])
                a = q;
        if (ld[a] <= cap)
            return;
        int32_t bv = -1;
        int bb = -1;
        int64_t bg = 0;
        for (int32_t v = g->xstage[s]; v < g->xstage[s + 1]; v++) {
            if (p->part[v] != a || g->vw[v] == 0)
                continue;
            plan_gains(p, v);
            for (int q = 0; q < W; q++)
                if (q != a && ld[q] + g->vw[v] < ld[a] &&
                    (bv < 0 || p->gain[q] > bg)) {
                    bv = v;
                    bb = q;
                    bg = p->gain[q];
                }
        }
        if (bv < 0)
            return; /* the bound cannot be met with these weights */
        sdsinf__hplan_move(p, bv, bb);
    }
}

/* The best partner in part b of stage s for a swap with v (already moved
 * to b): the u whose move to a gains most, within the bounds. */
static int32_t swap_partner(plan *p, int32_t v, int a, int b, int64_t *best)
{
    const hgraph *g = p->g;
    int32_t s = g->stage[v], bu = -1;
    int64_t *ld = stage_load(p, s), cap = p->cap[s];
    for (int32_t u = g->xstage[s]; u < g->xstage[s + 1]; u++) {
        if (p->part[u] != b || u == v)
            continue;
        if (ld[a] + g->vw[u] > cap || ld[b] - g->vw[u] > cap)
            continue;
        int64_t gu = move_gain(p, u, a);
        if (bu < 0 || gu > *best) {
            bu = u;
            *best = gu;
        }
    }
    return bu;
}

/* One pass of greedy moves (and swaps where the best part is full) over
 * the vertices of stages [s0, s1) in random order; returns the gain. */
static int64_t refine_pass(plan *p, int32_t s0, int32_t s1, rng *r,
                           int32_t *perm, int swaps)
{
    const hgraph *g = p->g;
    int W = p->W;
    int32_t v0 = g->xstage[s0], n = g->xstage[s1] - v0;
    int64_t before = p->cut;
    for (int32_t i = 0; i < n; i++)
        perm[i] = v0 + i;
    shuffle(perm, n, r);
    for (int32_t i = 0; i < n; i++) {
        int32_t v = perm[i], s = g->stage[v];
        int a = p->part[v];
        int64_t *ld = stage_load(p, s), cap = p->cap[s];
        plan_gains(p, v);
        int bm = -1, bs = -1;
        for (int q = 0; q < W; q++) {
            if (q == a || p->gain[q] <= 0)
                continue;
            if (ld[q] + g->vw[v] <= cap) {
                if (bm < 0 || p->gain[q] > p->gain[bm] ||
                    (p->gain[q] == p->gain[bm] && ld[q] < ld[bm]))
                    bm = q;
            } else if (bs < 0 || p->gain[q] > p->gain[bs]) {
                bs = q;
            }
        }
        if (bm >= 0) {
            sdsinf__hplan_move(p, v, bm);
            continue;
        }
        if (!swaps || bs < 0)
            continue;
        int64_t gv = p->gain[bs], gu = 0;
        sdsinf__hplan_move(p, v, bs);
        int32_t u = swap_partner(p, v, a, bs, &gu);
        if (u >= 0 && gv + gu > 0)
            sdsinf__hplan_move(p, u, a);
        else
            sdsinf__hplan_move(p, v, a);
    }
    return before - p->cut;
}

static void refine(plan *p, int32_t s0, int32_t s1, rng *r, int32_t *perm,
                   int passes)
{
    for (int k = 0; k < passes; k++)
        if (refine_pass(p, s0, s1, r, perm, 1) <= 0)
            break;
}

/* ---- Relabelling ------------------------------------------------------- */

/* Minimum-cost perfect assignment on an n x n matrix (Hungarian method,
 * O(n^3)): match[row] = column.  Scratch: 4 (n + 1) int64 and 2 (n + 1)
 * int. */
static void assign_min(const int64_t *cost, int n, int *match, int64_t *u,
                       int *pcol, int *way)
{
    int64_t *v = u + n + 1, *minv = v + n + 1;
    char *used = (char *)(minv + n + 1);
    for (int j = 0; j <= n; j++) {
        u[j] = v[j] = 0;
        pcol[j] = 0;
    }
    for (int i = 1; i <= n; i++) {
        int j0 = 0;
        pcol[0] = i;
        for (int j = 0; j <= n; j++) {
            minv[j] = INT64_MAX;
            used[j] = 0;
        }
        do {
            int i0 = pcol[j0], j1 = 0;
            int64_t delta = INT64_MAX;
            used[j0] = 1;
            for (int j = 1; j <= n; j++) {
                if (used[j])
                    continue;
                int64_t cur = cost[(size_t)(i0 - 1) * n + j - 1] - u[i0] - v[j];
                if (cur < minv[j]) {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if (minv[j] < delta) {
                    delta = minv[j];
                    j1 = j;
                }
            }
            for (int j = 0; j <= n; j++) {
                if (used[j]) {
                    u[pcol[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (pcol[j0] != 0);
        do {
            int j1 = way[j0];
            pcol[j0] = pcol[j1];
            j0 = j1;
        } while (j0);
    }
    for (int j = 1; j <= n; j++)
        match[pcol[j] - 1] = j - 1;
}

/* Recomputes counts, loads and cut from the parts (all placed). */
static void plan_rebuild(plan *p)
{
    const hgraph *g = p->g;
    memset(p->cnt, 0, (size_t)g->ne * (size_t)p->W * sizeof *p->cnt);
    memset(p->nass, 0, (size_t)g->ne * sizeof *p->nass);
    memset(p->load, 0, (size_t)g->nstages * (size_t)p->W * sizeof *p->load);
    p->cut = 0;
    for (int32_t v = 0; v < g->nv; v++) {
        int b = p->part[v];
        p->part[v] = (uint16_t)UNASSIGNED;
        sdsinf__hplan_move(p, v, b);
    }
}

/* Renaming the parts of every stage from l on leaves the cut of the other
 * layers alone; per layer the best renaming is an assignment problem.  Stage
 * by stage from 1, each renamed to fit the (renamed) stage before. */
static int relabel(plan *p, sdsinf_err *err)
{
    const hgraph *g = p->g;
    int W = p->W;
    size_t n = (size_t)W;
    int64_t *a = sdsinf__mallocarray(n * n, sizeof *a);
    int64_t *sc = sdsinf__mallocarray(4 * (n + 1), sizeof *sc);
    int *ip = sdsinf__mallocarray(3 * (n + 1), sizeof *ip);
    int32_t *stamp = sdsinf__mallocarray(n, sizeof *stamp);
    if (!a || !sc || !ip || !stamp) {
        sdsinf__free(a);
        sdsinf__free(sc);
        sdsinf__free(ip);
        sdsinf__free(stamp);
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for relabelling");
    }
    int *match = ip, *pcol = ip + n + 1, *way = ip + 2 * (n + 1);
    for (int32_t s = 1; s < g->nstages; s++) {
        /* a[x][q]: minus the weight of nets from part q of stage s-1 that
         * reach part x of stage s */
        memset(a, 0, n * n * sizeof *a);
        memset(stamp, 0xFF, n * sizeof *stamp);
        for (int32_t e = g->xsrc[s - 1]; e < g->xsrc[s]; e++) {
            int q = p->part[g->pin[g->xpin[e]]];
            for (int64_t i = g->xpin[e] + 1; i < g->xpin[e + 1]; i++) {
                int x = p->part[g->pin[i]];
                if (stamp[x] != e) {
                    stamp[x] = e;
                    a[(size_t)x * n + q] -= g->nw[e];
                }
            }
        }
        assign_min(a, W, match, sc, pcol, way);
        for (int32_t v = g->xstage[s]; v < g->xstage[s + 1]; v++)
            p->part[v] = (uint16_t)match[p->part[v]];
    }
    plan_rebuild(p);
    sdsinf__free(a);
    sdsinf__free(sc);
    sdsinf__free(ip);
    sdsinf__free(stamp);
    return SDSINF_OK;
}

/* ---- Annealing ---------------------------------------------------------- */

/* The vertices of each stage grouped by part, for drawing a random member
 * of a part: stage s, part q is ord[seg[s(W+1)+q] .. seg[s(W+1)+q+1]). */
typedef struct members {
    int32_t *ord, *pos, *seg;
} members;

static void members_free(members *m)
{
    sdsinf__free(m->ord);
    sdsinf__free(m->pos);
    sdsinf__free(m->seg);
    memset(m, 0, sizeof *m);
}

static int members_init(members *m, const plan *p, sdsinf_err *err)
{
    const hgraph *g = p->g;
    size_t W1 = (size_t)p->W + 1;
    m->ord = sdsinf__mallocarray((size_t)g->nv + 1, sizeof *m->ord);
    m->pos = sdsinf__mallocarray((size_t)g->nv + 1, sizeof *m->pos);
    m->seg = sdsinf__calloc((size_t)g->nstages * W1, sizeof *m->seg);
    if (!m->ord || !m->pos || !m->seg) {
        members_free(m);
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for annealing");
    }
    for (int32_t s = 0; s < g->nstages; s++) {
        int32_t *sg = m->seg + (size_t)s * W1;
        for (int32_t v = g->xstage[s]; v < g->xstage[s + 1]; v++)
            sg[p->part[v] + 1]++;
        sg[0] = g->xstage[s];
        for (int q = 0; q < p->W; q++)
            sg[q + 1] += sg[q];
        for (int32_t v = g->xstage[s]; v < g->xstage[s + 1]; v++) {
            m->pos[v] = sg[p->part[v]]++;
            m->ord[m->pos[v]] = v;
        }
        for (int q = p->W; q > 0; q--) /* back to starts */
            sg[q] = sg[q - 1];
        sg[0] = g->xstage[s];
    }
    return SDSINF_OK;
}

static void members_swap_at(members *m, int32_t i, int32_t j)
{
    int32_t x = m->ord[i], y = m->ord[j];
    m->ord[i] = y;
    m->ord[j] = x;
    m->pos[y] = i;
    m->pos[x] = j;
}

/* v (of stage s) went from part a to part b: shift it across the segment
 * boundaries between. */
static void members_move(members *m, int W, int32_t s, int32_t v, int a,
                         int b)
{
    int32_t *sg = m->seg + (size_t)s * ((size_t)W + 1);
    for (int q = a; q < b; q++) { /* to the end of q, then into q+1 */
        members_swap_at(m, m->pos[v], sg[q + 1] - 1);
        sg[q + 1]--;
    }
    for (int q = a; q > b; q--) { /* to the start of q, then into q-1 */
        members_swap_at(m, m->pos[v], sg[q]);
        sg[q]++;
    }
}

static int32_t members_pick(const members *m, int W, int32_t s, int b,
                            rng *r)
{
    const int32_t *sg = m->seg + (size_t)s * ((size_t)W + 1);
    int32_t n = sg[b + 1] - sg[b];
    return n > 0 ? m->ord[sg[b] + (int32_t)rng_below(r, (uint32_t)n)] : -1;
}

/* The partner for v (just moved from a to b) in a swap: the best of a few
 * random members of b by their gain going to a; -1 if none fits. */
static int32_t anneal_partner(plan *p, const members *m, int32_t v, int a,
                              int b, rng *r)
{
    const hgraph *g = p->g;
    int32_t s = g->stage[v], u = -1;
    int64_t *ld = stage_load(p, s), cap = p->cap[s], gu = 0;
    for (int k = 0; k < ANNEAL_TRIES; k++) {
        int32_t x = members_pick(m, p->W, s, b, r);
        if (x < 0 || x == v || ld[a] + g->vw[x] > cap ||
            ld[b] - g->vw[x] > cap)
            continue;
        int64_t gx = move_gain(p, x, a);
        if (u < 0 || gx > gu) {
            u = x;
            gu = gx;
        }
    }
    return u;
}

/* Simulated annealing over single moves and swaps, each within the stage
 * bounds; a vertex is offered a part one of its nets already spans, a swap
 * partner is the best of ANNEAL_TRIES drawn from that part.  Tells o's
 * progress every 2^16 moves. */
static int anneal(plan *p, int64_t iters, double t0, double t1, rng *r,
                  const sdsinf__partition_opts *o, sdsinf_err *err)
{
    const hgraph *g = p->g;
    int W = p->W;
    members m;
    int rc = members_init(&m, p, err);
    if (rc != SDSINF_OK)
        return rc;
    double t = t0, cool = pow(t1 / t0, 1.0 / (double)(iters + 1));
    for (int64_t it = 0; it < iters; it++, t *= cool) {
        if (!(it & 0xFFFF))
            tell(o, STEP_ANNEAL, it, iters);
        int32_t v = (int32_t)rng_below(r, (uint32_t)g->nv), s = g->stage[v];
        int64_t deg = g->xnet[v + 1] - g->xnet[v];
        if (deg == 0)
            continue;
        int a = p->part[v];
        int32_t e = g->net[g->xnet[v] + (int64_t)rng_below(r, (uint32_t)deg)];
        int64_t np = g->xpin[e + 1] - g->xpin[e];
        int b = p->part[g->pin[g->xpin[e] + (int64_t)rng_below(r, (uint32_t)np)]];
        if (b == a) {
            b = (int)rng_below(r, (uint32_t)W - 1);
            b += b >= a;
        }
        int fits = stage_load(p, s)[b] + g->vw[v] <= p->cap[s];
        int64_t d = sdsinf__hplan_move(p, v, b);
        int32_t u = fits ? -1 : anneal_partner(p, &m, v, a, b, r);
        if (!fits && u < 0) {
            sdsinf__hplan_move(p, v, a);
            continue;
        }
        if (u >= 0)
            d += sdsinf__hplan_move(p, u, a);
        if (d <= 0 || rng_unit(r) < exp(-(double)d / t)) {
            if (u >= 0)
                members_swap_at(&m, m.pos[v], m.pos[u]);
            else
                members_move(&m, W, s, v, a, b);
            continue;
        }
        if (u >= 0)
            sdsinf__hplan_move(p, u, b);
        sdsinf__hplan_move(p, v, a);
    }
    members_free(&m);
    return SDSINF_OK;
}

/* Stages [s, hi) re-partitioned by Zoltan with both neighbours fixed,
 * rebalanced and refined; kept only if the cut does not grow. */
static void zoltan_improve(sdsinf__zoltan *zs, plan *p, int32_t s, int32_t hi,
                           rng *r, int32_t *perm, unsigned seed)
{
    const hgraph *g = p->g;
    int32_t v0 = g->xstage[s], n = g->xstage[hi] - v0;
    int64_t before = p->cut;
    uint16_t *saved = sdsinf__mallocarray((size_t)n + 1, sizeof *saved);
    if (!saved) /* no memory: the stages stay as they are */
        return;
    memcpy(saved, p->part + v0, (size_t)n * sizeof *saved);
    if (!sdsinf__zoltan_stage(zs, p, s, hi, hi, seed)) {
        sdsinf__free(saved);
        return;
    }
    for (int32_t t = s; t < hi; t++)
        rebalance_stage(p, t);
    refine(p, s, hi, r, perm, 2);
    int undo = p->cut > before; /* then every vertex goes back */
    for (int32_t i = 0; undo && i < n; i++)
        if (p->part[v0 + i] != saved[i])
            sdsinf__hplan_move(p, v0 + i, saved[i]);
    sdsinf__free(saved);
}

/* ---- Initial plans ------------------------------------------------------ */

/* Places every vertex of stage s at its cheapest part with room, the
 * heaviest first (random order among equals); a vertex that fits nowhere
 * goes where it costs least. */
static void greedy_stage(plan *p, int32_t s, rng *r, int32_t *perm)
{
    hashed *ord = p->ord;
    const hgraph *g = p->g;
    int W = p->W;
    int32_t v0 = g->xstage[s], n = g->xstage[s + 1] - v0;
    int64_t *ld = stage_load(p, s), cap = p->cap[s];
    for (int32_t i = 0; i < n; i++)
        perm[i] = v0 + i;
    shuffle(perm, n, r);
    for (int32_t i = 0; i < n; i++) {
        ord[i].h = (uint64_t)(INT64_MAX - g->vw[perm[i]]);
        ord[i].v = i;
    }
    qsort(ord, (size_t)n, sizeof *ord, cmp_hashed);
    for (int32_t i = 0; i < n; i++) {
        int32_t v = perm[ord[i].v];
        plan_gains(p, v);
        int best = -1, bfit = 0;
        for (int q = 0; q < W; q++) {
            int fit = ld[q] + g->vw[v] <= cap;
            if (best < 0 || fit > bfit ||
                (fit == bfit && (p->gain[q] > p->gain[best] ||
                                 (p->gain[q] == p->gain[best] &&
                                  ld[q] < ld[best])))) {
                best = q;
                bfit = fit;
            }
        }
        sdsinf__hplan_move(p, v, best);
    }
}

static void random_stage(plan *p, int32_t s, rng *r, int32_t *perm)
{
    const hgraph *g = p->g;
    int32_t v0 = g->xstage[s], n = g->xstage[s + 1] - v0;
    for (int32_t i = 0; i < n; i++)
        perm[i] = v0 + i;
    shuffle(perm, n, r);
    for (int32_t i = 0; i < n; i++)
        sdsinf__hplan_move(p, perm[i], (int)(i % p->W));
    rebalance_stage(p, s);
}

/* The most stages a Zoltan call partitions. */
static int zoltan_stages(const sdsinf__partition_opts *o)
{
    int w = o->window > 0 ? o->window : 1, k = o->span > 0 ? o->span : 1;
    return w > k ? w : k;
}

/* Stage by stage from 1 to L (stage 0 last, it only feeds layer 1): each
 * by Zoltan over a window of stages where zs has Zoltan, else greedily (or
 * at random); rebalanced to the stage's bound. */
static void initial_plan(plan *p, const sdsinf__partition_opts *o,
                         sdsinf__zoltan *zs, rng *r, int32_t *perm,
                         sdsinf__partition_report *rep)
{
    const hgraph *g = p->g;
    int window = o->window > 0 ? o->window : 1;
    for (int32_t s = 1; s < g->nstages; s++) {
        tell(o, STEP_INITIAL, s - 1, g->nstages);
        if (zs) {
            int32_t hi = s + window < g->nstages ? s + window : g->nstages;
            unsigned seed = (unsigned)(o->seed * 2654435761u + (uint64_t)s);
            rep->zoltan_calls++;
            if (!sdsinf__zoltan_stage(zs, p, s, hi, s + 1, seed)) {
                rep->zoltan_failures++;
                greedy_stage(p, s, r, perm);
            }
            rebalance_stage(p, s);
        } else if (o->initial == SDSINF__PART_INIT_RANDOM) {
            random_stage(p, s, r, perm);
        } else {
            greedy_stage(p, s, r, perm);
            rebalance_stage(p, s);
        }
    }
    if (o->initial == SDSINF__PART_INIT_RANDOM)
        random_stage(p, 0, r, perm);
    else
        greedy_stage(p, 0, r, perm);
    rebalance_stage(p, 0);
    tell(o, STEP_INITIAL, g->nstages, g->nstages);
}

/* Sweeps of zoltan_improve over the stages, each followed by relabel;
 * until a sweep gains nothing. */
static int zoltan_sweeps(sdsinf__zoltan *zs, plan *p,
                         const sdsinf__partition_opts *o, rng *r,
                         int32_t *perm, sdsinf__partition_report *rep,
                         sdsinf_err *err)
{
    const hgraph *g = p->g;
    int sweeps = o->sweeps < 0 ? DEFAULT_SWEEPS : o->sweeps;
    int span = o->span > 0 ? o->span : 1;
    int64_t visits = (int64_t)sweeps * g->nstages;
    for (int k = 0; zs && k < sweeps; k++) {
        int64_t before = p->cut;
        for (int32_t s = 0; s < g->nstages; s++) {
            tell(o, STEP_SWEEPS, (int64_t)k * g->nstages + s, visits);
            unsigned seed = (unsigned)(o->seed * 2246822519u +
                                       (uint64_t)(k + 1) * 3266489917u +
                                       (uint64_t)s);
            int32_t hi = s + span < g->nstages ? s + span : g->nstages;
            rep->zoltan_calls++;
            zoltan_improve(zs, p, s, hi, r, perm, seed);
        }
        int rc = relabel(p, err);
        if (rc != SDSINF_OK)
            return rc;
        if ((double)(before - p->cut) < SWEEP_MIN_GAIN * (double)before)
            break;
    }
    if (zs)
        tell(o, STEP_SWEEPS, visits, visits); /* a sweep that gains nothing
                                                 ends them early */
    return SDSINF_OK;
}

/* ---- Statistics --------------------------------------------------------- */

int sdsinf__partition_stats(const sdsinf_model *m, int workers,
                            const uint16_t *owner, int64_t *pairs_per_layer,
                            double *imbalance, sdsinf_err *err)
{
    int rc = check_model(m, err);
    if (rc != SDSINF_OK)
        return rc;
    if (workers < 1 || workers > MAX_WORKERS || !owner)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "bad plan: %d workers, owner %p", workers,
                            (const void *)owner);
    int32_t N = m->neurons, L = m->layers;
    for (int64_t i = 0; i < (int64_t)N * (L + 1); i++)
        if (owner[i] >= workers)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "stage %lld neuron %lld has worker %d of %d",
                                (long long)(i / N), (long long)(i % N),
                                (int)owner[i], workers);
    int32_t *stamp = sdsinf__mallocarray((size_t)workers, sizeof *stamp);
    int64_t *load = sdsinf__mallocarray((size_t)workers, sizeof *load);
    if (!stamp || !load) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for plan statistics");
        goto done;
    }
    double worst = 0;
    for (int32_t l = 1; l <= L; l++) {
        const sdsinf_csr *w = &m->layer[l - 1].w;
        const uint16_t *in = owner + (size_t)(l - 1) * N, *out = in + N;
        int64_t pairs = 0, total = 0;
        memset(stamp, 0xFF, (size_t)workers * sizeof *stamp);
        memset(load, 0, (size_t)workers * sizeof *load);
        for (int32_t k = 0; k < N; k++) {
            stamp[in[k]] = k;
            for (int64_t i = w->rowptr[k]; i < w->rowptr[k + 1]; i++) {
                int q = out[w->col[i]];
                load[q]++;
                if (stamp[q] != k) {
                    stamp[q] = k;
                    pairs++;
                }
            }
        }
        for (int q = 0; q < workers; q++)
            total += load[q];
        for (int q = 0; total > 0 && q < workers; q++) {
            double x = (double)load[q] * workers / (double)total - 1;
            worst = x > worst ? x : worst;
        }
        if (pairs_per_layer)
            pairs_per_layer[l - 1] = pairs;
    }
    if (imbalance)
        *imbalance = worst;
done:
    sdsinf__free(stamp);
    sdsinf__free(load);
    return rc;
}

/* ---- Entry -------------------------------------------------------------- */

void sdsinf__partition_opts_init(sdsinf__partition_opts *o)
{
    memset(o, 0, sizeof *o);
    o->workers = 1;
    o->imbalance = -1;
    o->initial = SDSINF__PART_INIT_ZOLTAN;
    o->window = 1;
    o->sweeps = -1;
    o->effort = -1;
}

static int check_opts(const sdsinf__partition_opts *o, sdsinf_err *err)
{
    if (!o || o->workers < 1 || o->workers > MAX_WORKERS)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "workers must be 1..%d, not %d", MAX_WORKERS,
                            o ? o->workers : 0);
    if (isnan(o->imbalance) || isnan(o->effort) || o->imbalance > 100 ||
        o->effort > 1000 || o->sweeps > 1000 || o->window > 1000 ||
        o->span > 1000)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "bad options: imbalance %g, effort %g, sweeps %d, "
                            "window %d, span %d",
                            o->imbalance, o->effort, o->sweeps, o->window,
                            o->span);
    if (o->initial < SDSINF__PART_INIT_ZOLTAN ||
        o->initial > SDSINF__PART_INIT_RANDOM)
        return sdsinf__fail(err, SDSINF_EINVAL, "unknown initial method %d",
                            o->initial);
    return SDSINF_OK;
}

/* Steps 4 and 5 of the header comment: the clusters' plan annealed, then
 * projected onto the neurons and refined there. */
static int refine_levels(plan *pc, plan *pf, const int32_t *cl,
                         const sdsinf__partition_opts *o, rng *r,
                         int32_t *perm, sdsinf__partition_report *rep,
                         sdsinf_err *err)
{
    const hgraph *c = pc->g, *f = pf->g;
    double effort = o->effort < 0 ? 1 : o->effort;
    double t = sdsinf__now();
    if (effort > 0 && pc->W > 1) { /* kept only if it helped */
        int64_t before = pc->cut;
        uint16_t *keep = sdsinf__mallocarray((size_t)c->nv, sizeof *keep);
        if (!keep)
            return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a plan");
        memcpy(keep, pc->part, (size_t)c->nv * sizeof *keep);
        int hot = rep->zoltan_calls == 0;
        double iters = (double)ANNEAL_PER_VERTEX * c->nv;
        iters = effort * (hot ? 2 : 1) * (iters < ANNEAL_MAX ? iters : ANNEAL_MAX);
        int rc = anneal(pc, (int64_t)iters, hot ? ANNEAL_HOT_T0 : ANNEAL_T0,
                        hot ? ANNEAL_HOT_T1 : ANNEAL_T1, r, o, err);
        if (rc == SDSINF_OK)
            refine(pc, 0, c->nstages, r, perm, REFINE_PASSES);
        if (rc == SDSINF_OK && pc->cut > before) {
            memcpy(pc->part, keep, (size_t)c->nv * sizeof *keep);
            plan_rebuild(pc);
        }
        sdsinf__free(keep);
        if (rc != SDSINF_OK)
            return rc;
    }
    rep->cut_clusters = pc->cut;
    rep->t_clusters = sdsinf__now() - t;
    t = sdsinf__now();
    tell(o, STEP_FINE, 0, 0);
    for (int32_t v = 0; v < f->nv; v++)
        sdsinf__hplan_move(pf, v, pc->part[cl[v]]);
    for (int32_t s = 0; s < f->nstages; s++)
        rebalance_stage(pf, s);
    refine(pf, 0, f->nstages, r, perm, FINE_PASSES);
    rep->cut_final = pf->cut;
    rep->t_final = sdsinf__now() - t;
    return SDSINF_OK;
}

int sdsinf__partition_run(const sdsinf_model *m,
                          const sdsinf__partition_opts *o, uint16_t **owner,
                          sdsinf__partition_report *report, sdsinf_err *err)
{
    int rc = check_model(m, err);
    if (rc == SDSINF_OK)
        rc = check_opts(o, err);
    if (rc != SDSINF_OK)
        return rc;
    if (!owner)
        return sdsinf__fail(err, SDSINF_EINVAL, "no place for the plan");
    int W = o->workers;
    double tol = o->imbalance < 0 ? DEFAULT_IMBALANCE : o->imbalance;
    if (W == 1) { /* nothing to decide */
        size_t n = (size_t)m->neurons * ((size_t)m->layers + 1);
        *owner = sdsinf__calloc(n, sizeof **owner);
        if (report)
            memset(report, 0, sizeof *report);
        return *owner ? SDSINF_OK
                      : sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a plan");
    }
    sdsinf__partition_report rep;
    hgraph f, c;
    plan pc, pf;
    sdsinf__zoltan *zs = NULL;
    int32_t *cl = NULL, *perm = NULL, ncl = 0;
    int64_t *cap = NULL, *fc = NULL;
    rng r = {o->seed ^ 0x5D5157A11CE5EEDull};
    memset(&rep, 0, sizeof rep);
    memset(&f, 0, sizeof f);
    memset(&c, 0, sizeof c);
    memset(&pc, 0, sizeof pc);
    memset(&pf, 0, sizeof pf);
    double t = sdsinf__now();
    tell(o, STEP_BUILD, 0, 0);
    rc = hg_build(m, o->input_weight, &f, err);
    if (rc != SDSINF_OK)
        goto done;
    cl = sdsinf__mallocarray((size_t)f.nv, sizeof *cl);
    perm = sdsinf__mallocarray((size_t)f.nv, sizeof *perm);
    cap = sdsinf__mallocarray((size_t)f.nstages, sizeof *cap);
    fc = sdsinf__mallocarray((size_t)f.nstages, sizeof *fc);
    if (!cl || !perm || !cap || !fc) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a plan");
        goto done;
    }
    stage_caps(&f, W, tol, cap);
    if ((rc = make_clusters(&f, W, cap, cl, &ncl, fc, err)) != SDSINF_OK ||
        (rc = contract(&f, cl, ncl, &c, err)) != SDSINF_OK ||
        (rc = plan_init(&pc, &c, W, fc, err)) != SDSINF_OK ||
        (rc = plan_init(&pf, &f, W, cap, err)) != SDSINF_OK)
        goto done;
    rep.clusters = c.nv;
    rep.t_build = sdsinf__now() - t;
    t = sdsinf__now();
    if (o->initial == SDSINF__PART_INIT_ZOLTAN &&
        (rc = sdsinf__zoltan_open(&zs, &pc, zoltan_stages(o), err)))
        goto done;
    initial_plan(&pc, o, zs, &r, perm, &rep);
    rep.cut_initial = pc.cut;
    rep.t_initial = sdsinf__now() - t;
    t = sdsinf__now();
    refine(&pc, 0, c.nstages, &r, perm, REFINE_PASSES);
    if ((rc = relabel(&pc, err)) != SDSINF_OK)
        goto done;
    rc = zoltan_sweeps(zs, &pc, o, &r, perm, &rep, err);
    sdsinf__zoltan_close(zs); /* Zoltan's lock released before annealing */
    zs = NULL;
    if (rc != SDSINF_OK)
        goto done;
    rep.cut_sweeps = pc.cut;
    rep.t_sweeps = sdsinf__now() - t;
    rc = refine_levels(&pc, &pf, cl, o, &r, perm, &rep, err);
    if (rc != SDSINF_OK)
        goto done;
    *owner = pf.part; /* stage-major: vertex s * N + i */
    pf.part = NULL;
    if (report)
        *report = rep;
done:
    sdsinf__zoltan_close(zs);
    plan_free(&pc);
    plan_free(&pf);
    hg_free(&f);
    hg_free(&c);
    sdsinf__free(cl);
    sdsinf__free(perm);
    sdsinf__free(cap);
    sdsinf__free(fc);
    return rc;
}
