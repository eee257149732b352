/* run/codec.c - the message codec between workers: a 64-byte header and a
 * structured block of activation rows, optionally zstd-compressed.
 *
 * A block is the columns `rows` of the sender's sample-major activations:
 * per neuron, the samples where it is nonzero and the values there.  The
 * payload (layout in codec.h) exploits what such blocks share: the active
 * samples are listed once for the whole block (Rice-coded gaps, which is a
 * bitmap when they are dense), each row says where it is present relative
 * to that set ("everywhere" costs a byte), a row identical to an earlier
 * one (neurons with the same inputs) is a back reference, and values go as
 * one constant, a table of up to 256 values with a byte per entry, frequent
 * values plus literals, or raw float32, whichever is smallest.
 *
 * Sections: byte writer and reader; the header; work arrays (kept in a
 * ctx between calls); gathering a block; the payload encoder; chunking; the
 * payload decoder; the public encoders; length, peek and decode. */
#include "run/codec.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define MAGIC "SDM1"        /* a block of rows */
#define MAGIC_REPORT "SDR1" /* a worker's report */
#define MAGIC_STOP "SDX1"   /* the coordinator's word to stop */
/* Header fields (byte offsets). */
#define H_VERSION 4
#define H_CODEC 6
#define H_RUN 8
#define H_BATCH 16
#define H_LAYER 20
#define H_SOURCE 24
#define H_TARGET 28
#define H_CHUNK 32
#define H_NCHUNKS 36
#define H_ROWS 40
#define H_RESERVED 44
#define H_LENGTH 48
#define H_CHECKSUM 56

/* Row tags (payload, per row). */
#define TAG_ALL 0    /* present at every sample of the block's set */
#define TAG_LIST 1   /* present at the listed positions of the set */
#define TAG_ABSENT 2 /* present everywhere but the listed positions */
#define TAG_COPY 3   /* 3 + d: the entries of the row d + 1 rows back */

/* Value modes (payload, once). */
#define VAL_CONST 0 /* one value for every entry */
#define VAL_TABLE 1 /* up to 256 values, a byte index per entry */
#define VAL_MIXED 2 /* up to 255 frequent values, code 255: a literal */
#define VAL_RAW 3   /* a float32 per entry */

/* Payloads shorter than this go raw under the zstd codec: the structured
 * encoding leaves zstd nothing to win there (on the real data not one byte
 * below 1 KiB), and a compression call costs more than the bytes. */
#define ZSTD_MIN 1024

#define TABLE_MAX 256
#define LITERAL 255
/* Distinct values tracked per chunk when choosing a value mode. */
#define DISTINCT_MAX 32768

void sdsinf__buf_free(sdsinf__buf *b)
{
    if (!b)
        return;
    sdsinf__free(b->data);
    memset(b, 0, sizeof *b);
}

/* Room for n more bytes; 0 when out of memory (b unchanged). */
static int buf_reserve(sdsinf__buf *b, size_t n)
{
    if (n <= b->cap - b->len)
        return 1;
    if (n > SIZE_MAX / 2 - b->len)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n)
        cap *= 2;
    unsigned char *d = sdsinf__realloc(b->data, cap);
    if (!d)
        return 0;
    b->data = d;
    b->cap = cap;
    return 1;
}

/* ---- Byte writer and reader ----------------------------------------------
 * Both are sticky: after a failure (no memory, bytes missing or bad) every
 * operation does nothing and reads return 0, and the caller checks once. */

typedef struct writer {
    sdsinf__buf *b;
    int nomem;
} writer;

static void w_bytes(writer *w, const void *p, size_t n)
{
    if (w->nomem || !n)
        return;
    if (!buf_reserve(w->b, n)) {
        w->nomem = 1;
        return;
    }
    memcpy(w->b->data + w->b->len, p, n);
    w->b->len += n;
}

static void w_u8(writer *w, unsigned v)
{
    unsigned char c = (unsigned char)v;
    w_bytes(w, &c, 1);
}

