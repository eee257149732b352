/* test_inbox.c - the worker's receive path (run/inbox.c) through the
 * fault-injecting channel: duplicated, reordered and delayed chunks
 * reassembled into the blocks sent; messages of later layers kept for
 * their turn; other runs', damaged and unexpected ones dropped; the keyed
 * fetch order on an object store; the bounded wait, cancel and a check
 * that refuses a chunk; the coordinator's stop, on a queue channel and at
 * its key on an object store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "testutil.h"

#include "run/inbox.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

int tu_fault_register(const char *inner, sdsinf_err *err);

#define W 3
#define SAMPLES 40
#define NEURONS 64
#define RUN 77

/* Activations of source s at (batch, layer): sample j has neuron i when
 * (i * 7 + j * 3 + s + layer) % 5 == 0, value 1 + i + j / 64. */
static void activations(int s, uint32_t layer, sdsinf_csr *y)
{
    float d[SAMPLES * NEURONS];
    for (int j = 0; j < SAMPLES; j++)
        for (int i = 0; i < NEURONS; i++)
            d[j * NEURONS + i] =
                (i * 7 + j * 3 + s + (int)layer) % 5 == 0 ? 1 + i + j / 64.0f
                                                          : 0;
    tu_csr_dense(y, SAMPLES, NEURONS, d);
}

/* Source s's rows: the neurons i with i % W == s. */
static int64_t rows_of(int s, uint32_t *rows)
{
    int64_t n = 0;
    for (uint32_t i = 0; i < NEURONS; i++)
        if ((int)(i % W) == s)
            rows[n++] = i;
    return n;
}

/* Sends source s's block for (batch, layer) to worker 0, as chunks of at
 * most max_bytes; returns how many. */
static uint32_t send_block(sdsinf_channel *ch, uint64_t run, uint32_t batch,
                           uint32_t layer, size_t max_bytes)
{
    sdsinf_csr y = {0};
    uint32_t rows[NEURONS], nchunks = 0;
    int64_t n = rows_of(ch->self, rows);
    sdsinf_msg_key key = {run, batch, layer, (uint32_t)ch->self, 0, 0, 0};
    sdsinf__msg_opts mo = {SDSINF__CODEC_ZSTD, 3, max_bytes, NULL, 0};
    sdsinf__buf buf = {0};
    sdsinf_err err = {0};
    activations(ch->self, layer, &y);
    int rc = sdsinf__msg_encode(&y, rows, n, &key, &mo, &buf, &nchunks, &err);
    if (rc != SDSINF_OK)
        fail_msg("encode: %s", err.msg);
    size_t at = 0, len;
    for (uint32_t c = 0; c < nchunks; c++, at += len) {
        assert_int_equal(sdsinf__msg_length(buf.data + at, buf.len - at, &len,
                                            &err),
                         SDSINF_OK);
        key.chunk = c;
        key.nchunks = nchunks;
        if (sdsinf_channel_send(ch, &key, buf.data + at, len, &err))
            fail_msg("send: %s", err.msg);
    }
    sdsinf__buf_free(&buf);
    sdsinf_csr_free(&y);
    return nchunks;
}

/* The parts put back together equal sources 1 and 2's rows at layer. */
static void check_parts(const sdsinf__rows *parts, int64_t nparts,
                        uint32_t layer)
{
    int64_t seen_rows = 0;
    for (int64_t p = 0; p < nparts; p++) {
        const sdsinf__rows *pt = &parts[p];
        for (int64_t r = 0; r < pt->m.nrows; r++) {
            uint32_t i = pt->id[r];
            int s = (int)(i % W);
            assert_true(s == 1 || s == 2);
            sdsinf_csr y = {0};
            activations(s, layer, &y);
            /* column i of y, samples ascending, as the part's row r */
            int64_t e = pt->m.rowptr[r];
            for (int64_t j = 0; j < SAMPLES; j++)
                for (int64_t k = y.rowptr[j]; k < y.rowptr[j + 1]; k++)
                    if (y.col[k] == i) {
                        assert_true(e < pt->m.rowptr[r + 1]);
                        assert_int_equal(pt->m.col[e], j);
                        assert_true(pt->m.val[e] == y.val[k]);
                        e++;
                    }
            assert_int_equal(e, pt->m.rowptr[r + 1]);
            sdsinf_csr_free(&y);
            seen_rows++;
        }
    }
    /* each of sources 1 and 2's rows once (rows without entries are
     * sent too: the receiver reads every row it is owed) */
    assert_true(seen_rows <= 2 * (NEURONS / W + 1));
}

