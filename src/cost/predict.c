/* predict.c - one configuration's seconds and dollars (sdsinf_predict):
 * the calibrated per-layer compute, bytes and messages scaled to its
 * workers, batch and memory, the channel's requests at the documented
 * latencies, the launch, and the bill of all of it (sdsinf_cost_compute).
 * Sections: names, checks, traffic, engines, entry. */
#include "core/core.h"
#include "cost/predict.h"

#include <math.h>
#include <string.h>

/* A message's limit (SQS's 256 KiB): larger blocks go as chunks. */
#define MESSAGE_LIMIT 262144.0
/* A Lambda worker's runtime before its data, and the coordinator's size. */
#define RUNTIME_MB 64.0
#define COORDINATOR_MB 128.0

/* ---- names ------------------------------------------------------------- */

const char *sdsinf_engine_name(int engine)
{
    static const char *const names[SDSINF_ENGINES] = {
        "lambda", "local", "mpi", "redis", "server-job", "server-always"};
    return engine >= 0 && engine < SDSINF_ENGINES ? names[engine] : "?";
}

const char *sdsinf_via_name(int channel)
{
    static const char *const names[SDSINF_VIAS] = {"sqs", "sns", "s3",
                                                  "sqs+s3"};
    return channel >= 0 && channel < SDSINF_VIAS ? names[channel] : "?";
}

/* ---- checks ------------------------------------------------------------ */

static int bad(double x)
{
    return !isfinite(x) || x < 0;
}

static int check_calibration(const sdsinf_calibration *c, sdsinf_err *err)
{
    if (c->version < 1 || c->version > SDSINF_CALIBRATION_VERSION ||
        c->neurons < 1 || c->layers < 1 || c->workers < 2 ||
        bad(c->weight_bytes) || !c->density || !c->compute_seconds ||
        !c->bytes || !c->messages)
        return sdsinf__fail(err, SDSINF_EINVAL, "calibration: version %d, "
                            "%d neurons, %d layers, %d workers: it needs "
                            "version 1..%d, a model, >= 2 workers and every "
                            "per-layer figure: calibrate again",
                            c->version, c->neurons, c->layers, c->workers,
                            SDSINF_CALIBRATION_VERSION);
    for (int32_t l = 0; l < c->layers; l++)
        if (bad(c->density[l]) || bad(c->compute_seconds[l]) ||
            bad(c->bytes[l]) || bad(c->messages[l]))
            return sdsinf__fail(err, SDSINF_EINVAL, "calibration: layer %d "
                                "has a figure that is negative or not a "
                                "number", l + 1);
    return SDSINF_OK;
}

static int check_latency(const sdsinf_latency_model *m, sdsinf_err *err)
{
    const double v[] = {m->sns_publish_s, m->sqs_send_s, m->sqs_receive_s,
                        m->s3_put_s, m->s3_get_s, m->s3_list_s,
                        m->s3_scan_sleep_s, m->lambda_invoke_s,
                        m->lambda_cold_start_s, m->local_message_s,
                        m->mpi_message_s, m->redis_request_s, m->ec2_boot_s};
    const double pos[] = {m->s3_parallel, m->worker_bytes_per_s,
                          m->lambda_mb_per_vcpu, m->lambda_max_vcpus,
                          m->lambda_max_seconds, m->ec2_bytes_per_s,
                          m->machine_vcpu_speed};
    int ok = m->version >= 1 && m->version <= SDSINF_LATENCY_MODEL_VERSION;
    for (size_t i = 0; ok && i < sizeof v / sizeof *v; i++)
        ok = !bad(v[i]);
    for (size_t i = 0; ok && i < sizeof pos / sizeof *pos; i++)
        ok = !bad(pos[i]) && pos[i] > 0;
    return ok ? SDSINF_OK
              : sdsinf__fail(err, SDSINF_EINVAL, "latency model: version "
                             "%d, or a constant negative, not a number, or "
                             "0 where it divides: correct the price "
                             "table's latency block", m->version);
}

/* ---- traffic ------------------------------------------------------------ */

