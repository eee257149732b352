/* test_run.c - a distributed run (local processes, or threads) equals
 * single-process inference bit for bit, for any worker count, plan method,
 * batch size and codec, and when every worker loads its own shard from the
 * plan directory; a missing, damaged or foreign shard fails naming the
 * file and the worker; a run whose cancel flag is set (as a program's
 * signal handler would) returns SDSINF_ECANCELED, its state removed. */
#include "testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct fixture {
    sdsinf_model *m;
    sdsinf_csr images;
    sdsinf_result single;
} fixture;

static void make_fixture(fixture *f, int32_t N, int32_t L, int64_t M)
{
    sdsinf_gen_opts g;
    sdsinf_gen_opts_init(&g);
    g.neurons = N;
    g.layers = L;
    g.images = M;
    g.seed = 11;
    assert_int_equal(sdsinf_generate_model(&g, &f->m, NULL), SDSINF_OK);
    assert_int_equal(sdsinf_generate_images(&g, &f->images, NULL), SDSINF_OK);
    assert_int_equal(sdsinf_infer(f->m, &f->images, NULL, &f->single, NULL),
                     SDSINF_OK);
}

static void free_fixture(fixture *f)
{
    sdsinf_model_free(f->m);
    sdsinf_csr_free(&f->images);
    sdsinf_result_free(&f->single);
}

/* Runs on W workers (the plan of `method`) and checks the result equals
 * one process's; the messages sent and the largest into *messages and
 * *largest when given. */
static void run_and_compare_limit(fixture *f, int W, const char *method,
                                  int64_t batch, const char *codec,
                                  int64_t max_message, uint64_t *messages,
                                  uint64_t *largest)
{
    sdsinf_partition_opts po;
    sdsinf_plan *p;
    sdsinf_err err;
    sdsinf_partition_opts_init(&po);
    po.workers = W;
    po.method = method;
    assert_int_equal(sdsinf_partition(f->m, &po, &p, &err), SDSINF_OK);
    sdsinf_run_opts ro;
    sdsinf_run_opts_init(&ro);
    ro.batch_size = batch;
    ro.codec = codec;
    ro.timeout_ms = 20000;
    ro.max_message = max_message;
    sdsinf_result r;
    sdsinf_run_stats st;
    int rc = sdsinf_run(f->m, p, &f->images, &ro, &r, &st, &err);
    if (rc != SDSINF_OK)
        fail_msg("W=%d %s: %s", W, method, err.msg);
    assert_int_equal(r.images, f->single.images);
    assert_memory_equal(r.argmax, f->single.argmax,
                        (size_t)r.images * sizeof *r.argmax);
    assert_memory_equal(r.max, f->single.max, (size_t)r.images * sizeof *r.max);
    if (W > 1)
        assert_true(st.messages_sent > 0);
    if (messages)
        *messages = st.messages_sent;
    for (int64_t i = 0; largest && i < st.nrecords; i++)
        if (st.records[i].sent_max > *largest)
            *largest = st.records[i].sent_max;
    sdsinf_run_stats_free(&st);
    sdsinf_result_free(&r);
    sdsinf_plan_free(p);
}

static void run_and_compare(fixture *f, int W, const char *method,
                            int64_t batch, const char *codec)
{
    run_and_compare_limit(f, W, method, batch, codec, 0, NULL, NULL);
}

/* A message limit splits blocks into chunks (more messages, none over
 * it) and changes nothing else; a limit below a header and a row is
 * refused. */
static void test_message_limit(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, 256, 10, 300);
    uint64_t whole = 0, chunked = 0, largest = 0, big = 0;
    run_and_compare_limit(&f, 4, "block", 0, NULL, 0, &whole, &big);
    assert_true(big > 2048); /* else the limit below splits nothing */
    run_and_compare_limit(&f, 4, "block", 0, NULL, 2048, &chunked, &largest);
    assert_true(chunked > whole);
    assert_true(largest <= 2048);
    sdsinf_plan *p;
    sdsinf_partition_opts po;
    sdsinf_partition_opts_init(&po);
    po.workers = 2;
    po.method = "block";
    assert_int_equal(sdsinf_partition(f.m, &po, &p, NULL), SDSINF_OK);
    sdsinf_run_opts ro;
    sdsinf_run_opts_init(&ro);
    sdsinf_result r;
    sdsinf_err err;
    sdsinf_run_stats st;
    /* an object store keeps one object per key: blocks go whole */
    char *dir = tu_mkdtemp();
    ro.launcher = "threads";
    ro.channel = "fs";
    ro.channel_config = dir;
    ro.max_message = 2048;
    ro.timeout_ms = 20000;
    if (sdsinf_run(f.m, p, &f.images, &ro, &r, &st, &err) != SDSINF_OK)
        fail_msg("fs, 2 KiB limit: %s", err.msg);
    assert_memory_equal(r.argmax, f.single.argmax,
                        (size_t)r.images * sizeof *r.argmax);
    uint64_t biggest = 0;
    for (int64_t i = 0; i < st.nrecords; i++) {
        assert_true(st.records[i].sent <= 1);
        biggest = st.records[i].sent_max > biggest ? st.records[i].sent_max
                                                   : biggest;
    }
    assert_true(biggest > 2048);
    sdsinf_result_free(&r);
    sdsinf_run_stats_free(&st);
    tu_rmdir(dir);
    free(dir);
    sdsinf_run_opts_init(&ro);
    ro.max_message = 100;
    assert_int_equal(sdsinf_run(f.m, p, &f.images, &ro, &r, NULL, &err),
                     SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "at least 256"));
    sdsinf_plan_free(p);
    free_fixture(&f);
}

