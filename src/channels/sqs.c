/* channels/sqs.c - the "sqs" channel: workers anywhere that reach Amazon SQS
 * (or an emulator: AWS_ENDPOINT_URL), through the AWS client (aws/aws.h),
 * in SQS's query protocol (XML answers).  Its settings, queues and
 * receive side are channels/sqs_queue.c's (shared with the sns channel);
 * this file sends and runs.
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
 * tag), and an instance of the runtime's (run_made) whose queue is gone
 * fails, making nothing: the run has ended.  A failed run's coordinator
 * drains the run's messages from a stack's queues, which outlive it
 * (sdsinf__sqsq_drain).  Without run_create (a program using the channel directly), open
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
 *   wait=S           the longest long poll, 1..20 s (20; 2 on a stack's
 *                    queues, whose close awaits its poll)
 *   claim=, claim_above=, bucket=  the claim check (channels/claim.h): a
 *                    block over 256 KiB as one S3 object, the queue
 *                    carrying a pointer (body "@..."); claim=auto picks
 *                    per block the cheaper of that and chunks (over
 *                    458,736 bytes at us-east-1's prices: see claim.h)
 *   queues=NAME      a deployed stack's queues NAME-0, NAME-1, .. (sdsinf
 *                    run --stack sets it): runs share them, make and
 *                    remove none, and tell their messages apart by a
 *                    String attribute `run` (sqs_queue.h)
 *
 * Requests (sdsinf_requests): send = SendMessageBatch (and CreateQueue),
 * receive = ReceiveMessage (empty: none came), remove = DeleteMessageBatch
 * (and DeleteQueue), list = GetQueueUrl, ListQueueTags, ListQueues;
 * units = 64 KiB billing units of them all (a request with a payload of
 * n bytes bills max(1, ceil(n / 64 KiB))), send_units those of the
 * sends; s3_put, s3_get, s3_list, s3_remove = the claim check's S3
 * requests (PUT, GET, ListObjectsV2, DeleteObjects and the run's bucket);
 * retries = repeated requests. */
#include "channels/channels.h"
#include "channels/presence.h"
#include "channels/sqs_queue.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH_MAX SDSINF_SQSQ_BATCH
#define PAYLOAD_MAX SDSINF_SQSQ_PAYLOAD
#define ENTRY_OVERHEAD SDSINF_SQSQ_SQS_ENTRY
#define MAX_MESSAGE SDSINF_SQSQ_SQS_MAX
#define NAME_CAP SDSINF_SQSQ_NAME_CAP
#define URL_CAP SDSINF_SQSQ_URL_CAP

/* The sends held for one target. */
typedef struct sqs_out {
    sdsinf_sqsq_msg m[BATCH_MAX];
    int n;
    size_t bytes; /* billed bytes, overhead included */
} sqs_out;

typedef struct sqs_channel {
    sdsinf_channel base;
    sdsinf_aws *aws;
    sdsinf_sqsq_settings set;
    pid_t pid;            /* the process that opened the instance */
    int created;          /* the run was made by run_create (or its queues
                             are a stack's) */
    int made;             /* open created this worker's queue (standalone) */
    size_t base_len;      /* in.url's length up to the name */
    sqs_out **out;        /* per target, made on first send */
    unsigned char *known; /* per target: its queue exists (standalone) */
    sdsinf__standalone alone; /* standalone runs */
    sdsinf__claim claim;  /* blocks over the limit as S3 objects */
    sdsinf_sqsq_inbox in; /* this worker's queue and what it received */
} sqs_channel;

static int parse_settings(const char *config, sdsinf_sqsq_settings *st,
                          sdsinf_err *err)
{
    return sdsinf__sqsq_parse("sqs", config, st, NULL, NULL, "", err);
}

/* The settings checked up front (a run's config_prepare), kept as given. */
static int sqs_config_prepare(const char *config, char *out, size_t cap,
                              sdsinf_err *err)
{
    sdsinf_sqsq_settings st;
    int rc = parse_settings(config, &st, err);
    return rc == SDSINF_OK ? sdsinf__config_copy(config, out, cap, err) : rc;
}

/* The URL of worker w's queue, from this worker's. */
static void queue_url(const sqs_channel *sc, int w, char *out)
{
    char name[NAME_CAP];
    sdsinf__sqsq_name(&sc->set, sc->base.run, w, name);
    snprintf(out, URL_CAP, "%.*s%s", (int)sc->base_len, sc->in.url, name);
}