static void w_varint(writer *w, uint64_t v)
{
    unsigned char t[10];
    size_t n = 0;
    do {
        t[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        t[n++] |= v ? 0x80 : 0;
    } while (v);
    w_bytes(w, t, n);
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void w_f32(writer *w, float f)
{
    uint32_t u = f32_bits(f);
    unsigned char t[4] = {(unsigned char)u, (unsigned char)(u >> 8),
                          (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
    w_bytes(w, t, 4);
}

/* Bits being written to reserved room: they fill each byte from its least
 * significant bit. */
typedef struct bitw {
    unsigned char *p;
    uint64_t acc; /* pending bits, least significant first; fewer than 32 */
    int n;
} bitw;

/* Appends the n (<= 32) low bits of v. */
static inline void bw_put(bitw *b, uint64_t v, int n)
{
    b->acc |= v << b->n;
    b->n += n;
    if (b->n >= 32) {
        for (int i = 0; i < 4; i++)
            b->p[i] = (unsigned char)(b->acc >> (8 * i));
        b->p += 4;
        b->acc >>= 32;
        b->n -= 32;
    }
}

/* Writes v[0..n) Rice-coded with parameter k (<= 31), `bits` bits in all
 * (rice_choose's count): v >> k in unary (that many zero bits, then a one),
 * then the k low bits of v; the last byte is padded with zero bits. */
static void w_rice(writer *w, const uint32_t *v, int64_t n, int k,
                   uint64_t bits)
{
    if (w->nomem || !buf_reserve(w->b, (size_t)(bits / 8 + 1))) {
        w->nomem = 1;
        return;
    }
    bitw b = {w->b->data + w->b->len, 0, 0};
    uint64_t low = ((uint64_t)1 << k) - 1;
    for (int64_t i = 0; i < n; i++) {
        uint32_t q = v[i] >> k;
        for (; q >= 32; q -= 32)
            bw_put(&b, 0, 32);
        if ((int)q + 1 + k <= 32) /* one put: the unary part, then the low */
            bw_put(&b, ((v[i] & low) << 1 | 1) << q, (int)q + 1 + k);
        else {
            bw_put(&b, (uint64_t)1 << q, (int)q + 1);
            bw_put(&b, v[i] & low, k);
        }
    }
    for (; b.n > 0; b.n -= 8, b.acc >>= 8)
        *b.p++ = (unsigned char)b.acc;
    w->b->len = (size_t)(b.p - w->b->data);
}

typedef struct reader {
    const unsigned char *p, *end;
    uint64_t acc; /* bits taken from whole bytes, not yet used */
    int nacc;
    int bad;
} reader;

static unsigned r_u8(reader *r)
{
    if (r->bad || r->p == r->end) {
        r->bad = 1;
        return 0;
    }
    return *r->p++;
}

static uint64_t r_varint(reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        unsigned c = r_u8(r);
        if (shift == 63 && c > 1)
            break; /* more than 64 bits */
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return r->bad ? 0 : v;
    }
    r->bad = 1;
    return 0;
}

/* The next n bytes, or NULL when fewer remain. */
static const unsigned char *r_bytes(reader *r, size_t n)
{
    if (r->bad || n > (size_t)(r->end - r->p)) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *p = r->p;
    r->p += n;
    return p;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static float r_f32(reader *r)
{
    const unsigned char *p = r_bytes(r, 4);
    return p ? bits_f32(le32(p)) : 0;
}

/* n (<= 32) bits. */
static uint64_t r_bits(reader *r, int n)
{
    while (r->nacc < n) {
        if (r->bad || r->p == r->end) {
            r->bad = 1;
            return 0;
        }
        r->acc |= (uint64_t)*r->p++ << r->nacc;
        r->nacc += 8;
    }
    uint64_t v = r->acc & (((uint64_t)1 << n) - 1);
    r->acc >>= n;
    r->nacc -= n;
    return v;
}

/* A Rice-coded value, which must be at most `limit`. */
static uint64_t r_rice(reader *r, int k, uint64_t limit)
{
    uint64_t q = 0, qmax = limit >> k;
    for (;;) { /* the unary part: zero bits up to a one */
        if (r->nacc == 0) {
            if (r->bad || r->p == r->end) {
                r->bad = 1;
                return 0;
            }
            r->acc = *r->p++;
            r->nacc = 8;
        }
        if (r->acc) {
            int t = __builtin_ctzll(r->acc);
            q += (uint64_t)t;
            r->acc >>= t + 1;
            r->nacc -= t + 1;
            break;
        }
        q += (uint64_t)r->nacc;
        r->nacc = 0;
        if (q > qmax)
            break;
    }
    uint64_t v = q <= qmax ? (q << k) | r_bits(r, k) : UINT64_MAX;
    if (v > limit)
        r->bad = 1;
    return r->bad ? 0 : v;
}

/* Drops the padding to the next whole byte, which must be zero bits. */
static void r_align(reader *r)
{
    if (r->nacc % 8 && (r->acc & ((1u << (r->nacc % 8)) - 1)))
        r->bad = 1;
    r->p -= r->nacc / 8; /* whole bytes taken ahead go back */
    r->acc = 0;
    r->nacc = 0;
}

/* ---- The header ------------------------------------------------------------ */

static void put16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* The checksum a message carries: over its header with the checksum field
 * zero, then its payload. */
static uint64_t msg_checksum(const unsigned char *msg, size_t payload)
{
    unsigned char h[SDSINF__MSG_HEADER];
    memcpy(h, msg, sizeof h);
    memset(h + H_CHECKSUM, 0, 8);
    uint64_t c = sdsinf__checksum(h, sizeof h, 0);
    return sdsinf__checksum(msg + SDSINF__MSG_HEADER, payload, c);
}

/* ---- Work arrays -------------------------------------------------------------
 * A ctx keeps them between calls (allocating a dozen arrays per block cost
 * more than encoding a small one); each grows as a block needs. */

/* Makes the array at pp (*cap elements of `size` bytes) hold at least n,
 * dropping what it held (new room is zero when `zero`); 0 when out of
 * memory, the array then empty. */
static int reserve(void *pp, size_t *cap, size_t n, size_t size, int zero)
{
    void *p;
    if (n <= *cap)
        return 1;
    size_t want = n < 2 * *cap && *cap <= SIZE_MAX / 4 / size ? 2 * *cap : n;
    memcpy(&p, pp, sizeof p);
    sdsinf__free(p);
    p = zero ? sdsinf__calloc(want, size) : sdsinf__mallocarray(want, size);
    memcpy(pp, &p, sizeof p);
    *cap = p ? want : 0;
    return p != NULL;
}

/* reserve() for the array field f of *s, whose capacity is s->f_cap. */
#define RESERVE(s, f, n) \
    reserve(&(s)->f, &(s)->f##_cap, (size_t)(n), sizeof *(s)->f, 0)
#define RESERVE_ZERO(s, f, n) \
    reserve(&(s)->f, &(s)->f##_cap, (size_t)(n), sizeof *(s)->f, 1)

/* ---- Gathering a block ------------------------------------------------------
 * The block's nonempty rows, neuron-major: row i has the samples
 * smp[start[i] .. start[i+1]) (ascending) and their values. */

typedef struct block {
    int64_t nrows;
    uint32_t *id;
    int64_t *start;
    uint32_t *smp;
    float *val;
    size_t id_cap, start_cap, smp_cap, val_cap;
} block;

static void block_free(block *b)
{
    sdsinf__free(b->id);
    sdsinf__free(b->start);
    sdsinf__free(b->smp);
    sdsinf__free(b->val);
    memset(b, 0, sizeof *b);
}

/* An empty block with room for R rows and E entries; 0: no memory. */
static int block_reserve(block *b, int64_t R, int64_t E)
{
    b->nrows = 0;
    return RESERVE(b, id, R + 1) && RESERVE(b, start, R + 1) &&
           RESERVE(b, smp, E + 1) && RESERVE(b, val, E + 1);
}

/* Nonzero for the bits of a float that is not positive and finite (zero,
 * negative, infinite or NaN): those outside 1 .. FLT_MAX's. */
static unsigned bad_value(uint32_t u)
{
    return u - 1u >= 0x7f7fffffu;
}

/* Reports the first fault of a row that failed check_row or copy_row. */
static int row_fault(const uint32_t *smp, const float *v, int64_t n,
                     int64_t samples, uint32_t neuron, sdsinf_err *err)
{
    for (int64_t k = 0; k < n; k++) {
        if (smp[k] >= (uint64_t)samples || (k && smp[k] <= smp[k - 1]))
            return sdsinf__fail(err, SDSINF_EINVAL, "activations: neuron %u: "
                                "samples not ascending below %lld at %u",
                                neuron, (long long)samples, smp[k]);
        if (bad_value(f32_bits(v[k])))
            return sdsinf__fail(err, SDSINF_EINVAL, "activations: sample %u, "
                                "neuron %u holds %g; activations are "
                                "positive and finite", smp[k], neuron,
                                (double)v[k]);
    }
    return SDSINF_OK;
}

/* Checks that positive finite values v[0..n) sit at strictly ascending
 * sample ids smp[0..n) below `samples`. */
static int check_row(const uint32_t *smp, const float *v, int64_t n,
                     int64_t samples, uint32_t neuron, sdsinf_err *err)
{
    unsigned bad = n > 0 && smp[n - 1] >= (uint64_t)samples;
    for (int64_t k = 1; k < n; k++) /* branch-free: rows are long */
        bad |= smp[k] <= smp[k - 1];
    for (int64_t k = 0; k < n; k++)
        bad |= bad_value(f32_bits(v[k]));
    return bad ? row_fault(smp, v, n, samples, neuron, err) : SDSINF_OK;
}

/* Copies a row of n (>= 1) entries to (ds, dv) and checks it as check_row
 * does in the same pass; nonzero when it is at fault. */
static unsigned copy_row(uint32_t *restrict ds, float *restrict dv,
                         const uint32_t *smp, const float *v, int64_t n,
                         int64_t samples)
{
    unsigned bad = smp[n - 1] >= (uint64_t)samples;
    ds[0] = smp[0];
    for (int64_t k = 1; k < n; k++) {
        ds[k] = smp[k];
        bad |= smp[k] <= smp[k - 1];
    }
    for (int64_t k = 0; k < n; k++) {
        dv[k] = v[k];
        bad |= bad_value(f32_bits(v[k]));
    }
    return bad;
}

/* The passes over y are branch-free (the block is a small, unpredictable
 * part of it): the first counts the block's entries, the second appends
 * every entry at a cursor that only the block's entries advance; a counting
 * sort then groups them by row. */
static int gather(const sdsinf_csr *y, const uint32_t *rows, int64_t nrows,
                  block *b, sdsinf_err *err)
{
    int rc = SDSINF_OK;
    int64_t *slot = NULL; /* per neuron: block row + 1, 0 when not in it */
    int64_t *cnt = NULL, E = 0, R = 0, at = 0;
    uint32_t *trow = NULL, *tsmp = NULL; /* entries in sample order */
    float *tval = NULL;
    const int64_t *rp = y->rowptr;
    const uint32_t *col = y->col;
    const float *val = y->val;
    b->nrows = 0;
    if (nrows == 0)
        return SDSINF_OK;
    slot = sdsinf__calloc((size_t)y->ncols, sizeof *slot);
    cnt = sdsinf__calloc((size_t)nrows + 2, sizeof *cnt);
    if (!slot || !cnt)
        goto nomem;
    for (int64_t i = 0; i < nrows; i++)
        slot[rows[i]] = i + 1;
    for (int64_t s = 0; s < y->nrows; s++)
        for (int64_t e = rp[s]; e < rp[s + 1]; e++) {
            if (col[e] >= (uint64_t)y->ncols) {
                rc = sdsinf__fail(err, SDSINF_EINVAL, "activations: sample "
                                  "%lld has neuron %u, beyond %lld",
                                  (long long)s, col[e], (long long)y->ncols);
                goto done;
            }
            if (e > rp[s] && col[e] <= col[e - 1]) {
                rc = sdsinf__fail(err, SDSINF_EINVAL, "activations: sample "
                                  "%lld: neurons not ascending at %u",
                                  (long long)s, col[e]);
                goto done;
            }
            E += slot[col[e]] != 0;
        }
    trow = sdsinf__mallocarray((size_t)E + 1, sizeof *trow);
    tsmp = sdsinf__mallocarray((size_t)E + 1, sizeof *tsmp);
    tval = sdsinf__mallocarray((size_t)E + 1, sizeof *tval);
    if (!trow || !tsmp || !tval || !block_reserve(b, nrows, E))
        goto nomem;
    for (int64_t s = 0; s < y->nrows; s++)
        for (int64_t e = rp[s]; e < rp[s + 1]; e++) {
            int64_t i = slot[col[e]];
            trow[at] = (uint32_t)i;
            tsmp[at] = (uint32_t)s;
            tval[at] = val[e];
            at += i != 0;
        }
    for (int64_t k = 0; k < E; k++)
        cnt[trow[k]]++;
    /* cnt becomes the rows' fill cursors. */
    at = 0;
    for (int64_t i = 1; i <= nrows; i++) {
        int64_t n = cnt[i];
        cnt[i] = at;
        if (n) {
            b->id[R] = rows[i - 1];
            b->start[R++] = at;
            at += n;
        }
    }
    b->start[R] = E;
    for (int64_t k = 0; k < E; k++) {
        int64_t to = cnt[trow[k]]++;
        b->smp[to] = tsmp[k];
        b->val[to] = tval[k];
    }
    for (int64_t r = 0; r < R && rc == SDSINF_OK; r++)
        rc = check_row(b->smp + b->start[r], b->val + b->start[r],
                       b->start[r + 1] - b->start[r], y->nrows, b->id[r], err);
    b->nrows = R;
    goto done;
nomem:
    rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory to gather a block of "
                      "%lld rows", (long long)nrows);
done:
    sdsinf__free(slot);
    sdsinf__free(cnt);
    sdsinf__free(trow);
    sdsinf__free(tsmp);
    sdsinf__free(tval);
    if (rc != SDSINF_OK)
        b->nrows = 0;
    return rc;
}

/* The block from transposed activations: rows are copied whole (and
 * checked as they are); row k of yt is neuron ids[k] (ids NULL: k). */
static int gather_t(const sdsinf_csr *yt, const uint32_t *rows,
                    const uint32_t *ids, int64_t nrows, block *b,
                    sdsinf_err *err)
{
    int64_t E = 0;
    const int64_t *rp = yt->rowptr;
    for (int64_t i = 0; i < nrows; i++)
        E += rp[rows[i] + 1] - rp[rows[i]];
    if (!block_reserve(b, nrows, E))
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory to gather a block "
                            "of %lld rows", (long long)nrows);
    E = 0;
    for (int64_t i = 0; i < nrows; i++) {
        int64_t from = rp[rows[i]], n = rp[rows[i] + 1] - from;
        if (!n)
            continue;
        uint32_t id = ids ? ids[rows[i]] : rows[i];
        if (copy_row(b->smp + E, b->val + E, yt->col + from, yt->val + from,
                     n, yt->ncols)) {
            b->nrows = 0;
            return row_fault(yt->col + from, yt->val + from, n, yt->ncols, id,
                             err);
        }
        b->id[b->nrows] = id;
        b->start[b->nrows++] = E;
        E += n;
    }
    b->start[b->nrows] = E;
    return SDSINF_OK;
}

/* ---- The payload encoder ---------------------------------------------------- */

typedef struct vcount { /* a distinct value and how often it occurs */
    uint32_t bits, count;
    uint32_t id;   /* its index among the payload's distinct values */
    uint32_t slot; /* its slot in the hash table */
} vcount;

/* The encoder's state; its arrays are work arrays (kept in a ctx), each
 * sized for the block (or its samples) by encoder_prepare. */
typedef struct encoder {
    const block *blk;
    int64_t samples;    /* the batch: sample ids are below it */
    uint64_t *mark;     /* samples bits: the chunk's samples; all zero
                           between payloads */
    uint32_t *pos_of;   /* per sample: its position in the chunk's set */
    uint32_t *set;      /* the chunk's samples, ascending */
    uint32_t *tmp;      /* a list being written: row ids, positions */
    uint32_t *vals;     /* the new rows' values, as bits */
    uint32_t *lits;     /* the values a mixed table leaves out */
    int64_t *ref;       /* per row of the chunk: the row it copies, or -1 */
    int64_t *hslot;     /* row dedup table: row + 1 */
    uint64_t *hkey;
    uint32_t *vt;       /* distinct values (open addressing, at most
                           2 * DISTINCT_MAX slots): index + 1, 0: free;
                           all zero between payloads */
    vcount *dv;         /* the distinct values, first seen first, and one
                           for the untracked ones */
    uint32_t *vid;      /* per value: its index in dv */
    unsigned char *code; /* per index in dv: its byte (a table index) */
    vcount *vsort;      /* some of dv, by frequency */
    size_t *at;         /* where each chunk starts in out */
    size_t mark_cap, pos_of_cap, set_cap, tmp_cap, vals_cap, lits_cap,
        ref_cap, hslot_cap, hkey_cap, vt_cap, dv_cap, vid_cap, code_cap,
        vsort_cap, at_cap;
    sdsinf__buf payload;
    sdsinf__buf packed;
    ZSTD_CCtx *zc;      /* the ctx's */
} encoder;

static void encoder_free(encoder *e)
{
    sdsinf__free(e->mark);
    sdsinf__free(e->pos_of);
    sdsinf__free(e->set);
    sdsinf__free(e->tmp);
    sdsinf__free(e->vals);
    sdsinf__free(e->lits);
    sdsinf__free(e->ref);
    sdsinf__free(e->hslot);
    sdsinf__free(e->hkey);
    sdsinf__free(e->vt);
    sdsinf__free(e->dv);
    sdsinf__free(e->vid);
    sdsinf__free(e->code);
    sdsinf__free(e->vsort);
    sdsinf__free(e->at);
    sdsinf__buf_free(&e->payload);
    sdsinf__buf_free(&e->packed);
    memset(e, 0, sizeof *e);
}

/* The size of the value hash table for n values: twice them, at most
 * 2 * DISTINCT_MAX (it tracks up to half its size). */
static size_t value_table_size(int64_t n)
{
    size_t vsize = 64;
    while (vsize < 2 * (size_t)n && vsize < 2 * DISTINCT_MAX)
        vsize *= 2;
    return vsize;
}

/* Makes e's arrays hold what encoding blk of `samples` samples needs. */
static int encoder_prepare(encoder *e, const block *blk, int64_t samples,
                           sdsinf_err *err)
{
    e->blk = blk;
    e->samples = samples;
    int64_t E = blk->nrows ? blk->start[blk->nrows] : 0, R = blk->nrows;
    size_t hsize = 16, vsize = value_table_size(E);
    while (hsize < 2 * (size_t)R)
        hsize *= 2;
    if (RESERVE_ZERO(e, mark, samples / 64 + 1) &&
        RESERVE(e, pos_of, samples + 1) && RESERVE(e, set, samples + 1) &&
        RESERVE(e, tmp, (samples > R ? samples : R) + 1) &&
        RESERVE(e, vals, E + 1) && RESERVE(e, lits, E + 1) &&
        RESERVE(e, ref, R + 1) && RESERVE(e, hslot, hsize) &&
        RESERVE(e, hkey, hsize) && RESERVE_ZERO(e, vt, vsize) &&
        RESERVE(e, dv, vsize / 2 + 1) && RESERVE(e, vid, E + 1) &&
        RESERVE(e, code, vsize / 2 + 1) && RESERVE(e, vsort, vsize / 2))
        return SDSINF_OK;
    return sdsinf__fail(err, SDSINF_ENOMEM, "no memory to encode a block of "
                        "%lld samples, %lld entries", (long long)samples,
                        (long long)E);
}

/* The Rice parameter, 0..31, that codes v[0..n) in the fewest bits, and
 * that count. */
static int rice_choose(const uint32_t *v, int64_t n, uint64_t *bits)
{
    uint64_t sum = 0, b[3] = {0, 0, 0};
    if (n <= 0) {
        *bits = 0;
        return 0;
    }
    for (int64_t i = 0; i < n; i++)
        sum += v[i];
    int k0 = 0;
    while (k0 < 31 && ((uint64_t)n << (k0 + 1)) <= sum)
        k0++; /* about log2 of the mean */
    int lo = k0 > 0 ? k0 - 1 : 0, hi = k0 < 31 ? k0 + 1 : 31;
    for (int64_t i = 0; i < n; i++) { /* the candidates lo .. hi at once */
        b[0] += (uint64_t)v[i] >> lo;
        b[1] += (uint64_t)v[i] >> (lo + 1);
        b[2] += (uint64_t)v[i] >> (lo + 2);
    }
    int best = 0;
    uint64_t best_bits = UINT64_MAX;
    for (int k = lo; k <= hi; k++) {
        uint64_t c = (uint64_t)n * (1 + (uint64_t)k) + b[k - lo];
        if (c < best_bits) {
            best_bits = c;
            best = k;
        }
    }
    *bits = best_bits;
    return best;
}

/* Turns an ascending list into gaps in place: the first stays, each later
 * one becomes its distance to the previous, minus one. */
static void to_gaps(uint32_t *v, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--)
        v[i] -= v[i - 1] + 1;
}

/* Writes an ascending list v[0..n) (n >= 1; turned into gaps): the first
 * as a varint, then a Rice parameter byte and the codes of the gaps,
 * padded to a byte. */
static void w_list(writer *w, uint32_t *v, int64_t n)
{
    uint64_t bits;
    to_gaps(v, n);
    int k = rice_choose(v + 1, n - 1, &bits);
    w_varint(w, v[0]);
    w_u8(w, (unsigned)k);
    w_rice(w, v + 1, n - 1, k, bits);
}

/* A hash of row i's samples and values, one multiply per entry in four
 * independent lanes (equal rows hash equal; dedup compares the rows). */
static uint64_t row_hash(const block *b, int64_t i)
{
    const uint64_t M = 0x9E3779B97F4A7C15ull;
    int64_t n = b->start[i + 1] - b->start[i], k = 0;
    const uint32_t *smp = b->smp + b->start[i];
    const float *val = b->val + b->start[i];
    uint64_t a[4] = {(uint64_t)n, 1, 2, 3};
    for (; k + 4 <= n; k += 4)
        for (int j = 0; j < 4; j++)
            a[j] = (a[j] + (smp[k + j] | (uint64_t)f32_bits(val[k + j]) << 32))
                   * M;
    for (; k < n; k++)
        a[0] = (a[0] + (smp[k] | (uint64_t)f32_bits(val[k]) << 32)) * M;
    uint64_t h = a[0] ^ (a[1] << 16 | a[1] >> 48) ^ (a[2] << 32 | a[2] >> 32) ^
                 (a[3] << 48 | a[3] >> 16);
    h ^= h >> 29;
    h *= M;
    return h ^ h >> 32;
}

static int rows_equal(const block *b, int64_t i, int64_t j)
{
    int64_t n = b->start[i + 1] - b->start[i];
    return n == b->start[j + 1] - b->start[j] &&
           !memcmp(b->smp + b->start[i], b->smp + b->start[j],
                   (size_t)n * sizeof *b->smp) &&
           !memcmp(b->val + b->start[i], b->val + b->start[j],
                   (size_t)n * sizeof *b->val);
}

/* The row of [a, i) equal to row i, latest first, or -1; records i. */
static int64_t dedup(encoder *e, int64_t a, int64_t i, size_t hsize)
{
    uint64_t h = row_hash(e->blk, i);
    size_t s = (size_t)h & (hsize - 1);
    for (; e->hslot[s]; s = (s + 1) & (hsize - 1))
        if (e->hkey[s] == h && rows_equal(e->blk, e->hslot[s] - 1, i)) {
            int64_t j = e->hslot[s] - 1;
            e->hslot[s] = i + 1; /* the latest copy is the closest */
            return j >= a ? j : -1;
        }
    e->hslot[s] = i + 1;
    e->hkey[s] = h;
    return -1;
}

/* Writes n float32 bit patterns as four byte planes, the most significant
 * (sign and exponent) first: a compressor then sees the predictable high
 * bytes together, apart from the noisy low mantissa bytes. */
static void w_floats(writer *w, const uint32_t *v, int64_t n)
{
    if (w->nomem || !buf_reserve(w->b, 4 * (size_t)n)) {
        w->nomem = 1;
        return;
    }
    unsigned char *p = w->b->data + w->b->len;
    for (int plane = 0; plane < 4; plane++)
        for (int64_t i = 0; i < n; i++)
            *p++ = (unsigned char)(v[i] >> (8 * (3 - plane)));
    w->b->len += 4 * (size_t)n;
}

static int vcount_cmp(const void *pa, const void *pb)
{
    const vcount *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return a->bits < b->bits ? -1 : a->bits > b->bits;
}

static size_t vhash(uint32_t bits, size_t mask)
{
    return (size_t)((bits * 0x9E3779B1u) >> 7) & mask;
}

/* Counts the distinct values of v[0..n) into e->dv, first seen first, up
 * to vsize / 2 of them (the rest count as one, untracked, at index
 * vsize / 2), notes each value's index in e->vid, and returns how many
 * are tracked.  The hash table is left empty. */
static uint32_t count_values(encoder *e, const uint32_t *v, int64_t n,
                             size_t vsize)
{
    size_t mask = vsize - 1;
    uint32_t untracked = (uint32_t)(vsize / 2), d = 0;
    e->dv[untracked].count = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t id;
        if (i && v[i] == v[i - 1]) /* runs are common (the cap) */
            id = e->vid[i - 1];
        else {
            size_t s = vhash(v[i], mask);
            while (e->vt[s] && e->dv[e->vt[s] - 1].bits != v[i])
                s = (s + 1) & mask;
            if (e->vt[s])
                id = e->vt[s] - 1;
            else if (d < untracked) {
                e->vt[s] = d + 1;
                e->dv[d] = (vcount){v[i], 0, d, (uint32_t)s};
                id = d++;
            } else
                id = untracked;
        }
        e->dv[id].count++;
        e->vid[i] = id;
    }
    for (uint32_t k = 0; k < d; k++)
        e->vt[e->dv[k].slot] = 0;
    return d;
}

/* Writes the values v[0..n) (bits, n >= 1) in the mode that takes the
 * fewest bytes. */
static void w_values(writer *w, encoder *e, const uint32_t *v, int64_t n)
{
    size_t vsize = value_table_size(n);
    uint32_t untracked = (uint32_t)(vsize / 2);
    uint32_t distinct = count_values(e, v, n, vsize);
    /* By frequency: every value when a table can hold them all, else the
     * repeated ones (only those can enter a mixed table). */
    int all = e->dv[untracked].count == 0 && distinct <= TABLE_MAX;
    int64_t nd = 0;
    for (uint32_t k = 0; k < distinct; k++)
        if (e->dv[k].count > (unsigned)!all)
            e->vsort[nd++] = e->dv[k];
    qsort(e->vsort, (size_t)nd, sizeof *e->vsort, vcount_cmp);
    /* Sizes: raw 4n; table 4d + n; mixed: the values seen twice or more
     * (at most 255) in the table, 4d + n + 4 * (the rest). */
    int64_t mixed_d = 0, covered = 0;
    while (mixed_d < nd && mixed_d < TABLE_MAX - 1 && e->vsort[mixed_d].count > 1)
        covered += e->vsort[mixed_d++].count;
    int64_t raw = 4 * n, mixed = 4 * mixed_d + n + 4 * (n - covered);
    int64_t table = all ? 4 * nd + n : INT64_MAX;
    int mode = VAL_RAW;
    if (all && nd == 1)
        mode = VAL_CONST;
    else if (table <= raw && table <= mixed)
        mode = VAL_TABLE;
    else if (mixed < raw)
        mode = VAL_MIXED;
    w_u8(w, (unsigned)mode);
    if (mode == VAL_CONST) {
        w_f32(w, bits_f32(v[0]));
        return;
    }
    if (mode == VAL_RAW) {
        w_floats(w, v, n);
        return;
    }
    int64_t d = mode == VAL_TABLE ? nd : mixed_d;
    w_varint(w, (uint64_t)d);
    memset(e->code, LITERAL, distinct);
    e->code[untracked] = LITERAL;
    for (int64_t i = 0; i < d; i++) {
        w_f32(w, bits_f32(e->vsort[i].bits));
        e->code[e->vsort[i].id] = (unsigned char)i;
    }
    if (w->nomem || !buf_reserve(w->b, (size_t)n)) {
        w->nomem = 1;
        return;
    }
    /* A byte per value; the literals (code LITERAL) gather in order. */
    unsigned char *p = w->b->data + w->b->len;
    int64_t nl = 0;
    for (int64_t i = 0; i < n; i++) {
        unsigned char c = e->code[e->vid[i]];
        p[i] = c;
        e->lits[nl] = v[i];
        nl += c == LITERAL;
    }
    w->b->len += (size_t)n;
    if (mode == VAL_MIXED)
        w_floats(w, e->lits, nl);
}
/* Writes the payload of rows [a, b) of the block into e->payload. */
static int encode_payload(encoder *e, int64_t a, int64_t b, sdsinf_err *err)
{
    const block *blk = e->blk;
    writer w = {&e->payload, 0};
    e->payload.len = 0;
    w_varint(&w, (uint64_t)(b - a));
    if (a == b)
        goto done;
    /* The chunk's samples: marked, then listed in order (which clears the
     * marks again). */
    int64_t S = 0, words = e->samples / 64 + 1;
    for (int64_t i = a; i < b; i++) { /* a row's samples ascend: a word's
                                         bits gather in a register */
        int64_t n = blk->start[i + 1] - blk->start[i];
        if (i > a && n == blk->start[i] - blk->start[i - 1] &&
            !memcmp(blk->smp + blk->start[i], blk->smp + blk->start[i - 1],
                    (size_t)n * sizeof *blk->smp))
            continue; /* the same samples as the row before */
        uint64_t acc = 0;
        uint32_t cur = 0;
        for (int64_t k = blk->start[i]; k < blk->start[i + 1]; k++) {
            uint32_t wd = blk->smp[k] / 64;
            if (wd != cur) {
                e->mark[cur] |= acc;
                cur = wd;
                acc = 0;
            }
            acc |= (uint64_t)1 << (blk->smp[k] % 64);
        }
        e->mark[cur] |= acc;
    }
    for (int64_t wd = 0; wd < words; wd++) {
        uint64_t m = e->mark[wd];
        e->mark[wd] = 0;
        for (; m; m &= m - 1) {
            uint32_t s = (uint32_t)(wd * 64 + __builtin_ctzll(m));
            e->pos_of[s] = (uint32_t)S;
            e->set[S++] = s;
        }
    }
    w_varint(&w, (uint64_t)S);
    memcpy(e->tmp, blk->id + a, (size_t)(b - a) * sizeof *e->tmp);
    w_list(&w, e->tmp, b - a);
    w_list(&w, e->set, S);
    /* Rows: copies of earlier ones (runs of the same distance back), or
     * where they sit in the set. */
    size_t hsize = 16;
    while (hsize < 2 * (size_t)(b - a))
        hsize *= 2;
    memset(e->hslot, 0, hsize * sizeof *e->hslot);
    for (int64_t i = a; i < b; i++)
        e->ref[i - a] = dedup(e, a, i, hsize);
    int64_t nv = 0;
    for (int64_t i = a; i < b; i++) {
        int64_t j = e->ref[i - a];
        if (j >= 0) {
            int64_t d = i - j - 1, run = 0;
            while (i + 1 + run < b && e->ref[i + 1 + run - a] >= 0 &&
                   i + run - e->ref[i + 1 + run - a] == d)
                run++;
            w_varint(&w, TAG_COPY + (uint64_t)d);
            w_varint(&w, (uint64_t)run);
            i += run;
            continue;
        }
        int64_t n = blk->start[i + 1] - blk->start[i];
        const uint32_t *smp = blk->smp + blk->start[i];
        memcpy(e->vals + nv, blk->val + blk->start[i], (size_t)n * 4);
        nv += n;
        if (n == S) {
            w_varint(&w, TAG_ALL);
            continue;
        }
        /* Present or absent positions, whichever list is shorter. */
        int absent = n > S / 2;
        int64_t c = 0;
        if (!absent)
            for (int64_t k = 0; k < n; k++)
                e->tmp[c++] = e->pos_of[smp[k]];
        else
            for (int64_t p = 0, k = 0; p < S; p++) {
                if (k < n && e->pos_of[smp[k]] == (uint32_t)p)
                    k++;
                else
                    e->tmp[c++] = (uint32_t)p;
            }
        w_varint(&w, absent ? TAG_ABSENT : TAG_LIST);
        w_varint(&w, (uint64_t)c);
        w_list(&w, e->tmp, c);
    }
    w_values(&w, e, e->vals, nv);
done:
    if (w.nomem)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a message "
                            "payload");
    return SDSINF_OK;
}

/* ---- Chunking ---------------------------------------------------------------- */

typedef struct emitter {
    encoder *enc;
    const sdsinf__msg_key *key;
    const sdsinf__msg_opts *o;
    sdsinf__buf *out;
    size_t nchunks; /* so far; enc->at has where each starts in out */
    int whole;      /* keep the whole block one message, whatever size */
} emitter;

/* Encodes rows [a, b) as one message at the end of out, or, when it
 * would exceed max_bytes, as two halves, recursively (the whole block
 * stays whole when its message is over whole_above, or m->whole). */
static int emit(emitter *m, int64_t a, int64_t b, sdsinf_err *err)
{
    encoder *e = m->enc;
    const sdsinf__msg_opts *o = m->o;
    int rc = encode_payload(e, a, b, err);
    if (rc != SDSINF_OK)
        return rc;
    const sdsinf__buf *body = &e->payload;
    int codec = SDSINF__CODEC_RAW;
    if (o->codec == SDSINF__CODEC_ZSTD && e->payload.len >= ZSTD_MIN) {
        size_t bound = ZSTD_compressBound(e->payload.len);
        e->packed.len = 0;
        if (!buf_reserve(&e->packed, bound))
            return sdsinf__fail(err, SDSINF_ENOMEM, "no memory to compress "
                                "%zu bytes", e->payload.len);
        size_t z = ZSTD_compress2(e->zc, e->packed.data, bound,
                                  e->payload.data, e->payload.len);
        if (ZSTD_isError(z))
            return sdsinf__fail(err, SDSINF_EINVAL, "zstd level %d: %s",
                                o->level, ZSTD_getErrorName(z));
        e->packed.len = z;
        if (z < e->payload.len) { /* else: raw is smaller */
            body = &e->packed;
            codec = SDSINF__CODEC_ZSTD;
        }
    }
    size_t size = SDSINF__MSG_HEADER + body->len;
    int whole = a == 0 && b == e->blk->nrows &&
                (m->whole || (o->whole_above && size > o->whole_above));
    if (o->max_bytes > 0 && size > o->max_bytes && !whole) {
        if (a == b)
            return sdsinf__fail(err, SDSINF_EINVAL, "an empty block takes "
                                "%zu bytes, over the %zu-byte message limit",
                                size, o->max_bytes);
        if (b - a == 1)
            return sdsinf__fail(err, SDSINF_EINVAL, "row %u alone takes %zu "
                                "bytes, over the %zu-byte message limit; "
                                "raise the limit",
                                e->blk->id[a], size, o->max_bytes);
        /* Split where half the entries lie, leaving a row on each side. */
        const int64_t *st = e->blk->start;
        int64_t mid = a + 1, half = (st[a] + st[b]) / 2;
        while (mid < b - 1 && st[mid + 1] <= half)
            mid++;
        if ((rc = emit(m, a, mid, err)) != SDSINF_OK)
            return rc;
        return emit(m, mid, b, err);
    }
    if (m->nchunks == e->at_cap) { /* kept: grown with its contents */
        size_t cap = e->at_cap ? 2 * e->at_cap : 8;
        size_t *at = sdsinf__realloc(e->at, cap * sizeof *at);
        if (!at)
            return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        e->at = at;
        e->at_cap = cap;
    }
    if (m->nchunks >= UINT32_MAX || b - a > UINT32_MAX)
        return sdsinf__fail(err, SDSINF_EINVAL, "block too large: %zu "
                            "chunks", m->nchunks);
    if (!buf_reserve(m->out, size))
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a %zu-byte "
                            "message", size);
    unsigned char *h = m->out->data + m->out->len;
    memset(h, 0, SDSINF__MSG_HEADER);
    memcpy(h, MAGIC, 4);
    put16(h + H_VERSION, SDSINF__MSG_VERSION);
    put16(h + H_CODEC, (uint32_t)codec);
    put64(h + H_RUN, m->key->run);
    put32(h + H_BATCH, m->key->batch);
    put32(h + H_LAYER, m->key->layer);
    put32(h + H_SOURCE, m->key->source);
    put32(h + H_TARGET, m->key->target);
    put32(h + H_CHUNK, (uint32_t)m->nchunks);
    put32(h + H_ROWS, (uint32_t)(b - a));
    put64(h + H_LENGTH, body->len);
    memcpy(h + SDSINF__MSG_HEADER, body->data, body->len);
    e->at[m->nchunks++] = m->out->len;
    m->out->len += size;
    return SDSINF_OK;
}

