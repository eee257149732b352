/* test_bundle.c - the binary model bundle: round trips, partial loads and
 * overrides, and damaged files (truncated, a byte flipped, foreign) that must
 * fail cleanly with the output untouched. */
#include "testutil.h"

#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The bundle layout (bundle.c): a 64-byte header, then 88 bytes a layer. */
#define HEADER_SIZE 64
#define ENTRY_SIZE 88
#define VERSION_OFFSET 8
#define TABLE_SUM_OFFSET 48
#define HEADER_SUM_OFFSET 56
#define ENTRY_OFF 8 /* the array offsets in an entry, 8 bytes each */

enum { N = 40, L = 3 };

typedef struct fixture {
    char *dir, path[4096], damaged[4096];
    sdsinf_model *src; /* bias vectors, to cover every array */
    unsigned char *bytes;
    size_t size;
} fixture;

static unsigned char *read_bytes(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    unsigned char *b = malloc((size_t)n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* A model whose every weight, bias and row length differs. */
static sdsinf_model *make_model(void)
{
    sdsinf_csr *w = calloc(L, sizeof *w);
    float *d = calloc((size_t)N * N, sizeof *d), vec[L * N];
    sdsinf_model *m = NULL;
    sdsinf_err err = {0};
    assert_non_null(w);
    assert_non_null(d);
    for (int l = 0; l < L; l++) {
        memset(d, 0, (size_t)N * N * sizeof *d);
        for (int r = 0; r < N; r++)
            for (int k = 0; k < 1 + (r + l) % 5; k++)
                d[r * N + (r * 7 + k * 11 + l) % N] =
                    (float)(r + 1) / (float)(k + l + 3);
        tu_csr_dense(&w[l], N, N, d);
    }
    for (int i = 0; i < L * N; i++)
        vec[i] = -0.5f + (float)i / (float)(L * N);
    assert_int_equal(sdsinf_model_from_layers(N, L, w, NULL, vec, 8.0f, &m,
                                              &err),
                     SDSINF_OK);
    free(d);
    return m;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    sdsinf_err err = {0};
    assert_non_null(f);
    f->dir = tu_mkdtemp();
    snprintf(f->path, sizeof f->path, "%s/model.sdsinf", f->dir);
    snprintf(f->damaged, sizeof f->damaged, "%s/damaged.sdsinf", f->dir);
    f->src = make_model();
    assert_int_equal(sdsinf_model_save_bundle(f->src, f->path, &err),
                     SDSINF_OK);
    f->bytes = read_bytes(f->path, &f->size);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sdsinf_model_free(f->src);
    free(f->bytes);
    tu_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void assert_csr_equal(const sdsinf_csr *a, const sdsinf_csr *b)
{
    assert_int_equal(a->nrows, b->nrows);
    assert_int_equal(a->ncols, b->ncols);
    assert_memory_equal(a->rowptr, b->rowptr,
                        (size_t)(a->nrows + 1) * sizeof *a->rowptr);
    int64_t nnz = sdsinf_csr_nnz(a);
    assert_memory_equal(a->col, b->col, (size_t)nnz * sizeof *a->col);
    assert_memory_equal(a->val, b->val, (size_t)nnz * sizeof *a->val);
}

/* Fails unless m equals the first m->layers layers of src. */
static void assert_model_prefix(const sdsinf_model *m, const sdsinf_model *src)
{
    assert_int_equal(m->neurons, src->neurons);
    assert_true(m->layers <= src->layers);
    assert_true(m->ymax == src->ymax);
    for (int32_t l = 0; l < m->layers; l++) {
        const sdsinf_layer *a = &m->layer[l], *b = &src->layer[l];
        assert_csr_equal(&a->w, &b->w);
        assert_csr_equal(&a->wt, &b->wt);
        assert_true(a->bias == b->bias);
        assert_true((a->bias_vec == NULL) == (b->bias_vec == NULL));
        if (a->bias_vec)
            assert_memory_equal(a->bias_vec, b->bias_vec,
                                (size_t)m->neurons * sizeof *a->bias_vec);
    }
}

static sdsinf_model *load_ok(const char *path, const sdsinf_model_opts *o)
{
    sdsinf_model *m = NULL;
    sdsinf_err err = {0};
    if (sdsinf_model_load(path, o, &m, &err) != SDSINF_OK)
        fail_msg("loading %s: %s", path, err.msg);
    return m;
}

/* Loads path expecting failure: returns the status, checks that *out was
 * left alone and that the message names the file. */
static int load_fails(const char *path, const sdsinf_model_opts *o,
                      sdsinf_err *err)
{
    sdsinf_model sentinel, *m = &sentinel;
    int rc = sdsinf_model_load(path, o, &m, err);
    assert_ptr_equal(m, &sentinel);
    if (rc == SDSINF_OK)
        fail_msg("%s loaded but should not", path);
    assert_int_equal(err->code, rc);
    if (!strstr(err->msg, path))
        fail_msg("message '%s' does not name %s", err->msg, path);
    return rc;
}

/* ---- good bundles ----------------------------------------------------------- */

static void test_round_trip(void **state)
{
    fixture *f = *state;
    sdsinf_model *m = load_ok(f->path, NULL);
    sdsinf_err err = {0};
    char again[4096];
    size_t size;
    assert_int_equal(m->layers, L);
    assert_model_prefix(m, f->src);
    /* A mapped model saves to the same bytes. */
    snprintf(again, sizeof again, "%s/again.sdsinf", f->dir);
    assert_int_equal(sdsinf_model_save_bundle(m, again, &err), SDSINF_OK);
    unsigned char *b = read_bytes(again, &size);
    assert_int_equal(size, f->size);
    assert_memory_equal(b, f->bytes, size);
    free(b);
    sdsinf_model_free(m);
}

static void test_round_trip_scalar_bias(void **state)
{
    fixture *f = *state;
    sdsinf_gen_opts g;
    sdsinf_model *src = NULL;
    sdsinf_err err = {0};
    sdsinf_gen_opts_init(&g);
    g.neurons = 64;
    g.layers = 2;
    g.images = 1;
    g.seed = 3;
    assert_int_equal(sdsinf_generate_model(&g, &src, &err), SDSINF_OK);
    assert_int_equal(sdsinf_model_save_bundle(src, f->damaged, &err),
                     SDSINF_OK);
    sdsinf_model *m = load_ok(f->damaged, NULL);
    assert_int_equal(m->layers, 2);
    assert_null(m->layer[0].bias_vec);
    assert_model_prefix(m, src);
    sdsinf_model_free(m);
    sdsinf_model_free(src);
}

static void test_fewer_layers(void **state)
{
    fixture *f = *state;
    sdsinf_model_opts o;
    sdsinf_err err = {0};
    sdsinf_model_opts_init(&o);
    o.layers = 2;
    sdsinf_model *m = load_ok(f->path, &o);
    assert_int_equal(m->layers, 2);
    assert_model_prefix(m, f->src);
    sdsinf_model_free(m);
    o.layers = L + 1;
    assert_int_equal(load_fails(f->path, &o, &err), SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "4 layers requested"));
}

static void test_neurons_option(void **state)
{
    fixture *f = *state;
    sdsinf_model_opts o;
    sdsinf_err err = {0};
    sdsinf_model_opts_init(&o);
    o.neurons = N;
    sdsinf_model_free(load_ok(f->path, &o));
    o.neurons = 1024;
    assert_int_equal(load_fails(f->path, &o, &err), SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "40 neurons, 1024 were requested"));
}

static void test_overrides(void **state)
{
    fixture *f = *state;
    sdsinf_model_opts o;
    sdsinf_err err = {0};
    sdsinf_model_opts_init(&o);
    o.bias = "-0.25";
    o.ymax = 4;
    sdsinf_model *m = load_ok(f->path, &o);
    assert_true(m->ymax == 4.0f);
    for (int32_t l = 0; l < m->layers; l++) {
        assert_true(m->layer[l].bias == -0.25f);
        assert_null(m->layer[l].bias_vec);
    }
    sdsinf_model_free(m);
    o.bias = "bias.tsv";
    assert_int_equal(load_fails(f->path, &o, &err), SDSINF_ENOTSUP);
}

/* ---- damaged bundles ----------------------------------------------------------- */

static void test_truncated(void **state)
{
    fixture *f = *state;
    size_t table_end = HEADER_SIZE + (size_t)L * ENTRY_SIZE;
    size_t fixed[] = {0, 1, 8, 63, 64, 65, table_end - 1, table_end,
                      table_end + 1, f->size - 1};
    size_t nfixed = sizeof fixed / sizeof *fixed, sweep = 50;
    for (size_t i = 0; i < nfixed + sweep; i++) {
        size_t len = i < nfixed ? fixed[i] : (i - nfixed) * f->size / sweep;
        sdsinf_err err = {0};
        write_bytes(f->damaged, f->bytes, len);
        int rc = load_fails(f->damaged, NULL, &err);
        if (rc != SDSINF_ECORRUPT && rc != SDSINF_EIO)
            fail_msg("%zu bytes: %s %s", len, sdsinf_status_name(rc), err.msg);
    }
}

/* Every flip must fail, except in the zero padding between arrays, which
 * no checksum covers and no reader looks at: the model is then unchanged. */
static void test_byte_flips(void **state)
{
    fixture *f = *state;
    size_t table_end = HEADER_SIZE + (size_t)L * ENTRY_SIZE, sweep = 300;
    size_t flips = table_end + sweep, failed = 0;
    unsigned char *b = malloc(f->size);
    assert_non_null(b);
    for (size_t i = 0; i < flips; i++) {
        size_t off = i < table_end ? i
                                   : table_end + (i - table_end) *
                                                     (f->size - table_end) /
                                                     sweep;
        sdsinf_model *m = NULL;
        sdsinf_err err = {0};
        memcpy(b, f->bytes, f->size);
        b[off] ^= (unsigned char)(1u << (off % 8));
        write_bytes(f->damaged, b, f->size);
        int rc = sdsinf_model_load(f->damaged, NULL, &m, &err);
        if (rc == SDSINF_OK) {
            if (off < table_end || f->bytes[off] != 0)
                fail_msg("byte %zu flipped, yet the bundle loads", off);
            assert_model_prefix(m, f->src);
            assert_int_equal(m->layers, L);
            sdsinf_model_free(m);
            continue;
        }
        failed++;
        assert_null(m);
        if ((rc != SDSINF_ECORRUPT && rc != SDSINF_ENOTSUP) ||
            !strstr(err.msg, f->damaged))
            fail_msg("byte %zu: %s %s", off, sdsinf_status_name(rc), err.msg);
    }
    /* Padding is a small part of the file. */
    assert_true(failed > flips * 3 / 4);
    free(b);
}

static void test_wrong_magic(void **state)
{
    fixture *f = *state;
    sdsinf_err err = {0};
    unsigned char *b = malloc(f->size);
    assert_non_null(b);
    memcpy(b, f->bytes, f->size);
    memcpy(b, "SDSINFXX", 8);
    write_bytes(f->damaged, b, f->size);
    assert_int_equal(load_fails(f->damaged, NULL, &err), SDSINF_ECORRUPT);
    assert_non_null(strstr(err.msg, "sdsinf convert"));
    free(b);
    /* A text file is not a bundle either, long or short. */
    char *text = tu_write(f->dir, "weights.tsv",
                          "1\t2\t0.0625\n2\t3\t0.0625\n3\t4\t0.0625\n"
                          "4\t5\t0.0625\n5\t6\t0.0625\n6\t7\t0.0625\n");
    assert_int_equal(load_fails(text, NULL, &err), SDSINF_ECORRUPT);
    assert_non_null(strstr(err.msg, "sdsinf convert"));
    free(text);
    text = tu_write(f->dir, "short.tsv", "1 2 1\n");
    assert_int_equal(load_fails(text, NULL, &err), SDSINF_ECORRUPT);
    free(text);
}

/* A well-formed bundle of a format this reader does not know. */
static void test_other_version(void **state)
{
    fixture *f = *state;
    sdsinf_err err = {0};
    uint32_t version = 2;
    unsigned char *b = malloc(f->size);
    assert_non_null(b);
    memcpy(b, f->bytes, f->size);
    memcpy(b + VERSION_OFFSET, &version, sizeof version);
    uint64_t sum = sdsinf__checksum(b, HEADER_SUM_OFFSET, 0);
    memcpy(b + HEADER_SUM_OFFSET, &sum, sizeof sum);
    write_bytes(f->damaged, b, f->size);
    assert_int_equal(load_fails(f->damaged, NULL, &err), SDSINF_ENOTSUP);
    assert_non_null(strstr(err.msg, "bundle format 2"));
    free(b);
}

/* An empty layer's empty arrays must lie in the file too: the reader makes
 * pointers of their offsets.  The checksums are made right, as an attacker
 * would. */
static void test_empty_array_outside(void **state)
{
    fixture *f = *state;
    sdsinf_csr *w = calloc(1, sizeof *w);
    sdsinf_model *m = NULL;
    sdsinf_err err = {0};
    uint64_t wild = 0xfffffffe00000000u, sum;
    size_t size;
    assert_non_null(w);
    assert_int_equal(sdsinf_csr_alloc(w, 4, 4, 0, &err), SDSINF_OK);
    assert_int_equal(sdsinf_model_from_layers(4, 1, w, NULL, NULL, 0, &m,
                                              &err),
                     SDSINF_OK);
    assert_int_equal(sdsinf_model_save_bundle(m, f->damaged, &err),
                     SDSINF_OK);
    sdsinf_model_free(m);
    unsigned char *b = read_bytes(f->damaged, &size);
    memcpy(b + HEADER_SIZE + ENTRY_OFF + 5 * 8, &wild, sizeof wild);
    sum = sdsinf__checksum(b + HEADER_SIZE, ENTRY_SIZE, 0);
    memcpy(b + TABLE_SUM_OFFSET, &sum, sizeof sum);
    sum = sdsinf__checksum(b, HEADER_SUM_OFFSET, 0);
    memcpy(b + HEADER_SUM_OFFSET, &sum, sizeof sum);
    write_bytes(f->damaged, b, size);
    assert_int_equal(load_fails(f->damaged, NULL, &err), SDSINF_ECORRUPT);
    assert_non_null(strstr(err.msg, "outside the file"));
    free(b);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_round_trip),   T(test_round_trip_scalar_bias),
        T(test_fewer_layers), T(test_neurons_option),
        T(test_overrides),    T(test_truncated),
        T(test_byte_flips),   T(test_wrong_magic),
        T(test_other_version), T(test_empty_array_outside),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
