/* status.c - status names, error messages and the allocation hook. */
#define _DEFAULT_SOURCE /* madvise */
#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *sdsinf_version(void)
{
    return SDSINF_VERSION_STRING;
}

const char *sdsinf_status_name(int code)
{
    switch (code) {
#define SDSINF_X_(name, c, text) \
    case c:                      \
        return #name;
        SDSINF_STATUS_MAP(SDSINF_X_)
#undef SDSINF_X_
    }
    return "UNKNOWN";
}

const char *sdsinf_status_text(int code)
{
    switch (code) {
#define SDSINF_X_(name, c, text) \
    case c:                      \
        return text;
        SDSINF_STATUS_MAP(SDSINF_X_)
#undef SDSINF_X_
    }
    return "unknown status";
}

/* Where to cut text (n bytes) near at, going back (dir -1) or forward
 * (+1): just after a space within 24 bytes, else at a UTF-8 character's
 * first byte, so the kept part starts or ends on a whole word. */
static size_t cut_near(const char *text, size_t n, size_t at, int dir)
{
    for (size_t k = 0; k < 24; k++) {
        size_t i = dir < 0 ? at - k : at + k;
        if (i == 0 || i >= n)
            break;
        if (text[i - 1] == ' ')
            return i;
    }
    while (at > 0 && at < n && ((unsigned char)text[at] & 0xC0) == 0x80)
        at = dir < 0 ? at - 1 : at + 1;
    return at;
}

/* Copies text (n bytes) into msg (cap bytes): whole when it fits, else its
 * head and tail around " ... ", since a chain of causes names the thing at
 * fault first and ends with the innermost cause and the advice. */
static void err_keep_ends(char *msg, size_t cap, const char *text, size_t n)
{
    static const char gap[] = " ... ";
    if (n < cap) {
        memcpy(msg, text, n + 1);
        return;
    }
    size_t room = cap - sizeof gap; /* for head and tail, less the NUL */
    size_t head = cut_near(text, n, room * 2 / 5, -1);
    size_t from = cut_near(text, n, n - (room - head), 1);
    size_t keep = head;
    while (keep > 0 && text[keep - 1] == ' ')
        keep--;
    memcpy(msg, text, keep);
    memcpy(msg + keep, gap, sizeof gap - 1);
    memcpy(msg + keep + sizeof gap - 1, text + from, n - from + 1);
}

int sdsinf__err_vset(sdsinf_err *err, int code, const char *fmt, va_list ap)
{
    char text[4096];
    if (err) {
        err->code = code;
        int n = vsnprintf(text, sizeof text, fmt, ap);
        size_t len = n < 0 ? 0 : (size_t)n < sizeof text ? (size_t)n
                                                        : sizeof text - 1;
        text[len] = 0;
        err_keep_ends(err->msg, sizeof err->msg, text, len);
    }
    return code;
}

int sdsinf_err_set(sdsinf_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sdsinf__err_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

/* Tests set SDSINF_FAIL_ALLOC=n to make the n-th allocation fail. */
static atomic_long alloc_countdown = -2; /* -2: not read yet, -1: off */

static int alloc_should_fail(void)
{
    long n = atomic_load(&alloc_countdown);
    if (n == -2) {
        const char *s = getenv("SDSINF_FAIL_ALLOC");
        n = s ? atol(s) : -1;
        atomic_store(&alloc_countdown, n < 0 ? -1 : n);
    }
    if (n == -1)
        return 0;
    return atomic_fetch_sub(&alloc_countdown, 1) == 0;
}

void sdsinf__fail_alloc_after(long n)
{
    atomic_store(&alloc_countdown, n < 0 ? -1 : n);
}

void *sdsinf__malloc(size_t n)
{
    return alloc_should_fail() ? NULL : malloc(n ? n : 1);
}

void *sdsinf__calloc(size_t count, size_t size)
{
    return alloc_should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *sdsinf__realloc(void *p, size_t n)
{
    return alloc_should_fail() ? NULL : realloc(p, n ? n : 1);
}

void *sdsinf__malloc_big(size_t n)
{
    enum { HUGE = 2u << 20 };
    void *p = NULL;
    if (n < HUGE)
        return sdsinf__malloc(n);
    if (n > SIZE_MAX - HUGE)
        return NULL;
    size_t whole = (n + HUGE - 1) / HUGE * HUGE; /* huge pages, whole */
    if (alloc_should_fail() || posix_memalign(&p, HUGE, whole) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, whole, MADV_HUGEPAGE);
#endif
    return p;
}

void sdsinf__free(void *p)
{
    free(p);
}

void *sdsinf__mallocarray(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    return sdsinf__malloc(count * size);
}

int sdsinf__proc_stat(int pid, char *state, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* fields follow the name */
    if (!p || !p[1] || !p[2])
        return -1;
    *state = p[2];
    p += 3; /* then fields 4..21, then the start time (field 22) */
    for (int field = 4; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    return p && sscanf(p, "%llu", start) == 1 ? 0 : -1;
}

int sdsinf__process_ended(int pid)
{
    char state;
    unsigned long long start;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return 1;
    return sdsinf__proc_stat(pid, &state, &start) != 0 || state == 'Z' ||
           state == 'X';
}

double sdsinf__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double sdsinf__wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* VmHWM of /proc/self/status, this program's own peak since its exec;
 * ru_maxrss only where /proc is absent: it keeps across exec the peak of
 * the process that forked this one (a Lambda emulator's interpreter, a
 * coordinator), so a worker seemed to need hundreds of MB it never held. */
uint32_t sdsinf__peak_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    struct rusage u;
    while (f && kb < 0 && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) != 1)
            kb = -1;
    if (f)
        fclose(f);
    if (kb < 0 && getrusage(RUSAGE_SELF, &u) == 0)
        kb = u.ru_maxrss; /* Linux: KiB */
    if (kb <= 0)
        return 0;
    long mb = (kb + 1023) / 1024;
    return mb < (1L << 24) ? (uint32_t)mb : (1u << 24) - 1;
}

void sdsinf__peak_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) { /* 5: the peak resident set to the current one (Linux) */
        fputs("5", f);
        fclose(f);
    }
}

