/* SPDX-License-Identifier: Apache-2.0
 * ferry.signal on the source: the one table ferry writes there. A row in
 * it reaches the binlog source in commit order with everything else, so
 * it marks a point in the stream:
 *
 *   kind "low"/"high"  backfill watermarks of chunk `chunk` (snapshot.h)
 *   kind "barrier"     cutover barrier `chunk`: the sink records it once
 *                      everything before it is applied
 *   kind "snapshot"    asks for a (re-)backfill of table `tbl`; this is
 *                      also how setups without the control socket ask
 */
#ifndef FERRY_SIGNAL_TABLE_H
#define FERRY_SIGNAL_TABLE_H

#include "common/ferry_error.h"
#include "transforms/event.h"

#include <mysql.h>
#include <stddef.h>

#define SIGNAL_DB    "ferry"
#define SIGNAL_TABLE "signal"

/* @brief Creates ferry.signal if missing (needs CREATE on ferry.*). */
int signal_table_ensure(MYSQL *my, char *errstr, size_t errstr_size) FERRY_WUR;

/* @brief Inserts one signal row (autocommit).
 * @returns 0, or the db_classify() code with errstr saying what failed */
int signal_table_write(MYSQL *my, const char *chunk, const char *kind,
                       const char *table, char *errstr,
                       size_t errstr_size) FERRY_WUR;

/* @brief A text column of a ferry.signal row event's after image.
 * @returns the bytes (not NUL-terminated) with *len, or NULL */
const char *signal_table_field(const struct ferry_event *sig, const char *name,
                               size_t *len);

#endif
