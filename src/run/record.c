/* run/record.c - the names and locations of run records in a stack's
 * bucket (sdsinf.h): runs/NAME/FILE, NAME the UTC time to the millisecond
 * and a random tag, so a listing (in key order) gives them by time. */
#include "core/core.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NAME_LEN 29 /* YYYYmmddTHHMMSS.mmmZ-XXXXXXXX */

/* 32 random bits: from /dev/urandom, else the time and pid. */
static unsigned random32(void)
{
    unsigned v = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&v, sizeof v, 1, f) != 1) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (unsigned)ts.tv_nsec ^ ((unsigned)getpid() << 16);
    }
    if (f)
        fclose(f);
    return v;
}

void sdsinf_run_record_name(char *out, size_t cap)
{
    char stamp[20] = "00000000T000000";
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (gmtime_r(&ts.tv_sec, &tm))
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
    snprintf(out, cap, "%s.%03dZ-%08x", stamp, (int)(ts.tv_nsec / 1000000),
             random32());
}

/* Whether s is a name sdsinf_run_record_name makes. */
static int name_ok(const char *s)
{
    static const char form[] = "ddddddddTdddddd.dddZ-xxxxxxxx";
    if (strlen(s) != NAME_LEN)
        return 0;
    for (int i = 0; i < NAME_LEN; i++) {
        char c = s[i], f = form[i];
        int ok = f == 'd'   ? c >= '0' && c <= '9'
                 : f == 'x' ? (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
                            : c == f;
        if (!ok)
            return 0;
    }
    return 1;
}

int sdsinf_run_record_location(const char *bucket, const char *name,
                               const char *file, char *out, size_t cap,
                               sdsinf_err *err)
{
    if (!bucket || !name || !name_ok(name))
        return sdsinf__fail(err, SDSINF_EINVAL, "'%.40s' is not a run "
                            "record's name (YYYYmmddTHHMMSS.mmmZ-XXXXXXXX)",
                            name ? name : "");
    int n = snprintf(out, cap, "s3://%s/" SDSINF_RUNS_PREFIX "%s/%s", bucket,
                     name, file ? file : "");
    if (n < 0 || (size_t)n >= cap)
        return sdsinf__fail(err, SDSINF_EINVAL, "run record %s of bucket "
                            "%.63s: too long a location", name, bucket);
    return SDSINF_OK;
}
