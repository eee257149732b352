/* kernel.c - the fused layer: Y_next = min(ymax, ReLU(Y * W + b)).
 *
 * Rows of Y (samples) that have any entry are cut into blocks of LANES
 * consecutive live rows; threads take blocks in turn.  A block runs one of
 * two paths that give bit-identical results (same products, same order of
 * additions, no fused multiply-add):
 *   - sparse: per row, Gustavson's method over the rows of W with a dense
 *     accumulator and a bitmap of touched outputs;
 *   - dense: the block is spread into a K x LANES panel, and every output
 *     neuron sums its inputs' panel rows (W transposed), LANES samples per
 *     vector operation.  Chosen when the block is dense enough.
 * Each block's output is a contiguous range of the result, so the blocks are
 * copied into place in parallel once every block is done. */
#include "internal.h"

#include <stdatomic.h>
#include <string.h>

#ifndef LANES
#define LANES 16 /* samples per dense block: a multiple of 8, <= 16 */
#endif
/* dense path when a block holds at least 1/DENSE_DIV of its K x rows */
#define DENSE_DIV 24

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
#define SDSINF_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SDSINF_CLONES
#endif

typedef struct arena {
    uint32_t *col;
    float *val;
    int64_t len, cap;
} arena;

typedef struct scratch {
    arena out;
    float *acc;       /* C: sparse accumulator */
    uint64_t *bits;   /* C bits: touched outputs */
    float *panel;     /* K x LANES: the dense block */
    uint16_t *mask;   /* K: lanes holding an entry, when needed */
    float *tile;      /* LANES x C: dense path output, lane-major */
} scratch;

typedef struct block {
    int64_t first, n; /* range in the live-row list */
    int thread;
    int64_t off, count; /* its output in the thread's arena */
} block;

typedef struct ctx {
    const sdsinf_layer *layer;
    const sdsinf_csr *y;
    float ymax;
    int with_mask; /* bias can be positive: track structure */
    int64_t K, C;
    const int64_t *live;
    block *blocks;
    int64_t *rowcount;
    scratch *scr;
    sdsinf_csr *out;
    atomic_int failed;
} ctx;

static float bias_of(const sdsinf_layer *l, int64_t c)
{
    return l->bias_vec ? l->bias_vec[c] : l->bias;
}

static float activate(float v, float ymax)
{
    if (!(v > 0))
        return 0;
    return v < ymax ? v : ymax;
}

static int arena_reserve(arena *a, int64_t extra)
{
    if (a->len + extra <= a->cap)
        return 1;
    int64_t cap = a->cap ? a->cap : 4096;
    while (cap < a->len + extra)
        cap *= 2;
    uint32_t *col = sdsinf__realloc(a->col, (size_t)cap * sizeof *col);
    if (!col)
        return 0;
    a->col = col;
    float *val = sdsinf__realloc(a->val, (size_t)cap * sizeof *val);
    if (!val)
        return 0;
    a->val = val;
    a->cap = cap;
    return 1;
}

/* Gustavson's method on one row; appends its entries to the arena. */
static int sparse_row(ctx *x, scratch *s, int64_t r, int64_t *count)
{
    const sdsinf_csr *y = x->y, *w = &x->layer->w;
    float *acc = s->acc;
    uint64_t *bits = s->bits;
    int64_t lo = INT64_MAX, hi = -1;
    for (int64_t i = y->rowptr[r]; i < y->rowptr[r + 1]; i++) {
        uint32_t k = y->col[i];
        float yv = y->val[i];
        for (int64_t e = w->rowptr[k]; e < w->rowptr[k + 1]; e++) {
            uint32_t c = w->col[e];
            uint64_t bit = (uint64_t)1 << (c & 63);
            float prod = yv * w->val[e];
            if (bits[c >> 6] & bit) {
                acc[c] += prod;
            } else {
                bits[c >> 6] |= bit;
                acc[c] = prod;
                if ((int64_t)(c >> 6) < lo)
                    lo = c >> 6;
                if ((int64_t)(c >> 6) > hi)
                    hi = c >> 6;
            }
        }
    }
    int64_t n = 0;
    if (hi >= 0 && !arena_reserve(&s->out, (hi - lo + 1) * 64))
        return 0;
    for (int64_t wd = lo; wd <= hi; wd++) {
        uint64_t b = bits[wd];
        bits[wd] = 0;
        while (b) {
            uint32_t c = (uint32_t)(wd * 64 + __builtin_ctzll(b));
            b &= b - 1;
            float v = activate(acc[c] + bias_of(x->layer, c), x->ymax);
            if (v > 0) {
                s->out.col[s->out.len + n] = c;
                s->out.val[s->out.len + n] = v;
                n++;
            }
        }
    }
    s->out.len += n;
    *count = n;
    return 1;
}

