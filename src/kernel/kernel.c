/* kernel.c - the fused layer: Y_next = min(ymax, ReLU(Y * W + b)).
 *
 * Two primitives, with bit-identical results (same products, same order of
 * additions, fmaf everywhere):
 *   - sparse row: Gustavson's method over the rows of W, with a dense
 *     accumulator and a bitmap of touched outputs;
 *   - dense block: LANES samples held as a K x LANES panel; every output
 *     sums its inputs' panel rows (W transposed), LANES samples per vector
 *     operation, in the layer plan's order (outputs with identical inputs
 *     four at a time).
 * Each exists as baseline C and, on x86-64, as an AVX2 + FMA copy chosen at
 * run time.  sdsinf_layer_forward builds the CSR-to-CSR layer on them;
 * infer.c keeps dense blocks as panels from layer to layer.
 *
 * Sections: helpers, baseline C, AVX2 copies, selection, CSR layer. */
#include "core/pool.h"
#include "kernel/kernel.h"
#include "kernel/layer_plan.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define LANES SDSINF__LANES

#if defined(__x86_64__) && defined(__GNUC__)
#define SDSINF_X86 1
#include <immintrin.h>
#else
#define SDSINF_X86 0
#endif
/* Helpers of the vector functions must be inlined into each copy. */
#if defined(__GNUC__)
#define HOT_INLINE static inline __attribute__((always_inline))
#else
#define HOT_INLINE static inline
#endif

/* ---- Helpers ------------------------------------------------------------ */

HOT_INLINE float bias_of(const sdsinf_layer *l, int64_t c)
{
    return l->bias_vec ? l->bias_vec[c] : l->bias;
}

HOT_INLINE float activate(float v, float ymax)
{
    if (!(v > 0))
        return 0;
    return v < ymax ? v : ymax;
}

int sdsinf__layer_with_mask(const sdsinf_layer *l)
{
    if (l->bias > 0)
        return 1;
    for (int64_t c = 0; l->bias_vec && c < l->w.ncols; c++)
        if (l->bias_vec[c] > 0)
            return 1;
    return 0;
}

/* PANEL_CHUNK inputs at a time, so the part being written stays in L1. */
#define PANEL_CHUNK 64
void sdsinf__fill_panel(float *panel, int64_t K, const sdsinf_csr *y,
                        const int64_t *rows, int nl)
{
    int64_t cur[LANES], end[LANES];
    for (int j = 0; j < nl; j++) {
        cur[j] = y->rowptr[rows[j]];
        end[j] = y->rowptr[rows[j] + 1];
    }
    for (int64_t k0 = 0; k0 < K; k0 += PANEL_CHUNK) {
        int64_t k1 = k0 + PANEL_CHUNK < K ? k0 + PANEL_CHUNK : K;
        memset(panel + k0 * LANES, 0, (size_t)(k1 - k0) * LANES * sizeof *panel);
        for (int j = 0; j < nl; j++) {
            int64_t i = cur[j], e = end[j];
            const uint32_t *col = y->col;
            const float *val = y->val;
            float *p = panel + j;
            for (; i < e && col[i] < k1; i++)
                p[(size_t)col[i] * LANES] = val[i];
            cur[j] = i;
        }
    }
}

