/* metrics.c - a run's metrics as files, in SDS-Inf's layout (metrics.h).
 * Each file's columns are one table (RUN_COLUMNS, LAYER_COLUMNS) of names
 * and values; the CSV and JSON writers render the same values.
 * Sections: values, the columns, writers, entry. */
#include "metrics.h"
#include "cli_util.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- values ------------------------------------------------------------------- */

typedef struct value {
    enum { V_NONE, V_COUNT, V_REAL, V_TEXT } kind;
    uint64_t n;
    double x;
    const char *s;
} value;

static value none(void)
{
    value v = {V_NONE, 0, 0, NULL};
    return v;
}

static value count(uint64_t n)
{
    value v = {V_COUNT, n, 0, NULL};
    return v;
}

static value real(double x)
{
    value v = {V_REAL, 0, x, NULL};
    return isfinite(x) ? v : none();
}

static value text(const char *s)
{
    value v = {V_TEXT, 0, 0, s};
    return s ? v : none();
}

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : 0;
}

/* What the run record needs from the layer records. */
typedef struct totals {
    int have_records;
    uint64_t max_message;  /* largest message sent */
    double worker_seconds; /* each worker's time, summed */
    int64_t batch_size, batches;
} totals;

/* ---- the columns -------------------------------------------------------------- */

/* The run record: SDS-Inf's columns, then sdsinf's.  X(name, value) with
 * the value read from mr (metrics_run), st (the run's statistics) and t. */
#define RUN_COLUMNS(X)                                                        \
    X(CONFIG, text(mr->config))                                               \
    X(BFR, count((uint64_t)(mr->bfr > 0 ? mr->bfr : st->workers)))            \
    X(NLEVELS, count((uint64_t)(mr->nlevels > 0 ? mr->nlevels : 1)))          \
    X(TOTAL_NWORKERS, count((uint64_t)st->workers))                           \
    X(NUM_NEURONS, count((uint64_t)mr->neurons))                              \
    X(NUM_LAYERS, count((uint64_t)mr->layers))                                \
    X(NUM_DATA, count((uint64_t)mr->images))                                  \
    X(BATCH_SIZE, count((uint64_t)t->batch_size))                             \
    X(NUM_BATCHES, count((uint64_t)t->batches))                               \
    X(METRIC_PUBLISH_CALLS, count(st->requests.send))                         \
    X(METRIC_NUM_MESSAGES_SENT, count(st->messages_sent))                     \
    X(METRIC_SIZE_MESSAGES_SENT, count(st->bytes_sent))                       \
    X(METRIC_RECEIVE_POLL_CALLS, count(st->requests.receive))                 \
    X(METRIC_NUM_MESSAGES_RECEIVED, count(st->messages_received))             \
    X(METRIC_SIZE_MESSAGES_RECEIVED, count(st->bytes_received))               \
    X(METRIC_ELAPSED_TIME_BATCH, real(t->worker_seconds))                     \
    X(METRIC_ELAPSED_TIME_COMMUNICATION,                                      \
      real(st->send_seconds + st->wait_seconds))                              \
    X(METRIC_ELAPSED_TIME_COMPUTATION, real(st->compute_seconds))             \
    X(METRIC_ELAPSED_TIME_COMPRESSION,                                        \
      real(st->encode_seconds + st->decode_seconds))                          \
    X(METRIC_LAMBDA_RUNTIME, LAMBDA_IF(real(st->lambda_seconds)))            \
    X(METRIC_DYNAMODB_ITEMS_WRITTEN, none())                                  \
    X(METRIC_DYNAMODB_TOTAL_ITEMS_READ, none())                               \
    X(METRIC_DYNAMODB_UNIQUE_ITEMS_READ, none())                              \
    X(METRIC_MAX_ROW_NNZ, none())                                             \
    X(METRIC_MAX_MESSAGE_SIZE,                                                \
      t->have_records ? count(t->max_message) : none())                      \
    X(METRIC_MAX_BATCH_MSG_SIZE,                                              \
      t->have_records ? count(t->max_message) : none())                      \
    X(EXPT_ID, mr->expt_id >= 0 ? count((uint64_t)mr->expt_id) : none())      \
    X(CHANNEL, text(mr->channel))                                             \
    X(LAUNCHER, text(mr->launcher))                                           \
    X(CODEC, text(mr->codec))                                                 \
    X(CATEGORIES, count((uint64_t)mr->categories))                            \
    X(CHECK, text(mr->check < 0 ? NULL : mr->check ? "pass" : "fail"))       \
    X(RUN_SECONDS, real(st->seconds))                                         \
    X(STARTUP_SECONDS, real(st->startup_seconds))                             \
    X(BYTES_PER_IMAGE, real(ratio(st->bytes_sent, (uint64_t)mr->images)))     \
    X(DUPLICATES, count(st->duplicates))                                      \
    X(DROPPED, count(st->dropped))                                            \
    X(ENCODE_SECONDS, real(st->encode_seconds))                               \
    X(DECODE_SECONDS, real(st->decode_seconds))                               \
    X(SEND_SECONDS, real(st->send_seconds))                                   \
    X(WAIT_SECONDS, real(st->wait_seconds))                                   \
    REQUEST_COLUMNS(X, st->requests)                                          \
    X(STORAGE_SEND, STORAGE_IF(send))                                         \
    X(STORAGE_RECEIVE, STORAGE_IF(receive))                                   \
    X(STORAGE_REMOVE, STORAGE_IF(remove))                                     \
    X(STORAGE_LIST, STORAGE_IF(list))                                         \
    X(STORAGE_RETRIES, STORAGE_IF(retries))                                   \
    X(LAMBDA_INVOCATIONS, LAMBDA_IF(count(st->lambda_invocations)))           \
    X(LAMBDA_GB_SECONDS, LAMBDA_IF(real(st->lambda_gb_seconds)))              \
    X(LAMBDA_ARCH, LAMBDA_IF(text(st->lambda_arch == SDSINF_ARCH_ARM64        \
                                      ? "arm64"                               \
                                      : "x86_64")))

