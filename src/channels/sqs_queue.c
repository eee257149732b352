/* channels/sqs_queue.c - what the sqs and sns channels share: settings, a
 * run's queues, a worker's receive side (sqs_queue.h).  Sections:
 * settings and names, requests, queues, receive. */
#include "channels/sqs_queue.h"
#include "channels/channels.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define UNIT 65536               /* SQS's and SNS's billing chunk */
#define ENTRY_OVERHEAD SDSINF_SQSQ_SQS_ENTRY
#define POLL_SLACK_MS 15000      /* a long poll's HTTP limit past its wait */
#define LONG_POLL_MIN_MS 100     /* shorter recv calls make short polls (the
                                    runtime's cancelable waits are 100 ms
                                    slices of a longer one) */
#define HAND_BACK_PAUSE_MS 50  /* after handing another run's young
                                  messages back, the next poll waits so
                                  that their run's receiver takes them */
#define CROWDED_HIDE_S 2       /* a full answer of other runs' messages is
                                  hidden this long, so that what is behind
                                  it (this run's) comes up */
#define DRAIN_WAIT_S 1          /* a drain's polls: long enough that an
                                  empty answer means an empty queue */
#define DRAIN_SLICE_MS 5        /* a drain's wait on one poll at a time */
#define ERR_NONEXISTENT "AWS.SimpleQueueService.NonExistentQueue"
#define ERR_NONEXISTENT_JSON "QueueDoesNotExist"

/* ---- Settings and names ----------------------------------------------------- */

/* The entry index of a batch answer's Id ("0".."9", as the senders
 * write it); -1 for any other. */
static int batch_id(const char *id)
{
    return id[0] >= '0' && id[0] < '0' + SDSINF_SQSQ_BATCH && !id[1]
               ? id[0] - '0'
               : -1;
}

int sdsinf__sqsq_parse(const char *channel, const char *config,
                       sdsinf_sqsq_settings *st, sdsinf_sqsq_extra extra,
                       void *ctx, const char *extra_help, sdsinf_err *err)
{
    sdsinf__setting it;
    memset(st, 0, sizeof *st);
    strcpy(st->prefix, "sdsinf");
    st->visibility_s = 300;
    st->wait_s = 0; /* unset: 20 s, or 2 s on a stack's queues */
    for (const char *s = config; sdsinf__setting_next(&s, &it);) {
        int bad;
        if (sdsinf__setting_is(&it, "prefix"))
            bad = sdsinf__setting_name(&it, "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_", st->prefix,
                                       sizeof st->prefix);
        else if (sdsinf__setting_is(&it, "visibility"))
            bad = (st->visibility_s = sdsinf__setting_int(&it, 1, 43200)) < 0;
        else if (sdsinf__setting_is(&it, "wait"))
            bad = (st->wait_s = sdsinf__setting_int(&it, 1, 20)) < 0;
        else if (sdsinf__setting_is(&it, "queues"))
            bad = sdsinf__setting_name(&it, "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_",
                                       st->queues, sizeof st->queues);
        else if ((bad = sdsinf__claim_setting(&st->claim, &it)) == 1)
            bad = extra ? extra(ctx, &it) != 0 : 1;
        if (bad)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "channel '%s': bad setting '%.*s' (known: "
                                "prefix=NAME of letters, digits, '-', '_' up "
                                "to 47; visibility=SECONDS 1..43200; "
                                "wait=SECONDS 1..20; queues=NAME of a "
                                "stack's queues NAME-0, NAME-1, .."
                                SDSINF__CLAIM_HELP "%s; comma-separated)",
                                channel, (int)(it.len < 60 ? it.len : 60),
                                it.item, extra_help);
    }
    if (!st->wait_s) /* a close on shared queues awaits its poll: short */
        st->wait_s = st->queues[0] ? 2 : 20;
    return SDSINF_OK;
}

void sdsinf__sqsq_run_prefix(const sdsinf_sqsq_settings *st, uint64_t run,
                             char *out)
{
    snprintf(out, SDSINF_SQSQ_NAME_CAP, "%s-%016" PRIx64 "-", st->prefix, run);
}

void sdsinf__sqsq_name(const sdsinf_sqsq_settings *st, uint64_t run, int w,
                       char *out)
{
    if (st->queues[0]) {
        snprintf(out, SDSINF_SQSQ_NAME_CAP, "%s-%d", st->queues, w);
        return;
    }
    snprintf(out, SDSINF_SQSQ_NAME_CAP, "%s-%016" PRIx64 "-%d", st->prefix,
             run, w);
}

uint64_t sdsinf__sqsq_units(size_t bytes)
{
    return bytes <= UNIT ? 1 : (uint64_t)((bytes + UNIT - 1) / UNIT);
}

int sdsinf__sqsq_nonexistent(const sdsinf_aws_response *rs)
{
    return !strcmp(rs->error_code, ERR_NONEXISTENT) ||
           !strcmp(rs->error_code, ERR_NONEXISTENT_JSON);
}

/* ---- Requests ------------------------------------------------------------------ */

int sdsinf__sqsq_post(sdsinf_aws *a, sdsinf_aws_service s, sdsinf_aws_form *f,
                      const char *what, uint64_t units, sdsinf_requests *req,
                      sdsinf_aws_response *rs, sdsinf_aws_xml **x,
                      sdsinf_err *err)
{
    int code = sdsinf__aws_post_form(a, s, NULL, f, what, 0, 0, rs,
                                     &req->retries, err);
    __atomic_fetch_add(&req->units, units, __ATOMIC_RELAXED);
    sdsinf__aws_form_free(f);
    if (code == SDSINF_OK && x)
        code = sdsinf__aws_xml_parse(rs->body, rs->len, what, x, err);
    return code;
}

