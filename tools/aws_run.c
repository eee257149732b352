/* aws_run.c - `sdsinf aws upload`, `sdsinf aws run` and the last runs
 * `sdsinf aws status` shows: local data staged in the stack's bucket
 * (sdsinf_stage, content-addressed); a run whose coordinator is the
 * stack's function, invoked (Event) with the run's flags and the place of
 * its record, s3://BUCKET/runs/NAME/result.json, which is waited for and
 * printed as `sdsinf run` prints its result; and the runs recorded there.
 * Sections: staging, upload, run, the last runs. */
#include "aws.h"
#include "cli_util.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define WAIT_DEFAULT_S 960.0 /* Lambda's longest timeout (900 s), and a
                                minute for the start and the record */
#define RUNS_SHOWN 10
#define LOC_CAP 2048

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* j's number `key`, 0 when absent. */
static double num(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* The bucket (output BucketName) of stack `stack` into out. */
static int stack_bucket(const char *stack, char *out, size_t cap,
                        sdsinf_err *err)
{
    return sdsinf_stack_output(stack, SDSINF_STACK_OUT_BUCKET, out, cap, err);
}

/* ---- Staging -------------------------------------------------------------------- */

static void stats_add(sdsinf_stage_stats *to, const sdsinf_stage_stats *s)
{
    to->uploaded += s->uploaded;
    to->skipped += s->skipped;
    to->bytes_uploaded += s->bytes_uploaded;
    to->bytes_skipped += s->bytes_skipped;
}

static void stats_json(cJSON *j, const sdsinf_stage_stats *s)
{
    cJSON_AddNumberToObject(j, "uploaded", (double)s->uploaded);
    cJSON_AddNumberToObject(j, "skipped", (double)s->skipped);
    cJSON_AddNumberToObject(j, "bytes_uploaded", (double)s->bytes_uploaded);
    cJSON_AddNumberToObject(j, "bytes_skipped", (double)s->bytes_skipped);
}

/* Stages `path` (flag's) in bucket: its location into loc (LOC_CAP bytes),
 * what it did added to *total and said on stderr unless quiet. */
static int stage(const char *bucket, const char *flag, const char *path,
                 char *loc, sdsinf_stage_stats *total, int quiet,
                 sdsinf_err *err)
{
    sdsinf_stage_stats st = {0};
    int rc = sdsinf_stage(bucket, path, loc, LOC_CAP, &st, err);
    if (rc != SDSINF_OK)
        return rc;
    stats_add(total, &st);
    if (!quiet)
        fprintf(stderr, "%s %s: %s (%lld objects: %llu bytes uploaded, %llu "
                "there already)\n", flag, path, loc,
                (long long)(st.uploaded + st.skipped),
                (unsigned long long)st.bytes_uploaded,
                (unsigned long long)st.bytes_skipped);
    return SDSINF_OK;
}

/* ---- upload ---------------------------------------------------------------------- */

int aws_upload(int argc, char **argv)
{
    aws_opts o;
    sdsinf_err err = {0};
    sdsinf_stage_stats total = {0};
    char bucket[512];
    int rc = aws_flags("upload", argc, argv,
                       "--stack --weights --plan --images --check --json",
                       &o);
    if (rc || (rc = aws_stack_check("upload", &o)))
        return rc;
    const struct {
        const char *flag, *key, *path;
    } what[] = {{"--weights", "weights", o.weights},
                {"--plan", "plan", o.plan},
                {"--images", "images", o.images},
                {"--check", "check", o.check}};
    if (!o.weights && !o.plan && !o.images && !o.check) {
        fprintf(stderr, "sdsinf aws upload: give what to upload: --weights, "
                "--plan, --images and/or --check\n");
        return EXIT_USAGE;
    }
    if (stack_bucket(o.stack, bucket, sizeof bucket, &err) != SDSINF_OK)
        return cli_error(&err);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "stack", o.stack);
    cJSON_AddStringToObject(j, "bucket", bucket);
    double t0 = now_s();
    for (size_t i = 0; i < sizeof what / sizeof *what; i++) {
        char loc[LOC_CAP];
        if (!what[i].path)
            continue;
        if (stage(bucket, what[i].flag, what[i].path, loc, &total, 1, &err)) {
            cJSON_Delete(j);
            return cli_error(&err);
        }
        cJSON_AddStringToObject(j, what[i].key, loc);
        if (!o.json)
            printf("%-9s %s\n", what[i].flag, loc);
    }
    double secs = now_s() - t0;
    if (!o.json) {
        cJSON_Delete(j);
        printf("uploaded %lld objects (%llu bytes), %lld there already "
               "(%llu bytes), in %.1f s\n", (long long)total.uploaded,
               (unsigned long long)total.bytes_uploaded,
               (long long)total.skipped,
               (unsigned long long)total.bytes_skipped, secs);
        return 0;
    }
    stats_json(j, &total);
    cJSON_AddNumberToObject(j, "seconds", secs);
    rc = cli_json_write(j, stdout, &err);
    putchar('\n');
    return rc == SDSINF_OK ? 0 : cli_error(&err);
}

