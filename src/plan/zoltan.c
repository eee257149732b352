/* plan/zoltan.c - the hypergraph partitioner's Zoltan steps: Zoltan PHG
 * partitions a window of stages with the neighbouring stages fixed (in
 * the MPI plugin, where the build has Zoltan: sdsinf__zoltan_phg).  Zoltan
 * keeps global state: its use is serialised by a mutex held from open to
 * close. */
#include "plan/zoltan.h"

#include <stdio.h>
#include <string.h>

#include <mpi.h>
#include <pthread.h>
#include <zoltan.h>
/* Not in Zoltan's installed headers (zz_rand.h); seeds its generator. */
extern void Zoltan_Srand(unsigned int seed, unsigned int *state);


static pthread_mutex_t zoltan_lock = PTHREAD_MUTEX_INITIALIZER;

/* One window: objects are window vertices (ids 0..nobj-1); the fixed ones
 * weigh nothing. */
typedef struct zprob {
    int32_t nobj;
    float *wgt;
    int32_t nfixed;
    ZOLTAN_ID_TYPE *fixed_gid;
    int *fixed_part;
    int32_t nedge;
    int64_t npins;
    int *xedge;
    ZOLTAN_ID_TYPE *epin;
    float *ewgt;
} zprob;

static int zq_num_obj(void *data, int *ierr)
{
    *ierr = ZOLTAN_OK;
    return ((zprob *)data)->nobj;
}

static void zq_obj_list(void *data, int ngid, int nlid, ZOLTAN_ID_PTR gids,
                        ZOLTAN_ID_PTR lids, int wdim, float *wgts, int *ierr)
{
    zprob *z = data;
    (void)ngid;
    (void)nlid;
    for (int32_t i = 0; i < z->nobj; i++) {
        gids[i] = (ZOLTAN_ID_TYPE)i;
        lids[i] = (ZOLTAN_ID_TYPE)i;
        if (wdim > 0)
            wgts[i] = z->wgt[i];
    }
    *ierr = ZOLTAN_OK;
}

static void zq_hg_size(void *data, int *nlists, int *npins, int *format,
                       int *ierr)
{
    zprob *z = data;
    *nlists = z->nedge;
    *npins = (int)z->npins;
    *format = ZOLTAN_COMPRESSED_EDGE;
    *ierr = ZOLTAN_OK;
}

static void zq_hg_cs(void *data, int ngid, int nedge, int npins, int format,
                     ZOLTAN_ID_PTR egid, int *eptr, ZOLTAN_ID_PTR pgid,
                     int *ierr)
{
    zprob *z = data;
    (void)ngid;
    if (nedge != z->nedge || npins != (int)z->npins ||
        format != ZOLTAN_COMPRESSED_EDGE) {
        *ierr = ZOLTAN_FATAL;
        return;
    }
    for (int32_t e = 0; e < z->nedge; e++) {
        egid[e] = (ZOLTAN_ID_TYPE)e;
        eptr[e] = z->xedge[e];
    }
    memcpy(pgid, z->epin, (size_t)z->npins * sizeof *pgid);
    *ierr = ZOLTAN_OK;
}

static void zq_ew_size(void *data, int *nedge, int *ierr)
{
    *nedge = ((zprob *)data)->nedge;
    *ierr = ZOLTAN_OK;
}

/* Zoltan asks for the edge ids with the weights: both are outputs. */
static void zq_ew(void *data, int ngid, int nlid, int nedge, int wdim,
                  ZOLTAN_ID_PTR egid, ZOLTAN_ID_PTR elid, float *ew, int *ierr)
{
    zprob *z = data;
    if (ngid != 1 || nlid > 1 || nedge != z->nedge) {
        *ierr = ZOLTAN_FATAL;
        return;
    }
    for (int32_t i = 0; i < nedge; i++) {
        egid[i] = (ZOLTAN_ID_TYPE)i;
        if (nlid == 1)
            elid[i] = (ZOLTAN_ID_TYPE)i;
        for (int k = 0; k < wdim; k++)
            ew[i * wdim + k] = k == 0 ? z->ewgt[i] : 1;
    }
    *ierr = ZOLTAN_OK;
}

