/* model.c - models: the layer set, bias, and the GraphChallenge/MatrixMarket
 * readers and writer.  Bundles live in bundle.c.
 *
 * A model directory holds one file per layer, `...l{l}.tsv` (GraphChallenge
 * triplets, 1-based) or `...l{l}.mtx` (MatrixMarket coordinate), l = 1..L,
 * and optionally `bias.tsv` (see load_bias_file). */
#include "core/location.h"
#include "core/parse.h"
#include "kernel/layer_plan.h"
#include "model/model.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What a model's arrays live in: heap copies, or a mapped bundle. */
struct sdsinf_model_store {
    sdsinf__layer_plan *plans; /* one per layer */
    float *bias_vecs; /* layers x neurons, or NULL */
    void *map;        /* bundle mapping, or NULL */
    size_t map_size;
};

void sdsinf_model_opts_init(sdsinf_model_opts *o)
{
    memset(o, 0, sizeof *o);
    o->version = SDSINF_MODEL_OPTS_VERSION;
}

int sdsinf_default_bias(int32_t neurons, float *bias)
{
    switch (neurons) {
    case 1024: *bias = -0.3f; return SDSINF_OK;
    case 4096: *bias = -0.35f; return SDSINF_OK;
    case 16384: *bias = -0.4f; return SDSINF_OK;
    case 65536: *bias = -0.45f; return SDSINF_OK;
    }
    return SDSINF_ENOTSUP;
}

void sdsinf_model_free(sdsinf_model *m)
{
    if (!m)
        return;
    for (int32_t l = 0; m->layer && l < m->layers; l++) {
        sdsinf_csr_free(&m->layer[l].w);
        sdsinf_csr_free(&m->layer[l].wt);
    }
    sdsinf__free(m->layer);
    if (m->store_) {
        for (int32_t l = 0; m->store_->plans && l < m->layers; l++)
            sdsinf__layer_plan_free(&m->store_->plans[l]);
        sdsinf__free(m->store_->plans);
        sdsinf__free(m->store_->bias_vecs);
        if (m->store_->map)
            sdsinf__bundle_unmap(m->store_->map, m->store_->map_size);
        sdsinf__free(m->store_);
    }
    sdsinf__free(m);
}

/* An empty model with `layers` zeroed layers and a store. */
int sdsinf__model_new(int32_t neurons, int32_t layers, float ymax,
                      sdsinf_model **out, sdsinf_err *err)
{
    sdsinf_model *m = sdsinf__calloc(1, sizeof *m);
    if (m) {
        m->layer = sdsinf__calloc((size_t)layers, sizeof *m->layer);
        m->store_ = sdsinf__calloc(1, sizeof *m->store_);
        if (m->store_)
            m->store_->plans = sdsinf__calloc((size_t)layers,
                                              sizeof *m->store_->plans);
    }
    if (!m || !m->layer || !m->store_ || !m->store_->plans) {
        sdsinf_model_free(m);
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a model");
    }
    m->neurons = neurons;
    m->layers = layers;
    m->ymax = ymax > 0 ? ymax : 32.0f;
    *out = m;
    return SDSINF_OK;
}

/* Gives layer l its kernel plan; `order` (borrowed) may be NULL. */
int sdsinf__model_plan(sdsinf_model *m, int32_t l, const uint32_t *order,
                       sdsinf_err *err)
{
    int rc = sdsinf__layer_plan_build(&m->layer[l].wt, order,
                                      &m->store_->plans[l], err);
    if (rc == SDSINF_OK)
        m->layer[l].plan_ = &m->store_->plans[l];
    return rc;
}

void sdsinf__model_set_map(sdsinf_model *m, void *map, size_t size)
{
    m->store_->map = map;
    m->store_->map_size = size;
}

/* Gives the model its per-layer bias vectors (layers x neurons, owned). */
static void model_set_bias_vecs(sdsinf_model *m, float *vecs)
{
    m->store_->bias_vecs = vecs;
    for (int32_t l = 0; l < m->layers; l++)
        m->layer[l].bias_vec = vecs ? vecs + (size_t)l * m->neurons : NULL;
}

