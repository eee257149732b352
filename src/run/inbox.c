/* run/inbox.c - what a worker receives: blocks owed at one layer, from a
 * channel that delivers at least once and in any order (see inbox.h). */
#include "run/inbox.h"

#include <stdio.h>
#include <stdlib.h>

#define CANCEL_SLICE_MS 100 /* a cancelable wait checks the flag this often */
#define STOP_CHECK_MS 1000  /* a keyed channel's wait looks for a stop so
                               often (a GET on an object store) */

typedef struct pending {
    sdsinf_msg_key key;
    void *msg;
    size_t len;
} pending;

struct sdsinf__inbox {
    sdsinf__inbox_opts o;
    int self, W;
    pending *later; /* messages for later layers or batches */
    int64_t nlater, caplater;
    uint64_t dropped, duplicates;
};

/* One receive's bookkeeping, per source: the chunks of its block (0: none
 * seen yet), those in, and which. */
typedef struct tally {
    uint32_t *want, *got;
    uint8_t **seen;
    sdsinf__rows *parts;
    uint32_t *psrc; /* each part's source */
    int64_t nparts, cap;
} tally;

int sdsinf__inbox_new(const sdsinf__inbox_opts *o, sdsinf__inbox **out,
                      sdsinf_err *err)
{
    sdsinf__inbox *ib = sdsinf__calloc(1, sizeof *ib);
    if (!ib)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    ib->o = *o;
    ib->self = o->channel->self;
    ib->W = o->workers;
    *out = ib;
    return SDSINF_OK;
}

void sdsinf__inbox_free(sdsinf__inbox *ib)
{
    for (int64_t i = 0; ib && i < ib->nlater; i++)
        free(ib->later[i].msg);
    if (ib)
        sdsinf__free(ib->later);
    sdsinf__free(ib);
}

void sdsinf__inbox_counts(const sdsinf__inbox *ib, uint64_t *dropped,
                          uint64_t *duplicates)
{
    *dropped = ib->dropped;
    *duplicates = ib->duplicates;
}

void sdsinf__count_message(uint64_t *n, uint64_t *bytes, uint64_t *max,
                           uint64_t *min, size_t len)
{
    *max = len > *max ? len : *max;
    *min = !*n || len < *min ? len : *min;
    (*n)++;
    *bytes += len;
}

int sdsinf__inbox_canceled(const sdsinf__inbox *ib, sdsinf_err *err)
{
    return sdsinf__flag_set(ib->o.cancel)
               ? sdsinf__fail(err, SDSINF_ECANCELED, "worker %d: the run was "
                              "canceled", ib->self)
               : SDSINF_OK;
}

/* Keeps a message for a later layer or batch; 0 when out of memory. */
static int keep_later(sdsinf__inbox *ib, const sdsinf_msg_key *k, void *msg,
                      size_t len)
{
    if (ib->nlater == ib->caplater) {
        int64_t cap = ib->caplater ? 2 * ib->caplater : 16;
        pending *v = sdsinf__realloc(ib->later, (size_t)cap * sizeof *v);
        if (!v)
            return 0;
        ib->later = v;
        ib->caplater = cap;
    }
    ib->later[ib->nlater++] = (pending){*k, msg, len};
    return 1;
}

/* A kept message for (batch, layer), taken out of the list; 0 if none. */
static int take_later(sdsinf__inbox *ib, uint32_t batch, uint32_t layer,
                      void **msg, size_t *len)
{
    for (int64_t i = 0; i < ib->nlater; i++)
        if (ib->later[i].key.batch == batch &&
            ib->later[i].key.layer == layer) {
            *msg = ib->later[i].msg;
            *len = ib->later[i].len;
            ib->later[i] = ib->later[--ib->nlater];
            return 1;
        }
    return 0;
}

/* A receive that waits at most timeout_ms; a cancelable run waits in
 * slices of CANCEL_SLICE_MS, so that a cancel ends it within one, and on a
 * keyed channel (which returns only the key asked for) every
 * STOP_CHECK_MS also looks for the coordinator's stop at its key. */
