/* aws/client.c - the AWS client: libcurl easy handles kept in a pool and
 * sharing one connection cache, DNS cache and TLS sessions (a CURLSH,
 * locked per data kind), so the threads of a process reuse each other's
 * kept-alive connections; SigV4 signing by libcurl; retries with full
 * jitter (a random wait below base * 2^attempt, capped).
 *
 * A process fork()ed after using the client must not touch its parent's
 * sockets: the first call in a new process makes a fresh pool and share,
 * leaving the parent's alone (their memory is the child's to lose). */
#include "aws/aws.h"

#include <curl/curl.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define POOL_CAP 64             /* idle easy handles kept */
#define CONNECT_TIMEOUT_MS 5000
#define DEFAULT_TIMEOUT_MS 30000
#define BACKOFF_BASE_MS 25.0
#define BACKOFF_CAP_MS 5000.0
#define HEADER_LINES 24         /* extra headers a request may carry */

/* The handles of one process. */
typedef struct aws_core {
    pid_t pid;
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_mu;
    CURL *idle[POOL_CAP];
    int nidle;
} aws_core;

struct sdsinf_aws {
    sdsinf_aws_config cfg;
    pthread_mutex_t mu; /* core */
    aws_core *core;
    uint64_t seq;       /* for the jitter */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;
static const char *ca_file; /* NULL: libcurl's own CA bundle */

const char *const sdsinf__aws_ca_places[] = {
    "/etc/pki/tls/certs/ca-bundle.crt",   /* Amazon Linux, RHEL, Fedora */
    "/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu, Alpine */
    "/etc/ssl/cert.pem", NULL};           /* macOS, the BSDs, Arch */

const char *sdsinf__aws_ca_pick(const char *own, const char *const *places)
{
    for (size_t i = 0; own && access(own, R_OK) != 0 && places[i]; i++)
        if (access(places[i], R_OK) == 0)
            return places[i];
    return NULL;
}

/* The CA bundle to use where libcurl's own names a file that is not there
 * (sdsinf__aws_ca_pick of the usual places); else NULL. */
static const char *ca_fallback(void)
{
    char *own = NULL;
#if LIBCURL_VERSION_NUM >= 0x075400 /* CURLINFO_CAINFO: 7.84 */
    CURL *h = curl_easy_init();
    if (!h || curl_easy_getinfo(h, CURLINFO_CAINFO, &own) != CURLE_OK)
        own = NULL;
    own = own ? strdup(own) : NULL; /* (the handle's, freed next) */
    curl_easy_cleanup(h);
#endif
    const char *pick = sdsinf__aws_ca_pick(own, sdsinf__aws_ca_places);
    free(own);
    return pick;
}

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (global_rc == CURLE_OK)
        ca_file = ca_fallback();
}

/* ---- The share and the pool ------------------------------------------------ */

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
    (void)h, (void)a;
    aws_core *c = u;
    pthread_mutex_lock(&c->locks[(unsigned)d < CURL_LOCK_DATA_LAST ? d : 0]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
    (void)h;
    aws_core *c = u;
    pthread_mutex_unlock(&c->locks[(unsigned)d < CURL_LOCK_DATA_LAST ? d : 0]);
}

static void core_free(aws_core *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nidle; i++)
        curl_easy_cleanup(c->idle[i]);
    if (c->share)
        curl_share_cleanup(c->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->locks[i]);
    pthread_mutex_destroy(&c->pool_mu);
    sdsinf__free(c);
}

static aws_core *core_new(void)
{
    aws_core *c = sdsinf__calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->pid = getpid();
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    pthread_mutex_init(&c->pool_mu, NULL);
    if (!(c->share = curl_share_init()) ||
        curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock) ||
        curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
        curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE,
                          CURL_LOCK_DATA_SSL_SESSION) ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT)) {
        core_free(c);
        return NULL;
    }
    return c;
}

