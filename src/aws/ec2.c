/* aws/ec2.c - EC2 instances (sdsinf.h's sdsinf_ec2_*, aws/ec2.h): the
 * RunInstances form built from a spec (sent, or shown decoded for a dry
 * run), DescribeInstances and TerminateInstances read from their XML
 * answers, and the wait for an instance's result object in S3.
 * Sections: the launch request, answers, the calls, waiting. */
#include "aws/ec2.h"
#include "aws/s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EC2_VERSION "2016-11-15"
#define TAGS_MAX 50            /* EC2's limit per resource */
#define TERMINATE_MAX 1000     /* instance ids per TerminateInstances */
#define POLL_FIRST_MS 1000.0   /* the first wait between GETs of the object */
#define POLL_MAX_MS 5000.0
#define DESCRIBE_EVERY_S 10.0  /* between DescribeInstances while waiting */
#define NO_INSTANCE 1          /* no such instance (no message set) */
#define ID_MAX sizeof(((sdsinf_ec2_instance *)0)->id)

/* ---- The launch request ---------------------------------------------------- */

static int bad_spec(sdsinf_err *err, const char *why, const char *what)
{
    return sdsinf__fail(err, SDSINF_EINVAL, "EC2 launch: %s%.100s", why, what);
}

/* Tag t ("Key=Value"): the key's length into *klen; -1 when malformed. */
static int tag_split(const char *t, size_t *klen)
{
    const char *eq = strchr(t, '=');
    if (!eq || eq == t || eq - t > 128 || strlen(eq + 1) > 256)
        return -1;
    *klen = (size_t)(eq - t);
    return 0;
}

static int token_ok(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return 0;
    return n >= 1 && n <= 64;
}

/* The RunInstances form of spec s into *f (on failure *f is empty). */
static int run_form(const sdsinf_ec2_spec *s, sdsinf_aws_form *f,
                    sdsinf_err *err)
{
    memset(f, 0, sizeof *f);
    if (!s || s->version < 1 || s->version > SDSINF_EC2_SPEC_VERSION)
        return bad_spec(err, "no spec, or one of a version this library "
                        "does not know", "");
    if (!s->image || !s->image[0])
        return bad_spec(err, "no image (an AMI id, or resolve:ssm:PARAMETER)",
                        "");
    if (!s->instance_type || !s->instance_type[0])
        return bad_spec(err, "no instance type", "");
    size_t ud = s->user_data ? strlen(s->user_data) : 0;
    if (ud > SDSINF_EC2_USER_DATA_MAX)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "EC2 launch: the user data has %zu bytes, over "
                            "EC2's %d",
                            ud, SDSINF_EC2_USER_DATA_MAX);
    if (s->client_token && !token_ok(s->client_token))
        return bad_spec(err, "the client token is 1-64 printable ASCII "
                        "characters, not ", s->client_token);
    int ntags = 0;
    size_t klen;
    for (; s->tags && s->tags[ntags]; ntags++)
        if (ntags == TAGS_MAX)
            return bad_spec(err, "more than 50 tags", "");
        else if (tag_split(s->tags[ntags], &klen) != 0)
            return bad_spec(err, "a tag is Key=Value (a key of 1-128 "
                            "characters, a value of up to 256), not ",
                            s->tags[ntags]);
    char *b64 = sdsinf__malloc(4 * ((ud + 2) / 3) + 1);
    if (!b64)
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "EC2 launch: no memory for the user data");
    size_t nb = sdsinf__aws_base64_encode(s->user_data ? s->user_data : "",
                                          ud, b64);
    sdsinf__aws_form_init(f, "RunInstances", EC2_VERSION);