/* ---- run ---------------------------------------------------------------------------- */

/* The paths the coordinator reads, staged when local. */
static const char *const INPUTS[] = {"weights", "plan", "images", "check",
                                     "bias"};

/* The outputs it writes: local ones (or none given, for out and metrics)
 * go to the run's record directory as FILE, and local ones are fetched
 * from there once it ends (metrics: a prefix of three files). */
static const struct {
    const char *key, *file;
    int always;
} OUTPUTS[] = {{"out", "categories.tsv", 1},
               {"scores", "scores.tsv", 0},
               {"metrics", "metrics", 1}};
#define NOUTPUTS (sizeof OUTPUTS / sizeof *OUTPUTS)
static const char *const METRICS_FILES[] = {".csv", "-layers.csv", ".json"};

static int (*run_flag_kind)(const char *name); /* sdsinf.c's */

void aws_run_flags(int (*kind)(const char *name))
{
    run_flag_kind = kind;
}

typedef struct run_call {
    const char *stack;
    int json, quiet;
    double wait_s;
    cJSON *run;                  /* the run's flags: "workers": "8", ... */
    char bucket[512], name[64], where[LOC_CAP];
    char local[NOUTPUTS][4096];  /* outputs to fetch, or "" */
    sdsinf_stage_stats staged;
} run_call;

static int refuse(const char *fmt, const char *arg)
{
    fprintf(stderr, "sdsinf aws run: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nrun `sdsinf aws help` and `sdsinf help run` for the "
            "options\n");
    return EXIT_USAGE;
}

/* The run's string option `key`, or NULL. */
static const char *run_opt(const run_call *r, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->run, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void run_set(run_call *r, const char *key, const char *value)
{
    cJSON_DeleteItemFromObjectCaseSensitive(r->run, key);
    cJSON_AddStringToObject(r->run, key, value);
}

/* aws run's own flags (--stack, --wait-s, --json) and the run's (any
 * other that sdsinf run takes) into r->run. */
static int run_flags(int argc, char **argv, run_call *r)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int kind = strcmp(a, "--stack") && strcmp(a, "--wait-s") &&
                           strcmp(a, "--json")
                       ? (run_flag_kind ? run_flag_kind(a) : -1)
                       : 2;
        if (kind < 0)
            return refuse("takes its own flags and sdsinf run's; not '%s'",
                          a);
        if (!strcmp(a, "--json") || kind == 0) {
            r->json |= !strcmp(a, "--json");
            r->quiet |= !strcmp(a, "--quiet");
            if (strcmp(a, "--json"))
                cJSON_AddTrueToObject(r->run, a + 2);
            continue;
        }
        if (!v)
            return refuse("%s needs a value", a);
        i++;
        if (!strcmp(a, "--stack")) {
            r->stack = v;
        } else if (!strcmp(a, "--wait-s")) {
            char *end;
            r->wait_s = strtod(v, &end);
            if (*end || end == v || !(r->wait_s >= 1 && r->wait_s <= 86400))
                return refuse("--wait-s needs seconds, 1 to 86400, not '%s'",
                              v);
        } else {
            cJSON_AddStringToObject(r->run, a + 2, v);
        }
    }
    if (!run_opt(r, "weights") || !run_opt(r, "images"))
        return refuse("needs --weights and --images (local paths are "
                      "staged in the stack's bucket first)%s", "");
    for (size_t k = 0; k < NOUTPUTS; k++) {
        const char *p = run_opt(r, OUTPUTS[k].key);
        char file[4200], why[sizeof file + 600];
        sdsinf_err e = {0};
        if (p && !strcmp(p, "-"))
            return refuse("--%s -: the function's standard output is not "
                          "yours: give a file (fetched when the run ends) or "
                          "an s3:// location", OUTPUTS[k].key);
        if (!p || sdsinf_location_remote(p))
            continue;
        /* fetched there once the run ends: checked before it starts */
        snprintf(file, sizeof file, "%s%s", p,
                 strcmp(OUTPUTS[k].key, "metrics") ? "" : ".csv");
        if (sdsinf_output_check(file, &e) != SDSINF_OK) {
            snprintf(why, sizeof why, "--%s %s", OUTPUTS[k].key, e.msg);
            return refuse("%s", why);
        }
    }
    aws_opts o = {.stack = r->stack};
    return aws_stack_check("run", &o);
}

