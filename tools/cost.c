/* cost.c - `sdsinf cost RUN.json|METRICS_PREFIX` (cost.h): the recorded
 * run's usage (requests by service, bytes, Lambda, instance time) read
 * from its JSON, priced by the library (sdsinf_cost_compute) under the
 * price table, printed as a table or one JSON object.
 * Sections: the record, its usage, printing, entry. */
#include "cost.h"
#include "cli_util.h"
#include "json_in.h"
#include "prices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RECORD_MAX_BYTES (256u << 20)
#define MAX_EXACT 9007199254740992LL /* 2^53 */

/* ---- the record ------------------------------------------------------------ */

/* A recorded run: its JSON and where its fields are. */
typedef struct record {
    char *path;        /* the file read */
    cJSON *doc;        /* the whole object */
    const cJSON *run;  /* the run's fields: doc, or doc.run (metrics) */
    int metrics;       /* a --metrics PREFIX.json (SDS-Inf's column names) */
} record;

/* input, or input.json when input names no file (a metrics prefix). */
static char *record_path(const char *input)
{
    struct stat st;
    size_t n = strlen(input) + 6;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s", input,
                 stat(input, &st) == 0 && !S_ISDIR(st.st_mode) ? ""
                                                               : ".json");
    return p;
}

/* The start of the last non-blank line of text[0..len). */
static size_t last_line(const char *text, size_t len)
{
    size_t end = len;
    while (end > 0 && strchr(" \t\r\n", text[end - 1]) && text[end - 1])
        end--;
    size_t start = end;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    return start;
}

/* Reads the record at input: the file as one JSON object, else its last
 * line (what `run --json` printed after other output). */
static int record_load(const char *input, record *rec, sdsinf_err *err)
{
    json_reader r = {NULL, "run record", NULL, err};
    char *buf = NULL;
    size_t len = 0;
    int rc;
    memset(rec, 0, sizeof *rec);
    if (!(rec->path = record_path(input)))
        return cli_fail(err, SDSINF_ENOMEM, "no memory");
    r.name = rec->path;
    rc = cli_read_file(rec->path, RECORD_MAX_BYTES, &buf, &len, err);
    if (rc == SDSINF_EIO && strcmp(rec->path, input))
        return cli_fail(err, SDSINF_EIO, "%s: cannot open it, nor %s (a "
                        "--metrics PREFIX's): give what `sdsinf run --json` "
                        "printed, or the PREFIX", input, rec->path);
    if (rc)
        return rc;
    size_t start = last_line(buf, len);
    rc = json_parse_object(&r, buf, len, &rec->doc);
    if (rc == SDSINF_EPARSE && start > 0) { /* the error stays the file's */
        sdsinf_err line_err = {0};
        json_reader lr = r;
        lr.err = &line_err;
        if (json_parse_object(&lr, buf + start, len - start, &rec->doc) ==
            SDSINF_OK)
            rc = SDSINF_OK;
    }
    free(buf);
    if (rc != SDSINF_OK)
        return rc;
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(rec->doc, "run");
    rec->metrics = cJSON_IsObject(run);
    rec->run = rec->metrics ? run : rec->doc;
    return SDSINF_OK;
}

static void record_free(record *rec)
{
    cJSON_Delete(rec->doc);
    free(rec->path);
    memset(rec, 0, sizeof *rec);
}

/* ---- its usage ------------------------------------------------------------- */

/* The services the cost model knows, and how a channel uses them. */
typedef enum { SVC_NONE, SVC_SQS, SVC_SNS, SVC_S3 } svc;

static svc service_named(const char *name)
{
    return !name                ? SVC_NONE
           : !strcmp(name, "sqs") ? SVC_SQS
           : !strcmp(name, "sns") ? SVC_SNS
           : !strcmp(name, "s3")  ? SVC_S3
                                  : SVC_NONE;
}

/* The kinds of a request map (sdsinf_requests' fields), then "bytes",
 * which a service's map in requests by service may add. */
static const char *const KINDS[] = {"send", "receive", "empty",   "remove",
                                    "list", "retries", "units",   "bytes",
                                    NULL};
/* A channel's one map: the kinds, then how many of the units its sends
 * billed and the S3 requests of a claim check (each optional), and a
 * Lambda run's invocations (priced from its lambda object). */
static const char *const FLAT_KINDS[] = {
    "send",  "receive",    "empty",  "remove", "list",    "retries",
    "units", "send_units", "s3_put", "s3_get", "s3_list", "s3_remove",
    "lambda_invocations", NULL};

