/* report_plots.c - the report's plots (report.h): a gnuplot script per
 * plot, its data inline as a datablock of numbers, rendered to SVG.
 * Sections: scripts, the plots, entry. */
#include "report.h"
#include "cli_util.h"
#include "gnuplot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Workers with a time-split plot of their own; the load balance and the
 * timeline show them all. */
#define REPORT_WORKER_PLOTS 16

/* The time split's parts, their keys in the plots and colours. */
static const char *const PART_TITLE[5] = {"compute", "encode", "decode",
                                          "send", "wait"};
static const char *const PART_COLOUR[5] = {"#4e79a7", "#f28e2b", "#e15759",
                                           "#76b7b2", "#bab0ac"};

static const report_cell *cell_at(const report_grid *g, int w, int l)
{
    return &g->cell[(size_t)w * (size_t)g->layers + (size_t)l];
}

/* ---- scripts ----------------------------------------------------------------- */

/* A script being written: an in-memory file. */
typedef struct script {
    char *text;
    size_t len;
    FILE *f;
} script;

static int script_begin(script *s, int width, int height, sdsinf_err *err)
{
    memset(s, 0, sizeof *s);
    if (!(s->f = open_memstream(&s->text, &s->len)))
        return cli_fail(err, SDSINF_ENOMEM, "no memory for a plot's script");
    fprintf(s->f, "set terminal svg size %d,%d font 'sans,11' "
            "background rgb 'white'\nset grid y\nset key outside right top\n"
            "set xtics nomirror\nset ytics nomirror\n"
            "set style fill solid 0.9 noborder\n", width, height);
    return SDSINF_OK;
}

/* Renders the script and hands the picture to fn (from its <svg>). */
static int script_render(script *s, const char *heading, const char *about,
                         report_plot_fn fn, void *ud, sdsinf_err *err)
{
    char *svg = NULL;
    size_t len = 0;
    int rc = fclose(s->f) ? cli_fail(err, SDSINF_ENOMEM, "no memory for a "
                                     "plot's script")
                          : gnuplot_render(s->text, s->len, &svg, &len, err);
    free(s->text);
    char *start = svg ? strstr(svg, "<svg") : NULL;
    if (rc == SDSINF_OK && !start)
        rc = cli_fail(err, SDSINF_EIO, "%s wrote no SVG for the plot '%s'",
                      gnuplot_program(), heading);
    if (rc == SDSINF_OK)
        fn(ud, heading, about, start);
    free(svg);
    return rc;
}

/* The stacked time split as histogram bars: rows of `x part1..part5` in
 * the datablock $d, x labelled every EVERY (set by the caller). */
static void plot_stacked(FILE *f, const char *xlabel)
{
    fprintf(f, "set style data histograms\nset style histogram rowstacked\n"
            "set boxwidth 0.9 relative\nset xlabel '%s'\n"
            "set ylabel 'seconds'\nplot ", xlabel);
    for (int k = 0; k < 5; k++)
        fprintf(f, "%s$d using %d%s title '%s' lc rgb '%s'", k ? ", " : "",
                k + 2, k ? "" : ":xtic(int($1) % EVERY == 0 ? "
                                "sprintf('%d', int($1)) : '')",
                PART_TITLE[k], PART_COLOUR[k]);
    fputc('\n', f);
}

static void put_parts(FILE *f, int x, const report_cell *c)
{
    fprintf(f, "%d %.9g %.9g %.9g %.9g %.9g\n", x, c->compute, c->encode,
            c->decode, c->send, c->wait);
}

/* ---- the plots ---------------------------------------------------------------- */

/* A label every `every` bars, about 20 in all. */
static int tic_every(int n)
{
    return n > 20 ? (n + 19) / 20 : 1;
}

static int plot_worker_split(const report_grid *g, int w, report_plot_fn fn,
                             void *ud, sdsinf_err *err)
{
    script s;
    char heading[96];
    int rc = script_begin(&s, 900, 300, err);
    if (rc)
        return rc;
    fprintf(s.f, "EVERY = %d\n$d << EOD\n", tic_every(g->layers));
    for (int l = 0; l < g->layers; l++)
        put_parts(s.f, l, cell_at(g, w, l));
    fprintf(s.f, "EOD\nset title 'worker %d'\n", w);
    plot_stacked(s.f, "layer (the last: the results to worker 0)");
    snprintf(heading, sizeof heading, "Time split per layer: worker %d", w);
    return script_render(&s, heading, "seconds in each layer, summed over "
                         "batches, by what the worker did", fn, ud, err);
}

static int plot_balance(const report_grid *g, report_plot_fn fn, void *ud,
                        sdsinf_err *err)
{
    script s;
    int rc = script_begin(&s, 900, 340, err);
    if (rc)
        return rc;
    fprintf(s.f, "EVERY = %d\n$d << EOD\n", tic_every(g->workers));
    for (int w = 0; w < g->workers; w++) {
        report_cell t = {0};
        for (int l = 0; l < g->layers; l++) {
            const report_cell *c = cell_at(g, w, l);
            t.compute += c->compute;
            t.encode += c->encode;
            t.decode += c->decode;
            t.send += c->send;
            t.wait += c->wait;
        }
        put_parts(s.f, w, &t);
    }
    fputs("EOD\n", s.f);
    plot_stacked(s.f, "worker");
    return script_render(&s, "Load balance across workers",
                         "each worker's whole run by what it did: equal "
                         "compute bars are a balanced plan, a long wait "
                         "is time spent on slower peers or the channel",
                         fn, ud, err);
}

