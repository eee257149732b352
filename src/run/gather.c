/* run/gather.c - the coordinator's side of a run: its own endpoint of the
 * channel (the last id, W), where every worker's report arrives (status,
 * totals, per-layer records, worker 0's result; run/codec.h), whatever
 * launcher started the workers and wherever they run.  Reports come at
 * least once, in chunks, in any order, with other runs' noise: chunks are
 * kept per worker until whole, copies dropped.  Each worker first sends
 * a note that it started (its channel open), so that a launcher that
 * cannot see its workers (no poll: external) still has the run end, once
 * the start timeout is past, naming those that never started.  Between
 * messages the coordinator checks the caller's cancel flag and asks the
 * launcher which workers have ended (a death is told at once, with the
 * layer it reached); the first failure stops the rest: the launcher
 * stops them, or, on one that cannot (external, lambda), the coordinator
 * sends each a stop over the channel, and the failure is told once those
 * still running have reported (stopped, or ended on their own, their
 * waits bounded), so that nothing of theirs comes after the run's channel
 * state is removed. */
#include "channels/channels.h"
#include "core/location.h"
#include "run/codec.h"
#include "run/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLICE_MS 100      /* the longest wait between checks */
#define KEYED_SLICE_MS 20 /* a keyed channel's wait for one worker's key */
#define PROGRESS_EVERY_S 0.1 /* the progress callback's least interval */
#define START_TIMEOUT_MS 600000 /* the default of start_timeout_ms */
#define LOST_AFTER_MS 5000 /* a worker that ended well: how long its report
                              may still be on the way (a queue service's
                              receive lags its send: long polls, retries
                              after throttling) before it counts as lost;
                              at most the run's timeout */

/* One worker's report as it comes in. */
typedef struct owed {
    uint32_t nchunks, got; /* its chunks, once the first came */
    void **chunk;
    size_t *len;
    int started;           /* its start note (or report) came */
    unsigned asked;        /* keyed: times asked for a key before then */
    int reported;          /* rep holds its report */
    int ended;             /* its launcher told its end ... */
    sdsinf_err end;        /* ... and what it knew of it */
    double ended_at;       /* when (monotonic s) */
    int settled;           /* reported, or ended without a report */
    sdsinf__report rep;
} owed;

typedef struct gather {
    run_ctx *c;
    owed *w;
    int settled, reports, started;
    double last_report;    /* monotonic s */
    int have, rank;        /* the failure to report so far, and its rank */
    sdsinf_err first;
} gather;

int sdsinf__coordinator_open(run_ctx *c, sdsinf_err *err)
{
    return sdsinf__channel_open(c->channel, c->o->channel_config, c->W,
                                c->W + 1, c->run, 1, &c->coord, err);
}

/* How much a failure says of its own: 0 a consequence of another (a
 * worker stopped, a report lost), 1 a timeout (someone else failed), 2 a
 * worker's own error or death. */
static int rank_of(int rc)
{
    return rc == SDSINF_ECANCELED ? 0 : rc == SDSINF_ETIMEDOUT ? 1 : 2;
}

/* Takes a failure: the first of the highest rank is the one told. */
static void consider(gather *g, int rc, const char *msg, int rank)
{
    if (g->have && rank <= g->rank)
        return;
    sdsinf__fail(&g->first, rc, "%s", msg);
    g->have = 1;
    g->rank = rank;
}

/* Drops the chunks kept of a worker's report. */
static void owed_chunks_free(owed *o)
{
    for (uint32_t i = 0; o->chunk && i < o->nchunks; i++)
        free(o->chunk[i]);
    sdsinf__free(o->chunk);
    sdsinf__free(o->len);
    o->chunk = NULL;
    o->len = NULL;
}

/* Worker o has started (its note, or its report, came). */
static void mark_started(gather *g, owed *o)
{
    if (!o->started) {
        o->started = 1;
        g->started++;
    }
}

