/* json_in.c - reading JSON files the command line is given (json_in.h).
 * Sections: documents, typed members. */
#include "json_in.h"
#include "cli_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- documents ------------------------------------------------------------ */

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
static int json_error(const json_reader *r, const char *text, size_t len,
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

int json_parse_object(const json_reader *r, const char *text, size_t len,
                      cJSON **out)
{
    const char *end = NULL;
    char *copy = malloc(len + 1);
    cJSON *doc = NULL;
    int rc = SDSINF_OK;
    *out = NULL;
    if (!copy)
        return cli_fail(r->err, SDSINF_ENOMEM, "%s: no memory for %zu bytes",
                        r->name, len);
    memcpy(copy, text, len);
    copy[len] = '\0';
    doc = cJSON_ParseWithLengthOpts(copy, len, &end, 0);
    size_t pos = end ? (size_t)(end - copy) : 0;
    while (doc && pos < len && strchr(" \t\r\n", copy[pos]) && copy[pos])
        pos++;
    if (!doc)
        rc = json_error(r, copy, len, pos, "invalid JSON");
    else if (pos < len)
        rc = json_error(r, copy, len, pos, "invalid JSON: more text after "
                        "the object");
    else if (!cJSON_IsObject(doc))
        rc = cli_fail(r->err, SDSINF_EPARSE, "%s: the %s must be a JSON "
                      "object, not %s", r->name, r->what,
                      json_type_name(doc));
    free(copy);
    if (rc != SDSINF_OK) {
        cJSON_Delete(doc);
        return rc;
    }
    *out = doc;
    return SDSINF_OK;
}

/* ---- typed members ---------------------------------------------------------- */

const char *json_type_name(const cJSON *v)
{
    return cJSON_IsObject(v)   ? "an object"
           : cJSON_IsArray(v)  ? "an array"
           : cJSON_IsString(v) ? "a string"
           : cJSON_IsNumber(v) ? "a number"
           : cJSON_IsBool(v)   ? "true or false"
                               : "null";
}

const char *json_key_path(char *buf, size_t n, const char *at,
                          const char *key)
{
    snprintf(buf, n, "%s%s%s", at, *at ? "." : "", key);
    return buf;
}

int json_member(const json_reader *r, const cJSON *obj, const char *at,
                const char *key, int required, const cJSON **v)
{
    const cJSON *found = NULL;
    char path[160];
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (!c->string || strcmp(c->string, key))
            continue;
        if (found)
            return cli_fail(r->err, SDSINF_EPARSE, "%s: %s appears twice",
                            r->name, json_key_path(path, sizeof path, at, key));
        found = c;
    }
    if (!found && required)
        return *at || !r->root_hint
                   ? cli_fail(r->err, SDSINF_EPARSE, "%s: %s has no %s",
                              r->name, *at ? at : "the object", key)
                   : cli_fail(r->err, SDSINF_EPARSE, "%s: no %s (%s)",
                              r->name, key, r->root_hint);
    *v = found;
    return SDSINF_OK;
}

int json_object_member(const json_reader *r, const cJSON *obj,
                       const char *at, const char *key, int required,
                       const cJSON **v)
{
    char path[160];
    int rc = json_member(r, obj, at, key, required, v);
    if (rc == SDSINF_OK && *v && !cJSON_IsObject(*v))
        rc = cli_fail(r->err, SDSINF_EPARSE, "%s: %s must be an object, not "
                      "%s", r->name, json_key_path(path, sizeof path, at, key),
                      json_type_name(*v));
    return rc;
}

int json_string_member(const json_reader *r, const cJSON *obj,
                       const char *at, const char *key, int required,
                       const char **s)
{
    const cJSON *v;
    char path[160];
    int rc = json_member(r, obj, at, key, required, &v);
    *s = NULL;
    if (rc == SDSINF_OK && v && (!cJSON_IsString(v) || !v->valuestring[0]))
        rc = cli_fail(r->err, SDSINF_EPARSE, "%s: %s must be a non-empty "
                      "string, not %s", r->name,
                      json_key_path(path, sizeof path, at, key),
                      cJSON_IsString(v) ? "\"\"" : json_type_name(v));
    if (rc == SDSINF_OK && v)
        *s = v->valuestring;
    return rc;
}

int json_integer_member(const json_reader *r, const cJSON *obj,
                        const char *at, const char *key, long long lo,
                        long long hi, int required, long long *x)
{
    const cJSON *v;
    char path[160];
    int rc = json_member(r, obj, at, key, required, &v);
    if (rc != SDSINF_OK || !v)
        return rc;
    json_key_path(path, sizeof path, at, key);
    if (!cJSON_IsNumber(v))
        return cli_fail(r->err, SDSINF_EPARSE, "%s: %s must be an integer "
                        "from %lld to %lld, not %s", r->name, path, lo, hi,
                        json_type_name(v));
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(long long)d)
        return cli_fail(r->err, SDSINF_EPARSE, "%s: %s must be an integer "
                        "from %lld to %lld, not %.17g", r->name, path, lo,
                        hi, d);
    *x = (long long)d;
    return SDSINF_OK;
}

int json_number_member(const json_reader *r, const cJSON *obj,
                       const char *at, const char *key, double lo, double hi,
                       int required, double *x)
{
    const cJSON *v;
    char path[160];
    int rc = json_member(r, obj, at, key, required, &v);
    if (rc != SDSINF_OK || !v)
        return rc;
    json_key_path(path, sizeof path, at, key);
    if (!cJSON_IsNumber(v))
        return cli_fail(r->err, SDSINF_EPARSE, "%s: %s must be a number from "
                        "%g to %g, not %s", r->name, path, lo, hi,
                        json_type_name(v));
    if (!isfinite(v->valuedouble) ||
        !(v->valuedouble >= lo && v->valuedouble <= hi))
        return cli_fail(r->err, SDSINF_EPARSE, "%s: %s must be a number from "
                        "%g to %g, not %.17g", r->name, path, lo, hi,
                        v->valuedouble);
    *x = v->valuedouble;
    return SDSINF_OK;
}

int json_known_members(const json_reader *r, const cJSON *obj,
                       const char *at, const char *const *known)
{
    char path[160];
    for (const cJSON *c = obj->child; c; c = c->next) {
        size_t k = 0;
        while (known[k] && (!c->string || strcmp(c->string, known[k])))
            k++;
        if (!known[k])
            return cli_fail(r->err, SDSINF_EPARSE, "%s: %s is not a key this "
                            "%s takes (a misspelt name?)", r->name,
                            json_key_path(path, sizeof path, at,
                                          c->string ? c->string : "?"),
                            r->what);
    }
    return SDSINF_OK;
}
