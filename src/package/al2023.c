/* package/al2023.c - the shared libraries a provided.al2023 Lambda function
 * finds without bringing them: the sonames in /lib64 of the
 * public.ecr.aws/lambda/provided:al2023 images, both x86_64 and arm64 (a
 * library only one of them lists is bundled), plus each architecture's
 * dynamic loader.
 *
 * Sources: AWS, "Introducing the Amazon Linux 2023 runtime for AWS
 * Lambda" (provided.al2023 is based on the AL2023 minimal container image;
 * glibc 2.34) and aws/aws-lambda-base-images issue 59 (the minimal image:
 * microdnf, curl-minimal, glibc 2.34); the listing of /lib64 in those
 * images that Bref keeps to decide what its layers bundle
 * (github.com/brefphp/aws-lambda-layers, utils/lib-copy/libs-x86.txt and
 * libs-arm.txt, made by `find /lib64/ -maxdepth 1` in
 * provided:al2023-x86_64 and -arm64).  The libraries sdsinf's own
 * dependencies need from it: glibc's, libcurl.so.4 (curl-minimal 8),
 * libcrypto.so.3 and libssl.so.3 (OpenSSL 3), libxml2.so.2 (2.10),
 * libzstd.so.1 (1.5), libz.so.1; cJSON and hiredis it lacks. */
#include "package/package.h"

#include <stdlib.h>
#include <string.h>

static const char *const AL2023_LIBS[] = { /* sorted (strcmp) */
    "ld-linux-aarch64.so.1", "ld-linux-x86-64.so.2", "libBrokenLocale.so.1",
    "libacl.so.1", "libanl.so.1", "libarchive.so.13", "libassuan.so.0",
    "libattr.so.1", "libaudit.so.1", "libauparse.so.0", "libblkid.so.1",
    "libbz2.so.1", "libc.so.6", "libc_malloc_debug.so.0", "libcap-ng.so.0",
    "libcap.so.2", "libcom_err.so.2", "libcrypto.so.3", "libcurl.so.4",
    "libdl.so.2", "libdnf.so.2", "libdrop_ambient.so.0", "libffi.so.8",
    "libform.so.6", "libformw.so.6", "libgcc_s.so.1", "libgcrypt.so.20",
    "libgio-2.0.so.0", "libgirepository-1.0.so.1", "libglib-2.0.so.0",
    "libgmodule-2.0.so.0", "libgmp.so.10", "libgobject-2.0.so.0",
    "libgpg-error.so.0", "libgpgme.so.11", "libgssapi_krb5.so.2",
    "libgssrpc.so.4", "libgthread-2.0.so.0", "libhistory.so.8",
    "libidn2.so.0", "libjson-c.so.5", "libk5crypto.so.3", "libkdb5.so.10",
    "libkeyutils.so.1", "libkrad.so.0", "libkrb5.so.3", "libkrb5support.so.0",
    "liblz4.so.1", "liblzma.so.5", "libm.so.6", "libmagic.so.1",
    "libmenu.so.6", "libmenuw.so.6", "libmodulemd.so.2", "libmount.so.1",
    "libmpfr.so.6", "libncurses.so.6", "libncursesw.so.6", "libnghttp2.so.14",
    "libnpth.so.0", "libnss_compat.so.2", "libnss_dns.so.2",
    "libnss_files.so.2", "libp11-kit.so.0", "libpanel.so.6", "libpanelw.so.6",
    "libpcre2-8.so.0", "libpcre2-posix.so.3", "libpeas-1.0.so.0",
    "libpopt.so.0", "libpsx.so.2", "libpthread.so.0", "libreadline.so.8",
    "librepo.so.0", "libresolv.so.2", "librpm.so.9", "librpmio.so.9",
    "librt.so.1", "libselinux.so.1", "libsepol.so.2", "libsigsegv.so.2",
    "libsmartcols.so.1", "libsolv.so.1", "libsolvext.so.1", "libsqlite3.so.0",
    "libssl.so.3", "libstdc++.so.6", "libtasn1.so.6", "libthread_db.so.1",
    "libtic.so.6", "libtinfo.so.6", "libunistring.so.2", "libutil.so.1",
    "libuuid.so.1", "libverto.so.1", "libxml2.so.2", "libyaml-0.so.2",
    "libz.so.1", "libzstd.so.1",
};

/* Those of them that define no symbol versions, where Debian's build does:
 * a program linked on Debian asks libcurl.so.4 for CURL_OPENSSL_4, and
 * AL2023's (curl-minimal, built without --enable-versioned-symbols) has
 * none, so the loader writes "/lib64/libcurl.so.4: no version information
 * available (required by ...)" at every start (Orange-OpenSource/hurl
 * issue 1890 shows it on amazonlinux:2023).  Sorted (strcmp). */
static const char *const AL2023_UNVERSIONED[] = {"libcurl.so.4"};

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int sdsinf__al2023_has(const char *soname)
{
    return bsearch(&soname, AL2023_LIBS,
                   sizeof AL2023_LIBS / sizeof *AL2023_LIBS,
                   sizeof *AL2023_LIBS, by_name) != NULL;
}

int sdsinf__al2023_unversioned(const char *soname)
{
    return bsearch(&soname, AL2023_UNVERSIONED,
                   sizeof AL2023_UNVERSIONED / sizeof *AL2023_UNVERSIONED,
                   sizeof *AL2023_UNVERSIONED, by_name) != NULL;
}
