/* test_kernel.c - the fused layer against a plain reference: hand-worked
 * cases, edge cases, random shapes, and bit-identical results across the
 * C and vector copies, the sparse and dense paths, and thread counts. */
#include "testutil.h"

#include "kernel/layer_rows.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A layer from a dense K x C weight array, with its transpose and plan. */
typedef struct test_layer {
    sdsinf_layer l;
    sdsinf__layer_plan plan;
} test_layer;

static void layer_make(test_layer *t, int64_t K, int64_t C, const float *w,
                       float bias, const float *bias_vec)
{
    memset(t, 0, sizeof *t);
    tu_csr_dense(&t->l.w, K, C, w);
    assert_int_equal(sdsinf_csr_transpose(&t->l.w, &t->l.wt, NULL), SDSINF_OK);
    assert_int_equal(sdsinf__layer_plan_build(&t->l.wt, NULL, &t->plan, NULL),
                     SDSINF_OK);
    t->l.plan_ = &t->plan;
    t->l.bias = bias;
    t->l.bias_vec = bias_vec;
}

static void layer_free(test_layer *t)
{
    sdsinf_csr_free(&t->l.w);
    sdsinf_csr_free(&t->l.wt);
    sdsinf__layer_plan_free(&t->plan);
}

/* Reference: structure = any product term; value = sum in input order. */
static void reference(const float *y, int64_t B, int64_t K, const float *w,
                      int64_t C, float bias, const float *bias_vec,
                      float ymax, float *out)
{
    for (int64_t s = 0; s < B; s++)
        for (int64_t c = 0; c < C; c++) {
            float acc = 0;
            int touched = 0;
            for (int64_t k = 0; k < K; k++)
                if (y[s * K + k] != 0 && w[k * C + c] != 0) {
                    acc = fmaf(y[s * K + k], w[k * C + c], acc);
                    touched = 1;
                }
            float v = touched ? acc + (bias_vec ? bias_vec[c] : bias) : 0;
            out[s * C + c] = v > 0 ? (v < ymax ? v : ymax) : 0;
        }
}

/* Dense copy of a CSR, checking its invariants on the way. */
static float *densify(const sdsinf_csr *m)
{
    float *d = calloc((size_t)(m->nrows * m->ncols + 1), sizeof *d);
    assert_non_null(d);
    assert_int_equal(m->rowptr[0], 0);
    for (int64_t r = 0; r < m->nrows; r++)
        for (int64_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++) {
            assert_true(m->col[k] < m->ncols);
            if (k > m->rowptr[r])
                assert_true(m->col[k] > m->col[k - 1]);
            assert_true(m->val[k] > 0); /* zeros are never stored */
            d[r * m->ncols + m->col[k]] = m->val[k];
        }
    return d;
}

static void forward(sdsinf_pool *pool, const test_layer *t, float ymax,
                    int64_t B, int64_t K, const float *y, float **out)
{
    sdsinf_csr ys, o = {0};
    sdsinf_err err;
    tu_csr_dense(&ys, B, K, y);
    assert_int_equal(sdsinf_layer_forward(pool, &t->l, ymax, &ys, &o, &err),
                     SDSINF_OK);
    *out = densify(&o);
    sdsinf_csr_free(&ys);
    sdsinf_csr_free(&o);
}

/* The same through the neuron-major layer (its input the transpose of y),
 * its output turned back sample-major; *ws kept by the caller. */
