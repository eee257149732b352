/* test_io.c - the text readers: model directories (GraphChallenge TSV and
 * MatrixMarket layers, bias files), images and categories files.  Every bad
 * input must fail with the right status, a message naming the file and line,
 * and the output left untouched; good inputs must load exactly. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MM_REAL "%%MatrixMarket matrix coordinate real general\n"
#define MM_SYM "%%MatrixMarket matrix coordinate real symmetric\n"
#define MM_PATTERN "%%MatrixMarket matrix coordinate pattern general\n"

/* ---- helpers ------------------------------------------------------------- */

static int setup_dir(void **state)
{
    *state = tu_mkdtemp();
    return 0;
}

static int teardown_dir(void **state)
{
    tu_rmdir(*state);
    free(*state);
    return 0;
}

static void put(const char *dir, const char *name, const char *text)
{
    free(tu_write(dir, name, text));
}

/* A fresh, empty subdirectory of dir (for one case of a table). */
static char *subdir(const char *dir, const char *name)
{
    char *p = malloc(8192);
    assert_non_null(p);
    snprintf(p, 8192, "%s/%s", dir, name);
    assert_int_equal(mkdir(p, 0777), 0);
    return p;
}

static sdsinf_model_opts opts_bias(const char *bias)
{
    sdsinf_model_opts o;
    sdsinf_model_opts_init(&o);
    o.bias = bias;
    return o;
}

/* Fails unless err holds `code` and a message containing `file` and, when
 * line > 0, `file:line:`; `label` names the case in the failure. */
static void check_err(const char *label, int rc, const sdsinf_err *err,
                      int code, const char *file, int line, const char *words)
{
    char where[8192];
    if (line > 0)
        snprintf(where, sizeof where, "%s:%d:", file, line);
    else
        snprintf(where, sizeof where, "%s", file);
    if (rc != code || err->code != code || !strstr(err->msg, where) ||
        (words && !strstr(err->msg, words)))
        fail_msg("%s: got %s '%s', want %s naming '%s' and '%s'", label,
                 sdsinf_status_name(rc), err->msg, sdsinf_status_name(code),
                 where, words ? words : "");
}

/* Loads dir expecting failure; the output pointer must stay untouched. */
static void expect_model_error(const char *label, const char *dir,
                               const sdsinf_model_opts *o, int code,
                               const char *file, int line, const char *words)
{
    sdsinf_model sentinel, *m = &sentinel;
    sdsinf_err err = {0};
    int rc = sdsinf_model_load(dir, o, &m, &err);
    assert_ptr_equal(m, &sentinel);
    check_err(label, rc, &err, code, file, line, words);
}

static sdsinf_model *load_ok(const char *dir, const sdsinf_model_opts *o)
{
    sdsinf_model *m = NULL;
    sdsinf_err err = {0};
    int rc = sdsinf_model_load(dir, o, &m, &err);
    if (rc != SDSINF_OK)
        fail_msg("loading %s: %s", dir, err.msg);
    assert_non_null(m);
    return m;
}

static void assert_csr_equal(const sdsinf_csr *a, const sdsinf_csr *b)
{
    assert_int_equal(a->nrows, b->nrows);
    assert_int_equal(a->ncols, b->ncols);
    assert_memory_equal(a->rowptr, b->rowptr,
                        (size_t)(a->nrows + 1) * sizeof *a->rowptr);
    int64_t nnz = sdsinf_csr_nnz(a);
    if (nnz) {
        assert_memory_equal(a->col, b->col, (size_t)nnz * sizeof *a->col);
        assert_memory_equal(a->val, b->val, (size_t)nnz * sizeof *a->val);
    }
}

/* Fails unless m equals the dense n x n array d. */
static void assert_csr_dense(const sdsinf_csr *m, int64_t n, const float *d)
{
    sdsinf_csr want;
    tu_csr_dense(&want, n, n, d);
    assert_csr_equal(m, &want);
    sdsinf_csr_free(&want);
}

static void assert_models_equal(const sdsinf_model *a, const sdsinf_model *b)
{
    assert_int_equal(a->neurons, b->neurons);
    assert_int_equal(a->layers, b->layers);
    assert_true(a->ymax == b->ymax);
    for (int32_t l = 0; l < a->layers; l++) {
        const sdsinf_layer *x = &a->layer[l], *y = &b->layer[l];
        assert_csr_equal(&x->w, &y->w);
        assert_csr_equal(&x->wt, &y->wt);
        assert_true(x->bias == y->bias);
        assert_true((x->bias_vec == NULL) == (y->bias_vec == NULL));
        if (x->bias_vec)
            assert_memory_equal(x->bias_vec, y->bias_vec,
                                (size_t)a->neurons * sizeof *x->bias_vec);
    }
}

/* ---- one bad layer file --------------------------------------------------- */

typedef struct bad_file {
    const char *name, *text;
    int code, line; /* line 0: the message names the file only */
    const char *words;
} bad_file;

