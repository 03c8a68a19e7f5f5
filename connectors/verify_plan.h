/* SPDX-License-Identifier: Apache-2.0
 * How to checksum one (source table, target table) pair through the
 * mapping, as SQL each server runs itself: the source side computes the
 * target row from the source columns (renames, value maps as CASE,
 * defaults as literals, route predicates as WHERE), the target side reads
 * its columns. Both produce CRC32(CONCAT_WS('#', cols..., null flags))
 * over the same key range. Building a plan does no I/O; the MYSQL handle
 * is only used to escape literals for its character set.
 */
#ifndef FERRY_VERIFY_PLAN_H
#define FERRY_VERIFY_PLAN_H

#include "common/buf.h"
#include "common/ferry_error.h"
#include "connectors/verify_table.h"
#include "transforms/mapping.h"

#include <jansson.h>
#include <mysql.h>
#include <stdbool.h>

/* One key value tuple (a chunk bound), npk values as the source returned
 * them (text form, binary-safe). Primary-key columns are never NULL. */
struct verify_key {
        char **v;
        unsigned long *len;
        size_t n;
};

void verify_key_free(struct verify_key *k);
/* @brief Copies a fetched row's first n columns into a new key. */
struct verify_key *verify_key_from_row(MYSQL_ROW row, unsigned long *len,
                                       size_t n);
struct verify_key *verify_key_dup(const struct verify_key *k);

/* The source side of one route into the plan's target. */
struct verify_route_sql {
        char *where; /* which rows the route takes; NULL: all */
        char *crc;   /* CRC32(...) of the mapped row */
        char **keys; /* npk expressions giving the target's key values */
};

struct verify_plan {
        char *source, *target; /* table names */
        char *src_from;        /* `db`.`table` */
        char *dst_from;
        size_t npk;
        char **src_pk;    /* source key columns (identifiers) */
        bool *pk_numeric; /* bound literals go unquoted */
        bool *pk_binary;  /* bound literals go as X'hex' */
        char **dst_pk;    /* target key columns (identifiers) */
        char *dst_crc;    /* CRC32(...) of the target row */
        struct verify_route_sql *routes;
        size_t nroutes;
        /* A key column goes through a value map: target key ranges cannot
         * be derived from source ones, so the table is one chunk. */
        bool whole_table;
        /* A key column goes through a C transform: rows cannot be paired
         * in SQL, so differences are counted but keys not listed. */
        bool keys_unknown;
        json_t *unverified; /* [{"column": target column, "reason": ...}] */
        json_t *notes;      /* [text] */
        json_t *key_names;  /* [source key column names], for reports */
};

/**
 * @brief Plans the checksum of source -> target through mapping m.
 *
 * @param src, dst  the real tables (src must have a primary key)
 * @param quote     a connection, for escaping literals only
 * @param out       a new plan (verify_plan_free)
 * @returns 0, or FERRY_ERR_CONFIG when the mapping does not feed target
 *          from source, the source has no primary key, or a key column
 *          is dropped
 */
int verify_plan_new(const struct mapping *m, const char *source,
                    const char *target, const struct verify_table *src,
                    const char *src_db, const struct verify_table *dst,
                    const char *dst_db, MYSQL *quote, struct verify_plan **out,
                    char *errstr, size_t errstr_size) FERRY_WUR;

/* @brief Frees p; NULL is a no-op. */
void verify_plan_free(struct verify_plan *p);

enum verify_side { VERIFY_SOURCE, VERIFY_TARGET };

/**
 * @brief SELECT COUNT(*), BIT_XOR(crc) over the rows of (lo, hi].
 * @param route  for VERIFY_SOURCE, which route (0..nroutes-1)
 * @param lo,hi  chunk bounds on the source key; NULL: open. Ignored for
 *               whole_table plans.
 */
void verify_sql_checksum(const struct verify_plan *p, MYSQL *quote,
                         enum verify_side side, size_t route,
                         const struct verify_key *lo,
                         const struct verify_key *hi, struct buf *out);

/* @brief SELECT key..., crc for each row of (lo, hi] (unordered). */
void verify_sql_rows(const struct verify_plan *p, MYSQL *quote,
                     enum verify_side side, size_t route,
                     const struct verify_key *lo, const struct verify_key *hi,
                     struct buf *out);

/**
 * @brief SELECT key..., crc for the rows whose key is one of keys[0..n)
 *        (source key values, as verify_key text; binary ones as raw
 *        bytes): `WHERE (pk...) IN ((..), (..))`, and the route's
 *        predicate on the source side. Only for plans that are not
 *        whole_table (target keys equal source keys there).
 */
void verify_sql_rows_in(const struct verify_plan *p, MYSQL *quote,
                        enum verify_side side, size_t route,
                        struct verify_key *const *keys, size_t n,
                        struct buf *out);

/* @brief SELECT COUNT(*) of the rows the route sends (source) or of the
 *        whole target table. */
void verify_sql_count(const struct verify_plan *p, MYSQL *quote,
                      enum verify_side side, size_t route, struct buf *out);

/**
 * @brief The next chunk's upper bound: the source key n rows past lo in
 *        key order (keyset pagination, so each chunk is one index range).
 */
void verify_sql_bound(const struct verify_plan *p, MYSQL *quote,
                      const struct verify_key *lo, size_t n, struct buf *out);

#endif