/* A message at the coordinator's endpoint (owned: freed here): a worker's
 * start note, or a chunk of some worker's report, kept, and decoded once
 * the report is whole. */
static int take(gather *g, void *msg, size_t len, sdsinf_err *err)
{
    run_ctx *c = g->c;
    sdsinf__msg_key k;
    uint32_t layers = (uint32_t)c->st->layers;
    if (sdsinf__msg_peek(msg, len, &k, NULL) != SDSINF_OK ||
        sdsinf__msg_kind(msg) != SDSINF__KIND_REPORT || k.run != c->run ||
        k.target != (uint32_t)c->W || k.source >= (uint32_t)c->W ||
        (k.layer != layers + 2 && k.layer != 0)) {
        free(msg); /* damaged, or not ours: at-least-once noise */
        return SDSINF_OK;
    }
    owed *o = &g->w[k.source];
    mark_started(g, o);
    sdsinf_err fe = {0};
    if (k.layer == 0 && !o->settled && sdsinf__note_failure(msg, len, &fe)) {
        o->settled = 1; /* it could not load its data: the run ends */
        g->settled++;
        consider(g, fe.code, fe.msg, rank_of(fe.code));
    }
    if (k.layer == 0) { /* its start note */
        free(msg);
        return SDSINF_OK;
    }
    if (o->settled || (o->nchunks && o->nchunks != k.nchunks) ||
        (o->chunk && o->chunk[k.chunk])) {
        free(msg); /* a copy, or one from a worker already settled */
        return SDSINF_OK;
    }
    if (!o->nchunks) {
        o->chunk = sdsinf__calloc(k.nchunks, sizeof *o->chunk);
        o->len = sdsinf__calloc(k.nchunks, sizeof *o->len);
        if (!o->chunk || !o->len) {
            free(msg);
            owed_chunks_free(o);
            return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for the "
                                "reports");
        }
        o->nchunks = k.nchunks;
    }
    o->chunk[k.chunk] = msg;
    o->len[k.chunk] = len;
    if (++o->got < o->nchunks)
        return SDSINF_OK;
    sdsinf_plan_stats ps;
    sdsinf_plan_get_stats(c->p, &ps);
    sdsinf_err e = {0};
    int rc = sdsinf__report_decode(o->chunk, o->len, o->nchunks,
                                   (int32_t)k.source, ps.layers,
                                   c->images->nrows, ps.neurons, &o->rep, &e);
    owed_chunks_free(o);
    o->settled = 1;
    g->settled++;
    if (rc != SDSINF_OK) { /* a worker of another build, or damage the
                              checksums let through */
        consider(g, rc, e.msg, 2);
        return SDSINF_OK;
    }
    o->reported = 1;
    g->reports++;
    g->last_report = sdsinf__now();
    if (o->rep.rc != SDSINF_OK)
        consider(g, o->rep.rc, o->rep.msg, rank_of(o->rep.rc));
    return SDSINF_OK;
}

/* A worker that ended without its report (after the channel had nothing
 * more for the coordinator): what its launcher knew of its end. */
static void ended_unreported(gather *g, int w)
{
    owed *o = &g->w[w];
    char msg[300];
    o->settled = 1;
    g->settled++;
    owed_chunks_free(o);
    if (o->end.code != SDSINF_OK) {
        consider(g, o->end.code, o->end.msg, rank_of(o->end.code));
        return;
    }
    snprintf(msg, sizeof msg, "worker %d ended without its report reaching "
             "the coordinator over channel %s (lost on the way)", w,
             g->c->channel);
    consider(g, SDSINF_EIO, msg, 0);
}

/* The workers not settled yet, those not started yet, or those started
 * and not settled, as "1,4,7" (for messages). */
