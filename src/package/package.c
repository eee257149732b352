/* package/package.c - the Lambda deployment package (sdsinf.h's
 * sdsinf_lambda_package and sdsinf_lambda_image; package.h): the
 * bootstrap, the libraries it needs that Amazon Linux 2023 lacks (found as
 * the dynamic loader finds them: RPATH, LD_LIBRARY_PATH, RUNPATH, the
 * directories of /etc/ld.so.conf, the system's), its price table beside
 * it (prices/aws.json, where sdsinf_prices_path looks on Lambda), and the
 * check of every file's glibc needs.  Sections: files, finding libraries, gathering, the
 * glibc check, the zip, the container recipe. */
#define _DEFAULT_SOURCE /* realpath */
#include "package/package.h"
#include "package/zip.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAX (512ull << 20) /* Lambda takes 250 MB unzipped */
#define GLIBC_MINOR 34          /* Amazon Linux 2023's glibc: 2.34 */
#define LD_SO_CONF "/etc/ld.so.conf"
#define SYSTEM_DIRS "/lib64:/usr/lib64:/lib:/usr/lib"
#define CONF_DEPTH 8            /* nested includes of ld.so.conf */
#define REPORT_MAX 64           /* offending version needs listed */
#define BASE_IMAGE "public.ecr.aws/lambda/provided:al2023"

/* ---- Files ------------------------------------------------------------------ */

/* Reads the regular file at path whole into *data (*len bytes): 0, or -1
 * with errno. */
static int slurp(const char *path, unsigned char **data, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY), e = 0;
    unsigned char *d = NULL;
    size_t got = 0;
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0)
        e = errno;
    else if (!S_ISREG(st.st_mode))
        e = EINVAL;
    else if ((unsigned long long)st.st_size > FILE_MAX)
        e = EFBIG;
    else if (!(d = sdsinf__malloc((size_t)st.st_size + 1)))
        e = ENOMEM;
    while (!e && got < (size_t)st.st_size) {
        ssize_t n = read(fd, d + got, (size_t)st.st_size - got);
        if (n < 0 && errno != EINTR)
            e = errno;
        else if (n == 0)
            e = EIO; /* shrank while read */
        else if (n > 0)
            got += (size_t)n;
    }
    close(fd);
    if (e) {
        sdsinf__free(d);
        errno = e;
        return -1;
    }
    *data = d;
    *len = got;
    return 0;
}

static char *copy(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = sdsinf__malloc(n);
    return c ? memcpy(c, s, n) : NULL;
}

/* Writes a file of the recipe with mode (umask or not). */
static int write_file(const char *path, const void *data, size_t len,
                      mode_t mode, sdsinf_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode), e = 0;
    for (size_t done = 0; fd >= 0 && !e && done < len;) {
        ssize_t n = write(fd, (const char *)data + done, len - done);
        if (n < 0 && errno != EINTR)
            e = errno;
        else if (n > 0)
            done += (size_t)n;
    }
    if (fd < 0 || e || fchmod(fd, mode) != 0 || close(fd) != 0) {
        e = e ? e : errno;
        if (fd >= 0)
            close(fd);
        return sdsinf__fail(err, SDSINF_EIO, "%.300s: cannot write: %s",
                            path, strerror(e));
    }
    return SDSINF_OK;
}

/* ---- Finding libraries -------------------------------------------------------- */

typedef struct gather {
    sdsinf__package *p;
    sdsinf_package_info *info;
} gather;

static int try_file(const char *dir, const char *soname, unsigned machine,
                    sdsinf__package_file *f);

/* The directories config file `file` names, and those of the files its
 * `include PATTERN` lines match (relative to its own directory), tried in
 * turn for soname (try_file): 1 when found. */