/* Gustavson's method on one row (n entries); see sdsinf__kernel. */
HOT_INLINE int64_t sparse_row_body(const sdsinf_layer *layer, float ymax,
                                   const uint32_t *ycol, const float *yval,
                                   int64_t n, float *acc, uint64_t *bits,
                                   uint32_t *oc, float *ov)
{
    const sdsinf_csr *w = &layer->w;
    int64_t lo = INT64_MAX, hi = -1, out = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t k = ycol[i];
        float yv = yval[i];
        for (int64_t e = w->rowptr[k]; e < w->rowptr[k + 1]; e++) {
            uint32_t c = w->col[e];
            uint64_t bit = (uint64_t)1 << (c & 63);
            if (bits[c >> 6] & bit) {
                acc[c] = fmaf(yv, w->val[e], acc[c]);
            } else {
                bits[c >> 6] |= bit;
                acc[c] = fmaf(yv, w->val[e], 0.0f);
                lo = (int64_t)(c >> 6) < lo ? (int64_t)(c >> 6) : lo;
                hi = (int64_t)(c >> 6) > hi ? (int64_t)(c >> 6) : hi;
            }
        }
    }
    for (int64_t wd = lo; wd <= hi; wd++) {
        uint64_t b = bits[wd];
        bits[wd] = 0;
        while (b) {
            uint32_t c = (uint32_t)(wd * 64 + __builtin_ctzll(b));
            b &= b - 1;
            float v = activate(acc[c] + bias_of(layer, c), ymax);
            oc[out] = c;
            ov[out] = v;
            out += v > 0;
        }
    }
    return out;
}

/* Copies the positive entries of t[0], t[step], ... (n of them) as
 * (index + base, value) pairs; returns how many. */
HOT_INLINE int64_t compact_strided(const float *t, int64_t n, int64_t step,
                                   uint32_t base, uint32_t *oc, float *ov)
{
    int64_t k = 0;
    for (int64_t c = 0; c < n; c++) {
        float v = t[c * step];
        oc[k] = base + (uint32_t)c;
        ov[k] = v;
        k += v > 0;
    }
    return k;
}

/* ---- Baseline C: the reference for every vector copy --------------------- */

static int64_t sparse_row_c(const sdsinf_layer *layer, float ymax,
                            const uint32_t *ycol, const float *yval, int64_t n,
                            float *acc, uint64_t *bits, uint32_t *oc,
                            float *ov)
{
    return sparse_row_body(layer, ymax, ycol, yval, n, acc, bits, oc, ov);
}

static void dense_c(const sdsinf_layer *layer, float ymax, int with_mask,
                    const float *panel, int64_t stride, float *tile,
                    int64_t tstride, int64_t count[LANES])
{
    const sdsinf_csr *wt = &layer->wt;
    const sdsinf__layer_plan *plan = layer->plan_;
    for (int j = 0; j < LANES; j++)
        count[j] = 0;
    for (int64_t k = 0; k < (plan ? plan->count : wt->nrows); k++) {
        uint32_t c = plan ? plan->order[k] : (uint32_t)k;
        float a[LANES] = {0};
        unsigned m = 0;
        for (int64_t i = wt->rowptr[c]; i < wt->rowptr[c + 1]; i++) {
            const float *p = panel + (size_t)wt->col[i] * stride;
            for (int j = 0; j < LANES; j++) {
                a[j] = fmaf(wt->val[i], p[j], a[j]);
                m |= (unsigned)(p[j] != 0) << j;
            }
        }
        /* no stored input: nothing is stored, whatever the bias */
        int use_mask = with_mask || wt->rowptr[c + 1] == wt->rowptr[c];
        for (int j = 0; j < LANES; j++) {
            float v = activate(a[j] + bias_of(layer, c), ymax);
            v = use_mask && !(m >> j & 1) ? 0 : v;
            tile[c * tstride + j] = v;
            count[j] += v > 0;
        }
    }
}

static void compact_c(const float *tile, int64_t C, uint32_t *oc, float *ov,
                      int64_t count[LANES])
{
    for (int j = 0; j < LANES; j++)
        count[j] = compact_strided(tile + j, C, LANES, 0, oc + (size_t)j * C,
                                   ov + (size_t)j * C);
}

/* ---- AVX2 + FMA copies (x86-64) ------------------------------------------ */
#if SDSINF_X86
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static int64_t sparse_row_avx2(const sdsinf_layer *layer, float ymax,
                                    const uint32_t *ycol, const float *yval,
                                    int64_t n, float *acc, uint64_t *bits,
                                    uint32_t *oc, float *ov)
{
    return sparse_row_body(layer, ymax, ycol, yval, n, acc, bits, oc, ov);
}