/* One request map (at path `at`) into *q, and its bytes into *bytes when
 * bytes is not NULL (a service's map). */
static int read_requests(const json_reader *r, const cJSON *o,
                         const char *at, sdsinf_requests *q, uint64_t *bytes)
{
    uint64_t *field[] = {&q->send, &q->receive, &q->empty, &q->remove,
                         &q->list, &q->retries, &q->units, bytes};
    uint64_t *flat[] = {&q->send_units, &q->s3_put, &q->s3_get, &q->s3_list,
                        &q->s3_remove};
    int nkinds = bytes ? 8 : 7;
    int rc = json_known_members(r, o, at, bytes ? KINDS : FLAT_KINDS);
    for (int k = 0; rc == SDSINF_OK && k < nkinds; k++) {
        long long n = 0;
        rc = json_integer_member(r, o, at, KINDS[k], 0, MAX_EXACT, 0, &n);
        *field[k] = (uint64_t)n;
    }
    for (int k = 0; !bytes && rc == SDSINF_OK && k < 5; k++) {
        long long n = 0;
        rc = json_integer_member(r, o, at, FLAT_KINDS[7 + k], 0, MAX_EXACT,
                                 0, &n);
        *flat[k] = (uint64_t)n;
    }
    if (rc == SDSINF_OK && q->empty > q->receive)
        rc = cli_fail(r->err, SDSINF_EPARSE, "%s: %s counts %llu empty "
                      "receives of %llu receives", r->name, at,
                      (unsigned long long)q->empty,
                      (unsigned long long)q->receive);
    return rc;
}

/* A channel's requests (one map) as the services it uses bill them: a
 * queue channel's s3_ counts (its claim check) as S3 requests. */
static void usage_of_channel(svc s, const sdsinf_requests *q, uint64_t bytes,
                             sdsinf_usage *u)
{
    if (s == SVC_SQS || s == SVC_SNS) {
        u->s3.send = q->s3_put;
        u->s3.receive = q->s3_get;
        u->s3.list = q->s3_list;
        u->s3.remove = q->s3_remove;
    }
    if (s == SVC_SQS) {
        u->sqs = *q;
        u->sqs_bytes = bytes;
    } else if (s == SVC_S3) {
        u->s3 = *q;
    } else if (s == SVC_SNS) { /* publishes (send) to SNS, the rest SQS
                                  requests; the channel counts the units
                                  of both together (exact in sum) and of
                                  the publishes (send_units); without
                                  those, the publishes' share is
                                  estimated from the bytes, sent as base64
                                  (4/3 of them) */
        u->sns.send = q->send;
        u->sns.retries = q->retries;
        u->sqs.receive = q->receive;
        u->sqs.empty = q->empty;
        u->sqs.remove = q->remove;
        u->sqs.list = q->list;
        u->sns_bytes = u->sqs_bytes = bytes;
        if (q->send_units && q->send_units <= q->units) {
            u->sns.units = q->send_units;
            u->sqs.units = q->units - q->send_units;
        } else if (q->units && q->send) {
            uint64_t share = (bytes / 3 * 4 + q->send - 1) / q->send;
            uint64_t pub = q->send * (share <= 65536 ? 1
                                                     : (share + 65535) / 65536);
            u->sns.units = pub < q->units ? pub : q->units;
            u->sqs.units = q->units - u->sns.units;
        }
    }
}

/* Adds the S3 requests of a run's s3:// locations (its JSON's
 * storage_requests) to its S3 usage. */
static void usage_of_storage(const sdsinf_requests *q, sdsinf_usage *u)
{
    u->s3.send += q->send;
    u->s3.receive += q->receive;
    u->s3.remove += q->remove;
    u->s3.list += q->list;
    u->s3.retries += q->retries;
}

/* The usage of a run record: what its channel (or `as`) billed. */
typedef struct run_usage {
    sdsinf_usage u;
    const char *channel;   /* as recorded */
    const char *priced_as; /* the service its requests are priced as, or
                              NULL when not billed */
    int workers;
    uint64_t requests;     /* all its counted requests */
} run_usage;

