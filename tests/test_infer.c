/* test_infer.c - whole-model inference (blocks kept dense or sparse across
 * layers, regrouped as rows die) equals running sdsinf_layer_forward layer
 * by layer, bit for bit, for every batch size and thread count. */
#include "testutil.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* A random N x N x L model: each output takes `deg` random inputs. */
static sdsinf_model *random_model(int32_t N, int32_t L, int deg, float bias,
                                  int with_vec)
{
    sdsinf_csr *w = sdsinf__mallocarray((size_t)L, sizeof *w);
    float *b = malloc((size_t)L * sizeof *b);
    float *vec = with_vec ? malloc((size_t)L * N * sizeof *vec) : NULL;
    float *d = calloc((size_t)N * N, sizeof *d);
    assert_non_null(w);
    for (int32_t l = 0; l < L; l++) {
        memset(d, 0, (size_t)N * N * sizeof *d);
        for (int32_t c = 0; c < N; c++)
            for (int k = 0; k < deg; k++)
                d[(size_t)(urand() * N) * N + c] = (float)(urand() * 0.5 - 0.1);
        tu_csr_dense(&w[l], N, N, d);
        b[l] = bias;
        for (int32_t n = 0; vec && n < N; n++)
            vec[(size_t)l * N + n] = (float)(urand() * 0.4 - 0.3);
    }
    sdsinf_model *m;
    assert_int_equal(sdsinf_model_from_layers(N, L, w, b, vec, 8.0f, &m, NULL),
                     SDSINF_OK);
    free(b);
    free(vec);
    free(d);
    return m;
}

/* Images: a third dense, a third sparse, some empty. */
static void random_images(sdsinf_csr *im, int64_t M, int32_t N)
{
    float *d = calloc((size_t)(M * N), sizeof *d);
    for (int64_t s = 0; s < M; s++) {
        double dens = s % 7 == 3 ? 0 : s % 3 == 0 ? 0.6 : 0.08;
        for (int32_t k = 0; k < N; k++)
            if (urand() < dens)
                d[s * N + k] = (float)(urand() * 3);
    }
    tu_csr_dense(im, M, N, d);
    free(d);
}

/* The same by sdsinf_layer_forward, layer after layer. */
static void layerwise(const sdsinf_model *m, const sdsinf_csr *im,
                      int32_t *argmax, float *max)
{
    sdsinf_csr y = {0}, next = {0};
    assert_int_equal(sdsinf_csr_alloc(&y, im->nrows, im->ncols,
                                      sdsinf_csr_nnz(im), NULL), SDSINF_OK);
    memcpy(y.rowptr, im->rowptr, (size_t)(im->nrows + 1) * sizeof *y.rowptr);
    memcpy(y.col, im->col, (size_t)sdsinf_csr_nnz(im) * sizeof *y.col);
    memcpy(y.val, im->val, (size_t)sdsinf_csr_nnz(im) * sizeof *y.val);
    for (int32_t l = 0; l < m->layers; l++) {
        assert_int_equal(sdsinf_layer_forward(NULL, &m->layer[l], m->ymax, &y,
                                              &next, NULL), SDSINF_OK);
        sdsinf_csr t = y;
        y = next;
        next = t;
    }
    for (int64_t r = 0; r < y.nrows; r++) {
        argmax[r] = -1;
        max[r] = 0;
        for (int64_t k = y.rowptr[r]; k < y.rowptr[r + 1]; k++)
            if (y.val[k] > max[r]) {
                max[r] = y.val[k];
                argmax[r] = (int32_t)y.col[k];
            }
    }
    sdsinf_csr_free(&y);
    sdsinf_csr_free(&next);
}

static void check_images(sdsinf_model *m, const sdsinf_csr *imp)
{
    const sdsinf_csr im = *imp;
    int64_t M = im.nrows;
    int32_t *arg = malloc((size_t)M * sizeof *arg);
    float *max = malloc((size_t)M * sizeof *max);
    layerwise(m, imp, arg, max);
    int64_t alive = 0;
    for (int64_t i = 0; i < M; i++)
        alive += arg[i] >= 0;
    assert_true(alive > 0 && alive < M); /* a case worth checking */
    const int64_t batches[] = {0, 1, 7, 16, 50};
    for (size_t b = 0; b < sizeof batches / sizeof *batches; b++)
        for (int threads = 1; threads <= 3; threads += 2) {
            sdsinf_infer_opts o;
            sdsinf_result r;
            sdsinf_infer_opts_init(&o);
            o.batch_size = batches[b];
            o.threads = threads;
            assert_int_equal(sdsinf_infer(m, imp, &o, &r, NULL), SDSINF_OK);
            assert_int_equal(r.images, M);
            assert_memory_equal(r.argmax, arg, (size_t)M * sizeof *arg);
            assert_memory_equal(r.max, max, (size_t)M * sizeof *max);
            sdsinf_result_free(&r);
        }
    free(arg);
    free(max);
}

