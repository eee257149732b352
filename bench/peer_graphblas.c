/*
 * peer_graphblas.c — SuiteSparse:GraphBLAS peer for the GraphChallenge
 * Sparse DNN inference benchmark.
 *
 * It runs the LAGraph formulation (LAGraph experimental/algorithm/LAGraph_dnn.c)
 * of the GraphChallenge inference rule, layer by layer:
 *
 *     Y = Y * W[l]           GrB_mxm, GrB_PLUS_TIMES_SEMIRING_FP32
 *     Y = Y * Bias[l]        GrB_mxm, GrB_MIN_PLUS_SEMIRING_FP32, Bias diagonal:
 *                            adds the bias to the stored entries of Y only
 *     Y = select (Y > 0)     GrB_select, GrB_VALUEGT_FP32 (ReLU, drops <= 0)
 *     Y = min (Y, 32)        GrB_apply, GrB_MIN_FP32 bound to 32 (YMAX clamp)
 *
 * Loading weights and images is not timed; only the layer loop (ended by a
 * GrB_wait that forces all pending work to finish) is.
 *
 * Build:  cc -O2 -std=c11 bench/peer_graphblas.c -lgraphblas -lm -o peer_graphblas
 * Usage:  peer_graphblas --weights DIR --images FILE --neurons N --layers L
 *                        [--threads T] [--check GOLD]
 *
 * The last stdout line is one JSON object:
 *   {"peer":"graphblas","threads":T,"images":M,"neurons":N,"layers":L,
 *    "seconds":S,"categories":C,"check":"pass"|"fail"|null}
 * Exit status: 0 when it ran (and the check, if any, passed), 1 when the
 * check failed, 2 on usage, input or GraphBLAS errors.
 */
#define _POSIX_C_SOURCE 200809L

#include <GraphBLAS.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------ */
/* Error handling                                                            */
/* ------------------------------------------------------------------------ */

/* Readable name of a GrB_Info code, for error messages. */
static const char *info_name(GrB_Info info)
{
    switch (info) {
    case GrB_SUCCESS:              return "GrB_SUCCESS";
    case GrB_NO_VALUE:             return "GrB_NO_VALUE";
    case GrB_UNINITIALIZED_OBJECT: return "GrB_UNINITIALIZED_OBJECT";
    case GrB_NULL_POINTER:         return "GrB_NULL_POINTER";
    case GrB_INVALID_VALUE:        return "GrB_INVALID_VALUE";
    case GrB_INVALID_INDEX:        return "GrB_INVALID_INDEX";
    case GrB_DOMAIN_MISMATCH:      return "GrB_DOMAIN_MISMATCH";
    case GrB_DIMENSION_MISMATCH:   return "GrB_DIMENSION_MISMATCH";
    case GrB_OUTPUT_NOT_EMPTY:     return "GrB_OUTPUT_NOT_EMPTY";
    case GrB_NOT_IMPLEMENTED:      return "GrB_NOT_IMPLEMENTED";
    case GrB_PANIC:                return "GrB_PANIC";
    case GrB_OUT_OF_MEMORY:        return "GrB_OUT_OF_MEMORY";
    case GrB_INSUFFICIENT_SPACE:   return "GrB_INSUFFICIENT_SPACE";
    case GrB_INVALID_OBJECT:       return "GrB_INVALID_OBJECT";
    case GrB_INDEX_OUT_OF_BOUNDS:  return "GrB_INDEX_OUT_OF_BOUNDS";
    case GrB_EMPTY_OBJECT:         return "GrB_EMPTY_OBJECT";
    default:                       return "unknown GrB_Info";
    }
}

/*
 * Run a GraphBLAS call; on anything but GrB_SUCCESS print which call failed,
 * its code, and the context (layer or file) given, then exit with status 2.
 * A benchmark has nothing sensible to recover to, so exiting is the handling.
 */
#define GRB_CHECK(call, ...)                                                  \
    do {                                                                      \
        GrB_Info info_ = (call);                                              \
        if (info_ != GrB_SUCCESS) {                                           \
            fprintf(stderr, "peer_graphblas: %s failed: %s (%d) at %s:%d: ",  \
                    #call, info_name(info_), (int)info_, __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
            exit(2);                                                          \
        }                                                                     \
    } while (0)

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "peer_graphblas: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "peer_graphblas: out of memory (%zu bytes)\n", n);
        exit(2);
    }
    return p;
}

/* ------------------------------------------------------------------------ */
/* TSV loading (not timed)                                                   */
/* ------------------------------------------------------------------------ */

