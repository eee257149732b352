/* run/codec.h - the message format between workers (internal).
 *
 * A message is a fixed 64-byte header and a payload.  The payload carries
 * a block of activation rows: for a set of neurons (the rows of H, the
 * stage's activations, that one worker sends another), the samples where
 * each is nonzero and their values.  Encoders read the sender's sample-major
 * activations (B samples x N neurons); decoders produce a sample-major
 * matrix with only the block's neuron columns.  Every decoder is bounds
 * checked: no bytes can make it read or write outside its buffers.
 *
 * Header, little-endian on the wire:
 *   0  magic "SDM1" (rows)   4  version (u16) and codec (u16)
 *   8  run id (u64)          16 batch, layer, source, target (u32 each)
 *   32 chunk, nchunks (u32)  40 rows in this chunk (u32), reserved (u32)
 *   48 payload length (u64)  56 checksum (u64) of header (this field 0)
 *                               and payload
 * The codec is the one the payload uses: an encoder asked for zstd writes
 * the payload raw when compressing does not make it smaller.  The rows are
 * those the payload lists: the block's rows with at least one entry (empty
 * rows carry nothing and are left out).  Reserved is 0.  The checksum is
 * sdsinf__checksum(payload, length, sdsinf__checksum(header, 64, 0)) with
 * the header's checksum field zero.
 *
 * Payload (after zstd, for that codec).  varint: LEB128, 7 bits a byte, low
 * first.  list of n ascending ids: the first as a varint, then a byte k
 * (0..31) and the n - 1 gaps minus one, Rice-coded with parameter k (q =
 * gap >> k as q zero bits and a one bit, then the k low bits; bits fill each
 * byte from its least significant bit), padded with zero bits to a byte.
 *   varint R                 rows listed (the header's count); R = 0: the
 *                            payload ends here (an empty block)
 *   varint S                 samples where some row is nonzero, >= 1
 *   list of R neuron ids     ascending
 *   list of S sample ids     ascending: the block's sample set
 *   per row, a varint tag:   0: present at all S samples of the set
 *                            1: varint c, list of c positions (< S) in the
 *                               set where it is present (0 < c < S)
 *                            2: the same, of the c positions where it is
 *                               absent
 *                            3 + d: varint m; this row and the m after it
 *                               each repeat the row d + 1 before it (same
 *                               samples, same values)
 *   values of the rows with tags 0-2, in row order, then sample order:
 *                            a mode byte, then
 *                            0: one float32 for every value
 *                            1: varint D (1..256), D float32s, a byte per
 *                               value: its index
 *                            2: varint D (1..255), D float32s, a byte per
 *                               value: its index, or 255: the next of the
 *                               values listed after the bytes
 *                            3: the values
 * float32s: little-endian; a run of n values (modes 2 and 3) is stored as
 * four byte planes, the most significant bytes of all n first.  Values are
 * positive and finite.  Nothing follows the values; every sample of the
 * set is used by some row.
 *
 * Reports (magic "SDR1", the same header, rows 0) are a worker's last
 * message, to the run's coordinator: its status, totals,
 * per-layer records and (worker 0) the result.  Little-endian fields:
 *   u32 format (4), i32 status, u32 m (< 512) and m bytes: the error
 *   message (no NUL); f64 ready (CLOCK_REALTIME seconds when the worker
 *   had loaded; 0: it never did); f64 seconds, compute, encode, decode,
 *   send, wait; u64 messages sent, bytes sent, messages received, bytes
 *   received, duplicates, dropped; u64 storage requests send, receive,
 *   empty, remove, list, retries, units, send_units, s3_put, s3_get,
 *   s3_list, s3_remove (the s3:// locations' requests of a worker in a
 *   process of its own);
 *   u64 billed ms, u32 billed MB (< 2^20;
 *   0: not a Lambda invocation), u32 arch (SDSINF_ARCH_*); u32 peak MB
 *   (< 2^24: its process's peak resident memory; 0: unknown), u32 warm
 *   (1: its plan and shard were a warm process's, not loaded; else 0);
 *   u32 R: records, 0 or layers + 1; per record: i32 worker, layer, u32
 *   targets, u64 sent, sent_bytes, sent_max, sent_min, received,
 *   received_bytes, received_max, received_min, rows_sent, nnz_sent, nnz,
 *   f64 seconds, compute, encode, decode, send, wait, u64 requests send,
 *   receive, empty, remove, list, retries, units, send_units, s3_put,
 *   s3_get, s3_list, s3_remove;
 *   u64 M: images, 0 or the run's (worker 0); M i32 argmax (-1: none),
 *   then M f32 max.
 * Nothing follows.  The payload, zstd-compressed as a whole under that
 * codec (from 1 KiB), is split into chunks that fit the message limit,
 * each a message of its own, concatenated again in chunk order.
 * A worker's first message to the coordinator, once its channel is open,
 * is its start note: a report header at layer 0, chunk 0 of 1, raw, with
 * no payload (a coordinator whose launcher cannot see the workers learns
 * from it which have started).
 *
 * A stop (magic "SDX1", the same header, no payload, raw, chunk 0 of 1)
 * is the coordinator's word to a worker that the run failed (or was
 * canceled) and that it is to end at once: at the key sdsinf__stop_key
 * gives, source the coordinator's endpoint and layer SDSINF__STOP_LAYER,
 * where a worker on a keyed channel looks for it. */
