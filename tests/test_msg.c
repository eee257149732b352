/* test_msg.c - the message codec between workers: blocks of every shape
 * round-trip under both codecs (from sample-major and transposed
 * activations alike), chunks obey their limit and decode alone, the header
 * is the documented one, and damaged messages (truncated, a byte flipped,
 * out of bounds, foreign) fail cleanly, as does running out of memory; a
 * ctx kept across blocks encodes and decodes as a fresh one. */
#include "testutil.h"

#include "run/codec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Helpers ------------------------------------------------------------ */

static uint64_t rng_state = 12345;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double unit(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* How a test block's values are drawn. */
enum { V_VARIED, V_CAP, V_FEW, V_MIXED };

static float draw(int kind)
{
    switch (kind) {
    case V_CAP:
        return 32.0f;
    case V_FEW: /* at most 20 distinct: a table */
        return 0.0625f * (float)(1 + rnd() % 20);
    case V_MIXED: /* mostly the cap, some repeats, some noise */
        if (rnd() % 3)
            return 32.0f;
        return rnd() % 2 ? 0.0625f * (float)(1 + rnd() % 5)
                         : (float)(unit() * 31 + 0.001);
    default:
        return (float)(unit() * 31 + 1e-3);
    }
}

/* A B x N dense array with the given density (caller frees). */
static float *random_dense(int64_t B, int64_t N, double density, int kind)
{
    float *d = calloc((size_t)(B * N), sizeof *d);
    assert_non_null(d);
    for (int64_t i = 0; i < B * N; i++)
        if (unit() < density)
            d[i] = draw(kind);
    return d;
}

/* Rows 0..N-1 kept with probability p (ascending); returns the count. */
static int64_t random_rows(int64_t N, double p, uint32_t *rows)
{
    int64_t n = 0;
    for (int64_t i = 0; i < N; i++)
        if (unit() < p)
            rows[n++] = (uint32_t)i;
    return n;
}

static sdsinf__msg_opts opts(int codec, int level, size_t max_bytes)
{
    sdsinf__msg_opts o = {codec, level, max_bytes, NULL, 0};
    return o;
}

static const sdsinf__msg_key KEY = {0x0123456789abcdefull, 7, 9, 2, 5, 0, 0};

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* The checksum as run/codec.h defines it. */
static uint64_t expected_checksum(const unsigned char *m, size_t size)
{
    unsigned char h[SDSINF__MSG_HEADER];
    memcpy(h, m, sizeof h);
    memset(h + 56, 0, 8);
    uint64_t c = sdsinf__checksum(h, sizeof h, 0);
    return sdsinf__checksum(m + SDSINF__MSG_HEADER, size - SDSINF__MSG_HEADER,
                            c);
}

static void fix_checksum(unsigned char *m, size_t size)
{
    put_le(m + 56, expected_checksum(m, size), 8);
}

/* Encodes rows of y both ways (sample-major and transposed); the two must
 * give the same bytes.  Returns the status; *out gets the messages. */
static int encode(const sdsinf_csr *y, const uint32_t *rows, int64_t nrows,
                  const sdsinf__msg_opts *o, sdsinf__buf *out,
                  uint32_t *nchunks)
{
    sdsinf_err err = {0};
    sdsinf_csr yt = {0};
    sdsinf__buf other = {0};
    uint32_t n2 = 0;
    int rc = sdsinf__msg_encode(y, rows, nrows, &KEY, o, out, nchunks, &err);
    assert_int_equal(sdsinf_csr_transpose(y, &yt, NULL), SDSINF_OK);
    int rc2 = sdsinf__msg_encode_t(&yt, rows, NULL, nrows, &KEY, o, &other,
                                   &n2, NULL);
    assert_int_equal(rc, rc2);
    if (rc == SDSINF_OK) {
        assert_int_equal(*nchunks, n2);
        assert_int_equal(out->len, other.len);
        assert_memory_equal(out->data, other.data, out->len);
    } else
        assert_true(err.msg[0] != 0);
    sdsinf__buf_free(&other);
    sdsinf_csr_free(&yt);
    return rc;
}

/* sdsinf__msg_decode with its rows put back sample-major (B x N), the
 * shape the tests compare. */
static int decode_sm(const void *m, size_t size, int64_t B, int64_t N,
                     sdsinf_csr *part, sdsinf_err *err)
{
    sdsinf__rows r = {0};
    sdsinf_csr full = {0};
    int rc = sdsinf__msg_decode(m, size, B, N, NULL, &r, err);
    if (rc != SDSINF_OK)
        return rc;
    assert_int_equal(r.m.ncols, B);
    assert_int_equal(sdsinf_csr_alloc(&full, N, B, sdsinf_csr_nnz(&r.m),
                                      NULL), SDSINF_OK);
    for (int64_t i = 0; i < r.m.nrows; i++) {
        assert_true(r.id[i] < N && (i == 0 || r.id[i] > r.id[i - 1]));
        assert_true(r.m.rowptr[i + 1] > r.m.rowptr[i]); /* listed: nonempty */
        full.rowptr[r.id[i] + 1] = r.m.rowptr[i + 1] - r.m.rowptr[i];
    }
    for (int64_t k = 0; k < N; k++)
        full.rowptr[k + 1] += full.rowptr[k];
    memcpy(full.col, r.m.col, (size_t)sdsinf_csr_nnz(&r.m) * sizeof *full.col);
    memcpy(full.val, r.m.val, (size_t)sdsinf_csr_nnz(&r.m) * sizeof *full.val);
    assert_int_equal(sdsinf_csr_transpose(&full, part, NULL), SDSINF_OK);
    sdsinf_csr_free(&full);
    sdsinf__rows_free(&r);
    return SDSINF_OK;
}

/* Decodes every message of buf (nchunks of them, each at most max_bytes
 * when that is set) and checks that together they are exactly the rows of
 * the dense B x N input, and every entry comes once. */
static void check_messages(const sdsinf__buf *buf, uint32_t nchunks,
                           size_t max_bytes, const float *dense, int64_t B,
                           int64_t N, const uint32_t *rows, int64_t nrows)
{
    float *back = calloc((size_t)(B * N) + 1, sizeof *back);
    char *in = calloc((size_t)N + 1, 1);
    assert_true(back && in);
    for (int64_t i = 0; i < nrows; i++)
        in[rows[i]] = 1;
    size_t at = 0;
    for (uint32_t c = 0; c < nchunks; c++) {
        size_t len;
        sdsinf__msg_key k;
        sdsinf_csr part = {0};
        sdsinf_err err;
        assert_int_equal(sdsinf__msg_length(buf->data + at, buf->len - at,
                                            &len, &err), SDSINF_OK);
        assert_true(max_bytes == 0 || len <= max_bytes);
        assert_int_equal(sdsinf__msg_peek(buf->data + at, len, &k, &err),
                         SDSINF_OK);
        assert_true(k.run == KEY.run && k.batch == KEY.batch &&
                    k.layer == KEY.layer && k.source == KEY.source &&
                    k.target == KEY.target);
        assert_int_equal(k.chunk, c);
        assert_int_equal(k.nchunks, nchunks);
        int rc = decode_sm(buf->data + at, len, B, N, &part, &err);
        if (rc != SDSINF_OK)
            fail_msg("chunk %u: %s", c, err.msg);
        assert_int_equal(part.nrows, B);
        assert_int_equal(part.ncols, N);
        for (int64_t s = 0; s < B; s++)
            for (int64_t e = part.rowptr[s]; e < part.rowptr[s + 1]; e++) {
                uint32_t n = part.col[e];
                assert_true(n < N && in[n]);
                assert_true(e == part.rowptr[s] || n > part.col[e - 1]);
                assert_true(back[s * N + n] == 0); /* once only */
                back[s * N + n] = part.val[e];
            }
        sdsinf_csr_free(&part);
        at += len;
    }
    assert_int_equal(at, buf->len);
    for (int64_t s = 0; s < B; s++)
        for (int64_t n = 0; n < N; n++) {
            float want = in[n] ? dense[s * N + n] : 0;
            assert_memory_equal(&back[s * N + n], &want, sizeof want);
        }
    free(in);
    free(back);
}

/* Round trip of a dense-described block under options o. */
static void round_trip(const float *dense, int64_t B, int64_t N,
                       const uint32_t *rows, int64_t nrows,
                       const sdsinf__msg_opts *o)
{
    sdsinf_csr y = {0};
    sdsinf__buf buf = {0};
    uint32_t nchunks = 0;
    tu_csr_dense(&y, B, N, dense);
    assert_int_equal(encode(&y, rows, nrows, o, &buf, &nchunks), SDSINF_OK);
    assert_true(nchunks >= 1);
    check_messages(&buf, nchunks, o->max_bytes, dense, B, N, rows, nrows);
    sdsinf__buf_free(&buf);
    sdsinf_csr_free(&y);
}

/* One message of a small block, for the damage tests (caller frees). */
static unsigned char *sample_message(int codec, size_t *size, int64_t *B,
                                     int64_t *N)
{
    *B = 30;
    *N = 20;
    float *d = random_dense(*B, *N, 0.4, V_MIXED);
    uint32_t rows[20];
    int64_t nrows = 0;
    for (uint32_t i = 0; i < 20; i += 2)
        rows[nrows++] = i;
    for (int64_t s = 0; s < *B; s++) /* two identical rows: a copy */
        d[s * *N + 4] = d[s * *N + 2];
    sdsinf_csr y = {0};
    sdsinf__buf buf = {0};
    uint32_t nchunks;
    sdsinf__msg_opts o = opts(codec, 3, 0);
    tu_csr_dense(&y, *B, *N, d);
    assert_int_equal(encode(&y, rows, nrows, &o, &buf, &nchunks), SDSINF_OK);
    assert_int_equal(nchunks, 1);
    *size = buf.len;
    sdsinf_csr_free(&y);
    free(d);
    return buf.data;
}

/* ---- Round trips ------------------------------------------------------------ */

static void test_round_trip_random(void **state)
{
    (void)state;
    const int64_t shapes[][2] = {{1, 1}, {1, 50}, {50, 1}, {37, 64},
                                 {200, 33}, {1000, 16}};
    const double densities[] = {0.01, 0.2, 0.7, 1.0};
    for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++)
        for (size_t di = 0; di < 4; di++)
            for (int kind = V_VARIED; kind <= V_MIXED; kind++) {
                int64_t B = shapes[sh][0], N = shapes[sh][1];
                float *d = random_dense(B, N, densities[di], kind);
                uint32_t *rows = malloc((size_t)N * sizeof *rows);
                int64_t nrows = random_rows(N, 0.6, rows);
                for (int codec = 0; codec < 2; codec++) {
                    sdsinf__msg_opts o = opts(codec, 1 + 2 * codec, 0);
                    round_trip(d, B, N, rows, nrows, &o);
                }
                free(rows);
                free(d);
            }
}