static const bad_file BAD_LAYERS[] = {
    {"n4-l1.tsv", "1 2\n", SDSINF_EPARSE, 1, "missing value"},
    {"n4-l1.tsv", "1\n", SDSINF_EPARSE, 1, "missing column index"},
    {"n4-l1.tsv", "1 1 1\r\n\r\n1 x 0.5\r\n", SDSINF_EPARSE, 3,
     "column index is not"},
    {"n4-l1.tsv", "1 1 0.5x\n", SDSINF_EPARSE, 1, "not a finite number"},
    {"n4-l1.tsv", "1.5 1 1\n", SDSINF_EPARSE, 1, "row index is not"},
    {"n4-l1.tsv", "-1 1 1\n", SDSINF_EPARSE, 1, "row index is not"},
    {"n4-l1.tsv", "99999999999999999999999 1 1\n", SDSINF_EPARSE, 1,
     "not a non-negative integer"},
    {"n4-l1.tsv", "1 2 0.5 7\n", SDSINF_EPARSE, 1, "extra field '7'"},
    {"n4-l1.tsv", "0 1 1\n", SDSINF_EPARSE, 1, "outside 1..4"},
    {"n4-l1.tsv", "1 1 1\n1 0 1\n", SDSINF_EPARSE, 2, "outside 1..4"},
    {"n4-l1.tsv", "1 1 1\n1 5 1\n", SDSINF_EPARSE, 2, "outside 1..4"},
    {"n4-l1.tsv", "5 1 1\n", SDSINF_EPARSE, 1, "outside 1..4"},
    {"n4-l1.tsv", "1 1 nan\n", SDSINF_EPARSE, 1, "not a finite number"},
    {"n4-l1.tsv", "1 1 inf\n", SDSINF_EPARSE, 1, "not a finite number"},
    {"n4-l1.tsv", "1 1 -Infinity\n", SDSINF_EPARSE, 1, "not a finite"},
    {"n4-l1.tsv", "1 1 1\n2 2 1e40\n", SDSINF_EPARSE, 2, "not a finite"},
    {"n4-l1.tsv", "", SDSINF_EPARSE, 0, "empty file"},
    {"n4-l1.tsv", "\n \t\n", SDSINF_EPARSE, 0, "no entries"},
    {"n4-l1.tsv", "1 2 1\n3 3 1\n1 2 2\n", SDSINF_EPARSE, 3,
     "duplicate entry (1, 2), first given on line 1"},
    {"l1.mtx", "", SDSINF_EPARSE, 0, "empty file"},
    {"l1.mtx", "hello world\n", SDSINF_EPARSE, 1, "header"},
    {"l1.mtx", "%%MatrixMarket matrix array real general\n3 3\n",
     SDSINF_EPARSE, 1, "header"},
    {"l1.mtx", "%%MatrixMarket matrix coordinate complex general\n"
               "1 1 1\n1 1 1 0\n",
     SDSINF_ENOTSUP, 1, "'complex'"},
    {"l1.mtx", "%%MatrixMarket matrix coordinate real hermitian\n1 1 0\n",
     SDSINF_ENOTSUP, 1, "'hermitian'"},
    {"l1.mtx", MM_REAL "% only a comment\n", SDSINF_EPARSE, 0,
     "missing size line"},
    {"l1.mtx", MM_REAL "3 3\n", SDSINF_EPARSE, 2, "missing entry count"},
    {"l1.mtx", MM_REAL "3 3 1 9\n1 1 1\n", SDSINF_EPARSE, 2, "extra field"},
    {"l1.mtx", MM_REAL "3 4 1\n1 1 1\n", SDSINF_EPARSE, 2, "square"},
    {"l1.mtx", MM_REAL "0 0 0\n", SDSINF_EPARSE, 2, "square"},
    {"l1.mtx", MM_REAL "3 3 3\n1 1 1\n% c\n2 2 1\n", SDSINF_EPARSE, 0,
     "truncated: 2 entries of the 3 declared"},
    {"l1.mtx", MM_REAL "3 3 1\n1 1 1\n2 2 1\n", SDSINF_EPARSE, 4,
     "more entries than the 1"},
    {"l1.mtx", MM_REAL "3 3 1\n4 1 1\n", SDSINF_EPARSE, 3, "outside 1..3"},
    {"l1.mtx", MM_REAL "3 3 1\n1 1 nan\n", SDSINF_EPARSE, 3, "not a finite"},
    {"l1.mtx", MM_SYM "3 3 2\n2 1 1\n1 2 1\n", SDSINF_EPARSE, 4,
     "duplicate entry"},
    {"l1.mtx", MM_PATTERN "3 3 1\n1 1 1\n", SDSINF_EPARSE, 3, "extra field"},
};

static void test_bad_layer_files(void **state)
{
    const char *dir = *state;
    sdsinf_model_opts o = opts_bias("-0.3");
    for (size_t i = 0; i < sizeof BAD_LAYERS / sizeof *BAD_LAYERS; i++) {
        const bad_file *c = &BAD_LAYERS[i];
        char name[32], label[64];
        snprintf(name, sizeof name, "case%zu", i);
        snprintf(label, sizeof label, "case %zu (%s)", i, c->name);
        char *d = subdir(dir, name);
        char *path = tu_write(d, c->name, c->text);
        expect_model_error(label, d, &o, c->code, path, c->line, c->words);
        free(path);
        free(d);
    }
}

/* A bad second layer after a good first one: nothing half-loaded. */
static void test_bad_second_layer(void **state)
{
    const char *dir = *state;
    sdsinf_model_opts o = opts_bias("-0.3");
    put(dir, "n4-l1.tsv", "1 2 0.5\n");
    char *path = tu_write(dir, "n4-l2.tsv", "1 2 0.5\n2 3 oops\n");
    expect_model_error("layer 2", dir, &o, SDSINF_EPARSE, path, 2, "value");
    free(path);
}

/* ---- the directory ---------------------------------------------------------- */

static void test_missing_layer(void **state)
{
    const char *dir = *state;
    sdsinf_model_opts o = opts_bias("-0.3");
    put(dir, "n4-l1.tsv", "1 2 1\n");
    put(dir, "n4-l3.tsv", "1 2 1\n");
    expect_model_error("gap", dir, &o, SDSINF_EINVAL, dir,
                       0, "no file for layer 2");
}

static void test_duplicate_layer(void **state)
{
    const char *dir = *state;
    sdsinf_model_opts o = opts_bias("-0.3");
    put(dir, "n4-l1.tsv", "1 2 1\n");
    put(dir, "n4-l1.mtx", MM_REAL "4 4 1\n1 2 1\n");
    expect_model_error("two files", dir, &o, SDSINF_EINVAL, dir, 0,
                       "two files for layer 1");
}

static void test_names_disagree(void **state)
{
    const char *dir = *state;
    sdsinf_model_opts o = opts_bias("-0.3");
    put(dir, "n4-l1.tsv", "1 2 1\n");
    put(dir, "n8-l2.tsv", "1 2 1\n");
    expect_model_error("names", dir, &o, SDSINF_EINVAL, dir, 0,
                       "disagree on the neuron count");
}

