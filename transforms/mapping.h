/* SPDX-License-Identifier: Apache-2.0
 * The declarative mapping from source tables to target tables
 * (schemas/<name>.json, format in docs/mapping.md): renames, dropped
 * columns, constant defaults, value maps, named C transforms, and routing
 * of rows to targets by predicates. Pure: rows in, operations out.
 */
#ifndef FERRY_MAPPING_H
#define FERRY_MAPPING_H

#include "common/ferry_error.h"

#include <jansson.h>
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
 * @brief Maps one source row change.
 * @param op      'c', 'u', 'd' or 'r'
 * @param key     source primary key {column: value}
 * @param before  source row before ('u', 'd'), else NULL
 * @param after   source row after ('c', 'u', 'r'), else NULL
 * @returns 0 (ops filled: nothing for unmapped tables), or FERRY_ERR_DATA
 *          when the row matches no route or a transform rejects a value
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

#endif