/* LANES floats as two 8-wide vectors (GCC/Clang vector extension; plain
 * loops elsewhere).  Products and sums are separate operations either way,
 * so every path rounds the same. */
#if defined(__GNUC__)
typedef float vec8 __attribute__((vector_size(32)));
typedef struct lanes {
    vec8 v[LANES / 8];
} lanes;
static inline void lanes_axpy(lanes *a, float w, const float *p)
{
    for (int k = 0; k < LANES / 8; k++) {
        vec8 x;
        memcpy(&x, p + 8 * k, sizeof x);
        a->v[k] += w * x;
    }
}
static inline void lanes_get(const lanes *a, float *out)
{
    memcpy(out, a->v, sizeof a->v);
}
#else
typedef struct lanes {
    float v[LANES];
} lanes;
static inline void lanes_axpy(lanes *a, float w, const float *p)
{
    for (int j = 0; j < LANES; j++)
        a->v[j] += w * p[j];
}
static inline void lanes_get(const lanes *a, float *out)
{
    memcpy(out, a->v, sizeof a->v);
}
#endif
#define AXPY(acc, w, p) lanes_axpy(&(acc), (w), (p))

/* Activates one output's LANES sums into the lane-major tile
 * (tile[j * C + c]); lanes outside the structure get 0. */
static inline void dense_store(float *tile, int64_t C, int64_t c,
                               const lanes *sum, float b, float ymax,
                               unsigned m, int use_mask)
{
    float acc[LANES];
    lanes_get(sum, acc);
    for (int j = 0; j < LANES; j++) {
        float v = activate(acc[j] + b, ymax);
        if (use_mask && !(m >> j & 1))
            v = 0;
        tile[(size_t)j * C + c] = v;
    }
}

/* For every output c, sums the panel rows of its inputs weighted by column
 * c of W, then activates into the tile.  Four outputs run interleaved so
 * their addition chains overlap; each output still adds in input order. */
SDSINF_CLONES
static void dense_outputs(const sdsinf_csr *wt, const float *panel,
                          const uint16_t *mask, const float *bias_vec,
                          float bias, float ymax, int64_t C, float *tile)
{
    const int64_t *rp = wt->rowptr;
    const uint32_t *col = wt->col;
    const float *val = wt->val;
    int use_mask = mask != NULL;
    int64_t c = 0;
    for (; c + 4 <= C; c += 4) {
        lanes a0, a1, a2, a3;
        memset(&a0, 0, sizeof a0);
        a1 = a2 = a3 = a0;
        unsigned m0 = 0, m1 = 0, m2 = 0, m3 = 0;
        int64_t b0 = rp[c], b1 = rp[c + 1], b2 = rp[c + 2], b3 = rp[c + 3],
                e3 = rp[c + 4];
        int64_t n = b1 - b0;
        if (b2 - b1 < n)
            n = b2 - b1;
        if (b3 - b2 < n)
            n = b3 - b2;
        if (e3 - b3 < n)
            n = e3 - b3;
        for (int64_t i = 0; i < n; i++) {
            AXPY(a0, val[b0 + i], panel + (size_t)col[b0 + i] * LANES);
            AXPY(a1, val[b1 + i], panel + (size_t)col[b1 + i] * LANES);
            AXPY(a2, val[b2 + i], panel + (size_t)col[b2 + i] * LANES);
            AXPY(a3, val[b3 + i], panel + (size_t)col[b3 + i] * LANES);
            if (use_mask)
                m0 |= mask[col[b0 + i]], m1 |= mask[col[b1 + i]],
                m2 |= mask[col[b2 + i]], m3 |= mask[col[b3 + i]];
        }
        /* the rest of each column, still in order */
        for (int64_t i = b0 + n; i < b1; i++) {
            AXPY(a0, val[i], panel + (size_t)col[i] * LANES);
            m0 |= use_mask ? mask[col[i]] : 0;
        }
        for (int64_t i = b1 + n; i < b2; i++) {
            AXPY(a1, val[i], panel + (size_t)col[i] * LANES);
            m1 |= use_mask ? mask[col[i]] : 0;
        }
        for (int64_t i = b2 + n; i < b3; i++) {
            AXPY(a2, val[i], panel + (size_t)col[i] * LANES);
            m2 |= use_mask ? mask[col[i]] : 0;
        }
        for (int64_t i = b3 + n; i < e3; i++) {
            AXPY(a3, val[i], panel + (size_t)col[i] * LANES);
            m3 |= use_mask ? mask[col[i]] : 0;
        }
        /* no inputs: nothing is stored, whatever the bias */
        dense_store(tile, C, c, &a0, bias_vec ? bias_vec[c] : bias, ymax,
                    m0, use_mask || b1 == b0);
        dense_store(tile, C, c + 1, &a1, bias_vec ? bias_vec[c + 1] : bias,
                    ymax, m1, use_mask || b2 == b1);
        dense_store(tile, C, c + 2, &a2, bias_vec ? bias_vec[c + 2] : bias,
                    ymax, m2, use_mask || b3 == b2);
        dense_store(tile, C, c + 3, &a3, bias_vec ? bias_vec[c + 3] : bias,
                    ymax, m3, use_mask || e3 == b3);
    }
    for (; c < C; c++) {
        lanes a0;
        unsigned m0 = 0;
        memset(&a0, 0, sizeof a0);
        for (int64_t i = rp[c]; i < rp[c + 1]; i++) {
            AXPY(a0, val[i], panel + (size_t)col[i] * LANES);
            m0 |= use_mask ? mask[col[i]] : 0;
        }
        dense_store(tile, C, c, &a0, bias_vec ? bias_vec[c] : bias, ymax, m0,
                    use_mask || rp[c + 1] == rp[c]);
    }
}