/* Stages the local inputs, points the local outputs at the record's
 * directory, and fills in the stack's channel settings, the launcher and
 * its staging bucket. */
static int run_prepare(run_call *r, sdsinf_err *err)
{
    char loc[LOC_CAP], config[4096];
    int rc = SDSINF_OK;
    for (size_t k = 0; rc == SDSINF_OK && k < sizeof INPUTS / sizeof *INPUTS;
         k++) {
        const char *p = run_opt(r, INPUTS[k]), *n = INPUTS[k];
        char flag[32];
        snprintf(flag, sizeof flag, "--%s", n);
        /* --bias is a number or a file */
        if (p && !sdsinf_location_remote(p) &&
            (strcmp(n, "bias") || strspn(p, "+-.0123456789eE") != strlen(p)) &&
            (rc = stage(r->bucket, flag, p, loc, &r->staged, r->quiet,
                        err)) == SDSINF_OK)
            run_set(r, n, loc);
    }
    for (size_t k = 0; rc == SDSINF_OK && k < NOUTPUTS; k++) {
        const char *p = run_opt(r, OUTPUTS[k].key);
        if ((!p && !OUTPUTS[k].always) || sdsinf_location_remote(p))
            continue;
        if (p && strlen(p) >= sizeof r->local[k])
            return cli_fail(err, SDSINF_EINVAL, "--%s %.100s...: too long a "
                            "path", OUTPUTS[k].key, p);
        snprintf(r->local[k], sizeof r->local[k], "%s", p ? p : "");
        if ((rc = sdsinf_run_record_location(r->bucket, r->name,
                                             OUTPUTS[k].file, loc, sizeof loc,
                                             err)) == SDSINF_OK)
            run_set(r, OUTPUTS[k].key, loc);
    }
    const char *ch = run_opt(r, "channel");
    if (rc == SDSINF_OK && ch &&
        (!strcmp(ch, "sqs") || !strcmp(ch, "sns") || !strcmp(ch, "s3")) &&
        (rc = sdsinf_stack_channel_config(r->stack, ch,
                                          run_opt(r, "channel-config"),
                                          config, sizeof config, err)) ==
            SDSINF_OK)
        run_set(r, "channel-config", config);
    /* the Lambda launcher where this build has it; its workers read S3 */
    if (!run_opt(r, "launcher") && sdsinf_launcher_find("lambda"))
        run_set(r, "launcher", "lambda");
    const sdsinf_launcher_methods *lm =
        sdsinf_launcher_find(run_opt(r, "launcher") ? run_opt(r, "launcher")
                                                    : "local");
    if (lm && (lm->caps & SDSINF_LAUNCH_REMOTE) &&
        !run_opt(r, "stage-bucket"))
        run_set(r, "stage-bucket", r->bucket);
    return rc;
}

/* ---- interrupted while waiting --------------------------------------------------------
 * Once invoked, the run goes on on Lambda whatever this process does (the
 * coordinator listens to nothing but its workers), so SIGINT and SIGTERM
 * say where its record will be and exit 128 + the signal. */
static char gone_on[3 * LOC_CAP]; /* what the handler writes */

static void on_stop(int sig)
{
    const char *name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    ssize_t w = write(2, "sdsinf aws run: interrupted (", 29);
    w = write(2, name, strlen(name));
    w = write(2, gone_on, strlen(gone_on));
    (void)w;
    _exit(128 + sig);
}

/* Catches SIGINT and SIGTERM with on_stop, its words from r. */
static void say_on_stop(const run_call *r)
{
    snprintf(gone_on, sizeof gone_on, "): the run goes on on Lambda; its "
             "record will be %s, and `sdsinf aws status --stack %s` shows "
             "it\n", r->where, r->stack);
    cli_catch_stop_signals(on_stop);
}

/* Invokes the stack's function with the coordinator's event, after
 * storing it beside the record (request.json: the run shows as under way
 * in aws status). */
