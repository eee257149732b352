/* run/launcher_local.c - the "local" launcher (the default): each worker a
 * process of this machine, started as SDS-Inf's launch tree (bfr children
 * per node over nlevels; every node starts its children before it loads
 * its data; channel "local").  Worker 0 hands the merged result back
 * through a pipe; every worker reports its statistics or its error
 * through another.  A worker that dies ends the run: whoever started it
 * (the coordinator, or its parent in the tree, which watches its children
 * from a thread) reports it at once, its peers are killed (also when the
 * coordinator dies: PR_SET_PDEATHSIG), and the error names it, with the
 * layer and batch of its last call on the channel (every worker's last
 * call sits in memory the processes share).
 * Sections: progress, processes. */
#include "run/run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- Progress ---------------------------------------------------------------
 * Every worker process records its pid and its last call on the channel
 * (send or receive, batch, layer) in a slot of memory all the run's
 * processes share: a run stopped by a death names the layer the dead worker
 * had reached, and the coordinator waits for every worker of the tree to be
 * gone before it cleans the channel up.  The worker's channel is wrapped in
 * a thin instance ("tracked") that writes the slot and calls the real one. */

typedef struct worker_slot {
    atomic_uint_least64_t last; /* call << 62 | batch << 32 | layer; 0: none */
    atomic_int pid;             /* 0: not started, or reaped */
} worker_slot;

enum { CALL_SEND = 1, CALL_RECV = 2 };

typedef struct tracked_channel {
    sdsinf_channel base;
    sdsinf_channel *inner;
    worker_slot *slot;
} tracked_channel;

static void track(tracked_channel *tc, int call, const sdsinf_msg_key *k)
{
    if (k)
        atomic_store_explicit(&tc->slot->last,
                              (uint64_t)call << 62 |
                                  (uint64_t)(k->batch & 0x3fffffffu) << 32 |
                                  k->layer,
                              memory_order_relaxed);
}

static int tracked_open(sdsinf_channel *ch, const char *config,
                        sdsinf_err *err)
{
    (void)config;
    return sdsinf__fail(err, SDSINF_ENOTSUP, "channel '%s': a tracked "
                        "instance is made by the run, not opened",
                        ch->methods->name);
}

static int tracked_send(sdsinf_channel *ch, const sdsinf_msg_key *key,
                        const void *msg, size_t len, sdsinf_err *err)
{
    tracked_channel *tc = (tracked_channel *)ch;
    track(tc, CALL_SEND, key);
    return sdsinf_channel_send(tc->inner, key, msg, len, err);
}

