/* generate.c - synthetic GraphChallenge-style networks and input images.
 *
 * The network.  The GraphChallenge 1024-neuron network (n1024-l*.tsv) is a
 * RadiX-Net: with 0-based ids, input i feeds output j of layer l (l = 0..119)
 * exactly when
 *
 *     (P_b(i) - j) mod 64  is  0  or  2^k,   k = l mod 6,  b = l / 6,
 *
 * every weight 1/16.  So inputs fall into 64 groups of 16 (i mod 64) whose
 * members feed the same 32 outputs (their own group and the group 2^k below),
 * and each output reads 32 inputs; the six layers of a block are the stages
 * of a radix-2 butterfly over the 64 groups (shifts 1, 2, 4, ..., 32), after
 * which every input has reached every output.  Block 0 (layers 1-6) is used
 * as is; every later block draws one random permutation P_b of the inputs
 * (rows) that all six of its layers share; the outputs (columns) are never
 * permuted.  Equivalently the stage is the circulant j = P_b(i) - o (mod N)
 * over the 32 offsets o in {64 t, 64 t + 2^k : t = 0..15}.
 *
 * That circulant form is what is built here, for any N >= 2 and L >= 1:
 *   - N <= 32: every input feeds every output (degree N), every layer;
 *   - N > 32:  degree 32, G = 16 offset pairs, M = floor(N / 16) groups,
 *     stages r = ceil(log2 M) per block, stage k = l mod r has the offsets
 *     { b_t, b_t + 2^k : t = 0..15 },  b_t = floor(t N / 16).
 *     2^k < M <= b_{t+1} - b_t, so the 32 offsets are distinct mod N and
 *     every input and every output has exactly 32 connections whatever N is.
 *     When 16 divides N this is exactly the structure above (the real 1024
 *     network's first six layers come out entry for entry), with groups of
 *     N / M = 16 inputs sharing their outputs; otherwise the gaps between
 *     the b_t are M or M + 1 and inputs M apart share most, not all, of
 *     their outputs.
 *   - Block b = l / r uses the input permutation P_b: the identity for b = 0,
 *     else a Fisher-Yates shuffle from its own random stream (seed, b), so a
 *     shorter network is a prefix of a longer one with the same seed.
 *   - Weights 2 / degree (1/16 for degree 32), so a fully lit input of ones
 *     gives 2 + bias at every output and stays in range.
 *   - Bias: the GraphChallenge value for 1024 / 4096 / 16384 / 65536 neurons
 *     (sdsinf_default_bias), else the line through those points in log2(N),
 *     -0.3 - 0.025 (log2 N - 10), clamped to [-0.45, -0.3].
 *
 * The images.  The real inputs are MNIST digits scaled to 32 x 32: strokes
 * two or three pixels wide, ~107 of 1024 pixels lit, up to ~30%.  Here each
 * image is drawn on a ceil(sqrt N) square grid (pixel (x, y) is feature
 * y S + x; pixels at or past N are dropped), value 1: one to three shapes
 * (quadratic Bezier strokes, ellipse outlines, filled ellipses) in a jittered
 * box of 60-80% of the grid, stamped with a disc whose radius scales with the
 * grid.  One image in five is drawn bold (strokes three times as thick): on
 * these networks an image survives many layers only when enough of its
 * pixels land on the same outputs, which for plain strokes happens on grids
 * aligned with the groups (N = 256, 1024, 4096, ...) and otherwise only for
 * images ~30% lit, so the bold ones keep a non-trivial share of the images
 * alive after many layers for any N (measured: 8-47% of the images keep a
 * nonzero row for N = 40 .. 65536, L = 4 .. 120; ~23% for 1024 x 120).
 * With N <= 32 the layers are complete and most images survive.
 * Each image comes from its own random stream (seed, image), so the first
 * images do not depend on how many are asked for.
 *
 * Reproducibility: everything is integer arithmetic (splitmix64 streams,
 * 1/256-pixel fixed point, integer square roots) except the weight 2/degree
 * and the bias, which use only correctly rounded IEEE operations, so a seed
 * gives the same files on every platform. */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

#define DEGREE 32 /* connections per neuron when N > DEGREE */
#define PAIRS (DEGREE / 2)

#define TAG_PERM 0x7065726d75746531ULL /* random stream kinds */
#define TAG_IMAGE 0x696d616765733031ULL

void sdsinf_gen_opts_init(sdsinf_gen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->version = SDSINF_GEN_OPTS_VERSION;
    o->neurons = 1024;
    o->layers = 120;
    o->images = 60000;
    o->seed = 1;
}

