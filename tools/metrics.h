/* metrics.h - a run's metrics as files, in SDS-Inf's layout:
 *   PREFIX.csv         the run record: a header and one row, SDS-Inf's
 *                      columns (master_metrics_*.csv) then sdsinf's own;
 *   PREFIX-layers.csv  one row per worker per layer (SDS-Inf's
 *                      master_layerstats_*.csv columns, then sdsinf's);
 *   PREFIX.json        {"run": {...}, "layers": [{...}, ...]}: the same
 *                      columns as keys, null where the CSV cell is empty.
 * Columns with no meaning here (DynamoDB, poll calls) stay empty, and the
 * Lambda ones (METRIC_LAMBDA_RUNTIME: the workers' billed seconds, summed;
 * LAMBDA_*) for a run without Lambda.  Times are summed over workers, as
 * SDS-Inf sums them.  LAYER is
 * 0-based as in SDS-Inf: 0..L-1 are the model's layers, L the results'
 * trip to worker 0.  As in SDS-Inf, MSG_* and CHUNK_* count the messages
 * a worker sent (one message per send here, so PUBLISH_* too); what it
 * received is in RECEIVED_*.  METRIC_PUBLISH_CALLS and
 * METRIC_RECEIVE_POLL_CALLS are the channel's send and receive requests,
 * and REQUESTS_* all its billable requests by kind (sdsinf_requests). */
#ifndef SDSINF_METRICS_H
#define SDSINF_METRICS_H

#include "sdsinf.h"

#include <stdint.h>

/* What the statistics do not hold: how the run was set up. */
typedef struct metrics_run {
    const char *config;   /* CONFIG: the configuration's name */
    long long expt_id;    /* EXPT_ID; < 0: none */
    int bfr, nlevels;     /* the launch tree; 0: all from the coordinator */
    int32_t neurons, layers;
    int64_t images;       /* NUM_DATA */
    int64_t batch_size;   /* <= 0: all images at once */
    const char *channel, *launcher, *codec;
    int64_t categories;
    int check;            /* 1 passed, 0 failed, -1 not checked */
    const sdsinf_requests *storage; /* the S3 requests of its s3://
                                       locations so far (STORAGE_*), or
                                       NULL: none */
} metrics_run;

/* Writes the three files for a finished run, all of them or none (each is
 * written to a temporary file, then renamed into place).  st->records may
 * be NULL: the layer file then has its header only. */
int metrics_write(const char *prefix, const metrics_run *mr,
                  const sdsinf_run_stats *st, sdsinf_err *err);

#endif /* SDSINF_METRICS_H */
