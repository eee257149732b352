/* plugin/entry.c - the MPI plugin's entry point (plugin/plugin.h): its
 * table (the mpi channel and the job's calls where built with MPI,
 * Zoltan's steps where built with Zoltan), and the library functions the
 * plugin's code calls, forwarded to the host that loaded it.
 * Sections: the host's functions, the job's calls, the entry point. */
#include "plugin/plugin.h"

#include <string.h>

#if SDSINF_HAVE_MPI
#include <mpi.h>
#endif

/* ---- The host's functions ------------------------------------------------- */

static const sdsinf__plugin_host *host; /* set once, before any call */

void *sdsinf__calloc(size_t count, size_t size)
{
    return host->calloc(count, size);
}

void *sdsinf__realloc(void *p, size_t n)
{
    return host->realloc(p, n);
}

void *sdsinf__mallocarray(size_t count, size_t size)
{
    return host->mallocarray(count, size);
}

void sdsinf__free(void *p)
{
    host->free(p);
}

int sdsinf_err_set(sdsinf_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    host->err_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

double sdsinf__now(void)
{
    return host->now();
}

void sdsinf__sleep_ms(double ms)
{
    host->sleep_ms(ms);
}

int64_t sdsinf__hplan_move(plan *p, int32_t v, int b)
{
    return host->hplan_move(p, v, b);
}

/* ---- The job's calls (MPI_COMM_WORLD) ----------------------------------------- */

#if SDSINF_HAVE_MPI
static void job_size(int *rank, int *size)
{
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
}

static void job_bcast(void *buf, int nbytes, int root)
{
    MPI_Bcast(buf, nbytes, MPI_BYTE, root, MPI_COMM_WORLD);
}

static int job_min(int value)
{
    int min = value;
    MPI_Allreduce(&value, &min, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return min;
}

static void job_barrier(void)
{
    MPI_Barrier(MPI_COMM_WORLD);
}
#endif

/* ---- The entry point -------------------------------------------------------- */

#if SDSINF_HAVE_MPI
#define HOLDS_MPI SDSINF__PLUGIN_MPI
#else
#define HOLDS_MPI 0u
#endif
#if SDSINF_HAVE_ZOLTAN
#define HOLDS_ZOLTAN SDSINF__PLUGIN_ZOLTAN
#else
#define HOLDS_ZOLTAN 0u
#endif

static const sdsinf__plugin plugin = {
    .version = SDSINF__PLUGIN_VERSION,
    .holds = HOLDS_MPI | HOLDS_ZOLTAN,
#if SDSINF_HAVE_MPI
    .channel = &sdsinf__channel_mpi,
    .job_size = job_size,
    .job_bcast = job_bcast,
    .job_min = job_min,
    .job_barrier = job_barrier,
#endif
#if SDSINF_HAVE_ZOLTAN
    .zoltan = &sdsinf__zoltan_phg,
#endif
};

/* The only symbol the plugin exports. */
__attribute__((visibility("default"))) sdsinf__plugin_entry_fn
    sdsinf__plugin_entry;

const sdsinf__plugin *sdsinf__plugin_entry(const sdsinf__plugin_host *h,
                                           const char **why)
{
    if (!h || h->version < SDSINF__PLUGIN_HOST_VERSION ||
        strcmp(h->library, SDSINF_VERSION_STRING) != 0 ||
        h->plan_size != sizeof(plan) ||
        h->channel_size != sizeof(sdsinf_channel)) {
        *why = "it is the plugin of another build (sdsinf "
               SDSINF_VERSION_STRING ")";
        return NULL;
    }
    host = h;
    return &plugin;
}
