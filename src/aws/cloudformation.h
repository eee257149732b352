/* aws/cloudformation.h - AWS CloudFormation's stack requests over the AWS
 * client (internal), in its query protocol (XML answers): CreateStack,
 * UpdateStack, DeleteStack, DescribeStacks, DescribeStackEvents,
 * DescribeStackResources.  Every call adds the requests it repeated
 * (throttling, 5xx) to *retries (may be NULL). */
#ifndef SDSINF_AWS_CLOUDFORMATION_H
#define SDSINF_AWS_CLOUDFORMATION_H

#include "aws/aws.h"

#define SDSINF_CFN_NO_STACK 1   /* no stack of that name (no message set) */
#define SDSINF_CFN_NO_UPDATE 2  /* UpdateStack: the template changes nothing */
#define SDSINF_CFN_TEMPLATE_MAX 51200 /* TemplateBody's limit, bytes */

/* Stack `name`'s state into *out: SDSINF_OK, SDSINF_CFN_NO_STACK, or a
 * failure. */
int sdsinf__cfn_describe(sdsinf_aws *a, const char *name,
                         sdsinf_stack_info *out, uint64_t *retries,
                         sdsinf_err *err);

/* CreateStack (update 0) or UpdateStack (1) of stack `name` from template
 * `body` (JSON, at most SDSINF_CFN_TEMPLATE_MAX bytes), acknowledging
 * CAPABILITY_NAMED_IAM (the template names its role); an update that
 * changes nothing is SDSINF_CFN_NO_UPDATE. */
int sdsinf__cfn_create(sdsinf_aws *a, const char *name, const char *body,
                       int update, uint64_t *retries, sdsinf_err *err);
/* DeleteStack (returns at once; the deletion goes on). */
int sdsinf__cfn_delete(sdsinf_aws *a, const char *name, uint64_t *retries,
                       sdsinf_err *err);

/* An event or resource (sdsinf.h's), to a callback. */
typedef int (*sdsinf_cfn_item_fn)(void *u, const sdsinf_stack_item *it);

/* The stack's events, newest first (the first page: 100 at most), each to
 * fn (a nonzero return stops and is returned). */
int sdsinf__cfn_events(sdsinf_aws *a, const char *name, sdsinf_cfn_item_fn fn,
                       void *u, uint64_t *retries, sdsinf_err *err);
/* The stack's resources, each to fn (as above). */
int sdsinf__cfn_resources(sdsinf_aws *a, const char *name,
                          sdsinf_cfn_item_fn fn, void *u, uint64_t *retries,
                          sdsinf_err *err);

#endif /* SDSINF_AWS_CLOUDFORMATION_H */
