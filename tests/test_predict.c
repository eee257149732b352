/* test_predict.c - the planner's model (sdsinf_predict) and search
 * (sdsinf_advise) on a synthetic calibration: more Lambda memory is never
 * slower and its compute scales with the vCPU share up to 6; more workers
 * never compute longer and never make fewer requests; the bill of a
 * worker without messages is its GB-seconds and invocations at the
 * price; the requests are those sdsinf's channels make (batches); the
 * recommendation meets its bound and is the cheapest (or the fastest)
 * that does, and so is each kind's best; an impossible bound is reported
 * with the nearest configuration; what cannot run or is out of range is
 * refused. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#define LAYERS 8
static const double DENSITY[LAYERS] = {.1, .2, .2, .2, .2, .2, .2, .2};
static const double COMPUTE[LAYERS] = {1e-4, 1e-4, 1e-4, 1e-4,
                                       1e-4, 1e-4, 1e-4, 1e-4};
static const double BYTES[LAYERS] = {500, 800, 800, 800, 800, 800, 800, 800};
static const double MESSAGES[LAYERS] = {3, 3, 3, 3, 3, 3, 3, 3};

static sdsinf_calibration calibration(void)
{
    sdsinf_calibration c = {SDSINF_CALIBRATION_VERSION, 1024, LAYERS, 4,
                            8.0 * 1024 * 32 * LAYERS, DENSITY, COMPUTE,
                            BYTES, MESSAGES};
    return c;
}

static const sdsinf_instance_cpus CPUS[] = {{"c5.xlarge", 4},
                                            {"c5.4xlarge", 16}};
static const sdsinf_instance_price INSTANCES[] = {{"c5.xlarge", 0.17},
                                                  {"c5.4xlarge", 0.68}};

/* prices/aws.json's latency block. */
static sdsinf_latency_model constants(void)
{
    sdsinf_latency_model m;
    memset(&m, 0, sizeof m);
    m.version = SDSINF_LATENCY_MODEL_VERSION;
    m.sns_publish_s = 0.03;
    m.sqs_send_s = 0.02;
    m.sqs_receive_s = 0.1;
    m.s3_put_s = 0.03;
    m.s3_get_s = 0.02;
    m.s3_list_s = 0.03;
    m.s3_scan_sleep_s = 0.1;
    m.s3_parallel = 4;
    m.worker_bytes_per_s = 5e7;
    m.lambda_mb_per_vcpu = 1769;
    m.lambda_max_vcpus = 6;
    m.lambda_max_seconds = 900;
    m.lambda_invoke_s = 0.03;
    m.lambda_cold_start_s = 0.3;
    m.local_message_s = 2e-5;
    m.mpi_message_s = 5e-5;
    m.redis_request_s = 2e-4;
    m.ec2_bytes_per_s = 1.25e9;
    m.ec2_boot_s = 45;
    m.machine_vcpu_speed = 1;
    m.cpus = CPUS;
    m.ncpus = 2;
    return m;
}

static sdsinf_prices prices(void)
{
    sdsinf_prices p;
    sdsinf_prices_init(&p);
    p.region = "us-east-1";
    p.lambda_usd_per_request = 0.20e-6;
    p.lambda_usd_per_gb_second[SDSINF_ARCH_X86_64] = 0.0000166667;
    p.sqs_usd_per_request = 0.40e-6;
    p.sns_usd_per_publish = 0.50e-6;
    p.s3_usd_per_put = p.s3_usd_per_list = 0.005e-3;
    p.s3_usd_per_get = 0.0004e-3;
    p.instances = INSTANCES;
    p.ninstances = 2;
    return p;
}

static sdsinf_deployment lambda(int via, int workers, int mb)
{
    sdsinf_deployment d = {SDSINF_DEPLOYMENT_VERSION, SDSINF_ENGINE_LAMBDA,
                           via, workers, 0, 0, mb, 0, NULL, 1};
    return d;
}