#ifndef SDSINF_MSG_H
#define SDSINF_MSG_H

#include "run/worker.h"

#define SDSINF__MSG_HEADER 64
#define SDSINF__MSG_VERSION 1

enum { /* payload codecs */
    SDSINF__CODEC_RAW = 0,    /* the structured block, uncompressed */
    SDSINF__CODEC_ZSTD = 1    /* the structured block, zstd-compressed */
};

enum { /* message kinds (the magic says which) */
    SDSINF__KIND_ROWS = 0,   /* a block of activation rows */
    SDSINF__KIND_REPORT = 1, /* a worker's report to the coordinator */
    SDSINF__KIND_STOP = 2    /* the coordinator's word to stop */
};

typedef sdsinf_msg_key sdsinf__msg_key; /* public: channels see it */

/* Codec state a sender or receiver keeps between messages: zstd's
 * contexts and the codec's work arrays (grown to the largest block seen),
 * which cost more to make than a small block costs to encode or decode.
 * Zero-initialised, freed by sdsinf__msg_ctx_free; one thread at a time. */
typedef struct sdsinf__msg_ctx {
    struct ZSTD_CCtx_s *zc;
    struct ZSTD_DCtx_s *dz;
    struct sdsinf__msg_work *work; /* codec.c's; NULL until first used */
} sdsinf__msg_ctx;
void sdsinf__msg_ctx_free(sdsinf__msg_ctx *c);

typedef struct sdsinf__msg_opts {
    int codec;          /* SDSINF__CODEC_*; ZSTD at level 3 is the choice
                           for real networks (bench/msg_bytes.c) */
    int level;          /* zstd level (0: zstd's default, 3) */
    size_t max_bytes;   /* a chunk's whole message at most this; 0: none */
    sdsinf__msg_ctx *ctx; /* kept codec state, or NULL: made per call */
    size_t whole_above; /* a block whose whole message, or whose chunks
                           together, are over this (and over max_bytes)
                           stays one message, for a channel that takes such
                           blocks whole (a claim check); 0: none */
} sdsinf__msg_opts;

/* A block of activation rows, neuron-major: row i (of m, rows x samples)
 * holds the samples where neuron id[i] is nonzero, ascending, and the
 * values.  What a decoder gives. */
typedef struct sdsinf__rows {
    sdsinf_csr m;
    uint32_t *id; /* m.nrows neuron ids, ascending */
} sdsinf__rows;
void sdsinf__rows_free(sdsinf__rows *r);

/* A caller-owned growable byte buffer. */
typedef struct sdsinf__buf {
    unsigned char *data;
    size_t len, cap;
} sdsinf__buf;
void sdsinf__buf_free(sdsinf__buf *b);

/* Encodes the columns rows[0..nrows) (ascending neuron ids) of y into one
 * or more messages (chunks split by rows so each is at most o->max_bytes
 * and decodes alone; one message when the whole block's, or its chunks
 * together, are over o->whole_above), appended to *out back to back; *nchunks gets their
 * count; key->chunk/nchunks are filled in per chunk.  A block with no
 * entries is one message with an empty block (receivers expect it).
 * SDSINF_EINVAL: rows not ascending below y->ncols, a value of the block
 * not positive and finite, an unknown codec, or a single row (or the empty
 * block) that alone exceeds max_bytes; SDSINF_ENOMEM.  On failure *out
 * keeps its length (its memory may have grown). */
int sdsinf__msg_encode(const sdsinf_csr *y, const uint32_t *rows,
                       int64_t nrows, const sdsinf__msg_key *key,
                       const sdsinf__msg_opts *o, sdsinf__buf *out,
                       uint32_t *nchunks, sdsinf_err *err);

/* The same from the transposed activations yt, neurons x samples (row k:
 * the samples where neuron k is nonzero, ascending, and the values; what
 * sdsinf_csr_transpose makes of y).  The block is copied row by row, so a
 * sender of several blocks transposes once instead of scanning y for each
 * (sdsinf__msg_encode scans the whole of y); the messages are the same.
 * ids, when not NULL, names row k of yt neuron ids[k] (a worker's rows are
 * its own neurons, numbered locally); the listed rows' ids must ascend. */
