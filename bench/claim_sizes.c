/* claim_sizes.c - the claim check of the sqs and sns channels against
 * chunks, block by block (bench/bench_claim.py drives it).
 *
 * One run of two workers on a channel, made and removed as a coordinator
 * does (run_create, run_destroy: its own queues, topic and bucket): for
 * every size, --repeats blocks of about that many bytes as one message
 * (rows of random values, which zstd barely shrinks) go from worker 0 to
 * worker 1.  Each is encoded as a worker encodes it (the instance's
 * message limit and whole-message threshold: chunks, or one message that
 * the claim check stores in S3), sent, flushed, received chunk by chunk
 * and compared byte for byte with what was sent.  One JSON line per size:
 * the block's whole-message bytes, its chunks, the bytes handed to the
 * channel, seconds per block (encode to the last chunk in; median) and
 * the requests both instances made for those blocks, by kind; then one
 * line with the requests of the run's making, opening, closing and
 * removal.  Exit 1 on a failure (a block lost or different), 2 on bad
 * usage.
 *
 * Usage: claim_sizes --channel sqs|sns [--config SETTINGS]
 *                    --sizes BYTES,BYTES,.. [--repeats R]
 * Against an emulator: tests/with_aws.sh build/claim_sizes ... */
#include "run/codec.h"
#include "run/run.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SAMPLES 512       /* a block's samples: every row has all of them */
#define MAX_SIZES 64
#define RECV_TIMEOUT_MS 30000

typedef struct opts {
    const char *channel, *config;
    size_t sizes[MAX_SIZES];
    int nsizes, repeats;
} opts;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A neuron-major block of `rows` rows, each present at every sample with
 * values in [1, 2) of random mantissas (what compresses least). */
static int block_make(sdsinf_csr *yt, int64_t rows, sdsinf_err *err)
{
    int rc = sdsinf_csr_alloc(yt, rows, SAMPLES, rows * SAMPLES, err);
    for (int64_t r = 0; rc == SDSINF_OK && r < rows; r++) {
        yt->rowptr[r + 1] = (r + 1) * SAMPLES;
        for (int s = 0; s < SAMPLES; s++) {
            uint32_t bits = 0x3f800000u | (uint32_t)(rng() & 0x7fffffu);
            float v;
            memcpy(&v, &bits, sizeof v);
            yt->col[r * SAMPLES + s] = (uint32_t)s;
            yt->val[r * SAMPLES + s] = v;
        }
    }
    return rc;
}

/* Encodes rows 0..yt->nrows-1 of yt under mo into *out (emptied first). */
static int encode(const sdsinf_csr *yt, const sdsinf__msg_key *key,
                  const sdsinf__msg_opts *mo, sdsinf__buf *out,
                  uint32_t *nchunks, sdsinf_err *err)
{
    uint32_t *rows = malloc((size_t)yt->nrows * sizeof *rows + 1);
    if (!rows)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    for (int64_t r = 0; r < yt->nrows; r++)
        rows[r] = (uint32_t)r;
    out->len = 0;
    int rc = sdsinf__msg_encode_t(yt, rows, NULL, yt->nrows, key, mo, out,
                                  nchunks, err);
    free(rows);
    return rc;
}

/* The rows of a block whose whole message takes about `size` bytes. */
static int rows_for(size_t size, const sdsinf__msg_opts *whole,
                    int64_t *rows, sdsinf_err *err)
{
    sdsinf__msg_key key = {1, 0, 1, 0, 1, 0, 0};
    int64_t n = 64;
    for (int pass = 0; pass < 3; pass++) { /* proportion, twice refined */
        sdsinf_csr yt = {0};
        sdsinf__buf buf = {0};
        uint32_t nchunks;
        int rc = block_make(&yt, n, err);
        if (rc == SDSINF_OK)
            rc = encode(&yt, &key, whole, &buf, &nchunks, err);
        size_t got = buf.len;
        sdsinf_csr_free(&yt);
        sdsinf__buf_free(&buf);
        if (rc != SDSINF_OK)
            return rc;
        double per_row = (double)(got - SDSINF__MSG_HEADER) / (double)n;
        int64_t next = (int64_t)((double)(size - SDSINF__MSG_HEADER) /
                                 per_row + 0.5);
        n = next > 1 ? next : 1;
    }
    *rows = n;
    return SDSINF_OK;
}

/* *sum += sign * *a, field by field (every field of sdsinf_requests is a
 * uint64_t). */
static void requests_add(sdsinf_requests *sum, const sdsinf_requests *a,
                         int sign)
{
    uint64_t *s = (uint64_t *)sum;
    const uint64_t *x = (const uint64_t *)a;
    for (size_t i = 0; i < sizeof *sum / sizeof *s; i++)
        s[i] += sign > 0 ? x[i] : (uint64_t)0 - x[i];
}

/* Both instances' counters so far into *out. */
static void both(sdsinf_channel *const ch[2], sdsinf_requests *out)
{
    sdsinf_requests q;
    memset(out, 0, sizeof *out);
    for (int w = 0; w < 2; w++) {
        sdsinf_channel_requests(ch[w], &q);
        requests_add(out, &q, 1);
    }
}

