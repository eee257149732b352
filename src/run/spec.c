/* run/spec.c - a worker's spec as text: sdsinf_worker_spec_write, _save and
 * _read.  One table lists every key: its field, its kind, its range and
 * whether a spec must have it; the writer emits the keys set, the reader
 * takes each line back through the same table, so the two cannot drift.
 * Values are percent-encoded (bytes <= 0x20, '%' and >= 0x7f as %XX), so a
 * line is always `key value` and any path survives. */
#include "core/core.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "sdsinf-worker-spec"
#define MAX_SPEC (1u << 20)  /* bytes of spec text at most */
#define MAX_VALUE 8192       /* bytes of one decoded value at most */

typedef enum { K_U64, K_INT, K_I64, K_FLOAT, K_STR } kind;

typedef struct key {
    const char *name;
    kind k;
    size_t at;        /* offsetof(sdsinf_worker_spec, field) */
    int required;
    double min, max;  /* numbers: the range taken */
} key;

#define F(f) offsetof(sdsinf_worker_spec, f)
static const key KEYS[] = {
    {"run", K_U64, F(run), 1, 0, 0},
    {"worker", K_INT, F(worker), 1, 0, 65534},
    {"workers", K_INT, F(workers), 1, 1, 65535},
    {"launcher", K_STR, F(launcher), 1, 0, 0},
    {"bfr", K_INT, F(bfr), 0, 0, 65535},
    {"nlevels", K_INT, F(nlevels), 0, 0, 32},
    {"exec", K_STR, F(exec), 0, 0, 0},
    {"channel", K_STR, F(channel), 1, 0, 0},
    {"channel_config", K_STR, F(channel_config), 0, 0, 0},
    {"plan", K_STR, F(plan_dir), 1, 0, 0},
    {"inputs", K_STR, F(inputs_dir), 1, 0, 0},
    {"bias", K_STR, F(bias), 0, 0, 0},
    {"ymax", K_FLOAT, F(ymax), 0, 0, 3.4e38},
    {"batch_size", K_I64, F(batch_size), 0, 0, 1e15},
    {"codec", K_STR, F(codec), 0, 0, 0},
    {"level", K_INT, F(level), 0, -131072, 22},
    {"timeout_ms", K_INT, F(timeout_ms), 0, 0, 2147483647.0},
    {"max_message", K_I64, F(max_message), 0, 0, 9.2e18},
    {"kernel_threads", K_INT, F(kernel_threads), 0, 0, 1024},
    {"progress", K_STR, F(progress), 0, 0, 0},
};
#undef F
#define NKEYS (sizeof KEYS / sizeof *KEYS)

void sdsinf_worker_spec_init(sdsinf_worker_spec *s)
{
    memset(s, 0, sizeof *s);
    s->version = SDSINF_WORKER_SPEC_VERSION;
}

void sdsinf_worker_spec_free(sdsinf_worker_spec *s)
{
    if (!s)
        return;
    sdsinf__free(s->store_);
    sdsinf_worker_spec_init(s);
}

/* ---- Writing --------------------------------------------------------------- */

/* A growing text buffer; `failed` once memory ran out. */
typedef struct text {
    char *p;
    size_t len, cap;
    int failed;
} text;

