/* aws.c - `sdsinf aws`: the CloudFormation template sdsinf generates for
 * the AWS channels (and the worker function's slot), and the commands
 * that deploy it, show it and tear it down through the library's
 * sdsinf_stack_* calls.  Sections: flags, the template, the subcommands
 * and their table.
 *
 * The stack, for up to N workers (--max-workers, default 16): one bucket
 * (its name CloudFormation's), one SNS topic <stack>, queues <stack>-0 ..
 * <stack>-N (worker w's, and the coordinator's at index W of a W-worker
 * run) each subscribed to the topic with raw delivery and the filter
 * {"target": ["w"]}, one queue policy letting the topic send to them, the
 * function's log group with a 14-day retention, and the worker role.  The
 * sqs and sns channels share these queues (a run needs one set, whichever
 * channel it uses): a run on sqs sends to them directly, one on sns
 * publishes to the topic, and runs tell their messages apart by the
 * attribute `run` (channels/sqs_queue.h).  Messages live an hour at most
 * (MessageRetentionPeriod): a killed run's leftovers go by themselves. */
#include "aws.h"
#include "cli_util.h"
#include "meter.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_USAGE 2
#define WORKERS_DEFAULT 16
#define WORKERS_MAX 64      /* the template stays under CloudFormation's
                               51,200 bytes for a template in the request */
#define STACK_NAME_MAX 40   /* <stack>-<w> is a queue name, and the
                               channels' queues= takes up to 47 */
#define LOG_RETENTION_DAYS 14
#define MEMORY_DEFAULT 2048 /* the worker function's MB, unless given */
#define OUT_MEMORY "FunctionMemory" /* the stack's outputs of them */
#define OUT_ARCH "FunctionArch"
/* The architecture of this build: what deploy packages runs on */
#if defined(__aarch64__)
#define THIS_ARCH "arm64"
#else
#define THIS_ARCH "x86_64"
#endif

/* ---- Flags ------------------------------------------------------------------- */

int aws_usage_error(const char *sub, const char *fmt, const char *arg)
{
    fprintf(stderr, "sdsinf aws%s%s: ", sub ? " " : "", sub ? sub : "");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nrun `sdsinf aws help` for the options\n");
    return EXIT_USAGE;
}

/* Whether `allowed` lists flag. */
static int listed(const char *allowed, const char *flag)
{
    size_t n = strlen(flag);
    for (const char *p = allowed; (p = strstr(p, flag)); p += n)
        if ((p == allowed || p[-1] == ' ') && (!p[n] || p[n] == ' '))
            return 1;
    return 0;
}

static int number(const char *sub, const char *flag, const char *s, long lo,
                  long hi, long *out)
{
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || *end || end == s || v < lo || v > hi) {
        char what[96];
        snprintf(what, sizeof what, "%s needs a number %ld..%ld, not '%%s'",
                 flag, lo, hi);
        return aws_usage_error(sub, what, s ? s : "");
    }
    *out = v;
    return 0;
}

/* Every flag of the aws commands (cli_util.h; into aws_opts: a count is
 * a long); each command names those it takes. */
#define T(n, f) {n, CLI_TEXT, offsetof(aws_opts, f), 0, 0, NULL, NULL}
#define C(n, f, lo, hi) {n, CLI_COUNT, offsetof(aws_opts, f), lo, hi, NULL, NULL}
#define S(n, f) {n, CLI_SWITCH, offsetof(aws_opts, f), 0, 0, NULL, NULL}
static const cli_flag AWS_FLAGS[] = {
    S("--json", json),
    S("--progress", progress),
    S("--no-progress", no_progress),
    S("--no-function", no_function),
    S("--server", server),
    T("--stack", stack),
    T("--package", package),
    T("--out", out),
    T("--image", image),
    T("--bootstrap", bootstrap),
    T("--arch", arch),
    T("--weights", weights),
    T("--plan", plan),
    T("--images", images),
    T("--check", check),
    C("--max-workers", max_workers, 1, WORKERS_MAX),
    C("--workers", max_workers, 1, WORKERS_MAX),
    C("--memory", memory_mb, 128, 10240),
    {NULL, CLI_TEXT, 0, 0, 0, NULL, NULL}};
#undef T
#undef C
#undef S

