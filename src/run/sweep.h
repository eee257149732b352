/* run/sweep.h - a run's owner record, and the sweep of runs whose owner is
 * gone (internal). */
#ifndef SDSINF_SWEEP_H
#define SDSINF_SWEEP_H

#include "core/core.h"

/* The run's own directory, <scratch>/sdsinf-<run>, into buf (cap bytes):
 * where its owner record and staged files go; -1 when too long. */
int sdsinf__run_dir(uint64_t run, char *buf, size_t cap);
/* Sweeps what runs whose owner is gone left, and the copies processes
 * gone fetched (sdsinf_clean), best effort. */
void sdsinf__sweep(void);
/* Sweeps (sdsinf__sweep), then, where the run needs one (its channel
 * keeps state outside the processes: SDSINF_CAP_PROCESSES with
 * run_destroy; or `staged`: it writes files for its workers), records this process (pid, start time) as the
 * owner of run, with its channel, the channel's config (may be NULL), its
 * endpoints and `remote`, the s3:// location where it stages objects
 * (NULL or "": none), before any worker opens the channel and anything is
 * staged.  The record's path goes into owner (cap bytes; "" when none was
 * written: the run goes on, its state just not sweepable). */
void sdsinf__owner_claim(const char *channel, const char *config,
                         uint64_t run, int endpoints, int staged,
                         const char *remote, char *owner, size_t cap);
/* Removes the owner record (once the run's state is gone) and the run's
 * directory if that left it empty. */
void sdsinf__owner_release(const char *owner);

#endif /* SDSINF_SWEEP_H */
