/* run/progress.h - a run's progress file (internal): one slot per worker in
 * a file that every process of a run on this machine maps (the local
 * launcher's; the spec names it).  A worker's slot holds its pid (set by
 * whoever started it), its last call on the channel (kept by a tracked
 * instance wrapped around its channel), its outcome (set by the worker
 * before it exits) and its wait status (set by whoever reaped it), so a
 * run stopped by a death names the layer the dead worker had reached, and
 * the coordinator sees the end of a worker it did not start itself. */
#ifndef SDSINF_PROGRESS_H
#define SDSINF_PROGRESS_H

#include "core/core.h"

typedef struct sdsinf__progress {
    struct progress_slot *slot; /* workers entries; NULL: none mapped */
    int workers;
} sdsinf__progress;

/* Creates path with `workers` empty slots and maps it (the coordinator);
 * opens and maps an existing one (a worker). */
int sdsinf__progress_create(const char *path, int workers,
                            sdsinf__progress *pr, sdsinf_err *err);
int sdsinf__progress_open(const char *path, int workers,
                          sdsinf__progress *pr, sdsinf_err *err);
void sdsinf__progress_close(sdsinf__progress *pr);

/* Worker w's process: started as pid, or (0) reaped. */
void sdsinf__progress_set_pid(const sdsinf__progress *pr, int w, int pid);
int sdsinf__progress_pid(const sdsinf__progress *pr, int w);
/* Records w's wait status once reaped (its pid then 0); reads it: 1 when w
 * has been reaped. */
void sdsinf__progress_reaped(const sdsinf__progress *pr, int w, int status);
int sdsinf__progress_ended(const sdsinf__progress *pr, int w, int *status);
/* The worker's own outcome, recorded before it exits. */
void sdsinf__progress_outcome(const sdsinf__progress *pr, int w, int rc,
                              const char *msg);
/* What the end of worker w (wait status `status`) says, into *err: a death
 * (SDSINF_EIO) named with its last call on the channel, else the outcome
 * it recorded, else SDSINF_OK for exit status 0 and SDSINF_EIO for any
 * other. */
void sdsinf__progress_explain(const sdsinf__progress *pr, int w, int status,
                              int32_t layers, const char *channel,
                              sdsinf_err *err);

/* The steps worker w has done (a step: one layer of one batch, as its
 * last call on the channel tells), of `layers` + 1 per batch. */
int64_t sdsinf__progress_steps(const sdsinf__progress *pr, int w,
                               int32_t layers);

/* Wraps *ch in an instance that records every call in w's slot; `table`
 * (the wrapper's methods, kept by the caller while the channel is open)
 * is filled in.  On failure *ch is closed. */
int sdsinf__progress_track(const sdsinf__progress *pr, int w,
                           sdsinf_channel_methods *table, sdsinf_channel **ch,
                           sdsinf_err *err);

#endif /* SDSINF_PROGRESS_H */