static void print_requests(const sdsinf_requests *q)
{
    printf("{\"send\":%" PRIu64 ",\"receive\":%" PRIu64 ",\"empty\":%" PRIu64
           ",\"remove\":%" PRIu64 ",\"list\":%" PRIu64 ",\"retries\":%" PRIu64
           ",\"units\":%" PRIu64 ",\"send_units\":%" PRIu64
           ",\"s3_put\":%" PRIu64 ",\"s3_get\":%" PRIu64
           ",\"s3_list\":%" PRIu64 ",\"s3_remove\":%" PRIu64 "}",
           q->send, q->receive, q->empty, q->remove, q->list, q->retries,
           q->units, q->send_units, q->s3_put, q->s3_get, q->s3_list,
           q->s3_remove);
}

/* Sends one block (layer `layer`) from ch[0] and receives every chunk of
 * it at ch[1], each equal to what was sent; *chunks, *bytes and *whole
 * (the block's message when kept whole) filled in. */
static int one_block(sdsinf_channel *const ch[2], const sdsinf_csr *yt,
                     uint32_t layer, uint32_t *chunks, size_t *bytes,
                     sdsinf__msg_ctx *ctx, sdsinf_err *err)
{
    size_t limit = sdsinf__message_limit(ch[0], 0);
    sdsinf__msg_opts mo = {SDSINF__CODEC_ZSTD, 0, limit, ctx,
                           sdsinf__whole_above(ch[0], limit)};
    sdsinf__msg_key key = {ch[0]->run, 0, layer, 0, 1, 0, 0};
    sdsinf__buf buf = {0};
    size_t *at = NULL;
    unsigned char *got = NULL;
    uint32_t n = 0, in = 0;
    int rc = encode(yt, &key, &mo, &buf, &n, err);
    if (rc == SDSINF_OK && (!(at = calloc(n + 1, sizeof *at)) ||
                            !(got = calloc(n, 1))))
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    for (uint32_t c = 0; rc == SDSINF_OK && c < n; c++) {
        size_t len;
        if ((rc = sdsinf__msg_length(buf.data + at[c], buf.len - at[c], &len,
                                     err)) != SDSINF_OK)
            break;
        at[c + 1] = at[c] + len;
        key.chunk = c;
        key.nchunks = n;
        rc = sdsinf_channel_send(ch[0], &key, buf.data + at[c], len, err);
    }
    if (rc == SDSINF_OK)
        rc = sdsinf_channel_flush(ch[0], err);
    while (rc == SDSINF_OK && in < n) {
        sdsinf__msg_key k, want = {ch[0]->run, 0, layer, 0, 1, 0, 0};
        void *m = NULL;
        size_t len = 0;
        if ((rc = sdsinf_channel_recv(ch[1], &want, &m, &len,
                                      RECV_TIMEOUT_MS, err)) != SDSINF_OK)
            break;
        rc = sdsinf__msg_peek(m, len, &k, err);
        if (rc == SDSINF_OK && k.layer == layer && k.nchunks == n &&
            !got[k.chunk]) { /* else an earlier block's duplicate */
            if (len != at[k.chunk + 1] - at[k.chunk] ||
                memcmp(m, buf.data + at[k.chunk], len))
                rc = sdsinf__fail(err, SDSINF_ECORRUPT, "block %u, chunk %u:"
                                  " received bytes differ from those sent",
                                  layer, k.chunk);
            got[k.chunk] = 1;
            in++;
        }
        free(m);
    }
    *chunks = n;
    *bytes = buf.len;
    sdsinf__buf_free(&buf);
    free(at);
    free(got);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Every size through instances ch, a line each; their requests added to
 * *blocks. */
static int sizes_run(const opts *o, sdsinf_channel *const ch[2],
                     sdsinf_requests *blocks, sdsinf_err *err)
{
    sdsinf__msg_ctx ctx = {0};
    sdsinf__msg_opts whole = {SDSINF__CODEC_ZSTD, 0, 0, &ctx, 0};
    double *secs = calloc((size_t)o->repeats, sizeof *secs);
    uint32_t layer = 1;
    int rc = secs ? SDSINF_OK : sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    for (int i = 0; rc == SDSINF_OK && i < o->nsizes; i++) {
        sdsinf_csr yt = {0};
        sdsinf__buf one = {0};
        sdsinf__msg_key key = {1, 0, 1, 0, 1, 0, 0};
        sdsinf_requests before, after, used = {0};
        int64_t rows = 0;
        uint32_t chunks = 0, nwhole;
        size_t bytes = 0, sent = 0;
        if ((rc = rows_for(o->sizes[i], &whole, &rows, err)) != SDSINF_OK ||
            (rc = block_make(&yt, rows, err)) != SDSINF_OK ||
            (rc = encode(&yt, &key, &whole, &one, &nwhole, err)) != SDSINF_OK) {
            sdsinf_csr_free(&yt);
            break;
        }
        both(ch, &before);
        for (int r = 0; rc == SDSINF_OK && r < o->repeats; r++) {
            double t = sdsinf__now();
            rc = one_block(ch, &yt, layer++, &chunks, &bytes, &ctx, err);
            secs[r] = sdsinf__now() - t;
            sent += bytes;
        }
        both(ch, &after);
        requests_add(&used, &after, 1);
        requests_add(&used, &before, -1);
        requests_add(blocks, &used, 1);
        if (rc == SDSINF_OK) {
            qsort(secs, (size_t)o->repeats, sizeof *secs, cmp_double);
            printf("{\"channel\":\"%s\",\"size\":%zu,\"message_bytes\":%zu,"
                   "\"rows\":%" PRId64 ",\"chunks\":%u,\"blocks\":%d,"
                   "\"bytes_sent\":%zu,\"seconds\":%.6f,\"requests\":",
                   o->channel, o->sizes[i], one.len, rows, chunks, o->repeats,
                   sent, secs[o->repeats / 2]);
            print_requests(&used);
            printf("}\n");
            fflush(stdout);
        }
        sdsinf__buf_free(&one);
        sdsinf_csr_free(&yt);
    }
    free(secs);
    sdsinf__msg_ctx_free(&ctx);
    return rc;
}

static int usage(const char *why)
{
    fprintf(stderr, "claim_sizes: %s\nusage: claim_sizes --channel sqs|sns "
            "[--config SETTINGS] --sizes BYTES,BYTES,.. [--repeats R]\n", why);
    return 2;
}

static int parse(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->repeats = 3;
    for (int i = 1; i < argc; i += 2) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        if (!v)
            return usage("a flag without its value");
        if (!strcmp(f, "--channel"))
            o->channel = v;
        else if (!strcmp(f, "--config"))
            o->config = v;
        else if (!strcmp(f, "--repeats")) {
            long r = strtol(v, &end, 10);
            if (*end || r < 1 || r > 1000)
                return usage("--repeats takes 1..1000");
            o->repeats = (int)r;
        } else if (!strcmp(f, "--sizes")) {
            for (const char *s = v; *s && o->nsizes < MAX_SIZES;) {
                unsigned long long b = strtoull(s, &end, 10);
                if (end == s || (*end && *end != ',') || b < 1024 ||
                    b > (64ull << 20))
                    return usage("--sizes takes bytes 1024..64 MiB, "
                                 "comma-separated");
                o->sizes[o->nsizes++] = (size_t)b;
                s = *end ? end + 1 : end;
            }
        } else
            return usage("unknown flag");
    }
    if (!o->channel || (strcmp(o->channel, "sqs") && strcmp(o->channel, "sns")))
        return usage("--channel sqs or sns is needed");
    if (!o->nsizes)
        return usage("--sizes is needed");
    return 0;
}

