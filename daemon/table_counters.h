/* SPDX-License-Identifier: Apache-2.0
 * Per (table, op) counters for the sink thread: a small cache in front of
 * the registry so that counting one row is a string compare and an
 * atomic add, not a registry lookup.
 */
#ifndef FERRY_TABLE_COUNTERS_H
#define FERRY_TABLE_COUNTERS_H

#include "daemon/metrics.h"

struct table_counters;

/* @param name, help  a counter family with labels table and op */
struct table_counters *table_counters_new(struct metrics *reg, const char *name,
                                          const char *help);
void table_counters_free(struct table_counters *tc);
/* @brief Adds 1 to {table, op}; tc may be NULL (no metrics). */
void table_counters_inc(struct table_counters *tc, const char *table,
                        const char *op);

#endif