static void put(text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 512;
        while (t->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(t->p, cap); /* the caller free()s the text */
        if (!p) {
            t->failed = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = 0;
}

/* Appends a value, percent-encoded. */
static void put_encoded(text *t, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
        if (*c > 0x20 && *c < 0x7f && *c != '%') {
            put(t, (const char *)c, 1);
            continue;
        }
        char e[3] = {'%', hex[*c >> 4], hex[*c & 15]};
        put(t, e, 3);
    }
}

/* Whether field k of s holds something to write (numbers: nonzero;
 * strings: set and not empty; the required keys always). */
static int is_set(const key *k, const sdsinf_worker_spec *s)
{
    const char *f = (const char *)s + k->at;
    switch (k->k) {
    case K_U64: return k->required || *(const uint64_t *)(const void *)f;
    case K_INT: return k->required || *(const int *)(const void *)f;
    case K_I64: return *(const int64_t *)(const void *)f != 0;
    case K_FLOAT: return *(const float *)(const void *)f != 0;
    case K_STR: {
        const char *v = *(const char *const *)(const void *)f;
        return k->required || (v && v[0]);
    }
    }
    return 0;
}

int sdsinf_worker_spec_write(const sdsinf_worker_spec *s, char **out,
                             size_t *len, sdsinf_err *err)
{
    text t = {NULL, 0, 0, 0};
    char num[64];
    if (!s || s->version < 1 || !out)
        return sdsinf__fail(err, SDSINF_EINVAL, "worker spec: NULL or "
                            "version %d (call sdsinf_worker_spec_init)",
                            s ? s->version : 0);
    snprintf(num, sizeof num, "%s %d\n", MAGIC, SDSINF_WORKER_SPEC_VERSION);
    put(&t, num, strlen(num));
    for (size_t i = 0; i < NKEYS; i++) {
        const key *k = &KEYS[i];
        const char *f = (const char *)s + k->at;
        if (!is_set(k, s))
            continue;
        const char *str = k->k == K_STR ? *(const char *const *)(const void *)f
                                        : NULL;
        if (k->k == K_STR && (!str || !str[0])) {
            free(t.p);
            return sdsinf__fail(err, SDSINF_EINVAL, "worker spec: %s is "
                                "required", k->name);
        }
        put(&t, k->name, strlen(k->name));
        put(&t, " ", 1);
        switch (k->k) {
        case K_U64:
            snprintf(num, sizeof num, "%" PRIu64,
                     *(const uint64_t *)(const void *)f);
            break;
        case K_INT:
            snprintf(num, sizeof num, "%d", *(const int *)(const void *)f);
            break;
        case K_I64:
            snprintf(num, sizeof num, "%" PRId64,
                     *(const int64_t *)(const void *)f);
            break;
        case K_FLOAT: /* 9 digits: the same float back */
            snprintf(num, sizeof num, "%.9g",
                     (double)*(const float *)(const void *)f);
            break;
        case K_STR:
            num[0] = 0;
            put_encoded(&t, str);
            break;
        }
        put(&t, num, strlen(num));
        put(&t, "\n", 1);
    }
    if (t.failed) {
        free(t.p);
        return sdsinf__fail(err, SDSINF_ENOMEM, "worker spec: no memory");
    }
    *out = t.p;
    if (len)
        *len = t.len;
    return SDSINF_OK;
}

int sdsinf_worker_spec_save(const sdsinf_worker_spec *s, FILE *f,
                            sdsinf_err *err)
{
    char *t;
    size_t n;
    int rc = sdsinf_worker_spec_write(s, &t, &n, err);
    if (rc != SDSINF_OK)
        return rc;
    if (fwrite(t, 1, n, f) != n || fflush(f) != 0)
        rc = sdsinf__fail(err, SDSINF_EIO, "worker spec: write failed: %s",
                          strerror(errno));
    free(t);
    return rc;
}

/* ---- Reading --------------------------------------------------------------- */

/* A hex digit's value, or -1. */
static int hexval(unsigned char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

/* Decodes value v (n bytes) into out (NUL-terminated, *outn bytes); a
 * message in *why when it is not a valid encoding. */
static int decode(const char *v, size_t n, char *out, size_t *outn,
                  const char **why)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c <= 0x20 || c >= 0x7f) {
            *why = "a raw space, control or non-ASCII byte (write it as %XX)";
            return -1;
        }
        if (c == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)v[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)v[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                *why = "a '%' not followed by two hex digits";
                return -1;
            }
            if (!(c = (unsigned char)(hi * 16 + lo))) {
                *why = "a NUL byte (%00)";
                return -1;
            }
            i += 2;
        }
        if (o == MAX_VALUE) {
            *why = "longer than 8192 bytes";
            return -1;
        }
        out[o++] = (char)c;
    }
    if (!o) {
        *why = "empty";
        return -1;
    }
    out[o] = 0;
    *outn = o;
    return 0;
}

/* Parses a decimal number (an optional '-', then digits) within [min,
 * max]; 0, or -1 when it is not one. */
static int parse_int(const char *s, double min, double max, int64_t *v,
                     uint64_t *u, int is_unsigned)
{
    char *end;
    if (!((s[0] >= '0' && s[0] <= '9') || (s[0] == '-' && !is_unsigned &&
                                           s[1] >= '0' && s[1] <= '9')))
        return -1;
    errno = 0;
    if (is_unsigned) {
        *u = strtoull(s, &end, 10);
        return errno || *end ? -1 : 0;
    }
    long long x = strtoll(s, &end, 10);
    if (errno || *end || (double)x < min || (double)x > max)
        return -1;
    *v = x;
    return 0;
}

/* Stores value v (decoded) of key k into the spec; strings go to *store.
 * 0, or -1 with *why. */
static int set_value(const key *k, const char *v, size_t n,
                     sdsinf_worker_spec *s, char **store, const char **why)
{
    char *f = (char *)s + k->at;
    int64_t x = 0;
    uint64_t u = 0;
    switch (k->k) {
    case K_U64:
        if (parse_int(v, 0, 0, &x, &u, 1))
            break;
        memcpy(f, &u, sizeof u);
        return 0;
    case K_INT:
        if (parse_int(v, k->min, k->max, &x, &u, 0))
            break;
        {
            int i = (int)x;
            memcpy(f, &i, sizeof i);
        }
        return 0;
    case K_I64:
        if (parse_int(v, k->min, k->max, &x, &u, 0))
            break;
        memcpy(f, &x, sizeof x);
        return 0;
    case K_FLOAT: {
        char *end;
        float y = strtof(v, &end);
        if (*end || end == v || !isfinite(y) || y < k->min || y > k->max)
            break;
        y = y == 0 ? 0 : y; /* -0 is 0: unset, as the writer sees it */
        memcpy(f, &y, sizeof y);
        return 0;
    }
    case K_STR:
        memcpy(*store, v, n + 1);
        memcpy(f, store, sizeof *store);
        *store += n + 1;
        return 0;
    }
    *why = k->k == K_FLOAT ? "not a finite number in range"
                           : "not an integer in range";
    return -1;
}

