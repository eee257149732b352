/* test_spec.c - a worker's spec as text: every field written and read back
 * the same (paths with spaces, '%', newlines and bytes past ASCII too),
 * the text the same again; a spec that is not right is refused with an
 * error naming the line (an unknown key, one given twice, a required one
 * missing, a bad value, a bad encoding, another format version); and a
 * worker's inputs file, damaged anywhere, is refused, never read out of
 * bounds. */
#include "testutil.h"

#include "run/inputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void full_spec(sdsinf_worker_spec *s)
{
    sdsinf_worker_spec_init(s);
    s->run = 18446744073709551615ull;
    s->worker = 5;
    s->workers = 6;
    s->launcher = "local";
    s->bfr = 2;
    s->nlevels = 2;
    s->exec = "/proc/self/exe";
    s->channel = "redis";
    s->channel_config = "redis://user:p%40ss word@host:6379/0?ttl=60";
    s->plan_dir = "/tmp/a plan\tdir\nwith a newline/\xc3\xa9t\xc3\xa9";
    s->inputs_dir = "/dev/shm/sdsinf-1/work";
    s->bias = "-0.300000012";
    s->ymax = 31.7f;
    s->batch_size = 10000;
    s->codec = "raw";
    s->level = -5;
    s->timeout_ms = 1500;
    s->max_message = 262144;
    s->kernel_threads = 4;
    s->progress = "/dev/shm/sdsinf-1/work/progress";
}

static void assert_str(const char *a, const char *b)
{
    if (a != b && (!a || !b || strcmp(a, b)))
        fail_msg("'%s' != '%s'", a ? a : "(null)", b ? b : "(null)");
}

static void test_round_trip(void **state)
{
    (void)state;
    sdsinf_worker_spec s, r;
    char *text, *again;
    size_t len, len2;
    full_spec(&s);
    assert_int_equal(sdsinf_worker_spec_write(&s, &text, &len, NULL),
                     SDSINF_OK);
    assert_int_equal(strlen(text), len);
    assert_non_null(strstr(text, "plan /tmp/a%20plan%09dir%0Awith%20a%20"
                                 "newline/%C3%A9t%C3%A9\n"));
    assert_non_null(strstr(text, "p%2540ss%20word"));
    assert_int_equal(sdsinf_worker_spec_read(text, len, &r, NULL), SDSINF_OK);
    assert_true(r.run == s.run);
    assert_int_equal(r.worker, 5);
    assert_int_equal(r.workers, 6);
    assert_int_equal(r.bfr, 2);
    assert_int_equal(r.nlevels, 2);
    assert_str(r.launcher, s.launcher);
    assert_str(r.exec, s.exec);
    assert_str(r.channel, s.channel);
    assert_str(r.channel_config, s.channel_config);
    assert_str(r.plan_dir, s.plan_dir);
    assert_str(r.inputs_dir, s.inputs_dir);
    assert_str(r.bias, s.bias);
    assert_memory_equal(&r.ymax, &s.ymax, sizeof s.ymax);
    assert_true(r.batch_size == 10000);
    assert_str(r.codec, "raw");
    assert_int_equal(r.level, -5);
    assert_int_equal(r.timeout_ms, 1500);
    assert_true(r.max_message == 262144);
    assert_int_equal(r.kernel_threads, 4);
    assert_str(r.progress, s.progress);
    assert_int_equal(sdsinf_worker_spec_write(&r, &again, &len2, NULL),
                     SDSINF_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(text, again, len);
    free(text);
    free(again);
    sdsinf_worker_spec_free(&r);

    /* only the required keys: the rest stay unset */
    sdsinf_worker_spec_init(&s);
    s.workers = 1;
    s.launcher = "external";
    s.channel = "fs";
    s.plan_dir = "/p";
    s.inputs_dir = "/i";
    assert_int_equal(sdsinf_worker_spec_write(&s, &text, &len, NULL),
                     SDSINF_OK);
    assert_string_equal(text, "sdsinf-worker-spec 1\nrun 0\nworker 0\n"
                              "workers 1\nlauncher external\nchannel fs\n"
                              "plan /p\ninputs /i\n");
    assert_int_equal(sdsinf_worker_spec_read(text, len, &r, NULL), SDSINF_OK);
    assert_null(r.exec);
    assert_null(r.bias);
    assert_null(r.progress);
    assert_true(r.ymax == 0 && r.batch_size == 0 && r.bfr == 0);
    sdsinf_worker_spec_free(&r);
    free(text);

    /* a required string missing: nothing written */
    s.plan_dir = NULL;
    sdsinf_err err;
    assert_int_equal(sdsinf_worker_spec_write(&s, &text, &len, &err),
                     SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "plan is required"));
}

