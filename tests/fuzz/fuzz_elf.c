/* fuzz_elf.c - fuzz target: the ELF reader of the Lambda package
 * (package/elf.h): any bytes read as an executable or a shared library.
 * No input may crash it; what it returns must point inside the input: the
 * names it gives end inside it, and the symbols asking for each version
 * need are walked (each a string inside the input) with the glibc check
 * applied to every version's name. */
#include "fuzz_input.h"
#include "package/package.h"

#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
    if (!ok)
        abort();
}

static const uint8_t *g_data;
static size_t g_size;

/* A string the reader returned: it starts inside the input and its
 * terminator is there too. */
static void inside(const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    check(p >= g_data && p < g_data + g_size);
    check(memchr(p, 0, (size_t)(g_data + g_size - p)) != NULL);
}

static int each_symbol(void *u, const char *name)
{
    (void)u;
    inside(name);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sdsinf__elf e;
    sdsinf_err err = {0};
    g_data = data;
    g_size = size;
    if (sdsinf__elf_read(data, size, "input", &e, &err) != SDSINF_OK) {
        check(err.msg[0] != 0);
        sdsinf__elf_free(&e);
        return 0;
    }
    for (int i = 0; i < e.nneeded; i++)
        inside(e.needed[i]);
    const char *names[] = {e.soname, e.rpath, e.runpath};
    for (int i = 0; i < 3; i++)
        if (names[i])
            inside(names[i]);
    for (int i = 0; i < e.nneeds; i++) {
        unsigned major, minor;
        inside(e.needs[i].file);
        inside(e.needs[i].version);
        /* (the package walks the symbols of offending needs only: a
         * few, so the first few here, not needs x symbols) */
        if (!sdsinf__glibc_version_ok(e.needs[i].version, &major, &minor) &&
            i < 8)
            sdsinf__elf_symbols(&e, e.needs[i].index, each_symbol, NULL);
    }
    sdsinf__elf_free(&e);
    return 0;
}
