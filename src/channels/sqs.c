/* channels/sqs.c - the "sqs" channel: workers anywhere that reach Amazon SQS
 * (or an emulator: AWS_ENDPOINT_URL), through the AWS client (aws/aws.h),
 * in SQS's query protocol (XML answers).
 *
 * Layout: one standard queue per worker and run, named
 * <prefix>-<run as 16 hex digits>-<worker> (prefix "sdsinf").  A message's
 * bytes travel as a Binary message attribute "d" (SQS bodies are text:
 * base64 in the body would bill 4/3 of the bytes, the attribute bills the
 * bytes themselves plus 8), with a one-character body ("1"; "0" for an
 * empty message, which has no attribute).  A message and a batch are at
 * most 256 KiB (AWS's limit, though emulators take 1 MiB): max_message is
 * 256 KiB - 64, so the runtime cuts bigger blocks into chunks.
 *
 * Sends are held per target and go as SendMessageBatch (10 entries or 256
 * KiB, whichever fills first) when full, on flush (the worker's, after a
 * layer's sends), and before a receive or close.  Entries AWS failed are
 * sent again (up to $AWS_MAX_ATTEMPTS).  recv keeps one ReceiveMessage
 * under way on the worker's queue: a long poll of up to 20 s for up to 10
 * messages, which outlives a short recv (the runtime waits in 100 ms
 * slices) and is picked up by the next one, so waiting costs one request
 * per 20 s, not one per slice; a recv shorter than the poll returns
 * SDSINF_ETIMEDOUT with the poll still under way.  A recv of less than
 * 100 ms with no poll under way makes a short poll (no wait) and takes
 * its answer.  What a poll brings is
 * deleted at once (DeleteMessageBatch) and kept for the next recv calls.
 * Messages are delivered at least once (a delete that fails leaves a
 * message to come again after the visibility timeout, 300 s by default:
 * longer than any wait of a run); receivers deduplicate.
 *
 * Runs: run_create (the coordinator) makes the run's queues, tagged
 * sdsinf=created, and run_destroy deletes them, whatever became of the
 * workers; open finds its queue (GetQueueUrl, and ListQueueTags for the
 * tag).  Without run_create (a program using the channel directly), open
 * creates its queue and a send its target's if missing, and cleanup is as
 * the fs channel's: the instances of a run on this machine hold lock
 * files (channels/presence.h) in <scratch>/sdsinf-sqs-<prefix>-<run>, and
 * the last to close removes the run's queues if any asked; such runs must
 * keep their workers on one machine.  AWS refuses a queue name for 60 s
 * after its deletion: a run id is not reused.
 *
 * Settings (the config string): a comma-separated list of key=value:
 *   prefix=NAME      queue names' prefix (letters, digits, '-', '_'; 40)
 *   visibility=S     the queues' visibility timeout, 1..43200 s (300)
 *   wait=S           the longest long poll, 1..20 s (20)
 *
 * Requests (sdsinf_requests): send = SendMessageBatch (and CreateQueue),
 * receive = ReceiveMessage (empty: none came), remove = DeleteMessageBatch
 * (and DeleteQueue), list = GetQueueUrl, ListQueueTags, ListQueues;
 * units = 64 KiB billing units of them all (a request with a payload of
 * n bytes bills max(1, ceil(n / 64 KiB))); retries = repeated requests. */
#include "aws/aws.h"
#include "channels/channels.h"
#include "channels/presence.h"
#include "channels/settings.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SQS_VERSION "2012-11-05"
#define BATCH_MAX 10             /* entries per SendMessageBatch/Receive */
#define PAYLOAD_MAX 262144       /* bytes per message and per batch */
#define ENTRY_OVERHEAD 8         /* body "1", name "d", type "Binary" */
#define MAX_MESSAGE (PAYLOAD_MAX - 64)
#define UNIT 65536               /* SQS's billing chunk */
#define NAME_CAP 96
#define URL_CAP 512
#define POLL_SLACK_MS 15000      /* a long poll's HTTP limit past its wait */
#define LONG_POLL_MIN_MS 100     /* shorter recv calls make short polls (the
                                    runtime's cancelable waits are 100 ms
                                    slices of a longer one) */
#define ERR_NONEXISTENT "AWS.SimpleQueueService.NonExistentQueue"
#define ERR_NONEXISTENT_JSON "QueueDoesNotExist"

typedef struct sqs_settings {
    char prefix[48];
    int visibility_s, wait_s;
} sqs_settings;

/* One message held for a batch, or one received and not returned yet. */
typedef struct sqs_msg {
    unsigned char *data;
    size_t len;
} sqs_msg;

/* The sends held for one target. */
typedef struct sqs_out {
    sqs_msg m[BATCH_MAX];
    int n;
    size_t bytes; /* billed bytes, overhead included */
} sqs_out;

typedef struct sqs_channel {
    sdsinf_channel base;
    sdsinf_aws *aws;
    sqs_settings set;
    pid_t pid;            /* the process that opened the instance */
    int created;          /* the run was made by run_create */
    int made;             /* open created this worker's queue (standalone) */
    char name[NAME_CAP];  /* this worker's queue */
    char url[URL_CAP];    /* its URL */
    size_t base_len;      /* url's length up to the name */
    sqs_out **out;        /* per target, made on first send */
    unsigned char *known; /* per target: its queue exists (standalone) */
    sdsinf__presence *presence; /* standalone runs */
    char presence_dir[4096];
    /* received, not returned yet: a ring */
    sqs_msg got[BATCH_MAX];
    int ngot, got0;
    /* the long poll under way, and its form (the request's body) */
    sdsinf_aws_pending *poll;
    sdsinf_aws_form poll_form;
    int poll_wait_s;      /* its WaitTimeSeconds */
} sqs_channel;

