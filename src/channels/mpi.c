/* channels/mpi.c - the "mpi" channel: workers that are the ranks of an MPI
 * job (mpirun/mpiexec), exchanging messages point to point.
 *
 * Worker w lives on rank w % size, so a job of W ranks has one worker per
 * rank, and one rank (a singleton, as in the conformance suite) can hold
 * every worker.  A message travels as one MPI message on this channel's
 * own communicator (a duplicate of MPI_COMM_WORLD), tagged with the run
 * (its low 15 bits) and the target worker, so runs and workers that share
 * a rank keep apart; the runtime drops any other run's message that still
 * slipped through.  Sends are non-blocking (MPI_Isend of a copy); their
 * buffers are freed as they complete, checked on every call: two workers
 * sending each other large messages never wait on each other.  Receives
 * probe for their tag until the deadline, backing off from 20 us to 2 ms.
 *
 * It is part of the MPI plugin (plugin/plugin.h), loaded by the library
 * when a run asks for it.  The channel's shared state (type_init, once per
 * process; the mpi launcher starts MPI through it too) starts MPI
 * (MPI_Init_thread) when nobody has and makes the communicator;
 * type_cleanup, at exit, frees it and finalizes MPI if it was started
 * here.  Every MPI call is made under the state's lock, so any thread may
 * use any instance.  Closing drops what the run still has queued on this
 * rank for workers not open here: with cleanup=1, and always when the last
 * of the run's instances here closes (a worker may clean up as it
 * finishes; what its peers still need stays).  Requests are calls (send,
 * receive; empty: a receive that timed out). */
#include "channels/channels.h"
#include "plugin/plugin.h"

#include <mpi.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RUN_BITS 15
#define MAX_WORKERS (1 << 15) /* the target's bits of a tag */
#define CLOSE_WAIT_MS 1000    /* for sends in flight to be received */

/* A send still in flight: its request and the copy it reads. */
typedef struct mpi_pending {
    MPI_Request req;
    void *buf;
} mpi_pending;

typedef struct mpi_channel {
    sdsinf_channel base;
    struct mpi_channel *next; /* in the list of open instances */
    int tag;               /* this worker's messages in this run */
    mpi_pending *pend;     /* sends in flight */
    int npend, cappend;
} mpi_channel;

/* What the process's instances share (the channel's type state). */
typedef struct mpi_state {
    pthread_mutex_t mu;     /* every MPI call */
    MPI_Comm comm;          /* ours, for all instances */
    int rank, size;
    int ours;               /* MPI was started here: finalized at exit */
    mpi_channel *open_list; /* this process's open instances */
} mpi_state;

static int tag_of(uint64_t run, int worker)
{
    return (int)((run & ((1u << RUN_BITS) - 1)) << RUN_BITS) | worker;
}

/* Frees the communicator and finalizes MPI if it was started here (at
 * exit: after every run and instance; nothing when the caller finalized
 * it already). */
static void mpi_type_cleanup(void *state)
{
    mpi_state *S = state;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && S->comm != MPI_COMM_NULL)
        MPI_Comm_free(&S->comm);
    if (!finalized && S->ours)
        MPI_Finalize();
    pthread_mutex_destroy(&S->mu);
    sdsinf__free(S);
}

/* Starts MPI if nobody has and makes the communicator. */
static int mpi_type_init(const sdsinf_channel_methods *m, void **state,
                         sdsinf_err *err)
{
    (void)m;
    int inited = 0, finalized = 0, provided;
    mpi_state *S = sdsinf__calloc(1, sizeof *S);
    if (!S)
        return sdsinf__fail(err, SDSINF_ENOMEM, "channel mpi: no memory");
    S->comm = MPI_COMM_NULL;
    MPI_Finalized(&finalized);
    MPI_Initialized(&inited);
    int rc = SDSINF_OK;
    if (finalized)
        rc = sdsinf__fail(err, SDSINF_EIO, "channel mpi: MPI was finalized "
                          "already");
    else if (!inited && MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED,
                                        &provided) != MPI_SUCCESS)
        rc = sdsinf__fail(err, SDSINF_EIO, "MPI_Init_thread failed: run "
                          "under mpirun (Open MPI), or as one process");
    S->ours = rc == SDSINF_OK && !inited;
    if (rc == SDSINF_OK &&
        MPI_Comm_dup(MPI_COMM_WORLD, &S->comm) != MPI_SUCCESS)
        rc = sdsinf__fail(err, SDSINF_EIO, "channel mpi: MPI_Comm_dup "
                          "failed");
    if (rc != SDSINF_OK) {
        if (S->ours)
            MPI_Finalize();
        sdsinf__free(S);
        return rc;
    }
    MPI_Comm_rank(S->comm, &S->rank);
    MPI_Comm_size(S->comm, &S->size);
    pthread_mutex_init(&S->mu, NULL);
    *state = S;
    return SDSINF_OK;
}

