/* run/launcher_threads.c - the "threads" launcher: each worker a thread of
 * this process, with its own channel instance and shard (channel "mem" by
 * default, or any other: the threads share memory); the threads load their
 * data side by side and start the layers together, each reports to the
 * coordinator like any worker, and a stop (a failure elsewhere, a cancel)
 * ends their waits within a slice. */
#include "run/run.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Where the threads meet once loaded: none starts the layers before every
 * worker has loaded (or failed to), and none at all when one failed. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived, total, failed;
    double open_at; /* when the last one arrived (wall clock) */
} gate;

typedef struct threads_run threads_run;

typedef struct thread_worker {
    one_worker t;
    pthread_t tid;
    int w;
    atomic_int done; /* its report sent, its channel closed */
    int told;        /* its end told by poll */
    threads_run *tr;
} thread_worker;

struct threads_run {
    const run_ctx *c;
    thread_worker *tw;
    int started;
    gate g;
    volatile sig_atomic_t stop; /* every worker's cancel flag */
};

/* Counts n workers in (ok: they are ready). */
static void gate_arrive(gate *g, int n, int ok)
{
    pthread_mutex_lock(&g->mu);
    g->failed |= !ok;
    g->arrived += n;
    if (g->arrived >= g->total) {
        g->open_at = sdsinf__wall_now();
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

/* A worker thread loads its own data, runs once all have, reports, and
 * closes its channel as soon as it is done (as a process does: what the
 * channel still holds for its peers goes then, not after every thread has
 * ended). */
static void *worker_thread(void *arg)
{
    thread_worker *tw = arg;
    one_worker *t = &tw->t;
    t->rc = sdsinf__worker_setup(tw->tr->c, tw->w, t, &t->err);
    t->wo.cancel = &tw->tr->stop;
    gate_arrive(&tw->tr->g, 1, t->rc == SDSINF_OK);
    if (gate_wait(&tw->tr->g)) {
        t->ready = tw->tr->g.open_at; /* all are ready: the layers start */
        t->rc = sdsinf__worker_run(&t->wo, tw->w == 0 ? &t->res : NULL,
                                   &t->st, &t->err);
    } else if (t->rc == SDSINF_OK) {
        t->rc = sdsinf__fail(&t->err, SDSINF_ECANCELED, "worker %d: not "
                             "run: another worker failed to load", tw->w);
    }
    sdsinf__worker_report(t);
    sdsinf__worker_teardown(t);
    atomic_store(&tw->done, 1);
    return NULL;
}

/* Starts a thread per worker (those that did start are waited for). */
static int threads_start(sdsinf_launch *l, sdsinf_err *err)
{
    const run_ctx *c = l->ctx_;
    threads_run *tr = sdsinf__calloc(1, sizeof *tr);
    if (tr && !(tr->tw = sdsinf__calloc((size_t)c->W, sizeof *tr->tw))) {
        sdsinf__free(tr);
        tr = NULL;
    }
    if (!tr)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    pthread_mutex_init(&tr->g.mu, NULL);
    pthread_cond_init(&tr->g.cv, NULL);
    tr->g.total = c->W;
    tr->c = c;
    l->state = tr;
    for (; tr->started < c->W; tr->started++) {
        thread_worker *tw = &tr->tw[tr->started];
        tw->w = tr->started;
        tw->tr = tr;
        atomic_init(&tw->done, 0);
        if (pthread_create(&tw->tid, NULL, worker_thread, tw) != 0) {
            gate_arrive(&tr->g, c->W - tr->started, 0); /* never to come */
            return sdsinf__fail(err, SDSINF_ENOMEM, "cannot start worker "
                                "%d's thread", tr->started);
        }
    }
    return SDSINF_OK;
}

/* The next thread that has ended: its outcome is in memory. */
static int threads_poll(sdsinf_launch *l, int *worker, sdsinf_err *err)
{
    threads_run *tr = l->state;
    for (int w = 0; tr && w < tr->started; w++) {
        thread_worker *tw = &tr->tw[w];
        if (tw->told || !atomic_load(&tw->done))
            continue;
        tw->told = 1;
        *worker = w;
        *err = tw->t.err;
        err->code = tw->t.rc;
        return 1;
    }
    return 0;
}

/* Every worker's next wait slice ends it (SDSINF_ECANCELED). */
static void threads_stop(sdsinf_launch *l)
{
    threads_run *tr = l->state;
    if (tr)
        sdsinf__flag_raise(&tr->stop); /* read by the workers' threads */
}

/* Joins the threads and frees the launcher's state. */
static void threads_wait(sdsinf_launch *l)
{
    threads_run *tr = l->state;
    if (!tr)
        return;
    for (int w = 0; w < tr->started; w++)
        pthread_join(tr->tw[w].tid, NULL);
    pthread_cond_destroy(&tr->g.cv);
    pthread_mutex_destroy(&tr->g.mu);
    sdsinf__free(tr->tw);
    sdsinf__free(tr);
    l->state = NULL;
}

const sdsinf_launcher_methods sdsinf__launcher_threads = {
    .version = SDSINF_LAUNCHER_VERSION,
    .name = "threads",
    .caps = SDSINF_LAUNCH_SHARES_MEMORY,
    .default_channel = "mem",
    .start = threads_start,
    .poll = threads_poll,
    .stop = threads_stop,
    .wait = threads_wait,
};
