/* validate.c - `sdsinf cost --validate DIR` (cost.h): SDS-Inf's published
 * raw metrics per configuration (published-metric-reports-*.csv) priced by
 * the cost model under the price table's "sds-inf-workbook" prices, beside
 * the totals its authors published (published-expt-plan-*.csv), the same
 * runs at today's list prices with AWS's billing rules, and what the
 * planner's model (sdsinf_predict) gives sdsinf on each configuration.
 * Sections: CSV files, one configuration, sdsinf's prediction, the
 * workbook's prices, the table, entry. */
#include "cost.h"
#include "calibrate.h"
#include "cli_util.h"
#include "prices.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSV_MAX_BYTES (16u << 20)
#define CSV_MAX_FIELDS 64
#define WORKBOOK "sds-inf-workbook"

/* ---- CSV files ---------------------------------------------------------------- */

typedef struct csv_row {
    int n;
    char *f[CSV_MAX_FIELDS];
    long line; /* 1-based, for messages */
} csv_row;

typedef struct csv {
    char *path, *buf; /* the file's text, split in place */
    csv_row *rows;
    int nrows;
} csv;

/* Splits one line (NUL-terminated, changed in place) into fields: quoted
 * fields may hold commas and doubled quotes; beyond CSV_MAX_FIELDS the
 * rest is ignored (no column read here lies there). */
static void split_fields(char *s, csv_row *row)
{
    row->n = 0;
    for (;;) {
        char *w = s, *start = s;
        if (*s == '"') {
            for (s++; *s; s++) {
                if (*s == '"' && s[1] == '"')
                    s++;
                else if (*s == '"') {
                    s++;
                    break;
                }
                *w++ = *s;
            }
            while (*s && *s != ',')
                s++;
        } else {
            while (*s && *s != ',')
                *w++ = *s++;
        }
        int more = *s == ',';
        *w = '\0';
        if (row->n < CSV_MAX_FIELDS)
            row->f[row->n++] = start;
        if (!more)
            return;
        s++;
    }
}

static void csv_free(csv *t)
{
    free(t->path);
    free(t->buf);
    free(t->rows);
    memset(t, 0, sizeof *t);
}

/* Reads dir/name whole, one row per line (blank lines skipped). */
static int csv_load(const char *dir, const char *name, csv *t,
                    sdsinf_err *err)
{
    size_t len, n = strlen(dir) + strlen(name) + 2, cap = 0;
    int rc;
    memset(t, 0, sizeof *t);
    if (!(t->path = malloc(n)))
        return cli_fail(err, SDSINF_ENOMEM, "no memory");
    snprintf(t->path, n, "%s/%s", dir, name);
    if ((rc = cli_read_file(t->path, CSV_MAX_BYTES, &t->buf, &len, err)))
        goto fail;
    if (memchr(t->buf, '\0', len)) {
        rc = cli_fail(err, SDSINF_EPARSE, "%s: holds a NUL byte: not a CSV "
                      "file", t->path);
        goto fail;
    }
    char *line = t->buf;
    for (long k = 1; line && *line; k++) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[--l] = '\0';
        if (l) {
            if ((size_t)t->nrows == cap) {
                cap = cap ? 2 * cap : 64;
                csv_row *more = realloc(t->rows, cap * sizeof *more);
                if (!more) {
                    rc = cli_fail(err, SDSINF_ENOMEM, "%s: no memory",
                                  t->path);
                    goto fail;
                }
                t->rows = more;
            }
            csv_row *row = &t->rows[t->nrows++];
            split_fields(line, row);
            row->line = k;
        }
        line = next;
    }
    return SDSINF_OK;
fail:
    csv_free(t);
    return rc;
}

/* The column of `name` in row (the header): its index, or -1. */
static int column(const csv_row *row, const char *name)
{
    for (int i = 0; i < row->n; i++)
        if (!strcmp(row->f[i], name))
            return i;
    return -1;
}

/* Field k of row as a number >= 0 into *x: 0; 1 for "#N/A" (no value). */
static int number(const csv *t, const csv_row *row, int k, const char *what,
                  double *x, sdsinf_err *err)
{
    char *end;
    const char *s = k >= 0 && k < row->n ? row->f[k] : "";
    if (!strcmp(s, "#N/A"))
        return 1;
    *x = strtod(s, &end);
    if (end == s || *end || !isfinite(*x) || *x < 0)
        return cli_fail(err, SDSINF_EPARSE, "%s:%ld: %s is '%s', not a "
                        "number >= 0", t->path, row->line, what, s);
    return 0;
}

