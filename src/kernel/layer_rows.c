/* layer_rows.c - the fused layer for a distributed worker.
 *
 * A worker receives and sends activations by neuron (a row per neuron: the
 * samples where it is nonzero), so its layer takes rows in.  The samples
 * some input row holds (the live ones) are laid out in order and cut into
 * blocks of LANES.
 *   - Dense layers (inputs dense on the whole): the inputs are spread into
 *     one K x live matrix, every block goes through the kernel's dense
 *     primitive reading its columns in place and writing its outputs in
 *     place into a C x live matrix, which the workspace keeps: the next
 *     layer copies the worker's own rows from it whole, and only the rows
 *     it sends become row lists.  The layout is kept from layer to layer
 *     while it holds every received sample and half its samples live.
 *   - Sparse layers: a cursor per input row finds each block's entries; a
 *     block goes through the dense primitive (its entries spread into a
 *     panel) or each of its samples through the sparse one, and the
 *     outputs are appended to row lists.
 * The primitives are those of sdsinf_layer_forward, so the results are
 * bit-identical to it.  Threads take contiguous ranges of blocks; row
 * lists are joined per neuron in range order, keeping samples ascending. */
#include "core/pool.h"
#include "kernel/kernel.h"
#include "kernel/layer_rows.h"

#include <string.h>

#define LANES SDSINF__LANES

/* An output row being built: samples ascending and values. */
typedef struct outrow {
    uint32_t *smp;
    float *val;
    int64_t n, cap;
} outrow;

/* Per-thread scratch of the sparse path, and a range's results. */
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
    uint32_t *oc;           /* C: outputs of a sample */
    float *ov;
    outrow *rows;           /* C */
    int64_t first, last;    /* its range of blocks */
    int64_t nnz;            /* positive outputs (dense path) */
    int64_t alive;          /* positions with some (dense path) */
    int failed;
} part;

struct sdsinf__rows_ws {
    int threads;
    int ready;             /* parts allocated whole for threads, K, C */
    int64_t K, C, samples; /* what the arrays hold */
    uint8_t *mark;         /* samples, kept zero */
    int32_t *pos_of;       /* samples: position in live, or -1 */
    uint32_t *live, *live2; /* the layout: live samples, ascending; spare */
    int32_t *remap;        /* samples: a new position's old one, or -1 */
    int64_t nlive, P;      /* live samples, padded to blocks */
    float *in, *out;       /* K x P inputs, C x P outputs (dense layers) */
    float *next;           /* C x P: the output being written */
    int64_t in_cap, out_cap, next_cap;
    uint8_t *alive;        /* P: some output of the position is positive */
    uint8_t *alive_next;   /* ... of next */
    int64_t outC;          /* rows of out */
    int dense_out;         /* out holds the last layer's output */
    int64_t out_nnz;       /* entries of the last layer's output */
    int early;             /* some outputs are in next already */
    int64_t early_nnz, early_alive; /* their positives, positions made live */
    uint8_t *spread;       /* K: row k of in holds its input already */
    int64_t spread_cap;
    part *parts;
};

typedef struct ctx {
    const sdsinf__kernel *kern;
    const sdsinf_layer *layer;
    float ymax;
    int with_mask;
    int64_t K, C, nlive;
    int dense;      /* the inputs are ws->in, the outputs go to ws->next */
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

static void samples_free(sdsinf__rows_ws *ws)
{
    sdsinf__free(ws->mark);
    sdsinf__free(ws->pos_of);
    sdsinf__free(ws->live);
    sdsinf__free(ws->live2);
    sdsinf__free(ws->remap);
    ws->mark = NULL;
    ws->pos_of = ws->remap = NULL;
    ws->live = ws->live2 = NULL;
    ws->samples = ws->nlive = ws->P = 0;
    ws->dense_out = 0;
}

void sdsinf__rows_ws_free(sdsinf__rows_ws *ws)
{
    if (!ws)
        return;
    for (int t = 0; ws->parts && t < ws->threads; t++)
        part_free(&ws->parts[t], ws->C);
    sdsinf__free(ws->parts);
    samples_free(ws);
    sdsinf__free(ws->in);
    sdsinf__free(ws->out);
    sdsinf__free(ws->next);
    sdsinf__free(ws->alive);
    sdsinf__free(ws->alive_next);
    sdsinf__free(ws->spread);
    sdsinf__free(ws);
}

/* Sizes the per-thread scratch for K inputs and C outputs; row lists are
 * emptied but keep their memory. */
static int parts_fit(sdsinf__rows_ws *ws, int threads, int64_t K, int64_t C)
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
        ws->parts[t].nnz = ws->parts[t].alive = 0;
        for (int64_t c = 0; c < ws->C; c++)
            ws->parts[t].rows[c].n = 0;
    }
    return 1;
}

