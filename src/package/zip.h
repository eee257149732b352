/* package/zip.h - a zip archive writer (internal): stored entries (no
 * compression, so no zlib), each with its CRC-32 and Unix mode, then the
 * central directory.  Entries are written with a fixed date (1980-01-01):
 * the same files make the same bytes, so a package's hash names its
 * content.  Entries and the archive stay under 4 GiB (no zip64). */
#ifndef SDSINF_PACKAGE_ZIP_H
#define SDSINF_PACKAGE_ZIP_H

#include "core/core.h"

#include <stdint.h>
#include <stdio.h>

typedef struct sdsinf__zip_entry sdsinf__zip_entry;

typedef struct sdsinf__zip {
    FILE *f;            /* borrowed: where the archive goes */
    uint64_t offset;    /* bytes written so far */
    sdsinf__zip_entry *entries;
    int n, cap;
} sdsinf__zip;

/* CRC-32 (the zip and gzip polynomial, reflected, 0xEDB88320). */
uint32_t sdsinf__crc32(const void *data, size_t len);

/* Starts an archive written to f. */
void sdsinf__zip_init(sdsinf__zip *z, FILE *f);
/* Adds file `name` (a relative path with '/' separators) of len bytes
 * with Unix permission bits `mode` (0755, 0644); a name ending in '/' is
 * a directory (len 0). */
int sdsinf__zip_add(sdsinf__zip *z, const char *name, unsigned mode,
                    const void *data, size_t len, sdsinf_err *err);
/* Writes the central directory and the end record; the archive is then
 * complete (f is not closed).  Frees the entries either way. */
int sdsinf__zip_finish(sdsinf__zip *z, sdsinf_err *err);
/* Frees the entries of an archive abandoned before its finish. */
void sdsinf__zip_free(sdsinf__zip *z);

#endif /* SDSINF_PACKAGE_ZIP_H */