enum { OWED_UNSETTLED, OWED_UNSTARTED, OWED_SILENT };
static void owed_list(const gather *g, int which, char *buf, size_t cap)
{
    size_t at = 0;
    buf[0] = 0;
    for (int w = 0; w < g->c->W && at + 12 < cap; w++)
        if (which == OWED_UNSTARTED ? !g->w[w].started
            : which == OWED_SILENT  ? g->w[w].started && !g->w[w].settled
                                    : !g->w[w].settled)
            at += (size_t)snprintf(buf + at, cap - at, "%s%d", at ? "," : "",
                                   w);
}

/* The failure of workers that never started (no start note came), on a
 * launcher that cannot see them: the run's, over what ended it meanwhile
 * (the others' timeouts, waiting for them). */
static void never_started(gather *g, int start_ms)
{
    const char *hint = g->c->start_hint
                           ? g->c->start_hint
                           : "start every worker from its spec within the "
                             "start timeout: run option start_timeout_ms, "
                             "--start-timeout-ms";
    char list[256], m[sizeof list + sizeof g->first.msg + 200];
    owed_list(g, OWED_UNSTARTED, list, sizeof list);
    if (g->have)
        snprintf(m, sizeof m, "worker(s) %s never started (no word from "
                 "them on channel %s), so the others failed: %s", list,
                 g->c->channel, g->first.msg);
    else
        snprintf(m, sizeof m, "worker(s) %s never started: no word from "
                 "them on channel %s within %d ms (%s)", list, g->c->channel,
                 start_ms, hint);
    g->have = 0;
    consider(g, SDSINF_ETIMEDOUT, m, 2);
}

/* Takes the start notes (and whatever else) waiting at the coordinator's
 * endpoint without waiting: the run ended on a failure before it had read
 * them all. */
static void drain_notes(gather *g, int keyed)
{
    run_ctx *c = g->c;
    int rounds = keyed ? c->W : 4 * c->W + 16; /* bounded: what is there */
    for (int i = 0; i < rounds && g->started < c->W; i++) {
        sdsinf_msg_key want = {c->run, 0, 0, keyed ? (uint32_t)i : 0,
                               (uint32_t)c->W, 0, 0};
        void *msg = NULL;
        size_t len = 0;
        if (keyed && g->w[i].started)
            continue;
        if (!keyed)
            want.layer = (uint32_t)c->st->layers + 2;
        if (sdsinf_channel_recv(c->coord, &want, &msg, &len, 0, NULL) ==
            SDSINF_OK)
            take(g, msg, len, NULL);
        else if (!keyed)
            break;
    }
}

/* The next worker (round robin from *next) not settled (started: and
 * started): a keyed channel is asked for one key at a time. */
static int next_owed(const gather *g, int started, int *next)
{
    for (int i = 0; i < g->c->W; i++) {
        int w = (*next + i) % g->c->W;
        if (!g->w[w].settled && (!started || g->w[w].started)) {
            *next = w + 1;
            return w;
        }
    }
    return 0;
}

/* After a failure or a cancel, on a launcher that cannot stop its
 * workers: tells those started and not settled (nor known to have ended)
 * to stop, a stop at each one's key, so that they end within a wait and
 * report (as stopped) instead of waiting for their peers until the run's
 * timeout.  Not those never heard of: a send to one not open would wait
 * for it on some channels, and on a stack's shared queues a stop nobody
 * takes would stay.  Best effort; 1 when every stop went. */
static int stop_started(gather *g)
{
    run_ctx *c = g->c;
    int rc = SDSINF_OK;
    for (int w = 0; w < c->W; w++) {
        const owed *o = &g->w[w];
        unsigned char stop[SDSINF__MSG_HEADER];
        sdsinf__msg_key key = sdsinf__stop_key(c->run, c->W, w);
        if (!o->started || o->settled || o->ended)
            continue;
        sdsinf__stop_encode(&key, stop);
        if (sdsinf_channel_send(c->coord, &key, stop, sizeof stop, NULL) !=
            SDSINF_OK)
            rc = SDSINF_EIO;
    }
    return sdsinf_channel_flush(c->coord, NULL) == SDSINF_OK &&
           rc == SDSINF_OK;
}

