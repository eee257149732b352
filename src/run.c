/* run.c - a distributed run: launch the workers, gather the result.
 * Launchers:
 *   threads - each worker a thread of this process, with its own channel
 *             instance and shard (channel "mem" by default);
 *   local   - each worker a process, started as SDS-Inf's launch tree
 *             (bfr children per node over nlevels; every node starts its
 *             children before it loads its data; channel "local").  Worker
 *             0 hands the merged result back through a pipe; every worker
 *             reports its statistics or its error through another.  A
 *             worker that dies ends the run: its peers are killed (also
 *             when the coordinator dies: PR_SET_PDEATHSIG) and the error
 *             names it.
 * Sections: the launch tree, one worker, threads, processes, sdsinf_run. */
#include "internal.h"
#include "msg.h"
#include "worker.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void sdsinf_run_opts_init(sdsinf_run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->version = SDSINF_RUN_OPTS_VERSION;
}

/* ---- The launch tree ------------------------------------------------------- */

int sdsinf__launch_tree(int bfr, int nlevels, int workers, int *parent,
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

typedef struct run_ctx {
    const sdsinf_model *m;
    const sdsinf_plan *p;
    const sdsinf_csr *images;
    const sdsinf_run_opts *o;
    const char *channel;
    int W;
    uint64_t run;
    sdsinf_result *res;
} run_ctx;

typedef struct one_worker {
    sdsinf__worker_opts wo;
    sdsinf__local_shard shard;
    sdsinf_result *res; /* worker 0: where the merged result goes */
    sdsinf__worker_stats st;
    sdsinf_err err;
    int rc;
    pthread_t tid;
} one_worker;

/* Loads worker w's data (its shard), opens its channel and kernel pool. */
static int worker_setup(const run_ctx *c, int w, one_worker *t,
                        sdsinf_err *err)
{
    const sdsinf_run_opts *o = c->o;
    int rc;
    t->wo.run = c->run;
    t->wo.plan = c->p;
    t->wo.images = c->images;
    t->wo.batch_size = o->batch_size;
    t->wo.codec = o->codec && !strcmp(o->codec, "raw") ? SDSINF__CODEC_RAW
                                                       : SDSINF__CODEC_ZSTD;
    t->wo.level = o->level ? o->level : 3;
    t->wo.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    if ((rc = sdsinf__local_shard_build(c->p, c->m, w, &t->shard, err)) !=
        SDSINF_OK)
        return rc;
    t->wo.shard = &t->shard;
    if ((rc = sdsinf_channel_open(c->channel, o->channel_config, w, c->W,
                                  c->run, &t->wo.channel, err)) != SDSINF_OK)
        return rc;
    return sdsinf_pool_create(o->kernel_threads > 1 ? o->kernel_threads : 1,
                              &t->wo.pool, err);
}

static void worker_teardown(one_worker *t)
{
    sdsinf_channel_close(t->wo.channel, 1, NULL);
    sdsinf__local_shard_free(&t->shard);
    sdsinf_pool_free(t->wo.pool);
    memset(&t->wo, 0, sizeof t->wo);
}

/* Puts records in their place among the run's (workers x (layers + 1), by
 * worker then layer; allocated by sdsinf_run). */
static void records_put(sdsinf_run_stats *st, const sdsinf_layer_record *r,
                        int64_t n)
{
    for (int64_t i = 0; st->records && i < n; i++)
        if (r[i].worker >= 0 && r[i].worker < st->workers && r[i].layer >= 1 &&
            r[i].layer <= st->layers + 1)
            st->records[(int64_t)r[i].worker * (st->layers + 1) +
                        r[i].layer - 1] = r[i];
}

/* Adds a worker's totals to the run's. */
static void stats_add(sdsinf_run_stats *st, const sdsinf__worker_stats *s)
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

/* ---- Threads ------------------------------------------------------------------ */

static void *worker_thread(void *arg)
{
    one_worker *t = arg;
    t->rc = sdsinf__worker_run(&t->wo, t->res, &t->st, &t->err);
    return NULL;
}

static int launch_threads(const run_ctx *c, sdsinf_run_stats *st,
                          double *ready, sdsinf_err *err)
{
    one_worker *tw = sdsinf__calloc((size_t)c->W, sizeof *tw);
    int rc = SDSINF_OK, started = 0;
    if (!tw)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    for (int w = 0; w < c->W && rc == SDSINF_OK; w++)
        rc = worker_setup(c, w, &tw[w], err);
    *ready = sdsinf__now();
    tw[0].res = c->res; /* worker 0 merges into the result */
    for (; rc == SDSINF_OK && started < c->W; started++)
        if (pthread_create(&tw[started].tid, NULL, worker_thread,
                           &tw[started]) != 0)
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "cannot start worker %d",
                              started);
    for (int w = 0; w < started; w++)
        pthread_join(tw[w].tid, NULL);
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
        stats_add(st, &tw[w].st);
        if (tw[w].st.records)
            records_put(st, tw[w].st.records, st->layers + 1);
        sdsinf__free(tw[w].st.records);
        worker_teardown(&tw[w]);
    }
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

