/* aws/stack.c - the deployed stack (sdsinf.h's sdsinf_stack_*): describe,
 * deploy and destroy waiting for CloudFormation with its events as
 * progress, the channels' settings from the stack's outputs, and the
 * function's package stored in the stack's bucket.  Sections: the client,
 * waiting, the calls, destroy, the channels' settings, the package. */
#include "aws/cloudformation.h"
#include "aws/ec2.h"
#include "aws/s3.h"
#include "core/location.h"
#include "package/package.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_LIMIT_S 3600.0    /* the longest deploy or destroy */
#define POLL_FIRST_MS 250.0    /* the first wait between DescribeStacks */
#define POLL_MAX_MS 5000.0

/* ---- The client ---------------------------------------------------------- */

/* A client for one call (freed by the caller). */
static int client(sdsinf_aws **a, sdsinf_err *err)
{
    *a = NULL;
    return sdsinf__aws_new(a, err);
}

static int no_stack(const char *name, sdsinf_err *err)
{
    return sdsinf__fail(err, SDSINF_EINVAL,
                        "no stack '%.100s' in this account and region "
                        "(sdsinf aws deploy --stack %.100s makes it)",
                        name, name);
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && !strcmp(s + n - t, tail);
}

/* ---- Waiting --------------------------------------------------------------- */

/* The events already reported, and the first failure's words. */
typedef struct watch {
    sdsinf_stack_progress progress; /* NULL: only mark events seen */
    void *arg;
    char **seen;        /* event ids reported */
    int nseen, cap;
    char *lines[100];   /* this page's new events, newest first */
    int nlines;
    char page_failed[200]; /* the oldest failure of the page */
    char failed[200];   /* the oldest failure: "Queue3 (AWS::SQS::Queue):
                           reason" */
    int nfailed;
} watch;

static int seen_before(const watch *w, const char *id)
{
    for (int i = 0; i < w->nseen; i++)
        if (!strcmp(w->seen[i], id))
            return 1;
    return 0;
}

/* A copy of s, or NULL (memory). */
static char *copy(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = sdsinf__malloc(n);
    return c ? memcpy(c, s, n) : NULL;
}

/* Notes an event not seen yet (they come newest first). */
static int note_event(void *u, const sdsinf_stack_item *it)
{
    watch *w = u;
    char line[800];
    if (!it->id[0] || seen_before(w, it->id) || w->nlines == 100)
        return 0;
    if (w->nseen == w->cap) {
        int nc = w->cap ? 2 * w->cap : 64;
        char **ns = sdsinf__realloc(w->seen, (size_t)nc * sizeof *ns);
        if (!ns)
            return SDSINF_ENOMEM;
        w->seen = ns;
        w->cap = nc;
    }
    if (!(w->seen[w->nseen] = copy(it->id)))
        return SDSINF_ENOMEM;
    w->nseen++;
    snprintf(line, sizeof line, "  %.19s %-20.40s %-28.60s %.80s%s%.300s",
             it->time, it->status, it->type, it->logical,
             it->reason[0] ? ": " : "", it->reason);
    if (w->progress && !(w->lines[w->nlines++] = copy(line)))
        return SDSINF_ENOMEM;
    /* a failure's cause, not the cancellations that follow it */
    if (ends_with(it->status, "_FAILED") &&
        !strstr(it->reason, "cancelled"))
        snprintf(w->page_failed, sizeof w->page_failed, "%.60s (%.40s): %.90s",
                 it->logical, it->type, it->reason);
    return 0;
}

/* Reads the stack's events (by its id: a deleted stack's name names
 * nothing), reporting the new ones oldest first. */
static int read_events(sdsinf_aws *a, const char *stack, watch *w,
                       sdsinf_err *err)
{
    w->nlines = 0;
    w->page_failed[0] = 0;
    int code = sdsinf__cfn_events(a, stack, note_event, w, NULL, err);
    for (int i = w->nlines - 1; i >= 0; i--) {
        if (code != SDSINF_ENOMEM)
            w->progress(w->lines[i], w->arg);
        sdsinf__free(w->lines[i]);
    }
    if (w->page_failed[0] && !w->nfailed++)
        memcpy(w->failed, w->page_failed, sizeof w->failed);
    if (code == SDSINF_ENOMEM)
        return sdsinf__fail(err, code, "no memory for the events of stack "
                            "%.100s", stack);
    return code == SDSINF_CFN_NO_STACK ? SDSINF_OK : code;
}