/* This process's core (made on first use in a fork()ed child). */
static aws_core *core_of(sdsinf_aws *a)
{
    pthread_mutex_lock(&a->mu);
    if (!a->core || a->core->pid != getpid())
        a->core = core_new(); /* a parent's is left as it is */
    aws_core *c = a->core;
    pthread_mutex_unlock(&a->mu);
    return c;
}

static CURL *handle_take(aws_core *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->pool_mu);
    if (c->nidle > 0)
        h = c->idle[--c->nidle];
    pthread_mutex_unlock(&c->pool_mu);
    return h ? h : curl_easy_init();
}

static void handle_give(aws_core *c, CURL *h)
{
    pthread_mutex_lock(&c->pool_mu);
    if (c->nidle < POOL_CAP) {
        c->idle[c->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_mu);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- The client ---------------------------------------------------------------- */

int sdsinf__aws_new_with(const sdsinf_aws_config *cfg, sdsinf_aws **out,
                         sdsinf_err *err)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return sdsinf__fail(err, SDSINF_EIO, "AWS client: libcurl would not "
                            "start: %s", curl_easy_strerror(global_rc));
    sdsinf_aws *a = sdsinf__calloc(1, sizeof *a);
    if (!a)
        return sdsinf__fail(err, SDSINF_ENOMEM, "AWS client: no memory");
    a->cfg = *cfg;
    pthread_mutex_init(&a->mu, NULL);
    if (!(a->core = core_new())) {
        sdsinf__aws_free(a);
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "AWS client: no memory for its connections");
    }
    *out = a;
    return SDSINF_OK;
}

int sdsinf__aws_new(sdsinf_aws **out, sdsinf_err *err)
{
    sdsinf_aws_config *cfg = sdsinf__malloc(sizeof *cfg);
    if (!cfg)
        return sdsinf__fail(err, SDSINF_ENOMEM, "AWS client: no memory");
    int code = sdsinf__aws_config_load(cfg, err);
    if (code == SDSINF_OK)
        code = sdsinf__aws_new_with(cfg, out, err);
    sdsinf__free(cfg);
    return code;
}

void sdsinf__aws_free(sdsinf_aws *a)
{
    if (!a)
        return;
    if (a->core && a->core->pid == getpid())
        core_free(a->core);
    pthread_mutex_destroy(&a->mu);
    sdsinf__free(a);
}

const sdsinf_aws_config *sdsinf__aws_config(const sdsinf_aws *a)
{
    return &a->cfg;
}

/* ---- Answers ----------------------------------------------------------------- */

/* A growing buffer for an answer's body or headers. */
typedef struct grow {
    char *p;
    size_t len, cap;
    int nomem;
} grow;

static size_t grow_put(char *data, size_t size, size_t n, void *u)
{
    grow *g = u;
    size_t add = size * n;
    if (g->len + add + 1 > g->cap) {
        size_t cap = g->cap ? g->cap : 4096;
        while (cap < g->len + add + 1)
            cap *= 2;
        char *p = sdsinf__realloc(g->p, cap);
        if (!p) {
            g->nomem = 1;
            return 0; /* curl stops: CURLE_WRITE_ERROR */
        }
        g->p = p;
        g->cap = cap;
    }
    memcpy(g->p + g->len, data, add);
    g->len += add;
    g->p[g->len] = 0;
    return add;
}

void sdsinf__aws_response_free(sdsinf_aws_response *rs)
{
    if (!rs)
        return;
    sdsinf__free(rs->body);
    sdsinf__free(rs->headers);
    memset(rs, 0, sizeof *rs);
}