/* Lanes of the structure mask set in a panel row (its nonzeros). */
AVX2 HOT_INLINE unsigned nonzero_lanes(__m256 lo, __m256 hi)
{
    const __m256 z = _mm256_setzero_ps();
    return (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(lo, z, _CMP_NEQ_UQ)) |
           (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(hi, z, _CMP_NEQ_UQ)) << 8;
}

/* The running per-lane counts of positive outputs. */
typedef struct counts16 {
    __m256i lo, hi;
} counts16;

/* Activates 16 sums with bias b, stores them at out, counts positives. */
AVX2 HOT_INLINE void store16(float *out, __m256 lo, __m256 hi, float b,
                             __m256 vmax, unsigned m, int use_mask,
                             counts16 *n)
{
    const __m256 zero = _mm256_setzero_ps(), vb = _mm256_set1_ps(b);
    lo = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(lo, vb), zero), vmax);
    hi = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(hi, vb), zero), vmax);
    if (use_mask) {
        const __m256i bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        __m256i ml = _mm256_and_si256(_mm256_set1_epi32((int)m), bits);
        __m256i mh = _mm256_and_si256(_mm256_set1_epi32((int)(m >> 8)), bits);
        lo = _mm256_and_ps(lo, _mm256_castsi256_ps(_mm256_cmpeq_epi32(ml, bits)));
        hi = _mm256_and_ps(hi, _mm256_castsi256_ps(_mm256_cmpeq_epi32(mh, bits)));
    }
    _mm256_storeu_ps(out, lo);
    _mm256_storeu_ps(out + 8, hi);
    /* a true comparison is -1: subtracting it counts */
    n->lo = _mm256_sub_epi32(n->lo, _mm256_castps_si256(
                                        _mm256_cmp_ps(lo, zero, _CMP_GT_OQ)));
    n->hi = _mm256_sub_epi32(n->hi, _mm256_castps_si256(
                                        _mm256_cmp_ps(hi, zero, _CMP_GT_OQ)));
}

/* Four outputs with the same input list: one load of each panel row feeds
 * all four sums. */
AVX2 HOT_INLINE void four_same(const sdsinf_layer *layer, const float *panel,
                               int64_t stride, int with_mask, __m256 vmax,
                               float *tile, int64_t ts, const uint32_t *c,
                               counts16 *cnt)
{
    const sdsinf_csr *wt = &layer->wt;
    const int64_t *rp = wt->rowptr;
    const float *v0 = wt->val + rp[c[0]], *v1 = wt->val + rp[c[1]],
                *v2 = wt->val + rp[c[2]], *v3 = wt->val + rp[c[3]];
    const uint32_t *in = wt->col + rp[c[0]];
    int64_t n = rp[c[0] + 1] - rp[c[0]];
    __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0,
           b2 = a0, a3 = a0, b3 = a0;
    unsigned m = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *p = panel + (size_t)in[i] * stride;
        __m256 lo = _mm256_loadu_ps(p), hi = _mm256_loadu_ps(p + 8), w;
        w = _mm256_set1_ps(v0[i]);
        a0 = _mm256_fmadd_ps(w, lo, a0), b0 = _mm256_fmadd_ps(w, hi, b0);
        w = _mm256_set1_ps(v1[i]);
        a1 = _mm256_fmadd_ps(w, lo, a1), b1 = _mm256_fmadd_ps(w, hi, b1);
        w = _mm256_set1_ps(v2[i]);
        a2 = _mm256_fmadd_ps(w, lo, a2), b2 = _mm256_fmadd_ps(w, hi, b2);
        w = _mm256_set1_ps(v3[i]);
        a3 = _mm256_fmadd_ps(w, lo, a3), b3 = _mm256_fmadd_ps(w, hi, b3);
        if (with_mask)
            m |= nonzero_lanes(lo, hi);
    }
    int um = with_mask || n == 0;
    store16(tile + c[0] * ts, a0, b0, bias_of(layer, c[0]), vmax, m, um, cnt);
    store16(tile + c[1] * ts, a1, b1, bias_of(layer, c[1]), vmax, m, um, cnt);
    store16(tile + c[2] * ts, a2, b2, bias_of(layer, c[2]), vmax, m, um, cnt);
    store16(tile + c[3] * ts, a3, b3, bias_of(layer, c[3]), vmax, m, um, cnt);
}

