/* test_aws_s3.c - the S3 requests of aws/s3.h against the emulator
 * (with_aws.sh): buckets made and deleted (twice: no error), objects put
 * and fetched whole, by a range and by a suffix range with the whole
 * size, absent keys and buckets told apart from failures, listings paged,
 * DeleteObjects in one batch of 1000 and beyond.  Skipped (77) elsewhere. */
#include "testutil.h"

#include "aws/s3.h"

#include <stdlib.h>
#include <string.h>

#define BUCKET "sdsinf-test-s3-requests"

static sdsinf_aws *g_aws;

static int setup(void **state)
{
    (void)state;
    sdsinf_err err = {0};
    if (sdsinf__aws_new(&g_aws, &err) != SDSINF_OK)
        fail_msg("%s", err.msg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sdsinf__aws_free(g_aws);
    return 0;
}

static int count(void *u, const char *key)
{
    (void)key;
    ++*(int *)u;
    return SDSINF_OK;
}

static void test_objects(void **state)
{
    (void)state;
    sdsinf_err err = {0};
    sdsinf_aws_response rs;
    uint64_t size = 0, retries = 0;
    assert_int_equal(sdsinf__s3_bucket_create(g_aws, BUCKET, &retries, &err),
                     SDSINF_OK);
    assert_int_equal(sdsinf__s3_bucket_create(g_aws, BUCKET, &retries, &err),
                     SDSINF_OK); /* already ours */
    assert_int_equal(sdsinf__s3_put(g_aws, BUCKET, "a/b/0", "0123456789", 10,
                                    &retries, &err), SDSINF_OK);
    assert_int_equal(sdsinf__s3_put(g_aws, BUCKET, "a/b/empty", "", 0,
                                    &retries, &err), SDSINF_OK);
    assert_int_equal(sdsinf__s3_get(g_aws, BUCKET, "a/b/0", NULL, &rs, &size,
                                    &retries, &err), SDSINF_OK);
    assert_int_equal(rs.len, 10);
    assert_int_equal(size, 10);
    assert_memory_equal(rs.body, "0123456789", 10);
    sdsinf__aws_response_free(&rs);
    assert_int_equal(sdsinf__s3_get(g_aws, BUCKET, "a/b/0", "bytes=2-4", &rs,
                                    &size, &retries, &err), SDSINF_OK);
    assert_int_equal(rs.len, 3);
    assert_int_equal(size, 10);
    assert_memory_equal(rs.body, "234", 3);
    sdsinf__aws_response_free(&rs);
    assert_int_equal(sdsinf__s3_get(g_aws, BUCKET, "a/b/0", "bytes=-4", &rs,
                                    &size, &retries, &err), SDSINF_OK);
    assert_int_equal(rs.len, 4);
    assert_int_equal(size, 10);
    assert_memory_equal(rs.body, "6789", 4);
    sdsinf__aws_response_free(&rs);
    /* a suffix longer than the object: all of it */
    assert_int_equal(sdsinf__s3_get(g_aws, BUCKET, "a/b/0", "bytes=-400", &rs,
                                    &size, &retries, &err), SDSINF_OK);
    assert_int_equal(rs.len, 10);
    assert_int_equal(size, 10);
    sdsinf__aws_response_free(&rs);
    assert_int_equal(sdsinf__s3_get(g_aws, BUCKET, "a/b/empty", NULL, &rs,
                                    &size, &retries, &err), SDSINF_OK);
    assert_int_equal(rs.len, 0);
    sdsinf__aws_response_free(&rs);
    assert_int_equal(sdsinf__s3_get(g_aws, BUCKET, "a/b/none", NULL, &rs,
                                    &size, &retries, &err), SDSINF_S3_NOT_FOUND);
    sdsinf__aws_response_free(&rs);
    assert_int_equal(sdsinf__s3_get(g_aws, "sdsinf-no-such-bucket", "k", NULL,
                                    &rs, &size, &retries, &err),
                     SDSINF_S3_NOT_FOUND);
    sdsinf__aws_response_free(&rs);
    const char *keys[] = {"a/b/0", "a/b/empty", "a/b/never-there"};
    assert_int_equal(sdsinf__s3_delete(g_aws, BUCKET, keys, 3, &retries, &err),
                     SDSINF_OK);
    assert_int_equal(sdsinf__s3_delete(g_aws, BUCKET, keys, 0, &retries, &err),
                     SDSINF_EINVAL);
    assert_int_equal(sdsinf__s3_bucket_delete(g_aws, BUCKET, &retries, &err),
                     SDSINF_OK);
    assert_int_equal(sdsinf__s3_bucket_delete(g_aws, BUCKET, &retries, &err),
                     SDSINF_OK); /* already gone */
    assert_int_equal(retries, 0);
}

/* 1,205 keys: listed in pages of 500 (three, the last of 205), deleted in
 * batches of 1000 and 205. */
static void test_pages(void **state)
{
    (void)state;
    enum { N = 1205 };
    sdsinf_err err = {0};
    char token[1024] = "", *keys[N];
    int pages = 0, n = 0;
    assert_int_equal(sdsinf__s3_bucket_create(g_aws, BUCKET, NULL, &err),
                     SDSINF_OK);
    for (int i = 0; i < N; i++) {
        keys[i] = malloc(32);
        snprintf(keys[i], 32, "p/%05d", i);
        assert_int_equal(sdsinf__s3_put(g_aws, BUCKET, keys[i], "x", 1, NULL,
                                        &err), SDSINF_OK);
    }
    assert_int_equal(sdsinf__s3_put(g_aws, BUCKET, "q/other", "x", 1, NULL,
                                    &err), SDSINF_OK);
    do {
        assert_int_equal(sdsinf__s3_list(g_aws, BUCKET, "p/", 500, token,
                                         sizeof token, count, &n, NULL, &err),
                         SDSINF_OK);
        pages++;
    } while (token[0]);
    assert_int_equal(n, N);
    assert_int_equal(pages, 3);
    assert_int_equal(sdsinf__s3_delete(g_aws, BUCKET, (const char *const *)keys,
                                       1000, NULL, &err), SDSINF_OK);
    assert_int_equal(sdsinf__s3_delete(g_aws, BUCKET,
                                       (const char *const *)keys + 1000,
                                       N - 1000, NULL, &err), SDSINF_OK);
    const char *other = "q/other";
    assert_int_equal(sdsinf__s3_delete(g_aws, BUCKET, &other, 1, NULL, &err),
                     SDSINF_OK);
    n = 0;
    assert_int_equal(sdsinf__s3_list(g_aws, BUCKET, "", 1000, token,
                                     sizeof token, count, &n, NULL, &err),
                     SDSINF_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sdsinf__s3_list(g_aws, "sdsinf-no-such-bucket", "", 10,
                                     token, sizeof token, count, &n, NULL,
                                     &err), SDSINF_S3_NOT_FOUND);
    assert_int_equal(sdsinf__s3_bucket_delete(g_aws, BUCKET, NULL, &err),
                     SDSINF_OK);
    for (int i = 0; i < N; i++)
        free(keys[i]);
}

int main(void)
{
    if (!getenv("AWS_ENDPOINT_URL")) {
        printf("SKIP: needs an emulator: run through tests/with_aws.sh\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pages, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
