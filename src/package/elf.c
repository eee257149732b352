/* package/elf.c - an ELF file's dynamic dependencies and version needs
 * (elf.h), every offset and count checked against the file's size before
 * it is read, and the version needs of a library dropped (the package's
 * fix for a library of the target system that has none).  Sections:
 * reading, the header and segments, the dynamic section, version needs,
 * symbols. */
#include "package/elf.h"

#include <stdint.h>
#include <string.h>

#define EHDR_SIZE 64
#define PHDR_SIZE 56
#define DYN_SIZE 16
#define SYM_SIZE 24
#define VERNEED_SIZE 16
#define VERNAUX_SIZE 16
#define MAX_NEEDS 65535 /* version indexes are 15 bits; more is no file */

enum { PT_LOAD_ = 1, PT_DYNAMIC_ = 2 };
enum {
    DT_NULL_ = 0, DT_NEEDED_ = 1, DT_HASH_ = 4, DT_STRTAB_ = 5,
    DT_SYMTAB_ = 6, DT_STRSZ_ = 10, DT_SYMENT_ = 11, DT_SONAME_ = 14,
    DT_RPATH_ = 15, DT_RUNPATH_ = 29
};
#define DT_GNU_HASH_ 0x6ffffef5ull
#define DT_VERSYM_ 0x6ffffff0ull
#define DT_VERNEED_ 0x6ffffffeull
#define DT_VERNEEDNUM_ 0x6fffffffull

/* ---- Reading ---------------------------------------------------------------- */

static uint16_t rd16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void wr32(unsigned char *p, uint32_t v)
{
    wr16(p, (uint16_t)v);
    wr16(p + 2, (uint16_t)(v >> 16));
}

static void wr64(unsigned char *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

/* Whether n bytes at off lie inside the file. */
static int inside(const sdsinf__elf *e, uint64_t off, uint64_t n)
{
    return off <= e->len && n <= e->len - off;
}

static int bad(const char *name, const char *what, sdsinf_err *err)
{
    return sdsinf__fail(err, SDSINF_EPARSE, "%.200s: not an ELF file the "
                        "loader could use: %s", name, what);
}

/* The string at offset off of the dynamic string table, or NULL when it
 * does not end inside the table. */
static const char *string_at(const sdsinf__elf *e, uint64_t off)
{
    if (off >= e->strsz)
        return NULL;
    const unsigned char *s = e->data + e->strtab + off;
    return memchr(s, 0, e->strsz - off) ? (const char *)s : NULL;
}

/* ---- The header and segments -------------------------------------------------- */

typedef struct segments {
    uint64_t phoff;
    unsigned phnum;
} segments;

/* The file offset of n bytes at virtual address addr (a PT_LOAD segment
 * holds them in the file), or -1. */
static int64_t file_offset(const sdsinf__elf *e, const segments *s,
                           uint64_t addr, uint64_t n)
{
    for (unsigned i = 0; i < s->phnum; i++) {
        const unsigned char *ph = e->data + s->phoff + (uint64_t)i * PHDR_SIZE;
        uint64_t off = rd64(ph + 8), vaddr = rd64(ph + 16),
                 filesz = rd64(ph + 32);
        if (rd32(ph) != PT_LOAD_ || addr < vaddr || addr - vaddr >= filesz ||
            n > filesz - (addr - vaddr))
            continue;
        uint64_t at = off + (addr - vaddr);
        return at >= off && inside(e, at, n) && at <= INT64_MAX ? (int64_t)at
                                                                 : -1;
    }
    return -1;
}

/* ---- The dynamic section ------------------------------------------------------- */

typedef struct dyn_values {
    uint64_t strtab, strsz, symtab, syment, hash, gnu_hash, versym, verneed,
        verneednum;
    int has[8]; /* strtab, symtab, hash, gnu_hash, versym, verneed */
} dyn_values;

enum { HAS_STRTAB, HAS_SYMTAB, HAS_HASH, HAS_GNU_HASH, HAS_VERSYM,
       HAS_VERNEED };

/* The dynamic entries' values (one pass; DT_NEEDED and the names later,
 * once the string table is known). */
static void dyn_scan(const unsigned char *d, uint64_t n, dyn_values *v)
{
    memset(v, 0, sizeof *v);
    v->syment = SYM_SIZE;
    for (uint64_t i = 0; i < n; i++, d += DYN_SIZE) {
        uint64_t tag = rd64(d), val = rd64(d + 8);
        if (tag == DT_NULL_)
            break;
        switch (tag) {
        case DT_STRTAB_: v->strtab = val, v->has[HAS_STRTAB] = 1; break;
        case DT_STRSZ_: v->strsz = val; break;
        case DT_SYMTAB_: v->symtab = val, v->has[HAS_SYMTAB] = 1; break;
        case DT_SYMENT_: v->syment = val; break;
        case DT_HASH_: v->hash = val, v->has[HAS_HASH] = 1; break;
        case DT_GNU_HASH_: v->gnu_hash = val, v->has[HAS_GNU_HASH] = 1; break;
        case DT_VERSYM_: v->versym = val, v->has[HAS_VERSYM] = 1; break;
        case DT_VERNEED_: v->verneed = val, v->has[HAS_VERNEED] = 1; break;
        case DT_VERNEEDNUM_: v->verneednum = val; break;
        default: break;
        }
    }
}

/* The file offset of the value of dynamic entry `tag` (the first) into
 * *at; 0 when there is none. */
static void dyn_value_at(const sdsinf__elf *e, uint64_t dyn, uint64_t n,
                         uint64_t tag, size_t *at)
{
    *at = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t = rd64(e->data + dyn + i * DYN_SIZE);
        if (t == DT_NULL_)
            return;
        if (t == tag) {
            *at = (size_t)(dyn + i * DYN_SIZE + 8);
            return;
        }
    }
}

