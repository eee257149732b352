/* aws/s3.c - S3 requests (see s3.h): each one sdsinf__aws_call with its
 * path, headers and body; answers read with the client's XML helpers. */
#include "aws/s3.h"

#include <openssl/evp.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_CAP 2048

/* "/<bucket>/<key>" into out; -1 when too long. */
static int object_path(const char *bucket, const char *key, char *out)
{
    int n = snprintf(out, PATH_CAP, "/%s/%s", bucket, key);
    return n < 0 || n >= PATH_CAP ? -1 : 0;
}

static int too_long(const char *what, const char *bucket, sdsinf_err *err)
{
    return sdsinf__fail(err, SDSINF_EINVAL,
                        "AWS s3: %s in bucket %.60s: the key is too long",
                        what, bucket);
}

/* Whether an error answer says the key or the bucket is not there. */
static int not_found(const sdsinf_aws_response *rs)
{
    return rs->status == 404 && (!rs->error_code[0] ||
                                 !strcmp(rs->error_code, "NoSuchKey") ||
                                 !strcmp(rs->error_code, "NoSuchBucket"));
}

/* s percent-encoded (all but RFC 3986's unreserved characters) into out
 * (cap bytes); -1 when it does not fit. */
static int encode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
                    *p == '.' || *p == '~';
        if (o + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = 0;
    return 0;
}

/* One request without a body to keep: rs freed after. */
static int call(sdsinf_aws *a, const char *method, const char *path,
                const char *const *headers, const void *body, size_t len,
                const char *what, sdsinf_aws_response *rs, uint64_t *retries,
                sdsinf_err *err)
{
    sdsinf_aws_request rq = {SDSINF_AWS_REQUEST_VERSION, SDSINF_AWS_S3,
                             method, path, headers, body, len, what, 0, 0};
    return sdsinf__aws_call(a, &rq, rs, retries, err);
}

int sdsinf__s3_put(sdsinf_aws *a, const char *bucket, const char *key,
                   const void *body, size_t len, uint64_t *retries,
                   sdsinf_err *err)
{
    char path[PATH_CAP], what[160];
    snprintf(what, sizeof what, "PutObject %.60s/%.80s", bucket, key);
    if (object_path(bucket, key, path) != 0)
        return too_long("PutObject", bucket, err);
    static const char *const headers[] = {
        "Content-Type: application/octet-stream", NULL};
    sdsinf_aws_response rs;
    int code = call(a, "PUT", path, headers, body ? body : "", len, what, &rs,
                    retries, err);
    sdsinf__aws_response_free(&rs);
    return code;
}

int sdsinf__s3_get(sdsinf_aws *a, const char *bucket, const char *key,
                   const char *range, sdsinf_aws_response *rs, uint64_t *size,
                   uint64_t *retries, sdsinf_err *err)
{
    char path[PATH_CAP], what[200], line[96], cr[96];
    snprintf(what, sizeof what, "GetObject %.60s/%.80s%s%.40s", bucket, key,
             range ? " " : "", range ? range : "");
    memset(rs, 0, sizeof *rs);
    if (object_path(bucket, key, path) != 0)
        return too_long("GetObject", bucket, err);
    snprintf(line, sizeof line, "Range: %.80s", range ? range : "");
    const char *const headers[] = {range ? line : NULL, NULL};
    sdsinf_err quiet = {0};
    int code = call(a, "GET", path, headers, NULL, 0, what, rs, retries,
                    &quiet);
    if (code != SDSINF_OK)
        return not_found(rs) ? SDSINF_S3_NOT_FOUND
                             : sdsinf__fail(err, code, "%s", quiet.msg);
    /* "Content-Range: bytes a-b/total" on a ranged answer (206) */
    const char *slash = NULL;
    if (rs->status == 206 &&
        (sdsinf__aws_response_header(rs, "Content-Range", cr, sizeof cr) != 0 ||
         !(slash = strrchr(cr, '/')) || slash[1] < '0' || slash[1] > '9'))
        return sdsinf__fail(err, SDSINF_EPARSE,
                            "AWS s3: %s: a partial answer without a "
                            "Content-Range of known size",
                            what);
    *size = slash ? strtoull(slash + 1, NULL, 10) : (uint64_t)rs->len;
    return SDSINF_OK;
}

