/* test_aws_s3.c - the S3 requests of aws/s3.h against the emulator
 * (with_aws.sh): buckets made and deleted (twice: no error), objects put
 * and fetched whole, by a range and by a suffix range with the whole
 * size, absent keys and buckets told apart from failures, listings paged,
 * DeleteObjects in one batch of 1000 and beyond; an object's identity
 * (HeadObject's ETag, size, Last-Modified; sdsinf__location_identity) that
 * changes with its content, and put-once (absent or shorter: put; there
 * whole: not), each request counted; and the s3 channel's
 * reading of objects others wrote under a run's keys: bytes that are no
 * block object are SDSINF_EPARSE naming the key, never a crash.  Skipped
 * (77) elsewhere. */
#include "testutil.h"

#include "aws/s3.h"
#include "core/location.h"

#include <inttypes.h>
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

/* HeadObject, an object's identity and put-once, each request counted. */
static void test_identity_put_once(void **state)
{
    (void)state;
    sdsinf_err err = {0};
    sdsinf__s3_object o;
    sdsinf_requests r = {0}, *tally = sdsinf__location_tally(), before;
    char id1[256], id2[256], id3[256];
    const char *loc = "s3://" BUCKET "/p/plan.bin";
    int put = -1;
    assert_int_equal(sdsinf__s3_bucket_create(g_aws, BUCKET, NULL, &err),
                     SDSINF_OK);
    assert_int_equal(sdsinf__s3_head(g_aws, BUCKET, "p/plan.bin", &o, NULL,
                                     &err), SDSINF_S3_NOT_FOUND);
    assert_int_equal(sdsinf__s3_put_once(g_aws, BUCKET, "p/plan.bin", "12345",
                                         5, &r, &put, &err), SDSINF_OK);
    assert_int_equal(put, 1);
    assert_int_equal(sdsinf__s3_put_once(g_aws, BUCKET, "p/plan.bin", "12345",
                                         5, &r, &put, &err), SDSINF_OK);
    assert_int_equal(put, 0); /* there whole */
    assert_int_equal(sdsinf__s3_present(g_aws, BUCKET, "p/plan.bin", 6, &r,
                                        &err), 0); /* shorter: cut short */
    assert_int_equal(r.receive, 3);
    assert_int_equal(r.send, 1);
    assert_int_equal(sdsinf__s3_head(g_aws, BUCKET, "p/plan.bin", &o, NULL,
                                     &err), SDSINF_OK);
    assert_int_equal(o.size, 5);
    assert_true(o.etag[0] && o.modified[0]);
    /* the identity: one HEAD (a receive) each, the same until the content
     * changes under the same key */
    memcpy(&before, tally, sizeof before);
    assert_int_equal(sdsinf__location_identity(loc, id1, sizeof id1, &err),
                     SDSINF_OK);
    assert_int_equal(sdsinf__location_identity(loc, id2, sizeof id2, &err),
                     SDSINF_OK);
    assert_string_equal(id1, id2);
    assert_int_equal(tally->receive - before.receive, 2);
    assert_int_equal(tally->send, before.send);
    assert_int_equal(sdsinf__s3_put(g_aws, BUCKET, "p/plan.bin", "54321", 5,
                                    NULL, &err), SDSINF_OK);
    assert_int_equal(sdsinf__location_identity(loc, id3, sizeof id3, &err),
                     SDSINF_OK);
    assert_string_not_equal(id1, id3);
    assert_int_equal(sdsinf__location_identity("s3://" BUCKET "/p/none", id3,
                                               sizeof id3, &err),
                     SDSINF_EIO);
    assert_non_null(strstr(err.msg, "p/none: no such object"));
    assert_int_equal(sdsinf__location_identity(loc, id3, 8, &err),
                     SDSINF_EINVAL);
    const char *keys[] = {"p/plan.bin"};
    assert_int_equal(sdsinf__s3_delete(g_aws, BUCKET, keys, 1, NULL, &err),
                     SDSINF_OK);
    assert_int_equal(sdsinf__s3_bucket_delete(g_aws, BUCKET, NULL, &err),
                     SDSINF_OK);
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

/* A combined object: blocks bytes, then one entry {target, 0, offset,
 * length} and {n, magic} (little-endian; the host is): n may lie. */
static size_t combined(unsigned char *out, const char *blocks, uint32_t n,
                       const uint64_t (*e)[3], uint32_t magic)
{
    size_t len = strlen(blocks);
    uint32_t t = (uint32_t)e[0][0], zero = 0;
    memcpy(out, blocks, len);
    memcpy(out + len, &t, 4);
    memcpy(out + len + 4, &zero, 4);
    memcpy(out + len + 8, &e[0][1], 8);
    memcpy(out + len + 16, &e[0][2], 8);
    memcpy(out + len + 24, &n, 4);
    memcpy(out + len + 28, &magic, 4);
    return len + 32;
}

static void test_foreign_objects(void **state)
{
    (void)state;
    enum { MAGIC = 0x42533353 };
    const uint64_t run = 0x5eed0001, good[][3] = {{1, 2, 5}},
                   beyond[][3] = {{1, 5, 100}}, others[][3] = {{0, 0, 7}};
    sdsinf_err err = {0};
    sdsinf_channel *ch = NULL;
    assert_int_equal(sdsinf_channel_open("s3", NULL, 1, 2, run, &ch, &err),
                     SDSINF_OK);
    char bucket[64], key[128];
    snprintf(bucket, sizeof bucket, "sdsinf-%016" PRIx64, run);
    struct {
        unsigned char bytes[256];
        size_t len;
        int want;
    } c[6];
    memcpy(c[0].bytes, "abc", 3), c[0].len = 3, c[0].want = SDSINF_EPARSE;
    memset(c[1].bytes, 0, 16), c[1].len = 16, c[1].want = SDSINF_EPARSE;
    c[2].len = combined(c[2].bytes, "xy", 1000, good, MAGIC);
    c[2].want = SDSINF_EPARSE; /* more entries than bytes */
    c[3].len = combined(c[3].bytes, "xyhello", 1, beyond, MAGIC);
    c[3].want = SDSINF_EPARSE; /* a block past the blocks */
    c[4].len = combined(c[4].bytes, "xyhello", 1, good, MAGIC);
    c[4].want = SDSINF_OK;
    c[5].len = combined(c[5].bytes, "another", 1, others, MAGIC);
    c[5].want = SDSINF_ETIMEDOUT; /* no block for worker 1 */
    for (uint32_t i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "sdsinf/%016" PRIx64 "/s/0/%" PRIu32 "/0",
                 run, i);
        assert_int_equal(sdsinf__s3_put(g_aws, bucket, key, c[i].bytes,
                                        c[i].len, NULL, &err), SDSINF_OK);
        sdsinf_msg_key want = {run, 0, i, 0, 1, 0, 1};
        void *msg = NULL;
        size_t len = 0;
        int rc = sdsinf_channel_recv(ch, &want, &msg, &len, 50, &err);
        if (rc != c[i].want)
            fail_msg("object %u: %s: %s", i, sdsinf_status_name(rc), err.msg);
        if (rc == SDSINF_EPARSE)
            assert_non_null(strstr(err.msg, key));
        if (rc == SDSINF_OK) {
            assert_int_equal(len, 5);
            assert_memory_equal(msg, "hello", 5);
        }
        free(msg);
    }
    assert_int_equal(sdsinf_channel_close(ch, 1, &err), SDSINF_OK);
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
        cmocka_unit_test_setup_teardown(test_identity_put_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_foreign_objects, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
