/* kernel/shard.c - a worker's layers renumbered to the neurons it touches.
 *
 * At stage s a worker holds the activations of the neurons it owns (ids[s],
 * ascending).  Layer l reads the inputs its outputs have weights from
 * (in_ids, ascending) and writes ids[l].  Numbering both from 0 keeps their
 * order, so every output sums its inputs in the order a single process
 * does (the results stay bit-identical) while the kernel walks K x C
 * instead of N x N. */
#include "kernel/shard.h"

#include <string.h>

static void layer_free(sdsinf__local_layer *ll)
{
    sdsinf_csr_free(&ll->layer.w);
    sdsinf_csr_free(&ll->layer.wt);
    sdsinf__layer_plan_free(&ll->plan);
    sdsinf__free(ll->bias);
    sdsinf__free(ll->in_ids);
    sdsinf__free(ll->in_of);
    sdsinf__free(ll->own_in);
    sdsinf__free(ll->own_at);
}

void sdsinf__local_shard_free(sdsinf__local_shard *s)
{
    for (int32_t l = 0; s->layer && l < s->layers; l++)
        layer_free(&s->layer[l]);
    for (int32_t st = 0; s->ids && st <= s->layers; st++)
        sdsinf__free(s->ids[st]);
    sdsinf__free(s->layer);
    sdsinf__free(s->ids);
    sdsinf__free(s->count);
    sdsinf__free(s->pos);
    memset(s, 0, sizeof *s);
}

/* Layer l (1-based) from the model's columns that stage l gives worker w. */
static int layer_build(const sdsinf__local_shard *s, const sdsinf_layer *src,
                       int32_t l, const uint16_t *prev_owner, int w,
                       sdsinf__local_layer *ll, sdsinf_err *err)
{
    const sdsinf_csr *m = &src->w;
    const int32_t *pos = s->pos + (size_t)l * s->neurons;      /* outputs */
    const int32_t *prev = s->pos + (size_t)(l - 1) * s->neurons; /* inputs */
    int32_t N = s->neurons;
    int64_t K = 0, nnz = 0, nown = 0, C = s->count[l], n = 0;
    int rc;
    ll->in_of = sdsinf__mallocarray((size_t)N, sizeof *ll->in_of);
    if (!ll->in_of)
        goto nomem;
    for (int32_t k = 0; k < N; k++) {
        int64_t n = 0;
        for (int64_t e = m->rowptr[k]; e < m->rowptr[k + 1]; e++)
            n += pos[m->col[e]] >= 0;
        ll->in_of[k] = n ? (int32_t)K : -1;
        K += n > 0;
        nown += n > 0 && prev_owner[k] == w;
        nnz += n;
    }
    if ((rc = sdsinf_csr_alloc(&ll->layer.w, K, C, nnz, err)) != SDSINF_OK)
        return rc;
    ll->in_ids = sdsinf__mallocarray((size_t)K + 1, sizeof *ll->in_ids);
    ll->own_in = sdsinf__mallocarray((size_t)nown + 1, sizeof *ll->own_in);
    ll->own_at = sdsinf__mallocarray((size_t)nown + 1, sizeof *ll->own_at);
    if (!ll->in_ids || !ll->own_in || !ll->own_at)
        goto nomem;
    sdsinf_csr *lw = &ll->layer.w;
    for (int32_t k = 0; k < N; k++) {
        int32_t i = ll->in_of[k];
        if (i < 0)
            continue;
        ll->in_ids[i] = (uint32_t)k;
        if (prev_owner[k] == w) {
            ll->own_in[ll->nown] = (uint32_t)i;
            ll->own_at[ll->nown++] = (uint32_t)prev[k];
        }
        for (int64_t e = m->rowptr[k]; e < m->rowptr[k + 1]; e++)
            if (pos[m->col[e]] >= 0) {
                lw->col[n] = (uint32_t)pos[m->col[e]];
                lw->val[n++] = m->val[e];
            }
        lw->rowptr[i + 1] = n;
    }
    if ((rc = sdsinf_csr_transpose(lw, &ll->layer.wt, err)) != SDSINF_OK ||
        (rc = sdsinf__layer_plan_build(&ll->layer.wt, NULL, &ll->plan,
                                       err)) != SDSINF_OK)
        return rc;
    ll->layer.plan_ = &ll->plan;
    ll->layer.bias = src->bias;
    if (src->bias_vec) {
        if (!(ll->bias = sdsinf__mallocarray((size_t)C + 1, sizeof *ll->bias)))
            goto nomem;
        for (int64_t c = 0; c < C; c++)
            ll->bias[c] = src->bias_vec[s->ids[l][c]];
        ll->layer.bias_vec = ll->bias;
    }
    return SDSINF_OK;
nomem:
    return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for worker %d's "
                        "layer %d", w, l);
}

int sdsinf__local_shard_build(const sdsinf_plan *p, const sdsinf_model *m,
                              int w, sdsinf__local_shard *out,
                              sdsinf_err *err)
{
    sdsinf__local_shard s = {0};
    int32_t N = m->neurons, L = m->layers;
    int rc = SDSINF_OK;
    s.neurons = N;
    s.layers = L;
    s.ymax = m->ymax;
    s.ids = sdsinf__calloc((size_t)L + 1, sizeof *s.ids);
    s.count = sdsinf__calloc((size_t)L + 1, sizeof *s.count);
    s.pos = sdsinf__mallocarray((size_t)(L + 1) * N, sizeof *s.pos);
    s.layer = sdsinf__calloc((size_t)L + 1, sizeof *s.layer);
    if (!s.ids || !s.count || !s.pos || !s.layer) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for worker %d", w);
        goto done;
    }
    for (int32_t st = 0; st <= L; st++) {
        const uint16_t *own = sdsinf_plan_owner(p, st);
        int32_t *pos = s.pos + (size_t)st * N;
        for (int32_t k = 0; k < N; k++)
            pos[k] = own[k] == w ? (int32_t)s.count[st]++ : -1;
        if (!(s.ids[st] = sdsinf__mallocarray((size_t)s.count[st] + 1,
                                              sizeof *s.ids[st]))) {
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for worker %d",
                              w);
            goto done;
        }
        for (int32_t k = 0; k < N; k++)
            if (pos[k] >= 0)
                s.ids[st][pos[k]] = (uint32_t)k;
    }
    for (int32_t l = 1; l <= L && rc == SDSINF_OK; l++)
        rc = layer_build(&s, &m->layer[l - 1], l, sdsinf_plan_owner(p, l - 1),
                         w, &s.layer[l - 1], err);
done:
    if (rc != SDSINF_OK)
        sdsinf__local_shard_free(&s);
    else
        *out = s;
    return rc;
}
