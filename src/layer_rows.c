/* layer_rows.c - the fused layer on neuron-major activations.
 *
 * A distributed worker receives and sends activations by neuron (a row per
 * neuron: the samples where it is nonzero), so its layer takes rows in and
 * gives rows out, with no transposes in between.  The samples some input
 * row holds (the live ones) are cut into blocks of LANES, in order.  When
 * the layer's inputs are dense on the whole, they are spread into one
 * K x live matrix, and every block goes through the kernel's dense
 * primitive, reading its LANES columns in place.  Otherwise a cursor per
 * input row finds each block's entries, and a block goes through the dense
 * primitive (its entries spread into a panel) or, when sparse, each of its
 * samples through the sparse one.  Both are the primitives sdsinf_layer_forward uses, so the
 * results are bit-identical to it.  Threads take contiguous ranges of
 * blocks, and their outputs are joined per neuron in range order, which
 * keeps every output row's samples ascending. */
#include "internal.h"

#include <string.h>

#define LANES SDSINF__LANES

/* An output row being built: samples ascending and values. */
typedef struct outrow {
    uint32_t *smp;
    float *val;
    int64_t n, cap;
} outrow;

/* Per-thread scratch. */
typedef struct part {
    int64_t *cur;           /* K: each input's next entry */
    int64_t *from;          /* K: where the block's entries start */
    uint32_t *act;          /* K: inputs with entries in the block */
    float *panel, *tile;    /* K x LANES (kept zero), C x LANES */
    float *acc;             /* C */
    uint64_t *bits;         /* C bits, kept zero */
    uint32_t *lcol;         /* LANES x K: a sparse block's rows */
    float *lval;
    int64_t lane_n[LANES];
    uint32_t *oc;           /* LANES x C: outputs of a block */
    float *ov;
    outrow *rows;           /* C */
    int64_t first, last;    /* its range of live positions */
    int failed;
} part;

struct sdsinf__rows_ws {
    int threads;
    int ready;             /* parts allocated whole for threads, K, C */
    int64_t K, C, samples; /* what the arrays hold */
    uint8_t *mark;         /* samples: 1 where some input row has it */
    uint32_t *live;        /* live samples, ascending */
    int32_t *pos_of;       /* sample -> live position */
    float *dense;          /* K x live (padded to blocks), dense layers */
    int64_t dense_cap;     /* floats it holds */
    part *parts;
};

typedef struct ctx {
    const sdsinf__kernel *kern;
    const sdsinf_layer *layer;
    float ymax;
    int with_mask;
    int64_t K, C, nlive;
    int64_t stride; /* > 0: the inputs are in ws->dense, rows this long */
    const uint32_t *const *smp;
    const float *const *val;
    const int64_t *n;
    sdsinf__rows_ws *ws;
} ctx;

static void part_free(part *p, int64_t C)
{
    sdsinf__free(p->cur);
    sdsinf__free(p->from);
    sdsinf__free(p->act);
    sdsinf__free(p->panel);
    sdsinf__free(p->tile);
    sdsinf__free(p->acc);
    sdsinf__free(p->bits);
    sdsinf__free(p->lcol);
    sdsinf__free(p->lval);
    sdsinf__free(p->oc);
    sdsinf__free(p->ov);
    for (int64_t c = 0; p->rows && c < C; c++) {
        sdsinf__free(p->rows[c].smp);
        sdsinf__free(p->rows[c].val);
    }
    sdsinf__free(p->rows);
    memset(p, 0, sizeof *p);
}

void sdsinf__rows_ws_free(sdsinf__rows_ws *ws)
{
    if (!ws)
        return;
    for (int t = 0; ws->parts && t < ws->threads; t++)
        part_free(&ws->parts[t], ws->C);
    sdsinf__free(ws->parts);
    sdsinf__free(ws->mark);
    sdsinf__free(ws->live);
    sdsinf__free(ws->pos_of);
    sdsinf__free(ws->dense);
    sdsinf__free(ws);
}

/* Sizes the workspace for threads x (K inputs, C outputs) and samples;
 * output rows are emptied but keep their memory. */