#define ADD(v, ...) sdsinf__aws_form_add(f, v, strlen(v), __VA_ARGS__)
    ADD(s->image, "ImageId");
    ADD(s->instance_type, "InstanceType");
    ADD("1", "MinCount");
    ADD("1", "MaxCount");
    if (ud)
        sdsinf__aws_form_add(f, b64, nb, "UserData");
    if (s->profile_arn)
        ADD(s->profile_arn, "IamInstanceProfile.Arn");
    if (s->terminate_on_shutdown)
        ADD("terminate", "InstanceInitiatedShutdownBehavior");
    if (s->key_name)
        ADD(s->key_name, "KeyName");
    if (s->subnet)
        ADD(s->subnet, "SubnetId");
    if (s->security_group)
        ADD(s->security_group, "SecurityGroupId.1");
    if (s->client_token)
        ADD(s->client_token, "ClientToken");
    /* IMDSv2 only: the role's credentials need a token, which a request
     * forwarded through the instance cannot get */
    ADD("required", "MetadataOptions.HttpTokens");
    ADD("enabled", "MetadataOptions.HttpEndpoint");
    static const char *const kinds[] = {"instance", "volume"};
    for (int k = 0; ntags && k < 2; k++) {
        ADD(kinds[k], "TagSpecification.%d.ResourceType", k + 1);
        for (int i = 0; i < ntags; i++) {
            tag_split(s->tags[i], &klen);
            sdsinf__aws_form_add(f, s->tags[i], klen,
                                 "TagSpecification.%d.Tag.%d.Key", k + 1,
                                 i + 1);
            ADD(s->tags[i] + klen + 1, "TagSpecification.%d.Tag.%d.Value",
                k + 1, i + 1);
        }
    }
#undef ADD
    sdsinf__free(b64);
    if (!sdsinf__aws_form_ok(f)) {
        sdsinf__aws_form_free(f);
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "EC2 launch: no memory for the request");
    }
    return SDSINF_OK;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

int sdsinf_ec2_request(const sdsinf_ec2_spec *spec, char **text,
                       sdsinf_err *err)
{
    sdsinf_aws_form f;
    int rc = run_form(spec, &f, err);
    if (rc != SDSINF_OK)
        return rc;
    /* one parameter a line, decoded ('&' only ever separates them) */
    char *t = sdsinf__malloc(f.len + 2);
    size_t o = 0;
    for (size_t i = 0; t && i < f.len; i++) {
        char c = f.s[i];
        if (c == '&')
            c = '\n';
        else if (c == '%' && i + 2 < f.len && hex_digit(f.s[i + 1]) >= 0 &&
                 hex_digit(f.s[i + 2]) >= 0) {
            c = (char)(hex_digit(f.s[i + 1]) * 16 + hex_digit(f.s[i + 2]));
            i += 2;
        }
        t[o++] = c;
    }
    sdsinf__aws_form_free(&f);
    if (!t)
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "EC2 launch: no memory for the request's text");
    t[o++] = '\n';
    t[o] = 0;
    *text = t;
    return SDSINF_OK;
}

/* ---- Answers -------------------------------------------------------------------- */

/* n's child `child` into out (cap bytes), or "" when absent or too long. */
static void copy(const sdsinf_aws_node *n, const char *child, char *out,
                 size_t cap)
{
    if (sdsinf__aws_xml_copy(n, child, out, cap) != 0)
        out[0] = 0;
}

/* An instance (an <item> of an instancesSet) into *out. */
static void instance_of(const sdsinf_aws_xml *x, const sdsinf_aws_node *n,
                        sdsinf_ec2_instance *out)
{
    memset(out, 0, sizeof *out);
    copy(n, "instanceId", out->id, sizeof out->id);
    copy(n, "instanceType", out->type, sizeof out->type);
    copy(n, "imageId", out->image, sizeof out->image);
    copy(n, "launchTime", out->launched, sizeof out->launched);
    /* DescribeInstances' instanceState, TerminateInstances' currentState */
    const sdsinf_aws_node *st = sdsinf__aws_xml_find(x, n, "instanceState");
    if (!st)
        st = sdsinf__aws_xml_find(x, n, "currentState");
    if (st)
        copy(st, "name", out->state, sizeof out->state);
    static const char *const addresses[] = {"dnsName", "ipAddress",
                                            "privateIpAddress"};
    for (int i = 0; i < 3 && !out->address[0]; i++)
        copy(n, addresses[i], out->address, sizeof out->address);
}

/* The first instance of answer x into *out; SDSINF_EPARSE when it has
 * none. */
static int first_instance(const sdsinf_aws_xml *x, const char *what,
                          sdsinf_ec2_instance *out, sdsinf_err *err)
{
    const sdsinf_aws_node *set = sdsinf__aws_xml_find(x, NULL, "instancesSet");
    const sdsinf_aws_node *it = set ? sdsinf__aws_xml_find(x, set, "item")
                                    : NULL;
    if (it)
        instance_of(x, it, out);
    if (!it || !out->id[0])
        return sdsinf__fail(err, SDSINF_EPARSE,
                            "AWS ec2: the answer to %s names no instance",
                            what);
    return SDSINF_OK;
}

/* ---- The calls ---------------------------------------------------------------- */

