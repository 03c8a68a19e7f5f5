/* SPDX-License-Identifier: Apache-2.0
 * Table descriptions for the verifier; see verify_table.h.
 */
#include "connectors/verify_table.h"
#include "common/buf.h"
#include "common/xalloc.h"
#include "connectors/db_conn.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The type's first word: "bigint(20) unsigned" -> "bigint". */
static void type_word(const char *type, char *out, size_t size)
{
        size_t n = 0;
        while (type[n] && type[n] != '(' && type[n] != ' ' && n + 1 < size) {
                out[n] = (char)tolower((unsigned char)type[n]);
                n++;
        }
        out[n] = '\0';
}

static bool in(const char *w, const char *const *list)
{
        for (; *list; list++)
                if (!strcmp(w, *list))
                        return true;
        return false;
}

enum verify_family verify_type_family(const char *type)
{
        static const char *const ints[] = {"tinyint", "smallint", "mediumint",
                                           "int",     "integer",  "bigint",
                                           "year",    "bit",      "bool",
                                           "boolean", NULL};
        static const char *const floats[] = {"float", "double", "real", NULL};
        static const char *const strs[] = {
                "char",     "varchar", "tinytext", "text", "mediumtext",
                "longtext", "enum",    "set",      "json", NULL};
        static const char *const bins[] = {"binary", "varbinary",  "tinyblob",
                                           "blob",   "mediumblob", "longblob",
                                           NULL};
        static const char *const times[] = {"date", "time", "datetime",
                                            "timestamp", NULL};
        char w[32];
        type_word(type, w, sizeof(w));
        if (in(w, ints))
                return VERIFY_INT;
        if (in(w, floats))
                return VERIFY_FLOAT;
        if (!strcmp(w, "decimal") || !strcmp(w, "numeric"))
                return VERIFY_DEC;
        if (in(w, strs))
                return VERIFY_STR;
        if (in(w, bins))
                return VERIFY_BIN;
        if (in(w, times))
                return VERIFY_TIME;
        return VERIFY_OTHER;
}

int verify_type_cast(const char *type, char *out, size_t out_size)
{
        char w[32];
        type_word(type, w, sizeof(w));
        const char *args = strchr(type, '(');
        size_t alen = 0;
        if (args) {
                const char *end = strchr(args, ')');
                alen = end ? (size_t)(end - args) + 1 : 0;
        }
        const char *as;
        if (!strcmp(w, "decimal") || !strcmp(w, "numeric"))
                as = "DECIMAL";
        else if (!strcmp(w, "datetime") || !strcmp(w, "timestamp"))
                as = "DATETIME";
        else if (!strcmp(w, "time"))
                as = "TIME";
        else if (!strcmp(w, "date"))
                as = "DATE";
        else
                return -1;
        /* The arguments come from information_schema ("(10,2)", "(6)");
         * anything but digits and commas there would be a surprise, and
         * is not copied into SQL. */
        for (size_t i = 1; i + 1 < alen; i++)
                if (!isdigit((unsigned char)args[i]) && args[i] != ',')
                        alen = 0;
        snprintf(out, out_size, "%s%.*s", as, (int)alen, alen ? args : "");
        return 0;
}

int verify_table_find(const struct verify_table *t, const char *name)
{
        for (size_t i = 0; i < t->ncols; i++)
                if (!strcmp(t->cols[i].name, name))
                        return (int)i;
        return -1;
}

void verify_table_free(struct verify_table *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->ncols; i++) {
                free(t->cols[i].name);
                free(t->cols[i].type);
        }
        free(t->cols);
        free(t->pk);
        free(t->name);
        free(t);
}

/* Runs sql and calls fn for each row. */
static int each_row(MYSQL *my, const char *sql,
                    void (*fn)(struct verify_table *t, MYSQL_ROW row),
                    struct verify_table *t, char *errstr, size_t errstr_size)
{
        if (mysql_query(my, sql)) {
                snprintf(errstr, errstr_size, "reading %s: %s", t->name,
                         mysql_error(my));
                return db_classify(mysql_errno(my));
        }
        MYSQL_RES *res = mysql_store_result(my);
        if (!res) {
                snprintf(errstr, errstr_size, "reading %s: %s", t->name,
                         mysql_error(my));
                return db_classify(mysql_errno(my));
        }
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(res)))
                fn(t, row);
        mysql_free_result(res);
        return 0;
}

static void add_col(struct verify_table *t, MYSQL_ROW row)
{
        t->cols = xrealloc(t->cols, (t->ncols + 1) * sizeof(*t->cols));
        t->cols[t->ncols].name = xstrdup(row[0] ? row[0] : "");
        char *type = xstrdup(row[1] ? row[1] : "");
        for (char *p = type; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        t->cols[t->ncols].type = type;
        t->ncols++;
}

static void add_pk(struct verify_table *t, MYSQL_ROW row)
{
        int i = row[0] ? verify_table_find(t, row[0]) : -1;
        if (i < 0)
                return; /* cannot happen: the key's columns are listed */
        t->pk = xrealloc(t->pk, (t->npk + 1) * sizeof(*t->pk));
        t->pk[t->npk++] = (size_t)i;
}

int verify_table_read(MYSQL *my, const char *db, const char *name,
                      struct verify_table **out, char *errstr,
                      size_t errstr_size)
{
        struct verify_table *t = xcalloc(1, sizeof(*t));
        struct buf q;
        int rc;

        *out = NULL;
        t->name = xstrdup(name);
        buf_init(&q);
        buf_puts(&q, "SELECT COLUMN_NAME, COLUMN_TYPE FROM "
                     "information_schema.COLUMNS WHERE TABLE_SCHEMA = ");
        db_put_quoted(my, &q, db, strlen(db));
        buf_puts(&q, " AND TABLE_NAME = ");
        db_put_quoted(my, &q, name, strlen(name));
        buf_puts(&q, " ORDER BY ORDINAL_POSITION");
        rc = each_row(my, buf_cstr(&q), add_col, t, errstr, errstr_size);
        if (!rc && !t->ncols) {
                snprintf(errstr, errstr_size, "table %s.%s does not exist", db,
                         name);
                rc = FERRY_ERR_CONFIG;
        }
        if (!rc) {
                buf_reset(&q);
                buf_puts(&q, "SELECT COLUMN_NAME FROM "
                             "information_schema.KEY_COLUMN_USAGE WHERE "
                             "CONSTRAINT_NAME = 'PRIMARY' AND "
                             "TABLE_SCHEMA = ");
                db_put_quoted(my, &q, db, strlen(db));
                buf_puts(&q, " AND TABLE_NAME = ");
                db_put_quoted(my, &q, name, strlen(name));
                buf_puts(&q, " ORDER BY ORDINAL_POSITION");
                rc = each_row(my, buf_cstr(&q), add_pk, t, errstr, errstr_size);
        }
        buf_free(&q);
        if (rc) {
                verify_table_free(t);
                return rc;
        }
        *out = t;
        return 0;
}
