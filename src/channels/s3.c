/* channels/s3.c - the "s3" channel: workers anywhere that reach Amazon S3
 * (or an emulator: AWS_ENDPOINT_URL) exchange blocks as objects at known
 * keys (SDS-Inf's Object variant), through the AWS client (aws/s3.h).
 *
 * Keys, under the run's root <prefix>/<run as 16 hex digits>/:
 *   layout=pair    p/<batch>/<layer>/<target>/<source>: one object per
 *                  block; send PUTs it, recv GETs exactly that key;
 *   layout=source  s/<batch>/<layer>/<source>: one object per layer and
 *                  source holding its blocks for all targets, written by
 *                  flush (the worker's, after a layer's sends; also before
 *                  a recv or close): the blocks, then a trailer indexing
 *                  them (channels/s3obj.h).  A receiver GETs the object's
 *                  tail (`Range: bytes=-N`: 1 MiB at first, then twice its
 *                  block's distance from the end in the last object of
 *                  that source) and so usually has trailer and block in one
 *                  GET; else a second ranged GET fetches the block.  A
 *                  flush that adds blocks to an object already written
 *                  (the same layer, more targets) writes it again with
 *                  the new blocks appended before a new trailer, so the
 *                  offsets a reader of the older trailer holds stay good.
 * A GET that finds no object (404), or no block for this worker, is an
 * empty receive; recv polls with backoff (2 ms, doubling to poll=MS)
 * until its timeout, carried over to the next recv of the same key.
 * With control(SDSINF_S3_LISTING, &on) recv lists the layer's objects
 * (ListObjectsV2) and returns any it has not returned yet, as SDS-Inf.
 *
 * Why layout=source is the default: a PUT costs 12.5 GETs (us-east-1:
 * $0.005 and $0.0004 per 1000); for a source with T targets in a layer,
 * pair makes T PUTs and T GETs, source 1 PUT and about T GETs (a second
 * GET only when a block is farther from the end than guessed: 0.5% of
 * blocks on the real data).  Measured (bench/s3_layouts.sh; real 1024 x
 * 120 network, 6,000 images, 8 workers): source 960 PUTs, ~7,900 GETs,
 * $0.0080; pair 6,487 PUTs, ~7,900 GETs, $0.036.  (Fetching the whole
 * object would need exactly one GET but move T times the bytes; an index
 * GET before each ranged GET would double the GETs.)
 *
 * Runs: with no bucket= setting the run has its own bucket,
 * sdsinf-<run as 16 hex>, made by run_create and deleted by run_destroy;
 * with bucket= only the run's keys are made and removed.  run_create PUTs
 * <root>created, which open GETs to learn the run is run_destroy's to
 * remove (an instance of the runtime's, run_made, that finds it gone
 * fails, making nothing: the run has ended); without it (a program using the channel directly) open makes
 * the run's bucket if it is its own, and cleanup is as the sqs channel's:
 * the instances of a run on this machine hold lock files
 * (channels/presence.h), and the last to close removes the run's objects
 * (and bucket) if any asked.  Removal: ListObjectsV2 pages of 1000 keys,
 * each deleted with one DeleteObjects.
 *
 * Settings (the config string): comma-separated key=value:
 *   bucket=NAME    an existing bucket (3..63 of a-z, 0-9, '.', '-')
 *   prefix=P       the keys' first part (letters, digits, '-', '_', '.';
 *                  up to 40; "sdsinf")
 *   layout=L       source (default) or pair
 *   poll=MS        the longest wait between GETs of an absent key,
 *                  1..1000 (20)
 *
 * Requests (sdsinf_requests): send = PUT (and CreateBucket), receive = GET
 * (empty: 404 or no block here), list = ListObjectsV2, remove =
 * DeleteObjects and DeleteBucket; retries = repeated requests. */
#include "aws/s3.h"
#include "channels/channels.h"
#include "channels/presence.h"
#include "channels/settings.h"
#include "channels/s3obj.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY_CAP 256
#define ROOT_CAP 72               /* <prefix>/<run>/ */
#define POLL_FIRST_MS 2.0
#define TAIL_FIRST (1u << 20)     /* a source's first tail GET, bytes */
#define TAIL_MAX (64u << 20)      /* the largest guess */
#define NOT_THERE 2               /* internal: no object or block yet */