static int zq_num_fixed(void *data, int *ierr)
{
    *ierr = ZOLTAN_OK;
    return ((zprob *)data)->nfixed;
}

static void zq_fixed(void *data, int nfixed, int ngid, ZOLTAN_ID_PTR gids,
                     int *parts, int *ierr)
{
    zprob *z = data;
    (void)ngid;
    for (int32_t i = 0; i < nfixed && i < z->nfixed; i++) {
        gids[i] = z->fixed_gid[i];
        parts[i] = z->fixed_part[i];
    }
    *ierr = ZOLTAN_OK;
}

static void zprob_free(zprob *z)
{
    sdsinf__free(z->wgt);
    sdsinf__free(z->fixed_gid);
    sdsinf__free(z->fixed_part);
    sdsinf__free(z->xedge);
    sdsinf__free(z->epin);
    sdsinf__free(z->ewgt);
    memset(z, 0, sizeof *z);
}

/* Room for any window of `window` free stages and a fixed one each side. */
static int zprob_alloc(zprob *z, const hgraph *g, int window, sdsinf_err *err)
{
    int32_t maxv = 0, maxe = 0;
    int64_t maxp = 0;
    memset(z, 0, sizeof *z);
    for (int32_t s = 0; s < g->nstages; s++) {
        int32_t lo = s > 0 ? s - 1 : 0;
        int32_t hi = s + window + 1 < g->nstages ? s + window + 1 : g->nstages;
        if (g->xstage[hi] - g->xstage[lo] > maxv)
            maxv = g->xstage[hi] - g->xstage[lo];
        if (g->xsrc[hi] - g->xsrc[lo] > maxe)
            maxe = g->xsrc[hi] - g->xsrc[lo];
        if (g->xpin[g->xsrc[hi]] - g->xpin[g->xsrc[lo]] > maxp)
            maxp = g->xpin[g->xsrc[hi]] - g->xpin[g->xsrc[lo]];
    }
    if (maxv > INT32_MAX / 2 || maxp > INT32_MAX / 2)
        return sdsinf__fail(err, SDSINF_ENOTSUP,
                            "a window of %d stages is too big for Zoltan",
                            window);
    z->wgt = sdsinf__mallocarray((size_t)maxv + 1, sizeof *z->wgt);
    z->fixed_gid = sdsinf__mallocarray((size_t)maxv + 1, sizeof *z->fixed_gid);
    z->fixed_part = sdsinf__mallocarray((size_t)maxv + 1, sizeof *z->fixed_part);
    z->xedge = sdsinf__mallocarray((size_t)maxe + 1, sizeof *z->xedge);
    z->epin = sdsinf__mallocarray((size_t)maxp + 1, sizeof *z->epin);
    z->ewgt = sdsinf__mallocarray((size_t)maxe + 1, sizeof *z->ewgt);
    if (!z->wgt || !z->fixed_gid || !z->fixed_part || !z->xedge ||
        !z->epin || !z->ewgt) {
        zprob_free(z);
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "no memory for Zoltan's windows");
    }
    return SDSINF_OK;
}

static int stage_placed(const plan *p, int32_t s)
{
    const hgraph *g = p->g;
    return s >= 0 && s < g->nstages && g->xstage[s] < g->xstage[s + 1] &&
           p->part[g->xstage[s]] != UNASSIGNED;
}

/* Fills z for free stages [s, hi), with the stages either side fixed where
 * placed; the nets are those with a free pin, cut to the window.  Returns
 * the first vertex of the window (object 0). */