/* ---- one configuration --------------------------------------------------- */

/* SDS-Inf's variants: their files and the raw metrics each bills. */
typedef struct variant {
    const char *name, *plan, *metrics;
    int object; /* S3 requests, not SNS and SQS */
} variant;

static const variant VARIANTS[] = {
    {"queue", "published-expt-plan-pub-sub-mq.csv",
     "published-metric-reports-pub-sub-mq.csv", 0},
    {"object", "published-expt-plan-object-storage.csv",
     "published-metric-reports-object-storage.csv", 1},
};

/* The raw metrics columns, in this order in row_metrics' out (M_*): the
 * workers, their Lambda time, then the requests and bytes each variant
 * bills, then its batch time (summed over workers) and what of it the
 * latency model takes as measured, then the configuration's shape
 * (neurons, layers, launch tree, images, batch size). */
#define SHAPE_COLS                                                          \
    "NUM_NEURONS", "NUM_LAYERS", "BFR", "NLEVELS", "NUM_DATA", "BATCH_SIZE"
enum { M_W, M_Z, M_R1, M_R2, M_R3, M_R4, M_R5, M_BATCH, M_COMP, M_ZIP,
       M_N, M_L, M_BFR, M_LEV, M_DATA, M_BS, M_COLS };
static const char *const QUEUE_COLS[M_COLS] = {
    "TOTAL_NWORKERS", "METRIC_LAMBDA_RUNTIME", "METRIC_PUBLISH_CALLS",
    "METRIC_SIZE_MESSAGES_SENT", "METRIC_RECEIVE_POLL_CALLS",
    "METRIC_SIZE_MESSAGES_RECEIVED", "METRIC_NUM_MESSAGES_RECEIVED",
    "METRIC_ELAPSED_TIME_BATCH", "METRIC_ELAPSED_TIME_COMPUTATION",
    "METRIC_ELAPSED_TIME_COMPRESSION", SHAPE_COLS};
static const char *const OBJECT_COLS[M_COLS] = {
    "TOTAL_NWORKERS", "METRIC_LAMBDA_RUNTIME", "METRIC_S3_NUM_WRITES",
    "METRIC_S3_NUM_READS", "METRIC_S3_FOLDER_SCANS", "METRIC_S3_WRITE_SIZE",
    "METRIC_S3_READ_SIZE", "METRIC_ELAPSED_TIME_TOTAL",
    "METRIC_ELAPSED_TIME_COMPUTATION", "METRIC_ELAPSED_TIME_COMPRESSION",
    SHAPE_COLS};

/* The metrics row of `config` (its values into m): 0; 1 when the file has
 * none. */
static int row_metrics(const csv *t, const variant *v, const char *config,
                       double m[M_COLS], sdsinf_err *err)
{
    const char *const *cols = v->object ? OBJECT_COLS : QUEUE_COLS;
    int ncols = M_COLS, idx[M_COLS];
    if (t->nrows < 1)
        return cli_fail(err, SDSINF_EPARSE, "%s: empty", t->path);
    int at = column(&t->rows[0], "CONFIG");
    for (int c = 0; c < ncols; c++)
        if ((idx[c] = column(&t->rows[0], cols[c])) < 0 || at < 0)
            return cli_fail(err, SDSINF_EPARSE, "%s:1: no column %s: not "
                            "SDS-Inf's metrics report", t->path,
                            at < 0 ? "CONFIG" : cols[c]);
    for (int r = 1; r < t->nrows; r++) {
        const csv_row *row = &t->rows[r];
        if (at >= row->n || strcmp(row->f[at], config))
            continue;
        for (int c = 0; c < ncols; c++) {
            int rc = number(t, row, idx[c], cols[c], &m[c], err);
            if (rc)
                return rc < 0 ? rc : cli_fail(err, SDSINF_EPARSE, "%s:%ld: "
                                              "%s is #N/A", t->path,
                                              row->line, cols[c]);
        }
        return 0;
    }
    return 1;
}

/* The plan's columns read per configuration: workers, Lambda memory (MB),
 * the published total (USD). */
static const char *const PLAN_COLS[] = {"Workers", "Lambda RAM",
                                        "Total Expt Cost ($)"};

/* Those of row into v: 0; 1 when one is #N/A (no run); < 0 an error. */
static int plan_values(const csv *t, const csv_row *row, const int col[3],
                       double v[3], sdsinf_err *err)
{
    int na = 0;
    for (int c = 0; c < 3; c++) {
        int rc = number(t, row, col[c], PLAN_COLS[c], &v[c], err);
        if (rc < 0)
            return rc;
        na |= rc;
    }
    return na;
}

