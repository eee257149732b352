/* fuzz_msg.c - fuzz target: the message codec between workers.  Each input
 * is used three ways:
 *   1. as a message (a concatenation of them): msg_length splits it,
 *      msg_peek and msg_decode run on every piece (a stop that peek
 *      accepts is a header alone, and no block of rows);
 *   2. as one message with its header made plausible (magic, version,
 *      codec, chunk numbers, length) and its checksum made right, so
 *      mutations reach the payload decoder behind the checksum;
 *   3. as a recipe for a block of activations, which must encode (chunked
 *      when the recipe sets a limit) and decode back exactly;
 *   4. past its first 64 bytes, as the payload of a worker's report (the
 *      message kind a worker sends the coordinator last), whose decoder
 *      must accept only a well-formed one, and which must encode back to
 *      a report that decodes the same.
 * A decode that succeeds must give a well-formed part within its bounds; a
 * failure must say what went wrong. */
#include "fuzz_input.h"
#include "run/codec.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Bounds the decoder gets for arbitrary bytes (small: a message may
 * legally fill every one of samples x neurons). */
#define SAMPLES 200
#define NEURONS 160

static void check(int ok)
{
    if (!ok)
        abort();
}

/* Decoded rows must be well formed: ascending neuron ids below neurons,
 * each row nonempty with ascending samples below samples, and positive
 * finite values. */
static void check_rows(const sdsinf__rows *r, int64_t samples, int64_t neurons)
{
    const sdsinf_csr *m = &r->m;
    check(m->ncols == samples && m->rowptr[0] == 0);
    for (int64_t i = 0; i < m->nrows; i++) {
        check(r->id[i] < neurons && (i == 0 || r->id[i] > r->id[i - 1]));
        check(m->rowptr[i] < m->rowptr[i + 1]);
        for (int64_t e = m->rowptr[i]; e < m->rowptr[i + 1]; e++) {
            check(m->col[e] < samples);
            check(e == m->rowptr[i] || m->col[e] > m->col[e - 1]);
            check(m->val[e] > 0 && isfinite(m->val[e]));
        }
    }
}

static void decode_one(const uint8_t *data, size_t size, int64_t samples,
                       int64_t neurons)
{
    sdsinf__rows part = {0};
    sdsinf_err err = {0};
    int rc = sdsinf__msg_decode(data, size, samples, neurons, NULL, &part,
                                &err);
    if (rc == SDSINF_OK)
        check_rows(&part, samples, neurons);
    else
        check(err.code == rc && err.msg[0] &&
              (rc == SDSINF_ECORRUPT || rc == SDSINF_ENOTSUP ||
               rc == SDSINF_ENOMEM));
    sdsinf__rows_free(&part);
}

/* 1: the bytes as they are. */
static void as_messages(const uint8_t *data, size_t size)
{
    size_t at = 0, len;
    sdsinf__msg_key key;
    sdsinf_err err;
    while (at < size &&
           sdsinf__msg_length(data + at, size - at, &len, &err) == SDSINF_OK) {
        check(len >= SDSINF__MSG_HEADER && len <= size - at);
        if (sdsinf__msg_peek(data + at, len, &key, &err) == SDSINF_OK)
            check(key.chunk < key.nchunks &&
                  (sdsinf__msg_kind(data + at) != SDSINF__KIND_STOP ||
                   (len == SDSINF__MSG_HEADER && key.nchunks == 1)));
        decode_one(data + at, len, SAMPLES, NEURONS);
        decode_one(data + at, len, 3, 5); /* tight bounds */
        at += len;
    }
}

