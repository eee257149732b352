/* aws/config.c - the AWS configuration chain: environment variables, then
 * the profile's sections of ~/.aws/credentials and ~/.aws/config (the
 * AWS CLI's INI files: "[section]" headers, "key = value" lines, '#' and
 * ';' comments; indented lines continue a key's nested settings, which
 * are skipped). */
#include "aws/aws.h"
#include "channels/channels.h" /* sdsinf__errno_status */

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LINE_CAP 8192

static const char *const env_suffix[SDSINF_AWS_NSERVICES] = {
    "SQS", "SNS", "S3", "CLOUDFORMATION", "LAMBDA"};

const char *sdsinf__aws_service_name(sdsinf_aws_service s)
{
    static const char *const names[SDSINF_AWS_NSERVICES] = {
        "sqs", "sns", "s3", "cloudformation", "lambda"};
    return (unsigned)s < SDSINF_AWS_NSERVICES ? names[s] : "?";
}

/* The settings of one profile section that the client uses. */
typedef struct profile_keys {
    char region[64], access_key[128], secret_key[256], session_token[4096];
    char endpoint[512];
} profile_keys;

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

/* Copies a value into dst (cap bytes); -1 when too long. */
static int put(char *dst, size_t cap, const char *v)
{
    size_t n = strlen(v);
    if (n >= cap)
        return -1;
    memcpy(dst, v, n + 1);
    return 0;
}

/* Reads section `want` of INI file path into *k (keys found overwrite
 * it); a missing file is no error.  SDSINF_EPARSE names the file and
 * line. */
static int read_section(const char *path, const char *want, profile_keys *k,
                        sdsinf_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT || errno == ENOTDIR
                   ? SDSINF_OK
                   : sdsinf__fail(err, sdsinf__errno_status(errno),
                                  "AWS configuration: cannot read %.150s: %s",
                                  path, strerror(errno));
    char line[LINE_CAP];
    int in = 0, code = SDSINF_OK;
    long no = 0;
    while (code == SDSINF_OK && fgets(line, sizeof line, f)) {
        no++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            code = sdsinf__fail(err, SDSINF_EPARSE,
                                "AWS configuration %.150s:%ld: line over %d "
                                "bytes",
                                path, no, LINE_CAP - 2);
            break;
        }
        int indented = line[0] == ' ' || line[0] == '\t';
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';' || indented)
            continue; /* blank, comment, or a nested setting */
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (!end || *trim(end + 1)) {
                code = sdsinf__fail(err, SDSINF_EPARSE,
                                    "AWS configuration %.150s:%ld: a section "
                                    "header must be [NAME]",
                                    path, no);
                break;
            }
            *end = 0;
            in = !strcmp(trim(s + 1), want);
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            code = sdsinf__fail(err, SDSINF_EPARSE,
                                "AWS configuration %.150s:%ld: expected "
                                "`key = value` or [section]",
                                path, no);
            break;
        }
        if (!in)
            continue;
        *eq = 0;
        char *key = trim(s), *val = trim(eq + 1);
        int bad = 0;
        if (!strcmp(key, "region"))
            bad = put(k->region, sizeof k->region, val);
        else if (!strcmp(key, "aws_access_key_id"))
            bad = put(k->access_key, sizeof k->access_key, val);
        else if (!strcmp(key, "aws_secret_access_key"))
            bad = put(k->secret_key, sizeof k->secret_key, val);
        else if (!strcmp(key, "aws_session_token"))
            bad = put(k->session_token, sizeof k->session_token, val);
        else if (!strcmp(key, "endpoint_url"))
            bad = put(k->endpoint, sizeof k->endpoint, val);
        if (bad)
            code = sdsinf__fail(err, SDSINF_EPARSE,
                                "AWS configuration %.150s:%ld: the value of "
                                "%.40s is too long",
                                path, no, key);
    }
    if (code == SDSINF_OK && ferror(f))
        code = sdsinf__fail(err, SDSINF_EIO,
                            "AWS configuration: cannot read %.150s", path);
    fclose(f);
    return code;
}

/* $var if set and not empty, else NULL. */
static const char *env(const char *var)
{
    const char *v = getenv(var);
    return v && v[0] ? v : NULL;
}

/* A file from $var, else ~/.aws/<name>, into path (cap bytes). */
static void file_path(const char *var, const char *name, char *path,
                      size_t cap)
{
    const char *v = env(var), *home = env("HOME");
    if (v)
        snprintf(path, cap, "%s", v);
    else
        snprintf(path, cap, "%s/.aws/%s", home ? home : ".", name);
}

/* dst = value of environment variable var (when set); SDSINF_EINVAL when
 * too long. */
static int from_env(char *dst, size_t cap, const char *var, int *found,
                    sdsinf_err *err)
{
    const char *v = env(var);
    if (!v)
        return SDSINF_OK;
    if (put(dst, cap, v) != 0)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "AWS configuration: $%s is over %zu bytes", var,
                            cap - 1);
    if (found)
        *found = 1;
    return SDSINF_OK;
}