/* All rows present at every live sample with the cap (the late layers of
 * the real network): the message is a few bytes past the sample set. */
static void test_round_trip_dense_cap(void **state)
{
    (void)state;
    enum { B = 6000, N = 64 };
    float *d = calloc(B * N, sizeof *d);
    uint32_t rows[N];
    int64_t live = 0;
    assert_non_null(d);
    for (int64_t s = 0; s < B; s++)
        if (rnd() % 33 == 0) {
            live++;
            for (int64_t n = 0; n < N; n++)
                d[s * N + n] = 32.0f;
        }
    for (uint32_t n = 0; n < N; n++)
        rows[n] = n;
    for (int codec = 0; codec < 2; codec++) {
        sdsinf__msg_opts o = opts(codec, 3, 0);
        sdsinf_csr y = {0};
        sdsinf__buf buf = {0};
        uint32_t nchunks;
        tu_csr_dense(&y, B, N, d);
        assert_int_equal(encode(&y, rows, N, &o, &buf, &nchunks), SDSINF_OK);
        assert_int_equal(nchunks, 1);
        /* header + the set (about 8 bits a sample) + a few bytes */
        assert_true(buf.len < SDSINF__MSG_HEADER + (size_t)live + 40);
        check_messages(&buf, nchunks, 0, d, B, N, rows, N);
        sdsinf__buf_free(&buf);
        sdsinf_csr_free(&y);
    }
    free(d);
}

/* Copies of rows (neurons with the same inputs) in runs and apart, rows
 * nearly full (absent lists), and a table of values. */