/* Sizes the per-sample arrays (a new size forgets the layout). */
static int samples_fit(sdsinf__rows_ws *ws, int64_t samples)
{
    if (ws->mark && ws->samples >= samples)
        return 1;
    samples_free(ws);
    ws->mark = sdsinf__calloc((size_t)samples + 1, sizeof *ws->mark);
    ws->pos_of = sdsinf__mallocarray((size_t)samples + 1, sizeof *ws->pos_of);
    ws->live = sdsinf__mallocarray((size_t)samples + 1, sizeof *ws->live);
    ws->live2 = sdsinf__mallocarray((size_t)samples + 1, sizeof *ws->live2);
    ws->remap = sdsinf__mallocarray((size_t)samples + 1, sizeof *ws->remap);
    if (!ws->mark || !ws->pos_of || !ws->live || !ws->live2 || !ws->remap) {
        samples_free(ws);
        return 0;
    }
    for (int64_t s = 0; s <= samples; s++)
        ws->pos_of[s] = -1;
    ws->samples = samples;
    return 1;
}

/* Grows *buf to hold n floats. */
static int floats_fit(float **buf, int64_t *cap, int64_t n)
{
    if (n <= *cap)
        return 1;
    sdsinf__free(*buf);
    *cap = 0;
    if ((uint64_t)n >= SIZE_MAX / sizeof **buf ||
        !(*buf = sdsinf__malloc_big(((size_t)n + 1) * sizeof **buf)))
        return 0;
    *cap = n;
    return 1;
}

/* The new layout: the marked samples (mark is cleared), ascending; remap
 * gets each new position's old one. */
static void layout_from_marks(sdsinf__rows_ws *ws, int64_t samples)
{
    int64_t q = 0;
    for (int64_t s = 0; s < samples; s++)
        if (ws->mark[s]) {
            ws->mark[s] = 0;
            ws->remap[q] = ws->pos_of[s];
            ws->live2[q++] = (uint32_t)s;
        }
    for (int64_t p = 0; p < ws->nlive; p++)
        ws->pos_of[ws->live[p]] = -1;
    uint32_t *t = ws->live;
    ws->live = ws->live2;
    ws->live2 = t;
    ws->nlive = q;
    ws->P = (q + LANES - 1) / LANES * LANES;
    for (int64_t p = 0; p < q; p++)
        ws->pos_of[ws->live[p]] = (int32_t)p;
}

/* Whether the kept layout is worth keeping: half its samples are alive.
 * (It must also hold every received sample: views_spread says.) */
