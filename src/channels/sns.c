/* channels/sns.c - the "sns" channel: workers that publish to an Amazon SNS
 * topic and receive from Amazon SQS queues subscribed to it (SDS-Inf's
 * Queue variant), through the AWS client (aws/aws.h), in the services'
 * query protocol.
 *
 * Layout: one topic per run, <prefix>-<run as 16 hex digits> (or an
 * existing one: topic=ARN), and one SQS queue per worker named as the sqs
 * channel's (channels/sqs_queue.h), subscribed to the topic with raw
 * message delivery and a filter policy on two message attributes, `run`
 * (the run's 16 hex digits) and `target` (the worker), so a worker's
 * queue gets its own messages of its own run only, also on a topic that
 * runs share.  A message travels as its body ("0" empty, else "=" and its
 * bytes in base64: raw delivery hands a body on whole).
 *
 * Sends are held in one batch for all targets and go as PublishBatch (10
 * entries or 256 KiB with their attributes, whichever fills first) when
 * full, on flush (the worker's, after a layer's sends), and before a
 * receive or close: one request carries the messages for several
 * targets, which is why this channel needs fewer requests than sqs.
 * Entries SNS failed are published again (up to $AWS_MAX_ATTEMPTS).
 * Receiving is the sqs channel's (a long poll kept under way, up to 10
 * messages, DeleteMessageBatch).  Messages come at least once (SNS may
 * deliver twice); receivers deduplicate.
 *
 * Runs: run_create makes the topic (unless given), each worker's queue
 * (tagged sdsinf=created) with a policy that lets the topic send to it,
 * and its subscription; run_destroy removes the run's subscriptions, its
 * queues and its topic (never a given one), whatever became of the
 * workers; run_residue counts them; an instance of the runtime's
 * (run_made) whose queue is gone fails, making nothing (the run has
 * ended), and a failed run's coordinator drains the run's messages from a
 * stack's queues (sdsinf__sqsq_drain).  Without run_create (a program using
 * the channel directly), open makes the topic, its queue and
 * subscription, a send its target's, and the last instance to close on
 * this machine removes the run if asked (channels/presence.h), as the
 * sqs channel does.
 *
 * Settings (the config string): the sqs channel's prefix=, visibility=,
 * wait=, queues=, its claim check's claim=, claim_above=, bucket=
 * (channels/claim.h: a block over 192 KiB as one S3 object, the message
 * its pointer; claim=auto does so over 294,816 bytes at us-east-1's
 * prices), and
 *   topic=ARN        an existing topic to publish to (kept by the run)
 * With queues=NAME (a deployed stack's; sdsinf run --stack sets both)
 * the queues NAME-<w> exist, subscribed to topic= with a filter on
 * `target` alone: runs share them, make and remove nothing, and a
 * receiver hands another run's messages back (sqs_queue.h).
 *
 * Requests (sdsinf_requests): send = PublishBatch (SNS), receive =
 * ReceiveMessage (empty: none came), remove = DeleteMessageBatch (SQS),
 * and the run's making and removal (queues, topic, subscriptions) as
 * list and remove; units = 64 KiB billing units of them all (a request
 * with a payload of n bytes bills max(1, ceil(n / 64 KiB))); retries =
 * repeated requests; send_units = the publishes' units; s3_put, s3_get,
 * s3_list, s3_remove = the claim check's S3 requests.  The cost model
 * (tools/cost.c) bills send and send_units as SNS publishes, the rest as
 * SQS requests, the s3_ ones as S3's. */
#include "channels/channels.h"
#include "channels/presence.h"
#include "channels/sqs_queue.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SNS_VERSION "2010-03-31"
#define BATCH_MAX SDSINF_SQSQ_BATCH
#define PAYLOAD_MAX SDSINF_SQSQ_PAYLOAD
#define ENTRY_OVERHEAD SDSINF_SQSQ_SNS_ENTRY
/* the largest message whose base64 entry fits a request */
#define MAX_MESSAGE SDSINF_SQSQ_SNS_MAX
#define NAME_CAP SDSINF_SQSQ_NAME_CAP
#define URL_CAP SDSINF_SQSQ_URL_CAP
#define ARN_CAP 320

typedef struct sns_settings {
    sdsinf_sqsq_settings q;
    char topic[ARN_CAP]; /* a given topic's ARN, "" when the run makes one */
} sns_settings;

/* A message held for the batch. */
typedef struct sns_entry {
    sdsinf_sqsq_msg m;
    int target;
} sns_entry;

