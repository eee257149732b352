/* partition_probe.c - runs the hypergraph partitioner on a model and prints
 * the plan's volume (row-target pairs), per-layer spread, imbalance, time.
 *
 *   partition_probe MODEL W... [--seed S] [--imbalance X] [--effort E]
 *                   [--init zoltan|greedy|random] [--window K] [--sweeps N]
 *                   [--span K]
 *                   [--images FILE [--sample N]] [--baselines] [--check]
 *                   [--dump FILE]
 *
 * MODEL is a weights directory or a bundle.  --images weighs stage 0 by how
 * often each feature is nonzero in the first N images (default 1000).
 * --baselines also prints contiguous blocks and a random plan; --check runs
 * the same seed twice and compares the plans; --dump writes the (last)
 * plan as raw uint16 worker ids, stage-major.
 *
 * Build (after cmake --build build, whose library holds the partitioner;
 * Zoltan, where CMake found it, is in the MPI plugin
 * build/libsdsinf-mpi.so, which the library finds beside the program):
 *   cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Ibuild/include -Isrc \
 *      bench/partition_probe.c build/libsdsinf.a $(pkg-config --libs libzstd hiredis) \
 *      -ldl -lpthread -lm -o build/partition_probe
 * (drop hiredis in a build without the Redis channel). */
#include "plan/partition.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr,
            "usage: partition_probe MODEL W... [--seed S] [--imbalance X] "
            "[--effort E]\n       [--init zoltan|greedy|random] "
            "[--window K] [--sweeps N] [--span K]\n       "
            "[--images FILE [--sample N]] "
            "[--baselines] [--check] [--dump FILE]\n");
    return 2;
}

static void print_stats(const sdsinf_model *m, int W, const char *what,
                        const uint16_t *owner, double secs)
{
    sdsinf_err err;
    int64_t *pairs = malloc(((size_t)m->layers + 1) * sizeof *pairs);
    double imb = 0;
    if (!pairs || sdsinf__partition_stats(m, W, owner, pairs, &imb, &err)) {
        fprintf(stderr, "stats: %s\n", pairs ? err.msg : "no memory");
        free(pairs);
        return;
    }
    int64_t total = 0, lo = INT64_MAX, hi = 0;
    for (int32_t l = 0; l < m->layers; l++) {
        total += pairs[l];
        lo = pairs[l] < lo ? pairs[l] : lo;
        hi = pairs[l] > hi ? pairs[l] : hi;
    }
    printf("%-8s W=%-3d pairs %9lld  per-layer %5lld..%-5lld  imbalance "
           "%.4f  %.2f s\n",
           what, W, (long long)total, (long long)(m->layers ? lo : 0),
           (long long)hi, imb, secs);
    free(pairs);
}

static void baselines(const sdsinf_model *m, int W, uint64_t seed)
{
    size_t n = (size_t)m->neurons * ((size_t)m->layers + 1);
    uint16_t *o = malloc(n * sizeof *o);
    int32_t *perm = malloc((size_t)m->neurons * sizeof *perm);
    if (!o || !perm) {
        free(o);
        free(perm);
        return;
    }
    for (size_t i = 0; i < n; i++)
        o[i] = (uint16_t)((i % (size_t)m->neurons) * (size_t)W /
                          (size_t)m->neurons);
    print_stats(m, W, "blocks", o, 0);
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int32_t s = 0; s <= m->layers; s++) {
        for (int32_t i = 0; i < m->neurons; i++)
            perm[i] = i;
        for (int32_t i = m->neurons - 1; i > 0; i--) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int32_t j = (int32_t)(x % (uint64_t)(i + 1)), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (int32_t i = 0; i < m->neurons; i++)
            o[(size_t)s * m->neurons + perm[i]] = (uint16_t)(i % W);
    }
    print_stats(m, W, "random", o, 0);
    free(o);
    free(perm);
}

