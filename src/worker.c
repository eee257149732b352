/* worker.c - one worker of a distributed run: the layer loop.
 *
 * Per batch and layer l: send each peer the rows of stage l-1 it needs
 * (one block, chunked to the channel's limit; an empty block where the peer
 * expects one), receive the blocks this worker needs from each source, put
 * them beside its own rows, and run the layer on its weight shard (the
 * columns it owns).  Messages are deduplicated by (source, chunk); those of
 * other runs or past layers are dropped, those of later layers kept.  Every
 * wait is bounded: a missing source ends the run with an error naming the
 * worker, the layer, the channel and the sources still owed.  At the end of
 * a batch each worker sends its per-sample argmax and max to worker 0,
 * which merges them (lowest neuron id on ties).
 *
 * Because the received rows join the worker's own before one kernel call,
 * each output's sum runs over its inputs in the same order as in a single
 * process: the results are bit-identical to sdsinf_infer. */
#include "internal.h"
#include "msg.h"
#include "worker.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What worker `self` sends and expects at each layer (from the plan). */
typedef struct layer_lists {
    int64_t *send_ptr;  /* workers + 1 offsets into send_rows */
    uint32_t *send_rows;
    uint8_t *expect;    /* workers: 1 if that source sends to self */
    int nexpect;
} layer_lists;

typedef struct pending {
    sdsinf_msg_key key;
    void *msg;
    size_t len;
} pending;

typedef struct worker {
    const sdsinf__worker_opts *o;
    int W, self;
    int32_t N, L;
    layer_lists *lists;     /* L */
    pending *later;         /* messages for later layers or batches */
    int64_t nlater, caplater;
    sdsinf__worker_stats *st;
} worker;

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
        if (!ll->send_ptr || !ll->expect)
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
        for (int32_t k = 0; k < w->N; k++) { /* ascending rows per target */
            const uint16_t *t;
            int64_t n;
            if (own[k] != w->self)
                continue;
            sdsinf_plan_targets(p, l, k, &t, &n);
            for (int64_t i = 0; i < n; i++)
                ll->send_rows[ll->send_ptr[t[i]] + fill[t[i]]++] = (uint32_t)k;
        }
        sdsinf__free(fill);
    }
    return SDSINF_OK;
}

static void lists_free(worker *w)
{
    for (int32_t l = 0; w->lists && l < w->L; l++) {
        sdsinf__free(w->lists[l].send_ptr);
        sdsinf__free(w->lists[l].send_rows);
        sdsinf__free(w->lists[l].expect);
    }
    sdsinf__free(w->lists);
    for (int64_t i = 0; i < w->nlater; i++)
        free(w->later[i].msg);
    sdsinf__free(w->later);
}

/* Encodes rows of y (yt: its transpose, or NULL) for `target` and sends
 * every chunk.  With the transpose each block is copied row by row instead
 * of scanning all of y. */
static int send_block(worker *w, const sdsinf_csr *y, const sdsinf_csr *yt,
                      const uint32_t *rows, int64_t n, uint32_t batch,
                      uint32_t layer, int target, sdsinf_err *err)
{
    const sdsinf__worker_opts *o = w->o;
    sdsinf__msg_key key = {o->run, batch, layer, (uint32_t)w->self,
                           (uint32_t)target, 0, 0};
    sdsinf__msg_opts mo = {o->codec, o->level,
                           o->channel->methods->max_message};
    sdsinf__buf buf = {0};
    uint32_t nchunks = 0;
    double t = sdsinf__now();
    int rc = yt ? sdsinf__msg_encode_t(yt, rows, n, &key, &mo, &buf,
                                       &nchunks, err)
                : sdsinf__msg_encode(y, rows, n, &key, &mo, &buf, &nchunks,
                                     err);
    w->st->encode_seconds += sdsinf__now() - t;
    size_t at = 0;
    for (uint32_t c = 0; rc == SDSINF_OK && c < nchunks; c++) {
        size_t len;
        if ((rc = sdsinf__msg_length(buf.data + at, buf.len - at, &len, err)))
            break;
        key.chunk = c;
        key.nchunks = nchunks;
        t = sdsinf__now();
        rc = sdsinf_channel_send(o->channel, &key, buf.data + at, len, err);
        w->st->send_seconds += sdsinf__now() - t;
        w->st->messages_sent++;
        w->st->bytes_sent += len;
        at += len;
    }
    sdsinf__buf_free(&buf);
    return rc;
}

