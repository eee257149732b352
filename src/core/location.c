/* core/location.c - local paths and s3:// locations behind one reader's
 * and one writer's call (see location.h): copies fetched into private
 * directories under the scratch directory and removed after reading,
 * messages that name the location rather than the copy, and the count of
 * the object store's requests.  The store itself: sdsinf__remote_*. */
#include "core/location.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCHEME "s3://"

static sdsinf_requests g_requests; /* this process's, added atomically */

int sdsinf_location_remote(const char *loc)
{
    return loc && !strncmp(loc, SCHEME, sizeof SCHEME - 1);
}

int sdsinf__location_join(const char *dir, const char *name, char *out,
                          size_t cap, sdsinf_err *err)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    int w = snprintf(out, cap, "%.*s/%s", (int)n, dir, name);
    if (w < 0 || (size_t)w >= cap)
        return sdsinf__fail(err, SDSINF_EINVAL, "%.200s: too long a name "
                            "for %s in it", dir, name);
    return SDSINF_OK;
}

int sdsinf__location_absolute(const char *loc, char *out, size_t cap,
                              sdsinf_err *err)
{
    if (sdsinf_location_remote(loc) ? strlen(loc) >= cap
                                     : sdsinf__absolute_path(loc, out, cap))
        return sdsinf__fail(err, SDSINF_EINVAL, "%.200s: cannot make it a "
                            "path every worker reads: %s", loc,
                            sdsinf_location_remote(loc) ? "too long"
                                                         : strerror(errno));
    if (sdsinf_location_remote(loc))
        memcpy(out, loc, strlen(loc) + 1);
    return SDSINF_OK;
}

int sdsinf__location_fetch(const char *loc, sdsinf__fetched *f,
                           sdsinf_err *err)
{
    memset(f, 0, sizeof *f);
    f->loc = loc;
    size_t n = strlen(loc);
    if (!sdsinf_location_remote(loc)) {
        if (n >= sizeof f->path)
            return sdsinf__fail(err, SDSINF_EINVAL, "%.200s...: too long a "
                                "path", loc);
        memcpy(f->path, loc, n + 1);
        return SDSINF_OK;
    }
    while (n > 1 && loc[n - 1] == '/')
        n--;
    const char *base = loc + n;
    while (base > loc && base[-1] != '/')
        base--;
    /* named after this process (pid, start time), so that the sweep
     * (run/sweep.c) removes the copy of one killed while it read */
    unsigned long long start = 0;
    char state, prefix[64];
    sdsinf__proc_stat((int)getpid(), &state, &start);
    snprintf(prefix, sizeof prefix, "sdsinf-fetch-%d-%llu", (int)getpid(),
             start);
    int rc = sdsinf__scratch_make(prefix, loc, f->temp, sizeof f->temp, NULL,
                                  err);
    if (rc != SDSINF_OK)
        return rc;
    int w = snprintf(f->path, sizeof f->path, "%s/%.*s", f->temp,
                     (int)(loc + n - base), base);
    if (w < 0 || (size_t)w >= sizeof f->path)
        return sdsinf__fail(err, SDSINF_EINVAL, "%.200s: too long a name",
                            loc);
    return sdsinf__remote_fetch(loc, f->path, &g_requests, err);
}

/* err's message with `from` replaced by `to` (once). */
static void rename_in_message(sdsinf_err *err, const char *from,
                              const char *to)
{
    const char *at = strstr(err->msg, from);
    char msg[sizeof err->msg];
    if (!at)
        return;
    snprintf(msg, sizeof msg, "%.*s%s%s", (int)(at - err->msg), err->msg, to,
             at + strlen(from));
    memcpy(err->msg, msg, sizeof msg);
}

void sdsinf__location_release(sdsinf__fetched *f, sdsinf_err *err)
{
    if (!f->temp[0])
        return;
    if (err && err->code != SDSINF_OK && f->loc)
        rename_in_message(err, f->path, f->loc);
    sdsinf__rm_tree(f->temp, sizeof f->temp, 0, NULL, NULL, NULL);
    f->temp[0] = 0;
}

