/* run.c - a distributed run: the options, the launch tree, and
 * sdsinf_run, the coordinator: it picks the launcher by name (launchers.c)
 * and checks the channel against its caps, writes what workers that start
 * from their specs load (stage.c), opens its own endpoint of the channel,
 * lets the launcher start the workers (launcher_*.c), gathers their
 * reports (gather.c), and removes the run's channel state and files once
 * every worker is gone, also after a failure or a cancel.
 * Sections: the launch tree, sdsinf_run. */
#include "channels/channels.h"
#include "run/run.h"
#include "run/sweep.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIN_MESSAGE 256         /* the least a limit may be: a header, a row */
#define DRAIN_MS 5000           /* the longest a failed run's coordinator
                                   drains what would outlive the run */

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

int sdsinf__spec_tree(const sdsinf_worker_spec *s, int **parent,
                      sdsinf_err *err)
{
    int W = s->workers;
    if (!(*parent = sdsinf__mallocarray((size_t)W, sizeof **parent)))
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    return sdsinf__launch_tree(s->bfr > 0 ? s->bfr : W,
                               s->nlevels > 0 ? s->nlevels : 1, W, *parent,
                               err);
}

int sdsinf__canceled(const run_ctx *c, int cleaned, sdsinf_err *err)
{
    if (!cleaned)
        return sdsinf__fail(err, SDSINF_ECANCELED, "stopped %d workers; the "
                            "run's channel state (channel %s) could not be "
                            "removed: run `sdsinf clean`", c->W, c->channel);
    if (c->unconfirmed) /* told over the channel: they may not have heard */
        return sdsinf__fail(err, SDSINF_ECANCELED, "stopped %d workers and "
                            "removed the run's channel state (channel %s); "
                            "%d of them told to stop did not answer and may "
                            "run on to their timeout", c->W, c->channel,
                            c->unconfirmed);
    return sdsinf__fail(err, SDSINF_ECANCELED, "stopped %d workers and "
                        "removed the run's channel state (channel %s)", c->W,
                        c->channel);
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

/* The bytes of a version v options struct (older: without the fields of
 * later versions). */
static size_t run_opts_size(int v)
{
    static const size_t upto[] = {
        offsetof(sdsinf_run_opts, plan_dir),
        offsetof(sdsinf_run_opts, max_message),
        offsetof(sdsinf_run_opts, cancel),
        offsetof(sdsinf_run_opts, worker_exe),
        offsetof(sdsinf_run_opts, start_timeout_ms),
        offsetof(sdsinf_run_opts, progress),
        offsetof(sdsinf_run_opts, stage_bucket)};
    return v >= 1 && v <= 7 ? upto[v - 1] : sizeof(sdsinf_run_opts);
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
    if (!sdsinf__launcher_fits(lm, cm)) {
        char advice[160];
        sdsinf__launchers_for(cm, advice, sizeof advice);
        return sdsinf__fail(err, SDSINF_EINVAL, "channel %s does not work "
                            "between processes, and the %s launcher runs "
                            "workers as processes (use %s, or a channel "
                            "such as local)", channel, lm->name, advice);
    }
    char config[SDSINF__MAX_CONFIG];
    if ((rc = sdsinf__channel_config_prepare(cm, o->channel_config, config,
                                             sizeof config, err)) !=
        SDSINF_OK)
        return rc;
    if (lm == &sdsinf__launcher_external &&
        (rc = sdsinf__specs_dir_check(o, err)) != SDSINF_OK)
        return rc;
    const char *bucket = o->version >= 8 ? o->stage_bucket : NULL;
    const char *plan = o->version >= 2 ? o->plan_dir : NULL;
    if ((lm->caps & SDSINF_LAUNCH_REMOTE) && !(bucket && bucket[0]) &&
        !sdsinf_location_remote(plan))
        return sdsinf__fail(err, SDSINF_EINVAL, "the %s launcher's workers "
                            "cannot read this machine's files: give the run "
                            "a bucket to stage them in (sdsinf run --stack "
                            "NAME) or a plan in S3 (--plan s3://...)",
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

/* The records of a run of workers x layers (+ the results' trip), each
 * named with its worker and layer; NULL when out of memory. */
static sdsinf_layer_record *records_new(int workers, int32_t layers,
                                        int64_t *n)
{
    *n = (int64_t)workers * (layers + 1);
    sdsinf_layer_record *r = sdsinf__calloc((size_t)*n, sizeof *r);
    for (int64_t i = 0; r && i < *n; i++) {
        r[i].worker = (int32_t)(i / (layers + 1));
        r[i].layer = (int32_t)(i % (layers + 1)) + 1;
    }
    return r;
}

int sdsinf__run_create(run_ctx *c, sdsinf_err *err)
{
    int rc = sdsinf_channel_run_create(c->channel, c->o->channel_config,
                                       c->run, c->W + 1, &c->st->requests,
                                       err);
    c->made = rc == SDSINF_OK;
    return rc;
}

/* Starts the workers with launcher lm, gathers their reports at the
 * coordinator's endpoint, and waits until every worker is gone; then
 * (a failed run's first draining its messages from a stack's queues)
 * removes the run's channel state (closing the endpoint, the last one
 * open, with cleanup) and its files. */
static int run_launch(run_ctx *c, const sdsinf_launcher_methods *lm,
                      sdsinf_err *err)
{
    sdsinf__stage stage;
    sdsinf_launch l = {c->o, c->channel, c->W, c->run, NULL, NULL, NULL, c};
    int rc = SDSINF_OK, specs = (lm->caps & SDSINF_LAUNCH_SPECS) != 0;
    char remote[sizeof stage.remote] = ""; /* where it stages in S3 */
    memset(&stage, 0, sizeof stage);
    if (specs) /* too long: stage_write fails saying so */
        sdsinf__stage_remote(c, remote, sizeof remote, NULL);
    if (!(lm->caps & SDSINF_LAUNCH_IN_JOB)) /* else: the process of worker
                                              0, once it knows it is */
        sdsinf__owner_claim(c->channel, c->o->channel_config, c->run,
                            c->W + 1, specs, remote, c->owner,
                            sizeof c->owner);
    if (specs && (rc = sdsinf__stage_write(c, lm, &stage, err)) ==
                     SDSINF_OK) {
        l.spec = &stage.spec;
        l.work_dir = stage.work;
    }
    /* the channel's state of the run, made before any worker starts and
     * removed once all have ended, whatever their fate (in a job: by the
     * process of worker 0, in start) */
    if (rc == SDSINF_OK && !(lm->caps & SDSINF_LAUNCH_IN_JOB) &&
        (rc = sdsinf__run_create(c, err)) == SDSINF_OK)
        rc = sdsinf__coordinator_open(c, err);
    if (rc == SDSINF_OK && (rc = lm->start(&l, err)) != SDSINF_OK &&
        lm->stop)
        lm->stop(&l); /* those it started before it failed */
    if (rc == SDSINF_OK && c->coord)
        rc = sdsinf__gather(c, &l, lm, err);
    if (lm->wait)
        lm->wait(&l);
    c->st->seconds = sdsinf__now() - c->ready;
    int drain_ms = DRAIN_MS;
    if ((rc != SDSINF_OK || c->canceled) && c->coord) /* the run's messages
        on queues that outlive it (a stack's; none elsewhere: ENOTSUP) */
        sdsinf_channel_control(c->coord, SDSINF__CONTROL_DRAIN, &drain_ms,
                               NULL);
    if (c->coord) { /* the coordinator's own requests count too */
        sdsinf_requests q;
        sdsinf_channel_requests(c->coord, &q);
        sdsinf__requests_add(&c->st->requests, &q);
    }
    int cleaned = !c->coord || sdsinf_channel_close(c->coord, 1, NULL) ==
                                   SDSINF_OK;
    c->coord = NULL;
    if (c->made)
        cleaned = sdsinf_channel_run_destroy(c->channel, c->o->channel_config,
                                             c->run, c->W + 1,
                                             &c->st->requests, NULL) ==
                  SDSINF_OK;
    if (specs && sdsinf__stage_remove(&stage) != SDSINF_OK)
        cleaned = 0;
    if (cleaned) /* else its owner record lets sdsinf clean take it */
        sdsinf__owner_release(c->owner); /* the workers are gone, and the rest */
    if (rc != SDSINF_OK) /* what workers stopped as they loaded fetched */
        sdsinf__sweep();
    if (c->canceled)
        rc = sdsinf__canceled(c, cleaned, err);
    return rc;
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
    /* the options as the run uses them: the channel's setting in the form
     * every worker, and the owner record, can use (a directory made
     * absolute) */
    sdsinf_run_opts ro;
    const sdsinf_channel_methods *cm;
    char config[SDSINF__MAX_CONFIG];
    sdsinf_run_opts_init(&ro);
    memcpy(&ro, o, run_opts_size(o->version));
    if ((rc = sdsinf__channel_resolve(run_channel(o, lm), &cm, err)) ||
        (rc = sdsinf__channel_config_prepare(cm, o->channel_config, config,
                                             sizeof config, err)))
        return rc;
    ro.channel_config = config[0] ? config : NULL;
    o = &ro;
    if (ps.neurons != m->neurons || ps.layers != m->layers ||
        images->ncols != m->neurons)
        return sdsinf__fail(err, SDSINF_EINVAL, "the plan, model and images "
                            "disagree on the sizes");
    res.images = images->nrows;
    res.argmax = sdsinf__mallocarray((size_t)res.images + 1, sizeof *res.argmax);
    res.max = sdsinf__mallocarray((size_t)res.images + 1, sizeof *res.max);
    st->workers = ps.workers;
    st->layers = ps.layers;
    st->batches = o->batch_size > 0 ? (images->nrows + o->batch_size - 1) /
                                          o->batch_size
                                    : 1;
    st->records = records_new(ps.workers, ps.layers, &st->nrecords);
    if (!res.argmax || !res.max || !st->records) {
        sdsinf_result_free(&res);
        sdsinf_run_stats_free(st);
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for the result "
                            "and records");
    }
    /* fields of later versions, where the caller's struct has them */
    const char *plan_dir = o->version >= 2 ? o->plan_dir : NULL;
    run_ctx c = {.m = m, .p = p, .images = images, .o = o,
                 .channel = run_channel(o, lm),
                 .plan_dir = plan_dir && plan_dir[0] ? plan_dir : NULL,
                 .W = ps.workers,
                 .run = o->run_id ? o->run_id : made_up_run_id(),
                 .res = &res,
                 .st = st,
                 .t0 = sdsinf__now(),
                 .t0_wall = sdsinf__wall_now(),
                 .cancel = o->version >= 4 ? o->cancel : NULL};
    c.ready = c.t0;
    rc = run_launch(&c, lm, err);
    st->startup_seconds = c.ready - c.t0;
    if (rc != SDSINF_OK || st == &local)
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