static int run_invoke(run_call *r, sdsinf_err *err)
{
    char function[256], request[LOC_CAP];
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddItemReferenceToObject(ev, "run", r->run);
    cJSON_AddStringToObject(ev, "result", r->where);
    char *text = cJSON_PrintUnformatted(ev);
    int rc = text ? sdsinf_stack_output(r->stack, SDSINF_STACK_OUT_FUNCTION,
                                        function, sizeof function, err)
                  : cli_fail(err, SDSINF_ENOMEM, "no memory for the event");
    if (rc == SDSINF_OK)
        rc = sdsinf_run_record_location(r->bucket, r->name, "request.json",
                                        request, sizeof request, err);
    if (rc == SDSINF_OK)
        rc = cli_json_store(ev, request, err);
    if (rc == SDSINF_OK)
        rc = sdsinf_lambda_invoke(function, text, strlen(text), 1, NULL, NULL,
                                  err);
    if (rc == SDSINF_OK)
        say_on_stop(r);
    if (rc == SDSINF_OK && !r->quiet)
        fprintf(stderr, "invoked %s: run %s; waiting for %s\n", function,
                r->name, r->where);
    cJSON_free(text);
    cJSON_Delete(ev);
    return rc;
}

/* The local outputs, fetched from the record's directory; the JSON then
 * names them as the run's JSON would. */
static int run_fetch(run_call *r, cJSON *j, sdsinf_err *err)
{
    int rc = SDSINF_OK;
    for (size_t k = 0; rc == SDSINF_OK && k < NOUTPUTS; k++) {
        const char *remote = run_opt(r, OUTPUTS[k].key);
        const char *local = r->local[k][0] ? r->local[k] : NULL;
        int files = strcmp(OUTPUTS[k].key, "metrics") ? 1 : 3;
        for (int f = 0; local && rc == SDSINF_OK && f < files; f++) {
            char from[LOC_CAP], to[4096];
            const char *suffix = files == 3 ? METRICS_FILES[f] : "";
            snprintf(from, sizeof from, "%s%s", remote, suffix);
            snprintf(to, sizeof to, "%s%s", local, suffix);
            rc = sdsinf_location_copy(from, to, err);
        }
        if (rc == SDSINF_OK && cJSON_HasObjectItem(j, OUTPUTS[k].key)) {
            cJSON_DeleteItemFromObjectCaseSensitive(j, OUTPUTS[k].key);
            cli_json_add_string(j, OUTPUTS[k].key, local ? local : remote);
        }
    }
    return rc;
}

/* Prints the record j as sdsinf run prints its result (and deletes it);
 * the exit status. */
static int run_print(run_call *r, cJSON *j)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(e, "status");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    int finished = cJSON_HasObjectItem(j, "categories"), rc = 0;
    sdsinf_err err = {0};
    if (finished && r->json) {
        rc = cli_json_write(cJSON_Duplicate(j, 1), stdout, &err);
        putchar('\n');
        rc = rc == SDSINF_OK ? 0 : cli_error(&err);
    } else if (finished) {
        cli_run_summary(j, stdout);
    }
    if (e)
        fprintf(stderr, "sdsinf: error %s: the run on Lambda: %s (its record: "
                "%s)\n", cJSON_IsString(status) ? status->valuestring : "?",
                cJSON_IsString(msg) ? msg->valuestring : "?", r->where);
    cJSON_Delete(j);
    return e ? 1 : rc;
}

