/* SPDX-License-Identifier: Apache-2.0
 * One logger for the whole process: one event per line on stderr, a
 * syslog "<N>" priority prefix when journald reads us, then the message,
 * then key=value context. Levels are checked before formatting.
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include "common/ferry_error.h"

#include <stdbool.h>

enum log_level {
        LOG_LVL_FATAL = 2,   /* syslog LOG_CRIT */
        LOG_LVL_ERROR = 3,   /* LOG_ERR */
        LOG_LVL_WARNING = 4, /* LOG_WARNING */
        LOG_LVL_INFO = 6,    /* LOG_INFO */
        LOG_LVL_DEBUG = 7,   /* LOG_DEBUG */
};

/* @brief Sets the threshold. Thread-safe (a single atomic store). */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* @brief Parses "debug|info|warning|error".
 * @returns 0, or FERRY_ERR_CONFIG for an unknown name. */
int log_level_parse(const char *name, enum log_level *level) FERRY_WUR;
const char *log_level_name(enum log_level level);

/* @brief Forces the "<N>" prefix on or off (default: on when stderr is
 * connected to journald, detected through $JOURNAL_STREAM). */
void log_set_prefix(bool on);

void log_msg(enum log_level level, const char *fmt, ...) FERRY_PRINTF(2, 3);

#define log_enabled(lvl) ((int)(lvl) <= (int)log_get_level())
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                       \
        do {                                                                 \
                if (log_enabled(LOG_LVL_DEBUG))                              \
                        log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                 \
        } while (0)

#endif