static sdsinf_prediction predict_at(const sdsinf_deployment *d,
                                    int64_t images, const sdsinf_prices *p)
{
    sdsinf_calibration c = calibration();
    sdsinf_latency_model m = constants();
    sdsinf_prediction out;
    sdsinf_err err = {0};
    int rc = sdsinf_predict(&c, &m, p, images, d, &out, &err);
    if (rc)
        fail_msg("sdsinf_predict: %s", err.msg);
    return out;
}

static sdsinf_prediction predict(const sdsinf_deployment *d, int64_t images)
{
    sdsinf_prices p = prices();
    return predict_at(d, images, &p);
}

static void test_memory(void **state)
{
    static const int MB[] = {512, 1024, 1769, 2048, 3538, 5307, 10240};
    (void)state;
    for (int via = 0; via < SDSINF_VIAS; via++) {
        double last = INFINITY;
        for (size_t i = 0; i < sizeof MB / sizeof *MB; i++) {
            sdsinf_deployment d = lambda(via, 16, MB[i]);
            sdsinf_prediction p = predict(&d, 10000);
            assert_null(p.infeasible);
            assert_true(p.compute_seconds <= last);
            assert_true(p.seconds - p.compute_seconds > 0);
            last = p.compute_seconds;
        }
    }
    /* compute / vCPU share: one vCPU at 1,769 MB, two at 3,538 (the cap,
     * lambda_max_vcpus, is checked in test_vcpu_cap) */
    sdsinf_deployment one = lambda(SDSINF_VIA_SQS, 8, 1769);
    sdsinf_deployment two = lambda(SDSINF_VIA_SQS, 8, 3538);
    sdsinf_deployment max = lambda(SDSINF_VIA_SQS, 8, 10240);
    double c1 = predict(&one, 10000).compute_seconds;
    assert_true(fabs(predict(&two, 10000).compute_seconds - c1 / 2) <
                1e-12 * c1);
    assert_true(fabs(predict(&max, 10000).compute_seconds -
                     c1 * 1769 / 10240) < 1e-12 * c1);
    assert_true(fabs(c1 - 10000 * 8 * 1e-4 / 8) < 1e-12);
}

/* Beyond lambda_max_vcpus more memory buys no speed. */
static void test_vcpu_cap(void **state)
{
    (void)state;
    sdsinf_calibration c = calibration();
    sdsinf_latency_model m = constants();
    sdsinf_prices p = prices();
    sdsinf_prediction a, b;
    sdsinf_err err = {0};
    sdsinf_deployment d = lambda(SDSINF_VIA_SQS, 8, 3538);
    m.lambda_max_vcpus = 2;
    assert_int_equal(sdsinf_predict(&c, &m, &p, 1000, &d, &a, &err), 0);
    d.memory_mb = 10240;
    assert_int_equal(sdsinf_predict(&c, &m, &p, 1000, &d, &b, &err), 0);
    assert_true(a.compute_seconds == b.compute_seconds);
    assert_true(b.usd > a.usd); /* the same time on more GB */
}

/* One worker sends nothing: its bill is its GB-seconds and the two
 * invocations (worker, coordinator) at the price, at every memory size. */
static void test_gb_seconds(void **state)
{
    (void)state;
    for (int mb = 512; mb <= 10240; mb *= 2) {
        sdsinf_deployment d = lambda(SDSINF_VIA_SQS, 1, mb);
        sdsinf_prediction p = predict(&d, 1000);
        double want = 2 * 0.20e-6 +
                      p.seconds * (mb + 128) / 1024.0 * 0.0000166667;
        assert_true(p.channel_seconds == 0);
        assert_true(fabs(p.usd - want) < 1e-12 * want);
    }
}

static void test_workers(void **state)
{
    (void)state;
    for (int via = 0; via < SDSINF_VIAS; via++) {
        double compute = INFINITY, requests = 0;
        for (int w = 2; w <= 256; w *= 2) {
            sdsinf_deployment d = lambda(via, w, 1769);
            sdsinf_prediction p = predict(&d, 10000);
            /* the bill less its GB-seconds: the requests and invocations */
            double r = p.usd - p.seconds * (w * 1769 + 128) / 1024.0 *
                                   0.0000166667;
            assert_true(p.compute_seconds <= compute);
            assert_true(r >= requests - 1e-15);
            compute = p.compute_seconds;
            requests = r;
        }
    }
}