static int read_lambda_instance(const json_reader *r, const cJSON *run,
                                sdsinf_usage *u)
{
    const cJSON *o;
    const char *arch = NULL;
    long long inv = 0;
    static const char *const lkeys[] = {"invocations", "gb_seconds", "arch",
                                        "memory_mb", "warm", NULL};
    static const char *const ikeys[] = {"type", "seconds", NULL};
    int rc;
    if ((rc = json_object_member(r, run, "", "lambda", 0, &o)))
        return rc;
    if (o && ((rc = json_known_members(r, o, "lambda", lkeys)) ||
              (rc = json_integer_member(r, o, "lambda", "invocations", 0,
                                        MAX_EXACT, 0, &inv)) ||
              (rc = json_number_member(r, o, "lambda", "gb_seconds", 0, 1e15,
                                       0, &u->lambda_gb_seconds)) ||
              (rc = json_string_member(r, o, "lambda", "arch", 0, &arch))))
        return rc;
    u->lambda_invocations = (uint64_t)inv;
    if (arch && strcmp(arch, "x86_64") && strcmp(arch, "arm64"))
        return cli_fail(r->err, SDSINF_EPARSE, "%s: lambda.arch is '%s', not "
                        "x86_64 or arm64", r->name, arch);
    u->lambda_arch = arch && !strcmp(arch, "arm64") ? SDSINF_ARCH_ARM64
                                                    : SDSINF_ARCH_X86_64;
    if ((rc = json_object_member(r, run, "", "instance", 0, &o)) || !o)
        return rc;
    if ((rc = json_known_members(r, o, "instance", ikeys)) ||
        (rc = json_string_member(r, o, "instance", "type", 1,
                                 &u->instance)) ||
        (rc = json_number_member(r, o, "instance", "seconds", 0, 1e12, 1,
                                 &u->instance_seconds)))
        return rc;
    return SDSINF_OK;
}

/* The usage recorded in a run JSON (`sdsinf run --json`). */
static int usage_of_run(const json_reader *r, const cJSON *run,
                        const char *as, run_usage *ru)
{
    const cJSON *req, *storage;
    sdsinf_requests sq = {0}; /* storage_requests */
    long long workers = 0, bytes = 0;
    int rc;
    if ((rc = json_string_member(r, run, "", "channel", 1, &ru->channel)) ||
        (rc = json_integer_member(r, run, "", "workers", 0, 65536, 0,
                                  &workers)) ||
        (rc = json_integer_member(r, run, "", "bytes_sent", 0, MAX_EXACT, 0,
                                  &bytes)) ||
        (rc = json_object_member(r, run, "", "requests", 1, &req)) ||
        (rc = json_object_member(r, run, "", "storage_requests", 0,
                                 &storage)) ||
        (rc = read_lambda_instance(r, run, &ru->u)))
        return rc;
    ru->workers = (int)workers;
    if (storage) { /* S3 requests of its s3:// inputs and outputs, added
                      once the channel's are in */
        if ((rc = read_requests(r, storage, "storage_requests", &sq, NULL)))
            return rc;
        ru->requests += sq.send + sq.receive + sq.remove + sq.list;
    }
    int nested = req->child && cJSON_IsObject(req->child);
    if (!nested) {
        sdsinf_requests q = {0};
        if ((rc = read_requests(r, req, "requests", &q, NULL)))
            return rc;
        svc s = service_named(as ? as : ru->channel);
        ru->priced_as = s == SVC_NONE ? NULL : as ? as : ru->channel;
        ru->requests += q.send + q.receive + q.remove + q.list;
        usage_of_channel(s, &q, (uint64_t)bytes, &ru->u);
        usage_of_storage(&sq, &ru->u);
        return SDSINF_OK;
    }
    if (as)
        return cli_fail(r->err, SDSINF_EINVAL, "%s: its requests are already "
                        "by service: --as prices a run on a channel that is "
                        "not an AWS service", r->name);
    ru->priced_as = ru->channel;
    for (const cJSON *c = req->child; c; c = c->next) {
        char at[96];
        sdsinf_requests q = {0};
        uint64_t b = 0;
        const cJSON *dup;
        svc s = service_named(c->string);
        json_key_path(at, sizeof at, "requests", c->string ? c->string : "?");
        if (s == SVC_NONE || !cJSON_IsObject(c))
            return cli_fail(r->err, SDSINF_EPARSE, "%s: %s: the requests by "
                            "service are objects named sqs, sns or s3",
                            r->name, at);
        if ((rc = json_member(r, req, "requests", c->string, 1, &dup)) ||
            (rc = read_requests(r, c, at, &q, &b)))
            return rc;
        ru->requests += q.send + q.receive + q.remove + q.list;
        if (s == SVC_SQS) {
            ru->u.sqs = q;
            ru->u.sqs_bytes = b;
        } else if (s == SVC_SNS) {
            ru->u.sns = q;
            ru->u.sns_bytes = b;
        } else {
            ru->u.s3 = q;
        }
    }
    usage_of_storage(&sq, &ru->u);
    return SDSINF_OK;
}

