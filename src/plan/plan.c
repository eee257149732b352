/* plan.c - partition plans: owners of every neuron of every stage, the
 * (row, target) lists they imply, their statistics, and the plan directory
 * (plan.bin plus one weight shard per worker).
 *
 * plan.bin layout (native little-endian), every part covered by checksum:
 *   header     struct plan_header
 *   owners     (layers + 1) x neurons uint16
 *   tgt_ptr    layers x (neurons + 1) int64, offsets into tgt
 *   tgt        uint16 worker ids, ascending per row */
#include "core/location.h"
#include "plan/partition.h"
#include "plan/plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLAN_MAGIC "SDSINFPL"
#define PLAN_VERSION 1u
#define MAX_WORKERS 65535

struct sdsinf_plan {
    int32_t neurons, layers, workers;
    char method[16];
    uint64_t seed;
    uint64_t model_sum;  /* fingerprint of the model's structure */
    uint16_t *owner;     /* (layers + 1) x neurons */
    int64_t *tgt_ptr;    /* layers x (neurons + 1) */
    uint16_t *tgt;
    int64_t *pairs;      /* per layer */
    double imbalance, seconds;
};

struct plan_header {
    char magic[8];
    uint32_t version, neurons, layers, workers;
    char method[16];
    uint64_t seed, model_sum;
    double imbalance, seconds; /* seconds: written 0; older files hold
                                  the partitioner's time, read as it is */
    uint64_t ntgt;     /* entries of tgt */
    uint64_t checksum; /* of everything after the header, then the header
                          with this field zero */
};

void sdsinf_partition_opts_init(sdsinf_partition_opts *o)
{
    memset(o, 0, sizeof *o);
    o->version = SDSINF_PARTITION_OPTS_VERSION;
}

void sdsinf_plan_free(sdsinf_plan *p)
{
    if (!p)
        return;
    sdsinf__free(p->owner);
    sdsinf__free(p->tgt_ptr);
    sdsinf__free(p->tgt);
    sdsinf__free(p->pairs);
    sdsinf__free(p);
}

/* A fingerprint of the model's shape and connectivity. */
static uint64_t model_sum(const sdsinf_model *m)
{
    uint64_t h = sdsinf__checksum(&m->neurons, sizeof m->neurons, m->layers);
    for (int32_t l = 0; l < m->layers; l++) {
        const sdsinf_csr *w = &m->layer[l].w;
        h = sdsinf__checksum(w->rowptr, (size_t)(w->nrows + 1) * sizeof *w->rowptr, h);
        h = sdsinf__checksum(w->col, (size_t)sdsinf_csr_nnz(w) * sizeof *w->col, h);
    }
    return h;
}

