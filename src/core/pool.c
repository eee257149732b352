/* pool.c - a fixed set of worker threads running parallel-for loops. */
#include "core/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

struct sdsinf_pool {
    int threads; /* including the calling thread */
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t start, finished;
    uint64_t generation; /* bumped for every parallel loop */
    int running;         /* helper threads still inside the current loop */
    int quit;
    /* the current loop */
    sdsinf__task_fn fn;
    void *ctx;
    int64_t ntasks;
    atomic_llong next;
    /* the user's scratch memory, kept between loops */
    void *ws;
    void (*ws_free)(void *);
};

typedef struct {
    sdsinf_pool *p;
    int id;
} helper_arg;

static void run_tasks(sdsinf_pool *p, int id)
{
    for (;;) {
        int64_t t = atomic_fetch_add(&p->next, 1);
        if (t >= p->ntasks)
            return;
        p->fn(p->ctx, t, id);
    }
}

static void *helper_main(void *arg)
{
    helper_arg a = *(helper_arg *)arg;
    sdsinf_pool *p = a.p;
    sdsinf__free(arg);
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->start, &p->mu);
        if (p->quit)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        run_tasks(p, a.id);
        pthread_mutex_lock(&p->mu);
        if (--p->running == 0)
            pthread_cond_signal(&p->finished);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int sdsinf_pool_create(int threads, sdsinf_pool **out, sdsinf_err *err)
{
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    if (threads > 1024)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "%d threads requested; at most 1024", threads);
    sdsinf_pool *p = sdsinf__calloc(1, sizeof *p);
    if (!p || !(p->tid = sdsinf__calloc((size_t)threads, sizeof *p->tid))) {
        sdsinf__free(p);
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a thread pool");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->finished, NULL);
    p->threads = 1;
    for (int i = 1; i < threads; i++) {
        helper_arg *a = sdsinf__malloc(sizeof *a);
        if (!a || (a->p = p, a->id = i,
                   pthread_create(&p->tid[i], NULL, helper_main, a) != 0)) {
            sdsinf__free(a);
            sdsinf_pool_free(p);
            return sdsinf__fail(err, SDSINF_ENOMEM,
                                "cannot start thread %d of %d", i + 1, threads);
        }
        p->threads++;
    }
    *out = p;
    return SDSINF_OK;
}

int sdsinf_pool_threads(const sdsinf_pool *p)
{
    return p ? p->threads : 1;
}

void sdsinf_pool_free(sdsinf_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->threads; i++)
        pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->finished);
    if (p->ws_free)
        p->ws_free(p->ws);
    sdsinf__free(p->tid);
    sdsinf__free(p);
}

void sdsinf__pool_run(sdsinf_pool *p, int64_t ntasks, sdsinf__task_fn fn,
                      void *ctx)
{
    if (!p || p->threads == 1 || ntasks <= 1) {
        for (int64_t t = 0; t < ntasks; t++)
            fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->ntasks = ntasks;
    atomic_store(&p->next, 0);
    p->running = p->threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    run_tasks(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->running > 0)
        pthread_cond_wait(&p->finished, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void **sdsinf__pool_workspace(sdsinf_pool *p, void (*free_fn)(void *))
{
    if (!p)
        return NULL;
    p->ws_free = free_fn;
    return &p->ws;
}
