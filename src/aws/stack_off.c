/* aws/stack_off.c - sdsinf.h's sdsinf_stack_*, sdsinf_ec2_*,
 * sdsinf_aws_region, sdsinf_stage, the run records' reads and
 * sdsinf_lambda_invoke in a build without the AWS client (aws/stack.c,
 * ec2.c, stage.c, runs.c, lambda.c are the real ones): each says how to
 * get it. */
#include "core/core.h"

static int off(sdsinf_err *err)
{
    return sdsinf__fail(err, SDSINF_ENOTSUP,
                        "AWS stacks and instances need the AWS client, which this build "
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

int sdsinf_stack_put_package(const char *stack, const char *bootstrap,
                             sdsinf_stack_progress progress, void *arg,
                             char *key, size_t cap, int *uploaded,
                             sdsinf_package_info *info, sdsinf_err *err)
{
    (void)stack, (void)bootstrap, (void)progress, (void)arg, (void)key;
    (void)cap, (void)info;
    *uploaded = 0;
    return off(err);
}

int sdsinf_ec2_request(const sdsinf_ec2_spec *spec, char **text,
                       sdsinf_err *err)
{
    (void)spec, (void)text;
    return off(err);
}

int sdsinf_ec2_run(const sdsinf_ec2_spec *spec, sdsinf_ec2_instance *out,
                   sdsinf_err *err)
{
    (void)spec, (void)out;
    return off(err);
}

int sdsinf_ec2_describe(const char *id, sdsinf_ec2_instance *out,
                        sdsinf_err *err)
{
    (void)id, (void)out;
    return off(err);
}

int sdsinf_ec2_terminate(const char *id, sdsinf_ec2_instance *out,
                         sdsinf_err *err)
{
    (void)id, (void)out;
    return off(err);
}

int sdsinf_ec2_wait_object(const char *id, const char *bucket,
                           const char *key, double timeout_s,
                           sdsinf_stack_progress progress, void *arg,
                           char **body, size_t *len, sdsinf_err *err)
{
    (void)id, (void)bucket, (void)key, (void)timeout_s, (void)progress;
    (void)arg, (void)body, (void)len;
    return off(err);
}

int sdsinf_aws_region(char *out, size_t cap, sdsinf_err *err)
{
    (void)out, (void)cap;
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
