/* run/inputs.c - a worker's input features as a file of its own (layout in
 * inputs.h): written by the run for each worker, loaded by the worker with
 * every byte checked, so no file content can make it read out of bounds. */
#include "run/inputs.h"

#include "core/location.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define INPUTS_MAGIC "SDSINFIN"
#define INPUTS_VERSION 1u

struct inputs_header {
    char magic[8];
    uint32_t version, worker;
    uint64_t images;
    uint32_t neurons, workers;
    uint64_t entries;
    uint64_t reserved;
    uint64_t data_checksum;   /* of rowptr, col and val in turn */
    uint64_t header_checksum; /* of the bytes before this field */
};
_Static_assert(sizeof(struct inputs_header) == 64, "a 64-byte header");

/* The checksum of the data arrays, in file order. */
static uint64_t data_checksum(const sdsinf_csr *m)
{
    uint64_t n = (uint64_t)sdsinf_csr_nnz(m);
    uint64_t c = sdsinf__checksum(m->rowptr, ((size_t)m->nrows + 1) * 8, 0);
    c = sdsinf__checksum(m->col, (size_t)n * 4, c);
    return sdsinf__checksum(m->val, (size_t)n * 4, c);
}

int sdsinf__inputs_path(const char *dir, int w, char *buf, size_t cap,
                        sdsinf_err *err)
{
    char name[32];
    snprintf(name, sizeof name, "inputs-%d.sdsinf", w);
    return sdsinf__location_join(dir, name, buf, cap, err);
}

/* One worker's file being written: mapped whole, its arrays in place. */
typedef struct out_file {
    unsigned char *map;
    size_t size;
    sdsinf_csr m; /* rowptr, col and val point into map */
} out_file;

/* Creates dir/inputs-{w}.sdsinf for n entries over `images` rows and maps
 * it. */
static int out_open(const char *dir, int w, int64_t images, int64_t n,
                    out_file *o, sdsinf_err *err)
{
    char path[4300];
    int rc = sdsinf__inputs_path(dir, w, path, sizeof path, err);
    if (rc != SDSINF_OK)
        return rc;
    o->size = sizeof(struct inputs_header) + ((size_t)images + 1) * 8 +
              (size_t)n * 8;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    void *p = fd >= 0 && ftruncate(fd, (off_t)o->size) == 0
                  ? mmap(NULL, o->size, PROT_READ | PROT_WRITE, MAP_SHARED,
                         fd, 0)
                  : MAP_FAILED;
    int e = errno;
    if (fd >= 0)
        close(fd); /* the mapping stays */
    if (p == MAP_FAILED)
        return sdsinf__fail(err, SDSINF_EIO, "%s: cannot write worker %d's "
                            "inputs: %s", path, w, strerror(e));
    o->map = p;
    o->m.nrows = images;
    o->m.rowptr = (int64_t *)(void *)(o->map + sizeof(struct inputs_header));
    o->m.col = (uint32_t *)(void *)(o->m.rowptr + images + 1);
    o->m.val = (float *)(void *)(o->m.col + n);
    o->m.rowptr[0] = 0;
    return SDSINF_OK;
}

/* Writes the header of a file whose arrays are filled in, and unmaps it. */
static void out_close(out_file *o, const sdsinf_plan_stats *ps, int w)
{
    struct inputs_header h;
    if (!o->map)
        return;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, INPUTS_MAGIC, 8);
    h.version = INPUTS_VERSION;
    h.worker = (uint32_t)w;
    h.images = (uint64_t)o->m.nrows;
    h.neurons = (uint32_t)ps->neurons;
    h.workers = (uint32_t)ps->workers;
    h.entries = (uint64_t)o->m.rowptr[o->m.nrows];
    h.data_checksum = data_checksum(&o->m);
    h.header_checksum = sdsinf__checksum(
        &h, offsetof(struct inputs_header, header_checksum), 0);
    memcpy(o->map, &h, sizeof h);
    munmap(o->map, o->size);
    o->map = NULL;
}

#define SAVE_GROUP 256 /* files written (mapped) at once */

