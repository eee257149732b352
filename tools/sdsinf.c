/* sdsinf.c - the command-line interface: parses flags, calls the library,
 * prints results (one JSON object, built with cJSON, as the last stdout
 * line with --json) and maps statuses to exit codes: 0 success, 1 failure,
 * 2 bad usage.  FLAGS describes every flag once; COMMANDS names the flags
 * each command takes (any other is refused) and its usage is made of the
 * two (sdsinf help CMD, sdsinf CMD --help). */
#include "sdsinf.h"
#include "aws.h"
#include "cli_util.h"
#include "cost.h"
#include "lambda.h"
#include "metrics.h"
#include "meter.h"
#include "payload.h"
#include "plan.h"
#include "report.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2

typedef struct opts {
    const char *weights, *images, *check, *out, *scores, *bias, *method;
    const char *plan, *from, *weights_out, *images_out;
    const char *launcher, *channel, *channel_config, *codec, *metrics;
    const char *spec, *specs_out; /* worker; run --launcher external */
    const char *prices, *region, *as, *validate; /* cost */
    const char *calibration, *plot, *sample, *machines; /* plan */
    const char *reference; /* report */
    const char *stack; /* run: the channel's settings from a deployed stack */
    const char *stage_bucket; /* run: the bucket that stages the workers'
                                 data (--stage-bucket; --stack's with
                                 --stage, or for a launcher whose workers
                                 cannot see ours) */
    const char *record; /* run --stack: where the run's record goes
                           (s3://BUCKET/runs/NAME/result.json) */
    const char *function; /* run --launcher lambda: the workers' function */
    const char *payload; /* the one argument that is not a flag (run: the
                            payload; cost: the run record) */
    long long level, timeout_ms, start_timeout_ms, bfr, nlevels, max_message;
    long long neurons, layers, threads, batch_size, workers;
    long long images_count, max_memory;
    double imbalance, max_seconds, max_usd;
    long long seed;
    double ymax;
    int json, quiet, dry_run, calibrate, progress, no_progress, stage;
} opts;

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sdsinf: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nrun `sdsinf help` for the options\n");
    return EXIT_USAGE;
}

/* ---- signals ------------------------------------------------------------------
 * SIGINT and SIGTERM during a run set a flag (all a handler may safely
 * do); the run's wait loops read it as their cancel flag, stop the
 * workers and remove the run's channel state, and the command exits with
 * 128 + the signal.  `run` catches them from before its loading on (its
 * record on a stack then says interrupted); before that the default
 * action (dying) stays. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

/* Says what an interrupted command did (err: the run's cancel, or NULL
 * when it came after the run) and gives its exit status. */
static int interrupted(const sdsinf_err *err)
{
    fprintf(stderr, "sdsinf: interrupted (%s): %s\n",
            stop_signal == SIGINT ? "SIGINT" : "SIGTERM",
            err && err->code == SDSINF_ECANCELED
                ? err->msg
                : "the run had ended; no output was written");
    return 128 + stop_signal;
}

static int parse_ll(const char *flag, const char *s, long long min,
                    long long *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end || end == s || x < min)
        return usage_error("%s needs an integer >= %lld, not '%s'", flag, min,
                           s);
    *v = x;
    return 0;
}

/* Every flag: where it goes (a count or a size: a long long, a real: a
 * double), what it accepts, and its line in the usage (one description,
 * whichever commands take it). */
#define SWITCH_FLAG(n, f, help)                                              \
    {n, CLI_SWITCH, offsetof(opts, f), 0, 0, NULL, help}
#define TEXT_FLAG(n, f, arg, help)                                           \
    {n, CLI_TEXT, offsetof(opts, f), 0, 0, arg, help}
#define COUNT_FLAG(n, f, lo, hi, arg, help)                                  \
    {n, CLI_COUNT, offsetof(opts, f), lo, hi, arg, help}
static const cli_flag FLAGS[] = {
    TEXT_FLAG("--weights", weights, "DIR|BUNDLE",
              "the model: a directory of layer files (nN-lL.tsv or *lL.mtx, "
              "and a bias.tsv) or a bundle from convert; sdsinf-import: the "
              "model the layout was cut from (its conn files then suffice)"),
    TEXT_FLAG("--images", images, "FILE|M",
              "the images (lines: image feature value); partition: a sample "
              "that weighs the features; generate, demo: how many images to "
              "make (demo: 2000)"),
    TEXT_FLAG("--check", check, "GOLD",
              "golden categories to compare with: a difference exits 1 (the "
              "outputs are written all the same)"),
    TEXT_FLAG("--out", out, "PATH",
              "the output: the categories (infer, run; - for standard "
              "output), the model's directory (generate; demo: default a new "
              "one in $TMPDIR), the bundle (convert), the plan's directory "
              "(partition: default none; sdsinf-import), the SDS-Inf "
              "layout's (sdsinf-export), the page (report: default "
              "DIR/report.html or PREFIX-report.html) or the calibration "
              "(plan --calibrate)"),
    TEXT_FLAG("--scores", scores, "FILE",
              "each image's argmax and maximum score (- for standard output)"),
    TEXT_FLAG("--bias", bias, "B|FILE",
              "the bias: a number for every neuron, or a bias file (default: "
              "the weights' bias.tsv, else GraphChallenge's for the neuron "
              "count)"),
    TEXT_FLAG("--method", method, "NAME",
              "how to partition: hypergraph, block or random (default "
              "hypergraph)"),
    TEXT_FLAG("--plan", plan, "PLANDIR",
              "a plan from partition (run: default a new one for --workers; "
              "each worker maps its shard from it)"),
    TEXT_FLAG("--from", from, "DIR",
              "the SDS-Inf layout to read (nnp.<w>, train.<w>, conn.<l>)"),
    TEXT_FLAG("--weights-out", weights_out, "DIR",
              "also write the model, as TSV files"),
    TEXT_FLAG("--images-out", images_out, "FILE",
              "also write the images (of the train.<w> files), as one file"),
    TEXT_FLAG("--launcher", launcher, "NAME",
              "how the workers start: local (processes; the default), "
              "threads, mpi (this process is one rank of mpirun -n W), "
              "external (workers started by `sdsinf worker --spec`), or "
              "lambda (invocations of an AWS Lambda function; the plan, "
              "weights and images in S3)"),
    TEXT_FLAG("--channel", channel, "NAME",
              "what carries the messages: local (shared memory), mem "
              "(threads only), fs, redis, sqs, sns, s3 or mpi (default local; "
              "mem for threads, mpi for mpi)"),
    TEXT_FLAG("--channel-config", channel_config, "C",
              "the channel's own setting (local, fs: a directory; redis: a "
              "URL; sqs, sns, s3: key=value,... as the README lists)"),
    TEXT_FLAG("--stack", stack, "NAME",
              "sqs, sns, s3: the channel's settings from a stack sdsinf aws "
              "deploy made (after --channel-config's)"),
    SWITCH_FLAG("--stage", stage,
                "with --stack: stage the plan and the workers' inputs in the "
                "stack's bucket, content-addressed (what is there already is "
                "not uploaded again), so the workers read only S3 (always so "
                "for a launcher whose workers cannot see this machine)"),
    TEXT_FLAG("--stage-bucket", stage_bucket, "BUCKET",
              "stage the plan and the workers' inputs in BUCKET as --stage "
              "does in the stack's (sdsinf aws run's coordinator: it knows "
              "no stack)"),
    TEXT_FLAG("--function", function, "NAME",
              "launcher lambda: the AWS Lambda function whose invocations "
              "are the workers (default: the --stack's, deployed with "
              "--package; else the function this runs in)"),
    TEXT_FLAG("--codec", codec, "NAME",
              "the messages' encoding: zstd (the default) or raw"),
    TEXT_FLAG("--spec", spec, "FILE|-",
              "the worker's spec (from a launcher, or run --launcher external "
              "--specs-out DIR); - for standard input"),
    TEXT_FLAG("--specs-out", specs_out, "DIR",
              "launcher external: write DIR/worker-{w}.spec, for `sdsinf "
              "worker --spec` to start each worker anywhere"),
    TEXT_FLAG("--metrics", metrics, "PREFIX",
              "write PREFIX.csv, PREFIX-layers.csv and PREFIX.json: SDS-Inf's "
              "metrics columns, then ours (demo: default DIR/metrics)"),
    TEXT_FLAG("--prices", prices, "FILE",
              "the price table (default: $SDSINF_PRICES, else the aws.json "
              "installed with sdsinf; the project's prices/aws.json)"),
    TEXT_FLAG("--region", region, "NAME",
              "the region whose prices to use (default the table's "
              "default_region, us-east-1)"),
    TEXT_FLAG("--as", as, "sqs|sns|s3",
              "price a run on a channel AWS does not bill (local, fs, redis, "
              "mpi) as if its requests were that AWS service's: an estimate"),
    TEXT_FLAG("--validate", validate, "DIR",
              "compare the cost model with SDS-Inf's published costs in DIR "
              "(../shared/data/sds-inf-reference): exit 1 over 2% off"),
    TEXT_FLAG("--reference", reference, "DIR",
              "SDS-Inf's published figures to compare with (default "
              "$SDSINF_DATA/sds-inf-reference, else the build's shared data)"),
    COUNT_FLAG("--neurons", neurons, 1, INT32_MAX, "N",
               "neurons per layer (default: the model's; demo: 1024)"),
    COUNT_FLAG("--layers", layers, 1, INT32_MAX, "L",
               "layers: the model's first L (default all; demo: 120)"),
    COUNT_FLAG("--threads", threads, 0, 1024, "T",
               "kernel threads (default one per CPU; a run's workers: 1 "
               "each)"),
    COUNT_FLAG("--batch-size", batch_size, 1, 1e15, "B",
               "images computed at once, which bounds the memory (default "
               "all)"),
    COUNT_FLAG("--workers", workers, 1, 65535, "W",
               "the workers (run: default the plan's; demo: 4; plan "
               "--calibrate: its run's, default 4)"),
    COUNT_FLAG("--level", level, 1, 22, "N", "zstd's level (default 3)"),
    COUNT_FLAG("--bfr", bfr, 1, 65535, "B",
               "a launch tree, with --nlevels N: the coordinator starts B "
               "workers, each of them B more, N levels deep; W = B + B^2 + "
               ".. + B^N (default: the coordinator starts all)"),
    COUNT_FLAG("--nlevels", nlevels, 1, 32, "N",
               "the launch tree's depth (with --bfr)"),
    COUNT_FLAG("--timeout-ms", timeout_ms, 1, 86400000, "T",
               "the longest wait for a message, in ms (default 30000)"),
    COUNT_FLAG("--start-timeout-ms", start_timeout_ms, 1, 86400000, "T",
               "launcher external, lambda: the longest wait for every "
               "worker to start, in ms (default 600000; lambda: the "
               "--timeout-ms)"),
    COUNT_FLAG("--max-message", max_message, 256, 9.2e18, "BYTES",
               "the largest message: larger blocks go as chunks (default "
               "262144)"),
    COUNT_FLAG("--seed", seed, 0, 9.2e18, "S", "the random seed (default 1)"),
    COUNT_FLAG("--images-count", images_count, 1, 4294967295.0, "M",
               "the images file holds images 1..M (default: its largest "
               "image)"),
    {"--max-memory", CLI_SIZE, offsetof(opts, max_memory), 1, 9.2e18, "SIZE",
     "refuse up front what needs more memory: bytes, or 512M, 8G (default "
     "the available memory)"},
    {"--ymax", CLI_REAL, offsetof(opts, ymax), 1e-30, 3e38, "Y",
     "the activations' cap (default 32)"},
    {"--imbalance", CLI_REAL, offsetof(opts, imbalance), 1e-9, 10, "X",
     "the load imbalance allowed per layer (default 0.03)"},
    {"--max-seconds", CLI_REAL, offsetof(opts, max_seconds), 1e-6, 1e9, "S",
     "plan: the latency bound: recommend the cheapest configuration that "
     "takes at most S seconds"},
    {"--max-usd", CLI_REAL, offsetof(opts, max_usd), 1e-12, 1e9, "USD",
     "plan: the budget: recommend the fastest configuration that costs at "
     "most USD dollars"},
    TEXT_FLAG("--calibration", calibration, "FILE",
              "plan: the measurements to plan with (from plan --calibrate "
              "--out FILE; default: measure the model now); cost "
              "--validate: FILE,FILE..: sdsinf's prediction on the "
              "published configurations of those models"),
    TEXT_FLAG("--sample", sample, "FILE",
              "plan --calibrate: the images to measure on (their first 256; "
              "default: generated ones)"),
    TEXT_FLAG("--machines", machines, "TYPE,..",
              "plan: the EC2 instance types the local, MPI and Redis engines "
              "and the servers may use (default: every one the price table "
              "prices)"),
    TEXT_FLAG("--plot", plot, "FILE",
              "plan: draw the frontier with gnuplot into FILE (.png or .svg)"),
    SWITCH_FLAG("--calibrate", calibrate,
                "plan: measure this machine's kernel and a quick run of the "
                "model (written to --out FILE when given)"),
    SWITCH_FLAG("--dry-run", dry_run, "say what would be removed, remove "
                "nothing"),
    SWITCH_FLAG("--json", json,
                "one JSON object as the last line of standard output"),
    SWITCH_FLAG("--quiet", quiet,
                "no progress display, no notes on standard error"),
    SWITCH_FLAG("--progress", progress,
                "show progress on standard error even when it is not a "
                "terminal (default: only on a terminal, and not with --json)"),
    SWITCH_FLAG("--no-progress", no_progress, "never show progress"),
    {NULL, CLI_TEXT, 0, 0, 0, NULL, NULL}};

/* A command: what it runs, its usage, and the flags it takes. */
typedef struct command {
    const char *name;
    int (*run)(const opts *o);
    const char *synopsis; /* what follows the name: lines split by \n */
    const char *about;    /* what it does */
    const char *flags;    /* the flags it takes, in its usage's order */
    int operand;          /* takes one argument that is not a flag */
} command;

