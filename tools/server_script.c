/* server_script.c - the user data of sdsinf aws server (server_script.h):
 * a bash script for Amazon Linux 2023 that installs sdsinf from the
 * package with the AWS CLI, gives it the instance role's credentials from
 * the metadata service (IMDSv2), and then either runs the job (sdsinf
 * infer, then sdsinf aws server-report; a power-off at the end and at the
 * timeout) or leaves an installed `sdsinf` for an always-on instance.
 * Every value is one quoted shell word; the script also runs off EC2 for
 * the tests (the variables its opening comment names). */
#include "server_script.h"
#include "cli_util.h"

#include <stdio.h>
#include <stdlib.h>

/* s as one shell word ('...'; a ' as '\''). */
static void sh_word(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++)
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    fputc('\'', f);
}

static void sh_set(FILE *f, const char *name, const char *value)
{
    fprintf(f, "%s=", name);
    sh_word(f, value ? value : "");
    fputc('\n', f);
}

/* The shell functions the script and the installed `sdsinf` share: the
 * metadata service (IMDSv2) and the instance role's credentials. */
static const char ENV_FUNCTIONS[] =
    "imds=${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254}\n"
    "imds=${imds%/}\n"
    "imds_token=$(curl -sf --max-time 3 -X PUT -H "
    "'X-aws-ec2-metadata-token-ttl-seconds: 21600' \"$imds/latest/api/token\") "
    "|| imds_token=\n"
    "metadata() {\n"
    "    curl -sf --max-time 3 -H \"X-aws-ec2-metadata-token: $imds_token\" "
    "\"$imds/latest/meta-data/$1\"\n"
    "}\n"
    "# AWS's configuration as the AWS CLI reads it: the environment's, else\n"
    "# the instance's region and its role's credentials (which expire: read\n"
    "# them again before each use)\n"
    "if [ -z \"${AWS_REGION:-}\" ]; then\n"
    "    AWS_REGION=$(metadata placement/region) || AWS_REGION=us-east-1\n"
    "fi\n"
    "export AWS_REGION AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-$AWS_REGION}\n"
    "[ -n \"${AWS_ACCESS_KEY_ID:-}\" ] && sdsinf_own_keys=1\n"
    "role_credentials() {\n"
    "    [ -n \"${sdsinf_own_keys:-}\" ] && return 0\n"
    "    local role doc\n"
    "    role=$(metadata iam/security-credentials/ | head -n 1) &&\n"
    "        doc=$(metadata \"iam/security-credentials/$role\") || return 1\n"
    "    eval \"$(printf '%s' \"$doc\" | python3 -c 'import json, shlex, sys\n"
    "d = json.load(sys.stdin)\n"
    "for k, v in ((\"AWS_ACCESS_KEY_ID\", \"AccessKeyId\"),\n"
    "             (\"AWS_SECRET_ACCESS_KEY\", \"SecretAccessKey\"),\n"
    "             (\"AWS_SESSION_TOKEN\", \"Token\")):\n"
    "    print(\"export %s=%s\" % (k, shlex.quote(d[v])))')\"\n"
    "}\n"
    "# Amazon Linux keeps its CA certificates here\n"
    "if [ -z \"${SSL_CERT_FILE:-}\" ] && [ -f /etc/pki/tls/certs/ca-bundle.crt ]; "
    "then\n"
    "    export SSL_CERT_FILE=/etc/pki/tls/certs/ca-bundle.crt\n"
    "fi\n";

