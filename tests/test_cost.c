/* test_cost.c - the cost model (sdsinf_cost_compute) against bills worked
 * out by hand: SDS-Inf's published 8-worker Queue total from its raw
 * metrics, billing units counted and estimated from the bytes, S3 by kind,
 * Lambda by architecture, EC2 hours, and refused prices and usages. */
#include "testutil.h"

#include "channels/claim.h"
#include "channels/sqs_queue.h"

#include <math.h>
#include <string.h>

/* us-east-1 list prices (prices/aws.json), per request, GB-second, hour. */
static const sdsinf_instance_price INSTANCES[] = {{"c5.xlarge", 0.17}};

static sdsinf_prices list_prices(void)
{
    sdsinf_prices p;
    sdsinf_prices_init(&p);
    p.region = "us-east-1";
    p.lambda_usd_per_request = 0.20e-6;
    p.lambda_usd_per_gb_second[SDSINF_ARCH_X86_64] = 0.0000166667;
    p.lambda_usd_per_gb_second[SDSINF_ARCH_ARM64] = 0.0000133334;
    p.sqs_usd_per_request = 0.40e-6;
    p.sns_usd_per_publish = 0.50e-6;
    p.s3_usd_per_put = p.s3_usd_per_list = 0.005e-3;
    p.s3_usd_per_get = 0.0004e-3;
    p.instances = INSTANCES;
    p.ninstances = 1;
    return p;
}

/* The line of service/item in c, or NULL. */
static const sdsinf_cost_line *line(const sdsinf_cost *c, const char *svc,
                                    const char *item)
{
    for (int i = 0; i < c->nlines; i++)
        if (!strcmp(c->line[i].service, svc) && !strcmp(c->line[i].item, item))
            return &c->line[i];
    return NULL;
}

static void near(double got, double want)
{
    if (fabs(got - want) > 1e-12 * (fabs(want) + 1e-9))
        fail_msg("got %.17g, want %.17g", got, want);
}

/* c1_1024n_8w_10000bs_SQS: $0.021531605009375 in the workbook, from
 * 8 workers at 1000 MB, Z = 568.61206 s, 1,102 publishes of 104,131,260
 * bytes and 4,318 polls, at its prices (C_128 = 2.1e-6: $1.68e-5/GB-s;
 * 64,000-byte publish units; $9e-11 per byte sent). */
static void test_sdsinf_queue_total(void **state)
{
    (void)state;
    sdsinf_prices p = list_prices();
    sdsinf_usage u;
    sdsinf_cost c;
    sdsinf_err err = {0};
    p.lambda_usd_per_gb_second[0] = 2.1e-6 * 8;
    p.sns_unit_bytes = 64000;
    p.sns_usd_per_gb = 0.09;
    sdsinf_usage_init(&u);
    u.lambda_invocations = 9;
    u.lambda_gb_seconds = 568.61206 * 1000 / 1024;
    u.sns.send = 1102;
    u.sns_bytes = 104131260;
    u.sqs.receive = 4318;
    assert_int_equal(sdsinf_cost_compute(&p, &u, &c, &err), SDSINF_OK);
    near(c.usd, 2.1531605009375003e-2);
    near(c.lambda_usd, 9.330591609375001e-3);
    near(c.sns_usd, 1.04738134e-2);
    near(c.sqs_usd, 1.7272e-3);
    /* ceil(94,493 B / 64,000) = 2 units per publish: 1,102 beyond one */
    near(line(&c, "sns", "64KiB-units")->quantity, 1102);
    assert_true(c.estimated);
}

/* Units the channel counted win over the bytes; without them, sends and
 * non-empty receives each carry an average share of the bytes. */
static void test_units(void **state)
{
    (void)state;
    sdsinf_prices p = list_prices();
    sdsinf_usage u;
    sdsinf_cost c;
    sdsinf_err err = {0};
    sdsinf_usage_init(&u);
    u.sqs.send = 10;
    u.sqs.receive = 30; /* 10 empty: 20 carry the bytes */
    u.sqs.empty = 10;
    u.sqs.remove = 20;
    u.sqs_bytes = 10 * 100000; /* 100 kB a send: 2 units; 50 kB a receive */
    assert_int_equal(sdsinf_cost_compute(&p, &u, &c, &err), SDSINF_OK);
    near(line(&c, "sqs", "64KiB-units")->quantity, 10);
    near(c.sqs_usd, (10 + 30 + 20 + 10) * 0.40e-6);
    assert_true(c.estimated);

    u.sqs.units = 100; /* counted: 40 beyond the 60 calls */
    assert_int_equal(sdsinf_cost_compute(&p, &u, &c, &err), SDSINF_OK);
    near(line(&c, "sqs", "64KiB-units")->quantity, 40);
    near(c.usd, 100 * 0.40e-6);
    assert_false(c.estimated);

    sdsinf_usage_init(&u); /* no bytes: one unit a call */
    u.sns.send = 7;
    assert_int_equal(sdsinf_cost_compute(&p, &u, &c, &err), SDSINF_OK);
    near(c.usd, 7 * 0.50e-6);
    assert_null(line(&c, "sns", "64KiB-units"));
    assert_false(c.estimated);
}

