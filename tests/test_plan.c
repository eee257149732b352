/* test_plan.c - partition plans: the target lists are exactly what the
 * weights need, plans survive saving, bad plans are refused, and the
 * SDS-Inf layout round-trips. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sdsinf_model *small_model(int32_t N, int32_t L)
{
    sdsinf_gen_opts g;
    sdsinf_model *m;
    sdsinf_gen_opts_init(&g);
    g.neurons = N;
    g.layers = L;
    g.seed = 7;
    assert_int_equal(sdsinf_generate_model(&g, &m, NULL), SDSINF_OK);
    return m;
}

static sdsinf_plan *make_plan(const sdsinf_model *m, int W, const char *method)
{
    sdsinf_partition_opts o;
    sdsinf_plan *p = NULL;
    sdsinf_err err;
    sdsinf_partition_opts_init(&o);
    o.workers = W;
    o.method = method;
    o.seed = 3;
    int rc = sdsinf_partition(m, &o, &p, &err);
    if (rc != SDSINF_OK)
        fail_msg("%s", err.msg);
    return p;
}

/* Brute force: for every layer and row, the set of workers owning an
 * output the row feeds, minus the row's owner, equals the plan's list; and
 * the sum is the reported volume. */
static void check_targets(const sdsinf_model *m, const sdsinf_plan *p, int W)
{
    sdsinf_plan_stats st;
    sdsinf_plan_get_stats(p, &st);
    int64_t total = 0;
    for (int32_t l = 1; l <= m->layers; l++) {
        const sdsinf_csr *w = &m->layer[l - 1].w;
        const uint16_t *in = sdsinf_plan_owner(p, l - 1);
        const uint16_t *out = sdsinf_plan_owner(p, l);
        int64_t layer_pairs = 0;
        for (int32_t k = 0; k < m->neurons; k++) {
            char need[1024] = {0};
            for (int64_t e = w->rowptr[k]; e < w->rowptr[k + 1]; e++)
                need[out[w->col[e]]] = 1;
            need[in[k]] = 0; /* nobody sends to itself */
            const uint16_t *t;
            int64_t n, i = 0;
            sdsinf_plan_targets(p, l, k, &t, &n);
            for (int x = 0; x < W; x++)
                if (need[x]) {
                    assert_true(i < n);
                    assert_int_equal(t[i], x); /* ascending, exact */
                    i++;
                }
            assert_int_equal(i, n);
            layer_pairs += n;
        }
        assert_int_equal(layer_pairs, st.pairs_per_layer[l - 1]);
        total += layer_pairs;
    }
    assert_int_equal(total, st.row_target_pairs);
}

static void test_targets_exact(void **state)
{
    (void)state;
    sdsinf_model *m = small_model(256, 8);
    const char *methods[] = {"block", "random", "hypergraph"};
    const int workers[] = {1, 2, 3, 8, 20};
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 5; j++) {
            sdsinf_plan *p = make_plan(m, workers[j], methods[i]);
            check_targets(m, p, workers[j]);
            sdsinf_plan_stats st;
            sdsinf_plan_get_stats(p, &st);
            if (workers[j] == 1)
                assert_int_equal(st.row_target_pairs, 0);
            sdsinf_plan_free(p);
        }
    sdsinf_model_free(m);
}

/* The same exactness on the real network (its first 12 layers). */
static void test_targets_exact_real(void **state)
{
    (void)state;
    const char *data = tu_data_dir();
    char dir[4096];
    if (!data) {
        print_message("skipped: the shared GraphChallenge data is absent\n");
        skip();
    }
    snprintf(dir, sizeof dir, "%s/graphchallenge/neuron1024", data);
    sdsinf_model_opts mo;
    sdsinf_model *m;
    sdsinf_model_opts_init(&mo);
    mo.layers = 12;
    assert_int_equal(sdsinf_model_load(dir, &mo, &m, NULL), SDSINF_OK);
    const char *methods[] = {"block", "hypergraph"};
    for (int i = 0; i < 2; i++) {
        sdsinf_plan *p = make_plan(m, 8, methods[i]);
        check_targets(m, p, 8);
        sdsinf_plan_free(p);
    }
    sdsinf_model_free(m);
}

static void test_block_volume(void **state)
{
    (void)state;
    /* a GraphChallenge-like 1024 network: blocks need 7 targets per row */
    sdsinf_model *m = small_model(1024, 6);
    sdsinf_plan *p = make_plan(m, 8, "block");
    sdsinf_plan_stats st;
    sdsinf_plan_get_stats(p, &st);
    assert_true(st.imbalance < 1e-9);
    assert_true(st.row_target_pairs > 0);
    sdsinf_plan_free(p);
    sdsinf_model_free(m);
}

static void test_bad_requests(void **state)
{
    (void)state;
    sdsinf_model *m = small_model(16, 2);
    sdsinf_partition_opts o;
    sdsinf_plan *p = NULL;
    sdsinf_err err;
    sdsinf_partition_opts_init(&o);
    o.workers = 17;
    o.method = "block";
    assert_int_equal(sdsinf_partition(m, &o, &p, &err), SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "at most 16 workers"));
    o.workers = 0;
    assert_int_equal(sdsinf_partition(m, &o, &p, &err), SDSINF_EINVAL);
    o.workers = 2;
    o.method = "metis";
    assert_int_equal(sdsinf_partition(m, &o, &p, &err), SDSINF_EINVAL);
    assert_null(p);
    sdsinf_model_free(m);
}

