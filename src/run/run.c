/* run.c - a distributed run: launch the workers, gather the result.
 * Launchers:
 *   threads - each worker a thread of this process, with its own channel
 *             instance and shard (channel "mem" by default); the threads
 *             load their data side by side and start the layers together;
 *   local   - each worker a process, started as SDS-Inf's launch tree
 *             (bfr children per node over nlevels; every node starts its
 *             children before it loads its data; channel "local").  Worker
 *             0 hands the merged result back through a pipe; every worker
 *             reports its statistics or its error through another.  A
 *             worker that dies ends the run: whoever started it (the
 *             coordinator, or its parent in the tree, which watches its
 *             children from a thread) reports it at once, its peers are
 *             killed (also when the coordinator dies: PR_SET_PDEATHSIG),
 *             and the error names it, with the layer and batch of its last
 *             call on the channel (every worker's last call sits in memory
 *             the processes share).
 * A worker's data: its shard of the model's weight columns, cut from the
 * model in memory, or (plan_dir) loaded by the worker from the plan
 * directory's shard-{w}.sdsinf and checked against the plan.
 * Sections: the launch tree, progress, one worker, threads, processes,
 * sdsinf_run. */
#include "channels/channels.h"
#include "run/codec.h"
#include "run/run.h"
#include "run/sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MESSAGE (256 << 10) /* bytes per message by default: SQS's limit */
#define MIN_MESSAGE 256         /* the least a limit may be: a header, a row */

void sdsinf_run_opts_init(sdsinf_run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->version = SDSINF_RUN_OPTS_VERSION;
}

/* ---- The launch tree ------------------------------------------------------- */

/* Whether bfr children per node over nlevels levels start exactly
 * `workers` workers. */
static int launch_tree_check(int bfr, int nlevels, int workers,
                             sdsinf_err *err)
{
    int64_t total = 0, p = 1;
    if (bfr < 1 || nlevels < 1 || nlevels > 32)
        return sdsinf__fail(err, SDSINF_EINVAL, "bfr must be >= 1 and "
                            "nlevels 1..32 (got %d and %d)", bfr, nlevels);
    for (int k = 1; k <= nlevels && total <= workers; k++) {
        p *= bfr;
        total += p;
    }
    if (total != workers)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "bfr %d over %d levels starts %lld workers, not "
                            "%d, so the ids would not be 0..%d: choose "
                            "workers = bfr + bfr^2 + ... + bfr^nlevels",
                            bfr, nlevels, (long long)total, workers,
                            workers - 1);
    return SDSINF_OK;
}

int sdsinf__launch_tree(int bfr, int nlevels, int workers, int *parent,
                        sdsinf_err *err)
{
    int rc = launch_tree_check(bfr, nlevels, workers, err);
    if (rc != SDSINF_OK)
        return rc;
    /* pre-order ids, as SDS-Inf numbers them: a node, then its subtrees */
    int stack_id[33], stack_left[33], depth = 0, id = 0;
    stack_id[0] = -1; /* the coordinator */
    stack_left[0] = bfr;
    while (depth >= 0) {
        if (stack_left[depth] == 0) {
            depth--;
            continue;
        }
        stack_left[depth]--;
        parent[id] = stack_id[depth];
        if (depth + 1 < nlevels) {
            depth++;
            stack_id[depth] = id;
            stack_left[depth] = bfr;
        }
        id++;
    }
    return SDSINF_OK;
}

/* ---- Progress ---------------------------------------------------------------
 * Every worker process records its pid and its last call on the channel
 * (send or receive, batch, layer) in a slot of memory all the run's
 * processes share: a run stopped by a death names the layer the dead worker
 * had reached, and the coordinator waits for every worker of the tree to be
 * gone before it cleans the channel up.  The worker's channel is wrapped in
 * a thin instance ("tracked") that writes the slot and calls the real one. */

typedef struct worker_slot {
    atomic_uint_least64_t last; /* call << 62 | batch << 32 | layer; 0: none */
    atomic_int pid;             /* 0: not started, or reaped */
} worker_slot;

enum { CALL_SEND = 1, CALL_RECV = 2 };

typedef struct tracked_channel {
    sdsinf_channel base;
    sdsinf_channel *inner;
    worker_slot *slot;
} tracked_channel;

static void track(tracked_channel *tc, int call, const sdsinf_msg_key *k)
{
    if (k)
        atomic_store_explicit(&tc->slot->last,
                              (uint64_t)call << 62 |
                                  (uint64_t)(k->batch & 0x3fffffffu) << 32 |
                                  k->layer,
                              memory_order_relaxed);
}

static int tracked_open(sdsinf_channel *ch, const char *config,
                        sdsinf_err *err)
{
    (void)config;
    return sdsinf__fail(err, SDSINF_ENOTSUP, "channel '%s': a tracked "
                        "instance is made by the run, not opened",
                        ch->methods->name);
}

/* A call's status, once the inner instance's requests are the tracked
 * one's. */
static int tracked_done(tracked_channel *tc, int rc)
{
    sdsinf_channel_requests(tc->inner, &tc->base.requests);
    return rc;
}