/* An SQS request billed one unit. */
static int post(sdsinf_aws *a, sdsinf_aws_form *f, const char *what,
                sdsinf_requests *req, sdsinf_aws_response *rs,
                sdsinf_aws_xml **x, sdsinf_err *err)
{
    return sdsinf__sqsq_post(a, SDSINF_AWS_SQS, f, what, 1, req, rs, x, err);
}

void sdsinf__sqsq_failed(sdsinf_aws_xml *x, const sdsinf_aws_node *from,
                         const char *elem, unsigned *again, char *code,
                         size_t cap, int *fatal)
{
    for (const sdsinf_aws_node *e = sdsinf__aws_xml_find(x, from, elem); e;
         e = sdsinf__aws_xml_next(e, elem)) {
        const char *id = sdsinf__aws_xml_text(e, "Id", NULL);
        const char *sf = sdsinf__aws_xml_text(e, "SenderFault", NULL);
        int i = id ? batch_id(id) : -1;
        if (i >= 0)
            *again |= 1u << i;
        if (!code[0] && sdsinf__aws_xml_copy(e, "Code", code, cap) != 0)
            code[0] = 0;
        *fatal |= i < 0 || (sf && !strcmp(sf, "true"));
    }
}

/* The QueueUrl of an answer into url. */
static int answer_url(sdsinf_aws_xml *x, const char *what, char *url,
                      sdsinf_err *err)
{
    if (sdsinf__aws_xml_copy(sdsinf__aws_xml_find(x, NULL, "QueueUrl"), NULL,
                             url, SDSINF_SQSQ_URL_CAP) != 0)
        return sdsinf__fail(err, SDSINF_EPARSE,
                            "SQS: the answer to %.80s has no QueueUrl", what);
    return SDSINF_OK;
}

/* ---- Queues ------------------------------------------------------------------ */

int sdsinf__sqsq_create(sdsinf_aws *a, const sdsinf_sqsq_settings *st,
                        const char *name, int tagged, char *url,
                        sdsinf_requests *req, sdsinf_err *err)
{
    char what[SDSINF_SQSQ_NAME_CAP + 16], vis[16];
    sdsinf_aws_form f;
    sdsinf_aws_response rs;
    sdsinf_aws_xml *x = NULL;
    snprintf(what, sizeof what, "CreateQueue %s", name);
    snprintf(vis, sizeof vis, "%d", st->visibility_s);
    sdsinf__aws_form_init(&f, "CreateQueue", SDSINF_SQSQ_VERSION);
    sdsinf__aws_form_add(&f, name, strlen(name), "QueueName");
    sdsinf__aws_form_add(&f, "VisibilityTimeout", 17, "Attribute.1.Name");
    sdsinf__aws_form_add(&f, vis, strlen(vis), "Attribute.1.Value");
    if (tagged) {
        sdsinf__aws_form_add(&f, "sdsinf", 6, "Tag.1.Key");
        sdsinf__aws_form_add(&f, "created", 7, "Tag.1.Value");
    }
    req->send++;
    int code = post(a, &f, what, req, &rs, url ? &x : NULL, err);
    if (code == SDSINF_OK && url)
        code = answer_url(x, what, url, err);
    sdsinf__aws_xml_free(x);
    sdsinf__aws_response_free(&rs);
    return code;
}

int sdsinf__sqsq_find(sdsinf_aws *a, const char *name, char *url,
                      int *created, sdsinf_requests *req, sdsinf_err *err)
{
    sdsinf_aws_form f;
    sdsinf_aws_response rs;
    sdsinf_aws_xml *x = NULL;
    char what[SDSINF_SQSQ_NAME_CAP + 16];
    snprintf(what, sizeof what, "GetQueueUrl %s", name);
    sdsinf__aws_form_init(&f, "GetQueueUrl", SDSINF_SQSQ_VERSION);
    sdsinf__aws_form_add(&f, name, strlen(name), "QueueName");
    req->list++;
    int code = post(a, &f, what, req, &rs, &x, err);
    if (code == SDSINF_OK)
        code = answer_url(x, what, url, err);
    else if (sdsinf__sqsq_nonexistent(&rs))
        code = 1;
    sdsinf__aws_xml_free(x);
    sdsinf__aws_response_free(&rs);
    x = NULL;
    if (code != SDSINF_OK || !created)
        return code;
    *created = 0; /* made by run_create if tagged so */
    snprintf(what, sizeof what, "ListQueueTags %s", name);
    sdsinf__aws_form_init(&f, "ListQueueTags", SDSINF_SQSQ_VERSION);
    sdsinf__aws_form_add(&f, url, strlen(url), "QueueUrl");
    req->list++;
    code = post(a, &f, what, req, &rs, &x, err);
    for (const sdsinf_aws_node *t =
             code == SDSINF_OK ? sdsinf__aws_xml_find(x, NULL, "Tag") : NULL;
         t; t = sdsinf__aws_xml_next(t, "Tag")) {
        const char *k = sdsinf__aws_xml_text(t, "Key", NULL);
        const char *v = sdsinf__aws_xml_text(t, "Value", NULL);
        *created |= k && v && !strcmp(k, "sdsinf") && !strcmp(v, "created");
    }
    sdsinf__aws_xml_free(x);
    sdsinf__aws_response_free(&rs);
    return code;
}

