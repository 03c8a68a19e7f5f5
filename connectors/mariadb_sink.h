/* SPDX-License-Identifier: Apache-2.0
 * The MariaDB sink: applies mapped row operations to the target tables
 * with batched multi-row INSERT ... ON DUPLICATE KEY UPDATE and
 * DELETE ... WHERE pk IN (...), one transaction per batch, and stores the
 * stream position it has applied up to (a source GTID in direct mode, a
 * Kafka offset per partition otherwise) in ferry.offsets in the same
 * transaction: a crash leaves either the batch and its position, or
 * neither, so a replay converges.
 *
 * Values arrive as change-event JSON; the target column's type decides
 * how a JSON string is written (base64 -> bytes for binary columns).
 */
#ifndef FERRY_MARIADB_SINK_H
#define FERRY_MARIADB_SINK_H

#include "common/ferry_error.h"
#include "connectors/db_conn.h"
#include "transforms/event.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mariadb_sink;

struct mariadb_sink_stats {
        uint64_t rows_upserted;
        uint64_t rows_deleted;
        uint64_t rows_displaced; /* moved aside by a unique-key conflict */
        uint64_t batches;
        uint64_t statements;
};

/** What the sink runs to keep its statements' text out of the binlog
 * (mariadb_sink.c says why); ferryctl plan tries the same. */
#define MARIADB_SINK_ANNOTATIONS_OFF \
        "SET SESSION binlog_annotate_row_events = 0"

/**
 * @brief Connects to the target and creates ferry.offsets if missing.
 * @param pipeline  names this pipeline's rows in ferry.offsets
 * @returns 0, FERRY_ERR_RETRY or FERRY_ERR_FATAL (errstr says why)
 * @context sink thread
 */
int mariadb_sink_new(const struct db_endpoint *ep, const char *pipeline,
                     struct mariadb_sink **sinkp, char *errstr,
                     size_t errstr_size) FERRY_WUR;
void mariadb_sink_free(struct mariadb_sink *sink);

/* @brief Reads the stored position for partition ("" if none). */
int mariadb_sink_read_offset(struct mariadb_sink *sink, const char *partition,
                             char *out, size_t out_size, char *errstr,
                             size_t errstr_size) FERRY_WUR;

/**
 * @brief Queues an upsert of row (an object of target column -> value)
 *        into table, or a delete of the row whose primary key is key.
 *        Statements are built per run of (table, kind) and sent when the
 *        run ends or grows large; nothing is committed until
 *        mariadb_sink_commit. References to row/key are not kept.
 */
int mariadb_sink_upsert(struct mariadb_sink *sink, const char *table,
                        json_t *row, char *errstr,
                        size_t errstr_size) FERRY_WUR;
int mariadb_sink_delete(struct mariadb_sink *sink, const char *table,
                        json_t *key, char *errstr,
                        size_t errstr_size) FERRY_WUR;

/**
 * @brief The fast path of mariadb_sink_upsert for rows that need no
 *        mapping beyond renames: the row is vals[idx[i]] for target
 *        column cols[i], i < n, written as typed values (binary as hex,
 *        WKB through ST_GeomFromWKB) with no JSON in between.
 * @returns 0, an error as mariadb_sink_upsert, or SINK_NOT_FAST (nothing
 *          done) when a value must take the JSON path to be written as
 *          it would be there
 */
int mariadb_sink_upsert_values(struct mariadb_sink *sink, const char *table,
                               const char *const *cols,
                               const struct ferry_value *vals,
                               const uint32_t *idx, size_t n, char *errstr,
                               size_t errstr_size) FERRY_WUR;
#define SINK_NOT_FAST 1
/* @returns whether the fast path writes v exactly as the JSON path does. */
bool mariadb_sink_value_fits(const struct ferry_value *v);

/**
 * @brief Sends what is pending, records partition -> position in
 *        ferry.offsets, and commits the transaction.
 * @returns 0, FERRY_ERR_RETRY (connection lost: reconnect and replay
 *          from the stored position) or FERRY_ERR_DATA (a value the
 *          target rejects)
 */
