/* aws_server.c - `sdsinf aws server`: the server baseline on EC2 (SDS-Inf's
 * Server variant): one instance that runs `sdsinf infer` on inputs in S3.
 * Sections: flags, the launch, waiting and printing, and `sdsinf aws
 * server-report` (what the instance runs after the inference).
 *
 * --job: the user data (a bash script, server_script.c) installs sdsinf from the package in
 * the stack's bucket (a zip with `bootstrap` and lib/, as sdsinf aws
 * package makes, or a bare executable) with the AWS CLI that Amazon Linux
 * 2023 has, takes the instance role's credentials from the metadata
 * service (IMDSv2), runs `sdsinf infer`, has `sdsinf aws server-report`
 * write result.json, categories.tsv and log.txt to s3://BUCKET/runs/RUN/
 * and powers off: the instance terminates (InstanceInitiatedShutdownBehavior
 * terminate), at the latest --timeout after it began.  --always-on: the
 * same install, then a `sdsinf` on the PATH that carries the role's
 * credentials, and ready.json; the instance stays until terminated.  The
 * cost is the price table's per-second price of the instance type times
 * its time up, boot included (at least EC2's 60 s minimum). */
#include "aws.h"
#include "cli_util.h"
#include "prices.h"
#include "server_script.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_DEFAULT_S 3600
#define WAIT_SLACK_S 600       /* boot and install, on top of --timeout */
#define BILLED_MIN_S 60        /* EC2's minimum per start (Linux) */
#define AMI_PARAMETER "resolve:ssm:/aws/service/ami-amazon-linux-latest/" \
                      "al2023-ami-kernel-default-"
#define LOG_TAIL 600           /* bytes of the log a failure's error quotes */
#define LOCATION_MAX 512       /* bytes of a location the user data names */

/* ---- Flags ---------------------------------------------------------------------- */

typedef struct server_opts {
    const char *stack, *bucket, *profile, *package, *weights, *images, *check;
    const char *instance_type, *arch, *ami, *key_name, *subnet, *group, *run;
    const char *terminate, *prices, *region;
    long threads, timeout_s;
    int job, always_on, wait, print_user_data, print_request, json;
    /* server-report's */
    const char *out, *dir, *instance, *mode;
    long status;
    double usd_per_hour, boot_s, started;
    int ready;
} server_opts;

/* The flags of server and server-report (cli_util.h; into server_opts:
 * a count is a long, a real a double). */
#define T(n, f, h) {n, CLI_TEXT, offsetof(server_opts, f), 0, 0, NULL, h}
#define C(n, f, lo, hi, h)                                                   \
    {n, CLI_COUNT, offsetof(server_opts, f), lo, hi, NULL, h}
#define R(n, f, lo, hi, h)                                                   \
    {n, CLI_REAL, offsetof(server_opts, f), lo, hi, NULL, h}
#define S(n, f, h) {n, CLI_SWITCH, offsetof(server_opts, f), 0, 0, NULL, h}
static const cli_flag SERVER_FLAGS[] = {
    T("--stack", stack, "the stack (deployed with --server): its bucket "
                        "and instance profile"),
    T("--bucket", bucket, "instead of --stack: a bucket of your own"),
    T("--profile", profile, "with --bucket: the instance profile's ARN"),
    S("--job", job, "the instance runs the inference, writes "
                    "s3://BUCKET/runs/RUN/ and terminates"),
    S("--always-on", always_on, "the instance stays, with sdsinf on its "
                                "PATH; prints the command to run there"),
    T("--package", package, "sdsinf to install: KEY in the bucket, or "
                            "s3://BUCKET/KEY (a zip with bootstrap and "
                            "lib/, as sdsinf aws package makes, or the "
                            "executable)"),
    T("--weights", weights, "the model, s3://..."),
    T("--images", images, "the images, s3://..."),
    T("--check", check, "the golden categories, s3://..."),
    C("--threads", threads, 0, 1024, "sdsinf infer's threads (default: "
                                     "one per vCPU)"),
    T("--instance-type", instance_type, "the EC2 type (default c5.xlarge, "
                                        "SDS-Inf's server); priced in the "
                                        "price table"),
    T("--arch", arch, "x86_64 or arm64 (default: the type's)"),
    T("--ami", ami, "the image (default: the latest Amazon Linux 2023 of "
                    "the arch, from its public SSM parameter)"),
    T("--key-name", key_name, "an EC2 key pair, for ssh"),
    T("--subnet", subnet, "a subnet (default: the default VPC's)"),
    T("--security-group", group, "a security group id (default: the "
                                 "VPC's default)"),
    T("--run", run, "the run's name (letters, digits, '-'; default "
                    "srv-TIME-RANDOM): its objects are runs/RUN/"),
    C("--timeout", timeout_s, 60, 7 * 86400, "--job: the instance powers "
                                             "off after S seconds whatever "
                                             "happens (default 3600)"),
    S("--wait", wait, "wait for the result (--job) or until sdsinf is "
                      "installed (--always-on), and print it"),
    S("--print-user-data", print_user_data, "print the user-data script, "
                                            "launch nothing"),
    S("--print-request", print_request, "print the RunInstances request, "
                                        "launch nothing"),
    T("--terminate", terminate, "terminate instance ID (and nothing else)"),
    T("--prices", prices, "the price table (default prices/aws.json)"),
    T("--region", region, "its region (default: AWS's configuration's)"),
    S("--json", json, "one JSON object on stdout, last"),
    {NULL, CLI_TEXT, 0, 0, 0, NULL, NULL}};
