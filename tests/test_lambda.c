/* test_lambda.c - AWS Lambda's Invoke (aws/lambda.h) against the
 * emulator's function that tests/cli_lambda_launch.sh deployed
 * ($SDSINF_TEST_FUNCTION, the sdsinf bootstrap): a synchronous invocation
 * answers (a coordinator's run, on $SDSINF_TEST_WEIGHTS and
 * $SDSINF_TEST_IMAGES), a function's own error is SDSINF_EIO naming the
 * function, its errorType and errorMessage, an asynchronous one is queued
 * (202), several go out at once, a missing function is AWS's
 * ResourceNotFoundException with its message, and a name that is no
 * function's is refused before any request.  Skipped (77) elsewhere. */
#include "testutil.h"

#include "aws/lambda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sdsinf_aws *g_aws; /* one client for the group */
static const char *g_fn;

/* A synchronous invocation of ev: its status, *answer (freed by the
 * caller) and the error's message in err. */
static int sync_invoke(const char *fn, const char *ev, char **answer,
                       sdsinf_err *err)
{
    size_t len = 0;
    return sdsinf__lambda_invoke(g_aws, fn, 1, ev, strlen(ev), answer, &len,
                                 NULL, err);
}

static void test_answer(void **state)
{
    (void)state;
    char ev[2048], *answer = NULL;
    sdsinf_err err = {0};
    snprintf(ev, sizeof ev, "{\"run\": {\"weights\": \"%s\", \"images\": "
             "\"%s\", \"workers\": 2, \"method\": \"block\", \"launcher\": "
             "\"threads\"}}",
             getenv("SDSINF_TEST_WEIGHTS"), getenv("SDSINF_TEST_IMAGES"));
    int rc = sync_invoke(g_fn, ev, &answer, &err);
    if (rc != SDSINF_OK)
        fail_msg("%s", err.msg);
    assert_non_null(answer);
    char launcher[32];
    if (sdsinf__aws_json_string(answer, strlen(answer), "launcher", launcher,
                                sizeof launcher) != 0 ||
        strcmp(launcher, "threads") || !strstr(answer, "\"categories\""))
        fail_msg("the run's answer: %.300s", answer); /* (the emulator
                                                          writes it again) */
    free(answer);
}

static void test_function_error(void **state)
{
    (void)state;
    char *answer = (char *)"untouched";
    sdsinf_err err = {0};
    assert_int_equal(sync_invoke(g_fn, "\"not an object\"", &answer, &err),
                     SDSINF_EIO);
    assert_null(answer);
    assert_non_null(strstr(err.msg, g_fn));
    assert_non_null(strstr(err.msg, "(Unhandled): sdsinf.EPARSE: the event"));
    /* an option no run takes: the run's own words */
    assert_int_equal(sync_invoke(g_fn, "{\"run\": {\"BAD KEY\": 1}}", &answer,
                                 &err), SDSINF_EIO);
    assert_non_null(strstr(err.msg, "sdsinf.EINVAL"));
    assert_non_null(strstr(err.msg, "BAD KEY"));
}

static void test_events_at_once(void **state)
{
    (void)state;
    static const char ev[] = "{\"run\": {\"BAD KEY\": 1}}"; /* fails there */
    sdsinf_lambda_call call[3];
    sdsinf_err err = {0};
    for (int i = 0; i < 3; i++)
        if (sdsinf__lambda_invoke_start(g_aws, g_fn, 0, ev, sizeof ev - 1,
                                        NULL, &call[i], &err) != SDSINF_OK)
            fail_msg("%s", err.msg);
    for (int i = 0; i < 3; i++) {
        char *answer = (char *)"untouched";
        if (sdsinf__lambda_invoke_end(&call[i], &answer, NULL, &err) !=
            SDSINF_OK)
            fail_msg("%s", err.msg);
        assert_true(!answer || !answer[0]); /* queued: no answer */
        free(answer);
        assert_null(call[i].p);
    }
}

static void test_no_function(void **state)
{
    (void)state;
    sdsinf_err err = {0};
    for (int sync = 0; sync < 2; sync++) {
        assert_int_equal(sdsinf__lambda_invoke(g_aws, "sdsinf-no-function",
                                               sync, "{}", 2, NULL, NULL,
                                               NULL, &err), SDSINF_EIO);
        assert_non_null(strstr(err.msg, "Invoke sdsinf-no-function"));
        assert_non_null(strstr(err.msg, "HTTP 404 ResourceNotFoundException"));
        assert_non_null(strstr(err.msg, "Function not found"));
    }
}

static void test_bad_names(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "arn:aws:lambda:us-east-1:000000000000:function:f", "f:1",
        "f/../g", "a b",
        "x1234567890123456789012345678901234567890123456789012345678901234"};
    sdsinf_lambda_call call;
    sdsinf_err err = {0};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(sdsinf__lambda_invoke_start(g_aws, bad[i], 0, "{}",
                                                     2, NULL, &call, &err),
                         SDSINF_EINVAL);
        assert_null(call.p);
        assert_non_null(strstr(err.msg, "not a function's name"));
    }
    assert_int_equal(sdsinf__lambda_name_check("sdsinf-test_worker-1", &err),
                     SDSINF_OK);
}

int main(void)
{
    g_fn = getenv("SDSINF_TEST_FUNCTION");
    if (!getenv("AWS_ENDPOINT_URL") || !g_fn || !getenv("SDSINF_TEST_WEIGHTS")
        || !getenv("SDSINF_TEST_IMAGES")) {
        printf("SKIP: needs a deployed function: run through "
               "tests/cli_lambda_launch.sh\n");
        return 77;
    }
    sdsinf_err err = {0};
    if (sdsinf__aws_new(&g_aws, &err) != SDSINF_OK) {
        printf("FAIL: %s\n", err.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer),
        cmocka_unit_test(test_function_error),
        cmocka_unit_test(test_events_at_once),
        cmocka_unit_test(test_no_function),
        cmocka_unit_test(test_bad_names),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    sdsinf__aws_free(g_aws);
    return failed;
}
