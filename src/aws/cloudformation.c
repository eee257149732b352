/* aws/cloudformation.c - CloudFormation requests (see cloudformation.h):
 * each one query-protocol form posted with the client; answers read with
 * its XML helpers. */
#include "aws/cloudformation.h"

#include <stdio.h>
#include <string.h>

#define CFN_VERSION "2010-05-15"

/* Posts form f (freed) as `what`; the answer's XML into *x (when not
 * NULL).  An error answer whose message says `quiet_text` returns
 * `quiet_code` with no message set. */
static int post(sdsinf_aws *a, sdsinf_aws_form *f, const char *what,
                sdsinf_aws_xml **x, const char *quiet_text, int quiet_code,
                uint64_t *retries, sdsinf_err *err)
{
    char code[128];
    sdsinf_err e = {0};
    int rc = sdsinf__aws_query(a, SDSINF_AWS_CLOUDFORMATION, f, what, x, code,
                               sizeof code, retries, &e);
    if (rc == SDSINF_OK)
        return rc;
    return quiet_text && !strcmp(code, "ValidationError") &&
                   strstr(e.msg, quiet_text)
               ? quiet_code
               : sdsinf__fail(err, rc, "%s", e.msg);
}

int sdsinf__cfn_describe(sdsinf_aws *a, const char *name,
                         sdsinf_stack_info *out, uint64_t *retries,
                         sdsinf_err *err)
{
    char what[160];
    sdsinf_aws_form f;
    sdsinf_aws_xml *x = NULL;
    snprintf(what, sizeof what, "DescribeStacks %.128s", name);
    sdsinf__aws_form_init(&f, "DescribeStacks", CFN_VERSION);
    sdsinf__aws_form_add(&f, name, strlen(name), "StackName");
    memset(out, 0, sizeof *out);
    int code = post(a, &f, what, &x, "does not exist", SDSINF_CFN_NO_STACK,
                    retries, err);
    const sdsinf_aws_node *s =
        code == SDSINF_OK ? sdsinf__aws_xml_find(x, NULL, "Stacks") : NULL;
    s = s ? sdsinf__aws_xml_find(x, s, "member") : NULL;
    if (code == SDSINF_OK &&
        (!s || sdsinf__aws_xml_copy(s, "StackStatus", out->status,
                                    sizeof out->status) != 0))
        code = sdsinf__fail(err, SDSINF_EPARSE,
                            "AWS cloudformation: the answer to %s names no "
                            "stack status",
                            what);
    if (code == SDSINF_OK) {
        sdsinf__aws_xml_copy(s, "StackId", out->id, sizeof out->id);
        sdsinf__aws_xml_copy(s, "StackStatusReason", out->reason,
                             sizeof out->reason);
        const sdsinf_aws_node *o = sdsinf__aws_xml_find(x, s, "Outputs");
        for (o = o ? sdsinf__aws_xml_find(x, o, "member") : NULL;
             o && out->noutputs < (int)(sizeof out->outputs / sizeof *out->outputs);
             o = sdsinf__aws_xml_next(o, "member")) {
            int i = out->noutputs;
            if (sdsinf__aws_xml_copy(o, "OutputKey", out->outputs[i].key,
                                     sizeof out->outputs[i].key) == 0 &&
                sdsinf__aws_xml_copy(o, "OutputValue", out->outputs[i].value,
                                     sizeof out->outputs[i].value) == 0)
                out->noutputs++;
        }
    }
    sdsinf__aws_xml_free(x);
    return code;
}

int sdsinf__cfn_create(sdsinf_aws *a, const char *name, const char *body,
                       int update, uint64_t *retries, sdsinf_err *err)
{
    const char *action = update ? "UpdateStack" : "CreateStack";
    char what[160];
    size_t n = strlen(body);
    snprintf(what, sizeof what, "%s %.128s", action, name);
    if (n > SDSINF_CFN_TEMPLATE_MAX)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "AWS cloudformation: %s: the template has %zu "
                            "bytes, over CloudFormation's %d for a template "
                            "in the request; deploy for fewer workers",
                            what, n, SDSINF_CFN_TEMPLATE_MAX);
    sdsinf_aws_form f;
    sdsinf__aws_form_init(&f, action, CFN_VERSION);
    sdsinf__aws_form_add(&f, name, strlen(name), "StackName");
    sdsinf__aws_form_add(&f, body, n, "TemplateBody");
    sdsinf__aws_form_add(&f, "CAPABILITY_NAMED_IAM", 20, "Capabilities.member.1");
    return post(a, &f, what, NULL, update ? "No updates" : NULL,
                SDSINF_CFN_NO_UPDATE, retries, err);
}

int sdsinf__cfn_delete(sdsinf_aws *a, const char *name, uint64_t *retries,
                       sdsinf_err *err)
{
    char what[160];
    sdsinf_aws_form f;
    snprintf(what, sizeof what, "DeleteStack %.128s", name);
    sdsinf__aws_form_init(&f, "DeleteStack", CFN_VERSION);
    sdsinf__aws_form_add(&f, name, strlen(name), "StackName");
    return post(a, &f, what, NULL, NULL, 0, retries, err);
}

/* Text of n's child, or "". */
static const char *text(const sdsinf_aws_node *n, const char *child)
{
    const char *t = sdsinf__aws_xml_text(n, child, NULL);
    return t ? t : "";
}

/* An action whose answer lists members under `list`, each to fn. */
static int list_items(sdsinf_aws *a, const char *action, const char *list,
                      const char *name, sdsinf_cfn_item_fn fn, void *u,
                      uint64_t *retries, sdsinf_err *err)
{
    char what[160];
    sdsinf_aws_form f;
    sdsinf_aws_xml *x = NULL;
    snprintf(what, sizeof what, "%s %.128s", action, name);
    sdsinf__aws_form_init(&f, action, CFN_VERSION);
    sdsinf__aws_form_add(&f, name, strlen(name), "StackName");
    int code = post(a, &f, what, &x, "does not exist", SDSINF_CFN_NO_STACK,
                    retries, err);
    const sdsinf_aws_node *l =
        code == SDSINF_OK ? sdsinf__aws_xml_find(x, NULL, list) : NULL;
    for (const sdsinf_aws_node *m = l ? sdsinf__aws_xml_find(x, l, "member")
                                      : NULL;
         m && code == SDSINF_OK; m = sdsinf__aws_xml_next(m, "member")) {
        sdsinf_stack_item it = {text(m, "EventId"), text(m, "Timestamp"),
                              text(m, "LogicalResourceId"),
                              text(m, "PhysicalResourceId"),
                              text(m, "ResourceType"),
                              text(m, "ResourceStatus"),
                              text(m, "ResourceStatusReason")};
        code = fn(u, &it);
    }
    sdsinf__aws_xml_free(x);
    return code;
}

int sdsinf__cfn_events(sdsinf_aws *a, const char *name, sdsinf_cfn_item_fn fn,
                       void *u, uint64_t *retries, sdsinf_err *err)
{
    return list_items(a, "DescribeStackEvents", "StackEvents", name, fn, u,
                      retries, err);
}

int sdsinf__cfn_resources(sdsinf_aws *a, const char *name,
                          sdsinf_cfn_item_fn fn, void *u, uint64_t *retries,
                          sdsinf_err *err)
{
    return list_items(a, "DescribeStackResources", "StackResources", name, fn,
                      u, retries, err);
}
