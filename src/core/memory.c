/* memory.c - a command's peak memory estimated from its sizes, and the
 * check that refuses sizes that cannot fit before anything is allocated.
 *
 * The figures per entry are the library's own layouts: a weight entry is
 * held twice (w and its transpose: column id and value, 8 bytes each), a
 * row costs two offsets and the kernel's order; text is read whole and
 * parsed into triplets (row, column, value, line: 20 bytes). */
#include "core/parse.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WEIGHT_BYTES 16  /* w and wt: col + val each */
#define ROW_BYTES 20     /* per layer and neuron: two rowptr, the order */
#define TRIPLET_BYTES 20 /* sdsinf__triplets: row, col, val, line */
#define MODEL_LINE 12    /* bytes of a layer file line ("21\t1\t0.0625\n") */
#define IMAGE_LINE 8     /* bytes of an images file line ("1\t188\t1\n") */
#define IMAGE_ENTRY 8    /* col + val */
#define IMAGE_ROW 16     /* rowptr, and the result's argmax and max */
#define DENSE_COPIES 2   /* inference: a batch's panels and the spare ones */
#define WORKER_COPIES 3  /* a worker: inputs, output and next (K + 2C) */
#define HYPER_BYTES 16   /* the partitioner's pins and nets, per entry */

int64_t sdsinf_mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long long kb = -1;
    while (f && kb < 0 && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lld kB", &kb) != 1)
            kb = -1;
    if (f)
        fclose(f);
    if (kb >= 0)
        return (int64_t)kb * 1024;
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (int64_t)pages * size : 0;
}

/* The parts of an estimate, to name the largest in the advice. */
typedef struct mem_parts {
    double model, images, load, batch, workers, hyper;
    double weights, batch_size;
} mem_parts;

static double max2(double a, double b)
{
    return a > b ? a : b;
}

static void mem_parts_of(const sdsinf_mem_sizes *s, mem_parts *p)
{
    double N = s->neurons, L = s->layers;
    double once = (double)s->model_text_once / MODEL_LINE;
    double img = s->image_entries ? (double)s->image_entries
                                  : (double)s->image_text / IMAGE_LINE;
    memset(p, 0, sizeof *p);
    p->weights = s->weights ? (double)s->weights
                            : (double)s->model_text / MODEL_LINE;
    p->batch_size = s->batch_size > 0 && s->batch_size < s->images
                        ? (double)s->batch_size
                        : (double)s->images;
    p->model = p->weights * WEIGHT_BYTES + L * (N + 1) * ROW_BYTES;
    p->images = img * IMAGE_ENTRY + (double)s->images * IMAGE_ROW;
    /* transient: a text file read whole and its triplets */
    p->load = max2((double)s->model_text_once + once * TRIPLET_BYTES,
                   (double)s->image_text + img * TRIPLET_BYTES);
    /* a batch holds its live samples: each has an entry */
    double live = img > 0 && img < p->batch_size ? img : p->batch_size;
    p->batch = s->infer ? live * N * 4 * DENSE_COPIES : 0;
    p->workers = s->workers * live * N * 4 * WORKER_COPIES;
    p->hyper = s->hypergraph ? p->weights * HYPER_BYTES : 0;
}

static double mem_total(const mem_parts *p)
{
    return p->model + p->images +
           max2(p->load, p->batch + p->workers + p->hyper);
}

int64_t sdsinf_mem_estimate(const sdsinf_mem_sizes *s)
{
    mem_parts p;
    mem_parts_of(s, &p);
    double t = mem_total(&p);
    return t < 9e18 ? (int64_t)t : INT64_MAX;
}

/* "39.1 GiB" and the like into buf. */
static const char *human(double bytes, char *buf, size_t cap)
{
    static const char *unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB",
                                 "EiB"};
    int u = 0;
    while (bytes >= 1024 && u < 6) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
    return buf;
}

int sdsinf_mem_check(const char *what, const sdsinf_mem_sizes *s,
                     int64_t limit, sdsinf_err *err)
{
    mem_parts p;
    char need[32], have[32], sizes[160] = "", more[96] = "";
    int64_t cap = limit > 0 ? limit : sdsinf_mem_available();
    mem_parts_of(s, &p);
    double total = mem_total(&p);
    if (cap <= 0 || total <= (double)cap)
        return SDSINF_OK;
    double per_row = s->neurons && s->layers
                         ? p.weights / ((double)s->neurons * s->layers)
                         : 0;
    snprintf(sizes, sizeof sizes, "%d neurons x %d layers x %.0f nonzeros",
             s->neurons, s->layers, per_row);
    if (s->images)
        snprintf(more, sizeof more, ", %lld images",
                 (long long)s->images);
    if (s->images && p.batch_size < (double)s->images)
        snprintf(more + strlen(more), sizeof more - strlen(more),
                 " in batches of %.0f", p.batch_size);
    if (s->workers > 1)
        snprintf(more + strlen(more), sizeof more - strlen(more),
                 ", %d workers", s->workers);
    /* the advice follows the largest part */
    double run = p.batch + p.workers;
    const char *advice = "use a smaller model";
    if (run >= p.model && run >= p.images && run >= p.hyper)
        advice = s->workers > 1 ? "use a smaller --batch-size or fewer "
                                  "workers"
                                : "use a smaller --batch-size";
    else if (p.hyper >= p.model && p.hyper >= p.images)
        advice = "use --method block";
    else if (p.images > p.model)
        advice = "use fewer images";
    else if (s->model_text || s->weights)
        advice = "use fewer layers or neurons";
    return sdsinf__fail(err, SDSINF_ENOMEM,
                        "%s: needs about %s (%s%s), more than the %s %s "
                        "(--max-memory); %s, or raise --max-memory",
                        what, human(total, need, sizeof need), sizes, more,
                        human((double)cap, have, sizeof have),
                        limit > 0 ? "allowed" : "available", advice);
}
