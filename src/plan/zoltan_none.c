/* plan/zoltan_none.c - stands in for plan/zoltan.c in a build without
 * Zoltan: no session, so the partitioner places greedily, without sweeps. */
#include "plan/zoltan.h"

int sdsinf__zoltan_open(sdsinf__zoltan **out, const plan *p, int window,
                        sdsinf_err *err)
{
    (void)p, (void)window, (void)err;
    *out = NULL;
    return SDSINF_OK;
}

void sdsinf__zoltan_close(sdsinf__zoltan *zs)
{
    (void)zs;
}

int sdsinf__zoltan_stage(sdsinf__zoltan *zs, plan *p, int32_t s, int32_t hi,
                         int32_t place_hi, unsigned seed)
{
    (void)zs, (void)p, (void)s, (void)hi, (void)place_hi, (void)seed;
    return 0;
}