static void test_save_load(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[8192];
    sdsinf_model *m = small_model(128, 5), *other = small_model(64, 5);
    sdsinf_plan *p = make_plan(m, 4, "random"), *q = NULL;
    sdsinf_err err;
    assert_int_equal(sdsinf_plan_save(p, m, dir, &err), SDSINF_OK);
    assert_int_equal(sdsinf_plan_load(dir, m, &q, &err), SDSINF_OK);
    for (int32_t s = 0; s <= 5; s++)
        assert_memory_equal(sdsinf_plan_owner(p, s), sdsinf_plan_owner(q, s),
                            128 * sizeof(uint16_t));
    check_targets(m, q, 4);
    sdsinf_plan_free(q);
    q = NULL;
    /* the shard of worker 1 holds exactly the columns it owns */
    snprintf(path, sizeof path, "%s/shard-1.sdsinf", dir);
    sdsinf_model *shard;
    assert_int_equal(sdsinf_model_load(path, NULL, &shard, &err), SDSINF_OK);
    for (int32_t l = 0; l < 5; l++) {
        const uint16_t *own = sdsinf_plan_owner(p, l + 1);
        for (int64_t c = 0; c < 128; c++) {
            int64_t want = own[c] == 1 ? m->layer[l].wt.rowptr[c + 1] -
                                             m->layer[l].wt.rowptr[c]
                                       : 0;
            assert_int_equal(shard->layer[l].wt.rowptr[c + 1] -
                                 shard->layer[l].wt.rowptr[c],
                             want);
        }
    }
    sdsinf_model_free(shard);
    /* another model */
    assert_int_equal(sdsinf_plan_load(dir, other, &q, &err), SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "another model"));
    /* damaged and truncated */
    snprintf(path, sizeof path, "%s/plan.bin", dir);
    FILE *f = fopen(path, "r+b");
    fseek(f, 200, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, 200, SEEK_SET);
    fputc(ch ^ 0x10, f);
    fclose(f);
    assert_int_equal(sdsinf_plan_load(dir, m, &q, &err), SDSINF_ECORRUPT);
    assert_int_equal(truncate(path, 300), 0);
    assert_int_equal(sdsinf_plan_load(dir, m, &q, &err), SDSINF_ECORRUPT);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_null(q);
    sdsinf_plan_free(p);
    sdsinf_model_free(m);
    sdsinf_model_free(other);
    tu_rmdir(dir);
    free(dir);
}

static void test_legacy_round_trip(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    sdsinf_model *m = small_model(256, 7), *m2 = NULL;
    sdsinf_gen_opts g;
    sdsinf_csr images, im2 = {0};
    sdsinf_gen_opts_init(&g);
    g.neurons = 256;
    g.images = 50;
    assert_int_equal(sdsinf_generate_images(&g, &images, NULL), SDSINF_OK);
    sdsinf_plan *p = make_plan(m, 6, "random"), *p2 = NULL;
    sdsinf_err err;
    assert_int_equal(sdsinf_legacy_save(m, p, &images, dir, &err), SDSINF_OK);
    sdsinf_model_opts mo;
    sdsinf_model_opts_init(&mo);
    mo.neurons = 256;
    mo.bias = "-0.3";
    assert_int_equal(sdsinf_legacy_load(dir, NULL, &mo, &m2, &p2, &im2, NULL, &err),
                     SDSINF_OK);
    for (int32_t s = 0; s <= 7; s++)
        assert_memory_equal(sdsinf_plan_owner(p, s), sdsinf_plan_owner(p2, s),
                            256 * sizeof(uint16_t));
    for (int32_t l = 0; l < 7; l++) {
        int64_t nnz = sdsinf_csr_nnz(&m->layer[l].w);
        assert_int_equal(nnz, sdsinf_csr_nnz(&m2->layer[l].w));
        assert_memory_equal(m->layer[l].w.col, m2->layer[l].w.col, nnz * 4);
        assert_memory_equal(m->layer[l].w.val, m2->layer[l].w.val, nnz * 4);
    }
    assert_int_equal(sdsinf_csr_nnz(&images), sdsinf_csr_nnz(&im2));
    sdsinf_plan_free(p2);
    sdsinf_model_free(m2);
    sdsinf_csr_free(&im2);
    p2 = NULL;
    m2 = NULL;
    /* a conn file naming another owner is refused, naming file and line */
    char *conn = tu_write(dir, "conn.3", "0 5 1\n");
    assert_int_not_equal(sdsinf_legacy_load(dir, NULL, &mo, &m2, &p2, NULL, NULL, &err),
                         SDSINF_OK);
    assert_non_null(strstr(err.msg, "conn.3:1:"));
    assert_null(m2);
    free(conn);
    sdsinf_plan_free(p);
    sdsinf_model_free(m);
    sdsinf_csr_free(&images);
    tu_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_targets_exact),
        cmocka_unit_test(test_targets_exact_real),
        cmocka_unit_test(test_block_volume),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_legacy_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
