/* testutil.h - helpers shared by the unit tests. */
#ifndef SDSINF_TESTUTIL_H
#define SDSINF_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sdsinf.h"

/* A fresh empty directory under $TMPDIR (or /tmp); caller frees the name.
 * It is removed, with its files, by tu_rmdir. */
char *tu_mkdtemp(void);
void tu_rmdir(const char *dir);
/* Writes text to dir/name; returns the path (caller frees). */
char *tu_write(const char *dir, const char *name, const char *text);
/* Builds a CSR from a dense row-major rows x cols array (zeros dropped). */
void tu_csr_dense(sdsinf_csr *m, int64_t rows, int64_t cols, const float *d);
/* The shared data directory, or NULL (tests then skip). */
const char *tu_data_dir(void);

#endif
