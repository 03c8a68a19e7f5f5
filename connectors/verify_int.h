/* SPDX-License-Identifier: Apache-2.0
 * The engine's insides, shared by the chunked verify (verify.c), the
 * keyed check (verify_keys.c), the row counts (verify_counts.c), row
 * pairing (verify_rows.c) and the report accessors (verify_report.c).
 * Not for other modules: they use verify.h.
 */
#ifndef FERRY_VERIFY_INT_H
#define FERRY_VERIFY_INT_H

#include "connectors/verify.h"
#include "connectors/verify_plan.h"

/* A chunk (lo, hi]; NULL bounds are open. */
struct verify_range {
        struct verify_key *lo, *hi;
};

struct verify_entry {
        struct verify_result res;
        /* The chunks that differed, for verify_recheck. */
        struct verify_range *bad;
        size_t nbad;
};

struct verify_report {
        struct verify_entry *v;
        size_t n;
        double seconds;
};

/* @returns a new entry in r for source -> target, zeroed. */
struct verify_entry *verify_report_add(struct verify_report *r,
                                       const char *source, const char *target);
/* @brief Appends a key (JSON text, taken over) to e, within max. */
void verify_entry_add_key(struct verify_entry *e, char *key, size_t max);
/* @brief Forgets e's differing keys, counts and chunks (for a recheck). */
void verify_entry_reset_diffs(struct verify_entry *e);
void verify_range_free(struct verify_range *rg);

/* One verify call's connections and options. */
struct vctx {
        const struct mapping *m;
        MYSQL *src, *dst;
        const char *src_db, *dst_db;
        size_t chunk_rows, max_keys;
        char *errstr;
        size_t errstr_size;
};

void verify_ctx_init(struct vctx *c, const struct mapping *m, MYSQL *src,
                     const char *src_db, MYSQL *dst, const char *dst_db,
                     const struct verify_opts *o, char *errstr,
                     size_t errstr_size);
/* @returns a monotonic clock in seconds, for report timings. */
double verify_now(void);
/* @brief Runs sql, storing its result in *res (mysql_free_result).
 * @returns 0 or a db_classify() code, with the query in errstr */
int verify_query(struct vctx *c, MYSQL *my, const char *sql,
                 MYSQL_RES **res) FERRY_WUR;
/* @brief Autocommit and REPEATABLE READ on my (see verify.h). */
int verify_prepare_session(struct vctx *c, MYSQL *my) FERRY_WUR;
/* @brief Reads target from the target server and plans source table st
 *        against it (verify_plan_new). */
int verify_plan_pair(struct vctx *c, const struct verify_table *st,
                     const char *target, struct verify_plan **plan) FERRY_WUR;

/* (key, CRC) rows of one side, for pairing by key. */
struct verify_row {
        char *key; /* the key columns, each as 8-byte length + bytes */
        size_t keylen;
        char *json; /* the key for the report */
        uint64_t crc;
};

struct verify_rows {
        struct verify_row *v;
        size_t n, cap;
};

/* @brief Runs sql (key columns, then the CRC: verify_sql_rows or
 *        verify_sql_rows_in) and appends its rows to out. */
int verify_rows_fetch(struct vctx *c, const struct verify_plan *p, MYSQL *my,
                      const char *sql, struct verify_rows *out) FERRY_WUR;
/**
 * @brief Pairs s and t by key (sorting both in C: the two servers need
 *        not collate alike) and records in e every key present on one
 *        side only or with another CRC (rows_differing, keys).
 * @returns the number of differing rows
 */
size_t verify_rows_diff(struct vctx *c, struct verify_entry *e,
                        struct verify_rows *s, struct verify_rows *t);
void verify_rows_free(struct verify_rows *rv);

#endif