/* Checks the arguments of an encode from m: y (samples x neurons) or its
 * transpose. */
static int encode_check(const sdsinf_csr *m, int64_t samples, int64_t neurons,
                        const uint32_t *rows, int64_t nrows,
                        const sdsinf__msg_key *key, const sdsinf__msg_opts *o,
                        sdsinf__buf *out, uint32_t *nchunks, sdsinf_err *err)
{
    if (!m || (!rows && nrows) || !key || !o || !out || !nchunks ||
        nrows < 0 || (!m->rowptr && m->nrows) || m->nrows < 0 || m->ncols < 0)
        return sdsinf__fail(err, SDSINF_EINVAL, "msg_encode: missing or "
                            "negative argument");
    if (o->codec != SDSINF__CODEC_RAW && o->codec != SDSINF__CODEC_ZSTD)
        return sdsinf__fail(err, SDSINF_EINVAL, "msg_encode: unknown codec "
                            "%d", o->codec);
    if (samples > UINT32_MAX || neurons > (int64_t)UINT32_MAX + 1 ||
        nrows >= UINT32_MAX)
        return sdsinf__fail(err, SDSINF_EINVAL, "msg_encode: %lld rows of "
                            "%lld samples x %lld neurons: counts and ids "
                            "must fit 32 bits", (long long)nrows,
                            (long long)samples, (long long)neurons);
    for (int64_t i = 0; i < nrows; i++)
        if (rows[i] >= (uint64_t)neurons || (i && rows[i] <= rows[i - 1]))
            return sdsinf__fail(err, SDSINF_EINVAL, "msg_encode: row %lld "
                                "(neuron %u) is not ascending below %lld",
                                (long long)i, rows[i], (long long)neurons);
    return SDSINF_OK;
}

