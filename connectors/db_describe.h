/* SPDX-License-Identifier: Apache-2.0
 * The tables of one schema as information_schema describes them, in the
 * shape mapping_validate() takes: what startup validation and
 * `ferryctl plan` check the mapping against.
 */
#ifndef FERRY_DB_DESCRIBE_H
#define FERRY_DB_DESCRIBE_H

#include "common/ferry_error.h"
#include "transforms/mapping.h"

#include <mysql.h>
#include <stddef.h>

struct db_schema {
        struct mapping_table_desc *tables;
        size_t ntables;
};

/**
 * @brief Reads every base table of db with its columns (in table order).
 * @returns 0, or a db_classify() code with errstr
 */
int db_describe(MYSQL *my, const char *db, struct db_schema **out, char *errstr,
                size_t errstr_size) FERRY_WUR;
void db_schema_free(struct db_schema *s);

#endif