static const cli_flag REPORT_FLAGS[] = {
    T("--out", out, "s3://BUCKET/runs/RUN: where it writes"),
    T("--dir", dir, "the job's directory: infer.json, categories.tsv, "
                    "log.txt"),
    C("--status", status, 0, 255, "sdsinf infer's exit status"),
    S("--ready", ready, "--always-on: sdsinf is installed (ready.json)"),
    T("--instance", instance, "the instance's id"),
    T("--instance-type", instance_type, "its type"),
    T("--mode", mode, "job or always-on"),
    R("--usd-per-hour", usd_per_hour, 0, 1e6, "its price"),
    R("--boot-seconds", boot_s, 0, 1e9, "the boot, before the user data"),
    R("--started", started, 0, 1e11, "the user data's start, Unix time"),
    S("--json", json, "print the result too"),
    {NULL, CLI_TEXT, 0, 0, 0, NULL, NULL}};
#undef T
#undef C
#undef R
#undef S

static void flags_help(const char *sub, const char *synopsis,
                       const cli_flag *table, FILE *f)
{
    fprintf(f, "usage: sdsinf aws %s %s\n\n", sub, synopsis);
    for (const cli_flag *x = table; x->name; x++)
        fprintf(f, "  %-18s %s\n", x->name, x->help);
}

/* argv into *o by `table`; 0, 1 (--help, printed) or 2 (bad usage). */
static int flags_read(const char *sub, const char *synopsis,
                      const cli_flag *table, int argc, char **argv,
                      server_opts *o)
{
    memset(o, 0, sizeof *o);
    o->threads = -1;
    o->status = -1;
    o->timeout_s = TIMEOUT_DEFAULT_S;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            flags_help(sub, synopsis, table, stdout);
            return 1;
        }
        const cli_flag *x = cli_flag_find(table, argv[i], strlen(argv[i]));
        if (!x)
            return aws_usage_error(sub, "takes no '%s'", argv[i]);
        char *field = (char *)o + x->at, *end;
        if (x->kind == CLI_SWITCH) {
            cli_flag_set(x, o, NULL);
            continue;
        }
        const char *v = ++i < argc ? argv[i] : NULL;
        if (!v)
            return aws_usage_error(sub, "%s needs a value", x->name);
        if (x->kind == CLI_TEXT) {
            cli_flag_set(x, o, v);
            continue;
        }
        double d = strtod(v, &end);
        if (*end || end == v || !(d >= x->min && d <= x->max) ||
            (x->kind == CLI_COUNT && d != floor(d))) {
            char what[96];
            snprintf(what, sizeof what, "%s needs a number %g..%g, not '%%s'",
                     x->name, x->min, x->max);
            return aws_usage_error(sub, what, v);
        }
        if (x->kind == CLI_COUNT)
            *(long *)field = (long)d;
        else
            *(double *)field = d;
    }
    return 0;
}

/* Whether s is made of letters, digits and the characters of `extra`. */
static int plain(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
            return 0;
    return 1;
}

