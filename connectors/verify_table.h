/* SPDX-License-Identifier: Apache-2.0
 * What the verifier needs to know about one real table: its columns in
 * order with their COLUMN_TYPE, and its primary key in key order. Read
 * from information_schema, or built by hand in unit tests.
 */
#ifndef FERRY_VERIFY_TABLE_H
#define FERRY_VERIFY_TABLE_H

#include "common/ferry_error.h"

#include <mysql.h>
#include <stdbool.h>
#include <stddef.h>

struct verify_column {
        char *name;
        char *type; /* COLUMN_TYPE, lower case: "decimal(10,2)" */
};

struct verify_table {
        char *name;
        struct verify_column *cols;
        size_t ncols;
        size_t *pk; /* indexes into cols, in key order */
        size_t npk;
};

/* How a column's values travel and compare; from its COLUMN_TYPE. */
enum verify_family {
        VERIFY_INT,   /* integers, YEAR, BIT: numbers in change events */
        VERIFY_FLOAT, /* FLOAT, DOUBLE */
        VERIFY_DEC,   /* DECIMAL: a string in change events */
        VERIFY_STR,   /* CHAR, VARCHAR, TEXT, ENUM, SET, JSON */
        VERIFY_BIN,   /* BINARY, VARBINARY, BLOB */
        VERIFY_TIME,  /* DATE, TIME, DATETIME, TIMESTAMP */
        VERIFY_OTHER,
};

enum verify_family verify_type_family(const char *type);

/**
 * @brief The CAST target that turns any value into what a column of this
 *        type stores ("DECIMAL(10,2)", "DATETIME(6)"), so that a constant
 *        or a mapped value renders like the stored one; NULL when the
 *        type's text form does not depend on it.
 * @returns 0 and the CAST type in out, or -1 (no cast needed)
 */
int verify_type_cast(const char *type, char *out, size_t out_size);

/**
 * @brief Reads db.name's columns and primary key from information_schema.
 * @param out  set to a new table (free with verify_table_free)
 * @returns 0; FERRY_ERR_CONFIG if the table does not exist; a
 *          db_classify() code for query failures
 */
int verify_table_read(MYSQL *my, const char *db, const char *name,
                      struct verify_table **out, char *errstr,
                      size_t errstr_size) FERRY_WUR;

/* @returns the index of column name, or -1. */
int verify_table_find(const struct verify_table *t, const char *name);

/* @brief Frees t and everything it holds; NULL is a no-op. */
void verify_table_free(struct verify_table *t);

#endif
