/* SPDX-License-Identifier: Apache-2.0
 * Per (table, op) counters; see table_counters.h. One thread uses a
 * cache; the counters themselves are the registry's (atomic).
 */
#include "daemon/table_counters.h"

#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

struct entry {
        char *table;
        char op[8];
        struct metric_counter *c;
};

struct table_counters {
        struct metrics *reg;
        const char *name, *help;
        struct entry *v;
        size_t n, cap;
        size_t last;
};

struct table_counters *table_counters_new(struct metrics *reg, const char *name,
                                          const char *help)
{
        if (!reg)
                return NULL;
        struct table_counters *tc = xcalloc(1, sizeof(*tc));
        tc->reg = reg;
        tc->name = name;
        tc->help = help;
        return tc;
}

void table_counters_free(struct table_counters *tc)
{
        if (!tc)
                return;
        for (size_t i = 0; i < tc->n; i++)
                free(tc->v[i].table);
        free(tc->v);
        free(tc);
}

void table_counters_inc(struct table_counters *tc, const char *table,
                        const char *op)
{
        if (!tc)
                return;
        struct entry *e = tc->n ? &tc->v[tc->last] : NULL;
        if (!e || strcmp(e->op, op) || strcmp(e->table, table)) {
                e = NULL;
                for (size_t i = 0; i < tc->n; i++)
                        if (!strcmp(tc->v[i].op, op) &&
                            !strcmp(tc->v[i].table, table)) {
                                e = &tc->v[i];
                                tc->last = i;
                                break;
                        }
        }
        if (!e) {
                if (tc->n == tc->cap) {
                        tc->cap = tc->cap ? tc->cap * 2 : 16;
                        tc->v = xrealloc(tc->v, tc->cap * sizeof(*tc->v));
                }
                e = &tc->v[tc->n];
                e->table = xstrdup(table);
                strncpy(e->op, op, sizeof(e->op) - 1);
                e->op[sizeof(e->op) - 1] = '\0';
                e->c = metrics_counter(tc->reg, tc->name, tc->help, "table",
                                       table, "op", op, NULL);
                tc->last = tc->n++;
        }
        metric_counter_inc(e->c);
}