static void test_round_trip_copies(void **state)
{
    (void)state;
    enum { B = 300, N = 40 };
    float *d = random_dense(B, N, 0.9, V_FEW);
    uint32_t rows[N];
    for (int64_t s = 0; s < B; s++)
        for (int64_t n = 10; n < 20; n++)
            d[s * N + n] = d[s * N + 3]; /* a run of copies of row 3 */
    for (int64_t s = 0; s < B; s++) {
        d[s * N + 30] = d[s * N + 5]; /* copies further back */
        d[s * N + 33] = d[s * N + 21];
    }
    for (uint32_t n = 0; n < N; n++)
        rows[n] = n;
    for (int codec = 0; codec < 2; codec++) {
        sdsinf__msg_opts o = opts(codec, 3, 0);
        round_trip(d, B, N, rows, N, &o);
        round_trip(d, B, N, rows + 4, N - 4, &o); /* the original absent */
    }
    free(d);
}

/* Every value its own (raw), many repeats plus noise (mixed), and the
 * extremes of float32. */
static void test_round_trip_values(void **state)
{
    (void)state;
    enum { B = 80, N = 12 };
    float *d = random_dense(B, N, 0.8, V_VARIED);
    uint32_t rows[N];
    const float odd[] = {1e-45f, 1.17549435e-38f, 3.4028235e38f, 1.0f,
                         0.3f, 31.999998f};
    for (int i = 0; i < 6; i++)
        d[i * N + i] = odd[i];
    for (uint32_t n = 0; n < N; n++)
        rows[n] = n;
    for (int codec = 0; codec < 2; codec++) {
        sdsinf__msg_opts o = opts(codec, 9, 0);
        round_trip(d, B, N, rows, N, &o);
        for (int64_t i = 0; i < B * N; i++) /* 300 distinct + repeats */
            if (d[i] != 0 && i % 2)
                d[i] = 0.5f * (float)(i % 300 + 1);
        round_trip(d, B, N, rows, N, &o);
    }
    free(d);
}

/* Empty rows, a block of empty rows, no rows at all, no samples at all:
 * always exactly one message, which decodes to an empty part. */
static void test_empty(void **state)
{
    (void)state;
    enum { B = 10, N = 8 };
    float d[B * N] = {0};
    uint32_t rows[N] = {0, 1, 2, 3, 4, 5, 6, 7};
    d[3 * N + 5] = 2.5f; /* one entry, outside the rows below */
    for (int codec = 0; codec < 2; codec++) {
        sdsinf__msg_opts o = opts(codec, 3, 0);
        round_trip(d, B, N, rows, 5, &o);  /* rows 0-4: all empty */
        round_trip(d, B, N, rows, 0, &o);  /* no rows */
        round_trip(d, B, N, NULL, 0, &o);
        round_trip(d, B, N, rows, N, &o);  /* one entry, empty rows around */
        round_trip(d, 0, N, rows, N, &o);  /* no samples */
        o.max_bytes = SDSINF__MSG_HEADER + 8;
        round_trip(d, B, N, rows, 5, &o);
        sdsinf_csr y = {0};
        sdsinf__buf buf = {0};
        uint32_t nchunks = 9;
        tu_csr_dense(&y, B, N, d);
        assert_int_equal(encode(&y, rows, 3, &o, &buf, &nchunks), SDSINF_OK);
        assert_int_equal(nchunks, 1);
        assert_true(buf.len <= SDSINF__MSG_HEADER + 8);
        assert_int_equal(get_le(buf.data + 40, 4), 0); /* rows */
        sdsinf__buf_free(&buf);
        o.max_bytes = SDSINF__MSG_HEADER; /* not even an empty block fits */
        assert_int_equal(encode(&y, rows, 3, &o, &buf, &nchunks),
                         SDSINF_EINVAL);
        assert_int_equal(buf.len, 0);
        sdsinf__buf_free(&buf);
        sdsinf_csr_free(&y);
    }
}

static void test_single_sample(void **state)
{
    (void)state;
    float d[1 * 30] = {0};
    uint32_t rows[30];
    for (uint32_t n = 0; n < 30; n++) {
        rows[n] = n;
        d[n] = n % 3 ? 1.5f + (float)n : 0;
    }
    for (int codec = 0; codec < 2; codec++) {
        sdsinf__msg_opts o = opts(codec, 3, 0);
        round_trip(d, 1, 30, rows, 30, &o);
        round_trip(d, 1, 30, rows + 29, 1, &o); /* the last row alone */
    }
    /* One sample far into a large batch, one neuron far into a layer. */
    enum { B = 5000, N = 3000 };
    sdsinf_csr y = {0};
    assert_int_equal(sdsinf_csr_alloc(&y, B, N, 1, NULL), SDSINF_OK);
    for (int64_t s = 4999; s < B; s++)
        y.rowptr[s + 1] = 1;
    y.col[0] = 2999;
    y.val[0] = 7.0f;
    uint32_t row = 2999;
    sdsinf__buf buf = {0};
    uint32_t nchunks;
    sdsinf__msg_opts o = opts(SDSINF__CODEC_ZSTD, 3, 0);
    assert_int_equal(encode(&y, &row, 1, &o, &buf, &nchunks), SDSINF_OK);
    sdsinf_csr part = {0};
    assert_int_equal(decode_sm(buf.data, buf.len, B, N, &part, NULL),
                     SDSINF_OK);
    assert_int_equal(sdsinf_csr_nnz(&part), 1);
    assert_int_equal(part.rowptr[4999], 0);
    assert_int_equal(part.col[0], 2999);
    assert_true(part.val[0] == 7.0f);
    /* the bounds are exactly what the message needs */
    sdsinf_csr_free(&part);
    assert_int_equal(decode_sm(buf.data, buf.len, B - 1, N, &part,
                                        NULL), SDSINF_ECORRUPT);
    assert_int_equal(decode_sm(buf.data, buf.len, B, N - 1, &part,
                                        NULL), SDSINF_ECORRUPT);
    assert_null(part.rowptr);
    sdsinf__buf_free(&buf);
    sdsinf_csr_free(&y);
}

/* ---- Chunks ----------------------------------------------------------------- */

