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

/* The built-in channels, one line each (adding a channel is its file in
 * channels/ and a line here): X(table, built, what a build without it
 * needs).  A channel left out of the build is named as such, not unknown.
 * The mpi channel comes with the MPI plugin (plugin/plugin.h). */
#if defined(SDSINF_HAVE_REDIS) && SDSINF_HAVE_REDIS
#define SDSINF__BUILT_REDIS 1
#else
#define SDSINF__BUILT_REDIS 0
#endif
#if defined(SDSINF_HAVE_AWS) && SDSINF_HAVE_AWS
#define SDSINF__BUILT_AWS 1
#else
#define SDSINF__BUILT_AWS 0
#endif
#define SDSINF__BUILTIN_CHANNELS(X)                                           \
    X(sdsinf__channel_mem, 1, NULL)                                           \
    X(sdsinf__channel_local, 1, NULL)                                         \
    X(sdsinf__channel_fs, 1, NULL)                                            \
    X(sdsinf__channel_redis, SDSINF__BUILT_REDIS,                             \
      "redis:hiredis (apt-get install libhiredis-dev, then cmake "           \
      "-DSDSINF_WITH_REDIS=ON)")                                              \
    X(sdsinf__channel_sqs, SDSINF__BUILT_AWS,                                 \
      "sqs:libcurl, libxml2 and libcrypto (apt-get install "                 \
      "libcurl4-openssl-dev libxml2-dev libssl-dev, then cmake "             \
      "-DSDSINF_WITH_AWS=ON)")                                                \
    X(sdsinf__channel_s3, SDSINF__BUILT_AWS,                                  \
      "s3:libcurl, libxml2 and libcrypto (apt-get install "                  \
      "libcurl4-openssl-dev libxml2-dev libssl-dev, then cmake "             \
      "-DSDSINF_WITH_AWS=ON)")                                                \
    X(sdsinf__channel_sns, SDSINF__BUILT_AWS,                                 \
      "sns:libcurl, libxml2 and libcrypto (apt-get install "                 \
      "libcurl4-openssl-dev libxml2-dev libssl-dev, then cmake "             \
      "-DSDSINF_WITH_AWS=ON)")
#define SDSINF__CHANNEL_EXTERN(table, built, needs)                           \
    extern const sdsinf_channel_methods table;
SDSINF__BUILTIN_CHANNELS(SDSINF__CHANNEL_EXTERN)
#undef SDSINF__CHANNEL_EXTERN

/* The registered channel called name, or SDSINF_EINVAL (unknown, with
 * the known names) or SDSINF_ENOTSUP (left out of this build). */
int sdsinf__channel_resolve(const char *name,
                            const sdsinf_channel_methods **out,
                            sdsinf_err *err);
/* Channel m's config_prepare of config into out (cap bytes): the setting
 * checked and in the form every process of a run can use; as given where
 * the table has none (NULL: out empty). */
int sdsinf__channel_config_prepare(const sdsinf_channel_methods *m,
                                   const char *config, char *out, size_t cap,
                                   sdsinf_err *err);
/* The runtime's control op on a failed run's coordinator instance (arg:
 * int *ms, the time it may take): the run's messages removed from where
 * they would outlive run_destroy (a stack's shared queues, sqs and sns);
 * SDSINF_ENOTSUP where a channel keeps none so. */
#define SDSINF__CONTROL_DRAIN 190
/* sdsinf_channel_open with the instance's run_made set (the runtime's
 * opens: the run's coordinator made it with run_create). */
int sdsinf__channel_open(const char *name, const char *config, int self,
                         int workers, uint64_t run, int run_made,
                         sdsinf_channel **out, sdsinf_err *err);
/* The shared state of channel table m (type_init run on first use, as for
 * its instances), held until exit: for code that needs it without an
 * instance (the mpi launcher starts MPI through the mpi channel's). */
int sdsinf__channel_type_state(const sdsinf_channel_methods *m, void **state,
                               sdsinf_err *err);

/* ---- Request counters ------------------------------------------------------ */

/* Every field of sdsinf_requests, for code that treats them alike. */
#define SDSINF__REQUEST_KINDS(X) \
    X(send) X(receive) X(empty) X(remove) X(list) X(retries) X(units)       \
        X(send_units) X(s3_put) X(s3_get) X(s3_list) X(s3_remove)

/* Counts n requests of one kind on instance ch (atomically: instances may
 * be shared by threads). */
#if defined(__GNUC__)
#define SDSINF__COUNT(ch, kind, n) \
    __atomic_fetch_add(&(ch)->requests.kind, (uint64_t)(n), __ATOMIC_RELAXED)
#else
#define SDSINF__COUNT(ch, kind, n) ((ch)->requests.kind += (uint64_t)(n))
#endif

/* sum += add, kind by kind. */
void sdsinf__requests_add(sdsinf_requests *sum, const sdsinf_requests *add);
/* sum += now - before (counters that only grow). */
void sdsinf__requests_since(sdsinf_requests *sum, const sdsinf_requests *now,
                            const sdsinf_requests *before);

/* The status of a failed system call's errno: SDSINF_EACCES for access
 * refused (EACCES, EPERM, EROFS), SDSINF_ENOMEM, else SDSINF_EIO. */
int sdsinf__errno_status(int e);

#endif /* SDSINF_CHANNELS_H */
