/* test_metrics.c - the metrics files of the command line (tools/metrics.c):
 * SDS-Inf's column names, then ours; one row per worker per layer with the
 * records' values; a Lambda run's runtime, invocations and GB-seconds; CSV and JSON agreeing; all three files or none; and,
 * from a real distributed run, layer records that add up to the run's
 * totals. */
#include "testutil.h"
#include "metrics.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* SDS-Inf's headers (master_metrics_*.csv, master_layerstats_*.csv). */
#define SDS_RUN                                                               \
    "CONFIG,BFR,NLEVELS,TOTAL_NWORKERS,NUM_NEURONS,NUM_LAYERS,NUM_DATA,"      \
    "BATCH_SIZE,NUM_BATCHES,METRIC_PUBLISH_CALLS,METRIC_NUM_MESSAGES_SENT,"   \
    "METRIC_SIZE_MESSAGES_SENT,METRIC_RECEIVE_POLL_CALLS,"                    \
    "METRIC_NUM_MESSAGES_RECEIVED,METRIC_SIZE_MESSAGES_RECEIVED,"             \
    "METRIC_ELAPSED_TIME_BATCH,METRIC_ELAPSED_TIME_COMMUNICATION,"            \
    "METRIC_ELAPSED_TIME_COMPUTATION,METRIC_ELAPSED_TIME_COMPRESSION,"        \
    "METRIC_LAMBDA_RUNTIME,METRIC_DYNAMODB_ITEMS_WRITTEN,"                    \
    "METRIC_DYNAMODB_TOTAL_ITEMS_READ,METRIC_DYNAMODB_UNIQUE_ITEMS_READ,"     \
    "METRIC_MAX_ROW_NNZ,METRIC_MAX_MESSAGE_SIZE,METRIC_MAX_BATCH_MSG_SIZE"
#define SDS_LAYER                                                             \
    "CONFIG,WORKER_ID,LAYER,PUBLISH_NUM,PUBLISH_TOTAL_SIZE,PUBLISH_MAX_SIZE," \
    "PUBLISH_MIN_SIZE,PUBLISH_AVG_SIZE,MSG_NUM,MSG_TOTAL_SIZE,MSG_MAX_SIZE,"  \
    "MSG_MIN_SIZE,MSG_AVG_SIZE,LS_NUM_TARGETS,NNZ,CHUNKS_SENT,"               \
    "CHUNKS_PER_TARGET,CHUNK_TOTAL_SIZE,CHUNK_MIN_SIZE,CHUNK_MAX_SIZE,"       \
    "CHUNK_AVG_SIZE,NNZ_SENT,NNZ_PER_TARGET,ROWS_SENT,ROWS_PER_TARGET,"       \
    "LAYER_DURATION"
/* ours, after theirs */
#define OUR_RUN                                                               \
    "EXPT_ID,CHANNEL,LAUNCHER,CODEC,CATEGORIES,CHECK,RUN_SECONDS,"            \
    "STARTUP_SECONDS,BYTES_PER_IMAGE,DUPLICATES,DROPPED,ENCODE_SECONDS,"      \
    "DECODE_SECONDS,SEND_SECONDS,WAIT_SECONDS," OUR_REQUESTS ","               \
    "STORAGE_SEND,STORAGE_RECEIVE,STORAGE_REMOVE,STORAGE_LIST,"              \
    "STORAGE_RETRIES,LAMBDA_INVOCATIONS,LAMBDA_GB_SECONDS,LAMBDA_ARCH"
#define OUR_LAYER                                                             \
    "RECEIVED_NUM,RECEIVED_TOTAL_SIZE,RECEIVED_MAX_SIZE,RECEIVED_MIN_SIZE,"   \
    "RECEIVED_AVG_SIZE,COMPUTE_SECONDS,ENCODE_SECONDS,DECODE_SECONDS,"        \
    "SEND_SECONDS,WAIT_SECONDS," OUR_REQUESTS
#define OUR_REQUESTS                                                          \
    "REQUESTS_SEND,REQUESTS_RECEIVE,REQUESTS_EMPTY,REQUESTS_REMOVE,"          \
    "REQUESTS_LIST,REQUESTS_RETRIES,REQUESTS_UNITS,REQUESTS_SEND_UNITS,"      \
    "REQUESTS_S3_PUT,REQUESTS_S3_GET,REQUESTS_S3_LIST,REQUESTS_S3_REMOVE"