/* Marks the stack's events so far as seen (not news to this call). */
static int skip_events(sdsinf_aws *a, const char *stack, watch *w,
                       sdsinf_err *err)
{
    sdsinf_stack_progress p = w->progress;
    w->progress = NULL;
    int code = read_events(a, stack, w, err);
    w->progress = p;
    w->nfailed = 0;
    w->failed[0] = 0;
    return code;
}

static void watch_free(watch *w)
{
    for (int i = 0; i < w->nseen; i++)
        sdsinf__free(w->seen[i]);
    sdsinf__free(w->seen);
}

/* Waits until stack `name` is in no *_IN_PROGRESS state, reporting its
 * new events; its last state into *st (SDSINF_CFN_NO_STACK when it is
 * gone). */
static int wait_stack(sdsinf_aws *a, const char *name, watch *w,
                      sdsinf_stack_info *st, sdsinf_err *err)
{
    double start = sdsinf__now(), pause = POLL_FIRST_MS;
    char last[64] = "";
    for (;;) {
        int code = sdsinf__cfn_describe(a, name, st, NULL, err);
        if (code != SDSINF_OK)
            return code;
        if (strcmp(last, st->status) && w->progress) {
            char line[200];
            snprintf(line, sizeof line, "stack %.100s: %s (%.0f s)", name,
                     st->status, sdsinf__now() - start);
            w->progress(line, w->arg);
            snprintf(last, sizeof last, "%s", st->status);
        }
        if ((code = read_events(a, st->id[0] ? st->id : name, w, err)) !=
            SDSINF_OK)
            return code;
        if (!ends_with(st->status, "_IN_PROGRESS"))
            return SDSINF_OK;
        if (sdsinf__now() - start > WAIT_LIMIT_S)
            return sdsinf__fail(err, SDSINF_ETIMEDOUT,
                                "stack %.100s is still %s after %.0f s; see "
                                "sdsinf aws status --stack %.100s",
                                name, st->status, WAIT_LIMIT_S, name);
        sdsinf__sleep_ms(pause);
        pause = pause * 2 < POLL_MAX_MS ? pause * 2 : POLL_MAX_MS;
    }
}

/* ---- The calls --------------------------------------------------------------- */

int sdsinf_stack_describe(const char *name, sdsinf_stack_info *out,
                          sdsinf_err *err)
{
    sdsinf_aws *a;
    int code = client(&a, err);
    if (code == SDSINF_OK &&
        (code = sdsinf__cfn_describe(a, name, out, NULL, err)) ==
            SDSINF_CFN_NO_STACK)
        code = no_stack(name, err);
    sdsinf__aws_free(a);
    return code;
}

typedef struct resource_call {
    int (*fn)(const sdsinf_stack_item *it, void *arg);
    void *arg;
} resource_call;

static int each_resource(void *u, const sdsinf_stack_item *it)
{
    const resource_call *rc = u;
    return rc->fn(it, rc->arg);
}

int sdsinf_stack_resources(const char *name,
                           int (*fn)(const sdsinf_stack_item *it, void *arg),
                           void *arg, sdsinf_err *err)
{
    sdsinf_aws *a;
    resource_call rc = {fn, arg};
    int code = client(&a, err);
    if (code == SDSINF_OK &&
        (code = sdsinf__cfn_resources(a, name, each_resource, &rc, NULL,
                                      err)) == SDSINF_CFN_NO_STACK)
        code = no_stack(name, err);
    sdsinf__aws_free(a);
    return code;
}

