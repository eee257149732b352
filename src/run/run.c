/* run.c - a distributed run: the options, the launch tree, one worker's
 * data and channel, and sdsinf_run, which picks the launcher by name
 * (launchers.c), checks the channel against its caps and lets it start the
 * workers (launcher_threads.c, launcher_local.c, launcher_mpi.c).
 * A worker's data: its shard of the model's weight columns, cut from the
 * model in memory, or (plan_dir) loaded by the worker from the plan
 * directory's shard-{w}.sdsinf and checked against the plan.
 * Sections: the launch tree, one worker, sdsinf_run. */
#include "channels/channels.h"
#include "run/codec.h"
#include "run/run.h"
#include "run/sweep.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* ---- One worker -------------------------------------------------------------- */

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

/* Loads worker w's data (its shard), opens its channel and kernel pool. */
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
}

/* ---- sdsinf_run ------------------------------------------------------------- */

static uint64_t made_up_run_id(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^
           ((uint64_t)getpid() << 48);
}

/* The channel of a run with these options on launcher lm. */
static const char *run_channel(const sdsinf_run_opts *o,
                               const sdsinf_launcher_methods *lm)
{
    return o->channel                        ? o->channel
           : lm && lm->default_channel ? lm->default_channel
                                             : "local";
}

const char *sdsinf_run_channel(const sdsinf_run_opts *o)
{
    return run_channel(o, sdsinf_launcher_find(o->launcher));
}

/* Whether launcher lm's workers can use channel cm: threads of one
 * process any, processes one that works between processes or one the
 * launcher brings. */
static int channel_fits(const sdsinf_launcher_methods *lm,
                        const sdsinf_channel_methods *cm)
{
    if ((lm->caps & SDSINF_LAUNCH_SHARES_MEMORY) ||
        (cm->caps & SDSINF_CAP_PROCESSES))
        return 1;
    for (const char *const *n = lm->own_channels; n && *n; n++)
        if (!strcmp(*n, cm->name))
            return 1;
    return 0;
}

int sdsinf_run_opts_check(const sdsinf_run_opts *o, int workers,
                          sdsinf_err *err)
{
    if (!o || o->version < 1)
        return sdsinf__fail(err, SDSINF_EINVAL, "run options: NULL or "
                            "version %d (call sdsinf_run_opts_init)",
                            o ? o->version : 0);
    const sdsinf_launcher_methods *lm;
    const sdsinf_channel_methods *cm;
    int rc = sdsinf__launcher_resolve(o->launcher, &lm, err);
    if (rc != SDSINF_OK)
        return rc;
    const char *channel = run_channel(o, lm);
    if ((rc = sdsinf__channel_resolve(channel, &cm, err)) != SDSINF_OK)
        return rc;
    if (!channel_fits(lm, cm))
        return sdsinf__fail(err, SDSINF_EINVAL, "channel %s works only "
                            "between threads of one process; the %s launcher "
                            "runs workers as processes (use --launcher "
                            "threads, or a channel such as local)", channel,
                            lm->name);
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
    if (workers > 0 && (lm->caps & SDSINF_LAUNCH_TREE) &&
        (o->bfr > 0 || o->nlevels > 0))
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
    const sdsinf_launcher_methods *lm = sdsinf_launcher_find(o->launcher);
    const char *channel = run_channel(o, lm);
    const sdsinf_channel_methods *cm = sdsinf_channel_find(channel);
    if (ps.neurons != m->neurons || ps.layers != m->layers ||
        images->ncols != m->neurons)
        return sdsinf__fail(err, SDSINF_EINVAL, "the plan, model and images "
                            "disagree on the sizes");
    double t0 = sdsinf__now();
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
                 .st = st,
                 .ready = t0,
                 .cancel = o->version >= 4 ? o->cancel : NULL};
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
    if (!(lm->caps & SDSINF_LAUNCH_IN_JOB)) /* else: the process of worker
                                              0, once it knows it is */
        sdsinf__owner_claim(channel, o->channel_config, c.run, c.owner,
                            sizeof c.owner);
    sdsinf_launch l = {o, channel, c.W, c.run, NULL, &c};
    rc = lm->start(&l, err);
    if (lm->wait)
        lm->wait(&l);
    sdsinf__owner_release(c.owner); /* the workers are gone, and the rest */
    st->startup_seconds = c.ready - t0;
    st->seconds = sdsinf__now() - c.ready;
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