/* Frees the buffers of completed sends; under the lock. */
static void reap(mpi_channel *mc)
{
    for (int i = 0; i < mc->npend;) {
        int done = 0;
        MPI_Test(&mc->pend[i].req, &done, MPI_STATUS_IGNORE);
        if (!done) {
            i++;
            continue;
        }
        free(mc->pend[i].buf);
        mc->pend[i] = mc->pend[--mc->npend];
    }
}

static int mpi_open(sdsinf_channel *ch, const char *config, sdsinf_err *err)
{
    mpi_channel *mc = (mpi_channel *)ch;
    mpi_state *S = ch->type_state;
    (void)config;
    if (ch->workers > MAX_WORKERS)
        return sdsinf__fail(err, SDSINF_EINVAL, "channel mpi: at most %d "
                            "workers", MAX_WORKERS);
    if (ch->self % S->size != S->rank)
        return sdsinf__fail(err, SDSINF_EINVAL, "channel mpi: worker %d "
                            "belongs on rank %d of %d, not on rank %d",
                            ch->self, ch->self % S->size, S->size, S->rank);
    mc->tag = tag_of(ch->run, ch->self);
    pthread_mutex_lock(&S->mu);
    mc->next = S->open_list;
    S->open_list = mc;
    pthread_mutex_unlock(&S->mu);
    return SDSINF_OK;
}

static int mpi_send(sdsinf_channel *ch, const sdsinf_msg_key *key,
                    const void *msg, size_t len, sdsinf_err *err)
{
    mpi_channel *mc = (mpi_channel *)ch;
    mpi_state *S = ch->type_state;
    int rc = SDSINF_OK;
    SDSINF__COUNT(ch, send, 1);
    if (len > (size_t)ch->methods->max_message)
        return sdsinf__fail(err, SDSINF_EINVAL, "channel mpi: a message of "
                            "%zu bytes; at most %zu", len,
                            ch->methods->max_message);
    void *copy = malloc(len ? len : 1);
    if (!copy)
        return sdsinf__fail(err, SDSINF_ENOMEM, "channel mpi: no memory");
    memcpy(copy, msg, len);
    pthread_mutex_lock(&S->mu);
    reap(mc);
    if (mc->npend == mc->cappend) {
        int cap = mc->cappend ? 2 * mc->cappend : 16;
        mpi_pending *p = sdsinf__realloc(mc->pend, (size_t)cap * sizeof *p);
        if (!p)
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "channel mpi: no memory");
        else {
            mc->pend = p;
            mc->cappend = cap;
        }
    }
    int target = (int)key->target;
    if (rc == SDSINF_OK &&
        MPI_Isend(copy, (int)len, MPI_BYTE, target % S->size,
                  tag_of(ch->run, target), S->comm,
                  &mc->pend[mc->npend].req) != MPI_SUCCESS)
        rc = sdsinf__fail(err, SDSINF_EIO, "channel mpi: sending to worker "
                          "%d (rank %d) failed", target, target % S->size);
    if (rc == SDSINF_OK)
        mc->pend[mc->npend++].buf = copy;
    else
        free(copy);
    pthread_mutex_unlock(&S->mu);
    return rc;
}

/* Takes the next message with tag `tag`, if one is there; under the
 * lock. */
