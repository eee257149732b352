/* report.h - `sdsinf report RUN_DIR|METRICS_PREFIX`: one self-contained
 * HTML page about a recorded run (its --metrics files): plots rendered by
 * gnuplot as inline SVG (report_plots.c), the run against SDS-Inf's
 * published figures for the same configuration, and its bill (cost.h).
 * Everything taken from a file is HTML-escaped; nothing from a file goes
 * into a gnuplot script but numbers.  Without gnuplot the page is written
 * all the same, without plots, saying so (and a note on stderr). */
#ifndef SDSINF_REPORT_H
#define SDSINF_REPORT_H

#include "sdsinf.h"

#include <stdint.h>
#include <stdio.h>

typedef struct report_opts {
    const char *input;     /* a run directory (DIR/metrics.json), a metrics
                              PREFIX, or PREFIX.json */
    const char *out;       /* the page; NULL: DIR/report.html, or
                              PREFIX-report.html */
    const char *reference; /* SDS-Inf's published figures; NULL:
                              $SDSINF_DATA/sds-inf-reference, else the
                              build's SDSINF_DATA's */
    const char *prices, *region; /* the bill's price table (cost.h) */
} report_opts;

/* Writes the page; its path into path[0..n). */
int report_write(const report_opts *o, char *path, size_t n,
                 sdsinf_err *err);

/* One worker at one layer, as the plots need it (summed over batches). */
typedef struct report_cell {
    double compute, encode, decode, send, wait, seconds;
    double messages, bytes; /* sent */
} report_cell;

/* The run's layer records as a workers x layers grid (layer L: the
 * results' trip to worker 0). */
typedef struct report_grid {
    int workers, layers;
    report_cell *cell; /* [worker * layers + layer] */
} report_grid;

/* A plot's SVG (borrowed: the caller frees it) with its heading and a line
 * saying how to read it. */
typedef void (*report_plot_fn)(void *ud, const char *heading,
                               const char *about, const char *svg);

/* Renders every plot of g, handing each to fn; SDSINF_ENOTSUP when gnuplot
 * is missing (before any plot), else the first failure. */
int report_plots(const report_grid *g, report_plot_fn fn, void *ud,
                 sdsinf_err *err);

#endif /* SDSINF_REPORT_H */