/* Whether loc is an s3:// location sdsinf reads (letters, digits and
 * "-_./" after s3://, a bucket and a key) of LOCATION_MAX bytes at most. */
static int s3_location(const char *loc)
{
    const char *slash = strncmp(loc, "s3://", 5) ? NULL : strchr(loc + 5, '/');
    return slash && slash > loc + 5 && slash[1] && plain(loc + 5, "-_./") &&
           strlen(loc) <= LOCATION_MAX;
}

/* An input's location, which the instance reads from S3; 0 or 2. */
static int check_location(const char *flag_name, const char *loc)
{
    if (!loc || s3_location(loc))
        return 0;
    return aws_usage_error("server",
                           "%s: the instance reads its inputs from S3: give "
                           "s3://BUCKET/KEY (sdsinf aws upload puts local "
                           "files there)",
                           flag_name);
}

/* The architecture of an instance type: Graviton's (arm64) have a 'g'
 * among the letters after the generation (c7g, m6gd, c6gn, g5g) or are
 * a1; the others x86_64. */
static const char *arch_of(const char *type)
{
    const char *p = type;
    if (!strncmp(type, "a1.", 3))
        return "arm64";
    while (*p && !isdigit((unsigned char)*p))
        p++;
    while (isdigit((unsigned char)*p))
        p++;
    for (; *p && *p != '.'; p++)
        if (*p == 'g')
            return "arm64";
    return "x86_64";
}

static int server_check(server_opts *o)
{
    static const char *sub = "server";
    if (!!o->job + !!o->always_on + !!o->terminate != 1)
        return aws_usage_error(sub, "needs one of --job, --always-on and "
                               "--terminate ID%s", "");
    if (o->terminate)
        return 0;
    if (!o->stack == !o->bucket)
        return aws_usage_error(sub, "needs --stack NAME (deployed with "
                               "--server), or --bucket B with --profile "
                               "ARN%s", "");
    if (o->stack) {
        aws_opts a = {.stack = o->stack};
        if (o->profile)
            return aws_usage_error(sub, "--profile goes with --bucket; the "
                                   "stack has its own%s", "");
        int rc = aws_stack_check(sub, &a);
        if (rc)
            return rc;
    } else if (!plain(o->bucket, "-.") || strlen(o->bucket) < 3 ||
               strlen(o->bucket) > 63) {
        return aws_usage_error(sub, "--bucket '%s' is not a bucket's name",
                               o->bucket);
    } else if (!o->profile || strncmp(o->profile, "arn:", 4) ||
               !plain(o->profile, "-_.:/+=,@") || strlen(o->profile) > 500) {
        return aws_usage_error(sub, "--bucket needs --profile ARN (an "
                               "instance profile's, which may read the "
                               "bucket and write its runs/), not '%s'",
                               o->profile ? o->profile : "");
    }
    if (!o->package)
        return aws_usage_error(sub, "needs --package KEY|s3://BUCKET/KEY "
                               "(sdsinf to install: sdsinf aws package "
                               "makes it)%s", "");
    if (strncmp(o->package, "s3://", 5)
            ? !plain(o->package, "-_./") || strlen(o->package) > LOCATION_MAX
            : !s3_location(o->package))
        return aws_usage_error(sub, "--package '%s': a key of the bucket "
                               "(letters, digits, - _ . /) or s3://BUCKET/KEY",
                               o->package);
    if (o->job && (!o->weights || !o->images))
        return aws_usage_error(sub, "--job needs --weights and --images "
                               "(s3://...)%s", "");
    int rc = check_location("--weights", o->weights) ||
             check_location("--images", o->images) ||
             check_location("--check", o->check);
    if (rc)
        return 2;
    if (!o->instance_type)
        o->instance_type = "c5.xlarge";
    if (!plain(o->instance_type, "-.") || !isalpha((unsigned char)o->instance_type[0]))
        return aws_usage_error(sub, "--instance-type '%s' is not an EC2 "
                               "type (c5.xlarge, ...)", o->instance_type);
    if (!o->arch)
        o->arch = arch_of(o->instance_type);
    if (strcmp(o->arch, "x86_64") && strcmp(o->arch, "arm64"))
        return aws_usage_error(sub, "--arch is x86_64 or arm64, not '%s'",
                               o->arch);
    const char *const named[] = {o->ami, o->key_name, o->subnet, o->group};
    for (int i = 0; i < 4; i++)
        if (named[i] && !plain(named[i], "-_.:/"))
            return aws_usage_error(sub, "'%s' is not an EC2 name or id",
                                   named[i]);
    if (o->run && (!plain(o->run, "-") || !o->run[0] || strlen(o->run) > 48))
        return aws_usage_error(sub, "--run '%s': up to 48 letters, digits "
                               "and '-'", o->run);
    if (o->print_user_data + o->print_request > 1 ||
        ((o->print_user_data || o->print_request) && o->wait))
        return aws_usage_error(sub, "--print-user-data, --print-request and "
                               "--wait go one at a time%s", "");
    return 0;
}

