/* run/inbox.h - what a worker receives (internal): every chunk of every
 * block owed at one (batch, layer), deduplicated by (source, chunk),
 * decoded; messages of other runs, past layers or unexpected sources
 * dropped, those of later layers kept for their turn; on keyed channels
 * the sources fetched in order; every wait bounded, with an error naming
 * the sources still owed; the coordinator's stop for this worker and run
 * (looked for at its key every second on a keyed channel) ends the
 * receive with SDSINF_ECANCELED. */
#ifndef SDSINF_INBOX_H
#define SDSINF_INBOX_H

#include "run/codec.h"

#include <signal.h>

typedef struct sdsinf__inbox sdsinf__inbox;

typedef struct sdsinf__inbox_opts {
    sdsinf_channel *channel; /* borrowed; its self and workers are ours */
    uint64_t run;            /* messages of other runs are dropped */
    int workers;             /* the run's: sources are 0 .. workers-1 */
    int32_t neurons;         /* bounds the rows' ids */
    int timeout_ms;          /* longest wait for a message */
    const volatile sig_atomic_t *cancel; /* nonzero: SDSINF_ECANCELED
                                within CANCEL_SLICE_MS of a wait; or NULL */
    sdsinf__msg_ctx *codec;  /* the decoder's kept state (borrowed) */
} sdsinf__inbox_opts;

/* What the caller does as a layer's blocks come in (either may be NULL):
 * check a decoded chunk from `source` (an error ends the receive), and act
 * once all of a source's chunks are in (parts[0..nparts) so far, psrc[i]
 * naming part i's source). */
typedef struct sdsinf__inbox_hooks {
    void *ctx;
    int (*check)(void *ctx, uint32_t layer, uint32_t source,
                 const sdsinf__rows *part, sdsinf_err *err);
    int (*arrived)(void *ctx, uint32_t source, const sdsinf__rows *parts,
                   const uint32_t *psrc, int64_t nparts, sdsinf_err *err);
} sdsinf__inbox_hooks;

int sdsinf__inbox_new(const sdsinf__inbox_opts *o, sdsinf__inbox **out,
                      sdsinf_err *err);
/* Frees the inbox and the messages it still keeps (NULL is fine). */
void sdsinf__inbox_free(sdsinf__inbox *ib);

/* Receives every chunk of every block owed at (batch, layer): expect[s]
 * is 1 when source s owes one.  The parts (one per chunk, `samples`
 * columns) go to *parts (caller frees each with sdsinf__rows_free, then
 * the array with sdsinf__free), their count to *nparts; waits, decoding
 * and the messages taken are counted into rec. */
int sdsinf__inbox_receive(sdsinf__inbox *ib, uint32_t batch, uint32_t layer,
                          const uint8_t *expect, int64_t samples,
                          const sdsinf__inbox_hooks *hooks,
                          sdsinf_layer_record *rec, sdsinf__rows **parts,
                          int64_t *nparts, sdsinf_err *err);
/* SDSINF_ECANCELED once the run's cancel flag is set. */
int sdsinf__inbox_canceled(const sdsinf__inbox *ib, sdsinf_err *err);
/* Messages dropped (damaged, not ours, past) and duplicates seen so far. */
void sdsinf__inbox_counts(const sdsinf__inbox *ib, uint64_t *dropped,
                          uint64_t *duplicates);

/* Counts a message of len bytes into a record's n, bytes, max and min. */
void sdsinf__count_message(uint64_t *n, uint64_t *bytes, uint64_t *max,
                           uint64_t *min, size_t len);

#endif /* SDSINF_INBOX_H */
