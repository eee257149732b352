/* worker.c - one worker of a distributed run: the layer loop.
 *
 * Per batch and layer l: send each peer the rows of stage l-1 it needs
 * (one block, chunked to the channel's limit; an empty block where the peer
 * expects one), run the outputs that read only the worker's own rows while
 * the others travel, receive the blocks this worker needs from each
 * source, and run the other outputs on its own rows and the received ones
 * together, with its weight shard (the columns it owns, numbered locally:
 * kernel/shard.c).  Activations stay neuron-major throughout (a row per
 * neuron): that is what blocks are cut from, what messages decode to and
 * what the layer takes and gives (layer_rows.c), so nothing is transposed.
 * What arrives goes through the inbox (run/inbox.c): deduplicated,
 * reassembled, kept for a later layer, every wait bounded.  At the end of
 * a batch each worker sends its per-sample argmax and max to worker 0,
 * which merges them (lowest neuron id on ties).
 *
 * Because an output that reads a received row runs only once all are in,
 * and local numbers keep the global order, each output's sum runs over its
 * inputs in the same order as in a single process: the results are
 * bit-identical to sdsinf_infer. */
#include "channels/channels.h"
#include "run/inbox.h"
#include "run/worker.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What worker `self` sends and expects at each layer (from the plan). */
typedef struct layer_lists {
    int64_t *send_ptr;  /* workers + 1 offsets into send_rows */
    uint32_t *send_rows; /* per target: indices into the stage's ids */
    uint8_t *sent;       /* per index into the stage's ids: sent at all */
    uint8_t *expect;    /* workers: 1 if that source sends to self */
    int nexpect;
    uint32_t *nsrc;     /* per output: the peers it reads rows of */
    int64_t *reader_ptr; /* workers + 1 offsets into readers */
    uint32_t *readers;  /* per peer: the outputs that read its rows */
    sdsinf__layer_plan own_plan; /* the outputs that read no peer's rows:
                                    they run while the others' travel */
} layer_lists;

typedef struct worker {
    const sdsinf__worker_opts *o;
    int W, self;
    int32_t N, L;
    const sdsinf__local_shard *sh;
    layer_lists *lists;     /* L */
    sdsinf__inbox *inbox;   /* what arrives (run/inbox.c) */
    sdsinf__worker_stats *st;
    sdsinf_layer_record *rec; /* the current layer's */
    sdsinf__msg_ctx codec;
    sdsinf__rows_ws *kernel;  /* the layer's scratch */
    const uint32_t **in_smp;  /* the layer's input rows (in_cap room) */
    const float **in_val;
    int64_t *in_n, in_cap;
    int32_t *own_row;         /* inputs taken from the kernel's held output */
    /* Outputs run as their sources arrive (when the layer allows): */
    const layer_lists *inc;   /* the layer's lists, or NULL: all at once */
    const sdsinf__local_layer *inc_layer;
    uint32_t *left;           /* per output: its peers not in yet (0: run) */
    uint8_t *keep;            /* per output: to run now (else all zero) */
    uint32_t *ks;             /* inputs that just arrived */
    int64_t max_c, max_k;     /* the room of left, keep and ks */
} worker;

/* Which peers each output of layer l reads rows from (a count per output,
 * and per peer the outputs reading it), and the plan of the outputs that
 * read none.  Any number of workers: no bit per peer. */