int aws_flags(const char *sub, int argc, char **argv, const char *allowed,
              aws_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_workers = 0; /* 0, memory_mb 0, arch NULL: not given */
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const cli_flag *x = cli_flag_find(AWS_FLAGS, f, strlen(f));
        int rc;
        if (!x || !listed(allowed, f))
            return aws_usage_error(sub, "takes no '%s'", f);
        if (x->kind == CLI_SWITCH) {
            cli_flag_set(x, o, NULL);
            continue;
        }
        if (!v)
            return aws_usage_error(sub, "%s needs a value", f);
        i++;
        if (x->kind == CLI_TEXT)
            cli_flag_set(x, o, v);
        else if ((rc = number(sub, f, v, (long)x->min, (long)x->max,
                              (long *)((char *)o + x->at))))
            return rc;
    }
    if (o->arch && strcmp(o->arch, "x86_64") && strcmp(o->arch, "arm64"))
        return aws_usage_error(sub, "--arch is x86_64 or arm64, not '%s'",
                           o->arch);
    return 0;
}

int aws_stack_check(const char *sub, const aws_opts *o)
{
    const char *s = o->stack;
    if (!s)
        return aws_usage_error(sub, "needs --stack NAME%s", "");
    int ok = isalpha((unsigned char)s[0]) && strlen(s) <= STACK_NAME_MAX;
    for (const char *p = s; ok && *p; p++)
        ok = isalnum((unsigned char)*p) || *p == '-';
    if (!ok)
        return aws_usage_error(sub,
                           "--stack '%s': a letter, then letters, digits and "
                           "'-', 40 at most",
                           s);
    return 0;
}

/* ---- The template ---------------------------------------------------------------- */

static cJSON *str(const char *s)
{
    return cJSON_CreateString(s);
}

static cJSON *ref(const char *name)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Ref", name);
    return o;
}

static cJSON *att(const char *res, const char *attr)
{
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "Fn::GetAtt");
    cJSON_AddItemToArray(a, str(res));
    cJSON_AddItemToArray(a, str(attr));
    return o;
}

static cJSON *sub(const char *fmt)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Fn::Sub", fmt);
    return o;
}

/* A resource of type `type` added to `resources` as `name`: its
 * Properties object. */
static cJSON *resource(cJSON *resources, const char *name, const char *type)
{
    cJSON *r = cJSON_AddObjectToObject(resources, name);
    cJSON_AddStringToObject(r, "Type", type);
    return cJSON_AddObjectToObject(r, "Properties");
}

/* An IAM statement allowing the `actions` (NULL-ended) on `resource` (an
 * item or array; ownership passes). */
static cJSON *allow(const char *sid, const char *const *actions,
                    cJSON *resource_)
{
    cJSON *s = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(s, "Action");
    cJSON_AddStringToObject(s, "Sid", sid);
    cJSON_AddStringToObject(s, "Effect", "Allow");
    for (; *actions; actions++)
        cJSON_AddItemToArray(a, str(*actions));
    cJSON_AddItemToObject(s, "Resource", resource_);
    return s;
}

static cJSON *policy_document(cJSON **statements)
{
    cJSON *d = cJSON_CreateObject(), *st;
    cJSON_AddStringToObject(d, "Version", "2012-10-17");
    st = cJSON_AddArrayToObject(d, "Statement");
    for (; *statements; statements++)
        cJSON_AddItemToArray(st, *statements);
    return d;
}

/* A role's trust policy: `service` (lambda.amazonaws.com, ...) may assume
 * it. */
static cJSON *trust(const char *service)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "Effect", "Allow");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(s, "Principal"),
                            "Service", service);
    cJSON_AddStringToObject(s, "Action", "sts:AssumeRole");
    return policy_document((cJSON *[]){s, NULL});
}

/* [GetAtt Queue0.Arn, ..] for queues 0..n. */
static cJSON *queue_arns(long n)
{
    cJSON *a = cJSON_CreateArray();
    for (long w = 0; w <= n; w++) {
        char name[32];
        snprintf(name, sizeof name, "Queue%ld", w);
        cJSON_AddItemToArray(a, att(name, "Arn"));
    }
    return a;
}

/* The worker function's role: what a worker (and a coordinator on Lambda)
 * calls on this stack's resources, nothing else.  Why no Resource "*":
 * the calls AWS grants only on "*" (sqs:ListQueues, sns:ListTopics) serve
 * runs that make their own queues and topic, never a run on a stack. */
