/* SPDX-License-Identifier: Apache-2.0
 * A TABLE_MAP event, parsed: every column's binlog type, its metadata
 * (lengths, precision, fractional digits), signedness, charset, name,
 * ENUM/SET members and the primary key. This is what the row decoder
 * needs to read a row image without guessing, and it is parsed from the
 * event bytes here rather than by Connector/C.
 */
#ifndef FERRY_BINLOG_TABLE_H
#define FERRY_BINLOG_TABLE_H

#include "common/ferry_error.h"
#include "connectors/charset.h"
#include "transforms/event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* MariaDB binlog column type codes (enum_field_types). */
enum binlog_type {
        BT_DECIMAL = 0,
        BT_TINY = 1,
        BT_SHORT = 2,
        BT_LONG = 3,
        BT_FLOAT = 4,
        BT_DOUBLE = 5,
        BT_NULL = 6,
        BT_TIMESTAMP = 7,
        BT_LONGLONG = 8,
        BT_INT24 = 9,
        BT_DATE = 10,
        BT_TIME = 11,
        BT_DATETIME = 12,
        BT_YEAR = 13,
        BT_NEWDATE = 14,
        BT_VARCHAR = 15,
        BT_BIT = 16,
        BT_TIMESTAMP2 = 17,
        BT_DATETIME2 = 18,
        BT_TIME2 = 19,
        BT_JSON = 245,
        BT_NEWDECIMAL = 246,
        BT_ENUM = 247,
        BT_SET = 248,
        BT_TINY_BLOB = 249,
        BT_MEDIUM_BLOB = 250,
        BT_LONG_BLOB = 251,
        BT_BLOB = 252,
        BT_VAR_STRING = 253,
        BT_STRING = 254,
        BT_GEOMETRY = 255,
};

struct binlog_column {
        uint8_t type;      /* enum binlog_type as logged */
        uint8_t real_type; /* STRING's real type: STRING, ENUM or SET */
        uint32_t length;   /* CHAR/VARCHAR max bytes; ENUM/SET bytes;
                              BLOB length-prefix bytes; BIT bytes */
        uint8_t precision; /* DECIMAL */
        uint8_t scale;     /* DECIMAL; fractional digits of temporals */
        uint8_t bits;      /* BIT(n) */
        bool is_unsigned;
        bool nullable;
        uint32_t collation;   /* character columns; 0 if none */
        enum charset_kind cs; /* from collation */
        char **members;       /* ENUM/SET member names */
        uint32_t nmembers;
};

struct binlog_table {
        uint64_t table_id;
        uint32_t ncols;
        struct binlog_column *cols;
        /* Shape shared with change events: names, pk, ferry types. */
        struct ferry_table *shape;
        bool has_names; /* binlog_row_metadata=FULL gave column names */
        bool has_pk;    /* ... and primary key information */
};

/**
 * @brief Parses a TABLE_MAP event body (post-header included, checksum
 *        excluded).
 * @param post_header_len  from the FORMAT_DESCRIPTION event (8 normally)
 * @param charsets  collation-id map used to classify character columns
 * @param tp  on success a new table the caller frees with
 *            binlog_table_free()
 * @returns 0, FERRY_ERR_DATA for malformed bytes, FERRY_ERR_SCHEMA for a
 *          column the decoder cannot follow (reason in errstr)
 * @context any (pure)
 */
int binlog_table_parse(const uint8_t *body, size_t len,
                       uint8_t post_header_len,
                       const struct charset_map *charsets,
                       struct binlog_table **tp, char *errstr,
                       size_t errstr_size) FERRY_WUR;

void binlog_table_free(struct binlog_table *t);

/* @brief true when both maps describe the same columns (a re-sent
 * TABLE_MAP for an unchanged table). */
bool binlog_table_same_shape(const struct binlog_table *a,
                             const struct binlog_table *b);

/* @brief Overrides a column's ferry type with what only the server's
 * catalogue knows (JSON, UUID, INET6). Must precede publishing events. */
int binlog_table_set_type(struct binlog_table *t, uint32_t col,
                          enum ferry_type type, char *errstr,
                          size_t errstr_size) FERRY_WUR;

/* Reads a MySQL packed (length-encoded) integer; 0 or -1 on overrun. */
int binlog_read_packed(const uint8_t **p, const uint8_t *end,
                       uint64_t *out);

#endif
