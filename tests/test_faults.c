/* test_faults.c - whole distributed runs under faults (sdsinf_run, both
 * launchers, 3 and 8 workers) on a generated model:
 *   - duplicated, reordered and delayed messages never change the result
 *     (bit for bit against sdsinf_infer), and the duplicates are counted;
 *   - a dropped message ends the run within a few timeouts with
 *     SDSINF_ETIMEDOUT and an error naming a worker, a layer and the
 *     channel;
 *   - a worker killed mid-run (SDSINF_TEST_KILL, local processes; a worker
 *     started by the coordinator or by another worker) ends the run at once
 *     with an error naming it, its layer and the channel, and leaves no
 *     process and no channel file behind.
 * Faults come from fault_channel.c ("faulty:<inner>"), registered here, in
 * the process that starts the workers.  This process is the subreaper of
 * its descendants, so a worker that outlived the run would show up as its
 * child. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* fault_channel.c */
int tu_fault_register(const char *inner, sdsinf_err *err);

#define N_NEURONS 128
#define N_LAYERS 8
#define N_IMAGES 60
#define SHORT_MS 1500 /* the timeout of runs that must time out */
#define LONG_MS 20000 /* of runs that must not */

typedef struct fixture {
    sdsinf_model *m;
    sdsinf_csr images;
    sdsinf_result single;
    sdsinf_plan *plan[2]; /* 3 and 8 workers */
    char *dir;
    int runs; /* configs made so far (unique names) */
} fixture;

static const int WORKERS[2] = {3, 8};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    sdsinf_gen_opts g;
    sdsinf_partition_opts po;
    assert_non_null(f);
    sdsinf_gen_opts_init(&g);
    g.neurons = N_NEURONS;
    g.layers = N_LAYERS;
    g.images = N_IMAGES;
    g.seed = 23;
    assert_int_equal(sdsinf_generate_model(&g, &f->m, NULL), SDSINF_OK);
    assert_int_equal(sdsinf_generate_images(&g, &f->images, NULL), SDSINF_OK);
    assert_int_equal(sdsinf_infer(f->m, &f->images, NULL, &f->single, NULL),
                     SDSINF_OK);
    for (int i = 0; i < 2; i++) {
        sdsinf_partition_opts_init(&po);
        po.workers = WORKERS[i];
        po.method = "hypergraph";
        assert_int_equal(sdsinf_partition(f->m, &po, &f->plan[i], NULL),
                         SDSINF_OK);
    }
    f->dir = tu_mkdtemp();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sdsinf_model_free(f->m);
    sdsinf_csr_free(&f->images);
    sdsinf_result_free(&f->single);
    for (int i = 0; i < 2; i++)
        sdsinf_plan_free(f->plan[i]);
    tu_rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* ---- Helpers ------------------------------------------------------------- */

/* The channel's own config for a fresh run: a run directory (local),
 * an object store (fs), a name (mem); *where gets the path (or ""). */
static void inner_config(fixture *f, const char *inner, char *cfg, size_t cap,
                         char *where, size_t wcap)
{
    f->runs++;
    if (!strcmp(inner, "mem")) {
        snprintf(cfg, cap, "faults-%d", f->runs);
        where[0] = 0;
    } else {
        snprintf(cfg, cap, "%s/%s-%d", f->dir, inner, f->runs);
        snprintf(where, wcap, "%s", cfg);
    }
}

/* Files left under dir (a missing dir holds none). */
static int files_left(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    char path[8192];
    if (!d)
        return 0;
    while ((de = readdir(d))) {
        struct stat st;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        n += stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? files_left(path)
                                                         : 1;
    }
    closedir(d);
    return n;
}

/* What a channel leaves after a run: nothing (local: not even its
 * directory; fs: no object in the store). */
static void assert_channel_clean(const char *inner, const char *where)
{
    struct stat st;
    if (!strcmp(inner, "local") && stat(where, &st) == 0)
        fail_msg("the local channel left its directory %s (%d files)", where,
                 files_left(where));
    if (!strcmp(inner, "fs") && files_left(where) != 0)
        fail_msg("the fs channel left %d objects in %s", files_left(where),
                 where);
}

/* The live processes whose parent is this one (after reaping the dead),
 * into pids (up to cap); returns how many. */
static int live_children(int *pids, int cap)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int n = 0;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    assert_non_null(d);
    while ((de = readdir(d))) {
        char path[300], buf[512], state;
        int ppid;
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        FILE *fp = fopen(path, "r");
        if (!fp)
            continue;
        size_t k = fread(buf, 1, sizeof buf - 1, fp);
        fclose(fp);
        buf[k] = 0;
        const char *p = strrchr(buf, ')');
        if (p && sscanf(p + 1, " %c %d", &state, &ppid) == 2 &&
            ppid == (int)getpid() && state != 'Z' && n < cap)
            pids[n++] = atoi(de->d_name);
    }
    closedir(d);
    return n;
}