/* Fills the target lists, pair counts and imbalance from the owners. */
static int plan_derive(sdsinf_plan *p, const sdsinf_model *m, sdsinf_err *err)
{
    int32_t N = p->neurons, L = p->layers;
    int64_t cap = (int64_t)N * 4, n = 0;
    uint16_t *seen = sdsinf__calloc((size_t)p->workers, sizeof *seen);
    p->tgt_ptr = sdsinf__mallocarray((size_t)L * (N + 1), sizeof *p->tgt_ptr);
    p->pairs = sdsinf__calloc((size_t)L, sizeof *p->pairs);
    p->tgt = sdsinf__mallocarray((size_t)cap, sizeof *p->tgt);
    if (!seen || !p->tgt_ptr || !p->pairs || !p->tgt)
        goto nomem;
    uint16_t stamp = 0;
    for (int32_t l = 0; l < L; l++) {
        const sdsinf_csr *w = &m->layer[l].w;
        const uint16_t *in = p->owner + (size_t)l * N;
        const uint16_t *out = p->owner + (size_t)(l + 1) * N;
        int64_t *ptr = p->tgt_ptr + (size_t)l * (N + 1);
        for (int32_t k = 0; k < N; k++) {
            ptr[k] = n;
            if (++stamp == 0) { /* wrapped: clear the marks */
                memset(seen, 0, (size_t)p->workers * sizeof *seen);
                stamp = 1;
            }
            seen[in[k]] = stamp; /* never a target of itself */
            int64_t first = n;
            for (int64_t e = w->rowptr[k]; e < w->rowptr[k + 1]; e++) {
                uint16_t t = out[w->col[e]];
                if (seen[t] == stamp)
                    continue;
                seen[t] = stamp;
                if (n == cap) {
                    cap *= 2;
                    uint16_t *nt = sdsinf__realloc(p->tgt, (size_t)cap * sizeof *nt);
                    if (!nt)
                        goto nomem;
                    p->tgt = nt;
                }
                p->tgt[n++] = t;
            }
            for (int64_t i = first + 1; i < n; i++) /* ascending */
                for (int64_t j = i; j > first && p->tgt[j - 1] > p->tgt[j]; j--) {
                    uint16_t x = p->tgt[j];
                    p->tgt[j] = p->tgt[j - 1];
                    p->tgt[j - 1] = x;
                }
            p->pairs[l] += n - first;
        }
        ptr[N] = n;
    }
    sdsinf__free(seen);
    return sdsinf__partition_stats(m, p->workers, p->owner, NULL,
                                   &p->imbalance, err);
nomem:
    sdsinf__free(seen);
    return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a plan of %d "
                        "layers x %d neurons", L, N);
}

