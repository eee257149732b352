/* channels/sqs_queue.h - what the sqs and sns channels share (internal):
 * their settings, a run's SQS queues (names, making, finding, removing,
 * counting) and a worker's receive side (a long poll kept under way,
 * DeleteMessageBatch of what it brings).
 *
 * Queues: one standard queue per worker and run, named
 * <prefix>-<run as 16 hex digits>-<worker>, tagged sdsinf=created when
 * run_create made it.  A message is a body "0" (empty), "1" with its
 * bytes in the Binary message attribute "d" (the sqs channel: the
 * attribute bills the bytes themselves), or "=" followed by its bytes in
 * base64 (the sns channel: SNS's raw delivery to SQS keeps a body whole),
 * or "@" and the rest of a claim check's pointer (channels/claim.h: the
 * block is an S3 object), which the receive side resolves.
 * Every request is counted into a sdsinf_requests (see sqs.c, sns.c),
 * billed max(1, ceil(payload / 64 KiB)) units. */
#ifndef SDSINF_SQS_QUEUE_H
#define SDSINF_SQS_QUEUE_H

#include "aws/aws.h"
#include "channels/claim.h"
#include "channels/presence.h"
#include "channels/settings.h"
#include "core/core.h"

#include <stddef.h>
#include <stdint.h>

#define SDSINF_SQSQ_VERSION "2012-11-05"
#define SDSINF_SQSQ_BATCH 10        /* entries per batch and receive */
#define SDSINF_SQSQ_PAYLOAD 262144  /* bytes per message and per batch */
/* What one sdsinf message takes on each channel (also the claim check's
 * model of chunks, sdsinf_claim_break_even in cost/cost.c): the largest
 * message sent as one, and what an entry bills beside the message's bytes
 * (sqs: body "1", name "d", type "Binary"; sns: beside its base64, the
 * body mark and the attributes run and target; a received one bills its
 * body, "=" and the base64). */
#define SDSINF_SQSQ_SQS_ENTRY 8
#define SDSINF_SQSQ_SQS_MAX (SDSINF_SQSQ_PAYLOAD - 64)
#define SDSINF_SQSQ_SNS_ENTRY 64
#define SDSINF_SQSQ_SNS_MAX \
    ((SDSINF_SQSQ_PAYLOAD - SDSINF_SQSQ_SNS_ENTRY - 64) / 4 * 3)
#define SDSINF_SQSQ_NAME_CAP 96
#define SDSINF_SQSQ_URL_CAP 512

/* The settings both channels read: prefix=NAME, visibility=S, wait=S,
 * queues=NAME and the claim check's (claim.h).  With queues=NAME (a
 * deployed stack's, sdsinf aws deploy) worker w's queue is the existing
 * NAME-<w>, which runs share: a run neither makes nor removes it, its
 * messages carry the attribute `run` and a receiver hands another run's
 * back (see sdsinf__sqsq_recv). */
typedef struct sdsinf_sqsq_settings {
    char prefix[48];
    char queues[48]; /* "": the run's own queues */
    int visibility_s, wait_s;
    sdsinf__claim_settings claim;
} sdsinf_sqsq_settings;

/* A channel's own setting: 0 taken, -1 a bad value, 1 not its key. */
typedef int (*sdsinf_sqsq_extra)(void *ctx, const sdsinf__setting *it);

/* Reads the comma-separated key=value list `config` (NULL: defaults)
 * into *st, handing keys it does not know to extra (may be NULL), whose
 * keys extra_help describes ("" when none).  SDSINF_EINVAL naming the bad
 * setting and every known one. */
int sdsinf__sqsq_parse(const char *channel, const char *config,
                       sdsinf_sqsq_settings *st, sdsinf_sqsq_extra extra,
                       void *ctx, const char *extra_help, sdsinf_err *err);

/* <prefix>-<run>-: the start of every queue name of the run, and worker
 * w's queue name (SDSINF_SQSQ_NAME_CAP bytes each): <queues>-<w> on
 * shared queues. */
void sdsinf__sqsq_run_prefix(const sdsinf_sqsq_settings *st, uint64_t run,
                             char *out);
void sdsinf__sqsq_name(const sdsinf_sqsq_settings *st, uint64_t run, int w,
                       char *out);
/* The 64 KiB units a request carrying `bytes` bills (at least 1). */
uint64_t sdsinf__sqsq_units(size_t bytes);
/* 1 when an error answer says the queue does not exist. */
int sdsinf__sqsq_nonexistent(const sdsinf_aws_response *rs);

/* The message attribute that carries the run on shared queues, and the
 * bytes it adds to an entry. */
#define SDSINF_SQSQ_RUN_ATTR "run"
#define SDSINF_SQSQ_RUN_BYTES 25