int sdsinf__inputs_save(const sdsinf_csr *images, const sdsinf_plan *p,
                        const char *dir, sdsinf_err *err)
{
    const uint16_t *own = sdsinf_plan_owner(p, 0);
    sdsinf_plan_stats ps;
    sdsinf_plan_get_stats(p, &ps);
    int W = ps.workers, rc = SDSINF_OK;
    int64_t nnz = sdsinf_csr_nnz(images), M = images->nrows;
    int64_t *count = sdsinf__calloc((size_t)W, sizeof *count);
    int64_t *at = sdsinf__calloc(SAVE_GROUP, sizeof *at);
    out_file *o = sdsinf__calloc(SAVE_GROUP, sizeof *o);
    if (!count || !at || !o)
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    for (int64_t e = 0; rc == SDSINF_OK && e < nnz; e++)
        count[own[images->col[e]]]++;
    /* the files of up to SAVE_GROUP workers filled in one pass, each entry
     * dealt straight into its worker's mapped file */
    for (int first = 0; rc == SDSINF_OK && first < W; first += SAVE_GROUP) {
        int n = W - first < SAVE_GROUP ? W - first : SAVE_GROUP;
        for (int i = 0; i < n && rc == SDSINF_OK; i++)
            rc = out_open(dir, first + i, M, count[first + i], &o[i], err);
        memset(at, 0, SAVE_GROUP * sizeof *at);
        for (int64_t r = 0; rc == SDSINF_OK && r < M; r++) {
            for (int64_t e = images->rowptr[r]; e < images->rowptr[r + 1];
                 e++) {
                unsigned i = (unsigned)(own[images->col[e]] - first);
                if (i >= (unsigned)n)
                    continue;
                o[i].m.col[at[i]] = images->col[e];
                o[i].m.val[at[i]++] = images->val[e];
            }
            for (int i = 0; i < n; i++)
                o[i].m.rowptr[r + 1] = at[i];
        }
        for (int i = 0; i < n; i++)
            out_close(&o[i], &ps, first + i);
    }
    sdsinf__free(o);
    sdsinf__free(at);
    sdsinf__free(count);
    return rc;
}

/* Checks the matrix read from path: rows that ascend to the entries,
 * columns ascending within a row, each a feature the plan gives w, and
 * finite values. */
static int check_entries(const sdsinf_csr *m, const uint16_t *own, int w,
                         const char *path, sdsinf_err *err)
{
    int64_t nnz = m->rowptr[m->nrows];
    if (m->rowptr[0] != 0)
        return sdsinf__fail(err, SDSINF_ECORRUPT, "worker %d: %s: row "
                            "offsets do not start at 0", w, path);
    for (int64_t r = 0; r < m->nrows; r++) {
        int64_t a = m->rowptr[r], b = m->rowptr[r + 1];
        if (b < a || b > nnz)
            return sdsinf__fail(err, SDSINF_ECORRUPT, "worker %d: %s: the "
                                "offsets of image %lld are out of order",
                                w, path, (long long)r + 1);
        for (int64_t e = a; e < b; e++) {
            if (m->col[e] >= m->ncols || (e > a && m->col[e] <= m->col[e - 1]))
                return sdsinf__fail(err, SDSINF_ECORRUPT, "worker %d: %s: "
                                    "image %lld: features out of range or "
                                    "order", w, path, (long long)r + 1);
            if (own[m->col[e]] != w)
                return sdsinf__fail(err, SDSINF_EINVAL, "worker %d: %s: "
                                    "image %lld has feature %u, which the "
                                    "plan gives worker %u: the inputs of "
                                    "another worker or plan", w, path,
                                    (long long)r + 1, m->col[e] + 1,
                                    own[m->col[e]]);
            if (!isfinite(m->val[e]))
                return sdsinf__fail(err, SDSINF_ECORRUPT, "worker %d: %s: "
                                    "image %lld: a value that is not "
                                    "finite", w, path, (long long)r + 1);
        }
    }
    return SDSINF_OK;
}