int sdsinf__sqsq_arn(sdsinf_aws *a, const char *url, char *arn, size_t cap,
                     sdsinf_requests *req, sdsinf_err *err)
{
    sdsinf_aws_form f;
    sdsinf_aws_response rs;
    sdsinf_aws_xml *x = NULL;
    char what[SDSINF_SQSQ_URL_CAP + 32];
    snprintf(what, sizeof what, "GetQueueAttributes %s", url);
    sdsinf__aws_form_init(&f, "GetQueueAttributes", SDSINF_SQSQ_VERSION);
    sdsinf__aws_form_add(&f, url, strlen(url), "QueueUrl");
    sdsinf__aws_form_add(&f, "QueueArn", 8, "AttributeName.1");
    req->list++;
    int code = post(a, &f, what, req, &rs, &x, err);
    const sdsinf_aws_node *at =
        code == SDSINF_OK ? sdsinf__aws_xml_find(x, NULL, "Attribute") : NULL;
    if (code == SDSINF_OK && sdsinf__aws_xml_copy(at, "Value", arn, cap) != 0)
        code = sdsinf__fail(err, SDSINF_EPARSE,
                            "SQS: the answer to %.200s has no QueueArn", what);
    sdsinf__aws_xml_free(x);
    sdsinf__aws_response_free(&rs);
    return code;
}

int sdsinf__sqsq_set_attribute(sdsinf_aws *a, const char *url,
                               const char *name, const char *value,
                               sdsinf_requests *req, sdsinf_err *err)
{
    sdsinf_aws_form f;
    sdsinf_aws_response rs;
    char what[SDSINF_SQSQ_URL_CAP + 64];
    snprintf(what, sizeof what, "SetQueueAttributes %.30s of %s", name, url);
    sdsinf__aws_form_init(&f, "SetQueueAttributes", SDSINF_SQSQ_VERSION);
    sdsinf__aws_form_add(&f, url, strlen(url), "QueueUrl");
    sdsinf__aws_form_add(&f, name, strlen(name), "Attribute.1.Name");
    sdsinf__aws_form_add(&f, value, strlen(value), "Attribute.1.Value");
    req->list++;
    int code = post(a, &f, what, req, &rs, NULL, err);
    sdsinf__aws_response_free(&rs);
    return code;
}

/* Deletes the queue at url; one already gone is no error. */
static int delete_queue(sdsinf_aws *a, const char *url, sdsinf_requests *req,
                        sdsinf_err *err)
{
    sdsinf_aws_form f;
    sdsinf_aws_response rs;
    char what[SDSINF_SQSQ_URL_CAP + 16];
    snprintf(what, sizeof what, "DeleteQueue %s", strrchr(url, '/') + 1);
    sdsinf__aws_form_init(&f, "DeleteQueue", SDSINF_SQSQ_VERSION);
    sdsinf__aws_form_add(&f, url, strlen(url), "QueueUrl");
    req->remove++;
    int code = post(a, &f, what, req, &rs, NULL, err);
    if (code != SDSINF_OK && sdsinf__sqsq_nonexistent(&rs))
        code = SDSINF_OK;
    sdsinf__aws_response_free(&rs);
    return code;
}

/* The run's queues that exist (ListQueues with the run's prefix, every
 * page): each URL handed to fn (which may be NULL), the count into *n. */
static int list_run(sdsinf_aws *a, const sdsinf_sqsq_settings *st,
                    uint64_t run,
                    int (*fn)(sdsinf_aws *, const char *, sdsinf_requests *,
                              sdsinf_err *),
                    int64_t *n, sdsinf_requests *req, sdsinf_err *err)
{
    char prefix[SDSINF_SQSQ_NAME_CAP], token[2048] = "";
    sdsinf__sqsq_run_prefix(st, run, prefix);
    int64_t count = 0;
    int code = SDSINF_OK;
    do {
        sdsinf_aws_form f;
        sdsinf_aws_response rs;
        sdsinf_aws_xml *x = NULL;
        sdsinf__aws_form_init(&f, "ListQueues", SDSINF_SQSQ_VERSION);
        sdsinf__aws_form_add(&f, prefix, strlen(prefix), "QueueNamePrefix");
        sdsinf__aws_form_add(&f, "1000", 4, "MaxResults");
        if (token[0])
            sdsinf__aws_form_add(&f, token, strlen(token), "NextToken");
        req->list++;
        code = post(a, &f, "ListQueues", req, &rs, &x, err);
        for (const sdsinf_aws_node *q =
                 code == SDSINF_OK ? sdsinf__aws_xml_find(x, NULL, "QueueUrl")
                                   : NULL;
             q && code == SDSINF_OK; q = sdsinf__aws_xml_next(q, "QueueUrl")) {
            char url[SDSINF_SQSQ_URL_CAP];
            count++;
            if (fn && sdsinf__aws_xml_copy(q, NULL, url, sizeof url) == 0 &&
                strrchr(url, '/'))
                code = fn(a, url, req, err);
        }
        if (code == SDSINF_OK &&
            sdsinf__aws_xml_copy(sdsinf__aws_xml_find(x, NULL, "NextToken"),
                                 NULL, token, sizeof token) != 0)
            token[0] = 0;
        sdsinf__aws_xml_free(x);
        sdsinf__aws_response_free(&rs);
    } while (code == SDSINF_OK && token[0]);
    if (code == SDSINF_OK && n)
        *n = count;
    return code;
}

int sdsinf__sqsq_count_run(sdsinf_aws *a, const sdsinf_sqsq_settings *st,
                           uint64_t run, int64_t *n, sdsinf_requests *req,
                           sdsinf_err *err)
{
    if (st->queues[0]) {
        *n = 0;
        return SDSINF_OK;
    }
    return list_run(a, st, run, NULL, n, req, err);
}