typedef struct s3_settings {
    char bucket[64];  /* "": the run's own */
    char prefix[48];
    int pair;         /* layout=pair */
    int poll_ms;
} s3_settings;

/* A block held for the next flush (layout=source). */
typedef struct s3_block {
    unsigned char *data;
    size_t len;
    int held;
} s3_block;

typedef struct s3_channel {
    sdsinf_channel base;
    sdsinf_aws *aws;
    s3_settings set;
    char bucket[64];      /* the bucket used */
    char root[ROOT_CAP];   /* <prefix>/<run>/ */
    pid_t pid;
    int created;          /* the run was made by run_create */
    int listing;
    sdsinf__standalone alone; /* runs made without run_create */
    /* layout=source, sending */
    s3_block *out;        /* per target */
    uint32_t out_batch, out_layer;
    int nheld;
    sdsinf__s3obj last;   /* the object written last, */
    uint32_t last_batch, last_layer; /* of this batch and layer, */
    int last_valid;       /* if any */
    uint64_t *written;    /* (batch << 32 | layer) of objects written */
    size_t nwritten, capwritten;
    /* layout=source, receiving: each source's tail guess */
    uint64_t *tail;
    /* the backoff of the key polled last */
    sdsinf_msg_key poll_key;
    double poll_wait;
    /* listing: the sources returned from one (batch, layer) */
    uint32_t seen_batch, seen_layer;
    int seen_valid;
    unsigned char *seen;
} s3_channel;

/* ---- Settings and names ---------------------------------------------------- */

static int parse_settings(const char *config, s3_settings *st, sdsinf_err *err)
{
    sdsinf__setting it;
    memset(st, 0, sizeof *st);
    strcpy(st->prefix, "sdsinf");
    st->poll_ms = 20;
    for (const char *s = config; sdsinf__setting_next(&s, &it);) {
        int bad;
        if (sdsinf__setting_is(&it, "bucket"))
            bad = it.vlen < 3 || it.val[0] == '.' || it.val[0] == '-' ||
                  sdsinf__setting_name(&it, ".-", st->bucket,
                                       sizeof st->bucket);
        else if (sdsinf__setting_is(&it, "prefix"))
            bad = sdsinf__setting_name(&it, "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.", st->prefix, 41);
        else if (sdsinf__setting_is(&it, "layout"))
            bad = !(st->pair = it.vlen == 4 && !strncmp(it.val, "pair", 4)) &&
                  !(it.vlen == 6 && !strncmp(it.val, "source", 6));
        else if (sdsinf__setting_is(&it, "poll"))
            bad = (st->poll_ms = sdsinf__setting_int(&it, 1, 1000)) < 0;
        else
            bad = 1;
        if (bad)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "channel 's3': bad setting '%.*s' (known: "
                                "bucket=NAME of a-z, 0-9, '.', '-' (3..63); "
                                "prefix=P of letters, digits, '-', '_', '.' "
                                "(up to 40); layout=source|pair; "
                                "poll=MS 1..1000; comma-separated)",
                                (int)(it.len < 60 ? it.len : 60), it.item);
    }
    return SDSINF_OK;
}

/* The bucket of run (the setting's, else the run's own) and its root. */
static void run_names(const s3_settings *st, uint64_t run, char bucket[64],
                      char root[ROOT_CAP])
{
    if (st->bucket[0])
        snprintf(bucket, 64, "%s", st->bucket);
    else
        snprintf(bucket, 64, "sdsinf-%016" PRIx64, run);
    snprintf(root, ROOT_CAP, "%.40s/%016" PRIx64 "/", st->prefix, run);
}

/* The key of a block (pair) or of a source's object (source). */
static void block_key(const s3_channel *sc, uint32_t batch, uint32_t layer,
                      uint32_t source, uint32_t target, char key[KEY_CAP])
{
    if (sc->set.pair)
        snprintf(key, KEY_CAP, "%sp/%" PRIu32 "/%" PRIu32 "/%" PRIu32
                 "/%" PRIu32, sc->root, batch, layer, target, source);
    else
        snprintf(key, KEY_CAP, "%ss/%" PRIu32 "/%" PRIu32 "/%" PRIu32,
                 sc->root, batch, layer, source);
}