/* The script's start: its variables and what both modes do first. */
static void script_head(FILE *f, const server_script *u)
{
    fprintf(f,
            "#!/bin/bash\n"
            "# sdsinf %s: the user data of sdsinf aws server %s, run %s.\n",
            sdsinf_version(), u->job ? "--job" : "--always-on", u->run);
    if (u->job)
        fprintf(f,
                "# On the instance (Amazon Linux 2023, as root) it installs "
                "sdsinf from the\n"
                "# package, runs sdsinf infer on the inputs in S3, writes the "
                "result,\n"
                "# categories and log to %s/ and powers off,\n"
                "# which terminates the instance (after %ld s at the "
                "latest).\n",
                u->out, u->timeout_s);
    else
        fprintf(f,
                "# On the instance (Amazon Linux 2023, as root) it installs "
                "sdsinf from the\n"
                "# package as /usr/local/bin/sdsinf, which runs it with the "
                "instance role's\n"
                "# credentials, and writes %s/%s.\n",
                u->out, SERVER_READY_KEY);
    fputs("# Elsewhere, to try it: SDSINF_BIN=PATH runs that sdsinf instead "
          "of the\n"
          "# package's, SDSINF_HOME=DIR installs there (not /opt/sdsinf), "
          "SDSINF_NO_SHUTDOWN=1\n"
          "# leaves the machine on, SDSINF_BOOT_SECONDS=S is the boot's "
          "time (else the\n"
          "# uptime's); AWS_EC2_METADATA_SERVICE_ENDPOINT and the AWS CLI's "
          "variables\n"
          "# say where the metadata service and AWS are.\n"
          "set -u -o pipefail\n",
          f);
    sh_set(f, "run", u->run);
    sh_set(f, "out", u->out);
    sh_set(f, "package", u->package);
    sh_set(f, "instance_type", u->instance_type);
    fprintf(f, "usd_per_hour=%.10g\n", u->usd_per_hour);
    fputs("started=$(date +%s.%N)\n"
          "read -r uptime _ </proc/uptime\n"
          "boot=${SDSINF_BOOT_SECONDS:-$uptime}\n"
          "home=${SDSINF_HOME:-/opt/sdsinf}\n"
          "work=$(mktemp -d \"${TMPDIR:-/tmp}/sdsinf-$run.XXXXXX\") || exit 1\n"
          "say() {\n"
          "    printf '%s sdsinf %s: %s\\n' \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" "
          "\"$run\" \"$*\" |\n"
          "        tee -a \"$work/log.txt\" >&2\n"
          "}\n",
          f);
    if (u->job)
        fprintf(f,
                "power_off() {\n"
                "    [ -n \"${SDSINF_NO_SHUTDOWN:-}\" ] || shutdown -h "
                "\"$1\"\n"
                "}\n"
                "trap 'power_off now; rm -rf \"$work\"' EXIT\n"
                "power_off +%ld # whatever happens\n",
                (u->timeout_s + 59) / 60);
    else
        fputs("trap 'rm -rf \"$work\"' EXIT\n", f);
    fputs("# What went wrong, as the result (written with the AWS CLI: "
          "sdsinf may be\n"
          "# what failed)\n"
          "fail() {\n"
          "    say \"$1\"\n"
          "    printf '{\"run\":\"%s\",\"status\":\"failed\",\"error\":"
          "\"%s\"}\\n' \"$run\" \"$1\" >\"$work/failed.json\"\n"
          "    aws s3 cp --only-show-errors \"$work/log.txt\" \"$out/log.txt\"\n",
          f);
    fprintf(f,
            "    aws s3 cp --only-show-errors \"$work/failed.json\" "
            "\"$out/%s\"\n"
            "    exit 1\n"
            "}\n",
            u->job ? SERVER_RESULT_KEY : SERVER_READY_KEY);
    fputs("mkdir -p \"$home\" || fail \"cannot make $home\"\n"
          "cat >\"$home/env.sh\" <<'SDSINF_ENV'\n",
          f);
    fputs(ENV_FUNCTIONS, f);
    fputs("SDSINF_ENV\n"
          ". \"$home/env.sh\"\n"
          "instance_id=$(metadata instance-id) || instance_id=\n"
          "say \"instance ${instance_id:-(none)} ($instance_type), booted in "
          "$boot s\"\n"
          "# sdsinf: the package's (a zip with bootstrap and lib/, or the "
          "executable)\n"
          "if [ -n \"${SDSINF_BIN:-}\" ]; then\n"
          "    bin=$SDSINF_BIN\n"
          "else\n"
          "    aws s3 cp --only-show-errors \"$package\" \"$home/package\" "
          "2>>\"$work/log.txt\" ||\n"
          "        fail \"cannot fetch the package $package\"\n"
          "    case $package in\n"
          "    *.zip) python3 -m zipfile -e \"$home/package\" \"$home\" && "
          "rm -f \"$home/package\" ;;\n"
          "    *) mv \"$home/package\" \"$home/bootstrap\" ;;\n"
          "    esac || fail \"cannot unpack the package $package\"\n"
          "    chmod 755 \"$home/bootstrap\" && bin=$home/bootstrap\n"
          "    export LD_LIBRARY_PATH=$home/lib${LD_LIBRARY_PATH:+:"
          "$LD_LIBRARY_PATH}\n"
          "fi\n"
          "\"$bin\" version >>\"$work/log.txt\" 2>&1 ||\n"
          "    fail \"the package's sdsinf does not run here: see log.txt\"\n"
          "role_credentials || fail \"no credentials: has the instance the "
          "stack's instance profile?\"\n",
          f);
}