/* The requests of 64 workers, one batch of 10 images, each worker a small
 * block for every peer (63) at each of the 8 layers, counted through a
 * price of $1 for one kind of request and nothing for the rest: sqs one
 * SendMessageBatch per target, sns one PublishBatch per 10 targets, s3
 * one PUT per layer and a GET per block; every channel but s3 receives
 * in polls of 10 messages. */
static double requests_of(int via, int kind)
{
    sdsinf_prices p;
    sdsinf_deployment d = lambda(via, 64, 1769);
    sdsinf_prices_init(&p);
    p.region = "test";
    double *price[] = {&p.sqs_usd_per_request, &p.sns_usd_per_publish,
                       &p.s3_usd_per_put, &p.s3_usd_per_get};
    *price[kind] = 1;
    return predict_at(&d, 10, &p).usd;
}

static void test_batches(void **state)
{
    enum { SQS, SNS, PUT, GET };
    const double wl = 64 * LAYERS, polls = 7 * wl; /* ceil(63 / 10) */
    (void)state;
    /* sqs: sends, receives and their deletes */
    assert_true(requests_of(SDSINF_VIA_SQS, SQS) == 63 * wl + 2 * polls);
    assert_true(requests_of(SDSINF_VIA_SNS, SNS) == 7 * wl);
    assert_true(requests_of(SDSINF_VIA_SNS, SQS) == 2 * polls);
    assert_true(requests_of(SDSINF_VIA_S3, PUT) == wl);
    assert_true(requests_of(SDSINF_VIA_S3, GET) == 63 * wl);
    assert_true(requests_of(SDSINF_VIA_S3, SQS) == 0);
}

/* A launch tree starts 62 workers faster than the coordinator alone. */
static void test_tree(void **state)
{
    (void)state;
    sdsinf_deployment flat = lambda(SDSINF_VIA_SNS, 62, 2048);
    sdsinf_deployment tree = flat;
    tree.bfr = 2;
    tree.nlevels = 5;
    assert_true(predict(&tree, 1000).startup_seconds <
                predict(&flat, 1000).startup_seconds);
}

static sdsinf_advice advise(double max_s, double max_usd, int64_t images)
{
    sdsinf_calibration c = calibration();
    sdsinf_latency_model m = constants();
    sdsinf_prices p = prices();
    sdsinf_advice a;
    sdsinf_err err = {0};
    int rc = sdsinf_advise(&c, &m, &p, images, max_s, max_usd, &a, &err);
    if (rc)
        fail_msg("sdsinf_advise: %s", err.msg);
    assert_true(a.n > 100);
    return a;
}

static void test_recommended(void **state)
{
    (void)state;
    sdsinf_advice a = advise(30, 0, 100000);
    assert_true(a.achievable);
    const sdsinf_prediction *r = &a.c[a.recommended].p;
    assert_true(r->seconds <= 30);
    int frontier = 0;
    for (size_t i = 0; i < a.n; i++) {
        if (a.c[i].p.seconds <= 30)
            assert_true(a.c[i].p.usd >= r->usd);
        if (i)
            assert_true(a.c[i].p.seconds >= a.c[i - 1].p.seconds);
        frontier += a.c[i].frontier;
    }
    assert_true(frontier >= 2);
    sdsinf_advice_free(&a);

    a = advise(0, 0.01, 100000); /* a budget: the fastest within it */
    assert_true(a.achievable);
    r = &a.c[a.recommended].p;
    assert_true(r->usd <= 0.01);
    for (size_t i = 0; i < a.n; i++)
        if (a.c[i].p.usd <= 0.01)
            assert_true(a.c[i].p.seconds >= r->seconds);
    sdsinf_advice_free(&a);
}

/* Each kind has one best: the cheapest of its kind within the bound, or,
 * none of its kind within it, its fastest; the recommendation is its
 * kind's best. */
