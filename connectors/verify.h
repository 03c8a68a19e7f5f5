/* SPDX-License-Identifier: Apache-2.0
 * The verify engine: compares each mapped source table with its targets
 * through the mapping, by checksums each server computes itself
 * (pt-table-checksum style), so no rows cross the network unless a chunk
 * differs. Used by ferryctl verify and by cutover step 4; during the
 * cutover's write pause, verify_keys (the changed rows only) and
 * verify_counts (row counts) stand in for a full run.
 *
 * Method, per source table and target: walk the source primary key in
 * chunks of chunk_rows (keyset pagination); for each chunk run
 * COUNT(*) + BIT_XOR(CRC32(row)) on both servers, the source side over
 * the mapped expressions (verify_plan.h); when a chunk differs, fetch
 * (key, CRC32) per row from both sides and diff them to name the keys.
 * Every statement is a single autocommit REPEATABLE READ read: no locks,
 * no long transaction. Differences seen while the stream is still
 * applying are expected; verify_recheck re-runs only the chunks that
 * differed, after the stream caught up, so that only persistent
 * differences remain.
 *
 * @context any thread; one verify at a time per pair of connections.
 */
#ifndef FERRY_VERIFY_H
#define FERRY_VERIFY_H

#include "common/ferry_error.h"
#include "transforms/mapping.h"

#include <jansson.h>
#include <mysql.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct verify_opts {
        size_t chunk_rows;      /* rows per chunk; 0: 10000 */
        const char *only_table; /* a source table; NULL: every mapped one */
        size_t max_keys;        /* differing keys listed per pair; 0: 100 */
};

/* The outcome for one (source table, target table) pair. Read-only for
 * callers; owned by the report. */
struct verify_result {
        char *source;
        char *target;
        uint64_t rows_source; /* rows the source sends to this target */
        uint64_t rows_target;
        uint64_t chunks;
        uint64_t chunks_differing;
        uint64_t rows_differing; /* counted in narrowed chunks */
        /* Differing primary keys as JSON text ({"id":5}, source column
         * names), at most max_keys; keys_truncated if there were more. */
        char **keys;
        size_t nkeys;
        bool keys_truncated;
        bool whole_table; /* checked as one chunk (see notes) */
        /* [{"column": c, "reason": r}]: target columns left out of the
         * checksum (fed by a C transform, or not fed at all) */
        json_t *unverified_columns;
        json_t *notes; /* [text] */
};

struct verify_report;

/* @brief Fills o with the defaults. */
void verify_opts_init(struct verify_opts *o);

/**
 * @brief Verifies every mapped source table (or o->only_table) against
 *        its targets.
 *
 * Sets autocommit and REPEATABLE READ on both sessions. A difference is
 * not an error: it is in the report (verify_report_clean() says whether
 * there is any).
 *
 * @param o    NULL: defaults
 * @param out  a new report on success (verify_report_free)
 * @returns 0; FERRY_ERR_CONFIG (a table is missing, no primary key, the
 *          mapping cannot be checked, only_table not mapped); or a
 *          db_classify() code when a query fails
 */
int verify_run(const struct mapping *m, MYSQL *src, const char *src_db,
               MYSQL *dst, const char *dst_db, const struct verify_opts *o,
               struct verify_report **out, char *errstr,
               size_t errstr_size) FERRY_WUR;

/**
 * @brief Re-checks only the chunks that differed in r (after the stream
 *        has caught up), replacing their counts and keys in r with what
 *        differs now. Rows and chunk totals keep the first pass's values.
 * @returns 0, or an error as verify_run (r is then unchanged in meaning
 *          but may be partly updated; treat it as not clean)
 */
int verify_recheck(struct verify_report *r, const struct mapping *m, MYSQL *src,
                   const char *src_db, MYSQL *dst, const char *dst_db,
                   const struct verify_opts *o, char *errstr,
                   size_t errstr_size) FERRY_WUR;