static int need_build(worker *w, int32_t l, layer_lists *ll, sdsinf_err *err)
{
    const sdsinf__local_layer *lay = &w->sh->layer[l - 1];
    const sdsinf_csr *wt = &lay->layer.wt;
    const uint16_t *own = sdsinf_plan_owner(w->o->plan, l - 1);
    int64_t C = wt->nrows;
    int rc = SDSINF_OK;
    w->max_c = C > w->max_c ? C : w->max_c;
    w->max_k = lay->layer.w.nrows > w->max_k ? lay->layer.w.nrows : w->max_k;
    ll->nsrc = sdsinf__calloc((size_t)C + 1, sizeof *ll->nsrc);
    ll->reader_ptr = sdsinf__calloc((size_t)w->W + 1, sizeof *ll->reader_ptr);
    int64_t *mark = sdsinf__mallocarray((size_t)w->W, sizeof *mark);
    uint8_t *none = sdsinf__mallocarray((size_t)C + 1, 1);
    if (!ll->nsrc || !ll->reader_ptr || !mark || !none) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        goto done;
    }
    /* Two passes over the edges: count each (peer, output) pair once, then
     * list it; mark[src] is the last output that counted src. */
    for (int pass = 0; pass < 2; pass++) {
        for (int s = 0; s < w->W; s++)
            mark[s] = -1;
        for (int64_t c = 0; c < C; c++)
            for (int64_t e = wt->rowptr[c]; e < wt->rowptr[c + 1]; e++) {
                int src = own[lay->in_ids[wt->col[e]]];
                if (src == w->self || mark[src] == c)
                    continue;
                mark[src] = c;
                if (pass == 0) {
                    ll->nsrc[c]++;
                    ll->reader_ptr[src + 1]++;
                } else {
                    ll->readers[ll->reader_ptr[src]++] = (uint32_t)c;
                }
            }
        if (pass == 0) {
            for (int s = 0; s < w->W; s++)
                ll->reader_ptr[s + 1] += ll->reader_ptr[s];
            ll->readers = sdsinf__mallocarray(
                (size_t)ll->reader_ptr[w->W] + 1, sizeof *ll->readers);
            if (!ll->readers) {
                rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
                goto done;
            }
        }
    }
    for (int s = w->W; s > 0; s--) /* the fill moved each start to the end */
        ll->reader_ptr[s] = ll->reader_ptr[s - 1];
    ll->reader_ptr[0] = 0;
    for (int64_t c = 0; c < C; c++)
        none[c] = !ll->nsrc[c];
    rc = sdsinf__layer_plan_subset(wt, &lay->plan, none, &ll->own_plan, err);
done:
    sdsinf__free(mark);
    sdsinf__free(none);
    return rc;
}

static int lists_build(worker *w, sdsinf_err *err)
{
    const sdsinf_plan *p = w->o->plan;
    if (!(w->lists = sdsinf__calloc((size_t)w->L, sizeof *w->lists)))
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    for (int32_t l = 1; l <= w->L; l++) {
        layer_lists *ll = &w->lists[l - 1];
        const uint16_t *own = sdsinf_plan_owner(p, l - 1);
        int64_t total = 0;
        ll->send_ptr = sdsinf__calloc((size_t)w->W + 1, sizeof *ll->send_ptr);
        ll->expect = sdsinf__calloc((size_t)w->W, 1);
        ll->sent = sdsinf__calloc((size_t)w->sh->count[l - 1] + 1, 1);
        if (!ll->send_ptr || !ll->expect || !ll->sent)
            return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        for (int32_t k = 0; k < w->N; k++) {
            const uint16_t *t;
            int64_t n;
            sdsinf_plan_targets(p, l, k, &t, &n);
            for (int64_t i = 0; i < n; i++) {
                if (own[k] == w->self) {
                    ll->send_ptr[t[i] + 1]++;
                    total++;
                } else if (t[i] == w->self && !ll->expect[own[k]]) {
                    ll->expect[own[k]] = 1;
                    ll->nexpect++;
                }
            }
        }
        for (int t = 0; t < w->W; t++)
            ll->send_ptr[t + 1] += ll->send_ptr[t];
        if (!(ll->send_rows = sdsinf__mallocarray((size_t)total + 1,
                                                  sizeof *ll->send_rows)))
            return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        int64_t *fill = sdsinf__calloc((size_t)w->W, sizeof *fill);
        if (!fill)
            return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        const uint32_t *ids = w->sh->ids[l - 1];
        for (int64_t r = 0; r < w->sh->count[l - 1]; r++) { /* ascending */
            const uint16_t *t;
            int64_t n;
            sdsinf_plan_targets(p, l, (int32_t)ids[r], &t, &n);
            for (int64_t i = 0; i < n; i++)
                ll->send_rows[ll->send_ptr[t[i]] + fill[t[i]]++] = (uint32_t)r;
            ll->sent[r] = n > 0;
        }
        sdsinf__free(fill);
        int rc = need_build(w, l, ll, err);
        if (rc != SDSINF_OK)
            return rc;
    }
    w->left = sdsinf__mallocarray((size_t)w->max_c + 1, sizeof *w->left);
    w->keep = sdsinf__calloc((size_t)w->max_c + 1, 1);
    w->ks = sdsinf__mallocarray((size_t)w->max_k + 1, sizeof *w->ks);
    if (!w->left || !w->keep || !w->ks)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    return SDSINF_OK;
}

