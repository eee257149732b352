/* run/launcher_external.c - the "external" launcher: the run writes one
 * spec per worker, <specs_dir>/worker-{w}.spec (each written whole: a
 * watcher sees complete files), and someone else starts the workers from
 * them (`sdsinf worker --spec FILE`, on any machine that sees the paths
 * they name and reaches the channel); the coordinator waits for their
 * reports over the channel as for any launcher's.  It cannot see or stop
 * the workers: the coordinator learns that a worker started from its first
 * message (its start note, gather.c), and a run where some worker has not
 * started within the start timeout (run option start_timeout_ms, default
 * 10 minutes) ends naming it, its channel state removed; one whose
 * workers stop reporting ends a timeout after the last report.  The specs
 * go with the run (the files they name do too). */
#include "run/run.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct external_run {
    char dir[4096];
    int written; /* worker-{0..written-1}.spec */
    int made;    /* the run created dir: removed with the specs */
} external_run;

/* Whether name is a worker's spec, worker-{w}.spec. */
static int is_spec_name(const char *name)
{
    size_t n = strlen(name);
    return n > 12 && !strncmp(name, "worker-", 7) &&
           !strcmp(name + n - 5, ".spec");
}

int sdsinf__specs_dir_check(const sdsinf_run_opts *o, sdsinf_err *err)
{
    const char *dir = o->version >= 5 ? o->specs_dir : NULL;
    if (!dir || !dir[0] || strlen(dir) >= 4000)
        return sdsinf__fail(err, SDSINF_EINVAL, "launcher external: give "
                            "the directory for the workers' specs (run "
                            "option specs_dir, --specs-out DIR)");
    DIR *d = opendir(dir);
    struct dirent *e;
    char held[256] = ""; /* the first spec's name (the entry dies with d) */
    while (d && !held[0] && (e = readdir(d)))
        if (is_spec_name(e->d_name))
            snprintf(held, sizeof held, "%s", e->d_name);
    if (d)
        closedir(d);
    if (held[0])
        return sdsinf__fail(err, SDSINF_EINVAL, "%s already holds workers' "
                            "specs (%s): give an empty or new directory, or "
                            "remove them", dir, held);
    return SDSINF_OK;
}

/* worker-{w}.spec in the run's directory. */
static void spec_path(const external_run *x, int w, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/worker-%d.spec", x->dir, w);
}

/* Writes every worker's spec into the specs directory. */
static int external_start(sdsinf_launch *l, sdsinf_err *err)
{
    const sdsinf_run_opts *o = l->opts;
    char path[4200];
    int rc = sdsinf__specs_dir_check(o, err);
    if (rc != SDSINF_OK)
        return rc;
    const char *dir = o->specs_dir;
    struct stat sb;
    external_run *x = sdsinf__calloc(1, sizeof *x);
    if (!x)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    l->state = x;
    snprintf(x->dir, sizeof x->dir, "%s", dir);
    x->made = stat(dir, &sb) != 0;
    if (sdsinf__mkdir_p(dir) != 0)
        return sdsinf__fail(err, SDSINF_EIO, "%s: cannot create the specs' "
                            "directory: %s", dir, strerror(errno));
    for (; x->written < l->workers && rc == SDSINF_OK; x->written++) {
        sdsinf_worker_spec s = *l->spec;
        sdsinf_output out;
        s.worker = x->written;
        spec_path(x, x->written, path, sizeof path);
        if ((rc = sdsinf_output_open(path, &out, err)) == SDSINF_OK &&
            (rc = sdsinf_worker_spec_save(&s, out.f, err)) != SDSINF_OK)
            sdsinf_output_abort(&out);
        else if (rc == SDSINF_OK)
            rc = sdsinf_output_commit(&out, err);
    }
    return rc;
}

/* Removes the specs (the workers that took them are done, or will find
 * their files gone), and their directory when the run made it. */
static void external_wait(sdsinf_launch *l)
{
    external_run *x = l->state;
    char path[4200];
    for (int w = 0; x && w < x->written; w++) {
        spec_path(x, w, path, sizeof path);
        unlink(path);
    }
    if (x && x->made)
        rmdir(x->dir); /* (kept when someone put other files there) */
    sdsinf__free(x);
    l->state = NULL;
}

const sdsinf_launcher_methods sdsinf__launcher_external = {
    .version = SDSINF_LAUNCHER_VERSION,
    .name = "external",
    .caps = SDSINF_LAUNCH_SPECS,
    .default_channel = "fs",
    .start = external_start,
    .wait = external_wait,
};