/* A configuration's usage from its raw metrics m, on Lambdas of mb MB:
 * as the workbook bills it (list 0: each poll one request, no SQS bytes)
 * or by AWS's rules (list 1: receives in 64 KiB units of what they
 * returned). */
static void usage_from(const variant *v, const double m[M_COLS], double mb,
                       int list, sdsinf_usage *u)
{
    sdsinf_usage_init(u);
    u->lambda_invocations = (uint64_t)m[M_W] + 1; /* and the coordinator */
    u->lambda_gb_seconds = m[M_Z] * mb / 1024;
    if (v->object) {
        u->s3.send = (uint64_t)m[M_R1];
        u->s3.receive = (uint64_t)m[M_R2];
        u->s3.list = (uint64_t)m[M_R3];
        return;
    }
    u->sns.send = (uint64_t)m[M_R1];
    u->sns_bytes = (uint64_t)m[M_R2];
    u->sqs.receive = (uint64_t)m[M_R3];
    u->sqs_bytes = list ? (uint64_t)m[M_R4] : 0;
}

/* The first latency model: a worker's batch time from its share of the
 * raw metrics m, in seconds.  Its compute and compression are taken as
 * measured; its requests cost the table's latencies (a receive includes
 * its long-poll wait, S3 PUTs and GETs overlap, every listing is followed
 * by SDS-Inf's 0.1 s sleep) and its bytes the worker's throughput. */
static double predicted_batch(const variant *v, const double m[M_COLS],
                              const latency_constants *lc)
{
    const sdsinf_latency_model *k = &lc->model;
    double t = m[M_COMP] + m[M_ZIP];
    if (v->object)
        t += (m[M_R1] * k->s3_put_s + m[M_R2] * k->s3_get_s) /
                 k->s3_parallel +
             m[M_R3] * (k->s3_list_s + k->s3_scan_sleep_s) +
             (m[M_R4] + m[M_R5]) / k->worker_bytes_per_s;
    else
        t += m[M_R1] * k->sns_publish_s + m[M_R3] * k->sqs_receive_s +
             m[M_R2] / k->worker_bytes_per_s;
    return t / m[M_W];
}

/* ---- sdsinf's prediction ------------------------------------------------------
 * The planner's model (sdsinf_predict) on each published configuration:
 * the calibration of its model (neurons and layers; sdsinf plan
 * --calibrate --out FILE) gives sdsinf's own compute, bytes and messages
 * per layer, instead of SDS-Inf's counts; its channel is SDS-Inf's (SNS
 * to SQS for the Queue variant, S3 for the Object one), its workers,
 * launch tree, memory and batch the configuration's. */

#define MAX_CALIBRATIONS 16

typedef struct calibrations {
    calibration c[MAX_CALIBRATIONS];
    const char *path[MAX_CALIBRATIONS]; /* into list */
    char *list;                         /* the option's copy, split */
    int n;
} calibrations;

static void calibrations_free(calibrations *cs)
{
    for (int i = 0; i < cs->n; i++)
        calibrate_free(&cs->c[i]);
    free(cs->list);
    memset(cs, 0, sizeof *cs);
}

/* Loads every file of the comma-separated list (NULL: none). */
static int calibrations_load(const char *list, calibrations *cs,
                             sdsinf_err *err)
{
    memset(cs, 0, sizeof *cs);
    if (!list)
        return SDSINF_OK;
    if (!(cs->list = strdup(list)))
        return cli_fail(err, SDSINF_ENOMEM, "no memory");
    for (char *p = cs->list, *next; p && *p; p = next) {
        if ((next = strchr(p, ',')))
            *next++ = '\0';
        if (cs->n == MAX_CALIBRATIONS) {
            calibrations_free(cs);
            return cli_fail(err, SDSINF_EINVAL, "--calibration: at most %d "
                            "files (one per model)", MAX_CALIBRATIONS);
        }
        int rc = calibrate_load(p, &cs->c[cs->n], err);
        if (rc) {
            calibrations_free(cs);
            return rc;
        }
        cs->path[cs->n++] = p;
    }
    return SDSINF_OK;
}

/* The prediction for the configuration of raw metrics m on Lambdas of mb
 * MB into *p (*path: the calibration used): 0; 1 when no calibration is
 * of its model, or the table has no latency block. */
