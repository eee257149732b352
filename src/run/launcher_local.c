/* run/launcher_local.c - the "local" launcher (the default): each worker a
 * process of this machine, started from its spec alone, as a remote one
 * would be: a fork that reads the serialised spec back and runs
 * sdsinf_worker_main, or, when the run names a worker executable (the
 * command line names itself), a fork that executes `sdsinf worker --quiet
 * --spec -` with the spec on its standard input.  The workers start as
 * SDS-Inf's launch tree (bfr children per node over nlevels): every node
 * starts its children before it loads its data, and watches them.
 *
 * Every process of the run maps the run's progress file (progress.h):
 * whoever starts a worker records its pid there, a worker records its last
 * call on the channel and its outcome, and whoever reaps it records its
 * end, so the coordinator sees at once the end of any worker of the tree
 * and names a death with the layer it had reached.  A worker dies with its
 * parent (PR_SET_PDEATHSIG): stopping the tree's roots stops the tree. */
#include "run/run.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define SPEC_PIPE_MAX 65536 /* a spec fits a pipe's buffer, written whole */

/* ---- Starting one worker ------------------------------------------------------ */

/* The body of worker w's process, forked by process `parent`: its spec
 * (text) read back and run, or executed as `exe worker --spec -` reading
 * it from `in`.  Never returns. */
static void worker_child(const sdsinf__progress *pr, int w, pid_t parent,
                         const char *text, size_t len, const char *exe,
                         int in)
{
    sdsinf_worker_spec s;
    sdsinf_err err = {0};
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
    if (exe) {
        if (dup2(in, 0) == 0) {
            close(in);
            execl(exe, "sdsinf", "worker", "--quiet", "--spec", "-",
                  (char *)NULL);
        }
        sdsinf__fail(&err, SDSINF_EIO, "worker %d: cannot run %s: %s (the "
                     "run's worker executable)", w, exe, strerror(errno));
        sdsinf__progress_outcome(pr, w, err.code, err.msg);
        _exit(127);
    }
    int rc = sdsinf_worker_spec_read(text, len, &s, &err);
    if (rc == SDSINF_OK)
        rc = sdsinf_worker_main(&s, &err);
    else /* it never started: its outcome tells why */
        sdsinf__progress_outcome(pr, w, rc, err.msg);
    _exit(rc == SDSINF_OK ? 0 : 1);
}

/* Starts worker w of spec base (its own spec: base with `worker` w) as a
 * process, recording its pid in the progress file. */
static int spawn(const sdsinf_worker_spec *base, int w,
                 const sdsinf__progress *pr, pid_t *out, sdsinf_err *err)
{
    sdsinf_worker_spec s = *base;
    char *text = NULL;
    size_t len = 0;
    int fds[2] = {-1, -1}, rc;
    s.worker = w;
    s.store_ = NULL;
    if ((rc = sdsinf_worker_spec_write(&s, &text, &len, err)) != SDSINF_OK)
        return rc;
    if (s.exec && (len > SPEC_PIPE_MAX || pipe(fds) != 0 ||
                   fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 ||
                   fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0 ||
                   write(fds[1], text, len) != (ssize_t)len)) {
        rc = sdsinf__fail(err, SDSINF_EIO, "worker %d: cannot hand its spec "
                          "to %s: %s", w, s.exec, strerror(errno));
        goto done;
    }
    if (fds[1] >= 0) { /* the child sees the end of it */
        close(fds[1]);
        fds[1] = -1;
    }
    pid_t self = getpid(), pid = fork();
    if (pid == 0)
        worker_child(pr, w, self, text, len, s.exec, fds[0]);
    if (pid < 0) {
        rc = sdsinf__fail(err, SDSINF_EIO, "cannot start worker %d: %s", w,
                          strerror(errno));
        goto done;
    }
    sdsinf__progress_set_pid(pr, w, (int)pid);
    *out = pid;
done:
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    free(text);
    return rc;
}