static void test_worker_counts(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, 256, 10, 120);
    const int W[] = {1, 2, 3, 8, 20};
    for (size_t i = 0; i < sizeof W / sizeof *W; i++)
        run_and_compare(&f, W[i], "hypergraph", 0, NULL);
    free_fixture(&f);
}

static void test_methods_batches_codecs(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, 128, 8, 90);
    run_and_compare(&f, 4, "block", 25, "raw");
    run_and_compare(&f, 4, "random", 7, "zstd");
    run_and_compare(&f, 5, "block", 0, "zstd");
    free_fixture(&f);
}

/* ---- Shards loaded by the workers (plan_dir) ------------------------------ */

static void run_plan_dir(fixture *f, const sdsinf_plan *p, const char *dir,
                         const char *launcher, int version, int *rc,
                         sdsinf_err *err, sdsinf_result *r)
{
    sdsinf_run_opts ro;
    sdsinf_run_opts_init(&ro);
    ro.version = version;
    ro.launcher = launcher;
    ro.plan_dir = dir;
    ro.timeout_ms = 20000;
    memset(r, 0, sizeof *r);
    *rc = sdsinf_run(f->m, p, &f->images, &ro, r, NULL, err);
}

static void expect_same(fixture *f, const char *dir, const sdsinf_plan *p,
                        const char *launcher, int version)
{
    sdsinf_result r;
    sdsinf_err err;
    int rc;
    run_plan_dir(f, p, dir, launcher, version, &rc, &err, &r);
    if (rc != SDSINF_OK)
        fail_msg("%s, plan_dir %s: %s", launcher, dir, err.msg);
    assert_int_equal(r.images, f->single.images);
    assert_memory_equal(r.argmax, f->single.argmax,
                        (size_t)r.images * sizeof *r.argmax);
    assert_memory_equal(r.max, f->single.max, (size_t)r.images * sizeof *r.max);
    sdsinf_result_free(&r);
}

static void expect_shard_error(fixture *f, const char *dir,
                               const sdsinf_plan *p, int code,
                               const char *words1, const char *words2)
{
    static const char *launchers[] = {"threads", "local"};
    for (int i = 0; i < 2; i++) {
        sdsinf_result r;
        sdsinf_err err = {0};
        int rc;
        run_plan_dir(f, p, dir, launchers[i], SDSINF_RUN_OPTS_VERSION, &rc,
                     &err, &r);
        if (rc != code || !strstr(err.msg, words1) ||
            !strstr(err.msg, words2))
            fail_msg("%s: got %s \"%s\", want %s with \"%s\" and \"%s\"",
                     launchers[i], sdsinf_status_name(rc), err.msg,
                     sdsinf_status_name(code), words1, words2);
    }
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    char buf[65536];
    size_t n;
    assert_non_null(a);
    assert_non_null(b);
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        assert_int_equal(fwrite(buf, 1, n, b), n);
    fclose(a);
    assert_int_equal(fclose(b), 0);
}

