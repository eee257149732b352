/* channels/channels.h - the built-in channels and the registry (internal). */
#ifndef SDSINF_CHANNELS_H
#define SDSINF_CHANNELS_H

#include "core/core.h"

/* The local channel's directory for run (config, else
 * <scratch>/sdsinf-<run>) and the fs channel's store (config, else
 * <scratch>/sdsinf-store; a run's objects under <store>/<run>): config, or
 * def (cap bytes) filled with the default. */
const char *sdsinf__local_dir(const char *config, uint64_t run, char *def,
                              size_t cap);
const char *sdsinf__fs_store(const char *config, char *def, size_t cap);

/* The built-in channels (one file each in channels/). */
extern const sdsinf_channel_methods sdsinf__channel_mem;
extern const sdsinf_channel_methods sdsinf__channel_local;
extern const sdsinf_channel_methods sdsinf__channel_fs;
extern const sdsinf_channel_methods sdsinf__channel_redis; /* SDSINF_HAVE_REDIS */
extern const sdsinf_channel_methods sdsinf__channel_mpi;   /* SDSINF_HAVE_MPI */

/* The registered channel called name, or SDSINF_EINVAL (unknown, with
 * the known names) or SDSINF_ENOTSUP (left out of this build). */
int sdsinf__channel_resolve(const char *name,
                            const sdsinf_channel_methods **out,
                            sdsinf_err *err);

/* Starts MPI once per process (channels/mpi.c; the mpi launcher and
 * channel share it). */
int sdsinf__mpi_start(sdsinf_err *err);

#endif /* SDSINF_CHANNELS_H */