static void test_chunks(void **state)
{
    (void)state;
    enum { B = 400, N = 90 };
    float *d = random_dense(B, N, 0.5, V_VARIED);
    uint32_t rows[N];
    int64_t nrows = random_rows(N, 0.8, rows);
    const size_t limits[] = {0, 100000, 20000, 6000, 2500, 1400};
    for (int codec = 0; codec < 2; codec++)
        for (size_t i = 0; i < sizeof limits / sizeof *limits; i++) {
            sdsinf__msg_opts o = opts(codec, 3, limits[i]);
            sdsinf_csr y = {0};
            sdsinf__buf buf = {0};
            uint32_t nchunks = 0;
            tu_csr_dense(&y, B, N, d);
            assert_int_equal(encode(&y, rows, nrows, &o, &buf, &nchunks),
                             SDSINF_OK);
            if (limits[i] && limits[i] < 20000)
                assert_true(nchunks > 1);
            check_messages(&buf, nchunks, limits[i], d, B, N, rows, nrows);
            sdsinf__buf_free(&buf);
            sdsinf_csr_free(&y);
        }
    /* A row that cannot fit alone: a clear error, out untouched. */
    sdsinf_csr y = {0};
    sdsinf__buf buf = {0};
    uint32_t nchunks = 0;
    sdsinf_err err;
    tu_csr_dense(&y, B, N, d);
    unsigned char keep[3] = {1, 2, 3};
    buf.data = malloc(3);
    memcpy(buf.data, keep, 3);
    buf.len = buf.cap = 3;
    sdsinf__msg_opts o = opts(SDSINF__CODEC_RAW, 0, 500);
    assert_int_equal(sdsinf__msg_encode(&y, rows, nrows, &KEY, &o, &buf,
                                        &nchunks, &err), SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "alone takes"));
    assert_int_equal(buf.len, 3);
    assert_memory_equal(buf.data, keep, 3);
    /* Appending: earlier content stays, messages follow it. */
    o.max_bytes = 0;
    assert_int_equal(sdsinf__msg_encode(&y, rows, nrows, &KEY, &o, &buf,
                                        &nchunks, &err), SDSINF_OK);
    assert_memory_equal(buf.data, keep, 3);
    size_t len;
    assert_int_equal(sdsinf__msg_length(buf.data + 3, buf.len - 3, &len,
                                        NULL), SDSINF_OK);
    assert_int_equal(len, buf.len - 3);
    sdsinf__buf_free(&buf);
    sdsinf__buf_free(&buf); /* twice is fine */
    sdsinf__buf_free(NULL);
    sdsinf_csr_free(&y);
    free(d);
}

/* whole_above: a block whose whole message, or whose chunks together, are
 * over it stays one message (the bytes of an encoding without a limit);
 * one whose chunks are not over it is cut as without the option. */
