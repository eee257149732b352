/* infer.c - single-process inference: batches of images through every
 * layer, then the per-sample argmax and max.
 *
 * A batch's live samples sit in blocks of LANES rows, in sample order.  A
 * block is sparse (its rows as CSR) or dense (a K x LANES panel), and keeps
 * its form from layer to layer, so a dense block never goes through CSR
 * between layers; it changes form when its density crosses a threshold
 * (with hysteresis).  Rows that die (become empty) stay dead, so when
 * enough have died the live rows are regrouped into full blocks.  Blocks
 * are independent: threads take them in turn, layer by layer. */
#include "core/pool.h"
#include "kernel/kernel.h"

#include <stdatomic.h>
#include <string.h>

#define LANES SDSINF__LANES
#define DENSE_DIV SDSINF__DENSE_DIV

typedef struct ablock {
    int n;                /* rows in use */
    int64_t row[LANES];   /* batch-local sample ids, ascending */
    int64_t count[LANES]; /* entries per row */
    float *panel;         /* N x LANES when dense, else NULL */
    sdsinf_csr csr;       /* the n rows when sparse */
} ablock;

typedef struct tscratch {
    float *acc;     /* N: sparse accumulator */
    uint64_t *bits; /* N bits, kept zero */
    float *tile;    /* N x LANES: dense output, swapped with a block's panel */
    uint32_t *oc;   /* LANES x N: rows on their way into a block */
    float *ov;
    float **spare;  /* panels no block uses, for reuse (no page faults) */
    int64_t nspare, capspare;
} tscratch;

typedef struct engine {
    const sdsinf__kernel *kern;
    const sdsinf_model *m;
    int64_t N;
    const sdsinf_layer *layer; /* the current layer */
    int with_mask;
    ablock *blocks;
    int64_t nblocks;
    const sdsinf_csr *src; /* block building: rows to take, and which */
    const int64_t *src_id;
    int64_t src_rows;
    tscratch *ts;
    int threads;
    atomic_int failed;
} engine;

void sdsinf_infer_opts_init(sdsinf_infer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->version = SDSINF_INFER_OPTS_VERSION;
}

/* A panel from the thread's spares, or a new one. */
static float *panel_get(engine *e, int thread)
{
    tscratch *s = &e->ts[thread];
    if (s->nspare > 0)
        return s->spare[--s->nspare];
    return sdsinf__mallocarray((size_t)e->N * LANES, sizeof(float));
}

/* Keeps a panel for reuse (frees it when the list cannot grow). */
static void panel_put(engine *e, int thread, float *p)
{
    tscratch *s = &e->ts[thread];
    if (!p)
        return;
    if (s->nspare == s->capspare) {
        int64_t cap = s->capspare ? 2 * s->capspare : 64;
        float **v = sdsinf__realloc(s->spare, (size_t)cap * sizeof *v);
        if (!v) {
            sdsinf__free(p);
            return;
        }
        s->spare = v;
        s->capspare = cap;
    }
    s->spare[s->nspare++] = p;
}

static void block_clear(engine *e, ablock *b)
{
    panel_put(e, 0, b->panel);
    b->panel = NULL;
    sdsinf_csr_free(&b->csr);
    b->n = 0;
}

static void blocks_free(engine *e)
{
    for (int64_t i = 0; i < e->nblocks; i++)
        block_clear(e, &e->blocks[i]);
    sdsinf__free(e->blocks);
    e->blocks = NULL;
    e->nblocks = 0;
}

/* Makes b sparse from n rows written at oc/ov + j * stride (count[j]). */
static int block_set_rows(ablock *b, const uint32_t *oc, const float *ov,
                          int64_t stride, int64_t N)
{
    int64_t total = 0;
    for (int j = 0; j < b->n; j++)
        total += b->count[j];
    if (sdsinf__csr_reshape(&b->csr, b->n, N, total, NULL) != SDSINF_OK)
        return 0;
    for (int j = 0; j < b->n; j++) {
        int64_t at = b->csr.rowptr[j];
        memcpy(b->csr.col + at, oc + j * stride, (size_t)b->count[j] * 4);
        memcpy(b->csr.val + at, ov + j * stride, (size_t)b->count[j] * 4);
        b->csr.rowptr[j + 1] = at + b->count[j];
    }
    return 1;
}

