/* test_package.c - the Lambda package's parts: CRC-32 and the zip writer
 * (the archive's records where APPNOTE puts them), the glibc version rule,
 * the list of Amazon Linux 2023's libraries, the ELF reader on this very
 * program, and the libraries gathered for it (cmocka, which AL2023 lacks,
 * found where the loader finds it). */
#include "testutil.h"

#include "package/package.h"
#include "package/zip.h"

#include <stdlib.h>
#include <string.h>

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static unsigned le16(const unsigned char *p)
{
    return (unsigned)(p[0] | p[1] << 8);
}

static void test_crc32(void **state)
{
    (void)state;
    assert_int_equal(sdsinf__crc32("123456789", 9), 0xcbf43926u);
    assert_int_equal(sdsinf__crc32("", 0), 0);
}

static void test_zip_records(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    sdsinf__zip z;
    sdsinf_err err = {0};
    assert_non_null(f);
    sdsinf__zip_init(&z, f);
    assert_int_equal(sdsinf__zip_add(&z, "bootstrap", 0755, "abc", 3, &err),
                     SDSINF_OK);
    assert_int_equal(sdsinf__zip_add(&z, "lib/", 0755, NULL, 0, &err),
                     SDSINF_OK);
    assert_int_equal(sdsinf__zip_add(&z, "", 0644, NULL, 0, &err),
                     SDSINF_EINVAL);
    uint64_t size = 0;
    assert_int_equal(sdsinf__zip_finish(&z, &err), SDSINF_OK);
    size = z.offset;
    assert_int_equal(fclose(f), 0);
    const unsigned char *b = (const unsigned char *)buf;
    assert_int_equal(len, size);
    /* the first local header: stored, the data's CRC and size, the name */
    assert_int_equal(le32(b), 0x04034b50u);
    assert_int_equal(le16(b + 8), 0);
    assert_int_equal(le32(b + 14), sdsinf__crc32("abc", 3));
    assert_int_equal(le32(b + 18), 3);
    assert_memory_equal(b + 30, "bootstrap", 9);
    assert_memory_equal(b + 39, "abc", 3);
    /* the end record: 2 entries, the directory where it says */
    const unsigned char *end = b + len - 22;
    assert_int_equal(le32(end), 0x06054b50u);
    assert_int_equal(le16(end + 10), 2);
    const unsigned char *cd = b + le32(end + 16);
    assert_int_equal(le32(cd), 0x02014b50u);
    assert_int_equal(le16(cd + 4) >> 8, 3); /* made on Unix */
    assert_int_equal(le32(cd + 38) >> 16, 0100755);
    cd += 46 + 9;
    assert_int_equal(le32(cd + 38) >> 16, 040755);
    assert_memory_equal(cd + 46, "lib/", 4);
    free(buf);
}

static void test_glibc_versions(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        int ok;
    } cases[] = {
        {"GLIBC_2.34", 1},     {"GLIBC_2.2.5", 1},  {"GLIBC_2.17", 1},
        {"GLIBC_2.3.4", 1},    {"GLIBC_2.35", 0},   {"GLIBC_2.36", 0},
        {"GLIBC_3.0", 0},      {"GLIBC_PRIVATE", 0}, {"GLIBC_ABI_DT_RELR", 0},
        {"GLIBC_2.34x", 0},    {"GLIBC_", 0},       {"GLIBC_2.", 0},
        {"GLIBC_99999999999999999999.1", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        unsigned major = 0, minor = 0;
        int ok = sdsinf__glibc_version_ok(cases[i].v, &major, &minor);
        if (ok != cases[i].ok)
            fail_msg("%s: %d, not %d", cases[i].v, ok, cases[i].ok);
    }
    unsigned major = 0, minor = 0;
    assert_true(sdsinf__glibc_version_ok("GLIBC_2.28", &major, &minor));
    assert_int_equal(major, 2);
    assert_int_equal(minor, 28);
}

static void test_al2023(void **state)
{
    (void)state;
    const char *has[] = {"libc.so.6", "libcurl.so.4", "libcrypto.so.3",
                         "libxml2.so.2", "libzstd.so.1",
                         "ld-linux-aarch64.so.1", "libBrokenLocale.so.1"};
    const char *lacks[] = {"libcjson.so.1", "libhiredis.so.0.14",
                           "libsdsinf.so.0", "libmpi.so.40", "libc.so"};
    for (size_t i = 0; i < sizeof has / sizeof *has; i++)
        if (!sdsinf__al2023_has(has[i]))
            fail_msg("AL2023 should have %s", has[i]);
    for (size_t i = 0; i < sizeof lacks / sizeof *lacks; i++)
        if (sdsinf__al2023_has(lacks[i]))
            fail_msg("AL2023 should lack %s", lacks[i]);
}

typedef struct count {
    int n;
} count;

static int count_symbol(void *u, const char *name)
{
    count *c = u;
    c->n += name[0] != 0;
    return 0;
}

/* This program: dynamic, needs libc.so.6, asks glibc for versions that
 * name symbols; every prefix of it reads or fails, never more. */
static void test_elf_self(void **state)
{
    (void)state;
    sdsinf__package p;
    sdsinf_package_info info;
    sdsinf_err err = {0};
    int rc = sdsinf__package_gather(NULL, NULL, NULL, &p, &info, &err);
    if (rc != SDSINF_OK)
        fail_msg("%s", err.msg);
    const sdsinf__elf *e = &p.files[0].elf;
    assert_true(e->dynamic);
    assert_non_null(sdsinf__elf_arch(e->machine));
    int libc = 0, glibc = 0;
    for (int i = 0; i < e->nneeded; i++)
        libc |= !strcmp(e->needed[i], "libc.so.6");
    assert_true(libc);
    count c = {0};
    for (int i = 0; i < e->nneeds; i++)
        if (!strncmp(e->needs[i].version, "GLIBC_2", 7)) {
            glibc = 1;
            sdsinf__elf_symbols(e, e->needs[i].index, count_symbol, &c);
        }
    assert_true(glibc);
    assert_true(c.n > 0);
    assert_true(info.glibc[0] != 0);
    /* cmocka is no library of AL2023's: bundled, from where it lies */
    int cmocka = 0;
    for (int i = 0; i < info.nlibs; i++)
        if (!strncmp(info.libs[i].soname, "libcmocka.so.", 13))
            cmocka = info.libs[i].path[0] == '/' && info.libs[i].nbytes > 0;
    assert_true(cmocka);
    /* truncated copies: read or refused with a message, never past the end */
    size_t step = p.files[0].len / 97 + 1;
    for (size_t n = 0; n < p.files[0].len; n += step) {
        unsigned char *copy = malloc(n ? n : 1);
        sdsinf__elf t;
        memcpy(copy, p.files[0].data, n);
        sdsinf_err e2 = {0};
        if (sdsinf__elf_read(copy, n, "copy", &t, &e2) != SDSINF_OK)
            assert_true(e2.msg[0] != 0);
        sdsinf__elf_free(&t);
        free(copy);
    }
    sdsinf__package_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_zip_records),
        cmocka_unit_test(test_glibc_versions),
        cmocka_unit_test(test_al2023),
        cmocka_unit_test(test_elf_self),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
