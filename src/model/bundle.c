/* bundle.c - sdsinf's binary model bundle: versioned, checksummed, mapped.
 *
 * Layout (native little-endian; every array 64-byte aligned):
 *   header   64 bytes, see struct bundle_header
 *   table    one struct bundle_layer per layer
 *   arrays   per layer: w rowptr/col/val, wt rowptr/col/val, bias vector
 * The loader maps the file and points the layers into the mapping after
 * checking every checksum and every structural invariant the kernel relies
 * on, so no file content can make inference read out of bounds. */
#include "core/parse.h"
#include "kernel/layer_plan.h"
#include "model/model.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUNDLE_MAGIC "SDSINFMB"
#define BUNDLE_VERSION 1u
#define BUNDLE_ORDER 0x01020304u
#define BUNDLE_ALIGN 64u
#define FLAG_BIAS_VEC 1u

struct bundle_header {
    char magic[8];
    uint32_t version, byte_order;
    uint32_t neurons, layers;
    float ymax;
    uint32_t flags;
    uint64_t file_size;
    uint64_t table_offset;
    uint64_t table_checksum;
    uint64_t header_checksum; /* of the bytes before this field */
};

struct bundle_layer {
    uint64_t nnz;
    uint64_t off[8]; /* w rowptr, col, val; wt rowptr, col, val; bias vec;
                        the kernel's output order */
    float bias;
    uint32_t reserved;
    uint64_t checksum; /* of the layer's arrays, in order */
};


void sdsinf__bundle_unmap(void *map, size_t size)
{
    munmap(map, size);
}

#define NARRAYS 8
/* Sizes of a layer's arrays, in the order of bundle_layer.off. */
static void array_sizes(uint64_t n, uint64_t nnz, int vec, uint64_t sz[NARRAYS])
{
    sz[0] = sz[3] = (n + 1) * 8;
    sz[1] = sz[4] = nnz * 4;
    sz[2] = sz[5] = nnz * 4;
    sz[6] = vec ? n * 4 : 0;
    sz[7] = n * 4;
}

static uint64_t align_up(uint64_t x)
{
    return (x + BUNDLE_ALIGN - 1) / BUNDLE_ALIGN * BUNDLE_ALIGN;
}

static int write_all(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n;
}

int sdsinf_model_save_bundle(const sdsinf_model *m, const char *path,
                             sdsinf_err *err)
{
    int rc = SDSINF_OK, vec = m->layers > 0 && m->layer[0].bias_vec != NULL;
    uint64_t N = (uint64_t)m->neurons, pos, sz[NARRAYS];
    struct bundle_header h;
    struct bundle_layer *tab = sdsinf__calloc((size_t)m->layers, sizeof *tab);
    static const char zeros[BUNDLE_ALIGN];
    sdsinf_output o;
    if (!tab)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    memset(&h, 0, sizeof h);
    memcpy(h.magic, BUNDLE_MAGIC, 8);
    h.version = BUNDLE_VERSION;
    h.byte_order = BUNDLE_ORDER;
    h.neurons = (uint32_t)m->neurons;
    h.layers = (uint32_t)m->layers;
    h.ymax = m->ymax;
    h.flags = vec ? FLAG_BIAS_VEC : 0;
    h.table_offset = sizeof h;
    pos = align_up(sizeof h + (uint64_t)m->layers * sizeof *tab);
    for (int32_t l = 0; l < m->layers; l++) {
        const sdsinf_layer *ly = &m->layer[l];
        const void *arr[NARRAYS] = {ly->w.rowptr, ly->w.col,  ly->w.val,
                                    ly->wt.rowptr, ly->wt.col, ly->wt.val,
                                    ly->bias_vec, ly->plan_->order};
        tab[l].nnz = (uint64_t)sdsinf_csr_nnz(&ly->w);
        tab[l].bias = ly->bias;
        array_sizes(N, tab[l].nnz, vec, sz);
        uint64_t c = 0;
        for (int a = 0; a < NARRAYS; a++) {
            tab[l].off[a] = sz[a] ? pos : 0;
            pos = align_up(pos + sz[a]);
            if (sz[a])
                c = sdsinf__checksum(arr[a], sz[a], c);
        }
        tab[l].checksum = c;
    }
    h.file_size = pos;
    h.table_checksum = sdsinf__checksum(tab, (size_t)m->layers * sizeof *tab, 0);
    h.header_checksum = sdsinf__checksum(&h, offsetof(struct bundle_header,
                                                      header_checksum), 0);
    /* sdsinf_output: a reader never sees half of a file */
    if ((rc = sdsinf_output_open(path, &o, err)))
        goto done;
    FILE *f = o.f;
    int ok = write_all(f, &h, sizeof h) &&
             write_all(f, tab, (size_t)m->layers * sizeof *tab);
    pos = sizeof h + (uint64_t)m->layers * sizeof *tab;
    for (int32_t l = 0; ok && l < m->layers; l++) {
        const sdsinf_layer *ly = &m->layer[l];
        const void *arr[NARRAYS] = {ly->w.rowptr, ly->w.col,  ly->w.val,
                                    ly->wt.rowptr, ly->wt.col, ly->wt.val,
                                    ly->bias_vec, ly->plan_->order};
        array_sizes(N, tab[l].nnz, vec, sz);
        for (int a = 0; ok && a < NARRAYS; a++) {
            if (!sz[a])
                continue;
            ok = write_all(f, zeros, (size_t)(tab[l].off[a] - pos)) &&
                 write_all(f, arr[a], (size_t)sz[a]);
            pos = tab[l].off[a] + sz[a];
        }
    }
    if (ok)
        write_all(f, zeros, (size_t)(h.file_size - pos));
    rc = sdsinf_output_commit(&o, err); /* a failed write shows here */
done:
    sdsinf__free(tab);
    return rc;
}