/* Turns a sparse block dense when it is dense enough. */
static int block_maybe_dense(engine *e, int thread, ablock *b)
{
    int64_t N = e->N, total = sdsinf_csr_nnz(&b->csr), rows[LANES];
    if (b->n < 2 || total * DENSE_DIV < b->n * N)
        return 1;
    if (!(b->panel = panel_get(e, thread)))
        return 0;
    for (int j = 0; j < b->n; j++)
        rows[j] = j;
    sdsinf__fill_panel(b->panel, N, &b->csr, rows, b->n);
    sdsinf_csr_free(&b->csr);
    return 1;
}

/* One layer on one block (a pool task). */
static void block_layer(void *ve, int64_t t, int thread)
{
    engine *e = ve;
    ablock *b = &e->blocks[t];
    tscratch *s = &e->ts[thread];
    int64_t N = e->N, total = 0, cnt[LANES];
    if (atomic_load(&e->failed) || b->n == 0)
        return;
    if (b->panel) {
        e->kern->dense(e->layer, e->m->ymax, e->with_mask, b->panel, LANES,
                       s->tile, LANES,
                       cnt);
        float *t2 = b->panel; /* the output becomes the block's panel */
        b->panel = s->tile;
        s->tile = t2;
        for (int j = 0; j < b->n; j++)
            total += b->count[j] = cnt[j];
        if (total * DENSE_DIV * 4 >= b->n * N)
            return;
        /* gone sparse: back to rows */
        e->kern->compact(b->panel, N, s->oc, s->ov, cnt);
        panel_put(e, thread, b->panel);
        b->panel = NULL;
        if (!block_set_rows(b, s->oc, s->ov, N, N))
            atomic_store(&e->failed, 1);
        return;
    }
    for (int j = 0; j < b->n; j++) {
        int64_t at = b->csr.rowptr[j];
        b->count[j] = e->kern->sparse_row(
            e->layer, e->m->ymax, b->csr.col + at, b->csr.val + at,
            b->csr.rowptr[j + 1] - at, s->acc, s->bits, s->oc + j * N,
            s->ov + j * N);
    }
    if (!block_set_rows(b, s->oc, s->ov, N, N) ||
        !block_maybe_dense(e, thread, b))
        atomic_store(&e->failed, 1);
}

/* Builds block t from rows [t * LANES, ...) of e->src (a pool task). */
static void block_build(void *ve, int64_t t, int thread)
{
    engine *e = ve;
    ablock *b = &e->blocks[t];
    const sdsinf_csr *m = e->src;
    int64_t first = t * LANES;
    b->n = (int)(e->src_rows - first < LANES ? e->src_rows - first : LANES);
    int64_t b0 = m->rowptr[first], b1 = m->rowptr[first + b->n];
    if (sdsinf__csr_reshape(&b->csr, b->n, e->N, b1 - b0, NULL) != SDSINF_OK) {
        atomic_store(&e->failed, 1);
        return;
    }
    for (int j = 0; j < b->n; j++) {
        b->row[j] = e->src_id[first + j];
        b->count[j] = m->rowptr[first + j + 1] - m->rowptr[first + j];
        b->csr.rowptr[j + 1] = m->rowptr[first + j + 1] - b0;
    }
    memcpy(b->csr.col, m->col + b0, (size_t)(b1 - b0) * sizeof *m->col);
    memcpy(b->csr.val, m->val + b0, (size_t)(b1 - b0) * sizeof *m->val);
    if (!block_maybe_dense(e, thread, b))
        atomic_store(&e->failed, 1);
}

/* Replaces the blocks with ones built from the rows of m (ids in id). */
static int blocks_build(engine *e, sdsinf_pool *pool, const sdsinf_csr *m,
                        const int64_t *id)
{
    int64_t n = (m->nrows + LANES - 1) / LANES;
    blocks_free(e);
    if (!(e->blocks = sdsinf__calloc((size_t)n + 1, sizeof *e->blocks)))
        return 0;
    e->nblocks = n;
    e->src = m;
    e->src_id = id;
    e->src_rows = m->nrows;
    sdsinf__pool_run(pool, n, block_build, e);
    return !atomic_load(&e->failed);
}