typedef struct sns_channel {
    sdsinf_channel base;
    sdsinf_aws *aws;
    sns_settings set;
    pid_t pid;            /* the process that opened the instance */
    int created;          /* the run was made by run_create */
    int made;             /* open made this worker's queue (standalone) */
    char topic[ARN_CAP];  /* the ARN published to */
    sns_entry held[BATCH_MAX];
    int nheld;
    size_t held_bytes;    /* billed bytes, attributes included */
    unsigned char *known; /* per target: its queue is subscribed
                             (standalone) */
    sdsinf__standalone alone; /* standalone runs */
    sdsinf__claim claim;  /* blocks over the limit as S3 objects */
    sdsinf_sqsq_inbox in; /* this worker's queue and what it received */
} sns_channel;

/* ---- Settings and names ----------------------------------------------------- */

static int topic_setting(void *ctx, const sdsinf__setting *it)
{
    sns_settings *st = ctx;
    if (!sdsinf__setting_is(it, "topic"))
        return 1;
    if (st->topic[0])
        return -1; /* given twice */
    if (it->vlen < 13 || strncmp(it->val, "arn:", 4))
        return -1;
    return sdsinf__setting_name(it, "ABCDEFGHIJKLMNOPQRSTUVWXYZ:-_.",
                                st->topic, sizeof st->topic);
}

static int parse_settings(const char *config, sns_settings *st,
                          sdsinf_err *err)
{
    st->topic[0] = 0;
    int code = sdsinf__sqsq_parse("sns", config, &st->q, topic_setting, st,
                                  "; topic=ARN of an existing topic", err);
    if (code == SDSINF_OK && st->q.queues[0] && !st->topic[0])
        code = sdsinf__fail(err, SDSINF_EINVAL,
                            "channel 'sns': queues=%s needs topic=ARN, the "
                            "topic they are subscribed to (or use --stack "
                            "NAME, which gives both)",
                            st->q.queues);
    return code;
}

/* The settings checked up front (a run's config_prepare), kept as given. */
static int sns_config_prepare(const char *config, char *out, size_t cap,
                              sdsinf_err *err)
{
    sns_settings st;
    int rc = parse_settings(config, &st, err);
    return rc == SDSINF_OK ? sdsinf__config_copy(config, out, cap, err) : rc;
}

/* The run's own topic's name: <prefix>-<run>. */
static void topic_name(const sns_settings *st, uint64_t run, char *out)
{
    snprintf(out, NAME_CAP, "%s-%016" PRIx64, st->q.prefix, run);
}

static int post_sns(sdsinf_aws *a, sdsinf_aws_form *f, const char *what,
                    uint64_t units, sdsinf_requests *req,
                    sdsinf_aws_response *rs, sdsinf_aws_xml **x,
                    sdsinf_err *err)
{
    return sdsinf__sqsq_post(a, SDSINF_AWS_SNS, f, what, units, req, rs, x,
                             err);
}

/* ---- The topic and its subscriptions --------------------------------------------- */

/* Makes (or finds: SNS's CreateTopic is idempotent) topic `name`; its ARN
 * into arn. */
static int create_topic(sdsinf_aws *a, const char *name, char *arn,
                        sdsinf_requests *req, sdsinf_err *err)
{
    char what[NAME_CAP + 16];
    sdsinf_aws_form f;
    sdsinf_aws_response rs;
    sdsinf_aws_xml *x = NULL;
    snprintf(what, sizeof what, "CreateTopic %s", name);
    sdsinf__aws_form_init(&f, "CreateTopic", SNS_VERSION);
    sdsinf__aws_form_add(&f, name, strlen(name), "Name");
    req->list++;
    int code = post_sns(a, &f, what, 1, req, &rs, &x, err);
    if (code == SDSINF_OK &&
        sdsinf__aws_xml_copy(sdsinf__aws_xml_find(x, NULL, "TopicArn"), NULL,
                             arn, ARN_CAP) != 0)
        code = sdsinf__fail(err, SDSINF_EPARSE,
                            "channel 'sns': the answer to %s has no TopicArn",
                            what);
    sdsinf__aws_xml_free(x);
    sdsinf__aws_response_free(&rs);
    return code;
}