int sdsinf_model_from_layers(int32_t neurons, int32_t layers, sdsinf_csr *w,
                             const float *bias, const float *bias_vec,
                             float ymax, sdsinf_model **out, sdsinf_err *err)
{
    int rc;
    sdsinf_model *m = NULL;
    float *vecs = NULL;
    if (neurons < 1 || layers < 1) {
        rc = sdsinf__fail(err, SDSINF_EINVAL, "a model needs neurons >= 1 "
                          "and layers >= 1 (got %d and %d)", neurons, layers);
        goto done;
    }
    if ((rc = sdsinf__model_new(neurons, layers, ymax, &m, err)) != SDSINF_OK)
        goto done;
    if (bias_vec) {
        size_t n = (size_t)layers * (size_t)neurons;
        if (!(vecs = sdsinf__mallocarray(n, sizeof *vecs))) {
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for bias vectors");
            goto done;
        }
        memcpy(vecs, bias_vec, n * sizeof *vecs);
        model_set_bias_vecs(m, vecs);
        vecs = NULL;
    }
    for (int32_t l = 0; l < layers; l++) {
        sdsinf_layer *ly = &m->layer[l];
        ly->w = w[l];
        memset(&w[l], 0, sizeof w[l]);
        ly->bias = bias ? bias[l] : 0;
        if (ly->w.nrows != neurons || ly->w.ncols != neurons) {
            rc = sdsinf__fail(err, SDSINF_EINVAL,
                              "layer %d is %lld x %lld, expected %d x %d",
                              l + 1, (long long)ly->w.nrows,
                              (long long)ly->w.ncols, neurons, neurons);
            goto done;
        }
        if ((rc = sdsinf_csr_transpose(&ly->w, &ly->wt, err)) != SDSINF_OK ||
            (rc = sdsinf__model_plan(m, l, NULL, err)) != SDSINF_OK)
            goto done;
    }
    *out = m;
    m = NULL;
done:
    for (int32_t l = 0; w && l < layers; l++)
        sdsinf_csr_free(&w[l]);
    sdsinf__free(w);
    sdsinf__free(vecs);
    sdsinf_model_free(m);
    return rc;
}

/* ---- One layer file ----------------------------------------------------- */

/* Reads one 1-based `r c [v]` entry, checking 1 <= r, c <= limit.  */
static int read_entry(sdsinf__lines *ls, uint64_t limit, int pattern,
                      sdsinf__triplets *t, sdsinf_err *err)
{
    uint64_t r, c;
    float v = 1.0f;
    int rc;
    if ((rc = sdsinf__tok_u64(ls, "row index", &r, err)) ||
        (rc = sdsinf__tok_u64(ls, "column index", &c, err)) ||
        (!pattern && (rc = sdsinf__tok_f32(ls, "value", &v, err))) ||
        (rc = sdsinf__tok_end(ls, err)))
        return rc;
    if (r < 1 || r > limit || c < 1 || c > limit)
        return sdsinf__fail(err, SDSINF_EPARSE,
                            "%s:%lld: index (%llu, %llu) outside 1..%llu",
                            ls->path, (long long)ls->line,
                            (unsigned long long)r, (unsigned long long)c,
                            (unsigned long long)limit);
    if (v == 0) /* zeros are never stored */
        return SDSINF_OK;
    if (!sdsinf__triplets_push(t, (uint32_t)(r - 1), (uint32_t)(c - 1), v, ls->line))
        return sdsinf__fail(err, SDSINF_ENOMEM, "%s: no memory", ls->path);
    return SDSINF_OK;
}

static int read_tsv_body(sdsinf__lines *ls, uint64_t limit, sdsinf__triplets *t,
                         sdsinf_err *err)
{
    int rc;
    while (sdsinf__lines_next(ls))
        if ((rc = read_entry(ls, limit, 0, t, err)) != SDSINF_OK)
            return rc;
    return SDSINF_OK;
}

