/* advise.c - the planner's search (sdsinf_advise): every configuration
 * predicted (sdsinf_predict), those that cannot run dropped, the frontier
 * of time against cost marked, and the recommendation under the bounds.
 * Sections: candidates, the search, the recommendation. */
#include "core/core.h"
#include "cost/predict.h"

#include <stdlib.h>
#include <string.h>

/* Lambda's memory sizes tried (MB; 1,769 is one vCPU, 10,240 the most),
 * flat worker counts (1,000: Lambda's default concurrency) and launch
 * trees (W = B + .. + B^N), EC2 machine counts for MPI and Redis. */
static const int MEMORY_MB[] = {512, 1024, 1769, 2048, 3008, 3538, 5307,
                                7076, 10240};
static const int FLAT[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000};
static const int BFR[] = {2, 3, 4, 5, 6, 8, 10, 16, 20, 31};
static const int MACHINES[] = {2, 4, 8, 16};
#define MAX_WORKERS 1000
#define NBATCHES 4 /* all images, a quarter, 1/16, 1/64 */
#define N(a) (sizeof a / sizeof *a)

/* ---- candidates ---------------------------------------------------------- */

typedef struct search {
    const sdsinf_calibration *cal;
    const sdsinf_latency_model *lat;
    const sdsinf_prices *prices;
    int64_t images;
    sdsinf_candidate *c;
    size_t n, cap;
} search;

/* Predicts d and keeps it when it can run. */
static int try(search *s, const sdsinf_deployment *d, sdsinf_err *err)
{
    sdsinf_prediction p;
    int rc = sdsinf_predict(s->cal, s->lat, s->prices, s->images, d, &p, err);
    if (rc || p.infeasible)
        return rc;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        sdsinf_candidate *more = realloc(s->c, cap * sizeof *more);
        if (!more)
            return sdsinf__fail(err, SDSINF_ENOMEM, "the planner: no memory "
                                "for %zu candidates", cap);
        s->c = more;
        s->cap = cap;
    }
    s->c[s->n].d = *d;
    s->c[s->n].p = p;
    s->c[s->n].frontier = s->c[s->n].best_of_kind = 0;
    s->n++;
    return SDSINF_OK;
}

/* d at every batch size (distinct ones only). */
static int try_batches(search *s, sdsinf_deployment d, sdsinf_err *err)
{
    int64_t last = 0;
    for (int k = 0; k < NBATCHES; k++) {
        int64_t b = (s->images + (1 << 2 * k) - 1) >> 2 * k;
        int rc;
        if (b < 1 || b == last)
            continue;
        d.batch_size = last = b;
        if ((rc = try(s, &d, err)))
            return rc;
    }
    return SDSINF_OK;
}

/* Lambda: every channel, memory size and worker count, flat or as a
 * launch tree. */
static int lambda_candidates(search *s, sdsinf_err *err)
{
    sdsinf_deployment d = {SDSINF_DEPLOYMENT_VERSION, SDSINF_ENGINE_LAMBDA,
                           0, 0, 0, 0, 0, 0, NULL, 1};
    int rc;
    for (d.channel = 0; d.channel < SDSINF_VIAS; d.channel++)
        for (size_t m = 0; m < N(MEMORY_MB); m++) {
            d.memory_mb = MEMORY_MB[m];
            d.bfr = d.nlevels = 0;
            for (size_t w = 0; w < N(FLAT); w++) {
                d.workers = FLAT[w];
                if ((d.workers > 1 || d.channel == SDSINF_VIA_SQS) &&
                    (rc = try_batches(s, d, err)))
                    return rc;
            }
            for (size_t b = 0; b < N(BFR); b++)
                for (d.nlevels = 2; d.nlevels <= 3; d.nlevels++) {
                    int W = 0, level = 1;
                    for (int k = 0; k < d.nlevels; k++)
                        W += level *= BFR[b];
                    if (W > MAX_WORKERS)
                        continue;
                    d.bfr = BFR[b];
                    d.workers = W;
                    if ((rc = try_batches(s, d, err)))
                        return rc;
                }
        }
    return SDSINF_OK;
}

/* The EC2 engines on every instance type with a price and vCPUs. */
static int ec2_candidates(search *s, sdsinf_err *err)
{
    for (size_t i = 0; i < s->prices->ninstances; i++) {
        sdsinf_deployment d = {SDSINF_DEPLOYMENT_VERSION, 0, 0, 0, 0, 0, 0, 0,
                               s->prices->instances[i].type, 1};
        int vcpus = sdsinf__instance_vcpus(s->lat, d.instance), rc;
        if (vcpus < 1)
            continue; /* priced, but its size is not in the model */
        for (d.engine = SDSINF_ENGINE_LOCAL; d.engine < SDSINF_ENGINES;
             d.engine++) {
            int multi = d.engine == SDSINF_ENGINE_MPI ||
                        d.engine == SDSINF_ENGINE_REDIS;
            for (size_t m = 0; m < (multi ? N(MACHINES) : 1); m++) {
                d.machines = multi ? MACHINES[m] : 1;
                d.workers = d.engine >= SDSINF_ENGINE_SERVER_JOB
                                ? 1 : vcpus * d.machines;
                if ((rc = try_batches(s, d, err)))
                    return rc;
            }
        }
    }
    return SDSINF_OK;
}