/* ---- The launch ---------------------------------------------------------------------- */

/* What the launch needs besides the flags. */
typedef struct launch_facts {
    char bucket[64];
    char profile[512];     /* the instance profile's ARN, "" for none */
    char run[64];
    char region[64];
    double usd_per_hour;
} launch_facts;

static const char *output_of(const sdsinf_stack_info *st, const char *key)
{
    for (int i = 0; i < st->noutputs; i++)
        if (!strcmp(st->outputs[i].key, key))
            return st->outputs[i].value;
    return NULL;
}

/* The bucket and instance profile: the stack's outputs, or the flags. */
static int where(const server_opts *o, launch_facts *lf, sdsinf_err *err)
{
    if (!o->stack) {
        snprintf(lf->bucket, sizeof lf->bucket, "%s", o->bucket);
        snprintf(lf->profile, sizeof lf->profile, "%s",
                 o->profile ? o->profile : "");
        return SDSINF_OK;
    }
    sdsinf_stack_info *st = calloc(1, sizeof *st);
    int rc = st ? sdsinf_stack_describe(o->stack, st, err)
                : cli_fail(err, SDSINF_ENOMEM, "no memory");
    const char *b = rc ? NULL : output_of(st, SDSINF_STACK_OUT_BUCKET);
    const char *p = rc ? NULL : output_of(st, SDSINF_STACK_OUT_SERVER_PROFILE);
    if (!rc && (!b || !p))
        rc = cli_fail(err, SDSINF_EINVAL,
                      "stack %s has no %s: sdsinf aws deploy --stack %s "
                      "--server adds the server's instance profile",
                      o->stack, b ? "server instance profile" : "bucket",
                      o->stack);
    if (!rc) {
        snprintf(lf->bucket, sizeof lf->bucket, "%s", b);
        snprintf(lf->profile, sizeof lf->profile, "%s", p);
    }
    free(st);
    return rc;
}

/* The instance type's price per hour in the region's price table. */
static int price_of(const server_opts *o, launch_facts *lf, sdsinf_err *err)
{
    price_table t;
    int rc = o->region ? (snprintf(lf->region, sizeof lf->region, "%s",
                                   o->region),
                          SDSINF_OK)
                       : sdsinf_aws_region(lf->region, sizeof lf->region, err);
    if (rc || (rc = prices_load(o->prices, lf->region, &t, err)))
        return rc;
    size_t i = 0;
    while (i < t.prices.ninstances &&
           strcmp(t.prices.instances[i].type, o->instance_type))
        i++;
    if (i < t.prices.ninstances)
        lf->usd_per_hour = t.prices.instances[i].usd_per_hour;
    else
        rc = cli_fail(err, SDSINF_EINVAL,
                      "%s has no price for %s in %s: add it to ec2.usd_per_hour "
                      "there (with its source and date), or pick a priced "
                      "type (--instance-type %s, ...)",
                      t.path, o->instance_type, lf->region,
                      t.prices.ninstances ? t.prices.instances[0].type
                                          : "c5.xlarge");
    prices_free(&t);
    return rc;
}

/* Unix time, in seconds. */
static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void run_name(const server_opts *o, launch_facts *lf)
{
    if (o->run) {
        snprintf(lf->run, sizeof lf->run, "%s", o->run);
        return;
    }
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    unsigned r = (unsigned)(ts.tv_nsec ^ (long)getpid() * 2654435761u);
    snprintf(lf->run, sizeof lf->run, "srv-%04d%02d%02d-%02d%02d%02d-%04x",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, r & 0xffff);
}