static int layout_alive(const sdsinf__rows_ws *ws)
{
    int64_t alive = 0;
    for (int64_t p = 0; p < ws->nlive; p++)
        alive += ws->alive[p];
    return 2 * alive >= ws->nlive;
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
                       p->tile, LANES, count);
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
    sdsinf__rows_ws *ws = x->ws;
    part *p = &ws->parts[t]; /* task t: range t, with its own scratch */
    (void)thread;
    if (p->first < p->last && !x->dense)
        cursors_at(x, p, ws->live[p->first * LANES]);
    for (int64_t b = p->first; b < p->last && !p->failed; b++) {
        int64_t left = x->nlive - b * LANES;
        int nl = (int)(left < LANES ? left : LANES);
        if (!x->dense) {
            p->failed = !run_block(x, p, b, nl);
            continue;
        }
        int64_t count[LANES];
        uint8_t *al = ws->alive_next + b * LANES;
        x->kern->dense(x->layer, x->ymax, x->with_mask, ws->in + b * LANES,
                       ws->P, ws->next + b * LANES, ws->P, count);
        for (int j = 0; j < nl; j++) { /* padding lanes stay zero */
            p->alive += count[j] > 0 && !al[j]; /* (own-only outputs may */
            al[j] |= count[j] > 0;              /* have run before) */
            p->nnz += count[j];
        }
    }
}

/* The positive values of row[0..n) and their samples live[p], into col
 * and val (room for n): groups of 8 all zero are skipped whole (outputs
 * are never negative), the others written branch-free. */
static int64_t row_compact(const float *row, const uint32_t *live, int64_t n,
                           uint32_t *col, float *val)
{
    int64_t at = 0, p = 0;
    for (; p + 8 <= n; p += 8) {
        uint32_t bits[8], any = 0;
        memcpy(bits, row + p, sizeof bits);
        for (int j = 0; j < 8; j++)
            any |= bits[j];
        for (int j = 0; any && j < 8; j++) {
            col[at] = live[p + j]; /* every value written, the */
            val[at] = row[p + j];  /* positive ones kept */
            at += row[p + j] > 0;
        }
    }
    for (; p < n; p++) {
        col[at] = live[p];
        val[at] = row[p];
        at += row[p] > 0;
    }
    return at;
}

/* Rows with want[r] set (want NULL: all) of the dense output, into out:
 * one pass, with room for every position of every row wanted. */
static int out_rows(const sdsinf__rows_ws *ws, const uint8_t *want,
                    int64_t samples, sdsinf_csr *out, sdsinf_err *err)
{
    int64_t rows = 0, n = ws->nlive;
    for (int64_t r = 0; r < ws->outC; r++)
        rows += !want || want[r];
    int rc = sdsinf__csr_reshape(out, ws->outC, samples, rows * n + 1, err);
    if (rc != SDSINF_OK)
        return rc;
    int64_t at = 0;
    for (int64_t r = 0; r < ws->outC; r++) {
        if (!want || want[r])
            at += row_compact(ws->out + r * ws->P, ws->live, n, out->col + at,
                              out->val + at);
        out->rowptr[r + 1] = at;
    }
    return SDSINF_OK;
}

int sdsinf__rows_ws_reserve(sdsinf__rows_ws **wsp, int threads, int64_t K,
                            int64_t C, int64_t samples, sdsinf_err *err)
{
    int64_t P = (samples + LANES - 1) / LANES * LANES;
    sdsinf__rows_ws *ws = *wsp ? *wsp : sdsinf__calloc(1, sizeof *ws);
    *wsp = ws;
    if (!ws || !parts_fit(ws, threads, K, C) || !samples_fit(ws, samples) ||
        !floats_fit(&ws->in, &ws->in_cap, K * P) ||
        !floats_fit(&ws->out, &ws->out_cap, C * P) ||
        !floats_fit(&ws->next, &ws->next_cap, C * P))
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for layers of "
                            "%lld inputs x %lld samples", (long long)K,
                            (long long)samples);
    memset(ws->in, 0, (size_t)(K * P) * sizeof *ws->in); /* its pages now */
    memset(ws->out, 0, (size_t)(C * P) * sizeof *ws->out);
    memset(ws->next, 0, (size_t)(C * P) * sizeof *ws->next);
    return SDSINF_OK;
}

int sdsinf__rows_ws_dense(const sdsinf__rows_ws *ws)
{
    return ws && ws->dense_out;
}

int64_t sdsinf__rows_ws_nnz(const sdsinf__rows_ws *ws)
{
    return ws ? ws->out_nnz : 0;
}