static void worker_role(cJSON *res, const aws_opts *o)
{
    static const char *const queue_actions[] = {
        "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", NULL};
    static const char *const topic_actions[] = {"sns:Publish", NULL};
    static const char *const object_actions[] = {
        "s3:GetObject", "s3:PutObject", "s3:DeleteObject", NULL};
    static const char *const list_actions[] = {"s3:ListBucket", NULL};
    static const char *const log_actions[] = {"logs:CreateLogStream",
                                              "logs:PutLogEvents", NULL};
    static const char *const invoke_actions[] = {"lambda:InvokeFunction",
                                                 NULL};
    cJSON *p = resource(res, "WorkerRole", "AWS::IAM::Role");
    cJSON_AddItemToObject(p, "AssumeRolePolicyDocument",
                          trust("lambda.amazonaws.com"));
    cJSON *statements[8] = {
        allow("StackQueues", queue_actions, queue_arns(o->max_workers)),
        allow("StackTopic", topic_actions, ref("Topic")),
        allow("StackObjects", object_actions, sub("${Bucket.Arn}/*")),
        allow("StackBucket", list_actions, att("Bucket", "Arn")),
        /* Lambda writes the function's output with its role */
        allow("FunctionLogs", log_actions, att("LogGroup", "Arn")),
        /* workers start their children in the launch tree */
        o->package ? allow("LaunchTree", invoke_actions,
                           sub("arn:${AWS::Partition}:lambda:${AWS::Region}:"
                               "${AWS::AccountId}:function:"
                               "${AWS::StackName}-worker"))
                   : NULL,
        NULL};
    cJSON *pol = cJSON_CreateObject();
    cJSON_AddStringToObject(pol, "PolicyName", "sdsinf-worker");
    cJSON_AddItemToObject(pol, "PolicyDocument", policy_document(statements));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "Policies"), pol);
}

/* The worker function, from the zip at --package KEY in the stack's
 * bucket (deploy stores this program's package there first: see
 * aws_package.c), with SDS-Inf's asynchronous-invocation settings. */
static void worker_function(cJSON *res, const aws_opts *o)
{
    cJSON *p = resource(res, "WorkerFunction", "AWS::Lambda::Function");
    cJSON_AddItemToObject(p, "FunctionName", sub("${AWS::StackName}-worker"));
    cJSON_AddStringToObject(p, "Runtime", "provided.al2023");
    cJSON_AddStringToObject(p, "Handler", "bootstrap");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "Architectures"),
                         str(o->arch));
    cJSON_AddNumberToObject(p, "MemorySize", (double)o->memory_mb);
    cJSON_AddNumberToObject(p, "Timeout", 900);
    cJSON_AddItemToObject(p, "Role", att("WorkerRole", "Arn"));
    cJSON *code = cJSON_AddObjectToObject(p, "Code");
    cJSON_AddItemToObject(code, "S3Bucket", ref("Bucket"));
    cJSON_AddStringToObject(code, "S3Key", o->package);
    cJSON_AddItemToObject(cJSON_AddObjectToObject(p, "LoggingConfig"),
                          "LogGroup", ref("LogGroup"));
    p = resource(res, "WorkerInvokeConfig", "AWS::Lambda::EventInvokeConfig");
    cJSON_AddItemToObject(p, "FunctionName", ref("WorkerFunction"));
    cJSON_AddStringToObject(p, "Qualifier", "$LATEST");
    cJSON_AddNumberToObject(p, "MaximumEventAgeInSeconds", 60);
    cJSON_AddNumberToObject(p, "MaximumRetryAttempts", 0);
}

/* The server baseline's role and instance profile (--server): an
 * instance of sdsinf aws server reads the stack's bucket (its package and
 * inputs, which may be "directories": a listing) and writes its runs/,
 * nothing else. */
static void server_role(cJSON *res)
{
    static const char *const get[] = {"s3:GetObject", NULL};
    static const char *const list[] = {"s3:ListBucket", NULL};
    static const char *const put[] = {"s3:PutObject", NULL};
    cJSON *p = resource(res, "ServerRole", "AWS::IAM::Role");
    cJSON_AddItemToObject(p, "AssumeRolePolicyDocument",
                          trust("ec2.amazonaws.com"));
    cJSON *statements[] = {
        allow("StackObjects", get, sub("${Bucket.Arn}/*")),
        allow("StackBucket", list, att("Bucket", "Arn")),
        allow("StackRuns", put, sub("${Bucket.Arn}/runs/*")), NULL};
    cJSON *pol = cJSON_CreateObject();
    cJSON_AddStringToObject(pol, "PolicyName", "sdsinf-server");
    cJSON_AddItemToObject(pol, "PolicyDocument", policy_document(statements));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "Policies"), pol);
    p = resource(res, "ServerProfile", "AWS::IAM::InstanceProfile");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "Roles"), ref("ServerRole"));
}

/* The queues, their subscriptions and the policy letting the topic send
 * to them. */
