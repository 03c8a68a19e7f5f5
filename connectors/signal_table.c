/* SPDX-License-Identifier: Apache-2.0
 * ferry.signal; see signal_table.h.
 */
#include "connectors/signal_table.h"

#include "common/buf.h"
#include "connectors/db_conn.h"

#include <stdio.h>
#include <string.h>

int signal_table_ensure(MYSQL *my, char *errstr, size_t errstr_size)
{
        static const char *const ddl[] = {
                "CREATE DATABASE IF NOT EXISTS " SIGNAL_DB,
                "CREATE TABLE IF NOT EXISTS " SIGNAL_DB "." SIGNAL_TABLE " ("
                " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
                " chunk VARCHAR(64) NOT NULL,"
                " kind VARCHAR(8) NOT NULL,"
                " tbl VARCHAR(64) NOT NULL,"
                " created TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
                ") ENGINE=InnoDB",
        };
        for (size_t i = 0; i < sizeof(ddl) / sizeof(*ddl); i++)
                if (mysql_query(my, ddl[i])) {
                        snprintf(errstr, errstr_size,
                                 "creating ferry.signal on the source (the "
                                 "ferry user needs CREATE, INSERT on "
                                 "ferry.*): %s",
                                 mysql_error(my));
                        return db_classify(mysql_errno(my));
                }
        return 0;
}

int signal_table_write(MYSQL *my, const char *chunk, const char *kind,
                       const char *table, char *errstr, size_t errstr_size)
{
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "INSERT INTO " SIGNAL_DB "." SIGNAL_TABLE
                     " (chunk, kind, tbl) VALUES (");
        db_put_quoted(my, &q, chunk, strlen(chunk));
        buf_putc(&q, ',');
        db_put_quoted(my, &q, kind, strlen(kind));
        buf_putc(&q, ',');
        db_put_quoted(my, &q, table, strlen(table));
        buf_putc(&q, ')');
        int bad = mysql_real_query(my, q.data, (unsigned long)q.len);
        buf_free(&q);
        if (bad) {
                snprintf(errstr, errstr_size,
                         "writing a %s row into ferry.signal: %s", kind,
                         mysql_error(my));
                return db_classify(mysql_errno(my));
        }
        return 0;
}

const char *signal_table_field(const struct ferry_event *sig, const char *name,
                               size_t *len)
{
        int c = ferry_table_column(sig->table, name);
        if (c < 0 || !sig->after || sig->after[c].kind != FERRY_V_TEXT)
                return NULL;
        *len = sig->after[c].len;
        return sig->after[c].p;
}