int sdsinf_stack_deploy(const char *name, const char *template_json,
                        sdsinf_stack_progress progress, void *arg,
                        sdsinf_err *err)
{
    sdsinf_aws *a;
    sdsinf_stack_info *st = sdsinf__calloc(1, sizeof *st);
    watch w = {.progress = progress, .arg = arg};
    int code = st ? client(&a, err)
                  : sdsinf__fail(err, SDSINF_ENOMEM, "no memory to deploy");
    if (!st)
        return code;
    int exists = 0;
    if (code == SDSINF_OK) {
        code = sdsinf__cfn_describe(a, name, st, NULL, err);
        exists = code == SDSINF_OK;
        code = code == SDSINF_CFN_NO_STACK ? SDSINF_OK : code;
    }
    if (code == SDSINF_OK && exists &&
        (ends_with(st->status, "_IN_PROGRESS") ||
         !strcmp(st->status, "ROLLBACK_COMPLETE") ||
         ends_with(st->status, "_FAILED")))
        code = sdsinf__fail(err, SDSINF_EINVAL,
                            "stack %.100s is %s: it cannot be updated now; "
                            "sdsinf aws destroy --stack %.100s, then deploy "
                            "again%s",
                            name, st->status, name,
                            ends_with(st->status, "_IN_PROGRESS")
                                ? " (or wait until it has finished)"
                                : "");
    if (code == SDSINF_OK && exists)
        code = skip_events(a, st->id, &w, err);
    if (code == SDSINF_OK)
        code = sdsinf__cfn_create(a, name, template_json, exists, NULL, err);
    if (code == SDSINF_CFN_NO_UPDATE) {
        if (progress)
            progress("the stack is up to date: nothing to change", arg);
        code = SDSINF_OK;
    } else if (code == SDSINF_OK &&
               (code = wait_stack(a, name, &w, st, err)) == SDSINF_OK &&
               strcmp(st->status, "CREATE_COMPLETE") &&
               strcmp(st->status, "UPDATE_COMPLETE"))
        code = sdsinf__fail(err, SDSINF_EIO,
                            "stack %.80s is %s%s%.200s%s%.80s; sdsinf aws "
                            "status --stack %.80s shows its resources",
                            name, st->status, w.nfailed ? ": " : "",
                            w.failed, st->reason[0] ? "; " : "", st->reason,
                            name);
    else if (code == SDSINF_CFN_NO_STACK)
        code = sdsinf__fail(err, SDSINF_EIO,
                            "stack %.80s was removed while it was made%s%.200s",
                            name, w.nfailed ? ": " : "", w.failed);
    watch_free(&w);
    sdsinf__free(st);
    sdsinf__aws_free(a);
    return code;
}

/* ---- Destroy: the buckets emptied first (CloudFormation deletes only an
 * empty bucket), the server instances ended ------------------------------ */

/* The value of output `key`, or NULL. */
static const char *output(const sdsinf_stack_info *st, const char *key)
{
    for (int i = 0; i < st->noutputs; i++)
        if (!strcmp(st->outputs[i].key, key))
            return st->outputs[i].value;
    return NULL;
}

/* Terminates the instances sdsinf aws server started on a stack with the
 * server's instance profile (tagged sdsinf:stack=NAME): they would outlive
 * the role they run with. */
static int end_servers(sdsinf_aws *a, const char *name,
                       const sdsinf_stack_info *st,
                       sdsinf_stack_progress progress, void *arg,
                       sdsinf_err *err)
{
    int n = 0;
    if (!output(st, SDSINF_STACK_OUT_SERVER_PROFILE))
        return SDSINF_OK;
    int code = sdsinf__ec2_terminate_tagged(a, "sdsinf:stack", name, &n, err);
    if (code == SDSINF_OK && n && progress) {
        char line[160];
        snprintf(line, sizeof line, "terminated %d server instance%s", n,
                 n == 1 ? "" : "s");
        progress(line, arg);
    }
    return code;
}

/* Deletes every object of bucket; one already gone is no error. */
static int empty_bucket(sdsinf_aws *a, const char *bucket, int64_t *removed,
                        sdsinf_err *err)
{
    uint64_t lists = 0, deletes = 0; /* a destroy bills nobody's run */
    int code = sdsinf__s3_delete_prefix(a, bucket, "", &lists, &deletes,
                                        removed, NULL, err);
    return code == SDSINF_S3_NOT_FOUND ? SDSINF_OK : code;
}

typedef struct destroy_ctx {
    sdsinf_aws *a;
    sdsinf_stack_progress progress;
    void *arg;
    sdsinf_err *err;
} destroy_ctx;

static int empty_if_bucket(void *u, const sdsinf_stack_item *it)
{
    destroy_ctx *d = u;
    if (strcmp(it->type, "AWS::S3::Bucket") || !it->physical[0])
        return 0;
    int64_t n = 0;
    int code = empty_bucket(d->a, it->physical, &n, d->err);
    if (code == SDSINF_OK && d->progress) {
        char line[160];
        snprintf(line, sizeof line, "emptied bucket %.63s: %lld objects",
                 it->physical, (long long)n);
        d->progress(line, d->arg);
    }
    return code;
}