int sdsinf__rows_ws_rows(const sdsinf__rows_ws *ws, const uint8_t *want,
                         int64_t samples, sdsinf_csr *out, sdsinf_err *err)
{
    if (!sdsinf__rows_ws_dense(ws))
        return sdsinf__fail(err, SDSINF_EINVAL, "rows_ws_rows: no dense "
                            "output held");
    return out_rows(ws, want, samples, out, err);
}

/* Copies the own rows (own_row[k] >= 0; own_row NULL: none) of the kept
 * output into ws->in (K x P), through remap when the layout moved (oldP:
 * the output's row length). */
static void own_spread(sdsinf__rows_ws *ws, int64_t K, const int32_t *own_row,
                       int moved, int64_t oldP)
{
    int64_t P = ws->P;
    for (int64_t k = 0; own_row && k < K; k++) {
        if (own_row[k] < 0)
            continue;
        float *row = ws->in + k * P;
        const float *src = ws->out + own_row[k] * oldP;
        if (!moved) {
            memcpy(row, src, (size_t)P * sizeof *row);
            continue;
        }
        for (int64_t p = 0; p < ws->nlive; p++)
            row[p] = ws->remap[p] >= 0 ? src[ws->remap[p]] : 0;
        memset(row + ws->nlive, 0, (size_t)(P - ws->nlive) * sizeof *row);
    }
}

/* Spreads view k into row k of ws->in at its samples' positions (zeroing
 * the row first unless it is `cleared` already): 0 if some sample has
 * none (the layout must change). */
static int view_spread(sdsinf__rows_ws *ws, const uint32_t *smp,
                       const float *val, int64_t n, int64_t k, int cleared)
{
    float *row = ws->in + k * ws->P;
    if (!cleared)
        memset(row, 0, (size_t)ws->P * sizeof *row);
    for (int64_t e = 0; e < n; e++) {
        int32_t p = ws->pos_of[smp[e]];
        if (p < 0)
            return 0;
        row[p] = val[e];
    }
    return 1;
}

/* Spreads the views (the rows not own) into ws->in; with `done` (the
 * rows are zero from forward_own) only those not spread yet.  0 if some
 * sample has no position. */
static int views_spread(const ctx *x, const int32_t *own_row,
                        const uint8_t *done)
{
    for (int64_t k = 0; k < x->K; k++)
        if (!(own_row && own_row[k] >= 0) && !(done && done[k]) &&
            !view_spread(x->ws, x->smp[k], x->val[k], x->n[k], k, !!done))
            return 0;
    return 1;
}

/* A new layout: the samples of the views, and those of the kept layout
 * still alive when from_dense. */
static void layout_new(const ctx *x, int from_dense, int64_t samples)
{
    sdsinf__rows_ws *ws = x->ws;
    for (int64_t p = 0; from_dense && p < ws->nlive; p++)
        ws->mark[ws->live[p]] = ws->alive[p];
    for (int64_t k = 0; k < x->K; k++)
        for (int64_t e = 0; e < x->n[k]; e++)
            ws->mark[x->smp[k][e]] = 1;
    layout_from_marks(ws, samples);
}

/* Room for the output being written (C x P, and its alive flags, zero). */
static int next_fit(sdsinf__rows_ws *ws, int64_t C)
{
    sdsinf__free(ws->alive_next);
    ws->alive_next = sdsinf__calloc((size_t)ws->P + 1, 1);
    return ws->alive_next && floats_fit(&ws->next, &ws->next_cap, C * ws->P);
}

/* The output written (next) becomes the one kept (out); out's memory
 * serves the next layer's. */
static void next_keep(sdsinf__rows_ws *ws, int64_t C)
{
    float *f = ws->out;
    int64_t cap = ws->out_cap;
    uint8_t *a = ws->alive;
    ws->out = ws->next;
    ws->out_cap = ws->next_cap;
    ws->alive = ws->alive_next;
    ws->next = f;
    ws->next_cap = cap;
    ws->alive_next = a;
    ws->outC = C;
}

