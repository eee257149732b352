/* predict.h - what the planner's search shares with its model. */
#ifndef SDSINF_PREDICT_H
#define SDSINF_PREDICT_H

#include "sdsinf.h"

/* The vCPUs m gives instance type `type`; 0 when it has none. */
int sdsinf__instance_vcpus(const sdsinf_latency_model *m, const char *type);

#endif /* SDSINF_PREDICT_H */