static int ws_fit(sdsinf__rows_ws *ws, int threads, int64_t K, int64_t C,
                  int64_t samples)
{
    if (!ws->ready || ws->threads != threads || ws->K < K || ws->C < C) {
        for (int t = 0; ws->parts && t < ws->threads; t++)
            part_free(&ws->parts[t], ws->C);
        sdsinf__free(ws->parts);
        ws->parts = NULL;
        ws->threads = 0;
        ws->ready = 0;
        K = K > ws->K ? K : ws->K;
        C = C > ws->C ? C : ws->C;
        if (!(ws->parts = sdsinf__calloc((size_t)threads, sizeof *ws->parts)))
            return 0;
        ws->threads = threads;
        ws->K = K;
        ws->C = C;
        for (int t = 0; t < threads; t++) {
            part *p = &ws->parts[t];
            p->cur = sdsinf__mallocarray((size_t)K + 1, sizeof *p->cur);
            p->from = sdsinf__mallocarray((size_t)K + 1, sizeof *p->from);
            p->act = sdsinf__mallocarray((size_t)K + 1, sizeof *p->act);
            p->panel = sdsinf__calloc((size_t)(K + 1) * LANES,
                                      sizeof *p->panel);
            p->tile = sdsinf__mallocarray((size_t)(C + 1) * LANES,
                                          sizeof *p->tile);
            p->acc = sdsinf__mallocarray((size_t)C + 1, sizeof *p->acc);
            p->bits = sdsinf__calloc((size_t)C / 64 + 1, sizeof *p->bits);
            p->lcol = sdsinf__mallocarray((size_t)(K + 1) * LANES,
                                          sizeof *p->lcol);
            p->lval = sdsinf__mallocarray((size_t)(K + 1) * LANES,
                                          sizeof *p->lval);
            p->oc = sdsinf__mallocarray((size_t)C + 1, sizeof *p->oc);
            p->ov = sdsinf__mallocarray((size_t)C + 1, sizeof *p->ov);
            p->rows = sdsinf__calloc((size_t)C + 1, sizeof *p->rows);
            if (!p->cur || !p->from || !p->act || !p->panel || !p->tile ||
                !p->acc || !p->bits || !p->lcol || !p->lval || !p->oc ||
                !p->ov || !p->rows)
                return 0;
        }
        ws->ready = 1;
    }
    for (int t = 0; t < threads; t++) {
        ws->parts[t].failed = 0;
        for (int64_t c = 0; c < ws->C; c++)
            ws->parts[t].rows[c].n = 0;
    }
    if (ws->samples < samples) {
        sdsinf__free(ws->mark);
        sdsinf__free(ws->live);
        sdsinf__free(ws->pos_of);
        ws->samples = 0;
        ws->mark = sdsinf__calloc((size_t)samples + 1, sizeof *ws->mark);
        ws->live = sdsinf__mallocarray((size_t)samples + 1, sizeof *ws->live);
        ws->pos_of = sdsinf__mallocarray((size_t)samples + 1,
                                         sizeof *ws->pos_of);
        if (!ws->mark || !ws->live || !ws->pos_of)
            return 0;
        ws->samples = samples;
    }
    return 1;
}

/* Makes room for `more` entries in output row r. */
static int row_room(outrow *r, int64_t more)
{
    if (r->n + more <= r->cap)
        return 1;
    int64_t cap = r->cap ? 2 * r->cap : 64;
    while (cap < r->n + more)
        cap *= 2;
    uint32_t *s = sdsinf__realloc(r->smp, (size_t)cap * sizeof *s);
    if (!s)
        return 0;
    r->smp = s;
    float *f = sdsinf__realloc(r->val, (size_t)cap * sizeof *f);
    if (!f)
        return 0;
    r->val = f;
    r->cap = cap;
    return 1;
}

