/* package/elf.h - what the dynamic loader reads of an ELF file (internal),
 * bounds-checked against any bytes: the machine, the libraries the file
 * needs (DT_NEEDED), its soname and search paths (DT_RPATH, DT_RUNPATH),
 * and its symbol version needs (.gnu.version_r) with the undefined symbols
 * that ask for each.  Everything is found through the program headers and
 * the dynamic segment, as the loader finds it (section headers may be
 * stripped).  64-bit little-endian files only: Lambda runs x86_64 and
 * arm64. */
#ifndef SDSINF_PACKAGE_ELF_H
#define SDSINF_PACKAGE_ELF_H

#include "core/core.h"

#include <stddef.h>

#define SDSINF_ELF_X86_64 62   /* e_machine values */
#define SDSINF_ELF_AARCH64 183

/* One version need: `version` ("GLIBC_2.34") of library `file`; symbols
 * that ask for it carry version index `index`. */
typedef struct sdsinf__elf_need {
    const char *file, *version;
    unsigned index;
} sdsinf__elf_need;

/* A file read (strings point into its bytes: borrowed while they live). */
typedef struct sdsinf__elf {
    const unsigned char *data; /* the file's bytes (the caller's) */
    size_t len;
    unsigned machine;          /* e_machine */
    int dynamic;               /* 0: a static executable (no PT_DYNAMIC) */
    const char *soname, *rpath, *runpath; /* NULL when absent */
    const char **needed;       /* DT_NEEDED in order (the array is owned) */
    int nneeded;
    sdsinf__elf_need *needs;   /* (owned) */
    int nneeds;
    /* the dynamic symbols, for sdsinf__elf_symbols (file offsets) */
    size_t strtab, strsz, symtab, versym, nsyms; /* nsyms 0: unknown */
    /* the version needs, for sdsinf__elf_drop_needs (file offsets: the
     * first Verneed, the values of DT_VERNEED and DT_VERNEEDNUM) */
    size_t verneed, dt_verneed, dt_verneednum;
} sdsinf__elf;

/* Reads the ELF file data (len bytes, kept by the caller while *e is
 * used); name names it in messages.  SDSINF_EPARSE for bytes that are not
 * such a file or point outside it; the caller frees *e either way. */
int sdsinf__elf_read(const void *data, size_t len, const char *name,
                     sdsinf__elf *e, sdsinf_err *err);
void sdsinf__elf_free(sdsinf__elf *e);

/* fn(u, name) for each undefined dynamic symbol asking for version index
 * `index`, in table order; a nonzero return stops and is returned. */
int sdsinf__elf_symbols(const sdsinf__elf *e, unsigned index,
                        int (*fn)(void *u, const char *name), void *u);

/* Drops the version needs of library `file` from the file's bytes (data,
 * which e was read from): its Verneed entry leaves the chain (DT_VERNEED
 * moves past it when it is the first; DT_VERNEEDNUM and the section
 * header's count are one less) and the symbols that asked for its
 * versions ask for none (VER_NDX_GLOBAL), so the loader binds them to the
 * library's defaults and checks no version of it.  1 when dropped (read e
 * again), 0 when the file asks none of it, or it is the only library
 * asked (the chain cannot be empty), or the symbols' count is unknown. */
int sdsinf__elf_drop_needs(unsigned char *data, const sdsinf__elf *e,
                           const char *file);

/* "x86_64" or "arm64" for a machine Lambda runs, else NULL. */
const char *sdsinf__elf_arch(unsigned machine);

#endif /* SDSINF_PACKAGE_ELF_H */
