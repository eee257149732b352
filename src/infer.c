/* infer.c - single-process inference: batches of images through every
 * layer, then the per-sample argmax and max. */
#include "internal.h"

#include <string.h>

void sdsinf_infer_opts_init(sdsinf_infer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->version = SDSINF_INFER_OPTS_VERSION;
}

/* Copies rows [first, first + n) of m into *out. */
static int csr_rows(const sdsinf_csr *m, int64_t first, int64_t n,
                    sdsinf_csr *out, sdsinf_err *err)
{
    int64_t b = m->rowptr[first], e = m->rowptr[first + n];
    int rc = sdsinf_csr_alloc(out, n, m->ncols, e - b, err);
    if (rc != SDSINF_OK)
        return rc;
    for (int64_t r = 0; r <= n; r++)
        out->rowptr[r] = m->rowptr[first + r] - b;
    memcpy(out->col, m->col + b, (size_t)(e - b) * sizeof *m->col);
    memcpy(out->val, m->val + b, (size_t)(e - b) * sizeof *m->val);
    return SDSINF_OK;
}

/* Argmax (lowest id on ties) and max of each row of y, into r at `first`. */
static void score_rows(const sdsinf_csr *y, sdsinf_result *r, int64_t first)
{
    for (int64_t i = 0; i < y->nrows; i++) {
        int32_t arg = -1;
        float best = 0;
        for (int64_t k = y->rowptr[i]; k < y->rowptr[i + 1]; k++)
            if (arg < 0 || y->val[k] > best) {
                best = y->val[k];
                arg = (int32_t)y->col[k];
            }
        r->argmax[first + i] = arg;
        r->max[first + i] = best;
    }
}

int sdsinf_infer(const sdsinf_model *m, const sdsinf_csr *images,
                 const sdsinf_infer_opts *o, sdsinf_result *out,
                 sdsinf_err *err)
{
    int rc = SDSINF_OK;
    sdsinf_infer_opts def;
    sdsinf_pool *own = NULL, *pool;
    sdsinf_result res = {0};
    sdsinf_csr y = {0}, next = {0};
    if (!o) {
        sdsinf_infer_opts_init(&def);
        o = &def;
    }
    if (o->version < 1)
        return sdsinf__fail(err, SDSINF_EINVAL, "bad inference options");
    if (images->ncols != m->neurons)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "the images have %lld features but the model "
                            "has %d neurons",
                            (long long)images->ncols, m->neurons);
    pool = o->pool;
    if (!pool && (rc = sdsinf_pool_create(o->threads, &own, err)) != SDSINF_OK)
        return rc;
    if (!pool)
        pool = own;
    int64_t M = images->nrows;
    int64_t bs = o->batch_size > 0 && o->batch_size < M ? o->batch_size : M;
    int64_t batches = bs ? (M + bs - 1) / bs : 0;
    res.images = M;
    res.argmax = sdsinf__mallocarray((size_t)M + 1, sizeof *res.argmax);
    res.max = sdsinf__mallocarray((size_t)M + 1, sizeof *res.max);
    if (!res.argmax || !res.max) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for %lld results",
                          (long long)M);
        goto done;
    }
    for (int64_t b = 0; b < batches; b++) {
        int64_t first = b * bs, n = M - first < bs ? M - first : bs;
        if ((rc = csr_rows(images, first, n, &y, err)) != SDSINF_OK)
            goto done;
        for (int32_t l = 0; l < m->layers; l++) {
            /* An empty activation stays empty: skip the remaining layers. */
            if (sdsinf_csr_nnz(&y) > 0) {
                rc = sdsinf_layer_forward(pool, &m->layer[l], m->ymax, &y,
                                          &next, err);
                if (rc != SDSINF_OK)
                    goto done;
                sdsinf_csr swap = y; /* y's memory serves the next layer */
                y = next;
                next = swap;
            }
            if (o->progress)
                o->progress(o->progress_ud, b, batches, l + 1, m->layers);
        }
        score_rows(&y, &res, first);
        sdsinf_csr_free(&y);
        sdsinf_csr_free(&next);
    }
    *out = res;
    memset(&res, 0, sizeof res);
done:
    sdsinf_result_free(&res);
    sdsinf_csr_free(&y);
    sdsinf_csr_free(&next);
    sdsinf_pool_free(own);
    return rc;
}
