/* SPDX-License-Identifier: Apache-2.0
 * The declarative mapping from source tables to target tables
 * (schemas/<name>.json, format in docs/mapping.md): renames, dropped
 * columns, constant defaults, value maps, named C transforms, and routing
 * of rows to targets by predicates. Pure: rows in, operations out; the
 * only I/O is reading the mapping file. Checking a mapping against the
 * real tables is pure too: the caller describes the tables.
 */
#ifndef FERRY_MAPPING_H
#define FERRY_MAPPING_H

#include "common/ferry_error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct mapping;

/**
 * @brief Reads and checks a mapping file.
 * @returns 0, or FERRY_ERR_CONFIG with errstr naming the file, the JSON
 *          path and the problem ("m.json: $.tables[2].rename: ...")
 */
int mapping_load(const char *path, struct mapping **mp, char *errstr,
                 size_t errstr_size) FERRY_WUR;
/* @brief As mapping_load, from text (name is used in messages). */
int mapping_parse(const char *text, const char *name, struct mapping **mp,
                  char *errstr, size_t errstr_size) FERRY_WUR;
/* @brief Frees m; NULL is a no-op. */
void mapping_free(struct mapping *m);

enum mapping_op_kind { MAPPING_OP_UPSERT, MAPPING_OP_DELETE };

struct mapping_op {
        enum mapping_op_kind kind;
        const char *table; /* target table, owned by the mapping */
        json_t *row;       /* UPSERT: the full target row; DELETE: its key */
};

/* At most a delete from one target and an upsert into another. */
struct mapping_ops {
        size_t n;
        struct mapping_op v[2];
};

void mapping_ops_init(struct mapping_ops *ops);
/* @brief Releases the rows of ops. */
void mapping_ops_clear(struct mapping_ops *ops);

/**
 * @brief Maps one source row change to target operations.
 *
 * 'c'/'r' upsert the after image into the route it matches; 'd' deletes
 * the before image's key from the route the before image matched; 'u'
 * upserts, and first deletes the old key from the old route's target
 * when the row moves to another target or its key changes. The key of a
 * target row is the source primary key after the route's mapping
 * (renamed, and through value maps and transforms if they touch it).
 *
 * @param op      'c', 'u', 'd' or 'r'
 * @param key     source primary key {column: value}; its column names
 *                say which columns form the key, values are read from
 *                the images
 * @param before  source row before ('u', 'd'), else NULL
 * @param after   source row after ('c', 'u', 'r'), else NULL
 * @param ops     filled (ops->n is 0 for a table the mapping does not
 *                name); the caller clears it with mapping_ops_clear
 * @returns 0, or FERRY_ERR_DATA when a row matches no route, an image the
 *          op needs is missing, a key column is dropped, or a transform
 *          rejects a value (ops is then empty)
 */
int mapping_apply(const struct mapping *m, const char *source_table, char op,
                  json_t *key, json_t *before, json_t *after,
                  struct mapping_ops *ops, char *errstr,
                  size_t errstr_size) FERRY_WUR;

/* @returns whether source_table is mapped. */
int mapping_has_source(const struct mapping *m, const char *source_table);

/* @brief Lists the target tables (NULL-terminated, owned by m). */
const char *const *mapping_targets(const struct mapping *m);
/* @brief Lists the source tables (NULL-terminated, owned by m). */
const char *const *mapping_sources(const struct mapping *m);
/**
 * @brief Lists the targets one source table feeds, in route order
 *        (NULL-terminated, distinct, owned by m).
 * @returns NULL if the mapping does not name source_table.
 */
const char *const *mapping_source_targets(const struct mapping *m,
                                          const char *source_table);

/**
 * @brief For a table mapped by one unconditional route that only renames
 *        or drops columns (no defaults, value maps, transforms), the
 *        target: rows can then go to it column by column without being
 *        built as JSON (the direct sink's fast path).
 * @returns the target (owned by m), or NULL when the mapping does more
 */
const char *mapping_plain_target(const struct mapping *m,
                                 const char *source_table);
/* @brief For a plain table (mapping_plain_target non-NULL): the target
 * column of a source column, or NULL when it is dropped. Owned by m. */
const char *mapping_plain_column(const struct mapping *m,
                                 const char *source_table, const char *column);

/* ---- checking against the real tables ------------------------------ */

/* One column as information_schema.COLUMNS describes it. */
struct mapping_column {
        const char *name;
        /* COLUMN_TYPE: "bigint(20) unsigned", "varchar(255)",
         * "decimal(10,2)", "datetime(6)", "enum('a','b')" ... Anything
         * after the type (CHARACTER SET, COLLATE) is ignored. */
        const char *type;
        bool not_null;
        /* The server fills it when omitted: DEFAULT, AUTO_INCREMENT,
         * generated. */
        bool has_default;
        bool primary_key;
};

struct mapping_table_desc {
        const char *name;
        const struct mapping_column *cols;
        size_t ncols;
};

/* Receives one problem line; the string lives only during the call. */
typedef void(mapping_problem_fn)(void *ctx, const char *problem);

/**
 * @brief Checks the mapping against the actual source and target tables.
 *
 * Every mapped source table and every target must exist; every column
 * the mapping names must exist in the source; every column a route
 * produces must exist in its target with a compatible type
 * (mapping_type_fits); every target NOT NULL column without a default
 * must be fed, and not from a nullable source column; the source primary
 * key must survive and, when both sides mark one, be the target's.
 *
 * @param report  called once per problem (may be NULL)
 * @returns 0, or FERRY_ERR_CONFIG with the first problem and the count in
 *          errstr; every problem names the tables, the column and both
 *          types where types are the problem
 */
int mapping_validate(const struct mapping *m,
                     const struct mapping_table_desc *sources, size_t nsources,
                     const struct mapping_table_desc *targets, size_t ntargets,
                     mapping_problem_fn *report, void *ctx, char *errstr,
                     size_t errstr_size) FERRY_WUR;

/**
 * @brief Whether every value of SQL type src_type can be stored in a
 *        column of dst_type unchanged.
 *
 * Same family and the target at least as wide: integers by range
 * (signedness included) or into a DECIMAL with enough integer digits;
 * DECIMAL by integer digits and scale; FLOAT into FLOAT/DOUBLE; strings
 * by capacity in bytes (CHAR/VARCHAR(n) count 4n, utf8mb4); binary by
 * bytes; ENUM/SET into a superset or a wide enough string; DATETIME,
 * TIMESTAMP, TIME by fractional digits, DATE and TIMESTAMP into DATETIME;
 * anything else only into the same type.
 *
 * @returns true, or false with the reason in why
 */
bool mapping_type_fits(const char *src_type, const char *dst_type, char *why,
                       size_t why_size);

#endif