/* 1 when c takes the flag: its name is a word of c->flags. */
static int takes_flag(const command *c, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = c->flags; (p = strstr(p, name)); p += n)
        if ((p == c->flags || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
            return 1;
    return 0;
}

/* An option c does not take (known: another command's): bad usage, naming
 * the option and the command. */
static int refuse_option(const command *c, const char *a, int known)
{
    fprintf(stderr, "sdsinf %s: ", c->name);
    if (known)
        fprintf(stderr, "%s is not an option of %s", a, c->name);
    else
        fprintf(stderr, "unknown option %s", a);
    fprintf(stderr, " (see sdsinf %s --help)\n", c->name);
    return EXIT_USAGE;
}

/* The multiplier of a size's suffix at *end (K, M, G, T: binary, with an
 * optional "iB" or "B"), moving *end past it; 1 for none. */
static double size_unit(char **end)
{
    static const char units[] = "KMGT";
    const char *u = **end ? strchr(units, toupper((unsigned char)**end))
                          : NULL;
    if (!u)
        return 1;
    (*end)++;
    if (!strcmp(*end, "iB") || !strcmp(*end, "B"))
        *end += strlen(*end);
    return (double)(1ull << (10 * (u - units + 1)));
}

/* parse_args' answer to --help (or -h): the command's usage is wanted. */
#define HELP_ASKED (-1)

/* Reads c's arguments into o: 0, EXIT_USAGE (said why) or HELP_ASKED. */
static int parse_args(const command *c, int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return HELP_ASKED;
        if (strncmp(a, "--", 2) && !o->payload) {
            o->payload = a;
            continue;
        }
        if (strncmp(a, "--", 2))
            return usage_error("unexpected argument '%s' (after '%s')", a,
                               o->payload);
        const cli_flag *f = cli_flag_find(FLAGS, a, strlen(a));
        if (!f || !takes_flag(c, a))
            return refuse_option(c, a, f != NULL);
        char *field = (char *)o + f->at, *end;
        if (f->kind == CLI_SWITCH) {
            cli_flag_set(f, o, NULL);
            continue;
        }
        if (!v)
            return usage_error("%s needs a value", a);
        i++;
        if (f->kind == CLI_TEXT) {
            cli_flag_set(f, o, v);
            continue;
        }
        errno = 0;
        double x = f->kind == CLI_COUNT ? (double)strtoll(v, &end, 10)
                                        : strtod(v, &end);
        if (f->kind == CLI_SIZE)
            x *= size_unit(&end);
        if (errno || *end || end == v || !(x >= f->min) || x > f->max)
            return f->kind == CLI_COUNT
                       ? usage_error("%s needs an integer from %.0f to %.0f, "
                                     "not '%s'", a, f->min, f->max, v)
                   : f->kind == CLI_SIZE
                       ? usage_error("%s needs a size: bytes, or a number "
                                     "with K, M, G or T (KiB .. TiB), e.g. "
                                     "512M or 8G, not '%s'", a, v)
                       : usage_error("%s needs a number from %g to %g, not "
                                     "'%s'", a, f->min, f->max, v);
        if (f->kind == CLI_SIZE) {
            long long n = (long long)x;
            memcpy(field, &n, sizeof n);
        } else if (f->kind == CLI_COUNT) {
            long long n = strtoll(v, NULL, 10);
            memcpy(field, &n, sizeof n);
        } else {
            memcpy(field, &x, sizeof x);
        }
    }
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- progress display (meter.h) ---------------------------------------------- */

/* Whether o's command draws progress. */
static int progress_on(const opts *o)
{
    return meter_wanted(o->progress, o->no_progress, o->json, o->quiet);
}

/* sdsinf_infer's callback: layers of batches done. */
static void infer_progress(void *ud, int64_t batch, int64_t batches,
                           int32_t layer, int32_t layers)
{
    meter_show(ud, (double)batch * layers + layer,
               (double)batches * layers);
}

/* The library's callback of steps done, of total (sdsinf_model_load's:
 * layer files read). */
static void steps_progress(void *ud, int64_t done, int64_t total)
{
    meter_show(ud, (double)done, (double)total);
}

/* A command's meter whose steps the library names (sdsinf_partition's):
 * each step its own line, "WHAT: STEP". */
typedef struct step_meter {
    meter m;
    const char *what, *step;
    char stage[96];
} step_meter;

static void step_progress(void *ud, const char *step, int64_t done,
                          int64_t total)
{
    step_meter *s = ud;
    if (s->step != step) {
        meter_end(&s->m); /* the last step's line, under its name */
        s->step = step;
        snprintf(s->stage, sizeof s->stage, "%s: %s", s->what, step);
        meter_begin(&s->m, 1, s->stage, "steps");
    }
    meter_show(&s->m, (double)done, (double)total);
}

/* sdsinf_run's callback: the workers' layers where the launcher sees
 * them (local processes, through their progress file); else the workers
 * that finished (threads, mpi and external workers tell their layers only
 * in the report each sends at its end). */
static void run_progress(void *ud, int64_t done, int64_t total)
{
    meter *m = ud;
    if (total <= 0)
        m->unit = "workers finished (this launcher shows no layers)";
    meter_show(m, (double)done, (double)total);
}

/* Draws a run's progress on m, when o asks for it. */
static void run_opts_progress(const opts *o, sdsinf_run_opts *ro, meter *m)
{
    meter_begin(m, progress_on(o), "run", "worker-layers");
    if (m->on) {
        ro->progress = run_progress;
        ro->progress_ud = m;
    }
}

/* ---- shared steps ---------------------------------------------------------- */

static void model_opts_from(const opts *o, sdsinf_model_opts *mo)
{
    sdsinf_model_opts_init(mo);
    mo->neurons = (int32_t)o->neurons;
    mo->layers = (int32_t)o->layers;
    mo->bias = o->bias;
    mo->ymax = (float)o->ymax;
}

static int load_model(const opts *o, sdsinf_model **m, double *secs,
                      sdsinf_err *err)
{
    sdsinf_model_opts mo;
    meter prog = {0};
    model_opts_from(o, &mo);
    meter_begin(&prog, progress_on(o), "load the model", "layer files");
    mo.progress = prog.on ? steps_progress : NULL;
    mo.progress_ud = &prog;
    double t = now();
    int rc = sdsinf_model_load(o->weights, &mo, m, err);
    *secs = now() - t;
    meter_end(&prog);
    return rc;
}

/* Compares categories; prints the first differences.  1 when equal. */
static int compare_categories(const int64_t *got, int64_t ng,
                              const int64_t *want, int64_t nw, const char *gold)
{
    int64_t i = 0, j = 0, missing = 0, extra = 0;
    while (i < ng || j < nw) {
        if (j >= nw || (i < ng && got[i] < want[j])) {
            if (extra++ < 5)
                fprintf(stderr, "sdsinf: image %lld is categorized but not "
                        "in %s\n", (long long)got[i], gold);
            i++;
        } else if (i >= ng || want[j] < got[i]) {
            if (missing++ < 5)
                fprintf(stderr, "sdsinf: image %lld is in %s but not "
                        "categorized\n", (long long)want[j], gold);
            j++;
        } else {
            i++;
            j++;
        }
    }
    if (missing || extra)
        fprintf(stderr, "sdsinf: check failed against %s: %lld missing, "
                "%lld extra\n", gold, (long long)missing, (long long)extra);
    return !missing && !extra;
}

/* The golden categories of --check, each an image of the nimages of
 * --images: one beyond them means the files do not belong together. */
static int load_gold(const opts *o, int64_t nimages, int64_t **gold,
                     int64_t *ngold, sdsinf_err *err)
{
    int rc = sdsinf_categories_load(o->check, gold, ngold, err);
    if (rc == SDSINF_OK && *ngold > 0 && (*gold)[*ngold - 1] > nimages)
        rc = cli_fail(err, SDSINF_EINVAL, "%s lists image %lld, but %s has "
                      "%lld images: give the golden categories of these "
                      "images", o->check, (long long)(*gold)[*ngold - 1],
                      o->images, (long long)nimages);
    return rc;
}

/* A failed --check still writes what was asked for (the results are the
 * run's own, only not the expected ones): says so. */
static void note_check_failed(const opts *o)
{
    if (!o->out && !o->scores && !o->metrics)
        return;
    fprintf(stderr, "sdsinf: the check failed; written all the same:%s%s%s%s"
            "%s%s\n", o->out ? " --out " : "", o->out ? o->out : "",
            o->scores ? " --scores " : "", o->scores ? o->scores : "",
            o->metrics ? " --metrics " : "", o->metrics ? o->metrics : "");
}

/* ---- JSON output ----------------------------------------------------------- */

/* Prints o (NULL: out of memory building it) as the last line of standard
 * output; 1 when it could not. */
static int print_json(cJSON *o)
{
    sdsinf_err err = {0};
    if (cli_json_write(o, stdout, &err))
        return cli_error(&err);
    putchar('\n');
    return 0;
}

/* key: v as an integer, exactly: for identifiers and seeds, which span all
 * 64 bits (a JSON number through a double keeps 53). */
static void json_add_u64(cJSON *o, const char *key, uint64_t v)
{
    char digits[24];
    snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    cJSON_AddRawToObject(o, key, digits);
}

/* "check": "pass", "fail", or null when there was none (check < 0). */
static void json_check(cJSON *o, int check)
{
    cli_json_add_string(o, "check",
                        check < 0 ? NULL : check ? "pass" : "fail");
}

/* "out" and "scores": the files written, or null. */
static void json_outputs(cJSON *o, const opts *a)
{
    cli_json_add_string(o, "out", a->out);
    cli_json_add_string(o, "scores", a->scores);
}

static int64_t model_edges(const sdsinf_model *m)
{
    int64_t e = 0;
    for (int32_t l = 0; l < m->layers; l++)
        e += sdsinf_csr_nnz(&m->layer[l].w);
    return e;
}

/* ---- memory: sizes that cannot fit, refused before loading --------------- */

/* The images of --images, numbered 1..--images-count when given. */
static int load_images(const opts *o, int32_t neurons, sdsinf_csr *images,
                       sdsinf_err *err)
{
    return sdsinf_images_load_count(o->images, neurons, o->images_count,
                                    images, err);
}

/* The sizes of --weights and --images as files, before loading them. */
static void file_sizes(const opts *o, sdsinf_mem_sizes *s)
{
    sdsinf_model_opts mo;
    struct stat st;
    memset(s, 0, sizeof *s);
    model_opts_from(o, &mo);
    sdsinf_model_mem(o->weights, &mo, s);
    if (o->images && stat(o->images, &st) == 0)
        s->image_text = (int64_t)st.st_size;
    s->images = o->images_count;
    s->batch_size = o->batch_size;
}

/* The sizes of a loaded model and images (NULL: none). */
static void loaded_sizes(const sdsinf_model *m, const sdsinf_csr *images,
                         sdsinf_mem_sizes *s)
{
    s->neurons = m->neurons;
    s->layers = m->layers;
    s->weights = model_edges(m);
    s->model_text = s->model_text_once = s->image_text = 0;
    s->images = images ? images->nrows : 0;
    s->image_entries = images ? sdsinf_csr_nnz(images) : 0;
}

static int check_memory(const char *what, const sdsinf_mem_sizes *s,
                        const opts *o, sdsinf_err *err)
{
    return sdsinf_mem_check(what, s, o->max_memory, err);
}

/* Writes --out (the categories) and --scores, when asked for, into the
 * set: renamed into place by cli_files_commit once the whole command has
 * succeeded, so a failed command leaves neither (`-`: standard output,
 * before the summary or JSON line). */
static int save_results(const opts *o, const sdsinf_result *res,
                        const int64_t *cats, int64_t ncats, cli_files *fs,
                        sdsinf_err *err)
{
    FILE *f;
    int rc = SDSINF_OK;
    if (o->out && !(rc = cli_files_open(fs, o->out, &f, err)))
        sdsinf_categories_write(cats, ncats, f);
    if (!rc && o->scores && !(rc = cli_files_open(fs, o->scores, &f, err)))
        sdsinf_result_write_scores(res, f);
    return rc;
}

/* An output flag's path that cannot be written (sdsinf_output_check:
 * a directory, or in a missing or read-only one), refused as bad usage
 * before any work; `-` is standard output. */
static int check_output(const char *flag, const char *path)
{
    sdsinf_err err = {0};
    if (!path || !strcmp(path, "-") || !sdsinf_output_check(path, &err))
        return 0;
    return err.code == SDSINF_EINVAL ? usage_error("%s %s", flag, err.msg)
                                     : cli_error(&err);
}

/* A --metrics PREFIX names three files: one that is itself a directory,
 * device or FIFO, or in a directory that cannot be written, is refused
 * before any work. */
static int check_metrics(const char *prefix)
{
    struct stat st;
    if (!prefix || stat(prefix, &st) != 0 || S_ISREG(st.st_mode))
        return check_output("--metrics", prefix);
    return usage_error("--metrics takes a prefix for three files (PREFIX.csv, "
                       "PREFIX-layers.csv, PREFIX.json), but %s is %s: give "
                       "e.g. %s%s", prefix,
                       S_ISDIR(st.st_mode) ? "a directory"
                                           : "a device, FIFO or socket",
                       S_ISDIR(st.st_mode) ? prefix : "./metrics",
                       S_ISDIR(st.st_mode) ? "/metrics" : "");
}

/* Output flags that cannot work, refused before any work: --out and
 * --scores both `-`, either one check_output refuses, and check_metrics. */
static int check_outputs(const opts *o)
{
    if (o->out && o->scores && !strcmp(o->out, "-") && !strcmp(o->scores, "-"))
        return usage_error("--out and --scores cannot both be - (standard "
                           "output): give one of them a file");
    int rc = check_output("--out", o->out);
    return rc ? rc
              : (rc = check_output("--scores", o->scores)) ? rc
                                                           : check_metrics(o->metrics);
}

/* A failure inside a directory being built names the file by where it was
 * going (DIR/...), not by the temporary directory it never left. */
static void name_in_dir(const sdsinf_output_dir *d, sdsinf_err *err)
{
    const char *at = d->temp ? strstr(err->msg, d->temp) : NULL;
    char msg[sizeof err->msg];
    if (!at)
        return;
    snprintf(msg, sizeof msg, "%.*s%s%s", (int)(at - err->msg), err->msg,
             d->path, at + strlen(d->temp));
    memcpy(err->msg, msg, sizeof msg);
}

/* What marks a directory as one a command wrote (and may replace). */
#define MODEL_DIR_MARKER "bias.tsv"  /* sdsinf_model_save_tsv: generate, demo */
#define PLAN_DIR_MARKER "plan.bin"   /* sdsinf_plan_save */
#define LEGACY_DIR_MARKER "conn.0"   /* sdsinf_legacy_save */

/* Starts a directory written whole (flag's DIR, of the commands that
 * write one): refused as bad usage, naming flag, when DIR is not ours to
 * replace or its directory is missing or read-only. */
static int begin_dir(const char *flag, const char *dir, const char *marker,
                     sdsinf_output_dir *d)
{
    sdsinf_err err = {0};
    int rc = sdsinf_output_dir_begin(dir, marker, d, &err);
    return rc == SDSINF_EINVAL ? usage_error("%s %s", flag, err.msg)
           : rc                ? cli_error(&err)
                               : 0;
}

/* ---- infer ------------------------------------------------------------------ */

static int cmd_infer(const opts *o)
{
    sdsinf_err err = {0};
    sdsinf_model *m = NULL;
    sdsinf_csr images = {0};
    sdsinf_result res = {0};
    int64_t *cats = NULL, ncats = 0, *gold = NULL, ngold = 0;
    int rc = 1, check = -1, threads = 0;
    sdsinf_pool *pool = NULL;
    double load_s, model_s, t;
    meter prog = {0};
    cli_files outs = {0};
    sdsinf_mem_sizes ms;
    if (!o->weights || !o->images)
        return usage_error("infer needs --weights and --images");
    if (check_outputs(o))
        return EXIT_USAGE;
    file_sizes(o, &ms);
    ms.infer = 1;
    if (check_memory("infer", &ms, o, &err) ||
        load_model(o, &m, &model_s, &err) != SDSINF_OK)
        goto fail;
    t = now();
    if (load_images(o, m->neurons, &images, &err) != SDSINF_OK)
        goto fail;
    loaded_sizes(m, &images, &ms);
    if (check_memory("infer", &ms, o, &err))
        goto fail;
    if (o->check && load_gold(o, images.nrows, &gold, &ngold, &err))
        goto fail;
    load_s = model_s + now() - t;

    sdsinf_infer_opts io;
    sdsinf_infer_opts_init(&io);
    io.threads = (int)o->threads;
    io.batch_size = o->batch_size;
    meter_begin(&prog, progress_on(o), "infer", "layers");
    if (prog.on) {
        io.progress = infer_progress;
        io.progress_ud = &prog;
    }
    if (sdsinf_pool_create((int)o->threads, &pool, &err) != SDSINF_OK)
        goto fail;
    io.pool = pool;
    threads = sdsinf_pool_threads(pool);
    t = now();
    if (sdsinf_infer(m, &images, &io, &res, &err) != SDSINF_OK)
        goto fail;
    double secs = now() - t;
    meter_end(&prog);
    if (sdsinf_result_categories(&res, &cats, &ncats, &err) != SDSINF_OK ||
        save_results(o, &res, cats, ncats, &outs, &err) ||
        cli_files_commit(&outs, &err))
        goto fail;
    if (o->check)
        check = compare_categories(cats, ncats, gold, ngold, o->check);
    double eps = secs > 0 ? (double)images.nrows * (double)model_edges(m) / secs
                          : 0;
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "images", (double)images.nrows);
        cJSON_AddNumberToObject(j, "neurons", m->neurons);
        cJSON_AddNumberToObject(j, "layers", m->layers);
        cJSON_AddNumberToObject(j, "categories", (double)ncats);
        json_check(j, check);
        cJSON_AddNumberToObject(j, "seconds", secs);
        cJSON_AddNumberToObject(j, "load_seconds", load_s);
        cJSON_AddNumberToObject(j, "model_load_seconds", model_s);
        cJSON_AddNumberToObject(j, "edges_per_second", eps);
        cJSON_AddNumberToObject(j, "threads", threads);
        json_outputs(j, o);
        if (print_json(j))
            goto done; /* rc is 1 */
    } else
        printf("%lld images x %d layers of %d neurons: %lld categories in "
               "%.3f s (%.3g edges/s; loading %.3f s)%s\n",
               (long long)images.nrows, m->layers, m->neurons,
               (long long)ncats, secs, eps, load_s,
               check < 0 ? "" : check ? "; check passed" : "; CHECK FAILED");
    if (check == 0)
        note_check_failed(o);
    rc = check == 0 ? 1 : 0;
    goto done;
