/* aws/location_s3.c - the object store of s3:// locations (location.h)
 * over aws/s3.h: an object fetched in ranges of CHUNK bytes (memory stays
 * bounded) into a file, a "directory" listed and fetched object by object,
 * a file stored by one PUT (or a multipart upload when big), a directory's
 * objects deleted in DeleteObjects batches.  One client per call: a
 * command fetches a few locations, not thousands. */
#include "aws/s3.h"
#include "core/location.h"
#include "core/parse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHUNK ((uint64_t)64 << 20) /* bytes per ranged GET */

/* A location taken apart: s3://bucket/key, the key without a trailing
 * '/'. */
typedef struct s3loc {
    char bucket[64];
    char key[SDSINF__LOCATION_MAX];
} s3loc;

static int key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '/';
}

static int parse(const char *loc, s3loc *l, sdsinf_err *err)
{
    const char *b = loc + 5, *slash = strchr(b, '/');
    size_t nb = slash ? (size_t)(slash - b) : strlen(b);
    size_t nk = slash ? strlen(slash + 1) : 0;
    int ok = nb >= 3 && nb < sizeof l->bucket && nk > 0 &&
             nk < sizeof l->key && slash[1] != '/' && !strstr(slash, "//");
    for (size_t i = 0; ok && i < nb; i++)
        ok = (b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') ||
             b[i] == '-' || b[i] == '.';
    for (size_t i = 0; ok && i < nk; i++)
        ok = key_char(slash[1 + i]);
    if (!ok)
        return sdsinf__fail(err, SDSINF_EINVAL, "%.200s: not an S3 location "
                            "sdsinf reads: give s3://BUCKET/KEY (bucket: 3-63 "
                            "of a-z 0-9 . -; key: letters, digits, - _ . /)",
                            loc);
    memcpy(l->bucket, b, nb);
    l->bucket[nb] = 0;
    while (nk > 0 && slash[nk] == '/')
        nk--;
    memcpy(l->key, slash + 1, nk);
    l->key[nk] = 0;
    return SDSINF_OK;
}

static void count(uint64_t *n)
{
    __atomic_fetch_add(n, 1, __ATOMIC_RELAXED);
}

/* The object at bucket/key into new file dest, in ranges.  *absent (and
 * code, 128 bytes: AWS's) when there is no such key or bucket. */
static int get_file(sdsinf_aws *a, const char *bucket, const char *key,
                    const char *dest, int *absent, char *code,
                    sdsinf_requests *r, sdsinf_err *err)
{
    FILE *f = fopen(dest, "wbx");
    uint64_t at = 0, size = 1;
    int rc = f ? SDSINF_OK
               : sdsinf__fail(err, SDSINF_EIO, "%.200s: cannot write: %s",
                              dest, strerror(errno));
    while (rc == SDSINF_OK && at < size) {
        char range[64];
        sdsinf_aws_response rs;
        snprintf(range, sizeof range, "bytes=%" PRIu64 "-%" PRIu64, at,
                 at + CHUNK - 1);
        count(&r->receive);
        rc = sdsinf__s3_get(a, bucket, key, range, &rs, &size, &r->retries,
                            err);
        if (rc != SDSINF_OK && at == 0 && rs.status == 416) {
            size = 0; /* an empty object has no byte 0 */
            rc = err->code = SDSINF_OK;
        } else if (rc == SDSINF_S3_NOT_FOUND) {
            *absent = 1;
            snprintf(code, 128, "%s", rs.error_code[0] ? rs.error_code
                                                       : "NoSuchKey");
        } else if (rc == SDSINF_OK && (rs.len == 0 ||
                                       fwrite(rs.body, 1, rs.len, f) !=
                                           rs.len)) {
            rc = sdsinf__fail(err, SDSINF_EIO, "%.200s: %s", dest,
                              rs.len ? strerror(errno)
                                     : "S3 answered no bytes");
        }
        at += rc == SDSINF_OK ? rs.len : 0;
        sdsinf__aws_response_free(&rs);
    }
    if (f && fclose(f) != 0 && rc == SDSINF_OK)
        rc = sdsinf__fail(err, SDSINF_EIO, "%.200s: write failed: %s", dest,
                          strerror(errno));
    if (rc != SDSINF_OK)
        remove(dest);
    return rc;
}

/* The names one level under a prefix, as a listing finds them. */
typedef struct names {
    size_t prefix; /* bytes of the prefix, cut from each key */
    char **v;
    size_t n, cap;
} names;

static int add_name(void *u, const char *key)
{
    names *s = u;
    const char *name = key + s->prefix;
    if (strlen(key) <= s->prefix || strchr(name, '/') || name[0] == '.')
        return SDSINF_OK; /* deeper, or hidden: not the directory's */
    return sdsinf__names_add(&s->v, &s->n, &s->cap, name) ? SDSINF_ENOMEM
                                                          : SDSINF_OK;
}

/* Every key under prefix (listing pages) into s. */
static int list_all(sdsinf_aws *a, const char *bucket, const char *prefix,
                    names *s, sdsinf_requests *r, sdsinf_err *err)
{
    char token[1024] = "";
    int rc;
    s->prefix = strlen(prefix);
    do {
        count(&r->list);
        rc = sdsinf__s3_list(a, bucket, prefix, 1000, token, sizeof token,
                             add_name, s, &r->retries, err);
        if (rc == SDSINF_ENOMEM)
            rc = sdsinf__fail(err, rc, "s3://%s/%.200s: no memory for its "
                              "listing", bucket, prefix);
    } while (rc == SDSINF_OK && token[0]);
    return rc;
}

/* What to do about a fetch AWS refused or could not find. */
static int fetch_failed(const char *loc, const s3loc *l, const char *code,
                        int rc, sdsinf_err *err)
{
    if (rc == SDSINF_S3_NOT_FOUND && !strcmp(code, "NoSuchBucket"))
        return sdsinf__fail(err, SDSINF_EIO, "%.200s: no bucket %s "
                            "(NoSuchBucket): check the name, the region "
                            "(AWS_REGION) and the endpoint", loc, l->bucket);
    if (rc == SDSINF_S3_NOT_FOUND)
        return sdsinf__fail(err, SDSINF_EIO, "%.200s: no such object, nor "
                            "objects under it (%s): upload it, or correct "
                            "the location", loc, code);
    if (rc == SDSINF_EACCES) {
        char was[sizeof err->msg];
        memcpy(was, err->msg, sizeof was);
        return sdsinf__fail(err, rc, "%s; allow these credentials "
                            "s3:GetObject and s3:ListBucket", was);
    }
    return rc;
}

int sdsinf__remote_fetch(const char *loc, const char *dest,
                         sdsinf_requests *r, sdsinf_err *err)
{
    char code[128] = "", file[4096], prefix[SDSINF__LOCATION_MAX + 1];
    names s = {0};
    sdsinf_aws *a = NULL;
    sdsinf_err quiet = {0};
    s3loc l;
    if (!err)
        err = &quiet; /* get_file and fetch_failed read it */
    int absent = 0, rc = parse(loc, &l, err);
    if (rc == SDSINF_OK)
        rc = sdsinf__aws_new(&a, err);
    if (rc == SDSINF_OK)
        rc = get_file(a, l.bucket, l.key, dest, &absent, code, r, err);
    if (rc != SDSINF_S3_NOT_FOUND || strcmp(code, "NoSuchBucket") == 0)
        goto done;
    /* no such object: a "directory" of the objects under key/ */
    snprintf(prefix, sizeof prefix, "%s/", l.key);
    rc = list_all(a, l.bucket, prefix, &s, r, err);
    if (rc == SDSINF_OK && s.n == 0)
        rc = SDSINF_S3_NOT_FOUND;
    if (rc == SDSINF_OK && mkdir(dest, 0700) != 0)
        rc = sdsinf__fail(err, SDSINF_EIO, "%.200s: cannot make it: %s", dest,
                          strerror(errno));
    for (size_t i = 0; rc == SDSINF_OK && i < s.n; i++) {
        char key[2 * SDSINF__LOCATION_MAX];
        snprintf(key, sizeof key, "%s%s", prefix, s.v[i]);
        if ((rc = sdsinf__location_join(dest, s.v[i], file, sizeof file,
                                        err)) == SDSINF_OK)
            rc = get_file(a, l.bucket, key, file, &absent, code, r, err);
        if (rc == SDSINF_S3_NOT_FOUND) /* deleted as we read */
            rc = sdsinf__fail(err, SDSINF_EIO, "s3://%s/%.200s: gone while "
                              "it was read (%s): is something replacing it?",
                              l.bucket, key, code);
    }
done:
    sdsinf__dir_files_free(s.v, s.n);
    sdsinf__aws_free(a);
    return rc == SDSINF_OK ? rc : fetch_failed(loc, &l, code, rc, err);
}

int sdsinf__remote_identity(const char *loc, char *out, size_t cap,
                            sdsinf_requests *r, sdsinf_err *err)
{
    sdsinf__s3_object o;
    sdsinf_aws *a = NULL;
    s3loc l;
    int rc = parse(loc, &l, err), n;
    if (rc == SDSINF_OK && (rc = sdsinf__aws_new(&a, err)) == SDSINF_OK) {
        count(&r->receive);
        rc = sdsinf__s3_head(a, l.bucket, l.key, &o, &r->retries, err);
    }
    sdsinf__aws_free(a);
    if (rc == SDSINF_S3_NOT_FOUND)
        return sdsinf__fail(err, SDSINF_EIO, "%.200s: no such object: "
                            "upload it, or correct the location", loc);
    if (rc == SDSINF_OK && !o.etag[0] && !o.modified[0])
        return sdsinf__fail(err, SDSINF_EIO, "%.200s: S3 gave neither its "
                            "ETag nor its Last-Modified", loc);
    if (rc == SDSINF_OK &&
        ((n = snprintf(out, cap, "%s:%" PRIu64 ":%s", o.etag, o.size,
                       o.modified)) < 0 ||
         (size_t)n >= cap))
        rc = sdsinf__fail(err, SDSINF_EINVAL, "%.200s: no room for its "
                          "identity", loc);
    return rc;
}

int sdsinf__remote_store(const char *file, const char *loc,
                         sdsinf_requests *r, sdsinf_err *err)
{
    sdsinf__file body = {0};
    sdsinf_aws *a = NULL;
    sdsinf_err e = {0};
    s3loc l;
    int rc = parse(loc, &l, err);
    if (rc == SDSINF_OK && (rc = sdsinf__file_read(file, &body, err)) ==
                               SDSINF_OK &&
        (rc = sdsinf__aws_new(&a, err)) == SDSINF_OK) {
        count(&r->send);
        if ((rc = sdsinf__s3_put(a, l.bucket, l.key, body.data, body.size,
                                 &r->retries, &e)) != SDSINF_OK)
            sdsinf__fail(err, rc, "%s: not written: %s (does the "
                         "bucket exist, and may these credentials write "
                         "it?)", loc, e.msg);
    }
    sdsinf__aws_free(a);
    sdsinf__file_free(&body);
    return rc;
}

int sdsinf__remote_remove(const char *loc, sdsinf_requests *r,
                          sdsinf_err *err)
{
    char prefix[SDSINF__LOCATION_MAX + 1];
    names s = {0};
    sdsinf_aws *a = NULL;
    s3loc l;
    int rc = parse(loc, &l, err);
    if (rc == SDSINF_OK)
        rc = sdsinf__aws_new(&a, err);
    snprintf(prefix, sizeof prefix, "%s/", rc == SDSINF_OK ? l.key : "");
    if (rc == SDSINF_OK)
        rc = list_all(a, l.bucket, prefix, &s, r, err);
    if (rc == SDSINF_S3_NOT_FOUND) /* no bucket: nothing to remove */
        rc = SDSINF_OK;
    for (size_t i = 0; rc == SDSINF_OK && i < s.n; i += SDSINF_S3_DELETE_MAX) {
        const char *keys[SDSINF_S3_DELETE_MAX];
        int n = 0;
        for (size_t j = i; j < s.n && n < SDSINF_S3_DELETE_MAX; j++, n++) {
            char *k = sdsinf__malloc(strlen(prefix) + strlen(s.v[j]) + 1);
            if (!k) {
                rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
                break;
            }
            sprintf(k, "%s%s", prefix, s.v[j]);
            sdsinf__free(s.v[j]);
            s.v[j] = k; /* freed with the names */
            keys[n] = k;
        }
        if (rc == SDSINF_OK) {
            count(&r->remove);
            rc = sdsinf__s3_delete(a, l.bucket, keys, n, &r->retries, err);
        }
    }
    sdsinf__dir_files_free(s.v, s.n);
    sdsinf__aws_free(a);
    return rc;
}
