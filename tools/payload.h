/* payload.h - SDS-Inf invocation payloads (JSON): read and check one, and
 * the settings of a run it gives.
 *
 * The schema (SDS-Inf's; other keys are ignored):
 *   data_params.{weights_loc, inf_data_loc}{bucket, subfolder}
 *   data_params.connectivity_loc{bucket, subfolder}     (optional)
 *   data_params.metrics_loc{bucket, subfolder[, filename][, expt_id]}
 *   invoc_params{bfr, nlevels, total_nworkers}
 *   model_params{numNeurons, numLayers, numData, batchSize, numBatches}
 * Numbers are integers in range; total_nworkers is bfr + bfr^2 + ... +
 * bfr^nlevels (the launch tree SDS-Inf starts); no key appears twice. */
#ifndef SDSINF_PAYLOAD_H
#define SDSINF_PAYLOAD_H

#include "sdsinf.h"

#include <stddef.h>
#include <stdint.h>

/* A place in S3; bucket NULL when the payload does not give the place. */
typedef struct payload_loc {
    const char *bucket, *subfolder;
} payload_loc;

typedef struct payload {
    payload_loc weights, inf_data, connectivity, metrics;
    const char *metrics_filename; /* NULL when absent */
    long long expt_id;            /* -1 when absent */
    int bfr, nlevels, workers;    /* invoc_params (workers: total_nworkers) */
    int32_t neurons, layers;      /* numNeurons, numLayers */
    int64_t num_data, batch_size, num_batches;
    /* From metrics_loc, as SDS-Inf names them: config is the file name
     * after its first '_', without the extension ("c1_1024n_8w_10000bs_
     * queue"); name is the file name without ".csv" (or, with no file name,
     * the subfolder's last part).  Neither contains '/'. */
    char config[256], name[256];
    struct cJSON *doc_; /* internal: owns the strings */
} payload;

/* Parses `len` bytes of `text` (any bytes; no terminating NUL needed) as a
 * payload; `name` (the file) begins every error message.  Invalid JSON is
 * reported as `name:LINE: invalid JSON at column C, near '...'`; a missing
 * key, a wrong type or a value out of range names the key's path
 * (model_params.numNeurons).  On failure *out is left zeroed; the caller
 * frees a parsed payload with payload_free. */
int payload_parse(const char *name, const char *text, size_t len,
                  payload *out, sdsinf_err *err);
/* Reads and parses the file at path (at most 1 MiB). */
int payload_load(const char *path, payload *out, sdsinf_err *err);
void payload_free(payload *p);

/* The images the payload runs: min(numData, numBatches * batchSize). */
int64_t payload_images(const payload *p);

#endif /* SDSINF_PAYLOAD_H */
