/* lambda/runtime.c - the Lambda Runtime API loop (sdsinf_lambda_serve):
 * plain, unsigned HTTP to $AWS_LAMBDA_RUNTIME_API over one libcurl handle
 * (its connection kept alive): GET .../invocation/next, the handler, then
 * POST .../invocation/{id}/response or .../{id}/error; a handler whose
 * init fails POSTs /runtime/init/error.  Sections: the HTTP exchange,
 * the answers, the loop. */
#include "aws/aws.h" /* sdsinf__aws_json_escape */

#include <curl/curl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define API_PREFIX "/2018-06-01/runtime"
#define MAX_EVENT (6u << 20) /* a synchronous invocation's payload limit */

/* ---- The HTTP exchange ------------------------------------------------------ */

typedef struct rt_buf {
    char *data;
    size_t len, cap;
} rt_buf;

/* The headers of a `next` answer. */
typedef struct rt_event {
    char id[256], arn[512], trace[1024], deadline[32];
} rt_event;

typedef struct rt {
    CURL *curl;
    char base[512]; /* http://HOST:PORT/2018-06-01/runtime */
    rt_buf body;    /* the last answer's */
    rt_event ev;
} rt;

static size_t on_body(char *p, size_t size, size_t n, void *u)
{
    rt_buf *b = u;
    size_t add = size * n;
    if (b->len + add + 1 > MAX_EVENT + 1)
        return 0; /* over the limit: the request fails */
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + add + 1)
            cap *= 2;
        char *more = sdsinf__realloc(b->data, cap);
        if (!more)
            return 0;
        b->data = more;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* Copies header line p (n bytes) into dst (cap bytes) when it is `name:`. */
static void take_header(const char *p, size_t n, const char *name, char *dst,
                        size_t cap)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(p, name, k) || p[k] != ':')
        return;
    p += k + 1, n -= k + 1;
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
        n--;
    snprintf(dst, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
}

static size_t on_header(char *p, size_t size, size_t n, void *u)
{
    rt_event *e = u;
    size_t len = size * n;
    take_header(p, len, "Lambda-Runtime-Aws-Request-Id", e->id, sizeof e->id);
    take_header(p, len, "Lambda-Runtime-Invoked-Function-Arn", e->arn,
                sizeof e->arn);
    take_header(p, len, "Lambda-Runtime-Trace-Id", e->trace, sizeof e->trace);
    take_header(p, len, "Lambda-Runtime-Deadline-Ms", e->deadline,
                sizeof e->deadline);
    return len;
}

/* One request to API_PREFIX + path: a GET, or a POST of len bytes of body
 * with the extra header (or NULL); *status the HTTP status, the answer's
 * body in r->body.  SDSINF_EIO when the API cannot be reached. */
static int request(rt *r, const char *path, const char *body, size_t len,
                   const char *header, long *status, sdsinf_err *err)
{
    char url[1024];
    struct curl_slist *h = NULL;
    snprintf(url, sizeof url, "%s%s", r->base, path);
    r->body.len = 0;
    memset(&r->ev, 0, sizeof r->ev);
    curl_easy_setopt(r->curl, CURLOPT_URL, url);
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        if (h && header)
            h = curl_slist_append(h, header);
        h = h ? curl_slist_append(h, "Expect:") : NULL; /* no 100-continue */
        if (!h)
            return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)len);
    } else {
        curl_easy_setopt(r->curl, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, h);
    CURLcode cc = curl_easy_perform(r->curl);
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    if (cc != CURLE_OK)
        return sdsinf__fail(err, SDSINF_EIO, "the Lambda Runtime API at %s: "
                            "%s", url, curl_easy_strerror(cc));
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, status);
    return SDSINF_OK;
}

/* ---- The answers -------------------------------------------------------------- */

/* POSTs error (rc, e) to path: {"errorMessage", "errorType":
 * "sdsinf.<STATUS>"}, also in the Lambda-Runtime-Function-Error-Type
 * header.  Its own failure goes to stderr (the function's log). */
static void post_error(rt *r, const char *path, int rc, const sdsinf_err *e)
{
    char msg[2 * sizeof e->msg], json[sizeof msg + 128], header[128];
    sdsinf_err pe = {0};
    long status = 0;
    sdsinf__aws_json_escape(e->msg[0] ? e->msg : sdsinf_status_text(rc), msg,
                            sizeof msg);
    int n = snprintf(json, sizeof json, "{\"errorMessage\":\"%s\",\"errorType"
                     "\":\"sdsinf.%s\",\"stackTrace\":[]}", msg,
                     sdsinf_status_name(rc));
    snprintf(header, sizeof header, "Lambda-Runtime-Function-Error-Type: "
             "sdsinf.%s", sdsinf_status_name(rc));
    fprintf(stderr, "sdsinf: %s: error %s: %s\n", path, sdsinf_status_name(rc),
            e->msg);
    if (request(r, path, json, (size_t)n, header, &status, &pe) != SDSINF_OK)
        fprintf(stderr, "sdsinf: %s\n", pe.msg);
    else if (status != 202)
        fprintf(stderr, "sdsinf: %s: HTTP %ld: %s\n", path, status,
                r->body.data ? r->body.data : "");
}

/* POSTs an invocation's answer; one the API refuses (too large: 413) is
 * sent as the invocation's error instead. */