#define WORKERS 2
#define LAYERS 2
#define NREC (WORKERS * (LAYERS + 1))

/* ---- helpers ------------------------------------------------------------- */

static int setup_dir(void **state)
{
    *state = tu_mkdtemp();
    return 0;
}

static int teardown_dir(void **state)
{
    tu_rmdir(*state);
    free(*state);
    return 0;
}

/* The file's contents (caller frees), or NULL when it cannot be read. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* dir/name + suffix into buf. */
static const char *at(char *buf, const char *dir, const char *name)
{
    snprintf(buf, 4096, "%s/%s", dir, name);
    return buf;
}

/* Line k (0-based) of text, without its newline (caller frees). */
static char *line_of(const char *text, int k)
{
    while (k-- > 0) {
        text = strchr(text, '\n');
        assert_non_null(text);
        text++;
    }
    size_t n = strcspn(text, "\n");
    char *s = malloc(n + 1);
    assert_non_null(s);
    memcpy(s, text, n);
    s[n] = '\0';
    return s;
}

static int count_lines(const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* Field k (0-based) of a CSV line without quoted fields (caller frees). */
static char *field(const char *line, int k)
{
    while (k-- > 0) {
        line = strchr(line, ',');
        assert_non_null(line);
        line++;
    }
    size_t n = strcspn(line, ",");
    char *s = malloc(n + 1);
    assert_non_null(s);
    memcpy(s, line, n);
    s[n] = '\0';
    return s;
}

/* The column's index in a header line. */
static int column(const char *header, const char *name)
{
    int k = 0;
    size_t n = strlen(name);
    for (const char *p = header; p; p = strchr(p, ','), p = p ? p + 1 : p) {
        if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0'))
            return k;
        k++;
    }
    fail_msg("no column %s", name);
    return -1;
}

/* The value of column `name` in line `row` of a CSV file's text. */
static double cell(const char *text, int row, const char *name)
{
    char *header = line_of(text, 0), *line = line_of(text, row);
    char *f = field(line, column(header, name));
    double x = *f ? strtod(f, NULL) : -1;
    free(f);
    free(line);
    free(header);
    return x;
}

/* Statistics of a made-up run: worker w at layer l (1-based; l = LAYERS + 1
 * is the results' trip) sent (w + l) % 3 messages. */
static void fake_stats(sdsinf_run_stats *st, sdsinf_layer_record *rec)
{
    memset(st, 0, sizeof *st);
    memset(rec, 0, NREC * sizeof *rec);
    st->workers = WORKERS;
    st->layers = LAYERS;
    st->batches = 1;
    st->seconds = 0.5;
    st->startup_seconds = 0.25;
    st->compute_seconds = 1;
    st->encode_seconds = 0.125;
    st->decode_seconds = 0.0625;
    st->send_seconds = 0.375;
    st->wait_seconds = 0.5;
    for (int w = 0; w < WORKERS; w++)
        for (int l = 1; l <= LAYERS + 1; l++) {
            sdsinf_layer_record *r = &rec[w * (LAYERS + 1) + l - 1];
            r->worker = w;
            r->layer = l;
            r->targets = 1;
            r->sent = (uint64_t)((w + l) % 3);
            r->sent_bytes = 100 * r->sent;
            r->sent_max = r->sent ? 120 : 0;
            r->sent_min = r->sent ? 80 : 0;
            r->received = 1;
            r->received_bytes = 70;
            r->received_max = r->received_min = 70;
            r->rows_sent = 3 * r->sent;
            r->nnz_sent = 10 * r->sent;
            r->nnz = 1000 + (uint64_t)(10 * w + l);
            r->seconds = 0.25;
            r->compute_seconds = 0.125;
            r->requests.send = r->sent; /* one request per message */
            r->requests.receive = 2;    /* one of them empty */
            r->requests.empty = 1;
            st->requests.send += r->requests.send;
            st->requests.receive += r->requests.receive;
            st->requests.empty += r->requests.empty;
            st->messages_sent += r->sent;
            st->bytes_sent += r->sent_bytes;
            st->messages_received += r->received;
            st->bytes_received += r->received_bytes;
        }
    st->records = rec;
    st->nrecords = NREC;
}

static metrics_run fake_run(const char *config)
{
    metrics_run mr = {0};
    mr.config = config;
    mr.expt_id = 7;
    mr.neurons = 64;
    mr.layers = LAYERS;
    mr.images = 10;
    mr.channel = "local";
    mr.launcher = "local";
    mr.codec = "zstd";
    mr.categories = 4;
    mr.check = 1;
    return mr;
}

/* Writes dir/m* from the made-up run; returns the three files' texts. */
static void write_fake(const char *dir, const char *config, int records,
                       char **run, char **layers, char **json)
{
    sdsinf_run_stats st;
    sdsinf_layer_record rec[NREC];
    metrics_run mr = fake_run(config);
    sdsinf_err err = {0};
    char prefix[4096], p[4096];
    fake_stats(&st, rec);
    if (!records) {
        st.records = NULL;
        st.nrecords = 0;
    }
    assert_int_equal(metrics_write(at(prefix, dir, "m"), &mr, &st, &err),
                     SDSINF_OK);
    *run = slurp(at(p, dir, "m.csv"));
    *layers = slurp(at(p, dir, "m-layers.csv"));
    *json = slurp(at(p, dir, "m.json"));
    assert_non_null(*run);
    assert_non_null(*layers);
    assert_non_null(*json);
}

static void free3(char *a, char *b, char *c)
{
    free(a);
    free(b);
    free(c);
}

/* ---- cases ---------------------------------------------------------------- */

/* The headers are SDS-Inf's, then ours; with the shared data, SDS-Inf's
 * own files begin with the same names. */
static void test_headers(void **state)
{
    char *run, *layers, *json, *h;
    write_fake(*state, "c1", 1, &run, &layers, &json);
    h = line_of(run, 0);
    assert_string_equal(h, SDS_RUN "," OUR_RUN);
    free(h);
    h = line_of(layers, 0);
    assert_string_equal(h, SDS_LAYER "," OUR_LAYER);
    free(h);
    const char *data = tu_data_dir();
    if (data) {
        char p[4096];
        const char *names[2][2] = {
            {"master_metrics_c1_1024n_8w_10000bs_queue.csv", SDS_RUN},
            {"master_layerstats_c1_1024n_8w_10000bs_queue.csv", SDS_LAYER}};
        for (int k = 0; k < 2; k++) {
            snprintf(p, sizeof p, "%s/sds-inf-reference/%s", data,
                     names[k][0]);
            char *text = slurp(p), *ref;
            if (!text)
                continue;
            ref = line_of(text, 0);
            ref[strcspn(ref, "\r")] = '\0';
            assert_string_equal(ref, names[k][1]);
            free(ref);
            free(text);
        }
    }
    free3(run, layers, json);
}

/* One row per worker per layer, by worker then layer, LAYER 0-based; the
 * values are the records' (sizes 0 where nothing was sent); the run record
 * sums and maxima. */
static void test_rows(void **state)
{
    char *run, *layers, *json;
    write_fake(*state, "c1", 1, &run, &layers, &json);
    assert_int_equal(count_lines(run), 2);
    assert_int_equal(count_lines(layers), 1 + NREC);
    for (int w = 0; w < WORKERS; w++)
        for (int l = 1; l <= LAYERS + 1; l++) {
            int row = 1 + w * (LAYERS + 1) + l - 1;
            double sent = (double)((w + l) % 3);
            assert_true(cell(layers, row, "WORKER_ID") == w);
            assert_true(cell(layers, row, "LAYER") == l - 1);
            assert_true(cell(layers, row, "PUBLISH_NUM") == sent);
            assert_true(cell(layers, row, "MSG_TOTAL_SIZE") == 100 * sent);
            assert_true(cell(layers, row, "CHUNKS_SENT") == sent);
            assert_true(cell(layers, row, "CHUNK_MIN_SIZE") == (sent ? 80 : 0));
            assert_true(cell(layers, row, "PUBLISH_MAX_SIZE") ==
                        (sent ? 120 : 0));
            assert_true(cell(layers, row, "PUBLISH_AVG_SIZE") ==
                        (sent ? 100 : 0));
            assert_true(cell(layers, row, "NNZ") == 1000 + 10 * w + l);
            assert_true(cell(layers, row, "ROWS_PER_TARGET") == 3 * sent);
            assert_true(cell(layers, row, "NNZ_PER_TARGET") == 10 * sent);
            assert_true(cell(layers, row, "RECEIVED_TOTAL_SIZE") == 70);
            assert_true(cell(layers, row, "LAYER_DURATION") == 0.25);
            assert_true(cell(layers, row, "COMPUTE_SECONDS") == 0.125);
            assert_true(cell(layers, row, "REQUESTS_SEND") == sent);
            assert_true(cell(layers, row, "REQUESTS_RECEIVE") == 2);
            assert_true(cell(layers, row, "REQUESTS_EMPTY") == 1);
            assert_true(cell(layers, row, "REQUESTS_UNITS") == 0);
        }
    assert_true(cell(run, 1, "TOTAL_NWORKERS") == WORKERS);
    assert_true(cell(run, 1, "BFR") == WORKERS); /* all from the coordinator */
    assert_true(cell(run, 1, "NLEVELS") == 1);
    assert_true(cell(run, 1, "NUM_DATA") == 10);
    assert_true(cell(run, 1, "BATCH_SIZE") == 10);
    assert_true(cell(run, 1, "NUM_BATCHES") == 1);
    assert_true(cell(run, 1, "METRIC_NUM_MESSAGES_SENT") == 6);
    assert_true(cell(run, 1, "METRIC_PUBLISH_CALLS") == 6);
    assert_true(cell(run, 1, "METRIC_RECEIVE_POLL_CALLS") == 2 * NREC);
    assert_true(cell(run, 1, "REQUESTS_EMPTY") == NREC);
    assert_true(cell(run, 1, "METRIC_SIZE_MESSAGES_SENT") == 600);
    assert_true(cell(run, 1, "METRIC_SIZE_MESSAGES_RECEIVED") == 70 * NREC);
    assert_true(cell(run, 1, "METRIC_MAX_MESSAGE_SIZE") == 120);
    assert_true(cell(run, 1, "METRIC_ELAPSED_TIME_BATCH") == 0.25 * NREC);
    assert_true(cell(run, 1, "METRIC_ELAPSED_TIME_COMMUNICATION") == 0.875);
    assert_true(cell(run, 1, "METRIC_ELAPSED_TIME_COMPUTATION") == 1);
    assert_true(cell(run, 1, "METRIC_ELAPSED_TIME_COMPRESSION") == 0.1875);
    assert_true(cell(run, 1, "METRIC_LAMBDA_RUNTIME") == -1); /* empty */
    assert_true(cell(run, 1, "LAMBDA_INVOCATIONS") == -1); /* no Lambda */
    assert_true(cell(run, 1, "LAMBDA_ARCH") == -1);
    assert_true(cell(run, 1, "STORAGE_RECEIVE") == -1); /* no s3:// */
    assert_true(cell(run, 1, "METRIC_DYNAMODB_ITEMS_WRITTEN") == -1);
    assert_true(cell(run, 1, "EXPT_ID") == 7);
    assert_true(cell(run, 1, "BYTES_PER_IMAGE") == 60);
    assert_true(cell(run, 1, "RUN_SECONDS") == 0.5);
    free3(run, layers, json);
}

/* The JSON holds the same columns and values; empty cells are null; text
 * that CSV must quote survives both. */
static void test_json(void **state)
{
    char *run, *layers, *json;
    write_fake(*state, "odd, \"name\"", 1, &run, &layers, &json);
    char *row = line_of(run, 1);
    assert_int_equal(strncmp(row, "\"odd, \"\"name\"\"\",", 16), 0);
    free(row);
    cJSON *doc = cJSON_Parse(json);
    assert_non_null(doc);
    cJSON *r = cJSON_GetObjectItemCaseSensitive(doc, "run");
    cJSON *l = cJSON_GetObjectItemCaseSensitive(doc, "layers");
    assert_true(cJSON_IsObject(r) && cJSON_IsArray(l));
    char *header = line_of(run, 0);
    int ncols = 1;
    for (const char *p = header; *p; p++)
        ncols += *p == ',';
    assert_int_equal(cJSON_GetArraySize(r), ncols);
    free(header);
    assert_string_equal(cJSON_GetObjectItem(r, "CONFIG")->valuestring,
                        "odd, \"name\"");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "METRIC_LAMBDA_RUNTIME")));
    assert_true(cJSON_GetObjectItem(r, "METRIC_SIZE_MESSAGES_SENT")
                    ->valuedouble == 600);
    assert_string_equal(cJSON_GetObjectItem(r, "CHECK")->valuestring, "pass");
    assert_int_equal(cJSON_GetArraySize(l), NREC);
    cJSON *last = cJSON_GetArrayItem(l, NREC - 1);
    assert_true(cJSON_GetObjectItem(last, "WORKER_ID")->valuedouble ==
                WORKERS - 1);
    assert_true(cJSON_GetObjectItem(last, "LAYER")->valuedouble == LAYERS);
    cJSON_Delete(doc);
    free3(run, layers, json);
}

