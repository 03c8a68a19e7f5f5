/* SPDX-License-Identifier: Apache-2.0
 * One part of ferry.offsets; see offsets_table.h.
 */
#include "connectors/offsets_table.h"

#include "common/buf.h"
#include "connectors/db_conn.h"

#include <string.h>

int offsets_table_put(MYSQL *my, const char *pipeline, const char *part,
                      const char *value, char *errstr, size_t errstr_size)
{
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "INSERT INTO ferry.offsets (pipeline, part, position) "
                     "VALUES (");
        db_put_quoted(my, &q, pipeline, strlen(pipeline));
        buf_putc(&q, ',');
        db_put_quoted(my, &q, part, strlen(part));
        buf_putc(&q, ',');
        db_put_quoted(my, &q, value, strlen(value));
        buf_puts(&q, ") ON DUPLICATE KEY UPDATE position = VALUES(position)");
        int rc = db_exec(my, buf_cstr(&q), errstr, errstr_size);
        if (rc == 0)
                rc = db_exec(my, "COMMIT", errstr, errstr_size);
        buf_free(&q);
        return rc;
}

int offsets_table_get(MYSQL *my, const char *pipeline, const char *part,
                      char *out, size_t out_size, char *errstr,
                      size_t errstr_size)
{
        struct buf q;
        buf_init(&q);
        buf_puts(&q, "SELECT position FROM ferry.offsets WHERE pipeline = ");
        db_put_quoted(my, &q, pipeline, strlen(pipeline));
        buf_puts(&q, " AND part = ");
        db_put_quoted(my, &q, part, strlen(part));
        int rc = db_query_value(my, buf_cstr(&q), out, out_size, errstr,
                                errstr_size);
        buf_free(&q);
        return rc;
}