/* Contiguous blocks of equal size in every stage. */
static void partition_block(int32_t N, int32_t L, int W, uint16_t *owner)
{
    for (int32_t s = 0; s <= L; s++)
        for (int32_t n = 0; n < N; n++)
            owner[(size_t)s * N + n] = (uint16_t)((int64_t)n * W / N);
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Equal-size blocks of a seeded random permutation, per stage. */
static int partition_random(int32_t N, int32_t L, int W, uint64_t seed,
                            uint16_t *owner)
{
    int32_t *perm = sdsinf__mallocarray((size_t)N, sizeof *perm);
    uint64_t st = seed;
    if (!perm)
        return 0;
    for (int32_t s = 0; s <= L; s++) {
        for (int32_t n = 0; n < N; n++)
            perm[n] = n;
        for (int32_t n = N - 1; n > 0; n--) {
            int32_t j = (int32_t)(splitmix(&st) % (uint64_t)(n + 1));
            int32_t t = perm[n];
            perm[n] = perm[j];
            perm[j] = t;
        }
        for (int32_t n = 0; n < N; n++)
            owner[(size_t)s * N + perm[n]] = (uint16_t)((int64_t)n * W / N);
    }
    sdsinf__free(perm);
    return 1;
}

/* How often each input feature is set in the sample (data-aware weights). */
static float *feature_weights(const sdsinf_csr *sample, int32_t N)
{
    float *w = sdsinf__calloc((size_t)N, sizeof *w);
    if (!w)
        return NULL;
    for (int64_t i = 0; i < sdsinf_csr_nnz(sample); i++)
        if (sample->col[i] < (uint32_t)N)
            w[sample->col[i]] += 1;
    return w;
}

int sdsinf__plan_from_owners(const sdsinf_model *m, int workers,
                             uint16_t *owner, const char *method,
                             uint64_t seed, double seconds, sdsinf_plan **out,
                             sdsinf_err *err)
{
    int rc;
    sdsinf_plan *p = sdsinf__calloc(1, sizeof *p);
    if (!p) {
        sdsinf__free(owner);
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a plan");
    }
    p->owner = owner;
    p->neurons = m->neurons;
    p->layers = m->layers;
    p->workers = workers;
    p->seed = seed;
    p->seconds = seconds;
    snprintf(p->method, sizeof p->method, "%s", method);
    p->model_sum = model_sum(m);
    if ((rc = plan_derive(p, m, err)) != SDSINF_OK) {
        sdsinf_plan_free(p);
        return rc;
    }
    *out = p;
    return SDSINF_OK;
}

int sdsinf_partition(const sdsinf_model *m, const sdsinf_partition_opts *o,
                     sdsinf_plan **out, sdsinf_err *err)
{
    int rc = SDSINF_OK;
    float *fw = NULL;
    const char *method = o->method ? o->method : "hypergraph";
    double bound = o->imbalance > 0 ? o->imbalance : 0.03;
    if (o->version < 1)
        return sdsinf__fail(err, SDSINF_EINVAL, "bad partition options");
    if (o->workers < 1 || o->workers > MAX_WORKERS)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "workers must be 1..%d, not %d", MAX_WORKERS,
                            o->workers);
    if (o->workers > m->neurons)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "%d workers for %d neurons: every worker must own "
                            "at least one neuron of every layer; use at most "
                            "%d workers",
                            o->workers, m->neurons, m->neurons);
    if (strcmp(method, "block") && strcmp(method, "random") &&
        strcmp(method, "hypergraph"))
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "unknown partition method '%s' (block, random or "
                            "hypergraph)", method);
    size_t cells = (size_t)(m->layers + 1) * (size_t)m->neurons;
    uint16_t *owner = NULL;
    double t = sdsinf__now();
    if (!strcmp(method, "hypergraph")) {
        if (o->sample && !(fw = feature_weights(o->sample, m->neurons))) {
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
            goto done;
        }
        sdsinf__partition_opts ho;
        sdsinf__partition_opts_init(&ho);
        ho.workers = o->workers;
        ho.imbalance = bound;
        ho.seed = o->seed;
        ho.input_weight = fw;
        if (o->version >= 2) {
            ho.progress = o->progress;
            ho.progress_ud = o->progress_ud;
        }
        rc = sdsinf__partition_run(m, &ho, &owner, NULL, err);
    } else if (!(owner = sdsinf__mallocarray(cells, sizeof *owner))) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a plan");
    } else if (!strcmp(method, "block")) {
        partition_block(m->neurons, m->layers, o->workers, owner);
    } else if (!partition_random(m->neurons, m->layers, o->workers, o->seed,
                                 owner)) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    }
    if (rc == SDSINF_OK)
        rc = sdsinf__plan_from_owners(m, o->workers, owner, method, o->seed,
                                      sdsinf__now() - t, out, err);
    else
        sdsinf__free(owner);
done:
    sdsinf__free(fw);
    return rc;
}

void sdsinf_plan_get_stats(const sdsinf_plan *p, sdsinf_plan_stats *s)
{
    memset(s, 0, sizeof *s);
    s->workers = p->workers;
    s->neurons = p->neurons;
    s->layers = p->layers;
    s->method = p->method;
    for (int32_t l = 0; l < p->layers; l++)
        s->row_target_pairs += p->pairs[l];
    s->pairs_per_layer = p->pairs;
    s->imbalance = p->imbalance;
    s->seconds = p->seconds;
}

const uint16_t *sdsinf_plan_owner(const sdsinf_plan *p, int32_t stage)
{
    return stage < 0 || stage > p->layers ? NULL
                                          : p->owner + (size_t)stage * p->neurons;
}

void sdsinf_plan_targets(const sdsinf_plan *p, int32_t layer, int32_t row,
                         const uint16_t **targets, int64_t *count)
{
    *targets = NULL;
    *count = 0;
    if (layer < 1 || layer > p->layers || row < 0 || row >= p->neurons)
        return;
    const int64_t *ptr = p->tgt_ptr + (size_t)(layer - 1) * (p->neurons + 1);
    *targets = p->tgt + ptr[row];
    *count = ptr[row + 1] - ptr[row];
}

/* ---- The plan directory ---------------------------------------------------- */

