/* test_s3obj.c - the s3 channel's combined objects (channels/s3obj.h)
 * without a service: blocks in, encoded, read back from the whole object
 * and from tails of every length; a block added again moves its entry and
 * leaves the older bytes where an older trailer points; every truncation
 * and every byte of the trailer changed reads as no object or as a valid
 * one, never past the bytes; allocation failures are -1, not crashes. */
#include "testutil.h"

#include "channels/s3obj.h"

#include <stdlib.h>
#include <string.h>

/* An object with blocks for targets 3, 0 and 5 (5 empty). */
static void build(sdsinf__s3obj *o, unsigned char **bytes, size_t *len)
{
    memset(o, 0, sizeof *o);
    assert_int_equal(sdsinf__s3obj_add(o, 3, "three", 5), 0);
    assert_int_equal(sdsinf__s3obj_add(o, 0, "zero!!", 6), 0);
    assert_int_equal(sdsinf__s3obj_add(o, 5, NULL, 0), 0);
    assert_int_equal(sdsinf__s3obj_encode(o, bytes, len), 0);
}

static void test_round_trip(void **state)
{
    (void)state;
    sdsinf__s3obj o, r = {0};
    unsigned char *b;
    size_t n;
    build(&o, &b, &n);
    assert_int_equal(n, 11 + 3 * 24 + 8);
    assert_int_equal(sdsinf__s3obj_load(&r, b, n), 0);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.len, 11);
    const sdsinf__s3obj_entry *e = sdsinf__s3obj_find(&r, 0);
    assert_non_null(e);
    assert_int_equal(e->len, 6);
    assert_memory_equal(r.data + e->offset, "zero!!", 6);
    assert_int_equal(sdsinf__s3obj_find(&r, 5)->len, 0);
    assert_null(sdsinf__s3obj_find(&r, 4));
    /* from every tail: the trailer, or how much of it there is */
    for (size_t got = 0; got <= n; got++) {
        uint64_t blocks = 0, need = 0;
        int rc = sdsinf__s3obj_parse(b + n - got, got, n, &r, &blocks, &need);
        if (got < 8)
            assert_int_equal(rc, SDSINF__S3OBJ_BAD);
        else if (got < 3 * 24 + 8)
            assert_true(rc == SDSINF__S3OBJ_SHORT && need == 3 * 24 + 8);
        else
            assert_true(rc == 0 && blocks == 11 && r.n == 3);
    }
    /* target 3 again: appended, its entry moved, "three" left in place */
    assert_int_equal(sdsinf__s3obj_add(&o, 3, "THREE", 5), 0);
    unsigned char *b2;
    size_t n2;
    assert_int_equal(sdsinf__s3obj_encode(&o, &b2, &n2), 0);
    assert_int_equal(sdsinf__s3obj_load(&r, b2, n2), 0);
    assert_int_equal(r.n, 3);
    e = sdsinf__s3obj_find(&r, 3);
    assert_memory_equal(b2 + e->offset, "THREE", 5);
    assert_memory_equal(b2, "three", 5); /* where the old trailer points */
    sdsinf__free(b);
    sdsinf__free(b2);
    sdsinf__s3obj_free(&o);
    sdsinf__s3obj_free(&r);
}

/* Truncated, or one trailer byte changed: BAD, SHORT or a parse whose
 * entries all lie within the blocks. */
static void test_damaged(void **state)
{
    (void)state;
    sdsinf__s3obj o, r = {0};
    unsigned char *b;
    size_t n;
    build(&o, &b, &n);
    for (size_t cut = 0; cut < n; cut++) {
        uint64_t blocks = 0, need = 0;
        int rc = sdsinf__s3obj_parse(b, cut, cut, &r, &blocks, &need);
        assert_true(rc == SDSINF__S3OBJ_BAD || rc == SDSINF__S3OBJ_SHORT ||
                    rc == 0);
    }
    for (size_t at = 11; at < n; at++)
        for (int bit = 0; bit < 8; bit++) {
            uint64_t blocks = 0, need = 0;
            b[at] ^= (unsigned char)(1u << bit);
            int rc = sdsinf__s3obj_parse(b, n, n, &r, &blocks, &need);
            assert_true(rc == 0 || rc == SDSINF__S3OBJ_BAD ||
                        rc == SDSINF__S3OBJ_SHORT);
            for (uint32_t i = 0; rc == 0 && i < r.n; i++)
                assert_true(r.e[i].offset + r.e[i].len <= blocks);
            b[at] ^= (unsigned char)(1u << bit);
        }
    sdsinf__free(b);
    sdsinf__s3obj_free(&o);
    sdsinf__s3obj_free(&r);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    for (long k = 0; k < 4; k++) {
        sdsinf__s3obj o = {0};
        unsigned char *b = NULL;
        size_t n = 0;
        sdsinf__fail_alloc_after(k);
        int rc = sdsinf__s3obj_add(&o, 1, "x", 1);
        if (rc == 0)
            rc = sdsinf__s3obj_encode(&o, &b, &n);
        sdsinf__fail_alloc_after(-1);
        assert_true(rc == 0 || rc == -1);
        sdsinf__free(b);
        sdsinf__s3obj_free(&o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_damaged),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