static void lists_free(worker *w)
{
    for (int32_t l = 0; w->lists && l < w->L; l++) {
        sdsinf__free(w->lists[l].send_ptr);
        sdsinf__free(w->lists[l].send_rows);
        sdsinf__free(w->lists[l].expect);
        sdsinf__free(w->lists[l].sent);
        sdsinf__free(w->lists[l].nsrc);
        sdsinf__free(w->lists[l].reader_ptr);
        sdsinf__free(w->lists[l].readers);
        sdsinf__layer_plan_free(&w->lists[l].own_plan);
    }
    sdsinf__free(w->left);
    sdsinf__free(w->keep);
    sdsinf__free(w->ks);
    sdsinf__free(w->lists);
    sdsinf__inbox_free(w->inbox);
    sdsinf__msg_ctx_free(&w->codec);
    sdsinf__rows_ws_free(w->kernel);
    sdsinf__free(w->in_smp);
    sdsinf__free(w->in_val);
    sdsinf__free(w->in_n);
    sdsinf__free(w->own_row);
}

/* Encodes rows of the activations for `target` and sends every chunk:
 * from yt (neuron-major, row r is neuron ids[r]) when given, else from y
 * (sample-major, global columns). */
static int send_block(worker *w, const sdsinf_csr *y, const sdsinf_csr *yt,
                      const uint32_t *ids, const uint32_t *rows, int64_t n,
                      uint32_t batch, uint32_t layer, int target,
                      sdsinf_err *err)
{
    const sdsinf__worker_opts *o = w->o;
    sdsinf_layer_record *rec = w->rec;
    sdsinf__msg_key key = {o->run, batch, layer, (uint32_t)w->self,
                           (uint32_t)target, 0, 0};
    /* chunks of the channel's limit, or one message for a block over its
     * whole-message threshold (a claim check stores it elsewhere) */
    sdsinf__msg_opts mo = {o->codec, o->level, o->max_message, &w->codec,
                           o->whole_above};
    sdsinf__buf buf = {0};
    uint32_t nchunks = 0;
    double t = sdsinf__now();
    int rc = yt ? sdsinf__msg_encode_t(yt, rows, ids, n, &key, &mo, &buf,
                                       &nchunks, err)
                : sdsinf__msg_encode(y, rows, n, &key, &mo, &buf, &nchunks,
                                     err);
    rec->encode_seconds += sdsinf__now() - t;
    rec->targets++;
    for (int64_t i = 0; yt && i < n; i++) {
        int64_t e = yt->rowptr[rows[i] + 1] - yt->rowptr[rows[i]];
        rec->rows_sent += e > 0;
        rec->nnz_sent += (uint64_t)e;
    }
    size_t at = 0;
    for (uint32_t c = 0; rc == SDSINF_OK && c < nchunks; c++) {
        size_t len;
        if ((rc = sdsinf__msg_length(buf.data + at, buf.len - at, &len, err)))
            break;
        key.chunk = c;
        key.nchunks = nchunks;
        t = sdsinf__now();
        rc = sdsinf_channel_send(o->channel, &key, buf.data + at, len, err);
        rec->send_seconds += sdsinf__now() - t;
        sdsinf__count_message(&rec->sent, &rec->sent_bytes, &rec->sent_max,
                      &rec->sent_min, len);
        at += len;
    }
    sdsinf__buf_free(&buf);
    return rc;
}

/* Hands the channel what it holds back of the sends just made (a batching
 * channel's), before this worker waits. */
static int flush_sends(worker *w, sdsinf_err *err)
{
    double t = sdsinf__now();
    int rc = sdsinf_channel_flush(w->o->channel, err);
    w->rec->send_seconds += sdsinf__now() - t;
    return rc;
}

/* Adds the requests the channel made since *since to the current record,
 * and moves *since on. */
