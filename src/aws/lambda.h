/* aws/lambda.h - AWS Lambda's Invoke over the AWS client (internal): POST
 * /2015-03-31/functions/NAME/invocations, asynchronous (InvocationType
 * Event: Lambda queues the event and answers 202 at once) or synchronous
 * (RequestResponse: the function's answer).  Several invocations go out
 * at once as requests under way (sdsinf__aws_start), each ended in turn.
 * Errors name the function: the service's (ResourceNotFoundException,
 * TooManyRequestsException after the client's retries, ...) with AWS's
 * code and message, and a function's own (X-Amz-Function-Error) with its
 * errorType and errorMessage. */
#ifndef SDSINF_AWS_LAMBDA_H
#define SDSINF_AWS_LAMBDA_H

#include "aws/aws.h"

#define SDSINF_LAMBDA_NAME_MAX 64 /* a function's name, as AWS limits it */

/* SDSINF_OK when `name` is a function's name sdsinf invokes: 1 to 64
 * letters, digits, '-' and '_' (an ARN or a qualified name is refused, so
 * the request path needs no encoding); else SDSINF_EINVAL saying so. */
int sdsinf__lambda_name_check(const char *name, sdsinf_err *err);

/* An invocation under way: the request, and what it was for messages. */
typedef struct sdsinf_lambda_call {
    sdsinf_aws_pending *p;
    char function[SDSINF_LAMBDA_NAME_MAX + 1];
    int sync;
} sdsinf_lambda_call;

/* Starts an invocation of function `name` (checked) with the JSON payload
 * (len bytes, borrowed until it ends): sync 0 Event, 1 RequestResponse
 * (the request then waits up to Lambda's 15 minutes for the answer).  The
 * requests it repeated go to *retries (may be NULL).  On success *call is
 * under way: end it with sdsinf__lambda_invoke_end. */
int sdsinf__lambda_invoke_start(sdsinf_aws *a, const char *name, int sync,
                                const void *payload, size_t len,
                                uint64_t *retries, sdsinf_lambda_call *call,
                                sdsinf_err *err);
/* Waits for the invocation to end: SDSINF_OK (a RequestResponse's answer
 * in *answer, malloc'd, *len bytes; both may be NULL, the answer then
 * dropped), or the failure.  The call is over either way. */
int sdsinf__lambda_invoke_end(sdsinf_lambda_call *call, char **answer,
                              size_t *len, sdsinf_err *err);
/* Both, for one invocation. */
int sdsinf__lambda_invoke(sdsinf_aws *a, const char *name, int sync,
                          const void *payload, size_t len, char **answer,
                          size_t *answer_len, uint64_t *retries,
                          sdsinf_err *err);

#endif /* SDSINF_AWS_LAMBDA_H */
