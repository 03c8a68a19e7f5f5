/* SPDX-License-Identifier: Apache-2.0
 * Every metric ferry exports, in one place: each FERRY_M_* macro expands
 * to the name and the help text, so modules register with
 *   metrics_counter(reg, FERRY_M_EVENTS_TOTAL, "table", t, "op", "c", NULL)
 * and the names cannot drift. docs/metrics.md explains each one; the
 * catalog at the bottom lets tests check both against each other.
 */
#ifndef FERRY_METRIC_NAMES_H
#define FERRY_METRIC_NAMES_H

#include <stddef.h>

/* clang-format off */
/* ---- source: binlog reader and snapshot ---- */
#define FERRY_M_SOURCE_CONNECTED "ferry_source_connected",                    \
        "1 while the binlog connection to the source is up and streaming."
#define FERRY_M_SOURCE_LAG_SECONDS "ferry_source_lag_seconds",                \
        "Seconds the binlog reader trails the source: now minus the server "  \
        "time of the last event or heartbeat read. Idle and caught up "       \
        "reads 0; a stalled or dead connection reads a growing value."
#define FERRY_M_SOURCE_GTID_SEQUENCE "ferry_source_gtid_sequence",            \
        "Sequence number of the last GTID read from the binlog, per "         \
        "replication domain."
#define FERRY_M_SOURCE_SERVER_GTID_SEQUENCE                                   \
        "ferry_source_server_gtid_sequence",                                  \
        "Sequence number of the source server's own last GTID "               \
        "(@@gtid_binlog_pos), per replication domain."
#define FERRY_M_SOURCE_BINLOG_FILE_NUMBER "ferry_source_binlog_file_number",  \
        "Numeric suffix of the binlog file being read (mariadb-bin.000042 "   \
        "reads 42)."
#define FERRY_M_SOURCE_BINLOG_POSITION "ferry_source_binlog_position_bytes",  \
        "Byte offset of the last event read within the current binlog file."
#define FERRY_M_SOURCE_RECONNECTS_TOTAL "ferry_source_reconnects_total",      \
        "Times the binlog connection to the source was re-established."
#define FERRY_M_EVENTS_TOTAL "ferry_events_total",                            \
        "Change events read from the source (binlog and snapshot), per "      \
        "source table and op (c, u, d, r)."
#define FERRY_M_SNAPSHOT_ROWS_COPIED_TOTAL "ferry_snapshot_rows_copied_total",\
        "Rows copied by the snapshot (backfill) so far, per source table."
#define FERRY_M_SNAPSHOT_ROWS_ESTIMATED "ferry_snapshot_rows_estimated",      \
        "Rows the snapshot expects to copy, per source table (an estimate "   \
        "from table statistics)."
#define FERRY_M_SNAPSHOT_DONE "ferry_snapshot_done",                          \
        "1 once the snapshot of the source table is complete, else 0."

/* ---- transport ---- */
#define FERRY_M_DIRECT_QUEUE_EVENTS "ferry_direct_queue_events",              \
        "Events waiting in the in-process queue between source and sink "     \
        "(transport = direct)."
#define FERRY_M_KAFKA_PRODUCED_TOTAL "ferry_kafka_messages_produced_total",   \
        "Messages acknowledged by the Kafka brokers, per topic."
#define FERRY_M_KAFKA_IN_FLIGHT "ferry_kafka_messages_in_flight",           \
        "Messages produced but not yet acknowledged by the Kafka brokers "    \
        "(the source's checkpoint waits for them)."
#define FERRY_M_KAFKA_CONSUMER_LAG "ferry_kafka_consumer_lag",                \
        "Messages between the sink group's committed offset and the "         \
        "partition's high watermark, per topic and partition."

/* ---- sink ---- */
#define FERRY_M_SINK_LAG_SECONDS "ferry_sink_lag_seconds",                    \
        "Seconds the sink trails the reader: age of the oldest change read "  \
        "but not yet applied to the target; 0 when nothing is pending."
#define FERRY_M_REPLICATION_LAG_SECONDS "ferry_replication_lag_seconds",      \
        "End-to-end seconds the target trails the source: since the source "  \
        "committed the oldest change not yet applied, or the source lag "     \
        "when nothing is pending."
#define FERRY_M_ROWS_APPLIED_TOTAL "ferry_rows_applied_total",                \
        "Rows written to the target, per target table and op (c, u, d, r)."
#define FERRY_M_SINK_BATCH_SECONDS "ferry_sink_batch_duration_seconds",       \
        "Time to apply and commit one sink batch, offsets included."
