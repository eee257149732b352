/* worker.h - one worker of a distributed run (internal). */
#ifndef SDSINF_WORKER_H
#define SDSINF_WORKER_H

#include "internal.h"

typedef struct sdsinf__worker_opts {
    sdsinf_channel *channel;     /* borrowed; gives self and workers */
    uint64_t run;                /* run id (messages of others dropped) */
    const sdsinf_plan *plan;     /* borrowed */
    const sdsinf_model *shard;   /* the weight columns this worker owns */
    const sdsinf_csr *images;    /* all images; it uses its own features */
    int64_t batch_size;          /* <= 0: all at once */
    int codec, level;            /* SDSINF__CODEC_*, zstd level */
    int timeout_ms;              /* longest wait for a message */
    sdsinf_pool *pool;           /* kernel threads, or NULL */
} sdsinf__worker_opts;

/* What a worker did (seconds are wall time spent in each part). */
typedef struct sdsinf__worker_stats {
    double seconds, compute_seconds, encode_seconds, decode_seconds;
    double send_seconds, wait_seconds;
    uint64_t messages_sent, bytes_sent, messages_received, bytes_received;
    uint64_t duplicates, dropped;
} sdsinf__worker_stats;

/* Runs every batch through every layer.  Worker 0 also gathers the
 * results into *res (res->images entries, allocated by the caller); other
 * workers leave res alone. */
int sdsinf__worker_run(const sdsinf__worker_opts *o, sdsinf_result *res,
                       sdsinf__worker_stats *st, sdsinf_err *err);

#endif /* SDSINF_WORKER_H */
