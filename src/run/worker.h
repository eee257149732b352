/* worker.h - one worker of a distributed run (internal). */
#ifndef SDSINF_WORKER_H
#define SDSINF_WORKER_H

#include "kernel/layer_rows.h"
#include "kernel/shard.h"

#include <signal.h>

typedef struct sdsinf__worker_opts {
    sdsinf_channel *channel;     /* borrowed; gives self and workers + 1
                                    (the last endpoint: the coordinator) */
    uint64_t run;                /* run id (messages of others dropped) */
    const sdsinf_plan *plan;     /* borrowed */
    const sdsinf__local_shard *shard; /* its layers */
    const sdsinf_csr *images;    /* all images; it uses its own features */
    int64_t batch_size;          /* <= 0: all at once */
    int codec, level;            /* SDSINF__CODEC_*, zstd level */
    int timeout_ms;              /* longest wait for a message */
    size_t max_message;          /* bytes per message at most (> 0) */
    size_t whole_above;          /* a block whose message is over this goes
                                    whole, uncut (a claim check); 0: none */
    sdsinf_pool *pool;           /* kernel threads, or NULL */
    sdsinf__rows_ws **kernel;    /* the layers' scratch, prepared (the run
                                    takes it and puts it back), or NULL */
    const volatile sig_atomic_t *cancel; /* nonzero: stop (SDSINF_ECANCELED)
                                    within a slice of a wait; or NULL */
} sdsinf__worker_opts;

/* What a worker did (seconds are wall time spent in each part): the sums
 * of its records, one per layer and one for the results (layers + 1). */
typedef struct sdsinf__worker_stats {
    double seconds, compute_seconds, encode_seconds, decode_seconds;
    double send_seconds, wait_seconds;
    uint64_t messages_sent, bytes_sent, messages_received, bytes_received;
    uint64_t duplicates, dropped;
    sdsinf_requests requests;     /* the channel's, over the records */
    sdsinf_requests storage;      /* the s3:// location requests (its plan,
                                     shard, inputs) made in a process of
                                     its own, for the coordinator to count;
                                     zero in the coordinator's process */
    sdsinf_layer_record *records; /* layers + 1, or NULL; caller frees */
} sdsinf__worker_stats;

/* Runs every batch through every layer.  Worker 0 also gathers the
 * results into *res (res->images entries, allocated by the caller); other
 * workers leave res alone. */
int sdsinf__worker_run(const sdsinf__worker_opts *o, sdsinf_result *res,
                       sdsinf__worker_stats *st, sdsinf_err *err);

#endif /* SDSINF_WORKER_H */
