/* run/worker_cache.c - the cache of a process that runs workers one after
 * another (a warm Lambda function): the last worker's plan and shard, and
 * their key.  The key names the files by identity besides their location
 * (a local file's device, inode, size and modification time; an s3://
 * object's ETag, size and Last-Modified, one HEAD each: location.h), so a
 * plan partitioned again in the same place is loaded again, and holds the
 * spec's settings that shape the loaded shard (worker, workers, bias,
 * ymax). */
#include "core/location.h"
#include "run/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends location loc's identity to buf (len of cap bytes used); 0 when
 * it cannot be seen or buf is full. */
static int add_identity(char *buf, size_t cap, size_t *len, const char *loc)
{
    char id[256];
    if (*len >= cap ||
        sdsinf__location_identity(loc, id, sizeof id, NULL) != SDSINF_OK)
        return 0;
    int n = snprintf(buf + *len, cap - *len, "|%s@%s", loc, id);
    if (n < 0 || (size_t)n >= cap - *len)
        return 0;
    *len += (size_t)n;
    return 1;
}

char *sdsinf__worker_cache_key(const sdsinf_worker_spec *s)
{
    size_t cap = 3 * 4200 + 128, len = 0;
    char plan[4200], shard[4200], *key = sdsinf__malloc(cap), *end = NULL;
    int n = snprintf(plan, sizeof plan, "%s/plan.bin", s->plan_dir);
    int m = snprintf(shard, sizeof shard, "%s/shard-%d.sdsinf", s->plan_dir,
                     s->worker);
    int k = key ? snprintf(key, cap, "%d/%d|%s|%.9g", s->worker, s->workers,
                           s->bias ? s->bias : "-", (double)s->ymax)
                : -1;
    if (k < 0 || (size_t)k >= cap || n < 0 || (size_t)n >= sizeof plan ||
        m < 0 || (size_t)m >= sizeof shard) {
        sdsinf__free(key);
        return NULL;
    }
    len = (size_t)k;
    if (s->bias) /* a bias file, not a number: its identity too */
        strtod(s->bias, &end);
    if (!add_identity(key, cap, &len, plan) ||
        !add_identity(key, cap, &len, shard) ||
        (s->bias && *end && !add_identity(key, cap, &len, s->bias))) {
        sdsinf__free(key);
        return NULL;
    }
    return key;
}

void sdsinf__worker_cache_clear(sdsinf_worker_cache *c)
{
    sdsinf__free(c->key);
    c->key = NULL;
    sdsinf_plan_free(c->plan);
    c->plan = NULL;
    sdsinf__local_shard_free(&c->shard);
}

int sdsinf_worker_cache_new(sdsinf_worker_cache **out, sdsinf_err *err)
{
    sdsinf_worker_cache *c = sdsinf__calloc(1, sizeof *c);
    if (!c)
        return sdsinf__fail(err, SDSINF_ENOMEM, "no memory for the worker "
                            "cache");
    *out = c;
    return SDSINF_OK;
}

void sdsinf_worker_cache_free(sdsinf_worker_cache *c)
{
    if (!c)
        return;
    sdsinf__worker_cache_clear(c);
    sdsinf__free(c);
}

int64_t sdsinf_worker_cache_loads(const sdsinf_worker_cache *c)
{
    return c ? c->loads : 0;
}
