/* test_sqs_shared.c - the sqs channel on shared queues (queues=NAME, as on
 * a deployed stack) against the emulator (tests/with_aws.sh): a receiver
 * hands another run's message back by its age (sqs_queue.h): a young one
 * visible again at once, so its own run's receiver gets it, and the next
 * poll held back a moment; an old one (its run must be dead) hidden for
 * the visibility timeout; a full answer of another run's young messages
 * hidden a moment, so a receiver behind them gets its own; a failed run's
 * coordinator drains its run's messages and leaves another run's.  Skipped (77) without an emulator. */
#include "testutil.h"

#include "channels/channels.h"
#include "core/core.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t g_run;

typedef struct fixture {
    uint64_t queues_run; /* the run whose queues serve as the shared ones */
    char config[128];    /* queues=<them>,visibility=S */
} fixture;

/* Two queues, made and removed as a run's, that the cases share as a
 * stack's (the shared name is a run's queue prefix). */
static int setup(void **state, int visibility_s)
{
    static fixture f;
    sdsinf_err err = {0};
    f.queues_run = ++g_run;
    if (sdsinf_channel_run_create("sqs", "prefix=t", f.queues_run, 2, NULL,
                                  &err) != SDSINF_OK)
        fail_msg("%s", err.msg);
    snprintf(f.config, sizeof f.config, "queues=t-%016" PRIx64 ",visibility=%d",
             f.queues_run, visibility_s);
    *state = &f;
    return 0;
}

static int setup_young(void **state) { return setup(state, 30); }
static int setup_old(void **state) { return setup(state, 3); }

static int teardown(void **state)
{
    fixture *f = *state;
    sdsinf_err err = {0};
    if (sdsinf_channel_run_destroy("sqs", "prefix=t", f->queues_run, 2, NULL,
                                   &err) != SDSINF_OK)
        fail_msg("%s", err.msg);
    return 0;
}

static sdsinf_channel *open_w(const fixture *f, int self, uint64_t run)
{
    sdsinf_channel *ch = NULL;
    sdsinf_err err = {0};
    if (sdsinf_channel_open("sqs", f->config, self, 2, run, &ch, &err) !=
        SDSINF_OK)
        fail_msg("open worker %d of run %" PRIu64 ": %s", self, run, err.msg);
    return ch;
}

/* Worker 0 of ch's run sends worker 1 the bytes of text, at once. */
static void send_text(sdsinf_channel *ch, const char *text)
{
    sdsinf_msg_key k = {ch->run, 0, 0, 0, 1, 0, 1};
    sdsinf_err err = {0};
    if (sdsinf_channel_send(ch, &k, text, strlen(text), &err) != SDSINF_OK ||
        sdsinf_channel_flush(ch, &err) != SDSINF_OK)
        fail_msg("send: %s", err.msg);
}

/* A recv of timeout_ms on ch: SDSINF_OK with text, or SDSINF_ETIMEDOUT
 * (expect NULL). */
static void expect(sdsinf_channel *ch, int timeout_ms, const char *text)
{
    sdsinf_msg_key want = {ch->run, 0, 0, 0, 1, 0, 1};
    sdsinf_err err = {0};
    void *msg = NULL;
    size_t len = 0;
    int code = sdsinf_channel_recv(ch, &want, &msg, &len, timeout_ms, &err);
    if (!text) {
        if (code != SDSINF_ETIMEDOUT)
            fail_msg("run %" PRIu64 " got a message (%s): %s", ch->run,
                     sdsinf_status_name(code), err.msg);
        return;
    }
    if (code != SDSINF_OK)
        fail_msg("run %" PRIu64 ": %s", ch->run, err.msg);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(msg, text, len);
    free(msg);
}

static void close_w(sdsinf_channel *ch)
{
    sdsinf_err err = {0};
    if (sdsinf_channel_close(ch, 0, &err) != SDSINF_OK)
        fail_msg("close: %s", err.msg);
}

/* Run b's message, young, taken by run a's receiver: back at once (a
 * queue's visibility of 30 s would outlast the wait below), and a's polls
 * paused after each hand-back. */
static void test_young_back_at_once(void **state)
{
    fixture *f = *state;
    uint64_t a = ++g_run, b = ++g_run;
    sdsinf_channel *a1 = open_w(f, 1, a), *b0 = open_w(f, 0, b),
                   *b1 = open_w(f, 1, b);
    send_text(b0, "for b");
    expect(a1, 80, NULL); /* short polls: each answer is in before it ends */
    sdsinf_requests r;
    sdsinf_channel_requests(a1, &r);
    print_message("a's recv of 80 ms: %" PRIu64 " receives, %" PRIu64
                  " hand-backs\n",
                  r.receive, r.remove);
    assert_true(r.remove >= 1);          /* it handed b's back */
    assert_true(r.receive <= 3);         /* ~50 ms between polls */
    double t0 = sdsinf__now();
    expect(b1, 5000, "for b");
    print_message("b got it %.0f ms later\n", (sdsinf__now() - t0) * 1e3);
    close_w(a1);
    close_w(b0);
    close_w(b1);
}