/* The model restricted to the output columns worker w owns, per layer. */
int sdsinf__plan_shard(const sdsinf_plan *p, const sdsinf_model *m, int w,
                       sdsinf_model **out, sdsinf_err *err)
{
    int32_t N = m->neurons, L = m->layers;
    sdsinf_csr *layers = sdsinf__calloc((size_t)L, sizeof *layers);
    float *bias = sdsinf__mallocarray((size_t)L, sizeof *bias);
    float *vec = NULL;
    int rc = SDSINF_OK;
    if (!layers || !bias) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a shard");
        goto done;
    }
    if (m->layer[0].bias_vec &&
        !(vec = sdsinf__mallocarray((size_t)L * N, sizeof *vec))) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a shard");
        goto done;
    }
    for (int32_t l = 0; l < L && rc == SDSINF_OK; l++) {
        const sdsinf_csr *src = &m->layer[l].w;
        const uint16_t *own = p->owner + (size_t)(l + 1) * N;
        int64_t nnz = 0;
        for (int64_t e = 0; e < sdsinf_csr_nnz(src); e++)
            nnz += own[src->col[e]] == w;
        if ((rc = sdsinf_csr_alloc(&layers[l], N, N, nnz, err)) != SDSINF_OK)
            break;
        int64_t n = 0;
        for (int64_t k = 0; k < N; k++) {
            for (int64_t e = src->rowptr[k]; e < src->rowptr[k + 1]; e++)
                if (own[src->col[e]] == w) {
                    layers[l].col[n] = src->col[e];
                    layers[l].val[n++] = src->val[e];
                }
            layers[l].rowptr[k + 1] = n;
        }
        bias[l] = m->layer[l].bias;
        if (vec)
            memcpy(vec + (size_t)l * N, m->layer[l].bias_vec,
                   (size_t)N * sizeof *vec);
    }
    if (rc == SDSINF_OK) {
        rc = sdsinf_model_from_layers(N, L, layers, bias, vec, m->ymax, out,
                                      err);
        layers = NULL; /* taken */
    }
done:
    for (int32_t l = 0; layers && l < L; l++)
        sdsinf_csr_free(&layers[l]);
    sdsinf__free(layers);
    sdsinf__free(bias);
    sdsinf__free(vec);
    return rc;
}

/* The checksum of the arrays, with ntgt target entries (as the header
 * says, so a damaged offset table is never followed). */
static uint64_t body_checksum(const sdsinf_plan *p, uint64_t ntgt)
{
    size_t N = (size_t)p->neurons, L = (size_t)p->layers;
    uint64_t h = sdsinf__checksum(p->owner, (L + 1) * N * sizeof *p->owner, 0);
    h = sdsinf__checksum(p->tgt_ptr, L * (N + 1) * sizeof *p->tgt_ptr, h);
    return sdsinf__checksum(p->tgt, (size_t)ntgt * sizeof *p->tgt, h);
}

static uint64_t header_checksum(struct plan_header h, uint64_t body)
{
    h.checksum = 0;
    return sdsinf__checksum(&h, sizeof h, body);
}