static int tracked_recv(sdsinf_channel *ch, const sdsinf_msg_key *want,
                        void **msg, size_t *len, int timeout_ms,
                        sdsinf_err *err)
{
    tracked_channel *tc = (tracked_channel *)ch;
    track(tc, CALL_RECV, want);
    return sdsinf_channel_recv(tc->inner, want, msg, len, timeout_ms, err);
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

/* The table of tracked instances of channel `m` (its name, caps and limit,
 * so the worker sees the channel it runs on). */
static sdsinf_channel_methods tracked_methods(const sdsinf_channel_methods *m)
{
    sdsinf_channel_methods t = {SDSINF_CHANNEL_VERSION, m->name,
                                sizeof(tracked_channel), m->caps,
                                m->max_message, tracked_open, tracked_send,
                                tracked_recv, tracked_close,
                                m->control ? tracked_control : NULL};
    return t;
}

/* W slots in memory shared with the processes forked after; NULL when
 * none could be mapped (deaths are then told without the layer). */
static worker_slot *slots_map(int W)
{
    int fd = open("/dev/zero", O_RDWR);
    void *p = fd < 0 ? MAP_FAILED
                     : mmap(NULL, (size_t)W * sizeof(worker_slot),
                            PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fd >= 0)
        close(fd);
    if (p == MAP_FAILED)
        return NULL;
    worker_slot *s = p;
    for (int w = 0; w < W; w++) {
        atomic_init(&s[w].last, 0);
        atomic_init(&s[w].pid, 0);
    }
    return s;
}

static void slots_unmap(worker_slot *s, int W)
{
    if (s)
        munmap(s, (size_t)W * sizeof *s);
}



/* The run as the processes share it: its data, the tree, the pipes'
 * write ends, the progress slots and the tracked channel's table. */
typedef struct proc_ctx {
    const run_ctx *c;
    const int *parent;
    int result_fd, report_fd; /* write ends */
    worker_slot *slots;       /* shared; NULL when none could be mapped */
    sdsinf_channel_methods track; /* tracked instances of the channel */
} proc_ctx;

/* Wraps worker w's channel *ch in a tracked instance writing its slot
 * (when there are slots); on failure *ch is closed. */
static int track_channel(const proc_ctx *pc, int w, sdsinf_channel **ch,
                         sdsinf_err *err)
{
    if (!pc->slots)
        return SDSINF_OK;
    tracked_channel *tc = sdsinf__calloc(1, sizeof *tc);
    if (!tc) {
        sdsinf_channel_close(*ch, 1, NULL);
        *ch = NULL;
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    }
    tc->base = **ch; /* methods replaced below; ids and run as opened */
    tc->base.methods = &pc->track;
    tc->inner = *ch;
    tc->slot = &pc->slots[w];
    *ch = &tc->base;
    return SDSINF_OK;
}

/* What a worker's death says: the worker, the signal, and its last call on
 * the channel (layer and batch). */
static void death_message(const proc_ctx *pc, int w, int sig, char *buf,
                          size_t cap)
{
    const run_ctx *c = pc->c;
    uint64_t last = pc->slots ? atomic_load_explicit(&pc->slots[w].last,
                                                    memory_order_relaxed)
                             : 0;
    unsigned call = (unsigned)(last >> 62);
    uint32_t layer = (uint32_t)last, batch = (uint32_t)(last >> 32) & 0x3fffffffu;
    if (!call)
        snprintf(buf, cap, "worker %d died (signal %d) before its first "
                 "call on channel %s; the run was stopped", w, sig,
                 c->channel);
    else
        snprintf(buf, cap, "worker %d died (signal %d) after its last call "
                 "on channel %s, a %s at layer %u%s of batch %u; the run was "
                 "stopped", w, sig, c->channel,
                 call == CALL_SEND ? "send" : "receive", layer,
                 layer > (uint32_t)c->m->layers ? " (the results)" : "",
                 batch);
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


static void spawn_children(const proc_ctx *pc, int me, pid_t *pids);

/* A worker process's watch over its children: each one's end as it comes,
 * a death reported for it at once (it could not report it itself), so the
 * run stops without its peers waiting out their timeouts. */
typedef struct kid_watch {
    const proc_ctx *pc;
    pid_t *kids;
    int failed; /* a child ended other than with status 0 */
} kid_watch;

static void *watch_kids(void *arg)
{
    kid_watch *kw = arg;
    const run_ctx *c = kw->pc->c;
    for (;;) {
        int ws;
        pid_t pid = waitpid(-1, &ws, 0);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0) /* ECHILD: every child has ended */
            return NULL;
        for (int k = 0; k < c->W; k++) {
            if (kw->kids[k] != pid)
                continue;
            kw->kids[k] = 0;
            if (kw->pc->slots)
                atomic_store(&kw->pc->slots[k].pid, 0);
            kw->failed |= !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
            if (WIFSIGNALED(ws)) {
                report d;
                memset(&d, 0, sizeof d);
                d.worker = k;
                d.final = 1;
                d.rc = SDSINF_EIO;
                death_message(kw->pc, k, WTERMSIG(ws), d.msg, sizeof d.msg);
                write_all(kw->pc->report_fd, &d, sizeof d);
            }
        }
    }
}

/* The body of worker w's process (its parent is process `parent`):
 * children first, then its own data and layers, then its children's
 * fates.  Never returns. */
static void worker_process(const proc_ctx *pc, int w, pid_t parent)
{
    const run_ctx *c = pc->c;
    one_worker t;
    report r;
    pthread_t watcher;
    int watching = 0;
    pid_t *kids = sdsinf__calloc((size_t)c->W, sizeof *kids);
    kid_watch kw = {pc, kids, 0};
    memset(&t, 0, sizeof t);
    memset(&r, 0, sizeof r);
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* die with the parent */
    if (getppid() != parent) /* it died before that took effect */
        _exit(3);
    /* The caller's SIGINT and SIGTERM handlers are for its own process: a
     * worker so signalled dies, and whoever started it reports that; on
     * a cancel its coordinator stops it and cleans up for it. */
    for (int k = 0; k < 2; k++) {
        struct sigaction sa;
        int sig = k ? SIGTERM : SIGINT;
        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_IGN)
            signal(sig, SIG_DFL);
    }
    if (pc->slots)
        atomic_store(&pc->slots[w].pid, (int)getpid());
    if (kids) {
        spawn_children(pc, w, kids);
        for (int k = 0; k < c->W && !watching; k++)
            watching = kids[k] > 0 &&
                       pthread_create(&watcher, NULL, watch_kids, &kw) == 0;
    }
    r.worker = w;
    r.rc = kids ? sdsinf__worker_setup(c, w, &t, &t.err) : SDSINF_ENOMEM;
    if (r.rc == SDSINF_OK)
        r.rc = track_channel(pc, w, &t.wo.channel, &t.err);
    t.wo.cancel = NULL; /* see above */
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
    sdsinf__worker_teardown(&t);
    if (watching)
        pthread_join(watcher, NULL);
    else if (kids) /* no thread: watch here, until every child has ended */
        watch_kids(&kw);
    _exit(r.rc == SDSINF_OK && !kw.failed ? 0 : 1);
}