static int tracked_send(sdsinf_channel *ch, const sdsinf_msg_key *key,
                        const void *msg, size_t len, sdsinf_err *err)
{
    tracked_channel *tc = (tracked_channel *)ch;
    track(tc, CALL_SEND, key);
    return tracked_done(tc, sdsinf_channel_send(tc->inner, key, msg, len,
                                                err));
}

static int tracked_recv(sdsinf_channel *ch, const sdsinf_msg_key *want,
                        void **msg, size_t *len, int timeout_ms,
                        sdsinf_err *err)
{
    tracked_channel *tc = (tracked_channel *)ch;
    track(tc, CALL_RECV, want);
    return tracked_done(tc, sdsinf_channel_recv(tc->inner, want, msg, len,
                                                timeout_ms, err));
}

static int tracked_flush(sdsinf_channel *ch, sdsinf_err *err)
{
    tracked_channel *tc = (tracked_channel *)ch;
    return tracked_done(tc, sdsinf_channel_flush(tc->inner, err));
}

static int tracked_close(sdsinf_channel *ch, int cleanup, sdsinf_err *err)
{
    return sdsinf_channel_close(((tracked_channel *)ch)->inner, cleanup, err);
}

static int tracked_control(sdsinf_channel *ch, int op, void *arg,
                           sdsinf_err *err)
{
    return sdsinf_channel_control(((tracked_channel *)ch)->inner, op, arg,
                                  err);
}

/* The table of tracked instances of channel `m` (its name, caps and limit,
 * so the worker sees the channel it runs on). */
static sdsinf_channel_methods tracked_methods(const sdsinf_channel_methods *m)
{
    sdsinf_channel_methods t = {
        .version = SDSINF_CHANNEL_VERSION, .name = m->name,
        .instance_size = sizeof(tracked_channel), .caps = m->caps,
        .max_message = m->max_message, .open = tracked_open,
        .send = tracked_send, .recv = tracked_recv, .close = tracked_close,
        .control = m->control ? tracked_control : NULL,
        .flush = tracked_flush};
    return t;
}

/* W slots in memory shared with the processes forked after; NULL when
 * none could be mapped (deaths are then told without the layer). */
static worker_slot *slots_map(int W)
{
    int fd = open("/dev/zero", O_RDWR);
    void *p = fd < 0 ? MAP_FAILED
                     : mmap(NULL, (size_t)W * sizeof(worker_slot),
                            PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fd >= 0)
        close(fd);
    if (p == MAP_FAILED)
        return NULL;
    worker_slot *s = p;
    for (int w = 0; w < W; w++) {
        atomic_init(&s[w].last, 0);
        atomic_init(&s[w].pid, 0);
    }
    return s;
}

static void slots_unmap(worker_slot *s, int W)
{
    if (s)
        munmap(s, (size_t)W * sizeof *s);
}

/* ---- One worker -------------------------------------------------------------- */



/* What a worker's death says: the worker, the signal, and its last call on
 * the channel (layer and batch). */
static void death_message(const run_ctx *c, int w, int sig, char *buf,
                          size_t cap)
{
    uint64_t last = c->slots ? atomic_load_explicit(&c->slots[w].last,
                                                    memory_order_relaxed)
                             : 0;
    unsigned call = (unsigned)(last >> 62);
    uint32_t layer = (uint32_t)last, batch = (uint32_t)(last >> 32) & 0x3fffffffu;
    if (!call)
        snprintf(buf, cap, "worker %d died (signal %d) before its first "
                 "call on channel %s; the run was stopped", w, sig,
                 c->channel);
    else
        snprintf(buf, cap, "worker %d died (signal %d) after its last call "
                 "on channel %s, a %s at layer %u%s of batch %u; the run was "
                 "stopped", w, sig, c->channel,
                 call == CALL_SEND ? "send" : "receive", layer,
                 layer > (uint32_t)c->m->layers ? " (the results)" : "",
                 batch);
}



/* SDSINF_OK when shard `sh` (from `path`) is worker w's under the plan:
 * the plan's sizes; in layer l, weights only into the neurons the plan
 * gives w at stage l; and weights from a neuron another worker owns
 * exactly when the plan's target lists send that neuron's row to w (those
 * lists were made from the whole model's connections, so a shard cut from
 * another model or plan disagrees). */
static int shard_check(const run_ctx *c, int w, const sdsinf_model *sh,
                       const char *path, sdsinf_err *err)
{
    sdsinf_plan_stats ps;
    sdsinf_plan_get_stats(c->p, &ps);
    int32_t N = ps.neurons, L = ps.layers;
    if (sh->neurons != N || sh->layers != L)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "worker %d: %s: a shard of %d neurons x %d "
                            "layers, but the plan has %d x %d: the plan "
                            "directory holds another plan's shards "
                            "(partition again)",
                            w, path, sh->neurons, sh->layers, N, L);
    for (int32_t l = 1; l <= L; l++) {
        const sdsinf_csr *m = &sh->layer[l - 1].w;
        const uint16_t *in = sdsinf_plan_owner(c->p, l - 1);
        const uint16_t *out = sdsinf_plan_owner(c->p, l);
        for (int32_t k = 0; k < N; k++) {
            for (int64_t e = m->rowptr[k]; e < m->rowptr[k + 1]; e++)
                if (out[m->col[e]] != w)
                    return sdsinf__fail(err, SDSINF_EINVAL,
                                        "worker %d: %s: layer %d has "
                                        "weights into neuron %u, which the "
                                        "plan gives worker %u: not this "
                                        "worker's shard of this plan "
                                        "(partition again)",
                                        w, path, l, m->col[e] + 1,
                                        out[m->col[e]]);
            if (in[k] == w)
                continue;
            const uint16_t *tg;
            int64_t nt, i = 0;
            sdsinf_plan_targets(c->p, l, k, &tg, &nt);
            while (i < nt && tg[i] < w)
                i++;
            int sent = i < nt && tg[i] == w;
            if (sent != (m->rowptr[k + 1] > m->rowptr[k]))
                return sdsinf__fail(err, SDSINF_EINVAL,
                                    "worker %d: %s: layer %d %s weights from "
                                    "neuron %d, but the plan %s its row to "
                                    "this worker: the shard was cut from "
                                    "another model or plan (partition "
                                    "again)",
                                    w, path, l, sent ? "has no" : "has",
                                    k + 1, sent ? "sends" : "does not send");
        }
    }
    return SDSINF_OK;
}

