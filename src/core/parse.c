/* parse.c - reading files, a line/token cursor, triplets to CSR, checksums.
 * Every reader here is bounds-checked: no byte sequence can make it read
 * outside its buffer, and each error names the file and line. */
#include "core/parse.h"
#include "core/location.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A local file's content (sdsinf__file_read). */
static int read_local(const char *path, sdsinf__file *f, sdsinf_err *err)
{
    int rc = SDSINF_OK;
    char *data = NULL;
    struct stat st;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return sdsinf__fail(err, SDSINF_EIO, "%s: cannot open: %s", path,
                            strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = sdsinf__fail(err, SDSINF_EIO, "%s: not a regular file", path);
        goto done;
    }
    size_t size = (size_t)st.st_size, got = 0;
    data = sdsinf__malloc(size + 1);
    if (!data) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "%s: no memory for %zu bytes",
                          path, size);
        goto done;
    }
    while (got < size) {
        ssize_t r = read(fd, data + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = sdsinf__fail(err, SDSINF_EIO, "%s: read failed: %s", path,
                              r < 0 ? strerror(errno) : "file shrank");
            goto done;
        }
        got += (size_t)r;
    }
    data[size] = 0;
    f->data = data;
    f->size = size;
    data = NULL;
done:
    sdsinf__free(data);
    close(fd);
    return rc;
}

int sdsinf__file_read(const char *path, sdsinf__file *f, sdsinf_err *err)
{
    sdsinf__fetched lf;
    int rc = sdsinf__location_fetch(path, &lf, err);
    if (rc == SDSINF_OK)
        rc = read_local(lf.path, f, err);
    sdsinf__location_release(&lf, err);
    return rc;
}

void sdsinf__file_free(sdsinf__file *f)
{
    if (f) {
        sdsinf__free(f->data);
        f->data = NULL;
        f->size = 0;
    }
}

void sdsinf__lines_init(sdsinf__lines *ls, const sdsinf__file *f,
                        const char *path)
{
    ls->p = f->data;
    ls->end = f->data + f->size;
    ls->path = path;
    ls->line = 0;
    ls->line_start = ls->cur = ls->cur_end = f->data;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

int sdsinf__lines_next(sdsinf__lines *ls)
{
    while (ls->p < ls->end) {
        const char *s = ls->p;
        const char *nl = memchr(s, '\n', (size_t)(ls->end - s));
        const char *e = nl ? nl : ls->end;
        ls->p = nl ? nl + 1 : ls->end;
        ls->line++;
        const char *q = s;
        while (q < e && is_blank(*q))
            q++;
        if (q == e)
            continue;
        ls->line_start = s;
        ls->cur = q;
        ls->cur_end = e;
        return 1;
    }
    return 0;
}

size_t sdsinf__tok_str(sdsinf__lines *ls, char *buf, size_t cap)
{
    while (ls->cur < ls->cur_end && is_blank(*ls->cur))
        ls->cur++;
    size_t n = 0;
    while (ls->cur < ls->cur_end && !is_blank(*ls->cur)) {
        if (n + 1 < cap)
            buf[n] = *ls->cur;
        n++;
        ls->cur++;
    }
    if (cap)
        buf[n < cap ? n : cap - 1] = 0;
    return n;
}

/* A byte that is neither text nor a blank (NUL, the other C0 controls,
 * DEL): strtof and the messages would stop at, or print, it raw. */
static int is_control(unsigned char c)
{
    return (c < 0x20 || c == 0x7f) && !is_blank((char)c);
}

int sdsinf__tok_word(sdsinf__lines *ls, const char *what, char *buf,
                     size_t cap, size_t *len, sdsinf_err *err)
{
    while (ls->cur < ls->cur_end && is_blank(*ls->cur))
        ls->cur++;
    const char *start = ls->cur;
    size_t n = sdsinf__tok_str(ls, buf, cap);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)start[i];
        char name[24];
        if (!is_control(c))
            continue;
        if (c == 0)
            snprintf(name, sizeof name, "NUL byte");
        else
            snprintf(name, sizeof name, "control byte 0x%02x", c);
        return sdsinf__fail(err, SDSINF_EPARSE,
                            "%s:%lld: %s at column %lld, in the %s: the file "
                            "is damaged or not text",
                            ls->path, (long long)ls->line, name,
                            (long long)(start + i - ls->line_start + 1), what);
    }
    *len = n;
    return SDSINF_OK;
}