static int client(sdsinf_aws **a, sdsinf_err *err)
{
    *a = NULL;
    return sdsinf__aws_new(a, err);
}

/* An instance id as EC2 writes them (i- and hex digits), so it goes into
 * a request and a message as it is. */
static int check_id(const char *id, sdsinf_err *err)
{
    size_t n = id ? strlen(id) : 0;
    int ok = n > 2 && n < ID_MAX &&
             !strncmp(id, "i-", 2);
    for (size_t i = 2; ok && i < n; i++)
        ok = hex_digit(id[i]) >= 0;
    return ok ? SDSINF_OK
              : sdsinf__fail(err, SDSINF_EINVAL,
                             "'%.40s' is not an EC2 instance id (i-0123...)",
                             id ? id : "");
}

/* Posts f (freed) as `what`; an answer that no instance `id` exists is
 * NO_INSTANCE, no message set. */
static int query(sdsinf_aws *a, sdsinf_aws_form *f, const char *what,
                 int about_id, sdsinf_aws_xml **x, sdsinf_err *err)
{
    char code[128];
    int rc = sdsinf__aws_query(a, SDSINF_AWS_EC2, f, what, x, code,
                               sizeof code, NULL, err);
    return rc != SDSINF_OK && about_id &&
                   !strncmp(code, "InvalidInstanceID.", 18)
               ? NO_INSTANCE
               : rc;
}

/* DescribeInstances or TerminateInstances (`action`) of instance id. */
static int about_instance(sdsinf_aws *a, const char *action, const char *id,
                          sdsinf_ec2_instance *out, sdsinf_err *err)
{
    char what[96];
    sdsinf_aws_form f;
    sdsinf_aws_xml *x = NULL;
    snprintf(what, sizeof what, "%s %s", action, id);
    sdsinf__aws_form_init(&f, action, EC2_VERSION);
    sdsinf__aws_form_add(&f, id, strlen(id), "InstanceId.1");
    int rc = query(a, &f, what, 1, &x, err);
    if (rc == SDSINF_OK)
        rc = first_instance(x, what, out, err);
    sdsinf__aws_xml_free(x);
    return rc;
}

static int no_instance(const char *id, sdsinf_err *err)
{
    return sdsinf__fail(err, SDSINF_EINVAL,
                        "no EC2 instance %s in this account and region (one "
                        "terminated a while ago is forgotten)",
                        id);
}

int sdsinf_ec2_run(const sdsinf_ec2_spec *spec, sdsinf_ec2_instance *out,
                   sdsinf_err *err)
{
    sdsinf_aws *a;
    sdsinf_aws_form f;
    sdsinf_aws_xml *x = NULL;
    int rc = run_form(spec, &f, err);
    if (rc != SDSINF_OK)
        return rc;
    if ((rc = client(&a, err)) != SDSINF_OK) {
        sdsinf__aws_form_free(&f);
        return rc;
    }
    char what[96];
    snprintf(what, sizeof what, "RunInstances (%.40s)", spec->instance_type);
    rc = query(a, &f, what, 0, &x, err);
    if (rc == SDSINF_OK)
        rc = first_instance(x, what, out, err);
    sdsinf__aws_xml_free(x);
    sdsinf__aws_free(a);
    return rc;
}

int sdsinf_ec2_describe(const char *id, sdsinf_ec2_instance *out,
                        sdsinf_err *err)
{
    sdsinf_aws *a = NULL;
    int rc = check_id(id, err);
    if (rc == SDSINF_OK && (rc = client(&a, err)) == SDSINF_OK &&
        (rc = about_instance(a, "DescribeInstances", id, out, err)) ==
            NO_INSTANCE)
        rc = no_instance(id, err);
    sdsinf__aws_free(a);
    return rc;
}

int sdsinf_ec2_terminate(const char *id, sdsinf_ec2_instance *out,
                         sdsinf_err *err)
{
    sdsinf_aws *a = NULL;
    sdsinf_ec2_instance mine;
    int rc = check_id(id, err);
    if (rc == SDSINF_OK && (rc = client(&a, err)) == SDSINF_OK &&
        (rc = about_instance(a, "TerminateInstances", id, out ? out : &mine,
                             err)) == NO_INSTANCE)
        rc = no_instance(id, err);
    sdsinf__aws_free(a);
    return rc;
}

