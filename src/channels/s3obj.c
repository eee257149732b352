/* channels/s3obj.c - the s3 channel's combined objects (see s3obj.h):
 * building, encoding and reading their trailer, every length checked. */
#include "channels/s3obj.h"

#include <string.h>

#define ENTRY 24          /* a trailer entry's bytes */
#define TAIL 8            /* {entries, magic} */
#define MAGIC 0x42533353u /* "S3SB" */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* Room for `more` bytes of blocks and one more entry; -1 for memory. */
static int grow(sdsinf__s3obj *o, size_t more)
{
    if (more > SIZE_MAX / 2 - o->len)
        return -1;
    if (o->len + more > o->cap) {
        size_t cap = o->cap ? o->cap : 65536;
        while (cap < o->len + more)
            cap *= 2;
        unsigned char *d = sdsinf__realloc(o->data, cap);
        if (!d)
            return -1;
        o->data = d;
        o->cap = cap;
    }
    if (o->n == o->ecap) {
        uint32_t ecap = o->ecap ? 2 * o->ecap : 16;
        sdsinf__s3obj_entry *e = sdsinf__realloc(o->e, ecap * sizeof *e);
        if (!e)
            return -1;
        o->e = e;
        o->ecap = ecap;
    }
    return 0;
}

int sdsinf__s3obj_add(sdsinf__s3obj *o, uint32_t target, const void *block,
                      size_t len)
{
    if (grow(o, len) != 0)
        return -1;
    uint32_t i = 0;
    while (i < o->n && o->e[i].target != target)
        i++;
    o->n += i == o->n;
    o->e[i] = (sdsinf__s3obj_entry){target, o->len, len};
    if (len)
        memcpy(o->data + o->len, block, len);
    o->len += len;
    return 0;
}

int sdsinf__s3obj_encode(const sdsinf__s3obj *o, unsigned char **out,
                         size_t *len)
{
    size_t n = o->len + TAIL + (size_t)o->n * ENTRY;
    unsigned char *b = sdsinf__malloc(n), *p;
    if (!b)
        return -1;
    if (o->len)
        memcpy(b, o->data, o->len);
    p = b + o->len;
    for (uint32_t i = 0; i < o->n; i++, p += ENTRY) {
        put_u32(p, o->e[i].target);
        put_u32(p + 4, 0);
        put_u64(p + 8, o->e[i].offset);
        put_u64(p + 16, o->e[i].len);
    }
    put_u32(p, o->n);
    put_u32(p + 4, MAGIC);
    *out = b;
    *len = n;
    return 0;
}

int sdsinf__s3obj_parse(const unsigned char *tail, size_t got, uint64_t size,
                        sdsinf__s3obj *o, uint64_t *blocks, uint64_t *need)
{
    if (size < TAIL || got < TAIL || got > size)
        return SDSINF__S3OBJ_BAD;
    uint32_t n = get_u32(tail + got - TAIL);
    if (get_u32(tail + got - 4) != MAGIC || n > (size - TAIL) / ENTRY)
        return SDSINF__S3OBJ_BAD;
    *need = TAIL + (uint64_t)n * ENTRY;
    if (*need > got)
        return SDSINF__S3OBJ_SHORT;
    *blocks = size - *need;
    const unsigned char *p = tail + got - *need;
    o->n = 0;
    for (uint32_t i = 0; i < n; i++, p += ENTRY) {
        sdsinf__s3obj_entry e = {get_u32(p), get_u64(p + 8), get_u64(p + 16)};
        if (e.offset > *blocks || e.len > *blocks - e.offset)
            return SDSINF__S3OBJ_BAD;
        if (grow(o, 0) != 0)
            return -3;
        o->e[o->n++] = e;
    }
    return 0;
}

int sdsinf__s3obj_load(sdsinf__s3obj *o, const unsigned char *bytes,
                       size_t len)
{
    uint64_t blocks = 0, need = 0;
    sdsinf__s3obj_clear(o);
    int r = sdsinf__s3obj_parse(bytes, len, len, o, &blocks, &need);
    if (r != 0)
        return r;
    if (grow(o, (size_t)blocks) != 0)
        return -3;
    if (blocks)
        memcpy(o->data, bytes, (size_t)blocks);
    o->len = (size_t)blocks;
    return 0;
}

const sdsinf__s3obj_entry *sdsinf__s3obj_find(const sdsinf__s3obj *o,
                                              uint32_t target)
{
    const sdsinf__s3obj_entry *found = NULL;
    for (uint32_t i = 0; i < o->n; i++)
        if (o->e[i].target == target)
            found = &o->e[i];
    return found;
}

void sdsinf__s3obj_clear(sdsinf__s3obj *o)
{
    o->len = 0;
    o->n = 0;
}

void sdsinf__s3obj_free(sdsinf__s3obj *o)
{
    sdsinf__free(o->data);
    sdsinf__free(o->e);
    memset(o, 0, sizeof *o);
}