/* ---- The payload decoder ------------------------------------------------------
 * Rows are parsed into (for each row) the range of `pos` holding its
 * positions in the set and `val` its values; a copy points at its
 * original's ranges. */

typedef struct decoded {
    int64_t R, S, nv;   /* rows, samples in the set, new entries */
    int all;            /* some row is present at every sample */
    uint32_t *id;       /* R neuron ids */
    uint32_t *set;      /* S sample ids */
    int64_t *first;     /* R + 1: row i's entries are pos[first[i]] .. */
    int64_t *count;     /* R */
    uint32_t *pos;      /* nv positions */
    float *val;         /* nv values */
    uint32_t *tmp;      /* S: a row's absent positions, the used ones */
    float *lit;         /* the literals of a mixed table */
    unsigned char *raw; /* the payload, decompressed */
    size_t id_cap, set_cap, first_cap, count_cap, pos_cap, val_cap, tmp_cap,
        lit_cap, raw_cap;  /* the arrays are work arrays (kept in a ctx) */
    const char *where;  /* the part being parsed, for messages */
} decoded;

static void decoded_free(decoded *d)
{
    sdsinf__free(d->id);
    sdsinf__free(d->set);
    sdsinf__free(d->first);
    sdsinf__free(d->count);
    sdsinf__free(d->pos);
    sdsinf__free(d->val);
    sdsinf__free(d->tmp);
    sdsinf__free(d->lit);
    sdsinf__free(d->raw);
    memset(d, 0, sizeof *d);
}

