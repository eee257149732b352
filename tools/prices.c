/* prices.c - the price table (prices.h): read with cJSON, every region
 * checked (a typo in one region the run does not use is still an error),
 * one region's prices as an sdsinf_prices.
 * Sections: where the table is, one region, the latency constants, the
 * table. */
#include "prices.h"
#include "cli_util.h"
#include "json_in.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRICES_MAX_BYTES (4 << 20)
#define USD_MAX 1e6 /* no price per request, GB or hour is above it */

/* ---- where the table is ------------------------------------------------- */

char *prices_default_path(void)
{
    char path[PATH_MAX];
    return sdsinf_prices_path(NULL, path, sizeof path) ? strdup(path) : NULL;
}

/* ---- one region --------------------------------------------------------- */

/* A price block's source, date and note. */
static int read_source(const json_reader *r, const cJSON *o, const char *at)
{
    const char *source, *date, *note;
    char path[160];
    int rc;
    if ((rc = json_string_member(r, o, at, "source", 1, &source)) ||
        (rc = json_string_member(r, o, at, "date", 1, &date)) ||
        (rc = json_string_member(r, o, at, "note", 0, &note)))
        return rc;
    /* YYYY, YYYY-MM or YYYY-MM-DD */
    size_t n = strlen(date);
    int ok = n == 4 || n == 7 || n == 10;
    for (size_t i = 0; ok && i < n; i++)
        ok = (i == 4 || i == 7) ? date[i] == '-'
                                : date[i] >= '0' && date[i] <= '9';
    if (!ok)
        return cli_fail(r->err, SDSINF_EPARSE, "%s: %s is '%s': give the "
                        "date the prices were read, as YYYY-MM-DD (or "
                        "YYYY-MM, YYYY)", r->name,
                        json_key_path(path, sizeof path, at, "date"), date);
    return SDSINF_OK;
}

/* A service's block at regions.REGION.key, with exactly the keys `known`
 * (source, date and note besides). */
static int service(const json_reader *r, const cJSON *region,
                   const char *at, const char *key, const char *const *known,
                   const cJSON **o, char *path, size_t npath)
{
    const char *keys[32];
    size_t k = 0;
    int rc;
    for (; known[k] && k < 28; k++)
        keys[k] = known[k];
    keys[k++] = "source";
    keys[k++] = "date";
    keys[k++] = "note";
    keys[k] = NULL;
    json_key_path(path, npath, at, key);
    if ((rc = json_object_member(r, region, at, key, 1, o)) ||
        (rc = json_known_members(r, *o, path, keys)))
        return rc;
    return read_source(r, *o, path);
}

/* A price in USD (0 .. USD_MAX) scaled by `per` (1e-6 for per million). */
static int price(const json_reader *r, const cJSON *o, const char *at,
                 const char *key, double per, double *usd)
{
    double x = 0;
    int rc = json_number_member(r, o, at, key, 0, USD_MAX, 1, &x);
    *usd = x * per;
    return rc;
}

static int unit_bytes(const json_reader *r, const cJSON *o, const char *at,
                      uint64_t *bytes)
{
    long long n = 0;
    int rc = json_integer_member(r, o, at, "billing_unit_bytes", 1,
                                 1LL << 40, 1, &n);
    *bytes = (uint64_t)n;
    return rc;
}

static int read_lambda(const json_reader *r, const cJSON *region,
                       const char *at, sdsinf_prices *p)
{
    static const char *const keys[] = {"usd_per_million_requests",
                                       "usd_per_gb_second", NULL};
    static const char *const arch[] = {"x86_64", "arm64", NULL};
    const cJSON *o, *gbs;
    char path[160], gpath[192];
    int rc;
    if ((rc = service(r, region, at, "lambda", keys, &o, path, sizeof path)) ||
        (rc = price(r, o, path, "usd_per_million_requests", 1e-6,
                    &p->lambda_usd_per_request)) ||
        (rc = json_object_member(r, o, path, "usd_per_gb_second", 1, &gbs)))
        return rc;
    json_key_path(gpath, sizeof gpath, path, "usd_per_gb_second");
    if ((rc = json_known_members(r, gbs, gpath, arch)))
        return rc;
    for (int a = 0; a < 2; a++)
        if ((rc = price(r, gbs, gpath, arch[a], 1,
                        &p->lambda_usd_per_gb_second[a])))
            return rc;
    return SDSINF_OK;
}

