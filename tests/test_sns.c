/* test_sns.c - runs over the sns channel against the emulator
 * (tests/with_aws.sh): exactly once over SNS duplicates (the fault
 * channel's dup= on every worker's sends) on threads and processes, equal
 * to sdsinf_infer bit for bit, the requests counted as SNS and SQS bill
 * them, and nothing of the run left (run_residue). */
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int tu_fault_register(const char *inner, sdsinf_err *err);

typedef struct fixture {
    sdsinf_model *m;
    sdsinf_csr images;
    sdsinf_result single;
} fixture;

static uint64_t g_run;

static void run_equal(fixture *f, int W, const char *launcher,
                      const char *channel, const char *config)
{
    sdsinf_partition_opts po;
    sdsinf_plan *p;
    sdsinf_err err = {0};
    sdsinf_partition_opts_init(&po);
    po.workers = W;
    po.method = "block";
    assert_int_equal(sdsinf_partition(f->m, &po, &p, &err), SDSINF_OK);
    sdsinf_run_opts ro;
    sdsinf_run_opts_init(&ro);
    ro.launcher = launcher;
    ro.channel = channel;
    ro.channel_config = config;
    ro.batch_size = 40;
    ro.timeout_ms = 20000;
    ro.run_id = ++g_run;
    sdsinf_result r;
    sdsinf_run_stats st;
    if (sdsinf_run(f->m, p, &f->images, &ro, &r, &st, &err) != SDSINF_OK)
        fail_msg("W=%d %s over %s: %s", W, launcher, channel, err.msg);
    assert_int_equal(r.images, f->single.images);
    assert_memory_equal(r.argmax, f->single.argmax,
                        (size_t)r.images * sizeof *r.argmax);
    assert_memory_equal(r.max, f->single.max, (size_t)r.images * sizeof *r.max);
    if (!strncmp(channel, "faulty:", 7))
        assert_true(st.duplicates > 0); /* the duplicates came and went */
    /* a PublishBatch carries up to 10 messages, for any targets */
    assert_true(st.requests.send > 0 &&
                st.requests.send * 10 >= st.messages_sent);
    assert_true(st.requests.receive > 0 && st.requests.remove > 0);
    assert_true(st.requests.units >= st.requests.send + st.requests.receive +
                                         st.requests.remove);
    int64_t items = -1;
    assert_int_equal(sdsinf_channel_run_residue("sns", NULL, ro.run_id, &items,
                                                &err),
                     SDSINF_OK);
    assert_int_equal(items, 0);
    print_message("W=%d %s over %s: %.3f s, %" PRIu64 " messages in %" PRIu64
                  " PublishBatch, %" PRIu64 " receives, %" PRIu64
                  " duplicates dropped\n",
                  W, launcher, channel, st.seconds, st.messages_sent,
                  st.requests.send, st.requests.receive, st.duplicates);
    sdsinf_run_stats_free(&st);
    sdsinf_result_free(&r);
    sdsinf_plan_free(p);
}

static void test_duplicates(void **state)
{
    (void)state;
    fixture f;
    sdsinf_gen_opts g;
    sdsinf_gen_opts_init(&g);
    g.neurons = 256;
    g.layers = 12;
    g.images = 120;
    g.seed = 3;
    assert_int_equal(sdsinf_generate_model(&g, &f.m, NULL), SDSINF_OK);
    assert_int_equal(sdsinf_generate_images(&g, &f.images, NULL), SDSINF_OK);
    assert_int_equal(sdsinf_infer(f.m, &f.images, NULL, &f.single, NULL),
                     SDSINF_OK);
    assert_int_equal(tu_fault_register("sns", NULL), SDSINF_OK);
    run_equal(&f, 4, "threads", "sns", NULL);
    run_equal(&f, 4, "threads", "faulty:sns", "seed=9,dup=0.3|");
    run_equal(&f, 3, "local", "faulty:sns", "seed=4,dup=0.5,reorder=0.2|");
    sdsinf_model_free(f.m);
    sdsinf_csr_free(&f.images);
    sdsinf_result_free(&f.single);
}

int main(void)
{
    if (!getenv("AWS_ENDPOINT_URL") || !getenv("SDSINF_AWS_EMULATOR")) {
        fprintf(stderr, "SKIP: no emulator; run me through tests/with_aws.sh\n");
        return 77;
    }
    g_run = ((uint64_t)getpid() << 32) ^ ((uint64_t)time(NULL) << 8);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_duplicates)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