static void queues(cJSON *res, const aws_opts *o)
{
    for (long w = 0; w <= o->max_workers; w++) {
        char name[32], qname[48], filter[64];
        snprintf(name, sizeof name, "Queue%ld", w);
        snprintf(qname, sizeof qname, "${AWS::StackName}-%ld", w);
        cJSON *p = resource(res, name, "AWS::SQS::Queue");
        cJSON_AddItemToObject(p, "QueueName", sub(qname));
        cJSON_AddNumberToObject(p, "VisibilityTimeout", 300);
        cJSON_AddNumberToObject(p, "MessageRetentionPeriod", 3600);
        snprintf(name, sizeof name, "Subscription%ld", w);
        p = resource(res, name, "AWS::SNS::Subscription");
        cJSON_AddItemToObject(p, "TopicArn", ref("Topic"));
        cJSON_AddStringToObject(p, "Protocol", "sqs");
        snprintf(name, sizeof name, "Queue%ld", w);
        cJSON_AddItemToObject(p, "Endpoint", att(name, "Arn"));
        cJSON_AddBoolToObject(p, "RawMessageDelivery", 1);
        snprintf(filter, sizeof filter, "%ld", w);
        cJSON_AddItemToArray(
            cJSON_AddArrayToObject(cJSON_AddObjectToObject(p, "FilterPolicy"),
                                   "target"),
            str(filter));
    }
    cJSON *p = resource(res, "QueuePolicy", "AWS::SQS::QueuePolicy");
    cJSON *qs = cJSON_AddArrayToObject(p, "Queues");
    for (long w = 0; w <= o->max_workers; w++) {
        char name[32];
        snprintf(name, sizeof name, "Queue%ld", w);
        cJSON_AddItemToArray(qs, ref(name));
    }
    static const char *const send[] = {"sqs:SendMessage", NULL};
    cJSON *s = allow("TopicSends", send, queue_arns(o->max_workers));
    cJSON_AddStringToObject(cJSON_AddObjectToObject(s, "Principal"), "Service",
                            "sns.amazonaws.com");
    cJSON_AddItemToObject(
        cJSON_AddObjectToObject(cJSON_AddObjectToObject(s, "Condition"),
                                "ArnEquals"),
        "aws:SourceArn", ref("Topic"));
    cJSON_AddItemToObject(p, "PolicyDocument",
                          policy_document((cJSON *[]){s, NULL}));
}

static void output(cJSON *outs, const char *key, const char *about,
                   cJSON *value)
{
    cJSON *o = cJSON_AddObjectToObject(outs, key);
    cJSON_AddStringToObject(o, "Description", about);
    cJSON_AddItemToObject(o, "Value", value);
}

/* The whole template (NULL: no memory). */
static cJSON *template_make(const aws_opts *o)
{
    char about[400], workers[24], memory[24];
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "AWSTemplateFormatVersion", "2010-09-09");
    snprintf(about, sizeof about,
             "sdsinf %s: the AWS channels' resources for runs of up to %ld "
             "workers (sqs, sns, s3 with --stack), the worker role%s%s",
             sdsinf_version(), o->max_workers,
             o->package ? " and the worker function" : "",
             o->server ? ", the server baseline's instance profile" : "");
    cJSON_AddStringToObject(t, "Description", about);
    cJSON *meta = cJSON_AddObjectToObject(cJSON_AddObjectToObject(t, "Metadata"),
                                          "sdsinf");
    cJSON_AddStringToObject(meta, "Version", sdsinf_version());
    cJSON_AddNumberToObject(meta, "MaxWorkers", (double)o->max_workers);
    cJSON_AddStringToObject(
        meta, "LeastPrivilege",
        "WorkerRole names only this stack's queues, topic, bucket and log "
        "group, and only the actions sdsinf calls on them; no Resource '*': "
        "the actions AWS grants only on '*' (sqs:ListQueues, sns:ListTopics) "
        "serve runs that make their own queues and topic, not runs on a "
        "stack. logs:CreateLogStream and logs:PutLogEvents are Lambda's, "
        "writing the function's output. ServerRole (--server) reads the "
        "bucket and writes only its runs/.");
    cJSON *res = cJSON_AddObjectToObject(t, "Resources");
    cJSON *p = resource(res, "Bucket", "AWS::S3::Bucket");
    cJSON *pab = cJSON_AddObjectToObject(p, "PublicAccessBlockConfiguration");
    static const char *const blocks[] = {"BlockPublicAcls", "BlockPublicPolicy",
                                         "IgnorePublicAcls",
                                         "RestrictPublicBuckets"};
    for (int i = 0; i < 4; i++)
        cJSON_AddBoolToObject(pab, blocks[i], 1);
    p = resource(res, "Topic", "AWS::SNS::Topic");
    cJSON_AddItemToObject(p, "TopicName", sub("${AWS::StackName}"));
    queues(res, o);
    p = resource(res, "LogGroup", "AWS::Logs::LogGroup");
    cJSON_AddItemToObject(p, "LogGroupName",
                          sub("/aws/lambda/${AWS::StackName}-worker"));
    cJSON_AddNumberToObject(p, "RetentionInDays", LOG_RETENTION_DAYS);
    worker_role(res, o);
    /* The worker function's slot: present with --package KEY. */
    if (o->package)
        worker_function(res, o);
    if (o->server)
        server_role(res);
    cJSON *outs = cJSON_AddObjectToObject(t, "Outputs");
    snprintf(workers, sizeof workers, "%ld", o->max_workers);
    output(outs, SDSINF_STACK_OUT_BUCKET, "the s3 channel's bucket",
           ref("Bucket"));
    output(outs, SDSINF_STACK_OUT_TOPIC, "the sns channel's topic",
           ref("Topic"));
    output(outs, SDSINF_STACK_OUT_QUEUES,
           "worker w's queue is <prefix>-<w> (sqs and sns)",
           ref("AWS::StackName"));
    output(outs, SDSINF_STACK_OUT_WORKERS, "the most workers a run may have",
           str(workers));
    output(outs, SDSINF_STACK_OUT_ROLE, "the worker function's role",
           att("WorkerRole", "Arn"));
    output(outs, "LogGroupName", "the worker function's logs",
           ref("LogGroup"));
    if (o->package) {
        snprintf(memory, sizeof memory, "%ld", o->memory_mb);
        output(outs, "FunctionName", "the worker function",
               ref("WorkerFunction"));
        output(outs, OUT_MEMORY, "the worker function's memory (MB)",
               str(memory));
        output(outs, OUT_ARCH, "the worker function's architecture",
               str(o->arch));
    }
    if (o->server)
        output(outs, SDSINF_STACK_OUT_SERVER_PROFILE,
               "the instance profile of sdsinf aws server's instances",
               att("ServerProfile", "Arn"));
    return t;
}