static int conf_try(const char *file, int depth, const char *soname,
                    unsigned machine, sdsinf__package_file *f)
{
    FILE *c = depth < CONF_DEPTH ? fopen(file, "r") : NULL;
    char line[PATH_MAX + 16];
    int found = 0;
    while (c && !found && fgets(line, sizeof line, c)) {
        char *s = line + strspn(line, " \t");
        s[strcspn(s, "#\r\n")] = 0;
        size_t n = strcspn(s, " \t");
        if (n == 7 && !strncmp(s, "include", 7)) {
            char *pat = s + 7 + strspn(s + 7, " \t"), full[PATH_MAX];
            pat[strcspn(pat, " \t")] = 0;
            const char *slash = strrchr(file, '/');
            int len = pat[0] == '/' || !slash
                          ? snprintf(full, sizeof full, "%s", pat)
                          : snprintf(full, sizeof full, "%.*s/%s",
                                     (int)(slash - file), file, pat);
            glob_t gl;
            if (len > 0 && (size_t)len < sizeof full &&
                glob(full, 0, NULL, &gl) == 0) {
                for (size_t i = 0; !found && i < gl.gl_pathc; i++)
                    found = conf_try(gl.gl_pathv[i], depth + 1, soname,
                                     machine, f);
                globfree(&gl);
            }
        } else if (n && s[0] == '/') { /* (not the old "hwcap" lines) */
            s[n] = 0;
            found = try_file(s, soname, machine, f);
        }
    }
    if (c)
        fclose(c);
    return found;
}

/* dir (n bytes of a search list) with $ORIGIN and ${ORIGIN} replaced by
 * origin into out; an empty one is "." (the loader's reading); -1 when it
 * does not fit. */
static int expand(const char *dir, size_t n, const char *origin, char *out,
                  size_t cap)
{
    size_t o = 0;
    if (n == 0)
        dir = ".", n = 1;
    for (size_t i = 0; i < n;) {
        size_t skip = !strncmp(dir + i, "${ORIGIN}", 9) && i + 9 <= n ? 9
                      : !strncmp(dir + i, "$ORIGIN", 7) && i + 7 <= n ? 7
                                                                      : 0;
        const char *add = skip ? origin : dir + i;
        size_t k = skip ? strlen(origin) : 1;
        if (o + k >= cap)
            return -1;
        memcpy(out + o, add, k);
        o += k;
        i += skip ? skip : 1;
    }
    out[o] = 0;
    return 0;
}

/* Reads dir/soname into *f when it is an ELF file for machine (the loader
 * passes over any other): 1, else 0. */
static int try_file(const char *dir, const char *soname, unsigned machine,
                    sdsinf__package_file *f)
{
    char path[PATH_MAX], real[PATH_MAX];
    sdsinf_err quiet = {0};
    int n = snprintf(path, sizeof path, "%s/%s", dir, soname);
    if (n < 0 || (size_t)n >= sizeof path || !realpath(path, real) ||
        slurp(real, &f->data, &f->len) != 0)
        return 0;
    if (sdsinf__elf_read(f->data, f->len, real, &f->elf, &quiet) ==
            SDSINF_OK &&
        f->elf.machine == machine && f->elf.dynamic &&
        (f->path = copy(real)) != NULL)
        return 1;
    sdsinf__elf_free(&f->elf);
    sdsinf__free(f->data);
    f->data = NULL;
    return 0;
}

/* The first directory of search list `list` (':' or ';' between them)
 * holding soname for machine. */
static int try_list(const char *list, const char *origin, const char *soname,
                    unsigned machine, sdsinf__package_file *f)
{
    char dir[PATH_MAX];
    for (const char *p = list; p;) {
        size_t n = strcspn(p, ":;");
        if (expand(p, n, origin, dir, sizeof dir) == 0 &&
            try_file(dir, soname, machine, f))
            return 1;
        p = p[n] ? p + n + 1 : NULL;
    }
    return 0;
}

/* Finds soname, which file `from` needs, as the loader would: from's
 * RPATH (and the bootstrap's) unless from has a RUNPATH, LD_LIBRARY_PATH,
 * from's RUNPATH, ld.so.conf's directories, the system's.  1 with *f
 * read, else 0. */