static void forward_rows(sdsinf_pool *pool, sdsinf__rows_ws **ws,
                         const test_layer *t, float ymax, int64_t B,
                         int64_t K, const float *y, float **out)
{
    sdsinf_csr ys, yt = {0}, ot = {0}, o = {0};
    sdsinf_err err;
    tu_csr_dense(&ys, B, K, y);
    assert_int_equal(sdsinf_csr_transpose(&ys, &yt, NULL), SDSINF_OK);
    const uint32_t **smp = malloc((size_t)(K + 1) * sizeof *smp);
    const float **val = malloc((size_t)(K + 1) * sizeof *val);
    int64_t *n = malloc((size_t)(K + 1) * sizeof *n);
    for (int64_t k = 0; k < K; k++) {
        smp[k] = yt.col + yt.rowptr[k];
        val[k] = yt.val + yt.rowptr[k];
        n[k] = yt.rowptr[k + 1] - yt.rowptr[k];
    }
    assert_int_equal(sdsinf__layer_forward_rows(pool, ws, &t->l, ymax, B, smp,
                                                val, n, NULL, NULL, &ot, &err),
                     SDSINF_OK);
    if (sdsinf__rows_ws_dense(*ws)) /* held: its rows */
        assert_int_equal(sdsinf__rows_ws_rows(*ws, NULL, B, &ot, NULL),
                         SDSINF_OK);
    assert_int_equal(ot.nrows, t->l.w.ncols);
    assert_int_equal(ot.ncols, B);
    assert_int_equal(sdsinf_csr_transpose(&ot, &o, NULL), SDSINF_OK);
    *out = densify(&o); /* also checks each row's samples ascend */
    free(densify(&ot));
    free(smp);
    free(val);
    free(n);
    sdsinf_csr_free(&ys);
    sdsinf_csr_free(&yt);
    sdsinf_csr_free(&ot);
    sdsinf_csr_free(&o);
}

static void test_hand_worked(void **state)
{
    (void)state;
    /* 2 inputs -> 3 outputs; output 2 has no inputs at all */
    const float w[2 * 3] = {1, 2, 0, 3, -5, 0};
    const float y[2 * 2] = {1, 1,   /* z = (4, -3, -)   */
                            0, 20}; /* z = (60, -100, -) */
    test_layer t;
    float *out;
    layer_make(&t, 2, 3, w, -0.5f, NULL);
    forward(NULL, &t, 32, 2, 2, y, &out);
    const float want[6] = {3.5f, 0, 0, 32, 0, 0};
    assert_memory_equal(out, want, sizeof want);
    free(out);
    layer_free(&t);
}

static void test_positive_bias_only_on_structure(void **state)
{
    (void)state;
    const float w[2 * 3] = {1, 0, 0, 0, 1, 0};
    const float y[1 * 2] = {2, 0};
    test_layer t;
    float *out;
    layer_make(&t, 2, 3, w, 0.25f, NULL);
    forward(NULL, &t, 32, 1, 2, y, &out);
    /* output 1 has an input, but it is zero in y: not stored, no bias */
    const float want[3] = {2.25f, 0, 0};
    assert_memory_equal(out, want, sizeof want);
    free(out);
    layer_free(&t);
}

static void test_bias_vector_and_cap(void **state)
{
    (void)state;
    const float w[1 * 4] = {1, 1, 1, 1};
    const float bv[4] = {-1, 0, 1, 100};
    const float y[1] = {2};
    test_layer t;
    float *out;
    layer_make(&t, 1, 4, w, 0, bv);
    forward(NULL, &t, 3, 1, 1, y, &out);
    const float want[4] = {1, 2, 3, 3};
    assert_memory_equal(out, want, sizeof want);
    free(out);
    layer_free(&t);
}

static void test_kills_everything(void **state)
{
    (void)state;
    float w[8 * 8], y[5 * 8];
    for (int i = 0; i < 64; i++)
        w[i] = 0.5f;
    for (int i = 0; i < 40; i++)
        y[i] = 1;
    test_layer t;
    layer_make(&t, 8, 8, w, -1000, NULL);
    sdsinf_csr ys, o = {0};
    tu_csr_dense(&ys, 5, 8, y);
    assert_int_equal(sdsinf_layer_forward(NULL, &t.l, 32, &ys, &o, NULL),
                     SDSINF_OK);
    assert_int_equal(o.nrows, 5);
    assert_int_equal(sdsinf_csr_nnz(&o), 0);
    sdsinf_csr_free(&ys);
    sdsinf_csr_free(&o);
    layer_free(&t);
}