/* How often each feature is nonzero in the first `sample` images. */
static float *feature_weights(const char *path, int32_t neurons,
                              int64_t sample)
{
    sdsinf_csr img;
    sdsinf_err err;
    if (sdsinf_images_load(path, neurons, &img, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return NULL;
    }
    float *w = calloc((size_t)neurons, sizeof *w);
    int64_t rows = img.nrows < sample ? img.nrows : sample;
    for (int64_t r = 0; w && r < rows; r++)
        for (int64_t k = img.rowptr[r]; k < img.rowptr[r + 1]; k++)
            w[img.col[k]] += 1;
    sdsinf_csr_free(&img);
    return w;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    sdsinf__partition_opts o;
    sdsinf__partition_opts_init(&o);
    const char *images = NULL, *dump = NULL;
    int64_t sample = 1000;
    int base = 0, check = 0, nw = 0, ws[64];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--baselines")) {
            base = 1;
        } else if (!strcmp(a, "--check")) {
            check = 1;
        } else if (a[0] == '-' && a[1] == '-' && !v) {
            return usage();
        } else if (!strcmp(a, "--seed")) {
            o.seed = strtoull(v, NULL, 0), i++;
        } else if (!strcmp(a, "--imbalance")) {
            o.imbalance = atof(v), i++;
        } else if (!strcmp(a, "--effort")) {
            o.effort = atof(v), i++;
        } else if (!strcmp(a, "--span")) {
            o.span = atoi(v), i++;
        } else if (!strcmp(a, "--sweeps")) {
            o.sweeps = atoi(v), i++;
        } else if (!strcmp(a, "--window")) {
            o.window = atoi(v), i++;
        } else if (!strcmp(a, "--dump")) {
            dump = v, i++;
        } else if (!strcmp(a, "--images")) {
            images = v, i++;
        } else if (!strcmp(a, "--sample")) {
            sample = atoll(v), i++;
        } else if (!strcmp(a, "--init")) {
            o.initial = !strcmp(v, "greedy")   ? SDSINF__PART_INIT_GREEDY
                        : !strcmp(v, "random") ? SDSINF__PART_INIT_RANDOM
                                               : SDSINF__PART_INIT_ZOLTAN;
            i++;
        } else if (atoi(a) > 0 && nw < 64) {
            ws[nw++] = atoi(a);
        } else {
            return usage();
        }
    }
    sdsinf_model *m = NULL;
    sdsinf_err err;
    double t = sdsinf__now();
    if (sdsinf_model_load(argv[1], NULL, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("model %s: %d neurons, %d layers, loaded in %.2f s\n", argv[1],
           (int)m->neurons, (int)m->layers, sdsinf__now() - t);
    float *iw = images ? feature_weights(images, m->neurons, sample) : NULL;
    o.input_weight = iw;
    int rc = 0;
    for (int k = 0; k < nw && !rc; k++) {
        uint16_t *owner = NULL, *again = NULL;
        sdsinf__partition_report rep;
        o.workers = ws[k];
        if (base)
            baselines(m, ws[k], o.seed);
        t = sdsinf__now();
        if (sdsinf__partition_run(m, &o, &owner, &rep, &err)) {
            fprintf(stderr, "partition: %s\n", err.msg);
            rc = 1;
            break;
        }
        double secs = sdsinf__now() - t;
        print_stats(m, ws[k], "plan", owner, secs);
        printf("  clusters %lld; cut initial %lld (%.2f s), sweeps %lld "
               "(%.2f s; zoltan %d calls, %d failed), annealed %lld "
               "(%.2f s), final %lld (%.2f s); build %.2f s\n",
               (long long)rep.clusters, (long long)rep.cut_initial,
               rep.t_initial, (long long)rep.cut_sweeps, rep.t_sweeps,
               rep.zoltan_calls, rep.zoltan_failures,
               (long long)rep.cut_clusters, rep.t_clusters,
               (long long)rep.cut_final, rep.t_final, rep.t_build);
        FILE *fp = dump ? fopen(dump, "wb") : NULL;
        if (fp) {
            fwrite(owner, sizeof *owner,
                   (size_t)m->neurons * ((size_t)m->layers + 1), fp);
            fclose(fp);
        }
        if (check) {
            if (sdsinf__partition_run(m, &o, &again, NULL, &err)) {
                fprintf(stderr, "partition: %s\n", err.msg);
                rc = 1;
            } else {
                size_t n = (size_t)m->neurons * ((size_t)m->layers + 1);
                int same = !memcmp(owner, again, n * sizeof *owner);
                printf("  same seed again: %s\n",
                       same ? "identical plan" : "DIFFERENT plan");
                rc = !same;
            }
        }
        sdsinf__free(owner);
        sdsinf__free(again);
    }
    free(iw);
    sdsinf_model_free(m);
    return rc;
}