#define FERRY_M_SINK_REDO_FILL "ferry_sink_redo_fill_ratio",                  \
        "The target's InnoDB checkpoint age over its maximum, as read for "   \
        "[source] backfill_max_redo_fill; -1 when that is off or unread."

/* ---- errors and cutover ---- */
#define FERRY_M_ERRORS_TOTAL "ferry_errors_total",                            \
        "Errors by kind (see docs/metrics.md); retried ones included."
#define FERRY_M_CUTOVER_STATE "ferry_cutover_state",                          \
        "The daemon's state as ferryctl status reports it, one-hot: the "     \
        "series whose state label matches reads 1."
#define FERRY_M_CUTOVER_STATE_VALUES                                          \
        "backfilling", "streaming", "paused", "cutting_over", "cut_over",     \
        "error", "rolling_back", "rolled_back"
#define FERRY_M_REVERSE_LAG_SECONDS "ferry_reverse_lag_seconds",            \
        "After a cutover with [cutover] reverse = true: seconds the retired "  \
        "old tables trail the new ones (the reverse stream's end-to-end "     \
        "lag); 0 while no reverse stream runs."
#define FERRY_M_CUTOVER_LAST_PAUSE_SECONDS                                    \
        "ferry_cutover_last_pause_seconds",                                   \
        "How long the last cutover held source writes paused."
#define FERRY_M_CUTOVER_LAST_TIMESTAMP "ferry_cutover_last_timestamp_seconds",\
        "Unix time the last cutover attempt ended."
#define FERRY_M_CUTOVERS_TOTAL "ferry_cutovers_total",                        \
        "Cutover attempts by result (success, failed, dry_run)."

/* ---- process (registered by metrics_register_process) ---- */
#define FERRY_M_UPTIME_SECONDS "ferry_uptime_seconds",                        \
        "Seconds since ferryd started."

/* The catalog: X(type, FERRY_M_..., "label,names"), type one of
 * "counter", "gauge", "histogram", "enum". Process metrics are left out:
 * metrics_register_process owns them. */
#define FERRY_METRIC_CATALOG(X)                                               \
        X("gauge", FERRY_M_SOURCE_CONNECTED, "")                              \
        X("gauge", FERRY_M_SOURCE_LAG_SECONDS, "")                            \
        X("gauge", FERRY_M_SOURCE_GTID_SEQUENCE, "domain")                    \
        X("gauge", FERRY_M_SOURCE_SERVER_GTID_SEQUENCE, "domain")             \
        X("gauge", FERRY_M_SOURCE_BINLOG_FILE_NUMBER, "")                     \
        X("gauge", FERRY_M_SOURCE_BINLOG_POSITION, "")                        \
        X("counter", FERRY_M_SOURCE_RECONNECTS_TOTAL, "")                     \
        X("counter", FERRY_M_EVENTS_TOTAL, "table,op")                        \
        X("counter", FERRY_M_SNAPSHOT_ROWS_COPIED_TOTAL, "table")             \
        X("gauge", FERRY_M_SNAPSHOT_ROWS_ESTIMATED, "table")                  \
        X("gauge", FERRY_M_SNAPSHOT_DONE, "table")                            \
        X("gauge", FERRY_M_DIRECT_QUEUE_EVENTS, "")                           \
        X("counter", FERRY_M_KAFKA_PRODUCED_TOTAL, "topic")                   \
        X("gauge", FERRY_M_KAFKA_IN_FLIGHT, "")                               \
        X("gauge", FERRY_M_KAFKA_CONSUMER_LAG, "topic,partition")             \
        X("gauge", FERRY_M_SINK_LAG_SECONDS, "")                              \
        X("gauge", FERRY_M_REPLICATION_LAG_SECONDS, "")                       \
        X("counter", FERRY_M_ROWS_APPLIED_TOTAL, "table,op")                  \
        X("histogram", FERRY_M_SINK_BATCH_SECONDS, "")                        \
        X("gauge", FERRY_M_SINK_REDO_FILL, "")                                \
        X("counter", FERRY_M_ERRORS_TOTAL, "kind")                            \
        X("enum", FERRY_M_CUTOVER_STATE, "state")                             \
        X("gauge", FERRY_M_REVERSE_LAG_SECONDS, "")                           \
        X("gauge", FERRY_M_CUTOVER_LAST_PAUSE_SECONDS, "")                    \
        X("gauge", FERRY_M_CUTOVER_LAST_TIMESTAMP, "")                        \
        X("counter", FERRY_M_CUTOVERS_TOTAL, "result")

/* clang-format on */

struct metric_def {
        const char *type;
        const char *name;
        const char *help;
        const char *labels; /* comma-separated label names, "" if none */
};

extern const struct metric_def ferry_metric_defs[];
extern const size_t ferry_metric_defs_n;

#endif