/* sdsinf__tok_word of a value that must be there: SDSINF_EPARSE saying
 * `what` is missing when the line has no more. */
static int tok_present(sdsinf__lines *ls, const char *what, char *tok,
                       size_t cap, size_t *n, sdsinf_err *err)
{
    int rc = sdsinf__tok_word(ls, what, tok, cap, n, err);
    if (rc == SDSINF_OK && *n == 0)
        rc = sdsinf__fail(err, SDSINF_EPARSE, "%s:%lld: missing %s",
                          ls->path, (long long)ls->line, what);
    return rc;
}

int sdsinf__tok_u64(sdsinf__lines *ls, const char *what, uint64_t *v,
                    sdsinf_err *err)
{
    char tok[32];
    size_t n = 0;
    int rc = tok_present(ls, what, tok, sizeof tok, &n, err);
    if (rc != SDSINF_OK)
        return rc;
    uint64_t x = 0;
    size_t i = 0;
    for (; i < n && i < sizeof tok - 1; i++) {
        if (tok[i] < '0' || tok[i] > '9' || x > (UINT64_MAX - 9) / 10)
            break;
        x = x * 10 + (uint64_t)(tok[i] - '0');
    }
    if (i != n)
        return sdsinf__fail(err, SDSINF_EPARSE,
                            "%s:%lld: %s is not a non-negative integer: '%s'",
                            ls->path, (long long)ls->line, what, tok);
    *v = x;
    return SDSINF_OK;
}

int sdsinf__parse_float(const char *s, float *v)
{
    char *end = NULL;
    if (!*s)
        return SDSINF_EPARSE;
    errno = 0;
    float x = strtof(s, &end);
    if (*end || !isfinite(x))
        return SDSINF_EPARSE;
    /* ERANGE with a subnormal or zero result is a fine float. */
    *v = x;
    return SDSINF_OK;
}

int sdsinf__tok_f32(sdsinf__lines *ls, const char *what, float *v,
                    sdsinf_err *err)
{
    char tok[64];
    size_t n = 0;
    int rc = tok_present(ls, what, tok, sizeof tok, &n, err);
    if (rc != SDSINF_OK)
        return rc;
    if (n >= sizeof tok || sdsinf__parse_float(tok, v) != SDSINF_OK)
        return sdsinf__fail(err, SDSINF_EPARSE,
                            "%s:%lld: %s is not a finite number: '%s'",
                            ls->path, (long long)ls->line, what, tok);
    return SDSINF_OK;
}

int sdsinf__tok_end(sdsinf__lines *ls, sdsinf_err *err)
{
    char tok[32];
    size_t n = 0;
    int rc = sdsinf__tok_word(ls, "rest of the line", tok, sizeof tok, &n, err);
    if (rc != SDSINF_OK)
        return rc;
    if (n != 0)
        return sdsinf__fail(err, SDSINF_EPARSE,
                            "%s:%lld: unexpected extra field '%s'", ls->path,
                            (long long)ls->line, tok);
    return SDSINF_OK;
}