static void test_empty_input_and_empty_rows(void **state)
{
    (void)state;
    const float w[3 * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    const float y[4 * 3] = {0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0};
    test_layer t;
    float *out;
    layer_make(&t, 3, 3, w, 0, NULL);
    forward(NULL, &t, 32, 4, 3, y, &out);
    assert_memory_equal(out, y, sizeof y);
    free(out);
    float zero[3 * 3] = {0};
    forward(NULL, &t, 32, 3, 3, zero, &out);
    assert_memory_equal(out, zero, sizeof zero);
    free(out);
    layer_free(&t);
}

static void test_shape_mismatch(void **state)
{
    (void)state;
    const float w[2 * 2] = {1, 0, 0, 1};
    const float y[3] = {1, 1, 1};
    test_layer t;
    sdsinf_csr ys, o = {0};
    sdsinf_err err;
    layer_make(&t, 2, 2, w, 0, NULL);
    tu_csr_dense(&ys, 1, 3, y);
    assert_int_equal(sdsinf_layer_forward(NULL, &t.l, 32, &ys, &o, &err),
                     SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "3 columns"));
    sdsinf_csr_free(&ys);
    layer_free(&t);
}

/* xorshift for reproducible random data */
static uint64_t rng_state = 88172645463325252ull;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Random layer and activations at the given densities; weights of both
 * signs, a few rows dense (dense path) and many sparse (sparse path). */
static void random_case(int64_t B, int64_t K, int64_t C, double wdens,
                        float **y, float **w)
{
    *y = calloc((size_t)(B * K), sizeof **y);
    *w = calloc((size_t)(K * C), sizeof **w);
    for (int64_t i = 0; i < K * C; i++)
        if (urand() < wdens)
            (*w)[i] = (float)(urand() * 2 - 0.7);
    for (int64_t s = 0; s < B; s++) {
        double d = s % 3 == 0 ? 0.9 : s % 3 == 1 ? 0.05 : 0.0;
        for (int64_t k = 0; k < K; k++)
            if (urand() < d)
                (*y)[s * K + k] = (float)(urand() * 40);
    }
}

static void check_random(int64_t B, int64_t K, int64_t C, float bias)
{
    float *y, *w, *want = malloc((size_t)(B * C + 1) * sizeof *want), *got;
    random_case(B, K, C, 0.3, &y, &w);
    test_layer t;
    layer_make(&t, K, C, w, bias, NULL);
    reference(y, B, K, w, C, bias, NULL, 32, want);
    forward(NULL, &t, 32, B, K, y, &got);
    for (int64_t i = 0; i < B * C; i++)
        assert_true(got[i] == want[i]);
    free(got);
    sdsinf__rows_ws *ws = NULL; /* neuron-major: the same bits */
    forward_rows(NULL, &ws, &t, 32, B, K, y, &got);
    assert_memory_equal(got, want, (size_t)(B * C) * sizeof *got);
    free(got);
    sdsinf__rows_ws_free(ws);
    /* every row alone (sparse path) gives the same bits as in its block */
    for (int64_t s = 0; s < B; s++) {
        forward(NULL, &t, 32, 1, K, y + s * K, &got);
        assert_memory_equal(got, want + s * C, (size_t)C * sizeof *got);
        free(got);
    }
    layer_free(&t);
    free(want);
    free(y);
    free(w);
}

static void test_random_shapes(void **state)
{
    (void)state;
    check_random(1, 1, 1, -0.1f);
    check_random(17, 37, 29, -0.3f);
    check_random(40, 100, 3, 0.2f);
    check_random(33, 5, 130, 0.5f);
    check_random(64, 257, 64, -0.3f);
}

