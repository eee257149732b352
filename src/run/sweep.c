/* sweep.c - a run's owner record, and the sweep of runs whose owner is gone
 * (sdsinf_clean).
 *
 * A run whose channel keeps state outside its processes (a channel with
 * SDSINF_CAP_PROCESSES and run_destroy: files, keys, queues), or that
 * writes files for its workers (stage.c), has a directory of its own under
 * the scratch directory, <scratch>/sdsinf-<run>/ (the local channel keeps
 * its files there by default too).  Before any worker opens the channel,
 * the run's coordinator (the process in sdsinf_run; rank 0 of an MPI job)
 * writes its owner record there, <run>.owner (mode 0600: a config may hold
 * a password):
 *   <pid> <start time>      (from /proc/PID/stat: a reused pid is not
 *                            taken for the owner)
 *   channel <name>          the run's channel and its endpoints, when it
 *   workers <endpoints>     keeps state outside the processes
 *   config <setting>        the channel's config (to the line's end), if
 *                           any
 *   staged <location>       where the run stages its workers' inputs in S3
 *                           (s3://BUCKET/sdsinf-<run>: stage.c), if it does
 * A run killed with SIGKILL leaves its state and record; the next run, or
 * sdsinf_clean, finds every record in the scratch directory whose owner is
 * gone and removes that run: its channel's state through the channel's own
 * run_destroy (what it held counted first by run_residue), the objects it
 * staged, then the run's directory.  The sweep knows no channel by name:
 * any registered one with run_destroy is swept.  A record that names no channel (of two numbers
 * alone, as older versions wrote) has only the directory removed; a run
 * directory without a readable record, another user's, or one whose
 * channel this process lacks is kept.  The sweep also removes the copies
 * fetched from S3 (core/location.c: sdsinf-fetch-<pid>-<start>.XXXXXX) of
 * processes gone, such as workers stopped as they loaded. */
#include "run/sweep.h"
#include "core/location.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_CAP 4096
/* the most a record may take: a config and a staged location, and the
 * rest */
#define RECORD_CAP (PATH_CAP + SDSINF__LOCATION_MAX + 256)

int sdsinf__run_dir(uint64_t run, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/sdsinf-%" PRIu64, sdsinf__scratch_dir(),
                     run);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* ---- The owner record ------------------------------------------------------ */

typedef struct record {
    int pid;
    unsigned long long start;
    char channel[SDSINF__MAX_NAME + 1]; /* "": none named */
    int endpoints;
    char config[PATH_CAP];
    int has_config;
    char staged[SDSINF__LOCATION_MAX]; /* "": nothing staged remotely */
} record;

/* Reads the record at path: 0, or -1 when there is none or it is not one
 * (too long, a first line not "<pid> <start>", a channel without its
 * endpoints). */
static int record_read(const char *path, record *r)
{
    char buf[RECORD_CAP + 1];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf);
    if (fd >= 0)
        close(fd);
    if (n <= 0 || n > RECORD_CAP)
        return -1;
    buf[n] = 0;
    memset(r, 0, sizeof *r);
    if (sscanf(buf, "%d %llu", &r->pid, &r->start) != 2 || r->pid <= 0)
        return -1;
    for (char *line = strchr(buf, '\n'); line && line[1]; ) {
        char *v = line + 1, *end = strchr(v, '\n');
        size_t len = end ? (size_t)(end - v) : strlen(v);
        line = end;
        if (len > 8 && !strncmp(v, "channel ", 8) &&
            len - 8 <= SDSINF__MAX_NAME) {
            memcpy(r->channel, v + 8, len - 8);
            r->channel[len - 8] = 0;
        } else if (len > 8 && !strncmp(v, "workers ", 8)) {
            char *stop;
            long w = strtol(v + 8, &stop, 10);
            r->endpoints = stop == v + len && w >= 1 && w <= 65536 ? (int)w
                                                                   : 0;
        } else if (len > 7 && !strncmp(v, "config ", 7) &&
                   len - 7 < sizeof r->config) {
            memcpy(r->config, v + 7, len - 7);
            r->config[len - 7] = 0;
            r->has_config = 1;
        } else if (len > 7 && !strncmp(v, "staged ", 7) &&
                   len - 7 < sizeof r->staged) {
            memcpy(r->staged, v + 7, len - 7);
            r->staged[len - 7] = 0;
        } /* other lines: a later version's, ignored */
    }
    return r->channel[0] && !r->endpoints ? -1 : 0;
}