/* Without layer records: the layer file has its header only, and the
 * maxima the records give are empty. */
static void test_no_records(void **state)
{
    char *run, *layers, *json;
    write_fake(*state, "c1", 0, &run, &layers, &json);
    assert_int_equal(count_lines(layers), 1);
    assert_true(cell(run, 1, "METRIC_MAX_MESSAGE_SIZE") == -1);
    assert_true(cell(run, 1, "METRIC_ELAPSED_TIME_BATCH") ==
                0.5 * WORKERS); /* each worker the whole run */
    assert_non_null(strstr(json, "\"layers\":[]"));
    free3(run, layers, json);
}

/* A run on Lambda: METRIC_LAMBDA_RUNTIME is the workers' billed seconds,
 * summed (SDS-Inf's "Lambda runtime summed over workers, in seconds"),
 * LAMBDA_* its invocations, GB-seconds and architecture; STORAGE_* the S3
 * requests of its s3:// locations; the channel's claim-check requests and
 * publish units in REQUESTS_*. */
static void test_lambda(void **state)
{
    sdsinf_run_stats st;
    sdsinf_layer_record rec[NREC];
    metrics_run mr = fake_run("c1");
    sdsinf_requests storage = {0};
    sdsinf_err err = {0};
    char prefix[4096], p[4096];
    fake_stats(&st, rec);
    st.lambda_invocations = WORKERS;
    st.lambda_seconds = 568.612;
    st.lambda_gb_seconds = 568.612; /* at 1024 MB */
    st.lambda_arch = SDSINF_ARCH_ARM64;
    st.requests.send_units = 5;
    st.requests.s3_put = 2;
    st.requests.s3_get = 3;
    storage.send = 4;
    storage.receive = 12;
    storage.list = 1;
    mr.storage = &storage;
    assert_int_equal(metrics_write(at(prefix, *state, "m"), &mr, &st, &err),
                     SDSINF_OK);
    char *run = slurp(at(p, *state, "m.csv")), *json = slurp(at(p, *state,
                                                                  "m.json"));
    assert_true(cell(run, 1, "METRIC_LAMBDA_RUNTIME") == 568.612);
    assert_true(cell(run, 1, "LAMBDA_INVOCATIONS") == WORKERS);
    assert_true(cell(run, 1, "LAMBDA_GB_SECONDS") == 568.612);
    assert_true(cell(run, 1, "STORAGE_SEND") == 4);
    assert_true(cell(run, 1, "STORAGE_RECEIVE") == 12);
    assert_true(cell(run, 1, "STORAGE_REMOVE") == 0);
    assert_true(cell(run, 1, "STORAGE_LIST") == 1);
    assert_true(cell(run, 1, "REQUESTS_SEND_UNITS") == 5);
    assert_true(cell(run, 1, "REQUESTS_S3_PUT") == 2);
    assert_true(cell(run, 1, "REQUESTS_S3_GET") == 3);
    cJSON *doc = cJSON_Parse(json);
    assert_non_null(doc);
    cJSON *r = cJSON_GetObjectItemCaseSensitive(doc, "run");
    assert_string_equal(cJSON_GetObjectItem(r, "LAMBDA_ARCH")->valuestring,
                        "arm64");
    assert_true(cJSON_GetObjectItem(r, "METRIC_LAMBDA_RUNTIME")
                    ->valuedouble == 568.612);
    cJSON_Delete(doc);
    free(run);
    free(json);
}