int aws_run(int argc, char **argv)
{
    sdsinf_err err = {0};
    run_call r = {.wait_s = WAIT_DEFAULT_S, .run = cJSON_CreateObject()};
    char *json = NULL;
    size_t len = 0;
    cJSON *j = NULL;
    int rc = r.run ? run_flags(argc, argv, &r) : 1;
    if (rc) {
        cJSON_Delete(r.run);
        return rc;
    }
    sdsinf_run_record_name(r.name, sizeof r.name);
    double t0 = now_s();
    if ((rc = stack_bucket(r.stack, r.bucket, sizeof r.bucket, &err)) ||
        (rc = sdsinf_run_record_location(r.bucket, r.name, SDSINF_RUN_RECORD,
                                         r.where, sizeof r.where, &err)) ||
        (rc = run_prepare(&r, &err)) || (rc = run_invoke(&r, &err)) ||
        (rc = sdsinf_run_record_wait(r.bucket, r.name, r.wait_s, &json, &len,
                                     &err)))
        goto fail;
    if (!(j = cJSON_ParseWithLength(json, len)) || !cJSON_IsObject(j)) {
        rc = cli_fail(&err, SDSINF_EPARSE, "%s is not a JSON object: was it "
                      "written by sdsinf?", r.where);
        goto fail;
    }
    if (cJSON_HasObjectItem(j, "categories") && (rc = run_fetch(&r, j, &err)))
        goto fail;
    const cJSON *staged = cJSON_GetObjectItemCaseSensitive(j, "staged");
    if (r.staged.uploaded || r.staged.skipped) { /* ours, and the run's */
        sdsinf_stage_stats s = r.staged;
        s.uploaded += (int64_t)num(staged, "uploaded");
        s.skipped += (int64_t)num(staged, "skipped");
        s.bytes_uploaded += (uint64_t)num(staged, "bytes_uploaded");
        s.bytes_skipped += (uint64_t)num(staged, "bytes_skipped");
        cJSON_DeleteItemFromObjectCaseSensitive(j, "staged");
        stats_json(cJSON_AddObjectToObject(j, "staged"), &s);
    }
    cJSON_AddNumberToObject(j, "wall_seconds", now_s() - t0);
    free(json);
    cJSON_Delete(r.run);
    return run_print(&r, j);
fail:
    cJSON_Delete(j);
    free(json);
    cJSON_Delete(r.run);
    return cli_error(&err);
}

/* ---- The last runs ------------------------------------------------------------------- */

/* j's string `key`, or `none`. */
static const char *text(const cJSON *j, const char *key, const char *none)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : none;
}

typedef struct runs_out {
    cJSON *list; /* --json */
    int n;
} runs_out;

static int run_out(const char *name, const char *json, size_t len, void *arg)
{
    runs_out *o = arg;
    cJSON *j = json ? cJSON_ParseWithLength(json, len) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const char *state = !json ? "running"
                        : text(j, "state", e || !j ? "failed" : "done");
    const cJSON *started = cJSON_GetObjectItemCaseSensitive(j, "started");
    double age = cJSON_IsNumber(started) ? (double)time(NULL) -
                                               started->valuedouble
                                         : -1;
    o->n++;
    if (o->list) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "name", name);
        cJSON_AddStringToObject(r, "state", state);
        if (age >= 0) /* a running one this old may have been killed */
            cJSON_AddNumberToObject(r, "age_s", age);
        cJSON_AddItemToObject(r, "result", j ? j : cJSON_CreateNull());
        cJSON_AddItemToArray(o->list, r);
        return 0;
    }
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    const cJSON *cost = cJSON_GetObjectItemCaseSensitive(j, "cost_usd");
    printf("  %s %-11s", name, state);
    if (age >= 0 && !strcmp(state, "running"))
        printf(" started %.0f s ago", age);
    if (cJSON_HasObjectItem(j, "categories")) {
        printf(" %.0f workers, %s on %s, %.0f images, %.3f s, check %s",
               num(j, "workers"), text(j, "channel", "?"),
               text(j, "launcher", "?"), num(j, "images"), num(j, "seconds"),
               text(j, "check", "none"));
        if (cJSON_IsNumber(cost))
            printf(", $%.6f", cost->valuedouble);
    }
    if (cJSON_IsString(msg))
        printf(" %.160s", msg->valuestring);
    putchar('\n');
    cJSON_Delete(j);
    return 0;
}

int aws_runs_show(const sdsinf_stack_info *st, cJSON *j)
{
    const char *bucket = NULL;
    sdsinf_err err = {0};
    runs_out o = {j ? cJSON_AddArrayToObject(j, "runs") : NULL, 0};
    for (int i = 0; i < st->noutputs; i++)
        if (!strcmp(st->outputs[i].key, SDSINF_STACK_OUT_BUCKET))
            bucket = st->outputs[i].value;
    if (!bucket) /* a stack sdsinf did not make, or not made yet */
        return 0;
    if (!j)
        printf("runs (the last %d, oldest first):\n", RUNS_SHOWN);
    if (sdsinf_run_records(bucket, RUNS_SHOWN, run_out, &o, &err) !=
        SDSINF_OK) /* the stack's state is the news: only said */
        fprintf(stderr, "sdsinf aws status: the runs of bucket %s: %s\n",
                bucket, err.msg);
    else if (!j && !o.n)
        printf("  none\n");
    return 0;
}