/* The unit to show counts up to max in: its divisor and name (a
 * thousand bytes is a kB, a thousand messages a thousand). */
static double unit_for(double max, int bytes, const char **name)
{
    static const char *const BYTES[] = {"bytes", "kB", "MB", "GB", "TB"};
    static const char *const COUNT[] = {"", "thousands", "millions",
                                        "billions", "trillions"};
    int k = 0;
    double div = 1;
    while (k < 4 && max >= 1000 * div) {
        div *= 1000;
        k++;
    }
    *name = bytes ? BYTES[k] : COUNT[k];
    return div;
}

/* Bytes and messages sent, per layer (summed over workers) or per worker
 * (summed over layers), in the unit their largest needs. */
static int plot_traffic(const report_grid *g, int per_worker,
                        report_plot_fn fn, void *ud, sdsinf_err *err)
{
    script s;
    int n = per_worker ? g->workers : g->layers;
    int rc = script_begin(&s, 900, 460, err);
    if (rc)
        return rc;
    double max_bytes = 0, max_msgs = 0;
    fputs("$d << EOD\n", s.f);
    for (int i = 0; i < n; i++) {
        double bytes = 0, msgs = 0;
        for (int j = 0; j < (per_worker ? g->layers : g->workers); j++) {
            const report_cell *c = per_worker ? cell_at(g, i, j)
                                              : cell_at(g, j, i);
            bytes += c->bytes;
            msgs += c->messages;
        }
        fprintf(s.f, "%d %.17g %.17g\n", i, bytes, msgs);
        max_bytes = bytes > max_bytes ? bytes : max_bytes;
        max_msgs = msgs > max_msgs ? msgs : max_msgs;
    }
    const char *bunit, *munit;
    double bdiv = unit_for(max_bytes, 1, &bunit);
    double mdiv = unit_for(max_msgs, 0, &munit);
    fprintf(s.f, "EOD\nset multiplot layout 2,1\nset boxwidth 0.8\n"
            "set xrange [-0.5:%d.5]\nset xtics 0,%d\nset yrange [0:*]\n"
            "unset key\nset format y '%%g'\nset ylabel '%s sent'\n"
            "plot $d using 1:($2/%g) with boxes lc rgb '%s'\n"
            "set xlabel '%s'\nset ylabel 'messages sent%s%s%s'\n"
            "plot $d using 1:($3/%g) with boxes lc rgb '%s'\n"
            "unset multiplot\n", n - 1, tic_every(n), bunit, bdiv,
            PART_COLOUR[0], per_worker ? "worker" : "layer",
            *munit ? " (" : "", munit, *munit ? ")" : "", mdiv,
            PART_COLOUR[1]);
    return script_render(&s, per_worker ? "Traffic per worker"
                                        : "Traffic per layer",
                         per_worker ? "what each worker sent over the run "
                                      "(messages: chunks, headers included)"
                                    : "what all workers sent at each layer "
                                      "(the last: results to worker 0)",
                         fn, ud, err);
}

/* Each worker's layers end to end: the layer's span (alternating greys)
 * and its compute part (blue) on top. */
static int plot_timeline(const report_grid *g, report_plot_fn fn, void *ud,
                         sdsinf_err *err)
{
    script s;
    int rc = script_begin(&s, 900, 120 + 22 * (g->workers < 40 ? g->workers
                                                                : 40), err);
    if (rc)
        return rc;
    fputs("$d << EOD\n", s.f);
    for (int w = 0; w < g->workers; w++) {
        double t = 0;
        for (int l = 0; l < g->layers; l++) {
            const report_cell *c = cell_at(g, w, l);
            fprintf(s.f, "%d %.9g %.9g %.9g %d\n", w, t, t + c->seconds,
                    t + c->compute, l % 2);
            t += c->seconds;
        }
    }
    fprintf(s.f, "EOD\nset yrange [%d.5:-0.5]\nset ylabel 'worker'\n"
            "set xlabel 'seconds'\nset ytics 1\nunset grid\n"
            "plot $d using (($2+$3)/2):1:2:3:($1-0.4):($1+0.4):"
            "($5 > 0 ? 0xcfcfcf : 0xa0a0a0) with boxxyerror lc rgb variable "
            "title 'layer', $d using (($2+$4)/2):1:2:4:($1-0.25):($1+0.25) "
            "with boxxyerror lc rgb '%s' title 'compute'\n", g->workers - 1,
            PART_COLOUR[0]);
    return script_render(&s, "Timeline", "each worker's layers end to end, "
                         "as their summed times (with several batches a "
                         "reconstruction, not a trace): grey spans are "
                         "layers, blue their compute", fn, ud, err);
}

/* ---- entry --------------------------------------------------------------------- */

int report_plots(const report_grid *g, report_plot_fn fn, void *ud,
                 sdsinf_err *err)
{
    int rc = plot_timeline(g, fn, ud, err);
    if (!rc)
        rc = plot_balance(g, fn, ud, err);
    for (int w = 0; !rc && w < g->workers && w < REPORT_WORKER_PLOTS; w++)
        rc = plot_worker_split(g, w, fn, ud, err);
    if (!rc)
        rc = plot_traffic(g, 0, fn, ud, err);
    if (!rc)
        rc = plot_traffic(g, 1, fn, ud, err);
    return rc;
}