static int find_library(gather *g, const sdsinf__package_file *from,
                        const char *soname, sdsinf__package_file *f)
{
    const sdsinf__elf *boot = &g->p->files[0].elf, *e = &from->elf;
    char origin[PATH_MAX];
    const char *slash = strrchr(from->path, '/');
    snprintf(origin, sizeof origin, "%.*s", slash ? (int)(slash - from->path)
                                                  : 1,
             slash ? from->path : ".");
    const char *lists[] = {
        e->runpath ? NULL : e->rpath,
        e->runpath || from == &g->p->files[0] || boot->runpath ? NULL
                                                               : boot->rpath,
        getenv("LD_LIBRARY_PATH"), e->runpath};
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
        if (lists[i] && try_list(lists[i], origin, soname, boot->machine, f))
            return 1;
    return conf_try(LD_SO_CONF, 0, soname, boot->machine, f) ||
           try_list(SYSTEM_DIRS, origin, soname, boot->machine, f);
}

/* ---- Gathering -------------------------------------------------------------- */

/* Notes library soname in info (room checked by need). */
static void note_lib(gather *g, const char *soname, const char *path,
                     uint64_t nbytes)
{
    sdsinf_package_lib *l = &g->info->libs[g->info->nlibs++];
    snprintf(l->soname, sizeof l->soname, "%s", soname);
    snprintf(l->path, sizeof l->path, "%s", path);
    l->nbytes = nbytes;
}

/* Whether soname is Open MPI's or Zoltan's. */
static int mpi_library(const char *soname)
{
    return !strncmp(soname, "libmpi", 6) || !strncmp(soname, "libopen-", 8) ||
           !strncmp(soname, "libpmix", 7) || strstr(soname, "zoltan");
}

/* Library soname, which file `from` needs: noted as AL2023's, or found
 * and added to the files (its own needs read in turn). */
static int need(gather *g, const sdsinf__package_file *from,
                const char *soname, sdsinf_err *err)
{
    sdsinf__package *p = g->p;
    for (int i = 0; i < g->info->nlibs; i++)
        if (!strcmp(g->info->libs[i].soname, soname))
            return SDSINF_OK;
    if (g->info->nlibs == SDSINF_PACKAGE_MAX_LIBS)
        return sdsinf__fail(err, SDSINF_EINVAL, "%.200s needs more than %d "
                            "libraries: not something to put on Lambda",
                            p->files[0].path, SDSINF_PACKAGE_MAX_LIBS);
    if (strchr(soname, '/') || soname[0] == '.' || !soname[0])
        return sdsinf__fail(err, SDSINF_EINVAL, "%.200s needs '%.100s' by a "
                            "path: a package can hold only libraries found "
                            "by name", from->path, soname);
    if (mpi_library(soname))
        return sdsinf__fail(err, SDSINF_EINVAL, "%.150s links %.60s (Open MPI "
                            "or Zoltan), which a Lambda function cannot use: "
                            "build sdsinf with its MPI plugin (the default) "
                            "or -DSDSINF_WITH_MPI=OFF -DSDSINF_WITH_ZOLTAN=OFF",
                            p->files[0].path, soname);
    if (sdsinf__al2023_has(soname)) {
        note_lib(g, soname, "", 0);
        return SDSINF_OK;
    }
    sdsinf__package_file *f = &p->files[p->nfiles];
    memset(f, 0, sizeof *f);
    if (!find_library(g, from, soname, f))
        return sdsinf__fail(err, SDSINF_EIO, "%.100s, which %.150s needs, is "
                            "not where the loader looks (RPATH, "
                            "LD_LIBRARY_PATH, RUNPATH, %s, %s)",
                            soname, from->path, LD_SO_CONF, SYSTEM_DIRS);
    p->nfiles++;
    if (!(f->name = copy(soname)))
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    note_lib(g, soname, f->path, f->len);
    return SDSINF_OK;
}

/* ---- The glibc check ----------------------------------------------------------- */