/* Room for K spread flags, all clear. */
static int spread_fit(sdsinf__rows_ws *ws, int64_t K)
{
    if (K > ws->spread_cap) {
        sdsinf__free(ws->spread);
        ws->spread = sdsinf__malloc((size_t)K);
        ws->spread_cap = ws->spread ? K : 0;
        if (!ws->spread)
            return 0;
    }
    memset(ws->spread, 0, (size_t)K);
    return 1;
}

/* Runs x's blocks in contiguous ranges, one per thread. */
static void run_blocks(sdsinf_pool *pool, int threads, ctx *x)
{
    int64_t nblocks = x->ws->P / LANES;
    for (int t = 0; t < threads; t++) {
        x->ws->parts[t].first = nblocks * t / threads;
        x->ws->parts[t].last = nblocks * (t + 1) / threads;
    }
    sdsinf__pool_run(pool, threads, run_range, x);
}

/* Runs `plan`'s outputs of the layer into next (dense, layout kept),
 * adding their counts to the early ones. */
static int run_early(sdsinf_pool *pool, sdsinf__rows_ws *ws,
                     const sdsinf_layer *layer, const sdsinf__layer_plan *plan,
                     float ymax, sdsinf_err *err)
{
    int64_t K = layer->w.nrows, C = layer->w.ncols;
    int threads = sdsinf_pool_threads(pool);
    if (!plan->count)
        return SDSINF_OK;
    if (!parts_fit(ws, threads, K, C))
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a layer of "
                            "%lld neurons", (long long)C);
    sdsinf_layer view = *layer;
    view.plan_ = plan;
    ctx x = {.kern = sdsinf__kernel_get(), .layer = &view, .ymax = ymax,
             .with_mask = sdsinf__layer_with_mask(layer), .K = K, .C = C,
             .nlive = ws->nlive, .dense = 1, .ws = ws};
    run_blocks(pool, threads, &x);
    for (int t = 0; t < threads; t++) {
        ws->early_nnz += ws->parts[t].nnz;
        ws->early_alive += ws->parts[t].alive;
    }
    return SDSINF_OK;
}

int sdsinf__layer_forward_own(sdsinf_pool *pool, sdsinf__rows_ws *ws,
                              const sdsinf_layer *layer,
                              const sdsinf__layer_plan *own, float ymax,
                              const int32_t *own_row, int *early,
                              sdsinf_err *err)
{
    int64_t K = layer->w.nrows, C = layer->w.ncols;
    *early = 0;
    if (!ws || !ws->dense_out || !own_row || !layout_alive(ws))
        return SDSINF_OK; /* forward_rows does it all */
    if (!floats_fit(&ws->in, &ws->in_cap, K * ws->P) || !next_fit(ws, C) ||
        !spread_fit(ws, K))
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a layer over "
                            "%lld positions x %lld neurons",
                            (long long)ws->P, (long long)C);
    own_spread(ws, K, own_row, 0, ws->P);
    for (int64_t k = 0; k < K; k++) /* rows never sent (empty) stay zero */
        if (own_row[k] < 0)
            memset(ws->in + k * ws->P, 0, (size_t)ws->P * sizeof *ws->in);
    ws->early_nnz = ws->early_alive = 0;
    int rc = run_early(pool, ws, layer, own, ymax, err);
    ws->early = *early = rc == SDSINF_OK;
    return rc;
}

int sdsinf__layer_forward_more(sdsinf_pool *pool, sdsinf__rows_ws *ws,
                               const sdsinf_layer *layer,
                               const sdsinf__layer_plan *ready, float ymax,
                               const uint32_t *const *smp,
                               const float *const *val, const int64_t *n,
                               const uint32_t *ks, int64_t nks,
                               sdsinf_err *err)
{
    if (!ws || !ws->early)
        return SDSINF_OK;
    for (int64_t i = 0; i < nks; i++) {
        if (!view_spread(ws, smp[ks[i]], val[ks[i]], n[ks[i]], ks[i], 1)) {
            ws->early = 0; /* a new sample: forward_rows runs it all anew */
            return SDSINF_OK;
        }
        ws->spread[ks[i]] = 1;
    }
    return run_early(pool, ws, layer, ready, ymax, err);
}