static void count_requests(worker *w, sdsinf_requests *since)
{
    sdsinf_requests now;
    sdsinf_channel_requests(w->o->channel, &now);
    sdsinf__requests_since(&w->rec->requests, &now, since);
    *since = now;
}

/* The inbox's check of a received chunk: every row of a block from
 * `source` is one the source owns at stage layer - 1 and this worker reads
 * at `layer` (else the two run different plans); results pass. */
static int rows_expected(void *ctx, uint32_t layer, uint32_t source,
                         const sdsinf__rows *part, sdsinf_err *err)
{
    const worker *w = ctx;
    if (layer > (uint32_t)w->L)
        return SDSINF_OK;
    const uint16_t *own = sdsinf_plan_owner(w->o->plan, (int32_t)layer - 1);
    const int32_t *in_of = w->sh->layer[layer - 1].in_of;
    for (int64_t i = 0; i < part->m.nrows; i++)
        if (own[part->id[i]] != source || in_of[part->id[i]] < 0)
            return sdsinf__fail(err, SDSINF_ECORRUPT,
                                "worker %d, layer %u: worker %u sent rows it "
                                "does not own or this worker does not read; "
                                "the workers run different plans", w->self,
                                layer, source);
    return SDSINF_OK;
}

static int gather_part(worker *w, const sdsinf__local_layer *ll,
                       const sdsinf__rows *pt, int64_t *nks, sdsinf_err *err);

/* The inbox's word that all of source s's rows are in: points the
 * layer's inputs at them and runs the outputs that now have all theirs. */
static int source_arrived(void *ctx, uint32_t s, const sdsinf__rows *parts,
                          const uint32_t *psrc, int64_t nparts,
                          sdsinf_err *err)
{
    worker *w = ctx;
    const sdsinf__local_layer *lay = w->inc_layer;
    const layer_lists *ll = w->inc;
    int64_t nks = 0;
    sdsinf__layer_plan ready = {0};
    int rc = SDSINF_OK;
    double t = sdsinf__now();
    for (int64_t p = 0; p < nparts && rc == SDSINF_OK; p++)
        if (psrc[p] == s)
            rc = gather_part(w, lay, &parts[p], &nks, err);
    int64_t nready = 0;
    for (int64_t i = ll->reader_ptr[s]; i < ll->reader_ptr[s + 1]; i++) {
        uint32_t c = ll->readers[i];
        w->keep[c] = --w->left[c] == 0;
        nready += w->keep[c];
    }
    if (rc == SDSINF_OK &&
        (rc = nready ? sdsinf__layer_plan_subset(&lay->layer.wt, &lay->plan,
                                                 w->keep, &ready, err)
                     : SDSINF_OK) == SDSINF_OK) { /* (none: only spread) */
        rc = sdsinf__layer_forward_more(w->o->pool, w->kernel, &lay->layer,
                                        &ready, w->sh->ymax, w->in_smp,
                                        w->in_val, w->in_n, w->ks, nks, err);
        sdsinf__layer_plan_free(&ready);
    }
    for (int64_t i = ll->reader_ptr[s]; i < ll->reader_ptr[s + 1]; i++)
        w->keep[ll->readers[i]] = 0; /* keep stays all zero between calls */
    w->rec->compute_seconds += sdsinf__now() - t;
    return rc;
}

static const uint32_t held_mark;

/* Points the layer's input rows (w->in_*, K of them) at the worker's own
 * rows: those of yt, or, with held (the kernel holds the last output),
 * named in w->own_row; the others start empty. */