/**
 * @brief The keyed check of the cutover's write pause: compares only the
 *        rows of source_table whose keys are listed, on every target the
 *        table feeds.
 *
 * Each side returns (key, CRC32(row)) for the listed keys, with the same
 * row expression as the chunk checksum, by `WHERE (pk) IN (...)` in
 * batches of 1000 keys (source side: per route, with its predicate). A
 * key present on one side only, or with another CRC, is a difference; a
 * key absent on both sides is a row deleted since, and fine. In the
 * report, rows_source/rows_target count the rows found, chunks the
 * batches, chunks_differing the batches with a difference.
 * verify_recheck does not apply to this report: call verify_keys again.
 *
 * @param source_table  a mapped source table
 * @param keys  a JSON array of key objects in source column names, as
 *              change events carry them ({"id": 5}): integers as
 *              numbers, DECIMAL and BIGINT UNSIGNED above 2^63 as
 *              strings, binary columns as base64
 * @param o     NULL: defaults (max_keys applies; chunk_rows and
 *              only_table do not)
 * @returns 0; FERRY_ERR_DATA (keys not an array, a key lacks a key column
 *          or a value is not a scalar or not base64 for a binary column);
 *          FERRY_ERR_CONFIG (table not mapped or missing, or a key column
 *          goes through a value map or a C transform on a route: the
 *          target key cannot be derived, the table needs verify_run);
 *          or a db_classify() code
 */
int verify_keys(const struct mapping *m, MYSQL *src, const char *src_db,
                MYSQL *dst, const char *dst_db, const char *source_table,
                json_t *keys, const struct verify_opts *o,
                struct verify_report **out, char *errstr,
                size_t errstr_size) FERRY_WUR;

/**
 * @brief Row counts per (source, target) pair of every mapped source
 *        table (or o->only_table): COUNT(*) of the source rows the routes
 *        send to the target against COUNT(*) of the target.
 *
 * A mismatch makes the report not clean: chunks_differing 1,
 * rows_differing the difference, no keys, and a note "row counts differ:
 * N vs M". Cheap with writes paused; not a substitute for a checksum.
 * @returns 0, or an error as verify_run
 */
int verify_counts(const struct mapping *m, MYSQL *src, const char *src_db,
                  MYSQL *dst, const char *dst_db, const struct verify_opts *o,
                  struct verify_report **out, char *errstr,
                  size_t errstr_size) FERRY_WUR;

/* The same counts in steps, so that a caller can count each side while
 * it does something else (the cutover counts the frozen source while the
 * stream drains): prepare (reads both catalogues), count each side on a
 * connection of that server (from any one thread per side), report. */
struct verify_counts;
int verify_counts_prepare(const struct mapping *m, MYSQL *src,
                          const char *src_db, MYSQL *dst, const char *dst_db,
                          const struct verify_opts *o,
                          struct verify_counts **out, char *errstr,
                          size_t errstr_size) FERRY_WUR;
int verify_counts_side(struct verify_counts *vc, bool target, MYSQL *my,
                       char *errstr, size_t errstr_size) FERRY_WUR;
/**
 * @brief Leaves out the pairs whose source table holds more than
 *        max_rows rows by the server's estimate (information_schema),
 *        appending {source, target, rows_estimate} to skipped for each.
 *        A COUNT(*) costs time in proportion to the table: the cutover
 *        counts only tables small enough for its write pause.
 * @returns 0, or a db_classify() code (pairs not looked at yet are kept)
 */
int verify_counts_limit(struct verify_counts *vc, MYSQL *src,
                        uint64_t max_rows, json_t *skipped, char *errstr,
                        size_t errstr_size) FERRY_WUR;
/* @returns a new report of the counts taken (verify_report_free). */
struct verify_report *verify_counts_report(const struct verify_counts *vc);
void verify_counts_free(struct verify_counts *vc);

/* @brief Frees r; NULL is a no-op. */
void verify_report_free(struct verify_report *r);

/* @returns the number of (source, target) pairs checked. */
size_t verify_report_count(const struct verify_report *r);
/* @returns pair i (0 <= i < count), owned by r. */
const struct verify_result *verify_report_get(const struct verify_report *r,
                                              size_t i);
/* @returns true when no chunk differs. */
bool verify_report_clean(const struct verify_report *r);
/* @returns seconds the last verify_run/verify_recheck took. */
double verify_report_seconds(const struct verify_report *r);

/**
 * @brief The report as JSON, for status and metrics:
 * {"clean": bool, "seconds": s, "rows_source": n, "rows_target": n,
 *  "tables": [{"source", "target", "rows_source", "rows_target",
 *  "chunks", "chunks_differing", "rows_differing", "differing_keys":
 *  [{...}], "keys_truncated", "whole_table", "unverified_columns",
 *  "notes"}]}
 * @returns a new reference
 */
json_t *verify_report_json(const struct verify_report *r);

#endif
