/* test_differential.c - a distributed run equals sdsinf_infer bit for bit
 * for any worker count.  On a generated model of N = 300 neurons it runs
 * the worker counts 1, 63, 64, 65, 127, 128, 129 and N (around the 64 of a
 * machine word, where runs once went wrong) and a seeded draw over 1..N,
 * each with a plan method, a launcher and a channel drawn from those built,
 * one run of each count under duplicates, reordering and delays
 * (fault_channel.c).  Every run's argmax and max equal one process's, and
 * every run of a plan sends the same bytes.
 *
 *   SDSINF_DIFF_SEED   the draw (default 1; printed, and named on failure)
 *   SDSINF_DIFF_RUNS   worker counts drawn beyond the fixed ones (default 6)
 *
 * bench/sweep_workers.py runs the longer sweep, on the real network too. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* fault_channel.c */
int tu_fault_register(const char *inner, sdsinf_err *err);

#define N_NEURONS 300
#define N_LAYERS 5
#define N_IMAGES 48

/* The launcher and channel pairs a run may draw. */
static const struct {
    const char *launcher, *channel;
} PAIRS[] = {
    {"threads", "mem"}, {"local", "local"}, {"local", "fs"}, {"threads", "fs"},
};
static const char *METHODS[] = {"block", "random", "hypergraph"};

typedef struct fixture {
    sdsinf_model *m;
    sdsinf_csr images;
    sdsinf_result single;
    uint64_t seed, rng;
} fixture;

static uint64_t next_rand(fixture *f) /* splitmix64 */
{
    uint64_t z = (f->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    return s && *s ? strtoull(s, NULL, 10) : dflt;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    sdsinf_gen_opts g;
    sdsinf_gen_opts_init(&g);
    g.neurons = N_NEURONS;
    g.layers = N_LAYERS;
    g.images = N_IMAGES;
    g.seed = 5;
    if (!f || sdsinf_generate_model(&g, &f->m, NULL) ||
        sdsinf_generate_images(&g, &f->images, NULL))
        return -1;
    for (int32_t l = 0; l < f->m->layers; l++) /* most images stay alive */
        f->m->layer[l].bias = -0.05f;
    if (sdsinf_infer(f->m, &f->images, NULL, &f->single, NULL))
        return -1;
    static const char *inner[] = {"mem", "local", "fs"};
    for (size_t i = 0; i < sizeof inner / sizeof *inner; i++)
        if (tu_fault_register(inner[i], NULL) != SDSINF_OK)
            return -1;
    f->seed = env_u64("SDSINF_DIFF_SEED", 1);
    f->rng = f->seed;
    printf("differential: seed %llu (SDSINF_DIFF_SEED=%llu repeats this "
           "draw)\n", (unsigned long long)f->seed,
           (unsigned long long)f->seed);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sdsinf_model_free(f->m);
    sdsinf_csr_free(&f->images);
    sdsinf_result_free(&f->single);
    free(f);
    return 0;
}

/* One run of plan p: it must equal one process's; returns bytes_sent. */
static uint64_t run_one(fixture *f, const sdsinf_plan *p, int W,
                        const char *method, const char *launcher,
                        const char *channel, int faults)
{
    char name[64], config[4200], label[256];
    char *dir = tu_mkdtemp();
    snprintf(name, sizeof name, "%s%s", faults ? "faulty:" : "", channel);
    snprintf(config, sizeof config, "%s%s", faults
             ? "seed=3,dup=0.2,reorder=0.2,delay=0.1,delay_ms=2|" : "", dir);
    snprintf(label, sizeof label, "seed %llu: W=%d, %s plan, %s launcher, "
             "channel %s", (unsigned long long)f->seed, W, method, launcher,
             name);
    sdsinf_run_opts ro;
    sdsinf_run_opts_init(&ro);
    ro.launcher = launcher;
    ro.channel = name;
    ro.channel_config = config;
    ro.timeout_ms = 60000;
    sdsinf_result r = {0};
    sdsinf_run_stats st = {0};
    sdsinf_err err = {0};
    if (sdsinf_run(f->m, p, &f->images, &ro, &r, &st, &err) != SDSINF_OK)
        fail_msg("%s: %s", label, err.msg);
    if (r.images != f->single.images ||
        memcmp(r.argmax, f->single.argmax,
               (size_t)r.images * sizeof *r.argmax) ||
        memcmp(r.max, f->single.max, (size_t)r.images * sizeof *r.max))
        fail_msg("%s: the scores differ from one process's", label);
    uint64_t bytes = st.bytes_sent;
    printf("  ok: %s (%llu bytes, %.2f s)\n", label, (unsigned long long)bytes,
           st.seconds + st.startup_seconds);
    sdsinf_run_stats_free(&st);
    sdsinf_result_free(&r);
    tu_rmdir(dir);
    free(dir);
    return bytes;
}

/* Worker count W: a drawn plan method, then two drawn launcher and channel
 * pairs (the second under faults), and the same bytes from both. */
static void run_workers(fixture *f, int W)
{
    const char *method = METHODS[next_rand(f) % 3];
    if (W > 130 && !strcmp(method, "hypergraph"))
        method = "random"; /* the hypergraph partitioner takes seconds */
    sdsinf_partition_opts po;
    sdsinf_partition_opts_init(&po);
    po.workers = W;
    po.method = method;
    po.seed = next_rand(f);
    sdsinf_plan *p;
    sdsinf_err err;
    if (sdsinf_partition(f->m, &po, &p, &err) != SDSINF_OK)
        fail_msg("seed %llu: W=%d, %s plan: %s", (unsigned long long)f->seed,
                 W, method, err.msg);
    uint64_t bytes[2];
    for (int k = 0; k < 2; k++) {
        size_t i;
        do /* processes only below 200 workers, and fs below 70: its
            * receives poll a directory, seconds a layer with more */
            i = next_rand(f) % (sizeof PAIRS / sizeof *PAIRS);
        while ((W >= 200 && !strcmp(PAIRS[i].launcher, "local")) ||
               (W >= 70 && !strcmp(PAIRS[i].channel, "fs")));
        bytes[k] = run_one(f, p, W, method, PAIRS[i].launcher,
                           PAIRS[i].channel, k == 1);
    }
    if (bytes[0] != bytes[1])
        fail_msg("seed %llu: W=%d, %s plan: %llu bytes sent, then %llu",
                 (unsigned long long)f->seed, W, method,
                 (unsigned long long)bytes[0], (unsigned long long)bytes[1]);
    sdsinf_plan_free(p);
}

static void test_fixed_counts(void **state)
{
    static const int W[] = {1, 63, 64, 65, 127, 128, 129, N_NEURONS};
    for (size_t i = 0; i < sizeof W / sizeof *W; i++)
        run_workers(*state, W[i]);
}

static void test_drawn_counts(void **state)
{
    fixture *f = *state;
    uint64_t runs = env_u64("SDSINF_DIFF_RUNS", 6);
    for (uint64_t i = 0; i < runs; i++)
        run_workers(f, 1 + (int)(next_rand(f) % N_NEURONS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_counts),
        cmocka_unit_test(test_drawn_counts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
