/* run/launcher_lambda.c - the "lambda" launcher: each worker an
 * invocation of an AWS Lambda function whose bootstrap is the sdsinf
 * executable (tools/lambda.c), its event {"worker_spec": TEXT} the
 * worker's spec, which sdsinf_lambda_worker runs.  The function is the
 * run option `function` (the CLI takes it from a stack's outputs, or
 * --function), else the one this process runs in.
 *
 * The workers start as SDS-Inf's launch tree (bfr children per worker over
 * nlevels): the coordinator invokes the roots and every worker invokes its
 * children before it loads its data (start_children), each invocation
 * asynchronous (InvocationType Event) and all of one worker's at once, so
 * the tree is up in nlevels round trips.  The workers share no file with
 * the coordinator (SDSINF_LAUNCH_REMOTE): they read the plan, their shards
 * and their inputs from S3 alone, and report over the run's channel.
 *
 * The coordinator cannot see the invocations (no poll, no stop): it knows
 * its workers from their start notes and reports (gather.c), so one not
 * heard from within the start timeout (by default the run's timeout) is
 * named, and one that dies is named by the peers that wait for it, each
 * wait bounded by the run's timeout.  Once the run fails (a worker's
 * invocation of its children refused, a worker's error or death, a
 * cancel) the coordinator tells every worker it has heard from and that
 * is still running to stop over the run's channel, so that the
 * invocations end (and stop billing) within a wait, not at the run's
 * timeout.  Each report carries the invocation's duration and the
 * function's memory: the run's Lambda usage. */
#include "aws/lambda.h"
#include "run/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 30000 /* the run's, when it gives none */

/* The event of worker w of spec base, {"worker_spec": TEXT} (malloc'd). */
static int event_of(const sdsinf_worker_spec *base, int w, char **out,
                    size_t *len, sdsinf_err *err)
{
    static const char head[] = "{\"worker_spec\":\"", tail[] = "\"}";
    sdsinf_worker_spec s = *base;
    char *text = NULL;
    size_t n = 0;
    s.worker = w;
    s.store_ = NULL;
    int rc = sdsinf_worker_spec_write(&s, &text, &n, err);
    if (rc != SDSINF_OK)
        return rc;
    size_t body = sdsinf__aws_json_escape(text, NULL, 0);
    size_t cap = sizeof head + body + sizeof tail;
    char *ev = sdsinf__malloc(cap);
    if (!ev) {
        free(text);
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for worker %d's "
                            "event", w);
    }
    memcpy(ev, head, sizeof head - 1);
    sdsinf__aws_json_escape(text, ev + sizeof head - 1, body + 1);
    memcpy(ev + sizeof head - 1 + body, tail, sizeof tail);
    free(text);
    *out = ev;
    *len = sizeof head - 1 + body + sizeof tail - 1;
    return SDSINF_OK;
}

/* Invokes function fn for the workers whose parent is `me` (-1: the
 * coordinator) in spec s's launch tree, all at once: the first failure,
 * naming the worker, once every invocation has ended. */
static int invoke_children(const char *fn, const sdsinf_worker_spec *s,
                           int me, sdsinf_err *err)
{
    int W = s->workers, *parent = NULL, rc;
    sdsinf_aws *a = NULL;
    sdsinf_lambda_call *call = sdsinf__calloc((size_t)W, sizeof *call);
    char **event = sdsinf__calloc((size_t)W, sizeof *event);
    sdsinf_err e = {0};
    if (!call || !event)
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    else if ((rc = sdsinf__spec_tree(s, &parent, err)) == SDSINF_OK)
        rc = sdsinf__aws_new(&a, err);
    for (int w = 0; rc == SDSINF_OK && w < W; w++) {
        size_t len = 0;
        if (parent[w] != me)
            continue;
        if ((rc = event_of(s, w, &event[w], &len, err)) == SDSINF_OK &&
            (rc = sdsinf__lambda_invoke_start(a, fn, 0, event[w], len, NULL,
                                              &call[w], &e)) != SDSINF_OK)
            sdsinf__fail(err, rc, "worker %d: not invoked: %s", w, e.msg);
    }
    for (int w = 0; call && w < W; w++) {
        if (!call[w].p)
            continue;
        int one = sdsinf__lambda_invoke_end(&call[w], NULL, NULL, &e);
        if (one != SDSINF_OK && rc == SDSINF_OK)
            rc = sdsinf__fail(err, one, "worker %d: not invoked: %s", w,
                              e.msg);
    }
    for (int w = 0; event && w < W; w++)
        sdsinf__free(event[w]);
    sdsinf__free(event);
    sdsinf__free(call);
    sdsinf__free(parent);
    sdsinf__aws_free(a);
    return rc;
}