static void test_neurons_smaller_than_index(void **state)
{
    const char *dir = *state;
    sdsinf_model_opts o = opts_bias("-0.3");
    char *path = tu_write(dir, "n4-l1.tsv", "1 2 1\n4 1 1\n");
    o.neurons = 3;
    expect_model_error("--neurons 3", dir, &o, SDSINF_EPARSE, path, 2,
                       "outside 1..3");
    free(path);
}

static void test_mtx_size_disagrees(void **state)
{
    const char *dir = *state;
    sdsinf_model_opts o = opts_bias("-0.3");
    char *a = subdir(dir, "a"), *b = subdir(dir, "b"), *c = subdir(dir, "c");
    char *path = tu_write(a, "n4-l1.mtx", MM_REAL "3 3 1\n1 2 1\n");
    expect_model_error("n4 name, 3 declared", a, &o, SDSINF_EINVAL, path, 0,
                       "declares 3 neurons");
    free(path);
    put(b, "l1.mtx", MM_REAL "4 4 1\n1 2 1\n");
    path = tu_write(b, "l2.mtx", MM_REAL "3 3 1\n1 2 1\n");
    expect_model_error("4 then 3 declared", b, &o, SDSINF_EINVAL, path, 0,
                       "declares 3 neurons");
    free(path);
    path = tu_write(c, "l1.mtx", MM_REAL "3 3 1\n1 2 1\n");
    put(c, "l2.tsv", "1 4 1\n");
    expect_model_error("3 declared, index 4", c, &o, SDSINF_EINVAL, path, 0,
                       "declares 3 neurons");
    free(path);
    free(a);
    free(b);
    free(c);
}

static void test_too_many_layers_requested(void **state)
{
    const char *dir = *state;
    sdsinf_model_opts o = opts_bias("-0.3");
    put(dir, "n4-l1.tsv", "1 2 1\n");
    put(dir, "n4-l2.tsv", "1 2 1\n");
    o.layers = 3;
    expect_model_error("--layers 3", dir, &o, SDSINF_EINVAL, dir, 0,
                       "3 layers requested but only 2");
}

static void test_no_layers_or_no_dir(void **state)
{
    const char *dir = *state;
    sdsinf_model_opts o = opts_bias("-0.3");
    char missing[8192];
    expect_model_error("empty dir", dir, &o, SDSINF_EINVAL, dir, 0,
                       "no layer files");
    snprintf(missing, sizeof missing, "%s/nonexistent", dir);
    expect_model_error("no such path", missing, &o, SDSINF_EIO, missing, 0,
                       NULL);
}

static void test_no_default_bias(void **state)
{
    const char *dir = *state;
    sdsinf_model_opts o;
    sdsinf_model_opts_init(&o);
    put(dir, "n4-l1.tsv", "1 2 1\n");
    expect_model_error("no bias", dir, &o, SDSINF_EINVAL, dir, 0,
                       "no GraphChallenge bias for 4 neurons");
}

/* ---- good model directories ------------------------------------------------ */

static void test_tsv_loads(void **state)
{
    const char *dir = *state;
    sdsinf_model_opts o = opts_bias("-0.3");
    put(dir, "n4-l1.tsv", "1\t2\t0.5\n3\t4\t-1\n\n2\t1\t2\n1\t4\t0.25\n");
    put(dir, "n4-l2.tsv", "4 4 3\r\n2 2 0\r\n");
    sdsinf_model *m = load_ok(dir, &o);
    static const float w1[16] = {0, 0.5f, 0, 0.25f, /* row = input */
                                 2, 0,    0, 0,     //
                                 0, 0,    0, -1,    //
                                 0, 0,    0, 0};
    static const float w1t[16] = {0,     2, 0, 0, /* row = output */
                                  0.5f,  0, 0, 0, //
                                  0,     0, 0, 0, //
                                  0.25f, 0, -1, 0};
    static const float w2[16] = {[15] = 3}; /* the zero is not stored */
    assert_int_equal(m->neurons, 4);
    assert_int_equal(m->layers, 2);
    assert_true(m->ymax == 32.0f);
    assert_csr_dense(&m->layer[0].w, 4, w1);
    assert_csr_dense(&m->layer[0].wt, 4, w1t);
    assert_csr_dense(&m->layer[1].w, 4, w2);
    for (int l = 0; l < 2; l++) {
        assert_true(m->layer[l].bias == -0.3f);
        assert_null(m->layer[l].bias_vec);
    }
    sdsinf_model_free(m);
}

/* N comes from the n{N} name even when no index reaches it. */
static void test_neurons_from_name(void **state)
{
    const char *dir = *state;
    sdsinf_model_opts o = opts_bias("-0.3");
    put(dir, "n6-l1.tsv", "1 2 1\n");
    sdsinf_model *m = load_ok(dir, &o);
    assert_int_equal(m->neurons, 6);
    assert_int_equal(m->layer[0].w.nrows, 6);
    sdsinf_model_free(m);
}

/* Without n{N} in the names, the largest index over all layers. */
static void test_neurons_from_indices(void **state)
{
    const char *dir = *state;
    sdsinf_model_opts o = opts_bias("-0.3");
    put(dir, "l1.tsv", "1 3 1\n");
    put(dir, "l2.tsv", "5 1 1\n");
    sdsinf_model *m = load_ok(dir, &o);
    assert_int_equal(m->neurons, 5);
    assert_int_equal(m->layer[0].w.ncols, 5);
    assert_int_equal(m->layer[1].w.nrows, 5);
    sdsinf_model_free(m);
}

static void test_layers_option_takes_first(void **state)
{
    const char *dir = *state;
    sdsinf_model_opts o = opts_bias("-0.3");
    put(dir, "n3-l1.tsv", "1 2 1.5\n");
    put(dir, "n3-l2.tsv", "2 3 7\n");
    put(dir, "n3-l3.tsv", "3 1 9\n");
    o.layers = 2;
    sdsinf_model *m = load_ok(dir, &o);
    static const float w1[9] = {[1] = 1.5f}, w2[9] = {[5] = 7};
    assert_int_equal(m->layers, 2);
    assert_csr_dense(&m->layer[0].w, 3, w1);
    assert_csr_dense(&m->layer[1].w, 3, w2);
    sdsinf_model_free(m);
}

