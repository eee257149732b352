/* run/launcher_mpi.c - the "mpi" launcher: the workers are the ranks of an
 * MPI job (mpirun -n W sdsinf run --launcher mpi ...), rank r worker r, with
 * the channel "mpi" by default (channels/mpi.c).  Its MPI calls are the
 * MPI plugin's (plugin/plugin.h), loaded when a run starts: this file
 * links no MPI.
 *
 * Each rank runs sdsinf_run and, in it, its own worker.  Rank 0 is also the
 * coordinator: it records itself as the owner of the run's channel state
 * (sweep.c), makes that state (the channel's run_create; sdsinf_run
 * removes it on rank 0 once every rank is done), opens the coordinator's
 * endpoint, and every rank takes its run id (only once the state is
 * made), loads its own data, and learns whether all did (one
 * MPI_Allreduce of the lowest failing rank: if any failed, none starts,
 * so no rank waits out a timeout for a peer that never came, and every
 * rank takes that rank's error, which names the file and the worker).
 * Then each runs its layers and reports to the coordinator over the
 * channel, as any worker does; rank 0 gathers the reports once its own
 * worker is done, and every rank waits at a final barrier until it has
 * (so no rank's MPI ends with its report still in flight, and no rank
 * still has the channel open when rank 0 removes the run's state).  A
 * rank that dies ends the whole job (mpirun's doing, with the rank
 * named).  MPI is started here when the caller has not, and finalized at
 * exit (channels/mpi.c). */
#include "channels/channels.h"
#include "plugin/plugin.h"
#include "run/run.h"
#include "run/sweep.h"

#include <stdio.h>
#include <string.h>

#define WHAT "launcher mpi"

static int mpi_up; /* l->state once MPI is started: wait's barrier */

/* Runs this rank's worker; rank 0 makes the run's channel state and opens
 * the coordinator's endpoint first (sdsinf_run gathers there once this
 * returns).  The ranks other than 0 return their own worker's status. */
static int mpi_start(sdsinf_launch *l, sdsinf_err *err)
{
    run_ctx *c = l->ctx_;
    const sdsinf__plugin *pl;
    void *mpi_state;
    int rank = 0, size = 0, rc;
    one_worker t;
    struct {
        int rc;
        char msg[sizeof err->msg];
    } failed;
    if ((rc = sdsinf__plugin_get(SDSINF__PLUGIN_MPI, WHAT, &pl, err)) !=
            SDSINF_OK ||
        (rc = sdsinf__channel_type_state(pl->channel, &mpi_state, err)) !=
            SDSINF_OK) /* (starts MPI) */
        return rc;
    l->state = &mpi_up;
    pl->job_size(&rank, &size);
    c->st->rank = rank;
    if (size != c->W) /* every rank sees it: all return */
        return sdsinf__fail(err, SDSINF_EINVAL, "the plan has %d workers but "
                            "the MPI job has %d ranks: run mpirun -n %d",
                            c->W, size, c->W);
    memset(&t, 0, sizeof t);
    if (rank == 0) { /* before any rank knows the run, so opens its state */
        sdsinf__owner_claim(c->channel, c->o->channel_config, c->run,
                            c->W + 1, 0, NULL, c->owner, sizeof c->owner);
        rc = sdsinf__run_create(c, &t.err);
    }
    pl->job_bcast(&c->run, (int)sizeof c->run, 0);
    l->run = c->run;
    if (rc == SDSINF_OK && rank == 0)
        rc = sdsinf__coordinator_open(c, &t.err);
    if (rc == SDSINF_OK)
        rc = sdsinf__worker_setup(c, rank, &t, &t.err);
    int first_bad = pl->job_min(rc == SDSINF_OK ? size : rank);
    if (first_bad != size) { /* that rank's error, for every rank */
        failed.rc = rc;
        snprintf(failed.msg, sizeof failed.msg, "%s", t.err.msg);
        pl->job_bcast(&failed, (int)sizeof failed, first_bad);
        sdsinf__worker_teardown(&t);
        return sdsinf__fail(err, failed.rc, "%s; the run did not start",
                            failed.msg);
    }
    t.ready = sdsinf__wall_now();
    t.rc = sdsinf__worker_run(&t.wo, rank == 0 ? &t.res : NULL, &t.st,
                              &t.err);
    if (rank != 0) /* the s3:// locations this rank's process read */
        sdsinf_location_requests(&t.st.storage);
    sdsinf__worker_report(&t);
    sdsinf__worker_teardown(&t);
    if (rank != 0 && t.rc != SDSINF_OK && err)
        *err = t.err;
    return rank == 0 ? SDSINF_OK : t.rc;
}

/* Once rank 0 has every report (or given up), all ranks go on. */
static void mpi_wait(sdsinf_launch *l)
{
    const sdsinf__plugin *pl;
    if (l->state &&
        sdsinf__plugin_get(SDSINF__PLUGIN_MPI, WHAT, &pl, NULL) == SDSINF_OK)
        pl->job_barrier();
    l->state = NULL;
}

static const char *const mpi_channels[] = {"mpi", NULL};

const sdsinf_launcher_methods sdsinf__launcher_mpi = {
    .version = SDSINF_LAUNCHER_VERSION,
    .name = "mpi",
    .caps = SDSINF_LAUNCH_IN_JOB,
    .default_channel = "mpi",
    .own_channels = mpi_channels,
    .start = mpi_start,
    .wait = mpi_wait,
};