int main(int argc, char **argv)
{
    opts o;
    int bad = parse(argc, argv, &o);
    if (bad)
        return bad;
    sdsinf_err err = {0};
    sdsinf_channel *ch[2] = {NULL, NULL};
    sdsinf_requests own = {0}, blocks = {0}, q;
    /* a run id of its own: AWS refuses a queue name for 60 s after its
     * deletion */
    uint64_t seed[2] = {(uint64_t)getpid(), (uint64_t)(sdsinf__now() * 1e9)};
    uint64_t run = sdsinf__checksum(seed, sizeof seed, 0);
    rng_state ^= run;
    int rc = sdsinf_channel_run_create(o.channel, o.config, run, 2, &own,
                                       &err);
    int made = rc == SDSINF_OK;
    for (int w = 0; rc == SDSINF_OK && w < 2; w++)
        rc = sdsinf_channel_open(o.channel, o.config, w, 2, run, &ch[w], &err);
    if (rc == SDSINF_OK)
        rc = sizes_run(&o, ch, &blocks, &err);
    for (int w = 0; w < 2; w++) { /* the run's own: all but the blocks' */
        sdsinf_err e2 = {0};
        if (ch[w] && sdsinf_channel_requests(ch[w], &q) == SDSINF_OK)
            requests_add(&own, &q, 1);
        int r = sdsinf_channel_close(ch[w], 0, &e2);
        if (rc == SDSINF_OK && r != SDSINF_OK)
            rc = sdsinf__fail(&err, r, "%s", e2.msg);
    }
    requests_add(&own, &blocks, -1);
    if (made) {
        sdsinf_err e2 = {0};
        int r = sdsinf_channel_run_destroy(o.channel, o.config, run, 2, &own,
                                           &e2);
        if (rc == SDSINF_OK && r != SDSINF_OK)
            rc = sdsinf__fail(&err, r, "%s", e2.msg);
    }
    if (rc != SDSINF_OK) {
        fprintf(stderr, "claim_sizes: %s: %s\n", sdsinf_status_name(rc),
                err.msg);
        return 1;
    }
    printf("{\"channel\":\"%s\",\"run\":", o.channel);
    print_requests(&own);
    printf("}\n");
    return 0;
}