/* Room for n more positions, keeping those parsed; 0 when out of
 * memory. */
static int pos_reserve(decoded *d, int64_t n)
{
    if ((uint64_t)n <= d->pos_cap - (uint64_t)d->nv)
        return 1;
    if (n > INT64_MAX / 8 - d->nv)
        return 0;
    size_t cap = d->pos_cap ? d->pos_cap : 1024;
    while (cap - (uint64_t)d->nv < (uint64_t)n)
        cap *= 2;
    uint32_t *p = sdsinf__realloc(d->pos, cap * sizeof *p);
    if (!p)
        return 0;
    d->pos = p;
    d->pos_cap = cap;
    return 1;
}

/* Reads an ascending list of n (>= 1) values below `below` into v, as
 * w_list writes it. */
static void r_list(reader *r, uint32_t *v, int64_t n, uint64_t below)
{
    uint64_t x = r_varint(r);
    int k = (int)r_u8(r);
    if (r->bad || x >= below || k > 31) {
        r->bad = 1;
        return;
    }
    v[0] = (uint32_t)x;
    for (int64_t i = 1; i < n && !r->bad; i++) {
        if (x + 1 >= below) {
            r->bad = 1;
            break;
        }
        x += 1 + r_rice(r, k, below - 2 - x);
        v[i] = (uint32_t)x;
    }
    r_align(r);
}

/* Parses a row's positions (tag LIST or ABSENT) into d->pos. */
static int r_positions(reader *r, decoded *d, int tag, int64_t i,
                       sdsinf_err *err)
{
    uint64_t c = r_varint(r);
    if (r->bad || c == 0 || c >= (uint64_t)d->S)
        return SDSINF_ECORRUPT;
    int64_t n = tag == TAG_LIST ? (int64_t)c : d->S - (int64_t)c;
    if (!pos_reserve(d, n))
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory to decode");
    uint32_t *p = d->pos + d->nv;
    r_list(r, tag == TAG_LIST ? p : d->tmp, (int64_t)c, (uint64_t)d->S);
    if (r->bad)
        return SDSINF_ECORRUPT;
    if (tag == TAG_ABSENT) /* the complement of tmp[0..c) */
        for (int64_t s = 0, k = 0, at = 0; s < d->S; s++) {
            if (k < (int64_t)c && d->tmp[k] == (uint64_t)s)
                k++;
            else
                p[at++] = (uint32_t)s;
        }
    d->first[i] = d->nv;
    d->count[i] = n;
    d->nv += n;
    return SDSINF_OK;
}

/* Reads n float32s written by w_floats into out. */
static void r_floats(reader *r, float *out, int64_t n)
{
    const unsigned char *p = (uint64_t)n <= SIZE_MAX / 4
                                 ? r_bytes(r, 4 * (size_t)n) : NULL;
    for (int64_t i = 0; p && i < n; i++)
        out[i] = bits_f32((uint32_t)p[i] << 24 | (uint32_t)p[n + i] << 16 |
                          (uint32_t)p[2 * n + i] << 8 | p[3 * n + i]);
}

/* Reads the nv values into d->val; each must be positive and finite. */
static int r_values(reader *r, decoded *d, sdsinf_err *err)
{
    int64_t n = d->nv, nlit = 0;
    float table[TABLE_MAX];
    int mode = (int)r_u8(r);
    if (r->bad || mode > VAL_RAW)
        return SDSINF_ECORRUPT;
    if (!RESERVE(d, val, n + 1))
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory to decode");
    if (mode == VAL_CONST) {
        float c = r_f32(r);
        for (int64_t i = 0; i < n; i++)
            d->val[i] = c;
    } else if (mode == VAL_RAW)
        r_floats(r, d->val, n);
    else {
        uint64_t nt = r_varint(r);
        if (nt == 0 || nt > (uint64_t)(mode == VAL_TABLE ? TABLE_MAX : LITERAL))
            return SDSINF_ECORRUPT;
        for (uint64_t t = 0; t < nt; t++)
            table[t] = r_f32(r);
        const unsigned char *code = r_bytes(r, (size_t)n);
        for (int64_t i = 0; code && i < n; i++) {
            if (code[i] < nt)
                d->val[i] = table[code[i]];
            else if (mode == VAL_MIXED && code[i] == LITERAL)
                nlit++;
            else
                r->bad = 1;
        }
        if (nlit && !r->bad) { /* the literals, in order */
            if (!RESERVE(d, lit, nlit))
                return sdsinf__fail(err, SDSINF_ENOMEM, "no memory to decode");
            r_floats(r, d->lit, nlit);
            for (int64_t i = 0, k = 0; !r->bad && i < n; i++)
                if (code[i] == LITERAL)
                    d->val[i] = d->lit[k++];
        }
        r->bad |= !code;
    }
    unsigned bad = r->bad;
    for (int64_t i = 0; i < n; i++) /* branch-free: rows are long */
        bad |= bad_value(f32_bits(d->val[i]));
    return bad ? SDSINF_ECORRUPT : SDSINF_OK;
}

/* Row i presents at every sample of the set. */
static int all_positions(decoded *d, int64_t i)
{
    if (!pos_reserve(d, d->S))
        return 0;
    for (int64_t s = 0; s < d->S; s++)
        d->pos[d->nv + s] = (uint32_t)s;
    d->first[i] = d->nv;
    d->count[i] = d->S;
    d->nv += d->S;
    d->all = 1;
    return 1;
}

/* Parses the rows' tags and positions. */
static int parse_rows(reader *r, decoded *d, sdsinf_err *err)
{
    for (int64_t i = 0; i < d->R; i++) {
        uint64_t tag = r_varint(r), run = 0;
        if (r->bad)
            return SDSINF_ECORRUPT;
        if (tag >= TAG_COPY) { /* rows i .. i + run copy d + 1 rows back */
            uint64_t back = tag - TAG_COPY + 1;
            run = r_varint(r);
            if (r->bad || back > (uint64_t)i || run >= (uint64_t)(d->R - i))
                return SDSINF_ECORRUPT;
            for (int64_t k = i; k <= i + (int64_t)run; k++) {
                d->first[k] = d->first[k - (int64_t)back];
                d->count[k] = d->count[k - (int64_t)back];
            }
            i += (int64_t)run;
        } else if (tag == TAG_ALL) {
            if (!all_positions(d, i))
                return sdsinf__fail(err, SDSINF_ENOMEM, "no memory to "
                                    "decode");
        } else {
            int rc = r_positions(r, d, (int)tag, i, err);
            if (rc != SDSINF_OK)
                return rc;
        }
    }
    /* Every sample of the set must be used by some row. */
    if (d->all)
        return SDSINF_OK;
    memset(d->tmp, 0, (size_t)d->S * sizeof *d->tmp);
    for (int64_t k = 0; k < d->nv; k++)
        d->tmp[d->pos[k]] = 1;
    for (int64_t s = 0; s < d->S; s++)
        if (!d->tmp[s])
            return SDSINF_ECORRUPT;
    return SDSINF_OK;
}

/* Parses a payload of `rows` rows; ECORRUPT without a message when the
 * bytes are wrong (the caller names the message). */
static int parse_payload(const unsigned char *p, size_t n, uint32_t rows,
                         int64_t samples, int64_t neurons, decoded *d,
                         sdsinf_err *err)
{
    reader r = {p, p + n, 0, 0, 0};
    d->where = "the row count (not the header's, or above the neurons)";
    d->R = (int64_t)r_varint(&r);
    if (r.bad || d->R != (int64_t)rows || d->R > neurons)
        return SDSINF_ECORRUPT;
    d->where = "its end (bytes left over)";
    if (d->R == 0)
        return r.p == r.end ? SDSINF_OK : SDSINF_ECORRUPT;
    d->where = "the sample count (0, or above the samples)";
    uint64_t S = r_varint(&r);
    if (r.bad || S == 0 || S > (uint64_t)samples)
        return SDSINF_ECORRUPT;
    d->S = (int64_t)S;
    if (!RESERVE(d, id, d->R) || !RESERVE(d, set, S) ||
        !RESERVE(d, first, d->R) || !RESERVE(d, count, d->R) ||
        !RESERVE(d, tmp, S))
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory to decode");
    d->where = "the neuron ids (short, or not ascending below the neurons)";
    r_list(&r, d->id, d->R, (uint64_t)neurons);
    if (r.bad)
        return SDSINF_ECORRUPT;
    d->where = "the sample set (short, or not ascending below the samples)";
    r_list(&r, d->set, d->S, (uint64_t)samples);
    if (r.bad)
        return SDSINF_ECORRUPT;
    d->where = "the rows' positions";
    int rc = parse_rows(&r, d, err);
    if (rc != SDSINF_OK)
        return rc;
    d->where = "the values (short, unknown codes, or not positive and finite)";
    if ((rc = r_values(&r, d, err)) != SDSINF_OK)
        return rc;
    d->where = "its end (bytes left over)";
    return r.p == r.end ? SDSINF_OK : SDSINF_ECORRUPT;
}

