/* images.c - input images, categories files and per-sample results. */
#include "core/parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* How many distinct values rows[0..n) holds (sorts a copy); -1: no memory. */
static int64_t distinct_rows(const uint32_t *rows, int64_t n)
{
    uint32_t *v = sdsinf__mallocarray((size_t)n + 1, sizeof *v);
    int64_t d = 0;
    if (!v)
        return -1;
    memcpy(v, rows, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_u32);
    for (int64_t i = 0; i < n; i++)
        d += i == 0 || v[i] != v[i - 1];
    sdsinf__free(v);
    return d;
}

int sdsinf_images_load(const char *path, int32_t neurons, sdsinf_csr *out,
                       sdsinf_err *err)
{
    return sdsinf_images_load_count(path, neurons, 0, out, err);
}

int sdsinf_images_load_count(const char *path, int32_t neurons, int64_t count,
                             sdsinf_csr *out, sdsinf_err *err)
{
    sdsinf__file f = {0};
    sdsinf__lines ls;
    sdsinf__triplets t = {0};
    uint64_t images = 0;
    int64_t images_line = 0, distinct;
    int rc;
    if (count < 0 || count > UINT32_MAX)
        return sdsinf__fail(err, SDSINF_EINVAL, "an image count must be "
                            "from 1 to 2^32-1 (0: from the file), not %lld",
                            (long long)count);
    if (neurons < 1)
        return sdsinf__fail(err, SDSINF_EINVAL, "images need a neuron count");
    if ((rc = sdsinf__file_read(path, &f, err)) != SDSINF_OK)
        return rc;
    sdsinf__lines_init(&ls, &f, path);
    while (sdsinf__lines_next(&ls)) {
        uint64_t img, feat;
        float v;
        if ((rc = sdsinf__tok_u64(&ls, "image id", &img, err)) ||
            (rc = sdsinf__tok_u64(&ls, "feature", &feat, err)) ||
            (rc = sdsinf__tok_f32(&ls, "value", &v, err)) ||
            (rc = sdsinf__tok_end(&ls, err)))
            goto done;
        if (img < 1 || img > UINT32_MAX || feat < 1 || feat > (uint64_t)neurons) {
            rc = sdsinf__fail(err, SDSINF_EPARSE,
                              "%s:%lld: image %llu / feature %llu outside "
                              "1..2^32-1 / 1..%d (the model's neurons)",
                              path, (long long)ls.line,
                              (unsigned long long)img,
                              (unsigned long long)feat, neurons);
            goto done;
        }
        if (count && img > (uint64_t)count) {
            rc = sdsinf__fail(err, SDSINF_EPARSE,
                              "%s:%lld: image %llu is beyond the %lld images "
                              "declared (--images-count): fix the id or "
                              "the count", path, (long long)ls.line,
                              (unsigned long long)img, (long long)count);
            goto done;
        }
        if (v == 0)
            continue;
        if (!sdsinf__triplets_push(&t, (uint32_t)(img - 1),
                                   (uint32_t)(feat - 1), v, ls.line)) {
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "%s: no memory", path);
            goto done;
        }
        if (img > images) {
            images = img;
            images_line = ls.line;
        }
    }
    if (images == 0) {
        rc = sdsinf__fail(err, SDSINF_EPARSE, "%s: no image entries", path);
        goto done;
    }
    /* images are 1..M: an id far past the images present is a typo, not
     * millions of empty images */
    if (!count && images > 2 * (uint64_t)(distinct = distinct_rows(t.row,
                                                                   t.n))) {
        rc = distinct < 0
                 ? sdsinf__fail(err, SDSINF_ENOMEM, "%s: no memory", path)
                 : sdsinf__fail(err, SDSINF_EPARSE,
                                "%s:%lld: image %llu is far beyond the %lld "
                                "images with entries (images are 1..M, M "
                                "at most twice that): fix the id, or give "
                                "the count (--images-count M)",
                                path, (long long)images_line,
                                (unsigned long long)images,
                                (long long)distinct);
        goto done;
    }
    rc = sdsinf__csr_from_triplets(count ? count : (int64_t)images, neurons,
                                   &t, path, out, err);
