/* layer_plan.c - the order in which the dense kernel visits a layer's
 * outputs: outputs sorted by their input lists, so outputs that read the
 * same panel rows run back to back, and groups of four outputs with
 * identical inputs flagged so one load of each input serves all four. */
#include "kernel/layer_plan.h"

#include <string.h>

/* Lexicographic order of two outputs' input lists (rows of wt). */
static int cmp_inputs(const sdsinf_csr *wt, uint32_t a, uint32_t b)
{
    int64_t i = wt->rowptr[a], ie = wt->rowptr[a + 1];
    int64_t j = wt->rowptr[b], je = wt->rowptr[b + 1];
    for (; i < ie && j < je; i++, j++)
        if (wt->col[i] != wt->col[j])
            return wt->col[i] < wt->col[j] ? -1 : 1;
    if ((ie - i) != (je - j))
        return (ie - i) < (je - j) ? -1 : 1;
    return a < b ? -1 : a > b; /* stable: ties keep output order */
}

static void merge_sort(const sdsinf_csr *wt, uint32_t *v, uint32_t *tmp,
                       int64_t n)
{
    if (n < 2)
        return;
    int64_t h = n / 2, i = 0, j = h, k = 0;
    merge_sort(wt, v, tmp, h);
    merge_sort(wt, v + h, tmp, n - h);
    while (i < h && j < n)
        tmp[k++] = cmp_inputs(wt, v[j], v[i]) < 0 ? v[j++] : v[i++];
    while (i < h)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, (size_t)n * sizeof *v);
}

int sdsinf__layer_order(const sdsinf_csr *wt, uint32_t *order, sdsinf_err *err)
{
    uint32_t *tmp = sdsinf__mallocarray((size_t)wt->nrows + 1, sizeof *tmp);
    if (!tmp)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a layer plan");
    for (int64_t c = 0; c < wt->nrows; c++)
        order[c] = (uint32_t)c;
    merge_sort(wt, order, tmp, wt->nrows);
    sdsinf__free(tmp);
    return SDSINF_OK;
}

static int same_inputs(const sdsinf_csr *wt, uint32_t a, uint32_t b)
{
    int64_t n = wt->rowptr[a + 1] - wt->rowptr[a];
    return n == wt->rowptr[b + 1] - wt->rowptr[b] &&
           !memcmp(wt->col + wt->rowptr[a], wt->col + wt->rowptr[b],
                   (size_t)n * sizeof *wt->col);
}

/* Flags the groups of four in order[0..n) whose outputs read the same
 * inputs. */
static void mark_same4(const sdsinf_csr *wt, const uint32_t *order, int64_t n,
                       uint8_t *same)
{
    for (int64_t g = 0; g < n / 4; g++) {
        const uint32_t *o = order + 4 * g;
        same[g] = same_inputs(wt, o[0], o[1]) && same_inputs(wt, o[0], o[2]) &&
                  same_inputs(wt, o[0], o[3]);
    }
}

int sdsinf__layer_plan_build(const sdsinf_csr *wt, const uint32_t *order,
                             sdsinf__layer_plan *plan, sdsinf_err *err)
{
    int64_t C = wt->nrows, groups = C / 4;
    uint32_t *own = NULL;
    uint8_t *same = sdsinf__calloc((size_t)groups + 1, 1);
    int rc;
    if (!same)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a layer plan");
    if (!order) {
        if (!(own = sdsinf__mallocarray((size_t)C + 1, sizeof *own))) {
            sdsinf__free(same);
            return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a layer "
                                "plan");
        }
        if ((rc = sdsinf__layer_order(wt, own, err)) != SDSINF_OK) {
            sdsinf__free(own);
            sdsinf__free(same);
            return rc;
        }
        order = own;
    }
    mark_same4(wt, order, C, same);
    plan->order = order;
    plan->count = C;
    plan->own_order = own;
    plan->same4 = same;
    return SDSINF_OK;
}

int sdsinf__layer_plan_subset(const sdsinf_csr *wt,
                              const sdsinf__layer_plan *full,
                              const uint8_t *keep, sdsinf__layer_plan *sub,
                              sdsinf_err *err)
{
    int64_t n = 0;
    memset(sub, 0, sizeof *sub);
    sub->own_order = sdsinf__mallocarray((size_t)full->count + 1,
                                         sizeof *sub->own_order);
    sub->same4 = sdsinf__calloc((size_t)full->count / 4 + 1, 1);
    if (!sub->own_order || !sub->same4) {
        sdsinf__layer_plan_free(sub);
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a layer plan");
    }
    for (int64_t i = 0; i < full->count; i++)
        if (keep[full->order[i]])
            sub->own_order[n++] = full->order[i];
    mark_same4(wt, sub->own_order, n, sub->same4);
    sub->order = sub->own_order;
    sub->count = n;
    return SDSINF_OK;
}

void sdsinf__layer_plan_free(sdsinf__layer_plan *plan)
{
    if (!plan)
        return;
    sdsinf__free(plan->own_order);
    sdsinf__free(plan->same4);
    memset(plan, 0, sizeof *plan);
}
