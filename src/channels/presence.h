/* channels/presence.h - which instances of a run are open on this machine,
 * for channels whose runs made without run_create clean up after their
 * last worker (internal).
 *
 * A run has a directory; each open instance holds an fcntl() write lock on
 * a file of its own there (.open.<worker>.<pid>.<n>), which dies with its
 * process, so a crashed worker never holds a run's cleanup back; the
 * instances of this process are counted in memory (a lock is per
 * process).  Leaving with cleanup sets a mark (.cleanup) so that whoever
 * leaves last removes the run. */
#ifndef SDSINF_PRESENCE_H
#define SDSINF_PRESENCE_H

#include "core/core.h"

typedef struct sdsinf__presence sdsinf__presence;

/* Enters the run at dir (made if missing, mode 0700) as an instance of
 * worker self.  0, or -1 with errno (*out untouched).  Nothing here is
 * a billable request: the files are the channel's bookkeeping. */
int sdsinf__presence_enter(const char *dir, int self, sdsinf__presence **out);
/* As sdsinf__presence_enter, for an instance of `channel`: a failure is
 * its status, with a message saying what to do. */
int sdsinf__presence_join(const char *channel, const char *dir, int self,
                          sdsinf__presence **out, sdsinf_err *err);
/* Leaves the run and frees p (NULL is fine: returns 0); cleanup asks for
 * the run's removal.  Returns 1 when the caller must remove the run's
 * state now (no instance of it is open here or in a live process, and
 * removal was asked): the module's lock is then held until
 * sdsinf__presence_removed, so no instance enters meanwhile.  Else 0. */
int sdsinf__presence_leave(sdsinf__presence *p, int cleanup);
/* After a leave that returned 1: removes the run's directory (its marks)
 * and releases the lock; dir is the one entered. */
void sdsinf__presence_removed(const char *dir);

/* ---- A channel instance's part in a standalone run (one made without
 * run_create), as the sqs, sns and s3 channels keep it ---- */

typedef struct sdsinf__standalone {
    sdsinf__presence *presence; /* NULL once left or let go */
    char dir[4096];
} sdsinf__standalone;

/* Removes a standalone run's state (its last instance's, on leaving). */
typedef int (*sdsinf__standalone_remove)(void *ctx, sdsinf_err *err);

/* Joins the run at <scratch>/sdsinf-<channel>-<name>-<run as 16 hex>
 * as worker self (sdsinf__presence_join). */
int sdsinf__standalone_join(sdsinf__standalone *s, const char *channel,
                            const char *name, uint64_t run, int self,
                            sdsinf_err *err);
/* Leaves the run (nothing when left already); cleanup asks for its
 * removal, which the last instance to leave makes: remove(ctx, err) (NULL:
 * the marks alone), its status returned. */
int sdsinf__standalone_leave(sdsinf__standalone *s, int cleanup,
                             sdsinf__standalone_remove remove, void *ctx,
                             sdsinf_err *err);
/* The end of an open whose finding of the run gave `code`: a run that
 * run_create made (created) is let go (run_destroy's to remove); a failed
 * open leaves as if it never opened, removing the run when it asks
 * (cleanup) and no other instance is open.  Returns code. */
int sdsinf__standalone_opened(sdsinf__standalone *s, int code, int created,
                              int cleanup, sdsinf__standalone_remove remove,
                              void *ctx);

#endif /* SDSINF_PRESENCE_H */
