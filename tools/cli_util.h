/* cli_util.h - small helpers the command-line modules share: filling an
 * sdsinf_err, flag tables, writing JSON through cJSON, writing files
 * atomically and reading them whole. */
#ifndef SDSINF_CLI_UTIL_H
#define SDSINF_CLI_UTIL_H

#include "sdsinf.h"

#include <cjson/cJSON.h>
#include <stdio.h>

/* The tools report failures as the library does. */
#define cli_fail sdsinf_err_set

/* Prints err as `sdsinf: error NAME: message` on stderr; returns 1, a
 * failed command's exit status. */
int cli_error(const sdsinf_err *err);

/* A flag of a command's table (sdsinf's, sdsinf aws's, sdsinf aws
 * server's): its name, the kind of value it takes, where that goes
 * (offsetof into the command's options: an int for a switch, a const
 * char * for text, a number as the table's reader stores it), the range a
 * number must be in, the value as the usage names it (NULL: not named)
 * and what it does (NULL: told elsewhere).  A table ends with an entry
 * whose name is NULL. */
typedef enum {
    CLI_SWITCH,
    CLI_TEXT,
    CLI_COUNT,
    CLI_REAL,
    CLI_SIZE
} cli_flag_kind;
typedef struct cli_flag {
    const char *name;
    cli_flag_kind kind;
    size_t at;
    double min, max;
    const char *arg;
    const char *help;
} cli_flag;

/* The entry of `table` named by the len bytes at name, or NULL. */
const cli_flag *cli_flag_find(const cli_flag *table, const char *name,
                              size_t len);
/* Sets a switch's field in opts to 1, or a text's to v. */
void cli_flag_set(const cli_flag *f, void *opts, const char *v);

/* Adds key: s to the object, a string, or null when s is NULL (cJSON
 * would leave the key out). */
void cli_json_add_string(cJSON *o, const char *key, const char *s);
/* Writes o (NULL: out of memory while building it) to f on one line, no
 * newline after it, and deletes it. */
int cli_json_write(cJSON *o, FILE *f, sdsinf_err *err);

/* Writes a copy of o (o stays the caller's) to `path`, a file or an
 * s3:// location, whole or not at all. */
int cli_json_store(const cJSON *o, const char *path, sdsinf_err *err);

/* Catches SIGINT and SIGTERM with handler, unless ignored on entry (a
 * background job's SIGINT stays ignored); no SA_RESTART: a wait returns
 * at once. */
void cli_catch_stop_signals(void (*handler)(int sig));

/* The summary lines `sdsinf run` prints, from its JSON object j (what
 * run --json prints: workers, images, categories, check, seconds, ...). */
void cli_run_summary(const cJSON *j, FILE *f);

/* Files written whole or not at all: each is an sdsinf_output (a regular
 * file through a temporary file beside it, a device or FIFO straight
 * through, `-` or a link to standard output stdout itself), renamed into place only when every file
 * of the set was written (cli_files_commit); a set abandoned with
 * cli_files_discard leaves no temporary file behind. */
#define CLI_FILES_MAX 8
typedef struct cli_files {
    int n;
    sdsinf_output out[CLI_FILES_MAX]; /* out[i].f is stdout for `-` */
} cli_files;

/* Opens `path` (`-`: standard output) and adds it to the set: *f is where
 * to write (the set closes it). */
int cli_files_open(cli_files *s, const char *path, FILE **f, sdsinf_err *err);
/* Checks every write, then closes the files and renames them into place;
 * on failure removes the temporary files (and nothing else). */
int cli_files_commit(cli_files *s, sdsinf_err *err);
/* Closes and removes the temporary files; the set is then empty. */
void cli_files_discard(cli_files *s);

/* Reads the whole file at path (at most max bytes) into *buf (malloc'd,
 * NUL-terminated; caller frees it) of *len bytes. */
int cli_read_file(const char *path, size_t max, char **buf, size_t *len,
                  sdsinf_err *err);

#endif /* SDSINF_CLI_UTIL_H */