/* An endpoint URL: http(s)://, no trailing '/'. */
static int set_endpoint(char *dst, size_t cap, const char *url,
                        const char *from, sdsinf_err *err)
{
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "AWS configuration: the endpoint '%.100s' (%s) is "
                            "not an http:// or https:// URL",
                            url, from);
    if (put(dst, cap, url) != 0)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "AWS configuration: the endpoint of %s is over "
                            "%zu bytes",
                            from, cap - 1);
    size_t n = strlen(dst);
    while (n > 8 && dst[n - 1] == '/')
        dst[--n] = 0;
    return SDSINF_OK;
}

int sdsinf__aws_config_load(sdsinf_aws_config *c, sdsinf_err *err)
{
    sdsinf_aws_config t;
    profile_keys cred, conf;
    char path[1024], section[160];
    int code, keys = 0;
    memset(&t, 0, sizeof t);
    memset(&cred, 0, sizeof cred);
    memset(&conf, 0, sizeof conf);
    const char *profile = env("AWS_PROFILE");
    if (!profile)
        profile = env("AWS_DEFAULT_PROFILE");
    if (!profile)
        profile = "default";
    if (put(t.profile, sizeof t.profile, profile) != 0)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "AWS configuration: the profile name is over %zu "
                            "bytes",
                            sizeof t.profile - 1);
    file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", path, sizeof path);
    if ((code = read_section(path, profile, &cred, err)) != SDSINF_OK)
        return code;
    file_path("AWS_CONFIG_FILE", "config", path, sizeof path);
    if (!strcmp(profile, "default"))
        snprintf(section, sizeof section, "default");
    else
        snprintf(section, sizeof section, "profile %s", profile);
    if ((code = read_section(path, section, &conf, err)) != SDSINF_OK)
        return code;

    /* region */
    snprintf(t.region, sizeof t.region, "%s",
             conf.region[0] ? conf.region : "us-east-1");
    if ((code = from_env(t.region, sizeof t.region, "AWS_DEFAULT_REGION",
                         NULL, err)) != SDSINF_OK ||
        (code = from_env(t.region, sizeof t.region, "AWS_REGION", NULL,
                         err)) != SDSINF_OK)
        return code;
    for (const char *p = t.region; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-')
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "AWS configuration: '%.60s' is not a region "
                                "name (such as us-east-1)",
                                t.region);

    /* credentials: the environment's pair, else one file's */
    if ((code = from_env(t.access_key, sizeof t.access_key,
                         "AWS_ACCESS_KEY_ID", &keys, err)) != SDSINF_OK ||
        (code = from_env(t.secret_key, sizeof t.secret_key,
                         "AWS_SECRET_ACCESS_KEY", NULL, err)) != SDSINF_OK ||
        (code = from_env(t.session_token, sizeof t.session_token,
                         "AWS_SESSION_TOKEN", NULL, err)) != SDSINF_OK)
        return code;
    if (keys && t.secret_key[0]) {
        t.credentials_from = "environment";
    } else {
        const profile_keys *k = cred.access_key[0] ? &cred : &conf;
        t.credentials_from = k == &cred ? "credentials file" : "config file";
        memcpy(t.access_key, k->access_key, sizeof t.access_key);
        memcpy(t.secret_key, k->secret_key, sizeof t.secret_key);
        memcpy(t.session_token, k->session_token, sizeof t.session_token);
    }
    if (!t.access_key[0] || !t.secret_key[0])
        return sdsinf__fail(err, SDSINF_EACCES,
                            "AWS configuration: no credentials: set "
                            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                            "AWS_PROFILE with keys in ~/.aws/credentials "
                            "(profile '%.40s')",
                            t.profile);

    /* endpoints */
    const char *all = env("AWS_ENDPOINT_URL");
    for (int s = 0; s < SDSINF_AWS_NSERVICES; s++) {
        char var[64];
        snprintf(var, sizeof var, "AWS_ENDPOINT_URL_%s", env_suffix[s]);
        const char *one = env(var);
        if (one)
            code = set_endpoint(t.endpoint[s], sizeof t.endpoint[s], one, var,
                                err);
        else if (all)
            code = set_endpoint(t.endpoint[s], sizeof t.endpoint[s], all,
                                "AWS_ENDPOINT_URL", err);
        else if (conf.endpoint[0])
            code = set_endpoint(t.endpoint[s], sizeof t.endpoint[s],
                                conf.endpoint, "the profile's endpoint_url",
                                err);
        else
            snprintf(t.endpoint[s], sizeof t.endpoint[s],
                     "https://%s.%s.amazonaws.com",
                     sdsinf__aws_service_name((sdsinf_aws_service)s),
                     t.region);
        if (code != SDSINF_OK)
            return code;
    }

    /* retries */
    t.max_attempts = 5;
    const char *att = env("AWS_MAX_ATTEMPTS");
    if (att) {
        char *end;
        long v = strtol(att, &end, 10);
        if (*end || v < 1 || v > 20)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "AWS configuration: $AWS_MAX_ATTEMPTS='%.20s' "
                                "must be a number from 1 to 20",
                                att);
        t.max_attempts = (int)v;
    }
    *c = t;
    return SDSINF_OK;
}
