/* run/worker_main.c - a worker's life around its layers (worker.c): its
 * data loaded, either from the run in memory (the threads and mpi
 * launchers: its shard cut from the model, or mapped from the plan
 * directory with the model's bias) or from its spec alone
 * (sdsinf_worker_main: the plan, its shard, its inputs and the bias, all
 * from files); its channel opened (the run's workers + 1 endpoints: the
 * last is the coordinator's), its kernel pool and scratch; and at the end
 * its report to the coordinator over the channel (its status, totals,
 * records and, from worker 0, the result), then its teardown. */
#include "channels/channels.h"
#include "core/location.h"
#include "model/model.h"
#include "run/codec.h"
#include "run/inputs.h"
#include "run/run.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_MESSAGE (256 << 10) /* bytes per message by default: SQS's limit */

size_t sdsinf__message_limit(const sdsinf_channel *ch, int64_t opt)
{
    const sdsinf_channel_methods *cm = ch->methods;
    size_t max = cm->version >= 4 ? ch->max_message : cm->max_message;
    int64_t limit = opt > 0 ? opt : MAX_MESSAGE;
    if (cm->caps & SDSINF_CAP_KEYED) /* one object per key: whole */
        return max ? max : SIZE_MAX;
    if (max && max < (size_t)limit)
        return max;
    return (size_t)limit;
}

size_t sdsinf__whole_above(const sdsinf_channel *ch, size_t limit)
{
    size_t whole = ch->methods->version >= 4 ? ch->whole_above : 0;
    return whole && whole < limit ? limit : whole;
}

/* ---- Its shard ----------------------------------------------------------------- */

/* SDSINF_OK when shard `sh` (from `path`) is worker w's under plan p:
 * the plan's sizes; in layer l, weights only into the neurons the plan
 * gives w at stage l; and weights from a neuron another worker owns
 * exactly when the plan's target lists send that neuron's row to w (those
 * lists were made from the whole model's connections, so a shard cut from
 * another model or plan disagrees). */