/* A Lambda run's value, empty for a run without Lambda. */
#define LAMBDA_IF(v) (st->lambda_invocations ? (v) : none())
/* A kind of the S3 requests of the run's s3:// locations (mr->storage),
 * empty when it made none. */
#define STORAGE_IF(kind) (mr->storage ? count(mr->storage->kind) : none())

/* The channel's billable requests by kind (sdsinf_requests), from rq. */
#define REQUEST_COLUMNS(X, rq)                                                \
    X(REQUESTS_SEND, count((rq).send))                                        \
    X(REQUESTS_RECEIVE, count((rq).receive))                                  \
    X(REQUESTS_EMPTY, count((rq).empty))                                      \
    X(REQUESTS_REMOVE, count((rq).remove))                                    \
    X(REQUESTS_LIST, count((rq).list))                                        \
    X(REQUESTS_RETRIES, count((rq).retries))                                  \
    X(REQUESTS_UNITS, count((rq).units))                                      \
    X(REQUESTS_SEND_UNITS, count((rq).send_units))                            \
    X(REQUESTS_S3_PUT, count((rq).s3_put))                                    \
    X(REQUESTS_S3_GET, count((rq).s3_get))                                    \
    X(REQUESTS_S3_LIST, count((rq).s3_list))                                  \
    X(REQUESTS_S3_REMOVE, count((rq).s3_remove))

/* A size over n messages: 0 when there were none (SDS-Inf's "unset"). */
#define SIZE_IF(n, size) count((n) ? (size) : 0)

/* One worker at one layer: SDS-Inf's columns, then sdsinf's.  The value
 * reads mr and r (the record). */
