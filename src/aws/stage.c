/* aws/stage.c - local data staged in a bucket, content-addressed
 * (sdsinf_stage, sdsinf.h): a file at staged/SHA256/NAME, a directory at
 * staged/M/ with its manifest (M: the manifest's SHA-256) stored last;
 * every object looked for (HEAD) before it is uploaded, so content staged
 * once is never uploaded again.  A directory is read twice (hashed, then
 * uploaded file by file), so memory holds one file at a time; a file whose
 * hash changed in between is refused.  Sections: names and hashes, one
 * object, a directory, sdsinf_stage. */
#include "aws/s3.h"
#include "core/location.h"
#include "core/parse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MANIFEST ".manifest"
#define MANIFEST_HEAD "sdsinf-staged 1\n"

/* ---- Names and hashes ------------------------------------------------------ */

/* Whether `name` may be the last part of a key sdsinf reads (location.h:
 * letters, digits, - _ .; not hidden, which directory listings skip). */
static int name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= 255 && name[0] != '.' &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789-_.") == n;
}

static int bad_name(const char *path, const char *name, sdsinf_err *err)
{
    return sdsinf__fail(err, SDSINF_EINVAL, "%.200s: cannot stage '%.80s' "
                        "in S3: sdsinf's keys take names of letters, digits, "
                        "'-', '_' and '.' (not first): rename it", path,
                        name);
}

static int hash(const sdsinf__file *f, char hex[65], sdsinf_err *err)
{
    if (sdsinf__aws_sha256_hex(f->data, f->size, hex) != 0)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory to hash a file "
                            "of %zu bytes", f->size);
    return SDSINF_OK;
}

/* ---- One object ---------------------------------------------------------------- */

/* What one staging call works with. */
typedef struct stager {
    sdsinf_aws *a;
    const char *bucket;
    sdsinf_stage_stats st;
    sdsinf_requests *r; /* the process's location requests */
} stager;

/* Puts body at key unless it is there; counts which. */
static int put_once(stager *s, const char *key, const void *body,
                    size_t size, sdsinf_err *err)
{
    int put = 0;
    int rc = sdsinf__s3_put_once(s->a, s->bucket, key, body, size, s->r,
                                 &put, err);
    if (rc != SDSINF_OK)
        return rc;
    if (put) {
        s->st.uploaded++;
        s->st.bytes_uploaded += size;
    } else {
        s->st.skipped++;
        s->st.bytes_skipped += size;
    }
    return SDSINF_OK;
}

/* File `path` (named `name` in S3) at prefix + HASH/name, or at prefix +
 * name when `expect` gives its hash (a directory's file: checked against
 * what is read now); its key into key (cap bytes). */
static int stage_file(stager *s, const char *path, const char *prefix,
                      const char *name, const char *expect, char *key,
                      size_t cap, sdsinf_err *err)
{
    sdsinf__file f = {0};
    char hex[65] = "";
    int rc = sdsinf__file_read(path, &f, err);
    if (rc == SDSINF_OK)
        rc = hash(&f, hex, err);
    if (rc == SDSINF_OK && expect && strcmp(hex, expect))
        rc = sdsinf__fail(err, SDSINF_EIO, "%.200s changed while it was "
                          "staged: stage it again once nothing writes it",
                          path);
    int n = expect ? snprintf(key, cap, "%s%s", prefix, name)
                   : snprintf(key, cap, "%s%s/%s", prefix, hex, name);
    if (rc == SDSINF_OK && (n < 0 || (size_t)n >= cap))
        rc = sdsinf__fail(err, SDSINF_EINVAL, "%.200s: too long a key to "
                          "stage it at", path);
    if (rc == SDSINF_OK)
        rc = put_once(s, key, f.data, f.size, err);
    sdsinf__file_free(&f);
    return rc;
}

/* ---- A directory ------------------------------------------------------------------ */

typedef struct entry {
    char name[256];
    char hex[65];
    uint64_t size;
} entry;

/* The regular files of dir (hidden ones left out), hashed, by name. */
static int list_dir(const char *dir, entry **out, size_t *n, sdsinf_err *err)
{
    char path[4096], **names = NULL;
    size_t k = 0;
    entry *v = NULL;
    int rc = sdsinf__dir_files(dir, &names, &k, err);
    if (rc == SDSINF_OK && k == 0)
        rc = sdsinf__fail(err, SDSINF_EINVAL, "%.200s: no files to stage",
                          dir);
    if (rc == SDSINF_OK && !(v = sdsinf__calloc(k, sizeof *v)))
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory to list %.200s",
                          dir);
    for (size_t i = 0; rc == SDSINF_OK && i < k; i++) {
        sdsinf__file f = {0};
        if (!name_ok(names[i]) || strlen(names[i]) >= sizeof v[i].name) {
            rc = bad_name(dir, names[i], err);
            break;
        }
        snprintf(v[i].name, sizeof v[i].name, "%s", names[i]);
        if ((rc = sdsinf__location_join(dir, names[i], path, sizeof path,
                                        err)) == SDSINF_OK &&
            (rc = sdsinf__file_read(path, &f, err)) == SDSINF_OK &&
            (rc = hash(&f, v[i].hex, err)) == SDSINF_OK)
            v[i].size = f.size;
        sdsinf__file_free(&f);
    }
    sdsinf__dir_files_free(names, k);
    if (rc != SDSINF_OK) {
        sdsinf__free(v);
        return rc;
    }
    *out = v;
    *n = k;
    return SDSINF_OK;
}

/* The manifest of the files: a header line, then "HASH SIZE NAME" each
 * (malloc'd into *text, *len bytes). */