static int shard_check(const sdsinf_plan *p, int w, const sdsinf_model *sh,
                       const char *path, sdsinf_err *err)
{
    sdsinf_plan_stats ps;
    sdsinf_plan_get_stats(p, &ps);
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
        const uint16_t *in = sdsinf_plan_owner(p, l - 1);
        const uint16_t *out = sdsinf_plan_owner(p, l);
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
            sdsinf_plan_targets(p, l, k, &tg, &nt);
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

/* Worker w's shard from its own file, <dir>/shard-{w}.sdsinf (a bundle,
 * mapped), checked against plan p; the caller sets its bias and cap, then
 * frees it. */
static int shard_open(const sdsinf_plan *p, const char *dir, int w,
                      sdsinf_model **out, sdsinf_err *err)
{
    char path[4096], name[32];
    sdsinf_model_opts mo;
    sdsinf_model *sh = NULL;
    sdsinf_err e = {0};
    sdsinf__fetched lf; /* an s3:// plan's shard: only this one fetched */
    struct stat st;
    snprintf(name, sizeof name, "shard-%d.sdsinf", w);
    int rc = sdsinf__location_join(dir, name, path, sizeof path, &e);
    if (rc == SDSINF_OK && (rc = sdsinf__location_fetch(path, &lf, &e)))
        sdsinf__location_release(&lf, &e);
    if (rc != SDSINF_OK)
        return sdsinf__fail(err, rc, "worker %d: %s", w, e.msg);
    const char *why = stat(lf.path, &st) != 0 ? strerror(errno)
                      : !S_ISREG(st.st_mode) ? "not a file"
                                             : NULL;
    if (why) {
        sdsinf__location_release(&lf, NULL);
        return sdsinf__fail(err, SDSINF_EIO, "worker %d: %s: %s: the plan "
                            "directory lacks this worker's shard (`sdsinf "
                            "partition --out DIR` writes one per worker)", w,
                            path, why);
    }
    sdsinf_model_opts_init(&mo);
    rc = sdsinf_model_load(lf.path, &mo, &sh, &e);
    sdsinf__location_release(&lf, &e); /* the shard's mapping stays */
    if (rc != SDSINF_OK)
        return sdsinf__fail(err, rc, "worker %d, its shard: %s", w, e.msg);
    if ((rc = shard_check(p, w, sh, path, err)) != SDSINF_OK) {
        sdsinf_model_free(sh);
        return rc;
    }
    *out = sh;
    return SDSINF_OK;
}

/* ---- Setup and teardown ---------------------------------------------------------- */

/* The settings every worker takes from its run's options or spec. */
static void worker_opts(one_worker *t, uint64_t run, int64_t batch_size,
                        const char *codec, int level, int timeout_ms)
{
    t->wo.run = run;
    t->wo.batch_size = batch_size;
    t->wo.codec = codec && !strcmp(codec, "raw") ? SDSINF__CODEC_RAW
                                                 : SDSINF__CODEC_ZSTD;
    t->wo.level = level ? level : 3;
    t->wo.timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
}

/* Opens worker w's endpoint of a W-worker run's channel (tracked in the
 * progress file, when there is one) and tells the coordinator it started
 * (its note); then its kernel pool and the layers' scratch (for the
 * largest layer and batch of its shard, t->wo.shard, its pages touched:
 * start-up work, not the first layers'); worker 0 gets room for the
 * result. */
static int worker_open(one_worker *t, int w, int W, const char *channel,
                       const char *config, int64_t max_message, int threads,
                       sdsinf_err *err)
{
    const sdsinf_csr *im = t->wo.images;
    int64_t K = 0, C = 0, M = im->nrows, bs = t->wo.batch_size;
    const sdsinf__local_shard *sh = t->wo.shard;
    int rc;
    t->layers = sh->layers;
    if ((rc = sdsinf__channel_open(channel, config, w, W + 1, t->wo.run, 1,
                                   &t->wo.channel, err)) != SDSINF_OK)
        return rc;
    t->wo.max_message = sdsinf__message_limit(t->wo.channel, max_message);
    t->wo.whole_above = sdsinf__whole_above(t->wo.channel,
                                            t->wo.max_message);
    unsigned char note[SDSINF__MSG_HEADER]; /* the coordinator's: started */
    sdsinf__msg_key key = {t->wo.run, 0, 0, (uint32_t)w, (uint32_t)W, 0, 1};
    sdsinf__note_encode(&key, note);
    if ((rc = sdsinf_channel_send(t->wo.channel, &key, note, sizeof note,
                                  err)) != SDSINF_OK ||
        (rc = sdsinf__progress_track(&t->progress, w, &t->track,
                                     &t->wo.channel, err)) != SDSINF_OK ||
        (rc = sdsinf_pool_create(threads > 1 ? threads : 1, &t->wo.pool,
                                 err)) != SDSINF_OK)
        return rc;
    if (w == 0) {
        t->res.images = M;
        t->res.argmax = sdsinf__mallocarray((size_t)M + 1,
                                            sizeof *t->res.argmax);
        t->res.max = sdsinf__mallocarray((size_t)M + 1, sizeof *t->res.max);
        if (!t->res.argmax || !t->res.max)
            return sdsinf__fail(err, SDSINF_ENOMEM, "worker 0: no memory "
                                "for the result");
    }
    for (int32_t l = 0; l < sh->layers; l++) {
        const sdsinf_csr *lw = &sh->layer[l].layer.w;
        K = lw->nrows > K ? lw->nrows : K;
        C = lw->ncols > C ? lw->ncols : C;
    }
    t->wo.kernel = &t->kernel;
    return sdsinf__rows_ws_reserve(&t->kernel, sdsinf_pool_threads(t->wo.pool),
                                   K, C, bs > 0 && bs < M ? bs : M, err);
}

int sdsinf__worker_setup(const run_ctx *c, int w, one_worker *t,
                         sdsinf_err *err)
{
    const sdsinf_run_opts *o = c->o;
    sdsinf_model *sh = NULL;
    int rc;
    worker_opts(t, c->run, o->batch_size, o->codec, o->level, o->timeout_ms);
    t->wo.plan = c->p;
    t->wo.images = c->images;
    t->wo.cancel = c->cancel;
    if (c->plan_dir) { /* the bias and the cap stay the model's, so a
                          numeric --bias applies as without shards */
        if ((rc = shard_open(c->p, c->plan_dir, w, &sh, err)) != SDSINF_OK)
            return rc;
        for (int32_t l = 0; l < sh->layers; l++) {
            sh->layer[l].bias = c->m->layer[l].bias;
            sh->layer[l].bias_vec = c->m->layer[l].bias_vec;
        }
        sh->ymax = c->m->ymax;
    }
    rc = sdsinf__local_shard_build(c->p, sh ? sh : c->m, w, &t->shard, err);
    sdsinf_model_free(sh);
    if (rc != SDSINF_OK)
        return rc;
    t->wo.shard = &t->shard;
    return worker_open(t, w, c->W, c->channel, o->channel_config,
                       o->version >= 3 ? o->max_message : 0, o->kernel_threads,
                       err);
}

/* Loads the plan of spec s and its worker's shard, with the spec's bias
 * and cap, from their files into t->plan and t->shard. */
static int model_load(const sdsinf_worker_spec *s, one_worker *t,
                      sdsinf_err *err)
{
    sdsinf_plan_stats ps;
    sdsinf_model *sh = NULL;
    sdsinf_err e = {0};
    float *bias = NULL, *vecs = NULL;
    int w = s->worker, rc;
    if ((rc = sdsinf_plan_load(s->plan_dir, NULL, &t->plan, &e)))
        return sdsinf__fail(err, rc, "worker %d: %s", w, e.msg);
    sdsinf_plan_get_stats(t->plan, &ps);
    if (ps.workers != s->workers)
        return sdsinf__fail(err, SDSINF_EINVAL, "worker %d: the plan in %s "
                            "is for %d workers, the spec for %d", w,
                            s->plan_dir, ps.workers, s->workers);
    if ((rc = shard_open(t->plan, s->plan_dir, w, &sh, err)))
        return rc;
    if (s->bias && !(bias = sdsinf__calloc((size_t)ps.layers, sizeof *bias)))
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    else if (s->bias && (rc = sdsinf__bias_resolve(s->bias, NULL, ps.neurons,
                                                   ps.layers, ps.layers, bias,
                                                   &vecs, &e)))
        sdsinf__fail(err, rc, "worker %d, its bias: %s", w, e.msg);
    for (int32_t l = 0; bias && rc == SDSINF_OK && l < ps.layers; l++) {
        sh->layer[l].bias = bias[l];
        sh->layer[l].bias_vec = vecs ? vecs + (size_t)l * ps.neurons : NULL;
    }
    if (s->ymax > 0)
        sh->ymax = s->ymax;
    if (rc == SDSINF_OK)
        rc = sdsinf__local_shard_build(t->plan, sh, w, &t->shard, err);
    sdsinf_model_free(sh);
    sdsinf__free(bias);
    sdsinf__free(vecs);
    return rc;
}

/* The plan and shard of spec s for worker t: the cache's when it holds
 * the same (env->loaded 0), else loaded (env->loaded 1) and, with a cache,
 * moved into it (what it held before freed first: one model in memory). */
static int model_get(const sdsinf_worker_spec *s, sdsinf__worker_env *env,
                     one_worker *t, sdsinf_err *err)
{
    sdsinf_worker_cache *c = env ? env->cache : NULL;
    char *key = c ? sdsinf__worker_cache_key(s) : NULL;
    int rc = SDSINF_OK;
    if (c && c->key && (!key || strcmp(key, c->key)))
        sdsinf__worker_cache_clear(c);
    if (c && c->key) {
        sdsinf__free(key);
        t->wo.plan = c->plan;
        t->wo.shard = &c->shard;
        env->loaded = 0;
        t->warm = 1;
        return SDSINF_OK;
    }
    if ((rc = model_load(s, t, err)) == SDSINF_OK && key) {
        c->key = key;
        c->plan = t->plan;
        c->shard = t->shard;
        t->plan = NULL;
        memset(&t->shard, 0, sizeof t->shard);
        key = NULL;
    }
    sdsinf__free(key);
    if (c && rc == SDSINF_OK)
        c->loads++;
    if (env)
        env->loaded = 1;
    t->wo.plan = c && c->key ? c->plan : t->plan;
    t->wo.shard = c && c->key ? &c->shard : &t->shard;
    return rc;
}

/* Loads the worker of spec s: its plan and shard (model_get), its inputs;
 * then opens it as worker_open does, its waits capped and its cancel flag
 * set by env (when given). */
static int spec_setup(const sdsinf_worker_spec *s, sdsinf__worker_env *env,
                      one_worker *t, sdsinf_err *err)
{
    int w = s->worker, rc;
    worker_opts(t, s->run, s->batch_size, s->codec, s->level, s->timeout_ms);
    if (env && env->timeout_cap_ms > 0 && t->wo.timeout_ms > env->timeout_cap_ms)
        t->wo.timeout_ms = env->timeout_cap_ms;
    t->wo.cancel = env ? env->cancel : NULL;
    if ((rc = model_get(s, env, t, err)) ||
        (rc = sdsinf__inputs_load(s->inputs_dir, t->wo.plan, w, &t->inputs,
                                  err)))
        return rc;
    t->wo.images = &t->inputs;
    return worker_open(t, w, s->workers, s->channel, s->channel_config,
                       s->max_message, s->kernel_threads, err);
}

void sdsinf__worker_report(one_worker *t)
{
    sdsinf_channel *ch = t->wo.channel;
    sdsinf__buf buf = {0};
    uint32_t n = 0;
    if (!ch)
        return; /* nobody to tell: its launcher knows the outcome */
    int self = ch->self, ok = t->rc == SDSINF_OK;
    sdsinf__report r;
    memset(&r, 0, sizeof r);
    r.rc = t->rc;
    if (!ok)
        snprintf(r.msg, sizeof r.msg, "%s", t->err.msg);
    r.ready = t->ready;
    r.st = t->st;
    if (!ok)
        r.st.records = NULL; /* a failed run keeps none */
    if (ok && self == 0)
        r.res = t->res;
    if (t->billed_mb) { /* AWS bills an invocation per started ms */
        double ms = (sdsinf__wall_now() - t->billed_from) * 1e3;
        r.billed_ms = ms > 0 ? (uint64_t)ceil(ms) : 0;
        r.billed_mb = t->billed_mb;
    }
    r.peak_mb = sdsinf__peak_mb();
    r.warm = (uint32_t)t->warm;
#if defined(__aarch64__)
    r.arch = SDSINF_ARCH_ARM64;
#else
    r.arch = SDSINF_ARCH_X86_64;
#endif
    sdsinf__msg_key key = {t->wo.run, 0, (uint32_t)t->layers + 2,
                           (uint32_t)self, (uint32_t)ch->workers - 1, 0, 0};
    sdsinf__msg_opts mo = {t->wo.codec, t->wo.level, t->wo.max_message, NULL,
                           0};
    if (sdsinf__report_encode(&r, t->layers, &key, &mo, &buf, &n, NULL))
        return;
    size_t at = 0;
    for (uint32_t c = 0; c < n; c++) {
        size_t len;
        if (sdsinf__msg_length(buf.data + at, buf.len - at, &len, NULL) ||
            sdsinf_channel_send(ch, &(sdsinf_msg_key){key.run, key.batch,
                                                      key.layer, key.source,
                                                      key.target, c, n},
                                buf.data + at, len, NULL))
            break;
        at += len;
    }
    sdsinf__buf_free(&buf);
}

void sdsinf__worker_teardown(one_worker *t)
{
    sdsinf_channel_close(t->wo.channel, 1, NULL);
    sdsinf__local_shard_free(&t->shard);
    sdsinf_pool_free(t->wo.pool);
    sdsinf__rows_ws_free(t->kernel);
    sdsinf_plan_free(t->plan);
    sdsinf_csr_free(&t->inputs);
    sdsinf_result_free(&t->res);
    sdsinf__free(t->st.records);
    t->kernel = NULL;
    t->plan = NULL;
    t->st.records = NULL;
    memset(&t->wo, 0, sizeof t->wo);
}

/* ---- sdsinf_worker_main ----------------------------------------------------------- */

/* Tells the coordinator that worker s->worker failed before its channel
 * was open (its data would not load), in a note, when the channel opens:
 * the run then ends at once, naming it, not at its start timeout. */
static void tell_failure(const sdsinf_worker_spec *s, const sdsinf_err *e)
{
    sdsinf_channel *ch = NULL;
    unsigned char note[SDSINF__MSG_HEADER + SDSINF__NOTE_MSG];
    char msg[SDSINF__NOTE_MSG + 1];
    int w = s->worker;
    if (sdsinf__channel_open(s->channel, s->channel_config, w,
                             s->workers + 1, s->run, 1, &ch, NULL) !=
        SDSINF_OK)
        return; /* nobody to tell (the run's start timeout will), or the
                   run has ended */
    if (!strncmp(e->msg, "worker ", 7))
        snprintf(msg, sizeof msg, "%.255s", e->msg); /* SDSINF__NOTE_MSG */
    else
        snprintf(msg, sizeof msg, "worker %d: %.230s", w, e->msg);
    sdsinf__msg_key key = {s->run, 0, 0, (uint32_t)w, (uint32_t)s->workers,
                           0, 1};
    size_t n = sdsinf__fail_note_encode(&key, e->code, msg, note);
    sdsinf_channel_send(ch, &key, note, n, NULL);
    sdsinf_channel_close(ch, 0, NULL);
}

/* SDSINF_OK when spec s can start a worker. */
static int spec_check(const sdsinf_worker_spec *s, sdsinf_err *err)
{
    if (!s || s->version < 1)
        return sdsinf__fail(err, SDSINF_EINVAL, "worker spec: NULL or "
                            "version %d (call sdsinf_worker_spec_init)",
                            s ? s->version : 0);
    if (s->workers < 1 || s->workers > 65535 || s->worker < 0 ||
        s->worker >= s->workers)
        return sdsinf__fail(err, SDSINF_EINVAL, "worker spec: worker %d of "
                            "%d workers", s->worker, s->workers);
    if (!s->launcher || !s->channel || !s->plan_dir || !s->inputs_dir)
        return sdsinf__fail(err, SDSINF_EINVAL, "worker spec: launcher, "
                            "channel, plan and inputs are required");
    const sdsinf_channel_methods *m; /* before loading anything */
    return sdsinf__channel_resolve(s->channel, &m, err);
}

int sdsinf_worker_main(const sdsinf_worker_spec *s, sdsinf_err *err)
{
    return sdsinf__worker_main_in(s, NULL, err);
}

int sdsinf__worker_main_in(const sdsinf_worker_spec *s,
                           sdsinf__worker_env *env, sdsinf_err *err)
{
    const sdsinf_launcher_methods *lm = NULL;
    one_worker t;
    void *kids = NULL;
    sdsinf_requests stored = {0}, now = {0}; /* s3:// locations' requests */
    memset(&t, 0, sizeof t);
    sdsinf_location_requests(&stored);
    if (env) {
        t.billed_from = env->billed_from;
        t.billed_mb = env->billed_mb;
    }
    int rc = spec_check(s, err);
    if (rc != SDSINF_OK)
        return rc;
    if (s->progress) /* best effort: without it deaths go unnamed */
        sdsinf__progress_open(s->progress, s->workers, &t.progress, NULL);
    /* its children first, before its own data: a tree starts quickly */
    if (s->bfr > 0 && s->nlevels > 1 &&
        (rc = sdsinf__launcher_resolve(s->launcher, &lm, &t.err)) ==
            SDSINF_OK &&
        lm->start_children)
        rc = lm->start_children(s, &kids, &t.err);
    if (rc == SDSINF_OK)
        rc = spec_setup(s, env, &t, &t.err);
    t.ready = sdsinf__wall_now();
    if (rc == SDSINF_OK)
        rc = sdsinf__worker_run(&t.wo, s->worker == 0 ? &t.res : NULL,
                                &t.st, &t.err);
    t.rc = rc;
    /* this process's own (a worker from its spec has one): what it
     * fetched goes to the coordinator with its report */
    sdsinf_location_requests(&now);
    sdsinf__requests_since(&t.st.storage, &now, &stored);
    sdsinf__progress_outcome(&t.progress, s->worker, rc, t.err.msg);
    if (rc != SDSINF_OK && !t.wo.channel)
        tell_failure(s, &t.err);
    sdsinf__worker_report(&t);
    sdsinf__worker_teardown(&t);
    if (kids && lm->end_children(kids) != SDSINF_OK && rc == SDSINF_OK)
        rc = sdsinf__fail(&t.err, SDSINF_EIO, "worker %d: a worker it "
                          "started ended badly (the run says which)",
                          s->worker);
    sdsinf__progress_close(&t.progress);
    if (rc != SDSINF_OK && err)
        *err = t.err;
    return rc;
}