int sdsinf__glibc_version_ok(const char *v, unsigned *major, unsigned *minor)
{
    char *end;
    unsigned long a, b = 0;
    if (strncmp(v, "GLIBC_", 6) || !isdigit((unsigned char)v[6]))
        return 0; /* GLIBC_PRIVATE, GLIBC_ABI_DT_RELR: none of 2.34's */
    a = strtoul(v + 6, &end, 10);
    for (int part = 0; *end == '.' && isdigit((unsigned char)end[1]); part++) {
        unsigned long x = strtoul(end + 1, &end, 10);
        b = part == 0 ? x : b;
    }
    if (*end || a > 1000 || b > 1000)
        return 0;
    *major = (unsigned)a;
    *minor = (unsigned)b;
    return a < 2 || (a == 2 && b <= GLIBC_MINOR);
}

typedef struct offender {
    sdsinf_stack_progress progress;
    void *arg;
    const sdsinf__package_file *file;
    const char *version;
    char first[128]; /* the first symbol reported */
    int nsyms;
} offender;

static int report_symbol(void *u, const char *name)
{
    offender *o = u;
    char line[700];
    if (!o->nsyms++)
        snprintf(o->first, sizeof o->first, "%.80s@%.40s", name, o->version);
    snprintf(line, sizeof line, "  %.100s@%.40s needed by %.500s", name,
             o->version, o->file->path);
    if (o->progress)
        o->progress(line, o->arg);
    return 0;
}

/* Every glibc version each file asks for must be one of 2.34's: the
 * offenders to progress, the newest version asked for into info. */
static int glibc_check(const sdsinf__package *p, sdsinf_stack_progress progress,
                       void *arg, sdsinf_package_info *info, sdsinf_err *err)
{
    unsigned newest[2] = {0, 0};
    int nbad = 0;
    offender first = {0};
    for (int i = 0; i < p->nfiles; i++) {
        const sdsinf__elf *e = &p->files[i].elf;
        for (int j = 0; j < e->nneeds; j++) {
            const char *v = e->needs[j].version;
            unsigned major = 0, minor = 0;
            if (strncmp(v, "GLIBC_", 6))
                continue;
            int ok = sdsinf__glibc_version_ok(v, &major, &minor);
            if (ok && (major > newest[0] ||
                       (major == newest[0] && minor >= newest[1]))) {
                newest[0] = major, newest[1] = minor;
                snprintf(info->glibc, sizeof info->glibc, "%s", v);
            }
            if (ok)
                continue;
            offender o = {progress, arg, &p->files[i], v, "", 0};
            if (nbad >= REPORT_MAX) { /* counted, not listed */
                nbad++;
                continue;
            }
            sdsinf__elf_symbols(e, e->needs[j].index, report_symbol, &o);
            if (!o.nsyms) { /* a need of the file itself (DT_RELR, ...) */
                char line[600];
                snprintf(line, sizeof line, "  %.40s needed by %.500s", v,
                         p->files[i].path);
                snprintf(o.first, sizeof o.first, "%.40s", v);
                if (progress)
                    progress(line, arg);
            }
            if (!nbad++)
                first = o;
        }
    }
    if (!nbad)
        return SDSINF_OK;
    return sdsinf__fail(err, SDSINF_EINVAL, "%.60s needs %.60s, above Amazon "
                        "Linux 2023's glibc 2.%d (%d such needs, listed "
                        "above): rebuild where glibc is 2.%d or older "
                        "(Amazon Linux 2023, RHEL 9, Debian 11)",
                        first.file->name, first.first, GLIBC_MINOR, nbad,
                        GLIBC_MINOR);
}

/* Drops f's version needs of the libraries AL2023 has without symbol
 * versions (so the loader binds their defaults and does not warn), each
 * said to progress; f is read again after. */