static int manifest(const entry *v, size_t n, char **text, size_t *len,
                    sdsinf_err *err)
{
    size_t cap = sizeof MANIFEST_HEAD + n * (64 + 24 + 256 + 3), at;
    char *t = sdsinf__malloc(cap);
    if (!t)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for a manifest");
    at = (size_t)snprintf(t, cap, "%s", MANIFEST_HEAD);
    for (size_t i = 0; i < n; i++)
        at += (size_t)snprintf(t + at, cap - at, "%s %" PRIu64 " %s\n",
                               v[i].hex, v[i].size, v[i].name);
    *text = t;
    *len = at;
    return SDSINF_OK;
}

/* Directory dir at staged/M/ (its prefix, without the '/', into key). */
static int stage_dir(stager *s, const char *dir, char *key, size_t cap,
                     sdsinf_err *err)
{
    entry *v = NULL;
    char *text = NULL, hex[65], prefix[160], file[4096], k[512];
    size_t n = 0, len = 0;
    int rc = list_dir(dir, &v, &n, err);
    if (rc == SDSINF_OK)
        rc = manifest(v, n, &text, &len, err);
    if (rc == SDSINF_OK && sdsinf__aws_sha256_hex(text, len, hex) != 0)
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory to hash");
    if (rc != SDSINF_OK)
        goto done;
    snprintf(prefix, sizeof prefix, "%s%s/", SDSINF_STAGE_PREFIX, hex);
    snprintf(key, cap, "%.*s", (int)strlen(prefix) - 1, prefix);
    snprintf(k, sizeof k, "%s%s", prefix, MANIFEST);
    if ((rc = sdsinf__s3_present(s->a, s->bucket, k, len, s->r, err)) ==
        1) { /* all of it is there */
        for (size_t i = 0; i < n; i++)
            s->st.bytes_skipped += v[i].size;
        s->st.skipped += (int64_t)n + 1;
        s->st.bytes_skipped += len;
        rc = SDSINF_OK;
        goto done;
    }
    for (size_t i = 0; rc == SDSINF_OK && i < n; i++)
        if ((rc = sdsinf__location_join(dir, v[i].name, file, sizeof file,
                                        err)) == SDSINF_OK)
            rc = stage_file(s, file, prefix, v[i].name, v[i].hex, k,
                            sizeof k, err);
    if (rc == SDSINF_OK) { /* last: a manifest found means all is there */
        snprintf(k, sizeof k, "%s%s", prefix, MANIFEST);
        rc = put_once(s, k, text, len, err);
    }
done:
    sdsinf__free(text);
    sdsinf__free(v);
    return rc;
}

/* ---- sdsinf_stage ---------------------------------------------------------------- */

int sdsinf_stage(const char *bucket, const char *path, char *loc, size_t cap,
                 sdsinf_stage_stats *st, sdsinf_err *err)
{
    stager s = {NULL, bucket, {0, 0, 0, 0}, sdsinf__location_tally()};
    char key[512], abs[4096];
    struct stat sb;
    int rc = SDSINF_OK, w;
    if (!bucket || !path || !loc)
        return sdsinf__fail(err, SDSINF_EINVAL, "stage: no bucket, path or "
                            "place for the location");
    if (sdsinf_location_remote(path)) {
        if (strlen(path) >= cap)
            return sdsinf__fail(err, SDSINF_EINVAL, "%.200s: too long a "
                                "location", path);
        memcpy(loc, path, strlen(path) + 1);
        return SDSINF_OK;
    }
    if (stat(path, &sb) != 0)
        return sdsinf__fail(err, SDSINF_EIO, "%.200s: cannot stage it: %s",
                            path, strerror(errno));
    if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
        return sdsinf__fail(err, SDSINF_EINVAL, "%.200s: neither a file nor "
                            "a directory: nothing to stage", path);
    if (sdsinf__absolute_path(path, abs, sizeof abs) != 0)
        return sdsinf__fail(err, SDSINF_EINVAL, "%.200s: too long a path",
                            path);
    size_t n = strlen(abs);
    while (n > 1 && abs[n - 1] == '/')
        abs[--n] = 0;
    const char *name = strrchr(abs, '/') ? strrchr(abs, '/') + 1 : abs;
    if (S_ISREG(sb.st_mode) && !name_ok(name))
        return bad_name(path, name, err);
    if ((rc = sdsinf__aws_new(&s.a, err)) != SDSINF_OK)
        return rc;
    rc = S_ISDIR(sb.st_mode)
             ? stage_dir(&s, abs, key, sizeof key, err)
             : stage_file(&s, abs, SDSINF_STAGE_PREFIX, name, NULL, key,
                          sizeof key, err);
    sdsinf__aws_free(s.a);
    if (rc == SDSINF_S3_NOT_FOUND || rc == SDSINF_EACCES) {
        char msg[sizeof err->msg];
        memcpy(msg, err->msg, sizeof msg);
        return sdsinf__fail(err, rc == SDSINF_EACCES ? rc : SDSINF_EIO,
                            "staging %s in bucket %s: %s (does "
                            "the bucket exist, and may these credentials "
                            "read and write it?)", path, bucket,
                            msg[0] ? msg : "no such bucket");
    }
    if (rc == SDSINF_OK &&
        ((w = snprintf(loc, cap, "s3://%s/%s", bucket, key)) < 0 ||
         (size_t)w >= cap))
        rc = sdsinf__fail(err, SDSINF_EINVAL, "s3://%.63s/%.100s: too long "
                          "a location", bucket, key);
    if (rc == SDSINF_OK && st) {
        st->uploaded += s.st.uploaded;
        st->skipped += s.st.skipped;
        st->bytes_uploaded += s.st.bytes_uploaded;
        st->bytes_skipped += s.st.bytes_skipped;
    }
    return rc;
}
