/* json_in.h - reading JSON files the command line is given (payloads,
 * price tables, run records) with cJSON, every error naming the file and
 * what is wrong where: the line and column of invalid JSON, or the path
 * of a missing, mistyped or out-of-range key (regions.us-east-1.sqs). */
#ifndef SDSINF_JSON_IN_H
#define SDSINF_JSON_IN_H

#include "sdsinf.h"

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct json_reader {
    const char *name;      /* the file, first in every message */
    const char *what;      /* what the file is: "payload", "price table" */
    const char *root_hint; /* what the root holds, for a missing root key
                              ("an SDS-Inf payload has ..."), or NULL */
    sdsinf_err *err;
} json_reader;

/* "an object", "a string", ... for messages. */
const char *json_type_name(const cJSON *v);

/* Parses len bytes of text (any bytes, no NUL needed) as one JSON object
 * into *doc (caller deletes it): invalid JSON, text after the object or a
 * root that is not an object is SDSINF_EPARSE, named by line and column. */
int json_parse_object(const json_reader *r, const char *text, size_t len,
                      cJSON **doc);
/* The member `key` of obj, which sits at path `at` ("" for the root), in
 * *v: NULL when absent and not required.  A key given twice is an error
 * (JSON readers disagree on which one counts). */
int json_member(const json_reader *r, const cJSON *obj, const char *at,
                const char *key, int required, const cJSON **v);
/* Members of one type (*v or *s NULL, *x untouched, when absent). */
int json_object_member(const json_reader *r, const cJSON *obj,
                       const char *at, const char *key, int required,
                       const cJSON **v);
int json_string_member(const json_reader *r, const cJSON *obj,
                       const char *at, const char *key, int required,
                       const char **s);
int json_integer_member(const json_reader *r, const cJSON *obj,
                        const char *at, const char *key, long long lo,
                        long long hi, int required, long long *x);
/* A finite number from lo to hi. */
int json_number_member(const json_reader *r, const cJSON *obj,
                       const char *at, const char *key, double lo, double hi,
                       int required, double *x);
/* SDSINF_EPARSE naming the first member of obj (at `at`) that is not in
 * the NULL-terminated list `known`. */
int json_known_members(const json_reader *r, const cJSON *obj,
                       const char *at, const char *const *known);

/* "at.key" (or "key" at the root) into buf. */
const char *json_key_path(char *buf, size_t n, const char *at,
                          const char *key);

#endif /* SDSINF_JSON_IN_H */