/* The workers started that have not settled (reported, or ended). */
static int unsettled(const gather *g)
{
    int left = 0;
    for (int w = 0; w < g->c->W; w++)
        left += g->w[w].started && !g->w[w].settled;
    return left;
}

/* After a failure or a cancel, on a launcher that cannot stop its
 * workers: takes the reports of those that started and have not
 * reported, until each has or none came for `quiet` s (a dead worker
 * never reports) -- from the start, after a timeout (the others' follow at
 * once) or once they were told to stop (`told`: they end at once, and
 * only then does a cancel wait: a stop on a keyed channel is an object the
 * run's teardown would remove before they read it); after the run's
 * timeout, after a worker's own error (the others wait that long). */
static void settle_started(gather *g, int keyed, int timeout_ms, int told)
{
    run_ctx *c = g->c;
    double quiet = (timeout_ms < LOST_AFTER_MS ? timeout_ms
                                               : LOST_AFTER_MS) / 1e3;
    double until = sdsinf__now() + quiet +
                   (g->rank >= 2 && !told ? timeout_ms / 1e3 : 0);
    int next = 0;
    while (sdsinf__now() < until && (told || !sdsinf__flag_set(c->cancel))) {
        int settled = g->settled;
        if (!unsettled(g))
            return;
        void *msg = NULL;
        size_t len = 0;
        sdsinf_msg_key want = {c->run, 0, (uint32_t)c->st->layers + 2, 0,
                               (uint32_t)c->W, 0, 0};
        if (keyed)
            want.source = (uint32_t)next_owed(g, 1, &next);
        if (sdsinf_channel_recv(c->coord, &want, &msg, &len,
                                keyed ? KEYED_SLICE_MS : SLICE_MS,
                                NULL) == SDSINF_OK &&
            take(g, msg, len, NULL) != SDSINF_OK)
            return;
        if (g->settled > settled && sdsinf__now() + quiet > until)
            until = sdsinf__now() + quiet;
    }
}

/* After settle_started, when the run failed on timeouts: names the
 * workers that started and then never reported (dead: the others timed
 * out waiting for them) before the first timeout. */
static void name_silent(gather *g)
{
    char list[256], m[sizeof list + sizeof g->first.msg + 200];
    owed_list(g, OWED_SILENT, list, sizeof list);
    if (g->rank != 1 || !list[0])
        return;
    snprintf(m, sizeof m, "worker(s) %s fell silent on channel %.64s "
             "(started, then no report: died or stuck), so the others "
             "failed: %s",
             list, g->c->channel, g->first.msg);
    int code = g->first.code;
    g->have = 0;
    consider(g, code, m, 1);
}

/* On success: the reports' totals, records and worker 0's result become
 * the run's, the s3:// location requests its workers made in processes of
 * their own are added to this process's (sdsinf_location_requests), and
 * the run's start-up ends when its last worker had loaded. */
