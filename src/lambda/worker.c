/* lambda/worker.c - a worker as a Lambda invocation (sdsinf_lambda_worker):
 * the worker of its spec, run as any worker from a spec is
 * (sdsinf__worker_main_in), with the invocation's deadline respected (its
 * waits capped by the time left; a CLOCK_REALTIME timer at the deadline
 * less SDSINF_LAMBDA_MARGIN_MS raises its cancel flag, so it stops with
 * time left to report and answer) and the process's cache, so a warm
 * function does not load the same plan and shard again.  Its report tells
 * the coordinator the invocation's duration and the function's memory
 * ($AWS_LAMBDA_FUNCTION_MEMORY_SIZE), what Lambda bills. */
#include "run/run.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t past_deadline; /* this process's one timer's */

static void on_deadline(int sig)
{
    (void)sig;
    past_deadline = 1;
}

/* Arms *timer to raise SIGALRM at Unix time at_ms, its handler setting
 * past_deadline (installed once: a signal still pending after the timer
 * is deleted finds it). */
static int deadline_arm(int64_t at_ms, timer_t *timer, sdsinf_err *err)
{
    static int installed;
    struct sigaction sa;
    struct sigevent ev;
    memset(&sa, 0, sizeof sa);
    memset(&ev, 0, sizeof ev);
    sa.sa_handler = on_deadline;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGALRM;
    struct itimerspec at = {{0, 0}, {(time_t)(at_ms / 1000),
                                     (long)(at_ms % 1000) * 1000000L}};
    past_deadline = 0;
    if (!installed && sigaction(SIGALRM, &sa, NULL) != 0)
        return sdsinf__fail(err, SDSINF_EIO, "cannot catch SIGALRM for the "
                            "invocation's deadline");
    installed = 1;
    if (timer_create(CLOCK_REALTIME, &ev, timer) != 0)
        return sdsinf__fail(err, SDSINF_EIO, "cannot make a timer for the "
                            "invocation's deadline");
    if (timer_settime(*timer, TIMER_ABSTIME, &at, NULL) != 0) {
        timer_delete(*timer);
        return sdsinf__fail(err, SDSINF_EIO, "cannot set the timer for the "
                            "invocation's deadline");
    }
    return SDSINF_OK;
}

int sdsinf_lambda_worker(const sdsinf_lambda_invocation *inv,
                         const sdsinf_worker_spec *s, char **body,
                         size_t *len, sdsinf_err *err)
{
    sdsinf__worker_env env = {&past_deadline, 0, inv->cache, 0, 0, 0};
    double t0 = sdsinf__wall_now();
    const char *mb = getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
    sdsinf__peak_reset(); /* this invocation's peak, what it kept included */
    long mbv = mb ? strtol(mb, NULL, 10) : 0;
    env.billed_from = t0; /* its report bills from here, at this memory */
    env.billed_mb = mbv > 0 && mbv < (1L << 20) ? (uint32_t)mbv : 0;
    int64_t left_ms = inv->deadline_ms - (int64_t)(t0 * 1e3);
    timer_t timer;
    int w = s ? s->worker : -1, rc;
    if (left_ms <= SDSINF_LAMBDA_MARGIN_MS)
        return sdsinf__fail(err, SDSINF_ETIMEDOUT, "worker %d: the "
                            "invocation's deadline (Lambda-Runtime-Deadline-"
                            "Ms %" PRId64 ") is %" PRId64 " ms away, too "
                            "close to start: give the function a longer "
                            "timeout", w, inv->deadline_ms, left_ms);
    env.timeout_cap_ms = left_ms > INT32_MAX ? INT32_MAX : (int)left_ms;
    if ((rc = deadline_arm(inv->deadline_ms - SDSINF_LAMBDA_MARGIN_MS, &timer,
                           err)) != SDSINF_OK)
        return rc;
    rc = sdsinf__worker_main_in(s, &env, err);
    timer_delete(timer);
    double took = sdsinf__wall_now() - t0;
    if (rc != SDSINF_OK && past_deadline)
        return sdsinf__fail(err, SDSINF_ETIMEDOUT, "worker %d: unfinished "
                            "%d ms before the invocation's deadline (Lambda-"
                            "Runtime-Deadline-Ms %" PRId64 ", %.0f ms after "
                            "it started), so it stopped: give the function "
                            "a longer timeout or the run more workers", w,
                            SDSINF_LAMBDA_MARGIN_MS, inv->deadline_ms,
                            (double)left_ms);
    if (rc != SDSINF_OK)
        return rc;
    char *out = sdsinf__malloc(256);
    if (!out)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for the answer");
    int n = snprintf(out, 256, "{\"worker\":%d,\"workers\":%d,\"run\":\"%016"
                     PRIx64 "\",\"loaded\":%s,\"loads\":%" PRId64
                     ",\"seconds\":%.3f}", s->worker, s->workers, s->run,
                     env.loaded ? "true" : "false",
                     sdsinf_worker_cache_loads(inv->cache), took);
    *body = out;
    *len = (size_t)n;
    return SDSINF_OK;
}