static void test_mtx_loads(void **state)
{
    const char *dir = *state;
    sdsinf_model_opts o = opts_bias("-0.3");
    put(dir, "l1.mtx", "%%MatrixMarket MATRIX Coordinate Real Symmetric\n"
                       "% a comment\n\n3 3 3\n2 1 0.5\n3 3 2\n% c\n3 1 -1\n");
    put(dir, "l2.mtx", MM_PATTERN "3 3 2\n1 3\n2 2\n");
    put(dir, "l3.mtx", "%%MatrixMarket matrix coordinate integer general\n"
                       "3 3 2\n3 2 4\n1 1 0\n");
    sdsinf_model *m = load_ok(dir, &o);
    static const float sym[9] = {0, 0.5f, -1, 0.5f, 0, 0, -1, 0, 2};
    static const float pat[9] = {[2] = 1, [4] = 1};
    static const float num[9] = {[7] = 4};
    assert_int_equal(m->neurons, 3);
    assert_int_equal(m->layers, 3);
    assert_csr_dense(&m->layer[0].w, 3, sym);
    assert_csr_dense(&m->layer[1].w, 3, pat);
    assert_csr_dense(&m->layer[2].w, 3, num);
    sdsinf_model_free(m);
}

/* A generated model with a bias per layer that needs all nine digits. */
static void test_save_tsv_round_trip(void **state)
{
    const char *dir = *state;
    sdsinf_gen_opts g;
    sdsinf_model *src = NULL, *back;
    sdsinf_model_opts o;
    sdsinf_err err = {0};
    char out[8192];
    sdsinf_gen_opts_init(&g);
    g.neurons = 48;
    g.layers = 3;
    g.images = 1;
    g.seed = 5;
    assert_int_equal(sdsinf_generate_model(&g, &src, &err), SDSINF_OK);
    for (int32_t l = 0; l < src->layers; l++)
        src->layer[l].bias = -1.0f / (float)(l + 3);
    snprintf(out, sizeof out, "%s/saved", dir);
    assert_int_equal(sdsinf_model_save_tsv(src, out, &err), SDSINF_OK);
    sdsinf_model_opts_init(&o); /* the bias comes from saved/bias.tsv */
    back = load_ok(out, &o);
    assert_models_equal(back, src);
    sdsinf_model_free(back);
    sdsinf_model_free(src);
}

static void test_save_tsv_round_trip_bias_vectors(void **state)
{
    const char *dir = *state;
    enum { N = 5, L = 2 };
    sdsinf_csr *w = calloc(L, sizeof *w);
    float d[N * N] = {0}, vec[L * N];
    sdsinf_model *src = NULL, *back;
    sdsinf_model_opts o;
    sdsinf_err err = {0};
    char out[8192];
    assert_non_null(w);
    for (int l = 0; l < L; l++) {
        for (int i = 0; i < N; i++)
            d[i * N + (i + l + 1) % N] = 0.1f * (float)(i + 1) / 3.0f;
        tu_csr_dense(&w[l], N, N, d);
    }
    for (int i = 0; i < L * N; i++)
        vec[i] = -0.01f * (float)i / 7.0f;
    assert_int_equal(sdsinf_model_from_layers(N, L, w, NULL, vec, 0, &src,
                                              &err),
                     SDSINF_OK);
    snprintf(out, sizeof out, "%s/saved", dir);
    assert_int_equal(sdsinf_model_save_tsv(src, out, &err), SDSINF_OK);
    sdsinf_model_opts_init(&o);
    back = load_ok(out, &o);
    assert_models_equal(back, src);
    sdsinf_model_free(back);
    sdsinf_model_free(src);
}

/* ---- bias files ------------------------------------------------------------- */

/* A two-layer, four-neuron model directory in dir. */
static void put_model(const char *dir)
{
    put(dir, "n4-l1.tsv", "1 2 1\n");
    put(dir, "n4-l2.tsv", "2 3 1\n");
}

static sdsinf_model *load_with_bias(const char *dir, const char *text)
{
    char *path = tu_write(dir, "bias.txt", text);
    sdsinf_model_opts o = opts_bias(path);
    sdsinf_model *m = load_ok(dir, &o);
    free(path);
    return m;
}

static void test_bias_one_column(void **state)
{
    const char *dir = *state;
    static const float want[4] = {0.5f, -0.25f, 0, -1};
    put_model(dir);
    sdsinf_model *m = load_with_bias(dir, "0.5\n-0.25\n0\n-1\n");
    for (int l = 0; l < 2; l++) {
        assert_non_null(m->layer[l].bias_vec);
        assert_memory_equal(m->layer[l].bias_vec, want, sizeof want);
    }
    sdsinf_model_free(m);
}

static void test_bias_per_layer(void **state)
{
    const char *dir = *state;
    put_model(dir);
    sdsinf_model *m = load_with_bias(dir, "2 -0.5\n1\t-0.125\n");
    assert_null(m->layer[0].bias_vec);
    assert_true(m->layer[0].bias == -0.125f);
    assert_true(m->layer[1].bias == -0.5f);
    sdsinf_model_free(m);
}

static void test_bias_per_neuron(void **state)
{
    const char *dir = *state;
    static const float want1[4] = {0, 0.5f, 0, 0}, want2[4] = {0, 0, 0, -2};
    put_model(dir);
    sdsinf_model *m = load_with_bias(dir, "1 2 0.5\n2 4 -2\n1 1 0\n1 3 0\n"
                                          "1 4 0\n2 1 0\n2 2 0\n2 3 0\n");
    assert_memory_equal(m->layer[0].bias_vec, want1, sizeof want1);
    assert_memory_equal(m->layer[1].bias_vec, want2, sizeof want2);
    sdsinf_model_free(m);
}

/* `layer value` lines count layers, not neurons: more layers than neurons. */
static void test_bias_per_layer_many_layers(void **state)
{
    const char *dir = *state;
    put(dir, "n2-l1.tsv", "1 2 1\n");
    put(dir, "n2-l2.tsv", "2 1 1\n");
    put(dir, "n2-l3.tsv", "1 1 1\n");
    sdsinf_model *m = load_with_bias(dir, "1 -0.1\n2 -0.2\n3 -0.3\n");
    assert_int_equal(m->layers, 3);
    assert_true(m->layer[2].bias == -0.3f);
    assert_null(m->layer[2].bias_vec);
    sdsinf_model_free(m);
}