int sdsinf__ec2_terminate_tagged(sdsinf_aws *a, const char *key,
                                 const char *value, int *n, sdsinf_err *err)
{
    static const char *const alive[] = {"pending", "running", "stopping",
                                        "stopped"};
    char what[160], tag[160];
    sdsinf_aws_form f;
    sdsinf_aws_xml *x = NULL;
    snprintf(what, sizeof what, "DescribeInstances tagged %.60s=%.60s", key,
             value);
    snprintf(tag, sizeof tag, "tag:%.128s", key);
    sdsinf__aws_form_init(&f, "DescribeInstances", EC2_VERSION);
    sdsinf__aws_form_add(&f, tag, strlen(tag), "Filter.1.Name");
    sdsinf__aws_form_add(&f, value, strlen(value), "Filter.1.Value.1");
    sdsinf__aws_form_add(&f, "instance-state-name", 19, "Filter.2.Name");
    for (int i = 0; i < 4; i++)
        sdsinf__aws_form_add(&f, alive[i], strlen(alive[i]),
                             "Filter.2.Value.%d", i + 1);
    int rc = query(a, &f, what, 0, &x, err);
    *n = 0;
    /* reservationSet/item/instancesSet/item: TerminateInstances of them */
    sdsinf__aws_form_init(&f, "TerminateInstances", EC2_VERSION);
    const sdsinf_aws_node *rs =
        rc == SDSINF_OK ? sdsinf__aws_xml_find(x, NULL, "reservationSet")
                        : NULL;
    for (const sdsinf_aws_node *r = rs ? sdsinf__aws_xml_find(x, rs, "item")
                                       : NULL;
         r && *n < TERMINATE_MAX; r = sdsinf__aws_xml_next(r, "item")) {
        const sdsinf_aws_node *is = sdsinf__aws_xml_find(x, r, "instancesSet");
        for (const sdsinf_aws_node *i = is ? sdsinf__aws_xml_find(x, is, "item")
                                           : NULL;
             i && *n < TERMINATE_MAX; i = sdsinf__aws_xml_next(i, "item")) {
            sdsinf_ec2_instance in;
            instance_of(x, i, &in);
            if (in.id[0] && check_id(in.id, NULL) == SDSINF_OK)
                sdsinf__aws_form_add(&f, in.id, strlen(in.id),
                                     "InstanceId.%d", ++*n);
        }
    }
    sdsinf__aws_xml_free(x);
    snprintf(what, sizeof what, "TerminateInstances of %d tagged %.60s=%.60s",
             *n, key, value);
    if (rc == SDSINF_OK && *n)
        return query(a, &f, what, 0, NULL, err);
    sdsinf__aws_form_free(&f);
    return rc;
}

int sdsinf_aws_region(char *out, size_t cap, sdsinf_err *err)
{
    sdsinf_aws_config c;
    int rc = sdsinf__aws_config_load(&c, err);
    if (rc == SDSINF_OK && (size_t)snprintf(out, cap, "%s", c.region) >= cap)
        rc = sdsinf__fail(err, SDSINF_EINVAL,
                          "the region '%.60s' does not fit in %zu bytes",
                          c.region, cap);
    return rc;
}

/* ---- Waiting ------------------------------------------------------------------ */

static int ended(const char *state)
{
    return !strcmp(state, "shutting-down") || !strcmp(state, "terminated") ||
           !strcmp(state, "stopping") || !strcmp(state, "stopped");
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t unix_seconds(int y, int mon, int d, int h, int mi, int sec)
{
    if (mon < 1 || mon > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 60 || h < 0 || mi < 0 || sec < 0)
        return -1;
    return days_from_civil(y, mon, d) * 86400 + h * 3600 + mi * 60 + sec;
}

/* EC2's launchTime ("2026-06-13T10:00:00.000Z") in Unix seconds; -1 when
 * it is not one. */
static int64_t iso_seconds(const char *s)
{
    int y, mon, d, h, mi, sec;
    return sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mon, &d, &h, &mi,
                  &sec) == 6
               ? unix_seconds(y, mon, d, h, mi, sec)
               : -1;
}

/* An HTTP date ("Sat, 13 Jun 2026 10:00:00 GMT") in Unix seconds; -1 when
 * it is not one. */
static int64_t http_seconds(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char mon[4] = "";
    int y, d, h, mi, sec;
    const char *m = sscanf(s, "%*3s, %2d %3s %4d %2d:%2d:%2d", &d, mon, &y,
                           &h, &mi, &sec) == 6 && strlen(mon) == 3
                        ? strstr(months, mon)
                        : NULL;
    return m && (m - months) % 3 == 0
               ? unix_seconds(y, (int)(m - months) / 3 + 1, d, h, mi, sec)
               : -1;
}