/* The spec text `body` after a good first line must fail with code and a
 * message holding `words`. */
static void expect_bad(const char *body, int code, const char *words)
{
    char text[2048];
    sdsinf_worker_spec s;
    sdsinf_err err = {0};
    snprintf(text, sizeof text, "%s", body);
    int rc = sdsinf_worker_spec_read(text, strlen(text), &s, &err);
    if (rc != code || !strstr(err.msg, words))
        fail_msg("spec \"%s\": got %s \"%s\", want %s with \"%s\"", body,
                 sdsinf_status_name(rc), err.msg, sdsinf_status_name(code),
                 words);
}

#define GOOD "sdsinf-worker-spec 1\nrun 7\nworker 1\nworkers 2\n" \
             "launcher local\nchannel local\nplan /p\ninputs /i\n"

static void test_bad_specs(void **state)
{
    (void)state;
    sdsinf_worker_spec s;
    assert_int_equal(sdsinf_worker_spec_read(GOOD, strlen(GOOD), &s, NULL),
                     SDSINF_OK);
    sdsinf_worker_spec_free(&s);
    expect_bad("", SDSINF_EPARSE, "line 1: not a worker spec");
    expect_bad("sdsinf-worker-spec\nrun 1\n", SDSINF_EPARSE, "line 1");
    expect_bad("{\"run\": 1}", SDSINF_EPARSE, "line 1: not a worker spec");
    expect_bad("sdsinf-worker-spec 2\nrun 1\n", SDSINF_ENOTSUP,
               "format version 2");
    expect_bad(GOOD "nope 3\n", SDSINF_EPARSE, "line 9: unknown key 'nope'");
    expect_bad(GOOD "run 8\n", SDSINF_EPARSE,
               "line 9: run given twice (first on line 2)");
    expect_bad("sdsinf-worker-spec 1\nrun 7\nworker 1\nworkers 2\n"
               "launcher local\nchannel local\ninputs /i\n",
               SDSINF_EPARSE, "no plan line");
    expect_bad(GOOD "batch_size ten\n", SDSINF_EPARSE,
               "line 9: batch_size: not an integer in range");
    expect_bad(GOOD "timeout_ms -1\n", SDSINF_EPARSE, "line 9: timeout_ms");
    expect_bad(GOOD "ymax inf\n", SDSINF_EPARSE,
               "line 9: ymax: not a finite number");
    expect_bad(GOOD "bias a b\n", SDSINF_EPARSE,
               "line 9: bias: a raw space");
    expect_bad(GOOD "bias -0.3\r\n", SDSINF_EPARSE, "line 9: bias: a raw");
    expect_bad(GOOD "exec /bin/%G0\n", SDSINF_EPARSE,
               "line 9: exec: a '%' not followed by two hex digits");
    expect_bad(GOOD "exec /bin/%0\n", SDSINF_EPARSE, "line 9: exec: a '%'");
    expect_bad(GOOD "exec /bin/%00x\n", SDSINF_EPARSE,
               "line 9: exec: a NUL byte");
    expect_bad(GOOD "exec \n", SDSINF_EPARSE, "line 9: exec: empty");
    expect_bad(GOOD "exec\n", SDSINF_EPARSE, "line 9: exec without a value");
    expect_bad(GOOD "codec z\xff\n", SDSINF_EPARSE, "line 9: codec: a raw");
    expect_bad("sdsinf-worker-spec 1\nrun 7\nworker 2\nworkers 2\n"
               "launcher local\nchannel local\nplan /p\ninputs /i\n",
               SDSINF_EPARSE, "line 3: worker 2 of 2 workers");
    expect_bad("sdsinf-worker-spec 1\nrun -7\n", SDSINF_EPARSE,
               "line 2: run: not an integer");
    expect_bad("sdsinf-worker-spec 1\nrun 99999999999999999999\n",
               SDSINF_EPARSE, "line 2: run");
    /* blank lines are fine; a NUL inside is not */
    char with_nul[] = GOOD "\n\nbias -0.3\n";
    assert_int_equal(sdsinf_worker_spec_read(with_nul, strlen(with_nul), &s,
                                             NULL), SDSINF_OK);
    assert_string_equal(s.bias, "-0.3");
    sdsinf_worker_spec_free(&s);
    sdsinf_err err;
    with_nul[strlen(GOOD) + 6] = 0;
    assert_int_equal(sdsinf_worker_spec_read(with_nul, sizeof with_nul - 1,
                                             &s, &err), SDSINF_EPARSE);
    assert_non_null(strstr(err.msg, "line 11"));
}