/* The neuron-major rows from the parsed payload. */
static int build_rows(const decoded *d, int64_t samples, sdsinf__rows *out,
                      sdsinf_err *err)
{
    int64_t E = 0;
    for (int64_t i = 0; i < d->R; i++)
        E += d->count[i];
    sdsinf__rows r = {0};
    int rc = sdsinf_csr_alloc(&r.m, d->R, samples, E, err);
    if (rc == SDSINF_OK &&
        !(r.id = sdsinf__mallocarray((size_t)d->R + 1, sizeof *r.id)))
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for %lld rows",
                          (long long)d->R);
    if (rc != SDSINF_OK) {
        sdsinf__rows_free(&r);
        return rc;
    }
    int64_t at = 0;
    for (int64_t i = 0; i < d->R; i++) {
        int64_t first = d->first[i], n = d->count[i];
        r.id[i] = d->id[i];
        if (n == d->S) /* present everywhere: the set */
            memcpy(r.m.col + at, d->set, (size_t)n * sizeof *r.m.col);
        else
            for (int64_t k = 0; k < n; k++)
                r.m.col[at + k] = d->set[d->pos[first + k]];
        memcpy(r.m.val + at, d->val + first, (size_t)n * sizeof *r.m.val);
        at += n;
        r.m.rowptr[i + 1] = at;
    }
    *out = r;
    return SDSINF_OK;
}

void sdsinf__rows_free(sdsinf__rows *r)
{
    if (!r)
        return;
    sdsinf_csr_free(&r->m);
    sdsinf__free(r->id);
    r->id = NULL;
}

/* ---- Work arrays in a ctx; the public encoders ------------------------------- */

/* Work arrays kept between calls: an encoder's and a decoder's. */
struct sdsinf__msg_work {
    block blk;
    encoder enc;
    decoded dec;
};

void sdsinf__msg_ctx_free(sdsinf__msg_ctx *c)
{
    if (!c)
        return;
    ZSTD_freeCCtx(c->zc);
    ZSTD_freeDCtx(c->dz);
    if (c->work) {
        block_free(&c->work->blk);
        encoder_free(&c->work->enc);
        decoded_free(&c->work->dec);
        sdsinf__free(c->work);
    }
    c->zc = NULL;
    c->dz = NULL;
    c->work = NULL;
}


/* ctx's work arrays, made on first use. */
static struct sdsinf__msg_work *work_of(sdsinf__msg_ctx *ctx, sdsinf_err *err)
{
    if (!ctx->work && !(ctx->work = sdsinf__calloc(1, sizeof *ctx->work)))
        sdsinf__fail(err, SDSINF_ENOMEM, "no memory for the codec's work "
                     "arrays");
    return ctx->work;
}

/* Encodes a gathered block with ctx's encoder; on failure out keeps its
 * length. */
static int encode_block(const block *blk, int64_t samples,
                        const sdsinf__msg_key *key, const sdsinf__msg_opts *o,
                        sdsinf__msg_ctx *ctx, sdsinf__buf *out,
                        uint32_t *nchunks, sdsinf_err *err)
{
    encoder *e = &ctx->work->enc;
    emitter m = {e, key, o, out, 0, 0};
    size_t start = out->len;
    int rc = encoder_prepare(e, blk, samples, err);
    if (rc != SDSINF_OK)
        return rc;
    e->zc = NULL;
    if (o->codec == SDSINF__CODEC_ZSTD) {
        if (!ctx->zc && !(ctx->zc = ZSTD_createCCtx()))
            return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for zstd");
        e->zc = ctx->zc;
        ZSTD_CCtx_reset(ctx->zc, ZSTD_reset_session_only);
        size_t z = ZSTD_CCtx_setParameter(ctx->zc, ZSTD_c_compressionLevel,
                                          o->level);
        if (ZSTD_isError(z))
            return sdsinf__fail(err, SDSINF_EINVAL, "zstd level %d: %s",
                                o->level, ZSTD_getErrorName(z));
    }
    rc = emit(&m, 0, blk->nrows, err);
    /* chunks that together are over whole_above (each compressed alone,
     * they may be several times the whole block): the block whole */
    if (rc == SDSINF_OK && m.nchunks > 1 && o->whole_above &&
        out->len - start > o->whole_above) {
        out->len = start;
        m.nchunks = 0;
        m.whole = 1;
        rc = emit(&m, 0, blk->nrows, err);
    }
    if (rc != SDSINF_OK) {
        out->len = start;
        return rc;
    }
    for (size_t c = 0; c < m.nchunks; c++) {
        unsigned char *h = out->data + e->at[c];
        put32(h + H_NCHUNKS, (uint32_t)m.nchunks);
        put64(h + H_CHECKSUM, msg_checksum(h, (size_t)get64(h + H_LENGTH)));
    }
    *nchunks = (uint32_t)m.nchunks;
    return SDSINF_OK;
}

int sdsinf__msg_encode(const sdsinf_csr *y, const uint32_t *rows,
                       int64_t nrows, const sdsinf__msg_key *key,
                       const sdsinf__msg_opts *o, sdsinf__buf *out,
                       uint32_t *nchunks, sdsinf_err *err)
{
    sdsinf__msg_ctx own = {0}, *ctx = o && o->ctx ? o->ctx : &own;
    int rc = encode_check(y, y ? y->nrows : 0, y ? y->ncols : 0, rows, nrows,
                          key, o, out, nchunks, err);
    if (rc == SDSINF_OK && !work_of(ctx, err))
        rc = SDSINF_ENOMEM;
    if (rc == SDSINF_OK &&
        (rc = gather(y, rows, nrows, &ctx->work->blk, err)) == SDSINF_OK)
        rc = encode_block(&ctx->work->blk, y->nrows, key, o, ctx, out,
                          nchunks, err);
    sdsinf__msg_ctx_free(&own);
    return rc;
}

int sdsinf__msg_encode_t(const sdsinf_csr *yt, const uint32_t *rows,
                         const uint32_t *ids, int64_t nrows,
                         const sdsinf__msg_key *key,
                         const sdsinf__msg_opts *o, sdsinf__buf *out,
                         uint32_t *nchunks, sdsinf_err *err)
{
    sdsinf__msg_ctx own = {0}, *ctx = o && o->ctx ? o->ctx : &own;
    int rc = encode_check(yt, yt ? yt->ncols : 0, yt ? yt->nrows : 0, rows,
                          nrows, key, o, out, nchunks, err);
    for (int64_t i = 1; rc == SDSINF_OK && ids && i < nrows; i++)
        if (ids[rows[i]] <= ids[rows[i - 1]])
            rc = sdsinf__fail(err, SDSINF_EINVAL, "msg_encode: row %lld "
                              "(neuron %u) is not ascending", (long long)i,
                              ids[rows[i]]);
    if (rc == SDSINF_OK && !work_of(ctx, err))
        rc = SDSINF_ENOMEM;
    if (rc == SDSINF_OK &&
        (rc = gather_t(yt, rows, ids, nrows, &ctx->work->blk, err)) ==
            SDSINF_OK)
        rc = encode_block(&ctx->work->blk, yt->ncols, key, o, ctx, out,
                          nchunks, err);
    sdsinf__msg_ctx_free(&own);
    return rc;
}

/* ---- Length, peek and decode ------------------------------------------------- */

int sdsinf__msg_length(const void *data, size_t size, size_t *len,
                       sdsinf_err *err)
{
    const unsigned char *h = data;
    if (!data || size < SDSINF__MSG_HEADER)
        return sdsinf__fail(err, SDSINF_ECORRUPT, "message: %zu bytes, "
                            "shorter than the %d-byte header", data ? size : 0,
                            SDSINF__MSG_HEADER);
    if (memcmp(h, MAGIC, 4) != 0 && memcmp(h, MAGIC_REPORT, 4) != 0 &&
        memcmp(h, MAGIC_STOP, 4) != 0)
        return sdsinf__fail(err, SDSINF_ECORRUPT, "message: bad magic at "
                            "byte 0 (not an sdsinf message)");
    uint64_t n = get64(h + H_LENGTH);
    if (n > size - SDSINF__MSG_HEADER)
        return sdsinf__fail(err, SDSINF_ECORRUPT, "message: payload of %llu "
                            "bytes (byte 48) but only %zu follow the header",
                            (unsigned long long)n, size - SDSINF__MSG_HEADER);
    *len = SDSINF__MSG_HEADER + (size_t)n;
    return SDSINF_OK;
}

int sdsinf__msg_peek(const void *data, size_t size, sdsinf__msg_key *key,
                     sdsinf_err *err)
{
    const unsigned char *h = data;
    size_t len = 0;
    int rc = sdsinf__msg_length(data, size, &len, err);
    if (rc != SDSINF_OK)
        return rc;
    if (len != size)
        return sdsinf__fail(err, SDSINF_ECORRUPT, "message: %zu bytes, but "
                            "its header says %zu", size, len);
    uint32_t version = get16(h + H_VERSION), codec = get16(h + H_CODEC);
    if (version != SDSINF__MSG_VERSION)
        return sdsinf__fail(err, SDSINF_ENOTSUP, "message: format version %u "
                            "(byte 4); this sdsinf reads %d", version,
                            SDSINF__MSG_VERSION);
    if (get64(h + H_CHECKSUM) != msg_checksum(h, size - SDSINF__MSG_HEADER))
        return sdsinf__fail(err, SDSINF_ECORRUPT, "message: checksum "
                            "mismatch (damaged in transit?)");
    if (codec > SDSINF__CODEC_ZSTD)
        return sdsinf__fail(err, SDSINF_ENOTSUP, "message: unknown codec %u "
                            "(byte 6)", codec);
    sdsinf__msg_key k = {get64(h + H_RUN), le32(h + H_BATCH),
                         le32(h + H_LAYER), le32(h + H_SOURCE),
                         le32(h + H_TARGET), le32(h + H_CHUNK),
                         le32(h + H_NCHUNKS)};
    if (k.nchunks == 0 || k.chunk >= k.nchunks || le32(h + H_RESERVED))
        return sdsinf__fail(err, SDSINF_ECORRUPT, "message: chunk %u of %u, "
                            "reserved %u (bytes 32-47)", k.chunk, k.nchunks,
                            le32(h + H_RESERVED));
    if (sdsinf__msg_kind(h) == SDSINF__KIND_STOP &&
        (size != SDSINF__MSG_HEADER || k.nchunks != 1))
        return sdsinf__fail(err, SDSINF_ECORRUPT, "message: a stop of %zu "
                            "bytes in %u chunks (it is a header alone)", size,
                            k.nchunks);
    if (key)
        *key = k;
    return SDSINF_OK;
}

/* The largest payload a block of `rows` rows over `samples` samples can
 * take uncompressed (generous: any byte past it is corrupt). */
static uint64_t payload_bound(uint64_t rows, uint64_t samples)
{
    uint64_t per_row = 64 + 10 * samples; /* samples < 2^32 */
    if (rows + 1 > (UINT64_MAX - 4096) / per_row)
        return UINT64_MAX;
    return 4096 + (rows + 1) * per_row;
}