/* ---- Open and close -------------------------------------------------------------- */

/* Finds (run_create's) or makes (standalone) this worker's queue. */
static int find_queue(sqs_channel *sc, sdsinf_err *err)
{
    sdsinf_requests *req = &sc->base.requests;
    int code = sdsinf__sqsq_inbox_find(&sc->in, &sc->created, err);
    if (code == 1) { /* not there: a standalone run */
        sc->made = 1;
        code = sdsinf__sqsq_create(sc->aws, &sc->set, sc->in.name, 0,
                                   sc->in.url, req, err);
    }
    if (code == SDSINF_OK) {
        const char *slash = strrchr(sc->in.url, '/');
        if (!slash || strcmp(slash + 1, sc->in.name) != 0)
            return sdsinf__fail(err, SDSINF_EPARSE,
                                "channel 'sqs': the URL of queue %s, %.100s, "
                                "does not end in its name",
                                sc->in.name, sc->in.url);
        sc->base_len = (size_t)(slash + 1 - sc->in.url);
        if (!sc->created)
            sc->known[sc->base.self] = 1;
    }
    return code;
}

/* Removes a run: its queues, then its claim check's objects. */
static int remove_run(sdsinf_aws *a, const sdsinf_sqsq_settings *st,
                      uint64_t run, int workers, sdsinf_requests *req,
                      sdsinf_err *err)
{
    int code = sdsinf__sqsq_remove_run(a, st, run, workers, req, err);
    int r = sdsinf__claim_run_remove(a, &st->claim, st->prefix, run, req,
                                     code == SDSINF_OK ? err : NULL);
    return code != SDSINF_OK ? code : r;
}

/* What open and close share: the held and received messages freed. */
static void release(sqs_channel *sc, int forked)
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
    sdsinf__sqsq_inbox_release(&sc->in, forked);
}

/* Removes the standalone run sc left last (sdsinf__standalone_remove). */
static int remove_alone(void *sc_, sdsinf_err *err)
{
    sqs_channel *sc = sc_;
    return remove_run(sc->aws, &sc->set, sc->base.run, sc->base.workers,
                      &sc->base.requests, err);
}

static int sqs_open(sdsinf_channel *ch, const char *config, sdsinf_err *err)
{
    sqs_channel *sc = (sqs_channel *)ch;
    int code = parse_settings(config, &sc->set, err);
    if (code != SDSINF_OK)
        return code;
    sc->aws = ch->type_state;
    sc->pid = getpid();
    sdsinf__sqsq_inbox_init(&sc->in, ch, "sqs", &sc->set, &sc->claim);
    sc->out = sdsinf__calloc((size_t)ch->workers, sizeof *sc->out);
    sc->known = sdsinf__calloc((size_t)ch->workers, 1);
    if (!sc->out || !sc->known) {
        release(sc, 0);
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel 'sqs': no memory to open worker %d",
                            ch->self);
    }
    if ((code = sdsinf__standalone_join(&sc->alone, "sqs", sc->set.prefix,
                                        ch->run, ch->self, err)) !=
        SDSINF_OK) {
        release(sc, 0);
        return code;
    }
    code = find_queue(sc, err);
    if (code == SDSINF_OK)
        code = sdsinf__claim_open(&sc->claim, ch, sc->aws, "sqs",
                                  &sc->set.claim, sc->set.prefix, MAX_MESSAGE,
                                  SDSINF__CLAIM_ABOVE_SQS, sc->created, err);
    /* failed: what it made goes when no other instance is open */
    if (sdsinf__standalone_opened(&sc->alone, code, sc->created, sc->made,
                                  remove_alone, sc) != SDSINF_OK)
        release(sc, 0);
    return code;
}

static int flush_all(sqs_channel *sc, sdsinf_err *err);

static int sqs_close(sdsinf_channel *ch, int cleanup, sdsinf_err *err)
{
    sqs_channel *sc = (sqs_channel *)ch;
    int code = SDSINF_OK, forked = sc->pid != getpid();
    if (!forked) /* a fork()ed child only lets go */
        code = sdsinf__sqsq_close(&sc->in, &sc->alone, flush_all(sc, err), cleanup,
                                  remove_alone, sc, err);
    release(sc, forked);
    return code;
}

/* ---- Send -------------------------------------------------------------------------- */