#define LAYER_COLUMNS(X)                                                      \
    X(CONFIG, text(mr->config))                                               \
    X(WORKER_ID, count((uint64_t)r->worker))                                  \
    X(LAYER, count(r->layer > 0 ? (uint64_t)r->layer - 1 : 0))                \
    X(PUBLISH_NUM, count(r->sent))                                            \
    X(PUBLISH_TOTAL_SIZE, count(r->sent_bytes))                               \
    X(PUBLISH_MAX_SIZE, SIZE_IF(r->sent, r->sent_max))                        \
    X(PUBLISH_MIN_SIZE, SIZE_IF(r->sent, r->sent_min))                        \
    X(PUBLISH_AVG_SIZE, real(ratio(r->sent_bytes, r->sent)))                  \
    X(MSG_NUM, count(r->sent))                                                \
    X(MSG_TOTAL_SIZE, count(r->sent_bytes))                                   \
    X(MSG_MAX_SIZE, SIZE_IF(r->sent, r->sent_max))                            \
    X(MSG_MIN_SIZE, SIZE_IF(r->sent, r->sent_min))                            \
    X(MSG_AVG_SIZE, real(ratio(r->sent_bytes, r->sent)))                      \
    X(LS_NUM_TARGETS, count(r->targets))                                      \
    X(NNZ, count(r->nnz))                                                     \
    X(CHUNKS_SENT, count(r->sent))                                            \
    X(CHUNKS_PER_TARGET, real(ratio(r->sent, r->targets)))                    \
    X(CHUNK_TOTAL_SIZE, count(r->sent_bytes))                                 \
    X(CHUNK_MIN_SIZE, SIZE_IF(r->sent, r->sent_min))                          \
    X(CHUNK_MAX_SIZE, SIZE_IF(r->sent, r->sent_max))                          \
    X(CHUNK_AVG_SIZE, real(ratio(r->sent_bytes, r->sent)))                    \
    X(NNZ_SENT, count(r->nnz_sent))                                           \
    X(NNZ_PER_TARGET, real(ratio(r->nnz_sent, r->targets)))                   \
    X(ROWS_SENT, count(r->rows_sent))                                         \
    X(ROWS_PER_TARGET, real(ratio(r->rows_sent, r->targets)))                 \
    X(LAYER_DURATION, real(r->seconds))                                       \
    X(RECEIVED_NUM, count(r->received))                                       \
    X(RECEIVED_TOTAL_SIZE, count(r->received_bytes))                          \
    X(RECEIVED_MAX_SIZE, SIZE_IF(r->received, r->received_max))               \
    X(RECEIVED_MIN_SIZE, SIZE_IF(r->received, r->received_min))               \
    X(RECEIVED_AVG_SIZE, real(ratio(r->received_bytes, r->received)))         \
    X(COMPUTE_SECONDS, real(r->compute_seconds))                              \
    X(ENCODE_SECONDS, real(r->encode_seconds))                                \
    X(DECODE_SECONDS, real(r->decode_seconds))                                \
    X(SEND_SECONDS, real(r->send_seconds))                                    \
    X(WAIT_SECONDS, real(r->wait_seconds))                                    \
    REQUEST_COLUMNS(X, r->requests)

#define COLUMN_NAME(name, v) #name,
#define COLUMN_VALUE(name, v) out[i++] = (v);

static const char *const RUN_NAMES[] = {RUN_COLUMNS(COLUMN_NAME)};
static const char *const LAYER_NAMES[] = {LAYER_COLUMNS(COLUMN_NAME)};
#define NRUN (sizeof RUN_NAMES / sizeof *RUN_NAMES)
#define NLAYER (sizeof LAYER_NAMES / sizeof *LAYER_NAMES)

static void run_values(const metrics_run *mr, const sdsinf_run_stats *st,
                       const totals *t, value out[NRUN])
{
    size_t i = 0;
    RUN_COLUMNS(COLUMN_VALUE)
}

static void layer_values(const metrics_run *mr, const sdsinf_layer_record *r,
                         value out[NLAYER])
{
    size_t i = 0;
    LAYER_COLUMNS(COLUMN_VALUE)
}

static totals totals_of(const metrics_run *mr, const sdsinf_run_stats *st)
{
    totals t = {0};
    int64_t images = mr->images > 0 ? mr->images : 0;
    t.batch_size = mr->batch_size > 0 && mr->batch_size < images
                       ? mr->batch_size : images;
    t.batches = st->batches > 0 ? st->batches
                : t.batch_size ? (images + t.batch_size - 1) / t.batch_size
                               : 0;
    t.have_records = st->records && st->nrecords > 0;
    t.worker_seconds = t.have_records ? 0 : st->seconds * st->workers;
    for (int64_t k = 0; t.have_records && k < st->nrecords; k++) {
        const sdsinf_layer_record *r = &st->records[k];
        t.worker_seconds += r->seconds;
        if (r->sent && r->sent_max > t.max_message)
            t.max_message = r->sent_max;
    }
    return t;
}

