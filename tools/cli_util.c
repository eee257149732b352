/* cli_util.c - small helpers the command-line modules share: filling an
 * sdsinf_err, writing a JSON string, and writing files atomically. */
#include "cli_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_json_string(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* ---- files written whole or not at all ----------------------------------- */

int cli_files_open(cli_files *s, const char *path, FILE **f, sdsinf_err *err)
{
    size_t n = strlen(path);
    char *final = malloc(n + 1), *temp = malloc(n + 11);
    int fd = -1;
    if (s->n >= CLI_FILES_MAX || !final || !temp) {
        free(final);
        free(temp);
        return cli_fail(err, SDSINF_ENOMEM, "%s: no room for another file",
                        path);
    }
    memcpy(final, path, n + 1);
    snprintf(temp, n + 11, "%s.tmpXXXXXX", path);
    mode_t mask = umask(0);
    umask(mask);
    if ((fd = mkstemp(temp)) < 0 || fchmod(fd, 0666 & ~mask) != 0 ||
        !(*f = fdopen(fd, "w"))) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(temp);
        }
        free(final);
        free(temp);
        return cli_fail(err, SDSINF_EIO, "%s: cannot write: %s", path,
                        strerror(e));
    }
    s->f[s->n] = *f;
    s->final[s->n] = final;
    s->temp[s->n++] = temp;
    return SDSINF_OK;
}

int cli_files_commit(cli_files *s, sdsinf_err *err)
{
    int rc = SDSINF_OK;
    for (int i = 0; i < s->n; i++) {
        FILE *f = s->f[i];
        s->f[i] = NULL;
        int bad = fflush(f) != 0 || ferror(f);
        int e = errno;
        if ((fclose(f) != 0 || bad) && rc == SDSINF_OK)
            rc = cli_fail(err, SDSINF_EIO, "%s: write failed: %s",
                          s->final[i], strerror(bad ? e : errno));
    }
    for (int i = 0; i < s->n && rc == SDSINF_OK; i++) {
        if (rename(s->temp[i], s->final[i]) != 0) {
            rc = cli_fail(err, SDSINF_EIO, "%s: cannot rename %s into "
                          "place: %s", s->final[i], s->temp[i],
                          strerror(errno));
        } else {
            free(s->temp[i]);
            s->temp[i] = NULL;
        }
    }
    cli_files_discard(s);
    return rc;
}

void cli_files_discard(cli_files *s)
{
    for (int i = 0; i < s->n; i++) {
        if (s->f[i])
            fclose(s->f[i]);
        if (s->temp[i])
            unlink(s->temp[i]);
        free(s->temp[i]);
        free(s->final[i]);
    }
    memset(s, 0, sizeof *s);
}