int sdsinf__location_identity(const char *loc, char *out, size_t cap,
                              sdsinf_err *err)
{
    struct stat st;
    if (sdsinf_location_remote(loc))
        return sdsinf__remote_identity(loc, out, cap, &g_requests, err);
    if (stat(loc, &st) != 0)
        return sdsinf__fail(err, SDSINF_EIO, "%.200s: cannot see it: %s", loc,
                            strerror(errno));
    int n = snprintf(out, cap, "%llu:%llu:%lld:%lld.%09ld",
                     (unsigned long long)st.st_dev,
                     (unsigned long long)st.st_ino, (long long)st.st_size,
                     (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
    if (n < 0 || (size_t)n >= cap)
        return sdsinf__fail(err, SDSINF_EINVAL, "%.200s: no room for its "
                            "identity", loc);
    return SDSINF_OK;
}

int sdsinf__location_store(const char *file, const char *loc,
                           sdsinf_err *err)
{
    return sdsinf__remote_store(file, loc, &g_requests, err);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int sdsinf__names_add(char ***v, size_t *n, size_t *cap, const char *name)
{
    size_t len = strlen(name) + 1;
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        char **nv = sdsinf__realloc(*v, nc * sizeof *nv);
        if (!nv)
            return -1;
        *v = nv;
        *cap = nc;
    }
    if (!((*v)[*n] = sdsinf__malloc(len)))
        return -1;
    memcpy((*v)[(*n)++], name, len);
    return 0;
}

void sdsinf__dir_files_free(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        sdsinf__free(names[i]);
    sdsinf__free(names);
}

int sdsinf__dir_files(const char *dir, char ***names, size_t *n,
                      sdsinf_err *err)
{
    char path[4096];
    struct dirent *e;
    struct stat st;
    char **v = NULL;
    size_t k = 0, cap = 0;
    int rc = SDSINF_OK;
    DIR *d = opendir(dir);
    if (!d)
        return sdsinf__fail(err, SDSINF_EIO, "%.200s: cannot read: %s", dir,
                            strerror(errno));
    while (rc == SDSINF_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if ((rc = sdsinf__location_join(dir, e->d_name, path, sizeof path,
                                        err)) != SDSINF_OK)
            break;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (sdsinf__names_add(&v, &k, &cap, e->d_name) != 0)
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory to list %.200s",
                              dir);
    }
    closedir(d);
    if (rc != SDSINF_OK) {
        sdsinf__dir_files_free(v, k);
        return rc;
    }
    if (k)
        qsort(v, k, sizeof *v, by_name);
    *names = v;
    *n = k;
    return SDSINF_OK;
}

int sdsinf__location_store_dir(const char *dir, const char *loc,
                               const char *last, sdsinf_err *err)
{
    char file[4096], to[SDSINF__LOCATION_MAX], **names = NULL;
    size_t n = 0;
    int rc = sdsinf__dir_files(dir, &names, &n, err);
    for (int pass = 0; rc == SDSINF_OK && pass < 2; pass++) /* last: 1 */
        for (size_t i = 0; rc == SDSINF_OK && i < n; i++)
            if ((last && !strcmp(names[i], last)) == pass &&
                (rc = sdsinf__location_join(dir, names[i], file, sizeof file,
                                            err)) == SDSINF_OK &&
                (rc = sdsinf__location_join(loc, names[i], to, sizeof to,
                                            err)) == SDSINF_OK)
                rc = sdsinf__location_store(file, to, err);
    sdsinf__dir_files_free(names, n);
    return rc;
}

int sdsinf__location_remove(const char *loc, sdsinf_err *err)
{
    return sdsinf__remote_remove(loc, &g_requests, err);
}

void sdsinf__location_requests_add(const sdsinf_requests *q)
{
    uint64_t *to = &g_requests.send;
    const uint64_t *from = &q->send;
    for (size_t i = 0; i < sizeof *q / sizeof *to; i++)
        __atomic_fetch_add(&to[i], from[i], __ATOMIC_RELAXED);
}

sdsinf_requests *sdsinf__location_tally(void)
{
    return &g_requests;
}

int sdsinf_location_copy(const char *from, const char *to, sdsinf_err *err)
{
    sdsinf__fetched f;
    sdsinf_output out = {0};
    char buf[1 << 16];
    size_t n;
    FILE *in = NULL;
    int rc = sdsinf__location_fetch(from, &f, err);
    if (rc == SDSINF_OK && !(in = fopen(f.path, "rb")))
        rc = sdsinf__fail(err, SDSINF_EIO, "%.200s: cannot read: %s", from,
                          strerror(errno));
    if (rc == SDSINF_OK)
        rc = sdsinf_output_open(to, &out, err);
    while (rc == SDSINF_OK && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out.f) != n)
            rc = sdsinf__fail(err, SDSINF_EIO, "%.200s: write failed: %s",
                              to, strerror(errno));
    if (rc == SDSINF_OK && ferror(in)) /* a directory reads as an error */
        rc = sdsinf__fail(err, SDSINF_EIO, "%.200s: cannot read it as a "
                          "file: %s", from, strerror(errno));
    if (rc == SDSINF_OK)
        rc = sdsinf_output_commit(&out, err);
    sdsinf_output_abort(&out);
    if (in)
        fclose(in);
    sdsinf__location_release(&f, err);
    return rc;
}

void sdsinf_location_requests(sdsinf_requests *r)
{
    uint64_t *to = &r->send;
    const uint64_t *from = &g_requests.send;
    for (size_t i = 0; i < sizeof *r / sizeof *to; i++)
        to[i] += __atomic_load_n(&from[i], __ATOMIC_RELAXED);
}