/* ---- The coordinator's side ---------------------------------------------------- */

/* Invokes the tree's roots.  Workers that never start are named after the
 * run's timeout (they start in seconds, or their invocation failed). */
static int lambda_start(sdsinf_launch *l, sdsinf_err *err)
{
    const sdsinf_run_opts *o = l->opts;
    const char *fn = o->version >= 8 && o->function ? o->function
                                                    : getenv("AWS_LAMBDA_"
                                                             "FUNCTION_NAME");
    if (!fn || !fn[0])
        return sdsinf__fail(err, SDSINF_EINVAL, "launcher lambda: which "
                            "function runs the workers? give a stack deployed "
                            "with its package (--stack NAME) or the function "
                            "(run option function, --function NAME)");
    int rc = sdsinf__lambda_name_check(fn, err);
    if (rc != SDSINF_OK)
        return rc;
    l->ctx_->start_default_ms = o->timeout_ms > 0 ? o->timeout_ms
                                                  : DEFAULT_TIMEOUT_MS;
    l->ctx_->start_hint = "their invocations failed, were throttled or "
                          "queued too long: see the function's log group, "
                          "or give a longer --start-timeout-ms";
    return invoke_children(fn, l->spec, -1, err);
}

/* ---- In a worker: its children ------------------------------------------------ */

/* Test hooks (cli.lambda_launch): SDSINF_TEST_CHILD_FUNCTION=w:NAME has
 * worker w invoke its children on function NAME (one that does not exist:
 * an Invoke refused mid-tree), fn for the others; SDSINF_TEST_CHILD_DELAY=
 * w:MS has worker w wait MS ms first (its subtree invoked late: after its
 * run ended). */
static const char *child_function(int self, const char *fn)
{
    const char *s = getenv("SDSINF_TEST_CHILD_FUNCTION");
    const char *d = getenv("SDSINF_TEST_CHILD_DELAY");
    int w, at = 0, ms;
    if (d && sscanf(d, "%d:%d", &w, &ms) == 2 && w == self)
        sdsinf__sleep_ms(ms);
    return s && sscanf(s, "%d:%n", &w, &at) == 1 && at > 0 && w == self
               ? s + at
               : fn;
}

/* Invokes the worker's children on the function it runs in; they run on
 * their own (nothing to wait for: *kids stays NULL). */
static int lambda_start_children(const sdsinf_worker_spec *s, void **kids,
                                 sdsinf_err *err)
{
    const char *fn = getenv("AWS_LAMBDA_FUNCTION_NAME");
    *kids = NULL;
    if (!fn || !fn[0])
        return sdsinf__fail(err, SDSINF_EINVAL, "worker %d: launcher lambda, "
                            "but not in a Lambda function "
                            "($AWS_LAMBDA_FUNCTION_NAME unset): its children "
                            "cannot be invoked", s->worker);
    return invoke_children(child_function(s->worker, fn), s, s->worker,
                           err);
}

static int lambda_end_children(void *kids)
{
    (void)kids;
    return SDSINF_OK;
}

const sdsinf_launcher_methods sdsinf__launcher_lambda = {
    .version = SDSINF_LAUNCHER_VERSION,
    .name = "lambda",
    .caps = SDSINF_LAUNCH_TREE | SDSINF_LAUNCH_SPECS | SDSINF_LAUNCH_REMOTE,
    .default_channel = "sqs",
    .start = lambda_start,
    .start_children = lambda_start_children,
    .end_children = lambda_end_children,
};
