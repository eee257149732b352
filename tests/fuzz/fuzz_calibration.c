/* fuzz_calibration.c - fuzz target: any bytes as a calibration file for
 * `sdsinf plan` (tools/calibrate.c), and what loads planned under a small
 * price table with a latency block (tools/plan.c, the library's
 * sdsinf_advise).  Loading must end in SDSINF_OK or an error naming the
 * file; planning in SDSINF_OK or an error with its message (SDSINF_ENOMEM
 * aside); what it prints goes to /dev/null. */
#include "plan.h"
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
    "\"date\": \"2026\"}}},"
    "\"latency\": {\"sns_publish_seconds\": 0.03, \"sqs_send_seconds\": 0.02, "
    "\"sqs_receive_seconds\": 0.1, \"s3_put_seconds\": 0.03, "
    "\"s3_get_seconds\": 0.02, \"s3_list_seconds\": 0.03, "
    "\"s3_scan_sleep_seconds\": 0.1, \"s3_parallel_requests\": 4, "
    "\"worker_bytes_per_second\": 5e7, \"lambda_mb_per_vcpu\": 1769, "
    "\"lambda_max_vcpus\": 6, \"lambda_max_seconds\": 900, "
    "\"lambda_invoke_seconds\": 0.03, \"lambda_cold_start_seconds\": 0.3, "
    "\"local_message_seconds\": 2e-5, \"mpi_message_seconds\": 5e-5, "
    "\"redis_request_seconds\": 2e-4, \"ec2_bytes_per_second\": 1.25e9, "
    "\"ec2_boot_seconds\": 45, \"machine_vcpu_speed\": 1, "
    "\"ec2_vcpus\": {\"c5.xlarge\": 4}, \"source\": \"s\", \"date\": "
    "\"2026\"}}";

static char prices[4300];

static void remove_prices(void)
{
    unlink(prices);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *file = fuzz_write("calibration.json", data, size);
    calibration c;
    sdsinf_err err = {0};
    if (!prices[0]) { /* once: the table beside the file, stdout away */
        snprintf(prices, sizeof prices, "%s/prices.json", fuzz_dir());
        FILE *f = fopen(prices, "wb");
        if (!f || fputs(PRICES, f) < 0 || fclose(f) != 0 ||
            !freopen("/dev/null", "w", stdout))
            abort();
        atexit(remove_prices);
    }
    int rc = calibrate_load(file, &c, &err);
    if (rc != SDSINF_OK) {
        if (rc != SDSINF_ENOMEM &&
            (err.code != rc || strncmp(err.msg, file, strlen(file))))
            abort();
        return 0;
    }
    for (int k = 0; k < 2; k++) {
        plan_opts o = {1 + (int64_t)c.images, k ? 0 : 10, k ? 0.01 : 0,
                       prices, NULL, NULL, NULL, k};
        sdsinf_err perr = {0};
        rc = plan_report(&o, &c, &perr);
        if (rc != SDSINF_OK && rc != SDSINF_ENOMEM &&
            (perr.code != rc || !perr.msg[0]))
            abort();
    }
    calibrate_free(&c);
    return 0;
}
