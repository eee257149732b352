/* channels/settings.c - the channels' key=value settings lists. */
#include "channels/settings.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int sdsinf__setting_next(const char **s, sdsinf__setting *out)
{
    const char *p = *s;
    if (!p || !*p)
        return 0;
    size_t len = strcspn(p, ",");
    const char *eq = memchr(p, '=', len);
    out->item = p;
    out->len = len;
    out->key = p;
    out->klen = eq ? (size_t)(eq - p) : 0;
    out->val = eq ? eq + 1 : p + len;
    out->vlen = eq ? len - out->klen - 1 : 0;
    *s = p + len + (p[len] == ',');
    return 1;
}

int sdsinf__setting_is(const sdsinf__setting *st, const char *key)
{
    return st->klen > 0 && strlen(key) == st->klen &&
           !strncmp(st->key, key, st->klen);
}

int64_t sdsinf__setting_decimal(const sdsinf__setting *st, int digits,
                                int64_t lo, int64_t hi)
{
    int64_t v = 0;
    if (st->vlen == 0 || st->vlen > (size_t)digits || digits > 18)
        return -1;
    for (size_t i = 0; i < st->vlen; i++) {
        if (st->val[i] < '0' || st->val[i] > '9')
            return -1;
        v = v * 10 + (st->val[i] - '0');
    }
    return v < lo || v > hi ? -1 : v;
}

int sdsinf__setting_int(const sdsinf__setting *st, int lo, int hi)
{
    return (int)sdsinf__setting_decimal(st, 9, lo, hi);
}

int sdsinf__setting_name(const sdsinf__setting *st, const char *extra,
                         char *out, size_t cap)
{
    if (st->vlen == 0 || st->vlen >= cap)
        return -1;
    for (size_t i = 0; i < st->vlen; i++) {
        char c = st->val[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              (c && strchr(extra, c))))
            return -1;
    }
    memcpy(out, st->val, st->vlen);
    out[st->vlen] = 0;
    return 0;
}

int sdsinf__config_copy(const char *config, char *out, size_t cap,
                        sdsinf_err *err)
{
    if (snprintf(out, cap, "%s", config ? config : "") >= (int)cap)
        return sdsinf__fail(err, SDSINF_EINVAL, "channel setting %.80s...: "
                            "too long (at most %zu bytes)", config, cap - 1);
    return SDSINF_OK;
}

int sdsinf__config_dir_absolute(const char *config, char *out, size_t cap,
                                sdsinf_err *err)
{
    if (!config || !config[0])
        return sdsinf__config_copy(config, out, cap, err);
    if (sdsinf__absolute_path(config, out, cap) != 0)
        return sdsinf__fail(err, SDSINF_EINVAL, "channel directory %.80s: "
                            "cannot make it absolute (%s): give an absolute "
                            "path, at most %zu bytes", config,
                            strerror(errno), cap - 1);
    return SDSINF_OK;
}