fail:
    rc = cli_error(&err);
done:
    cli_files_discard(&outs);
    free(cats);
    free(gold);
    sdsinf_result_free(&res);
    sdsinf_csr_free(&images);
    sdsinf_model_free(m);
    sdsinf_pool_free(pool);
    return rc;
}

/* ---- generate ------------------------------------------------------------- */

/* generate's golden categories run in batches of this many images, so its
 * memory is the model's and the images' (the results are the same). */
#define GEN_BATCH 8192

/* The generator's options for N neurons, L layers, M images. */
static void gen_opts_for(int32_t N, int32_t L, int64_t M, uint64_t seed,
                         sdsinf_gen_opts *g)
{
    sdsinf_gen_opts_init(g);
    g->neurons = N;
    g->layers = L;
    g->images = M;
    g->seed = seed;
}

/* Generates into dir; writes weights, images and golden categories. */
static int generate_into(const char *dir, const sdsinf_gen_opts *g,
                         int threads, int show, int64_t *ncats_out,
                         sdsinf_err *err)
{
    meter prog = {0};
    int32_t N = g->neurons, L = g->layers;
    sdsinf_model *m = NULL;
    sdsinf_csr images = {0};
    sdsinf_result res = {0};
    int64_t *cats = NULL, ncats = 0;
    char path[4096];
    int rc;
    sdsinf_infer_opts io;
    sdsinf_infer_opts_init(&io);
    io.threads = threads;
    io.batch_size = GEN_BATCH;
    meter_begin(&prog, show, "generate: the model and images", "");
    meter_show(&prog, 0, 0);
    if ((rc = sdsinf_generate_model(g, &m, err)) ||
        (rc = sdsinf_generate_images(g, &images, err)) ||
        (rc = sdsinf_model_save_tsv(m, dir, err)))
        goto done;
    snprintf(path, sizeof path, "%s/sparse-images-%d.tsv", dir, N);
    if ((rc = sdsinf_images_save(&images, path, err)))
        goto done;
    meter_begin(&prog, show, "generate: the golden categories", "layers");
    if (prog.on) {
        io.progress = infer_progress;
        io.progress_ud = &prog;
    }
    if ((rc = sdsinf_infer(m, &images, &io, &res, err)) ||
        (rc = sdsinf_result_categories(&res, &cats, &ncats, err)))
        goto done;
    snprintf(path, sizeof path, "%s/n%d-l%d-categories.tsv", dir, N, L);
    if ((rc = sdsinf_categories_save(cats, ncats, path, err)))
        goto done;
    *ncats_out = ncats;
done:
    meter_end(&prog);
    free(cats);
    sdsinf_result_free(&res);
    sdsinf_csr_free(&images);
    sdsinf_model_free(m);
    return rc;
}

static int cmd_generate(const opts *o)
{
    sdsinf_err err = {0};
    sdsinf_output_dir dir;
    int64_t ncats = 0;
    long long M = 0;
    int rc;
    if (!o->neurons || !o->layers || !o->images || !o->out)
        return usage_error("generate needs --neurons, --layers, --images "
                           "(a count) and --out");
    if (parse_ll("--images", o->images, 1, &M))
        return EXIT_USAGE;
    sdsinf_gen_opts g;
    sdsinf_mem_sizes ms = {0};
    gen_opts_for((int32_t)o->neurons, (int32_t)o->layers, M,
                 (uint64_t)o->seed, &g);
    sdsinf_generate_mem(&g, &ms);
    ms.infer = 1; /* the golden categories */
    ms.batch_size = GEN_BATCH;
    if (check_memory("generate", &ms, o, &err))
        return cli_error(&err);
    if ((rc = begin_dir("--out", o->out, MODEL_DIR_MARKER, &dir)))
        return rc;
    double t = now();
    if (generate_into(dir.temp, &g, (int)o->threads, progress_on(o), &ncats,
                      &err) ||
        sdsinf_output_dir_commit(&dir, &err)) {
        name_in_dir(&dir, &err);
        sdsinf_output_dir_abort(&dir);
        return cli_error(&err);
    }
    t = now() - t;
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "neurons", (double)o->neurons);
        cJSON_AddNumberToObject(j, "layers", (double)o->layers);
        cJSON_AddNumberToObject(j, "images", (double)M);
        json_add_u64(j, "seed", (uint64_t)o->seed);
        cJSON_AddNumberToObject(j, "categories", (double)ncats);
        cli_json_add_string(j, "out", o->out);
        cJSON_AddNumberToObject(j, "seconds", t);
        return print_json(j);
    }
    printf("wrote %s: %lld neurons x %lld layers, %lld images (%lld "
           "categorized), seed %lld, in %.2f s\n", o->out, o->neurons,
           o->layers, M, (long long)ncats, o->seed, t);
    printf("files: n%lld-l1.tsv .. n%lld-l%lld.tsv, bias.tsv, "
           "sparse-images-%lld.tsv, n%lld-l%lld-categories.tsv\n",
           o->neurons, o->neurons, o->layers, o->neurons, o->neurons,
           o->layers);
    return 0;
}

/* ---- convert --------------------------------------------------------------- */

static int cmd_convert(const opts *o)
{
    sdsinf_err err = {0};
    sdsinf_model *m = NULL;
    double load_s;
    struct stat st;
    sdsinf_mem_sizes ms;
    if (!o->weights || !o->out)
        return usage_error("convert needs --weights and --out");
    if (check_outputs(o))
        return EXIT_USAGE;
    file_sizes(o, &ms);
    if (check_memory("convert", &ms, o, &err) ||
        load_model(o, &m, &load_s, &err) != SDSINF_OK)
        return cli_error(&err);
    double t = now();
    int rc = sdsinf_model_save_bundle(m, o->out, &err);
    t = now() - t;
    int printed = 0;
    /* (an s3:// bundle's size is not looked up: bytes null) */
    int sized = !sdsinf_location_remote(o->out) && stat(o->out, &st) == 0;
    if (rc == SDSINF_OK && o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "neurons", m->neurons);
        cJSON_AddNumberToObject(j, "layers", m->layers);
        if (sized)
            cJSON_AddNumberToObject(j, "bytes", (double)st.st_size);
        else
            cJSON_AddNullToObject(j, "bytes");
        cJSON_AddNumberToObject(j, "load_seconds", load_s);
        cJSON_AddNumberToObject(j, "seconds", t);
        printed = print_json(j);
    } else if (rc == SDSINF_OK) {
        printf("wrote %s: %d neurons x %d layers", o->out, m->neurons,
               m->layers);
        if (sized)
            printf(", %lld bytes", (long long)st.st_size);
        printf("\n");
    }
    sdsinf_model_free(m);
    return rc != SDSINF_OK ? cli_error(&err) : printed;
}

/* ---- partition ------------------------------------------------------------ */

/* partition --json: the plan's statistics. */
static cJSON *partition_json(const sdsinf_plan_stats *st)
{
    cJSON *j = cJSON_CreateObject(), *pairs;
    cJSON_AddNumberToObject(j, "workers", st->workers);
    cli_json_add_string(j, "method", st->method);
    cJSON_AddNumberToObject(j, "row_target_pairs",
                            (double)st->row_target_pairs);
    cJSON_AddNumberToObject(j, "imbalance", st->imbalance);
    cJSON_AddNumberToObject(j, "seconds", st->seconds);
    cJSON_AddNumberToObject(j, "neurons", st->neurons);
    cJSON_AddNumberToObject(j, "layers", st->layers);
    pairs = cJSON_AddArrayToObject(j, "pairs_per_layer");
    for (int32_t l = 0; pairs && l < st->layers; l++)
        cJSON_AddItemToArray(pairs,
                             cJSON_CreateNumber((double)st->pairs_per_layer[l]));
    return j;
}