static void put(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* 2: one message with a plausible header and the right checksum (the rule
 * run/codec.h states, recomputed here independently). */
static void as_fixed(const uint8_t *data, size_t size)
{
    if (size < SDSINF__MSG_HEADER)
        return;
    uint8_t *m = malloc(size);
    check(m != NULL);
    memcpy(m, data, size);
    memcpy(m, "SDM1", 4);
    put(m + 4, SDSINF__MSG_VERSION, 2);
    m[6] &= 1; /* codec */
    m[7] = 0;
    if (m[36] == 0 && m[37] == 0 && m[38] == 0 && m[39] == 0)
        m[36] = 1; /* nchunks */
    memcpy(m + 32, "\0\0\0\0", 4); /* chunk 0 */
    memset(m + 44, 0, 4);          /* reserved */
    put(m + 48, size - SDSINF__MSG_HEADER, 8);
    memset(m + 56, 0, 8);
    uint64_t c = sdsinf__checksum(m, SDSINF__MSG_HEADER, 0);
    c = sdsinf__checksum(m + SDSINF__MSG_HEADER, size - SDSINF__MSG_HEADER, c);
    put(m + 56, c, 8);
    sdsinf__msg_key key;
    check(sdsinf__msg_peek(m, size, &key, NULL) == SDSINF_OK);
    decode_one(m, size, SAMPLES, NEURONS);
    decode_one(m, size, 7, 9);
    free(m);
}

/* 3: a block from the bytes: shape, codec and limit from the first four,
 * then (sample, neuron, value) triples; every chunk decodes alone and
 * together they give the block back. */
static void as_recipe(const uint8_t *data, size_t size)
{
    static const float palette[8] = {32.0f, 1.0f, 0.5f, 0.0625f,
                                     31.7f, 3e-7f, 1e30f, 0.2f};
    if (size < 4)
        return;
    int64_t B = 1 + data[0] % 40, N = 1 + data[1] % 48;
    sdsinf__msg_opts o = {data[2] & 1, 1 + (data[2] >> 1) % 5,
                          (data[3] & 0x80) ? 0 : 100 + (size_t)data[3] * 8,
                          NULL, 0};
    float *dense = calloc((size_t)(B * N), sizeof *dense);
    uint32_t *rows = malloc((size_t)N * sizeof *rows);
    int64_t nrows = 0;
    check(dense && rows);
    for (size_t i = 4; i + 2 < size; i += 3) {
        float v = palette[data[i + 2] & 7];
        if (data[i + 2] & 8) /* a value of its own */
            v = 1.0f + (float)data[i + 2] / 7.0f + (float)data[i] / 1024.0f;
        dense[(data[i] % B) * N + data[i + 1] % N] = v;
    }
    for (int64_t n = 0; n < N; n++) /* rows: a pattern of the shape bytes */
        if ((n * 7 + data[0]) % 5 != 0 || data[1] & 1)
            rows[nrows++] = (uint32_t)n;
    sdsinf_csr y = {0};
    check(sdsinf_csr_alloc(&y, B, N, B * N, NULL) == SDSINF_OK);
    for (int64_t s = 0; s < B; s++) {
        y.rowptr[s + 1] = y.rowptr[s];
        for (int64_t n = 0; n < N; n++)
            if (dense[s * N + n] > 0) {
                y.col[y.rowptr[s + 1]] = (uint32_t)n;
                y.val[y.rowptr[s + 1]++] = dense[s * N + n];
            }
    }
    sdsinf__msg_key key = {42, 1, 2, 3, 4, 0, 0};
    sdsinf__buf buf = {0};
    uint32_t nchunks = 0;
    sdsinf_err err;
    int rc = sdsinf__msg_encode(&y, rows, nrows, &key, &o, &buf, &nchunks,
                                &err);
    /* Only a limit too small for one row (or an empty block) may fail. */
    check(rc == SDSINF_OK || (rc == SDSINF_EINVAL && o.max_bytes > 0));
    float *back = calloc((size_t)(B * N), sizeof *back);
    check(back != NULL);
    size_t at = 0;
    for (uint32_t c = 0; rc == SDSINF_OK && c < nchunks; c++) {
        size_t len;
        sdsinf__msg_key k;
        sdsinf__rows part = {0};
        check(sdsinf__msg_length(buf.data + at, buf.len - at, &len, NULL) ==
              SDSINF_OK);
        check(o.max_bytes == 0 || len <= o.max_bytes);
        check(sdsinf__msg_peek(buf.data + at, len, &k, NULL) == SDSINF_OK);
        check(k.run == 42 && k.target == 4 && k.chunk == c &&
              k.nchunks == nchunks);
        int d = sdsinf__msg_decode(buf.data + at, len, B, N, NULL, &part,
                                   &err);
        check(d == SDSINF_OK);
        check_rows(&part, B, N);
        for (int64_t i = 0; i < part.m.nrows; i++)
            for (int64_t e = part.m.rowptr[i]; e < part.m.rowptr[i + 1]; e++) {
                float *slot = &back[part.m.col[e] * N + part.id[i]];
                check(*slot == 0); /* no entry in two chunks */
                *slot = part.m.val[e];
            }
        sdsinf__rows_free(&part);
        at += len;
    }
    if (rc == SDSINF_OK) {
        check(at == buf.len);
        for (int64_t i = 0, r = 0; i < N; i++) {
            int in = r < nrows && rows[r] == (uint32_t)i;
            r += in;
            for (int64_t s = 0; s < B; s++)
                check(memcmp(&back[s * N + i],
                             in ? &dense[s * N + i] : &(float){0},
                             sizeof(float)) == 0);
        }
    }
    sdsinf__buf_free(&buf);
    sdsinf_csr_free(&y);
    free(back);
    free(rows);
    free(dense);
}

/* Bounds of the reports decoded from arbitrary bytes. */
#define R_LAYERS 2
#define R_IMAGES 3
#define R_NEURONS 7

/* A decoded report must keep its bounds. */
static void check_report(const sdsinf__report *r, int32_t worker)
{
    check(r->rc <= 0 && strlen(r->msg) < sizeof r->msg);
    check(r->rc != SDSINF_OK || r->st.records);
    check(r->billed_mb < (1u << 20) && r->arch <= SDSINF_ARCH_ARM64 &&
          (r->billed_mb || !r->billed_ms));
    for (int32_t i = 0; r->st.records && i <= R_LAYERS; i++)
        check(r->st.records[i].worker == worker &&
              r->st.records[i].layer == i + 1);
    check(r->res.images == (worker == 0 && r->rc == SDSINF_OK ? R_IMAGES : 0));
    for (int64_t i = 0; i < r->res.images; i++)
        check(r->res.argmax[i] >= -1 && r->res.argmax[i] < R_NEURONS &&
              r->res.max[i] >= 0);
}

/* 4: one report message around the bytes past the first 64 (its header
 * made right; the codec and the worker from bytes 6 and 24, where a
 * message's header has them). */
static void as_report(const uint8_t *data, size_t size)
{
    if (size < SDSINF__MSG_HEADER)
        return;
    int32_t worker = data[24] % 2;
    uint8_t *m = malloc(size);
    check(m != NULL);
    memcpy(m, data, size);
    memset(m, 0, SDSINF__MSG_HEADER);
    memcpy(m, "SDR1", 4);
    put(m + 4, SDSINF__MSG_VERSION, 2);
    put(m + 6, data[6] & 1, 2);                   /* codec */
    put(m + 24, (uint64_t)worker, 4);             /* source */
    put(m + 36, 1, 4);                            /* one chunk */
    put(m + 48, size - SDSINF__MSG_HEADER, 8);
    uint64_t c = sdsinf__checksum(m, SDSINF__MSG_HEADER, 0);
    c = sdsinf__checksum(m + SDSINF__MSG_HEADER, size - SDSINF__MSG_HEADER, c);
    put(m + 56, c, 8);
    check(sdsinf__msg_peek(m, size, NULL, NULL) == SDSINF_OK &&
          sdsinf__msg_kind(m) == SDSINF__KIND_REPORT);
    check(sdsinf__msg_decode(m, size, 5, 5, NULL, &(sdsinf__rows){0}, NULL) ==
          SDSINF_ECORRUPT); /* not rows */
    sdsinf__report r, back;
    sdsinf_err err = {0};
    void *chunks[1] = {m};
    size_t lens[1] = {size};
    int rc = sdsinf__report_decode(chunks, lens, 1, worker, R_LAYERS,
                                   R_IMAGES, R_NEURONS, &r, &err);
    free(m);
    if (rc != SDSINF_OK) {
        check(err.code == rc && err.msg[0] &&
              (rc == SDSINF_ECORRUPT || rc == SDSINF_ENOMEM));
        return;
    }
    check_report(&r, worker);
    /* it encodes back (in chunks of a small limit) to the same report */
    sdsinf__msg_key key = {9, 0, R_LAYERS + 2, (uint32_t)worker, 5, 0, 0};
    sdsinf__msg_opts o = {data[6] & 1, 1, 256, NULL, 0};
    sdsinf__buf buf = {0};
    uint32_t n = 0;
    check(sdsinf__report_encode(&r, R_LAYERS, &key, &o, &buf, &n, NULL) ==
          SDSINF_OK);
    void **parts = calloc(n, sizeof *parts);
    size_t *plen = calloc(n, sizeof *plen), at = 0;
    check(parts && plen);
    for (uint32_t i = 0; i < n; i++) {
        check(sdsinf__msg_length(buf.data + at, buf.len - at, &plen[i],
                                 NULL) == SDSINF_OK &&
              plen[i] <= 256);
        parts[i] = buf.data + at;
        at += plen[i];
    }
    check(sdsinf__report_decode(parts, plen, n, worker, R_LAYERS, R_IMAGES,
                                R_NEURONS, &back, NULL) == SDSINF_OK);
    check(back.rc == r.rc && !strcmp(back.msg, r.msg) &&
          !memcmp(&back.ready, &r.ready, sizeof r.ready) &&
          back.st.duplicates == r.st.duplicates &&
          !memcmp(&back.st.storage, &r.st.storage, sizeof r.st.storage) &&
          back.res.images == r.res.images &&
          (!r.res.images ||
           (!memcmp(back.res.argmax, r.res.argmax,
                    (size_t)r.res.images * sizeof *r.res.argmax) &&
            !memcmp(back.res.max, r.res.max,
                    (size_t)r.res.images * sizeof *r.res.max))) &&
          (!r.st.records ||
           !memcmp(back.st.records, r.st.records,
                   (R_LAYERS + 1) * sizeof *r.st.records)));
    free(parts);
    free(plen);
    sdsinf__buf_free(&buf);
    sdsinf__report_free(&back);
    sdsinf__report_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    as_messages(data, size);
    as_fixed(data, size);
    as_recipe(data, size);
    as_report(data, size);
    return 0;
}