/* Lets the senders' held (reordered, delayed) messages go: the fault
 * channel sends them from the sender's next call, here a short receive. */
static void release(sdsinf_channel *const *ch)
{
    for (int w = 1; w < W; w++) {
        void *msg = NULL;
        size_t len;
        assert_int_equal(sdsinf_channel_recv(ch[w], NULL, &msg, &len, 30,
                                             NULL),
                         SDSINF_ETIMEDOUT);
    }
}

static void parts_free(sdsinf__rows *parts, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        sdsinf__rows_free(&parts[i]);
    sdsinf__free(parts);
}

typedef struct fixture {
    sdsinf_channel *ch[W + 1]; /* a run's: the last the coordinator's */
    sdsinf__msg_ctx codec;
    sdsinf__inbox *ib;
    volatile sig_atomic_t cancel;
    char *dir;
} fixture;

/* The W + 1 instances of a run of W workers on `channel` (config as
 * given) and worker 0's inbox. */
static void open_all(fixture *f, const char *channel, const char *config,
                     int timeout_ms)
{
    sdsinf_err err = {0};
    memset(f, 0, sizeof *f);
    for (int w = 0; w <= W; w++)
        assert_int_equal(sdsinf_channel_open(channel, config, w, W + 1, RUN,
                                             &f->ch[w], &err),
                         SDSINF_OK);
    sdsinf__inbox_opts io = {f->ch[0], RUN, W, NEURONS,
                             timeout_ms, &f->cancel, &f->codec};
    assert_int_equal(sdsinf__inbox_new(&io, &f->ib, &err), SDSINF_OK);
}

static void close_all(fixture *f)
{
    sdsinf__inbox_free(f->ib);
    sdsinf__msg_ctx_free(&f->codec);
    for (int w = 0; w <= W; w++)
        sdsinf_channel_close(f->ch[w], 1, NULL);
}

/* Chunks duplicated, reordered and delayed, a later layer's block sent
 * first, a damaged message and a past layer's block among them: each
 * layer gets exactly its blocks. */
static void test_faults_reassembled(void **state)
{
    (void)state;
    sdsinf_err err = {0};
    uint64_t all_dups = 0;
    assert_int_equal(tu_fault_register("mem", &err), SDSINF_OK);
    for (int seed = 1; seed <= 6; seed++) {
        char config[128];
        snprintf(config, sizeof config,
                 "seed=%d,dup=0.3,reorder=0.3,delay=0.2,delay_ms=5|inbox%d",
                 seed, seed);
        fixture f;
        open_all(&f, "faulty:mem", config, 5000);
        uint32_t chunks = 0;
        for (int s = 1; s < W; s++) /* layer 2 first: kept for later */
            send_block(f.ch[s], RUN, 0, 2, 300);
        for (int s = 1; s < W; s++)
            chunks += send_block(f.ch[s], RUN, 0, 1, 300);
        static const char junk[80] = "not a message";
        sdsinf_msg_key jk = {RUN, 0, 1, 2, 0, 0, 1};
        assert_int_equal(sdsinf_channel_send(f.ch[2], &jk, junk, sizeof junk,
                                             &err),
                         SDSINF_OK);
        assert_true(chunks > 2); /* the blocks went as several chunks */
        uint8_t expect[W] = {0, 1, 1};
        sdsinf_layer_record rec = {0};
        sdsinf__rows *parts = NULL;
        int64_t nparts = 0;
        for (uint32_t layer = 1; layer <= 3; layer++) {
            if (layer == 3) { /* a past layer's block again, then 3's */
                uint32_t past = send_block(f.ch[1], RUN, 0, 1, 300);
                for (int s = 1; s < W; s++)
                    send_block(f.ch[s], RUN, 0, 3, 300);
                chunks = past;
            }
            release(f.ch);
            assert_int_equal(sdsinf__inbox_receive(f.ib, 0, layer, expect,
                                                   SAMPLES, NULL, &rec,
                                                   &parts, &nparts, &err),
                             SDSINF_OK);
            check_parts(parts, nparts, layer);
            if (layer == 1)
                assert_int_equal(nparts, chunks);
            assert_int_equal(nparts > 0, 1);
            parts_free(parts, nparts);
        }
        uint64_t dropped, dups;
        sdsinf__inbox_counts(f.ib, &dropped, &dups);
        /* the junk and the past block (what of it came before layer 3's) */
        assert_true(dropped >= 1);
        all_dups += dups;
        assert_true(rec.received >= chunks);
        close_all(&f);
    }
    assert_true(all_dups > 0); /* the faults did duplicate chunks */
}

