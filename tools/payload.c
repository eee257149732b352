/* payload.c - SDS-Inf invocation payloads (JSON): read and check one.
 * Every error begins with the file's name and says what is wrong where:
 * the line and column of invalid JSON, or the path of a missing, mistyped
 * or out-of-range key.
 * Sections: the schema, metrics names, entry points. */
#include "payload.h"
#include "cli_util.h"
#include "json_in.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAYLOAD_MAX_BYTES (1 << 20)
#define MAX_EXACT 9007199254740992LL /* 2^53: every integer below is exact */

/* ---- the schema ---------------------------------------------------------------- */

/* data_params.<key>{bucket, subfolder} into *loc. */
static int read_loc(const json_reader *r, const cJSON *data,
                    const char *key, int required, payload_loc *loc,
                    const cJSON **obj)
{
    char at[64];
    int rc = json_object_member(r, data, "data_params", key, required, obj);
    if (rc != SDSINF_OK || !*obj)
        return rc;
    json_key_path(at, sizeof at, "data_params", key);
    if ((rc = json_string_member(r, *obj, at, "bucket", 1, &loc->bucket)) ||
        (rc = json_string_member(r, *obj, at, "subfolder", 1,
                                 &loc->subfolder)))
        return rc;
    return SDSINF_OK;
}

static int read_data_params(const json_reader *r, const cJSON *root,
                            payload *p)
{
    const cJSON *data, *o;
    long long id = -1;
    int rc;
    if ((rc = json_object_member(r, root, "", "data_params", 1, &data)) ||
        (rc = read_loc(r, data, "weights_loc", 1, &p->weights, &o)) ||
        (rc = read_loc(r, data, "inf_data_loc", 1, &p->inf_data, &o)) ||
        (rc = read_loc(r, data, "connectivity_loc", 0, &p->connectivity,
                       &o)) ||
        (rc = read_loc(r, data, "metrics_loc", 1, &p->metrics, &o)) ||
        (rc = json_string_member(r, o, "data_params.metrics_loc",
                                 "filename", 0, &p->metrics_filename)) ||
        (rc = json_integer_member(r, o, "data_params.metrics_loc",
                                  "expt_id", 0, MAX_EXACT, 0, &id)))
        return rc;
    p->expt_id = id;
    return SDSINF_OK;
}

/* The workers SDS-Inf's launch tree starts, bfr + bfr^2 + ... + bfr^n;
 * 65536 when that is more than 65535. */
static long long tree_workers(long long bfr, long long nlevels)
{
    long long total = 0, level = 1;
    for (long long k = 1; k <= nlevels && total <= 65535; k++) {
        level *= bfr;
        total += level;
    }
    return total > 65535 ? 65536 : total;
}

static int read_invoc_params(const json_reader *r, const cJSON *root,
                             payload *p)
{
    const cJSON *o;
    long long bfr = 0, nlevels = 0, workers = 0;
    int rc;
    if ((rc = json_object_member(r, root, "", "invoc_params", 1, &o)) ||
        (rc = json_integer_member(r, o, "invoc_params", "bfr", 1, 65535, 1,
                                  &bfr)) ||
        (rc = json_integer_member(r, o, "invoc_params", "nlevels", 1, 32, 1,
                                  &nlevels)) ||
        (rc = json_integer_member(r, o, "invoc_params", "total_nworkers", 1,
                                  65535, 1, &workers)))
        return rc;
    long long tree = tree_workers(bfr, nlevels);
    if (tree != workers)
        return cli_fail(r->err, SDSINF_EPARSE, "%s: invoc_params: bfr %lld "
                        "over %lld level%s starts %s%lld workers, not "
                        "total_nworkers %lld (total_nworkers must be bfr + "
                        "bfr^2 + ... + bfr^nlevels)", r->name, bfr, nlevels,
                        nlevels > 1 ? "s" : "", tree > 65535 ? "over " : "",
                        tree > 65535 ? 65535 : tree, workers);
    p->bfr = (int)bfr;
    p->nlevels = (int)nlevels;
    p->workers = (int)workers;
    return SDSINF_OK;
}