int sdsinf__s3_head(sdsinf_aws *a, const char *bucket, const char *key,
                    sdsinf__s3_object *o, uint64_t *retries, sdsinf_err *err)
{
    char path[PATH_CAP], what[160], len[32];
    snprintf(what, sizeof what, "HeadObject %.60s/%.80s", bucket, key);
    if (object_path(bucket, key, path) != 0)
        return too_long("HeadObject", bucket, err);
    sdsinf_aws_response rs;
    sdsinf_err quiet = {0};
    int code = call(a, "HEAD", path, NULL, NULL, 0, what, &rs, retries,
                    &quiet);
    if (code != SDSINF_OK)
        code = not_found(&rs) ? SDSINF_S3_NOT_FOUND
                              : sdsinf__fail(err, code, "%s", quiet.msg);
    else if (!o)
        ;
    else if (sdsinf__aws_response_header(&rs, "Content-Length", len,
                                         sizeof len) != 0)
        code = sdsinf__fail(err, SDSINF_EPARSE, "AWS s3: %s: an answer "
                            "without a Content-Length", what);
    else
        o->size = strtoull(len, NULL, 10);
    if (code == SDSINF_OK && o &&
        sdsinf__aws_response_header(&rs, "ETag", o->etag, sizeof o->etag))
        o->etag[0] = 0;
    if (code == SDSINF_OK && o &&
        sdsinf__aws_response_header(&rs, "Last-Modified", o->modified,
                                    sizeof o->modified))
        o->modified[0] = 0;
    sdsinf__aws_response_free(&rs);
    return code;
}

static void count(uint64_t *n)
{
    __atomic_fetch_add(n, 1, __ATOMIC_RELAXED);
}

int sdsinf__s3_present(sdsinf_aws *a, const char *bucket, const char *key,
                       uint64_t size, sdsinf_requests *r, sdsinf_err *err)
{
    sdsinf__s3_object o;
    count(&r->receive);
    int rc = sdsinf__s3_head(a, bucket, key, &o, &r->retries, err);
    if (rc == SDSINF_S3_NOT_FOUND)
        return 0;
    if (rc != SDSINF_OK)
        return rc;
    return o.size == size; /* a shorter one: an upload cut short */
}

int sdsinf__s3_put_once(sdsinf_aws *a, const char *bucket, const char *key,
                        const void *body, size_t len, sdsinf_requests *r,
                        int *put, sdsinf_err *err)
{
    int rc = sdsinf__s3_present(a, bucket, key, len, r, err);
    *put = 0;
    if (rc < 0 || rc == 1)
        return rc < 0 ? rc : SDSINF_OK;
    count(&r->send);
    rc = sdsinf__s3_put(a, bucket, key, body, len, &r->retries, err);
    *put = rc == SDSINF_OK;
    return rc;
}

int sdsinf__s3_list(sdsinf_aws *a, const char *bucket, const char *prefix,
                    int max_keys, char *token, size_t cap,
                    int (*fn)(void *u, const char *key), void *u,
                    uint64_t *retries, sdsinf_err *err)
{
    char path[3 * PATH_CAP], p[PATH_CAP], t[PATH_CAP], what[160];
    snprintf(what, sizeof what, "ListObjectsV2 %.60s/%.80s", bucket, prefix);
    if (encode(prefix, p, sizeof p) != 0 || encode(token, t, sizeof t) != 0)
        return too_long("ListObjectsV2", bucket, err);
    snprintf(path, sizeof path, "/%s?list-type=2&max-keys=%d&prefix=%s%s%s",
             bucket, max_keys, p, t[0] ? "&continuation-token=" : "", t);
    sdsinf_aws_response rs;
    sdsinf_aws_xml *x = NULL;
    sdsinf_err quiet = {0};
    int code = call(a, "GET", path, NULL, NULL, 0, what, &rs, retries, &quiet);
    if (code != SDSINF_OK)
        code = not_found(&rs) ? SDSINF_S3_NOT_FOUND
                              : sdsinf__fail(err, code, "%s", quiet.msg);
    else
        code = sdsinf__aws_xml_parse(rs.body, rs.len, what, &x, err);
    for (const sdsinf_aws_node *c =
             code == SDSINF_OK ? sdsinf__aws_xml_find(x, NULL, "Contents")
                               : NULL;
         c && code == SDSINF_OK; c = sdsinf__aws_xml_next(c, "Contents")) {
        const char *k = sdsinf__aws_xml_text(c, "Key", NULL);
        if (k)
            code = fn(u, k);
    }
    if (code == SDSINF_OK &&
        sdsinf__aws_xml_copy(sdsinf__aws_xml_find(x, NULL,
                                                  "NextContinuationToken"),
                             NULL, token, cap) != 0)
        token[0] = 0;
    sdsinf__aws_xml_free(x);
    sdsinf__aws_response_free(&rs);
    return code;
}