/* The live rows of every block, in order, as one matrix plus their ids. */
static int blocks_gather(engine *e, sdsinf_csr *all, int64_t **ids)
{
    int64_t rows = 0, nnz = 0, r = 0;
    for (int64_t i = 0; i < e->nblocks; i++)
        for (int j = 0; j < e->blocks[i].n; j++) {
            rows += e->blocks[i].count[j] > 0;
            nnz += e->blocks[i].count[j];
        }
    if (sdsinf_csr_alloc(all, rows, e->N, nnz, NULL) != SDSINF_OK)
        return 0;
    if (!(*ids = sdsinf__mallocarray((size_t)rows + 1, sizeof **ids)))
        return 0;
    for (int64_t i = 0; i < e->nblocks; i++) {
        ablock *b = &e->blocks[i];
        for (int j = 0; j < b->n; j++) {
            if (b->count[j] == 0)
                continue;
            int64_t at = all->rowptr[r];
            if (b->panel) {
                for (int64_t k = 0; k < e->N; k++)
                    if (b->panel[k * LANES + j] > 0) {
                        all->col[at] = (uint32_t)k;
                        all->val[at++] = b->panel[k * LANES + j];
                    }
            } else {
                int64_t s = b->csr.rowptr[j];
                memcpy(all->col + at, b->csr.col + s, (size_t)b->count[j] * 4);
                memcpy(all->val + at, b->csr.val + s, (size_t)b->count[j] * 4);
                at += b->count[j];
            }
            (*ids)[r] = b->row[j];
            all->rowptr[++r] = at;
        }
    }
    return 1;
}

/* Regroups the live rows into full blocks once a quarter of the lanes in
 * use hold dead rows. */
static int blocks_regroup(engine *e, sdsinf_pool *pool)
{
    int64_t live = 0, lanes = 0;
    for (int64_t i = 0; i < e->nblocks; i++)
        for (int j = 0; j < e->blocks[i].n; j++) {
            live += e->blocks[i].count[j] > 0;
            lanes++;
        }
    if (live * 4 > lanes * 3 || live == lanes)
        return 1;
    sdsinf_csr all = {0};
    int64_t *ids = NULL;
    int ok = blocks_gather(e, &all, &ids) && blocks_build(e, pool, &all, ids);
    sdsinf_csr_free(&all);
    sdsinf__free(ids);
    return ok;
}

/* Argmax (lowest id on ties) and max of every row, into r at `first`. */
static void blocks_score(const engine *e, sdsinf_result *r, int64_t first)
{
    for (int64_t i = 0; i < e->nblocks; i++) {
        const ablock *b = &e->blocks[i];
        for (int j = 0; j < b->n; j++) {
            int32_t arg = -1;
            float best = 0;
            if (b->panel) {
                for (int64_t k = 0; k < e->N; k++)
                    if (b->panel[k * LANES + j] > best) {
                        best = b->panel[k * LANES + j];
                        arg = (int32_t)k;
                    }
            } else {
                for (int64_t k = b->csr.rowptr[j]; k < b->csr.rowptr[j + 1]; k++)
                    if (b->csr.val[k] > best) {
                        best = b->csr.val[k];
                        arg = (int32_t)b->csr.col[k];
                    }
            }
            r->argmax[first + b->row[j]] = arg;
            r->max[first + b->row[j]] = best;
        }
    }
}

static void scratch_free(engine *e)
{
    for (int i = 0; e->ts && i < e->threads; i++) {
        sdsinf__free(e->ts[i].acc);
        sdsinf__free(e->ts[i].bits);
        sdsinf__free(e->ts[i].tile);
        sdsinf__free(e->ts[i].oc);
        sdsinf__free(e->ts[i].ov);
        while (e->ts[i].nspare > 0)
            sdsinf__free(e->ts[i].spare[--e->ts[i].nspare]);
        sdsinf__free(e->ts[i].spare);
    }
    sdsinf__free(e->ts);
}

static int scratch_alloc(engine *e)
{
    size_t N = (size_t)e->N;
    if (!(e->ts = sdsinf__calloc((size_t)e->threads, sizeof *e->ts)))
        return 0;
    for (int i = 0; i < e->threads; i++) {
        tscratch *s = &e->ts[i];
        s->acc = sdsinf__mallocarray(N, sizeof *s->acc);
        s->bits = sdsinf__calloc((N + 63) / 64, sizeof *s->bits);
        s->tile = sdsinf__mallocarray(N * LANES, sizeof *s->tile);
        s->oc = sdsinf__mallocarray(N * LANES, sizeof *s->oc);
        s->ov = sdsinf__mallocarray(N * LANES, sizeof *s->ov);
        if (!s->acc || !s->bits || !s->tile || !s->oc || !s->ov)
            return 0;
    }
    return 1;
}