/* One GET of bucket/key, made at or after Unix second `since` (-1: any
 * time): SDSINF_OK with *body; SDSINF_S3_NOT_FOUND when absent, or older
 * (*stale set then); else a failure. */
static int get_fresh(sdsinf_aws *a, const char *bucket, const char *key,
                     int64_t since, int *stale, char **body, size_t *len,
                     sdsinf_err *err)
{
    sdsinf_aws_response rs;
    uint64_t size;
    char date[64];
    int rc = sdsinf__s3_get(a, bucket, key, NULL, &rs, &size, NULL, err);
    int64_t made = rc == SDSINF_OK &&
                           sdsinf__aws_response_header(&rs, "Last-Modified",
                                                       date, sizeof date) == 0
                       ? http_seconds(date)
                       : -1;
    if (rc == SDSINF_OK && since >= 0 && made >= 0 && made < since) {
        *stale = 1;
        rc = SDSINF_S3_NOT_FOUND;
    } else if (rc == SDSINF_OK && !rs.body) {
        rc = sdsinf__fail(err, SDSINF_EIO, "s3://%.63s/%.200s is empty",
                          bucket, key);
    } else if (rc == SDSINF_OK) {
        *body = rs.body; /* NUL-terminated, malloc'd: the caller's now */
        *len = rs.len;
        rs.body = NULL;
    }
    sdsinf__aws_response_free(&rs);
    return rc;
}

int sdsinf_ec2_wait_object(const char *id, const char *bucket,
                           const char *key, double timeout_s,
                           sdsinf_stack_progress progress, void *arg,
                           char **body, size_t *len, sdsinf_err *err)
{
    sdsinf_aws *a = NULL;
    sdsinf_ec2_instance in = {0};
    double start = sdsinf__now(), next_look = start, pause = POLL_FIRST_MS;
    int64_t since = -1; /* the launch: an object before it is older runs' */
    int stale = 0, said_stale = 0;
    char last[32] = "", line[260];
    int rc = check_id(id, err);
    if (rc == SDSINF_OK)
        rc = client(&a, err);
    while (rc == SDSINF_OK) {
        double now = sdsinf__now();
        int gone = 0;
        if (now >= next_look) {
            rc = about_instance(a, "DescribeInstances", id, &in, err);
            if ((gone = rc == NO_INSTANCE)) {
                rc = SDSINF_OK;
                snprintf(in.state, sizeof in.state, "gone");
            }
            if (rc != SDSINF_OK)
                break;
            if (since < 0)
                since = iso_seconds(in.launched);
            if (strcmp(last, in.state) && progress) {
                snprintf(line, sizeof line, "instance %s: %s (%.0f s)", id,
                         in.state, now - start);
                progress(line, arg);
            }
            snprintf(last, sizeof last, "%s", in.state);
            next_look = now + DESCRIBE_EVERY_S;
        }
        rc = get_fresh(a, bucket, key, since, &stale, body, len, err);
        if (stale && !said_stale++ && progress) {
            snprintf(line, sizeof line,
                     "s3://%.63s/%.100s is an earlier launch's: waiting for "
                     "this one's",
                     bucket, key);
            progress(line, arg);
        }
        if (rc != SDSINF_S3_NOT_FOUND)
            break;
        rc = SDSINF_OK;
        if (gone || ended(in.state)) {
            /* its last words may have landed since the GET */
            sdsinf__sleep_ms(POLL_FIRST_MS);
            if ((rc = get_fresh(a, bucket, key, since, &stale, body, len,
                                err)) == SDSINF_S3_NOT_FOUND)
                rc = sdsinf__fail(err, SDSINF_EIO,
                                  "instance %s is %s without writing "
                                  "s3://%.63s/%.150s: its console output "
                                  "tells why (aws ec2 get-console-output "
                                  "--latest --instance-id %s)",
                                  id, in.state, bucket, key, id);
            break;
        }
        if (now - start > timeout_s)
            rc = sdsinf__fail(err, SDSINF_ETIMEDOUT,
                              "no s3://%.63s/%.150s after %.0f s; instance "
                              "%s is %s",
                              bucket, key, now - start, id, last);
        else
            sdsinf__sleep_ms(pause);
        pause = pause * 2 < POLL_MAX_MS ? pause * 2 : POLL_MAX_MS;
    }
    sdsinf__aws_free(a);
    return rc;
}