static int drop_unversioned(sdsinf__package_file *f,
                            sdsinf_stack_progress progress, void *arg,
                            sdsinf_err *err)
{
    char line[400];
    for (int j = 0; j < f->elf.nneeded; j++) {
        const char *lib = f->elf.needed[j];
        if (!sdsinf__al2023_has(lib) || !sdsinf__al2023_unversioned(lib) ||
            !sdsinf__elf_drop_needs(f->data, &f->elf, lib))
            continue;
        snprintf(line, sizeof line, "  %.100s: its symbol versions of "
                 "%.60s dropped (AL2023's defines none)", f->name, lib);
        if (progress)
            progress(line, arg);
        sdsinf__elf_free(&f->elf);
        int rc = sdsinf__elf_read(f->data, f->len, f->path, &f->elf, err);
        if (rc != SDSINF_OK)
            return rc;
        j = -1; /* its needed list again, from the new reading */
    }
    return SDSINF_OK;
}

/* The bootstrap's price table (at sdsinf_prices_path of it, real: its
 * real path), read into p->prices; none found is no error (its runs'
 * cost_usd is then null on Lambda). */
static int prices_find(const char *real, sdsinf__package *p,
                       sdsinf_package_info *info, sdsinf_err *err)
{
    char path[sizeof info->prices];
    sdsinf__package_file *f = &p->prices;
    if (!sdsinf_prices_path(real, path, sizeof path))
        return SDSINF_OK;
    if (slurp(path, &f->data, &f->len) != 0)
        return sdsinf__fail(err, SDSINF_EIO, "%.300s (the price table): "
                            "cannot read it: %s", path, strerror(errno));
    if (!(f->path = copy(path)) || !(f->name = copy("prices/aws.json")))
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    memcpy(info->prices, path, strlen(path) + 1);
    info->prices_nbytes = f->len;
    return SDSINF_OK;
}

int sdsinf__package_gather(const char *bootstrap,
                           sdsinf_stack_progress progress, void *arg,
                           sdsinf__package *p, sdsinf_package_info *info,
                           sdsinf_err *err)
{
    const char *path = bootstrap ? bootstrap : "/proc/self/exe";
    char real[PATH_MAX];
    gather g = {p, info};
    sdsinf__package_file *b = &p->files[0];
    memset(p, 0, sizeof *p);
    memset(info, 0, sizeof *info);
    p->nfiles = 1;
    if (!realpath(path, real) || slurp(real, &b->data, &b->len) != 0)
        return sdsinf__fail(err, SDSINF_EIO, "%.300s: cannot read it: %s",
                            bootstrap ? bootstrap : "this program "
                                                    "(/proc/self/exe)",
                            strerror(errno));
    if (!(b->path = copy(real)) || !(b->name = copy("bootstrap")))
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
    int rc = sdsinf__elf_read(b->data, b->len, real, &b->elf, err);
    const char *arch = sdsinf__elf_arch(b->elf.machine);
    if (rc == SDSINF_OK && !arch)
        rc = sdsinf__fail(err, SDSINF_EINVAL, "%.300s is for machine %u: "
                          "Lambda runs x86_64 and arm64", real,
                          b->elf.machine);
    if (rc != SDSINF_OK)
        return rc;
    if (strlen(real) >= sizeof info->bootstrap)
        return sdsinf__fail(err, SDSINF_EINVAL, "%.200s...: too long a path "
                            "for the package's record", real);
    memcpy(info->bootstrap, real, strlen(real) + 1);
    snprintf(info->arch, sizeof info->arch, "%s", arch);
    info->bootstrap_nbytes = b->len;
    for (int i = 0; rc == SDSINF_OK && i < p->nfiles; i++)
        for (int j = 0; rc == SDSINF_OK && j < p->files[i].elf.nneeded; j++)
            rc = need(&g, &p->files[i], p->files[i].elf.needed[j], err);
    for (int i = 0; rc == SDSINF_OK && i < p->nfiles; i++)
        rc = drop_unversioned(&p->files[i], progress, arg, err);
    if (rc == SDSINF_OK)
        rc = prices_find(real, p, info, err);
    return rc == SDSINF_OK ? glibc_check(p, progress, arg, info, err) : rc;
}

