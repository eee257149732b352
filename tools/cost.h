/* cost.h - `sdsinf cost`: the bill of a recorded run under the price
 * table, by service and kind of request (cost.c), and the validation of
 * the cost model against SDS-Inf's published experiments (validate.c).
 *
 * A recorded run is what `sdsinf run --json` printed (its last line, or
 * the whole file: one JSON object with channel, requests and bytes_sent)
 * or the metrics of `--metrics PREFIX` (PREFIX or PREFIX.json: its run's
 * REQUESTS_*, STORAGE_* and LAMBDA_* columns, the same usage).  requests
 * is either one map of kinds (send, receive, empty, remove, list, retries,
 * units; a Lambda run's lambda_invocations too), the requests of the run's
 * channel, or a map of services to such
 * maps ({"sns": {...}, "sqs": {...}, "s3": {...}}, each with an optional
 * bytes), for channels that use several (SNS to SQS, a claim check in
 * S3).  Optional: storage_requests, one map of the S3 requests of the
 * run's s3:// inputs and outputs (billed as S3's, beside the channel's);
 * lambda {invocations, gb_seconds, arch} and instance
 * {type, seconds}.  Channels that are not an AWS service (local, fs,
 * redis, mpi, mem) bill nothing: their run costs $0, and `as` prices
 * their requests as the named AWS channel's would be. */
#ifndef SDSINF_COST_H
#define SDSINF_COST_H

#include "sdsinf.h"

typedef struct cost_opts {
    const char *input;  /* RUN.json or METRICS_PREFIX */
    const char *prices; /* the price table; NULL: prices_default_path() */
    const char *region; /* NULL: the table's default */
    const char *as;     /* NULL, or "sqs", "sns", "s3" */
    int json;           /* one JSON object instead of the table */
    const char *calibrations; /* --validate: calibration files, comma-
                                 separated (NULL: none): sdsinf's own
                                 prediction on the configurations of their
                                 models */
} cost_opts;

/* SDSINF_EINVAL when --as names no AWS channel cost can price (NULL: ok). */
int cost_as_check(const char *as, sdsinf_err *err);
/* Prints the bill of o->input on standard output. */
int cost_report(const cost_opts *o, sdsinf_err *err);

/* A recorded run's bill, as cost_report prints it (for `sdsinf report`);
 * the strings are copies. */
typedef struct cost_bill {
    char channel[64];
    char priced_as[16]; /* "" : a channel AWS does not bill */
    char region[64];
    uint64_t requests;  /* its channel's billable requests */
    sdsinf_cost cost;
} cost_bill;
int cost_bill_of(const cost_opts *o, cost_bill *b, sdsinf_err *err);

/* The run JSON's cost_usd of a run on `channel` with statistics st (the
 * requests its channel made, the bytes it sent, its Lambda invocations and
 * GB-seconds), plus the S3 requests `storage` of its s3:// inputs and
 * outputs (its JSON's storage_requests; NULL: none): 0 for a channel AWS
 * does not bill without storage or Lambda (no price table is read); else
 * its bill under the default price table's default region, as `sdsinf
 * cost` gives it for the run's JSON. */
int cost_run_usd(const char *channel, const sdsinf_run_stats *st,
                 const sdsinf_requests *storage, double *usd,
                 sdsinf_err *err);

/* The largest relative error --validate accepts. */
#define COST_VALIDATE_LIMIT 0.02

/* Prints, for every configuration of SDS-Inf's published cost workbook in
 * dir (published-expt-plan-*.csv, with the raw metrics of
 * published-metric-reports-*.csv), the published total, ours under the
 * price table's "sds-inf-workbook" prices, the relative error, and the
 * same run at o->region's list prices, and sdsinf's predicted cost and
 * batch time where o->calibrations has its model.  SDSINF_EMISMATCH when
 * an error is over COST_VALIDATE_LIMIT. */
int cost_validate(const char *dir, const cost_opts *o, sdsinf_err *err);

#endif /* SDSINF_COST_H */