static int read_queues(const json_reader *r, const cJSON *region,
                       const char *at, sdsinf_prices *p)
{
    static const char *const sqs_keys[] = {"usd_per_million_requests",
                                           "billing_unit_bytes", NULL};
    static const char *const sns_keys[] = {"usd_per_million_publishes",
                                           "billing_unit_bytes",
                                           "usd_per_gb_published", NULL};
    const cJSON *o;
    char path[160];
    int rc;
    if ((rc = service(r, region, at, "sqs", sqs_keys, &o, path,
                      sizeof path)) ||
        (rc = price(r, o, path, "usd_per_million_requests", 1e-6,
                    &p->sqs_usd_per_request)) ||
        (rc = unit_bytes(r, o, path, &p->sqs_unit_bytes)) ||
        (rc = service(r, region, at, "sns", sns_keys, &o, path,
                      sizeof path)) ||
        (rc = price(r, o, path, "usd_per_million_publishes", 1e-6,
                    &p->sns_usd_per_publish)) ||
        (rc = unit_bytes(r, o, path, &p->sns_unit_bytes)))
        return rc;
    return price(r, o, path, "usd_per_gb_published", 1, &p->sns_usd_per_gb);
}

static int read_s3(const json_reader *r, const cJSON *region, const char *at,
                   sdsinf_prices *p)
{
    static const char *const keys[] = {"usd_per_1000_put", "usd_per_1000_get",
                                       "usd_per_1000_list",
                                       "usd_per_1000_delete", NULL};
    double *usd[] = {&p->s3_usd_per_put, &p->s3_usd_per_get,
                     &p->s3_usd_per_list, &p->s3_usd_per_delete};
    const cJSON *o;
    char path[160];
    int rc = service(r, region, at, "s3", keys, &o, path, sizeof path);
    for (int k = 0; rc == SDSINF_OK && k < 4; k++)
        rc = price(r, o, path, keys[k], 1e-3, usd[k]);
    return rc;
}

/* ec2.usd_per_hour: *n instance types, into *out (malloc'd) when out is
 * not NULL. */
static int read_ec2(const json_reader *r, const cJSON *region, const char *at,
                    sdsinf_instance_price **out, size_t *n)
{
    static const char *const keys[] = {"usd_per_hour", NULL};
    const cJSON *o, *hourly;
    char path[160], hpath[192];
    size_t count = 0;
    int rc;
    if ((rc = service(r, region, at, "ec2", keys, &o, path, sizeof path)) ||
        (rc = json_object_member(r, o, path, "usd_per_hour", 1, &hourly)))
        return rc;
    json_key_path(hpath, sizeof hpath, path, "usd_per_hour");
    for (const cJSON *c = hourly->child; c; c = c->next)
        count++;
    sdsinf_instance_price *ip = out && count ? calloc(count, sizeof *ip)
                                             : NULL;
    if (out && count && !ip)
        return cli_fail(r->err, SDSINF_ENOMEM, "%s: no memory for %zu "
                        "instance types", r->name, count);
    size_t i = 0;
    for (const cJSON *c = hourly->child; c; c = c->next, i++) {
        const cJSON *dup;
        double usd = 0;
        if (!c->string || !c->string[0]) {
            rc = cli_fail(r->err, SDSINF_EPARSE, "%s: %s has an empty "
                          "instance type", r->name, hpath);
            break;
        }
        if ((rc = json_member(r, hourly, hpath, c->string, 1, &dup)) ||
            (rc = price(r, hourly, hpath, c->string, 1, &usd)))
            break;
        if (ip) {
            ip[i].type = c->string;
            ip[i].usd_per_hour = usd;
        }
    }
    if (rc != SDSINF_OK) {
        free(ip);
        return rc;
    }
    if (out)
        *out = ip;
    *n = count;
    return SDSINF_OK;
}

