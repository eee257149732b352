/* fuzz_prices.c - fuzz target: any bytes as a price table (tools/prices.c),
 * parsed from memory and read from a file, for its default region and
 * for us-east-1.  A failure must name the file and leave the table zeroed;
 * a success must hold prices the cost model takes (every one >= 0 and
 * finite, the instances typed), and both ways must agree. */
#include "prices.h"
#include "fuzz_input.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Aborts unless a parsed table holds usable prices: the cost model must
 * price a usage of everything under them. */
static void check_table(const price_table *t)
{
    sdsinf_usage u;
    sdsinf_cost c;
    sdsinf_err err = {0};
    sdsinf_usage_init(&u);
    u.sqs.send = u.sns.send = u.s3.send = 3;
    u.sqs_bytes = u.sns_bytes = 1 << 20;
    u.lambda_invocations = 2;
    u.lambda_gb_seconds = 1.5;
    u.instance = t->prices.ninstances ? t->prices.instances[0].type : NULL;
    u.instance_seconds = 60;
    if (!t->path || !t->prices.region ||
        sdsinf_cost_compute(&t->prices, &u, &c, &err) != SDSINF_OK ||
        !isfinite(c.usd) || c.usd < 0)
        abort();
}

/* Aborts unless a failure left *t zeroed and named `file`. */
static void check_failure(int rc, const sdsinf_err *err, const price_table *t,
                          const char *file)
{
    price_table zero;
    memset(&zero, 0, sizeof zero);
    if (memcmp(t, &zero, sizeof zero) ||
        (rc != SDSINF_ENOMEM &&
         (err->code != rc || strncmp(err->msg, file, strlen(file)))))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *regions[2] = {NULL, "us-east-1"};
    for (int k = 0; k < 2; k++) {
        price_table a, b;
        sdsinf_err err = {0}, ferr = {0};
        int rc = prices_parse("prices.json", (const char *)data, size,
                              regions[k], &a, &err);
        if (rc == SDSINF_OK)
            check_table(&a);
        else
            check_failure(rc, &err, &a, "prices.json");
        const char *path = fuzz_write("prices.json", data, size);
        int frc = prices_load(path, regions[k], &b, &ferr);
        if (frc != SDSINF_ENOMEM && rc != SDSINF_ENOMEM &&
            (frc != rc ||
             (rc == SDSINF_OK &&
              (a.prices.ninstances != b.prices.ninstances ||
               memcmp(a.prices.lambda_usd_per_gb_second,
                      b.prices.lambda_usd_per_gb_second,
                      sizeof a.prices.lambda_usd_per_gb_second)))))
            abort();
        if (frc != SDSINF_OK)
            check_failure(frc, &ferr, &b, path);
        prices_free(&a);
        prices_free(&b);
    }
    return 0;
}
