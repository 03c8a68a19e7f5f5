/* SPDX-License-Identifier: Apache-2.0
 * Which source tables ferry watches: one database and a list of exact
 * names or LIKE patterns ('%' any run, '_' one character, '\' escapes),
 * as configured in [source] tables.
 */
#ifndef FERRY_TABLE_FILTER_H
#define FERRY_TABLE_FILTER_H

#include <stdbool.h>
#include <stddef.h>

/* @returns true if name matches the LIKE pattern (case-sensitive, as
 * table names are on Linux). */
bool table_like_match(const char *pattern, const char *name);

/* @returns true if db equals database and table matches any pattern. */
bool table_filter_match(const char *database, char *const *patterns,
                        size_t npatterns, const char *db, const char *table);

#endif
