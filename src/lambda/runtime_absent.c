/* lambda/runtime_absent.c - sdsinf_lambda_serve in a build without
 * libcurl (SDSINF_WITH_AWS off or libcurl missing): it says so. */
#include "core/core.h"

int sdsinf_lambda_serve(const char *api, const sdsinf_lambda_handler *h,
                        sdsinf_err *err)
{
    (void)api, (void)h;
    return sdsinf__fail(err, SDSINF_ENOTSUP, "lambda: this build has no "
                        "libcurl for the Runtime API (install "
                        "libcurl4-openssl-dev and build again)");
}