/* Worker w's layers from its own file, <plan_dir>/shard-{w}.sdsinf (a
 * bundle, mapped), checked against the plan; the bias and the cap are the
 * run's model's (so a numeric --bias applies as without shards). */
static int shard_from_file(const run_ctx *c, int w, sdsinf__local_shard *out,
                           sdsinf_err *err)
{
    char path[4096];
    sdsinf_model_opts mo;
    sdsinf_model *sh = NULL;
    sdsinf_err e = {0};
    struct stat st;
    int rc, n = snprintf(path, sizeof path, "%s/shard-%d.sdsinf", c->plan_dir,
                         w);
    if (n < 0 || (size_t)n >= sizeof path)
        return sdsinf__fail(err, SDSINF_EINVAL, "worker %d: the plan "
                            "directory's name is too long", w);
    const char *why = stat(path, &st) != 0 ? strerror(errno)
                      : !S_ISREG(st.st_mode) ? "not a file"
                                             : NULL;
    if (why)
        return sdsinf__fail(err, SDSINF_EIO, "worker %d: %s: %s: the plan "
                            "directory lacks this worker's shard (`sdsinf "
                            "partition --out DIR` writes one per worker)", w,
                            path, why);
    sdsinf_model_opts_init(&mo);
    if ((rc = sdsinf_model_load(path, &mo, &sh, &e)) != SDSINF_OK)
        return sdsinf__fail(err, rc, "worker %d, its shard: %s", w, e.msg);
    if ((rc = shard_check(c, w, sh, path, err)) == SDSINF_OK) {
        for (int32_t l = 0; l < sh->layers; l++) {
            sh->layer[l].bias = c->m->layer[l].bias;
            sh->layer[l].bias_vec = c->m->layer[l].bias_vec;
        }
        sh->ymax = c->m->ymax;
        rc = sdsinf__local_shard_build(c->p, sh, w, out, err);
    }
    sdsinf_model_free(sh);
    return rc;
}

/* The layers' scratch for the largest layer and batch, its pages touched:
 * start-up work, not the first layers'. */
static int kernel_reserve(const run_ctx *c, one_worker *t, sdsinf_err *err)
{
    int64_t K = 0, C = 0, M = c->images->nrows, bs = c->o->batch_size;
    for (int32_t l = 0; l < t->shard.layers; l++) {
        const sdsinf_csr *w = &t->shard.layer[l].layer.w;
        K = w->nrows > K ? w->nrows : K;
        C = w->ncols > C ? w->ncols : C;
    }
    t->wo.kernel = &t->kernel;
    return sdsinf__rows_ws_reserve(&t->kernel, sdsinf_pool_threads(t->wo.pool),
                                   K, C, bs > 0 && bs < M ? bs : M, err);
}

/* Loads worker w's data (its shard), opens its channel (tracked, for
 * processes) and kernel pool. */
int sdsinf__worker_setup(const run_ctx *c, int w, one_worker *t,
                        sdsinf_err *err)
{
    const sdsinf_run_opts *o = c->o;
    sdsinf_channel *ch = NULL;
    int rc;
    t->wo.run = c->run;
    t->wo.plan = c->p;
    t->wo.images = c->images;
    t->wo.batch_size = o->batch_size;
    t->wo.codec = o->codec && !strcmp(o->codec, "raw") ? SDSINF__CODEC_RAW
                                                       : SDSINF__CODEC_ZSTD;
    t->wo.level = o->level ? o->level : 3;
    t->wo.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    t->wo.max_message = c->max_message;
    t->wo.cancel = c->cancel;
    if ((rc = c->plan_dir ? shard_from_file(c, w, &t->shard, err)
                          : sdsinf__local_shard_build(c->p, c->m, w,
                                                      &t->shard, err)) !=
        SDSINF_OK)
        return rc;
    t->wo.shard = &t->shard;
    if ((rc = sdsinf_channel_open(c->channel, o->channel_config, w, c->W,
                                  c->run, &ch, err)) != SDSINF_OK)
        return rc;
    if (c->slots && c->track.name) {
        tracked_channel *tc = sdsinf__calloc(1, sizeof *tc);
        if (!tc) {
            sdsinf_channel_close(ch, 1, NULL);
            return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        }
        tc->base = *ch; /* methods replaced below; ids and run as opened */
        tc->base.methods = &c->track;
        tc->inner = ch;
        tc->slot = &c->slots[w];
        ch = &tc->base;
    }
    t->wo.channel = ch;
    if ((rc = sdsinf_pool_create(o->kernel_threads > 1 ? o->kernel_threads : 1,
                                 &t->wo.pool, err)) != SDSINF_OK)
        return rc;
    return kernel_reserve(c, t, err);
}

