/* sweep.c - a run's channel state and its owner.
 *
 * The local and fs channels keep a run's state in files: the local one in
 * <scratch>/sdsinf-<run>/ (<run>.shm and message files), the fs one in
 * <scratch>/sdsinf-store/<run>/ (defaults; sdsinf__local_dir,
 * sdsinf__fs_store).  Before any worker opens the channel, the run's
 * coordinator (the process in sdsinf_run; rank 0 of an MPI job) writes an
 * owner record there, "<pid> <start time>" (the start from /proc/PID/stat,
 * so a reused pid is not taken for the owner): <dir>/<run>.owner for the
 * local channel, <store>/<run>/owner for fs.  A run killed with SIGKILL
 * leaves its state; the next run, or sdsinf_clean, removes every state in
 * the scratch directory whose owner is gone.  State without a record
 * (another program's channels, an older version) is never touched. */
#include "channels/channels.h"
#include "run/sweep.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_CAP 4096

/* ---- Removing a tree ------------------------------------------------------- */

int sdsinf__rm_tree(char *path, size_t cap, int dry_run, int64_t *files,
                    int64_t *bytes)
{
    struct stat st;
    int rc = 0, e = 0;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (files)
        *files += 1;
    if (bytes)
        *bytes += (int64_t)st.st_blocks * 512; /* the space it takes */
    if (!S_ISDIR(st.st_mode))
        return dry_run || unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    DIR *d = opendir(path);
    size_t n = strlen(path);
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
            if (sdsinf__rm_tree(path, cap, dry_run, files, bytes) != 0) {
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

/* ---- The owner record -------------------------------------------------------- */

/* 1: the record's owner is gone (*pid is it); 0: it lives; -1: no
 * readable record. */
static int owner_gone(const char *path, int *pid)
{
    FILE *f = fopen(path, "r");
    unsigned long long want, start;
    char state;
    int ok = f && fscanf(f, "%d %llu", pid, &want) == 2 && *pid > 0;
    if (f)
        fclose(f);
    if (!ok)
        return -1;
    return sdsinf__proc_stat(*pid, &state, &start) != 0 || state == 'Z' ||
           state == 'X' || start != want;
}

/* Writes this process's record to path, whole (a temporary file renamed
 * into place): 0 or -1. */
static int owner_write(const char *path)
{
    char tmp[PATH_CAP + 32];
    unsigned long long start;
    char state;
    if (sdsinf__proc_stat((int)getpid(), &state, &start) != 0)
        return -1;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%d %llu\n", (int)getpid(), start) > 0;
    ok &= fclose(f) == 0;
    if (ok && rename(tmp, path) == 0)
        return 0;
    unlink(tmp);
    return -1;
}

/* ---- The sweep ---------------------------------------------------------------- */

typedef struct sweep {
    int dry_run;
    void (*fn)(const sdsinf_stale_run *r, void *arg);
    void *arg;
    sdsinf_clean_stats st;
    sdsinf_err *err; /* the first failure to remove, or NULL */
    int failed;
} sweep;

/* Parses a run id: digits only; 0 when s is not one. */
static uint64_t run_of(const char *s)
{
    char *end;
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    return errno || *end ? 0 : (uint64_t)v;
}

/* One run's directory and its owner record: removed when its owner is
 * gone (and it is this user's), else kept. */
static void sweep_run(sweep *sw, const char *dir, const char *owner,
                      uint64_t run)
{
    struct stat st;
    char path[PATH_CAP];
    sdsinf_stale_run r = {dir, run, 0, 0, 0};
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return;
    if ((st.st_uid != geteuid() && geteuid() != 0) ||
        owner_gone(owner, &r.owner_pid) != 1) {
        sw->st.kept++;
        return;
    }
    snprintf(path, sizeof path, "%s", dir);
    if (sdsinf__rm_tree(path, sizeof path, sw->dry_run, &r.files,
                        &r.bytes) != 0) {
        if (!sw->failed++)
            sdsinf__fail(sw->err, SDSINF_EIO, "cannot remove all of %s "
                         "(run %" PRIu64 ", whose owner pid %d is gone): "
                         "%s; remove it by hand", dir, run, r.owner_pid,
                         strerror(errno));
        return;
    }
    sw->st.runs++;
    sw->st.files += r.files;
    sw->st.bytes += r.bytes;
    if (sw->fn)
        sw->fn(&r, sw->arg);
}

/* The fs store's runs: <store>/<run>/owner. */
static void sweep_store(sweep *sw, const char *store)
{
    DIR *d = opendir(store);
    struct dirent *de;
    char dir[PATH_CAP], owner[PATH_CAP + 8];
    while (d && (de = readdir(d))) {
        uint64_t run = run_of(de->d_name);
        if (!run || snprintf(dir, sizeof dir, "%s/%s", store, de->d_name) >=
                        (int)sizeof dir)
            continue;
        snprintf(owner, sizeof owner, "%s/owner", dir);
        sweep_run(sw, dir, owner, run);
    }
    if (d)
        closedir(d);
    if (!sw->dry_run)
        rmdir(store); /* once no run is left in it */
}

/* The scratch directory's sdsinf-* entries: local runs' directories
 * (sdsinf-<run>, holding <run>.owner) and the fs store (sdsinf-store). */
static int sweep_scratch(sweep *sw)
{
    const char *scratch = sdsinf__scratch_dir();
    char dir[PATH_CAP], owner[PATH_CAP + 32];
    DIR *d = opendir(scratch);
    struct dirent *de;
    if (!d)
        return errno == ENOENT
                   ? SDSINF_OK
                   : sdsinf__fail(sw->err, SDSINF_EIO, "cannot list the "
                                  "scratch directory %s: %s", scratch,
                                  strerror(errno));
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        if (strncmp(name, "sdsinf-", 7) != 0 ||
            snprintf(dir, sizeof dir, "%s/%s", scratch, name) >=
                (int)sizeof dir)
            continue;
        uint64_t run = run_of(name + 7);
        if (!strcmp(name + 7, "store")) {
            sweep_store(sw, dir);
        } else if (run) {
            snprintf(owner, sizeof owner, "%s/%s.owner", dir, name + 7);
            sweep_run(sw, dir, owner, run);
        }
    }
    closedir(d);
    return sw->failed ? sw->err ? sw->err->code : SDSINF_EIO : SDSINF_OK;
}

int sdsinf_clean(int dry_run, void (*fn)(const sdsinf_stale_run *r, void *arg),
                 void *arg, sdsinf_clean_stats *st, sdsinf_err *err)
{
    sweep sw = {dry_run, fn, arg, {0, 0, 0, 0}, err, 0};
    int rc = sweep_scratch(&sw);
    if (st)
        *st = sw.st;
    return rc;
}

/* ---- A run's record ------------------------------------------------------------ */

void sdsinf__owner_claim(const char *channel, const char *config,
                         uint64_t run, char *owner, size_t cap)
{
    sweep sw = {0, NULL, NULL, {0, 0, 0, 0}, NULL, 0};
    char def[PATH_CAP], dir[PATH_CAP];
    int local = channel && !strcmp(channel, "local");
    owner[0] = 0;
    sweep_scratch(&sw); /* best effort: a run goes on regardless */
    if (!local && !(channel && !strcmp(channel, "fs")))
        return;
    int n = local ? snprintf(dir, sizeof dir, "%s",
                             sdsinf__local_dir(config, run, def, sizeof def))
                  : snprintf(dir, sizeof dir, "%s/%" PRIu64,
                             sdsinf__fs_store(config, def, sizeof def), run);
    if (n < 0 || (size_t)n >= sizeof dir)
        return; /* the channel's open says what is wrong */
    if (local) {
        sdsinf__owner_dir_claim(dir, run, owner, cap);
        return;
    }
    n = snprintf(owner, cap, "%s/owner", dir);
    if (n < 0 || (size_t)n >= cap || sdsinf__mkdir_p(dir) != 0 ||
        owner_write(owner) != 0)
        owner[0] = 0;
}

void sdsinf__owner_dir_claim(const char *dir, uint64_t run, char *owner,
                             size_t cap)
{
    int n = snprintf(owner, cap, "%s/%" PRIu64 ".owner", dir, run);
    if (n < 0 || (size_t)n >= cap || sdsinf__mkdir_p(dir) != 0 ||
        owner_write(owner) != 0)
        owner[0] = 0;
}

void sdsinf__owner_release(const char *owner)
{
    char dir[PATH_CAP];
    if (!owner[0] || snprintf(dir, sizeof dir, "%s", owner) >= (int)sizeof dir)
        return;
    unlink(owner);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        rmdir(dir); /* fails, harmlessly, while anything is left in it */
    }
}