static int check_opts(const sdsinf_gen_opts *o, sdsinf_err *err)
{
    if (!o || o->version < 1 || o->version > SDSINF_GEN_OPTS_VERSION)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "generator options missing or of an unknown "
                            "version (call sdsinf_gen_opts_init)");
    if (o->neurons < 2)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "a generated network needs at least 2 neurons "
                            "(got %d)", o->neurons);
    return SDSINF_OK;
}

/* ---- Random streams ----------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* An independent splitmix64 stream for (seed, kind of use, index). */
static void rng_init(rng *r, uint64_t seed, uint64_t tag, uint64_t index)
{
    r->s = mix64(seed ^ mix64(tag ^ mix64(index)));
}

static uint64_t rng_next(rng *r)
{
    r->s += 0x9E3779B97F4A7C15ULL;
    return mix64(r->s);
}

/* Uniform in [0, n), n >= 1, without modulo bias. */
static uint64_t rng_below(rng *r, uint64_t n)
{
    uint64_t rem = (0 - n) % n; /* 2^64 mod n: the draws to reject */
    uint64_t x;
    do
        x = rng_next(r);
    while (rem && x >= 0 - rem);
    return x % n;
}

/* Uniform in [lo, hi], lo <= hi. */
static int64_t rng_range(rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)rng_below(r, (uint64_t)(hi - lo) + 1);
}

/* ---- The network -------------------------------------------------------- */

/* Stage k's offsets, ascending; returns the degree. */
static int stage_offsets(int32_t n, int k, int64_t *off)
{
    if (n <= DEGREE) {
        for (int t = 0; t < n; t++)
            off[t] = t;
        return n;
    }
    for (int t = 0; t < PAIRS; t++) {
        off[2 * t] = (int64_t)t * n / PAIRS;
        off[2 * t + 1] = off[2 * t] + ((int64_t)1 << k);
    }
    return DEGREE;
}

/* Butterfly stages per block: ceil(log2(N / 16)), at least 1. */
static int block_stages(int32_t n)
{
    int r = 1;
    if (n <= DEGREE)
        return 1;
    while (((int64_t)1 << r) < n / PAIRS)
        r++;
    return r;
}

/* Block b's input permutation: identity for block 0, else a shuffle. */
static void block_perm(uint64_t seed, int64_t b, int32_t n, uint32_t *perm)
{
    rng r;
    for (int32_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    if (b == 0)
        return;
    rng_init(&r, seed, TAG_PERM, (uint64_t)b);
    for (int32_t i = n - 1; i > 0; i--) {
        uint32_t j = (uint32_t)rng_below(&r, (uint64_t)i + 1);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* Fills w: row i holds outputs (perm[i] - off) mod n, ascending; the
 * offsets are ascending, so that is the offsets <= q walked down, then the
 * larger ones walked down (those wrap past n). */
static int build_layer(int32_t n, const uint32_t *perm, const int64_t *off,
                       int d, sdsinf_csr *w, sdsinf_err *err)
{
    int rc = sdsinf_csr_alloc(w, n, n, (int64_t)n * d, err);
    if (rc != SDSINF_OK)
        return rc;
    float v = 2.0f / (float)d;
    int64_t e = 0;
    for (int32_t i = 0; i < n; i++) {
        int64_t q = perm[i];
        int p = 0;
        while (p < d && off[p] <= q)
            p++;
        for (int t = p - 1; t >= 0; t--)
            w->col[e++] = (uint32_t)(q - off[t]);
        for (int t = d - 1; t >= p; t--)
            w->col[e++] = (uint32_t)(q - off[t] + n);
        w->rowptr[i + 1] = e;
    }
    for (int64_t k = 0; k < e; k++)
        w->val[k] = v;
    return SDSINF_OK;
}

/* log2(n) for n >= 1 by repeated squaring: only multiplications and exact
 * additions, so the same on every IEEE platform (unlike libm's log2). */
static double log2_exact(int32_t n)
{
    int e = 0;
    while (e < 31 && ((int64_t)1 << (e + 1)) <= n)
        e++;
    double y = (double)n / (double)((int64_t)1 << e), frac = 0, bit = 0.5;
    for (int i = 0; i < 52; i++, bit /= 2) {
        y = y * y;
        if (y >= 2) {
            y /= 2;
            frac += bit;
        }
    }
    return e + frac;
}

/* The GraphChallenge bias, interpolated in log2(N) between its sizes. */
static float gen_bias(int32_t n)
{
    float b;
    if (sdsinf_default_bias(n, &b) == SDSINF_OK)
        return b;
    double x = log2_exact(n);
    if (x <= 10)
        return -0.3f;
    if (x >= 16)
        return -0.45f;
    return (float)-(0.3 + (x - 10) / 40); /* no multiply-add to contract */
}

int sdsinf_generate_model(const sdsinf_gen_opts *o, sdsinf_model **model,
                          sdsinf_err *err)
{
    int rc;
    sdsinf_csr *w = NULL;
    float *bias = NULL;
    uint32_t *perm = NULL;
    int64_t off[DEGREE];
    if ((rc = check_opts(o, err)) != SDSINF_OK)
        return rc;
    if (o->layers < 1)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "a generated network needs at least 1 layer "
                            "(got %d)", o->layers);
    int32_t n = o->neurons, L = o->layers;
    int stages = block_stages(n);
    w = sdsinf__mallocarray((size_t)L, sizeof *w);
    if (w) /* zeroed layers free as nothing */
        memset(w, 0, (size_t)L * sizeof *w);
    bias = sdsinf__mallocarray((size_t)L, sizeof *bias);
    perm = sdsinf__mallocarray((size_t)n, sizeof *perm);
    if (!w || !bias || !perm) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM,
                          "no memory for a %d-layer network of %d neurons", L,
                          n);
        goto done;
    }
    float b = gen_bias(n);
    for (int32_t l = 0; l < L; l++) {
        bias[l] = b;
        if (l % stages == 0)
            block_perm(o->seed, l / stages, n, perm);
        int d = stage_offsets(n, l % stages, off);
        if ((rc = build_layer(n, perm, off, d, &w[l], err)) != SDSINF_OK)
            goto done;
    }
    rc = sdsinf_model_from_layers(n, L, w, bias, NULL, 32.0f, model, err);
    w = NULL; /* the model took the layers, even on failure */
done:
    for (int32_t l = 0; w && l < L; l++)
        sdsinf_csr_free(&w[l]);
    sdsinf__free(w);
    sdsinf__free(bias);
    sdsinf__free(perm);
    return rc;
}