/* A prefix that cannot be written: an error naming it, and no file (nor a
 * temporary one) left anywhere. */
static void test_all_or_none(void **state)
{
    sdsinf_run_stats st;
    sdsinf_layer_record rec[NREC];
    metrics_run mr = fake_run("c1");
    sdsinf_err err = {0};
    char prefix[4096];
    fake_stats(&st, rec);
    /* refused before writing (sdsinf_output_check): a caller's path */
    assert_int_equal(metrics_write(at(prefix, *state, "missing/m"), &mr, &st,
                                   &err),
                     SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, prefix));
    /* the directory stays empty */
    DIR *d = opendir(*state);
    struct dirent *de;
    int files = 0;
    assert_non_null(d);
    while ((de = readdir(d)))
        files += de->d_name[0] != '.';
    closedir(d);
    assert_int_equal(files, 0);
    /* written twice, the files are replaced whole and no temporary stays */
    char *run, *layers, *json;
    write_fake(*state, "c1", 1, &run, &layers, &json);
    free3(run, layers, json);
    write_fake(*state, "c1", 0, &run, &layers, &json);
    assert_int_equal(count_lines(layers), 1);
    free3(run, layers, json);
    d = opendir(*state);
    files = 0;
    while ((de = readdir(d)))
        files += de->d_name[0] != '.';
    closedir(d);
    assert_int_equal(files, 3);
}