/* The C baseline, the vector copy and any thread count agree bit for bit. */
static void test_paths_agree(void **state)
{
    (void)state;
    const int64_t B = 200, K = 300, C = 300;
    float *y, *w, *base, *other;
    random_case(B, K, C, 0.1, &y, &w);
    test_layer t;
    layer_make(&t, K, C, w, -0.3f, NULL);
    setenv("SDSINF_KERNEL", "c", 1);
    forward(NULL, &t, 32, B, K, y, &base);
    unsetenv("SDSINF_KERNEL");
    for (int threads = 1; threads <= 4; threads++) {
        sdsinf_pool *pool;
        assert_int_equal(sdsinf_pool_create(threads, &pool, NULL), SDSINF_OK);
        sdsinf__rows_ws *ws = NULL;
        for (int rep = 0; rep < 2; rep++) { /* the pool's memory is reused */
            forward(pool, &t, 32, B, K, y, &other);
            assert_memory_equal(base, other, (size_t)(B * C) * sizeof *base);
            free(other);
            forward_rows(pool, &ws, &t, 32, B, K, y, &other);
            assert_memory_equal(base, other, (size_t)(B * C) * sizeof *base);
            free(other);
        }
        sdsinf__rows_ws_free(ws);
        sdsinf_pool_free(pool);
    }
    free(base);
    layer_free(&t);
    free(y);
    free(w);
}

/* Every allocation failing in turn gives ENOMEM, never a crash or leak. */
static void test_allocation_failures(void **state)
{
    (void)state;
    const float w[4 * 4] = {1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1};
    const float y[3 * 4] = {1, 2, 3, 4, 0, 0, 0, 0, 5, 0, 0, 5};
    test_layer t;
    sdsinf_csr ys;
    layer_make(&t, 4, 4, w, -0.5f, NULL);
    tu_csr_dense(&ys, 3, 4, y);
    for (long n = 0;; n++) {
        sdsinf_csr o = {0};
        sdsinf__fail_alloc_after(n);
        int rc = sdsinf_layer_forward(NULL, &t.l, 32, &ys, &o, NULL);
        sdsinf__fail_alloc_after(-1);
        sdsinf_csr_free(&o);
        if (rc == SDSINF_OK)
            break;
        assert_int_equal(rc, SDSINF_ENOMEM);
        assert_true(n < 1000);
    }
    sdsinf_csr yt;
    assert_int_equal(sdsinf_csr_transpose(&ys, &yt, NULL), SDSINF_OK);
    const uint32_t *smp[4];
    const float *val[4];
    int64_t n[4];
    for (int k = 0; k < 4; k++) {
        smp[k] = yt.col + yt.rowptr[k];
        val[k] = yt.val + yt.rowptr[k];
        n[k] = yt.rowptr[k + 1] - yt.rowptr[k];
    }
    for (long f = 0;; f++) { /* the neuron-major layer, its scratch kept */
        sdsinf__rows_ws *ws = NULL;
        sdsinf_csr o = {0};
        sdsinf__fail_alloc_after(f);
        int rc = sdsinf__layer_forward_rows(NULL, &ws, &t.l, 32, 3, smp, val,
                                            n, NULL, NULL, &o, NULL);
        sdsinf__fail_alloc_after(-1);
        sdsinf_csr_free(&o);
        sdsinf__rows_ws_free(ws);
        if (rc == SDSINF_OK)
            break;
        assert_int_equal(rc, SDSINF_ENOMEM);
        assert_true(f < 1000);
    }
    sdsinf_csr_free(&yt);
    sdsinf_csr_free(&ys);
    layer_free(&t);
}

/* Two layers in a row, the second taking its even inputs from the output
 * the first left held and its odd ones as rows from elsewhere (another
 * worker's), which may name samples the first had not: the same bits as
 * the second layer on the whole input, sample-major.  With split, the
 * layer runs in steps: outputs c % 3 == 0 read only even inputs and run
 * first (sdsinf__layer_forward_own), outputs c % 3 == 1 also read the odd
 * inputs below C / 2 and run when those arrive (forward_more), the rest
 * at the end (odd rows at samples held already, input 1 empty; split 2:
 * also at sample 0, which the first layer lacks, so that everything runs
 * again in a new layout). */
