/* csr.c - allocation and transposition of compressed sparse rows. */
#include "core/pool.h"

#include <string.h>

int sdsinf_csr_alloc(sdsinf_csr *m, int64_t nrows, int64_t ncols, int64_t cap,
                     sdsinf_err *err)
{
    if (nrows < 0 || ncols < 0 || cap < 0 || ncols > (int64_t)UINT32_MAX + 1)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "bad matrix shape %lld x %lld (%lld entries)",
                            (long long)nrows, (long long)ncols, (long long)cap);
    sdsinf_csr t = {nrows, ncols, NULL, NULL, NULL, 1, cap};
    t.rowptr = sdsinf__calloc((size_t)nrows + 1, sizeof *t.rowptr);
    t.col = sdsinf__mallocarray((size_t)cap, sizeof *t.col);
    t.val = sdsinf__mallocarray((size_t)cap, sizeof *t.val);
    if (!t.rowptr || !t.col || !t.val) {
        sdsinf_csr_free(&t);
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "no memory for a %lld x %lld matrix with %lld "
                            "entries",
                            (long long)nrows, (long long)ncols, (long long)cap);
    }
    *m = t;
    return SDSINF_OK;
}

void sdsinf_csr_free(sdsinf_csr *m)
{
    if (!m)
        return;
    if (m->owned) {
        sdsinf__free(m->rowptr);
        sdsinf__free(m->col);
        sdsinf__free(m->val);
    }
    memset(m, 0, sizeof *m);
}

int sdsinf_csr_transpose(const sdsinf_csr *a, sdsinf_csr *t, sdsinf_err *err)
{
    sdsinf_csr r;
    int64_t nnz = sdsinf_csr_nnz(a);
    int rc = sdsinf_csr_alloc(&r, a->ncols, a->nrows, nnz, err);
    if (rc != SDSINF_OK)
        return rc;
    for (int64_t k = 0; k < nnz; k++)
        r.rowptr[a->col[k] + 1]++;
    for (int64_t c = 0; c < r.nrows; c++)
        r.rowptr[c + 1] += r.rowptr[c];
    /* Scatter rows in ascending order, so columns of r stay sorted; rowptr
     * is used as the fill cursor and shifted back afterwards. */
    for (int64_t i = 0; i < a->nrows; i++)
        for (int64_t k = a->rowptr[i]; k < a->rowptr[i + 1]; k++) {
            int64_t dst = r.rowptr[a->col[k]]++;
            r.col[dst] = (uint32_t)i;
            r.val[dst] = a->val[k];
        }
    memmove(r.rowptr + 1, r.rowptr, (size_t)r.nrows * sizeof *r.rowptr);
    r.rowptr[0] = 0;
    *t = r;
    return SDSINF_OK;
}

int sdsinf__csr_reshape(sdsinf_csr *m, int64_t nrows, int64_t ncols,
                        int64_t cap, sdsinf_err *err)
{
    if (!m->owned || !m->rowptr || nrows < 0 || ncols < 0 || cap < 0 ||
        ncols > (int64_t)UINT32_MAX + 1) { /* allocate (or refuse) anew */
        sdsinf_csr_free(m);
        return sdsinf_csr_alloc(m, nrows, ncols, cap, err);
    }
    /* keep the memory when it serves: a worker reshapes every layer */
    if (nrows != m->nrows) {
        int64_t *rp = sdsinf__realloc(m->rowptr,
                                      ((size_t)nrows + 1) * sizeof *rp);
        if (!rp) {
            sdsinf_csr_free(m);
            return sdsinf_csr_alloc(m, nrows, ncols, cap, err);
        }
        m->rowptr = rp;
        m->nrows = nrows;
    }
    if (m->cap < cap) {
        sdsinf_csr keep = *m;
        keep.col = NULL;
        keep.val = NULL;
        sdsinf__free(m->col);
        sdsinf__free(m->val);
        keep.col = sdsinf__mallocarray((size_t)cap, sizeof *keep.col);
        keep.val = sdsinf__mallocarray((size_t)cap, sizeof *keep.val);
        if (!keep.col || !keep.val) {
            sdsinf__free(keep.col);
            sdsinf__free(keep.val);
            sdsinf__free(keep.rowptr);
            memset(m, 0, sizeof *m);
            return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a %lld x "
                                "%lld matrix with %lld entries",
                                (long long)nrows, (long long)ncols,
                                (long long)cap);
        }
        keep.cap = cap;
        *m = keep;
    }
    m->ncols = ncols;
    m->rowptr[0] = 0;
    return SDSINF_OK;
}