/* One output, its inputs in order. */
AVX2 HOT_INLINE void one(const sdsinf_layer *layer, const float *panel,
                         int64_t stride, int with_mask, __m256 vmax,
                         float *tile, int64_t ts, uint32_t c, counts16 *cnt)
{
    const sdsinf_csr *wt = &layer->wt;
    __m256 a = _mm256_setzero_ps(), b = a;
    unsigned m = 0;
    for (int64_t i = wt->rowptr[c]; i < wt->rowptr[c + 1]; i++) {
        const float *p = panel + (size_t)wt->col[i] * stride;
        __m256 lo = _mm256_loadu_ps(p), hi = _mm256_loadu_ps(p + 8);
        __m256 w = _mm256_set1_ps(wt->val[i]);
        a = _mm256_fmadd_ps(w, lo, a);
        b = _mm256_fmadd_ps(w, hi, b);
        if (with_mask)
            m |= nonzero_lanes(lo, hi);
    }
    store16(tile + c * ts, a, b, bias_of(layer, c), vmax, m,
            with_mask || wt->rowptr[c + 1] == wt->rowptr[c], cnt);
}

AVX2 static void dense_avx2(const sdsinf_layer *layer, float ymax,
                            int with_mask, const float *panel, int64_t stride,
                            float *tile, int64_t tstride,
                            int64_t count[LANES])
{
    const sdsinf__layer_plan *plan = layer->plan_;
    const __m256 vmax = _mm256_set1_ps(ymax);
    int64_t C = plan ? plan->count : layer->wt.nrows, c = 0;
    counts16 cnt = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    if (plan)
        for (; c + 4 <= C; c += 4) {
            if (plan->same4[c / 4])
                four_same(layer, panel, stride, with_mask, vmax, tile,
                          tstride, plan->order + c, &cnt);
            else
                for (int k = 0; k < 4; k++)
                    one(layer, panel, stride, with_mask, vmax, tile, tstride,
                        plan->order[c + k], &cnt);
        }
    for (; c < C; c++)
        one(layer, panel, stride, with_mask, vmax, tile, tstride,
            plan ? plan->order[c] : (uint32_t)c, &cnt);
    int32_t n[LANES];
    _mm256_storeu_si256((__m256i *)n, cnt.lo);
    _mm256_storeu_si256((__m256i *)(n + 8), cnt.hi);
    for (int j = 0; j < LANES; j++)
        count[j] = n[j];
}

/* Transposes 8 rows of 8 floats in place (r[j] becomes column j). */
AVX2 HOT_INLINE void transpose8(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* Appends the positive values of v (outputs c..c+7 of one lane) at n. */
AVX2 HOT_INLINE int64_t append8(__m256 v, __m256i idx, uint32_t c,
                                uint32_t *oc, float *ov, int64_t n)
{
    int mk = _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(),
                                              _CMP_GT_OQ));
    if (mk == 0xff) { /* all eight stored: the common dense case */
        _mm256_storeu_ps(ov + n, v);
        _mm256_storeu_si256((__m256i *)(oc + n), idx);
        return n + 8;
    }
    if (mk) {
        float t[8];
        _mm256_storeu_ps(t, v);
        n += compact_strided(t, 8, 1, c, oc + n, ov + n);
    }
    return n;
}

