/* SPDX-License-Identifier: MIT */
/*
 * ringd's log: one line per event on stderr, "TIME LEVEL message", the
 * level as syslog's.  Instances are named "bundle#N" in every line about
 * them, so a log reads as a story per driver.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "ringd/ringd.h"

void rd_log(ringd *d, int level, const char *fmt, ...) {
        static const char *const names[] = { "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug" };
        struct timespec ts;
        struct tm tm;
        char when[32];
        va_list ap;

        if (level > d->log_level)
                return;
        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
        flockfile(stderr);
        fprintf(stderr, "%s.%03ld %-6s ", when, ts.tv_nsec / 1000000, names[level < 0 ? 0 : level > 7 ? 7 : level]);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        funlockfile(stderr);
}