/* Region `name` (its object o): every service checked, into *p and, when
 * instances is not NULL, its instance types. */
static int read_region(const json_reader *r, const cJSON *o,
                       const char *name, sdsinf_prices *p,
                       sdsinf_instance_price **instances)
{
    static const char *const keys[] = {"name", "lambda", "sqs", "sns", "s3",
                                       "ec2", NULL};
    char at[160];
    const char *title;
    int rc;
    sdsinf_prices_init(p);
    p->region = name;
    json_key_path(at, sizeof at, "regions", name);
    if (!cJSON_IsObject(o))
        return cli_fail(r->err, SDSINF_EPARSE, "%s: %s must be an object, "
                        "not %s", r->name, at, json_type_name(o));
    if ((rc = json_known_members(r, o, at, keys)) ||
        (rc = json_string_member(r, o, at, "name", 0, &title)) ||
        (rc = read_lambda(r, o, at, p)) || (rc = read_queues(r, o, at, p)) ||
        (rc = read_s3(r, o, at, p)))
        return rc;
    return read_ec2(r, o, at, instances, &p->ninstances);
}

/* ---- the latency constants ------------------------------------------- */

/* The latency block's numbers: key, field, and the range each takes. */
#define LATENCY_FIELD(key, f, lo, hi) {key, offsetof(sdsinf_latency_model, f), lo, hi}
static const struct {
    const char *key;
    size_t at;
    double lo, hi;
} LATENCY_KEYS[] = {
    LATENCY_FIELD("sns_publish_seconds", sns_publish_s, 0, 1e4),
    LATENCY_FIELD("sqs_send_seconds", sqs_send_s, 0, 1e4),
    LATENCY_FIELD("sqs_receive_seconds", sqs_receive_s, 0, 1e4),
    LATENCY_FIELD("s3_put_seconds", s3_put_s, 0, 1e4),
    LATENCY_FIELD("s3_get_seconds", s3_get_s, 0, 1e4),
    LATENCY_FIELD("s3_list_seconds", s3_list_s, 0, 1e4),
    LATENCY_FIELD("s3_scan_sleep_seconds", s3_scan_sleep_s, 0, 1e4),
    LATENCY_FIELD("s3_parallel_requests", s3_parallel, 1, 1e4),
    LATENCY_FIELD("worker_bytes_per_second", worker_bytes_per_s, 1, 1e12),
    LATENCY_FIELD("lambda_mb_per_vcpu", lambda_mb_per_vcpu, 1, 1e6),
    LATENCY_FIELD("lambda_max_vcpus", lambda_max_vcpus, 1, 1e4),
    LATENCY_FIELD("lambda_max_seconds", lambda_max_seconds, 1, 1e6),
    LATENCY_FIELD("lambda_invoke_seconds", lambda_invoke_s, 0, 1e4),
    LATENCY_FIELD("lambda_cold_start_seconds", lambda_cold_start_s, 0, 1e4),
    LATENCY_FIELD("local_message_seconds", local_message_s, 0, 1e4),
    LATENCY_FIELD("mpi_message_seconds", mpi_message_s, 0, 1e4),
    LATENCY_FIELD("redis_request_seconds", redis_request_s, 0, 1e4),
    LATENCY_FIELD("ec2_bytes_per_second", ec2_bytes_per_s, 1, 1e13),
    LATENCY_FIELD("ec2_boot_seconds", ec2_boot_s, 0, 1e5),
    LATENCY_FIELD("machine_vcpu_speed", machine_vcpu_speed, 1e-3, 1e3),
};
#define NLATENCY (sizeof LATENCY_KEYS / sizeof *LATENCY_KEYS)