static int32_t zprob_fill(zprob *z, const plan *p, int32_t s, int32_t hi)
{
    const hgraph *g = p->g;
    int32_t lo = stage_placed(p, s - 1) ? s - 1 : s;
    int32_t top = stage_placed(p, hi) ? hi + 1 : hi;
    int32_t base = g->xstage[lo], end = g->xstage[top];
    z->nobj = end - base;
    z->nfixed = 0;
    for (int32_t v = base; v < end; v++) {
        int fixed = v < g->xstage[s] || v >= g->xstage[hi];
        z->wgt[v - base] = fixed ? 0.0f : (float)g->vw[v];
        if (fixed) {
            z->fixed_gid[z->nfixed] = (ZOLTAN_ID_TYPE)(v - base);
            z->fixed_part[z->nfixed++] = p->part[v];
        }
    }
    z->nedge = 0;
    z->npins = 0;
    for (int32_t e = g->xsrc[s > 0 ? s - 1 : 0]; e < g->xsrc[hi]; e++) {
        int64_t start = z->npins;
        for (int64_t i = g->xpin[e]; i < g->xpin[e + 1]; i++)
            if (g->pin[i] >= base && g->pin[i] < end)
                z->epin[z->npins++] = (ZOLTAN_ID_TYPE)(g->pin[i] - base);
        if (z->npins - start < 2) {
            z->npins = start;
            continue;
        }
        z->xedge[z->nedge] = (int)start;
        z->ewgt[z->nedge++] = (float)g->nw[e];
    }
    z->xedge[z->nedge] = (int)z->npins;
    return base;
}

static struct Zoltan_Struct *zoltan_open(int W)
{
    float ver;
    int fin = 0;
    MPI_Finalized(&fin);
    if (fin || Zoltan_Initialize(0, NULL, &ver) != ZOLTAN_OK)
        return NULL;
    struct Zoltan_Struct *zz = Zoltan_Create(MPI_COMM_SELF);
    if (!zz)
        return NULL;
    char buf[32];
    Zoltan_Set_Param(zz, "DEBUG_LEVEL", "0");
    Zoltan_Set_Param(zz, "LB_METHOD", "HYPERGRAPH");
    Zoltan_Set_Param(zz, "HYPERGRAPH_PACKAGE", "PHG");
    Zoltan_Set_Param(zz, "LB_APPROACH", "PARTITION");
    Zoltan_Set_Param(zz, "PHG_CUT_OBJECTIVE", "CONNECTIVITY");
    Zoltan_Set_Param(zz, "PHG_EDGE_SIZE_THRESHOLD", "1.0");
    Zoltan_Set_Param(zz, "NUM_GID_ENTRIES", "1");
    Zoltan_Set_Param(zz, "NUM_LID_ENTRIES", "1");
    Zoltan_Set_Param(zz, "OBJ_WEIGHT_DIM", "1");
    Zoltan_Set_Param(zz, "EDGE_WEIGHT_DIM", "1");
    Zoltan_Set_Param(zz, "RETURN_LISTS", "PARTS");
    Zoltan_Set_Param(zz, "CHECK_HYPERGRAPH", "0");
    snprintf(buf, sizeof buf, "%d", W);
    Zoltan_Set_Param(zz, "NUM_GLOBAL_PARTS", buf);
    return zz;
}

/* A Zoltan handle with its window buffers; Zoltan's global state is held
 * (the lock) from open to close. */
struct sdsinf__zoltan {
    struct Zoltan_Struct *zz;
    zprob z;
    uint16_t *next;  /* a stage's new parts */
    int locked;
};

static void phg_close(sdsinf__zoltan *zs)
{
    if (!zs)
        return;
    if (zs->zz)
        Zoltan_Destroy(&zs->zz);
    if (zs->locked)
        pthread_mutex_unlock(&zoltan_lock);
    zprob_free(&zs->z);
    sdsinf__free(zs->next);
    sdsinf__free(zs);
}

