/* aws/lambda.c - Lambda's Invoke (see lambda.h): POST
 * /2015-03-31/functions/NAME/invocations with X-Amz-Invocation-Type; an
 * error answer's JSON quoted in the message. */
#include "aws/lambda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The function name's characters Lambda takes (a name, not an ARN). */
static int name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789-_") == n;
}

/* A JSON answer's text, for a message (at most 200 bytes, one line). */
static void answer_text(const sdsinf_aws_response *rs, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; rs->body && i < rs->len && n + 1 < cap && n < 200;
         i++)
        out[n++] = rs->body[i] == '\n' || rs->body[i] == '\r' ? ' '
                                                              : rs->body[i];
    out[n] = 0;
}

int sdsinf__lambda_invoke(sdsinf_aws *a, const char *name,
                          const char *payload, size_t len, int async,
                          sdsinf_aws_response *rs, uint64_t *retries,
                          sdsinf_err *err)
{
    char path[160], what[120], message[256], ferr[64];
    memset(rs, 0, sizeof *rs);
    if (!name_ok(name))
        return sdsinf__fail(err, SDSINF_EINVAL, "Lambda: '%.80s' is not a "
                            "function name (letters, digits, - and _)",
                            name);
    snprintf(path, sizeof path, "/2015-03-31/functions/%s/invocations", name);
    snprintf(what, sizeof what, "Invoke %s (%s)", name,
             async ? "Event" : "RequestResponse");
    const char *const headers[] = {
        async ? "X-Amz-Invocation-Type: Event"
              : "X-Amz-Invocation-Type: RequestResponse",
        "Content-Type: application/json", NULL};
    sdsinf_aws_request rq = {SDSINF_AWS_REQUEST_VERSION, SDSINF_AWS_LAMBDA,
                             "POST", path, headers, payload, len, what,
                             async ? 0 : 900000, 0};
    sdsinf_err e = {0};
    int code = sdsinf__aws_call(a, &rq, rs, retries, &e);
    if (code != SDSINF_OK) {
        answer_text(rs, message, sizeof message);
        if (rs->status == 404)
            return sdsinf__fail(err, SDSINF_EINVAL, "Lambda: no function %s "
                                "(%s): deploy the stack with its package "
                                "(sdsinf aws deploy --package KEY)", name,
                                message);
        return sdsinf__fail(err, code, "%.120s%s%.120s", e.msg,
                            message[0] ? ": " : "", message);
    }
    if (!async && sdsinf__aws_response_header(rs, "X-Amz-Function-Error",
                                              ferr, sizeof ferr) == 0) {
        answer_text(rs, message, sizeof message);
        return sdsinf__fail(err, SDSINF_EIO, "Lambda: %s failed (%s): %s",
                            name, ferr, message);
    }
    return SDSINF_OK;
}

int sdsinf_lambda_invoke(const char *name, const char *payload, size_t len,
                         int async, char **answer, size_t *alen,
                         sdsinf_err *err)
{
    sdsinf_aws *a = NULL;
    sdsinf_aws_response rs = {0};
    int rc = sdsinf__aws_new(&a, err);
    if (rc == SDSINF_OK)
        rc = sdsinf__lambda_invoke(a, name, payload, len, async, &rs, NULL,
                                   err);
    if (rc == SDSINF_OK && answer) {
        *answer = rs.body ? rs.body : calloc(1, 1); /* taken */
        *alen = rs.body ? rs.len : 0;
        rs.body = NULL;
        if (!*answer)
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    }
    sdsinf__aws_response_free(&rs);
    sdsinf__aws_free(a);
    return rc;
}