static int predict_sdsinf(const calibrations *cs, const variant *v,
                          const double m[M_COLS], double mb,
                          const price_table *list, sdsinf_prediction *p,
                          const char **path, sdsinf_err *err)
{
    int k = 0;
    while (k < cs->n && (cs->c[k].c.neurons != m[M_N] ||
                         cs->c[k].c.layers != m[M_L]))
        k++;
    if (k == cs->n || !list->latency.present)
        return 1;
    sdsinf_deployment d = {SDSINF_DEPLOYMENT_VERSION, SDSINF_ENGINE_LAMBDA,
                           v->object ? SDSINF_VIA_S3 : SDSINF_VIA_SNS,
                           (int)m[M_W], (int)m[M_BFR], (int)m[M_LEV],
                           (int)mb, (int64_t)m[M_BS], NULL, 0};
    *path = cs->path[k];
    return sdsinf_predict(&cs->c[k].c, &list->latency.model, &list->prices,
                          m[M_DATA] >= 1 ? (int64_t)m[M_DATA] : 1, &d, p,
                          err);
}

/* ---- the workbook's prices ------------------------------------------------ */

/* The price constants a plan file lists in its first rows (label, value),
 * and the same price of the table's sds-inf-workbook region: the table
 * must hold the workbook's own prices, or the comparison says nothing. */
static double table_price(const sdsinf_prices *p, int k)
{
    switch (k) {
    case 0: return p->lambda_usd_per_request;
    case 1: return p->lambda_usd_per_gb_second[SDSINF_ARCH_X86_64] / 8;
    case 2: return p->sns_usd_per_publish;
    case 3: return p->sns_usd_per_gb / 1e9;
    case 4: return p->sqs_usd_per_request;
    case 5: return p->s3_usd_per_put;
    case 6: return p->s3_usd_per_list;
    default: return p->s3_usd_per_get;
    }
}

static const char *const CONSTANTS[] = {
    "Lambda Invocation Request Cost", "Lambda cost per 128MB-second",
    "SNS API Publish Request Cost", "SNS Data Transfer Out Per Byte",
    "SQS API Request Cost", "S3 Put Request Cost", "S3 List Request Cost",
    "S3 Get Request Cost"};

/* Checks every constant the plan file lists (before row `header`) against
 * the table; the Lambda ones must be there. */
static int check_constants(const csv *plan, int header,
                           const price_table *wb, sdsinf_err *err)
{
    int seen = 0;
    for (int r = 0; r < header; r++) {
        const csv_row *row = &plan->rows[r];
        for (int k = 0; k < 8; k++) {
            double x;
            if (strcmp(row->f[0], CONSTANTS[k]))
                continue;
            int rc = number(plan, row, 1, CONSTANTS[k], &x, err);
            if (rc)
                return rc < 0 ? rc : cli_fail(err, SDSINF_EPARSE, "%s:%ld: "
                                              "%s is #N/A", plan->path,
                                              row->line, CONSTANTS[k]);
            double ours = table_price(&wb->prices, k);
            if (fabs(ours - x) > 1e-9 * x)
                return cli_fail(err, SDSINF_EMISMATCH, "%s:%ld: the "
                                "workbook's %s is %.6g, but %s's %s prices "
                                "give %.6g: correct the table", plan->path,
                                row->line, CONSTANTS[k], x, wb->path,
                                WORKBOOK, ours);
            seen |= 1 << k;
        }
    }
    if ((seen & 3) != 3)
        return cli_fail(err, SDSINF_EPARSE, "%s: no Lambda price constants "
                        "(%s, %s) before the header: not SDS-Inf's cost "
                        "workbook", plan->path, CONSTANTS[0], CONSTANTS[1]);
    return SDSINF_OK;
}

/* ---- the table ------------------------------------------------------------- */

typedef struct result {
    cJSON *rows, *skipped; /* for --json */
    int compared;
    double max_error;
    double max_latency_error; /* |predicted - published| / published */
    int predicted;            /* configurations sdsinf's model priced */
    const calibrations *cal;
} result;

static void add_skipped(result *res, const char *config, const char *why,
                        int json)
{
    if (json) {
        cJSON *e = cJSON_CreateObject();
        cli_json_add_string(e, "config", config);
        cli_json_add_string(e, "reason", why);
        cJSON_AddItemToArray(res->skipped, e);
    } else {
        printf("  n/a  %s: %s\n", config, why);
    }
}