/* Adds entry i of o (message m) to a SendMessageBatch form as entry k;
 * on shared queues with the attribute `run` (run: its 16 hex digits),
 * else run is NULL. */
static int add_entry(sdsinf_aws_form *f, int k, int i, const sdsinf_sqsq_msg *m,
                     const char *run)
{
    char id[16];
    int a = 1; /* the next attribute's number */
    snprintf(id, sizeof id, "%d", i);
    sdsinf__aws_form_add(f, id, strlen(id), "SendMessageBatchRequestEntry.%d.Id",
                         k);
    if (m->pointer) /* the text itself is the body */
        sdsinf__aws_form_add(f, (const char *)m->data, m->len,
                             "SendMessageBatchRequestEntry.%d.MessageBody", k);
    else
        sdsinf__aws_form_add(f, m->len ? "1" : "0", 1,
                             "SendMessageBatchRequestEntry.%d.MessageBody", k);
    if (run) {
        const char *pre = "SendMessageBatchRequestEntry";
        sdsinf__aws_form_add(f, SDSINF_SQSQ_RUN_ATTR,
                             strlen(SDSINF_SQSQ_RUN_ATTR),
                             "%s.%d.MessageAttribute.%d.Name", pre, k, a);
        sdsinf__aws_form_add(f, "String", 6,
                             "%s.%d.MessageAttribute.%d.Value.DataType", pre,
                             k, a);
        sdsinf__aws_form_add(f, run, strlen(run),
                             "%s.%d.MessageAttribute.%d.Value.StringValue",
                             pre, k, a);
        a++;
    }
    if (m->pointer || !m->len)
        return 0;
    char *b64 = sdsinf__malloc(4 * ((m->len + 2) / 3) + 1);
    if (!b64)
        return -1;
    size_t n = sdsinf__aws_base64_encode(m->data, m->len, b64);
    sdsinf__aws_form_add(f, "d", 1,
                         "SendMessageBatchRequestEntry.%d.MessageAttribute.%d."
                         "Name", k, a);
    sdsinf__aws_form_add(f, "Binary", 6,
                         "SendMessageBatchRequestEntry.%d.MessageAttribute.%d."
                         "Value.DataType", k, a);
    sdsinf__aws_form_add(f, b64, n,
                         "SendMessageBatchRequestEntry.%d.MessageAttribute.%d."
                         "Value.BinaryValue", k, a);
    sdsinf__free(b64);
    return 0;
}

