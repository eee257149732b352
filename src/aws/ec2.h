/* aws/ec2.h - Amazon EC2's instance requests over the AWS client
 * (internal), in its query protocol (XML answers): RunInstances,
 * DescribeInstances, TerminateInstances.  sdsinf.h's sdsinf_ec2_* are the
 * public calls; this is what the stack's destroy needs besides. */
#ifndef SDSINF_AWS_EC2_H
#define SDSINF_AWS_EC2_H

#include "aws/aws.h"

/* Terminates every instance not yet ended (pending, running, stopping,
 * stopped) that carries tag key=value, their number into *n. */
int sdsinf__ec2_terminate_tagged(sdsinf_aws *a, const char *key,
                                 const char *value, int *n, sdsinf_err *err);

#endif /* SDSINF_AWS_EC2_H */