static int phg_open(sdsinf__zoltan **out, const plan *p, int window,
                    sdsinf_err *err)
{
    const hgraph *g = p->g;
    int32_t maxn = 0;
    sdsinf__zoltan *zs = sdsinf__calloc(1, sizeof *zs);
    *out = NULL;
    if (!zs)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for Zoltan");
    for (int32_t s = 0; s < g->nstages; s++) {
        int32_t hi = s + window < g->nstages ? s + window : g->nstages;
        if (g->xstage[hi] - g->xstage[s] > maxn)
            maxn = g->xstage[hi] - g->xstage[s];
    }
    int rc = zprob_alloc(&zs->z, g, window, err);
    if (rc != SDSINF_OK) {
        phg_close(zs);
        return rc;
    }
    zs->next = sdsinf__mallocarray((size_t)maxn + 1, sizeof *zs->next);
    if (!zs->next) {
        phg_close(zs);
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for Zoltan");
    }
    pthread_mutex_lock(&zoltan_lock);
    zs->locked = 1;
    if (!(zs->zz = zoltan_open(p->W))) { /* cannot start: plan without */
        phg_close(zs);
        return SDSINF_OK;
    }
    struct Zoltan_Struct *zz = zs->zz;
    zprob *z = &zs->z;
    Zoltan_Set_Num_Obj_Fn(zz, zq_num_obj, z);
    Zoltan_Set_Obj_List_Fn(zz, zq_obj_list, z);
    Zoltan_Set_HG_Size_CS_Fn(zz, zq_hg_size, z);
    Zoltan_Set_HG_CS_Fn(zz, zq_hg_cs, z);
    Zoltan_Set_HG_Size_Edge_Wts_Fn(zz, zq_ew_size, z);
    Zoltan_Set_HG_Edge_Wts_Fn(zz, zq_ew, z);
    Zoltan_Set_Num_Fixed_Obj_Fn(zz, zq_num_fixed, z);
    Zoltan_Set_Fixed_Obj_List_Fn(zz, zq_fixed, z);
    *out = zs;
    return SDSINF_OK;
}

/* Zoltan partitions free stages [s, hi) (neighbours fixed where placed);
 * stages [s, place_hi) go where it says.  Returns 0 when Zoltan failed
 * (nothing moved). */
static int phg_stage(sdsinf__zoltan *zs, plan *p, int32_t s, int32_t hi,
                     int32_t place_hi, unsigned seed)
{
    const hgraph *g = p->g;
    zprob *z = &zs->z;
    int32_t base = zprob_fill(z, p, s, hi), v0 = g->xstage[s];
    if (z->nedge == 0)
        return 0;
    double tol = 0; /* the loosest stage's, Zoltan has one bound */
    for (int32_t t = s; t < hi; t++) {
        int64_t st = 0;
        for (int32_t v = g->xstage[t]; v < g->xstage[t + 1]; v++)
            st += g->vw[v];
        double x = st > 0 ? (double)p->cap[t] * p->W / (double)st - 1 : 0;
        tol = x > tol ? x : tol;
    }
    char buf[32];
    snprintf(buf, sizeof buf, "%.6f", 1 + tol);
    Zoltan_Set_Param(zs->zz, "IMBALANCE_TOL", buf);
    int changes, ngid, nlid, nimp, nexp;
    ZOLTAN_ID_PTR igid = NULL, ilid = NULL, egid = NULL, elid = NULL;
    int *iproc = NULL, *ipart = NULL, *eproc = NULL, *epart = NULL;
    Zoltan_Srand(seed, NULL);
    int zr = Zoltan_LB_Partition(zs->zz, &changes, &ngid, &nlid, &nimp,
                                 &igid, &ilid, &iproc, &ipart, &nexp, &egid,
                                 &elid, &eproc, &epart);
    int ok = zr == ZOLTAN_OK || zr == ZOLTAN_WARN;
    for (int i = 0; ok && i < nexp; i++)
        if (epart[i] < 0 || epart[i] >= p->W ||
            egid[i] >= (ZOLTAN_ID_TYPE)z->nobj)
            ok = 0;
    if (ok) { /* objects not listed are in part 0 (their input part) */
        int32_t n = g->xstage[place_hi] - v0;
        memset(zs->next, 0, (size_t)n * sizeof *zs->next);
        for (int i = 0; i < nexp; i++) {
            int32_t v = base + (int32_t)egid[i];
            if (v >= v0 && v < v0 + n)
                zs->next[v - v0] = (uint16_t)epart[i];
        }
        for (int32_t i = 0; i < n; i++)
            if (p->part[v0 + i] != zs->next[i])
                sdsinf__hplan_move(p, v0 + i, zs->next[i]);
    }
    Zoltan_LB_Free_Part(&igid, &ilid, &iproc, &ipart);
    Zoltan_LB_Free_Part(&egid, &elid, &eproc, &epart);
    return ok;
}


const sdsinf__zoltan_methods sdsinf__zoltan_phg = {phg_open, phg_close,
                                                   phg_stage};