/* Read a whole file into a NUL-terminated buffer. */
static char *read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "peer_graphblas: cannot open %s: %s\n", path,
                strerror(errno));
        exit(2);
    }
    if (fseek(f, 0, SEEK_END) != 0) die("cannot seek in %s", path);
    long size = ftell(f);
    if (size < 0) die("cannot size %s", path);
    rewind(f);
    char *buf = xmalloc((size_t)size + 1);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size)
        die("short read on %s", path);
    fclose(f);
    buf[size] = '\0';
    if (len_out) *len_out = (size_t)size;
    return buf;
}

/*
 * Triplets of a `row<TAB>col<TAB>value` file, converted from 1-based to the
 * 0-based indices GraphBLAS uses.
 */
typedef struct {
    GrB_Index *rows;
    GrB_Index *cols;
    float *vals;
    GrB_Index n;       /* number of triplets */
    GrB_Index max_row; /* largest 1-based row index seen (0 if none) */
    GrB_Index max_col; /* largest 1-based column index seen */
} triplets;

/* Parse every non-blank line of `path` as `r c v` (whitespace separated). */
static triplets read_triplets(const char *path)
{
    size_t len;
    char *buf = read_file(path, &len);

    /* Upper bound on the triplet count: one per newline, plus a last line. */
    size_t cap = 1;
    for (size_t i = 0; i < len; i++) cap += (buf[i] == '\n');

    triplets t = {xmalloc(cap * sizeof(GrB_Index)),
                  xmalloc(cap * sizeof(GrB_Index)),
                  xmalloc(cap * sizeof(float)), 0, 0, 0};
    char *p = buf;
    size_t line = 1; /* for error messages */
    while (*p) {
        char *end;
        /* Skip blank lines (and a trailing newline at end of file). */
        while (*p == '\r' || *p == '\n' || *p == ' ' || *p == '\t') {
            if (*p == '\n') line++;
            p++;
        }
        if (*p == '\0') break;
        unsigned long long r = strtoull(p, &end, 10);
        if (end == p) goto bad;
        p = end;
        unsigned long long c = strtoull(p, &end, 10);
        if (end == p) goto bad;
        p = end;
        float v = strtof(p, &end);
        if (end == p) goto bad;
        p = end;
        if (r == 0 || c == 0) goto bad; /* indices are 1-based */
        t.rows[t.n] = (GrB_Index)(r - 1);
        t.cols[t.n] = (GrB_Index)(c - 1);
        t.vals[t.n] = v;
        t.n++;
        if (r > t.max_row) t.max_row = r;
        if (c > t.max_col) t.max_col = c;
        /* Move past whatever ends the line. */
        while (*p && *p != '\n') p++;
        continue;
    bad:
        fprintf(stderr, "peer_graphblas: %s: malformed line near line %zu "
                        "(want `row col value`, 1-based)\n", path, line);
        exit(2);
    }
    free(buf);
    return t;
}

static void free_triplets(triplets *t)
{
    free(t->rows);
    free(t->cols);
    free(t->vals);
    memset(t, 0, sizeof *t);
}

/* Build an nrows-by-ncols FP32 matrix from triplets (duplicates summed). */
static GrB_Matrix build_matrix(const triplets *t, GrB_Index nrows,
                               GrB_Index ncols, const char *what)
{
    GrB_Matrix A = NULL;
    GRB_CHECK(GrB_Matrix_new(&A, GrB_FP32, nrows, ncols), "%s", what);
    GRB_CHECK(GrB_Matrix_build_FP32(A, t->rows, t->cols, t->vals, t->n,
                                    GrB_PLUS_FP32),
              "building %s (an index beyond %llu x %llu?)", what,
              (unsigned long long)nrows, (unsigned long long)ncols);
    GRB_CHECK(GrB_Matrix_wait(A, GrB_MATERIALIZE), "%s", what);
    return A;
}

/* The GraphChallenge bias for a network width; 0 marks an unknown width. */
static float bias_for(long neurons)
{
    switch (neurons) {
    case 1024:  return -0.3f;
    case 4096:  return -0.35f;
    case 16384: return -0.4f;
    case 65536: return -0.45f;
    default:    return 0.0f;
    }
}

static int cmp_index(const void *a, const void *b)
{
    GrB_Index x = *(const GrB_Index *)a, y = *(const GrB_Index *)b;
    return (x > y) - (x < y);
}

