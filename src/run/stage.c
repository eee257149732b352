/* run/stage.c - what a run writes for workers that start from their specs
 * alone: a directory of the run's under the scratch directory,
 * <scratch>/sdsinf-<run>/ (where the coordinator's owner record is, so
 * `sdsinf clean` sweeps it with the channel's state when the run is
 * killed: sweep.c), holding work/ with what the run has only in
 * memory: the plan and its shards (unless the run loaded its plan from a
 * directory: the workers read that one), each worker's inputs
 * (inputs-{w}.sdsinf: the images' entries in its own features) and, when
 * the bias is not one number for every layer, the bias file.  The spec the
 * workers share names those paths; the directory goes with the run.  A
 * plan in S3 (s3://BUCKET/...) is read by the workers from there, and
 * their inputs and bias file go beside it, to s3://BUCKET/sdsinf-<run>/
 * (removed with the run, and named in its owner record, so `sdsinf clean`
 * removes them after a killed run): workers that share no file system with
 * the coordinator fetch all they need, each only its own.  A run with a
 * stage_bucket stages its local plan directory (or the one it wrote) and
 * work/'s files there instead, content-addressed (sdsinf_stage), and keeps
 * them: the next run of the same plan and images uploads nothing. */
#include "core/location.h"
#include "model/model.h"
#include "run/inputs.h"
#include "run/run.h"
#include "run/sweep.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The failure of a path that would not fit. */
static int too_long(sdsinf_err *err)
{
    return sdsinf__fail(err, SDSINF_EINVAL, "a path under the scratch "
                        "directory %s is too long (set SDSINF_SCRATCH to a "
                        "shorter one)", sdsinf__scratch_dir());
}

/* A path from a format, refused when it would not fit. */
static int path_of(char *buf, size_t cap, sdsinf_err *err, const char *fmt,
                   ...) SDSINF__PRINTF(4, 5);
static int path_of(char *buf, size_t cap, sdsinf_err *err, const char *fmt,
                   ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= cap ? too_long(err) : SDSINF_OK;
}

/* The bias spec of model m: one number when every layer has the same one,
 * else a bias file written to `file`. */
static int bias_spec(const sdsinf_model *m, const char *file, char *out,
                     size_t cap, sdsinf_err *err)
{
    int same = 1;
    for (int32_t l = 0; l < m->layers; l++)
        same &= !m->layer[l].bias_vec && m->layer[l].bias == m->layer[0].bias;
    if (same) { /* 9 digits: the same float back */
        snprintf(out, cap, "%.9g", (double)m->layer[0].bias);
        return SDSINF_OK;
    }
    if (strlen(file) >= cap)
        return sdsinf__fail(err, SDSINF_EINVAL, "%s: too long a path", file);
    memcpy(out, file, strlen(file) + 1);
    return sdsinf__bias_save(m, file, err);
}

int sdsinf__stage_remote(const run_ctx *c, char *out, size_t cap,
                         sdsinf_err *err)
{
    out[0] = 0;
    if (!c->plan_dir || !sdsinf_location_remote(c->plan_dir))
        return SDSINF_OK;
    const char *bucket = c->plan_dir + 5, *slash = strchr(bucket, '/');
    int n = slash ? (int)(slash - bucket) : (int)strlen(bucket);
    return path_of(out, cap, err, "s3://%.*s/sdsinf-%016" PRIx64, n, bucket,
                   c->run);
}

/* The inputs and bias file of work/ stored under s3://BUCKET/sdsinf-<run>,
 * BUCKET the plan's: the spec then names them there. */
static int stage_remote(const run_ctx *c, sdsinf__stage *s, sdsinf_err *err)
{
    int rc = sdsinf__stage_remote(c, s->remote, sizeof s->remote, err);
    if (rc || (rc = sdsinf__location_store_dir(s->work, s->remote, NULL, err)))
        return rc;
    if (!strncmp(s->bias, s->work, strlen(s->work))) /* a file, not a number */
        return path_of(s->bias, sizeof s->bias, err, "%s/bias.tsv",
                       s->remote);
    return SDSINF_OK;
}

/* The plan directory and work/'s inputs and bias file staged in bucket,
 * content-addressed: the spec then names only s3:// locations. */
