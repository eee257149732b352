/* channels/claim.h - the claim check of the sqs and sns channels
 * (internal): a block over the queue's message limit goes to S3 as one
 * object and the queue carries a small pointer to it; the receiver
 * fetches the object, and the run's objects are removed with the run.
 *
 * Settings (in the channels' key=value list):
 *   claim=off|auto|always  off (default): blocks over the limit go as the
 *                    runtime's chunks; always: every such block goes to
 *                    S3; auto: those over claim_above (or whose chunks
 *                    together are: compressed apart, chunks can be
 *                    several times the block) go to S3, the others as
 *                    chunks (the cheaper for its size);
 *   claim_above=BYTES the auto threshold; default the break-even at
 *                    us-east-1's list prices (SDSINF__CLAIM_ABOVE_*);
 *   bucket=NAME      an existing bucket for the objects; default the run's
 *                    own, sdsinf-claim-<run as 16 hex>, made by run_create
 *                    (or a standalone open) and deleted with the run.
 *
 * Why the threshold: SQS bills each 64 KiB of a request's payload as a
 * request, on the send and again on the receive (SNS the same for a
 * publish, at SNS's price, of base64); a claim check pays an S3 PUT and
 * GET ($0.005 and $0.0004 per 1000) and a pointer of one unit sent,
 * received and deleted.  Chunks cost more than their bytes' units: the
 * codec halves a block until each part fits a message, and each part
 * (over half a request) bills its own rounded-up units.
 * sdsinf_claim_break_even (cost.c) models that and gives the size over
 * which the object is cheaper: at us-east-1 (SQS $0.40, SNS $0.50 per
 * million) 458,736 bytes for sqs (two chunks of 4 units, 8 units
 * received: 17 units, $6.8 per million blocks, against $6.6) and 294,816
 * for sns (two publishes of 4 units: 4 x 2 x $0.5 + 7 x $0.4 = $6.8
 * against $6.7; the linear estimate, 344,064, missed the rounding and
 * chose chunks up to 7.5% dearer: bench/bench_claim.py).  test_cost checks
 * the constants below against the function.
 *
 * Objects: <prefix>/<run>/<source>/<nonce>-<seq> in the bucket (prefix
 * the queues' prefix; nonce 16 hex digits per instance, seq counting its
 * objects), each written once and kept until the run is removed, so a
 * redelivered pointer finds its object again (the runtime drops the
 * duplicate block).  A pointer is the text
 *   @1 <size> <checksum as 16 hex> <key>
 * (checksum: sdsinf__checksum of the block, seed 0); the receiver checks
 * every field, that the key lies under its own run's root (a pointer of
 * another run is dropped), the object's size and checksum. */
#ifndef SDSINF_CLAIM_H
#define SDSINF_CLAIM_H

#include "aws/aws.h"
#include "channels/settings.h"

#include <stddef.h>
#include <stdint.h>

enum { SDSINF__CLAIM_OFF, SDSINF__CLAIM_AUTO, SDSINF__CLAIM_ALWAYS };

/* The break-even (sdsinf_claim_break_even) at us-east-1's list prices
 * (prices/aws.json): over 448 KiB - 16 (sqs), 287.9 KiB (sns). */
#define SDSINF__CLAIM_ABOVE_SQS 458736
#define SDSINF__CLAIM_ABOVE_SNS 294816

#define SDSINF__CLAIM_ROOT_CAP 72  /* <prefix>/<run>/ */
#define SDSINF__CLAIM_KEY_CAP 160
#define SDSINF__CLAIM_PTR_CAP 224  /* a pointer's text, NUL included */
#define SDSINF__CLAIM_HELP \
    "; claim=off|auto|always; claim_above=BYTES; bucket=NAME of a-z, 0-9, " \
    "'.', '-' (3..63)"

typedef struct sdsinf__claim_settings {
    int mode;           /* SDSINF__CLAIM_* */
    int64_t above;      /* claim_above; 0: the channel's default */
    char bucket[64];    /* "": the run's own */
} sdsinf__claim_settings;

/* Reads item `it` when it is a claim setting: 0 taken, -1 a bad value, 1
 * not a claim key.  Zero *c first for the defaults. */
int sdsinf__claim_setting(sdsinf__claim_settings *c,
                          const sdsinf__setting *it);

/* A pointer as read. */
typedef struct sdsinf__claim_ptr {
    uint64_t size, sum;
    char key[SDSINF__CLAIM_KEY_CAP];
} sdsinf__claim_ptr;

/* Parses len bytes of pointer text (no NUL needed): 0, or -1 when they
 * are no pointer (any byte out of place). */
int sdsinf__claim_parse(const char *text, size_t len, sdsinf__claim_ptr *p);

/* An instance's claim check. */
typedef struct sdsinf__claim {
    sdsinf_channel *ch;   /* counts its requests (borrowed) */
    sdsinf_aws *aws;
    const char *channel;  /* "sqs", "sns": for messages */
    int mode;
    char bucket[64];
    char root[SDSINF__CLAIM_ROOT_CAP];
    uint64_t nonce, seq;
} sdsinf__claim;

/* Sets c up for instance ch (run ch->run) with settings st, the queues'
 * prefix, the queue's message limit max_message and the auto default
 * above; sets ch->max_message and ch->whole_above for its mode.  In a run
 * not made by run_create (`created` 0), makes the run's own bucket when a
 * mode other than off needs it. */
int sdsinf__claim_open(sdsinf__claim *c, sdsinf_channel *ch, sdsinf_aws *a,
                       const char *channel, const sdsinf__claim_settings *st,
                       const char *prefix, size_t max_message,
                       size_t above, int created, sdsinf_err *err);
/* Stores msg (len bytes) as a new object; its pointer's text into ptr
 * (SDSINF__CLAIM_PTR_CAP bytes, NUL-terminated), its length in *plen. */
int sdsinf__claim_store(sdsinf__claim *c, const void *msg, size_t len,
                        char *ptr, size_t *plen, sdsinf_err *err);
/* Fetches the block of pointer text (len bytes) into *data (malloc'd;
 * free() it) of *dlen bytes, waiting with backoff (up to ~5 s) for an
 * object not there yet.  1 when the pointer is another run's (nothing
 * fetched: drop it); SDSINF_ECORRUPT for text that is no pointer or an
 * object of another size or checksum; SDSINF_EIO when the object is gone
 * (the run removed meanwhile). */
int sdsinf__claim_fetch(sdsinf__claim *c, const char *text, size_t len,
                        unsigned char **data, size_t *dlen, sdsinf_err *err);

/* ---- The run's objects (the coordinator's; requests counted into *req as
 * s3_put, s3_list, s3_remove).  Nothing to do with claim=off. */

/* Makes the run's own bucket (unless bucket= names one). */
int sdsinf__claim_run_create(sdsinf_aws *a, const sdsinf__claim_settings *st,
                             uint64_t run, sdsinf_requests *req,
                             sdsinf_err *err);
/* Removes the run's objects under <prefix>/<run>/ and its own bucket. */
int sdsinf__claim_run_remove(sdsinf_aws *a, const sdsinf__claim_settings *st,
                             const char *prefix, uint64_t run,
                             sdsinf_requests *req, sdsinf_err *err);
/* Adds the run's objects (and its own bucket) to *items. */
int sdsinf__claim_run_count(sdsinf_aws *a, const sdsinf__claim_settings *st,
                            const char *prefix, uint64_t run, int64_t *items,
                            sdsinf_err *err);

#endif /* SDSINF_CLAIM_H */
