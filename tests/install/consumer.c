/* consumer.c - a program built against an installed libsdsinf, through
 * the public header alone (tests/install_check.sh builds it with
 * pkg-config, shared and static, and with CMake).  It generates a small
 * network, runs it in one process (sdsinf_infer) and on two workers
 * (sdsinf_run: threads over the mem channel, then the default local
 * processes), and exits 0 when both runs equal the inference bit for bit.
 * Usage: consumer [VERSION]: with VERSION, the library's must be it too. */
#include <sdsinf.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints what failed and exits 1. */
static void check(int rc, const char *what, const sdsinf_err *err)
{
    if (rc == SDSINF_OK)
        return;
    fprintf(stderr, "consumer: %s: %s: %s\n", what, sdsinf_status_name(rc),
            err->msg);
    exit(1);
}

/* A run of the plan's workers with this launcher and channel (NULL: the
 * defaults), which must give the inference's result. */
static void run_equals(const sdsinf_model *m, const sdsinf_plan *p,
                       const sdsinf_csr *images, const sdsinf_result *single,
                       const char *launcher, const char *channel)
{
    sdsinf_run_opts ro;
    sdsinf_result r;
    sdsinf_err err = {0};
    sdsinf_run_opts_init(&ro);
    ro.launcher = launcher;
    ro.channel = channel;
    check(sdsinf_run(m, p, images, &ro, &r, NULL, &err), "sdsinf_run", &err);
    size_t n = (size_t)single->images;
    if (r.images != single->images ||
        memcmp(r.argmax, single->argmax, n * sizeof *r.argmax) ||
        memcmp(r.max, single->max, n * sizeof *r.max)) {
        fprintf(stderr, "consumer: the run (launcher %s, channel %s) differs "
                        "from sdsinf_infer\n",
                launcher ? launcher : "default", sdsinf_run_channel(&ro));
        exit(1);
    }
    printf("run (launcher %s, channel %s) equals infer\n",
           launcher ? launcher : "default", sdsinf_run_channel(&ro));
    sdsinf_result_free(&r);
}

int main(int argc, char **argv)
{
    sdsinf_err err = {0};
    if (strcmp(sdsinf_version(), SDSINF_VERSION_STRING) ||
        (argc > 1 && strcmp(sdsinf_version(), argv[1]))) {
        fprintf(stderr, "consumer: library %s, header %s, expected %s\n",
                sdsinf_version(), SDSINF_VERSION_STRING,
                argc > 1 ? argv[1] : "either");
        return 1;
    }

    sdsinf_gen_opts g;
    sdsinf_model *m;
    sdsinf_csr images;
    sdsinf_gen_opts_init(&g);
    g.neurons = 64;
    g.layers = 12;
    g.images = 200;
    g.seed = 7;
    check(sdsinf_generate_model(&g, &m, &err), "sdsinf_generate_model", &err);
    check(sdsinf_generate_images(&g, &images, &err), "sdsinf_generate_images",
          &err);

    sdsinf_result single;
    int64_t live = 0;
    check(sdsinf_infer(m, &images, NULL, &single, &err), "sdsinf_infer", &err);
    for (int64_t i = 0; i < single.images; i++)
        live += single.argmax[i] >= 0;
    if (live == 0) { /* an empty result would equal anything */
        fprintf(stderr, "consumer: every image's final row is empty\n");
        return 1;
    }

    sdsinf_partition_opts po;
    sdsinf_plan *p;
    sdsinf_partition_opts_init(&po);
    po.workers = 2;
    po.method = "block";
    check(sdsinf_partition(m, &po, &p, &err), "sdsinf_partition", &err);

    run_equals(m, p, &images, &single, "threads", "mem");
    run_equals(m, p, &images, &single, NULL, NULL);
    printf("sdsinf %s: %lld images (%lld categorized), the runs equal "
           "infer\n",
           sdsinf_version(), (long long)single.images, (long long)live);

    sdsinf_plan_free(p);
    sdsinf_result_free(&single);
    sdsinf_csr_free(&images);
    sdsinf_model_free(m);
    return 0;
}