void sdsinf__sleep_ms(double ms)
{
    long long ns = (long long)(ms * 1e6);
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

const char *sdsinf__scratch_dir(void)
{
    struct stat st;
    const char *s = getenv("SDSINF_SCRATCH"), *t = getenv("TMPDIR");
    if (s && s[0])
        return s;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode))
        return "/dev/shm";
    return t && t[0] ? t : "/tmp";
}

int sdsinf__scratch_make(const char *prefix, const char *what, char *out,
                         size_t cap, int *fd, sdsinf_err *err)
{
    const char *scratch = sdsinf__scratch_dir();
    int n = snprintf(out, cap, "%s/%s.XXXXXX", scratch, prefix);
    int made = n >= 0 && (size_t)n < cap &&
               (fd ? (*fd = mkstemp(out)) >= 0 : mkdtemp(out) != NULL);
    if (made)
        return SDSINF_OK;
    int e = n >= 0 && (size_t)n < cap ? errno : ENAMETOOLONG;
    if (cap)
        out[0] = 0;
    return sdsinf__fail(err, SDSINF_EIO, "%.200s: cannot make a private %s "
                        "for it under %s: %s (set SDSINF_SCRATCH to a "
                        "writable directory)", what, fd ? "file" : "directory",
                        scratch, strerror(e));
}

const char *sdsinf_scratch_dir(void)
{
    return sdsinf__scratch_dir();
}

static int mkdir_p_once(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (mkdir(dir, 0700) == 0 || errno == EEXIST)
        return 0;
    if (errno != ENOENT)
        return -1;
    memcpy(buf, dir, n + 1);
    while (n > 1 && buf[n - 1] == '/')
        n--;
    while (n > 1 && buf[n - 1] != '/')
        n--;
    if (n <= 1)
        return -1;
    buf[n - 1] = 0;
    if (mkdir_p_once(buf) != 0)
        return -1;
    return mkdir(dir, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

int sdsinf__absolute_path(const char *path, char *out, size_t cap)
{
    char cwd[4096];
    if (path[0] == '/') {
        if (snprintf(out, cap, "%s", path) >= (int)cap) {
            errno = ENAMETOOLONG;
            return -1;
        }
        return 0;
    }
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    while (path[0] == '.' && path[1] == '/')
        path += 2 + strspn(path + 2, "/"); /* ./x: x */
    if (!strcmp(path, "."))
        path = "";
    if (snprintf(out, cap, "%s%s%s", cwd, cwd[1] && path[0] ? "/" : "",
                 path) >= (int)cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

int sdsinf__mkdir_p(const char *dir)
{
    int rc = mkdir_p_once(dir);
    /* a parent made here may be removed, empty, by another process before
     * its child is made (the fs channel's default store): make it again */
    for (int i = 0; rc != 0 && errno == ENOENT && i < 8; i++)
        rc = mkdir_p_once(dir);
    return rc;
}

int sdsinf__rm_tree(char *path, size_t cap, int dry_run, const char *suffix,
                    int64_t *files, int64_t *bytes)
{
    struct stat st;
    int rc = 0, e = 0;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    size_t n = strlen(path), k = suffix ? strlen(suffix) : 0;
    if (!suffix || (n >= k && !strcmp(path + n - k, suffix))) {
        if (files)
            *files += 1;
        if (bytes)
            *bytes += (int64_t)st.st_blocks * 512; /* the space it takes */
    }
    if (!S_ISDIR(st.st_mode))
        return dry_run || unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            if (n + 1 + strlen(de->d_name) >= cap) {
                rc = -1;
                e = ENAMETOOLONG;
                continue;
            }
            path[n] = '/';
            strcpy(path + n + 1, de->d_name);
            if (sdsinf__rm_tree(path, cap, dry_run, suffix, files, bytes) !=
                0) {
                rc = -1;
                e = errno;
            }
            path[n] = 0;
        }
        closedir(d);
    }
    if (!dry_run && rmdir(path) != 0 && errno != ENOENT && rc == 0) {
        rc = -1;
        e = errno;
    }
    errno = e;
    return rc;
}

int sdsinf__table_check(const char *kind, int version, int known,
                        const char *name, sdsinf_err *err)
{
    if (version < 1 || version > known)
        return sdsinf__fail(err, SDSINF_ENOTSUP,
                            "%s '%s': table version %d, this library knows "
                            "versions 1 to %d; rebuild the %s against this "
                            "sdsinf.h",
                            kind, name ? name : "(unnamed)", version, known,
                            kind);
    if (!name || !name[0] || strlen(name) > SDSINF__MAX_NAME)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "%s table without a name (or one over %d bytes): "
                            "set methods->name",
                            kind, SDSINF__MAX_NAME);
    return SDSINF_OK;
}
