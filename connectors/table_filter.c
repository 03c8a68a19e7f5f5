/* SPDX-License-Identifier: Apache-2.0
 * LIKE-pattern table matching; see table_filter.h.
 */
#include "connectors/table_filter.h"

#include <string.h>

bool table_like_match(const char *p, const char *s)
{
        /* Iterative matcher with single backtrack point for '%'. */
        const char *star_p = NULL, *star_s = NULL;
        while (*s) {
                if (*p == '\\' && p[1]) {
                        if (p[1] == *s) {
                                p += 2;
                                s++;
                                continue;
                        }
                } else if (*p == '%') {
                        star_p = ++p;
                        star_s = s;
                        continue;
                } else if (*p && (*p == '_' || *p == *s)) {
                        p++;
                        s++;
                        continue;
                }
                if (!star_p)
                        return false;
                p = star_p;
                s = ++star_s;
        }
        while (*p == '%')
                p++;
        return *p == '\0';
}

bool table_filter_match(const char *database, char *const *patterns,
                        size_t npatterns, const char *db, const char *table)
{
        if (strcmp(database, db))
                return false;
        for (size_t i = 0; i < npatterns; i++)
                if (table_like_match(patterns[i], table))
                        return true;
        return false;
}