/* The template as text (formatted or not), its resources counted into
 * *resources (may be NULL); NULL: no memory (said). */
char *aws_template_text(const aws_opts *o, int formatted, int *resources)
{
    cJSON *t = template_make(o);
    char *s = t ? (formatted ? cJSON_Print(t) : cJSON_PrintUnformatted(t))
                : NULL;
    if (resources)
        *resources = cJSON_GetArraySize(cJSON_GetObjectItem(t, "Resources"));
    cJSON_Delete(t);
    if (!s)
        fprintf(stderr, "sdsinf aws: no memory for the template\n");
    return s;
}

/* ---- The subcommands -------------------------------------------------------------- */


/* deploy's progress: each line of the stack's events, and on a terminal
 * (meter.h) the template's resources made of all, redrawn under them. */
typedef struct deploy_meter {
    meter m;
    int done, total;
} deploy_meter;

static void deploy_progress(const char *line, void *arg)
{
    deploy_meter *d = arg;
    char status[64], type[128];
    /* an event is "  TIME STATUS TYPE LOGICAL..." (src/aws/stack.c) */
    if (line[0] == ' ' &&
        sscanf(line, "%*s %63s %127s", status, type) == 2 &&
        strcmp(type, "AWS::CloudFormation::Stack") &&
        (!strcmp(status, "CREATE_COMPLETE") ||
         !strcmp(status, "UPDATE_COMPLETE")))
        d->done++;
    meter_note(&d->m, line);
    meter_show(&d->m, d->done, d->total);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The stack's workers and the function's memory and architecture when
 * not given: the deployed one's (the stack's outputs; with this build's
 * package, its own arch), else WORKERS_DEFAULT, MEMORY_DEFAULT and this
 * build's, so a redeploy changes only what it is given. */
static void function_defaults(aws_opts *o, const sdsinf_stack_info *was)
{
    for (int i = 0; was && i < was->noutputs; i++) {
        const char *k = was->outputs[i].key, *v = was->outputs[i].value;
        if (!o->max_workers && !strcmp(k, SDSINF_STACK_OUT_WORKERS))
            o->max_workers = atol(v) >= 1 && atol(v) <= WORKERS_MAX ? atol(v)
                                                                   : 0;
        if (!o->memory_mb && !strcmp(k, OUT_MEMORY))
            o->memory_mb = atol(v) >= 128 && atol(v) <= 10240 ? atol(v) : 0;
        if (!o->arch && o->package && !strcmp(k, OUT_ARCH) &&
            (!strcmp(v, "x86_64") || !strcmp(v, "arm64")))
            o->arch = !strcmp(v, "arm64") ? "arm64" : "x86_64";
    }
    o->max_workers = o->max_workers ? o->max_workers : WORKERS_DEFAULT;
    o->memory_mb = o->memory_mb ? o->memory_mb : MEMORY_DEFAULT;
    o->arch = o->arch ? o->arch : THIS_ARCH;
}