/* Whether a metrics column holds a value: present and not null (an empty
 * CSV cell: a run without Lambda, without s3:// locations, or metrics of
 * an older sdsinf without the column). */
static int metrics_has(const cJSON *run, const char *col)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(run, col);
    return v && !cJSON_IsNull(v);
}

/* The counts of columns col[0..n) into *field[k] (0 where empty). */
static int metrics_counts(const json_reader *r, const cJSON *run,
                          const char *const *col, uint64_t *const *field,
                          int n)
{
    int rc = SDSINF_OK;
    for (int k = 0; rc == SDSINF_OK && k < n; k++) {
        long long v = 0;
        if (metrics_has(run, col[k]))
            rc = json_integer_member(r, run, "run", col[k], 0, MAX_EXACT, 1,
                                     &v);
        *field[k] = (uint64_t)v;
    }
    return rc;
}

/* A metrics run's Lambda usage (LAMBDA_*), when it has one. */
static int metrics_lambda(const json_reader *r, const cJSON *run,
                          sdsinf_usage *u)
{
    static const char *const col[] = {"LAMBDA_INVOCATIONS"};
    uint64_t *field[] = {&u->lambda_invocations};
    const char *arch = NULL;
    int rc = metrics_counts(r, run, col, field, 1);
    if (rc == SDSINF_OK && metrics_has(run, "LAMBDA_GB_SECONDS"))
        rc = json_number_member(r, run, "run", "LAMBDA_GB_SECONDS", 0, 1e15,
                                1, &u->lambda_gb_seconds);
    if (rc == SDSINF_OK && metrics_has(run, "LAMBDA_ARCH"))
        rc = json_string_member(r, run, "run", "LAMBDA_ARCH", 1, &arch);
    if (rc == SDSINF_OK && arch && strcmp(arch, "x86_64") &&
        strcmp(arch, "arm64"))
        rc = cli_fail(r->err, SDSINF_EPARSE, "%s: run.LAMBDA_ARCH is '%s', "
                      "not x86_64 or arm64", r->name, arch);
    u->lambda_arch = arch && !strcmp(arch, "arm64") ? SDSINF_ARCH_ARM64
                                                    : SDSINF_ARCH_X86_64;
    return rc;
}

/* The usage recorded in metrics (`--metrics PREFIX`: PREFIX.json's run,
 * keyed by the CSV's column names): the channel's requests (REQUESTS_*),
 * its s3:// locations' (STORAGE_*) and Lambda's (LAMBDA_*). */
static int usage_of_metrics(const json_reader *r, const cJSON *run,
                            const char *as, run_usage *ru)
{
    static const char *const col[] = {
        "REQUESTS_SEND",       "REQUESTS_RECEIVE", "REQUESTS_EMPTY",
        "REQUESTS_REMOVE",     "REQUESTS_LIST",    "REQUESTS_RETRIES",
        "REQUESTS_UNITS",      "REQUESTS_SEND_UNITS", "REQUESTS_S3_PUT",
        "REQUESTS_S3_GET",     "REQUESTS_S3_LIST", "REQUESTS_S3_REMOVE"};
    static const char *const storage_col[] = {
        "STORAGE_SEND", "STORAGE_RECEIVE", "STORAGE_REMOVE", "STORAGE_LIST",
        "STORAGE_RETRIES"};
    sdsinf_requests q = {0}, sq = {0};
    uint64_t *field[] = {&q.send,       &q.receive, &q.empty,  &q.remove,
                         &q.list,       &q.retries, &q.units,
                         &q.send_units, &q.s3_put,  &q.s3_get, &q.s3_list,
                         &q.s3_remove};
    uint64_t *storage[] = {&sq.send, &sq.receive, &sq.remove, &sq.list,
                           &sq.retries};
    long long bytes = 0, workers = 0, n;
    int rc;
    if ((rc = json_string_member(r, run, "run", "CHANNEL", 1,
                                 &ru->channel)) ||
        (rc = json_integer_member(r, run, "run", "TOTAL_NWORKERS", 0, 65536,
                                  0, &workers)) ||
        (rc = json_integer_member(r, run, "run", "METRIC_SIZE_MESSAGES_SENT",
                                  0, MAX_EXACT, 0, &bytes)))
        return rc;
    for (int k = 0; k < 7; k++) { /* the kinds every sdsinf has written */
        n = 0;
        if ((rc = json_integer_member(r, run, "run", col[k], 0, MAX_EXACT, 1,
                                      &n)))
            return rc;
        *field[k] = (uint64_t)n;
    }
    if ((rc = metrics_counts(r, run, col + 7, field + 7, 5)) ||
        (rc = metrics_counts(r, run, storage_col, storage, 5)) ||
        (rc = metrics_lambda(r, run, &ru->u)))
        return rc;
    ru->workers = (int)workers;
    svc s = service_named(as ? as : ru->channel);
    ru->priced_as = s == SVC_NONE ? NULL : as ? as : ru->channel;
    ru->requests = q.send + q.receive + q.remove + q.list + sq.send +
                   sq.receive + sq.remove + sq.list;
    usage_of_channel(s, &q, (uint64_t)bytes, &ru->u);
    usage_of_storage(&sq, &ru->u);
    return SDSINF_OK;
}