/* This process's children before a run (a partitioner's MPI daemon, say):
 * not the run's. */
static int before[64], nbefore;

static void note_children(void)
{
    nbefore = live_children(before, 64);
}

/* Children that are not in before[]. */
static int new_children(int *pid)
{
    int now[64], n = live_children(now, 64), fresh = 0;
    for (int i = 0; i < n; i++) {
        int old = 0;
        for (int j = 0; j < nbefore; j++)
            old |= now[i] == before[j];
        if (!old) {
            *pid = now[i];
            fresh++;
        }
    }
    return fresh;
}

/* No process of the run outlives it (a moment for signals in flight). */
static void assert_no_orphans(const char *label)
{
    struct timespec tick = {0, 10000000};
    int n = 0, pid = 0;
    for (int i = 0; i < 100 && (n = new_children(&pid)) > 0; i++)
        nanosleep(&tick, NULL);
    if (n)
        fail_msg("%s: %d processes of the run are still alive (pid %d)",
                 label, n, pid);
}

typedef struct outcome {
    int rc;
    sdsinf_err err;
    sdsinf_result r;
    sdsinf_run_stats st;
    double seconds;
} outcome;

static void run(fixture *f, int wi, const char *launcher, const char *channel,
                const char *config, int timeout_ms, int bfr, int nlevels,
                outcome *out)
{
    sdsinf_run_opts ro;
    sdsinf_run_opts_init(&ro);
    ro.launcher = launcher;
    ro.channel = channel;
    ro.channel_config = config;
    ro.timeout_ms = timeout_ms;
    ro.bfr = bfr;
    ro.nlevels = nlevels;
    memset(out, 0, sizeof *out);
    note_children();
    double t = now_s();
    out->rc = sdsinf_run(f->m, f->plan[wi], &f->images, &ro, &out->r,
                         &out->st, &out->err);
    out->seconds = now_s() - t;
}

static void assert_contains(const char *label, const char *msg,
                            const char *words)
{
    if (!strstr(msg, words))
        fail_msg("%s: the error \"%s\" lacks \"%s\"", label, msg, words);
}

/* ---- Duplicates, reordering, delays --------------------------------------- */

/* Runs every worker count and seed through faulty:<inner> with heavy
 * duplication, reordering and delays; each result must equal one
 * process's, bit for bit. */
static void faulty_runs_equal(fixture *f, const char *launcher,
                              const char *inner)
{
    char channel[64], cfg[4096], where[4096], config[4200], label[128];
    uint64_t duplicates = 0;
    int keyed = (sdsinf_channel_find(inner)->caps & SDSINF_CAP_KEYED) != 0;
    snprintf(channel, sizeof channel, "faulty:%s", inner);
    for (int wi = 0; wi < 2; wi++)
        for (int seed = 1; seed <= 3; seed++) {
            outcome o;
            inner_config(f, inner, cfg, sizeof cfg, where, sizeof where);
            snprintf(config, sizeof config,
                     "seed=%d,dup=0.3,reorder=0.3,delay=0.3,delay_ms=5|%s",
                     seed, cfg);
            snprintf(label, sizeof label, "%s, %s, W=%d, seed %d", launcher,
                     channel, WORKERS[wi], seed);
            run(f, wi, launcher, channel, config, LONG_MS, 0, 0, &o);
            if (o.rc != SDSINF_OK)
                fail_msg("%s: %s: %s", label, sdsinf_status_name(o.rc),
                         o.err.msg);
            assert_int_equal(o.r.images, f->single.images);
            assert_memory_equal(o.r.argmax, f->single.argmax,
                                (size_t)o.r.images * sizeof *o.r.argmax);
            assert_memory_equal(o.r.max, f->single.max,
                                (size_t)o.r.images * sizeof *o.r.max);
            /* every copy of a message is either taken as a duplicate or,
             * once its layer is done, dropped as stale (a store keeps one
             * object per key: copies overwrite it, unseen) */
            if (!keyed && o.st.duplicates + o.st.dropped == 0)
                fail_msg("%s: no duplicate seen", label);
            duplicates += o.st.duplicates;
            assert_channel_clean(inner, where);
            sdsinf_result_free(&o.r);
            sdsinf_run_stats_free(&o.st);
        }
    assert_true(keyed || duplicates > 0);
    assert_no_orphans(channel);
}

static void test_faults_keep_results_threads(void **state)
{
    faulty_runs_equal(*state, "threads", "mem");
}

static void test_faults_keep_results_processes(void **state)
{
    faulty_runs_equal(*state, "local", "local");
    faulty_runs_equal(*state, "local", "fs");
}