static int aws_template(int argc, char **argv)
{
    aws_opts o;
    int rc = aws_flags("template", argc, argv,
                       "--max-workers --workers --package --memory --arch "
                       "--server",
                       &o);
    if (!rc)
        function_defaults(&o, NULL);
    char *s = rc ? NULL : aws_template_text(&o, 1, NULL);
    if (rc || !s)
        return rc ? rc : 1;
    puts(s);
    cJSON_free(s);
    return 0;
}

/* The stack's outputs as a JSON object (into parent as "outputs"). */
static void outputs_json(cJSON *parent, const sdsinf_stack_info *st)
{
    cJSON *o = cJSON_AddObjectToObject(parent, "outputs");
    for (int i = 0; o && i < st->noutputs; i++)
        cJSON_AddStringToObject(o, st->outputs[i].key, st->outputs[i].value);
}

static void outputs_print(const sdsinf_stack_info *st, FILE *f)
{
    for (int i = 0; i < st->noutputs; i++)
        fprintf(f, "  %-14s %s\n", st->outputs[i].key, st->outputs[i].value);
}

static int aws_deploy(int argc, char **argv)
{
    aws_opts o;
    sdsinf_err err = {0};
    sdsinf_stack_info st;
    sdsinf_package_info pkg;
    char key[128];
    int uploaded = 0, built = 0;
    deploy_meter dm = {{0}, 0, 0};
    int rc = aws_flags("deploy", argc, argv,
                       "--stack --max-workers --workers --package "
                       "--no-function --memory --arch --server --json "
                       "--progress --no-progress",
                       &o);
    if (rc || (rc = aws_stack_check("deploy", &o)))
        return rc;
    if (o.package && o.no_function)
        return aws_usage_error("deploy", "--package and --no-function%s: give "
                           "one of them", "");
    function_defaults(&o, sdsinf_stack_describe(o.stack, &st, &err) == SDSINF_OK
                              ? &st
                              : NULL); /* none yet: the defaults */
    if (!o.package && !o.no_function && strcmp(o.arch, THIS_ARCH))
        return aws_usage_error("deploy", "--arch %s: deploy packages this "
                           "sdsinf, built for " THIS_ARCH " (deploy from a "
                           "build for the other, or give --package KEY, such "
                           "a build's zip in the stack's bucket)", o.arch);
    double t0 = now_s();
    fprintf(stderr, "deploying stack %s (up to %ld workers%s)\n", o.stack,
            o.max_workers, o.no_function ? ", no function" : "");
    if (!o.package && !o.no_function) { /* this program is the function */
        if (aws_deploy_package(&o, key, sizeof key, &pkg, &uploaded, &err) !=
            SDSINF_OK)
            return cli_error(&err);
        o.package = key;
        built = 1;
    }
    char *body = aws_template_text(&o, 0, &dm.total);
    if (!body)
        return 1;
    meter_begin(&dm.m, meter_wanted(o.progress, o.no_progress, o.json, 0),
                "aws deploy", "resources");
    rc = sdsinf_stack_deploy(o.stack, body, deploy_progress, &dm, &err);
    meter_end(&dm.m);
    cJSON_free(body);
    if (rc == SDSINF_OK)
        rc = sdsinf_stack_describe(o.stack, &st, &err);
    if (rc != SDSINF_OK)
        return cli_error(&err);
    double secs = now_s() - t0;
    if (!o.json) {
        printf("stack %s: %s in %.1f s\n", o.stack, st.status, secs);
        if (o.package)
            printf("function %s-worker: %s%s, %ld MB, %s\n", o.stack,
                   o.package,
                   built ? (uploaded ? " (uploaded)" : " (there already)")
                         : "",
                   o.memory_mb, o.arch);
        if (built)
            aws_package_print(&pkg, stdout);
        printf("outputs:\n");
        outputs_print(&st, stdout);
        printf("run with: sdsinf run %s--channel sqs|sns|s3 --stack %s ...\n",
               o.package ? "[--launcher lambda] " : "", o.stack);
        return 0;
    }
    cJSON *j = cJSON_CreateObject(), *fn = NULL;
    cJSON_AddStringToObject(j, "stack", o.stack);
    cJSON_AddStringToObject(j, "status", st.status);
    cJSON_AddNumberToObject(j, "max_workers", (double)o.max_workers);
    cJSON_AddNumberToObject(j, "seconds", secs);
    if (o.package) {
        fn = built ? aws_package_json(&pkg) : cJSON_CreateObject();
        cJSON_AddStringToObject(fn, "key", o.package);
        if (built)
            cJSON_AddBoolToObject(fn, "uploaded", uploaded);
    }
    cJSON_AddItemToObject(j, "package", fn ? fn : cJSON_CreateNull());
    cJSON *f = o.package ? cJSON_AddObjectToObject(j, "function") : NULL;
    if (f) {
        cJSON_AddNumberToObject(f, "memory_mb", (double)o.memory_mb);
        cJSON_AddStringToObject(f, "arch", o.arch);
    } else {
        cJSON_AddNullToObject(j, "function");
    }
    outputs_json(j, &st);
    rc = cli_json_write(j, stdout, &err);
    putchar('\n');
    return rc == SDSINF_OK ? 0 : cli_error(&err);
}