/* bias.tsv beside the layers serves when no bias is given. */
static void test_bias_file_in_model_dir(void **state)
{
    const char *dir = *state;
    sdsinf_model_opts o;
    sdsinf_model_opts_init(&o);
    put_model(dir);
    put(dir, "bias.tsv", "1 -0.75\n2 -0.5\n");
    sdsinf_model *m = load_ok(dir, &o);
    assert_true(m->layer[0].bias == -0.75f);
    assert_true(m->layer[1].bias == -0.5f);
    sdsinf_model_free(m);
}

/* With --layers L, a bias file's lines for the layers past L (a generated
 * model's bias.tsv lists all of them) are checked and ignored; lines past
 * the model's last layer, or malformed, still fail with file:line. */
static void test_bias_file_with_fewer_layers(void **state)
{
    const char *dir = *state;
    static const float want1[4] = {0, 0.5f, 0, 0};
    sdsinf_model_opts o;
    put(dir, "n4-l1.tsv", "1 2 1\n");
    put(dir, "n4-l2.tsv", "2 3 1\n");
    put(dir, "n4-l3.tsv", "3 4 1\n");
    put(dir, "bias.tsv", "1 -0.75\n2 -0.5\n3 -0.25\n");
    sdsinf_model_opts_init(&o);
    o.layers = 2;
    sdsinf_model *m = load_ok(dir, &o);
    assert_int_equal(m->layers, 2);
    assert_true(m->layer[0].bias == -0.75f);
    assert_true(m->layer[1].bias == -0.5f);
    sdsinf_model_free(m);
    o.layers = 1; /* per-neuron lines too */
    char *path = tu_write(dir, "vec.tsv", "1 2 0.5\n3 4 -2\n1 1 0\n2 1 7\n"
                                          "1 3 0\n1 4 0\n");
    o.bias = path;
    m = load_ok(dir, &o);
    assert_int_equal(m->layers, 1);
    assert_memory_equal(m->layer[0].bias_vec, want1, sizeof want1);
    sdsinf_model_free(m);
    free(path);
    o.bias = NULL;
    char *bias = tu_write(dir, "bias.tsv", "1 -0.75\n2 -0.5\n4 -0.25\n");
    expect_model_error("a layer past the model's", dir, &o, SDSINF_EPARSE,
                       bias, 3, "layer 4 / neuron 1 outside the model's 3 "
                       "layers");
    put(dir, "bias.tsv", "1 -0.75\n2 -0.5\n3 x\n");
    expect_model_error("a bad line past L", dir, &o, SDSINF_EPARSE, bias, 3,
                       "bias is not a finite");
    put(dir, "bias.tsv", "1 -0.75\n2 -0.5\n3\n");
    expect_model_error("a short line past L", dir, &o, SDSINF_EPARSE, bias, 3,
                       "1 fields");
    put(dir, "bias.tsv", "1 -0.75\n2 -0.5\n3 -0.25\n3 -0.1\n");
    expect_model_error("a repeated line past L", dir, &o, SDSINF_EPARSE, bias,
                       4, "a second bias for layer 3 (the first is on line 3)");
    o.layers = 2;
    put(dir, "bias.tsv", "1 -0.75\n3 -0.25\n"); /* layer 2 of the 2 loaded */
    expect_model_error("a loaded layer missing", dir, &o, SDSINF_EPARSE, bias,
                       0, "layer 2 has no bias; every layer needs one line");
    free(bias);
}

static const bad_file BAD_BIAS[] = {
    {"bias.txt", "0.1\n0.2\n0.3\n", SDSINF_EPARSE, 0,
     "3 values; a one-column bias file needs one per neuron (4)"},
    {"bias.txt", "1\n2\n3\n4\n5\n", SDSINF_EPARSE, 5, "neuron 5 outside"},
    {"bias.txt", "1 0.1\n0.2\n", SDSINF_EPARSE, 2, "1 fields"},
    {"bias.txt", "1 1 1 1\n", SDSINF_EPARSE, 1, "4 fields"},
    {"bias.txt", "3 0.1\n", SDSINF_EPARSE, 1, "layer 3 / neuron"},
    {"bias.txt", "0 0.1\n", SDSINF_EPARSE, 1, "layer 0 / neuron"},
    {"bias.txt", "1 5 0.1\n", SDSINF_EPARSE, 1, "neuron 5 outside"},
    {"bias.txt", "1 x\n", SDSINF_EPARSE, 1, "bias is not a finite"},
    {"bias.txt", "x 0.1\n", SDSINF_EPARSE, 1, "layer is not"},
    {"bias.txt", "1 nan\n", SDSINF_EPARSE, 1, "bias is not a finite"},
    {"bias.txt", "\n\n", SDSINF_EPARSE, 0, "no bias values"},
    /* every layer (neuron) exactly once: no default, no last-one-wins */
    {"bias.txt", "1 -0.3\n", SDSINF_EPARSE, 0,
     "bias.txt: layer 2 has no bias; every layer needs one line"},
    {"bias.txt", "2 -0.3\n1 -0.3\n2 -0.2\n", SDSINF_EPARSE, 3,
     "a second bias for layer 2 (the first is on line 1); give every layer "
     "exactly one line"},
    {"bias.txt", "1 2 0.5\n", SDSINF_EPARSE, 0,
     "layer 1 has no bias for neurons 1, 3-4 (2 of 2 layers lack some)"},
    {"bias.txt", "1 1 0\n1 2 0\n1 3 0\n1 4 0\n2 1 0\n2 2 0\n2 4 0\n",
     SDSINF_EPARSE, 0,
     "layer 2 has no bias for neuron 3 (1 of 2 layers lack some); every "
     "layer needs a line for each of its 4 neurons"},
    {"bias.txt", "1 1 0\n\n1 2 0\n1 2 1\n", SDSINF_EPARSE, 4,
     "a second bias for layer 1, neuron 2 (the first is on line 3)"},
};

