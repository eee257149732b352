/* calibrate.c - the planner's measurements (calibrate.h): the kernel
 * timed layer by layer, a quick run's per-layer records, and the
 * calibration file.  Sections: measuring, the file. */
#define _POSIX_C_SOURCE 200809L
#include "calibrate.h"
#include "cli_util.h"
#include "json_in.h"
#include "meter.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CALIBRATION_MAX_BYTES (16u << 20) /* 100,000 layers fit */
enum { DENSITY, COMPUTE, BYTES, MESSAGES, NSERIES };
static const char *const SERIES[NSERIES] = {"density", "compute_seconds",
                                            "bytes", "messages"};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Points c's series at its data (4 x layers numbers). */
static void wire(calibration *c)
{
    size_t L = (size_t)c->c.layers;
    c->c.density = c->data + DENSITY * L;
    c->c.compute_seconds = c->data + COMPUTE * L;
    c->c.bytes = c->data + BYTES * L;
    c->c.messages = c->data + MESSAGES * L;
}

static int alloc_series(calibration *c, int32_t layers, sdsinf_err *err)
{
    memset(c, 0, sizeof *c);
    c->c.version = SDSINF_CALIBRATION_VERSION;
    c->c.layers = layers;
    if (!(c->data = calloc((size_t)NSERIES * (size_t)layers, sizeof *c->data)))
        return cli_fail(err, SDSINF_ENOMEM, "calibration: no memory for %d "
                        "layers", layers);
    wire(c);
    return SDSINF_OK;
}

void calibrate_free(calibration *c)
{
    if (!c)
        return;
    free(c->data);
    memset(c, 0, sizeof *c);
}

/* ---- measuring --------------------------------------------------------- */

/* The kernel's time per layer: the progress callback's clock; and the
 * stage's progress line. */
typedef struct layer_clock {
    double last, *seconds; /* per layer, summed over batches */
    meter *shown;
} layer_clock;

static void on_layer(void *ud, int64_t batch, int64_t batches, int32_t layer,
                     int32_t layers)
{
    layer_clock *k = ud;
    double t = now();
    (void)batch, (void)batches;
    if (layer >= 1 && layer <= layers)
        k->seconds[layer - 1] += t - k->last;
    meter_show(k->shown, (double)batch * layers + layer,
               (double)batches * layers);
    k->last = now(); /* the line's drawing not counted */
}

/* sdsinf_run's callback: the calibration run's worker-layers. */
static void on_step(void *ud, int64_t done, int64_t total)
{
    meter_show(ud, (double)done, (double)total);
}

int calibrate_measure(const sdsinf_model *m, const sdsinf_csr *sample,
                      int workers, uint64_t seed, int show,
                      calibration *out, sdsinf_err *err)
{
    sdsinf_gen_opts go;
    sdsinf_infer_opts io;
    sdsinf_partition_opts po;
    sdsinf_run_opts ro;
    sdsinf_csr made = {0}, images;
    sdsinf_result res = {0}, rres = {0};
    sdsinf_run_stats st = {0};
    sdsinf_plan *plan = NULL;
    calibration c;
    int rc;
    if (workers < 2)
        return cli_fail(err, SDSINF_EINVAL, "calibration needs a run of >= 2 "
                        "workers, not %d", workers);
    if ((rc = alloc_series(&c, m->layers, err)))
        return rc;
    double *compute = c.data + COMPUTE * (size_t)m->layers;
    meter prog = {0};
    layer_clock k = {0, compute, &prog};
    sdsinf_gen_opts_init(&go);
    go.neurons = m->neurons;
    go.layers = m->layers;
    go.images = CALIBRATE_IMAGES;
    go.seed = seed;
    sdsinf_infer_opts_init(&io);
    io.threads = 1;
    io.progress = on_layer;
    io.progress_ud = &k;
    sdsinf_partition_opts_init(&po);
    po.workers = workers;
    po.method = "block";
    sdsinf_run_opts_init(&ro);
    ro.launcher = "threads";
    ro.channel = "mem";
    ro.progress = show ? on_step : NULL;
    ro.progress_ud = &prog;
    if (sample) { /* its first rows, borrowed */
        images = *sample;
        images.owned = 0;
        if (images.nrows > CALIBRATE_IMAGES)
            images.nrows = CALIBRATE_IMAGES;
    } else if ((rc = sdsinf_generate_images(&go, &made, err))) {
        goto done;
    } else {
        images = made;
    }
    if (images.nrows < 1) {
        rc = cli_fail(err, SDSINF_EINVAL, "calibration: the sample has no "
                      "image");
        goto done;
    }
    meter_begin(&prog, show, "calibrate: the kernel on one thread", "layers");
    k.last = now();
    if ((rc = sdsinf_infer(m, &images, &io, &res, err)) ||
        (rc = sdsinf_partition(m, &po, &plan, err)))
        goto done;
    meter_begin(&prog, show, "calibrate: a run's bytes and messages",
                "worker-layers");
    if ((rc = sdsinf_run(m, plan, &images, &ro, &rres, &st, err)))
        goto done;
    double n = (double)images.nrows;
    for (int64_t i = 0; i < st.nrecords; i++) {
        const sdsinf_layer_record *r = &st.records[i];
        if (r->layer < 1 || r->layer > m->layers)
            continue; /* the results' trip */
        size_t l = (size_t)r->layer - 1, L = (size_t)m->layers;
        c.data[DENSITY * L + l] += (double)r->nnz / (n * m->neurons);
        c.data[BYTES * L + l] += (double)r->sent_bytes / (n * workers);
        c.data[MESSAGES * L + l] += (double)r->sent / ((double)st.batches *
                                                       workers);
    }
    for (int32_t l = 0; l < m->layers; l++) {
        compute[l] /= n;
        c.c.weight_bytes += 8.0 * (double)sdsinf_csr_nnz(&m->layer[l].w);
    }
    c.c.neurons = m->neurons;
    c.c.workers = workers;
    c.images = images.nrows;
    *out = c;
    c.data = NULL;
done:
    meter_end(&prog);
    calibrate_free(&c);
    sdsinf_csr_free(&made);
    sdsinf_result_free(&res);
    sdsinf_result_free(&rres);
    sdsinf_run_stats_free(&st);
    sdsinf_plan_free(plan);
    return rc;
}