static int dense_block(ctx *x, scratch *s, const int64_t *rows, int nl)
{
    const sdsinf_csr *y = x->y;
    for (int j = 0; j < nl; j++)
        for (int64_t i = y->rowptr[rows[j]]; i < y->rowptr[rows[j] + 1]; i++) {
            s->panel[(size_t)y->col[i] * LANES + j] = y->val[i];
            if (x->with_mask)
                s->mask[y->col[i]] |= (uint16_t)(1u << j);
        }
    dense_outputs(&x->layer->wt, s->panel, x->with_mask ? s->mask : NULL,
                  x->layer->bias_vec, x->layer->bias, x->ymax, x->C, s->tile);
    for (int j = 0; j < nl; j++) /* leave the panel zeroed for next time */
        for (int64_t i = y->rowptr[rows[j]]; i < y->rowptr[rows[j] + 1]; i++) {
            s->panel[(size_t)y->col[i] * LANES + j] = 0;
            if (x->with_mask)
                s->mask[y->col[i]] = 0;
        }
    if (!arena_reserve(&s->out, nl * x->C))
        return 0;
    for (int j = 0; j < nl; j++) { /* branch-free compaction of each lane */
        const float *t = s->tile + (size_t)j * x->C;
        uint32_t *oc = s->out.col + s->out.len;
        float *ov = s->out.val + s->out.len;
        int64_t n = 0;
        for (int64_t c = 0; c < x->C; c++) {
            oc[n] = (uint32_t)c;
            ov[n] = t[c];
            n += t[c] > 0;
        }
        s->out.len += n;
        x->rowcount[rows[j]] = n;
    }
    return 1;
}

static void run_block(void *vx, int64_t t, int thread)
{
    ctx *x = vx;
    scratch *s = &x->scr[thread];
    block *bk = &x->blocks[t];
    const int64_t *rows = x->live + bk->first;
    int64_t nnz = 0;
    int ok = 1;
    if (atomic_load(&x->failed))
        return;
    bk->thread = thread;
    bk->off = s->out.len;
    for (int64_t j = 0; j < bk->n; j++)
        nnz += x->y->rowptr[rows[j] + 1] - x->y->rowptr[rows[j]];
    if (nnz * DENSE_DIV >= bk->n * x->K && bk->n > 1) {
        ok = dense_block(x, s, rows, (int)bk->n);
    } else {
        for (int64_t j = 0; ok && j < bk->n; j++)
            ok = sparse_row(x, s, rows[j], &x->rowcount[rows[j]]);
    }
    bk->count = s->out.len - bk->off;
    if (!ok)
        atomic_store(&x->failed, 1);
}

static void place_block(void *vx, int64_t t, int thread)
{
    ctx *x = vx;
    (void)thread;
    block *bk = &x->blocks[t];
    arena *a = &x->scr[bk->thread].out;
    int64_t dst = x->out->rowptr[x->live[bk->first]];
    memcpy(x->out->col + dst, a->col + bk->off,
           (size_t)bk->count * sizeof(uint32_t));
    memcpy(x->out->val + dst, a->val + bk->off,
           (size_t)bk->count * sizeof(float));
}

