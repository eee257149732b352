/* channels/mem.c - the "mem" channel: queues in this process's memory, for
 * workers that are threads of one process (the threads launcher).
 *
 * Every instance with the same run id and config string shares one hub:
 * per worker, a FIFO of messages and a condition variable its receiver
 * waits on (CLOCK_MONOTONIC deadlines).  A hub outlives its instances, as
 * files outlive their writers: a worker may send and close before its
 * peer opens.  Once some instance has closed with cleanup=1, the hub and
 * whatever it still holds go when its last instance closes (so every
 * worker may clean up as it finishes).  Instances are thread-safe: any
 * thread may send to any worker at any time. */
#include "channels/channels.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
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

static int mem_open(sdsinf_channel *ch, const char *config, sdsinf_err *err)
{
    mem_channel *mc = (mem_channel *)ch;
    const char *cfg = config ? config : "";
    int rc = SDSINF_OK;
    pthread_mutex_lock(&hubs_mu);
    mem_hub *h = hubs;
    while (h && (h->run != ch->run || strcmp(h->config, cfg) != 0))
        h = h->next;
    if (h && h->workers != ch->workers) {
        rc = sdsinf__fail(err, SDSINF_EINVAL,
                          "channel 'mem': run %" PRIu64 " has %d workers, but "
                          "worker %d opens it with %d; open every worker of a "
                          "run with the same count",
                          ch->run, h->workers, ch->self, ch->workers);
        goto done;
    }
    if (!h) {
        h = hub_new(ch->run, cfg, ch->workers);
        if (!h) {
            rc = sdsinf__fail(err, SDSINF_ENOMEM,
                              "channel 'mem': no memory for the queues of run "
                              "%" PRIu64 " (%d workers)",
                              ch->run, ch->workers);
            goto done;
        }
        h->next = hubs;
        hubs = h;
    }
    h->refs++;
    mc->hub = h;
done:
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
    if (!n) {
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
    int last = --h->refs == 0 && h->cleanup;
    if (last) {
        mem_hub **p = &hubs;
        while (*p != h)
            p = &(*p)->next;
        *p = h->next;
    }
    pthread_mutex_unlock(&hubs_mu);
    if (last)
        hub_free(h);
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
    .caps = SDSINF_CAP_THREADSAFE,
    .max_message = 0,
    .open = mem_open,
    .send = mem_send,
    .recv = mem_recv,
    .close = mem_close,
    .control = mem_control,
};
