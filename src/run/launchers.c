/* run/launchers.c - the launcher registry: the built-in launchers
 * (launcher_local.c, launcher_threads.c, launcher_external.c,
 * launcher_mpi.c, whose MPI comes with the MPI plugin when a run starts,
 * and launcher_lambda.c in builds with the AWS client) and those
 * registered by programs, found by name. */
#include "channels/channels.h" /* SDSINF__BUILT_AWS */
#include "plugin/plugin.h"
#include "run/run.h"

#include <pthread.h>
#include <string.h>

/* The built-in launchers, with the plugin part each needs (0: none). */
static const struct {
    const sdsinf_launcher_methods *m;
    unsigned plugin;
} builtins[] = {{&sdsinf__launcher_local, 0},
                {&sdsinf__launcher_threads, 0},
                {&sdsinf__launcher_external, 0},
                {&sdsinf__launcher_mpi, SDSINF__PLUGIN_MPI},
#if SDSINF__BUILT_AWS
                {&sdsinf__launcher_lambda, 0},
#endif
};
#define NBUILTIN (sizeof builtins / sizeof *builtins)

/* The launchers a build may leave out, and what it then needs. */
static const struct {
    const char *name, *needs;
    int built;
} optional[] = {{"lambda", "the AWS client: libcurl, libxml2 and libcrypto "
                           "(apt-get install libcurl4-openssl-dev "
                           "libxml2-dev libssl-dev, then cmake "
                           "-DSDSINF_WITH_AWS=ON)", SDSINF__BUILT_AWS}};

#define DEFAULT_LAUNCHER "local"
#define MAX_LAUNCHERS 32 /* registered tables, built-ins included */

static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static const sdsinf_launcher_methods *reg[MAX_LAUNCHERS];
static int reg_count;

/* Enters the built-in launchers, once. */
static void reg_builtins(void)
{
    for (size_t i = 0; i < NBUILTIN; i++)
        reg[reg_count++] = builtins[i].m;
}

/* SDSINF_OK when the table can be used by this library. */
static int check_methods(const sdsinf_launcher_methods *m, sdsinf_err *err)
{
    const char *name = m->name;
    int rc = sdsinf__table_check("launcher", m->version,
                                 SDSINF_LAUNCHER_VERSION, name, err);
    if (rc != SDSINF_OK)
        return rc;
    if (!m->start)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "launcher '%s': start must be set in its table",
                            name);
    return SDSINF_OK;
}

int sdsinf_launcher_register(const sdsinf_launcher_methods *m,
                             sdsinf_err *err)
{
    if (!m)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "sdsinf_launcher_register: NULL table");
    int rc = check_methods(m, err);
    if (rc != SDSINF_OK)
        return rc;
    pthread_once(&reg_once, reg_builtins);
    pthread_mutex_lock(&reg_mu);
    int i = 0;
    while (i < reg_count && strcmp(reg[i]->name, m->name) != 0)
        i++;
    if (i == MAX_LAUNCHERS) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM,
                          "launcher '%s': the registry is full (%d "
                          "launchers)", m->name, MAX_LAUNCHERS);
    } else {
        reg[i] = m; /* a new entry, or the replacement of one */
        if (i == reg_count)
            reg_count++;
    }
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

const sdsinf_launcher_methods *sdsinf_launcher_find(const char *name)
{
    const sdsinf_launcher_methods *found = NULL;
    if (!name || !name[0])
        name = DEFAULT_LAUNCHER;
    pthread_once(&reg_once, reg_builtins);
    pthread_mutex_lock(&reg_mu);
    for (int i = 0; i < reg_count && !found; i++)
        if (strcmp(reg[i]->name, name) == 0)
            found = reg[i];
    pthread_mutex_unlock(&reg_mu);
    return found;
}

int sdsinf__launcher_resolve(const char *name,
                             const sdsinf_launcher_methods **out,
                             sdsinf_err *err)
{
    const sdsinf_launcher_methods *m = sdsinf_launcher_find(name);
    *out = m;
    for (size_t i = 0; !m && i < sizeof optional / sizeof *optional; i++)
        if (!optional[i].built && !strcmp(name, optional[i].name))
            return sdsinf__fail(err, SDSINF_ENOTSUP, "launcher %s: this "
                                "build left it out; it needs %s", name,
                                optional[i].needs);
    if (!m) {
        char names[160];
        size_t n = 0;
        names[0] = 0;
        pthread_mutex_lock(&reg_mu);
        for (int i = 0; i < reg_count && n + 1 < sizeof names; i++) {
            int k = snprintf(names + n, sizeof names - n, "%s%s",
                             i ? ", " : "", reg[i]->name);
            n += k > 0 ? (size_t)k : 0;
        }
        pthread_mutex_unlock(&reg_mu);
        return sdsinf__fail(err, SDSINF_EINVAL, "unknown launcher '%s' "
                            "(known: %s)", name, names);
    }
    for (size_t i = 0; i < NBUILTIN; i++)
        if (m == builtins[i].m && builtins[i].plugin) {
            const sdsinf__plugin *pl;
            char what[SDSINF__MAX_NAME + 16];
            snprintf(what, sizeof what, "launcher %s", m->name);
            return sdsinf__plugin_get(builtins[i].plugin, what, &pl, err);
        }
    return check_methods(m, err);
}

/* Whether launcher lm's workers can use channel cm: threads of one
 * process any, processes one that works between processes or one the
 * launcher brings (the own_channels it names). */
static int launcher_owns(const sdsinf_launcher_methods *lm,
                         const sdsinf_channel_methods *cm)
{
    for (const char *const *n = lm->own_channels; n && *n; n++)
        if (!strcmp(*n, cm->name))
            return 1;
    return 0;
}

int sdsinf__launcher_fits(const sdsinf_launcher_methods *lm,
                          const sdsinf_channel_methods *cm)
{
    return (lm->caps & SDSINF_LAUNCH_SHARES_MEMORY) ||
           (cm->caps & SDSINF_CAP_PROCESSES) || launcher_owns(lm, cm);
}

void sdsinf__launchers_for(const sdsinf_channel_methods *cm, char *buf,
                           size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    pthread_once(&reg_once, reg_builtins);
    pthread_mutex_lock(&reg_mu);
    /* The launchers that bring cm, else those whose workers share memory. */
    for (int pass = 0; pass < 2 && !n; pass++)
        for (int i = 0; i < reg_count && n + 1 < cap; i++) {
            const sdsinf_launcher_methods *lm = reg[i];
            if (pass == 0 ? !launcher_owns(lm, cm)
                          : !(lm->caps & SDSINF_LAUNCH_SHARES_MEMORY))
                continue;
            int k = snprintf(buf + n, cap - n, "%s--launcher %s%s",
                             n ? " or " : "", lm->name,
                             lm->caps & SDSINF_LAUNCH_IN_JOB
                                 ? " under mpirun -n W"
                                 : "");
            n += k > 0 ? (size_t)k : 0;
        }
    pthread_mutex_unlock(&reg_mu);
    if (n >= cap)
        buf[cap - 1] = 0;
}