static void test_plan_dir_shards(void **state)
{
    (void)state;
    fixture f;
    sdsinf_partition_opts po;
    sdsinf_plan *made, *p;
    sdsinf_err err;
    char *dir = tu_mkdtemp(), plan[4200], path[4300], other[4300];
    make_fixture(&f, 128, 8, 60);
    sdsinf_partition_opts_init(&po);
    po.workers = 4;
    po.method = "hypergraph";
    assert_int_equal(sdsinf_partition(f.m, &po, &made, &err), SDSINF_OK);
    snprintf(plan, sizeof plan, "%s/plan", dir);
    assert_int_equal(sdsinf_plan_save(made, f.m, plan, &err), SDSINF_OK);
    assert_int_equal(sdsinf_plan_load(plan, f.m, &p, &err), SDSINF_OK);

    /* the workers' own shards give the single-process result, bit for bit */
    expect_same(&f, plan, p, "threads", SDSINF_RUN_OPTS_VERSION);
    expect_same(&f, plan, p, "local", SDSINF_RUN_OPTS_VERSION);

    /* the bias is the model's: a bias set after partitioning still holds */
    for (int32_t l = 0; l < f.m->layers; l++)
        f.m->layer[l].bias = -0.2f - 0.01f * (float)l;
    sdsinf_result_free(&f.single);
    assert_int_equal(sdsinf_infer(f.m, &f.images, NULL, &f.single, NULL),
                     SDSINF_OK);
    expect_same(&f, plan, p, "local", SDSINF_RUN_OPTS_VERSION);

    /* a damaged shard: the bundle's checksums catch it */
    snprintf(path, sizeof path, "%s/shard-1.sdsinf", plan);
    snprintf(other, sizeof other, "%s/saved.sdsinf", dir);
    copy_file(path, other);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    fseek(fp, ftell(fp) / 2, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, -1, SEEK_CUR);
    fputc(c ^ 0x5a, fp);
    fclose(fp);
    expect_shard_error(&f, plan, p, SDSINF_ECORRUPT, "worker 1",
                       "shard-1.sdsinf");
    /* a truncated one */
    assert_int_equal(truncate(path, 100), 0);
    expect_shard_error(&f, plan, p, SDSINF_ECORRUPT, "worker 1",
                       "shard-1.sdsinf");
    /* another worker's (a whole, valid bundle) */
    snprintf(other, sizeof other, "%s/shard-0.sdsinf", plan);
    copy_file(other, path);
    expect_shard_error(&f, plan, p, SDSINF_EINVAL, "worker 1",
                       "not this worker's shard");
    snprintf(other, sizeof other, "%s/saved.sdsinf", dir);
    copy_file(other, path);
    expect_same(&f, plan, p, "threads", SDSINF_RUN_OPTS_VERSION);

    /* a missing one */
    snprintf(path, sizeof path, "%s/shard-2.sdsinf", plan);
    assert_int_equal(unlink(path), 0);
    expect_shard_error(&f, plan, p, SDSINF_EIO, "worker 2",
                       "shard-2.sdsinf");
    /* options of version 1 have no plan_dir: shards come from the model */
    expect_same(&f, plan, p, "threads", 1);

    /* a shard of another plan over the same model */
    po.method = "block";
    sdsinf_plan *block;
    snprintf(other, sizeof other, "%s/block", dir);
    assert_int_equal(sdsinf_partition(f.m, &po, &block, &err), SDSINF_OK);
    assert_int_equal(sdsinf_plan_save(block, f.m, other, &err), SDSINF_OK);
    snprintf(path, sizeof path, "%s/shard-2.sdsinf", plan);
    snprintf(other, sizeof other, "%s/block/shard-2.sdsinf", dir);
    copy_file(other, path);
    expect_shard_error(&f, plan, p, SDSINF_EINVAL, "worker 2",
                       "shard-2.sdsinf");

    sdsinf_plan_free(block);
    sdsinf_plan_free(p);
    sdsinf_plan_free(made);
    free_fixture(&f);
    tu_rmdir(dir);
    free(dir);
}

static volatile sig_atomic_t cancel_flag;

static void *cancel_soon(void *arg)
{
    struct timespec ts = {0, 100 * 1000 * 1000}; /* the run takes ~1 s */
    (void)arg;
    nanosleep(&ts, NULL);
    __atomic_store_n(&cancel_flag, 1, __ATOMIC_RELAXED); /* thread-safe */
    return NULL;
}

/* Entries of dir other than "." and "..". */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

/* A flag set from another thread mid-run stops it on every launcher with
 * the local channel: SDSINF_ECANCELED, the workers named, no state left in
 * the scratch directory (a private one). */
static void test_cancel(void **state)
{
    (void)state;
    fixture f;
    char scratch[] = "/tmp/sdsinf-test-cancel-XXXXXX";
    const char *launchers[] = {"local", "threads"};
    sdsinf_partition_opts po;
    sdsinf_plan *p;
    assert_non_null(mkdtemp(scratch));
    setenv("SDSINF_SCRATCH", scratch, 1);
    make_fixture(&f, 256, 120, 3000);
    sdsinf_partition_opts_init(&po);
    po.workers = 4;
    po.method = "block";
    assert_int_equal(sdsinf_partition(f.m, &po, &p, NULL), SDSINF_OK);
    for (int i = 0; i < 2; i++) {
        sdsinf_run_opts ro;
        sdsinf_result r;
        sdsinf_err err = {0};
        pthread_t t;
        sdsinf_run_opts_init(&ro);
        ro.launcher = launchers[i];
        ro.channel = "local";
        ro.batch_size = 25; /* many batches: the run lasts */
        ro.cancel = &cancel_flag;
        cancel_flag = 0;
        assert_int_equal(pthread_create(&t, NULL, cancel_soon, NULL), 0);
        int rc = sdsinf_run(f.m, p, &f.images, &ro, &r, NULL, &err);
        pthread_join(t, NULL);
        if (rc != SDSINF_ECANCELED)
            fail_msg("%s: %d: %s", launchers[i], rc, err.msg);
        assert_non_null(strstr(err.msg, "stopped 4 workers and removed the "
                                        "run's channel state"));
        assert_int_equal(entries(scratch), 0);
    }
    sdsinf_plan_free(p);
    free_fixture(&f);
    unsetenv("SDSINF_SCRATCH");
    rmdir(scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_counts),
        cmocka_unit_test(test_methods_batches_codecs),
        cmocka_unit_test(test_message_limit),
        cmocka_unit_test(test_plan_dir_shards),
        cmocka_unit_test(test_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