/* What a listing of (batch, layer) for this worker covers. */
static void listing_prefix(const s3_channel *sc, uint32_t batch,
                           uint32_t layer, char key[KEY_CAP])
{
    if (sc->set.pair)
        snprintf(key, KEY_CAP, "%sp/%" PRIu32 "/%" PRIu32 "/%d/", sc->root,
                 batch, layer, sc->base.self);
    else
        snprintf(key, KEY_CAP, "%ss/%" PRIu32 "/%" PRIu32 "/", sc->root,
                 batch, layer);
}

/* The settings checked up front (a run's config_prepare), kept as given. */
static int s3_config_prepare(const char *config, char *out, size_t cap,
                             sdsinf_err *err)
{
    s3_settings st;
    int rc = parse_settings(config, &st, err);
    return rc == SDSINF_OK ? sdsinf__config_copy(config, out, cap, err) : rc;
}

/* ---- The run's objects ------------------------------------------------------- */

/* Removes the run's objects (a page of 1000 at a time, listed afresh each
 * round) and, when it is the run's own, its bucket. */
static int remove_run(sdsinf_aws *a, const s3_settings *st, uint64_t run,
                      sdsinf_requests *req, sdsinf_err *err)
{
    char bucket[64], root[KEY_CAP];
    run_names(st, run, bucket, root);
    return sdsinf__s3_remove_run(a, bucket, root, !st->bucket[0], &req->list,
                                 &req->remove, &req->retries, err);
}

static int s3_run_residue(void *state, const char *config, uint64_t run,
                          int64_t *items, sdsinf_err *err)
{
    s3_settings st;
    char bucket[64], root[KEY_CAP];
    int64_t n = 0;
    uint64_t retries = 0;
    int code = parse_settings(config, &st, err);
    run_names(&st, run, bucket, root);
    if (code == SDSINF_OK)
        code = sdsinf__s3_count_prefix(state, bucket, root, &n, &retries,
                                       err);
    if (code == SDSINF_OK && !st.bucket[0])
        n++; /* the run's own bucket */
    if (code == SDSINF_S3_NOT_FOUND)
        code = SDSINF_OK;
    if (code == SDSINF_OK)
        *items = n;
    return code;
}

/* Makes the run's own bucket (if it has one) and its mark. */
static int s3_run_create(void *state, const char *config, uint64_t run,
                         int workers, sdsinf_requests *req, sdsinf_err *err)
{
    (void)workers;
    s3_settings st;
    char bucket[64], root[KEY_CAP], key[KEY_CAP + 16];
    int code = parse_settings(config, &st, err);
    if (code != SDSINF_OK)
        return code;
    run_names(&st, run, bucket, root);
    snprintf(key, sizeof key, "%screated", root);
    if (!st.bucket[0]) {
        req->send++;
        code = sdsinf__s3_bucket_create(state, bucket, &req->retries, err);
    }
    if (code == SDSINF_OK) {
        req->send++;
        code = sdsinf__s3_put(state, bucket, key, "", 0, &req->retries, err);
    }
    if (code != SDSINF_OK && st.bucket[0] && err &&
        strstr(err->msg, "NoSuchBucket")) {
        char was[sizeof err->msg];
        memcpy(was, err->msg, sizeof was);
        sdsinf__fail(err, code, "%s; create bucket %s first, or leave "
                     "bucket= out for a bucket of the run's own",
                     was, st.bucket);
    }
    if (code != SDSINF_OK) /* none half made */
        remove_run(state, &st, run, req, NULL);
    return code;
}

static int s3_run_destroy(void *state, const char *config, uint64_t run,
                          int workers, sdsinf_requests *req, sdsinf_err *err)
{
    (void)workers;
    s3_settings st;
    int code = parse_settings(config, &st, err);
    return code == SDSINF_OK ? remove_run(state, &st, run, req, err) : code;
}

/* ---- Open and close ---------------------------------------------------------- */

static void release(s3_channel *sc)
{
    for (int t = 0; sc->out && t < sc->base.workers; t++)
        sdsinf__free(sc->out[t].data);
    sdsinf__free(sc->out);
    sdsinf__s3obj_free(&sc->last);
    sdsinf__free(sc->written);
    sdsinf__free(sc->tail);
    sdsinf__free(sc->seen);
    sc->out = NULL;
    sc->written = NULL;
    sc->tail = NULL;
    sc->seen = NULL;
}

