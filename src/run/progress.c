/* run/progress.c - a run's progress file (progress.h): the slots, mapped
 * shared by every process of the run, and the tracked channel instance
 * that writes a worker's last call into its slot before calling the real
 * channel. */
#include "run/progress.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "slots shared between processes need lock-free atomics");

typedef struct progress_slot {
    atomic_uint_least64_t last; /* call << 62 | batch << 32 | layer; 0: none */
    atomic_int pid;             /* 0: not started, or reaped */
    atomic_int reaped;          /* 1: status holds its wait status */
    atomic_int status;
    atomic_int has_outcome;     /* 1: rc and msg are the worker's */
    int rc;
    char msg[256];
} progress_slot;

enum { CALL_SEND = 1, CALL_RECV = 2 };

/* Maps path (fd open) as `workers` slots. */
static int progress_map(int fd, const char *path, int workers,
                        sdsinf__progress *pr, sdsinf_err *err)
{
    size_t size = (size_t)workers * sizeof(progress_slot);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return sdsinf__fail(err, SDSINF_EIO, "%s: cannot map the run's "
                            "progress file: %s", path, strerror(errno));
    pr->slot = p;
    pr->workers = workers;
    return SDSINF_OK;
}

int sdsinf__progress_create(const char *path, int workers,
                            sdsinf__progress *pr, sdsinf_err *err)
{
    memset(pr, 0, sizeof *pr);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 ||
        ftruncate(fd, (off_t)((size_t)workers * sizeof(progress_slot))) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return sdsinf__fail(err, SDSINF_EIO, "%s: cannot create the run's "
                            "progress file: %s", path, strerror(e));
    }
    return progress_map(fd, path, workers, pr, err); /* zero: all idle */
}

int sdsinf__progress_open(const char *path, int workers,
                          sdsinf__progress *pr, sdsinf_err *err)
{
    struct stat st;
    memset(pr, 0, sizeof *pr);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return sdsinf__fail(err, SDSINF_EIO, "%s: cannot open the run's "
                            "progress file: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 ||
        (uint64_t)st.st_size != (uint64_t)workers * sizeof(progress_slot)) {
        close(fd);
        return sdsinf__fail(err, SDSINF_EINVAL, "%s: not the progress file "
                            "of a run of %d workers", path, workers);
    }
    return progress_map(fd, path, workers, pr, err);
}

void sdsinf__progress_close(sdsinf__progress *pr)
{
    if (pr->slot)
        munmap(pr->slot, (size_t)pr->workers * sizeof(progress_slot));
    memset(pr, 0, sizeof *pr);
}

/* Worker w's slot, or NULL (none mapped, or w out of range). */
static progress_slot *slot_of(const sdsinf__progress *pr, int w)
{
    return pr->slot && w >= 0 && w < pr->workers ? &pr->slot[w] : NULL;
}

void sdsinf__progress_set_pid(const sdsinf__progress *pr, int w, int pid)
{
    progress_slot *s = slot_of(pr, w);
    if (s)
        atomic_store(&s->pid, pid);
}

int sdsinf__progress_pid(const sdsinf__progress *pr, int w)
{
    progress_slot *s = slot_of(pr, w);
    return s ? atomic_load(&s->pid) : 0;
}

void sdsinf__progress_reaped(const sdsinf__progress *pr, int w, int status)
{
    progress_slot *s = slot_of(pr, w);
    if (!s)
        return;
    atomic_store(&s->status, status);
    atomic_store(&s->reaped, 1);
    atomic_store(&s->pid, 0);
}

int sdsinf__progress_ended(const sdsinf__progress *pr, int w, int *status)
{
    progress_slot *s = slot_of(pr, w);
    if (!s || !atomic_load(&s->reaped))
        return 0;
    *status = atomic_load(&s->status);
    return 1;
}

void sdsinf__progress_outcome(const sdsinf__progress *pr, int w, int rc,
                              const char *msg)
{
    progress_slot *s = slot_of(pr, w);
    if (!s)
        return;
    s->rc = rc;
    snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "");
    atomic_store(&s->has_outcome, 1); /* after them: a reader sees both */
}

void sdsinf__progress_explain(const sdsinf__progress *pr, int w, int status,
                              int32_t layers, const char *channel,
                              sdsinf_err *err)
{
    progress_slot *s = slot_of(pr, w);
    uint64_t last = s ? atomic_load_explicit(&s->last, memory_order_relaxed)
                      : 0;
    unsigned call = (unsigned)(last >> 62);
    uint32_t layer = (uint32_t)last,
             batch = (uint32_t)(last >> 32) & 0x3fffffffu;
    if (WIFSIGNALED(status) && !call)
        sdsinf__fail(err, SDSINF_EIO, "worker %d died (signal %d) before its "
                     "first call on channel %s; the run was stopped", w,
                     WTERMSIG(status), channel);
    else if (WIFSIGNALED(status))
        sdsinf__fail(err, SDSINF_EIO, "worker %d died (signal %d) after its "
                     "last call on channel %s, a %s at layer %u%s of batch "
                     "%u; the run was stopped", w, WTERMSIG(status), channel,
                     call == CALL_SEND ? "send" : "receive", layer,
                     layer > (uint32_t)layers ? " (the results)" : "", batch);
    else if (s && atomic_load(&s->has_outcome))
        sdsinf__fail(err, s->rc, "%s", s->msg);
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        sdsinf__fail(err, SDSINF_OK, "worker %d ended", w);
    else
        sdsinf__fail(err, SDSINF_EIO, "worker %d ended with exit status %d "
                     "before it said why (channel %s)", w,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1, channel);
}