/* S3 by kind (DELETE free), Lambda on arm64, an EC2 instance's hours. */
static void test_s3_lambda_ec2(void **state)
{
    (void)state;
    sdsinf_prices p = list_prices();
    sdsinf_usage u;
    sdsinf_cost c;
    sdsinf_err err = {0};
    sdsinf_usage_init(&u);
    u.s3.send = 1000;
    u.s3.receive = 2000;
    u.s3.list = 10;
    u.s3.remove = 5;
    u.lambda_invocations = 9;
    u.lambda_gb_seconds = 100;
    u.lambda_arch = SDSINF_ARCH_ARM64;
    u.instance = "c5.xlarge";
    u.instance_seconds = 1800;
    assert_int_equal(sdsinf_cost_compute(&p, &u, &c, &err), SDSINF_OK);
    near(c.s3_usd, 1000 * 5e-6 + 2000 * 4e-7 + 10 * 5e-6);
    near(line(&c, "s3", "delete")->usd, 0);
    near(c.lambda_usd, 9 * 0.2e-6 + 100 * 0.0000133334);
    near(c.ec2_usd, 0.085);
    near(line(&c, "ec2", "c5.xlarge")->quantity, 0.5);
    near(c.usd, c.s3_usd + c.lambda_usd + c.ec2_usd);
    assert_int_equal(c.nlines, 7);
}

/* A price or usage the model cannot take: SDSINF_EINVAL, naming it. */
static void test_refused(void **state)
{
    (void)state;
    sdsinf_prices p = list_prices();
    sdsinf_usage u;
    sdsinf_cost c;
    sdsinf_err err = {0};
    sdsinf_usage_init(&u);
    p.s3_usd_per_get = -1;
    assert_int_equal(sdsinf_cost_compute(&p, &u, &c, &err), SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "s3_usd_per_get"));
    p = list_prices();
    p.lambda_usd_per_gb_second[1] = NAN;
    assert_int_equal(sdsinf_cost_compute(&p, &u, &c, &err), SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "arm64"));
    p = list_prices();
    u.instance = "m9.huge";
    assert_int_equal(sdsinf_cost_compute(&p, &u, &c, &err), SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "m9.huge"));
    u.instance = NULL;
    u.lambda_arch = 7;
    assert_int_equal(sdsinf_cost_compute(&p, &u, &c, &err), SDSINF_EINVAL);
    u.lambda_arch = 0;
    u.lambda_gb_seconds = -1;
    assert_int_equal(sdsinf_cost_compute(&p, &u, &c, &err), SDSINF_EINVAL);
    u.lambda_gb_seconds = 0;
    u.sqs.send = 1;
    u.sqs_bytes = 5;
    p.sqs_unit_bytes = 0;
    assert_int_equal(sdsinf_cost_compute(&p, &u, &c, &err), SDSINF_EINVAL);
    p = list_prices();
    p.version = 0;
    assert_int_equal(sdsinf_cost_compute(&p, &u, &c, &err), SDSINF_EINVAL);
    assert_int_equal(sdsinf_cost_compute(NULL, &u, &c, &err), SDSINF_EINVAL);
}

/* The claim check's break-even under us-east-1's prices is the threshold
 * the channels take by default (channels/claim.h); free units never make
 * chunks dearer. */
static void test_claim_break_even(void **state)
{
    (void)state;
    sdsinf_prices p = list_prices();
    sdsinf_err err = {0};
    uint64_t b = 0;
    assert_int_equal(sdsinf_claim_break_even(&p, SDSINF_VIA_SQS, &b, &err),
                     SDSINF_OK);
    assert_int_equal(b, SDSINF__CLAIM_ABOVE_SQS);
    assert_int_equal(sdsinf_claim_break_even(&p, SDSINF_VIA_SNS, &b, &err),
                     SDSINF_OK);
    assert_int_equal(b, SDSINF__CLAIM_ABOVE_SNS);
    p.sqs_usd_per_request = p.sns_usd_per_publish = 0;
    assert_int_equal(sdsinf_claim_break_even(&p, SDSINF_VIA_SQS, &b, &err),
                     SDSINF_OK);
    assert_true(b == UINT64_MAX);
    p = list_prices();
    p.s3_usd_per_put = p.s3_usd_per_get = 0; /* objects free: every block */
    assert_int_equal(sdsinf_claim_break_even(&p, SDSINF_VIA_SNS, &b, &err),
                     SDSINF_OK);
    assert_int_equal(b, SDSINF_SQSQ_SNS_MAX);
    assert_int_equal(sdsinf_claim_break_even(&p, SDSINF_VIA_S3, &b, &err),
                     SDSINF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sdsinf_queue_total),
        cmocka_unit_test(test_units),
        cmocka_unit_test(test_s3_lambda_ec2),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_claim_break_even),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
