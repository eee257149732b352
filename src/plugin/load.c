/* plugin/load.c - finds and loads the MPI plugin (plugin/plugin.h), once per
 * process, on the first call that needs it; it stays loaded until exit
 * (the mpi channel's state finalizes MPI then).
 *
 * Where: $SDSINF_PLUGIN_DIR alone when set (a directory, or several
 * separated by ':'); else, for each entry of
 * SDSINF_PLUGIN_PATH (set by the build: relative entries are relative to
 * the directory of the file this code is in, the library or the program
 * linking libsdsinf.a: itself in the build tree, lib/sdsinf/ beside an
 * installed library, ../lib/sdsinf/ from an installed program; then the
 * installed directory), the first SDSINF_PLUGIN_FILE there.  It is loaded
 * with RTLD_NOW | RTLD_GLOBAL: Open MPI's own components, which it loads
 * in turn, need libmpi's symbols global. */
#define _GNU_SOURCE /* dladdr1 */
#include "plugin/plugin.h"

#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What the build put in the plugin (SDSINF__PLUGIN_* bits; 0: none), its
 * file name and where it is looked for (':'-separated). */
#ifndef SDSINF_PLUGIN_HOLDS
#error "SDSINF_PLUGIN_HOLDS, _FILE and _PATH are set by CMakeLists.txt"
#endif

/* What each part needs in a build that left it out. */
static const struct {
    unsigned bit;
    const char *name, *packages, *option;
} parts[] = {
    {SDSINF__PLUGIN_MPI, "MPI", "libopenmpi-dev openmpi-bin", "MPI"},
    {SDSINF__PLUGIN_ZOLTAN, "Zoltan", "libtrilinos-zoltan-dev libopenmpi-dev",
     "ZOLTAN"},
};

static const sdsinf__plugin_host host = {
    .version = SDSINF__PLUGIN_HOST_VERSION,
    .library = SDSINF_VERSION_STRING,
    .plan_size = sizeof(plan),
    .channel_size = sizeof(sdsinf_channel),
    .calloc = sdsinf__calloc,
    .realloc = sdsinf__realloc,
    .mallocarray = sdsinf__mallocarray,
    .free = sdsinf__free,
    .err_vset = sdsinf__err_vset,
    .now = sdsinf__now,
    .sleep_ms = sdsinf__sleep_ms,
    .hplan_move = sdsinf__hplan_move,
};

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const sdsinf__plugin *loaded; /* NULL: see why */
static char why[256];                /* why it is not loaded */

unsigned sdsinf__plugin_built(void)
{
    return SDSINF_PLUGIN_HOLDS;
}

/* The directory of the file this code was loaded from (the library, or
 * the program for libsdsinf.a) into dir; 0, or -1 when unknown. */
static int own_dir(char *dir, size_t cap)
{
    Dl_info info;
    struct link_map *lm = NULL;
    char path[PATH_MAX];
    if (!dladdr1((void *)sdsinf__plugin_built, &info, (void **)&lm,
                 RTLD_DL_LINKMAP) || !lm)
        return -1;
    if (lm->l_name && lm->l_name[0]) { /* a shared library */
        snprintf(path, sizeof path, "%s", lm->l_name);
    } else { /* the program: dladdr would give argv[0] */
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        if (n <= 0)
            return -1;
        path[n] = 0;
    }
    char *slash = strrchr(path, '/');
    if (!slash)
        return -1;
    *slash = 0;
    return snprintf(dir, cap, "%s", path[0] ? path : "/") < (int)cap ? 0
                                                                       : -1;
}