int64_t sdsinf__progress_steps(const sdsinf__progress *pr, int w,
                               int32_t layers)
{
    progress_slot *s = slot_of(pr, w);
    uint64_t last = s ? atomic_load_explicit(&s->last, memory_order_relaxed)
                      : 0;
    int64_t layer = (int64_t)(uint32_t)last,
            batch = (int64_t)((uint32_t)(last >> 32) & 0x3fffffffu);
    return last ? batch * ((int64_t)layers + 1) + (layer > 0 ? layer - 1 : 0)
                : 0;
}

/* ---- The tracked channel ------------------------------------------------------ */

typedef struct tracked_channel {
    sdsinf_channel base;
    sdsinf_channel *inner;
    progress_slot *slot;
} tracked_channel;

/* Records a call on the channel (send or receive, batch, layer). */
static void track(tracked_channel *tc, int call, const sdsinf_msg_key *k)
{
    if (k)
        atomic_store_explicit(&tc->slot->last,
                              (uint64_t)call << 62 |
                                  (uint64_t)(k->batch & 0x3fffffffu) << 32 |
                                  k->layer,
                              memory_order_relaxed);
}

/* The methods of a tracked instance: record, then call the inner one. */
static int tracked_open(sdsinf_channel *ch, const char *config,
                        sdsinf_err *err)
{
    (void)config;
    return sdsinf__fail(err, SDSINF_ENOTSUP, "channel '%s': a tracked "
                        "instance is made by the run, not opened",
                        ch->methods->name);
}

/* A call's status, once the inner instance's requests are the tracked
 * one's. */
static int tracked_done(tracked_channel *tc, int rc)
{
    sdsinf_channel_requests(tc->inner, &tc->base.requests);
    return rc;
}

static int tracked_send(sdsinf_channel *ch, const sdsinf_msg_key *key,
                        const void *msg, size_t len, sdsinf_err *err)
{
    tracked_channel *tc = (tracked_channel *)ch;
    track(tc, CALL_SEND, key);
    return tracked_done(tc, sdsinf_channel_send(tc->inner, key, msg, len,
                                                err));
}

static int tracked_flush(sdsinf_channel *ch, sdsinf_err *err)
{
    tracked_channel *tc = (tracked_channel *)ch;
    return tracked_done(tc, sdsinf_channel_flush(tc->inner, err));
}

static int tracked_recv(sdsinf_channel *ch, const sdsinf_msg_key *want,
                        void **msg, size_t *len, int timeout_ms,
                        sdsinf_err *err)
{
    tracked_channel *tc = (tracked_channel *)ch;
    track(tc, CALL_RECV, want);
    return tracked_done(tc, sdsinf_channel_recv(tc->inner, want, msg, len,
                                                timeout_ms, err));
}

static int tracked_close(sdsinf_channel *ch, int cleanup, sdsinf_err *err)
{
    return sdsinf_channel_close(((tracked_channel *)ch)->inner, cleanup, err);
}

static int tracked_control(sdsinf_channel *ch, int op, void *arg,
                           sdsinf_err *err)
{
    return sdsinf_channel_control(((tracked_channel *)ch)->inner, op, arg,
                                  err);
}

int sdsinf__progress_track(const sdsinf__progress *pr, int w,
                           sdsinf_channel_methods *table, sdsinf_channel **ch,
                           sdsinf_err *err)
{
    progress_slot *s = slot_of(pr, w);
    if (!s)
        return SDSINF_OK;
    tracked_channel *tc = sdsinf__calloc(1, sizeof *tc);
    if (!tc) {
        sdsinf_channel_close(*ch, 1, NULL);
        *ch = NULL;
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    }
    /* the inner channel's name, caps and limit: the worker sees the
     * channel it runs on */
    const sdsinf_channel_methods *m = (*ch)->methods;
    sdsinf_channel_methods t = {.version = SDSINF_CHANNEL_VERSION,
                                .name = m->name,
                                .instance_size = sizeof(tracked_channel),
                                .caps = m->caps,
                                .max_message = m->max_message,
                                .open = tracked_open,
                                .send = tracked_send,
                                .recv = tracked_recv,
                                .close = tracked_close,
                                .control = m->control ? tracked_control
                                                      : NULL,
                                .flush = tracked_flush};
    *table = t;
    tc->base = **ch; /* methods replaced below; ids and run as opened */
    tc->base.methods = table;
    tc->inner = *ch;
    tc->slot = s;
    *ch = &tc->base;
    return SDSINF_OK;
}