/* Keeps a message for a later layer or batch. */
static int keep_later(worker *w, const sdsinf_msg_key *k, void *msg,
                      size_t len)
{
    if (w->nlater == w->caplater) {
        int64_t cap = w->caplater ? 2 * w->caplater : 16;
        pending *v = sdsinf__realloc(w->later, (size_t)cap * sizeof *v);
        if (!v)
            return 0;
        w->later = v;
        w->caplater = cap;
    }
    w->later[w->nlater++] = (pending){*k, msg, len};
    return 1;
}

/* Receives every chunk of every block this worker expects at (batch,
 * layer), decoding them into parts (one per chunk).  `expect`: per source,
 * 1 if a block is owed. */
static int receive_layer(worker *w, uint32_t batch, uint32_t layer,
                         const uint8_t *expect, int64_t samples,
                         sdsinf_csr **parts_out, int64_t *nparts_out,
                         sdsinf_err *err)
{
    const sdsinf__worker_opts *o = w->o;
    int W = w->W, rc = SDSINF_OK;
    uint32_t *want_chunks = sdsinf__calloc((size_t)W, sizeof *want_chunks);
    uint32_t *got_chunks = sdsinf__calloc((size_t)W, sizeof *got_chunks);
    uint8_t **seen = sdsinf__calloc((size_t)W, sizeof *seen);
    sdsinf_csr *parts = NULL;
    int64_t nparts = 0, cap = 0, done_sources = 0, owed = 0;
    if (!want_chunks || !got_chunks || !seen) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        goto done;
    }
    for (int s = 0; s < W; s++)
        owed += expect[s];
    int keyed = (o->channel->methods->caps & SDSINF_CAP_KEYED) != 0;
    int next_keyed = 0; /* keyed channels: the source to fetch next */
    int64_t i_later = 0;
    while (done_sources < owed) {
        sdsinf__msg_key key;
        void *msg = NULL;
        size_t len = 0;
        if (i_later < w->nlater) { /* kept earlier: take those first */
            pending *pd = &w->later[i_later];
            if (pd->key.batch != batch || pd->key.layer != layer) {
                i_later++;
                continue;
            }
            msg = pd->msg;
            len = pd->len;
            w->later[i_later] = w->later[--w->nlater];
        } else {
            sdsinf_msg_key want = {o->run, batch, layer, 0, (uint32_t)w->self,
                                   0, 0};
            if (keyed) {
                while (next_keyed < W && (!expect[next_keyed] ||
                                          (want_chunks[next_keyed] &&
                                           got_chunks[next_keyed] ==
                                               want_chunks[next_keyed])))
                    next_keyed++;
                want.source = (uint32_t)next_keyed;
            }
            double t = sdsinf__now();
            rc = sdsinf_channel_recv(o->channel, &want, &msg, &len,
                                     o->timeout_ms, err);
            w->st->wait_seconds += sdsinf__now() - t;
            if (rc == SDSINF_ETIMEDOUT) {
                char owe[256] = "";
                size_t at = 0;
                for (int s = 0; s < W && at + 12 < sizeof owe; s++)
                    if (expect[s] && (!want_chunks[s] ||
                                      got_chunks[s] < want_chunks[s]))
                        at += (size_t)snprintf(owe + at, sizeof owe - at,
                                               "%s%d", at ? "," : "", s);
                rc = sdsinf__fail(err, SDSINF_ETIMEDOUT,
                                  "worker %d, layer %u, batch %u: no message "
                                  "from worker(s) %s on channel %s within "
                                  "%d ms; a worker died or is stuck",
                                  w->self, layer, batch, owe,
                                  o->channel->methods->name, o->timeout_ms);
            }
            if (rc != SDSINF_OK)
                goto done;
        }
        if (sdsinf__msg_peek(msg, len, &key, NULL) != SDSINF_OK ||
            key.run != o->run || key.target != (uint32_t)w->self ||
            key.source >= (uint32_t)W || key.nchunks == 0 ||
            key.chunk >= key.nchunks) {
            free(msg); /* damaged, or not ours: at-least-once noise */
            w->st->dropped++;
            continue;
        }
        if (key.batch != batch || key.layer != layer) {
            int later = key.batch > batch ||
                        (key.batch == batch && key.layer > layer);
            if (!later || !keep_later(w, &key, msg, len))
                free(msg);
            w->st->dropped += !later;
            continue;
        }
        uint32_t s = key.source;
        if (!expect[s] || (want_chunks[s] && want_chunks[s] != key.nchunks)) {
            free(msg);
            w->st->dropped++;
            continue;
        }
        if (!want_chunks[s]) {
            want_chunks[s] = key.nchunks;
            if (!(seen[s] = sdsinf__calloc(key.nchunks, 1))) {
                free(msg);
                rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
                goto done;
            }
        }
        if (seen[s][key.chunk]) { /* a duplicate */
            free(msg);
            w->st->duplicates++;
            continue;
        }
        if (nparts == cap) {
            cap = cap ? 2 * cap : 16;
            sdsinf_csr *np = sdsinf__realloc(parts, (size_t)cap * sizeof *np);
            if (!np) {
                free(msg);
                rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
                goto done;
            }
            parts = np;
        }
        double t = sdsinf__now();
        rc = sdsinf__msg_decode(msg, len, samples, w->N, &parts[nparts], err);
        w->st->decode_seconds += sdsinf__now() - t;
        w->st->messages_received++;
        w->st->bytes_received += len;
        free(msg);
        if (rc != SDSINF_OK)
            goto done;
        nparts++;
        seen[s][key.chunk] = 1;
        if (++got_chunks[s] == want_chunks[s])
            done_sources++;
    }
    *parts_out = parts;
    *nparts_out = nparts;
    parts = NULL;