static void test_whole_above(void **state)
{
    (void)state;
    enum { B = 400, N = 90 };
    float *d = random_dense(B, N, 0.5, V_VARIED);
    uint32_t rows[N];
    int64_t nrows = random_rows(N, 0.8, rows);
    sdsinf_csr y = {0};
    sdsinf__buf whole = {0}, cut = {0}, buf = {0};
    uint32_t n1 = 0, n2 = 0, n = 0;
    tu_csr_dense(&y, B, N, d);
    sdsinf__msg_opts o = opts(SDSINF__CODEC_ZSTD, 3, 0);
    assert_int_equal(encode(&y, rows, nrows, &o, &whole, &n1), SDSINF_OK);
    assert_int_equal(n1, 1);
    o.max_bytes = whole.len / 3;
    assert_int_equal(encode(&y, rows, nrows, &o, &cut, &n2), SDSINF_OK);
    assert_true(n2 > 1);
    o.whole_above = whole.len - 1; /* over it: whole */
    assert_int_equal(encode(&y, rows, nrows, &o, &buf, &n), SDSINF_OK);
    assert_int_equal(n, 1);
    assert_int_equal(buf.len, whole.len);
    assert_memory_equal(buf.data, whole.data, whole.len);
    check_messages(&buf, n, 0, d, B, N, rows, nrows);
    buf.len = 0;
    o.whole_above = cut.len - 1; /* the whole is not over it, the chunks are */
    assert_true(o.whole_above >= whole.len);
    assert_int_equal(encode(&y, rows, nrows, &o, &buf, &n), SDSINF_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(buf.data, whole.data, whole.len);
    buf.len = 0;
    o.whole_above = cut.len; /* chunks not over it: chunks, as without */
    assert_int_equal(encode(&y, rows, nrows, &o, &buf, &n), SDSINF_OK);
    assert_int_equal(n, n2);
    assert_int_equal(buf.len, cut.len);
    assert_memory_equal(buf.data, cut.data, cut.len);
    check_messages(&buf, n, o.max_bytes, d, B, N, rows, nrows);
    sdsinf__buf_free(&whole);
    sdsinf__buf_free(&cut);
    sdsinf__buf_free(&buf);
    sdsinf_csr_free(&y);
    free(d);
}

/* ---- The header and concatenations ------------------------------------------ */

static void test_header_layout(void **state)
{
    (void)state;
    size_t size;
    int64_t B, N;
    for (int codec = 0; codec < 2; codec++) {
        unsigned char *m = sample_message(codec, &size, &B, &N);
        assert_memory_equal(m, "SDM1", 4);
        assert_int_equal(get_le(m + 4, 2), SDSINF__MSG_VERSION);
        assert_true(get_le(m + 6, 2) <= 1);
        assert_true(get_le(m + 8, 8) == KEY.run);
        assert_int_equal(get_le(m + 16, 4), KEY.batch);
        assert_int_equal(get_le(m + 20, 4), KEY.layer);
        assert_int_equal(get_le(m + 24, 4), KEY.source);
        assert_int_equal(get_le(m + 28, 4), KEY.target);
        assert_int_equal(get_le(m + 32, 4), 0);  /* chunk */
        assert_int_equal(get_le(m + 36, 4), 1);  /* nchunks */
        assert_int_equal(get_le(m + 40, 4), 10); /* rows, all nonempty */
        assert_int_equal(get_le(m + 44, 4), 0);
        assert_int_equal(get_le(m + 48, 8), size - SDSINF__MSG_HEADER);
        assert_true(get_le(m + 56, 8) == expected_checksum(m, size));
        free(m);
    }
    /* zstd that gains nothing is not used: the header says raw. */
    float d[2] = {3.0f, 5.0f};
    uint32_t rows[2] = {0, 1};
    sdsinf_csr y = {0};
    sdsinf__buf buf = {0};
    uint32_t nchunks;
    sdsinf__msg_opts o = opts(SDSINF__CODEC_ZSTD, 3, 0);
    tu_csr_dense(&y, 1, 2, d);
    assert_int_equal(encode(&y, rows, 2, &o, &buf, &nchunks), SDSINF_OK);
    assert_int_equal(get_le(buf.data + 6, 2), SDSINF__CODEC_RAW);
    sdsinf__buf_free(&buf);
    sdsinf_csr_free(&y);
}

static void test_concatenation(void **state)
{
    (void)state;
    enum { B = 50, N = 30 };
    float *d = random_dense(B, N, 0.5, V_VARIED);
    uint32_t rows[N];
    int64_t nrows = random_rows(N, 1.0, rows);
    sdsinf_csr y = {0};
    sdsinf__buf buf = {0};
    uint32_t total = 0, nchunks;
    tu_csr_dense(&y, B, N, d);
    /* three blocks back to back, the middle one chunked */
    sdsinf__msg_opts o = opts(SDSINF__CODEC_ZSTD, 1, 0);
    assert_int_equal(encode(&y, rows, 10, &o, &buf, &nchunks), SDSINF_OK);
    total += nchunks;
    o.max_bytes = 700;
    sdsinf__buf mid = {0};
    assert_int_equal(encode(&y, rows + 10, nrows - 10, &o, &mid, &nchunks),
                     SDSINF_OK);
    assert_true(nchunks > 1);
    size_t before = buf.len;
    buf.data = realloc(buf.data, buf.len + mid.len);
    memcpy(buf.data + buf.len, mid.data, mid.len);
    buf.len += mid.len;
    buf.cap = buf.len;
    total += nchunks;
    o.max_bytes = 0;
    o.codec = SDSINF__CODEC_RAW;
    assert_int_equal(sdsinf__msg_encode(&y, rows, 0, &KEY, &o, &buf, &nchunks,
                                        NULL), SDSINF_OK);
    total += nchunks;
    size_t at = 0, len;
    uint32_t seen = 0;
    while (at < buf.len) {
        sdsinf__msg_key k;
        assert_int_equal(sdsinf__msg_length(buf.data + at, buf.len - at, &len,
                                            NULL), SDSINF_OK);
        assert_int_equal(sdsinf__msg_peek(buf.data + at, len, &k, NULL),
                         SDSINF_OK);
        if (at >= before && at < before + mid.len)
            assert_true(k.nchunks > 1);
        /* peek of the rest (more than one message) is refused */
        if (at + len < buf.len)
            assert_int_equal(sdsinf__msg_peek(buf.data + at, buf.len - at, &k,
                                              NULL), SDSINF_ECORRUPT);
        at += len;
        seen++;
    }
    assert_int_equal(at, buf.len);
    assert_int_equal(seen, total);
    /* a cut concatenation: the last message's length is refused */
    sdsinf_err err;
    assert_int_equal(sdsinf__msg_length(buf.data + at - len, len - 1, &len,
                                        &err), SDSINF_ECORRUPT);
    assert_true(err.msg[0] != 0);
    sdsinf__buf_free(&mid);
    sdsinf__buf_free(&buf);
    sdsinf_csr_free(&y);
    free(d);
}

/* ---- Damage ------------------------------------------------------------------ */

/* A decode of damaged bytes: an error with a message, or (possible only
 * when the damage kept the checksum right) a well-formed part. */
static int decode_damaged(const unsigned char *m, size_t size, int64_t B,
                          int64_t N)
{
    sdsinf_csr part = {0};
    sdsinf_err err = {0};
    int rc = decode_sm(m, size, B, N, &part, &err);
    if (rc == SDSINF_OK) {
        assert_int_equal(part.nrows, B);
        for (int64_t s = 0; s < B; s++)
            for (int64_t e = part.rowptr[s]; e < part.rowptr[s + 1]; e++) {
                assert_true(part.col[e] < N);
                assert_true(part.val[e] > 0 && isfinite(part.val[e]));
            }
    } else {
        assert_true(rc == SDSINF_ECORRUPT || rc == SDSINF_ENOTSUP);
        assert_int_equal(err.code, rc);
        assert_true(err.msg[0] != 0);
        assert_null(part.rowptr);
    }
    sdsinf_csr_free(&part);
    return rc;
}

static void test_truncated(void **state)
{
    (void)state;
    for (int codec = 0; codec < 2; codec++) {
        size_t size;
        int64_t B, N;
        unsigned char *m = sample_message(codec, &size, &B, &N);
        for (size_t cut = 0; cut < size; cut++) {
            unsigned char *t = malloc(cut ? cut : 1);
            memcpy(t, m, cut);
            size_t len;
            sdsinf__msg_key k;
            assert_int_not_equal(sdsinf__msg_length(t, cut, &len, NULL),
                                 SDSINF_OK);
            assert_int_not_equal(sdsinf__msg_peek(t, cut, &k, NULL),
                                 SDSINF_OK);
            assert_int_not_equal(decode_damaged(t, cut, B, N), SDSINF_OK);
            if (cut > SDSINF__MSG_HEADER) { /* length and checksum made
                                               right: the payload is cut */
                put_le(t + 48, cut - SDSINF__MSG_HEADER, 8);
                fix_checksum(t, cut);
                assert_int_equal(sdsinf__msg_peek(t, cut, &k, NULL),
                                 SDSINF_OK);
                assert_int_equal(decode_damaged(t, cut, B, N),
                                 SDSINF_ECORRUPT);
            }
            free(t);
        }
        /* trailing bytes after a message */
        unsigned char *t = malloc(size + 1);
        memcpy(t, m, size);
        t[size] = 0;
        assert_int_not_equal(decode_damaged(t, size + 1, B, N), SDSINF_OK);
        free(t);
        free(m);
    }
}

static void test_flipped(void **state)
{
    (void)state;
    for (int codec = 0; codec < 2; codec++) {
        size_t size;
        int64_t B, N;
        unsigned char *m = sample_message(codec, &size, &B, &N);
        unsigned char *t = malloc(size);
        for (size_t i = 0; i < size; i++)
            for (int bit = 0; bit < 8; bit += 3) {
                memcpy(t, m, size);
                t[i] ^= (unsigned char)(1u << bit);
                assert_int_not_equal(decode_damaged(t, size, B, N), SDSINF_OK);
                /* the same behind a right checksum: errors or sane parts */
                if (i < 56 || i >= 64) {
                    fix_checksum(t, size);
                    decode_damaged(t, size, B, N);
                }
                /* random bytes behind the header */
                if (i >= SDSINF__MSG_HEADER) {
                    t[i] = (unsigned char)rnd();
                    fix_checksum(t, size);
                    decode_damaged(t, size, B, N);
                }
            }
        free(t);
        free(m);
    }
}

static void test_foreign(void **state)
{
    (void)state;
    size_t size;
    int64_t B, N;
    unsigned char *m = sample_message(SDSINF__CODEC_ZSTD, &size, &B, &N);
    sdsinf__msg_key k;
    sdsinf_err err;
    /* a later format version: not supported, said so */
    put_le(m + 4, SDSINF__MSG_VERSION + 1, 2);
    fix_checksum(m, size);
    assert_int_equal(sdsinf__msg_peek(m, size, &k, &err), SDSINF_ENOTSUP);
    assert_non_null(strstr(err.msg, "version"));
    put_le(m + 4, SDSINF__MSG_VERSION, 2);
    /* an unknown codec (small payloads go raw even under zstd) */
    unsigned codec = m[6] | (unsigned)m[7] << 8;
    put_le(m + 6, 7, 2);
    fix_checksum(m, size);
    assert_int_equal(sdsinf__msg_peek(m, size, &k, &err), SDSINF_ENOTSUP);
    put_le(m + 6, codec, 2);
    /* chunk numbers out of order, the reserved field set */
    put_le(m + 32, 1, 4);
    fix_checksum(m, size);
    assert_int_equal(sdsinf__msg_peek(m, size, &k, &err), SDSINF_ECORRUPT);
    put_le(m + 32, 0, 4);
    put_le(m + 36, 0, 4);
    fix_checksum(m, size);
    assert_int_equal(sdsinf__msg_peek(m, size, &k, &err), SDSINF_ECORRUPT);
    put_le(m + 36, 1, 4);
    put_le(m + 44, 1, 4);
    fix_checksum(m, size);
    assert_int_equal(sdsinf__msg_peek(m, size, &k, &err), SDSINF_ECORRUPT);
    put_le(m + 44, 0, 4);
    /* a row count other than the payload's */
    put_le(m + 40, 9, 4);
    fix_checksum(m, size);
    assert_int_equal(sdsinf__msg_peek(m, size, &k, &err), SDSINF_OK);
    assert_int_equal(decode_damaged(m, size, B, N), SDSINF_ECORRUPT);
    put_le(m + 40, 10, 4);
    fix_checksum(m, size);
    assert_int_equal(decode_damaged(m, size, B, N), SDSINF_OK);
    /* not a message at all */
    assert_int_equal(sdsinf__msg_length("SDSINFMB", 8, &size, &err),
                     SDSINF_ECORRUPT);
    memcpy(m, "XDM1", 4);
    assert_int_equal(sdsinf__msg_peek(m, size, &k, &err), SDSINF_ECORRUPT);
    assert_int_equal(sdsinf__msg_length(NULL, 0, &size, &err),
                     SDSINF_ECORRUPT);
    free(m);
}

/* Under the zstd codec a payload below 1 KiB goes raw (zstd gains nothing
 * there), a large compressible one compressed; both decode. */
static void test_zstd_threshold(void **state)
{
    (void)state;
    size_t size;
    int64_t B, N;
    unsigned char *m = sample_message(SDSINF__CODEC_ZSTD, &size, &B, &N);
    assert_true(size < 64 + 1024);
    assert_int_equal(m[6] | m[7] << 8, SDSINF__CODEC_RAW);
    free(m);
    enum { BB = 600, NN = 40 };
    float *d = random_dense(BB, NN, 0.5, V_VARIED);
    uint32_t rows[NN];
    for (uint32_t n = 0; n < NN; n++)
        rows[n] = n;
    sdsinf_csr y = {0};
    sdsinf__buf buf = {0};
    uint32_t nchunks;
    sdsinf__msg_opts o = opts(SDSINF__CODEC_ZSTD, 3, 0);
    tu_csr_dense(&y, BB, NN, d);
    assert_int_equal(encode(&y, rows, NN, &o, &buf, &nchunks), SDSINF_OK);
    assert_int_equal(buf.data[6] | buf.data[7] << 8, SDSINF__CODEC_ZSTD);
    sdsinf__buf_free(&buf);
    sdsinf_csr_free(&y);
    round_trip(d, BB, NN, rows, NN, &o);
    free(d);
}

/* Every index is checked against the decoder's bounds. */
static void test_decode_bounds(void **state)
{
    (void)state;
    enum { B = 40, N = 25 };
    float *d = random_dense(B, N, 0.3, V_VARIED);
    uint32_t rows[N];
    for (uint32_t n = 0; n < N; n++)
        rows[n] = n;
    d[(B - 1) * N + N - 1] = 1.0f; /* the last sample and neuron are used */
    sdsinf_csr y = {0}, part = {0};
    sdsinf__buf buf = {0};
    uint32_t nchunks;
    tu_csr_dense(&y, B, N, d);
    for (int codec = 0; codec < 2; codec++) {
        sdsinf__msg_opts o = opts(codec, 3, 0);
        buf.len = 0;
        assert_int_equal(encode(&y, rows, N, &o, &buf, &nchunks), SDSINF_OK);
        assert_int_equal(decode_sm(buf.data, buf.len, B, N, &part,
                                            NULL), SDSINF_OK);
        sdsinf_csr_free(&part);
        assert_int_equal(decode_sm(buf.data, buf.len, B + 100, N + 7,
                                            &part, NULL), SDSINF_OK);
        assert_int_equal(part.nrows, B + 100);
        assert_int_equal(part.ncols, N + 7);
        sdsinf_csr_free(&part);
        assert_int_equal(decode_damaged(buf.data, buf.len, B - 1, N),
                         SDSINF_ECORRUPT);
        assert_int_equal(decode_damaged(buf.data, buf.len, B, N - 1),
                         SDSINF_ECORRUPT);
        assert_int_equal(decode_damaged(buf.data, buf.len, 0, 0),
                         SDSINF_ECORRUPT);
        sdsinf_err err;
        assert_int_equal(decode_sm(buf.data, buf.len, -1, N, &part,
                                            &err), SDSINF_EINVAL);
        assert_int_equal(sdsinf__msg_decode(buf.data, buf.len, B, N, NULL,
                                            NULL, &err), SDSINF_EINVAL);
    }
    sdsinf__buf_free(&buf);
    sdsinf_csr_free(&y);
    free(d);
}

/* Encoder arguments and activations it refuses. */
static void test_bad_arguments(void **state)
{
    (void)state;
    float d[4 * 3] = {1, 0, 2, 0, 3, 0, 4, 0, 5, 6, 0, 7};
    uint32_t rows[3] = {0, 1, 2}, back[2] = {2, 1}, high[1] = {3};
    sdsinf_csr y = {0};
    sdsinf__buf buf = {0};
    uint32_t nchunks;
    sdsinf_err err;
    sdsinf__msg_opts o = opts(SDSINF__CODEC_RAW, 0, 0);
    tu_csr_dense(&y, 4, 3, d);
    assert_int_equal(sdsinf__msg_encode(&y, back, 2, &KEY, &o, &buf, &nchunks,
                                        &err), SDSINF_EINVAL);
    assert_int_equal(sdsinf__msg_encode(&y, high, 1, &KEY, &o, &buf, &nchunks,
                                        &err), SDSINF_EINVAL);
    assert_int_equal(sdsinf__msg_encode(&y, NULL, 2, &KEY, &o, &buf, &nchunks,
                                        &err), SDSINF_EINVAL);
    assert_int_equal(sdsinf__msg_encode(&y, rows, -1, &KEY, &o, &buf,
                                        &nchunks, &err), SDSINF_EINVAL);
    assert_int_equal(sdsinf__msg_encode(&y, rows, 3, NULL, &o, &buf, &nchunks,
                                        &err), SDSINF_EINVAL);
    o.codec = 5;
    assert_int_equal(sdsinf__msg_encode(&y, rows, 3, &KEY, &o, &buf, &nchunks,
                                        &err), SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "codec"));
    o.codec = SDSINF__CODEC_RAW;
    const float bad[] = {0.0f, -1.0f, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        y.val[2] = bad[i];
        assert_int_equal(encode(&y, rows, 3, &o, &buf, &nchunks),
                         SDSINF_EINVAL);
        /* outside the block it does not matter */
        assert_int_equal(encode(&y, rows, 1, &o, &buf, &nchunks), SDSINF_OK);
        buf.len = 0;
    }
    y.val[2] = 3.0f;
    y.col[1] = 0; /* sample 0: neurons 0, 0: not ascending */
    assert_int_equal(sdsinf__msg_encode(&y, rows, 3, &KEY, &o, &buf, &nchunks,
                                        &err), SDSINF_EINVAL);
    assert_int_equal(buf.len, 0);
    sdsinf__buf_free(&buf);
    sdsinf_csr_free(&y);
}