/* A worker's inputs file: written, read back equal; damaged at any byte
 * or truncated, refused; another worker's, refused naming it. */
static void test_inputs_file(void **state)
{
    (void)state;
    sdsinf_gen_opts g;
    sdsinf_model *m;
    sdsinf_csr images, got;
    sdsinf_plan *p;
    sdsinf_partition_opts po;
    sdsinf_err err;
    char *dir = tu_mkdtemp(), path[4200], other[4200];
    sdsinf_gen_opts_init(&g);
    g.neurons = 64;
    g.layers = 2;
    g.images = 20;
    assert_int_equal(sdsinf_generate_model(&g, &m, NULL), SDSINF_OK);
    assert_int_equal(sdsinf_generate_images(&g, &images, NULL), SDSINF_OK);
    sdsinf_partition_opts_init(&po);
    po.workers = 3;
    po.method = "block";
    assert_int_equal(sdsinf_partition(m, &po, &p, NULL), SDSINF_OK);
    snprintf(path, sizeof path, "%s/inputs-1.sdsinf", dir);
    snprintf(other, sizeof other, "%s/inputs-2.sdsinf", dir);
    assert_int_equal(sdsinf__inputs_save(&images, p, dir, &err), SDSINF_OK);
    assert_int_equal(sdsinf__inputs_load(dir, p, 1, &got, &err), SDSINF_OK);
    const uint16_t *own = sdsinf_plan_owner(p, 0);
    int64_t n = 0;
    assert_int_equal(got.nrows, images.nrows);
    for (int64_t r = 0; r < images.nrows; r++)
        for (int64_t e = images.rowptr[r]; e < images.rowptr[r + 1]; e++)
            if (own[images.col[e]] == 1) {
                assert_int_equal(got.col[n], images.col[e]);
                assert_memory_equal(&got.val[n++], &images.val[e],
                                    sizeof(float));
            }
    assert_int_equal(sdsinf_csr_nnz(&got), n);
    assert_true(n > 0);
    sdsinf_csr_free(&got);
    assert_int_equal(rename(other, path), 0); /* worker 2's in 1's place */
    assert_int_equal(sdsinf__inputs_load(dir, p, 1, &got, &err),
                     SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "the inputs of worker 2"));
    assert_int_equal(sdsinf__inputs_save(&images, p, dir, &err), SDSINF_OK);
    /* every byte flipped in turn, then every length cut */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char buf[65536];
    size_t size = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(size > 64 && size < sizeof buf);
    for (size_t i = 0; i <= size; i++) {
        unsigned char copy[65536];
        memcpy(copy, buf, size);
        size_t len = size;
        if (i < size)
            copy[i] ^= 0x21;
        else
            len = size - 5;
        f = fopen(path, "wb");
        assert_int_equal(fwrite(copy, 1, len, f), len);
        fclose(f);
        int rc = sdsinf__inputs_load(dir, p, 1, &got, &err);
        if (rc == SDSINF_OK)
            fail_msg("byte %zu flipped (or cut): loaded", i);
        assert_non_null(strstr(err.msg, "worker 1"));
    }
    for (size_t cut = 0; cut < size; cut += 7) {
        f = fopen(path, "wb");
        assert_int_equal(fwrite(buf, 1, cut, f), cut);
        fclose(f);
        assert_int_not_equal(sdsinf__inputs_load(dir, p, 1, &got, &err),
                             SDSINF_OK);
    }
    unlink(path);
    assert_int_equal(sdsinf__inputs_load(dir, p, 1, &got, &err), SDSINF_EIO);
    sdsinf_plan_free(p);
    sdsinf_csr_free(&images);
    sdsinf_model_free(m);
    tu_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_inputs_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