/* The user data of the launch o, lf (server_script.h) into *text. */
static int user_data(const server_opts *o, const launch_facts *lf,
                     char **text, sdsinf_err *err)
{
    char out[160], package[600];
    snprintf(out, sizeof out, "s3://%s/runs/%s", lf->bucket, lf->run);
    if (!strncmp(o->package, "s3://", 5))
        snprintf(package, sizeof package, "%s", o->package);
    else
        snprintf(package, sizeof package, "s3://%s/%s", lf->bucket,
                 o->package);
    server_script u = {o->job, lf->run, out, package, o->weights, o->images,
                       o->check, o->instance_type, lf->usd_per_hour,
                       o->threads, o->timeout_s};
    return server_script_make(&u, text, err);
}

/* The launch's spec, its tags in tags[5] (texts in tagbuf). */
static void launch_spec(const server_opts *o, const launch_facts *lf,
                        const char *script, char *ami, size_t ami_cap,
                        char tagbuf[4][160], const char *tags[5],
                        sdsinf_ec2_spec *s)
{
    snprintf(ami, ami_cap, "%s", o->ami ? o->ami : AMI_PARAMETER);
    if (!o->ami)
        snprintf(ami + strlen(ami), ami_cap - strlen(ami), "%s", o->arch);
    snprintf(tagbuf[0], 160, "Name=sdsinf-%s-%s",
             o->stack ? o->stack : lf->bucket, lf->run);
    snprintf(tagbuf[1], 160, "sdsinf:run=%s", lf->run);
    snprintf(tagbuf[2], 160, "sdsinf:mode=%s", o->job ? "job" : "always-on");
    snprintf(tagbuf[3], 160, "sdsinf:stack=%s", o->stack ? o->stack : "");
    for (int i = 0; i < 4; i++)
        tags[i] = tagbuf[i];
    tags[o->stack ? 4 : 3] = NULL;
    memset(s, 0, sizeof *s);
    s->version = SDSINF_EC2_SPEC_VERSION;
    s->image = ami;
    s->instance_type = o->instance_type;
    s->user_data = script;
    s->profile_arn = lf->profile[0] ? lf->profile : NULL;
    s->terminate_on_shutdown = o->job;
    s->key_name = o->key_name;
    s->subnet = o->subnet;
    s->security_group = o->group;
    s->client_token = lf->run;
    s->tags = tags;
}

/* ---- Waiting and printing ------------------------------------------------------------ */

static void to_stderr(const char *line, void *arg)
{
    (void)arg;
    fprintf(stderr, "%s\n", line);
}

/* The command to run on an always-on instance. */
static void infer_command(const server_opts *o, const launch_facts *lf,
                          char *out, size_t cap)
{
    char w[600], i[600];
    snprintf(w, sizeof w, "%s", o->weights ? o->weights : "");
    snprintf(i, sizeof i, "%s", o->images ? o->images : "");
    if (!o->weights)
        snprintf(w, sizeof w, "s3://%s/MODEL", lf->bucket);
    if (!o->images)
        snprintf(i, sizeof i, "s3://%s/IMAGES", lf->bucket);
    snprintf(out, cap, "sdsinf infer --weights %s --images %s%s%s --json", w,
             i, o->check ? " --check " : "", o->check ? o->check : "");
}

/* Prints a job's result j (deleted) as sdsinf infer would; the exit
 * status: 0 when it passed, else 1. */
static int print_result(const server_opts *o, cJSON *j)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    int ok = cJSON_IsString(st) && !strcmp(st->valuestring, "ok");
    if (o->json) {
        sdsinf_err err = {0};
        if (cli_json_write(j, stdout, &err))
            return cli_error(&err);
        putchar('\n');
        return ok ? 0 : 1;
    }
