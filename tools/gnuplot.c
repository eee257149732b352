/* gnuplot.c - gnuplot as a child process (gnuplot.h): the script through a
 * pipe to its standard input, its standard output and error into
 * temporary files (no pipe to deadlock on), read back once it exits. */
#include "gnuplot.h"
#include "cli_util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define GNUPLOT_EXEC_FAILED 127 /* the child's status when exec fails */
#define PLOT_MAX_BYTES (64u << 20)

const char *gnuplot_program(void)
{
    const char *g = getenv("SDSINF_GNUPLOT");
    return g && *g ? g : "gnuplot";
}

/* Reads the rest of f from its start into a malloc'd, NUL-terminated
 * buffer; NULL when out of memory or too large. */
static char *slurp(FILE *f, size_t *len)
{
    long n;
    char *buf;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        (size_t)n > PLOT_MAX_BYTES || fseek(f, 0, SEEK_SET) != 0 ||
        !(buf = malloc((size_t)n + 1)))
        return NULL;
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    return buf;
}

/* Writes the whole script to fd (the child's standard input). */
static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int gnuplot_render(const char *script, size_t len, char **out,
                   size_t *outlen, sdsinf_err *err)
{
    FILE *so = tmpfile(), *se = tmpfile();
    int in[2] = {-1, -1}, status = 0, rc = SDSINF_OK;
    pid_t pid = -1;
    const char *prog = gnuplot_program();
    *out = NULL;
    if (!so || !se || pipe(in) != 0) {
        rc = cli_fail(err, SDSINF_EIO, "cannot make gnuplot's temporary "
                      "files: %s (set TMPDIR)", strerror(errno));
        goto done;
    }
    if ((pid = fork()) < 0) {
        rc = cli_fail(err, SDSINF_EIO, "cannot start %s: %s", prog,
                      strerror(errno));
        goto done;
    }
    if (pid == 0) {
        if (dup2(in[0], 0) < 0 || dup2(fileno(so), 1) < 0 ||
            dup2(fileno(se), 2) < 0)
            _exit(GNUPLOT_EXEC_FAILED);
        close(in[0]);
        close(in[1]);
        execlp(prog, prog, (char *)NULL);
        _exit(GNUPLOT_EXEC_FAILED);
    }
    close(in[0]);
    in[0] = -1;
    /* a gnuplot that quits early closes the pipe: no SIGPIPE, a failed
     * write, and its status says why */
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    write_all(in[1], script, len);
    signal(SIGPIPE, old);
    close(in[1]);
    in[1] = -1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    size_t elen = 0;
    char *emsg = slurp(se, &elen);
    if (WIFEXITED(status) && WEXITSTATUS(status) == GNUPLOT_EXEC_FAILED &&
        (!emsg || !*emsg))
        rc = cli_fail(err, SDSINF_ENOTSUP, "cannot run %s: install gnuplot "
                      "(Debian: apt-get install gnuplot-nox) or set "
                      "SDSINF_GNUPLOT to it", prog);
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
             (emsg && strstr(emsg, "rror")))
        rc = cli_fail(err, SDSINF_EIO, "%s failed (status %d): %.160s", prog,
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                      emsg ? emsg + strspn(emsg, " \n") : "");
    else if (!(*out = slurp(so, outlen)))
        rc = cli_fail(err, SDSINF_ENOMEM, "cannot read %s's picture back",
                      prog);
    free(emsg);
done:
    if (in[0] >= 0)
        close(in[0]);
    if (in[1] >= 0)
        close(in[1]);
    if (so)
        fclose(so);
    if (se)
        fclose(se);
    return rc;
}