static int gather_own(worker *w, const sdsinf__local_layer *ll,
                      const sdsinf_csr *yt, int held, sdsinf_err *err)
{
    int64_t K = ll->layer.w.nrows;
    if (K > w->in_cap) {
        sdsinf__free(w->in_smp);
        sdsinf__free(w->in_val);
        sdsinf__free(w->in_n);
        sdsinf__free(w->own_row);
        w->in_smp = sdsinf__mallocarray((size_t)K, sizeof *w->in_smp);
        w->in_val = sdsinf__mallocarray((size_t)K, sizeof *w->in_val);
        w->in_n = sdsinf__mallocarray((size_t)K, sizeof *w->in_n);
        w->own_row = sdsinf__mallocarray((size_t)K, sizeof *w->own_row);
        w->in_cap = w->in_smp && w->in_val && w->in_n && w->own_row ? K : 0;
        if (!w->in_cap)
            return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    }
    memset(w->in_smp, 0, (size_t)K * sizeof *w->in_smp);
    memset(w->in_n, 0, (size_t)K * sizeof *w->in_n);
    memset(w->own_row, 0xff, (size_t)K * sizeof *w->own_row); /* all -1 */
    for (int64_t i = 0; i < ll->nown; i++) {
        uint32_t k = ll->own_in[i], r = ll->own_at[i];
        if (held) {
            w->own_row[k] = (int32_t)r;
            w->in_smp[k] = &held_mark; /* present, with no entries here */
            continue;
        }
        w->in_smp[k] = yt->col + yt->rowptr[r];
        w->in_val[k] = yt->val + yt->rowptr[r];
        w->in_n[k] = yt->rowptr[r + 1] - yt->rowptr[r];
    }
    return SDSINF_OK;
}

/* Points the layer's input rows at a received part's rows (their ids
 * checked by rows_expected), listing them in w->ks[*nks..]. */
static int gather_part(worker *w, const sdsinf__local_layer *ll,
                       const sdsinf__rows *pt, int64_t *nks, sdsinf_err *err)
{
    for (int64_t i = 0; i < pt->m.nrows; i++) {
        int32_t k = ll->in_of[pt->id[i]];
        if (w->in_smp[k])
            return sdsinf__fail(err, SDSINF_ECORRUPT, "worker %d: neuron %u "
                                "arrived twice", w->self, pt->id[i]);
        w->in_smp[k] = pt->m.col + pt->m.rowptr[i];
        w->in_val[k] = pt->m.val + pt->m.rowptr[i];
        w->in_n[k] = pt->m.rowptr[i + 1] - pt->m.rowptr[i];
        w->ks[(*nks)++] = (uint32_t)k;
    }
    return SDSINF_OK;
}

/* Stage 0 for the images [first, first + n): the features this worker
 * owns, neuron-major (row r: feature ids[0][r]). */
static int own_inputs(const worker *w, int64_t first, int64_t n,
                      sdsinf_csr *yt, sdsinf_err *err)
{
    const sdsinf_csr *im = w->o->images;
    const int32_t *pos = w->sh->pos; /* stage 0 */
    int64_t C = w->sh->count[0], total = 0;
    for (int64_t e = im->rowptr[first]; e < im->rowptr[first + n]; e++)
        total += pos[im->col[e]] >= 0;
    sdsinf_csr_free(yt);
    int rc = sdsinf_csr_alloc(yt, C, n, total, err);
    if (rc != SDSINF_OK)
        return rc;
    for (int64_t e = im->rowptr[first]; e < im->rowptr[first + n]; e++)
        if (pos[im->col[e]] >= 0)
            yt->rowptr[pos[im->col[e]] + 1]++;
    for (int64_t r = 0; r < C; r++)
        yt->rowptr[r + 1] += yt->rowptr[r];
    for (int64_t s = 0; s < n; s++) /* rowptr as the fill cursor */
        for (int64_t e = im->rowptr[first + s]; e < im->rowptr[first + s + 1];
             e++)
            if (pos[im->col[e]] >= 0) {
                int64_t at = yt->rowptr[pos[im->col[e]]]++;
                yt->col[at] = (uint32_t)s;
                yt->val[at] = im->val[e];
            }
    memmove(yt->rowptr + 1, yt->rowptr, (size_t)C * sizeof *yt->rowptr);
    yt->rowptr[0] = 0;
    return SDSINF_OK;
}

/* Keeps (v, neuron) for sample s if it beats the best so far: a higher
 * value, or the same with a lower neuron id. */
static void best_update(int32_t *arg, float *max, int64_t s, float v,
                        int32_t neuron)
{
    if (v > max[s] || (v == max[s] && neuron < arg[s])) {
        max[s] = v;
        arg[s] = neuron;
    }
}

/* Sends this worker's best per sample (from yt, its last stage, a row per
 * neuron it owns) to worker 0 (layer L + 1), or, on worker 0, merges
 * everyone's into the result. */