/* What one worker of W sends at one layer of one batch of B images. */
typedef struct traffic {
    double bytes;    /* payload */
    double targets;  /* peers it sends a block to */
    double messages; /* those blocks as messages (chunks) */
} traffic;

/* The calibration run's figures scaled to W workers: the rows that cross
 * to another worker grow as (W-1)/W of the total (a neuron's inputs spread
 * over the others), split over W senders; a worker's peers grow with W. */
static traffic layer_traffic(const sdsinf_calibration *c, int32_t l,
                             int W, double B)
{
    traffic t = {0, 0, 0};
    double wc = c->workers;
    if (W < 2)
        return t;
    double scale = ((W - 1.0) / ((double)W * W)) / ((wc - 1) / (wc * wc));
    t.bytes = c->bytes[l] * B * scale;
    t.targets = fmin(W - 1.0, c->messages[l] / (wc - 1) * (W - 1.0));
    if (t.targets > 0)
        t.messages = fmax(t.targets, ceil(t.bytes / MESSAGE_LIMIT));
    return t;
}

/* ---- engines ------------------------------------------------------------ */

/* What one layer's requests add up to, per worker and batch. */
typedef struct requests {
    double sqs_send, sqs_receive, sqs_delete, sqs_bytes;
    double sns_publish, sns_bytes;
    double s3_put, s3_get, s3_list;
} requests;

/* SendMessageBatch and PublishBatch: 10 entries, and no more bytes than
 * one message may carry. */
#define BATCH_ENTRIES 10.0
#define BATCH_BYTES MESSAGE_LIMIT

/* The batch requests of `messages` entries carrying `bytes`. */
static double batches_of(double messages, double bytes)
{
    return messages > 0 ? fmax(ceil(messages / BATCH_ENTRIES),
                               ceil(bytes / BATCH_BYTES))
                        : 0;
}

/* One Lambda worker's channel time at a layer, its requests into *r, as
 * sdsinf's channels make them: sqs batches per target queue, sns one
 * batch stream for all targets (base64: 4/3 of the bytes), s3 one object
 * per layer and source (layout=source) and a GET per block, a claim
 * check an object per block over a message's limit; receives poll up to
 * 10 messages, each poll's messages deleted in one batch.  Requests run
 * one at a time; GETs of an object not yet written are left out. */
static double lambda_channel(const sdsinf_latency_model *m, int via,
                             const traffic *t, requests *r)
{
    double s = 2 * t->bytes / m->worker_bytes_per_s; /* out and in */
    if (!t->targets)
        return 0;
    if (via == SDSINF_VIA_S3) {
        r->s3_put += 1;
        r->s3_get += t->targets;
        return s + m->s3_put_s + t->targets * m->s3_get_s;
    }
    int claim = via == SDSINF_VIA_SQS_S3 &&
                t->bytes / t->targets > MESSAGE_LIMIT;
    double sent = claim ? t->targets : t->messages; /* claim: pointers */
    double sent_bytes = claim ? 0 : t->bytes;
    if (claim) { /* each block an object */
        r->s3_put += t->targets;
        r->s3_get += t->targets;
        s += t->targets * (m->s3_put_s + m->s3_get_s);
    }
    if (via == SDSINF_VIA_SNS) {
        double calls = batches_of(sent, sent_bytes * 4 / 3);
        r->sns_publish += calls;
        r->sns_bytes += sent_bytes * 4 / 3;
        s += calls * m->sns_publish_s;
    } else {
        double calls = t->targets * batches_of(sent / t->targets,
                                               sent_bytes / t->targets);
        r->sqs_send += calls;
        r->sqs_bytes += sent_bytes;
        s += calls * m->sqs_send_s;
    }
    double polls = ceil(sent / BATCH_ENTRIES); /* as many come in */
    r->sqs_receive += polls;
    r->sqs_delete += polls;
    return s + polls * m->sqs_receive_s;
}