/* ---- Settings and names ----------------------------------------------------- */

static int parse_settings(const char *config, sqs_settings *st, sdsinf_err *err)
{
    sdsinf__setting it;
    memset(st, 0, sizeof *st);
    strcpy(st->prefix, "sdsinf");
    st->visibility_s = 300;
    st->wait_s = 20;
    for (const char *s = config; sdsinf__setting_next(&s, &it);) {
        int bad;
        if (sdsinf__setting_is(&it, "prefix"))
            bad = sdsinf__setting_name(&it, "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_", st->prefix,
                                       sizeof st->prefix);
        else if (sdsinf__setting_is(&it, "visibility"))
            bad = (st->visibility_s = sdsinf__setting_int(&it, 1, 43200)) < 0;
        else if (sdsinf__setting_is(&it, "wait"))
            bad = (st->wait_s = sdsinf__setting_int(&it, 1, 20)) < 0;
        else
            bad = 1;
        if (bad)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "channel 'sqs': bad setting '%.*s' (known: "
                                "prefix=NAME of letters, digits, '-', '_' up "
                                "to 47; visibility=SECONDS 1..43200; "
                                "wait=SECONDS 1..20; comma-separated)",
                                (int)(it.len < 60 ? it.len : 60), it.item);
    }
    return SDSINF_OK;
}

/* <prefix>-<run>-: the start of every queue name of the run. */
static void run_prefix(const sqs_settings *st, uint64_t run, char *out)
{
    snprintf(out, NAME_CAP, "%s-%016" PRIx64 "-", st->prefix, run);
}

static void queue_name(const sqs_settings *st, uint64_t run, int w, char *out)
{
    snprintf(out, NAME_CAP, "%s-%016" PRIx64 "-%d", st->prefix, run, w);
}

/* The URL of worker w's queue, from this worker's. */
static void queue_url(const sqs_channel *sc, int w, char *out)
{
    char name[NAME_CAP];
    queue_name(&sc->set, sc->base.run, w, name);
    snprintf(out, URL_CAP, "%.*s%s", (int)sc->base_len, sc->url, name);
}

static uint64_t units_of(size_t bytes)
{
    return bytes <= UNIT ? 1 : (uint64_t)((bytes + UNIT - 1) / UNIT);
}

static int is_nonexistent(const sdsinf_aws_response *rs)
{
    return !strcmp(rs->error_code, ERR_NONEXISTENT) ||
           !strcmp(rs->error_code, ERR_NONEXISTENT_JSON);
}

/* The settings checked up front (a run's config_prepare), kept as given. */
static int sqs_config_prepare(const char *config, char *out, size_t cap,
                             sdsinf_err *err)
{
    sqs_settings st;
    int rc = parse_settings(config, &st, err);
    return rc == SDSINF_OK ? sdsinf__config_copy(config, out, cap, err) : rc;
}

/* ---- Queue requests ------------------------------------------------------------ */

/* Posts form f (freed) to SQS, billed as `units`; the answer's XML in *x
 * when asked.  (The caller counts the request's kind.) */
static int post(sdsinf_aws *a, sdsinf_aws_form *f, const char *what,
                uint64_t units, sdsinf_requests *req, sdsinf_aws_response *rs,
                sdsinf_aws_xml **x, sdsinf_err *err)
{
    int code = sdsinf__aws_post_form(a, SDSINF_AWS_SQS, NULL, f, what, 0, 0,
                                     rs, &req->retries, err);
    __atomic_fetch_add(&req->units, units, __ATOMIC_RELAXED);
    sdsinf__aws_form_free(f);
    if (code == SDSINF_OK && x)
        code = sdsinf__aws_xml_parse(rs->body, rs->len, what, x, err);
    return code;
}

/* The QueueUrl of an answer into url. */
static int answer_url(sdsinf_aws_xml *x, const char *what, char *url,
                      sdsinf_err *err)
{
    if (sdsinf__aws_xml_copy(sdsinf__aws_xml_find(x, NULL, "QueueUrl"), NULL,
                             url, URL_CAP) != 0)
        return sdsinf__fail(err, SDSINF_EPARSE,
                            "channel 'sqs': the answer to %.80s has no "
                            "QueueUrl",
                            what);
    return SDSINF_OK;
}

/* Creates queue `name` (tagged when made by run_create); its URL into url
 * (may be NULL). */