static void check_chain(int64_t B, int64_t K, int64_t C, double dens,
                        int threads, int split)
{
    float *y, *w1, *w2, *other, *mid, *want, *got;
    random_case(B, K, C, dens, &y, &w1);
    random_case(B, C, C, dens, &other, &w2);
    if (split == 2)
        memset(y, 0, (size_t)K * sizeof *y);
    uint8_t *only = malloc((size_t)C + 1), *rest = malloc((size_t)C + 1);
    uint8_t *half = malloc((size_t)C + 1);
    for (int64_t c = 0; c < C; c++) {
        only[c] = split && c % 3 == 0;
        half[c] = split && c % 3 == 1;
        rest[c] = !only[c] && !half[c];
        for (int64_t k = 1; (only[c] || half[c]) && k < C; k += 2)
            if (only[c] || k >= C / 2)
                w2[k * C + c] = 0;
    }
    test_layer t1, t2;
    layer_make(&t1, K, C, w1, -0.2f, NULL);
    layer_make(&t2, C, C, w2, -0.2f, NULL);
    sdsinf_pool *pool;
    assert_int_equal(sdsinf_pool_create(threads, &pool, NULL), SDSINF_OK);
    forward(NULL, &t1, 32, B, K, y, &mid);
    for (int64_t s = 0; s < B; s++) /* odd inputs: the other rows (split: */
        for (int64_t k = 1; k < C; k += 2) /* at samples held already) */
            mid[s * C + k] = split ? mid[s * C + k - 1] * 0.5f
                                   : other[(s * 7 % B) * C + k];
    for (int64_t s = 0; split && s < B; s++) /* an empty row: not sent */
        mid[s * C + 1] = 0;
    if (split == 2)
        mid[3] = 0.75f;
    forward(NULL, &t2, 32, B, C, mid, &want);
    sdsinf__rows_ws *ws = NULL;
    forward_rows(pool, &ws, &t1, 32, B, K, y, &got); /* leaves it held */
    free(got);
    sdsinf_csr ms, mt = {0}, ot = {0}, o = {0};
    tu_csr_dense(&ms, B, C, mid);
    assert_int_equal(sdsinf_csr_transpose(&ms, &mt, NULL), SDSINF_OK);
    const uint32_t **smp = calloc((size_t)C + 1, sizeof *smp);
    const float **val = calloc((size_t)C + 1, sizeof *val);
    int64_t *n = calloc((size_t)C + 1, sizeof *n);
    int32_t *own = malloc((size_t)(C + 1) * sizeof *own);
    int held = sdsinf__rows_ws_dense(ws);
    sdsinf__layer_plan p_own, p_half, p_rest;
    assert_int_equal(sdsinf__layer_plan_subset(&t2.l.wt, &t2.plan, only,
                                               &p_own, NULL), SDSINF_OK);
    assert_int_equal(sdsinf__layer_plan_subset(&t2.l.wt, &t2.plan, half,
                                               &p_half, NULL), SDSINF_OK);
    assert_int_equal(sdsinf__layer_plan_subset(&t2.l.wt, &t2.plan, rest,
                                               &p_rest, NULL), SDSINF_OK);
    for (int64_t k = 0; k < C; k++)
        own[k] = held && k % 2 == 0 ? (int32_t)k : -1;
    int early = 0;
    if (held)
        assert_int_equal(sdsinf__layer_forward_own(pool, ws, &t2.l, &p_own,
                                                   32, own, &early, NULL),
                         SDSINF_OK);
    uint32_t *ks = malloc((size_t)C * sizeof *ks);
    int64_t nks = 0;
    for (int64_t k = 0; k < C; k++) {
        if (own[k] >= 0)
            continue;
        smp[k] = mt.col + mt.rowptr[k];
        val[k] = mt.val + mt.rowptr[k];
        n[k] = mt.rowptr[k + 1] - mt.rowptr[k];
        if (k < C / 2 && n[k] > 0) /* empty rows are not sent */
            ks[nks++] = (uint32_t)k;
    }
    if (held)
        assert_int_equal(sdsinf__layer_forward_more(pool, ws, &t2.l, &p_half,
                                                    32, smp, val, n, ks, nks,
                                                    NULL),
                         SDSINF_OK);
    assert_int_equal(sdsinf__layer_forward_rows(pool, &ws, &t2.l, 32, B, smp,
                                                val, n, held ? own : NULL,
                                                &p_rest, &ot, NULL),
                     SDSINF_OK);
    sdsinf__layer_plan_free(&p_own);
    sdsinf__layer_plan_free(&p_half);
    sdsinf__layer_plan_free(&p_rest);
    free(only);
    free(half);
    free(rest);
    free(ks);
    if (sdsinf__rows_ws_dense(ws))
        assert_int_equal(sdsinf__rows_ws_rows(ws, NULL, B, &ot, NULL),
                         SDSINF_OK);
    assert_int_equal(sdsinf_csr_transpose(&ot, &o, NULL), SDSINF_OK);
    got = densify(&o);
    assert_memory_equal(got, want, (size_t)(B * C) * sizeof *got);
    free(got);
    free(smp);
    free(val);
    free(n);
    free(own);
    sdsinf_csr_free(&ms);
    sdsinf_csr_free(&mt);
    sdsinf_csr_free(&ot);
    sdsinf_csr_free(&o);
    sdsinf__rows_ws_free(ws);
    sdsinf_pool_free(pool);
    layer_free(&t1);
    layer_free(&t2);
    free(y);
    free(w1);
    free(w2);
    free(other);
    free(mid);
    free(want);
}