/* Frees one file's bytes, names and reading. */
static void file_free(sdsinf__package_file *f)
{
    sdsinf__elf_free(&f->elf);
    sdsinf__free(f->data);
    sdsinf__free(f->path);
    sdsinf__free(f->name);
    memset(f, 0, sizeof *f);
}

void sdsinf__package_free(sdsinf__package *p)
{
    for (int i = 0; i < p->nfiles; i++)
        file_free(&p->files[i]);
    file_free(&p->prices);
    p->nfiles = 0;
}

/* ---- The zip -------------------------------------------------------------------- */

int sdsinf__package_zip(const sdsinf__package *p, FILE *f, uint64_t *nbytes,
                        sdsinf_err *err)
{
    sdsinf__zip z;
    char name[200];
    sdsinf__zip_init(&z, f);
    int rc = sdsinf__zip_add(&z, "bootstrap", 0755, p->files[0].data,
                             p->files[0].len, err);
    if (rc == SDSINF_OK && p->nfiles > 1)
        rc = sdsinf__zip_add(&z, "lib/", 0755, NULL, 0, err);
    for (int i = 1; rc == SDSINF_OK && i < p->nfiles; i++) {
        snprintf(name, sizeof name, "lib/%s", p->files[i].name);
        rc = sdsinf__zip_add(&z, name, 0644, p->files[i].data,
                             p->files[i].len, err);
    }
    if (rc == SDSINF_OK && p->prices.data)
        rc = sdsinf__zip_add(&z, "prices/", 0755, NULL, 0, err);
    if (rc == SDSINF_OK && p->prices.data)
        rc = sdsinf__zip_add(&z, p->prices.name, 0644, p->prices.data,
                             p->prices.len, err);
    if (rc != SDSINF_OK) {
        sdsinf__zip_free(&z);
        return rc;
    }
    rc = sdsinf__zip_finish(&z, err);
    *nbytes = z.offset;
    return rc;
}

/* The zip of p written whole at out. */
static int zip_file(const sdsinf__package *p, const char *out,
                    sdsinf_package_info *info, sdsinf_err *err)
{
    sdsinf_output o;
    int rc = sdsinf_output_open(out, &o, err);
    if (rc == SDSINF_OK &&
        (rc = sdsinf__package_zip(p, o.f, &info->nbytes, err)) != SDSINF_OK)
        sdsinf_output_abort(&o);
    return rc == SDSINF_OK ? sdsinf_output_commit(&o, err) : rc;
}

/* The package of bootstrap gathered, then written at dest by `write`. */
static int package_to(const char *bootstrap, const char *dest,
                      int (*write)(const sdsinf__package *p, const char *dest,
                                   sdsinf_package_info *info,
                                   sdsinf_err *err),
                      sdsinf_stack_progress progress, void *arg,
                      sdsinf_package_info *info, sdsinf_err *err)
{
    sdsinf__package p;
    int rc = sdsinf__package_gather(bootstrap, progress, arg, &p, info, err);
    if (rc == SDSINF_OK)
        rc = write(&p, dest, info, err);
    sdsinf__package_free(&p);
    return rc;
}

int sdsinf_lambda_package(const char *bootstrap, const char *out,
                          sdsinf_stack_progress progress, void *arg,
                          sdsinf_package_info *info, sdsinf_err *err)
{
    return package_to(bootstrap, out, zip_file, progress, arg, info, err);
}

/* ---- The container recipe ----------------------------------------------------------- */

/* The Dockerfile: the base image, the bootstrap where the runtime looks
 * for it, the libraries on the function's LD_LIBRARY_PATH, the price
 * table beside the bootstrap. */