int sdsinf__aws_response_header(const sdsinf_aws_response *rs,
                                const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *l = rs->headers; l && *l;) {
        const char *end = strchr(l, '\n');
        size_t n = end ? (size_t)(end - l) : strlen(l);
        if (n > nl && l[nl] == ':' && !strncasecmp(l, name, nl)) {
            const char *v = l + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vn = (size_t)(l + n - v);
            while (vn && (v[vn - 1] == '\r' || v[vn - 1] == ' '))
                vn--;
            if (vn >= cap)
                return -1;
            memcpy(out, v, vn);
            out[vn] = 0;
            return 0;
        }
        l = end ? end + 1 : l + n;
    }
    return -1;
}

/* ---- Requests -------------------------------------------------------------- */

/* A random wait in [0, min(cap, base * 2^attempt)) ms (full jitter). */
static double backoff_ms(sdsinf_aws *a, int attempt)
{
    uint64_t x = __atomic_add_fetch(&a->seq, 0x9e3779b97f4a7c15ull,
                                    __ATOMIC_RELAXED);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    x ^= (uint64_t)ts.tv_nsec * 0xbf58476d1ce4e5b9ull ^ (uint64_t)getpid();
    x ^= x >> 31;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 29;
    double top = BACKOFF_BASE_MS * (double)(1u << (attempt < 16 ? attempt : 16));
    if (top > BACKOFF_CAP_MS)
        top = BACKOFF_CAP_MS;
    return top * (double)(x >> 11) / 9007199254740992.0;
}

/* The header list of a request; NULL when out of memory. */
static struct curl_slist *make_headers(const sdsinf_aws *a,
                                       const sdsinf_aws_request *rq)
{
    struct curl_slist *l = NULL, *t;
    char line[4200];
    int typed = 0, ok = 1;
#define ADD(s) ok = ok && (t = curl_slist_append(l, s)) && (l = t, 1)
    for (int i = 0; rq->headers && rq->headers[i] && i < HEADER_LINES; i++) {
        typed |= !strncasecmp(rq->headers[i], "content-type:", 13);
        ADD(rq->headers[i]);
    }
    if (!typed && rq->body) /* else curl sends a form's type */
        ADD("Content-Type: application/octet-stream");
    if (a->cfg.session_token[0]) {
        snprintf(line, sizeof line, "X-Amz-Security-Token: %s",
                 a->cfg.session_token);
        ADD(line);
    }
    if (rq->service == SDSINF_AWS_S3) { /* curl signs it, but adds none */
        char hex[65];
        sdsinf__aws_sha256_hex(rq->body, rq->body_len, hex);
        snprintf(line, sizeof line, "x-amz-content-sha256: %s", hex);
        ADD(line);
    }
#undef ADD
    if (!ok) {
        curl_slist_free_all(l);
        return NULL;
    }
    return l;
}

/* Sets up h for one attempt of rq. */
static CURLcode setup(const sdsinf_aws *a, aws_core *c, CURL *h,
                      const sdsinf_aws_request *rq, const char *url,
                      const char *sigv4, struct curl_slist *hdrs, grow *body,
                      grow *head)
{
    CURLcode r = CURLE_OK;
    curl_easy_reset(h);
#define SET(opt, v) r = r ? r : curl_easy_setopt(h, opt, v)
    SET(CURLOPT_SHARE, c->share);
    SET(CURLOPT_URL, url);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_AWS_SIGV4, sigv4);
    SET(CURLOPT_USERNAME, a->cfg.access_key);
    SET(CURLOPT_PASSWORD, a->cfg.secret_key);
    SET(CURLOPT_HTTPHEADER, hdrs);
    SET(CURLOPT_TIMEOUT_MS,
        (long)(rq->timeout_ms > 0 ? rq->timeout_ms : DEFAULT_TIMEOUT_MS));
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_WRITEFUNCTION, grow_put);
    SET(CURLOPT_WRITEDATA, body);
    SET(CURLOPT_HEADERFUNCTION, grow_put);
    SET(CURLOPT_HEADERDATA, head);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    if (ca_file)
        SET(CURLOPT_CAINFO, ca_file);
    SET(CURLOPT_EXPECT_100_TIMEOUT_MS, 1L); /* (an "Expect:" header to drop
                                               it would be signed) */
    const char *m = rq->method ? rq->method : "GET";
    if (!strcmp(m, "HEAD")) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (rq->body || !strcmp(m, "POST") || !strcmp(m, "PUT")) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        SET(CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
        if (strcmp(m, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "GET") != 0) {
        SET(CURLOPT_CUSTOMREQUEST, m);
    }
#undef SET
    return r;
}