/* Starts the workers whose parent is `me` (-1: the coordinator) in the
 * spec's launch tree; pids[w] gets each one's pid. */
static int spawn_children(const sdsinf_worker_spec *s, const int *parent,
                          int me, const sdsinf__progress *pr, pid_t *pids,
                          sdsinf_err *err)
{
    int rc = SDSINF_OK;
    fflush(NULL); /* no buffered output duplicated into the children */
    for (int w = 0; w < s->workers && rc == SDSINF_OK; w++)
        if (parent[w] == me)
            rc = spawn(s, w, pr, &pids[w], err);
    return rc;
}

/* ---- In a worker: its children ---------------------------------------------------
 * A worker process starts its children before it loads, and a thread
 * reaps each as it ends, recording its end in the progress file at once
 * (the coordinator tells the run from there); the worker waits for them
 * all before it exits. */

typedef struct local_kids {
    sdsinf__progress pr;
    int workers;
    pid_t *pid;     /* per worker id: its pid while running, else 0 */
    pthread_t watcher;
    int watching;
    int failed;     /* a child ended other than with status 0 */
} local_kids;

/* Reaps a worker's children as they end, recording each end. */
static void *watch_kids(void *arg)
{
    local_kids *k = arg;
    for (;;) {
        int ws;
        pid_t pid = waitpid(-1, &ws, 0);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0) /* ECHILD: every child has ended */
            return NULL;
        for (int w = 0; w < k->workers; w++)
            if (k->pid[w] == pid) {
                k->pid[w] = 0;
                sdsinf__progress_reaped(&k->pr, w, ws);
                k->failed |= !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
            }
    }
}

/* Starts spec s's worker's children, and the thread that watches them. */
static int local_start_children(const sdsinf_worker_spec *s, void **out,
                                sdsinf_err *err)
{
    int *parent = NULL, rc = sdsinf__spec_tree(s, &parent, err), any = 0;
    local_kids *k = rc == SDSINF_OK ? sdsinf__calloc(1, sizeof *k) : NULL;
    if (rc == SDSINF_OK && (!k || !(k->pid = sdsinf__calloc(
                                        (size_t)s->workers, sizeof *k->pid))))
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    if (rc == SDSINF_OK) {
        k->workers = s->workers;
        if (s->progress) /* best effort: ends then go untold */
            sdsinf__progress_open(s->progress, s->workers, &k->pr, NULL);
        rc = spawn_children(s, parent, s->worker, &k->pr, k->pid, err);
        for (int w = 0; w < s->workers; w++)
            any |= k->pid[w] > 0;
        k->watching = any && pthread_create(&k->watcher, NULL, watch_kids,
                                            k) == 0;
    }
    sdsinf__free(parent);
    *out = k;
    return rc;
}

/* Waits for the children to end: SDSINF_EIO when one ended badly. */
static int local_end_children(void *arg)
{
    local_kids *k = arg;
    if (k->watching)
        pthread_join(k->watcher, NULL);
    else /* no thread: watch here, until every child has ended */
        watch_kids(k);
    int rc = k->failed ? SDSINF_EIO : SDSINF_OK;
    sdsinf__progress_close(&k->pr);
    sdsinf__free(k->pid);
    sdsinf__free(k);
    return rc;
}

/* ---- The coordinator's side ---------------------------------------------------- */

typedef struct local_run {
    sdsinf__progress pr;
    sdsinf_worker_spec spec; /* the run's, naming the progress file */
    char progress[4400];
    int *parent;
    pid_t *pid;              /* the roots' pids while running, else 0 */
    unsigned char *told;     /* ends told by poll */
    int workers;
} local_run;

