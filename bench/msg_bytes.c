/* msg_bytes.c - how many bytes the workers' messages take on a real network.
 *
 * Runs every layer of a model on the whole batch in one process and, for
 * every layer l and every (owner, target) pair of a plan, encodes exactly
 * the block a worker would send: the rows k of stage l-1 that the owner
 * owns and whose target list (sdsinf_plan_targets) holds the target, taken
 * from the owner's own activations (its columns only).  Totals messages and
 * bytes per layer and overall for the raw codec and zstd levels 1, 3 and 9,
 * and for comparison the same blocks as (sample, neuron, float32) triples
 * under zstd; every message is decoded again (its entries counted against
 * the block's).  Bytes include the 64-byte header of every message.
 * Times: encoding from the owners' transposed activations
 * (sdsinf__msg_encode_t; the transposes, once per owner and layer, are
 * timed apart), decoding, and inference (sdsinf_layer_forward on the whole
 * batch); the default codec is also encoded from the sample-major
 * activations (sdsinf__msg_encode, which scans them for every block),
 * timed, and checked to give the same bytes.
 *
 * Build (from the project root, after `cmake --build build`):
 *   cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Ibuild/include -Isrc \
 *      bench/msg_bytes.c build/libsdsinf.a $(pkg-config --libs libzstd hiredis) \
 *      -ldl -lpthread -lm -o build/msg_bytes
 * (drop hiredis in a build without the Redis channel; Zoltan, where the
 * build has it, comes from build/libsdsinf-mpi.so, found beside the
 * program).
 * Run:
 *   build/sdsinf convert --weights ../shared/data/graphchallenge/neuron1024 \
 *       --out /tmp/m1024.sdsinf
 *   build/sdsinf partition --weights /tmp/m1024.sdsinf --workers 8 \
 *       --out /tmp/plan8
 *   build/msg_bytes --model /tmp/m1024.sdsinf --plan /tmp/plan8 \
 *       --images ../shared/data/graphchallenge/sparse-images-1024-first6000.tsv
 * Options: --layers L (the first L), --max-bytes B (chunk limit, 0: none),
 * --totals (no line per layer), --threads T (inference threads). */
#include "run/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

enum { RAW, Z1, Z3, Z9, NCONF, DEFAULT = Z3 };
static const char *conf_name[NCONF] = {"raw", "zstd-1", "zstd-3", "zstd-9"};
static const int conf_codec[NCONF] = {SDSINF__CODEC_RAW, SDSINF__CODEC_ZSTD,
                                      SDSINF__CODEC_ZSTD, SDSINF__CODEC_ZSTD};
static const int conf_level[NCONF] = {0, 1, 3, 9};

typedef struct totals {
    double bytes[NCONF], msgs[NCONF], enc_s[NCONF], dec_s[NCONF];
    double enc_y_s, transpose_s;  /* the sample-major encode (default
                                     codec); transposing the parts */
    double triples, triples_msgs; /* zstd-3 of (sample, neuron, value) */
    double entries, blocks;
} totals;