void sdsinf__worker_teardown(one_worker *t)
{
    sdsinf_channel_close(t->wo.channel, 1, NULL);
    sdsinf__local_shard_free(&t->shard);
    sdsinf_pool_free(t->wo.pool);
    sdsinf__rows_ws_free(t->kernel);
    t->kernel = NULL;
    memset(&t->wo, 0, sizeof t->wo);
}

/* Puts records in their place among the run's (workers x (layers + 1), by
 * worker then layer; allocated by sdsinf_run). */
void sdsinf__records_put(sdsinf_run_stats *st, const sdsinf_layer_record *r,
                        int64_t n)
{
    for (int64_t i = 0; st->records && i < n; i++)
        if (r[i].worker >= 0 && r[i].worker < st->workers && r[i].layer >= 1 &&
            r[i].layer <= st->layers + 1)
            st->records[(int64_t)r[i].worker * (st->layers + 1) +
                        r[i].layer - 1] = r[i];
}

int sdsinf__canceled(const run_ctx *c, int cleaned, sdsinf_err *err)
{
    if (!cleaned)
        return sdsinf__fail(err, SDSINF_ECANCELED, "stopped %d workers; the "
                            "run's channel state (channel %s) could not be "
                            "removed: run `sdsinf clean`", c->W, c->channel);
    return sdsinf__fail(err, SDSINF_ECANCELED, "stopped %d workers and "
                        "removed the run's channel state (channel %s)", c->W,
                        c->channel);
}

/* Adds a worker's totals to the run's. */
void sdsinf__stats_add(sdsinf_run_stats *st, const sdsinf__worker_stats *s)
{
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
    sdsinf__requests_add(&st->requests, &s->requests);
}

/* ---- Threads ------------------------------------------------------------------ */

/* Where the threads meet once loaded: none starts the layers before every
 * worker has loaded (or failed to), and none at all when one failed. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived, total, failed;
    double open_at; /* when the last one arrived */
};

/* Counts n workers in (ok: they are ready). */
static void gate_arrive(gate *g, int n, int ok)
{
    pthread_mutex_lock(&g->mu);
    g->failed |= !ok;
    g->arrived += n;
    if (g->arrived >= g->total) {
        g->open_at = sdsinf__now();
        pthread_cond_broadcast(&g->cv);
    }
    pthread_mutex_unlock(&g->mu);
}

/* Waits for every worker; 1 when all are ready. */
static int gate_wait(gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (g->arrived < g->total)
        pthread_cond_wait(&g->cv, &g->mu);
    int go = !g->failed;
    pthread_mutex_unlock(&g->mu);
    return go;
}

/* A worker thread loads its own data, runs once all have, and closes its
 * channel as soon as it is done (as a process does: what the channel still
 * holds for its peers goes then, not after every thread has ended). */
static void *worker_thread(void *arg)
{
    one_worker *t = arg;
    t->rc = sdsinf__worker_setup(t->c, t->w, t, &t->err);
    gate_arrive(t->g, 1, t->rc == SDSINF_OK);
    if (gate_wait(t->g))
        t->rc = sdsinf__worker_run(&t->wo, t->res, &t->st, &t->err);
    sdsinf__worker_teardown(t);
    return NULL;
}

static int launch_threads(const run_ctx *c, sdsinf_run_stats *st,
                          double *ready, sdsinf_err *err)
{
    one_worker *tw = sdsinf__calloc((size_t)c->W, sizeof *tw);
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, c->W, 0,
              0};
    int rc = SDSINF_OK, started = 0;
    if (!tw)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    tw[0].res = c->res; /* worker 0 merges into the result */
    for (; started < c->W; started++) {
        tw[started].c = c;
        tw[started].w = started;
        tw[started].g = &g;
        if (pthread_create(&tw[started].tid, NULL, worker_thread,
                           &tw[started]) != 0) {
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "cannot start worker %d",
                              started);
            gate_arrive(&g, c->W - started, 0); /* the rest never come */
            break;
        }
    }
    for (int w = 0; w < started; w++)
        pthread_join(tw[w].tid, NULL);
    *ready = g.open_at;
    for (int w = 0; w < started && rc == SDSINF_OK; w++)
        if (tw[w].rc == SDSINF_ECANCELED) /* each closed with cleanup */
            rc = sdsinf__canceled(c, 1, err);
    /* the failure to report: a worker's own before its peers' waits */
    for (int pass = 0; pass < 2 && rc == SDSINF_OK; pass++)
        for (int w = 0; w < started && rc == SDSINF_OK; w++)
            if (tw[w].rc != SDSINF_OK &&
                (pass == 1 || tw[w].rc != SDSINF_ETIMEDOUT)) {
                rc = tw[w].rc;
                if (err)
                    *err = tw[w].err;
            }
    for (int w = 0; w < c->W; w++) {
        sdsinf__stats_add(st, &tw[w].st);
        if (tw[w].st.records)
            sdsinf__records_put(st, tw[w].st.records, st->layers + 1);
        sdsinf__free(tw[w].st.records);
    }
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
    sdsinf__free(tw);
    return rc;
}

