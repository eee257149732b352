/* aws/lambda.h - AWS Lambda's Invoke over the AWS client (internal): a
 * minimal client, synchronous (RequestResponse) or asynchronous (Event),
 * for `sdsinf aws run`'s coordinator invocation. */
#ifndef SDSINF_AWS_LAMBDA_H
#define SDSINF_AWS_LAMBDA_H

#include "aws/aws.h"

/* Invokes function `name` with payload (len bytes of JSON, borrowed):
 * async 1 queues it (Event: SDSINF_OK once Lambda took it, 202), 0 waits
 * for its answer (rs->body; a function error, X-Amz-Function-Error, is
 * SDSINF_EIO quoting its answer).  No such function is SDSINF_EINVAL
 * saying so; the repeated requests are added to *retries (may be NULL).
 * rs is always set (free it). */
int sdsinf__lambda_invoke(sdsinf_aws *a, const char *name,
                          const char *payload, size_t len, int async,
                          sdsinf_aws_response *rs, uint64_t *retries,
                          sdsinf_err *err);

#endif /* SDSINF_AWS_LAMBDA_H */