/* Eight outputs at a time: transpose their 16 lanes in two 8 x 8 steps and
 * append each lane's positive values. */
AVX2 static void compact_avx2(const float *tile, int64_t C, uint32_t *oc,
                              float *ov, int64_t count[LANES])
{
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    int64_t n[LANES] = {0}, c = 0;
    for (; c + 8 <= C; c += 8) {
        __m256i idx = _mm256_add_epi32(iota, _mm256_set1_epi32((int)c));
        __m256 lo[8], hi[8];
        for (int k = 0; k < 8; k++) {
            lo[k] = _mm256_loadu_ps(tile + (c + k) * LANES);
            hi[k] = _mm256_loadu_ps(tile + (c + k) * LANES + 8);
        }
        transpose8(lo);
        transpose8(hi);
        for (int j = 0; j < 8; j++) {
            n[j] = append8(lo[j], idx, (uint32_t)c, oc + (size_t)j * C,
                           ov + (size_t)j * C, n[j]);
            n[j + 8] = append8(hi[j], idx, (uint32_t)c, oc + (size_t)(j + 8) * C,
                               ov + (size_t)(j + 8) * C, n[j + 8]);
        }
    }
    for (int j = 0; j < LANES; j++)
        count[j] = n[j] + compact_strided(tile + c * LANES + j, C - c, LANES,
                                          (uint32_t)c, oc + (size_t)j * C + n[j],
                                          ov + (size_t)j * C + n[j]);
}
#endif

/* ---- Selection ------------------------------------------------------------ */

static const sdsinf__kernel kernel_c = {sparse_row_c, dense_c, compact_c};
#if SDSINF_X86
static const sdsinf__kernel kernel_avx2 = {sparse_row_avx2, dense_avx2,
                                           compact_avx2};
#endif

const sdsinf__kernel *sdsinf__kernel_get(void)
{
    const char *force = getenv("SDSINF_KERNEL");
    if (force && !strcmp(force, "c"))
        return &kernel_c;
#if SDSINF_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &kernel_avx2;
#endif
    return &kernel_c;
}

/* ---- The CSR layer -----------------------------------------------------------
 * Live rows (with any entry) are cut into blocks of LANES; threads take
 * blocks in turn and append each block's rows to their own arena; then the
 * blocks are copied into place in the result, in parallel. */

typedef struct arena {
    uint32_t *col;
    float *val;
    int64_t len, cap;
} arena;

typedef struct block {
    int64_t first, n; /* range in the live-row list */
    int thread;
    int64_t off, count; /* its output in the thread's arena */
} block;

/* Per-thread scratch, kept by the pool between calls. */
typedef struct scratch {
    arena out;
    float *acc;     /* C: sparse accumulator */
    uint64_t *bits; /* C bits: touched outputs, kept zero */
    float *panel;   /* K x LANES */
    float *tile;    /* C x LANES */
    int64_t K, C;   /* what the arrays above hold */
} scratch;

typedef struct ctx {
    const sdsinf__kernel *kern;
    const sdsinf_layer *layer;
    const sdsinf_csr *y;
    float ymax;
    int with_mask;
    int64_t K, C;
    const int64_t *live;
    block *blocks;
    int64_t *rowcount;
    scratch *scr;
    sdsinf_csr *out;
    atomic_int failed;
} ctx;

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