#define NUM(k) cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, k))
#define STR(k) cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, k))
    if (!ok)
        fprintf(stderr, "sdsinf aws server: run %s %s: %s\n", STR("run"),
                STR("status"), STR("error") ? STR("error") : "");
    if (!isnan(NUM("images"))) {
        const char *check = STR("check");
        printf("%.0f images x %.0f layers of %.0f neurons: %.0f categories "
               "in %.3f s (%.3g edges/s; loading %.3f s)%s\n",
               NUM("images"), NUM("layers"), NUM("neurons"),
               NUM("categories"), NUM("seconds"), NUM("edges_per_second"),
               NUM("load_seconds"),
               !check                   ? ""
               : !strcmp(check, "pass") ? "; check passed"
                                        : "; CHECK FAILED");
        printf("on %s %s: booted in %.0f s, the job %.0f s; billed %.0f s "
               "at $%g/h: $%.6f\n",
               STR("instance_type"), STR("instance_id"), NUM("boot_seconds"),
               NUM("job_seconds"), NUM("billed_seconds"), NUM("usd_per_hour"),
               NUM("cost_usd"));
    }
#undef NUM
#undef STR
    cJSON_Delete(j);
    return ok ? 0 : 1;
}

/* What a launch prints (no --wait, or --always-on's after it). */
static int print_launch(const server_opts *o, const launch_facts *lf,
                        const sdsinf_ec2_instance *in, const char *image)
{
    char cmd[1600], result[200];
    infer_command(o, lf, cmd, sizeof cmd);
    snprintf(result, sizeof result, "s3://%s/runs/%s/%s", lf->bucket, lf->run,
             o->job ? SERVER_RESULT_KEY : SERVER_READY_KEY);
    if (!o->json) {
        printf("launched %s (%s, %s), run %s: %s\n", in->id, o->instance_type,
               image, lf->run, in->state);
        if (o->job)
            printf("its result will be %s; the cost $%g per hour up (per "
                   "second, at least 60 s)\n",
                   result, lf->usd_per_hour);
        else
            printf("it costs $%g per hour until terminated; ready once %s "
                   "exists\non it (ssh ec2-user@%s with the key of "
                   "--key-name): %s\n",
                   lf->usd_per_hour, result,
                   in->address[0] ? in->address : "ADDRESS", cmd);
        printf("end it: sdsinf aws server --terminate %s\n", in->id);
        return 0;
    }
    sdsinf_err err = {0};
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "run", lf->run);
    cJSON_AddStringToObject(j, "mode", o->job ? "job" : "always-on");
    cJSON_AddStringToObject(j, "instance_id", in->id);
    cJSON_AddStringToObject(j, "state", in->state);
    cJSON_AddStringToObject(j, "instance_type", o->instance_type);
    cJSON_AddStringToObject(j, "image", image);
    cli_json_add_string(j, "address", in->address[0] ? in->address : NULL);
    cJSON_AddNumberToObject(j, "usd_per_hour", lf->usd_per_hour);
    cJSON_AddStringToObject(j, "result", result);
    cli_json_add_string(j, "command", o->always_on ? cmd : NULL);
    if (cli_json_write(j, stdout, &err))
        return cli_error(&err);
    putchar('\n');
    return 0;
}

/* Waits for the run's object, then prints it; a job's instance is
 * terminated then (it powers off by itself: this is in case it cannot). */
static int wait_and_print(const server_opts *o, const launch_facts *lf,
                          const sdsinf_ec2_instance *in, const char *image)
{
    char key[128], *body = NULL;
    size_t len;
    sdsinf_err err = {0};
    snprintf(key, sizeof key, "runs/%s/%s", lf->run,
             o->job ? SERVER_RESULT_KEY : SERVER_READY_KEY);
    fprintf(stderr, "waiting for s3://%s/%s\n", lf->bucket, key);
    int rc = sdsinf_ec2_wait_object(in->id, lf->bucket, key,
                                    (double)(o->timeout_s + WAIT_SLACK_S),
                                    to_stderr, NULL, &body, &len, &err);
    if (rc)
        return cli_error(&err);
    cJSON *j = cJSON_Parse(body);
    free(body);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        cli_fail(&err, SDSINF_EPARSE, "s3://%s/%s is not a JSON object: "
                 "not what sdsinf aws server-report writes", lf->bucket, key);
        return cli_error(&err);
    }
    if (o->always_on) {
        sdsinf_ec2_instance now;
        cJSON_Delete(j);
        if (sdsinf_ec2_describe(in->id, &now, &err))
            return cli_error(&err);
        return print_launch(o, lf, &now, image);
    }
    sdsinf_ec2_instance end;
    if (sdsinf_ec2_terminate(in->id, &end, &err))
        fprintf(stderr, "sdsinf aws server: could not terminate %s: %s\n",
                in->id, err.msg);
    return print_result(o, j);
}