int sdsinf__msg_decode(const void *data, size_t size, int64_t samples,
                       int64_t neurons, sdsinf__msg_ctx *ctx,
                       sdsinf__rows *part, sdsinf_err *err)
{
    const unsigned char *h = data;
    sdsinf__msg_key key;
    sdsinf__msg_ctx own = {0};
    int rc;
    if (!ctx)
        ctx = &own;
    if (!part || samples < 0 || neurons < 0 || samples > UINT32_MAX ||
        neurons > (int64_t)UINT32_MAX + 1)
        return sdsinf__fail(err, SDSINF_EINVAL, "msg_decode: bad bounds "
                            "%lld samples x %lld neurons",
                            (long long)samples, (long long)neurons);
    if ((rc = sdsinf__msg_peek(data, size, &key, err)) != SDSINF_OK)
        return rc;
    if (sdsinf__msg_kind(data) != SDSINF__KIND_ROWS)
        return sdsinf__fail(err, SDSINF_ECORRUPT, "message (layer %u, %u -> "
                            "%u): a report or a stop, not a block of rows",
                            key.layer, key.source, key.target);
    if (!work_of(ctx, err))
        return SDSINF_ENOMEM;
    decoded *d = &ctx->work->dec;
    d->R = d->S = d->nv = 0;
    d->all = 0;
    const unsigned char *p = h + SDSINF__MSG_HEADER;
    size_t n = size - SDSINF__MSG_HEADER;
    uint32_t rows = le32(h + H_ROWS);
    d->where = "the header's row count (above the neurons)";
    if (rows > neurons) {
        rc = SDSINF_ECORRUPT;
        goto done;
    }
    if (get16(h + H_CODEC) == SDSINF__CODEC_ZSTD) {
        unsigned long long want = ZSTD_getFrameContentSize(p, n);
        d->where = "the zstd frame (or its size, above what the bounds allow)";
        if (want == ZSTD_CONTENTSIZE_UNKNOWN ||
            want == ZSTD_CONTENTSIZE_ERROR ||
            want > payload_bound(rows, (uint64_t)samples) ||
            ZSTD_findFrameCompressedSize(p, n) != n) {
            rc = SDSINF_ECORRUPT;
            goto done;
        }
        if (!ctx->dz)
            ctx->dz = ZSTD_createDCtx();
        if (!RESERVE(d, raw, want + 1) || !ctx->dz) {
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory to decompress "
                              "%llu bytes", want);
            goto done;
        }
        size_t got = ZSTD_decompressDCtx(ctx->dz, d->raw, (size_t)want, p,
                                         n);
        if (ZSTD_isError(got) || got != want) {
            rc = SDSINF_ECORRUPT;
            goto done;
        }
        p = d->raw;
        n = got;
    }
    if ((rc = parse_payload(p, n, rows, samples, neurons, d, err)) ==
        SDSINF_OK)
        rc = build_rows(d, samples, part, err);
done:
    if (rc == SDSINF_ECORRUPT)
        sdsinf__fail(err, rc, "message (layer %u, %u -> %u, chunk %u of %u) "
                     "for %lld samples x %lld neurons: corrupt payload at "
                     "%s", key.layer, key.source, key.target, key.chunk,
                     key.nchunks, (long long)samples, (long long)neurons,
                     d->where);
    sdsinf__msg_ctx_free(&own);
    return rc;
}

unsigned sdsinf__msg_kind(const void *data)
{
    return !memcmp(data, MAGIC_REPORT, 4) ? SDSINF__KIND_REPORT
           : !memcmp(data, MAGIC_STOP, 4) ? SDSINF__KIND_STOP
                                          : SDSINF__KIND_ROWS;
}

/* ---- Reports ------------------------------------------------------------------
 * A worker's last message, to the coordinator (layout in codec.h). */

#define REPORT_FORMAT 4u
#define RECORD_BYTES (3 * 4 + 11 * 8 + 6 * 8 + 12 * 8) /* a record, written */
#define REPORT_FIXED \
    (4 + 4 + 4 + 511 + 8 + 6 * 8 + 6 * 8 + 12 * 8 + 16 + 8 + 4 + 8)
#define BILLED_MB_MAX (1u << 20) /* a function's memory, bounded */
#define PEAK_MB_MAX (1u << 24)   /* a process's peak memory, bounded */

/* Little-endian fields of a report, written and read. */
static void w_u32(writer *w, uint32_t v)
{
    unsigned char t[4];
    put32(t, v);
    w_bytes(w, t, 4);
}

static void w_u64(writer *w, uint64_t v)
{
    unsigned char t[8];
    put64(t, v);
    w_bytes(w, t, 8);
}

static void w_f64(writer *w, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    w_u64(w, u);
}

static uint32_t r_u32(reader *r)
{
    const unsigned char *p = r_bytes(r, 4);
    return p ? le32(p) : 0;
}

static uint64_t r_u64(reader *r)
{
    const unsigned char *p = r_bytes(r, 8);
    return p ? get64(p) : 0;
}

/* A double that must be finite and at least `min` (else the reader goes
 * bad). */
static double r_f64(reader *r, double min)
{
    uint64_t u = r_u64(r);
    double d;
    memcpy(&d, &u, sizeof d);
    if (!isfinite(d) || d < min)
        r->bad = 1;
    return r->bad ? 0 : d;
}

/* The fields of a worker's totals, in payload order. */
#define TOTAL_SECONDS(X, s)                                                  \
    X(s.seconds) X(s.compute_seconds) X(s.encode_seconds) X(s.decode_seconds) \
        X(s.send_seconds) X(s.wait_seconds)
#define TOTAL_COUNTS(X, s)                                                   \
    X(s.messages_sent) X(s.bytes_sent) X(s.messages_received)                \
        X(s.bytes_received) X(s.duplicates) X(s.dropped)
/* ... and of a record, after worker, layer and targets. */
#define RECORD_COUNTS(X, r)                                                  \
    X(r.sent) X(r.sent_bytes) X(r.sent_max) X(r.sent_min) X(r.received)      \
        X(r.received_bytes) X(r.received_max) X(r.received_min)              \
            X(r.rows_sent) X(r.nnz_sent) X(r.nnz)
#define RECORD_SECONDS(X, r)                                                 \
    X(r.seconds) X(r.compute_seconds) X(r.encode_seconds)                    \
        X(r.decode_seconds) X(r.send_seconds) X(r.wait_seconds)
#define REQUESTS(X, q)                                                       \
    X(q.send) X(q.receive) X(q.empty) X(q.remove) X(q.list) X(q.retries)     \
        X(q.units) X(q.send_units) X(q.s3_put) X(q.s3_get) X(q.s3_list)      \
            X(q.s3_remove)

/* The uncompressed payload of r. */
static void report_payload(writer *w, const sdsinf__report *r, int64_t nrec)
{
    size_t m = strnlen(r->msg, sizeof r->msg - 1);
    w_u32(w, REPORT_FORMAT);
    w_u32(w, (uint32_t)r->rc);
    w_u32(w, (uint32_t)m);
    w_bytes(w, r->msg, m);
    w_f64(w, r->ready);
#define W_F64(x) w_f64(w, x);
#define W_U64(x) w_u64(w, x);
    TOTAL_SECONDS(W_F64, r->st)
    TOTAL_COUNTS(W_U64, r->st)
    REQUESTS(W_U64, r->st.storage)
    w_u64(w, r->billed_ms);
    w_u32(w, r->billed_mb);
    w_u32(w, r->arch);
    w_u32(w, r->peak_mb);
    w_u32(w, r->warm);
    w_u32(w, (uint32_t)nrec);
    for (int64_t i = 0; i < nrec; i++) {
        const sdsinf_layer_record *rec = &r->st.records[i];
        w_u32(w, (uint32_t)rec->worker);
        w_u32(w, (uint32_t)rec->layer);
        w_u32(w, rec->targets);
        RECORD_COUNTS(W_U64, (*rec))
        RECORD_SECONDS(W_F64, (*rec))
        REQUESTS(W_U64, rec->requests)
    }
#undef W_F64
#undef W_U64
    w_u64(w, (uint64_t)r->res.images);
    for (int64_t i = 0; i < r->res.images; i++)
        w_u32(w, (uint32_t)r->res.argmax[i]);
    for (int64_t i = 0; i < r->res.images; i++)
        w_f32(w, r->res.max[i]);
}

/* Writes the header of a message of kind `magic` that is no block of rows
 * (chunk c of n, len payload bytes that follow it) at h, its checksum
 * included. */
static void control_header(unsigned char *h, const char *magic,
                           const sdsinf__msg_key *key, int codec, size_t c,
                           size_t n, size_t len)
{
    memset(h, 0, SDSINF__MSG_HEADER);
    memcpy(h, magic, 4);
    put16(h + H_VERSION, SDSINF__MSG_VERSION);
    put16(h + H_CODEC, (uint32_t)codec);
    put64(h + H_RUN, key->run);
    put32(h + H_BATCH, key->batch);
    put32(h + H_LAYER, key->layer);
    put32(h + H_SOURCE, key->source);
    put32(h + H_TARGET, key->target);
    put32(h + H_CHUNK, (uint32_t)c);
    put32(h + H_NCHUNKS, (uint32_t)n);
    put64(h + H_LENGTH, len);
    put64(h + H_CHECKSUM, msg_checksum(h, len));
}

void sdsinf__note_encode(const sdsinf__msg_key *key,
                         unsigned char out[SDSINF__MSG_HEADER])
{
    sdsinf__msg_key k = *key;
    k.layer = 0;
    control_header(out, MAGIC_REPORT, &k, SDSINF__CODEC_RAW, 0, 1, 0);
}

size_t sdsinf__fail_note_encode(const sdsinf__msg_key *key, int rc,
                                const char *msg, unsigned char *out)
{
    sdsinf__msg_key k = *key;
    size_t n = strlen(msg);
    n = n < SDSINF__NOTE_MSG ? n : SDSINF__NOTE_MSG;
    k.layer = 0;
    k.batch = (uint32_t)(rc < 0 ? -rc : -SDSINF_EIO); /* as a positive */
    memcpy(out + SDSINF__MSG_HEADER, msg, n);
    control_header(out, MAGIC_REPORT, &k, SDSINF__CODEC_RAW, 0, 1, n);
    return SDSINF__MSG_HEADER + n;
}