int sdsinf__sqsq_find_shared(sdsinf_aws *a, const char *channel,
                             const char *name, char *url,
                             sdsinf_requests *req, sdsinf_err *err)
{
    int code = sdsinf__sqsq_find(a, name, url, NULL, req, err);
    if (code == 1)
        code = sdsinf__fail(err, SDSINF_EINVAL,
                            "channel '%s': the stack has no queue %s: it "
                            "was deployed for fewer workers (sdsinf aws "
                            "deploy --stack NAME --max-workers W, W at "
                            "least the run's workers)",
                            channel, name);
    return code;
}

int sdsinf__sqsq_check_shared(sdsinf_aws *a, const sdsinf_sqsq_settings *st,
                              const char *channel, int workers,
                              sdsinf_requests *req, sdsinf_err *err)
{
    int code = SDSINF_OK;
    for (int w = 0; w < workers && code == SDSINF_OK; w++) {
        char name[SDSINF_SQSQ_NAME_CAP], url[SDSINF_SQSQ_URL_CAP];
        sdsinf__sqsq_name(st, 0, w, name);
        code = sdsinf__sqsq_find_shared(a, channel, name, url, req, err);
    }
    return code;
}

/* The URL of some queue of the run into url (GetQueueUrl of worker 0's,
 * else the first ListQueues shows); 1 when the run has none. */
static int any_queue_url(sdsinf_aws *a, const sdsinf_sqsq_settings *st,
                         uint64_t run, char *url, sdsinf_requests *req,
                         sdsinf_err *err)
{
    char name[SDSINF_SQSQ_NAME_CAP], prefix[SDSINF_SQSQ_NAME_CAP];
    sdsinf__sqsq_name(st, run, 0, name);
    int code = sdsinf__sqsq_find(a, name, url, NULL, req, err);
    if (code != 1)
        return code;
    sdsinf_aws_form f;
    sdsinf_aws_response rs;
    sdsinf_aws_xml *x = NULL;
    sdsinf__sqsq_run_prefix(st, run, prefix);
    sdsinf__aws_form_init(&f, "ListQueues", SDSINF_SQSQ_VERSION);
    sdsinf__aws_form_add(&f, prefix, strlen(prefix), "QueueNamePrefix");
    req->list++;
    code = post(a, &f, "ListQueues", req, &rs, &x, err);
    if (code == SDSINF_OK &&
        sdsinf__aws_xml_copy(sdsinf__aws_xml_find(x, NULL, "QueueUrl"), NULL,
                             url, SDSINF_SQSQ_URL_CAP) != 0)
        code = 1;
    sdsinf__aws_xml_free(x);
    sdsinf__aws_response_free(&rs);
    return code;
}

int sdsinf__sqsq_remove_run(sdsinf_aws *a, const sdsinf_sqsq_settings *st,
                            uint64_t run, int workers, sdsinf_requests *req,
                            sdsinf_err *err)
{
    char url[SDSINF_SQSQ_URL_CAP], name[SDSINF_SQSQ_NAME_CAP];
    if (st->queues[0])
        return SDSINF_OK; /* the stack's */
    int code = any_queue_url(a, st, run, url, req, err);
    const char *slash = code == SDSINF_OK ? strrchr(url, '/') : NULL;
    for (int w = 0; slash && w < workers && code == SDSINF_OK; w++) {
        char one[SDSINF_SQSQ_URL_CAP];
        sdsinf__sqsq_name(st, run, w, name);
        snprintf(one, sizeof one, "%.*s%s", (int)(slash + 1 - url), url, name);
        if ((code = delete_queue(a, one, req, err)) == SDSINF_ENOMEM)
            code = delete_queue(a, one, req, err);
    }
    if (code == 1)
        code = SDSINF_OK; /* nothing there */
    if (code == SDSINF_OK)
        code = list_run(a, st, run, delete_queue, NULL, req, err);
    if (code == SDSINF_ENOMEM)
        code = list_run(a, st, run, delete_queue, NULL, req, err);
    return code;
}

/* ---- Receive ----------------------------------------------------------------------- */

/* Starts a ReceiveMessage of up to 10 messages waiting up to wait_s. */
static int poll_start(sdsinf_sqsq_inbox *in, int wait_s, sdsinf_err *err)
{
    char ws[16], what[SDSINF_SQSQ_NAME_CAP + 32];
    snprintf(ws, sizeof ws, "%d", wait_s);
    snprintf(what, sizeof what, "ReceiveMessage on %s", in->name);
    sdsinf_aws_form *f = &in->poll_form;
    sdsinf__aws_form_free(f);
    sdsinf__aws_form_init(f, "ReceiveMessage", SDSINF_SQSQ_VERSION);
    sdsinf__aws_form_add(f, in->url, strlen(in->url), "QueueUrl");
    sdsinf__aws_form_add(f, "10", 2, "MaxNumberOfMessages");
    sdsinf__aws_form_add(f, ws, strlen(ws), "WaitTimeSeconds");
    sdsinf__aws_form_add(f, "d", 1, "MessageAttributeName.1");
    if (in->shared) {
        sdsinf__aws_form_add(f, SDSINF_SQSQ_RUN_ATTR,
                             strlen(SDSINF_SQSQ_RUN_ATTR),
                             "MessageAttributeName.2");
        sdsinf__aws_form_add(f, "SentTimestamp", 13, "AttributeName.1");
    }
    if (!sdsinf__aws_form_ok(f))
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel '%s': no memory for %s", in->channel,
                            what);
    static const char *const hdrs[] = {
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
        NULL};
    sdsinf_aws_request rq = {
        .version = SDSINF_AWS_REQUEST_VERSION, .service = SDSINF_AWS_SQS,
        .method = "POST", .path = "/", .headers = hdrs, .body = f->s,
        .body_len = f->len, .what = what,
        .timeout_ms = wait_s * 1000 + POLL_SLACK_MS};
    SDSINF__COUNT(in->ch, receive, 1);
    in->poll_wait_s = wait_s;
    return sdsinf__aws_start(in->aws, &rq, &in->ch->requests.retries,
                             &in->poll, err);
}