/* A failed request's message: the service, the request and what AWS
 * said. */
static int call_fail(const sdsinf_aws_request *rq, int code,
                     const sdsinf_aws_response *rs,
                     const char *message, const char *transport,
                     const char *url, sdsinf_err *err)
{
    const char *svc = sdsinf__aws_service_name(rq->service);
    const char *what = rq->what ? rq->what : "a request";
    if (transport)
        return sdsinf__fail(err, code,
                            "AWS %s: %s failed: %s (endpoint %s); "
                            "set AWS_ENDPOINT_URL to a reachable endpoint",
                            svc, what, transport, url);
    const char *hint = code == SDSINF_EACCES
                           ? "; check the credentials and their permissions"
                       : code == SDSINF_ETHROTTLED
                           ? "; retried, still throttled: lower the request "
                             "rate or raise the quota"
                           : "";
    return sdsinf__fail(err, code, "AWS %s: %s: HTTP %ld %s: %s%s%s%s%s",
                        svc, what, rs->status,
                        rs->error_code[0] ? rs->error_code : "(no code)",
                        message, rs->request_id[0] ? " (request " : "",
                        rs->request_id[0] ? rs->request_id : "",
                        rs->request_id[0] ? ")" : "", hint);
}

/* The request id of an answer: a header, else the XML's RequestId. */
static void find_request_id(sdsinf_aws_response *rs)
{
    if (sdsinf__aws_response_header(rs, "x-amz-request-id", rs->request_id,
                                    sizeof rs->request_id) == 0 ||
        sdsinf__aws_response_header(rs, "x-amzn-RequestId", rs->request_id,
                                    sizeof rs->request_id) == 0)
        return;
    rs->request_id[0] = 0;
    const char *p = rs->body ? strstr(rs->body, "<RequestId>") : NULL;
    if (p) { /* only for messages: the answer itself is parsed elsewhere */
        p += 11;
        size_t n = strcspn(p, "<");
        if (n < sizeof rs->request_id) {
            memcpy(rs->request_id, p, n);
            rs->request_id[n] = 0;
        }
    }
}

/* The error of a JSON protocol's answer (Lambda's): its type from the
 * x-amzn-ErrorType header ("Code:..." ) or the body's __type
 * ("namespace#Code"), its message from the body's message or Message. */
static void json_error(sdsinf_aws_response *rs, char *message, size_t cap)
{
    char type[sizeof rs->error_code];
    if (sdsinf__aws_response_header(rs, "x-amzn-ErrorType", type,
                                    sizeof type) != 0 &&
        sdsinf__aws_json_string(rs->body, rs->len, "__type", type,
                                sizeof type) != 0)
        type[0] = 0;
    const char *hash = strchr(type, '#');
    snprintf(rs->error_code, sizeof rs->error_code, "%.*s",
             (int)strcspn(hash ? hash + 1 : type, ":"), hash ? hash + 1 : type);
    if (sdsinf__aws_json_string(rs->body, rs->len, "message", message,
                                cap) != 0)
        sdsinf__aws_json_string(rs->body, rs->len, "Message", message, cap);
}

/* A request under way: its own multi handle around a pooled easy handle
 * (the share still pools the connections). */