/* ---- Out of memory ----------------------------------------------------------- */

static void test_alloc_failures(void **state)
{
    (void)state;
    enum { B = 120, N = 40 };
    float *d = random_dense(B, N, 0.5, V_MIXED);
    uint32_t rows[N];
    for (int64_t s = 0; s < B; s++)
        d[s * N + 7] = d[s * N + 6];
    for (uint32_t n = 0; n < N; n++)
        rows[n] = n;
    sdsinf_csr y = {0}, yt = {0};
    tu_csr_dense(&y, B, N, d);
    assert_int_equal(sdsinf_csr_transpose(&y, &yt, NULL), SDSINF_OK);
    for (int codec = 0; codec < 2; codec++)
        for (int variant = 0; variant < 2; variant++) {
            sdsinf__msg_opts o = opts(codec, 3, variant ? 900 : 0);
            long n;
            for (n = 0; n < 100000; n++) {
                sdsinf__buf buf = {0};
                uint32_t nchunks = 0;
                sdsinf_err err = {0};
                sdsinf__fail_alloc_after(n);
                int rc = variant
                    ? sdsinf__msg_encode_t(&yt, rows, NULL, N, &KEY, &o, &buf,
                                           &nchunks, &err)
                    : sdsinf__msg_encode(&y, rows, N, &KEY, &o, &buf,
                                         &nchunks, &err);
                sdsinf__fail_alloc_after(-1);
                if (rc == SDSINF_ENOMEM) {
                    assert_int_equal(buf.len, 0);
                    sdsinf__buf_free(&buf);
                    continue;
                }
                assert_int_equal(rc, SDSINF_OK);
                /* now the decoder, on every chunk */
                size_t at = 0, len;
                long m;
                for (uint32_t c = 0; c < nchunks; c++, at += len) {
                    assert_int_equal(sdsinf__msg_length(buf.data + at,
                                                        buf.len - at, &len,
                                                        NULL), SDSINF_OK);
                    for (m = 0; m < 100000; m++) {
                        sdsinf__rows part = {0};
                        sdsinf__fail_alloc_after(m);
                        rc = sdsinf__msg_decode(buf.data + at, len, B, N,
                                                NULL, &part, &err);
                        sdsinf__fail_alloc_after(-1);
                        if (rc != SDSINF_OK) { /* nothing left behind */
                            assert_int_equal(rc, SDSINF_ENOMEM);
                            assert_null(part.m.rowptr);
                            assert_null(part.id);
                        }
                        sdsinf__rows_free(&part);
                        if (rc == SDSINF_OK)
                            break;
                    }
                }
                sdsinf__buf_free(&buf);
                break;
            }
            assert_true(n > 0 && n < 100000);
        }
    sdsinf_csr_free(&yt);
    sdsinf_csr_free(&y);
    free(d);
}