/* A received message's bytes (body "0": empty; "1": attribute d; "=":
 * base64 after it; "@": a claim check's pointer, its object fetched); the
 * payload SQS bills for it added to *billed.  1 for a message to drop
 * (another run's pointer). */
static int take_message(sdsinf_sqsq_inbox *in, const sdsinf_aws_node *m,
                        sdsinf_sqsq_msg *out, size_t *billed, sdsinf_err *err)
{
    size_t blen = 0, n = 0;
    const char *body = sdsinf__aws_xml_text(m, "Body", &blen);
    const char *b64 = NULL;
    if (body && body[0] == '@') {
        *billed += blen;
        return sdsinf__claim_fetch(in->claim, body, blen, &out->data,
                                   &out->len, err);
    }
    if (body && body[0] == '=') {
        b64 = body + 1;
        n = blen - 1;
    }
    for (const sdsinf_aws_node *a = sdsinf__aws_xml_find(NULL, m,
                                                         "MessageAttribute");
         a && body && !strcmp(body, "1") && !b64;
         a = sdsinf__aws_xml_next(a, "MessageAttribute")) {
        const char *name = sdsinf__aws_xml_text(a, "Name", NULL);
        if (name && !strcmp(name, "d"))
            b64 = sdsinf__aws_xml_text(sdsinf__aws_xml_find(NULL, a,
                                                            "BinaryValue"),
                                       NULL, &n);
    }
    if (!body || (strcmp(body, "0") && !b64))
        return sdsinf__fail(err, SDSINF_ECORRUPT,
                            "channel '%s': worker %d got a message in %s "
                            "that sdsinf did not send (body '%.20s'); is "
                            "another program using the queue?",
                            in->channel, in->ch->self, in->name,
                            body ? body : "");
    unsigned char *d = sdsinf__malloc(b64 ? n / 4 * 3 + 1 : 1);
    if (!d)
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel '%s': no memory for a message of %zu "
                            "bytes (worker %d)",
                            in->channel, n, in->ch->self);
    long len = b64 ? sdsinf__aws_base64_decode(b64, n, d) : 0;
    if (len < 0) {
        sdsinf__free(d);
        return sdsinf__fail(err, SDSINF_ECORRUPT,
                            "channel '%s': worker %d got a message in %s "
                            "whose data is not base64",
                            in->channel, in->ch->self, in->name);
    }
    out->data = d;
    out->len = (size_t)len;
    *billed += body[0] == '=' ? blen : (size_t)len + ENTRY_OVERHEAD;
    return SDSINF_OK;
}

/* The string value of message m's attribute `name`, or NULL. */
static const char *attribute(const sdsinf_aws_node *m, const char *name)
{
    for (const sdsinf_aws_node *a = sdsinf__aws_xml_find(NULL, m,
                                                         "MessageAttribute");
         a; a = sdsinf__aws_xml_next(a, "MessageAttribute")) {
        const char *n = sdsinf__aws_xml_text(a, "Name", NULL);
        if (n && !strcmp(n, name))
            return sdsinf__aws_xml_text(sdsinf__aws_xml_find(NULL, a,
                                                             "StringValue"),
                                        NULL, NULL);
    }
    return NULL;
}

/* On a shared queue, whether m is another run's; if so the seconds until
 * it is to be visible again into *again_s and whether it is young into
 * *young.  Young (sent less than the visibility timeout ago, which is
 * longer than any wait of a run): its run may be alive and polling the
 * same queue, so it goes back at once (0 s).  Older: its run must be dead,
 * so it is hidden for the visibility timeout, and a dead run's leftovers
 * cost a few receives an hour until the queue's retention drops them
 * (while young, a receive and a hand-back per 50 ms of a waiting
 * receiver).  The age is SentTimestamp (AWS's clock) against this
 * machine's. */
static int foreign(const sdsinf_sqsq_inbox *in, const sdsinf_aws_node *m,
                   int *again_s, int *young)
{
    char ours[24];
    const char *r = in->shared ? attribute(m, SDSINF_SQSQ_RUN_ATTR) : NULL;
    snprintf(ours, sizeof ours, "%016" PRIx64, in->ch->run);
    if (!r || !strcmp(r, ours))
        return 0;
    double age_s = 0; /* unknown: young, the side that stalls no run */
    for (const sdsinf_aws_node *a = sdsinf__aws_xml_find(NULL, m, "Attribute");
         a; a = sdsinf__aws_xml_next(a, "Attribute")) {
        const char *n = sdsinf__aws_xml_text(a, "Name", NULL);
        const char *v = sdsinf__aws_xml_text(a, "Value", NULL);
        if (n && v && !strcmp(n, "SentTimestamp"))
            age_s = sdsinf__wall_now() - strtod(v, NULL) / 1e3;
    }
    *young = age_s < in->visibility_s;
    *again_s = *young ? 0 : in->visibility_s;
    return 1;
}

/* One batch request (DeleteMessageBatch, or ChangeMessageVisibilityBatch
 * when `back`) on the messages of a ReceiveMessage answer whose bit in
 * `which` is set; again_s[i]: message i's visibility (back). */