/* The ARN of the run's own topic (a listing) into arn; 1 when none. */
static int find_topic(sdsinf_aws *a, const sns_settings *st, uint64_t run,
                      char *arn, sdsinf_requests *req, sdsinf_err *err)
{
    char name[NAME_CAP], token[2048] = "";
    int code = SDSINF_OK, found = 0;
    topic_name(st, run, name);
    size_t nlen = strlen(name);
    do {
        sdsinf_aws_form f;
        sdsinf_aws_response rs;
        sdsinf_aws_xml *x = NULL;
        sdsinf__aws_form_init(&f, "ListTopics", SNS_VERSION);
        if (token[0])
            sdsinf__aws_form_add(&f, token, strlen(token), "NextToken");
        req->list++;
        code = post_sns(a, &f, "ListTopics", 1, req, &rs, &x, err);
        for (const sdsinf_aws_node *t =
                 code == SDSINF_OK ? sdsinf__aws_xml_find(x, NULL, "TopicArn")
                                   : NULL;
             t && !found; t = sdsinf__aws_xml_next(t, "TopicArn")) {
            size_t n;
            const char *s = sdsinf__aws_xml_text(t, NULL, &n);
            found = s && n > nlen && n < ARN_CAP && s[n - nlen - 1] == ':' &&
                    !strcmp(s + n - nlen, name);
            if (found)
                memcpy(arn, s, n + 1);
        }
        if (found || code != SDSINF_OK ||
            sdsinf__aws_xml_copy(sdsinf__aws_xml_find(x, NULL, "NextToken"),
                                 NULL, token, sizeof token) != 0)
            token[0] = 0;
        sdsinf__aws_xml_free(x);
        sdsinf__aws_response_free(&rs);
    } while (code == SDSINF_OK && token[0]);
    return code == SDSINF_OK && !found ? 1 : code;
}

/* The ARNs of the run's subscriptions on topic (their endpoints are the
 * run's queues) into *arns (caller frees each and the array), their
 * count into *n; 1 when there is no such topic (a given ARN of none: its
 * subscriptions cannot be either). */
static int run_subscriptions(sdsinf_aws *a, const sns_settings *st,
                             uint64_t run, const char *topic, char ***arns,
                             int *n, sdsinf_requests *req, sdsinf_err *err)
{
    char prefix[NAME_CAP], token[2048] = "";
    sdsinf__sqsq_run_prefix(&st->q, run, prefix);
    size_t plen = strlen(prefix);
    int code = SDSINF_OK, count = 0, cap = 0;
    char **v = NULL;
    do {
        sdsinf_aws_form f;
        sdsinf_aws_response rs;
        sdsinf_aws_xml *x = NULL;
        sdsinf__aws_form_init(&f, "ListSubscriptionsByTopic", SNS_VERSION);
        sdsinf__aws_form_add(&f, topic, strlen(topic), "TopicArn");
        if (token[0])
            sdsinf__aws_form_add(&f, token, strlen(token), "NextToken");
        req->list++;
        code = post_sns(a, &f, "ListSubscriptionsByTopic", 1, req, &rs, &x,
                        err);
        if (code != SDSINF_OK && !strcmp(rs.error_code, "NotFound"))
            code = 1;
        const sdsinf_aws_node *subs =
            code == SDSINF_OK ? sdsinf__aws_xml_find(x, NULL, "Subscriptions")
                              : NULL;
        for (const sdsinf_aws_node *m =
                 subs ? sdsinf__aws_xml_find(x, subs, "member") : NULL;
             m && code == SDSINF_OK; m = sdsinf__aws_xml_next(m, "member")) {
            const char *end = sdsinf__aws_xml_text(m, "Endpoint", NULL);
            const char *arn = sdsinf__aws_xml_text(m, "SubscriptionArn", NULL);
            const char *q = end ? strrchr(end, ':') : NULL;
            if (!arn || !q || strncmp(q + 1, prefix, plen))
                continue;
            if (count == cap) {
                char **w = sdsinf__realloc(v, (size_t)(cap = cap ? 2 * cap
                                                                 : 16) *
                                                  sizeof *v);
                if (!w) {
                    code = sdsinf__fail(err, SDSINF_ENOMEM,
                                        "channel 'sns': no memory to list "
                                        "the run's subscriptions");
                    break;
                }
                v = w;
            }
            size_t alen = strlen(arn) + 1;
            if ((v[count] = sdsinf__malloc(alen)))
                memcpy(v[count], arn, alen);
            if (!v[count])
                code = sdsinf__fail(err, SDSINF_ENOMEM,
                                    "channel 'sns': no memory to list the "
                                    "run's subscriptions");
            else
                count++;
        }
        if (code != SDSINF_OK ||
            sdsinf__aws_xml_copy(sdsinf__aws_xml_find(x, NULL, "NextToken"),
                                 NULL, token, sizeof token) != 0)
            token[0] = 0;
        sdsinf__aws_xml_free(x);
        sdsinf__aws_response_free(&rs);
    } while (code == SDSINF_OK && token[0]);
    if (code != SDSINF_OK) {
        for (int i = 0; i < count; i++)
            sdsinf__free(v[i]);
        sdsinf__free(v);
        return code;
    }
    *arns = v;
    *n = count;
    return SDSINF_OK;
}