/* status: a resource as a line, or into the JSON array. */
typedef struct status_out {
    cJSON *list; /* --json */
} status_out;

/* The width of the type column: the longest type a template of aws.c has
 * (AWS::Lambda::EventInvokeConfig). */
#define TYPE_WIDTH 30

static int resource_out(const sdsinf_stack_item *it, void *arg)
{
    status_out *s = arg;
    if (!s->list) {
        printf("  %-*s %-22s %-16s %s\n", TYPE_WIDTH, it->type, it->logical,
               it->status, it->physical);
        return 0;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "type", it->type);
    cJSON_AddStringToObject(r, "logical", it->logical);
    cJSON_AddStringToObject(r, "physical", it->physical);
    cJSON_AddStringToObject(r, "status", it->status);
    cJSON_AddItemToArray(s->list, r);
    return 0;
}

static int aws_status(int argc, char **argv)
{
    aws_opts o;
    sdsinf_err err = {0};
    sdsinf_stack_info st;
    int rc = aws_flags("status", argc, argv, "--stack --json", &o);
    if (rc || (rc = aws_stack_check("status", &o)))
        return rc;
    if (sdsinf_stack_describe(o.stack, &st, &err) != SDSINF_OK)
        return cli_error(&err);
    cJSON *j = o.json ? cJSON_CreateObject() : NULL;
    status_out so = {j ? cJSON_CreateArray() : NULL};
    if (!j) {
        printf("stack %s: %s%s%s\noutputs:\n", o.stack, st.status,
               st.reason[0] ? ": " : "", st.reason);
        outputs_print(&st, stdout);
        printf("resources:\n");
    }
    rc = sdsinf_stack_resources(o.stack, resource_out, &so, &err);
    if (rc != SDSINF_OK) {
        cJSON_Delete(j);
        cJSON_Delete(so.list);
        return cli_error(&err);
    }
    if (!j)
        return aws_runs_show(&st, NULL);
    cJSON_AddStringToObject(j, "stack", o.stack);
    cJSON_AddStringToObject(j, "status", st.status);
    cli_json_add_string(j, "reason", st.reason[0] ? st.reason : NULL);
    outputs_json(j, &st);
    cJSON_AddItemToObject(j, "resources", so.list);
    if ((rc = aws_runs_show(&st, j)) != 0) {
        cJSON_Delete(j);
        return rc;
    }
    rc = cli_json_write(j, stdout, &err);
    putchar('\n');
    return rc == SDSINF_OK ? 0 : cli_error(&err);
}

static int aws_destroy(int argc, char **argv)
{
    aws_opts o;
    sdsinf_err err = {0};
    int rc = aws_flags("destroy", argc, argv, "--stack --json", &o);
    if (rc || (rc = aws_stack_check("destroy", &o)))
        return rc;
    double t0 = now_s();
    sdsinf_stack_info st;
    /* no such stack (describe's EINVAL): one answer, "none"; any other
     * failure destroy itself reports */
    int none = sdsinf_stack_describe(o.stack, &st, &err) == SDSINF_EINVAL;
    if (!none)
        fprintf(stderr, "destroying stack %s\n", o.stack);
    if (sdsinf_stack_destroy(o.stack, none ? NULL : aws_to_stderr, NULL,
                             &err) != SDSINF_OK)
        return cli_error(&err);
    double secs = now_s() - t0;
    if (!o.json) {
        if (none)
            printf("stack %s: none (nothing to remove)\n", o.stack);
        else
            printf("stack %s: removed in %.1f s\n", o.stack, secs);
        return 0;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "stack", o.stack);
    cJSON_AddStringToObject(j, "status", none ? "NONE" : "DELETE_COMPLETE");
    cJSON_AddNumberToObject(j, "seconds", secs);
    rc = cli_json_write(j, stdout, &err);
    putchar('\n');
    return rc == SDSINF_OK ? 0 : cli_error(&err);
}

/* ---- The table ------------------------------------------------------------------------ */

typedef struct aws_command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv after the subcommand */
    const char *synopsis, *about;
    int own_help; /* answers --help itself (its flags' table) */
} aws_command;