static int recv_or_cancel(const sdsinf__inbox *ib, const sdsinf_msg_key *want,
                          void **msg, size_t *len, sdsinf_err *err)
{
    const sdsinf__inbox_opts *o = &ib->o;
    int keyed = (o->channel->methods->caps & SDSINF_CAP_KEYED) != 0;
    if (!o->cancel && !keyed)
        return sdsinf_channel_recv(o->channel, want, msg, len, o->timeout_ms,
                                   err);
    sdsinf_msg_key stop = sdsinf__stop_key(o->run, ib->W, ib->self);
    int most = o->cancel ? CANCEL_SLICE_MS : STOP_CHECK_MS;
    double deadline = sdsinf__now() + o->timeout_ms / 1e3;
    double check_at = sdsinf__now() + STOP_CHECK_MS / 1e3;
    for (;;) {
        int rc = sdsinf__inbox_canceled(ib, err);
        double left_ms = (deadline - sdsinf__now()) * 1e3;
        int slice = left_ms < most ? (int)left_ms + 1 : most;
        if (rc == SDSINF_OK)
            rc = sdsinf_channel_recv(o->channel, want, msg, len, slice, err);
        if (rc == SDSINF_ETIMEDOUT && keyed && sdsinf__now() >= check_at) {
            check_at = sdsinf__now() + STOP_CHECK_MS / 1e3;
            rc = sdsinf_channel_recv(o->channel, &stop, msg, len, 0, err);
        }
        if (rc != SDSINF_ETIMEDOUT || sdsinf__now() >= deadline)
            return rc;
    }
}

/* Whether source s's block is all in. */
static int source_done(const tally *t, int s)
{
    return t->want[s] && t->got[s] == t->want[s];
}

/* The timeout's error: who still owes what, and what that likely means. */
static int owed_error(const sdsinf__inbox *ib, const tally *t,
                      const uint8_t *expect, uint32_t batch, uint32_t layer,
                      sdsinf_err *err)
{
    char owe[256] = "";
    size_t at = 0;
    for (int s = 0; s < ib->W && at + 12 < sizeof owe; s++)
        if (expect[s] && !source_done(t, s))
            at += (size_t)snprintf(owe + at, sizeof owe - at, "%s%d",
                                   at ? "," : "", s);
    return sdsinf__fail(err, SDSINF_ETIMEDOUT,
                        "worker %d, layer %u, batch %u: no message from "
                        "worker(s) %s on channel %s within %d ms; a worker "
                        "died or is stuck",
                        ib->self, layer, batch, owe,
                        ib->o.channel->methods->name, ib->o.timeout_ms);
}

/* The next message for (batch, layer): a kept one, else from the channel
 * (a keyed channel is asked for the next source still owed). */
static int next_message(sdsinf__inbox *ib, const tally *t,
                        const uint8_t *expect, uint32_t batch, uint32_t layer,
                        int *next_keyed, sdsinf_layer_record *rec, void **msg,
                        size_t *len, sdsinf_err *err)
{
    if (take_later(ib, batch, layer, msg, len))
        return SDSINF_OK;
    sdsinf_msg_key want = {ib->o.run, batch, layer, 0, (uint32_t)ib->self,
                           0, 0};
    if (ib->o.channel->methods->caps & SDSINF_CAP_KEYED) {
        while (*next_keyed < ib->W &&
               (!expect[*next_keyed] || source_done(t, *next_keyed)))
            (*next_keyed)++;
        want.source = (uint32_t)*next_keyed;
    }
    double t0 = sdsinf__now();
    int rc = recv_or_cancel(ib, &want, msg, len, err);
    rec->wait_seconds += sdsinf__now() - t0;
    return rc == SDSINF_ETIMEDOUT ? owed_error(ib, t, expect, batch, layer,
                                               err)
                                  : rc;
}

/* Room for one more part. */
static int tally_grow(tally *t, sdsinf_err *err)
{
    if (t->nparts < t->cap)
        return SDSINF_OK;
    int64_t cap = t->cap ? 2 * t->cap : 16;
    sdsinf__rows *np = sdsinf__realloc(t->parts, (size_t)cap * sizeof *np);
    if (np)
        t->parts = np;
    uint32_t *ns = np ? sdsinf__realloc(t->psrc, (size_t)cap * sizeof *ns)
                      : NULL;
    if (!ns)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    t->psrc = ns;
    t->cap = cap;
    return SDSINF_OK;
}

static void tally_free(tally *t, int W)
{
    for (int64_t i = 0; t->parts && i < t->nparts; i++)
        sdsinf__rows_free(&t->parts[i]);
    sdsinf__free(t->parts);
    sdsinf__free(t->psrc);
    for (int s = 0; t->seen && s < W; s++)
        sdsinf__free(t->seen[s]);
    sdsinf__free(t->seen);
    sdsinf__free(t->want);
    sdsinf__free(t->got);
}

/* Sorts a message with key k out: 1 to take it (a new chunk of a block
 * owed now), 0 when it was kept for later or dropped (then freed or kept
 * here), or an error. */
