/* cli_util.h - small helpers the command-line modules share: filling an
 * sdsinf_err, writing a JSON string, and writing files atomically. */
#ifndef SDSINF_CLI_UTIL_H
#define SDSINF_CLI_UTIL_H

#include "sdsinf.h"

#include <stdio.h>

/* The tools report failures as the library does. */
#define cli_fail sdsinf_err_set

/* Writes s as a JSON string, quoted and escaped (NULL writes null). */
void cli_json_string(FILE *f, const char *s);

/* Files written whole or not at all: each goes to a temporary file beside
 * its final name (`NAME.tmpXXXXXX`) and is renamed into place only when
 * every file of the set was written (cli_files_commit); a set abandoned
 * with cli_files_discard leaves nothing behind. */
#define CLI_FILES_MAX 8
typedef struct cli_files {
    int n;
    FILE *f[CLI_FILES_MAX];
    char *final[CLI_FILES_MAX], *temp[CLI_FILES_MAX];
} cli_files;

/* Opens a temporary file for `path` and adds it to the set: *f is where
 * to write (the set closes it). */
int cli_files_open(cli_files *s, const char *path, FILE **f, sdsinf_err *err);
/* Closes every file, checking each write, and renames them into place; on
 * failure removes the temporary files (and nothing else). */
int cli_files_commit(cli_files *s, sdsinf_err *err);
/* Closes and removes the temporary files; the set is then empty. */
void cli_files_discard(cli_files *s);

#endif /* SDSINF_CLI_UTIL_H */