/* ---- Dropped messages -------------------------------------------------------- */

static void drops_time_out(fixture *f, const char *launcher,
                           const char *inner)
{
    char channel[64], cfg[4096], where[4096], config[4200], label[128];
    snprintf(channel, sizeof channel, "faulty:%s", inner);
    for (int wi = 0; wi < 2; wi++) {
        outcome o;
        inner_config(f, inner, cfg, sizeof cfg, where, sizeof where);
        snprintf(config, sizeof config, "seed=%d,drop=0.3|%s", wi + 4, cfg);
        snprintf(label, sizeof label, "%s, %s, W=%d, drops", launcher,
                 channel, WORKERS[wi]);
        run(f, wi, launcher, channel, config, SHORT_MS, 0, 0, &o);
        printf("# %s: %.2f s: %s\n", label, o.seconds, o.err.msg);
        if (o.rc != SDSINF_ETIMEDOUT)
            fail_msg("%s: %s (%s), not ETIMEDOUT", label,
                     sdsinf_status_name(o.rc), o.err.msg);
        assert_contains(label, o.err.msg, "worker ");
        assert_contains(label, o.err.msg, ", layer ");
        assert_contains(label, o.err.msg, channel);
        if (o.seconds > 3 * SHORT_MS / 1e3 + 1)
            fail_msg("%s: %.1f s for a %d ms timeout", label, o.seconds,
                     SHORT_MS);
        assert_null(o.st.records); /* a failed run has none */
        assert_no_orphans(label);
        assert_channel_clean(inner, where);
    }
}

static void test_drops_time_out_threads(void **state)
{
    drops_time_out(*state, "threads", "mem");
}

static void test_drops_time_out_processes(void **state)
{
    drops_time_out(*state, "local", "local");
    drops_time_out(*state, "local", "fs");
}

/* ---- Killed workers ---------------------------------------------------------- */

typedef struct kill_case {
    int wi;           /* WORKERS[wi] */
    int bfr, nlevels; /* the launch tree (0: flat) */
    int worker, layer;
    int workers;      /* WORKERS[wi] when the tree gives it */
} kill_case;

static const kill_case KILLS[] = {
    {0, 0, 0, 1, 3, 3},
    {1, 0, 0, 5, 2, 8},
    {0, 1, 3, 2, 4, 3},  /* a chain 0 -> 1 -> 2: its parent is a worker */
    {1, 0, 0, 0, 7, 8},  /* the worker that gathers the results */
};

static void test_killed_worker(void **state)
{
    fixture *f = *state;
    const char *inners[] = {"local", "fs"};
    for (size_t i = 0; i < sizeof KILLS / sizeof *KILLS; i++)
        for (int c = 0; c < 2; c++) {
            const kill_case *k = &KILLS[i];
            char cfg[4096], where[4096], spec[32], label[128], words[64];
            outcome o;
            inner_config(f, inners[c], cfg, sizeof cfg, where, sizeof where);
            snprintf(spec, sizeof spec, "%d:%d", k->worker, k->layer);
            snprintf(label, sizeof label, "W=%d, tree %d x %d, %s, kill %s",
                     k->workers, k->bfr, k->nlevels, inners[c], spec);
            setenv("SDSINF_TEST_KILL", spec, 1);
            run(f, k->wi, "local", inners[c], cfg, LONG_MS, k->bfr,
                k->nlevels, &o);
            unsetenv("SDSINF_TEST_KILL");
            printf("# %s: %.2f s: %s\n", label, o.seconds, o.err.msg);
            if (o.rc != SDSINF_EIO)
                fail_msg("%s: %s (%s), not EIO", label,
                         sdsinf_status_name(o.rc), o.err.msg);
            snprintf(words, sizeof words, "worker %d died (signal %d)",
                     k->worker, SIGKILL);
            assert_contains(label, o.err.msg, words);
            assert_contains(label, o.err.msg, " layer ");
            snprintf(words, sizeof words, "channel %s", inners[c]);
            assert_contains(label, o.err.msg, words);
            if (o.seconds > 5) /* far below the 20 s timeout */
                fail_msg("%s: %.1f s", label, o.seconds);
            assert_no_orphans(label);
            assert_channel_clean(inners[c], where);
        }
}

int main(void)
{
    sdsinf_err err;
    /* orphans of a run come to this process (and are counted) */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        perror("PR_SET_CHILD_SUBREAPER");
    if (tu_fault_register("mem", &err) || tu_fault_register("local", &err) ||
        tu_fault_register("fs", &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faults_keep_results_threads),
        cmocka_unit_test(test_faults_keep_results_processes),
        cmocka_unit_test(test_drops_time_out_threads),
        cmocka_unit_test(test_drops_time_out_processes),
        cmocka_unit_test(test_killed_worker),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