/* Sorts idx[lo..hi) by col[idx] (insertion sort for short rows). */
static void sort_row(int64_t *idx, int64_t n, const uint32_t *col)
{
    if (n > 32) {
        int64_t mid = n / 2;
        sort_row(idx, mid, col);
        sort_row(idx + mid, n - mid, col);
        int64_t *tmp = sdsinf__mallocarray((size_t)n, sizeof *tmp);
        if (tmp) { /* merge; on no memory fall through to insertion sort */
            int64_t i = 0, j = mid, k = 0;
            while (i < mid && j < n)
                tmp[k++] = col[idx[j]] < col[idx[i]] ? idx[j++] : idx[i++];
            while (i < mid)
                tmp[k++] = idx[i++];
            while (j < n)
                tmp[k++] = idx[j++];
            memcpy(idx, tmp, (size_t)n * sizeof *tmp);
            sdsinf__free(tmp);
            return;
        }
    }
    for (int64_t i = 1; i < n; i++) {
        int64_t x = idx[i], j = i;
        while (j > 0 && col[idx[j - 1]] > col[x]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = x;
    }
}

void sdsinf__triplets_free(sdsinf__triplets *t)
{
    sdsinf__free(t->row);
    sdsinf__free(t->col);
    sdsinf__free(t->val);
    sdsinf__free(t->line);
    memset(t, 0, sizeof *t);
}

int sdsinf__triplets_push(sdsinf__triplets *t, uint32_t r, uint32_t c,
                          float v, int64_t line)
{
    if (t->n == t->cap) {
        int64_t cap = t->cap ? 2 * t->cap : 1024;
        uint32_t *row = sdsinf__realloc(t->row, (size_t)cap * sizeof *row);
        if (row)
            t->row = row;
        uint32_t *col = sdsinf__realloc(t->col, (size_t)cap * sizeof *col);
        if (col)
            t->col = col;
        float *val = sdsinf__realloc(t->val, (size_t)cap * sizeof *val);
        if (val)
            t->val = val;
        int64_t *ln = sdsinf__realloc(t->line, (size_t)cap * sizeof *ln);
        if (ln)
            t->line = ln;
        if (!row || !col || !val || !ln)
            return 0;
        t->cap = cap;
    }
    t->row[t->n] = r;
    t->col[t->n] = c;
    t->val[t->n] = v;
    t->line[t->n] = line;
    t->n++;
    return 1;
}

int sdsinf__csr_from_triplets(int64_t nrows, int64_t ncols,
                              const sdsinf__triplets *t, const char *path,
                              sdsinf_csr *out, sdsinf_err *err)
{
    int rc;
    const uint32_t *row = t->row, *col = t->col;
    const float *val = t->val;
    const int64_t *lines = t->line;
    int64_t n = t->n;
    sdsinf_csr m = {0};
    int64_t *idx = NULL, *fill = NULL;
    if ((rc = sdsinf_csr_alloc(&m, nrows, ncols, n, err)) != SDSINF_OK)
        return rc;
    idx = sdsinf__mallocarray((size_t)n, sizeof *idx);
    fill = sdsinf__calloc((size_t)nrows + 1, sizeof *fill);
    if (!idx || !fill) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "%s: no memory for %lld entries",
                          path, (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        m.rowptr[row[i] + 1]++;
    for (int64_t r = 0; r < nrows; r++)
        m.rowptr[r + 1] += m.rowptr[r];
    for (int64_t i = 0; i < n; i++)
        idx[m.rowptr[row[i]] + fill[row[i]]++] = i;
    for (int64_t r = 0; r < nrows; r++) {
        int64_t b = m.rowptr[r], e = m.rowptr[r + 1];
        sort_row(idx + b, e - b, col);
        for (int64_t k = b; k < e; k++) {
            int64_t i = idx[k];
            if (k > b && col[i] == m.col[k - 1]) {
                int64_t first = idx[k - 1];
                rc = sdsinf__fail(err, SDSINF_EPARSE,
                                  "%s:%lld: duplicate entry (%u, %u), first "
                                  "given on line %lld",
                                  path, (long long)lines[i], row[i] + 1,
                                  col[i] + 1, (long long)lines[first]);
                goto done;
            }
            m.col[k] = col[i];
            m.val[k] = val[i];
        }
    }
    *out = m;
    memset(&m, 0, sizeof m);
done:
    sdsinf_csr_free(&m);
    sdsinf__free(idx);
    sdsinf__free(fill);
    return rc;
}

/* 4 independent lanes of multiply-rotate over 8-byte words (xxh64-like),
 * so the checksum runs near memory speed. */
#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL

static uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t round64(uint64_t acc, uint64_t in)
{
    return rotl(acc + in * P2, 31) * P1;
}

uint64_t sdsinf__checksum(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t a[4] = {seed + P1 + P2, seed + P2, seed, seed - P1};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) {
            uint64_t w;
            memcpy(&w, p + i + 8 * k, 8);
            a[k] = round64(a[k], w);
        }
    uint64_t h = rotl(a[0], 1) + rotl(a[1], 7) + rotl(a[2], 12) +
                 rotl(a[3], 18) + (uint64_t)n;
    for (; i < n; i++)
        h = rotl(h ^ (p[i] * P3), 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}