int sdsinf__msg_encode_t(const sdsinf_csr *yt, const uint32_t *rows,
                         const uint32_t *ids, int64_t nrows,
                         const sdsinf__msg_key *key,
                         const sdsinf__msg_opts *o, sdsinf__buf *out,
                         uint32_t *nchunks, sdsinf_err *err);

/* Splits a concatenation of messages: the length of the first, header
 * included (SDSINF_ECORRUPT when it is not all there). */
int sdsinf__msg_length(const void *data, size_t size, size_t *len,
                       sdsinf_err *err);

/* Checks a message of exactly `size` bytes (magic, version, codec, length,
 * checksum, chunk numbers; a stop is a header alone) and reads its key:
 * SDSINF_ECORRUPT, or SDSINF_ENOTSUP for another format version or an
 * unknown codec. */
int sdsinf__msg_peek(const void *data, size_t size, sdsinf__msg_key *key,
                     sdsinf_err *err);

/* The kind of a message that sdsinf__msg_peek accepted. */
unsigned sdsinf__msg_kind(const void *data);

/* A worker's report to the coordinator (layout above). */
typedef struct sdsinf__report {
    int rc;                  /* the worker's status */
    char msg[512];           /* its error, when rc != SDSINF_OK */
    double ready;            /* CLOCK_REALTIME s when loaded; 0: never */
    sdsinf__worker_stats st; /* its totals; records: layers + 1 entries,
                                or NULL (a failed worker) */
    uint64_t billed_ms;      /* a Lambda invocation's duration so far
                                (rounded up), the function's memory (MB;
                                0: not one) and architecture */
    uint32_t billed_mb, arch;
    uint32_t peak_mb;        /* its process's peak resident memory (MB) */
    uint32_t warm;           /* 1: its plan and shard were the cache's */
    sdsinf_result res;       /* worker 0's result, or none (images 0) */
} sdsinf__report;
void sdsinf__report_free(sdsinf__report *r);

/* Encodes r (records: layers + 1 when st.records is set) as chunks under
 * o's codec and limit, appended to *out; *nchunks gets their count and
 * each key's chunk numbers are filled in. */
int sdsinf__report_encode(const sdsinf__report *r, int32_t layers,
                          const sdsinf__msg_key *key,
                          const sdsinf__msg_opts *o, sdsinf__buf *out,
                          uint32_t *nchunks, sdsinf_err *err);

/* The start note of the worker key->source (key: its report's) into
 * out. */
void sdsinf__note_encode(const sdsinf__msg_key *key,
                         unsigned char out[SDSINF__MSG_HEADER]);

/* The note of a worker that failed before it could run (its data would
 * not load): its start note's key, status rc in the batch field and its
 * message (at most SDSINF__NOTE_MSG bytes) as the payload, into out
 * (SDSINF__MSG_HEADER + SDSINF__NOTE_MSG bytes); its length. */
#define SDSINF__NOTE_MSG 255
size_t sdsinf__fail_note_encode(const sdsinf__msg_key *key, int rc,
                                const char *msg, unsigned char *out);
/* For a note that peek accepted (len bytes): 1 when it tells a failure,
 * with its status (SDSINF_EIO when out of range) and message (printable
 * bytes only) in *err; 0 for a start note. */
int sdsinf__note_failure(const void *note, size_t len, sdsinf_err *err);

/* The key of the stop for worker `target` of run `run` of `workers`
 * workers (source: the coordinator's endpoint, `workers`), and the stop
 * itself at that key into out. */
#define SDSINF__STOP_LAYER UINT32_MAX
sdsinf__msg_key sdsinf__stop_key(uint64_t run, int workers, int target);
void sdsinf__stop_encode(const sdsinf__msg_key *key,
                         unsigned char out[SDSINF__MSG_HEADER]);

/* Decodes a report from its n chunks (whole messages that peek accepted,
 * in chunk order) sent by `worker` in a run of `layers` layers over
 * `images` images and `neurons` neurons: every field checked (lengths,
 * records of that worker, a result of those images from worker 0 alone,
 * values in range), SDSINF_ECORRUPT naming the field at fault.  Caller
 * frees *out with sdsinf__report_free. */
int sdsinf__report_decode(void *const *msgs, const size_t *lens, uint32_t n,
                          int32_t worker, int32_t layers, int64_t images,
                          int32_t neurons, sdsinf__report *out,
                          sdsinf_err *err);

/* Decodes a message into *rows (the rows it lists; an empty block gives
 * none); `samples` and `neurons` bound every index (one beyond them is
 * SDSINF_ECORRUPT, as is any damage the checksum let through; the message
 * names the part of the payload at fault).  ctx: kept codec state, or
 * NULL.  Caller frees *rows. */
int sdsinf__msg_decode(const void *data, size_t size, int64_t samples,
                       int64_t neurons, sdsinf__msg_ctx *ctx,
                       sdsinf__rows *rows, sdsinf_err *err);

#endif /* SDSINF_MSG_H */