int sdsinf_plan_save(const sdsinf_plan *p, const sdsinf_model *m,
                     const char *dir, sdsinf_err *err)
{
    char path[4096];
    size_t N = (size_t)p->neurons, L = (size_t)p->layers;
    struct plan_header h;
    sdsinf_output o;
    int rc = SDSINF_OK;
    if (m && model_sum(m) != p->model_sum)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "the plan was made for another model");
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return sdsinf__fail(err, SDSINF_EIO, "%s: cannot create: %s", dir,
                            strerror(errno));
    memset(&h, 0, sizeof h);
    memcpy(h.magic, PLAN_MAGIC, 8);
    h.version = PLAN_VERSION;
    h.neurons = (uint32_t)p->neurons;
    h.layers = (uint32_t)p->layers;
    h.workers = (uint32_t)p->workers;
    memcpy(h.method, p->method, sizeof h.method);
    h.seed = p->seed;
    h.model_sum = p->model_sum;
    h.imbalance = p->imbalance;
    h.seconds = 0; /* not the timing: the same plan made again is the same
                      bytes (staged once, sdsinf_stage) */
    h.ntgt = (uint64_t)p->tgt_ptr[L * (N + 1) - 1];
    h.checksum = header_checksum(h, body_checksum(p, h.ntgt));
    snprintf(path, sizeof path, "%s/plan.bin", dir);
    if ((rc = sdsinf_output_open(path, &o, err)))
        return rc;
    FILE *f = o.f; /* a failed write shows in the commit */
    if (fwrite(&h, sizeof h, 1, f) == 1 &&
        fwrite(p->owner, sizeof *p->owner, (L + 1) * N, f) == (L + 1) * N &&
        fwrite(p->tgt_ptr, sizeof *p->tgt_ptr, L * (N + 1), f) == L * (N + 1))
        fwrite(p->tgt, sizeof *p->tgt, (size_t)h.ntgt, f);
    if ((rc = sdsinf_output_commit(&o, err)))
        return rc;
    for (int w = 0; m && w < p->workers && rc == SDSINF_OK; w++) {
        sdsinf_model *shard = NULL;
        snprintf(path, sizeof path, "%s/shard-%d.sdsinf", dir, w);
        if ((rc = sdsinf__plan_shard(p, m, w, &shard, err)) == SDSINF_OK)
            rc = sdsinf_model_save_bundle(shard, path, err);
        sdsinf_model_free(shard);
    }
    return rc;
}

/* Reads exactly n bytes at the file's position. */
static int read_exact(FILE *f, void *buf, size_t n)
{
    return fread(buf, 1, n, f) == n;
}

