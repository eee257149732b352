/* aws/s3.h - Amazon S3's object and bucket requests over the AWS client
 * (internal): PUT, GET (whole or a byte range), HEAD, ListObjectsV2 pages,
 * DeleteObjects batches, CreateBucket and DeleteBucket.  Path-style
 * addresses (<endpoint>/<bucket>/<key>), which AWS and the emulators take;
 * bucket names and keys must need no percent-encoding (letters, digits,
 * '-', '_', '.', '/'), which callers check.  Every call adds the requests
 * it repeated (throttling, 5xx) to *retries (may be NULL). */
#ifndef SDSINF_AWS_S3_H
#define SDSINF_AWS_S3_H

#include "aws/aws.h"

#define SDSINF_S3_NOT_FOUND 1   /* the key (or its bucket) is not there */
#define SDSINF_S3_DELETE_MAX 1000 /* keys per DeleteObjects */

/* Stores body (len bytes, borrowed) at bucket/key, replacing any object. */
int sdsinf__s3_put(sdsinf_aws *a, const char *bucket, const char *key,
                   const void *body, size_t len, uint64_t *retries,
                   sdsinf_err *err);

/* Fetches bucket/key: whole (range NULL) or the bytes of an HTTP range
 * ("bytes=0-99", "bytes=-64" for the last 64).  SDSINF_OK with rs->body
 * (rs->len bytes; the caller may take it and free() it) and *size the
 * whole object's size; SDSINF_S3_NOT_FOUND when no such key or bucket
 * (no message set); else a failure.  rs is always set (free it). */
int sdsinf__s3_get(sdsinf_aws *a, const char *bucket, const char *key,
                   const char *range, sdsinf_aws_response *rs, uint64_t *size,
                   uint64_t *retries, sdsinf_err *err);

/* What HeadObject says of an object: what changes when its content does. */
typedef struct sdsinf__s3_object {
    uint64_t size;     /* Content-Length */
    char etag[128];    /* ETag, quotes kept; "" when S3 gave none */
    char modified[64]; /* Last-Modified (an HTTP date); "" when none */
} sdsinf__s3_object;

/* Whether bucket/key is there (HeadObject): SDSINF_OK with *o filled (may
 * be NULL), SDSINF_S3_NOT_FOUND when no such key or bucket (no message
 * set), else a failure. */
int sdsinf__s3_head(sdsinf_aws *a, const char *bucket, const char *key,
                    sdsinf__s3_object *o, uint64_t *retries, sdsinf_err *err);

/* Whether bucket/key is there whole, `size` bytes (one HeadObject,
 * counted into r->receive, its repeats into r->retries, atomically: r
 * may be a process's tally, sdsinf__location_tally): 1, 0 (absent, or
 * shorter: an upload cut short), or a failure. */
int sdsinf__s3_present(sdsinf_aws *a, const char *bucket, const char *key,
                       uint64_t size, sdsinf_requests *r, sdsinf_err *err);
/* Puts body (len bytes, borrowed) at bucket/key unless it is there whole
 * (sdsinf__s3_present: for keys that name their content), the PUT counted
 * into r->send; *put 1 when it was put, 0 when it was there. */
int sdsinf__s3_put_once(sdsinf_aws *a, const char *bucket, const char *key,
                        const void *body, size_t len, sdsinf_requests *r,
                        int *put, sdsinf_err *err);

/* One page (up to max_keys, 1..1000) of the keys under prefix, in key
 * order: fn(u, key) for each (a nonzero return stops the page and is
 * returned).  token: "" for the first page, then the next page's (cap
 * bytes), "" after the last.  A missing bucket is SDSINF_S3_NOT_FOUND. */
int sdsinf__s3_list(sdsinf_aws *a, const char *bucket, const char *prefix,
                    int max_keys, char *token, size_t cap,
                    int (*fn)(void *u, const char *key), void *u,
                    uint64_t *retries, sdsinf_err *err);

/* Deletes n keys (at most SDSINF_S3_DELETE_MAX) in one DeleteObjects;
 * keys already gone are no error, a key S3 could not delete is. */
int sdsinf__s3_delete(sdsinf_aws *a, const char *bucket,
                      const char *const *keys, int n, uint64_t *retries,
                      sdsinf_err *err);

/* Deletes every key under prefix: a listing of up to 1000 keys, then one
 * DeleteObjects of them, until a listing is empty; each listing added to
 * *lists, each DeleteObjects to *deletes, the keys deleted to *removed
 * (NULL: not counted).  A missing bucket is SDSINF_S3_NOT_FOUND. */
int sdsinf__s3_delete_prefix(sdsinf_aws *a, const char *bucket,
                             const char *prefix, uint64_t *lists,
                             uint64_t *deletes, int64_t *removed,
                             uint64_t *retries, sdsinf_err *err);
/* Removes a run's keys under root and, when the bucket is the run's own
 * (`own`), the bucket; a missing bucket is no error.  Listings add to
 * *lists, DeleteObjects and DeleteBucket to *deletes. */
int sdsinf__s3_remove_run(sdsinf_aws *a, const char *bucket,
                          const char *root, int own, uint64_t *lists,
                          uint64_t *deletes, uint64_t *retries,
                          sdsinf_err *err);
/* How many keys there are under prefix (every listing page) into *n; a
 * missing bucket is SDSINF_S3_NOT_FOUND. */
int sdsinf__s3_count_prefix(sdsinf_aws *a, const char *bucket,
                            const char *prefix, int64_t *n,
                            uint64_t *retries, sdsinf_err *err);

/* Creates bucket (in the client's region); one this account already owns
 * is no error. */
int sdsinf__s3_bucket_create(sdsinf_aws *a, const char *bucket,
                             uint64_t *retries, sdsinf_err *err);
/* Deletes the (empty) bucket; one already gone is no error. */
int sdsinf__s3_bucket_delete(sdsinf_aws *a, const char *bucket,
                             uint64_t *retries, sdsinf_err *err);

#endif /* SDSINF_AWS_S3_H */