/* Removes the run made without run_create that sc left last
 * (sdsinf__standalone_remove). */
static int remove_alone(void *sc_, sdsinf_err *err)
{
    s3_channel *sc = sc_;
    return remove_run(sc->aws, &sc->set, sc->base.run, &sc->base.requests,
                      err);
}

/* Learns whether run_create made the run (its mark); else makes the
 * run's own bucket, unless its coordinator made it (run_made): then the
 * run has ended. */
static int find_run(s3_channel *sc, sdsinf_err *err)
{
    char key[KEY_CAP + 16];
    sdsinf_aws_response rs;
    uint64_t size = 0;
    sdsinf_requests *req = &sc->base.requests;
    snprintf(key, sizeof key, "%screated", sc->root);
    SDSINF__COUNT(&sc->base, receive, 1);
    int code = sdsinf__s3_get(sc->aws, sc->bucket, key, NULL, &rs, &size,
                              &req->retries, err);
    sdsinf__aws_response_free(&rs);
    sc->created = code == SDSINF_OK;
    if (code != SDSINF_S3_NOT_FOUND)
        return code;
    SDSINF__COUNT(&sc->base, empty, 1);
    if (sc->base.run_made)
        return sdsinf__fail(err, SDSINF_ECANCELED,
                            "channel 's3': worker %d: the run has ended: its "
                            "mark s3://%s/%.100s is gone (its coordinator "
                            "removed the run before this worker opened)",
                            sc->base.self, sc->bucket, key);
    if (sc->set.bucket[0])
        return SDSINF_OK;
    SDSINF__COUNT(&sc->base, send, 1);
    return sdsinf__s3_bucket_create(sc->aws, sc->bucket, &req->retries, err);
}

static int s3_open(sdsinf_channel *ch, const char *config, sdsinf_err *err)
{
    s3_channel *sc = (s3_channel *)ch;
    int code = parse_settings(config, &sc->set, err);
    if (code != SDSINF_OK)
        return code;
    sc->aws = ch->type_state;
    sc->pid = getpid();
    char name[sizeof sc->bucket + sizeof sc->set.prefix];
    run_names(&sc->set, ch->run, sc->bucket, sc->root);
    snprintf(name, sizeof name, "%s-%s", sc->bucket, sc->set.prefix);
    sc->out = sdsinf__calloc((size_t)ch->workers, sizeof *sc->out);
    sc->tail = sdsinf__calloc((size_t)ch->workers, sizeof *sc->tail);
    sc->seen = sdsinf__calloc(((size_t)ch->workers + 7) / 8, 1);
    if (!sc->out || !sc->tail || !sc->seen) {
        release(sc);
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel 's3': no memory to open worker %d",
                            ch->self);
    }
    if ((code = sdsinf__standalone_join(&sc->alone, "s3", name, ch->run,
                                        ch->self, err)) != SDSINF_OK) {
        release(sc);
        return code;
    }
    code = find_run(sc, err);
    if (sdsinf__standalone_opened(&sc->alone, code, sc->created, 1,
                                  remove_alone, sc) != SDSINF_OK)
        release(sc);
    return code;
}

static int flush_held(s3_channel *sc, sdsinf_err *err);

static int s3_close(sdsinf_channel *ch, int cleanup, sdsinf_err *err)
{
    s3_channel *sc = (s3_channel *)ch;
    int code = SDSINF_OK;
    if (sc->pid == getpid()) { /* a fork()ed child only lets go */
        code = flush_held(sc, err);
        sdsinf_err e2 = {0};
        int r = sdsinf__standalone_leave(&sc->alone, cleanup, remove_alone,
                                         sc, &e2);
        if (code == SDSINF_OK && r != SDSINF_OK)
            code = sdsinf__fail(err, r, "%s", e2.msg);
    }
    release(sc);
    return code;
}

/* ---- Send ---------------------------------------------------------------------- */

static int bad_object(const s3_channel *sc, const char *key, sdsinf_err *err)
{
    return sdsinf__fail(err, SDSINF_EPARSE,
                        "channel 's3': worker %d: object s3://%s/%.120s is no "
                        "block object of sdsinf (wrong trailer); another "
                        "program writes under the run's prefix: use another "
                        "prefix=",
                        sc->base.self, sc->bucket, key);
}

/* Loads the object of (batch, layer) written earlier but no longer held
 * into sc->last (a worker that went back to a layer it had sent). */
