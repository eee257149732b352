/* report.c - `sdsinf report` (report.h): reads a run's metrics JSON into
 * a grid of workers x layers, and writes the page: the run's record, the
 * plots (report_plots.c), the run against SDS-Inf's published figures,
 * and the bill.  Sections: input, the published figures, the page, entry. */
#include "report.h"
#include "cli_util.h"
#include "cost.h"
#include "json_in.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define METRICS_MAX_BYTES (512u << 20)
#define CSV_MAX_BYTES (16u << 20)
#define GRID_MAX_CELLS (1u << 24)

#ifndef SDSINF_DEFAULT_DATA
#define SDSINF_DEFAULT_DATA ""
#endif

/* ---- input ------------------------------------------------------------------ */

/* Where the metrics are and where the page goes. */
typedef struct report_paths {
    char json[4096]; /* PREFIX.json */
    char out[4096];
} report_paths;

static int resolve_paths(const report_opts *o, report_paths *p,
                         sdsinf_err *err)
{
    struct stat st;
    const char *in = o->input;
    size_t n = strlen(in);
    int dir = stat(in, &st) == 0 && S_ISDIR(st.st_mode);
    int has_json = n > 5 && !strcmp(in + n - 5, ".json");
    int len = dir ? snprintf(p->json, sizeof p->json, "%s/metrics.json", in)
              : has_json ? snprintf(p->json, sizeof p->json, "%s", in)
                         : snprintf(p->json, sizeof p->json, "%s.json", in);
    int olen = o->out ? snprintf(p->out, sizeof p->out, "%s", o->out)
               : dir  ? snprintf(p->out, sizeof p->out, "%s/report.html", in)
                      : snprintf(p->out, sizeof p->out, "%.*s-report.html",
                                 (int)(has_json ? n - 5 : n), in);
    if (len < 0 || (size_t)len >= sizeof p->json || olen < 0 ||
        (size_t)olen >= sizeof p->out)
        return cli_fail(err, SDSINF_EINVAL, "%s: the path is too long", in);
    if (stat(p->json, &st) != 0)
        return cli_fail(err, SDSINF_EIO, "%s: no metrics there (%s is "
                        "missing): give a run directory of `sdsinf demo`, or "
                        "the PREFIX of `sdsinf run --metrics PREFIX`", in,
                        p->json);
    return SDSINF_OK;
}

/* A number of a layer record: 0 when absent or null (an empty CSV cell). */
static int cell_number(const json_reader *r, const cJSON *o, const char *at,
                       const char *key, double *x)
{
    const cJSON *v;
    char path[96];
    int rc = json_member(r, o, at, key, 0, &v);
    *x = 0;
    if (rc || !v || cJSON_IsNull(v))
        return rc;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
        v->valuedouble < 0)
        return cli_fail(r->err, SDSINF_EPARSE, "%s: %s is %s, not a number "
                        ">= 0", r->name, json_key_path(path, sizeof path, at,
                                                       key),
                        json_type_name(v));
    *x = v->valuedouble;
    return SDSINF_OK;
}

/* One layer record into its cell of g (its sums: records add up). */
static int read_cell(const json_reader *r, const cJSON *rec, const char *at,
                     report_grid *g)
{
    long long w, l;
    report_cell c;
    int rc;
    if ((rc = json_integer_member(r, rec, at, "WORKER_ID", 0, g->workers - 1,
                                  1, &w)) ||
        (rc = json_integer_member(r, rec, at, "LAYER", 0, g->layers - 1, 1,
                                  &l)) ||
        (rc = cell_number(r, rec, at, "COMPUTE_SECONDS", &c.compute)) ||
        (rc = cell_number(r, rec, at, "ENCODE_SECONDS", &c.encode)) ||
        (rc = cell_number(r, rec, at, "DECODE_SECONDS", &c.decode)) ||
        (rc = cell_number(r, rec, at, "SEND_SECONDS", &c.send)) ||
        (rc = cell_number(r, rec, at, "WAIT_SECONDS", &c.wait)) ||
        (rc = cell_number(r, rec, at, "LAYER_DURATION", &c.seconds)) ||
        (rc = cell_number(r, rec, at, "MSG_NUM", &c.messages)) ||
        (rc = cell_number(r, rec, at, "MSG_TOTAL_SIZE", &c.bytes)))
        return rc;
    report_cell *d = &g->cell[w * g->layers + l];
    d->compute += c.compute;
    d->encode += c.encode;
    d->decode += c.decode;
    d->send += c.send;
    d->wait += c.wait;
    d->seconds += c.seconds;
    d->messages += c.messages;
    d->bytes += c.bytes;
    return SDSINF_OK;
}

