/* core/core.h - what every source of the library uses: allocation, errors, time, processes, files (internal). */
#ifndef SDSINF_CORE_H
#define SDSINF_CORE_H

#include "sdsinf.h"
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

#if defined(__GNUC__)
#define SDSINF__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SDSINF__PRINTF(a, b)
#endif

/* The library's failure paths: sdsinf_err_set. */
#define sdsinf__fail sdsinf_err_set
/* sdsinf_err_set with the arguments as a va_list. */
int sdsinf__err_vset(sdsinf_err *err, int code, const char *fmt, va_list ap)
    SDSINF__PRINTF(3, 0);

/* Allocation through one hook, so tests can fail the n-th allocation. */
void *sdsinf__malloc(size_t n);
void *sdsinf__calloc(size_t count, size_t size);
void *sdsinf__realloc(void *p, size_t n);
void sdsinf__free(void *p);
/* Malloc for large scratch that is touched whole: 2 MiB aligned and
 * advised into huge pages (a fault per 2 MiB, not per 4 KiB). */
void *sdsinf__malloc_big(size_t n);
/* Makes the allocation after the next n fail (n < 0: none), for tests;
 * the environment variable SDSINF_FAIL_ALLOC sets the same at start. */
void sdsinf__fail_alloc_after(long n);
/* Malloc of count * size that fails cleanly on overflow. */
void *sdsinf__mallocarray(size_t count, size_t size);

/* Whether a stop flag (volatile sig_atomic_t, set by a signal handler or,
 * with an atomic store, by another thread) is set: an atomic read, so a
 * thread's store is no data race. */
static inline int sdsinf__flag_set(const volatile sig_atomic_t *f)
{
#if defined(__GNUC__)
    return f && __atomic_load_n(f, __ATOMIC_RELAXED) != 0;
#else
    return f && *f != 0;
#endif
}

/* A registered table's version and name (kind: "channel", "launcher"):
 * SDSINF_ENOTSUP for a version this library does not know (1 .. known),
 * SDSINF_EINVAL for a missing name or one over SDSINF__MAX_NAME bytes. */
#define SDSINF__MAX_NAME 64
/* The longest channel setting a run takes (as prepared, in bytes). */
#define SDSINF__MAX_CONFIG 4096
int sdsinf__table_check(const char *kind, int version, int known,
                        const char *name, sdsinf_err *err);

/* Sets such a flag from a thread (an atomic store). */
static inline void sdsinf__flag_raise(volatile sig_atomic_t *f)
{
#if defined(__GNUC__)
    __atomic_store_n(f, 1, __ATOMIC_RELAXED);
#else
    *f = 1;
#endif
}

/* A 64-bit checksum of a byte range (4-lane multiply-rotate, xxh64-like). */
uint64_t sdsinf__checksum(const void *data, size_t n, uint64_t seed);

/* Sleeps ms milliseconds (resumed after signals). */
void sdsinf__sleep_ms(double ms);
/* Where channels keep a run's files by default: $SDSINF_SCRATCH, else
 * /dev/shm (memory: a journaled disk makes every create and rename wait),
 * else $TMPDIR, else /tmp. */
const char *sdsinf__scratch_dir(void);
/* A new private file (mode 0600, its descriptor in *fd) or, with fd NULL,
 * directory (mode 0700) under the scratch directory, prefix.XXXXXX with the
 * X's filled in, its path into out (cap bytes), for what goes to or comes
 * from `what`; SDSINF_EIO naming what and the scratch directory when it
 * cannot be made (nothing made, out ""). */
int sdsinf__scratch_make(const char *prefix, const char *what, char *out,
                         size_t cap, int *fd, sdsinf_err *err);
/* path made absolute against the working directory ("./" dropped) into
 * out (cap bytes): 0, or -1 (errno ENAMETOOLONG, or getcwd's). */
int sdsinf__absolute_path(const char *path, char *out, size_t cap);
/* mkdir -p, mode 0700; 0 or -1 with errno. */
int sdsinf__mkdir_p(const char *dir);
/* Removes path and, for a directory, everything under it (never following
 * a link), counting into *files and *bytes (each may be NULL) what it
 * removes (dry_run: would remove), only names ending in suffix when that
 * is not NULL; path is a buffer of cap bytes, restored on return.  0, or
 * -1 with errno when something could not be removed. */
int sdsinf__rm_tree(char *path, size_t cap, int dry_run, const char *suffix,
                    int64_t *files, int64_t *bytes);

/* Monotonic seconds. */
double sdsinf__now(void);
/* Wall-clock seconds (CLOCK_REALTIME): comparable between machines. */
double sdsinf__wall_now(void);
/* This process's peak resident memory since its exec, in MB rounded up
 * (0: not known): what a Lambda function's memory must hold. */
uint32_t sdsinf__peak_mb(void);
/* Starts that peak again from what the process holds now (best effort): a
 * warm process's next invocation reports its own. */
void sdsinf__peak_reset(void);
/* 1 when process pid has ended: gone, or a zombie nobody reaped yet. */
int sdsinf__process_ended(int pid);
/* Process pid's state letter and start time (clock ticks after boot) from
 * /proc/PID/stat; 0, or -1 when it cannot be read (gone). */
int sdsinf__proc_stat(int pid, char *state, unsigned long long *start);

#endif /* SDSINF_CORE_H */