static int reload(s3_channel *sc, uint32_t batch, uint32_t layer,
                  sdsinf_err *err)
{
    char key[KEY_CAP];
    sdsinf_aws_response rs;
    uint64_t size = 0;
    block_key(sc, batch, layer, (uint32_t)sc->base.self, 0, key);
    SDSINF__COUNT(&sc->base, receive, 1);
    int code = sdsinf__s3_get(sc->aws, sc->bucket, key, NULL, &rs, &size,
                              &sc->base.requests.retries, err);
    sdsinf__s3obj_clear(&sc->last);
    if (code == SDSINF_S3_NOT_FOUND) { /* removed meanwhile: start afresh */
        SDSINF__COUNT(&sc->base, empty, 1);
        code = SDSINF_OK;
    } else if (code == SDSINF_OK) {
        int r = sdsinf__s3obj_load(&sc->last, (unsigned char *)rs.body,
                                   rs.len);
        if (r == -3)
            code = sdsinf__fail(err, SDSINF_ENOMEM,
                                "channel 's3': no memory to reload %s", key);
        else if (r != 0)
            code = bad_object(sc, key, err);
    }
    sdsinf__aws_response_free(&rs);
    return code;
}

static int written_before(const s3_channel *sc, uint64_t id)
{
    for (size_t i = 0; i < sc->nwritten; i++)
        if (sc->written[i] == id)
            return 1;
    return 0;
}

/* Writes the held blocks into the object of their (batch, layer), after
 * the blocks it already holds. */
static int flush_held(s3_channel *sc, sdsinf_err *err)
{
    if (sc->set.pair || sc->nheld == 0)
        return SDSINF_OK;
    sdsinf__s3obj *o = &sc->last;
    uint64_t id = (uint64_t)sc->out_batch << 32 | sc->out_layer;
    int code = SDSINF_OK, again = written_before(sc, id);
    if (!(sc->last_valid && sc->last_batch == sc->out_batch &&
          sc->last_layer == sc->out_layer)) {
        sc->last_valid = 0;
        sdsinf__s3obj_clear(o);
        if (again && (code = reload(sc, sc->out_batch, sc->out_layer, err)) !=
                         SDSINF_OK)
            return code;
    }
    if (!again && sc->nwritten == sc->capwritten) {
        size_t cap = sc->capwritten ? 2 * sc->capwritten : 64;
        uint64_t *w = sdsinf__realloc(sc->written, cap * sizeof *w);
        if (!w)
            return sdsinf__fail(err, SDSINF_ENOMEM,
                                "channel 's3': worker %d has no memory to "
                                "flush", sc->base.self);
        sc->written = w;
        sc->capwritten = cap;
    }
    unsigned char *obj = NULL;
    size_t len = 0;
    for (int t = 0; t < sc->base.workers && code == SDSINF_OK; t++)
        if (sc->out[t].held &&
            sdsinf__s3obj_add(o, (uint32_t)t, sc->out[t].data,
                              sc->out[t].len) != 0)
            code = SDSINF_ENOMEM;
    if (code == SDSINF_OK && sdsinf__s3obj_encode(o, &obj, &len) != 0)
        code = SDSINF_ENOMEM;
    if (code != SDSINF_OK) { /* o may hold some: rebuilt next time */
        sc->last_valid = 0;
        return sdsinf__fail(err, code,
                            "channel 's3': worker %d has no memory to flush",
                            sc->base.self);
    }
    char key[KEY_CAP];
    block_key(sc, sc->out_batch, sc->out_layer, (uint32_t)sc->base.self, 0,
              key);
    SDSINF__COUNT(&sc->base, send, 1);
    code = sdsinf__s3_put(sc->aws, sc->bucket, key, obj, len,
                          &sc->base.requests.retries, err);
    sdsinf__free(obj);
    sc->last_valid = code == SDSINF_OK; /* else what it holds was not written */
    sc->last_batch = sc->out_batch;
    sc->last_layer = sc->out_layer;
    if (code != SDSINF_OK)
        return code;
    if (!again)
        sc->written[sc->nwritten++] = id;
    for (int t = 0; t < sc->base.workers; t++) {
        sdsinf__free(sc->out[t].data);
        sc->out[t] = (s3_block){NULL, 0, 0};
    }
    sc->nheld = 0;
    return SDSINF_OK;
}