/* The report's flags the script passes (after the mode's own). */
static const char REPORT_ARGS[] =
    " --out \"$out\" --dir \"$work\" \\\n"
    "    --instance \"${instance_id:-none}\" --instance-type "
    "\"$instance_type\" \\\n"
    "    --usd-per-hour \"$usd_per_hour\" --boot-seconds \"$boot\" "
    "--started \"$started\"";

static void script_job(FILE *f, const server_script *u)
{
    sh_set(f, "weights", u->weights);
    sh_set(f, "images", u->images);
    if (u->check)
        sh_set(f, "check", u->check);
    fputs("say \"sdsinf infer on $images\"\n"
          "\"$bin\" infer --weights \"$weights\" --images \"$images\"",
          f);
    if (u->check)
        fputs(" --check \"$check\"", f);
    if (u->threads >= 0)
        fprintf(f, " --threads %ld", u->threads);
    fputs(" \\\n"
          "    --out \"$work/categories.tsv\" --json >\"$work/infer.json\" "
          "2>>\"$work/log.txt\"\n"
          "status=$?\n"
          "say \"sdsinf infer ended with status $status\"\n"
          "role_credentials || fail \"no credentials for the result\"\n"
          "\"$bin\" aws server-report --mode job --status \"$status\"",
          f);
    fputs(REPORT_ARGS, f);
    fputs(" ||\n"
          "    fail \"could not write the result to $out\"\n",
          f);
}

static void script_always_on(FILE *f)
{
    fputs("cat >\"$home/sdsinf\" <<SDSINF_RUN\n"
          "#!/bin/bash\n"
          "# sdsinf with the instance role's credentials (sdsinf aws server "
          "--always-on)\n"
          ". \"$home/env.sh\"\n"
          "role_credentials || { echo 'sdsinf: no credentials from the "
          "instance role' >&2; exit 1; }\n"
          "export LD_LIBRARY_PATH=$home/lib\\${LD_LIBRARY_PATH:+:"
          "\\$LD_LIBRARY_PATH}\n"
          "exec \"$bin\" \"\\$@\"\n"
          "SDSINF_RUN\n"
          "chmod 755 \"$home/sdsinf\" || fail \"cannot write $home/sdsinf\"\n"
          "if [ -z \"${SDSINF_HOME:-}\" ]; then\n"
          "    ln -sf \"$home/sdsinf\" /usr/local/bin/sdsinf\n"
          "fi\n"
          "\"$bin\" aws server-report --mode always-on --ready",
          f);
    fputs(REPORT_ARGS, f);
    fputs(" ||\n"
          "    fail \"could not write $out/" SERVER_READY_KEY "\"\n"
          "say \"ready: $home/sdsinf\"\n",
          f);
}

int server_script_make(const server_script *u, char **text, sdsinf_err *err)
{
    size_t n;
    FILE *f = open_memstream(text, &n);
    if (!f)
        return cli_fail(err, SDSINF_ENOMEM, "no memory for the user data");
    script_head(f, u);
    if (u->job)
        script_job(f, u);
    else
        script_always_on(f);
    if (fclose(f) != 0) {
        free(*text);
        return cli_fail(err, SDSINF_ENOMEM, "no memory for the user data");
    }
    if (n > SDSINF_EC2_USER_DATA_MAX) {
        free(*text);
        return cli_fail(err, SDSINF_EINVAL,
                        "the user data has %zu bytes, over EC2's %d: shorten "
                        "the locations",
                        n, SDSINF_EC2_USER_DATA_MAX);
    }
    return SDSINF_OK;
}