static int stage_in_bucket(const run_ctx *c, const char *bucket,
                           sdsinf__stage *s, sdsinf_err *err)
{
    char plan[sizeof s->plan];
    int rc = sdsinf_stage(bucket, s->plan, plan, sizeof plan,
                          &c->st->staged, err);
    if (rc == SDSINF_OK)
        memcpy(s->plan, plan, sizeof plan);
    if (rc == SDSINF_OK)
        rc = sdsinf_stage(bucket, s->work, s->staged, sizeof s->staged,
                          &c->st->staged, err);
    if (rc == SDSINF_OK && !strncmp(s->bias, s->work, strlen(s->work)))
        rc = path_of(s->bias, sizeof s->bias, err, "%s/bias.tsv", s->staged);
    return rc;
}

int sdsinf__stage_write(const run_ctx *c, const sdsinf_launcher_methods *lm,
                        sdsinf__stage *s, sdsinf_err *err)
{
    const sdsinf_run_opts *o = c->o;
    char path[4300];
    int rc;
    memset(s, 0, sizeof *s);
    if (sdsinf__run_dir(c->run, s->dir, sizeof s->dir) != 0)
        return too_long(err);
    /* the spec's paths are absolute: a worker may start anywhere */
    if ((rc = path_of(path, sizeof path, err, "%s/work", s->dir)))
        return rc;
    if (sdsinf__absolute_path(path, s->work, sizeof s->work) != 0)
        return too_long(err);
    if (sdsinf__mkdir_p(s->work) != 0)
        return sdsinf__fail(err, SDSINF_EIO, "%s: cannot create the run's "
                            "directory: %s (set SDSINF_SCRATCH to a writable "
                            "one)", s->work, strerror(errno));
    if (c->plan_dir) {
        if ((rc = sdsinf__location_absolute(c->plan_dir, s->plan,
                                            sizeof s->plan, err)))
            return rc;
    } else if ((rc = path_of(s->plan, sizeof s->plan, err, "%s/plan",
                           s->work)) ||
             (rc = sdsinf_plan_save(c->p, c->m, s->plan, err)))
        return rc;
    if ((rc = sdsinf__inputs_save(c->images, c->p, s->work, err)))
        return rc;
    if ((rc = path_of(path, sizeof path, err, "%s/bias.tsv", s->work)) ||
        (rc = bias_spec(c->m, path, s->bias, sizeof s->bias, err)))
        return rc;
    const char *bucket = o->version >= 8 ? o->stage_bucket : NULL;
    if (bucket && bucket[0] && (rc = stage_in_bucket(c, bucket, s, err)))
        return rc;
    if (!s->staged[0] && sdsinf_location_remote(s->plan) &&
        (rc = stage_remote(c, s, err)))
        return rc;
    sdsinf_worker_spec *sp = &s->spec;
    sdsinf_worker_spec_init(sp);
    sp->run = c->run;
    sp->workers = c->W;
    sp->launcher = lm->name;
    if (lm->caps & SDSINF_LAUNCH_TREE) {
        sp->bfr = o->bfr;
        sp->nlevels = o->nlevels;
    }
    sp->channel = c->channel;
    sp->channel_config = o->channel_config;
    sp->plan_dir = s->plan;
    sp->inputs_dir = s->staged[0]   ? s->staged
                     : s->remote[0] ? s->remote
                                    : s->work;
    sp->bias = s->bias;
    sp->ymax = c->m->ymax;
    sp->batch_size = o->batch_size;
    sp->codec = o->codec;
    sp->level = o->level;
    sp->timeout_ms = o->timeout_ms;
    sp->max_message = o->version >= 3 ? o->max_message : 0;
    sp->kernel_threads = o->kernel_threads;
    return SDSINF_OK;
}

int sdsinf__stage_remove(sdsinf__stage *s)
{
    int rc = s->remote[0] ? sdsinf__location_remove(s->remote, NULL)
                          : SDSINF_OK;
    s->remote[0] = 0;
    if (s->work[0])
        sdsinf__rm_tree(s->work, sizeof s->work, 0, NULL, NULL, NULL);
    s->work[0] = 0; /* the directory goes with the run's owner record */
    return rc;
}