int sdsinf_worker_spec_read(const void *data, size_t len,
                            sdsinf_worker_spec *out, sdsinf_err *err)
{
    const char *p = data, *end = p + len;
    int seen[NKEYS] = {0}, line = 1, rc = SDSINF_OK, version;
    char *value = NULL, *store = NULL, *at;
    sdsinf_worker_spec s;
    sdsinf_worker_spec_init(&s);
    if (!data || !out)
        return sdsinf__fail(err, SDSINF_EINVAL, "worker spec: NULL");
    if (len > MAX_SPEC)
        return sdsinf__fail(err, SDSINF_EPARSE, "worker spec: %zu bytes, "
                            "more than a spec takes (%u)", len, MAX_SPEC);
    const char *nl = memchr(p, '\n', len);
    size_t first = nl ? (size_t)(nl - p) : len, mlen = strlen(MAGIC);
    char *vend = NULL;
    if (first <= mlen + 1 || memcmp(p, MAGIC " ", mlen + 1) != 0 ||
        p[mlen + 1] < '1' || p[mlen + 1] > '9')
        return sdsinf__fail(err, SDSINF_EPARSE, "worker spec: line 1: not a "
                            "worker spec (it starts `%s 1`)", MAGIC);
    char vbuf[16] = "";
    memcpy(vbuf, p + mlen + 1, first - mlen - 1 < 15 ? first - mlen - 1 : 15);
    version = (int)strtol(vbuf, &vend, 10);
    if (*vend || first - mlen - 1 >= 15)
        return sdsinf__fail(err, SDSINF_EPARSE, "worker spec: line 1: a "
                            "bad format version");
    if (version != SDSINF_WORKER_SPEC_VERSION)
        return sdsinf__fail(err, SDSINF_ENOTSUP, "worker spec: format "
                            "version %d; this sdsinf reads %d (a spec from "
                            "another sdsinf version)", version,
                            SDSINF_WORKER_SPEC_VERSION);
    /* the decoded strings are no longer than the text */
    if (!(value = sdsinf__malloc(MAX_VALUE + 1)) ||
        !(store = at = sdsinf__malloc(len + 1)))
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "worker spec: no memory");
    for (p = nl ? nl + 1 : end; rc == SDSINF_OK && p < end; p = nl + 1) {
        line++;
        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        if (nl == p)
            continue; /* a blank line */
        const char *sp = memchr(p, ' ', (size_t)(nl - p));
        size_t klen = sp ? (size_t)(sp - p) : (size_t)(nl - p), vn = 0, i = 0;
        const char *why = NULL;
        while (i < NKEYS && (strlen(KEYS[i].name) != klen ||
                             memcmp(KEYS[i].name, p, klen) != 0))
            i++;
        if (i == NKEYS) {
            rc = sdsinf__fail(err, SDSINF_EPARSE, "worker spec: line %d: "
                              "unknown key '%.*s'", line,
                              (int)(klen < 40 ? klen : 40), p);
        } else if (seen[i]) {
            rc = sdsinf__fail(err, SDSINF_EPARSE, "worker spec: line %d: "
                              "%s given twice (first on line %d)", line,
                              KEYS[i].name, seen[i]);
        } else if (!sp) {
            rc = sdsinf__fail(err, SDSINF_EPARSE, "worker spec: line %d: "
                              "%s without a value", line, KEYS[i].name);
        } else if (decode(sp + 1, (size_t)(nl - sp - 1), value, &vn, &why) ||
                   set_value(&KEYS[i], value, vn, &s, &at, &why)) {
            rc = sdsinf__fail(err, SDSINF_EPARSE, "worker spec: line %d: "
                              "%s: %s", line, KEYS[i].name, why);
        }
        if (rc == SDSINF_OK)
            seen[i] = line;
    }
    for (size_t i = 0; rc == SDSINF_OK && i < NKEYS; i++)
        if (KEYS[i].required && !seen[i])
            rc = sdsinf__fail(err, SDSINF_EPARSE, "worker spec: no %s line "
                              "(a spec must give it)", KEYS[i].name);
    if (rc == SDSINF_OK && s.worker >= s.workers)
        rc = sdsinf__fail(err, SDSINF_EPARSE, "worker spec: line %d: worker "
                          "%d of %d workers (ids are 0 to workers - 1)",
                          seen[1], s.worker, s.workers);
    sdsinf__free(value);
    if (rc != SDSINF_OK) {
        sdsinf__free(store);
        return rc;
    }
    s.store_ = store;
    *out = s;
    return SDSINF_OK;
}
