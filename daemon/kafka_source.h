/* SPDX-License-Identifier: Apache-2.0
 * The source role of transport = kafka: binlog source (and backfill) ->
 * Kafka producer, one topic per source table. The position is a file in
 * state_dir (source_checkpoint.h) that only moves when Kafka has
 * acknowledged every message up to it; a (re)start resumes from it, so
 * after a crash some changes are produced twice, none is skipped.
 *
 * Threads: one runs the binlog source and produces (it blocks while the
 * producer's queue is full, which pauses the reader); one serves
 * delivery reports and writes the checkpoint.
 */
#ifndef FERRY_KAFKA_SOURCE_H
#define FERRY_KAFKA_SOURCE_H

#include "daemon/config.h"
#include "daemon/metrics.h"

#include <stdbool.h>

struct kafka_source;

/**
 * @brief Starts the threads; the first epoch reads (or on a first start
 *        creates) the checkpoint.
 * @returns 0, or FERRY_ERR_CONFIG for a bad rdkafka.* property (errors
 *          after this point end the thread: see _finished)
 * @context loop
 */
int kafka_source_start(const struct cfg *cfg, struct metrics *reg,
                       struct kafka_source **ksp, char *errstr,
                       size_t errstr_size) FERRY_WUR;

/* @brief Asks the threads to stop: the reader stops, in-flight messages
 * are flushed (bounded wait) and the checkpoint written. @context any */
void kafka_source_request_stop(struct kafka_source *ks);

/* @returns true once the threads have ended (on request or error). */
bool kafka_source_finished(struct kafka_source *ks);

/* @brief Joins and frees. NULL is a no-op.
 * @returns 0 after a clean stop, else the error that ended it (logged). */
int kafka_source_free(struct kafka_source *ks);

/* @brief true while the binlog is connected and producing. */
bool kafka_source_ready(struct kafka_source *ks, char *reason,
                        size_t reason_size);

/* @brief Lags in seconds: source = the reader's lag, or the age of the
 * oldest transaction Kafka has not acknowledged yet, whichever is more;
 * the source role has no sink (0); total = source. */
void kafka_source_lags(struct kafka_source *ks, double *source, double *sink,
                       double *total);

/**
 * @brief Puts a cutover barrier into every partition of every topic
 *        produced so far, tagged with the GTID position produced so far.
 * @returns 0, FERRY_ERR_RETRY (not running, metadata unavailable) or
 *          another FERRY_ERR_*.
 * @context any (not yet wired to a control command)
 */
int kafka_source_barrier(struct kafka_source *ks, const char *id, char *errstr,
                         size_t errstr_size) FERRY_WUR;

#endif
