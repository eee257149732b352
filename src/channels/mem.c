/* channels/mem.c - the "mem" channel: queues in this process's memory, for
 * workers that are threads of one process (the threads launcher).
 *
 * Every instance with the same run id and config string shares one hub:
 * per worker, a FIFO of messages and a condition variable its receiver
 * waits on (CLOCK_MONOTONIC deadlines).  A hub outlives its instances, as
 * files outlive their writers: a worker may send and close before its
 * peer opens.  A hub made by run_create goes with run_destroy; another,
 * once some instance has closed with cleanup=1, when its last instance
 * closes (so every worker may clean up as it finishes); an instance of
 * the runtime's (run_made) never makes one.  Instances are
 * thread-safe: any thread may send to any worker at any time.  Requests
 * are calls (send, receive; empty: a receive that timed out). */
#include "channels/channels.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct mem_node {
    struct mem_node *next;
    void *data; /* malloc'd: handed to the receiver as is */
    size_t len;
} mem_node;

typedef struct mem_queue {
    mem_node *head, *tail;
    pthread_cond_t ready;
} mem_queue;

typedef struct mem_hub {
    struct mem_hub *next; /* in the list of live hubs */
    uint64_t run;
    char *config;
    int workers;
    int refs;     /* open instances */
    int cleanup;  /* an instance closed with cleanup: free at refs 0 */
    int created;  /* made by run_create: only run_destroy frees it */
    pthread_mutex_t mu;
    mem_queue *q; /* workers queues */
} mem_hub;

typedef struct mem_channel {
    sdsinf_channel base;
    mem_hub *hub;
} mem_channel;

static pthread_mutex_t hubs_mu = PTHREAD_MUTEX_INITIALIZER;
static mem_hub *hubs;

static void drop_queue(mem_queue *q)
{
    while (q->head) {
        mem_node *n = q->head;
        q->head = n->next;
        free(n->data);
        sdsinf__free(n);
    }
    q->tail = NULL;
}

static void hub_free(mem_hub *h)
{
    if (!h)
        return;
    for (int w = 0; h->q && w < h->workers; w++) {
        drop_queue(&h->q[w]);
        pthread_cond_destroy(&h->q[w].ready);
    }
    pthread_mutex_destroy(&h->mu);
    sdsinf__free(h->q);
    sdsinf__free(h->config);
    sdsinf__free(h);
}

/* A hub for run and config with `workers` queues, or NULL. */
static mem_hub *hub_new(uint64_t run, const char *config, int workers)
{
    size_t clen = strlen(config);
    mem_hub *h = sdsinf__calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->run = run;
    h->workers = 0; /* queues made so far, for hub_free */
    pthread_mutex_init(&h->mu, NULL);
    h->config = sdsinf__malloc(clen + 1);
    h->q = sdsinf__calloc((size_t)workers, sizeof *h->q);
    if (!h->config || !h->q) {
        hub_free(h);
        return NULL;
    }
    memcpy(h->config, config, clen + 1);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (; h->workers < workers; h->workers++)
        pthread_cond_init(&h->q[h->workers].ready, &ca);
    pthread_condattr_destroy(&ca);
    return h;
}

/* The live hub of run and config, or NULL (hubs_mu held). */
static mem_hub *hub_find(uint64_t run, const char *config)
{
    mem_hub *h = hubs;
    while (h && (h->run != run || strcmp(h->config, config) != 0))
        h = h->next;
    return h;
}

/* Unlinks h from the live hubs (hubs_mu held). */
static void hub_unlink(mem_hub *h)
{
    mem_hub **p = &hubs;
    while (*p != h)
        p = &(*p)->next;
    *p = h->next;
}

/* The hub of run and config for `workers` workers, made if there is none
 * (hubs_mu held); `self` (-1: the coordinator) names the caller. */
static int hub_get(uint64_t run, const char *config, int workers, int self,
                   mem_hub **out, sdsinf_err *err)
{
    mem_hub *h = hub_find(run, config);
    char who[32] = "run_create";
    if (self >= 0)
        snprintf(who, sizeof who, "worker %d", self);
    if (h && h->workers != workers)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel 'mem': run %" PRIu64 " has %d workers, "
                            "but %s opens it with %d; open every worker of a "
                            "run with the same count",
                            run, h->workers, who, workers);
    if (!h) {
        if (!(h = hub_new(run, config, workers)))
            return sdsinf__fail(err, SDSINF_ENOMEM,
                                "channel 'mem': no memory for the queues of "
                                "run %" PRIu64 " (%d workers)",
                                run, workers);
        h->next = hubs;
        hubs = h;
    }
    *out = h;
    return SDSINF_OK;
}

/* Takes the run's hub, made if missing, but for an instance of the
 * runtime's (run_made): its run has ended when the hub is gone. */
static int mem_open(sdsinf_channel *ch, const char *config, sdsinf_err *err)
{
    mem_channel *mc = (mem_channel *)ch;
    const char *c = config ? config : "";
    pthread_mutex_lock(&hubs_mu);
    int rc = ch->run_made && !hub_find(ch->run, c)
                 ? sdsinf__fail(err, SDSINF_ECANCELED,
                                "channel 'mem': worker %d: the run has ended: "
                                "run_destroy removed its queues (run %" PRIu64
                                ")",
                                ch->self, ch->run)
                 : hub_get(ch->run, c, ch->workers, ch->self, &mc->hub, err);
    if (rc == SDSINF_OK)
        mc->hub->refs++;
    pthread_mutex_unlock(&hubs_mu);
    return rc;
}