static int dockerfile(const sdsinf__package *p, const char *arch, char *out,
                      size_t cap)
{
    int n = snprintf(out, cap,
                     "# The sdsinf %s Lambda function as a container image: "
                     "its bootstrap on\n# the provided.al2023 base image%s.\n"
                     "#   docker build --platform linux/%s -t sdsinf-lambda "
                     ".\n# then push it to ECR and make the function from "
                     "it.\nFROM %s\n"
                     "COPY bootstrap ${LAMBDA_RUNTIME_DIR}/bootstrap\n%s%s"
                     "CMD [\"sdsinf\"]\n",
                     sdsinf_version(),
                     p->nfiles > 1 ? ", with the libraries it needs that the "
                                     "image lacks"
                                   : "",
                     !strcmp(arch, "arm64") ? "arm64" : "amd64", BASE_IMAGE,
                     p->nfiles > 1 ? "COPY lib/ ${LAMBDA_TASK_ROOT}/lib/\n"
                                   : "",
                     p->prices.data ? "COPY prices/ ${LAMBDA_RUNTIME_DIR}/"
                                      "prices/\n"
                                    : "");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* File f of the recipe at dir/name with mode, after making directory
 * dir/sub when sub is not NULL (its first file there); its size added to
 * *nbytes. */
static int recipe_file(const char *dir, const char *sub, const char *name,
                       const sdsinf__package_file *f, mode_t mode,
                       uint64_t *nbytes, sdsinf_err *err)
{
    char path[PATH_MAX];
    int len = snprintf(path, sizeof path, "%s/%s", dir, sub ? sub : "");
    if (sub && (size_t)len < sizeof path && mkdir(path, 0755) != 0)
        return sdsinf__fail(err, SDSINF_EIO, "%.300s: cannot make it: %s",
                            path, strerror(errno));
    len = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= sizeof path)
        return sdsinf__fail(err, SDSINF_EINVAL, "%.200s: too long a path",
                            dir);
    *nbytes += f->len;
    return write_file(path, f->data, f->len, mode, err);
}

/* The recipe's files into directory dir (the output's temporary one). */
static int recipe(const sdsinf__package *p, const char *dir, const char *arch,
                  uint64_t *nbytes, sdsinf_err *err)
{
    char path[PATH_MAX], text[1024], name[200];
    int n = dockerfile(p, arch, text, sizeof text), rc = SDSINF_OK;
    for (int i = 0; rc == SDSINF_OK && i < p->nfiles; i++) {
        snprintf(name, sizeof name, "%s%s", i ? "lib/" : "",
                 p->files[i].name);
        rc = recipe_file(dir, i == 1 ? "lib" : NULL, name, &p->files[i],
                         i ? 0644 : 0755, nbytes, err);
    }
    if (rc == SDSINF_OK && p->prices.data)
        rc = recipe_file(dir, "prices", p->prices.name, &p->prices, 0644,
                         nbytes, err);
    snprintf(path, sizeof path, "%s/Dockerfile", dir);
    if (rc == SDSINF_OK && n < 0)
        rc = sdsinf__fail(err, SDSINF_EINVAL, "the Dockerfile is too long");
    if (rc == SDSINF_OK)
        rc = write_file(path, text, (size_t)n, 0644, err);
    *nbytes += n > 0 ? (uint64_t)n : 0;
    return rc;
}

/* The recipe of p written whole as directory dir. */
static int recipe_dir(const sdsinf__package *p, const char *dir,
                      sdsinf_package_info *info, sdsinf_err *err)
{
    sdsinf_output_dir d;
    int rc = sdsinf_output_dir_begin(dir, "Dockerfile", &d, err);
    if (rc == SDSINF_OK &&
        (rc = recipe(p, d.temp, info->arch, &info->nbytes, err)) != SDSINF_OK)
        sdsinf_output_dir_abort(&d);
    return rc == SDSINF_OK ? sdsinf_output_dir_commit(&d, err) : rc;
}

int sdsinf_lambda_image(const char *bootstrap, const char *dir,
                        sdsinf_stack_progress progress, void *arg,
                        sdsinf_package_info *info, sdsinf_err *err)
{
    return package_to(bootstrap, dir, recipe_dir, progress, arg, info, err);
}