/* A dense block's tile (its nl samples) appended to the rows. */
static int tile_emit(const ctx *x, part *p, const uint32_t *samples, int nl)
{
    unsigned lanes = (1u << nl) - 1;
    for (int64_t c = 0; c < x->C; c++) { /* the positive ones stay */
        const float *t = p->tile + c * LANES;
        unsigned m = 0;
        for (int j = 0; j < LANES; j++)
            m |= (unsigned)(t[j] > 0) << j;
        if (!(m &= lanes))
            continue;
        outrow *r = &p->rows[c];
        if (!row_room(r, LANES))
            return 0;
        if (m == 0xffffu) { /* a whole block: fixed-size copies */
            memcpy(r->smp + r->n, samples, LANES * sizeof *r->smp);
            memcpy(r->val + r->n, t, LANES * sizeof *r->val);
            r->n += LANES;
            continue;
        }
        for (; m; m &= m - 1) {
            int j = __builtin_ctz(m);
            r->smp[r->n] = samples[j];
            r->val[r->n++] = t[j];
        }
    }
    return 1;
}

/* Block b (its nl samples) through the layer, appended to the rows. */
static int run_block(const ctx *x, part *p, int64_t b, int nl)
{
    const sdsinf__rows_ws *ws = x->ws;
    const uint32_t *samples = ws->live + b * LANES;
    uint32_t lim = b * LANES + nl < x->nlive ? samples[nl] : UINT32_MAX;
    int64_t nact = 0, nnz = 0, count[LANES];
    for (int64_t k = 0; k < x->K; k++) { /* each input's entries in it */
        int64_t e = p->cur[k], end = x->n[k];
        const uint32_t *s = x->smp[k];
        if (e == end || s[e] >= lim)
            continue;
        p->from[k] = e;
        while (e < end && s[e] < lim)
            e++;
        nnz += e - p->from[k];
        p->cur[k] = e;
        p->act[nact++] = (uint32_t)k;
    }
    int32_t base = (int32_t)(b * LANES);
    if (nl > 1 && nnz * SDSINF__DENSE_DIV >= nl * x->K) {
        for (int64_t a = 0; a < nact; a++) {
            uint32_t k = p->act[a];
            float *row = p->panel + (size_t)k * LANES - base;
            for (int64_t e = p->from[k]; e < p->cur[k]; e++)
                row[ws->pos_of[x->smp[k][e]]] = x->val[k][e];
        }
        x->kern->dense(x->layer, x->ymax, x->with_mask, p->panel, LANES,
                       p->tile, count);
        for (int64_t a = 0; a < nact; a++) /* the panel is kept zero */
            memset(p->panel + (size_t)p->act[a] * LANES, 0,
                   LANES * sizeof *p->panel);
        return tile_emit(x, p, samples, nl);
    }
    for (int j = 0; j < nl; j++)
        p->lane_n[j] = 0;
    for (int64_t a = 0; a < nact; a++) { /* each lane's inputs, ascending */
        uint32_t k = p->act[a];
        for (int64_t e = p->from[k]; e < p->cur[k]; e++) {
            int64_t j = ws->pos_of[x->smp[k][e]] - base;
            p->lcol[j * x->K + p->lane_n[j]] = k;
            p->lval[j * x->K + p->lane_n[j]++] = x->val[k][e];
        }
    }
    for (int j = 0; j < nl; j++) {
        int64_t n = x->kern->sparse_row(
            x->layer, x->ymax, p->lcol + (size_t)j * x->K,
            p->lval + (size_t)j * x->K, p->lane_n[j], p->acc, p->bits, p->oc,
            p->ov);
        for (int64_t i = 0; i < n; i++) {
            outrow *r = &p->rows[p->oc[i]];
            if (!row_room(r, 1))
                return 0;
            r->smp[r->n] = samples[j];
            r->val[r->n++] = p->ov[i];
        }
    }
    return 1;
}

/* First entry of each input at or after sample s. */
static void cursors_at(const ctx *x, part *p, uint32_t s)
{
    for (int64_t k = 0; k < x->K; k++) {
        int64_t lo = 0, hi = x->n[k];
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (x->smp[k][mid] < s)
                lo = mid + 1;
            else
                hi = mid;
        }
        p->cur[k] = lo;
    }
}