/* Posts form f (freed) to service s, billed as `units` into req->units;
 * the answer's XML in *x when x is not NULL.  (The caller counts the
 * request's kind.)  rs is always set: the caller frees it. */
int sdsinf__sqsq_post(sdsinf_aws *a, sdsinf_aws_service s, sdsinf_aws_form *f,
                      const char *what, uint64_t units, sdsinf_requests *req,
                      sdsinf_aws_response *rs, sdsinf_aws_xml **x,
                      sdsinf_err *err);

/* The failed entries of a batch answer (elements `elem`, under `from`;
 * NULL: anywhere): their ids marked in *again (bit i: entry i), AWS's code
 * of the first into code (cap bytes); *fatal set when one is the sender's
 * fault (not worth sending again). */
void sdsinf__sqsq_failed(sdsinf_aws_xml *x, const sdsinf_aws_node *from,
                         const char *elem, unsigned *again, char *code,
                         size_t cap, int *fatal);

/* ---- Queues (counted: CreateQueue as send, DeleteQueue as remove, the
 * others as list) ------------------------------------------------------- */

/* Creates queue `name` (tagged sdsinf=created when `tagged`); its URL
 * into url (SDSINF_SQSQ_URL_CAP; may be NULL).  An existing queue of that
 * name is no error (its URL comes back). */
int sdsinf__sqsq_create(sdsinf_aws *a, const sdsinf_sqsq_settings *st,
                        const char *name, int tagged, char *url,
                        sdsinf_requests *req, sdsinf_err *err);
/* Queue `name`'s URL into url and, when created is not NULL, whether
 * run_create made it (its tag) into *created; 1 when there is no such
 * queue. */
int sdsinf__sqsq_find(sdsinf_aws *a, const char *name, char *url,
                      int *created, sdsinf_requests *req, sdsinf_err *err);
/* The attribute QueueArn of the queue at url into arn (cap bytes). */
int sdsinf__sqsq_arn(sdsinf_aws *a, const char *url, char *arn, size_t cap,
                     sdsinf_requests *req, sdsinf_err *err);
/* Sets the attribute `name` of the queue at url to value. */
int sdsinf__sqsq_set_attribute(sdsinf_aws *a, const char *url,
                               const char *name, const char *value,
                               sdsinf_requests *req, sdsinf_err *err);
/* Checks that shared queues 0..workers-1 exist (run_create on a
 * stack): SDSINF_EINVAL naming the first missing one and what to do. */
int sdsinf__sqsq_check_shared(sdsinf_aws *a, const sdsinf_sqsq_settings *st,
                              const char *channel, int workers,
                              sdsinf_requests *req, sdsinf_err *err);
/* Finds this worker's shared queue (open on a stack): its URL into url;
 * SDSINF_EINVAL, as above, when missing. */
int sdsinf__sqsq_find_shared(sdsinf_aws *a, const char *channel,
                             const char *name, char *url,
                             sdsinf_requests *req, sdsinf_err *err);
/* How many queues of the run exist (a listing) into *n (shared queues:
 * 0, none is the run's). */
int sdsinf__sqsq_count_run(sdsinf_aws *a, const sdsinf_sqsq_settings *st,
                           uint64_t run, int64_t *n, sdsinf_requests *req,
                           sdsinf_err *err);
/* Removes every queue of the run: workers 0..workers-1 by name (a listing
 * may lag behind a queue just made), then whatever a listing still
 * shows; a failure for want of memory is tried once more.  Shared queues
 * are left alone. */
int sdsinf__sqsq_remove_run(sdsinf_aws *a, const sdsinf_sqsq_settings *st,
                            uint64_t run, int workers, sdsinf_requests *req,
                            sdsinf_err *err);

/* ---- A worker's receive side -------------------------------------------- */

typedef struct sdsinf_sqsq_msg {
    unsigned char *data;
    size_t len;
    int pointer; /* a send held: data is a claim check's pointer text */
} sdsinf_sqsq_msg;

/* Message msg (len bytes) as a send to hold in *m, its bytes copied
 * (m->data the caller's, sdsinf__free it): one over the instance's
 * max_message, handed whole, is stored by the claim check c and m holds
 * its pointer's text instead. */
int sdsinf__sqsq_hold(sdsinf__claim *c, const void *msg, size_t len,
                      sdsinf_sqsq_msg *m, sdsinf_err *err);

/* The receive state of one instance: sdsinf__sqsq_inbox_init sets ch,
 * aws, channel, claim, name, wait_s, shared and visibility_s, the channel
 * url (once it found the queue), the rest zero. */
