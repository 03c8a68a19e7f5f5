/* SPDX-License-Identifier: Apache-2.0
 * stderr logger; see log.h. A whole line is formatted first and written
 * with one write(2) so lines from different threads never interleave.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_threshold = LOG_LVL_INFO;
static _Atomic int log_prefix = -1; /* -1: not decided yet */

void log_set_level(enum log_level level)
{
        atomic_store(&log_threshold, (int)level);
}

enum log_level log_get_level(void)
{
        return (enum log_level)atomic_load(&log_threshold);
}

static const struct {
        const char *name;
        enum log_level level;
} level_names[] = {
        {"fatal", LOG_LVL_FATAL}, {"error", LOG_LVL_ERROR},
        {"warning", LOG_LVL_WARNING}, {"info", LOG_LVL_INFO},
        {"debug", LOG_LVL_DEBUG},
};

int log_level_parse(const char *name, enum log_level *level)
{
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
             i++) {
                if (!strcmp(name, level_names[i].name)) {
                        *level = level_names[i].level;
                        return 0;
                }
        }
        return FERRY_ERR_CONFIG;
}

const char *log_level_name(enum log_level level)
{
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
             i++)
                if (level_names[i].level == level)
                        return level_names[i].name;
        return "unknown";
}

void log_set_prefix(bool on)
{
        atomic_store(&log_prefix, on ? 1 : 0);
}

static bool prefix_wanted(void)
{
        int p = atomic_load(&log_prefix);
        if (p < 0) {
                p = getenv("JOURNAL_STREAM") ? 1 : 0;
                atomic_store(&log_prefix, p);
        }
        return p == 1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
        char line[4096];
        size_t n = 0;
        va_list ap;

        if (!log_enabled(level))
                return;

        if (prefix_wanted()) {
                n = (size_t)snprintf(line, sizeof(line), "<%d>", (int)level);
        } else {
                /* Outside journald a timestamp helps; journald adds its own. */
                struct timeval tv;
                struct tm tm;
                gettimeofday(&tv, NULL);
                gmtime_r(&tv.tv_sec, &tm);
                n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
                n += (size_t)snprintf(line + n, sizeof(line) - n,
                                      ".%03dZ %s ", (int)(tv.tv_usec / 1000),
                                      log_level_name(level));
        }

        va_start(ap, fmt);
        int w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
        if (w < 0)
                w = 0;
        n += (size_t)w;
        if (n > sizeof(line) - 2)
                n = sizeof(line) - 2;
        /* One event per line: embedded newlines would split it in journald. */
        for (size_t i = 0; i < n; i++)
                if (line[i] == '\n')
                        line[i] = ' ';
        line[n++] = '\n';
        ssize_t off = 0;
        while (off < (ssize_t)n) {
                ssize_t r = write(STDERR_FILENO, line + off, n - (size_t)off);
                if (r <= 0)
                        break;
                off += r;
        }
}