static int take(const mpi_state *S, int tag, void **msg, size_t *len,
                int *got, sdsinf_err *err)
{
    MPI_Status st;
    int flag = 0, count = 0;
    *got = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, tag, S->comm, &flag, &st);
    if (!flag)
        return SDSINF_OK;
    MPI_Get_count(&st, MPI_BYTE, &count);
    void *buf = malloc(count ? (size_t)count : 1);
    if (!buf)
        return sdsinf__fail(err, SDSINF_ENOMEM, "channel mpi: no memory for "
                            "a message of %d bytes", count);
    MPI_Recv(buf, count, MPI_BYTE, st.MPI_SOURCE, tag, S->comm,
             MPI_STATUS_IGNORE);
    *msg = buf;
    *len = (size_t)count;
    *got = 1;
    return SDSINF_OK;
}

static int mpi_recv(sdsinf_channel *ch, const sdsinf_msg_key *want,
                    void **msg, size_t *len, int timeout_ms, sdsinf_err *err)
{
    mpi_channel *mc = (mpi_channel *)ch;
    mpi_state *S = ch->type_state;
    double deadline = sdsinf__now() + timeout_ms / 1e3, pause_ms = 0.02;
    SDSINF__COUNT(ch, receive, 1);
    for (;;) {
        int got = 0;
        pthread_mutex_lock(&S->mu);
        reap(mc);
        int rc = take(S, mc->tag, msg, len, &got, err);
        pthread_mutex_unlock(&S->mu);
        if (rc != SDSINF_OK || got)
            return rc;
        if (sdsinf__now() >= deadline) {
            SDSINF__COUNT(ch, empty, 1);
            return sdsinf__fail(err, SDSINF_ETIMEDOUT, "channel mpi: worker "
                                "%d, layer %u, batch %u: no message from "
                                "worker %u within %d ms", ch->self,
                                want ? want->layer : 0,
                                want ? want->batch : 0,
                                want ? want->source : 0, timeout_ms);
        }
        sdsinf__sleep_ms(pause_ms);
        pause_ms = pause_ms * 2 < 2 ? pause_ms * 2 : 2;
    }
}

static int mpi_close(sdsinf_channel *ch, int cleanup, sdsinf_err *err)
{
    mpi_channel *mc = (mpi_channel *)ch;
    mpi_state *S = ch->type_state;
    (void)err;
    pthread_mutex_lock(&S->mu);
    int others = 0; /* of the run, open here */
    for (mpi_channel **p = &S->open_list; *p;) {
        if (*p == mc) {
            *p = mc->next;
            continue;
        }
        others += (*p)->base.run == ch->run;
        p = &(*p)->next;
    }
    for (int w = S->rank; (cleanup || !others) && w < ch->workers;
         w += S->size) {
        int open = 0;
        for (mpi_channel *o = S->open_list; o; o = o->next)
            open |= o->base.run == ch->run && o->base.self == w;
        for (int got = !open; got;) { /* what the run left for w */
            void *m = NULL;
            size_t n;
            take(S, tag_of(ch->run, w), &m, &n, &got, NULL);
            free(m);
        }
    }
    /* Sends in flight complete once their peers receive them: wait a
     * while; a peer that is gone never will, and such a send's request and
     * copy are left behind (MPI may still read it). */
    double deadline = sdsinf__now() + CLOSE_WAIT_MS / 1e3;
    for (reap(mc); mc->npend && sdsinf__now() < deadline; reap(mc)) {
        pthread_mutex_unlock(&S->mu);
        sdsinf__sleep_ms(1);
        pthread_mutex_lock(&S->mu);
    }
    for (int i = 0; i < mc->npend; i++)
        MPI_Request_free(&mc->pend[i].req);
    pthread_mutex_unlock(&S->mu);
    sdsinf__free(mc->pend);
    return SDSINF_OK;
}

const sdsinf_channel_methods sdsinf__channel_mpi = {
    .version = SDSINF_CHANNEL_VERSION,
    .name = "mpi",
    .instance_size = sizeof(mpi_channel),
    .caps = SDSINF_CAP_THREADSAFE,
    .max_message = (size_t)1 << 30,
    .open = mpi_open,
    .send = mpi_send,
    .recv = mpi_recv,
    .close = mpi_close,
    .type_init = mpi_type_init,
    .type_cleanup = mpi_type_cleanup,
};
