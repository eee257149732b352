/* test_claim.c - the claim check of the sqs and sns channels
 * (channels/claim.h): pointers read strictly (every malformed one
 * refused); against the emulator (with_aws.sh), a block stored and
 * fetched, fetched again as a redelivered pointer would be (the same
 * bytes: the runtime drops the duplicate), another run's pointer left
 * alone, a pointer whose checksum or size disagrees with its object
 * refused, and a pointer whose object the run's removal took a clear
 * error; the run's objects and bucket counted and removed, each request
 * counted.  Skipped (77) without an emulator. */
#include "testutil.h"

#include "channels/claim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void test_pointer_parse(void **state)
{
    (void)state;
    sdsinf__claim_ptr p;
    const char *good = "@1 458753 00ff12ab34cd56ef sdsinf/00000000000000a1/3/x-7";
    assert_int_equal(sdsinf__claim_parse(good, strlen(good), &p), 0);
    assert_true(p.size == 458753 && p.sum == 0x00ff12ab34cd56efull);
    assert_string_equal(p.key, "sdsinf/00000000000000a1/3/x-7");
    static const char *const bad[] = {
        "", "@", "@1", "@1 ", "@2 1 00ff12ab34cd56ef k", "@1 01 00ff12ab34cd56ef k",
        "@1 1 00ff12ab34cd56e k", "@1 1 00FF12AB34CD56EF k",
        "@1 1 00ff12ab34cd56ef ", "@1 1 00ff12ab34cd56ef /k",
        "@1 1 00ff12ab34cd56ef a/../b", "@1 1 00ff12ab34cd56ef a b",
        "@1 18446744073709551616 00ff12ab34cd56ef k", "@1 -1 00ff12ab34cd56ef k",
        "@1 1  00ff12ab34cd56ef k"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (sdsinf__claim_parse(bad[i], strlen(bad[i]), &p) == 0)
            fail_msg("pointer '%s' was read", bad[i]);
    /* a NUL inside, and a key too long */
    assert_int_equal(sdsinf__claim_parse("@1 1 00ff12ab34cd56ef a\0b", 25, &p),
                     -1);
    char longkey[400];
    int n = snprintf(longkey, sizeof longkey, "@1 1 00ff12ab34cd56ef ");
    memset(longkey + n, 'k', sizeof longkey - (size_t)n - 1);
    longkey[sizeof longkey - 1] = 0;
    assert_int_equal(sdsinf__claim_parse(longkey, strlen(longkey), &p), -1);
    /* the settings */
    sdsinf__claim_settings c = {0};
    sdsinf__setting it;
    const char *s = "claim=auto,claim_above=500000,bucket=my-bucket.1";
    for (int k = 0; sdsinf__setting_next(&s, &it); k++)
        assert_int_equal(sdsinf__claim_setting(&c, &it), 0);
    assert_true(c.mode == SDSINF__CLAIM_AUTO && c.above == 500000);
    assert_string_equal(c.bucket, "my-bucket.1");
    static const char *const bad_set[] = {"claim=on", "claim_above=0",
                                          "claim_above=1x", "bucket=-b",
                                          "bucket=ab", "bucket=A_b"};
    for (size_t i = 0; i < sizeof bad_set / sizeof *bad_set; i++) {
        s = bad_set[i];
        assert_true(sdsinf__setting_next(&s, &it));
        assert_int_equal(sdsinf__claim_setting(&c, &it), -1);
    }
    s = "wait=3";
    assert_true(sdsinf__setting_next(&s, &it));
    assert_int_equal(sdsinf__claim_setting(&c, &it), 1);
}

/* A block of n bytes that depends on seed. */
static unsigned char *block(size_t n, unsigned seed)
{
    unsigned char *b = malloc(n);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(i * 7 + seed + (i >> 10));
    return b;
}

static void test_store_fetch(void **state)
{
    (void)state;
    sdsinf_err err = {0};
    sdsinf_aws *aws = NULL;
    if (sdsinf__aws_new(&aws, &err) != SDSINF_OK)
        fail_msg("%s", err.msg);
    sdsinf_channel ch;
    memset(&ch, 0, sizeof ch);
    ch.self = 2;
    ch.workers = 4;
    ch.run = 0x5eed000000000001ull;
    sdsinf__claim_settings st = {SDSINF__CLAIM_ALWAYS, 0, ""};
    sdsinf__claim c;
    /* a standalone open: makes the run's own bucket */
    assert_int_equal(sdsinf__claim_open(&c, &ch, aws, "sqs", &st, "tclaim",
                                        1000, 5000, 0, &err), SDSINF_OK);
    assert_int_equal(ch.max_message, 1000);
    assert_int_equal(ch.whole_above, 1000);
    assert_int_equal(ch.requests.s3_put, 1);
    size_t n = 300000;
    unsigned char *b = block(n, 3);
    char ptr[SDSINF__CLAIM_PTR_CAP];
    size_t plen = 0;
    assert_int_equal(sdsinf__claim_store(&c, b, n, ptr, &plen, &err),
                     SDSINF_OK);
    assert_int_equal(strlen(ptr), plen);
    assert_true(plen < 120);
    for (int again = 0; again < 2; again++) { /* redelivered: the same */
        unsigned char *got = NULL;
        size_t len = 0;
        assert_int_equal(sdsinf__claim_fetch(&c, ptr, plen, &got, &len, &err),
                         SDSINF_OK);
        assert_int_equal(len, n);
        assert_memory_equal(got, b, n);
        free(got);
    }
    assert_int_equal(ch.requests.s3_get, 2);
    /* another run's pointer: left alone */
    char other[SDSINF__CLAIM_PTR_CAP];
    snprintf(other, sizeof other, "@1 5 0000000000000001 tclaim/%016" PRIx64
             "/0/x-0", ch.run + 1);
    unsigned char *got = NULL;
    size_t len = 0;
    assert_int_equal(sdsinf__claim_fetch(&c, other, strlen(other), &got, &len,
                                         &err), 1);
    /* a checksum, or a size, that is not the object's */
    char wrong[SDSINF__CLAIM_PTR_CAP];
    memcpy(wrong, ptr, plen + 1);
    char *sum = strchr(wrong + 3, ' ') + 1;
    sum[15] = sum[15] == '0' ? '1' : '0';
    assert_int_equal(sdsinf__claim_fetch(&c, wrong, plen, &got, &len, &err),
                     SDSINF_ECORRUPT);
    assert_non_null(strstr(err.msg, "s3://"));
    assert_int_equal(sdsinf__claim_fetch(&c, "@1 x", 4, &got, &len, &err),
                     SDSINF_ECORRUPT);
    assert_non_null(strstr(err.msg, "did not write"));
    /* the run's objects: its bucket and one object */
    int64_t items = 0;
    assert_int_equal(sdsinf__claim_run_count(aws, &st, "tclaim", ch.run,
                                             &items, &err), SDSINF_OK);
    assert_int_equal(items, 2);
    sdsinf_requests req = {0};
    assert_int_equal(sdsinf__claim_run_remove(aws, &st, "tclaim", ch.run, &req,
                                              &err), SDSINF_OK);
    assert_true(req.s3_list >= 1 && req.s3_remove == 2); /* objects, bucket */
    items = 0;
    assert_int_equal(sdsinf__claim_run_count(aws, &st, "tclaim", ch.run,
                                             &items, &err), SDSINF_OK);
    assert_int_equal(items, 0);
    /* a pointer whose object went with the run: a clear error */
    assert_int_equal(sdsinf__claim_fetch(&c, ptr, plen, &got, &len, &err),
                     SDSINF_EIO);
    assert_non_null(strstr(err.msg, "removed"));
    /* claim=off: nothing to make or remove */
    sdsinf__claim_settings off = {SDSINF__CLAIM_OFF, 0, ""};
    memset(&req, 0, sizeof req);
    assert_int_equal(sdsinf__claim_run_create(aws, &off, ch.run, &req, &err),
                     SDSINF_OK);
    assert_int_equal(sdsinf__claim_run_remove(aws, &off, "tclaim", ch.run,
                                              &req, &err), SDSINF_OK);
    assert_int_equal(req.s3_put + req.s3_list + req.s3_remove, 0);
    free(b);
    sdsinf__aws_free(aws);
}

int main(void)
{
    const struct CMUnitTest parse[] = {
        cmocka_unit_test(test_pointer_parse),
    };
    int rc = cmocka_run_group_tests(parse, NULL, NULL);
    if (rc || !getenv("AWS_ENDPOINT_URL")) {
        if (!rc)
            printf("SKIP: the rest needs an emulator: run through "
                   "tests/with_aws.sh\n");
        return rc ? rc : 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_fetch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