/* ec2_vcpus {TYPE: N}: into lc->cpus (malloc'd). */
static int read_vcpus(const json_reader *r, const cJSON *o, const char *at,
                      latency_constants *lc)
{
    const cJSON *map;
    char path[160];
    size_t n = 0;
    int rc;
    if ((rc = json_object_member(r, o, at, "ec2_vcpus", 1, &map)))
        return rc;
    json_key_path(path, sizeof path, at, "ec2_vcpus");
    for (const cJSON *c = map->child; c; c = c->next)
        n++;
    sdsinf_instance_cpus *cpus = n ? calloc(n, sizeof *cpus) : NULL;
    if (n && !cpus)
        return cli_fail(r->err, SDSINF_ENOMEM, "%s: no memory", r->name);
    n = 0;
    for (const cJSON *c = map->child; c; c = c->next, n++) {
        long long v = 0;
        if (!c->string || !c->string[0] ||
            (rc = json_integer_member(r, map, path, c->string, 1, 100000, 1,
                                      &v))) {
            free(cpus);
            return c->string && c->string[0]
                       ? rc
                       : cli_fail(r->err, SDSINF_EPARSE, "%s: %s has an "
                                  "empty instance type", r->name, path);
        }
        cpus[n].type = c->string;
        cpus[n].vcpus = (int)v;
    }
    lc->cpus = cpus;
    lc->model.cpus = cpus;
    lc->model.ncpus = n;
    return SDSINF_OK;
}

/* sources {KEY: TEXT}: where each constant comes from (measured,
 * documented, fitted); optional, but only the block's own constants, each
 * a text. */
static int read_sources(const json_reader *r, const cJSON *o, const char *at,
                        const char *const *keys)
{
    const cJSON *map;
    char path[160];
    int rc;
    if ((rc = json_object_member(r, o, at, "sources", 0, &map)) || !map)
        return rc;
    json_key_path(path, sizeof path, at, "sources");
    if ((rc = json_known_members(r, map, path, keys)))
        return rc;
    for (const cJSON *c = map->child; c; c = c->next) {
        const char *text;
        if ((rc = json_string_member(r, map, path, c->string, 1, &text)))
            return rc;
    }
    return SDSINF_OK;
}

static int read_latency(const json_reader *r, const cJSON *doc,
                        latency_constants *lc)
{
    const char *keys[NLATENCY + 3];
    const cJSON *o;
    char path[160];
    int rc;
    memset(lc, 0, sizeof *lc);
    for (size_t k = 0; k < NLATENCY; k++)
        keys[k] = LATENCY_KEYS[k].key;
    keys[NLATENCY] = "ec2_vcpus";
    keys[NLATENCY + 1] = NULL;
    if ((rc = json_object_member(r, doc, "", "latency", 0, &o)) || !o)
        return rc;
    keys[NLATENCY + 1] = "sources"; /* a key of the block, not a constant */
    keys[NLATENCY + 2] = NULL;
    rc = service(r, doc, "", "latency", keys, &o, path, sizeof path);
    keys[NLATENCY + 1] = NULL;
    if (rc || (rc = read_sources(r, o, path, keys)))
        return rc;
    lc->model.version = SDSINF_LATENCY_MODEL_VERSION;
    for (size_t k = 0; k < NLATENCY; k++)
        if ((rc = json_number_member(r, o, path, keys[k], LATENCY_KEYS[k].lo,
                                     LATENCY_KEYS[k].hi, 1,
                                     (double *)((char *)&lc->model +
                                                LATENCY_KEYS[k].at))))
            return rc;
    if ((rc = read_vcpus(r, o, path, lc)))
        return rc;
    lc->present = 1;
    return SDSINF_OK;
}

/* ---- the table ---------------------------------------------------------- */