/* Loads the plugin found at path: SDSINF_OK, or why not in `why`. */
static int load_file(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(why, sizeof why, "it cannot be loaded (install what it "
                 "needs, or rebuild): %.160s", e ? e : path);
        return SDSINF_ENOTSUP;
    }
    sdsinf__plugin_entry_fn *entry;
    void *sym = dlsym(h, SDSINF__PLUGIN_ENTRY);
    memcpy(&entry, &sym, sizeof entry); /* (POSIX: data to function) */
    const char *refused = "it has no entry point " SDSINF__PLUGIN_ENTRY;
    const sdsinf__plugin *pl = sym ? entry(&host, &refused) : NULL;
    if (pl && pl->version < SDSINF__PLUGIN_VERSION) {
        refused = "its table is of an older version";
        pl = NULL;
    }
    sdsinf_err err = {0};
    if (pl && (pl->holds & SDSINF__PLUGIN_MPI) &&
        sdsinf_channel_register(pl->channel, &err) != SDSINF_OK) {
        refused = err.msg;
        pl = NULL;
    }
    if (!pl) {
        snprintf(why, sizeof why, "%.100s is refused (install the plugin "
                 "of this build, sdsinf %s): %.60s", path,
                 SDSINF_VERSION_STRING, refused);
        return SDSINF_ENOTSUP; /* (h stays: a library may not unload) */
    }
    loaded = pl;
    return SDSINF_OK;
}

/* Looks for the plugin and loads the first found (load_once). */
static void load(void)
{
    const char *env = getenv("SDSINF_PLUGIN_DIR");
    char own[PATH_MAX], dir[2 * PATH_MAX], path[2 * PATH_MAX + 64];
    char looked[160] = "";
    const char *list = env && env[0] ? env : SDSINF_PLUGIN_PATH;
    int have_own = own_dir(own, sizeof own) == 0;
    size_t nlooked = 0;
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ":");
        if (p[0] == '/' || list == env) /* (the variable's: as given) */
            snprintf(dir, sizeof dir, "%.*s", (int)n, p);
        else if (have_own && n == 1 && p[0] == '.')
            snprintf(dir, sizeof dir, "%s", own);
        else if (have_own)
            snprintf(dir, sizeof dir, "%s/%.*s", own, (int)n, p);
        else
            dir[0] = 0;
        p += n + (p[n] == ':');
        if (!dir[0] || !n)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, SDSINF_PLUGIN_FILE);
        if (access(path, F_OK) == 0) {
            load_file(path);
            return;
        }
        int k = snprintf(looked + nlooked, sizeof looked - nlooked, "%s%s",
                         nlooked ? ":" : "", dir);
        nlooked += k > 0 && (size_t)k < sizeof looked - nlooked ? (size_t)k
                                                                 : 0;
    }
    snprintf(why, sizeof why, "not found (install it: cmake --install; or "
             "set SDSINF_PLUGIN_DIR to its directory); looked in %s%s",
             env && env[0] ? "SDSINF_PLUGIN_DIR=" : "", looked);
}

int sdsinf__plugin_get(unsigned need, const char *what,
                       const sdsinf__plugin **out, sdsinf_err *err)
{
    *out = NULL;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        if ((need & parts[i].bit) && !(SDSINF_PLUGIN_HOLDS & parts[i].bit))
            return sdsinf__fail(err, SDSINF_ENOTSUP, "%s: this build has no "
                                "%s (apt-get install %s, then cmake "
                                "-DSDSINF_WITH_%s=ON)", what, parts[i].name,
                                parts[i].packages, parts[i].option);
    pthread_once(&load_once, load);
    if (!loaded)
        return sdsinf__fail(err, SDSINF_ENOTSUP, "%s needs the plugin %s: "
                            "%s", what, SDSINF_PLUGIN_FILE, why);
    if ((loaded->holds & need) != need)
        return sdsinf__fail(err, SDSINF_ENOTSUP, "%s: the plugin %s lacks "
                            "it: install the plugin of this build", what,
                            SDSINF_PLUGIN_FILE);
    *out = loaded;
    return SDSINF_OK;
}

int sdsinf__plugin_channel(const char *name, sdsinf_err *err)
{
    const sdsinf__plugin *pl;
    if (strcmp(name, "mpi") != 0)
        return SDSINF_EINVAL;
    return sdsinf__plugin_get(SDSINF__PLUGIN_MPI, "channel 'mpi'", &pl, err);
}
