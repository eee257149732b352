/* test_aws_sign.c - every kind of request sdsinf signs (SQS and SNS query
 * forms, S3 PUT/GET/DELETE with x-amz-content-sha256, Lambda's Invoke with
 * its X-Amz-Invocation-Type) is accepted with the
 * right key and refused, SDSINF_EACCES with AWS's code in the message,
 * with a wrong secret or an unknown key.  Run under `with_aws.sh --moto`
 * (moto_server with IAM authentication on); skipped (77) elsewhere. */
#include "testutil.h"

#include "aws/aws.h"
#include "aws/lambda.h"

#include <stdlib.h>
#include <string.h>

static sdsinf_aws *g_good, *g_bad_secret, *g_bad_key;

static int setup(void **state)
{
    (void)state;
    sdsinf_aws_config c;
    sdsinf_err err = {0};
    if (sdsinf__aws_config_load(&c, &err) != SDSINF_OK)
        fail_msg("%s", err.msg);
    if (sdsinf__aws_new_with(&c, &g_good, &err) != SDSINF_OK)
        fail_msg("%s", err.msg);
    sdsinf_aws_config b = c;
    b.secret_key[0] ^= 1; /* one bit off */
    b.max_attempts = 1;
    assert_int_equal(sdsinf__aws_new_with(&b, &g_bad_secret, &err), SDSINF_OK);
    b = c;
    snprintf(b.access_key, sizeof b.access_key, "AKIAUNKNOWN0000000000");
    assert_int_equal(sdsinf__aws_new_with(&b, &g_bad_key, &err), SDSINF_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sdsinf__aws_free(g_good);
    sdsinf__aws_free(g_bad_secret);
    sdsinf__aws_free(g_bad_key);
    return 0;
}

/* Posts a query form; returns the status, the answer freed. */
static int post(sdsinf_aws *a, sdsinf_aws_service s, sdsinf_aws_form *f,
                const char *what, sdsinf_err *err)
{
    sdsinf_aws_response rs;
    int rc = sdsinf__aws_post_form(a, s, NULL, f, what, 0, 0, &rs, NULL, err);
    sdsinf__aws_response_free(&rs);
    return rc;
}

static int s3(sdsinf_aws *a, const char *method, const char *path,
              const char *body, char **got, sdsinf_err *err)
{
    sdsinf_aws_request rq = {
        .version = SDSINF_AWS_REQUEST_VERSION, .service = SDSINF_AWS_S3,
        .method = method, .path = path, .body = body,
        .body_len = body ? strlen(body) : 0, .what = path};
    sdsinf_aws_response rs;
    int rc = sdsinf__aws_call(a, &rq, &rs, NULL, err);
    if (got && rc == SDSINF_OK) {
        *got = rs.body;
        rs.body = NULL;
    }
    sdsinf__aws_response_free(&rs);
    return rc;
}

/* A's refusal: SDSINF_EACCES naming the code AWS gave. */
static void expect_refused(int rc, const sdsinf_err *err, const char *code)
{
    if (rc != SDSINF_EACCES)
        fail_msg("expected a refusal (%s), got %s: %s", code,
                 sdsinf_status_name(rc), err->msg);
    if (!strstr(err->msg, code))
        fail_msg("the refusal does not name %s: %s", code, err->msg);
    print_message("refused as expected: %s\n", err->msg);
}

static void test_sqs(void **state)
{
    (void)state;
    sdsinf_err err = {0};
    sdsinf_aws_form f;
    sdsinf__aws_form_init(&f, "CreateQueue", "2012-11-05");
    sdsinf__aws_form_add(&f, "sign-q", 6, "QueueName");
    expect_refused(post(g_bad_secret, SDSINF_AWS_SQS, &f, "CreateQueue sign-q",
                        &err),
                   &err, "SignatureDoesNotMatch");
    expect_refused(post(g_bad_key, SDSINF_AWS_SQS, &f, "CreateQueue sign-q",
                        &err),
                   &err, "InvalidClientTokenId");
    if (post(g_good, SDSINF_AWS_SQS, &f, "CreateQueue sign-q", &err) != SDSINF_OK)
        fail_msg("%s", err.msg);
    sdsinf__aws_form_free(&f);

    sdsinf__aws_form_init(&f, "GetQueueUrl", "2012-11-05");
    sdsinf__aws_form_add(&f, "sign-q", 6, "QueueName");
    sdsinf_aws_response rs;
    assert_int_equal(sdsinf__aws_post_form(g_good, SDSINF_AWS_SQS, NULL, &f,
                                           "GetQueueUrl", 0, 0, &rs, NULL, &err),
                     SDSINF_OK);
    sdsinf__aws_form_free(&f);
    sdsinf_aws_xml *x = NULL;
    char url[512];
    assert_int_equal(sdsinf__aws_xml_parse(rs.body, rs.len, "GetQueueUrl", &x,
                                           &err),
                     SDSINF_OK);
    assert_int_equal(sdsinf__aws_xml_copy(sdsinf__aws_xml_find(x, NULL,
                                                               "QueueUrl"),
                                          NULL, url, sizeof url),
                     0);
    sdsinf__aws_xml_free(x);
    sdsinf__aws_response_free(&rs);

    /* a message to the queue's own URL, binary attribute included */
    sdsinf__aws_form_init(&f, "SendMessage", "2012-11-05");
    sdsinf__aws_form_add(&f, url, strlen(url), "QueueUrl");
    sdsinf__aws_form_add(&f, "b", 1, "MessageBody");
    sdsinf__aws_form_add(&f, "d", 1, "MessageAttribute.1.Name");
    sdsinf__aws_form_add(&f, "Binary", 6, "MessageAttribute.1.Value.DataType");
    sdsinf__aws_form_add(&f, "AAEC", 4, "MessageAttribute.1.Value.BinaryValue");
    expect_refused(post(g_bad_secret, SDSINF_AWS_SQS, &f, "SendMessage", &err),
                   &err, "SignatureDoesNotMatch");
    if (post(g_good, SDSINF_AWS_SQS, &f, "SendMessage", &err) != SDSINF_OK)
        fail_msg("%s", err.msg);
    sdsinf__aws_form_free(&f);

    sdsinf__aws_form_init(&f, "DeleteQueue", "2012-11-05");
    sdsinf__aws_form_add(&f, url, strlen(url), "QueueUrl");
    if (post(g_good, SDSINF_AWS_SQS, &f, "DeleteQueue", &err) != SDSINF_OK)
        fail_msg("%s", err.msg);
    sdsinf__aws_form_free(&f);
}

static void test_sns(void **state)
{
    (void)state;
    sdsinf_err err = {0};
    sdsinf_aws_form f;
    sdsinf__aws_form_init(&f, "CreateTopic", "2010-03-31");
    sdsinf__aws_form_add(&f, "sign-t", 6, "Name");
    expect_refused(post(g_bad_secret, SDSINF_AWS_SNS, &f, "CreateTopic", &err),
                   &err, "SignatureDoesNotMatch");
    sdsinf_aws_response rs;
    if (sdsinf__aws_post_form(g_good, SDSINF_AWS_SNS, NULL, &f, "CreateTopic",
                              0, 0, &rs, NULL, &err) != SDSINF_OK)
        fail_msg("%s", err.msg);
    sdsinf__aws_form_free(&f);
    sdsinf_aws_xml *x = NULL;
    char arn[256];
    assert_int_equal(sdsinf__aws_xml_parse(rs.body, rs.len, "CreateTopic", &x,
                                           &err),
                     SDSINF_OK);
    assert_int_equal(sdsinf__aws_xml_copy(sdsinf__aws_xml_find(x, NULL,
                                                               "TopicArn"),
                                          NULL, arn, sizeof arn),
                     0);
    sdsinf__aws_xml_free(x);
    sdsinf__aws_response_free(&rs);
    sdsinf__aws_form_init(&f, "DeleteTopic", "2010-03-31");
    sdsinf__aws_form_add(&f, arn, strlen(arn), "TopicArn");
    if (post(g_good, SDSINF_AWS_SNS, &f, "DeleteTopic", &err) != SDSINF_OK)
        fail_msg("%s", err.msg);
    sdsinf__aws_form_free(&f);
}

static void test_s3(void **state)
{
    (void)state;
    sdsinf_err err = {0};
    char *got = NULL;
    expect_refused(s3(g_bad_secret, "PUT", "/sign-b", NULL, NULL, &err), &err,
                   "SignatureDoesNotMatch");
    if (s3(g_good, "PUT", "/sign-b", NULL, NULL, &err) != SDSINF_OK)
        fail_msg("%s", err.msg);
    const char *body = "a block of activations \x01\x02";
    expect_refused(s3(g_bad_secret, "PUT", "/sign-b/k/1", body, NULL, &err),
                   &err, "SignatureDoesNotMatch");
    if (s3(g_good, "PUT", "/sign-b/k/1", body, NULL, &err) != SDSINF_OK)
        fail_msg("%s", err.msg);
    expect_refused(s3(g_bad_key, "GET", "/sign-b/k/1", NULL, NULL, &err), &err,
                   "InvalidAccessKeyId");
    expect_refused(s3(g_bad_secret, "GET", "/sign-b/k/1", NULL, NULL, &err),
                   &err, "SignatureDoesNotMatch");
    if (s3(g_good, "GET", "/sign-b/k/1", NULL, &got, &err) != SDSINF_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(got, body);
    sdsinf__free(got);
    /* absent: an error answer, not a refusal */
    assert_int_equal(s3(g_good, "GET", "/sign-b/none", NULL, NULL, &err),
                     SDSINF_EIO);
    assert_non_null(strstr(err.msg, "NoSuchKey"));
    expect_refused(s3(g_bad_secret, "DELETE", "/sign-b/k/1", NULL, NULL, &err),
                   &err, "SignatureDoesNotMatch");
    if (s3(g_good, "DELETE", "/sign-b/k/1", NULL, NULL, &err) != SDSINF_OK ||
        s3(g_good, "DELETE", "/sign-b", NULL, NULL, &err) != SDSINF_OK)
        fail_msg("%s", err.msg);
}

/* Temporary credentials (an assumed role's): accepted with their session
 * token (X-Amz-Security-Token), refused with another. */
/* Invoke, both kinds: signed right, it reaches Lambda (which has no such
 * function: AWS's ResourceNotFoundException); else refused. */
static void test_lambda(void **state)
{
    (void)state;
    sdsinf_err err = {0};
    for (int sync = 0; sync < 2; sync++) {
        expect_refused(sdsinf__lambda_invoke(g_bad_secret, "sdsinf-sign-none",
                                             sync, "{}", 2, NULL, NULL, NULL,
                                             &err),
                       &err, "SignatureDoesNotMatch");
        int rc = sdsinf__lambda_invoke(g_good, "sdsinf-sign-none", sync, "{}",
                                       2, NULL, NULL, NULL, &err);
        if (rc != SDSINF_EIO || !strstr(err.msg, "ResourceNotFoundException"))
            fail_msg("expected ResourceNotFoundException, got %s: %s",
                     sdsinf_status_name(rc), err.msg);
    }
}

static void test_session_token(void **state)
{
    (void)state;
    const char *k = getenv("SDSINF_TEST_TEMP_KEY");
    const char *sk = getenv("SDSINF_TEST_TEMP_SECRET");
    const char *t = getenv("SDSINF_TEST_TEMP_TOKEN");
    if (!k || !sk || !t)
        skip();
    sdsinf_aws_config c = *sdsinf__aws_config(g_good);
    sdsinf_err err = {0};
    snprintf(c.access_key, sizeof c.access_key, "%s", k);
    snprintf(c.secret_key, sizeof c.secret_key, "%s", sk);
    snprintf(c.session_token, sizeof c.session_token, "%s", t);
    c.max_attempts = 1;
    sdsinf_aws *a = NULL;
    assert_int_equal(sdsinf__aws_new_with(&c, &a, &err), SDSINF_OK);
    sdsinf_aws_form f;
    sdsinf__aws_form_init(&f, "ListQueues", "2012-11-05");
    if (post(a, SDSINF_AWS_SQS, &f, "ListQueues", &err) != SDSINF_OK)
        fail_msg("%s", err.msg);
    sdsinf__aws_free(a);
    c.session_token[0] ^= 1;
    assert_int_equal(sdsinf__aws_new_with(&c, &a, &err), SDSINF_OK);
    int rc = post(a, SDSINF_AWS_SQS, &f, "ListQueues", &err);
    if (rc != SDSINF_EACCES)
        fail_msg("a wrong session token gave %s: %s", sdsinf_status_name(rc),
                 err.msg);
    print_message("refused as expected: %s\n", err.msg);
    sdsinf__aws_free(a);
    sdsinf__aws_form_free(&f);
}

int main(void)
{
    const char *emu = getenv("SDSINF_AWS_EMULATOR");
    if (!emu || strcmp(emu, "moto") != 0) {
        printf("SKIP: run under tests/with_aws.sh --moto (moto with "
               "authentication on)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqs),
        cmocka_unit_test(test_sns),
        cmocka_unit_test(test_s3),
        cmocka_unit_test(test_lambda),
        cmocka_unit_test(test_session_token),
    };
    return cmocka_run_group_tests_name("aws_sign", tests, setup, teardown);
}
