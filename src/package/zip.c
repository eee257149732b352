/* package/zip.c - stored zip entries and the central directory (zip.h),
 * as PKWARE's APPNOTE describes them: a local header before each file's
 * bytes, then one central header per file, then the end record. */
#include "package/zip.h"

#include <string.h>

#define LOCAL_SIG 0x04034b50u
#define CENTRAL_SIG 0x02014b50u
#define END_SIG 0x06054b50u
#define NEEDED 10           /* version needed to extract: 1.0, stored */
#define MADE_BY (3u << 8 | 20) /* Unix (so the modes count), spec 2.0 */
#define DOS_DATE ((0u << 9) | (1u << 5) | 1u) /* 1980-01-01, 00:00:00 */
#define S_IFREG_ 0100000u
#define S_IFDIR_ 0040000u
#define DOS_DIR 0x10u
#define ZIP_MAX 0xffffffffull

struct sdsinf__zip_entry {
    char *name;
    uint32_t crc, size, offset, attr;
};

uint32_t sdsinf__crc32(const void *data, size_t len)
{
    uint32_t table[256], c = 0xffffffffu;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t t = i;
        for (int k = 0; k < 8; k++)
            t = t & 1 ? 0xedb88320u ^ (t >> 1) : t >> 1;
        table[i] = t;
    }
    for (const unsigned char *p = data, *end = p + len; p < end; p++)
        c = table[(c ^ *p) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* Little-endian fields into a header being built. */
static unsigned char *put16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    return p + 2;
}

static unsigned char *put32(unsigned char *p, uint32_t v)
{
    return put16(put16(p, v & 0xffff), v >> 16);
}

static int emit(sdsinf__zip *z, const void *p, size_t n, sdsinf_err *err)
{
    if (n && fwrite(p, 1, n, z->f) != n)
        return sdsinf__fail(err, SDSINF_EIO, "writing the zip failed");
    z->offset += n;
    return SDSINF_OK;
}

void sdsinf__zip_init(sdsinf__zip *z, FILE *f)
{
    memset(z, 0, sizeof *z);
    z->f = f;
}

/* The fields a local and a central header share, from "version needed"
 * to the name's length. */
static unsigned char *common(unsigned char *p, const sdsinf__zip_entry *e,
                             size_t name_len)
{
    p = put16(p, NEEDED);
    p = put16(p, 0);        /* flags */
    p = put16(p, 0);        /* method: stored */
    p = put16(p, 0);        /* time */
    p = put16(p, DOS_DATE);
    p = put32(p, e->crc);
    p = put32(p, e->size);  /* compressed: the same */
    p = put32(p, e->size);
    return put16(p, (uint32_t)name_len);
}

int sdsinf__zip_add(sdsinf__zip *z, const char *name, unsigned mode,
                    const void *data, size_t len, sdsinf_err *err)
{
    size_t nl = strlen(name);
    int dir = nl && name[nl - 1] == '/';
    if (!nl || nl > 0xffff || (dir && len) || z->n == 0xffff)
        return sdsinf__fail(err, SDSINF_EINVAL, "zip: bad entry '%.100s'",
                            name);
    if ((uint64_t)len + z->offset + 30 + nl > ZIP_MAX)
        return sdsinf__fail(err, SDSINF_EINVAL, "zip: %.100s would take the "
                            "archive over 4 GiB", name);
    if (z->n == z->cap) {
        int nc = z->cap ? 2 * z->cap : 16;
        sdsinf__zip_entry *m = sdsinf__realloc(z->entries,
                                               (size_t)nc * sizeof *m);
        if (!m)
            return sdsinf__fail(err, SDSINF_ENOMEM, "zip: no memory");
        z->entries = m;
        z->cap = nc;
    }
    sdsinf__zip_entry *e = &z->entries[z->n];
    if (!(e->name = sdsinf__malloc(nl + 1)))
        return sdsinf__fail(err, SDSINF_ENOMEM, "zip: no memory");
    memcpy(e->name, name, nl + 1);
    e->crc = len ? sdsinf__crc32(data, len) : 0;
    e->size = (uint32_t)len;
    e->offset = (uint32_t)z->offset;
    /* the Unix mode in the high half, the DOS directory bit in the low */
    e->attr = ((dir ? S_IFDIR_ : S_IFREG_) | (mode & 07777)) << 16 |
              (dir ? DOS_DIR : 0);
    z->n++;
    unsigned char h[30], *p = put32(h, LOCAL_SIG);
    p = common(p, e, nl);
    put16(p, 0); /* extra field's length */
    int rc = emit(z, h, sizeof h, err);
    if (rc == SDSINF_OK)
        rc = emit(z, name, nl, err);
    if (rc == SDSINF_OK)
        rc = emit(z, data, len, err);
    return rc;
}

int sdsinf__zip_finish(sdsinf__zip *z, sdsinf_err *err)
{
    uint64_t start = z->offset;
    int rc = SDSINF_OK;
    for (int i = 0; rc == SDSINF_OK && i < z->n; i++) {
        const sdsinf__zip_entry *e = &z->entries[i];
        size_t nl = strlen(e->name);
        unsigned char h[46], *p = put32(h, CENTRAL_SIG);
        p = put16(p, MADE_BY);
        p = common(p, e, nl);
        p = put16(p, 0); /* extra */
        p = put16(p, 0); /* comment */
        p = put16(p, 0); /* disk */
        p = put16(p, 0); /* internal attributes */
        p = put32(p, e->attr);
        put32(p, e->offset);
        rc = emit(z, h, sizeof h, err);
        if (rc == SDSINF_OK)
            rc = emit(z, e->name, nl, err);
    }
    if (rc == SDSINF_OK && z->offset + 22 > ZIP_MAX)
        rc = sdsinf__fail(err, SDSINF_EINVAL, "zip: the archive would be "
                          "over 4 GiB");
    if (rc == SDSINF_OK) {
        unsigned char h[22], *p = put32(h, END_SIG);
        p = put16(p, 0); /* this disk */
        p = put16(p, 0); /* the directory's disk */
        p = put16(p, (uint32_t)z->n);
        p = put16(p, (uint32_t)z->n);
        p = put32(p, (uint32_t)(z->offset - start));
        p = put32(p, (uint32_t)start);
        put16(p, 0); /* comment */
        rc = emit(z, h, sizeof h, err);
    }
    sdsinf__zip_free(z);
    return rc;
}

void sdsinf__zip_free(sdsinf__zip *z)
{
    for (int i = 0; i < z->n; i++)
        sdsinf__free(z->entries[i].name);
    sdsinf__free(z->entries);
    z->entries = NULL;
    z->n = z->cap = 0;
}