static int cmd_partition(const opts *o)
{
    sdsinf_err err = {0};
    sdsinf_model *m = NULL;
    sdsinf_plan *plan = NULL;
    sdsinf_csr sample = {0};
    sdsinf_output_dir dir = {0};
    double load_s;
    int rc = 1;
    sdsinf_mem_sizes ms;
    if (!o->weights || !o->workers)
        return usage_error("partition needs --weights and --workers");
    if (o->workers > 65535)
        return usage_error("--workers must be at most 65535");
    file_sizes(o, &ms);
    ms.hypergraph = !o->method || !strcmp(o->method, "hypergraph");
    if (check_memory("partition", &ms, o, &err))
        goto fail;
    if (o->out && (rc = begin_dir("--out", o->out, PLAN_DIR_MARKER, &dir)))
        return rc;
    if (load_model(o, &m, &load_s, &err) != SDSINF_OK)
        goto fail;
    if (o->images && load_images(o, m->neurons, &sample, &err) != SDSINF_OK)
        goto fail;
    sdsinf_partition_opts po;
    sdsinf_partition_opts_init(&po);
    po.workers = (int)o->workers;
    po.method = o->method;
    po.imbalance = o->imbalance;
    po.seed = o->seed;
    po.sample = o->images ? &sample : NULL;
    step_meter prog = {{0}, "partition", NULL, ""};
    if (progress_on(o)) { /* block and random plans tell nothing: instant */
        po.progress = step_progress;
        po.progress_ud = &prog;
    }
    rc = sdsinf_partition(m, &po, &plan, &err);
    meter_end(&prog.m);
    if (rc == SDSINF_EINVAL) {
        rc = usage_error("%s", err.msg); /* the options, checked first */
        goto done;
    }
    if (rc != SDSINF_OK)
        goto fail;
    if (o->out && (sdsinf_plan_save(plan, m, dir.temp, &err) ||
                   sdsinf_output_dir_commit(&dir, &err)))
        goto fail;
    sdsinf_plan_stats st;
    sdsinf_plan_get_stats(plan, &st);
    int64_t lo = INT64_MAX, hi = 0;
    for (int32_t l = 0; l < st.layers; l++) {
        lo = st.pairs_per_layer[l] < lo ? st.pairs_per_layer[l] : lo;
        hi = st.pairs_per_layer[l] > hi ? st.pairs_per_layer[l] : hi;
    }
    if (o->json) {
        rc = print_json(partition_json(&st));
        goto done;
    }
    printf("%s partition of %d neurons x %d layers over %d workers: %lld "
           "row-target pairs (per layer %lld to %lld), imbalance %.2f%%, "
           "%.2f s%s%s\n", st.method, st.neurons, st.layers, st.workers,
           (long long)st.row_target_pairs, (long long)lo, (long long)hi,
           100 * st.imbalance, st.seconds, o->out ? "; wrote " : "",
           o->out ? o->out : "");
    rc = 0;
    goto done;
fail:
    name_in_dir(&dir, &err);
    rc = cli_error(&err);
done:
    sdsinf_output_dir_abort(&dir);
    sdsinf_plan_free(plan);
    sdsinf_csr_free(&sample);
    sdsinf_model_free(m);
    return rc;
}

/* ---- SDS-Inf layout ---------------------------------------------------------- */

static int cmd_sdsinf_export(const opts *o)
{
    sdsinf_err err = {0};
    sdsinf_model *m = NULL;
    sdsinf_plan *plan = NULL;
    sdsinf_csr images = {0};
    sdsinf_output_dir dir;
    double load_s;
    int rc = 1;
    if (!o->weights || !o->plan || !o->out)
        return usage_error("sdsinf-export needs --weights, --plan and --out");
    if ((rc = begin_dir("--out", o->out, LEGACY_DIR_MARKER, &dir)))
        return rc;
    if (load_model(o, &m, &load_s, &err) ||
        sdsinf_plan_load(o->plan, m, &plan, &err) ||
        (o->images && load_images(o, m->neurons, &images, &err)) ||
        sdsinf_legacy_save(m, plan, o->images ? &images : NULL, dir.temp,
                           &err) ||
        sdsinf_output_dir_commit(&dir, &err)) {
        name_in_dir(&dir, &err);
        rc = cli_error(&err);
    }
    else
        rc = 0;
    if (rc == 0 && o->json) {
        cJSON *j = cJSON_CreateObject();
        cli_json_add_string(j, "out", o->out);
        cJSON_AddNumberToObject(j, "neurons", m->neurons);
        cJSON_AddNumberToObject(j, "layers", m->layers);
        rc = print_json(j);
    } else if (rc == 0)
        printf("wrote the SDS-Inf layout of %s into %s\n", o->plan, o->out);
    sdsinf_output_dir_abort(&dir);
    sdsinf_plan_free(plan);
    sdsinf_csr_free(&images);
    sdsinf_model_free(m);
    return rc;
}

static int cmd_sdsinf_import(const opts *o)
{
    sdsinf_err err = {0};
    sdsinf_model *m = NULL, *known = NULL;
    sdsinf_plan *plan = NULL;
    sdsinf_csr images = {0};
    sdsinf_model_opts mo;
    sdsinf_output_dir dir = {0}, wdir = {0};
    double load_s;
    int64_t conn_pairs = 0;
    int rc = 1;
    if (!o->from || !(o->neurons || o->weights) || !o->out)
        return usage_error("sdsinf-import needs --from, --neurons or "
                           "--weights, and --out");
    if ((rc = begin_dir("--out", o->out, PLAN_DIR_MARKER, &dir)) ||
        (o->weights_out &&
         (rc = begin_dir("--weights-out", o->weights_out, MODEL_DIR_MARKER, &wdir)))) {
        sdsinf_output_dir_abort(&dir);
        return rc;
    }
    model_opts_from(o, &mo);
    if ((o->weights && load_model(o, &known, &load_s, &err)) ||
        sdsinf_legacy_load(o->from, known, &mo, &m, &plan, &images,
                           &conn_pairs, &err) ||
        sdsinf_plan_save(plan, m ? m : known, dir.temp, &err) ||
        (o->weights_out &&
         sdsinf_model_save_tsv(m ? m : known, wdir.temp, &err)) ||
        (o->images_out && sdsinf_images_save(&images, o->images_out, &err)) ||
        sdsinf_output_dir_commit(&dir, &err) ||
        (o->weights_out && sdsinf_output_dir_commit(&wdir, &err))) {
        name_in_dir(&dir, &err);
        name_in_dir(&wdir, &err);
        rc = cli_error(&err);
    } else {
        sdsinf_plan_stats st;
        sdsinf_plan_get_stats(plan, &st);
        if (o->json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "workers", st.workers);
            cli_json_add_string(j, "method", st.method);
            cJSON_AddNumberToObject(j, "row_target_pairs",
                                    (double)st.row_target_pairs);
            cJSON_AddNumberToObject(j, "listed_pairs", (double)conn_pairs);
            cJSON_AddNumberToObject(j, "imbalance", st.imbalance);
            cJSON_AddNumberToObject(j, "images", (double)images.nrows);
            rc = print_json(j);
        } else {
            printf("read %s: %d workers, %d layers of %d neurons, %lld images; "
                   "the conn files list %lld row-target pairs, the plan "
                   "needs %lld for every row; imbalance %.2f%%; wrote %s\n",
                   o->from, st.workers, st.layers, st.neurons,
                   (long long)images.nrows, (long long)conn_pairs,
                   (long long)st.row_target_pairs, 100 * st.imbalance, o->out);
            rc = 0;
        }
    }
    sdsinf_output_dir_abort(&dir);
    sdsinf_output_dir_abort(&wdir);
    sdsinf_plan_free(plan);
    sdsinf_csr_free(&images);
    sdsinf_model_free(m);
    sdsinf_model_free(known);
    return rc;
}

/* ---- run ----------------------------------------------------------------- */

/* What a run takes beyond the flags: from a payload, or the defaults. */
typedef struct run_setup {
    int64_t max_images; /* run the first ones only; 0: all */
    const char *config; /* the metrics' CONFIG; NULL: the prefix's name */
    long long expt_id;  /* the metrics' EXPT_ID; -1: none */
} run_setup;

/* The model, images, golden categories and plan of a run. */
typedef struct run_inputs {
    sdsinf_model *m;
    sdsinf_csr images;
    int64_t *gold, ngold;
    sdsinf_plan *plan;
} run_inputs;

static void run_inputs_free(run_inputs *in)
{
    sdsinf_plan_free(in->plan);
    free(in->gold);
    sdsinf_csr_free(&in->images);
    sdsinf_model_free(in->m);
    memset(in, 0, sizeof *in);
}

/* The payload's data is in S3, which a local run cannot read. */
static int data_in_s3(const char *file, const char *what,
                      const payload_loc *loc, const char *flag)
{
    return usage_error("%s: the payload's %s is in S3 (bucket %s, %s); "
                       "give %s for a local run", file, what, loc->bucket,
                       loc->subfolder, flag);
}

/* Fills from the payload what the flags leave open. */
static int apply_payload(const payload *pl, opts *o, run_setup *rs)
{
    if (!o->weights)
        return data_in_s3(o->payload, "model", &pl->weights,
                          "--weights DIR|BUNDLE");
    if (!o->images)
        return data_in_s3(o->payload, "inference data", &pl->inf_data,
                          "--images FILE");
    /* the launch tree is taken whole, from the flags or from the payload */
    if (!o->workers && !o->bfr && !o->nlevels) {
        o->workers = pl->workers;
        o->bfr = pl->bfr;
        o->nlevels = pl->nlevels;
    }
    o->neurons = o->neurons ? o->neurons : pl->neurons;
    o->layers = o->layers ? o->layers : pl->layers;
    o->batch_size = o->batch_size ? o->batch_size : pl->batch_size;
    o->metrics = o->metrics ? o->metrics : pl->name;
    rs->max_images = payload_images(pl);
    rs->config = pl->config;
    rs->expt_id = pl->expt_id;
    if (!o->plan && pl->connectivity.bucket && !o->quiet)
        fprintf(stderr, "sdsinf: %s: the payload's connectivity is in S3 "
                "(bucket %s, %s): partitioning here instead (give --plan "
                "PLANDIR for a saved plan)\n", o->payload,
                pl->connectivity.bucket, pl->connectivity.subfolder);
    return 0;
}

/* Runs the first max_images images only, and checks only their
 * categories. */
static void limit_images(const opts *o, const run_setup *rs, run_inputs *in)
{
    if (rs->max_images <= 0)
        return;
    if (in->images.nrows < rs->max_images) {
        if (!o->quiet)
            fprintf(stderr, "sdsinf: %s has %lld images, fewer than the "
                    "%lld the payload asks for: running them all\n",
                    o->images, (long long)in->images.nrows,
                    (long long)rs->max_images);
        return;
    }
    in->images.nrows = rs->max_images;
    while (in->ngold > 0 && in->gold[in->ngold - 1] > rs->max_images)
        in->ngold--;
}

/* The plan from --plan (for as many workers as asked for), or made now. */
static int load_or_make_plan(const opts *o, const sdsinf_model *m,
                             sdsinf_plan **plan, sdsinf_err *err)
{
    sdsinf_partition_opts po;
    sdsinf_plan_stats ps;
    int rc;
    if (!o->plan) {
        sdsinf_partition_opts_init(&po);
        po.workers = (int)o->workers;
        po.method = o->method;
        po.seed = o->seed;
        return sdsinf_partition(m, &po, plan, err);
    }
    if ((rc = sdsinf_plan_load(o->plan, m, plan, err)))
        return rc;
    sdsinf_plan_get_stats(*plan, &ps);
    if (o->workers && ps.workers != o->workers)
        return cli_fail(err, SDSINF_EINVAL, "%s is a plan for %d workers, "
                        "not %lld (%s): give a plan for %lld or leave the "
                        "worker count to the plan", o->plan, ps.workers,
                        o->workers, o->payload ? "the payload's "
                        "total_nworkers, or --workers" : "--workers",
                        o->workers);
    return SDSINF_OK;
}

static const char *launcher_name(const opts *o)
{
    return o->launcher ? o->launcher : "local";
}

/* What the launcher can do (SDSINF_LAUNCH_*; 0 when unknown or left out
 * of this build: the run's own check then says so). */
static unsigned launcher_caps(const opts *o)
{
    const sdsinf_launcher_methods *m = sdsinf_launcher_find(launcher_name(o));
    return m ? m->caps : 0;
}

/* Workers on this machine: a process of a job (an MPI rank) is one. */
static int local_workers(const opts *o, int workers)
{
    return launcher_caps(o) & SDSINF_LAUNCH_IN_JOB ? 1 : workers;
}

/* Checks the memory from the files' sizes, loads, then checks again with
 * the sizes loaded and the plan's workers. */
static int load_run_inputs(const opts *o, const run_setup *rs,
                           run_inputs *in, sdsinf_err *err)
{
    double load_s;
    sdsinf_mem_sizes ms;
    sdsinf_plan_stats ps;
    int rc;
    file_sizes(o, &ms);
    ms.workers = local_workers(o, (int)o->workers);
    ms.hypergraph = !o->plan && (!o->method || !strcmp(o->method,
                                                       "hypergraph"));
    if ((rc = check_memory("run", &ms, o, err)) ||
        (rc = load_model(o, &in->m, &load_s, err)) ||
        (rc = load_images(o, in->m->neurons, &in->images, err)) ||
        (o->check &&
         (rc = load_gold(o, in->images.nrows, &in->gold, &in->ngold, err))))
        return rc;
    limit_images(o, rs, in);
    if ((rc = load_or_make_plan(o, in->m, &in->plan, err)))
        return rc;
    sdsinf_plan_get_stats(in->plan, &ps);
    loaded_sizes(in->m, &in->images, &ms);
    ms.workers = local_workers(o, ps.workers);
    ms.hypergraph = 0;
    return check_memory("run", &ms, o, err);
}

static void run_opts_from(const opts *o, sdsinf_run_opts *ro)
{
    sdsinf_run_opts_init(ro);
    ro->launcher = o->launcher;
    ro->channel = o->channel;
    ro->channel_config = o->channel_config;
    ro->batch_size = o->batch_size;
    ro->codec = o->codec;
    ro->level = (int)o->level;
    ro->timeout_ms = (int)o->timeout_ms;
    ro->start_timeout_ms = (int)o->start_timeout_ms;
    ro->max_message = o->max_message;
    ro->kernel_threads = (int)o->threads;
    ro->bfr = (int)o->bfr;
    ro->nlevels = (int)o->nlevels;
    ro->plan_dir = o->plan; /* each worker loads its shard from there */
    ro->cancel = &stop_signal;
    ro->worker_exe = "/proc/self/exe"; /* local workers: `sdsinf worker` */
    ro->specs_dir = o->specs_out;
    ro->stage_bucket = o->stage_bucket;
    ro->function = o->function;
}

/* The run options checked before anything is loaded: bad usage (2) for a
 * value no run takes and for a channel or launcher this build left out
 * (the message says how to get it); 0 when they may run. */