/* ------------------------------------------------------------------------ */
/* Main                                                                      */
/* ------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr,
            "usage: peer_graphblas --weights DIR --images FILE --neurons N "
            "--layers L [--threads T] [--check GOLD]\n"
            "  DIR holds nN-l1.tsv .. nN-lL.tsv (`row col value`, 1-based)\n"
            "  FILE is `image feature value` (1-based)\n"
            "  GOLD lists the 1-based ids of images with a nonzero final row\n");
    exit(2);
}

static long parse_long(const char *s, const char *flag)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end != '\0' || v <= 0) {
        fprintf(stderr, "peer_graphblas: %s needs a positive integer, got '%s'\n",
                flag, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    const char *weights_dir = NULL, *images_path = NULL, *gold_path = NULL;
    long neurons = 0, layers = 0, threads = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage(); /* every flag takes a value */
        if (!strcmp(a, "--weights")) weights_dir = argv[++i];
        else if (!strcmp(a, "--images")) images_path = argv[++i];
        else if (!strcmp(a, "--neurons")) neurons = parse_long(argv[++i], a);
        else if (!strcmp(a, "--layers")) layers = parse_long(argv[++i], a);
        else if (!strcmp(a, "--threads")) threads = parse_long(argv[++i], a);
        else if (!strcmp(a, "--check")) gold_path = argv[++i];
        else usage();
    }
    if (!weights_dir || !images_path || !neurons || !layers) usage();
    const float bias = bias_for(neurons);
    if (bias == 0.0f) {
        fprintf(stderr, "peer_graphblas: no GraphChallenge bias for %ld "
                        "neurons (use 1024, 4096, 16384 or 65536)\n", neurons);
        exit(2);
    }

    /* Non-blocking mode, as LAGraph uses; the final GrB_wait forces the work. */
    GRB_CHECK(GrB_init(GrB_NONBLOCKING), "initialising GraphBLAS");
    GRB_CHECK(GxB_Global_Option_set(GxB_NTHREADS, (int)threads),
              "setting %ld threads", threads);

    /* ---- load the weights: W[l] is neurons x neurons, W[l](r,c) ---- */
    GrB_Matrix *W = xmalloc((size_t)layers * sizeof *W);
    for (long l = 0; l < layers; l++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/n%ld-l%ld.tsv", weights_dir, neurons,
                 l + 1);
        triplets t = read_triplets(path);
        W[l] = build_matrix(&t, (GrB_Index)neurons, (GrB_Index)neurons, path);
        free_triplets(&t);
    }

    /*
     * Bias: the diagonal neurons x neurons matrix with the bias on its
     * diagonal. Y = Y min.+ Bias adds Bias(j,j) to each stored Y(i,j) and adds
     * no entries (the MIN monoid never combines two terms since Bias is
     * diagonal) — exactly LAGraph's way. Every layer has the same bias in the
     * GraphChallenge, so one matrix serves all layers (LAGraph keeps an array
     * of identical ones; the work per layer is the same).
     */
    GrB_Matrix Bias = NULL;
    {
        triplets d = {xmalloc((size_t)neurons * sizeof(GrB_Index)),
                      xmalloc((size_t)neurons * sizeof(GrB_Index)),
                      xmalloc((size_t)neurons * sizeof(float)),
                      (GrB_Index)neurons, 0, 0};
        for (long j = 0; j < neurons; j++) {
            d.rows[j] = d.cols[j] = (GrB_Index)j;
            d.vals[j] = bias;
        }
        Bias = build_matrix(&d, (GrB_Index)neurons, (GrB_Index)neurons,
                            "bias matrix");
        free_triplets(&d);
    }

    /* ---- load the images: Y0 is M x neurons, M = largest image id ---- */
    triplets img = read_triplets(images_path);
    if (img.max_col > (GrB_Index)neurons) {
        fprintf(stderr, "peer_graphblas: %s has feature %llu > --neurons %ld\n",
                images_path, (unsigned long long)img.max_col, neurons);
        exit(2);
    }
    const GrB_Index nimages = img.max_row;
    GrB_Matrix Y0 = build_matrix(&img, nimages, (GrB_Index)neurons,
                                 images_path);
    free_triplets(&img);

    GrB_Matrix Y = NULL;
    GRB_CHECK(GrB_Matrix_new(&Y, GrB_FP32, nimages, (GrB_Index)neurons),
              "creating Y");

    /* ---- timed: the layer loop, as in LAGraph_dnn ---- */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long l = 0; l < layers; l++) {
        /* Y = Y * W[l] over the conventional plus-times semiring. */
        GRB_CHECK(GrB_mxm(Y, NULL, NULL, GrB_PLUS_TIMES_SEMIRING_FP32,
                          l == 0 ? Y0 : Y, W[l], NULL),
                  "layer %ld: Y = Y*W", l + 1);
        /* Y = Y min.+ Bias: bias added to the stored entries only. */
        GRB_CHECK(GrB_mxm(Y, NULL, NULL, GrB_MIN_PLUS_SEMIRING_FP32, Y, Bias,
                          NULL),
                  "layer %ld: Y = Y min.+ Bias", l + 1);
        /* ReLU: keep only entries > 0 (GrB_select with GrB_VALUEGT_FP32). */
        GRB_CHECK(GrB_Matrix_select_FP32(Y, NULL, NULL, GrB_VALUEGT_FP32, Y,
                                         0.0f, NULL),
                  "layer %ld: select Y > 0", l + 1);
        /* Clamp: Y = min(Y, 32) (GrB_apply with GrB_MIN_FP32, 32 bound 2nd). */
        GRB_CHECK(GrB_Matrix_apply_BinaryOp2nd_FP32(Y, NULL, NULL, GrB_MIN_FP32,
                                                    Y, 32.0f, NULL),
                  "layer %ld: Y = min(Y, 32)", l + 1);
    }
    /* Non-blocking mode may defer work: force it to finish inside the timer. */
    GRB_CHECK(GrB_Matrix_wait(Y, GrB_MATERIALIZE), "final wait");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double seconds =
        (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);

    /* ---- categories: the rows of Y with any entry (not timed) ---- */
    GrB_Vector rowsum = NULL;
    GRB_CHECK(GrB_Vector_new(&rowsum, GrB_FP32, nimages), "row-sum vector");
    GRB_CHECK(GrB_Matrix_reduce_Monoid(rowsum, NULL, NULL,
                                       GrB_PLUS_MONOID_FP32, Y, NULL),
              "reducing Y to its nonempty rows");
    GrB_Index ncat = 0;
    GRB_CHECK(GrB_Vector_nvals(&ncat, rowsum), "counting categories");
    GrB_Index *cat = xmalloc((size_t)ncat * sizeof *cat);
    {
        GrB_Index n = ncat;
        GRB_CHECK(GrB_Vector_extractTuples_FP32(cat, NULL, &n, rowsum),
                  "extracting categories");
        qsort(cat, (size_t)n, sizeof *cat, cmp_index); /* 0-based, ascending */
    }

    /* ---- check against the golden category list ---- */
    const char *check = NULL;
    if (gold_path) {
        size_t len;
        char *buf = read_file(gold_path, &len);
        size_t cap = 1;
        for (size_t i = 0; i < len; i++) cap += (buf[i] == '\n');
        GrB_Index *gold = xmalloc(cap * sizeof *gold);
        size_t ngold = 0;
        char *p = buf, *end;
        for (;;) {
            unsigned long long id = strtoull(p, &end, 10);
            if (end == p) break; /* end of numbers */
            if (id == 0) die("%s: image ids are 1-based, found 0", gold_path);
            gold[ngold++] = (GrB_Index)(id - 1);
            p = end;
        }
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
        if (*p != '\0') die("%s: not a list of image ids", gold_path);
        qsort(gold, ngold, sizeof *gold, cmp_index);
        int same = (ngold == (size_t)ncat);
        for (size_t i = 0; same && i < ngold; i++) same = (gold[i] == cat[i]);
        check = same ? "pass" : "fail";
        if (!same)
            fprintf(stderr, "peer_graphblas: check failed: %llu categories, "
                            "golden file has %zu\n",
                    (unsigned long long)ncat, ngold);
        free(gold);
        free(buf);
    }

    printf("{\"peer\":\"graphblas\",\"threads\":%ld,\"images\":%llu,"
           "\"neurons\":%ld,\"layers\":%ld,\"seconds\":%.6f,"
           "\"categories\":%llu,\"check\":%s%s%s}\n",
           threads, (unsigned long long)nimages, neurons, layers, seconds,
           (unsigned long long)ncat, check ? "\"" : "", check ? check : "null",
           check ? "\"" : "");

    /* ---- clean up ---- */
    free(cat);
    GrB_free(&rowsum);
    GrB_free(&Y);
    GrB_free(&Y0);
    GrB_free(&Bias);
    for (long l = 0; l < layers; l++) GrB_free(&W[l]);
    free(W);
    GRB_CHECK(GrB_finalize(), "finalising GraphBLAS");
    return (check && strcmp(check, "pass") != 0) ? 1 : 0;
}