static int dense_block(ctx *x, scratch *s, const int64_t *rows, int nl)
{
    int64_t count[LANES];
    if (!arena_reserve(&s->out, LANES * x->C))
        return 0;
    sdsinf__fill_panel(s->panel, x->K, x->y, rows, nl);
    x->kern->dense(x->layer, x->ymax, x->with_mask, s->panel, LANES, s->tile,
                   LANES, count);
    /* lane j lands at j * C, then the lanes close up into rows */
    uint32_t *oc = s->out.col + s->out.len;
    float *ov = s->out.val + s->out.len;
    x->kern->compact(s->tile, x->C, oc, ov, count);
    int64_t at = 0;
    for (int j = 0; j < nl; j++) {
        if (at != (int64_t)j * x->C) {
            memmove(oc + at, oc + (size_t)j * x->C, (size_t)count[j] * sizeof *oc);
            memmove(ov + at, ov + (size_t)j * x->C, (size_t)count[j] * sizeof *ov);
        }
        at += count[j];
        x->rowcount[rows[j]] = count[j];
    }
    s->out.len += at;
    return 1;
}

static void run_block(void *vx, int64_t t, int thread)
{
    ctx *x = vx;
    scratch *s = &x->scr[thread];
    block *bk = &x->blocks[t];
    const int64_t *rows = x->live + bk->first;
    const sdsinf_csr *y = x->y;
    int64_t nnz = 0;
    int ok = 1;
    if (atomic_load(&x->failed))
        return;
    bk->thread = thread;
    bk->off = s->out.len;
    for (int64_t j = 0; j < bk->n; j++)
        nnz += y->rowptr[rows[j] + 1] - y->rowptr[rows[j]];
    if (bk->n > 1 && nnz * SDSINF__DENSE_DIV >= bk->n * x->K) {
        ok = dense_block(x, s, rows, (int)bk->n);
    } else {
        for (int64_t j = 0; ok && j < bk->n; j++) {
            int64_t b = y->rowptr[rows[j]];
            if (!(ok = arena_reserve(&s->out, x->C)))
                break;
            int64_t n = x->kern->sparse_row(
                x->layer, x->ymax, y->col + b, y->val + b,
                y->rowptr[rows[j] + 1] - b, s->acc, s->bits,
                s->out.col + s->out.len, s->out.val + s->out.len);
            s->out.len += n;
            x->rowcount[rows[j]] = n;
        }
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

/* Sizes a thread's scratch for K inputs and C outputs; the output arena is
 * emptied but kept. */
static int scratch_fit(scratch *s, int64_t K, int64_t C)
{
    s->out.len = 0;
    if (s->panel && s->K >= K && s->C >= C)
        return 1;
    sdsinf__free(s->acc);
    sdsinf__free(s->bits);
    sdsinf__free(s->panel);
    sdsinf__free(s->tile);
    s->acc = sdsinf__mallocarray((size_t)C, sizeof *s->acc);
    s->bits = sdsinf__calloc((size_t)(C + 63) / 64, sizeof *s->bits);
    s->panel = sdsinf__mallocarray((size_t)K * LANES, sizeof *s->panel);
    s->tile = sdsinf__mallocarray((size_t)C * LANES, sizeof *s->tile);
    if (!s->acc || !s->bits || !s->panel || !s->tile) {
        sdsinf__free(s->panel);
        s->panel = NULL;
        return 0;
    }
    s->K = K;
    s->C = C;
    return 1;
}

static void scratch_free(scratch *s)
{
    sdsinf__free(s->out.col);
    sdsinf__free(s->out.val);
    sdsinf__free(s->acc);
    sdsinf__free(s->bits);
    sdsinf__free(s->panel);
    sdsinf__free(s->tile);
}

/* Memory kept between calls (by the pool): per-thread scratch and the
 * per-row and per-block arrays, grown on demand. */
typedef struct workspace {
    int threads;
    scratch *scr;
    int64_t rows; /* capacity of live and rowcount */
    int64_t *live, *rowcount;
    block *blocks;
} workspace;

static void workspace_free(void *vw)
{
    workspace *w = vw;
    if (!w)
        return;
    for (int i = 0; i < w->threads; i++)
        scratch_free(&w->scr[i]);
    sdsinf__free(w->scr);
    sdsinf__free(w->live);
    sdsinf__free(w->rowcount);
    sdsinf__free(w->blocks);
    sdsinf__free(w);
}

static int workspace_fit(workspace *w, int threads, int64_t rows, int64_t K,
                         int64_t C)
{
    if (!w->scr) {
        if (!(w->scr = sdsinf__calloc((size_t)threads, sizeof *w->scr)))
            return 0;
        w->threads = threads;
    }
    for (int i = 0; i < w->threads; i++)
        if (!scratch_fit(&w->scr[i], K, C))
            return 0;
    if (w->rows < rows) {
        sdsinf__free(w->live);
        sdsinf__free(w->rowcount);
        sdsinf__free(w->blocks);
        w->live = sdsinf__mallocarray((size_t)rows, sizeof *w->live);
        w->rowcount = sdsinf__mallocarray((size_t)rows, sizeof *w->rowcount);
        w->blocks = sdsinf__mallocarray((size_t)(rows + LANES - 1) / LANES,
                                        sizeof *w->blocks);
        w->rows = w->live && w->rowcount && w->blocks ? rows : 0;
        if (!w->rows)
            return 0;
    }
    memset(w->rowcount, 0, (size_t)rows * sizeof *w->rowcount);
    return 1;
}

int sdsinf_layer_forward(sdsinf_pool *pool, const sdsinf_layer *layer,
                         float ymax, const sdsinf_csr *y, sdsinf_csr *out,
                         sdsinf_err *err)
{
    int rc = SDSINF_OK;
    ctx x = {0};
    int64_t nlive = 0, nblocks = 0, total = 0;
    void **slot = sdsinf__pool_workspace(pool, workspace_free);
    workspace *w = slot ? *slot : NULL;
    if (y->ncols != layer->w.nrows || layer->wt.nrows != layer->w.ncols ||
        out == y)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "activations have %lld columns but the layer has "
                            "%lld inputs (or the output is the input)",
                            (long long)y->ncols, (long long)layer->w.nrows);
    if (!w && !(w = sdsinf__calloc(1, sizeof *w)))
        goto nomem;
    if (slot)
        *slot = w;
    if (!workspace_fit(w, sdsinf_pool_threads(pool), y->nrows + 1,
                       layer->w.nrows, layer->w.ncols))
        goto nomem;
    x.kern = sdsinf__kernel_get();
    x.layer = layer;
    x.y = y;
    x.ymax = ymax;
    x.K = layer->w.nrows;
    x.C = layer->w.ncols;
    x.with_mask = sdsinf__layer_with_mask(layer);
    x.scr = w->scr;
    x.live = w->live;
    x.rowcount = w->rowcount;
    x.blocks = w->blocks;
    for (int64_t r = 0; r < y->nrows; r++)
        if (y->rowptr[r + 1] > y->rowptr[r])
            w->live[nlive++] = r;
    nblocks = (nlive + LANES - 1) / LANES;
    for (int64_t b = 0; b < nblocks; b++) {
        x.blocks[b].first = b * LANES;
        x.blocks[b].n = nlive - b * LANES < LANES ? nlive - b * LANES : LANES;
    }
    sdsinf__pool_run(pool, nblocks, run_block, &x);
    if (atomic_load(&x.failed))
        goto nomem;
    for (int64_t r = 0; r < y->nrows; r++)
        total += x.rowcount[r];
    if ((rc = sdsinf__csr_reshape(out, y->nrows, x.C, total, err)) != SDSINF_OK)
        goto done;
    for (int64_t r = 0; r < y->nrows; r++)
        out->rowptr[r + 1] = out->rowptr[r] + x.rowcount[r];
    x.out = out;
    sdsinf__pool_run(pool, nblocks, place_block, &x);
    goto done;
nomem:
    rc = sdsinf__fail(err, SDSINF_ENOMEM,
                      "no memory for a layer over %lld samples x %lld neurons",
                      (long long)y->nrows, (long long)layer->w.ncols);
done:
    if (!slot)
        workspace_free(w);
    return rc;
}