done:
    sdsinf__triplets_free(&t);
    sdsinf__file_free(&f);
    return rc;
}

int sdsinf_images_save(const sdsinf_csr *m, const char *path, sdsinf_err *err)
{
    sdsinf_output o;
    int rc = sdsinf_output_open(path, &o, err);
    if (rc != SDSINF_OK)
        return rc;
    for (int64_t r = 0; r < m->nrows; r++)
        for (int64_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++)
            fprintf(o.f, "%lld\t%u\t%.9g\n", (long long)r + 1,
                    m->col[k] + 1, (double)m->val[k]);
    return sdsinf_output_commit(&o, err);
}

int sdsinf_categories_load(const char *path, int64_t **ids, int64_t *count,
                           sdsinf_err *err)
{
    sdsinf__file f = {0};
    sdsinf__lines ls;
    int64_t *v = NULL, n = 0, cap = 0;
    int rc = sdsinf__file_read(path, &f, err);
    if (rc != SDSINF_OK)
        return rc;
    sdsinf__lines_init(&ls, &f, path);
    while (sdsinf__lines_next(&ls)) {
        uint64_t id;
        if ((rc = sdsinf__tok_u64(&ls, "image id", &id, err)) ||
            (rc = sdsinf__tok_end(&ls, err)))
            goto done;
        if (id < 1 || id > INT64_MAX || (n > 0 && (int64_t)id <= v[n - 1])) {
            rc = sdsinf__fail(err, SDSINF_EPARSE,
                              "%s:%lld: image ids must be >= 1 and ascending "
                              "(got %llu)",
                              path, (long long)ls.line, (unsigned long long)id);
            goto done;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            int64_t *nv = sdsinf__realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) {
                rc = sdsinf__fail(err, SDSINF_ENOMEM, "%s: no memory", path);
                goto done;
            }
            v = nv;
        }
        v[n++] = (int64_t)id;
    }
    *ids = v;
    *count = n;
    v = NULL;
done:
    sdsinf__free(v);
    sdsinf__file_free(&f);
    return rc;
}

void sdsinf_categories_write(const int64_t *ids, int64_t count, FILE *f)
{
    for (int64_t i = 0; i < count; i++)
        fprintf(f, "%lld\n", (long long)ids[i]);
}

int sdsinf_categories_save(const int64_t *ids, int64_t count, const char *path,
                           sdsinf_err *err)
{
    sdsinf_output o;
    int rc = sdsinf_output_open(path, &o, err);
    if (rc != SDSINF_OK)
        return rc;
    sdsinf_categories_write(ids, count, o.f);
    return sdsinf_output_commit(&o, err);
}

void sdsinf_result_free(sdsinf_result *r)
{
    if (!r)
        return;
    sdsinf__free(r->argmax);
    sdsinf__free(r->max);
    memset(r, 0, sizeof *r);
}

int sdsinf_result_categories(const sdsinf_result *r, int64_t **ids,
                             int64_t *count, sdsinf_err *err)
{
    int64_t n = 0;
    for (int64_t i = 0; i < r->images; i++)
        n += r->argmax[i] >= 0;
    int64_t *v = sdsinf__mallocarray((size_t)n + 1, sizeof *v);
    if (!v)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for categories");
    n = 0;
    for (int64_t i = 0; i < r->images; i++)
        if (r->argmax[i] >= 0)
            v[n++] = i + 1;
    *ids = v;
    *count = n;
    return SDSINF_OK;
}

void sdsinf_result_write_scores(const sdsinf_result *r, FILE *f)
{
    for (int64_t i = 0; i < r->images; i++)
        fprintf(f, "%lld\t%d\t%.9g\n", (long long)i + 1, r->argmax[i] + 1,
                (double)r->max[i]);
}

int sdsinf_result_save_scores(const sdsinf_result *r, const char *path,
                              sdsinf_err *err)
{
    sdsinf_output o;
    int rc = sdsinf_output_open(path, &o, err);
    if (rc != SDSINF_OK)
        return rc;
    sdsinf_result_write_scores(r, o.f);
    return sdsinf_output_commit(&o, err);
}