/* ---- Processes ------------------------------------------------------------------ */

/* A packet through the report pipe, small enough to be written atomically:
 * a worker's records, REPORT_RECORDS at a time, then its final report. */
#define REPORT_RECORDS 16
typedef struct report {
    int worker;
    int final;         /* 1: the report; 0: records only */
    int rc;
    int nrec;
    double ready, end; /* CLOCK_MONOTONIC seconds: comparable across processes */
    sdsinf__worker_stats st; /* its records pointer is not valid here */
    char msg[256];
    sdsinf_layer_record rec[REPORT_RECORDS];
} report;
_Static_assert(sizeof(report) <= PIPE_BUF, "a report is written atomically");

static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;
        c += k;
        n -= (size_t)k;
    }
}

static size_t read_all(int fd, void *p, size_t n)
{
    char *c = p;
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, c + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    return got;
}

typedef struct proc_ctx {
    const run_ctx *c;
    const int *parent;
    int result_fd, report_fd; /* write ends */
} proc_ctx;

static void spawn_children(const proc_ctx *pc, int me, pid_t *pids);

/* A worker process's watch over its children: each one's end as it comes,
 * a death reported for it at once (it could not report it itself), so the
 * run stops without its peers waiting out their timeouts. */
typedef struct kid_watch {
    const proc_ctx *pc;
    pid_t *kids;
    int failed; /* a child ended other than with status 0 */
} kid_watch;

static void *watch_kids(void *arg)
{
    kid_watch *kw = arg;
    const run_ctx *c = kw->pc->c;
    for (;;) {
        int ws;
        pid_t pid = waitpid(-1, &ws, 0);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0) /* ECHILD: every child has ended */
            return NULL;
        for (int k = 0; k < c->W; k++) {
            if (kw->kids[k] != pid)
                continue;
            kw->kids[k] = 0;
            if (c->slots)
                atomic_store(&c->slots[k].pid, 0);
            kw->failed |= !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
            if (WIFSIGNALED(ws)) {
                report d;
                memset(&d, 0, sizeof d);
                d.worker = k;
                d.final = 1;
                d.rc = SDSINF_EIO;
                death_message(c, k, WTERMSIG(ws), d.msg, sizeof d.msg);
                write_all(kw->pc->report_fd, &d, sizeof d);
            }
        }
    }
}

/* The body of worker w's process (its parent is process `parent`):
 * children first, then its own data and layers, then its children's
 * fates.  Never returns. */
static void worker_process(const proc_ctx *pc, int w, pid_t parent)
{
    const run_ctx *c = pc->c;
    one_worker t;
    report r;
    pthread_t watcher;
    int watching = 0;
    pid_t *kids = sdsinf__calloc((size_t)c->W, sizeof *kids);
    kid_watch kw = {pc, kids, 0};
    memset(&t, 0, sizeof t);
    memset(&r, 0, sizeof r);
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* die with the parent */
    if (getppid() != parent) /* it died before that took effect */
        _exit(3);
    /* The caller's SIGINT and SIGTERM handlers are for its own process: a
     * worker so signalled dies, and whoever started it reports that; on
     * a cancel its coordinator stops it and cleans up for it. */
    for (int k = 0; k < 2; k++) {
        struct sigaction sa;
        int sig = k ? SIGTERM : SIGINT;
        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_IGN)
            signal(sig, SIG_DFL);
    }
    if (c->slots)
        atomic_store(&c->slots[w].pid, (int)getpid());
    if (kids) {
        spawn_children(pc, w, kids);
        for (int k = 0; k < c->W && !watching; k++)
            watching = kids[k] > 0 &&
                       pthread_create(&watcher, NULL, watch_kids, &kw) == 0;
    }
    r.worker = w;
    r.rc = kids ? sdsinf__worker_setup(c, w, &t, &t.err) : SDSINF_ENOMEM;
    t.wo.cancel = NULL; /* see above */
    r.ready = sdsinf__now();
    if (r.rc == SDSINF_OK)
        r.rc = sdsinf__worker_run(&t.wo, w == 0 ? c->res : NULL, &r.st,
                                  &t.err);
    r.end = sdsinf__now();
    if (r.rc != SDSINF_OK)
        snprintf(r.msg, sizeof r.msg, "%s", t.err.msg);
    if (w == 0 && r.rc == SDSINF_OK) {
        write_all(pc->result_fd, c->res->argmax,
                  (size_t)c->res->images * sizeof *c->res->argmax);
        write_all(pc->result_fd, c->res->max,
                  (size_t)c->res->images * sizeof *c->res->max);
    }
    for (int32_t i = 0; r.st.records && i <= c->m->layers; /* records */) {
        report rr;
        memset(&rr, 0, sizeof rr);
        rr.worker = w;
        while (rr.nrec < REPORT_RECORDS && i <= c->m->layers)
            rr.rec[rr.nrec++] = r.st.records[i++];
        write_all(pc->report_fd, &rr, sizeof rr);
    }
    sdsinf__free(r.st.records);
    r.st.records = NULL;
    r.final = 1;
    write_all(pc->report_fd, &r, sizeof r);
    sdsinf__worker_teardown(&t);
    if (watching)
        pthread_join(watcher, NULL);
    else if (kids) /* no thread: watch here, until every child has ended */
        watch_kids(&kw);
    _exit(r.rc == SDSINF_OK && !kw.failed ? 0 : 1);
}