static int s3_flush(sdsinf_channel *ch, sdsinf_err *err)
{
    return flush_held((s3_channel *)ch, err);
}

static int s3_send(sdsinf_channel *ch, const sdsinf_msg_key *key,
                   const void *msg, size_t len, sdsinf_err *err)
{
    s3_channel *sc = (s3_channel *)ch;
    if (key->chunk != 0 || key->nchunks > 1)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel 's3': worker %d sends chunk %" PRIu32
                            " of batch %" PRIu32 " layer %" PRIu32
                            " to worker %" PRIu32 "; a key holds one object: "
                            "send the block's chunks as one message",
                            ch->self, key->chunk, key->batch, key->layer,
                            key->target);
    if (sc->set.pair) {
        char k[KEY_CAP];
        block_key(sc, key->batch, key->layer, key->source, key->target, k);
        SDSINF__COUNT(ch, send, 1);
        return sdsinf__s3_put(sc->aws, sc->bucket, k, msg, len,
                              &ch->requests.retries, err);
    }
    int code = SDSINF_OK;
    if (sc->nheld && (sc->out_batch != key->batch ||
                      sc->out_layer != key->layer))
        code = flush_held(sc, err); /* another layer's object */
    if (code != SDSINF_OK)
        return code;
    s3_block *b = &sc->out[key->target];
    unsigned char *copy = sdsinf__malloc(len);
    if (!copy)
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel 's3': worker %d has no memory to hold "
                            "%zu bytes for worker %" PRIu32,
                            ch->self, len, key->target);
    if (len)
        memcpy(copy, msg, len);
    sdsinf__free(b->data); /* the same key again: the later one */
    sc->nheld += !b->held;
    *b = (s3_block){copy, len, 1};
    sc->out_batch = key->batch;
    sc->out_layer = key->layer;
    return SDSINF_OK;
}

/* ---- Receive -------------------------------------------------------------------- */

/* The answer's body as a message (taken from rs; never NULL). */
static int take_body(sdsinf_aws_response *rs, void **msg, size_t *len)
{
    void *p = rs->body;
    if (!p && !(p = malloc(1)))
        return SDSINF_ENOMEM;
    *msg = p;
    *len = rs->len;
    rs->body = NULL;
    return SDSINF_OK;
}

/* One GET of a block object (pair): SDSINF_OK, NOT_THERE or a failure. */
static int fetch_pair(s3_channel *sc, const char *key, void **msg,
                      size_t *len, sdsinf_err *err)
{
    sdsinf_aws_response rs;
    uint64_t size = 0;
    SDSINF__COUNT(&sc->base, receive, 1);
    int code = sdsinf__s3_get(sc->aws, sc->bucket, key, NULL, &rs, &size,
                              &sc->base.requests.retries, err);
    if (code == SDSINF_S3_NOT_FOUND)
        code = NOT_THERE;
    else if (code == SDSINF_OK && take_body(&rs, msg, len) != SDSINF_OK)
        code = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    sdsinf__aws_response_free(&rs);
    return code;
}

/* This worker's block from source's combined object at key: a GET of the
 * tail (trailer and, as guessed, the block), then one for what it lacks.
 * SDSINF_OK, NOT_THERE (no object, or no block for this worker) or a
 * failure. */
