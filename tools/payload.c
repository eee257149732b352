/* payload.c - SDS-Inf invocation payloads (JSON): read and check one.
 * Every error begins with the file's name and says what is wrong where:
 * the line and column of invalid JSON, or the path of a missing, mistyped
 * or out-of-range key.
 * Sections: typed members, the schema, metrics names, entry points. */
#include "payload.h"
#include "cli_util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAYLOAD_MAX_BYTES (1 << 20)
#define MAX_EXACT 9007199254740992LL /* 2^53: every integer below is exact */

typedef struct reader {
    const char *name; /* the file, for messages */
    sdsinf_err *err;
} reader;

/* ---- typed members ---------------------------------------------------------- */

static const char *type_name(const cJSON *v)
{
    return cJSON_IsObject(v)   ? "an object"
           : cJSON_IsArray(v)  ? "an array"
           : cJSON_IsString(v) ? "a string"
           : cJSON_IsNumber(v) ? "a number"
           : cJSON_IsBool(v)   ? "true or false"
                               : "null";
}

/* "at.key" (or "key" at the root) into buf. */
static const char *key_path(char *buf, size_t n, const char *at,
                            const char *key)
{
    snprintf(buf, n, "%s%s%s", at, *at ? "." : "", key);
    return buf;
}

/* The member `key` of obj (found at path `at`, "" for the root) in *v:
 * NULL when absent and not required.  A key given twice is an error (JSON
 * readers disagree on which one counts). */
static int member(const reader *r, const cJSON *obj, const char *at,
                  const char *key, int required, const cJSON **v)
{
    const cJSON *found = NULL;
    char path[128];
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (!c->string || strcmp(c->string, key))
            continue;
        if (found)
            return cli_fail(r->err, SDSINF_EPARSE, "%s: %s appears twice",
                            r->name, key_path(path, sizeof path, at, key));
        found = c;
    }
    if (!found && required)
        return *at ? cli_fail(r->err, SDSINF_EPARSE, "%s: %s has no %s",
                              r->name, at, key)
                   : cli_fail(r->err, SDSINF_EPARSE,
                              "%s: no %s (an SDS-Inf payload has "
                              "data_params, invoc_params and model_params)",
                              r->name, key);
    *v = found;
    return SDSINF_OK;
}

/* A member that must be an object (*v NULL when absent and optional). */
static int object_member(const reader *r, const cJSON *obj, const char *at,
                         const char *key, int required, const cJSON **v)
{
    char path[128];
    int rc = member(r, obj, at, key, required, v);
    if (rc == SDSINF_OK && *v && !cJSON_IsObject(*v))
        rc = cli_fail(r->err, SDSINF_EPARSE, "%s: %s must be an object, not "
                      "%s", r->name, key_path(path, sizeof path, at, key),
                      type_name(*v));
    return rc;
}

/* A member that must be a non-empty string (*s NULL when absent). */
static int string_member(const reader *r, const cJSON *obj, const char *at,
                         const char *key, int required, const char **s)
{
    const cJSON *v;
    char path[128];
    int rc = member(r, obj, at, key, required, &v);
    *s = NULL;
    if (rc == SDSINF_OK && v && (!cJSON_IsString(v) || !v->valuestring[0]))
        rc = cli_fail(r->err, SDSINF_EPARSE, "%s: %s must be a non-empty "
                      "string, not %s", r->name,
                      key_path(path, sizeof path, at, key),
                      cJSON_IsString(v) ? "\"\"" : type_name(v));
    if (rc == SDSINF_OK && v)
        *s = v->valuestring;
    return rc;
}

/* A member that must be an integer from lo to hi (*x untouched when
 * absent). */
static int integer_member(const reader *r, const cJSON *obj, const char *at,
                          const char *key, long long lo, long long hi,
                          int required, long long *x)
{
    const cJSON *v;
    char path[128];
    int rc = member(r, obj, at, key, required, &v);
    if (rc != SDSINF_OK || !v)
        return rc;
    key_path(path, sizeof path, at, key);
    if (!cJSON_IsNumber(v))
        return cli_fail(r->err, SDSINF_EPARSE, "%s: %s must be an integer "
                        "from %lld to %lld, not %s", r->name, path, lo, hi,
                        type_name(v));
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(long long)d)
        return cli_fail(r->err, SDSINF_EPARSE, "%s: %s must be an integer "
                        "from %lld to %lld, not %.17g", r->name, path, lo,
                        hi, d);
    *x = (long long)d;
    return SDSINF_OK;
}

/* ---- the schema ---------------------------------------------------------------- */

/* data_params.<key>{bucket, subfolder} into *loc. */
static int read_loc(const reader *r, const cJSON *data, const char *key,
                    int required, payload_loc *loc, const cJSON **obj)
{
    char at[64];
    int rc = object_member(r, data, "data_params", key, required, obj);
    if (rc != SDSINF_OK || !*obj)
        return rc;
    key_path(at, sizeof at, "data_params", key);
    if ((rc = string_member(r, *obj, at, "bucket", 1, &loc->bucket)) ||
        (rc = string_member(r, *obj, at, "subfolder", 1, &loc->subfolder)))
        return rc;
    return SDSINF_OK;
}