static void gather_results(gather *g)
{
    run_ctx *c = g->c;
    sdsinf_run_stats *st = c->st;
    double ready = 0;
    for (int w = 0; w < c->W; w++) {
        sdsinf__report *r = &g->w[w].rep;
        const sdsinf__worker_stats *s = &r->st;
        ready = r->ready > ready ? r->ready : ready;
        st->messages_sent += s->messages_sent;
        st->bytes_sent += s->bytes_sent;
        st->messages_received += s->messages_received;
        st->bytes_received += s->bytes_received;
        st->duplicates += s->duplicates;
        st->dropped += s->dropped;
        st->compute_seconds += s->compute_seconds;
        st->encode_seconds += s->encode_seconds;
        st->decode_seconds += s->decode_seconds;
        st->send_seconds += s->send_seconds;
        st->wait_seconds += s->wait_seconds;
        sdsinf__location_requests_add(&s->storage);
        if (r->billed_mb) { /* a Lambda invocation: GB = 1024 MB */
            st->lambda_invocations++;
            st->lambda_seconds += (double)r->billed_ms / 1e3;
            st->lambda_gb_seconds += (double)r->billed_ms / 1e3 *
                                     r->billed_mb / 1024.0;
            st->lambda_arch = (int)r->arch;
            st->lambda_warm += (int)r->warm;
            st->lambda_memory_mb = r->billed_mb;
        }
        if (r->peak_mb > st->peak_mb)
            st->peak_mb = r->peak_mb;
        for (int32_t i = 0; s->records && i <= st->layers; i++) {
            const sdsinf_layer_record *rec = &s->records[i];
            st->records[(int64_t)w * (st->layers + 1) + i] = *rec;
            sdsinf__requests_add(&st->requests, &rec->requests);
        }
    }
    const sdsinf_result *r0 = &g->w[0].rep.res;
    memcpy(c->res->argmax, r0->argmax, (size_t)r0->images * sizeof *r0->argmax);
    memcpy(c->res->max, r0->max, (size_t)r0->images * sizeof *r0->max);
    /* the workers' wall clock, on the coordinator's monotonic one */
    c->ready = c->t0 + (ready - c->t0_wall);
    if (c->ready < c->t0 || ready == 0)
        c->ready = c->t0;
}

/* Tells the caller's progress callback how far the workers are (at most
 * every PROGRESS_EVERY_S; `last`: when it was last told). */
static void tell_progress(const gather *g, double *last)
{
    const run_ctx *c = g->c;
    double t = sdsinf__now();
    if (c->o->version < 7 || !c->o->progress || t - *last < PROGRESS_EVERY_S)
        return;
    *last = t;
    int64_t per = c->st->batches * ((int64_t)c->st->layers + 1), done = 0;
    for (int w = 0; c->progress && w < c->W; w++)
        done += g->w[w].settled ? per
                                : sdsinf__progress_steps(c->progress, w,
                                                         c->st->layers);
    if (c->progress)
        c->o->progress(c->o->progress_ud, done, per * c->W);
    else
        c->o->progress(c->o->progress_ud, g->settled, 0);
}

