/* run/launcher_mpi.c - the "mpi" launcher: the workers are the ranks of an MPI
 * job (mpirun -n W sdsinf run --launcher mpi ...), rank r worker r, with the
 * channel "mpi" by default (channels/mpi.c).
 *
 * Rank 0 records itself as the owner of the run's channel state (sweep.c)
 * and every rank takes its run id, loads its own data, and learns whether
 * all did (one MPI_Allreduce of the lowest failing rank: if any failed,
 * none starts, so no rank waits out a timeout for a peer that never came,
 * and every rank takes that rank's error, which names the file and the
 * worker).  Then each runs its layers; rank 0 merges the results as
 * worker 0 does.  Each rank closes its channel, then rank 0 gathers every
 * rank's outcome, totals and per-layer records (MPI_Gather).  A rank that
 * fails (or is canceled) still reaches the gather after its own error; a
 * rank that dies ends the whole job (mpirun's doing, with the rank named).
 * MPI is started here when the caller has not, and finalized at exit
 * (channels/mpi.c). */
#include "channels/channels.h"
#include "run/run.h"
#include "run/sweep.h"

#include <mpi.h>
#include <stdio.h>
#include <string.h>

/* What each rank tells rank 0. */
typedef struct outcome {
    int rc;
    sdsinf__worker_stats st; /* its records pointer is not valid here */
    char msg[256];
} outcome;

/* Runs this rank's worker; rank 0 gathers every rank's outcome. */
static int mpi_start(sdsinf_launch *l, sdsinf_err *err)
{
    run_ctx *c = l->ctx_;
    sdsinf_run_stats *st = c->st;
    double *ready = &c->ready;
    int rank = 0, size = 0, rc, all_ok = 0;
    one_worker t;
    outcome mine, *all = NULL;
    int64_t nrec = c->m->layers + 1;
    sdsinf_layer_record *recs = NULL;
    if ((rc = sdsinf__mpi_start(err)) != SDSINF_OK)
        return rc;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    st->rank = rank;
    if (size != c->W) /* every rank sees it: all return */
        return sdsinf__fail(err, SDSINF_EINVAL, "the plan has %d workers but "
                            "the MPI job has %d ranks: run mpirun -n %d",
                            c->W, size, c->W);
    if (rank == 0) /* before any rank knows the run, so opens its state */
        sdsinf__owner_claim(c->channel, c->o->channel_config, c->run,
                            c->owner, sizeof c->owner);
    MPI_Bcast(&c->run, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    memset(&t, 0, sizeof t);
    memset(&mine, 0, sizeof mine);
    rc = sdsinf__worker_setup(c, rank, &t, &t.err);
    int bad = rc == SDSINF_OK ? size : rank, first_bad = size;
    MPI_Allreduce(&bad, &first_bad, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    *ready = sdsinf__now();
    all_ok = first_bad == size;
    if (!all_ok) { /* that rank's error, for every rank (rank 0 says it) */
        mine.rc = rc;
        snprintf(mine.msg, sizeof mine.msg, "%s", t.err.msg);
        MPI_Bcast(&mine, (int)sizeof mine, MPI_BYTE, first_bad,
                  MPI_COMM_WORLD);
        rc = sdsinf__fail(&t.err, mine.rc, "%s; the run did not start",
                          mine.msg);
        memset(&mine, 0, sizeof mine);
    }
    if (all_ok)
        rc = sdsinf__worker_run(&t.wo, rank == 0 ? c->res : NULL, &mine.st,
                                &t.err);
    mine.rc = rc;
    if (rc != SDSINF_OK)
        snprintf(mine.msg, sizeof mine.msg, "%s", t.err.msg);
    recs = mine.st.records;
    mine.st.records = NULL;
    if (!recs) /* every rank sends its share of records */
        recs = sdsinf__calloc((size_t)nrec, sizeof *recs);
    if (!recs) /* (then MPI_Gather would read nothing: stop the job) */
        MPI_Abort(MPI_COMM_WORLD, 1);
    if (rank == 0)
        all = sdsinf__calloc((size_t)size, sizeof *all);
    sdsinf_layer_record *grecs = rank == 0 && st->records ? st->records
                                                          : NULL;
    sdsinf__worker_teardown(&t); /* before the gather: rank 0 then knows
                                    every rank has closed its channel */
    MPI_Gather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine,
               MPI_BYTE, 0, MPI_COMM_WORLD);
    MPI_Gather(recs, (int)(nrec * (int64_t)sizeof *recs), MPI_BYTE, grecs,
               (int)(nrec * (int64_t)sizeof *recs), MPI_BYTE, 0,
               MPI_COMM_WORLD);
    if (rank != 0 || !all) {
        if (rank == 0)
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        else if (rc != SDSINF_OK && err)
            *err = t.err;
        goto done;
    }
    for (int64_t i = 0; grecs && i < (int64_t)size * nrec; i++) {
        /* by position: a rank that failed early sent zeros */
        grecs[i].worker = (int32_t)(i / nrec);
        grecs[i].layer = (int32_t)(i % nrec) + 1;
    }
    rc = SDSINF_OK;
    for (int r = 0; r < size && rc == SDSINF_OK; r++)
        if (all[r].rc == SDSINF_ECANCELED) /* each closed with cleanup */
            rc = sdsinf__canceled(c, 1, err);
    /* the failure to report: a rank's own before its peers' timeouts */
    for (int pass = 0; pass < 2 && rc == SDSINF_OK; pass++)
        for (int r = 0; r < size && rc == SDSINF_OK; r++)
            if (all[r].rc != SDSINF_OK &&
                (pass == 1 || all[r].rc != SDSINF_ETIMEDOUT))
                rc = sdsinf__fail(err, all[r].rc, "%s", all[r].msg);
    for (int r = 0; r < size; r++)
        sdsinf__stats_add(st, &all[r].st);
done:
    sdsinf__free(recs);
    sdsinf__free(all);
    return rc;
}

static const char *const mpi_channels[] = {"mpi", NULL};

const sdsinf_launcher_methods sdsinf__launcher_mpi = {
    .version = SDSINF_LAUNCHER_VERSION,
    .name = "mpi",
    .caps = SDSINF_LAUNCH_IN_JOB,
    .default_channel = "mpi",
    .own_channels = mpi_channels,
    .start = mpi_start,
};