static int check_run_opts(const opts *o, int workers)
{
    sdsinf_err err = {0};
    sdsinf_run_opts ro;
    run_opts_from(o, &ro);
    int rc = sdsinf_run_opts_check(&ro, workers, &err);
    if (rc == SDSINF_ENOTSUP) { /* the message says what to install */
        fprintf(stderr, "sdsinf: %s\n", err.msg);
        return EXIT_USAGE;
    }
    return rc == SDSINF_EINVAL ? usage_error("%s", err.msg) : 0;
}

/* An unknown launcher or channel (or one this build left out) is bad
 * usage, said before the files or a stack are looked at: 0 when known. */
static int unknown_names(const opts *o)
{
    return (o->launcher && !sdsinf_launcher_find(o->launcher)) ||
                   (o->channel && !sdsinf_channel_find(o->channel))
               ? check_run_opts(o, 0)
               : 0;
}

static const char *channel_name(const opts *o)
{
    sdsinf_run_opts ro;
    run_opts_from(o, &ro);
    return sdsinf_run_channel(&ro);
}

/* The S3 requests this process counted for s3:// locations so far (its
 * own and its workers', sdsinf_location_requests) into *sr: sr, or NULL
 * when there were none. */
static const sdsinf_requests *storage_requests(sdsinf_requests *sr)
{
    memset(sr, 0, sizeof *sr);
    sdsinf_location_requests(sr);
    return sr->send || sr->receive || sr->list || sr->remove ? sr : NULL;
}

/* PREFIX.csv, PREFIX-layers.csv and PREFIX.json of a finished run. */
static int write_run_metrics(const char *prefix, const opts *o,
                             const run_setup *rs, const run_inputs *in,
                             const sdsinf_run_stats *st, int64_t ncats,
                             int check, sdsinf_err *err)
{
    const char *base = strrchr(prefix, '/');
    metrics_run mr = {0};
    sdsinf_requests sr;
    mr.config = rs->config ? rs->config : base ? base + 1 : prefix;
    mr.expt_id = rs->expt_id;
    mr.bfr = (int)o->bfr;
    mr.nlevels = (int)o->nlevels;
    mr.neurons = in->m->neurons;
    mr.layers = in->m->layers;
    mr.images = in->images.nrows;
    mr.batch_size = o->batch_size;
    mr.channel = channel_name(o);
    mr.launcher = launcher_name(o);
    mr.codec = o->codec ? o->codec : "zstd";
    mr.categories = ncats;
    mr.check = check;
    mr.storage = storage_requests(&sr);
    return metrics_write(prefix, &mr, st, err);
}

static double per_image(uint64_t bytes, int64_t images)
{
    return images ? (double)bytes / (double)images : 0;
}

/* The channel's billable requests by kind (what the run JSON's `requests`
 * map holds: calls made, not messages sent). */
static void json_requests(cJSON *j, const sdsinf_requests *r)
{
    static const char *const kind[] = {
        "send",    "receive",    "empty",  "remove", "list",    "retries",
        "units",   "send_units", "s3_put", "s3_get", "s3_list", "s3_remove"};
    const uint64_t v[] = {r->send,       r->receive, r->empty,  r->remove,
                          r->list,       r->retries, r->units,
                          r->send_units, r->s3_put,  r->s3_get, r->s3_list,
                          r->s3_remove};
    for (size_t i = 0; j && i < sizeof v / sizeof v[0]; i++)
        cJSON_AddNumberToObject(j, kind[i], (double)v[i]);
}

/* A Lambda run's invocations among its requests, and its usage as `sdsinf
 * cost` reads it: lambda {invocations, gb_seconds, arch}. */
static void json_lambda(cJSON *j, cJSON *requests, const sdsinf_run_stats *st)
{
    cJSON_AddNumberToObject(requests, "lambda_invocations",
                            (double)st->lambda_invocations);
    cJSON *l = cJSON_AddObjectToObject(j, "lambda");
    cJSON_AddNumberToObject(l, "invocations", (double)st->lambda_invocations);
    cJSON_AddNumberToObject(l, "gb_seconds", st->lambda_gb_seconds);
    cJSON_AddNumberToObject(l, "memory_mb", st->lambda_memory_mb);
    cJSON_AddNumberToObject(l, "warm", st->lambda_warm);
    cli_json_add_string(l, "arch", st->lambda_arch == SDSINF_ARCH_ARM64
                                       ? "arm64"
                                       : "x86_64");
}

/* cost_usd: the run's bill (cost.h), its s3:// locations' requests
 * (storage, NULL: none) included; null when it has no price table (said
 * on stderr). */
static void json_cost(cJSON *j, const opts *o, const sdsinf_run_stats *st,
                      const sdsinf_requests *storage)
{
    sdsinf_err err = {0};
    double usd;
    if (cost_run_usd(channel_name(o), st, storage, &usd, &err) == SDSINF_OK) {
        cJSON_AddNumberToObject(j, "cost_usd", usd);
        return;
    }
    cJSON_AddNullToObject(j, "cost_usd");
    if (o->json && !o->quiet) /* (the summary says so itself) */
        fprintf(stderr, "sdsinf: no cost_usd: %s\n", err.msg);
}

/* What staging in the stack's bucket did (run --stack --stage). */
static void json_staged(cJSON *j, const sdsinf_stage_stats *s)
{
    if (!s->uploaded && !s->skipped)
        return;
    cJSON *o = cJSON_AddObjectToObject(j, "staged");
    cJSON_AddNumberToObject(o, "uploaded", (double)s->uploaded);
    cJSON_AddNumberToObject(o, "skipped", (double)s->skipped);
    cJSON_AddNumberToObject(o, "bytes_uploaded", (double)s->bytes_uploaded);
    cJSON_AddNumberToObject(o, "bytes_skipped", (double)s->bytes_skipped);
}

/* A finished run's JSON object (NULL: no memory). */
static cJSON *run_json(const opts *o, const run_inputs *in,
                       const sdsinf_run_stats *st, int64_t ncats, int check)
{
    int64_t n = in->images.nrows;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "workers", st->workers);
    cli_json_add_string(j, "channel", channel_name(o));
    cli_json_add_string(j, "launcher", launcher_name(o));
    cJSON_AddNumberToObject(j, "images", (double)n);
    cJSON_AddNumberToObject(j, "categories", (double)ncats);
    json_check(j, check);
    cJSON_AddNumberToObject(j, "seconds", st->seconds);
    cJSON_AddNumberToObject(j, "startup_seconds", st->startup_seconds);
    cJSON_AddNumberToObject(j, "bytes_sent", (double)st->bytes_sent);
    cJSON_AddNumberToObject(j, "messages_sent", (double)st->messages_sent);
    cJSON_AddNumberToObject(j, "bytes_per_image",
                            per_image(st->bytes_sent, n));
    cJSON_AddNumberToObject(j, "duplicates", (double)st->duplicates);
    cJSON *req = cJSON_AddObjectToObject(j, "requests");
    json_requests(req, &st->requests);
    if (st->lambda_invocations)
        json_lambda(j, req, st);
    if (st->peak_mb) /* the workers' processes' */
        cJSON_AddNumberToObject(j, "peak_mb", st->peak_mb);
    sdsinf_requests sr;
    const sdsinf_requests *stored = storage_requests(&sr);
    if (stored)
        json_requests(cJSON_AddObjectToObject(j, "storage_requests"), stored);
    json_cost(j, o, st, stored);
    cli_json_add_string(j, "metrics", o->metrics);
    json_outputs(j, o);
    json_staged(j, &st->staged);
    return j;
}

/* Stores a run's record in the stack's bucket (run --stack), for sdsinf
 * aws status: its state (running, done, failed, interrupted), when it
 * started, and its JSON j or (j NULL) its error e, if any; a failure to is
 * only said. */
static void record_run(const opts *o, const char *state, cJSON *j,
                       const sdsinf_err *e)
{
    static double started; /* the wall time of the first record */
    sdsinf_err err = {0};
    cJSON *r = !o->record ? NULL : j ? j : cJSON_CreateObject();
    if (!r)
        return;
    if (!started)
        started = (double)time(NULL);
    if (!j && e && e->code) {
        cJSON *x = cJSON_AddObjectToObject(r, "error");
        cJSON_AddStringToObject(x, "status", sdsinf_status_name(e->code));
        cJSON_AddStringToObject(x, "message", e->msg);
    }
    if (!j) {
        cli_json_add_string(r, "channel", channel_name(o));
        cli_json_add_string(r, "launcher", launcher_name(o));
    }
    cJSON_AddStringToObject(r, "state", state);
    cJSON_AddNumberToObject(r, "started", started);
    cli_json_add_string(r, "record", o->record);
    if (cli_json_store(r, o->record, &err) != SDSINF_OK && !o->quiet)
        fprintf(stderr, "sdsinf: the run's record was not stored: %s\n",
                err.msg);
    if (!j)
        cJSON_Delete(r);
}

/* Prints a run's JSON line, or its summary, and deletes j; 1 when it could
 * not. */
static int print_run(const opts *o, cJSON *j)
{
    if (o->json)
        return print_json(j);
    if (!j)
        return cli_error(&(sdsinf_err){SDSINF_ENOMEM, "no memory for the "
                                       "run's summary"});
    cli_run_summary(j, stdout);
    cJSON_Delete(j);
    return 0;
}

static int run_distributed(const opts *o, const run_setup *rs)
{
    sdsinf_err err = {0};
    run_inputs in = {0};
    sdsinf_result res = {0};
    sdsinf_run_stats st = {0};
    sdsinf_run_opts ro;
    int64_t *cats = NULL, ncats = 0;
    int rc = 1, check = -1;
    cli_files outs = {0};
    if (!o->weights || !o->images || (!o->workers && !o->plan))
        return usage_error("run needs --weights, --images and --workers or "
                           "--plan, or a payload: run PAYLOAD.json");
    if ((launcher_caps(o) & SDSINF_LAUNCH_IN_JOB) && !o->plan)
        return usage_error("run --launcher %s needs --plan: every rank "
                           "reads the same plan (make it once with sdsinf "
                           "partition)", launcher_name(o));
    if (check_outputs(o))
        return EXIT_USAGE;
    if ((launcher_caps(o) & SDSINF_LAUNCH_REMOTE) && !o->stage_bucket &&
        (!sdsinf_location_remote(o->weights) ||
         !sdsinf_location_remote(o->images) ||
         (o->plan && !sdsinf_location_remote(o->plan))))
        return usage_error("run --launcher %s takes --weights, --images and "
                           "--plan in S3 (s3://BUCKET/KEY: sdsinf aws upload "
                           "puts them there), or a bucket to stage them in "
                           "(--stack NAME or --stage-bucket BUCKET): its "
                           "workers read nothing from this machine",
                           launcher_name(o));
    if (check_run_opts(o, (int)o->workers))
        return EXIT_USAGE; /* before loading anything */
    run_opts_from(o, &ro);
    cli_catch_stop_signals(on_stop_signal); /* from here a stop is recorded
                                               as interrupted */
    record_run(o, "running", NULL, NULL);
    if (load_run_inputs(o, rs, &in, &err))
        goto fail;
    if (stop_signal) { /* during the load */
        sdsinf_err_set(&err, SDSINF_ECANCELED, "while loading the model and "
                       "images: no worker had started, no output was "
                       "written");
        goto stopped;
    }
    sdsinf_plan_stats ps;
    sdsinf_plan_get_stats(in.plan, &ps);
    if (!o->workers && check_run_opts(o, ps.workers)) {
        rc = EXIT_USAGE; /* the plan's worker count: a tree that fits */
        goto done;
    }
    meter prog = {0};
    run_opts_progress(o, &ro, &prog);
    int run_rc = sdsinf_run(in.m, in.plan, &in.images, &ro, &res, &st, &err);
    meter_end(&prog);
    if (run_rc && st.rank > 0) {
        /* MPI: rank 0 says what went wrong and exits 1; a 1 here could
         * make mpirun end the job before rank 0 has said it */
        rc = stop_signal ? 128 + stop_signal : 0;
        goto done;
    }
    if (st.rank > 0) /* MPI: rank 0 holds the result */
        goto done_quiet;
    if (stop_signal)
        goto stopped;
    if (err.code ||
        sdsinf_result_categories(&res, &cats, &ncats, &err) ||
        save_results(o, &res, cats, ncats, &outs, &err))
        goto fail;
    if (o->check)
        check = compare_categories(cats, ncats, in.gold, in.ngold, o->check);
    if (o->metrics && write_run_metrics(o->metrics, o, rs, &in, &st, ncats,
                                        check, &err))
        goto fail;
    if (stop_signal) /* nothing renamed into place yet */
        goto stopped;
    if (cli_files_commit(&outs, &err))
        goto fail;
    cJSON *j = run_json(o, &in, &st, ncats, check);
    record_run(o, "done", j, NULL);
    rc = print_run(o, j);
    if (check == 0) {
        note_check_failed(o);
        rc = 1;
    }
    goto done;
done_quiet:
    rc = 0;
    goto done;
stopped:
    record_run(o, "interrupted", NULL, &err);
    rc = interrupted(&err);
    goto done;
fail:
    record_run(o, "failed", NULL, &err);
    rc = cli_error(&err);
done:
    cli_files_discard(&outs);
    free(cats);
    sdsinf_run_stats_free(&st);
    sdsinf_result_free(&res);
    run_inputs_free(&in);
    return rc;
}

/* run --stack: the stack's bucket, where the run's record goes and, with
 * --stage or a launcher whose workers cannot see this machine, where the
 * run stages their data. */
static int stack_bucket(opts *o, sdsinf_err *err)
{
    static char bucket[512], record[1024];
    char name[64];
    int rc = sdsinf_stack_output(o->stack, SDSINF_STACK_OUT_BUCKET, bucket,
                                 sizeof bucket, err);
    sdsinf_run_record_name(name, sizeof name);
    if (rc == SDSINF_OK)
        rc = sdsinf_run_record_location(bucket, name, SDSINF_RUN_RECORD,
                                        record, sizeof record, err);
    if (rc != SDSINF_OK)
        return rc;
    o->record = record;
    if (!o->stage_bucket &&
        (o->stage || (launcher_caps(o) & SDSINF_LAUNCH_REMOTE)))
        o->stage_bucket = bucket;
    return SDSINF_OK;
}