static int server_terminate(const server_opts *o)
{
    sdsinf_err err = {0};
    sdsinf_ec2_instance in;
    if (sdsinf_ec2_terminate(o->terminate, &in, &err))
        return cli_error(&err);
    if (!o->json) {
        printf("instance %s: %s\n", in.id, in.state);
        return 0;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "instance_id", in.id);
    cJSON_AddStringToObject(j, "state", in.state);
    if (cli_json_write(j, stdout, &err))
        return cli_error(&err);
    putchar('\n');
    return 0;
}

int aws_server(int argc, char **argv)
{
    server_opts o;
    launch_facts lf = {0};
    sdsinf_err err = {0};
    char *script = NULL, *request = NULL, ami[320], tagbuf[4][160];
    const char *tags[5];
    sdsinf_ec2_spec spec;
    sdsinf_ec2_instance in;
    int rc = flags_read("server", AWS_SERVER_SYNOPSIS, SERVER_FLAGS, argc,
                        argv, &o);
    if (rc)
        return rc == 1 ? 0 : rc;
    if ((rc = server_check(&o)))
        return rc;
    if (o.terminate)
        return server_terminate(&o);
    run_name(&o, &lf);
    if (where(&o, &lf, &err) || price_of(&o, &lf, &err) ||
        user_data(&o, &lf, &script, &err))
        return cli_error(&err);
    launch_spec(&o, &lf, script, ami, sizeof ami, tagbuf, tags, &spec);
    if (o.print_user_data) {
        fputs(script, stdout);
        rc = 0;
    } else if (o.print_request) {
        rc = sdsinf_ec2_request(&spec, &request, &err) ? cli_error(&err) : 0;
        if (!rc)
            fputs(request, stdout);
        free(request);
    } else if (sdsinf_ec2_run(&spec, &in, &err)) {
        rc = cli_error(&err);
    } else {
        fprintf(stderr, "launched %s for run %s\n", in.id, lf.run);
        rc = o.wait ? wait_and_print(&o, &lf, &in, ami)
                    : print_launch(&o, &lf, &in, ami);
    }
    free(script);
    return rc;
}

/* ---- sdsinf aws server-report ---------------------------------------------------- */

/* The last JSON object sdsinf infer --json printed in dir/infer.json, or
 * NULL. */
static cJSON *infer_json(const char *dir)
{
    char path[4096], *buf = NULL;
    size_t len;
    sdsinf_err err = {0};
    snprintf(path, sizeof path, "%s/infer.json", dir);
    if (cli_read_file(path, 1 << 20, &buf, &len, &err))
        return NULL;
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        buf[--len] = 0;
    char *last = strrchr(buf, '\n');
    cJSON *j = cJSON_Parse(last ? last + 1 : buf);
    free(buf);
    if (j && !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        j = NULL;
    }
    return j;
}

/* What dir/log.txt says went wrong: its last line naming an error (sdsinf
 * prints "sdsinf: error NAME: ..."), else its last line. */
static void log_error(const char *dir, char *out, size_t cap)
{
    char path[4096], *buf = NULL, *pick = NULL;
    size_t len;
    sdsinf_err err = {0};
    snprintf(out, cap, "see log.txt");
    snprintf(path, sizeof path, "%s/log.txt", dir);
    if (cli_read_file(path, 64 << 20, &buf, &len, &err))
        return;
    char *last = NULL;
    for (char *line = buf, *nl; line; line = nl ? nl + 1 : NULL) {
        if ((nl = strchr(line, '\n')))
            *nl = 0;
        if (*line && strstr(line, "error"))
            pick = line;
        last = *line ? line : last;
    }
    pick = pick ? pick : last;
    if (pick)
        snprintf(out, cap, "%.*s", LOG_TAIL, pick);
    free(buf);
}