static void post_response(rt *r, const char *id, const char *body,
                          size_t len)
{
    char path[512];
    sdsinf_err e = {0};
    long status = 0;
    snprintf(path, sizeof path, "/invocation/%s/response", id);
    if (request(r, path, body, len, NULL, &status, &e) != SDSINF_OK) {
        fprintf(stderr, "sdsinf: %s\n", e.msg);
        return;
    }
    if (status == 202)
        return;
    fprintf(stderr, "sdsinf: %s: HTTP %ld: %s\n", path, status,
            r->body.data ? r->body.data : "");
    if (status == 413) {
        snprintf(path, sizeof path, "/invocation/%s/error", id);
        sdsinf__fail(&e, SDSINF_EINVAL, "the answer of %zu bytes is over "
                     "Lambda's limit", len);
        post_error(r, path, SDSINF_EINVAL, &e);
    }
}

/* ---- The loop -------------------------------------------------------------------- */

/* Runs the invocation r->ev and r->body hold, and answers it. */
static void serve_one(rt *r, const sdsinf_lambda_handler *h,
                      sdsinf_worker_cache *cache)
{
    char *end = NULL, path[512], *out = NULL;
    rt_event ev = r->ev;
    sdsinf_err e = {0};
    size_t len = 0;
    long long deadline = strtoll(ev.deadline, &end, 10);
    rt_buf payload = r->body; /* taken, so the answers' requests keep it */
    memset(&r->body, 0, sizeof r->body);
    sdsinf_lambda_invocation inv = {ev.id, ev.arn, ev.trace, deadline,
                                    payload.data ? payload.data : "",
                                    payload.len, cache};
    int rc = SDSINF_OK;
    if (ev.trace[0]) /* as the AWS SDKs expect it */
        setenv("_X_AMZN_TRACE_ID", ev.trace, 1);
    if (!ev.deadline[0] || *end || deadline <= 0)
        rc = sdsinf__fail(&e, SDSINF_EPARSE, "the invocation %s has no "
                          "valid Lambda-Runtime-Deadline-Ms ('%s')", ev.id,
                          ev.deadline);
    else
        rc = h->invoke(h->ctx, &inv, &out, &len, &e);
    if (rc == SDSINF_OK) {
        post_response(r, ev.id, out ? out : "", out ? len : 0);
    } else {
        snprintf(path, sizeof path, "/invocation/%s/error", ev.id);
        post_error(r, path, rc, &e);
    }
    free(out);
    sdsinf__free(payload.data);
}

/* The API's base URL from host:port api; SDSINF_EINVAL when it is not
 * one. */
static int base_url(const char *api, rt *r, sdsinf_err *err)
{
    if (!api || !api[0])
        return sdsinf__fail(err, SDSINF_EINVAL, "AWS_LAMBDA_RUNTIME_API is "
                            "not set: Lambda sets it (to test, start a "
                            "Runtime API and set it to its host:port)");
    if (strlen(api) > 400 || strspn(api, "abcdefghijklmnopqrstuvwxyz"
                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789.-:[]") != strlen(api))
        return sdsinf__fail(err, SDSINF_EINVAL, "AWS_LAMBDA_RUNTIME_API "
                            "'%.100s' is not a host:port", api);
    snprintf(r->base, sizeof r->base, "http://%s" API_PREFIX, api);
    return SDSINF_OK;
}

int sdsinf_lambda_serve(const char *api, const sdsinf_lambda_handler *h,
                        sdsinf_err *err)
{
    sdsinf_worker_cache *cache = NULL;
    sdsinf_err e = {0};
    rt r;
    long status = 0;
    int rc;
    memset(&r, 0, sizeof r);
    if (!h || h->version < 1 || !h->invoke)
        return sdsinf__fail(err, SDSINF_EINVAL, "lambda: no handler, or "
                            "version %d (SDSINF_LAMBDA_HANDLER_VERSION)",
                            h ? h->version : 0);
    if ((rc = base_url(api ? api : getenv("AWS_LAMBDA_RUNTIME_API"), &r,
                       err)) != SDSINF_OK)
        return rc;
    if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK ||
        !(r.curl = curl_easy_init()))
        return sdsinf__fail(err, SDSINF_EIO, "lambda: libcurl will not "
                            "start");
    curl_easy_setopt(r.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r.curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(r.curl, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(r.curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(r.curl, CURLOPT_HEADERDATA, &r.ev);
    curl_easy_setopt(r.curl, CURLOPT_PROXY, ""); /* never a proxy */
    if ((rc = sdsinf_worker_cache_new(&cache, &e)) == SDSINF_OK && h->init)
        rc = h->init(h->ctx, &e);
    if (rc != SDSINF_OK) {
        post_error(&r, "/init/error", rc, &e);
        goto done;
    }
    for (;;) { /* Lambda ends the process; a test's API, by going away */
        if ((rc = request(&r, "/invocation/next", NULL, 0, NULL, &status,
                          &e)) != SDSINF_OK)
            break;
        if (status != 200 || !r.ev.id[0]) {
            rc = sdsinf__fail(&e, SDSINF_EIO, "the Lambda Runtime API: "
                              "next invocation: HTTP %ld%s: %.120s", status,
                              r.ev.id[0] ? "" : " without a request id",
                              r.body.data ? r.body.data : "");
            break;
        }
        serve_one(&r, h, cache);
    }
done:
    if (err)
        *err = e;
    sdsinf_worker_cache_free(cache);
    sdsinf__free(r.body.data);
    curl_easy_cleanup(r.curl);
    curl_global_cleanup();
    return rc;
}