static void die(const char *what, const sdsinf_err *err)
{
    fprintf(stderr, "msg_bytes: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

/* The columns of y that `owner` owns: what that worker holds. */
static void own_columns(const sdsinf_csr *y, const uint16_t *owner, int w,
                        sdsinf_csr *out)
{
    sdsinf_err err;
    int64_t n = 0;
    for (int64_t e = 0; e < sdsinf_csr_nnz(y); e++)
        n += owner[y->col[e]] == w;
    if (sdsinf_csr_alloc(out, y->nrows, y->ncols, n, &err) != SDSINF_OK)
        die("alloc", &err);
    n = 0;
    for (int64_t s = 0; s < y->nrows; s++) {
        for (int64_t e = y->rowptr[s]; e < y->rowptr[s + 1]; e++)
            if (owner[y->col[e]] == w) {
                out->col[n] = y->col[e];
                out->val[n++] = y->val[e];
            }
        out->rowptr[s + 1] = n;
    }
}

/* The block as triples in sample order, zstd level 3, plus a header. */
static double triples_bytes(const sdsinf_csr *y, const uint32_t *rows,
                            int64_t nrows, int64_t neurons)
{
    char *in = calloc((size_t)neurons, 1);
    size_t cap = 1024, len = 0;
    unsigned char *buf = malloc(cap);
    for (int64_t i = 0; i < nrows; i++)
        in[rows[i]] = 1;
    for (int64_t s = 0; s < y->nrows; s++)
        for (int64_t e = y->rowptr[s]; e < y->rowptr[s + 1]; e++) {
            if (!in[y->col[e]])
                continue;
            if (len + 12 > cap)
                buf = realloc(buf, cap *= 2);
            uint32_t t[3] = {(uint32_t)s, y->col[e], 0};
            memcpy(&t[2], &y->val[e], 4);
            memcpy(buf + len, t, 12);
            len += 12;
        }
    size_t bound = ZSTD_compressBound(len);
    void *z = malloc(bound);
    size_t n = ZSTD_compress(z, bound, buf, len, 3);
    free(z);
    free(buf);
    free(in);
    return SDSINF__MSG_HEADER + (double)(ZSTD_isError(n) ? len : n);
}

/* Decodes every message of buf and checks the entries add up to `want`. */
static void decode_all(const sdsinf__buf *buf, uint32_t nchunks,
                       int64_t samples, int64_t neurons, int64_t want)
{
    sdsinf_err err;
    size_t at = 0;
    int64_t got = 0;
    for (uint32_t c = 0; c < nchunks; c++) {
        size_t len;
        sdsinf__rows part = {0};
        if (sdsinf__msg_length(buf->data + at, buf->len - at, &len, &err) ||
            sdsinf__msg_decode(buf->data + at, len, samples, neurons, NULL,
                               &part, &err))
            die("decode", &err);
        got += sdsinf_csr_nnz(&part.m);
        sdsinf__rows_free(&part);
        at += len;
    }
    if (got != want) {
        fprintf(stderr, "msg_bytes: decoded %lld entries, sent %lld\n",
                (long long)got, (long long)want);
        exit(1);
    }
}

/* Encodes (and decodes) every block of layer l from the owners' parts
 * (part: sample-major, as sdsinf_layer_forward makes them; partt: their
 * transposes, which the timed encodes use). */
static void layer_blocks(const sdsinf_plan *p, int32_t l, int W,
                         const sdsinf_csr *part, const sdsinf_csr *partt,
                         int64_t neurons, size_t max_bytes, totals *t)
{
    const uint16_t *owner = sdsinf_plan_owner(p, l - 1);
    uint32_t *rows = malloc((size_t)neurons * sizeof *rows);
    sdsinf_err err;
    for (int a = 0; a < W; a++)
        for (int b = 0; b < W; b++) {
            int64_t n = 0, entries = 0;
            for (int32_t k = 0; k < neurons; k++) {
                const uint16_t *tg;
                int64_t nt;
                if (owner[k] != a)
                    continue;
                sdsinf_plan_targets(p, l, k, &tg, &nt);
                for (int64_t i = 0; i < nt; i++)
                    if (tg[i] == b) {
                        rows[n++] = (uint32_t)k;
                        entries += partt[a].rowptr[k + 1] - partt[a].rowptr[k];
                    }
            }
            if (!n)
                continue; /* no pair: no message */
            t->blocks++;
            t->entries += (double)entries;
            sdsinf__msg_key key = {1, 0, (uint32_t)l, (uint32_t)a,
                                   (uint32_t)b, 0, 0};
            sdsinf__buf ref = {0};
            for (int c = 0; c < NCONF; c++) {
                sdsinf__msg_opts o = {conf_codec[c], conf_level[c], max_bytes,
                                      NULL, 0};
                sdsinf__buf buf = {0};
                uint32_t nchunks, nref;
                double t0 = sdsinf__now();
                if (sdsinf__msg_encode_t(&partt[a], rows, NULL, n, &key, &o, &buf,
                                         &nchunks, &err))
                    die("encode", &err);
                double t1 = sdsinf__now();
                decode_all(&buf, nchunks, part[a].nrows, neurons, entries);
                t->enc_s[c] += t1 - t0;
                t->dec_s[c] += sdsinf__now() - t1;
                t->bytes[c] += (double)buf.len;
                t->msgs[c] += nchunks;
                if (c == DEFAULT) { /* the sample-major path: same bytes */
                    t0 = sdsinf__now();
                    if (sdsinf__msg_encode(&part[a], rows, n, &key, &o, &ref,
                                           &nref, &err))
                        die("encode", &err);
                    t->enc_y_s += sdsinf__now() - t0;
                    if (ref.len != buf.len || memcmp(ref.data, buf.data,
                                                     buf.len))
                        die("sample-major and transposed encodes differ",
                            NULL);
                }
                sdsinf__buf_free(&buf);
            }
            sdsinf__buf_free(&ref);
            t->triples += triples_bytes(&part[a], rows, n, neurons);
            t->triples_msgs++;
        }
    free(rows);
}

static void add(totals *all, const totals *t)
{
    for (int c = 0; c < NCONF; c++) {
        all->bytes[c] += t->bytes[c];
        all->msgs[c] += t->msgs[c];
        all->enc_s[c] += t->enc_s[c];
        all->dec_s[c] += t->dec_s[c];
    }
    all->enc_y_s += t->enc_y_s;
    all->transpose_s += t->transpose_s;
    all->triples += t->triples;
    all->triples_msgs += t->triples_msgs;
    all->entries += t->entries;
    all->blocks += t->blocks;
}

int main(int argc, char **argv)
{
    const char *model = "/tmp/m1024.sdsinf", *plan_dir = "/tmp/plan8";
    const char *images =
        "../shared/data/graphchallenge/sparse-images-1024-first6000.tsv";
    int32_t layers = 0;
    int per_layer = 1, threads = 0;
    size_t max_bytes = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--totals"))
            per_layer = 0;
        else if (v && !strcmp(a, "--model"))
            model = argv[++i];
        else if (v && !strcmp(a, "--plan"))
            plan_dir = argv[++i];
        else if (v && !strcmp(a, "--images"))
            images = argv[++i];
        else if (v && !strcmp(a, "--layers"))
            layers = atoi(argv[++i]);
        else if (v && !strcmp(a, "--max-bytes"))
            max_bytes = (size_t)atoll(argv[++i]);
        else if (v && !strcmp(a, "--threads"))
            threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: msg_bytes [--model F] [--plan DIR] "
                    "[--images F] [--layers L] [--max-bytes B] [--totals] "
                    "[--threads T]\n");
            return 2;
        }
    }
    sdsinf_err err;
    sdsinf_model *m;
    sdsinf_plan *p;
    sdsinf_pool *pool;
    sdsinf_csr y = {0}, next = {0}, tmp;
    if (sdsinf_model_load(model, NULL, &m, &err))
        die(model, &err);
    if (sdsinf_images_load(images, m->neurons, &y, &err))
        die(images, &err);
    if (sdsinf_plan_load(plan_dir, m, &p, &err))
        die(plan_dir, &err);
    if (sdsinf_pool_create(threads, &pool, &err))
        die("pool", &err);
    sdsinf_plan_stats st;
    sdsinf_plan_get_stats(p, &st);
    int W = st.workers;
    if (layers <= 0 || layers > m->layers)
        layers = m->layers;
    double images_n = (double)y.nrows, infer_s = 0;
    sdsinf_csr *part = calloc((size_t)W, sizeof *part);
    sdsinf_csr *partt = calloc((size_t)W, sizeof *partt);
    totals all = {0};
    printf("model %s: %d neurons x %d layers; %lld images; plan %s: %d "
           "workers, %lld row-target pairs; chunk limit %zu\n",
           model, m->neurons, layers, (long long)y.nrows, st.method, W,
           (long long)st.row_target_pairs, max_bytes);
    if (per_layer)
        printf("%5s %6s %8s %9s %8s %8s %8s %8s %8s  (bytes per image; "
               "messages: %s)\n", "layer", "blocks", "messages", "entries",
               "raw", "zstd-1", "zstd-3", "zstd-9", "triples",
               conf_name[DEFAULT]);
    for (int32_t l = 1; l <= layers; l++) {
        totals t = {0};
        for (int w = 0; w < W; w++) {
            sdsinf_csr_free(&part[w]);
            sdsinf_csr_free(&partt[w]);
            own_columns(&y, sdsinf_plan_owner(p, l - 1), w, &part[w]);
            double t0 = sdsinf__now();
            if (sdsinf_csr_transpose(&part[w], &partt[w], &err))
                die("transpose", &err);
            t.transpose_s += sdsinf__now() - t0;
        }
        layer_blocks(p, l, W, part, partt, m->neurons, max_bytes, &t);
        add(&all, &t);
        if (per_layer)
            printf("%5d %6.0f %8.0f %9.0f %8.1f %8.1f %8.1f %8.1f %8.1f\n",
                   l, t.blocks, t.msgs[DEFAULT], t.entries,
                   t.bytes[RAW] / images_n,
                   t.bytes[Z1] / images_n, t.bytes[Z3] / images_n,
                   t.bytes[Z9] / images_n, t.triples / images_n);
        double t0 = sdsinf__now();
        if (sdsinf_layer_forward(pool, &m->layer[l - 1], m->ymax, &y, &next,
                                 &err))
            die("layer", &err);
        infer_s += sdsinf__now() - t0;
        tmp = y;
        y = next;
        next = tmp;
    }
    printf("\n%lld blocks, %.0f entries sent (%.1f per image); inference "
           "%.3f s for %d layers (%d threads)\n",
           (long long)all.blocks, all.entries, all.entries / images_n,
           infer_s, layers, sdsinf_pool_threads(pool));
    printf("%-14s %9s %12s %10s %10s %10s\n", "codec", "messages", "bytes",
           "B/image", "encode s", "decode s");
    for (int c = 0; c < NCONF; c++)
        printf("%-14s %9.0f %12.0f %10.1f %10.3f %10.3f\n", conf_name[c],
               all.msgs[c], all.bytes[c], all.bytes[c] / images_n,
               all.enc_s[c], all.dec_s[c]);
    printf("%-14s %9.0f %12.0f %10.1f\n", "triples+zstd3", all.triples_msgs,
           all.triples, all.triples / images_n);
    printf("encode times are from the owners' transposed activations (the "
           "transposes took %.3f s); from sample-major ones, %s took %.3f s\n",
           all.transpose_s, conf_name[DEFAULT], all.enc_y_s);
    for (int w = 0; w < W; w++) {
        sdsinf_csr_free(&part[w]);
        sdsinf_csr_free(&partt[w]);
    }
    free(part);
    free(partt);
    sdsinf_csr_free(&y);
    sdsinf_csr_free(&next);
    sdsinf_pool_free(pool);
    sdsinf_plan_free(p);
    sdsinf_model_free(m);
    return 0;
}