/* ---- the file ------------------------------------------------------------ */

int calibrate_save(const calibration *c, const char *path, sdsinf_err *err)
{
    cli_files files = {0};
    FILE *f;
    cJSON *j = cJSON_CreateObject();
    int rc = j ? SDSINF_OK : cli_fail(err, SDSINF_ENOMEM, "no memory");
    if (rc)
        return rc;
    cli_json_add_string(j, "about", "sdsinf plan --calibrate: this "
                        "machine's kernel seconds per image and layer (one "
                        "thread) and a run's bytes and messages per worker "
                        "(per image; messages per batch), on a calibration "
                        "batch");
    cJSON_AddNumberToObject(j, "sdsinf_calibration", 1);
    cJSON_AddNumberToObject(j, "neurons", c->c.neurons);
    cJSON_AddNumberToObject(j, "layers", c->c.layers);
    cJSON_AddNumberToObject(j, "workers", c->c.workers);
    cJSON_AddNumberToObject(j, "images", (double)c->images);
    cJSON_AddNumberToObject(j, "weight_bytes", c->c.weight_bytes);
    for (int s = 0; s < NSERIES; s++)
        cJSON_AddItemToObject(j, SERIES[s],
                              cJSON_CreateDoubleArray(c->data + s *
                                                      (size_t)c->c.layers,
                                                      c->c.layers));
    if ((rc = cli_files_open(&files, path, &f, err))) {
        cJSON_Delete(j);
        return rc;
    }
    if ((rc = cli_json_write(j, f, err))) {
        cli_files_discard(&files);
        return rc;
    }
    fputc('\n', f);
    return cli_files_commit(&files, err);
}

/* Series `key` of doc: an array of exactly `layers` numbers >= 0. */
static int read_series(const json_reader *r, const cJSON *doc,
                       const char *key, int32_t layers, double *x)
{
    const cJSON *a;
    int rc, i = 0;
    if ((rc = json_member(r, doc, "", key, 1, &a)))
        return rc;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != layers)
        return cli_fail(r->err, SDSINF_EPARSE, "%s: %s must be an array of "
                        "%d numbers (one per layer), not %s", r->name, key,
                        layers, json_type_name(a));
    for (const cJSON *v = a->child; v; v = v->next, i++) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) ||
            v->valuedouble > 1e30)
            return cli_fail(r->err, SDSINF_EPARSE, "%s: %s[%d] must be a "
                            "number from 0 to 1e30", r->name, key, i);
        x[i] = v->valuedouble;
    }
    return SDSINF_OK;
}

int calibrate_load(const char *path, calibration *out, sdsinf_err *err)
{
    static const char *const keys[] = {"sdsinf_calibration", "about",
                                       "neurons", "layers", "workers",
                                       "images", "weight_bytes", "density",
                                       "compute_seconds", "bytes",
                                       "messages", NULL};
    json_reader r = {path, "calibration", "a calibration file (sdsinf plan "
                     "--calibrate --out FILE) has sdsinf_calibration, "
                     "neurons, layers, ...", err};
    calibration c = {0};
    cJSON *doc = NULL;
    char *buf = NULL;
    size_t len;
    long long format, neurons, layers, workers, images;
    const char *about;
    double wb;
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = cli_read_file(path, CALIBRATION_MAX_BYTES, &buf, &len, err)) ||
        (rc = json_parse_object(&r, buf, len, &doc)) ||
        (rc = json_known_members(&r, doc, "", keys)) ||
        (rc = json_integer_member(&r, doc, "", "sdsinf_calibration", 1, 1, 1,
                                  &format)) ||
        (rc = json_string_member(&r, doc, "", "about", 0, &about)) ||
        (rc = json_integer_member(&r, doc, "", "neurons", 1, INT32_MAX, 1,
                                  &neurons)) ||
        (rc = json_integer_member(&r, doc, "", "layers", 1, 100000, 1,
                                  &layers)) ||
        (rc = json_integer_member(&r, doc, "", "workers", 2, 65535, 1,
                                  &workers)) ||
        (rc = json_integer_member(&r, doc, "", "images", 1, INT32_MAX, 1,
                                  &images)) ||
        (rc = json_number_member(&r, doc, "", "weight_bytes", 0, 1e18, 1,
                                 &wb)) ||
        (rc = alloc_series(&c, (int32_t)layers, err)))
        goto done;
    for (int s = 0; s < NSERIES && !rc; s++)
        rc = read_series(&r, doc, SERIES[s], (int32_t)layers,
                         c.data + s * (size_t)layers);
    if (rc)
        goto done;
    c.c.neurons = (int32_t)neurons;
    c.c.workers = (int)workers;
    c.c.weight_bytes = wb;
    c.images = images;
    *out = c;
    c.data = NULL;
done:
    calibrate_free(&c);
    cJSON_Delete(doc);
    free(buf);
    return rc;
}