/* MatrixMarket coordinate real|integer|pattern general|symmetric, square. */
static int read_mm_body(sdsinf__lines *ls, uint64_t limit, sdsinf__triplets *t,
                        uint64_t *dim, sdsinf_err *err)
{
    char w[5][32];
    int rc, pattern, symmetric;
    if (!sdsinf__lines_next(ls))
        return sdsinf__fail(err, SDSINF_EPARSE, "%s: empty file", ls->path);
    for (int i = 0; i < 5; i++) {
        size_t n;
        if ((rc = sdsinf__tok_word(ls, "header", w[i], sizeof w[i], &n, err)))
            return rc;
    }
    for (int i = 1; i < 5; i++)
        for (char *p = w[i]; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    if (strcmp(w[0], "%%MatrixMarket") || strcmp(w[1], "matrix") ||
        strcmp(w[2], "coordinate"))
        return sdsinf__fail(err, SDSINF_EPARSE,
                            "%s:%lld: expected a '%%%%MatrixMarket matrix "
                            "coordinate ...' header",
                            ls->path, (long long)ls->line);
    pattern = !strcmp(w[3], "pattern");
    symmetric = !strcmp(w[4], "symmetric");
    if ((!pattern && strcmp(w[3], "real") && strcmp(w[3], "integer")) ||
        (!symmetric && strcmp(w[4], "general")))
        return sdsinf__fail(err, SDSINF_ENOTSUP,
                            "%s:%lld: MatrixMarket field '%s' or symmetry "
                            "'%s' not supported (real, integer or pattern; "
                            "general or symmetric)",
                            ls->path, (long long)ls->line, w[3], w[4]);
    do {
        if (!sdsinf__lines_next(ls))
            return sdsinf__fail(err, SDSINF_EPARSE, "%s: missing size line",
                                ls->path);
    } while (ls->cur[0] == '%');
    uint64_t nr, nc, nnz;
    if ((rc = sdsinf__tok_u64(ls, "row count", &nr, err)) ||
        (rc = sdsinf__tok_u64(ls, "column count", &nc, err)) ||
        (rc = sdsinf__tok_u64(ls, "entry count", &nnz, err)) ||
        (rc = sdsinf__tok_end(ls, err)))
        return rc;
    if (nr > SDSINF__SPARSE_LIMIT(nnz))
        return sdsinf__fail(err, SDSINF_EPARSE,
                            "%s:%lld: %llu neurons for only %llu entries; the "
                            "size line is implausible",
                            ls->path, (long long)ls->line,
                            (unsigned long long)nr, (unsigned long long)nnz);
    if (nr != nc || nr < 1 || nr > limit)
        return sdsinf__fail(err, SDSINF_EPARSE,
                            "%s:%lld: a layer must be square with at most %llu "
                            "neurons, this one is %llu x %llu",
                            ls->path, (long long)ls->line,
                            (unsigned long long)limit, (unsigned long long)nr,
                            (unsigned long long)nc);
    uint64_t seen = 0;
    while (sdsinf__lines_next(ls)) {
        if (ls->cur[0] == '%')
            continue;
        if (++seen > nnz)
            return sdsinf__fail(err, SDSINF_EPARSE,
                                "%s:%lld: more entries than the %llu the size "
                                "line declares",
                                ls->path, (long long)ls->line,
                                (unsigned long long)nnz);
        int64_t before = t->n;
        if ((rc = read_entry(ls, nr, pattern, t, err)) != SDSINF_OK)
            return rc;
        if (symmetric && t->n > before &&
            t->row[before] != t->col[before] &&
            !sdsinf__triplets_push(t, t->col[before], t->row[before], t->val[before],
                           ls->line))
            return sdsinf__fail(err, SDSINF_ENOMEM, "%s: no memory", ls->path);
    }
    if (seen < nnz)
        return sdsinf__fail(err, SDSINF_EPARSE,
                            "%s: truncated: %llu entries of the %llu declared",
                            ls->path, (unsigned long long)seen,
                            (unsigned long long)nnz);
    *dim = nr;
    return SDSINF_OK;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

/* Reads a layer file into triplets; *dim gets the largest index seen (TSV)
 * or the declared size (MatrixMarket). */
static int read_layer_file(const char *path, uint64_t limit, sdsinf__triplets *t,
                           uint64_t *dim, sdsinf_err *err)
{
    sdsinf__file f = {0};
    sdsinf__lines ls;
    int rc = sdsinf__file_read(path, &f, err);
    if (rc != SDSINF_OK)
        return rc;
    sdsinf__lines_init(&ls, &f, path);
    if (f.size == 0) {
        rc = sdsinf__fail(err, SDSINF_EPARSE, "%s: empty file", path);
    } else if (has_suffix(path, ".mtx")) {
        rc = read_mm_body(&ls, limit, t, dim, err);
    } else {
        rc = read_tsv_body(&ls, limit, t, err);
        *dim = 0;
        for (int64_t i = 0; i < t->n; i++) {
            if (t->row[i] + 1u > *dim)
                *dim = t->row[i] + 1u;
            if (t->col[i] + 1u > *dim)
                *dim = t->col[i] + 1u;
        }
        if (rc == SDSINF_OK && t->n == 0)
            rc = sdsinf__fail(err, SDSINF_EPARSE, "%s: no entries", path);
    }
    sdsinf__file_free(&f);
    return rc;
}

/* ---- The directory ------------------------------------------------------ */

typedef struct layer_file {
    char *path;
    int32_t n_in_name; /* N from an `n{N}-` prefix, or 0 */
} layer_file;

/* Parses `[n{N}-]...l{l}.tsv|.mtx`; returns the layer number or 0. */
static long layer_of_name(const char *name, int32_t *n_in_name)
{
    size_t len = strlen(name);
    if (len < 6 || !(has_suffix(name, ".tsv") || has_suffix(name, ".mtx")))
        return 0;
    size_t e = len - 4, b = e;
    while (b > 0 && name[b - 1] >= '0' && name[b - 1] <= '9')
        b--;
    if (b == e || b == 0 || name[b - 1] != 'l' || e - b > 9)
        return 0;
    *n_in_name = 0;
    if (name[0] == 'n') {
        long n = strtol(name + 1, NULL, 10);
        if (n > 0 && n <= INT32_MAX)
            *n_in_name = (int32_t)n;
    }
    return strtol(name + b, NULL, 10);
}

static void files_free(layer_file *files, long n)
{
    for (long i = 0; files && i < n; i++)
        sdsinf__free(files[i].path);
    sdsinf__free(files);
}

/* Lists the layer files of `dir`, indexed by layer - 1; *count = L found. */
static int list_layer_files(const char *dir, layer_file **out, long *count,
                            sdsinf_err *err)
{
    int rc = SDSINF_OK;
    long cap = 0, maxl = 0;
    layer_file *files = NULL;
    DIR *d = opendir(dir);
    struct dirent *de;
    if (!d)
        return sdsinf__fail(err, SDSINF_EIO, "%s: cannot open directory: %s",
                            dir, strerror(errno));
    while ((de = readdir(d))) {
        int32_t nn;
        long l = layer_of_name(de->d_name, &nn);
        if (l <= 0)
            continue;
        if (l > 10000000) {
            rc = sdsinf__fail(err, SDSINF_EPARSE, "%s/%s: layer number too "
                              "large", dir, de->d_name);
            goto done;
        }
        if (l > cap) {
            long nc = cap ? cap : 128;
            while (nc < l)
                nc *= 2;
            layer_file *nf = sdsinf__realloc(files, (size_t)nc * sizeof *nf);
            if (!nf) {
                rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
                goto done;
            }
            memset(nf + cap, 0, (size_t)(nc - cap) * sizeof *nf);
            files = nf;
            cap = nc;
        }
        if (files[l - 1].path) {
            rc = sdsinf__fail(err, SDSINF_EINVAL,
                              "%s: two files for layer %ld: %s and %s; "
                              "remove one",
                              dir, l, files[l - 1].path, de->d_name);
            goto done;
        }
        size_t need = strlen(dir) + strlen(de->d_name) + 2;
        if (!(files[l - 1].path = sdsinf__malloc(need))) {
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
            goto done;
        }
        snprintf(files[l - 1].path, need, "%s/%s", dir, de->d_name);
        files[l - 1].n_in_name = nn;
        if (l > maxl)
            maxl = l;
    }
    if (maxl == 0) {
        rc = sdsinf__fail(err, SDSINF_EINVAL,
                          "%s: no layer files (expected n{N}-l{l}.tsv or "
                          "*l{l}.mtx)", dir);
        goto done;
    }
    *out = files;
    *count = maxl;
    files = NULL;
done:
    files_free(files, cap);
    closedir(d);
    return rc;
}

/* Writes the 1-based numbers i + 1 for which set[i] is 0, i < n, as
 * ranges ("2-5, 7, 9-120", cut with "..." when buf is full) into buf;
 * returns how many there are. */
static int64_t unset_ranges(const uint8_t *set, int64_t n, char *buf,
                            size_t cap)
{
    int64_t count = 0;
    size_t used = 0;
    int full = 0;
    buf[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        if (set[i])
            continue;
        int64_t j = i;
        while (j + 1 < n && !set[j + 1])
            j++;
        count += j - i + 1;
        /* a range of int32 numbers takes at most 23 bytes, ", ..." 6 */
        if (!full && used + 30 > cap) {
            snprintf(buf + used, cap - used, ", ...");
            full = 1;
        }
        if (!full && j > i)
            used += (size_t)snprintf(buf + used, cap - used, "%s%lld-%lld",
                                     used ? ", " : "", (long long)i + 1,
                                     (long long)j + 1);
        else if (!full)
            used += (size_t)snprintf(buf + used, cap - used, "%s%lld",
                                     used ? ", " : "", (long long)i + 1);
        i = j;
    }
    return count;
}

/* Reads the layer (and neuron) fields of a bias line, as load_bias_file
 * does; n counts lines in a one-column file. */
static int bias_key(sdsinf__lines *ls, int fields, int64_t count, uint64_t *l,
                    uint64_t *n, sdsinf_err *err)
{
    int rc = SDSINF_OK;
    *l = 1;
    *n = fields == 1 ? (uint64_t)count + 1 : 1;
    if ((fields >= 2 && (rc = sdsinf__tok_u64(ls, "layer", l, err))) ||
        (fields == 3 && (rc = sdsinf__tok_u64(ls, "neuron", n, err))))
        return rc;
    return SDSINF_OK;
}

/* The line of f that first gave bias key (l, n): a duplicate's first. */
static int64_t bias_first_line(const sdsinf__file *f, const char *path,
                               int fields, uint64_t l, uint64_t n)
{
    sdsinf__lines ls;
    sdsinf__lines_init(&ls, f, path);
    while (sdsinf__lines_next(&ls)) {
        uint64_t a, b;
        if (bias_key(&ls, fields, 0, &a, &b, NULL) == SDSINF_OK && a == l &&
            b == n)
            return ls.line;
    }
    return 0;
}

/* Bias file: one value per line -> N values (a vector for every layer) or
 * `layer value` lines (per-layer scalars) or `layer neuron value` lines
 * (per-layer vectors), all 1-based.  Every loaded layer (every neuron of
 * it) needs exactly one line: a missing or repeated one is an error, never
 * a default.  The model has `avail` layers, of which the first L are
 * loaded: lines for layers L+1..avail are checked and then ignored (a
 * model's bias.tsv lists all its layers, and --layers takes the first
 * few). */
static int load_bias_file(const char *path, int32_t N, int32_t L,
                          int32_t avail, float *bias, float **vecs_out,
                          sdsinf_err *err)
{
    sdsinf__file f = {0};
    sdsinf__lines ls;
    float *vecs = NULL;
    uint8_t *seen = NULL; /* per layer (x neuron): given already */
    char ranges[64];
    int rc = sdsinf__file_read(path, &f, err), fields = 0;
    int64_t count = 0;
    if (rc != SDSINF_OK)
        return rc;
    sdsinf__lines_init(&ls, &f, path);
    if (!(vecs = sdsinf__calloc((size_t)N * (size_t)L, sizeof *vecs))) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for bias vectors");
        goto done;
    }
    while (sdsinf__lines_next(&ls)) {
        char tok[64];
        sdsinf__lines probe = ls;
        int nf = 0;
        while (sdsinf__tok_str(&probe, tok, sizeof tok))
            nf++;
        if (!fields)
            fields = nf;
        if (nf != fields || nf > 3) {
            rc = sdsinf__fail(err, SDSINF_EPARSE,
                              "%s:%lld: %d fields; every line must have the "
                              "same 1, 2 or 3 fields",
                              path, (long long)ls.line, nf);
            goto done;
        }
        size_t per = fields == 3 ? (size_t)N : 1;
        if (fields > 1 && !seen &&
            !(seen = sdsinf__calloc(per * (size_t)avail, 1))) {
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for bias vectors");
            goto done;
        }
        uint64_t l, n;
        float v;
        if ((rc = bias_key(&ls, fields, count, &l, &n, err)) ||
            (rc = sdsinf__tok_f32(&ls, "bias", &v, err)))
            goto done;
        if (l < 1 || l > (uint64_t)avail || n < 1 || n > (uint64_t)N) {
            rc = sdsinf__fail(err, SDSINF_EPARSE,
                              "%s:%lld: layer %llu / neuron %llu outside the "
                              "model's %d layers x %d neurons",
                              path, (long long)ls.line, (unsigned long long)l,
                              (unsigned long long)n, avail, N);
            goto done;
        }
        if (seen && seen[(l - 1) * per + (fields == 3 ? n - 1 : 0)]++) {
            long long first = (long long)bias_first_line(&f, path, fields, l, n);
            if (fields == 2)
                rc = sdsinf__fail(err, SDSINF_EPARSE,
                                  "%s:%lld: a second bias for layer %llu "
                                  "(the first is on line %lld); give every "
                                  "layer exactly one line",
                                  path, (long long)ls.line,
                                  (unsigned long long)l, first);
            else
                rc = sdsinf__fail(err, SDSINF_EPARSE,
                                  "%s:%lld: a second bias for layer %llu, "
                                  "neuron %llu (the first is on line %lld); "
                                  "give every neuron exactly one line",
                                  path, (long long)ls.line,
                                  (unsigned long long)l, (unsigned long long)n,
                                  first);
            goto done;
        }
        /* lines of layers past L are checked, not loaded */
        if (fields == 2 && l <= (uint64_t)L)
            bias[l - 1] = v;
        else if (l <= (uint64_t)L)
            vecs[(l - 1) * (uint64_t)N + n - 1] = v;
        count++;
    }
    if (count == 0) {
        rc = sdsinf__fail(err, SDSINF_EPARSE, "%s: no bias values", path);
        goto done;
    }
    if (fields == 1) {
        if (count != N) {
            rc = sdsinf__fail(err, SDSINF_EPARSE,
                              "%s: %lld values; a one-column bias file needs "
                              "one per neuron (%d)",
                              path, (long long)count, N);
            goto done;
        }
        for (int32_t l = 1; l < L; l++)
            memcpy(vecs + (size_t)l * N, vecs, (size_t)N * sizeof *vecs);
    } else if (fields == 2) {
        int64_t k = unset_ranges(seen, L, ranges, sizeof ranges);
        if (k) {
            rc = sdsinf__fail(err, SDSINF_EPARSE,
                              "%s: layer%s %s ha%s no bias; every layer needs "
                              "one line (layer value)",
                              path, k > 1 ? "s" : "", ranges,
                              k > 1 ? "ve" : "s");
            goto done;
        }
    } else {
        int32_t bad = -1, incomplete = 0;
        for (int32_t l = 0; l < L; l++) {
            int64_t k = unset_ranges(seen + (size_t)l * N, N, ranges,
                                     sizeof ranges);
            incomplete += k > 0;
            bad = bad < 0 && k ? l : bad;
        }
        if (bad >= 0) {
            int64_t k = unset_ranges(seen + (size_t)bad * N, N, ranges,
                                     sizeof ranges);
            rc = sdsinf__fail(err, SDSINF_EPARSE,
                              "%s: layer %d has no bias for neuron%s %s (%d "
                              "of %d layers lack some); every layer needs a "
                              "line for each of its %d neurons",
                              path, bad + 1, k > 1 ? "s" : "", ranges,
                              incomplete, L, N);
            goto done;
        }
    }
    if (fields != 2) {
        *vecs_out = vecs;
        vecs = NULL;
    }
done:
    sdsinf__free(seen);
    sdsinf__free(vecs);
    sdsinf__file_free(&f);
    return rc;
}

int sdsinf__bias_resolve(const char *spec, const char *dir, int32_t N,
                         int32_t L, int32_t avail, float *bias, float **vecs,
                         sdsinf_err *err)
{
    float b;
    char path[4096];
    struct stat st;
    if (!spec && dir) {
        snprintf(path, sizeof path, "%s/bias.tsv", dir);
        if (stat(path, &st) == 0)
            spec = path;
    }
    if (!spec) {
        if (sdsinf_default_bias(N, &b) != SDSINF_OK)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "%s%sno GraphChallenge bias for %d neurons: "
                                "give one with --bias (a number or a file)",
                                dir ? dir : "", dir ? ": " : "", N);
    } else if (sdsinf__parse_float(spec, &b) != SDSINF_OK) {
        return load_bias_file(spec, N, L, avail, bias, vecs, err);
    }
    for (int32_t l = 0; l < L; l++)
        bias[l] = b;
    return SDSINF_OK;
}