static int cmd_run(const opts *given)
{
    sdsinf_err err = {0};
    run_setup rs = {0, NULL, -1};
    opts o = *given;
    payload pl;
    static char stack_config[4096]; /* o.channel_config points here */
    static char function[256];      /* o.function, from the stack */
    if (o.stack && sdsinf_stack_channel_config(o.stack, channel_name(&o),
                                               o.channel_config, stack_config,
                                               sizeof stack_config, &err))
        return cli_error(&err);
    o.channel_config = o.stack ? stack_config : o.channel_config;
    if (o.stage && !o.stack)
        return usage_error("--stage needs --stack NAME: the stack's bucket "
                           "is where the run stages its data");
    if (o.stack && stack_bucket(&o, &err))
        return cli_error(&err);
    if (o.stack && !o.function && !strcmp(launcher_name(&o), "lambda")) {
        if (sdsinf_stack_output(o.stack, SDSINF_STACK_OUT_FUNCTION, function,
                                sizeof function, &err))
            return cli_error(&err);
        o.function = function;
    }
    if (!o.payload)
        return run_distributed(&o, &rs);
    if (payload_load(o.payload, &pl, &err) != SDSINF_OK)
        return cli_error(&err);
    int rc = apply_payload(&pl, &o, &rs);
    if (rc == 0)
        rc = run_distributed(&o, &rs);
    payload_free(&pl);
    return rc;
}

/* ---- demo ------------------------------------------------------------------- */

/* Everything the demo makes, in its directory and in memory. */
typedef struct demo {
    char dir[2048], bundle[4096], images[4096], gold[4096], plan[4096];
    char metrics[4096], shown_metrics[4096], config[64];
    char report[4200];     /* the report page, as shown; "" : none */
    sdsinf_output_dir out; /* --out DIR, built in out.temp until the end */
    const char *work;      /* where the files go: out.temp, or dir */
    int32_t neurons, layers;
    long long images_n;
    int workers;
    run_inputs in;
    sdsinf_result single, dist;
    sdsinf_run_stats st;
    sdsinf_plan_stats ps;
    int64_t block_pairs, ncats;
    double single_s;
} demo;

static void demo_free(demo *d)
{
    sdsinf_output_dir_abort(&d->out);
    run_inputs_free(&d->in);
    sdsinf_result_free(&d->single);
    sdsinf_result_free(&d->dist);
    sdsinf_run_stats_free(&d->st);
}

/* The demo's directory (--out, written whole, or a new one) and its file
 * names, in the directory being built. */
static int demo_paths(demo *d, const opts *o)
{
    const char *work = d->dir;
    int rc;
    if (o->out) {
        snprintf(d->dir, sizeof d->dir, "%s", o->out);
        if ((rc = begin_dir("--out", o->out, MODEL_DIR_MARKER, &d->out)))
            return rc;
        work = d->out.temp;
    } else {
        snprintf(d->dir, sizeof d->dir, "%s/sdsinf-demo-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(d->dir)) {
            fprintf(stderr, "sdsinf: cannot create %s: %s (set TMPDIR or "
                    "give --out DIR)\n", d->dir, strerror(errno));
            return 1;
        }
    }
    d->work = work;
    snprintf(d->bundle, sizeof d->bundle, "%s/model.sdsinf", work);
    snprintf(d->images, sizeof d->images, "%s/sparse-images-%d.tsv", work,
             d->neurons);
    snprintf(d->gold, sizeof d->gold, "%s/n%d-l%d-categories.tsv", work,
             d->neurons, d->layers);
    snprintf(d->plan, sizeof d->plan, "%s/plan", work);
    snprintf(d->metrics, sizeof d->metrics, "%s%s", o->metrics ? o->metrics
             : work, o->metrics ? "" : "/metrics");
    snprintf(d->shown_metrics, sizeof d->shown_metrics, "%s%s",
             o->metrics ? o->metrics : d->dir, o->metrics ? "" : "/metrics");
    snprintf(d->config, sizeof d->config, "demo_%dn_%dl_%dw", d->neurons,
             d->layers, d->workers);
    return 0;
}

/* Steps 1 and 2: generate, convert to a bundle, load it back. */
static int demo_make_model(demo *d, const opts *o, sdsinf_err *err)
{
    opts c = *o;
    sdsinf_model *tsv = NULL;
    int64_t ngold = 0;
    double load_s, t = now();
    int rc;
    sdsinf_gen_opts g;
    gen_opts_for(d->neurons, d->layers, d->images_n, (uint64_t)o->seed, &g);
    if ((rc = generate_into(d->work, &g, (int)o->threads, progress_on(o),
                            &ngold, err)))
        return rc;
    printf("  1. generate  %6.2f s  a RadiX-Net network, %lld images and "
           "their golden categories (%lld)\n", now() - t, d->images_n,
           (long long)ngold);
    t = now();
    c.weights = d->work;
    rc = load_model(&c, &tsv, &load_s, err);
    if (rc == SDSINF_OK)
        rc = sdsinf_model_save_bundle(tsv, d->bundle, err);
    sdsinf_model_free(tsv);
    c.weights = d->bundle;
    if (rc || (rc = load_model(&c, &d->in.m, &load_s, err)) ||
        (rc = sdsinf_images_load(d->images, d->neurons, &d->in.images,
                                 err)) ||
        (rc = sdsinf_categories_load(d->gold, &d->in.gold, &d->in.ngold,
                                     err)))
        return rc;
    printf("  2. convert   %6.2f s  the TSV files to %s/model.sdsinf, loaded "
           "back\n", now() - t, d->dir);
    return SDSINF_OK;
}

/* Step 3: the hypergraph plan (saved), and block's pairs to compare. */
static int demo_partition(demo *d, const opts *o, sdsinf_err *err)
{
    sdsinf_partition_opts po;
    sdsinf_plan *block = NULL;
    sdsinf_plan_stats bs;
    double t = now();
    int rc;
    sdsinf_partition_opts_init(&po);
    po.workers = d->workers;
    po.method = "hypergraph";
    po.seed = o->seed;
    po.sample = &d->in.images;
    if ((rc = sdsinf_partition(d->in.m, &po, &d->in.plan, err)) ||
        (rc = sdsinf_plan_save(d->in.plan, d->in.m, d->plan, err)))
        return rc;
    t = now() - t;
    po.method = "block";
    po.sample = NULL;
    if ((rc = sdsinf_partition(d->in.m, &po, &block, err)))
        return rc;
    sdsinf_plan_get_stats(block, &bs);
    d->block_pairs = bs.row_target_pairs;
    sdsinf_plan_free(block);
    sdsinf_plan_get_stats(d->in.plan, &d->ps);
    printf("  3. partition %6.2f s  hypergraph, %d workers: %lld row-target "
           "pairs (block: %lld), imbalance %.2f%%\n", t, d->workers,
           (long long)d->ps.row_target_pairs, (long long)d->block_pairs,
           100 * d->ps.imbalance);
    return SDSINF_OK;
}

/* Steps 4 and 5: the distributed run, then one process. */
static int demo_run(demo *d, const opts *o, sdsinf_err *err)
{
    sdsinf_run_opts ro;
    sdsinf_infer_opts io;
    int rc;
    meter prog = {0};
    run_opts_from(o, &ro);
    run_opts_progress(o, &ro, &prog);
    cli_catch_stop_signals(on_stop_signal);
    rc = sdsinf_run(d->in.m, d->in.plan, &d->in.images, &ro, &d->dist,
                    &d->st, err);
    meter_end(&prog);
    if (rc)
        return rc;
    printf("  4. run       %6.2f s  %d %s: %llu messages, %llu bytes\n",
           d->st.startup_seconds + d->st.seconds, d->st.workers,
           launcher_caps(o) & SDSINF_LAUNCH_SHARES_MEMORY ? "threads"
                                                          : "local processes",
           (unsigned long long)d->st.messages_sent,
           (unsigned long long)d->st.bytes_sent);
    sdsinf_infer_opts_init(&io);
    io.threads = (int)o->threads;
    double t = now();
    if ((rc = sdsinf_infer(d->in.m, &d->in.images, &io, &d->single, err)))
        return rc;
    d->single_s = now() - t;
    printf("  5. infer     %6.2f s  one process\n", d->single_s);
    return SDSINF_OK;
}

/* Images whose argmax or max differ, bit for bit (the first few shown). */
static int64_t compare_scores(const sdsinf_result *got,
                              const sdsinf_result *want)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < got->images && i < want->images; i++) {
        if (got->argmax[i] == want->argmax[i] &&
            !memcmp(&got->max[i], &want->max[i], sizeof got->max[i]))
            continue;
        if (bad++ < 5)
            fprintf(stderr, "sdsinf: image %lld: distributed argmax %d max "
                    "%.9g, one process argmax %d max %.9g\n",
                    (long long)i + 1, got->argmax[i], got->max[i],
                    want->argmax[i], want->max[i]);
    }
    return bad + (got->images != want->images);
}

/* Step 6: the distributed categories, argmax and max equal one process's,
 * and the categories the golden ones.  1 when all equal. */
static int demo_verify(demo *d, sdsinf_err *err)
{
    int64_t *dist = NULL, nd = 0, *single = NULL, ns = 0;
    int ok = 0;
    if (sdsinf_result_categories(&d->dist, &dist, &nd, err) == SDSINF_OK &&
        sdsinf_result_categories(&d->single, &single, &ns, err) ==
            SDSINF_OK) {
        ok = compare_categories(dist, nd, d->in.gold, d->in.ngold, d->gold);
        ok &= compare_categories(dist, nd, single, ns,
                                 "the one-process result");
        ok &= compare_scores(&d->dist, &d->single) == 0;
        d->ncats = nd;
        printf("  6. verify             %s\n",
               ok ? "categories, argmax and max: distributed = one process "
                    "= golden"
                  : "the distributed run DIFFERS (see above)");
    } else {
        cli_error(err);
    }
    free(dist);
    free(single);
    return ok;
}

/* Step 7: the report page of the run, beside its metrics (a failure is
 * said, and the demo goes on: the run itself was right). */
static void demo_report(demo *d)
{
    sdsinf_err err = {0};
    char out[4200];
    snprintf(out, sizeof out, "%s-report.html", d->shown_metrics);
    report_opts ro = {d->shown_metrics, out, NULL, NULL, NULL};
    double t = now();
    if (report_write(&ro, d->report, sizeof d->report, &err)) {
        fprintf(stderr, "sdsinf: the demo's report: %s: %s\n",
                sdsinf_status_name(err.code), err.msg);
        d->report[0] = '\0';
        return;
    }
    printf("  7. report    %6.2f s  %s\n", now() - t, d->report);
}

/* Prints the demo's summary (or its JSON line); 1 when it could not. */
static int demo_summary(const demo *d, const opts *o, int ok)
{
    int64_t n = d->in.images.nrows;
    double dist_s = d->st.seconds;
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "neurons", d->neurons);
        cJSON_AddNumberToObject(j, "layers", d->layers);
        cJSON_AddNumberToObject(j, "images", (double)n);
        cJSON_AddNumberToObject(j, "workers", d->workers);
        cJSON_AddNumberToObject(j, "categories", (double)d->ncats);
        json_check(j, ok);
        cJSON_AddNumberToObject(j, "row_target_pairs",
                                (double)d->ps.row_target_pairs);
        cJSON_AddNumberToObject(j, "block_pairs", (double)d->block_pairs);
        cJSON_AddNumberToObject(j, "imbalance", d->ps.imbalance);
        cJSON_AddNumberToObject(j, "messages_sent",
                                (double)d->st.messages_sent);
        cJSON_AddNumberToObject(j, "bytes_sent", (double)d->st.bytes_sent);
        cJSON_AddNumberToObject(j, "bytes_per_image",
                                per_image(d->st.bytes_sent, n));
        cJSON_AddNumberToObject(j, "single_seconds", d->single_s);
        cJSON_AddNumberToObject(j, "seconds", dist_s);
        cJSON_AddNumberToObject(j, "startup_seconds", d->st.startup_seconds);
        cli_json_add_string(j, "out", d->dir);
        cli_json_add_string(j, "metrics", d->shown_metrics);
        cli_json_add_string(j, "report", *d->report ? d->report : NULL);
        return print_json(j);
    }
    printf("summary\n"
           "  model    %d neurons x %d layers, %lld edges; %lld images, %lld "
           "categorized\n"
           "  plan     %d workers: %lld row-target pairs (block "
           "partitioning: %lld)\n"
           "  traffic  %llu messages, %llu bytes: %.0f bytes per image\n"
           "  time     one process %.3f s; distributed %.3f s after %.3f s "
           "start-up\n"
           "  files    %s: model.sdsinf, plan/, the generated TSV files\n"
           "  metrics  %s.csv, %s-layers.csv, %s.json\n"
           "  report   %s\n",
           d->neurons, d->layers, (long long)model_edges(d->in.m),
           (long long)n, (long long)d->ncats, d->workers,
           (long long)d->ps.row_target_pairs, (long long)d->block_pairs,
           (unsigned long long)d->st.messages_sent,
           (unsigned long long)d->st.bytes_sent,
           per_image(d->st.bytes_sent, n), d->single_s, dist_s,
           d->st.startup_seconds, d->dir, d->shown_metrics,
           d->shown_metrics, d->shown_metrics,
           *d->report ? d->report : "none (see above)");
    printf("%s\n", ok ? "demo passed: the distributed run equals one "
                        "process and the golden categories"
                      : "demo FAILED");
    return 0;
}

/* The demo's peak: the generated model and images, the hypergraph plan, the
 * workers' batches and one process's inference; before its directory. */
