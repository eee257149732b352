/* test_run.c - a distributed run on threads equals single-process inference
 * bit for bit, for any worker count, plan method, batch size and codec. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    sdsinf_model *m;
    sdsinf_csr images;
    sdsinf_result single;
} fixture;

static void make_fixture(fixture *f, int32_t N, int32_t L, int64_t M)
{
    sdsinf_gen_opts g;
    sdsinf_gen_opts_init(&g);
    g.neurons = N;
    g.layers = L;
    g.images = M;
    g.seed = 11;
    assert_int_equal(sdsinf_generate_model(&g, &f->m, NULL), SDSINF_OK);
    assert_int_equal(sdsinf_generate_images(&g, &f->images, NULL), SDSINF_OK);
    assert_int_equal(sdsinf_infer(f->m, &f->images, NULL, &f->single, NULL),
                     SDSINF_OK);
}

static void free_fixture(fixture *f)
{
    sdsinf_model_free(f->m);
    sdsinf_csr_free(&f->images);
    sdsinf_result_free(&f->single);
}

static void run_and_compare(fixture *f, int W, const char *method,
                            int64_t batch, const char *codec)
{
    sdsinf_partition_opts po;
    sdsinf_plan *p;
    sdsinf_err err;
    sdsinf_partition_opts_init(&po);
    po.workers = W;
    po.method = method;
    assert_int_equal(sdsinf_partition(f->m, &po, &p, &err), SDSINF_OK);
    sdsinf_run_opts ro;
    sdsinf_run_opts_init(&ro);
    ro.batch_size = batch;
    ro.codec = codec;
    ro.timeout_ms = 20000;
    sdsinf_result r;
    sdsinf_run_stats st;
    int rc = sdsinf_run(f->m, p, &f->images, &ro, &r, &st, &err);
    if (rc != SDSINF_OK)
        fail_msg("W=%d %s: %s", W, method, err.msg);
    assert_int_equal(r.images, f->single.images);
    assert_memory_equal(r.argmax, f->single.argmax,
                        (size_t)r.images * sizeof *r.argmax);
    assert_memory_equal(r.max, f->single.max, (size_t)r.images * sizeof *r.max);
    if (W > 1)
        assert_true(st.messages_sent > 0);
    sdsinf_result_free(&r);
    sdsinf_plan_free(p);
}

static void test_worker_counts(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, 256, 10, 120);
    const int W[] = {1, 2, 3, 8, 20};
    for (size_t i = 0; i < sizeof W / sizeof *W; i++)
        run_and_compare(&f, W[i], "hypergraph", 0, NULL);
    free_fixture(&f);
}

static void test_methods_batches_codecs(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, 128, 8, 90);
    run_and_compare(&f, 4, "block", 25, "raw");
    run_and_compare(&f, 4, "random", 7, "zstd");
    run_and_compare(&f, 5, "block", 0, "zstd");
    free_fixture(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_counts),
        cmocka_unit_test(test_methods_batches_codecs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