static void test_kinds(void **state)
{
    (void)state;
    sdsinf_advice a = advise(30, 0, 100000);
    long best[SDSINF_CANDIDATE_KINDS];
    for (int k = 0; k < SDSINF_CANDIDATE_KINDS; k++)
        best[k] = -1;
    for (size_t i = 0; i < a.n; i++) {
        int k = sdsinf_candidate_kind(&a.c[i].d);
        assert_true(k >= 0 && k < SDSINF_CANDIDATE_KINDS);
        if (a.c[i].best_of_kind) {
            assert_int_equal(best[k], -1);
            best[k] = (long)i;
        }
    }
    assert_int_equal(a.c[a.recommended].best_of_kind, 1);
    for (int k = 0; k < SDSINF_CANDIDATE_KINDS; k++) {
        assert_true(best[k] >= 0); /* every kind can run this model */
        const sdsinf_candidate *b = &a.c[best[k]];
        for (size_t i = 0; i < a.n; i++) {
            const sdsinf_prediction *p = &a.c[i].p;
            if (sdsinf_candidate_kind(&a.c[i].d) != k)
                continue;
            if (b->best_of_kind == 1)
                assert_true(b->p.seconds <= 30 &&
                            (p->seconds > 30 || p->usd >= b->p.usd));
            else
                assert_true(p->seconds > 30 && p->seconds >= b->p.seconds);
        }
    }
    sdsinf_advice_free(&a);
}

static void test_impossible(void **state)
{
    (void)state;
    sdsinf_advice a = advise(1e-6, 0, 100000);
    assert_false(a.achievable);
    assert_int_equal(a.recommended, -1);
    assert_int_equal(a.nearest, 0);
    for (size_t i = 0; i < a.n; i++)
        assert_true(a.c[i].p.seconds >= a.c[a.nearest].p.seconds);
    sdsinf_advice_free(&a);

    a = advise(0, 1e-12, 100000); /* no budget that small: the cheapest */
    assert_false(a.achievable);
    assert_true(a.nearest >= 0);
    for (size_t i = 0; i < a.n; i++)
        assert_true(a.c[i].p.usd >= a.c[a.nearest].p.usd);
    sdsinf_advice_free(&a);
}

static void test_refused(void **state)
{
    (void)state;
    sdsinf_calibration c = calibration();
    sdsinf_latency_model m = constants();
    sdsinf_prices p = prices();
    sdsinf_prediction out;
    sdsinf_advice a;
    sdsinf_err err = {0};
    sdsinf_deployment d = lambda(SDSINF_VIA_S3, 4, 512);
    /* a batch of a million images does not fit 512 MB */
    d.batch_size = 1000000;
    assert_int_equal(sdsinf_predict(&c, &m, &p, 1000000, &d, &out, &err), 0);
    assert_non_null(out.infeasible);
    c.workers = 1;
    assert_int_equal(sdsinf_predict(&c, &m, &p, 10, &d, &out, &err),
                     SDSINF_EINVAL);
    c = calibration();
    double bad[LAYERS] = {1, 1, 1, NAN, 1, 1, 1, 1};
    c.bytes = bad;
    assert_int_equal(sdsinf_predict(&c, &m, &p, 10, &d, &out, &err),
                     SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "layer 4"));
    c = calibration();
    m.worker_bytes_per_s = 0;
    assert_int_equal(sdsinf_predict(&c, &m, &p, 10, &d, &out, &err),
                     SDSINF_EINVAL);
    m = constants();
    sdsinf_deployment e = {SDSINF_DEPLOYMENT_VERSION, SDSINF_ENGINE_MPI, 0,
                           0, 0, 0, 0, 0, "t2.nano", 2};
    assert_int_equal(sdsinf_predict(&c, &m, &p, 10, &e, &out, &err),
                     SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "t2.nano"));
    assert_int_equal(sdsinf_advise(&c, &m, &p, 10, 0, 0, &a, &err),
                     SDSINF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_vcpu_cap),
        cmocka_unit_test(test_gb_seconds),
        cmocka_unit_test(test_workers),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_tree),
        cmocka_unit_test(test_recommended),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_impossible),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