/* Every configuration of variant v's plan file. */
static int validate_variant(const char *dir, const variant *v,
                            const price_table *wb, const price_table *list,
                            int json, result *res, sdsinf_err *err)
{
    csv plan, met;
    int rc, header = -1, col[3] = {-1, -1, -1};
    if ((rc = csv_load(dir, v->plan, &plan, err)))
        return rc;
    if ((rc = csv_load(dir, v->metrics, &met, err))) {
        csv_free(&plan);
        return rc;
    }
    for (int r = 0; r < plan.nrows && header < 0; r++)
        if (!strcmp(plan.rows[r].f[0], "Experiment Name"))
            header = r;
    for (int c = 0; c < 3 && header >= 0; c++)
        col[c] = column(&plan.rows[header], PLAN_COLS[c]);
    if (col[0] < 0 || col[1] < 0 || col[2] < 0) {
        rc = cli_fail(err, SDSINF_EPARSE, "%s: no header row 'Experiment "
                      "Name,Workers,...' with Workers, Lambda RAM and Total "
                      "Expt Cost ($): not SDS-Inf's cost workbook", plan.path);
        goto done;
    }
    if ((rc = check_constants(&plan, header, wb, err)))
        goto done;
    for (int r = header + 1; r < plan.nrows; r++) {
        const csv_row *row = &plan.rows[r];
        const char *config = row->f[0];
        double val[3], m[M_COLS] = {0};
        sdsinf_usage u;
        sdsinf_cost ours, at_list;
        if (!config[0] || !strcmp(config, "Experiment Name"))
            continue; /* a size's heading, or the header again */
        if ((rc = plan_values(&plan, row, col, val, err)) < 0)
            goto done;
        if (rc) {
            add_skipped(res, config, "the workbook has no run (#N/A)", json);
            continue;
        }
        double workers = val[0], mb = val[1], published = val[2];
        if ((rc = row_metrics(&met, v, config, m, err)) < 0)
            goto done;
        if (rc) {
            add_skipped(res, config, "no raw metrics in the report", json);
            continue;
        }
        usage_from(v, m, mb, 0, &u);
        if ((rc = sdsinf_cost_compute(&wb->prices, &u, &ours, err)))
            goto done;
        usage_from(v, m, mb, 1, &u);
        if ((rc = sdsinf_cost_compute(&list->prices, &u, &at_list, err)))
            goto done;
        double e = published > 0 ? fabs(ours.usd - published) / published
                                  : ours.usd > 0;
        res->compared++;
        if (e > res->max_error)
            res->max_error = e;
        /* the batch time per worker, published and predicted */
        const latency_constants *lc = &list->latency;
        double batch = m[M_W] > 0 ? m[M_BATCH] / m[M_W] : 0;
        double predicted = lc->present && m[M_W] > 0
                               ? predicted_batch(v, m, lc) : 0;
        double le = batch > 0 && lc->present ? (predicted - batch) / batch
                                             : 0;
        if (fabs(le) > res->max_latency_error)
            res->max_latency_error = fabs(le);
        sdsinf_prediction sp;
        const char *cal = NULL;
        if ((rc = predict_sdsinf(res->cal, v, m, mb, list, &sp, &cal, err)) < 0)
            goto done;
        int have = rc == 0;
        res->predicted += have;
        /* a worker's batch: what SDS-Inf's batch time counts (no launch) */
        double sbatch = have ? sp.compute_seconds + sp.channel_seconds : 0;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cli_json_add_string(o, "config", config);
            cli_json_add_string(o, "variant", v->name);
            cJSON_AddNumberToObject(o, "workers", workers);
            cJSON_AddNumberToObject(o, "memory_mb", mb);
            cJSON_AddNumberToObject(o, "published_usd", published);
            cJSON_AddNumberToObject(o, "ours_usd", ours.usd);
            cJSON_AddNumberToObject(o, "error", e);
            cJSON_AddNumberToObject(o, "list_usd", at_list.usd);
            cJSON_AddNumberToObject(o, "batch_seconds", batch);
            if (lc->present) {
                cJSON_AddNumberToObject(o, "predicted_seconds", predicted);
                cJSON_AddNumberToObject(o, "latency_error", le);
            }
            if (have) {
                cJSON_AddNumberToObject(o, "sdsinf_usd", sp.usd);
                cJSON_AddNumberToObject(o, "sdsinf_batch_seconds", sbatch);
                cJSON_AddNumberToObject(o, "sdsinf_seconds", sp.seconds);
                cli_json_add_string(o, "sdsinf_calibration", cal);
                cli_json_add_string(o, "sdsinf_infeasible", sp.infeasible);
            }
            cJSON_AddItemToArray(res->rows, o);
        } else {
            printf("  %-34s %-6s %4.0f %5.0f %11.6f %11.6f %8.4f%% %11.6f "
                   "%7.1f", config, v->name, workers, mb, published,
                   ours.usd, 100 * e, at_list.usd, batch);
            if (lc->present)
                printf(" %7.1f %+6.0f%%", predicted, 100 * le);
            if (have)
                printf(" %9.6f %7.1f%s", sp.usd, sbatch,
                       sp.infeasible ? " (infeasible)" : "");
            putchar('\n');
        }
    }
    rc = SDSINF_OK;