/* Starts the workers whose parent is `me` (the coordinator is -1). */
static void spawn_children(const proc_ctx *pc, int me, pid_t *pids)
{
    pid_t self = getpid();
    for (int w = 0; w < pc->c->W; w++) {
        if (pc->parent[w] != me)
            continue;
        pid_t pid = fork();
        if (pid == 0)
            worker_process(pc, w, self);
        pids[w] = pid;
    }
}

/* Waits (at most a few seconds) for the workers not started by this
 * process, killed with their parents, to be gone. */
static void await_tree(const run_ctx *c)
{
    double until = sdsinf__now() + 5;
    for (int w = 0; c->slots && w < c->W; w++) {
        pid_t pid = atomic_load(&c->slots[w].pid);
        while (pid > 0 && !sdsinf__process_ended(pid) && sdsinf__now() < until)
            sdsinf__sleep_ms(5);
    }
}

static int launch_processes(const run_ctx *c, sdsinf_run_stats *st,
                            double *ready, sdsinf_err *err)
{
    const sdsinf_run_opts *o = c->o;
    int W = c->W, rc = SDSINF_OK, result[2] = {-1, -1}, rep[2] = {-1, -1};
    int *parent = sdsinf__mallocarray((size_t)W, sizeof *parent);
    pid_t *pids = sdsinf__calloc((size_t)W, sizeof *pids);
    if (!parent || !pids) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        goto done;
    }
    if ((rc = sdsinf__launch_tree(o->bfr > 0 ? o->bfr : W,
                                  o->nlevels > 0 ? o->nlevels : 1, W, parent,
                                  err)) != SDSINF_OK)
        goto done;
    if (pipe(result) != 0 || pipe(rep) != 0) {
        rc = sdsinf__fail(err, SDSINF_EIO, "cannot make pipes: %s",
                          strerror(errno));
        goto done;
    }
    proc_ctx pc = {c, parent, result[1], rep[1]};
    fflush(NULL); /* no buffered output duplicated into the children */
    spawn_children(&pc, -1, pids);
    close(result[1]);
    close(rep[1]);
    result[1] = rep[1] = -1;
    /* results, reports and deaths as they come: the first failure stops
     * every worker at once, so nobody waits out a timeout in vain */
    size_t asize = (size_t)c->res->images * sizeof *c->res->argmax;
    size_t want = asize + (size_t)c->res->images * sizeof *c->res->max, got = 0;
    char *tmp = sdsinf__malloc(want + 1);
    report r, first;
    int have_first = 0, stopping = 0, nreports = 0, open_fds = 2, cancel = 0;
    double last_ready = 0;
    struct pollfd fds[2] = {{result[0], POLLIN, 0}, {rep[0], POLLIN, 0}};
    memset(&first, 0, sizeof first);
    if (!tmp) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        stopping = 1;
        for (int w = 0; w < W; w++)
            if (pids[w] > 0)
                kill(pids[w], SIGKILL);
    }
    while (tmp && open_fds > 0) {
        if (sdsinf__flag_set(c->cancel) && !stopping) {
            cancel = stopping = 1;
            for (int w = 0; w < W; w++)
                if (pids[w] > 0)
                    kill(pids[w], SIGKILL); /* the tree dies with them */
        }
        if (poll(fds, 2, 100) < 0 && errno != EINTR)
            break;
        if (fds[0].revents) {
            ssize_t k = read(result[0], tmp + got, want + 1 - got);
            if (k > 0)
                got += (size_t)k;
            else if (k == 0 || errno != EINTR) {
                fds[0].fd = -1;
                open_fds--;
            }
        }
        if (fds[1].revents) {
            int whole = read_all(rep[0], &r, sizeof r) == sizeof r;
            if (whole && !r.final) {
                sdsinf__records_put(st, r.rec, r.nrec < REPORT_RECORDS ? r.nrec
                                                               : REPORT_RECORDS);
            } else if (whole) {
                nreports++;
                sdsinf__stats_add(st, &r.st);
                last_ready = r.ready > last_ready ? r.ready : last_ready;
                /* the first failure, unless a worker's own error (or
                 * death) follows a timeout; none once the run is stopped:
                 * those are the stop's own */
                if (r.rc != SDSINF_OK && !stopping &&
                    (!have_first || (first.rc == SDSINF_ETIMEDOUT &&
                                     r.rc != SDSINF_ETIMEDOUT))) {
                    first = r;
                    have_first = 1;
                }
            } else {
                fds[1].fd = -1;
                open_fds--;
            }
        }
        for (int w = 0; w < W; w++) {
            int ws;
            if (pids[w] <= 0 || waitpid(pids[w], &ws, WNOHANG) != pids[w])
                continue;
            pids[w] = 0;
            if (c->slots)
                atomic_store(&c->slots[w].pid, 0);
            if (WIFSIGNALED(ws) && !stopping &&
                (!have_first || first.rc == SDSINF_ETIMEDOUT)) {
                first.rc = SDSINF_EIO;
                death_message(c, w, WTERMSIG(ws), first.msg,
                              sizeof first.msg);
                have_first = 1;
            }
        }
        if (have_first && !stopping) { /* stop the rest: no one waits */
            stopping = 1;
            for (int w = 0; w < W; w++)
                if (pids[w] > 0)
                    kill(pids[w], SIGKILL);
        }
    }
    for (int w = 0; w < W; w++) {
        int ws;
        if (pids[w] > 0)
            waitpid(pids[w], &ws, 0);
    }
    if (tmp && got == want) {
        memcpy(c->res->argmax, tmp, asize);
        memcpy(c->res->max, tmp + asize, want - asize);
    }
    sdsinf__free(tmp);
    *ready = last_ready;
    /* a failure that came with a cancel (the signal also hit the workers)
     * is the cancel's */
    cancel |= have_first && sdsinf__flag_set(c->cancel);
    int cleaned = 0;
    if (have_first || cancel || rc != SDSINF_OK) {
        /* killed workers could not clean up: once they are all gone (their
         * children die with them), do it for the run */
        sdsinf_channel *ch = NULL;
        await_tree(c);
        if (sdsinf_channel_open(c->channel, o->channel_config, 0, W, c->run,
                                &ch, NULL) == SDSINF_OK)
            cleaned = sdsinf_channel_close(ch, 1, NULL) == SDSINF_OK;
    }
    if (rc != SDSINF_OK)
        goto done;
    if (cancel)
        rc = sdsinf__canceled(c, cleaned, err);
    else if (have_first)
        rc = sdsinf__fail(err, first.rc, "%s", first.msg);
    else if (got != want || nreports != W)
        rc = sdsinf__fail(err, SDSINF_EIO, "the workers ended without their "
                          "result (%d of %d reported)", nreports, W);
