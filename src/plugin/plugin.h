/* plugin/plugin.h - the MPI plugin (libsdsinf-mpi.so), what the library
 * loads to use Open MPI and Zoltan (internal).
 *
 * The library itself links neither: the mpi channel (channels/mpi.c), the
 * MPI calls of the mpi launcher (run/launcher_mpi.c keeps the rest) and
 * Zoltan's partitioning steps (plan/zoltan.c) live in a module that
 * plugin/load.c dlopen()s on first use, so a process that uses none of
 * them (a local worker, a serverless function) never maps libmpi.
 *
 * The two sides meet through two versioned tables, checked both ways: the
 * library hands the plugin's entry point (SDSINF__PLUGIN_ENTRY) the host
 * table, the few library functions the plugin's code calls
 * (plugin/entry.c forwards them), and gets the plugin table back.  Both
 * sides share internal structs (plan, sdsinf_channel), so a plugin loads
 * only into the library version it was built with. */
#ifndef SDSINF_PLUGIN_H
#define SDSINF_PLUGIN_H

#include "plan/zoltan.h"

#include <stdarg.h>

/* What a plugin holds (bits). */
enum {
    SDSINF__PLUGIN_MPI = 1u,   /* the mpi channel and the job's calls */
    SDSINF__PLUGIN_ZOLTAN = 2u /* Zoltan PHG */
};

#define SDSINF__PLUGIN_HOST_VERSION 1
/* The library's functions, for the plugin. */
typedef struct sdsinf__plugin_host {
    int version;          /* SDSINF__PLUGIN_HOST_VERSION */
    const char *library;  /* SDSINF_VERSION_STRING of the library */
    size_t plan_size, channel_size; /* sizeof(plan), sizeof(sdsinf_channel):
                                       the shared structs agree */
    void *(*calloc)(size_t count, size_t size); /* the allocation hook's */
    void *(*realloc)(void *p, size_t n);
    void *(*mallocarray)(size_t count, size_t size);
    void (*free)(void *p);
    int (*err_vset)(sdsinf_err *err, int code, const char *fmt, va_list ap);
    double (*now)(void);
    void (*sleep_ms)(double ms);
    int64_t (*hplan_move)(plan *p, int32_t v, int b);
} sdsinf__plugin_host;

#define SDSINF__PLUGIN_VERSION 1
/* What the plugin brings.  The job's calls are on MPI_COMM_WORLD, once
 * MPI is started (the channel's type state starts it). */
typedef struct sdsinf__plugin {
    int version;  /* SDSINF__PLUGIN_VERSION */
    unsigned holds; /* SDSINF__PLUGIN_*: the members below that are set */
    /* SDSINF__PLUGIN_MPI */
    const sdsinf_channel_methods *channel; /* "mpi" */
    void (*job_size)(int *rank, int *size);
    /* MPI_Bcast of nbytes from root, MPI_Allreduce of the minimum,
     * MPI_Barrier (a failure ends the job: MPI_ERRORS_ARE_FATAL). */
    void (*job_bcast)(void *buf, int nbytes, int root);
    int (*job_min)(int value);
    void (*job_barrier)(void);
    /* SDSINF__PLUGIN_ZOLTAN */
    const sdsinf__zoltan_methods *zoltan;
} sdsinf__plugin;

/* The plugin's entry point (the only symbol it exports): its table for
 * this host, or NULL with *why set (a static string) when it cannot serve
 * it. */
#define SDSINF__PLUGIN_ENTRY "sdsinf__plugin_entry"
typedef const sdsinf__plugin *sdsinf__plugin_entry_fn(
    const sdsinf__plugin_host *host, const char **why);

/* ---- The plugin's side ------------------------------------------------------ */

extern const sdsinf_channel_methods sdsinf__channel_mpi; /* channels/mpi.c */

/* ---- The library's side (plugin/load.c) ------------------------------------ */

/* What this build's plugin holds (0: no plugin built). */
unsigned sdsinf__plugin_built(void);
/* The plugin, loaded on the first call (and its channel registered);
 * `need` is the SDSINF__PLUGIN_* bit the caller uses, `what` names the
 * caller for messages ("launcher mpi").  SDSINF_ENOTSUP when this build
 * has no such plugin, or it cannot be loaded: the message names the
 * plugin, where it was looked for and what to do. */
int sdsinf__plugin_get(unsigned need, const char *what,
                       const sdsinf__plugin **out, sdsinf_err *err);
/* For a channel name: SDSINF_OK once the plugin that brings it is loaded
 * (the channel registered); SDSINF_EINVAL, err untouched, when no plugin
 * brings such a channel; otherwise as sdsinf__plugin_get. */
int sdsinf__plugin_channel(const char *name, sdsinf_err *err);

#endif /* SDSINF_PLUGIN_H */