/* Copies local file `name` of dir to out/name, when it exists. */
static int store(const server_opts *o, const char *name, cli_files *fs,
                 sdsinf_err *err)
{
    char path[4096], dest[4096], buf[1 << 16];
    snprintf(path, sizeof path, "%s/%s", o->dir, name);
    snprintf(dest, sizeof dest, "%s/%s", o->out, name);
    FILE *in = fopen(path, "rb"), *f;
    if (!in)
        return SDSINF_OK;
    int rc = cli_files_open(fs, dest, &f, err);
    size_t n;
    while (!rc && (n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, f);
    if (!rc && ferror(in))
        rc = cli_fail(err, SDSINF_EIO, "%s: cannot read it", path);
    fclose(in);
    return rc;
}

/* Adds the instance's facts and its cost so far to j. */
static void add_cost(const server_opts *o, cJSON *j)
{
    double job = wall_now() - o->started;
    double billed = ceil(o->boot_s + (job > 0 ? job : 0));
    if (billed < BILLED_MIN_S)
        billed = BILLED_MIN_S;
    cli_json_add_string(j, "instance_id",
                        strcmp(o->instance, "none") ? o->instance : NULL);
    cJSON_AddStringToObject(j, "instance_type", o->instance_type);
    cJSON_AddNumberToObject(j, "started", o->started);
    cJSON_AddNumberToObject(j, "boot_seconds", o->boot_s);
    cJSON_AddNumberToObject(j, "job_seconds", job);
    cJSON_AddNumberToObject(j, "billed_seconds", billed);
    cJSON_AddNumberToObject(j, "usd_per_hour", o->usd_per_hour);
    cJSON_AddNumberToObject(j, "cost_usd", billed * o->usd_per_hour / 3600);
}

int aws_server_report(int argc, char **argv)
{
    server_opts o;
    sdsinf_err err = {0};
    cli_files fs = {0};
    FILE *f;
    char dest[4096], error[LOG_TAIL + 1];
    int rc = flags_read("server-report", AWS_SERVER_REPORT_SYNOPSIS,
                        REPORT_FLAGS, argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!o.out || !s3_location(o.out) || !o.dir || !o.instance ||
        !o.instance_type || !o.mode || !o.started ||
        (!o.ready && o.status < 0))
        return aws_usage_error("server-report",
                               "needs --out s3://.., --dir, --instance, "
                               "--instance-type, --mode, --started and "
                               "--status (or --ready)%s", "");
    cJSON *j = o.ready ? NULL : infer_json(o.dir);
    const cJSON *check = cJSON_GetObjectItemCaseSensitive(j, "check");
    const char *status = o.ready        ? "ready"
                         : o.status == 0 ? "ok"
                         : cJSON_IsString(check) &&
                                 !strcmp(check->valuestring, "fail")
                             ? "check failed"
                             : "failed";
    if (!j)
        j = cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(j, "out");
    cJSON_AddStringToObject(j, "run", strrchr(o.out, '/') + 1);
    cJSON_AddStringToObject(j, "mode", o.mode);
    cJSON_AddStringToObject(j, "status", status);
    if (!strcmp(status, "failed"))
        log_error(o.dir, error, sizeof error);
    cli_json_add_string(j, "error", strcmp(status, "failed") ? NULL : error);
    cJSON_AddStringToObject(j, "sdsinf", sdsinf_version());
    add_cost(&o, j);
    /* the categories and the log first: the result says they are there */
    snprintf(dest, sizeof dest, "%s/categories.tsv", o.out);
    if (!o.ready && !strcmp(status, "ok"))
        cli_json_add_string(j, "categories_out", dest);
    snprintf(dest, sizeof dest, "%s/log.txt", o.out);
    cJSON_AddStringToObject(j, "log", dest);
    rc = store(&o, "categories.tsv", &fs, &err);
    if (!rc)
        rc = store(&o, "log.txt", &fs, &err);
    if (!rc)
        rc = cli_files_commit(&fs, &err);
    snprintf(dest, sizeof dest, "%s/%s", o.out, o.ready ? SERVER_READY_KEY
                                                        : SERVER_RESULT_KEY);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!rc && !text)
        rc = cli_fail(&err, SDSINF_ENOMEM, "no memory for the result");
    if (!rc && !(rc = cli_files_open(&fs, dest, &f, &err))) {
        fprintf(f, "%s\n", text);
        rc = cli_files_commit(&fs, &err);
    }
    if (!rc && o.json)
        printf("%s\n", text);
    cli_files_discard(&fs);
    cJSON_free(text);
    return rc ? cli_error(&err) : 0;
}