/* ---- The images --------------------------------------------------------- */

#define FP 256 /* fixed point: 1/256 of a pixel */

/* cos(2 pi k / 16) * 4096; sin is COS16[(k + 12) % 16]. */
static const int64_t COS16[16] = {4096,  3784,  2896,  1567, 0,    -1567,
                                  -2896, -3784, -4096, -3784, -2896, -1567,
                                  0,     1567,  2896,  3784};

/* Floor division by b > 0 (C's / truncates toward zero). */
static int64_t fdiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return q * b > a ? q - 1 : q;
}

static int64_t imax(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t imin(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t iabs(int64_t a)
{
    return a < 0 ? -a : a;
}

/* floor(sqrt(x)) by Newton's method from above. */
static int64_t isqrt64(int64_t x)
{
    if (x <= 0)
        return 0;
    uint64_t r = (uint64_t)x, y = (r + 1) / 2;
    while (y < r) {
        r = y;
        y = (r + (uint64_t)x / r) / 2;
    }
    return (int64_t)r;
}

/* One image being drawn: the lit features, unordered, and a mark per
 * feature so each is listed once. */
typedef struct canvas {
    int32_t n;
    int64_t side;        /* grid side S, in pixels */
    unsigned char *mark; /* n */
    uint32_t *px;        /* n: the lit features */
    int64_t npx;
} canvas;

static void light(canvas *c, int64_t f)
{
    if (f < c->n && !c->mark[f]) {
        c->mark[f] = 1;
        c->px[c->npx++] = (uint32_t)f;
    }
}

static void put(canvas *c, int64_t x, int64_t y)
{
    if (x >= 0 && y >= 0 && x < c->side && y < c->side)
        light(c, y * c->side + x);
}

/* Lights the pixels whose centres lie within r of (cx, cy). */
static void disc(canvas *c, int64_t cx, int64_t cy, int64_t r)
{
    int64_t y0 = imax(0, fdiv(cy - r, FP)), y1 = imin(c->side - 1,
                                                      fdiv(cy + r, FP));
    int64_t x0 = imax(0, fdiv(cx - r, FP)), x1 = imin(c->side - 1,
                                                      fdiv(cx + r, FP));
    for (int64_t y = y0; y <= y1; y++) {
        int64_t dy = y * FP + FP / 2 - cy;
        for (int64_t x = x0; x <= x1; x++) {
            int64_t dx = x * FP + FP / 2 - cx;
            if (dx * dx + dy * dy <= r * r)
                put(c, x, y);
        }
    }
}

/* Discs along a path are stamped every `step`: dense enough to be solid. */
static int64_t stamp_step(int64_t r)
{
    return imax(FP / 4, r / 2);
}

static int64_t lerp(int64_t a, int64_t b, int64_t t, int64_t n)
{
    return a + fdiv((b - a) * t, n);
}

static void segment(canvas *c, int64_t ax, int64_t ay, int64_t bx, int64_t by,
                    int64_t r)
{
    int64_t n = imax(iabs(bx - ax), iabs(by - ay)) / stamp_step(r) + 1;
    for (int64_t t = 0; t <= n; t++)
        disc(c, lerp(ax, bx, t, n), lerp(ay, by, t, n), r);
}

/* A quadratic Bezier stroke, by de Casteljau at each step. */
static void bezier(canvas *c, const int64_t *p, int64_t r)
{
    int64_t len = imax(iabs(p[2] - p[0]), iabs(p[3] - p[1])) +
                  imax(iabs(p[4] - p[2]), iabs(p[5] - p[3]));
    int64_t n = len / stamp_step(r) + 1;
    for (int64_t t = 0; t <= n; t++) {
        int64_t ax = lerp(p[0], p[2], t, n), ay = lerp(p[1], p[3], t, n);
        int64_t bx = lerp(p[2], p[4], t, n), by = lerp(p[3], p[5], t, n);
        disc(c, lerp(ax, bx, t, n), lerp(ay, by, t, n), r);
    }
}

/* An ellipse outline, as a 16-gon. */
static void ring(canvas *c, int64_t cx, int64_t cy, int64_t rx, int64_t ry,
                 int64_t r)
{
    for (int k = 0; k < 16; k++) {
        int k1 = (k + 1) % 16;
        segment(c, cx + fdiv(rx * COS16[k], 4096),
                cy + fdiv(ry * COS16[(k + 12) % 16], 4096),
                cx + fdiv(rx * COS16[k1], 4096),
                cy + fdiv(ry * COS16[(k1 + 12) % 16], 4096), r);
    }
}

/* A filled ellipse, by rows. */
static void blob(canvas *c, int64_t cx, int64_t cy, int64_t rx, int64_t ry)
{
    if (rx <= 0 || ry <= 0)
        return;
    int64_t y0 = imax(0, fdiv(cy - ry, FP)), y1 = imin(c->side - 1,
                                                       fdiv(cy + ry, FP));
    for (int64_t y = y0; y <= y1; y++) {
        int64_t dy = y * FP + FP / 2 - cy;
        if (iabs(dy) > ry)
            continue;
        int64_t hw = isqrt64(ry * ry - dy * dy) * rx / ry;
        int64_t x0 = imax(0, fdiv(cx - hw, FP)), x1 = imin(c->side - 1,
                                                           fdiv(cx + hw, FP));
        for (int64_t x = x0; x <= x1; x++)
            if (iabs(x * FP + FP / 2 - cx) <= hw)
                put(c, x, y);
    }
}

/* Draws image `index`: one to three shapes in a jittered box.  Every draw
 * from the stream is its own statement, so the order is fixed. */
static void draw_image(canvas *c, uint64_t seed, int64_t index)
{
    rng g;
    rng_init(&g, seed, TAG_IMAGE, (uint64_t)index);
    int64_t side = c->side * FP, jit = side / 12;
    int64_t box = side * rng_range(&g, 60, 80) / 100, half = box / 2;
    int64_t cx = side / 2 + rng_range(&g, -jit, jit);
    int64_t cy = side / 2 + rng_range(&g, -jit, jit);
    int64_t r, floor_r;
    if (rng_below(&g, 100) < 20) { /* bold */
        r = side * rng_range(&g, 300, 500) / 3200;
        floor_r = FP * rng_range(&g, 100, 150) / 100;
    } else {
        r = side * rng_range(&g, 70, 160) / 3200;
        floor_r = FP * rng_range(&g, 50, 80) / 100;
    }
    r = imax(r, floor_r);
    int shapes = 1 + (int)rng_below(&g, 3);
    for (int s = 0; s < shapes; s++) {
        int64_t kind = (int64_t)rng_below(&g, 100), p[6];
        for (int k = 0; k < 6; k += 2) { /* 3 points; a centre uses one */
            p[k] = cx - half + rng_range(&g, 0, box);
            p[k + 1] = cy - half + rng_range(&g, 0, box);
            if (kind < 35)
                break;
        }
        if (kind < 25) {
            int64_t rx = box / 8 + rng_range(&g, 0, box / 4);
            int64_t ry = box / 8 + rng_range(&g, 0, box / 3);
            ring(c, p[0], p[1], rx, ry, r);
        } else if (kind < 35) {
            int64_t rx = box / 10 + rng_range(&g, 0, box / 5);
            int64_t ry = box / 10 + rng_range(&g, 0, box / 4);
            blob(c, p[0], p[1], rx, ry);
        } else {
            bezier(c, p, r);
        }
    }
    if (c->npx == 0) /* never an empty image: the file's count is its max */
        light(c, imin(c->n - 1, c->side / 2 * c->side + c->side / 2));
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Appends the canvas' features, ascending, to the growing column list. */
static int take_pixels(canvas *c, uint32_t **col, int64_t *len, int64_t *cap)
{
    qsort(c->px, (size_t)c->npx, sizeof *c->px, cmp_u32);
    if (*len + c->npx > *cap) {
        int64_t ncap = *cap ? *cap : 4096;
        while (ncap < *len + c->npx)
            ncap *= 2;
        uint32_t *p = sdsinf__realloc(*col, (size_t)ncap * sizeof *p);
        if (!p)
            return 0;
        *col = p;
        *cap = ncap;
    }
    for (int64_t k = 0; k < c->npx; k++) {
        (*col)[(*len)++] = c->px[k];
        c->mark[c->px[k]] = 0;
    }
    c->npx = 0;
    return 1;
}

int sdsinf_generate_images(const sdsinf_gen_opts *o, sdsinf_csr *images,
                           sdsinf_err *err)
{
    int rc;
    canvas c = {0};
    int64_t *rowptr = NULL, len = 0, cap = 0;
    uint32_t *col = NULL;
    sdsinf_csr m = {0};
    if ((rc = check_opts(o, err)) != SDSINF_OK)
        return rc;
    int64_t count = o->images;
    if (count < 0 || (uint64_t)count >= SIZE_MAX / sizeof *rowptr)
        return sdsinf__fail(err, SDSINF_EINVAL, "bad image count %lld",
                            (long long)count);
    c.n = o->neurons;
    c.side = isqrt64(c.n);
    if (c.side * c.side < c.n)
        c.side++;
    c.mark = sdsinf__calloc((size_t)c.n, sizeof *c.mark);
    c.px = sdsinf__mallocarray((size_t)c.n, sizeof *c.px);
    rowptr = sdsinf__mallocarray((size_t)count + 1, sizeof *rowptr);
    if (!c.mark || !c.px || !rowptr)
        goto nomem;
    rowptr[0] = 0;
    for (int64_t i = 0; i < count; i++) {
        draw_image(&c, o->seed, i);
        if (!take_pixels(&c, &col, &len, &cap))
            goto nomem;
        rowptr[i + 1] = len;
    }
    if ((rc = sdsinf_csr_alloc(&m, count, c.n, len, err)) != SDSINF_OK)
        goto done;
    memcpy(m.rowptr, rowptr, ((size_t)count + 1) * sizeof *rowptr);
    if (len)
        memcpy(m.col, col, (size_t)len * sizeof *col);
    for (int64_t k = 0; k < len; k++)
        m.val[k] = 1.0f;
    *images = m;
    memset(&m, 0, sizeof m);
    goto done;
nomem:
    rc = sdsinf__fail(err, SDSINF_ENOMEM,
                      "no memory for %lld images of %d features",
                      (long long)count, c.n);
done:
    sdsinf_csr_free(&m);
    sdsinf__free(c.mark);
    sdsinf__free(c.px);
    sdsinf__free(rowptr);
    sdsinf__free(col);
    return rc;
}

void sdsinf_generate_mem(const sdsinf_gen_opts *o, sdsinf_mem_sizes *s)
{
    double n = o->neurons, degree = n < DEGREE ? n : DEGREE;
    /* strokes light about one pixel in seven (14% at 1024 and 4096) */
    double w = n * o->layers * degree, e = (double)o->images * (n / 7 + 1);
    s->neurons = o->neurons;
    s->layers = o->layers;
    s->weights = w < 9e18 ? (int64_t)w : INT64_MAX; /* sizes past int64 */
    s->images = o->images;
    s->image_entries = e < 9e18 ? (int64_t)e : INT64_MAX;
}