static int load_dir(const char *dir, const sdsinf_model_opts *o,
                    sdsinf_model **out, sdsinf_err *err)
{
    int rc;
    layer_file *files = NULL;
    long found = 0;
    int32_t N = o->neurons, L;
    sdsinf_csr *w = NULL;
    float *bias = NULL, *vecs = NULL;
    sdsinf_model *m = NULL;

    if ((rc = list_layer_files(dir, &files, &found, err)) != SDSINF_OK)
        return rc;
    L = o->layers > 0 ? o->layers : (int32_t)found;
    if (L > found) {
        rc = sdsinf__fail(err, SDSINF_EINVAL,
                          "%s: %d layers requested but only %ld layer files",
                          dir, L, found);
        goto done;
    }
    for (long l = 0; l < found; l++) {
        if (!files[l].path) {
            rc = sdsinf__fail(err, SDSINF_EINVAL,
                              "%s: no file for layer %ld, but there are files "
                              "up to layer %ld; layers must be numbered 1..L "
                              "without gaps",
                              dir, l + 1, found);
            goto done;
        }
        if (files[l].n_in_name && files[0].n_in_name &&
            files[l].n_in_name != files[0].n_in_name) {
            rc = sdsinf__fail(err, SDSINF_EINVAL,
                              "%s: file names disagree on the neuron count: "
                              "%s and %s",
                              dir, files[0].path, files[l].path);
            goto done;
        }
    }
    if (!N)
        N = files[0].n_in_name;
    if (!(w = sdsinf__calloc((size_t)L, sizeof *w)) ||
        !(bias = sdsinf__calloc((size_t)L, sizeof *bias))) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for %d layers", L);
        goto done;
    }
    /* Without a neuron count, the layers' largest index decides; read all
     * triplets first in that case.  With one, build each layer at once.
     * MatrixMarket layers must all declare the model's size. */
    uint64_t maxdim = 0, mtx_dim = 0;
    const char *mtx_path = NULL;
    sdsinf__triplets *all = NULL;
    if (!(all = sdsinf__calloc((size_t)L, sizeof *all))) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        goto done;
    }
    for (int32_t l = 0; l < L && rc == SDSINF_OK; l++) {
        uint64_t dim = 0;
        rc = read_layer_file(files[l].path, N ? (uint64_t)N : UINT32_MAX,
                             &all[l], &dim, err);
        int mtx = rc == SDSINF_OK && has_suffix(files[l].path, ".mtx");
        uint64_t want = N ? (uint64_t)N : mtx_dim;
        if (mtx && want && dim != want)
            rc = sdsinf__fail(err, SDSINF_EINVAL,
                              "%s: declares %llu neurons, the model has %llu",
                              files[l].path, (unsigned long long)dim,
                              (unsigned long long)want);
        if (mtx && !mtx_path) {
            mtx_dim = dim;
            mtx_path = files[l].path;
        }
        if (dim > maxdim)
            maxdim = dim;
        if (rc == SDSINF_OK && N)
            rc = sdsinf__csr_from_triplets(N, N, &all[l], files[l].path,
                                           &w[l], err);
        if (N)
            sdsinf__triplets_free(&all[l]);
        if (rc == SDSINF_OK && o->version >= 2 && o->progress)
            o->progress(o->progress_ud, l + 1, L);
    }
    if (rc == SDSINF_OK && !N) {
        int64_t entries = 0;
        for (int32_t l = 0; l < L; l++)
            entries += all[l].n;
        if (maxdim > SDSINF__SPARSE_LIMIT(entries))
            rc = sdsinf__fail(err, SDSINF_EINVAL,
                              "%s: the largest neuron index is %llu but the "
                              "layers hold only %lld entries; give "
                              "--neurons if that is really meant",
                              dir, (unsigned long long)maxdim,
                              (long long)entries);
        else if (maxdim > INT32_MAX)
            rc = sdsinf__fail(err, SDSINF_EINVAL, "%s: too many neurons", dir);
        else if (mtx_path && mtx_dim != maxdim)
            rc = sdsinf__fail(err, SDSINF_EINVAL,
                              "%s: declares %llu neurons, but another layer "
                              "has indices up to %llu",
                              mtx_path, (unsigned long long)mtx_dim,
                              (unsigned long long)maxdim);
        N = (int32_t)maxdim;
        for (int32_t l = 0; l < L && rc == SDSINF_OK; l++)
            rc = sdsinf__csr_from_triplets(N, N, &all[l], files[l].path,
                                           &w[l], err);
    }
    for (int32_t l = 0; l < L; l++)
        sdsinf__triplets_free(&all[l]);
    sdsinf__free(all);
    if (rc != SDSINF_OK)
        goto done;
    if ((rc = sdsinf__bias_resolve(o->bias, dir, N, L, (int32_t)found, bias, &vecs,
                           err)) != SDSINF_OK)
        goto done;
    rc = sdsinf_model_from_layers(N, L, w, bias, vecs, o->ymax, &m, err);
    w = NULL;
    if (rc == SDSINF_OK) {
        *out = m;
        m = NULL;
    }