static int results(worker *w, const sdsinf_csr *yt, uint32_t batch,
                   int64_t first, sdsinf_result *res, sdsinf_err *err)
{
    int64_t B = yt->ncols;
    int rc = SDSINF_OK;
    int32_t *arg = sdsinf__mallocarray((size_t)B + 1, sizeof *arg);
    float *max = sdsinf__calloc((size_t)B + 1, sizeof *max);
    sdsinf_csr best = {0};
    sdsinf__rows *parts = NULL;
    const uint32_t *ids = w->sh->ids[w->L];
    uint32_t *rows = NULL;
    int64_t nparts = 0;
    if (!arg || !max) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        goto done;
    }
    for (int64_t r = 0; r < B; r++)
        arg[r] = -1;
    for (int64_t r = 0; r < yt->nrows; r++)
        for (int64_t e = yt->rowptr[r]; e < yt->rowptr[r + 1]; e++)
            best_update(arg, max, yt->col[e], yt->val[e], (int32_t)ids[r]);
    if (w->self != 0) { /* one entry per sample: (argmax, max) */
        int64_t n = 0;
        for (int64_t r = 0; r < B; r++)
            n += arg[r] >= 0;
        if ((rc = sdsinf_csr_alloc(&best, B, w->N, n, err)) != SDSINF_OK)
            goto done;
        uint8_t *used = sdsinf__calloc((size_t)w->N, 1);
        rows = sdsinf__mallocarray((size_t)w->N, sizeof *rows);
        if (!used || !rows) {
            sdsinf__free(used);
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
            goto done;
        }
        n = 0;
        for (int64_t r = 0; r < B; r++) {
            if (arg[r] >= 0) {
                best.col[n] = (uint32_t)arg[r];
                best.val[n++] = max[r];
                used[arg[r]] = 1;
            }
            best.rowptr[r + 1] = n;
        }
        int64_t nr = 0;
        for (int32_t k = 0; k < w->N; k++)
            if (used[k])
                rows[nr++] = (uint32_t)k;
        sdsinf__free(used);
        rc = send_block(w, &best, NULL, NULL, rows, nr, batch,
                        (uint32_t)w->L + 1, 0, err);
        if (rc == SDSINF_OK)
            rc = flush_sends(w, err);
        goto done;
    }
    uint8_t *expect = sdsinf__mallocarray((size_t)w->W, 1);
    if (!expect) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        goto done;
    }
    memset(expect, 1, (size_t)w->W);
    expect[0] = 0;
    rc = sdsinf__inbox_receive(w->inbox, batch, (uint32_t)w->L + 1, expect, B,
                               NULL, w->rec, &parts, &nparts, err);
    sdsinf__free(expect);
    for (int64_t i = 0; rc == SDSINF_OK && i < nparts; i++) {
        const sdsinf_csr *m = &parts[i].m;
        for (int64_t j = 0; j < m->nrows; j++)
            for (int64_t e = m->rowptr[j]; e < m->rowptr[j + 1]; e++)
                best_update(arg, max, m->col[e], m->val[e],
                            (int32_t)parts[i].id[j]);
    }
    for (int64_t r = 0; rc == SDSINF_OK && r < B; r++) {
        res->argmax[first + r] = arg[r];
        res->max[first + r] = max[r];
    }
done:
    for (int64_t i = 0; parts && i < nparts; i++)
        sdsinf__rows_free(&parts[i]);
    sdsinf__free(parts);
    sdsinf__free(rows);
    sdsinf_csr_free(&best);
    sdsinf__free(arg);
    sdsinf__free(max);
    return rc;
}

/* A test hook: SDSINF_TEST_KILL=w:l kills worker w's process at layer l,
 * as a crash would (fault tests of the process launcher).  The layer at
 * which this worker dies, or -1. */
static int32_t kill_layer(int self)
{
    const char *s = getenv("SDSINF_TEST_KILL");
    int w, l;
    return s && sscanf(s, "%d:%d", &w, &l) == 2 && w == self ? l : -1;
}

static void parts_free(sdsinf__rows **parts, int64_t *nparts)
{
    for (int64_t i = 0; *parts && i < *nparts; i++)
        sdsinf__rows_free(&(*parts)[i]);
    sdsinf__free(*parts);
    *parts = NULL;
    *nparts = 0;
}