/* Missing layers are named as ranges, cut short when they are many. */
static void test_bias_missing_ranges(void **state)
{
    const char *dir = *state;
    char text[4096] = "", *path;
    size_t used = 0;
    for (int l = 1; l <= 40; l++) {
        char name[32];
        snprintf(name, sizeof name, "n4-l%d.tsv", l);
        put(dir, name, "1 2 1\n");
    }
    path = tu_write(dir, "bias.txt", "1 -0.1\n3 -0.1\n");
    sdsinf_model_opts o = opts_bias(path);
    expect_model_error("ranges", dir, &o, SDSINF_EPARSE, path, 0,
                       "layers 2, 4-40 have no bias");
    for (int l = 1; l <= 40; l += 2) /* every other layer: 20 ranges */
        used += (size_t)snprintf(text + used, sizeof text - used, "%d -0.1\n", l);
    free(path);
    path = tu_write(dir, "bias.txt", text);
    o = opts_bias(path);
    expect_model_error("many ranges", dir, &o, SDSINF_EPARSE, path, 0,
                       "layers 2, 4, 6, 8, 10, ");
    expect_model_error("cut short", dir, &o, SDSINF_EPARSE, path, 0,
                       ", ... have no bias; every layer needs one line");
    free(path);
}

static void test_bad_bias_files(void **state)
{
    const char *dir = *state;
    char missing[8192];
    put_model(dir);
    for (size_t i = 0; i < sizeof BAD_BIAS / sizeof *BAD_BIAS; i++) {
        char label[32];
        char *path = tu_write(dir, BAD_BIAS[i].name, BAD_BIAS[i].text);
        sdsinf_model_opts o = opts_bias(path);
        snprintf(label, sizeof label, "bias case %zu", i);
        expect_model_error(label, dir, &o, BAD_BIAS[i].code, path,
                           BAD_BIAS[i].line, BAD_BIAS[i].words);
        free(path);
    }
    snprintf(missing, sizeof missing, "%s/no-such-bias", dir);
    sdsinf_model_opts o = opts_bias(missing);
    expect_model_error("missing bias file", dir, &o, SDSINF_EIO, missing, 0,
                       "cannot open");
}

/* ---- images ------------------------------------------------------------------ */

static void expect_images_error(const char *label, const char *path,
                                int32_t neurons, int code, int line,
                                const char *words)
{
    sdsinf_csr out, before;
    sdsinf_err err = {0};
    memset(&out, 0x5a, sizeof out);
    before = out;
    int rc = sdsinf_images_load(path, neurons, &out, &err);
    assert_memory_equal(&out, &before, sizeof out);
    check_err(label, rc, &err, code, path, line, words);
}

static const bad_file BAD_IMAGES[] = {
    {"img.tsv", "1 2\n", SDSINF_EPARSE, 1, "missing value"},
    {"img.tsv", "1 1 1\n\n1 x 1\n", SDSINF_EPARSE, 3, "feature is not"},
    {"img.tsv", "a 1 1\n", SDSINF_EPARSE, 1, "image id is not"},
    {"img.tsv", "1 1 1 1\n", SDSINF_EPARSE, 1, "extra field"},
    {"img.tsv", "1 1 nan\n", SDSINF_EPARSE, 1, "not a finite"},
    {"img.tsv", "1 1 1\n2 5 1\n", SDSINF_EPARSE, 2, "feature 5 outside"},
    {"img.tsv", "1 0 1\n", SDSINF_EPARSE, 1, "feature 0 outside"},
    {"img.tsv", "0 1 1\n", SDSINF_EPARSE, 1, "image 0 /"},
    {"img.tsv", "4294967296 1 1\n", SDSINF_EPARSE, 1, "image 4294967296"},
    {"img.tsv", "2 1 1\n1 1 1\n2 1 3\n", SDSINF_EPARSE, 3,
     "duplicate entry (2, 1), first given on line 1"},
    {"img.tsv", "", SDSINF_EPARSE, 0, "no image entries"},
    {"img.tsv", "1 1 1\n5 2 1\n", SDSINF_EPARSE, 2,
     "image 5 is far beyond the 2 images with entries"},
    {"img.tsv", "1 1 1\n99999999 2 1\n2 1 1\n", SDSINF_EPARSE, 2,
     "image 99999999 is far beyond"},
};

static void test_bad_images(void **state)
{
    const char *dir = *state;
    char missing[8192];
    for (size_t i = 0; i < sizeof BAD_IMAGES / sizeof *BAD_IMAGES; i++) {
        char label[32];
        char *path = tu_write(dir, BAD_IMAGES[i].name, BAD_IMAGES[i].text);
        snprintf(label, sizeof label, "images case %zu", i);
        expect_images_error(label, path, 4, BAD_IMAGES[i].code,
                            BAD_IMAGES[i].line, BAD_IMAGES[i].words);
        free(path);
    }
    snprintf(missing, sizeof missing, "%s/no-such-images", dir);
    expect_images_error("missing", missing, 4, SDSINF_EIO, 0, "cannot open");
    char *path = tu_write(dir, "img.tsv", "1 1 1\n");
    sdsinf_csr out = {0};
    sdsinf_err err = {0};
    assert_int_equal(sdsinf_images_load(path, 0, &out, &err), SDSINF_EINVAL);
    free(path);
}

static void test_images_load(void **state)
{
    const char *dir = *state;
    char *path = tu_write(dir, "img.tsv",
                          "1\t1\t1\n3 2 0.5\n\n1 4 2\r\n2 3 0\n");
    sdsinf_csr m = {0};
    sdsinf_err err = {0};
    static const float want[12] = {1, 0, 0, 2, /* image 1 */
                                   0, 0, 0, 0, /* image 2: a zero only */
                                   0, 0.5f, 0, 0};
    sdsinf_csr w;
    assert_int_equal(sdsinf_images_load(path, 4, &m, &err), SDSINF_OK);
    tu_csr_dense(&w, 3, 4, want);
    assert_csr_equal(&m, &w);
    sdsinf_csr_free(&w);
    sdsinf_csr_free(&m);
    free(path);
}

