/* channels/settings.h - the comma-separated key=value lists that channels
 * take as --channel-config ("bucket=b,prefix=p,poll=20") (internal). */
#ifndef SDSINF_SETTINGS_H
#define SDSINF_SETTINGS_H

#include "core/core.h"

#include <stddef.h>

/* One item of a list: borrowed pointers into it. */
typedef struct sdsinf__setting {
    const char *item; /* the whole item, `len` bytes (for messages) */
    size_t len;
    const char *key, *val;
    size_t klen, vlen;
} sdsinf__setting;

/* The next item at *s into *out, *s moved past it: 1, or 0 at the end.
 * An item without '=' has an empty key (never a known one). */
int sdsinf__setting_next(const char **s, sdsinf__setting *out);
/* Whether the item's key is `key`. */
int sdsinf__setting_is(const sdsinf__setting *st, const char *key);
/* The value as a decimal of at most `digits` digits (up to 18) in
 * lo..hi (lo >= 0), else -1. */
int64_t sdsinf__setting_decimal(const sdsinf__setting *st, int digits,
                                int64_t lo, int64_t hi);
/* The value as a decimal of at most 9 digits in lo..hi, else -1. */
int sdsinf__setting_int(const sdsinf__setting *st, int lo, int hi);
/* Copies the value into out (cap bytes, NUL-terminated) when it is 1 to
 * cap - 1 bytes of a-z, 0-9 and the characters of `extra`: 0, else -1
 * (out untouched). */
int sdsinf__setting_name(const sdsinf__setting *st, const char *extra,
                         char *out, size_t cap);

/* config_prepare of the channels whose setting is a directory: config
 * made absolute against the working directory (NULL or empty: out
 * empty); SDSINF_EINVAL when it does not fit in cap bytes. */
int sdsinf__config_dir_absolute(const char *config, char *out, size_t cap,
                                sdsinf_err *err);
/* What a checked setting's config_prepare writes: config as given (NULL:
 * empty); SDSINF_EINVAL when it does not fit in cap bytes. */
int sdsinf__config_copy(const char *config, char *out, size_t cap,
                        sdsinf_err *err);

#endif /* SDSINF_SETTINGS_H */