/* An EC2 engine's channel time at a layer, per worker and batch. */
static double ec2_channel(const sdsinf_latency_model *m,
                          const sdsinf_deployment *d, const traffic *t)
{
    double across = d->machines > 1 ? (d->machines - 1.0) / d->machines : 0;
    switch (d->engine) {
    case SDSINF_ENGINE_LOCAL:
        return t->messages * m->local_message_s;
    case SDSINF_ENGINE_MPI:
        return t->messages * m->mpi_message_s +
               across * 2 * t->bytes / m->ec2_bytes_per_s;
    case SDSINF_ENGINE_REDIS: /* through the server: a SET and a GET */
        return t->messages * 2 * m->redis_request_s +
               2 * t->bytes / m->ec2_bytes_per_s;
    default:
        return 0; /* one process */
    }
}

int sdsinf__instance_vcpus(const sdsinf_latency_model *m, const char *type)
{
    for (size_t i = 0; type && i < m->ncpus; i++)
        if (m->cpus[i].type && !strcmp(m->cpus[i].type, type))
            return m->cpus[i].vcpus;
    return 0;
}

/* A count of requests as the bill takes it: rounded, clamped below 2^63
 * (NaN too: a calibration's figures may be as large as 1e30). */
static uint64_t count(double x)
{
    return x < 9e18 ? (uint64_t)llround(x) : (uint64_t)9e18;
}

/* The usage of a prediction's requests r (totals) and time into u. */
static void bill(const sdsinf_deployment *d, const requests *r,
                 double seconds, sdsinf_usage *u)
{
    sdsinf_usage_init(u);
    if (d->engine != SDSINF_ENGINE_LAMBDA) {
        u->instance = d->instance;
        u->instance_seconds =
            d->engine == SDSINF_ENGINE_SERVER_ALWAYS
                ? 3600 * fmax(1, ceil(seconds / 3600)) /* started hours */
                : d->machines * fmax(60, seconds); /* 60 s minimum */
        return;
    }
    u->lambda_invocations = (uint64_t)d->workers + 1;
    u->lambda_gb_seconds = seconds * (d->workers * d->memory_mb +
                                      COORDINATOR_MB) / 1024;
    u->sqs.send = count(r->sqs_send);
    u->sqs.receive = count(r->sqs_receive);
    u->sqs.remove = count(r->sqs_delete);
    u->sqs_bytes = count(r->sqs_bytes);
    u->sns.send = count(r->sns_publish);
    u->sns_bytes = count(r->sns_bytes);
    u->s3.send = u->s3.remove = count(r->s3_put);
    u->s3.receive = count(r->s3_get);
    u->s3.list = count(r->s3_list);
}

/* ---- entry -------------------------------------------------------------- */

static int check_deployment(const sdsinf_deployment *d,
                            const sdsinf_latency_model *m, int *vcpus,
                            sdsinf_err *err)
{
    int lambda = d->engine == SDSINF_ENGINE_LAMBDA;
    if (d->version < 1 || d->version > SDSINF_DEPLOYMENT_VERSION ||
        d->engine < 0 || d->engine >= SDSINF_ENGINES)
        return sdsinf__fail(err, SDSINF_EINVAL, "deployment: version %d, "
                            "engine %d: not one this library knows",
                            d->version, d->engine);
    if (lambda && (d->channel < 0 || d->channel >= SDSINF_VIAS ||
                   d->workers < 1 || d->memory_mb < 128 || d->bfr < 0 ||
                   d->nlevels < 0))
        return sdsinf__fail(err, SDSINF_EINVAL, "deployment: Lambda with "
                            "channel %d, %d workers, %d MB, tree %dx%d: "
                            "out of range", d->channel, d->workers,
                            d->memory_mb, d->bfr, d->nlevels);
    *vcpus = lambda ? 0 : sdsinf__instance_vcpus(m, d->instance);
    if (!lambda && (*vcpus < 1 || d->machines < 1))
        return sdsinf__fail(err, SDSINF_EINVAL, "deployment: %s on %d x %s: "
                            "the latency model gives that instance type no "
                            "vCPUs (add it to ec2_vcpus)",
                            sdsinf_engine_name(d->engine), d->machines,
                            d->instance ? d->instance : "(none)");
    return SDSINF_OK;
}