static void test_rows_chain(void **state)
{
    (void)state;
    for (int split = 0; split < 3; split++) {
        check_chain(100, 60, 80, 0.5, 1, split); /* dense: held, layout */
        check_chain(100, 60, 80, 0.5, 3, split); /* kept or not */
        check_chain(37, 200, 50, 0.05, 1, split); /* sparse: rows throughout */
        check_chain(64, 16, 16, 0.9, 2, split);
    }
}

/* One scratch serves layers of different shapes in turn. */
static void test_rows_scratch_reshapes(void **state)
{
    (void)state;
    static const int64_t shape[][3] = {{50, 20, 70}, {9, 300, 5},
                                       {120, 64, 64}, {3, 2, 400}};
    sdsinf__rows_ws *ws = NULL;
    for (int rep = 0; rep < 2; rep++)
        for (size_t i = 0; i < sizeof shape / sizeof *shape; i++) {
            int64_t B = shape[i][0], K = shape[i][1], C = shape[i][2];
            float *y, *w, *a, *b;
            random_case(B, K, C, 0.2, &y, &w);
            test_layer t;
            layer_make(&t, K, C, w, rep ? 0.1f : -0.2f, NULL);
            forward(NULL, &t, 32, B, K, y, &a);
            forward_rows(NULL, &ws, &t, 32, B, K, y, &b);
            assert_memory_equal(a, b, (size_t)(B * C) * sizeof *a);
            free(a);
            free(b);
            layer_free(&t);
            free(y);
            free(w);
        }
    sdsinf__rows_ws_free(ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_worked),
        cmocka_unit_test(test_positive_bias_only_on_structure),
        cmocka_unit_test(test_bias_vector_and_cap),
        cmocka_unit_test(test_kills_everything),
        cmocka_unit_test(test_empty_input_and_empty_rows),
        cmocka_unit_test(test_shape_mismatch),
        cmocka_unit_test(test_random_shapes),
        cmocka_unit_test(test_paths_agree),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_rows_scratch_reshapes),
        cmocka_unit_test(test_rows_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