struct sdsinf_aws_pending {
    sdsinf_aws *a;
    aws_core *core;
    CURLM *m;
    CURL *h;
    struct curl_slist *hdrs;
    sdsinf_aws_request rq; /* method, path and what point into text */
    uint64_t *retries;
    grow body, head;
    int attempt, attempts;
    int added;             /* h is in m: an attempt is under way */
    double retry_at;       /* when the next attempt starts (sdsinf__now) */
    char sigv4[128];
    char *url;
    char text[];           /* the request's strings, copied */
};

static void pending_free(sdsinf_aws_pending *p)
{
    if (!p)
        return;
    if (p->added)
        curl_multi_remove_handle(p->m, p->h);
    if (p->h) {
        if (p->added) /* a transfer cut short: its connection is dropped */
            curl_easy_cleanup(p->h);
        else
            handle_give(p->core, p->h);
    }
    if (p->m)
        curl_multi_cleanup(p->m);
    curl_slist_free_all(p->hdrs);
    sdsinf__free(p->body.p);
    sdsinf__free(p->head.p);
    sdsinf__free(p);
}

/* Copies s into p's text at *at; returns the copy. */
static const char *keep(sdsinf_aws_pending *p, size_t *at, const char *s)
{
    char *d = p->text + *at;
    size_t n = strlen(s) + 1;
    memcpy(d, s, n);
    *at += n;
    return d;
}

/* Starts the next attempt of p. */
static CURLcode attempt_start(sdsinf_aws_pending *p)
{
    sdsinf__free(p->body.p);
    sdsinf__free(p->head.p);
    memset(&p->body, 0, sizeof p->body);
    memset(&p->head, 0, sizeof p->head);
    CURLcode r = setup(p->a, p->core, p->h, &p->rq, p->url, p->sigv4, p->hdrs,
                       &p->body, &p->head);
    if (r == CURLE_OK && curl_multi_add_handle(p->m, p->h) != CURLM_OK)
        r = CURLE_OUT_OF_MEMORY;
    p->added = r == CURLE_OK;
    p->retry_at = 0;
    return r;
}

int sdsinf__aws_start(sdsinf_aws *a, const sdsinf_aws_request *rq,
                      uint64_t *retries, sdsinf_aws_pending **out,
                      sdsinf_err *err)
{
    if (!a || !rq || rq->version < 1 || !rq->path ||
        (unsigned)rq->service >= SDSINF_AWS_NSERVICES)
        return sdsinf__fail(err, SDSINF_EINVAL, "AWS client: bad request");
    aws_core *c = core_of(a);
    const char *what = rq->what ? rq->what : "a request";
    const char *method = rq->method ? rq->method : "GET";
    int whole = !strncmp(rq->path, "http://", 7) ||
                !strncmp(rq->path, "https://", 8);
    const char *base = whole ? "" : a->cfg.endpoint[rq->service];
    size_t ulen = strlen(base) + strlen(rq->path) + 1;
    size_t tlen = ulen + strlen(what) + strlen(method) + 2;
    sdsinf_aws_pending *p = c ? sdsinf__calloc(1, sizeof *p + tlen) : NULL;
    if (!p)
        return sdsinf__fail(err, SDSINF_ENOMEM, "AWS client: no memory for "
                            "%.80s", what);
    size_t at = ulen;
    p->a = a;
    p->core = c;
    p->rq = *rq;
    p->rq.what = keep(p, &at, what);
    p->rq.method = keep(p, &at, method);
    p->rq.headers = NULL; /* in hdrs */
    p->url = p->text;
    snprintf(p->url, ulen, "%s%s", base, rq->path);
    p->rq.path = p->url;
    p->retries = retries;
    p->attempts = rq->no_retry ? 1 : a->cfg.max_attempts;
    snprintf(p->sigv4, sizeof p->sigv4, "aws:amz:%s:%s", a->cfg.region,
             sdsinf__aws_service_name(rq->service));
    p->hdrs = make_headers(a, rq);
    p->m = curl_multi_init();
    p->h = handle_take(c);
    if (!p->hdrs || !p->m || !p->h || attempt_start(p) != CURLE_OK) {
        pending_free(p);
        return sdsinf__fail(err, SDSINF_ENOMEM, "AWS client: no memory for "
                            "%.80s", what);
    }
    *out = p;
    return SDSINF_OK;
}