/* The worker's totals from its records. */
static void stats_sum(sdsinf__worker_stats *st, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        const sdsinf_layer_record *r = &st->records[i];
        st->compute_seconds += r->compute_seconds;
        st->encode_seconds += r->encode_seconds;
        st->decode_seconds += r->decode_seconds;
        st->send_seconds += r->send_seconds;
        st->wait_seconds += r->wait_seconds;
        st->messages_sent += r->sent;
        st->bytes_sent += r->sent_bytes;
        st->messages_received += r->received;
        st->bytes_received += r->received_bytes;
        sdsinf__requests_add(&st->requests, &r->requests);
    }
}

/* One layer of one batch: send, receive, multiply.  yt: the worker's
 * stage l - 1 as rows, unless the kernel holds it (then yt is filled with
 * the rows it sends); next gets stage l as rows, unless the kernel keeps
 * it.  Both have a row per neuron the worker owns. */
static int layer_step(worker *w, int32_t l, uint32_t b, int64_t n,
                      sdsinf_csr *yt, sdsinf_csr *next, sdsinf_err *err)
{
    const layer_lists *ll = &w->lists[l - 1];
    const sdsinf__local_layer *lay = &w->sh->layer[l - 1];
    sdsinf__rows *parts = NULL;
    int64_t nparts = 0;
    int rc = SDSINF_OK, held = l > 1 && sdsinf__rows_ws_dense(w->kernel);
    double t = sdsinf__now();
    if (held)
        rc = sdsinf__rows_ws_rows(w->kernel, ll->sent, n, yt, err);
    w->rec->encode_seconds += sdsinf__now() - t;
    w->rec->nnz += (uint64_t)(held ? sdsinf__rows_ws_nnz(w->kernel)
                                   : sdsinf_csr_nnz(yt));
    for (int p = 0; p < w->W && rc == SDSINF_OK; p++) {
        int64_t cnt = ll->send_ptr[p + 1] - ll->send_ptr[p];
        if (p != w->self && cnt > 0)
            rc = send_block(w, NULL, yt, w->sh->ids[l - 1],
                            ll->send_rows + ll->send_ptr[p], cnt, b,
                            (uint32_t)l, p, err);
    }
    if (rc == SDSINF_OK)
        rc = flush_sends(w, err);
    int early = 0;
    sdsinf__layer_plan rest = {0};
    if (rc == SDSINF_OK)
        rc = gather_own(w, lay, yt, held, err);
    t = sdsinf__now();
    if (rc == SDSINF_OK && held) /* while the peers' rows travel */
        rc = sdsinf__layer_forward_own(w->o->pool, w->kernel, &lay->layer,
                                       &ll->own_plan, w->sh->ymax,
                                       w->own_row, &early, err);
    w->rec->compute_seconds += sdsinf__now() - t;
    w->inc = early ? ll : NULL; /* then the others as their sources arrive */
    w->inc_layer = lay;
    for (int64_t c = 0; w->inc && c < lay->layer.wt.nrows; c++)
        w->left[c] = ll->nsrc[c]; /* the own-only ones (0) ran */
    sdsinf__inbox_hooks hooks = {w, rows_expected,
                                 w->inc ? source_arrived : NULL};
    if (rc == SDSINF_OK)
        rc = sdsinf__inbox_receive(w->inbox, b, (uint32_t)l, ll->expect, n,
                                   &hooks, w->rec, &parts, &nparts, err);
    for (int64_t p = 0, nks = 0; rc == SDSINF_OK && !w->inc && p < nparts; p++)
        rc = gather_part(w, lay, &parts[p], &nks, err);
    for (int64_t c = 0; w->inc && c < lay->layer.wt.nrows; c++)
        w->keep[c] = w->left[c] != 0;
    if (rc == SDSINF_OK && w->inc)
        rc = sdsinf__layer_plan_subset(&lay->layer.wt, &lay->plan, w->keep,
                                       &rest, err);
    if (w->inc)
        memset(w->keep, 0, (size_t)lay->layer.wt.nrows);
    t = sdsinf__now();
    if (rc == SDSINF_OK)
        rc = sdsinf__layer_forward_rows(w->o->pool, &w->kernel, &lay->layer,
                                        w->sh->ymax, n, w->in_smp, w->in_val,
                                        w->in_n, held ? w->own_row : NULL,
                                        w->inc ? &rest : NULL, next, err);
    w->rec->compute_seconds += sdsinf__now() - t;
    w->inc = NULL;
    sdsinf__layer_plan_free(&rest);
    parts_free(&parts, &nparts);
    return rc;
}