/* Checks that `m` (n rows, ncols columns) is a well-formed CSR. */
static int check_csr(const sdsinf_csr *m, uint64_t nnz, const char *path,
                     int32_t layer, const char *which, sdsinf_err *err)
{
    if (m->rowptr[0] != 0 || (uint64_t)m->rowptr[m->nrows] != nnz)
        goto bad;
    for (int64_t r = 0; r < m->nrows; r++) {
        int64_t b = m->rowptr[r], e = m->rowptr[r + 1];
        if (e < b || e > (int64_t)nnz)
            goto bad;
        for (int64_t k = b; k < e; k++)
            if (m->col[k] >= (uint64_t)m->ncols ||
                (k > b && m->col[k] <= m->col[k - 1]) || !isfinite(m->val[k]))
                goto bad;
    }
    return SDSINF_OK;
bad:
    return sdsinf__fail(err, SDSINF_ECORRUPT,
                        "%s: layer %d: the %s matrix is malformed (rows out of "
                        "order, a column out of range or a non-finite value)",
                        path, layer + 1, which);
}

/* Checks that order holds each of 0..n-1 once. */
static int check_permutation(const uint32_t *order, uint64_t n,
                             const char *path, int32_t layer, sdsinf_err *err)
{
    uint64_t *seen = sdsinf__calloc((size_t)(n + 63) / 64, sizeof *seen);
    int rc = SDSINF_OK;
    if (!seen)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    for (uint64_t i = 0; i < n && rc == SDSINF_OK; i++) {
        uint32_t c = order[i];
        if (c >= n || (seen[c / 64] >> (c % 64) & 1))
            rc = sdsinf__fail(err, SDSINF_ECORRUPT,
                              "%s: layer %d: the output order is not a "
                              "permutation", path, layer + 1);
        else
            seen[c / 64] |= 1ull << (c % 64);
    }
    sdsinf__free(seen);
    return rc;
}

/* The neurons, layers and weight entries of a bundle's first `use` layers
 * (0: all), read from its header and layer table (s unchanged when they do
 * not read: the loader says why). */
void sdsinf__bundle_sizes(const char *path, int32_t use, sdsinf_mem_sizes *s)
{
    struct bundle_header h;
    struct bundle_layer t[64];
    int64_t nnz = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    int ok = pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
             !memcmp(h.magic, BUNDLE_MAGIC, 8) &&
             h.version == BUNDLE_VERSION && h.byte_order == BUNDLE_ORDER &&
             h.neurons <= INT32_MAX && h.layers <= INT32_MAX;
    if (ok && use > 0 && (uint32_t)use < h.layers)
        h.layers = (uint32_t)use;
    for (uint32_t l = 0; ok && l < h.layers; l += 64) {
        uint32_t n = h.layers - l < 64 ? h.layers - l : 64;
        size_t len = n * sizeof *t;
        ok = pread(fd, t, len, (off_t)(h.table_offset + l * sizeof *t)) ==
             (ssize_t)len;
        for (uint32_t i = 0; ok && i < n; i++)
            nnz += t[i].nnz < (uint64_t)h.file_size ? (int64_t)t[i].nnz : 0;
    }
    close(fd);
    if (!ok)
        return;
    s->neurons = (int32_t)h.neurons;
    s->layers = (int32_t)h.layers;
    s->weights = nnz;
    s->model_text = s->model_text_once = 0;
}