int sdsinf__note_failure(const void *note, size_t len, sdsinf_err *err)
{
    const unsigned char *h = note;
    if (len <= SDSINF__MSG_HEADER)
        return 0;
    uint32_t code = le32(h + H_BATCH);
    size_t n = len - SDSINF__MSG_HEADER;
    n = n < sizeof err->msg - 1 ? n : sizeof err->msg - 1;
    err->code = code >= 1 && code <= 1000 ? -(int)code : SDSINF_EIO;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = h[SDSINF__MSG_HEADER + i];
        err->msg[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    err->msg[n] = 0;
    return 1;
}

sdsinf__msg_key sdsinf__stop_key(uint64_t run, int workers, int target)
{
    return (sdsinf__msg_key){run, 0, SDSINF__STOP_LAYER, (uint32_t)workers,
                             (uint32_t)target, 0, 1};
}

void sdsinf__stop_encode(const sdsinf__msg_key *key,
                         unsigned char out[SDSINF__MSG_HEADER])
{
    control_header(out, MAGIC_STOP, key, SDSINF__CODEC_RAW, 0, 1, 0);
}

int sdsinf__report_encode(const sdsinf__report *r, int32_t layers,
                          const sdsinf__msg_key *key,
                          const sdsinf__msg_opts *o, sdsinf__buf *out,
                          uint32_t *nchunks, sdsinf_err *err)
{
    sdsinf__buf raw = {0}, packed = {0};
    writer w = {&raw, 0};
    int rc = SDSINF_OK, codec = SDSINF__CODEC_RAW;
    report_payload(&w, r, r->st.records ? (int64_t)layers + 1 : 0);
    const sdsinf__buf *body = &raw;
    if (w.nomem) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a report");
        goto done;
    }
    if (o->codec == SDSINF__CODEC_ZSTD && raw.len >= ZSTD_MIN) {
        size_t bound = ZSTD_compressBound(raw.len);
        if (!buf_reserve(&packed, bound)) {
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a report");
            goto done;
        }
        size_t z = ZSTD_compress(packed.data, bound, raw.data, raw.len,
                                 o->level ? o->level : 3);
        if (ZSTD_isError(z)) {
            rc = sdsinf__fail(err, SDSINF_EINVAL, "zstd level %d: %s",
                              o->level, ZSTD_getErrorName(z));
            goto done;
        }
        packed.len = z;
        if (z < raw.len) {
            body = &packed;
            codec = SDSINF__CODEC_ZSTD;
        }
    }
    size_t piece = o->max_bytes ? o->max_bytes - SDSINF__MSG_HEADER
                                : body->len + 1;
    size_t n = body->len ? 1 + (body->len - 1) / piece : 1;
    if (o->max_bytes && o->max_bytes <= SDSINF__MSG_HEADER) {
        rc = sdsinf__fail(err, SDSINF_EINVAL, "a %zu-byte message limit "
                          "leaves no room for a report", o->max_bytes);
        goto done;
    }
    if (n > UINT32_MAX ||
        !buf_reserve(out, body->len + n * SDSINF__MSG_HEADER)) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a report");
        goto done;
    }
    for (size_t c = 0, at = 0; c < n; c++) {
        size_t len = body->len - at < piece ? body->len - at : piece;
        unsigned char *h = out->data + out->len;
        memcpy(h + SDSINF__MSG_HEADER, body->data + at, len);
        /* the checksum covers it */
        control_header(h, MAGIC_REPORT, key, codec, c, n, len);
        out->len += SDSINF__MSG_HEADER + len;
        at += len;
    }
    *nchunks = (uint32_t)n;
done:
    sdsinf__buf_free(&raw);
    sdsinf__buf_free(&packed);
    return rc;
}

/* Frees what a decoded report holds. */
void sdsinf__report_free(sdsinf__report *r)
{
    if (!r)
        return;
    sdsinf__free(r->st.records);
    sdsinf_result_free(&r->res);
    memset(r, 0, sizeof *r);
}

/* Parses a report's payload (p, n bytes); *where names the field at
 * fault. */
static int parse_report(const unsigned char *p, size_t n, int32_t worker,
                        int32_t layers, int64_t images, int32_t neurons,
                        sdsinf__report *out, const char **where,
                        sdsinf_err *err)
{
    reader r = {p, p + n, 0, 0, 0};
    sdsinf__report rep;
    memset(&rep, 0, sizeof rep);
    *where = "the format";
    if (r_u32(&r) != REPORT_FORMAT)
        return SDSINF_ECORRUPT;
    *where = "the status or the message";
    rep.rc = (int32_t)r_u32(&r);
    uint32_t m = r_u32(&r);
    const unsigned char *msg = m < sizeof rep.msg ? r_bytes(&r, m) : NULL;
    if (r.bad || !msg || memchr(msg, 0, m) || rep.rc > 0 || rep.rc < -1000)
        return SDSINF_ECORRUPT;
    memcpy(rep.msg, msg, m);
    *where = "the totals";
    rep.ready = r_f64(&r, 0);
#define R_F64(x) x = r_f64(&r, 0);
#define R_U64(x) x = r_u64(&r);
    TOTAL_SECONDS(R_F64, rep.st)
    TOTAL_COUNTS(R_U64, rep.st)
    REQUESTS(R_U64, rep.st.storage)
    if (r.bad)
        return SDSINF_ECORRUPT;
    *where = "the billed duration, memory or architecture";
    rep.billed_ms = r_u64(&r);
    rep.billed_mb = r_u32(&r);
    rep.arch = r_u32(&r);
    if (r.bad || rep.billed_mb >= BILLED_MB_MAX ||
        rep.arch > SDSINF_ARCH_ARM64 || (!rep.billed_mb && rep.billed_ms))
        return SDSINF_ECORRUPT;
    *where = "the peak memory or the warm flag";
    rep.peak_mb = r_u32(&r);
    rep.warm = r_u32(&r);
    if (r.bad || rep.peak_mb >= PEAK_MB_MAX || rep.warm > 1)
        return SDSINF_ECORRUPT;
    uint32_t nrec = r_u32(&r);
    *where = "the record count (0, or layers + 1 from a worker that ran)";
    if (r.bad || (nrec && (int64_t)nrec != (int64_t)layers + 1) ||
        (rep.rc == SDSINF_OK && !nrec))
        return SDSINF_ECORRUPT;
    *where = "a record (its worker, layer or times)";
    if (nrec && (size_t)(r.end - r.p) / RECORD_BYTES < nrec)
        return SDSINF_ECORRUPT;
    if (nrec && !(rep.st.records = sdsinf__calloc(nrec, sizeof(sdsinf_layer_record))))
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a report");
    for (uint32_t i = 0; i < nrec && !r.bad; i++) {
        sdsinf_layer_record *rec = &rep.st.records[i];
        rec->worker = (int32_t)r_u32(&r);
        rec->layer = (int32_t)r_u32(&r);
        rec->targets = r_u32(&r);
        RECORD_COUNTS(R_U64, (*rec))
        RECORD_SECONDS(R_F64, (*rec))
        REQUESTS(R_U64, rec->requests)
        if (rec->worker != worker || rec->layer != (int32_t)i + 1)
            r.bad = 1;
    }
#undef R_F64
#undef R_U64
    uint64_t M = r_u64(&r);
    *where = "the result's size (the run's images, from worker 0 alone)";
    if (r.bad || M != (worker == 0 && rep.rc == SDSINF_OK ? (uint64_t)images
                                                          : 0) ||
        M > (size_t)(r.end - r.p) / 8) {
        sdsinf__report_free(&rep);
        return SDSINF_ECORRUPT;
    }
    rep.res.images = (int64_t)M;
    rep.res.argmax = sdsinf__mallocarray((size_t)M + 1, sizeof *rep.res.argmax);
    rep.res.max = sdsinf__mallocarray((size_t)M + 1, sizeof *rep.res.max);
    if (!rep.res.argmax || !rep.res.max) {
        sdsinf__report_free(&rep);
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a report");
    }
    *where = "the result (an argmax outside the neurons, or a maximum that "
             "is negative or not finite)";
    for (uint64_t i = 0; i < M; i++) {
        int32_t a = (int32_t)r_u32(&r);
        r.bad |= a < -1 || a >= neurons;
        rep.res.argmax[i] = a;
    }
    for (uint64_t i = 0; i < M; i++) {
        float v = r_f32(&r);
        r.bad |= !isfinite(v) || v < 0;
        rep.res.max[i] = v;
    }
    if (!r.bad && r.p != r.end)
        *where = "the end (bytes after the result)";
    if (r.bad || r.p != r.end) {
        sdsinf__report_free(&rep);
        return SDSINF_ECORRUPT;
    }
    *out = rep;
    return SDSINF_OK;
}

int sdsinf__report_decode(void *const *msgs, const size_t *lens, uint32_t n,
                          int32_t worker, int32_t layers, int64_t images,
                          int32_t neurons, sdsinf__report *out,
                          sdsinf_err *err)
{
    sdsinf__buf all = {0};
    unsigned char *raw = NULL;
    const char *where = "its chunks (kinds, codecs or sizes that disagree)";
    int rc = SDSINF_ECORRUPT;
    if (layers < 0 || images < 0 || images > UINT32_MAX || neurons < 1 ||
        n == 0)
        return sdsinf__fail(err, SDSINF_EINVAL, "report_decode: bad bounds");
    uint64_t bound = REPORT_FIXED + ((uint64_t)layers + 1) * RECORD_BYTES +
                     (uint64_t)images * 8;
    const unsigned char *h0 = msgs[0];
    uint32_t codec = lens[0] >= SDSINF__MSG_HEADER ? get16(h0 + H_CODEC) : 9;
    for (uint32_t c = 0; c < n; c++) {
        const unsigned char *h = msgs[c];
        if (lens[c] < SDSINF__MSG_HEADER || get16(h + H_CODEC) != codec ||
            sdsinf__msg_kind(h) != SDSINF__KIND_REPORT ||
            lens[c] - SDSINF__MSG_HEADER > bound - all.len) {
            rc = SDSINF_ECORRUPT;
            goto done;
        }
        if (!buf_reserve(&all, lens[c] - SDSINF__MSG_HEADER + 1)) {
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a report");
            goto done;
        }
        memcpy(all.data + all.len, h + SDSINF__MSG_HEADER,
               lens[c] - SDSINF__MSG_HEADER);
        all.len += lens[c] - SDSINF__MSG_HEADER;
    }
    const unsigned char *p = all.data;
    size_t size = all.len;
    if (codec == SDSINF__CODEC_ZSTD) {
        unsigned long long want = ZSTD_getFrameContentSize(p, size);
        where = "the zstd frame (or its size, above what a report takes)";
        if (want == ZSTD_CONTENTSIZE_UNKNOWN ||
            want == ZSTD_CONTENTSIZE_ERROR || want > bound ||
            ZSTD_findFrameCompressedSize(p, size) != size)
            goto done;
        if (!(raw = sdsinf__malloc((size_t)want + 1))) {
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a report");
            goto done;
        }
        size_t got = ZSTD_decompress(raw, (size_t)want, p, size);
        if (ZSTD_isError(got) || got != want)
            goto done;
        p = raw;
        size = got;
    }
    rc = parse_report(p ? p : (const unsigned char *)"", size, worker, layers,
                      images, neurons, out, &where, err);
done:
    if (rc == SDSINF_ECORRUPT)
        sdsinf__fail(err, rc, "report of worker %d (%u chunks): corrupt at "
                     "%s", worker, n, where);
    sdsinf__buf_free(&all);
    sdsinf__free(raw);
    return rc;
}