static int demo_check_memory(const demo *d, const opts *o, sdsinf_err *err)
{
    sdsinf_gen_opts g;
    sdsinf_mem_sizes ms = {0};
    gen_opts_for(d->neurons, d->layers, d->images_n, (uint64_t)o->seed, &g);
    sdsinf_generate_mem(&g, &ms);
    ms.batch_size = o->batch_size;
    ms.infer = ms.hypergraph = 1;
    ms.workers = d->workers;
    return check_memory("demo", &ms, o, err);
}

static int cmd_demo(const opts *o)
{
    sdsinf_err err = {0};
    run_setup rs = {0, NULL, -1};
    demo d;
    int ok = 0, rc;
    memset(&d, 0, sizeof d);
    d.neurons = o->neurons ? (int32_t)o->neurons : 1024;
    d.layers = o->layers ? (int32_t)o->layers : 120;
    d.workers = o->workers ? (int)o->workers : 4;
    d.images_n = 2000;
    if ((o->images && parse_ll("--images", o->images, 1, &d.images_n)) ||
        check_metrics(o->metrics) || check_run_opts(o, d.workers))
        return EXIT_USAGE;
    if (demo_check_memory(&d, o, &err))
        return cli_error(&err);
    if ((rc = demo_paths(&d, o)))
        return rc;
    printf("sdsinf demo: %d neurons x %d layers, %lld images, %d workers, "
           "in %s\n", d.neurons, d.layers, d.images_n, d.workers, d.dir);
    fflush(stdout);
    rs.config = d.config;
    if (demo_make_model(&d, o, &err) || demo_partition(&d, o, &err) ||
        demo_run(&d, o, &err)) {
        name_in_dir(&d.out, &err);
        demo_free(&d);
        printf("demo FAILED\n");
        return stop_signal ? interrupted(&err) : cli_error(&err);
    }
    ok = demo_verify(&d, &err);
    if (write_run_metrics(d.metrics, o, &rs, &d.in, &d.st, d.ncats, ok,
                          &err) ||
        (d.out.temp && sdsinf_output_dir_commit(&d.out, &err))) {
        ok = 0;
        cli_error(&err);
    } else {
        demo_report(&d);
    }
    if (demo_summary(&d, o, ok))
        ok = 0;
    demo_free(&d);
    return ok ? 0 : 1;
}

/* ---- clean ------------------------------------------------------------------- */

/* One line per run swept, and one for its channel's part when the run
 * names a channel (arg: the options). */
static void print_removed(const sdsinf_stale_run *r, void *arg)
{
    const opts *o = arg;
    printf("%s %s: run %llu, its owner (pid %d) gone: %lld files, %.1f MB\n",
           o->dry_run ? "would remove" : "removed", r->path,
           (unsigned long long)r->run, r->owner_pid, (long long)r->files,
           r->bytes / 1e6);
    if (r->channel && r->items >= 0)
        printf("  and its state on channel %s: %lld items\n", r->channel,
               (long long)r->items);
    else if (r->channel)
        printf("  and its state on channel %s\n", r->channel);
    if (r->staged)
        printf("  and the inputs it staged at %s\n", r->staged);
}

/* One element of --json's "removed" array per run swept (arg: the
 * array). */
static void json_removed(const sdsinf_stale_run *r, void *arg)
{
    cJSON *e = cJSON_CreateObject();
    cli_json_add_string(e, "path", r->path);
    json_add_u64(e, "run", r->run);
    cJSON_AddNumberToObject(e, "owner_pid", r->owner_pid);
    cJSON_AddNumberToObject(e, "files", (double)r->files);
    cJSON_AddNumberToObject(e, "bytes", (double)r->bytes);
    if (r->channel) {
        cli_json_add_string(e, "channel", r->channel);
        cJSON_AddNumberToObject(e, "items", (double)r->items);
    }
    if (r->staged)
        cli_json_add_string(e, "staged", r->staged);
    if (!cJSON_AddItemToArray(arg, e))
        cJSON_Delete(e);
}

static int cmd_clean(const opts *o)
{
    sdsinf_err err = {0};
    sdsinf_clean_stats st;
    if (!o->json) {
        if (sdsinf_clean(o->dry_run, print_removed, (void *)o, &st, &err))
            return cli_error(&err);
        printf("%s %lld %s channel state (%lld files, %.1f MB) in %s; "
               "kept %lld (owner running, no owner recorded, or a channel "
               "this program lacks)\n",
               o->dry_run ? "would remove" : "removed", (long long)st.runs,
               st.runs == 1 ? "run's" : "runs'", (long long)st.files,
               st.bytes / 1e6, sdsinf_scratch_dir(), (long long)st.kept);
        return 0;
    }
    cJSON *j = cJSON_CreateObject(), *removed;
    cli_json_add_string(j, "scratch", sdsinf_scratch_dir());
    cJSON_AddBoolToObject(j, "dry_run", o->dry_run);
    removed = cJSON_AddArrayToObject(j, "removed");
    if (sdsinf_clean(o->dry_run, json_removed, removed, &st, &err)) {
        cJSON_Delete(j);
        return cli_error(&err);
    }
    cJSON_AddNumberToObject(j, "runs", (double)st.runs);
    cJSON_AddNumberToObject(j, "files", (double)st.files);
    cJSON_AddNumberToObject(j, "bytes", (double)st.bytes);
    cJSON_AddNumberToObject(j, "kept", (double)st.kept);
    return print_json(j);
}

/* ---- version ------------------------------------------------------------------ */

static int cmd_version(const opts *o)
{
    (void)o;
    printf("sdsinf %s\n", sdsinf_version());
    return 0;
}

/* ---- cost ------------------------------------------------------------------- */

/* The bill of a recorded run, or the cost model's validation (cost.h). */
static int cmd_cost(const opts *o)
{
    sdsinf_err err = {0};
    cost_opts co = {o->payload, o->prices, o->region, o->as, o->json,
                    o->calibration};
    if (!o->payload == !o->validate)
        return usage_error("cost needs a run record (RUN.json or a metrics "
                           "PREFIX) or --validate DIR, one of them");
    if (o->validate && o->as)
        return usage_error("--as prices a recorded run, not --validate");
    if (o->calibration && !o->validate)
        return usage_error("--calibration goes with --validate");
    if (cost_as_check(o->as, &err) != SDSINF_OK)
        return usage_error("%s", err.msg);
    int rc = o->validate ? cost_validate(o->validate, &co, &err)
                         : cost_report(&co, &err);
    return rc == SDSINF_OK ? 0 : cli_error(&err);
}

/* ---- plan -------------------------------------------------------------------- */

/* The model to calibrate: --weights, else a generated one of --neurons x
 * --layers. */
static int plan_model(const opts *o, sdsinf_model **m, sdsinf_err *err)
{
    double secs;
    if (o->weights)
        return load_model(o, m, &secs, err);
    sdsinf_gen_opts go;
    sdsinf_gen_opts_init(&go);
    go.neurons = (int32_t)o->neurons;
    go.layers = (int32_t)o->layers;
    go.seed = (uint64_t)o->seed;
    return sdsinf_generate_model(&go, m, err);
}

/* What --calibrate measured, when no plan follows: a line (--json: an
 * object) with the totals over the layers. */
static int calibration_summary(const opts *o, const calibration *c,
                               sdsinf_err *err)
{
    double secs = 0, bytes = 0;
    for (int32_t l = 0; l < c->c.layers; l++) {
        secs += c->c.compute_seconds[l];
        bytes += c->c.bytes[l];
    }
    if (!o->json) {
        printf("calibration of %d x %d on %lld images: %.3g s per image "
               "through every layer on one thread, %.0f bytes per image "
               "sent per worker of %d%s%s\n", c->c.neurons, c->c.layers,
               (long long)c->images, secs, bytes, c->c.workers,
               o->out ? "; written to " : " (--out FILE keeps it)",
               o->out ? o->out : "");
        return SDSINF_OK;
    }
    cJSON *j = cJSON_CreateObject();
    cli_json_add_string(j, "calibration", o->out);
    cJSON_AddNumberToObject(j, "neurons", c->c.neurons);
    cJSON_AddNumberToObject(j, "layers", c->c.layers);
    cJSON_AddNumberToObject(j, "images", (double)c->images);
    cJSON_AddNumberToObject(j, "workers", c->c.workers);
    cJSON_AddNumberToObject(j, "compute_seconds_per_image", secs);
    cJSON_AddNumberToObject(j, "bytes_per_image_per_worker", bytes);
    int rc = cli_json_write(j, stdout, err);
    putchar('\n');
    return rc;
}

/* The planner (plan.h): measures the model (--calibrate, or when no
 * --calibration is given), then, given a bound, plans M images. */
static int cmd_plan(const opts *o)
{
    sdsinf_err err = {0};
    calibration cal = {0};
    sdsinf_model *m = NULL;
    long long images = 0;
    int bound = o->max_seconds > 0 || o->max_usd > 0, rc, usage;
    if (o->images && parse_ll("--images", o->images, 1, &images))
        return EXIT_USAGE;
    if (o->max_seconds > 0 && o->max_usd > 0)
        return usage_error("--max-seconds and --max-usd: give one of them "
                           "(the cheapest within a time, or the fastest "
                           "within a budget)");
    if (o->calibrate && o->calibration)
        return usage_error("--calibrate measures; --calibration reads "
                           "measurements: one of them");
    if (!o->calibration && !o->weights && (!o->neurons || !o->layers))
        return usage_error("plan needs a model: --weights DIR|BUNDLE, or "
                           "--neurons N --layers L (or --calibration FILE)");
    if (!o->calibrate && (!bound || !images))
        return usage_error("plan needs --images M and a bound: "
                           "--max-seconds S or --max-usd USD");
    if (bound && !images)
        return usage_error("plan needs --images M: the images to plan for");
    if (o->out && !o->calibrate)
        return usage_error("--out is where --calibrate writes");
    plan_opts po = {images, o->max_seconds, o->max_usd, o->prices,
                    o->region, o->plot, o->machines, o->json};
    if (o->machines && plan_machines_check(&po, &usage, &err))
        return usage ? usage_error("%s", err.msg) : cli_error(&err);
    if (o->calibration) {
        rc = calibrate_load(o->calibration, &cal, &err);
    } else {
        int workers = o->workers ? (int)o->workers : CALIBRATE_WORKERS;
        if (!o->quiet && !o->json)
            fprintf(stderr, "sdsinf: calibrating: the kernel and a run of "
                    "%d workers on %d images\n", workers, CALIBRATE_IMAGES);
        sdsinf_csr sample = {0};
        rc = plan_model(o, &m, &err);
        if (!rc && o->sample)
            rc = sdsinf_images_load(o->sample, m->neurons, &sample, &err);
        if (!rc)
            rc = calibrate_measure(m, o->sample ? &sample : NULL, workers,
                                   (uint64_t)o->seed, progress_on(o), &cal,
                                   &err);
        sdsinf_csr_free(&sample);
        if (!rc && o->out)
            rc = calibrate_save(&cal, o->out, &err);
        if (!rc && !bound)
            rc = calibration_summary(o, &cal, &err);
    }
    if (!rc && bound)
        rc = plan_report(&po, &cal, &err);
    calibrate_free(&cal);
    sdsinf_model_free(m);
    return rc == SDSINF_OK ? 0 : cli_error(&err);
}

/* ---- report ------------------------------------------------------------------ */

/* The page about a recorded run (report.h); prints its path. */
static int cmd_report(const opts *o)
{
    sdsinf_err err = {0};
    report_opts ro = {o->payload, o->out, o->reference, o->prices, o->region};
    char path[4096];
    if (!o->payload)
        return usage_error("report needs a run directory or a metrics PREFIX "
                           "(of sdsinf run --metrics PREFIX)");
    if (check_output("--out", o->out))
        return EXIT_USAGE;
    if (report_write(&ro, path, sizeof path, &err))
        return cli_error(&err);
    if (!o->json) {
        printf("%s\n", path);
        return 0;
    }
    cJSON *j = cJSON_CreateObject();
    cli_json_add_string(j, "report", path);
    return print_json(j);
}

/* ---- worker ------------------------------------------------------------------ */

/* One worker of a run, from its spec (a file, or - for standard input):
 * what a launcher starts, or someone starts from `run --launcher external
 * --specs-out DIR`'s DIR/worker-{w}.spec.  Its status goes to the run's
 * coordinator over the channel; --quiet keeps its error off stderr. */
static int cmd_worker(const opts *o)
{
    sdsinf_err err = {0};
    sdsinf_worker_spec spec;
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    if (!o->spec)
        return usage_error("worker needs --spec FILE (or - for standard "
                           "input)");
    FILE *f = strcmp(o->spec, "-") ? fopen(o->spec, "rb") : stdin;
    if (!f) {
        cli_fail(&err, SDSINF_EIO, "%s: %s", o->spec, strerror(errno));
        return cli_error(&err);
    }
    int bad = 0;
    do { /* a spec is small: read it whole */
        char *more = len == cap ? realloc(text, cap = cap ? 2 * cap : 4096)
                                : text;
        if (!(bad = !more))
            len += n = fread((text = more) + len, 1, cap - len, f);
    } while (!bad && n > 0);
    bad |= ferror(f) != 0;
    if (f != stdin)
        fclose(f);
    int rc = bad ? cli_fail(&err, SDSINF_EIO, "%s: cannot read the spec",
                            o->spec)
                 : sdsinf_worker_spec_read(text, len, &spec, &err);
    free(text);
    if (rc == SDSINF_OK) {
        rc = sdsinf_worker_main(&spec, &err);
        sdsinf_worker_spec_free(&spec);
    }
    return rc == SDSINF_OK ? 0 : o->quiet ? 1 : cli_error(&err);
}

/* ---- lambda-runtime --------------------------------------------------------- */

static const command *command_named(const char *name);
static int missing_input(const command *c, const opts *o);

/* A coordinator's `sdsinf run ARGS` in this process (the Lambda runtime's:
 * argv[0] is "run"). */