/* A source that never sends: the wait ends at the timeout, naming it. */
static void test_timeout_names_sources(void **state)
{
    (void)state;
    fixture f;
    sdsinf_err err = {0};
    open_all(&f, "mem", "inbox-timeout", 150);
    send_block(f.ch[1], RUN, 0, 1, 0);
    uint8_t expect[W] = {0, 1, 1};
    sdsinf_layer_record rec = {0};
    sdsinf__rows *parts = NULL;
    int64_t nparts = 0;
    double t = sdsinf__now();
    assert_int_equal(sdsinf__inbox_receive(f.ib, 0, 1, expect, SAMPLES, NULL,
                                           &rec, &parts, &nparts, &err),
                     SDSINF_ETIMEDOUT);
    assert_true(sdsinf__now() - t < 5);
    assert_non_null(strstr(err.msg, "worker(s) 2 "));
    assert_non_null(strstr(err.msg, "layer 1"));
    close_all(&f);
}

/* The run's cancel flag ends a wait within a slice. */
static void test_cancel(void **state)
{
    (void)state;
    fixture f;
    sdsinf_err err = {0};
    open_all(&f, "mem", "inbox-cancel", 60000);
    f.cancel = 1;
    uint8_t expect[W] = {0, 1, 0};
    sdsinf_layer_record rec = {0};
    sdsinf__rows *parts = NULL;
    int64_t nparts = 0;
    double t = sdsinf__now();
    assert_int_equal(sdsinf__inbox_receive(f.ib, 0, 1, expect, SAMPLES, NULL,
                                           &rec, &parts, &nparts, &err),
                     SDSINF_ECANCELED);
    assert_true(sdsinf__now() - t < 1);
    close_all(&f);
}

static int refuse_source_2(void *ctx, uint32_t layer, uint32_t source,
                           const sdsinf__rows *part, sdsinf_err *err)
{
    (void)part;
    ++*(int *)ctx;
    return source == 2 ? sdsinf__fail(err, SDSINF_ECORRUPT, "layer %u: "
                                      "source 2 refused", layer)
                       : SDSINF_OK;
}

static int count_arrivals(void *ctx, uint32_t source,
                          const sdsinf__rows *parts, const uint32_t *psrc,
                          int64_t nparts, sdsinf_err *err)
{
    (void)source, (void)parts, (void)psrc, (void)nparts, (void)err;
    ++*((int *)ctx + 1);
    return SDSINF_OK;
}

/* The check hook sees every chunk and its error ends the receive; the
 * arrival hook runs once per source. */
static void test_hooks(void **state)
{
    (void)state;
    fixture f;
    sdsinf_err err = {0};
    int counts[2] = {0, 0};
    sdsinf__inbox_hooks refuse = {counts, refuse_source_2, count_arrivals};
    sdsinf__inbox_hooks arrive = {counts, NULL, count_arrivals};
    uint8_t expect[W] = {0, 1, 1};
    sdsinf_layer_record rec = {0};
    sdsinf__rows *parts = NULL;
    int64_t nparts = 0;
    open_all(&f, "mem", "inbox-hooks", 5000);
    uint32_t chunks = send_block(f.ch[1], RUN, 0, 1, 0) +
                      send_block(f.ch[2], RUN, 0, 1, 0);
    assert_int_equal(sdsinf__inbox_receive(f.ib, 0, 1, expect, SAMPLES,
                                           &arrive, &rec, &parts, &nparts,
                                           &err),
                     SDSINF_OK);
    assert_int_equal(nparts, chunks);
    assert_int_equal(counts[1], 2);
    parts_free(parts, nparts);
    send_block(f.ch[2], RUN, 0, 2, 0);
    assert_int_equal(sdsinf__inbox_receive(f.ib, 0, 2, expect, SAMPLES,
                                           &refuse, &rec, &parts, &nparts,
                                           &err),
                     SDSINF_ECORRUPT);
    assert_non_null(strstr(err.msg, "source 2 refused"));
    close_all(&f);
}