/* Removes the subscription or topic arn with `action` (Unsubscribe,
 * DeleteTopic), whose form names it `param`; one already gone is no
 * error. */
static int remove_arn(sdsinf_aws *a, const char *action, const char *param,
                      const char *arn, sdsinf_requests *req, sdsinf_err *err)
{
    sdsinf_aws_form f;
    sdsinf_aws_response rs;
    char what[ARN_CAP + 16];
    snprintf(what, sizeof what, "%s %s", action, arn);
    sdsinf__aws_form_init(&f, action, SNS_VERSION);
    sdsinf__aws_form_add(&f, arn, strlen(arn), "%s", param);
    req->remove++;
    int code = post_sns(a, &f, what, 1, req, &rs, NULL, err);
    if (code != SDSINF_OK && !strcmp(rs.error_code, "NotFound"))
        code = SDSINF_OK;
    sdsinf__aws_response_free(&rs);
    return code;
}

/* The ARN of the topic the run publishes to into arn: the given one, else
 * the run's own (a listing); 1 when the run has none. */
static int run_topic(sdsinf_aws *a, const sns_settings *st, uint64_t run,
                     char *arn, sdsinf_requests *req, sdsinf_err *err)
{
    if (st->topic[0]) {
        strcpy(arn, st->topic);
        return SDSINF_OK;
    }
    return find_topic(a, st, run, arn, req, err);
}

/* Removes the run: its subscriptions, its queues, its own topic. */
static int remove_once(sdsinf_aws *a, const sns_settings *st, uint64_t run,
                      int workers, sdsinf_requests *req, sdsinf_err *err)
{
    char topic[ARN_CAP];
    char **subs = NULL;
    int nsubs = 0;
    if (st->q.queues[0])
        return SDSINF_OK; /* all the stack's */
    int code = run_topic(a, st, run, topic, req, err), has = code == SDSINF_OK;
    if (has)
        code = run_subscriptions(a, st, run, topic, &subs, &nsubs, req, err);
    for (int i = 0; i < nsubs; i++) {
        if (code == SDSINF_OK)
            code = remove_arn(a, "Unsubscribe", "SubscriptionArn", subs[i], req,
                            err);
        sdsinf__free(subs[i]);
    }
    sdsinf__free(subs);
    if (code == 1)
        code = SDSINF_OK; /* no topic: queues may still be there */
    if (code == SDSINF_OK)
        code = sdsinf__sqsq_remove_run(a, &st->q, run, workers, req, err);
    if (code == SDSINF_OK && has && !st->topic[0])
        code = remove_arn(a, "DeleteTopic", "TopicArn", topic, req, err);
    return code;
}

/* remove_once, tried once more after a failure for want of memory:
 * cleanup must not leave the run behind (every step is idempotent); then
 * the claim check's objects. */
static int remove_run(sdsinf_aws *a, const sns_settings *st, uint64_t run,
                      int workers, sdsinf_requests *req, sdsinf_err *err)
{
    int code = remove_once(a, st, run, workers, req, err);
    if (code == SDSINF_ENOMEM)
        code = remove_once(a, st, run, workers, req, err);
    int r = sdsinf__claim_run_remove(a, &st->q.claim, st->q.prefix, run, req,
                                     code == SDSINF_OK ? err : NULL);
    return code != SDSINF_OK ? code : r;
}

/* Makes worker w's queue (tagged when `tagged`), lets topic send to it and
 * subscribes it with the run's filter; its URL into url (may be NULL).
 * Each step may repeat an earlier one's (all are idempotent). */