/* A queue crowded with 12 young messages of run b (dead, or not polling),
 * sent before run a's: a's receiver gets its own all the same (answers of
 * b's alone are hidden a moment, and what is behind them comes up). */
static void test_crowded(void **state)
{
    fixture *f = *state;
    uint64_t a = ++g_run, b = ++g_run;
    sdsinf_channel *a0 = open_w(f, 0, a), *a1 = open_w(f, 1, a),
                   *b0 = open_w(f, 0, b);
    for (int i = 0; i < 12; i++)
        send_text(b0, "for b");
    send_text(a0, "for a");
    double t0 = sdsinf__now();
    expect(a1, 15000, "for a");
    print_message("a got its own behind 12 of b's in %.0f ms\n",
                  (sdsinf__now() - t0) * 1e3);
    close_w(a0);
    close_w(a1);
    close_w(b0);
}

/* Run b's message, older than the visibility timeout (3 s here): b is
 * taken for dead, the message hidden for 3 s, then visible to b again. */
static void test_old_hidden(void **state)
{
    fixture *f = *state;
    uint64_t a = ++g_run, b = ++g_run;
    sdsinf_channel *a1 = open_w(f, 1, a), *b0 = open_w(f, 0, b),
                   *b1 = open_w(f, 1, b);
    send_text(b0, "for b, late");
    sdsinf__sleep_ms(3500);
    expect(a1, 50, NULL);
    sdsinf_requests r;
    sdsinf_channel_requests(a1, &r);
    assert_true(r.remove >= 1);
    double t0 = sdsinf__now();
    expect(b1, 1000, NULL); /* hidden */
    expect(b1, 8000, "for b, late");
    double ms = (sdsinf__now() - t0) * 1e3;
    print_message("b got it %.0f ms after a hid it\n", ms);
    assert_true(ms > 2000); /* 3 s after its hand-back, just before */
    close_w(a1);
    close_w(b0);
    close_w(b1);
}

/* A failed run's coordinator drains its run's messages from the queues
 * (SDSINF__CONTROL_DRAIN): 12 that run a sent its dead worker 1 (more
 * than one receive takes) go, within the drain's bound, while run b's
 * message on the same queue stays for b's receiver. */
static void test_drain(void **state)
{
    fixture *f = *state;
    uint64_t a = ++g_run, b = ++g_run;
    sdsinf_channel *a0 = open_w(f, 0, a), *b0 = open_w(f, 0, b);
    char text[32];
    for (int i = 0; i < 12; i++) {
        snprintf(text, sizeof text, "for a's dead worker, %d", i);
        send_text(a0, text);
    }
    send_text(b0, "for b");
    sdsinf_err err = {0};
    sdsinf_requests r;
    int ms = 5000;
    double t0 = sdsinf__now();
    if (sdsinf_channel_control(a0, SDSINF__CONTROL_DRAIN, &ms, &err) !=
        SDSINF_OK)
        fail_msg("drain: %s", err.msg);
    double took = sdsinf__now() - t0;
    sdsinf_channel_requests(a0, &r);
    print_message("drained in %.1f s: %" PRIu64 " receives, %" PRIu64
                  " removes\n",
                  took, r.receive, r.remove);
    assert_true(took < 5.5);
    assert_true(r.remove >= 2); /* 12 messages: two deletes at least */
    sdsinf_channel *a1 = open_w(f, 1, a), *b1 = open_w(f, 1, b);
    expect(a1, 1500, NULL); /* nothing of a's left */
    close_w(a1);            /* (its poll under way settled: b's back) */
    expect(b1, 5000, "for b");
    assert_int_equal(sdsinf_channel_control(a0, SDSINF__CONTROL_DRAIN, NULL,
                                            &err),
                     SDSINF_EINVAL);
    assert_int_equal(sdsinf_channel_control(a0, 199, &ms, &err),
                     SDSINF_ENOTSUP);
    close_w(a0);
    close_w(b0);
    close_w(b1);
}

int main(void)
{
    if (!getenv("AWS_ENDPOINT_URL") || !getenv("SDSINF_AWS_EMULATOR")) {
        fprintf(stderr, "SKIP: no emulator; run me through tests/with_aws.sh\n");
        return 77;
    }
    g_run = ((uint64_t)getpid() << 32) ^ ((uint64_t)time(NULL) << 8);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_young_back_at_once, setup_young,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_old_hidden, setup_old, teardown),
        cmocka_unit_test_setup_teardown(test_drain, setup_young, teardown),
        cmocka_unit_test_setup_teardown(test_crowded, setup_young, teardown)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