int sdsinf__bundle_load(const char *path, const sdsinf_model_opts *o,
                        sdsinf_model **out, sdsinf_err *err)
{
    int rc = SDSINF_OK;
    int fd = open(path, O_RDONLY);
    unsigned char *map = NULL;
    size_t size = 0;
    sdsinf_model *m = NULL;
    struct bundle_header h;
    struct stat st;
    if (fd < 0)
        return sdsinf__fail(err, SDSINF_EIO, "%s: cannot open: %s", path,
                            strerror(errno));
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof h) {
        rc = sdsinf__fail(err, SDSINF_ECORRUPT,
                          "%s: not a model directory or bundle (%lld bytes)",
                          path, (long long)st.st_size);
        goto done;
    }
    size = (size_t)st.st_size;
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        map = NULL;
        rc = sdsinf__fail(err, SDSINF_EIO, "%s: cannot map: %s", path,
                          strerror(errno));
        goto done;
    }
    memcpy(&h, map, sizeof h);
    if (memcmp(h.magic, BUNDLE_MAGIC, 8) != 0) {
        rc = sdsinf__fail(err, SDSINF_ECORRUPT,
                          "%s: not an sdsinf bundle (bad magic at byte 0); "
                          "convert a model with `sdsinf convert`", path);
        goto done;
    }
    if (h.header_checksum !=
        sdsinf__checksum(&h, offsetof(struct bundle_header, header_checksum), 0)) {
        rc = sdsinf__fail(err, SDSINF_ECORRUPT,
                          "%s: header checksum mismatch (bytes 0-63)", path);
        goto done;
    }
    if (h.version != BUNDLE_VERSION || h.byte_order != BUNDLE_ORDER) {
        rc = sdsinf__fail(err, SDSINF_ENOTSUP,
                          "%s: bundle format %u (byte order %08x); this "
                          "sdsinf reads format %u on this byte order",
                          path, h.version, h.byte_order, BUNDLE_VERSION);
        goto done;
    }
    if (h.file_size != size) {
        rc = sdsinf__fail(err, SDSINF_ECORRUPT,
                          "%s: truncated or padded: %zu bytes, header says "
                          "%llu",
                          path, size, (unsigned long long)h.file_size);
        goto done;
    }
    uint64_t N = h.neurons, L = h.layers, tsize = L * sizeof(struct bundle_layer);
    if (N < 1 || N > INT32_MAX || L < 1 || L > INT32_MAX ||
        h.table_offset != sizeof h || tsize > size - sizeof h ||
        !(h.ymax > 0) || !isfinite(h.ymax)) {
        rc = sdsinf__fail(err, SDSINF_ECORRUPT,
                          "%s: implausible header (%llu neurons, %llu layers)",
                          path, (unsigned long long)N, (unsigned long long)L);
        goto done;
    }
    const struct bundle_layer *tab = (const void *)(map + h.table_offset);
    if (h.table_checksum != sdsinf__checksum(tab, tsize, 0)) {
        rc = sdsinf__fail(err, SDSINF_ECORRUPT,
                          "%s: layer table checksum mismatch (bytes %llu-%llu)",
                          path, (unsigned long long)h.table_offset,
                          (unsigned long long)(h.table_offset + tsize - 1));
        goto done;
    }
    if (o->neurons && (uint64_t)o->neurons != N) {
        rc = sdsinf__fail(err, SDSINF_EINVAL,
                          "%s: the bundle has %llu neurons, %d were requested",
                          path, (unsigned long long)N, o->neurons);
        goto done;
    }
    if ((uint64_t)o->layers > L) {
        rc = sdsinf__fail(err, SDSINF_EINVAL,
                          "%s: %d layers requested, the bundle has %llu", path,
                          o->layers, (unsigned long long)L);
        goto done;
    }
    int32_t use = o->layers ? o->layers : (int32_t)L;
    int vec = (h.flags & FLAG_BIAS_VEC) != 0;
    if ((rc = sdsinf__model_new((int32_t)N, use, o->ymax ? o->ymax : h.ymax,
                                &m, err)) != SDSINF_OK)
        goto done;
    const unsigned char *mp = map;
    sdsinf__model_set_map(m, map, size);
    map = NULL; /* the model owns it now */
    for (int32_t l = 0; l < use; l++) {
        const struct bundle_layer *t = &tab[l];
        uint64_t sz[NARRAYS], c = 0;
        if (t->nnz > size / 8) {
            rc = sdsinf__fail(err, SDSINF_ECORRUPT,
                              "%s: layer %d: implausible entry count", path,
                              l + 1);
            goto done;
        }
        array_sizes(N, t->nnz, vec, sz);
        /* Empty arrays too: their offsets still make pointers. */
        for (int a = 0; a < NARRAYS; a++) {
            if (t->off[a] % BUNDLE_ALIGN || t->off[a] > size ||
                sz[a] > size - t->off[a]) {
                rc = sdsinf__fail(err, SDSINF_ECORRUPT,
                                  "%s: layer %d: array %d at byte %llu lies "
                                  "outside the file",
                                  path, l + 1, a, (unsigned long long)t->off[a]);
                goto done;
            }
            if (sz[a])
                c = sdsinf__checksum(mp + t->off[a], sz[a], c);
        }
        if (c != t->checksum) {
            rc = sdsinf__fail(err, SDSINF_ECORRUPT,
                              "%s: layer %d: checksum mismatch (data at bytes "
                              "%llu-%llu is damaged)",
                              path, l + 1, (unsigned long long)t->off[0],
                              (unsigned long long)(t->off[5] + sz[5] - 1));
            goto done;
        }
        sdsinf_layer *ly = &m->layer[l];
        sdsinf_csr w = {(int64_t)N, (int64_t)N, (int64_t *)(mp + t->off[0]),
                        (uint32_t *)(mp + t->off[1]), (float *)(mp + t->off[2]),
                        0, 0};
        sdsinf_csr wt = {(int64_t)N, (int64_t)N, (int64_t *)(mp + t->off[3]),
                         (uint32_t *)(mp + t->off[4]),
                         (float *)(mp + t->off[5]), 0, 0};
        if ((rc = check_csr(&w, t->nnz, path, l, "weight", err)) ||
            (rc = check_csr(&wt, t->nnz, path, l, "transposed weight", err)))
            goto done;
        ly->w = w;
        ly->wt = wt;
        ly->bias = t->bias;
        ly->bias_vec = vec ? (const float *)(mp + t->off[6]) : NULL;
        if (!isfinite(ly->bias)) {
            rc = sdsinf__fail(err, SDSINF_ECORRUPT,
                              "%s: layer %d: non-finite bias", path, l + 1);
            goto done;
        }
        for (uint64_t n = 0; vec && n < N; n++)
            if (!isfinite(ly->bias_vec[n])) {
                rc = sdsinf__fail(err, SDSINF_ECORRUPT,
                                  "%s: layer %d: non-finite bias", path, l + 1);
                goto done;
            }
        const uint32_t *order = (const uint32_t *)(mp + t->off[7]);
        if ((rc = check_permutation(order, N, path, l, err)) ||
            (rc = sdsinf__model_plan(m, l, order, err)))
            goto done;
    }
    if (o->bias) { /* an explicit bias overrides the stored one */
        float b;
        if (sdsinf__parse_float(o->bias, &b) != SDSINF_OK) {
            rc = sdsinf__fail(err, SDSINF_ENOTSUP,
                              "%s: a bundle takes a numeric --bias only; "
                              "convert again with the bias file instead",
                              path);
            goto done;
        }
        for (int32_t l = 0; l < use; l++) {
            m->layer[l].bias = b;
            m->layer[l].bias_vec = NULL;
        }
    }
    *out = m;
    m = NULL;
done:
    sdsinf_model_free(m);
    if (map)
        munmap(map, size);
    close(fd);
    return rc;
}