/* Appends s to the growing XML body b (XML-escaped); 0, or -1 (memory). */
static int xml_put(char **b, size_t *len, size_t *cap, const char *s, int esc)
{
    for (; *s; s++) {
        const char *e = !esc      ? NULL
                        : *s == '&' ? "&amp;"
                        : *s == '<' ? "&lt;"
                        : *s == '>' ? "&gt;"
                                    : NULL;
        size_t n = e ? strlen(e) : 1;
        if (*len + n + 1 > *cap) {
            size_t nc = *cap ? 2 * *cap : 4096;
            char *nb = sdsinf__realloc(*b, nc);
            if (!nb)
                return -1;
            *b = nb;
            *cap = nc;
        }
        memcpy(*b + *len, e ? e : s, n);
        *len += n;
        (*b)[*len] = 0;
    }
    return 0;
}

int sdsinf__s3_delete(sdsinf_aws *a, const char *bucket,
                      const char *const *keys, int n, uint64_t *retries,
                      sdsinf_err *err)
{
    char path[PATH_CAP], what[128], md5_line[64];
    unsigned char md5[EVP_MAX_MD_SIZE];
    unsigned md5_len = 0;
    char *b = NULL;
    size_t len = 0, cap = 0;
    int bad = n < 1 || n > SDSINF_S3_DELETE_MAX;
    snprintf(what, sizeof what, "DeleteObjects %.60s (%d keys)", bucket, n);
    if (bad)
        return sdsinf__fail(err, SDSINF_EINVAL, "AWS s3: %s: 1 to %d keys",
                            what, SDSINF_S3_DELETE_MAX);
    snprintf(path, sizeof path, "/%.200s?delete", bucket);
    bad = xml_put(&b, &len, &cap, "<Delete><Quiet>true</Quiet>", 0);
    for (int i = 0; i < n && !bad; i++)
        bad = xml_put(&b, &len, &cap, "<Object><Key>", 0) ||
              xml_put(&b, &len, &cap, keys[i], 1) ||
              xml_put(&b, &len, &cap, "</Key></Object>", 0);
    bad = bad || xml_put(&b, &len, &cap, "</Delete>", 0) ||
          EVP_Digest(b, len, md5, &md5_len, EVP_md5(), NULL) != 1;
    if (bad) {
        sdsinf__free(b);
        return sdsinf__fail(err, SDSINF_ENOMEM, "AWS s3: %s: no memory", what);
    }
    memcpy(md5_line, "Content-MD5: ", 13);
    sdsinf__aws_base64_encode(md5, md5_len, md5_line + 13);
    const char *const headers[] = {md5_line, "Content-Type: application/xml",
                                   NULL};
    sdsinf_aws_response rs;
    sdsinf_aws_xml *x = NULL;
    int code = call(a, "POST", path, headers, b, len, what, &rs, retries, err);
    sdsinf__free(b);
    if (code == SDSINF_OK)
        code = sdsinf__aws_xml_parse(rs.body, rs.len, what, &x, err);
    const sdsinf_aws_node *e =
        code == SDSINF_OK ? sdsinf__aws_xml_find(x, NULL, "Error") : NULL;
    if (e) {
        const char *c = sdsinf__aws_xml_text(e, "Code", NULL);
        const char *k = sdsinf__aws_xml_text(e, "Key", NULL);
        const char *m = sdsinf__aws_xml_text(e, "Message", NULL);
        code = sdsinf__fail(err, sdsinf__aws_error_status(c ? c : "", 200,
                                                          &bad),
                            "AWS s3: %s: key %.80s not deleted: %.40s: %.80s; "
                            "delete it by hand",
                            what, k ? k : "?", c ? c : "?", m ? m : "");
    }
    sdsinf__aws_xml_free(x);
    sdsinf__aws_response_free(&rs);
    return code;
}

int sdsinf__s3_bucket_create(sdsinf_aws *a, const char *bucket,
                             uint64_t *retries, sdsinf_err *err)
{
    char path[PATH_CAP], what[96], body[256] = "";
    const char *region = sdsinf__aws_config(a)->region;
    snprintf(what, sizeof what, "CreateBucket %.60s", bucket);
    snprintf(path, sizeof path, "/%.200s", bucket);
    if (strcmp(region, "us-east-1") != 0) /* elsewhere the region is named */
        snprintf(body, sizeof body,
                 "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/"
                 "doc/2006-03-01/\"><LocationConstraint>%.64s"
                 "</LocationConstraint></CreateBucketConfiguration>",
                 region);
    sdsinf_aws_response rs;
    sdsinf_err quiet = {0};
    int code = call(a, "PUT", path, NULL, body, strlen(body), what, &rs,
                    retries, &quiet);
    if (code != SDSINF_OK && strcmp(rs.error_code, "BucketAlreadyOwnedByYou"))
        sdsinf__fail(err, code, "%s", quiet.msg);
    else
        code = SDSINF_OK;
    sdsinf__aws_response_free(&rs);
    return code;
}