int sdsinf_predict(const sdsinf_calibration *cal,
                   const sdsinf_latency_model *lat,
                   const sdsinf_prices *prices, int64_t images,
                   const sdsinf_deployment *d, sdsinf_prediction *out,
                   sdsinf_err *err)
{
    sdsinf_prediction p;
    sdsinf_usage u;
    sdsinf_cost cost;
    requests r, total;
    int rc, vcpus = 0;
    if (!cal || !lat || !prices || !d || !out || images < 1)
        return sdsinf__fail(err, SDSINF_EINVAL, "sdsinf_predict: NULL "
                            "argument or %lld images", (long long)images);
    if ((rc = check_calibration(cal, err)) || (rc = check_latency(lat, err)) ||
        (rc = check_deployment(d, lat, &vcpus, err)))
        return rc;
    int lambda = d->engine == SDSINF_ENGINE_LAMBDA;
    int server = d->engine >= SDSINF_ENGINE_SERVER_JOB;
    int W = lambda ? d->workers : server ? 1 : vcpus * d->machines;
    double B = d->batch_size > 0 && d->batch_size < images
                   ? (double)d->batch_size : (double)images;
    double batches = ceil((double)images / B);
    /* a worker's speed against this machine's one core */
    double speed = lambda ? fmin(d->memory_mb / lat->lambda_mb_per_vcpu,
                                 lat->lambda_max_vcpus)
                          : lat->machine_vcpu_speed * (server ? vcpus : 1);
    memset(&p, 0, sizeof p);
    memset(&total, 0, sizeof total);
    for (int32_t l = 0; l < cal->layers; l++) {
        traffic t = layer_traffic(cal, l, W, B);
        memset(&r, 0, sizeof r);
        p.compute_seconds += cal->compute_seconds[l] * B / W / speed;
        p.channel_seconds += lambda ? lambda_channel(lat, d->channel, &t, &r)
                                    : ec2_channel(lat, d, &t);
        total.sqs_send += r.sqs_send * W * batches;
        total.sqs_receive += r.sqs_receive * W * batches;
        total.sqs_delete += r.sqs_delete * W * batches;
        total.sqs_bytes += r.sqs_bytes * W * batches;
        total.sns_publish += r.sns_publish * W * batches;
        total.sns_bytes += r.sns_bytes * W * batches;
        total.s3_put += r.s3_put * W * batches;
        total.s3_get += r.s3_get * W * batches;
        total.s3_list += r.s3_list * W * batches;
    }
    p.compute_seconds *= batches;
    p.channel_seconds *= batches;
    if (lambda) { /* invokes down the tree, a cold start, the shard's load */
        double invokes = d->bfr > 0 && d->nlevels > 0
                             ? (double)d->bfr * d->nlevels : W;
        p.startup_seconds = invokes * lat->lambda_invoke_s +
                            lat->lambda_cold_start_s +
                            cal->weight_bytes / W / lat->worker_bytes_per_s;
        p.memory_mb = RUNTIME_MB + (cal->weight_bytes / W +
                                    B * cal->neurons * 4.0 * (1 + 2.0 / W)) /
                                       (1024 * 1024);
    } else if (d->engine != SDSINF_ENGINE_SERVER_ALWAYS) {
        p.startup_seconds = lat->ec2_boot_s;
    }
    p.seconds = p.startup_seconds + p.compute_seconds + p.channel_seconds;
    if (!isfinite(p.seconds))
        return sdsinf__fail(err, SDSINF_EINVAL, "calibration: its figures "
                            "make %lld images take %g s: too large to "
                            "predict; calibrate again", (long long)images,
                            p.seconds);
    if (lambda && p.memory_mb > d->memory_mb)
        p.infeasible = "a worker needs more memory than it has";
    else if (lambda && p.seconds - p.startup_seconds > lat->lambda_max_seconds)
        p.infeasible = "over Lambda's time limit per invocation";
    bill(d, &total, p.seconds, &u);
    if ((rc = sdsinf_cost_compute(prices, &u, &cost, err)))
        return rc;
    p.usd = cost.usd;
    *out = p;
    return SDSINF_OK;
}