static int join(sdsinf_aws *a, const sns_settings *st, uint64_t run, int w,
                const char *topic, int tagged, char *url,
                sdsinf_requests *req, sdsinf_err *err)
{
    char name[NAME_CAP], qurl[URL_CAP], qarn[ARN_CAP], what[ARN_CAP + 32];
    char policy[3 * ARN_CAP + 256], filter[128];
    sdsinf_requests q = {0};
    sdsinf__sqsq_name(&st->q, run, w, name);
    int code = sdsinf__sqsq_create(a, &st->q, name, tagged, qurl, &q, err);
    if (code == SDSINF_OK)
        code = sdsinf__sqsq_arn(a, qurl, qarn, sizeof qarn, &q, err);
    snprintf(policy, sizeof policy,
             "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":"
             "\"Allow\",\"Principal\":{\"Service\":\"sns.amazonaws.com\"},"
             "\"Action\":\"sqs:SendMessage\",\"Resource\":\"%s\","
             "\"Condition\":{\"ArnEquals\":{\"aws:SourceArn\":\"%s\"}}}]}",
             qarn, topic);
    if (code == SDSINF_OK)
        code = sdsinf__sqsq_set_attribute(a, qurl, "Policy", policy, &q, err);
    q.list += q.send; /* CreateQueue: the run's making, not a send */
    q.send = 0;
    sdsinf__requests_add(req, &q);
    if (code != SDSINF_OK)
        return code;
    snprintf(filter, sizeof filter,
             "{\"run\":[\"%016" PRIx64 "\"],\"target\":[\"%d\"]}", run, w);
    snprintf(what, sizeof what, "Subscribe %s", name);
    sdsinf_aws_form f;
    sdsinf_aws_response rs;
    sdsinf__aws_form_init(&f, "Subscribe", SNS_VERSION);
    sdsinf__aws_form_add(&f, topic, strlen(topic), "TopicArn");
    sdsinf__aws_form_add(&f, "sqs", 3, "Protocol");
    sdsinf__aws_form_add(&f, qarn, strlen(qarn), "Endpoint");
    sdsinf__aws_form_add(&f, "RawMessageDelivery", 18,
                         "Attributes.entry.1.key");
    sdsinf__aws_form_add(&f, "true", 4, "Attributes.entry.1.value");
    sdsinf__aws_form_add(&f, "FilterPolicy", 12, "Attributes.entry.2.key");
    sdsinf__aws_form_add(&f, filter, strlen(filter),
                         "Attributes.entry.2.value");
    sdsinf__aws_form_add(&f, "true", 4, "ReturnSubscriptionArn");
    req->list++;
    code = post_sns(a, &f, what, 1, req, &rs, NULL, err);
    sdsinf__aws_response_free(&rs);
    if (code == SDSINF_OK && url)
        strcpy(url, qurl);
    return code;
}

/* ---- Open and close -------------------------------------------------------------- */

/* The topic of a run made by run_create, from this worker's queue's ARN
 * (arn:aws:sqs:REGION:ACCOUNT:NAME; the topic lives beside it). */
static int derive_topic(sns_channel *sc, sdsinf_err *err)
{
    char qarn[ARN_CAP], name[NAME_CAP];
    int code = sdsinf__sqsq_arn(sc->aws, sc->in.url, qarn, sizeof qarn,
                                &sc->base.requests, err);
    if (code != SDSINF_OK)
        return code;
    char *last = strrchr(qarn, ':');
    if (strncmp(qarn, "arn:", 4) || !last || !(strstr(qarn, ":sqs:")))
        return sdsinf__fail(err, SDSINF_EPARSE,
                            "channel 'sns': queue %s has an ARN that is not "
                            "an SQS queue's: %.100s",
                            sc->in.name, qarn);
    topic_name(&sc->set, sc->base.run, name);
    const char *sqs = strstr(qarn, ":sqs:");
    snprintf(sc->topic, sizeof sc->topic, "%.*s:sns:%.*s%s",
             (int)(sqs - qarn), qarn, (int)(last + 1 - (sqs + 5)), sqs + 5,
             name);
    return SDSINF_OK;
}

/* Finds (run_create's) or makes (standalone) this worker's queue and the
 * topic. */
static int find_queue(sns_channel *sc, sdsinf_err *err)
{
    sdsinf_requests *req = &sc->base.requests;
    int code = sdsinf__sqsq_inbox_find(&sc->in, &sc->created, err);
    if (code == SDSINF_OK && sc->created)
        return sc->set.topic[0] ? (strcpy(sc->topic, sc->set.topic), SDSINF_OK)
                                : derive_topic(sc, err);
    if (code != SDSINF_OK && code != 1)
        return code;
    sc->made = code == 1;
    char name[NAME_CAP];
    topic_name(&sc->set, sc->base.run, name);
    if (sc->set.topic[0])
        strcpy(sc->topic, sc->set.topic);
    else if ((code = create_topic(sc->aws, name, sc->topic, req, err)))
        return code;
    code = join(sc->aws, &sc->set, sc->base.run, sc->base.self, sc->topic, 0,
                sc->in.url, req, err);
    if (code == SDSINF_OK)
        sc->known[sc->base.self] = 1;
    return code;
}

