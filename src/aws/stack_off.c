/* aws/stack_off.c - sdsinf.h's sdsinf_stack_*, sdsinf_stage, the run
 * records' reads and sdsinf_lambda_invoke in a build without the AWS
 * client (aws/stack.c, stage.c, runs.c, lambda.c are the real ones): each
 * says how to get it. */
#include "core/core.h"

static int off(sdsinf_err *err)
{
    return sdsinf__fail(err, SDSINF_ENOTSUP,
                        "AWS stacks need the AWS client, which this build "
                        "left out: apt-get install libcurl4-openssl-dev "
                        "libxml2-dev libssl-dev, then cmake "
                        "-DSDSINF_WITH_AWS=ON");
}

int sdsinf_stack_describe(const char *name, sdsinf_stack_info *out,
                          sdsinf_err *err)
{
    (void)name, (void)out;
    return off(err);
}

int sdsinf_stack_resources(const char *name,
                           int (*fn)(const sdsinf_stack_item *it, void *arg),
                           void *arg, sdsinf_err *err)
{
    (void)name, (void)fn, (void)arg;
    return off(err);
}

int sdsinf_stack_deploy(const char *name, const char *template_json,
                        sdsinf_stack_progress progress, void *arg,
                        sdsinf_err *err)
{
    (void)name, (void)template_json, (void)progress, (void)arg;
    return off(err);
}

int sdsinf_stack_destroy(const char *name, sdsinf_stack_progress progress,
                         void *arg, sdsinf_err *err)
{
    (void)name, (void)progress, (void)arg;
    return off(err);
}

int sdsinf_stack_channel_config(const char *name, const char *channel,
                                const char *extra, char *out, size_t cap,
                                sdsinf_err *err)
{
    (void)name, (void)channel, (void)extra, (void)out, (void)cap;
    return off(err);
}

int sdsinf_stack_output(const char *name, const char *key, char *out,
                        size_t cap, sdsinf_err *err)
{
    (void)name, (void)key, (void)out, (void)cap;
    return off(err);
}

int sdsinf_stage(const char *bucket, const char *path, char *loc, size_t cap,
                 sdsinf_stage_stats *st, sdsinf_err *err)
{
    (void)bucket, (void)path, (void)loc, (void)cap, (void)st;
    return off(err);
}

int sdsinf_run_record_wait(const char *bucket, const char *name,
                           double timeout_s, char **json, size_t *len,
                           sdsinf_err *err)
{
    (void)bucket, (void)name, (void)timeout_s, (void)json, (void)len;
    return off(err);
}

int sdsinf_run_records(const char *bucket, int last,
                       int (*fn)(const char *name, const char *json,
                                 size_t len, void *arg),
                       void *arg, sdsinf_err *err)
{
    (void)bucket, (void)last, (void)fn, (void)arg;
    return off(err);
}

int sdsinf_lambda_invoke(const char *name, const char *payload, size_t len,
                         int async, char **answer, size_t *alen,
                         sdsinf_err *err)
{
    (void)name, (void)payload, (void)len, (void)async, (void)answer,
        (void)alen;
    return off(err);
}