done:
    for (int32_t l = 0; w && l < L; l++)
        sdsinf_csr_free(&w[l]);
    sdsinf__free(w);
    sdsinf__free(bias);
    sdsinf__free(vecs);
    files_free(files, found);
    sdsinf_model_free(m);
    return rc;
}

void sdsinf_model_mem(const char *path, const sdsinf_model_opts *o,
                      sdsinf_mem_sizes *s)
{
    layer_file *files = NULL;
    long found = 0;
    struct stat st;
    if (stat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        sdsinf__bundle_sizes(path, o ? o->layers : 0, s);
        return;
    }
    if (list_layer_files(path, &files, &found, NULL) != SDSINF_OK)
        return;
    int32_t L = o && o->layers > 0 && o->layers < found ? o->layers
                                                        : (int32_t)found;
    int32_t N = o && o->neurons ? o->neurons : files[0].n_in_name;
    int64_t bytes = 0, largest = 0;
    for (int32_t l = 0; l < L; l++)
        if (files[l].path && stat(files[l].path, &st) == 0) {
            bytes += (int64_t)st.st_size;
            largest = st.st_size > largest ? (int64_t)st.st_size : largest;
        }
    s->neurons = N;
    s->layers = L;
    s->weights = 0;
    s->model_text = bytes;
    /* without a neuron count, load_dir holds every layer's triplets */
    s->model_text_once = N ? largest : bytes;
    files_free(files, found);
}

