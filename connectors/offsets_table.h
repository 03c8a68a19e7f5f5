/* SPDX-License-Identifier: Apache-2.0
 * One part of a pipeline's row set in the target's ferry.offsets, read
 * or written on its own: the marks the cutover, the reverse stream and
 * the rollback leave there (part "cutover", "reverse", "rollback") for
 * a restarted ferryd to find. The sink's own positions go in with the
 * rows they cover (mariadb_sink.c), not through here.
 */
#ifndef FERRY_OFFSETS_TABLE_H
#define FERRY_OFFSETS_TABLE_H

#include "common/ferry_error.h"

#include <mysql.h>
#include <stddef.h>

/**
 * @brief Sets pipeline's part to value (insert or update) and commits.
 * @returns 0 or a db_exec() code, with errstr
 */
int offsets_table_put(MYSQL *my, const char *pipeline, const char *part,
                      const char *value, char *errstr,
                      size_t errstr_size) FERRY_WUR;

/**
 * @brief Reads pipeline's part into out: "" when there is no such row.
 * @returns 0 or a db_query_value() code (no ferry.offsets at all is an
 *          error too), with errstr
 */
int offsets_table_get(MYSQL *my, const char *pipeline, const char *part,
                      char *out, size_t out_size, char *errstr,
                      size_t errstr_size) FERRY_WUR;

#endif