int sdsinf_stack_destroy(const char *name, sdsinf_stack_progress progress,
                         void *arg, sdsinf_err *err)
{
    sdsinf_aws *a;
    sdsinf_stack_info *st = sdsinf__calloc(1, sizeof *st);
    watch w = {.progress = progress, .arg = arg};
    int code = st ? client(&a, err)
                  : sdsinf__fail(err, SDSINF_ENOMEM, "no memory to destroy");
    if (!st)
        return code;
    destroy_ctx d = {a, progress, arg, err};
    if (code == SDSINF_OK)
        code = sdsinf__cfn_describe(a, name, st, NULL, err);
    if (code == SDSINF_CFN_NO_STACK) {
        if (progress) {
            char line[200];
            snprintf(line, sizeof line, "no stack %.100s: nothing to remove",
                     name);
            progress(line, arg);
        }
        code = SDSINF_OK;
    } else {
        if (code == SDSINF_OK)
            code = skip_events(a, st->id, &w, err);
        if (code == SDSINF_OK)
            code = end_servers(a, name, st, progress, arg, err);
        if (code == SDSINF_OK)
            code = sdsinf__cfn_resources(a, name, empty_if_bucket, &d, NULL,
                                         err);
        if (code == SDSINF_OK)
            code = sdsinf__cfn_delete(a, name, NULL, err);
        if (code == SDSINF_OK)
            code = wait_stack(a, name, &w, st, err);
        if (code == SDSINF_CFN_NO_STACK ||
            (code == SDSINF_OK && !strcmp(st->status, "DELETE_COMPLETE")))
            code = SDSINF_OK;
        else if (code == SDSINF_OK)
            code = sdsinf__fail(err, SDSINF_EIO,
                                "stack %.80s is %s%s%.200s; sdsinf aws "
                                "status --stack %.80s shows what is left",
                                name, st->status, w.nfailed ? ": " : "",
                                w.failed, name);
    }
    watch_free(&w);
    sdsinf__free(st);
    sdsinf__aws_free(a);
    return code;
}

/* ---- The channels' settings ---------------------------------------------------- */

/* Stack `name`'s state, refused (SDSINF_EINVAL) unless it is ready for a
 * run. */
static int describe_ready(const char *name, sdsinf_stack_info *st,
                          sdsinf_err *err)
{
    int code = sdsinf_stack_describe(name, st, err);
    if (code == SDSINF_OK && strcmp(st->status, "CREATE_COMPLETE") &&
        strcmp(st->status, "UPDATE_COMPLETE") &&
        strcmp(st->status, "UPDATE_ROLLBACK_COMPLETE"))
        code = sdsinf__fail(err, SDSINF_EINVAL,
                            "stack %.100s is %s, not ready for a run (sdsinf "
                            "aws status --stack %.100s tells why)",
                            name, st->status, name);
    return code;
}

int sdsinf_stack_output(const char *name, const char *key, char *out,
                        size_t cap, sdsinf_err *err)
{
    sdsinf_stack_info *st = sdsinf__calloc(1, sizeof *st);
    if (!st)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for stack %.100s",
                            name);
    int code = describe_ready(name, st, err);
    const char *v = code == SDSINF_OK ? output(st, key) : NULL;
    if (code == SDSINF_OK && !v)
        code = sdsinf__fail(err, SDSINF_EINVAL, "stack %.100s has no output "
                            "%.60s: %s", name, key,
                            strcmp(key, SDSINF_STACK_OUT_FUNCTION)
                                ? "not one sdsinf aws deploy made (deploy it "
                                  "again)"
                                : "it has no function (sdsinf aws deploy "
                                  "without --no-function makes it from this "
                                  "sdsinf's package, or with --package KEY "
                                  "from a zip in its bucket)");
    else if (code == SDSINF_OK && strlen(v) >= cap)
        code = sdsinf__fail(err, SDSINF_EINVAL, "stack %.100s: output %.60s "
                            "is too long", name, key);
    if (code == SDSINF_OK)
        memcpy(out, v, strlen(v) + 1);
    sdsinf__free(st);
    return code;
}