/* DT_NEEDED, DT_SONAME, DT_RPATH and DT_RUNPATH as strings. */
static int dyn_names(sdsinf__elf *e, const unsigned char *d, uint64_t n,
                     const char *name, sdsinf_err *err)
{
    uint64_t count = 0;
    for (uint64_t i = 0; i < n && rd64(d + i * DYN_SIZE) != DT_NULL_; i++)
        count += rd64(d + i * DYN_SIZE) == DT_NEEDED_;
    if (count && !(e->needed = sdsinf__mallocarray(count, sizeof *e->needed)))
        return sdsinf__fail(err, SDSINF_ENOMEM, "%.200s: no memory", name);
    for (uint64_t i = 0; i < n; i++, d += DYN_SIZE) {
        uint64_t tag = rd64(d);
        if (tag == DT_NULL_)
            break;
        if (tag != DT_NEEDED_ && tag != DT_SONAME_ && tag != DT_RPATH_ &&
            tag != DT_RUNPATH_)
            continue;
        const char *s = string_at(e, rd64(d + 8));
        if (!s)
            return bad(name, "a dynamic entry's name lies outside the "
                       "string table", err);
        if (tag == DT_NEEDED_)
            e->needed[e->nneeded++] = s;
        else if (tag == DT_SONAME_)
            e->soname = s;
        else if (tag == DT_RPATH_)
            e->rpath = s;
        else
            e->runpath = s;
    }
    return SDSINF_OK;
}

/* ---- Version needs -------------------------------------------------------------- */

static int add_need(sdsinf__elf *e, const char *file, const char *version,
                    unsigned index, int *cap)
{
    if (e->nneeds == *cap) {
        int nc = *cap ? 2 * *cap : 16;
        sdsinf__elf_need *m =
            sdsinf__realloc(e->needs, (size_t)nc * sizeof *m);
        if (!m)
            return SDSINF_ENOMEM;
        e->needs = m;
        *cap = nc;
    }
    e->needs[e->nneeds++] = (sdsinf__elf_need){file, version, index};
    return SDSINF_OK;
}

/* The chain of Verneed entries at off (count of them), each with its
 * chain of Vernaux entries: both linked by relative offsets. */
static int read_needs(sdsinf__elf *e, uint64_t off, uint64_t count,
                      const char *name, sdsinf_err *err)
{
    int cap = 0;
    for (uint64_t i = 0; i < count; i++) {
        if (!inside(e, off, VERNEED_SIZE))
            return bad(name, "a version need lies outside the file", err);
        const unsigned char *vn = e->data + off;
        const char *file = string_at(e, rd32(vn + 4));
        uint64_t aux = off + rd32(vn + 8);
        if (!file)
            return bad(name, "a version need's file name lies outside the "
                       "string table", err);
        for (unsigned j = 0; j < rd16(vn + 2); j++) {
            if (!inside(e, aux, VERNAUX_SIZE))
                return bad(name, "a version need lies outside the file", err);
            const unsigned char *va = e->data + aux;
            const char *version = string_at(e, rd32(va + 8));
            if (!version)
                return bad(name, "a version's name lies outside the string "
                           "table", err);
            if (e->nneeds == MAX_NEEDS)
                return bad(name, "more version needs than version indexes",
                           err);
            if (add_need(e, file, version, rd16(va + 6) & 0x7fffu, &cap) !=
                SDSINF_OK)
                return sdsinf__fail(err, SDSINF_ENOMEM, "%.200s: no memory",
                                    name);
            if (rd32(va + 12) == 0)
                break;
            aux += rd32(va + 12);
        }
        if (rd32(vn + 12) == 0)
            break;
        off += rd32(vn + 12);
    }
    return SDSINF_OK;
}