typedef struct sdsinf_sqsq_inbox {
    sdsinf_channel *ch;   /* counts its requests (borrowed) */
    sdsinf_aws *aws;
    const char *channel;  /* "sqs", "sns": for messages */
    sdsinf__claim *claim; /* resolves pointers (borrowed) */
    char name[SDSINF_SQSQ_NAME_CAP];
    char url[SDSINF_SQSQ_URL_CAP];
    int wait_s;           /* the longest long poll */
    int shared;           /* the queue is a stack's, which runs share */
    int visibility_s;     /* shared: the age after which another run's
                             message is a dead run's, and how long it is
                             then hidden (the setting visibility=) */
    double resume;        /* no poll starts before (sdsinf__now) */
    /* received, not returned yet: a ring */
    sdsinf_sqsq_msg got[SDSINF_SQSQ_BATCH];
    int ngot, got0;
    /* the long poll under way, and its form (the request's body) */
    sdsinf_aws_pending *poll;
    sdsinf_aws_form poll_form;
    int poll_wait_s;
} sdsinf_sqsq_inbox;

/* Sets up the (zeroed) inbox of channel instance ch of channel `channel`
 * ("sqs", "sns"), its AWS client ch->type_state, on the queue that
 * settings st name for it; claim resolves pointers (borrowed). */
void sdsinf__sqsq_inbox_init(sdsinf_sqsq_inbox *in, sdsinf_channel *ch,
                             const char *channel,
                             const sdsinf_sqsq_settings *st,
                             sdsinf__claim *claim);
/* Finds the inbox's queue as an open does: a stack's (missing: as
 * sdsinf__sqsq_find_shared), else the run's, its URL into in->url, and
 * whether run_create made it into *created (a stack's: 1); 1 when a
 * standalone run lacks it (the open makes it).  A run its coordinator made
 * (ch->run_made) whose queue is gone has ended: SDSINF_ECANCELED saying
 * so. */
int sdsinf__sqsq_inbox_find(sdsinf_sqsq_inbox *in, int *created,
                            sdsinf_err *err);
/* The next message on the inbox's queue within timeout_ms, as the
 * channel's recv (sdsinf.h); receives are counted as receive/empty,
 * deletes as remove.  A long poll may outlive the call (the next picks it
 * up); a call shorter than 100 ms with none under way makes a short poll.
 * On a shared queue a message whose attribute `run` is another run's is
 * not deleted but handed back (ChangeMessageVisibilityBatch, counted as
 * remove): visible again at once while younger than visibility_s, and
 * the inbox's next poll waits 50 ms, so that the receiver of the run it
 * is for, polling the same queue, gets it; an older one's run must be
 * dead: it is hidden for visibility_s, costing a few receives an hour
 * until the queue's retention drops it. */
int sdsinf__sqsq_recv(sdsinf_sqsq_inbox *in, const sdsinf_msg_key *want,
                      void **msg, size_t *len, int timeout_ms,
                      sdsinf_err *err);
/* Ends the inbox's poll under way: on a shared queue it waits for the
 * poll's answer (at most its wait) and settles it, another run's messages
 * handed back, since a poll cut short may still take messages that then
 * stay hidden for the visibility timeout, stalling the run they are for;
 * elsewhere it cuts the poll short. */
int sdsinf__sqsq_inbox_settle(sdsinf_sqsq_inbox *in, sdsinf_err *err);
/* An instance's close after its flush gave `code` (not in a fork()ed
 * child): the inbox settled and the standalone run `alone` left
 * (sdsinf__standalone_leave); the first failure is returned. */
int sdsinf__sqsq_close(sdsinf_sqsq_inbox *in, sdsinf__standalone *alone,
                       int code, int cleanup,
                       sdsinf__standalone_remove remove, void *ctx,
                       sdsinf_err *err);
/* Removes the run's messages from its workers' shared queues (the
 * instance's run, workers 0..ch->workers-1; in is an instance's inbox on
 * one of them, settled first) for up to ms: polls of 1 s on all at once,
 * again on each that brought some of the run's, until one brings none;
 * another run's messages are handed back as a receive does, and messages
 * a dead receiver took stay hidden until their visibility timeout ends.
 * On a run's own queues (which run_destroy deletes) nothing. */
int sdsinf__sqsq_drain(sdsinf_sqsq_inbox *in, const sdsinf_sqsq_settings *st,
                       int ms, sdsinf_err *err);
/* The control ops of both channels: SDSINF__CONTROL_DRAIN (arg: int *ms)
 * as sdsinf__sqsq_drain; SDSINF_ENOTSUP for others. */
int sdsinf__sqsq_control(sdsinf_sqsq_inbox *in,
                         const sdsinf_sqsq_settings *st, int op, void *arg,
                         sdsinf_err *err);
/* Frees what the inbox holds and cuts its poll short; `forked`: this is a
 * fork()ed child whose poll's connection is the parent's (left alone). */
void sdsinf__sqsq_inbox_release(sdsinf_sqsq_inbox *in, int forked);

#endif /* SDSINF_SQS_QUEUE_H */