int sdsinf__worker_run(const sdsinf__worker_opts *o, sdsinf_result *res,
                       sdsinf__worker_stats *st, sdsinf_err *err)
{
    worker w = {0};
    sdsinf_csr yt = {0}, next = {0};
    int rc;
    sdsinf_plan_stats ps;
    sdsinf_plan_get_stats(o->plan, &ps);
    w.o = o;
    w.W = ps.workers;
    w.self = o->channel->self;
    w.N = ps.neurons;
    w.L = ps.layers;
    w.sh = o->shard;
    w.st = st;
    memset(st, 0, sizeof *st);
    double t0 = sdsinf__now();
    if (o->shard->neurons != w.N || o->shard->layers != w.L ||
        o->images->ncols != w.N || o->channel->workers != w.W + 1)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "worker %d: the shard, images, plan and channel "
                            "disagree on the sizes", w.self);
    if (!(st->records = sdsinf__calloc((size_t)w.L + 1, sizeof *st->records)))
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    if (o->kernel) { /* borrowed for the run */
        w.kernel = *o->kernel;
        *o->kernel = NULL;
    }
    for (int32_t l = 0; l <= w.L; l++) {
        st->records[l].worker = w.self;
        st->records[l].layer = l + 1;
    }
    sdsinf__inbox_opts io = {o->channel, o->run, w.W, w.N,
                             o->timeout_ms, o->cancel, &w.codec};
    if ((rc = lists_build(&w, err)) != SDSINF_OK ||
        (rc = sdsinf__inbox_new(&io, &w.inbox, err)) != SDSINF_OK)
        goto done;
    int32_t kill_at = kill_layer(w.self);
    int64_t M = o->images->nrows;
    /* the channel's requests before the record's: none, so layer 1's
     * record takes those of its open too (finding queues, the start note,
     * their retries under throttling) */
    sdsinf_requests since = {0};
    int64_t bs = o->batch_size > 0 && o->batch_size < M ? o->batch_size : M;
    for (int64_t first = 0, b = 0; first < M; first += bs, b++) {
        int64_t n = M - first < bs ? M - first : bs;
        if ((rc = own_inputs(&w, first, n, &yt, err)) != SDSINF_OK)
            goto done;
        for (int32_t l = 1; l <= w.L; l++) {
            double t = sdsinf__now();
            w.rec = &st->records[l - 1];
            if (l == kill_at)
                raise(SIGKILL);
            rc = sdsinf__inbox_canceled(w.inbox, err);
            if (rc == SDSINF_OK)
                rc = layer_step(&w, l, (uint32_t)b, n, &yt, &next, err);
            count_requests(&w, &since);
            if (rc != SDSINF_OK)
                goto done;
            if (!sdsinf__rows_ws_dense(w.kernel)) { /* the output as rows */
                sdsinf_csr swap = yt;
                yt = next;
                next = swap;
            }
            w.rec->seconds += sdsinf__now() - t;
        }
        double t = sdsinf__now();
        w.rec = &st->records[w.L];
        if (sdsinf__rows_ws_dense(w.kernel))
            rc = sdsinf__rows_ws_rows(w.kernel, NULL, n, &yt, err);
        if (rc == SDSINF_OK)
            rc = results(&w, &yt, (uint32_t)b, first, res, err);
        count_requests(&w, &since);
        w.rec->seconds += sdsinf__now() - t;
        if (rc != SDSINF_OK)
            goto done;
    }
done:
    st->seconds = sdsinf__now() - t0;
    stats_sum(st, w.L + 1);
    if (w.inbox)
        sdsinf__inbox_counts(w.inbox, &st->dropped, &st->duplicates);
    sdsinf_csr_free(&yt);
    sdsinf_csr_free(&next);
    if (o->kernel) { /* handed back */
        *o->kernel = w.kernel;
        w.kernel = NULL;
    }
    lists_free(&w);
    return rc;
}