void sdsinf__aws_abandon(sdsinf_aws_pending *p)
{
    pending_free(p);
}

/* Ends p's attempt with transfer result r: SDSINF_OK, a failure (*rs
 * filled, err set), or SDSINF_AWS_PENDING when a retry is due. */
static int attempt_end(sdsinf_aws_pending *p, CURLcode r,
                       sdsinf_aws_response *rs, sdsinf_err *err)
{
    char message[160] = "";
    const char *transport = NULL;
    int retry = 0, code;
    curl_multi_remove_handle(p->m, p->h);
    p->added = 0;
    memset(rs, 0, sizeof *rs);
    rs->body = p->body.p;
    rs->len = p->body.len;
    rs->headers = p->head.p;
    if (p->body.nomem || p->head.nomem) {
        code = sdsinf__fail(err, SDSINF_ENOMEM,
                            "AWS %s: no memory for the answer to %.80s",
                            sdsinf__aws_service_name(p->rq.service),
                            p->rq.what);
        goto done;
    }
    if (r != CURLE_OK) {
        transport = curl_easy_strerror(r);
        code = SDSINF_EIO;
        retry = r != CURLE_URL_MALFORMAT && r != CURLE_UNSUPPORTED_PROTOCOL &&
                r != CURLE_COULDNT_RESOLVE_HOST && r != CURLE_OUT_OF_MEMORY;
    } else {
        curl_easy_getinfo(p->h, CURLINFO_RESPONSE_CODE, &rs->status);
        find_request_id(rs);
        if (rs->status >= 200 && rs->status < 300) {
            code = SDSINF_OK;
            goto done;
        }
        int parsed = sdsinf__aws_error_parse(rs->body, rs->len,
                                             rs->error_code,
                                             sizeof rs->error_code, message,
                                             sizeof message);
        if (parsed == SDSINF_EPARSE) /* not XML: a JSON protocol's */
            json_error(rs, message, sizeof message);
        if (parsed == SDSINF_ENOMEM) {
            code = sdsinf__fail(err, SDSINF_ENOMEM,
                                "AWS %s: no memory to read the error answer "
                                "to %.80s",
                                sdsinf__aws_service_name(p->rq.service),
                                p->rq.what);
            goto done;
        }
        code = sdsinf__aws_error_status(rs->error_code, rs->status, &retry);
    }
    if (retry && ++p->attempt < p->attempts) {
        if (p->retries)
            __atomic_fetch_add(p->retries, 1, __ATOMIC_RELAXED);
        p->retry_at = sdsinf__now() + backoff_ms(p->a, p->attempt - 1) / 1e3;
        memset(rs, 0, sizeof *rs); /* (the buffers stay p's) */
        return SDSINF_AWS_PENDING;
    }
    call_fail(&p->rq, code, rs, message, transport, p->url, err);
done:
    p->body.p = p->head.p = NULL; /* now rs's */
    return code;
}