/* ---- writers -------------------------------------------------------------------- */

static void csv_text(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_line(FILE *f, const char *const *names, const value *v,
                     size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        if (names)
            fputs(names[i], f);
        else if (v[i].kind == V_COUNT)
            fprintf(f, "%" PRIu64, v[i].n);
        else if (v[i].kind == V_REAL)
            fprintf(f, "%.9g", v[i].x);
        else if (v[i].kind == V_TEXT)
            csv_text(f, v[i].s);
    }
    fputc('\n', f);
}

/* A cell as a JSON value: a count, a real as the CSV writes it (%.9g, so
 * both files hold the same values), text, or null for an empty cell. */
static cJSON *json_value(const value *v)
{
    char real[32];
    if (v->kind == V_COUNT)
        return cJSON_CreateNumber((double)v->n);
    if (v->kind == V_REAL) {
        snprintf(real, sizeof real, "%.9g", v->x);
        return cJSON_CreateNumber(strtod(real, NULL));
    }
    return v->kind == V_TEXT ? cJSON_CreateString(v->s) : cJSON_CreateNull();
}

/* Writes one record as a JSON object, the columns' names (static: keys
 * cJSON need not copy) as its keys. */
static int json_object(FILE *f, const char *const *names, const value *v,
                       size_t n, sdsinf_err *err)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < n && o; i++)
        if (!cJSON_AddItemToObjectCS(o, names[i], json_value(&v[i]))) {
            cJSON_Delete(o);
            o = NULL;
        }
    return cli_json_write(o, f, err);
}

/* ---- entry ---------------------------------------------------------------------- */

/* PREFIX + suffix into a new string (NULL when out of memory). */
static char *path_with(const char *prefix, const char *suffix)
{
    size_t n = strlen(prefix) + strlen(suffix) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s", prefix, suffix);
    return p;
}

int metrics_write(const char *prefix, const metrics_run *mr,
                  const sdsinf_run_stats *st, sdsinf_err *err)
{
    cli_files files = {0};
    FILE *run_csv, *layer_csv, *json;
    value run[NRUN], layer[NLAYER];
    totals t = totals_of(mr, st);
    char *p1 = path_with(prefix, ".csv"), *p2 = path_with(prefix, "-layers.csv"),
         *p3 = path_with(prefix, ".json");
    int rc;
    if (!p1 || !p2 || !p3) {
        rc = cli_fail(err, SDSINF_ENOMEM, "no memory for the metrics' names");
        goto done;
    }
    if ((rc = cli_files_open(&files, p1, &run_csv, err)) ||
        (rc = cli_files_open(&files, p2, &layer_csv, err)) ||
        (rc = cli_files_open(&files, p3, &json, err)))
        goto done;
    run_values(mr, st, &t, run);
    csv_line(run_csv, RUN_NAMES, NULL, NRUN);
    csv_line(run_csv, NULL, run, NRUN);
    csv_line(layer_csv, LAYER_NAMES, NULL, NLAYER);
    fputs("{\"run\":", json);
    if ((rc = json_object(json, RUN_NAMES, run, NRUN, err)))
        goto done;
    fputs(",\n\"layers\":[", json);
    for (int64_t k = 0; t.have_records && k < st->nrecords; k++) {
        layer_values(mr, &st->records[k], layer);
        csv_line(layer_csv, NULL, layer, NLAYER);
        fputs(k ? ",\n" : "\n", json);
        if ((rc = json_object(json, LAYER_NAMES, layer, NLAYER, err)))
            goto done;
    }
    fputs("]}\n", json);
    rc = cli_files_commit(&files, err);
done:
    cli_files_discard(&files);
    free(p1);
    free(p2);
    free(p3);
    return rc;
}
