/* gnuplot.h - rendering a plot with gnuplot (Debian's gnuplot-nox) run as a
 * child process: the script goes to its standard input, the picture comes
 * back from its standard output.  The script must hold only text the
 * caller wrote (numbers, fixed titles), never bytes from a file: gnuplot
 * scripts can run commands. */
#ifndef SDSINF_GNUPLOT_H
#define SDSINF_GNUPLOT_H

#include "sdsinf.h"

#include <stddef.h>

/* The gnuplot to run: $SDSINF_GNUPLOT, else "gnuplot" on the PATH. */
const char *gnuplot_program(void);

/* Runs gnuplot on the script's len bytes; *out (malloc'd, NUL-terminated;
 * caller frees it) is what it wrote, *outlen its bytes.  SDSINF_ENOTSUP
 * when gnuplot cannot be started (not installed), SDSINF_EIO when it
 * fails (its first error line in the message). */
int gnuplot_render(const char *script, size_t len, char **out,
                   size_t *outlen, sdsinf_err *err);

#endif /* SDSINF_GNUPLOT_H */