/* The grid of the records in `layers`: its size from the largest worker
 * and layer named, first. */
static int read_grid(const json_reader *r, const cJSON *layers,
                     report_grid *g)
{
    char at[32];
    double w = 0, l = 0, x;
    int rc;
    memset(g, 0, sizeof *g);
    int k = 0;
    for (const cJSON *e = layers->child; e; e = e->next, k++) {
        snprintf(at, sizeof at, "layers[%d]", k);
        if (!cJSON_IsObject(e))
            return cli_fail(r->err, SDSINF_EPARSE, "%s: %s is %s, not a "
                            "record", r->name, at, json_type_name(e));
        if ((rc = cell_number(r, e, at, "WORKER_ID", &x)))
            return rc;
        w = x > w ? x : w;
        if ((rc = cell_number(r, e, at, "LAYER", &x)))
            return rc;
        l = x > l ? x : l;
    }
    if (w >= 65536 || l >= 65536 || (w + 1) * (l + 1) > GRID_MAX_CELLS)
        return cli_fail(r->err, SDSINF_EPARSE, "%s: layer records up to "
                        "worker %.0f and layer %.0f: more than a report "
                        "plots (%u cells)", r->name, w, l, GRID_MAX_CELLS);
    g->workers = (int)w + 1;
    g->layers = (int)l + 1;
    if (!layers->child)
        return cli_fail(r->err, SDSINF_EPARSE, "%s: no layer records (a run "
                        "that failed writes none): nothing to plot", r->name);
    if (!(g->cell = calloc((size_t)g->workers * (size_t)g->layers,
                           sizeof *g->cell)))
        return cli_fail(r->err, SDSINF_ENOMEM, "no memory");
    k = 0;
    for (const cJSON *e = layers->child; e; e = e->next, k++) {
        snprintf(at, sizeof at, "layers[%d]", k);
        if ((rc = read_cell(r, e, at, g)))
            return rc;
    }
    return SDSINF_OK;
}

/* ---- the page's pieces ---------------------------------------------------------- */

/* Writes s HTML-escaped (text and attribute values alike). */
static void put_html(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '&')
            fputs("&amp;", f);
        else if (c == '<')
            fputs("&lt;", f);
        else if (c == '>')
            fputs("&gt;", f);
        else if (c == '"')
            fputs("&quot;", f);
        else if (c == '\'')
            fputs("&#39;", f);
        else if (c < 0x20 && c != '\n' && c != '\t')
            fputs("&#xFFFD;", f); /* not allowed in an HTML page */
        else
            fputc(c, f);
    }
}

/* A JSON value as a table cell's text. */
static void put_value(FILE *f, const cJSON *v)
{
    if (cJSON_IsString(v))
        put_html(f, v->valuestring);
    else if (cJSON_IsNumber(v))
        fprintf(f, "%.10g", v->valuedouble);
    else if (cJSON_IsBool(v))
        fputs(cJSON_IsTrue(v) ? "true" : "false", f);
    else
        fputs("&mdash;", f);
}

/* A figure: whole numbers whole, others to 6 digits. */
static void put_figure(FILE *f, double x)
{
    fprintf(f, x == floor(x) && fabs(x) < 1e15 ? "%.0f" : "%.6g", x);
}