static int settle(sdsinf_sqsq_inbox *in, sdsinf_aws_xml *x, unsigned which,
                  int back, const int *again_s, sdsinf_err *err)
{
    const char *action = back ? "ChangeMessageVisibilityBatch"
                              : "DeleteMessageBatch";
    const char *entry = back ? "ChangeMessageVisibilityBatchRequestEntry"
                             : "DeleteMessageBatchRequestEntry";
    sdsinf_aws_form f;
    sdsinf_aws_response rs;
    sdsinf_aws_xml *dx = NULL;
    char what[SDSINF_SQSQ_NAME_CAP + 48];
    int k = 0, i = 0;
    snprintf(what, sizeof what, "%s on %s", action, in->name);
    sdsinf__aws_form_init(&f, action, SDSINF_SQSQ_VERSION);
    sdsinf__aws_form_add(&f, in->url, strlen(in->url), "QueueUrl");
    for (const sdsinf_aws_node *m = sdsinf__aws_xml_find(x, NULL, "Message");
         m && i < SDSINF_SQSQ_BATCH;
         m = sdsinf__aws_xml_next(m, "Message"), i++) {
        size_t n;
        const char *h = sdsinf__aws_xml_text(m, "ReceiptHandle", &n);
        char id[16], vis[16];
        if (!h || !(which >> i & 1))
            continue;
        snprintf(id, sizeof id, "%d", ++k);
        sdsinf__aws_form_add(&f, id, strlen(id), "%s.%d.Id", entry, k);
        sdsinf__aws_form_add(&f, h, n, "%s.%d.ReceiptHandle", entry, k);
        snprintf(vis, sizeof vis, "%d", back ? again_s[i] : 0);
        if (back)
            sdsinf__aws_form_add(&f, vis, strlen(vis),
                                 "%s.%d.VisibilityTimeout", entry, k);
    }
    if (!k) {
        sdsinf__aws_form_free(&f);
        return SDSINF_OK;
    }
    SDSINF__COUNT(in->ch, remove, 1);
    int code = post(in->aws, &f, what, &in->ch->requests, &rs, &dx, err);
    if (code == SDSINF_OK && sdsinf__aws_xml_find(dx, NULL,
                                                  "BatchResultErrorEntry")) {
        char ecode[128] = "";
        unsigned again = 0;
        int fatal = 0;
        sdsinf__sqsq_failed(dx, NULL, "BatchResultErrorEntry", &again, ecode,
                            sizeof ecode, &fatal);
        code = sdsinf__fail(err, SDSINF_EIO,
                            "channel '%s': %s: %d entries failed (%.60s); "
                            "they come again after the visibility timeout",
                            in->channel, what, __builtin_popcount(again),
                            ecode);
    }
    sdsinf__aws_xml_free(dx);
    sdsinf__aws_response_free(&rs);
    return code;
}

/* The answer of a finished poll: its messages into the (empty) ring, then
 * deleted. */
static int poll_done(sdsinf_sqsq_inbox *in, sdsinf_aws_response *rs,
                     sdsinf_err *err)
{
    sdsinf_aws_xml *x = NULL;
    char what[SDSINF_SQSQ_NAME_CAP + 32];
    snprintf(what, sizeof what, "ReceiveMessage on %s", in->name);
    int code = sdsinf__aws_xml_parse(rs->body, rs->len, what, &x, err), n = 0;
    int i = 0, again_s[SDSINF_SQSQ_BATCH], young = 0;
    unsigned theirs = 0; /* another run's, on a shared queue */
    size_t bytes = 0;
    for (const sdsinf_aws_node *m =
             code == SDSINF_OK ? sdsinf__aws_xml_find(x, NULL, "Message") : NULL;
         m && i < SDSINF_SQSQ_BATCH && code == SDSINF_OK;
         m = sdsinf__aws_xml_next(m, "Message"), i++) {
        int y = 0;
        if (foreign(in, m, &again_s[i], &y)) {
            theirs |= 1u << i;
            young |= y;
        } else if ((code = take_message(in, m, &in->got[n], &bytes, err)) ==
                 SDSINF_OK)
            n++;
        else if (code == 1) /* another run's pointer: dropped */
            code = SDSINF_OK;
    }
    /* a full answer of young ones only: handed back at once they would
     * come again at the next poll, and this run's, behind them, never (a
     * dead run's leftovers crowd a shared queue); hidden a moment, they
     * delay their own run, if alive, by that much */
    if (i == SDSINF_SQSQ_BATCH && theirs == (1u << SDSINF_SQSQ_BATCH) - 1)
        for (int k = 0; k < i; k++)
            again_s[k] = again_s[k] ? again_s[k] : CROWDED_HIDE_S;
    SDSINF__COUNT(in->ch, units, sdsinf__sqsq_units(bytes));
    in->got0 = 0;
    in->ngot = n;
    SDSINF__COUNT(in->ch, empty, n == 0 && code == SDSINF_OK);
    if (x) { /* even those it could not read: they would only come again */
        sdsinf_err derr = {0};
        int d = settle(in, x, ~theirs & ((1u << SDSINF_SQSQ_BATCH) - 1), 0,
                       again_s, &derr);
        if (d == SDSINF_OK)
            d = settle(in, x, theirs, 1, again_s, &derr);
        if (young) /* the next poll waits: their receiver goes first */
            in->resume = sdsinf__now() + HAND_BACK_PAUSE_MS / 1e3;
        if (code == SDSINF_OK && d != SDSINF_OK)
            code = sdsinf__fail(err, d, "%s", derr.msg);
    }
    sdsinf__aws_xml_free(x);
    return code;
}

