/* run/sweep.h - a run's channel state and its owner (internal). */
#ifndef SDSINF_SWEEP_H
#define SDSINF_SWEEP_H

#include "core/core.h"

/* Removes path and, for a directory, everything under it (never following
 * a link), counting into *files and *bytes what it removes (dry_run:
 * would remove); path is a buffer of cap bytes, restored on return.
 * 0, or -1 with errno when something could not be removed. */
int sdsinf__rm_tree(char *path, size_t cap, int dry_run, int64_t *files,
                    int64_t *bytes);
/* Sweeps what runs whose owner is gone left in the scratch directory,
 * then records this process (pid, start time) as the owner of run's state
 * for the channel (local or fs; other channels keep none) under config
 * (NULL: the default place), before any worker opens it; the record's
 * path goes into owner (cap bytes; "" when none was written: the run goes
 * on, its state just not sweepable). */
void sdsinf__owner_claim(const char *channel, const char *config,
                         uint64_t run, char *owner, size_t cap);
/* Records this process as the owner of run's directory `dir` (made if
 * missing): <dir>/<run>.owner, the record the sweep looks for in the
 * scratch directory's sdsinf-<run> entries; its path goes into owner ("":
 * none written). */
void sdsinf__owner_dir_claim(const char *dir, uint64_t run, char *owner,
                             size_t cap);
/* Removes the owner record (once the run's state is gone) and its
 * directory if that left it empty. */
void sdsinf__owner_release(const char *owner);

#endif /* SDSINF_SWEEP_H */