/* ---- Symbols ---------------------------------------------------------------------- */

/* How many dynamic symbols there are, from DT_HASH's chain count or
 * DT_GNU_HASH's buckets and chains; 0 when neither tells. */
static uint64_t symbol_count(const sdsinf__elf *e, const segments *s,
                             const dyn_values *v)
{
    int64_t at;
    if (v->has[HAS_HASH] && (at = file_offset(e, s, v->hash, 8)) >= 0)
        return rd32(e->data + at + 4);
    if (!v->has[HAS_GNU_HASH] || (at = file_offset(e, s, v->gnu_hash, 16)) < 0)
        return 0;
    const unsigned char *h = e->data + at;
    uint64_t nbuckets = rd32(h), symoffset = rd32(h + 4),
             bloom = rd32(h + 8), buckets = (uint64_t)at + 16 + bloom * 8;
    if (!inside(e, buckets, nbuckets * 4))
        return 0;
    uint64_t last = 0; /* the highest symbol index a bucket starts at */
    for (uint64_t b = 0; b < nbuckets; b++) {
        uint64_t first = rd32(e->data + buckets + b * 4);
        last = first > last ? first : last;
    }
    if (last < symoffset)
        return symoffset;
    /* walk that bucket's chain to its end (the entry with bit 0 set) */
    uint64_t chain = buckets + nbuckets * 4;
    for (uint64_t i = last;; i++) {
        uint64_t entry = chain + (i - symoffset) * 4;
        if (!inside(e, entry, 4))
            return 0;
        if (rd32(e->data + entry) & 1)
            return i + 1;
    }
}

int sdsinf__elf_symbols(const sdsinf__elf *e, unsigned index,
                        int (*fn)(void *u, const char *name), void *u)
{
    for (size_t i = 1; i < e->nsyms; i++) {
        const unsigned char *sym = e->data + e->symtab + i * SYM_SIZE;
        const char *name = string_at(e, rd32(sym));
        if ((rd16(e->data + e->versym + 2 * i) & 0x7fffu) != index ||
            rd16(sym + 6) != 0 /* SHN_UNDEF: asked for, not defined */ ||
            !name)
            continue;
        int rc = fn(u, name);
        if (rc)
            return rc;
    }
    return 0;
}

/* The symbol table and its versions, where the file tells their size. */
static void symbols_find(sdsinf__elf *e, const segments *s,
                         const dyn_values *v)
{
    int64_t sym, ver;
    uint64_t n = symbol_count(e, s, v);
    if (!n || n > e->len / SYM_SIZE || v->syment != SYM_SIZE ||
        !v->has[HAS_SYMTAB] || !v->has[HAS_VERSYM] ||
        (sym = file_offset(e, s, v->symtab, n * SYM_SIZE)) < 0 ||
        (ver = file_offset(e, s, v->versym, n * 2)) < 0)
        return; /* names unknown: the needs are still checked */
    e->symtab = (size_t)sym;
    e->versym = (size_t)ver;
    e->nsyms = (size_t)n;
}

/* ---- The file ------------------------------------------------------------------------ */

int sdsinf__elf_read(const void *data, size_t len, const char *name,
                     sdsinf__elf *e, sdsinf_err *err)
{
    memset(e, 0, sizeof *e);
    e->data = data;
    e->len = len;
    const unsigned char *h = data;
    if (len < EHDR_SIZE || memcmp(h, "\177ELF", 4) != 0)
        return bad(name, "no ELF header", err);
    if (h[4] != 2 || h[5] != 1)
        return sdsinf__fail(err, SDSINF_EPARSE, "%.200s: a %s ELF file: "
                            "Lambda runs 64-bit little-endian ones (x86_64, "
                            "arm64)", name,
                            h[4] != 2 ? "32-bit" : "big-endian");
    unsigned type = rd16(h + 16);
    if (type != 2 && type != 3)
        return bad(name, "neither an executable nor a shared library", err);
    e->machine = rd16(h + 18);
    segments s = {rd64(h + 32), rd16(h + 56)};
    if (rd16(h + 54) != PHDR_SIZE || !inside(e, s.phoff,
                                             (uint64_t)s.phnum * PHDR_SIZE))
        return bad(name, "its program headers lie outside the file", err);
    uint64_t dyn = 0, ndyn = 0;
    for (unsigned i = 0; i < s.phnum; i++) {
        const unsigned char *ph = h + s.phoff + (uint64_t)i * PHDR_SIZE;
        if (rd32(ph) != PT_DYNAMIC_)
            continue;
        dyn = rd64(ph + 8);
        ndyn = rd64(ph + 32) / DYN_SIZE;
        e->dynamic = 1;
    }
    if (!e->dynamic)
        return SDSINF_OK; /* static: it needs nothing */
    if (!inside(e, dyn, ndyn * DYN_SIZE))
        return bad(name, "its dynamic section lies outside the file", err);
    dyn_values v;
    dyn_scan(h + dyn, ndyn, &v);
    int64_t str = v.has[HAS_STRTAB] ? file_offset(e, &s, v.strtab, v.strsz)
                                    : -1;
    if (str < 0 || v.strsz == 0)
        return bad(name, "no dynamic string table inside the file", err);
    e->strtab = (size_t)str;
    e->strsz = (size_t)v.strsz;
    int rc = dyn_names(e, h + dyn, ndyn, name, err);
    if (rc == SDSINF_OK && v.has[HAS_VERNEED]) {
        int64_t at = file_offset(e, &s, v.verneed, VERNEED_SIZE);
        rc = at < 0 ? bad(name, "its version needs lie outside the file", err)
                    : read_needs(e, (uint64_t)at, v.verneednum, name, err);
        e->verneed = at < 0 ? 0 : (size_t)at;
        dyn_value_at(e, dyn, ndyn, DT_VERNEED_, &e->dt_verneed);
        dyn_value_at(e, dyn, ndyn, DT_VERNEEDNUM_, &e->dt_verneednum);
    }
    if (rc == SDSINF_OK)
        symbols_find(e, &s, &v);
    return rc;
}

