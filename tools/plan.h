/* plan.h - `sdsinf plan`: the configurations a run of M images could take
 * (sdsinf_advise over a calibration and the price table's constants and
 * prices), their frontier of time against cost as a table, --json and a
 * gnuplot plot, and the recommendation under a latency bound or a budget
 * (plan.c). */
#ifndef SDSINF_PLAN_H
#define SDSINF_PLAN_H

#include "calibrate.h"

typedef struct plan_opts {
    int64_t images;     /* M */
    double max_seconds; /* <= 0: none */
    double max_usd;     /* <= 0: none */
    const char *prices; /* NULL: prices_default_path() */
    const char *region; /* NULL: the table's default */
    const char *plot;   /* a .png or .svg to draw the frontier in, or NULL */
    const char *machines; /* "c5.xlarge,c5.4xlarge": the EC2 types to use;
                             NULL: every one the table prices */
    int json;
} plan_opts;

/* Prints the frontier and the recommendation for calibration c. */
int plan_report(const plan_opts *o, const calibration *c, sdsinf_err *err);
/* Checks o->machines against the price table, before any work: *usage is
 * 1 when the list names a type the table does not price (bad usage). */
int plan_machines_check(const plan_opts *o, int *usage, sdsinf_err *err);

#endif /* SDSINF_PLAN_H */