/* The live rows of images [first, first + n), as a matrix plus ids. */
static int batch_rows(const sdsinf_csr *im, int64_t first, int64_t n,
                      sdsinf_csr *out, int64_t **ids)
{
    int64_t live = 0, r = 0;
    for (int64_t i = first; i < first + n; i++)
        live += im->rowptr[i + 1] > im->rowptr[i];
    int64_t b = im->rowptr[first], e = im->rowptr[first + n];
    if (sdsinf_csr_alloc(out, live, im->ncols, e - b, NULL) != SDSINF_OK ||
        !(*ids = sdsinf__mallocarray((size_t)live + 1, sizeof **ids)))
        return 0;
    memcpy(out->col, im->col + b, (size_t)(e - b) * sizeof *im->col);
    memcpy(out->val, im->val + b, (size_t)(e - b) * sizeof *im->val);
    for (int64_t i = first; i < first + n; i++)
        if (im->rowptr[i + 1] > im->rowptr[i]) {
            (*ids)[r] = i - first;
            out->rowptr[++r] = im->rowptr[i + 1] - b;
        }
    return 1;
}

int sdsinf_infer(const sdsinf_model *m, const sdsinf_csr *images,
                 const sdsinf_infer_opts *o, sdsinf_result *out,
                 sdsinf_err *err)
{
    int rc = SDSINF_OK;
    sdsinf_infer_opts def;
    sdsinf_pool *own = NULL, *pool;
    sdsinf_result res = {0};
    engine e = {0};
    if (!o) {
        sdsinf_infer_opts_init(&def);
        o = &def;
    }
    if (o->version < 1)
        return sdsinf__fail(err, SDSINF_EINVAL, "bad inference options");
    if (images->ncols != m->neurons)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "the images have %lld features but the model "
                            "has %d neurons",
                            (long long)images->ncols, m->neurons);
    pool = o->pool;
    if (!pool && (rc = sdsinf_pool_create(o->threads, &own, err)) != SDSINF_OK)
        return rc;
    if (!pool)
        pool = own;
    int64_t M = images->nrows;
    int64_t bs = o->batch_size > 0 && o->batch_size < M ? o->batch_size : M;
    int64_t batches = bs ? (M + bs - 1) / bs : 0;
    e.kern = sdsinf__kernel_get();
    e.m = m;
    e.N = m->neurons;
    e.threads = sdsinf_pool_threads(pool);
    res.images = M;
    res.argmax = sdsinf__mallocarray((size_t)M + 1, sizeof *res.argmax);
    res.max = sdsinf__mallocarray((size_t)M + 1, sizeof *res.max);
    if (!res.argmax || !res.max || !scratch_alloc(&e))
        goto nomem;
    for (int64_t i = 0; i < M; i++) {
        res.argmax[i] = -1;
        res.max[i] = 0;
    }
    for (int64_t b = 0; b < batches; b++) {
        int64_t first = b * bs, n = M - first < bs ? M - first : bs, *ids = NULL;
        sdsinf_csr rows = {0};
        int ok = batch_rows(images, first, n, &rows, &ids) &&
                 blocks_build(&e, pool, &rows, ids);
        sdsinf_csr_free(&rows);
        sdsinf__free(ids);
        if (!ok)
            goto nomem;
        for (int32_t l = 0; l < m->layers; l++) {
            e.layer = &m->layer[l];
            e.with_mask = sdsinf__layer_with_mask(e.layer);
            sdsinf__pool_run(pool, e.nblocks, block_layer, &e);
            if (atomic_load(&e.failed) || !blocks_regroup(&e, pool))
                goto nomem;
            if (o->progress)
                o->progress(o->progress_ud, b, batches, l + 1, m->layers);
        }
        blocks_score(&e, &res, first);
        blocks_free(&e);
    }
    *out = res;
    memset(&res, 0, sizeof res);
    goto done;
nomem:
    rc = sdsinf__fail(err, SDSINF_ENOMEM,
                      "no memory for inference over %lld images x %d "
                      "neurons; a smaller --batch-size needs less",
                      (long long)M, m->neurons);
done:
    blocks_free(&e);
    scratch_free(&e);
    sdsinf_result_free(&res);
    sdsinf_pool_free(own);
    return rc;
}
