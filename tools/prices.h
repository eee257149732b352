/* prices.h - the price table (prices/aws.json): every region's prices per
 * service, each block with the page its prices come from and its date,
 * read and checked whole, and one region's as an sdsinf_prices.
 *
 * The format (every key required unless marked; no other keys):
 *   sdsinf_prices: 1, about (optional), default_region: NAME,
 *   regions: { NAME: { name (optional),
 *     lambda: {usd_per_million_requests,
 *              usd_per_gb_second: {x86_64, arm64}, SOURCE},
 *     sqs: {usd_per_million_requests, billing_unit_bytes, SOURCE},
 *     sns: {usd_per_million_publishes, billing_unit_bytes,
 *           usd_per_gb_published, SOURCE},
 *     s3:  {usd_per_1000_put, usd_per_1000_get, usd_per_1000_list,
 *           usd_per_1000_delete, SOURCE},
 *     ec2: {usd_per_hour: {TYPE: USD, ...}, SOURCE} } }
 * where SOURCE is source (a URL or document), date (YYYY, YYYY-MM or
 * YYYY-MM-DD) and note (optional).  Prices are numbers >= 0.
 * Optional at the top: latency {the seconds and rates LATENCY_KEYS in
 * prices.c lists, one per sdsinf_latency_model field, ec2_vcpus: {TYPE:
 * N, ...}, sources (optional): {CONSTANT: TEXT, ...} where each comes
 * from, SOURCE}: the constants of the latency model (validate.c's first
 * model and the planner's). */
#ifndef SDSINF_PRICES_H
#define SDSINF_PRICES_H

#include "sdsinf.h"

#include <stddef.h>

/* The latency model's constants (sdsinf_latency_model; its cpus, from
 * ec2_vcpus, owned by the table), when the table has them. */
typedef struct latency_constants {
    int present;
    sdsinf_latency_model model;
    sdsinf_instance_cpus *cpus; /* model.cpus (owned) */
} latency_constants;

typedef struct price_table {
    char *path;                      /* the file read */
    sdsinf_prices prices;            /* the region picked */
    const char *region_title;        /* its "name", or NULL */
    sdsinf_instance_price *instances; /* prices.instances (owned) */
    latency_constants latency;
    struct cJSON *doc_;              /* owns the strings */
} price_table;

/* Where the price table is when --prices gives none: $SDSINF_PRICES, else
 * the one installed with the tool (PREFIX/share/sdsinf/aws.json beside
 * bin/), else the build tree's copy (prices/aws.json beside the tool);
 * NULL when there is none.  Returns a malloc'd path. */
char *prices_default_path(void);

/* Parses len bytes of text as a price table named `name`, checks every
 * region, and picks `region` (NULL: its default_region) into *t; an
 * unknown region names those there are.  On failure *t is zeroed. */
int prices_parse(const char *name, const char *text, size_t len,
                 const char *region, price_table *t, sdsinf_err *err);
/* The same from a file (NULL: prices_default_path()). */
int prices_load(const char *path, const char *region, price_table *t,
                sdsinf_err *err);
void prices_free(price_table *t);

#endif /* SDSINF_PRICES_H */