/* ---- printing ------------------------------------------------------------- */

static void print_table(const record *rec, const run_usage *ru,
                        const price_table *t, const sdsinf_cost *c)
{
    printf("%s: channel %s, %d workers, at %s prices%s%s%s (%s)\n", rec->path,
           ru->channel, ru->workers, t->prices.region,
           t->region_title ? " (" : "", t->region_title ? t->region_title : "",
           t->region_title ? ")" : "", t->path);
    if (!ru->priced_as)
        printf("  channel %s is not a billed AWS service: its %llu requests "
               "cost nothing (--as sqs, sns or s3 prices them as that AWS "
               "channel's would be; an AWS channel batches, so it would make "
               "fewer)\n", ru->channel, (unsigned long long)ru->requests);
    else if (strcmp(ru->priced_as, ru->channel))
        printf("  its requests priced as %s requests (an estimate: the %s "
               "channel would batch them)\n", ru->priced_as, ru->priced_as);
    if (c->nlines)
        printf("  %-8s %-14s %16s %12s %12s\n", "service", "item", "quantity",
               "USD each", "USD");
    for (int i = 0; i < c->nlines; i++) {
        const sdsinf_cost_line *l = &c->line[i];
        printf("  %-8s %-14s %16.6g %12.4g %12.6f\n", l->service, l->item,
               l->quantity, l->usd_each, l->usd);
    }
    printf("  total %.6f USD (lambda %.6f, sqs %.6f, sns %.6f, s3 %.6f, "
           "ec2 %.6f)%s\n", c->usd, c->lambda_usd, c->sqs_usd, c->sns_usd,
           c->s3_usd, c->ec2_usd,
           c->estimated ? "\n  (64KiB-units estimated from the bytes: the "
                          "channel did not count them)" : "");
}

static int print_json(const record *rec, const run_usage *ru,
                      const price_table *t, const sdsinf_cost *c,
                      sdsinf_err *err)
{
    cJSON *j = cJSON_CreateObject(), *lines, *svcs;
    cli_json_add_string(j, "input", rec->path);
    cli_json_add_string(j, "channel", ru->channel);
    cli_json_add_string(j, "priced_as", ru->priced_as);
    cJSON_AddBoolToObject(j, "billed", ru->priced_as != NULL);
    cli_json_add_string(j, "region", t->prices.region);
    cli_json_add_string(j, "prices", t->path);
    cJSON_AddNumberToObject(j, "cost_usd", c->usd);
    cJSON_AddBoolToObject(j, "estimated", c->estimated);
    if ((svcs = cJSON_AddObjectToObject(j, "services"))) {
        cJSON_AddNumberToObject(svcs, "lambda", c->lambda_usd);
        cJSON_AddNumberToObject(svcs, "sqs", c->sqs_usd);
        cJSON_AddNumberToObject(svcs, "sns", c->sns_usd);
        cJSON_AddNumberToObject(svcs, "s3", c->s3_usd);
        cJSON_AddNumberToObject(svcs, "ec2", c->ec2_usd);
    }
    lines = cJSON_AddArrayToObject(j, "lines");
    for (int i = 0; lines && i < c->nlines; i++) {
        const sdsinf_cost_line *l = &c->line[i];
        cJSON *e = cJSON_CreateObject();
        cli_json_add_string(e, "service", l->service);
        cli_json_add_string(e, "item", l->item);
        cJSON_AddNumberToObject(e, "quantity", l->quantity);
        cJSON_AddNumberToObject(e, "usd_each", l->usd_each);
        cJSON_AddNumberToObject(e, "usd", l->usd);
        cJSON_AddItemToArray(lines, e);
    }
    int rc = cli_json_write(j, stdout, err);
    if (rc == SDSINF_OK)
        putchar('\n');
    return rc;
}