/* What open and close share: the held and received messages freed. */
static void release(sns_channel *sc, int forked)
{
    for (int i = 0; i < sc->nheld; i++)
        sdsinf__free(sc->held[i].m.data);
    sc->nheld = 0;
    sc->held_bytes = 0;
    sdsinf__free(sc->known);
    sc->known = NULL;
    sdsinf__sqsq_inbox_release(&sc->in, forked);
}

/* Removes the standalone run sc left last (sdsinf__standalone_remove). */
static int remove_alone(void *sc_, sdsinf_err *err)
{
    sns_channel *sc = sc_;
    return remove_run(sc->aws, &sc->set, sc->base.run, sc->base.workers,
                      &sc->base.requests, err);
}

static int sns_open(sdsinf_channel *ch, const char *config, sdsinf_err *err)
{
    sns_channel *sc = (sns_channel *)ch;
    int code = parse_settings(config, &sc->set, err);
    if (code != SDSINF_OK)
        return code;
    sc->aws = ch->type_state;
    sc->pid = getpid();
    sdsinf__sqsq_inbox_init(&sc->in, ch, "sns", &sc->set.q, &sc->claim);
    if (!(sc->known = sdsinf__calloc((size_t)ch->workers, 1)))
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel 'sns': no memory to open worker %d",
                            ch->self);
    if ((code = sdsinf__standalone_join(&sc->alone, "sns", sc->set.q.prefix,
                                        ch->run, ch->self, err)) !=
        SDSINF_OK) {
        release(sc, 0);
        return code;
    }
    code = find_queue(sc, err);
    if (code == SDSINF_OK)
        code = sdsinf__claim_open(&sc->claim, ch, sc->aws, "sns",
                                  &sc->set.q.claim, sc->set.q.prefix,
                                  MAX_MESSAGE, SDSINF__CLAIM_ABOVE_SNS,
                                  sc->created, err);
    /* failed: what it made goes when no other instance is open */
    if (sdsinf__standalone_opened(&sc->alone, code, sc->created, sc->made,
                                  remove_alone, sc) != SDSINF_OK)
        release(sc, 0);
    return code;
}

static int publish(sns_channel *sc, sdsinf_err *err);

static int sns_close(sdsinf_channel *ch, int cleanup, sdsinf_err *err)
{
    sns_channel *sc = (sns_channel *)ch;
    int code = SDSINF_OK, forked = sc->pid != getpid();
    if (!forked) /* a fork()ed child only lets go */
        code = sdsinf__sqsq_close(&sc->in, &sc->alone, publish(sc, err), cleanup,
                                  remove_alone, sc, err);
    release(sc, forked);
    return code;
}

/* ---- Send -------------------------------------------------------------------------- */

/* The bytes SNS bills for message m: its body and attributes. */
static size_t entry_bytes(const sdsinf_sqsq_msg *m)
{
    return (m->pointer ? m->len : 4 * ((m->len + 2) / 3)) + ENTRY_OVERHEAD;
}

/* Adds held entry i (message m for worker t) to a PublishBatch form as
 * entry k. */
static int add_entry(sdsinf_aws_form *f, int k, int i, const sns_entry *e,
                     uint64_t run)
{
    char id[16], t[16], r[24];
    snprintf(id, sizeof id, "%d", i);
    snprintf(t, sizeof t, "%d", e->target);
    snprintf(r, sizeof r, "%016" PRIx64, run);
    const char *pre = "PublishBatchRequestEntries.member";
    sdsinf__aws_form_add(f, id, strlen(id), "%s.%d.Id", pre, k);
    static const struct {
        const char *name;
        int i;
    } attr[] = {{"run", 1}, {"target", 2}};
    for (int a = 0; a < 2; a++) {
        const char *v = a ? t : r;
        sdsinf__aws_form_add(f, attr[a].name, strlen(attr[a].name),
                             "%s.%d.MessageAttributes.entry.%d.Name", pre, k,
                             attr[a].i);
        sdsinf__aws_form_add(f, "String", 6,
                             "%s.%d.MessageAttributes.entry.%d.Value.DataType",
                             pre, k, attr[a].i);
        sdsinf__aws_form_add(f, v, strlen(v),
                             "%s.%d.MessageAttributes.entry.%d.Value."
                             "StringValue",
                             pre, k, attr[a].i);
    }
    if (!e->m.len || e->m.pointer) { /* "0", or the pointer's text */
        sdsinf__aws_form_add(f, e->m.len ? (const char *)e->m.data : "0",
                             e->m.len ? e->m.len : 1, "%s.%d.Message", pre,
                             k);
        return 0;
    }
    char *b64 = sdsinf__malloc(4 * ((e->m.len + 2) / 3) + 2);
    if (!b64)
        return -1;
    b64[0] = '=';
    size_t n = sdsinf__aws_base64_encode(e->m.data, e->m.len, b64 + 1);
    sdsinf__aws_form_add(f, b64, n + 1, "%s.%d.Message", pre, k);
    sdsinf__free(b64);
    return 0;
}