int sdsinf_model_load(const char *path, const sdsinf_model_opts *o,
                      sdsinf_model **out, sdsinf_err *err)
{
    sdsinf_model_opts def;
    struct stat st;
    if (!o) {
        sdsinf_model_opts_init(&def);
        o = &def;
    }
    if (o->version < 1 || o->neurons < 0 || o->layers < 0 || o->ymax < 0)
        return sdsinf__fail(err, SDSINF_EINVAL, "bad model options");
    sdsinf__fetched lf; /* an s3:// model read from a private copy */
    int rc = sdsinf__location_fetch(path, &lf, err);
    if (rc == SDSINF_OK && stat(lf.path, &st) != 0)
        rc = sdsinf__fail(err, SDSINF_EIO, "%s: %s", path, strerror(errno));
    else if (rc == SDSINF_OK)
        rc = S_ISDIR(st.st_mode) ? load_dir(lf.path, o, out, err)
                                 : sdsinf__bundle_load(lf.path, o, out, err);
    sdsinf__location_release(&lf, err); /* a bundle's mapping stays */
    return rc;
}

int sdsinf_model_save_tsv(const sdsinf_model *m, const char *dir,
                          sdsinf_err *err)
{
    char path[4096];
    sdsinf_output o;
    int rc;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return sdsinf__fail(err, SDSINF_EIO, "%s: cannot create: %s", dir,
                            strerror(errno));
    for (int32_t l = 0; l < m->layers; l++) {
        const sdsinf_csr *w = &m->layer[l].w;
        snprintf(path, sizeof path, "%s/n%d-l%d.tsv", dir, m->neurons, l + 1);
        if ((rc = sdsinf_output_open(path, &o, err)))
            return rc;
        for (int64_t r = 0; r < w->nrows; r++)
            for (int64_t k = w->rowptr[r]; k < w->rowptr[r + 1]; k++)
                fprintf(o.f, "%lld\t%u\t%.9g\n", (long long)r + 1,
                        w->col[k] + 1, (double)w->val[k]);
        if ((rc = sdsinf_output_commit(&o, err)))
            return rc;
    }
    /* The bias goes beside the layers, so any size reloads as it was. */
    snprintf(path, sizeof path, "%s/bias.tsv", dir);
    return sdsinf__bias_save(m, path, err);
}

int sdsinf__bias_save(const sdsinf_model *m, const char *path,
                      sdsinf_err *err)
{
    sdsinf_output o;
    int rc;
    if ((rc = sdsinf_output_open(path, &o, err)))
        return rc;
    for (int32_t l = 0; l < m->layers; l++)
        for (int32_t n = 0; n < m->neurons; n++) {
            if (m->layer[l].bias_vec)
                fprintf(o.f, "%d\t%d\t%.9g\n", l + 1, n + 1,
                        (double)m->layer[l].bias_vec[n]);
            else if (n == 0)
                fprintf(o.f, "%d\t%.9g\n", l + 1, (double)m->layer[l].bias);
        }
    return sdsinf_output_commit(&o, err);
}