/* Whether process pid, started at `start`, is gone. */
static int process_gone(int pid, unsigned long long start)
{
    unsigned long long now;
    char state;
    return sdsinf__proc_stat(pid, &state, &now) != 0 || state == 'Z' ||
           state == 'X' || now != start;
}

/* Writes this process's record to path, whole (a temporary file renamed
 * into place), naming channel (NULL: none) and its config, and staged (a
 * remote location, or NULL): 0 or -1.  A config that would not fit on one
 * line leaves the channel unnamed. */
static int record_write(const char *path, const char *channel,
                        const char *config, int endpoints, const char *staged)
{
    char tmp[PATH_CAP + 32];
    unsigned long long start;
    char state;
    if (sdsinf__proc_stat((int)getpid(), &state, &start) != 0)
        return -1;
    if (config && (strchr(config, '\n') || strlen(config) >= PATH_CAP))
        channel = NULL;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
    if (!f) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int ok = fprintf(f, "%d %llu\n", (int)getpid(), start) > 0;
    if (channel)
        ok &= fprintf(f, "channel %s\nworkers %d\n", channel, endpoints) > 0;
    if (channel && config && config[0])
        ok &= fprintf(f, "config %s\n", config) > 0;
    if (staged && staged[0])
        ok &= fprintf(f, "staged %s\n", staged) > 0;
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

/* Takes the first failure to remove run r (why: what went wrong). */
static void sweep_failed(sweep *sw, int code, const sdsinf_stale_run *r,
                         const char *why)
{
    if (!sw->failed++)
        sdsinf__fail(sw->err, code, "cannot remove all of run %" PRIu64
                     " (%s%s%s, whose owner pid %d is gone): %s", r->run,
                     r->path, r->channel ? ", channel " : "",
                     r->channel ? r->channel : "", r->owner_pid, why);
}

/* The run's state on its channel: counted (r->items), and removed unless
 * a dry run; 0, 1 when the channel is not one this process has (kept), or
 * -1 on a failure (taken). */
static int sweep_channel(sweep *sw, const record *rec, sdsinf_stale_run *r)
{
    const char *config = rec->has_config ? rec->config : NULL;
    sdsinf_err e = {0};
    if (!sdsinf_channel_find(rec->channel))
        return 1;
    int rc = sdsinf_channel_run_residue(rec->channel, config, r->run,
                                        &r->items, &e);
    if (rc == SDSINF_ENOTSUP)
        r->items = -1;
    else if (rc != SDSINF_OK) {
        sweep_failed(sw, rc, r, e.msg);
        return -1;
    }
    if (!sw->dry_run &&
        (rc = sdsinf_channel_run_destroy(rec->channel, config, r->run,
                                         rec->endpoints, NULL, &e)) !=
            SDSINF_OK) {
        sweep_failed(sw, rc, r, e.msg);
        return -1;
    }
    /* a removal that removed nothing of what the residue counts (a
     * setting that means something else here): the record stays, for
     * another try */
    int64_t left = 0;
    if (!sw->dry_run && r->items > 0 &&
        sdsinf_channel_run_residue(rec->channel, config, r->run, &left,
                                   &e) == SDSINF_OK &&
        left >= r->items) {
        char why[PATH_CAP + 160];
        snprintf(why, sizeof why, "removing it from its channel removed "
                 "none of its %lld items (config '%s'); its record is kept "
                 "for another `sdsinf clean`", (long long)left, config ? config : "");
        sweep_failed(sw, SDSINF_EIO, r, why);
        return -1;
    }
    return 0;
}

/* Run `run`'s directory: its channel state and the directory removed when
 * its record's owner is gone (and it is this user's), else kept. */
static void sweep_run(sweep *sw, const char *dir, uint64_t run)
{
    struct stat st;
    char path[PATH_CAP], rec_path[PATH_CAP + 32];
    record rec;
    sdsinf_stale_run r = {dir, run, 0, 0, 0, NULL, -1, NULL};
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return;
    snprintf(rec_path, sizeof rec_path, "%s/%" PRIu64 ".owner", dir, run);
    if ((st.st_uid != geteuid() && geteuid() != 0) ||
        record_read(rec_path, &rec) != 0 || !process_gone(rec.pid, rec.start)) {
        sw->st.kept++;
        return;
    }
    r.owner_pid = rec.pid;
    r.channel = rec.channel[0] ? rec.channel : NULL;
    /* the directory is counted before the channel removes its part (the
     * local channel's files are in it by default) */
    snprintf(path, sizeof path, "%s", dir);
    if (sdsinf__rm_tree(path, sizeof path, 1, NULL, &r.files, &r.bytes) !=
            0 &&
        sw->dry_run) {
        sweep_failed(sw, SDSINF_EIO, &r, strerror(errno));
        return;
    }
    int kept = r.channel ? sweep_channel(sw, &rec, &r) : 0;
    if (kept == 1)
        sw->st.kept++;
    if (kept)
        return;
    sdsinf_err e = {0};
    r.staged = rec.staged[0] ? rec.staged : NULL;
    if (!sw->dry_run && r.staged &&
        sdsinf__location_remove(r.staged, &e) != SDSINF_OK) {
        sweep_failed(sw, e.code, &r, e.msg);
        return;
    }
    if (!sw->dry_run &&
        sdsinf__rm_tree(path, sizeof path, 0, NULL, NULL, NULL) != 0) {
        sweep_failed(sw, SDSINF_EIO, &r, strerror(errno));
        return;
    }
    sw->st.runs++;
    sw->st.files += r.files;
    sw->st.bytes += r.bytes;
    if (sw->fn)
        sw->fn(&r, sw->arg);
}

/* A copy fetched from S3 into dir, by the process its name (after
 * "sdsinf-fetch-") gives: counted and removed when that process is gone
 * and it is this user's. */
static void sweep_fetched(sweep *sw, char *dir, size_t cap, const char *name)
{
    struct stat st;
    unsigned long long start;
    int pid, n = 0;
    int64_t files = 0, bytes = 0;
    if (sscanf(name, "%d-%llu.%n", &pid, &start, &n) != 2 || n == 0 ||
        pid <= 0 || lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
        (st.st_uid != geteuid() && geteuid() != 0) ||
        !process_gone(pid, start))
        return;
    if (sdsinf__rm_tree(dir, cap, sw->dry_run, NULL, &files, &bytes) == 0) {
        sw->st.files += files;
        sw->st.bytes += bytes;
    }
}

/* The scratch directory's runs (its sdsinf-<run> entries) and fetched
 * copies. */
static int sweep_scratch(sweep *sw)
{
    const char *scratch = sdsinf__scratch_dir();
    char dir[PATH_CAP];
    DIR *d = opendir(scratch);
    struct dirent *de;
    if (!d)
        return errno == ENOENT
                   ? SDSINF_OK
                   : sdsinf__fail(sw->err, SDSINF_EIO, "cannot list the "
                                  "scratch directory %s: %s", scratch,
                                  strerror(errno));
    while ((de = readdir(d))) {
        uint64_t run = strncmp(de->d_name, "sdsinf-", 7) ? 0
                                                          : run_of(de->d_name + 7);
        int fetched = !strncmp(de->d_name, "sdsinf-fetch-", 13);
        if ((!run && !fetched) ||
            snprintf(dir, sizeof dir, "%s/%s", scratch, de->d_name) >=
                (int)sizeof dir)
            continue;
        if (run)
            sweep_run(sw, dir, run);
        else
            sweep_fetched(sw, dir, sizeof dir, de->d_name + 13);
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

void sdsinf__sweep(void)
{
    sweep sw = {0, NULL, NULL, {0, 0, 0, 0}, NULL, 0};
    sweep_scratch(&sw);
}

/* ---- A run's record ------------------------------------------------------------ */

void sdsinf__owner_claim(const char *channel, const char *config,
                         uint64_t run, int endpoints, int staged,
                         const char *remote, char *owner, size_t cap)
{
    const sdsinf_channel_methods *m = sdsinf_channel_find(channel);
    int keeps = m && m->version >= 2 && m->run_destroy &&
                (m->caps & SDSINF_CAP_PROCESSES);
    char dir[PATH_CAP];
    owner[0] = 0;
    sdsinf__sweep(); /* a run goes on regardless */
    if ((!keeps && !staged) || sdsinf__run_dir(run, dir, sizeof dir) != 0)
        return;
    int n = snprintf(owner, cap, "%s/%" PRIu64 ".owner", dir, run);
    if (n < 0 || (size_t)n >= cap || sdsinf__mkdir_p(dir) != 0 ||
        record_write(owner, keeps ? m->name : NULL, config, endpoints,
                     remote) != 0)
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
