/* msg.h - the message format between workers (internal).
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
 *   0  magic "SDM1"          4  version (u16) and codec (u16)
 *   8  run id (u64)          16 batch, layer, source, target (u32 each)
 *   32 chunk, nchunks (u32)  40 rows in this chunk (u32), reserved (u32)
 *   48 payload length (u64)  56 checksum (u64) of header (this field 0)
 *                               and payload */
#ifndef SDSINF_MSG_H
#define SDSINF_MSG_H

#include "internal.h"

#define SDSINF__MSG_HEADER 64
#define SDSINF__MSG_VERSION 1

enum { /* payload codecs */
    SDSINF__CODEC_RAW = 0,    /* the structured block, uncompressed */
    SDSINF__CODEC_ZSTD = 1    /* the structured block, zstd-compressed */
};

typedef sdsinf_msg_key sdsinf__msg_key; /* public: channels see it */

typedef struct sdsinf__msg_opts {
    int codec;          /* SDSINF__CODEC_* */
    int level;          /* zstd level */
    size_t max_bytes;   /* a chunk's whole message at most this; 0: none */
} sdsinf__msg_opts;

/* A caller-owned growable byte buffer. */
typedef struct sdsinf__buf {
    unsigned char *data;
    size_t len, cap;
} sdsinf__buf;
void sdsinf__buf_free(sdsinf__buf *b);

/* Encodes the columns rows[0..nrows) (ascending neuron ids) of y into one
 * or more messages (chunks split by rows so each is at most o->max_bytes
 * and decodes alone), appended to *out back to back; *nchunks gets their
 * count; key->chunk/nchunks are filled in per chunk.  A block with no
 * entries is one message with an empty block (receivers expect it). */
int sdsinf__msg_encode(const sdsinf_csr *y, const uint32_t *rows,
                       int64_t nrows, const sdsinf__msg_key *key,
                       const sdsinf__msg_opts *o, sdsinf__buf *out,
                       uint32_t *nchunks, sdsinf_err *err);

/* The same from the transposed activations yt, neurons x samples (row k:
 * the samples where neuron k is nonzero, ascending, and the values; what
 * sdsinf_csr_transpose makes of y).  The block is copied row by row, so a
 * sender of several blocks transposes once instead of scanning y for each
 * (sdsinf__msg_encode scans the whole of y); the messages are the same. */
int sdsinf__msg_encode_t(const sdsinf_csr *yt, const uint32_t *rows,
                         int64_t nrows, const sdsinf__msg_key *key,
                         const sdsinf__msg_opts *o, sdsinf__buf *out,
                         uint32_t *nchunks, sdsinf_err *err);

/* Splits a concatenation of messages: the length of the first. */
int sdsinf__msg_length(const void *data, size_t size, size_t *len,
                       sdsinf_err *err);

/* Checks a message (magic, version, lengths, checksum) and reads its key. */
int sdsinf__msg_peek(const void *data, size_t size, sdsinf__msg_key *key,
                     sdsinf_err *err);

/* Decodes a message into *part: samples x neurons, only the block's
 * columns; `samples` and `neurons` bound every index.  Caller frees. */
int sdsinf__msg_decode(const void *data, size_t size, int64_t samples,
                       int64_t neurons, sdsinf_csr *part, sdsinf_err *err);

#endif /* SDSINF_MSG_H */
