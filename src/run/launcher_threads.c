/* run/launcher_threads.c - the "threads" launcher: each worker a thread of
 * this process, with its own channel instance and shard (channel "mem" by
 * default, or any other: the threads share memory); the threads load their
 * data side by side and start the layers together. */
#include "run/run.h"

#include <pthread.h>
#include <stdlib.h>

/* Where the threads meet once loaded: none starts the layers before every
 * worker has loaded (or failed to), and none at all when one failed. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived, total, failed;
    double open_at; /* when the last one arrived */
} gate;

typedef struct thread_worker {
    one_worker t;
    sdsinf_result *res; /* worker 0: where the merged result goes */
    pthread_t tid;
    const run_ctx *c;
    int w;
    gate *g;
} thread_worker;

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
    thread_worker *tw = arg;
    one_worker *t = &tw->t;
    t->rc = sdsinf__worker_setup(tw->c, tw->w, t, &t->err);
    gate_arrive(tw->g, 1, t->rc == SDSINF_OK);
    if (gate_wait(tw->g))
        t->rc = sdsinf__worker_run(&t->wo, tw->res, &t->st, &t->err);
    sdsinf__worker_teardown(t);
    return NULL;
}

/* Runs every worker in a thread of its own and gathers their outcomes. */
static int threads_start(sdsinf_launch *l, sdsinf_err *err)
{
    run_ctx *c = l->ctx_;
    sdsinf_run_stats *st = c->st;
    thread_worker *tw = sdsinf__calloc((size_t)c->W, sizeof *tw);
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
    c->ready = g.open_at;
    for (int w = 0; w < started && rc == SDSINF_OK; w++)
        if (tw[w].t.rc == SDSINF_ECANCELED) /* each closed with cleanup */
            rc = sdsinf__canceled(c, 1, err);
    /* the failure to report: a worker's own before its peers' waits */
    for (int pass = 0; pass < 2 && rc == SDSINF_OK; pass++)
        for (int w = 0; w < started && rc == SDSINF_OK; w++)
            if (tw[w].t.rc != SDSINF_OK &&
                (pass == 1 || tw[w].t.rc != SDSINF_ETIMEDOUT)) {
                rc = tw[w].t.rc;
                if (err)
                    *err = tw[w].t.err;
            }
    for (int w = 0; w < c->W; w++) {
        sdsinf__stats_add(st, &tw[w].t.st);
        if (tw[w].t.st.records)
            sdsinf__records_put(st, tw[w].t.st.records, st->layers + 1);
        sdsinf__free(tw[w].t.st.records);
    }
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
    sdsinf__free(tw);
    return rc;
}

const sdsinf_launcher_methods sdsinf__launcher_threads = {
    .version = SDSINF_LAUNCHER_VERSION,
    .name = "threads",
    .caps = SDSINF_LAUNCH_SHARES_MEMORY,
    .default_channel = "mem",
    .start = threads_start,
};