done:
    for (int64_t i = 0; parts && i < nparts; i++)
        sdsinf_csr_free(&parts[i]);
    sdsinf__free(parts);
    for (int s = 0; seen && s < W; s++)
        sdsinf__free(seen[s]);
    sdsinf__free(seen);
    sdsinf__free(want_chunks);
    sdsinf__free(got_chunks);
    return rc;
}

/* out = own's rows with every part's columns beside them (columns are
 * disjoint: each row of H has one owner), ascending per row. */
static int merge_parts(const sdsinf_csr *own, const sdsinf_csr *parts,
                       int64_t nparts, sdsinf_csr *out, sdsinf_err *err)
{
    int64_t B = own->nrows, N = own->ncols, total = sdsinf_csr_nnz(own);
    for (int64_t i = 0; i < nparts; i++)
        total += sdsinf_csr_nnz(&parts[i]);
    int rc = sdsinf__csr_reshape(out, B, N, total, err);
    float *acc = sdsinf__mallocarray((size_t)N, sizeof *acc);
    uint64_t *bits = sdsinf__calloc((size_t)(N + 63) / 64, sizeof *bits);
    if (rc == SDSINF_OK && (!acc || !bits))
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    int64_t n = 0;
    for (int64_t r = 0; rc == SDSINF_OK && r < B; r++) {
        for (int64_t i = -1; i < nparts; i++) {
            const sdsinf_csr *m = i < 0 ? own : &parts[i];
            for (int64_t e = m->rowptr[r]; e < m->rowptr[r + 1]; e++) {
                acc[m->col[e]] = m->val[e];
                bits[m->col[e] >> 6] |= 1ull << (m->col[e] & 63);
            }
        }
        for (int64_t wd = 0; wd < (N + 63) / 64; wd++)
            while (bits[wd]) {
                uint32_t c = (uint32_t)(wd * 64 + __builtin_ctzll(bits[wd]));
                bits[wd] &= bits[wd] - 1;
                out->col[n] = c;
                out->val[n++] = acc[c];
            }
        out->rowptr[r + 1] = n;
    }
    sdsinf__free(acc);
    sdsinf__free(bits);
    return rc;
}