/* ---- the search ------------------------------------------------------------ */

static int faster(const void *a, const void *b)
{
    const sdsinf_prediction *x = &((const sdsinf_candidate *)a)->p;
    const sdsinf_prediction *y = &((const sdsinf_candidate *)b)->p;
    if (x->seconds != y->seconds)
        return x->seconds < y->seconds ? -1 : 1;
    return (x->usd > y->usd) - (x->usd < y->usd);
}

/* Sorted fastest first, a candidate is on the frontier when it is cheaper
 * than every faster one. */
static void mark_frontier(sdsinf_candidate *c, size_t n)
{
    double cheapest = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || c[i].p.usd < cheapest) {
            c[i].frontier = 1;
            cheapest = c[i].p.usd;
        }
}

/* ---- the recommendation ----------------------------------------------------- */

int sdsinf_candidate_kind(const sdsinf_deployment *d)
{
    if (d->engine != SDSINF_ENGINE_LAMBDA)
        return SDSINF_VIAS + d->engine; /* LOCAL (1) .. after the channels */
    return d->workers > 1 ? 1 + d->channel : 0;
}

/* The recommendation among the candidates of `kind` (-1: all): the
 * cheapest within max_s, else the fastest within max_usd; *meets 0 when
 * none is within the bounds and the nearest is returned instead (the
 * fastest under a time bound, else the cheapest); -1 when it has none. */
static long pick(const sdsinf_advice *a, int kind, double max_s,
                 double max_usd, int *meets)
{
    long best = -1, nearest = -1;
    for (size_t i = 0; i < a->n; i++) {
        const sdsinf_prediction *p = &a->c[i].p;
        if (kind >= 0 && sdsinf_candidate_kind(&a->c[i].d) != kind)
            continue;
        /* fastest first: the first of the kind is its fastest */
        if (nearest < 0 || (max_s <= 0 && p->usd < a->c[nearest].p.usd))
            nearest = (long)i;
        if ((max_s > 0 && p->seconds > max_s) ||
            (max_usd > 0 && p->usd > max_usd))
            continue;
        if (best < 0 || (max_s > 0 && p->usd < a->c[best].p.usd))
            best = (long)i;
    }
    *meets = best >= 0;
    return best >= 0 ? best : nearest;
}

/* The recommendation, or the nearest; and each kind's own. */
static void recommend(sdsinf_advice *a, double max_s, double max_usd)
{
    int meets;
    long r = pick(a, -1, max_s, max_usd, &meets);
    a->achievable = meets;
    a->recommended = meets ? r : -1;
    a->nearest = meets ? -1 : r;
    for (int k = 0; k < SDSINF_CANDIDATE_KINDS; k++)
        if ((r = pick(a, k, max_s, max_usd, &meets)) >= 0)
            a->c[r].best_of_kind = meets ? 1 : 2;
}

int sdsinf_advise(const sdsinf_calibration *cal,
                  const sdsinf_latency_model *lat,
                  const sdsinf_prices *prices, int64_t images,
                  double max_seconds, double max_usd, sdsinf_advice *out,
                  sdsinf_err *err)
{
    search s = {cal, lat, prices, images, NULL, 0, 0};
    int rc;
    if (!out)
        return sdsinf__fail(err, SDSINF_EINVAL, "sdsinf_advise: NULL out");
    memset(out, 0, sizeof *out);
    if (max_seconds <= 0 && max_usd <= 0)
        return sdsinf__fail(err, SDSINF_EINVAL, "the planner needs a bound: "
                            "a latency (max seconds) or a budget (max USD)");
    if ((rc = lambda_candidates(&s, err)) || (rc = ec2_candidates(&s, err))) {
        free(s.c);
        return rc;
    }
    qsort(s.c, s.n, sizeof *s.c, faster);
    mark_frontier(s.c, s.n);
    out->c = s.c;
    out->n = s.n;
    recommend(out, max_seconds, max_usd);
    return SDSINF_OK;
}

void sdsinf_advice_free(sdsinf_advice *a)
{
    if (!a)
        return;
    free(a->c);
    memset(a, 0, sizeof *a);
}