static int fetch_source(s3_channel *sc, uint32_t source, const char *key,
                        void **msg, size_t *len, sdsinf_err *err)
{
    sdsinf_aws_response rs, rs2;
    sdsinf__s3obj o = {0};
    char range[64];
    uint64_t size = 0, blocks = 0, need = 0, *guess = &sc->tail[source];
    uint64_t *retries = &sc->base.requests.retries;
    if (!*guess)
        *guess = TAIL_FIRST;
    snprintf(range, sizeof range, "bytes=-%" PRIu64, *guess);
    memset(&rs2, 0, sizeof rs2);
    SDSINF__COUNT(&sc->base, receive, 1);
    int code = sdsinf__s3_get(sc->aws, sc->bucket, key, range, &rs, &size,
                              retries, err);
    if (code == SDSINF_S3_NOT_FOUND)
        code = NOT_THERE;
    if (code == SDSINF_OK && rs.len > size)
        code = bad_object(sc, key, err);
    int r = code == SDSINF_OK
                ? sdsinf__s3obj_parse((unsigned char *)rs.body, rs.len, size,
                                      &o, &blocks, &need)
                : 0;
    if (r == SDSINF__S3OBJ_SHORT) { /* a trailer longer than the guess */
        *guess = need;
        sdsinf__aws_response_free(&rs);
        sdsinf__s3obj_free(&o);
        return fetch_source(sc, source, key, msg, len, err);
    }
    if (r == SDSINF__S3OBJ_BAD)
        code = bad_object(sc, key, err);
    else if (r == -3)
        code = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    const sdsinf__s3obj_entry *e =
        code == SDSINF_OK ? sdsinf__s3obj_find(&o, (uint32_t)sc->base.self)
                          : NULL;
    if (code == SDSINF_OK && !e)
        code = NOT_THERE; /* not sent yet (or to others only) */
    uint64_t start = size - rs.len; /* the tail's offset in the object */
    if (code == SDSINF_OK && e->offset >= start) { /* in the tail */
        unsigned char *p = malloc(e->len ? e->len : 1);
        if (!p) {
            code = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        } else {
            if (e->len)
                memcpy(p, rs.body + (e->offset - start), e->len);
            *msg = p;
            *len = e->len;
        }
    } else if (code == SDSINF_OK) { /* before it: one more GET */
        snprintf(range, sizeof range, "bytes=%" PRIu64 "-%" PRIu64, e->offset,
                 e->offset + e->len - 1);
        uint64_t size2 = 0;
        SDSINF__COUNT(&sc->base, receive, 1);
        code = sdsinf__s3_get(sc->aws, sc->bucket, key, range, &rs2, &size2,
                              retries, err);
        if (code == SDSINF_S3_NOT_FOUND) /* removed meanwhile */
            code = sdsinf__fail(err, SDSINF_EIO,
                                "channel 's3': worker %d: object s3://%s/%.120s"
                                " went away while read; was the run removed?",
                                sc->base.self, sc->bucket, key);
        else if (code == SDSINF_OK && rs2.len != e->len)
            code = bad_object(sc, key, err);
        else if (code == SDSINF_OK && take_body(&rs2, msg, len) != SDSINF_OK)
            code = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    }
    if (code == SDSINF_OK) { /* next time: this block's distance, and some */
        uint64_t want = size - e->offset;
        want = 2 * want + 4096;
        *guess = want < TAIL_MAX ? want : TAIL_MAX;
    }
    sdsinf__s3obj_free(&o);
    sdsinf__aws_response_free(&rs);
    sdsinf__aws_response_free(&rs2);
    return code;
}

/* source's message at (batch, layer) for this worker, one try. */
static int fetch(s3_channel *sc, uint32_t batch, uint32_t layer,
                 uint32_t source, void **msg, size_t *len, sdsinf_err *err)
{
    char key[KEY_CAP];
    block_key(sc, batch, layer, source, (uint32_t)sc->base.self, key);
    return sc->set.pair ? fetch_pair(sc, key, msg, len, err)
                        : fetch_source(sc, source, key, msg, len, err);
}

/* A listing's page: the sources of the keys not returned yet. */
typedef struct list_found {
    const s3_channel *sc;
    size_t plen;
    uint32_t src[64];
    int n;
} list_found;

