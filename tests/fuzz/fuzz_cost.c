/* fuzz_cost.c - fuzz target: any bytes as a run record for `sdsinf cost`
 * (tools/cost.c), priced as recorded and --as each AWS service, under a
 * small price table.  It must end in SDSINF_OK or an error naming the
 * record (SDSINF_ENOMEM aside); what it prints goes to /dev/null. */
#include "cost.h"
#include "fuzz_input.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char PRICES[] =
    "{\"sdsinf_prices\": 1, \"default_region\": \"r\", \"regions\": {\"r\": {"
    "\"lambda\": {\"usd_per_million_requests\": 0.2, \"usd_per_gb_second\": "
    "{\"x86_64\": 1.66667e-05, \"arm64\": 1.33334e-05}, \"source\": \"s\", "
    "\"date\": \"2026\"},"
    "\"sqs\": {\"usd_per_million_requests\": 0.4, \"billing_unit_bytes\": "
    "65536, \"source\": \"s\", \"date\": \"2026\"},"
    "\"sns\": {\"usd_per_million_publishes\": 0.5, \"billing_unit_bytes\": "
    "65536, \"usd_per_gb_published\": 0, \"source\": \"s\", \"date\": "
    "\"2026\"},"
    "\"s3\": {\"usd_per_1000_put\": 0.005, \"usd_per_1000_get\": 0.0004, "
    "\"usd_per_1000_list\": 0.005, \"usd_per_1000_delete\": 0, \"source\": "
    "\"s\", \"date\": \"2026\"},"
    "\"ec2\": {\"usd_per_hour\": {\"c5.xlarge\": 0.17}, \"source\": \"s\", "
    "\"date\": \"2026\"}}}}";

static char prices[4300];

static void remove_prices(void)
{
    unlink(prices);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *as[4] = {NULL, "sqs", "sns", "s3"};
    const char *record = fuzz_write("record.json", data, size);
    if (!prices[0]) { /* once: the table beside the record, stdout away */
        snprintf(prices, sizeof prices, "%s/prices.json", fuzz_dir());
        FILE *f = fopen(prices, "wb");
        if (!f || fputs(PRICES, f) < 0 || fclose(f) != 0 ||
            !freopen("/dev/null", "w", stdout))
            abort();
        atexit(remove_prices);
    }
    for (int k = 0; k < 8; k++) {
        cost_opts o = {record, prices, NULL, as[k % 4], k / 4, NULL};
        sdsinf_err err = {0};
        int rc = cost_report(&o, &err);
        if (rc != SDSINF_OK && rc != SDSINF_ENOMEM &&
            (err.code != rc || strncmp(err.msg, record, strlen(record))))
            abort();
    }
    return 0;
}