static int read_data_params(const reader *r, const cJSON *root, payload *p)
{
    const cJSON *data, *o;
    long long id = -1;
    int rc;
    if ((rc = object_member(r, root, "", "data_params", 1, &data)) ||
        (rc = read_loc(r, data, "weights_loc", 1, &p->weights, &o)) ||
        (rc = read_loc(r, data, "inf_data_loc", 1, &p->inf_data, &o)) ||
        (rc = read_loc(r, data, "connectivity_loc", 0, &p->connectivity,
                       &o)) ||
        (rc = read_loc(r, data, "metrics_loc", 1, &p->metrics, &o)) ||
        (rc = string_member(r, o, "data_params.metrics_loc", "filename", 0,
                            &p->metrics_filename)) ||
        (rc = integer_member(r, o, "data_params.metrics_loc", "expt_id", 0,
                             MAX_EXACT, 0, &id)))
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

static int read_invoc_params(const reader *r, const cJSON *root, payload *p)
{
    const cJSON *o;
    long long bfr = 0, nlevels = 0, workers = 0;
    int rc;
    if ((rc = object_member(r, root, "", "invoc_params", 1, &o)) ||
        (rc = integer_member(r, o, "invoc_params", "bfr", 1, 65535, 1,
                             &bfr)) ||
        (rc = integer_member(r, o, "invoc_params", "nlevels", 1, 32, 1,
                             &nlevels)) ||
        (rc = integer_member(r, o, "invoc_params", "total_nworkers", 1,
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

static int read_model_params(const reader *r, const cJSON *root, payload *p)
{
    const cJSON *o;
    long long neurons = 0, layers = 0, data = 0, batch = 0, batches = 0;
    int rc;
    if ((rc = object_member(r, root, "", "model_params", 1, &o)) ||
        (rc = integer_member(r, o, "model_params", "numNeurons", 1,
                             INT32_MAX, 1, &neurons)) ||
        (rc = integer_member(r, o, "model_params", "numLayers", 1,
                             INT32_MAX, 1, &layers)) ||
        (rc = integer_member(r, o, "model_params", "numData", 1, MAX_EXACT,
                             1, &data)) ||
        (rc = integer_member(r, o, "model_params", "batchSize", 1,
                             MAX_EXACT, 1, &batch)) ||
        (rc = integer_member(r, o, "model_params", "numBatches", 1,
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
static int metrics_names(const reader *r, payload *p)
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

/* The line (1-based) and column of text[pos]. */
static void line_of(const char *text, size_t pos, long long *line,
                    long long *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < pos; i++) {
        *col = text[i] == '\n' ? 1 : *col + 1;
        *line += text[i] == '\n';
    }
}

/* Where the JSON in text[0..len) is invalid: at pos. */
static int json_error(const reader *r, const char *text, size_t len,
                      size_t pos, const char *what)
{
    long long line, col;
    char near[24];
    size_t k = 0;
    size_t ws = 0;
    while (ws < len && strchr(" \t\r\n", text[ws]) && text[ws])
        ws++;
    if (ws == len)
        return cli_fail(r->err, SDSINF_EPARSE, "%s:1: invalid JSON: the "
                        "file is empty", r->name);
    if (pos > len)
        pos = len;
    line_of(text, pos, &line, &col);
    if (pos == len)
        return cli_fail(r->err, SDSINF_EPARSE, "%s:%lld: invalid JSON: the "
                        "file ends in the middle of a value (column %lld)",
                        r->name, line, col);
    while (pos + k < len && k < 16 && text[pos + k] >= 0x20 &&
           text[pos + k] < 0x7f) {
        near[k] = text[pos + k];
        k++;
    }
    near[k] = '\0';
    return cli_fail(r->err, SDSINF_EPARSE, "%s:%lld: %s at column %lld, "
                    "near '%s'", r->name, line, what, col,
                    k ? near : "an unprintable byte");
}

int payload_parse(const char *name, const char *text, size_t len,
                  payload *out, sdsinf_err *err)
{
    reader r = {name, err};
    payload p;
    const char *end = NULL;
    char *copy = malloc(len + 1);
    cJSON *doc = NULL;
    int rc = SDSINF_OK;
    memset(out, 0, sizeof *out);
    memset(&p, 0, sizeof p);
    if (!copy)
        return cli_fail(err, SDSINF_ENOMEM, "%s: no memory for %zu bytes",
                        name, len);
    memcpy(copy, text, len);
    copy[len] = '\0';
    doc = cJSON_ParseWithLengthOpts(copy, len, &end, 0);
    size_t pos = end ? (size_t)(end - copy) : 0;
    while (doc && pos < len && strchr(" \t\r\n", copy[pos]) && copy[pos])
        pos++;
    if (!doc)
        rc = json_error(&r, copy, len, pos, "invalid JSON");
    else if (pos < len)
        rc = json_error(&r, copy, len, pos, "invalid JSON: more text after "
                        "the payload's object");
    else if (!cJSON_IsObject(doc))
        rc = cli_fail(err, SDSINF_EPARSE, "%s: the payload must be a JSON "
                      "object, not %s", name, type_name(doc));
    if (rc == SDSINF_OK && !(rc = read_data_params(&r, doc, &p)) &&
        !(rc = read_invoc_params(&r, doc, &p)) &&
        !(rc = read_model_params(&r, doc, &p)))
        rc = metrics_names(&r, &p);
    free(copy);
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
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    int rc;
    memset(out, 0, sizeof *out);
    if (!f)
        return cli_fail(err, SDSINF_EIO, "%s: cannot open: %s", path,
                        strerror(errno));
    if (!(buf = malloc(PAYLOAD_MAX_BYTES + 1))) {
        fclose(f);
        return cli_fail(err, SDSINF_ENOMEM, "%s: no memory to read it", path);
    }
    len = fread(buf, 1, PAYLOAD_MAX_BYTES + 1, f);
    if (ferror(f))
        rc = cli_fail(err, SDSINF_EIO, "%s: cannot read: %s", path,
                      strerror(errno));
    else if (len > PAYLOAD_MAX_BYTES)
        rc = cli_fail(err, SDSINF_EPARSE, "%s: over %d bytes: not a payload",
                      path, PAYLOAD_MAX_BYTES);
    else
        rc = payload_parse(path, buf, len, out, err);
    fclose(f);
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