static int mem_send(sdsinf_channel *ch, const sdsinf_msg_key *key,
                    const void *msg, size_t len, sdsinf_err *err)
{
    mem_hub *h = ((mem_channel *)ch)->hub;
    mem_node *n = sdsinf__malloc(sizeof *n);
    void *data = malloc(len ? len : 1);
    if (!n || !data) {
        sdsinf__free(n);
        free(data);
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel 'mem': worker %d has no memory for a "
                            "%zu-byte message to worker %" PRIu32,
                            ch->self, len, key->target);
    }
    SDSINF__COUNT(ch, send, 1);
    if (len)
        memcpy(data, msg, len);
    n->next = NULL;
    n->data = data;
    n->len = len;
    mem_queue *q = &h->q[key->target];
    pthread_mutex_lock(&h->mu);
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    pthread_cond_signal(&q->ready);
    pthread_mutex_unlock(&h->mu);
    return SDSINF_OK;
}

static int mem_recv(sdsinf_channel *ch, const sdsinf_msg_key *want,
                    void **msg, size_t *len, int timeout_ms, sdsinf_err *err)
{
    mem_hub *h = ((mem_channel *)ch)->hub;
    mem_queue *q = &h->q[ch->self];
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->mu);
    int waited = 0;
    while (!q->head && waited != ETIMEDOUT)
        waited = pthread_cond_timedwait(&q->ready, &h->mu, &deadline);
    mem_node *n = q->head;
    if (n) {
        q->head = n->next;
        if (!q->head)
            q->tail = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    SDSINF__COUNT(ch, receive, 1);
    if (!n) {
        SDSINF__COUNT(ch, empty, 1);
        if (want)
            return sdsinf__fail(err, SDSINF_ETIMEDOUT,
                                "channel 'mem': worker %d got no message in %d "
                                "ms (awaiting batch %" PRIu32 " layer %" PRIu32
                                " from worker %" PRIu32 " of run %" PRIu64 ")",
                                ch->self, timeout_ms, want->batch, want->layer,
                                want->source, ch->run);
        return sdsinf__fail(err, SDSINF_ETIMEDOUT,
                            "channel 'mem': worker %d got no message in %d ms "
                            "(run %" PRIu64 ")",
                            ch->self, timeout_ms, ch->run);
    }
    *msg = n->data;
    *len = n->len;
    sdsinf__free(n);
    return SDSINF_OK;
}

static int mem_close(sdsinf_channel *ch, int cleanup, sdsinf_err *err)
{
    (void)err;
    mem_hub *h = ((mem_channel *)ch)->hub;
    if (!h)
        return SDSINF_OK;
    pthread_mutex_lock(&hubs_mu);
    h->cleanup |= cleanup;
    int last = --h->refs == 0 && h->cleanup && !h->created;
    if (last)
        hub_unlink(h);
    pthread_mutex_unlock(&hubs_mu);
    if (last)
        hub_free(h);
    return SDSINF_OK;
}

/* Makes the run's hub, held for run_destroy. */
static int mem_run_create(void *state, const char *config, uint64_t run,
                          int workers, sdsinf_requests *req, sdsinf_err *err)
{
    (void)state;
    (void)req;
    mem_hub *h;
    pthread_mutex_lock(&hubs_mu);
    int rc = hub_get(run, config ? config : "", workers, -1, &h, err);
    if (rc == SDSINF_OK)
        h->created = 1;
    pthread_mutex_unlock(&hubs_mu);
    return rc;
}

/* Frees the run's hub and what it holds (at its last close, if instances
 * are still open). */
static int mem_run_destroy(void *state, const char *config, uint64_t run,
                           int workers, sdsinf_requests *req, sdsinf_err *err)
{
    (void)state, (void)workers, (void)req, (void)err;
    pthread_mutex_lock(&hubs_mu);
    mem_hub *h = hub_find(run, config ? config : "");
    int now = h && h->refs == 0;
    if (h) {
        h->created = 0;
        h->cleanup = 1;
    }
    if (now)
        hub_unlink(h);
    pthread_mutex_unlock(&hubs_mu);
    if (now)
        hub_free(h);
    return SDSINF_OK;
}

/* The run's hub (1) and the messages it holds. */
static int mem_run_residue(void *state, const char *config, uint64_t run,
                           int64_t *items, sdsinf_err *err)
{
    (void)state, (void)err;
    int64_t n = 0;
    pthread_mutex_lock(&hubs_mu);
    mem_hub *h = hub_find(run, config ? config : "");
    if (h) {
        pthread_mutex_lock(&h->mu);
        n = 1;
        for (int w = 0; w < h->workers; w++)
            for (const mem_node *m = h->q[w].head; m; m = m->next)
                n++;
        pthread_mutex_unlock(&h->mu);
    }
    pthread_mutex_unlock(&hubs_mu);
    *items = n;
    return SDSINF_OK;
}

static int mem_control(sdsinf_channel *ch, int op, void *arg, sdsinf_err *err)
{
    (void)arg;
    return sdsinf__fail(err, SDSINF_ENOTSUP,
                        "channel 'mem', worker %d: no control operation %d",
                        ch->self, op);
}

const sdsinf_channel_methods sdsinf__channel_mem = {
    .version = SDSINF_CHANNEL_VERSION,
    .name = "mem",
    .instance_size = sizeof(mem_channel),
    .caps = SDSINF_CAP_THREADSAFE | SDSINF_CAP_DETACHED,
    .max_message = 0,
    .open = mem_open,
    .send = mem_send,
    .recv = mem_recv,
    .close = mem_close,
    .control = mem_control,
    .run_create = mem_run_create,
    .run_destroy = mem_run_destroy,
    .run_residue = mem_run_residue,
};
