/* SPDX-License-Identifier: Apache-2.0
 * Change-event and table-shape lifetimes.
 */
#include "transforms/event.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {
        [FERRY_T_INT] = "int",         [FERRY_T_UINT] = "uint",
        [FERRY_T_FLOAT] = "float",     [FERRY_T_DOUBLE] = "double",
        [FERRY_T_DECIMAL] = "decimal", [FERRY_T_BIT] = "bit",
        [FERRY_T_YEAR] = "year",       [FERRY_T_DATE] = "date",
        [FERRY_T_TIME] = "time",       [FERRY_T_DATETIME] = "datetime",
        [FERRY_T_TIMESTAMP] = "timestamp", [FERRY_T_TEXT] = "text",
        [FERRY_T_BLOB] = "blob",       [FERRY_T_JSON] = "json",
        [FERRY_T_ENUM] = "enum",       [FERRY_T_SET] = "set",
        [FERRY_T_UUID] = "uuid",       [FERRY_T_INET6] = "inet6",
        [FERRY_T_GEOMETRY] = "geometry",
};

const char *ferry_type_name(enum ferry_type t)
{
        if ((size_t)t < sizeof(type_names) / sizeof(type_names[0]) &&
            type_names[t])
                return type_names[t];
        return "unknown";
}

struct ferry_table *ferry_table_new(const char *db, const char *name,
                                    size_t ncols)
{
        struct ferry_table *t = xcalloc(1, sizeof(*t));
        atomic_init(&t->refcnt, 1);
        t->db = xstrdup(db);
        t->name = xstrdup(name);
        t->ncols = ncols;
        t->cols = xcalloc(ncols ? ncols : 1, sizeof(*t->cols));
        return t;
}

struct ferry_table *ferry_table_ref(struct ferry_table *t)
{
        if (t)
                atomic_fetch_add(&t->refcnt, 1);
        return t;
}

void ferry_table_unref(struct ferry_table *t)
{
        if (!t || atomic_fetch_sub(&t->refcnt, 1) != 1)
                return;
        for (size_t i = 0; i < t->ncols; i++)
                free(t->cols[i].name);
        free(t->cols);
        free(t->pk);
        free(t->db);
        free(t->name);
        free(t);
}

int ferry_table_column(const struct ferry_table *t, const char *name)
{
        for (size_t i = 0; i < t->ncols; i++)
                if (t->cols[i].name && !strcmp(t->cols[i].name, name))
                        return (int)i;
        return -1;
}

struct ferry_event *ferry_event_new(enum ferry_event_kind kind,
                                    struct ferry_table *table,
                                    bool with_before, bool with_after,
                                    const char *file, size_t text_bytes,
                                    char **text)
{
        size_t ncols = table ? table->ncols : 0;
        size_t nvals = ncols * ((with_before ? 1 : 0) + (with_after ? 1 : 0));
        size_t flen = file ? strlen(file) + 1 : 0;
        size_t size = sizeof(struct ferry_event) +
                      nvals * sizeof(struct ferry_value) + flen + text_bytes;
        struct ferry_event *ev = xmalloc(size);
        char *p = (char *)(ev + 1);

        memset(ev, 0, sizeof(*ev));
        ev->kind = kind;
        ev->size = size;
        ev->table = ferry_table_ref(table);
        if (with_before) {
                ev->before = (struct ferry_value *)p;
                p += ncols * sizeof(struct ferry_value);
        }
        if (with_after) {
                ev->after = (struct ferry_value *)p;
                p += ncols * sizeof(struct ferry_value);
        }
        if (file) {
                memcpy(p, file, flen);
                ev->pos.file = p;
                p += flen;
        }
        if (text)
                *text = p;
        return ev;
}

void ferry_event_free(struct ferry_event *ev)
{
        if (!ev)
                return;
        ferry_table_unref(ev->table);
        free(ev);
}

bool ferry_value_equal(const struct ferry_value *a,
                       const struct ferry_value *b)
{
        if (a->kind != b->kind)
                return false;
        switch (a->kind) {
        case FERRY_V_NULL:
                return true;
        case FERRY_V_INT:
                return a->i == b->i;
        case FERRY_V_UINT:
                return a->u == b->u;
        case FERRY_V_DOUBLE:
        case FERRY_V_FLOAT:
                return memcmp(&a->d, &b->d, sizeof(a->d)) == 0;
        default:
                return a->len == b->len &&
                       (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
        }
}

bool ferry_event_pk_changed(const struct ferry_event *ev)
{
        if (!ev->before || !ev->after || !ev->table)
                return false;
        for (size_t i = 0; i < ev->table->npk; i++) {
                uint32_t c = ev->table->pk[i];
                if (!ferry_value_equal(&ev->before[c], &ev->after[c]))
                        return true;
        }
        return false;
}