/* The bytes an entry bills beside its message's. */
static size_t entry_overhead(const sqs_channel *sc)
{
    return ENTRY_OVERHEAD + (sc->in.shared ? SDSINF_SQSQ_RUN_BYTES : 0);
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
    char url[URL_CAP], what[NAME_CAP + 64], name[NAME_CAP], run[24];
    unsigned todo = (1u << o->n) - 1;
    int code = SDSINF_OK, made = 0;
    snprintf(run, sizeof run, "%016" PRIx64, sc->base.run);
    queue_url(sc, t, url);
    sdsinf__sqsq_name(&sc->set, sc->base.run, t, name);
    snprintf(what, sizeof what, "SendMessageBatch from worker %d to %s",
             sc->base.self, name);
    for (int attempt = 0; todo && code == SDSINF_OK; attempt++) {
        sdsinf_aws_form f;
        sdsinf_aws_response rs;
        sdsinf_aws_xml *x = NULL;
        size_t bytes = 0;
        sdsinf__aws_form_init(&f, "SendMessageBatch", SDSINF_SQSQ_VERSION);
        sdsinf__aws_form_add(&f, url, strlen(url), "QueueUrl");
        for (int i = 0, k = 1; i < o->n; i++)
            if (todo >> i & 1) {
                if (add_entry(&f, k++, i, &o->m[i],
                              sc->in.shared ? run : NULL) != 0)
                    f.failed = 1;
                bytes += o->m[i].len + entry_overhead(sc);
            }
        req->send++;
        req->send_units += sdsinf__sqsq_units(bytes);
        code = sdsinf__sqsq_post(sc->aws, SDSINF_AWS_SQS, &f, what,
                                 sdsinf__sqsq_units(bytes), req, &rs, &x, err);
        if (code != SDSINF_OK && sdsinf__sqsq_nonexistent(&rs) &&
            !sc->created && !made) {
            made = 1; /* a standalone run's peer not open yet: its queue */
            code = sdsinf__sqsq_create(sc->aws, &sc->set, name, 0, NULL, req,
                                       err);
        } else if (code == SDSINF_OK) {
            unsigned again = 0;
            char ecode[128] = "";
            int fatal = 0;
            sdsinf__sqsq_failed(x, NULL, "BatchResultErrorEntry", &again,
                                ecode, sizeof ecode, &fatal);
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
    sdsinf_sqsq_msg m;
    if ((code = sdsinf__sqsq_hold(&sc->claim, msg, len, &m, err)) !=
        SDSINF_OK)
        return code;
    size_t cost = m.len + entry_overhead(sc);
    if (o->n && (o->n == BATCH_MAX || o->bytes + cost > PAYLOAD_MAX) &&
        (code = flush_target(sc, t, err)) != SDSINF_OK) {
        sdsinf__free(m.data);
        return code;
    }
    o->m[o->n++] = m;
    o->bytes += cost;
    return o->n == BATCH_MAX ? flush_target(sc, t, err) : SDSINF_OK;
}

static int sqs_flush(sdsinf_channel *ch, sdsinf_err *err)
{
    return flush_all((sqs_channel *)ch, err);
}

/* ---- Receive ----------------------------------------------------------------------- */

static int sqs_recv(sdsinf_channel *ch, const sdsinf_msg_key *want,
                    void **msg, size_t *len, int timeout_ms, sdsinf_err *err)
{
    sqs_channel *sc = (sqs_channel *)ch;
    int code = flush_all(sc, err);
    return code != SDSINF_OK ? code
                             : sdsinf__sqsq_recv(&sc->in, want, msg, len,
                                                 timeout_ms, err);
}

/* The control ops (sdsinf__sqsq_control), a drain after the held sends
 * went. */
static int sqs_control(sdsinf_channel *ch, int op, void *arg,
                       sdsinf_err *err)
{
    sqs_channel *sc = (sqs_channel *)ch;
    int code = op == SDSINF__CONTROL_DRAIN ? flush_all(sc, err) : SDSINF_OK;
    return code != SDSINF_OK ? code
                             : sdsinf__sqsq_control(&sc->in, &sc->set, op, arg,
                                                    err);
}

/* ---- The run's queues (the coordinator's) -------------------------------------- */

static int sqs_run_create(void *state, const char *config, uint64_t run,
                          int workers, sdsinf_requests *req, sdsinf_err *err)
{
    sdsinf_sqsq_settings st;
    int code = parse_settings(config, &st, err);
    if (code == SDSINF_OK && st.queues[0]) /* a stack's: there already */
        return sdsinf__sqsq_check_shared(state, &st, "sqs", workers, req, err);
    if (code == SDSINF_OK)
        code = sdsinf__claim_run_create(state, &st.claim, run, req, err);
    for (int w = 0; w < workers && code == SDSINF_OK; w++) {
        char name[NAME_CAP];
        sdsinf__sqsq_name(&st, run, w, name);
        code = sdsinf__sqsq_create(state, &st, name, 1, NULL, req, err);
    }
    if (code != SDSINF_OK && code != SDSINF_EINVAL) /* none half made */
        remove_run(state, &st, run, workers, req, NULL);
    return code;
}

static int sqs_run_destroy(void *state, const char *config, uint64_t run,
                           int workers, sdsinf_requests *req, sdsinf_err *err)
{
    sdsinf_sqsq_settings st;
    int code = parse_settings(config, &st, err);
    return code == SDSINF_OK ? remove_run(state, &st, run, workers, req, err)
                             : code;
}

static int sqs_run_residue(void *state, const char *config, uint64_t run,
                           int64_t *items, sdsinf_err *err)
{
    sdsinf_sqsq_settings st;
    sdsinf_requests req = {0};
    int code = parse_settings(config, &st, err);
    if (code == SDSINF_OK)
        code = sdsinf__sqsq_count_run(state, &st, run, items, &req, err);
    return code == SDSINF_OK ? sdsinf__claim_run_count(state, &st.claim,
                                                       st.prefix, run, items,
                                                       err)
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
    .control = sqs_control,
    .type_init = sdsinf__aws_type_init,
    .type_cleanup = sdsinf__aws_type_cleanup,
    .run_create = sqs_run_create,
    .run_destroy = sqs_run_destroy,
    .flush = sqs_flush,
    .run_residue = sqs_run_residue,
    .config_prepare = sqs_config_prepare,
};