/* The rows [first, first + n) of the images, only this worker's features. */
static int own_inputs(const worker *w, int64_t first, int64_t n,
                      sdsinf_csr *out, sdsinf_err *err)
{
    const sdsinf_csr *im = w->o->images;
    const uint16_t *own = sdsinf_plan_owner(w->o->plan, 0);
    int64_t total = 0;
    for (int64_t e = im->rowptr[first]; e < im->rowptr[first + n]; e++)
        total += own[im->col[e]] == w->self;
    int rc = sdsinf__csr_reshape(out, n, w->N, total, err);
    int64_t k = 0;
    for (int64_t r = 0; rc == SDSINF_OK && r < n; r++) {
        for (int64_t e = im->rowptr[first + r]; e < im->rowptr[first + r + 1]; e++)
            if (own[im->col[e]] == w->self) {
                out->col[k] = im->col[e];
                out->val[k++] = im->val[e];
            }
        out->rowptr[r + 1] = k;
    }
    return rc;
}

/* Best (value, lowest neuron on ties) per sample of y, into arg/max. */
static void best_of_rows(const sdsinf_csr *y, int32_t *arg, float *max)
{
    for (int64_t r = 0; r < y->nrows; r++)
        for (int64_t e = y->rowptr[r]; e < y->rowptr[r + 1]; e++)
            if (y->val[e] > max[r] ||
                (y->val[e] == max[r] && (int32_t)y->col[e] < arg[r])) {
                max[r] = y->val[e];
                arg[r] = (int32_t)y->col[e];
            }
}

/* Sends this worker's best per sample to worker 0 (layer L + 1), or, on
 * worker 0, merges everyone's into the result. */
static int results(worker *w, const sdsinf_csr *y, uint32_t batch,
                   int64_t first, sdsinf_result *res, sdsinf_err *err)
{
    int64_t B = y->nrows;
    int rc = SDSINF_OK;
    int32_t *arg = sdsinf__mallocarray((size_t)B + 1, sizeof *arg);
    float *max = sdsinf__calloc((size_t)B + 1, sizeof *max);
    sdsinf_csr best = {0}, *parts = NULL;
    uint32_t *rows = NULL;
    int64_t nparts = 0;
    if (!arg || !max) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        goto done;
    }
    for (int64_t r = 0; r < B; r++)
        arg[r] = -1;
    best_of_rows(y, arg, max);
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
        rc = send_block(w, &best, NULL, rows, nr, batch, (uint32_t)w->L + 1,
                        0, err);
        goto done;
    }
    uint8_t *expect = sdsinf__mallocarray((size_t)w->W, 1);
    if (!expect) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        goto done;
    }
    memset(expect, 1, (size_t)w->W);
    expect[0] = 0;
    rc = receive_layer(w, batch, (uint32_t)w->L + 1, expect, B, &parts,
                       &nparts, err);
    sdsinf__free(expect);
    for (int64_t i = 0; rc == SDSINF_OK && i < nparts; i++)
        best_of_rows(&parts[i], arg, max);
    for (int64_t r = 0; rc == SDSINF_OK && r < B; r++) {
        res->argmax[first + r] = arg[r];
        res->max[first + r] = max[r];
    }
done:
    for (int64_t i = 0; parts && i < nparts; i++)
        sdsinf_csr_free(&parts[i]);
    sdsinf__free(parts);
    sdsinf__free(rows);
    sdsinf_csr_free(&best);
    sdsinf__free(arg);
    sdsinf__free(max);
    return rc;
}

/* A test hook: SDSINF_TEST_KILL=w:l kills worker w's process at layer l,
 * as a crash would (fault tests of the process launcher). */