done:
    for (int i = 0; i < 2; i++) {
        if (result[i] >= 0)
            close(result[i]);
        if (rep[i] >= 0)
            close(rep[i]);
    }
    sdsinf__free(parent);
    sdsinf__free(pids);
    return rc;
}

/* ---- sdsinf_run ------------------------------------------------------------- */

static uint64_t made_up_run_id(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^
           ((uint64_t)getpid() << 48);
}

const char *sdsinf_run_channel(const sdsinf_run_opts *o)
{
    const char *launcher = o->launcher ? o->launcher : "local";
    return o->channel                      ? o->channel
           : !strcmp(launcher, "threads") ? "mem"
           : !strcmp(launcher, "mpi")     ? "mpi"
                                           : "local";
}

int sdsinf_run_opts_check(const sdsinf_run_opts *o, int workers,
                          sdsinf_err *err)
{
    if (!o || o->version < 1)
        return sdsinf__fail(err, SDSINF_EINVAL, "run options: NULL or "
                            "version %d (call sdsinf_run_opts_init)",
                            o ? o->version : 0);
    const char *launcher = o->launcher ? o->launcher : "local";
    int threads = !strcmp(launcher, "threads"), mpi = !strcmp(launcher, "mpi");
    if (!threads && !mpi && strcmp(launcher, "local"))
        return sdsinf__fail(err, SDSINF_EINVAL, "unknown launcher '%s' "
                            "(known: local, threads, mpi)", launcher);
#ifndef SDSINF_HAVE_MPI
    if (mpi)
        return sdsinf__fail(err, SDSINF_ENOTSUP, "launcher mpi: this build "
                            "has no MPI (apt-get install libopenmpi-dev, "
                            "then rebuild)");
#endif
    const char *channel = sdsinf_run_channel(o);
    const sdsinf_channel_methods *cm;
    int rc = sdsinf__channel_resolve(channel, &cm, err);
    if (rc != SDSINF_OK)
        return rc;
    if (!threads && !(cm->caps & SDSINF_CAP_PROCESSES) &&
        !(mpi && !strcmp(channel, "mpi")))
        return sdsinf__fail(err, SDSINF_EINVAL, "channel %s works only "
                            "between threads of one process; the %s launcher "
                            "runs workers as processes (use --launcher "
                            "threads, or a channel such as local)", channel,
                            launcher);
    if (o->codec && strcmp(o->codec, "zstd") && strcmp(o->codec, "raw"))
        return sdsinf__fail(err, SDSINF_EINVAL, "unknown codec '%s' (known: "
                            "zstd, raw)", o->codec);
    if (o->batch_size < 0)
        return sdsinf__fail(err, SDSINF_EINVAL, "a batch size of %lld: give "
                            "at least 1 image (or 0 for all at once)",
                            (long long)o->batch_size);
    if (o->version >= 3 && o->max_message && o->max_message < MIN_MESSAGE)
        return sdsinf__fail(err, SDSINF_EINVAL, "a message limit of %lld "
                            "bytes: give at least %d (a header and a row)",
                            (long long)o->max_message, MIN_MESSAGE);
    if (workers > 0 && !threads && !mpi && (o->bfr > 0 || o->nlevels > 0))
        return launch_tree_check(o->bfr > 0 ? o->bfr : workers,
                                 o->nlevels > 0 ? o->nlevels : 1, workers,
                                 err);
    return SDSINF_OK;
}