static int read_model_params(const json_reader *r, const cJSON *root,
                             payload *p)
{
    const cJSON *o;
    long long neurons = 0, layers = 0, data = 0, batch = 0, batches = 0;
    int rc;
    if ((rc = json_object_member(r, root, "", "model_params", 1, &o)) ||
        (rc = json_integer_member(r, o, "model_params", "numNeurons", 1,
                                  INT32_MAX, 1, &neurons)) ||
        (rc = json_integer_member(r, o, "model_params", "numLayers", 1,
                                  INT32_MAX, 1, &layers)) ||
        (rc = json_integer_member(r, o, "model_params", "numData", 1,
                                  MAX_EXACT, 1, &data)) ||
        (rc = json_integer_member(r, o, "model_params", "batchSize", 1,
                                  MAX_EXACT, 1, &batch)) ||
        (rc = json_integer_member(r, o, "model_params", "numBatches", 1,
                                  MAX_EXACT, 1, &batches)))
        return rc;
    p->neurons = (int32_t)neurons;
    p->layers = (int32_t)layers;
    p->num_data = data;
    p->batch_size = batch;
    p->num_batches = batches;
    return SDSINF_OK;
}

/* ---- metrics names ---------------------------------------------------------- */

/* Copies s[0..n) into out (size 256) unless it is empty, "." or ".." or
 * too long; returns 1 when copied. */
static int take_name(const char *s, size_t n, char out[256])
{
    if (n == 0 || n >= 256 || (s[0] == '.' && (n == 1 || (n == 2 &&
                                                          s[1] == '.'))))
        return 0;
    memcpy(out, s, n);
    out[n] = '\0';
    return 1;
}

/* The last part of a path (trailing '/' ignored): *s and *n. */
static void last_part(const char *path, const char **s, size_t *n)
{
    size_t end = strlen(path);
    while (end > 0 && path[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;
    *s = path + start;
    *n = end - start;
}

/* config and name from metrics_loc (see payload.h). */
static int metrics_names(const json_reader *r, payload *p)
{
    const char *dir, *file, *stem, *dot, *us;
    size_t ndir, nfile;
    last_part(p->metrics.subfolder, &dir, &ndir);
    if (!p->metrics_filename) {
        if (take_name(dir, ndir, p->name) && take_name(dir, ndir, p->config))
            return SDSINF_OK;
        return cli_fail(r->err, SDSINF_EPARSE, "%s: data_params.metrics_loc."
                        "subfolder '%s' gives no file name for the metrics "
                        "(add a filename)", r->name, p->metrics.subfolder);
    }
    last_part(p->metrics_filename, &file, &nfile);
    /* name: the file name without ".csv" */
    size_t nname = nfile >= 4 && !memcmp(file + nfile - 4, ".csv", 4)
                       ? nfile - 4 : nfile;
    if (!take_name(file, nname, p->name))
        return cli_fail(r->err, SDSINF_EPARSE, "%s: data_params.metrics_loc."
                        "filename '%s' gives no file name for the metrics",
                        r->name, p->metrics_filename);
    /* config: after the first '_', without the extension */
    us = memchr(file, '_', nfile);
    stem = us ? us + 1 : file;
    size_t nstem = (size_t)(file + nfile - stem);
    dot = NULL;
    for (const char *c = stem; c < stem + nstem; c++)
        dot = *c == '.' ? c : dot;
    nstem = dot ? (size_t)(dot - stem) : nstem;
    if (!take_name(stem, nstem, p->config) &&
        !take_name(dir, ndir, p->config))
        snprintf(p->config, sizeof p->config, "%s", p->name);
    return SDSINF_OK;
}

/* ---- entry points ------------------------------------------------------------- */

int payload_parse(const char *name, const char *text, size_t len,
                  payload *out, sdsinf_err *err)
{
    json_reader r = {name, "payload", "an SDS-Inf payload has data_params, "
                "invoc_params and model_params", err};
    payload p;
    cJSON *doc = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    memset(&p, 0, sizeof p);
    if (!(rc = json_parse_object(&r, text, len, &doc)) &&
        !(rc = read_data_params(&r, doc, &p)) &&
        !(rc = read_invoc_params(&r, doc, &p)) &&
        !(rc = read_model_params(&r, doc, &p)))
        rc = metrics_names(&r, &p);
    if (rc != SDSINF_OK) {
        cJSON_Delete(doc);
        return rc;
    }
    p.doc_ = doc;
    *out = p;
    return SDSINF_OK;
}

int payload_load(const char *path, payload *out, sdsinf_err *err)
{
    char *buf;
    size_t len;
    memset(out, 0, sizeof *out);
    int rc = cli_read_file(path, PAYLOAD_MAX_BYTES, &buf, &len, err);
    if (rc == SDSINF_OK)
        rc = payload_parse(path, buf, len, out, err);
    free(buf);
    return rc;
}

void payload_free(payload *p)
{
    if (!p)
        return;
    cJSON_Delete(p->doc_);
    memset(p, 0, sizeof *p);
}

int64_t payload_images(const payload *p)
{
    if (p->num_batches > INT64_MAX / p->batch_size)
        return p->num_data;
    int64_t n = p->num_batches * p->batch_size;
    return n < p->num_data ? n : p->num_data;
}
