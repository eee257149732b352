/* core/location_none.c - the object store of a build without the AWS
 * client (location.h): every s3:// location refused, saying how to get
 * one that reads them. */
#include "core/location.h"

static int no_aws(const char *loc, sdsinf_err *err)
{
    return sdsinf__fail(err, SDSINF_ENOTSUP, "%.200s: this sdsinf was built "
                        "without the AWS client, so it cannot read or write "
                        "s3:// locations (install libcurl4-openssl-dev, "
                        "libxml2-dev and libssl-dev and build again)", loc);
}

int sdsinf__remote_fetch(const char *loc, const char *dest,
                         sdsinf_requests *r, sdsinf_err *err)
{
    (void)dest, (void)r;
    return no_aws(loc, err);
}

int sdsinf__remote_identity(const char *loc, char *out, size_t cap,
                            sdsinf_requests *r, sdsinf_err *err)
{
    (void)out, (void)cap, (void)r;
    return no_aws(loc, err);
}

int sdsinf__remote_store(const char *file, const char *loc,
                         sdsinf_requests *r, sdsinf_err *err)
{
    (void)file, (void)r;
    return no_aws(loc, err);
}

int sdsinf__remote_remove(const char *loc, sdsinf_requests *r,
                          sdsinf_err *err)
{
    (void)r;
    return no_aws(loc, err);
}
