/* SPDX-License-Identifier: Apache-2.0
 * How full the target server's InnoDB redo log is.
 *
 * When a backfill's writes outrun the page cleaner, the checkpoint age
 * (redo written since the last checkpoint) nears its maximum and InnoDB
 * makes every writer on that server wait while it flushes pages: on a
 * server with the source and the target, the site's own commits. The
 * backfill can hold before that point (pipeline_throttle); this reads
 * the figure it holds on.
 */
#include "connectors/mariadb_sink.h"
#include "connectors/mariadb_sink_int.h"
#include "common/ferry_error.h"

#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDO_QUERY                                                  \
        "SHOW GLOBAL STATUS WHERE Variable_name IN "                 \
        "('Innodb_checkpoint_age', 'Innodb_checkpoint_max_age')"

int mariadb_sink_redo_fill(struct mariadb_sink *sink, double *fill,
                           char *errstr, size_t errstr_size)
{
        /* The reply of a pipelined statement would be read as ours. */
        if (sink->awaiting) {
                snprintf(errstr, errstr_size,
                         "redo fill asked with a statement in flight");
                return FERRY_ERR_FATAL;
        }
        if (mysql_query(sink->my, REDO_QUERY))
                return sink_sql_error(sink, "reading the checkpoint age",
                                      errstr, errstr_size);
        MYSQL_RES *res = mysql_store_result(sink->my);
        if (!res)
                return sink_sql_error(sink, "reading the checkpoint age",
                                      errstr, errstr_size);
        double age = -1, max = -1;
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(res))) {
                if (!row[0] || !row[1])
                        continue;
                if (!strcmp(row[0], "Innodb_checkpoint_age"))
                        age = strtod(row[1], NULL);
                else if (!strcmp(row[0], "Innodb_checkpoint_max_age"))
                        max = strtod(row[1], NULL);
        }
        mysql_free_result(res);
        if (age < 0 || max <= 0)
                return 1; /* not MariaDB's InnoDB: nothing to hold on */
        *fill = age / max;
        return 0;
}