int sdsinf__aws_wait(sdsinf_aws_pending **pp, int timeout_ms,
                     sdsinf_aws_response *rs, sdsinf_err *err)
{
    sdsinf_aws_pending *p = *pp;
    double deadline = sdsinf__now() + (timeout_ms < 0 ? 1e9 : timeout_ms / 1e3);
    int code = SDSINF_AWS_PENDING;
    memset(rs, 0, sizeof *rs);
    while (code == SDSINF_AWS_PENDING) {
        double now = sdsinf__now();
        if (!p->added) { /* a retry's backoff */
            if (now < p->retry_at) {
                if (now >= deadline)
                    return SDSINF_AWS_PENDING;
                double until = p->retry_at < deadline ? p->retry_at : deadline;
                sdsinf__sleep_ms((until - now) * 1e3);
                continue;
            }
            if (attempt_start(p) != CURLE_OK) {
                code = sdsinf__fail(err, SDSINF_ENOMEM, "AWS client: no "
                                    "memory to retry %.80s", p->rq.what);
                break;
            }
        }
        int running = 0;
        CURLMcode mr = curl_multi_perform(p->m, &running);
        int left;
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(p->m, &left)))
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == p->h) {
                code = attempt_end(p, msg->data.result, rs, err);
                running = 0;
                break;
            }
        if (code != SDSINF_AWS_PENDING || !p->added)
            continue;
        if (mr != CURLM_OK) {
            code = sdsinf__fail(err, SDSINF_EIO, "AWS client: %.80s: %s",
                                p->rq.what, curl_multi_strerror(mr));
            break;
        }
        double wait_ms = (deadline - sdsinf__now()) * 1e3;
        if (wait_ms <= 0)
            return SDSINF_AWS_PENDING;
        curl_multi_poll(p->m, NULL, 0, wait_ms < 1000 ? (int)wait_ms + 1 : 1000,
                        NULL);
    }
    pending_free(p);
    *pp = NULL;
    return code;
}

int sdsinf__aws_call(sdsinf_aws *a, const sdsinf_aws_request *rq,
                     sdsinf_aws_response *rs, uint64_t *retries,
                     sdsinf_err *err)
{
    sdsinf_aws_pending *p = NULL;
    memset(rs, 0, sizeof *rs);
    int code = sdsinf__aws_start(a, rq, retries, &p, err);
    return code != SDSINF_OK ? code : sdsinf__aws_wait(&p, -1, rs, err);
}

int sdsinf__aws_post_form(sdsinf_aws *a, sdsinf_aws_service s,
                          const char *url, const sdsinf_aws_form *f,
                          const char *what, int timeout_ms, int no_retry,
                          sdsinf_aws_response *rs, uint64_t *retries,
                          sdsinf_err *err)
{
    static const char *const hdrs[] = {
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
        NULL};
    if (!sdsinf__aws_form_ok(f)) {
        memset(rs, 0, sizeof *rs);
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "AWS %s: no memory for %.80s",
                            sdsinf__aws_service_name(s), what);
    }
    sdsinf_aws_request rq = {
        .version = SDSINF_AWS_REQUEST_VERSION, .service = s, .method = "POST",
        .path = url ? url : "/", .headers = hdrs, .body = f->s,
        .body_len = f->len, .what = what, .timeout_ms = timeout_ms,
        .no_retry = no_retry};
    return sdsinf__aws_call(a, &rq, rs, retries, err);
}

int sdsinf__aws_query(sdsinf_aws *a, sdsinf_aws_service s, sdsinf_aws_form *f,
                      const char *what, sdsinf_aws_xml **x, char *code,
                      size_t cap, uint64_t *retries, sdsinf_err *err)
{
    sdsinf_aws_response rs;
    int rc = sdsinf__aws_post_form(a, s, NULL, f, what, 0, 0, &rs, retries,
                                   err);
    sdsinf__aws_form_free(f);
    if (code && cap)
        snprintf(code, cap, "%s", rc == SDSINF_OK ? "" : rs.error_code);
    if (rc == SDSINF_OK && x)
        rc = sdsinf__aws_xml_parse(rs.body, rs.len, what, x, err);
    sdsinf__aws_response_free(&rs);
    return rc;
}

int sdsinf__aws_type_init(const sdsinf_channel_methods *m, void **state,
                          sdsinf_err *err)
{
    (void)m;
    sdsinf_aws *a = NULL;
    int code = sdsinf__aws_new(&a, err);
    if (code == SDSINF_OK)
        *state = a;
    return code;
}

void sdsinf__aws_type_cleanup(void *state)
{
    sdsinf__aws_free(state);
}