/* Creates the run's progress file and starts the tree's roots. */
static int local_start(sdsinf_launch *l, sdsinf_err *err)
{
    const sdsinf_run_opts *o = l->opts;
    local_run *lr = sdsinf__calloc(1, sizeof *lr);
    int rc;
    if (!lr)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    l->state = lr;
    lr->workers = l->workers;
    lr->spec = *l->spec;
    lr->spec.exec = o->version >= 5 ? o->worker_exe : NULL;
    snprintf(lr->progress, sizeof lr->progress, "%s/progress", l->work_dir);
    lr->spec.progress = lr->progress;
    if ((rc = sdsinf__spec_tree(&lr->spec, &lr->parent, err)) != SDSINF_OK)
        return rc;
    lr->pid = sdsinf__calloc((size_t)l->workers, sizeof *lr->pid);
    lr->told = sdsinf__calloc((size_t)l->workers, 1);
    if (!lr->pid || !lr->told)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    if ((rc = sdsinf__progress_create(lr->progress, l->workers, &lr->pr,
                                      err)) != SDSINF_OK)
        return rc;
    l->ctx_->progress = &lr->pr; /* the run's progress display reads it */
    return spawn_children(&lr->spec, lr->parent, -1, &lr->pr, lr->pid, err);
}

/* Reaps root w if it has ended, recording its end. */
static void reap_root(local_run *lr, int w, int options)
{
    int ws;
    if (lr->pid[w] > 0 && waitpid(lr->pid[w], &ws, options) == lr->pid[w]) {
        lr->pid[w] = 0;
        sdsinf__progress_reaped(&lr->pr, w, ws);
    }
}

/* The next worker whose end the progress file holds (a root reaped here,
 * the others by their parents), with what it says. */
static int local_poll(sdsinf_launch *l, int *worker, sdsinf_err *err)
{
    local_run *lr = l->state;
    for (int w = 0; lr && w < lr->workers; w++) {
        int status;
        if (lr->told[w])
            continue;
        reap_root(lr, w, WNOHANG);
        if (!sdsinf__progress_ended(&lr->pr, w, &status))
            continue;
        lr->told[w] = 1;
        *worker = w;
        sdsinf__progress_explain(&lr->pr, w, status, l->ctx_->st->layers,
                                 l->channel, err);
        return 1;
    }
    return 0;
}

/* Kills the roots; their children die with them (PR_SET_PDEATHSIG). */
static void local_stop(sdsinf_launch *l)
{
    local_run *lr = l->state;
    for (int w = 0; lr && lr->pid && w < lr->workers; w++)
        if (lr->pid[w] > 0)
            kill(lr->pid[w], SIGKILL); /* the tree dies with them */
}

/* Reaps the roots, then waits (at most a few seconds) for the workers
 * they started, killed with them, to be gone too. */
static void local_wait(sdsinf_launch *l)
{
    local_run *lr = l->state;
    if (!lr)
        return;
    for (int w = 0; lr->pid && w < lr->workers; w++)
        reap_root(lr, w, 0);
    double until = sdsinf__now() + 5;
    for (int w = 0; w < lr->workers; w++) {
        int pid = sdsinf__progress_pid(&lr->pr, w);
        while (pid > 0 && !sdsinf__process_ended(pid) &&
               sdsinf__now() < until)
            sdsinf__sleep_ms(5);
    }
    sdsinf__progress_close(&lr->pr);
    sdsinf__free(lr->parent);
    sdsinf__free(lr->pid);
    sdsinf__free(lr->told);
    sdsinf__free(lr);
    l->state = NULL;
}

const sdsinf_launcher_methods sdsinf__launcher_local = {
    .version = SDSINF_LAUNCHER_VERSION,
    .name = "local",
    .caps = SDSINF_LAUNCH_TREE | SDSINF_LAUNCH_SPECS,
    .default_channel = "local",
    .start = local_start,
    .poll = local_poll,
    .stop = local_stop,
    .wait = local_wait,
    .start_children = local_start_children,
    .end_children = local_end_children,
};
