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

#include <jansson.h>
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
 * @context any (the cutover goes through ferry.signal instead, which
 *          orders its barrier after every change committed before it)
 */
int kafka_source_barrier(struct kafka_source *ks, const char *id, char *errstr,
                         size_t errstr_size) FERRY_WUR;

/* ---- for the cutover (cutover_kafka.c) ------------------------------ */

/**
 * @returns where the barrier id read from ferry.signal was produced,
 *          {topic: partition count} (a new reference), or NULL while it
 *          has not been (or is older than the last few). @context any
 */
json_t *kafka_source_barrier_sent(struct kafka_source *ks, const char *id);

struct touched_keys;
/* @returns the keys produced while recording (touched_keys.h); lives as
 * long as ks. */
struct touched_keys *kafka_source_touched_keys(struct kafka_source *ks);

/* @returns whether every planned backfill has been produced (true when
 * none was planned). @context any */
bool kafka_source_backfill_done(struct kafka_source *ks);

/* @brief The cutover is about to RENAME the tables away: the RENAME in
 * the binlog ends the stream (cut over) instead of failing it. */
void kafka_source_set_retiring(struct kafka_source *ks, bool on);

/* @returns true once the stream ended at a cutover. */
bool kafka_source_cut_over(struct kafka_source *ks);

/* @brief Ends the stream after a cutover that left the tables in place. */
void kafka_source_end_at_cutover(struct kafka_source *ks);

#endif