done:
    csv_free(&plan);
    csv_free(&met);
    return rc;
}

/* ---- entry ------------------------------------------------------------------ */

int cost_validate(const char *dir, const cost_opts *o, sdsinf_err *err)
{
    price_table wb = {0}, list = {0};
    calibrations cal;
    result res = {0};
    cJSON *j = NULL;
    int rc;
    res.cal = &cal;
    if ((rc = calibrations_load(o->calibrations, &cal, err)))
        return rc;
    if ((rc = prices_load(o->prices, WORKBOOK, &wb, err)) ||
        (rc = prices_load(o->prices, o->region, &list, err)))
        goto done;
    if (o->json && (!(j = cJSON_CreateObject()) ||
                    !(res.rows = cJSON_AddArrayToObject(j, "rows")) ||
                    !(res.skipped = cJSON_AddArrayToObject(j, "skipped")))) {
        rc = cli_fail(err, SDSINF_ENOMEM, "no memory");
        goto done;
    }
    if (!o->json)
        printf("SDS-Inf's published costs (%s) against the cost model under "
               "%s's %s prices, and at %s list prices with AWS's billing "
               "rules; the batch time per worker, published and predicted "
               "by the first latency model; sdsinf's own cost and batch "
               "time on each, by the planner's model from %s:\n  %-34s %-6s "
               "%4s %5s %11s %11s %9s %11s %7s %7s %7s %9s %7s\n", dir,
               wb.path, WORKBOOK, list.prices.region,
               cal.n ? "the calibrations given"
                     : "a calibration of its model (none given: --calibration "
                       "FILE,.. of sdsinf plan --calibrate --out FILE)",
               "config", "variant", "W", "MB", "published$", "ours$",
               "error", "list$", "batch s", "model s", "error", "sdsinf$",
               "sdsinf s");
    for (size_t v = 0; v < sizeof VARIANTS / sizeof *VARIANTS; v++)
        if ((rc = validate_variant(dir, &VARIANTS[v], &wb, &list, o->json,
                                   &res, err)))
            goto done;
    if (o->json) {
        cJSON_AddNumberToObject(j, "configurations", res.compared);
        cJSON_AddNumberToObject(j, "max_error", res.max_error);
        cJSON_AddNumberToObject(j, "limit", COST_VALIDATE_LIMIT);
        cli_json_add_string(j, "prices", wb.path);
        cli_json_add_string(j, "list_region", list.prices.region);
        if (list.latency.present)
            cJSON_AddNumberToObject(j, "max_latency_error",
                                    res.max_latency_error);
        cJSON_AddNumberToObject(j, "sdsinf_predicted", res.predicted);
        rc = cli_json_write(j, stdout, err);
        j = NULL;
        if (rc)
            goto done;
        putchar('\n');
    } else {
        printf("%d published totals compared: largest error %.3g%% (the "
               "limit is %.0f%%)", res.compared, 100 * res.max_error,
               100 * COST_VALIDATE_LIMIT);
        if (list.latency.present)
            printf("; batch times: largest error %.0f%% (a first model, "
                   "its latencies set by hand on these runs)",
                   100 * res.max_latency_error);
        printf("; sdsinf predicted on %d of them\n", res.predicted);
    }
    if (res.compared == 0)
        rc = cli_fail(err, SDSINF_EPARSE, "%s: no published configuration "
                      "to compare", dir);
    else if (res.max_error > COST_VALIDATE_LIMIT)
        rc = cli_fail(err, SDSINF_EMISMATCH, "the cost model is %.2f%% off "
                      "a published total (over %.0f%%)", 100 * res.max_error,
                      100 * COST_VALIDATE_LIMIT);
done:
    cJSON_Delete(j);
    calibrations_free(&cal);
    prices_free(&wb);
    prices_free(&list);
    return rc;
}