static void maybe_die(int self, int32_t layer)
{
    const char *s = getenv("SDSINF_TEST_KILL");
    int w, l;
    if (s && sscanf(s, "%d:%d", &w, &l) == 2 && w == self && l == layer)
        raise(SIGKILL);
}

int sdsinf__worker_run(const sdsinf__worker_opts *o, sdsinf_result *res,
                       sdsinf__worker_stats *st, sdsinf_err *err)
{
    worker w = {0};
    sdsinf_csr y = {0}, yt = {0}, full = {0}, next = {0}, *parts = NULL;
    int64_t nparts = 0;
    int rc;
    sdsinf_plan_stats ps;
    sdsinf_plan_get_stats(o->plan, &ps);
    w.o = o;
    w.W = ps.workers;
    w.self = o->channel->self;
    w.N = ps.neurons;
    w.L = ps.layers;
    w.st = st;
    memset(st, 0, sizeof *st);
    double t0 = sdsinf__now();
    if (o->shard->neurons != w.N || o->shard->layers != w.L ||
        o->images->ncols != w.N || o->channel->workers != w.W)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "worker %d: the shard, images, plan and channel "
                            "disagree on the sizes", w.self);
    if ((rc = lists_build(&w, err)) != SDSINF_OK)
        goto done;
    int64_t M = o->images->nrows;
    int64_t bs = o->batch_size > 0 && o->batch_size < M ? o->batch_size : M;
    for (int64_t first = 0, b = 0; first < M; first += bs, b++) {
        int64_t n = M - first < bs ? M - first : bs;
        if ((rc = own_inputs(&w, first, n, &y, err)) != SDSINF_OK)
            goto done;
        for (int32_t l = 1; l <= w.L; l++) {
            layer_lists *ll = &w.lists[l - 1];
            maybe_die(w.self, l);
            double t = sdsinf__now();
            sdsinf_csr_free(&yt); /* one transpose serves every block */
            if (ll->send_ptr[w.W] > 0 &&
                (rc = sdsinf_csr_transpose(&y, &yt, err)) != SDSINF_OK)
                goto done;
            st->encode_seconds += sdsinf__now() - t;
            for (int p = 0; p < w.W; p++) {
                int64_t cnt = ll->send_ptr[p + 1] - ll->send_ptr[p];
                if (p != w.self && cnt > 0 &&
                    (rc = send_block(&w, &y, &yt,
                                     ll->send_rows + ll->send_ptr[p], cnt,
                                     (uint32_t)b, (uint32_t)l, p, err)))
                    goto done;
            }
            if ((rc = receive_layer(&w, (uint32_t)b, (uint32_t)l, ll->expect,
                                    n, &parts, &nparts, err)) != SDSINF_OK ||
                (rc = merge_parts(&y, parts, nparts, &full, err)) != SDSINF_OK)
                goto done;
            for (int64_t i = 0; i < nparts; i++)
                sdsinf_csr_free(&parts[i]);
            sdsinf__free(parts);
            parts = NULL;
            nparts = 0;
            t = sdsinf__now();
            rc = sdsinf_layer_forward(o->pool, &o->shard->layer[l - 1],
                                      o->shard->ymax, &full, &next, err);
            st->compute_seconds += sdsinf__now() - t;
            if (rc != SDSINF_OK)
                goto done;
            sdsinf_csr swap = y;
            y = next;
            next = swap;
        }
        if ((rc = results(&w, &y, (uint32_t)b, first, res, err)) != SDSINF_OK)
            goto done;
    }
done:
    st->seconds = sdsinf__now() - t0;
    for (int64_t i = 0; parts && i < nparts; i++)
        sdsinf_csr_free(&parts[i]);
    sdsinf__free(parts);
    sdsinf_csr_free(&y);
    sdsinf_csr_free(&yt);
    sdsinf_csr_free(&full);
    sdsinf_csr_free(&next);
    lists_free(&w);
    return rc;
}