void sdsinf__elf_free(sdsinf__elf *e)
{
    if (!e)
        return;
    sdsinf__free(e->needed);
    sdsinf__free(e->needs);
    e->needed = NULL;
    e->needs = NULL;
    e->nneeded = e->nneeds = 0;
}

/* The section header of the version needs (SHT_GNU_verneed) whose data
 * starts at file offset off, or NULL (stripped, or none). */
static unsigned char *verneed_section(unsigned char *data, size_t len,
                                      uint64_t off)
{
    uint64_t shoff = rd64(data + 40), shentsize = rd16(data + 58),
             shnum = rd16(data + 60);
    if (shentsize != 64 || shoff > len || shnum > (len - shoff) / 64)
        return NULL;
    for (uint64_t i = 0; i < shnum; i++) {
        unsigned char *sh = data + shoff + i * 64;
        if (rd32(sh + 4) == 0x6ffffffeu && rd64(sh + 24) == off)
            return sh;
    }
    return NULL;
}

int sdsinf__elf_drop_needs(unsigned char *data, const sdsinf__elf *e,
                           const char *file)
{
    uint64_t off = e->verneed, prev = 0;
    int first = 1;
    if (!e->verneed || !e->dt_verneed || !e->nsyms)
        return 0;
    for (;; first = 0) {
        if (!inside(e, off, VERNEED_SIZE))
            return 0;
        const char *f = string_at(e, rd32(data + off + 4));
        uint32_t next = rd32(data + off + 12);
        if (f && !strcmp(f, file))
            break;
        if (!next)
            return 0;
        prev = off;
        off += next;
    }
    uint32_t next = rd32(data + off + 12);
    if (first && !next)
        return 0; /* the only library asked */
    /* its versions' indexes: the symbols asking for them ask for none */
    uint64_t aux = off + rd32(data + off + 8);
    for (unsigned j = 0; j < rd16(data + off + 2); j++) {
        if (!inside(e, aux, VERNAUX_SIZE))
            return 0;
        unsigned index = rd16(data + aux + 6) & 0x7fffu;
        for (size_t i = 1; i < e->nsyms; i++) {
            unsigned char *vs = data + e->versym + 2 * i;
            if ((rd16(vs) & 0x7fffu) == index)
                wr16(vs, 1); /* VER_NDX_GLOBAL */
        }
        if (!rd32(data + aux + 12))
            break;
        aux += rd32(data + aux + 12);
    }
    unsigned char *sh = verneed_section(data, e->len, e->verneed);
    if (first) { /* the chain starts at the next one */
        wr64(data + e->dt_verneed, rd64(data + e->dt_verneed) + next);
        if (sh) {
            wr64(sh + 16, rd64(sh + 16) + next);
            wr64(sh + 24, rd64(sh + 24) + next);
            wr64(sh + 32, rd64(sh + 32) - next);
        }
    } else {
        uint32_t skip = rd32(data + prev + 12);
        wr32(data + prev + 12, next ? skip + next : 0);
    }
    if (e->dt_verneednum)
        wr64(data + e->dt_verneednum, rd64(data + e->dt_verneednum) - 1);
    if (sh)
        wr32(sh + 44, rd32(sh + 44) - 1);
    return 1;
}

const char *sdsinf__elf_arch(unsigned machine)
{
    return machine == SDSINF_ELF_X86_64    ? "x86_64"
           : machine == SDSINF_ELF_AARCH64 ? "arm64"
                                           : NULL;
}