int sdsinf__s3_bucket_delete(sdsinf_aws *a, const char *bucket,
                             uint64_t *retries, sdsinf_err *err)
{
    char path[PATH_CAP], what[96];
    snprintf(what, sizeof what, "DeleteBucket %.60s", bucket);
    snprintf(path, sizeof path, "/%.200s", bucket);
    sdsinf_aws_response rs;
    sdsinf_err quiet = {0};
    int code = call(a, "DELETE", path, NULL, NULL, 0, what, &rs, retries,
                    &quiet);
    if (code != SDSINF_OK && !not_found(&rs))
        sdsinf__fail(err, code, "%s", quiet.msg);
    else
        code = SDSINF_OK;
    sdsinf__aws_response_free(&rs);
    return code;
}

/* ---- Every key under a prefix ------------------------------------------- */

/* The keys of one listing page, for deletion. */
typedef struct key_page {
    char *keys[SDSINF_S3_DELETE_MAX];
    int n;
} key_page;

static int page_add(void *u, const char *key)
{
    key_page *p = u;
    if (p->n == SDSINF_S3_DELETE_MAX)
        return SDSINF_OK;
    size_t n = strlen(key) + 1;
    if (!(p->keys[p->n] = sdsinf__malloc(n)))
        return SDSINF_ENOMEM;
    memcpy(p->keys[p->n++], key, n);
    return SDSINF_OK;
}

static void page_free(key_page *p)
{
    for (int i = 0; i < p->n; i++)
        sdsinf__free(p->keys[i]);
    p->n = 0;
}

int sdsinf__s3_delete_prefix(sdsinf_aws *a, const char *bucket,
                             const char *prefix, uint64_t *lists,
                             uint64_t *deletes, int64_t *removed,
                             uint64_t *retries, sdsinf_err *err)
{
    char token[1024];
    key_page *p = sdsinf__calloc(1, sizeof *p);
    int code = p ? SDSINF_OK
                 : sdsinf__fail(err, SDSINF_ENOMEM, "AWS s3: no memory to "
                                "remove s3://%.60s/%.100s", bucket, prefix);
    while (code == SDSINF_OK) { /* listed afresh: the page deleted is gone */
        token[0] = 0;
        ++*lists;
        code = sdsinf__s3_list(a, bucket, prefix, SDSINF_S3_DELETE_MAX, token,
                               sizeof token, page_add, p, retries, err);
        if (code == SDSINF_ENOMEM)
            sdsinf__fail(err, code, "AWS s3: no memory to list "
                         "s3://%.60s/%.100s", bucket, prefix);
        if (code != SDSINF_OK || p->n == 0)
            break;
        ++*deletes;
        code = sdsinf__s3_delete(a, bucket, (const char *const *)p->keys,
                                 p->n, retries, err);
        if (code == SDSINF_OK && removed)
            *removed += p->n;
        page_free(p);
    }
    if (p)
        page_free(p);
    sdsinf__free(p);
    return code;
}

int sdsinf__s3_remove_run(sdsinf_aws *a, const char *bucket,
                          const char *root, int own, uint64_t *lists,
                          uint64_t *deletes, uint64_t *retries,
                          sdsinf_err *err)
{
    int code = sdsinf__s3_delete_prefix(a, bucket, root, lists, deletes,
                                        NULL, retries, err);
    if (code == SDSINF_S3_NOT_FOUND) /* no bucket: nothing left */
        return SDSINF_OK;
    if (code == SDSINF_OK && own) {
        ++*deletes;
        code = sdsinf__s3_bucket_delete(a, bucket, retries, err);
    }
    return code;
}

static int count_key(void *u, const char *key)
{
    (void)key;
    ++*(int64_t *)u;
    return SDSINF_OK;
}

int sdsinf__s3_count_prefix(sdsinf_aws *a, const char *bucket,
                            const char *prefix, int64_t *n,
                            uint64_t *retries, sdsinf_err *err)
{
    char token[1024] = "";
    int64_t count = 0;
    int code;
    do
        code = sdsinf__s3_list(a, bucket, prefix, 1000, token, sizeof token,
                               count_key, &count, retries, err);
    while (code == SDSINF_OK && token[0]);
    if (code == SDSINF_OK)
        *n = count;
    return code;
}