int sdsinf__gather(run_ctx *c, sdsinf_launch *l,
                   const sdsinf_launcher_methods *lm, sdsinf_err *err)
{
    gather g = {c, NULL, 0, 0, 0, 0, 0, 0, {0}};
    int keyed = (c->coord->methods->caps & SDSINF_CAP_KEYED) != 0, next = 0;
    int timeout_ms = c->o->timeout_ms > 0 ? c->o->timeout_ms : 30000;
    int start_ms = c->o->version >= 6 && c->o->start_timeout_ms > 0
                       ? c->o->start_timeout_ms
                   : c->start_default_ms > 0 ? c->start_default_ms
                                             : START_TIMEOUT_MS;
    double start_by = sdsinf__now() + start_ms / 1e3;
    /* a launcher that cannot see its workers start (not a job's) */
    int blind = !lm->poll && !(lm->caps & SDSINF_LAUNCH_IN_JOB);
    int rc = SDSINF_OK;
    double told = 0;
    if (!(g.w = sdsinf__calloc((size_t)c->W, sizeof *g.w)))
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    while (g.settled < c->W && !(g.have && g.rank >= 1)) {
        tell_progress(&g, &told);
        if (sdsinf__flag_set(c->cancel)) {
            c->canceled = 1;
            rc = SDSINF_ECANCELED;
            break;
        }
        int w;
        sdsinf_err e = {0};
        while (lm->poll && lm->poll(l, &w, &e) == 1)
            if (w >= 0 && w < c->W && !g.w[w].ended) {
                g.w[w].ended = 1;
                g.w[w].end = e;
                g.w[w].ended_at = sdsinf__now();
            }
        void *msg = NULL;
        size_t len = 0;
        sdsinf_msg_key want = {c->run, 0, (uint32_t)c->st->layers + 2, 0,
                               (uint32_t)c->W, 0, 0};
        if (keyed) { /* one key; blind, a worker not heard of yet is asked
                        for its note and its report in turn */
            owed *o = &g.w[want.source = (uint32_t)next_owed(&g, 0, &next)];
            if (blind && !o->started && o->asked++ % 2 == 0)
                want.layer = 0;
        }
        int got = sdsinf_channel_recv(c->coord, &want, &msg, &len,
                                      keyed ? KEYED_SLICE_MS : SLICE_MS, &e);
        if (got == SDSINF_OK && (rc = take(&g, msg, len, err)) != SDSINF_OK)
            break;
        if (got != SDSINF_OK && got != SDSINF_ETIMEDOUT) {
            consider(&g, got, e.msg, 2); /* the coordinator's own channel */
            continue;
        }
        /* the channel had nothing more: an ended worker's report is lost
         * (a keyed channel was only asked for one worker's key), once one
         * that ended well has had LOST_AFTER_MS for it to come */
        double lost_s = (timeout_ms < LOST_AFTER_MS ? timeout_ms
                                                    : LOST_AFTER_MS) / 1e3;
        for (w = 0; got == SDSINF_ETIMEDOUT && w < c->W; w++)
            if (g.w[w].ended && !g.w[w].settled &&
                (!keyed || (want.source == (uint32_t)w && want.layer)) &&
                (g.w[w].end.code != SDSINF_OK ||
                 sdsinf__now() - g.w[w].ended_at >= lost_s))
                ended_unreported(&g, w);
        /* a launcher that cannot see its workers: they must all have
         * started within the start timeout */
        if (blind && g.started < c->W && sdsinf__now() > start_by)
            never_started(&g, start_ms);
        /* a launcher that cannot tell ends: the rest must follow the last
         * report within the timeout */
        if (!lm->poll && g.reports > 0 && g.settled < c->W &&
            sdsinf__now() - g.last_report > timeout_ms / 1e3) {
            char list[256], m[400];
            owed_list(&g, OWED_UNSETTLED, list, sizeof list);
            snprintf(m, sizeof m, "no report from worker(s) %s on channel "
                     "%s within %d ms of the others'; a worker died or never "
                     "started", list, c->channel, timeout_ms);
            consider(&g, SDSINF_ETIMEDOUT, m, 1);
        }
    }
    if (rc == SDSINF_OK && g.have && g.rank < 2 && blind && g.started < c->W)
        drain_notes(&g, keyed);
    if (rc == SDSINF_OK && g.have && g.rank < 2 && blind && g.started < c->W)
        never_started(&g, start_ms); /* the others waited for them */
    int own_stop = lm->stop || (lm->caps & SDSINF_LAUNCH_IN_JOB);
    int stopped = (rc != SDSINF_OK || g.have) && !own_stop &&
                  stop_started(&g);
    if (rc == SDSINF_OK && g.have && !own_stop) {
        settle_started(&g, keyed, timeout_ms, stopped);
        name_silent(&g);
    } else if (c->canceled && stopped) { /* they take the stops first */
        settle_started(&g, keyed, timeout_ms, 1);
        c->unconfirmed = unsettled(&g);
    }
    if (rc == SDSINF_OK && g.have) {
        rc = g.first.code;
        if (err)
            *err = g.first;
    }
    if (rc != SDSINF_OK && lm->stop)
        lm->stop(l);
    if (rc == SDSINF_OK)
        gather_results(&g);
    for (int w = 0; w < c->W; w++) {
        owed_chunks_free(&g.w[w]);
        sdsinf__report_free(&g.w[w].rep);
    }
    sdsinf__free(g.w);
    return rc;
}