/* On an object store (keyed) the inbox fetches each owed source's key,
 * whatever order they were written in. */
static void test_keyed_order(void **state)
{
    (void)state;
    fixture f;
    sdsinf_err err = {0};
    char *dir = tu_mkdtemp();
    open_all(&f, "fs", dir, 5000);
    send_block(f.ch[2], RUN, 0, 1, 0);
    send_block(f.ch[1], RUN, 0, 1, 0);
    uint8_t expect[W] = {0, 1, 1};
    sdsinf_layer_record rec = {0};
    sdsinf__rows *parts = NULL;
    int64_t nparts = 0;
    assert_int_equal(sdsinf__inbox_receive(f.ib, 0, 1, expect, SAMPLES, NULL,
                                           &rec, &parts, &nparts, &err),
                     SDSINF_OK);
    check_parts(parts, nparts, 1);
    assert_int_equal(nparts, 2);
    parts_free(parts, nparts);
    close_all(&f);
    tu_rmdir(dir);
    free(dir);
}

/* Sends worker 0, at its stop's key, the coordinator's stop of run `run`
 * for worker `target` (another's: a misrouted one). */
static void send_stop(const fixture *f, uint64_t run, int target)
{
    unsigned char stop[SDSINF__MSG_HEADER];
    sdsinf__msg_key key = sdsinf__stop_key(run, W, target);
    sdsinf__stop_encode(&key, stop);
    key = sdsinf__stop_key(RUN, W, 0);
    assert_int_equal(sdsinf_channel_send(f->ch[W], &key, stop, sizeof stop,
                                         NULL),
                     SDSINF_OK);
}

/* The coordinator's stop ends a worker's wait with SDSINF_ECANCELED long
 * before its timeout, without a cancel flag: on a queue channel (local)
 * at once, on a keyed one (fs) within the second after which the worker
 * looks for it at its key; a stop of another run, or for another worker,
 * is dropped (the wait goes on to the block owed). */
static void test_stop(void **state)
{
    (void)state;
    static const char *const channels[] = {"local", "fs"};
    for (int i = 0; i < 2; i++) {
        fixture f;
        sdsinf_err err = {0};
        char *dir = tu_mkdtemp();
        uint8_t expect[W] = {0, 1, 0};
        sdsinf_layer_record rec = {0};
        sdsinf__rows *parts = NULL;
        int64_t nparts = 0;
        open_all(&f, channels[i], dir, 60000);
        sdsinf__inbox_free(f.ib); /* no cancel flag: the stop alone */
        sdsinf__inbox_opts io = {f.ch[0], RUN, W, NEURONS, 60000, NULL,
                                 &f.codec};
        assert_int_equal(sdsinf__inbox_new(&io, &f.ib, &err), SDSINF_OK);
        send_stop(&f, RUN + 1, 0); /* another run's */
        if (i == 0)
            send_stop(&f, RUN, 1); /* another worker's (a key holds one) */
        send_block(f.ch[1], RUN, 0, 1, 0);
        assert_int_equal(sdsinf__inbox_receive(f.ib, 0, 1, expect, SAMPLES,
                                               NULL, &rec, &parts, &nparts,
                                               &err),
                         SDSINF_OK);
        parts_free(parts, nparts);
        send_stop(&f, RUN, 0);
        double t = sdsinf__now();
        assert_int_equal(sdsinf__inbox_receive(f.ib, 0, 2, expect, SAMPLES,
                                               NULL, &rec, &parts, &nparts,
                                               &err),
                         SDSINF_ECANCELED);
        assert_true(sdsinf__now() - t < 3);
        assert_non_null(strstr(err.msg, "worker 0: stopped by the run's "
                                        "coordinator"));
        close_all(&f);
        tu_rmdir(dir);
        free(dir);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faults_reassembled),
        cmocka_unit_test(test_timeout_names_sources),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_hooks),
        cmocka_unit_test(test_keyed_order),
        cmocka_unit_test(test_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