static int create_queue(sdsinf_aws *a, const sqs_settings *st,
                        const char *name, int tagged, char *url,
                        sdsinf_requests *req, sdsinf_err *err)
{
    char what[NAME_CAP + 16], vis[16];
    sdsinf_aws_form f;
    sdsinf_aws_response rs;
    sdsinf_aws_xml *x = NULL;
    snprintf(what, sizeof what, "CreateQueue %s", name);
    snprintf(vis, sizeof vis, "%d", st->visibility_s);
    sdsinf__aws_form_init(&f, "CreateQueue", SQS_VERSION);
    sdsinf__aws_form_add(&f, name, strlen(name), "QueueName");
    sdsinf__aws_form_add(&f, "VisibilityTimeout", 17, "Attribute.1.Name");
    sdsinf__aws_form_add(&f, vis, strlen(vis), "Attribute.1.Value");
    if (tagged) {
        sdsinf__aws_form_add(&f, "sdsinf", 6, "Tag.1.Key");
        sdsinf__aws_form_add(&f, "created", 7, "Tag.1.Value");
    }
    req->send++;
    int code = post(a, &f, what, 1, req, &rs, url ? &x : NULL, err);
    if (code == SDSINF_OK && url)
        code = answer_url(x, what, url, err);
    sdsinf__aws_xml_free(x);
    sdsinf__aws_response_free(&rs);
    return code;
}

/* Deletes the queue at url; one already gone is no error. */
static int delete_queue(sdsinf_aws *a, const char *url, sdsinf_requests *req,
                        sdsinf_err *err)
{
    sdsinf_aws_form f;
    sdsinf_aws_response rs;
    char what[URL_CAP + 16];
    snprintf(what, sizeof what, "DeleteQueue %s", strrchr(url, '/') + 1);
    sdsinf__aws_form_init(&f, "DeleteQueue", SQS_VERSION);
    sdsinf__aws_form_add(&f, url, strlen(url), "QueueUrl");
    req->remove++;
    int code = post(a, &f, what, 1, req, &rs, NULL, err);
    if (code != SDSINF_OK && is_nonexistent(&rs))
        code = SDSINF_OK;
    sdsinf__aws_response_free(&rs);
    return code;
}

/* The run's queues that exist (ListQueues with the run's prefix, every
 * page): each URL handed to fn (which may be NULL), the count into *n. */