static int scratch_init(scratch *s, int64_t K, int64_t C, int with_mask)
{
    memset(s, 0, sizeof *s);
    s->acc = sdsinf__mallocarray((size_t)C, sizeof *s->acc);
    s->bits = sdsinf__calloc((size_t)(C + 63) / 64, sizeof *s->bits);
    s->panel = sdsinf__calloc((size_t)K * LANES, sizeof *s->panel);
    s->mask = with_mask ? sdsinf__calloc((size_t)K, sizeof *s->mask) : NULL;
    s->tile = sdsinf__mallocarray((size_t)C * LANES, sizeof *s->tile);
    return s->acc && s->bits && s->panel && (s->mask || !with_mask) &&
           s->tile;
}

static void scratch_free(scratch *s)
{
    sdsinf__free(s->out.col);
    sdsinf__free(s->out.val);
    sdsinf__free(s->acc);
    sdsinf__free(s->bits);
    sdsinf__free(s->panel);
    sdsinf__free(s->mask);
    sdsinf__free(s->tile);
}

int sdsinf_layer_forward(sdsinf_pool *pool, const sdsinf_layer *layer,
                         float ymax, const sdsinf_csr *y, sdsinf_csr *out,
                         sdsinf_err *err)
{
    int rc = SDSINF_OK, threads = sdsinf_pool_threads(pool), nscr = 0;
    ctx x = {0};
    int64_t *live = NULL, nlive = 0, nblocks = 0;
    sdsinf_csr res = {0};
    if (y->ncols != layer->w.nrows || layer->wt.nrows != layer->w.ncols)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "activations have %lld columns but the layer has "
                            "%lld inputs",
                            (long long)y->ncols, (long long)layer->w.nrows);
    x.layer = layer;
    x.y = y;
    x.ymax = ymax;
    x.K = layer->w.nrows;
    x.C = layer->w.ncols;
    x.with_mask = layer->bias > 0;
    for (int64_t c = 0; layer->bias_vec && c < x.C && !x.with_mask; c++)
        x.with_mask = layer->bias_vec[c] > 0;

    live = sdsinf__mallocarray((size_t)y->nrows + 1, sizeof *live);
    x.rowcount = sdsinf__calloc((size_t)y->nrows + 1, sizeof *x.rowcount);
    x.scr = sdsinf__calloc((size_t)threads, sizeof *x.scr);
    if (!live || !x.rowcount || !x.scr)
        goto nomem;
    for (int64_t r = 0; r < y->nrows; r++)
        if (y->rowptr[r + 1] > y->rowptr[r])
            live[nlive++] = r;
    nblocks = (nlive + LANES - 1) / LANES;
    x.live = live;
    x.blocks = sdsinf__calloc((size_t)nblocks + 1, sizeof *x.blocks);
    if (!x.blocks)
        goto nomem;
    for (int64_t b = 0; b < nblocks; b++) {
        x.blocks[b].first = b * LANES;
        x.blocks[b].n = nlive - b * LANES < LANES ? nlive - b * LANES : LANES;
    }
    for (; nscr < threads; nscr++)
        if (!scratch_init(&x.scr[nscr], x.K, x.C, x.with_mask)) {
            nscr++;
            goto nomem;
        }
    sdsinf__pool_run(pool, nblocks, run_block, &x);
    if (atomic_load(&x.failed))
        goto nomem;

    int64_t total = 0;
    for (int64_t r = 0; r < y->nrows; r++)
        total += x.rowcount[r];
    if ((rc = sdsinf_csr_alloc(&res, y->nrows, x.C, total, err)) != SDSINF_OK)
        goto done;
    for (int64_t r = 0; r < y->nrows; r++)
        res.rowptr[r + 1] = res.rowptr[r] + x.rowcount[r];
    x.out = &res;
    sdsinf__pool_run(pool, nblocks, place_block, &x);
    *out = res;
    memset(&res, 0, sizeof res);
    goto done;
nomem:
    rc = sdsinf__fail(err, SDSINF_ENOMEM,
                      "no memory for a layer over %lld samples x %lld neurons",
                      (long long)y->nrows, (long long)x.C);
done:
    for (int i = 0; i < nscr; i++)
        scratch_free(&x.scr[i]);
    sdsinf__free(x.scr);
    sdsinf__free(x.blocks);
    sdsinf__free(x.rowcount);
    sdsinf__free(live);
    sdsinf_csr_free(&res);
    return rc;
}