/* The run's own number under key, or NAN. */
static double run_number(const cJSON *run, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(run, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* ---- the published figures --------------------------------------------------------
 * SDS-Inf's metric reports, one CSV per kind of channel: a run on an
 * object store (s3, fs) is compared with published-metric-reports-
 * object-storage.csv, any other (queues, topics, local, redis, mpi) with
 * -pub-sub-mq.csv; a row matches on neurons, layers, workers and batch
 * size.  Its total cost is the one the authors' workbook gives the same
 * configuration (published-expt-plan-*.csv, "Total Expt Cost ($)"). */

typedef struct compared {
    const char *label;
    const char *ours;      /* the run's column */
    const char *theirs[2]; /* the published column (queue, object store) */
} compared;

static const compared COMPARED[] = {
    {"messages sent", "METRIC_NUM_MESSAGES_SENT",
     {"METRIC_NUM_MESSAGES_SENT", "METRIC_S3_NUM_WRITES"}},
    {"bytes sent", "METRIC_SIZE_MESSAGES_SENT",
     {"METRIC_SIZE_MESSAGES_SENT", "METRIC_S3_WRITE_SIZE"}},
    {"batch time, summed over workers (s)", "METRIC_ELAPSED_TIME_BATCH",
     {"METRIC_ELAPSED_TIME_BATCH", "METRIC_ELAPSED_TIME_TOTAL"}},
    {"computation (s)", "METRIC_ELAPSED_TIME_COMPUTATION",
     {"METRIC_ELAPSED_TIME_COMPUTATION", "METRIC_ELAPSED_TIME_COMPUTATION"}},
    {"communication (s)", "METRIC_ELAPSED_TIME_COMMUNICATION",
     {"METRIC_ELAPSED_TIME_COMMUNICATION",
      "METRIC_ELAPSED_TIME_COMMUNICATION"}},
    {"compression (s)", "METRIC_ELAPSED_TIME_COMPRESSION",
     {"METRIC_ELAPSED_TIME_COMPRESSION", "METRIC_ELAPSED_TIME_COMPRESSION"}},
};
#define NCOMPARED (sizeof COMPARED / sizeof *COMPARED)
#define CSV_MAX_FIELDS 64

/* Splits the line at *p (ended by \n or NUL) into fields in place; moves
 * *p to the next line.  The field count, at most CSV_MAX_FIELDS. */
static int csv_split(char **p, char *field[CSV_MAX_FIELDS])
{
    int n = 0;
    char *s = *p, *end = s + strcspn(s, "\n");
    *p = *end ? end + 1 : end;
    *end = '\0';
    if (end > s && end[-1] == '\r')
        end[-1] = '\0';
    while (n < CSV_MAX_FIELDS) {
        field[n++] = s;
        if (!(s = strchr(s, ',')))
            break;
        *s++ = '\0';
    }
    return n;
}

static int csv_column(char *const head[], int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(head[i], name))
            return i;
    return -1;
}

/* 1 when the field is the number x. */
static int field_is(const char *s, double x)
{
    char *end;
    double v = strtod(s, &end);
    return end != s && !*end && v == x;
}

/* One row of the comparison: published (text from the file), ours (NAN:
 * none), their ratio. */
static void put_compared(FILE *f, const char *label, const char *pub,
                         double ours)
{
    char *end;
    double theirs = strtod(pub, &end);
    int numeric = end != pub && !*end && isfinite(theirs);
    fprintf(f, "<tr><td>%s</td><td>", label);
    if (numeric)
        put_figure(f, theirs);
    else
        put_html(f, *pub ? pub : "—");
    fputs("</td><td>", f);
    if (isnan(ours))
        fputs("&mdash;", f);
    else
        put_figure(f, ours);
    if (numeric && theirs > 0 && !isnan(ours))
        fprintf(f, "</td><td>%.3g", ours / theirs);
    else
        fputs("</td><td>&mdash;", f);
    fputs("</td></tr>\n", f);
}

/* The total cost the workbook dir/published-expt-plan-*.csv gives
 * configuration `config`, into buf ("" when it has none, or is not
 * there). */
static void published_total(const char *dir, int object, const char *config,
                            char *buf, size_t n)
{
    char path[4200], *text = NULL, *p, *field[CSV_MAX_FIELDS];
    size_t len;
    int col = -1;
    *buf = '\0';
    snprintf(path, sizeof path, "%s/published-expt-plan-%s.csv", dir,
             object ? "object-storage" : "pub-sub-mq");
    if (cli_read_file(path, CSV_MAX_BYTES, &text, &len, NULL))
        return;
    for (p = text; *p && !*buf;) {
        int nf = csv_split(&p, field);
        if (!strcmp(field[0], "Experiment Name")) /* the header */
            col = csv_column(field, nf, "Total Expt Cost ($)");
        else if (col >= 0 && col < nf && !strcmp(field[0], config))
            snprintf(buf, n, "%s", field[col]);
    }
    free(text);
}

/* The comparison table's rows for the published row `row` (its header
 * head): published, ours, ratio; then the total cost, the workbook's
 * against the run's bill (NAN: none). */
static void put_comparison(FILE *f, const cJSON *run, char *const head[],
                           int nh, char *const row[], int nr, int object,
                           const char *dir, double usd)
{
    int c = csv_column(head, nh, "CONFIG");
    char total[64];
    fputs("<h3>Published configuration ", f);
    put_html(f, c >= 0 && c < nr ? row[c] : "?");
    fputs("</h3>\n<table><tr><th>metric</th><th>SDS-Inf (published)</th>"
          "<th>this run</th><th>this run / published</th></tr>\n", f);
    for (size_t k = 0; k < NCOMPARED; k++) {
        int i = csv_column(head, nh, COMPARED[k].theirs[object]);
        put_compared(f, COMPARED[k].label, i >= 0 && i < nr ? row[i] : "",
                     run_number(run, COMPARED[k].ours));
    }
    published_total(dir, object, c >= 0 && c < nr ? row[c] : "", total,
                    sizeof total);
    put_compared(f, "total cost (USD; the workbook's, and this run's bill)",
                 total, usd);
    fputs("</table>\n", f);
}

/* The section comparing the run with SDS-Inf's figures in dir (usd: the
 * run's bill, NAN: none). */
static void put_reference(FILE *f, const cJSON *run, const char *dir,
                          double usd)
{
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(run, "CHANNEL");
    const char *channel = cJSON_IsString(ch) ? ch->valuestring : "";
    int object = !strcmp(channel, "s3") || !strcmp(channel, "fs");
    double neurons = run_number(run, "NUM_NEURONS"),
           layers = run_number(run, "NUM_LAYERS"),
           workers = run_number(run, "TOTAL_NWORKERS"),
           batch = run_number(run, "BATCH_SIZE");
    char path[4200], *text = NULL, *p, *head[CSV_MAX_FIELDS],
         *row[CSV_MAX_FIELDS];
    size_t len;
    sdsinf_err err = {0};
    int found = 0;
    fputs("<h2>Against SDS-Inf's published figures</h2>\n", f);
    snprintf(path, sizeof path, "%s/published-metric-reports-%s.csv", dir,
             object ? "object-storage" : "pub-sub-mq");
    if (!*dir || cli_read_file(path, CSV_MAX_BYTES, &text, &len, &err)) {
        fputs("<p class=note>No published figures to compare with: ", f);
        put_html(f, *dir ? err.msg : "no reference directory");
        fputs(" (give <code>--reference DIR</code>, the "
              "<code>sds-inf-reference</code> directory of the shared "
              "data).</p>\n", f);
        return;
    }
    p = text;
    int nh = csv_split(&p, head);
    int cn = csv_column(head, nh, "NUM_NEURONS"),
        cl = csv_column(head, nh, "NUM_LAYERS"),
        cw = csv_column(head, nh, "TOTAL_NWORKERS"),
        cb = csv_column(head, nh, "BATCH_SIZE");
    while (cn >= 0 && cl >= 0 && cw >= 0 && cb >= 0 && *p) {
        int nr = csv_split(&p, row);
        if (cn < nr && cl < nr && cw < nr && cb < nr &&
            field_is(row[cn], neurons) && field_is(row[cl], layers) &&
            field_is(row[cw], workers) && field_is(row[cb], batch)) {
            put_comparison(f, run, head, nh, row, nr, object, dir, usd);
            found = 1;
        }
    }
    if (!found) {
        fprintf(f, "<p class=note>SDS-Inf published no configuration of "
                "%.0f neurons, %.0f layers, %.0f workers and batch size %.0f "
                "on %s (", neurons, layers, workers, batch,
                object ? "object storage" : "a message channel");
        put_html(f, path);
        fputs("): no table.</p>\n", f);
    }
    free(text);
}

/* The bill's section (cost.h): b, or (NULL) why there is none, berr. */
static void put_cost(FILE *f, const cost_bill *b, const sdsinf_err *berr)
{
    fputs("<h2>Cost</h2>\n", f);
    if (!b) {
        fputs("<p class=note>No bill: ", f);
        put_html(f, berr->msg);
        fputs("</p>\n", f);
        return;
    }
    fputs("<p>", f);
    if (!*b->priced_as) {
        fputs("Channel ", f);
        put_html(f, b->channel);
        fprintf(f, " is not a billed AWS service: its %llu requests cost "
                "nothing (<code>sdsinf cost --as sqs</code> estimates them "
                "as an AWS channel's). ", (unsigned long long)b->requests);
    }
    fprintf(f, "Total <b>%.6f USD</b> at ", b->cost.usd);
    put_html(f, b->region);
    fputs(" prices.</p>\n", f);
    if (!b->cost.nlines)
        return;
    fputs("<table><tr><th>service</th><th>item</th><th>quantity</th>"
          "<th>USD each</th><th>USD</th></tr>\n", f);
    for (int i = 0; i < b->cost.nlines; i++) {
        const sdsinf_cost_line *l = &b->cost.line[i];
        fputs("<tr><td>", f);
        put_html(f, l->service);
        fputs("</td><td>", f);
        put_html(f, l->item);
        fprintf(f, "</td><td>%.6g</td><td>%.4g</td><td>%.6f</td></tr>\n",
                l->quantity, l->usd_each, l->usd);
    }
    fputs("</table>\n", f);
}

/* ---- the page ------------------------------------------------------------------ */

static const char PAGE_STYLE[] =
    "body{font-family:sans-serif;margin:2em;color:#222;max-width:960px}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
    "th{background:#eef}.note{color:#864;font-style:italic}"
    "figure{margin:1em 0}figcaption{color:#555}";

static void put_plot(void *ud, const char *heading, const char *about,
                     const char *svg)
{
    FILE *f = ud;
    fputs("<figure><h3>", f);
    put_html(f, heading);
    fputs("</h3><figcaption>", f);
    put_html(f, about);
    fprintf(f, "</figcaption>\n%s\n</figure>\n", svg);
}

static void put_head(FILE *f, const cJSON *run, const report_grid *g)
{
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(run, "CONFIG");
    const char *name = cJSON_IsString(cfg) ? cfg->valuestring : "run";
    fputs("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
          "<title>sdsinf report: ", f);
    put_html(f, name);
    fprintf(f, "</title><style>%s</style></head><body>\n<h1>sdsinf report: ",
            PAGE_STYLE);
    put_html(f, name);
    fprintf(f, "</h1>\n<p>%d workers, %d layer records each (the last: the "
            "results' trip to worker 0).</p>\n<details><summary>The run's "
            "record</summary>\n<table>",
            g->workers, g->layers);
    for (const cJSON *v = run->child; v; v = v->next) {
        fputs("<tr><th>", f);
        put_html(f, v->string ? v->string : "");
        fputs("</th><td>", f);
        put_value(f, v);
        fputs("</td></tr>", f);
    }
    fputs("</table></details>\n<h2>Plots</h2>\n", f);
}

/* The reference directory: o's, $SDSINF_DATA's, the build's. */
static void reference_dir(const report_opts *o, char *dir, size_t n)
{
    const char *data = getenv("SDSINF_DATA");
    if (o->reference)
        snprintf(dir, n, "%s", o->reference);
    else if ((data && *data) || *SDSINF_DEFAULT_DATA)
        snprintf(dir, n, "%s/sds-inf-reference",
                 data && *data ? data : SDSINF_DEFAULT_DATA);
    else
        *dir = '\0';
}

/* ---- entry ------------------------------------------------------------------ */

int report_write(const report_opts *o, char *path, size_t n,
                 sdsinf_err *err)
{
    report_paths rp;
    report_grid g = {0};
    cJSON *doc = NULL;
    const cJSON *run, *layers;
    char *text = NULL, dir[4096];
    size_t len;
    cli_files set = {0};
    FILE *f;
    int rc;
    if ((rc = resolve_paths(o, &rp, err)) ||
        (rc = cli_read_file(rp.json, METRICS_MAX_BYTES, &text, &len, err)))
        goto done;
    json_reader r = {rp.json, "metrics file", "the metrics of `sdsinf run "
                     "--metrics PREFIX` (PREFIX.json) have run and layers",
                     err};
    if ((rc = json_parse_object(&r, text, len, &doc)) ||
        (rc = json_object_member(&r, doc, "", "run", 1, &run)) ||
        (rc = json_member(&r, doc, "", "layers", 1, &layers)))
        goto done;
    if (!cJSON_IsArray(layers)) {
        rc = cli_fail(err, SDSINF_EPARSE, "%s: layers is %s, not an array",
                      rp.json, json_type_name(layers));
        goto done;
    }
    if ((rc = read_grid(&r, layers, &g)) ||
        (rc = cli_files_open(&set, rp.out, &f, err)))
        goto done;
    put_head(f, run, &g);
    sdsinf_err perr = {0};
    rc = report_plots(&g, put_plot, f, &perr);
    if (rc == SDSINF_ENOTSUP) {
        fputs("<p class=note>No plots: ", f);
        put_html(f, perr.msg);
        fputs(".</p>\n", f);
        fprintf(stderr, "sdsinf: note: the report has no plots: %s\n",
                perr.msg);
    } else if (rc) {
        *err = perr;
        cli_files_discard(&set);
        goto done;
    }
    cost_opts co = {rp.json, o->prices, o->region, NULL, 0, NULL};
    cost_bill bill;
    sdsinf_err berr = {0};
    int billed = cost_bill_of(&co, &bill, &berr) == SDSINF_OK;
    reference_dir(o, dir, sizeof dir);
    put_reference(f, run, dir, billed ? bill.cost.usd : NAN);
    put_cost(f, billed ? &bill : NULL, &berr);
    fputs("<p class=note>Written by sdsinf report from ", f);
    put_html(f, rp.json);
    fputs(".</p>\n</body></html>\n", f);
    if ((rc = cli_files_commit(&set, err)) == SDSINF_OK)
        snprintf(path, n, "%s", rp.out);
done:
    free(g.cell);
    cJSON_Delete(doc);
    free(text);
    return rc;
}
