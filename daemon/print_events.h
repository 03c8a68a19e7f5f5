/* SPDX-License-Identifier: Apache-2.0
 * ferryd --print-events: the binlog source alone, writing change events
 * to stdout as JSON lines (one Debezium envelope per line), for
 * debugging and for piping into other tools.
 */
#ifndef FERRY_PRINT_EVENTS_H
#define FERRY_PRINT_EVENTS_H

#include "daemon/config.h"

#include <stdatomic.h>
#include <stdbool.h>

/**
 * @brief Streams until *stop is set or a fatal error. Lines of a
 *        transaction are written when it commits, so a restart from the
 *        GTID logged at exit neither repeats nor misses a change.
 * @returns a process exit code (0 after a requested stop)
 * @context main thread
 */
int print_events_run(const struct cfg *cfg, atomic_bool *stop);

#endif