static int timed_out(const sdsinf_sqsq_inbox *in, const sdsinf_msg_key *want,
                     int timeout_ms, sdsinf_err *err)
{
    if (want)
        return sdsinf__fail(err, SDSINF_ETIMEDOUT,
                            "channel '%s': worker %d got no message in %d "
                            "ms (awaiting batch %" PRIu32 " layer %" PRIu32
                            " from worker %" PRIu32 "; queue %s)",
                            in->channel, in->ch->self, timeout_ms,
                            want->batch, want->layer, want->source, in->name);
    return sdsinf__fail(err, SDSINF_ETIMEDOUT,
                        "channel '%s': worker %d got no message in %d ms "
                        "(queue %s)",
                        in->channel, in->ch->self, timeout_ms, in->name);
}

int sdsinf__sqsq_recv(sdsinf_sqsq_inbox *in, const sdsinf_msg_key *want,
                      void **msg, size_t *len, int timeout_ms,
                      sdsinf_err *err)
{
    int code;
    double deadline = sdsinf__now() + timeout_ms / 1e3;
    for (;;) {
        if (in->ngot > 0) {
            *msg = in->got[in->got0].data;
            *len = in->got[in->got0].len;
            in->got0 = (in->got0 + 1) % SDSINF_SQSQ_BATCH;
            in->ngot--;
            return SDSINF_OK;
        }
        double left_ms = (deadline - sdsinf__now()) * 1e3;
        double pause_ms = (in->resume - sdsinf__now()) * 1e3;
        if (!in->poll && pause_ms > 0 && left_ms > 0) {
            sdsinf__sleep_ms(pause_ms < left_ms ? pause_ms : left_ms);
            left_ms = (deadline - sdsinf__now()) * 1e3;
        }
        /* a long poll, which may outlive this call (the next one picks it
         * up); a recv shorter than LONG_POLL_MIN_MS asks without waiting
         * (a short poll) and waits for the answer */
        if (!in->poll &&
            (code = poll_start(in, timeout_ms >= LONG_POLL_MIN_MS
                                       ? in->wait_s
                                       : 0,
                               err)) != SDSINF_OK)
            return code;
        sdsinf_aws_response rs;
        int r = sdsinf__aws_wait(&in->poll,
                                 in->poll_wait_s == 0 ? -1
                                 : left_ms > 0        ? (int)left_ms
                                                      : 0,
                                 &rs, err);
        if (r != SDSINF_AWS_PENDING) {
            code = r == SDSINF_OK ? poll_done(in, &rs, err) : r;
            sdsinf__aws_response_free(&rs);
            sdsinf__aws_form_free(&in->poll_form);
            if (code != SDSINF_OK)
                return code;
            if (in->ngot > 0)
                continue;
        }
        left_ms = (deadline - sdsinf__now()) * 1e3;
        if (left_ms <= 0)
            return timed_out(in, want, timeout_ms, err);
    }
}

int sdsinf__sqsq_hold(sdsinf__claim *c, const void *msg, size_t len,
                      sdsinf_sqsq_msg *m, sdsinf_err *err)
{
    char ptr[SDSINF__CLAIM_PTR_CAP];
    int pointer = len > c->ch->max_message, code;
    if (pointer) {
        if ((code = sdsinf__claim_store(c, msg, len, ptr, &len, err)) !=
            SDSINF_OK)
            return code;
        msg = ptr;
    }
    unsigned char *copy = sdsinf__malloc(len ? len : 1);
    if (!copy)
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel '%s': no memory for worker %d's send of "
                            "%zu bytes",
                            c->channel, c->ch->self, len);
    if (len)
        memcpy(copy, msg, len);
    *m = (sdsinf_sqsq_msg){copy, len, pointer};
    return SDSINF_OK;
}

int sdsinf__sqsq_inbox_settle(sdsinf_sqsq_inbox *in, sdsinf_err *err)
{
    int code = SDSINF_OK;
    if (in->shared && in->poll) {
        sdsinf_aws_response rs;
        int r = sdsinf__aws_wait(&in->poll, (in->poll_wait_s + 10) * 1000,
                                 &rs, err);
        if (r == SDSINF_OK)
            code = poll_done(in, &rs, err);
        else if (r != SDSINF_AWS_PENDING)
            code = r;
        if (r != SDSINF_AWS_PENDING)
            sdsinf__aws_response_free(&rs);
    }
    sdsinf__aws_abandon(in->poll);
    in->poll = NULL;
    sdsinf__aws_form_free(&in->poll_form);
    return code;
}

/* One round of a drain: a poll on each queue of `in` (n) not done yet
 * (bit w of *todo), all at once, and each waited for in turn in slices
 * (a request progresses only while waited on) until `deadline`; a queue
 * whose poll brought none of the run's messages is done.  The first
 * failure is returned. */
static int drain_round(sdsinf_sqsq_inbox *in, int n, unsigned char *todo,
                       double deadline, sdsinf_err *err)
{
    int code = SDSINF_OK, left = 0;
    for (int w = 0; w < n && code == SDSINF_OK; w++)
        if (todo[w] && (code = poll_start(&in[w], DRAIN_WAIT_S, err)) ==
                           SDSINF_OK)
            left++;
    while (left > 0 && sdsinf__now() < deadline)
        for (int w = 0; w < n; w++) {
            sdsinf_aws_response rs;
            sdsinf_err *e = code == SDSINF_OK ? err : NULL;
            int r = in[w].poll ? sdsinf__aws_wait(&in[w].poll, DRAIN_SLICE_MS,
                                                  &rs, e)
                               : SDSINF_AWS_PENDING;
            if (r == SDSINF_AWS_PENDING)
                continue; /* (out of time: abandoned with the inbox) */
            left--;
            if (r == SDSINF_OK)
                r = poll_done(&in[w], &rs, e);
            sdsinf__aws_response_free(&rs);
            todo[w] = r == SDSINF_OK && in[w].ngot > 0;
            sdsinf__sqsq_inbox_release(&in[w], 0); /* what came: dropped */
            code = code != SDSINF_OK ? code : r;
        }
    return code;
}