int sdsinf__layer_forward_rows(sdsinf_pool *pool, sdsinf__rows_ws **wsp,
                               const sdsinf_layer *layer, float ymax,
                               int64_t samples, const uint32_t *const *smp,
                               const float *const *val, const int64_t *n,
                               const int32_t *own_row,
                               const sdsinf__layer_plan *rest,
                               sdsinf_csr *out, sdsinf_err *err)
{
    int64_t K = layer->w.nrows, C = layer->w.ncols, E = 0, total = 0;
    int64_t alive = 0;
    int threads = sdsinf_pool_threads(pool), rc;
    if (!*wsp && !(*wsp = sdsinf__calloc(1, sizeof **wsp)))
        goto nomem;
    sdsinf__rows_ws *ws = *wsp;
    int from_dense = own_row && ws->dense_out, moved = 0;
    int split = from_dense && ws->early; /* some outputs ran already */
    ws->dense_out = ws->early = 0; /* until this layer's output is whole */
    if (!parts_fit(ws, threads, K, C) || !samples_fit(ws, samples))
        goto nomem;
    sdsinf_layer view = *layer;
    view.plan_ = rest;
    ctx x = {.kern = sdsinf__kernel_get(), .layer = layer, .ymax = ymax,
             .with_mask = sdsinf__layer_with_mask(layer), .K = K, .C = C,
             .smp = smp, .val = val, .n = n, .ws = ws};
    for (int64_t k = 0; k < K; k++)
        E += n[k];
    int64_t oldP = ws->P;
    if (!from_dense || !layout_alive(ws)) {
        layout_new(&x, from_dense, samples);
        moved = 1;
    }
    x.dense = from_dense ||
              (ws->nlive > 1 && E * SDSINF__DENSE_DIV >= ws->nlive * K);
    if (x.dense) {
        if (!floats_fit(&ws->in, &ws->in_cap, K * ws->P))
            goto nomem;
        if (!split)
            own_spread(ws, K, from_dense ? own_row : NULL, moved, oldP);
        if (!views_spread(&x, from_dense ? own_row : NULL,
                          split ? ws->spread : NULL)) {
            layout_new(&x, from_dense, samples); /* a sample came back */
            moved = 1;
            split = 0; /* what ran is in the old layout: all again */
            if (!floats_fit(&ws->in, &ws->in_cap, K * ws->P))
                goto nomem;
            own_spread(ws, K, own_row, moved, oldP);
            views_spread(&x, own_row, NULL); /* (every sample has a place) */
        }
        if (!split && !next_fit(ws, C))
            goto nomem;
        if (split) { /* the rest of the outputs, and the counts so far */
            x.layer = &view;
            total = ws->early_nnz;
            alive = ws->early_alive;
        }
    }
    x.nlive = ws->nlive;
    run_blocks(pool, threads, &x);
    for (int t = 0; t < threads; t++) {
        if (ws->parts[t].failed)
            goto nomem;
        total += ws->parts[t].nnz;
        alive += ws->parts[t].alive;
        for (int64_t c = 0; !x.dense && c < C; c++)
            total += ws->parts[t].rows[c].n;
    }
    ws->out_nnz = total;
    if (x.dense) { /* kept while dense (over the samples still alive: a
                      * regroup drops the others); else given as rows */
        next_keep(ws, C);
        if (total * SDSINF__DENSE_DIV >= alive * C) {
            ws->dense_out = 1;
            return SDSINF_OK;
        }
        return out_rows(ws, NULL, samples, out, err);
    }
    if ((rc = sdsinf__csr_reshape(out, C, samples, total, err)) != SDSINF_OK)
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
