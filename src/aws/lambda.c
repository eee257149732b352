/* aws/lambda.c - AWS Lambda's Invoke (see lambda.h): one REST request per
 * invocation, signed for service "lambda"; the answer's status and
 * headers tell a queued event (202), a function's answer (200) and a
 * function's own error (200 with X-Amz-Function-Error) apart. */
#include "aws/lambda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_TIMEOUT_MS 30000          /* queueing an event */
#define SYNC_TIMEOUT_MS (915 * 1000)    /* Lambda's 900 s, and the trip */

int sdsinf__lambda_name_check(const char *name, sdsinf_err *err)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > SDSINF_LAMBDA_NAME_MAX ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != n)
        return sdsinf__fail(err, SDSINF_EINVAL, "lambda: '%.80s' is not a "
                            "function's name (1 to %d letters, digits, '-' "
                            "and '_'; give the name, not an ARN)",
                            name ? name : "", SDSINF_LAMBDA_NAME_MAX);
    return SDSINF_OK;
}

int sdsinf__lambda_invoke_start(sdsinf_aws *a, const char *name, int sync,
                                const void *payload, size_t len,
                                uint64_t *retries, sdsinf_lambda_call *call,
                                sdsinf_err *err)
{
    static const char *const event[] = {"X-Amz-Invocation-Type: Event",
                                        "Content-Type: application/json",
                                        NULL};
    static const char *const reply[] = {
        "X-Amz-Invocation-Type: RequestResponse",
        "Content-Type: application/json", NULL};
    char path[128], what[128];
    int rc = sdsinf__lambda_name_check(name, err);
    memset(call, 0, sizeof *call);
    if (rc != SDSINF_OK)
        return rc;
    snprintf(call->function, sizeof call->function, "%s", name);
    call->sync = sync;
    snprintf(path, sizeof path, "/2015-03-31/functions/%s/invocations", name);
    snprintf(what, sizeof what, "Invoke %s (%s)", name,
             sync ? "RequestResponse" : "Event");
    sdsinf_aws_request rq = {
        .version = SDSINF_AWS_REQUEST_VERSION, .service = SDSINF_AWS_LAMBDA,
        .method = "POST", .path = path, .headers = sync ? reply : event,
        .body = payload ? payload : "", .body_len = payload ? len : 0,
        .what = what,
        .timeout_ms = sync ? SYNC_TIMEOUT_MS : EVENT_TIMEOUT_MS};
    return sdsinf__aws_start(a, &rq, retries, &call->p, err);
}

/* The error a function answered (body: {"errorType", "errorMessage"}). */
static int function_error(const sdsinf_lambda_call *call,
                          const sdsinf_aws_response *rs, const char *kind,
                          sdsinf_err *err)
{
    char type[128], msg[200];
    if (sdsinf__aws_json_string(rs->body, rs->len, "errorType", type,
                                sizeof type) != 0)
        snprintf(type, sizeof type, "%s", kind);
    if (sdsinf__aws_json_string(rs->body, rs->len, "errorMessage", msg,
                                sizeof msg) != 0)
        snprintf(msg, sizeof msg, "%.120s", rs->body ? rs->body : "");
    return sdsinf__fail(err, SDSINF_EIO, "AWS lambda: function %s failed "
                        "(%s): %s: %s (its log group has the rest)",
                        call->function, kind, type, msg);
}

int sdsinf__lambda_invoke_end(sdsinf_lambda_call *call, char **answer,
                              size_t *len, sdsinf_err *err)
{
    sdsinf_aws_response rs;
    char kind[64];
    if (answer)
        *answer = NULL;
    if (len)
        *len = 0;
    if (!call->p)
        return sdsinf__fail(err, SDSINF_EINVAL, "lambda: no invocation "
                            "under way");
    int rc = sdsinf__aws_wait(&call->p, -1, &rs, err);
    if (rc == SDSINF_OK && rs.status != (call->sync ? 200 : 202))
        rc = sdsinf__fail(err, SDSINF_EIO, "AWS lambda: Invoke %s answered "
                          "HTTP %ld, not %d", call->function, rs.status,
                          call->sync ? 200 : 202);
    else if (rc == SDSINF_OK &&
             sdsinf__aws_response_header(&rs, "X-Amz-Function-Error", kind,
                                         sizeof kind) == 0)
        rc = function_error(call, &rs, kind, err);
    if (rc == SDSINF_OK && answer) { /* the answer is the caller's now */
        *answer = rs.body;
        rs.body = NULL;
        if (len)
            *len = rs.len;
    }
    sdsinf__aws_response_free(&rs);
    return rc;
}

int sdsinf__lambda_invoke(sdsinf_aws *a, const char *name, int sync,
                          const void *payload, size_t len, char **answer,
                          size_t *answer_len, uint64_t *retries,
                          sdsinf_err *err)
{
    sdsinf_lambda_call call;
    int rc = sdsinf__lambda_invoke_start(a, name, sync, payload, len, retries,
                                         &call, err);
    if (rc != SDSINF_OK)
        return rc;
    return sdsinf__lambda_invoke_end(&call, answer, answer_len, err);
}

int sdsinf_lambda_invoke(const char *name, const char *payload, size_t len,
                         int async, char **answer, size_t *alen,
                         sdsinf_err *err)
{
    sdsinf_aws *a = NULL;
    size_t n = 0;
    int rc = sdsinf__aws_new(&a, err);
    if (rc == SDSINF_OK)
        rc = sdsinf__lambda_invoke(a, name, !async, payload, len, answer,
                                   &n, NULL, err);
    if (rc == SDSINF_OK && answer && !*answer && !(*answer = calloc(1, 1)))
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    if (alen)
        *alen = n;
    sdsinf__aws_free(a);
    return rc;
}
