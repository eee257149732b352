/* aws/runs.c - the run records of a stack's bucket (sdsinf.h): one
 * record's JSON, waited for (a coordinator on Lambda writes it when its
 * run ends), and the last records, from a listing of runs/ (in key order:
 * by time). */
#include "aws/s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_FIRST_MS 200.0
#define POLL_MAX_MS 2000.0
#define NAME_MAX_LEN 64

/* GETs runs/NAME/result.json: SDSINF_OK with *json, SDSINF_S3_NOT_FOUND,
 * or a failure. */
static int get_record(sdsinf_aws *a, const char *bucket, const char *name,
                      char **json, size_t *len, sdsinf_err *err)
{
    char key[160];
    sdsinf_aws_response rs;
    uint64_t size = 0;
    snprintf(key, sizeof key, SDSINF_RUNS_PREFIX "%.64s/" SDSINF_RUN_RECORD,
             name);
    int rc = sdsinf__s3_get(a, bucket, key, NULL, &rs, &size, NULL, err);
    if (rc == SDSINF_OK && !rs.body) { /* an empty object */
        if (!(rs.body = calloc(1, 1))) /* freed with free(), as S3's */
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    }
    if (rc == SDSINF_OK) {
        *json = rs.body; /* taken */
        *len = rs.len;
        rs.body = NULL;
    }
    sdsinf__aws_response_free(&rs);
    return rc;
}

int sdsinf_run_record_wait(const char *bucket, const char *name,
                           double timeout_s, char **json, size_t *len,
                           sdsinf_err *err)
{
    char where[300];
    sdsinf_aws *a = NULL;
    double start = sdsinf__now(), pause = POLL_FIRST_MS;
    int rc = sdsinf_run_record_location(bucket, name, SDSINF_RUN_RECORD,
                                        where, sizeof where, err);
    if (rc == SDSINF_OK)
        rc = sdsinf__aws_new(&a, err);
    while (rc == SDSINF_OK &&
           (rc = get_record(a, bucket, name, json, len, err)) ==
               SDSINF_S3_NOT_FOUND) {
        double left = start + timeout_s - sdsinf__now();
        if (left <= 0) {
            rc = sdsinf__fail(err, SDSINF_ETIMEDOUT, "no %s after %.0f s: "
                              "the run may still be going, or it died "
                              "without writing it (see the function's log "
                              "group)", where, timeout_s);
            break;
        }
        sdsinf__sleep_ms(pause < left * 1e3 ? pause : left * 1e3);
        pause = pause * 2 < POLL_MAX_MS ? pause * 2 : POLL_MAX_MS;
        rc = SDSINF_OK;
    }
    sdsinf__aws_free(a);
    return rc;
}

/* The names of the last `last` records, as a listing finds them: a ring
 * of names (keys runs/NAME/...; NAME repeats for its files). */
typedef struct ring {
    char (*v)[NAME_MAX_LEN + 1];
    int last, n;     /* capacity, and names kept (at most last) */
    long long seen;  /* names seen: the newest is at (seen - 1) % last */
} ring;

static int ring_add(void *u, const char *key)
{
    ring *r = u;
    const char *name = key + strlen(SDSINF_RUNS_PREFIX);
    const char *slash = strchr(name, '/');
    size_t n = slash ? (size_t)(slash - name) : 0;
    if (n == 0 || n > NAME_MAX_LEN)
        return SDSINF_OK; /* not a record's */
    if (r->seen && !strncmp(r->v[(r->seen - 1) % r->last], name, n) &&
        r->v[(r->seen - 1) % r->last][n] == 0)
        return SDSINF_OK; /* another file of the newest */
    char *slot = r->v[r->seen % r->last];
    memcpy(slot, name, n);
    slot[n] = 0;
    r->seen++;
    r->n = r->n < r->last ? r->n + 1 : r->last;
    return SDSINF_OK;
}

int sdsinf_run_records(const char *bucket, int last,
                       int (*fn)(const char *name, const char *json,
                                 size_t len, void *arg),
                       void *arg, sdsinf_err *err)
{
    char token[1024] = "";
    sdsinf_aws *a = NULL;
    ring r = {NULL, last > 0 ? last : 1, 0, 0};
    int rc = (r.v = sdsinf__calloc((size_t)r.last, sizeof *r.v))
                 ? sdsinf__aws_new(&a, err)
                 : sdsinf__fail(err, SDSINF_ENOMEM, "no memory for %d run "
                                "records", last);
    do
        if (rc == SDSINF_OK)
            rc = sdsinf__s3_list(a, bucket, SDSINF_RUNS_PREFIX, 1000, token,
                                 sizeof token, ring_add, &r, NULL, err);
    while (rc == SDSINF_OK && token[0]);
    if (rc == SDSINF_S3_NOT_FOUND)
        rc = sdsinf__fail(err, SDSINF_EIO, "no bucket %.63s: is the stack "
                          "deployed?", bucket);
    for (long long i = r.seen - r.n; rc == SDSINF_OK && i < r.seen; i++) {
        char *json = NULL;
        size_t len = 0;
        const char *name = r.v[i % r.last];
        rc = get_record(a, bucket, name, &json, &len, err);
        if (rc == SDSINF_S3_NOT_FOUND) /* under way, or died before it */
            rc = SDSINF_OK;
        if (rc == SDSINF_OK)
            rc = fn(name, json, len, arg);
        free(json);
    }
    sdsinf__aws_free(a);
    sdsinf__free(r.v);
    return rc;
}