static int list_run(sdsinf_aws *a, const sqs_settings *st, uint64_t run,
                    int (*fn)(sdsinf_aws *, const char *, sdsinf_requests *,
                              sdsinf_err *),
                    int64_t *n, sdsinf_requests *req, sdsinf_err *err)
{
    char prefix[NAME_CAP], token[2048] = "";
    run_prefix(st, run, prefix);
    int64_t count = 0;
    int code = SDSINF_OK;
    do {
        sdsinf_aws_form f;
        sdsinf_aws_response rs;
        sdsinf_aws_xml *x = NULL;
        sdsinf__aws_form_init(&f, "ListQueues", SQS_VERSION);
        sdsinf__aws_form_add(&f, prefix, strlen(prefix), "QueueNamePrefix");
        sdsinf__aws_form_add(&f, "1000", 4, "MaxResults");
        if (token[0])
            sdsinf__aws_form_add(&f, token, strlen(token), "NextToken");
        req->list++;
        code = post(a, &f, "ListQueues", 1, req, &rs, &x, err);
        for (const sdsinf_aws_node *q =
                 code == SDSINF_OK ? sdsinf__aws_xml_find(x, NULL, "QueueUrl")
                                   : NULL;
             q && code == SDSINF_OK; q = sdsinf__aws_xml_next(q, "QueueUrl")) {
            char url[URL_CAP];
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

/* The URL of some queue of the run into url (GetQueueUrl of worker 0's,
 * else the first ListQueues shows); 1 when the run has none. */
static int any_queue_url(sdsinf_aws *a, const sqs_settings *st, uint64_t run,
                         char *url, sdsinf_requests *req, sdsinf_err *err)
{
    char name[NAME_CAP], prefix[NAME_CAP], what[NAME_CAP + 16];
    sdsinf_aws_form f;
    sdsinf_aws_response rs;
    sdsinf_aws_xml *x = NULL;
    queue_name(st, run, 0, name);
    snprintf(what, sizeof what, "GetQueueUrl %s", name);
    sdsinf__aws_form_init(&f, "GetQueueUrl", SQS_VERSION);
    sdsinf__aws_form_add(&f, name, strlen(name), "QueueName");
    req->list++;
    int code = post(a, &f, what, 1, req, &rs, &x, err);
    if (code == SDSINF_OK) {
        code = answer_url(x, what, url, err);
    } else if (is_nonexistent(&rs)) {
        sdsinf__aws_xml_free(x);
        sdsinf__aws_response_free(&rs);
        x = NULL;
        run_prefix(st, run, prefix);
        sdsinf__aws_form_init(&f, "ListQueues", SQS_VERSION);
        sdsinf__aws_form_add(&f, prefix, strlen(prefix), "QueueNamePrefix");
        req->list++;
        code = post(a, &f, "ListQueues", 1, req, &rs, &x, err);
        if (code == SDSINF_OK &&
            sdsinf__aws_xml_copy(sdsinf__aws_xml_find(x, NULL, "QueueUrl"),
                                 NULL, url, URL_CAP) != 0)
            code = 1;
    }
    sdsinf__aws_xml_free(x);
    sdsinf__aws_response_free(&rs);
    return code;
}

/* Removes every queue of the run: workers 0..workers-1 by name (a
 * listing may lag behind a queue just made), then whatever a listing
 * still shows.  A failure for want of memory is tried once more: cleanup
 * must not leave the run behind. */
static int remove_run(sdsinf_aws *a, const sqs_settings *st, uint64_t run,
                      int workers, sdsinf_requests *req, sdsinf_err *err)
{
    char url[URL_CAP], name[NAME_CAP];
    int code = any_queue_url(a, st, run, url, req, err);
    const char *slash = code == SDSINF_OK ? strrchr(url, '/') : NULL;
    for (int w = 0; slash && w < workers && code == SDSINF_OK; w++) {
        char one[URL_CAP];
        queue_name(st, run, w, name);
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

/* ---- Open and close -------------------------------------------------------------- */

/* Finds (run_create's) or makes (standalone) this worker's queue. */
static int find_queue(sqs_channel *sc, sdsinf_err *err)
{
    sdsinf_requests *req = &sc->base.requests;
    sdsinf_aws_form f;
    sdsinf_aws_response rs;
    sdsinf_aws_xml *x = NULL;
    char what[NAME_CAP + 16];
    snprintf(what, sizeof what, "GetQueueUrl %s", sc->name);
    sdsinf__aws_form_init(&f, "GetQueueUrl", SQS_VERSION);
    sdsinf__aws_form_add(&f, sc->name, strlen(sc->name), "QueueName");
    req->list++;
    int code = post(sc->aws, &f, what, 1, req, &rs, &x, err);
    if (code == SDSINF_OK)
        code = answer_url(x, what, sc->url, err);
    else if (is_nonexistent(&rs))
        code = 1; /* not there: a standalone run */
    sdsinf__aws_xml_free(x);
    sdsinf__aws_response_free(&rs);
    x = NULL;
    if (code == SDSINF_OK) { /* there: made by run_create if tagged so */
        snprintf(what, sizeof what, "ListQueueTags %s", sc->name);
        sdsinf__aws_form_init(&f, "ListQueueTags", SQS_VERSION);
        sdsinf__aws_form_add(&f, sc->url, strlen(sc->url), "QueueUrl");
        req->list++;
        code = post(sc->aws, &f, what, 1, req, &rs, &x, err);
        for (const sdsinf_aws_node *t =
                 code == SDSINF_OK ? sdsinf__aws_xml_find(x, NULL, "Tag") : NULL;
             t; t = sdsinf__aws_xml_next(t, "Tag")) {
            const char *k = sdsinf__aws_xml_text(t, "Key", NULL);
            const char *v = sdsinf__aws_xml_text(t, "Value", NULL);
            sc->created |= k && v && !strcmp(k, "sdsinf") &&
                           !strcmp(v, "created");
        }
        sdsinf__aws_xml_free(x);
        sdsinf__aws_response_free(&rs);
    } else if (code == 1) {
        sc->made = 1;
        code = create_queue(sc->aws, &sc->set, sc->name, 0, sc->url, req, err);
    }
    if (code == SDSINF_OK) {
        const char *slash = strrchr(sc->url, '/');
        if (!slash || strcmp(slash + 1, sc->name) != 0)
            return sdsinf__fail(err, SDSINF_EPARSE,
                                "channel 'sqs': the URL of queue %s, %.100s, "
                                "does not end in its name",
                                sc->name, sc->url);
        sc->base_len = (size_t)(slash + 1 - sc->url);
        if (!sc->created)
            sc->known[sc->base.self] = 1;
    }
    return code;
}

/* What open and close share: the held and received messages freed. */
static void release(sqs_channel *sc)
{
    for (int t = 0; sc->out && t < sc->base.workers; t++) {
        for (int i = 0; sc->out[t] && i < sc->out[t]->n; i++)
            sdsinf__free(sc->out[t]->m[i].data);
        sdsinf__free(sc->out[t]);
    }
    sdsinf__free(sc->out);
    sdsinf__free(sc->known);
    sc->out = NULL;
    sc->known = NULL;
    for (; sc->ngot > 0; sc->ngot--, sc->got0 = (sc->got0 + 1) % BATCH_MAX)
        free(sc->got[sc->got0].data);
    sdsinf__aws_abandon(sc->poll);
    sc->poll = NULL;
    sdsinf__aws_form_free(&sc->poll_form);
}

/* Leaves a standalone run; the last to leave removes it if asked. */
static int leave_run(sqs_channel *sc, int cleanup, sdsinf_err *err)
{
    int code = SDSINF_OK;
    sdsinf__presence *p = sc->presence;
    sc->presence = NULL;
    if (sdsinf__presence_leave(p, cleanup) == 1) {
        code = remove_run(sc->aws, &sc->set, sc->base.run, sc->base.workers,
                          &sc->base.requests, err);
        sdsinf__presence_removed(sc->presence_dir);
    }
    return code;
}

static int sqs_open(sdsinf_channel *ch, const char *config, sdsinf_err *err)
{
    sqs_channel *sc = (sqs_channel *)ch;
    int code = parse_settings(config, &sc->set, err);
    if (code != SDSINF_OK)
        return code;
    sc->aws = ch->type_state;
    sc->pid = getpid();
    queue_name(&sc->set, ch->run, ch->self, sc->name);
    snprintf(sc->presence_dir, sizeof sc->presence_dir,
             "%s/sdsinf-sqs-%s-%016" PRIx64, sdsinf__scratch_dir(),
             sc->set.prefix, ch->run);
    sc->out = sdsinf__calloc((size_t)ch->workers, sizeof *sc->out);
    sc->known = sdsinf__calloc((size_t)ch->workers, 1);
    if (!sc->out || !sc->known) {
        release(sc);
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel 'sqs': no memory to open worker %d",
                            ch->self);
    }
    if (sdsinf__presence_enter(sc->presence_dir, ch->self, &sc->presence) != 0) {
        int e = errno;
        release(sc);
        return sdsinf__fail(err, sdsinf__errno_status(e),
                            "channel 'sqs': worker %d cannot mark itself "
                            "open in %.100s: %s; set SDSINF_SCRATCH to a "
                            "directory it may write",
                            ch->self, sc->presence_dir, strerror(e));
    }
    code = find_queue(sc, err);
    if (code == SDSINF_OK && sc->created) { /* run_destroy's to remove */
        sdsinf__presence_leave(sc->presence, 0);
        sc->presence = NULL;
    }
    if (code != SDSINF_OK) { /* as if it never opened: what it made goes
                                when no other instance is open */
        leave_run(sc, sc->made, NULL);
        release(sc);
    }
    return code;
}

static int flush_all(sqs_channel *sc, sdsinf_err *err);

static int sqs_close(sdsinf_channel *ch, int cleanup, sdsinf_err *err)
{
    sqs_channel *sc = (sqs_channel *)ch;
    int code = SDSINF_OK;
    if (sc->pid == getpid()) { /* a fork()ed child only lets go */
        code = flush_all(sc, err);
        sdsinf__aws_abandon(sc->poll);
        sc->poll = NULL;
        sdsinf_err e2 = {0};
        int r = leave_run(sc, cleanup, &e2);
        if (code == SDSINF_OK && r != SDSINF_OK)
            code = sdsinf__fail(err, r, "%s", e2.msg);
    } else {
        sc->poll = NULL; /* its connection is the parent's: left alone */
    }
    release(sc);
    return code;
}

/* ---- Send -------------------------------------------------------------------------- */

/* The failed entries of a SendMessageBatch answer: their ids marked in
 * *again (bit i: entry i), AWS's code of the first into code; *fatal set
 * when one is the sender's fault (not worth sending again). */
/* The entry index of a batch answer's Id ("0".."9", as add_entry wrote
 * it); -1 for any other. */
static int parse_batch_id(const char *id)
{
    return id[0] >= '0' && id[0] < '0' + BATCH_MAX && !id[1] ? id[0] - '0'
                                                            : -1;
}

static void failed_entries(sdsinf_aws_xml *x, unsigned *again, char *code,
                           size_t cap, int *fatal)
{
    for (const sdsinf_aws_node *e = sdsinf__aws_xml_find(x, NULL,
                                                         "BatchResultErrorEntry");
         e; e = sdsinf__aws_xml_next(e, "BatchResultErrorEntry")) {
        const char *id = sdsinf__aws_xml_text(e, "Id", NULL);
        const char *sf = sdsinf__aws_xml_text(e, "SenderFault", NULL);
        int i = id ? parse_batch_id(id) : -1;
        if (i >= 0)
            *again |= 1u << i;
        if (!code[0] && sdsinf__aws_xml_copy(e, "Code", code, cap) != 0)
            code[0] = 0;
        *fatal |= i < 0 || (sf && !strcmp(sf, "true"));
    }
}

/* Adds entry i of o (message m) to a SendMessageBatch form as entry k. */
static int add_entry(sdsinf_aws_form *f, int k, int i, const sqs_msg *m)
{
    char id[16];
    snprintf(id, sizeof id, "%d", i);
    sdsinf__aws_form_add(f, id, strlen(id), "SendMessageBatchRequestEntry.%d.Id",
                         k);
    sdsinf__aws_form_add(f, m->len ? "1" : "0", 1,
                         "SendMessageBatchRequestEntry.%d.MessageBody", k);
    if (!m->len)
        return 0;
    char *b64 = sdsinf__malloc(4 * ((m->len + 2) / 3) + 1);
    if (!b64)
        return -1;
    size_t n = sdsinf__aws_base64_encode(m->data, m->len, b64);
    sdsinf__aws_form_add(f, "d", 1,
                         "SendMessageBatchRequestEntry.%d.MessageAttribute.1."
                         "Name", k);
    sdsinf__aws_form_add(f, "Binary", 6,
                         "SendMessageBatchRequestEntry.%d.MessageAttribute.1."
                         "Value.DataType", k);
    sdsinf__aws_form_add(f, b64, n,
                         "SendMessageBatchRequestEntry.%d.MessageAttribute.1."
                         "Value.BinaryValue", k);
    sdsinf__free(b64);
    return 0;
}

/* Sends the held messages of target t: entries AWS failed go again; the
 * queue is made first where a standalone run lacks it. */
static int flush_target(sqs_channel *sc, int t, sdsinf_err *err)
{
    sqs_out *o = sc->out[t];
    if (!o || o->n == 0)
        return SDSINF_OK;
    sdsinf_requests *req = &sc->base.requests;
    const sdsinf_aws_config *cfg = sdsinf__aws_config(sc->aws);
    char url[URL_CAP], what[NAME_CAP + 64], name[NAME_CAP];
    unsigned todo = (1u << o->n) - 1;
    int code = SDSINF_OK, made = 0;
    queue_url(sc, t, url);
    queue_name(&sc->set, sc->base.run, t, name);
    snprintf(what, sizeof what, "SendMessageBatch from worker %d to %s",
             sc->base.self, name);
    for (int attempt = 0; todo && code == SDSINF_OK; attempt++) {
        sdsinf_aws_form f;
        sdsinf_aws_response rs;
        sdsinf_aws_xml *x = NULL;
        size_t bytes = 0;
        sdsinf__aws_form_init(&f, "SendMessageBatch", SQS_VERSION);
        sdsinf__aws_form_add(&f, url, strlen(url), "QueueUrl");
        for (int i = 0, k = 1; i < o->n; i++)
            if (todo >> i & 1) {
                if (add_entry(&f, k++, i, &o->m[i]) != 0)
                    f.failed = 1;
                bytes += o->m[i].len + ENTRY_OVERHEAD;
            }
        req->send++;
        code = post(sc->aws, &f, what, units_of(bytes), req, &rs, &x, err);
        if (code != SDSINF_OK && is_nonexistent(&rs) && !sc->created && !made) {
            made = 1; /* a standalone run's peer not open yet: its queue */
            code = create_queue(sc->aws, &sc->set, name, 0, NULL, req, err);
        } else if (code == SDSINF_OK) {
            unsigned again = 0;
            char ecode[128] = "";
            int fatal = 0;
            failed_entries(x, &again, ecode, sizeof ecode, &fatal);
            todo &= again;
            if (todo && (fatal || attempt + 1 >= cfg->max_attempts))
                code = sdsinf__fail(err, fatal ? SDSINF_EIO : SDSINF_ETHROTTLED,
                                    "channel 'sqs': %s: SQS refused %d "
                                    "entries: %.60s",
                                    what, __builtin_popcount(todo), ecode);
            else if (todo) {
                req->retries++;
                sdsinf__sleep_ms(10.0 * (1 << attempt));
            }
        }
        sdsinf__aws_xml_free(x);
        sdsinf__aws_response_free(&rs);
    }
    for (int i = 0; i < o->n; i++)
        sdsinf__free(o->m[i].data);
    o->n = 0;
    o->bytes = 0;
    return code;
}

static int flush_all(sqs_channel *sc, sdsinf_err *err)
{
    int code = SDSINF_OK;
    for (int t = 0; sc->out && t < sc->base.workers; t++) {
        int r = flush_target(sc, t, code == SDSINF_OK ? err : NULL);
        code = code != SDSINF_OK ? code : r;
    }
    return code;
}

static int sqs_send(sdsinf_channel *ch, const sdsinf_msg_key *key,
                    const void *msg, size_t len, sdsinf_err *err)
{
    sqs_channel *sc = (sqs_channel *)ch;
    int t = (int)key->target, code;
    sqs_out *o = sc->out[t];
    if (!o && !(o = sc->out[t] = sdsinf__calloc(1, sizeof *o)))
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel 'sqs': no memory for worker %d's send",
                            ch->self);
    size_t cost = len + ENTRY_OVERHEAD;
    if (o->n && (o->n == BATCH_MAX || o->bytes + cost > PAYLOAD_MAX) &&
        (code = flush_target(sc, t, err)) != SDSINF_OK)
        return code;
    unsigned char *copy = sdsinf__malloc(len);
    if (!copy)
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel 'sqs': no memory for worker %d's send of "
                            "%zu bytes",
                            ch->self, len);
    if (len)
        memcpy(copy, msg, len);
    o->m[o->n++] = (sqs_msg){copy, len};
    o->bytes += cost;
    return o->n == BATCH_MAX ? flush_target(sc, t, err) : SDSINF_OK;
}

static int sqs_flush(sdsinf_channel *ch, sdsinf_err *err)
{
    return flush_all((sqs_channel *)ch, err);
}

/* ---- Receive ----------------------------------------------------------------------- */

/* Starts a ReceiveMessage of up to 10 messages waiting up to wait_s. */
static int poll_start(sqs_channel *sc, int wait_s, sdsinf_err *err)
{
    char ws[16], what[NAME_CAP + 32];
    snprintf(ws, sizeof ws, "%d", wait_s);
    snprintf(what, sizeof what, "ReceiveMessage on %s", sc->name);
    sdsinf_aws_form *f = &sc->poll_form;
    sdsinf__aws_form_free(f);
    sdsinf__aws_form_init(f, "ReceiveMessage", SQS_VERSION);
    sdsinf__aws_form_add(f, sc->url, strlen(sc->url), "QueueUrl");
    sdsinf__aws_form_add(f, "10", 2, "MaxNumberOfMessages");
    sdsinf__aws_form_add(f, ws, strlen(ws), "WaitTimeSeconds");
    sdsinf__aws_form_add(f, "d", 1, "MessageAttributeName.1");
    if (!sdsinf__aws_form_ok(f))
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel 'sqs': no memory for %s", what);
    static const char *const hdrs[] = {
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
        NULL};
    sdsinf_aws_request rq = {
        .version = SDSINF_AWS_REQUEST_VERSION, .service = SDSINF_AWS_SQS,
        .method = "POST", .path = "/", .headers = hdrs, .body = f->s,
        .body_len = f->len, .what = what,
        .timeout_ms = wait_s * 1000 + POLL_SLACK_MS};
    SDSINF__COUNT(&sc->base, receive, 1);
    sc->poll_wait_s = wait_s;
    return sdsinf__aws_start(sc->aws, &rq, &sc->base.requests.retries,
                             &sc->poll, err);
}

/* A received message's bytes (body "0": empty; "1": attribute d). */
static int take_message(sqs_channel *sc, const sdsinf_aws_node *m,
                        sqs_msg *out, sdsinf_err *err)
{
    const char *body = sdsinf__aws_xml_text(m, "Body", NULL);
    const char *b64 = NULL;
    size_t n = 0;
    for (const sdsinf_aws_node *a = sdsinf__aws_xml_find(NULL, m,
                                                         "MessageAttribute");
         a && !b64; a = sdsinf__aws_xml_next(a, "MessageAttribute")) {
        const char *name = sdsinf__aws_xml_text(a, "Name", NULL);
        if (name && !strcmp(name, "d"))
            b64 = sdsinf__aws_xml_text(sdsinf__aws_xml_find(NULL, a,
                                                            "BinaryValue"),
                                       NULL, &n);
    }
    if (!body || (strcmp(body, "0") && strcmp(body, "1")) ||
        (!strcmp(body, "1") && !b64))
        return sdsinf__fail(err, SDSINF_ECORRUPT,
                            "channel 'sqs': worker %d got a message in %s "
                            "that sdsinf did not send (body '%.20s'); is "
                            "another program using the queue?",
                            sc->base.self, sc->name, body ? body : "");
    unsigned char *d = sdsinf__malloc(b64 && !strcmp(body, "1") ? n / 4 * 3 + 1
                                                                 : 1);
    if (!d)
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel 'sqs': no memory for a message of %zu "
                            "bytes (worker %d)",
                            n, sc->base.self);
    long len = !strcmp(body, "1") ? sdsinf__aws_base64_decode(b64, n, d) : 0;
    if (len < 0) {
        sdsinf__free(d);
        return sdsinf__fail(err, SDSINF_ECORRUPT,
                            "channel 'sqs': worker %d got a message in %s "
                            "whose data is not base64",
                            sc->base.self, sc->name);
    }
    out->data = d;
    out->len = (size_t)len;
    return SDSINF_OK;
}

/* Deletes the messages of a ReceiveMessage answer. */
static int delete_received(sqs_channel *sc, sdsinf_aws_xml *x, int count,
                           sdsinf_err *err)
{
    sdsinf_aws_form f;
    sdsinf_aws_response rs;
    sdsinf_aws_xml *dx = NULL;
    char what[NAME_CAP + 32];
    int k = 0;
    snprintf(what, sizeof what, "DeleteMessageBatch on %s", sc->name);
    sdsinf__aws_form_init(&f, "DeleteMessageBatch", SQS_VERSION);
    sdsinf__aws_form_add(&f, sc->url, strlen(sc->url), "QueueUrl");
    for (const sdsinf_aws_node *m = sdsinf__aws_xml_find(x, NULL, "Message");
         m && k < count; m = sdsinf__aws_xml_next(m, "Message")) {
        size_t n;
        const char *h = sdsinf__aws_xml_text(m, "ReceiptHandle", &n);
        char id[16];
        if (!h)
            continue;
        snprintf(id, sizeof id, "%d", ++k);
        sdsinf__aws_form_add(&f, id, strlen(id),
                             "DeleteMessageBatchRequestEntry.%d.Id", k);
        sdsinf__aws_form_add(&f, h, n,
                             "DeleteMessageBatchRequestEntry.%d.ReceiptHandle",
                             k);
    }
    if (!k) {
        sdsinf__aws_form_free(&f);
        return SDSINF_OK;
    }
    SDSINF__COUNT(&sc->base, remove, 1);
    int code = post(sc->aws, &f, what, 1, &sc->base.requests, &rs, &dx, err);
    if (code == SDSINF_OK && sdsinf__aws_xml_find(dx, NULL,
                                                  "BatchResultErrorEntry")) {
        char ecode[128] = "";
        unsigned again = 0;
        int fatal = 0;
        failed_entries(dx, &again, ecode, sizeof ecode, &fatal);
        code = sdsinf__fail(err, SDSINF_EIO,
                            "channel 'sqs': %s: %d entries failed (%.60s); "
                            "they come again after the visibility timeout",
                            what, __builtin_popcount(again), ecode);
    }
    sdsinf__aws_xml_free(dx);
    sdsinf__aws_response_free(&rs);
    return code;
}

/* The answer of a finished poll: its messages into the (empty) ring, then
 * deleted. */
static int poll_done(sqs_channel *sc, sdsinf_aws_response *rs, sdsinf_err *err)
{
    sdsinf_aws_xml *x = NULL;
    char what[NAME_CAP + 32];
    snprintf(what, sizeof what, "ReceiveMessage on %s", sc->name);
    int code = sdsinf__aws_xml_parse(rs->body, rs->len, what, &x, err), n = 0;
    size_t bytes = 0;
    for (const sdsinf_aws_node *m =
             code == SDSINF_OK ? sdsinf__aws_xml_find(x, NULL, "Message") : NULL;
         m && n < BATCH_MAX && code == SDSINF_OK;
         m = sdsinf__aws_xml_next(m, "Message"))
        if ((code = take_message(sc, m, &sc->got[n], err)) == SDSINF_OK)
            bytes += sc->got[n++].len + ENTRY_OVERHEAD;
    SDSINF__COUNT(&sc->base, units, units_of(bytes));
    sc->got0 = 0;
    sc->ngot = n;
    SDSINF__COUNT(&sc->base, empty, n == 0 && code == SDSINF_OK);
    if (x) { /* even those it could not read: they would only come again */
        sdsinf_err derr = {0};
        int d = delete_received(sc, x, BATCH_MAX, &derr);
        if (code == SDSINF_OK && d != SDSINF_OK)
            code = sdsinf__fail(err, d, "%s", derr.msg);
    }
    sdsinf__aws_xml_free(x);
    return code;
}

static int timed_out(const sqs_channel *sc, const sdsinf_msg_key *want,
                     int timeout_ms, sdsinf_err *err)
{
    if (want)
        return sdsinf__fail(err, SDSINF_ETIMEDOUT,
                            "channel 'sqs': worker %d got no message in %d "
                            "ms (awaiting batch %" PRIu32 " layer %" PRIu32
                            " from worker %" PRIu32 "; queue %s)",
                            sc->base.self, timeout_ms, want->batch,
                            want->layer, want->source, sc->name);
    return sdsinf__fail(err, SDSINF_ETIMEDOUT,
                        "channel 'sqs': worker %d got no message in %d ms "
                        "(queue %s)",
                        sc->base.self, timeout_ms, sc->name);
}

static int sqs_recv(sdsinf_channel *ch, const sdsinf_msg_key *want,
                    void **msg, size_t *len, int timeout_ms, sdsinf_err *err)
{
    sqs_channel *sc = (sqs_channel *)ch;
    int code = flush_all(sc, err);
    if (code != SDSINF_OK)
        return code;
    double deadline = sdsinf__now() + timeout_ms / 1e3;
    for (;;) {
        if (sc->ngot > 0) {
            *msg = sc->got[sc->got0].data;
            *len = sc->got[sc->got0].len;
            sc->got0 = (sc->got0 + 1) % BATCH_MAX;
            sc->ngot--;
            return SDSINF_OK;
        }
        double left_ms = (deadline - sdsinf__now()) * 1e3;
        /* a long poll, which may outlive this call (the next one picks it
         * up); a recv shorter than LONG_POLL_MIN_MS asks without waiting
         * (a short poll) and waits for the answer */
        if (!sc->poll &&
            (code = poll_start(sc, timeout_ms >= LONG_POLL_MIN_MS
                                       ? sc->set.wait_s
                                       : 0,
                               err)) != SDSINF_OK)
            return code;
        sdsinf_aws_response rs;
        int r = sdsinf__aws_wait(&sc->poll,
                                 sc->poll_wait_s == 0 ? -1
                                 : left_ms > 0        ? (int)left_ms
                                                      : 0,
                                 &rs, err);
        if (r != SDSINF_AWS_PENDING) {
            code = r == SDSINF_OK ? poll_done(sc, &rs, err) : r;
            sdsinf__aws_response_free(&rs);
            sdsinf__aws_form_free(&sc->poll_form);
            if (code != SDSINF_OK)
                return code;
            if (sc->ngot > 0)
                continue;
        }
        left_ms = (deadline - sdsinf__now()) * 1e3;
        if (left_ms <= 0)
            return timed_out(sc, want, timeout_ms, err);
    }
}

/* ---- The run's queues (the coordinator's) -------------------------------------- */

static int sqs_run_create(void *state, const char *config, uint64_t run,
                          int workers, sdsinf_requests *req, sdsinf_err *err)
{
    sqs_settings st;
    int code = parse_settings(config, &st, err);
    for (int w = 0; w < workers && code == SDSINF_OK; w++) {
        char name[NAME_CAP];
        queue_name(&st, run, w, name);
        code = create_queue(state, &st, name, 1, NULL, req, err);
    }
    if (code != SDSINF_OK && code != SDSINF_EINVAL) /* none half made */
        remove_run(state, &st, run, workers, req, NULL);
    return code;
}

static int sqs_run_destroy(void *state, const char *config, uint64_t run,
                           int workers, sdsinf_requests *req, sdsinf_err *err)
{
    sqs_settings st;
    int code = parse_settings(config, &st, err);
    return code == SDSINF_OK ? remove_run(state, &st, run, workers, req, err)
                             : code;
}

static int sqs_run_residue(void *state, const char *config, uint64_t run,
                           int64_t *items, sdsinf_err *err)
{
    sqs_settings st;
    sdsinf_requests req = {0};
    int code = parse_settings(config, &st, err);
    return code == SDSINF_OK ? list_run(state, &st, run, NULL, items, &req, err)
                             : code;
}

const sdsinf_channel_methods sdsinf__channel_sqs = {
    .version = SDSINF_CHANNEL_VERSION,
    .name = "sqs",
    .instance_size = sizeof(sqs_channel),
    .caps = SDSINF_CAP_PROCESSES | SDSINF_CAP_DETACHED,
    .max_message = MAX_MESSAGE,
    .open = sqs_open,
    .send = sqs_send,
    .recv = sqs_recv,
    .close = sqs_close,
    .type_init = sdsinf__aws_type_init,
    .type_cleanup = sdsinf__aws_type_cleanup,
    .run_create = sqs_run_create,
    .run_destroy = sqs_run_destroy,
    .flush = sqs_flush,
    .run_residue = sqs_run_residue,
    .config_prepare = sqs_config_prepare,
};