/* "us-east-1, us-west-2, ..." into buf. */
static void region_names(const cJSON *regions, char *buf, size_t n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (const cJSON *c = regions->child; c && at + 1 < n; c = c->next) {
        int k = snprintf(buf + at, n - at, "%s%s", at ? ", " : "",
                         c->string ? c->string : "?");
        at += k > 0 ? (size_t)k : 0;
    }
}

int prices_parse(const char *name, const char *text, size_t len,
                 const char *region, price_table *t, sdsinf_err *err)
{
    static const char *const keys[] = {"sdsinf_prices", "about",
                                       "default_region", "regions",
                                       "latency", NULL};
    json_reader r = {name, "price table", "a price table has sdsinf_prices, "
                     "default_region and regions", err};
    cJSON *doc = NULL;
    const cJSON *regions, *picked = NULL, *dup;
    const char *dflt, *about;
    long long format = 0;
    price_table out = {0};
    sdsinf_prices scratch;
    char names[512];
    int rc;
    memset(t, 0, sizeof *t);
    if ((rc = json_parse_object(&r, text, len, &doc)) ||
        (rc = json_known_members(&r, doc, "", keys)) ||
        (rc = json_integer_member(&r, doc, "", "sdsinf_prices", 1, 1, 1,
                                  &format)) ||
        (rc = json_string_member(&r, doc, "", "about", 0, &about)) ||
        (rc = json_string_member(&r, doc, "", "default_region", 1, &dflt)) ||
        (rc = json_object_member(&r, doc, "", "regions", 1, &regions)) ||
        (rc = read_latency(&r, doc, &out.latency)))
        goto done;
    if (!region)
        region = dflt;
    for (const cJSON *c = regions->child; c; c = c->next) {
        int mine = c->string && !strcmp(c->string, region);
        if (!c->string || !c->string[0]) {
            rc = cli_fail(err, SDSINF_EPARSE, "%s: regions has a region "
                          "without a name", name);
            goto done;
        }
        if ((rc = json_member(&r, regions, "regions", c->string, 1, &dup)) ||
            (rc = read_region(&r, c, c->string, mine ? &out.prices : &scratch,
                              mine ? &out.instances : NULL)))
            goto done;
        if (mine)
            picked = c;
    }
    region_names(regions, names, sizeof names);
    if (!picked) {
        rc = cli_fail(err, SDSINF_EINVAL, "%s: no region '%s' (the table "
                      "has: %s): pick one of them with --region, or add it "
                      "to the table", name, region, names);
        goto done;
    }
    out.prices.instances = out.instances;
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(picked, "name");
    out.region_title = cJSON_IsString(title) ? title->valuestring : NULL;
    if (!(out.path = strdup(name)))
        rc = cli_fail(err, SDSINF_ENOMEM, "%s: no memory", name);
done:
    if (rc != SDSINF_OK) {
        free(out.instances);
        free(out.latency.cpus);
        free(out.path);
        cJSON_Delete(doc);
        return rc;
    }
    out.doc_ = doc;
    *t = out;
    return SDSINF_OK;
}

int prices_load(const char *path, const char *region, price_table *t,
                sdsinf_err *err)
{
    char *found = path ? NULL : prices_default_path(), *buf;
    size_t len;
    int rc;
    memset(t, 0, sizeof *t);
    if (!path && !found)
        return cli_fail(err, SDSINF_EIO, "no price table: give --prices FILE "
                        "(the project's prices/aws.json) or set "
                        "SDSINF_PRICES");
    path = path ? path : found;
    if (!(rc = cli_read_file(path, PRICES_MAX_BYTES, &buf, &len, err)))
        rc = prices_parse(path, buf, len, region, t, err);
    free(buf);
    free(found);
    return rc;
}

void prices_free(price_table *t)
{
    if (!t)
        return;
    free(t->instances);
    free(t->latency.cpus);
    free(t->path);
    cJSON_Delete(t->doc_);
    memset(t, 0, sizeof *t);
}