/* Publishes the held messages: entries SNS failed go again. */
static int publish(sns_channel *sc, sdsinf_err *err)
{
    if (sc->nheld == 0)
        return SDSINF_OK;
    sdsinf_requests *req = &sc->base.requests;
    const sdsinf_aws_config *cfg = sdsinf__aws_config(sc->aws);
    char what[ARN_CAP + 64];
    unsigned todo = (1u << sc->nheld) - 1;
    int code = SDSINF_OK;
    snprintf(what, sizeof what, "PublishBatch from worker %d to %s",
             sc->base.self, sc->topic);
    for (int attempt = 0; todo && code == SDSINF_OK; attempt++) {
        sdsinf_aws_form f;
        sdsinf_aws_response rs;
        sdsinf_aws_xml *x = NULL;
        size_t bytes = 0;
        sdsinf__aws_form_init(&f, "PublishBatch", SNS_VERSION);
        sdsinf__aws_form_add(&f, sc->topic, strlen(sc->topic), "TopicArn");
        for (int i = 0, k = 1; i < sc->nheld; i++)
            if (todo >> i & 1) {
                if (add_entry(&f, k++, i, &sc->held[i], sc->base.run) != 0)
                    f.failed = 1;
                bytes += entry_bytes(&sc->held[i].m);
            }
        SDSINF__COUNT(&sc->base, send, 1);
        SDSINF__COUNT(&sc->base, send_units, sdsinf__sqsq_units(bytes));
        code = post_sns(sc->aws, &f, what, sdsinf__sqsq_units(bytes), req,
                        &rs, &x, err);
        const sdsinf_aws_node *failed =
            code == SDSINF_OK ? sdsinf__aws_xml_find(x, NULL, "Failed") : NULL;
        unsigned again = 0;
        char ecode[128] = "";
        int fatal = 0;
        if (failed)
            sdsinf__sqsq_failed(x, failed, "member", &again, ecode,
                                sizeof ecode, &fatal);
        todo = code == SDSINF_OK ? todo & again : todo;
        if (code == SDSINF_OK && todo &&
            (fatal || attempt + 1 >= cfg->max_attempts))
            code = sdsinf__fail(err, fatal ? SDSINF_EIO : SDSINF_ETHROTTLED,
                                "channel 'sns': %s: SNS refused %d entries: "
                                "%.60s",
                                what, __builtin_popcount(todo), ecode);
        else if (code == SDSINF_OK && todo) {
            SDSINF__COUNT(&sc->base, retries, 1);
            sdsinf__sleep_ms(10.0 * (1 << attempt));
        }
        sdsinf__aws_xml_free(x);
        sdsinf__aws_response_free(&rs);
    }
    for (int i = 0; i < sc->nheld; i++)
        sdsinf__free(sc->held[i].m.data);
    sc->nheld = 0;
    sc->held_bytes = 0;
    return code;
}

static int sns_send(sdsinf_channel *ch, const sdsinf_msg_key *key,
                    const void *msg, size_t len, sdsinf_err *err)
{
    sns_channel *sc = (sns_channel *)ch;
    int t = (int)key->target, code;
    if (!sc->created && !sc->known[t]) { /* standalone: its queue first */
        if ((code = join(sc->aws, &sc->set, ch->run, t, sc->topic, 0, NULL,
                         &ch->requests, err)) != SDSINF_OK)
            return code;
        sc->known[t] = 1;
    }
    sdsinf_sqsq_msg m;
    if ((code = sdsinf__sqsq_hold(&sc->claim, msg, len, &m, err)) !=
        SDSINF_OK)
        return code;
    size_t cost = entry_bytes(&m);
    if (sc->nheld && (sc->nheld == BATCH_MAX ||
                      sc->held_bytes + cost > PAYLOAD_MAX) &&
        (code = publish(sc, err)) != SDSINF_OK) {
        sdsinf__free(m.data);
        return code;
    }
    sc->held[sc->nheld++] = (sns_entry){m, t};
    sc->held_bytes += cost;
    return sc->nheld == BATCH_MAX ? publish(sc, err) : SDSINF_OK;
}

static int sns_flush(sdsinf_channel *ch, sdsinf_err *err)
{
    return publish((sns_channel *)ch, err);
}