/* Starts the workers whose parent is `me` (the coordinator is -1). */
static void spawn_children(const proc_ctx *pc, int me, pid_t *pids)
{
    pid_t self = getpid();
    for (int w = 0; w < pc->c->W; w++) {
        if (pc->parent[w] != me)
            continue;
        pid_t pid = fork();
        if (pid == 0)
            worker_process(pc, w, self);
        pids[w] = pid;
    }
}

/* Waits (at most a few seconds) for the workers not started by this
 * process, killed with their parents, to be gone. */
static void await_tree(const proc_ctx *pc)
{
    double until = sdsinf__now() + 5;
    for (int w = 0; pc->slots && w < pc->c->W; w++) {
        pid_t pid = atomic_load(&pc->slots[w].pid);
        while (pid > 0 && !sdsinf__process_ended(pid) && sdsinf__now() < until)
            sdsinf__sleep_ms(5);
    }
}

/* Starts the tree's roots, then takes the results, reports and deaths as
 * they come, until every worker is gone. */
static int local_start(sdsinf_launch *l, sdsinf_err *err)
{
    const run_ctx *c = l->ctx_;
    sdsinf_run_stats *st = c->st;
    double *ready = &l->ctx_->ready;
    const sdsinf_run_opts *o = c->o;
    int W = c->W, rc = SDSINF_OK, result[2] = {-1, -1}, rep[2] = {-1, -1};
    int *parent = sdsinf__mallocarray((size_t)W, sizeof *parent);
    pid_t *pids = sdsinf__calloc((size_t)W, sizeof *pids);
    proc_ctx pc = {c, NULL, -1, -1, NULL, {0}};
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
    pc.parent = parent;
    pc.result_fd = result[1];
    pc.report_fd = rep[1];
    if ((pc.slots = slots_map(W)))
        pc.track = tracked_methods(sdsinf_channel_find(c->channel));
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
    int have_first = 0, stopping = 0, nreports = 0, open_fds = 2, cancel = 0;
    double last_ready = 0;
    struct pollfd fds[2] = {{result[0], POLLIN, 0}, {rep[0], POLLIN, 0}};
    memset(&first, 0, sizeof first);
    if (!tmp) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        stopping = 1;
        for (int w = 0; w < W; w++)
            if (pids[w] > 0)
                kill(pids[w], SIGKILL);
    }
    while (tmp && open_fds > 0) {
        if (c->cancel && *c->cancel && !stopping) {
            cancel = stopping = 1;
            for (int w = 0; w < W; w++)
                if (pids[w] > 0)
                    kill(pids[w], SIGKILL); /* the tree dies with them */
        }
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
                sdsinf__records_put(st, r.rec, r.nrec < REPORT_RECORDS ? r.nrec
                                                               : REPORT_RECORDS);
            } else if (whole) {
                nreports++;
                sdsinf__stats_add(st, &r.st);
                last_ready = r.ready > last_ready ? r.ready : last_ready;
                /* the first failure, unless a worker's own error (or
                 * death) follows a timeout; none once the run is stopped:
                 * those are the stop's own */
                if (r.rc != SDSINF_OK && !stopping &&
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
        for (int w = 0; w < W; w++) {
            int ws;
            if (pids[w] <= 0 || waitpid(pids[w], &ws, WNOHANG) != pids[w])
                continue;
            pids[w] = 0;
            if (pc.slots)
                atomic_store(&pc.slots[w].pid, 0);
            if (WIFSIGNALED(ws) && !stopping &&
                (!have_first || first.rc == SDSINF_ETIMEDOUT)) {
                first.rc = SDSINF_EIO;
                death_message(&pc, w, WTERMSIG(ws), first.msg,
                              sizeof first.msg);
                have_first = 1;
            }
        }
        if (have_first && !stopping) { /* stop the rest: no one waits */
            stopping = 1;
            for (int w = 0; w < W; w++)
                if (pids[w] > 0)
                    kill(pids[w], SIGKILL);
        }
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
    /* a failure that came with a cancel (the signal also hit the workers)
     * is the cancel's */
    cancel |= have_first && c->cancel && *c->cancel;
    int cleaned = 0;
    if (have_first || cancel || rc != SDSINF_OK) {
        /* killed workers could not clean up: once they are all gone (their
         * children die with them), do it for the run */
        sdsinf_channel *ch = NULL;
        await_tree(&pc);
        if (sdsinf_channel_open(c->channel, o->channel_config, 0, W, c->run,
                                &ch, NULL) == SDSINF_OK)
            cleaned = sdsinf_channel_close(ch, 1, NULL) == SDSINF_OK;
    }
    if (rc != SDSINF_OK)
        goto done;
    if (cancel)
        rc = sdsinf__canceled(c, cleaned, err);
    else if (have_first)
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
    slots_unmap(pc.slots, W);
    sdsinf__free(parent);
    sdsinf__free(pids);
    return rc;
}

const sdsinf_launcher_methods sdsinf__launcher_local = {
    .version = SDSINF_LAUNCHER_VERSION,
    .name = "local",
    .caps = SDSINF_LAUNCH_TREE,
    .default_channel = "local",
    .start = local_start,
};