static const aws_command AWS_COMMANDS[] = {
    {"package", aws_package,
     "--out FILE | --image DIR [--bootstrap EXE] [--json]",
     "the Lambda function's code: a zip of the bootstrap (this program, or "
     "EXE) and the libraries it needs that Amazon Linux 2023 lacks (lib/), "
     "checked against AL2023's glibc 2.34; or, with --image, a directory "
     "with a Dockerfile on the provided.al2023 image and those files", 0},
    {"template", aws_template,
     "[--max-workers N] [--package KEY [--memory MB] [--arch A]] [--server]",
     "print the CloudFormation template sdsinf deploys: a bucket, a topic, "
     "queues 0..N subscribed to it, the worker role; with --package the "
     "worker function from the zip at KEY in the stack's bucket; with "
     "--server the role and instance profile of sdsinf aws server", 0},
    {"deploy", aws_deploy,
     "--stack NAME [--max-workers N] [--memory MB] [--arch A] "
     "[--package KEY | --no-function] [--server] [--json] "
     "[--progress|--no-progress]",
     "create (or update) the stack and wait for it, its events on stderr "
     "(on a terminal, under them, its resources made so far); N: the most "
     "workers a run on it may have (default 16, up to 64). "
     "The worker function's code is this program's package, stored in the "
     "stack's bucket under its hash (the same package uploads nothing); "
     "--package KEY: a zip there already; --no-function: the channels' "
     "resources only", 0},
    {"upload", aws_upload,
     "--stack NAME [--weights P] [--plan P] [--images P] [--check P] "
     "[--json]",
     "stage a model, plan, images and golden file in the stack's bucket, "
     "content-addressed (what is there already is not uploaded again), and "
     "print their s3:// locations for run", 0},
    {"run", aws_run, "--stack NAME [--wait-s S] [--json] RUN'S FLAGS",
     "a run whose coordinator is the stack's function too: local data "
     "staged first, the run's JSON, categories and metrics written to "
     "s3://BUCKET/runs/NAME/, waited for there (default 960 s) and printed "
     "as sdsinf run prints it (local --out, --scores, --metrics fetched)", 0},
    {"status", aws_status, "--stack NAME [--json]",
     "the stack's state, its outputs, its resources and its last runs", 0},
    {"destroy", aws_destroy, "--stack NAME [--json]",
     "empty the stack's bucket, terminate its server instances, delete the "
     "stack and wait until it is gone", 0},
    {"server", aws_server, AWS_SERVER_SYNOPSIS, AWS_SERVER_ABOUT, 1},
    {"server-report", aws_server_report, AWS_SERVER_REPORT_SYNOPSIS,
     AWS_SERVER_REPORT_ABOUT, 1},
};
#define NAWS (sizeof AWS_COMMANDS / sizeof *AWS_COMMANDS)

void aws_usage(FILE *f)
{
    fputs("  aws template|deploy|upload|run|status|destroy|package [--stack "
          "NAME] [options]\n"
          "      the Lambda package and the AWS stack the sqs, sns and s3 "
          "channels\n      and the worker function run on (run --stack "
          "NAME);\n      aws server: the server baseline on EC2; sdsinf aws "
          "help for each\n",
          f);
}

/* The usage of every subcommand, or of `only` (NULL: all). */
static void aws_help(FILE *f, const aws_command *only)
{
    fputs(only ? "usage:\n" : "usage: sdsinf aws SUBCOMMAND [options]\n\n",
          f);
    for (size_t i = 0; i < NAWS; i++)
        if (!only || only == &AWS_COMMANDS[i])
            fprintf(f, "  sdsinf aws %s %s\n      %s\n",
                    AWS_COMMANDS[i].name, AWS_COMMANDS[i].synopsis,
                    AWS_COMMANDS[i].about);
    fputs("\nEndpoint, region and credentials: the standard AWS configuration "
          "(AWS_ENDPOINT_URL, AWS_REGION, AWS_PROFILE, ~/.aws).\n",
          f);
}

/* 1 when the arguments ask for the usage (--help or -h). */
static int help_asked(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    return 0;
}

int aws_main(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "help") || !strcmp(argv[0], "--help") ||
        !strcmp(argv[0], "-h")) {
        aws_help(argc < 1 ? stderr : stdout, NULL);
        return argc < 1 ? EXIT_USAGE : 0;
    }
    for (size_t i = 0; i < NAWS; i++) {
        if (strcmp(argv[0], AWS_COMMANDS[i].name))
            continue;
        if (!AWS_COMMANDS[i].own_help && help_asked(argc - 1, argv + 1)) {
            aws_help(stdout, &AWS_COMMANDS[i]);
            return 0;
        }
        return AWS_COMMANDS[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "sdsinf aws: unknown subcommand '%s' (known:", argv[0]);
    for (size_t i = 0; i < NAWS; i++)
        fprintf(stderr, "%s %s", i ? "," : "", AWS_COMMANDS[i].name);
    fputs(")\n", stderr);
    return EXIT_USAGE;
}