/* ---- A kept ctx ------------------------------------------------------------- */

/* Encodes and decodes with ctx (checking a decode against one without),
 * and returns the messages, which must be those of an encode without. */
static void ctx_round(sdsinf__msg_ctx *ctx, const sdsinf_csr *yt,
                      const uint32_t *rows, int64_t nrows, int codec,
                      size_t max_bytes)
{
    sdsinf__msg_opts o = opts(codec, 3, max_bytes), oc = o;
    sdsinf__buf ref = {0}, got = {0};
    uint32_t n1 = 0, n2 = 0;
    oc.ctx = ctx;
    assert_int_equal(sdsinf__msg_encode_t(yt, rows, NULL, nrows, &KEY, &o,
                                          &ref, &n1, NULL), SDSINF_OK);
    assert_int_equal(sdsinf__msg_encode_t(yt, rows, NULL, nrows, &KEY, &oc,
                                          &got, &n2, NULL), SDSINF_OK);
    assert_int_equal(n1, n2);
    assert_int_equal(ref.len, got.len);
    assert_memory_equal(ref.data, got.data, ref.len);
    size_t at = 0, len;
    for (uint32_t c = 0; c < n1; c++, at += len) {
        sdsinf__rows a = {0}, b = {0};
        assert_int_equal(sdsinf__msg_length(ref.data + at, ref.len - at, &len,
                                            NULL), SDSINF_OK);
        assert_int_equal(sdsinf__msg_decode(ref.data + at, len, yt->ncols,
                                            yt->nrows, NULL, &a, NULL),
                         SDSINF_OK);
        assert_int_equal(sdsinf__msg_decode(ref.data + at, len, yt->ncols,
                                            yt->nrows, ctx, &b, NULL),
                         SDSINF_OK);
        int64_t nnz = sdsinf_csr_nnz(&a.m);
        assert_int_equal(a.m.nrows, b.m.nrows);
        assert_int_equal(nnz, sdsinf_csr_nnz(&b.m));
        assert_memory_equal(a.id, b.id, (size_t)a.m.nrows * sizeof *a.id);
        assert_memory_equal(a.m.rowptr, b.m.rowptr,
                            (size_t)(a.m.nrows + 1) * sizeof *a.m.rowptr);
        assert_memory_equal(a.m.col, b.m.col, (size_t)nnz * sizeof *a.m.col);
        assert_memory_equal(a.m.val, b.m.val, (size_t)nnz * sizeof *a.m.val);
        sdsinf__rows_free(&a);
        sdsinf__rows_free(&b);
    }
    sdsinf__buf_free(&ref);
    sdsinf__buf_free(&got);
}