int sdsinf_run(const sdsinf_model *m, const sdsinf_plan *p,
               const sdsinf_csr *images, const sdsinf_run_opts *o,
               sdsinf_result *out, sdsinf_run_stats *st, sdsinf_err *err)
{
    sdsinf_run_opts def;
    sdsinf_plan_stats ps;
    sdsinf_result res = {0};
    sdsinf_run_stats local = {0};
    int rc;
    if (!o) {
        sdsinf_run_opts_init(&def);
        o = &def;
    }
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    sdsinf_plan_get_stats(p, &ps);
    if ((rc = sdsinf_run_opts_check(o, ps.workers, err)) != SDSINF_OK)
        return rc;
    const char *launcher = o->launcher ? o->launcher : "local";
    int threads = !strcmp(launcher, "threads"), mpi = !strcmp(launcher, "mpi");
    const char *channel = sdsinf_run_channel(o);
    const sdsinf_channel_methods *cm = sdsinf_channel_find(channel);
    if (ps.neurons != m->neurons || ps.layers != m->layers ||
        images->ncols != m->neurons)
        return sdsinf__fail(err, SDSINF_EINVAL, "the plan, model and images "
                            "disagree on the sizes");
    double t0 = sdsinf__now(), ready = t0;
    res.images = images->nrows;
    res.argmax = sdsinf__mallocarray((size_t)res.images + 1, sizeof *res.argmax);
    res.max = sdsinf__mallocarray((size_t)res.images + 1, sizeof *res.max);
    if (!res.argmax || !res.max) {
        sdsinf_result_free(&res);
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for the result");
    }
    /* fields of later versions, where the caller's struct has them */
    const char *plan_dir = o->version >= 2 ? o->plan_dir : NULL;
    int64_t max_message = o->version >= 3 && o->max_message ? o->max_message
                                                            : MAX_MESSAGE;
    if (cm->caps & SDSINF_CAP_KEYED) /* one object per key: whole */
        max_message = cm->max_message ? (int64_t)cm->max_message
                                      : INT64_MAX;
    else if (cm->max_message && cm->max_message < (size_t)max_message)
        max_message = (int64_t)cm->max_message;
    run_ctx c = {.m = m, .p = p, .images = images, .o = o,
                 .channel = channel,
                 .plan_dir = plan_dir && plan_dir[0] ? plan_dir : NULL,
                 .max_message = (size_t)max_message,
                 .W = ps.workers,
                 .run = o->run_id ? o->run_id : made_up_run_id(),
                 .res = &res,
                 .cancel = o->version >= 4 ? o->cancel : NULL};
    if (!threads && !mpi && (c.slots = slots_map(c.W)))
        c.track = tracked_methods(cm);
    st->workers = ps.workers;
    st->layers = ps.layers;
    st->batches = o->batch_size > 0 ? (images->nrows + o->batch_size - 1) /
                                          o->batch_size
                                    : 1;
    st->nrecords = (int64_t)ps.workers * (ps.layers + 1);
    if (!(st->records = sdsinf__calloc((size_t)st->nrecords,
                                       sizeof *st->records))) {
        sdsinf_result_free(&res);
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for the records");
    }
    for (int64_t i = 0; i < st->nrecords; i++) {
        st->records[i].worker = (int32_t)(i / (ps.layers + 1));
        st->records[i].layer = (int32_t)(i % (ps.layers + 1)) + 1;
    }
    if (!mpi) /* MPI: rank 0 claims it, once it knows it is rank 0 */
        sdsinf__owner_claim(channel, o->channel_config, c.run, c.owner,
                            sizeof c.owner);
    /* The channel's state of the run, made before the workers start and
     * removed once they have all ended, whatever their fate (MPI: each
     * rank's close cleans up, as a standalone instance's does). */
    if (!mpi)
        rc = sdsinf_channel_run_create(channel, o->channel_config, c.run,
                                       c.W, &st->requests, err);
#ifdef SDSINF_HAVE_MPI
    if (mpi)
        rc = sdsinf__launch_mpi(&c, st, &ready, err);
    else
#endif
    if (rc == SDSINF_OK)
        rc = threads ? launch_threads(&c, st, &ready, err)
                     : launch_processes(&c, st, &ready, err);
    if (mpi || sdsinf_channel_run_destroy(channel, o->channel_config, c.run,
                                          c.W, &st->requests, NULL) ==
                   SDSINF_OK) /* else its owner record lets clean take it */
        sdsinf__owner_release(c.owner); /* the workers are gone, and the rest */
    slots_unmap(c.slots, c.W);
    st->startup_seconds = ready - t0;
    st->seconds = sdsinf__now() - ready;
    if (rc != SDSINF_OK)
        sdsinf_run_stats_free(st);
    if (st == &local)
        sdsinf_run_stats_free(st);
    if (rc == SDSINF_OK) {
        *out = res;
        memset(&res, 0, sizeof res);
    }
    sdsinf_result_free(&res);
    return rc;
}

void sdsinf_run_stats_free(sdsinf_run_stats *st)
{
    if (!st)
        return;
    sdsinf__free(st->records);
    st->records = NULL;
    st->nrecords = 0;
}