int sdsinf__sqsq_drain(sdsinf_sqsq_inbox *own, const sdsinf_sqsq_settings *st,
                       int ms, sdsinf_err *err)
{
    sdsinf_channel *ch = own->ch;
    const char *slash = strrchr(own->url, '/');
    int n = ch->workers, code;
    if (!own->shared || !slash ||
        (code = sdsinf__sqsq_inbox_settle(own, err)) != SDSINF_OK)
        return own->shared && slash ? code : SDSINF_OK;
    sdsinf_sqsq_inbox *in = sdsinf__calloc((size_t)n, sizeof *in);
    unsigned char *todo = sdsinf__malloc((size_t)n);
    if (!in || !todo) {
        sdsinf__free(in);
        sdsinf__free(todo);
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel '%s': no memory to drain the run's "
                            "queues",
                            own->channel);
    }
    for (int w = 0; w < n; w++) { /* worker w's queue, as own is its own */
        sdsinf__sqsq_inbox_init(&in[w], ch, own->channel, st, own->claim);
        sdsinf__sqsq_name(st, ch->run, w, in[w].name);
        snprintf(in[w].url, sizeof in[w].url, "%.*s%s",
                 (int)(slash + 1 - own->url), own->url, in[w].name);
        todo[w] = 1;
    }
    double deadline = sdsinf__now() + ms / 1e3;
    while (code == SDSINF_OK && memchr(todo, 1, (size_t)n) &&
           sdsinf__now() < deadline)
        code = drain_round(in, n, todo, deadline, err);
    for (int w = 0; w < n; w++)
        sdsinf__sqsq_inbox_release(&in[w], 0);
    sdsinf__free(in);
    sdsinf__free(todo);
    return code;
}

int sdsinf__sqsq_control(sdsinf_sqsq_inbox *in,
                         const sdsinf_sqsq_settings *st, int op, void *arg,
                         sdsinf_err *err)
{
    if (op == SDSINF__CONTROL_DRAIN && arg)
        return sdsinf__sqsq_drain(in, st, *(int *)arg, err);
    if (op == SDSINF__CONTROL_DRAIN)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel '%s', worker %d: a drain needs an int * "
                            "(the milliseconds it may take)",
                            in->channel, in->ch->self);
    return sdsinf__fail(err, SDSINF_ENOTSUP,
                        "channel '%s', worker %d: no control operation %d",
                        in->channel, in->ch->self, op);
}

int sdsinf__sqsq_inbox_find(sdsinf_sqsq_inbox *in, int *created,
                            sdsinf_err *err)
{
    sdsinf_requests *req = &in->ch->requests;
    *created = in->shared;
    if (in->shared)
        return sdsinf__sqsq_find_shared(in->aws, in->channel, in->name,
                                        in->url, req, err);
    int code = sdsinf__sqsq_find(in->aws, in->name, in->url, created, req,
                                 err);
    if (code == 1 && in->ch->run_made)
        return sdsinf__fail(err, SDSINF_ECANCELED,
                            "channel '%s': worker %d: the run has ended: its "
                            "queue %s is gone (its coordinator removed the "
                            "run's queues before this worker opened)",
                            in->channel, in->ch->self, in->name);
    *created |= in->ch->run_made;
    return code;
}

void sdsinf__sqsq_inbox_init(sdsinf_sqsq_inbox *in, sdsinf_channel *ch,
                             const char *channel,
                             const sdsinf_sqsq_settings *st,
                             sdsinf__claim *claim)
{
    in->ch = ch;
    in->aws = ch->type_state;
    in->channel = channel;
    in->claim = claim;
    in->wait_s = st->wait_s;
    in->shared = st->queues[0] != 0;
    in->visibility_s = st->visibility_s;
    sdsinf__sqsq_name(st, ch->run, ch->self, in->name);
}

int sdsinf__sqsq_close(sdsinf_sqsq_inbox *in, sdsinf__standalone *alone,
                       int code, int cleanup,
                       sdsinf__standalone_remove remove, void *ctx,
                       sdsinf_err *err)
{
    sdsinf_err e2 = {0};
    int r = sdsinf__sqsq_inbox_settle(in, &e2);
    if (code == SDSINF_OK && r != SDSINF_OK)
        code = sdsinf__fail(err, r, "%s", e2.msg);
    r = sdsinf__standalone_leave(alone, cleanup, remove, ctx, &e2);
    if (code == SDSINF_OK && r != SDSINF_OK)
        code = sdsinf__fail(err, r, "%s", e2.msg);
    return code;
}

void sdsinf__sqsq_inbox_release(sdsinf_sqsq_inbox *in, int forked)
{
    for (; in->ngot > 0;
         in->ngot--, in->got0 = (in->got0 + 1) % SDSINF_SQSQ_BATCH)
        free(in->got[in->got0].data);
    if (!forked)
        sdsinf__aws_abandon(in->poll);
    in->poll = NULL;
    sdsinf__aws_form_free(&in->poll_form);
}