static void run_range(void *vx, int64_t t, int thread)
{
    const ctx *x = vx;
    part *p = &x->ws->parts[t]; /* task t: range t, with its own scratch */
    (void)thread;
    if (p->first < p->last && !x->stride)
        cursors_at(x, p, x->ws->live[p->first * LANES]);
    for (int64_t b = p->first; b < p->last && !p->failed; b++) {
        int64_t left = x->nlive - b * LANES;
        int nl = (int)(left < LANES ? left : LANES);
        if (x->stride) {
            int64_t count[LANES];
            x->kern->dense(x->layer, x->ymax, x->with_mask,
                           x->ws->dense + b * LANES, x->stride, p->tile,
                           count);
            p->failed = !tile_emit(x, p, x->ws->live + b * LANES, nl);
        } else
            p->failed = !run_block(x, p, b, nl);
    }
}

int sdsinf__layer_forward_rows(sdsinf_pool *pool, sdsinf__rows_ws **wsp,
                               const sdsinf_layer *layer, float ymax,
                               int64_t samples, const uint32_t *const *smp,
                               const float *const *val, const int64_t *n,
                               sdsinf_csr *out, sdsinf_err *err)
{
    int64_t K = layer->w.nrows, C = layer->w.ncols, total = 0;
    int threads = sdsinf_pool_threads(pool);
    if (!*wsp && !(*wsp = sdsinf__calloc(1, sizeof **wsp)))
        goto nomem;
    sdsinf__rows_ws *ws = *wsp;
    if (!ws_fit(ws, threads, K, C, samples))
        goto nomem;
    ctx x = {.kern = sdsinf__kernel_get(), .layer = layer, .ymax = ymax,
             .with_mask = sdsinf__layer_with_mask(layer), .K = K, .C = C,
             .smp = smp, .val = val, .n = n, .ws = ws};
    for (int64_t k = 0; k < K; k++) /* the live samples, and their order */
        for (int64_t e = 0; e < n[k]; e++)
            ws->mark[smp[k][e]] = 1;
    for (int64_t i = 0; i < samples; i++)
        if (ws->mark[i]) {
            ws->mark[i] = 0;
            ws->pos_of[i] = (int32_t)x.nlive;
            ws->live[x.nlive++] = (uint32_t)i;
        }
    int64_t nblocks = (x.nlive + LANES - 1) / LANES, E = 0;
    for (int64_t k = 0; k < K; k++)
        E += n[k];
    if (x.nlive > 1 && E * SDSINF__DENSE_DIV >= x.nlive * K) {
        /* dense on the whole: one K x live matrix, each block read in it */
        int64_t P = nblocks * LANES;
        if (K * P > ws->dense_cap) {
            sdsinf__free(ws->dense);
            ws->dense_cap = 0;
            if (!(ws->dense = sdsinf__mallocarray((size_t)(K * P),
                                                  sizeof *ws->dense)))
                goto nomem;
            ws->dense_cap = K * P;
        }
        memset(ws->dense, 0, (size_t)(K * P) * sizeof *ws->dense);
        for (int64_t k = 0; k < K; k++) {
            float *row = ws->dense + k * P;
            for (int64_t e = 0; e < n[k]; e++)
                row[ws->pos_of[smp[k][e]]] = val[k][e];
        }
        x.stride = P;
    }
    for (int t = 0; t < threads; t++) { /* contiguous ranges of blocks */
        ws->parts[t].first = nblocks * t / threads;
        ws->parts[t].last = nblocks * (t + 1) / threads;
    }
    sdsinf__pool_run(pool, threads, run_range, &x);
    for (int t = 0; t < threads; t++) {
        if (ws->parts[t].failed)
            goto nomem;
        for (int64_t c = 0; c < C; c++)
            total += ws->parts[t].rows[c].n;
    }
    int rc = sdsinf__csr_reshape(out, C, samples, total, err);
    if (rc != SDSINF_OK)
        return rc;
    int64_t at = 0;
    for (int64_t c = 0; c < C; c++) { /* each row: the ranges in order */
        for (int t = 0; t < threads; t++) {
            const outrow *r = &ws->parts[t].rows[c];
            if (!r->n)
                continue; /* its arrays may be NULL */
            memcpy(out->col + at, r->smp, (size_t)r->n * sizeof *r->smp);
            memcpy(out->val + at, r->val, (size_t)r->n * sizeof *r->val);
            at += r->n;
        }
        out->rowptr[c + 1] = at;
    }
    return SDSINF_OK;
nomem:
    return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a layer over %lld "
                        "samples x %lld neurons", (long long)samples,
                        (long long)C);
}