int mariadb_sink_commit(struct mariadb_sink *sink, const char *partition,
                        const char *position, char *errstr,
                        size_t errstr_size) FERRY_WUR;

/**
 * @brief Reads how full the target's InnoDB redo log is: checkpoint age
 *        over its maximum (1.0 is where InnoDB makes writers wait).
 *        Call between transactions or right after a commit, with no
 *        statement in flight.
 * @returns 0 with *fill set, 1 when the server reports no checkpoint age
 *          (not MariaDB's InnoDB), FERRY_ERR_RETRY on a lost connection
 */
int mariadb_sink_redo_fill(struct mariadb_sink *sink, double *fill,
                           char *errstr, size_t errstr_size) FERRY_WUR;

/* @brief Records part -> value in ferry.offsets with the next commit
 * (backfill progress rides with the rows it describes). */
void mariadb_sink_mark(struct mariadb_sink *sink, const char *part,
                       const char *value);

/* @brief Reads every stored part starting with prefix as a JSON object
 * {part: value}; NULL with errstr on error. */
json_t *mariadb_sink_read_offsets(struct mariadb_sink *sink,
                                  const char *prefix, char *errstr,
                                  size_t errstr_size);

/**
 * @brief Reads the stored positions of parts inside the batch's
 *        transaction (starting it if needed) with FOR UPDATE: the rows
 *        stay locked until commit or rollback, so two writers of one
 *        part serialize and each sees what the other committed. A
 *        writer compares them with what it last stored to find out that
 *        someone else took its partitions over (fencing a zombie).
 * @param out  receives a new object {part: position} of the parts that
 *             exist
 * @returns 0, FERRY_ERR_RETRY (connection, deadlock) or FERRY_ERR_DATA
 */
int mariadb_sink_lock_offsets(struct mariadb_sink *sink,
                              const char *const *parts, size_t n, json_t **out,
                              char *errstr, size_t errstr_size) FERRY_WUR;

/**
 * @brief Secondary unique keys when changes arrive out of order across
 *        rows (Kafka partitions and workers keep order per primary key
 *        only): a value can reach its new row while the target still
 *        shows it on the old one. For each of tables (NULL-terminated)
 *        with a unique key besides the primary key, makes ferry's table
 *        of displaced rows: a row in the way is moved there (not
 *        merged, not lost) and put back once its value is free again or
 *        forgotten when its own newer change or delete arrives. Call
 *        right after mariadb_sink_new (it runs DDL).
 *
 *        Without it a conflict is never merged either: the upsert fails
 *        with FERRY_ERR_CONFLICT, and mariadb_sink_set_guard tells the
 *        caller's replay to check rows one by one.
 * @returns 0, FERRY_ERR_RETRY or FERRY_ERR_FATAL
 */
int mariadb_sink_guard_tables(struct mariadb_sink *sink,
                              const char *const *tables, char *errstr,
                              size_t errstr_size) FERRY_WUR;

/* @brief While on, every upsert into a guarded table is checked for
 * rows holding its unique values first, and written alone. */
void mariadb_sink_set_guard(struct mariadb_sink *sink, bool on);

/* @brief Whether the last error was a deadlock or lock wait timeout:
 * the server rolled the transaction back and the connection is fine. */
bool mariadb_sink_lock_failed(const struct mariadb_sink *sink);

/* @brief Drops pending statements and rolls back. */
void mariadb_sink_rollback(struct mariadb_sink *sink);

const struct mariadb_sink_stats *mariadb_sink_stats(
        const struct mariadb_sink *sink);

/**
 * @brief Describes a target table's columns as "name type" pairs read from
 *        information_schema (for validation against the mapping).
 * @returns a new JSON object {column: column_type}, or NULL with errstr
 */
json_t *mariadb_sink_describe(struct mariadb_sink *sink, const char *table,
                              char *errstr, size_t errstr_size);

#endif