/* One ctx, kept across blocks that grow and shrink (samples, rows, values,
 * both codecs, chunked or not) and across a failed allocation, encodes and
 * decodes exactly as a fresh one. */
static void test_ctx_reuse(void **state)
{
    (void)state;
    static const struct { int64_t B, N; double density; int kind; } shape[] = {
        {40, 12, 0.5, V_MIXED},  {900, 60, 0.3, V_VARIED}, {7, 3, 0.9, V_CAP},
        {300, 200, 0.2, V_FEW},  {1, 1, 1.0, V_CAP},       {2000, 30, 0.6, V_MIXED},
        {64, 64, 0.05, V_VARIED}};
    sdsinf__msg_ctx ctx = {0};
    uint32_t rows[200];
    for (size_t i = 0; i < sizeof shape / sizeof *shape; i++) {
        int64_t B = shape[i].B, N = shape[i].N;
        float *d = random_dense(B, N, shape[i].density, shape[i].kind);
        for (int64_t s = 0; s < B && N > 2; s++) /* a copied row */
            d[s * N + 2] = d[s * N + 1];
        sdsinf_csr y = {0}, yt = {0};
        tu_csr_dense(&y, B, N, d);
        assert_int_equal(sdsinf_csr_transpose(&y, &yt, NULL), SDSINF_OK);
        int64_t nrows = random_rows(N, 0.8, rows);
        for (int codec = 0; codec < 2; codec++) {
            ctx_round(&ctx, &yt, rows, nrows, codec, 0);
            ctx_round(&ctx, &yt, rows, nrows, codec, 64 + 40 * (size_t)B);
        }
        /* Out of memory part way: the ctx stays usable. */
        for (long n = 0; n < 40; n += 3) {
            sdsinf__msg_opts o = opts(SDSINF__CODEC_ZSTD, 3, 0);
            sdsinf__buf buf = {0};
            uint32_t nchunks;
            o.ctx = &ctx;
            sdsinf__fail_alloc_after(n);
            int rc = sdsinf__msg_encode_t(&yt, rows, NULL, nrows, &KEY, &o,
                                          &buf, &nchunks, NULL);
            sdsinf__fail_alloc_after(-1);
            assert_true(rc == SDSINF_OK || rc == SDSINF_ENOMEM);
            sdsinf__buf_free(&buf);
            ctx_round(&ctx, &yt, rows, nrows, SDSINF__CODEC_ZSTD, 0);
        }
        sdsinf_csr_free(&yt);
        sdsinf_csr_free(&y);
        free(d);
    }
    sdsinf__msg_ctx_free(&ctx);
    sdsinf__msg_ctx_free(&ctx); /* freed twice: nothing happens */
}

/* ---- Activations of a generated network --------------------------------------- */

/* Blocks as workers send them, for a few layers of a generated network
 * under a random partition: all round-trip, chunked or not. */
static void test_network_blocks(void **state)
{
    (void)state;
    sdsinf_gen_opts g;
    sdsinf_model *m;
    sdsinf_csr y = {0}, next = {0}, t;
    sdsinf_gen_opts_init(&g);
    g.neurons = 256;
    g.layers = 12;
    g.images = 300;
    g.seed = 5;
    assert_int_equal(sdsinf_generate_model(&g, &m, NULL), SDSINF_OK);
    assert_int_equal(sdsinf_generate_images(&g, &y, NULL), SDSINF_OK);
    int64_t N = m->neurons, B = y.nrows;
    float *dense = malloc((size_t)(B * N) * sizeof *dense);
    uint32_t *rows = malloc((size_t)N * sizeof *rows);
    assert_true(dense && rows);
    for (int32_t l = 0; l < m->layers; l++) {
        memset(dense, 0, (size_t)(B * N) * sizeof *dense);
        for (int64_t s = 0; s < B; s++)
            for (int64_t e = y.rowptr[s]; e < y.rowptr[s + 1]; e++)
                dense[s * N + y.col[e]] = y.val[e];
        for (int w = 0; w < 3; w++) {
            int64_t nrows = 0;
            for (int64_t n = 0; n < N; n++)
                if ((uint64_t)(n * 2654435761u + (uint64_t)l) % 3 ==
                    (uint64_t)w)
                    rows[nrows++] = (uint32_t)n;
            sdsinf__msg_opts o = opts(w % 2, 3, w == 2 ? 4000 : 0);
            round_trip(dense, B, N, rows, nrows, &o);
        }
        assert_int_equal(sdsinf_layer_forward(NULL, &m->layer[l], m->ymax, &y,
                                              &next, NULL), SDSINF_OK);
        t = y;
        y = next;
        next = t;
    }
    free(rows);
    free(dense);
    sdsinf_csr_free(&y);
    sdsinf_csr_free(&next);
    sdsinf_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_round_trip_dense_cap),
        cmocka_unit_test(test_round_trip_copies),
        cmocka_unit_test(test_round_trip_values),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_single_sample),
        cmocka_unit_test(test_chunks),
        cmocka_unit_test(test_whole_above),
        cmocka_unit_test(test_header_layout),
        cmocka_unit_test(test_concatenation),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_flipped),
        cmocka_unit_test(test_foreign),
        cmocka_unit_test(test_zstd_threshold),
        cmocka_unit_test(test_decode_bounds),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_ctx_reuse),
        cmocka_unit_test(test_network_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
