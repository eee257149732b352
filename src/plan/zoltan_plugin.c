/* plan/zoltan_plugin.c - the partitioner's way to Zoltan: the MPI plugin's
 * steps (plan/zoltan.c), loaded on the first session; none in a build
 * without Zoltan, nor in a Lambda function, whose package leaves the MPI
 * plugin out (the partitioner then places greedily). */
#include "plan/zoltan.h"
#include "plugin/plugin.h"

#include <stdlib.h>

#define WHAT "the hypergraph partitioner (its Zoltan steps)"

/* The plugin's steps (loaded: a session is open). */
static const sdsinf__zoltan_methods *phg(void)
{
    const sdsinf__plugin *pl;
    sdsinf__plugin_get(SDSINF__PLUGIN_ZOLTAN, WHAT, &pl, NULL);
    return pl->zoltan;
}

int sdsinf__zoltan_open(sdsinf__zoltan **out, const plan *p, int window,
                        sdsinf_err *err)
{
    const sdsinf__plugin *pl;
    *out = NULL;
    if (!(sdsinf__plugin_built() & SDSINF__PLUGIN_ZOLTAN) ||
        getenv("AWS_LAMBDA_RUNTIME_API")) /* sdsinf aws package's */
        return SDSINF_OK;
    int rc = sdsinf__plugin_get(SDSINF__PLUGIN_ZOLTAN, WHAT, &pl, err);
    return rc == SDSINF_OK ? pl->zoltan->open(out, p, window, err) : rc;
}

void sdsinf__zoltan_close(sdsinf__zoltan *zs)
{
    if (zs)
        phg()->close(zs);
}

int sdsinf__zoltan_stage(sdsinf__zoltan *zs, plan *p, int32_t s, int32_t hi,
                         int32_t place_hi, unsigned seed)
{
    return phg()->stage(zs, p, s, hi, place_hi, seed);
}