static void check_model(sdsinf_model *m, int64_t M)
{
    sdsinf_csr im;
    random_images(&im, M, m->neurons);
    check_images(m, &im);
    sdsinf_csr_free(&im);
}

static void test_negative_bias(void **state)
{
    (void)state;
    rng = 0x9E3779B97F4A7C15ull;
    sdsinf_model *m = random_model(200, 12, 24, -0.25f, 0);
    check_model(m, 300);
    sdsinf_model_free(m);
}

static void test_positive_and_vector_bias(void **state)
{
    (void)state;
    rng = 0x9E3779B97F4A7C15ull;
    sdsinf_model *m = random_model(150, 8, 6, 0.05f, 0);
    check_model(m, 120);
    sdsinf_model_free(m);
    m = random_model(97, 9, 20, 0, 1);
    check_model(m, 200);
    sdsinf_model_free(m);
}

/* Dense blocks thin out to a few outputs (and go sparse), then sparse
 * blocks lose rows (and regroup), then rows grow dense again. */
static void test_blocks_change_form(void **state)
{
    (void)state;
    rng = 0x9E3779B97F4A7C15ull;
    const int32_t N = 512, L = 7;
    sdsinf_model *m = random_model(N, L, 40, 0, 1);
    float *vec = m->store_ ? (float *)m->layer[0].bias_vec : NULL;
    assert_non_null(vec);
    for (int32_t l = 0; l < L; l++)
        for (int32_t n = 0; n < N; n++) {
            float b = -0.05f;
            if (l == 2) /* only outputs 0-3 can survive this layer */
                b = n < 4 ? 0.0f : -100.0f;
            if (l == 3) /* rows stay sparse, and some die */
                b = n < 3 ? -0.02f : -100.0f;
            vec[(size_t)l * N + n] = b;
        }
    check_model(m, 400);
    sdsinf_model_free(m);
}

/* Sparse rows stay sparse, and enough die to regroup sparse blocks. */
static void test_sparse_rows_regroup(void **state)
{
    (void)state;
    /* identity layers with bias -0.5: a row's single value drops by 0.5 a
     * layer, so rows die at different layers while every block is sparse */
    const int32_t N = 64, L = 5;
    float *d = calloc((size_t)N * N, sizeof *d);
    sdsinf_csr *w = sdsinf__mallocarray((size_t)L, sizeof *w);
    float bias[5] = {-0.5f, -0.5f, -0.5f, -0.5f, -0.5f};
    for (int32_t k = 0; k < N; k++)
        d[k * N + k] = 1;
    for (int32_t l = 0; l < L; l++)
        tu_csr_dense(&w[l], N, N, d);
    sdsinf_model *m;
    assert_int_equal(sdsinf_model_from_layers(N, L, w, bias, NULL, 32, &m, NULL),
                     SDSINF_OK);
    const int64_t M = 200;
    float *img = calloc((size_t)(M * N), sizeof *img);
    for (int64_t s = 0; s < M; s++)
        img[s * N + s % N] = 0.75f + 0.5f * (float)(s % 7);
    sdsinf_csr im;
    tu_csr_dense(&im, M, N, img);
    check_images(m, &im);
    sdsinf_csr_free(&im);
    sdsinf_model_free(m);
    free(img);
    free(d);
}

static void test_no_images_alive(void **state)
{
    (void)state;
    rng = 0x9E3779B97F4A7C15ull;
    sdsinf_model *m = random_model(64, 3, 8, -0.2f, 0);
    sdsinf_csr im;
    float zero[4 * 64] = {0};
    tu_csr_dense(&im, 4, 64, zero);
    sdsinf_result r;
    assert_int_equal(sdsinf_infer(m, &im, NULL, &r, NULL), SDSINF_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(r.argmax[i], -1);
    sdsinf_result_free(&r);
    sdsinf_csr_free(&im);
    sdsinf_model_free(m);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    rng = 0x9E3779B97F4A7C15ull;
    sdsinf_model *m = random_model(40, 4, 8, -0.1f, 0);
    sdsinf_csr im;
    random_images(&im, 40, 40);
    for (long n = 0;; n++) {
        sdsinf_result r = {0};
        sdsinf_infer_opts o;
        sdsinf_infer_opts_init(&o);
        o.threads = 1;
        o.batch_size = 10;
        sdsinf__fail_alloc_after(n);
        int rc = sdsinf_infer(m, &im, &o, &r, NULL);
        sdsinf__fail_alloc_after(-1);
        sdsinf_result_free(&r);
        if (rc == SDSINF_OK)
            break;
        assert_int_equal(rc, SDSINF_ENOMEM);
        assert_true(n < 100000);
    }
    sdsinf_csr_free(&im);
    sdsinf_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negative_bias),
        cmocka_unit_test(test_positive_and_vector_bias),
        cmocka_unit_test(test_blocks_change_form),
        cmocka_unit_test(test_sparse_rows_regroup),
        cmocka_unit_test(test_no_images_alive),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