/* A declared count: M rows whatever the ids, an id above it an error. */
static void test_images_load_count(void **state)
{
    const char *dir = *state;
    char *path = tu_write(dir, "img.tsv", "1 1 1\n5 2 1\n");
    sdsinf_csr m = {0};
    sdsinf_err err = {0};
    assert_int_equal(sdsinf_images_load_count(path, 4, 7, &m, &err),
                     SDSINF_OK);
    assert_int_equal(m.nrows, 7);
    assert_int_equal(sdsinf_csr_nnz(&m), 2);
    sdsinf_csr_free(&m);
    memset(&m, 0x5a, sizeof m);
    sdsinf_csr before = m;
    int rc = sdsinf_images_load_count(path, 4, 4, &m, &err);
    assert_memory_equal(&m, &before, sizeof m);
    check_err("count 4", rc, &err, SDSINF_EPARSE, path, 2,
              "image 5 is beyond the 4 images declared");
    free(path);
}

/* ---- categories --------------------------------------------------------------- */

static const bad_file BAD_CATEGORIES[] = {
    {"cat.tsv", "1\n3\n2\n", SDSINF_EPARSE, 3, "ascending (got 2)"},
    {"cat.tsv", "1\n3\n3\n", SDSINF_EPARSE, 3, "ascending (got 3)"},
    {"cat.tsv", "0\n", SDSINF_EPARSE, 1, "must be >= 1"},
    {"cat.tsv", "1\n\ngarbage\n", SDSINF_EPARSE, 3, "image id is not"},
    {"cat.tsv", "-4\n", SDSINF_EPARSE, 1, "image id is not"},
    {"cat.tsv", "1 2\n", SDSINF_EPARSE, 1, "extra field"},
    {"cat.tsv", "9223372036854775808\n", SDSINF_EPARSE, 1, "must be >= 1"},
    {"cat.tsv", "18446744073709551616\n", SDSINF_EPARSE, 1, "is not"},
};

static void test_bad_categories(void **state)
{
    const char *dir = *state;
    for (size_t i = 0; i < sizeof BAD_CATEGORIES / sizeof *BAD_CATEGORIES;
         i++) {
        const bad_file *c = &BAD_CATEGORIES[i];
        char label[32];
        char *path = tu_write(dir, c->name, c->text);
        int64_t sentinel, *ids = &sentinel, count = -7;
        sdsinf_err err = {0};
        int rc = sdsinf_categories_load(path, &ids, &count, &err);
        snprintf(label, sizeof label, "categories case %zu", i);
        assert_ptr_equal(ids, &sentinel);
        assert_int_equal(count, -7);
        check_err(label, rc, &err, c->code, path, c->line, c->words);
        free(path);
    }
}

static void test_categories_load(void **state)
{
    const char *dir = *state;
    static const int64_t want[3] = {1, 3, 10};
    int64_t *ids = NULL, count = 0;
    sdsinf_err err = {0};
    char *path = tu_write(dir, "cat.tsv", "1\n3\r\n\n 10 \n");
    assert_int_equal(sdsinf_categories_load(path, &ids, &count, &err),
                     SDSINF_OK);
    assert_int_equal(count, 3);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    free(path);
    path = tu_write(dir, "none.tsv", ""); /* no image categorized */
    ids = NULL;
    assert_int_equal(sdsinf_categories_load(path, &ids, &count, &err),
                     SDSINF_OK);
    assert_int_equal(count, 0);
    free(ids);
    free(path);
}

/* ---- control bytes ------------------------------------------------------------ */

/* A file's bytes, NULs included. */
typedef struct raw_file {
    const char *name; /* a layer file is loaded as a model, bias.txt as
                       * its bias, img.tsv as images, cat.tsv as categories */
    const char *data;
    size_t size;
    int line;
    const char *words;
} raw_file;

#define RAW(name, lit, line, words) {name, lit, sizeof lit - 1, line, words}

static const raw_file CONTROL_BYTES[] = {
    RAW("n4-l1.tsv", "1 1 1\n1\t2\t6.25\0e-02\n", 2,
        "NUL byte at column 9, in the value: the file is damaged or not text"),
    RAW("n4-l1.tsv", "1\0 2 1\n", 1, "NUL byte at column 2, in the row index"),
    RAW("n4-l1.tsv", "1 2\0\0 1\n", 1, "NUL byte at column 4, in the column"),
    RAW("n4-l1.tsv", "1 2 1\x01\n", 1, "control byte 0x01 at column 6"),
    RAW("n4-l1.tsv", "1 2 1 \x7f\n", 1, "control byte 0x7f at column 7, in "
        "the rest of the line"),
    RAW("n4-l1.tsv", "1 2 1 \0\n", 1, "NUL byte at column 7"),
    RAW("l1.mtx", "%%MatrixMarket matrix coordinate real gen\0eral\n"
        "4 4 1\n1 1 1\n", 1, "NUL byte at column 42, in the header"),
    RAW("l1.mtx", MM_REAL "4 4 1\n1 1 0.5\0\n", 3,
        "NUL byte at column 8, in the value"),
    RAW("l1.mtx", MM_REAL "4 4\0 1\n1 1 0.5\n", 2,
        "NUL byte at column 4, in the column count"),
    RAW("img.tsv", "1 1 1\n2\0 1 1\n", 2, "NUL byte at column 2, in the image"),
    RAW("img.tsv", "1 1 1\x02\n", 1, "control byte 0x02 at column 6"),
    RAW("cat.tsv", "1\n2\0\n", 2, "NUL byte at column 2, in the image id"),
    RAW("bias.txt", "1 -0.3\0\n2 -0.3\n", 1,
        "NUL byte at column 7, in the bias"),
    RAW("bias.txt", "1 2 -0.3\n1\0 1 0\n", 2,
        "NUL byte at column 2, in the layer"),
};