int sdsinf_plan_load(const char *dir, const sdsinf_model *m,
                     sdsinf_plan **out, sdsinf_err *err)
{
    char path[4096];
    struct plan_header h;
    sdsinf_plan *p = NULL;
    int rc = SDSINF_OK;
    struct stat st;
    sdsinf__fetched lf; /* an s3:// plan read from a private copy */
    if ((rc = sdsinf__location_join(dir, "plan.bin", path, sizeof path,
                                    err)))
        return rc;
    if ((rc = sdsinf__location_fetch(path, &lf, err))) {
        sdsinf__location_release(&lf, err);
        return rc;
    }
    FILE *f = fopen(lf.path, "rb");
    sdsinf__location_release(&lf, NULL); /* read from the open file */
    if (!f) { /* named as resolved: a relative path is the cwd's */
        int e = errno;
        char abs[4096];
        return sdsinf__fail(err, SDSINF_EIO, "%s: cannot open: %s (make one "
                            "with `sdsinf partition`)",
                            sdsinf__location_absolute(path, abs, sizeof abs,
                                                      NULL)
                                ? path : abs, strerror(e));
    }
    if (fstat(fileno(f), &st) != 0 || !read_exact(f, &h, sizeof h) ||
        memcmp(h.magic, PLAN_MAGIC, 8) != 0) {
        rc = sdsinf__fail(err, SDSINF_ECORRUPT, "%s: not an sdsinf plan (bad "
                          "header at byte 0)", path);
        goto done;
    }
    if (h.version != PLAN_VERSION) {
        rc = sdsinf__fail(err, SDSINF_ENOTSUP, "%s: plan format %u; this "
                          "sdsinf reads %u", path, h.version, PLAN_VERSION);
        goto done;
    }
    uint64_t N = h.neurons, L = h.layers;
    uint64_t want = sizeof h + (L + 1) * N * 2 + L * (N + 1) * 8 + h.ntgt * 2;
    if (N < 1 || N > INT32_MAX || L < 1 || L > INT32_MAX || h.workers < 1 ||
        h.workers > MAX_WORKERS || h.workers > N || h.ntgt > L * N * h.workers ||
        (uint64_t)st.st_size != want) {
        rc = sdsinf__fail(err, SDSINF_ECORRUPT,
                          "%s: truncated or inconsistent: %lld bytes, the "
                          "header (%llu neurons, %llu layers, %u workers) "
                          "implies %llu",
                          path, (long long)st.st_size, (unsigned long long)N,
                          (unsigned long long)L, h.workers,
                          (unsigned long long)want);
        goto done;
    }
    if (!(p = sdsinf__calloc(1, sizeof *p)) ||
        !(p->owner = sdsinf__mallocarray((L + 1) * N, sizeof *p->owner)) ||
        !(p->tgt_ptr = sdsinf__mallocarray(L * (N + 1), sizeof *p->tgt_ptr)) ||
        !(p->tgt = sdsinf__mallocarray(h.ntgt + 1, sizeof *p->tgt)) ||
        !(p->pairs = sdsinf__calloc(L, sizeof *p->pairs))) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "%s: no memory", path);
        goto done;
    }
    if (!read_exact(f, p->owner, (L + 1) * N * 2) ||
        !read_exact(f, p->tgt_ptr, L * (N + 1) * 8) ||
        !read_exact(f, p->tgt, h.ntgt * 2)) {
        rc = sdsinf__fail(err, SDSINF_EIO, "%s: read failed", path);
        goto done;
    }
    p->neurons = (int32_t)N;
    p->layers = (int32_t)L;
    p->workers = (int32_t)h.workers;
    if (header_checksum(h, body_checksum(p, h.ntgt)) != h.checksum) {
        rc = sdsinf__fail(err, SDSINF_ECORRUPT, "%s: checksum mismatch: the "
                          "plan is damaged", path);
        goto done;
    }
    /* owners in range, target lists well formed */
    for (uint64_t i = 0; i < (L + 1) * N; i++)
        if (p->owner[i] >= h.workers) {
            rc = sdsinf__fail(err, SDSINF_ECORRUPT, "%s: owner %u of stage "
                              "%llu out of range", path, p->owner[i],
                              (unsigned long long)(i / N));
            goto done;
        }
    int64_t prev = 0;
    for (uint64_t l = 0; l < L; l++)
        for (uint64_t k = 0; k <= N; k++) {
            int64_t v = p->tgt_ptr[l * (N + 1) + k];
            if (v < prev || (uint64_t)v > h.ntgt || (k == 0 && l == 0 && v) ||
                (k == 0 && l > 0 && v != prev)) {
                rc = sdsinf__fail(err, SDSINF_ECORRUPT, "%s: target lists "
                                  "malformed at layer %llu", path,
                                  (unsigned long long)l + 1);
                goto done;
            }
            if (k > 0)
                p->pairs[l] += v - prev;
            prev = v;
        }
    for (uint64_t i = 0; i < h.ntgt; i++)
        if (p->tgt[i] >= h.workers) {
            rc = sdsinf__fail(err, SDSINF_ECORRUPT, "%s: target out of range",
                              path);
            goto done;
        }
    memcpy(p->method, h.method, sizeof p->method);
    p->method[sizeof p->method - 1] = 0;
    p->seed = h.seed;
    p->model_sum = h.model_sum;
    p->imbalance = h.imbalance;
    p->seconds = h.seconds;
    if (m && (m->neurons != (int32_t)N || m->layers != (int32_t)L ||
              model_sum(m) != p->model_sum)) {
        rc = sdsinf__fail(err, SDSINF_EINVAL,
                          "%s: the plan is for another model (%llu neurons x "
                          "%llu layers, or other connections); partition this "
                          "one with `sdsinf partition`",
                          path, (unsigned long long)N, (unsigned long long)L);
        goto done;
    }
    *out = p;
    p = NULL;
done:
    sdsinf_plan_free(p);
    fclose(f);
    return rc;
}