int sdsinf_stack_channel_config(const char *name, const char *channel,
                                const char *extra, char *out, size_t cap,
                                sdsinf_err *err)
{
    static const struct {
        const char *channel, *fmt, *key1, *key2;
    } uses[] = {
        {"sqs", "queues=%s", SDSINF_STACK_OUT_QUEUES, NULL},
        {"sns", "queues=%s,topic=%s", SDSINF_STACK_OUT_QUEUES,
         SDSINF_STACK_OUT_TOPIC},
        {"s3", "bucket=%s", SDSINF_STACK_OUT_BUCKET, NULL},
    };
    int u = -1;
    for (int i = 0; i < 3 && channel; i++)
        if (!strcmp(uses[i].channel, channel))
            u = i;
    if (u < 0)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "--stack serves the channels sqs, sns and s3, "
                            "not %.40s",
                            channel ? channel : "the default (local)");
    sdsinf_stack_info *st = sdsinf__calloc(1, sizeof *st);
    if (!st)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for stack %.100s",
                            name);
    int code = describe_ready(name, st, err);
    const char *v1 = code == SDSINF_OK ? output(st, uses[u].key1) : NULL;
    const char *v2 = uses[u].key2 && v1 ? output(st, uses[u].key2) : "";
    if (code == SDSINF_OK && (!v1 || !v2))
        code = sdsinf__fail(err, SDSINF_EINVAL,
                            "stack %.100s has no output %s: not one sdsinf "
                            "aws deploy made (deploy it again)",
                            name, v1 ? uses[u].key2 : uses[u].key1);
    if (code == SDSINF_OK) {
        int n = snprintf(out, cap, "%s%s", extra && extra[0] ? extra : "",
                         extra && extra[0] ? "," : "");
        int m = n >= 0 && (size_t)n < cap
                    ? snprintf(out + n, cap - (size_t)n, uses[u].fmt, v1, v2)
                    : -1;
        if (m < 0 || (size_t)(n + m) >= cap)
            code = sdsinf__fail(err, SDSINF_EINVAL,
                                "stack %.100s: the channel's settings do not "
                                "fit in %zu bytes",
                                name, cap);
    }
    sdsinf__free(st);
    return code;
}

/* ---- The package ---------------------------------------------------------------- */

#define PACKAGE_PREFIX "sdsinf/lambda/"

/* The package's zip in memory (*zip malloc'd by open_memstream: free()). */
static int package_bytes(const char *bootstrap, sdsinf_stack_progress progress,
                         void *arg, char **zip, size_t *len,
                         sdsinf_package_info *info, sdsinf_err *err)
{
    sdsinf__package p;
    FILE *m = NULL;
    int rc = sdsinf__package_gather(bootstrap, progress, arg, &p, info, err);
    if (rc == SDSINF_OK && !(m = open_memstream(zip, len)))
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for the package");
    if (rc == SDSINF_OK)
        rc = sdsinf__package_zip(&p, m, &info->nbytes, err);
    if (m && fclose(m) != 0 && rc == SDSINF_OK)
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for the package");
    sdsinf__package_free(&p);
    return rc;
}

int sdsinf_stack_put_package(const char *stack, const char *bootstrap,
                             sdsinf_stack_progress progress, void *arg,
                             char *key, size_t cap, int *uploaded,
                             sdsinf_package_info *info, sdsinf_err *err)
{
    char *zip = NULL, hex[65], line[300], bucket[64];
    size_t len = 0;
    sdsinf_aws *a = NULL;
    *uploaded = 0;
    int rc = package_bytes(bootstrap, progress, arg, &zip, &len, info, err);
    if (rc == SDSINF_OK) {
        sdsinf__aws_sha256_hex(zip, len, hex);
        int n = snprintf(key, cap, PACKAGE_PREFIX "%s.zip", hex);
        if (n < 0 || (size_t)n >= cap)
            rc = sdsinf__fail(err, SDSINF_EINVAL, "no room for the "
                              "package's key");
    }
    if (rc == SDSINF_OK)
        rc = sdsinf_stack_output(stack, SDSINF_STACK_OUT_BUCKET, bucket,
                                 sizeof bucket, err);
    if (rc == SDSINF_OK && (rc = client(&a, err)) == SDSINF_OK)
        rc = sdsinf__s3_put_once(a, bucket, key, zip, len,
                                 sdsinf__location_tally(), uploaded, err);
    if (rc == SDSINF_OK && progress) { /* (the key names the content) */
        snprintf(line, sizeof line, "package s3://%.63s/%.100s (%zu bytes)%s",
                 bucket, key, len, *uploaded ? ": uploaded"
                                             : ": there already, nothing to "
                                               "upload");
        progress(line, arg);
    }
    sdsinf__aws_free(a);
    free(zip);
    return rc;
}