/* Fails unless msg holds only printable bytes. */
static void assert_printable(const char *label, const char *msg)
{
    for (const char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            fail_msg("%s: a raw byte 0x%02x in the message", label,
                     (unsigned char)*p);
}

/* Every reader rejects a control byte inside a line (strtof would stop at
 * a NUL: 6.25\0e-02 read as 6.25), naming the file, line and column, in a
 * message that is whole and printable. */
static void test_control_bytes(void **state)
{
    const char *dir = *state;
    for (size_t i = 0; i < sizeof CONTROL_BYTES / sizeof *CONTROL_BYTES; i++) {
        const raw_file *c = &CONTROL_BYTES[i];
        char name[32], label[64], path[8192];
        sdsinf_err err = {0};
        int rc;
        snprintf(name, sizeof name, "case%zu", i);
        snprintf(label, sizeof label, "control case %zu (%s)", i, c->name);
        char *d = subdir(dir, name);
        snprintf(path, sizeof path, "%s/%s", d, c->name);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(c->data, 1, c->size, f), c->size);
        assert_int_equal(fclose(f), 0);
        if (!strcmp(c->name, "img.tsv")) {
            sdsinf_csr out = {0};
            rc = sdsinf_images_load(path, 4, &out, &err);
            assert_null(out.rowptr);
        } else if (!strcmp(c->name, "cat.tsv")) {
            int64_t *ids = NULL, count = 0;
            rc = sdsinf_categories_load(path, &ids, &count, &err);
            assert_null(ids);
        } else {
            sdsinf_model_opts o = opts_bias("-0.3");
            if (!strcmp(c->name, "bias.txt")) {
                put_model(d);
                o.bias = path;
            }
            sdsinf_model *m = NULL;
            rc = sdsinf_model_load(d, &o, &m, &err);
            assert_null(m);
        }
        check_err(label, rc, &err, SDSINF_EPARSE, path, c->line, c->words);
        assert_printable(label, err.msg);
        free(d);
    }
}

/* sdsinf_err_set fills err and returns the code; NULL err is fine; a
 * long message is cut, terminated. */
static void test_err_set(void **state)
{
    (void)state;
    sdsinf_err err = {0};
    char long_text[600];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = 0;
    assert_int_equal(sdsinf_err_set(&err, SDSINF_EIO, "%s: %d", "f", 7),
                     SDSINF_EIO);
    assert_int_equal(err.code, SDSINF_EIO);
    assert_string_equal(err.msg, "f: 7");
    assert_int_equal(sdsinf_err_set(NULL, SDSINF_EPARSE, "x"), SDSINF_EPARSE);
    sdsinf_err_set(&err, SDSINF_EINVAL, "%s", long_text);
    assert_true(strlen(err.msg) < sizeof err.msg);
    assert_non_null(strstr(err.msg, "x ... x"));
}

/* A chain of causes over the message's size keeps its head (the thing at
 * fault) and its tail (the innermost cause and the advice), cut between
 * words; text without spaces is cut between UTF-8 characters. */
static void test_err_set_keeps_ends(void **state)
{
    (void)state;
    sdsinf_err inner = {0}, err = {0};
    const char *loc = "s3://sdsinf-demo-bucket-9f1bb4c051a8e/runs/"
                      "20261204T190925.358Z-fbff67ab/result.json";
    sdsinf_err_set(&inner, SDSINF_EIO, "AWS s3: PutObject %s: HTTP 404 "
                   "NoSuchBucket: The specified bucket does not exist "
                   "(request 1F2E3D4C5B6A7980)", loc + 5);
    assert_non_null(strstr(inner.msg, "does not exist (request"));
    sdsinf_err_set(&err, SDSINF_EIO, "%s: not written: %s (does the bucket "
                   "exist, and may these credentials write it?)", loc,
                   inner.msg);
    assert_true(strlen(err.msg) < sizeof err.msg);
    assert_memory_equal(err.msg, loc, strlen(loc));
    assert_non_null(strstr(err.msg, "HTTP 404 NoSuchBucket: The specified "
                                    "bucket does not exist (request "
                                    "1F2E3D4C5B6A7980) (does the bucket "
                                    "exist, and may these credentials "
                                    "write it?)"));
    assert_null(strstr(err.msg, " ... ")); /* all of it fits */
    char words[900] = "";
    for (int i = 0; i < 150; i++)
        strcat(words, i % 2 ? "cause " : "word ");
    sdsinf_err_set(&err, SDSINF_EIO, "%s(advice)", words);
    const char *cut = strstr(err.msg, " ... ");
    assert_non_null(cut);
    assert_true(cut[5] != ' ' && cut[-1] != ' ');
    assert_non_null(strstr(err.msg, "cause (advice)"));
    char wide[900] = "";
    for (int i = 0; i < 400; i++)
        strcat(wide, "\xc3\xa9"); /* é */
    sdsinf_err_set(&err, SDSINF_EINVAL, "%s", wide);
    const char *gap = strstr(err.msg, " ... ");
    assert_non_null(gap);
    assert_true((gap - err.msg) % 2 == 0 && strlen(gap + 5) % 2 == 0);
    assert_true((unsigned char)gap[5] == 0xc3);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)
    const struct CMUnitTest tests[] = {
        T(test_err_set),
        T(test_err_set_keeps_ends),
        T(test_bad_layer_files),
        T(test_bad_second_layer),
        T(test_missing_layer),
        T(test_duplicate_layer),
        T(test_names_disagree),
        T(test_neurons_smaller_than_index),
        T(test_mtx_size_disagrees),
        T(test_too_many_layers_requested),
        T(test_no_layers_or_no_dir),
        T(test_no_default_bias),
        T(test_tsv_loads),
        T(test_neurons_from_name),
        T(test_neurons_from_indices),
        T(test_layers_option_takes_first),
        T(test_mtx_loads),
        T(test_save_tsv_round_trip),
        T(test_save_tsv_round_trip_bias_vectors),
        T(test_bias_one_column),
        T(test_bias_per_layer),
        T(test_bias_per_layer_many_layers),
        T(test_bias_per_neuron),
        T(test_bias_file_in_model_dir),
        T(test_bias_file_with_fewer_layers),
        T(test_bad_bias_files),
        T(test_bias_missing_ranges),
        T(test_control_bytes),
        T(test_bad_images),
        T(test_images_load),
        T(test_images_load_count),
        T(test_bad_categories),
        T(test_categories_load),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
