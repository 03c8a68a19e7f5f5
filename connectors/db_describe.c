/* SPDX-License-Identifier: Apache-2.0
 * Schema descriptions; see db_describe.h.
 */
#include "connectors/db_describe.h"

#include "common/buf.h"
#include "common/xalloc.h"
#include "connectors/db_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int db_describe(MYSQL *my, const char *db, struct db_schema **out, char *errstr,
                size_t errstr_size)
{
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, "
                     "c.IS_NULLABLE, c.COLUMN_DEFAULT IS NOT NULL OR "
                     "c.EXTRA LIKE '%auto_increment%' OR "
                     "c.EXTRA LIKE '%GENERATED%' OR c.IS_NULLABLE = 'YES', "
                     "c.COLUMN_KEY = 'PRI' "
                     "FROM information_schema.COLUMNS c "
                     "JOIN information_schema.TABLES t ON "
                     "t.TABLE_SCHEMA = c.TABLE_SCHEMA AND "
                     "t.TABLE_NAME = c.TABLE_NAME AND "
                     "t.TABLE_TYPE = 'BASE TABLE' "
                     "WHERE c.TABLE_SCHEMA = ");
        db_put_quoted(my, &q, db, strlen(db));
        buf_puts(&q, " ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION");
        MYSQL_RES *res = mysql_real_query(my, q.data, (unsigned long)q.len)
                                 ? NULL
                                 : mysql_store_result(my);
        buf_free(&q);
        if (!res) {
                snprintf(errstr, errstr_size, "describing %s: %s", db,
                         mysql_error(my));
                return db_classify(mysql_errno(my));
        }
        struct db_schema *s = xcalloc(1, sizeof(*s));
        size_t nrows = (size_t)mysql_num_rows(res);
        s->tables = xcalloc(nrows + 1, sizeof(*s->tables));
        MYSQL_ROW row;
        struct mapping_table_desc *t = NULL;
        struct mapping_column *cols = NULL;
        size_t cap = 0;
        while ((row = mysql_fetch_row(res))) {
                if (!t || strcmp(t->name, row[0])) {
                        t = &s->tables[s->ntables++];
                        t->name = xstrdup(row[0]);
                        cols = NULL;
                        cap = 0;
                }
                if (t->ncols == cap) {
                        cap = cap ? cap * 2 : 16;
                        cols = xrealloc(cols, cap * sizeof(*cols));
                        t->cols = cols;
                }
                cols[t->ncols++] = (struct mapping_column){
                        .name = xstrdup(row[1]),
                        .type = xstrdup(row[2]),
                        .not_null = !strcmp(row[3], "NO"),
                        .has_default = row[4] && !strcmp(row[4], "1"),
                        .primary_key = row[5] && !strcmp(row[5], "1"),
                };
        }
        mysql_free_result(res);
        *out = s;
        return 0;
}

void db_schema_free(struct db_schema *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->ntables; i++) {
                struct mapping_table_desc *t = &s->tables[i];
                for (size_t c = 0; c < t->ncols; c++) {
                        free((char *)t->cols[c].name);
                        free((char *)t->cols[c].type);
                }
                free((void *)t->cols);
                free((char *)t->name);
        }
        free(s->tables);
        free(s);
}
