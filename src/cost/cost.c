/* cost.c - a run's bill under a price table (sdsinf_cost_compute): each
 * service's items, their billing units (SQS and SNS: 64 KiB chunks of a
 * call's payload) counted or estimated from the bytes, and the totals.
 * Where the price table is (sdsinf_prices_path).
 * Sections: checks, billing units, the bill. */
#define _DEFAULT_SOURCE /* realpath */
#include "channels/sqs_queue.h"
#include "core/core.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void sdsinf_prices_init(sdsinf_prices *p)
{
    memset(p, 0, sizeof *p);
    p->version = SDSINF_PRICES_VERSION;
    p->sqs_unit_bytes = p->sns_unit_bytes = 65536;
}

/* dir/rel into out when it fits and is a readable file. */
static int file_in(const char *dir, const char *rel, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", dir, rel);
    return n > 0 && (size_t)n < cap && access(out, R_OK) == 0;
}

int sdsinf_prices_path(const char *exe, char *out, size_t cap)
{
    const char *env = getenv("SDSINF_PRICES");
    char dir[PATH_MAX];
    if (env && *env) {
        int n = snprintf(out, cap, "%s", env);
        return n > 0 && (size_t)n < cap;
    }
    if (!realpath(exe ? exe : "/proc/self/exe", dir))
        return 0;
    char *slash = strrchr(dir, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    return file_in(dir, "../share/sdsinf/aws.json", out, cap) ||
           file_in(dir, "prices/aws.json", out, cap);
}

void sdsinf_usage_init(sdsinf_usage *u)
{
    memset(u, 0, sizeof *u);
    u->version = SDSINF_USAGE_VERSION;
}

/* ---- checks ------------------------------------------------------------- */

static int bad_number(double x)
{
    return !isfinite(x) || x < 0;
}

/* Every price of p: finite and >= 0. */
static int check_prices(const sdsinf_prices *p, sdsinf_err *err)
{
    const struct {
        const char *name;
        double v;
    } price[] = {
        {"lambda_usd_per_request", p->lambda_usd_per_request},
        {"lambda_usd_per_gb_second[x86_64]", p->lambda_usd_per_gb_second[0]},
        {"lambda_usd_per_gb_second[arm64]", p->lambda_usd_per_gb_second[1]},
        {"sqs_usd_per_request", p->sqs_usd_per_request},
        {"sns_usd_per_publish", p->sns_usd_per_publish},
        {"sns_usd_per_gb", p->sns_usd_per_gb},
        {"s3_usd_per_put", p->s3_usd_per_put},
        {"s3_usd_per_get", p->s3_usd_per_get},
        {"s3_usd_per_list", p->s3_usd_per_list},
        {"s3_usd_per_delete", p->s3_usd_per_delete},
    };
    const char *region = p->region ? p->region : "(unnamed)";
    if (p->version < 1 || p->version > SDSINF_PRICES_VERSION)
        return sdsinf__fail(err, SDSINF_EINVAL, "prices of %s: version %d "
                            "(this library knows 1..%d)", region, p->version,
                            SDSINF_PRICES_VERSION);
    for (size_t i = 0; i < sizeof price / sizeof *price; i++)
        if (bad_number(price[i].v))
            return sdsinf__fail(err, SDSINF_EINVAL, "prices of %s: %s is %g: "
                                "a price is a number >= 0", region,
                                price[i].name, price[i].v);
    for (size_t i = 0; i < p->ninstances; i++)
        if (!p->instances[i].type || bad_number(p->instances[i].usd_per_hour))
            return sdsinf__fail(err, SDSINF_EINVAL, "prices of %s: instance "
                                "%zu needs a type and an hourly price >= 0",
                                region, i);
    return SDSINF_OK;
}

static int check_usage(const sdsinf_usage *u, sdsinf_err *err)
{
    if (u->version < 1 || u->version > SDSINF_USAGE_VERSION)
        return sdsinf__fail(err, SDSINF_EINVAL, "usage: version %d (this "
                            "library knows 1..%d)", u->version,
                            SDSINF_USAGE_VERSION);
    if (bad_number(u->lambda_gb_seconds) || bad_number(u->instance_seconds))
        return sdsinf__fail(err, SDSINF_EINVAL, "usage: Lambda GB-seconds "
                            "(%g) and instance seconds (%g) are numbers >= 0",
                            u->lambda_gb_seconds, u->instance_seconds);
    if (u->lambda_arch != SDSINF_ARCH_X86_64 &&
        u->lambda_arch != SDSINF_ARCH_ARM64)
        return sdsinf__fail(err, SDSINF_EINVAL, "usage: Lambda architecture "
                            "%d is neither SDSINF_ARCH_X86_64 nor _ARM64",
                            u->lambda_arch);
    return SDSINF_OK;
}

/* ---- billing units ------------------------------------------------------ */

/* The units beyond one per call of `calls` calls carrying `bytes` between
 * them, each call an average share: calls x (ceil(share / unit) - 1). */
static double extra_units(uint64_t calls, uint64_t bytes, uint64_t unit)
{
    if (!calls || !bytes)
        return 0;
    double share = (double)bytes / (double)calls;
    return (double)calls * (ceil(share / (double)unit) - 1);
}

/* The units a service billed beyond one per call: counted (r->units over
 * the calls), else estimated from the bytes sends and non-empty receives
 * carry (*estimated set). */
static double billed_extra(const sdsinf_requests *r, uint64_t calls,
                           uint64_t bytes, uint64_t unit, int *estimated)
{
    if (r->units)
        return r->units > calls ? (double)(r->units - calls) : 0;
    uint64_t full = r->receive > r->empty ? r->receive - r->empty : 0;
    double extra = extra_units(r->send, bytes, unit) +
                   extra_units(full, bytes, unit);
    if (extra > 0)
        *estimated = 1;
    return extra;
}

/* ---- the bill ----------------------------------------------------------- */

/* Adds an item (none when its quantity is 0) to its service's total *sum
 * and to c's lines (SDSINF_COST_LINES holds every item there is). */
static void add(sdsinf_cost *c, double *sum, const char *service,
                const char *item, double quantity, double usd_each)
{
    if (quantity <= 0)
        return;
    *sum += quantity * usd_each;
    if (c->nlines >= SDSINF_COST_LINES)
        return;
    sdsinf_cost_line *l = &c->line[c->nlines++];
    l->service = service;
    l->item = item;
    l->quantity = quantity;
    l->usd_each = usd_each;
    l->usd = quantity * usd_each;
}

static int instance_price(const sdsinf_prices *p, const char *type,
                          double *usd_per_hour, sdsinf_err *err)
{
    for (size_t i = 0; i < p->ninstances; i++)
        if (!strcmp(p->instances[i].type, type)) {
            *usd_per_hour = p->instances[i].usd_per_hour;
            return SDSINF_OK;
        }
    return sdsinf__fail(err, SDSINF_EINVAL, "the prices of %s have no EC2 "
                        "instance type '%s': add its hourly price to the "
                        "price table, or pick one it lists",
                        p->region ? p->region : "(unnamed)", type);
}

int sdsinf_cost_compute(const sdsinf_prices *p, const sdsinf_usage *u,
                        sdsinf_cost *out, sdsinf_err *err)
{
    sdsinf_cost c;
    int rc;
    double hourly = 0;
    if (!p || !u || !out)
        return sdsinf__fail(err, SDSINF_EINVAL, "sdsinf_cost_compute: NULL "
                            "argument");
    if ((rc = check_prices(p, err)) || (rc = check_usage(u, err)))
        return rc;
    if (u->instance && (rc = instance_price(p, u->instance, &hourly, err)))
        return rc;
    if ((u->sqs_bytes && !u->sqs.units && !p->sqs_unit_bytes) ||
        (u->sns_bytes && !u->sns.units && !p->sns_unit_bytes))
        return sdsinf__fail(err, SDSINF_EINVAL, "prices of %s: a billing "
                            "unit of 0 bytes cannot size the requests",
                            p->region ? p->region : "(unnamed)");
    memset(&c, 0, sizeof c);

    add(&c, &c.lambda_usd, "lambda", "invocations",
        (double)u->lambda_invocations, p->lambda_usd_per_request);
    add(&c, &c.lambda_usd, "lambda", "GB-seconds", u->lambda_gb_seconds,
        p->lambda_usd_per_gb_second[u->lambda_arch]);

    const sdsinf_requests *q = &u->sqs;
    add(&c, &c.sqs_usd, "sqs", "send", (double)q->send,
        p->sqs_usd_per_request);
    add(&c, &c.sqs_usd, "sqs", "receive", (double)q->receive,
        p->sqs_usd_per_request);
    add(&c, &c.sqs_usd, "sqs", "delete", (double)q->remove,
        p->sqs_usd_per_request);
    add(&c, &c.sqs_usd, "sqs", "other", (double)q->list,
        p->sqs_usd_per_request);
    add(&c, &c.sqs_usd, "sqs", "64KiB-units",
        billed_extra(q, q->send + q->receive + q->remove + q->list,
                     u->sqs_bytes, p->sqs_unit_bytes, &c.estimated),
        p->sqs_usd_per_request);

    const sdsinf_requests *n = &u->sns;
    add(&c, &c.sns_usd, "sns", "publish", (double)n->send,
        p->sns_usd_per_publish);
    add(&c, &c.sns_usd, "sns", "64KiB-units",
        billed_extra(n, n->send, u->sns_bytes, p->sns_unit_bytes,
                     &c.estimated),
        p->sns_usd_per_publish);
    add(&c, &c.sns_usd, "sns", "GB", (double)u->sns_bytes / 1e9,
        p->sns_usd_per_gb);

    const sdsinf_requests *s = &u->s3;
    add(&c, &c.s3_usd, "s3", "put", (double)s->send, p->s3_usd_per_put);
    add(&c, &c.s3_usd, "s3", "get", (double)s->receive, p->s3_usd_per_get);
    add(&c, &c.s3_usd, "s3", "list", (double)s->list, p->s3_usd_per_list);
    add(&c, &c.s3_usd, "s3", "delete", (double)s->remove,
        p->s3_usd_per_delete);

    if (u->instance) /* its hours */
        add(&c, &c.ec2_usd, "ec2", u->instance, u->instance_seconds / 3600,
            hourly);

    c.usd = c.lambda_usd + c.sqs_usd + c.sns_usd + c.s3_usd + c.ec2_usd;
    *out = c;
    return SDSINF_OK;
}

/* ---- the claim check's break-even (sdsinf.h) ------------------------------ */

/* What a block of `bytes` (its whole message) costs sent alone as chunks,
 * as the sqs (sns) channel sends them: the codec halves it until each
 * chunk fits a message, every chunk is an entry over half a request's
 * payload, so a request of its own (a publish for sns, as base64); the
 * receiver takes them 10 to a ReceiveMessage, billed on their bytes
 * together, and deletes each ten in one request. */
static double chunks_usd(const sdsinf_prices *p, int sns, double bytes)
{
    double max = sns ? SDSINF_SQSQ_SNS_MAX : SDSINF_SQSQ_SQS_MAX, k = 1;
    double unit = (double)(sns ? p->sns_unit_bytes : p->sqs_unit_bytes);
    double runit = (double)p->sqs_unit_bytes;
    while (bytes / k > max)
        k *= 2;
    double c = ceil(bytes / k);
    double sent = sns ? ceil(c / 3) * 4 + SDSINF_SQSQ_SNS_ENTRY
                      : c + SDSINF_SQSQ_SQS_ENTRY;
    double got = sns ? ceil(c / 3) * 4 + 1 : c + SDSINF_SQSQ_SQS_ENTRY;
    double usd = k * ceil(sent / unit) *
                 (sns ? p->sns_usd_per_publish : p->sqs_usd_per_request);
    double batch = SDSINF_SQSQ_BATCH, full = floor(k / batch);
    double rest = k - full * batch; /* each receive and its delete: */
    double units = full * (ceil(batch * got / runit) + 1) +
                   (rest ? ceil(rest * got / runit) + 1 : 0);
    return usd + units * p->sqs_usd_per_request;
}

int sdsinf_claim_break_even(const sdsinf_prices *p, int via, uint64_t *bytes,
                            sdsinf_err *err)
{
    int rc;
    if (!p || !bytes || (via != SDSINF_VIA_SQS && via != SDSINF_VIA_SNS))
        return sdsinf__fail(err, SDSINF_EINVAL, "sdsinf_claim_break_even: "
                            "needs prices, an out pointer and "
                            "SDSINF_VIA_SQS or SDSINF_VIA_SNS (got %d)", via);
    if ((rc = check_prices(p, err)))
        return rc;
    if (!p->sqs_unit_bytes || !p->sns_unit_bytes)
        return sdsinf__fail(err, SDSINF_EINVAL, "sdsinf_claim_break_even: "
                            "a billing unit of 0 bytes");
    int sns = via == SDSINF_VIA_SNS;
    double send = sns ? p->sns_usd_per_publish : p->sqs_usd_per_request;
    double unit_usd = send + p->sqs_usd_per_request; /* sent, received */
    /* an object (PUT, GET, its share of the run's listing and
     * DeleteObjects) and a pointer of one unit sent, received, deleted */
    double claim = p->s3_usd_per_put + p->s3_usd_per_get +
                   (p->s3_usd_per_list + p->s3_usd_per_delete) / 1000 + send +
                   2 * p->sqs_usd_per_request;
    double max = sns ? SDSINF_SQSQ_SNS_MAX : SDSINF_SQSQ_SQS_MAX;
    /* chunks of b bytes cost at least b / unit x unit_usd: over `top`
     * the object is cheaper, whatever the rounding */
    double top = (claim / unit_usd + 1) *
                 (double)(p->sqs_unit_bytes > p->sns_unit_bytes
                              ? p->sqs_unit_bytes
                              : p->sns_unit_bytes);
    if (unit_usd <= 0 || !(top < 1e15)) {
        *bytes = UINT64_MAX; /* chunks never cost more */
        return SDSINF_OK;
    }
    /* the last size where the chunks cost no more (a tie goes to them):
     * in steps of 64 bytes or more (at most 2^20 of them), then to the
     * byte between the last such step and the next */
    double step = fmax(64, ceil((top - max) / 1048576)), last = max;
    for (double b = max + 1; b <= top; b += step)
        if (chunks_usd(p, sns, b) <= claim * (1 + 1e-12))
            last = b;
    for (double hi = last + step; hi - last > 1;) {
        double mid = floor((last + hi) / 2);
        if (chunks_usd(p, sns, mid) <= claim * (1 + 1e-12))
            last = mid;
        else
            hi = mid;
    }
    *bytes = (uint64_t)last;
    return SDSINF_OK;
}