static int sort_message(sdsinf__inbox *ib, tally *t, const uint8_t *expect,
                        uint32_t batch, uint32_t layer,
                        const sdsinf_msg_key *k, void *msg, size_t len,
                        sdsinf_err *err)
{
    if (k->run != ib->o.run || k->target != (uint32_t)ib->self ||
        k->source >= (uint32_t)ib->W || k->nchunks == 0 ||
        k->chunk >= k->nchunks) {
        free(msg); /* not ours: at-least-once noise */
        ib->dropped++;
        return 0;
    }
    if (k->batch != batch || k->layer != layer) {
        int later = k->batch > batch || (k->batch == batch && k->layer > layer);
        if (!later || !keep_later(ib, k, msg, len))
            free(msg);
        ib->dropped += !later;
        return 0;
    }
    uint32_t s = k->source;
    if (!expect[s] || (t->want[s] && t->want[s] != k->nchunks)) {
        free(msg);
        ib->dropped++;
        return 0;
    }
    if (!t->want[s]) {
        t->want[s] = k->nchunks;
        if (!(t->seen[s] = sdsinf__calloc(k->nchunks, 1))) {
            free(msg);
            return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        }
    }
    if (t->seen[s][k->chunk]) {
        free(msg);
        ib->duplicates++;
        return 0;
    }
    return 1;
}

int sdsinf__inbox_receive(sdsinf__inbox *ib, uint32_t batch, uint32_t layer,
                          const uint8_t *expect, int64_t samples,
                          const sdsinf__inbox_hooks *hooks,
                          sdsinf_layer_record *rec, sdsinf__rows **parts,
                          int64_t *nparts, sdsinf_err *err)
{
    int W = ib->W, rc = SDSINF_OK, next_keyed = 0;
    int64_t done_sources = 0, owed = 0;
    tally t = {0};
    t.want = sdsinf__calloc((size_t)W, sizeof *t.want);
    t.got = sdsinf__calloc((size_t)W, sizeof *t.got);
    t.seen = sdsinf__calloc((size_t)W, sizeof *t.seen);
    if (!t.want || !t.got || !t.seen) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        goto done;
    }
    for (int s = 0; s < W; s++)
        owed += expect[s];
    while (done_sources < owed) {
        sdsinf_msg_key k;
        void *msg = NULL;
        size_t len = 0;
        if ((rc = next_message(ib, &t, expect, batch, layer, &next_keyed, rec,
                               &msg, &len, err)) != SDSINF_OK)
            goto done;
        int ok = sdsinf__msg_peek(msg, len, &k, NULL) == SDSINF_OK;
        unsigned kind = ok ? sdsinf__msg_kind(msg) : SDSINF__KIND_ROWS;
        if (!ok || kind != SDSINF__KIND_ROWS) {
            free(msg); /* damaged, a stop, or not rows */
            if (kind == SDSINF__KIND_STOP && k.run == ib->o.run &&
                k.target == (uint32_t)ib->self) {
                rc = sdsinf__fail(err, SDSINF_ECANCELED, "worker %d: stopped "
                                  "by the run's coordinator (the run failed "
                                  "or was canceled)", ib->self);
                goto done;
            }
            ib->dropped++; /* another run's stop among them */
            continue;
        }
        if ((rc = sort_message(ib, &t, expect, batch, layer, &k, msg, len,
                               err)) <= 0) {
            if (rc < 0)
                goto done;
            continue;
        }
        if ((rc = tally_grow(&t, err)) != SDSINF_OK) {
            free(msg);
            goto done;
        }
        uint32_t s = k.source;
        sdsinf__rows *part = &t.parts[t.nparts];
        double t0 = sdsinf__now();
        rc = sdsinf__msg_decode(msg, len, samples, ib->o.neurons,
                                ib->o.codec, part, err);
        rec->decode_seconds += sdsinf__now() - t0;
        sdsinf__count_message(&rec->received, &rec->received_bytes,
                              &rec->received_max, &rec->received_min, len);
        free(msg);
        if (rc != SDSINF_OK)
            goto done;
        t.psrc[t.nparts++] = s;
        if (hooks && hooks->check &&
            (rc = hooks->check(hooks->ctx, layer, s, part, err)) != SDSINF_OK)
            goto done;
        t.seen[s][k.chunk] = 1;
        if (++t.got[s] == t.want[s]) {
            done_sources++;
            if (hooks && hooks->arrived &&
                (rc = hooks->arrived(hooks->ctx, s, t.parts, t.psrc, t.nparts,
                                     err)) != SDSINF_OK)
                goto done;
        }
    }
    *parts = t.parts;
    *nparts = t.nparts;
    t.parts = NULL;
done:
    tally_free(&t, W);
    return rc;
}