/* The body of worker w's process: children first, then its own data and
 * layers, then its children's fates.  Never returns. */
static void worker_process(const proc_ctx *pc, int w)
{
    const run_ctx *c = pc->c;
    one_worker t;
    report r;
    pid_t *kids = sdsinf__calloc((size_t)c->W, sizeof *kids);
    memset(&t, 0, sizeof t);
    memset(&r, 0, sizeof r);
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* die with the parent */
    if (getppid() == 1)
        _exit(3);
    if (kids)
        spawn_children(pc, w, kids);
    r.worker = w;
    r.rc = kids ? worker_setup(c, w, &t, &t.err) : SDSINF_ENOMEM;
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
    worker_teardown(&t);
    int status = r.rc == SDSINF_OK ? 0 : 1;
    for (int k = 0; kids && k < c->W; k++) {
        int ws;
        if (kids[k] > 0 && waitpid(kids[k], &ws, 0) == kids[k] &&
            !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0)) {
            status = 1;
            if (WIFSIGNALED(ws)) { /* it could not report: say so for it */
                report d;
                memset(&d, 0, sizeof d);
                d.worker = k;
                d.final = 1;
                d.rc = SDSINF_EIO;
                snprintf(d.msg, sizeof d.msg, "worker %d died (signal %d)",
                         k, WTERMSIG(ws));
                write_all(pc->report_fd, &d, sizeof d);
            }
        }
    }
    _exit(status);
}

/* Starts the workers whose parent is `me` (the coordinator is -1). */
static void spawn_children(const proc_ctx *pc, int me, pid_t *pids)
{
    for (int w = 0; w < pc->c->W; w++) {
        if (pc->parent[w] != me)
            continue;
        pid_t pid = fork();
        if (pid == 0)
            worker_process(pc, w);
        pids[w] = pid;
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
    int have_first = 0, nreports = 0, open_fds = 2;
    double last_ready = 0;
    struct pollfd fds[2] = {{result[0], POLLIN, 0}, {rep[0], POLLIN, 0}};
    memset(&first, 0, sizeof first);
    if (!tmp) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        for (int w = 0; w < W; w++)
            if (pids[w] > 0)
                kill(pids[w], SIGKILL);
    }
    while (tmp && open_fds > 0) {
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
                records_put(st, r.rec, r.nrec < REPORT_RECORDS ? r.nrec
                                                               : REPORT_RECORDS);
            } else if (whole) {
                nreports++;
                stats_add(st, &r.st);
                last_ready = r.ready > last_ready ? r.ready : last_ready;
                if (r.rc != SDSINF_OK &&
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
        pid_t pid;
        int ws;
        while ((pid = waitpid(-1, &ws, WNOHANG)) > 0)
            for (int w = 0; w < W; w++)
                if (pids[w] == pid) {
                    pids[w] = 0;
                    if (WIFSIGNALED(ws) &&
                        (!have_first || first.rc == SDSINF_ETIMEDOUT)) {
                        first.rc = SDSINF_EIO;
                        snprintf(first.msg, sizeof first.msg,
                                 "worker %d died (signal %d); the run was "
                                 "stopped", w, WTERMSIG(ws));
                        have_first = 1;
                    }
                }
        if (have_first) /* stop the rest: no one waits in vain */
            for (int w = 0; w < W; w++)
                if (pids[w] > 0)
                    kill(pids[w], SIGKILL);
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
    if (have_first || rc != SDSINF_OK) {
        /* killed workers could not clean up: do it for the run */
        sdsinf_channel *ch = NULL;
        if (sdsinf_channel_open(c->channel, o->channel_config, 0, W, c->run,
                                &ch, NULL) == SDSINF_OK)
            sdsinf_channel_close(ch, 1, NULL);
    }
    if (rc != SDSINF_OK)
        goto done;
    if (have_first)
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
    const char *launcher = o->launcher ? o->launcher : "local";
    int threads = !strcmp(launcher, "threads");
    if (o->version < 1 || (!threads && strcmp(launcher, "local")))
        return sdsinf__fail(err, SDSINF_ENOTSUP, "launcher '%s': threads or "
                            "local", launcher);
    if (o->codec && strcmp(o->codec, "zstd") && strcmp(o->codec, "raw"))
        return sdsinf__fail(err, SDSINF_EINVAL, "codec '%s': zstd or raw",
                            o->codec);
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
    run_ctx c = {m, p, images, o,
                 o->channel ? o->channel : threads ? "mem" : "local",
                 ps.workers, o->run_id ? o->run_id : made_up_run_id(), &res};
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
    rc = threads ? launch_threads(&c, st, &ready, err)
                 : launch_processes(&c, st, &ready, err);
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