/* A real run on worker threads: a record per worker per layer, adding up
 * to the run's totals. */
static void test_real_run(void **state)
{
    sdsinf_gen_opts g;
    sdsinf_model *m = NULL;
    sdsinf_csr images = {0};
    sdsinf_partition_opts po;
    sdsinf_plan *plan = NULL;
    sdsinf_run_opts ro;
    sdsinf_result res = {0};
    sdsinf_run_stats st = {0};
    sdsinf_err err = {0};
    sdsinf_gen_opts_init(&g);
    g.neurons = 64;
    g.layers = 4;
    g.images = 30;
    g.seed = 3;
    assert_int_equal(sdsinf_generate_model(&g, &m, &err), SDSINF_OK);
    assert_int_equal(sdsinf_generate_images(&g, &images, &err), SDSINF_OK);
    sdsinf_partition_opts_init(&po);
    po.workers = 3;
    po.method = "block";
    assert_int_equal(sdsinf_partition(m, &po, &plan, &err), SDSINF_OK);
    sdsinf_run_opts_init(&ro);
    ro.launcher = "threads";
    assert_int_equal(sdsinf_run(m, plan, &images, &ro, &res, &st, &err),
                     SDSINF_OK);
    assert_non_null(st.records);
    assert_int_equal(st.nrecords, 3 * (g.layers + 1));
    uint64_t sent = 0, bytes = 0;
    for (int64_t k = 0; k < st.nrecords; k++) {
        assert_int_equal(st.records[k].worker, k / (g.layers + 1));
        assert_int_equal(st.records[k].layer, k % (g.layers + 1) + 1);
        sent += st.records[k].sent;
        bytes += st.records[k].sent_bytes;
    }
    assert_true(st.bytes_sent > 0);
    assert_true(sent == st.messages_sent);
    assert_true(bytes == st.bytes_sent);

    metrics_run mr = fake_run("real");
    char prefix[4096], p[4096];
    mr.neurons = g.neurons;
    mr.layers = g.layers;
    mr.images = images.nrows;
    assert_int_equal(metrics_write(at(prefix, *state, "real"), &mr, &st,
                                   &err),
                     SDSINF_OK);
    char *run = slurp(at(p, *state, "real.csv"));
    char *layers = slurp(at(p, *state, "real-layers.csv"));
    assert_int_equal(count_lines(layers), 1 + st.nrecords);
    double total = 0;
    for (int row = 1; row <= st.nrecords; row++)
        total += cell(layers, row, "PUBLISH_TOTAL_SIZE");
    assert_true(total == (double)st.bytes_sent);
    assert_true(cell(run, 1, "METRIC_SIZE_MESSAGES_SENT") ==
                (double)st.bytes_sent);
    free(run);
    free(layers);
    sdsinf_run_stats_free(&st);
    sdsinf_result_free(&res);
    sdsinf_plan_free(plan);
    sdsinf_csr_free(&images);
    sdsinf_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_headers, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_rows, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_json, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_no_records, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_lambda, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_all_or_none, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_real_run, setup_dir,
                                        teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