static int found_key(void *u, const char *key)
{
    list_found *f = u;
    const char *s = key + f->plen;
    uint64_t v = 0;
    if (strlen(key) <= f->plen || strlen(s) > 6)
        return SDSINF_OK;
    for (; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (uint64_t)(*s - '0');
    if (*s || v >= (uint64_t)f->sc->base.workers ||
        (f->sc->seen[v / 8] >> (v % 8)) & 1 || f->n == 64)
        return SDSINF_OK;
    f->src[f->n++] = (uint32_t)v;
    return SDSINF_OK;
}

/* One look at the layer's listing: a message not returned yet, or
 * NOT_THERE. */
static int list_once(s3_channel *sc, const sdsinf_msg_key *want, void **msg,
                     size_t *len, sdsinf_err *err)
{
    char prefix[KEY_CAP], token[1024] = "";
    if (!sc->seen_valid || sc->seen_batch != want->batch ||
        sc->seen_layer != want->layer) {
        memset(sc->seen, 0, ((size_t)sc->base.workers + 7) / 8);
        sc->seen_valid = 1;
        sc->seen_batch = want->batch;
        sc->seen_layer = want->layer;
    }
    listing_prefix(sc, want->batch, want->layer, prefix);
    int code = SDSINF_OK;
    do {
        list_found f = {sc, strlen(prefix), {0}, 0};
        SDSINF__COUNT(&sc->base, list, 1);
        code = sdsinf__s3_list(sc->aws, sc->bucket, prefix, 1000, token,
                               sizeof token, found_key, &f,
                               &sc->base.requests.retries, err);
        if (code == SDSINF_S3_NOT_FOUND)
            return NOT_THERE;
        for (int i = 0; i < f.n && code == SDSINF_OK; i++) {
            int r = fetch(sc, want->batch, want->layer, f.src[i], msg, len,
                          err);
            if (r == SDSINF_OK)
                sc->seen[f.src[i] / 8] |= (unsigned char)(1u << (f.src[i] % 8));
            if (r != NOT_THERE)
                return r;
            SDSINF__COUNT(&sc->base, empty, 1); /* no block here */
        }
    } while (code == SDSINF_OK && token[0]);
    return code == SDSINF_OK ? NOT_THERE : code;
}

static int s3_recv(sdsinf_channel *ch, const sdsinf_msg_key *want, void **msg,
                   size_t *len, int timeout_ms, sdsinf_err *err)
{
    s3_channel *sc = (s3_channel *)ch;
    int code = flush_held(sc, err);
    if (code != SDSINF_OK)
        return code;
    if (memcmp(&sc->poll_key, want, sizeof *want) != 0) {
        sc->poll_key = *want; /* a new key: poll from the start */
        sc->poll_wait = POLL_FIRST_MS;
    }
    double deadline = sdsinf__now() + timeout_ms / 1e3;
    for (;;) {
        code = sc->listing ? list_once(sc, want, msg, len, err)
                           : fetch(sc, want->batch, want->layer, want->source,
                                   msg, len, err);
        if (code != NOT_THERE)
            return code;
        SDSINF__COUNT(ch, empty, !sc->listing); /* listing counts its own */
        double left = (deadline - sdsinf__now()) * 1e3;
        if (left <= 0)
            return sdsinf__fail(err, SDSINF_ETIMEDOUT,
                                "channel 's3': worker %d found no %s in %d ms "
                                "(awaiting batch %" PRIu32 " layer %" PRIu32
                                " from worker %" PRIu32 " of run %016" PRIx64
                                " in bucket %s)",
                                ch->self, sc->listing ? "new object" : "object",
                                timeout_ms, want->batch, want->layer,
                                want->source, ch->run, sc->bucket);
        sdsinf__sleep_ms(sc->poll_wait < left ? sc->poll_wait : left);
        sc->poll_wait = sc->poll_wait * 2 < sc->set.poll_ms ? sc->poll_wait * 2
                                                            : sc->set.poll_ms;
    }
}

static int s3_control(sdsinf_channel *ch, int op, void *arg, sdsinf_err *err)
{
    s3_channel *sc = (s3_channel *)ch;
    if (op == SDSINF_S3_LISTING) {
        if (!arg)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "channel 's3', worker %d: listing needs an int "
                                "* (nonzero: on)",
                                ch->self);
        sc->listing = *(int *)arg != 0;
        return SDSINF_OK;
    }
    return sdsinf__fail(err, SDSINF_ENOTSUP,
                        "channel 's3', worker %d: no control operation %d",
                        ch->self, op);
}

const sdsinf_channel_methods sdsinf__channel_s3 = {
    .version = SDSINF_CHANNEL_VERSION,
    .name = "s3",
    .instance_size = sizeof(s3_channel),
    .caps = SDSINF_CAP_KEYED | SDSINF_CAP_PROCESSES | SDSINF_CAP_DETACHED,
    .max_message = 0,
    .open = s3_open,
    .send = s3_send,
    .recv = s3_recv,
    .close = s3_close,
    .control = s3_control,
    .type_init = sdsinf__aws_type_init,
    .type_cleanup = sdsinf__aws_type_cleanup,
    .run_create = s3_run_create,
    .run_destroy = s3_run_destroy,
    .flush = s3_flush,
    .run_residue = s3_run_residue,
    .config_prepare = s3_config_prepare,
};