static int sns_recv(sdsinf_channel *ch, const sdsinf_msg_key *want,
                    void **msg, size_t *len, int timeout_ms, sdsinf_err *err)
{
    sns_channel *sc = (sns_channel *)ch;
    int code = publish(sc, err);
    return code != SDSINF_OK ? code
                             : sdsinf__sqsq_recv(&sc->in, want, msg, len,
                                                 timeout_ms, err);
}

/* The control ops (sdsinf__sqsq_control), a drain after the held
 * messages were published. */
static int sns_control(sdsinf_channel *ch, int op, void *arg,
                       sdsinf_err *err)
{
    sns_channel *sc = (sns_channel *)ch;
    int code = op == SDSINF__CONTROL_DRAIN ? publish(sc, err) : SDSINF_OK;
    return code != SDSINF_OK ? code
                             : sdsinf__sqsq_control(&sc->in, &sc->set.q, op,
                                                    arg, err);
}

/* ---- The run (the coordinator's) ------------------------------------------------ */

static int sns_run_create(void *state, const char *config, uint64_t run,
                          int workers, sdsinf_requests *req, sdsinf_err *err)
{
    sns_settings st;
    char topic[ARN_CAP], name[NAME_CAP];
    int code = parse_settings(config, &st, err);
    if (code != SDSINF_OK)
        return code;
    if (st.q.queues[0]) /* a stack's: there already */
        return sdsinf__sqsq_check_shared(state, &st.q, "sns", workers, req,
                                         err);
    topic_name(&st, run, name);
    code = sdsinf__claim_run_create(state, &st.q.claim, run, req, err);
    if (code == SDSINF_OK && st.topic[0])
        strcpy(topic, st.topic);
    else if (code == SDSINF_OK)
        code = create_topic(state, name, topic, req, err);
    for (int w = 0; w < workers && code == SDSINF_OK; w++)
        code = join(state, &st, run, w, topic, 1, NULL, req, err);
    if (code != SDSINF_OK) /* none half made */
        remove_run(state, &st, run, workers, req, NULL);
    return code;
}

static int sns_run_destroy(void *state, const char *config, uint64_t run,
                           int workers, sdsinf_requests *req, sdsinf_err *err)
{
    sns_settings st;
    int code = parse_settings(config, &st, err);
    return code == SDSINF_OK ? remove_run(state, &st, run, workers, req, err)
                             : code;
}

static int sns_run_residue(void *state, const char *config, uint64_t run,
                           int64_t *items, sdsinf_err *err)
{
    sns_settings st;
    sdsinf_requests req = {0};
    char topic[ARN_CAP];
    char **subs = NULL;
    int nsubs = 0;
    int64_t queues = 0;
    int code = parse_settings(config, &st, err);
    if (code == SDSINF_OK && st.q.queues[0]) {
        *items = 0; /* a stack's: none is the run's */
        return SDSINF_OK;
    }
    if (code == SDSINF_OK)
        code = run_topic(state, &st, run, topic, &req, err);
    int own = code == SDSINF_OK && !st.topic[0];
    if (code == SDSINF_OK)
        code = run_subscriptions(state, &st, run, topic, &subs, &nsubs, &req,
                                 err);
    for (int i = 0; i < nsubs; i++)
        sdsinf__free(subs[i]);
    sdsinf__free(subs);
    if (code == 1)
        code = SDSINF_OK;
    if (code == SDSINF_OK)
        code = sdsinf__sqsq_count_run(state, &st.q, run, &queues, &req, err);
    if (code == SDSINF_OK)
        *items = queues + nsubs + own;
    return code == SDSINF_OK ? sdsinf__claim_run_count(state, &st.q.claim,
                                                       st.q.prefix, run,
                                                       items, err)
                             : code;
}

const sdsinf_channel_methods sdsinf__channel_sns = {
    .version = SDSINF_CHANNEL_VERSION,
    .name = "sns",
    .instance_size = sizeof(sns_channel),
    .caps = SDSINF_CAP_PROCESSES | SDSINF_CAP_DETACHED,
    .max_message = MAX_MESSAGE,
    .open = sns_open,
    .send = sns_send,
    .recv = sns_recv,
    .close = sns_close,
    .control = sns_control,
    .config_prepare = sns_config_prepare,
    .type_init = sdsinf__aws_type_init,
    .type_cleanup = sdsinf__aws_type_cleanup,
    .run_create = sns_run_create,
    .run_destroy = sns_run_destroy,
    .flush = sns_flush,
    .run_residue = sns_run_residue,
};