static int run_in_process(int argc, char **argv)
{
    const command *c = command_named(argv[0]);
    opts o;
    int rc = parse_args(c, argc - 1, argv + 1, &o);
    return rc ? rc : missing_input(c, &o) ? 1 : c->run(&o);
}

/* For aws run: whether `name` is a flag of run's (aws.h). */
static int run_flag_kind(const char *name)
{
    const cli_flag *f = cli_flag_find(FLAGS, name, strlen(name));
    if (!f || !takes_flag(command_named("run"), name))
        return -1;
    return f->kind != CLI_SWITCH;
}

/* The Lambda bootstrap (what `sdsinf` with $AWS_LAMBDA_RUNTIME_API set and
 * no arguments runs), for tests. */
static int cmd_lambda_runtime(const opts *o)
{
    (void)o;
    return cli_lambda_runtime(run_in_process);
}

/* ---- commands ------------------------------------------------------------------ */

/* Flags that several commands take alike: the model's, and a run's. */
#define MODEL_FLAGS "--neurons --layers --bias --ymax"
#define RUN_FLAGS                                                            \
    "--launcher --channel --channel-config --codec --level --timeout-ms "    \
    "--start-timeout-ms "                                                   \
    "--max-message --bfr --nlevels --batch-size --threads"

static const command COMMANDS[] = {
    {"infer", cmd_infer, "--weights DIR|BUNDLE --images FILE [options]",
     "single-process inference (the Serial/Server variants)",
     "--weights --images " MODEL_FLAGS " --threads --batch-size "
     "--images-count --check --out --scores --max-memory --json --quiet --progress --no-progress", 0},
    {"generate", cmd_generate,
     "--neurons N --layers L --images M --out DIR [options]",
     "a RadiX-Net-style network, its inputs and their golden categories: "
     "DIR/nN-l1.tsv .. nN-lL.tsv, bias.tsv, sparse-images-N.tsv, "
     "nN-lL-categories.tsv",
     "--neurons --layers --images --seed --out --threads --max-memory --json --progress --no-progress",
     0},
    {"convert", cmd_convert, "--weights DIR --out BUNDLE [options]",
     "write the binary model bundle (fast to load, checksummed)",
     "--weights --out " MODEL_FLAGS " --max-memory --json --progress --no-progress", 0},
    {"partition", cmd_partition, "--weights DIR|BUNDLE --workers W [options]",
     "split the neurons of every layer over W workers: the plan and one "
     "weight shard per worker",
     "--weights --workers --method --imbalance --seed --images --images-count "
     "--out " MODEL_FLAGS " --max-memory --json --progress --no-progress", 0},
    {"sdsinf-export", cmd_sdsinf_export,
     "--weights DIR|BUNDLE --plan PLANDIR --out DIR [options]",
     "write SDS-Inf's layout of a plan: nnp.<w>, train.<w> (of --images), "
     "conn.<l>",
     "--weights --plan --images --images-count --out " MODEL_FLAGS " --json",
     0},
    {"sdsinf-import", cmd_sdsinf_import,
     "--from DIR (--neurons N | --weights W) --out PLANDIR [options]",
     "read and check an SDS-Inf layout (with --weights, its conn files "
     "suffice); write a plan, and the weights and images when asked",
     "--from " MODEL_FLAGS " --weights --out --weights-out --images-out "
     "--json", 0},
    {"run", cmd_run,
     "--weights DIR|BUNDLE --images FILE --workers W [options]\n"
     "PAYLOAD.json --weights DIR|BUNDLE --images FILE [options]",
     "a distributed run on W workers. An SDS-Inf payload gives the workers, "
     "launch tree, sizes, batch size, image count and metrics name; the data "
     "comes from the flags (the payload's places are in S3), and flags "
     "override the payload",
     "--weights --images --workers --plan --method --seed --stack --stage "
     "--stage-bucket --function " RUN_FLAGS
     " --check --out --scores --metrics --specs-out " MODEL_FLAGS
     " --images-count --max-memory --json --quiet --progress --no-progress", 1},
    {"cost", cmd_cost,
     "RUN.json|METRICS_PREFIX [options]\n--validate DIR [options]",
     "the dollar cost of a recorded run (what run --json printed, or its "
     "--metrics) under the price table, by service and kind of request; "
     "--validate checks the cost model against SDS-Inf's published costs",
     "--prices --region --as --validate --calibration --json", 1},
    {"plan", cmd_plan,
     "MODEL --images M (--max-seconds S | --max-usd USD) [options]\n"
     "MODEL --calibrate [--out FILE] [options]\n"
     "--calibration FILE --images M (--max-seconds S | --max-usd USD)",
     "MODEL is --weights DIR|BUNDLE or --neurons N --layers L. Predict the time and cost of a run of M images on every "
     "configuration (Lambda over sqs, sns, s3, sqs+s3: workers, launch tree, "
     "memory, batch; local, MPI and Redis on EC2; the server baselines) and "
     "recommend the cheapest within --max-seconds or the fastest within "
     "--max-usd; --calibrate measures this machine first",
     "--weights --neurons --layers --bias --images --max-seconds --max-usd "
     "--calibrate --calibration --sample --out --workers --seed --prices "
     "--region "
     "--machines --plot --json --quiet --progress --no-progress", 0},
    {"report", cmd_report,
     "RUN_DIR|METRICS_PREFIX [options]",
     "an HTML page about a recorded run (a demo's directory, or run "
     "--metrics PREFIX): plots by gnuplot, the run against SDS-Inf's "
     "published figures, its cost",
     "--out --reference --prices --region --json", 1},
    {"demo", cmd_demo, "[options]",
     "generate -> convert -> partition -> a run on W local processes -> "
     "verify against one process and the golden categories, and a summary",
     "--out --neurons --layers --images --workers --seed " RUN_FLAGS
     " --metrics --max-memory --json --progress --no-progress", 0},
    {"clean", cmd_clean, "[options]",
     "remove what runs whose process was killed left: their directories "
     "under the scratch directory and their state on their channel (local, "
     "fs, redis, ...)",
     "--dry-run --json", 0},
    {"worker", cmd_worker, "--spec FILE|- [options]",
     "one worker of a run, from its spec: what a launcher starts",
     "--spec --quiet", 0},
    {"lambda-runtime", cmd_lambda_runtime, "",
     "serve Lambda invocations through the Runtime API at "
     "$AWS_LAMBDA_RUNTIME_API (what the bootstrap does)", "", 0},
    {"version", cmd_version, "", "print the version", "", 0},
};
#define NCOMMANDS (sizeof COMMANDS / sizeof *COMMANDS)

/* The command of that name, or NULL. */
static const command *command_named(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(name, COMMANDS[i].name))
            return &COMMANDS[i];
    return NULL;
}

/* An unknown command: bad usage, naming it and the known ones. */
static int unknown_command(const char *name)
{
    fprintf(stderr, "sdsinf: unknown command '%s' (known:", name);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(stderr, "%s %s", i ? "," : "", COMMANDS[i].name);
    fprintf(stderr, ")\nrun `sdsinf help` for the usage\n");
    return EXIT_USAGE;
}

/* ---- usage -------------------------------------------------------------------- */

/* Writes text from the cursor's column col, wrapped before column 80, its
 * further lines indented to column indent. */
static void put_wrapped(FILE *f, const char *text, int col, int indent)
{
    for (int first = 1; *(text += strspn(text, " ")); first = 0) {
        int n = (int)strcspn(text, " ");
        if (!first && col + 1 + n >= 80)
            col = fprintf(f, "\n%*s", indent, "") - 1;
        else if (!first)
            col += fprintf(f, " ");
        col += fprintf(f, "%.*s", n, text);
        text += n;
    }
    fputc('\n', f);
}

/* c's synopsis, a line each (the first begins with first, the others with
 * rest): its name and arguments. */
static void put_synopsis(FILE *f, const command *c, const char *first,
                         const char *rest)
{
    const char *line = c->synopsis;
    for (int k = 0; k == 0 || *line; k++) {
        size_t n = strcspn(line, "\n");
        fprintf(f, "%s%s%s%.*s\n", k ? rest : first, c->name, n ? " " : "",
                (int)n, line);
        line += n + (line[n] == '\n');
    }
}

/* sdsinf help: every command, its synopsis and what it does. */
static void usage(FILE *f)
{
    fputs("usage: sdsinf <command> [options]\n\ncommands:\n", f);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        put_synopsis(f, &COMMANDS[i], "  ", "  ");
        fputs("      ", f);
        put_wrapped(f, COMMANDS[i].about, 6, 6);
    }
    aws_usage(f);
    fputs("\nsdsinf help <command> (or sdsinf <command> --help): its "
          "options.\nExit status: 0 success, 1 failure, 2 bad usage.\n", f);
}

/* sdsinf help CMD (or CMD --help): c's synopsis, what it does, and a line
 * per flag it takes, from FLAGS. */
/* What a flag means for one command where the shared text (FLAGS) says
 * something else. */
static const struct {
    const char *command, *flag, *help;
} FLAG_HELP[] = {
    {"generate", "--neurons", "neurons per layer of the network to make"},
    {"generate", "--layers", "layers of the network to make"},
    {"generate", "--images", "how many images to make"},
    {"generate", "--out",
     "the directory to write: nN-l1.tsv .. nN-lL.tsv, bias.tsv, "
     "sparse-images-N.tsv and nN-lL-categories.tsv (the golden categories)"},
    {"demo", "--images", "how many images to make (default 2000)"},
    {"infer", "--images", "the images (lines: image feature value)"},
    {"run", "--images", "the images (lines: image feature value)"},
    {"plan", "--images", "how many images the run would infer"},
};

/* Flag fl's help for command c. */
static const char *flag_help(const command *c, const cli_flag *fl)
{
    for (size_t i = 0; i < sizeof FLAG_HELP / sizeof *FLAG_HELP; i++)
        if (!strcmp(FLAG_HELP[i].command, c->name) &&
            !strcmp(FLAG_HELP[i].flag, fl->name))
            return FLAG_HELP[i].help;
    return fl->help;
}

static int command_usage(const command *c, FILE *f)
{
    size_t n;
    put_synopsis(f, c, "usage: sdsinf ", "       sdsinf ");
    put_wrapped(f, c->about, 0, 0);
    fputs("\noptions:\n", f);
    for (const char *p = c->flags; *(p += strspn(p, " ")); p += n) {
        const cli_flag *fl = cli_flag_find(FLAGS, p, n = strcspn(p, " "));
        char label[64];
        if (!fl) { /* a mistake in COMMANDS */
            fprintf(stderr, "sdsinf: %s lists %.*s, no flag\n", c->name,
                    (int)n, p);
            return 1;
        }
        snprintf(label, sizeof label, "%s%s%s", fl->name, fl->arg ? " " : "",
                 fl->arg ? fl->arg : "");
        put_wrapped(f, flag_help(c, fl), fprintf(f, "  %-21s ", label), 24);
    }
    put_wrapped(f, "this help", fprintf(f, "  %-21s ", "--help"), 24);
    return 0;
}

/* sdsinf help [CMD]: the usage, or CMD's. */
static int help(int argc, char **argv)
{
    const command *c = argc ? command_named(argv[0]) : NULL;
    if (argc > 1)
        return usage_error("help takes one command, not '%s'", argv[1]);
    if (argc && !c)
        return unknown_command(argv[0]);
    if (c)
        return command_usage(c, stdout);
    usage(stdout);
    return 0;
}

/* The input files the flags name, checked before anything runs: one that
 * does not exist is reported naming its flag (a stray argument of run,
 * read as a payload, as such); 0 when all exist. */
static int missing_input(const command *c, const opts *o)
{
    /* generate, demo and plan take --images as a count */
    int images_file = strcmp(c->name, "generate") && strcmp(c->name, "demo") &&
                      strcmp(c->name, "plan");
    const struct { const char *flag, *path; } in[] = {
        {"--weights", o->weights}, {"--images", images_file ? o->images : NULL},
        {"--plan", o->plan}, {"--check", o->check}, {"--from", o->from},
        /* cost --validate's is a list, each file checked as loaded */
        {"--calibration", strcmp(c->name, "cost") ? o->calibration : NULL},
        {"--spec", o->spec && strcmp(o->spec, "-") ? o->spec : NULL}};
    struct stat st;
    if (!strcmp(c->name, "run") && o->payload && stat(o->payload, &st) != 0) {
        fprintf(stderr, "sdsinf: error EIO: %s: cannot open: not a file; run "
                "takes one payload file or flags\n", o->payload);
        return 1;
    }
    for (size_t i = 0; i < sizeof in / sizeof *in; i++)
        if (in[i].path && !sdsinf_location_remote(in[i].path) &&
            stat(in[i].path, &st) != 0) {
            fprintf(stderr, "sdsinf: error EIO: %s %s: %s\n", in[i].flag,
                    in[i].path, errno == ENOENT ? "no such file or directory"
                                                : strerror(errno));
            return 1;
        }
    return 0;
}

int main(int argc, char **argv)
{
    opts o;
    if (argc < 2 && getenv("AWS_LAMBDA_RUNTIME_API")) /* Lambda's bootstrap */
        return cli_lambda_runtime(run_in_process);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "aws")) { /* its own subcommands (tools/aws.c) */
        aws_run_flags(run_flag_kind);
        return aws_main(argc - 2, argv + 2);
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "-h"))
        return help(argc - 2, argv + 2);
    const command *c =
        command_named(strcmp(argv[1], "--version") ? argv[1] : "version");
    if (!c)
        return unknown_command(argv[1]);
    int rc = parse_args(c, argc - 2, argv + 2, &o);
    if (rc == HELP_ASKED)
        return command_usage(c, stdout);
    if (rc)
        return rc;
    if (o.payload && !c->operand)
        return usage_error("%s takes no argument '%s' (only run, cost and "
                           "report take a file)", c->name, o.payload);
    if ((rc = unknown_names(&o)))
        return rc;
    if (missing_input(c, &o))
        return 1;
    return c->run(&o);
}