int sdsinf__inputs_load(const char *dir, const sdsinf_plan *p, int w,
                        sdsinf_csr *out, sdsinf_err *err)
{
    struct inputs_header h;
    struct stat st;
    sdsinf_plan_stats ps;
    sdsinf_csr m = {0};
    char path[4300];
    int rc = sdsinf__inputs_path(dir, w, path, sizeof path, err);
    if (rc != SDSINF_OK)
        return rc;
    sdsinf_plan_get_stats(p, &ps);
    sdsinf__fetched lf; /* s3:// inputs read from a private copy */
    if ((rc = sdsinf__location_fetch(path, &lf, err))) {
        sdsinf__location_release(&lf, err);
        return rc;
    }
    FILE *f = fopen(lf.path, "rb");
    sdsinf__location_release(&lf, NULL); /* read from the open file */
    if (!f)
        return sdsinf__fail(err, SDSINF_EIO, "worker %d: %s: cannot open its "
                            "inputs: %s", w, path, strerror(errno));
    if (fstat(fileno(f), &st) != 0 || fread(&h, sizeof h, 1, f) != 1 ||
        memcmp(h.magic, INPUTS_MAGIC, 8) != 0 ||
        h.header_checksum !=
            sdsinf__checksum(&h, offsetof(struct inputs_header,
                                          header_checksum), 0)) {
        rc = sdsinf__fail(err, SDSINF_ECORRUPT, "worker %d: %s: not a "
                          "worker's inputs file, or its header (bytes 0-63) "
                          "is damaged", w, path);
        goto done;
    }
    if (h.version != INPUTS_VERSION) {
        rc = sdsinf__fail(err, SDSINF_ENOTSUP, "worker %d: %s: inputs format "
                          "%u; this sdsinf reads %u", w, path, h.version,
                          INPUTS_VERSION);
        goto done;
    }
    if (h.worker != (uint32_t)w || h.workers != (uint32_t)ps.workers ||
        h.neurons != (uint32_t)ps.neurons) {
        rc = sdsinf__fail(err, SDSINF_EINVAL, "worker %d: %s: the inputs of "
                          "worker %u of %u over %u neurons, but this is "
                          "worker %d of a plan of %d over %d", w, path,
                          h.worker, h.workers, h.neurons, w, ps.workers,
                          ps.neurons);
        goto done;
    }
    /* sizes below 2^40 keep the arithmetic exact */
    if (h.images > UINT32_MAX || h.entries > (1ull << 40) ||
        h.entries > h.images * h.neurons || h.reserved ||
        (uint64_t)st.st_size != sizeof h + (h.images + 1) * 8 + h.entries * 8) {
        rc = sdsinf__fail(err, SDSINF_ECORRUPT, "worker %d: %s: truncated or "
                          "inconsistent: %lld bytes for %llu images and %llu "
                          "entries", w, path, (long long)st.st_size,
                          (unsigned long long)h.images,
                          (unsigned long long)h.entries);
        goto done;
    }
    if ((rc = sdsinf_csr_alloc(&m, (int64_t)h.images, ps.neurons,
                               (int64_t)h.entries, err)))
        goto done;
    if (fread(m.rowptr, 8, (size_t)h.images + 1, f) != (size_t)h.images + 1 ||
        fread(m.col, 4, (size_t)h.entries, f) != (size_t)h.entries ||
        fread(m.val, 4, (size_t)h.entries, f) != (size_t)h.entries) {
        rc = sdsinf__fail(err, SDSINF_EIO, "worker %d: %s: read failed", w,
                          path);
        goto done;
    }
    if (m.rowptr[h.images] != (int64_t)h.entries ||
        data_checksum(&m) != h.data_checksum) {
        rc = sdsinf__fail(err, SDSINF_ECORRUPT, "worker %d: %s: checksum "
                          "mismatch: the inputs are damaged", w, path);
        goto done;
    }
    if ((rc = check_entries(&m, sdsinf_plan_owner(p, 0), w, path, err)))
        goto done;
    *out = m;
    memset(&m, 0, sizeof m);
done:
    sdsinf_csr_free(&m);
    fclose(f);
    return rc;
}