/* ---- entry ------------------------------------------------------------------ */

int cost_run_usd(const char *channel, const sdsinf_run_stats *st,
                 const sdsinf_requests *storage, double *usd,
                 sdsinf_err *err)
{
    price_table t = {0};
    sdsinf_usage u;
    sdsinf_cost c;
    svc s = service_named(channel);
    int rc;
    *usd = 0;
    if (s == SVC_NONE && !storage && !st->lambda_invocations)
        return SDSINF_OK;
    sdsinf_usage_init(&u);
    usage_of_channel(s, &st->requests, st->bytes_sent, &u);
    if (storage)
        usage_of_storage(storage, &u);
    u.lambda_invocations = st->lambda_invocations;
    u.lambda_gb_seconds = st->lambda_gb_seconds;
    u.lambda_arch = st->lambda_arch;
    if (!(rc = prices_load(NULL, NULL, &t, err)) &&
        !(rc = sdsinf_cost_compute(&t.prices, &u, &c, err)))
        *usd = c.usd;
    prices_free(&t);
    return rc;
}

int cost_as_check(const char *as, sdsinf_err *err)
{
    if (as && service_named(as) == SVC_NONE)
        return cli_fail(err, SDSINF_EINVAL, "--as %s: give sqs, sns or s3 "
                        "(the AWS channel whose bill to estimate)", as);
    return SDSINF_OK;
}

/* Loads o->input and the price table and prices the run: on success the
 * caller frees *rec and *t. */
static int bill_load(const cost_opts *o, record *rec, price_table *t,
                     run_usage *ru, sdsinf_cost *c, sdsinf_err *err)
{
    int rc;
    memset(ru, 0, sizeof *ru);
    sdsinf_usage_init(&ru->u);
    if ((rc = cost_as_check(o->as, err)) ||
        (rc = prices_load(o->prices, o->region, t, err)) ||
        (rc = record_load(o->input, rec, err)))
        goto done;
    json_reader r = {rec->path, "run record",
                     "a run record (sdsinf run --json) has channel and "
                     "requests", err};
    rc = rec->metrics ? usage_of_metrics(&r, rec->run, o->as, ru)
                      : usage_of_run(&r, rec->run, o->as, ru);
    if (rc == SDSINF_OK &&
        (rc = sdsinf_cost_compute(&t->prices, &ru->u, c, err))) {
        char why[sizeof err->msg]; /* the record's usage the table cannot
                                      price (an instance type) */
        memcpy(why, err->msg, sizeof why);
        cli_fail(err, rc, "%s: %s", rec->path, why);
    }
done:
    if (rc) {
        record_free(rec);
        prices_free(t);
    }
    return rc;
}

int cost_report(const cost_opts *o, sdsinf_err *err)
{
    record rec = {0};
    price_table t = {0};
    run_usage ru;
    sdsinf_cost c;
    int rc = bill_load(o, &rec, &t, &ru, &c, err);
    if (rc)
        return rc;
    if (o->json)
        rc = print_json(&rec, &ru, &t, &c, err);
    else
        print_table(&rec, &ru, &t, &c);
    record_free(&rec);
    prices_free(&t);
    return rc;
}

int cost_bill_of(const cost_opts *o, cost_bill *b, sdsinf_err *err)
{
    record rec = {0};
    price_table t = {0};
    run_usage ru;
    int rc = bill_load(o, &rec, &t, &ru, &b->cost, err);
    if (rc)
        return rc;
    snprintf(b->channel, sizeof b->channel, "%s", ru.channel);
    snprintf(b->priced_as, sizeof b->priced_as, "%s",
             ru.priced_as ? ru.priced_as : "");
    snprintf(b->region, sizeof b->region, "%s", t.prices.region);
    b->requests = ru.requests;
    record_free(&rec);
    prices_free(&t);
    return SDSINF_OK;
}
